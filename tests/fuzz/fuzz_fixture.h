/*
 * fuzz_fixture.h - the fixed keystore fuzz_khd_dispatch runs against, and
 * the peers it impersonates. gen_corpus.c writes seeds that name these keys.
 *
 * Keys (name, version: type, owner, access list -> who may use it):
 *   p256 1: P-256, owner 1001, user 1003            -> root, owner, member
 *   p384 1: p256's record moved here: TAMPERED, never served
 *   p384 2: P-384, owner 1001                       -> root, owner
 *   k1 1:   secp256k1, owner root, group 2000       -> root, member
 *   ed 1:   Ed25519 RETIRED, owner 1001: no signing
 *   ed 2:   the same key, active, with a certificate -> root, owner
 *   rsa 1:  RSA-2048, owner 1001, user 1003, with a stored certificate
 *           that fails its MAC                      -> root, owner, member
 * (A tampered record is an old version: KEY_LIST reads only the newest
 * version of each name, and one bad record makes the whole list fail.)
 * The stranger (uid 1002, groups 1002 and 3000) may use none of them.
 */
#ifndef KH_FUZZ_FIXTURE_H
#define KH_FUZZ_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "kh_proto.h"

enum fuzz_peer {
    FUZZ_PEER_ROOT,
    FUZZ_PEER_OWNER,
    FUZZ_PEER_MEMBER,   /* named in access lists, by uid or group */
    FUZZ_PEER_STRANGER, /* in no access list */
    FUZZ_PEER_COUNT
};

#define FUZZ_UID_OWNER 1001
#define FUZZ_UID_STRANGER 1002
#define FUZZ_UID_MEMBER 1003
#define FUZZ_GID_MEMBER 2000
#define FUZZ_GID_STRANGER 3000

/* The record of p256 version 1, stored as p384 version 1. */
#define FUZZ_MOVED_FROM "p256"
#define FUZZ_MOVED_KEY "p384"
#define FUZZ_MOVED_VERSION 1
#define FUZZ_CERT_KEY "ed"
#define FUZZ_BADCERT_KEY "rsa"

struct fuzz_key {
    const char *name;
    uint8_t type;        /* enum kh_key_type */
    uint32_t version;
    uint8_t state;       /* enum kh_key_state */
    uint32_t owner_uid;
    uint32_t acl_uid;    /* 0: none */
    uint32_t acl_gid;    /* 0: none */
    const char *pem;     /* PKCS#8 PEM; NULL for secp256k1 */
    unsigned may_use;    /* 1 << enum fuzz_peer, for each peer served */
};

extern const struct fuzz_key fuzz_keys[];
extern const size_t fuzz_n_keys;

/* The newest version of key |name|, or NULL if no fixed key has it. */
const struct fuzz_key *fuzz_key_find(const char *name);
/*
 * The private key bytes khd_key_import_private() takes (PKCS#8 DER, or the
 * 32-byte secp256k1 secret). Free with OPENSSL_clear_free(). 1 or 0.
 */
int fuzz_key_private(const struct fuzz_key *k, uint8_t **der, size_t *len);
/*
 * A self-signed X.509 certificate (DER, OPENSSL_free) carrying the public
 * key of |k| (not secp256k1). 1 or 0.
 */
int fuzz_key_cert(const struct fuzz_key *k, uint8_t **der, size_t *len);

#endif /* KH_FUZZ_FIXTURE_H */
