/*
 * vaultcore native core: get_secret's entry point from Python, written to the CPython API.
 *
 * Every other function of the core is called through cffi, which marshals each argument
 * and cannot build Python objects in C: for the hot read that glue (pointer arguments, the
 * output copied out of a scratch buffer, then wiped) cost more than the read itself. This
 * one function takes the bound reader and the event template as addresses (held alive by
 * their owners in storage._mdb and access._audit), calls vc_reader_get with the GIL
 * released, and returns the value as str and the record's plaintext as bytes, the C
 * buffer wiped. vc_py_export adds it to the vaultcore._native module as ``fast_get``.
 */
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030A0000
#include <Python.h>

#include <lmdb.h>

#include "vaultcore_native.h"
#include "vaultcore_store.h"

#include <stdlib.h>

#define LOCAL_OUT 1024

/* fast_get(reader: int, prefix: bytes, name: str, event: int) -> (value, plaintext, queued)
 * or None (the general path must serve this read). */
static PyObject *fast_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint8_t local[LOCAL_OUT], *out = local;
    size_t cap = sizeof(local), n = 0, at = 0, queued = 0;
    char *prefix = NULL;
    const char *name;
    Py_ssize_t prefix_len = 0, name_len = 0;
    vc_reader *reader;
    vc_event_tpl *event;
    PyObject *value, *plain, *count, *result;
    int rc;
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "fast_get takes 4 arguments");
        return NULL;
    }
    reader = PyLong_AsVoidPtr(args[0]);
    if (reader == NULL || PyBytes_AsStringAndSize(args[1], &prefix, &prefix_len) < 0)
        return PyErr_Occurred() ? NULL : Py_BuildValue("");
    name = PyUnicode_AsUTF8AndSize(args[2], &name_len);
    if (name == NULL)
        return NULL;
    event = args[3] == Py_None ? NULL : PyLong_AsVoidPtr(args[3]);
    if (event == NULL && PyErr_Occurred())
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = vc_reader_get(reader, (const uint8_t *)prefix, (size_t)prefix_len, (const uint8_t *)name, (size_t)name_len,
                       event, out, cap, &n, &at, &queued);
    if (rc == VC_STORE_SPACE && (out = malloc(n)) != NULL) {
        cap = n;
        rc = vc_reader_get(reader, (const uint8_t *)prefix, (size_t)prefix_len, (const uint8_t *)name,
                           (size_t)name_len, event, out, cap, &n, &at, &queued);
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
    count = PyLong_FromSize_t(queued);
    result = plain && value && count ? PyTuple_Pack(3, value, plain, count) : NULL;
    Py_XDECREF(value);
    Py_XDECREF(plain);
    Py_XDECREF(count);
    return result;
}

static PyMethodDef fast_get_def = {"fast_get", (PyCFunction)(void (*)(void))fast_get, METH_FASTCALL,
                                   "get_secret's one native call (see csrc/vaultcore_pyfast.c)."};

int vc_py_export(void)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *mod = PyImport_ImportModule("vaultcore._native"), *fn = NULL;
    int ok = 0;
    if (mod != NULL) {
        fn = PyCFunction_NewEx(&fast_get_def, NULL, NULL);
        ok = fn != NULL && PyObject_SetAttrString(mod, "fast_get", fn) == 0;
    }
    Py_XDECREF(fn);
    Py_XDECREF(mod);
    if (!ok)
        PyErr_Clear();
    PyGILState_Release(gil);
    return ok ? VC_OK : VC_ERR_INTERNAL;
}
