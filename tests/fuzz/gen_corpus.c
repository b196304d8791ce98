/*
 * gen_corpus.c - writes the seed corpora of every fuzz target with the
 * real encoders:
 *
 *   fuzz_gen_corpus DIR     (DIR = tests/fuzz/corpus)
 *
 * into DIR/<decoder>/seed-<what> (DIR/kh_proto/ for fuzz_kh_proto),
 * replacing seeds of the same name and leaving every other file (inputs
 * found by fuzzing, regress-* crash regressions) alone. Run it again
 * after a protocol change and commit what it writes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "fuzz_fixture.h"
#include "kh_ceremony.h"
#include "kh_audit.h"
#include "kh_proto.h"
#include "provider.h"

static const char *gen_dir;

#define GEN_CHECK(cond)                                                     \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "gen_corpus: %s:%d: %s\n", __FILE__, __LINE__,  \
                    #cond);                                                 \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

static void gen_write(const char *target, const char *name, const void *p,
                      size_t n)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", gen_dir, target);
    GEN_CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
    snprintf(path, sizeof(path), "%s/%s/seed-%s", gen_dir, target, name);
    GEN_CHECK((f = fopen(path, "wb")) != NULL);
    GEN_CHECK(n == 0 || fwrite(p, 1, n, f) == n);
    GEN_CHECK(fclose(f) == 0);
}

/*- Frames ------------------------------------------------------------ */

/* What a body encoder needs: one of the message structs, or nothing. */
typedef int (*gen_body_fn)(struct kh_buf *b, const void *m);

static int gen_empty(struct kh_buf *b, const void *m)
{
    (void)b;
    (void)m;
    return 0;
}

#define GEN_ENC(fn, type)                                                   \
    static int gen_##fn(struct kh_buf *b, const void *m)                    \
    {                                                                       \
        return kh_##fn##_encode(b, (const type *)m);                        \
    }
GEN_ENC(error, struct kh_error_reply)
GEN_ENC(status, struct kh_status_reply)
GEN_ENC(keygen, struct kh_keygen_request)
GEN_ENC(key_info, struct kh_key_info)
GEN_ENC(key_ref, struct kh_key_ref)
GEN_ENC(list_request, struct kh_list_request)
GEN_ENC(sign_request, struct kh_sign_request)
GEN_ENC(sign_reply, struct kh_sign_reply)
GEN_ENC(cert_import, struct kh_cert_import_request)
GEN_ENC(cert_get_request, struct kh_cert_get_request)
GEN_ENC(cert_get_reply, struct kh_cert_get_reply)

/* Appends one whole frame (length prefix included) to |out|. */
static void gen_frame(struct kh_buf *out, uint8_t type, uint32_t id,
                      gen_body_fn fn, const void *m)
{
    struct kh_buf f;

    kh_buf_init_writer(&f, KH_FRAME_HEADER_LEN + KH_MAX_FRAME_LEN);
    GEN_CHECK(kh_frame_begin(&f, type, id) == 0);
    GEN_CHECK(fn(&f, m) == 0);
    GEN_CHECK(kh_frame_end(&f) == 0);
    GEN_CHECK(kh_buf_put_bytes(out, kh_buf_data(&f), kh_buf_size(&f)) == 0);
    kh_buf_free(&f);
}

static void gen_proto(const char *name, uint8_t type, gen_body_fn fn,
                      const void *m)
{
    struct kh_buf out;

    kh_buf_init_writer(&out, KH_FRAME_HEADER_LEN + KH_MAX_FRAME_LEN);
    gen_frame(&out, type, 0x01020304, fn, m);
    gen_write("kh_proto", name, kh_buf_data(&out), kh_buf_size(&out));
    kh_buf_free(&out);
}

/*- Messages with fixture data ---------------------------------------- */

static struct kh_key_info gen_info(const char *name, uint8_t type,
                                   uint32_t nacl)
{
    struct kh_key_info info;

    memset(&info, 0, sizeof(info));
    snprintf(info.name, sizeof(info.name), "%s", name);
    info.version = 1;
    info.type = type;
    info.state = KH_KEY_ACTIVE;
    info.created = 1735689600;
    info.owner_uid = FUZZ_UID_OWNER;
    for (uint32_t i = 0; i < nacl; i++) {
        info.acl.uids[info.acl.n_uids++] = 2000 + i;
        info.acl.gids[info.acl.n_gids++] = 3000 + i;
    }
    /* Not a real SubjectPublicKeyInfo: the codec does not parse it. */
    info.spki_len = 91;
    memset(info.spki, 0x30, info.spki_len);
    return info;
}

static struct kh_sign_request gen_sign(const char *name, uint32_t version,
                                       uint8_t input, uint8_t digest,
                                       uint8_t padding, uint32_t salt,
                                       const uint8_t *data, size_t len)
{
    struct kh_sign_request s;

    memset(&s, 0, sizeof(s));
    snprintf(s.name, sizeof(s.name), "%s", name);
    s.version = version;
    s.input = input;
    s.digest = digest;
    s.padding = padding;
    s.salt_len = salt;
    s.data = data;
    s.data_len = len;
    return s;
}

