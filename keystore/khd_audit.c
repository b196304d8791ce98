#include "khd_audit.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "khd_keys.h"
#include "khd_log.h"
#include "khd_record.h"
#include "khd_state.h"
#include "khd_syslog.h"

#define KHD_AUDIT_HEAD "audit.head"
#define KHD_AUDIT_KEY "audit.key"
#define KHD_AUDIT_PUB "audit.pub"
#define KHD_AUDIT_ANCHOR "audit.anchor"
#define KHD_AUDIT_KEY_NAME "keyholder-audit"
#define KHD_AUDIT_HEAD_LEN (8 + KH_AUDIT_HASH_LEN + 8 + 1)
/*
 * Batched entries may run this far ahead of the durable reservation. The
 * writer keeps the reservation this far ahead of the queue while batched
 * entries flow, so a caller waits only when one batch window holds more
 * than this many (about 80,000 batched signatures a second).
 */
#define KHD_AUDIT_RESERVE_BLOCK 4096
#define KHD_AUDIT_BATCH_MAX 4096
/*
 * A queue holding only batched entries is committed this long after its
 * first entry (or at once when it reaches KHD_AUDIT_BATCH_HIGH entries, or
 * when an entry with a waiting caller joins it): one wake-up and one
 * fdatasync per window instead of one per request, well inside the 100 ms
 * promised to audit=batched keys.
 */
#define KHD_AUDIT_BATCH_WINDOW_MS 50
#define KHD_AUDIT_BATCH_HIGH 2048
#define KHD_AUDIT_DEFAULT_EVERY 1000
#define KHD_AUDIT_DEFAULT_SECS 60
#define KHD_AUDIT_READ_MAX 256
/* Readers whose export or follow session is remembered, and for how long. */
#define KHD_AUDIT_FOLLOW_SLOTS 16
#define KHD_AUDIT_FOLLOW_MS 60000
#define KHD_AUDIT_READ_BYTES (192u * 1024)
/*
 * Spent nodes kept for reuse (each ~5.5 KB: the entry has room for a
 * PATH_MAX executable): one malloc/free per request, made on one thread
 * and released on another, otherwise grows some allocators' caches.
 */
#define KHD_AUDIT_SPARE_MAX 256

struct khd_audit_node {
    struct khd_audit_node *next;
    int waited; /* the submitter waits for it and frees it */
    int done;   /* committed or failed */
    int status; /* 0 or KH_ERR_AUDIT */
    struct kh_audit_entry e;
};

struct khd_audit {
    struct khd_db *db;
    struct khd_audit_config cfg;
    /* |mu| guards the queue, the counters and |stop|. */
    pthread_mutex_t mu;
    pthread_cond_t work;    /* the writer has something to do */
    pthread_cond_t durable; /* a batch was committed (or failed) */
    struct khd_audit_node *q_head, *q_tail;
    size_t q_len;       /* nodes queued */
    size_t q_waiters;   /* of them, nodes whose caller waits */
    int64_t q_first_ms; /* when the first of them was queued */
    struct khd_audit_node *spare; /* reusable nodes, |n_spare| of them */
    unsigned n_spare;
    uint64_t next_seq;    /* the next seq handed out */
    uint64_t durable_seq; /* the last committed seq */
    uint64_t reserved;    /* durable: no seq above it was ever handed out
                             to a caller without waiting for its commit */
    uint64_t want_reserve;
    uint64_t since_cp;    /* entries since the last checkpoint */
    int64_t last_cp_ms;
    int stop, running;
    pthread_t tid;
    /* |write_mu| makes one drainer at a time; |prev| is the chain tip. */
    pthread_mutex_t write_mu;
    uint8_t prev[KH_AUDIT_HASH_LEN];
    /* |key_mu| guards the audit key. */
    pthread_mutex_t key_mu;
    struct khd_key *key;
    atomic_int key_loaded;
    /* The daemon's own ids, read at open: no getuid() under seccomp. */
    uint32_t self_uid, self_gid, self_pid;
    /* --syslog: the sender, and the entries it could not deliver since
     * the last one it could (guarded by write_mu, like every commit). */
    struct khd_syslog *sl;
    uint64_t sl_lost, sl_first_lost, sl_last_lost;
    /* Under |mu|: where each recent reader's last read ended. */
    struct {
        uint32_t uid, pid;
        char operator_name[KH_MAX_NAME_LEN + 1]; /* AUTHED reads */
        uint64_t next;
        int64_t at_ms; /* 0: free */
    } follow[KHD_AUDIT_FOLLOW_SLOTS];
};

/* Safe: a request runs start to finish on one thread (khd_audit.h). */
static _Thread_local struct khd_audit_req *khd_audit_cur;

static int64_t khd_audit_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t khd_audit_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*- Head record: u64 last || hash || u64 reserved || u8 clean ---------- */

struct khd_audit_headrec {
    uint64_t last;
    uint8_t hash[KH_AUDIT_HASH_LEN];
    uint64_t reserved;
    uint8_t clean;
};

static void khd_audit_head_put(const struct khd_audit_headrec *h,
                               uint8_t out[KHD_AUDIT_HEAD_LEN])
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(h->last >> (56 - 8 * i));
        out[8 + KH_AUDIT_HASH_LEN + i] = (uint8_t)(h->reserved >> (56 - 8 * i));
    }
    memcpy(out + 8, h->hash, KH_AUDIT_HASH_LEN);
    out[KHD_AUDIT_HEAD_LEN - 1] = h->clean;
}

static int khd_audit_head_get(struct khd_db *db, struct khd_audit_headrec *h)
{
    struct kh_buf b;
    int r;

    kh_buf_init_writer(&b, KHD_AUDIT_HEAD_LEN + 1);
    if ((r = khd_db_meta_get(db, KHD_AUDIT_HEAD, &b)) == 0) {
        if (kh_buf_get_u64(&b, &h->last) != 0 ||
            kh_buf_get_bytes(&b, h->hash, KH_AUDIT_HASH_LEN) != 0 ||
            kh_buf_get_u64(&b, &h->reserved) != 0 ||
            kh_buf_get_u8(&b, &h->clean) != 0 || kh_buf_expect_end(&b) != 0) {
            r = KH_ERR_TAMPERED;
        }
    } else if (r == KH_ERR_NO_SPACE) {
        r = KH_ERR_TAMPERED;
    }
    kh_buf_free(&b);
    return r;
}

/*- Committing --------------------------------------------------------- */

/* The stored hash of entry |seq| (the archive anchor needs it). */
struct khd_audit_find {
    uint64_t seq;
    int found;
    uint8_t hash[KH_AUDIT_HASH_LEN];
};

