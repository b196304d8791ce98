/*
 * signature.c - the SIGNATURE operation of the keyholder provider: RSA
 * (PKCS#1 v1.5 and PSS), ECDSA and Ed25519 with keys held in keyholderd.
 *
 * Signing: RSA and ECDSA hash locally (the default provider's digests) and
 * send the digest, so each signature is one round trip whatever the message
 * size. Ed25519 cannot stream: the one-shot digest_sign sends the message.
 * Init, parameters and size queries (sig == NULL) never talk to the daemon:
 * libssl calls digest_sign_init for every candidate sigalg of every
 * handshake, and size-queries before each real signature.
 *
 * Verification needs only the public key, so it is delegated to the
 * default provider on the key's public half (key->pub) with the same
 * digest, padding, salt length and MGF1 settings.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "provider.h"

/* An AlgorithmIdentifier never gets near this (RSASSA-PSS: 67 bytes). */
#define KHP_SIG_MAX_AID_LEN 128

enum khp_sig_family {
    KHP_SIG_RSA = 1,
    KHP_SIG_ECDSA,
    KHP_SIG_ED25519,
};

enum khp_sig_op {
    KHP_SIG_OP_NONE = 0,
    KHP_SIG_OP_SIGN,          /* EVP_PKEY_sign: the input is a digest */
    KHP_SIG_OP_VERIFY,        /* EVP_PKEY_verify */
    KHP_SIG_OP_DIGEST_SIGN,   /* EVP_DigestSign*: the input is the message */
    KHP_SIG_OP_DIGEST_VERIFY, /* EVP_DigestVerify* */
};

/* One signature operation on one key. */
struct khp_sig_ctx {
    struct khp_ctx *provctx;
    int family;            /* enum khp_sig_family, fixed by newctx */
    int op;                /* enum khp_sig_op, set by the *_init calls */
    struct khp_key *key;   /* our reference */
    EVP_MD *md;            /* signature digest; NULL: none yet / Ed25519 */
    uint8_t kh_md;         /* md as enum kh_digest, NONE if unsupported */
    int md_locked;         /* digest-sign/verify: set by init, fixed */
    EVP_MD_CTX *mdctx;     /* digest-sign: the message hashed so far */
    int pad_mode;          /* RSA: RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
    int saltlen;           /* RSA PSS: RSA_PSS_SALTLEN_* or a byte count */
    EVP_MD *mgf1_md;       /* RSA PSS: NULL means the signature digest */
    uint8_t kh_mgf1;       /* mgf1_md as enum kh_digest */
    EVP_PKEY_CTX *vpctx;   /* verify: default provider, on key->pub */
    EVP_MD_CTX *vmdctx;    /* digest-verify: default provider, on key->pub */
};

static OSSL_FUNC_signature_newctx_fn khp_rsa_newctx;
static OSSL_FUNC_signature_newctx_fn khp_ecdsa_newctx;
static OSSL_FUNC_signature_newctx_fn khp_ed25519_newctx;
static OSSL_FUNC_signature_freectx_fn khp_sig_freectx;
static OSSL_FUNC_signature_dupctx_fn khp_sig_dupctx;
static OSSL_FUNC_signature_sign_init_fn khp_sig_sign_init;
static OSSL_FUNC_signature_sign_fn khp_sig_sign;
static OSSL_FUNC_signature_verify_init_fn khp_sig_verify_init;
static OSSL_FUNC_signature_verify_fn khp_sig_verify;
static OSSL_FUNC_signature_digest_sign_init_fn khp_sig_digest_sign_init;
static OSSL_FUNC_signature_digest_sign_update_fn khp_sig_digest_sign_update;
static OSSL_FUNC_signature_digest_sign_final_fn khp_sig_digest_sign_final;
static OSSL_FUNC_signature_digest_sign_fn khp_sig_digest_sign;
static OSSL_FUNC_signature_digest_verify_init_fn khp_sig_digest_verify_init;
static OSSL_FUNC_signature_digest_verify_update_fn
    khp_sig_digest_verify_update;
static OSSL_FUNC_signature_digest_verify_final_fn khp_sig_digest_verify_final;
static OSSL_FUNC_signature_digest_verify_fn khp_sig_digest_verify;
static OSSL_FUNC_signature_get_ctx_params_fn khp_sig_get_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn khp_rsa_gettable_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn
    khp_ecdsa_gettable_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn
    khp_ed25519_gettable_ctx_params;
static OSSL_FUNC_signature_set_ctx_params_fn khp_sig_set_ctx_params;
static OSSL_FUNC_signature_settable_ctx_params_fn khp_rsa_settable_ctx_params;
static OSSL_FUNC_signature_settable_ctx_params_fn
    khp_ecdsa_settable_ctx_params;
static OSSL_FUNC_signature_get_ctx_md_params_fn khp_sig_get_ctx_md_params;
static OSSL_FUNC_signature_gettable_ctx_md_params_fn
    khp_sig_gettable_ctx_md_params;
static OSSL_FUNC_signature_set_ctx_md_params_fn khp_sig_set_ctx_md_params;
static OSSL_FUNC_signature_settable_ctx_md_params_fn
    khp_sig_settable_ctx_md_params;

/*- Helpers ------------------------------------------------------------ */

static const char *khp_sig_family_name(int family)
{
    switch (family) {
    case KHP_SIG_RSA:
        return "RSA";
    case KHP_SIG_ECDSA:
        return "ECDSA";
    case KHP_SIG_ED25519:
        return "Ed25519";
    default:
        return "?";
    }
}

static int khp_sig_family_of(uint8_t key_type)
{
    switch (key_type) {
    case KH_KEY_RSA2048:
    case KH_KEY_RSA3072:
    case KH_KEY_RSA4096:
        return KHP_SIG_RSA;
    case KH_KEY_P256:
    case KH_KEY_P384:
    case KH_KEY_SECP256K1:
        return KHP_SIG_ECDSA;
    case KH_KEY_ED25519:
        return KHP_SIG_ED25519;
    default:
        return 0;
    }
}

/* The keyholder digest of |md|, or KH_DIGEST_NONE if keyholderd lacks it. */
static uint8_t khp_sig_kh_digest(const EVP_MD *md)
{
    if (md == NULL) {
        return KH_DIGEST_NONE;
    }
    if (EVP_MD_is_a(md, "SHA2-256")) {
        return KH_DIGEST_SHA256;
    }
    if (EVP_MD_is_a(md, "SHA2-384")) {
        return KH_DIGEST_SHA384;
    }
    if (EVP_MD_is_a(md, "SHA2-512")) {
        return KH_DIGEST_SHA512;
    }
    return KH_DIGEST_NONE;
}

