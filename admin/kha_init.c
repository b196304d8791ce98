/*
 * khadmin init --threshold M --custodian NAME=PUB.pem ... --admin
 * NAME=PUB.pem ... [--auditor|--approver NAME=PUB.pem]... [--witness NAME]
 * [--location TEXT] [--note TEXT] --out DIR: the key ceremony. keyholderd
 * generates and splits the master key; this writes what it returns:
 * DIR/share-NAME.json (0600, one per custodian, the share boxed to that
 * custodian's key) and DIR/ceremony.json (the record, unsigned; each
 * participant then runs `khadmin ceremony sign`).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kh_ceremony.h"
#include "kh_seal.h"
#include "kha.h"
#include "kha_seal.h"

#define KHA_INIT_USAGE                                                      \
    "init --dev\n"                                                          \
    "  khadmin init --threshold M --custodian NAME=PUB.pem... "             \
    "--admin NAME=PUB.pem...\n"                                             \
    "       [--auditor NAME=PUB.pem]... [--approver NAME=PUB.pem]... "      \
    "[--witness NAME]...\n"                                                 \
    "       [--location TEXT] [--note TEXT] --out DIR"

/* Adds NAME=PUB.pem with |role|; one person may hold several roles. */
int kha_init_add(struct kha_init *in, const char *arg, uint32_t role)
{
    struct kh_ceremony_init_request *req = &in->req;
    struct kh_operator op = { .roles = role };
    const char *eq = strchr(arg, '=');
    size_t n = eq != NULL ? (size_t)(eq - arg) : 0;

    if (eq == NULL || n == 0 || n > KH_MAX_NAME_LEN) {
        return kha_usage_error(KHA_INIT_USAGE, "'%s' is not NAME=PUB.pem",
                               arg);
    }
    memcpy(op.name, arg, n);
    op.name[n] = '\0';
    if (kha_check_name(KHA_INIT_USAGE, op.name) != 0) {
        return KHA_USAGE;
    }
    if (kha_spki_from_pem(eq + 1, op.spki, sizeof(op.spki), &op.spki_len) !=
        0) {
        return KHA_FAIL;
    }
    for (uint32_t i = 0; i < req->n_ops; i++) {
        struct kh_operator *o = &req->ops[i];

        if (strcmp(o->name, op.name) != 0) {
            continue;
        }
        if (o->spki_len != op.spki_len ||
            memcmp(o->spki, op.spki, op.spki_len) != 0) {
            return kha_usage_error(KHA_INIT_USAGE, "'%s' is given two "
                                   "different public keys", op.name);
        }
        if ((o->roles & role) != 0) {
            return kha_usage_error(KHA_INIT_USAGE, "'%s' is given role %s "
                                   "twice", op.name, kh_role_name(role));
        }
        o->roles |= role;
        return KHA_OK;
    }
    if (req->n_ops >= KH_MAX_OPERATORS) {
        return kha_usage_error(KHA_INIT_USAGE, "more than %d participants",
                               KH_MAX_OPERATORS);
    }
    req->ops[req->n_ops++] = op;
    return KHA_OK;
}

