/*
 * kh_auth.h - operator authentication and operator management messages
 * (wire types 0x20..0x24; keystore/PROTOCOL.md "Operators").
 *
 * An operator proves who they are per request: AUTH_CHALLENGE returns a
 * fresh single-use nonce bound to the asking uid; the request then travels
 * inside an AUTHED envelope
 *     cstr operator || nonce[32] || u8 inner type || str inner body ||
 *     str signature (DER ECDSA)
 * whose signature covers kh_auth_tbs(): the label, the nonce, the operator
 * name and the exact inner request. The digest is SHA-256 for a P-256
 * operator key and SHA-384 for P-384.
 */
#ifndef KH_AUTH_H
#define KH_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "kh_buf.h"
#include "kh_err.h"
#include "kh_proto.h"

#define KH_AUTH_NONCE_LEN 32
#define KH_AUTH_LABEL "keyholder-operator-auth-v1"
#define KH_MAX_OPSIG_LEN 160      /* DER ECDSA P-384 is at most 104 */
#define KH_MAX_OP_SPKI_LEN 256    /* EC P-384 SPKI is 120 bytes */
#define KH_MAX_OPERATORS 128      /* one OPERATOR_LIST reply holds them */
#define KH_MAX_INNER_LEN (KH_MAX_FRAME_LEN - 1024)

/* "admin", "approver", "custodian", "auditor"; NULL for anything else. */
const char *kh_role_name(uint32_t role);
/* One role bit from its name; KH_ERR_INVALID_ARGUMENT if unknown. */
KH_MUST_CHECK int kh_role_from_name(const char *name, uint32_t *role);
/* "admin,custodian" into |out| ("-" for none). */
void kh_roles_format(uint32_t roles, char *out, size_t outsz);

/* AUTH_CHALLENGE reply: the nonce and how long it stays valid. */
struct kh_challenge_reply {
    uint8_t nonce[KH_AUTH_NONCE_LEN];
    uint32_t ttl; /* seconds */
};
KH_MUST_CHECK int kh_challenge_encode(struct kh_buf *b,
                                      const struct kh_challenge_reply *m);
KH_MUST_CHECK int kh_challenge_decode(struct kh_buf *b,
                                      struct kh_challenge_reply *m);

struct kh_authed {
    char op[KH_MAX_NAME_LEN + 1];
    uint8_t nonce[KH_AUTH_NONCE_LEN];
    uint8_t inner_type;
    const uint8_t *inner; /* borrowed from the decoded frame */
    size_t inner_len;
    const uint8_t *sig;   /* borrowed */
    size_t sig_len;
};
KH_MUST_CHECK int kh_authed_encode(struct kh_buf *b,
                                   const struct kh_authed *m);
KH_MUST_CHECK int kh_authed_decode(struct kh_buf *b, struct kh_authed *m);

/*
 * Appends the bytes an operator signs to |out|:
 *   KH_AUTH_LABEL || NUL || nonce || operator || NUL || u8 inner type ||
 *   u32 inner length || inner body.
 */
KH_MUST_CHECK int kh_auth_tbs(struct kh_buf *out,
                              const uint8_t nonce[KH_AUTH_NONCE_LEN],
                              const char *op, uint8_t inner_type,
                              const uint8_t *inner, size_t inner_len);

/*
 * An operator: the OPERATOR_ADD request, OPERATOR_LIST items and the value
 * stored in the "operators" table.
 *   cstr name || u32 roles || u64 created || str spki
 */
struct kh_operator {
    char name[KH_MAX_NAME_LEN + 1];
    uint32_t roles;   /* enum kh_role bits, at least one */
    uint64_t created; /* seconds since the epoch (ignored in a request) */
    size_t spki_len;
    uint8_t spki[KH_MAX_OP_SPKI_LEN];
};
KH_MUST_CHECK int kh_operator_encode(struct kh_buf *b,
                                     const struct kh_operator *m);
KH_MUST_CHECK int kh_operator_decode(struct kh_buf *b, struct kh_operator *m);

/* OPERATOR_REMOVE request: cstr name. */
KH_MUST_CHECK int kh_opname_encode(struct kh_buf *b, const char *name);
KH_MUST_CHECK int kh_opname_decode(struct kh_buf *b,
                                   char out[KH_MAX_NAME_LEN + 1]);

/* OPERATOR_LIST reply: u32 count || count x kh_operator. */

#endif /* KH_AUTH_H */
