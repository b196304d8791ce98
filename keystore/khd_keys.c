#include "khd_keys.h"

#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "khd_secp256k1.h"

/*
 * A signing context set up for one key and one parameter set (see
 * "Signing contexts" below).
 */
struct khd_sigctx {
    struct khd_sigctx *next;
    uint8_t digest, padding, mgf1_digest;
    uint32_t salt_len;
    int used;           /* |mctx| signed before: re-initialise it first */
    EVP_PKEY_CTX *pctx; /* RSA, EC: EVP_PKEY_sign() over a digest */
    EVP_MD_CTX *mctx;   /* Ed25519: EVP_DigestSign() over the message */
};

/*
 * The key material is immutable once built, so threads share one key. The
 * only mutable part is the pool of signing contexts set up for it
 * (khd_sigctx_take/give), under |pool_mu|.
 */
struct khd_key {
    uint8_t type;
    EVP_PKEY *pkey;               /* RSA, P-256, P-384, Ed25519 */
    struct khd_secp256k1_key *k1; /* secp256k1 */
    pthread_mutex_t pool_mu;
    struct khd_sigctx *pool;
    unsigned n_pool;
};

enum fam {
    FAM_RSA = 1,
    FAM_EC,
    FAM_ED25519,
    FAM_SECP256K1,
};

/* PKCS#8 AlgorithmIdentifiers, exactly as OpenSSL 3.0 writes them. */
static const uint8_t algid_rsa[] = {
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
    0x01, 0x05, 0x00, /* rsaEncryption, NULL */
};
static const uint8_t algid_p256[] = {
    0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
    0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, /* prime256v1 */
};
static const uint8_t algid_p384[] = {
    0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
    0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, /* secp384r1 */
};
static const uint8_t algid_ed25519[] = {
    0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, /* id-Ed25519 */
};

struct type_desc {
    int fam;
    const char *alg;      /* keymgmt name */
    int bits;             /* as EVP_PKEY_get_bits() reports it */
    const char *group;    /* EC group name */
    const uint8_t *algid; /* PKCS#8 privateKeyAlgorithm */
    size_t algid_len;
};

#define ALGID(a) a, sizeof(a)

static const struct type_desc types[] = {
    [KH_KEY_RSA2048] = { FAM_RSA, "RSA", 2048, NULL, ALGID(algid_rsa) },
    [KH_KEY_RSA3072] = { FAM_RSA, "RSA", 3072, NULL, ALGID(algid_rsa) },
    [KH_KEY_RSA4096] = { FAM_RSA, "RSA", 4096, NULL, ALGID(algid_rsa) },
    [KH_KEY_P256] = { FAM_EC, "EC", 256, "P-256", ALGID(algid_p256) },
    [KH_KEY_P384] = { FAM_EC, "EC", 384, "P-384", ALGID(algid_p384) },
    [KH_KEY_SECP256K1] = { FAM_SECP256K1, NULL, 256, NULL, NULL, 0 },
    [KH_KEY_ED25519] = { FAM_ED25519, "ED25519", 256, NULL,
                         ALGID(algid_ed25519) },
};

static const struct type_desc *desc(int type)
{
    if (type < KH_KEY_RSA2048 || type > KH_KEY_TYPE_MAX) {
        return NULL;
    }
    return &types[type];
}

/*
 * SHA-256/384/512 fetched once by khd_keys_init(): EVP_sha256() and the
 * like make EVP_Digest*() fetch the implementation again on every call.
 */
static EVP_MD *fetched_md[3];

/* NULL for NONE and unknown values. */
static const EVP_MD *md_of(int digest)
{
    switch (digest) {
    case KH_DIGEST_SHA256:
        return fetched_md[0] != NULL ? fetched_md[0] : EVP_sha256();
    case KH_DIGEST_SHA384:
        return fetched_md[1] != NULL ? fetched_md[1] : EVP_sha384();
    case KH_DIGEST_SHA512:
        return fetched_md[2] != NULL ? fetched_md[2] : EVP_sha512();
    default:
        return NULL;
    }
}

int khd_keys_init(void)
{
    static const char *const names[] = { "SHA256", "SHA384", "SHA512" };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (fetched_md[i] == NULL &&
            (fetched_md[i] = EVP_MD_fetch(NULL, names[i], NULL)) == NULL) {
            return KH_ERR_CRYPTO;
        }
    }
    return khd_secp256k1_init();
}

void khd_keys_cleanup(void)
{
    for (size_t i = 0; i < sizeof(fetched_md) / sizeof(fetched_md[0]); i++) {
        EVP_MD_free(fetched_md[i]);
        fetched_md[i] = NULL;
    }
    khd_secp256k1_cleanup();
}

uint8_t khd_key_type(const struct khd_key *k)
{
    return k->type;
}

static void khd_sigctx_free(struct khd_sigctx *c);

