/*
 * kh_client.h - the client side of the Keyholder protocol, linked by the
 * provider and khadmin.
 *
 * A struct kh_client is one connection; use it from one thread at a time
 * (the provider keeps one per thread and re-creates it after fork). Every
 * call returns 0 or a negative KH_ERR_*; kh_client_reason() then says why,
 * in words fit for a user: the daemon's reason for a refusal, or the socket
 * path and errno when the daemon cannot be reached.
 */
#ifndef KH_CLIENT_H
#define KH_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "kh_err.h"
#include "kh_proto.h"

#define KH_DEFAULT_SOCKET "/run/keyholder/keyholder.sock"
#define KH_CLIENT_DEFAULT_TIMEOUT_MS 30000

struct kh_client;

/* --socket argument if not NULL, else $KEYHOLDER_SOCKET, else default. */
const char *kh_client_socket_path(const char *explicit_path);

/*
 * Creates a client for |path| (NULL: kh_client_socket_path(NULL)). Connects
 * lazily on the first call, and reconnects once if the daemon restarted.
 */
KH_MUST_CHECK int kh_client_new(const char *path, struct kh_client **out);
void kh_client_free(struct kh_client *c);
/* Per-call bound on waiting for the daemon (connect, send, reply). */
void kh_client_set_timeout(struct kh_client *c, int timeout_ms);
/* Connects now; KH_ERR_UNAVAILABLE with the reason if it cannot. */
KH_MUST_CHECK int kh_client_connect(struct kh_client *c);
/* Why the last call failed ("" after success). */
const char *kh_client_reason(const struct kh_client *c);

KH_MUST_CHECK int kh_client_status(struct kh_client *c,
                                   struct kh_status_reply *out);
KH_MUST_CHECK int kh_client_init_dev(struct kh_client *c);
KH_MUST_CHECK int kh_client_seal(struct kh_client *c);
KH_MUST_CHECK int kh_client_unseal_dev(struct kh_client *c);
KH_MUST_CHECK int kh_client_key_generate(struct kh_client *c,
                                         const struct kh_keygen_request *req,
                                         struct kh_key_info *out);
KH_MUST_CHECK int kh_client_key_info(struct kh_client *c, const char *name,
                                     uint32_t version,
                                     struct kh_key_info *out);
/*
 * Calls |cb| for the newest version of every key the caller may use, in
 * name order; a non-zero return from |cb| stops and is returned.
 */
KH_MUST_CHECK int kh_client_key_list(struct kh_client *c,
                                     int (*cb)(const struct kh_key_info *,
                                               void *),
                                     void *arg);
KH_MUST_CHECK int kh_client_sign(struct kh_client *c,
                                 const struct kh_sign_request *req,
                                 struct kh_sign_reply *out);
/*
 * Stores |der| (one DER X.509 certificate, at most KH_MAX_CERT_LEN bytes)
 * as the certificate of key |name|, replacing any previous one. The daemon
 * refuses it (KH_ERR_INVALID_ARGUMENT) unless its public key is the key's.
 */
KH_MUST_CHECK int kh_client_cert_import(struct kh_client *c, const char *name,
                                        const uint8_t *der, size_t len);
/*
 * The certificate of key |name| as DER in |*der| (malloc'd: free() it) and
 * its length in |*len|. KH_ERR_NOT_FOUND when the key has none; on any
 * failure |*der| is NULL and |*len| 0.
 */
KH_MUST_CHECK int kh_client_cert_get(struct kh_client *c, const char *name,
                                     uint8_t **der, size_t *len);

/*
 * Operator authentication (kh_auth.h). With a signer set, every request but
 * AUTH_CHALLENGE is sent as an AUTHED envelope: the client fetches a fresh
 * challenge, builds the bytes to sign (kh_auth_tbs) and asks |sign| for a
 * DER ECDSA signature of at most *siglen bytes (in: capacity, out: length).
 * |sign| returns 0 or a negative KH_ERR_*. |op| is copied; |arg| is kept.
 * Such requests are never retried (each challenge is single use).
 */
typedef int (*kh_client_sign_fn)(void *arg, const uint8_t *tbs, size_t len,
                                 uint8_t *sig, size_t *siglen);
KH_MUST_CHECK int kh_client_set_operator(struct kh_client *c, const char *op,
                                         kh_client_sign_fn sign, void *arg);
/*
 * An AUTHED request whose body depends on the challenge (an unseal share is
 * boxed with the nonce in its AAD): fetches the challenge, lets |build|
 * write the body for that nonce, signs and sends. Needs a signer.
 */
typedef int (*kh_client_body_fn)(void *arg, const uint8_t nonce[32],
                                 struct kh_buf *body);
KH_MUST_CHECK int kh_client_call_bound(struct kh_client *c, uint8_t type,
                                       kh_client_body_fn build, void *arg,
                                       struct kh_buf *reply);
/* A fresh challenge (AUTH_CHALLENGE). */
KH_MUST_CHECK int kh_client_challenge(struct kh_client *c,
                                      uint8_t nonce[32], uint32_t *ttl);

/*
 * Low level: sends one request (|type|, body bytes) and returns the reply
 * frame's body in |reply| (a writer the caller frees). An ERROR reply is
 * returned as its code with the reason recorded. Used by the tests to send
 * hand-made requests.
 */
KH_MUST_CHECK int kh_client_call(struct kh_client *c, uint8_t type,
                                 const uint8_t *body, size_t len,
                                 int idempotent, struct kh_buf *reply);

#endif /* KH_CLIENT_H */
