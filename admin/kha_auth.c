/*
 * khadmin --as NAME --key KEY [--pass SPEC]: requests signed by an
 * operator (kh_client_set_operator). The key is loaded once per run.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "kha.h"

/*
 * Loads the operator's private key. Until h5a's kha_opkey_load lands this
 * reads a PEM file with a passphrase given as pass:TEXT, env:VAR or
 * file:PATH (first line).
 */
static EVP_PKEY *kha_auth_load_key(const char *path, const char *spec)
{
    char pass[1024] = "";
    EVP_PKEY *pk = NULL;
    BIO *bio;

    if (spec != NULL && kha_pass_from_spec(spec, pass, sizeof(pass)) != 0) {
        return NULL;
    }
    if ((bio = BIO_new_file(path, "r")) == NULL) {
        fprintf(stderr, "khadmin: cannot open operator key %s\n", path);
        goto out;
    }
    pk = PEM_read_bio_PrivateKey(bio, NULL, NULL,
                                 spec != NULL ? pass : (void *)"");
    BIO_free(bio);
    if (pk == NULL) {
        fprintf(stderr, "khadmin: cannot load operator key %s (wrong "
                        "passphrase?)\n", path);
    }
out:
    ERR_clear_error();
    OPENSSL_cleanse(pass, sizeof(pass));
    return pk;
}

int kha_pass_from_spec(const char *spec, char *out, size_t outsz)
{
    const char *v = NULL;

    if (strncmp(spec, "pass:", 5) == 0) {
        v = spec + 5;
    } else if (strncmp(spec, "env:", 4) == 0) {
        if ((v = getenv(spec + 4)) == NULL) {
            fprintf(stderr, "khadmin: passphrase variable %s is not set\n",
                    spec + 4);
            return -1;
        }
    } else if (strncmp(spec, "file:", 5) == 0) {
        FILE *f = fopen(spec + 5, "r");

        if (f == NULL || fgets(out, (int)outsz, f) == NULL) {
            fprintf(stderr, "khadmin: cannot read passphrase file %s\n",
                    spec + 5);
            if (f != NULL) {
                fclose(f);
            }
            return -1;
        }
        fclose(f);
        out[strcspn(out, "\r\n")] = '\0';
        return 0;
    } else {
        fprintf(stderr, "khadmin: passphrase must be pass:TEXT, env:VAR or "
                        "file:PATH\n");
        return -1;
    }
    if (strlen(v) >= outsz) {
        fprintf(stderr, "khadmin: passphrase too long\n");
        return -1;
    }
    snprintf(out, outsz, "%s", v);
    return 0;
}

int kha_sign_with(EVP_PKEY *pk, const uint8_t *tbs, size_t len,
                  uint8_t *sig, size_t *siglen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int r = KH_ERR_CRYPTO;

    /* SHA-256 for P-256, SHA-384 for P-384 (kh_auth.h). */
    if (md != NULL &&
        EVP_DigestSignInit_ex(md, NULL,
                              EVP_PKEY_get_bits(pk) > 256 ? "SHA384"
                                                          : "SHA256",
                              NULL, NULL, pk, NULL) == 1 &&
        EVP_DigestSign(md, sig, siglen, tbs, len) == 1) {
        r = KH_OK;
    }
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    return r;
}

static int kha_auth_sign(void *arg, const uint8_t *tbs, size_t len,
                         uint8_t *sig, size_t *siglen)
{
    return kha_sign_with(arg, tbs, len, sig, siglen);
}

EVP_PKEY *kha_operator_key(struct kha_globals *g)
{
    if (g->opkey == NULL && g->key != NULL) {
        g->opkey = kha_auth_load_key(g->key, g->pass);
    }
    return g->opkey;
}

int kha_auth_attach(struct kha_globals *g, struct kh_client *c)
{
    EVP_PKEY *pk;

    if (g->as == NULL) {
        return KHA_OK;
    }
    if (g->key == NULL) {
        fprintf(stderr, "khadmin: --as %s needs --key KEY (or "
                        "$KHADMIN_KEY)\n", g->as);
        return KHA_USAGE;
    }
    if ((pk = kha_operator_key(g)) == NULL) {
        return KHA_FAIL;
    }
    if (kh_client_set_operator(c, g->as, kha_auth_sign, pk) != 0) {
        fprintf(stderr, "khadmin: %s\n", kh_client_reason(c));
        return KHA_USAGE;
    }
    return KHA_OK;
}