/* The NID of a keyholder digest (for AlgorithmIdentifiers). */
static int khp_sig_digest_nid(uint8_t kh_md)
{
    switch (kh_md) {
    case KH_DIGEST_SHA256:
        return NID_sha256;
    case KH_DIGEST_SHA384:
        return NID_sha384;
    case KH_DIGEST_SHA512:
        return NID_sha512;
    default:
        return NID_undef;
    }
}

static int khp_sig_is_verifying(const struct khp_sig_ctx *ctx)
{
    return ctx->op == KHP_SIG_OP_VERIFY ||
           ctx->op == KHP_SIG_OP_DIGEST_VERIFY;
}

/*
 * Fetches digest |name| from the default provider. When |for_signing|, it
 * must be one keyholderd signs with (SHA-256/384/512); verification takes
 * any digest the default provider has. Cheap (method store lookup), never
 * a daemon call. Returns the digest or NULL after raising.
 */
static EVP_MD *khp_sig_fetch_md(struct khp_sig_ctx *ctx, const char *name,
                                int for_signing, const char *what)
{
    EVP_MD *md;

    ERR_set_mark();
    md = EVP_MD_fetch(NULL, name, KHP_DEFAULT_PROPQ);
    ERR_pop_to_mark();
    if (md == NULL) {
        khp_raise(ctx->provctx, KHP_R_UNSUPPORTED, "unknown %s '%s'", what,
                  name);
        return NULL;
    }
    if (for_signing && khp_sig_kh_digest(md) == KH_DIGEST_NONE) {
        khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                  "%s %s cannot be used with keyholder %s keys "
                  "(SHA-256, SHA-384 or SHA-512 only)",
                  what, EVP_MD_get0_name(md),
                  khp_sig_family_name(ctx->family));
        EVP_MD_free(md);
        return NULL;
    }
    return md;
}

/*
 * Sets the signature digest. |name| NULL or "" means: none for Ed25519,
 * SHA-256 (the keymgmt's default-digest) for RSA and ECDSA.
 */
static int khp_sig_set_md(struct khp_sig_ctx *ctx, const char *name)
{
    int empty = name == NULL || name[0] == '\0';
    EVP_MD *md;

    if (ctx->family == KHP_SIG_ED25519) {
        if (!empty) {
            khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                      "Ed25519 signs the message itself: digest '%s' is "
                      "not allowed", name);
            return 0;
        }
        return 1;
    }
    if (empty) {
        name = "SHA2-256";
    }
    md = khp_sig_fetch_md(ctx, name, !khp_sig_is_verifying(ctx), "digest");
    if (md == NULL) {
        return 0;
    }
    if (ctx->md_locked && ctx->md != NULL &&
        !EVP_MD_is_a(ctx->md, EVP_MD_get0_name(md))) {
        khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                  "digest %s cannot replace %s once the operation started",
                  EVP_MD_get0_name(md), EVP_MD_get0_name(ctx->md));
        EVP_MD_free(md);
        return 0;
    }
    EVP_MD_free(ctx->md);
    ctx->md = md;
    ctx->kh_md = khp_sig_kh_digest(md);
    return 1;
}

static int khp_sig_set_mgf1_md(struct khp_sig_ctx *ctx, const char *name)
{
    EVP_MD *md;

    md = khp_sig_fetch_md(ctx, name, !khp_sig_is_verifying(ctx),
                          "MGF1 digest");
    if (md == NULL) {
        return 0;
    }
    EVP_MD_free(ctx->mgf1_md);
    ctx->mgf1_md = md;
    ctx->kh_mgf1 = khp_sig_kh_digest(md);
    return 1;
}

/* The maximum size of a signature with the context's key. */
static int khp_sig_max_size(const struct khp_sig_ctx *ctx, size_t *out)
{
    int n = EVP_PKEY_get_size(ctx->key->pub);

    if (n <= 0) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL,
                  "no signature size for keyholder:%s", ctx->key->name);
        return 0;
    }
    *out = (size_t)n;
    return 1;
}

/*
 * The PSS salt length in bytes that a signature with the current settings
 * has: "digest" is the digest length; "max" and "auto" (when signing, as
 * OpenSSL does) are emLen - hLen - 2. Refuses what does not fit the key.
 */
static int khp_sig_pss_salt_bytes(const struct khp_sig_ctx *ctx, int *out)
{
    int hlen, bits, emlen, max, salt;

    if (ctx->md == NULL || ctx->key == NULL) {
        khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                  "PSS needs a digest and a key");
        return 0;
    }
    hlen = EVP_MD_get_size(ctx->md);
    bits = EVP_PKEY_get_bits(ctx->key->pub);
    emlen = (bits - 1 + 7) / 8;
    max = emlen - hlen - 2;
    if (hlen <= 0 || bits <= 0 || max < 0) {
        khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                  "keyholder:%s is too small for PSS with %s",
                  ctx->key->name, EVP_MD_get0_name(ctx->md));
        return 0;
    }
    switch (ctx->saltlen) {
    case RSA_PSS_SALTLEN_DIGEST:
        salt = hlen;
        break;
    case RSA_PSS_SALTLEN_AUTO: /* == RSA_PSS_SALTLEN_MAX_SIGN */
    case RSA_PSS_SALTLEN_MAX:
        salt = max;
        break;
    default:
        salt = ctx->saltlen;
        break;
    }
    if (salt < 0 || salt > max) {
        khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                  "PSS salt length %d does not fit keyholder:%s with %s "
                  "(at most %d)",
                  salt, ctx->key->name, EVP_MD_get0_name(ctx->md), max);
        return 0;
    }
    *out = salt;
    return 1;
}

/*- AlgorithmIdentifier ------------------------------------------------ */

/* An X509_ALGOR for hash |nid| with NULL parameters (RFC 4055). */
static X509_ALGOR *khp_sig_hash_algor(int nid)
{
    X509_ALGOR *a = X509_ALGOR_new();

    if (a != NULL && !X509_ALGOR_set0(a, OBJ_nid2obj(nid), V_ASN1_NULL,
                                      NULL)) {
        X509_ALGOR_free(a);
        a = NULL;
    }
    return a;
}

