#include "khd_auth.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "khd_db.h"
#include "khd_log.h"

struct khd_challenge {
    uint8_t nonce[KH_AUTH_NONCE_LEN];
    uid_t uid;
    int64_t expires; /* CLOCK_MONOTONIC seconds; 0 = free slot */
};

struct khd_auth {
    pthread_mutex_t lock;
    unsigned ttl;
    unsigned next; /* ring: the slot written next holds the oldest */
    struct khd_challenge slots[KHD_AUTH_MAX_CHALLENGES];
};

static int64_t khd_auth_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

int khd_auth_new(unsigned ttl, struct khd_auth **out)
{
    struct khd_auth *a;

    *out = NULL;
    if ((a = calloc(1, sizeof(*a))) == NULL) {
        return KH_ERR_ALLOC;
    }
    if (pthread_mutex_init(&a->lock, NULL) != 0) {
        free(a);
        return KH_ERR_INTERNAL;
    }
    a->ttl = ttl != 0 ? ttl : KHD_AUTH_DEFAULT_TTL;
    *out = a;
    return KH_OK;
}

void khd_auth_free(struct khd_auth *a)
{
    if (a == NULL) {
        return;
    }
    pthread_mutex_destroy(&a->lock);
    OPENSSL_cleanse(a->slots, sizeof(a->slots));
    free(a);
}

/*
 * Caller holds the lock. The slot for a new challenge of |uid|: the oldest
 * slot of the table, unless |uid| already holds KHD_AUTH_MAX_PER_UID live
 * challenges; then its own oldest, so one local user flooding requests
 * cannot evict everyone else's challenges.
 */
static struct khd_challenge *khd_auth_slot_for(struct khd_auth *a, uid_t uid)
{
    struct khd_challenge *s, *oldest = NULL;
    unsigned mine = 0;

    for (unsigned i = 0; i < KHD_AUTH_MAX_CHALLENGES; i++) {
        s = &a->slots[i];
        if (s->expires != 0 && s->uid == uid) {
            mine++;
            if (oldest == NULL || s->expires < oldest->expires) {
                oldest = s;
            }
        }
    }
    if (mine >= KHD_AUTH_MAX_PER_UID && oldest != NULL) {
        return oldest;
    }
    s = &a->slots[a->next];
    a->next = (a->next + 1) % KHD_AUTH_MAX_CHALLENGES;
    return s;
}

int khd_auth_challenge(struct khd_auth *a, uid_t uid,
                       struct kh_challenge_reply *out)
{
    struct khd_challenge *s;

    if (RAND_bytes(out->nonce, sizeof(out->nonce)) != 1) {
        return KH_ERR_CRYPTO;
    }
    out->ttl = a->ttl;
    pthread_mutex_lock(&a->lock);
    s = khd_auth_slot_for(a, uid);
    memcpy(s->nonce, out->nonce, sizeof(s->nonce));
    s->uid = uid;
    s->expires = khd_auth_now() + (int64_t)a->ttl;
    pthread_mutex_unlock(&a->lock);
    return KH_OK;
}

/*
 * Finds and frees the slot of |nonce| for |uid|. Returns 0, or
 * KH_ERR_NOT_FOUND (never issued, already used, dropped, or another uid's)
 * or KH_ERR_EXPIRED (consumed anyway).
 */
static int khd_auth_consume(struct khd_auth *a, uid_t uid,
                            const uint8_t nonce[KH_AUTH_NONCE_LEN])
{
    int64_t now = khd_auth_now();
    int r = KH_ERR_NOT_FOUND;

    pthread_mutex_lock(&a->lock);
    for (unsigned i = 0; i < KHD_AUTH_MAX_CHALLENGES; i++) {
        struct khd_challenge *s = &a->slots[i];

        if (s->expires == 0 || s->uid != uid ||
            CRYPTO_memcmp(s->nonce, nonce, KH_AUTH_NONCE_LEN) != 0) {
            continue;
        }
        r = now > s->expires ? KH_ERR_EXPIRED : KH_OK;
        OPENSSL_cleanse(s, sizeof(*s));
        break;
    }
    pthread_mutex_unlock(&a->lock);
    return r;
}

