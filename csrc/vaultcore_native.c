/*
 * vaultcore native core: AES-GCM, AES key wrap (RFC 3394 / RFC 5649) and the fused
 * envelope record functions, on OpenSSL 3's EVP API.
 *
 * Design notes (the contract is vaultcore_native.h; docs/native.md has the rationale):
 *   - Cipher implementations are fetched once per process (EVP_CIPHER_fetch, guarded by
 *     pthread_once). Cipher contexts are cached per thread (one per mode, direction and
 *     key size) and freed by a pthread key destructor when the thread exits: creating a
 *     context costs more than sealing a 64-byte record.
 *   - A cached context must not keep a key schedule past a call, so every public
 *     function re-keys the contexts it used with an all-zero key before returning
 *     (ctx_scrub); that costs one AES key expansion.
 *   - Key wrap runs over AES-ECB, not EVP's wrap ciphers (which do not use AES-NI in
 *     OpenSSL 3.0). For batches under one KEK, each of the 6n RFC 3394 steps processes
 *     the blocks of every key of a chunk in one ECB call, so AES-NI pipelines them.
 *   - Randomness for batches (DEKs and nonces) is drawn with one RAND call per chunk.
 *   - Temporaries that hold keys or plaintext are wiped with OPENSSL_cleanse; outputs
 *     of failed authentications are zeroed; the OpenSSL error queue is cleared after
 *     any failure so that it never grows or leaks state to other callers.
 */
#include "vaultcore_native.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/opensslv.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#if OPENSSL_VERSION_MAJOR < 3
#error "vaultcore needs OpenSSL 3 (EVP_CIPHER_fetch, EVP_CipherInit_ex2)"
#endif

/* Records per chunk in batched key wrap: 256 blocks (4 KiB) per ECB call. */
#define KW_CHUNK 256
/* Largest length passed to one EVP update call (its length parameter is an int). */
#define EVP_MAX_STEP ((size_t)1 << 30)
/* NIST SP 800-38D: at most 2^39 - 256 bits of plaintext per (key, nonce). */
#define GCM_MAX_PT (((uint64_t)1 << 36) - 32)
/* RFC 5649: the message length indicator is 32 bits. */
#define KWP_MAX_KEY ((uint64_t)0xFFFFFFFFu)
/* Keep RFC 3394 step counters small enough that nothing overflows anywhere. */
#define KW_MAX_KEY ((size_t)1 << 28)

static const uint8_t KW_IV[8] = {0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6};
static const uint8_t KWP_AIV[4] = {0xA6, 0x59, 0x59, 0xA6};
static const uint8_t ZERO_KEY[32] = {0};

/* ---- process-wide cipher objects ------------------------------------------------------ */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_init_ok = 0;
static EVP_CIPHER *g_gcm[3];
static EVP_CIPHER *g_ecb[3];
static pthread_key_t g_tls_key;

typedef struct {
    EVP_CIPHER_CTX *gcm[3];
    EVP_CIPHER_CTX *ecb[2][3]; /* [0] encrypt, [1] decrypt; by key size */
} vc_tls;

static _Thread_local vc_tls *t_tls = NULL;

static void tls_destroy(void *p)
{
    vc_tls *s = p;
    int i, d;
    if (s == NULL)
        return;
    for (i = 0; i < 3; i++) {
        EVP_CIPHER_CTX_free(s->gcm[i]);
        for (d = 0; d < 2; d++)
            EVP_CIPHER_CTX_free(s->ecb[d][i]);
    }
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
    t_tls = NULL;
}

static void global_init(void)
{
    static const char *const gcm_names[3] = {"AES-128-GCM", "AES-192-GCM", "AES-256-GCM"};
    static const char *const ecb_names[3] = {"AES-128-ECB", "AES-192-ECB", "AES-256-ECB"};
    int i;
    for (i = 0; i < 3; i++) {
        g_gcm[i] = EVP_CIPHER_fetch(NULL, gcm_names[i], NULL);
        g_ecb[i] = EVP_CIPHER_fetch(NULL, ecb_names[i], NULL);
        if (g_gcm[i] == NULL || g_ecb[i] == NULL) {
            ERR_clear_error();
            return;
        }
    }
    if (pthread_key_create(&g_tls_key, tls_destroy) != 0)
        return;
    g_init_ok = 1;
}

static vc_tls *tls_get(void)
{
    vc_tls *s = t_tls;
    if (s != NULL)
        return s;
    if (pthread_once(&g_once, global_init) != 0 || !g_init_ok)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (pthread_setspecific(g_tls_key, s) != 0) {
        free(s);
        return NULL;
    }
    t_tls = s;
    return s;
}

static int key_index(size_t key_len)
{
    switch (key_len) {
    case 16:
        return 0;
    case 24:
        return 1;
    case 32:
        return 2;
    default:
        return -1;
    }
}

/* The thread's context for (cipher kind, direction, key size), keyed with key (and iv).
 * ecb_dir: -1 for GCM, 0 for ECB encrypt, 1 for ECB decrypt. */
static EVP_CIPHER_CTX *ctx_get(int ecb_dir, size_t key_len, const uint8_t *key,
                               const uint8_t *iv, int enc)
{
    vc_tls *s = tls_get();
    int ki = key_index(key_len);
    EVP_CIPHER_CTX **slot;
    const EVP_CIPHER *cipher;
    if (s == NULL || ki < 0)
        return NULL;
    if (ecb_dir < 0) {
        slot = &s->gcm[ki];
        cipher = g_gcm[ki];
    } else {
        slot = &s->ecb[ecb_dir][ki];
        cipher = g_ecb[ki];
        enc = !ecb_dir;
    }
    if (*slot == NULL) {
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        if (c == NULL)
            return NULL;
        if (!EVP_CipherInit_ex2(c, cipher, key, iv, enc, NULL)) {
            EVP_CIPHER_CTX_free(c);
            ERR_clear_error();
            return NULL;
        }
        EVP_CIPHER_CTX_set_padding(c, 0);
        *slot = c;
        return c;
    }
    if (key == NULL && iv == NULL)
        return *slot; /* the caller keys it (gcm_run) */
    /* cipher == NULL keeps the fetched implementation and its provider context. */
    if (!EVP_CipherInit_ex2(*slot, NULL, key, iv, enc, NULL)) {
        ERR_clear_error();
        return NULL;
    }
    return *slot;
}