static int kha_init_parse(struct kha_init *in, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "dev", no_argument, NULL, 'd' },
        { "threshold", required_argument, NULL, 't' },
        { "custodian", required_argument, NULL, 'c' },
        { "admin", required_argument, NULL, 'a' },
        { "auditor", required_argument, NULL, 'u' },
        { "approver", required_argument, NULL, 'p' },
        { "witness", required_argument, NULL, 'w' },
        { "location", required_argument, NULL, 'l' },
        { "note", required_argument, NULL, 'n' },
        { "out", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 },
    };
    char *end;
    int c, r = KHA_OK;

    while (r == KHA_OK &&
           (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': in->dev = 1; break;
        case 't':
            in->threshold = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || in->threshold < 1 || in->threshold > 255) {
                return kha_usage_error(KHA_INIT_USAGE, "--threshold must be "
                                       "1..255");
            }
            break;
        case 'c': r = kha_init_add(in, optarg, KH_ROLE_CUSTODIAN); break;
        case 'a': r = kha_init_add(in, optarg, KH_ROLE_ADMIN); break;
        case 'u': r = kha_init_add(in, optarg, KH_ROLE_AUDITOR); break;
        case 'p': r = kha_init_add(in, optarg, KH_ROLE_APPROVER); break;
        case 'w':
            if (in->n_witnesses >= KH_CEREMONY_MAX_WITNESSES ||
                strlen(optarg) > KH_CEREMONY_MAX_WITNESS) {
                return kha_usage_error(KHA_INIT_USAGE, "too many or too long "
                                       "--witness");
            }
            in->witnesses[in->n_witnesses++] = optarg;
            break;
        case 'l': in->location = optarg; break;
        case 'n': in->note = optarg; break;
        case 'o': in->out = optarg; break;
        default: return kha_usage_error(KHA_INIT_USAGE, "bad option");
        }
    }
    if (r != KHA_OK) {
        return r;
    }
    if (optind != argc) {
        return kha_usage_error(KHA_INIT_USAGE, "unexpected argument '%s'",
                               argv[optind]);
    }
    if (in->dev) {
        return in->req.n_ops == 0 && in->out == NULL
                   ? KHA_OK
                   : kha_usage_error(KHA_INIT_USAGE, "--dev takes no "
                                     "participants");
    }
    if (in->threshold == 0 || in->out == NULL || in->req.n_ops == 0) {
        return kha_usage_error(KHA_INIT_USAGE, "need --threshold, "
                               "custodians, admins and --out (or --dev)");
    }
    if ((in->location != NULL &&
         strlen(in->location) > KH_CEREMONY_MAX_TEXT) ||
        (in->note != NULL && strlen(in->note) > KH_CEREMONY_MAX_TEXT)) {
        return kha_usage_error(KHA_INIT_USAGE, "--location/--note too long");
    }
    in->req.threshold = (uint8_t)in->threshold;
    return KHA_OK;
}

/* Writes |len| bytes to DIR/NAME (new file, |mode|), fsynced. */
int kha_write_new_file(const char *dir, const char *name, const void *p,
                       size_t len, mode_t mode)
{
    char path[4096];
    int fd, ok;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
                             O_NOFOLLOW, mode)) < 0) {
        fprintf(stderr, "khadmin: cannot create %s: %s\n", path,
                strerror(errno));
        return KHA_FAIL;
    }
    ok = write(fd, p, len) == (ssize_t)len && fsync(fd) == 0;
    if (close(fd) != 0 || !ok) {
        fprintf(stderr, "khadmin: cannot write %s: %s\n", path,
                strerror(errno));
        return KHA_FAIL;
    }
    return KHA_OK;
}

int kha_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

    if (fd < 0 || fsync(fd) != 0) {
        fprintf(stderr, "khadmin: cannot sync %s: %s\n", dir,
                strerror(errno));
        r = KHA_FAIL;
    }
    if (fd >= 0) {
        close(fd);
    }
    return r;
}

/* The share files of |rep| into |dir|. */
int kha_write_shares(const char *dir, const struct kh_ceremony_init_reply *rep)
{
    struct kh_share_file sf;
    struct kh_buf out;
    char name[KH_MAX_NAME_LEN + 32];
    int r = KHA_OK;

    kh_buf_init_writer(&out, KH_SHARE_FILE_MAX);
    for (unsigned i = 0; i < rep->facts.n && r == KHA_OK; i++) {
        const struct kh_share_fact *f = &rep->facts.shares[i];

        memset(&sf, 0, sizeof(sf));
        memcpy(sf.ceremony_id, rep->facts.id, sizeof(sf.ceremony_id));
        sf.index = f->x;
        sf.threshold = rep->facts.m;
        sf.count = rep->facts.n;
        snprintf(sf.custodian, sizeof(sf.custodian), "%s", f->custodian);
        memcpy(sf.custodian_fpr, f->fpr, sizeof(sf.custodian_fpr));
        memcpy(sf.commitment, f->commitment, sizeof(sf.commitment));
        if (rep->box_len[i] > sizeof(sf.box)) {
            r = KHA_FAIL;
            break;
        }
        memcpy(sf.box, rep->box[i], rep->box_len[i]);
        sf.box_len = rep->box_len[i];
        kh_buf_reset(&out);
        snprintf(name, sizeof(name), "share-%s.json", f->custodian);
        if (kh_share_file_encode(&sf, &out) != 0) {
            fprintf(stderr, "khadmin: cannot encode share %u\n", f->x);
            r = KHA_FAIL;
        } else {
            r = kha_write_new_file(dir, name, kh_buf_data(&out),
                                   kh_buf_size(&out), 0600);
        }
    }
    kh_buf_free(&out);
    return r != KHA_OK ? r : kha_sync_dir(dir);
}

