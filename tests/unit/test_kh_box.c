/* Unit tests: ECIES boxes (kh_box.c). */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "kh_box.h"
#include "kh_test.h"

static EVP_PKEY *p256, *p256b, *p384, *rsa, *ed;
static const uint8_t aad[] = "keyholder-share-v1\0ceremony";
static const uint8_t secret[32] = "thirty-two bytes of master share";

static void test_setup(void)
{
    CU_ASSERT_NOT_EQUAL_FATAL(CRYPTO_secure_malloc_init(1 << 20, 32), 0);
    p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p256b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    CU_ASSERT_FATAL(p256 && p256b && p384 && rsa && ed);
}

/* The public half alone, as the daemon holds a custodian's key. */
static EVP_PKEY *public_only(EVP_PKEY *k)
{
    uint8_t *der = NULL;
    const uint8_t *p;
    int len = i2d_PUBKEY(k, &der);
    EVP_PKEY *pub;

    p = der;
    pub = len > 0 ? d2i_PUBKEY(NULL, &p, len) : NULL;
    OPENSSL_free(der);
    return pub;
}

static int seal(EVP_PKEY *k, const char *label, struct kh_buf *w)
{
    EVP_PKEY *pub = public_only(k);
    int r;

    kh_buf_init_writer(w, KH_BOX_MAX_LEN);
    r = kh_box_seal(pub, label, aad, sizeof(aad), secret, sizeof(secret), w);
    EVP_PKEY_free(pub);
    return r;
}

static int open_box(EVP_PKEY *k, const char *label, const uint8_t *a,
                    size_t alen, const uint8_t *box, size_t boxlen)
{
    uint8_t *pt = (uint8_t *)"sentinel";
    size_t ptlen = 99;
    int r = kh_box_open(k, label, a, alen, box, boxlen, &pt, &ptlen);

    if (r == 0) {
        CU_ASSERT_TRUE(CRYPTO_secure_allocated(pt));
        CU_ASSERT_EQUAL(ptlen, sizeof(secret));
        CU_ASSERT_EQUAL(memcmp(pt, secret, sizeof(secret)), 0);
        OPENSSL_secure_clear_free(pt, ptlen);
    } else {
        /* A refusal returns nothing. */
        CU_ASSERT_PTR_NULL(pt);
        CU_ASSERT_EQUAL(ptlen, 0);
    }
    return r;
}

static void check_roundtrip(EVP_PKEY *k, size_t point_len)
{
    struct kh_buf w, w2;
    const uint8_t *b;

    CU_ASSERT_EQUAL_FATAL(seal(k, "share", &w), 0);
    b = kh_buf_data(&w);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 2 + point_len + 12 + 32 + 16);
    CU_ASSERT_EQUAL(b[0], KH_BOX_VERSION);
    CU_ASSERT_EQUAL(b[1], point_len == 65 ? 1 : 2);
    CU_ASSERT_EQUAL(b[2], 0x04);
    /* No plaintext residue in the box. */
    CU_ASSERT_PTR_NULL(memmem(b, kh_buf_size(&w), secret, 8));
    CU_ASSERT_EQUAL(open_box(k, "share", aad, sizeof(aad), b,
                             kh_buf_size(&w)), 0);
    /* Fresh ephemeral key and nonce every time. */
    CU_ASSERT_EQUAL_FATAL(seal(k, "share", &w2), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(b + 2, kh_buf_data(&w2) + 2, point_len), 0);
    kh_buf_free(&w2);
    kh_buf_free(&w);
}

static void test_roundtrip(void)
{
    check_roundtrip(p256, 65);
    check_roundtrip(p384, 97);
}

static void test_wrong_key_label_aad(void)
{
    struct kh_buf w, w384;
    const uint8_t *b;
    size_t n;

    CU_ASSERT_EQUAL_FATAL(seal(p256, "share", &w), 0);
    CU_ASSERT_EQUAL_FATAL(seal(p384, "share", &w384), 0);
    b = kh_buf_data(&w);
    n = kh_buf_size(&w);
    CU_ASSERT_EQUAL(open_box(p256b, "share", aad, sizeof(aad), b, n),
                    KH_ERR_CRYPTO);
    CU_ASSERT_EQUAL(open_box(p384, "share", aad, sizeof(aad), b, n),
                    KH_ERR_CRYPTO);
    CU_ASSERT_EQUAL(open_box(p256, "share", aad, sizeof(aad),
                             kh_buf_data(&w384), kh_buf_size(&w384)),
                    KH_ERR_CRYPTO);
    CU_ASSERT_EQUAL(open_box(p256, "unseal", aad, sizeof(aad), b, n),
                    KH_ERR_CRYPTO);
    CU_ASSERT_EQUAL(open_box(p256, "", aad, sizeof(aad), b, n),
                    KH_ERR_CRYPTO);
    CU_ASSERT_EQUAL(open_box(p256, "share", aad, sizeof(aad) - 1, b, n),
                    KH_ERR_CRYPTO);
    CU_ASSERT_EQUAL(open_box(p256, "share", NULL, 0, b, n), KH_ERR_CRYPTO);
    CU_ASSERT_EQUAL(open_box(p256, "share", (const uint8_t *)"x", 1, b, n),
                    KH_ERR_CRYPTO);
    /* Still opens with the right ones. */
    CU_ASSERT_EQUAL(open_box(p256, "share", aad, sizeof(aad), b, n), 0);
    kh_buf_free(&w);
    kh_buf_free(&w384);
}

