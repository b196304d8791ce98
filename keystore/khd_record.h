/*
 * khd_record.h - the stored form of one key version.
 *
 *     u32 magic "KHR1" || str metadata (kh_key_info codec) || str wrapped
 *
 * The wrapped private key's AAD is a label followed by the exact metadata
 * bytes, so changing any field on disk (name, version, type, state, owner,
 * ACL, public key) or moving a record under another LMDB key is detected
 * when the record is opened, and such a record is never used.
 */
#ifndef KHD_RECORD_H
#define KHD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "kh_buf.h"
#include "kh_proto.h"
#include "khd_wrap.h"

#define KHD_RECORD_MAGIC 0x4b485231u /* "KHR1" */
#define KHD_RECORD_MAX_LEN (80u * 1024)
/* khd_mac label of stored certificates: der || MAC(name, der). */
#define KHD_CERT_MAC_LABEL "keyholder/cert/v1"

/* Appends a record for |meta| with |priv| wrapped under |kek| to |out|. */
KH_MUST_CHECK int khd_record_seal(const struct khd_kek *kek,
                                  const struct kh_key_info *meta,
                                  const uint8_t *priv, size_t privlen,
                                  struct kh_buf *out);

/*
 * Parses and authenticates a record stored under (|name|, |version|).
 * Fills |meta|; if |priv| is not NULL also returns the private bytes in the
 * secure heap (OPENSSL_secure_clear_free(*priv, *privlen)). The record is
 * always authenticated, even when |priv| is NULL. KH_ERR_TAMPERED for a
 * malformed, altered or swapped record.
 */
KH_MUST_CHECK int khd_record_open(const struct khd_kek *kek,
                                  const uint8_t *rec, size_t len,
                                  const char *name, uint32_t version,
                                  struct kh_key_info *meta, uint8_t **priv,
                                  size_t *privlen);

#endif /* KHD_RECORD_H */
