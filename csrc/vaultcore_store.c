/*
 * vaultcore native core: the fused read of a sealed record from LMDB (see vaultcore_store.h).
 *
 * One call replaces, for the hot read path, what Python did in seven steps: two gates, a
 * read transaction, a cursor seek, the record's header checks, the AAD, the cached DEK
 * lookup or unwrap and the GCM open. The value is opened while the read transaction is
 * still open (the blob points into the map), so nothing is copied before authentication.
 */
#include <lmdb.h>

#include "vaultcore_native.h"
#include "vaultcore_store.h"
#include "vaultcore_store_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define VC_FORMAT_V1 0x01
#define VC_HEADER 5 /* format byte + be32 term */
#define VC_MAX_KEY VC_STORE_MAX_KEY

#define VC_TXN_POOL 4

struct vc_store {
    MDB_env *env;
    atomic_int active;
    atomic_int blocked;
    /* Reset read transactions kept for reuse: mdb_txn_renew reuses a reader slot without
     * taking the lock file's reader mutex, which every mdb_txn_begin takes. */
    pthread_mutex_t pool_lock;
    MDB_txn *pool[VC_TXN_POOL];
    int pooled;
};

int vc_store_new(MDB_env *env, vc_store **out) {
    if (env == NULL || out == NULL) {
        return VC_ERR_PARAM;
    }
    vc_store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return VC_ERR_NOMEM;
    }
    if (pthread_mutex_init(&s->pool_lock, NULL) != 0) {
        free(s);
        return VC_ERR_INTERNAL;
    }
    s->env = env;
    atomic_init(&s->active, 0);
    atomic_init(&s->blocked, 0);
    *out = s;
    return VC_OK;
}

void vc_store_free(vc_store *s) {
    /* (vc_store_drain ran before the environment closed: the pool is empty.) */
    pthread_mutex_destroy(&s->pool_lock);
    free(s);
}

void vc_store_drain(vc_store *s) {
    pthread_mutex_lock(&s->pool_lock);
    while (s->pooled > 0) {
        mdb_txn_abort(s->pool[--s->pooled]);
    }
    pthread_mutex_unlock(&s->pool_lock);
}

static int vc_store_txn_get(vc_store *s, MDB_txn **out) {
    MDB_txn *t = NULL;
    pthread_mutex_lock(&s->pool_lock);
    if (s->pooled > 0) {
        t = s->pool[--s->pooled];
    }
    pthread_mutex_unlock(&s->pool_lock);
    if (t != NULL) {
        if (mdb_txn_renew(t) == 0) {
            *out = t;
            return 0;
        }
        mdb_txn_abort(t); /* (a map resized by another process: begin reports it) */
    }
    return mdb_txn_begin(s->env, NULL, MDB_RDONLY, out);
}

static void vc_store_txn_put(vc_store *s, MDB_txn *t) {
    mdb_txn_reset(t);
    pthread_mutex_lock(&s->pool_lock);
    if (s->pooled < VC_TXN_POOL && !atomic_load(&s->blocked)) {
        s->pool[s->pooled++] = t;
        t = NULL;
    }
    pthread_mutex_unlock(&s->pool_lock);
    if (t != NULL) {
        mdb_txn_abort(t);
    }
}

static void vc_store_leave(vc_store *s) { atomic_fetch_sub(&s->active, 1); }


void vc_store_block(vc_store *s, int blocked) { atomic_store(&s->blocked, blocked ? 1 : 0); }

int vc_store_active(vc_store *s) { return atomic_load(&s->active); }

static int vc_store_status(int rc) {
    if (rc == MDB_NOTFOUND) {
        return VC_STORE_NOTFOUND;
    }
    return rc > 0 ? VC_STORE_ERRNO + rc : rc;
}

