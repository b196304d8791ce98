/*
 * khd_rekey.c - rekey (new share set, same master key) and rotate-master
 * (new master key, every key record re-wrapped, every certificate MAC
 * recomputed), crash-safe in two phases.
 *
 * Before either, M current custodians submit their shares for that purpose
 * (UNSEAL_SHARE, purpose rekey/rotate) and the daemon holds the rebuilt,
 * checked master key. REKEY_PREPARE (admin) splits the same or a new master
 * key for the new custodians and stores the pending set in meta "pending":
 *     u32 magic "KHP1" || u8 purpose || str new share set (CEREMONY_INIT
 *     request codec) || str boxed shares (CEREMONY_INIT reply codec) ||
 *     str new master key wrapped under the current KEK (rotate only)
 * (boxed shares and a wrapped key: safe to store). khadmin writes the new
 * share files, fsyncs them, then sends REKEY_COMMIT: ONE LMDB write
 * transaction re-wraps every record, recomputes the certificate MACs,
 * stores the new check value, facts and custodians and deletes "pending",
 * while the exclusive state lock keeps every signer out; the new KEK then
 * replaces the old. A SIGKILL at any moment leaves the old state (with or
 * without a pending set, reported by UNSEAL_INFO) or the new one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "kh_auth.h"
#include "kh_seal.h"
#include "khd_audit.h"
#include "khd_ceremony.h"
#include "khd_db.h"
#include "khd_log.h"
#include "khd_record.h"
#include "khd_wrap.h"

#define KHD_META_PENDING "pending"
#define KHD_META_CEREMONY "ceremony"
#define KHD_META_CHECK "check"
#define KHD_PENDING_MAGIC 0x4b485031u /* "KHP1" */
#define KHD_PENDING_LABEL "keyholder/pending-master/v1"
#define KHD_PENDING_MAX (512u * 1024)

struct khd_pending {
    uint8_t purpose;
    struct kh_ceremony_init_request req;
    struct kh_ceremony_init_reply rep;
    uint8_t wrapped[KHD_MASTER_KEY_LEN + KHD_WRAP_OVERHEAD];
    size_t wrapped_len;
};

static int khd_pending_encode(const struct khd_pending *pd,
                              struct kh_buf *out)
{
    struct kh_buf a, b;
    int r;

    kh_buf_init_writer(&a, KH_MAX_FRAME_LEN);
    kh_buf_init_writer(&b, KH_MAX_FRAME_LEN);
    if ((r = kh_ceremony_init_encode(&a, &pd->req)) != 0 ||
        (r = kh_ceremony_reply_encode(&b, &pd->rep)) != 0 ||
        (r = kh_buf_put_u32(out, KHD_PENDING_MAGIC)) != 0 ||
        (r = kh_buf_put_u8(out, pd->purpose)) != 0 ||
        (r = kh_buf_put_str(out, kh_buf_data(&a), kh_buf_size(&a))) != 0 ||
        (r = kh_buf_put_str(out, kh_buf_data(&b), kh_buf_size(&b))) != 0 ||
        (r = kh_buf_put_str(out, pd->wrapped, pd->wrapped_len)) != 0) {
        r = r != 0 ? r : KH_ERR_INTERNAL;
    }
    kh_buf_free(&a);
    kh_buf_free(&b);
    return r;
}

static int khd_pending_decode(const uint8_t *d, size_t len,
                              struct khd_pending *pd)
{
    struct kh_buf b, sub;
    const uint8_t *p, *w;
    size_t n;
    uint32_t magic;

    kh_buf_init_reader(&b, d, len);
    if (kh_buf_get_u32(&b, &magic) != 0 || magic != KHD_PENDING_MAGIC ||
        kh_buf_get_u8(&b, &pd->purpose) != 0 ||
        (pd->purpose != KH_PURPOSE_REKEY &&
         pd->purpose != KH_PURPOSE_ROTATE) ||
        kh_buf_get_str(&b, &p, &n, KH_MAX_FRAME_LEN) != 0) {
        return KH_ERR_TAMPERED;
    }
    kh_buf_init_reader(&sub, p, n);
    if (kh_ceremony_init_decode(&sub, &pd->req) != 0 ||
        kh_buf_get_str(&b, &p, &n, KH_MAX_FRAME_LEN) != 0) {
        return KH_ERR_TAMPERED;
    }
    kh_buf_init_reader(&sub, p, n);
    if (kh_ceremony_reply_decode(&sub, &pd->rep) != 0 ||
        kh_buf_get_str(&b, &w, &pd->wrapped_len, sizeof(pd->wrapped)) != 0 ||
        kh_buf_expect_end(&b) != 0) {
        return KH_ERR_TAMPERED;
    }
    memcpy(pd->wrapped, w, pd->wrapped_len);
    return KH_OK;
}

