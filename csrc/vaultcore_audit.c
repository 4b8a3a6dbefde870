/*
 * vaultcore native core: the audit chain's MACs for a segment of events, in one call.
 *
 * mac_i = HMAC-SHA256(key, mac_{i-1} || be64(seq_i) || body_i), exactly what
 * access/_audit.py documents and verify() recomputes in Python; the output is the
 * segment's event area, mac_i || be32(len_i) || body_i per event. The keyed inner and
 * outer SHA-256 states are computed once per call and copied per event; the padded key
 * blocks and the states are wiped. Called by the audit flusher with the GIL released (cffi
 * API mode). vc_objkeys_many uses the same keyed states for many names (a bulk write's store keys).
 *
 * The states are SHA256_CTX structures, copied by assignment: an event costs its SHA-256
 * blocks (six with a ~220-byte body: five inner, one outer) and the buffer copies of
 * SHA256_Update/Final, where EVP adds, for each of the two hashes, a context copy through
 * the provider and dispatched update and final calls (~50 of ~320 ns per such event
 * here). SHA256_Init/Update/Final are deprecated in OpenSSL 3.0 (not removed), as in
 * vaultcore_reader.c; built against an OpenSSL without them (OPENSSL_NO_DEPRECATED_3_0),
 * the same states are EVP digest contexts, copied with EVP_MD_CTX_copy_ex, with the same
 * output.
 *
 * (The reader keys its name-hash states the same way, but into its locked page and with no
 * EVP fallback. The dozen lines of RFC 2104 keying are not shared: a header declaring
 * SHA256_CTX code would make each includer define OPENSSL_SUPPRESS_DEPRECATED before its
 * first OpenSSL header, an include-order condition for little code.)
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_CTX: see above */
#include <openssl/opensslconf.h>

#include "vaultcore_native.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#ifndef OPENSSL_NO_DEPRECATED_3_0
#include <openssl/sha.h>
#define VC_SHA256_STATES 1
#else
#include <openssl/evp.h>
#endif

#define MAC_SIZE 32
#define BLOCK 64

/* One key's HMAC-SHA256 (RFC 2104) for the length of a call: hmac_key keys it (1 on
 * success), hmac_mac MACs the message a || b || c (any of them may be empty) into out (1 on
 * success; out may be one of the inputs: the chain MACs mac_{i-1} into mac_i), hmac_end
 * wipes and frees it (also after a failed hmac_key). */
#ifdef VC_SHA256_STATES
struct hmac {
    SHA256_CTX inner, outer;  /* keyed: K0 ^ ipad and K0 ^ opad hashed */
    SHA256_CTX tmp;           /* a message's copy of one of them (struct assignment) */
    uint8_t digest[MAC_SIZE]; /* the inner hash */
};

static int hmac_key(struct hmac *h, const uint8_t *key, size_t key_len)
{
    uint8_t k0[BLOCK], pad[BLOCK];
    int ok = 1, j;
    memset(h, 0, sizeof(*h));
    memset(k0, 0, sizeof(k0));
    if (key_len > BLOCK) /* a key longer than a block is hashed first */
        ok = SHA256_Init(&h->tmp) && SHA256_Update(&h->tmp, key, key_len) && SHA256_Final(k0, &h->tmp);
    else if (key_len)
        memcpy(k0, key, key_len);
    for (j = 0; j < BLOCK; j++)
        pad[j] = k0[j] ^ 0x36;
    ok = ok && SHA256_Init(&h->inner) && SHA256_Update(&h->inner, pad, BLOCK);
    for (j = 0; j < BLOCK; j++)
        pad[j] = k0[j] ^ 0x5c;
    ok = ok && SHA256_Init(&h->outer) && SHA256_Update(&h->outer, pad, BLOCK);
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(k0, sizeof(k0));
    return ok;
}

