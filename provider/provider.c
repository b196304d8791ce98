/*
 * provider.c - OSSL_provider_init, configuration, algorithm tables and
 * error reporting of the keyholder provider.
 *
 * Init never talks to keyholderd: every process that reads an openssl.cnf
 * naming us loads this module, and most never use a held key. The socket is
 * connected on first use (conn.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "provider.h"

static OSSL_FUNC_provider_teardown_fn khp_teardown;
static OSSL_FUNC_provider_gettable_params_fn khp_gettable_params;
static OSSL_FUNC_provider_get_params_fn khp_get_params;
static OSSL_FUNC_provider_query_operation_fn khp_query_operation;
static OSSL_FUNC_provider_get_reason_strings_fn khp_get_reason_strings;

/*- Errors ------------------------------------------------------------- */

static const OSSL_ITEM khp_reason_strings[] = {
    { KHP_R_DAEMON_UNAVAILABLE, "keyholderd is not reachable" },
    { KHP_R_SEALED, "keyholder is sealed" },
    { KHP_R_UNKNOWN_KEY, "unknown key" },
    { KHP_R_DENIED, "refused by keyholder policy" },
    { KHP_R_NOT_EXPORTABLE, "key is not exportable" },
    { KHP_R_BAD_URI, "invalid keyholder URI" },
    { KHP_R_UNSUPPORTED, "not supported by keyholder" },
    { KHP_R_INVALID_ARGUMENT, "invalid argument" },
    { KHP_R_SIGN_FAILED, "signing failed" },
    { KHP_R_TAMPERED, "stored key failed its integrity check" },
    { KHP_R_KEY_EXISTS, "key already exists" },
    { KHP_R_DAEMON_ERROR, "keyholderd refused the request" },
    { KHP_R_INTERNAL, "internal error" },
    { KHP_R_MISSING_NAME, "key name required" },
    { 0, NULL },
};

void khp_raise_at(const struct khp_ctx *ctx, const char *file, int line,
                  const char *func, int reason, const char *fmt, ...)
{
    va_list ap;

    if (ctx == NULL || ctx->core_new_error == NULL) {
        return;
    }
    ctx->core_new_error(ctx->handle);
    ctx->core_set_error_debug(ctx->handle, file, line, func);
    va_start(ap, fmt);
    ctx->core_vset_error(ctx->handle, (uint32_t)reason, fmt, ap);
    va_end(ap);
}

int khp_reason_of(int kh_err)
{
    switch (kh_err) {
    case KH_ERR_UNAVAILABLE:
    case KH_ERR_IO:
    case KH_ERR_TIMEOUT:
    case KH_ERR_BUSY:
        return KHP_R_DAEMON_UNAVAILABLE;
    case KH_ERR_SEALED:
    case KH_ERR_NOT_INITIALIZED:
        return KHP_R_SEALED;
    case KH_ERR_UNKNOWN_KEY:
        return KHP_R_UNKNOWN_KEY;
    case KH_ERR_DENIED:
        return KHP_R_DENIED;
    case KH_ERR_UNSUPPORTED:
        return KHP_R_UNSUPPORTED;
    case KH_ERR_INVALID_ARGUMENT:
        return KHP_R_INVALID_ARGUMENT;
    case KH_ERR_TAMPERED:
        return KHP_R_TAMPERED;
    case KH_ERR_KEY_EXISTS:
        return KHP_R_KEY_EXISTS;
    case KH_ERR_ALLOC:
    case KH_ERR_INTERNAL:
        return KHP_R_INTERNAL;
    default:
        return KHP_R_DAEMON_ERROR;
    }
}

static const OSSL_ITEM *khp_get_reason_strings(void *provctx)
{
    (void)provctx;
    return khp_reason_strings;
}

/*- Provider parameters ------------------------------------------------ */

static const OSSL_PARAM *khp_gettable_params(void *provctx)
{
    static const OSSL_PARAM params[] = {
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL,
                        0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL,
                        0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return params;
}

static int khp_get_params(void *provctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    (void)provctx;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "Keyholder provider")) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, KH_VERSION)) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "keyholder " KH_VERSION)) {
        return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    if (p != NULL && !OSSL_PARAM_set_int(p, 1)) {
        return 0;
    }
    return 1;
}

/*- Algorithms --------------------------------------------------------- */

/* The default provider's names, so keys and certificates match by name. */
#define KHP_NAMES_EC "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define KHP_NAMES_RSA "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define KHP_NAMES_ED25519 "ED25519:1.3.101.112"

