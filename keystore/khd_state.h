/*
 * khd_state.h - keyholderd's state: the LMDB keystore, the sealed/unsealed
 * state machine, the master key's KEK and the cache of ready-to-use keys.
 *
 * States: UNINITIALIZED --init--> UNSEALED <--seal/unseal--> SEALED.
 * While not UNSEALED every key operation is refused with KH_ERR_SEALED (or
 * KH_ERR_NOT_INITIALIZED). Sealing wipes the KEK and every cached key.
 *
 * Every operation takes the peer's kernel credentials and a khd_error that
 * receives a one-line reason for the client on failure.
 */
#ifndef KHD_STATE_H
#define KHD_STATE_H

#include <stdint.h>
#include <sys/types.h>

#include "kh_err.h"
#include "kh_proto.h"
#include "khd_audit.h"

#define KHD_MAX_PEER_GROUPS 64
/* Room for a PATH_MAX path with a few bytes escaped. */
#define KHD_PEER_EXE_MAX 4096

/* A client as the kernel describes it at accept time (SO_PEERCRED). */
struct khd_peer {
    uid_t uid;
    gid_t gid;
    pid_t pid;
    uint32_t n_groups; /* supplementary groups (SO_PEERGROUPS) */
    gid_t groups[KHD_MAX_PEER_GROUPS];
    /*
     * The connecting process's executable (/proc/PID/exe, read at accept
     * through a pidfd so a recycled pid is detected; khd_server.c), with
     * control characters, backslashes and non-ASCII bytes as \xHH. Empty
     * when unknown: the peer exited or the daemon may not read it (another
     * uid's process needs CAP_SYS_PTRACE). Informational: a process may
     * exec another program after connecting; the uid is the identity.
     */
    char exe[KHD_PEER_EXE_MAX];
    /*
     * Set by the dispatcher only after the request carried a valid operator
     * signature over a fresh challenge: the operator's name (empty for a
     * plain application request) and roles (enum kh_role bits).
     */
    char operator_name[KH_MAX_NAME_LEN + 1];
    uint32_t operator_roles;
    /* The authenticated envelope's nonce (binds unseal share boxes). */
    uint8_t auth_nonce[32];
};

/* |p|'s executable for log lines: the path, or "unknown". */
static inline const char *khd_peer_exe(const struct khd_peer *p)
{
    return p->exe[0] != '\0' ? p->exe : "unknown";
}

struct khd_error {
    char reason[KH_MAX_REASON_LEN + 1];
};

struct khd_config {
    const char *state_dir;
    int secure_heap; /* CRYPTO_secure_malloc_init's result: 1, 2 or 0 */
    unsigned challenge_ttl;  /* seconds an auth challenge lives; 0: 60 */
    unsigned unseal_timeout; /* seconds a partial unseal lives; 0: 600 */
    uint8_t exe_sha256[32];  /* of keyholderd's binary, hashed at start */
    struct khd_audit_config audit; /* zero: defaults */
};

struct khd_ctx;

/* Opens the keystore; a dev keyholder is unsealed from its state dir. */
KH_MUST_CHECK int khd_ctx_open(const struct khd_config *cfg,
                               struct khd_ctx **out);
/* Seals (wiping keys) and closes. */
void khd_ctx_close(struct khd_ctx *ctx);

void khd_status(struct khd_ctx *ctx, struct kh_status_reply *out);

/* Creates the dev master key (root or the daemon's own uid only). */
KH_MUST_CHECK int khd_init_dev(struct khd_ctx *ctx, const struct khd_peer *p,
                               struct khd_error *e);
KH_MUST_CHECK int khd_seal(struct khd_ctx *ctx, const struct khd_peer *p,
                           struct khd_error *e);
/* Unseals a dev keyholder again from the master key in its state dir. */
KH_MUST_CHECK int khd_unseal_dev(struct khd_ctx *ctx,
                                 const struct khd_peer *p,
                                 struct khd_error *e);

KH_MUST_CHECK int khd_op_generate(struct khd_ctx *ctx,
                                  const struct khd_peer *p,
                                  const struct kh_keygen_request *req,
                                  struct kh_key_info *out,
                                  struct khd_error *e);
KH_MUST_CHECK int khd_op_info(struct khd_ctx *ctx, const struct khd_peer *p,
                              const struct kh_key_ref *ref,
                              struct kh_key_info *out, struct khd_error *e);
/*
 * Fills up to |max| entries (newest version of each name the peer may use)
 * after |after|; |*more| tells whether names remain.
 */
KH_MUST_CHECK int khd_op_list(struct khd_ctx *ctx, const struct khd_peer *p,
                              const char *after, struct kh_key_info *out,
                              uint32_t max, uint32_t *count, uint8_t *more,
                              struct khd_error *e);
KH_MUST_CHECK int khd_op_sign(struct khd_ctx *ctx, const struct khd_peer *p,
                              const struct kh_sign_request *req,
                              struct kh_sign_reply *out,
                              struct khd_error *e);

/*
 * Stores |req->der| as the certificate of key |req->name| (replacing any
 * previous one). Needs the unsealed state and a peer that may use the key.
 * The DER must be exactly one X.509 certificate whose SubjectPublicKeyInfo
 * equals the newest key version's, byte for byte (KH_ERR_INVALID_ARGUMENT).
 */
