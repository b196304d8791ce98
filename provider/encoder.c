/*
 * encoder.c - writing out held keys: the public half, a text description,
 * and a clear refusal for every private key format.
 *
 * How OpenSSL 3.0 picks an encoder for one of our keys
 * (crypto/encode_decode/encoder_pkey.c, encoder_lib.c):
 *   - it collects the encoders named like the key's keymgmt, first those
 *     of other providers that have import_object (ours have none, so we
 *     never see other providers' keys), then ours, and tries them from the
 *     end of the list: ours come first;
 *   - it skips encoders whose does_selection() refuses the selection, whose
 *     "output" property is not the requested output type (der, pem, text)
 *     or whose "structure" property differs from a requested structure;
 *   - the first encoder that fits runs, and its failure is final: there is
 *     no fallback to the next one.
 * So a private selection (PEM_write_bio_PrivateKey, i2d_PKCS8PrivateKey...)
 * lands in our refusing encoder and fails with our message, while a public
 * selection in a structure we do not list (RSAPublicKey "pkcs1", EC "blob")
 * goes to the default provider's encoder through our public-only export.
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "provider.h"

/* "keyholder:" + name + ";version=" + 10 digits, and a NUL. */
#define KHP_ENC_URI_MAX (sizeof(KHP_URI_SCHEME ":;version=4294967295") +   \
                         KH_MAX_NAME_LEN)

static OSSL_FUNC_encoder_newctx_fn khp_enc_newctx;
static OSSL_FUNC_encoder_freectx_fn khp_enc_freectx;
static OSSL_FUNC_encoder_does_selection_fn khp_spki_does_selection;
static OSSL_FUNC_encoder_encode_fn khp_spki_der_encode;
static OSSL_FUNC_encoder_encode_fn khp_spki_pem_encode;
static OSSL_FUNC_encoder_does_selection_fn khp_text_does_selection;
static OSSL_FUNC_encoder_encode_fn khp_text_encode;
static OSSL_FUNC_encoder_does_selection_fn khp_private_does_selection;
static OSSL_FUNC_encoder_encode_fn khp_private_encode;

struct khp_enc_ctx {
    struct khp_ctx *provctx;
};

/*- Shared ------------------------------------------------------------ */

static void *khp_enc_newctx(void *provctx)
{
    struct khp_ctx *pctx = provctx;
    struct khp_enc_ctx *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL) {
        khp_raise(pctx, KHP_R_INTERNAL, "out of memory");
        return NULL;
    }
    ctx->provctx = pctx;
    return ctx;
}

static void khp_enc_freectx(void *vctx)
{
    OPENSSL_free(vctx);
}

/*
 * Selections are levels: a private selection includes the public key, a
 * public one the parameters. The highest level asked for decides whether
 * an encoder whose output covers |mask| applies.
 */
static int khp_check_selection(int selection, int mask)
{
    static const int levels[] = {
        OSSL_KEYMGMT_SELECT_PRIVATE_KEY,
        OSSL_KEYMGMT_SELECT_PUBLIC_KEY,
        OSSL_KEYMGMT_SELECT_ALL_PARAMETERS,
    };

    if (selection == 0) {
        return 1;
    }
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if ((selection & levels[i]) != 0) {
            return (mask & levels[i]) != 0;
        }
    }
    return 0;
}

/* Our key object, or NULL (raised): we only encode our own keys. */
static const struct khp_key *khp_enc_key(struct khp_enc_ctx *ctx,
                                         const void *obj_raw)
{
    const struct khp_key *key = obj_raw;

    if (key == NULL || key->magic != KHP_KEY_MAGIC || key->pub == NULL) {
        khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                  "not a key held in keyholderd");
        return NULL;
    }
    return key;
}

/* Writes all of |data| to the core BIO. 1 or 0 (raised). */
static int khp_enc_write(struct khp_enc_ctx *ctx, OSSL_CORE_BIO *out,
                         const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t n;

    if (ctx->provctx->core_bio_write_ex == NULL) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL, "no BIO write upcall");
        return 0;
    }
    while (len > 0) {
        n = 0;
        if (!ctx->provctx->core_bio_write_ex(out, p, len, &n) || n == 0 ||
            n > len) {
            khp_raise(ctx->provctx, KHP_R_INTERNAL, "cannot write output");
            return 0;
        }
        p += n;
        len -= n;
    }
    return 1;
}

