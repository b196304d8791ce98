/*
 * kh_box.c - ECIES boxes for small secrets (kh_box.h).
 *
 * Seal: ephemeral key on the recipient's curve, ECDH, HKDF-SHA256,
 * AES-256-GCM. Open: strict parse (version, curve, point form, exact
 * lengths), the ephemeral point imported through EVP_PKEY_fromdata (which
 * refuses a point that is not on the curve), ECDH with the private key
 * through EVP_PKEY_derive only, plaintext into the secure heap.
 */
#include "kh_box.h"

#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define KH_BOX_NONCE_LEN 12
#define KH_BOX_TAG_LEN 16
#define KH_BOX_KEY_LEN 32
#define KH_BOX_MAX_POINT 97
#define KH_BOX_MAX_SECRET 48 /* P-384 shared x coordinate */

static const char kh_box_info[] = "keyholder box v1";

struct kh_box_curve {
    uint8_t id;
    const char *group;  /* OSSL_PKEY_PARAM_GROUP_NAME */
    size_t point_len;   /* uncompressed point */
};

static const struct kh_box_curve kh_box_curves[] = {
    { 1, "prime256v1", 65 },
    { 2, "secp384r1", 97 },
};

#define KH_BOX_N_CURVES (sizeof(kh_box_curves) / sizeof(kh_box_curves[0]))

/* The curve of an EC key, or NULL (not EC, or another curve). */
static const struct kh_box_curve *kh_box_key_curve(EVP_PKEY *pkey)
{
    char group[64];
    size_t glen = 0;

    if (pkey == NULL || !EVP_PKEY_is_a(pkey, "EC") ||
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                       group, sizeof(group), &glen) != 1) {
        return NULL;
    }
    for (size_t i = 0; i < KH_BOX_N_CURVES; i++) {
        if (strcmp(group, kh_box_curves[i].group) == 0) {
            return &kh_box_curves[i];
        }
    }
    return NULL;
}

static const struct kh_box_curve *kh_box_curve_by_id(uint8_t id)
{
    for (size_t i = 0; i < KH_BOX_N_CURVES; i++) {
        if (kh_box_curves[i].id == id) {
            return &kh_box_curves[i];
        }
    }
    return NULL;
}

/* Re-encodes a compressed point |in| as uncompressed into |out|. */
static int kh_box_uncompress(const struct kh_box_curve *cv, const uint8_t *in,
                             size_t inlen, uint8_t *out)
{
    EC_GROUP *g;
    EC_POINT *pt = NULL;
    int r = KH_ERR_CRYPTO;

    if ((g = EC_GROUP_new_by_curve_name(OBJ_sn2nid(cv->group))) != NULL &&
        (pt = EC_POINT_new(g)) != NULL &&
        EC_POINT_oct2point(g, pt, in, inlen, NULL) == 1 &&
        EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, out,
                           cv->point_len, NULL) == cv->point_len) {
        r = KH_OK;
    }
    EC_POINT_free(pt);
    EC_GROUP_free(g);
    return r;
}

/*
 * The uncompressed public point of |pkey| into |out| (point_len bytes),
 * whatever form the key was imported in (a compressed SPKI keeps its
 * form in OpenSSL's encoding).
 */
static int kh_box_point(EVP_PKEY *pkey, const struct kh_box_curve *cv,
                        uint8_t *out)
{
    uint8_t enc[KH_BOX_MAX_POINT];
    size_t len = 0;

    if (EVP_PKEY_get_octet_string_param(pkey,
                                        OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                        enc, sizeof(enc), &len) != 1 ||
        len == 0) {
        return KH_ERR_CRYPTO;
    }
    if (len == cv->point_len && enc[0] == 0x04) {
        memcpy(out, enc, len);
        return KH_OK;
    }
    return kh_box_uncompress(cv, enc, len, out);
}

/* Z = ECDH(priv, peer) into |z| (*zlen bytes, at most KH_BOX_MAX_SECRET). */
static int kh_box_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t *z,
                       size_t *zlen)
{
    EVP_PKEY_CTX *ctx;
    int r = KH_ERR_CRYPTO;

    *zlen = KH_BOX_MAX_SECRET;
    if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL)) != NULL &&
        EVP_PKEY_derive_init(ctx) == 1 &&
        EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
        EVP_PKEY_derive(ctx, z, zlen) == 1) {
        r = KH_OK;
    }
    EVP_PKEY_CTX_free(ctx);
    return r;
}