/* RSASSA-PSS-params (RFC 4055) for the current settings, into |alg|. */
static int khp_sig_pss_algor(const struct khp_sig_ctx *ctx, X509_ALGOR *alg)
{
    RSA_PSS_PARAMS *pss = NULL;
    X509_ALGOR *mgf1_hash = NULL;
    ASN1_STRING *mgf1_param = NULL, *pss_param = NULL;
    uint8_t mgf1 = ctx->mgf1_md != NULL ? ctx->kh_mgf1 : ctx->kh_md;
    int salt, ok = 0;

    if (!khp_sig_pss_salt_bytes(ctx, &salt)) {
        return 0;
    }
    if ((pss = RSA_PSS_PARAMS_new()) == NULL ||
        (pss->hashAlgorithm =
             khp_sig_hash_algor(khp_sig_digest_nid(ctx->kh_md))) == NULL ||
        (mgf1_hash = khp_sig_hash_algor(khp_sig_digest_nid(mgf1))) == NULL ||
        ASN1_item_pack(mgf1_hash, ASN1_ITEM_rptr(X509_ALGOR), &mgf1_param) ==
            NULL ||
        (pss->maskGenAlgorithm = X509_ALGOR_new()) == NULL ||
        !X509_ALGOR_set0(pss->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1),
                         V_ASN1_SEQUENCE, mgf1_param)) {
        goto out;
    }
    mgf1_param = NULL; /* owned by maskGenAlgorithm */
    /* saltLength DEFAULT 20: DER leaves the default out. */
    if (salt != 20 && ((pss->saltLength = ASN1_INTEGER_new()) == NULL ||
                       !ASN1_INTEGER_set(pss->saltLength, salt))) {
        goto out;
    }
    if (ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), &pss_param) ==
            NULL ||
        !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE,
                         pss_param)) {
        goto out;
    }
    pss_param = NULL;
    ok = 1;
out:
    ASN1_STRING_free(pss_param);
    ASN1_STRING_free(mgf1_param);
    X509_ALGOR_free(mgf1_hash);
    RSA_PSS_PARAMS_free(pss);
    if (!ok) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL,
                  "cannot encode RSASSA-PSS parameters");
    }
    return ok;
}

/*
 * The DER AlgorithmIdentifier of the signature the context makes, into
 * |buf|. Returns its length, 0 if there is none (no supported digest set
 * yet), -1 after raising an error.
 */
static int khp_sig_algorithm_id(const struct khp_sig_ctx *ctx,
                                unsigned char *buf, size_t bufsz)
{
    X509_ALGOR *alg;
    unsigned char *der = NULL;
    int nid = NID_undef, ptype = V_ASN1_UNDEF, len = -1;

    switch (ctx->family) {
    case KHP_SIG_ED25519:
        nid = NID_ED25519;
        break;
    case KHP_SIG_ECDSA:
        nid = ctx->kh_md == KH_DIGEST_SHA256   ? NID_ecdsa_with_SHA256
              : ctx->kh_md == KH_DIGEST_SHA384 ? NID_ecdsa_with_SHA384
              : ctx->kh_md == KH_DIGEST_SHA512 ? NID_ecdsa_with_SHA512
                                               : NID_undef;
        break;
    case KHP_SIG_RSA:
        if (ctx->pad_mode == RSA_PKCS1_PSS_PADDING) {
            uint8_t mgf1 = ctx->mgf1_md != NULL ? ctx->kh_mgf1 : ctx->kh_md;

            nid = ctx->kh_md != KH_DIGEST_NONE && mgf1 != KH_DIGEST_NONE
                      ? NID_rsassaPss
                      : NID_undef;
            break;
        }
        ptype = V_ASN1_NULL;
        nid = ctx->kh_md == KH_DIGEST_SHA256   ? NID_sha256WithRSAEncryption
              : ctx->kh_md == KH_DIGEST_SHA384 ? NID_sha384WithRSAEncryption
              : ctx->kh_md == KH_DIGEST_SHA512 ? NID_sha512WithRSAEncryption
                                               : NID_undef;
        break;
    default:
        break;
    }
    if (nid == NID_undef) {
        return 0;
    }
    if ((alg = X509_ALGOR_new()) == NULL) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL, "out of memory");
        return -1;
    }
    if (nid == NID_rsassaPss) {
        if (!khp_sig_pss_algor(ctx, alg)) {
            goto out;
        }
    } else if (!X509_ALGOR_set0(alg, OBJ_nid2obj(nid), ptype, NULL)) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL, "out of memory");
        goto out;
    }
    len = i2d_X509_ALGOR(alg, &der);
    if (len <= 0 || (size_t)len > bufsz) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL,
                  "cannot encode the signature AlgorithmIdentifier");
        len = -1;
        goto out;
    }
    memcpy(buf, der, (size_t)len);
out:
    OPENSSL_free(der);
    X509_ALGOR_free(alg);
    return len;
}

/*- Signing through keyholderd ----------------------------------------- */

/*
 * One KEY_SIGN round trip: |data| is a digest of algorithm |digest|
 * (KH_INPUT_DIGEST) or, for Ed25519, the message (KH_INPUT_MESSAGE,
 * KH_DIGEST_NONE). The caller has checked the key, the operation and that
 * |sigsize| holds the maximum signature size.
 */
static int khp_sig_call(struct khp_sig_ctx *ctx, uint8_t input,
                        uint8_t digest, const unsigned char *data, size_t len,
                        unsigned char *sig, size_t *siglen, size_t sigsize)
{
    struct kh_sign_request req;
    struct kh_sign_reply reply;
    int salt, ok = 0;

    memset(&req, 0, sizeof(req));
    memset(&reply, 0, sizeof(reply));
    memcpy(req.name, ctx->key->name, sizeof(req.name));
    req.name[sizeof(req.name) - 1] = '\0';
    /* The version whose public key this object carries, pinned or not. */
    req.version = ctx->key->version;
    req.input = input;
    req.digest = digest;
    req.padding = KH_PAD_NONE;
    req.mgf1_digest = KH_DIGEST_NONE;
    req.salt_len = 0;
    if (ctx->family == KHP_SIG_RSA) {
        req.padding = KH_PAD_PKCS1;
        if (ctx->pad_mode == RSA_PKCS1_PSS_PADDING) {
            if (!khp_sig_pss_salt_bytes(ctx, &salt)) {
                return 0;
            }
            req.padding = KH_PAD_PSS;
            req.mgf1_digest = ctx->mgf1_md != NULL ? ctx->kh_mgf1
                                                   : KH_DIGEST_NONE;
            if (ctx->saltlen == RSA_PSS_SALTLEN_DIGEST) {
                req.salt_len = KH_PSS_SALT_DIGEST;
            } else if (ctx->saltlen == RSA_PSS_SALTLEN_AUTO ||
                       ctx->saltlen == RSA_PSS_SALTLEN_MAX) {
                req.salt_len = KH_PSS_SALT_MAX;
            } else {
                req.salt_len = (uint32_t)salt;
            }
        }
    }
    req.data = data;
    req.data_len = len;
    if (!khp_call_sign(ctx->provctx, &req, &reply)) {
        goto out; /* raised by khp_call_sign */
    }
    if (reply.sig_len == 0 || reply.sig_len > sigsize ||
        reply.sig_len > sizeof(reply.sig)) {
        khp_raise(ctx->provctx, KHP_R_DAEMON_ERROR,
                  "keyholderd returned a %zu-byte signature for "
                  "keyholder:%s (room for %zu)",
                  reply.sig_len, ctx->key->name, sigsize);
        goto out;
    }
    memcpy(sig, reply.sig, reply.sig_len);
    *siglen = reply.sig_len;
    ok = 1;
out:
    OPENSSL_cleanse(&reply, sizeof(reply));
    OPENSSL_cleanse(&req, sizeof(req));
    return ok;
}

