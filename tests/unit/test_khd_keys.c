/*
 * test_khd_keys.c - key generation, PKCS#8 export/import, SPKI and signing
 * for every Keyholder key type. Every signature is verified by OpenSSL's
 * default provider from the SPKI alone (secp256k1 also by libsecp256k1),
 * every refusal is tested, and allocation hooks check that no freed heap
 * block still holds private key bytes.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <secp256k1.h>

#include "kh_test.h"
#include "khd_keys.h"

/*
 * Freed blocks may hold struct padding OpenSSL copied from the stack; the
 * residue scan reads it on purpose, so tell valgrind it is fine.
 */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif
#ifndef VALGRIND_MAKE_MEM_DEFINED
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

/*- Heap residue hooks ------------------------------------------------
 *
 * Installed before OpenSSL allocates anything. Each free looks for the
 * planted needles (slices of a private key) in the block, then zeroes it,
 * so stale data never survives to cause a false hit later. A hit means
 * someone freed key bytes without cleansing them.
 */
#define NEEDLE_LEN 16
#define MAX_NEEDLES 4

union blk_hdr {
    size_t n;
    max_align_t align;
};

static unsigned char needles[MAX_NEEDLES][NEEDLE_LEN];
static int n_needles;
static atomic_int hook_armed;
static atomic_int residue_hits;
static int hooks_installed;

static void scan_block(const void *p, size_t n)
{
    if (!atomic_load(&hook_armed)) {
        return;
    }
    VALGRIND_MAKE_MEM_DEFINED(p, n);
    for (int i = 0; i < n_needles; i++) {
        if (memmem(p, n, needles[i], NEEDLE_LEN) != NULL) {
            atomic_fetch_add(&residue_hits, 1);
        }
    }
}

static void *hook_malloc(size_t n, const char *file, int line)
{
    union blk_hdr *h = malloc(sizeof(*h) + n);

    (void)file;
    (void)line;
    if (h == NULL) {
        return NULL;
    }
    h->n = n;
    return h + 1;
}

static void hook_free(void *p, const char *file, int line)
{
    union blk_hdr *h;

    (void)file;
    (void)line;
    if (p == NULL) {
        return;
    }
    h = (union blk_hdr *)p - 1;
    scan_block(p, h->n);
    memset(p, 0, h->n);
    free(h);
}

static void *hook_realloc(void *p, size_t n, const char *file, int line)
{
    union blk_hdr *h;
    void *q;

    if (p == NULL) {
        return hook_malloc(n, file, line);
    }
    if (n == 0) {
        hook_free(p, file, line);
        return NULL;
    }
    h = (union blk_hdr *)p - 1;
    if ((q = hook_malloc(n, file, line)) == NULL) {
        return NULL;
    }
    memcpy(q, p, h->n < n ? h->n : n);
    hook_free(p, file, line);
    return q;
}

__attribute__((constructor)) static void install_hooks(void)
{
    hooks_installed =
        CRYPTO_set_mem_functions(hook_malloc, hook_realloc, hook_free);
}

/*- Helpers ---------------------------------------------------------- */

static const uint8_t all_types[] = {
    KH_KEY_RSA2048, KH_KEY_RSA3072, KH_KEY_P256,
    KH_KEY_P384,    KH_KEY_SECP256K1, KH_KEY_ED25519,
};
#define N_TYPES (sizeof(all_types) / sizeof(all_types[0]))

static const uint8_t digests[] = {
    KH_DIGEST_SHA256, KH_DIGEST_SHA384, KH_DIGEST_SHA512,
};

static const uint8_t msg[] = "Keyholder signs this message.";

/* Generated once, shared by the tests, freed by test_cleanup (rsa:4096 is
 * made and freed by its own test). */
static struct khd_key *keys[KH_KEY_TYPE_MAX + 1];
static secp256k1_context *vctx;

static struct khd_key *get_key(uint8_t type)
{
    if (keys[type] == NULL) {
        CU_ASSERT_EQUAL_FATAL(khd_key_generate(type, &keys[type]), 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(keys[type]);
    }
    return keys[type];
}

static struct khd_sign_params sp(uint8_t input, uint8_t digest,
                                 uint8_t padding, uint8_t mgf1,
                                 uint32_t salt)
{
    struct khd_sign_params p = {
        .input = input,
        .digest = digest,
        .padding = padding,
        .mgf1_digest = mgf1,
        .salt_len = salt,
    };

    return p;
}

static const EVP_MD *md_of(uint8_t digest)
{
    switch (digest) {
    case KH_DIGEST_SHA256:
        return EVP_sha256();
    case KH_DIGEST_SHA384:
        return EVP_sha384();
    case KH_DIGEST_SHA512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

static size_t spki_of(const struct khd_key *k, uint8_t *out, size_t outsz)
{
    size_t n = 0;

    CU_ASSERT_EQUAL(khd_key_public_spki(k, out, outsz, &n), 0);
    return n;
}

static EVP_PKEY *pub_of(const struct khd_key *k)
{
    uint8_t spki[KH_MAX_SPKI_LEN];
    size_t n = spki_of(k, spki, sizeof(spki));
    const unsigned char *p = spki;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)n);

    CU_ASSERT_PTR_NOT_NULL(pub);
    CU_ASSERT_PTR_EQUAL(p, spki + n);
    return pub;
}

/* What a verifier sets for a signing salt length. */
static int verify_salt(uint32_t salt)
{
    if (salt == KH_PSS_SALT_DIGEST) {
        return RSA_PSS_SALTLEN_DIGEST;
    }
    if (salt == KH_PSS_SALT_MAX) {
        return RSA_PSS_SALTLEN_AUTO;
    }
    return (int)salt;
}

static int set_rsa(EVP_PKEY_CTX *ctx, int padding, const EVP_MD *mgf1,
                   int salt)
{
    if (padding == KH_PAD_PKCS1) {
        return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0;
    }
    return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, mgf1) > 0;
}

/*
 * OpenSSL's verdict, 1 or 0. With |md| set and |is_digest|, |data| is the
 * digest (EVP_PKEY_verify); else the message (EVP_DigestVerify).
 */
static int ossl_verify(EVP_PKEY *pub, int is_digest, const EVP_MD *md,
                       int padding, const EVP_MD *mgf1, int salt,
                       const uint8_t *data, size_t len, const uint8_t *sig,
                       size_t siglen)
{
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    int rsa = EVP_PKEY_is_a(pub, "RSA");
    int ok = 0;

    if (is_digest) {
        ok = (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL)) != NULL &&
             EVP_PKEY_verify_init(ctx) > 0 &&
             EVP_PKEY_CTX_set_signature_md(ctx, md) > 0 &&
             (!rsa || set_rsa(ctx, padding, mgf1, salt)) &&
             EVP_PKEY_verify(ctx, sig, siglen, data, len) == 1;
        EVP_PKEY_CTX_free(ctx);
    } else {
        ok = (mctx = EVP_MD_CTX_new()) != NULL &&
             EVP_DigestVerifyInit(mctx, &ctx, md, NULL, pub) > 0 &&
             (!rsa || set_rsa(ctx, padding, mgf1, salt)) &&
             EVP_DigestVerify(mctx, sig, siglen, data, len) == 1;
        EVP_MD_CTX_free(mctx);
    }
    return ok;
}