/* K = HKDF-SHA256(Z, eph_pub || rcpt_pub, info || NUL || label). */
static int kh_box_kdf(const uint8_t *z, size_t zlen, const uint8_t *eph,
                      const uint8_t *rcpt, size_t point_len,
                      const char *label, uint8_t key[KH_BOX_KEY_LEN])
{
    uint8_t salt[2 * KH_BOX_MAX_POINT];
    uint8_t info[sizeof(kh_box_info) + 256];
    size_t llen = strlen(label), ilen = sizeof(kh_box_info) + llen;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[5];
    int r = KH_ERR_CRYPTO;

    if (llen > 255) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    memcpy(salt, eph, point_len);
    memcpy(salt + point_len, rcpt, point_len);
    memcpy(info, kh_box_info, sizeof(kh_box_info)); /* with its NUL */
    memcpy(info + sizeof(kh_box_info), label, llen);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                 (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  (void *)z, zlen);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt,
                                                  2 * point_len);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
                                                  ilen);
    params[4] = OSSL_PARAM_construct_end();
    if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) != NULL &&
        (kctx = EVP_KDF_CTX_new(kdf)) != NULL &&
        EVP_KDF_derive(kctx, key, KH_BOX_KEY_LEN, params) == 1) {
        r = KH_OK;
    }
    EVP_KDF_CTX_free(kctx); /* cleanses its copy of Z */
    EVP_KDF_free(kdf);
    return r;
}

static EVP_PKEY *kh_box_ephemeral(const struct kh_box_curve *cv)
{
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *eph = NULL;
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)cv->group, 0);
    params[1] = OSSL_PARAM_construct_end();
    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_keygen_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_params(ctx, params) != 1 ||
        EVP_PKEY_keygen(ctx, &eph) != 1) {
        eph = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return eph;
}

/* Imports an uncompressed point of |cv| as a public key (on-curve check). */
static EVP_PKEY *kh_box_import_point(const struct kh_box_curve *cv,
                                     const uint8_t *point)
{
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *pub = NULL;
    OSSL_PARAM params[3];

    if (point[0] != 0x04) {
        return NULL; /* only the uncompressed form, not the hybrid ones */
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)cv->group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  (void *)point,
                                                  cv->point_len);
    params[2] = OSSL_PARAM_construct_end();
    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pub, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        pub = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pub;
}

/* Derives the box key from our key pair half |mine| and the peer |peer|. */
static int kh_box_key(EVP_PKEY *mine, EVP_PKEY *peer, const uint8_t *eph,
                      const uint8_t *rcpt, const struct kh_box_curve *cv,
                      const char *label, uint8_t key[KH_BOX_KEY_LEN])
{
    uint8_t z[KH_BOX_MAX_SECRET];
    size_t zlen = 0;
    int r;

    if ((r = kh_box_ecdh(mine, peer, z, &zlen)) == KH_OK) {
        r = kh_box_kdf(z, zlen, eph, rcpt, cv->point_len, label, key);
    }
    OPENSSL_cleanse(z, sizeof(z));
    return r;
}

static int kh_box_gcm(int enc, const uint8_t key[KH_BOX_KEY_LEN],
                      const uint8_t *nonce, const uint8_t *aad,
                      size_t aadlen, const uint8_t *in, size_t len,
                      uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *c;
    int n = 0, r = KH_ERR_CRYPTO;

    if ((c = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_CipherInit_ex2(c, EVP_aes_256_gcm(), key, nonce, enc, NULL) != 1 ||
        (aadlen > 0 &&
         EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
        EVP_CipherUpdate(c, out, &n, in, (int)len) != 1 ||
        (size_t)n != len) {
        goto out;
    }
    if (enc) {
        if (EVP_CipherFinal_ex(c, out + n, &n) != 1 ||
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, KH_BOX_TAG_LEN,
                                tag) != 1) {
            goto out;
        }
    } else if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, KH_BOX_TAG_LEN,
                                   tag) != 1 ||
               EVP_CipherFinal_ex(c, out + n, &n) != 1) {
        goto out;
    }
    r = KH_OK;
out:
    EVP_CIPHER_CTX_free(c);
    return r;
}

static int kh_box_check_args(const char *label, const uint8_t *aad,
                             size_t aadlen)
{
    if (label == NULL || strlen(label) > 255 || (aad == NULL && aadlen > 0) ||
        aadlen > INT32_MAX) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    return KH_OK;
}

int kh_box_seal(EVP_PKEY *recipient, const char *label, const uint8_t *aad,
                size_t aadlen, const uint8_t *pt, size_t ptlen,
                struct kh_buf *out)
{
    const struct kh_box_curve *cv;
    uint8_t rcpt[KH_BOX_MAX_POINT], key[KH_BOX_KEY_LEN];
    EVP_PKEY *eph = NULL;
    uint8_t *dst;
    size_t start = kh_buf_size(out), plen;
    int r;