static void gen_proto_seeds(const uint8_t *cert, size_t cert_len)
{
    static const uint8_t msg[] = "hello, keyholder";
    static const uint8_t d32[32] = { 1, 2, 3 };
    static const uint8_t d64[64] = { 9 };
    struct kh_error_reply err = { .code = KH_ERR_DENIED };
    struct kh_status_reply st = { .state = KH_STATE_UNSEALED,
                                  .insecure_dev = 1, .secure_heap = 1,
                                  .key_count = 7 };
    struct kh_keygen_request gen;
    struct kh_key_info info;
    struct kh_key_ref ref = { .name = "web", .version = 7 };
    struct kh_list_request list = { .after = "" };
    struct kh_sign_request sign;
    struct kh_sign_reply sig = { .version = 3, .sig_len = 64 };
    struct kh_cert_import_request imp = { .name = "web", .der = cert,
                                          .der_len = cert_len };
    struct kh_cert_get_request get = { .name = "web" };
    struct kh_cert_get_reply got = { .present = 1, .der = cert,
                                     .der_len = cert_len };
    struct kh_buf b;

    gen_proto("req-status", KH_MSG_STATUS, gen_empty, NULL);
    gen_proto("req-init-dev", KH_MSG_INIT_DEV, gen_empty, NULL);
    gen_proto("req-seal", KH_MSG_SEAL, gen_empty, NULL);
    gen_proto("req-unseal-dev", KH_MSG_UNSEAL_DEV, gen_empty, NULL);

    memset(&gen, 0, sizeof(gen));
    snprintf(gen.name, sizeof(gen.name), "web");
    gen.type = KH_KEY_P256;
    gen.acl.n_uids = 2;
    gen.acl.uids[0] = 33;
    gen.acl.uids[1] = 1000;
    gen.acl.n_gids = 1;
    gen.acl.gids[0] = 33;
    gen_proto("req-keygen", KH_MSG_KEY_GENERATE, gen_keygen, &gen);
    /* Edge: the longest name and full access lists. */
    memset(gen.name, 'n', KH_MAX_NAME_LEN);
    gen.name[KH_MAX_NAME_LEN] = '\0';
    gen.type = KH_KEY_ED25519;
    gen.acl.n_uids = gen.acl.n_gids = KH_MAX_ACL;
    gen_proto("req-keygen-max", KH_MSG_KEY_GENERATE, gen_keygen, &gen);

    gen_proto("req-list", KH_MSG_KEY_LIST, gen_list_request, &list);
    snprintf(list.after, sizeof(list.after), "k1");
    gen_proto("req-list-after", KH_MSG_KEY_LIST, gen_list_request, &list);
    gen_proto("req-info", KH_MSG_KEY_INFO, gen_key_ref, &ref);

    sign = gen_sign("web", 0, KH_INPUT_MESSAGE, KH_DIGEST_SHA256,
                    KH_PAD_PKCS1, 0, msg, sizeof(msg));
    gen_proto("req-sign-pkcs1", KH_MSG_KEY_SIGN, gen_sign_request, &sign);
    sign = gen_sign("web", 2, KH_INPUT_DIGEST, KH_DIGEST_SHA256, KH_PAD_PSS,
                    KH_PSS_SALT_DIGEST, d32, sizeof(d32));
    sign.mgf1_digest = KH_DIGEST_SHA512;
    gen_proto("req-sign-pss", KH_MSG_KEY_SIGN, gen_sign_request, &sign);
    sign = gen_sign("ed", 0, KH_INPUT_MESSAGE, KH_DIGEST_NONE, KH_PAD_NONE,
                    0, msg, 0);
    gen_proto("req-sign-empty", KH_MSG_KEY_SIGN, gen_sign_request, &sign);
    sign = gen_sign("web", 0, KH_INPUT_DIGEST, KH_DIGEST_SHA512, KH_PAD_PSS,
                    KH_PSS_SALT_EXPLICIT_MAX, d64, sizeof(d64));
    gen_proto("req-sign-salt", KH_MSG_KEY_SIGN, gen_sign_request, &sign);

    gen_proto("req-cert-import", KH_MSG_CERT_IMPORT, gen_cert_import, &imp);
    {
        /* Edge: the largest certificate the codec takes. */
        uint8_t *big = calloc(1, KH_MAX_CERT_LEN);

        GEN_CHECK(big != NULL);
        imp.der = big;
        imp.der_len = KH_MAX_CERT_LEN;
        gen_proto("req-cert-import-max", KH_MSG_CERT_IMPORT, gen_cert_import,
                  &imp);
        free(big);
        imp.der = cert;
        imp.der_len = cert_len;
    }
    gen_proto("req-cert-get", KH_MSG_CERT_GET, gen_cert_get_request, &get);

    gen_proto("rep-status", KH_MSG_STATUS | KH_MSG_REPLY, gen_status, &st);
    gen_proto("rep-empty", KH_MSG_SEAL | KH_MSG_REPLY, gen_empty, NULL);
    info = gen_info("web", KH_KEY_P256, 1);
    gen_proto("rep-keygen", KH_MSG_KEY_GENERATE | KH_MSG_REPLY, gen_key_info,
              &info);
    info = gen_info("web", KH_KEY_RSA4096, KH_MAX_ACL);
    info.spki_len = KH_MAX_SPKI_LEN;
    gen_proto("rep-info-max", KH_MSG_KEY_INFO | KH_MSG_REPLY, gen_key_info,
              &info);

    /* KEY_LIST reply: header and two items, then an empty page. */
    kh_buf_init_writer(&b, KH_MAX_FRAME_LEN);
    GEN_CHECK(kh_frame_begin(&b, KH_MSG_KEY_LIST | KH_MSG_REPLY, 9) == 0);
    GEN_CHECK(kh_list_reply_begin(&b, 1, 2) == 0);
    info = gen_info("a", KH_KEY_P384, 0);
    GEN_CHECK(kh_key_info_encode(&b, &info) == 0);
    info = gen_info("b", KH_KEY_SECP256K1, 2);
    info.state = KH_KEY_RETIRED;
    GEN_CHECK(kh_key_info_encode(&b, &info) == 0);
    GEN_CHECK(kh_frame_end(&b) == 0);
    gen_write("kh_proto", "rep-list", kh_buf_data(&b), kh_buf_size(&b));
    kh_buf_free(&b);
    kh_buf_init_writer(&b, KH_MAX_FRAME_LEN);
    GEN_CHECK(kh_frame_begin(&b, KH_MSG_KEY_LIST | KH_MSG_REPLY, 9) == 0);
    GEN_CHECK(kh_list_reply_begin(&b, 0, 0) == 0);
    GEN_CHECK(kh_frame_end(&b) == 0);
    gen_write("kh_proto", "rep-list-empty", kh_buf_data(&b),
              kh_buf_size(&b));
    kh_buf_free(&b);

    memset(sig.sig, 0xab, sig.sig_len);
    gen_proto("rep-sign", KH_MSG_KEY_SIGN | KH_MSG_REPLY, gen_sign_reply,
              &sig);
    gen_proto("rep-cert-get", KH_MSG_CERT_GET | KH_MSG_REPLY,
              gen_cert_get_reply, &got);
    got.present = 0;
    got.der_len = 0;
    gen_proto("rep-cert-none", KH_MSG_CERT_GET | KH_MSG_REPLY,
              gen_cert_get_reply, &got);

    snprintf(err.reason, sizeof(err.reason), "uid 1002 may not use key 'web'");
    gen_proto("rep-error", KH_MSG_ERROR, gen_error, &err);
    memset(err.reason, 'r', KH_MAX_REASON_LEN);
    err.reason[KH_MAX_REASON_LEN] = '\0';
    err.code = KH_ERR_MIN;
    gen_proto("rep-error-max", KH_MSG_ERROR, gen_error, &err);

    /* Framing edge cases, by hand. */
    {
        static const uint8_t too_large[] = { 0, 4, 0, 1, 1, 1, 0, 0, 0, 1 };
        static const uint8_t too_short[] = { 0, 0, 0, 5, 1, 1, 0, 0, 0 };
        static const uint8_t bad_version[] = { 0, 0, 0, 6, 2, 1, 0, 0, 0, 1 };
        static const uint8_t unknown[] = { 0, 0, 0, 7, 1, 0x42, 0, 0, 0, 1,
                                           0 };
        static const uint8_t trailing[] = { 0, 0, 0, 7, 1, 1, 0, 0, 0, 1,
                                            0xff };
        static const uint8_t huge_str[] = { 0, 0, 0, 14, 1, 0x12, 0, 0, 0, 1,
                                            0xff, 0xff, 0xff, 0xff, 'w', 'e',
                                            'b', 0 };

        gen_write("kh_proto", "frame-too-large", too_large,
                  sizeof(too_large));
        gen_write("kh_proto", "frame-too-short", too_short,
                  sizeof(too_short));
        gen_write("kh_proto", "frame-bad-version", bad_version,
                  sizeof(bad_version));
        gen_write("kh_proto", "frame-unknown-type", unknown,
                  sizeof(unknown));
        gen_write("kh_proto", "frame-trailing", trailing,
                  sizeof(trailing));
        gen_write("kh_proto", "frame-huge-string", huge_str,
                  sizeof(huge_str));
    }
}