/* A zeroed key with its pool ready, or NULL. */
static struct khd_key *khd_key_new(uint8_t type)
{
    struct khd_key *k = OPENSSL_zalloc(sizeof(*k));

    if (k == NULL) {
        return NULL;
    }
    if (pthread_mutex_init(&k->pool_mu, NULL) != 0) {
        OPENSSL_free(k);
        return NULL;
    }
    k->type = type;
    return k;
}

void khd_key_free(struct khd_key *k)
{
    if (k == NULL) {
        return;
    }
    /* The pooled contexts hold references to |pkey|: they go first. */
    while (k->pool != NULL) {
        struct khd_sigctx *c = k->pool;

        k->pool = c->next;
        khd_sigctx_free(c);
    }
    pthread_mutex_destroy(&k->pool_mu);
    EVP_PKEY_free(k->pkey);
    khd_secp256k1_free(k->k1);
    OPENSSL_clear_free(k, sizeof(*k));
}

/*- Generation ------------------------------------------------------- */

static int keygen(const struct type_desc *d, EVP_PKEY **pk)
{
    EVP_PKEY_CTX *ctx = NULL;
    size_t bits = (size_t)d->bits;
    unsigned int e = 65537;
    OSSL_PARAM rsa_params[] = {
        OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits),
        OSSL_PARAM_construct_uint(OSSL_PKEY_PARAM_RSA_E, &e),
        OSSL_PARAM_construct_end(),
    };
    int r = KH_ERR_CRYPTO;

    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, d->alg, NULL)) == NULL ||
        EVP_PKEY_keygen_init(ctx) <= 0) {
        goto out;
    }
    if (d->fam == FAM_RSA && EVP_PKEY_CTX_set_params(ctx, rsa_params) <= 0) {
        goto out;
    }
    if (d->fam == FAM_EC && EVP_PKEY_CTX_set_group_name(ctx, d->group) <= 0) {
        goto out;
    }
    if (EVP_PKEY_generate(ctx, pk) <= 0) {
        goto out;
    }
    r = KH_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    return r;
}

int khd_key_generate(uint8_t type, struct khd_key **out)
{
    const struct type_desc *d = desc(type);
    struct khd_key *k = NULL;
    int r;

    *out = NULL;
    if (d == NULL) {
        r = KH_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if ((k = khd_key_new(type)) == NULL) {
        r = KH_ERR_ALLOC;
        goto out;
    }
    if (d->fam == FAM_SECP256K1) {
        r = khd_secp256k1_generate(&k->k1);
    } else {
        r = keygen(d, &k->pkey);
    }
    if (r != KH_OK) {
        goto out;
    }
    *out = k;
    k = NULL;
out:
    khd_key_free(k);
    return r;
}

/*- PKCS#8 ------------------------------------------------------------
 *
 * Why hand-written DER: in OpenSSL 3.0 every library path between a key and
 * its PKCS#8 bytes leaves a plaintext copy of the key in freed, uncleansed
 * normal heap, whatever buffer the result finally lands in. Measured on
 * 3.0.19 with scanning CRYPTO_set_mem_functions() hooks: i2d_PrivateKey(),
 * EVP_PKEY2PKCS8(), OSSL_ENCODER_to_bio() into a BIO_s_secmem() (through
 * ASN1_item_i2d_bio() and the provider's encoders), and on the way in
 * d2i_AutoPrivateKey(), OSSL_DECODER and EVP_PKCS82PKEY() (der2key_decode()
 * frees one copy per candidate decoder with OPENSSL_free()).
 *
 * So export fetches the components into secure-heap BIGNUMs (the provider
 * writes them through a stack buffer it cleanses) and DER-encodes them
 * straight into the OPENSSL_secure_malloc() result; import parses the bytes
 * in place and hands secure-heap OSSL_PARAMs to EVP_PKEY_fromdata(). The
 * output is byte for byte what OpenSSL writes (test_khd_keys checks this,
 * and that no freed heap block holds the key). One limit remains: 3.0's
 * RSA fromdata keeps d, p, q... in normal-heap BIGNUMs, cleared on free.
 */

#define TAG_INTEGER 0x02
#define TAG_BIT_STRING 0x03
#define TAG_OCTET_STRING 0x04
#define TAG_SEQUENCE 0x30
#define TAG_CTX1 0xa1 /* [1] EXPLICIT, ECPrivateKey publicKey */

#define RSA_NCOMP 8

/* RSAPrivateKey order (RFC 8017 A.1.2), two-prime. */
static const char *const rsa_comp[RSA_NCOMP] = {
    OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
    OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
    OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
    OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
};

/*
 * A DER writer that fills its buffer from the end backwards, so every
 * length is known when its header is written. Any overflow sets ok = 0 and
 * makes the later writes no-ops.
 */
struct derw {
    uint8_t *start;
    uint8_t *p; /* first written byte */
    int ok;
};

static uint8_t *w_reserve(struct derw *w, size_t n)
{
    if (!w->ok || (size_t)(w->p - w->start) < n) {
        w->ok = 0;
        return NULL;
    }
    w->p -= n;
    return w->p;
}

static void w_raw(struct derw *w, const void *d, size_t n)
{
    uint8_t *q = w_reserve(w, n);

    if (q != NULL) {
        memcpy(q, d, n);
    }
}

/* Prepends tag and length for the content between w->p and |mark|. */
static void w_wrap(struct derw *w, uint8_t tag, const uint8_t *mark)
{
    size_t len = (size_t)(mark - w->p);
    uint8_t h[2 + sizeof(size_t)];
    size_t i = sizeof(h);
    uint8_t nb = 0;

    if (len < 0x80) {
        h[--i] = (uint8_t)len;
    } else {
        for (; len != 0; len >>= 8, nb++) {
            h[--i] = (uint8_t)len;
        }
        h[--i] = 0x80 | nb;
    }
    h[--i] = tag;
    w_raw(w, h + i, sizeof(h) - i);
}

static void w_small_int(struct derw *w, uint8_t v)
{
    const uint8_t *mark = w->p;

    w_raw(w, &v, 1);
    w_wrap(w, TAG_INTEGER, mark);
}

/* |bn| as exactly |n| big-endian bytes, written in place (no copy). */
static void w_bn_fixed(struct derw *w, const BIGNUM *bn, size_t n)
{
    uint8_t *q = w_reserve(w, n);

    if (q != NULL && BN_bn2binpad(bn, q, (int)n) != (int)n) {
        w->ok = 0;
    }
}

/* A non-negative INTEGER. */
static void w_bn(struct derw *w, const BIGNUM *bn)
{
    const uint8_t *mark = w->p;

    if (BN_is_negative(bn)) {
        w->ok = 0;
        return;
    }
    w_bn_fixed(w, bn, (size_t)BN_num_bytes(bn));
    /* Zero, or a top bit that would read as a sign, takes a 0x00 first. */
    if (w->ok && (w->p == mark || (w->p[0] & 0x80) != 0)) {
        w_raw(w, "", 1);
    }
    w_wrap(w, TAG_INTEGER, mark);
}

/* The fetched components, in the secure heap. */
static int get_bns(const EVP_PKEY *pk, const char *const *names, BIGNUM **bn,
                   size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((bn[i] = BN_secure_new()) == NULL) {
            return KH_ERR_ALLOC;
        }
        /* Reuses our BIGNUM, so the value never sits in the normal heap. */
        if (!EVP_PKEY_get_bn_param(pk, names[i], &bn[i])) {
            return KH_ERR_CRYPTO;
        }
    }
    return KH_OK;
}

