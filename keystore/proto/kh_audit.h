/*
 * kh_audit.h - the audit trail's entry codec, hash chain, JSON lines and
 * verifier (keystore/AUDIT.md). Shared by keyholderd, khadmin and the
 * fuzzers; no daemon state, no LMDB.
 *
 * An entry is encoded canonically (kh_audit_entry_encode); its hash is
 *     SHA-256("keyholder/audit/entry/v1" || NUL || prev_hash || encoding)
 * so each entry commits to the whole chain before it. A stored entry is
 *     prev_hash[32] || hash[32] || encoding     (struct kh_audit_rec)
 * Checkpoint and anchor entries carry an ECDSA P-256 signature by the
 * daemon's audit key over a statement (kh_audit_statement).
 */
#ifndef KH_AUDIT_H
#define KH_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kh_buf.h"
#include "kh_err.h"
#include "kh_proto.h"

#define KH_AUDIT_VERSION 1
#define KH_AUDIT_HASH_LEN 32
#define KH_AUDIT_MAX_EXE 4096
#define KH_AUDIT_MAX_OP 32
#define KH_AUDIT_MAX_ALG 128
#define KH_AUDIT_MAX_SIG 160 /* DER ECDSA P-256 is at most 72 */
#define KH_AUDIT_MAX_ENC (8u * 1024)
#define KH_AUDIT_MAX_REC (2 * KH_AUDIT_HASH_LEN + KH_AUDIT_MAX_ENC)
/* A JSON line: every field escaped at worst 6x, plus hex of the encoding. */
#define KH_AUDIT_MAX_LINE (64u * 1024)

enum kh_audit_kind {
    KH_AUDIT_EVENT = 1,      /* a request, refusal or failure */
    KH_AUDIT_CHECKPOINT = 2, /* signs (seq - 1, prev_hash, time) */
    KH_AUDIT_GAP = 3,        /* after an unclean stop: aux = may be missing */
    KH_AUDIT_ANCHOR = 4,     /* entries < subj_seq archived; signed */
    KH_AUDIT_START = 5,      /* daemon started (clean previous stop) */
};

enum kh_audit_category {
    KH_AUDIT_CAT_AUTH = 1,
    KH_AUDIT_CAT_POLICY = 2,
    KH_AUDIT_CAT_LIFECYCLE = 3,
    KH_AUDIT_CAT_ADMIN = 4,
    KH_AUDIT_CAT_SEAL = 5,
    KH_AUDIT_CAT_SIGN = 6,
    KH_AUDIT_CAT_READ = 7,
    KH_AUDIT_CAT_PROTOCOL = 8, /* undecodable frames, unknown types */
    KH_AUDIT_CAT_AUDIT = 9,    /* the trail itself: checkpoints, gaps */
};
#define KH_AUDIT_CAT_MAX KH_AUDIT_CAT_AUDIT

/* syslog(3) severities, so a SIEM maps them directly. */
enum kh_audit_severity {
    KH_AUDIT_SEV_ERR = 3,
    KH_AUDIT_SEV_WARNING = 4,
    KH_AUDIT_SEV_NOTICE = 5,
    KH_AUDIT_SEV_INFO = 6,
};

/* Per-key durability of its entries (stored in the key's metadata). */
enum kh_audit_mode {
    KH_AUDIT_SYNC = 0,    /* reply only once the entry is durable */
    KH_AUDIT_BATCHED = 1, /* durable within 100 ms */
};