/* Common checks before a real signature: operation, key, buffer size. */
static int khp_sig_check_sign(struct khp_sig_ctx *ctx, int op,
                              size_t sigsize, size_t *maxsize)
{
    if (ctx == NULL || ctx->key == NULL || ctx->op != op) {
        if (ctx != NULL) {
            khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                      "signature operation not initialised");
        }
        return 0;
    }
    if (!khp_sig_max_size(ctx, maxsize)) {
        return 0;
    }
    if (sigsize < *maxsize) {
        khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                  "signature buffer of %zu bytes, keyholder:%s needs %zu",
                  sigsize, ctx->key->name, *maxsize);
        return 0;
    }
    return 1;
}

/* Finishes the local hash of a digest-sign and has keyholderd sign it. */
static int khp_sig_sign_hashed(struct khp_sig_ctx *ctx, unsigned char *sig,
                               size_t *siglen, size_t sigsize)
{
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int ok;

    if (ctx->mdctx == NULL || ctx->kh_md == KH_DIGEST_NONE ||
        !EVP_DigestFinal_ex(ctx->mdctx, dgst, &dlen)) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL, "hashing the message failed");
        return 0;
    }
    ok = khp_sig_call(ctx, KH_INPUT_DIGEST, ctx->kh_md, dgst, dlen, sig,
                      siglen, sigsize);
    OPENSSL_cleanse(dgst, sizeof(dgst));
    return ok;
}

/*- Context ------------------------------------------------------------ */

static void *khp_sig_newctx(void *provctx, int family)
{
    struct khp_sig_ctx *ctx;

    if ((ctx = OPENSSL_zalloc(sizeof(*ctx))) == NULL) {
        khp_raise(provctx, KHP_R_INTERNAL, "out of memory");
        return NULL;
    }
    ctx->provctx = provctx;
    ctx->family = family;
    ctx->pad_mode = RSA_PKCS1_PADDING;
    ctx->saltlen = RSA_PSS_SALTLEN_AUTO;
    return ctx;
}

static void *khp_rsa_newctx(void *provctx, const char *propq)
{
    (void)propq; /* our digests always come from the default provider */
    return khp_sig_newctx(provctx, KHP_SIG_RSA);
}

static void *khp_ecdsa_newctx(void *provctx, const char *propq)
{
    (void)propq;
    return khp_sig_newctx(provctx, KHP_SIG_ECDSA);
}

static void *khp_ed25519_newctx(void *provctx, const char *propq)
{
    (void)propq;
    return khp_sig_newctx(provctx, KHP_SIG_ED25519);
}

/* Drops what belongs to the previous operation (not the key). */
static void khp_sig_reset_op(struct khp_sig_ctx *ctx)
{
    EVP_MD_CTX_free(ctx->mdctx);
    ctx->mdctx = NULL;
    EVP_MD_CTX_free(ctx->vmdctx);
    ctx->vmdctx = NULL;
    EVP_PKEY_CTX_free(ctx->vpctx);
    ctx->vpctx = NULL;
    ctx->md_locked = 0;
    ctx->op = KHP_SIG_OP_NONE;
}

static void khp_sig_freectx(void *vctx)
{
    struct khp_sig_ctx *ctx = vctx;

    if (ctx == NULL) {
        return;
    }
    khp_sig_reset_op(ctx);
    EVP_MD_free(ctx->md);
    EVP_MD_free(ctx->mgf1_md);
    khp_key_free(ctx->key);
    OPENSSL_clear_free(ctx, sizeof(*ctx));
}

/* Cheap: digest state and settings only, nothing from the daemon. */
static void *khp_sig_dupctx(void *vctx)
{
    const struct khp_sig_ctx *src = vctx;
    struct khp_sig_ctx *dst;

    if (src == NULL) {
        return NULL;
    }
    if ((dst = OPENSSL_zalloc(sizeof(*dst))) == NULL) {
        khp_raise(src->provctx, KHP_R_INTERNAL, "out of memory");
        return NULL;
    }
    *dst = *src;
    /* NULL every owned pointer first, so a failure frees only copies. */
    dst->key = NULL;
    dst->md = NULL;
    dst->mgf1_md = NULL;
    dst->mdctx = NULL;
    dst->vpctx = NULL;
    dst->vmdctx = NULL;

    dst->key = khp_key_up_ref(src->key);
    if (src->md != NULL) {
        if (!EVP_MD_up_ref(src->md)) {
            goto err;
        }
        dst->md = src->md;
    }
    if (src->mgf1_md != NULL) {
        if (!EVP_MD_up_ref(src->mgf1_md)) {
            goto err;
        }
        dst->mgf1_md = src->mgf1_md;
    }
    if (src->mdctx != NULL &&
        ((dst->mdctx = EVP_MD_CTX_new()) == NULL ||
         !EVP_MD_CTX_copy_ex(dst->mdctx, src->mdctx))) {
        goto err;
    }
    if (src->vmdctx != NULL &&
        ((dst->vmdctx = EVP_MD_CTX_new()) == NULL ||
         !EVP_MD_CTX_copy_ex(dst->vmdctx, src->vmdctx))) {
        goto err;
    }
    if (src->vpctx != NULL &&
        (dst->vpctx = EVP_PKEY_CTX_dup(src->vpctx)) == NULL) {
        goto err;
    }
    return dst;
err:
    khp_raise(src->provctx, KHP_R_INTERNAL,
              "cannot duplicate the signature context");
    khp_sig_freectx(dst);
    return NULL;
}

/*
 * Starts operation |op| on |provkey|. A NULL |provkey| re-initialises
 * with the key already set (EVP_DigestSignInit reuse), keeping settings;
 * a new key resets them to the defaults: PKCS#1 v1.5, salt "auto", MGF1 =
 * the signature digest, no digest (the *_init callers set one).
 */
static int khp_sig_init(struct khp_sig_ctx *ctx, void *provkey, int op)
{
    struct khp_key *key = provkey;

    if (ctx == NULL) {
        return 0;
    }
    khp_sig_reset_op(ctx);
    if (key == NULL) {
        if (ctx->key == NULL) {
            khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                      "no key for the %s signature",
                      khp_sig_family_name(ctx->family));
            return 0;
        }
    } else {
        if (key->magic != KHP_KEY_MAGIC || key->pub == NULL) {
            khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                      "not a keyholder key object");
            return 0;
        }
        if (khp_sig_family_of(key->type) != ctx->family) {
            khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                      "keyholder:%s (%s) cannot make %s signatures",
                      key->name, kh_key_type_name(key->type),
                      khp_sig_family_name(ctx->family));
            return 0;
        }
        khp_key_free(ctx->key);
        ctx->key = khp_key_up_ref(key);
        EVP_MD_free(ctx->md);
        ctx->md = NULL;
        ctx->kh_md = KH_DIGEST_NONE;
        EVP_MD_free(ctx->mgf1_md);
        ctx->mgf1_md = NULL;
        ctx->kh_mgf1 = KH_DIGEST_NONE;
        ctx->pad_mode = RSA_PKCS1_PADDING;
        ctx->saltlen = RSA_PSS_SALTLEN_AUTO;
    }
    ctx->op = op;
    return 1;
}

