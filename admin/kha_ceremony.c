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
#include "kh_seal.h"
#include "kha.h"
#include "kha_opkey.h"
#include "kha_seal.h"

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
    int fd;

    if (stat(path, &st) == 0) {
        mode = st.st_mode & 07777;
    }
    /* mkstemp() replaces the XXXXXX with a unique suffix. */
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >=
        (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        fd = -1;
    } else {
        fd = mkstemp(tmp);
    }
    if (fd < 0) {
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
    /* The rename itself is durable only once the directory is synced. */
    snprintf(dir, sizeof(dir), "%s", path);
    return kha_sync_dir(dirname(dir));
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

enum { KHA_MATCH_OK = 0, KHA_MATCH_UNAVAILABLE = 1, KHA_MATCH_DIFFERS = -1 };

static int kha_differs(const char *what)
{
    fprintf(stderr, "khadmin: the record does not match the running "
                    "keyholder: %s\n", what);
    return KHA_MATCH_DIFFERS;
}

/* The share facts: id, M, N, and for each x its custodian, key, commitment. */
static int kha_match_facts(const struct kh_ceremony_record *rec,
                           const struct kh_ceremony_facts *f)
{
    char why[160];

    if (memcmp(rec->ceremony_id, f->id, KH_CEREMONY_ID_LEN) != 0) {
        return kha_differs("another ceremony id (the record is from an "
                           "earlier ceremony, or another keyholder)");
    }
    if (rec->threshold != f->m || rec->count != f->n) {
        snprintf(why, sizeof(why), "threshold/shares %u/%u, keyholder has "
                 "%u/%u", rec->threshold, rec->count, f->m, f->n);
        return kha_differs(why);
    }
    for (unsigned i = 0; i < f->n; i++) {
        const struct kh_share_fact *sf = &f->shares[i];
        int p = kh_ceremony_find(rec, sf->custodian);
        uint8_t fpr[KH_FPR_LEN];

        if (p < 0 || rec->participants[p].share_index != sf->x) {
            snprintf(why, sizeof(why), "share %u is held by %s in the "
                     "keyholder, not in the record", sf->x, sf->custodian);
            return kha_differs(why);
        }
        if (kh_spki_fingerprint(rec->participants[p].spki,
                                rec->participants[p].spki_len, fpr) != 0 ||
            memcmp(fpr, sf->fpr, KH_FPR_LEN) != 0 ||
            memcmp(rec->participants[p].commitment, sf->commitment,
                   KH_COMMITMENT_LEN) != 0) {
            snprintf(why, sizeof(why), "%s's key or share commitment "
                     "differs", sf->custodian);
            return kha_differs(why);
        }
    }
    return KHA_MATCH_OK;
}

/* Participants who are operators now must have the same key and roles. */
static int kha_match_operators(const struct kh_ceremony_record *rec,
                               const struct kh_ceremony_info *info)
{
    char why[160];

    for (unsigned i = 0; i < rec->n_participants; i++) {
        const struct kh_ceremony_participant *p = &rec->participants[i];
        const struct kh_operator *op = NULL;

        for (uint32_t k = 0; k < info->n_ops; k++) {
            if (strcmp(info->ops[k].name, p->name) == 0) {
                op = &info->ops[k];
            }
        }
        if (op == NULL) {
            fprintf(stderr, "khadmin: note: %s is no longer an operator\n",
                    p->name);
        } else if (op->spki_len != p->spki_len ||
                   memcmp(op->spki, p->spki, p->spki_len) != 0) {
            snprintf(why, sizeof(why), "operator %s has another key now",
                     p->name);
            return kha_differs(why);
        } else if (op->roles != p->roles) {
            fprintf(stderr, "khadmin: note: %s's roles changed since the "
                            "ceremony\n", p->name);
        }
    }
    return KHA_MATCH_OK;
}

/*
 * The audit key the record vouches for must be the keyholder's: otherwise
 * checkpoints signed by the running daemon prove nothing to someone who
 * trusts the record.
 */
static int kha_match_audit_key(struct kha_globals *g,
                               const struct kh_ceremony_record *rec)
{
    uint8_t spki[KH_MAX_SPKI_LEN];
    size_t len = 0;

    if (rec->audit_spki_len == 0) {
        fprintf(stderr, "khadmin: note: the record names no audit key\n");
        return KHA_MATCH_OK;
    }
    if (kha_audit_spki(g, spki, sizeof(spki), &len) != KHA_OK) {
        return KHA_MATCH_UNAVAILABLE; /* said why */
    }
    if (len != rec->audit_spki_len ||
        memcmp(spki, rec->audit_spki, len) != 0) {
        return kha_differs("its audit key (khadmin audit pubkey) is not "
                           "the one the record names");
    }
    return KHA_MATCH_OK;
}

/*
 * Compares the record with the running keyholder (CEREMONY_INFO, status):
 * the ceremony id, threshold, share count, who holds which share with
 * which key and commitment, keyholderd's version and binary SHA-256, the
 * keys of the participants who are still operators, and the audit key. KHA_MATCH_OK,
 * KHA_MATCH_DIFFERS after naming the first difference on stderr, or
 * KHA_MATCH_UNAVAILABLE when the daemon cannot be asked (said why).
 */
static int kha_ceremony_match_daemon(struct kha_globals *g,
                                     const struct kh_ceremony_record *rec)
{
    struct kh_ceremony_info *info;
    struct kh_client *c;
    struct kh_buf reply;
    char why[160];
    int r;

    if ((c = kha_client(g)) == NULL) {
        return KHA_MATCH_UNAVAILABLE;
    }
    if ((info = calloc(1, sizeof(*info))) == NULL) {
        kh_client_free(c);
        return KHA_MATCH_UNAVAILABLE;
    }
    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if ((r = kh_client_call(c, KH_MSG_CEREMONY_INFO, NULL, 0, 1, &reply)) !=
        0) {
        fprintf(stderr, "khadmin: cannot read the keyholder's ceremony: "
                        "%s (%s)\n",
                kh_client_reason(c)[0] != '\0' ? kh_client_reason(c)
                                                : kh_strerror(r),
                kh_errname(r));
        r = r == KH_ERR_NOT_FOUND ? kha_differs("it has no ceremony")
                                  : KHA_MATCH_UNAVAILABLE;
    } else if (kh_ceremony_info_decode(&reply, info) != 0) {
        fprintf(stderr, "khadmin: malformed CEREMONY_INFO reply\n");
        r = KHA_MATCH_UNAVAILABLE;
    } else if ((r = kha_match_facts(rec, &info->facts)) == KHA_MATCH_OK) {
        if (strcmp(rec->khd_version, info->version) != 0 ||
            memcmp(rec->khd_sha256, info->sha256, 32) != 0) {
            snprintf(why, sizeof(why), "the running keyholderd (version "
                     "%s) is not the binary the record names (version %s, "
                     "by SHA-256)", info->version, rec->khd_version);
            r = kha_differs(why);
        } else if ((r = kha_match_operators(rec, info)) == KHA_MATCH_OK) {
            r = kha_match_audit_key(g, rec);
        }
    }
    kh_buf_free(&reply);
    free(info);
    kh_client_free(c);
    return r;
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
                            "with the running keyholder (--offline to "
                            "skip the comparison)\n");
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
        if (daemon) {
            printf("the record matches the running keyholder (keyholderd "
                   "%s)\n", rec->khd_version);
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
