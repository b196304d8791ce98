/*
 * kh_proto.h - the Keyholder wire protocol (see keystore/PROTOCOL.md).
 *
 * Frame: u32 len || u8 version || u8 type || u32 request_id || body, where
 * len counts the bytes after itself and is checked against KH_MAX_FRAME_LEN
 * before anything is allocated. Requests use types 0x01..0x7e; a successful
 * reply has the request's type | 0x80; KH_MSG_ERROR carries an error code and
 * a short reason. Each message has an encode and a decode function; decode
 * fills a struct (copying what it keeps) and refuses trailing bytes. On
 * failure the reader's cursor is unchanged and the struct is undefined.
 *
 * The same kh_key_info codec is used for the metadata of stored key records.
 */
#ifndef KH_PROTO_H
#define KH_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "kh_buf.h"
#include "kh_err.h"

#define KH_PROTO_VERSION 1
#define KH_FRAME_HEADER_LEN 4          /* the u32 length */
#define KH_FRAME_PREFIX_LEN 6          /* version, type, request id */
#define KH_MAX_FRAME_LEN (256u * 1024) /* value of the length field */
#define KH_MAX_SIGN_DATA (240u * 1024) /* message or digest to sign */
#define KH_MAX_NAME_LEN 64
#define KH_MAX_ACL 32                  /* users and groups per key, each */
#define KH_MAX_SPKI_LEN 1024           /* RSA-4096 SPKI is 550 bytes */
#define KH_MAX_SIG_LEN 512             /* RSA-4096 */
#define KH_MAX_REASON_LEN 255
#define KH_MAX_VERSION_STR 31
#define KH_MAX_LIST_PAGE 64            /* keys per KEY_LIST reply */
#define KH_MAX_CERT_LEN 16384          /* X.509 certificate DER */

/*
 * Operator roles (DESIGN.md), a bit set. An operator is a person with an EC
 * key; separation of duties decides which roles one person may combine.
 */
enum kh_role {
    KH_ROLE_ADMIN = 1u << 0,     /* operators, roles, policies, lifecycle */
    KH_ROLE_APPROVER = 1u << 1,  /* approves signing requests */
    KH_ROLE_CUSTODIAN = 1u << 2, /* holds a master-key share */
    KH_ROLE_AUDITOR = 1u << 3,   /* reads and verifies the audit log */
};
#define KH_ROLE_ALL 0x0fu

enum kh_msg_type {
    KH_MSG_STATUS = 0x01,
    KH_MSG_INIT_DEV = 0x02,
    KH_MSG_SEAL = 0x03,
    KH_MSG_UNSEAL_DEV = 0x04,
    KH_MSG_KEY_GENERATE = 0x10,
    KH_MSG_KEY_LIST = 0x11,
    KH_MSG_KEY_INFO = 0x12,
    KH_MSG_KEY_SIGN = 0x13,
    KH_MSG_CERT_IMPORT = 0x14,
    KH_MSG_CERT_GET = 0x15,
    /* Operators, ceremony, unseal (0x20..0x3f; kh_auth.h, kh_ceremony_msg.h) */
    KH_MSG_AUTH_CHALLENGE = 0x20,
    KH_MSG_AUTHED = 0x21,
    KH_MSG_OPERATOR_ADD = 0x22,
    KH_MSG_OPERATOR_LIST = 0x23,
    KH_MSG_OPERATOR_REMOVE = 0x24,
    KH_MSG_CEREMONY_INIT = 0x25,
    KH_MSG_CEREMONY_INFO = 0x26,
    KH_MSG_UNSEAL_INFO = 0x27,
    KH_MSG_UNSEAL_SHARE = 0x28,
    KH_MSG_UNSEAL_RESET = 0x29,
    KH_MSG_REKEY_PREPARE = 0x2a,
    KH_MSG_REKEY_COMMIT = 0x2b,
    KH_MSG_REKEY_ABORT = 0x2c,
    KH_MSG_AUDIT_READ = 0x40,    /* entries from a seq, and the key */
    KH_MSG_AUDIT_ARCHIVE = 0x41, /* drop entries before a seq */
    KH_MSG_ERROR = 0x7f,
    KH_MSG_REPLY = 0x80, /* OR-ed into the request type */
};