static void free_bns(BIGNUM **bn, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        BN_clear_free(bn[i]);
        bn[i] = NULL;
    }
}

/* RSAPrivateKey ::= SEQUENCE { version 0, n, e, d, p, q, dp, dq, qinv } */
static int w_rsa(struct derw *w, const EVP_PKEY *pk)
{
    BIGNUM *bn[RSA_NCOMP] = { NULL };
    const uint8_t *mark = w->p;
    int r;

    if ((r = get_bns(pk, rsa_comp, bn, RSA_NCOMP)) != KH_OK) {
        goto out;
    }
    for (size_t i = RSA_NCOMP; i > 0; i--) {
        w_bn(w, bn[i - 1]);
    }
    w_small_int(w, 0);
    w_wrap(w, TAG_SEQUENCE, mark);
out:
    free_bns(bn, RSA_NCOMP);
    return r;
}

/*
 * ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING (field
 * size), publicKey [1] BIT STRING } -- parameters omitted, as OpenSSL does
 * inside PKCS#8 where the AlgorithmIdentifier names the curve.
 */
static int w_ec(struct derw *w, const EVP_PKEY *pk, size_t flen)
{
    static const char *const priv_name[] = { OSSL_PKEY_PARAM_PRIV_KEY };
    BIGNUM *priv = NULL;
    uint8_t pub[1 + 2 * 66];
    size_t publen = 0;
    const uint8_t *mark = w->p;
    const uint8_t *m;
    int r;

    if (!EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                         sizeof(pub), &publen) ||
        publen != 1 + 2 * flen || pub[0] != 0x04) {
        r = KH_ERR_CRYPTO;
        goto out;
    }
    if ((r = get_bns(pk, priv_name, &priv, 1)) != KH_OK) {
        goto out;
    }
    m = w->p;
    w_raw(w, pub, publen);
    w_raw(w, "", 1); /* no unused bits */
    w_wrap(w, TAG_BIT_STRING, m);
    w_wrap(w, TAG_CTX1, m);
    m = w->p;
    w_bn_fixed(w, priv, flen);
    w_wrap(w, TAG_OCTET_STRING, m);
    w_small_int(w, 1);
    w_wrap(w, TAG_SEQUENCE, mark);