/* Copies what a memory BIO holds to the core BIO. */
static int khp_enc_write_mem(struct khp_enc_ctx *ctx, OSSL_CORE_BIO *out,
                             BIO *mem)
{
    char *data = NULL;
    long len = BIO_get_mem_data(mem, &data);

    if (len <= 0 || data == NULL) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL, "nothing to write");
        return 0;
    }
    return khp_enc_write(ctx, out, data, (size_t)len);
}

/* The SubjectPublicKeyInfo DER of |key| (OPENSSL_free it), or -1. */
static int khp_enc_spki(struct khp_enc_ctx *ctx, const struct khp_key *key,
                        unsigned char **der)
{
    int len;

    *der = NULL;
    if ((len = i2d_PUBKEY(key->pub, der)) <= 0) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL,
                  "cannot encode the public key of keyholder:%s", key->name);
        return -1;
    }
    return len;
}

/*- SubjectPublicKeyInfo ---------------------------------------------- */

static int khp_spki_does_selection(void *provctx, int selection)
{
    (void)provctx;
    return khp_check_selection(selection, OSSL_KEYMGMT_SELECT_PUBLIC_KEY);
}

static int khp_spki_der_encode(void *vctx, OSSL_CORE_BIO *out,
                               const void *obj_raw,
                               const OSSL_PARAM obj_abstract[], int selection,
                               OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    struct khp_enc_ctx *ctx = vctx;
    const struct khp_key *key = khp_enc_key(ctx, obj_raw);
    unsigned char *der = NULL;
    int len, ok;

    (void)obj_abstract;
    (void)selection;
    (void)cb;
    (void)cbarg;
    if (key == NULL || (len = khp_enc_spki(ctx, key, &der)) < 0) {
        return 0;
    }
    ok = khp_enc_write(ctx, out, der, (size_t)len);
    OPENSSL_free(der);
    return ok;
}

/* The same PEM as `khadmin key pub`: PEM_write() of the SPKI DER. */
static int khp_spki_pem_encode(void *vctx, OSSL_CORE_BIO *out,
                               const void *obj_raw,
                               const OSSL_PARAM obj_abstract[], int selection,
                               OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    struct khp_enc_ctx *ctx = vctx;
    const struct khp_key *key = khp_enc_key(ctx, obj_raw);
    unsigned char *der = NULL;
    BIO *mem = NULL;
    int len, ok = 0;

    (void)obj_abstract;
    (void)selection;
    (void)cb;
    (void)cbarg;
    if (key == NULL || (len = khp_enc_spki(ctx, key, &der)) < 0) {
        return 0;
    }
    if ((mem = BIO_new(BIO_s_mem())) == NULL ||
        PEM_write_bio(mem, PEM_STRING_PUBLIC, "", der, len) <= 0) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL,
                  "cannot write the public key of keyholder:%s as PEM",
                  key->name);
        goto out;
    }
    ok = khp_enc_write_mem(ctx, out, mem);
out:
    BIO_free(mem);
    OPENSSL_free(der);
    return ok;
}

/*- Text -------------------------------------------------------------- */

/* Any selection: the text says what is and is not here. */
static int khp_text_does_selection(void *provctx, int selection)
{
    (void)provctx;
    (void)selection;
    return 1;
}

static int khp_text_encode(void *vctx, OSSL_CORE_BIO *out,
                           const void *obj_raw,
                           const OSSL_PARAM obj_abstract[], int selection,
                           OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    struct khp_enc_ctx *ctx = vctx;
    const struct khp_key *key = khp_enc_key(ctx, obj_raw);
    char uri[KHP_ENC_URI_MAX];
    BIO *mem = NULL;
    int ok = 0, printed;

    (void)obj_abstract;
    (void)cb;
    (void)cbarg;
    if (key == NULL) {
        return 0;
    }
    khp_key_uri(key, uri, sizeof(uri));
    if ((mem = BIO_new(BIO_s_mem())) == NULL ||
        BIO_printf(mem,
                   "Keyholder key %s (held in keyholderd; private part not "
                   "available)\n",
                   uri) <= 0) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL, "out of memory");
        goto out;
    }
    /* key->pub lives in the default provider: its text encoder prints. */
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0 &&
        (selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0) {
        printed = EVP_PKEY_print_params(mem, key->pub, 0, NULL);
    } else {
        printed = EVP_PKEY_print_public(mem, key->pub, 0, NULL);
    }
    if (printed <= 0) {
        khp_raise(ctx->provctx, KHP_R_INTERNAL,
                  "cannot print the public key of %s", uri);
        goto out;
    }
    ok = khp_enc_write_mem(ctx, out, mem);
