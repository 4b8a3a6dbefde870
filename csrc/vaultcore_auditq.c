/*
 * vaultcore native core: the audit queue of group-committed events (see vaultcore_native.h).
 *
 * Events that do not commit with a mutation (reads, denials, failures) wait here, in order,
 * as their canonical JSON bodies, until the flusher commits them. Python pushes bodies it
 * serialised; the fused read (vaultcore_reader.c) pushes the body of its own SecretGet event,
 * built from a template, so an audited read takes no Python step for its event.
 *
 * The flusher thread waits in vc_auditq_wait (GIL released) for the first event of a round,
 * then for a full batch or its delay: a push signals it, so readers do nothing in Python to
 * wake it. A flush is peek, seal, commit, consume: vc_auditq_seal copies the first n bodies under the
 * lock, then (lock released, GIL released) chains them (vc_audit_chain: the MACs verify()
 * recomputes) into segments of at most per_segment events and seals each segment with a
 * fresh DEK exactly as crypto/_envelope.py seals an AUDIT record. The caller puts the
 * segments in its write transaction and, once it has committed, consumes the n events; a
 * failed commit consumes nothing, so nothing is lost or reordered. The bodies are not
 * secret (the log never holds values or keys), so they are not wiped.
 */
#include "vaultcore_native.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#define SEG_HEAD_MAX 96 /* {"k":u32,"n":u64,"s":u64,"r":i64} */

struct vc_auditq {
    pthread_mutex_t lock;
    pthread_mutex_t flushing; /* held by whoever commits events (vc_auditq_flush_begin) */
    pthread_cond_t cond; /* the flusher waits here (vc_auditq_wait) */
    size_t batch;        /* ... until this many events wait (or its delay ends) */
    int stop;
    uint8_t *buf; /* the bodies, concatenated */
    size_t used, cap;
    size_t *lens; /* the length of each body */
    size_t n, ncap;
};

int vc_auditq_new(vc_auditq **out)
{
    vc_auditq *q;
    if (out == NULL)
        return VC_ERR_PARAM;
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return VC_ERR_NOMEM;
    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        free(q);
        return VC_ERR_INTERNAL;
    }
    if (pthread_cond_init(&q->cond, NULL) != 0) {
        pthread_mutex_destroy(&q->lock);
        free(q);
        return VC_ERR_INTERNAL;
    }
    if (pthread_mutex_init(&q->flushing, NULL) != 0) {
        pthread_cond_destroy(&q->cond);
        pthread_mutex_destroy(&q->lock);
        free(q);
        return VC_ERR_INTERNAL;
    }
    q->batch = 1;
    *out = q;
    return VC_OK;
}

void vc_auditq_free(vc_auditq *q)
{
    if (q == NULL)
        return;
    pthread_mutex_destroy(&q->flushing);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q->buf);
    free(q->lens);
    free(q);
}

/* Append one body; the lock is held. */
static int push_locked(vc_auditq *q, const uint8_t *a, size_t al, size_t total)
{
    if (q->used + total < q->used)
        return VC_ERR_PARAM;
    if (q->used + total > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        uint8_t *p;
        while (cap < q->used + total)
            cap *= 2;
        p = realloc(q->buf, cap);
        if (p == NULL)
            return VC_ERR_NOMEM;
        q->buf = p;
        q->cap = cap;
    }
    if (q->n == q->ncap) {
        size_t ncap = q->ncap ? q->ncap * 2 : 64;
        size_t *p = realloc(q->lens, ncap * sizeof(*p));
        if (p == NULL)
            return VC_ERR_NOMEM;
        q->lens = p;
        q->ncap = ncap;
    }
    if (al)
        memcpy(q->buf + q->used, a, al);
    q->used += total;
    q->lens[q->n++] = total;
    if (q->n == 1 || q->n == q->batch)
        pthread_cond_signal(&q->cond); /* the first event of a round, or a full batch */
    return VC_OK;
}

int vc_auditq_push(vc_auditq *q, const uint8_t *body, size_t len, size_t *queued)
{
    int st;
    if (q == NULL || queued == NULL || (len && body == NULL) || len > 0xFFFFFFFFu)
        return VC_ERR_PARAM;
    pthread_mutex_lock(&q->lock);
    st = push_locked(q, body, len, len);
    *queued = q->n;
    pthread_mutex_unlock(&q->lock);
    return st;
}