static int hmac_mac(struct hmac *h, const uint8_t *a, size_t al, const uint8_t *b, size_t bl,
                    const uint8_t *c, size_t cl, uint8_t *out)
{
    int ok;
    h->tmp = h->inner;
    ok = (!al || SHA256_Update(&h->tmp, a, al)) && (!bl || SHA256_Update(&h->tmp, b, bl)) &&
         (!cl || SHA256_Update(&h->tmp, c, cl)) && SHA256_Final(h->digest, &h->tmp);
    h->tmp = h->outer;
    return ok && SHA256_Update(&h->tmp, h->digest, MAC_SIZE) && SHA256_Final(out, &h->tmp);
}

static void hmac_end(struct hmac *h) { OPENSSL_cleanse(h, sizeof(*h)); }
#else
struct hmac {
    EVP_MD *md;
    EVP_MD_CTX *inner, *outer, *tmp;
    uint8_t digest[MAC_SIZE];
};

static int digest_into(EVP_MD_CTX *dst, const EVP_MD_CTX *keyed, const uint8_t *a, size_t al,
                       const uint8_t *b, size_t bl, const uint8_t *c, size_t cl, uint8_t *out)
{
    unsigned int len = 0;
    if (!EVP_MD_CTX_copy_ex(dst, keyed))
        return 0;
    if (al && !EVP_DigestUpdate(dst, a, al))
        return 0;
    if (bl && !EVP_DigestUpdate(dst, b, bl))
        return 0;
    if (cl && !EVP_DigestUpdate(dst, c, cl))
        return 0;
    return EVP_DigestFinal_ex(dst, out, &len) && len == MAC_SIZE;
}

static int hmac_key(struct hmac *h, const uint8_t *key, size_t key_len)
{
    uint8_t pad[BLOCK], k0[BLOCK];
    unsigned int klen = 0;
    int ok = 0, j;
    memset(h, 0, sizeof(*h));
    memset(k0, 0, sizeof(k0));
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->inner = EVP_MD_CTX_new();
    h->outer = EVP_MD_CTX_new();
    h->tmp = EVP_MD_CTX_new();
    if (h->md == NULL || h->inner == NULL || h->outer == NULL || h->tmp == NULL)
        goto done;
    if (key_len > BLOCK) { /* a key longer than a block is hashed first */
        if (!EVP_Digest(key, key_len, k0, &klen, h->md, NULL))
            goto done;
    } else if (key_len) {
        memcpy(k0, key, key_len);
    }
    for (j = 0; j < BLOCK; j++)
        pad[j] = k0[j] ^ 0x36;
    if (!EVP_DigestInit_ex(h->inner, h->md, NULL) || !EVP_DigestUpdate(h->inner, pad, BLOCK))
        goto done;
    for (j = 0; j < BLOCK; j++)
        pad[j] = k0[j] ^ 0x5c;
    if (!EVP_DigestInit_ex(h->outer, h->md, NULL) || !EVP_DigestUpdate(h->outer, pad, BLOCK))
        goto done;
    ok = 1;
done:
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(k0, sizeof(k0));
    return ok;
}

static int hmac_mac(struct hmac *h, const uint8_t *a, size_t al, const uint8_t *b, size_t bl,
                    const uint8_t *c, size_t cl, uint8_t *out)
{
    return digest_into(h->tmp, h->inner, a, al, b, bl, c, cl, h->digest) &&
           digest_into(h->tmp, h->outer, h->digest, MAC_SIZE, NULL, 0, NULL, 0, out);
}

/* EVP_MD_CTX_free cleanses the digest state before freeing it. */
static void hmac_end(struct hmac *h)
{
    EVP_MD_CTX_free(h->tmp);
    EVP_MD_CTX_free(h->outer);
    EVP_MD_CTX_free(h->inner);
    EVP_MD_free(h->md);
    OPENSSL_cleanse(h, sizeof(*h));
}
#endif

