/*
 * vaultcore native core: the C contract.
 *
 * This header holds declarations only. csrc/build_ffi.py feeds it (minus preprocessor
 * lines) to cffi's cdef, so keep it to plain C declarations that pycparser understands:
 * no macros other than the include guard, no inline code, no attributes.
 *
 * Conventions (see docs/native.md):
 *   - Every function returns an int status (VC_OK on success) and writes only into
 *     caller-provided buffers whose sizes the caller guarantees. No allocation is visible
 *     to the caller; temporaries holding keys or plaintext are wiped (OPENSSL_cleanse).
 *   - Key sizes are 16, 24 or 32 bytes (AES-128/192/256). GCM nonces are 12 bytes and
 *     tags 16 bytes; nothing else is supported.
 *   - Batch inputs are packed: the records' bytes concatenated in one buffer plus an
 *     array of n lengths. Outputs are packed the same way, in input order.
 *   - On VC_ERR_AUTH every output byte the call could have written with plaintext or
 *     key material is zeroed.
 *   - Batch calls report per-record results in `ok` (1 = good, 0 = failed
 *     authentication); the call itself then returns VC_OK unless arguments were bad or
 *     OpenSSL failed.
 *   - All functions are thread-safe; OpenSSL cipher objects are fetched once per process
 *     and cipher contexts are cached per thread (freed at thread exit).
 */
#ifndef VAULTCORE_NATIVE_H
#define VAULTCORE_NATIVE_H

#include <stddef.h>
#include <stdint.h>

enum {
    VC_OK = 0,
    VC_ERR_AUTH = 1,     /* tag / unwrap / integrity check failed */
    VC_ERR_PARAM = 2,    /* bad size or argument */
    VC_ERR_INTERNAL = 3, /* OpenSSL failure (fetch, init, cipher call) */
    VC_ERR_RAND = 4,     /* the DRBG failed */
    VC_ERR_NOMEM = 5,    /* allocation of a temporary failed */
    VC_ERR_GONE = 6      /* a keyed context was wiped (closed, rotated, purged) or inherited through fork() */
};

enum {
    VC_ABI_VERSION = 10, /* 10: vc_objkeys_many (replaces vc_hmac_sha256_many), the DEK cache grows (max_slots); 9: vc_audit_commit, vc_audit_flusher; 8: the bound reader hashes names (vc_reader_new's index key, vc_reader_objkey,
                           vc_reader_names; fast_get takes a kind byte); 7: vc_seal_records_keyed; 6: vc_hkdf_sha256;
                           5: keyed RFC 3394 contexts (vc_kwkey), vc_watch_same remembers
                           its snapshot; 4: the bound reader, the C audit queue (vaultcore_store.h) and
                           record watches */
    VC_GCM_NONCE_SIZE = 12,
    VC_GCM_TAG_SIZE = 16,
    VC_DEK_SIZE = 32,
    VC_WRAPPED_DEK_SIZE = 40,
    VC_RECORD_OVERHEAD = 68, /* wrapped DEK (40) + nonce (12) + tag (16) */
    VC_MAX_PREFIX = 64,
    VC_MAX_AAD = 192 /* head + key of vc_seal_records_keyed */
};

/* Version of this contract; the bindings refuse a mismatching build. */
int vc_abi_version(void);
/* OpenSSL version string of the libcrypto actually linked at run time. */
const char *vc_openssl_version(void);

/* ---- utilities ---------------------------------------------------------------------- */

/* n bytes from OpenSSL's public DRBG. */
int vc_random_bytes(uint8_t *out, size_t n);
/* Constant-time comparison of n bytes: returns 1 if equal, 0 otherwise (not a status). */
int vc_ct_equal(const uint8_t *a, const uint8_t *b, size_t n);
/* HKDF-SHA256 (RFC 5869, OpenSSL's "HKDF" KDF): out_len (1..8160) bytes from a non-empty
 * secret, an optional salt (empty: hash-length zeros) and info. out is wiped on failure. */
