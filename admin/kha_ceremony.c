/*
 * kha_ceremony.c - khadmin ceremony sign | verify: each participant signs
 * the ceremony record with their own key; anyone verifies every signature.
 *
 *   khadmin ceremony sign --record FILE --as NAME --key KEY [--pass SPEC]
 *   khadmin ceremony verify --record FILE [--offline] [--json]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "kh_ceremony.h"
#include "kha.h"
#include "kha_opkey.h"

#define KHA_CEREMONY_SIGN_USAGE                                            \
    "ceremony sign --record FILE --as NAME --key KEY [--pass SPEC]\n"       \
    "  KEY: a PEM file or any URI OpenSSL loads; SPEC: pass:TEXT env:VAR "  \
    "file:PATH\n  (else $KHADMIN_KEY_PASS, same syntax, else a prompt)"
#define KHA_CEREMONY_VERIFY_USAGE                                          \
    "ceremony verify --record FILE [--offline] [--json]"

/* Reads and strictly decodes the record at |path| into |*out|. */
static int kha_record_load(const char *path, struct kh_ceremony_record **out)
{
    struct kh_ceremony_record *rec;
    uint8_t *d;
    size_t len = 0;
    int r;

    *out = NULL;
    if ((d = kha_read_file(path, KH_CEREMONY_FILE_MAX, &len)) == NULL) {
        return KHA_FAIL;
    }
    if ((rec = kh_ceremony_record_new()) == NULL) {
        free(d);
        fprintf(stderr, "khadmin: out of memory\n");
        return KHA_FAIL;
    }
    r = kh_ceremony_decode(d, len, rec);
    free(d);
    if (r != 0) {
        fprintf(stderr,
                "khadmin: %s: not a valid ceremony record (%s): %s\n", path,
                kh_errname(r),
                r == KH_ERR_INVALID_FORMAT
                    ? "malformed, breaks a rule, or not byte for byte the "
                      "canonical form that was signed"
                    : kh_strerror(r));
        kh_ceremony_record_free(rec);
        return KHA_FAIL;
    }
    *out = rec;
    return KHA_OK;
}

/* Writes |d| to |path| atomically: temp file, fsync, rename, dir fsync. */
static int kha_write_atomic(const char *path, const uint8_t *d, size_t len)
{
    char tmp[4096], dir[4096];
    struct stat st;
    mode_t mode = 0644;
    size_t off = 0;
    int fd, dfd;

    if (stat(path, &st) == 0) {
        mode = st.st_mode & 07777;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >=
            (int)sizeof(tmp) ||
        (fd = mkstemp(tmp)) < 0) {
        fprintf(stderr, "khadmin: cannot create a file beside %s: %s\n",
                path, strerror(errno));
        return KHA_FAIL;
    }
    while (off < len) {
        ssize_t n = write(fd, d + off, len - off);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            goto fail;
        }
        off += (size_t)n;
    }
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
        goto fail;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        fd = -1;
        goto fail;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY)) >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return KHA_OK;
fail:
    fprintf(stderr, "khadmin: cannot write %s: %s\n", path, strerror(errno));
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    return KHA_FAIL;
}

static int kha_sign_record(const char *path, struct kh_ceremony_record *rec,
                           const char *name, EVP_PKEY *key)
{
    struct kh_buf out;
    int r, p = kh_ceremony_find(rec, name);

    if (p < 0) {
        fprintf(stderr, "khadmin: %s: no participant named '%s'\n", path,
                name);
        return KHA_FAIL;
    }
    if ((r = kh_ceremony_sign(rec, name, key)) != 0) {
        fprintf(stderr, "khadmin: cannot sign as %s: %s\n", name,
                r == KH_ERR_AUTH_FAILED
                    ? "the key is not the one the record names for them"
                : r == KH_ERR_UNSUPPORTED
                    ? "an operator key must be EC P-256 or P-384"
                    : kh_strerror(r));
        return KHA_FAIL;
    }
    kh_buf_init_writer(&out, KH_CEREMONY_FILE_MAX);
    if ((r = kh_ceremony_encode(rec, &out)) != 0) {
        kh_buf_free(&out);
        fprintf(stderr, "khadmin: cannot encode the record: %s\n",
                kh_strerror(r));
        return KHA_FAIL;
    }
    r = kha_write_atomic(path, kh_buf_data(&out), kh_buf_size(&out));
    kh_buf_free(&out);
    return r;
}

