/*
 * vaultcore native core: the storage half (LMDB, linked from the system's liblmdb).
 *
 * Like vaultcore_native.h this header is fed to cffi's cdef minus preprocessor lines; the
 * LMDB types it names (MDB_env, MDB_dbi) are declared for cffi in csrc/build_ffi.py and
 * come from <lmdb.h> when compiled. The Python owner of LMDB is vaultcore.storage._lmdb;
 * it calls the mdb_* functions directly and these for the fused read path.
 *
 * vc_store_read is one read of a sealed record, end to end in C with the GIL released:
 * read transaction -> point get or "last key under a prefix" -> format and term check ->
 * AAD = aad_head || store key -> DEK (cache or unwrap) -> AES-GCM open into out -> abort.
 * The plaintext exists only in out (the caller copies and wipes it).
 *
 * A vc_store gate counts the fused reads in flight: while it is blocked (map resize, fork,
 * close), vc_store_read returns VC_STORE_BUSY at once and the caller takes the slow path,
 * which waits; vc_store_active tells the blocker when the in-flight reads have left. The
 * gate keeps a few reset read transactions for reuse (vc_store_drain aborts them).
 */
#ifndef VAULTCORE_STORE_H
#define VAULTCORE_STORE_H

enum {
    VC_STORE_FOUND = 0,
    VC_STORE_AUTH = 1,      /* the record does not authenticate (tampered, moved, wrong key) */
    VC_STORE_NOTFOUND = 20, /* no record at the key / under the prefix */
    VC_STORE_TERM = 21,     /* sealed under another keyring term: *out_len says which */
    VC_STORE_SPACE = 22,    /* out too small: *out_len says how large it must be */
    VC_STORE_BUSY = 23,     /* the gate is blocked (resize, fork, close): take the slow path */
    VC_STORE_SLOW = 24,     /* found and opened, but not for the bound reader (disabled, ...) */
    VC_STORE_MAX_AAD = 1024,
    VC_STORE_MAX_KEY = 511, /* LMDB's default maximum key size */
    VC_STORE_ERRNO = 1000   /* + errno: an OS error reported by LMDB */
};

typedef struct vc_store vc_store;

/* A gate for env (not owned: the caller closes the env after vc_store_free). */
int vc_store_new(MDB_env *env, vc_store **out);
void vc_store_free(vc_store *s);
/* blocked = 1: new fused reads return VC_STORE_BUSY; 0: they run again. */
void vc_store_block(vc_store *s, int blocked);
/* Fused reads in flight now (not a status). */
int vc_store_active(vc_store *s);
/* Abort the pooled (reset) read transactions: call while blocked with none in flight, before
 * a map resize, a fork or closing the environment. */
void vc_store_drain(vc_store *s);

/* One sealed record of dbi, opened. With key_len > 0 the record at key, else the greatest
 * key starting with prefix. The blob layout is crypto/_envelope's: format byte 0x01, term
 * (be32), wrapped DEK, nonce, ciphertext, tag; prefix_len 5 is skipped. Returns VC_STORE_*,
 * VC_ERR_* of vaultcore_native.h, a negative LMDB code, or VC_STORE_ERRNO + errno for an
 * OS error LMDB reported. On VC_STORE_FOUND out holds *out_len plaintext bytes; on
 * VC_STORE_SPACE *out_len is the size needed; on VC_STORE_TERM it is the record's term. */
int vc_store_read(vc_store *s, MDB_dbi dbi, const uint8_t *prefix, size_t prefix_len,
                  const uint8_t *key, size_t key_len, vc_dek_cache *cache, const uint8_t *kek,
                  size_t kek_len, uint32_t term, const uint8_t *aad_head, size_t aad_head_len,
                  uint8_t *out, size_t out_cap, size_t *out_len);

/* The raw record (sealed bytes, nothing opened) at key, or the greatest under prefix, with
 * its key: key_out holds VC_STORE_MAX_KEY bytes, *key_out_len its length; out receives the
 * value and *out_len its length (VC_STORE_SPACE: the size needed). The point read of key
 * operations and of every engine lookup outside a read block. Same statuses as above. */
int vc_store_find(vc_store *s, MDB_dbi dbi, const uint8_t *prefix, size_t prefix_len,
                  const uint8_t *key, size_t key_len, uint8_t *key_out, size_t *key_out_len,
                  uint8_t *out, size_t out_cap, size_t *out_len);