/* Replace the key schedule held by a cached context with that of an all-zero key. */
static void ctx_scrub(EVP_CIPHER_CTX *ctx)
{
    if (ctx != NULL && !EVP_CipherInit_ex2(ctx, NULL, ZERO_KEY, NULL, -1, NULL))
        ERR_clear_error();
}

/* Scratch memory for batch temporaries: a stack buffer when it is big enough (single
 * records), else the heap. Always wiped before release. */
#define SCRATCH_LOCAL 1024

static uint8_t *scratch_get(uint8_t *local, size_t memsz)
{
    return memsz <= SCRATCH_LOCAL ? local : malloc(memsz);
}

static void scratch_put(uint8_t *mem, uint8_t *local, size_t memsz)
{
    OPENSSL_cleanse(mem, memsz);
    if (mem != local)
        free(mem);
}

static size_t chunk_of(size_t n)
{
    return n < KW_CHUNK ? n : KW_CHUNK;
}

/* ---- small helpers -------------------------------------------------------------------- */

static int add_ok(size_t *acc, size_t v)
{
    if (v > SIZE_MAX - *acc)
        return 0;
    *acc += v;
    return 1;
}

static int mul_ok(size_t a, size_t b, size_t *r)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *r = a * b;
    return 1;
}

static void xor8(uint8_t *p, const uint8_t *q)
{
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, q, 8);
    a ^= b;
    memcpy(p, &a, 8);
}

static void store_be64(uint8_t *p, uint64_t v)
{
    int i;
    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static int status_fail(int st)
{
    ERR_clear_error();
    return st;
}

int vc_abi_version(void)
{
    return VC_ABI_VERSION;
}

const char *vc_openssl_version(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

int vc_random_bytes(uint8_t *out, size_t n)
{
    while (n > 0) {
        size_t c = n > EVP_MAX_STEP ? EVP_MAX_STEP : n;
        if (RAND_bytes(out, (int)c) != 1)
            return status_fail(VC_ERR_RAND);
        out += c;
        n -= c;
    }
    return VC_OK;
}

/* Key material: drawn from the private DRBG, one call per chunk. */
static int rand_priv(uint8_t *out, size_t n)
{
    while (n > 0) {
        size_t c = n > EVP_MAX_STEP ? EVP_MAX_STEP : n;
        if (RAND_priv_bytes(out, (int)c) != 1)
            return status_fail(VC_ERR_RAND);
        out += c;
        n -= c;
    }
    return VC_OK;
}

int vc_ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n == 0)
        return 1;
    return CRYPTO_memcmp(a, b, n) == 0;
}

int vc_hkdf_sha256(const uint8_t *secret, size_t secret_len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
    OSSL_PARAM params[5], *p = params;
    EVP_KDF *kdf;
    EVP_KDF_CTX *kctx = NULL;
    int ok = 0;
    if (secret == NULL || secret_len == 0 || (salt_len && salt == NULL) || (info_len && info == NULL) ||
        out == NULL || out_len == 0 || out_len > 255 * 32)
        return VC_ERR_PARAM;
    kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
    if (kdf != NULL)
        kctx = EVP_KDF_CTX_new(kdf);
    if (kctx != NULL) {
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, secret_len);
        if (salt_len)
            *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
        if (info_len)
            *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
        *p = OSSL_PARAM_construct_end();
        ok = EVP_KDF_derive(kctx, out, out_len, params) == 1;
    }
    EVP_KDF_CTX_free(kctx); /* frees (and cleanses) its copy of the secret */
    EVP_KDF_free(kdf);
    if (!ok) {
        OPENSSL_cleanse(out, out_len);
        return status_fail(VC_ERR_INTERNAL);
    }
    return VC_OK;
}

void vc_cleanse(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

int vc_error_pending(void)
{
    return ERR_peek_error() != 0;
}

/* ---- AES-GCM ------------------------------------------------------------------------- */

/* One GCM operation on an already fetched context. For decryption `tag` is the expected
 * tag; for encryption it receives the tag. Returns a status; never wipes (callers do).
 * The tag goes through OSSL_PARAMs (in the init call when decrypting) rather than
 * EVP_CIPHER_CTX_ctrl: measured ~20-50 ns less per record on OpenSSL 3.0. */
static int gcm_run(EVP_CIPHER_CTX *ctx, int enc, const uint8_t *key, const uint8_t *nonce,
                   const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                   uint8_t *out, uint8_t *tag)
{
    int outl = 0;
    uint8_t fin[16];
    OSSL_PARAM params[2];
    if (!enc)
        memcpy(fin, tag, 16);
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, enc ? tag : fin, 16);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_CipherInit_ex2(ctx, NULL, key, nonce, enc, enc ? NULL : params))
        return VC_ERR_INTERNAL;
    while (aad_len > 0) {
        size_t c = aad_len > EVP_MAX_STEP ? EVP_MAX_STEP : aad_len;
        if (!EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)c))
            return VC_ERR_INTERNAL;
        aad += c;
        aad_len -= c;
    }
    while (in_len > 0) {
        size_t c = in_len > EVP_MAX_STEP ? EVP_MAX_STEP : in_len;
        if (!EVP_CipherUpdate(ctx, out, &outl, in, (int)c) || (size_t)outl != c)
            return VC_ERR_INTERNAL;
        in += c;
        out += c;
        in_len -= c;
    }
    if (!enc)
        return EVP_CipherFinal_ex(ctx, fin, &outl) > 0 ? VC_OK : VC_ERR_AUTH;
    if (EVP_CipherFinal_ex(ctx, fin, &outl) <= 0 || !EVP_CIPHER_CTX_get_params(ctx, params))
        return VC_ERR_INTERNAL;
    return VC_OK;
}

