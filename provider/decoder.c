/*
 * decoder.c - key reference files: a PEM file that names a key held in
 * keyholderd, for programs that only read key files (nginx 1.22 through
 * PEM_read_bio_PrivateKey(), `openssl pkey -in ref.pem`, ...).
 *
 * The key reference format (written by `khadmin key ref NAME`):
 *
 *   KeyholderKeyReference ::= SEQUENCE {
 *       version  INTEGER,     -- 1
 *       uri      UTF8String   -- "keyholder:NAME" or
 *   }                         -- "keyholder:NAME;version=N"
 *
 * DER encoded. The URI is 11..93 bytes (NAME 1..64 characters of
 * A-Z a-z 0-9 . _ -, N 1..4294967295 without leading zeros), so every
 * length is in short form and the encoding is exactly
 *
 *   30 <n+5>  02 01 01  0C <n>  <n bytes of URI>
 *
 * Nothing may follow. "keyholder:" alone (the store's listing) is refused.
 * The DER is wrapped in PEM (base64, 64 columns, no headers) with the label
 * KHP_REF_PEM_LABEL:
 *
 *   -----BEGIN KEYHOLDER KEY REFERENCE-----
 *   MBICAQEMDWtleWhvbGRlcjplYzE=
 *   -----END KEYHOLDER KEY REFERENCE-----
 *
 * (that one names keyholder:ec1). The reference must be the first PEM block
 * of what is read; text before it is skipped.
 *
 * Three kinds of decoder do the work, the way OpenSSL chains them:
 *   "DER"  input=pem: finds our PEM block, checks the DER and that the key
 *          exists (one KEY_INFO call: a daemon that is down or an unknown
 *          key is reported from here, where libcrypto keeps the error), and
 *          passes the DER on with data-structure "keyholder-ref" and the
 *          key's data-type. Any other input it leaves alone (returns 1
 *          without calling back) for the default provider's pem2der.
 *   "EC", "RSA", "ED25519"  input=der, structure=keyholder-ref: parse the
 *          DER, resolve the key through keyholderd, and hand out a PKEY
 *          object by reference (as the store does); libcrypto's
 *          decoder_construct_pkey() gives it to our keymgmt's load(). They
 *          also take a bare DER reference (`-inform DER`); DER that is not
 *          a reference is left alone.
 *   "DER"  input=der, structure=keyholder-ref: for a public-only selection
 *          (PEM_read_bio_PUBKEY, OSSL_STORE_expect(PUBKEY): `openssl pkey
 *          -pubin -in ref.pem`, `dgst -verify ref.pem`) passes the key's
 *          SubjectPublicKeyInfo on to the default provider's decoders, so
 *          the result is a plain public key. A held key object always has
 *          its private half (keymgmt has()), and OSSL_STORE would drop it
 *          as "not a public key".
 * References only ever reach keymgmt load() through this decoder chain
 * (the decoder's own provider), never through the file store's result
 * handler, which would give them to the default provider's load().
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include "provider.h"

#define KHP_REF_VERSION 1
/* "keyholder:" + NAME + ";version=" + 10 digits */
#define KHP_REF_MAX_URI                                                     \
    (sizeof(KHP_URI_SCHEME ":") - 1 + KH_MAX_NAME_LEN +                     \
     sizeof(";version=") - 1 + 10)
/* SEQUENCE header 2 + INTEGER 3 + UTF8String header 2 + URI. */
#define KHP_REF_MAX_DER (7 + KHP_REF_MAX_URI)
/* How much input the PEM decoder scans for our BEGIN line. */
#define KHP_REF_MAX_SCAN (64 * 1024)
/* A PEM line we look at; longer lines are not ours. */
#define KHP_REF_MAX_LINE 128
/* The whole PEM block: a few lines of base64 plus BEGIN and END. */
#define KHP_REF_MAX_PEM 1024

#define KHP_REF_BEGIN "-----BEGIN " KHP_REF_PEM_LABEL "-----"
#define KHP_REF_END "-----END " KHP_REF_PEM_LABEL "-----"