static const OSSL_ALGORITHM khp_keymgmt[] = {
    { KHP_NAMES_EC, KHP_PROPS, khp_ec_keymgmt_functions,
      "EC key held in keyholderd" },
    { KHP_NAMES_RSA, KHP_PROPS, khp_rsa_keymgmt_functions,
      "RSA key held in keyholderd" },
    { KHP_NAMES_ED25519, KHP_PROPS, khp_ed25519_keymgmt_functions,
      "Ed25519 key held in keyholderd" },
    { NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM khp_signature[] = {
    { KHP_NAMES_RSA, KHP_PROPS, khp_rsa_signature_functions,
      "RSA PKCS#1 v1.5 and PSS signatures by keyholderd" },
    { "ECDSA", KHP_PROPS, khp_ecdsa_signature_functions,
      "ECDSA signatures by keyholderd" },
    { KHP_NAMES_ED25519, KHP_PROPS, khp_ed25519_signature_functions,
      "Ed25519 signatures by keyholderd" },
    { NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM khp_store[] = {
    { KHP_URI_SCHEME, KHP_PROPS, khp_store_functions,
      "keyholder: URIs (keys held in keyholderd)" },
    { NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM *khp_query_operation(void *provctx, int op,
                                                 int *no_store)
{
    (void)provctx;
    *no_store = 0;
    switch (op) {
    case OSSL_OP_KEYMGMT:
        return khp_keymgmt;
    case OSSL_OP_SIGNATURE:
        return khp_signature;
    case OSSL_OP_STORE:
        return khp_store;
    case OSSL_OP_DECODER:
        return khp_decoder_algorithms;
    case OSSL_OP_ENCODER:
        return khp_encoder_algorithms;
    default:
        return NULL;
    }
}

/*- Init and teardown -------------------------------------------------- */

/* No I/O here: it runs at exit in every process (e.g. each nginx worker). */
static void khp_teardown(void *provctx)
{
    struct khp_ctx *ctx = provctx;

    if (ctx == NULL) {
        return;
    }
    khp_pool_cleanup(&ctx->pool);
    free(ctx->socket_path);
    free(ctx);
}

/* Reads "socket" and "timeout_ms" from our openssl.cnf section. */
static int khp_read_config(struct khp_ctx *ctx,
                           OSSL_FUNC_core_get_params_fn *get_params)
{
    const char *socket = NULL, *timeout = NULL, *env;
    OSSL_PARAM params[3];

    params[0] = OSSL_PARAM_construct_utf8_ptr("socket", (char **)&socket, 0);
    params[1] = OSSL_PARAM_construct_utf8_ptr("timeout_ms", (char **)&timeout,
                                              0);
    params[2] = OSSL_PARAM_construct_end();
    if (get_params != NULL && !get_params(ctx->handle, params)) {
        socket = timeout = NULL;
    }
    env = getenv("KEYHOLDER_SOCKET"); /* the environment wins */
    if (env != NULL && env[0] != '\0') {
        socket = env;
    }
    ctx->socket_path = strdup(kh_client_socket_path(socket));
    ctx->timeout_ms = KHP_DEFAULT_TIMEOUT_MS;
    if (timeout != NULL) {
        char *end;
        long v = strtol(timeout, &end, 10);

        if (*end == '\0' && v > 0 && v <= 3600 * 1000) {
            ctx->timeout_ms = (int)v;
        }
    }
    return ctx->socket_path != NULL;
}

static const OSSL_DISPATCH khp_dispatch[] = {
    { OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))khp_teardown },
    { OSSL_FUNC_PROVIDER_GETTABLE_PARAMS,
      (void (*)(void))khp_gettable_params },
    { OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))khp_get_params },
    { OSSL_FUNC_PROVIDER_QUERY_OPERATION,
      (void (*)(void))khp_query_operation },
    { OSSL_FUNC_PROVIDER_GET_REASON_STRINGS,
      (void (*)(void))khp_get_reason_strings },
    { 0, NULL },
};

OSSL_provider_init_fn OSSL_provider_init;

__attribute__((visibility("default"))) int
OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                   const OSSL_DISPATCH **out, void **provctx)
{
    OSSL_FUNC_core_get_params_fn *get_params = NULL;
    struct khp_ctx *ctx;

    if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
        return 0;
    }
    ctx->handle = handle;
    for (; in->function_id != 0; in++) {
        switch (in->function_id) {
        case OSSL_FUNC_CORE_GET_PARAMS:
            get_params = OSSL_FUNC_core_get_params(in);
            break;
        case OSSL_FUNC_CORE_NEW_ERROR:
            ctx->core_new_error = OSSL_FUNC_core_new_error(in);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            ctx->core_set_error_debug = OSSL_FUNC_core_set_error_debug(in);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            ctx->core_vset_error = OSSL_FUNC_core_vset_error(in);
            break;
        case OSSL_FUNC_BIO_READ_EX:
            ctx->core_bio_read_ex = OSSL_FUNC_BIO_read_ex(in);
            break;
        case OSSL_FUNC_BIO_WRITE_EX:
            ctx->core_bio_write_ex = OSSL_FUNC_BIO_write_ex(in);
            break;
        default:
            break;
        }
    }
    if (ctx->core_new_error == NULL || ctx->core_set_error_debug == NULL ||
        ctx->core_vset_error == NULL || !khp_pool_init(&ctx->pool) ||
        !khp_read_config(ctx, get_params)) {
        free(ctx->socket_path);
        free(ctx);
        return 0;
    }
    *out = khp_dispatch;
    *provctx = ctx;
    return 1;
}