int vc_gcm_seal(const uint8_t *key, size_t key_len, const uint8_t *nonce,
                const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                uint8_t *out)
{
    EVP_CIPHER_CTX *ctx;
    int st;
    if (key_index(key_len) < 0 || (uint64_t)pt_len > GCM_MAX_PT)
        return VC_ERR_PARAM;
    ctx = ctx_get(-1, key_len, NULL, NULL, 1);
    if (ctx == NULL)
        return status_fail(VC_ERR_INTERNAL);
    st = gcm_run(ctx, 1, key, nonce, aad, aad_len, pt, pt_len, out, out + pt_len);
    ctx_scrub(ctx);
    if (st != VC_OK) {
        OPENSSL_cleanse(out, pt_len + 16);
        return status_fail(st);
    }
    return VC_OK;
}

int vc_gcm_open(const uint8_t *key, size_t key_len, const uint8_t *nonce,
                const uint8_t *aad, size_t aad_len, const uint8_t *ct_tag, size_t ct_tag_len,
                uint8_t *out)
{
    EVP_CIPHER_CTX *ctx;
    uint8_t tag[16];
    size_t ct_len;
    int st;
    if (key_index(key_len) < 0)
        return VC_ERR_PARAM;
    if (ct_tag_len < 16 || (uint64_t)(ct_tag_len - 16) > GCM_MAX_PT)
        return VC_ERR_AUTH;
    ct_len = ct_tag_len - 16;
    memcpy(tag, ct_tag + ct_len, 16);
    ctx = ctx_get(-1, key_len, NULL, NULL, 0);
    if (ctx == NULL)
        return status_fail(VC_ERR_INTERNAL);
    st = gcm_run(ctx, 0, key, nonce, aad, aad_len, ct_tag, ct_len, out, tag);
    ctx_scrub(ctx);
    if (st != VC_OK) {
        OPENSSL_cleanse(out, ct_len);
        return status_fail(st);
    }
    return VC_OK;
}

/* Sum of n lengths, each reduced by `minus` (records shorter than that count as 0 and
 * are flagged by the caller). Returns 0 on overflow. */
static int sum_lens(size_t n, const size_t *lens, size_t minus, size_t *total_in,
                    size_t *total_out)
{
    size_t i;
    *total_in = 0;
    *total_out = 0;
    for (i = 0; i < n; i++) {
        if (!add_ok(total_in, lens[i]))
            return 0;
        if (lens[i] >= minus && !add_ok(total_out, lens[i] - minus))
            return 0;
    }
    return 1;
}

int vc_gcm_seal_batch(size_t n, const uint8_t *keys, size_t key_len, const uint8_t *nonces,
                      const uint8_t *aads, const size_t *aad_lens, const uint8_t *pts,
                      const size_t *pt_lens, uint8_t *out, size_t out_len)
{
    EVP_CIPHER_CTX *ctx;
    size_t i, tot_pt, tot_aad, dummy, need;
    int st = VC_OK;
    uint8_t *out0 = out;
    if (n == 0)
        return out_len == 0 ? VC_OK : VC_ERR_PARAM;
    if (key_index(key_len) < 0)
        return VC_ERR_PARAM;
    if (!sum_lens(n, pt_lens, 0, &tot_pt, &dummy) || !sum_lens(n, aad_lens, 0, &tot_aad, &dummy))
        return VC_ERR_PARAM;
    if (!mul_ok(n, 16, &need) || !add_ok(&need, tot_pt) || need != out_len)
        return VC_ERR_PARAM;
    for (i = 0; i < n; i++)
        if ((uint64_t)pt_lens[i] > GCM_MAX_PT)
            return VC_ERR_PARAM;
    ctx = ctx_get(-1, key_len, NULL, NULL, 1);
    if (ctx == NULL)
        return status_fail(VC_ERR_INTERNAL);
    for (i = 0; i < n && st == VC_OK; i++) {
        st = gcm_run(ctx, 1, keys + i * key_len, nonces + i * 12, aads, aad_lens[i], pts,
                     pt_lens[i], out, out + pt_lens[i]);
        aads += aad_lens[i];
        pts += pt_lens[i];
        out += pt_lens[i] + 16;
    }
    ctx_scrub(ctx);
    if (st != VC_OK) {
        OPENSSL_cleanse(out0, out_len);
        return status_fail(st);
    }
    return VC_OK;
}

int vc_gcm_open_batch(size_t n, const uint8_t *keys, size_t key_len, const uint8_t *nonces,
                      const uint8_t *aads, const size_t *aad_lens, const uint8_t *cts,
                      const size_t *ct_lens, uint8_t *out, size_t out_len, uint8_t *ok)
{
    EVP_CIPHER_CTX *ctx;
    size_t i, tot_ct, tot_pt, tot_aad, dummy;
    int st, failed = 0;
    uint8_t *out0 = out;
    if (n == 0)
        return out_len == 0 ? VC_OK : VC_ERR_PARAM;
    if (key_index(key_len) < 0)
        return VC_ERR_PARAM;
    if (!sum_lens(n, ct_lens, 16, &tot_ct, &tot_pt) || !sum_lens(n, aad_lens, 0, &tot_aad, &dummy))
        return VC_ERR_PARAM;
    if (tot_pt != out_len)
        return VC_ERR_PARAM;
    ctx = ctx_get(-1, key_len, NULL, NULL, 0);
    if (ctx == NULL)
        return status_fail(VC_ERR_INTERNAL);
    for (i = 0; i < n; i++) {
        size_t cl = ct_lens[i];
        ok[i] = 0;
        if (cl >= 16 && (uint64_t)(cl - 16) <= GCM_MAX_PT) {
            uint8_t tag[16];
            memcpy(tag, cts + cl - 16, 16);
            st = gcm_run(ctx, 0, keys + i * key_len, nonces + i * 12, aads, aad_lens[i], cts,
                         cl - 16, out, tag);
            if (st == VC_OK) {
                ok[i] = 1;
            } else if (st == VC_ERR_AUTH) {
                OPENSSL_cleanse(out, cl - 16);
                failed = 1;
            } else {
                ctx_scrub(ctx);
                OPENSSL_cleanse(out0, out_len);
                return status_fail(st);
            }
        } else {
            failed = 1;
        }
        if (cl >= 16)
            out += cl - 16;
        aads += aad_lens[i];
        cts += cl;
    }
    ctx_scrub(ctx);
    if (failed)
        ERR_clear_error();
    return VC_OK;
}

