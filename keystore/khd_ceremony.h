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
/* Wipes every submitted share and any rebuilt master key; logs |why|. */
void khd_seal_reset(struct khd_seal *s, const char *why);

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

#endif /* KHD_CEREMONY_H */
