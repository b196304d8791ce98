/*
 * fuzz_khp_ref.c - key reference files (provider/decoder.c): the DER parser
 * khp_ref_parse() and the PEM reader khp_ref_read_pem(), which collects the
 * "KEYHOLDER KEY REFERENCE" block line by line through the core BIO upcall
 * and checks the DER inside. The upcall is served from memory here; the
 * daemon lookup that follows in the real decoder is not reached.
 *
 * Every input goes to both: a DER file and a PEM file are both seeds.
 * Properties: an accepted DER is exactly the one canonical encoding of its
 * URI (30 L 02 01 01 0C n URI) and the URI is valid and names a key; an
 * accepted PEM block yields such a DER, and the reader stopped at the end
 * of a line, leaving what follows for the next decoder.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "fuzz.h"
#include "provider.h"

struct fuzz_bio {
    const uint8_t *p;
    size_t len;
    size_t off;
};

/* BIO_read_ex() semantics: 1 if any byte was read, 0 at the end. */
static int fuzz_bio_read(OSSL_CORE_BIO *bio, void *data, size_t len,
                         size_t *n)
{
    struct fuzz_bio *b = (struct fuzz_bio *)bio;
    size_t k = b->len - b->off;

    if (k > len) {
        k = len;
    }
    if (k > 0) {
        memcpy(data, b->p + b->off, k);
    }
    b->off += k;
    *n = k;
    return k > 0;
}

/* |der| is a reference that khp_ref_parse() accepted as |u|. */
static void fuzz_check_canonical(const uint8_t *der, size_t len,
                                 const struct khp_uri *u)
{
    char uri[128];
    size_t n;

    FUZZ_CHECK(!u->list && kh_name_valid(u->name));
    FUZZ_CHECK(len >= 7 && len - 7 < sizeof(uri));
    n = len - 7;
    FUZZ_CHECK(der[0] == 0x30 && der[1] == n + 5 && der[2] == 0x02 &&
               der[3] == 0x01 && der[4] == 0x01 && der[5] == 0x0c &&
               der[6] == n);
    memcpy(uri, der + 7, n);
    uri[n] = '\0';
    FUZZ_CHECK(strlen(uri) == n);
    if (u->version == 0) {
        FUZZ_CHECK(strcmp(uri + strlen(KHP_URI_SCHEME ":"), u->name) == 0);
    }
}

static void fuzz_der(const uint8_t *data, size_t size)
{
    struct khp_uri u, u2;
    const char *why = NULL;
    int reason = 0, r;

    r = khp_ref_parse(data, size, &u, &why, &reason);
    switch (r) {
    case KHP_REF_OK:
        fuzz_check_canonical(data, size, &u);
        {
            char uri[128];

            memcpy(uri, data + 7, size - 7);
            uri[size - 7] = '\0';
            FUZZ_CHECK(khp_uri_parse(uri, &u2));
            FUZZ_CHECK(strcmp(u.name, u2.name) == 0 &&
                       u.version == u2.version);
        }
        break;
    case KHP_REF_BAD:
        FUZZ_CHECK(why != NULL && reason != 0);
        break;
    default:
        FUZZ_CHECK(r == KHP_REF_NOT_OURS);
        break;
    }
}

static void fuzz_pem(const uint8_t *data, size_t size)
{
    struct khp_ctx pctx;
    struct fuzz_bio in = { data, size, 0 };
    unsigned char *der = NULL;
    long der_len = -1;
    struct khp_uri u, u2;
    const char *why = NULL;
    int reason = 0, r;

    /* No core error upcalls: khp_raise() does nothing. */
    memset(&pctx, 0, sizeof(pctx));
    pctx.core_bio_read_ex = fuzz_bio_read;
    r = khp_ref_read_pem(&pctx, (OSSL_CORE_BIO *)&in, &der, &der_len, &u);
    FUZZ_CHECK(in.off <= size);
    if (r != 1) {
        FUZZ_CHECK(r == 0 || r == -1);
        FUZZ_CHECK(der == NULL && der_len == 0);
        ERR_clear_error();
        return;
    }
    FUZZ_CHECK(der != NULL && der_len > 0);
    FUZZ_CHECK(in.off == size || data[in.off - 1] == '\n');
    FUZZ_CHECK(khp_ref_parse(der, (size_t)der_len, &u2, &why, &reason) ==
               KHP_REF_OK);
    FUZZ_CHECK(strcmp(u.name, u2.name) == 0 && u.version == u2.version);
    fuzz_check_canonical(der, (size_t)der_len, &u);
    OPENSSL_free(der);
    ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_der(data, size);
    fuzz_pem(data, size);
    return 0;
}
