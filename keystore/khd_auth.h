/*
 * khd_auth.h - operator challenge-response authentication.
 *
 * keyholderd hands out single-use 32-byte nonces (AUTH_CHALLENGE), each
 * bound to the uid that asked and valid for a limited time; a bounded table
 * keeps the outstanding ones (the oldest is dropped when it is full, and a
 * uid holding KHD_AUTH_MAX_PER_UID loses its own oldest instead). An
 * AUTHED envelope consumes its nonce first, then its ECDSA signature is
 * checked against the operator's stored public key (kh_auth.h).
 */
#ifndef KHD_AUTH_H
#define KHD_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kh_auth.h"
#include "khd_state.h"

#define KHD_AUTH_MAX_CHALLENGES 1024
#define KHD_AUTH_MAX_PER_UID 64 /* beyond: the uid's own oldest goes */
#define KHD_AUTH_DEFAULT_TTL 60

struct khd_auth;

/* |ttl| seconds per challenge (0: KHD_AUTH_DEFAULT_TTL). */
KH_MUST_CHECK int khd_auth_new(unsigned ttl, struct khd_auth **out);
void khd_auth_free(struct khd_auth *a);

/* A fresh nonce for |uid| (RAND_bytes), remembered until used or stale. */
KH_MUST_CHECK int khd_auth_challenge(struct khd_auth *a, uid_t uid,
                                     struct kh_challenge_reply *out);

/*
 * Authenticates envelope |m| from peer |p|: consumes the nonce (unknown,
 * used, stale or another uid's: refused), loads the operator from |db| and
 * verifies the signature. On success |op| holds the operator. Every refusal
 * is KH_ERR_AUTH_FAILED with a reason in |e|, and is logged.
 */
KH_MUST_CHECK int khd_auth_verify(struct khd_auth *a, struct khd_db *db,
                                  const struct khd_peer *p,
                                  const struct kh_authed *m,
                                  struct kh_operator *op,
                                  struct khd_error *e);

/*
 * 0 if |spki| (DER SubjectPublicKeyInfo) is an EC P-256 or P-384 public
 * key; else KH_ERR_INVALID_ARGUMENT with the reason in |e|.
 */
KH_MUST_CHECK int khd_auth_check_spki(const uint8_t *spki, size_t len,
                                      struct khd_error *e);

#endif /* KHD_AUTH_H */
