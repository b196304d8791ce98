/*
 * khd_keys.h - private keys inside keyholderd: generation, (de)serialisation
 * for wrapping, public key export and signing, for every Keyholder key type.
 *
 * RSA, P-256, P-384 and Ed25519 go through OpenSSL (EVP_PKEY); secp256k1
 * goes through libsecp256k1 (RFC 6979 nonces, low-S, DER output). Private
 * bytes only ever sit in the OpenSSL secure heap and are cleansed on free.
 * A struct khd_key's material is immutable after creation, so many threads
 * may sign with the same key at once (signing contexts are pooled per key
 * under a lock, khd_keys.c).
 */
#ifndef KHD_KEYS_H
#define KHD_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "kh_err.h"
#include "kh_proto.h"

struct khd_key;

/*
 * Once per process, before any other khd_key_* call and before threads:
 * creates and randomises the libsecp256k1 context. Returns 0 or KH_ERR_*.
 */
KH_MUST_CHECK int khd_keys_init(void);
void khd_keys_cleanup(void);

/* A fresh key of |type| (enum kh_key_type) from the OS RNG. */
KH_MUST_CHECK int khd_key_generate(uint8_t type, struct khd_key **out);

/*
 * Private key bytes to wrap: PKCS#8 DER for OpenSSL types, the 32-byte
 * secret for secp256k1. |*der| is in the secure heap; release it with
 * OPENSSL_secure_clear_free(*der, *len).
 */
KH_MUST_CHECK int khd_key_export_private(const struct khd_key *k,
                                         uint8_t **der, size_t *len);
/*
 * The inverse. Refuses (KH_ERR_TAMPERED) bytes that do not decode as a key
 * of exactly |type| (e.g. an RSA-2048 key labelled rsa:3072, a P-384 key
 * labelled P-256).
 */
KH_MUST_CHECK int khd_key_import_private(uint8_t type, const uint8_t *der,
                                         size_t len, struct khd_key **out);

/* SubjectPublicKeyInfo DER into |out| (cap |outsz|); |*outlen| its length. */
KH_MUST_CHECK int khd_key_public_spki(const struct khd_key *k, uint8_t *out,
                                      size_t outsz, size_t *outlen);

uint8_t khd_key_type(const struct khd_key *k);

struct khd_sign_params {
    uint8_t input;       /* KH_INPUT_MESSAGE or KH_INPUT_DIGEST */
    uint8_t digest;      /* enum kh_digest; NONE only for Ed25519 */
    uint8_t padding;     /* RSA: PKCS1 or PSS; others: NONE */
    uint8_t mgf1_digest; /* PSS: NONE means same as digest */
    uint32_t salt_len;   /* PSS: bytes, KH_PSS_SALT_DIGEST or _MAX */
};

/*
 * Signs |data|: the whole message (hashed here with |p->digest|; Ed25519
 * always takes the message and requires digest NONE) or a digest whose
 * length must equal kh_digest_len(p->digest). Output as OpenSSL expects it:
 * DER ECDSA-Sig-Value, raw RSA (modulus length), 64-byte Ed25519. |sig| has
 * room for |*siglen| bytes on entry (KH_MAX_SIG_LEN is always enough).
 * Combinations a key type does not support give KH_ERR_UNSUPPORTED or
 * KH_ERR_INVALID_ARGUMENT with nothing signed.
 */
KH_MUST_CHECK int khd_key_sign(struct khd_key *k,
                               const struct khd_sign_params *p,
                               const uint8_t *data, size_t len, uint8_t *sig,
                               size_t *siglen);

/* Wipes and frees; NULL is a no-op. */
void khd_key_free(struct khd_key *k);

#endif /* KHD_KEYS_H */