/*- Dispatcher sessions ----------------------------------------------- */

struct gen_session {
    struct kh_buf b;
    uint32_t id;
};

static void gen_begin(struct gen_session *s)
{
    kh_buf_init_writer(&s->b, 4 * KH_MAX_FRAME_LEN);
    s->id = 1;
}

static void gen_req(struct gen_session *s, enum fuzz_peer who, uint8_t type,
                    gen_body_fn fn, const void *m)
{
    GEN_CHECK(kh_buf_put_u8(&s->b, (uint8_t)who) == 0);
    gen_frame(&s->b, type, s->id++, fn, m);
}

static void gen_end(struct gen_session *s, const char *name)
{
    gen_write("khd_dispatch", name, kh_buf_data(&s->b),
              kh_buf_size(&s->b));
    kh_buf_free(&s->b);
}

static void gen_info_req(struct gen_session *s, enum fuzz_peer who,
                         const char *name, uint32_t version)
{
    struct kh_key_ref ref;

    memset(&ref, 0, sizeof(ref));
    snprintf(ref.name, sizeof(ref.name), "%s", name);
    ref.version = version;
    gen_req(s, who, KH_MSG_KEY_INFO, gen_key_ref, &ref);
}

static void gen_sign_req(struct gen_session *s, enum fuzz_peer who,
                         const struct kh_sign_request *m)
{
    gen_req(s, who, KH_MSG_KEY_SIGN, gen_sign_request, m);
}

static void gen_keygen_req(struct gen_session *s, enum fuzz_peer who,
                           const char *name, uint8_t type, uint32_t acl_uid,
                           uint32_t acl_gid)
{
    struct kh_keygen_request gen;

    memset(&gen, 0, sizeof(gen));
    snprintf(gen.name, sizeof(gen.name), "%s", name);
    gen.type = type;
    if (acl_uid != 0) {
        gen.acl.uids[gen.acl.n_uids++] = acl_uid;
    }
    if (acl_gid != 0) {
        gen.acl.gids[gen.acl.n_gids++] = acl_gid;
    }
    gen_req(s, who, KH_MSG_KEY_GENERATE, gen_keygen, &gen);
}

static void gen_cert_get_req(struct gen_session *s, enum fuzz_peer who,
                             const char *name)
{
    struct kh_cert_get_request get;

    memset(&get, 0, sizeof(get));
    snprintf(get.name, sizeof(get.name), "%s", name);
    gen_req(s, who, KH_MSG_CERT_GET, gen_cert_get_request, &get);
}