out:
    free_bns(&priv, 1);
    return r;
}

/* CurvePrivateKey ::= OCTET STRING (RFC 8410) */
static int w_ed25519(struct derw *w, const EVP_PKEY *pk)
{
    const uint8_t *mark = w->p;
    size_t n = 32;
    uint8_t *q = w_reserve(w, n);

    if (q == NULL) {
        return KH_ERR_INTERNAL;
    }
    if (!EVP_PKEY_get_raw_private_key(pk, q, &n) || n != 32) {
        return KH_ERR_CRYPTO;
    }
    w_wrap(w, TAG_OCTET_STRING, mark);
    return KH_OK;
}

int khd_key_export_private(const struct khd_key *k, uint8_t **der,
                           size_t *len)
{
    const struct type_desc *d = desc(k->type);
    struct derw w;
    uint8_t *buf = NULL;
    size_t cap, n;
    int r;

    *der = NULL;
    *len = 0;
    if (d == NULL) {
        r = KH_ERR_INTERNAL;
        goto out;
    }
    if (d->fam == FAM_SECP256K1) {
        r = khd_secp256k1_export(k->k1, der, len);
        goto out;
    }
    /* Nine INTEGERs add up to about 4.5 x the modulus size. */
    cap = d->fam == FAM_RSA ? 6 * (size_t)d->bits / 8 + 256 : 256;
    if ((buf = OPENSSL_secure_zalloc(cap)) == NULL) {
        r = KH_ERR_ALLOC;
        goto out;
    }
    w.start = buf;
    w.p = buf + cap;
    w.ok = 1;
    if (d->fam == FAM_RSA) {
        r = w_rsa(&w, k->pkey);
    } else if (d->fam == FAM_EC) {
        r = w_ec(&w, k->pkey, (size_t)(d->bits + 7) / 8);
    } else {
        r = w_ed25519(&w, k->pkey);
    }
    if (r != KH_OK) {
        goto out;
    }
    /* PrivateKeyInfo ::= SEQUENCE { 0, algorithm, OCTET STRING { key } } */
    w_wrap(&w, TAG_OCTET_STRING, buf + cap);
    w_raw(&w, d->algid, d->algid_len);
    w_small_int(&w, 0);
    w_wrap(&w, TAG_SEQUENCE, buf + cap);
    if (!w.ok) {
        r = KH_ERR_INTERNAL;
        goto out;
    }
    /* Move to the front (the caller frees from there); wipe what is left. */
    n = (size_t)(buf + cap - w.p);
    memmove(buf, w.p, n);
    OPENSSL_cleanse(buf + n, cap - n);
    *der = buf;
    *len = n;
    buf = NULL;
out:
    if (buf != NULL) {
        OPENSSL_secure_clear_free(buf, cap);
    }
    return r;
}

/*
 * A strict DER reader over borrowed bytes: definite minimal lengths up to
 * 0xffff (the largest key is about 2.4 KB), nothing skipped.
 */
struct derr {
    const uint8_t *p;
    size_t n;
};

static int r_tlv(struct derr *r, uint8_t tag, struct derr *val)
{
    size_t hl = 2, len;

    if (r->n < 2 || r->p[0] != tag) {
        return 0;
    }
    len = r->p[1];
    if (len == 0x81 && r->n >= 3) {
        len = r->p[2];
        hl = 3;
        if (len < 0x80) {
            return 0;
        }
    } else if (len == 0x82 && r->n >= 4) {
        len = (size_t)r->p[2] << 8 | r->p[3];
        hl = 4;
        if (len < 0x100) {
            return 0;
        }
    } else if (len >= 0x80) {
        return 0;
    }
    if (r->n - hl < len) {
        return 0;
    }
    val->p = r->p + hl;
    val->n = len;
    r->p += hl + len;
    r->n -= hl + len;
    return 1;
}

/* A non-negative INTEGER, minimally encoded, into |bn|. */
static int r_bn(struct derr *r, BIGNUM *bn)
{
    struct derr v;

    if (!r_tlv(r, TAG_INTEGER, &v) || v.n == 0 || (v.p[0] & 0x80) != 0 ||
        (v.n > 1 && v.p[0] == 0 && (v.p[1] & 0x80) == 0)) {
        return 0;
    }
    return BN_bin2bn(v.p, (int)v.n, bn) != NULL;
}

static int r_small_int(struct derr *r, uint8_t want)
{
    struct derr v;

    return r_tlv(r, TAG_INTEGER, &v) && v.n == 1 && v.p[0] == want;
}

/* Reads SEQUENCE { |in| } as the whole of |in|. */
static int r_only_seq(struct derr *in, struct derr *seq)
{
    return r_tlv(in, TAG_SEQUENCE, seq) && in->n == 0;
}