/* Fills the ceremony record of |rep| for participants |req|. */
void kha_record_fill(struct kh_ceremony_record *rec, int kind,
                     const struct kh_ceremony_init_request *req,
                     const struct kh_ceremony_init_reply *rep,
                     const char *location, const char *note,
                     const char *const *witnesses, unsigned n_witnesses)
{
    memcpy(rec->ceremony_id, rep->facts.id, sizeof(rec->ceremony_id));
    rec->kind = kind;
    kh_ceremony_format_time(rep->facts.created, rec->time);
    snprintf(rec->location, sizeof(rec->location), "%s",
             location != NULL ? location : "");
    snprintf(rec->note, sizeof(rec->note), "%s", note != NULL ? note : "");
    for (unsigned i = 0; i < n_witnesses; i++) {
        snprintf(rec->witnesses[i], sizeof(rec->witnesses[i]), "%s",
                 witnesses[i]);
    }
    rec->n_witnesses = n_witnesses;
    snprintf(rec->khd_version, sizeof(rec->khd_version), "%s", rep->version);
    memcpy(rec->khd_sha256, rep->sha256, sizeof(rec->khd_sha256));
    rec->threshold = rep->facts.m;
    rec->count = rep->facts.n;
    for (uint32_t i = 0; i < req->n_ops; i++) {
        struct kh_ceremony_participant *p = &rec->participants[i];

        snprintf(p->name, sizeof(p->name), "%s", req->ops[i].name);
        p->roles = req->ops[i].roles;
        memcpy(p->spki, req->ops[i].spki, req->ops[i].spki_len);
        p->spki_len = req->ops[i].spki_len;
        for (unsigned k = 0; k < rep->facts.n; k++) {
            if (strcmp(rep->facts.shares[k].custodian, p->name) == 0) {
                p->share_index = rep->facts.shares[k].x;
                memcpy(p->commitment, rep->facts.shares[k].commitment,
                       sizeof(p->commitment));
            }
        }
    }
    rec->n_participants = req->n_ops;
}

int kha_write_record(const char *dir, const struct kh_ceremony_record *rec)
{
    struct kh_buf out;
    int r;

    kh_buf_init_writer(&out, KH_CEREMONY_FILE_MAX);
    if (kh_ceremony_encode(rec, &out) != 0) {
        fprintf(stderr, "khadmin: cannot encode the ceremony record\n");
        r = KHA_FAIL;
    } else if ((r = kha_write_new_file(dir, "ceremony.json",
                                       kh_buf_data(&out), kh_buf_size(&out),
                                       0644)) == KHA_OK) {
        r = kha_sync_dir(dir);
    }
    kh_buf_free(&out);
    return r;
}

