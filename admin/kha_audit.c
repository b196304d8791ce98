/* khadmin audit verify | export | archive | pubkey. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kh_audit.h"
#include "kha.h"

#define KHA_AUDIT_PAGE 256
#define KHA_AUDIT_MAX_FILES 16
#define KHA_FOLLOW_POLL_MS 500

/*- One page of AUDIT_READ ------------------------------------------- */

struct kha_page {
    uint64_t first, head;
    int has_anchor;
    struct kh_audit_anchor anchor;
    size_t spki_len;
    uint8_t spki[KH_MAX_SPKI_LEN];
    uint8_t more;
    uint32_t count;
    struct kh_buf reply; /* the entries follow in here */
};

static int kha_page_fetch(struct kh_client *c, uint64_t from,
                          struct kha_page *pg)
{
    struct kh_audit_read_request req = { .from = from,
                                         .max = KHA_AUDIT_PAGE };
    struct kh_audit_page hdr;
    struct kh_buf body;
    int r;

    kh_buf_free(&pg->reply);
    kh_buf_init_writer(&pg->reply, KH_MAX_FRAME_LEN);
    kh_buf_init_writer(&body, 64);
    if ((r = kh_audit_read_request_encode(&body, &req)) != 0 ||
        (r = kh_client_call(c, KH_MSG_AUDIT_READ, kh_buf_data(&body),
                            kh_buf_size(&body), 1, &pg->reply)) != 0) {
        kh_buf_free(&body);
        return r;
    }
    kh_buf_free(&body);
    if (kh_audit_page_decode(&pg->reply, &hdr) != 0) {
        fprintf(stderr, "khadmin: malformed audit reply from keyholderd\n");
        return KH_ERR_PROTOCOL;
    }
    pg->first = hdr.first;
    pg->head = hdr.head;
    pg->has_anchor = hdr.has_anchor;
    pg->anchor = hdr.anchor;
    pg->spki_len = hdr.spki_len;
    memcpy(pg->spki, hdr.spki, hdr.spki_len);
    pg->more = hdr.more;
    pg->count = hdr.count;
    return KH_OK;
}

/* The next entry of a fetched page. */
static int kha_page_next(struct kha_page *pg, uint64_t *seq,
                         struct kh_audit_rec *rec, int *malformed)
{
    const uint8_t *p;
    size_t len;

    *malformed = 0;
    if (kh_audit_page_entry_decode(&pg->reply, seq, &p, &len) != 0) {
        fprintf(stderr, "khadmin: malformed audit reply from keyholderd\n");
        return KH_ERR_PROTOCOL;
    }
    if (kh_audit_rec_parse(p, len, rec) != 0) {
        /* A stored value too short to be an entry: the verifier's job. */
        memset(rec, 0, sizeof(*rec));
        rec->enc = p;
        rec->enc_len = len;
        *malformed = 1;
    }
    return KH_OK;
}

/*- Verifying -------------------------------------------------------- */

static uint8_t *kha_pubkey_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *pk = NULL;
    uint8_t *der = NULL;
    int n;

    if (f == NULL) {
        fprintf(stderr, "khadmin: cannot open %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    pk = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (pk == NULL || (n = i2d_PUBKEY(pk, &der)) <= 0) {
        fprintf(stderr, "khadmin: %s is not a PEM public key\n", path);
        EVP_PKEY_free(pk);
        return NULL;
    }
    EVP_PKEY_free(pk);
    *len = (size_t)n;
    return der;
}

/* Starts the chain at seq 1 (prev hash all zeros). */
static void kha_verify_genesis(struct kh_audit_verifier *v)
{
    v->have_prev = 1;
    v->next_seq = 1;
    memset(v->prev, 0, sizeof(v->prev));
}

/* An anchor met at the start (trust it) or inside the chain (must match). */
static int kha_verify_anchor(struct kh_audit_verifier *v,
                             const struct kh_audit_anchor *a, int at_start)
{
    if (!at_start && v->have_prev &&
        (a->seq != v->next_seq ||
         memcmp(a->hash, v->prev, KH_AUDIT_HASH_LEN) != 0)) {
        if (v->error[0] == '\0') {
            v->bad_seq = a->seq;
            snprintf(v->error, sizeof(v->error),
                     "seq %" PRIu64 ": the archive anchor does not match "
                     "the chain before it", a->seq);
        }
        return KH_ERR_TAMPERED;
    }
    return kh_audit_verify_anchor(v, a->seq, a->hash, a->time_ns, a->sig,
                                  a->sig_len);
}