static int fromdata(const char *alg, OSSL_PARAM_BLD *bld, EVP_PKEY **pk)
{
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    int r = KH_ERR_TAMPERED;

    if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL)) == NULL) {
        r = KH_ERR_ALLOC;
        goto out;
    }
    /* Decoded fine, yet not a key OpenSSL accepts: the bytes are wrong. */
    if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, pk, EVP_PKEY_KEYPAIR, params) <= 0) {
        goto out;
    }
    r = KH_OK;
out:
    OSSL_PARAM_free(params); /* secure-heap part is cleared */
    EVP_PKEY_CTX_free(ctx);
    return r;
}

/*
 * n = pq, dp = d mod (p-1), dq = d mod (q-1), e.dp = 1 mod (p-1), e.dq = 1
 * mod (q-1), q.qinv = 1 mod p: every component agrees with n and e. 3.0's
 * fromdata checks none of it, and EVP_PKEY_pairwise_check() also proves p
 * and q prime, which takes 30-200 ms while the loader holds the key cache
 * exclusively; this takes microseconds.
 */
static int rsa_consistent(BIGNUM *const *c)
{
    const BIGNUM *n = c[0], *e = c[1], *d = c[2], *p = c[3], *q = c[4];
    const BIGNUM *dp = c[5], *dq = c[6], *qinv = c[7];
    BN_CTX *bc = BN_CTX_secure_new();
    BIGNUM *t, *pm1, *qm1;
    int ok = 0;

    if (bc == NULL) {
        return 0;
    }
    BN_CTX_start(bc);
    t = BN_CTX_get(bc);
    pm1 = BN_CTX_get(bc);
    qm1 = BN_CTX_get(bc);
    ok = qm1 != NULL && BN_cmp(p, BN_value_one()) > 0 &&
         BN_cmp(q, BN_value_one()) > 0 && BN_mul(t, p, q, bc) &&
         BN_cmp(t, n) == 0 && BN_sub(pm1, p, BN_value_one()) &&
         BN_sub(qm1, q, BN_value_one()) && BN_mod(t, d, pm1, bc) &&
         BN_cmp(t, dp) == 0 && BN_mod(t, d, qm1, bc) && BN_cmp(t, dq) == 0 &&
         BN_mod_mul(t, e, dp, pm1, bc) && BN_is_one(t) &&
         BN_mod_mul(t, e, dq, qm1, bc) && BN_is_one(t) &&
         BN_mod_mul(t, q, qinv, p, bc) && BN_is_one(t);
    BN_CTX_end(bc); /* a secure BN_CTX: its BIGNUMs are cleared */
    BN_CTX_free(bc);
    return ok;
}

static int r_rsa(const struct type_desc *d, struct derr *in, EVP_PKEY **pk)
{
    BIGNUM *bn[RSA_NCOMP] = { NULL };
    OSSL_PARAM_BLD *bld = NULL;
    struct derr s;
    int r = KH_ERR_TAMPERED;

    if (!r_only_seq(in, &s) || !r_small_int(&s, 0)) {
        goto out;
    }
    for (size_t i = 0; i < RSA_NCOMP; i++) {
        if ((bn[i] = BN_secure_new()) == NULL) {
            r = KH_ERR_ALLOC;
            goto out;
        }
        if (!r_bn(&s, bn[i])) {
            goto out;
        }
        if (i >= 2) {
            BN_set_flags(bn[i], BN_FLG_CONSTTIME); /* d and the CRT values */
        }
    }
    /* bn[0] is the modulus: an RSA-2048 key is no rsa:3072. */
    if (s.n != 0 || BN_num_bits(bn[0]) != d->bits || !rsa_consistent(bn)) {
        goto out;
    }
    if ((bld = OSSL_PARAM_BLD_new()) == NULL) {
        r = KH_ERR_ALLOC;
        goto out;
    }
    for (size_t i = 0; i < RSA_NCOMP; i++) {
        /* A secure BIGNUM goes into the secure half of the params. */
        if (!OSSL_PARAM_BLD_push_BN(bld, rsa_comp[i], bn[i])) {
            r = KH_ERR_ALLOC;
            goto out;
        }
    }
    r = fromdata(d->alg, bld, pk);
out:
    OSSL_PARAM_BLD_free(bld);
    free_bns(bn, RSA_NCOMP);
    return r;
}