/*
 * Digest-sign/verify init: the settings in |params|, then the digest
 * |mdname| (when empty, one from |params|, else the default), which is then
 * fixed for the operation, as in OpenSSL's own RSA and ECDSA.
 */
static int khp_sig_digest_init_md(struct khp_sig_ctx *ctx, const char *mdname,
                                  const OSSL_PARAM params[])
{
    if (!khp_sig_set_ctx_params(ctx, params)) {
        return 0;
    }
    if ((mdname != NULL && mdname[0] != '\0') || ctx->md == NULL) {
        if (!khp_sig_set_md(ctx, mdname)) {
            return 0;
        }
    }
    ctx->md_locked = 1;
    return 1;
}

/*- Verification: delegated to the default provider -------------------- */

/*
 * The context's RSA settings (and, for EVP_PKEY_verify, the digest) as
 * parameters for the default provider. |out| has room for 5 entries.
 */
static void khp_sig_delegate_params(const struct khp_sig_ctx *ctx,
                                    int with_digest, OSSL_PARAM out[5],
                                    int *pad, int *salt)
{
    size_t n = 0;

    if (with_digest && ctx->md != NULL) {
        out[n++] = OSSL_PARAM_construct_utf8_string(
            OSSL_SIGNATURE_PARAM_DIGEST, (char *)EVP_MD_get0_name(ctx->md),
            0);
    }
    if (ctx->family == KHP_SIG_RSA) {
        *pad = ctx->pad_mode;
        out[n++] = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PAD_MODE, pad);
        if (ctx->pad_mode == RSA_PKCS1_PSS_PADDING) {
            *salt = ctx->saltlen;
            out[n++] = OSSL_PARAM_construct_int(
                OSSL_SIGNATURE_PARAM_PSS_SALTLEN, salt);
            if (ctx->mgf1_md != NULL) {
                out[n++] = OSSL_PARAM_construct_utf8_string(
                    OSSL_SIGNATURE_PARAM_MGF1_DIGEST,
                    (char *)EVP_MD_get0_name(ctx->mgf1_md), 0);
            }
        }
    }
    out[n] = OSSL_PARAM_construct_end();
}

/* Applies the current settings to a delegate EVP_PKEY_CTX. */
static int khp_sig_push_settings(struct khp_sig_ctx *ctx, EVP_PKEY_CTX *pctx,
                                 int with_digest)
{
    OSSL_PARAM params[5];
    int pad = 0, salt = 0;

    khp_sig_delegate_params(ctx, with_digest, params, &pad, &salt);
    if (params[0].key == NULL) {
        return 1;
    }
    if (pctx == NULL || EVP_PKEY_CTX_set_params(pctx, params) <= 0) {
        khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                  "the default provider refused the verification settings");
        return 0;
    }
    return 1;
}

static int khp_sig_verify_init(void *vctx, void *provkey,
                               const OSSL_PARAM params[])
{
    struct khp_sig_ctx *ctx = vctx;

    if (!khp_sig_init(ctx, provkey, KHP_SIG_OP_VERIFY) ||
        !khp_sig_set_ctx_params(ctx, params)) {
        return 0;
    }
    ctx->vpctx = EVP_PKEY_CTX_new_from_pkey(NULL, ctx->key->pub,
                                            KHP_DEFAULT_PROPQ);
    if (ctx->vpctx == NULL || EVP_PKEY_verify_init(ctx->vpctx) <= 0) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL,
                  "cannot verify with the public key of keyholder:%s",
                  ctx->key->name);
        return 0;
    }
    return 1;
}

static int khp_sig_verify(void *vctx, const unsigned char *sig, size_t siglen,
                          const unsigned char *tbs, size_t tbslen)
{
    struct khp_sig_ctx *ctx = vctx;

    if (ctx == NULL || ctx->op != KHP_SIG_OP_VERIFY || ctx->vpctx == NULL) {
        return 0;
    }
    if (!khp_sig_push_settings(ctx, ctx->vpctx, 1)) {
        return 0;
    }
    return EVP_PKEY_verify(ctx->vpctx, sig, siglen, tbs, tbslen) == 1;
}

static int khp_sig_digest_verify_init(void *vctx, const char *mdname,
                                      void *provkey,
                                      const OSSL_PARAM params[])
{
    struct khp_sig_ctx *ctx = vctx;
    const char *name = NULL;

    if (!khp_sig_init(ctx, provkey, KHP_SIG_OP_DIGEST_VERIFY) ||
        !khp_sig_digest_init_md(ctx, mdname, params)) {
        return 0;
    }
    if (ctx->md != NULL) {
        name = EVP_MD_get0_name(ctx->md);
    }
    if ((ctx->vmdctx = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestVerifyInit_ex(ctx->vmdctx, NULL, name, NULL,
                                KHP_DEFAULT_PROPQ, ctx->key->pub,
                                NULL) <= 0) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL,
                  "cannot verify with the public key of keyholder:%s",
                  ctx->key->name);
        return 0;
    }
    return 1;
}

static int khp_sig_digest_verify_update(void *vctx, const unsigned char *data,
                                        size_t datalen)
{
    struct khp_sig_ctx *ctx = vctx;

    if (ctx == NULL || ctx->op != KHP_SIG_OP_DIGEST_VERIFY ||
        ctx->vmdctx == NULL) {
        return 0;
    }
    if (ctx->family == KHP_SIG_ED25519) {
        khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                  "Ed25519 cannot stream: use one-shot EVP_DigestVerify()");
        return 0;
    }
    return EVP_DigestVerifyUpdate(ctx->vmdctx, data, datalen) == 1;
}

static int khp_sig_digest_verify_final(void *vctx, const unsigned char *sig,
                                       size_t siglen)
{
    struct khp_sig_ctx *ctx = vctx;

    if (ctx == NULL || ctx->op != KHP_SIG_OP_DIGEST_VERIFY ||
        ctx->vmdctx == NULL) {
        return 0;
    }
    if (ctx->family == KHP_SIG_ED25519) {
        khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                  "Ed25519 cannot stream: use one-shot EVP_DigestVerify()");
        return 0;
    }
    if (!khp_sig_push_settings(ctx, EVP_MD_CTX_get_pkey_ctx(ctx->vmdctx),
                               0)) {
        return 0;
    }
    return EVP_DigestVerifyFinal(ctx->vmdctx, sig, siglen) == 1;
}

