/*
 * kh_seal.h - ceremony, unseal and rekey messages (wire types 0x25..0x2f;
 * keystore/PROTOCOL.md "Ceremony and unseal").
 *
 * The facts of a ceremony (id, threshold, who holds which share and its
 * commitment) are public: stored in the keystore's meta table, returned by
 * CEREMONY_INFO, and written to the ceremony record by khadmin. Shares
 * themselves travel only inside boxes (kh_box.h).
 */
#ifndef KH_SEAL_H
#define KH_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "kh_auth.h"
#include "kh_buf.h"
#include "kh_err.h"
#include "kh_proto.h"

#define KH_SEAL_ID_LEN 16     /* = KH_CEREMONY_ID_LEN */
#define KH_SEAL_FPR_LEN 32    /* SHA-256 of an SPKI */
#define KH_SEAL_COMMIT_LEN 32 /* = KH_COMMITMENT_LEN */
#define KH_SEAL_MAX_SHARES 255
#define KH_SEAL_MAX_BOX 256   /* a 32-byte share boxed to P-384: 191 */
#define KH_SEAL_SHA256_LEN 32
#define KH_UNSEAL_LABEL "unseal"
#define KH_UNSEAL_AAD_LABEL "keyholder-unseal-v1"

enum kh_share_purpose {
    KH_PURPOSE_UNSEAL = 1,
    KH_PURPOSE_REKEY = 2,  /* new shares for the same master key */
    KH_PURPOSE_ROTATE = 3, /* a new master key, every key re-wrapped */
};
const char *kh_purpose_name(int purpose);

struct kh_share_fact {
    uint8_t x;                              /* share index, 1..255 */
    char custodian[KH_MAX_NAME_LEN + 1];
    uint8_t fpr[KH_SEAL_FPR_LEN];           /* custodian SPKI SHA-256 */
    uint8_t commitment[KH_SEAL_COMMIT_LEN];
};

/*
 * id[16] || u8 m || u8 n || u64 created || n x (u8 x || cstr custodian ||
 * fpr[32] || commitment[32]). 1 <= m <= n <= 255, x = 1..n in order.
 */
struct kh_ceremony_facts {
    uint8_t id[KH_SEAL_ID_LEN];
    uint8_t m;
    uint8_t n;
    uint64_t created;
    struct kh_share_fact shares[KH_SEAL_MAX_SHARES];
};
KH_MUST_CHECK int kh_facts_encode(struct kh_buf *b,
                                  const struct kh_ceremony_facts *m);
KH_MUST_CHECK int kh_facts_decode(struct kh_buf *b,
                                  struct kh_ceremony_facts *m);

/*
 * CEREMONY_INIT request (and the new share set of REKEY_PREPARE):
 * u8 threshold || u32 count || count x kh_operator. Operators with the
 * custodian role receive shares 1..N in the order given.
 */
struct kh_ceremony_init_request {
    uint8_t threshold;
    uint32_t n_ops;
    struct kh_operator ops[KH_MAX_OPERATORS];
};
KH_MUST_CHECK int kh_ceremony_init_encode(
    struct kh_buf *b, const struct kh_ceremony_init_request *m);
KH_MUST_CHECK int kh_ceremony_init_decode(struct kh_buf *b,
                                          struct kh_ceremony_init_request *m);

/*
 * CEREMONY_INIT reply (and REKEY_PREPARE's): facts || cstr version ||
 * sha256[32] || n x str box (box i holds share i + 1, label "share").
 */
struct kh_ceremony_init_reply {
    struct kh_ceremony_facts facts;
    char version[KH_MAX_VERSION_STR + 1];
    uint8_t sha256[KH_SEAL_SHA256_LEN]; /* of the keyholderd binary */
    uint8_t box[KH_SEAL_MAX_SHARES][KH_SEAL_MAX_BOX];
    size_t box_len[KH_SEAL_MAX_SHARES];
};
KH_MUST_CHECK int kh_ceremony_reply_encode(
    struct kh_buf *b, const struct kh_ceremony_init_reply *m);
