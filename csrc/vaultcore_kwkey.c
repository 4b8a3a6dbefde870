/*
 * vaultcore native core: keyed RFC 3394 contexts (vc_kwkey, see vaultcore_native.h).
 *
 * A vault key used for A128KW/A256KW wraps many keys under one KEK. vc_kw_wrap keys a
 * thread's ECB context on every call and re-keys it with zeros before returning (two AES
 * key expansions through OpenSSL 3.0's parameter lookups) and runs each of the 6n steps as
 * one EVP call. A vc_kwkey keeps the KEK's expanded key schedules (encryption and
 * decryption) for as long as the key version is in use, and runs the steps as AES-NI
 * rounds on them: a 32-byte wrap is 12 AES blocks and nothing else.
 *
 * The schedules and the KEK live in one anonymous page of their own: mlock()ed when
 * RLIMIT_MEMLOCK allows, MADV_DONTDUMP, MADV_WIPEONFORK; vc_kwkey_wipe cleanses it (the
 * vault closed, the keyring rotated, a key purged) and vc_kwkey_free unmaps it. A wiped
 * context, or one inherited through fork() (counted by a pthread_atfork child handler),
 * refuses every call with VC_ERR_GONE and the
 * caller uses vc_kw_wrap with the KEK it holds. A call in flight when the context is wiped
 * finishes first: the wipe waits for it (calls take well under a microsecond).
 *
 * Without AES-NI (or for a 192-bit KEK, or with VC_KWKEY_PORTABLE) the context keeps only
 * the KEK in the locked page and each call runs vc_kw_wrap / vc_kw_unwrap on it.
 *
 * The round keys are read from the page for every block (a compiler barrier per block
 * stops the compiler from hoisting them into registers it might spill to the stack).
 */
#include "vaultcore_native.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define VC_KW_AESNI 1
#include <immintrin.h>
#endif

#define KW_MAX ((size_t)1 << 28) /* the longest key a context wraps (as vc_kw_wrap) */

static const uint8_t KW_IV[8] = {0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6};

typedef struct {
    uint8_t enc[15][16]; /* round keys (page aligned, so 16-byte aligned) */
    uint8_t dec[15][16]; /* the equivalent inverse cipher's round keys */
    uint8_t kek[32];
    size_t kek_len;
    int rounds; /* 10 or 14 with AES-NI; 0: portable (vc_kw_wrap on kek) */
} kw_mem;

struct vc_kwkey {
    kw_mem *m;
    size_t page;
    int locked;
    int flags;
    _Atomic uint64_t state; /* see ST_* below */
};

static atomic_ulong g_fork_gen = 0;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void) { atomic_fetch_add(&g_fork_gen, 1); }

static void kw_init(void) { (void)pthread_atfork(NULL, NULL, on_fork_child); }

#ifdef VC_KW_AESNI
__attribute__((target("aes,sse2"))) static __m128i exp_a(__m128i k, __m128i t)
{
    /* t: the broadcast word (SubWord(RotWord(w)) ^ rcon, or SubWord(w)); k: the round key
     * Nk words back. Each word is the previous word of the new key xored with k's word. */
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    return _mm_xor_si128(k, t);
}

#define ROT(prev, last, rcon) exp_a((prev), _mm_shuffle_epi32(_mm_aeskeygenassist_si128((last), (rcon)), 0xff))
#define SUB(prev, last) exp_a((prev), _mm_shuffle_epi32(_mm_aeskeygenassist_si128((last), 0), 0xaa))