static int khp_sig_digest_verify(void *vctx, const unsigned char *sig,
                                 size_t siglen, const unsigned char *tbs,
                                 size_t tbslen)
{
    struct khp_sig_ctx *ctx = vctx;

    if (ctx == NULL || ctx->op != KHP_SIG_OP_DIGEST_VERIFY ||
        ctx->vmdctx == NULL) {
        return 0;
    }
    if (!khp_sig_push_settings(ctx, EVP_MD_CTX_get_pkey_ctx(ctx->vmdctx),
                               0)) {
        return 0;
    }
    return EVP_DigestVerify(ctx->vmdctx, sig, siglen, tbs, tbslen) == 1;
}

/*- Signing ------------------------------------------------------------ */

static int khp_sig_sign_init(void *vctx, void *provkey,
                             const OSSL_PARAM params[])
{
    struct khp_sig_ctx *ctx = vctx;

    return khp_sig_init(ctx, provkey, KHP_SIG_OP_SIGN) &&
           khp_sig_set_ctx_params(ctx, params);
}

/*
 * EVP_PKEY_sign: |tbs| is a digest. With no digest set, ECDSA takes the
 * digest algorithm from the length (ECDSA does not encode it); RSA needs
 * it, for PKCS#1 v1.5 puts it in the signature and PSS hashes with it.
 */
static int khp_sig_sign(void *vctx, unsigned char *sig, size_t *siglen,
                        size_t sigsize, const unsigned char *tbs,
                        size_t tbslen)
{
    struct khp_sig_ctx *ctx = vctx;
    uint8_t digest;
    size_t maxsize;

    if (ctx != NULL && ctx->op == KHP_SIG_OP_SIGN && ctx->key != NULL &&
        sig == NULL) {
        return khp_sig_max_size(ctx, siglen);
    }
    if (!khp_sig_check_sign(ctx, KHP_SIG_OP_SIGN, sigsize, &maxsize)) {
        return 0;
    }
    digest = ctx->kh_md;
    if (ctx->md == NULL && ctx->family == KHP_SIG_ECDSA) {
        digest = tbslen == 32   ? KH_DIGEST_SHA256
                 : tbslen == 48 ? KH_DIGEST_SHA384
                 : tbslen == 64 ? KH_DIGEST_SHA512
                                : KH_DIGEST_NONE;
    }
    if (digest == KH_DIGEST_NONE) {
        khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                  "keyholder:%s signs SHA-256, SHA-384 or SHA-512 digests: "
                  "set the digest (e.g. -pkeyopt digest:sha256)",
                  ctx->key->name);
        return 0;
    }
    if (tbslen != kh_digest_len(digest)) {
        khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                  "input of %zu bytes is not a %s digest (%zu bytes)",
                  tbslen, kh_digest_name(digest), kh_digest_len(digest));
        return 0;
    }
    return khp_sig_call(ctx, KH_INPUT_DIGEST, digest, tbs, tbslen, sig,
                        siglen, sigsize);
}

static int khp_sig_digest_sign_init(void *vctx, const char *mdname,
                                    void *provkey, const OSSL_PARAM params[])
{
    struct khp_sig_ctx *ctx = vctx;

    if (!khp_sig_init(ctx, provkey, KHP_SIG_OP_DIGEST_SIGN) ||
        !khp_sig_digest_init_md(ctx, mdname, params)) {
        return 0;
    }
    if (ctx->family == KHP_SIG_ED25519) {
        return 1;
    }
    if ((ctx->mdctx = EVP_MD_CTX_new()) == NULL ||
        !EVP_DigestInit_ex(ctx->mdctx, ctx->md, NULL)) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL, "cannot start %s",
                  EVP_MD_get0_name(ctx->md));
        return 0;
    }
    return 1;
}

static int khp_sig_digest_sign_update(void *vctx, const unsigned char *data,
                                      size_t datalen)
{
    struct khp_sig_ctx *ctx = vctx;

    if (ctx == NULL || ctx->op != KHP_SIG_OP_DIGEST_SIGN) {
        return 0;
    }
    if (ctx->family == KHP_SIG_ED25519) {
        khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                  "Ed25519 cannot stream: use one-shot EVP_DigestSign()");
        return 0;
    }
    if (ctx->mdctx == NULL) {
        return 0;
    }
    return EVP_DigestUpdate(ctx->mdctx, data, datalen);
}

/* A size query (sig == NULL) answers without finalising the hash. */
static int khp_sig_digest_sign_final(void *vctx, unsigned char *sig,
                                     size_t *siglen, size_t sigsize)
{
    struct khp_sig_ctx *ctx = vctx;
    size_t maxsize;

    if (ctx != NULL && ctx->family == KHP_SIG_ED25519) {
        khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                  "Ed25519 cannot stream: use one-shot EVP_DigestSign()");
        return 0;
    }
    if (ctx != NULL && ctx->op == KHP_SIG_OP_DIGEST_SIGN && ctx->key != NULL &&
        sig == NULL) {
        return khp_sig_max_size(ctx, siglen);
    }
    if (!khp_sig_check_sign(ctx, KHP_SIG_OP_DIGEST_SIGN, sigsize, &maxsize)) {
        return 0;
    }
    return khp_sig_sign_hashed(ctx, sig, siglen, sigsize);
}

/*
 * One-shot EVP_DigestSign (libssl's only path). RSA and ECDSA hash |tbs|
 * afresh and send the digest; Ed25519 sends the message.
 */
static int khp_sig_digest_sign(void *vctx, unsigned char *sig, size_t *siglen,
                               size_t sigsize, const unsigned char *tbs,
                               size_t tbslen)
{
    struct khp_sig_ctx *ctx = vctx;
    size_t maxsize;

    if (ctx != NULL && ctx->op == KHP_SIG_OP_DIGEST_SIGN && ctx->key != NULL &&
        sig == NULL) {
        return khp_sig_max_size(ctx, siglen);
    }
    if (!khp_sig_check_sign(ctx, KHP_SIG_OP_DIGEST_SIGN, sigsize, &maxsize)) {
        return 0;
    }
    if (ctx->family == KHP_SIG_ED25519) {
        if (tbslen > KH_MAX_SIGN_DATA) {
            khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                      "Ed25519 messages are limited to %u bytes, this one "
                      "has %zu", KH_MAX_SIGN_DATA, tbslen);
            return 0;
        }
        return khp_sig_call(ctx, KH_INPUT_MESSAGE, KH_DIGEST_NONE, tbs,
                            tbslen, sig, siglen, sigsize);
    }
    if (ctx->mdctx == NULL || !EVP_DigestInit_ex(ctx->mdctx, ctx->md, NULL) ||
        !EVP_DigestUpdate(ctx->mdctx, tbs, tbslen)) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL, "hashing the message failed");
        return 0;
    }
    return khp_sig_sign_hashed(ctx, sig, siglen, sigsize);
}

/*- Parameters --------------------------------------------------------- */