/* The stored pending set into |pd|: KH_ERR_NOT_FOUND if none. */
static int khd_pending_load(struct khd_ctx *ctx, struct khd_pending *pd)
{
    struct kh_buf v;
    int r;

    kh_buf_init_writer(&v, KHD_PENDING_MAX);
    if ((r = khd_db_meta_get(khd_ctx_db(ctx), KHD_META_PENDING, &v)) == 0) {
        r = khd_pending_decode(kh_buf_data(&v), kh_buf_size(&v), pd);
    }
    kh_buf_free(&v);
    return r;
}

int khd_rekey_pending(struct khd_ctx *ctx)
{
    struct kh_buf v;
    int purpose = 0;

    kh_buf_init_writer(&v, KHD_PENDING_MAX);
    if (khd_db_meta_get(khd_ctx_db(ctx), KHD_META_PENDING, &v) == 0 &&
        kh_buf_size(&v) > 4) {
        purpose = kh_buf_data(&v)[4];
    }
    kh_buf_free(&v);
    return purpose;
}

/* AAD of the pending wrapped master key: label || NUL || new ceremony id. */
static int khd_pending_aad(const uint8_t id[KH_SEAL_ID_LEN],
                           struct kh_buf *aad)
{
    int r;

    if ((r = kh_buf_put_bytes(aad, KHD_PENDING_LABEL,
                              sizeof(KHD_PENDING_LABEL))) != 0 ||
        (r = kh_buf_put_bytes(aad, id, KH_SEAL_ID_LEN)) != 0) {
        return r;
    }
    return KH_OK;
}

/*- Prepare ---------------------------------------------------------------- */

/* A new custodian that is an operator already must keep the same key. */
static int khd_rekey_check_ops(struct khd_ctx *ctx,
                               const struct kh_ceremony_init_request *req,
                               struct khd_error *e)
{
    struct kh_operator *cur = malloc(sizeof(*cur));
    int r = KH_OK;

    if (cur == NULL) {
        return khd_fail(e, KH_ERR_ALLOC, "out of memory");
    }
    for (uint32_t i = 0; i < req->n_ops && r == 0; i++) {
        struct kh_buf v, rd;

        kh_buf_init_writer(&v, 4096);
        if (khd_db_op_get(khd_ctx_db(ctx), req->ops[i].name, &v) == 0) {
            kh_buf_init_reader(&rd, kh_buf_data(&v), kh_buf_size(&v));
            if (kh_operator_decode(&rd, cur) != 0 ||
                cur->spki_len != req->ops[i].spki_len ||
                memcmp(cur->spki, req->ops[i].spki, cur->spki_len) != 0) {
                r = khd_fail(e, KH_ERR_INVALID_ARGUMENT, "operator '%s' "
                             "exists with another key", req->ops[i].name);
            }
        }
        kh_buf_free(&v);
    }
    free(cur);
    return r;
}

/* Builds the pending set from the rebuilt |master| (rekey: kept). */
static int khd_rekey_build(struct khd_ctx *ctx, struct khd_pending *pd,
                           const uint8_t *master, unsigned n,
                           struct khd_error *e)
{
    uint8_t *nm = NULL;
    struct kh_buf aad, w;
    int r;