static int khd_audit_find_cb(uint64_t seq, const uint8_t *val, size_t len,
                             void *arg)
{
    struct khd_audit_find *f = arg;
    struct kh_audit_rec rec;

    if (seq == f->seq && kh_audit_rec_parse(val, len, &rec) == 0) {
        memcpy(f->hash, rec.hash, KH_AUDIT_HASH_LEN);
        f->found = 1;
    }
    return 1; /* one entry is enough */
}

/* Signs a checkpoint or anchor statement. Caller holds key_mu. */
static int khd_audit_sign(struct khd_audit *a, int kind, uint64_t seq,
                          const uint8_t *hash, uint64_t time_ns,
                          uint8_t *sig, size_t *siglen)
{
    struct khd_sign_params sp = {
        .input = KH_INPUT_MESSAGE,
        .digest = KH_DIGEST_SHA256,
        .padding = KH_PAD_NONE,
    };
    struct kh_buf st;
    int r;

    if (a->key == NULL) {
        return KH_ERR_SEALED;
    }
    kh_buf_init_writer(&st, 256);
    *siglen = KH_AUDIT_MAX_SIG;
    if ((r = kh_audit_statement(kind, seq, hash, time_ns, &st)) == 0) {
        r = khd_key_sign(a->key, &sp, kh_buf_data(&st), kh_buf_size(&st), sig,
                         siglen);
    }
    kh_buf_free(&st);
    return r;
}

/* Fills a checkpoint entry (seq assigned) over |tip|, seq - 1's hash. */
static void khd_audit_fill_checkpoint(struct khd_audit *a,
                                      struct kh_audit_entry *e,
                                      const uint8_t tip[KH_AUDIT_HASH_LEN])
{
    pthread_mutex_lock(&a->key_mu);
    e->subj_seq = e->seq - 1;
    memcpy(e->subj_hash, tip, KH_AUDIT_HASH_LEN);
    if (khd_audit_sign(a, KH_AUDIT_CHECKPOINT, e->subj_seq, e->subj_hash,
                       e->time_ns, e->sig, &e->sig_len) != 0) {
        /* Sealed meanwhile: an honest unsigned note instead. */
        e->kind = KH_AUDIT_EVENT;
        e->sig_len = 0;
        memset(e->subj_hash, 0, sizeof(e->subj_hash));
        e->subj_seq = 0;
        snprintf(e->reason, sizeof(e->reason),
                 "checkpoint skipped: audit key unavailable (sealed)");
    }
    pthread_mutex_unlock(&a->key_mu);
}

/*
 * Sends one committed entry to syslog as its JSON line (facility authpriv,
 * the entry's severity). An entry that cannot be sent stays in the log;
 * the daemon says once when delivery stops and, when it resumes, which
 * seqs a SIEM must fetch with `khadmin audit export`. Caller holds
 * write_mu.
 */
static void khd_audit_syslog(struct khd_audit *a,
                             const struct kh_audit_rec *rec,
                             const struct kh_audit_entry *e)
{
    struct kh_buf line;
    char why[128];
    int r;

    kh_buf_init_writer(&line, KH_AUDIT_MAX_LINE);
    if ((r = kh_audit_json_line(rec, e, &line)) == 0 &&
        (r = kh_buf_put_u8(&line, 0)) == 0) {
        r = khd_syslog_send(a->sl, LOG_AUTHPRIV | e->severity,
                            (const char *)kh_buf_data(&line), why,
                            sizeof(why));
    } else {
        snprintf(why, sizeof(why), "%s", kh_strerror(r));
    }
    kh_buf_free(&line);
    if (r == 0 && a->sl_lost > 0) {
        khd_warn("audit: syslog %s takes entries again from seq %" PRIu64
                 "; %" PRIu64 " entries (seq %" PRIu64 "..%" PRIu64 ") were "
                 "not delivered: khadmin audit export --since %" PRIu64,
                 khd_syslog_path(a->sl), e->seq, a->sl_lost,
                 a->sl_first_lost, a->sl_last_lost, a->sl_first_lost);
        a->sl_lost = 0;
    } else if (r != 0) {
        if (a->sl_lost++ == 0) {
            a->sl_first_lost = e->seq;
            khd_warn("audit: cannot send entry %" PRIu64 " to syslog %s: "
                     "%s; entries stay in the audit log, keyholderd keeps "
                     "trying", e->seq, khd_syslog_path(a->sl), why);
        }
        a->sl_last_lost = e->seq;
    }
}

/*
 * Chains and commits |n| entries (seqs consecutive, after the tip) with the
 * head. Caller holds write_mu. Returns 0 or KH_ERR_AUDIT.
 */
static int khd_audit_commit(struct khd_audit *a, struct kh_audit_entry **es,
                            size_t n, uint64_t reserved, uint8_t clean)
{
    struct khd_db_audit_put *puts = NULL;
    size_t *offs = NULL;
    struct kh_buf all, enc;
    uint8_t prev[KH_AUDIT_HASH_LEN], head[KHD_AUDIT_HEAD_LEN];
    struct khd_audit_headrec h = { .reserved = reserved, .clean = clean };
    int r = KH_ERR_ALLOC;

    kh_buf_init_writer(&all, KH_BUF_SIZE_MAX);
    kh_buf_init_writer(&enc, KH_AUDIT_MAX_ENC);
    if ((puts = calloc(n, sizeof(*puts))) == NULL ||
        (offs = calloc(n + 1, sizeof(*offs))) == NULL) {
        goto out;
    }
    memcpy(prev, a->prev, sizeof(prev));
    for (size_t i = 0; i < n; i++) {
        struct kh_audit_rec rec;

        if (es[i]->kind == KH_AUDIT_CHECKPOINT) {
            khd_audit_fill_checkpoint(a, es[i], prev);
        }
        kh_buf_reset(&enc);
        memcpy(rec.prev, prev, sizeof(prev));
        if ((r = kh_audit_entry_encode(&enc, es[i])) != 0 ||
            (r = kh_audit_hash(prev, kh_buf_data(&enc), kh_buf_size(&enc),
                               rec.hash)) != 0) {
            khd_err("audit: cannot encode entry %" PRIu64 ": %s", es[i]->seq,
                    kh_strerror(r));
            goto out;
        }
        rec.enc = kh_buf_data(&enc);
        rec.enc_len = kh_buf_size(&enc);
        offs[i] = kh_buf_size(&all);
        if ((r = kh_audit_rec_encode(&all, &rec)) != 0) {
            goto out;
        }
        memcpy(prev, rec.hash, sizeof(prev));
    }
    offs[n] = kh_buf_size(&all);
    for (size_t i = 0; i < n; i++) {
        puts[i].seq = es[i]->seq;
        puts[i].val = kh_buf_data(&all) + offs[i];
        puts[i].len = offs[i + 1] - offs[i];
    }
    h.last = es[n - 1]->seq;
    memcpy(h.hash, prev, sizeof(prev));
    khd_audit_head_put(&h, head);
    if ((r = khd_db_audit_append(a->db, puts, n, KHD_AUDIT_HEAD, head,
                                 sizeof(head))) != 0) {
        goto out;
    }
    memcpy(a->prev, prev, sizeof(prev));
    if (a->sl != NULL) {
        for (size_t i = 0; i < n; i++) {
            struct kh_audit_rec rec;

            if (kh_audit_rec_parse(puts[i].val, puts[i].len, &rec) == 0) {
                khd_audit_syslog(a, &rec, es[i]);
            }
        }
    }
    r = KH_OK;
out:
    if (r != 0) {
        khd_err("audit: %zu entries from seq %" PRIu64 " could not be "
                "stored: %s", n, es[0]->seq, kh_strerror(r));
        r = KH_ERR_AUDIT;
    }
    free(puts);
    free(offs);
    kh_buf_free(&enc);
    kh_buf_free(&all);
    return r;
}