static void gen_dispatch_seeds(const uint8_t *p256_cert, size_t p256_len,
                               const uint8_t *ed_cert, size_t ed_len)
{
    static const uint8_t msg[] = "sign me";
    static const uint8_t d32[32] = { 0x5a };
    static const uint8_t d48[48] = { 0x5b };
    static const uint8_t d64[64] = { 0x5c };
    struct kh_list_request list = { .after = "" };
    struct kh_cert_import_request imp;
    struct gen_session s;
    struct kh_sign_request sr;

    gen_begin(&s);
    for (int who = 0; who < FUZZ_PEER_COUNT; who++) {
        gen_req(&s, (enum fuzz_peer)who, KH_MSG_STATUS, gen_empty, NULL);
    }
    gen_req(&s, FUZZ_PEER_ROOT, KH_MSG_INIT_DEV, gen_empty, NULL);
    gen_end(&s, "status-init");

    gen_begin(&s);
    for (int who = 0; who < FUZZ_PEER_COUNT; who++) {
        gen_req(&s, (enum fuzz_peer)who, KH_MSG_KEY_LIST, gen_list_request,
                &list);
    }
    snprintf(list.after, sizeof(list.after), "k1");
    gen_req(&s, FUZZ_PEER_ROOT, KH_MSG_KEY_LIST, gen_list_request, &list);
    gen_end(&s, "list");

    gen_begin(&s);
    for (int who = 0; who < FUZZ_PEER_COUNT; who++) {
        gen_info_req(&s, (enum fuzz_peer)who, "p256", 0);
    }
    gen_info_req(&s, FUZZ_PEER_OWNER, "ed", 1);
    gen_info_req(&s, FUZZ_PEER_OWNER, "ed", 0);
    gen_info_req(&s, FUZZ_PEER_MEMBER, "k1", 1);
    gen_info_req(&s, FUZZ_PEER_ROOT, "nope", 0);
    gen_info_req(&s, FUZZ_PEER_ROOT, "p256", 9);
    gen_info_req(&s, FUZZ_PEER_ROOT, FUZZ_MOVED_KEY, FUZZ_MOVED_VERSION);
    gen_end(&s, "info");

    gen_begin(&s);
    sr = gen_sign("p256", 0, KH_INPUT_DIGEST, KH_DIGEST_SHA256, KH_PAD_NONE,
                  0, d32, sizeof(d32));
    gen_sign_req(&s, FUZZ_PEER_MEMBER, &sr);
    gen_sign_req(&s, FUZZ_PEER_STRANGER, &sr);
    sr = gen_sign("p256", 0, KH_INPUT_MESSAGE, KH_DIGEST_SHA384, KH_PAD_NONE,
                  0, msg, sizeof(msg));
    gen_sign_req(&s, FUZZ_PEER_OWNER, &sr);
    sr = gen_sign("p384", 0, KH_INPUT_DIGEST, KH_DIGEST_SHA384, KH_PAD_NONE,
                  0, d48, sizeof(d48));
    gen_sign_req(&s, FUZZ_PEER_OWNER, &sr);
    sr.version = FUZZ_MOVED_VERSION; /* tampered */
    gen_sign_req(&s, FUZZ_PEER_OWNER, &sr);
    sr = gen_sign("k1", 0, KH_INPUT_MESSAGE, KH_DIGEST_SHA256, KH_PAD_NONE, 0,
                  msg, sizeof(msg));
    gen_sign_req(&s, FUZZ_PEER_MEMBER, &sr);
    sr = gen_sign("ed", 0, KH_INPUT_MESSAGE, KH_DIGEST_NONE, KH_PAD_NONE, 0,
                  msg, sizeof(msg));
    gen_sign_req(&s, FUZZ_PEER_OWNER, &sr);
    sr.version = 1; /* retired */
    gen_sign_req(&s, FUZZ_PEER_OWNER, &sr);
    sr.version = 0;
    sr.digest = KH_DIGEST_SHA256; /* refused: Ed25519 takes no digest */
    gen_sign_req(&s, FUZZ_PEER_OWNER, &sr);
    gen_end(&s, "sign-ec");

    gen_begin(&s);
    sr = gen_sign("rsa", 0, KH_INPUT_MESSAGE, KH_DIGEST_SHA256, KH_PAD_PKCS1,
                  0, msg, sizeof(msg));
    gen_sign_req(&s, FUZZ_PEER_MEMBER, &sr);
    sr = gen_sign("rsa", 1, KH_INPUT_DIGEST, KH_DIGEST_SHA512, KH_PAD_PSS,
                  KH_PSS_SALT_MAX, d64, sizeof(d64));
    gen_sign_req(&s, FUZZ_PEER_OWNER, &sr);
    sr = gen_sign("rsa", 0, KH_INPUT_DIGEST, KH_DIGEST_SHA256, KH_PAD_PSS,
                  KH_PSS_SALT_DIGEST, d32, sizeof(d32));
    sr.mgf1_digest = KH_DIGEST_SHA384;
    gen_sign_req(&s, FUZZ_PEER_ROOT, &sr);
    sr.padding = KH_PAD_NONE; /* refused: RSA needs padding */
    gen_sign_req(&s, FUZZ_PEER_ROOT, &sr);
    sr = gen_sign("rsa", 0, KH_INPUT_DIGEST, KH_DIGEST_SHA256, KH_PAD_PKCS1,
                  0, d64, sizeof(d64)); /* refused: wrong digest length */
    gen_sign_req(&s, FUZZ_PEER_ROOT, &sr);
    gen_end(&s, "sign-rsa");

    gen_begin(&s);
    gen_cert_get_req(&s, FUZZ_PEER_OWNER, "ed");
    gen_cert_get_req(&s, FUZZ_PEER_STRANGER, "ed");
    gen_cert_get_req(&s, FUZZ_PEER_ROOT, "p256");
    gen_cert_get_req(&s, FUZZ_PEER_ROOT, FUZZ_BADCERT_KEY);
    gen_end(&s, "cert-get");

    gen_begin(&s);
    memset(&imp, 0, sizeof(imp));
    snprintf(imp.name, sizeof(imp.name), "p256");
    imp.der = p256_cert;
    imp.der_len = p256_len;
    gen_req(&s, FUZZ_PEER_OWNER, KH_MSG_CERT_IMPORT, gen_cert_import, &imp);
    gen_cert_get_req(&s, FUZZ_PEER_MEMBER, "p256");
    imp.der = ed_cert; /* another key's certificate: refused */
    imp.der_len = ed_len;
    gen_req(&s, FUZZ_PEER_OWNER, KH_MSG_CERT_IMPORT, gen_cert_import, &imp);
    imp.der_len = ed_len - 1; /* truncated DER: refused */
    gen_req(&s, FUZZ_PEER_ROOT, KH_MSG_CERT_IMPORT, gen_cert_import, &imp);
    gen_end(&s, "cert-import");

    gen_begin(&s);
    gen_keygen_req(&s, FUZZ_PEER_STRANGER, "mine", KH_KEY_P256, 0, 0);
    gen_info_req(&s, FUZZ_PEER_STRANGER, "mine", 0);
    sr = gen_sign("mine", 0, KH_INPUT_MESSAGE, KH_DIGEST_SHA256, KH_PAD_NONE,
                  0, msg, sizeof(msg));
    gen_sign_req(&s, FUZZ_PEER_STRANGER, &sr);
    gen_sign_req(&s, FUZZ_PEER_OWNER, &sr);
    gen_keygen_req(&s, FUZZ_PEER_OWNER, "shared", KH_KEY_ED25519,
                   FUZZ_UID_STRANGER, 0);
    gen_keygen_req(&s, FUZZ_PEER_OWNER, "k1b", KH_KEY_SECP256K1, 0, 0);
    gen_keygen_req(&s, FUZZ_PEER_OWNER, "p384b", KH_KEY_P384, 0, 0);
    gen_keygen_req(&s, FUZZ_PEER_ROOT, "p256", KH_KEY_P256, 0, 0); /* exists */
    gen_keygen_req(&s, FUZZ_PEER_ROOT, "big", KH_KEY_RSA4096, 0, 0); /* skip */
    /* The member's primary group (not a supplementary one) in the list. */
    gen_keygen_req(&s, FUZZ_PEER_OWNER, "grp", KH_KEY_P384, 0,
                   FUZZ_UID_MEMBER);
    sr = gen_sign("grp", 0, KH_INPUT_DIGEST, KH_DIGEST_SHA384, KH_PAD_NONE,
                  0, d48, sizeof(d48));
    gen_sign_req(&s, FUZZ_PEER_MEMBER, &sr);
    sr = gen_sign("k1b", 0, KH_INPUT_DIGEST, KH_DIGEST_SHA256, KH_PAD_NONE,
                  0, d32, sizeof(d32));
    gen_sign_req(&s, FUZZ_PEER_OWNER, &sr);
    sr = gen_sign("shared", 0, KH_INPUT_MESSAGE, KH_DIGEST_NONE, KH_PAD_NONE,
                  0, msg, sizeof(msg));
    gen_sign_req(&s, FUZZ_PEER_STRANGER, &sr);
    gen_req(&s, FUZZ_PEER_STRANGER, KH_MSG_KEY_LIST, gen_list_request,
            &list);
    gen_end(&s, "keygen");

    gen_begin(&s);
    sr = gen_sign("ed", 0, KH_INPUT_MESSAGE, KH_DIGEST_NONE, KH_PAD_NONE, 0,
                  msg, sizeof(msg));
    gen_req(&s, FUZZ_PEER_STRANGER, KH_MSG_SEAL, gen_empty, NULL);
    gen_req(&s, FUZZ_PEER_ROOT, KH_MSG_SEAL, gen_empty, NULL);
    gen_sign_req(&s, FUZZ_PEER_OWNER, &sr);
    gen_req(&s, FUZZ_PEER_ROOT, KH_MSG_STATUS, gen_empty, NULL);
    gen_req(&s, FUZZ_PEER_OWNER, KH_MSG_UNSEAL_DEV, gen_empty, NULL);
    gen_req(&s, FUZZ_PEER_ROOT, KH_MSG_UNSEAL_DEV, gen_empty, NULL);
    gen_sign_req(&s, FUZZ_PEER_OWNER, &sr);
    gen_end(&s, "seal-unseal");

    /* Malformed frames: an unknown type keeps going, a bad version ends. */
    gen_begin(&s);
    {
        static const uint8_t unknown[] = { 1, 0, 0, 0, 6, 1, 0x42, 0, 0, 0, 7 };
        static const uint8_t trailing[] = { 0, 0, 0, 0, 7, 1, 0x01, 0, 0, 0, 8,
                                            0 };
        static const uint8_t bad_version[] = { 0, 0, 0, 0, 6, 9, 0x01, 0, 0,
                                               0, 9 };

        GEN_CHECK(kh_buf_put_bytes(&s.b, unknown, sizeof(unknown)) == 0);
        GEN_CHECK(kh_buf_put_bytes(&s.b, trailing, sizeof(trailing)) == 0);
        GEN_CHECK(kh_buf_put_bytes(&s.b, bad_version, sizeof(bad_version)) ==
                  0);
    }
    gen_req(&s, FUZZ_PEER_ROOT, KH_MSG_STATUS, gen_empty, NULL);
    gen_end(&s, "malformed");
}

