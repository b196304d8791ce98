/*
 * kh_optest - hand-made operator envelopes for test_operators.sh: what
 * khadmin never sends, so the daemon's refusals can be shown.
 *
 *   kh_optest replay SOCKET OP KEY.pem
 *       one signed OPERATOR_LIST sent twice: the first must succeed, the
 *       second (same nonce) must fail with AUTH_FAILED
 *   kh_optest stale SOCKET OP KEY.pem SECONDS
 *       waits SECONDS between the challenge and its use: AUTH_FAILED
 *   kh_optest nested SOCKET OP KEY.pem
 *       an envelope whose inner request is another envelope: AUTH_FAILED
 *   kh_optest other-uid SOCKET OP KEY.pem UID
 *       the challenge is fetched as this uid, the envelope sent by a child
 *       running as UID: AUTH_FAILED (a nonce is bound to who asked)
 *   kh_optest flood SOCKET OP KEY.pem UID N
 *       a challenge is fetched, then a child running as UID asks for N
 *       challenges; the first challenge must still work (a flood by one
 *       uid evicts only its own challenges)
 *   kh_optest tamper SOCKET OP KEY.pem
 *       a valid signature over another request body: AUTH_FAILED
 *   kh_optest share SOCKET OP KEY.pem SHARE.json SHAREKEY.pem
 *             flip|asis|replay ERR
 *       opens SHARE.json with SHAREKEY.pem, optionally flips a bit of the
 *       share, and submits it as operator OP (signed with KEY.pem) for
 *       unsealing; the daemon must answer ERR (BAD_SHARE...) or ok. With
 *       replay, the same boxed share is then sent again in a new, validly
 *       signed envelope: it must be refused with BAD_SHARE (its box is
 *       bound to the first request's challenge)
 *
 * KEY.pem is an unencrypted PEM private key. Exit 0 when everything held.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "kh_auth.h"
#include "kh_box.h"
#include "kh_ceremony.h"
#include "kh_seal.h"
#include "kh_client.h"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "kh_optest: FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

static EVP_PKEY *load_key(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *pk = NULL;

    if (f != NULL) {
        pk = PEM_read_PrivateKey(f, NULL, NULL, (void *)"");
        fclose(f);
    }
    return pk;
}

/* Envelope for |type| + |body|, signed over |signed_body|, into |env|. */
static int make_env(EVP_PKEY *pk, const char *op, const uint8_t nonce[32],
                    uint8_t type, const uint8_t *body, size_t len,
                    const uint8_t *signed_body, size_t signed_len,
                    struct kh_buf *env)
{
    struct kh_authed m = { .inner_type = type, .inner = body,
                           .inner_len = len };
    uint8_t sig[KH_MAX_OPSIG_LEN];
    size_t siglen = sizeof(sig);
    struct kh_buf tbs;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int r = -1;

    kh_buf_init_writer(&tbs, KH_MAX_FRAME_LEN + 256);
    snprintf(m.op, sizeof(m.op), "%s", op);
    memcpy(m.nonce, nonce, 32);
    if (md != NULL &&
        kh_auth_tbs(&tbs, nonce, op, type, signed_body, signed_len) == 0 &&
        EVP_DigestSignInit_ex(md, NULL,
                              EVP_PKEY_get_bits(pk) > 256 ? "SHA384"
                                                          : "SHA256",
                              NULL, NULL, pk, NULL) == 1 &&
        EVP_DigestSign(md, sig, &siglen, kh_buf_data(&tbs),
                       kh_buf_size(&tbs)) == 1) {
        m.sig = sig;
        m.sig_len = siglen;
        r = kh_authed_encode(env, &m);
    }
    EVP_MD_CTX_free(md);
    kh_buf_free(&tbs);
    return r;
}

static int send_env(struct kh_client *c, const struct kh_buf *env)
{
    struct kh_buf reply;
    int r;

    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    r = kh_client_call(c, KH_MSG_AUTHED, kh_buf_data(env), kh_buf_size(env),
                       0, &reply);
    kh_buf_free(&reply);
    return r;
}

static int expect_auth_failed(struct kh_client *c, int r, const char *what)
{
    if (r != KH_ERR_AUTH_FAILED) {
        return fail("%s: got %s, expected AUTH_FAILED", what, kh_errname(r));
    }
    printf("%s refused: %s\n", what, kh_client_reason(c));
    return 0;
}