static int r_ec(const struct type_desc *d, struct derr *in, EVP_PKEY **pk)
{
    size_t flen = (size_t)(d->bits + 7) / 8;
    BIGNUM *priv = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    struct derr s, sk, ctx1, pub;
    int r = KH_ERR_TAMPERED;

    /* Only the form we (and OpenSSL) write: no [0] parameters, [1] set. */
    if (!r_only_seq(in, &s) || !r_small_int(&s, 1) ||
        !r_tlv(&s, TAG_OCTET_STRING, &sk) || sk.n != flen ||
        !r_tlv(&s, TAG_CTX1, &ctx1) || s.n != 0 ||
        !r_tlv(&ctx1, TAG_BIT_STRING, &pub) || ctx1.n != 0 ||
        pub.n != 2 + 2 * flen || pub.p[0] != 0 || pub.p[1] != 0x04) {
        goto out;
    }
    if ((priv = BN_secure_new()) == NULL ||
        BN_bin2bn(sk.p, (int)sk.n, priv) == NULL ||
        (bld = OSSL_PARAM_BLD_new()) == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                         d->group, 0) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                          pub.p + 1, pub.n - 1)) {
        r = KH_ERR_ALLOC;
        goto out;
    }
    if ((r = fromdata(d->alg, bld, pk)) != KH_OK) {
        goto out;
    }
    /*
     * 3.0's fromdata takes the stored point on trust and does not range
     * check the scalar; the full check (point on the curve, 0 < d < n,
     * d.G == point) costs under a millisecond and runs once per load.
     */
    if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, *pk, NULL)) == NULL) {
        r = KH_ERR_ALLOC;
        goto out;
    }
    if (EVP_PKEY_check(ctx) != 1) {
        r = KH_ERR_TAMPERED;
        goto out;
    }
    r = KH_OK;
out:
    if (r != KH_OK) {
        EVP_PKEY_free(*pk);
        *pk = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    return r;
}

static int r_ed25519(struct derr *in, EVP_PKEY **pk)
{
    struct derr raw;

    if (!r_tlv(in, TAG_OCTET_STRING, &raw) || in->n != 0 || raw.n != 32) {
        return KH_ERR_TAMPERED;
    }
    *pk = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, raw.p, 32);
    return *pk != NULL ? KH_OK : KH_ERR_CRYPTO;
}

int khd_key_import_private(uint8_t type, const uint8_t *der, size_t len,
                           struct khd_key **out)
{
    const struct type_desc *d = desc(type);
    struct khd_key *k = NULL;
    struct derr in = { der, len };
    struct derr p8, alg, key;
    const uint8_t *alg_start;
    int r = KH_ERR_TAMPERED;

    *out = NULL;
    if (d == NULL) {
        r = KH_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if (der == NULL) {
        goto out;
    }
    if ((k = khd_key_new(type)) == NULL) {
        r = KH_ERR_ALLOC;
        goto out;
    }
    if (d->fam == FAM_SECP256K1) {
        r = khd_secp256k1_import(der, len, &k->k1);
        goto done;
    }
    /*
     * The algorithm must be byte for byte the one of |type|: this is where
     * a P-384 or Ed25519 key labelled P-256 is refused (RSA sizes are
     * checked on the modulus).
     */
    if (!r_only_seq(&in, &p8) || !r_small_int(&p8, 0)) {
        goto out;
    }
    alg_start = p8.p;
    if (!r_tlv(&p8, TAG_SEQUENCE, &alg) ||
        (size_t)(p8.p - alg_start) != d->algid_len ||
        memcmp(alg_start, d->algid, d->algid_len) != 0 ||
        !r_tlv(&p8, TAG_OCTET_STRING, &key) || p8.n != 0) {
        goto out;
    }
    if (d->fam == FAM_RSA) {
        r = r_rsa(d, &key, &k->pkey);
    } else if (d->fam == FAM_EC) {
        r = r_ec(d, &key, &k->pkey);
    } else {
        r = r_ed25519(&key, &k->pkey);
    }
    /* Belt and braces: what OpenSSL made of it is of the declared type. */
    if (r == KH_OK && (!EVP_PKEY_is_a(k->pkey, d->alg) ||
                       EVP_PKEY_get_bits(k->pkey) != d->bits)) {
        r = KH_ERR_TAMPERED;
    }
done:
    if (r != KH_OK) {
        goto out;
    }
    *out = k;
    k = NULL;
out:
    khd_key_free(k);
    return r;
}

/*- Public key ------------------------------------------------------- */

int khd_key_public_spki(const struct khd_key *k, uint8_t *out, size_t outsz,
                        size_t *outlen)
{
    uint8_t *p = out;
    int n;

    *outlen = 0;
    if (k->type == KH_KEY_SECP256K1) {
        return khd_secp256k1_spki(k->k1, out, outsz, outlen);
    }
    if ((n = i2d_PUBKEY(k->pkey, NULL)) <= 0) {
        return KH_ERR_CRYPTO;
    }
    if ((size_t)n > outsz) {
        return KH_ERR_NO_SPACE;
    }
    if (i2d_PUBKEY(k->pkey, &p) != n) {
        return KH_ERR_CRYPTO;
    }
    *outlen = (size_t)n;
    return KH_OK;
}

/*- Signing ---------------------------------------------------------- */

/* PSS salt length for OpenSSL, or KH_ERR_INVALID_ARGUMENT. */
static int pss_salt(const EVP_PKEY *pk, const EVP_MD *md, uint32_t salt,
                    int *out)
{
    size_t emlen;

    if (salt == KH_PSS_SALT_DIGEST) {
        *out = RSA_PSS_SALTLEN_DIGEST;
        return KH_OK;
    }
    if (salt == KH_PSS_SALT_MAX) {
        *out = RSA_PSS_SALTLEN_MAX;
        return KH_OK;
    }
    /* RFC 8017 9.1.1: emLen = ceil((modBits - 1) / 8) >= hLen + sLen + 2 */
    emlen = ((size_t)EVP_PKEY_get_bits(pk) + 6) / 8;
    if (salt > KH_PSS_SALT_EXPLICIT_MAX ||
        salt + (size_t)EVP_MD_get_size(md) + 2 > emlen) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    *out = (int)salt;
    return KH_OK;
}

static int rsa_setup(EVP_PKEY_CTX *ctx, const EVP_PKEY *pk,
                     const struct khd_sign_params *p, const EVP_MD *md)
{
    const EVP_MD *mgf1 = md;
    int salt = 0;
    int r;

    if (p->padding == KH_PAD_PKCS1) {
        return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0
                   ? KH_OK
                   : KH_ERR_CRYPTO;
    }
    if (p->mgf1_digest != KH_DIGEST_NONE) {
        mgf1 = md_of(p->mgf1_digest);
    }
    if ((r = pss_salt(pk, md, p->salt_len, &salt)) != KH_OK) {
        return r;
    }
    if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, mgf1) <= 0) {
        return KH_ERR_CRYPTO;
    }
    return KH_OK;
}