/*- URIs and key references -------------------------------------------- */

static void gen_uri_seeds(void)
{
    static const char *const uris[][2] = {
        { "name", "keyholder:web" },
        { "version", "keyholder:ca.root-2;version=17" },
        { "version-max", "keyholder:k;version=4294967295" },
        { "list", "keyholder:" },
        { "name-max", "keyholder:A123456789012345678901234567890123456789"
                      "012345678901234567890_-." },
        { "bad-zero", "keyholder:web;version=01" },
        { "bad-option", "keyholder:web;object=1" },
        { "bad-scheme", "pkcs11:token=web" },
    };

    for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
        gen_write("khp_uri", uris[i][0], uris[i][1],
                  strlen(uris[i][1]));
    }
}

/* 30 L 02 01 VERSION 0C n URI */
static size_t gen_ref_der(uint8_t *out, uint8_t version, const char *uri)
{
    size_t n = strlen(uri);

    out[0] = 0x30;
    out[1] = (uint8_t)(n + 5);
    out[2] = 0x02;
    out[3] = 0x01;
    out[4] = version;
    out[5] = 0x0c;
    out[6] = (uint8_t)n;
    memcpy(out + 7, uri, n);
    return n + 7;
}

/* |before| || PEM(der) || |after| */
static void gen_ref_pem(const char *name, const char *before,
                        const uint8_t *der, size_t len, const char *after)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p;
    long n;

    GEN_CHECK(bio != NULL);
    GEN_CHECK(BIO_puts(bio, before) >= 0);
    GEN_CHECK(PEM_write_bio(bio, KHP_REF_PEM_LABEL, "", der, (long)len) > 0);
    GEN_CHECK(BIO_puts(bio, after) >= 0);
    n = BIO_get_mem_data(bio, &p);
    gen_write("khp_ref", name, p, (size_t)n);
    BIO_free(bio);
}

static void gen_ref_seeds(const uint8_t *cert, size_t cert_len)
{
    uint8_t der[256];
    char *cert_pem;
    size_t n;
    BIO *bio;
    long m;

    n = gen_ref_der(der, 1, "keyholder:ec1");
    gen_write("khp_ref", "der", der, n);
    gen_ref_pem("pem", "", der, n, "");
    gen_ref_pem("pem-crlf-text", "key for web\r\n\r\n", der, n, "trailer\n");
    n = gen_ref_der(der, 1, "keyholder:web.example-1;version=4294967295");
    gen_write("khp_ref", "der-version", der, n);
    gen_ref_pem("pem-version", "", der, n, "");
    n = gen_ref_der(der, 2, "keyholder:ec1");
    gen_write("khp_ref", "der-v2", der, n);
    gen_ref_pem("pem-v2", "", der, n, "");
    n = gen_ref_der(der, 1, "keyholder:");
    gen_ref_pem("pem-list", "", der, n, "");
    n = gen_ref_der(der, 1, "keyholder:ec1;version=0");
    gen_write("khp_ref", "der-bad-uri", der, n);

    /* A reference followed by its certificate, and a certificate alone. */
    GEN_CHECK((bio = BIO_new(BIO_s_mem())) != NULL);
    GEN_CHECK(PEM_write_bio(bio, "CERTIFICATE", "", cert, (long)cert_len) >
              0);
    m = BIO_get_mem_data(bio, &cert_pem);
    GEN_CHECK(m > 0);
    {
        char *tail = OPENSSL_strndup(cert_pem, (size_t)m);

        GEN_CHECK(tail != NULL);
        n = gen_ref_der(der, 1, "keyholder:web");
        gen_ref_pem("pem-then-cert", "", der, n, tail);
        gen_write("khp_ref", "cert-pem", tail, strlen(tail));
        OPENSSL_free(tail);
    }
    BIO_free(bio);
    gen_write("khp_ref", "cert-der", cert, cert_len);
}

/*- Share files and ceremony records ------------------------------------ */

static const uint8_t gen_cid[KH_CEREMONY_ID_LEN] = "seed-ceremony-01";