/* The "share" mode: see the top of the file. */
static int share_mode(struct kh_client *c, EVP_PKEY *pk, char **argv)
{
    struct kh_share_file sf;
    struct kh_unseal_share m = { .purpose = KH_PURPOSE_UNSEAL };
    struct kh_buf reply, aad, box, body, env;
    uint8_t *d, nonce[32], *y = NULL;
    size_t ylen = 0, len;
    EVP_PKEY *skey = load_key(argv[6]), *boot = NULL;
    const unsigned char *p;
    struct kh_unseal_info *ui = calloc(1, sizeof(*ui));
    uint32_t ttl;
    FILE *f = fopen(argv[5], "r");
    int r = -1;

    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    kh_buf_init_writer(&aad, 512);
    kh_buf_init_writer(&box, 512);
    kh_buf_init_writer(&body, 1024);
    kh_buf_init_writer(&env, 4096);
    if (f == NULL || skey == NULL || ui == NULL ||
        (d = malloc(KH_SHARE_FILE_MAX)) == NULL) {
        fail("cannot load %s or %s", argv[5], argv[6]);
        goto out;
    }
    len = fread(d, 1, KH_SHARE_FILE_MAX, f);
    r = kh_share_file_decode(d, len, &sf);
    free(d);
    if (r != 0 ||
        kh_share_aad(sf.ceremony_id, sf.index, sf.custodian, &aad) != 0 ||
        kh_box_open(skey, KH_SHARE_BOX_LABEL, kh_buf_data(&aad),
                    kh_buf_size(&aad), sf.box, sf.box_len, &y, &ylen) != 0) {
        r = fail("cannot open the share with %s", argv[6]);
        goto out;
    }
    if (strcmp(argv[7], "flip") == 0) {
        y[0] ^= 1;
    }
    if (kh_client_call(c, KH_MSG_UNSEAL_INFO, NULL, 0, 1, &reply) != 0 ||
        kh_unseal_info_decode(&reply, ui) != 0) {
        r = fail("no unseal info: %s", kh_client_reason(c));
        goto out;
    }
    p = ui->spki;
    boot = d2i_PUBKEY(NULL, &p, (long)ui->spki_len);
    memcpy(m.id, sf.ceremony_id, sizeof(m.id));
    m.x = sf.index;
    kh_buf_reset(&aad);
    if (boot == NULL || kh_client_challenge(c, nonce, &ttl) != 0 ||
        kh_unseal_aad(&aad, m.id, m.x, argv[3], nonce) != 0 ||
        kh_box_seal(boot, KH_UNSEAL_LABEL, kh_buf_data(&aad),
                    kh_buf_size(&aad), y, ylen, &box) != 0) {
        r = fail("cannot box the share");
        goto out;
    }
    m.box = kh_buf_data(&box);
    m.box_len = kh_buf_size(&box);
    if (kh_unseal_share_encode(&body, &m) != 0 ||
        make_env(pk, argv[3], nonce, KH_MSG_UNSEAL_SHARE, kh_buf_data(&body),
                 kh_buf_size(&body), kh_buf_data(&body), kh_buf_size(&body),
                 &env) != 0) {
        r = fail("cannot build the request");
        goto out;
    }
    r = send_env(c, &env);
    if ((r == 0) != (strcmp(argv[8], "ok") == 0) ||
        (r != 0 && strcmp(kh_errname(r), argv[8]) != 0)) {
        r = fail("got %s (%s), expected %s", r == 0 ? "ok" : kh_errname(r),
                 kh_client_reason(c), argv[8]);
        goto out;
    }
    printf("share %u as %s: %s %s\n", sf.index, argv[3],
           r == 0 ? "ok" : kh_errname(r), kh_client_reason(c));
    if (strcmp(argv[7], "replay") == 0) {
        kh_buf_reset(&env);
        if (kh_client_challenge(c, nonce, &ttl) != 0 ||
            make_env(pk, argv[3], nonce, KH_MSG_UNSEAL_SHARE,
                     kh_buf_data(&body), kh_buf_size(&body),
                     kh_buf_data(&body), kh_buf_size(&body), &env) != 0) {
            r = fail("cannot build the replay");
            goto out;
        }
        if ((r = send_env(c, &env)) != KH_ERR_BAD_SHARE) {
            r = fail("replayed share: got %s (%s), expected BAD_SHARE",
                     r == 0 ? "ok" : kh_errname(r), kh_client_reason(c));
            goto out;
        }
        printf("replayed share refused: %s\n", kh_client_reason(c));
    }
    r = 0;
out:
    if (y != NULL) {
        OPENSSL_secure_clear_free(y, ylen);
    }
    if (f != NULL) {
        fclose(f);
    }
    free(ui);
    EVP_PKEY_free(skey);
    EVP_PKEY_free(boot);
    kh_buf_free(&reply);
    kh_buf_free(&aad);
    kh_buf_free(&box);
    kh_buf_free(&body);
    kh_buf_free(&env);
    return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct kh_client *c = NULL;
    struct kh_buf env, env2;
    uint8_t nonce[32];
    uint32_t ttl;
    EVP_PKEY *pk;
    int rc = 1, r;

    if (argc < 5) {
        return fail("usage: kh_optest replay|stale|nested|other-uid|tamper "
                    "SOCKET OP KEY.pem [ARG]");
    }
    if ((pk = load_key(argv[4])) == NULL) {
        return fail("cannot load %s", argv[4]);
    }
    kh_buf_init_writer(&env, KH_MAX_FRAME_LEN);
    kh_buf_init_writer(&env2, KH_MAX_FRAME_LEN);
    if (kh_client_new(argv[2], &c) != 0 ||
        kh_client_challenge(c, nonce, &ttl) != 0) {
        fail("no challenge: %s", c != NULL ? kh_client_reason(c) : "");
        goto out;
    }
    if (strcmp(argv[1], "share") == 0 && argc > 8) {
        rc = share_mode(c, pk, argv);
    } else if (strcmp(argv[1], "replay") == 0) {
        if (make_env(pk, argv[3], nonce, KH_MSG_OPERATOR_LIST, NULL, 0, NULL,
                     0, &env) != 0 ||
            (r = send_env(c, &env)) != 0) {
            fail("first use refused: %s", kh_client_reason(c));
            goto out;
        }
        rc = expect_auth_failed(c, send_env(c, &env), "replayed envelope");
    } else if (strcmp(argv[1], "stale") == 0 && argc > 5) {
        sleep((unsigned)atoi(argv[5]));
        if (make_env(pk, argv[3], nonce, KH_MSG_OPERATOR_LIST, NULL, 0, NULL,
                     0, &env) == 0) {
            rc = expect_auth_failed(c, send_env(c, &env), "stale challenge");
        }
    } else if (strcmp(argv[1], "nested") == 0) {
        if (make_env(pk, argv[3], nonce, KH_MSG_OPERATOR_LIST, NULL, 0, NULL,
                     0, &env) == 0 &&
            make_env(pk, argv[3], nonce, KH_MSG_AUTHED, kh_buf_data(&env),
                     kh_buf_size(&env), kh_buf_data(&env),
                     kh_buf_size(&env), &env2) == 0) {
            rc = expect_auth_failed(c, send_env(c, &env2), "nested envelope");
        }
    } else if (strcmp(argv[1], "tamper") == 0) {
        static const uint8_t real[] = { 0, 0, 0, 3, 'b', 'o', 'b' };
        static const uint8_t other[] = { 0, 0, 0, 3, 'e', 'v', 'e' };

        if (make_env(pk, argv[3], nonce, KH_MSG_OPERATOR_REMOVE, real,
                     sizeof(real), other, sizeof(other), &env) == 0) {
            rc = expect_auth_failed(c, send_env(c, &env),
                                    "signature over another request");
        }
    } else if (strcmp(argv[1], "flood") == 0 && argc > 6) {
        pid_t pid;
        int st = 0;

        if ((pid = fork()) == 0) {
            struct kh_client *cc;
            uint8_t n2[32];
            uint32_t t2;
            int k = atoi(argv[6]);

            if (setgid((gid_t)atoi(argv[5])) != 0 ||
                setuid((uid_t)atoi(argv[5])) != 0 ||
                kh_client_new(argv[2], &cc) != 0) {
                _exit(2);
            }
            for (int i = 0; i < k; i++) {
                if (kh_client_challenge(cc, n2, &t2) != 0) {
                    _exit(3);
                }
            }
            _exit(0);
        }
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0) {
            fail("the flooding child failed");
        } else if (make_env(pk, argv[3], nonce, KH_MSG_OPERATOR_LIST, NULL, 0,
                            NULL, 0, &env) == 0 &&
                   (r = send_env(c, &env)) == 0) {
            printf("challenge survived a flood of %s\n", argv[6]);
            rc = 0;
        } else {
            fail("challenge evicted by another uid's flood: %s",
                 kh_client_reason(c));
        }
    } else if (strcmp(argv[1], "other-uid") == 0 && argc > 5) {
        pid_t pid;
        int st = 0;

        if (make_env(pk, argv[3], nonce, KH_MSG_OPERATOR_LIST, NULL, 0, NULL,
                     0, &env) != 0) {
            goto out;
        }
        kh_client_free(c);
        c = NULL;
        if ((pid = fork()) == 0) {
            struct kh_client *cc;

            if (setgid((gid_t)atoi(argv[5])) != 0 ||
                setuid((uid_t)atoi(argv[5])) != 0 ||
                kh_client_new(argv[2], &cc) != 0) {
                _exit(2);
            }
            _exit(expect_auth_failed(cc, send_env(cc, &env),
                                     "another uid's challenge"));
        }
        rc = pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
                     WEXITSTATUS(st) == 0
                 ? 0
                 : fail("child as uid %s did not see AUTH_FAILED", argv[5]);
    } else {
        fail("unknown mode %s", argv[1]);
    }
out:
    kh_buf_free(&env);
    kh_buf_free(&env2);
    kh_client_free(c);
    EVP_PKEY_free(pk);
    return rc;
}