static OSSL_FUNC_decoder_newctx_fn khp_pem2der_newctx;
static OSSL_FUNC_decoder_freectx_fn khp_dec_freectx;
static OSSL_FUNC_decoder_decode_fn khp_pem2der_decode;
static OSSL_FUNC_decoder_newctx_fn khp_ec_ref2key_newctx;
static OSSL_FUNC_decoder_newctx_fn khp_rsa_ref2key_newctx;
static OSSL_FUNC_decoder_newctx_fn khp_ed25519_ref2key_newctx;
static OSSL_FUNC_decoder_does_selection_fn khp_ref2key_does_selection;
static OSSL_FUNC_decoder_decode_fn khp_ref2key_decode;
static OSSL_FUNC_decoder_newctx_fn khp_ref2spki_newctx;
static OSSL_FUNC_decoder_does_selection_fn khp_ref2spki_does_selection;
static OSSL_FUNC_decoder_decode_fn khp_ref2spki_decode;

struct khp_dec_ctx {
    struct khp_ctx *provctx;
    const char *keytype; /* ref2key: the keymgmt this decoder produces */
};

/*- The reference DER ------------------------------------------------- */

/* One short-form TLV at |*p| with tag |tag|; advances |*p| past it. */
static int khp_der_get(const unsigned char **p, const unsigned char *end,
                       unsigned char tag, const unsigned char **val,
                       size_t *len)
{
    const unsigned char *q = *p;

    if (end - q < 2 || q[0] != tag || (q[1] & 0x80) != 0 ||
        (size_t)(end - q - 2) < q[1]) {
        return 0;
    }
    *val = q + 2;
    *len = q[1];
    *p = q + 2 + q[1];
    return 1;
}

/*
 * Parses a KeyholderKeyReference in |der|. KHP_REF_OK fills |uri| (the
 * key), KHP_REF_BAD sets |*why| and |*reason| (a KHP_R_*), and
 * KHP_REF_NOT_OURS means the bytes are something else (no SEQUENCE {
 * INTEGER, UTF8String "keyholder:..." } filling exactly |len| bytes with
 * short-form lengths).
 */
int khp_ref_parse(const unsigned char *der, size_t len, struct khp_uri *uri,
                  const char **why, int *reason)
{
    const unsigned char *p = der, *end = der + len, *seq, *ver, *str;
    size_t seq_len, ver_len, str_len;
    char text[KHP_REF_MAX_URI + 1];

    if (!khp_der_get(&p, end, 0x30, &seq, &seq_len) || p != end) {
        return KHP_REF_NOT_OURS;
    }
    p = seq;
    if (!khp_der_get(&p, end, 0x02, &ver, &ver_len) ||
        !khp_der_get(&p, end, 0x0c, &str, &str_len) || p != end) {
        return KHP_REF_NOT_OURS;
    }
    if (str_len < sizeof(KHP_URI_SCHEME ":") - 1 ||
        memcmp(str, KHP_URI_SCHEME ":", sizeof(KHP_URI_SCHEME ":") - 1) !=
            0) {
        return KHP_REF_NOT_OURS;
    }
    /* DER INTEGER 1: one content byte. */
    *reason = KHP_R_UNSUPPORTED;
    if (ver_len != 1 || ver[0] != KHP_REF_VERSION) {
        *why = "unsupported reference format version (this keyholder "
               "reads version 1)";
        return KHP_REF_BAD;
    }
    *reason = KHP_R_BAD_URI;
    if (str_len > KHP_REF_MAX_URI || memchr(str, '\0', str_len) != NULL) {
        *why = "the URI is too long or holds a NUL byte";
        return KHP_REF_BAD;
    }
    memcpy(text, str, str_len);
    text[str_len] = '\0';
    if (!khp_uri_parse(text, uri)) {
        *why = "the URI is not keyholder:NAME or keyholder:NAME;version=N";
        return KHP_REF_BAD;
    }
    if (uri->list) {
        *why = "the URI names no key";
        return KHP_REF_BAD;
    }
    return KHP_REF_OK;
}

