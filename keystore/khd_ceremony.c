#include "khd_ceremony.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "kh_auth.h"
#include "kh_box.h"
#include "kh_ceremony.h"
#include "kh_seal.h"
#include "kh_shamir.h"
#include "khd_auth.h"
#include "khd_db.h"
#include "khd_log.h"
#include "khd_wrap.h"

#define KHD_META_CHECK "check"
#define KHD_META_MODE "mode"
#define KHD_META_CEREMONY "ceremony"
#define KHD_MODE_CEREMONY "ceremony"

/* One submitted share (secure heap). */
struct khd_slot {
    uint8_t x;
    uint8_t y[KHD_MASTER_KEY_LEN];
    char who[KH_MAX_NAME_LEN + 1];
};

struct khd_seal {
    pthread_mutex_t lock; /* guards everything below |exe_sha256| */
    EVP_PKEY *boot;       /* per-boot EC P-256 key shares are boxed to */
    uint8_t boot_spki[KH_MAX_OP_SPKI_LEN];
    size_t boot_spki_len;
    uint8_t exe_sha256[32];
    unsigned timeout;
    int purpose;     /* of the shares being collected; 0 = none */
    uint8_t id[KH_SEAL_ID_LEN];
    int64_t started; /* CLOCK_MONOTONIC seconds of the first share */
    unsigned have;
    struct khd_slot *slots; /* KH_SEAL_MAX_SHARES, secure heap */
    uint8_t *ready;         /* master rebuilt for a rekey/rotation */
    int ready_purpose;
    int64_t ready_at;
};

static int64_t khd_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

int khd_seal_new(const struct khd_config *cfg, struct khd_seal **out)
{
    struct khd_seal *s;
    unsigned char *der = NULL;
    int n;

    *out = NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        return KH_ERR_ALLOC;
    }
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return KH_ERR_INTERNAL;
    }
    memcpy(s->exe_sha256, cfg->exe_sha256, sizeof(s->exe_sha256));
    s->timeout = cfg->unseal_timeout != 0 ? cfg->unseal_timeout
                                          : KHD_UNSEAL_DEFAULT_TIMEOUT;
    /* After CRYPTO_secure_malloc_init: the private scalar is a secure BN. */
    if ((s->boot = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
        (n = i2d_PUBKEY(s->boot, &der)) <= 0 ||
        (size_t)n > sizeof(s->boot_spki)) {
        OPENSSL_free(der);
        khd_seal_free(s);
        return KH_ERR_CRYPTO;
    }
    memcpy(s->boot_spki, der, (size_t)n);
    s->boot_spki_len = (size_t)n;
    OPENSSL_free(der);
    *out = s;
    return KH_OK;
}

/* Caller holds s->lock. */
static void khd_seal_wipe_locked(struct khd_seal *s)
{
    if (s->slots != NULL) {
        OPENSSL_secure_clear_free(s->slots,
                                  KH_SEAL_MAX_SHARES * sizeof(*s->slots));
        s->slots = NULL;
    }
    s->have = 0;
    s->purpose = 0;
    s->started = 0;
    if (s->ready != NULL) {
        OPENSSL_secure_clear_free(s->ready, KHD_MASTER_KEY_LEN);
        s->ready = NULL;
    }
    s->ready_purpose = 0;
}