/* Caller holds mu. Appends a node with the next seq. */
static void khd_audit_enqueue_locked(struct khd_audit *a,
                                     struct khd_audit_node *n)
{
    n->e.seq = a->next_seq++;
    n->next = NULL;
    if (a->q_tail != NULL) {
        a->q_tail->next = n;
    } else {
        a->q_head = n;
        a->q_first_ms = khd_audit_mono_ms();
    }
    a->q_tail = n;
    a->q_len++;
    a->q_waiters += n->waited != 0;
}

/*
 * Caller holds mu. Whether the writer should commit the queue now rather
 * than at the end of its batch window.
 */
static int khd_audit_urgent(const struct khd_audit *a)
{
    return a->stop || a->q_waiters > 0 || a->q_len >= KHD_AUDIT_BATCH_HIGH ||
           khd_audit_mono_ms() - a->q_first_ms >= KHD_AUDIT_BATCH_WINDOW_MS;
}

/* Caller holds mu. A node to fill: a spare one, or a new one (or NULL). */
static struct khd_audit_node *khd_audit_node_get(struct khd_audit *a)
{
    struct khd_audit_node *n = a->spare;

    if (n != NULL) {
        a->spare = n->next;
        a->n_spare--;
        return n;
    }
    return malloc(sizeof(*n));
}

/*
 * Caller holds mu. Keeps |n| for reuse, or frees it. Not wiped: an entry
 * holds nothing secret (it is stored as it is), and reuse overwrites it.
 */
static void khd_audit_node_put(struct khd_audit *a, struct khd_audit_node *n)
{
    if (a->n_spare >= KHD_AUDIT_SPARE_MAX) {
        free(n);
        return;
    }
    n->next = a->spare;
    a->spare = n;
    a->n_spare++;
}

/* Caller holds mu. A checkpoint is due after |pending| more entries. */
static int khd_audit_cp_due(struct khd_audit *a, uint64_t pending)
{
    uint64_t total = a->since_cp + pending;

    if (!atomic_load(&a->key_loaded) || total == 0) {
        return 0;
    }
    return total >= a->cfg.checkpoint_every ||
           khd_audit_mono_ms() - a->last_cp_ms >=
               (int64_t)a->cfg.checkpoint_secs * 1000;
}

/*
 * Takes what is queued (plus a checkpoint when due) and commits it as one
 * batch. Caller holds write_mu. Returns the number of entries handled.
 */
static size_t khd_audit_drain(struct khd_audit *a)
{
    struct kh_audit_entry **es = NULL;
    struct khd_audit_node *batch, *n, *next, *cp = NULL;
    uint64_t reserved;
    size_t count = 0, batched = 0, i = 0;
    int r;

    pthread_mutex_lock(&a->mu);
    batch = a->q_head;
    for (n = batch; n != NULL && count < KHD_AUDIT_BATCH_MAX - 1;
         n = n->next) {
        count++;
        batched += !n->waited;
    }
    if (n != NULL) { /* split: the rest waits for the next round */
        struct khd_audit_node *last = batch;

        while (last->next != n) {
            last = last->next;
        }
        last->next = NULL;
        a->q_head = n;
        a->q_len -= count;
        a->q_waiters = 0;
        for (; n != NULL; n = n->next) {
            a->q_waiters += n->waited != 0;
        }
    } else {
        a->q_head = a->q_tail = NULL;
        a->q_len = a->q_waiters = 0;
    }
    /* Only after a whole queue: the checkpoint's seq follows the batch. */
    if (a->q_head == NULL && khd_audit_cp_due(a, count) &&
        (cp = calloc(1, sizeof(*cp))) != NULL) {
        cp->e.kind = KH_AUDIT_CHECKPOINT;
        cp->e.category = KH_AUDIT_CAT_AUDIT;
        cp->e.severity = KH_AUDIT_SEV_INFO;
        cp->e.time_ns = khd_audit_now_ns();
        snprintf(cp->e.op, sizeof(cp->e.op), "checkpoint");
        cp->e.seq = a->next_seq++;
        count++;
    }
    reserved = a->reserved;
    if (a->want_reserve > reserved) {
        reserved = a->want_reserve + KHD_AUDIT_RESERVE_BLOCK;
    }
    /* Batched traffic: keep the reservation a block ahead of the queue. */
    if (batched > 0 &&
        a->next_seq + KHD_AUDIT_RESERVE_BLOCK / 2 > reserved) {
        reserved = a->next_seq + KHD_AUDIT_RESERVE_BLOCK;
    }
    pthread_mutex_unlock(&a->mu);
    if (count == 0) {
        return 0;
    }
    if ((es = calloc(count, sizeof(*es))) == NULL) {
        r = KH_ERR_AUDIT;
    } else {
        for (n = batch; n != NULL; n = n->next) {
            es[i++] = &n->e;
        }
        if (cp != NULL) {
            es[i++] = &cp->e;
        }
        r = khd_audit_commit(a, es, count, reserved, 0);
    }
    pthread_mutex_lock(&a->mu);
    if (r == 0) {
        a->durable_seq = cp != NULL ? cp->e.seq : es[count - 1]->seq;
        a->reserved = reserved;
        a->since_cp += count;
        if (cp != NULL && cp->e.kind == KH_AUDIT_CHECKPOINT) {
            a->since_cp = 0;
            a->last_cp_ms = khd_audit_mono_ms();
        }
    }
    for (n = batch; n != NULL; n = next) {
        next = n->next;
        n->status = r;
        n->done = 1;
        if (!n->waited) {
            khd_audit_node_put(a, n);
        }
    }
    pthread_cond_broadcast(&a->durable);
    pthread_mutex_unlock(&a->mu);
    free(cp);
    free(es);
    return count;
}