static void gen_spki(EVP_PKEY *k, uint8_t *out, size_t *len)
{
    uint8_t *der = NULL;
    int n = i2d_PUBKEY(k, &der);

    GEN_CHECK(n > 0 && (size_t)n <= KH_MAX_SPKI_LEN);
    memcpy(out, der, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(der);
}

/* A share file for |k| with a real box of |ylen| random bytes. */
static void gen_share(const char *name, EVP_PKEY *k, const char *custodian,
                      uint8_t x, unsigned m, unsigned n, size_t ylen)
{
    struct kh_share_file sf;
    struct kh_buf aad, box, out;
    uint8_t spki[KH_MAX_SPKI_LEN], y[KH_SHAMIR_MAX_SECRET];
    size_t spki_len;

    memset(&sf, 0, sizeof(sf));
    memcpy(sf.ceremony_id, gen_cid, sizeof(gen_cid));
    sf.index = x;
    sf.threshold = m;
    sf.count = n;
    strcpy(sf.custodian, custodian);
    gen_spki(k, spki, &spki_len);
    GEN_CHECK(kh_spki_fingerprint(spki, spki_len, sf.custodian_fpr) == 0);
    GEN_CHECK(RAND_bytes(y, (int)ylen) == 1);
    GEN_CHECK(kh_share_commitment(gen_cid, x, sf.custodian_fpr, y, ylen,
                                  sf.commitment) == 0);
    kh_buf_init_writer(&aad, 256);
    kh_buf_init_writer(&box, KH_SHARE_BOX_MAX);
    kh_buf_init_writer(&out, KH_SHARE_FILE_MAX);
    GEN_CHECK(kh_share_aad(gen_cid, x, custodian, &aad) == 0);
    GEN_CHECK(kh_box_seal(k, KH_SHARE_BOX_LABEL, kh_buf_data(&aad),
                          kh_buf_size(&aad), y, ylen, &box) == 0);
    memcpy(sf.box, kh_buf_data(&box), kh_buf_size(&box));
    sf.box_len = kh_buf_size(&box);
    GEN_CHECK(kh_share_file_encode(&sf, &out) == 0);
    gen_write("kh_share", name, kh_buf_data(&out), kh_buf_size(&out));
    kh_buf_free(&aad);
    kh_buf_free(&box);
    kh_buf_free(&out);
}

/* Writes |name| with the first |from| in the text replaced by |to|. */
static void gen_patched(const char *target, const char *name,
                        const uint8_t *d, size_t n, const char *from,
                        const char *to)
{
    const uint8_t *p = memmem(d, n, from, strlen(from));
    struct kh_buf b;

    GEN_CHECK(p != NULL);
    kh_buf_init_writer(&b, KH_CEREMONY_FILE_MAX + 64);
    GEN_CHECK(kh_buf_put_bytes(&b, d, (size_t)(p - d)) == 0 &&
              kh_buf_put_bytes(&b, to, strlen(to)) == 0 &&
              kh_buf_put_bytes(&b, p + strlen(from),
                               n - (size_t)(p - d) - strlen(from)) == 0);
    gen_write(target, name, kh_buf_data(&b), kh_buf_size(&b));
    kh_buf_free(&b);
}

static void gen_share_seeds(EVP_PKEY *p256, EVP_PKEY *p384)
{
    uint8_t *d;
    size_t n;
    char path[4096];
    FILE *f;

    gen_share("p256-2of3", p256, "alice", 2, 2, 3, 32);
    gen_share("p384-max", p384,
              "c-123456789-123456789-123456789-123456789-123456789-123456789"
              "-12", 255, 255, 255, KH_SHAMIR_MAX_SECRET);
    gen_share("1of1", p256, "a", 1, 1, 1, 1);
    snprintf(path, sizeof(path), "%s/kh_share/seed-p256-2of3", gen_dir);
    GEN_CHECK((f = fopen(path, "rb")) != NULL);
    d = OPENSSL_malloc(KH_SHARE_FILE_MAX);
    GEN_CHECK(d != NULL);
    n = fread(d, 1, KH_SHARE_FILE_MAX, f);
    fclose(f);
    gen_patched("kh_share", "bad-space", d, n, "\"index\": ", "\"index\":");
    gen_patched("kh_share", "bad-version", d, n, "\"version\": 1",
                "\"version\": 2");
    gen_patched("kh_share", "bad-dup", d, n, "  \"index\": 2,\n",
                "  \"index\": 2,\n  \"index\": 2,\n");
    gen_patched("kh_share", "bad-index", d, n, "\"index\": 2",
                "\"index\": 4");
    gen_patched("kh_share", "bad-escape", d, n, "\"alice\"", "\"al\\u0069ce\"");
    OPENSSL_free(d);
}

/* alice admin+custodian, bob custodian, carol (P-384) custodian+auditor,
 * dave admin; 2-of-3; signed by those in |signers| (bits). */
static void gen_record(const char *name, EVP_PKEY **keys, unsigned signers,
                       struct kh_buf *out)
{
    static const char *const names[] = { "alice", "bob", "carol", "dave" };
    static const unsigned roles[] = {
        KH_ROLE_ADMIN | KH_ROLE_CUSTODIAN, KH_ROLE_CUSTODIAN,
        KH_ROLE_CUSTODIAN | KH_ROLE_AUDITOR, KH_ROLE_ADMIN,
    };
    struct kh_ceremony_record *rec = kh_ceremony_record_new();

    GEN_CHECK(rec != NULL);
    memcpy(rec->ceremony_id, gen_cid, sizeof(gen_cid));
    rec->kind = KH_CEREMONY_INIT;
    kh_ceremony_format_time(1795359600, rec->time);
    strcpy(rec->location, "Vault B, \"room\" 2\n(basement)");
    strcpy(rec->note, "seed \xc3\xa9\t\x01");
    strcpy(rec->deviations, "none");
    strcpy(rec->witnesses[0], "Eve");
    rec->n_witnesses = 1;
    strcpy(rec->khd_version, "0.1.0");
    memset(rec->khd_sha256, 0x5e, sizeof(rec->khd_sha256));
    rec->threshold = 2;
    rec->count = 3;
    for (int i = 0; i < 4; i++) {
        struct kh_ceremony_participant *p = &rec->participants[i];

        strcpy(p->name, names[i]);
        p->roles = roles[i];
        gen_spki(keys[i], p->spki, &p->spki_len);
        if (roles[i] & KH_ROLE_CUSTODIAN) {
            p->share_index = (uint8_t)(i + 1);
            memset(p->commitment, 0xc0 + i, KH_COMMITMENT_LEN);
        }
    }
    rec->n_participants = 4;
    gen_spki(keys[1], rec->audit_spki, &rec->audit_spki_len);
    for (int i = 0; i < 4; i++) {
        if (signers & (1u << i)) {
            GEN_CHECK(kh_ceremony_sign(rec, names[i], keys[i]) == 0);
        }
    }
    kh_buf_init_writer(out, KH_CEREMONY_FILE_MAX);
    GEN_CHECK(kh_ceremony_encode(rec, out) == 0);
    gen_write("kh_ceremony", name, kh_buf_data(out), kh_buf_size(out));
    kh_ceremony_record_free(rec);
}

/* 255 custodians, 255-of-255, each signed: the largest realistic record. */
static void gen_record_large(EVP_PKEY *k)
{
    struct kh_ceremony_record *rec = kh_ceremony_record_new();
    struct kh_buf out;

    GEN_CHECK(rec != NULL);
    memcpy(rec->ceremony_id, gen_cid, sizeof(gen_cid));
    rec->kind = KH_CEREMONY_REKEY;
    kh_ceremony_format_time(1795359600, rec->time);
    strcpy(rec->khd_version, "0.1.0");
    rec->threshold = 255;
    rec->count = 255;
    for (unsigned i = 0; i < 255; i++) {
        struct kh_ceremony_participant *p = &rec->participants[i];

        snprintf(p->name, sizeof(p->name), "custodian-%03u", i + 1);
        p->roles = KH_ROLE_CUSTODIAN;
        gen_spki(k, p->spki, &p->spki_len);
        p->share_index = (uint8_t)(255 - i);
    }
    rec->n_participants = 255;
    GEN_CHECK(kh_ceremony_sign(rec, "custodian-001", k) == 0);
    GEN_CHECK(kh_ceremony_sign(rec, "custodian-255", k) == 0);
    kh_buf_init_writer(&out, KH_CEREMONY_FILE_MAX);
    GEN_CHECK(kh_ceremony_encode(rec, &out) == 0);
    gen_write("kh_ceremony", "255-custodians", kh_buf_data(&out),
              kh_buf_size(&out));
    kh_buf_free(&out);
    kh_ceremony_record_free(rec);
}

static void gen_ceremony_seeds(void)
{
    EVP_PKEY *keys[4];
    struct kh_buf b;

    for (int i = 0; i < 4; i++) {
        keys[i] = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
                                    i == 2 ? "P-384" : "P-256");
        GEN_CHECK(keys[i] != NULL);
    }
    gen_share_seeds(keys[0], keys[2]);
    gen_record("unsigned", keys, 0, &b);
    kh_buf_free(&b);
    gen_record("bob-signed", keys, 2, &b);
    kh_buf_free(&b);
    gen_record("all-signed", keys, 15, &b);
    gen_patched("kh_ceremony", "bad-threshold", kh_buf_data(&b),
                kh_buf_size(&b), "\"threshold\": 2", "\"threshold\": 3");
    gen_patched("kh_ceremony", "bad-ws", kh_buf_data(&b), kh_buf_size(&b),
                "\"kind\": ", "\"kind\":  ");
    gen_patched("kh_ceremony", "bad-role-order", kh_buf_data(&b),
                kh_buf_size(&b), "\"custodian\",\n        \"auditor\"",
                "\"auditor\",\n        \"custodian\"");
    gen_patched("kh_ceremony", "bad-sig-order", kh_buf_data(&b),
                kh_buf_size(&b), "\"name\": \"alice\",\n      \"algorithm\"",
                "\"name\": \"dave\",\n      \"algorithm\"");
    kh_buf_free(&b);
    gen_record_large(keys[0]);
    for (int i = 0; i < 4; i++) {
        EVP_PKEY_free(keys[i]);
    }
}