/* libsecp256k1's verdict on a DER signature; also requires low-S. */
static int k1_verify(const uint8_t *spki, size_t spki_len, uint8_t digest,
                     const uint8_t *m, size_t mlen, const uint8_t *sig,
                     size_t siglen)
{
    secp256k1_pubkey pk;
    secp256k1_ecdsa_signature s, norm;
    uint8_t h[EVP_MAX_MD_SIZE];

    if (spki_len != 88 ||
        !secp256k1_ec_pubkey_parse(vctx, &pk, spki + 23, 65) ||
        !secp256k1_ecdsa_signature_parse_der(vctx, &s, sig, siglen) ||
        !EVP_Digest(m, mlen, h, NULL, md_of(digest), NULL)) {
        return 0;
    }
    /* Returns 1 only if it had to lower S. */
    if (secp256k1_ecdsa_signature_normalize(vctx, &norm, &s) != 0) {
        return 0;
    }
    /* bits2int: leftmost 32 bytes. */
    return secp256k1_ecdsa_verify(vctx, &s, h, &pk);
}

/*
 * Signs |m| (or its digest, by p->input) and checks the signature every way
 * we can: OpenSSL on the message and on the digest, libsecp256k1 for
 * secp256k1, and that a one-bit change makes OpenSSL refuse it. The
 * signature is left in |sig| / |*siglen| for further checks.
 */
static void sign_check_into(struct khd_key *k,
                            const struct khd_sign_params *p,
                            const uint8_t *m, size_t mlen, uint8_t *sig,
                            size_t *siglen)
{
    const EVP_MD *md = md_of(p->digest);
    const EVP_MD *mgf1 = p->mgf1_digest != KH_DIGEST_NONE
                             ? md_of(p->mgf1_digest)
                             : md;
    int salt = verify_salt(p->salt_len);
    uint8_t h[EVP_MAX_MD_SIZE];
    unsigned int hlen = 0;
    uint8_t spki[KH_MAX_SPKI_LEN];
    size_t spki_len;
    EVP_PKEY *pub = pub_of(k);
    int rc;

    CU_ASSERT_PTR_NOT_NULL_FATAL(pub);
    if (md != NULL) {
        CU_ASSERT_FATAL(EVP_Digest(m, mlen, h, &hlen, md, NULL) == 1);
    }
    *siglen = KH_MAX_SIG_LEN;
    if (p->input == KH_INPUT_DIGEST) {
        rc = khd_key_sign(k, p, h, hlen, sig, siglen);
    } else {
        rc = khd_key_sign(k, p, m, mlen, sig, siglen);
    }
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) {
        EVP_PKEY_free(pub);
        return;
    }
    CU_ASSERT(*siglen > 0 && *siglen <= KH_MAX_SIG_LEN);
    CU_ASSERT_EQUAL(ossl_verify(pub, 0, md, p->padding, mgf1, salt, m, mlen,
                                sig, *siglen),
                    1);
    if (md != NULL) {
        CU_ASSERT_EQUAL(ossl_verify(pub, 1, md, p->padding, mgf1, salt, h,
                                    hlen, sig, *siglen),
                        1);
    }
    if (khd_key_type(k) == KH_KEY_SECP256K1) {
        spki_len = spki_of(k, spki, sizeof(spki));
        CU_ASSERT_EQUAL(k1_verify(spki, spki_len, p->digest, m, mlen, sig,
                                  *siglen),
                        1);
    }
    /* The check can fail: a flipped bit must be refused. */
    sig[*siglen - 1] ^= 0x01;
    CU_ASSERT_EQUAL(ossl_verify(pub, 0, md, p->padding, mgf1, salt, m, mlen,
                                sig, *siglen),
                    0);
    sig[*siglen - 1] ^= 0x01;
    EVP_PKEY_free(pub);
}

static void sign_check(struct khd_key *k, struct khd_sign_params p)
{
    uint8_t sig[KH_MAX_SIG_LEN];
    size_t siglen;

    sign_check_into(k, &p, msg, sizeof(msg), sig, &siglen);
}

/* Each digest, message and digest input. */
static void sign_all_digests(struct khd_key *k, uint8_t padding,
                             uint32_t salt)
{
    for (size_t i = 0; i < sizeof(digests); i++) {
        sign_check(k, sp(KH_INPUT_MESSAGE, digests[i], padding, 0, salt));
        sign_check(k, sp(KH_INPUT_DIGEST, digests[i], padding, 0, salt));
    }
}

/*
 * A refused sign call: |want| returned and not one byte of the buffer,
 * including the canary after the |cap| bytes offered, touched.
 */
static void refuse_sign(struct khd_key *k, struct khd_sign_params p,
                        const uint8_t *data, size_t len, size_t cap,
                        int want)
{
    uint8_t buf[KH_MAX_SIG_LEN + 32];
    size_t siglen = cap;
    int clean = 1;

    memset(buf, 0xa5, sizeof(buf));
    CU_ASSERT_FATAL(cap <= KH_MAX_SIG_LEN);
    CU_ASSERT_EQUAL(khd_key_sign(k, &p, data, len, buf, &siglen), want);
    for (size_t i = 0; i < sizeof(buf); i++) {
        clean &= buf[i] == 0xa5;
    }
    CU_ASSERT(clean);
}

static void export_key(const struct khd_key *k, uint8_t **der, size_t *len)
{
    CU_ASSERT_EQUAL_FATAL(khd_key_export_private(k, der, len), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*der);
    CU_ASSERT(*len > 0);
    CU_ASSERT(CRYPTO_secure_allocated(*der));
}

/* Any non-NULL value: a refusing call must reset |*out| to NULL. */
static char sentinel;
#define SENTINEL ((struct khd_key *)(void *)&sentinel)

static void refuse_import(uint8_t type, const uint8_t *der, size_t len,
                          int want)
{
    struct khd_key *k = SENTINEL;

    CU_ASSERT_EQUAL(khd_key_import_private(type, der, len, &k), want);
    CU_ASSERT_PTR_NULL(k);
    if (k != SENTINEL) {
        khd_key_free(k);
    }
}

/* OpenSSL's own PKCS#8 encoding of |pk| (test side only). */
static size_t ossl_pkcs8(EVP_PKEY *pk, uint8_t *out, size_t outsz)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;
    size_t r = 0;

    if (b != NULL && i2d_PKCS8PrivateKey_bio(b, pk, NULL, NULL, 0, NULL,
                                             NULL) == 1 &&
        (n = BIO_get_mem_data(b, &data)) > 0 && (size_t)n <= outsz) {
        memcpy(out, data, (size_t)n);
        r = (size_t)n;
    }
    BIO_free(b);
    return r;
}

/*- Tests ------------------------------------------------------------ */