static void *khd_audit_writer(void *arg)
{
    struct khd_audit *a = arg;

    pthread_mutex_lock(&a->mu);
    while (!a->stop || a->q_head != NULL) {
        int64_t wait_ms = -1;

        if (a->q_head == NULL && !khd_audit_cp_due(a, 0)) {
            wait_ms = 1000; /* then look at the checkpoint timer again */
        } else if (a->q_head != NULL && !khd_audit_urgent(a)) {
            wait_ms = a->q_first_ms + KHD_AUDIT_BATCH_WINDOW_MS -
                      khd_audit_mono_ms();
        }
        if (wait_ms > 0) {
            struct timespec ts;

            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += wait_ms / 1000;
            ts.tv_nsec += (wait_ms % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&a->work, &a->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&a->mu);
        pthread_mutex_lock(&a->write_mu);
        (void)khd_audit_drain(a);
        pthread_mutex_unlock(&a->write_mu);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/*- Open and close ----------------------------------------------------- */

static void khd_audit_system_entry(const struct khd_audit *a,
                                   struct kh_audit_entry *e, uint8_t kind,
                                   const char *op)
{
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->category = KH_AUDIT_CAT_AUDIT;
    e->severity = kind == KH_AUDIT_GAP ? KH_AUDIT_SEV_WARNING
                                       : KH_AUDIT_SEV_NOTICE;
    e->time_ns = khd_audit_now_ns();
    e->uid = a->self_uid;
    e->gid = a->self_gid;
    e->pid = a->self_pid;
    snprintf(e->op, sizeof(e->op), "%s", op);
}

/*
 * Finds where the chain continues: after the durable head (even if the
 * stored log ends earlier: a truncated tail stays a visible gap), and
 * writes the start entry (or a gap marker) durably.
 */
static int khd_audit_recover(struct khd_audit *a)
{
    struct khd_audit_headrec h = { 0 };
    struct kh_audit_entry *e;
    uint64_t last = 0;
    int r, have_head;

    if ((e = calloc(1, sizeof(*e))) == NULL) {
        return KH_ERR_ALLOC;
    }
    r = khd_audit_head_get(a->db, &h);
    have_head = r == 0;
    if (r != 0 && r != KH_ERR_NOT_FOUND) {
        khd_err("audit: the chain head record is damaged; continuing from "
                "the stored log");
    }
    if ((r = khd_db_audit_bound(a->db, 1, &last)) != 0 &&
        r != KH_ERR_NOT_FOUND) {
        goto out;
    }
    if (!have_head && last != 0) {
        struct khd_audit_find f = { .seq = last };
        int more;

        khd_err("audit: no chain head but entries up to %" PRIu64
                "; continuing after them", last);
        if ((r = khd_db_audit_read(a->db, last, 1, KH_AUDIT_MAX_REC + 1,
                                   khd_audit_find_cb, &f, &more)) < 0) {
            goto out;
        }
        h.last = last;
        memcpy(h.hash, f.hash, sizeof(h.hash));
        h.reserved = last;
        h.clean = 1;
    } else if (have_head && last != h.last) {
        khd_err("audit: the stored log ends at seq %" PRIu64 " but the head "
                "says %" PRIu64 ": entries are missing", last, h.last);
    }
    memcpy(a->prev, h.hash, sizeof(a->prev));
    a->next_seq = h.last + 1;
    a->durable_seq = h.last;
    a->reserved = h.last;
    if (!have_head && last == 0) {
        khd_audit_system_entry(a, e, KH_AUDIT_START, "start");
        snprintf(e->reason, sizeof(e->reason), "audit trail created");
    } else if (!h.clean && h.reserved > h.last) {
        khd_audit_system_entry(a, e, KH_AUDIT_GAP, "gap");
        e->aux = h.reserved - h.last;
        snprintf(e->reason, sizeof(e->reason),
                 "unclean stop: up to %" PRIu64 " batched entries after seq "
                 "%" PRIu64 " may be missing", e->aux, h.last);
        khd_warn("audit: %s", e->reason);
    } else {
        khd_audit_system_entry(a, e, KH_AUDIT_START, "start");
        snprintf(e->reason, sizeof(e->reason), "%s",
                 h.clean ? "started after a clean stop"
                         : "started after an unclean stop; no batched "
                           "entry was pending");
    }
    e->seq = a->next_seq++;
    if ((r = khd_audit_commit(a, &e, 1, a->next_seq - 1, 0)) == 0) {
        a->durable_seq = e->seq;
        a->reserved = e->seq;
        a->since_cp = 1;
    }
out:
    free(e);
    return r;
}

/* --syslog: the sender; a receiver not there yet is only a warning. */
static int khd_audit_syslog_open(struct khd_audit *a)
{
    const char *path = a->cfg.syslog_socket != NULL
                           ? a->cfg.syslog_socket
                           : KHD_SYSLOG_DEFAULT_PATH;
    int r;

    if ((r = khd_syslog_new(path, (pid_t)a->self_pid, &a->sl)) != 0) {
        khd_err("audit: syslog socket %s: %s", path, kh_strerror(r));
        return r;
    }
    if (khd_syslog_connected(a->sl)) {
        khd_info("audit: each committed entry goes to syslog %s (authpriv)",
                 path);
    } else {
        khd_warn("audit: syslog %s is not reachable now; each committed "
                 "entry will be sent to it once it is (authpriv)", path);
    }
    return KH_OK;
}

int khd_audit_open(struct khd_db *db, const struct khd_audit_config *cfg,
                   struct khd_audit **out)
{
    struct khd_audit *a;
    pthread_condattr_t ca;
    int r;

    *out = NULL;
    if ((a = calloc(1, sizeof(*a))) == NULL) {
        return KH_ERR_ALLOC;
    }
    a->db = db;
    a->self_uid = (uint32_t)geteuid();
    a->self_gid = (uint32_t)getegid();
    a->self_pid = (uint32_t)getpid();
    if (cfg != NULL) {
        a->cfg = *cfg;
    }
    if (a->cfg.checkpoint_every == 0) {
        a->cfg.checkpoint_every = KHD_AUDIT_DEFAULT_EVERY;
    }
    if (a->cfg.checkpoint_secs == 0) {
        a->cfg.checkpoint_secs = KHD_AUDIT_DEFAULT_SECS;
    }
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->write_mu, NULL);
    pthread_mutex_init(&a->key_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->work, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&a->durable, NULL);
    a->last_cp_ms = khd_audit_mono_ms();
    if (a->cfg.syslog && (r = khd_audit_syslog_open(a)) != 0) {
        khd_audit_close(a);
        return r;
    }
    if ((r = khd_audit_recover(a)) != 0) {
        khd_err("audit: cannot open the audit trail: %s", kh_strerror(r));
        khd_audit_close(a);
        return r;
    }
    *out = a;
    return KH_OK;
}

int khd_audit_start(struct khd_audit *a)
{
    if (a == NULL || a->running) {
        return KH_OK;
    }
    if (pthread_create(&a->tid, NULL, khd_audit_writer, a) != 0) {
        khd_err("audit: cannot start the writer thread");
        return KH_ERR_INTERNAL;
    }
    a->running = 1;
    return KH_OK;
}

void khd_audit_close(struct khd_audit *a)
{
    struct kh_audit_entry *e;

    if (a == NULL) {
        return;
    }
    if (a->running) {
        pthread_mutex_lock(&a->mu);
        a->stop = 1;
        pthread_cond_signal(&a->work);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->tid, NULL);
        a->running = 0;
    }
    pthread_mutex_lock(&a->write_mu);
    while (khd_audit_drain(a) > 0) {
    }
    /* The stop entry and the clean flag, in one transaction. */
    if (a->next_seq > 0 && (e = calloc(1, sizeof(*e))) != NULL) {
        khd_audit_system_entry(a, e, KH_AUDIT_EVENT, "stop");
        snprintf(e->reason, sizeof(e->reason), "clean stop");
        e->seq = a->next_seq++;
        (void)khd_audit_commit(a, &e, 1, e->seq, 1);
        free(e);
    }
    if (a->sl_lost > 0) {
        khd_warn("audit: %" PRIu64 " entries (seq %" PRIu64 "..%" PRIu64
                 ") were not delivered to syslog %s: khadmin audit export "
                 "--since %" PRIu64, a->sl_lost, a->sl_first_lost,
                 a->sl_last_lost, khd_syslog_path(a->sl), a->sl_first_lost);
    }
    pthread_mutex_unlock(&a->write_mu);
    khd_syslog_free(a->sl);
    khd_audit_key_unload(a);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->write_mu);
    pthread_mutex_destroy(&a->key_mu);
    pthread_cond_destroy(&a->work);
    pthread_cond_destroy(&a->durable);
    while (a->spare != NULL) {
        struct khd_audit_node *n = a->spare;

        a->spare = n->next;
        free(n);
    }
    free(a);
}