out:
    BIO_free(mem);
    return ok;
}

/*- Private key formats: always refused ------------------------------- */

static int khp_private_does_selection(void *provctx, int selection)
{
    (void)provctx;
    return khp_check_selection(selection, OSSL_KEYMGMT_SELECT_PRIVATE_KEY);
}

/*
 * Claims every private key output (PKCS#8 plain and encrypted, the
 * type-specific forms, PVK/MSBLOB) so that no other encoder is tried, and
 * refuses without writing a byte.
 */
static int khp_private_encode(void *vctx, OSSL_CORE_BIO *out,
                              const void *obj_raw,
                              const OSSL_PARAM obj_abstract[], int selection,
                              OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    struct khp_enc_ctx *ctx = vctx;
    const struct khp_key *key = khp_enc_key(ctx, obj_raw);

    (void)out;
    (void)obj_abstract;
    (void)selection;
    (void)cb;
    (void)cbarg;
    if (key == NULL) {
        return 0;
    }
    khp_raise(ctx->provctx, KHP_R_NOT_EXPORTABLE,
              "key keyholder:%s is held in keyholderd and cannot be "
              "exported; use the URI or `khadmin key ref %s`",
              key->name, key->name);
    return 0;
}

/*- Tables ------------------------------------------------------------ */

static const OSSL_DISPATCH khp_spki_der_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))khp_enc_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))khp_enc_freectx },
    { OSSL_FUNC_ENCODER_DOES_SELECTION,
      (void (*)(void))khp_spki_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))khp_spki_der_encode },
    { 0, NULL },
};

static const OSSL_DISPATCH khp_spki_pem_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))khp_enc_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))khp_enc_freectx },
    { OSSL_FUNC_ENCODER_DOES_SELECTION,
      (void (*)(void))khp_spki_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))khp_spki_pem_encode },
    { 0, NULL },
};

static const OSSL_DISPATCH khp_text_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))khp_enc_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))khp_enc_freectx },
    { OSSL_FUNC_ENCODER_DOES_SELECTION,
      (void (*)(void))khp_text_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))khp_text_encode },
    { 0, NULL },
};

static const OSSL_DISPATCH khp_private_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))khp_enc_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))khp_enc_freectx },
    { OSSL_FUNC_ENCODER_DOES_SELECTION,
      (void (*)(void))khp_private_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))khp_private_encode },
    { 0, NULL },
};

#define KHP_ENC(name, props, fns) { name, KHP_PROPS "," props, fns, NULL }
#define KHP_ENC_PRIV(name, st)                                              \
    KHP_ENC(name, "output=der,structure=" st, khp_private_functions),       \
    KHP_ENC(name, "output=pem,structure=" st, khp_private_functions)
/* What every key type has: SPKI, text, PKCS#8 (refused). */
#define KHP_ENC_COMMON(name)                                                \
    KHP_ENC(name, "output=der,structure=SubjectPublicKeyInfo",              \
            khp_spki_der_functions),                                        \
    KHP_ENC(name, "output=pem,structure=SubjectPublicKeyInfo",              \
            khp_spki_pem_functions),                                        \
    KHP_ENC(name, "output=text", khp_text_functions),                       \
    KHP_ENC_PRIV(name, "PrivateKeyInfo"),                                   \
    KHP_ENC_PRIV(name, "EncryptedPrivateKeyInfo")

/*
 * The private structures mirror the default provider's encoders
 * (`openssl list -encoders`): EC type-specific/ec, RSA type-specific/rsa/
 * pkcs1 and the structureless msblob/pvk outputs.
 */
const OSSL_ALGORITHM khp_encoder_algorithms[] = {
    KHP_ENC_COMMON("EC"),
    KHP_ENC_PRIV("EC", "type-specific"),
    KHP_ENC_PRIV("EC", "ec"),
    KHP_ENC_COMMON("RSA"),
    KHP_ENC_PRIV("RSA", "type-specific"),
    KHP_ENC_PRIV("RSA", "rsa"),
    KHP_ENC_PRIV("RSA", "pkcs1"),
    KHP_ENC("RSA", "output=msblob", khp_private_functions),
    KHP_ENC("RSA", "output=pvk", khp_private_functions),
    KHP_ENC_COMMON("ED25519"),
    { NULL, NULL, NULL, NULL },
};