    if ((r = kh_box_check_args(label, aad, aadlen)) != KH_OK) {
        return r;
    }
    if (pt == NULL || ptlen == 0 || ptlen > KH_BOX_MAX_PLAINTEXT) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((cv = kh_box_key_curve(recipient)) == NULL) {
        return KH_ERR_UNSUPPORTED;
    }
    plen = cv->point_len;
    if ((r = kh_buf_reserve(out, 2 + plen + KH_BOX_NONCE_LEN + ptlen +
                                     KH_BOX_TAG_LEN, &dst)) != KH_OK) {
        return r;
    }
    dst[0] = KH_BOX_VERSION;
    dst[1] = cv->id;
    if ((r = kh_box_point(recipient, cv, rcpt)) != KH_OK ||
        (r = (eph = kh_box_ephemeral(cv)) == NULL ? KH_ERR_CRYPTO : KH_OK) !=
            KH_OK ||
        (r = kh_box_point(eph, cv, dst + 2)) != KH_OK ||
        (r = kh_box_key(eph, recipient, dst + 2, rcpt, cv, label, key)) !=
            KH_OK) {
        goto out;
    }
    if (RAND_bytes(dst + 2 + plen, KH_BOX_NONCE_LEN) != 1) {
        r = KH_ERR_CRYPTO;
        goto out;
    }
    r = kh_box_gcm(1, key, dst + 2 + plen, aad, aadlen, pt, ptlen,
                   dst + 2 + plen + KH_BOX_NONCE_LEN,
                   dst + 2 + plen + KH_BOX_NONCE_LEN + ptlen);
out:
    if (r != KH_OK) {
        kh_buf_truncate(out, start);
    }
    OPENSSL_cleanse(key, sizeof(key));
    EVP_PKEY_free(eph); /* frees (and cleanses) the ephemeral scalar */
    return r;
}

/* Box layout checks; |*cv| the box's curve, |*ctlen| the plaintext size. */
static int kh_box_parse(const uint8_t *box, size_t boxlen,
                        const struct kh_box_curve **cv, size_t *ctlen)
{
    size_t overhead;

    if (box == NULL || boxlen < 2) {
        return KH_ERR_INVALID_FORMAT;
    }
    if (box[0] != KH_BOX_VERSION) {
        return KH_ERR_BAD_VERSION;
    }
    if ((*cv = kh_box_curve_by_id(box[1])) == NULL) {
        return KH_ERR_INVALID_FORMAT;
    }
    overhead = 2 + (*cv)->point_len + KH_BOX_NONCE_LEN + KH_BOX_TAG_LEN;
    if (boxlen <= overhead || boxlen - overhead > KH_BOX_MAX_PLAINTEXT ||
        box[2] != 0x04) {
        return KH_ERR_INVALID_FORMAT;
    }
    *ctlen = boxlen - overhead;
    return KH_OK;
}

int kh_box_open(EVP_PKEY *priv, const char *label, const uint8_t *aad,
                size_t aadlen, const uint8_t *box, size_t boxlen,
                uint8_t **pt, size_t *ptlen)
{
    const struct kh_box_curve *cv, *mine;
    uint8_t rcpt[KH_BOX_MAX_POINT], key[KH_BOX_KEY_LEN];
    EVP_PKEY *eph = NULL;
    const uint8_t *nonce, *ct;
    uint8_t *out = NULL;
    size_t ctlen = 0;
    int r;

    *pt = NULL;
    *ptlen = 0;
    if ((r = kh_box_check_args(label, aad, aadlen)) != KH_OK) {
        return r;
    }
    if ((mine = kh_box_key_curve(priv)) == NULL) {
        return KH_ERR_UNSUPPORTED;
    }
    if ((r = kh_box_parse(box, boxlen, &cv, &ctlen)) != KH_OK) {
        return r;
    }
    if (cv != mine) {
        return KH_ERR_CRYPTO; /* sealed for a key on another curve */
    }
    nonce = box + 2 + cv->point_len;
    ct = nonce + KH_BOX_NONCE_LEN;
    if ((eph = kh_box_import_point(cv, box + 2)) == NULL) {
        return KH_ERR_INVALID_FORMAT; /* not a point of the curve */
    }
    if ((out = OPENSSL_secure_malloc(ctlen)) == NULL) {
        r = KH_ERR_ALLOC;
        goto out;
    }
    if ((r = kh_box_point(priv, cv, rcpt)) != KH_OK ||
        (r = kh_box_key(priv, eph, box + 2, rcpt, cv, label, key)) !=
            KH_OK ||
        (r = kh_box_gcm(0, key, nonce, aad, aadlen, ct, ctlen, out,
                        (uint8_t *)(ct + ctlen))) != KH_OK) {
        r = KH_ERR_CRYPTO;
        goto out;
    }
    *pt = out;
    *ptlen = ctlen;
    out = NULL;
out:
    OPENSSL_secure_clear_free(out, ctlen);
    OPENSSL_cleanse(key, sizeof(key));
    EVP_PKEY_free(eph);
    return r;
}