/* Feeds one JSON line of an export or archive file. */
static int kha_verify_line(struct kh_audit_verifier *v, const char *line,
                           size_t len, int first, struct kh_buf *enc,
                           struct kh_audit_entry *e, const char *path,
                           unsigned long lineno)
{
    struct kh_audit_anchor a;
    struct kh_audit_rec rec;

    if (len > 15 && memcmp(line, "{\"anchor_seq\":", 14) == 0) {
        if (kh_audit_anchor_json_parse(line, len, &a) != 0) {
            goto bad;
        }
        return kha_verify_anchor(v, &a, first);
    }
    if (kh_audit_json_parse(line, len, enc, &rec, e) != 0) {
        goto bad;
    }
    if (first) {
        kha_verify_genesis(v);
    }
    return kh_audit_verify_next(v, e->seq, &rec);
bad:
    if (v->error[0] == '\0') {
        v->bad_seq = v->have_prev ? v->next_seq : 0;
        snprintf(v->error, sizeof(v->error),
                 "%s line %lu: not an exported audit entry (altered?)", path,
                 lineno);
    }
    return KH_ERR_TAMPERED;
}

static int kha_verify_file(struct kh_audit_verifier *v, const char *path,
                           int *first)
{
    struct kh_audit_entry *e = malloc(sizeof(*e));
    struct kh_buf enc;
    unsigned long lineno = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    FILE *f;
    int r = KH_OK;

    if (e == NULL) {
        return KH_ERR_ALLOC;
    }
    if ((f = fopen(path, "r")) == NULL) {
        fprintf(stderr, "khadmin: cannot open %s: %s\n", path,
                strerror(errno));
        free(e);
        return KH_ERR_IO;
    }
    kh_buf_init_writer(&enc, KH_AUDIT_MAX_ENC);
    while (r == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n') {
            n--;
        }
        r = kha_verify_line(v, line, (size_t)n, *first, &enc, e, path,
                            lineno);
        *first = 0;
    }
    free(line);
    fclose(f);
    kh_buf_free(&enc);
    free(e);
    return r;
}

/* The live log from |from| (0: all of it, from the anchor or seq 1). */
static int kha_verify_live(struct kh_client *c, struct kh_audit_verifier *v,
                           uint64_t from, int have_files, int *first,
                           uint64_t *head)
{
    struct kha_page pg;
    uint64_t next = from, seq;
    int r, started = 0, malformed;

    memset(&pg, 0, sizeof(pg));
    kh_buf_init_writer(&pg.reply, 16);
    for (;;) {
        struct kh_audit_rec rec;

        if ((r = kha_page_fetch(c, next, &pg)) != 0) {
            if (r != KH_ERR_PROTOCOL) {
                r = kha_call_failed(c, "audit read", r);
            }
            goto out;
        }
        if (!started) {
            started = 1;
            *head = pg.head;
            if (v->pubkey == NULL && pg.spki_len > 0) {
                kh_audit_verifier_free(v);
                if (kh_audit_verifier_init(v, pg.spki, pg.spki_len) != 0) {
                    fprintf(stderr, "khadmin: keyholderd sent a malformed "
                                    "audit public key\n");
                    r = KH_ERR_PROTOCOL;
                    goto out;
                }
                if (have_files) {
                    fprintf(stderr, "khadmin: note: the archive is checked "
                                    "with the daemon's audit key\n");
                }
            }
            if (from == 0 && pg.has_anchor &&
                (pg.first == 0 || pg.first >= pg.anchor.seq)) {
                if ((r = kha_verify_anchor(v, &pg.anchor, *first)) != 0) {
                    goto out;
                }
                *first = 0;
            } else if (from == 0 && *first) {
                kha_verify_genesis(v);
                *first = 0;
            }
        }
        for (uint32_t i = 0; i < pg.count; i++) {
            if ((r = kha_page_next(&pg, &seq, &rec, &malformed)) != 0) {
                goto out;
            }
            if (malformed) {
                if (v->error[0] == '\0') {
                    v->bad_seq = seq;
                    snprintf(v->error, sizeof(v->error),
                             "seq %" PRIu64 ": stored value is not an "
                             "audit entry", seq);
                }
                r = KH_ERR_TAMPERED;
                goto out;
            }
            if ((r = kh_audit_verify_next(v, seq, &rec)) != 0) {
                goto out;
            }
            next = seq == UINT64_MAX ? seq : seq + 1;
        }
        if (!pg.more || pg.count == 0) {
            break;
        }
    }
    r = KH_OK;
out:
    kh_buf_free(&pg.reply);
    return r;
}

