/*
 * keymgmt.c - key management for held keys: EC (P-256, P-384, secp256k1),
 * RSA and Ed25519.
 *
 * A key object is a struct khp_key. Everything public is answered from its
 * public half (the default provider's EVP_PKEY): parameters, sizes,
 * matching, public export. Export of anything private fails without calling
 * the callback, which makes libcrypto route signing to our signature
 * implementations (OPENSSL30.md 1.1). Generation asks keyholderd to create
 * the key: `openssl genpkey -provider keyholder -algorithm EC -pkeyopt
 * group:P-256 -pkeyopt name:web`.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "provider.h"

enum khp_family {
    KHP_FAM_EC = 1,
    KHP_FAM_RSA,
    KHP_FAM_ED25519,
};

static OSSL_FUNC_keymgmt_new_fn khp_km_new;
static OSSL_FUNC_keymgmt_import_fn khp_km_import;
static OSSL_FUNC_keymgmt_import_types_fn khp_km_import_types;
static OSSL_FUNC_keymgmt_free_fn khp_km_free;
static OSSL_FUNC_keymgmt_load_fn khp_km_load;
static OSSL_FUNC_keymgmt_has_fn khp_km_has;
static OSSL_FUNC_keymgmt_match_fn khp_km_match;
static OSSL_FUNC_keymgmt_validate_fn khp_km_validate;
static OSSL_FUNC_keymgmt_get_params_fn khp_km_get_params;
static OSSL_FUNC_keymgmt_export_fn khp_km_export;
static OSSL_FUNC_keymgmt_dup_fn khp_km_dup;
static OSSL_FUNC_keymgmt_gen_set_params_fn khp_km_gen_set_params;
static OSSL_FUNC_keymgmt_gen_fn khp_km_gen;
static OSSL_FUNC_keymgmt_gen_cleanup_fn khp_km_gen_cleanup;

/*
 * new() and import() exist only to refuse imports quietly. When libssl
 * checks that a certificate matches a held key (SSL_CTX_use_PrivateKey,
 * X509_check_private_key: EVP_PKEY_eq), libcrypto first tries to import
 * the certificate's public key into us; without new() that attempt raises
 * ERR_R_MALLOC_FAILURE in evp_keymgmt_util_try_import() and leaves it on
 * the error queue although the match then succeeds the other way round
 * (our public half exported to the default provider). nginx reports that
 * leftover error as "ignoring stale global SSL error" in every worker. A
 * held key cannot be made from imported data, so import() always fails
 * and libcrypto frees the empty object at once; has() calls it empty.
 */
static void *khp_km_new(void *provctx)
{
    struct khp_key *k = calloc(1, sizeof(*k));

    if (k != NULL) {
        k->ctx = provctx; /* magic 0 and no public half: never usable */
        atomic_init(&k->refs, 1);
    }
    return k;
}

static int khp_km_import(void *keydata, int selection,
                         const OSSL_PARAM params[])
{
    (void)keydata;
    (void)selection;
    (void)params;
    return 0;
}

static const OSSL_PARAM *khp_km_import_types(int selection)
{
    static const OSSL_PARAM none[] = { OSSL_PARAM_END };

    (void)selection;
    return none;
}

static void khp_km_free(void *keydata)
{
    khp_key_free(keydata);
}

/* From a store or decoder reference: take our own reference. */
static void *khp_km_load(const void *reference, size_t reference_sz)
{
    return khp_key_from_reference(reference, reference_sz);
}

/*
 * Everything a held key has is there: the public half locally, the private
 * half in keyholderd. has(PRIVATE) = 1 is what makes the store hand it out
 * as a private key (store_result.c try_key).
 */
static int khp_km_has(const void *keydata, int selection)
{
    const struct khp_key *k = keydata;

    (void)selection;
    return k != NULL && k->pub != NULL;
}