/* The greatest key starting with prefix, on cur. Returns 0 or an LMDB code. */
static int seek_last(MDB_cursor *cur, const uint8_t *prefix, size_t prefix_len, MDB_val *k, MDB_val *v) {
    uint8_t upper[VC_MAX_KEY];
    size_t n = prefix_len;
    while (n > 0 && prefix[n - 1] == 0xff) {
        n--;
    }
    int rc;
    if (n > 0) {
        memcpy(upper, prefix, n);
        upper[n - 1]++;
        k->mv_data = upper;
        k->mv_size = n;
        rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
        if (rc == 0) {
            rc = mdb_cursor_get(cur, k, v, MDB_PREV);
        } else if (rc == MDB_NOTFOUND) {
            rc = mdb_cursor_get(cur, k, v, MDB_LAST);
        }
    } else {
        rc = mdb_cursor_get(cur, k, v, MDB_LAST);
    }
    if (rc == 0 && (k->mv_size < prefix_len || memcmp(k->mv_data, prefix, prefix_len) != 0)) {
        rc = MDB_NOTFOUND;
    }
    return rc;
}

int vc_store_open_found(const MDB_val *k, const MDB_val *v, vc_dek_cache *cache, const uint8_t *kek,
                      size_t kek_len, uint32_t term, const uint8_t *aad_head, size_t aad_head_len,
                      uint8_t *out, size_t out_cap, size_t *out_len) {
    const uint8_t *blob = v->mv_data;
    size_t blob_len = v->mv_size;
    if (blob_len < VC_HEADER + VC_RECORD_OVERHEAD || blob[0] != VC_FORMAT_V1) {
        return VC_ERR_AUTH;
    }
    uint32_t t = ((uint32_t)blob[1] << 24) | ((uint32_t)blob[2] << 16) | ((uint32_t)blob[3] << 8) | blob[4];
    if (t != term) {
        *out_len = t;
        return VC_STORE_TERM;
    }
    size_t n = blob_len - VC_HEADER - VC_RECORD_OVERHEAD;
    *out_len = n;
    if (n > out_cap) {
        return VC_STORE_SPACE;
    }
    uint8_t aad[VC_STORE_MAX_AAD];
    if (aad_head_len + k->mv_size > sizeof aad) {
        return VC_ERR_PARAM;
    }
    memcpy(aad, aad_head, aad_head_len);
    memcpy(aad + aad_head_len, k->mv_data, k->mv_size);
    return vc_open_record_cached(cache, kek, kek_len, blob, blob_len, VC_HEADER, aad,
                                 aad_head_len + k->mv_size, out);
}

/* Enter the gate: 0, or VC_STORE_BUSY while it is blocked. */
static int vc_store_enter(vc_store *s) {
    if (atomic_load(&s->blocked)) {
        return VC_STORE_BUSY;
    }
    atomic_fetch_add(&s->active, 1);
    if (atomic_load(&s->blocked)) {
        atomic_fetch_sub(&s->active, 1);
        return VC_STORE_BUSY;
    }
    return 0;
}

int vc_store_enter_env(vc_store *s, MDB_env **env) {
    int rc = vc_store_enter(s);
    if (rc == 0) {
        *env = s->env;
    }
    return rc;
}

void vc_store_leave_env(vc_store *s) { vc_store_leave(s); }

/* Point get (key_len > 0) or last under prefix, in txn. 0 or an LMDB code. */
static int vc_store_locate(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t prefix_len, const uint8_t *key,
                  size_t key_len, MDB_val *k, MDB_val *v) {
    if (key_len > 0) {
        k->mv_data = (void *)key;
        k->mv_size = key_len;
        return mdb_get(txn, dbi, k, v);
    }
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc == 0) {
        rc = seek_last(cur, prefix, prefix_len, k, v);
        mdb_cursor_close(cur);
    }
    return rc;
}

int vc_store_lookup(vc_store *s, MDB_dbi dbi, const uint8_t *prefix, size_t prefix_len, const uint8_t *key,
                    size_t key_len, MDB_txn **txn, MDB_val *k, MDB_val *v) {
    int rc = vc_store_enter(s);
    if (rc) {
        return rc;
    }
    rc = vc_store_txn_get(s, txn);
    if (rc == 0) {
        rc = vc_store_locate(*txn, dbi, prefix, prefix_len, key, key_len, k, v);
        if (rc == 0) {
            return 0;
        }
        vc_store_txn_put(s, *txn);
    }
    vc_store_leave(s);
    return vc_store_status(rc);
}

