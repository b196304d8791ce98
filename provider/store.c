/*
 * store.c - the OSSL_STORE loader for keyholder: URIs.
 *
 *   keyholder:NAME              the newest version of NAME
 *   keyholder:NAME;version=N    exactly version N (signs with that version)
 *   keyholder:                  every key the caller may use
 *
 * Each key is handed out as a PKEY object by reference (struct khp_key,
 * taken over by keymgmt load()), followed by the certificate keyholderd
 * stores beside it, if any. Nothing here ever sees private key bytes.
 *
 * OSSL_STORE_expect() is honoured: PKEY skips certificates, CERT skips
 * keys, and PUBKEY hands out the public half by value (SPKI DER), which
 * libcrypto decodes into a default-provider public key: that is what
 * `openssl pkey -pubin -in keyholder:K` or `dgst -verify keyholder:K` want.
 *
 * eof() turns 1 after the last object, and right after an error: a failed
 * load() returns 0 with eof() still 0, so that OSSL_STORE_load() records
 * the failure for OSSL_STORE_error() (storeutl then exits non-zero), and
 * the next load() ends the session without an object. Applications loop
 * while (!OSSL_STORE_eof()) and skip NULL results, so a store that stays
 * open after an error would make them spin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>
#include <openssl/store.h>

#include "provider.h"

/* "keyholder:" + name + ";version=" + 10 digits, and a NUL. */
#define KHP_STORE_URI_MAX (sizeof(KHP_URI_SCHEME ":;version=4294967295") + \
                           KH_MAX_NAME_LEN)

static OSSL_FUNC_store_open_fn khp_store_open;
static OSSL_FUNC_store_settable_ctx_params_fn khp_store_settable_ctx_params;
static OSSL_FUNC_store_set_ctx_params_fn khp_store_set_ctx_params;
static OSSL_FUNC_store_load_fn khp_store_load;
static OSSL_FUNC_store_eof_fn khp_store_eof;
static OSSL_FUNC_store_close_fn khp_store_close;

struct khp_store_ctx {
    struct khp_ctx *provctx;
    struct khp_uri uri;
    int expect;                /* OSSL_STORE_INFO_*, 0 = anything */
    int fetched;               /* infos[] holds the daemon's answer */
    struct kh_key_info *infos; /* the keys to hand out, in order */
    size_t n_infos;
    size_t cap_infos;
    size_t next;               /* index of the next key to hand out */
    int cert_pending;          /* infos[next - 1]'s certificate is due */
    int failed;                /* the last load() failed: end on the next */
    int eof;
};

/*- Open, parameters, close ------------------------------------------- */

static void *khp_store_open(void *provctx, const char *uri)
{
    struct khp_ctx *pctx = provctx;
    struct khp_store_ctx *ctx;
    struct khp_uri u;

    if (!khp_uri_parse(uri, &u)) {
        khp_raise(pctx, KHP_R_BAD_URI,
                  "'%.200s': expected keyholder:NAME, "
                  "keyholder:NAME;version=N or keyholder: (NAME: 1-%d of "
                  "A-Z a-z 0-9 . _ - not starting with . or -)",
                  uri != NULL ? uri : "", KH_MAX_NAME_LEN);
        return NULL;
    }
    if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
        khp_raise(pctx, KHP_R_INTERNAL, "out of memory");
        return NULL;
    }
    ctx->provctx = pctx;
    ctx->uri = u;
    return ctx;
}

static const OSSL_PARAM *khp_store_settable_ctx_params(void *provctx)
{
    /*
     * No search parameters (subject, alias...): listing them would make
     * OSSL_STORE_supports_search() promise a filtering we do not do.
     */
    static const OSSL_PARAM params[] = {
        OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
        OSSL_PARAM_utf8_string(OSSL_STORE_PARAM_PROPERTIES, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_STORE_PARAM_INPUT_TYPE, NULL, 0),
        OSSL_PARAM_END,
    };

    (void)provctx;
    return params;
}

/*
 * Called without a NULL check by 3.0's store_lib.c whenever a propq or
 * params are given, so it must exist. Everything but `expect` is accepted
 * and ignored (properties, input-type, and search criteria from
 * OSSL_STORE_find()).
 */
