/* khadmin cert import | show: the certificate stored beside a key. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kha.h"

#define KHA_CERT_IMPORT_USAGE "cert import NAME FILE"
#define KHA_CERT_SHOW_USAGE "cert show NAME [--pem] [--json]"
/* A certificate file (PEM or DER) larger than this is not one. */
#define KHA_MAX_CERT_FILE (1024ul * 1024)

/*
 * The one certificate in the PEM file content |buf|: the first CERTIFICATE
 * block (other block types are skipped). A second certificate is refused:
 * the daemon stores the key's own certificate, not a chain.
 */
static X509 *kha_cert_from_pem(const char *path, const uint8_t *buf,
                               size_t len)
{
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    X509 *x = NULL, *extra = NULL;

    if (bio == NULL) {
        fprintf(stderr, "khadmin: out of memory\n");
        return NULL;
    }
    if ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
        fprintf(stderr, "khadmin: %s has no PEM CERTIFICATE block that "
                        "parses\n", path);
        goto out;
    }
    ERR_set_mark();
    extra = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    ERR_pop_to_mark(); /* the end of the file is the normal case */
    if (extra != NULL) {
        fprintf(stderr, "khadmin: %s holds more than one certificate; import "
                        "only the key's own (openssl x509 -in %s -out "
                        "leaf.pem takes the first)\n", path, path);
        X509_free(x);
        x = NULL;
    }
out:
    X509_free(extra);
    BIO_free(bio);
    return x;
}

/* Reads a PEM or DER certificate file; NULL after saying why. */
static X509 *kha_cert_load(const char *path)
{
    const unsigned char *p;
    uint8_t *buf;
    size_t len = 0;
    X509 *x = NULL;

    if ((buf = kha_read_file(path, KHA_MAX_CERT_FILE, &len)) == NULL) {
        return NULL;
    }
    if (len >= 10 && memmem(buf, len, "-----BEGIN", 10) != NULL) {
        x = kha_cert_from_pem(path, buf, len);
    } else {
        p = buf;
        x = d2i_X509(NULL, &p, (long)len);
        if (x == NULL || p != buf + len) {
            fprintf(stderr, "khadmin: %s is not a PEM or DER X.509 "
                            "certificate%s\n", path,
                    x != NULL ? " (bytes follow the certificate)" : "");
            X509_free(x);
            x = NULL;
        }
    }
    free(buf);
    return x;
}

int kha_cmd_cert_import(struct kha_globals *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { NULL, 0, NULL, 0 },
    };
    struct kh_client *c = NULL;
    const char *name, *path;
    unsigned char *der = NULL;
    X509 *x = NULL;
    int len, o, r;

    if ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        return kha_usage_error(KHA_CERT_IMPORT_USAGE, "bad option");
    }
    if (argc - optind != 2) {
        return kha_usage_error(KHA_CERT_IMPORT_USAGE,
                               argc - optind < 2 ? "missing NAME or FILE"
                                                 : "unexpected argument");
    }
    name = argv[optind];
    path = argv[optind + 1];
    if ((r = kha_check_name(KHA_CERT_IMPORT_USAGE, name)) != 0) {
        return r;
    }
    if ((x = kha_cert_load(path)) == NULL) {
        return KHA_FAIL;
    }
    if ((len = i2d_X509(x, &der)) <= 0) {
        fprintf(stderr, "khadmin: cannot encode the certificate in %s\n",
                path);
        r = KHA_FAIL;
        goto out;
    }
    if ((size_t)len > KH_MAX_CERT_LEN) {
        fprintf(stderr, "khadmin: the certificate in %s has %d bytes; at "
                        "most %u are stored\n", path, len, KH_MAX_CERT_LEN);
        r = KHA_FAIL;
        goto out;
    }
    if ((c = kha_client(g)) == NULL) {
        r = KHA_FAIL;
        goto out;
    }
    if ((r = kh_client_cert_import(c, name, der, (size_t)len)) != 0) {
        r = kha_call_failed(c, "cert import", r);
        goto out;
    }
    fprintf(stderr, "khadmin: stored the certificate from %s for key %s\n",
            path, name);
out:
    kh_client_free(c);
    OPENSSL_free(der);
    X509_free(x);
    return r;
}

/*- cert show ---------------------------------------------------------- */

struct kha_cert_text {
    char *subject, *issuer, *serial;
    char not_before[32], not_after[32];
    char sha256[32 * 3];          /* "AB:CD:..." as openssl prints it */
};

