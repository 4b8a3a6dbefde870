/*
 * vaultcore native core: the store's pieces the bound reader (vaultcore_reader.c) reuses.
 * Internal to the C core: not fed to cffi, so Python cannot call them.
 */
#ifndef VAULTCORE_STORE_INTERNAL_H
#define VAULTCORE_STORE_INTERNAL_H

/* Enter the gate, take a read transaction and locate (point get or last under prefix): 0 with
 * the gate entered and *txn open (vc_store_done ends both; k and v point into the map until
 * then), else a VC_STORE_* status with nothing held. The one protocol of every fused read. */
int vc_store_lookup(vc_store *s, MDB_dbi dbi, const uint8_t *prefix, size_t prefix_len, const uint8_t *key,
                    size_t key_len, MDB_txn **txn, MDB_val *k, MDB_val *v);
void vc_store_done(vc_store *s, MDB_txn *txn);
/* Enter the gate for a native write (the audit flusher's loop): 0 with *env set, or
 * VC_STORE_BUSY while the gate is blocked (resize, fork, close); vc_store_leave_env leaves. */
int vc_store_enter_env(vc_store *s, MDB_env **env);
void vc_store_leave_env(vc_store *s);
/* The id of the last committed write transaction (by any process: LMDB's newer meta page,
 * read without a lock or a transaction), through the gate: 0 or VC_STORE_BUSY. Meta pages
 * are written before a commit returns, so an id equal to a read snapshot's means that no
 * commit has finished since that snapshot was taken. */
int vc_store_last_txn(vc_store *s, uint64_t *txnid);
/* Open the sealed record v stored at k into out (see vc_store_read). */
int vc_store_open_found(const MDB_val *k, const MDB_val *v, vc_dek_cache *cache, const uint8_t *kek,
                        size_t kek_len, uint32_t term, const uint8_t *aad_head, size_t aad_head_len,
                        uint8_t *out, size_t out_cap, size_t *out_len);

#endif /* VAULTCORE_STORE_INTERNAL_H */
