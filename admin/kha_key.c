/* khadmin key generate | list | show | pub | sign | ref. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "kha.h"

/* Files larger than this are hashed here and sent as a digest. */
#define KHA_MAX_MESSAGE KH_MAX_SIGN_DATA
#define KHA_MAX_INPUT_FILE (1024ul * 1024 * 1024)

static int kha_parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' ||
        v > UINT32_MAX) {
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static int kha_resolve_user(const char *s, uint32_t *uid)
{
    struct passwd *pw = getpwnam(s);

    if (pw != NULL) {
        *uid = pw->pw_uid;
        return 0;
    }
    return kha_parse_u32(s, uid);
}

static int kha_resolve_group(const char *s, uint32_t *gid)
{
    struct group *gr = getgrnam(s);

    if (gr != NULL) {
        *gid = gr->gr_gid;
        return 0;
    }
    return kha_parse_u32(s, gid);
}

static void kha_print_ids(const char *label, const uint32_t *ids, uint32_t n,
                          int groups)
{
    printf("%s", label);
    if (n == 0) {
        printf(" -");
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *nm = NULL;

        if (groups) {
            struct group *gr = getgrgid(ids[i]);

            nm = gr != NULL ? gr->gr_name : NULL;
        } else {
            struct passwd *pw = getpwuid(ids[i]);

            nm = pw != NULL ? pw->pw_name : NULL;
        }
        if (nm != NULL) {
            printf(" %s(%u)", nm, (unsigned)ids[i]);
        } else {
            printf(" %u", (unsigned)ids[i]);
        }
    }
    printf("\n");
}

static void kha_print_json_ids(const uint32_t *ids, uint32_t n)
{
    printf("[");
    for (uint32_t i = 0; i < n; i++) {
        printf("%s%u", i > 0 ? "," : "", (unsigned)ids[i]);
    }
    printf("]");
}

static void kha_print_key_json(const struct kh_key_info *k)
{
    char when[32], fp[65];

    kha_format_time(k->created, when);
    kha_fingerprint(k, fp);
    printf("{\"name\":");
    kha_json_str(stdout, k->name);
    printf(",\"uri\":\"keyholder:%s\",\"version\":%u,\"type\":\"%s\","
           "\"state\":\"%s\",\"created\":\"%s\",\"owner_uid\":%u,"
           "\"allow_uids\":",
           k->name, (unsigned)k->version, kh_key_type_name(k->type),
           kh_key_state_name(k->state), when, (unsigned)k->owner_uid);
    kha_print_json_ids(k->acl.uids, k->acl.n_uids);
    printf(",\"allow_gids\":");
    kha_print_json_ids(k->acl.gids, k->acl.n_gids);
    printf(",\"spki_sha256\":\"%s\",\"audit\":\"%s\"}", fp,
           k->audit == 1 ? "batched" : "sync");
}

static void kha_print_key_text(const struct kh_key_info *k)
{
    char when[32], fp[65];
    struct passwd *pw = getpwuid(k->owner_uid);

    kha_format_time(k->created, when);
    kha_fingerprint(k, fp);
    printf("name:        %s\n", k->name);
    printf("uri:         keyholder:%s;version=%u\n", k->name,
           (unsigned)k->version);
    printf("version:     %u\n", (unsigned)k->version);
    printf("type:        %s\n", kh_key_type_name(k->type));
    printf("state:       %s\n", kh_key_state_name(k->state));
    printf("created:     %s\n", when);
    printf("owner:       %s(%u)\n", pw != NULL ? pw->pw_name : "?",
           (unsigned)k->owner_uid);
    kha_print_ids("allow users:", k->acl.uids, k->acl.n_uids, 0);
    kha_print_ids("allow groups:", k->acl.gids, k->acl.n_gids, 1);
    printf("spki sha256: %s\n", fp);
    printf("audit:       %s\n", k->audit == 1 ? "batched" : "sync");
}

#define KHA_GEN_USAGE                                                       \
    "key generate NAME --type TYPE [--allow-user USER]... "                 \
    "[--allow-group GROUP]... [--audit sync|batched] [--json]"

int kha_cmd_key_generate(struct kha_globals *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "type", required_argument, NULL, 't' },
        { "allow-user", required_argument, NULL, 'u' },
        { "allow-group", required_argument, NULL, 'g' },
        { "audit", required_argument, NULL, 'a' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct kh_keygen_request req;
    struct kh_key_info info;
    struct kh_client *c;
    const char *name, *type = NULL;
    int o, r;

    memset(&req, 0, sizeof(req));
    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (o) {
        case 't':
            type = optarg;
            break;
        case 'u':
            if (req.acl.n_uids == KH_MAX_ACL) {
                return kha_usage_error(KHA_GEN_USAGE,
                                       "at most %d --allow-user", KH_MAX_ACL);
            }
            if (kha_resolve_user(optarg, &req.acl.uids[req.acl.n_uids]) != 0) {
                return kha_usage_error(KHA_GEN_USAGE, "unknown user '%s'",
                                       optarg);
            }
            req.acl.n_uids++;
            break;
        case 'g':
            if (req.acl.n_gids == KH_MAX_ACL) {
                return kha_usage_error(KHA_GEN_USAGE,
                                       "at most %d --allow-group", KH_MAX_ACL);
            }
            if (kha_resolve_group(optarg, &req.acl.gids[req.acl.n_gids]) !=
                0) {
                return kha_usage_error(KHA_GEN_USAGE, "unknown group '%s'",
                                       optarg);
            }
            req.acl.n_gids++;
            break;
        case 'a':
            if (strcmp(optarg, "sync") == 0) {
                req.audit = 0;
            } else if (strcmp(optarg, "batched") == 0) {
                req.audit = 1;
            } else {
                return kha_usage_error(KHA_GEN_USAGE, "--audit is sync or "
                                       "batched, not '%s'", optarg);
            }
            break;
        case 'j':
            g->json = 1;
            break;
        default:
            return kha_usage_error(KHA_GEN_USAGE, "bad option");
        }
    }
    if ((r = kha_take_name(argc, argv, KHA_GEN_USAGE, &name)) != 0) {
        return r;
    }
    if (type == NULL) {
        return kha_usage_error(KHA_GEN_USAGE, "--type is required");
    }
    if (kh_key_type_from_name(type, &req.type) != 0) {
        return kha_usage_error(KHA_GEN_USAGE, "unknown key type '%s'", type);
    }
    snprintf(req.name, sizeof(req.name), "%s", name);
    if ((c = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    if ((r = kh_client_key_generate(c, &req, &info)) != 0) {
        r = kha_call_failed(c, "key generate", r);
        kh_client_free(c);
        return r;
    }
    kh_client_free(c);
    if (g->json) {
        kha_print_key_json(&info);
        printf("\n");
    } else {
        kha_print_key_text(&info);
    }
    return KHA_OK;
}

struct kha_list_state {
    int json;
    unsigned n;
};

static int kha_list_one(const struct kh_key_info *k, void *arg)
{
    struct kha_list_state *st = arg;
    char when[32];

    if (st->json) {
        printf("%s", st->n > 0 ? ",\n " : "");
        kha_print_key_json(k);
    } else {
        kha_format_time(k->created, when);
        printf("%-24s %-4u %-13s %-9s %s\n", k->name, (unsigned)k->version,
               kh_key_type_name(k->type), kh_key_state_name(k->state), when);
    }
    st->n++;
    return 0;
}

int kha_cmd_key_list(struct kha_globals *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct kha_list_state st = { 0 };
    struct kh_client *c;
    int o, r;

    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (o != 'j') {
            return kha_usage_error("key list [--json]", "bad option");
        }
        g->json = 1;
    }
    if (optind != argc) {
        return kha_usage_error("key list [--json]", "unexpected argument");
    }
    if ((c = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    st.json = g->json;
    if (st.json) {
        printf("[");
    } else {
        printf("%-24s %-4s %-13s %-9s %s\n", "NAME", "VER", "TYPE", "STATE",
               "CREATED");
    }
    r = kh_client_key_list(c, kha_list_one, &st);
    if (st.json) {
        printf("]\n");
    }
    if (r != 0) {
        r = kha_call_failed(c, "key list", r);
    }
    kh_client_free(c);
    return r;
}

/*
 * Shared by show, pub and ref: NAME [--version N] [--json]. |*requested|
 * (if not NULL) receives the --version given, 0 without one.
 */
static int kha_fetch_key(struct kha_globals *g, int argc, char **argv,
                         const char *usage, struct kh_key_info *info,
                         uint32_t *requested)
{
    static const struct option longopts[] = {
        { "version", required_argument, NULL, 'v' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct kh_client *c;
    const char *name;
    uint32_t version = 0;
    int o, r;

    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (o == 'v') {
            if (kha_parse_u32(optarg, &version) != 0 || version == 0) {
                return kha_usage_error(usage, "bad --version '%s'", optarg);
            }
        } else if (o == 'j') {
            g->json = 1;
        } else {
            return kha_usage_error(usage, "bad option");
        }
    }
    if ((r = kha_take_name(argc, argv, usage, &name)) != 0) {
        return r;
    }
    if (requested != NULL) {
        *requested = version;
    }
    if ((c = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    if ((r = kh_client_key_info(c, name, version, info)) != 0) {
        r = kha_call_failed(c, "key lookup", r);
    }
    kh_client_free(c);
    return r;
}

int kha_cmd_key_show(struct kha_globals *g, int argc, char **argv)
{
    struct kh_key_info info;
    int r;

    if ((r = kha_fetch_key(g, argc, argv,
                           "key show NAME [--version N] [--json]", &info,
                           NULL)) != 0) {
        return r;
    }
    if (g->json) {
        kha_print_key_json(&info);
        printf("\n");
    } else {
        kha_print_key_text(&info);
    }
    return KHA_OK;
}

int kha_cmd_key_pub(struct kha_globals *g, int argc, char **argv)
{
    struct kh_key_info info;
    int r;

    if ((r = kha_fetch_key(g, argc, argv, "key pub NAME [--version N]",
                           &info, NULL)) != 0) {
        return r;
    }
    /* The SPKI DER as a PEM "PUBLIC KEY" block, written unparsed. */
    if (PEM_write(stdout, PEM_STRING_PUBLIC, "", info.spki,
                  (long)info.spki_len) <= 0) {
        fprintf(stderr, "khadmin: cannot write the public key\n");
        return KHA_FAIL;
    }
    return KHA_OK;
}

/*- key ref: a key reference file ---------------------------------------- */

/*
 * A key reference names a key held by keyholderd; it holds no key material.
 * PEM label KHA_REF_PEM_LABEL around the DER of
 *     KeyholderKeyReference ::= SEQUENCE {
 *         version  INTEGER (1),
 *         uri      UTF8String  -- "keyholder:NAME" or
 *     }                        -- "keyholder:NAME;version=N"
 * The provider's decoder (provider/decoder.c) reads the same format.
 */
#define KHA_REF_PEM_LABEL "KEYHOLDER KEY REFERENCE"
#define KHA_REF_FORMAT_VERSION 1
#define KHA_REF_USAGE "key ref NAME [--version N]"

/* The DER of a key reference for |uri| in |*der| (OPENSSL_free it). */
static int kha_ref_der(const char *uri, unsigned char **der, int *len)
{
    ASN1_INTEGER *version = ASN1_INTEGER_new();
    ASN1_UTF8STRING *str = ASN1_UTF8STRING_new();
    unsigned char *buf = NULL, *p;
    int vlen, ulen, total, ok = 0;

    *der = NULL;
    if (version == NULL || str == NULL ||
        ASN1_INTEGER_set(version, KHA_REF_FORMAT_VERSION) != 1 ||
        ASN1_STRING_set(str, uri, (int)strlen(uri)) != 1 ||
        (vlen = i2d_ASN1_INTEGER(version, NULL)) <= 0 ||
        (ulen = i2d_ASN1_UTF8STRING(str, NULL)) <= 0 ||
        (total = ASN1_object_size(1, vlen + ulen, V_ASN1_SEQUENCE)) <= 0 ||
        (buf = OPENSSL_malloc((size_t)total)) == NULL) {
        goto out;
    }
    p = buf;
    ASN1_put_object(&p, 1, vlen + ulen, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    if (i2d_ASN1_INTEGER(version, &p) != vlen ||
        i2d_ASN1_UTF8STRING(str, &p) != ulen || p != buf + total) {
        goto out;
    }
    *der = buf;
    *len = total;
    buf = NULL;
    ok = 1;
out:
    OPENSSL_free(buf);
    ASN1_INTEGER_free(version);
    ASN1_UTF8STRING_free(str);
    return ok;
}

int kha_cmd_key_ref(struct kha_globals *g, int argc, char **argv)
{
    struct kh_key_info info;
    char uri[sizeof("keyholder:;version=4294967295") + KH_MAX_NAME_LEN];
    unsigned char *der = NULL;
    uint32_t requested = 0;
    int len = 0, r;

    /* The key must exist (and be usable by the caller) before we name it. */
    if ((r = kha_fetch_key(g, argc, argv, KHA_REF_USAGE, &info,
                           &requested)) != 0) {
        return r;
    }
    if (requested == 0) {
        snprintf(uri, sizeof(uri), "keyholder:%s", info.name);
    } else {
        snprintf(uri, sizeof(uri), "keyholder:%s;version=%u", info.name,
                 (unsigned)requested);
    }
    if (!kha_ref_der(uri, &der, &len) ||
        PEM_write(stdout, KHA_REF_PEM_LABEL, "", der, len) <= 0) {
        fprintf(stderr, "khadmin: cannot write the key reference\n");
        r = KHA_FAIL;
    }
    OPENSSL_free(der);
    return r;
}

#define KHA_SIGN_USAGE                                                      \
    "key sign NAME --in FILE [--digest sha256|sha384|sha512] [--pss] "      \
    "[--version N] --out SIG"

struct kha_sign_opts {
    const char *in, *out, *digest;
    int pss;
    uint32_t version;
};

static int kha_sign_parse(int argc, char **argv, struct kha_sign_opts *o,
                          const char **name)
{
    static const struct option longopts[] = {
        { "in", required_argument, NULL, 'i' },
        { "out", required_argument, NULL, 'o' },
        { "digest", required_argument, NULL, 'd' },
        { "pss", no_argument, NULL, 'p' },
        { "version", required_argument, NULL, 'v' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            o->in = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'd':
            o->digest = optarg;
            break;
        case 'p':
            o->pss = 1;
            break;
        case 'v':
            if (kha_parse_u32(optarg, &o->version) != 0 || o->version == 0) {
                return kha_usage_error(KHA_SIGN_USAGE, "bad --version '%s'",
                                       optarg);
            }
            break;
        default:
            return kha_usage_error(KHA_SIGN_USAGE, "bad option");
        }
    }
    if (kha_take_name(argc, argv, KHA_SIGN_USAGE, name) != 0) {
        return KHA_USAGE;
    }
    if (o->in == NULL || o->out == NULL) {
        return kha_usage_error(KHA_SIGN_USAGE, "--in and --out are required");
    }
    return KHA_OK;
}

/* Chooses digest/padding for the key type; 0 or KHA_USAGE. */
static int kha_sign_params(const struct kha_sign_opts *o, uint8_t type,
                           struct kh_sign_request *req)
{
    if (type == KH_KEY_ED25519) {
        if (o->digest != NULL || o->pss) {
            return kha_usage_error(KHA_SIGN_USAGE,
                                   "Ed25519 signs the message itself: no "
                                   "--digest or --pss");
        }
        req->digest = KH_DIGEST_NONE;
        req->padding = KH_PAD_NONE;
        return KHA_OK;
    }
    if (kh_digest_from_name(o->digest != NULL ? o->digest : "sha256",
                            &req->digest) != 0) {
        return kha_usage_error(KHA_SIGN_USAGE, "unknown digest '%s'",
                               o->digest);
    }
    if (o->pss && !kh_key_type_is_rsa(type)) {
        return kha_usage_error(KHA_SIGN_USAGE, "--pss needs an RSA key");
    }
    req->padding = !kh_key_type_is_rsa(type) ? KH_PAD_NONE
                   : o->pss                  ? KH_PAD_PSS
                                             : KH_PAD_PKCS1;
    req->salt_len = KH_PSS_SALT_DIGEST;
    req->mgf1_digest = KH_DIGEST_NONE;
    return KHA_OK;
}

static int kha_write_sig(const char *path, const struct kh_sign_reply *rep)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    int ok;

    if (f == NULL) {
        fprintf(stderr, "khadmin: cannot create %s: %s\n", path,
                strerror(errno));
        return KHA_FAIL;
    }
    ok = fwrite(rep->sig, 1, rep->sig_len, f) == rep->sig_len;
    if (f != stdout) {
        ok = fclose(f) == 0 && ok;
    } else {
        ok = fflush(f) == 0 && ok;
    }
    if (!ok) {
        fprintf(stderr, "khadmin: cannot write %s\n", path);
        return KHA_FAIL;
    }
    return KHA_OK;
}

int kha_cmd_key_sign(struct kha_globals *g, int argc, char **argv)
{
    struct kha_sign_opts o = { 0 };
    struct kh_sign_request req;
    struct kh_sign_reply rep;
    struct kh_key_info info;
    struct kh_client *c = NULL;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    uint8_t *msg = NULL;
    const char *name;
    size_t len = 0;
    int r;

    memset(&req, 0, sizeof(req));
    if ((r = kha_sign_parse(argc, argv, &o, &name)) != 0) {
        return r;
    }
    if ((c = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    if ((r = kh_client_key_info(c, name, o.version, &info)) != 0) {
        r = kha_call_failed(c, "key sign", r);
        goto out;
    }
    if ((r = kha_sign_params(&o, info.type, &req)) != 0) {
        goto out;
    }
    if ((msg = kha_read_file(o.in, KHA_MAX_INPUT_FILE, &len)) == NULL) {
        r = KHA_FAIL;
        goto out;
    }
    snprintf(req.name, sizeof(req.name), "%s", name);
    req.version = info.version; /* sign with the version just looked up */
    req.input = KH_INPUT_MESSAGE;
    req.data = msg;
    req.data_len = len;
    if (len > KHA_MAX_MESSAGE) {
        if (info.type == KH_KEY_ED25519) {
            fprintf(stderr, "khadmin: Ed25519 messages are limited to %u "
                            "bytes; %s has %zu\n",
                    KH_MAX_SIGN_DATA, o.in, len);
            r = KHA_FAIL;
            goto out;
        }
        /* Too large for one frame: hash here, send the digest. */
        if (EVP_Digest(msg, len, md, &mdlen,
                       EVP_get_digestbyname(kh_digest_name(req.digest)),
                       NULL) != 1) {
            fprintf(stderr, "khadmin: cannot hash %s\n", o.in);
            r = KHA_FAIL;
            goto out;
        }
        req.input = KH_INPUT_DIGEST;
        req.data = md;
        req.data_len = mdlen;
    }
    if ((r = kh_client_sign(c, &req, &rep)) != 0) {
        r = kha_call_failed(c, "key sign", r);
        goto out;
    }
    r = kha_write_sig(o.out, &rep);
    if (r == 0 && strcmp(o.out, "-") != 0) {
        fprintf(stderr, "khadmin: signed %zu bytes with %s version %u (%s%s)"
                        " -> %s\n",
                len, name, (unsigned)rep.version, kh_key_type_name(info.type),
                req.padding == KH_PAD_PSS ? ", PSS" : "", o.out);
    }
out:
    free(msg);
    kh_client_free(c);
    return r;
}
