/*
 * vaultcore native core: watches on stored records (see vaultcore_store.h).
 *
 * A key operation re-reads its key's version on every call, so that an update, disable,
 * delete or rotation made by any process is seen at once. While the sealed bytes are the
 * ones already opened there is nothing to open: vc_watch_same reads the record through the
 * gated vc_store_find (a read transaction of its own) and compares its key and bytes with
 * the copy the watch holds, in one call with three arguments instead of a find whose key
 * and value are copied out to Python and compared there.
 */
#include <lmdb.h>

#include "vaultcore_native.h"
#include "vaultcore_store.h"

#include <stdlib.h>
#include <string.h>

struct vc_watch {
    size_t prefix_len, key_len, found_key_len, blob_len;
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
    memcpy(w->prefix, prefix, prefix_len);
    if (key_len > 0) {
        memcpy(w->key, key, key_len);
    }
    memcpy(w->found_key, found_key, found_key_len);
    memcpy(w->blob, blob, blob_len);
    *out = w;
    return VC_OK;
}

void vc_watch_free(vc_watch *w) { free(w); }

int vc_watch_same(vc_store *s, MDB_dbi dbi, const vc_watch *w) {
    if (s == NULL || w == NULL) {
        return 0;
    }
    uint8_t key_out[VC_STORE_MAX_KEY];
    uint8_t value[VC_WATCH_MAX_RECORD];
    size_t key_out_len = 0, value_len = 0;
    int rc = vc_store_find(s, dbi, w->prefix, w->prefix_len, w->key, w->key_len, key_out, &key_out_len, value,
                           w->blob_len, &value_len);
    /* VC_STORE_SPACE (a longer value), not found, busy or any error: not the same */
    return rc == VC_STORE_FOUND && key_out_len == w->found_key_len && value_len == w->blob_len &&
           memcmp(key_out, w->found_key, key_out_len) == 0 && memcmp(value, w->blob, value_len) == 0;
}