static void check_tampering(EVP_PKEY *k)
{
    struct kh_buf w;
    uint8_t *copy;
    size_t n;
    unsigned opened = 0;

    CU_ASSERT_EQUAL_FATAL(seal(k, "share", &w), 0);
    n = kh_buf_size(&w);
    copy = OPENSSL_malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    for (size_t i = 0; i < n; i++) {
        for (unsigned bit = 0; bit < 8; bit += 7) {
            memcpy(copy, kh_buf_data(&w), n);
            copy[i] ^= (uint8_t)(1u << bit);
            opened += open_box(k, "share", aad, sizeof(aad), copy, n) == 0;
        }
    }
    CU_ASSERT_EQUAL(opened, 0);
    for (size_t len = 0; len < n; len++) {
        opened += open_box(k, "share", aad, sizeof(aad), kh_buf_data(&w),
                           len) == 0;
    }
    CU_ASSERT_EQUAL(opened, 0);
    /* One byte appended. */
    memcpy(copy, kh_buf_data(&w), n);
    {
        uint8_t *longer = OPENSSL_malloc(n + 1);

        CU_ASSERT_PTR_NOT_NULL_FATAL(longer);
        memcpy(longer, copy, n);
        longer[n] = 0;
        CU_ASSERT_NOT_EQUAL(open_box(k, "share", aad, sizeof(aad), longer,
                                     n + 1), 0);
        OPENSSL_free(longer);
    }
    OPENSSL_free(copy);
    kh_buf_free(&w);
}

static void test_tampering(void)
{
    check_tampering(p256);
    check_tampering(p384);
}