/*- Shared ------------------------------------------------------------ */

static void *khp_dec_newctx(void *provctx, const char *keytype)
{
    struct khp_ctx *pctx = provctx;
    struct khp_dec_ctx *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL) {
        khp_raise(pctx, KHP_R_INTERNAL, "out of memory");
        return NULL;
    }
    ctx->provctx = pctx;
    ctx->keytype = keytype;
    return ctx;
}

static void khp_dec_freectx(void *vctx)
{
    OPENSSL_free(vctx);
}

/* Reads one byte: 1, or 0 at end of input (or a read error). */
static int khp_dec_getc(struct khp_dec_ctx *ctx, OSSL_CORE_BIO *in,
                        unsigned char *c)
{
    size_t n = 0;

    return ctx->provctx->core_bio_read_ex(in, c, 1, &n) == 1 && n == 1;
}

/*
 * Reads one line, without its line end and trailing white space, into
 * |line| (NUL-terminated). Byte by byte, so that nothing after the line is
 * consumed: a file holding several objects (a reference, then a
 * certificate) keeps its next object for the next decode. |*budget| caps
 * the bytes read. Returns 1 for a line, 0 at the end of the input or of
 * the budget. |*toolong| is set if the line did not fit (its tail is read
 * and dropped).
 */
static int khp_dec_getline(struct khp_dec_ctx *ctx, OSSL_CORE_BIO *in,
                           char *line, size_t max, size_t *budget,
                           int *toolong)
{
    size_t len = 0;
    unsigned char c;
    int any = 0;

    *toolong = 0;
    while (*budget > 0 && khp_dec_getc(ctx, in, &c)) {
        (*budget)--;
        any = 1;
        if (c == '\n') {
            break;
        }
        if (len + 1 < max) {
            line[len++] = (char)c;
        } else {
            *toolong = 1;
        }
    }
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
                       line[len - 1] == '\t')) {
        len--;
    }
    line[len] = '\0';
    return any;
}

/* Appends |line| and a newline to the PEM block being collected. */
static int khp_dec_append(char *pem, size_t *pem_len, const char *line)
{
    size_t n = strlen(line);

    if (n + 1 > KHP_REF_MAX_PEM - 1 - *pem_len) {
        return 0;
    }
    memcpy(pem + *pem_len, line, n);
    pem[*pem_len + n] = '\n';
    *pem_len += n + 1;
    pem[*pem_len] = '\0';
    return 1;
}

/*- PEM to DER -------------------------------------------------------- */

static void *khp_pem2der_newctx(void *provctx)
{
    return khp_dec_newctx(provctx, NULL);
}

/*
 * Collects our PEM block from |in| into |pem|. Returns 1 if the first PEM
 * block is ours, -1 if it is not ours (or there is none), 0 if ours is
 * broken (raised).
 */
static int khp_pem2der_collect(struct khp_dec_ctx *ctx, OSSL_CORE_BIO *in,
                               char *pem, size_t *pem_len)
{
    char line[KHP_REF_MAX_LINE];
    size_t budget = KHP_REF_MAX_SCAN;
    int toolong;

    *pem_len = 0;
    pem[0] = '\0';
    for (;;) {
        if (!khp_dec_getline(ctx, in, line, sizeof(line), &budget,
                             &toolong)) {
            return -1;
        }
        if (toolong || strncmp(line, "-----BEGIN ", 11) != 0) {
            continue; /* text before a PEM block, as PEM_read_bio allows */
        }
        if (strcmp(line, KHP_REF_BEGIN) != 0) {
            return -1; /* the first PEM block is someone else's */
        }
        break;
    }
    if (!khp_dec_append(pem, pem_len, line)) {
        return 0; /* cannot happen: the BEGIN line is short */
    }
    for (;;) {
        if (!khp_dec_getline(ctx, in, line, sizeof(line), &budget,
                             &toolong)) {
            khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                      "truncated key reference: no '%s' line", KHP_REF_END);
            return 0;
        }
        if (toolong || !khp_dec_append(pem, pem_len, line)) {
            khp_raise(ctx->provctx, KHP_R_INVALID_ARGUMENT,
                      "malformed key reference: longer than a reference "
                      "can be");
            return 0;
        }
        if (strcmp(line, KHP_REF_END) == 0) {
            return 1;
        }
    }
}