#define KHA_VERIFY_USAGE                                                    \
    "audit verify [--from SEQ] [--archive FILE]... | "                      \
    "--file FILE... --pubkey AUDIT.pem"

static int kha_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        return -1;
    }
    *out = v;
    return 0;
}

static void kha_verify_report(struct kha_globals *g,
                              const struct kh_audit_verifier *v, int ok)
{
    uint64_t unsigned_tail = v->last_seq > v->last_signed_seq
                                 ? v->last_seq - v->last_signed_seq
                                 : 0;

    if (g->json) {
        printf("{\"ok\":%s,\"entries\":%" PRIu64 ",\"last_seq\":%" PRIu64
               ",\"checkpoints\":%" PRIu64 ",\"last_signed_seq\":%" PRIu64
               ",\"gaps\":%" PRIu64,
               ok ? "true" : "false", v->entries, v->last_seq,
               v->checkpoints, v->last_signed_seq, v->gaps);
        if (!ok) {
            printf(",\"bad_seq\":%" PRIu64 ",\"error\":", v->bad_seq);
            kha_json_str(stdout, v->error);
        }
        printf("}\n");
    }
    if (!ok) {
        fprintf(stderr, "khadmin: audit verify FAILED at seq %" PRIu64
                ": %s\n", v->bad_seq, v->error);
        return;
    }
    if (!g->json) {
        printf("audit chain OK: %" PRIu64 " entries up to seq %" PRIu64
               ", %" PRIu64 " checkpoint signatures verified, last signed "
               "seq %" PRIu64 "\n", v->entries, v->last_seq, v->checkpoints,
               v->last_signed_seq);
        if (unsigned_tail > 0) {
            printf("note: %" PRIu64 " entries after the last checkpoint "
                   "are chained but not yet signed\n", unsigned_tail);
        }
        if (v->gaps > 0) {
            printf("warning: %" PRIu64 " gap marker(s): batched entries may "
                   "be missing after an unclean stop\n", v->gaps);
        }
    }
}