static void test_malformed(void)
{
    struct kh_buf w;
    uint8_t copy[2 + 65 + 12 + 32 + 16];
    uint8_t *pt;
    size_t ptlen;

    CU_ASSERT_EQUAL_FATAL(seal(p256, "share", &w), 0);
    CU_ASSERT_EQUAL_FATAL(kh_buf_size(&w), sizeof(copy));
    memcpy(copy, kh_buf_data(&w), sizeof(copy));
    copy[0] = 2;
    CU_ASSERT_EQUAL(kh_box_open(p256, "share", aad, sizeof(aad), copy,
                                sizeof(copy), &pt, &ptlen),
                    KH_ERR_BAD_VERSION);
    memcpy(copy, kh_buf_data(&w), sizeof(copy));
    copy[1] = 3;
    CU_ASSERT_EQUAL(kh_box_open(p256, "share", aad, sizeof(aad), copy,
                                sizeof(copy), &pt, &ptlen),
                    KH_ERR_INVALID_FORMAT);
    /* The hybrid point form 0x06/0x07 has the same length: refused. */
    memcpy(copy, kh_buf_data(&w), sizeof(copy));
    copy[2] = 0x06;
    CU_ASSERT_EQUAL(kh_box_open(p256, "share", aad, sizeof(aad), copy,
                                sizeof(copy), &pt, &ptlen),
                    KH_ERR_INVALID_FORMAT);
    /* A point off the curve (y + 1) is refused at import. */
    memcpy(copy, kh_buf_data(&w), sizeof(copy));
    copy[2 + 64] ^= 1;
    CU_ASSERT_EQUAL(kh_box_open(p256, "share", aad, sizeof(aad), copy,
                                sizeof(copy), &pt, &ptlen),
                    KH_ERR_INVALID_FORMAT);
    /* Header alone, no ciphertext. */
    CU_ASSERT_EQUAL(kh_box_open(p256, "share", aad, sizeof(aad), copy,
                                2 + 65 + 12 + 16, &pt, &ptlen),
                    KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(kh_box_open(p256, "share", aad, sizeof(aad), NULL, 0,
                                &pt, &ptlen),
                    KH_ERR_INVALID_FORMAT);
    kh_buf_free(&w);
}

static void test_unsupported_keys(void)
{
    struct kh_buf w;
    uint8_t *pt;
    size_t ptlen;
    EVP_PKEY *k256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");

    CU_ASSERT_PTR_NOT_NULL_FATAL(k256);
    kh_buf_init_writer(&w, KH_BOX_MAX_LEN);
    CU_ASSERT_EQUAL(kh_box_seal(rsa, "share", aad, sizeof(aad), secret,
                                sizeof(secret), &w),
                    KH_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL(kh_box_seal(ed, "share", aad, sizeof(aad), secret,
                                sizeof(secret), &w),
                    KH_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL(kh_box_seal(k256, "share", aad, sizeof(aad), secret,
                                sizeof(secret), &w),
                    KH_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL(kh_box_seal(NULL, "share", aad, sizeof(aad), secret,
                                sizeof(secret), &w),
                    KH_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 0);
    CU_ASSERT_EQUAL_FATAL(seal(p256, "share", &w), 0);
    CU_ASSERT_EQUAL(kh_box_open(rsa, "share", aad, sizeof(aad),
                                kh_buf_data(&w), kh_buf_size(&w), &pt,
                                &ptlen),
                    KH_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL(kh_box_open(ed, "share", aad, sizeof(aad),
                                kh_buf_data(&w), kh_buf_size(&w), &pt,
                                &ptlen),
                    KH_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NULL(pt);
    kh_buf_free(&w);
    EVP_PKEY_free(k256);
}

static void test_size_limits(void)
{
    struct kh_buf w;
    uint8_t *big, *pt;
    size_t ptlen;

    big = OPENSSL_zalloc(KH_BOX_MAX_PLAINTEXT + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    kh_buf_init_writer(&w, KH_BOX_MAX_LEN);
    CU_ASSERT_EQUAL(kh_box_seal(p384, "x", NULL, 0, big,
                                KH_BOX_MAX_PLAINTEXT + 1, &w),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_box_seal(p384, "x", NULL, 0, big, 0, &w),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 0);
    /* The largest plaintext fits the largest box exactly. */
    CU_ASSERT_EQUAL_FATAL(kh_box_seal(p384, "x", NULL, 0, big,
                                      KH_BOX_MAX_PLAINTEXT, &w), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&w), KH_BOX_MAX_LEN);
    CU_ASSERT_EQUAL(kh_box_open(p384, "x", NULL, 0, kh_buf_data(&w),
                                kh_buf_size(&w), &pt, &ptlen), 0);
    CU_ASSERT_EQUAL(ptlen, KH_BOX_MAX_PLAINTEXT);
    OPENSSL_secure_clear_free(pt, ptlen);
    /* A writer too small for the box: NO_SPACE and nothing written. */
    kh_buf_free(&w);
    kh_buf_init_writer(&w, 100);
    CU_ASSERT_EQUAL(kh_box_seal(p256, "x", NULL, 0, secret, sizeof(secret),
                                &w),
                    KH_ERR_NO_SPACE);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 0);
    kh_buf_free(&w);
    OPENSSL_free(big);
}

/* A key imported from a compressed-point SPKI (OpenSSL keeps that form
 * in the key's encoding) works as recipient and, in a compressed-form
 * private key, for opening. */
static void test_compressed_keys(void)
{
    EVP_PKEY *keys[2] = { p256, p384 };

    for (int i = 0; i < 2; i++) {
        EVP_PKEY *cpub = NULL, *cpriv = EVP_PKEY_dup(keys[i]);
        uint8_t *der = NULL, *pt;
        const uint8_t *p;
        size_t ptlen;
        struct kh_buf w;
        int n;

        CU_ASSERT_PTR_NOT_NULL_FATAL(cpriv);
        CU_ASSERT_EQUAL_FATAL(EVP_PKEY_set_utf8_string_param(
                                  cpriv,
                                  OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                  "compressed"), 1);
        n = i2d_PUBKEY(cpriv, &der);
        CU_ASSERT_FATAL(n > 0);
        CU_ASSERT_EQUAL(n, i == 0 ? 59 : 72); /* compressed SPKI sizes */
        p = der;
        cpub = d2i_PUBKEY(NULL, &p, n);
        OPENSSL_free(der);
        CU_ASSERT_PTR_NOT_NULL_FATAL(cpub);
        kh_buf_init_writer(&w, KH_BOX_MAX_LEN);
        CU_ASSERT_EQUAL(kh_box_seal(cpub, "share", aad, sizeof(aad), secret,
                                    sizeof(secret), &w), 0);
        CU_ASSERT_EQUAL(kh_buf_data(&w)[2], 0x04);
        CU_ASSERT_EQUAL(kh_box_open(keys[i], "share", aad, sizeof(aad),
                                    kh_buf_data(&w), kh_buf_size(&w), &pt,
                                    &ptlen), 0);
        OPENSSL_secure_clear_free(pt, ptlen);
        CU_ASSERT_EQUAL(kh_box_open(cpriv, "share", aad, sizeof(aad),
                                    kh_buf_data(&w), kh_buf_size(&w), &pt,
                                    &ptlen), 0);
        OPENSSL_secure_clear_free(pt, ptlen);
        kh_buf_free(&w);
        EVP_PKEY_free(cpub);
        EVP_PKEY_free(cpriv);
    }
}

static void test_teardown(void)
{
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p256b);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ed);
    CRYPTO_secure_malloc_done();
}

static const struct kh_test tests[] = {
    KH_TEST(test_setup),
    KH_TEST(test_roundtrip),
    KH_TEST(test_wrong_key_label_aad),
    KH_TEST(test_tampering),
    KH_TEST(test_malformed),
    KH_TEST(test_unsupported_keys),
    KH_TEST(test_size_limits),
    KH_TEST(test_compressed_keys),
    KH_TEST(test_teardown),
    { 0 },
};

KH_TEST_MAIN("kh_box", tests)