/*- Request scope ------------------------------------------------------ */

/*
 * Copies the string |src| into |dst| of |cap| bytes, cut to fit: what
 * snprintf(dst, cap, "%s", src) does, without printf's cost on every
 * request.
 */
static void khd_audit_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void khd_audit_caller(struct kh_audit_entry *e,
                             const struct khd_peer *p)
{
    e->uid = (uint32_t)p->uid;
    e->gid = (uint32_t)p->gid;
    e->pid = (uint32_t)p->pid;
    khd_audit_copy(e->exe, sizeof(e->exe), p->exe);
    khd_audit_copy(e->operator_name, sizeof(e->operator_name),
                   p->operator_name);
}

void khd_audit_begin(struct khd_audit_req *q, const struct khd_peer *p,
                     const char *op, uint8_t category)
{
    memset(q, 0, sizeof(*q));
    q->mode = KH_AUDIT_SYNC;
    q->e.kind = KH_AUDIT_EVENT;
    q->e.category = category;
    q->e.time_ns = khd_audit_now_ns();
    khd_audit_caller(&q->e, p);
    khd_audit_copy(q->e.op, sizeof(q->e.op), op);
    khd_audit_cur = q;
}

/* Reasons are printable ASCII in the trail (kh_audit_text_ok). */
static void khd_audit_clean_text(char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) {
            *s = '?';
        }
    }
}

static void khd_audit_classify(struct khd_audit_req *q, int result)
{
    struct kh_audit_entry *e = &q->e;

    switch (result) {
    case KH_OK:
        e->severity = e->category == KH_AUDIT_CAT_SIGN ||
                              e->category == KH_AUDIT_CAT_READ
                          ? KH_AUDIT_SEV_INFO
                          : KH_AUDIT_SEV_NOTICE;
        break;
    case KH_ERR_DENIED:
        e->severity = KH_AUDIT_SEV_WARNING;
        if (!q->category_set || e->category != KH_AUDIT_CAT_AUTH) {
            e->category = KH_AUDIT_CAT_POLICY;
        }
        break;
    case KH_ERR_AUTH_FAILED:
        e->severity = KH_AUDIT_SEV_WARNING;
        e->category = KH_AUDIT_CAT_AUTH;
        break;
    case KH_ERR_MESSAGE_INCOMPLETE:
    case KH_ERR_INVALID_FORMAT:
    case KH_ERR_TOO_LARGE:
    case KH_ERR_TRAILING_DATA:
    case KH_ERR_BAD_VERSION:
    case KH_ERR_UNKNOWN_TYPE:
    case KH_ERR_PROTOCOL:
        e->severity = KH_AUDIT_SEV_WARNING;
        e->category = KH_AUDIT_CAT_PROTOCOL;
        break;
    default:
        e->severity = KH_AUDIT_SEV_ERR;
        break;
    }
}

