/*
 * vaultcore native core: the audit chain's MACs for a segment of events, in one call.
 *
 * mac_i = HMAC-SHA256(key, mac_{i-1} || be64(seq_i) || body_i), exactly what
 * access/_audit.py documents and verify() recomputes in Python; the output is the
 * segment's event area, mac_i || be32(len_i) || body_i per event. The keyed inner and
 * outer SHA-256 states are computed once per call and copied per event; the padded key
 * blocks are wiped. Called by the audit flusher with the GIL released (cffi API mode).
 * vc_hmac_sha256_many uses the same keyed states for many independent messages.
 */
#include "vaultcore_native.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define MAC_SIZE 32
#define BLOCK 64

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

/* The HMAC-SHA256 inner and outer states keyed with key (RFC 2104), into ictx and octx; the
 * padded key blocks are wiped. 1 on success. */
static int keyed_states(EVP_MD *md, const uint8_t *key, size_t key_len, EVP_MD_CTX *ictx,
                        EVP_MD_CTX *octx)
{
    uint8_t pad[BLOCK], k0[BLOCK];
    unsigned int klen = 0;
    int ok = 0, j;
    memset(k0, 0, sizeof(k0));
    if (key_len > BLOCK) {
        if (!EVP_Digest(key, key_len, k0, &klen, md, NULL))
            goto done;
    } else if (key_len) {
        memcpy(k0, key, key_len);
    }
    for (j = 0; j < BLOCK; j++)
        pad[j] = k0[j] ^ 0x36;
    if (!EVP_DigestInit_ex(ictx, md, NULL) || !EVP_DigestUpdate(ictx, pad, BLOCK))
        goto done;
    for (j = 0; j < BLOCK; j++)
        pad[j] = k0[j] ^ 0x5c;
    if (!EVP_DigestInit_ex(octx, md, NULL) || !EVP_DigestUpdate(octx, pad, BLOCK))
        goto done;
    ok = 1;
done:
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(k0, sizeof(k0));
    return ok;
}

int vc_audit_chain(const uint8_t *key, size_t key_len, const uint8_t *prev_mac,
                   uint64_t first_seq, size_t n, const uint8_t *bodies, const size_t *lens,
                   uint8_t *out, size_t out_len, uint8_t *last_mac)
{
    uint8_t inner[MAC_SIZE], mac[MAC_SIZE], seq[8];
    EVP_MD *md = NULL;
    EVP_MD_CTX *ictx = NULL, *octx = NULL, *tmp = NULL;
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
    md = EVP_MD_fetch(NULL, "SHA256", NULL);
    ictx = EVP_MD_CTX_new();
    octx = EVP_MD_CTX_new();
    tmp = EVP_MD_CTX_new();
    if (md == NULL || ictx == NULL || octx == NULL || tmp == NULL || !keyed_states(md, key, key_len, ictx, octx))
        goto done;
    memcpy(mac, prev_mac, MAC_SIZE);
    for (i = 0; i < n; i++) {
        uint64_t s = first_seq + i;
        size_t len = lens[i];
        for (j = 7; j >= 0; j--) {
            seq[j] = (uint8_t)(s & 0xff);
            s >>= 8;
        }
        if (!digest_into(tmp, ictx, mac, MAC_SIZE, seq, 8, bodies + off, len, inner) ||
            !digest_into(tmp, octx, inner, MAC_SIZE, NULL, 0, NULL, 0, mac))
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
    OPENSSL_cleanse(inner, sizeof(inner));
    EVP_MD_CTX_free(tmp);
    EVP_MD_CTX_free(octx);
    EVP_MD_CTX_free(ictx);
    EVP_MD_free(md);
    if (st != VC_OK)
        ERR_clear_error();
    return st;
}

int vc_hmac_sha256_many(const uint8_t *key, size_t key_len, size_t n, const uint8_t *msgs,
                        const size_t *lens, uint8_t *out)
{
    uint8_t inner[MAC_SIZE];
    EVP_MD *md = NULL;
    EVP_MD_CTX *ictx = NULL, *octx = NULL, *tmp = NULL;
    size_t i, off = 0;
    int st = VC_ERR_INTERNAL;
    if (key == NULL || (n && (msgs == NULL || lens == NULL || out == NULL)))
        return VC_ERR_PARAM;
    md = EVP_MD_fetch(NULL, "SHA256", NULL);
    ictx = EVP_MD_CTX_new();
    octx = EVP_MD_CTX_new();
    tmp = EVP_MD_CTX_new();
    if (md == NULL || ictx == NULL || octx == NULL || tmp == NULL || !keyed_states(md, key, key_len, ictx, octx))
        goto done;
    for (i = 0; i < n; i++) {
        if (!digest_into(tmp, ictx, msgs + off, lens[i], NULL, 0, NULL, 0, inner) ||
            !digest_into(tmp, octx, inner, MAC_SIZE, NULL, 0, NULL, 0, out + MAC_SIZE * i))
            goto done;
        off += lens[i];
    }
    st = VC_OK;
done:
    OPENSSL_cleanse(inner, sizeof(inner));
    EVP_MD_CTX_free(tmp);
    EVP_MD_CTX_free(octx);
    EVP_MD_CTX_free(ictx);
    EVP_MD_free(md);
    if (st != VC_OK)
        ERR_clear_error();
    return st;
}
