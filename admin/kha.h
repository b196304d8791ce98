/*
 * kha.h - shared pieces of khadmin: the command table entry, global
 * options, and helpers for output and errors.
 *
 * Exit codes: KHA_OK 0 success, KHA_FAIL 1 refused or failed (reason on
 * stderr), KHA_USAGE 2 usage error.
 */
#ifndef KHA_H
#define KHA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kh_client.h"

enum { KHA_OK = 0, KHA_FAIL = 1, KHA_USAGE = 2 };

struct kha_globals {
    const char *socket_path;
    int json;
    const char *as;   /* --as / $KHADMIN_AS: operator name */
    const char *key;  /* --key / $KHADMIN_KEY: operator key file or URI */
    const char *pass; /* --pass / $KHADMIN_KEY_PASS: passphrase spec */
    struct evp_pkey_st *opkey; /* loaded on first use */
};

struct kha_command {
    const char *group; /* "key", "cert", or NULL for a top-level command */
    const char *name;
    int (*fn)(struct kha_globals *g, int argc, char **argv);
    const char *usage;
};

/*
 * A connected client, or NULL after printing why not (exit KHA_FAIL). With
 * --as, every request is signed by that operator (kha_auth.c).
 */
struct kh_client *kha_client(struct kha_globals *g);

/*- Operators (kha_auth.c) ---------------------------------------------- */
/* Sets |c|'s operator signer from --as/--key/--pass; KHA_OK without --as. */
int kha_auth_attach(struct kha_globals *g, struct kh_client *c);
/* The --key private key (loaded once), or NULL after saying why. */
struct evp_pkey_st *kha_operator_key(struct kha_globals *g);
/* DER ECDSA over |tbs|: SHA-256 for P-256, SHA-384 for P-384. */
int kha_sign_with(struct evp_pkey_st *pk, const uint8_t *tbs, size_t len,
                  uint8_t *sig, size_t *siglen);
/* DER SPKI of the PEM public key in |path|; 0 or -1 (said why). */
int kha_spki_from_pem(const char *path, uint8_t *out, size_t max,
                      size_t *len);

/* Prints "khadmin: <what>: <reason>" for a failed call; returns KHA_FAIL. */
int kha_call_failed(struct kh_client *c, const char *what, int r);
/*
 * Connects (signing as the operator with --as), sends |body| as |type| and
 * expects an empty reply. KHA_OK, or KHA_FAIL after saying why.
 */
int kha_call_empty(struct kha_globals *g, uint8_t type, const uint8_t *body,
                   size_t len, const char *what);
int kha_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* KHA_USAGE after explaining, unless |name| is a valid key name. */
int kha_check_name(const char *usage, const char *name);
/*
 * After getopt: exactly one positional argument left, a valid key NAME.
 * KHA_OK with |*name| set, or KHA_USAGE after explaining.
 */
int kha_take_name(int argc, char **argv, const char *usage,
                  const char **name);
/* Writes |s| as a JSON string literal (with quotes). */
void kha_json_str(FILE *f, const char *s);
/* "2026-11-22T12:00:00Z" */
void kha_format_time(uint64_t t, char out[32]);
/* SHA-256 of the SPKI as lowercase hex (the key's fingerprint). */
void kha_fingerprint(const struct kh_key_info *k, char out[65]);
/* Reads a whole file (at most |max| bytes); "-" is stdin. NULL on error. */
uint8_t *kha_read_file(const char *path, size_t max, size_t *len);

int kha_cmd_init(struct kha_globals *g, int argc, char **argv);
int kha_cmd_status(struct kha_globals *g, int argc, char **argv);
int kha_cmd_seal(struct kha_globals *g, int argc, char **argv);
int kha_cmd_unseal(struct kha_globals *g, int argc, char **argv);
int kha_cmd_key_generate(struct kha_globals *g, int argc, char **argv);
int kha_cmd_key_list(struct kha_globals *g, int argc, char **argv);
int kha_cmd_key_show(struct kha_globals *g, int argc, char **argv);
int kha_cmd_key_pub(struct kha_globals *g, int argc, char **argv);
int kha_cmd_key_sign(struct kha_globals *g, int argc, char **argv);
int kha_cmd_key_ref(struct kha_globals *g, int argc, char **argv);
int kha_cmd_cert_import(struct kha_globals *g, int argc, char **argv);
int kha_cmd_cert_show(struct kha_globals *g, int argc, char **argv);
/* Ceremony helpers (kha_init.c, kha_unseal.c). */
struct kh_unseal_info;
int kha_unseal_info(struct kh_client *c, struct kh_unseal_info *out);
void kha_unseal_print_text(const struct kh_unseal_info *ui);
void kha_unseal_print_json(const struct kh_unseal_info *ui);
int kha_cmd_rekey(struct kha_globals *g, int argc, char **argv);
int kha_cmd_rotate_master(struct kha_globals *g, int argc, char **argv);
int kha_cmd_operator_add(struct kha_globals *g, int argc, char **argv);
int kha_cmd_operator_list(struct kha_globals *g, int argc, char **argv);
int kha_cmd_operator_remove(struct kha_globals *g, int argc, char **argv);
int kha_cmd_ceremony_sign(struct kha_globals *g, int argc, char **argv);
int kha_cmd_ceremony_verify(struct kha_globals *g, int argc, char **argv);
int kha_cmd_audit_verify(struct kha_globals *g, int argc, char **argv);
int kha_cmd_audit_export(struct kha_globals *g, int argc, char **argv);
int kha_cmd_audit_archive(struct kha_globals *g, int argc, char **argv);
int kha_cmd_audit_pubkey(struct kha_globals *g, int argc, char **argv);
/*
 * The daemon's audit public key (SPKI DER, from STATUS) into |spki|, for
 * ceremony records. KHA_OK, or KHA_FAIL after saying why.
 */
int kha_audit_spki(struct kha_globals *g, uint8_t *spki, size_t cap,
                   size_t *len);

#endif /* KHA_H */