struct kh_audit_entry {
    uint64_t seq;
    uint64_t time_ns; /* UTC, since the epoch */
    uint8_t kind;
    uint8_t category;
    uint8_t severity;
    uint32_t uid, gid, pid;
    char exe[KH_AUDIT_MAX_EXE + 1];
    char operator_name[KH_MAX_NAME_LEN + 1];
    char op[KH_AUDIT_MAX_OP + 1];
    char key[KH_MAX_NAME_LEN + 1];
    uint32_t key_version;
    uint8_t has_data;
    uint8_t data_sha256[32];
    char alg[KH_AUDIT_MAX_ALG + 1];
    int32_t result; /* 0 or a negative KH_ERR_* */
    char reason[KH_MAX_REASON_LEN + 1];
    uint64_t subj_seq; /* checkpoint: seq - 1; anchor: first kept seq */
    uint8_t subj_hash[KH_AUDIT_HASH_LEN];
    size_t sig_len;
    uint8_t sig[KH_AUDIT_MAX_SIG];
    uint64_t aux; /* gap: entries that may be missing */
};

/* A stored entry: the chain links around the encoding. */
struct kh_audit_rec {
    uint8_t prev[KH_AUDIT_HASH_LEN];
    uint8_t hash[KH_AUDIT_HASH_LEN];
    const uint8_t *enc; /* borrowed */
    size_t enc_len;
};

const char *kh_audit_kind_name(int kind);
const char *kh_audit_category_name(int cat);
const char *kh_audit_severity_name(int sev);

KH_MUST_CHECK int kh_audit_entry_encode(struct kh_buf *b,
                                        const struct kh_audit_entry *e);
/* The whole reader must be one entry (trailing bytes refused). */
KH_MUST_CHECK int kh_audit_entry_decode(struct kh_buf *b,
                                        struct kh_audit_entry *e);

/* SHA-256(data): an entry's data_sha256. */
KH_MUST_CHECK int kh_audit_data_hash(const uint8_t *data, size_t len,
                                     uint8_t out[KH_AUDIT_HASH_LEN]);

/* hash = SHA-256(label || NUL || prev || enc). */
KH_MUST_CHECK int kh_audit_hash(const uint8_t prev[KH_AUDIT_HASH_LEN],
                                const uint8_t *enc, size_t len,
                                uint8_t out[KH_AUDIT_HASH_LEN]);

/* prev || hash || enc; the parse borrows |p|. */
KH_MUST_CHECK int kh_audit_rec_encode(struct kh_buf *b,
                                      const struct kh_audit_rec *r);
KH_MUST_CHECK int kh_audit_rec_parse(const uint8_t *p, size_t len,
                                     struct kh_audit_rec *r);

/*
 * The signed statement of a checkpoint (label .../checkpoint/v1: the last
 * covered seq and its hash) or an anchor (.../anchor/v1: the first kept seq
 * and the hash before it), with the entry's time.
 */
KH_MUST_CHECK int kh_audit_statement(int kind, uint64_t seq,
                                     const uint8_t hash[KH_AUDIT_HASH_LEN],
                                     uint64_t time_ns, struct kh_buf *out);

/*
 * One JSON line (no newline) for |rec|: readable fields, then "prev_hash",
 * "hash" and "entry" (the hex encoding). Verifiers re-render the decoded
 * entry and compare byte for byte, so no readable field can be edited.
 */
KH_MUST_CHECK int kh_audit_json_line(const struct kh_audit_rec *rec,
                                     const struct kh_audit_entry *e,
                                     struct kh_buf *out);
/*
 * Parses an exported line back into |rec| (enc points into |encbuf|, a
 * writer of KH_AUDIT_MAX_ENC) and |e|, and checks that it is exactly the
 * canonical rendering. KH_ERR_INVALID_FORMAT otherwise. Untrusted input.
 */
KH_MUST_CHECK int kh_audit_json_parse(const char *line, size_t len,
                                      struct kh_buf *encbuf,
                                      struct kh_audit_rec *rec,
                                      struct kh_audit_entry *e);

/*
 * What stays of an archived prefix: entries before |seq| were archived and
 * |hash| is the hash of seq - 1, signed (anchor statement) at |time_ns|.
 * Binary: u64 seq || u64 time_ns || hash[32] || str sig. JSON line:
 * {"anchor_seq":S,"anchor_time_ns":T,"anchor_hash":"hex","anchor_sig":"hex"}
 */
