/*
 * khd_ceremony.h - the key ceremony inside keyholderd: CEREMONY_INIT (the
 * master key generated, split M-of-N and boxed to the custodians),
 * CEREMONY_INFO, and unsealing from custodian share submissions
 * (UNSEAL_INFO, UNSEAL_SHARE, UNSEAL_RESET).
 *
 * struct khd_seal holds what lives only in memory: the per-boot EC P-256
 * key that custodians box their shares to, the SHA-256 of the daemon's
 * binary, and the shares submitted so far (secure heap), which expire
 * after --unseal-timeout seconds and are wiped at the threshold, on reset
 * and on seal.
 */
#ifndef KHD_CEREMONY_H
#define KHD_CEREMONY_H

#include "kh_buf.h"
#include "khd_state.h"

#define KHD_UNSEAL_DEFAULT_TIMEOUT 600

struct khd_seal;

/* Generates the per-boot key (before seccomp: RAND and keygen). */
KH_MUST_CHECK int khd_seal_new(const struct khd_config *cfg,
                               struct khd_seal **out);
void khd_seal_free(struct khd_seal *s);
/* Wipes submitted shares and a rebuilt master key past their timeout. */
void khd_seal_tick(struct khd_seal *s);
/* Wipes every submitted share and any rebuilt master key; logs |why|. */
void khd_seal_reset(struct khd_seal *s, const char *why);

struct kh_ceremony_facts;
struct kh_ceremony_init_request;
struct kh_ceremony_init_reply;
/* The stored facts; KH_ERR_NOT_FOUND for a keystore without a ceremony. */
KH_MUST_CHECK int khd_facts_load(struct khd_ctx *ctx,
                                 struct kh_ceremony_facts *f);
/* Checks a share set's participants; counts custodians into |*n|. */
KH_MUST_CHECK int khd_init_check(const struct kh_ceremony_init_request *req,
                                 int need_admin, unsigned *n,
                                 struct khd_error *e);
/* Splits |master| for |req| (a fresh id) and boxes the shares into |rep|. */
KH_MUST_CHECK int khd_share_set(const uint8_t *master,
                                const struct kh_ceremony_init_request *req,
                                unsigned n,
                                struct kh_ceremony_init_reply *rep,
                                struct khd_error *e);
/*
 * Takes the master key rebuilt from M share submissions for |purpose|
 * (rekey or rotate) into |master|: KH_ERR_NOT_FOUND if none is held.
 */
KH_MUST_CHECK int khd_seal_take_ready(struct khd_seal *s, int purpose,
                                      uint8_t *master);
/* SHA-256 of keyholderd's binary (hashed at start). */
const uint8_t *khd_ctx_seal_sha256(struct khd_ctx *ctx);
/* The purpose of a prepared, uncommitted rekey/rotation, or 0. */
int khd_rekey_pending(struct khd_ctx *ctx);

KH_MUST_CHECK int khd_handle_ceremony_init(struct khd_ctx *ctx,
                                           const struct khd_peer *p,
                                           struct kh_buf *body,
                                           struct kh_buf *reply,
                                           struct khd_error *e);
KH_MUST_CHECK int khd_handle_ceremony_info(struct khd_ctx *ctx,
                                           const struct khd_peer *p,
                                           struct kh_buf *body,
                                           struct kh_buf *reply,
                                           struct khd_error *e);
KH_MUST_CHECK int khd_handle_unseal_info(struct khd_ctx *ctx,
                                         const struct khd_peer *p,
                                         struct kh_buf *body,
                                         struct kh_buf *reply,
                                         struct khd_error *e);
KH_MUST_CHECK int khd_handle_unseal_share(struct khd_ctx *ctx,
                                          const struct khd_peer *p,
                                          struct kh_buf *body,
                                          struct kh_buf *reply,
                                          struct khd_error *e);
KH_MUST_CHECK int khd_unseal_reset(struct khd_ctx *ctx,
                                   const struct khd_peer *p,
                                   struct khd_error *e);

/* khd_rekey.c */
KH_MUST_CHECK int khd_handle_rekey_prepare(struct khd_ctx *ctx,
                                           const struct khd_peer *p,
                                           struct kh_buf *body,
                                           struct kh_buf *reply,
                                           struct khd_error *e);
KH_MUST_CHECK int khd_rekey_commit(struct khd_ctx *ctx,
                                   const struct khd_peer *p,
                                   struct khd_error *e);
KH_MUST_CHECK int khd_rekey_abort(struct khd_ctx *ctx,
                                  const struct khd_peer *p,
                                  struct khd_error *e);

#endif /* KHD_CEREMONY_H */