/* Bulk writes inside a write transaction the caller holds (txn): n keys and values packed
 * with their lengths. vc_txn_exist_many sets found[i] = 1 if key i is in dbi.
 * vc_txn_put_many puts every row with mdb_put's flags (MDB_NOOVERWRITE: a key that exists
 * stops it with MDB_KEYEXIST); on any failure *failed is the row's index and the LMDB code
 * is returned: the caller aborts the transaction, so nothing of the batch is kept. */
int vc_txn_exist_many(MDB_txn *txn, MDB_dbi dbi, size_t n, const uint8_t *keys,
                      const size_t *klens, uint8_t *found);
int vc_txn_put_many(MDB_txn *txn, MDB_dbi dbi, size_t n, const uint8_t *keys, const size_t *klens,
                    const uint8_t *vals, const size_t *vlens, unsigned int flags, size_t *failed);

/* The bound reader (vaultcore_reader.c): one record type of one store with its DEK cache,
 * keyring term, KEK (copied into a locked page, wiped by vc_reader_free) and AAD head.
 * Free it before the store's gate and the cache. Made with s NULL (dbi unused), it serves
 * vc_reader_open only. With an index key (index_key_len > 0; ABI 8) the page also holds
 * the HMAC-SHA256 states keyed with it, and vc_reader_objkey computes store prefixes. */
typedef struct vc_reader vc_reader;
int vc_reader_new(vc_store *s, MDB_dbi dbi, vc_dek_cache *cache, const uint8_t *kek, size_t kek_len,
                  uint32_t term, const uint8_t *aad_head, size_t aad_head_len, const uint8_t *index_key,
                  size_t index_key_len, vc_reader **out);
void vc_reader_free(vc_reader *r);
int vc_reader_locked(const vc_reader *r);
/* 1 if vc_reader_objkey can compute store prefixes now (an index key was given and has not
 * been wiped, in this process), else 0. Not a status. */
int vc_reader_names(const vc_reader *r);
/* Wipe the KEK and the index key's states now (the vault closed); reads then fail over to
 * the general path. */
void vc_reader_wipe(vc_reader *r);

/* The store prefix of an object: okey (VC_OBJKEY_SIZE bytes) = kind || the first 16 bytes
 * of HMAC-SHA256(index key, kind || name lowercased), engine._reads' objkey. VC_ERR_PARAM if
 * name is not 1..VC_NAME_MAX characters of [0-9A-Za-z-] (engine._validation.check_name);
 * VC_ERR_GONE if the reader has no index key (none given, wiped, inherited through fork(),
 * or an OpenSSL without SHA256_Init); the caller then computes it. */
/* (VC_OBJKEY_SIZE, VC_NAME_MAX: vaultcore_native.h) */
int vc_reader_objkey(vc_reader *r, uint8_t kind, const uint8_t *name, size_t name_len, uint8_t *okey);

/* A read's audit event: body = head || object id || middle || request counter (12 hex
 * digits) || tail || time "%lld.%06ld}", queued on q (the template does not own q). */
typedef struct vc_event_tpl vc_event_tpl;
int vc_event_tpl_new(vc_auditq *q, const uint8_t *head, size_t head_len, const uint8_t *middle,
                     size_t middle_len, const uint8_t *tail, size_t tail_len, vc_event_tpl **out);
void vc_event_tpl_free(vc_event_tpl *t);
/* Queue one event of the template's kind for the object id oid (printable ASCII without '"'
 * or '\\', at most VC_EVENT_MAX_OID bytes; else VC_ERR_PARAM and nothing queued); *queued:
 * events waiting. The audited operations that never write (key operations) use it. */
enum { VC_EVENT_MAX_OID = 1024 };
int vc_event_push(vc_event_tpl *t, const uint8_t *oid, size_t oid_len, size_t *queued);

/* get_secret's success path: the latest version under prefix, opened, format 2, enabled,
 * named name (ASCII case-insensitive, the name's characters [0-9A-Za-z-]), a UTF-8 value;
 * then, if event is not NULL, its event (object id "NAME/VERSION" from the record) queued
 * (*queued: events waiting). VC_OK: out holds *out_len plaintext bytes, the value from
 * *value_at. VC_STORE_SLOW or any status of vc_store_read: nothing queued, take the
 * general path. */
int vc_reader_get(vc_reader *r, const uint8_t *prefix, size_t prefix_len, const uint8_t *name, size_t name_len,
                  vc_event_tpl *event, uint8_t *out, size_t out_cap, size_t *out_len, size_t *value_at,
                  size_t *queued);
