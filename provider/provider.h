/*
 * provider.h - what the parts of the keyholder provider share: the provider
 * context, errors, the daemon connection pool, and the key object.
 *
 * One file per OpenSSL operation (keymgmt.c, signature.c, store.c,
 * decoder.c, encoder.c); provider.c holds init, the algorithm tables and
 * error reporting; conn.c the connections; keyobj.c the key object; uri.c
 * the keyholder: URI syntax.
 *
 * Conventions: functions called by OpenSSL return 1/0 as OpenSSL expects;
 * khp_ helpers return 1 on success and 0 after raising an error with
 * khp_raise(). Nothing here ever holds private key bytes.
 */
#ifndef KHP_PROVIDER_H
#define KHP_PROVIDER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>

#include "kh_client.h"
#include "kh_proto.h"

#define KHP_PROVIDER_NAME "keyholder"
#define KHP_PROPS "provider=keyholder"
/* Internal fetches (digests, public keys) go to the default provider. */
#define KHP_DEFAULT_PROPQ "provider=default"
#define KHP_URI_SCHEME "keyholder"
#define KHP_POOL_MAX 16
#define KHP_DEFAULT_TIMEOUT_MS 5000
/* PEM label of a key reference file (khadmin key ref). */
#define KHP_REF_PEM_LABEL "KEYHOLDER KEY REFERENCE"
/* Decoder structure name for the DER inside that PEM block. */
#define KHP_REF_STRUCTURE "keyholder-ref"

/*- Errors ------------------------------------------------------------- */

enum khp_reason {
    KHP_R_DAEMON_UNAVAILABLE = 1, /* socket path and errno in the text */
    KHP_R_SEALED,
    KHP_R_UNKNOWN_KEY,
    KHP_R_DENIED,                 /* refused by policy / access list */
    KHP_R_NOT_EXPORTABLE,
    KHP_R_BAD_URI,
    KHP_R_UNSUPPORTED,            /* algorithm, digest or option */
    KHP_R_INVALID_ARGUMENT,
    KHP_R_SIGN_FAILED,
    KHP_R_TAMPERED,
    KHP_R_KEY_EXISTS,
    KHP_R_DAEMON_ERROR,           /* any other refusal from keyholderd */
    KHP_R_INTERNAL,
    KHP_R_MISSING_NAME,           /* key generation without -pkeyopt name */
};

/*- Provider context --------------------------------------------------- */

/* Idle daemon connections of this process, reused by any thread. */
struct khp_pool {
    pthread_mutex_t mu;
    pid_t pid;                            /* owner; a fork child resets */
    unsigned n_idle;
    struct kh_client *idle[KHP_POOL_MAX];
};

struct khp_ctx {
    const OSSL_CORE_HANDLE *handle;
    char *socket_path;   /* openssl.cnf "socket", $KEYHOLDER_SOCKET wins */
    int timeout_ms;      /* openssl.cnf "timeout_ms" */
    struct khp_pool pool;
    /* Core upcalls. */
    OSSL_FUNC_core_new_error_fn *core_new_error;
    OSSL_FUNC_core_set_error_debug_fn *core_set_error_debug;
    OSSL_FUNC_core_vset_error_fn *core_vset_error;
    OSSL_FUNC_BIO_read_ex_fn *core_bio_read_ex;
    OSSL_FUNC_BIO_write_ex_fn *core_bio_write_ex;
};

/*
 * Raises |reason| with a formatted detail through the core error upcalls,
 * so it shows in `openssl ...` error output as
 * "keyholder: <reason string>: <detail>".
 */
