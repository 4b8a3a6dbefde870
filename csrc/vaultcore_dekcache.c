/*
 * vaultcore native core: a bounded cache of unwrapped record DEKs, and the cached open.
 *
 * A record's DEK is AES-KW(kek, DEK): unwrapping is a deterministic function of (kek,
 * wrapped bytes), so remembering its result for an identical (kek, wrapped) pair changes
 * no outcome; it only spares the unwrap on repeated reads. What it changes is where DEKs
 * live: the slots are one anonymous mapping, mlock()ed (when RLIMIT_MEMLOCK allows; else
 * only MADV_DONTDUMP), excluded from core dumps, zeroed in a forked child
 * (MADV_WIPEONFORK plus a pthread_atfork handler), and wiped (OPENSSL_cleanse) by
 * vc_dek_cache_wipe (keyring rotation, purge) and vc_dek_cache_close (vault closed: wiped,
 * and nothing is inserted any more; the memory is freed by vc_dek_cache_free once no
 * thread can be inside a call, i.e. when the Python object is collected). A wipe bumps an
 * epoch: a DEK whose unwrap began before the wipe is not inserted after it.
 *
 * Layout: a direct-mapped table of 2^k slots (bounded: a colliding entry replaces the
 * old one; never "cleared when full"; it doubles up to a maximum once an eighth of its
 * slots' worth of entries were replaced, i.e. when the records read outnumber it, moving
 * its entries and wiping the old table), indexed by the first wrapped bytes (pseudo-random
 * AES output) mixed with the KEK's table index. Up to VC_CACHE_KEKS KEKs are remembered;
 * a further KEK wipes the table. One mutex per cache; the unwrap and the GCM open run
 * outside it, so concurrent readers only serialise on a lookup or an insert.
 */
#include "vaultcore_native.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define VC_CACHE_KEKS 4
#define VC_CACHE_MAX_SLOTS (1u << 20)

typedef struct {
    uint8_t used; /* 1 + index of the KEK in keks[] (0 = empty) */
    uint8_t wrapped[VC_WRAPPED_DEK_SIZE];
    uint8_t dek[VC_DEK_SIZE];
    uint8_t pad[7];
} vc_slot;

typedef struct {
    uint8_t used;
    uint8_t len;
    uint8_t key[32];
} vc_kek;

typedef struct {
    vc_kek keks[VC_CACHE_KEKS];
    vc_slot slots[]; /* 2^k */
} vc_cache_mem;

struct vc_dek_cache {
    pthread_mutex_t lock;
    vc_cache_mem *mem;   /* the sensitive mapping */
    size_t map_len;
    size_t mask;
    size_t max_slots;    /* the table doubles up to this many slots (vc_dek_cache_new) */
    size_t evictions;    /* entries replaced by another since the table was last sized */
    size_t count;
    uint64_t epoch;      /* bumped by every wipe: an unwrap begun before it is not inserted */
    int closed;          /* vc_dek_cache_close: nothing is inserted any more */
    int locked;          /* 1 if mlock() succeeded */
    struct vc_dek_cache *next, *prev; /* registry, for fork */
};

static pthread_mutex_t g_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_reg_once = PTHREAD_ONCE_INIT;
static vc_dek_cache *g_caches = NULL;

static void wipe_locked(vc_dek_cache *c)
{
    OPENSSL_cleanse(c->mem, c->map_len);
    c->count = 0;
    c->evictions = 0;
    c->epoch++;
}

/* A mapping for n slots: excluded from core dumps, zeroed in a forked child, mlock()ed if
 * the limit allows (*locked says). NULL if it cannot be mapped. */
static vc_cache_mem *map_table(size_t n, size_t *len_out, int *locked)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), len = sizeof(vc_cache_mem) + n * sizeof(vc_slot);
    void *p;
    len = (len + page - 1) / page * page;
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    (void)madvise(p, len, MADV_DONTDUMP);
#ifdef MADV_WIPEONFORK
    (void)madvise(p, len, MADV_WIPEONFORK);
#endif
    *locked = mlock(p, len) == 0;
    *len_out = len;
    return p;
}