static int kha_init_dev(struct kha_globals *g)
{
    struct kh_client *c;
    int r;

    if ((c = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    if ((r = kh_client_init_dev(c)) != 0) {
        r = kha_call_failed(c, "init --dev", r);
    } else {
        fprintf(stderr, "khadmin: WARNING: initialized an INSECURE dev "
                        "keyholder; its master key is stored beside the keys "
                        "and it unseals itself. For demos and tests only.\n");
        printf("initialized (dev, insecure), unsealed\n");
    }
    kh_client_free(c);
    return r;
}

/*
 * Before the daemon creates anything: DIR must be a writable directory
 * without the files about to be written, or the shares could be lost.
 */
static int kha_init_check_out(const struct kha_init *in)
{
    char path[4096];
    struct stat st;

    if (stat(in->out, &st) != 0 || !S_ISDIR(st.st_mode) ||
        access(in->out, W_OK | X_OK) != 0) {
        fprintf(stderr, "khadmin: --out %s is not a writable directory\n",
                in->out);
        return KHA_FAIL;
    }
    snprintf(path, sizeof(path), "%s/ceremony.json", in->out);
    if (access(path, F_OK) == 0) {
        fprintf(stderr, "khadmin: %s exists; use an empty directory\n",
                path);
        return KHA_FAIL;
    }
    for (uint32_t i = 0; i < in->req.n_ops; i++) {
        snprintf(path, sizeof(path), "%s/share-%s.json", in->out,
                 in->req.ops[i].name);
        if (access(path, F_OK) == 0) {
            fprintf(stderr, "khadmin: %s exists; use an empty directory\n",
                    path);
            return KHA_FAIL;
        }
    }
    return KHA_OK;
}

/* Sends CEREMONY_INIT; the decoded reply in |rep|. */
static int kha_init_call(struct kha_globals *g, const struct kha_init *in,
                         struct kh_ceremony_init_reply *rep)
{
    struct kh_client *c;
    struct kh_buf body, reply;
    int r;

    if ((c = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    kh_buf_init_writer(&body, KH_MAX_FRAME_LEN);
    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if ((r = kh_ceremony_init_encode(&body, &in->req)) != 0) {
        fprintf(stderr, "khadmin: init: %s\n", kh_strerror(r));
        r = KHA_FAIL;
    } else if ((r = kh_client_call(c, KH_MSG_CEREMONY_INIT,
                                   kh_buf_data(&body), kh_buf_size(&body), 0,
                                   &reply)) != 0) {
        r = kha_call_failed(c, "init", r);
    } else if (kh_ceremony_reply_decode(&reply, rep) != 0) {
        fprintf(stderr, "khadmin: init: malformed reply\n");
        r = KHA_FAIL;
    }
    kh_buf_free(&body);
    kh_buf_free(&reply);
    kh_client_free(c);
    return r;
}

int kha_cmd_init(struct kha_globals *g, int argc, char **argv)
{
    struct kha_init *in = calloc(1, sizeof(*in));
    struct kh_ceremony_init_reply *rep = calloc(1, sizeof(*rep));
    struct kh_ceremony_record *rec = kh_ceremony_record_new();
    char id[2 * KH_SEAL_ID_LEN + 1];
    int r;

    if (in == NULL || rep == NULL || rec == NULL) {
        fprintf(stderr, "khadmin: out of memory\n");
        r = KHA_FAIL;
        goto out;
    }
    if ((r = kha_init_parse(in, argc, argv)) != KHA_OK) {
        goto out;
    }
    if (in->dev) {
        r = kha_init_dev(g);
        goto out;
    }
    if (mkdir(in->out, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "khadmin: cannot create %s: %s\n", in->out,
                strerror(errno));
        r = KHA_FAIL;
        goto out;
    }
    if ((r = kha_init_check_out(in)) != KHA_OK ||
        (r = kha_init_call(g, in, rep)) != KHA_OK) {
        goto out;
    }
    kha_record_fill(rec, KH_CEREMONY_INIT, &in->req, rep, in->location,
                    in->note, in->witnesses, in->n_witnesses);
    /* The audit key made at init: the record vouches for it too. */
    if (kha_audit_spki(g, rec->audit_spki, sizeof(rec->audit_spki),
                       &rec->audit_spki_len) != KHA_OK) {
        fprintf(stderr, "khadmin: WARNING: the record names no audit key\n");
    }
    if ((r = kha_write_shares(in->out, rep)) != KHA_OK ||
        (r = kha_write_record(in->out, rec)) != KHA_OK) {
        fprintf(stderr, "khadmin: WARNING: keyholderd is initialized but "
                        "the ceremony files in %s are incomplete\n", in->out);
        goto out;
    }
    kh_hex(rep->facts.id, sizeof(rep->facts.id), id);
    printf("ceremony %s: master key split %u-of-%u; unsealed\n", id,
           rep->facts.m, rep->facts.n);
    for (unsigned i = 0; i < rep->facts.n; i++) {
        printf("  share %u -> %s: %s/share-%s.json\n", rep->facts.shares[i].x,
               rep->facts.shares[i].custodian, in->out,
               rep->facts.shares[i].custodian);
    }
    printf("record: %s/ceremony.json (each participant: khadmin ceremony "
           "sign)\n", in->out);
out:
    free(in);
    if (rep != NULL) {
        OPENSSL_cleanse(rep, sizeof(*rep));
        free(rep);
    }
    kh_ceremony_record_free(rec);
    return r;
}