int khd_audit_end(struct khd_audit *a, struct khd_audit_req *q, int result,
                  const char *reason)
{
    struct khd_audit_node *n;
    int r, wait;

    if (khd_audit_cur == q) {
        khd_audit_cur = NULL;
    }
    if (a == NULL || (q->continuation && result == KH_OK)) {
        return KH_OK;
    }
    q->e.result = result > 0 ? KH_ERR_INTERNAL : result;
    khd_audit_copy(q->e.reason, sizeof(q->e.reason),
                   reason != NULL && reason[0] != '\0'
                       ? reason
                       : (result == 0 ? "" : kh_strerror(result)));
    khd_audit_clean_text(q->e.reason);
    khd_audit_clean_text(q->e.key);
    khd_audit_clean_text(q->e.alg);
    khd_audit_classify(q, q->e.result);
    pthread_mutex_lock(&a->mu);
    if ((n = khd_audit_node_get(a)) == NULL) {
        pthread_mutex_unlock(&a->mu);
        khd_err("audit: out of memory; request refused");
        return KH_ERR_AUDIT;
    }
    n->e = q->e;
    n->done = 0;
    n->status = 0;
    /*
     * A batched entry beyond the durable reservation waits this once.
     * Without a writer thread the submitter commits, so it always waits.
     * (The seq enqueue assigns is next_seq.)
     */
    wait = q->mode != KH_AUDIT_BATCHED || a->next_seq > a->reserved ||
           !a->running;
    if (wait && q->mode == KH_AUDIT_BATCHED &&
        a->next_seq > a->want_reserve) {
        a->want_reserve = a->next_seq;
    }
    n->waited = wait;
    khd_audit_enqueue_locked(a, n);
    /*
     * Wake the writer for a waiting caller, a full queue, or the first
     * entry of an empty queue (which starts its batch window); otherwise
     * it is already awake or timing the window.
     */
    if (wait || a->q_len == 1 || a->q_len == KHD_AUDIT_BATCH_HIGH) {
        pthread_cond_signal(&a->work);
    }
    if (!a->running) {
        /* No writer yet (tests, fuzzers, startup): commit here. */
        pthread_mutex_unlock(&a->mu);
        while (!n->done) {
            pthread_mutex_lock(&a->write_mu);
            (void)khd_audit_drain(a);
            pthread_mutex_unlock(&a->write_mu);
        }
        pthread_mutex_lock(&a->mu);
    }
    if (!wait) {
        pthread_mutex_unlock(&a->mu);
        return KH_OK;
    }
    while (!n->done) {
        pthread_cond_wait(&a->durable, &a->mu);
    }
    r = n->status;
    khd_audit_node_put(a, n);
    pthread_mutex_unlock(&a->mu);
    return r;
}

void khd_audit_event(struct khd_audit *a, const struct khd_peer *p,
                     const char *op, uint8_t category, int result,
                     const char *reason)
{
    struct khd_audit_req *q;

    if (a == NULL || (q = malloc(sizeof(*q))) == NULL) {
        return;
    }
    khd_audit_begin(q, p, op, category);
    /* Garbage hands out nothing: a flood must not cost a sync each. */
    q->mode = KH_AUDIT_BATCHED;
    if (khd_audit_end(a, q, result, reason) != 0) {
        khd_err("audit: the %s event of uid %u was not stored", op,
                (unsigned)p->uid);
    }
    free(q);
}

/*- Annotations -------------------------------------------------------- */

void khd_audit_note_key(const char *name, uint32_t version, uint8_t mode)
{
    struct khd_audit_req *q = khd_audit_cur;

    if (q == NULL) {
        return;
    }
    khd_audit_copy(q->e.key, sizeof(q->e.key), name);
    q->e.key_version = version;
    q->mode = mode == KH_AUDIT_BATCHED ? KH_AUDIT_BATCHED : KH_AUDIT_SYNC;
}

void khd_audit_note_data(const uint8_t *data, size_t len)
{
    struct khd_audit_req *q = khd_audit_cur;

    if (q == NULL) {
        return;
    }
    q->e.has_data = kh_audit_data_hash(data, len, q->e.data_sha256) == KH_OK;
}

void khd_audit_note_alg_text(const char *text)
{
    struct khd_audit_req *q = khd_audit_cur;

    if (q != NULL) {
        khd_audit_copy(q->e.alg, sizeof(q->e.alg), text);
    }
}