int vc_hkdf_sha256(const uint8_t *secret, size_t secret_len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len);
/* Wipe n bytes (OPENSSL_cleanse); the bindings wipe their plaintext scratch with it. */
void vc_cleanse(void *p, size_t n);
/* 1 if this thread's OpenSSL error queue is not empty (for tests: every function leaves
 * it empty, failures included), else 0. */
int vc_error_pending(void);

/* ---- AES-GCM ------------------------------------------------------------------------ */

/* out (pt_len + 16 bytes) = ciphertext || tag. out may equal pt (in place). */
int vc_gcm_seal(const uint8_t *key, size_t key_len, const uint8_t *nonce,
                const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                uint8_t *out);
/* out (ct_tag_len - 16 bytes) = plaintext; VC_ERR_AUTH on a bad tag. out may equal ct_tag. */
int vc_gcm_open(const uint8_t *key, size_t key_len, const uint8_t *nonce,
                const uint8_t *aad, size_t aad_len, const uint8_t *ct_tag, size_t ct_tag_len,
                uint8_t *out);
/* n records; keys are n * key_len bytes, nonces n * 12; aads/pts packed with lengths.
 * out receives the records' ct||tag packed (sum(pt_lens) + 16 n bytes). */
int vc_gcm_seal_batch(size_t n, const uint8_t *keys, size_t key_len, const uint8_t *nonces,
                      const uint8_t *aads, const size_t *aad_lens, const uint8_t *pts,
                      const size_t *pt_lens, uint8_t *out, size_t out_len);
/* As above for opening: ct_tags packed with lengths (each >= 16); out receives the
 * plaintexts packed (sum(ct_lens) - 16 n bytes); ok[i] = 1 if record i authenticated. */
int vc_gcm_open_batch(size_t n, const uint8_t *keys, size_t key_len, const uint8_t *nonces,
                      const uint8_t *aads, const size_t *aad_lens, const uint8_t *cts,
                      const size_t *ct_lens, uint8_t *out, size_t out_len, uint8_t *ok);

/* ---- AES key wrap: RFC 3394 (KW) and RFC 5649 (KWP) over AES-ECB --------------------- */

/* KW: key_len >= 16 and a multiple of 8; out is key_len + 8 bytes. */
int vc_kw_wrap(const uint8_t *kek, size_t kek_len, const uint8_t *key, size_t key_len,
               uint8_t *out);
/* KW: wrapped_len >= 24 and a multiple of 8 (else VC_ERR_AUTH); out is wrapped_len - 8. */
int vc_kw_unwrap(const uint8_t *kek, size_t kek_len, const uint8_t *wrapped,
                 size_t wrapped_len, uint8_t *out);
/* KWP: 1 <= key_len <= 2^32-1; out holds ((key_len + 7) / 8) * 8 + 8 bytes. */
int vc_kwp_wrap(const uint8_t *kek, size_t kek_len, const uint8_t *key, size_t key_len,
                uint8_t *out);
/* KWP: out holds wrapped_len - 8 bytes; *out_len receives the unpadded key length. */
int vc_kwp_unwrap(const uint8_t *kek, size_t kek_len, const uint8_t *wrapped,
                  size_t wrapped_len, uint8_t *out, size_t *out_len);
/* KW of n keys of key_len bytes each under one KEK; out is n * (key_len + 8). */
int vc_kw_wrap_batch(const uint8_t *kek, size_t kek_len, size_t n, const uint8_t *keys,
                     size_t key_len, uint8_t *out);
/* KW unwrap of n blobs of wrapped_len bytes each; out is n * (wrapped_len - 8);
 * ok[i] = 1 if blob i unwrapped (failed slots are zeroed). */