int vc_auditq_push_parts(vc_auditq *q, const uint8_t *const *parts, const size_t *lens, size_t nparts,
                         size_t *queued)
{
    size_t i, total = 0, pos;
    int st;
    if (q == NULL || queued == NULL || parts == NULL || lens == NULL)
        return VC_ERR_PARAM;
    for (i = 0; i < nparts; i++)
        total += lens[i];
    if (total > 0xFFFFFFFFu)
        return VC_ERR_PARAM;
    pthread_mutex_lock(&q->lock);
    st = push_locked(q, NULL, 0, total);
    if (st == VC_OK) {
        pos = q->used - total;
        for (i = 0; i < nparts; i++) {
            if (lens[i])
                memcpy(q->buf + pos, parts[i], lens[i]);
            pos += lens[i];
        }
    }
    *queued = q->n;
    pthread_mutex_unlock(&q->lock);
    return st;
}

int vc_auditq_wait(vc_auditq *q, size_t batch, double max_delay)
{
    struct timespec until;
    long long ns;
    int stopped;
    pthread_mutex_lock(&q->lock);
    q->batch = batch ? batch : 1;
    while (q->n == 0 && !q->stop)
        pthread_cond_wait(&q->cond, &q->lock);
    if (q->n < q->batch && !q->stop && max_delay > 0) {
        clock_gettime(CLOCK_REALTIME, &until);
        ns = (long long)(max_delay * 1e9);
        until.tv_sec += (time_t)(ns / 1000000000LL) + (until.tv_nsec + ns % 1000000000LL) / 1000000000LL;
        until.tv_nsec = (until.tv_nsec + ns % 1000000000LL) % 1000000000LL;
        while (q->n < q->batch && !q->stop)
            if (pthread_cond_timedwait(&q->cond, &q->lock, &until) == ETIMEDOUT)
                break;
    }
    stopped = q->stop;
    pthread_mutex_unlock(&q->lock);
    return stopped;
}