static void test_setup(void)
{
    CU_ASSERT_FATAL(CRYPTO_secure_malloc_init(1 << 20, 32) != 0);
    CU_ASSERT(CRYPTO_secure_malloc_initialized());
    CU_ASSERT_EQUAL_FATAL(khd_keys_init(), 0);
    CU_ASSERT_EQUAL(khd_keys_init(), 0); /* idempotent */
    vctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(vctx);
}

static void test_generate_all(void)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        uint8_t t = all_types[i];
        struct khd_key *k = get_key(t);
        EVP_PKEY *pub = pub_of(k);
        char group[64] = "";
        BIGNUM *e = NULL;

        CU_ASSERT_EQUAL(khd_key_type(k), t);
        CU_ASSERT_PTR_NOT_NULL_FATAL(pub);
        switch (t) {
        case KH_KEY_RSA2048:
        case KH_KEY_RSA3072:
            CU_ASSERT(EVP_PKEY_is_a(pub, "RSA"));
            CU_ASSERT_EQUAL(EVP_PKEY_get_bits(pub),
                            t == KH_KEY_RSA2048 ? 2048 : 3072);
            CU_ASSERT(EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e));
            CU_ASSERT(e != NULL && BN_is_word(e, 65537));
            BN_free(e);
            break;
        case KH_KEY_P256:
        case KH_KEY_P384:
        case KH_KEY_SECP256K1:
            CU_ASSERT(EVP_PKEY_is_a(pub, "EC"));
            CU_ASSERT(EVP_PKEY_get_group_name(pub, group, sizeof(group),
                                              NULL));
            CU_ASSERT_STRING_EQUAL(group, t == KH_KEY_P256   ? "prime256v1"
                                          : t == KH_KEY_P384 ? "secp384r1"
                                                             : "secp256k1");
            break;
        case KH_KEY_ED25519:
            CU_ASSERT(EVP_PKEY_is_a(pub, "ED25519"));
            break;
        }
        EVP_PKEY_free(pub);
    }
}

/* Our SPKI equals what OpenSSL writes for the same public key. */
static void test_spki(void)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        struct khd_key *k = get_key(all_types[i]);
        uint8_t a[KH_MAX_SPKI_LEN], b[KH_MAX_SPKI_LEN];
        uint8_t *bp = b;
        size_t alen = spki_of(k, a, sizeof(a)), n = 0;
        EVP_PKEY *pub = pub_of(k);

        CU_ASSERT_EQUAL(i2d_PUBKEY(pub, &bp), (int)alen);
        CU_ASSERT(memcmp(a, b, alen) == 0);
        /* Exactly enough room works, one byte less does not. */
        CU_ASSERT_EQUAL(khd_key_public_spki(k, b, alen, &n), 0);
        CU_ASSERT_EQUAL(n, alen);
        CU_ASSERT_EQUAL(khd_key_public_spki(k, b, alen - 1, &n),
                        KH_ERR_NO_SPACE);
        EVP_PKEY_free(pub);
    }
}

static void test_generate_unknown(void)
{
    const uint8_t bad[] = { 0, KH_KEY_TYPE_MAX + 1, 99, 255 };

    for (size_t i = 0; i < sizeof(bad); i++) {
        struct khd_key *k = SENTINEL;

        CU_ASSERT_EQUAL(khd_key_generate(bad[i], &k),
                        KH_ERR_INVALID_ARGUMENT);
        CU_ASSERT_PTR_NULL(k);
    }
}

static void test_sign_rsa_pkcs1(void)
{
    sign_all_digests(get_key(KH_KEY_RSA2048), KH_PAD_PKCS1, 0);
    sign_check(get_key(KH_KEY_RSA3072),
               sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA384, KH_PAD_PKCS1, 0, 0));
    sign_check(get_key(KH_KEY_RSA3072),
               sp(KH_INPUT_DIGEST, KH_DIGEST_SHA256, KH_PAD_PKCS1, 0, 0));
}

static void test_sign_rsa_pss(void)
{
    struct khd_key *k = get_key(KH_KEY_RSA2048);
    const uint32_t salts[] = { KH_PSS_SALT_DIGEST, KH_PSS_SALT_MAX, 0, 20 };

    sign_all_digests(k, KH_PAD_PSS, KH_PSS_SALT_DIGEST);
    for (size_t i = 0; i < sizeof(salts) / sizeof(salts[0]); i++) {
        for (size_t j = 0; j < sizeof(digests); j++) {
            sign_check(k, sp(KH_INPUT_MESSAGE, digests[j], KH_PAD_PSS, 0,
                             salts[i]));
            sign_check(k, sp(KH_INPUT_DIGEST, digests[j], KH_PAD_PSS, 0,
                             salts[i]));
        }
    }
    /* MGF1 different from the digest, both ways, and named the same. */
    sign_check(k, sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA256, KH_PAD_PSS,
                     KH_DIGEST_SHA512, KH_PSS_SALT_DIGEST));
    sign_check(k, sp(KH_INPUT_DIGEST, KH_DIGEST_SHA512, KH_PAD_PSS,
                     KH_DIGEST_SHA256, 20));
    sign_check(k, sp(KH_INPUT_DIGEST, KH_DIGEST_SHA384, KH_PAD_PSS,
                     KH_DIGEST_SHA384, KH_PSS_SALT_MAX));
    sign_check(get_key(KH_KEY_RSA3072),
               sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA512, KH_PAD_PSS,
                  KH_DIGEST_SHA256, KH_PSS_SALT_MAX));
}