int vc_kw_unwrap_batch(const uint8_t *kek, size_t kek_len, size_t n, const uint8_t *wrapped,
                       size_t wrapped_len, uint8_t *out, uint8_t *ok);

/* A keyed RFC 3394 context (vaultcore_kwkey.c): the KEK's AES key schedules kept in a
 * page of their own (mlock()ed when RLIMIT_MEMLOCK allows, MADV_DONTDUMP, MADV_WIPEONFORK)
 * for a vault key used many times. vc_kwkey_wrap / _unwrap are vc_kw_wrap / vc_kw_unwrap
 * under that KEK (same bytes, same statuses), run as AES-NI rounds on the kept schedules,
 * or through vc_kw_wrap on the kept KEK without AES-NI, for a 192-bit KEK or with
 * VC_KWKEY_PORTABLE. After vc_kwkey_wipe, and in a process forked after the context was
 * made, they return VC_ERR_GONE until vc_kwkey_reset keys the same context again (its
 * address never changes: callers may hold it). vc_kwkey_wipe waits for calls in flight;
 * vc_kwkey_free wipes, unlocks and unmaps. vc_kwkey_info: VC_KWKEY_LOCKED | VC_KWKEY_AESNI | VC_KWKEY_LIVE (not
 * wiped, not inherited) of the context (not a status). */
typedef struct vc_kwkey vc_kwkey;
enum { VC_KWKEY_PORTABLE = 1, VC_KWKEY_LOCKED = 1, VC_KWKEY_AESNI = 2, VC_KWKEY_LIVE = 4 };
int vc_kwkey_new(const uint8_t *kek, size_t kek_len, int flags, vc_kwkey **out);
int vc_kwkey_wrap(vc_kwkey *k, const uint8_t *key, size_t key_len, uint8_t *out);
int vc_kwkey_unwrap(vc_kwkey *k, const uint8_t *wrapped, size_t wrapped_len, uint8_t *out);
int vc_kwkey_reset(vc_kwkey *k, const uint8_t *kek, size_t kek_len);
int vc_kwkey_info(const vc_kwkey *k);
void vc_kwkey_wipe(vc_kwkey *k);
void vc_kwkey_free(vc_kwkey *k);
/* Unwrap n KW-wrapped 32-byte DEKs (n * 40 bytes) under old_kek and wrap them under
 * new_kek into out (n * 40 bytes; may equal in). ok[i] = 1 if DEK i unwrapped; a failed
 * slot is left zeroed. Plaintext DEKs exist only in a wiped temporary. */
int vc_kw_rewrap_batch(const uint8_t *old_kek, size_t old_kek_len, const uint8_t *new_kek,
                       size_t new_kek_len, size_t n, const uint8_t *in, uint8_t *out,
                       uint8_t *ok);

/* ---- Fused envelope records ------------------------------------------------------------
 * blob = prefix || KW(kek, DEK) (40) || nonce (12) || GCM(DEK, nonce, aad, pt) || tag (16)
 * The DEK (32 bytes) and nonce are drawn inside C; the DEK never leaves C. The prefix is
 * copied verbatim and is NOT authenticated here (the caller binds it through the AAD or
 * otherwise). prefix_len <= VC_MAX_PREFIX.
 */

/* out is prefix_len + 68 + pt_len bytes. */
int vc_seal_record(const uint8_t *kek, size_t kek_len, const uint8_t *prefix,
                   size_t prefix_len, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                   size_t pt_len, uint8_t *out);
/* out is blob_len - prefix_len - 68 bytes; VC_ERR_AUTH if the blob is short, the DEK
 * does not unwrap or the tag does not verify. */
int vc_open_record(const uint8_t *kek, size_t kek_len, const uint8_t *blob, size_t blob_len,
                   size_t prefix_len, const uint8_t *aad, size_t aad_len, uint8_t *out);
/* n records sharing kek and prefix; aads/pts packed with lengths; out receives the n
 * blobs packed (n * (prefix_len + 68) + sum(pt_lens) bytes). */