    kh_buf_init_writer(&aad, 128);
    kh_buf_init_writer(&w, sizeof(pd->wrapped));
    if (pd->purpose == KH_PURPOSE_ROTATE) {
        if ((nm = OPENSSL_secure_malloc(KHD_MASTER_KEY_LEN)) == NULL ||
            RAND_priv_bytes(nm, KHD_MASTER_KEY_LEN) != 1) {
            r = khd_fail(e, KH_ERR_CRYPTO, "cannot generate a master key");
            goto out;
        }
    }
    if ((r = khd_share_set(nm != NULL ? nm : master, &pd->req, n, &pd->rep,
                           e)) != 0) {
        goto out;
    }
    memcpy(pd->rep.sha256, khd_ctx_seal_sha256(ctx), sizeof(pd->rep.sha256));
    if (nm != NULL) {
        if ((r = khd_pending_aad(pd->rep.facts.id, &aad)) != 0 ||
            (r = khd_ctx_wrap(ctx, kh_buf_data(&aad), kh_buf_size(&aad), nm,
                              KHD_MASTER_KEY_LEN, &w, e)) != 0) {
            goto out;
        }
        memcpy(pd->wrapped, kh_buf_data(&w), kh_buf_size(&w));
        pd->wrapped_len = kh_buf_size(&w);
    }
out:
    if (nm != NULL) {
        OPENSSL_secure_clear_free(nm, KHD_MASTER_KEY_LEN);
    }
    kh_buf_free(&aad);
    kh_buf_free(&w);
    return r;
}

int khd_handle_rekey_prepare(struct khd_ctx *ctx, const struct khd_peer *p,
                             struct kh_buf *body, struct kh_buf *reply,
                             struct khd_error *e)
{
    struct khd_pending *pd = NULL;
    struct kh_buf v;
    uint8_t *master = NULL;
    char who[KH_MAX_NAME_LEN + 64], id[2 * KH_SEAL_ID_LEN + 1];
    unsigned n;
    int r;

    kh_buf_init_writer(&v, KHD_PENDING_MAX);
    if ((pd = calloc(1, sizeof(*pd))) == NULL ||
        (master = OPENSSL_secure_malloc(KHD_MASTER_KEY_LEN)) == NULL) {
        r = khd_fail(e, KH_ERR_ALLOC, "out of memory");
        goto out;
    }
    if ((r = kh_buf_get_u8(body, &pd->purpose)) != 0 ||
        (r = kh_ceremony_init_decode(body, &pd->req)) != 0) {
        goto out;
    }
    if (pd->purpose != KH_PURPOSE_REKEY && pd->purpose != KH_PURPOSE_ROTATE) {
        r = khd_fail(e, KH_ERR_INVALID_ARGUMENT, "unknown purpose %u",
                     pd->purpose);
        goto out;
    }
    if ((r = khd_require_role(ctx, p, KH_ROLE_ADMIN, "prepare a rekey",
                              e)) != 0) {
        goto out;
    }
    if (khd_ctx_state(ctx) != KH_STATE_UNSEALED) {
        r = khd_fail(e, KH_ERR_SEALED, "keyholder is not unsealed");
        goto out;
    }
    if (khd_rekey_pending(ctx) != 0) {
        r = khd_fail(e, KH_ERR_BUSY, "a prepared %s is pending: commit or "
                     "abort it first", kh_purpose_name(khd_rekey_pending(ctx)));
        goto out;
    }
    if ((r = khd_init_check(&pd->req, 0, &n, e)) != 0 ||
        (r = khd_rekey_check_ops(ctx, &pd->req, e)) != 0) {
        goto out;
    }
    if (khd_seal_take_ready(khd_ctx_seal(ctx), pd->purpose, master) != 0) {
        r = khd_fail(e, KH_ERR_DENIED, "no master key rebuilt for %s: %s",
                     kh_purpose_name(pd->purpose),
                     "M custodians submit their shares first (khadmin "
                     "unseal --for ...)");
        goto out;
    }
    if ((r = khd_rekey_build(ctx, pd, master, n, e)) != 0 ||
        (r = khd_pending_encode(pd, &v)) != 0 ||
        (r = khd_db_meta_put(khd_ctx_db(ctx), KHD_META_PENDING,
                             kh_buf_data(&v), kh_buf_size(&v))) != 0) {
        if (e->reason[0] == '\0') {
            khd_fail(e, r, "cannot store the prepared %s: %s",
                     kh_purpose_name(pd->purpose), kh_strerror(r));
        }
        goto out;
    }
    r = kh_ceremony_reply_encode(reply, &pd->rep);
    kh_hex(pd->rep.facts.id, sizeof(pd->rep.facts.id), id);
    khd_warn("%s prepared %s %s: %u-of-%u; commit or abort pending",
             khd_peer_who(p, who, sizeof(who)), kh_purpose_name(pd->purpose),
             id, pd->rep.facts.m, pd->rep.facts.n);
out:
    if (master != NULL) {
        OPENSSL_secure_clear_free(master, KHD_MASTER_KEY_LEN);
    }
    free(pd);
    kh_buf_free(&v);
    return r;
}