static char *kha_name_text(const X509_NAME *n)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL, *data;
    long len;

    if (bio != NULL &&
        X509_NAME_print_ex(bio, n, 0,
                           XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
        (len = BIO_get_mem_data(bio, &data)) >= 0 &&
        (out = malloc((size_t)len + 1)) != NULL) {
        memcpy(out, data, (size_t)len);
        out[len] = '\0';
    }
    BIO_free(bio);
    return out;
}

static int kha_time_text(const ASN1_TIME *t, char out[32])
{
    struct tm tm;

    return ASN1_TIME_to_tm(t, &tm) == 1 &&
           strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) != 0;
}

static int kha_cert_describe(const X509 *x, struct kha_cert_text *t)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    BIGNUM *bn = NULL;
    char *hex;

    memset(t, 0, sizeof(*t));
    if ((t->subject = kha_name_text(X509_get_subject_name(x))) == NULL ||
        (t->issuer = kha_name_text(X509_get_issuer_name(x))) == NULL ||
        !kha_time_text(X509_get0_notBefore(x), t->not_before) ||
        !kha_time_text(X509_get0_notAfter(x), t->not_after) ||
        (bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL ||
        (hex = BN_bn2hex(bn)) == NULL) {
        BN_free(bn);
        return 0;
    }
    BN_free(bn);
    t->serial = strdup(hex);
    OPENSSL_free(hex);
    if (t->serial == NULL ||
        X509_digest(x, EVP_sha256(), md, &mdlen) != 1 ||
        mdlen != sizeof(md)) {
        return 0;
    }
    for (unsigned i = 0; i < mdlen; i++) {
        snprintf(t->sha256 + 3 * i, 4, i + 1 < mdlen ? "%02X:" : "%02X",
                 md[i]);
    }
    return 1;
}

static void kha_cert_text_free(struct kha_cert_text *t)
{
    free(t->subject);
    free(t->issuer);
    free(t->serial);
}

static void kha_cert_print(const char *name, const struct kha_cert_text *t,
                           int json)
{
    if (!json) {
        printf("key:         %s\n", name);
        printf("subject:     %s\n", t->subject);
        printf("issuer:      %s\n", t->issuer);
        printf("serial:      %s\n", t->serial);
        printf("not before:  %s\n", t->not_before);
        printf("not after:   %s\n", t->not_after);
        printf("sha256:      %s\n", t->sha256);
        return;
    }
    printf("{\"name\":");
    kha_json_str(stdout, name);
    printf(",\"subject\":");
    kha_json_str(stdout, t->subject);
    printf(",\"issuer\":");
    kha_json_str(stdout, t->issuer);
    printf(",\"serial\":\"%s\",\"not_before\":\"%s\",\"not_after\":\"%s\","
           "\"sha256\":\"%s\"}\n",
           t->serial, t->not_before, t->not_after, t->sha256);
}

int kha_cmd_cert_show(struct kha_globals *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "pem", no_argument, NULL, 'p' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct kha_cert_text t = { 0 };
    struct kh_client *c;
    const unsigned char *p;
    const char *name;
    uint8_t *der = NULL;
    size_t len = 0;
    X509 *x = NULL;
    int pem = 0, o, r;

    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (o == 'p') {
            pem = 1;
        } else if (o == 'j') {
            g->json = 1;
        } else {
            return kha_usage_error(KHA_CERT_SHOW_USAGE, "bad option");
        }
    }
    if ((r = kha_take_name(argc, argv, KHA_CERT_SHOW_USAGE, &name)) != 0) {
        return r;
    }
    if (pem && g->json) {
        return kha_usage_error(KHA_CERT_SHOW_USAGE,
                               "--pem and --json exclude each other");
    }
    if ((c = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    r = kh_client_cert_get(c, name, &der, &len);
    if (r != 0) {
        r = kha_call_failed(c, "cert show", r);
        kh_client_free(c);
        return r;
    }
    kh_client_free(c);
    if (pem) {
        /* The stored bytes exactly, as a PEM CERTIFICATE block. */
        if (PEM_write(stdout, PEM_STRING_X509, "", der, (long)len) <= 0) {
            fprintf(stderr, "khadmin: cannot write the certificate\n");
            r = KHA_FAIL;
        }
        goto out;
    }
    p = der;
    if ((x = d2i_X509(NULL, &p, (long)len)) == NULL ||
        !kha_cert_describe(x, &t)) {
        fprintf(stderr, "khadmin: cannot decode the certificate of key %s\n",
                name);
        r = KHA_FAIL;
        goto out;
    }
    kha_cert_print(name, &t, g->json);
out:
    kha_cert_text_free(&t);
    X509_free(x);
    free(der);
    return r;
}