/* The PSS options really reach the signature: other settings fail. */
static void test_sign_rsa_pss_options_bind(void)
{
    struct khd_key *k = get_key(KH_KEY_RSA2048);
    EVP_PKEY *pub = pub_of(k);
    struct khd_sign_params p;
    uint8_t sig[KH_MAX_SIG_LEN];
    size_t n;

    /* Explicit 20: verifies with 20 and AUTO, not with 0 or 32. */
    p = sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA256, KH_PAD_PSS, 0, 20);
    sign_check_into(k, &p, msg, sizeof(msg), sig, &n);
    CU_ASSERT_EQUAL(ossl_verify(pub, 0, EVP_sha256(), KH_PAD_PSS,
                                EVP_sha256(), 20, msg, sizeof(msg), sig, n),
                    1);
    CU_ASSERT_EQUAL(ossl_verify(pub, 0, EVP_sha256(), KH_PAD_PSS,
                                EVP_sha256(), 0, msg, sizeof(msg), sig, n),
                    0);
    CU_ASSERT_EQUAL(ossl_verify(pub, 0, EVP_sha256(), KH_PAD_PSS,
                                EVP_sha256(), 32, msg, sizeof(msg), sig, n),
                    0);
    /* Not PKCS#1 v1.5 either. */
    CU_ASSERT_EQUAL(ossl_verify(pub, 0, EVP_sha256(), KH_PAD_PKCS1, NULL, 0,
                                msg, sizeof(msg), sig, n),
                    0);
    /* MAX on RSA-2048 with SHA-256: 256 - 32 - 2 = 222 bytes of salt. */
    p = sp(KH_INPUT_DIGEST, KH_DIGEST_SHA256, KH_PAD_PSS, 0, KH_PSS_SALT_MAX);
    sign_check_into(k, &p, msg, sizeof(msg), sig, &n);
    CU_ASSERT_EQUAL(ossl_verify(pub, 0, EVP_sha256(), KH_PAD_PSS,
                                EVP_sha256(), 222, msg, sizeof(msg), sig, n),
                    1);
    CU_ASSERT_EQUAL(ossl_verify(pub, 0, EVP_sha256(), KH_PAD_PSS,
                                EVP_sha256(), 32, msg, sizeof(msg), sig, n),
                    0);
    /* DIGEST: salt of 48 bytes with SHA-384. */
    p = sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA384, KH_PAD_PSS, 0,
           KH_PSS_SALT_DIGEST);
    sign_check_into(k, &p, msg, sizeof(msg), sig, &n);
    CU_ASSERT_EQUAL(ossl_verify(pub, 0, EVP_sha384(), KH_PAD_PSS,
                                EVP_sha384(), 48, msg, sizeof(msg), sig, n),
                    1);
    /* Explicit salt 222 is the largest RSA-2048/SHA-256 takes. */
    p = sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA256, KH_PAD_PSS, 0, 222);
    sign_check_into(k, &p, msg, sizeof(msg), sig, &n);
    /* MGF1 SHA-512: refused when verified with MGF1 SHA-256. */
    p = sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA256, KH_PAD_PSS, KH_DIGEST_SHA512,
           KH_PSS_SALT_DIGEST);
    sign_check_into(k, &p, msg, sizeof(msg), sig, &n);
    CU_ASSERT_EQUAL(ossl_verify(pub, 0, EVP_sha256(), KH_PAD_PSS,
                                EVP_sha512(), RSA_PSS_SALTLEN_DIGEST, msg,
                                sizeof(msg), sig, n),
                    1);
    CU_ASSERT_EQUAL(ossl_verify(pub, 0, EVP_sha256(), KH_PAD_PSS,
                                EVP_sha256(), RSA_PSS_SALTLEN_DIGEST, msg,
                                sizeof(msg), sig, n),
                    0);
    EVP_PKEY_free(pub);
}

static void test_sign_ec(void)
{
    sign_all_digests(get_key(KH_KEY_P256), KH_PAD_NONE, 0);
    sign_all_digests(get_key(KH_KEY_P384), KH_PAD_NONE, 0);
}

static void test_sign_ed25519(void)
{
    struct khd_key *k = get_key(KH_KEY_ED25519);
    struct khd_sign_params p = sp(KH_INPUT_MESSAGE, KH_DIGEST_NONE,
                                  KH_PAD_NONE, 0, 0);
    uint8_t big[4096], sig[KH_MAX_SIG_LEN], sig2[KH_MAX_SIG_LEN];
    size_t n, n2;

    sign_check(k, p);
    CU_ASSERT_FATAL(RAND_bytes(big, sizeof(big)) == 1);
    sign_check_into(k, &p, big, sizeof(big), sig, &n);
    CU_ASSERT_EQUAL(n, 64);
    sign_check_into(k, &p, big, 1, sig, &n);
    /* The empty message. */
    n = sizeof(sig);
    CU_ASSERT_EQUAL(khd_key_sign(k, &p, NULL, 0, sig, &n), 0);
    CU_ASSERT_EQUAL(n, 64);
    /* Ed25519 is deterministic. */
    sign_check_into(k, &p, msg, sizeof(msg), sig, &n);
    sign_check_into(k, &p, msg, sizeof(msg), sig2, &n2);
    CU_ASSERT(n == n2 && memcmp(sig, sig2, n) == 0);
}

static void test_sign_secp256k1(void)
{
    struct khd_key *k = get_key(KH_KEY_SECP256K1);
    struct khd_sign_params p;
    uint8_t m[64], sig[KH_MAX_SIG_LEN], sig2[KH_MAX_SIG_LEN];
    size_t n, n2;

    sign_all_digests(k, KH_PAD_NONE, 0);
    /* Many messages: each verified by both libraries, each low-S. */
    for (int i = 0; i < 60; i++) {
        CU_ASSERT_FATAL(RAND_bytes(m, sizeof(m)) == 1);
        p = sp(i % 2 ? KH_INPUT_DIGEST : KH_INPUT_MESSAGE,
               digests[i % sizeof(digests)], KH_PAD_NONE, 0, 0);
        sign_check_into(k, &p, m, (size_t)(i % 64), sig, &n);
    }
    /* RFC 6979: same key and digest, same signature; both input modes. */
    p = sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA512, KH_PAD_NONE, 0, 0);
    sign_check_into(k, &p, msg, sizeof(msg), sig, &n);
    p.input = KH_INPUT_DIGEST;
    sign_check_into(k, &p, msg, sizeof(msg), sig2, &n2);
    CU_ASSERT(n == n2 && memcmp(sig, sig2, n) == 0);
}

/* A key from OpenSSL's own PKCS#8 imports with the same public key. */
static void test_import_openssl_pkcs8(void)
{
    EVP_PKEY *pk[4];
    const uint8_t t[4] = { KH_KEY_RSA2048, KH_KEY_P256, KH_KEY_P384,
                           KH_KEY_ED25519 };

    pk[0] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    pk[1] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pk[2] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    pk[3] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    for (int i = 0; i < 4; i++) {
        uint8_t der[4096], a[KH_MAX_SPKI_LEN], b[KH_MAX_SPKI_LEN];
        uint8_t *bp = b;
        size_t n, alen;
        struct khd_key *k = NULL;

        CU_ASSERT_PTR_NOT_NULL_FATAL(pk[i]);
        n = ossl_pkcs8(pk[i], der, sizeof(der));
        CU_ASSERT_FATAL(n > 0);
        CU_ASSERT_EQUAL_FATAL(khd_key_import_private(t[i], der, n, &k), 0);
        alen = spki_of(k, a, sizeof(a));
        CU_ASSERT_EQUAL(i2d_PUBKEY(pk[i], &bp), (int)alen);
        CU_ASSERT(memcmp(a, b, alen) == 0);
        sign_check(k, t[i] == KH_KEY_ED25519
                          ? sp(KH_INPUT_MESSAGE, 0, 0, 0, 0)
                      : t[i] == KH_KEY_RSA2048
                          ? sp(KH_INPUT_DIGEST, KH_DIGEST_SHA256,
                               KH_PAD_PSS, 0, KH_PSS_SALT_DIGEST)
                          : sp(KH_INPUT_DIGEST, KH_DIGEST_SHA384, 0, 0, 0));
        khd_key_free(k);
        EVP_PKEY_free(pk[i]);
        OPENSSL_cleanse(der, sizeof(der));
    }
}