/*- Audit export lines (fuzz_kh_audit_json) --------------------------- */

/* Signs a checkpoint/anchor statement with the fixture's p256 key. */
static void gen_audit_sign(EVP_PKEY *pk, int kind, uint64_t seq,
                           const uint8_t *hash, uint64_t t, uint8_t *sig,
                           size_t *siglen)
{
    struct kh_buf st;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    kh_buf_init_writer(&st, 256);
    GEN_CHECK(kh_audit_statement(kind, seq, hash, t, &st) == 0);
    *siglen = KH_AUDIT_MAX_SIG;
    GEN_CHECK(md != NULL &&
              EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
              EVP_DigestSign(md, sig, siglen, kh_buf_data(&st),
                             kh_buf_size(&st)) == 1);
    EVP_MD_CTX_free(md);
    kh_buf_free(&st);
}

/*
 * A chain of 8 entries (start, sign, refusal, protocol error, checkpoint,
 * gap, sign, anchor) rendered as export lines into |out|, one per line;
 * |line_at[i]| is where line i starts.
 */
static void gen_audit_chain(EVP_PKEY *pk, struct kh_buf *out,
                            size_t line_at[9], struct kh_audit_anchor *an)
{
    static const uint8_t kinds[8] = {
        KH_AUDIT_START, KH_AUDIT_EVENT, KH_AUDIT_EVENT, KH_AUDIT_EVENT,
        KH_AUDIT_CHECKPOINT, KH_AUDIT_GAP, KH_AUDIT_EVENT, KH_AUDIT_ANCHOR,
    };
    uint8_t prev[KH_AUDIT_HASH_LEN] = { 0 };
    struct kh_buf enc;

    kh_buf_init_writer(&enc, KH_AUDIT_MAX_ENC);
    for (int i = 0; i < 8; i++) {
        struct kh_audit_entry e;
        struct kh_audit_rec rec;

        memset(&e, 0, sizeof(e));
        e.seq = (uint64_t)i + 1;
        e.time_ns = 1795000000000000000ull + (uint64_t)i * 1000;
        e.kind = kinds[i];
        e.category = i == 2 ? KH_AUDIT_CAT_POLICY
                     : i == 3 ? KH_AUDIT_CAT_PROTOCOL
                     : i == 1 || i == 6 ? KH_AUDIT_CAT_SIGN
                                        : KH_AUDIT_CAT_AUDIT;
        e.severity = i == 2 || i == 3 ? KH_AUDIT_SEV_WARNING
                                      : KH_AUDIT_SEV_INFO;
        e.uid = i == 2 ? 65534 : 0;
        e.pid = 4242;
        snprintf(e.exe, sizeof(e.exe), "/usr/sbin/nginx \\x01\"q\"");
        snprintf(e.op, sizeof(e.op), "%s",
                 i == 3 ? "frame" : kinds[i] == KH_AUDIT_EVENT ? "key-sign"
                                                              : "audit");
        if (i == 1 || i == 2 || i == 6) {
            snprintf(e.key, sizeof(e.key), "p256");
            e.key_version = 1;
            e.has_data = 1;
            memset(e.data_sha256, 0x5a + i, sizeof(e.data_sha256));
            snprintf(e.alg, sizeof(e.alg), "ec:P-256 input=digest "
                     "digest=sha256 padding=none");
        }
        if (i == 2) {
            e.result = KH_ERR_DENIED;
            snprintf(e.reason, sizeof(e.reason), "uid 65534 may not use "
                     "key 'p256'");
        } else if (i == 3) {
            e.result = KH_ERR_BAD_VERSION;
            snprintf(e.reason, sizeof(e.reason), "undecodable frame");
        }
        if (e.kind == KH_AUDIT_CHECKPOINT) {
            e.subj_seq = e.seq - 1;
            memcpy(e.subj_hash, prev, sizeof(prev));
            gen_audit_sign(pk, KH_AUDIT_CHECKPOINT, e.subj_seq, prev,
                           e.time_ns, e.sig, &e.sig_len);
        } else if (e.kind == KH_AUDIT_GAP) {
            e.aux = 1024;
        } else if (e.kind == KH_AUDIT_ANCHOR) {
            /* Entries before 4 archived; the hash of seq 3 is in an. */
            e.subj_seq = an->seq;
            memcpy(e.subj_hash, an->hash, sizeof(an->hash));
            e.time_ns = an->time_ns;
            gen_audit_sign(pk, KH_AUDIT_ANCHOR, an->seq, an->hash,
                           an->time_ns, an->sig, &an->sig_len);
            memcpy(e.sig, an->sig, an->sig_len);
            e.sig_len = an->sig_len;
        }
        kh_buf_reset(&enc);
        GEN_CHECK(kh_audit_entry_encode(&enc, &e) == 0);
        memcpy(rec.prev, prev, sizeof(prev));
        GEN_CHECK(kh_audit_hash(prev, kh_buf_data(&enc), kh_buf_size(&enc),
                                rec.hash) == 0);
        rec.enc = kh_buf_data(&enc);
        rec.enc_len = kh_buf_size(&enc);
        line_at[i] = kh_buf_size(out);
        GEN_CHECK(kh_audit_json_line(&rec, &e, out) == 0 &&
                  kh_buf_put_u8(out, '\n') == 0);
        if (e.seq == 3) {
            an->seq = 4;
            an->time_ns = e.time_ns + 7;
            memcpy(an->hash, rec.hash, sizeof(rec.hash));
        }
        memcpy(prev, rec.hash, sizeof(prev));
    }
    line_at[8] = kh_buf_size(out);
    kh_buf_free(&enc);
}