/* ---- RFC 3394 core over ECB ------------------------------------------------------------
 * m records are processed together. For record k, its integrity register A lives in
 * blk[16k .. 16k+8) and its nsemi 64-bit semiblocks R[1..nsemi] at R + k*stride.
 * Each of the 6*nsemi steps does one ECB call over the m blocks blk[k] = A_k || R_k[i].
 */
static int kw_core(EVP_CIPHER_CTX *ctx, int wrap, uint8_t *blk, uint8_t *R, size_t stride,
                   size_t m, size_t nsemi)
{
    size_t i, k;
    int j;
    uint8_t tb[8];
    const int len = (int)(m * 16);
    if (wrap) {
        for (j = 0; j < 6; j++) {
            for (i = 1; i <= nsemi; i++) {
                store_be64(tb, (uint64_t)nsemi * (uint64_t)j + i);
                for (k = 0; k < m; k++)
                    memcpy(blk + 16 * k + 8, R + k * stride + 8 * (i - 1), 8);
                if (EVP_Cipher(ctx, blk, blk, (unsigned int)len) != len)
                    return VC_ERR_INTERNAL;
                for (k = 0; k < m; k++) {
                    xor8(blk + 16 * k, tb);
                    memcpy(R + k * stride + 8 * (i - 1), blk + 16 * k + 8, 8);
                }
            }
        }
    } else {
        for (j = 5; j >= 0; j--) {
            for (i = nsemi; i >= 1; i--) {
                store_be64(tb, (uint64_t)nsemi * (uint64_t)j + i);
                for (k = 0; k < m; k++) {
                    xor8(blk + 16 * k, tb);
                    memcpy(blk + 16 * k + 8, R + k * stride + 8 * (i - 1), 8);
                }
                if (EVP_Cipher(ctx, blk, blk, (unsigned int)len) != len)
                    return VC_ERR_INTERNAL;
                for (k = 0; k < m; k++)
                    memcpy(R + k * stride + 8 * (i - 1), blk + 16 * k + 8, 8);
            }
        }
    }
    return VC_OK;
}

int vc_kw_wrap(const uint8_t *kek, size_t kek_len, const uint8_t *key, size_t key_len,
               uint8_t *out)
{
    EVP_CIPHER_CTX *ctx;
    uint8_t blk[16];
    int st;
    if (key_index(kek_len) < 0 || key_len < 16 || key_len % 8 != 0 || key_len > KW_MAX_KEY)
        return VC_ERR_PARAM;
    ctx = ctx_get(0, kek_len, kek, NULL, 1);
    if (ctx == NULL)
        return status_fail(VC_ERR_INTERNAL);
    memmove(out + 8, key, key_len);
    memcpy(blk, KW_IV, 8);
    st = kw_core(ctx, 1, blk, out + 8, 0, 1, key_len / 8);
    ctx_scrub(ctx);
    if (st != VC_OK) {
        OPENSSL_cleanse(out, key_len + 8);
        OPENSSL_cleanse(blk, sizeof(blk));
        return status_fail(st);
    }
    memcpy(out, blk, 8);
    OPENSSL_cleanse(blk, sizeof(blk));
    return VC_OK;
}

int vc_kw_unwrap(const uint8_t *kek, size_t kek_len, const uint8_t *wrapped,
                 size_t wrapped_len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx;
    uint8_t blk[16];
    int st;
    if (key_index(kek_len) < 0)
        return VC_ERR_PARAM;
    if (wrapped_len < 24 || wrapped_len % 8 != 0 || wrapped_len - 8 > KW_MAX_KEY)
        return VC_ERR_AUTH;
    ctx = ctx_get(1, kek_len, kek, NULL, 0);
    if (ctx == NULL)
        return status_fail(VC_ERR_INTERNAL);
    memcpy(blk, wrapped, 8);
    memmove(out, wrapped + 8, wrapped_len - 8);
    st = kw_core(ctx, 0, blk, out, 0, 1, (wrapped_len - 8) / 8);
    ctx_scrub(ctx);
    if (st == VC_OK && CRYPTO_memcmp(blk, KW_IV, 8) != 0)
        st = VC_ERR_AUTH;
    OPENSSL_cleanse(blk, sizeof(blk));
    if (st != VC_OK) {
        OPENSSL_cleanse(out, wrapped_len - 8);
        return status_fail(st);
    }
    return VC_OK;
}

int vc_kwp_wrap(const uint8_t *kek, size_t kek_len, const uint8_t *key, size_t key_len,
                uint8_t *out)
{
    EVP_CIPHER_CTX *ctx;
    uint8_t blk[16];
    size_t padded;
    int st;
    if (key_index(kek_len) < 0 || key_len == 0 || (uint64_t)key_len > KWP_MAX_KEY ||
        key_len > KW_MAX_KEY)
        return VC_ERR_PARAM;
    padded = (key_len + 7) / 8 * 8;
    ctx = ctx_get(0, kek_len, kek, NULL, 1);
    if (ctx == NULL)
        return status_fail(VC_ERR_INTERNAL);
    memcpy(blk, KWP_AIV, 4);
    blk[4] = (uint8_t)(key_len >> 24);
    blk[5] = (uint8_t)(key_len >> 16);
    blk[6] = (uint8_t)(key_len >> 8);
    blk[7] = (uint8_t)key_len;
    if (padded == 8) {
        memset(blk + 8, 0, 8);
        memcpy(blk + 8, key, key_len);
        st = EVP_Cipher(ctx, out, blk, 16) == 16 ? VC_OK : VC_ERR_INTERNAL;
    } else {
        memmove(out + 8, key, key_len);
        memset(out + 8 + key_len, 0, padded - key_len);
        st = kw_core(ctx, 1, blk, out + 8, 0, 1, padded / 8);
        if (st == VC_OK)
            memcpy(out, blk, 8);
    }
    ctx_scrub(ctx);
    OPENSSL_cleanse(blk, sizeof(blk));
    if (st != VC_OK) {
        OPENSSL_cleanse(out, padded + 8);
        return status_fail(st);
    }
    return VC_OK;
}