int kha_cmd_ceremony_sign(struct kha_globals *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "record", required_argument, NULL, 'r' },
        { "as", required_argument, NULL, 'a' },
        { "key", required_argument, NULL, 'k' },
        { "pass", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    /* --as/--key/--pass given before the command, or their variables. */
    const char *path = NULL, *name = g->as, *uri = g->key, *pass = g->pass;
    struct kh_ceremony_record *rec = NULL;
    EVP_PKEY *key = NULL;
    int o, r;

    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (o) {
        case 'r': path = optarg; break;
        case 'a': name = optarg; break;
        case 'k': uri = optarg; break;
        case 'p': pass = optarg; break;
        default:
            return kha_usage_error(KHA_CEREMONY_SIGN_USAGE, "bad option");
        }
    }
    if (optind != argc) {
        return kha_usage_error(KHA_CEREMONY_SIGN_USAGE,
                               "unexpected argument '%s'", argv[optind]);
    }
    if (path == NULL || name == NULL || uri == NULL) {
        return kha_usage_error(KHA_CEREMONY_SIGN_USAGE,
                               "--record, --as and --key are required");
    }
    if (!kh_name_valid(name)) {
        return kha_usage_error(KHA_CEREMONY_SIGN_USAGE,
                               "invalid operator name '%s'", name);
    }
    if ((r = kha_record_load(path, &rec)) != KHA_OK) {
        return r;
    }
    if (kh_ceremony_find(rec, name) < 0) {
        fprintf(stderr, "khadmin: %s: no participant named '%s'\n", path,
                name);
        kh_ceremony_record_free(rec);
        return KHA_FAIL;
    }
    if ((r = kha_opkey_load(uri, pass, &key)) != 0) {
        kh_ceremony_record_free(rec);
        return r == KH_ERR_INVALID_ARGUMENT ? KHA_USAGE : KHA_FAIL;
    }
    r = kha_sign_record(path, rec, name, key);
    if (r == KHA_OK) {
        printf("signed %s as %s\n", path, name);
    }
    EVP_PKEY_free(key);
    kh_ceremony_record_free(rec);
    return r;
}

/* "admin,custodian" */
static void kha_roles_text(unsigned roles, char *out, size_t outsz)
{
    static const char *const names[] = { "admin", "approver", "custodian",
                                         "auditor" };
    size_t n = 0;

    out[0] = '\0';
    for (unsigned b = 0; b < 4; b++) {
        if (roles & (1u << b)) {
            n += (size_t)snprintf(out + n, outsz - n, "%s%s",
                                  n > 0 ? "," : "", names[b]);
        }
    }
}

static const char *kha_sig_status(int r)
{
    switch (r) {
    case 0: return "ok";
    case KH_ERR_NOT_FOUND: return "missing";
    case KH_ERR_UNSUPPORTED: return "unsupported key";
    default: return "invalid";
    }
}

/*
 * Hook: compare the record with the running keyholder (ceremony id,
 * threshold, share count, commitments, operators, keyholderd version and
 * binary hash). Needs a daemon message (CEREMONY_INFO, issue 5 part B)
 * that is not on main yet: until it is, returns KHA_MATCH_UNAVAILABLE and
 * verify says so. Returns KHA_MATCH_OK when it matches, KHA_MATCH_DIFFERS
 * after naming the first difference on stderr.
 */
enum { KHA_MATCH_OK = 0, KHA_MATCH_UNAVAILABLE = 1, KHA_MATCH_DIFFERS = -1 };

