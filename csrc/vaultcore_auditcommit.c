/*
 * vaultcore native core: a group commit of the audit queue on LMDB in one call.
 *
 * The audit flusher's usual commit (access/_audit.py: a write transaction that reads the
 * chain's end, seals the queued events, puts the segments and the new head, commits and
 * flushes) makes a dozen calls into C from Python, each releasing and retaking the GIL. A
 * thread that reads while the flusher commits then hands the GIL over at every one of them
 * (~1 ms of stalls per commit here), which is why the flusher waited for large batches and
 * left the last ones to the reader. vc_audit_commit does the whole commit with the GIL
 * released once, so the flusher can commit small batches beside readers, off their path.
 *
 * It covers the common case only and answers VC_STORE_SLOW, having written nothing, for
 * anything else, which the Python path then handles (and reports): a keyring generation
 * other than the caller's (another process rotated: the caller reloads), a chain head that
 * is missing, damaged or behind the newest stored event (a restart, see _chain_end), or a
 * chain position out of range. LMDB's MAP_FULL / MAP_RESIZED come back as LMDB codes (the
 * caller grows or adopts the map and retries). The queue's first n events are consumed once
 * the transaction has committed; a failed flush of the meta page after that commit is
 * reported (VC_STORE_ERRNO + errno) with the events consumed, since they are in the log.
 */
#include <lmdb.h>

#include "vaultcore_native.h"
#include "vaultcore_store.h"
#include "vaultcore_store_internal.h"

#include <stdlib.h>
#include <string.h>

#define HEAD_SIZE 40 /* be64 last seq || its chain MAC (access/_audit.py _HEAD) */
#define SEQ_SIZE 8

static uint64_t be64_get(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void be64_put(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static int lmdb_status(int rc) { return rc > 0 ? VC_STORE_ERRNO + rc : rc; }

/* The chain's end in txn: the head's seq and MAC if the head is intact and not behind the
 * newest stored segment; else VC_STORE_SLOW (the Python path restarts the chain). */
static int chain_end(MDB_txn *txn, MDB_dbi meta, MDB_dbi audit, const uint8_t *head_key, size_t head_key_len,
                     uint64_t *seq, uint8_t *mac) {
    MDB_val k = {head_key_len, (void *)head_key}, v;
    MDB_cursor *cur = NULL;
    uint64_t stored = 0;
    int rc = mdb_get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size != HEAD_SIZE)) {
        return VC_STORE_SLOW;
    }
    if (rc != 0) {
        return lmdb_status(rc);
    }
    *seq = be64_get(v.mv_data);
    memcpy(mac, (const uint8_t *)v.mv_data + SEQ_SIZE, 32);
    rc = mdb_cursor_open(txn, audit, &cur);
    if (rc != 0) {
        return lmdb_status(rc);
    }
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == SEQ_SIZE) {
        stored = be64_get(k.mv_data);
    } else if (rc == 0) {
        rc = VC_STORE_SLOW; /* a key that is no segment's: let the Python path decide */
    } else if (rc == MDB_NOTFOUND) {
        rc = 0;
    }
    mdb_cursor_close(cur);
    if (rc != 0) {
        return rc == VC_STORE_SLOW ? rc : lmdb_status(rc);
    }
    return *seq >= stored ? VC_OK : VC_STORE_SLOW;
}