int vc_kwp_unwrap(const uint8_t *kek, size_t kek_len, const uint8_t *wrapped,
                  size_t wrapped_len, uint8_t *out, size_t *out_len)
{
    EVP_CIPHER_CTX *ctx;
    uint8_t blk[16];
    size_t plen, mli, i;
    uint8_t bad = 0;
    int st;
    *out_len = 0;
    if (key_index(kek_len) < 0)
        return VC_ERR_PARAM;
    if (wrapped_len < 16 || wrapped_len % 8 != 0 || wrapped_len - 8 > KW_MAX_KEY)
        return VC_ERR_AUTH;
    plen = wrapped_len - 8;
    ctx = ctx_get(1, kek_len, kek, NULL, 0);
    if (ctx == NULL)
        return status_fail(VC_ERR_INTERNAL);
    if (plen == 8) {
        st = EVP_Cipher(ctx, blk, wrapped, 16) == 16 ? VC_OK : VC_ERR_INTERNAL;
        memcpy(out, blk + 8, 8);
    } else {
        memcpy(blk, wrapped, 8);
        memmove(out, wrapped + 8, plen);
        st = kw_core(ctx, 0, blk, out, 0, 1, plen / 8);
    }
    ctx_scrub(ctx);
    if (st == VC_OK) {
        mli = ((size_t)blk[4] << 24) | ((size_t)blk[5] << 16) | ((size_t)blk[6] << 8) |
              (size_t)blk[7];
        bad |= (uint8_t)(CRYPTO_memcmp(blk, KWP_AIV, 4) != 0);
        bad |= (uint8_t)(mli <= plen - 8 || mli > plen);
        /* The padding (the last block's bytes at and after mli) must be zero. */
        for (i = plen - 8; i < plen; i++)
            bad |= (uint8_t)(i >= mli ? out[i] : 0);
        if (bad)
            st = VC_ERR_AUTH;
        else
            *out_len = mli;
    }
    OPENSSL_cleanse(blk, sizeof(blk));
    if (st != VC_OK) {
        OPENSSL_cleanse(out, plen);
        return status_fail(st);
    }
    return VC_OK;
}

int vc_kw_wrap_batch(const uint8_t *kek, size_t kek_len, size_t n, const uint8_t *keys,
                     size_t key_len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx;
    uint8_t *blk, local[SCRATCH_LOCAL];
    size_t stride = key_len + 8, done, k, total, chunk;
    int st = VC_OK;
    if (key_index(kek_len) < 0 || key_len < 16 || key_len % 8 != 0 || key_len > KW_MAX_KEY ||
        !mul_ok(n, stride, &total))
        return VC_ERR_PARAM;
    if (n == 0)
        return VC_OK;
    chunk = chunk_of(n);
    blk = scratch_get(local, chunk * 16);
    if (blk == NULL)
        return VC_ERR_NOMEM;
    ctx = ctx_get(0, kek_len, kek, NULL, 1);
    if (ctx == NULL) {
        scratch_put(blk, local, chunk * 16);
        return status_fail(VC_ERR_INTERNAL);
    }
    for (done = 0; done < n && st == VC_OK; done += chunk) {
        size_t m = n - done < chunk ? n - done : chunk;
        uint8_t *o = out + done * stride;
        for (k = 0; k < m; k++) {
            memmove(o + k * stride + 8, keys + (done + k) * key_len, key_len);
            memcpy(blk + 16 * k, KW_IV, 8);
        }
        st = kw_core(ctx, 1, blk, o + 8, stride, m, key_len / 8);
        for (k = 0; k < m && st == VC_OK; k++)
            memcpy(o + k * stride, blk + 16 * k, 8);
    }
    ctx_scrub(ctx);
    scratch_put(blk, local, chunk * 16);
    if (st != VC_OK) {
        OPENSSL_cleanse(out, total);
        return status_fail(st);
    }
    return VC_OK;
}

int vc_kw_unwrap_batch(const uint8_t *kek, size_t kek_len, size_t n, const uint8_t *wrapped,
                       size_t wrapped_len, uint8_t *out, uint8_t *ok)
{
    EVP_CIPHER_CTX *ctx;
    uint8_t *blk, local[SCRATCH_LOCAL];
    size_t plen, done, k, total, chunk;
    int st = VC_OK, failed = 0;
    if (key_index(kek_len) < 0 || wrapped_len < 24 || wrapped_len % 8 != 0 ||
        wrapped_len - 8 > KW_MAX_KEY || !mul_ok(n, wrapped_len, &total))
        return VC_ERR_PARAM;
    if (n == 0)
        return VC_OK;
    plen = wrapped_len - 8;
    chunk = chunk_of(n);
    blk = scratch_get(local, chunk * 16);
    if (blk == NULL)
        return VC_ERR_NOMEM;
    ctx = ctx_get(1, kek_len, kek, NULL, 0);
    if (ctx == NULL) {
        scratch_put(blk, local, chunk * 16);
        return status_fail(VC_ERR_INTERNAL);
    }
    for (done = 0; done < n && st == VC_OK; done += chunk) {
        size_t m = n - done < chunk ? n - done : chunk;
        uint8_t *o = out + done * plen;
        const uint8_t *w = wrapped + done * wrapped_len;
        for (k = 0; k < m; k++) {
            memcpy(blk + 16 * k, w + k * wrapped_len, 8);
            memmove(o + k * plen, w + k * wrapped_len + 8, plen);
        }
        st = kw_core(ctx, 0, blk, o, plen, m, plen / 8);
        for (k = 0; k < m && st == VC_OK; k++) {
            ok[done + k] = (uint8_t)(CRYPTO_memcmp(blk + 16 * k, KW_IV, 8) == 0);
            if (!ok[done + k]) {
                OPENSSL_cleanse(o + k * plen, plen);
                failed = 1;
            }
        }
    }
    ctx_scrub(ctx);
    scratch_put(blk, local, chunk * 16);
    if (st != VC_OK) {
        OPENSSL_cleanse(out, n * plen);
        memset(ok, 0, n);
        return status_fail(st);
    }
    if (failed)
        ERR_clear_error();
    return VC_OK;
}