int vc_seal_records(size_t n, const uint8_t *kek, size_t kek_len, const uint8_t *prefix,
                    size_t prefix_len, const uint8_t *aads, const size_t *aad_lens,
                    const uint8_t *pts, const size_t *pt_lens, uint8_t *out, size_t out_len);
/* vc_seal_records with record i's AAD = head || keys[i * key_len ..] (head_len + key_len
 * <= VC_MAX_AAD): a bulk write binds each record to its store key in one call. */
int vc_seal_records_keyed(size_t n, const uint8_t *kek, size_t kek_len, const uint8_t *prefix,
                          size_t prefix_len, const uint8_t *head, size_t head_len,
                          const uint8_t *keys, size_t key_len, const uint8_t *pts,
                          const size_t *pt_lens, uint8_t *out, size_t out_len);
/* n blobs packed with lengths; out receives the plaintexts packed, record i taking
 * max(0, blob_lens[i] - prefix_len - 68) bytes (out_len = sum of those); ok[i] = 1 if
 * record i opened (failed slots zeroed). */
int vc_open_records(size_t n, const uint8_t *kek, size_t kek_len, const uint8_t *blobs,
                    const size_t *blob_lens, size_t prefix_len, const uint8_t *aads,
                    const size_t *aad_lens, uint8_t *out, size_t out_len, uint8_t *ok);

/* vc_open_record that also copies the unwrapped DEK (32 bytes) into dek_out on success
 * (for the DEK cache, which keeps it in locked memory); dek_out is untouched on failure. */
int vc_open_record_dek(const uint8_t *kek, size_t kek_len, const uint8_t *blob,
                       size_t blob_len, size_t prefix_len, const uint8_t *aad, size_t aad_len,
                       uint8_t *out, uint8_t *dek_out);

/* ---- DEK cache and the cached record open (vaultcore_dekcache.c) -----------------------
 * A bounded cache of unwrapped DEKs keyed by (KEK, wrapped DEK) in one mlock()ed mapping
 * (MADV_DONTDUMP when mlock is refused; zeroed in a forked child). Thread-safe.
 */
typedef struct vc_dek_cache vc_dek_cache;

/* A cache of at least `slots` entries (rounded up to a power of two, at most 2^20) that
 * doubles, up to max_slots (rounded up likewise; at most slots: it never grows), when the
 * records read outnumber its slots (an eighth of its slots' worth of entries replaced), as
 * long as the larger table can be locked as the smaller one was (ABI 10). */
int vc_dek_cache_new(size_t slots, size_t max_slots, vc_dek_cache **out);
/* Wipe every entry and unmap; c may be NULL. */
void vc_dek_cache_free(vc_dek_cache *c);
/* Wipe every entry and every remembered KEK (OPENSSL_cleanse). */
void vc_dek_cache_wipe(vc_dek_cache *c);
/* Wipe, and insert nothing from now on (the vault closed; lookups miss). Unlike free, safe
 * while other threads are inside vc_open_record_cached on c. */
void vc_dek_cache_close(vc_dek_cache *c);
/* 1 if the cache memory is mlock()ed, 0 if only excluded from core dumps (not a status). */
int vc_dek_cache_locked(const vc_dek_cache *c);
/* Entries held / slots (for tests; not statuses). */
size_t vc_dek_cache_count(vc_dek_cache *c);
size_t vc_dek_cache_slots(vc_dek_cache *c);
/* vc_open_record with the DEK taken from / remembered in c: same inputs, outputs and
 * statuses. A DEK is remembered only after it opened a record. */
int vc_open_record_cached(vc_dek_cache *c, const uint8_t *kek, size_t kek_len,
                          const uint8_t *blob, size_t blob_len, size_t prefix_len,
                          const uint8_t *aad, size_t aad_len, uint8_t *out);