/*- Signing contexts --------------------------------------------------
 *
 * Setting up a context (EVP_PKEY_CTX_new_from_pkey, EVP_PKEY_sign_init,
 * EVP_PKEY_CTX_set_signature_md; EVP_DigestSignInit) looks up the keymgmt,
 * signature and digest implementations in OpenSSL 3.0's locked method
 * store every time: about 2 us of a 15 us P-256 signature, more when
 * threads contend for the store. So each key keeps up to KHD_SIGCTX_MAX
 * contexts it has set up, each for one parameter set, and a signature
 * borrows one; a context serves one thread at a time. Pooled contexts
 * hold references to the key and are freed with it (khd_key_free(), on
 * seal or eviction), and a context whose operation failed is freed, not
 * reused.
 */
#define KHD_SIGCTX_MAX 8

static void khd_sigctx_free(struct khd_sigctx *c)
{
    if (c != NULL) {
        EVP_PKEY_CTX_free(c->pctx);
        EVP_MD_CTX_free(c->mctx);
        OPENSSL_free(c);
    }
}

static int khd_sigctx_fits(const struct khd_sigctx *c,
                           const struct khd_sign_params *p)
{
    return c->digest == p->digest && c->padding == p->padding &&
           c->mgf1_digest == p->mgf1_digest && c->salt_len == p->salt_len;
}

static int khd_sigctx_setup(const struct khd_key *k, int fam,
                            const struct khd_sign_params *p,
                            struct khd_sigctx *c)
{
    const EVP_MD *md = md_of(p->digest);

    if (fam == FAM_ED25519) {
        return (c->mctx = EVP_MD_CTX_new()) != NULL &&
                       EVP_DigestSignInit_ex(c->mctx, NULL, NULL, NULL, NULL,
                                             k->pkey, NULL) > 0
                   ? KH_OK
                   : KH_ERR_CRYPTO;
    }
    if ((c->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL)) == NULL ||
        EVP_PKEY_sign_init(c->pctx) <= 0 ||
        EVP_PKEY_CTX_set_signature_md(c->pctx, md) <= 0) {
        return KH_ERR_CRYPTO;
    }
    return fam == FAM_RSA ? rsa_setup(c->pctx, k->pkey, p, md) : KH_OK;
}

/* A context for |p|: a pooled one, or a new one. */
static int khd_sigctx_take(struct khd_key *k, int fam,
                           const struct khd_sign_params *p,
                           struct khd_sigctx **out)
{
    struct khd_sigctx **link, *c;
    int r;

    pthread_mutex_lock(&k->pool_mu);
    for (link = &k->pool; (c = *link) != NULL; link = &c->next) {
        if (khd_sigctx_fits(c, p)) {
            *link = c->next;
            k->n_pool--;
            break;
        }
    }
    pthread_mutex_unlock(&k->pool_mu);
    if (c == NULL) {
        if ((c = OPENSSL_zalloc(sizeof(*c))) == NULL) {
            return KH_ERR_ALLOC;
        }
        c->digest = p->digest;
        c->padding = p->padding;
        c->mgf1_digest = p->mgf1_digest;
        c->salt_len = p->salt_len;
        if ((r = khd_sigctx_setup(k, fam, p, c)) != KH_OK) {
            khd_sigctx_free(c);
            return r;
        }
    }
    *out = c;
    return KH_OK;
}