int vc_store_last_txn(vc_store *s, uint64_t *txnid) {
    MDB_envinfo info;
    int rc = vc_store_enter(s);
    if (rc) {
        return rc;
    }
    rc = mdb_env_info(s->env, &info); /* reads the newer meta page: no lock, no transaction */
    vc_store_leave(s);
    if (rc) {
        return vc_store_status(rc);
    }
    *txnid = (uint64_t)info.me_last_txnid;
    return 0;
}

void vc_store_done(vc_store *s, MDB_txn *txn) {
    vc_store_txn_put(s, txn);
    vc_store_leave(s);
}

int vc_store_find(vc_store *s, MDB_dbi dbi, const uint8_t *prefix, size_t prefix_len,
                  const uint8_t *key, size_t key_len, uint8_t *key_out, size_t *key_out_len,
                  uint8_t *out, size_t out_cap, size_t *out_len) {
    if (s == NULL || key_out == NULL || key_out_len == NULL || out_len == NULL ||
        prefix_len > VC_MAX_KEY || key_len > VC_MAX_KEY) {
        return VC_ERR_PARAM;
    }
    *out_len = 0;
    *key_out_len = 0;
    MDB_txn *txn = NULL;
    MDB_val k, v;
    int rc = vc_store_lookup(s, dbi, prefix, prefix_len, key, key_len, &txn, &k, &v);
    if (rc) {
        return rc;
    }
    *out_len = v.mv_size;
    if (k.mv_size > VC_MAX_KEY) {
        rc = VC_ERR_PARAM;
    } else if (v.mv_size > out_cap) {
        rc = VC_STORE_SPACE;
    } else {
        memcpy(key_out, k.mv_data, k.mv_size);
        *key_out_len = k.mv_size;
        memcpy(out, v.mv_data, v.mv_size);
    }
    vc_store_done(s, txn);
    return rc;
}

int vc_store_read(vc_store *s, MDB_dbi dbi, const uint8_t *prefix, size_t prefix_len,
                  const uint8_t *key, size_t key_len, vc_dek_cache *cache, const uint8_t *kek,
                  size_t kek_len, uint32_t term, const uint8_t *aad_head, size_t aad_head_len,
                  uint8_t *out, size_t out_cap, size_t *out_len) {
    if (s == NULL || cache == NULL || out_len == NULL || prefix_len > VC_MAX_KEY ||
        key_len > VC_MAX_KEY || aad_head_len > VC_STORE_MAX_AAD) {
        return VC_ERR_PARAM;
    }
    *out_len = 0;
    MDB_txn *txn = NULL;
    MDB_val k, v;
    int rc = vc_store_lookup(s, dbi, prefix, prefix_len, key, key_len, &txn, &k, &v);
    if (rc) {
        return rc;
    }
    rc = vc_store_open_found(&k, &v, cache, kek, kek_len, term, aad_head, aad_head_len, out, out_cap, out_len);
    vc_store_done(s, txn);
    return rc;
}

int vc_txn_exist_many(MDB_txn *txn, MDB_dbi dbi, size_t n, const uint8_t *keys,
                      const size_t *klens, uint8_t *found) {
    if (txn == NULL || (n && (keys == NULL || klens == NULL || found == NULL))) {
        return VC_ERR_PARAM;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        MDB_val k = {klens[i], (void *)(keys + off)}, v;
        int rc = mdb_get(txn, dbi, &k, &v);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            return rc;
        }
        found[i] = rc == 0;
        off += klens[i];
    }
    return VC_OK;
}

int vc_txn_put_many(MDB_txn *txn, MDB_dbi dbi, size_t n, const uint8_t *keys, const size_t *klens,
                    const uint8_t *vals, const size_t *vlens, unsigned int flags, size_t *failed) {
    if (txn == NULL || failed == NULL || (n && (keys == NULL || klens == NULL || vals == NULL || vlens == NULL))) {
        return VC_ERR_PARAM;
    }
    size_t koff = 0, voff = 0;
    for (size_t i = 0; i < n; i++) {
        MDB_val k = {klens[i], (void *)(keys + koff)}, v = {vlens[i], (void *)(vals + voff)};
        int rc = mdb_put(txn, dbi, &k, &v, flags);
        if (rc != 0) {
            *failed = i;
            return rc;
        }
        koff += klens[i];
        voff += vlens[i];
    }
    return VC_OK;
}