int kha_cmd_audit_verify(struct kha_globals *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "from", required_argument, NULL, 'f' },
        { "file", required_argument, NULL, 'F' },
        { "archive", required_argument, NULL, 'a' },
        { "pubkey", required_argument, NULL, 'p' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    const char *files[KHA_AUDIT_MAX_FILES], *pubpath = NULL;
    struct kh_audit_verifier v;
    struct kh_client *c = NULL;
    uint8_t *pub = NULL;
    size_t pub_len = 0, nfiles = 0;
    uint64_t from = 0, head = 0;
    int ch, offline = 0, archives = 0, first = 1, r;

    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            if (kha_parse_u64(optarg, &from) != 0 || from == 0) {
                return kha_usage_error(KHA_VERIFY_USAGE, "bad --from '%s'",
                                       optarg);
            }
            break;
        case 'F':
        case 'a':
            if (nfiles == KHA_AUDIT_MAX_FILES) {
                return kha_usage_error(KHA_VERIFY_USAGE, "too many files");
            }
            files[nfiles++] = optarg;
            *(ch == 'F' ? &offline : &archives) = 1;
            break;
        case 'p':
            pubpath = optarg;
            break;
        case 'j':
            g->json = 1;
            break;
        default:
            return kha_usage_error(KHA_VERIFY_USAGE, "bad option");
        }
    }
    if (optind != argc || (offline && (archives || from != 0)) ||
        (offline && pubpath == NULL) || (archives && from != 0)) {
        return kha_usage_error(KHA_VERIFY_USAGE,
                               offline && pubpath == NULL
                                   ? "--file needs --pubkey"
                                   : "--file (offline), --archive and "
                                     "--from do not combine that way");
    }
    if (pubpath != NULL && (pub = kha_pubkey_file(pubpath, &pub_len)) == NULL) {
        return KHA_FAIL;
    }
    if (kh_audit_verifier_init(&v, pub, pub_len) != 0) {
        fprintf(stderr, "khadmin: %s is not a usable public key\n", pubpath);
        OPENSSL_free(pub);
        return KHA_FAIL;
    }
    r = KH_OK;
    if (!offline && (c = kha_client(g)) == NULL) {
        r = KH_ERR_UNAVAILABLE;
        goto out;
    }
    if (archives && pub == NULL) {
        /* The archive needs the key before the live log gives it. */
        struct kha_page pg;

        memset(&pg, 0, sizeof(pg));
        kh_buf_init_writer(&pg.reply, 16);
        if ((r = kha_page_fetch(c, UINT64_MAX, &pg)) != 0) {
            if (r != KH_ERR_PROTOCOL) {
                r = kha_call_failed(c, "audit read", r);
            }
            kh_buf_free(&pg.reply);
            goto out;
        }
        kh_audit_verifier_free(&v);
        r = kh_audit_verifier_init(&v, pg.spki, pg.spki_len);
        kh_buf_free(&pg.reply);
        if (r != 0) {
            goto out;
        }
    }
    for (size_t i = 0; r == 0 && i < nfiles; i++) {
        r = kha_verify_file(&v, files[i], &first);
    }
    if (r == 0 && !offline) {
        r = kha_verify_live(c, &v, from, archives, &first, &head);
        if (r == 0 && v.last_seq < head && v.error[0] == '\0') {
            v.bad_seq = v.last_seq + 1;
            snprintf(v.error, sizeof(v.error), "entries after seq %" PRIu64
                     " are missing (keyholderd's head is seq %" PRIu64 ")",
                     v.last_seq, head);
            r = KH_ERR_TAMPERED;
        }
    }
    if (r == 0 && v.entries == 0 && v.error[0] == '\0') {
        v.bad_seq = 0;
        snprintf(v.error, sizeof(v.error), "no entries to verify");
        r = KH_ERR_TAMPERED;
    }
out:
    if (r == KH_ERR_TAMPERED || v.error[0] != '\0') {
        kha_verify_report(g, &v, 0);
        r = KHA_FAIL;
    } else if (r != 0) {
        if (r < 0 && r != KH_ERR_UNAVAILABLE && r != KH_ERR_PROTOCOL) {
            fprintf(stderr, "khadmin: audit verify: %s\n", kh_strerror(r));
        }
        r = KHA_FAIL;
    } else {
        kha_verify_report(g, &v, 1);
    }
    kh_audit_verifier_free(&v);
    OPENSSL_free(pub);
    kh_client_free(c);
    return r;
}

/*- Export and archive ------------------------------------------------ */

