/*
 * vaultcore native core: watches on stored records (see vaultcore_store.h).
 *
 * A key operation re-reads its key's version on every call, so that an update, disable,
 * delete or rotation made by any process is seen at once. While the sealed bytes are the
 * ones already opened there is nothing to open: vc_watch_same looks the record up through
 * the gated lookup protocol (a read transaction of its own) and compares its key and bytes
 * in place with the copy the watch holds, in one call with three arguments.
 *
 * Most calls need no lookup at all: a watch remembers the read snapshot (LMDB transaction
 * id, with the store and database it was asked about) in which it last found the record
 * unchanged, and while the environment's last committed transaction is still that one, no
 * process has committed anything since, so the record is still the same. A commit by any process (an update, a delete, a purge, a
 * rotation, ...) moves the id on and the next call looks the record up again.
 */
#include <lmdb.h>

#include "vaultcore_native.h"
#include "vaultcore_store.h"
#include "vaultcore_store_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct vc_watch {
    size_t prefix_len, key_len, found_key_len, blob_len;
    /* Where and when the record was last found unchanged: the store's gate, the database and
     * the read snapshot (0: never). Taken with trylock only, so a busy lock (or one a forked
     * child inherited locked) just means a lookup. */
    pthread_mutex_t seen_lock;
    const vc_store *seen_store;
    MDB_dbi seen_dbi;
    uint64_t seen_txn;
    uint8_t prefix[VC_STORE_MAX_KEY];
    uint8_t key[VC_STORE_MAX_KEY];
    uint8_t found_key[VC_STORE_MAX_KEY];
    uint8_t blob[]; /* blob_len bytes: the sealed record (ciphertext, nothing secret) */
};

int vc_watch_new(const uint8_t *prefix, size_t prefix_len, const uint8_t *key, size_t key_len,
                 const uint8_t *found_key, size_t found_key_len, const uint8_t *blob, size_t blob_len,
                 vc_watch **out) {
    if (out == NULL || prefix == NULL || found_key == NULL || blob == NULL || prefix_len == 0 ||
        prefix_len > VC_STORE_MAX_KEY || key_len > VC_STORE_MAX_KEY || found_key_len == 0 ||
        found_key_len > VC_STORE_MAX_KEY || blob_len == 0 || blob_len > VC_WATCH_MAX_RECORD ||
        (key_len > 0 && key == NULL)) {
        return VC_ERR_PARAM;
    }
    vc_watch *w = malloc(sizeof *w + blob_len);
    if (w == NULL) {
        return VC_ERR_NOMEM;
    }
    w->prefix_len = prefix_len;
    w->key_len = key_len;
    w->found_key_len = found_key_len;
    w->blob_len = blob_len;
    if (pthread_mutex_init(&w->seen_lock, NULL) != 0) {
        free(w);
        return VC_ERR_INTERNAL;
    }
    w->seen_store = NULL;
    w->seen_dbi = 0;
    w->seen_txn = 0;
    memcpy(w->prefix, prefix, prefix_len);
    if (key_len > 0) {
        memcpy(w->key, key, key_len);
    }
    memcpy(w->found_key, found_key, found_key_len);
    memcpy(w->blob, blob, blob_len);
    *out = w;
    return VC_OK;
}

void vc_watch_free(vc_watch *w) {
    if (w != NULL) {
        pthread_mutex_destroy(&w->seen_lock);
        free(w);
    }
}

int vc_watch_same(vc_store *s, MDB_dbi dbi, vc_watch *w) {
    if (s == NULL || w == NULL) {
        return 0;
    }
    uint64_t last = 0, seen = 0;
    if (pthread_mutex_trylock(&w->seen_lock) == 0) {
        if (w->seen_store == s && w->seen_dbi == dbi) {
            seen = w->seen_txn;
        }
        pthread_mutex_unlock(&w->seen_lock);
    }
    if (seen != 0 && vc_store_last_txn(s, &last) == 0 && last == seen) {
        return 1; /* nothing committed since the snapshot that found it unchanged */
    }
    MDB_txn *txn = NULL;
    MDB_val k, v;
    if (vc_store_lookup(s, dbi, w->prefix, w->prefix_len, w->key, w->key_len, &txn, &k, &v) != 0) {
        return 0; /* not found, busy or any error: not the same (the caller reads it again) */
    }
    int same = k.mv_size == w->found_key_len && v.mv_size == w->blob_len &&
               memcmp(k.mv_data, w->found_key, k.mv_size) == 0 && memcmp(v.mv_data, w->blob, v.mv_size) == 0;
    if (same && pthread_mutex_trylock(&w->seen_lock) == 0) {
        /* (any snapshot that found it unchanged will do: threads may store theirs in any order) */
        w->seen_store = s;
        w->seen_dbi = dbi;
        w->seen_txn = (uint64_t)mdb_txn_id(txn);
        pthread_mutex_unlock(&w->seen_lock);
    }
    vc_store_done(s, txn);
    return same;
}