enum kh_state {
    KH_STATE_UNINITIALIZED = 0,
    KH_STATE_SEALED = 1,
    KH_STATE_UNSEALED = 2,
};

enum kh_key_type {
    KH_KEY_RSA2048 = 1,
    KH_KEY_RSA3072 = 2,
    KH_KEY_RSA4096 = 3,
    KH_KEY_P256 = 4,
    KH_KEY_P384 = 5,
    KH_KEY_SECP256K1 = 6,
    KH_KEY_ED25519 = 7,
};
#define KH_KEY_TYPE_MAX KH_KEY_ED25519

enum kh_key_state {
    KH_KEY_ACTIVE = 1,
    KH_KEY_RETIRED = 2,
    KH_KEY_DESTROYED = 3,
};

enum kh_sign_input {
    KH_INPUT_MESSAGE = 1, /* daemon hashes (Ed25519: always) */
    KH_INPUT_DIGEST = 2,  /* data is a digest of the named algorithm */
};

enum kh_digest {
    KH_DIGEST_NONE = 0,
    KH_DIGEST_SHA256 = 1,
    KH_DIGEST_SHA384 = 2,
    KH_DIGEST_SHA512 = 3,
};
#define KH_DIGEST_MAX KH_DIGEST_SHA512

enum kh_padding {
    KH_PAD_NONE = 0, /* EC and Ed25519 */
    KH_PAD_PKCS1 = 1,
    KH_PAD_PSS = 2,
};

/* PSS salt length: an explicit byte count, or one of these. */
#define KH_PSS_SALT_DIGEST 0xffffffffu /* = digest length */
#define KH_PSS_SALT_MAX 0xfffffffeu    /* = maximum for the key */
#define KH_PSS_SALT_EXPLICIT_MAX 0xffffu

/*- Names ------------------------------------------------------------ */

/* "rsa:2048" ... "ed25519"; NULL for an unknown type. */
const char *kh_key_type_name(int type);
/* Returns 0 and sets |*type|, or KH_ERR_INVALID_ARGUMENT. */
KH_MUST_CHECK int kh_key_type_from_name(const char *name, uint8_t *type);
int kh_key_type_is_rsa(int type);
const char *kh_key_state_name(int state);
const char *kh_state_name(int state);
/* "sha256"...; NULL for NONE or unknown. */
const char *kh_digest_name(int digest);
KH_MUST_CHECK int kh_digest_from_name(const char *name, uint8_t *digest);
/* Digest output length in bytes, 0 for NONE or unknown. */
size_t kh_digest_len(int digest);
/*
 * A key name: 1..KH_MAX_NAME_LEN of [A-Za-z0-9._-], not starting with '.'
 * or '-'. Returns 1 if valid.
 */
int kh_name_valid(const char *name);

/*- Framing ---------------------------------------------------------- */

struct kh_frame {
    uint8_t version;
    uint8_t type;
    uint32_t request_id;
    struct kh_buf body; /* reader over the frame's bytes */
};

/*
 * Checks the 4-byte length prefix. Returns 0 and the length of what follows,
 * KH_ERR_TOO_LARGE above KH_MAX_FRAME_LEN, KH_ERR_INVALID_FORMAT below the
 * fixed prefix.
 */
KH_MUST_CHECK int kh_frame_check_len(const uint8_t hdr[KH_FRAME_HEADER_LEN],
                                     uint32_t *len);
/*
 * Parses the bytes after the length prefix. KH_ERR_BAD_VERSION if the
 * version is not KH_PROTO_VERSION. |f->body| borrows |p|.
 */
KH_MUST_CHECK int kh_frame_decode(const uint8_t *p, size_t len,
                                  struct kh_frame *f);