static int khp_store_set_ctx_params(void *loaderctx, const OSSL_PARAM params[])
{
    struct khp_store_ctx *ctx = loaderctx;
    const OSSL_PARAM *p;
    int expect;

    if (ctx == NULL) {
        return 0;
    }
    if (params == NULL) {
        return 1;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
    if (p != NULL) {
        if (!OSSL_PARAM_get_int(p, &expect) || expect < 0 ||
            expect > OSSL_STORE_INFO_CRL) {
            khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                      "unknown expected object type");
            return 0;
        }
        ctx->expect = expect;
    }
    return 1;
}

static int khp_store_close(void *loaderctx)
{
    struct khp_store_ctx *ctx = loaderctx;

    if (ctx == NULL) {
        return 1;
    }
    free(ctx->infos);
    free(ctx);
    return 1;
}

static int khp_store_eof(void *loaderctx)
{
    const struct khp_store_ctx *ctx = loaderctx;

    return ctx == NULL || ctx->eof;
}

/*- Fetching from keyholderd ------------------------------------------ */

/* khp_call_key_list() callback: appends one key. 0 continues. */
static int khp_store_collect(const struct kh_key_info *info, void *arg)
{
    struct khp_store_ctx *ctx = arg;
    struct kh_key_info *grown;
    size_t cap;

    if (ctx->n_infos == ctx->cap_infos) {
        cap = ctx->cap_infos == 0 ? 16 : ctx->cap_infos * 2;
        if (cap > SIZE_MAX / sizeof(*grown) ||
            (grown = realloc(ctx->infos, cap * sizeof(*grown))) == NULL) {
            return KH_ERR_ALLOC;
        }
        ctx->infos = grown;
        ctx->cap_infos = cap;
    }
    ctx->infos[ctx->n_infos++] = *info;
    return 0;
}

/* Asks the daemon once per store session. 1 or 0 (raised). */
static int khp_store_fetch(struct khp_store_ctx *ctx)
{
    if (ctx->uri.list) {
        if (!khp_call_key_list(ctx->provctx, khp_store_collect, ctx)) {
            return 0;
        }
    } else {
        if ((ctx->infos = calloc(1, sizeof(*ctx->infos))) == NULL) {
            khp_raise(ctx->provctx, KHP_R_INTERNAL, "out of memory");
            return 0;
        }
        ctx->cap_infos = 1;
        if (!khp_call_key_info(ctx->provctx, ctx->uri.name, ctx->uri.version,
                               &ctx->infos[0])) {
            return 0;
        }
        ctx->n_infos = 1;
    }
    ctx->fetched = 1;
    return 1;
}

/*- Handing out objects ----------------------------------------------- */

static int khp_store_wants_keys(const struct khp_store_ctx *ctx)
{
    return ctx->expect == 0 || ctx->expect == OSSL_STORE_INFO_PKEY ||
           ctx->expect == OSSL_STORE_INFO_PUBKEY;
}

static int khp_store_wants_certs(const struct khp_store_ctx *ctx)
{
    return ctx->expect == 0 || ctx->expect == OSSL_STORE_INFO_CERT;
}

/* One key as a PKEY object. Returns the callback's answer, 0 on error. */
static int khp_store_emit_key(struct khp_store_ctx *ctx,
                              const struct kh_key_info *info,
                              OSSL_CALLBACK *object_cb, void *object_cbarg)
{
    int object_type = OSSL_OBJECT_PKEY;
    char desc[KHP_STORE_URI_MAX];
    struct khp_key *key;
    OSSL_PARAM params[6], *p = params;
    int ok;

    /* A listing pins nothing: each key signs with its newest version. */
    key = khp_key_new(ctx->provctx, info,
                      !ctx->uri.list && ctx->uri.version != 0);
    if (key == NULL) {
        return 0;
    }
    khp_key_uri(key, desc, sizeof(desc));
    *p++ = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                            (char *)khp_keymgmt_name(key->type),
                                            0);
    if (ctx->expect == OSSL_STORE_INFO_PUBKEY) {
        /* By value: libcrypto decodes it with the default provider. */
        *p++ = OSSL_PARAM_construct_utf8_string(
            OSSL_OBJECT_PARAM_DATA_STRUCTURE, "SubjectPublicKeyInfo", 0);
        *p++ = OSSL_PARAM_construct_octet_string(
            OSSL_OBJECT_PARAM_DATA, (void *)info->spki, info->spki_len);
    } else {
        /* By reference: keymgmt load() takes its own reference. */
        *p++ = khp_key_reference_param(&key);
    }
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC, desc, 0);
    *p = OSSL_PARAM_construct_end();
    ok = object_cb(params, object_cbarg);
    khp_key_free(key);
    return ok;
}