__attribute__((target("aes,sse2"))) static void expand(kw_mem *m, const uint8_t *kek, size_t kek_len)
{
    __m128i *e = (__m128i *)m->enc, *d = (__m128i *)m->dec;
    int i, nr;
    e[0] = _mm_loadu_si128((const __m128i *)kek);
    if (kek_len == 16) {
        nr = 10;
        e[1] = ROT(e[0], e[0], 0x01);
        e[2] = ROT(e[1], e[1], 0x02);
        e[3] = ROT(e[2], e[2], 0x04);
        e[4] = ROT(e[3], e[3], 0x08);
        e[5] = ROT(e[4], e[4], 0x10);
        e[6] = ROT(e[5], e[5], 0x20);
        e[7] = ROT(e[6], e[6], 0x40);
        e[8] = ROT(e[7], e[7], 0x80);
        e[9] = ROT(e[8], e[8], 0x1b);
        e[10] = ROT(e[9], e[9], 0x36);
    } else {
        nr = 14;
        e[1] = _mm_loadu_si128((const __m128i *)(kek + 16));
        e[2] = ROT(e[0], e[1], 0x01);
        e[3] = SUB(e[1], e[2]);
        e[4] = ROT(e[2], e[3], 0x02);
        e[5] = SUB(e[3], e[4]);
        e[6] = ROT(e[4], e[5], 0x04);
        e[7] = SUB(e[5], e[6]);
        e[8] = ROT(e[6], e[7], 0x08);
        e[9] = SUB(e[7], e[8]);
        e[10] = ROT(e[8], e[9], 0x10);
        e[11] = SUB(e[9], e[10]);
        e[12] = ROT(e[10], e[11], 0x20);
        e[13] = SUB(e[11], e[12]);
        e[14] = ROT(e[12], e[13], 0x40);
    }
    d[0] = e[nr];
    for (i = 1; i < nr; i++)
        d[i] = _mm_aesimc_si128(e[nr - i]);
    d[nr] = e[0];
    m->rounds = nr;
}

__attribute__((target("aes,sse2"))) static __m128i enc_block(const kw_mem *m, __m128i x)
{
    const __m128i *e = (const __m128i *)m->enc;
    int i;
    __asm__ volatile("" ::: "memory");
    x = _mm_xor_si128(x, e[0]);
    for (i = 1; i < m->rounds; i++)
        x = _mm_aesenc_si128(x, e[i]);
    return _mm_aesenclast_si128(x, e[m->rounds]);
}

__attribute__((target("aes,sse2"))) static __m128i dec_block(const kw_mem *m, __m128i x)
{
    const __m128i *d = (const __m128i *)m->dec;
    int i;
    __asm__ volatile("" ::: "memory");
    x = _mm_xor_si128(x, d[0]);
    for (i = 1; i < m->rounds; i++)
        x = _mm_aesdec_si128(x, d[i]);
    return _mm_aesdeclast_si128(x, d[m->rounds]);
}

/* One RFC 3394 pass over n semiblocks r (A in *a): wrap, or unwrap when dir is 0. The
 * integrity register and semiblocks are handled as 64-bit words holding their bytes in
 * memory order, so t (big-endian on the wire) is xored byte-swapped. */
__attribute__((target("aes,sse2"))) static void kw_aesni(const kw_mem *m, int dir, uint64_t *a, uint8_t *r,
                                                          size_t n)
{
    uint64_t A = *a, R;
    size_t i;
    int j;
    __m128i b;
    if (dir) {
        for (j = 0; j < 6; j++) {
            for (i = 0; i < n; i++) {
                memcpy(&R, r + 8 * i, 8);
                b = enc_block(m, _mm_set_epi64x((long long)R, (long long)A));
                A = (uint64_t)_mm_cvtsi128_si64(b) ^ __builtin_bswap64((uint64_t)n * (uint64_t)j + i + 1);
                R = (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(b, b));
                memcpy(r + 8 * i, &R, 8);
            }
        }
    } else {
        for (j = 5; j >= 0; j--) {
            for (i = n; i-- > 0;) {
                memcpy(&R, r + 8 * i, 8);
                A ^= __builtin_bswap64((uint64_t)n * (uint64_t)j + i + 1);
                b = dec_block(m, _mm_set_epi64x((long long)R, (long long)A));
                A = (uint64_t)_mm_cvtsi128_si64(b);
                R = (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(b, b));
                memcpy(r + 8 * i, &R, 8);
            }
        }
    }
    *a = A;
    OPENSSL_cleanse(&R, sizeof(R));
}
#endif

