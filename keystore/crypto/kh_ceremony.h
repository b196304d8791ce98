/*
 * kh_ceremony.h - the key ceremony's files: share files, the ceremony
 * record, and the bytes that bind them (AAD, commitments, signed bytes).
 *
 * Both files are canonical JSON (kh_json.h). Decoding is strict: after a
 * successful parse the struct is encoded again and the input must equal
 * that encoding byte for byte, so any changed byte, even whitespace, is
 * refused (KH_ERR_INVALID_FORMAT), and what verifies is exactly what was
 * signed.
 *
 * Share file (DIR/share-NAME.json, mode 0600), members in this order:
 *   "type": "keyholder-share", "version": 1, "ceremony_id": hex(16),
 *   "index": x (1..255), "threshold": M, "shares": N, "custodian": NAME,
 *   "custodian_spki_sha256": hex(32), "commitment": hex(32),
 *   "box": base64(kh_box of the share's y bytes, label KH_SHARE_BOX_LABEL,
 *           AAD kh_share_aad()).
 *
 * Ceremony record (DIR/ceremony.json), members in this order:
 *   "type": "keyholder-ceremony", "version": 1, "ceremony_id": hex(16),
 *   "kind": "init" | "rekey" | "rotate-master",
 *   "time": "YYYY-MM-DDTHH:MM:SSZ" (RFC 3339, UTC),
 *   "location", "note", "deviations": text (may be empty),
 *   "witnesses": [ text... ],
 *   "keyholderd": { "version": text, "sha256": hex(32) },
 *   "algorithms": { "secret_sharing": "shamir-gf256",
 *       "share_encryption": "ecies-p256/p384-hkdf-sha256-aes256gcm",
 *       "key_wrapping": "aes-256-gcm hkdf-sha256" },
 *   "threshold": M, "shares": N,
 *   "participants": [ { "name": NAME, "roles": [ role names in the order
 *       admin, approver, custodian, auditor ], "spki": base64(DER),
 *       and for custodians only: "share_index": x, "commitment": hex(32)
 *       } ... ],
 *   "audit_public_key": base64(SPKI DER) or "",
 *   "signatures": [ { "name": NAME, "algorithm": "ecdsa-sha256" |
 *       "ecdsa-sha384", "signature": base64(DER) } ... ]
 * Rules checked on decode and encode: 1 <= M <= N <= 255; names valid
 * (kh_name_valid) and distinct; every participant has at least one role;
 * exactly N custodians, with distinct share indexes 1..N; signatures in
 * participant order, at most one per participant, each by a participant.
 * A participant signs "keyholder-ceremony-v1" || NUL || the record's
 * canonical JSON without the "signatures" member (kh_ceremony_signed_bytes),
 * with ECDSA over SHA-256 for a P-256 key, SHA-384 for a P-384 key.
 */
#ifndef KH_CEREMONY_H
#define KH_CEREMONY_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "kh_box.h"
#include "kh_buf.h"
#include "kh_err.h"
#include "kh_proto.h"
#include "kh_shamir.h"

#define KH_CEREMONY_VERSION 1
#define KH_SHARE_VERSION 1
#define KH_CEREMONY_ID_LEN 16
#define KH_FPR_LEN 32           /* SHA-256 of an SPKI */
#define KH_COMMITMENT_LEN 32
#define KH_SHARE_BOX_LABEL "share"
/* A box of a share of up to KH_SHAMIR_MAX_SECRET bytes to a P-384 key. */
#define KH_SHARE_BOX_MAX (2 + 97 + 12 + KH_SHAMIR_MAX_SECRET + 16)
#define KH_SHARE_FILE_MAX 4096
#define KH_CEREMONY_FILE_MAX (1024u * 1024)
#define KH_CEREMONY_MAX_PARTICIPANTS 300 /* up to 255 custodians + others */
#define KH_CEREMONY_MAX_WITNESSES 32
#define KH_CEREMONY_MAX_WITNESS 128     /* bytes of one witness's name */
#define KH_CEREMONY_MAX_TEXT 1024       /* location, note */
#define KH_CEREMONY_MAX_DEVIATIONS 4096
#define KH_CEREMONY_MAX_VERSION 31      /* keyholderd version string */
#define KH_CEREMONY_MAX_SIG 160         /* ECDSA P-384 DER is <= 104 */
#define KH_CEREMONY_TIME_LEN 20         /* "2026-11-22T15:00:00Z" */

#define KH_CEREMONY_ALG_SHARING "shamir-gf256"
#define KH_CEREMONY_ALG_SHARE_ENC "ecies-p256/p384-hkdf-sha256-aes256gcm"
#define KH_CEREMONY_ALG_WRAP "aes-256-gcm hkdf-sha256"

/* A share file, decoded. */
struct kh_share_file {
    uint8_t ceremony_id[KH_CEREMONY_ID_LEN];
    uint8_t index;                       /* x, 1..255 */
    unsigned threshold;                  /* M */
    unsigned count;                      /* N */
    char custodian[KH_MAX_NAME_LEN + 1];
    uint8_t custodian_fpr[KH_FPR_LEN];   /* SHA-256 of the custodian SPKI */
    uint8_t commitment[KH_COMMITMENT_LEN];
    uint8_t box[KH_SHARE_BOX_MAX];
    size_t box_len;
};

/* Canonical JSON of |s| appended to |out|. */
KH_MUST_CHECK int kh_share_file_encode(const struct kh_share_file *s,
                                       struct kh_buf *out);
/* Strict decode (canonical bytes only) of |len| bytes at |d|. */
KH_MUST_CHECK int kh_share_file_decode(const uint8_t *d, size_t len,
                                       struct kh_share_file *s);

