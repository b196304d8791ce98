/*
 * keyobj.c - struct khp_key: a key held in keyholderd as OpenSSL sees it.
 *
 * It names the key (name, resolved version) and carries its public half as
 * an EVP_PKEY of the default provider, so size queries, parameters,
 * matching, public export and verification never need the daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "provider.h"

const char *khp_keymgmt_name(uint8_t type)
{
    switch (type) {
    case KH_KEY_RSA2048:
    case KH_KEY_RSA3072:
    case KH_KEY_RSA4096:
        return "RSA";
    case KH_KEY_P256:
    case KH_KEY_P384:
    case KH_KEY_SECP256K1:
        return "EC";
    case KH_KEY_ED25519:
        return "ED25519";
    default:
        return NULL;
    }
}

const char *khp_signature_name(uint8_t type)
{
    const char *km = khp_keymgmt_name(type);

    if (km != NULL && strcmp(km, "EC") == 0) {
        return "ECDSA";
    }
    return km;
}

struct khp_key *khp_key_new(struct khp_ctx *ctx, const struct kh_key_info *info,
                            int pinned)
{
    const unsigned char *p = info->spki;
    struct khp_key *k;
    EVP_PKEY *pub;

    if (khp_keymgmt_name(info->type) == NULL) {
        khp_raise(ctx, KHP_R_UNSUPPORTED, "key '%s' has unknown type %u",
                  info->name, (unsigned)info->type);
        return NULL;
    }
    pub = d2i_PUBKEY_ex(NULL, &p, (long)info->spki_len, NULL,
                        KHP_DEFAULT_PROPQ);
    if (pub == NULL || p != info->spki + info->spki_len ||
        !EVP_PKEY_is_a(pub, khp_keymgmt_name(info->type))) {
        EVP_PKEY_free(pub);
        khp_raise(ctx, KHP_R_DAEMON_ERROR,
                  "keyholderd sent an unusable public key for '%s'",
                  info->name);
        return NULL;
    }
    if ((k = calloc(1, sizeof(*k))) == NULL) {
        EVP_PKEY_free(pub);
        khp_raise(ctx, KHP_R_INTERNAL, "out of memory");
        return NULL;
    }
    k->magic = KHP_KEY_MAGIC;
    k->ctx = ctx;
    atomic_init(&k->refs, 1);
    snprintf(k->name, sizeof(k->name), "%s", info->name);
    k->version = info->version;
    k->pinned = pinned;
    k->type = info->type;
    k->pub = pub;
    return k;
}

struct khp_key *khp_key_up_ref(struct khp_key *k)
{
    if (k != NULL) {
        atomic_fetch_add(&k->refs, 1);
    }
    return k;
}

void khp_key_free(struct khp_key *k)
{
    if (k == NULL || atomic_fetch_sub(&k->refs, 1) != 1) {
        return;
    }
    EVP_PKEY_free(k->pub);
    k->magic = 0;
    free(k);
}

OSSL_PARAM khp_key_reference_param(struct khp_key *const *slot)
{
    return OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE,
                                             (void *)slot, sizeof(*slot));
}

struct khp_key *khp_key_from_reference(const void *ref, size_t ref_size)
{
    struct khp_key *k;

    if (ref == NULL || ref_size != sizeof(k)) {
        return NULL;
    }
    memcpy(&k, ref, sizeof(k));
    if (k == NULL || k->magic != KHP_KEY_MAGIC) {
        return NULL;
    }
    return khp_key_up_ref(k);
}

void khp_key_uri(const struct khp_key *k, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s:%s;version=%u", KHP_URI_SCHEME, k->name,
             (unsigned)k->version);
}
