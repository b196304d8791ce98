/*
 * prov_client - drives the keyholder provider from C, through plain
 * OpenSSL APIs, for the fork and restart tests.
 *
 *   prov_client fork URI PUB.pem CHILDREN SIGNATURES
 *       load the key, sign once, fork CHILDREN processes that each sign
 *       SIGNATURES times; every signature is verified with PUB.pem by the
 *       default provider; the parent signs again afterwards
 *   prov_client restart URI PUB.pem
 *       sign, print "signed 1", wait for a line on stdin (the test restarts
 *       keyholderd meanwhile), sign again with the same key object, print
 *       "signed 2"
 *
 * Exit 0 when every signature verified.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/store.h>

static EVP_PKEY *load_key(const char *uri)
{
    OSSL_STORE_CTX *st = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
    EVP_PKEY *pkey = NULL;

    if (st == NULL) {
        return NULL;
    }
    while (pkey == NULL && !OSSL_STORE_eof(st)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(st);

        if (info != NULL && OSSL_STORE_INFO_get_type(info) ==
                                OSSL_STORE_INFO_PKEY) {
            pkey = OSSL_STORE_INFO_get1_PKEY(info);
        }
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(st);
    return pkey;
}

static EVP_PKEY *load_pub(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *pub;

    if (f == NULL) {
        return NULL;
    }
    pub = PEM_read_PUBKEY_ex(f, NULL, NULL, NULL, NULL, "provider=default");
    fclose(f);
    return pub;
}

static const char *md_for(const EVP_PKEY *pkey)
{
    return EVP_PKEY_is_a(pkey, "ED25519") ? NULL : "SHA256";
}

/* Signs |msg| with the held key and verifies it with |pub|. */
static int sign_and_verify(EVP_PKEY *pkey, EVP_PKEY *pub, const char *msg)
{
    EVP_MD_CTX *s = EVP_MD_CTX_new(), *v = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    int ok = 0;

    if (s != NULL && v != NULL &&
        EVP_DigestSignInit_ex(s, NULL, md_for(pkey), NULL, NULL, pkey,
                              NULL) == 1 &&
        EVP_DigestSign(s, sig, &siglen, (const unsigned char *)msg,
                       strlen(msg)) == 1 &&
        EVP_DigestVerifyInit_ex(v, NULL, md_for(pub), NULL,
                                "provider=default", pub, NULL) == 1 &&
        EVP_DigestVerify(v, sig, siglen, (const unsigned char *)msg,
                         strlen(msg)) == 1) {
        ok = 1;
    }
    if (!ok) {
        ERR_print_errors_fp(stderr);
    }
    EVP_MD_CTX_free(s);
    EVP_MD_CTX_free(v);
    return ok;
}

static int child_main(EVP_PKEY *pkey, EVP_PKEY *pub, int id, int n)
{
    char msg[64];
    int bad = 0;

    for (int i = 0; i < n; i++) {
        snprintf(msg, sizeof(msg), "child %d signature %d", id, i);
        bad += !sign_and_verify(pkey, pub, msg);
    }
    if (bad > 0) {
        fprintf(stderr, "child %d: %d of %d signatures failed\n", id, bad, n);
    }
    return bad == 0 ? 0 : 1;
}

static int cmd_fork(EVP_PKEY *pkey, EVP_PKEY *pub, int children, int n)
{
    pid_t pids[64];
    int failed = 0;

    if (children < 1 || children > 64 || n < 1) {
        return 2;
    }
    if (!sign_and_verify(pkey, pub, "parent before fork")) {
        return 1;
    }
    for (int i = 0; i < children; i++) {
        if ((pids[i] = fork()) < 0) {
            return 1;
        }
        if (pids[i] == 0) {
            _exit(child_main(pkey, pub, i, n));
        }
    }
    for (int i = 0; i < children; i++) {
        int status;

        if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            failed++;
        }
    }
    if (!sign_and_verify(pkey, pub, "parent after the children")) {
        failed++;
    }
    printf("fork: %d children x %d signatures, parent before and after: %s\n",
           children, n, failed == 0 ? "all verified" : "FAILURES");
    return failed == 0 ? 0 : 1;
}

static int cmd_restart(EVP_PKEY *pkey, EVP_PKEY *pub)
{
    char line[16];

    if (!sign_and_verify(pkey, pub, "before the restart")) {
        return 1;
    }
    printf("signed 1\n");
    fflush(stdout);
    if (fgets(line, sizeof(line), stdin) == NULL) {
        return 1;
    }
    if (!sign_and_verify(pkey, pub, "after the restart")) {
        return 1;
    }
    printf("signed 2\n");
    return 0;
}

int main(int argc, char **argv)
{
    EVP_PKEY *pkey, *pub;
    int rc;

    if (argc < 4) {
        fprintf(stderr, "usage: prov_client fork|restart URI PUB.pem ...\n");
        return 2;
    }
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
    if ((pkey = load_key(argv[2])) == NULL) {
        fprintf(stderr, "prov_client: cannot load %s\n", argv[2]);
        ERR_print_errors_fp(stderr);
        return 1;
    }
    if ((pub = load_pub(argv[3])) == NULL) {
        fprintf(stderr, "prov_client: cannot read %s\n", argv[3]);
        return 1;
    }
    if (strcmp(argv[1], "fork") == 0 && argc == 6) {
        rc = cmd_fork(pkey, pub, atoi(argv[4]), atoi(argv[5]));
    } else if (strcmp(argv[1], "restart") == 0) {
        rc = cmd_restart(pkey, pub);
    } else {
        rc = 2;
    }
    EVP_PKEY_free(pkey);
    EVP_PKEY_free(pub);
    return rc;
}
