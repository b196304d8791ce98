#include "khd_secp256k1.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <secp256k1.h>

#define PUB_LEN 65 /* 0x04 || x || y */
#define KEYGEN_TRIES 16

struct khd_secp256k1_key {
    uint8_t sec[KHD_SECP256K1_SECRET_LEN];
    uint8_t pub[PUB_LEN];
};

/*
 * Written only by init and cleanup, which run before and after the threads;
 * signing only reads it (libsecp256k1 takes a const context there).
 */
static secp256k1_context *kctx;

/*
 * SubjectPublicKeyInfo up to the point: SEQUENCE { SEQUENCE { id-ecPublicKey,
 * secp256k1 }, BIT STRING (0 unused bits) }. The point is fixed-size, so the
 * prefix is a constant (RFC 5480; OIDs 1.2.840.10045.2.1, 1.3.132.0.10).
 */
static const uint8_t spki_prefix[] = {
    0x30, 0x56, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
    0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a, 0x03, 0x42, 0x00,
};

_Static_assert(sizeof(spki_prefix) + PUB_LEN == KHD_SECP256K1_SPKI_LEN,
               "SPKI length");

int khd_secp256k1_init(void)
{
    secp256k1_context *c = NULL;
    uint8_t seed[32];
    int r = KH_ERR_CRYPTO;

    if (kctx != NULL) {
        return KH_OK;
    }
    c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (c == NULL) {
        r = KH_ERR_ALLOC;
        goto out;
    }
    /* Blinds the generator multiplications against side channels. */
    if (RAND_priv_bytes(seed, sizeof(seed)) != 1 ||
        !secp256k1_context_randomize(c, seed)) {
        goto out;
    }
    kctx = c;
    c = NULL;
    r = KH_OK;
out:
    OPENSSL_cleanse(seed, sizeof(seed));
    if (c != NULL) {
        secp256k1_context_destroy(c);
    }
    return r;
}

void khd_secp256k1_cleanup(void)
{
    if (kctx != NULL) {
        secp256k1_context_destroy(kctx);
        kctx = NULL;
    }
}

void khd_secp256k1_free(struct khd_secp256k1_key *k)
{
    if (k != NULL) {
        OPENSSL_secure_clear_free(k, sizeof(*k));
    }
}

/* Checks k->sec and derives k->pub from it. */
static int derive(struct khd_secp256k1_key *k)
{
    secp256k1_pubkey pk;
    size_t publen = PUB_LEN;
    int r = KH_ERR_CRYPTO;

    if (!secp256k1_ec_seckey_verify(kctx, k->sec)) {
        r = KH_ERR_TAMPERED;
        goto out;
    }
    if (!secp256k1_ec_pubkey_create(kctx, &pk, k->sec) ||
        !secp256k1_ec_pubkey_serialize(kctx, k->pub, &publen, &pk,
                                       SECP256K1_EC_UNCOMPRESSED) ||
        publen != PUB_LEN) {
        goto out;
    }
    r = KH_OK;
out:
    OPENSSL_cleanse(&pk, sizeof(pk));
    return r;
}

int khd_secp256k1_generate(struct khd_secp256k1_key **out)
{
    struct khd_secp256k1_key *k = NULL;
    int r = KH_ERR_CRYPTO;

    *out = NULL;
    if (kctx == NULL) {
        r = KH_ERR_INTERNAL;
        goto out;
    }
    if ((k = OPENSSL_secure_zalloc(sizeof(*k))) == NULL) {
        r = KH_ERR_ALLOC;
        goto out;
    }
    /*
     * Rejection sampling: a random 32-byte string is outside [1, n-1] with
     * probability about 2^-128, so a second round practically never runs.
     */
    for (int i = 0; i < KEYGEN_TRIES; i++) {
        if (RAND_priv_bytes(k->sec, sizeof(k->sec)) != 1) {
            r = KH_ERR_CRYPTO;
            goto out;
        }
        if ((r = derive(k)) != KH_ERR_TAMPERED) {
            break;
        }
    }
    if (r != KH_OK) {
        r = KH_ERR_CRYPTO;
        goto out;
    }
    *out = k;
    k = NULL;
out:
    khd_secp256k1_free(k);
    return r;
}