/*
 * The certificate stored beside a key, as a CERT object. Returns 1 if one
 * was handed out, -1 if there is none, 0 on error.
 */
static int khp_store_emit_cert(struct khp_store_ctx *ctx,
                               const struct kh_key_info *info,
                               OSSL_CALLBACK *object_cb, void *object_cbarg)
{
    int object_type = OSSL_OBJECT_CERT;
    char desc[KHP_STORE_URI_MAX];
    uint8_t *der = NULL;
    size_t der_len = 0;
    OSSL_PARAM params[4];
    int ok;

    if (!khp_call_cert_get(ctx->provctx, info->name, &der, &der_len)) {
        return 0;
    }
    if (der == NULL) {
        return -1;
    }
    snprintf(desc, sizeof(desc), "%s:%s", KHP_URI_SCHEME, info->name);
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, der,
                                                  der_len);
    params[2] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC, desc,
                                                 0);
    params[3] = OSSL_PARAM_construct_end();
    ok = object_cb(params, object_cbarg);
    free(der);
    return ok ? 1 : 0;
}

/*
 * Hands out at most one object per call: key i, then key i's certificate,
 * then key i + 1... Returns 1 with eof set when nothing is left to give,
 * 0 after raising an error (see the top of this file).
 */
static int khp_store_load(void *loaderctx, OSSL_CALLBACK *object_cb,
                          void *object_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                          void *pw_cbarg)
{
    struct khp_store_ctx *ctx = loaderctx;
    const struct kh_key_info *info;
    int r;

    (void)pw_cb; /* keyholderd authenticates the caller by its uid */
    (void)pw_cbarg;
    if (ctx == NULL || ctx->eof) {
        return 0;
    }
    if (ctx->failed) {
        ctx->eof = 1; /* the error was reported by the previous call */
        return 1;
    }
    if (!ctx->fetched && !khp_store_fetch(ctx)) {
        ctx->failed = 1;
        return 0;
    }
    while (ctx->cert_pending || ctx->next < ctx->n_infos) {
        if (ctx->cert_pending) {
            ctx->cert_pending = 0;
            info = &ctx->infos[ctx->next - 1];
            r = khp_store_emit_cert(ctx, info, object_cb, object_cbarg);
            if (r == 0) {
                ctx->failed = 1;
                return 0;
            }
            if (r > 0) {
                ctx->eof = ctx->next >= ctx->n_infos;
                return 1;
            }
            continue; /* no certificate: on to the next key */
        }
        info = &ctx->infos[ctx->next++];
        ctx->cert_pending = khp_store_wants_certs(ctx);
        if (khp_store_wants_keys(ctx)) {
            if (!khp_store_emit_key(ctx, info, object_cb, object_cbarg)) {
                ctx->failed = 1;
                return 0;
            }
            ctx->eof = !ctx->cert_pending && ctx->next >= ctx->n_infos;
            return 1;
        }
    }
    ctx->eof = 1;
    return 1;
}

const OSSL_DISPATCH khp_store_functions[] = {
    { OSSL_FUNC_STORE_OPEN, (void (*)(void))khp_store_open },
    { OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS,
      (void (*)(void))khp_store_settable_ctx_params },
    { OSSL_FUNC_STORE_SET_CTX_PARAMS,
      (void (*)(void))khp_store_set_ctx_params },
    { OSSL_FUNC_STORE_LOAD, (void (*)(void))khp_store_load },
    { OSSL_FUNC_STORE_EOF, (void (*)(void))khp_store_eof },
    { OSSL_FUNC_STORE_CLOSE, (void (*)(void))khp_store_close },
    { 0, NULL },
};
