/* khadmin operator add | list | remove (admin-signed). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kh_auth.h"
#include "kha.h"

#define KHA_OP_ADD_USAGE                                                    \
    "operator add NAME --role ROLE [--role ROLE]... --pubkey FILE.pem"
#define KHA_OP_LIST_USAGE "operator list [--json]"
#define KHA_OP_REMOVE_USAGE "operator remove NAME"

int kha_spki_from_pem(const char *path, uint8_t *out, size_t max,
                      size_t *len)
{
    EVP_PKEY *pk = NULL;
    unsigned char *der = NULL;
    BIO *bio;
    int n, r = -1;

    if ((bio = BIO_new_file(path, "r")) == NULL) {
        fprintf(stderr, "khadmin: cannot open %s\n", path);
        goto out;
    }
    if ((pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
        fprintf(stderr, "khadmin: %s is not a PEM public key (openssl pkey "
                        "-in KEY.pem -pubout makes one)\n", path);
        goto out;
    }
    if ((n = i2d_PUBKEY(pk, &der)) <= 0 || (size_t)n > max) {
        fprintf(stderr, "khadmin: the public key in %s is too large for an "
                        "operator key (EC P-256 or P-384)\n", path);
        goto out;
    }
    memcpy(out, der, (size_t)n);
    *len = (size_t)n;
    r = 0;
out:
    ERR_clear_error();
    OPENSSL_free(der);
    EVP_PKEY_free(pk);
    BIO_free(bio);
    return r;
}

int kha_cmd_operator_add(struct kha_globals *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "role", required_argument, NULL, 'r' },
        { "pubkey", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    struct kh_operator op = { .roles = 0 };
    const char *name, *pub = NULL;
    struct kh_buf body;
    uint32_t role;
    int c, r;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'r') {
            if (kh_role_from_name(optarg, &role) != 0) {
                return kha_usage_error(KHA_OP_ADD_USAGE, "unknown role '%s'",
                                       optarg);
            }
            op.roles |= role;
        } else if (c == 'p') {
            pub = optarg;
        } else {
            return kha_usage_error(KHA_OP_ADD_USAGE, "bad option");
        }
    }
    if ((r = kha_take_name(argc, argv, KHA_OP_ADD_USAGE, &name)) != 0) {
        return r;
    }
    if (op.roles == 0 || pub == NULL) {
        return kha_usage_error(KHA_OP_ADD_USAGE,
                               "need at least one --role and --pubkey");
    }
    snprintf(op.name, sizeof(op.name), "%s", name);
    if (kha_spki_from_pem(pub, op.spki, sizeof(op.spki), &op.spki_len) != 0) {
        return KHA_FAIL;
    }
    kh_buf_init_writer(&body, KH_MAX_FRAME_LEN);
    if (kh_operator_encode(&body, &op) != 0) {
        kh_buf_free(&body);
        return KHA_FAIL;
    }
    r = kha_call_empty(g, KH_MSG_OPERATOR_ADD, kh_buf_data(&body),
                       kh_buf_size(&body), "operator add");
    kh_buf_free(&body);
    if (r == 0) {
        printf("operator %s added\n", name);
    }
    return r;
}

static void kha_op_print(const struct kha_globals *g,
                         const struct kh_operator *op, int first)
{
    struct kh_key_info k; /* kha_fingerprint hashes an SPKI */
    char roles[64], when[32], fp[65];

    k.spki_len = op->spki_len;
    memcpy(k.spki, op->spki, op->spki_len);
    kha_fingerprint(&k, fp);
    kha_format_time(op->created, when);
    kh_roles_format(op->roles, roles, sizeof(roles));
    if (!g->json) {
        printf("%-20s %-32s %s %s\n", op->name, roles, when, fp);
        return;
    }
    printf("%s{\"name\":", first ? "" : ",");
    kha_json_str(stdout, op->name);
    printf(",\"roles\":[");
    for (uint32_t bit = 1, n = 0; bit <= KH_ROLE_ALL; bit <<= 1) {
        if ((op->roles & bit) != 0) {
            printf("%s\"%s\"", n++ > 0 ? "," : "", kh_role_name(bit));
        }
    }
    printf("],\"created\":\"%s\",\"spki_sha256\":\"%s\"}", when, fp);
}

int kha_cmd_operator_list(struct kha_globals *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct kh_operator *op = NULL;
    struct kh_client *cl;
    struct kh_buf reply;
    uint32_t count;
    int c, r;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c != 'j') {
            return kha_usage_error(KHA_OP_LIST_USAGE, "bad option");
        }
        g->json = 1;
    }
    if (optind != argc) {
        return kha_usage_error(KHA_OP_LIST_USAGE, "unexpected argument '%s'",
                               argv[optind]);
    }
    if ((cl = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if ((r = kh_client_call(cl, KH_MSG_OPERATOR_LIST, NULL, 0, 1, &reply)) !=
        0) {
        r = kha_call_failed(cl, "operator list", r);
        goto out;
    }
    if ((op = malloc(sizeof(*op))) == NULL ||
        kh_buf_get_u32(&reply, &count) != 0 || count > KH_MAX_OPERATORS) {
        fprintf(stderr, "khadmin: operator list: malformed reply\n");
        r = KHA_FAIL;
        goto out;
    }
    if (g->json) {
        printf("[");
    } else {
        printf("%-20s %-32s %-20s %s\n", "NAME", "ROLES", "CREATED",
               "KEY SHA-256");
    }
    for (uint32_t i = 0; i < count; i++) {
        if (kh_operator_decode(&reply, op) != 0) {
            fprintf(stderr, "khadmin: operator list: malformed reply\n");
            r = KHA_FAIL;
            goto out;
        }
        kha_op_print(g, op, i == 0);
    }
    if (g->json) {
        printf("]\n");
    }
    r = KHA_OK;
out:
    free(op);
    kh_buf_free(&reply);
    kh_client_free(cl);
    return r;
}

int kha_cmd_operator_remove(struct kha_globals *g, int argc, char **argv)
{
    const char *name;
    struct kh_buf body;
    int r;

    if (getopt_long(argc, argv, "", (struct option[]){ { NULL, 0, NULL, 0 } },
                    NULL) != -1) {
        return kha_usage_error(KHA_OP_REMOVE_USAGE, "bad option");
    }
    if ((r = kha_take_name(argc, argv, KHA_OP_REMOVE_USAGE, &name)) != 0) {
        return r;
    }
    kh_buf_init_writer(&body, 256);
    if (kh_opname_encode(&body, name) != 0) {
        kh_buf_free(&body);
        return KHA_FAIL;
    }
    r = kha_call_empty(g, KH_MSG_OPERATOR_REMOVE, kh_buf_data(&body),
                       kh_buf_size(&body), "operator remove");
    kh_buf_free(&body);
    if (r == 0) {
        printf("operator %s removed\n", name);
    }
    return r;
}