static int khp_sig_get_pad_mode(const struct khp_sig_ctx *ctx, OSSL_PARAM *p)
{
    if (p->data_type == OSSL_PARAM_INTEGER) {
        return OSSL_PARAM_set_int(p, ctx->pad_mode);
    }
    return OSSL_PARAM_set_utf8_string(p,
                                      ctx->pad_mode == RSA_PKCS1_PSS_PADDING
                                          ? OSSL_PKEY_RSA_PAD_MODE_PSS
                                          : OSSL_PKEY_RSA_PAD_MODE_PKCSV15);
}

static int khp_sig_get_saltlen(const struct khp_sig_ctx *ctx, OSSL_PARAM *p)
{
    char num[16];
    const char *s;

    if (p->data_type == OSSL_PARAM_INTEGER) {
        return OSSL_PARAM_set_int(p, ctx->saltlen);
    }
    switch (ctx->saltlen) {
    case RSA_PSS_SALTLEN_DIGEST:
        s = OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST;
        break;
    case RSA_PSS_SALTLEN_MAX:
        s = OSSL_PKEY_RSA_PSS_SALT_LEN_MAX;
        break;
    case RSA_PSS_SALTLEN_AUTO:
        s = OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO;
        break;
    default:
        snprintf(num, sizeof(num), "%d", ctx->saltlen);
        s = num;
        break;
    }
    return OSSL_PARAM_set_utf8_string(p, s);
}

static int khp_sig_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    struct khp_sig_ctx *ctx = vctx;
    unsigned char aid[KHP_SIG_MAX_AID_LEN];
    OSSL_PARAM *p;
    int len;

    if (ctx == NULL) {
        return 0;
    }
    if (params == NULL) {
        return 1;
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
    if (p != NULL) {
        if ((len = khp_sig_algorithm_id(ctx, aid, sizeof(aid))) < 0 ||
            !OSSL_PARAM_set_octet_string(p, aid, (size_t)len)) {
            return 0;
        }
    }
    if (ctx->family == KHP_SIG_ED25519) {
        return 1;
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
    if (p != NULL &&
        !OSSL_PARAM_set_utf8_string(p, ctx->md != NULL
                                           ? EVP_MD_get0_name(ctx->md)
                                           : "")) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST_SIZE);
    if (p != NULL &&
        !OSSL_PARAM_set_size_t(p, ctx->md != NULL
                                      ? (size_t)EVP_MD_get_size(ctx->md)
                                      : 0)) {
        return 0;
    }
    if (ctx->family != KHP_SIG_RSA) {
        return 1;
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL && !khp_sig_get_pad_mode(ctx, p)) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    if (p != NULL && !khp_sig_get_saltlen(ctx, p)) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
    if (p != NULL) {
        const EVP_MD *m = ctx->mgf1_md != NULL ? ctx->mgf1_md : ctx->md;

        if (!OSSL_PARAM_set_utf8_string(p, m != NULL ? EVP_MD_get0_name(m)
                                                     : "")) {
            return 0;
        }
    }
    return 1;
}

static const OSSL_PARAM khp_rsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM khp_ecdsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM khp_ed25519_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *khp_rsa_gettable_ctx_params(void *vctx,
                                                     void *provctx)
{
    (void)vctx;
    (void)provctx;
    return khp_rsa_gettable;
}

static const OSSL_PARAM *khp_ecdsa_gettable_ctx_params(void *vctx,
                                                       void *provctx)
{
    (void)vctx;
    (void)provctx;
    return khp_ecdsa_gettable;
}

static const OSSL_PARAM *khp_ed25519_gettable_ctx_params(void *vctx,
                                                         void *provctx)
{
    (void)vctx;
    (void)provctx;
    return khp_ed25519_gettable;
}

/* "pad-mode": libssl sends an int (6), the CLI "pss"; take both. */
static int khp_sig_set_pad_mode(struct khp_sig_ctx *ctx, const OSSL_PARAM *p)
{
    const char *s = NULL;
    int mode;

    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &s)) {
            return 0;
        }
        if (strcmp(s, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0) {
            mode = RSA_PKCS1_PADDING;
        } else if (strcmp(s, OSSL_PKEY_RSA_PAD_MODE_PSS) == 0) {
            mode = RSA_PKCS1_PSS_PADDING;
        } else {
            khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                      "RSA padding '%s': keyholder signs with pkcs1 or pss",
                      s);
            return 0;
        }
    } else if (!OSSL_PARAM_get_int(p, &mode)) {
        khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                  "pad-mode must be an integer or a string");
        return 0;
    } else if (mode != RSA_PKCS1_PADDING && mode != RSA_PKCS1_PSS_PADDING) {
        khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                  "RSA padding mode %d: keyholder signs with PKCS#1 v1.5 "
                  "(1) or PSS (6)", mode);
        return 0;
    }
    ctx->pad_mode = mode;
    return 1;
}

/* "saltlen": int -1/-2/-3/n (libssl: utf8 "digest"), or a string. */
static int khp_sig_set_saltlen(struct khp_sig_ctx *ctx, const OSSL_PARAM *p)
{
    const char *s = NULL;
    int salt;

    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &s)) {
            return 0;
        }
        if (strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) == 0) {
            salt = RSA_PSS_SALTLEN_DIGEST;
        } else if (strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX) == 0) {
            salt = RSA_PSS_SALTLEN_MAX;
        } else if (strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO) == 0) {
            salt = RSA_PSS_SALTLEN_AUTO;
        } else {
            char *end;
            long v;

            errno = 0;
            v = strtol(s, &end, 10);
            if (s[0] == '\0' || *end != '\0' || errno != 0 || v < INT_MIN ||
                v > INT_MAX) {
                khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                          "PSS salt length '%s': want digest, max, auto or "
                          "a number", s);
                return 0;
            }
            salt = (int)v;
        }
    } else if (!OSSL_PARAM_get_int(p, &salt)) {
        khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                  "saltlen must be an integer or a string");
        return 0;
    }
    if (salt < RSA_PSS_SALTLEN_MAX || salt > (int)KH_PSS_SALT_EXPLICIT_MAX) {
        khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                  "PSS salt length %d is out of range", salt);
        return 0;
    }
    ctx->saltlen = salt;
    return 1;
}

static int khp_sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    struct khp_sig_ctx *ctx = vctx;
    const OSSL_PARAM *p;
    const char *s = NULL;

    if (ctx == NULL) {
        return 0;
    }
    if (params == NULL) {
        return 1;
    }
    /* "properties" and "mgf1-properties" are accepted and not used: our
     * digests always come from the default provider. */
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
    if (p != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &s) ||
            !khp_sig_set_md(ctx, s)) {
            return 0;
        }
    }
    if (ctx->family != KHP_SIG_RSA) {
        return 1;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL && !khp_sig_set_pad_mode(ctx, p)) {
        return 0;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    if (p != NULL && !khp_sig_set_saltlen(ctx, p)) {
        return 0;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
    if (p != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &s) ||
            !khp_sig_set_mgf1_md(ctx, s)) {
            return 0;
        }
    }
    return 1;
}