/* Returns |c| to the pool if it is |reusable| and there is room. */
static void khd_sigctx_give(struct khd_key *k, struct khd_sigctx *c,
                            int reusable)
{
    if (reusable) {
        pthread_mutex_lock(&k->pool_mu);
        if (k->n_pool < KHD_SIGCTX_MAX) {
            c->next = k->pool;
            k->pool = c;
            k->n_pool++;
            c = NULL;
        }
        pthread_mutex_unlock(&k->pool_mu);
    }
    khd_sigctx_free(c);
}

/*
 * One signature with a borrowed context: EVP_PKEY_sign() over |data|, the
 * digest (RSA, EC), or EVP_DigestSign() over the message (Ed25519).
 */
static int sign_with_ctx(struct khd_key *k, int fam,
                         const struct khd_sign_params *p, const uint8_t *data,
                         size_t len, uint8_t *sig, size_t *siglen)
{
    struct khd_sigctx *c = NULL;
    size_t n = *siglen;
    int r, ok;

    if ((r = khd_sigctx_take(k, fam, p, &c)) != KH_OK) {
        return r;
    }
    if (c->mctx != NULL) {
        /* Re-initialising with no key keeps the fetched methods. */
        ok = (!c->used || EVP_DigestSignInit_ex(c->mctx, NULL, NULL, NULL,
                                                NULL, NULL, NULL) > 0) &&
             EVP_DigestSign(c->mctx, sig, &n, data, len) > 0;
        c->used = 1;
    } else {
        ok = EVP_PKEY_sign(c->pctx, sig, &n, data, len) > 0;
    }
    khd_sigctx_give(k, c, ok);
    if (!ok) {
        return KH_ERR_CRYPTO;
    }
    *siglen = n;
    return KH_OK;
}

int khd_key_sign(struct khd_key *k, const struct khd_sign_params *p,
                 const uint8_t *data, size_t len, uint8_t *sig,
                 size_t *siglen)
{
    const struct type_desc *d;
    const EVP_MD *md;
    struct khd_sign_params q;
    uint8_t dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int digest_input;

    if (k == NULL || p == NULL || sig == NULL || siglen == NULL ||
        (data == NULL && len != 0) || (d = desc(k->type)) == NULL) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    /* Values outside the enums: the decoder should have refused them. */
    if ((p->input != KH_INPUT_MESSAGE && p->input != KH_INPUT_DIGEST) ||
        p->digest > KH_DIGEST_MAX || p->mgf1_digest > KH_DIGEST_MAX ||
        p->padding > KH_PAD_PSS) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    md = md_of(p->digest);
    digest_input = p->input == KH_INPUT_DIGEST;
    /* mgf1_digest and salt_len matter for PSS only and are ignored else. */
    switch (d->fam) {
    case FAM_ED25519:
        /* PureEdDSA hashes the message itself, twice: no prehash here. */
        if (digest_input || md != NULL || p->padding != KH_PAD_NONE) {
            return KH_ERR_UNSUPPORTED;
        }
        break;
    case FAM_EC:
    case FAM_SECP256K1:
        if (md == NULL || p->padding != KH_PAD_NONE) {
            return KH_ERR_UNSUPPORTED;
        }
        break;
    default: /* FAM_RSA */
        if (md == NULL || p->padding == KH_PAD_NONE) {
            return KH_ERR_UNSUPPORTED;
        }
        break;
    }
    if (digest_input && len != kh_digest_len(p->digest)) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if (d->fam == FAM_SECP256K1) {
        return khd_secp256k1_sign(k->k1, md, digest_input, data, len, sig,
                                  siglen);
    }
    /*
     * Room for the largest signature (modulus size, 64, or the maximal DER
     * ECDSA-Sig-Value) before anything runs, so nothing is half written.
     */
    if (*siglen < (size_t)EVP_PKEY_get_size(k->pkey)) {
        return KH_ERR_NO_SPACE;
    }
    /* The pool's key: what matters for this padding only. */
    q = *p;
    if (q.padding != KH_PAD_PSS) {
        q.mgf1_digest = KH_DIGEST_NONE;
        q.salt_len = 0;
    }
    if (d->fam == FAM_ED25519 || digest_input) {
        return sign_with_ctx(k, d->fam, &q, data, len, sig, siglen);
    }
    /* RSA and ECDSA over a message sign its digest: hash it here. */
    if (EVP_Digest(data, len, dgst, &dlen, md, NULL) != 1) {
        return KH_ERR_CRYPTO;
    }
    return sign_with_ctx(k, d->fam, &q, dgst, dlen, sig, siglen);
}