static int kha_ceremony_match_daemon(struct kha_globals *g,
                                     const struct kh_ceremony_record *rec)
{
    (void)g;
    (void)rec;
    return KHA_MATCH_UNAVAILABLE;
}

static void kha_verify_json(const char *path,
                            const struct kh_ceremony_record *rec,
                            const int *status, int ok, int daemon)
{
    char roles[64], id[2 * KH_CEREMONY_ID_LEN + 1];

    for (unsigned i = 0; i < KH_CEREMONY_ID_LEN; i++) {
        snprintf(id + 2 * i, 3, "%02x", rec->ceremony_id[i]);
    }
    printf("{\"record\":");
    kha_json_str(stdout, path);
    printf(",\"ceremony_id\":\"%s\",\"kind\":\"%s\",\"threshold\":%u,"
           "\"shares\":%u,\"valid\":%s,\"daemon_checked\":%s,"
           "\"participants\":[",
           id, kh_ceremony_kind_name(rec->kind), rec->threshold, rec->count,
           ok ? "true" : "false", daemon ? "true" : "false");
    for (unsigned i = 0; i < rec->n_participants; i++) {
        kha_roles_text(rec->participants[i].roles, roles, sizeof(roles));
        printf("%s{\"name\":", i > 0 ? "," : "");
        kha_json_str(stdout, rec->participants[i].name);
        printf(",\"roles\":\"%s\",\"signature\":\"%s\"}", roles,
               kha_sig_status(status[i]));
    }
    printf("]}\n");
}

int kha_cmd_ceremony_verify(struct kha_globals *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "record", required_argument, NULL, 'r' },
        { "offline", no_argument, NULL, 'o' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct kh_ceremony_record *rec = NULL;
    const char *path = NULL;
    int status[KH_CEREMONY_MAX_PARTICIPANTS];
    int offline = 0, o, r, first_bad = -1, daemon = 0;
    char roles[64];

    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (o) {
        case 'r': path = optarg; break;
        case 'o': offline = 1; break;
        case 'j': g->json = 1; break;
        default:
            return kha_usage_error(KHA_CEREMONY_VERIFY_USAGE, "bad option");
        }
    }
    if (optind != argc || path == NULL) {
        return kha_usage_error(KHA_CEREMONY_VERIFY_USAGE,
                               path == NULL ? "--record is required"
                                            : "unexpected argument");
    }
    if ((r = kha_record_load(path, &rec)) != KHA_OK) {
        return r;
    }
    for (unsigned i = 0; i < rec->n_participants; i++) {
        status[i] = kh_ceremony_check_signature(rec, i);
        if (status[i] != 0 && first_bad < 0) {
            first_bad = (int)i;
        }
    }
    ERR_clear_error();
    if (first_bad < 0 && !offline) {
        if ((r = kha_ceremony_match_daemon(g, rec)) == KHA_MATCH_DIFFERS) {
            kh_ceremony_record_free(rec);
            return KHA_FAIL;
        }
        daemon = r == KHA_MATCH_OK;
        if (!daemon) {
            fprintf(stderr, "khadmin: note: the record was not compared "
                            "with the running keyholder (not supported by "
                            "this keyholderd yet)\n");
        }
    }
    if (g->json) {
        kha_verify_json(path, rec, status, first_bad < 0, daemon);
    } else {
        for (unsigned i = 0; i < rec->n_participants; i++) {
            kha_roles_text(rec->participants[i].roles, roles, sizeof(roles));
            printf("%-20s %-32s signature %s\n", rec->participants[i].name,
                   roles, kha_sig_status(status[i]));
        }
    }
    if (first_bad >= 0) {
        fprintf(stderr, "khadmin: %s: %s's signature is %s\n", path,
                rec->participants[first_bad].name,
                kha_sig_status(status[first_bad]));
    }
    kh_ceremony_record_free(rec);
    return first_bad < 0 ? KHA_OK : KHA_FAIL;
}