/* vc_reader_get's steps after the lookup, for the sealed record blob the caller read at
 * key from another store (PostgreSQL). Same statuses. */
int vc_reader_open(vc_reader *r, const uint8_t *key, size_t key_len, const uint8_t *blob, size_t blob_len,
                   const uint8_t *name, size_t name_len, vc_event_tpl *event, uint8_t *out, size_t out_cap,
                   size_t *out_len, size_t *value_at, size_t *queued);

/* The audit flusher's group commit in one call (vaultcore_auditcommit.c), GIL released: a
 * write transaction on env that checks META's keyring generation (gen at gen_key) is the
 * caller's, finds the chain's end (the head at head_key in meta: be64 seq || MAC, not behind
 * the newest key of audit), seals every event waiting on q as vc_auditq_seal does, puts the
 * segments (keyed be64 last seq) and the new head, commits, flushes the meta page if
 * durable, and consumes the events (*committed: how many). VC_STORE_SLOW, nothing written
 * or consumed: the Python path must do this commit (another generation, a chain to restart);
 * a negative LMDB code (MAP_FULL, MAP_RESIZED: grow or adopt the map and retry) or
 * VC_STORE_ERRNO + errno. */
int vc_audit_commit(MDB_env *env, MDB_dbi meta, MDB_dbi audit, vc_auditq *q, size_t per_segment,
                    const uint8_t *gen_key, size_t gen_key_len, const uint8_t *gen, size_t gen_len,
                    const uint8_t *head_key, size_t head_key_len, const uint8_t *audit_key, size_t audit_key_len,
                    uint32_t term, const uint8_t *kek, size_t kek_len, const uint8_t *aad_head, size_t aad_head_len,
                    int durable, size_t *committed);

/* The audit flusher thread's loop, GIL released throughout: wait as vc_auditq_wait, then
 * commit every waiting event as vc_audit_commit does (durable), inside the store's gate and
 * holding the queue's flush lock, and again; keys as for vc_audit_commit, valid for the
 * whole call. Returns when stopped (*stopped = 1, after a last commit) or when a commit did
 * not succeed: VC_STORE_BUSY (the gate is blocked), VC_STORE_SLOW or an error, with
 * nothing consumed by that commit; the caller then flushes its own way and calls again. */
int vc_audit_flusher(vc_store *s, MDB_dbi meta, MDB_dbi audit, vc_auditq *q, size_t per_segment,
                     const uint8_t *gen_key, size_t gen_key_len, const uint8_t *gen, size_t gen_len,
                     const uint8_t *head_key, size_t head_key_len, const uint8_t *audit_key, size_t audit_key_len,
                     uint32_t term, const uint8_t *kek, size_t kek_len, const uint8_t *aad_head, size_t aad_head_len,
                     size_t batch, double max_delay, int *stopped);

/* Adds fast_get and fast_open, the CPython entry points of vc_reader_get (with
 * vc_reader_objkey when given a kind byte instead of a prefix) and vc_reader_open
 * (vaultcore_pyfast.c), to the vaultcore._native module. VC_OK or VC_ERR_INTERNAL. */
int vc_py_export(void);

/* Watches (vaultcore_watch.c): a copy of one record as found (its key and sealed bytes) and
 * of how it was looked up (prefix and key, as for vc_store_find), so that the hot path of
 * key operations can ask "is it still exactly this?" in one call. */
enum { VC_WATCH_MAX_RECORD = 8192 /* larger records get no watch (the caller compares) */ };

typedef struct vc_watch vc_watch;

/* A watch on the record found as (found_key, blob) by vc_store_find(prefix, key); free it
 * with vc_watch_free. VC_ERR_PARAM for sizes out of range (blob_len > VC_WATCH_MAX_RECORD). */
int vc_watch_new(const uint8_t *prefix, size_t prefix_len, const uint8_t *key, size_t key_len,
                 const uint8_t *found_key, size_t found_key_len, const uint8_t *blob, size_t blob_len,
                 vc_watch **out);
void vc_watch_free(vc_watch *w);
/* 1 if vc_store_find in dbi finds the watched record with the same key and bytes now; 0 if
 * anything differs, nothing is found, the gate is blocked or the read fails (the caller
 * then reads the record again and reports any error). Not a status. The watch remembers
 * the read snapshot that last found it unchanged: while no transaction has committed
 * since (LMDB's last transaction id, by any process), the answer is 1 without a lookup. */
int vc_watch_same(vc_store *s, MDB_dbi dbi, vc_watch *w);

#endif /* VAULTCORE_STORE_H */
