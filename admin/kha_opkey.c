/* kha_opkey.c - operator private keys through OSSL_STORE (kha_opkey.h). */
#include "kha_opkey.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/store.h>
#include <openssl/ui.h>
#include <openssl/x509.h>

/* Where the passphrase comes from, for the store's callback. */
struct kha_pass_ctx {
    const char *uri;
    const char *spec;   /* --pass, or NULL */
    int asked;          /* the key turned out to be encrypted */
    int unavailable;    /* no spec, no env, no terminal */
    int bad_spec;       /* the spec could not be resolved */
};

static int kha_pass_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        return KH_ERR_NOT_FOUND;
    }
    /* Unbuffered: no stdio buffer keeps a copy of the passphrase. */
    setvbuf(f, NULL, _IONBF, 0);
    if (fgets(buf, (int)size, f) == NULL) {
        buf[0] = '\0';
    }
    fclose(f);
    n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    return KH_OK;
}

int kha_pass_resolve(const char *spec, char *buf, size_t size)
{
    const char *v;

    if (size == 0) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    buf[0] = '\0';
    if (strncmp(spec, "pass:", 5) == 0) {
        v = spec + 5;
    } else if (strncmp(spec, "env:", 4) == 0) {
        if ((v = getenv(spec + 4)) == NULL) {
            return KH_ERR_NOT_FOUND;
        }
    } else if (strncmp(spec, "file:", 5) == 0) {
        return kha_pass_file(spec + 5, buf, size);
    } else {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if (strlen(v) >= size) {
        return KH_ERR_TOO_LARGE;
    }
    memcpy(buf, v, strlen(v) + 1);
    return KH_OK;
}

/* pem_password_cb, wrapped into a UI_METHOD for OSSL_STORE. */
static int kha_pass_cb(char *buf, int size, int rwflag, void *u)
{
    struct kha_pass_ctx *pc = u;
    const char *env = getenv("KHADMIN_KEY_PASS");
    char prompt[256];
    int n;

    (void)rwflag;
    pc->asked = 1;
    if (size <= 0) {
        return -1;
    }
    if (pc->spec != NULL) {
        if (kha_pass_resolve(pc->spec, buf, (size_t)size) != KH_OK) {
            pc->bad_spec = 1;
            return -1;
        }
    } else if (env != NULL) {
        /* The same syntax as --pass (pass:TEXT, env:VAR, file:PATH). */
        if (kha_pass_resolve(env, buf, (size_t)size) != KH_OK) {
            pc->bad_spec = 1;
            return -1;
        }
    } else if (isatty(STDIN_FILENO)) {
        snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", pc->uri);
        if (EVP_read_pw_string(buf, size, prompt, 0) != 0) {
            return -1;
        }
    } else {
        pc->unavailable = 1;
        return -1;
    }
    n = (int)strlen(buf);
    return n;
}

static int kha_opkey_fail(const char *uri, int r, const char *why)
{
    unsigned long e = ERR_peek_last_error();
    char detail[256] = "";

    if (e != 0) {
        ERR_error_string_n(e, detail, sizeof(detail));
    }
    fprintf(stderr, "khadmin: %s: %s%s%s\n", uri, why,
            detail[0] != '\0' ? ": " : "", detail);
    ERR_clear_error();
    return r;
}

/* The first private key in an open store. */
static EVP_PKEY *kha_store_first_pkey(OSSL_STORE_CTX *st)
{
    EVP_PKEY *pkey = NULL;

    while (pkey == NULL && !OSSL_STORE_eof(st)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(st);

        if (info == NULL) {
            if (OSSL_STORE_error(st)) {
                break;
            }
            continue;
        }
        if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY) {
            pkey = OSSL_STORE_INFO_get1_PKEY(info);
        }
        OSSL_STORE_INFO_free(info);
    }
    return pkey;
}

int kha_opkey_load(const char *uri, const char *pass_spec, EVP_PKEY **out)
{
    struct kha_pass_ctx pc = { uri, pass_spec, 0, 0, 0 };
    UI_METHOD *ui;
    OSSL_STORE_CTX *st;
    EVP_PKEY *pkey;

    *out = NULL;
    if (pass_spec != NULL && strncmp(pass_spec, "pass:", 5) != 0 &&
        strncmp(pass_spec, "env:", 4) != 0 &&
        strncmp(pass_spec, "file:", 5) != 0) {
        fprintf(stderr, "khadmin: --pass %s: expected pass:TEXT, env:VAR "
                        "or file:PATH\n", pass_spec);
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((ui = UI_UTIL_wrap_read_pem_callback(kha_pass_cb, 0)) == NULL) {
        return kha_opkey_fail(uri, KH_ERR_ALLOC, "out of memory");
    }
    st = OSSL_STORE_open(uri, ui, &pc, NULL, NULL);
    if (st == NULL) {
        UI_destroy_method(ui);
        return kha_opkey_fail(uri, KH_ERR_NOT_FOUND, "cannot open key");
    }
    /* Ask for a private key only (skips certificates and public keys). */
    (void)OSSL_STORE_expect(st, OSSL_STORE_INFO_PKEY);
    pkey = kha_store_first_pkey(st);
    OSSL_STORE_close(st);
    UI_destroy_method(ui);
    if (pkey != NULL) {
        ERR_clear_error();
        *out = pkey;
        return KH_OK;
    }
    if (pc.bad_spec) {
        return kha_opkey_fail(uri, KH_ERR_AUTH_FAILED,
                              "cannot read the passphrase from --pass or "
                              "$KHADMIN_KEY_PASS (pass:TEXT, env:VAR or "
                              "file:PATH)");
    }
    if (pc.unavailable) {
        return kha_opkey_fail(uri, KH_ERR_AUTH_FAILED,
                              "key is encrypted: give --pass or "
                              "$KHADMIN_KEY_PASS");
    }
    if (pc.asked) {
        return kha_opkey_fail(uri, KH_ERR_AUTH_FAILED,
                              "cannot decrypt the key (wrong passphrase?)");
    }
    return kha_opkey_fail(uri, KH_ERR_NOT_FOUND, "no private key found");
}

unsigned char *kha_opkey_spki(EVP_PKEY *key, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key, &der);

    if (n <= 0) {
        *len = 0;
        return NULL;
    }
    *len = (size_t)n;
    return der;
}
