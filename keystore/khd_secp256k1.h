/*
 * khd_secp256k1.h - secp256k1 keys for khd_keys.c, through libsecp256k1:
 * RFC 6979 nonces, low-S signatures, DER output that OpenSSL verifies.
 *
 * One process-wide context, created and randomised by khd_secp256k1_init()
 * before any thread signs; libsecp256k1 only reads it afterwards, so many
 * threads may sign at once. The 32-byte secret lives in the OpenSSL secure
 * heap. Only khd_keys.c calls these; it checks the sign parameters' overall
 * combination, these functions check what they rely on themselves.
 */
#ifndef KHD_SECP256K1_H
#define KHD_SECP256K1_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "kh_err.h"

#define KHD_SECP256K1_SECRET_LEN 32
#define KHD_SECP256K1_SIG_MAX 72  /* DER ECDSA-Sig-Value, 2 x 33-byte INTEGER */
#define KHD_SECP256K1_SPKI_LEN 88 /* id-ecPublicKey, secp256k1, 65-byte point */

struct khd_secp256k1_key;

/* Creates and randomises the context; 0 at once if it already exists. */
KH_MUST_CHECK int khd_secp256k1_init(void);
/* Destroys the context; a no-op if there is none. */
void khd_secp256k1_cleanup(void);

/* A fresh key from RAND_priv_bytes(). */
KH_MUST_CHECK int khd_secp256k1_generate(struct khd_secp256k1_key **out);
/*
 * A key from its 32-byte secret. KH_ERR_TAMPERED if |len| is not 32 or the
 * secret is not in [1, n-1].
 */
KH_MUST_CHECK int khd_secp256k1_import(const uint8_t *sec, size_t len,
                                       struct khd_secp256k1_key **out);
/* The 32-byte secret in the secure heap; OPENSSL_secure_clear_free() it. */
KH_MUST_CHECK int khd_secp256k1_export(const struct khd_secp256k1_key *k,
                                       uint8_t **sec, size_t *len);
/* X.509 SubjectPublicKeyInfo DER (88 bytes) into |out| of |outsz| bytes. */
KH_MUST_CHECK int khd_secp256k1_spki(const struct khd_secp256k1_key *k,
                                     uint8_t *out, size_t outsz,
                                     size_t *outlen);
/*
 * Signs |data|: a message hashed here with |md| (|digest_input| 0), or a
 * digest of |md| (|digest_input| 1; its length must be the digest size).
 * Longer digests are truncated to their leftmost 32 bytes (ECDSA bits2int).
 * |sig| holds |*siglen| bytes on entry and must have room for
 * KHD_SECP256K1_SIG_MAX, else KH_ERR_NO_SPACE and nothing is written.
 */
KH_MUST_CHECK int khd_secp256k1_sign(const struct khd_secp256k1_key *k,
                                     const EVP_MD *md, int digest_input,
                                     const uint8_t *data, size_t len,
                                     uint8_t *sig, size_t *siglen);
/* Wipes and frees; NULL is a no-op. */
void khd_secp256k1_free(struct khd_secp256k1_key *k);

#endif /* KHD_SECP256K1_H */
