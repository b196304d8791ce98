#include "khd_wrap.h"

#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define KHD_KEK_LEN 32

struct khd_kek {
    uint8_t key[KHD_KEK_LEN];
    uint8_t mac_key[KHD_MAC_LEN];
};

/* HKDF-SHA256(master, salt "keyholder", info |label|) into |out|. */
static int khd_hkdf(const uint8_t *master, const char *label, uint8_t *out,
                    size_t outlen)
{
    static const char salt[] = "keyholder";
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[5];
    int r = KH_ERR_CRYPTO;

    if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL ||
        (kctx = EVP_KDF_CTX_new(kdf)) == NULL) {
        goto out;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                 (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_KEY, (void *)master, KHD_MASTER_KEY_LEN);
    params[2] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, (void *)salt, sizeof(salt) - 1);
    params[3] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_INFO, (void *)label, strlen(label));
    params[4] = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(kctx, out, outlen, params) != 1) {
        goto out;
    }
    r = KH_OK;
out:
    EVP_KDF_CTX_free(kctx); /* cleanses its copy of the key */
    EVP_KDF_free(kdf);
    return r;
}

int khd_kek_derive(const uint8_t *master, struct khd_kek **out)
{
    struct khd_kek *kek;
    int r;

    *out = NULL;
    if ((kek = OPENSSL_secure_zalloc(sizeof(*kek))) == NULL) {
        return KH_ERR_ALLOC;
    }
    if ((r = khd_hkdf(master, "keyholder/kek/v1", kek->key,
                      sizeof(kek->key))) != 0 ||
        (r = khd_hkdf(master, "keyholder/mac/v1", kek->mac_key,
                      sizeof(kek->mac_key))) != 0) {
        khd_kek_free(kek);
        return r;
    }
    *out = kek;
    return KH_OK;
}

void khd_kek_free(struct khd_kek *kek)
{
    if (kek != NULL) {
        OPENSSL_secure_clear_free(kek, sizeof(*kek));
    }
}

int khd_master_check_value(const uint8_t *master,
                           uint8_t out[KHD_CHECK_VALUE_LEN])
{
    return khd_hkdf(master, "keyholder/check/v1", out, KHD_CHECK_VALUE_LEN);
}

int khd_mac(const struct khd_kek *kek, const char *label, const uint8_t *a,
            size_t alen, const uint8_t *b, size_t blen,
            uint8_t out[KHD_MAC_LEN])
{
    static const uint8_t nul = 0;
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *mctx = NULL;
    OSSL_PARAM params[2];
    size_t outlen = 0;
    int r = KH_ERR_CRYPTO;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
        (mctx = EVP_MAC_CTX_new(mac)) == NULL ||
        EVP_MAC_init(mctx, kek->mac_key, sizeof(kek->mac_key), params) != 1 ||
        EVP_MAC_update(mctx, (const uint8_t *)label, strlen(label)) != 1 ||
        EVP_MAC_update(mctx, &nul, 1) != 1 ||
        (alen > 0 && EVP_MAC_update(mctx, a, alen) != 1) ||
        EVP_MAC_update(mctx, &nul, 1) != 1 ||
        (blen > 0 && EVP_MAC_update(mctx, b, blen) != 1) ||
        EVP_MAC_final(mctx, out, &outlen, KHD_MAC_LEN) != 1 ||
        outlen != KHD_MAC_LEN) {
        goto out;
    }
    r = KH_OK;
out:
    EVP_MAC_CTX_free(mctx); /* cleanses its key schedule */
    EVP_MAC_free(mac);
    return r;
}

int khd_wrap(const struct khd_kek *kek, const uint8_t *aad, size_t aadlen,
             const uint8_t *pt, size_t ptlen, struct kh_buf *out)
{
    EVP_CIPHER_CTX *c = NULL;
    uint8_t *dst;
    size_t start = kh_buf_size(out);
    int n, r;

    if (ptlen == 0 || ptlen > KHD_WRAP_MAX_PLAINTEXT || aadlen > INT32_MAX) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_reserve(out, KHD_WRAP_OVERHEAD + ptlen, &dst)) != 0) {
        return r;
    }
    r = KH_ERR_CRYPTO;
    dst[0] = KHD_WRAP_ALG_AES256GCM;
    /* A random 96-bit nonce per wrap; wraps are few (one per key version). */
    if (RAND_bytes(dst + 1, KHD_WRAP_NONCE_LEN) != 1 ||
        (c = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_EncryptInit_ex2(c, EVP_aes_256_gcm(), kek->key, dst + 1,
                            NULL) != 1 ||
        (aadlen > 0 && EVP_EncryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
        EVP_EncryptUpdate(c, dst + 1 + KHD_WRAP_NONCE_LEN, &n, pt,
                          (int)ptlen) != 1 ||
        (size_t)n != ptlen ||
        EVP_EncryptFinal_ex(c, dst + 1 + KHD_WRAP_NONCE_LEN + n, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, KHD_WRAP_TAG_LEN,
                            dst + 1 + KHD_WRAP_NONCE_LEN + ptlen) != 1) {
        kh_buf_truncate(out, start);
        goto out;
    }
    r = KH_OK;
out:
    EVP_CIPHER_CTX_free(c);
    return r;
}

int khd_unwrap(const struct khd_kek *kek, const uint8_t *aad, size_t aadlen,
               const uint8_t *blob, size_t bloblen, uint8_t **pt,
               size_t *ptlen)
{
    EVP_CIPHER_CTX *c = NULL;
    const uint8_t *nonce, *ct, *tag;
    uint8_t *plain = NULL;
    size_t ctlen;
    int n, r = KH_ERR_TAMPERED;

    *pt = NULL;
    *ptlen = 0;
    if (bloblen <= KHD_WRAP_OVERHEAD || aadlen > INT32_MAX ||
        blob[0] != KHD_WRAP_ALG_AES256GCM) {
        return KH_ERR_TAMPERED;
    }
    ctlen = bloblen - KHD_WRAP_OVERHEAD;
    if (ctlen > KHD_WRAP_MAX_PLAINTEXT) {
        return KH_ERR_TAMPERED;
    }
    nonce = blob + 1;
    ct = nonce + KHD_WRAP_NONCE_LEN;
    tag = ct + ctlen;
    if ((plain = OPENSSL_secure_malloc(ctlen)) == NULL) {
        return KH_ERR_ALLOC;
    }
    if ((c = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_DecryptInit_ex2(c, EVP_aes_256_gcm(), kek->key, nonce, NULL) != 1 ||
        (aadlen > 0 && EVP_DecryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
        EVP_DecryptUpdate(c, plain, &n, ct, (int)ctlen) != 1 ||
        (size_t)n != ctlen ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, KHD_WRAP_TAG_LEN,
                            (void *)tag) != 1 ||
        EVP_DecryptFinal_ex(c, plain + n, &n) != 1) {
        goto out; /* authentication failed: nothing decrypted is kept */
    }
    *pt = plain;
    *ptlen = ctlen;
    plain = NULL;
    r = KH_OK;
out:
    if (plain != NULL) {
        OPENSSL_secure_clear_free(plain, ctlen);
    }
    EVP_CIPHER_CTX_free(c);
    return r;
}
