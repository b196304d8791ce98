/*
 * khadmin --as NAME --key KEY [--pass SPEC]: requests signed by an
 * operator (kh_client_set_operator). The key (a PEM file or any URI
 * OSSL_STORE loads, kha_opkey.h) is loaded once per run.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "kha.h"
#include "kha_opkey.h"

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
    if (g->opkey == NULL && g->key != NULL &&
        kha_opkey_load(g->key, g->pass, &g->opkey) != 0) {
        g->opkey = NULL; /* kha_opkey_load said why */
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
