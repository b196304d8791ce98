/*
 * khd_audit.h - keyholderd's tamper-evident audit trail (keystore/AUDIT.md).
 *
 * Every dispatched request becomes one entry: the dispatcher opens a
 * request scope (khd_audit_begin) before calling the handler and closes it
 * with the result (khd_audit_end). Code deeper down annotates the current
 * request's entry with khd_audit_note_*(): the scope is a thread-local
 * pointer, which is safe because each request is handled start to finish
 * on one connection thread (khd_server.c), and the scope never outlives
 * khd_dispatch(). Outside a scope the notes do nothing.
 *
 * One writer thread group-commits queued entries (one LMDB transaction,
 * one fdatasync per batch), chains their hashes and adds a checkpoint
 * signed by the audit key every N entries or T seconds while unsealed.
 * audit=sync requests (the default, and every non-key operation) get their
 * reply only once their entry is durable; audit=batched ones within 100 ms.
 */
#ifndef KHD_AUDIT_H
#define KHD_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "kh_audit.h"
#include "kh_err.h"
#include "khd_db.h"
#include "khd_wrap.h"

struct khd_peer;
struct khd_audit;

struct khd_audit_config {
    uint32_t checkpoint_every; /* entries; 0 = default 1000 */
    uint32_t checkpoint_secs;  /* seconds; 0 = default 60 */
    int syslog;                /* send each committed entry to syslog */
    const char *syslog_socket; /* its datagram socket; NULL = /dev/log */
};

/* One request's entry while it is being handled (lives in khd_dispatch). */
struct khd_audit_req {
    struct kh_audit_entry e;
    uint8_t mode;     /* enum kh_audit_mode */
    int category_set; /* a note chose the category */
    int continuation; /* a follow session's next read: no entry if OK */
};

/*
 * Opens the trail in |db|: recovers the chain head, and appends a start
 * entry, or a gap marker after an unclean stop, durably.
 */
KH_MUST_CHECK int khd_audit_open(struct khd_db *db,
                                 const struct khd_audit_config *cfg,
                                 struct khd_audit **out);
/*
 * Starts the writer thread. Call after the seccomp filter is loaded (a
 * filter binds only the threads started after it). Until then each entry
 * is committed by the thread that submits it.
 */
KH_MUST_CHECK int khd_audit_start(struct khd_audit *a);
/* Commits what is queued, records a clean stop, stops the writer. */
void khd_audit_close(struct khd_audit *a);

/*- Request scope (the dispatcher) ---------------------------------- */

void khd_audit_begin(struct khd_audit_req *q, const struct khd_peer *p,
                     const char *op, uint8_t category);
/*
 * Closes the scope with |result| and |reason|, queues the entry and, for
 * audit=sync, waits until it is durable. Returns 0, or KH_ERR_AUDIT when
 * the entry could not be made durable (the caller must not get a success).
 */
KH_MUST_CHECK int khd_audit_end(struct khd_audit *a, struct khd_audit_req *q,
                                int result, const char *reason);
/*
 * One entry for an event outside any request (undecodable frame...),
 * batched: it hands nothing out, so a flood costs no fdatasync per frame.
 */
void khd_audit_event(struct khd_audit *a, const struct khd_peer *p,
                     const char *op, uint8_t category, int result,
                     const char *reason);

/*- Annotations of the current request (no-ops outside a scope) ------ */

void khd_audit_note_key(const char *name, uint32_t version, uint8_t mode);
void khd_audit_note_data(const uint8_t *data, size_t len); /* SHA-256 */
void khd_audit_note_alg(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void khd_audit_note_alg_text(const char *text); /* the same, no format */
void khd_audit_note_category(uint8_t category);
/* The operation actually run (the request inside an AUTHED envelope). */
void khd_audit_note_op(const char *op, uint8_t category);
/* The operator whose signature over a fresh challenge was verified. */
void khd_audit_note_operator(const char *name);

/*- Audit key: ECDSA P-256, wrapped under the KEK in meta "audit.key" - */

/*
 * Generates the audit key, stores it wrapped under |kek| and its public key,
 * and loads it. For dev init and the key ceremony (h5b). Refuses to replace
 * an existing key (KH_ERR_KEY_EXISTS).
 */
KH_MUST_CHECK int khd_audit_key_create(struct khd_audit *a,
                                       const struct khd_kek *kek);
/* On unseal: loads the stored key (none yet: 0 without a key). */
KH_MUST_CHECK int khd_audit_key_load(struct khd_audit *a,
                                     const struct khd_kek *kek);
/*
 * rotate-master: re-wraps the stored audit key from |old| to |new_kek|
 * inside the caller's write transaction |w| (none stored: 0).
 */
KH_MUST_CHECK int khd_audit_key_rewrap(struct khd_db_write *w,
                                       const struct khd_kek *old,
                                       const struct khd_kek *new_kek);
/* On seal: wipes the key; entries keep chaining, unsigned. */
void khd_audit_key_unload(struct khd_audit *a);
/*
 * The audit public key (SPKI DER) into |out|: 0, or KH_ERR_NOT_FOUND when
 * no key exists yet. Readable while sealed.
 */
KH_MUST_CHECK int khd_audit_pubkey(struct khd_audit *a, uint8_t *out,
                                   size_t cap, size_t *len);
/* The last durable seq (0 if none). */
uint64_t khd_audit_head(struct khd_audit *a);

/*- Reading and archiving ------------------------------------------ */

/*
 * Appends the AUDIT_READ reply body for entries from |from| to |reply|,
 * read by |p|. A read that continues exactly where |p|'s previous read
 * ended (same uid, pid and operator, within a minute) belongs to the same
 * export or follow session: it gets no audit entry of its own when it
 * succeeds (the session's first read has one), so a follower polling
 * twice a second does not fill the trail, and each of its fdatasyncs,
 * with its own reads.
 */
KH_MUST_CHECK int khd_audit_read(struct khd_audit *a,
                                 const struct khd_peer *p, uint64_t from,
                                 uint32_t max, struct kh_buf *reply);
/*
 * Drops entries below |before| after signing an anchor (needs the key,
 * so the unsealed state); appends an anchor entry to the chain.
 */
KH_MUST_CHECK int khd_audit_archive(struct khd_audit *a, uint64_t before,
                                    uint64_t *dropped, char *why,
                                    size_t whylen);

#endif /* KHD_AUDIT_H */