/* Export, import, same SPKI, the copy signs, the export is OpenSSL's. */
static void roundtrip(const struct khd_key *k)
{
    uint8_t *der = NULL, *der2 = NULL;
    size_t len = 0, len2 = 0;
    uint8_t a[KH_MAX_SPKI_LEN], b[KH_MAX_SPKI_LEN], ref[4096];
    size_t alen, blen;
    struct khd_key *k2 = NULL;
    uint8_t t = khd_key_type(k);
    const unsigned char *p;
    EVP_PKEY *pk;
    struct khd_sign_params params;

    export_key(k, &der, &len);
    if (t == KH_KEY_SECP256K1) {
        CU_ASSERT_EQUAL(len, 32);
    } else {
        /* OpenSSL reads our PKCS#8 and would write the very same bytes. */
        p = der;
        pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(pk);
        CU_ASSERT_PTR_EQUAL(p, der + len);
        CU_ASSERT_EQUAL(ossl_pkcs8(pk, ref, sizeof(ref)), len);
        CU_ASSERT(memcmp(ref, der, len) == 0);
        OPENSSL_cleanse(ref, sizeof(ref));
        EVP_PKEY_free(pk);
    }
    CU_ASSERT_EQUAL_FATAL(khd_key_import_private(t, der, len, &k2), 0);
    CU_ASSERT_EQUAL(khd_key_type(k2), t);
    alen = spki_of(k, a, sizeof(a));
    blen = spki_of(k2, b, sizeof(b));
    CU_ASSERT(alen == blen && memcmp(a, b, alen) == 0);
    /* Export again: identical bytes. */
    export_key(k2, &der2, &len2);
    CU_ASSERT(len == len2 && memcmp(der, der2, len) == 0);
    if (t == KH_KEY_ED25519) {
        params = sp(KH_INPUT_MESSAGE, 0, 0, 0, 0);
    } else if (kh_key_type_is_rsa(t)) {
        params = sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA256, KH_PAD_PSS, 0,
                    KH_PSS_SALT_MAX);
    } else {
        params = sp(KH_INPUT_DIGEST, KH_DIGEST_SHA256, 0, 0, 0);
    }
    sign_check(k2, params); /* verified against k2's SPKI == k's SPKI */
    khd_key_free(k2);
    OPENSSL_secure_clear_free(der, len);
    OPENSSL_secure_clear_free(der2, len2);
}

static void test_roundtrip(void)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        roundtrip(get_key(all_types[i]));
    }
}

/* The one RSA-4096 key: generate, sign both ways, round trip. */
static void test_rsa4096(void)
{
    struct khd_key *k = NULL;
    EVP_PKEY *pub;

    CU_ASSERT_EQUAL_FATAL(khd_key_generate(KH_KEY_RSA4096, &k), 0);
    pub = pub_of(k);
    CU_ASSERT_EQUAL(EVP_PKEY_get_bits(pub), 4096);
    EVP_PKEY_free(pub);
    sign_check(k, sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA512, KH_PAD_PSS, 0,
                     KH_PSS_SALT_MAX));
    sign_check(k, sp(KH_INPUT_DIGEST, KH_DIGEST_SHA256, KH_PAD_PKCS1, 0, 0));
    roundtrip(k);
    khd_key_free(k);
}

static void test_import_wrong_label(void)
{
    const struct {
        uint8_t from, as;
    } cases[] = {
        { KH_KEY_RSA2048, KH_KEY_RSA3072 },
        { KH_KEY_RSA2048, KH_KEY_RSA4096 },
        { KH_KEY_RSA3072, KH_KEY_RSA2048 },
        { KH_KEY_P384, KH_KEY_P256 },
        { KH_KEY_P256, KH_KEY_P384 },
        { KH_KEY_ED25519, KH_KEY_P256 },
        { KH_KEY_P256, KH_KEY_ED25519 },
        { KH_KEY_RSA2048, KH_KEY_P256 },
        { KH_KEY_P256, KH_KEY_RSA2048 },
        { KH_KEY_ED25519, KH_KEY_RSA2048 },
        { KH_KEY_P256, KH_KEY_SECP256K1 },
        { KH_KEY_ED25519, KH_KEY_SECP256K1 },
        { KH_KEY_SECP256K1, KH_KEY_ED25519 },
        { KH_KEY_SECP256K1, KH_KEY_P256 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *der = NULL;
        size_t len = 0;

        export_key(get_key(cases[i].from), &der, &len);
        refuse_import(cases[i].as, der, len, KH_ERR_TAMPERED);
        OPENSSL_secure_clear_free(der, len);
    }
}

static void test_import_malformed(void)
{
    const uint8_t t[] = { KH_KEY_RSA2048, KH_KEY_P256, KH_KEY_P384,
                          KH_KEY_ED25519 };
    uint8_t junk[512];

    CU_ASSERT_FATAL(RAND_bytes(junk, sizeof(junk)) == 1);
    for (size_t i = 0; i < sizeof(t); i++) {
        uint8_t *der = NULL, *bad;
        size_t len = 0, hdr;

        /* Garbage of several lengths, and nothing at all. */
        refuse_import(t[i], junk, sizeof(junk), KH_ERR_TAMPERED);
        refuse_import(t[i], junk, 48, KH_ERR_TAMPERED);
        refuse_import(t[i], junk, 0, KH_ERR_TAMPERED);
        refuse_import(t[i], NULL, 0, KH_ERR_TAMPERED);
        export_key(get_key(t[i]), &der, &len);
        /* Every truncation. */
        for (size_t n = 0; n < len; n++) {
            refuse_import(t[i], der, n, KH_ERR_TAMPERED);
        }
        bad = OPENSSL_secure_malloc(len + 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
        /* A trailing byte. */
        memcpy(bad, der, len);
        bad[len] = 0;
        refuse_import(t[i], bad, len + 1, KH_ERR_TAMPERED);
        /*
         * Every single-bit change in the first 40 bytes: headers, AlgId and
         * the start of the RSA modulus or EC scalar (which then no longer
         * match the rest). An Ed25519 key has no redundancy: any 32-byte
         * seed is a key, so only its 16 header bytes count.
         */
        hdr = t[i] == KH_KEY_ED25519 ? 16 : 40;
        for (size_t n = 0; n < hdr * 8; n++) {
            memcpy(bad, der, len);
            bad[n / 8] ^= (uint8_t)(1u << (n % 8));
            refuse_import(t[i], bad, len, KH_ERR_TAMPERED);
        }
        /* The last byte: RSA qInv, EC public point, Ed25519 seed (which
         * still is a valid, other key: Ed25519 has no redundancy). */
        memcpy(bad, der, len);
        bad[len - 1] ^= 0x01;
        if (t[i] != KH_KEY_ED25519) {
            refuse_import(t[i], bad, len, KH_ERR_TAMPERED);
        }
        OPENSSL_secure_clear_free(bad, len + 1);
        OPENSSL_secure_clear_free(der, len);
    }
    refuse_import(0, junk, 32, KH_ERR_INVALID_ARGUMENT);
    refuse_import(99, junk, 32, KH_ERR_INVALID_ARGUMENT);
}

/* An EC private key that does not match its public point is refused. */
static void test_import_ec_mismatch(void)
{
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    struct khd_key *other = NULL;

    CU_ASSERT_EQUAL_FATAL(khd_key_generate(KH_KEY_P256, &other), 0);
    export_key(get_key(KH_KEY_P256), &a, &alen);
    export_key(other, &b, &blen);
    CU_ASSERT_FATAL(alen == blen && alen == 138);
    /* PKCS#8 and ECPrivateKey headers take 36 bytes: scalar at 36..67. */
    memcpy(a + 36, b + 36, 32);
    refuse_import(KH_KEY_P256, a, alen, KH_ERR_TAMPERED);
    /* The scalar set to the group order n (out of range). */
    {
        static const uint8_t n256[32] = {
            0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
            0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
        };

        memcpy(a + 36, n256, 32);
        refuse_import(KH_KEY_P256, a, alen, KH_ERR_TAMPERED);
    }
    /* Unchanged, b imports (the offsets above are right). */
    {
        struct khd_key *k = NULL;

        CU_ASSERT_EQUAL(khd_key_import_private(KH_KEY_P256, b, blen, &k), 0);
        khd_key_free(k);
    }
    OPENSSL_secure_clear_free(a, alen);
    OPENSSL_secure_clear_free(b, blen);
    khd_key_free(other);
}

static void test_import_secp256k1_refusals(void)
{
    /* The group order n. */
    static const uint8_t n[32] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
        0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
    };
    uint8_t s[33];
    struct khd_key *k = NULL;

    memset(s, 0, sizeof(s));
    refuse_import(KH_KEY_SECP256K1, s, 32, KH_ERR_TAMPERED); /* zero */
    s[31] = 1;
    refuse_import(KH_KEY_SECP256K1, s, 31, KH_ERR_TAMPERED);
    refuse_import(KH_KEY_SECP256K1, s, 33, KH_ERR_TAMPERED);
    refuse_import(KH_KEY_SECP256K1, s, 0, KH_ERR_TAMPERED);
    refuse_import(KH_KEY_SECP256K1, NULL, 32, KH_ERR_TAMPERED);
    refuse_import(KH_KEY_SECP256K1, n, 32, KH_ERR_TAMPERED);
    memset(s, 0xff, sizeof(s));
    refuse_import(KH_KEY_SECP256K1, s, 32, KH_ERR_TAMPERED);
    /* n - 1 and 1 are the extreme valid secrets. */
    memcpy(s, n, 32);
    s[31]--;
    CU_ASSERT_EQUAL(khd_key_import_private(KH_KEY_SECP256K1, s, 32, &k), 0);
    sign_check(k, sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA256, 0, 0, 0));
    khd_key_free(k);
    k = NULL;
    memset(s, 0, sizeof(s));
    s[31] = 1;
    CU_ASSERT_EQUAL(khd_key_import_private(KH_KEY_SECP256K1, s, 32, &k), 0);
    sign_check(k, sp(KH_INPUT_DIGEST, KH_DIGEST_SHA384, 0, 0, 0));
    khd_key_free(k);
}