/* Starts a frame in an empty writer; finish with kh_frame_end(). */
KH_MUST_CHECK int kh_frame_begin(struct kh_buf *out, uint8_t type,
                                 uint32_t request_id);
/* Fills in the length; KH_ERR_TOO_LARGE if the frame is over the limit. */
KH_MUST_CHECK int kh_frame_end(struct kh_buf *out);

/*- Messages --------------------------------------------------------- */

struct kh_error_reply {
    int code;                          /* negative KH_ERR_* */
    char reason[KH_MAX_REASON_LEN + 1];
};
KH_MUST_CHECK int kh_error_encode(struct kh_buf *b,
                                  const struct kh_error_reply *m);
KH_MUST_CHECK int kh_error_decode(struct kh_buf *b, struct kh_error_reply *m);

struct kh_status_reply {
    uint8_t state;           /* enum kh_state */
    uint8_t insecure_dev;    /* master key kept in the state dir */
    uint8_t secure_heap;     /* 1 ok, 2 no mlock/guard pages, 0 none */
    uint32_t key_count;      /* stored key versions */
    char version[KH_MAX_VERSION_STR + 1];
    uint64_t audit_head;     /* last durable audit seq */
    size_t audit_spki_len;   /* 0: no audit key yet */
    uint8_t audit_spki[KH_MAX_SPKI_LEN];
};
KH_MUST_CHECK int kh_status_encode(struct kh_buf *b,
                                   const struct kh_status_reply *m);
KH_MUST_CHECK int kh_status_decode(struct kh_buf *b,
                                   struct kh_status_reply *m);

struct kh_acl {
    uint32_t n_uids;
    uint32_t uids[KH_MAX_ACL];
    uint32_t n_gids;
    uint32_t gids[KH_MAX_ACL];
};

struct kh_keygen_request {
    char name[KH_MAX_NAME_LEN + 1];
    uint8_t type;
    struct kh_acl acl;
    uint8_t audit; /* enum kh_audit_mode: 0 sync, 1 batched */
};
KH_MUST_CHECK int kh_keygen_encode(struct kh_buf *b,
                                   const struct kh_keygen_request *m);
KH_MUST_CHECK int kh_keygen_decode(struct kh_buf *b,
                                   struct kh_keygen_request *m);

/* A key's public description: KEY_GENERATE/KEY_INFO replies, list items. */
struct kh_key_info {
    char name[KH_MAX_NAME_LEN + 1];
    uint32_t version;
    uint8_t type;
    uint8_t state;
    uint64_t created; /* seconds since the epoch, UTC */
    uint32_t owner_uid;
    struct kh_acl acl;
    size_t spki_len;
    uint8_t spki[KH_MAX_SPKI_LEN]; /* SubjectPublicKeyInfo DER */
    uint8_t audit; /* enum kh_audit_mode; in the record's AAD */
};
KH_MUST_CHECK int kh_key_info_encode(struct kh_buf *b,
                                     const struct kh_key_info *m);
KH_MUST_CHECK int kh_key_info_decode(struct kh_buf *b, struct kh_key_info *m);

/* KEY_INFO request: a name and a version (0 = newest active). */
struct kh_key_ref {
    char name[KH_MAX_NAME_LEN + 1];
    uint32_t version;
};
KH_MUST_CHECK int kh_key_ref_encode(struct kh_buf *b,
                                    const struct kh_key_ref *m);
KH_MUST_CHECK int kh_key_ref_decode(struct kh_buf *b, struct kh_key_ref *m);

/* KEY_LIST request: keys whose name sorts after |after| ("" = from start). */
struct kh_list_request {
    char after[KH_MAX_NAME_LEN + 1];
};
KH_MUST_CHECK int kh_list_request_encode(struct kh_buf *b,
                                         const struct kh_list_request *m);
KH_MUST_CHECK int kh_list_request_decode(struct kh_buf *b,
                                         struct kh_list_request *m);
/*
 * KEY_LIST reply: u8 more || u32 count || count x key_info (newest version
 * of each name). Encode the header, then each item with kh_key_info_encode.
 */