/*
 * Reads our PEM block from |in| (khp_pem2der_collect) and checks the DER
 * inside. Returns 1 with |*der| (OPENSSL_free) and |uri| filled, -1 if the
 * first PEM block is not ours (nothing raised), 0 after raising.
 */
int khp_ref_read_pem(struct khp_ctx *provctx, OSSL_CORE_BIO *in,
                     unsigned char **der, long *der_len, struct khp_uri *uri)
{
    struct khp_dec_ctx ctx = { .provctx = provctx };
    char pem[KHP_REF_MAX_PEM];
    char *name = NULL, *header = NULL;
    size_t pem_len;
    const char *why = "not a KeyholderKeyReference";
    int reason = KHP_R_INVALID_ARGUMENT;
    BIO *mem = NULL;
    int r, ok = 0;

    *der = NULL;
    *der_len = 0;
    r = khp_pem2der_collect(&ctx, in, pem, &pem_len);
    if (r <= 0) {
        return r < 0 ? -1 : 0;
    }
    if ((mem = BIO_new_mem_buf(pem, (int)pem_len)) == NULL) {
        khp_raise(provctx, KHP_R_INTERNAL, "out of memory");
        goto out;
    }
    if (!PEM_read_bio(mem, &name, &header, der, der_len) ||
        strcmp(name, KHP_REF_PEM_LABEL) != 0 || header[0] != '\0') {
        khp_raise(provctx, KHP_R_INVALID_ARGUMENT,
                  "malformed key reference: bad base64 or PEM headers");
        goto out;
    }
    if (*der_len <= 0 || (size_t)*der_len > KHP_REF_MAX_DER ||
        khp_ref_parse(*der, (size_t)*der_len, uri, &why, &reason) !=
            KHP_REF_OK) {
        khp_raise(provctx, reason, "malformed key reference: %s", why);
        goto out;
    }
    ok = 1;
out:
    if (!ok) {
        OPENSSL_free(*der);
        *der = NULL;
        *der_len = 0;
    }
    BIO_free(mem);
    OPENSSL_free(name);
    OPENSSL_free(header);
    return ok;
}

static int khp_pem2der_decode(void *vctx, OSSL_CORE_BIO *in, int selection,
                              OSSL_CALLBACK *data_cb, void *data_cbarg,
                              OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    struct khp_dec_ctx *ctx = vctx;
    unsigned char *der = NULL;
    long der_len = 0;
    struct khp_uri uri;
    const char *type;
    struct kh_key_info info;
    OSSL_PARAM params[4];
    int r, ok = 0;

    (void)selection;
    (void)pw_cb;
    (void)pw_cbarg;
    if (ctx->provctx->core_bio_read_ex == NULL) {
        return 1; /* cannot read: leave the input to others */
    }
    r = khp_ref_read_pem(ctx->provctx, in, &der, &der_len, &uri);
    if (r < 0) {
        return 1; /* not ours: "carry on", without calling back */
    }
    if (r == 0) {
        return 0;
    }
    /*
     * Resolve the key now: an unreachable daemon or an unknown key is
     * reported here, at the top of the decoder chain, where libcrypto
     * keeps the error (below, the file store's result handler drops the
     * errors of its inner decoders). The type also picks the one ref2key
     * decoder that applies.
     */
    if (!khp_call_key_info(ctx->provctx, uri.name, uri.version, &info)) {
        goto out;
    }
    if ((type = khp_keymgmt_name(info.type)) == NULL) {
        khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                  "key '%s' has unknown type %u", info.name,
                  (unsigned)info.type);
        goto out;
    }
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, der,
                                                  (size_t)der_len);
    params[1] = OSSL_PARAM_construct_utf8_string(
        OSSL_OBJECT_PARAM_DATA_STRUCTURE, KHP_REF_STRUCTURE, 0);
    params[2] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                 (char *)type, 0);
    params[3] = OSSL_PARAM_construct_end();
    ok = data_cb(params, data_cbarg);