/* The context's state is one atomic word: the fork generation it belongs to (bits 32..63),
 * the calls in flight (bits 2..31) and LIVE, DEAD or BUSY (a wipe or a reset under way).
 * A word of another generation (inherited through fork(): the parent's calls in flight and
 * a wipe it had under way do not exist here) counts as DEAD with nothing in flight. The
 * page is written only while BUSY, with nothing in flight, so a call never sees it change;
 * the address of a context never changes and it is freed only with its owner. */
#define ST_DEAD 0u
#define ST_LIVE 1u
#define ST_BUSY 2u
#define ST_MASK 3u
#define ONE_CALL 4u
#define WORD(gen, st) (((uint64_t)(uint32_t)(gen) << 32) | (st))

static uint32_t gen_now(void) { return (uint32_t)atomic_load(&g_fork_gen); }

static void fill(kw_mem *m, const uint8_t *kek, size_t kek_len, int flags)
{
    memcpy(m->kek, kek, kek_len);
    m->kek_len = kek_len;
    m->rounds = 0;
#ifdef VC_KW_AESNI
    if (!(flags & VC_KWKEY_PORTABLE) && kek_len != 24 && __builtin_cpu_supports("aes"))
        expand(m, kek, kek_len);
#else
    (void)flags;
#endif
}

/* Take the context BUSY (from DEAD, or from LIVE once no call is in flight when wipe is 1):
 * 1; 0 if it is LIVE and this is a reset (nothing to do). Waits out another wipe or reset. */
static int take_busy(vc_kwkey *k, int wipe)
{
    uint32_t g = gen_now();
    for (;;) {
        uint64_t w = atomic_load(&k->state);
        int mine = (uint32_t)(w >> 32) == g;
        unsigned st = mine ? (unsigned)(w & ST_MASK) : ST_DEAD;
        uint64_t calls = mine ? (w & 0xFFFFFFFCu) : 0;
        if (st == ST_LIVE && !wipe)
            return 0;
        if (st == ST_LIVE && calls) { /* refuse new calls, then wait for those in flight */
            (void)atomic_compare_exchange_weak(&k->state, &w, WORD(g, ST_DEAD) | calls);
            continue;
        }
        if (st == ST_BUSY || calls) {
            sched_yield();
            continue;
        }
        if (atomic_compare_exchange_weak(&k->state, &w, WORD(g, ST_BUSY)))
            return 1;
    }
}

int vc_kwkey_new(const uint8_t *kek, size_t kek_len, int flags, vc_kwkey **out)
{
    vc_kwkey *k;
    void *p;
    if (kek == NULL || out == NULL || (kek_len != 16 && kek_len != 24 && kek_len != 32) ||
        (flags & ~VC_KWKEY_PORTABLE) != 0)
        return VC_ERR_PARAM;
    *out = NULL;
    if (pthread_once(&g_once, kw_init) != 0)
        return VC_ERR_INTERNAL;
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        return VC_ERR_NOMEM;
    k->page = (size_t)sysconf(_SC_PAGESIZE);
    p = mmap(NULL, k->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(k);
        return VC_ERR_NOMEM;
    }
    (void)madvise(p, k->page, MADV_DONTDUMP);
#ifdef MADV_WIPEONFORK
    (void)madvise(p, k->page, MADV_WIPEONFORK);
#endif
    k->locked = mlock(p, k->page) == 0;
    k->m = p;
    k->flags = flags;
    fill(k->m, kek, kek_len, flags);
    atomic_init(&k->state, WORD(gen_now(), ST_LIVE));
    *out = k;
    return VC_OK;
}

int vc_kwkey_reset(vc_kwkey *k, const uint8_t *kek, size_t kek_len)
{
    if (k == NULL || kek == NULL || (kek_len != 16 && kek_len != 24 && kek_len != 32))
        return VC_ERR_PARAM;
    if (!take_busy(k, 0))
        return VC_OK; /* live already (another thread made it again) */
    OPENSSL_cleanse(k->m, sizeof(*k->m));
    fill(k->m, kek, kek_len, k->flags);
    atomic_store(&k->state, WORD(gen_now(), ST_LIVE));
    return VC_OK;
}