static void gen_audit_seeds(void)
{
    const struct fuzz_key *k = fuzz_key_find("p256");
    struct kh_audit_anchor an = { 0 };
    struct kh_buf all, w;
    size_t at[9];
    BIO *bio;
    EVP_PKEY *pk;
    const uint8_t *d;

    GEN_CHECK(k != NULL && (bio = BIO_new_mem_buf(k->pem, -1)) != NULL);
    GEN_CHECK((pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) != NULL);
    BIO_free(bio);
    kh_buf_init_writer(&all, KH_AUDIT_MAX_LINE * 2);
    kh_buf_init_writer(&w, KH_AUDIT_MAX_LINE * 2);
    gen_audit_chain(pk, &all, at, &an);
    d = kh_buf_data(&all);
    gen_write("kh_audit_json", "chain", d, at[8]);
    gen_write("kh_audit_json", "one-line", d, at[1] - 1);
    /* The archived form: the anchor line, then entries 4..8. */
    GEN_CHECK(kh_audit_anchor_json(&an, &w) == 0 && kh_buf_put_u8(&w, '\n') == 0 &&
              kh_buf_put_bytes(&w, d + at[3], at[8] - at[3]) == 0);
    gen_write("kh_audit_json", "anchored", kh_buf_data(&w), kh_buf_size(&w));
    /* Archive then live: entries 1..3, the anchor, entries 4..8. */
    kh_buf_reset(&w);
    GEN_CHECK(kh_buf_put_bytes(&w, d, at[3]) == 0 &&
              kh_audit_anchor_json(&an, &w) == 0 && kh_buf_put_u8(&w, '\n') == 0 &&
              kh_buf_put_bytes(&w, d + at[3], at[8] - at[3]) == 0);
    gen_write("kh_audit_json", "archive-then-live", kh_buf_data(&w),
              kh_buf_size(&w));
    /* Entry 3 missing, entries 5 and 6 swapped, one field edited. */
    kh_buf_reset(&w);
    GEN_CHECK(kh_buf_put_bytes(&w, d, at[2]) == 0 &&
              kh_buf_put_bytes(&w, d + at[3], at[8] - at[3]) == 0);
    gen_write("kh_audit_json", "missing", kh_buf_data(&w), kh_buf_size(&w));
    kh_buf_reset(&w);
    GEN_CHECK(kh_buf_put_bytes(&w, d, at[4]) == 0 &&
              kh_buf_put_bytes(&w, d + at[5], at[6] - at[5]) == 0 &&
              kh_buf_put_bytes(&w, d + at[4], at[5] - at[4]) == 0 &&
              kh_buf_put_bytes(&w, d + at[6], at[8] - at[6]) == 0);
    gen_write("kh_audit_json", "swapped", kh_buf_data(&w), kh_buf_size(&w));
    kh_buf_reset(&w);
    GEN_CHECK(kh_buf_put_bytes(&w, d, at[8]) == 0);
    ((uint8_t *)kh_buf_data(&w))[at[1] + 10] ^= 1; /* inside "time" */
    gen_write("kh_audit_json", "edited", kh_buf_data(&w), kh_buf_size(&w));
    kh_buf_free(&w);
    kh_buf_free(&all);
    EVP_PKEY_free(pk);
}

int main(int argc, char **argv)
{
    uint8_t *p256_cert, *ed_cert;
    size_t p256_len, ed_len;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    gen_dir = argv[1];
    GEN_CHECK(mkdir(gen_dir, 0755) == 0 || errno == EEXIST);
    GEN_CHECK(fuzz_key_cert(fuzz_key_find("p256"), &p256_cert, &p256_len));
    GEN_CHECK(fuzz_key_cert(fuzz_key_find("ed"), &ed_cert, &ed_len));
    gen_proto_seeds(ed_cert, ed_len);
    gen_dispatch_seeds(p256_cert, p256_len, ed_cert, ed_len);
    gen_uri_seeds();
    gen_ref_seeds(ed_cert, ed_len);
    gen_ceremony_seeds();
    gen_audit_seeds();
    OPENSSL_free(p256_cert);
    OPENSSL_free(ed_cert);
    return 0;
}