/*- Commit ----------------------------------------------------------------- */

struct khd_commit {
    struct khd_ctx *ctx;
    struct khd_pending *pd;
    const struct khd_kek *old;
    struct khd_kek *new_kek; /* rotate only */
    unsigned rewrapped, certs, skipped;
};

/* LMDB key name || NUL || u32 version into |name|, |*version|. */
static int khd_key_parse(const uint8_t *k, size_t klen,
                         char name[KH_MAX_NAME_LEN + 1], uint32_t *version)
{
    size_t n;

    if (klen < 6 || klen > KH_MAX_NAME_LEN + 5) {
        return -1;
    }
    n = klen - 5;
    if (k[n] != 0 || memchr(k, 0, n) != NULL) {
        return -1;
    }
    memcpy(name, k, n);
    name[n] = '\0';
    *version = (uint32_t)k[n + 1] << 24 | (uint32_t)k[n + 2] << 16 |
               (uint32_t)k[n + 3] << 8 | k[n + 4];
    return 0;
}

static int khd_rewrap_key(void *arg, const uint8_t *k, size_t klen,
                          const uint8_t *v, size_t vlen, struct kh_buf *nv)
{
    struct khd_commit *c = arg;
    struct kh_key_info meta;
    char name[KH_MAX_NAME_LEN + 1];
    uint8_t *priv = NULL;
    size_t privlen = 0;
    uint32_t version;
    int r;

    if (khd_key_parse(k, klen, name, &version) != 0 ||
        khd_record_open(c->old, v, vlen, name, version, &meta, &priv,
                        &privlen) != 0) {
        khd_err("rotate-master: a record that fails its integrity check "
                "is left as it is (unusable)");
        c->skipped++;
        return KH_OK;
    }
    r = khd_record_seal(c->new_kek, &meta, priv, privlen, nv);
    OPENSSL_secure_clear_free(priv, privlen);
    c->rewrapped += r == 0;
    return r;
}

static int khd_remac_cert(void *arg, const uint8_t *k, size_t klen,
                          const uint8_t *v, size_t vlen, struct kh_buf *nv)
{
    struct khd_commit *c = arg;
    uint8_t want[KHD_MAC_LEN], *tag;
    int r;

    if (vlen <= KHD_MAC_LEN ||
        khd_mac(c->old, KHD_CERT_MAC_LABEL, k, klen, v, vlen - KHD_MAC_LEN,
                want) != 0 ||
        CRYPTO_memcmp(want, v + vlen - KHD_MAC_LEN, KHD_MAC_LEN) != 0) {
        c->skipped++; /* never launder a certificate that fails its MAC */
        return KH_OK;
    }
    if ((r = kh_buf_put_bytes(nv, v, vlen - KHD_MAC_LEN)) != 0 ||
        (r = kh_buf_reserve(nv, KHD_MAC_LEN, &tag)) != 0 ||
        (r = khd_mac(c->new_kek, KHD_CERT_MAC_LABEL, k, klen, v,
                     vlen - KHD_MAC_LEN, tag)) != 0) {
        return r;
    }
    c->certs++;
    return KH_OK;
}

/* Custodian roles follow the new share set. */
static int khd_recustody(void *arg, const uint8_t *k, size_t klen,
                         const uint8_t *v, size_t vlen, struct kh_buf *nv)
{
    struct khd_commit *c = arg;
    const struct kh_ceremony_init_request *req = &c->pd->req;
    struct kh_operator op;
    struct kh_buf b;
    int is_new = 0;

    (void)k;
    (void)klen;
    kh_buf_init_reader(&b, v, vlen);
    if (kh_operator_decode(&b, &op) != 0) {
        return KH_OK;
    }
    for (uint32_t i = 0; i < req->n_ops; i++) {
        is_new |= (req->ops[i].roles & KH_ROLE_CUSTODIAN) != 0 &&
                  strcmp(req->ops[i].name, op.name) == 0;
    }
    if (is_new == ((op.roles & KH_ROLE_CUSTODIAN) != 0)) {
        return KH_OK;
    }
    op.roles ^= KH_ROLE_CUSTODIAN;
    if (op.roles == 0) {
        return KHD_DB_REWRITE_DELETE;
    }
    return kh_operator_encode(nv, &op);
}

