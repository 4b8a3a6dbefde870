/*
 * vaultcore native core: get_secret's entry point from Python, written to the CPython API.
 *
 * Every other function of the core is called through cffi, which marshals each argument
 * and cannot build Python objects in C: for the hot read that glue (pointer arguments, the
 * output copied out of a scratch buffer, then wiped) cost more than the read itself. This
 * one function takes the bound reader and the event template as addresses (held alive by
 * their owners in storage._mdb and crypto._bindings), calls vc_reader_get with the GIL
 * released, and builds the result: an instance of the class it is given (engine._models'
 * lazy KeyVaultSecret) holding the value as str and the record's plaintext as bytes, the C
 * buffer wiped. vc_py_export adds it to the vaultcore._native module as ``fast_get``.
 *
 * Two more serve the hot path of key operations, where cffi's glue (a scratch buffer, its
 * copy into bytes, a size_t out-parameter, the GIL released and taken back) cost more than
 * the work: kw_run (RFC 3394 on a keyed context, the result written into the bytes object
 * it returns) and event_push (a key operation's success event queued through its template).
 */
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030A0000
#include <Python.h>

#include <lmdb.h>

#include "vaultcore_native.h"
#include "vaultcore_store.h"

#include <stdlib.h>

#define LOCAL_OUT 1024

/* Interned attribute names of the result object (set by vc_py_export). */
static PyObject *k_value, *k_plain, *k_make, *k_prefix;

/* An instance of cls (a KeyVaultSecret subclass whose properties decode lazily) with value,
 * the record's plaintext, the properties' factory and the ids' prefix in its __dict__. */
static PyObject *make_result(PyObject *cls, PyObject *value, PyObject *plain, PyObject *make, PyObject *prefix)
{
    allocfunc alloc = (allocfunc)PyType_GetSlot((PyTypeObject *)cls, Py_tp_alloc);
    PyObject *obj = alloc != NULL ? alloc((PyTypeObject *)cls, 0) : NULL, *dict;
    if (obj == NULL)
        return NULL;
    dict = PyObject_GenericGetDict(obj, NULL);
    if (dict == NULL || PyDict_SetItem(dict, k_value, value) < 0 || PyDict_SetItem(dict, k_plain, plain) < 0 ||
        PyDict_SetItem(dict, k_make, make) < 0 || PyDict_SetItem(dict, k_prefix, prefix) < 0) {
        Py_XDECREF(dict);
        Py_DECREF(obj);
        return NULL;
    }
    Py_DECREF(dict);
    return obj;
}

/* One read: what fast_get and fast_open share. key/blob: the prefix (get) or the store key
 * and sealed record (open, blob != NULL); kind >= 0 (get): key is NULL and the prefix is
 * computed from the name (vc_reader_objkey), a name it refuses (not a str, not 1-127
 * characters of [0-9A-Za-z-]) answering None. Returns (secret, waiting), None or NULL
 * (raised). */
static PyObject *run(vc_reader *reader, int kind, const char *key, Py_ssize_t key_len, const char *blob,
                     Py_ssize_t blob_len, PyObject *const *args)
{
    uint8_t local[LOCAL_OUT], *out = local, okey[VC_OBJKEY_SIZE];
    size_t cap = sizeof(local), n = 0, at = 0, queued = 0;
    const char *name;
    Py_ssize_t name_len = 0;
    vc_event_tpl *event;
    PyObject *value, *plain, *obj = NULL, *result = NULL;
    int rc = VC_OK, retried = 0;
    if (kind >= 0 && !PyUnicode_Check(args[0]))
        return Py_BuildValue("");
    name = PyUnicode_AsUTF8AndSize(args[0], &name_len);
    if (name == NULL) {
        if (kind < 0 || !PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
            return NULL;
        PyErr_Clear(); /* a lone surrogate: not a name check_name accepts */
        return Py_BuildValue("");
    }
    event = PyLong_AsVoidPtr(args[1]);
    if (event == NULL && PyErr_Occurred())
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    if (kind >= 0) {
        rc = vc_reader_objkey(reader, (uint8_t)kind, (const uint8_t *)name, (size_t)name_len, okey);
        key = (const char *)okey;
        key_len = VC_OBJKEY_SIZE;
    }
    while (rc == VC_OK) { /* (kind >= 0: only if the prefix was computed) */
        if (blob != NULL)
            rc = vc_reader_open(reader, (const uint8_t *)key, (size_t)key_len, (const uint8_t *)blob, (size_t)blob_len,
                                (const uint8_t *)name, (size_t)name_len, event, out, cap, &n, &at, &queued);
        else
            rc = vc_reader_get(reader, (const uint8_t *)key, (size_t)key_len, (const uint8_t *)name,
                               (size_t)name_len, event, out, cap, &n, &at, &queued);
        if (rc != VC_STORE_SPACE || retried || (out = malloc(n)) == NULL)
            break;
        cap = n;
        retried = 1;
        rc = VC_OK; /* again, into the larger buffer */
    }
    Py_END_ALLOW_THREADS
    if (out == NULL)
        return PyErr_NoMemory();
    if (rc != VC_OK) {
        if (out != local)
            free(out);
        return Py_BuildValue("");
    }
    plain = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)n);
    value = PyUnicode_DecodeUTF8((const char *)out + at, (Py_ssize_t)(n - at), "strict");
    vc_cleanse(out, n);
    if (out != local)
        free(out);
    if (plain != NULL && value != NULL)
        obj = make_result(args[2], value, plain, args[3], args[4]);
    if (obj != NULL)
        result = Py_BuildValue("(Nn)", obj, (Py_ssize_t)queued);
    Py_XDECREF(value);
    Py_XDECREF(plain);
    return result;
}