int khd_auth_check_spki(const uint8_t *spki, size_t len, struct khd_error *e)
{
    const unsigned char *p = spki;
    EVP_PKEY *pk = NULL;
    char group[32] = "";
    size_t glen = 0;
    int r = KH_ERR_INVALID_ARGUMENT;

    if ((pk = d2i_PUBKEY(NULL, &p, (long)len)) == NULL || p != spki + len) {
        khd_fail(e, r, "the operator key is not a DER public key");
    } else if (!EVP_PKEY_is_a(pk, "EC")) {
        khd_fail(e, r, "operator keys must be EC P-256 or P-384, not %s",
                 EVP_PKEY_get0_type_name(pk) != NULL
                     ? EVP_PKEY_get0_type_name(pk) : "this type");
    } else if (EVP_PKEY_get_group_name(pk, group, sizeof(group), &glen) !=
                   1 ||
               (strcmp(group, "prime256v1") != 0 &&
                strcmp(group, "secp384r1") != 0)) {
        khd_fail(e, r, "operator keys must be EC P-256 or P-384, not "
                 "curve %s", group[0] != '\0' ? group : "unknown");
    } else {
        r = KH_OK;
    }
    ERR_clear_error();
    EVP_PKEY_free(pk);
    return r;
}

/* Verifies |sig| over |tbs| with the operator's SPKI. 0 or AUTH_FAILED. */
static int khd_auth_check_sig(const struct kh_operator *op,
                              const uint8_t *tbs, size_t tbslen,
                              const uint8_t *sig, size_t siglen)
{
    const unsigned char *p = op->spki;
    EVP_PKEY *pk = NULL;
    EVP_MD_CTX *md = NULL;
    int r = KH_ERR_AUTH_FAILED;

    if ((pk = d2i_PUBKEY(NULL, &p, (long)op->spki_len)) == NULL ||
        (md = EVP_MD_CTX_new()) == NULL) {
        goto out;
    }
    /* SHA-256 for P-256, SHA-384 for P-384 (kh_auth.h). */
    if (EVP_DigestVerifyInit_ex(md, NULL,
                                EVP_PKEY_get_bits(pk) > 256 ? "SHA384"
                                                            : "SHA256",
                                NULL, NULL, pk, NULL) != 1 ||
        EVP_DigestVerify(md, sig, siglen, tbs, tbslen) != 1) {
        goto out;
    }
    r = KH_OK;
out:
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    return r;
}

static int khd_auth_load(struct khd_db *db, const char *name,
                         struct kh_operator *op)
{
    struct kh_buf v;
    int r;

    kh_buf_init_writer(&v, 4096);
    if ((r = khd_db_op_get(db, name, &v)) == 0) {
        struct kh_buf rd;

        kh_buf_init_reader(&rd, kh_buf_data(&v), kh_buf_size(&v));
        if (kh_operator_decode(&rd, op) != 0 || kh_buf_expect_end(&rd) != 0 ||
            strcmp(op->name, name) != 0) {
            khd_err("stored operator '%s' is malformed: refused", name);
            r = KH_ERR_TAMPERED;
        }
    }
    kh_buf_free(&v);
    return r;
}

int khd_auth_verify(struct khd_auth *a, struct khd_db *db,
                    const struct khd_peer *p, const struct kh_authed *m,
                    struct kh_operator *op, struct khd_error *e)
{
    struct kh_buf tbs;
    int r;

    r = khd_auth_consume(a, p->uid, m->nonce);
    if (r != 0) {
        khd_warn("uid %u pid %d exe %s: operator '%s' refused: %s challenge",
                 (unsigned)p->uid, (int)p->pid, khd_peer_exe(p), m->op,
                 r == KH_ERR_EXPIRED ? "expired" : "unknown or used");
        return khd_fail(e, KH_ERR_AUTH_FAILED,
                        r == KH_ERR_EXPIRED
                            ? "the challenge expired; ask for a new one"
                            : "unknown or already used challenge (replay?)");
    }
    if ((r = khd_auth_load(db, m->op, op)) != 0) {
        khd_warn("uid %u pid %d exe %s: unknown operator '%s' refused",
                 (unsigned)p->uid, (int)p->pid, khd_peer_exe(p), m->op);
        return khd_fail(e, KH_ERR_AUTH_FAILED,
                        r == KH_ERR_NOT_FOUND ? "no operator named '%s'"
                                              : "operator '%s' unusable",
                        m->op);
    }
    kh_buf_init_writer(&tbs, KH_MAX_FRAME_LEN + 256);
    if ((r = kh_auth_tbs(&tbs, m->nonce, m->op, m->inner_type, m->inner,
                         m->inner_len)) == 0) {
        r = khd_auth_check_sig(op, kh_buf_data(&tbs), kh_buf_size(&tbs),
                               m->sig, m->sig_len);
    }
    kh_buf_free(&tbs);
    if (r != 0) {
        khd_warn("uid %u pid %d exe %s: bad signature for operator '%s' "
                 "refused", (unsigned)p->uid, (int)p->pid, khd_peer_exe(p),
                 m->op);
        return khd_fail(e, KH_ERR_AUTH_FAILED,
                        "signature does not verify with the key of operator '%s'",
                        m->op);
    }
    return KH_OK;
}