/* New custodians that are not operators yet. */
static int khd_add_custodians(struct khd_db_write *w,
                              const struct kh_ceremony_init_request *req,
                              uint64_t now)
{
    struct kh_buf v;
    int r = KH_OK;

    kh_buf_init_writer(&v, 4096);
    for (uint32_t i = 0; i < req->n_ops && r == 0; i++) {
        struct kh_operator op = req->ops[i];

        if ((op.roles & KH_ROLE_CUSTODIAN) == 0) {
            continue;
        }
        kh_buf_reset(&v);
        r = khd_db_write_get(w, KHD_TABLE_OPERATORS, op.name,
                             strlen(op.name), &v);
        if (r == 0) {
            continue; /* existing: khd_recustody gave the role */
        }
        if (r != KH_ERR_NOT_FOUND) {
            break;
        }
        op.roles = KH_ROLE_CUSTODIAN;
        op.created = now;
        kh_buf_reset(&v);
        if ((r = kh_operator_encode(&v, &op)) == 0) {
            r = khd_db_write_put(w, KHD_TABLE_OPERATORS, op.name,
                                 strlen(op.name), kh_buf_data(&v),
                                 kh_buf_size(&v));
        }
    }
    kh_buf_free(&v);
    return r;
}

/* Rotate: the new master key from the pending set, its KEK and check. */
static int khd_commit_new_master(struct khd_commit *c,
                                 uint8_t check[KHD_CHECK_VALUE_LEN])
{
    struct kh_buf aad;
    uint8_t *nm = NULL;
    size_t nmlen = 0;
    int r;

    kh_buf_init_writer(&aad, 128);
    if ((r = khd_pending_aad(c->pd->rep.facts.id, &aad)) != 0 ||
        (r = khd_unwrap(c->old, kh_buf_data(&aad), kh_buf_size(&aad),
                        c->pd->wrapped, c->pd->wrapped_len, &nm, &nmlen)) !=
            0) {
        goto out;
    }
    if (nmlen != KHD_MASTER_KEY_LEN) {
        r = KH_ERR_TAMPERED;
    } else if ((r = khd_master_check_value(nm, check)) == 0) {
        r = khd_kek_derive(nm, &c->new_kek);
    }
out:
    if (nm != NULL) {
        OPENSSL_secure_clear_free(nm, nmlen);
    }
    kh_buf_free(&aad);
    return r;
}

static int khd_commit_txn(void *arg, const struct khd_kek *kek,
                          struct khd_kek **new_kek)
{
    struct khd_commit *c = arg;
    uint8_t check[KHD_CHECK_VALUE_LEN];
    struct khd_db_write *w = NULL;
    struct kh_buf v;
    int rotate = c->pd->purpose == KH_PURPOSE_ROTATE, r;

    c->old = kek;
    kh_buf_init_writer(&v, KHD_PENDING_MAX);
    if (rotate && (r = khd_commit_new_master(c, check)) != 0) {
        goto out;
    }
    if ((r = khd_db_write_begin(khd_ctx_db(c->ctx), &w)) != 0) {
        goto out;
    }
    /* Still pending inside this transaction: a second commit finds none. */
    if ((r = khd_db_write_get(w, KHD_TABLE_META, KHD_META_PENDING,
                              strlen(KHD_META_PENDING), &v)) != 0) {
        goto out;
    }
    kh_buf_reset(&v);
    if ((rotate &&
         ((r = khd_db_write_rewrite(w, KHD_TABLE_KEYS, khd_rewrap_key, c)) !=
              0 ||
          (r = khd_db_write_rewrite(w, KHD_TABLE_CERTS, khd_remac_cert, c)) !=
              0 ||
          (r = khd_audit_key_rewrap(w, c->old, c->new_kek)) != 0 ||
          (r = khd_db_write_put(w, KHD_TABLE_META, KHD_META_CHECK,
                                strlen(KHD_META_CHECK), check,
                                sizeof(check))) != 0)) ||
        (r = khd_db_write_rewrite(w, KHD_TABLE_OPERATORS, khd_recustody,
                                  c)) != 0 ||
        (r = khd_add_custodians(w, &c->pd->req,
                                c->pd->rep.facts.created)) != 0 ||
        (r = kh_facts_encode(&v, &c->pd->rep.facts)) != 0 ||
        (r = khd_db_write_put(w, KHD_TABLE_META, KHD_META_CEREMONY,
                              strlen(KHD_META_CEREMONY), kh_buf_data(&v),
                              kh_buf_size(&v))) != 0 ||
        (r = khd_db_write_del(w, KHD_TABLE_META, KHD_META_PENDING,
                              strlen(KHD_META_PENDING))) != 0) {
        goto out;
    }
    r = khd_db_write_commit(w);
    w = NULL;
    if (r == 0 && rotate) {
        *new_kek = c->new_kek;
        c->new_kek = NULL;
    }
out:
    khd_db_write_abort(w);
    khd_kek_free(c->new_kek);
    c->new_kek = NULL;
    OPENSSL_cleanse(check, sizeof(check));
    kh_buf_free(&v);
    return r;
}

