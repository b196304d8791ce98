/*
 * khd_operators.h - request handlers for operator authentication and
 * management (AUTH_CHALLENGE, OPERATOR_ADD/LIST/REMOVE). Registered in
 * khd_dispatch.c's table; AUTHED envelopes are unwrapped by the dispatcher.
 */
#ifndef KHD_OPERATORS_H
#define KHD_OPERATORS_H

#include "kh_buf.h"
#include "khd_state.h"

KH_MUST_CHECK int khd_handle_auth_challenge(struct khd_ctx *ctx,
                                            const struct khd_peer *p,
                                            struct kh_buf *body,
                                            struct kh_buf *reply,
                                            struct khd_error *e);
KH_MUST_CHECK int khd_handle_operator_add(struct khd_ctx *ctx,
                                          const struct khd_peer *p,
                                          struct kh_buf *body,
                                          struct kh_buf *reply,
                                          struct khd_error *e);
KH_MUST_CHECK int khd_handle_operator_list(struct khd_ctx *ctx,
                                           const struct khd_peer *p,
                                           struct kh_buf *body,
                                           struct kh_buf *reply,
                                           struct khd_error *e);
KH_MUST_CHECK int khd_handle_operator_remove(struct khd_ctx *ctx,
                                             const struct khd_peer *p,
                                             struct kh_buf *body,
                                             struct kh_buf *reply,
                                             struct khd_error *e);

#endif /* KHD_OPERATORS_H */