KH_MUST_CHECK int kh_ceremony_reply_decode(
    struct kh_buf *b, struct kh_ceremony_init_reply *m);

/*
 * CEREMONY_INFO reply: facts || cstr version || sha256[32] || u32 count ||
 * count x kh_operator (every stored operator).
 */
struct kh_ceremony_info {
    struct kh_ceremony_facts facts;
    char version[KH_MAX_VERSION_STR + 1];
    uint8_t sha256[KH_SEAL_SHA256_LEN];
    uint32_t n_ops;
    struct kh_operator ops[KH_MAX_OPERATORS];
};
KH_MUST_CHECK int kh_ceremony_info_encode(struct kh_buf *b,
                                          const struct kh_ceremony_info *m);
KH_MUST_CHECK int kh_ceremony_info_decode(struct kh_buf *b,
                                          struct kh_ceremony_info *m);

/*
 * UNSEAL_SHARE request (inside an AUTHED envelope from the custodian):
 * u8 purpose || id[16] || u8 x || str box. The box holds the share's y
 * bytes for the daemon's per-boot key, label KH_UNSEAL_LABEL, AAD
 * kh_unseal_aad() with the envelope's nonce.
 */
struct kh_unseal_share {
    uint8_t purpose;
    uint8_t id[KH_SEAL_ID_LEN];
    uint8_t x;
    const uint8_t *box; /* borrowed */
    size_t box_len;
};
KH_MUST_CHECK int kh_unseal_share_encode(struct kh_buf *b,
                                         const struct kh_unseal_share *m);
KH_MUST_CHECK int kh_unseal_share_decode(struct kh_buf *b,
                                         struct kh_unseal_share *m);

/* UNSEAL_SHARE reply: u8 have || u8 m || u8 done. */
struct kh_unseal_progress {
    uint8_t have;
    uint8_t m;
    uint8_t done; /* the threshold was reached */
};
KH_MUST_CHECK int kh_unseal_progress_encode(
    struct kh_buf *b, const struct kh_unseal_progress *m);
KH_MUST_CHECK int kh_unseal_progress_decode(struct kh_buf *b,
                                            struct kh_unseal_progress *m);

/*
 * "keyholder-unseal-v1" || NUL || id || u8 x || custodian || NUL || nonce,
 * appended to |out|.
 */
KH_MUST_CHECK int kh_unseal_aad(struct kh_buf *out,
                                const uint8_t id[KH_SEAL_ID_LEN], uint8_t x,
                                const char *custodian,
                                const uint8_t nonce[KH_AUTH_NONCE_LEN]);

/*
 * UNSEAL_INFO reply: u8 state || str boot_spki (the per-boot EC P-256 key
 * shares are boxed to) || u8 has_ceremony || id[16] || u8 m || u8 purpose
 * (0 none) || u8 have || have x cstr custodian || u32 seconds_left ||
 * u8 pending (0 none, else the purpose of a prepared rekey/rotation) ||
 * u8 rekey_ready (1: M shares held for a rekey/rotation).
 */
struct kh_unseal_info {
    uint8_t state;
    size_t spki_len;
    uint8_t spki[KH_MAX_OP_SPKI_LEN];
    uint8_t has_ceremony;
    uint8_t id[KH_SEAL_ID_LEN];
    uint8_t m;
    uint8_t purpose;
    uint8_t have;
    char who[KH_SEAL_MAX_SHARES][KH_MAX_NAME_LEN + 1];
    uint32_t seconds_left;
    uint8_t pending;
    uint8_t rekey_ready;
};
KH_MUST_CHECK int kh_unseal_info_encode(struct kh_buf *b,
                                        const struct kh_unseal_info *m);
KH_MUST_CHECK int kh_unseal_info_decode(struct kh_buf *b,
                                        struct kh_unseal_info *m);

/* Lowercase hex of |n| bytes into |out| (2n + 1 bytes). */
void kh_hex(const uint8_t *p, size_t n, char *out);

#endif /* KH_SEAL_H */