void khd_audit_note_alg(const char *fmt, ...)
{
    struct khd_audit_req *q = khd_audit_cur;
    va_list ap;

    if (q == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(q->e.alg, sizeof(q->e.alg), fmt, ap);
    va_end(ap);
}

void khd_audit_note_category(uint8_t category)
{
    struct khd_audit_req *q = khd_audit_cur;

    if (q == NULL || kh_audit_category_name(category) == NULL) {
        return;
    }
    q->e.category = category;
    q->category_set = 1;
}

void khd_audit_note_op(const char *op, uint8_t category)
{
    struct khd_audit_req *q = khd_audit_cur;

    if (q == NULL || kh_audit_category_name(category) == NULL) {
        return;
    }
    khd_audit_copy(q->e.op, sizeof(q->e.op), op);
    if (!q->category_set) {
        q->e.category = category;
    }
}

void khd_audit_note_operator(const char *name)
{
    struct khd_audit_req *q = khd_audit_cur;

    if (q != NULL) {
        khd_audit_copy(q->e.operator_name, sizeof(q->e.operator_name), name);
    }
}

/*- Audit key ---------------------------------------------------------- */

static int khd_audit_key_meta(const struct khd_key *k,
                              struct kh_key_info *meta)
{
    memset(meta, 0, sizeof(*meta));
    snprintf(meta->name, sizeof(meta->name), "%s", KHD_AUDIT_KEY_NAME);
    meta->version = 1;
    meta->type = KH_KEY_P256;
    meta->state = KH_KEY_ACTIVE;
    meta->created = (uint64_t)time(NULL);
    return khd_key_public_spki(k, meta->spki, sizeof(meta->spki),
                               &meta->spki_len);
}

/* Makes |key| (owned from now on) the audit key that signs checkpoints. */
static void khd_audit_key_install(struct khd_audit *a, struct khd_key *key)
{
    pthread_mutex_lock(&a->key_mu);
    khd_key_free(a->key);
    a->key = key;
    atomic_store(&a->key_loaded, 1);
    pthread_mutex_unlock(&a->key_mu);
}

int khd_audit_key_create(struct khd_audit *a, const struct khd_kek *kek)
{
    struct khd_key *key = NULL;
    struct kh_key_info meta;
    struct kh_buf rec, old;
    uint8_t *priv = NULL;
    size_t privlen = 0;
    int r;

    kh_buf_init_writer(&rec, KHD_RECORD_MAX_LEN);
    kh_buf_init_writer(&old, KHD_RECORD_MAX_LEN);
    if ((r = khd_db_meta_get(a->db, KHD_AUDIT_KEY, &old)) != KH_ERR_NOT_FOUND) {
        r = r == 0 ? KH_ERR_KEY_EXISTS : r;
        goto out;
    }
    if ((r = khd_key_generate(KH_KEY_P256, &key)) != 0 ||
        (r = khd_key_export_private(key, &priv, &privlen)) != 0 ||
        (r = khd_audit_key_meta(key, &meta)) != 0 ||
        (r = khd_record_seal(kek, &meta, priv, privlen, &rec)) != 0) {
        goto out;
    }
    /* Public key first: a crash in between leaves no key, not a lost one. */
    if ((r = khd_db_meta_put(a->db, KHD_AUDIT_PUB, meta.spki,
                             meta.spki_len)) != 0 ||
        (r = khd_db_meta_put(a->db, KHD_AUDIT_KEY, kh_buf_data(&rec),
                             kh_buf_size(&rec))) != 0) {
        goto out;
    }
    khd_audit_key_install(a, key);
    key = NULL;
    khd_info("audit: generated the audit key (ECDSA P-256)");
out:
    if (priv != NULL) {
        OPENSSL_secure_clear_free(priv, privlen);
    }
    khd_key_free(key);
    kh_buf_free(&rec);
    kh_buf_free(&old);
    return r;
}

int khd_audit_key_load(struct khd_audit *a, const struct khd_kek *kek)
{
    struct khd_key *key = NULL;
    struct kh_key_info meta;
    struct kh_buf rec, pub;
    uint8_t *priv = NULL;
    size_t privlen = 0;
    int r;

    kh_buf_init_writer(&rec, KHD_RECORD_MAX_LEN);
    kh_buf_init_writer(&pub, KH_MAX_SPKI_LEN);
    if ((r = khd_db_meta_get(a->db, KHD_AUDIT_KEY, &rec)) == KH_ERR_NOT_FOUND) {
        r = KH_OK; /* created by init; an older keystore has none */
        goto out;
    }
    if (r != 0 ||
        (r = khd_record_open(kek, kh_buf_data(&rec), kh_buf_size(&rec),
                             KHD_AUDIT_KEY_NAME, 1, &meta, &priv,
                             &privlen)) != 0 ||
        (r = khd_key_import_private(KH_KEY_P256, priv, privlen, &key)) != 0 ||
        (r = khd_db_meta_get(a->db, KHD_AUDIT_PUB, &pub)) != 0) {
        khd_err("audit: the audit key failed its integrity check; no "
                "checkpoints will be signed");
        r = KH_ERR_TAMPERED;
        goto out;
    }
    if (kh_buf_size(&pub) != meta.spki_len ||
        memcmp(kh_buf_data(&pub), meta.spki, meta.spki_len) != 0) {
        khd_err("audit: the stored audit public key does not match the "
                "audit key; no checkpoints will be signed");
        r = KH_ERR_TAMPERED;
        goto out;
    }
    khd_audit_key_install(a, key);
    key = NULL;
out:
    if (priv != NULL) {
        OPENSSL_secure_clear_free(priv, privlen);
    }
    khd_key_free(key);
    kh_buf_free(&rec);
    kh_buf_free(&pub);
    return r;
}

int khd_audit_key_rewrap(struct khd_db_write *w, const struct khd_kek *old,
                         const struct khd_kek *new_kek)
{
    struct kh_key_info meta;
    struct kh_buf rec, out;
    uint8_t *priv = NULL;
    size_t privlen = 0;
    int r;

    kh_buf_init_writer(&rec, KHD_RECORD_MAX_LEN);
    kh_buf_init_writer(&out, KHD_RECORD_MAX_LEN);
    r = khd_db_write_get(w, KHD_TABLE_META, KHD_AUDIT_KEY,
                         strlen(KHD_AUDIT_KEY), &rec);
    if (r == KH_ERR_NOT_FOUND) {
        r = KH_OK;
        goto out;
    }
    if (r != 0) {
        goto out;
    }
    if (khd_record_open(old, kh_buf_data(&rec), kh_buf_size(&rec),
                        KHD_AUDIT_KEY_NAME, 1, &meta, &priv, &privlen) != 0) {
        khd_err("rotate-master: the audit key fails its integrity check; "
                "left as it is (checkpoints stay unsigned)");
        r = KH_OK;
        goto out;
    }
    if ((r = khd_record_seal(new_kek, &meta, priv, privlen, &out)) == 0) {
        r = khd_db_write_put(w, KHD_TABLE_META, KHD_AUDIT_KEY,
                             strlen(KHD_AUDIT_KEY), kh_buf_data(&out),
                             kh_buf_size(&out));
    }
out:
    if (priv != NULL) {
        OPENSSL_secure_clear_free(priv, privlen);
    }
    kh_buf_free(&rec);
    kh_buf_free(&out);
    return r;
}

void khd_audit_key_unload(struct khd_audit *a)
{
    if (a == NULL) {
        return;
    }
    pthread_mutex_lock(&a->key_mu);
    khd_key_free(a->key);
    a->key = NULL;
    atomic_store(&a->key_loaded, 0);
    pthread_mutex_unlock(&a->key_mu);
}

int khd_audit_pubkey(struct khd_audit *a, uint8_t *out, size_t cap,
                     size_t *len)
{
    struct kh_buf pub;
    int r;

    *len = 0;
    if (a == NULL) {
        return KH_ERR_NOT_FOUND;
    }
    kh_buf_init_writer(&pub, cap);
    if ((r = khd_db_meta_get(a->db, KHD_AUDIT_PUB, &pub)) == 0) {
        memcpy(out, kh_buf_data(&pub), kh_buf_size(&pub));
        *len = kh_buf_size(&pub);
    }
    kh_buf_free(&pub);
    return r;
}

uint64_t khd_audit_head(struct khd_audit *a)
{
    uint64_t seq;

    if (a == NULL) {
        return 0;
    }
    pthread_mutex_lock(&a->mu);
    seq = a->durable_seq;
    pthread_mutex_unlock(&a->mu);
    return seq;
}

/*- Reading and archiving ---------------------------------------------- */

static int khd_audit_anchor_get(struct khd_audit *a,
                                struct kh_audit_anchor *an, int *present)
{
    struct kh_buf b;
    int r;

    *present = 0;
    kh_buf_init_writer(&b, 1024);
    r = khd_db_meta_get(a->db, KHD_AUDIT_ANCHOR, &b);
    if (r == 0) {
        if (kh_audit_anchor_decode(&b, an) != 0 ||
            kh_buf_expect_end(&b) != 0) {
            r = KH_ERR_TAMPERED;
        } else {
            *present = 1;
        }
    } else if (r == KH_ERR_NOT_FOUND) {
        r = KH_OK;
    }
    kh_buf_free(&b);
    return r;
}

struct khd_audit_page {
    struct kh_buf *out;
    uint32_t count;
    uint64_t last; /* the last seq put */
};

static int khd_audit_page_cb(uint64_t seq, const uint8_t *val, size_t len,
                             void *arg)
{
    struct khd_audit_page *pg = arg;
    int r;

    if ((r = kh_buf_put_u64(pg->out, seq)) != 0 ||
        (r = kh_buf_put_str(pg->out, val, len)) != 0) {
        return r;
    }
    pg->count++;
    pg->last = seq;
    return KH_OK;
}

/*
 * Under mu: whether |p|'s read from |from| continues its previous one (same
 * uid, pid and operator), and remembers where this one ends (|next|).
 */
static int khd_audit_follow_step(struct khd_audit *a,
                                 const struct khd_peer *p, uint64_t from,
                                 uint64_t next)
{
    int64_t now = khd_audit_mono_ms();
    size_t slot = 0;
    int continued = 0;

    for (size_t i = 0; i < KHD_AUDIT_FOLLOW_SLOTS; i++) {
        if (a->follow[i].at_ms != 0 && a->follow[i].uid == (uint32_t)p->uid &&
            a->follow[i].pid == (uint32_t)p->pid &&
            strcmp(a->follow[i].operator_name, p->operator_name) == 0) {
            continued = a->follow[i].next == from &&
                        now - a->follow[i].at_ms <= KHD_AUDIT_FOLLOW_MS;
            slot = i;
            break;
        }
        if (a->follow[i].at_ms < a->follow[slot].at_ms) {
            slot = i; /* free (0) or least recent */
        }
    }
    a->follow[slot].uid = (uint32_t)p->uid;
    a->follow[slot].pid = (uint32_t)p->pid;
    khd_audit_copy(a->follow[slot].operator_name,
                   sizeof(a->follow[slot].operator_name), p->operator_name);
    a->follow[slot].next = next;
    a->follow[slot].at_ms = now;
    return continued;
}

/* The AUDIT_READ reply (kh_audit_page, then the entries). */
int khd_audit_read(struct khd_audit *a, const struct khd_peer *p,
                   uint64_t from, uint32_t max, struct kh_buf *reply)
{
    struct kh_audit_page hdr = { 0 };
    struct khd_audit_page pg = { 0 };
    struct kh_buf entries;
    uint8_t spki[KH_MAX_SPKI_LEN];
    int r, present, more = 0;

    if (max == 0 || max > KHD_AUDIT_READ_MAX) {
        max = KHD_AUDIT_READ_MAX;
    }
    kh_buf_init_writer(&entries, KHD_AUDIT_READ_BYTES + 64 * 1024);
    pg.out = &entries;
    if ((r = khd_audit_anchor_get(a, &hdr.anchor, &present)) != 0 ||
        ((r = khd_db_audit_bound(a->db, 0, &hdr.first)) != 0 &&
         r != KH_ERR_NOT_FOUND)) {
        goto out;
    }
    r = khd_audit_pubkey(a, spki, sizeof(spki), &hdr.spki_len);
    if (r != 0 && r != KH_ERR_NOT_FOUND) {
        goto out;
    }
    if ((r = khd_db_audit_read(a->db, from, max, KHD_AUDIT_READ_BYTES,
                               khd_audit_page_cb, &pg, &more)) != 0) {
        goto out;
    }
    hdr.head = khd_audit_head(a);
    hdr.has_anchor = (uint8_t)present;
    hdr.spki = spki;
    hdr.more = (uint8_t)more;
    hdr.count = pg.count;
    if ((r = kh_audit_page_encode(reply, &hdr)) != 0 ||
        (r = kh_buf_put_bytes(reply, kh_buf_data(&entries),
                              kh_buf_size(&entries))) != 0) {
        goto out;
    }
    pthread_mutex_lock(&a->mu);
    if (khd_audit_follow_step(a, p, from,
                              pg.count > 0 ? pg.last + 1 : from) &&
        khd_audit_cur != NULL) {
        khd_audit_cur->continuation = 1;
    }
    pthread_mutex_unlock(&a->mu);
out:
    kh_buf_free(&entries);
    return r;
}

int khd_audit_archive(struct khd_audit *a, uint64_t before,
                      uint64_t *dropped, char *why, size_t whylen)
{
    struct khd_audit_find f = { .seq = before - 1 };
    struct kh_audit_anchor an = { .seq = before };
    struct khd_audit_req *q = NULL;
    struct kh_buf ab;
    uint64_t first = 0;
    int r, more;

    *dropped = 0;
    kh_buf_init_writer(&ab, 1024);
    if (before < 2 || before > khd_audit_head(a)) {
        snprintf(why, whylen, "--before must be between 2 and the last "
                 "durable seq %" PRIu64, khd_audit_head(a));
        r = KH_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if ((r = khd_db_audit_bound(a->db, 0, &first)) != 0 || first >= before) {
        snprintf(why, whylen, "nothing stored before seq %" PRIu64, before);
        r = r != 0 ? r : KH_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if ((r = khd_db_audit_read(a->db, before - 1, 1, KH_AUDIT_MAX_REC + 1,
                               khd_audit_find_cb, &f, &more)) < 0) {
        goto out;
    }
    if (!f.found) {
        snprintf(why, whylen, "seq %" PRIu64 " is not stored", before - 1);
        r = KH_ERR_TAMPERED;
        goto out;
    }
    memcpy(an.hash, f.hash, sizeof(an.hash));
    an.time_ns = khd_audit_now_ns();
    pthread_mutex_lock(&a->key_mu);
    r = khd_audit_sign(a, KH_AUDIT_ANCHOR, an.seq, an.hash, an.time_ns,
                       an.sig, &an.sig_len);
    pthread_mutex_unlock(&a->key_mu);
    if (r != 0) {
        snprintf(why, whylen, "the audit key is not available (%s)",
                 kh_strerror(r));
        goto out;
    }
    if ((r = kh_audit_anchor_encode(&ab, &an)) != 0 ||
        (r = khd_db_audit_drop_before(a->db, before, KHD_AUDIT_ANCHOR,
                                      kh_buf_data(&ab), kh_buf_size(&ab),
                                      dropped)) != 0) {
        snprintf(why, whylen, "cannot archive: %s", kh_strerror(r));
        goto out;
    }
    /* The anchor also goes into the chain, for SIEMs that follow it. */
    if ((q = calloc(1, sizeof(*q))) != NULL) {
        struct khd_audit_req *outer = khd_audit_cur;
        struct khd_peer self = { .uid = a->self_uid, .gid = a->self_gid,
                                 .pid = (pid_t)a->self_pid };

        khd_audit_begin(q, &self, "archive-anchor", KH_AUDIT_CAT_AUDIT);
        khd_audit_cur = outer; /* notes keep going to the request */
        q->e.kind = KH_AUDIT_ANCHOR;
        q->e.time_ns = an.time_ns;
        q->e.subj_seq = an.seq;
        memcpy(q->e.subj_hash, an.hash, sizeof(an.hash));
        memcpy(q->e.sig, an.sig, an.sig_len);
        q->e.sig_len = an.sig_len;
        q->e.aux = *dropped;
        r = khd_audit_end(a, q, 0, "entries before subj_seq archived");
        free(q);
    }
    khd_info("audit: archived %" PRIu64 " entries before seq %" PRIu64,
             *dropped, before);
out:
    kh_buf_free(&ab);
    return r;
}