static void test_sign_refusals(void)
{
    struct khd_key *rsa = get_key(KH_KEY_RSA2048);
    struct khd_key *ec = get_key(KH_KEY_P256);
    struct khd_key *k1 = get_key(KH_KEY_SECP256K1);
    struct khd_key *ed = get_key(KH_KEY_ED25519);
    struct khd_key *all[] = { rsa, ec, get_key(KH_KEY_P384), k1, ed };
    uint8_t d[64];
    const size_t cap = KH_MAX_SIG_LEN;
    const int inv = KH_ERR_INVALID_ARGUMENT, uns = KH_ERR_UNSUPPORTED;

    /*
     * Terse on purpose: sp(input, digest, padding, mgf1, salt) with input
     * 1 message / 2 digest, digest 0 none / 1..3 SHA-256..512, padding
     * 0 none / 1 PKCS#1 / 2 PSS.
     */
    memset(d, 0x42, sizeof(d));
    /* Digest length must match the digest. */
    refuse_sign(rsa, sp(2, 1, 1, 0, 0), d, 31, cap, inv);
    refuse_sign(rsa, sp(2, 1, 2, 0, KH_PSS_SALT_DIGEST), d, 48, cap, inv);
    refuse_sign(ec, sp(2, 1, 0, 0, 0), d, 33, cap, inv);
    refuse_sign(ec, sp(2, 2, 0, 0, 0), d, 32, cap, inv);
    refuse_sign(k1, sp(2, 3, 0, 0, 0), d, 32, cap, inv);
    refuse_sign(k1, sp(2, 1, 0, 0, 0), d, 0, cap, inv);
    /* Digest NONE for RSA and EC. */
    refuse_sign(rsa, sp(1, 0, 1, 0, 0), msg, sizeof(msg), cap, uns);
    refuse_sign(rsa, sp(2, 0, 2, 0, 0), d, 32, cap, uns);
    refuse_sign(ec, sp(1, 0, 0, 0, 0), msg, sizeof(msg), cap, uns);
    refuse_sign(ec, sp(2, 0, 0, 0, 0), d, 32, cap, uns);
    refuse_sign(k1, sp(1, 0, 0, 0, 0), msg, sizeof(msg), cap, uns);
    /* Ed25519: no digest input, no digest named, no padding. */
    refuse_sign(ed, sp(2, 1, 0, 0, 0), d, 32, cap, uns);
    refuse_sign(ed, sp(2, 0, 0, 0, 0), d, 32, cap, uns);
    refuse_sign(ed, sp(1, 1, 0, 0, 0), msg, sizeof(msg), cap, uns);
    refuse_sign(ed, sp(1, 3, 0, 0, 0), msg, sizeof(msg), cap, uns);
    refuse_sign(ed, sp(1, 0, 1, 0, 0), msg, sizeof(msg), cap, uns);
    /* Padding on EC; no padding on RSA. */
    refuse_sign(ec, sp(1, 1, 1, 0, 0), msg, sizeof(msg), cap, uns);
    refuse_sign(ec, sp(2, 1, 2, 0, 0), d, 32, cap, uns);
    refuse_sign(k1, sp(1, 1, 1, 0, 0), msg, sizeof(msg), cap, uns);
    refuse_sign(k1, sp(2, 1, 2, 0, 0), d, 32, cap, uns);
    refuse_sign(rsa, sp(1, 1, 0, 0, 0), msg, sizeof(msg), cap, uns);
    refuse_sign(rsa, sp(2, 1, 0, 0, 0), d, 32, cap, uns);
    /* PSS salt too long for the key, or beyond the explicit range. */
    refuse_sign(rsa, sp(1, 1, 2, 0, 223), msg, sizeof(msg), cap, inv);
    refuse_sign(rsa, sp(1, 3, 2, 0, 191), msg, sizeof(msg), cap, inv);
    refuse_sign(rsa, sp(1, 1, 2, 0, 0x10000), msg, sizeof(msg), cap, inv);
    refuse_sign(rsa, sp(1, 1, 2, 0, 0xfffffffdu), msg, sizeof(msg), cap,
                inv);
    /* Values outside the enums, on every key type. */
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        refuse_sign(all[i], sp(1, 9, 0, 0, 0), msg, sizeof(msg), cap, inv);
        refuse_sign(all[i], sp(2, 9, 1, 0, 0), d, 32, cap, inv);
        refuse_sign(all[i], sp(1, 4, 0, 0, 0), msg, sizeof(msg), cap, inv);
        refuse_sign(all[i], sp(0, 1, 0, 0, 0), msg, sizeof(msg), cap, inv);
        refuse_sign(all[i], sp(3, 1, 0, 0, 0), d, 32, cap, inv);
        refuse_sign(all[i], sp(1, 1, 3, 0, 0), msg, sizeof(msg), cap, inv);
        refuse_sign(all[i], sp(1, 1, 2, 9, 0), msg, sizeof(msg), cap, inv);
        refuse_sign(all[i], sp(1, 1, 0, 0, 0), NULL, 5, cap, inv);
    }
    /* A signature buffer one byte short of the largest signature. */
    refuse_sign(rsa, sp(1, 1, 1, 0, 0), msg, sizeof(msg), 255,
                KH_ERR_NO_SPACE);
    refuse_sign(rsa, sp(2, 1, 2, 0, 0), d, 32, 0, KH_ERR_NO_SPACE);
    refuse_sign(ec, sp(1, 1, 0, 0, 0), msg, sizeof(msg), 71,
                KH_ERR_NO_SPACE);
    refuse_sign(get_key(KH_KEY_P384), sp(2, 2, 0, 0, 0), d, 48, 103,
                KH_ERR_NO_SPACE);
    refuse_sign(k1, sp(1, 1, 0, 0, 0), msg, sizeof(msg), 71,
                KH_ERR_NO_SPACE);
    refuse_sign(ed, sp(1, 0, 0, 0, 0), msg, sizeof(msg), 63,
                KH_ERR_NO_SPACE);
    refuse_sign(ed, sp(1, 0, 0, 0, 0), msg, sizeof(msg), 0, KH_ERR_NO_SPACE);
}