static void unmap_table(vc_cache_mem *mem, size_t len, int locked)
{
    OPENSSL_cleanse(mem, len);
    if (locked)
        munlock(mem, len);
    munmap(mem, len);
}

/* fork: hold every lock across the fork so no cache is mid-update in the child. */
static void fork_prepare(void)
{
    vc_dek_cache *c;
    pthread_mutex_lock(&g_reg_lock);
    for (c = g_caches; c != NULL; c = c->next)
        pthread_mutex_lock(&c->lock);
}

static void fork_parent(void)
{
    vc_dek_cache *c;
    for (c = g_caches; c != NULL; c = c->next)
        pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&g_reg_lock);
}

static void fork_child(void)
{
    vc_dek_cache *c;
    for (c = g_caches; c != NULL; c = c->next) {
        wipe_locked(c); /* (MADV_WIPEONFORK already zeroed it where the kernel has it) */
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&g_reg_lock);
}

static void reg_init(void)
{
    (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

int vc_dek_cache_new(size_t slots, size_t max_slots, vc_dek_cache **out)
{
    vc_dek_cache *c;
    size_t n = 1, max = 1, len;
    vc_cache_mem *p;
    int locked;
    if (out == NULL || slots == 0 || slots > VC_CACHE_MAX_SLOTS || max_slots > VC_CACHE_MAX_SLOTS)
        return VC_ERR_PARAM;
    *out = NULL;
    while (n < slots)
        n <<= 1;
    while (max < max_slots)
        max <<= 1;
    if (pthread_once(&g_reg_once, reg_init) != 0)
        return VC_ERR_INTERNAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return VC_ERR_NOMEM;
    p = map_table(n, &len, &locked);
    if (p == NULL) {
        free(c);
        return VC_ERR_NOMEM;
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        unmap_table(p, len, locked);
        free(c);
        return VC_ERR_INTERNAL;
    }
    c->locked = locked;
    c->mem = p;
    c->map_len = len;
    c->mask = n - 1;
    c->max_slots = max > n ? max : n;
    pthread_mutex_lock(&g_reg_lock);
    c->next = g_caches;
    if (g_caches != NULL)
        g_caches->prev = c;
    g_caches = c;
    pthread_mutex_unlock(&g_reg_lock);
    *out = c;
    return VC_OK;
}

void vc_dek_cache_free(vc_dek_cache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&g_reg_lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        g_caches = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&g_reg_lock);
    pthread_mutex_lock(&c->lock);
    wipe_locked(c);
    pthread_mutex_unlock(&c->lock);
    unmap_table(c->mem, c->map_len, c->locked);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void vc_dek_cache_wipe(vc_dek_cache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    wipe_locked(c);
    pthread_mutex_unlock(&c->lock);
}

void vc_dek_cache_close(vc_dek_cache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    wipe_locked(c);
    c->closed = 1;
    pthread_mutex_unlock(&c->lock);
}

int vc_dek_cache_locked(const vc_dek_cache *c)
{
    return c != NULL && c->locked;
}

size_t vc_dek_cache_count(vc_dek_cache *c)
{
    size_t n;
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}

size_t vc_dek_cache_slots(vc_dek_cache *c)
{
    size_t n;
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    n = c->mask + 1;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Index of kek in the table, adding it (or wiping the table when full); under the lock. */
static int kek_index(vc_dek_cache *c, const uint8_t *kek, size_t kek_len)
{
    int i, free_i = -1;
    for (i = 0; i < VC_CACHE_KEKS; i++) {
        vc_kek *k = &c->mem->keks[i];
        if (!k->used) {
            if (free_i < 0)
                free_i = i;
        } else if (k->len == kek_len && CRYPTO_memcmp(k->key, kek, kek_len) == 0) {
            return i;
        }
    }
    if (free_i < 0) {
        wipe_locked(c);
        free_i = 0;
    }
    c->mem->keks[free_i].used = 1;
    c->mem->keks[free_i].len = (uint8_t)kek_len;
    memcpy(c->mem->keks[free_i].key, kek, kek_len);
    return free_i;
}

static vc_slot *slot_of(vc_dek_cache *c, const uint8_t *wrapped, int ki)
{
    uint64_t h;
    memcpy(&h, wrapped, sizeof(h));
    h ^= (uint64_t)ki * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    return &c->mem->slots[h & c->mask];
}

/* Double the table (under the lock) once an eighth of its slots' worth of entries were
 * replaced by others: the records read outnumber the slots. The entries move to the new
 * table and the old one is wiped and unmapped. Never past max_slots, and never from locked
 * memory to memory the limit would not lock: then the table stays as it is. */
static void grow_locked(vc_dek_cache *c)
{
    size_t n = (c->mask + 1) * 2, old_n = c->mask + 1, old_len = c->map_len, len, i;
    vc_cache_mem *old = c->mem, *p;
    int locked, old_locked = c->locked;
    c->evictions = 0;
    p = n <= c->max_slots ? map_table(n, &len, &locked) : NULL;
    if (p == NULL || (old_locked && !locked)) {
        if (p != NULL)
            unmap_table(p, len, locked);
        c->max_slots = old_n; /* (stop trying) */
        return;
    }
    memcpy(p->keks, old->keks, sizeof(old->keks));
    c->mem = p;
    c->map_len = len;
    c->mask = n - 1;
    c->locked = locked;
    c->count = 0;
    for (i = 0; i < old_n; i++) {
        const vc_slot *o = &old->slots[i];
        if (o->used) {
            vc_slot *d = slot_of(c, o->wrapped, o->used - 1);
            if (!d->used)
                c->count++;
            *d = *o;
        }
    }
    unmap_table(old, old_len, old_locked);
}

int vc_open_record_cached(vc_dek_cache *c, const uint8_t *kek, size_t kek_len,
                          const uint8_t *blob, size_t blob_len, size_t prefix_len,
                          const uint8_t *aad, size_t aad_len, uint8_t *out)
{
    uint8_t dek[VC_DEK_SIZE];
    const uint8_t *wrapped, *nonce, *ct;
    vc_slot *s;
    uint64_t epoch;
    int ki, hit = 0, st;
    if (c == NULL || prefix_len > VC_MAX_PREFIX || (kek_len != 16 && kek_len != 24 && kek_len != 32))
        return VC_ERR_PARAM;
    if (blob_len < prefix_len + VC_RECORD_OVERHEAD)
        return VC_ERR_AUTH;
    wrapped = blob + prefix_len;
    nonce = wrapped + VC_WRAPPED_DEK_SIZE;
    ct = nonce + VC_GCM_NONCE_SIZE;

    pthread_mutex_lock(&c->lock);
    epoch = c->epoch;
    if (!c->closed) {
        ki = kek_index(c, kek, kek_len);
        s = slot_of(c, wrapped, ki);
        if (s->used == ki + 1 && CRYPTO_memcmp(s->wrapped, wrapped, VC_WRAPPED_DEK_SIZE) == 0) {
            memcpy(dek, s->dek, VC_DEK_SIZE);
            hit = 1;
        }
    }
    pthread_mutex_unlock(&c->lock);

    if (hit)
        st = vc_gcm_open(dek, VC_DEK_SIZE, nonce, aad, aad_len, ct,
                         blob_len - prefix_len - VC_WRAPPED_DEK_SIZE - VC_GCM_NONCE_SIZE, out);
    else /* the fused unwrap + open, which also hands back the DEK */
        st = vc_open_record_dek(kek, kek_len, blob, blob_len, prefix_len, aad, aad_len, out, dek);
    if (st == VC_OK && !hit) {
        /* only a DEK that opened a record is remembered */
        pthread_mutex_lock(&c->lock);
        if (!c->closed && c->epoch == epoch) { /* no wipe (rotation, purge, close) since */
            ki = kek_index(c, kek, kek_len);
            s = slot_of(c, wrapped, ki);
            if (s->used == 0)
                c->count++;
            else
                c->evictions++;
            s->used = (uint8_t)(ki + 1);
            memcpy(s->wrapped, wrapped, VC_WRAPPED_DEK_SIZE);
            memcpy(s->dek, dek, VC_DEK_SIZE);
            if (c->evictions >= (c->mask + 1) / 8 && c->mask + 1 < c->max_slots)
                grow_locked(c);
        }
        pthread_mutex_unlock(&c->lock);
    }
    OPENSSL_cleanse(dek, sizeof(dek));
    return st;
}
