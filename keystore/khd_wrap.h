/*
 * khd_wrap.h - key wrapping under the master key.
 *
 * The master key (32 random bytes) never wraps anything directly: HKDF-SHA256
 * derives a key-encryption key (KEK) and a check value from it, each with its
 * own label. A wrapped blob is
 *     u8 alg (1 = AES-256-GCM) || nonce[12] || ciphertext || tag[16]
 * and its AAD is chosen by the caller (khd_record binds the whole record
 * metadata). A blob that fails authentication is KH_ERR_TAMPERED.
 */
#ifndef KHD_WRAP_H
#define KHD_WRAP_H

#include <stddef.h>
#include <stdint.h>

#include "kh_buf.h"
#include "kh_err.h"

#define KHD_MASTER_KEY_LEN 32
#define KHD_CHECK_VALUE_LEN 32
#define KHD_WRAP_ALG_AES256GCM 1
#define KHD_WRAP_NONCE_LEN 12
#define KHD_WRAP_TAG_LEN 16
#define KHD_WRAP_OVERHEAD (1 + KHD_WRAP_NONCE_LEN + KHD_WRAP_TAG_LEN)
#define KHD_WRAP_MAX_PLAINTEXT (64u * 1024)

#define KHD_MAC_LEN 32

/*
 * The keys derived from the master key while unsealed: the KEK that wraps
 * private keys and a MAC key that authenticates other stored values
 * (certificates). Lives in the secure heap.
 */
struct khd_kek;

/* Derives the KEK and the MAC key from |master| (KHD_MASTER_KEY_LEN). */
KH_MUST_CHECK int khd_kek_derive(const uint8_t *master, struct khd_kek **out);
/* Wipes and frees; NULL is a no-op. */
void khd_kek_free(struct khd_kek *kek);

/*
 * The value stored beside the keys that tells whether a reconstructed master
 * key is the right one, without revealing it.
 */
KH_MUST_CHECK int khd_master_check_value(const uint8_t *master,
                                         uint8_t out[KHD_CHECK_VALUE_LEN]);

/*
 * HMAC-SHA256 under the derived MAC key over |label| || NUL || |a| || NUL
 * || |b|, so a value is bound to its label and to |a| (e.g. a key name).
 */
KH_MUST_CHECK int khd_mac(const struct khd_kek *kek, const char *label,
                          const uint8_t *a, size_t alen, const uint8_t *b,
                          size_t blen, uint8_t out[KHD_MAC_LEN]);

/* Appends the wrapped form of |pt| to |out|. */
KH_MUST_CHECK int khd_wrap(const struct khd_kek *kek, const uint8_t *aad,
                           size_t aadlen, const uint8_t *pt, size_t ptlen,
                           struct kh_buf *out);
/*
 * Authenticates and decrypts |blob|. |*pt| is in the secure heap; release it
 * with OPENSSL_secure_clear_free(*pt, *ptlen). KH_ERR_TAMPERED when the blob,
 * the AAD or the KEK do not match.
 */
KH_MUST_CHECK int khd_unwrap(const struct khd_kek *kek, const uint8_t *aad,
                             size_t aadlen, const uint8_t *blob,
                             size_t bloblen, uint8_t **pt, size_t *ptlen);

#endif /* KHD_WRAP_H */