int vc_kw_rewrap_batch(const uint8_t *old_kek, size_t old_kek_len, const uint8_t *new_kek,
                       size_t new_kek_len, size_t n, const uint8_t *in, uint8_t *out,
                       uint8_t *ok)
{
    EVP_CIPHER_CTX *dctx, *ectx;
    uint8_t *mem, *blk, *work, local[SCRATCH_LOCAL];
    size_t done, k, total;
    const size_t wl = VC_WRAPPED_DEK_SIZE, dl = VC_DEK_SIZE;
    const size_t per = (16 + VC_DEK_SIZE);
    size_t chunk = 0, memsz = 0;
    int st = VC_OK, failed = 0;
    if (key_index(old_kek_len) < 0 || key_index(new_kek_len) < 0 || !mul_ok(n, wl, &total))
        return VC_ERR_PARAM;
    if (n == 0)
        return VC_OK;
    chunk = chunk_of(n);
    memsz = chunk * per;
    mem = scratch_get(local, memsz);
    if (mem == NULL)
        return VC_ERR_NOMEM;
    blk = mem;
    work = mem + chunk * 16;
    dctx = ctx_get(1, old_kek_len, old_kek, NULL, 0);
    ectx = dctx == NULL ? NULL : ctx_get(0, new_kek_len, new_kek, NULL, 1);
    if (ectx == NULL) {
        ctx_scrub(dctx);
        scratch_put(mem, local, memsz);
        return status_fail(VC_ERR_INTERNAL);
    }
    for (done = 0; done < n && st == VC_OK; done += chunk) {
        size_t m = n - done < chunk ? n - done : chunk;
        const uint8_t *w = in + done * wl;
        uint8_t *o = out + done * wl;
        for (k = 0; k < m; k++) {
            memcpy(blk + 16 * k, w + k * wl, 8);
            memcpy(work + k * dl, w + k * wl + 8, dl);
        }
        st = kw_core(dctx, 0, blk, work, dl, m, dl / 8);
        if (st != VC_OK)
            break;
        for (k = 0; k < m; k++) {
            ok[done + k] = (uint8_t)(CRYPTO_memcmp(blk + 16 * k, KW_IV, 8) == 0);
            failed |= !ok[done + k];
            memcpy(blk + 16 * k, KW_IV, 8);
        }
        st = kw_core(ectx, 1, blk, work, dl, m, dl / 8);
        if (st != VC_OK)
            break;
        for (k = 0; k < m; k++) {
            if (ok[done + k]) {
                memcpy(o + k * wl, blk + 16 * k, 8);
                memcpy(o + k * wl + 8, work + k * dl, dl);
            } else {
                memset(o + k * wl, 0, wl);
            }
        }
    }
    ctx_scrub(dctx);
    ctx_scrub(ectx);
    scratch_put(mem, local, memsz);
    if (st != VC_OK) {
        OPENSSL_cleanse(out, total);
        memset(ok, 0, n);
        return status_fail(st);
    }
    if (failed)
        ERR_clear_error();
    return VC_OK;
}

/* ---- fused envelope records ----------------------------------------------------------- */

#define REC_WRAP 40
#define REC_NONCE 12
#define REC_RAND (VC_DEK_SIZE + REC_NONCE)

int vc_seal_record(const uint8_t *kek, size_t kek_len, const uint8_t *prefix,
                   size_t prefix_len, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                   size_t pt_len, uint8_t *out)
{
    return vc_seal_records(1, kek, kek_len, prefix, prefix_len, aad, &aad_len, pt, &pt_len,
                           out, prefix_len + VC_RECORD_OVERHEAD + pt_len);
}

int vc_open_record(const uint8_t *kek, size_t kek_len, const uint8_t *blob, size_t blob_len,
                   size_t prefix_len, const uint8_t *aad, size_t aad_len, uint8_t *out)
{
    uint8_t ok = 0;
    size_t out_len;
    int st;
    if (prefix_len > VC_MAX_PREFIX || key_index(kek_len) < 0)
        return VC_ERR_PARAM;
    if (blob_len < prefix_len + VC_RECORD_OVERHEAD)
        return VC_ERR_AUTH;
    out_len = blob_len - prefix_len - VC_RECORD_OVERHEAD;
    st = vc_open_records(1, kek, kek_len, blob, &blob_len, prefix_len, aad, &aad_len, out,
                         out_len, &ok);
    if (st != VC_OK)
        return st;
    return ok ? VC_OK : VC_ERR_AUTH;
}

/* The AAD of each record: either one per record (aads, aad_lens), or head || key with
 * fixed-length keys (keys != NULL; a bulk write binds each record to its store key without
 * building N AADs in Python). */
typedef struct {
    const uint8_t *aads;
    const size_t *aad_lens;
    const uint8_t *head;
    size_t head_len;
    const uint8_t *keys;
    size_t key_len;
} aad_src;

static int seal_records(size_t n, const uint8_t *kek, size_t kek_len, const uint8_t *prefix,
                        size_t prefix_len, aad_src a, const uint8_t *pts, const size_t *pt_lens,
                        uint8_t *out, size_t out_len);