out:
    OPENSSL_free(der);
    return ok;
}

/*- DER reference to key ---------------------------------------------- */

static void *khp_ec_ref2key_newctx(void *provctx)
{
    return khp_dec_newctx(provctx, "EC");
}

static void *khp_rsa_ref2key_newctx(void *provctx)
{
    return khp_dec_newctx(provctx, "RSA");
}

static void *khp_ed25519_ref2key_newctx(void *provctx)
{
    return khp_dec_newctx(provctx, "ED25519");
}

/*
 * A held key object serves a selection with the private key, or none
 * (guessing); public-only selections go to ref2spki.
 */
static int khp_ref_wants_object(int selection)
{
    return selection == 0 ||
           (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

static int khp_ref2key_does_selection(void *provctx, int selection)
{
    (void)provctx;
    return khp_ref_wants_object(selection);
}

/*
 * Reads and resolves a DER reference from |in|. Returns 1 with |*info|
 * and |*uri| filled, -1 if the input is not a reference (nothing raised),
 * 0 after raising an error.
 */
static int khp_ref_resolve(struct khp_dec_ctx *ctx, OSSL_CORE_BIO *in,
                           struct khp_uri *uri, struct kh_key_info *info)
{
    unsigned char der[KHP_REF_MAX_DER + 1];
    int reason = KHP_R_INVALID_ARGUMENT;
    const char *why = NULL;
    size_t len = 0, n;

    if (ctx->provctx->core_bio_read_ex == NULL) {
        return -1;
    }
    /* One byte more than a reference can be tells "too long". */
    while (len < sizeof(der)) {
        n = 0;
        if (!ctx->provctx->core_bio_read_ex(in, der + len, sizeof(der) - len,
                                            &n) ||
            n == 0) {
            break;
        }
        len += n;
    }
    if (len > KHP_REF_MAX_DER) {
        return -1; /* not ours: some other DER */
    }
    switch (khp_ref_parse(der, len, uri, &why, &reason)) {
    case KHP_REF_OK:
        break;
    case KHP_REF_BAD:
        khp_raise(ctx->provctx, reason, "malformed key reference: %s", why);
        return 0;
    default:
        return -1;
    }
    if (!khp_call_key_info(ctx->provctx, uri->name, uri->version, info)) {
        return 0;
    }
    return 1;
}

static int khp_ref2key_decode(void *vctx, OSSL_CORE_BIO *in, int selection,
                              OSSL_CALLBACK *data_cb, void *data_cbarg,
                              OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    struct khp_dec_ctx *ctx = vctx;
    int object_type = OSSL_OBJECT_PKEY;
    char desc[KHP_REF_MAX_URI + 1];
    struct kh_key_info info;
    struct khp_key *key;
    struct khp_uri uri;
    const char *type;
    OSSL_PARAM params[5];
    int r, ok;

    (void)pw_cb;
    (void)pw_cbarg;
    if (!khp_ref_wants_object(selection)) {
        return 1; /* ref2spki's job */
    }
    if ((r = khp_ref_resolve(ctx, in, &uri, &info)) <= 0) {
        return r < 0; /* not ours: carry on; else an error */
    }
    type = khp_keymgmt_name(info.type);
    if (type == NULL || strcmp(type, ctx->keytype) != 0) {
        /* Our decoder for that key type takes it. */
        return 1;
    }
    if ((key = khp_key_new(ctx->provctx, &info, uri.version != 0)) == NULL) {
        return 0;
    }
    khp_key_uri(key, desc, sizeof(desc));
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                 (char *)ctx->keytype, 0);
    params[2] = khp_key_reference_param(&key);
    params[3] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC, desc,
                                                 0);
    params[4] = OSSL_PARAM_construct_end();
    ok = data_cb(params, data_cbarg);
    khp_key_free(key);
    return ok;
}

/*- DER reference to its public key ----------------------------------- */

