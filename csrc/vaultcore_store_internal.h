/*
 * vaultcore native core: the store's pieces the bound reader (vaultcore_reader.c) reuses.
 * Internal to the C core: not fed to cffi, so Python cannot call them.
 */
#ifndef VAULTCORE_STORE_INTERNAL_H
#define VAULTCORE_STORE_INTERNAL_H

/* Enter the gate: 0, or VC_STORE_BUSY while it is blocked; vc_store_leave after a 0. */
int vc_store_enter(vc_store *s);
void vc_store_leave(vc_store *s);
MDB_env *vc_store_env(vc_store *s);
/* A read transaction (a pooled one renewed, or a new one): 0 or an LMDB code. Inside the
 * gate only; vc_store_txn_put resets it back into the pool (or aborts it). */
int vc_store_txn_get(vc_store *s, MDB_txn **out);
void vc_store_txn_put(vc_store *s, MDB_txn *t);
/* An LMDB code as a VC_STORE_* status. */
int vc_store_status(int rc);
/* Point get (key_len > 0) or the last key under prefix, in txn: 0 or an LMDB code. */
int vc_store_locate(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t prefix_len, const uint8_t *key,
                    size_t key_len, MDB_val *k, MDB_val *v);
/* Open the sealed record v stored at k into out (see vc_store_read). */
int vc_store_open_found(const MDB_val *k, const MDB_val *v, vc_dek_cache *cache, const uint8_t *kek,
                        size_t kek_len, uint32_t term, const uint8_t *aad_head, size_t aad_head_len,
                        uint8_t *out, size_t out_cap, size_t *out_len);

#endif /* VAULTCORE_STORE_INTERNAL_H */