/*
 * The share box's AAD: "keyholder-share-v1" || NUL || ceremony id ||
 * u8 index || custodian name (no terminator), appended to |out|.
 */
KH_MUST_CHECK int kh_share_aad(const uint8_t id[KH_CEREMONY_ID_LEN],
                               uint8_t index, const char *custodian,
                               struct kh_buf *out);

/*
 * Commitment to share (x, y): SHA-256("keyholder-share-commit-v1" || NUL ||
 * ceremony id || u8 x || custodian SPKI fingerprint || y).
 */
KH_MUST_CHECK int kh_share_commitment(const uint8_t id[KH_CEREMONY_ID_LEN],
                                      uint8_t x,
                                      const uint8_t fpr[KH_FPR_LEN],
                                      const uint8_t *y, size_t ylen,
                                      uint8_t out[KH_COMMITMENT_LEN]);

/* SHA-256 of a DER SPKI. */
KH_MUST_CHECK int kh_spki_fingerprint(const uint8_t *spki, size_t len,
                                      uint8_t out[KH_FPR_LEN]);

enum kh_ceremony_kind {
    KH_CEREMONY_INIT = 1,
    KH_CEREMONY_REKEY = 2,
    KH_CEREMONY_ROTATE_MASTER = 3,
};

struct kh_ceremony_participant {
    char name[KH_MAX_NAME_LEN + 1];
    unsigned roles;                      /* enum kh_role bits, not 0 */
    uint8_t spki[KH_MAX_SPKI_LEN];       /* DER SubjectPublicKeyInfo */
    size_t spki_len;
    uint8_t share_index;                 /* custodians: x; others 0 */
    uint8_t commitment[KH_COMMITMENT_LEN]; /* custodians only */
};

struct kh_ceremony_signature {
    char name[KH_MAX_NAME_LEN + 1];      /* a participant */
    char algorithm[16];                  /* "ecdsa-sha256" "ecdsa-sha384" */
    uint8_t sig[KH_CEREMONY_MAX_SIG];    /* DER ECDSA-Sig-Value */
    size_t sig_len;
};

/* Large (participants inline): allocate with kh_ceremony_record_new(). */
struct kh_ceremony_record {
    uint8_t ceremony_id[KH_CEREMONY_ID_LEN];
    int kind;                            /* enum kh_ceremony_kind */
    char time[KH_CEREMONY_TIME_LEN + 1]; /* RFC 3339 UTC, seconds, 'Z' */
    char location[KH_CEREMONY_MAX_TEXT + 1];
    char note[KH_CEREMONY_MAX_TEXT + 1];
    char deviations[KH_CEREMONY_MAX_DEVIATIONS + 1];
    char witnesses[KH_CEREMONY_MAX_WITNESSES][KH_CEREMONY_MAX_WITNESS + 1];
    unsigned n_witnesses;
    char khd_version[KH_CEREMONY_MAX_VERSION + 1];
    uint8_t khd_sha256[32];              /* of the keyholderd binary */
    unsigned threshold;                  /* M */
    unsigned count;                      /* N */
    struct kh_ceremony_participant participants[KH_CEREMONY_MAX_PARTICIPANTS];
    unsigned n_participants;
    uint8_t audit_spki[KH_MAX_SPKI_LEN]; /* empty until the audit key */
    size_t audit_spki_len;
    struct kh_ceremony_signature sigs[KH_CEREMONY_MAX_PARTICIPANTS];
    unsigned n_sigs;
};

/* Zeroed record (heap), or NULL. */
struct kh_ceremony_record *kh_ceremony_record_new(void);
void kh_ceremony_record_free(struct kh_ceremony_record *rec);

/* "init" / "rekey" / "rotate-master", or NULL. */
const char *kh_ceremony_kind_name(int kind);
/* "2026-11-22T15:00:00Z" for |t| (seconds since the epoch). */
void kh_ceremony_format_time(uint64_t t, char out[KH_CEREMONY_TIME_LEN + 1]);

/* Canonical JSON (with the signatures) appended to |out|. */
KH_MUST_CHECK int kh_ceremony_encode(const struct kh_ceremony_record *rec,
                                     struct kh_buf *out);
/* "keyholder-ceremony-v1" || NUL || JSON without signatures, to |out|. */
KH_MUST_CHECK int kh_ceremony_signed_bytes(
    const struct kh_ceremony_record *rec, struct kh_buf *out);
/* Strict decode (checks the rules above and canonical bytes). */
KH_MUST_CHECK int kh_ceremony_decode(const uint8_t *d, size_t len,
                                     struct kh_ceremony_record *rec);

/* Index of the participant |name|, or -1. */
int kh_ceremony_find(const struct kh_ceremony_record *rec, const char *name);

/*
 * Signs the record as participant |name| with |key| (any provider) and
 * inserts or replaces that participant's signature, keeping participant
 * order. KH_ERR_NOT_FOUND for an unknown name, KH_ERR_AUTH_FAILED when
 * the key's public half is not the participant's SPKI, KH_ERR_UNSUPPORTED
 * for a key that is not EC P-256 or P-384.
 */
KH_MUST_CHECK int kh_ceremony_sign(struct kh_ceremony_record *rec,
                                   const char *name, EVP_PKEY *key);

/*
 * Checks participant |i|'s signature against its SPKI in the record:
 * 0 valid, KH_ERR_NOT_FOUND no signature, KH_ERR_AUTH_FAILED wrong
 * signature or algorithm, KH_ERR_UNSUPPORTED a key that is not EC P-256
 * or P-384.
 */
KH_MUST_CHECK int kh_ceremony_check_signature(
    const struct kh_ceremony_record *rec, unsigned i);

#endif /* KH_CEREMONY_H */