/* Exactly the largest signature size is enough. */
static void test_sign_exact_capacity(void)
{
    const struct {
        uint8_t type;
        size_t cap;
    } c[] = {
        { KH_KEY_RSA2048, 256 }, { KH_KEY_P256, 72 }, { KH_KEY_P384, 104 },
        { KH_KEY_SECP256K1, 72 }, { KH_KEY_ED25519, 64 },
    };

    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        struct khd_sign_params p = sp(1, KH_DIGEST_SHA256, 0, 0, 0);
        uint8_t buf[KH_MAX_SIG_LEN];
        size_t n = c[i].cap;

        if (c[i].type == KH_KEY_ED25519) {
            p.digest = KH_DIGEST_NONE;
        } else if (c[i].type == KH_KEY_RSA2048) {
            p.padding = KH_PAD_PKCS1;
        }
        memset(buf, 0xa5, sizeof(buf));
        CU_ASSERT_EQUAL(khd_key_sign(get_key(c[i].type), &p, msg, sizeof(msg),
                                     buf, &n),
                        0);
        CU_ASSERT(n <= c[i].cap);
        CU_ASSERT_EQUAL(buf[c[i].cap], 0xa5);
    }
}

/*- Concurrency ------------------------------------------------------ */

#define N_THREADS 4
#define N_PER_THREAD 20

static const uint8_t thread_types[] = { KH_KEY_P256, KH_KEY_SECP256K1,
                                        KH_KEY_RSA2048, KH_KEY_ED25519 };
#define N_THREAD_TYPES sizeof(thread_types)
/* Made by the main thread: CUnit assertions are not thread-safe. */
static EVP_PKEY *thread_pubs[N_THREAD_TYPES];
static atomic_int thread_failures;

static void *signer(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    for (int i = 0; i < N_PER_THREAD; i++) {
        size_t w = (id + (size_t)i) % N_THREAD_TYPES;
        uint8_t t = thread_types[w];
        struct khd_sign_params p = sp(1, KH_DIGEST_SHA256, 0, 0, 0);
        uint8_t m[32], sig[KH_MAX_SIG_LEN];
        size_t n = sizeof(sig);

        if (t == KH_KEY_ED25519) {
            p.digest = KH_DIGEST_NONE;
        } else if (t == KH_KEY_RSA2048) {
            p.padding = KH_PAD_PSS;
            p.salt_len = KH_PSS_SALT_DIGEST;
        }
        memset(m, (int)(id * 31 + (uintptr_t)i), sizeof(m));
        if (khd_key_sign(keys[t], &p, m, sizeof(m), sig, &n) != 0 ||
            ossl_verify(thread_pubs[w], 0, md_of(p.digest), p.padding,
                        md_of(p.digest), RSA_PSS_SALTLEN_DIGEST, m,
                        sizeof(m), sig, n) != 1) {
            atomic_fetch_add(&thread_failures, 1);
        }
    }
    return NULL;
}

static void test_concurrent_sign(void)
{
    pthread_t th[N_THREADS];

    for (size_t i = 0; i < N_THREAD_TYPES; i++) {
        thread_pubs[i] = pub_of(get_key(thread_types[i]));
        CU_ASSERT_PTR_NOT_NULL_FATAL(thread_pubs[i]);
    }
    for (uintptr_t i = 0; i < N_THREADS; i++) {
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, signer, (void *)i),
                              0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        CU_ASSERT_EQUAL(pthread_join(th[i], NULL), 0);
    }
    CU_ASSERT_EQUAL(atomic_load(&thread_failures), 0);
    for (size_t i = 0; i < N_THREAD_TYPES; i++) {
        EVP_PKEY_free(thread_pubs[i]);
        thread_pubs[i] = NULL;
    }
}

/*
 * Signing contexts are pooled per key and parameter set (khd_keys.c): many
 * signatures with interleaved parameter sets must each come out exactly as
 * asked (a PSS context reused for PKCS#1, a salt or digest of a previous
 * call, would fail the exact verification in sign_check()).
 */
static void test_sign_ctx_reuse(void)
{
    const struct {
        uint8_t type;
        struct khd_sign_params p;
    } mix[] = {
        { KH_KEY_RSA2048, sp(KH_INPUT_DIGEST, KH_DIGEST_SHA256, KH_PAD_PKCS1,
                             0, 0) },
        { KH_KEY_RSA2048, sp(KH_INPUT_DIGEST, KH_DIGEST_SHA256, KH_PAD_PSS, 0,
                             KH_PSS_SALT_DIGEST) },
        { KH_KEY_RSA2048, sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA256, KH_PAD_PSS,
                             KH_DIGEST_SHA512, 20) },
        { KH_KEY_RSA2048, sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA384, KH_PAD_PSS, 0,
                             KH_PSS_SALT_MAX) },
        { KH_KEY_RSA2048, sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA512, KH_PAD_PKCS1,
                             0, 0) },
        { KH_KEY_P256, sp(KH_INPUT_DIGEST, KH_DIGEST_SHA256, 0, 0, 0) },
        { KH_KEY_P256, sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA384, 0, 0, 0) },
        { KH_KEY_P256, sp(KH_INPUT_DIGEST, KH_DIGEST_SHA512, 0, 0, 0) },
        { KH_KEY_ED25519, sp(KH_INPUT_MESSAGE, KH_DIGEST_NONE, 0, 0, 0) },
    };

    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++) {
            sign_check(get_key(mix[i].type), mix[i].p);
        }
    }
}