int vc_audit_chain(const uint8_t *key, size_t key_len, const uint8_t *prev_mac,
                   uint64_t first_seq, size_t n, const uint8_t *bodies, const size_t *lens,
                   uint8_t *out, size_t out_len, uint8_t *last_mac)
{
    uint8_t mac[MAC_SIZE], seq[8];
    struct hmac h;
    size_t i, need = 0, pos = 0, off = 0;
    int st = VC_ERR_INTERNAL, j;
    if (key == NULL || prev_mac == NULL || last_mac == NULL || (n && (lens == NULL || out == NULL)))
        return VC_ERR_PARAM;
    for (i = 0; i < n; i++) {
        if (lens[i] > 0xFFFFFFFFu || need + lens[i] + 36 < need)
            return VC_ERR_PARAM;
        need += lens[i] + 36;
    }
    if (need != out_len)
        return VC_ERR_PARAM;
    if (!hmac_key(&h, key, key_len))
        goto done;
    memcpy(mac, prev_mac, MAC_SIZE);
    for (i = 0; i < n; i++) {
        uint64_t s = first_seq + i;
        size_t len = lens[i];
        for (j = 7; j >= 0; j--) {
            seq[j] = (uint8_t)(s & 0xff);
            s >>= 8;
        }
        if (!hmac_mac(&h, mac, MAC_SIZE, seq, 8, bodies + off, len, mac))
            goto done;
        memcpy(out + pos, mac, MAC_SIZE);
        out[pos + 32] = (uint8_t)(len >> 24);
        out[pos + 33] = (uint8_t)(len >> 16);
        out[pos + 34] = (uint8_t)(len >> 8);
        out[pos + 35] = (uint8_t)len;
        if (len)
            memcpy(out + pos + 36, bodies + off, len);
        pos += 36 + len;
        off += len;
    }
    memcpy(last_mac, mac, MAC_SIZE);
    st = VC_OK;
done:
    hmac_end(&h);
    if (st != VC_OK)
        ERR_clear_error();
    return st;
}

int vc_objkeys_many(const uint8_t *key, size_t key_len, uint8_t kind, size_t n, const uint8_t *names,
                    const size_t *lens, uint8_t *out, size_t *bad)
{
    struct hmac h;
    uint8_t msg[1 + VC_NAME_MAX], mac[MAC_SIZE];
    size_t i, j, off = 0;
    int st = VC_ERR_INTERNAL;
    if (key == NULL || bad == NULL || (n && (names == NULL || lens == NULL || out == NULL)))
        return VC_ERR_PARAM;
    *bad = n;
    for (i = 0; i < n; i++) { /* engine._validation.check_name, in order: the first bad name */
        int ok = lens[i] >= 1 && lens[i] <= VC_NAME_MAX;
        for (j = 0; ok && j < lens[i]; j++) {
            uint8_t c = names[off + j];
            ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
        }
        if (!ok) {
            *bad = i;
            return VC_ERR_PARAM;
        }
        off += lens[i];
    }
    if (!hmac_key(&h, key, key_len))
        goto done;
    msg[0] = kind;
    for (i = 0, off = 0; i < n; i++) {
        for (j = 0; j < lens[i]; j++) /* str.lower() of these characters */
            msg[1 + j] = names[off + j] >= 'A' && names[off + j] <= 'Z' ? (uint8_t)(names[off + j] + 32)
                                                                       : names[off + j];
        if (!hmac_mac(&h, msg, 1 + lens[i], NULL, 0, NULL, 0, mac))
            goto done;
        out[VC_OBJKEY_SIZE * i] = kind;
        memcpy(out + VC_OBJKEY_SIZE * i + 1, mac, VC_OBJKEY_SIZE - 1);
        off += lens[i];
    }
    st = VC_OK;
done:
    OPENSSL_cleanse(mac, sizeof(mac));
    hmac_end(&h);
    if (st != VC_OK)
        ERR_clear_error();
    return st;
}