/* The store prefixes of n object names packed with their lengths (bulk writes; engine._reads'
 * objkey): out (VC_OBJKEY_SIZE bytes each) receives kind || the first 16 bytes of
 * HMAC-SHA256(key, kind || name lowercased). A name that is not 1..VC_NAME_MAX characters
 * of [0-9A-Za-z-] (engine._validation.check_name) stops it: VC_ERR_PARAM with *bad its
 * index (else *bad = n), nothing hashed. */
enum { VC_OBJKEY_SIZE = 17, VC_NAME_MAX = 127 };
int vc_objkeys_many(const uint8_t *key, size_t key_len, uint8_t kind, size_t n, const uint8_t *names,
                    const size_t *lens, uint8_t *out, size_t *bad);

/* ---- Audit chain (vaultcore_audit.c) ---------------------------------------------------
 * For n events with bodies packed with lengths (each < 2^32) and seq_i = first_seq + i:
 * mac_i = HMAC-SHA256(key, mac_{i-1} || be64(seq_i) || body_i), mac_{-1} = prev_mac (32).
 * out (sum(lens) + 36 n bytes) receives mac_i || be32(len_i) || body_i per event;
 * last_mac (32) receives mac_{n-1} (prev_mac when n = 0).
 */
int vc_audit_chain(const uint8_t *key, size_t key_len, const uint8_t *prev_mac,
                   uint64_t first_seq, size_t n, const uint8_t *bodies, const size_t *lens,
                   uint8_t *out, size_t out_len, uint8_t *last_mac);

/* The audit queue (vaultcore_auditq.c): group-committed events in order, as canonical JSON
 * bodies. push appends one body (*queued: how many wait now); push_parts one body given as
 * pieces. A flush is pending -> seal (the first n events chained from prev_mac/first_seq
 * under audit_key, in segments of at most per_segment events, each sealed under kek/term
 * with AAD aad_head || be64(last seq of the segment); out must hold vc_auditq_sealed_size
 * bytes, seg_lens one length per segment; rolled_to >= 0 is written in the first segment's
 * header as "r") -> the caller commits the segments -> consume(n). (A forked child leaves its
 * inherited queue alone: the parent flushes those events.) */
typedef struct vc_auditq vc_auditq;
int vc_auditq_new(vc_auditq **out);
void vc_auditq_free(vc_auditq *q);
int vc_auditq_push(vc_auditq *q, const uint8_t *body, size_t len, size_t *queued);
int vc_auditq_push_parts(vc_auditq *q, const uint8_t *const *parts, const size_t *lens, size_t nparts,
                         size_t *queued);
/* One flush at a time, whoever runs it (the Python flush, the native flusher loop): held from
 * pending to consume, so that no two commits take the same events. */
void vc_auditq_flush_begin(vc_auditq *q);
void vc_auditq_flush_end(vc_auditq *q);
void vc_auditq_pending(vc_auditq *q, size_t *n, size_t *bytes);
size_t vc_auditq_sealed_size(size_t n, size_t bytes, size_t per_segment);
int vc_auditq_seal(vc_auditq *q, size_t n, size_t per_segment, const uint8_t *audit_key,
                   size_t audit_key_len, const uint8_t *prev_mac, uint64_t first_seq, uint32_t term,
                   int64_t rolled_to, const uint8_t *kek, size_t kek_len, const uint8_t *aad_head,
                   size_t aad_head_len, uint8_t *out, size_t out_cap, size_t *seg_lens,
                   uint8_t *last_mac);
void vc_auditq_consume(vc_auditq *q, size_t n);
/* The flusher's wait: until an event waits, then until batch events wait or max_delay
 * seconds pass, or until vc_auditq_stop. Returns 1 once stopped, else 0. */
int vc_auditq_wait(vc_auditq *q, size_t batch, double max_delay);
void vc_auditq_stop(vc_auditq *q);

#endif /* VAULTCORE_NATIVE_H */