void khp_raise_at(const struct khp_ctx *ctx, const char *file, int line,
                  const char *func, int reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
#define khp_raise(ctx, reason, ...)                                         \
    khp_raise_at((ctx), __FILE__, __LINE__, __func__, (reason), __VA_ARGS__)
/* The reason code for a KH_ERR_* from the client library. */
int khp_reason_of(int kh_err);

/*- Daemon connections (conn.c) ---------------------------------------- */

/*
 * A connection for one call, from the pool or new (connected lazily by
 * the client library). Never NULL except on allocation failure (raised).
 * After fork() the child never reuses its parent's connections.
 */
struct kh_client *khp_conn_get(struct khp_ctx *ctx);
/* Returns it to the pool; |ok| 0 drops it (it may be broken). */
void khp_conn_put(struct khp_ctx *ctx, struct kh_client *c, int ok);
/* Frees pooled connections (provider teardown: no I/O, just close). */
void khp_pool_cleanup(struct khp_pool *pool);
int khp_pool_init(struct khp_pool *pool);

/*
 * Calls with a pooled connection; on failure raise the daemon's reason
 * (mapped with khp_reason_of) prefixed by |what|. Return 1 or 0.
 */
int khp_call_key_info(struct khp_ctx *ctx, const char *name,
                      uint32_t version, struct kh_key_info *out);
int khp_call_sign(struct khp_ctx *ctx, const struct kh_sign_request *req,
                  struct kh_sign_reply *out);
int khp_call_generate(struct khp_ctx *ctx,
                      const struct kh_keygen_request *req,
                      struct kh_key_info *out);
/* Iterates every key the caller may use; |cb| returns 0 to continue. */
int khp_call_key_list(struct khp_ctx *ctx,
                      int (*cb)(const struct kh_key_info *, void *),
                      void *arg);
/*
 * The certificate stored beside key |name| (DER, malloc'd, *der NULL and
 * return 1 when there is none).
 */
int khp_call_cert_get(struct khp_ctx *ctx, const char *name, uint8_t **der,
                      size_t *len);

/*- Key object (keyobj.c) ---------------------------------------------- */

/*
 * A held key as OpenSSL sees it: which key in keyholderd, and its public
 * half. Immutable after creation and reference counted, so one object can
 * sit in many EVP_PKEYs, threads and fork children.
 */
#define KHP_KEY_MAGIC 0x4b48504bu /* "KHPK": checked on every reference */

struct khp_key {
    uint32_t magic;
    struct khp_ctx *ctx;
    atomic_int refs;
    char name[KH_MAX_NAME_LEN + 1];
    uint32_t version;   /* the resolved version, never 0 */
    int pinned;         /* URI named the version: sign exactly that one */
    uint8_t type;       /* enum kh_key_type */
    EVP_PKEY *pub;      /* public half, in the default provider */
};

/* From a daemon key description; parses its SPKI. NULL after raising. */
struct khp_key *khp_key_new(struct khp_ctx *ctx, const struct kh_key_info *info,
                            int pinned);
struct khp_key *khp_key_up_ref(struct khp_key *k);
void khp_key_free(struct khp_key *k);
/* "EC", "RSA" or "ED25519": the keymgmt (and data-type) of a key type. */
const char *khp_keymgmt_name(uint8_t type);
/* "ECDSA", "RSA" or "ED25519": the signature algorithm of a key type. */
const char *khp_signature_name(uint8_t type);
/*
 * Object references between store/decoder and keymgmt load(): the
 * reference is the object's address (as pkcs11-provider does); load()
 * checks the size and the magic and takes its own reference. |slot| is
 * the address of a variable holding the pointer; it must stay valid until
 * the object callback returns.
 */
OSSL_PARAM khp_key_reference_param(struct khp_key *const *slot);
/* For keymgmt load(): a new reference to the object, or NULL. */
struct khp_key *khp_key_from_reference(const void *ref, size_t ref_size);
/* The URI that names this key: "keyholder:NAME;version=N". */
void khp_key_uri(const struct khp_key *k, char *out, size_t outsz);

/*- URIs (uri.c) ------------------------------------------------------- */

struct khp_uri {
    int list;           /* "keyholder:" alone: every key */
    char name[KH_MAX_NAME_LEN + 1];
    uint32_t version;   /* 0: newest */
};
/* Parses "keyholder:NAME[;version=N]" or "keyholder:". 1 or 0. */
int khp_uri_parse(const char *uri, struct khp_uri *out);

/*- Key reference files (decoder.c); not static so tests/fuzz reaches them */

enum khp_ref_result {
    KHP_REF_NOT_OURS = 0, /* not shaped like a reference at all */
    KHP_REF_OK = 1,
    KHP_REF_BAD = -1,     /* a reference, but unusable: |*why| says why */
};
/*
 * Parses a KeyholderKeyReference DER (decoder.c describes it). KHP_REF_OK
 * fills |uri|; KHP_REF_BAD sets |*why| and |*reason| (a KHP_R_*).
 */
int khp_ref_parse(const unsigned char *der, size_t len, struct khp_uri *uri,
                  const char **why, int *reason);
/*
 * Reads a reference PEM block from |in| through the core BIO upcall of
 * |provctx| and checks its DER. 1: |*der| (OPENSSL_free) and |uri| are
 * set; -1: the first PEM block is not ours; 0: ours but broken (raised).
 */
int khp_ref_read_pem(struct khp_ctx *provctx, OSSL_CORE_BIO *in,
                     unsigned char **der, long *der_len, struct khp_uri *uri);

/*- Algorithm tables (one file each) ----------------------------------- */

extern const OSSL_DISPATCH khp_ec_keymgmt_functions[];
extern const OSSL_DISPATCH khp_rsa_keymgmt_functions[];
extern const OSSL_DISPATCH khp_ed25519_keymgmt_functions[];
extern const OSSL_DISPATCH khp_rsa_signature_functions[];
extern const OSSL_DISPATCH khp_ecdsa_signature_functions[];
extern const OSSL_DISPATCH khp_ed25519_signature_functions[];
extern const OSSL_DISPATCH khp_store_functions[];
/* Decoders and encoders: the tables and their OSSL_ALGORITHM lists. */
extern const OSSL_ALGORITHM khp_decoder_algorithms[];
extern const OSSL_ALGORITHM khp_encoder_algorithms[];

#endif /* KHP_PROVIDER_H */