static void *khp_ref2spki_newctx(void *provctx)
{
    return khp_dec_newctx(provctx, NULL);
}

static int khp_ref2spki_does_selection(void *provctx, int selection)
{
    (void)provctx;
    return !khp_ref_wants_object(selection);
}

static int khp_ref2spki_decode(void *vctx, OSSL_CORE_BIO *in, int selection,
                               OSSL_CALLBACK *data_cb, void *data_cbarg,
                               OSSL_PASSPHRASE_CALLBACK *pw_cb,
                               void *pw_cbarg)
{
    struct khp_dec_ctx *ctx = vctx;
    struct kh_key_info info;
    struct khp_uri uri;
    const char *type;
    OSSL_PARAM params[4];
    int r;

    (void)pw_cb;
    (void)pw_cbarg;
    if (khp_ref_wants_object(selection)) {
        return 1; /* ref2key's job */
    }
    if ((r = khp_ref_resolve(ctx, in, &uri, &info)) <= 0) {
        return r < 0;
    }
    if ((type = khp_keymgmt_name(info.type)) == NULL) {
        khp_raise(ctx->provctx, KHP_R_UNSUPPORTED,
                  "key '%s' has unknown type %u", info.name,
                  (unsigned)info.type);
        return 0;
    }
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA,
                                                  info.spki, info.spki_len);
    params[1] = OSSL_PARAM_construct_utf8_string(
        OSSL_OBJECT_PARAM_DATA_STRUCTURE, "SubjectPublicKeyInfo", 0);
    params[2] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                 (char *)type, 0);
    params[3] = OSSL_PARAM_construct_end();
    return data_cb(params, data_cbarg);
}

/*- Tables ------------------------------------------------------------ */

static const OSSL_DISPATCH khp_pem2der_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))khp_pem2der_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))khp_dec_freectx },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))khp_pem2der_decode },
    { 0, NULL },
};

#define KHP_REF2KEY_FUNCTIONS(alg)                                          \
    static const OSSL_DISPATCH khp_##alg##_ref2key_functions[] = {          \
        { OSSL_FUNC_DECODER_NEWCTX,                                         \
          (void (*)(void))khp_##alg##_ref2key_newctx },                     \
        { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))khp_dec_freectx },     \
        { OSSL_FUNC_DECODER_DOES_SELECTION,                                 \
          (void (*)(void))khp_ref2key_does_selection },                     \
        { OSSL_FUNC_DECODER_DECODE, (void (*)(void))khp_ref2key_decode },   \
        { 0, NULL },                                                        \
    }

static const OSSL_DISPATCH khp_ref2spki_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))khp_ref2spki_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))khp_dec_freectx },
    { OSSL_FUNC_DECODER_DOES_SELECTION,
      (void (*)(void))khp_ref2spki_does_selection },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))khp_ref2spki_decode },
    { 0, NULL },
};

KHP_REF2KEY_FUNCTIONS(ec);
KHP_REF2KEY_FUNCTIONS(rsa);
KHP_REF2KEY_FUNCTIONS(ed25519);

#define KHP_REF2KEY_PROPS                                                   \
    KHP_PROPS ",input=der,structure=" KHP_REF_STRUCTURE

const OSSL_ALGORITHM khp_decoder_algorithms[] = {
    { "DER", KHP_PROPS ",input=pem", khp_pem2der_functions,
      "keyholder key reference PEM to DER" },
    { "DER", KHP_REF2KEY_PROPS, khp_ref2spki_functions,
      "keyholder key reference to its SubjectPublicKeyInfo" },
    { "EC", KHP_REF2KEY_PROPS, khp_ec_ref2key_functions,
      "keyholder key reference to a held EC key" },
    { "RSA", KHP_REF2KEY_PROPS, khp_rsa_ref2key_functions,
      "keyholder key reference to a held RSA key" },
    { "ED25519", KHP_REF2KEY_PROPS, khp_ed25519_ref2key_functions,
      "keyholder key reference to a held Ed25519 key" },
    { NULL, NULL, NULL, NULL },
};