struct kh_audit_anchor {
    uint64_t seq;
    uint64_t time_ns;
    uint8_t hash[KH_AUDIT_HASH_LEN];
    size_t sig_len;
    uint8_t sig[KH_AUDIT_MAX_SIG];
};
KH_MUST_CHECK int kh_audit_anchor_encode(struct kh_buf *b,
                                         const struct kh_audit_anchor *a);
KH_MUST_CHECK int kh_audit_anchor_decode(struct kh_buf *b,
                                         struct kh_audit_anchor *a);
KH_MUST_CHECK int kh_audit_anchor_json(const struct kh_audit_anchor *a,
                                       struct kh_buf *out);
/* Exactly the canonical rendering, else KH_ERR_INVALID_FORMAT. */
KH_MUST_CHECK int kh_audit_anchor_json_parse(const char *line, size_t len,
                                             struct kh_audit_anchor *a);

/*
 * AUDIT_READ reply (PROTOCOL.md): this header, then |count| x
 * (u64 seq || str stored entry), each at most KH_AUDIT_MAX_REC + 1 bytes.
 *     u64 first || u64 head || u8 has_anchor || [anchor] || str spki ||
 *     u8 more || u32 count
 */
struct kh_audit_page {
    uint64_t first;   /* lowest stored seq, 0 if none */
    uint64_t head;    /* last durable seq */
    uint8_t has_anchor;
    struct kh_audit_anchor anchor;
    const uint8_t *spki; /* audit public key, may be empty; borrowed */
    size_t spki_len;
    uint8_t more;
    uint32_t count;
};
KH_MUST_CHECK int kh_audit_page_encode(struct kh_buf *b,
                                       const struct kh_audit_page *m);
/* Not the whole message: the entries follow. */
KH_MUST_CHECK int kh_audit_page_decode(struct kh_buf *b,
                                       struct kh_audit_page *m);
KH_MUST_CHECK int kh_audit_page_entry_decode(struct kh_buf *b, uint64_t *seq,
                                             const uint8_t **val,
                                             size_t *len);

/*- Verifier ----------------------------------------------------------- */

struct kh_audit_verifier {
    void *pubkey;          /* EVP_PKEY *, or NULL: signatures unchecked */
    int have_prev;         /* |prev| and |next_seq| are known */
    uint64_t next_seq;
    uint8_t prev[KH_AUDIT_HASH_LEN];
    uint64_t entries, checkpoints, anchors, gaps;
    uint64_t last_signed_seq; /* last seq covered by a checkpoint */
    uint64_t last_seq;
    uint64_t bad_seq; /* the first bad sequence number */
    char error[512];  /* why; empty while all is well */
};

/*
 * |spki|: the audit public key (DER SubjectPublicKeyInfo), or NULL to
 * refuse every signed entry ("no audit public key").
 */
KH_MUST_CHECK int kh_audit_verifier_init(struct kh_audit_verifier *v,
                                         const uint8_t *spki, size_t len);
void kh_audit_verifier_free(struct kh_audit_verifier *v);
/*
 * Starts the chain after an archived prefix: checks the anchor signature
 * over (first kept seq, hash before it) and trusts them.
 */
KH_MUST_CHECK int kh_audit_verify_anchor(struct kh_audit_verifier *v,
                                         uint64_t seq,
                                         const uint8_t hash[KH_AUDIT_HASH_LEN],
                                         uint64_t time_ns,
                                         const uint8_t *sig, size_t siglen);
/*
 * Feeds the next stored entry, stored under |key_seq|. Returns 0, or
 * KH_ERR_TAMPERED with v->bad_seq and v->error set (sticky).
 */
KH_MUST_CHECK int kh_audit_verify_next(struct kh_audit_verifier *v,
                                       uint64_t key_seq,
                                       const struct kh_audit_rec *rec);

/*- Text helpers ------------------------------------------------------- */

void kh_audit_hex(const uint8_t *p, size_t n, char *out); /* 2n+1 bytes */

#endif /* KH_AUDIT_H */