static int khp_km_match(const void *keydata1, const void *keydata2,
                        int selection)
{
    const struct khp_key *a = keydata1, *b = keydata2;

    (void)selection; /* the public half decides every selection */
    if (a == NULL || b == NULL || a->pub == NULL || b->pub == NULL) {
        return 0;
    }
    return EVP_PKEY_eq(a->pub, b->pub) == 1;
}

static int khp_km_validate(const void *keydata, int selection, int checktype)
{
    const struct khp_key *k = keydata;
    EVP_PKEY_CTX *pctx;
    int ok;

    (void)checktype;
    if (k == NULL || k->pub == NULL) {
        return 0;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0) {
        return 1; /* private parts are keyholderd's, checked at unwrap */
    }
    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pub, KHP_DEFAULT_PROPQ);
    ok = pctx != NULL && EVP_PKEY_public_check(pctx) == 1;
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

/* The public half answers: bits, security-bits, max-size, group, pub... */
static int khp_km_get_params(void *keydata, OSSL_PARAM params[])
{
    struct khp_key *k = keydata;

    if (k == NULL || k->pub == NULL) {
        return 0;
    }
    if (params == NULL) {
        return 1;
    }
    return EVP_PKEY_get_params(k->pub, params);
}

static const OSSL_PARAM *khp_ec_gettable_params(void *provctx)
{
    static const OSSL_PARAM params[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                               NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return params;
}

static const OSSL_PARAM *khp_rsa_gettable_params(void *provctx)
{
    static const OSSL_PARAM params[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return params;
}

static const OSSL_PARAM *khp_ed25519_gettable_params(void *provctx)
{
    static const OSSL_PARAM params[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return params;
}

/*
 * Public half and domain parameters only. Anything that includes the
 * private key fails WITHOUT calling the callback: a "successful" empty
 * export would make libcrypto sign with the default provider's copy, which
 * has no private key (OPENSSL30.md E10). Quietly: this path runs, and
 * fails, on every signature.
 */
static int khp_km_export(void *keydata, int selection, OSSL_CALLBACK *cb,
                         void *cbarg)
{
    struct khp_key *k = keydata;

    if (k == NULL || k->pub == NULL ||
        (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) {
        return 0;
    }
    return EVP_PKEY_export(k->pub, selection, cb, cbarg);
}

static const OSSL_PARAM *khp_ec_export_types(int selection)
{
    static const OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                               NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_END,
    };

    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) ? NULL : params;
}

static const OSSL_PARAM *khp_rsa_export_types(int selection)
{
    static const OSSL_PARAM params[] = {
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
        OSSL_PARAM_END,
    };

    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) ? NULL : params;
}

static const OSSL_PARAM *khp_ed25519_export_types(int selection)
{
    static const OSSL_PARAM params[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_END,
    };

    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) ? NULL : params;
}

/* Key objects are immutable: a duplicate is another reference. */
static void *khp_km_dup(const void *keydata, int selection)
{
    (void)selection;
    return khp_key_up_ref((struct khp_key *)keydata);
}

static const char *khp_ec_query_operation_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}

static const char *khp_rsa_query_operation_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? "RSA" : NULL;
}

static const char *khp_ed25519_query_operation_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? "ED25519" : NULL;
}

/*- Generation inside keyholderd ---------------------------------------- */

struct khp_gen_ctx {
    struct khp_ctx *provctx;
    int family;
    uint8_t type; /* 0 until group/bits say which */
    char name[KH_MAX_NAME_LEN + 1];
};

static void *khp_gen_init(void *provctx, int family, uint8_t default_type,
                          const OSSL_PARAM params[])
{
    struct khp_gen_ctx *g = calloc(1, sizeof(*g));

    if (g == NULL) {
        return NULL;
    }
    g->provctx = provctx;
    g->family = family;
    g->type = default_type;
    if (!khp_km_gen_set_params(g, params)) {
        free(g);
        return NULL;
    }
    return g;
}

static void *khp_ec_gen_init(void *provctx, int selection,
                             const OSSL_PARAM params[])
{
    (void)selection;
    return khp_gen_init(provctx, KHP_FAM_EC, 0, params);
}