/*- Heap residue ----------------------------------------------------- */

static void plant_bn(const EVP_PKEY *pk, const char *name)
{
    BIGNUM *bn = NULL;
    uint8_t b[600];
    int n;

    CU_ASSERT_FATAL(EVP_PKEY_get_bn_param(pk, name, &bn) == 1);
    n = BN_bn2bin(bn, b);
    CU_ASSERT_FATAL(n >= 2 * NEEDLE_LEN && n_needles < MAX_NEEDLES);
    memcpy(needles[n_needles++], b + n / 2 - NEEDLE_LEN / 2, NEEDLE_LEN);
    OPENSSL_cleanse(b, sizeof(b));
    BN_clear_free(bn);
}

/* Slices of |k|'s private key become the needles. */
static void plant(const struct khd_key *k)
{
    uint8_t *der = NULL;
    size_t len = 0;
    const unsigned char *p;
    EVP_PKEY *pk;
    uint8_t raw[32];
    size_t rawlen = sizeof(raw);

    n_needles = 0;
    export_key(k, &der, &len);
    if (khd_key_type(k) == KH_KEY_SECP256K1) {
        memcpy(needles[n_needles++], der + 8, NEEDLE_LEN);
    } else {
        p = der;
        pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(pk);
        if (EVP_PKEY_is_a(pk, "RSA")) {
            plant_bn(pk, OSSL_PKEY_PARAM_RSA_D);
            plant_bn(pk, OSSL_PKEY_PARAM_RSA_FACTOR1);
            plant_bn(pk, OSSL_PKEY_PARAM_RSA_FACTOR2);
        } else if (EVP_PKEY_is_a(pk, "EC")) {
            plant_bn(pk, OSSL_PKEY_PARAM_PRIV_KEY);
        } else {
            CU_ASSERT(EVP_PKEY_get_raw_private_key(pk, raw, &rawlen) == 1);
            memcpy(needles[n_needles++], raw + 8, NEEDLE_LEN);
            OPENSSL_cleanse(raw, sizeof(raw));
        }
        EVP_PKEY_free(pk);
    }
    OPENSSL_secure_clear_free(der, len);
}

/*
 * Export, import, sign with the copy and free everything while the hooks
 * watch: no freed normal-heap block may hold the key, and the secure heap
 * must be back where it was.
 */
static void test_no_key_residue(void)
{
    CU_ASSERT_FATAL(hooks_installed);
    for (size_t i = 0; i < N_TYPES; i++) {
        struct khd_key *k = get_key(all_types[i]), *k2 = NULL;
        uint8_t *der = NULL;
        uint8_t sig[KH_MAX_SIG_LEN];
        size_t len = 0, n = sizeof(sig), used;
        struct khd_sign_params p = sp(1, KH_DIGEST_SHA256, 0, 0, 0);
        uint8_t t = all_types[i];

        if (t == KH_KEY_ED25519) {
            p.digest = KH_DIGEST_NONE;
        } else if (kh_key_type_is_rsa(t)) {
            p.padding = KH_PAD_PSS;
            p.salt_len = KH_PSS_SALT_DIGEST;
        }
        plant(k);
        used = CRYPTO_secure_used();
        atomic_store(&residue_hits, 0);
        atomic_store(&hook_armed, 1);
        CU_ASSERT_EQUAL(khd_key_export_private(k, &der, &len), 0);
        CU_ASSERT_EQUAL(khd_key_import_private(t, der, len, &k2), 0);
        CU_ASSERT_EQUAL(khd_key_sign(k2, &p, msg, sizeof(msg), sig, &n), 0);
        khd_key_free(k2);
        OPENSSL_secure_clear_free(der, len);
        atomic_store(&hook_armed, 0);
        CU_ASSERT_EQUAL(atomic_load(&residue_hits), 0);
        CU_ASSERT_EQUAL(CRYPTO_secure_used(), used);
        if (atomic_load(&residue_hits) != 0) {
            fprintf(stderr, "\n  key bytes of %s left in freed heap\n",
                    kh_key_type_name(t));
        }
    }
    /* The detector itself works: OpenSSL's encoder does leave copies. */
    {
        struct khd_key *k = get_key(KH_KEY_P256);
        uint8_t *der = NULL, ref[512];
        size_t len = 0;
        const unsigned char *p;
        EVP_PKEY *pk;

        plant(k);
        export_key(k, &der, &len);
        p = der;
        atomic_store(&residue_hits, 0);
        atomic_store(&hook_armed, 1);
        pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
        CU_ASSERT(ossl_pkcs8(pk, ref, sizeof(ref)) == len);
        EVP_PKEY_free(pk);
        atomic_store(&hook_armed, 0);
        CU_ASSERT(atomic_load(&residue_hits) > 0);
        OPENSSL_cleanse(ref, sizeof(ref));
        OPENSSL_secure_clear_free(der, len);
    }
    n_needles = 0;
}

static void test_cleanup(void)
{
    struct khd_key *k = NULL;

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        khd_key_free(keys[i]);
        keys[i] = NULL;
    }
    khd_key_free(NULL);
    khd_keys_cleanup();
    khd_keys_cleanup(); /* twice is fine */
    /* Without the context secp256k1 fails cleanly... */
    CU_ASSERT_EQUAL(khd_key_generate(KH_KEY_SECP256K1, &k), KH_ERR_INTERNAL);
    CU_ASSERT_PTR_NULL(k);
    /* ...and init after cleanup works again. */
    CU_ASSERT_EQUAL_FATAL(khd_keys_init(), 0);
    CU_ASSERT_EQUAL(khd_key_generate(KH_KEY_SECP256K1, &k), 0);
    sign_check(k, sp(KH_INPUT_MESSAGE, KH_DIGEST_SHA256, 0, 0, 0));
    khd_key_free(k);
    khd_keys_cleanup();
    secp256k1_context_destroy(vctx);
    vctx = NULL;
}

static const struct kh_test tests[] = {
    KH_TEST(test_setup),
    KH_TEST(test_generate_all),
    KH_TEST(test_spki),
    KH_TEST(test_generate_unknown),
    KH_TEST(test_sign_rsa_pkcs1),
    KH_TEST(test_sign_rsa_pss),
    KH_TEST(test_sign_rsa_pss_options_bind),
    KH_TEST(test_sign_ec),
    KH_TEST(test_sign_ed25519),
    KH_TEST(test_sign_secp256k1),
    KH_TEST(test_import_openssl_pkcs8),
    KH_TEST(test_roundtrip),
    KH_TEST(test_rsa4096),
    KH_TEST(test_import_wrong_label),
    KH_TEST(test_import_malformed),
    KH_TEST(test_import_ec_mismatch),
    KH_TEST(test_import_secp256k1_refusals),
    KH_TEST(test_sign_refusals),
    KH_TEST(test_sign_exact_capacity),
    KH_TEST(test_concurrent_sign),
    KH_TEST(test_sign_ctx_reuse),
    KH_TEST(test_no_key_residue),
    KH_TEST(test_cleanup),
    { 0 },
};

KH_TEST_MAIN("khd_keys", tests)