/* fast_get(reader: int, prefix: bytes | kind: int, name: str, event: int, cls, make,
 * id_prefix) -> (secret, events waiting) or None (the general path must serve this read).
 * Given a kind byte instead of the object's prefix, the reader computes the prefix from the
 * name. */
static PyObject *fast_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    char *prefix = NULL;
    Py_ssize_t prefix_len = 0;
    vc_reader *reader;
    long kind = -1;
    (void)self;
    if (nargs != 7 || !PyType_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "fast_get(reader, prefix, name, event, cls, make, id_prefix)");
        return NULL;
    }
    reader = PyLong_AsVoidPtr(args[0]);
    if (reader == NULL)
        return PyErr_Occurred() ? NULL : Py_BuildValue("");
    if (PyLong_Check(args[1])) {
        kind = PyLong_AsLong(args[1]);
        if (kind < 0 || kind > 255) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "fast_get: a kind is one byte");
            return NULL;
        }
    } else if (PyBytes_AsStringAndSize(args[1], &prefix, &prefix_len) < 0) {
        return NULL;
    }
    return run(reader, (int)kind, prefix, prefix_len, NULL, 0, args + 2);
}

/* fast_open(reader: int, key: bytes, blob: bytes, name: str, event: int, cls, make,
 * id_prefix): fast_get for a record read from another store. */
static PyObject *fast_open(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    char *key = NULL, *blob = NULL;
    Py_ssize_t key_len = 0, blob_len = 0;
    vc_reader *reader;
    (void)self;
    if (nargs != 8 || !PyType_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "fast_open(reader, key, blob, name, event, cls, make, id_prefix)");
        return NULL;
    }
    reader = PyLong_AsVoidPtr(args[0]);
    if (reader == NULL || PyBytes_AsStringAndSize(args[1], &key, &key_len) < 0 ||
        PyBytes_AsStringAndSize(args[2], &blob, &blob_len) < 0)
        return PyErr_Occurred() ? NULL : Py_BuildValue("");
    return run(reader, -1, key, key_len, blob, blob_len, args + 3);
}

/* Keys of more bytes than this are wrapped with the GIL released (the AES rounds of a
 * 32-byte key take a fraction of what releasing and taking the GIL back costs). */
#define KW_GIL_BYTES 4096

/* kw_run(kwkey: int, data: bytes, wrap: bool) -> bytes, or the int status of
 * vc_kwkey_wrap / vc_kwkey_unwrap (VC_ERR_GONE, VC_ERR_AUTH, VC_ERR_PARAM, ...): RFC 3394
 * on a keyed context, the result written straight into the bytes object returned (a failed
 * unwrap leaves it zeroed and frees it). The context is held alive by its owner
 * (crypto._bindings.KwKey) for the call. */