int khd_rekey_commit(struct khd_ctx *ctx, const struct khd_peer *p,
                     struct khd_error *e)
{
    struct khd_commit c = { .ctx = ctx };
    char who[KH_MAX_NAME_LEN + 64], id[2 * KH_SEAL_ID_LEN + 1];
    int r;

    if ((r = khd_require_role(ctx, p, KH_ROLE_ADMIN, "commit a rekey",
                              e)) != 0) {
        return r;
    }
    if ((c.pd = calloc(1, sizeof(*c.pd))) == NULL) {
        return khd_fail(e, KH_ERR_ALLOC, "out of memory");
    }
    if ((r = khd_pending_load(ctx, c.pd)) != 0) {
        r = khd_fail(e, r == KH_ERR_NOT_FOUND ? KH_ERR_NOT_FOUND : r,
                     r == KH_ERR_NOT_FOUND ? "no prepared rekey or rotation"
                                           : "the prepared set is unreadable");
        goto out;
    }
    if ((r = khd_ctx_rekey(ctx, khd_commit_txn, &c, e)) != 0) {
        if (r == KH_ERR_NOT_FOUND) {
            r = khd_fail(e, r, "no prepared rekey or rotation");
        }
        goto out;
    }
    kh_hex(c.pd->rep.facts.id, sizeof(c.pd->rep.facts.id), id);
    khd_warn("%s committed %s %s: %u-of-%u%s; old shares no longer work "
             "(%u key records re-wrapped, %u certificates, %u skipped)",
             khd_peer_who(p, who, sizeof(who)),
             kh_purpose_name(c.pd->purpose), id, c.pd->rep.facts.m,
             c.pd->rep.facts.n,
             c.pd->purpose == KH_PURPOSE_ROTATE ? ", new master key" : "",
             c.rewrapped, c.certs, c.skipped);
out:
    free(c.pd);
    return r;
}

int khd_rekey_abort(struct khd_ctx *ctx, const struct khd_peer *p,
                    struct khd_error *e)
{
    struct khd_db_write *w = NULL;
    char who[KH_MAX_NAME_LEN + 64];
    int r;

    if ((r = khd_require_role(ctx, p, KH_ROLE_ADMIN, "abort a rekey",
                              e)) != 0) {
        return r;
    }
    if (khd_rekey_pending(ctx) == 0) {
        return khd_fail(e, KH_ERR_NOT_FOUND, "no prepared rekey or rotation");
    }
    if ((r = khd_db_write_begin(khd_ctx_db(ctx), &w)) != 0 ||
        (r = khd_db_write_del(w, KHD_TABLE_META, KHD_META_PENDING,
                              strlen(KHD_META_PENDING))) != 0) {
        khd_db_write_abort(w);
        return khd_fail(e, r, "cannot abort: %s", kh_strerror(r));
    }
    if ((r = khd_db_write_commit(w)) != 0) {
        return khd_fail(e, r, "cannot abort: %s", kh_strerror(r));
    }
    khd_warn("%s aborted the prepared rekey/rotation",
             khd_peer_who(p, who, sizeof(who)));
    return KH_OK;
}