int vc_seal_records(size_t n, const uint8_t *kek, size_t kek_len, const uint8_t *prefix,
                    size_t prefix_len, const uint8_t *aads, const size_t *aad_lens,
                    const uint8_t *pts, const size_t *pt_lens, uint8_t *out, size_t out_len)
{
    aad_src a = {aads, aad_lens, NULL, 0, NULL, 0};
    size_t tot_aad, dummy;
    if (n > 0 && !sum_lens(n, aad_lens, 0, &tot_aad, &dummy))
        return VC_ERR_PARAM;
    return seal_records(n, kek, kek_len, prefix, prefix_len, a, pts, pt_lens, out, out_len);
}

int vc_seal_records_keyed(size_t n, const uint8_t *kek, size_t kek_len, const uint8_t *prefix,
                          size_t prefix_len, const uint8_t *head, size_t head_len,
                          const uint8_t *keys, size_t key_len, const uint8_t *pts,
                          const size_t *pt_lens, uint8_t *out, size_t out_len)
{
    aad_src a = {NULL, NULL, head, head_len, keys, key_len};
    if (head_len + key_len > VC_MAX_AAD || head_len + key_len < head_len)
        return VC_ERR_PARAM;
    return seal_records(n, kek, kek_len, prefix, prefix_len, a, pts, pt_lens, out, out_len);
}

static int seal_records(size_t n, const uint8_t *kek, size_t kek_len, const uint8_t *prefix,
                        size_t prefix_len, aad_src a, const uint8_t *pts, const size_t *pt_lens,
                        uint8_t *out, size_t out_len)
{
    const uint8_t *aads = a.aads;
    uint8_t aad_buf[VC_MAX_AAD];
    EVP_CIPHER_CTX *wctx, *gctx;
    uint8_t *mem, *blk, *rnd, *work, local[SCRATCH_LOCAL];
    size_t done, k, tot_pt, dummy, need;
    const size_t per = (16 + REC_RAND + VC_DEK_SIZE);
    size_t chunk = 0, memsz = 0;
    int st = VC_OK;
    uint8_t *o = out;
    if (key_index(kek_len) < 0 || prefix_len > VC_MAX_PREFIX)
        return VC_ERR_PARAM;
    if (n == 0)
        return out_len == 0 ? VC_OK : VC_ERR_PARAM;
    if (!sum_lens(n, pt_lens, 0, &tot_pt, &dummy))
        return VC_ERR_PARAM;
    if (a.keys != NULL)
        memcpy(aad_buf, a.head, a.head_len);
    if (!mul_ok(n, prefix_len + VC_RECORD_OVERHEAD, &need) || !add_ok(&need, tot_pt) ||
        need != out_len)
        return VC_ERR_PARAM;
    for (k = 0; k < n; k++)
        if ((uint64_t)pt_lens[k] > GCM_MAX_PT)
            return VC_ERR_PARAM;
    chunk = chunk_of(n);
    memsz = chunk * per;
    mem = scratch_get(local, memsz);
    if (mem == NULL)
        return VC_ERR_NOMEM;
    blk = mem;
    rnd = blk + chunk * 16;
    work = rnd + chunk * REC_RAND;
    wctx = ctx_get(0, kek_len, kek, NULL, 1);
    gctx = wctx == NULL ? NULL : ctx_get(-1, VC_DEK_SIZE, NULL, NULL, 1);
    if (gctx == NULL) {
        ctx_scrub(wctx);
        scratch_put(mem, local, memsz);
        return status_fail(VC_ERR_INTERNAL);
    }
    for (done = 0; done < n && st == VC_OK; done += chunk) {
        size_t m = n - done < chunk ? n - done : chunk;
        /* One DRBG call per chunk: m DEKs then m nonces. */
        st = rand_priv(rnd, m * REC_RAND);
        if (st != VC_OK)
            break;
        memcpy(work, rnd, m * VC_DEK_SIZE);
        for (k = 0; k < m; k++)
            memcpy(blk + 16 * k, KW_IV, 8);
        st = kw_core(wctx, 1, blk, work, VC_DEK_SIZE, m, VC_DEK_SIZE / 8);
        for (k = 0; k < m && st == VC_OK; k++) {
            size_t i = done + k, pl = pt_lens[i];
            const uint8_t *nonce = rnd + m * VC_DEK_SIZE + k * REC_NONCE;
            uint8_t *ct;
            memcpy(o, prefix, prefix_len);
            memcpy(o + prefix_len, blk + 16 * k, 8);
            memcpy(o + prefix_len + 8, work + k * VC_DEK_SIZE, VC_DEK_SIZE);
            memcpy(o + prefix_len + REC_WRAP, nonce, REC_NONCE);
            ct = o + prefix_len + REC_WRAP + REC_NONCE;
            if (a.keys == NULL) {
                st = gcm_run(gctx, 1, rnd + k * VC_DEK_SIZE, nonce, aads, a.aad_lens[i], pts, pl,
                             ct, ct + pl);
                aads += a.aad_lens[i];
            } else {
                memcpy(aad_buf + a.head_len, a.keys + i * a.key_len, a.key_len);
                st = gcm_run(gctx, 1, rnd + k * VC_DEK_SIZE, nonce, aad_buf,
                             a.head_len + a.key_len, pts, pl, ct, ct + pl);
            }
            pts += pl;
            o = ct + pl + 16;
        }
    }
    ctx_scrub(wctx);
    ctx_scrub(gctx);
    scratch_put(mem, local, memsz);
    if (st != VC_OK) {
        OPENSSL_cleanse(out, out_len);
        return status_fail(st);
    }
    return VC_OK;
}

