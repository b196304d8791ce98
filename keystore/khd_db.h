/*
 * khd_db.h - keyholderd's LMDB environment.
 *
 * Sub-databases: "meta" (small named values: check value, mode), "keys"
 * (key = name || NUL || u32 version big-endian, value = a khd_record) and
 * "certs" (key = key name, value = the certificate's DER; public data, not
 * wrapped, so khd_state checks it against the key on every read),
 * "operators" (name -> kh_operator: roles, EC public key). Each
 * function is one transaction: begin, copy what it needs out, commit or
 * abort. Commits are durable (synchronous) before the function returns, so
 * an acknowledged key survives a SIGKILL or power loss.
 */
#ifndef KHD_DB_H
#define KHD_DB_H

#include <stddef.h>
#include <stdint.h>

#include "kh_buf.h"
#include "kh_err.h"
#include "kh_auth.h"
#include "kh_proto.h"

struct khd_db;

/* Opens (creating if needed) the environment in directory |dir|. */
KH_MUST_CHECK int khd_db_open(const char *dir, struct khd_db **out);
void khd_db_close(struct khd_db *db);

/* Meta values: KH_ERR_NOT_FOUND if absent; value appended to |out|. */
KH_MUST_CHECK int khd_db_meta_get(struct khd_db *db, const char *key,
                                  struct kh_buf *out);
KH_MUST_CHECK int khd_db_meta_put(struct khd_db *db, const char *key,
                                  const void *val, size_t len);

/* Stores a new key version; KH_ERR_KEY_EXISTS if that version exists. */
KH_MUST_CHECK int khd_db_key_insert(struct khd_db *db, const char *name,
                                    uint32_t version, const void *rec,
                                    size_t len);
/*
 * Fetches the record of |name| at |version| (0: the highest version) into
 * |out| and its version into |*found|. KH_ERR_UNKNOWN_KEY if absent.
 */
KH_MUST_CHECK int khd_db_key_get(struct khd_db *db, const char *name,
                                 uint32_t version, struct kh_buf *out,
                                 uint32_t *found);
/*
 * The first key name sorting after |after| ("" = the first name) into
 * |next|. KH_ERR_NOT_FOUND past the last name.
 */
KH_MUST_CHECK int khd_db_key_next_name(struct khd_db *db, const char *after,
                                       char next[KH_MAX_NAME_LEN + 1]);
/*
 * Stores |der| as the certificate of key |name|, replacing any previous
 * one. The caller has checked the key and the certificate.
 */
KH_MUST_CHECK int khd_db_cert_put(struct khd_db *db, const char *name,
                                  const void *der, size_t len);
/*
 * Appends the certificate of key |name| to |out|. KH_ERR_NOT_FOUND if the
 * key has none, KH_ERR_NO_SPACE if it is larger than |out| may grow.
 */
KH_MUST_CHECK int khd_db_cert_get(struct khd_db *db, const char *name,
                                  struct kh_buf *out);
/*
 * Operators (table "operators": name -> kh_operator codec bytes).
 * khd_db_op_get: KH_ERR_NOT_FOUND if absent. khd_db_op_insert:
 * KH_ERR_KEY_EXISTS if the name is taken.
 */
KH_MUST_CHECK int khd_db_op_get(struct khd_db *db, const char *name,
                                struct kh_buf *out);
KH_MUST_CHECK int khd_db_op_insert(struct khd_db *db, const char *name,
                                   const void *val, size_t len);
/*
 * Deletes operator |name|; KH_ERR_NOT_FOUND if absent, KH_ERR_DENIED if it
 * holds a role in |keep| and no other operator does (the last admin).
 */
KH_MUST_CHECK int khd_db_op_remove(struct khd_db *db, const char *name,
                                   uint32_t keep);
/* Calls |fn| with every stored operator value in name order. */
KH_MUST_CHECK int khd_db_op_foreach(struct khd_db *db,
                                    int (*fn)(void *arg, const uint8_t *val,
                                              size_t len),
                                    void *arg);