/* Writes entries [since, before) as JSON lines; |*last| the last seq. */
static int kha_export_range(struct kh_client *c, FILE *out, uint64_t since,
                            uint64_t before, int with_anchor,
                            uint64_t *next, uint64_t *count)
{
    struct kh_audit_entry *e = malloc(sizeof(*e));
    struct kha_page pg;
    struct kh_buf line;
    int r = KH_OK, malformed, anchored = !with_anchor;

    if (e == NULL) {
        return KH_ERR_ALLOC;
    }
    memset(&pg, 0, sizeof(pg));
    kh_buf_init_writer(&pg.reply, 16);
    kh_buf_init_writer(&line, KH_AUDIT_MAX_LINE);
    *next = since;
    for (;;) {
        if ((r = kha_page_fetch(c, *next, &pg)) != 0) {
            goto out;
        }
        if (!anchored) {
            anchored = 1;
            if (pg.has_anchor && since <= pg.anchor.seq &&
                (pg.first == 0 || pg.first >= pg.anchor.seq)) {
                kh_buf_reset(&line);
                if ((r = kh_audit_anchor_json(&pg.anchor, &line)) != 0) {
                    goto out;
                }
                fprintf(out, "%.*s\n", (int)kh_buf_size(&line),
                        (const char *)kh_buf_data(&line));
            }
        }
        for (uint32_t i = 0; i < pg.count; i++) {
            struct kh_audit_rec rec;
            struct kh_buf d;
            uint64_t seq;

            if ((r = kha_page_next(&pg, &seq, &rec, &malformed)) != 0) {
                goto out;
            }
            if (seq >= before) {
                goto out;
            }
            kh_buf_init_reader(&d, rec.enc, rec.enc_len);
            kh_buf_reset(&line);
            if (malformed || kh_audit_entry_decode(&d, e) != 0 ||
                kh_audit_json_line(&rec, e, &line) != 0) {
                fprintf(stderr, "khadmin: stored entry %" PRIu64 " does not "
                        "decode; run khadmin audit verify\n", seq);
                r = KH_ERR_TAMPERED;
                goto out;
            }
            fprintf(out, "%.*s\n", (int)kh_buf_size(&line),
                    (const char *)kh_buf_data(&line));
            (*count)++;
            *next = seq + 1;
        }
        if (!pg.more || pg.count == 0) {
            break;
        }
    }
out:
    fflush(out);
    kh_buf_free(&line);
    kh_buf_free(&pg.reply);
    free(e);
    return r;
}

static volatile sig_atomic_t kha_stop;

static void kha_on_stop(int sig)
{
    (void)sig;
    kha_stop = 1;
}

/* A forwarder that cannot write (disk full, a closed pipe) must stop. */
static int kha_export_written(FILE *out)
{
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "khadmin: audit export: cannot write the entries: "
                "%s\n", strerror(errno));
        return KHA_FAIL;
    }
    return KHA_OK;
}

#define KHA_EXPORT_USAGE "audit export [--since SEQ] [--follow]"

int kha_cmd_audit_export(struct kha_globals *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "since", required_argument, NULL, 's' },
        { "follow", no_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    struct kh_client *c;
    uint64_t since = 0, next, count = 0;
    int ch, follow = 0, r, written = KHA_OK;

    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (ch == 's' && kha_parse_u64(optarg, &since) == 0) {
            continue;
        }
        if (ch == 'f') {
            follow = 1;
            continue;
        }
        return kha_usage_error(KHA_EXPORT_USAGE, "bad option");
    }
    if (optind != argc) {
        return kha_usage_error(KHA_EXPORT_USAGE, "unexpected argument '%s'",
                               argv[optind]);
    }
    if ((c = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    signal(SIGINT, kha_on_stop);
    signal(SIGTERM, kha_on_stop);
    r = kha_export_range(c, stdout, since, UINT64_MAX, 1, &next, &count);
    while (r == 0 && (written = kha_export_written(stdout)) == KHA_OK &&
           follow && !kha_stop) {
        struct timespec ts = { 0, KHA_FOLLOW_POLL_MS * 1000000L };

        nanosleep(&ts, NULL);
        r = kha_export_range(c, stdout, next, UINT64_MAX, 0, &next, &count);
    }
    if (r != 0 && r != KH_ERR_TAMPERED && r != KH_ERR_PROTOCOL) {
        (void)kha_call_failed(c, "audit export", r);
    }
    kh_client_free(c);
    return r == 0 && written == KHA_OK ? KHA_OK : KHA_FAIL;
}

#define KHA_ARCHIVE_USAGE "audit archive --before SEQ --out FILE"

int kha_cmd_audit_archive(struct kha_globals *g, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "before", required_argument, NULL, 'b' },
        { "out", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 },
    };
    struct kh_buf body, reply;
    struct kh_client *c = NULL;
    const char *path = NULL;
    uint64_t before = 0, next, count = 0, dropped = 0;
    FILE *out = NULL;
    int ch, fd = -1, created = 0, r;

    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (ch == 'b' && kha_parse_u64(optarg, &before) == 0 && before > 1) {
            continue;
        }
        if (ch == 'o') {
            path = optarg;
            continue;
        }
        return kha_usage_error(KHA_ARCHIVE_USAGE, "bad option");
    }
    if (optind != argc || before == 0 || path == NULL) {
        return kha_usage_error(KHA_ARCHIVE_USAGE, "--before SEQ (> 1) and "
                               "--out FILE are required");
    }
    kh_buf_init_writer(&body, 16);
    kh_buf_init_writer(&reply, 64);
    if ((c = kha_client(g)) == NULL) {
        r = KHA_FAIL;
        goto out;
    }
    /* A new file only: an archive is never overwritten. */
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
        (out = fdopen(fd, "w")) == NULL) {
        fprintf(stderr, "khadmin: cannot create %s: %s\n", path,
                strerror(errno));
        r = KHA_FAIL;
        goto out;
    }
    fd = -1;
    created = 1;
    if ((r = kha_export_range(c, out, 0, before, 1, &next, &count)) != 0) {
        r = r == KH_ERR_TAMPERED ? KHA_FAIL
                                 : kha_call_failed(c, "audit archive", r);
        goto out;
    }
    /* Durable before anything is dropped from keyholderd. */
    if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
        fprintf(stderr, "khadmin: cannot write %s: %s\n", path,
                strerror(errno));
        r = KHA_FAIL;
        goto out;
    }
    if (count == 0 || next != before) {
        fprintf(stderr, "khadmin: audit archive: entries up to seq %" PRIu64
                " are not all stored (exported %" PRIu64 "); nothing "
                "dropped\n", before - 1, count);
        r = KHA_FAIL;
        goto out;
    }
    if ((r = kh_audit_archive_encode(&body, before)) != 0 ||
        (r = kh_client_call(c, KH_MSG_AUDIT_ARCHIVE, kh_buf_data(&body),
                            kh_buf_size(&body), 0, &reply)) != 0 ||
        (r = kh_buf_get_u64(&reply, &dropped)) != 0) {
        r = kha_call_failed(c, "audit archive", r);
        goto out;
    }
    printf("archived %" PRIu64 " entries (before seq %" PRIu64 ") to %s; "
           "keyholderd dropped %" PRIu64 " and keeps a signed anchor\n",
           count, before, path, dropped);
    r = KHA_OK;