int vc_open_records(size_t n, const uint8_t *kek, size_t kek_len, const uint8_t *blobs,
                    const size_t *blob_lens, size_t prefix_len, const uint8_t *aads,
                    const size_t *aad_lens, uint8_t *out, size_t out_len, uint8_t *ok)
{
    EVP_CIPHER_CTX *uctx, *gctx;
    uint8_t *mem, *blk, *work, local[SCRATCH_LOCAL];
    size_t done, k, tot_blob, tot_pt, tot_aad, dummy;
    const size_t ovh = prefix_len + VC_RECORD_OVERHEAD;
    const size_t per = (16 + VC_DEK_SIZE);
    size_t chunk = 0, memsz = 0;
    int st = VC_OK, failed = 0;
    const uint8_t *b = blobs;
    uint8_t *o = out;
    if (key_index(kek_len) < 0 || prefix_len > VC_MAX_PREFIX)
        return VC_ERR_PARAM;
    if (n == 0)
        return out_len == 0 ? VC_OK : VC_ERR_PARAM;
    if (!sum_lens(n, blob_lens, ovh, &tot_blob, &tot_pt) ||
        !sum_lens(n, aad_lens, 0, &tot_aad, &dummy) || tot_pt != out_len)
        return VC_ERR_PARAM;
    chunk = chunk_of(n);
    memsz = chunk * per;
    mem = scratch_get(local, memsz);
    if (mem == NULL)
        return VC_ERR_NOMEM;
    blk = mem;
    work = mem + chunk * 16;
    uctx = ctx_get(1, kek_len, kek, NULL, 0);
    gctx = uctx == NULL ? NULL : ctx_get(-1, VC_DEK_SIZE, NULL, NULL, 0);
    if (gctx == NULL) {
        ctx_scrub(uctx);
        scratch_put(mem, local, memsz);
        return status_fail(VC_ERR_INTERNAL);
    }
    for (done = 0; done < n && st == VC_OK; done += chunk) {
        size_t m = n - done < chunk ? n - done : chunk;
        const uint8_t *bb = b;
        /* Gather the wrapped DEKs of this chunk (short blobs get a zero block). */
        for (k = 0; k < m; k++) {
            size_t bl = blob_lens[done + k];
            if (bl >= ovh && (uint64_t)(bl - ovh) <= GCM_MAX_PT) {
                memcpy(blk + 16 * k, bb + prefix_len, 8);
                memcpy(work + k * VC_DEK_SIZE, bb + prefix_len + 8, VC_DEK_SIZE);
                ok[done + k] = 1;
            } else {
                memset(blk + 16 * k, 0, 8);
                memset(work + k * VC_DEK_SIZE, 0, VC_DEK_SIZE);
                ok[done + k] = 0;
            }
            bb += bl;
        }
        st = kw_core(uctx, 0, blk, work, VC_DEK_SIZE, m, VC_DEK_SIZE / 8);
        for (k = 0; k < m && st == VC_OK; k++) {
            size_t i = done + k, bl = blob_lens[i];
            if (ok[i] && CRYPTO_memcmp(blk + 16 * k, KW_IV, 8) == 0) {
                const uint8_t *nonce = b + prefix_len + REC_WRAP;
                const uint8_t *ct = nonce + REC_NONCE;
                size_t cl = bl - ovh;
                uint8_t tag[16];
                memcpy(tag, ct + cl, 16);
                st = gcm_run(gctx, 0, work + k * VC_DEK_SIZE, nonce, aads, aad_lens[i], ct, cl,
                             o, tag);
                if (st == VC_ERR_AUTH) {
                    st = VC_OK;
                    ok[i] = 0;
                    OPENSSL_cleanse(o, cl);
                }
            } else {
                ok[i] = 0;
                if (bl >= ovh)
                    memset(o, 0, bl - ovh);
            }
            failed |= !ok[i];
            if (bl >= ovh)
                o += bl - ovh;
            aads += aad_lens[i];
            b += bl;
        }
    }
    ctx_scrub(uctx);
    ctx_scrub(gctx);
    scratch_put(mem, local, memsz);
    if (st != VC_OK) {
        OPENSSL_cleanse(out, out_len);
        memset(ok, 0, n);
        return status_fail(st);
    }
    if (failed)
        ERR_clear_error();
    return VC_OK;
}

int vc_open_record_dek(const uint8_t *kek, size_t kek_len, const uint8_t *blob,
                       size_t blob_len, size_t prefix_len, const uint8_t *aad, size_t aad_len,
                       uint8_t *out, uint8_t *dek_out)
{
    EVP_CIPHER_CTX *uctx, *gctx;
    uint8_t blk[16], dek[VC_DEK_SIZE], tag[16];
    const size_t ovh = prefix_len + VC_RECORD_OVERHEAD;
    const uint8_t *nonce, *ct;
    size_t cl;
    int st;
    if (key_index(kek_len) < 0 || prefix_len > VC_MAX_PREFIX || dek_out == NULL)
        return VC_ERR_PARAM;
    if (blob_len < ovh || (uint64_t)(blob_len - ovh) > GCM_MAX_PT)
        return VC_ERR_AUTH;
    cl = blob_len - ovh;
    uctx = ctx_get(1, kek_len, kek, NULL, 0);
    gctx = uctx == NULL ? NULL : ctx_get(-1, VC_DEK_SIZE, NULL, NULL, 0);
    if (gctx == NULL) {
        ctx_scrub(uctx);
        return status_fail(VC_ERR_INTERNAL);
    }
    memset(blk, 0, sizeof(blk));
    memcpy(blk, blob + prefix_len, 8);
    memcpy(dek, blob + prefix_len + 8, VC_DEK_SIZE);
    st = kw_core(uctx, 0, blk, dek, VC_DEK_SIZE, 1, VC_DEK_SIZE / 8);
    if (st == VC_OK && CRYPTO_memcmp(blk, KW_IV, 8) != 0)
        st = VC_ERR_AUTH;
    if (st == VC_OK) {
        nonce = blob + prefix_len + REC_WRAP;
        ct = nonce + REC_NONCE;
        memcpy(tag, ct + cl, 16);
        st = gcm_run(gctx, 0, dek, nonce, aad, aad_len, ct, cl, out, tag);
    }
    ctx_scrub(uctx);
    ctx_scrub(gctx);
    if (st == VC_OK)
        memcpy(dek_out, dek, VC_DEK_SIZE);
    else if (cl)
        OPENSSL_cleanse(out, cl);
    OPENSSL_cleanse(dek, sizeof(dek));
    OPENSSL_cleanse(blk, sizeof(blk));
    return st == VC_OK ? VC_OK : status_fail(st);
}