static void *khp_rsa_gen_init(void *provctx, int selection,
                              const OSSL_PARAM params[])
{
    (void)selection;
    return khp_gen_init(provctx, KHP_FAM_RSA, KH_KEY_RSA2048, params);
}

static void *khp_ed25519_gen_init(void *provctx, int selection,
                                  const OSSL_PARAM params[])
{
    (void)selection;
    return khp_gen_init(provctx, KHP_FAM_ED25519, KH_KEY_ED25519, params);
}

static int khp_ec_type_of_group(const char *group, uint8_t *type)
{
    static const struct {
        const char *name;
        uint8_t type;
    } groups[] = {
        { "P-256", KH_KEY_P256 },     { "prime256v1", KH_KEY_P256 },
        { "secp256r1", KH_KEY_P256 }, { "P-384", KH_KEY_P384 },
        { "secp384r1", KH_KEY_P384 }, { "secp256k1", KH_KEY_SECP256K1 },
    };

    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        if (strcasecmp(group, groups[i].name) == 0) {
            *type = groups[i].type;
            return 1;
        }
    }
    return 0;
}

static int khp_gen_set_group(struct khp_gen_ctx *g, const OSSL_PARAM *p)
{
    const char *group = NULL;

    if (!OSSL_PARAM_get_utf8_string_ptr(p, &group) ||
        !khp_ec_type_of_group(group, &g->type)) {
        khp_raise(g->provctx, KHP_R_UNSUPPORTED,
                  "EC group '%s': keyholder holds P-256, P-384 and "
                  "secp256k1", group != NULL ? group : "?");
        return 0;
    }
    return 1;
}

static int khp_gen_set_bits(struct khp_gen_ctx *g, const OSSL_PARAM *p)
{
    size_t bits = 0;

    if (!OSSL_PARAM_get_size_t(p, &bits)) {
        return 0;
    }
    switch (bits) {
    case 2048:
        g->type = KH_KEY_RSA2048;
        return 1;
    case 3072:
        g->type = KH_KEY_RSA3072;
        return 1;
    case 4096:
        g->type = KH_KEY_RSA4096;
        return 1;
    default:
        khp_raise(g->provctx, KHP_R_UNSUPPORTED,
                  "RSA with %zu bits: keyholder holds 2048, 3072 and 4096",
                  bits);
        return 0;
    }
}

static int khp_km_gen_set_params(void *genctx, const OSSL_PARAM params[])
{
    struct khp_gen_ctx *g = genctx;
    const OSSL_PARAM *p;
    const char *name = NULL;

    if (params == NULL) {
        return 1;
    }
    p = OSSL_PARAM_locate_const(params, "name");
    if (p != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name) ||
            !kh_name_valid(name)) {
            khp_raise(g->provctx, KHP_R_INVALID_ARGUMENT,
                      "invalid key name '%s': 1-%d of A-Z a-z 0-9 . _ -",
                      name != NULL ? name : "?", KH_MAX_NAME_LEN);
            return 0;
        }
        snprintf(g->name, sizeof(g->name), "%s", name);
    }
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME);
    if (p != NULL && (g->family != KHP_FAM_EC || !khp_gen_set_group(g, p))) {
        return 0;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_BITS);
    if (p != NULL && (g->family != KHP_FAM_RSA || !khp_gen_set_bits(g, p))) {
        return 0;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_E);
    if (p != NULL) {
        BIGNUM *e = NULL;
        int ok = OSSL_PARAM_get_BN(p, &e) && BN_is_word(e, RSA_F4);

        BN_free(e);
        if (!ok) {
            khp_raise(g->provctx, KHP_R_UNSUPPORTED,
                      "keyholder RSA keys use the public exponent 65537");
            return 0;
        }
    }
    return 1;
}

