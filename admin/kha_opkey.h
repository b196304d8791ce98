/*
 * kha_opkey.h - loading an operator's private key for khadmin: a PEM file
 * (passphrase-protected or not) or any URI OpenSSL's OSSL_STORE loads (a
 * smart card through another provider).
 *
 * Passphrase: |pass_spec| in openssl's syntax ("pass:TEXT", "env:VAR",
 * "file:PATH", first line), else $KHADMIN_KEY_PASS in the same syntax,
 * else a prompt when stdin is a terminal. It is asked for only if the key is encrypted, and
 * cleansed after use.
 */
#ifndef KHA_OPKEY_H
#define KHA_OPKEY_H

#include <openssl/evp.h>

#include "kh_err.h"

#define KHA_PASS_MAX 1024

/*
 * Loads the first private key found at |uri| into |*out| (free with
 * EVP_PKEY_free). On failure prints "khadmin: <uri>: <reason>" on stderr
 * and returns KH_ERR_INVALID_ARGUMENT (bad pass spec), KH_ERR_NOT_FOUND
 * (no private key there) or KH_ERR_AUTH_FAILED (cannot open or decrypt:
 * wrong or missing passphrase).
 */
KH_MUST_CHECK int kha_opkey_load(const char *uri, const char *pass_spec,
                                 EVP_PKEY **out);

/*
 * Resolves a pass spec (as above, without the env/prompt fallbacks) into
 * |buf| (|size| bytes, NUL-terminated). KH_ERR_INVALID_ARGUMENT for an
 * unknown form, KH_ERR_NOT_FOUND for an unset variable or unreadable file.
 */
KH_MUST_CHECK int kha_pass_resolve(const char *spec, char *buf, size_t size);

/* DER SubjectPublicKeyInfo of |key| (OPENSSL_free it), or NULL. */
unsigned char *kha_opkey_spki(EVP_PKEY *key, size_t *len);

#endif /* KHA_OPKEY_H */
