/*
 * kh_box.h - public-key encryption of small secrets to an EC key (ECIES).
 *
 * Used to carry master-key shares: from keyholderd to each custodian's
 * operator key at the ceremony, and from the custodian's khadmin to the
 * daemon's per-boot key at unseal, so no plaintext share is ever written
 * to disk or crosses the socket.
 *
 * Construction (recipient key: EC P-256 or P-384):
 *   an ephemeral key pair on the recipient's curve; Z = ECDH(eph, recipient);
 *   K = HKDF-SHA256(ikm = Z, salt = eph_pub || recipient_pub,
 *                   info = "keyholder box v1" || NUL || label), 32 bytes;
 *   AES-256-GCM under K with a random 96-bit nonce and the caller's AAD.
 * Box bytes:
 *   u8 version (1) || u8 curve (1 = P-256, 2 = P-384) ||
 *   eph_pub (uncompressed point: 65 or 97 bytes) || nonce[12] ||
 *   ciphertext (= plaintext length) || tag[16].
 * The label separates uses ("share", "unseal"); the AAD binds the context
 * (ceremony id, share index, custodian name...). Opening with the wrong
 * key, label or AAD, or a changed byte, fails with KH_ERR_CRYPTO and
 * returns nothing.
 *
 * The private key for kh_box_open may live in any provider (a smart card
 * through pkcs11-provider): only EVP_PKEY_derive is used.
 */
#ifndef KH_BOX_H
#define KH_BOX_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "kh_buf.h"
#include "kh_err.h"

#define KH_BOX_VERSION 1
#define KH_BOX_MAX_PLAINTEXT 4096u
#define KH_BOX_MAX_LEN (2u + 97u + 12u + KH_BOX_MAX_PLAINTEXT + 16u)

/*
 * Appends the box of |pt| (at most KH_BOX_MAX_PLAINTEXT bytes) for the
 * public key |recipient| to |out|. KH_ERR_UNSUPPORTED for a key that is not
 * EC P-256 or P-384.
 */
KH_MUST_CHECK int kh_box_seal(EVP_PKEY *recipient, const char *label,
                              const uint8_t *aad, size_t aadlen,
                              const uint8_t *pt, size_t ptlen,
                              struct kh_buf *out);

/*
 * Opens |box| with the private key |priv|. On success |*pt| (|*ptlen|
 * bytes) is in the secure heap: release it with
 * OPENSSL_secure_clear_free(*pt, *ptlen). KH_ERR_INVALID_FORMAT for a
 * malformed box, KH_ERR_CRYPTO when it does not authenticate.
 */
KH_MUST_CHECK int kh_box_open(EVP_PKEY *priv, const char *label,
                              const uint8_t *aad, size_t aadlen,
                              const uint8_t *box, size_t boxlen,
                              uint8_t **pt, size_t *ptlen);

#endif /* KH_BOX_H */