static const OSSL_PARAM *khp_ec_gen_settable_params(void *genctx,
                                                    void *provctx)
{
    static const OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string("name", NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)genctx;
    (void)provctx;
    return params;
}

static const OSSL_PARAM *khp_rsa_gen_settable_params(void *genctx,
                                                     void *provctx)
{
    static const OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string("name", NULL, 0),
        OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_BITS, NULL),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)genctx;
    (void)provctx;
    return params;
}

static const OSSL_PARAM *khp_ed25519_gen_settable_params(void *genctx,
                                                         void *provctx)
{
    static const OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string("name", NULL, 0),
        OSSL_PARAM_END,
    };

    (void)genctx;
    (void)provctx;
    return params;
}

static void *khp_km_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
    struct khp_gen_ctx *g = genctx;
    struct kh_keygen_request req;
    struct kh_key_info info;

    (void)cb;
    (void)cbarg;
    if (g->name[0] == '\0') {
        khp_raise(g->provctx, KHP_R_MISSING_NAME,
                  "name the key to create in keyholderd: -pkeyopt name:NAME");
        return NULL;
    }
    if (g->type == 0) {
        khp_raise(g->provctx, KHP_R_INVALID_ARGUMENT,
                  "choose a group: -pkeyopt group:P-256|P-384|secp256k1");
        return NULL;
    }
    memset(&req, 0, sizeof(req));
    snprintf(req.name, sizeof(req.name), "%s", g->name);
    req.type = g->type;
    if (!khp_call_generate(g->provctx, &req, &info)) {
        return NULL;
    }
    return khp_key_new(g->provctx, &info, 0);
}

static void khp_km_gen_cleanup(void *genctx)
{
    free(genctx);
}

/*- Dispatch tables ------------------------------------------------------ */

#define KHP_KEYMGMT_COMMON                                                  \
    { OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))khp_km_new },                  \
        { OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))khp_km_import },        \
        { OSSL_FUNC_KEYMGMT_IMPORT_TYPES,                                   \
          (void (*)(void))khp_km_import_types },                            \
        { OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))khp_km_free },            \
        { OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))khp_km_load },            \
        { OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))khp_km_has },              \
        { OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))khp_km_match },          \
        { OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))khp_km_validate },    \
        { OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))khp_km_get_params },\
        { OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))khp_km_export },        \
        { OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))khp_km_dup },              \
        { OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS,                                 \
          (void (*)(void))khp_km_gen_set_params },                          \
        { OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))khp_km_gen },              \
    {                                                                       \
        OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))khp_km_gen_cleanup   \
    }

const OSSL_DISPATCH khp_ec_keymgmt_functions[] = {
    KHP_KEYMGMT_COMMON,
    { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
      (void (*)(void))khp_ec_gettable_params },
    { OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))khp_ec_export_types },
    { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
      (void (*)(void))khp_ec_query_operation_name },
    { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))khp_ec_gen_init },
    { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,
      (void (*)(void))khp_ec_gen_settable_params },
    { 0, NULL },
};

const OSSL_DISPATCH khp_rsa_keymgmt_functions[] = {
    KHP_KEYMGMT_COMMON,
    { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
      (void (*)(void))khp_rsa_gettable_params },
    { OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))khp_rsa_export_types },
    { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
      (void (*)(void))khp_rsa_query_operation_name },
    { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))khp_rsa_gen_init },
    { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,
      (void (*)(void))khp_rsa_gen_settable_params },
    { 0, NULL },
};

const OSSL_DISPATCH khp_ed25519_keymgmt_functions[] = {
    KHP_KEYMGMT_COMMON,
    { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
      (void (*)(void))khp_ed25519_gettable_params },
    { OSSL_FUNC_KEYMGMT_EXPORT_TYPES,
      (void (*)(void))khp_ed25519_export_types },
    { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
      (void (*)(void))khp_ed25519_query_operation_name },
    { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))khp_ed25519_gen_init },
    { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,
      (void (*)(void))khp_ed25519_gen_settable_params },
    { 0, NULL },
};