int vc_kwkey_info(const vc_kwkey *k)
{
    uint64_t w;
    if (k == NULL)
        return 0;
    w = atomic_load(&((vc_kwkey *)k)->state);
    return (k->locked ? VC_KWKEY_LOCKED : 0) | (k->m->rounds ? VC_KWKEY_AESNI : 0) |
           ((uint32_t)(w >> 32) == gen_now() && (w & ST_MASK) == ST_LIVE ? VC_KWKEY_LIVE : 0);
}

/* Enter a call: 1 (one more in flight), or 0 if the context is not live in this process. */
static int kw_enter(vc_kwkey *k)
{
    uint32_t g = gen_now();
    uint64_t w = atomic_load(&k->state);
    do {
        if ((uint32_t)(w >> 32) != g || (w & ST_MASK) != ST_LIVE)
            return 0;
    } while (!atomic_compare_exchange_weak(&k->state, &w, w + ONE_CALL));
    return 1;
}

static void kw_leave(vc_kwkey *k) { atomic_fetch_sub(&k->state, ONE_CALL); }

int vc_kwkey_wrap(vc_kwkey *k, const uint8_t *key, size_t key_len, uint8_t *out)
{
    int st = VC_OK;
    if (k == NULL || key == NULL || out == NULL || key_len < 16 || key_len % 8 != 0 || key_len > KW_MAX)
        return VC_ERR_PARAM;
    if (!kw_enter(k))
        return VC_ERR_GONE;
#ifdef VC_KW_AESNI
    if (k->m->rounds) {
        uint64_t a;
        memmove(out + 8, key, key_len);
        memcpy(&a, KW_IV, 8);
        kw_aesni(k->m, 1, &a, out + 8, key_len / 8);
        memcpy(out, &a, 8);
        kw_leave(k);
        return VC_OK;
    }
#endif
    st = vc_kw_wrap(k->m->kek, k->m->kek_len, key, key_len, out);
    kw_leave(k);
    return st;
}

int vc_kwkey_unwrap(vc_kwkey *k, const uint8_t *wrapped, size_t wrapped_len, uint8_t *out)
{
    int st = VC_OK;
    if (k == NULL || wrapped == NULL || out == NULL)
        return VC_ERR_PARAM;
    if (wrapped_len < 24 || wrapped_len % 8 != 0 || wrapped_len - 8 > KW_MAX)
        return VC_ERR_AUTH;
    if (!kw_enter(k))
        return VC_ERR_GONE;
#ifdef VC_KW_AESNI
    if (k->m->rounds) {
        uint64_t a;
        memcpy(&a, wrapped, 8);
        memmove(out, wrapped + 8, wrapped_len - 8);
        kw_aesni(k->m, 0, &a, out, (wrapped_len - 8) / 8);
        kw_leave(k);
        if (CRYPTO_memcmp(&a, KW_IV, 8) != 0) {
            OPENSSL_cleanse(out, wrapped_len - 8);
            st = VC_ERR_AUTH;
        }
        OPENSSL_cleanse(&a, sizeof(a));
        return st;
    }
#endif
    st = vc_kw_unwrap(k->m->kek, k->m->kek_len, wrapped, wrapped_len, out);
    kw_leave(k);
    return st;
}

void vc_kwkey_wipe(vc_kwkey *k)
{
    if (k == NULL)
        return;
    (void)take_busy(k, 1);
    OPENSSL_cleanse(k->m, sizeof(*k->m));
    atomic_store(&k->state, WORD(gen_now(), ST_DEAD));
}

void vc_kwkey_free(vc_kwkey *k)
{
    if (k == NULL)
        return;
    vc_kwkey_wipe(k);
    if (k->locked)
        (void)munlock(k->m, k->page);
    (void)munmap(k->m, k->page);
    free(k);
}