int khd_secp256k1_import(const uint8_t *sec, size_t len,
                         struct khd_secp256k1_key **out)
{
    struct khd_secp256k1_key *k = NULL;
    int r;

    *out = NULL;
    if (kctx == NULL) {
        r = KH_ERR_INTERNAL;
        goto out;
    }
    if (sec == NULL || len != KHD_SECP256K1_SECRET_LEN) {
        r = KH_ERR_TAMPERED;
        goto out;
    }
    if ((k = OPENSSL_secure_zalloc(sizeof(*k))) == NULL) {
        r = KH_ERR_ALLOC;
        goto out;
    }
    memcpy(k->sec, sec, sizeof(k->sec));
    if ((r = derive(k)) != KH_OK) {
        goto out;
    }
    *out = k;
    k = NULL;
out:
    khd_secp256k1_free(k);
    return r;
}

int khd_secp256k1_export(const struct khd_secp256k1_key *k, uint8_t **sec,
                         size_t *len)
{
    *sec = NULL;
    *len = 0;
    if ((*sec = OPENSSL_secure_malloc(sizeof(k->sec))) == NULL) {
        return KH_ERR_ALLOC;
    }
    memcpy(*sec, k->sec, sizeof(k->sec));
    *len = sizeof(k->sec);
    return KH_OK;
}

int khd_secp256k1_spki(const struct khd_secp256k1_key *k, uint8_t *out,
                       size_t outsz, size_t *outlen)
{
    if (outsz < KHD_SECP256K1_SPKI_LEN) {
        return KH_ERR_NO_SPACE;
    }
    memcpy(out, spki_prefix, sizeof(spki_prefix));
    memcpy(out + sizeof(spki_prefix), k->pub, sizeof(k->pub));
    *outlen = KHD_SECP256K1_SPKI_LEN;
    return KH_OK;
}

int khd_secp256k1_sign(const struct khd_secp256k1_key *k, const EVP_MD *md,
                       int digest_input, const uint8_t *data, size_t len,
                       uint8_t *sig, size_t *siglen)
{
    uint8_t h[EVP_MAX_MD_SIZE];
    uint8_t der[KHD_SECP256K1_SIG_MAX];
    size_t derlen = sizeof(der);
    secp256k1_ecdsa_signature s;
    int mdsize;
    int r = KH_ERR_CRYPTO;

    memset(&s, 0, sizeof(s));
    if (kctx == NULL) {
        r = KH_ERR_INTERNAL;
        goto out;
    }
    mdsize = md != NULL ? EVP_MD_get_size(md) : -1;
    if (mdsize < 32 || mdsize > EVP_MAX_MD_SIZE) {
        r = KH_ERR_UNSUPPORTED;
        goto out;
    }
    if (*siglen < KHD_SECP256K1_SIG_MAX) {
        r = KH_ERR_NO_SPACE;
        goto out;
    }
    if (data == NULL && len != 0) {
        r = KH_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if (digest_input) {
        if (len != (size_t)mdsize) {
            r = KH_ERR_INVALID_ARGUMENT;
            goto out;
        }
        memcpy(h, data, len);
    } else if (!EVP_Digest(data, len, h, NULL, md, NULL)) {
        goto out;
    }
    /*
     * ECDSA bits2int: the order has 256 bits, so a longer digest (SHA-384,
     * SHA-512) is cut to its leftmost 32 bytes, i.e. the first 32 of h.
     * NULL nonce function = RFC 6979; the result is always low-S.
     */
    if (!secp256k1_ecdsa_sign(kctx, &s, h, k->sec, NULL, NULL) ||
        !secp256k1_ecdsa_signature_serialize_der(kctx, der, &derlen, &s)) {
        goto out;
    }
    memcpy(sig, der, derlen);
    *siglen = derlen;
    r = KH_OK;
out:
    OPENSSL_cleanse(h, sizeof(h));
    OPENSSL_cleanse(der, sizeof(der));
    OPENSSL_cleanse(&s, sizeof(s));
    return r;
}
