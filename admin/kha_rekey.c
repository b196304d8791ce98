/*
 * khadmin rekey | rotate-master: a new share set for the same master key,
 * or a new master key with every key re-wrapped. Before either, M current
 * custodians run `khadmin unseal --for rekey|rotate-master --share FILE
 * --key KEY`. Then an admin runs this: PREPARE (the daemon stores the new
 * boxed shares), the new share files and record are written and fsynced,
 * then COMMIT (one LMDB transaction). --prepare-only stops before the
 * commit; --commit and --abort finish a prepared set later (a SIGKILL in
 * between leaves the old state with the set reported by `status`).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kha.h"
#include "kha_seal.h"

#define KHA_REKEY_USAGE                                                     \
    "%s [--threshold M --custodian NAME=PUB.pem...] --out DIR "             \
    "[--witness NAME]...\n"                                                 \
    "       [--location TEXT] [--note TEXT] [--prepare-only] | --commit | " \
    "--abort"

struct kha_rekey_opts {
    struct kha_init in;
    int commit_only, abort_only, prepare_only;
};

static int kha_rekey_usage(int purpose, const char *why)
{
    char usage[512];

    snprintf(usage, sizeof(usage), KHA_REKEY_USAGE,
             purpose == KH_PURPOSE_ROTATE ? "rotate-master" : "rekey");
    return kha_usage_error(usage, "%s", why);
}

static int kha_rekey_parse(struct kha_rekey_opts *o, int purpose, int argc,
                           char **argv)
{
    static const struct option longopts[] = {
        { "threshold", required_argument, NULL, 't' },
        { "custodian", required_argument, NULL, 'c' },
        { "witness", required_argument, NULL, 'w' },
        { "location", required_argument, NULL, 'l' },
        { "note", required_argument, NULL, 'n' },
        { "out", required_argument, NULL, 'o' },
        { "prepare-only", no_argument, NULL, 'P' },
        { "commit", no_argument, NULL, 'C' },
        { "abort", no_argument, NULL, 'A' },
        { NULL, 0, NULL, 0 },
    };
    char *end;
    int c, r;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            o->in.threshold = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || o->in.threshold < 1 ||
                o->in.threshold > 255) {
                return kha_rekey_usage(purpose, "--threshold must be 1..255");
            }
            break;
        case 'c':
            if ((r = kha_init_add(&o->in, optarg, KH_ROLE_CUSTODIAN)) != 0) {
                return r;
            }
            break;
        case 'w':
            if (o->in.n_witnesses >= KH_CEREMONY_MAX_WITNESSES) {
                return kha_rekey_usage(purpose, "too many --witness");
            }
            o->in.witnesses[o->in.n_witnesses++] = optarg;
            break;
        case 'l': o->in.location = optarg; break;
        case 'n': o->in.note = optarg; break;
        case 'o': o->in.out = optarg; break;
        case 'P': o->prepare_only = 1; break;
        case 'C': o->commit_only = 1; break;
        case 'A': o->abort_only = 1; break;
        default: return kha_rekey_usage(purpose, "bad option");
        }
    }
    if (optind != argc) {
        return kha_rekey_usage(purpose, "unexpected argument");
    }
    if (o->commit_only + o->abort_only + (o->in.out != NULL) != 1) {
        return kha_rekey_usage(purpose, "give --out DIR, --commit or --abort");
    }
    if (o->in.out != NULL && purpose == KH_PURPOSE_REKEY &&
        (o->in.threshold == 0 || o->in.req.n_ops == 0)) {
        return kha_rekey_usage(purpose, "rekey needs --threshold and "
                               "--custodian");
    }
    return KHA_OK;
}

/* rotate-master without custodians: the current ones, same threshold. */
static int kha_rekey_current(struct kh_client *c, struct kha_init *in)
{
    struct kh_ceremony_info *info = calloc(1, sizeof(*info));
    struct kh_buf reply;
    int r;

    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if (info == NULL) {
        r = KHA_FAIL;
    } else if ((r = kh_client_call(c, KH_MSG_CEREMONY_INFO, NULL, 0, 1,
                                   &reply)) != 0) {
        r = kha_call_failed(c, "ceremony info", r);
    } else if (kh_ceremony_info_decode(&reply, info) != 0) {
        fprintf(stderr, "khadmin: ceremony info: malformed reply\n");
        r = KHA_FAIL;
    } else {
        if (in->threshold == 0) {
            in->threshold = info->facts.m;
        }
        for (unsigned i = 0; i < info->facts.n; i++) {
            for (uint32_t j = 0; j < info->n_ops; j++) {
                if (strcmp(info->ops[j].name,
                           info->facts.shares[i].custodian) == 0) {
                    in->req.ops[in->req.n_ops] = info->ops[j];
                    in->req.ops[in->req.n_ops++].roles = KH_ROLE_CUSTODIAN;
                }
            }
        }
        r = KHA_OK;
    }
    free(info);
    kh_buf_free(&reply);
    return r;
}