KH_MUST_CHECK int kh_list_reply_begin(struct kh_buf *b, uint8_t more,
                                      uint32_t count);
KH_MUST_CHECK int kh_list_reply_decode_header(struct kh_buf *b, uint8_t *more,
                                              uint32_t *count);

struct kh_sign_request {
    char name[KH_MAX_NAME_LEN + 1];
    uint32_t version;     /* 0 = newest active */
    uint8_t input;        /* enum kh_sign_input */
    uint8_t digest;       /* enum kh_digest */
    uint8_t padding;      /* enum kh_padding */
    uint8_t mgf1_digest;  /* PSS only; NONE = same as digest */
    uint32_t salt_len;    /* PSS only */
    const uint8_t *data;  /* borrowed from the decoded frame */
    size_t data_len;
};
KH_MUST_CHECK int kh_sign_request_encode(struct kh_buf *b,
                                         const struct kh_sign_request *m);
/*
 * Checks the fields' ranges, not their combination with a key type; that is
 * the daemon's job once it knows the key.
 */
KH_MUST_CHECK int kh_sign_request_decode(struct kh_buf *b,
                                         struct kh_sign_request *m);

struct kh_sign_reply {
    uint32_t version; /* the key version that signed */
    size_t sig_len;
    uint8_t sig[KH_MAX_SIG_LEN];
};
KH_MUST_CHECK int kh_sign_reply_encode(struct kh_buf *b,
                                       const struct kh_sign_reply *m);
KH_MUST_CHECK int kh_sign_reply_decode(struct kh_buf *b,
                                       struct kh_sign_reply *m);

/*
 * CERT_IMPORT request: name || str der (1..KH_MAX_CERT_LEN). The reply is
 * empty. The codec checks only the length; the daemon parses the DER.
 */
struct kh_cert_import_request {
    char name[KH_MAX_NAME_LEN + 1];
    const uint8_t *der;   /* borrowed from the decoded frame */
    size_t der_len;
};
KH_MUST_CHECK int kh_cert_import_encode(struct kh_buf *b,
                                        const struct kh_cert_import_request *m);
KH_MUST_CHECK int kh_cert_import_decode(struct kh_buf *b,
                                        struct kh_cert_import_request *m);

/* CERT_GET request: name. */
struct kh_cert_get_request {
    char name[KH_MAX_NAME_LEN + 1];
};
KH_MUST_CHECK int kh_cert_get_request_encode(
    struct kh_buf *b, const struct kh_cert_get_request *m);
KH_MUST_CHECK int kh_cert_get_request_decode(struct kh_buf *b,
                                             struct kh_cert_get_request *m);

/*
 * CERT_GET reply: u8 present (0 or 1) || str der. present 0 comes with an
 * empty der, present 1 with 1..KH_MAX_CERT_LEN bytes.
 */
struct kh_cert_get_reply {
    uint8_t present;
    const uint8_t *der;   /* borrowed from the decoded frame */
    size_t der_len;
};
KH_MUST_CHECK int kh_cert_get_reply_encode(struct kh_buf *b,
                                           const struct kh_cert_get_reply *m);
KH_MUST_CHECK int kh_cert_get_reply_decode(struct kh_buf *b,
                                           struct kh_cert_get_reply *m);

/* AUDIT_READ request: u64 from || u32 max (entries; capped by the daemon). */
struct kh_audit_read_request {
    uint64_t from;
    uint32_t max;
};
KH_MUST_CHECK int kh_audit_read_request_encode(
    struct kh_buf *b, const struct kh_audit_read_request *m);
KH_MUST_CHECK int kh_audit_read_request_decode(
    struct kh_buf *b, struct kh_audit_read_request *m);

/* AUDIT_ARCHIVE request: u64 before. Reply: u64 dropped. */
KH_MUST_CHECK int kh_audit_archive_encode(struct kh_buf *b, uint64_t before);
KH_MUST_CHECK int kh_audit_archive_decode(struct kh_buf *b, uint64_t *before);

#endif /* KH_PROTO_H */
