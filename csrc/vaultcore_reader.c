/*
 * vaultcore native core: the bound reader, get_secret's one native call (vaultcore_store.h).
 *
 * A vc_reader binds what every read of one record type on one store repeats: the store's
 * gate, the sub-database, the DEK cache, the keyring term and its KEK (copied into a locked
 * page that is excluded from core dumps and zeroed in a forked child) and the AAD head. So
 * a read passes the object's store prefix and name and nothing else.
 *
 * vc_reader_get is the success path of get_secret (latest version) end to end: read
 * transaction -> last key under the prefix -> open (vc_store_read's open_found) -> the
 * record's format 2 header: enabled, the stored name equal (ASCII case-insensitive) to the
 * requested one, the value valid UTF-8 -> the SecretGet audit event queued. Anything else
 * (absent, disabled, another term, an old format, a resize under way, a damaged record)
 * returns a status and queues nothing: the caller takes the general path, which raises the
 * right error and audits it. The event is queued only when the read has succeeded.
 *
 * vc_reader_open does the same for a sealed record the caller read from another store
 * (PostgreSQL): a reader made without a store (s NULL) serves only that call.
 *
 * vc_reader_objkey computes the store prefix of a name (engine._reads' objkey: kind byte ||
 * HMAC-SHA256(index key, kind || lowercased name)[:16]) so that get_secret need not hash the
 * name in Python. The HMAC's inner and outer SHA-256 states, keyed once with the vault's
 * index key, live in the KEK's locked page (and are wiped with it); a call copies them to
 * the stack and runs OpenSSL's SHA-256 over the short message: two compression-function
 * runs, no key setup. The states are SHA256_CTX structures, because an EVP digest context
 * keeps its state in a heap block of OpenSSL's that cannot be locked, kept out of core dumps
 * or zeroed in a forked child; SHA256_Init/Update/Final are deprecated in OpenSSL 3.0 (not
 * removed). Built against an OpenSSL without them, the reader hashes no names
 * (vc_reader_names answers 0) and Python computes the prefix as before.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_CTX: see above */
#include <openssl/opensslconf.h>

#include <lmdb.h>

#include "vaultcore_native.h"
#include "vaultcore_store.h"
#include "vaultcore_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <stdatomic.h>

#include <openssl/crypto.h>
#ifndef OPENSSL_NO_DEPRECATED_3_0
#include <openssl/sha.h>
#define VC_NAME_HASH 1
#endif

#define V2_FORMAT 0x02
#define V2_HEAD 52 /* format, vid(16), flags, created, updated, nbf, exp (4 x i64), name length */
#define F_ENABLED 1
#define F_CTYPE 16
#define F_JSON 32
#define TPL_PARTS 3
#define TPL_MAX 4096

#define HMAC_BLOCK 64

/* The reader's own page: mlock()ed where RLIMIT_MEMLOCK allows, MADV_DONTDUMP,
 * MADV_WIPEONFORK; vc_reader_wipe zeroes all of it (named becomes 0). */
struct reader_keys {
    uint8_t kek[64];
#ifdef VC_NAME_HASH
    SHA256_CTX inner, outer; /* HMAC-SHA256 keyed with the index key (RFC 2104) */
#endif
    int named; /* 1 while inner and outer hold the index key's states */
};

struct vc_reader {
    vc_store *store;
    MDB_dbi dbi;
    vc_dek_cache *cache;
    uint32_t term;
    size_t kek_len;
    struct reader_keys *keys; /* in its own locked page */
    size_t page;
    int locked;
    size_t aad_head_len;
    uint8_t aad_head[VC_STORE_MAX_AAD];
};

struct vc_event_tpl {
    vc_auditq *queue;
    uint8_t *part[TPL_PARTS];
    size_t len[TPL_PARTS];
};

static atomic_uint_fast64_t g_request_counter = 1;

_Static_assert(sizeof(struct reader_keys) <= 4096, "the reader's keys fit in one page");