void khd_seal_free(struct khd_seal *s)
{
    if (s == NULL) {
        return;
    }
    khd_seal_wipe_locked(s);
    EVP_PKEY_free(s->boot);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void khd_seal_reset(struct khd_seal *s, const char *why)
{
    pthread_mutex_lock(&s->lock);
    if (s->have > 0 || s->ready != NULL) {
        khd_warn("%u submitted share(s) for %s%s wiped: %s", s->have,
                 kh_purpose_name(s->have > 0 ? s->purpose : s->ready_purpose),
                 s->ready != NULL ? " and the rebuilt master key" : "", why);
    }
    khd_seal_wipe_locked(s);
    pthread_mutex_unlock(&s->lock);
}

/* Caller holds s->lock. A partial collection older than the timeout goes. */
static void khd_seal_expire_locked(struct khd_seal *s)
{
    if (s->have > 0 && khd_now() - s->started > (int64_t)s->timeout) {
        khd_warn("partial %s expired after %u s: %u share(s) wiped",
                 kh_purpose_name(s->purpose), s->timeout, s->have);
        khd_seal_wipe_locked(s);
    }
    if (s->ready != NULL && khd_now() - s->ready_at > (int64_t)s->timeout) {
        khd_warn("master key rebuilt for %s expired after %u s: wiped",
                 kh_purpose_name(s->ready_purpose), s->timeout);
        khd_seal_wipe_locked(s);
    }
}

const uint8_t *khd_ctx_seal_sha256(struct khd_ctx *ctx)
{
    return khd_ctx_seal(ctx)->exe_sha256;
}

void khd_seal_tick(struct khd_seal *s)
{
    pthread_mutex_lock(&s->lock);
    khd_seal_expire_locked(s);
    pthread_mutex_unlock(&s->lock);
}

int khd_seal_take_ready(struct khd_seal *s, int purpose, uint8_t *master)
{
    int r = KH_ERR_NOT_FOUND;

    pthread_mutex_lock(&s->lock);
    khd_seal_expire_locked(s);
    if (s->ready != NULL && s->ready_purpose == purpose) {
        memcpy(master, s->ready, KHD_MASTER_KEY_LEN);
        OPENSSL_secure_clear_free(s->ready, KHD_MASTER_KEY_LEN);
        s->ready = NULL;
        s->ready_purpose = 0;
        r = KH_OK;
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* Keeps |master| (checked) for the rekey/rotation that asked for it. */
static int khd_seal_set_ready(struct khd_seal *s, int purpose,
                              const uint8_t *master)
{
    uint8_t *copy = OPENSSL_secure_malloc(KHD_MASTER_KEY_LEN);

    if (copy == NULL) {
        return KH_ERR_ALLOC;
    }
    memcpy(copy, master, KHD_MASTER_KEY_LEN);
    pthread_mutex_lock(&s->lock);
    if (s->ready != NULL) {
        OPENSSL_secure_clear_free(s->ready, KHD_MASTER_KEY_LEN);
    }
    s->ready = copy;
    s->ready_purpose = purpose;
    s->ready_at = khd_now();
    pthread_mutex_unlock(&s->lock);
    return KH_OK;
}

/* 0 if |master| matches the stored check value. */
static int khd_master_matches(struct khd_ctx *ctx, const uint8_t *master)
{
    uint8_t want[KHD_CHECK_VALUE_LEN], got[KHD_CHECK_VALUE_LEN];
    struct kh_buf v;
    int r;

    kh_buf_init_writer(&v, KHD_CHECK_VALUE_LEN);
    if ((r = khd_db_meta_get(khd_ctx_db(ctx), KHD_META_CHECK, &v)) == 0 &&
        (r = khd_master_check_value(master, got)) == 0) {
        r = kh_buf_size(&v) == sizeof(want) &&
                    kh_buf_get_bytes(&v, want, sizeof(want)) == 0 &&
                    CRYPTO_memcmp(want, got, sizeof(want)) == 0
                ? KH_OK
                : KH_ERR_TAMPERED;
    }
    OPENSSL_cleanse(got, sizeof(got));
    kh_buf_free(&v);
    return r;
}

/*- Stored ceremony facts ------------------------------------------------ */

/* KH_ERR_NOT_FOUND when the keystore has no ceremony (dev or new). */
int khd_facts_load(struct khd_ctx *ctx, struct kh_ceremony_facts *f)
{
    struct kh_buf v, rd;
    int r;

    kh_buf_init_writer(&v, 64 * 1024);
    if ((r = khd_db_meta_get(khd_ctx_db(ctx), KHD_META_CEREMONY, &v)) == 0) {
        kh_buf_init_reader(&rd, kh_buf_data(&v), kh_buf_size(&v));
        if (kh_facts_decode(&rd, f) != 0) {
            khd_err("stored ceremony facts are malformed");
            r = KH_ERR_TAMPERED;
        }
    }
    kh_buf_free(&v);
    return r;
}

/*- CEREMONY_INIT --------------------------------------------------------- */

/* Checks the participants; counts custodians into |*n|. */
int khd_init_check(const struct kh_ceremony_init_request *req,
                   int need_admin, unsigned *n, struct khd_error *e)
{
    unsigned admins = 0;
    int r;

    *n = 0;
    for (uint32_t i = 0; i < req->n_ops; i++) {
        const struct kh_operator *op = &req->ops[i];

        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(req->ops[j].name, op->name) == 0) {
                return khd_fail(e, KH_ERR_INVALID_ARGUMENT,
                                "operator '%s' is named twice; give one "
                                "person all their roles in one entry",
                                op->name);
            }
        }
        if ((r = khd_auth_check_spki(op->spki, op->spki_len, e)) != 0) {
            char why[sizeof(e->reason)];

            memcpy(why, e->reason, sizeof(why));
            return khd_fail(e, r, "operator '%s': %s", op->name, why);
        }
        *n += (op->roles & KH_ROLE_CUSTODIAN) != 0;
        admins += (op->roles & KH_ROLE_ADMIN) != 0;
    }
    if (*n == 0 || *n > KH_SEAL_MAX_SHARES) {
        return khd_fail(e, KH_ERR_INVALID_ARGUMENT,
                        "a ceremony needs 1 to 255 custodians, not %u", *n);
    }
    if (need_admin && admins == 0) {
        return khd_fail(e, KH_ERR_INVALID_ARGUMENT,
                        "a ceremony needs at least one admin");
    }
    if (req->threshold < 1 || req->threshold > *n) {
        return khd_fail(e, KH_ERR_INVALID_ARGUMENT,
                        "threshold %u is not between 1 and the %u "
                        "custodian(s)", req->threshold, *n);
    }
    return KH_OK;
}

/*
 * Boxes share |s| (of ceremony |f|) to custodian |op|, filling its fact
 * (fingerprint, commitment) and |box|.
 */
static int khd_box_share(const struct kh_operator *op,
                         const struct kh_shamir_share *s,
                         struct kh_ceremony_facts *f, uint8_t *box,
                         size_t *box_len)
{
    struct kh_share_fact *sf = &f->shares[s->x - 1];
    const unsigned char *p = op->spki;
    struct kh_buf aad, out;
    EVP_PKEY *pk = NULL;
    int r;

    kh_buf_init_writer(&aad, 256);
    kh_buf_init_writer(&out, KH_SEAL_MAX_BOX);
    sf->x = s->x;
    snprintf(sf->custodian, sizeof(sf->custodian), "%s", op->name);
    if ((r = kh_spki_fingerprint(op->spki, op->spki_len, sf->fpr)) != 0 ||
        (r = kh_share_commitment(f->id, s->x, sf->fpr, s->y,
                                 KHD_MASTER_KEY_LEN, sf->commitment)) != 0 ||
        (r = kh_share_aad(f->id, s->x, op->name, &aad)) != 0) {
        goto out;
    }
    if ((pk = d2i_PUBKEY(NULL, &p, (long)op->spki_len)) == NULL) {
        r = KH_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if ((r = kh_box_seal(pk, KH_SHARE_BOX_LABEL, kh_buf_data(&aad),
                         kh_buf_size(&aad), s->y, KHD_MASTER_KEY_LEN,
                         &out)) != 0) {
        goto out;
    }
    memcpy(box, kh_buf_data(&out), kh_buf_size(&out));
    *box_len = kh_buf_size(&out);
out:
    ERR_clear_error();
    EVP_PKEY_free(pk);
    kh_buf_free(&aad);
    kh_buf_free(&out);
    return r;
}

struct khd_init_store {
    struct khd_db *db;
    const struct kh_ceremony_init_request *req;
    const struct kh_ceremony_facts *facts;
    const uint8_t *check;
};

/* One LMDB transaction: operators, mode, facts, and the check value. */
static int khd_init_store_fn(void *arg)
{
    struct khd_init_store *st = arg;
    struct khd_db_write *w = NULL;
    struct kh_buf v;
    int r;

    kh_buf_init_writer(&v, 64 * 1024);
    if ((r = khd_db_write_begin(st->db, &w)) != 0) {
        goto out;
    }
    for (uint32_t i = 0; i < st->req->n_ops && r == 0; i++) {
        struct kh_operator op = st->req->ops[i];

        op.created = st->facts->created;
        kh_buf_reset(&v);
        if ((r = kh_operator_encode(&v, &op)) == 0) {
            r = khd_db_write_put(w, KHD_TABLE_OPERATORS, op.name,
                                 strlen(op.name), kh_buf_data(&v),
                                 kh_buf_size(&v));
        }
    }
    kh_buf_reset(&v);
    if (r != 0 || (r = kh_facts_encode(&v, st->facts)) != 0 ||
        (r = khd_db_write_put(w, KHD_TABLE_META, KHD_META_MODE,
                              strlen(KHD_META_MODE), KHD_MODE_CEREMONY,
                              strlen(KHD_MODE_CEREMONY))) != 0 ||
        (r = khd_db_write_put(w, KHD_TABLE_META, KHD_META_CEREMONY,
                              strlen(KHD_META_CEREMONY), kh_buf_data(&v),
                              kh_buf_size(&v))) != 0 ||
        (r = khd_db_write_put(w, KHD_TABLE_META, KHD_META_CHECK,
                              strlen(KHD_META_CHECK), st->check,
                              KHD_CHECK_VALUE_LEN)) != 0) {
        goto out;
    }
    r = khd_db_write_commit(w);
    w = NULL;
out:
    khd_db_write_abort(w);
    kh_buf_free(&v);
    return r;
}

int khd_share_set(const uint8_t *master,
                  const struct kh_ceremony_init_request *req, unsigned n,
                  struct kh_ceremony_init_reply *rep, struct khd_error *e)
{
    struct kh_shamir_share *shares;
    unsigned k = 0;
    int r;

    if ((shares = OPENSSL_secure_zalloc(n * sizeof(*shares))) == NULL) {
        return khd_fail(e, KH_ERR_ALLOC, "out of secure memory");
    }
    rep->facts.m = req->threshold;
    rep->facts.n = (uint8_t)n;
    rep->facts.created = (uint64_t)time(NULL);
    if (RAND_bytes(rep->facts.id, sizeof(rep->facts.id)) != 1 ||
        kh_shamir_split(master, KHD_MASTER_KEY_LEN, req->threshold, n,
                        shares) != 0) {
        r = khd_fail(e, KH_ERR_CRYPTO, "cannot split the master key");
        goto out;
    }
    for (uint32_t i = 0; i < req->n_ops; i++) {
        if ((req->ops[i].roles & KH_ROLE_CUSTODIAN) == 0) {
            continue;
        }
        if ((r = khd_box_share(&req->ops[i], &shares[k], &rep->facts,
                               rep->box[k], &rep->box_len[k])) != 0) {
            r = khd_fail(e, r, "cannot encrypt share %u to '%s': %s", k + 1,
                         req->ops[i].name, kh_strerror(r));
            goto out;
        }
        k++;
    }
    snprintf(rep->version, sizeof(rep->version), "%s", KH_VERSION);
    r = KH_OK;
out:
    OPENSSL_secure_clear_free(shares, n * sizeof(*shares));
    return r;
}

/*
 * Generates the master key and the share set for |req| into |rep|, and
 * stores everything. The master key and the shares never leave this
 * function unboxed.
 */
static int khd_init_run(struct khd_ctx *ctx,
                        const struct kh_ceremony_init_request *req,
                        unsigned n, struct kh_ceremony_init_reply *rep,
                        struct khd_error *e)
{
    uint8_t check[KHD_CHECK_VALUE_LEN];
    uint8_t *master = NULL;
    struct khd_init_store st = { khd_ctx_db(ctx), req, &rep->facts, check };
    int r;

    if ((master = OPENSSL_secure_malloc(KHD_MASTER_KEY_LEN)) == NULL) {
        r = khd_fail(e, KH_ERR_ALLOC, "out of secure memory");
        goto out;
    }
    if (RAND_priv_bytes(master, KHD_MASTER_KEY_LEN) != 1 ||
        (r = khd_master_check_value(master, check)) != 0) {
        r = khd_fail(e, KH_ERR_CRYPTO, "cannot generate the master key");
        goto out;
    }
    if ((r = khd_share_set(master, req, n, rep, e)) != 0) {
        goto out;
    }
    memcpy(rep->sha256, khd_ctx_seal(ctx)->exe_sha256, sizeof(rep->sha256));
    r = khd_ctx_init_master(ctx, master, khd_init_store_fn, &st, e);
out:
    if (master != NULL) {
        OPENSSL_secure_clear_free(master, KHD_MASTER_KEY_LEN);
    }
    OPENSSL_cleanse(check, sizeof(check));
    return r;
}

int khd_handle_ceremony_init(struct khd_ctx *ctx, const struct khd_peer *p,
                             struct kh_buf *body, struct kh_buf *reply,
                             struct khd_error *e)
{
    struct kh_ceremony_init_request *req = NULL;
    struct kh_ceremony_init_reply *rep = NULL;
    char id[2 * KH_SEAL_ID_LEN + 1];
    unsigned n;
    int r;

    if (!khd_peer_is_local_admin(ctx, p)) {
        khd_warn("uid %u pid %d: ceremony init refused (not root)",
                 (unsigned)p->uid, (int)p->pid);
        return khd_fail(e, KH_ERR_DENIED, "only root or keyholderd's user "
                        "may run the key ceremony");
    }
    if (!CRYPTO_secure_malloc_initialized()) {
        return khd_fail(e, KH_ERR_INSECURE_MEMORY,
                        "secure heap unavailable; refusing to create keys");
    }
    if ((req = calloc(1, sizeof(*req))) == NULL ||
        (rep = calloc(1, sizeof(*rep))) == NULL) {
        r = khd_fail(e, KH_ERR_ALLOC, "out of memory");
        goto out;
    }
    if ((r = kh_ceremony_init_decode(body, req)) != 0) {
        goto out;
    }
    if (khd_ctx_state(ctx) != KH_STATE_UNINITIALIZED) {
        r = khd_fail(e, KH_ERR_ALREADY_INITIALIZED,
                     "keyholder is already initialized");
        goto out;
    }
    if ((r = khd_init_check(req, 1, &n, e)) != 0 ||
        (r = khd_init_run(ctx, req, n, rep, e)) != 0 ||
        (r = kh_ceremony_reply_encode(reply, rep)) != 0) {
        goto out;
    }
    kh_hex(rep->facts.id, sizeof(rep->facts.id), id);
    khd_warn("key ceremony %s by uid %u pid %d: master key split %u-of-%u "
             "among the custodians; unsealed", id, (unsigned)p->uid,
             (int)p->pid, rep->facts.m, rep->facts.n);
out:
    free(req);
    if (rep != NULL) {
        OPENSSL_clear_free(rep, sizeof(*rep));
    }
    return r;
}

/*- CEREMONY_INFO, UNSEAL_INFO -------------------------------------------- */

struct khd_info_ops {
    struct kh_ceremony_info *info;
};

static int khd_info_op(void *arg, const uint8_t *val, size_t len)
{
    struct kh_ceremony_info *info = arg;
    struct kh_buf b;

    if (info->n_ops >= KH_MAX_OPERATORS) {
        return KH_ERR_TOO_LARGE;
    }
    kh_buf_init_reader(&b, val, len);
    if (kh_operator_decode(&b, &info->ops[info->n_ops]) == 0) {
        info->n_ops++;
    }
    return KH_OK;
}

int khd_handle_ceremony_info(struct khd_ctx *ctx, const struct khd_peer *p,
                             struct kh_buf *body, struct kh_buf *reply,
                             struct khd_error *e)
{
    struct kh_ceremony_info *info;
    int r;

    (void)p;
    if ((r = kh_buf_expect_end(body)) != 0) {
        return r;
    }
    if ((info = calloc(1, sizeof(*info))) == NULL) {
        return khd_fail(e, KH_ERR_ALLOC, "out of memory");
    }
    r = khd_facts_load(ctx, &info->facts);
    if (r == KH_ERR_NOT_FOUND) {
        r = khd_fail(e, KH_ERR_NOT_FOUND, "this keyholder has no key "
                     "ceremony (%s)", khd_ctx_is_dev(ctx)
                                          ? "a dev keyholder"
                                          : "not initialized");
    } else if (r != 0) {
        r = khd_fail(e, r, "cannot read the ceremony: %s", kh_strerror(r));
    } else if ((r = khd_db_op_foreach(khd_ctx_db(ctx), khd_info_op, info)) !=
               0) {
        r = khd_fail(e, r, "cannot read the operators: %s", kh_strerror(r));
    } else {
        snprintf(info->version, sizeof(info->version), "%s", KH_VERSION);
        memcpy(info->sha256, khd_ctx_seal(ctx)->exe_sha256,
               sizeof(info->sha256));
        r = kh_ceremony_info_encode(reply, info);
    }
    free(info);
    return r;
}

int khd_handle_unseal_info(struct khd_ctx *ctx, const struct khd_peer *p,
                           struct kh_buf *body, struct kh_buf *reply,
                           struct khd_error *e)
{
    struct khd_seal *s = khd_ctx_seal(ctx);
    struct kh_ceremony_facts *f = NULL;
    struct kh_unseal_info *info = NULL;
    int r;

    (void)p;
    if ((r = kh_buf_expect_end(body)) != 0) {
        return r;
    }
    if ((info = calloc(1, sizeof(*info))) == NULL ||
        (f = calloc(1, sizeof(*f))) == NULL) {
        r = khd_fail(e, KH_ERR_ALLOC, "out of memory");
        goto out;
    }
    info->state = (uint8_t)khd_ctx_state(ctx);
    memcpy(info->spki, s->boot_spki, s->boot_spki_len);
    info->spki_len = s->boot_spki_len;
    if (khd_facts_load(ctx, f) == 0) {
        info->has_ceremony = 1;
        memcpy(info->id, f->id, sizeof(info->id));
        info->m = f->m;
    }
    pthread_mutex_lock(&s->lock);
    khd_seal_expire_locked(s);
    info->purpose = (uint8_t)s->purpose;
    info->have = (uint8_t)s->have;
    info->rekey_ready = (uint8_t)s->ready_purpose;
    for (unsigned i = 0; i < s->have; i++) {
        snprintf(info->who[i], sizeof(info->who[i]), "%s", s->slots[i].who);
    }
    if (s->have > 0) {
        int64_t left = (int64_t)s->timeout - (khd_now() - s->started);

        info->seconds_left = left > 0 ? (uint32_t)left : 0;
    }
    pthread_mutex_unlock(&s->lock);
    info->pending = (uint8_t)khd_rekey_pending(ctx);
    r = kh_unseal_info_encode(reply, info);
out:
    free(info);
    free(f);
    return r;
}

/*- UNSEAL_SHARE, UNSEAL_RESET ------------------------------------------- */

/*
 * Checks share |req| from operator |p| against ceremony |f| and opens it
 * into |y| (KHD_MASTER_KEY_LEN bytes, the caller's secure buffer).
 */
static int khd_share_open(struct khd_seal *s, const struct khd_peer *p,
                          const struct kh_ceremony_facts *f,
                          const struct kh_unseal_share *req, uint8_t *y,
                          struct khd_error *e)
{
    char want[2 * KH_SEAL_ID_LEN + 1], got[2 * KH_SEAL_ID_LEN + 1];
    uint8_t commit[KH_SEAL_COMMIT_LEN];
    const struct kh_share_fact *sf;
    struct kh_buf aad;
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    int r;

    if (memcmp(req->id, f->id, sizeof(f->id)) != 0) {
        kh_hex(f->id, sizeof(f->id), want);
        kh_hex(req->id, sizeof(req->id), got);
        return khd_fail(e, KH_ERR_BAD_SHARE, "share of ceremony %s; this "
                        "keyholder's ceremony is %s", got, want);
    }
    if (req->x > f->n) {
        return khd_fail(e, KH_ERR_BAD_SHARE, "ceremony has no share %u",
                        req->x);
    }
    sf = &f->shares[req->x - 1];
    if (strcmp(sf->custodian, p->operator_name) != 0) {
        return khd_fail(e, KH_ERR_BAD_SHARE, "share %u belongs to custodian "
                        "'%s', not '%s'", req->x, sf->custodian,
                        p->operator_name);
    }
    kh_buf_init_writer(&aad, 256);
    if ((r = kh_unseal_aad(&aad, req->id, req->x, p->operator_name,
                           p->auth_nonce)) == 0) {
        r = kh_box_open(s->boot, KH_UNSEAL_LABEL, kh_buf_data(&aad),
                        kh_buf_size(&aad), req->box, req->box_len, &pt,
                        &ptlen);
    }
    kh_buf_free(&aad);
    ERR_clear_error();
    if (r != 0 || ptlen != KHD_MASTER_KEY_LEN) {
        r = khd_fail(e, KH_ERR_BAD_SHARE, "share %u does not open with this "
                     "boot's key (boxed for another boot or request, or "
                     "altered)", req->x);
        goto out;
    }
    if ((r = kh_share_commitment(f->id, req->x, sf->fpr, pt, ptlen,
                                 commit)) != 0 ||
        CRYPTO_memcmp(commit, sf->commitment, sizeof(commit)) != 0) {
        r = khd_fail(e, KH_ERR_BAD_SHARE, "share %u does not match its "
                     "commitment (a wrong or damaged share)", req->x);
        goto out;
    }
    memcpy(y, pt, KHD_MASTER_KEY_LEN);
    r = KH_OK;
out:
    if (pt != NULL) {
        OPENSSL_secure_clear_free(pt, ptlen);
    }
    return r;
}

/*
 * Adds share (x, y) from |who| to the collection; at the threshold |m|
 * rebuilds the master key into |master| and sets |*done|. Caller holds
 * s->lock.
 */
static int khd_collect_locked(struct khd_seal *s, int purpose,
                              const uint8_t id[KH_SEAL_ID_LEN], uint8_t x,
                              const uint8_t *y, const char *who, unsigned m,
                              uint8_t *master, struct kh_unseal_progress *pr,
                              struct khd_error *e)
{
    struct kh_shamir_share *sh;
    int r;

    khd_seal_expire_locked(s);
    if (s->have > 0 &&
        (s->purpose != purpose || memcmp(s->id, id, KH_SEAL_ID_LEN) != 0)) {
        return khd_fail(e, KH_ERR_BUSY, "shares for %s are being collected; "
                        "khadmin unseal --reset first",
                        kh_purpose_name(s->purpose));
    }
    for (unsigned i = 0; i < s->have; i++) {
        if (s->slots[i].x == x) {
            return khd_fail(e, KH_ERR_BAD_SHARE, "share %u was already "
                            "submitted (by '%s')", x, s->slots[i].who);
        }
    }
    if (s->slots == NULL &&
        (s->slots = OPENSSL_secure_zalloc(KH_SEAL_MAX_SHARES *
                                          sizeof(*s->slots))) == NULL) {
        return khd_fail(e, KH_ERR_ALLOC, "out of secure memory");
    }
    if (s->have == 0) {
        s->purpose = purpose;
        memcpy(s->id, id, KH_SEAL_ID_LEN);
        s->started = khd_now();
    }
    s->slots[s->have].x = x;
    memcpy(s->slots[s->have].y, y, KHD_MASTER_KEY_LEN);
    snprintf(s->slots[s->have].who, sizeof(s->slots[s->have].who), "%s",
             who);
    s->have++;
    pr->have = (uint8_t)s->have;
    pr->m = (uint8_t)m;
    pr->done = s->have >= m;
    if (!pr->done) {
        return KH_OK;
    }
    if ((sh = OPENSSL_secure_zalloc(m * sizeof(*sh))) == NULL) {
        return khd_fail(e, KH_ERR_ALLOC, "out of secure memory");
    }
    for (unsigned i = 0; i < m; i++) {
        sh[i].x = s->slots[i].x;
        memcpy(sh[i].y, s->slots[i].y, KHD_MASTER_KEY_LEN);
    }
    r = kh_shamir_combine(sh, m, KHD_MASTER_KEY_LEN, master);
    OPENSSL_secure_clear_free(sh, m * sizeof(*sh));
    khd_seal_wipe_locked(s); /* every submitted share, used or not */
    if (r != 0) {
        return khd_fail(e, KH_ERR_CRYPTO, "cannot combine the shares");
    }
    return KH_OK;
}

int khd_handle_unseal_share(struct khd_ctx *ctx, const struct khd_peer *p,
                            struct kh_buf *body, struct kh_buf *reply,
                            struct khd_error *e)
{
    struct khd_seal *s = khd_ctx_seal(ctx);
    struct kh_unseal_progress pr = { 0 };
    struct kh_ceremony_facts *f = NULL;
    struct kh_unseal_share req;
    uint8_t *y = NULL, *master = NULL;
    char who[KH_MAX_NAME_LEN + 64];
    int r;

    if ((r = kh_unseal_share_decode(body, &req)) != 0) {
        return r;
    }
    if ((r = khd_require_role(ctx, p, KH_ROLE_CUSTODIAN, "submit a share",
                              e)) != 0) {
        return r;
    }
    if (p->operator_name[0] == '\0') {
        return khd_fail(e, KH_ERR_AUTH_FAILED, "a share must come signed by "
                        "its custodian (khadmin --as NAME --key KEY)");
    }
    if ((f = calloc(1, sizeof(*f))) == NULL ||
        (y = OPENSSL_secure_malloc(KHD_MASTER_KEY_LEN)) == NULL ||
        (master = OPENSSL_secure_malloc(KHD_MASTER_KEY_LEN)) == NULL) {
        r = khd_fail(e, KH_ERR_ALLOC, "out of memory");
        goto out;
    }
    if ((r = khd_facts_load(ctx, f)) != 0) {
        r = khd_fail(e, r == KH_ERR_NOT_FOUND ? KH_ERR_NOT_INITIALIZED : r,
                     "this keyholder has no key ceremony%s",
                     khd_ctx_is_dev(ctx) ? " (dev: khadmin unseal --dev)"
                                         : "");
        goto out;
    }
    if (req.purpose == KH_PURPOSE_UNSEAL &&
        khd_ctx_state(ctx) != KH_STATE_SEALED) {
        r = khd_fail(e, KH_ERR_INVALID_ARGUMENT, "keyholder is already "
                     "unsealed");
        goto out;
    }
    if (req.purpose != KH_PURPOSE_UNSEAL &&
        khd_ctx_state(ctx) != KH_STATE_UNSEALED) {
        r = khd_fail(e, KH_ERR_SEALED, "%s needs an unsealed keyholder",
                     kh_purpose_name(req.purpose));
        goto out;
    }
    if ((r = khd_share_open(s, p, f, &req, y, e)) != 0) {
        khd_warn("%s: share refused: %s", khd_peer_who(p, who, sizeof(who)),
                 e->reason);
        goto out;
    }
    pthread_mutex_lock(&s->lock);
    r = khd_collect_locked(s, req.purpose, req.id, req.x, y,
                           p->operator_name, f->m, master, &pr, e);
    pthread_mutex_unlock(&s->lock);
    if (r != 0) {
        khd_warn("%s: share refused: %s", khd_peer_who(p, who, sizeof(who)),
                 e->reason);
        goto out;
    }
    khd_info("custodian %s submitted share %u: %u of %u",
             p->operator_name, req.x, pr.have, pr.m);
    if (pr.done && req.purpose == KH_PURPOSE_UNSEAL) {
        if ((r = khd_ctx_unseal_master(ctx, master, e)) != 0) {
            khd_err("unseal failed: %s", e->reason);
            goto out;
        }
        khd_warn("unsealed by %u custodian share(s); the shares are wiped",
                 pr.m);
    } else if (pr.done) {
        if (khd_master_matches(ctx, master) != 0) {
            r = khd_fail(e, KH_ERR_TAMPERED, "the rebuilt master key does "
                         "not match this keystore");
            goto out;
        }
        if ((r = khd_seal_set_ready(s, req.purpose, master)) != 0) {
            r = khd_fail(e, r, "out of secure memory");
            goto out;
        }
        khd_warn("master key rebuilt from %u custodian share(s) for %s; "
                 "the shares are wiped", pr.m, kh_purpose_name(req.purpose));
    }
    r = kh_unseal_progress_encode(reply, &pr);
out:
    if (y != NULL) {
        OPENSSL_secure_clear_free(y, KHD_MASTER_KEY_LEN);
    }
    if (master != NULL) {
        OPENSSL_secure_clear_free(master, KHD_MASTER_KEY_LEN);
    }
    free(f);
    return r;
}

int khd_unseal_reset(struct khd_ctx *ctx, const struct khd_peer *p,
                     struct khd_error *e)
{
    char who[KH_MAX_NAME_LEN + 64], why[KH_MAX_NAME_LEN + 80];
    int r;

    if ((r = khd_require_role(ctx, p, KH_ROLE_CUSTODIAN | KH_ROLE_ADMIN,
                              "reset an unseal", e)) != 0) {
        return r;
    }
    snprintf(why, sizeof(why), "reset by %s",
             khd_peer_who(p, who, sizeof(who)));
    khd_seal_reset(khd_ctx_seal(ctx), why);
    return KH_OK;
}