/*
 * One write transaction over several tables, for changes that must land
 * together or not at all (ceremony init, rekey and rotation commits):
 * begin, put/del/get/rewrite, then commit (durable) or abort. Either way
 * |w| is freed. Keys are the tables' raw LMDB keys.
 */
enum khd_table {
    KHD_TABLE_META = 1,
    KHD_TABLE_KEYS = 2,
    KHD_TABLE_CERTS = 3,
    KHD_TABLE_OPERATORS = 4,
};
struct khd_db_write;
KH_MUST_CHECK int khd_db_write_begin(struct khd_db *db,
                                     struct khd_db_write **out);
KH_MUST_CHECK int khd_db_write_put(struct khd_db_write *w, int table,
                                   const void *key, size_t klen,
                                   const void *val, size_t vlen);
/* Deleting an absent key is not an error. */
KH_MUST_CHECK int khd_db_write_del(struct khd_db_write *w, int table,
                                   const void *key, size_t klen);
/* KH_ERR_NOT_FOUND if absent; the value is appended to |out|. */
KH_MUST_CHECK int khd_db_write_get(struct khd_db_write *w, int table,
                                   const void *key, size_t klen,
                                   struct kh_buf *out);
/*
 * Calls |fn| for every entry of |table|; a value |fn| writes into |newval|
 * replaces the entry's; KHD_DB_REWRITE_DELETE deletes the entry. Any other
 * non-zero return from |fn| stops and is returned.
 */
#define KHD_DB_REWRITE_DELETE 1
KH_MUST_CHECK int khd_db_write_rewrite(
    struct khd_db_write *w, int table,
    int (*fn)(void *arg, const uint8_t *key, size_t klen, const uint8_t *val,
              size_t vlen, struct kh_buf *newval),
    void *arg);
KH_MUST_CHECK int khd_db_write_commit(struct khd_db_write *w);
void khd_db_write_abort(struct khd_db_write *w);

/* Number of stored key versions. */
KH_MUST_CHECK int khd_db_key_count(struct khd_db *db, uint32_t *count);

/*
 * Audit trail: sub-database "audit", key = u64 big-endian seq, value = a
 * kh_audit_rec (prev hash || hash || entry encoding). Entries are only
 * appended (an existing seq is never overwritten) and dropped from the
 * front by an archive.
 */
struct khd_db_audit_put {
    uint64_t seq;
    const void *val;
    size_t len;
};
/*
 * One durable transaction: appends |n| entries and, if |meta_key| is not
 * NULL, sets that meta value (the chain head) with them.
 */
KH_MUST_CHECK int khd_db_audit_append(struct khd_db *db,
                                      const struct khd_db_audit_put *puts,
                                      size_t n, const char *meta_key,
                                      const void *meta_val, size_t meta_len);
/* The first (|last| 0) or last stored seq; KH_ERR_NOT_FOUND if none. */
KH_MUST_CHECK int khd_db_audit_bound(struct khd_db *db, int last,
                                     uint64_t *seq);
/*
 * Calls |cb| for stored entries from |from| on, in order, at most |max|
 * of them and |max_bytes| of values; |*more| says whether more remain. The
 * value is valid during the call only. A non-zero |cb| result stops and
 * is returned. A key that is not a seq is passed as UINT64_MAX.
 */
typedef int (*khd_db_audit_cb)(uint64_t seq, const uint8_t *val, size_t len,
                               void *arg);
KH_MUST_CHECK int khd_db_audit_read(struct khd_db *db, uint64_t from,
                                    uint32_t max, size_t max_bytes,
                                    khd_db_audit_cb cb, void *arg,
                                    int *more);
/* Drops entries below |before| and sets a meta value, in one txn. */
KH_MUST_CHECK int khd_db_audit_drop_before(struct khd_db *db, uint64_t before,
                                           const char *meta_key,
                                           const void *meta_val,
                                           size_t meta_len,
                                           uint64_t *dropped);

#endif /* KHD_DB_H */