static int name_char(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

#ifdef VC_NAME_HASH
/* The HMAC-SHA256 states keyed with key into k (RFC 2104: a key longer than a block is
 * hashed first); the padded key blocks are wiped. 1 on success. */
static int key_names(struct reader_keys *k, const uint8_t *key, size_t key_len)
{
    uint8_t k0[HMAC_BLOCK], pad[HMAC_BLOCK];
    SHA256_CTX c;
    int ok = 1, j;
    memset(k0, 0, sizeof(k0));
    if (key_len > HMAC_BLOCK)
        ok = SHA256_Init(&c) && SHA256_Update(&c, key, key_len) && SHA256_Final(k0, &c);
    else
        memcpy(k0, key, key_len);
    for (j = 0; j < HMAC_BLOCK; j++)
        pad[j] = k0[j] ^ 0x36;
    ok = ok && SHA256_Init(&k->inner) && SHA256_Update(&k->inner, pad, HMAC_BLOCK);
    for (j = 0; j < HMAC_BLOCK; j++)
        pad[j] = k0[j] ^ 0x5c;
    ok = ok && SHA256_Init(&k->outer) && SHA256_Update(&k->outer, pad, HMAC_BLOCK);
    OPENSSL_cleanse(&c, sizeof(c));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(k0, sizeof(k0));
    k->named = ok;
    return ok;
}
#endif

int vc_reader_new(vc_store *s, MDB_dbi dbi, vc_dek_cache *cache, const uint8_t *kek, size_t kek_len,
                  uint32_t term, const uint8_t *aad_head, size_t aad_head_len, const uint8_t *index_key,
                  size_t index_key_len, vc_reader **out)
{
    vc_reader *r;
    void *p;
    if (cache == NULL || kek == NULL || out == NULL || kek_len == 0 || kek_len > 64 || aad_head == NULL ||
        aad_head_len > VC_STORE_MAX_AAD - VC_STORE_MAX_KEY || (index_key == NULL && index_key_len != 0))
        return VC_ERR_PARAM;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return VC_ERR_NOMEM;
    r->page = (size_t)sysconf(_SC_PAGESIZE);
    p = mmap(NULL, r->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(r);
        return VC_ERR_NOMEM;
    }
    (void)madvise(p, r->page, MADV_DONTDUMP);
#ifdef MADV_WIPEONFORK
    (void)madvise(p, r->page, MADV_WIPEONFORK);
#endif
    r->locked = mlock(p, r->page) == 0;
    r->keys = p;
    memcpy(r->keys->kek, kek, kek_len);
    r->kek_len = kek_len;
#ifdef VC_NAME_HASH
    if (index_key_len != 0 && !key_names(r->keys, index_key, index_key_len)) {
        vc_reader_free(r);
        return VC_ERR_INTERNAL;
    }
#endif
    r->store = s;
    r->dbi = dbi;
    r->cache = cache;
    r->term = term;
    memcpy(r->aad_head, aad_head, aad_head_len);
    r->aad_head_len = aad_head_len;
    *out = r;
    return VC_OK;
}

void vc_reader_free(vc_reader *r)
{
    if (r == NULL)
        return;
    vc_cleanse(r->keys, r->page);
    if (r->locked)
        munlock(r->keys, r->page);
    munmap(r->keys, r->page);
    free(r);
}

int vc_reader_locked(const vc_reader *r) { return r->locked; }

int vc_reader_names(const vc_reader *r) { return r->keys->named; }

void vc_reader_wipe(vc_reader *r)
{
    /* The page stays mapped: a read racing with this fails authentication and falls back;
     * a store key computed from half-wiped states finds nothing, or a record whose stored
     * name differs from the one asked for, which vc_reader_get refuses. */
    vc_cleanse(r->keys, r->page);
}

int vc_reader_objkey(vc_reader *r, uint8_t kind, const uint8_t *name, size_t name_len, uint8_t *okey)
{
#ifdef VC_NAME_HASH
    uint8_t msg[1 + VC_NAME_MAX], inner[SHA256_DIGEST_LENGTH], mac[SHA256_DIGEST_LENGTH];
    SHA256_CTX c;
    size_t i;
    int ok;
#endif
    size_t j;
    if (r == NULL || okey == NULL || name == NULL || name_len == 0 || name_len > VC_NAME_MAX)
        return VC_ERR_PARAM;
    for (j = 0; j < name_len; j++) /* engine._validation.check_name: [0-9A-Za-z-]{1,127} */
        if (!name_char(name[j]))
            return VC_ERR_PARAM;
#ifdef VC_NAME_HASH
    if (!r->keys->named)
        return VC_ERR_GONE;
    msg[0] = kind;
    for (i = 0; i < name_len; i++) /* str.lower() of these characters */
        msg[1 + i] = name[i] >= 'A' && name[i] <= 'Z' ? (uint8_t)(name[i] + 32) : name[i];
    c = r->keys->inner;
    ok = SHA256_Update(&c, msg, 1 + name_len) && SHA256_Final(inner, &c);
    c = r->keys->outer;
    ok = ok && SHA256_Update(&c, inner, sizeof(inner)) && SHA256_Final(mac, &c);
    okey[0] = kind;
    memcpy(okey + 1, mac, VC_OBJKEY_SIZE - 1);
    OPENSSL_cleanse(&c, sizeof(c));
    OPENSSL_cleanse(inner, sizeof(inner));
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok ? VC_OK : VC_ERR_INTERNAL;
#else
    (void)kind;
    return VC_ERR_GONE;
#endif
}

int vc_event_tpl_new(vc_auditq *q, const uint8_t *head, size_t head_len, const uint8_t *middle,
                     size_t middle_len, const uint8_t *tail, size_t tail_len, vc_event_tpl **out)
{
    const uint8_t *src[TPL_PARTS] = {head, middle, tail};
    size_t lens[TPL_PARTS] = {head_len, middle_len, tail_len};
    vc_event_tpl *t;
    int i;
    if (q == NULL || out == NULL || head == NULL || middle == NULL || tail == NULL ||
        head_len + middle_len + tail_len > TPL_MAX)
        return VC_ERR_PARAM;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return VC_ERR_NOMEM;
    t->queue = q;
    for (i = 0; i < TPL_PARTS; i++) {
        t->part[i] = malloc(lens[i] ? lens[i] : 1);
        if (t->part[i] == NULL) {
            vc_event_tpl_free(t);
            return VC_ERR_NOMEM;
        }
        memcpy(t->part[i], src[i], lens[i]);
        t->len[i] = lens[i];
    }
    *out = t;
    return VC_OK;
}

void vc_event_tpl_free(vc_event_tpl *t)
{
    int i;
    if (t == NULL)
        return;
    for (i = 0; i < TPL_PARTS; i++)
        free(t->part[i]);
    free(t);
}

/* 1 if data is valid UTF-8 as Python's strict decoder sees it (no surrogates, no overlong
 * forms, nothing above U+10FFFF). */
static int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
            if (i + 2 >= n || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80)
                return 0;
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
            if (i + 3 >= n || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80 ||
                (s[i + 3] & 0xC0) != 0x80)
                return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

/* Where the value starts in a format 2 version record of n bytes, after checking it is
 * enabled and named name (case-insensitive): 0 if the fast path cannot serve it. */
static size_t check_record(const uint8_t *rec, size_t n, const uint8_t *name, size_t name_len)
{
    size_t pos, nlen, i;
    uint8_t flags;
    if (n < V2_HEAD || rec[0] != V2_FORMAT)
        return 0;
    flags = rec[17];
    if (!(flags & F_ENABLED))
        return 0;
    nlen = ((size_t)rec[50] << 8) | rec[51];
    if (nlen != name_len || V2_HEAD + nlen > n)
        return 0;
    for (i = 0; i < nlen; i++) {
        uint8_t a = rec[V2_HEAD + i], b = name[i];
        if (!name_char(a))
            return 0;
        if (a >= 'A' && a <= 'Z')
            a = (uint8_t)(a + 32);
        if (b >= 'A' && b <= 'Z')
            b = (uint8_t)(b + 32);
        if (a != b)
            return 0;
    }
    pos = V2_HEAD + nlen;
    if (flags & F_CTYPE) {
        if (pos + 2 > n)
            return 0;
        pos += 2 + (((size_t)rec[pos] << 8) | rec[pos + 1]);
    }
    if (flags & F_JSON) {
        if (pos + 4 > n)
            return 0;
        pos += 4 + (((size_t)rec[pos] << 24) | ((size_t)rec[pos + 1] << 16) | ((size_t)rec[pos + 2] << 8) |
                    rec[pos + 3]);
    }
    if (pos > n || !utf8_valid(rec + pos, n - pos))
        return 0;
    return pos;
}

static const char HEX[] = "0123456789abcdef";

/* The event's time as snprintf's "%lld.%06ld}" would write it (seconds since the epoch,
 * microseconds, the body's closing brace), into out (at least 32 bytes); its length, or -1
 * for a time before the epoch. Written by hand: snprintf was ~1,400 of the ~2,000
 * instructions of queuing an event. */
static int format_time(uint8_t *out, time_t sec, long usec)
{
    uint8_t digits[24];
    int n = 0, len = 0, i;
    unsigned long long s = (unsigned long long)sec;
    if (sec < 0 || usec < 0 || usec > 999999)
        return -1;
    do {
        digits[n++] = (uint8_t)('0' + s % 10);
        s /= 10;
    } while (s);
    while (n)
        out[len++] = digits[--n];
    out[len++] = '.';
    for (i = 5; i >= 0; i--) {
        out[len + i] = (uint8_t)('0' + usec % 10);
        usec /= 10;
    }
    len += 6;
    out[len++] = '}';
    return len;
}

/* Queue an event: the template's head, oid (oid_len bytes, its closing quote included), the
 * middle, a request counter, the tail and the time. */
static int push_event(vc_event_tpl *t, const uint8_t *oid, size_t oid_len, size_t *queued)
{
    uint8_t req[16], when[48];
    const uint8_t *parts[6];
    size_t lens[6], i;
    uint64_t counter = atomic_fetch_add(&g_request_counter, 1);
    struct timespec ts;
    int wl;
    for (i = 0; i < 12; i++)
        req[i] = (uint8_t)HEX[(counter >> (44 - 4 * i)) & 15];
    clock_gettime(CLOCK_REALTIME, &ts);
    wl = format_time(when, ts.tv_sec, ts.tv_nsec / 1000);
    if (wl < 0)
        return VC_ERR_INTERNAL;
    parts[0] = t->part[0];
    lens[0] = t->len[0];
    parts[1] = oid;
    lens[1] = oid_len;
    parts[2] = t->part[1];
    lens[2] = t->len[1];
    parts[3] = req;
    lens[3] = 12;
    parts[4] = t->part[2];
    lens[4] = t->len[2];
    parts[5] = when;
    lens[5] = (size_t)wl;
    return vc_auditq_push_parts(t->queue, parts, lens, 6, queued);
}

/* Queue the SecretGet event of a read of record rec (name and version from it). */
static int queue_event(vc_event_tpl *t, const uint8_t *rec, size_t *queued)
{
    uint8_t oid[V2_HEAD + 128 + 40];
    size_t nlen = ((size_t)rec[50] << 8) | rec[51], o = 0, i;
    if (nlen > 127)
        return VC_ERR_PARAM;
    memcpy(oid, rec + V2_HEAD, nlen);
    o = nlen;
    oid[o++] = '/';
    for (i = 0; i < 16; i++) {
        oid[o++] = (uint8_t)HEX[rec[1 + i] >> 4];
        oid[o++] = (uint8_t)HEX[rec[1 + i] & 15];
    }
    oid[o++] = '"';
    return push_event(t, oid, o, queued);
}

int vc_event_push(vc_event_tpl *t, const uint8_t *oid, size_t oid_len, size_t *queued)
{
    uint8_t buf[VC_EVENT_MAX_OID + 1];
    size_t i;
    if (t == NULL || oid == NULL || queued == NULL || oid_len > VC_EVENT_MAX_OID)
        return VC_ERR_PARAM;
    for (i = 0; i < oid_len; i++) /* printable ASCII that needs no JSON escape */
        if (oid[i] < 0x20 || oid[i] > 0x7e || oid[i] == '"' || oid[i] == '\\')
            return VC_ERR_PARAM;
    memcpy(buf, oid, oid_len);
    buf[oid_len] = '"';
    return push_event(t, buf, oid_len + 1, queued);
}

/* After the open: the record's checks and its event, or the buffer wiped. */
static int finish(int rc, uint8_t *out, size_t out_cap, size_t *out_len, const uint8_t *name, size_t name_len,
                  vc_event_tpl *event, size_t *value_at, size_t *queued)
{
    if (rc == VC_STORE_AUTH)
        vc_cleanse(out, out_cap); /* whatever a failed open may have left */
    if (rc != VC_STORE_FOUND)
        return rc;
    *value_at = check_record(out, *out_len, name, name_len);
    rc = *value_at == 0 ? VC_STORE_SLOW : event == NULL ? VC_OK : queue_event(event, out, queued);
    if (rc != VC_OK)
        vc_cleanse(out, *out_len); /* the general path reads it again */
    return rc;
}

int vc_reader_get(vc_reader *r, const uint8_t *prefix, size_t prefix_len, const uint8_t *name, size_t name_len,
                  vc_event_tpl *event, uint8_t *out, size_t out_cap, size_t *out_len, size_t *value_at,
                  size_t *queued)
{
    MDB_txn *txn = NULL;
    MDB_val k, v;
    int rc;
    if (r == NULL || r->store == NULL || prefix == NULL || name == NULL || out == NULL || out_len == NULL ||
        value_at == NULL || queued == NULL || prefix_len > VC_STORE_MAX_KEY)
        return VC_ERR_PARAM;
    *out_len = 0;
    *queued = 0;
    rc = vc_store_lookup(r->store, r->dbi, prefix, prefix_len, NULL, 0, &txn, &k, &v);
    if (rc == 0) {
        rc = vc_store_open_found(&k, &v, r->cache, r->keys->kek, r->kek_len, r->term, r->aad_head, r->aad_head_len, out,
                                 out_cap, out_len);
        vc_store_done(r->store, txn);
    }
    return finish(rc, out, out_cap, out_len, name, name_len, event, value_at, queued);
}

int vc_reader_open(vc_reader *r, const uint8_t *key, size_t key_len, const uint8_t *blob, size_t blob_len,
                   const uint8_t *name, size_t name_len, vc_event_tpl *event, uint8_t *out, size_t out_cap,
                   size_t *out_len, size_t *value_at, size_t *queued)
{
    MDB_val k, v;
    int rc;
    if (r == NULL || key == NULL || blob == NULL || name == NULL || out == NULL || out_len == NULL ||
        value_at == NULL || queued == NULL || key_len > VC_STORE_MAX_KEY)
        return VC_ERR_PARAM;
    *out_len = 0;
    *queued = 0;
    k.mv_data = (void *)key;
    k.mv_size = key_len;
    v.mv_data = (void *)blob;
    v.mv_size = blob_len;
    rc = vc_store_open_found(&k, &v, r->cache, r->keys->kek, r->kek_len, r->term, r->aad_head, r->aad_head_len, out,
                             out_cap, out_len);
    return finish(rc, out, out_cap, out_len, name, name_len, event, value_at, queued);
}