void vc_auditq_stop(vc_auditq *q)
{
    pthread_mutex_lock(&q->lock);
    q->stop = 1;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

void vc_auditq_flush_begin(vc_auditq *q)
{
    pthread_mutex_lock(&q->flushing);
}

void vc_auditq_flush_end(vc_auditq *q)
{
    pthread_mutex_unlock(&q->flushing);
}

void vc_auditq_pending(vc_auditq *q, size_t *n, size_t *bytes)
{
    pthread_mutex_lock(&q->lock);
    *n = q->n;
    *bytes = q->used;
    pthread_mutex_unlock(&q->lock);
}

void vc_auditq_consume(vc_auditq *q, size_t n)
{
    size_t i, drop = 0;
    pthread_mutex_lock(&q->lock);
    if (n > q->n)
        n = q->n;
    for (i = 0; i < n; i++)
        drop += q->lens[i];
    memmove(q->buf, q->buf + drop, q->used - drop);
    memmove(q->lens, q->lens + n, (q->n - n) * sizeof(*q->lens));
    q->used -= drop;
    q->n -= n;
    pthread_mutex_unlock(&q->lock);
}

size_t vc_auditq_sealed_size(size_t n, size_t bytes, size_t per_segment)
{
    size_t segments;
    if (per_segment == 0)
        return 0;
    segments = (n + per_segment - 1) / per_segment;
    return bytes + 36 * n + segments * (5 + VC_RECORD_OVERHEAD + 4 + SEG_HEAD_MAX);
}

int vc_auditq_seal(vc_auditq *q, size_t n, size_t per_segment, const uint8_t *audit_key,
                   size_t audit_key_len, const uint8_t *prev_mac, uint64_t first_seq, uint32_t term,
                   int64_t rolled_to, const uint8_t *kek, size_t kek_len, const uint8_t *aad_head,
                   size_t aad_head_len, uint8_t *out, size_t out_cap, size_t *seg_lens,
                   uint8_t *last_mac)
{
    uint8_t *bodies = NULL, *plain = NULL, *aad = NULL, mac[32], prefix[5];
    size_t *lens = NULL, bytes = 0, i, done = 0, off = 0, pos = 0, seg = 0, max_plain = 0;
    int st = VC_ERR_PARAM;
    if (q == NULL || per_segment == 0 || audit_key == NULL || prev_mac == NULL || kek == NULL ||
        aad_head == NULL || out == NULL || seg_lens == NULL || last_mac == NULL || aad_head_len > 1024)
        return VC_ERR_PARAM;
    pthread_mutex_lock(&q->lock);
    if (n == 0 || n > q->n) {
        pthread_mutex_unlock(&q->lock);
        return VC_ERR_PARAM;
    }
    for (i = 0; i < n; i++)
        bytes += q->lens[i];
    bodies = malloc(bytes ? bytes : 1);
    lens = malloc(n * sizeof(*lens));
    if (bodies != NULL && lens != NULL) {
        memcpy(bodies, q->buf, bytes);
        memcpy(lens, q->lens, n * sizeof(*lens));
    }
    pthread_mutex_unlock(&q->lock);
    if (bodies == NULL || lens == NULL) {
        st = VC_ERR_NOMEM;
        goto done;
    }
    if (vc_auditq_sealed_size(n, bytes, per_segment) > out_cap)
        goto done;
    /* The largest segment's plaintext bounds the scratch buffer. */
    for (i = 0; i < n; i += per_segment) {
        size_t j, sz = 4 + SEG_HEAD_MAX, end = i + per_segment < n ? i + per_segment : n;
        for (j = i; j < end; j++)
            sz += 36 + lens[j];
        if (sz > max_plain)
            max_plain = sz;
    }
    plain = malloc(max_plain);
    aad = malloc(aad_head_len + 8);
    if (plain == NULL || aad == NULL) {
        st = VC_ERR_NOMEM;
        goto done;
    }
    memcpy(mac, prev_mac, 32);
    memcpy(aad, aad_head, aad_head_len);
    prefix[0] = 0x01;
    prefix[1] = (uint8_t)(term >> 24);
    prefix[2] = (uint8_t)(term >> 16);
    prefix[3] = (uint8_t)(term >> 8);
    prefix[4] = (uint8_t)term;
    while (done < n) {
        size_t count = n - done < per_segment ? n - done : per_segment, area = 0, j;
        uint64_t first = first_seq + done, last = first + count - 1;
        int head_len;
        char head[SEG_HEAD_MAX + 1];
        for (j = 0; j < count; j++)
            area += 36 + lens[done + j];
        if (rolled_to >= 0 && done == 0)
            head_len = snprintf(head, sizeof(head), "{\"k\":%u,\"n\":%zu,\"s\":%llu,\"r\":%lld}", term, count,
                                (unsigned long long)first, (long long)rolled_to);
        else
            head_len = snprintf(head, sizeof(head), "{\"k\":%u,\"n\":%zu,\"s\":%llu}", term, count,
                                (unsigned long long)first);
        if (head_len < 0 || head_len > SEG_HEAD_MAX) {
            st = VC_ERR_INTERNAL;
            goto done;
        }
        plain[0] = (uint8_t)((unsigned)head_len >> 24);
        plain[1] = (uint8_t)((unsigned)head_len >> 16);
        plain[2] = (uint8_t)((unsigned)head_len >> 8);
        plain[3] = (uint8_t)head_len;
        memcpy(plain + 4, head, (size_t)head_len);
        st = vc_audit_chain(audit_key, audit_key_len, mac, first, count, bodies + off, lens + done,
                            plain + 4 + head_len, area, mac);
        if (st != VC_OK)
            goto done;
        for (j = 0; j < 8; j++)
            aad[aad_head_len + j] = (uint8_t)(last >> (56 - 8 * j));
        st = vc_seal_record(kek, kek_len, prefix, sizeof(prefix), aad, aad_head_len + 8, plain,
                            4 + (size_t)head_len + area, out + pos);
        if (st != VC_OK)
            goto done;
        seg_lens[seg++] = sizeof(prefix) + VC_RECORD_OVERHEAD + 4 + (size_t)head_len + area;
        pos += seg_lens[seg - 1];
        for (j = 0; j < count; j++)
            off += lens[done + j];
        done += count;
    }
    memcpy(last_mac, mac, 32);
    st = VC_OK;
done:
    vc_cleanse(mac, sizeof(mac));
    free(plain);
    free(aad);
    free(bodies);
    free(lens);
    return st;
}