KH_MUST_CHECK int khd_op_cert_import(struct khd_ctx *ctx,
                                     const struct khd_peer *p,
                                     const struct kh_cert_import_request *req,
                                     struct khd_error *e);
/*
 * Appends the certificate of key |name| to the writer |der| and sets
 * |*present| to 1, or leaves both alone (|*present| 0) when the key has
 * none. Same access rules as import. A stored certificate that no longer
 * parses or no longer carries the key's public key is never returned:
 * KH_ERR_TAMPERED, logged.
 */
KH_MUST_CHECK int khd_op_cert_get(struct khd_ctx *ctx,
                                  const struct khd_peer *p, const char *name,
                                  struct kh_buf *der, uint8_t *present,
                                  struct khd_error *e);

/* Sets |e|'s reason from a printf format and returns |code|. */
int khd_fail(struct khd_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*- Operators (khd_auth.c, khd_operators.c) ---------------------------- */

struct khd_db;
struct khd_auth;
struct khd_db *khd_ctx_db(struct khd_ctx *ctx);
struct khd_auth *khd_ctx_auth(struct khd_ctx *ctx);
/* 1 for an initialized dev (insecure) keyholder. */
int khd_ctx_is_dev(struct khd_ctx *ctx);
/* 1 if |p| is local root or the daemon's own uid. */
int khd_peer_is_local_admin(const struct khd_ctx *ctx,
                            const struct khd_peer *p);
/*
 * 0 if |p| holds one of |roles| (an authenticated operator), or is local
 * root on a dev keyholder (every role, DESIGN.md). Else KH_ERR_DENIED (or
 * KH_ERR_AUTH_FAILED when no operator signed the request) with a reason
 * naming |what|, logged.
 */
KH_MUST_CHECK int khd_require_role(struct khd_ctx *ctx,
                                   const struct khd_peer *p, uint32_t roles,
                                   const char *what, struct khd_error *e);
/* "operator NAME (uid U pid P)" or "uid U pid P" for log lines. */
const char *khd_peer_who(const struct khd_peer *p, char *buf, size_t n);

/*- Ceremony master key (khd_ceremony.c) ------------------------------ */

struct khd_seal;
int khd_ctx_state(struct khd_ctx *ctx);
/*
 * Called about once a second by the server loop: expires a partial unseal
 * (or a master key rebuilt for a rekey) on time, not on the next request.
 */
void khd_ctx_tick(struct khd_ctx *ctx);
struct khd_seal *khd_ctx_seal(struct khd_ctx *ctx);
/*
 * Ceremony init: under the exclusive lock, if still UNINITIALIZED, runs
 * |store| (one LMDB transaction writing operators, facts and the check
 * value of |master|), then unseals with |master|.
 */
KH_MUST_CHECK int khd_ctx_init_master(struct khd_ctx *ctx,
                                      const uint8_t *master,
                                      int (*store)(void *arg), void *arg,
                                      struct khd_error *e);
/* Unseals a SEALED keyholder with a rebuilt |master| (check value). */
KH_MUST_CHECK int khd_ctx_unseal_master(struct khd_ctx *ctx,
                                        const uint8_t *master,
                                        struct khd_error *e);

struct khd_kek;
struct kh_buf;
/* khd_wrap under the current KEK (UNSEALED only). */
KH_MUST_CHECK int khd_ctx_wrap(struct khd_ctx *ctx, const uint8_t *aad,
                               size_t aadlen, const uint8_t *pt,
                               size_t ptlen, struct kh_buf *out,
                               struct khd_error *e);
/*
 * Rekey/rotation commit: under the exclusive lock (no signer runs), if
 * UNSEALED, calls |fn| with the current KEK. |fn| commits its LMDB
 * transaction and may return a new KEK, which replaces the old one (the
 * cache of unwrapped keys is wiped).
 */
KH_MUST_CHECK int khd_ctx_rekey(struct khd_ctx *ctx,
                                int (*fn)(void *arg,
                                          const struct khd_kek *kek,
                                          struct khd_kek **new_kek),
                                void *arg, struct khd_error *e);

/* 1 if |p| may use the key described by |meta|. */
int khd_peer_may_use(const struct khd_peer *p, const struct kh_key_info *meta);

/* The audit trail of |ctx| (khd_audit.h). */
struct khd_audit *khd_ctx_audit(struct khd_ctx *ctx);
/* Starts background work (the audit writer); after the seccomp filter. */
KH_MUST_CHECK int khd_ctx_start(struct khd_ctx *ctx);

/*
 * 1 if |p| may read the audit log: root or the daemon's own user today,
 * and an operator authenticated with the auditor or admin role.
 */
int khd_may_read_audit(const struct khd_ctx *ctx, const struct khd_peer *p);
/* Archives entries below |before| (root/daemon user or an admin). */
KH_MUST_CHECK int khd_op_audit_archive(struct khd_ctx *ctx,
                                       const struct khd_peer *p,
                                       uint64_t before, uint64_t *dropped,
                                       struct khd_error *e);

#endif /* KHD_STATE_H */