out:
    if (out != NULL) {
        fclose(out);
    }
    if (r != KHA_OK && created) {
        unlink(path); /* no half archive left behind */
    }
    if (fd >= 0) {
        close(fd);
    }
    kh_buf_free(&body);
    kh_buf_free(&reply);
    kh_client_free(c);
    return r;
}

int kha_audit_spki(struct kha_globals *g, uint8_t *spki, size_t cap,
                   size_t *len)
{
    struct kh_status_reply st;
    struct kh_client *c;
    int r;

    *len = 0;
    if ((c = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    if ((r = kh_client_status(c, &st)) != 0) {
        r = kha_call_failed(c, "status", r);
    } else if (st.audit_spki_len == 0 || st.audit_spki_len > cap) {
        fprintf(stderr, "khadmin: keyholderd has no audit key\n");
        r = KHA_FAIL;
    } else {
        memcpy(spki, st.audit_spki, st.audit_spki_len);
        *len = st.audit_spki_len;
        r = KHA_OK;
    }
    kh_client_free(c);
    return r;
}

int kha_cmd_audit_pubkey(struct kha_globals *g, int argc, char **argv)
{
    struct kh_status_reply st;
    const unsigned char *p;
    struct kh_client *c;
    EVP_PKEY *pk;
    int r;

    (void)argv;
    if (argc != 1) {
        return kha_usage_error("audit pubkey", "no arguments expected");
    }
    if ((c = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    if ((r = kh_client_status(c, &st)) != 0) {
        r = kha_call_failed(c, "status", r);
        kh_client_free(c);
        return r;
    }
    kh_client_free(c);
    p = st.audit_spki;
    if (st.audit_spki_len == 0 ||
        (pk = d2i_PUBKEY(NULL, &p, (long)st.audit_spki_len)) == NULL) {
        fprintf(stderr, "khadmin: keyholderd has no audit key yet (init)\n");
        return KHA_FAIL;
    }
    r = PEM_write_PUBKEY(stdout, pk) == 1 ? KHA_OK : KHA_FAIL;
    EVP_PKEY_free(pk);
    return r;
}