static int kha_rekey_simple(struct kh_client *c, uint8_t type,
                            const char *what)
{
    struct kh_buf reply;
    int r;

    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if ((r = kh_client_call(c, type, NULL, 0, 0, &reply)) != 0) {
        r = kha_call_failed(c, what, r);
    }
    kh_buf_free(&reply);
    return r;
}

static int kha_rekey_prepare(struct kh_client *c, int purpose,
                             const struct kha_init *in,
                             struct kh_ceremony_init_reply *rep)
{
    struct kh_buf body, reply;
    int r;

    kh_buf_init_writer(&body, KH_MAX_FRAME_LEN);
    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if (kh_buf_put_u8(&body, (uint8_t)purpose) != 0 ||
        kh_ceremony_init_encode(&body, &in->req) != 0) {
        fprintf(stderr, "khadmin: invalid share set\n");
        r = KHA_FAIL;
    } else if ((r = kh_client_call(c, KH_MSG_REKEY_PREPARE,
                                   kh_buf_data(&body), kh_buf_size(&body), 0,
                                   &reply)) != 0) {
        r = kha_call_failed(c, kh_purpose_name(purpose), r);
    } else if (kh_ceremony_reply_decode(&reply, rep) != 0) {
        fprintf(stderr, "khadmin: malformed reply\n");
        r = KHA_FAIL;
    }
    kh_buf_free(&body);
    kh_buf_free(&reply);
    return r;
}

static int kha_rekey_run(struct kha_globals *g, int purpose, int argc,
                         char **argv)
{
    struct kha_rekey_opts *o = calloc(1, sizeof(*o));
    struct kh_ceremony_init_reply *rep = calloc(1, sizeof(*rep));
    struct kh_ceremony_record *rec = kh_ceremony_record_new();
    const char *name = kh_purpose_name(purpose);
    struct kh_client *c = NULL;
    int r;

    if (o == NULL || rep == NULL || rec == NULL) {
        r = KHA_FAIL;
        goto out;
    }
    if ((r = kha_rekey_parse(o, purpose, argc, argv)) != KHA_OK ||
        (c = kha_client(g)) == NULL) {
        r = r != KHA_OK ? r : KHA_FAIL;
        goto out;
    }
    if (o->abort_only) {
        if ((r = kha_rekey_simple(c, KH_MSG_REKEY_ABORT, "abort")) == 0) {
            printf("prepared %s aborted\n", name);
        }
        goto out;
    }
    if (!o->commit_only) {
        if (o->in.req.n_ops == 0 &&
            (r = kha_rekey_current(c, &o->in)) != KHA_OK) {
            goto out;
        }
        o->in.req.threshold = (uint8_t)o->in.threshold;
        if (mkdir(o->in.out, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "khadmin: cannot create %s: %s\n", o->in.out,
                    strerror(errno));
            r = KHA_FAIL;
            goto out;
        }
        if ((r = kha_rekey_prepare(c, purpose, &o->in, rep)) != KHA_OK) {
            goto out;
        }
        kha_record_fill(rec, purpose == KH_PURPOSE_ROTATE
                                 ? KH_CEREMONY_ROTATE_MASTER
                                 : KH_CEREMONY_REKEY,
                        &o->in.req, rep, o->in.location, o->in.note,
                        o->in.witnesses, o->in.n_witnesses);
        if (kha_audit_spki(g, rec->audit_spki, sizeof(rec->audit_spki),
                           &rec->audit_spki_len) != KHA_OK) {
            fprintf(stderr, "khadmin: WARNING: the record names no audit "
                            "key\n");
        }
        if ((r = kha_write_shares(o->in.out, rep)) != KHA_OK ||
            (r = kha_write_record(o->in.out, rec)) != KHA_OK) {
            fprintf(stderr, "khadmin: the new share files are incomplete; "
                            "not committing (khadmin %s --abort)\n", name);
            goto out;
        }
        printf("prepared %s: %u-of-%u, new share files in %s\n", name,
               rep->facts.m, rep->facts.n, o->in.out);
        if (o->prepare_only) {
            goto out;
        }
    }
    if ((r = kha_rekey_simple(c, KH_MSG_REKEY_COMMIT, "commit")) == 0) {
        printf("%s committed: the old shares no longer work\n", name);
    }
out:
    kh_client_free(c);
    free(o);
    if (rep != NULL) {
        OPENSSL_cleanse(rep, sizeof(*rep));
        free(rep);
    }
    kh_ceremony_record_free(rec);
    return r;
}

int kha_cmd_rekey(struct kha_globals *g, int argc, char **argv)
{
    return kha_rekey_run(g, KH_PURPOSE_REKEY, argc, argv);
}

int kha_cmd_rotate_master(struct kha_globals *g, int argc, char **argv)
{
    return kha_rekey_run(g, KH_PURPOSE_ROTATE, argc, argv);
}