static const OSSL_PARAM khp_rsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM khp_ecdsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *khp_rsa_settable_ctx_params(void *vctx,
                                                     void *provctx)
{
    (void)vctx;
    (void)provctx;
    return khp_rsa_settable;
}

static const OSSL_PARAM *khp_ecdsa_settable_ctx_params(void *vctx,
                                                       void *provctx)
{
    (void)vctx;
    (void)provctx;
    return khp_ecdsa_settable;
}

/* Digest parameters go to the digest of a streaming operation. */
static EVP_MD_CTX *khp_sig_stream_mdctx(const struct khp_sig_ctx *ctx)
{
    if (ctx == NULL) {
        return NULL;
    }
    return ctx->op == KHP_SIG_OP_DIGEST_VERIFY ? ctx->vmdctx : ctx->mdctx;
}

static int khp_sig_get_ctx_md_params(void *vctx, OSSL_PARAM params[])
{
    EVP_MD_CTX *m = khp_sig_stream_mdctx(vctx);

    return m != NULL && EVP_MD_CTX_get_params(m, params);
}

static const OSSL_PARAM *khp_sig_gettable_ctx_md_params(void *vctx)
{
    const struct khp_sig_ctx *ctx = vctx;

    if (ctx == NULL || ctx->md == NULL) {
        return NULL;
    }
    return EVP_MD_gettable_ctx_params(ctx->md);
}

static int khp_sig_set_ctx_md_params(void *vctx, const OSSL_PARAM params[])
{
    EVP_MD_CTX *m = khp_sig_stream_mdctx(vctx);

    return m != NULL && EVP_MD_CTX_set_params(m, params);
}

static const OSSL_PARAM *khp_sig_settable_ctx_md_params(void *vctx)
{
    const struct khp_sig_ctx *ctx = vctx;

    if (ctx == NULL || ctx->md == NULL) {
        return NULL;
    }
    return EVP_MD_settable_ctx_params(ctx->md);
}

/*- Dispatch tables ---------------------------------------------------- */

const OSSL_DISPATCH khp_rsa_signature_functions[] = {
    { OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))khp_rsa_newctx },
    { OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))khp_sig_freectx },
    { OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))khp_sig_dupctx },
    { OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))khp_sig_sign_init },
    { OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))khp_sig_sign },
    { OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))khp_sig_verify_init },
    { OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))khp_sig_verify },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,
      (void (*)(void))khp_sig_digest_sign_init },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,
      (void (*)(void))khp_sig_digest_sign_update },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,
      (void (*)(void))khp_sig_digest_sign_final },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))khp_sig_digest_sign },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,
      (void (*)(void))khp_sig_digest_verify_init },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE,
      (void (*)(void))khp_sig_digest_verify_update },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL,
      (void (*)(void))khp_sig_digest_verify_final },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY,
      (void (*)(void))khp_sig_digest_verify },
    { OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS,
      (void (*)(void))khp_sig_get_ctx_params },
    { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
      (void (*)(void))khp_rsa_gettable_ctx_params },
    { OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS,
      (void (*)(void))khp_sig_set_ctx_params },
    { OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
      (void (*)(void))khp_rsa_settable_ctx_params },
    { OSSL_FUNC_SIGNATURE_GET_CTX_MD_PARAMS,
      (void (*)(void))khp_sig_get_ctx_md_params },
    { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_MD_PARAMS,
      (void (*)(void))khp_sig_gettable_ctx_md_params },
    { OSSL_FUNC_SIGNATURE_SET_CTX_MD_PARAMS,
      (void (*)(void))khp_sig_set_ctx_md_params },
    { OSSL_FUNC_SIGNATURE_SETTABLE_CTX_MD_PARAMS,
      (void (*)(void))khp_sig_settable_ctx_md_params },
    { 0, NULL },
};

const OSSL_DISPATCH khp_ecdsa_signature_functions[] = {
    { OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))khp_ecdsa_newctx },
    { OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))khp_sig_freectx },
    { OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))khp_sig_dupctx },
    { OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))khp_sig_sign_init },
    { OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))khp_sig_sign },
    { OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))khp_sig_verify_init },
    { OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))khp_sig_verify },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,
      (void (*)(void))khp_sig_digest_sign_init },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,
      (void (*)(void))khp_sig_digest_sign_update },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,
      (void (*)(void))khp_sig_digest_sign_final },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))khp_sig_digest_sign },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,
      (void (*)(void))khp_sig_digest_verify_init },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE,
      (void (*)(void))khp_sig_digest_verify_update },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL,
      (void (*)(void))khp_sig_digest_verify_final },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY,
      (void (*)(void))khp_sig_digest_verify },
    { OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS,
      (void (*)(void))khp_sig_get_ctx_params },
    { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
      (void (*)(void))khp_ecdsa_gettable_ctx_params },
    { OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS,
      (void (*)(void))khp_sig_set_ctx_params },
    { OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
      (void (*)(void))khp_ecdsa_settable_ctx_params },
    { OSSL_FUNC_SIGNATURE_GET_CTX_MD_PARAMS,
      (void (*)(void))khp_sig_get_ctx_md_params },
    { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_MD_PARAMS,
      (void (*)(void))khp_sig_gettable_ctx_md_params },
    { OSSL_FUNC_SIGNATURE_SET_CTX_MD_PARAMS,
      (void (*)(void))khp_sig_set_ctx_md_params },
    { OSSL_FUNC_SIGNATURE_SETTABLE_CTX_MD_PARAMS,
      (void (*)(void))khp_sig_settable_ctx_md_params },
    { 0, NULL },
};

/*
 * Ed25519 (pure, RFC 8032) signs the message in one shot. Update/final are
 * present only to fail with a clear reason; there is no sign/verify on a
 * digest, as in OpenSSL's own Ed25519.
 */
const OSSL_DISPATCH khp_ed25519_signature_functions[] = {
    { OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))khp_ed25519_newctx },
    { OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))khp_sig_freectx },
    { OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))khp_sig_dupctx },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,
      (void (*)(void))khp_sig_digest_sign_init },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,
      (void (*)(void))khp_sig_digest_sign_update },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,
      (void (*)(void))khp_sig_digest_sign_final },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))khp_sig_digest_sign },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,
      (void (*)(void))khp_sig_digest_verify_init },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE,
      (void (*)(void))khp_sig_digest_verify_update },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL,
      (void (*)(void))khp_sig_digest_verify_final },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY,
      (void (*)(void))khp_sig_digest_verify },
    { OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS,
      (void (*)(void))khp_sig_get_ctx_params },
    { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
      (void (*)(void))khp_ed25519_gettable_ctx_params },
    { 0, NULL },
};