static PyObject *kw_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    char *data = NULL;
    Py_ssize_t n = 0, out_len;
    vc_kwkey *k;
    PyObject *out;
    uint8_t *dst;
    int wrap, rc;
    (void)self;
    if (nargs != 3 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "kw_run(kwkey, data: bytes, wrap)");
        return NULL;
    }
    k = PyLong_AsVoidPtr(args[0]);
    wrap = PyObject_IsTrue(args[2]);
    if (k == NULL || wrap < 0 || PyBytes_AsStringAndSize(args[1], &data, &n) < 0)
        return PyErr_Occurred() ? NULL : PyLong_FromLong(VC_ERR_PARAM);
    if (wrap ? n < 16 || n % 8 != 0 : n < 24 || n % 8 != 0)
        return PyLong_FromLong(wrap ? VC_ERR_PARAM : VC_ERR_AUTH);
    out_len = wrap ? n + 8 : n - 8;
    out = PyBytes_FromStringAndSize(NULL, out_len);
    if (out == NULL || (dst = (uint8_t *)PyBytes_AsString(out)) == NULL) {
        Py_XDECREF(out);
        return NULL;
    }
    if (n > KW_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        rc = wrap ? vc_kwkey_wrap(k, (const uint8_t *)data, (size_t)n, dst)
                  : vc_kwkey_unwrap(k, (const uint8_t *)data, (size_t)n, dst);
        Py_END_ALLOW_THREADS
    } else {
        rc = wrap ? vc_kwkey_wrap(k, (const uint8_t *)data, (size_t)n, dst)
                  : vc_kwkey_unwrap(k, (const uint8_t *)data, (size_t)n, dst);
    }
    if (rc != VC_OK) {
        vc_cleanse(dst, (size_t)out_len);
        Py_DECREF(out);
        return PyLong_FromLong(rc);
    }
    return out;
}

/* event_push(template: int, object_id: bytes) -> events waiting, or -1 if the id is not
 * printable ASCII without '"' or '\\' (nothing queued). vc_event_push without cffi's glue:
 * the hot path of key operations queues its success event with it. The template is held
 * alive by its owner (crypto._bindings.EventTemplate) for the call. */
static PyObject *event_push(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    char *oid = NULL;
    Py_ssize_t n = 0;
    size_t queued = 0;
    vc_event_tpl *t;
    (void)self;
    if (nargs != 2 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "event_push(template, object_id: bytes)");
        return NULL;
    }
    t = PyLong_AsVoidPtr(args[0]);
    if (t == NULL || PyBytes_AsStringAndSize(args[1], &oid, &n) < 0)
        return PyErr_Occurred() ? NULL : PyLong_FromLong(-1);
    if (vc_event_push(t, (const uint8_t *)oid, (size_t)n, &queued) != VC_OK)
        return PyLong_FromLong(-1);
    return PyLong_FromSize_t(queued);
}

static PyMethodDef kw_run_def = {"kw_run", (PyCFunction)(void (*)(void))kw_run, METH_FASTCALL,
                                 "RFC 3394 on a keyed context (see csrc/vaultcore_pyfast.c)."};
static PyMethodDef event_push_def = {"event_push", (PyCFunction)(void (*)(void))event_push, METH_FASTCALL,
                                     "vc_event_push without cffi (see csrc/vaultcore_pyfast.c)."};

static PyMethodDef fast_get_def = {"fast_get", (PyCFunction)(void (*)(void))fast_get, METH_FASTCALL,
                                   "get_secret's one native call (see csrc/vaultcore_pyfast.c)."};
static PyMethodDef fast_open_def = {"fast_open", (PyCFunction)(void (*)(void))fast_open, METH_FASTCALL,
                                    "fast_get for a record another store read (see csrc/vaultcore_pyfast.c)."};

static int export(PyObject *mod, PyMethodDef *def)
{
    PyObject *fn = PyCFunction_NewEx(def, NULL, NULL);
    int ok = fn != NULL && PyObject_SetAttrString(mod, def->ml_name, fn) == 0;
    Py_XDECREF(fn);
    return ok;
}

int vc_py_export(void)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *mod = PyImport_ImportModule("vaultcore._native");
    int ok = 0;
    if (k_value == NULL) {
        k_value = PyUnicode_InternFromString("value");
        k_plain = PyUnicode_InternFromString("_plain");
        k_make = PyUnicode_InternFromString("_make");
        k_prefix = PyUnicode_InternFromString("_prefix");
    }
    if (mod != NULL && k_value != NULL && k_plain != NULL && k_make != NULL && k_prefix != NULL)
        ok = export(mod, &fast_get_def) && export(mod, &fast_open_def) && export(mod, &kw_run_def) &&
             export(mod, &event_push_def);
    Py_XDECREF(mod);
    if (!ok)
        PyErr_Clear();
    PyGILState_Release(gil);
    return ok ? VC_OK : VC_ERR_INTERNAL;
}