int vc_audit_commit(MDB_env *env, MDB_dbi meta, MDB_dbi audit, vc_auditq *q, size_t per_segment, const uint8_t *gen_key, size_t gen_key_len, const uint8_t *gen,
                    size_t gen_len, const uint8_t *head_key, size_t head_key_len, const uint8_t *audit_key,
                    size_t audit_key_len, uint32_t term, const uint8_t *kek, size_t kek_len,
                    const uint8_t *aad_head, size_t aad_head_len, int durable, size_t *committed) {
    MDB_txn *txn = NULL;
    MDB_val k, v;
    uint8_t *out = NULL, mac[32], last_mac[32], head[HEAD_SIZE], key[SEQ_SIZE];
    size_t *seg_lens = NULL, n = 0, bytes = 0, segments, cap, pos = 0, left;
    uint64_t seq = 0;
    int rc;
    if (env == NULL || q == NULL || per_segment == 0 || gen_key == NULL || gen == NULL || head_key == NULL ||
        audit_key == NULL || kek == NULL || aad_head == NULL || committed == NULL) {
        return VC_ERR_PARAM;
    }
    *committed = 0;
    vc_auditq_pending(q, &n, &bytes); /* the events waiting now; later ones wait for the next flush */
    if (n == 0) {
        return VC_OK;
    }
    left = n;
    segments = (n + per_segment - 1) / per_segment;
    cap = vc_auditq_sealed_size(n, bytes, per_segment);
    out = malloc(cap ? cap : 1);
    seg_lens = malloc(segments * sizeof(*seg_lens));
    if (out == NULL || seg_lens == NULL) {
        rc = VC_ERR_NOMEM;
        goto done;
    }
    rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc != 0) {
        txn = NULL;
        rc = lmdb_status(rc);
        goto done;
    }
    /* The keyring the caller sealed with must still be the vault's (engine._context.write). */
    k = (MDB_val){gen_key_len, (void *)gen_key};
    rc = mdb_get(txn, meta, &k, &v);
    if (rc == 0 && (v.mv_size != gen_len || memcmp(v.mv_data, gen, gen_len) != 0)) {
        rc = VC_STORE_SLOW;
    } else if (rc == MDB_NOTFOUND) {
        rc = VC_OK;
    } else if (rc != 0) {
        rc = lmdb_status(rc);
    }
    if (rc == VC_OK) {
        rc = chain_end(txn, meta, audit, head_key, head_key_len, &seq, mac);
    }
    if (rc == VC_OK && (seq >= ((uint64_t)1 << 62) || n >= ((uint64_t)1 << 62))) {
        rc = VC_STORE_SLOW; /* (no overflow of seq + n; the Python path refuses such a position) */
    }
    if (rc == VC_OK) {
        rc = vc_auditq_seal(q, n, per_segment, audit_key, audit_key_len, mac, seq + 1, term, -1, kek, kek_len,
                            aad_head, aad_head_len, out, cap, seg_lens, last_mac);
    }
    for (size_t i = 0; rc == VC_OK && i < segments; i++) {
        size_t count = left < per_segment ? left : per_segment;
        seq += count;
        left -= count;
        be64_put(key, seq);
        k = (MDB_val){SEQ_SIZE, key};
        v = (MDB_val){seg_lens[i], out + pos};
        pos += seg_lens[i];
        rc = lmdb_status(mdb_put(txn, audit, &k, &v, 0));
    }
    if (rc == VC_OK) {
        be64_put(head, seq);
        memcpy(head + SEQ_SIZE, last_mac, 32);
        k = (MDB_val){head_key_len, (void *)head_key};
        v = (MDB_val){HEAD_SIZE, head};
        rc = lmdb_status(mdb_put(txn, meta, &k, &v, 0));
    }
    if (rc != VC_OK) {
        mdb_txn_abort(txn);
        goto done;
    }
    rc = mdb_txn_commit(txn); /* frees the transaction, committed or not */
    if (rc != 0) {
        rc = lmdb_status(rc);
        goto done;
    }
    vc_auditq_consume(q, n);
    *committed = n;
    if (durable) {
        rc = lmdb_status(mdb_env_sync(env, 1)); /* the meta page (the env has MDB_NOMETASYNC) */
    }
done:
    vc_cleanse(mac, sizeof(mac));
    vc_cleanse(last_mac, sizeof(last_mac));
    free(seg_lens);
    free(out);
    return rc;
}

int vc_audit_flusher(vc_store *s, MDB_dbi meta, MDB_dbi audit, vc_auditq *q, size_t per_segment,
                     const uint8_t *gen_key, size_t gen_key_len, const uint8_t *gen, size_t gen_len,
                     const uint8_t *head_key, size_t head_key_len, const uint8_t *audit_key, size_t audit_key_len,
                     uint32_t term, const uint8_t *kek, size_t kek_len, const uint8_t *aad_head, size_t aad_head_len,
                     size_t batch, double max_delay, int *stopped) {
    MDB_env *env = NULL;
    size_t committed = 0;
    int rc;
    if (s == NULL || q == NULL || stopped == NULL) {
        return VC_ERR_PARAM;
    }
    for (;;) {
        *stopped = vc_auditq_wait(q, batch, max_delay);
        /* The flush lock first, then the gate: a resize or fork that blocks the gate waits
         * only for a commit under way, never for a Python flush that holds the lock. */
        vc_auditq_flush_begin(q);
        if (vc_store_enter_env(s, &env) != 0) {
            vc_auditq_flush_end(q);
            return VC_STORE_BUSY; /* resize, fork or close under way: the caller's path waits */
        }
        rc = vc_audit_commit(env, meta, audit, q, per_segment, gen_key, gen_key_len, gen, gen_len, head_key,
                             head_key_len, audit_key, audit_key_len, term, kek, kek_len, aad_head, aad_head_len, 1,
                             &committed);
        vc_store_leave_env(s);
        vc_auditq_flush_end(q);
        if (rc != VC_OK || *stopped) {
            return rc;
        }
    }
}
