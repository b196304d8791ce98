/* Unit tests: message codecs and framing (keystore/proto/kh_proto.c). */
#include <string.h>

#include "kh_audit.h"
#include "kh_proto.h"
#include "kh_test.h"

typedef int (*decode_fn)(struct kh_buf *b, void *m);

/*
 * Decodes every strict prefix of |enc| (must fail, cursor unchanged), |enc|
 * plus one byte (must fail: trailing data) and then |enc| whole (must
 * succeed, leaving the result in |m|: a failed decode leaves |m| undefined).
 */
static void check_codec(const struct kh_buf *enc, decode_fn dec, void *m)
{
    size_t n = kh_buf_size(enc);
    uint8_t *plus = malloc(n + 1);
    struct kh_buf r;

    CU_ASSERT_PTR_NOT_NULL_FATAL(plus);
    for (size_t i = 0; i < n; i++) {
        kh_buf_init_reader(&r, kh_buf_data(enc), i);
        CU_ASSERT_NOT_EQUAL(dec(&r, m), 0);
        CU_ASSERT_EQUAL(kh_buf_len(&r), i);
    }
    memcpy(plus, kh_buf_data(enc), n);
    plus[n] = 0;
    kh_buf_init_reader(&r, plus, n + 1);
    CU_ASSERT_EQUAL(dec(&r, m), KH_ERR_TRAILING_DATA);
    CU_ASSERT_EQUAL(kh_buf_len(&r), n + 1);
    free(plus);
    kh_buf_init_reader(&r, kh_buf_data(enc), n);
    CU_ASSERT_EQUAL(dec(&r, m), 0);
    CU_ASSERT_EQUAL(kh_buf_len(&r), 0);
}

static int dec_status(struct kh_buf *b, void *m)
{
    return kh_status_decode(b, m);
}

static int dec_error(struct kh_buf *b, void *m)
{
    return kh_error_decode(b, m);
}

static int dec_keygen(struct kh_buf *b, void *m)
{
    return kh_keygen_decode(b, m);
}

static int dec_ref(struct kh_buf *b, void *m)
{
    return kh_key_ref_decode(b, m);
}

static int dec_list_req(struct kh_buf *b, void *m)
{
    return kh_list_request_decode(b, m);
}

static int dec_sign_req(struct kh_buf *b, void *m)
{
    return kh_sign_request_decode(b, m);
}

static int dec_sign_rep(struct kh_buf *b, void *m)
{
    return kh_sign_reply_decode(b, m);
}

static int dec_cert_import(struct kh_buf *b, void *m)
{
    return kh_cert_import_decode(b, m);
}

static int dec_cert_get_req(struct kh_buf *b, void *m)
{
    return kh_cert_get_request_decode(b, m);
}

static int dec_cert_get_rep(struct kh_buf *b, void *m)
{
    return kh_cert_get_reply_decode(b, m);
}

/* key_info is embedded, so it checks the end itself here. */
static int dec_info_whole(struct kh_buf *b, void *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_key_info_decode(&t, m)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    *b = t;
    return 0;
}

static void test_names(void)
{
    uint8_t t, d;

    CU_ASSERT_TRUE(kh_name_valid("web"));
    CU_ASSERT_TRUE(kh_name_valid("a.b_c-9"));
    CU_ASSERT_FALSE(kh_name_valid(""));
    CU_ASSERT_FALSE(kh_name_valid(".hidden"));
    CU_ASSERT_FALSE(kh_name_valid("-opt"));
    CU_ASSERT_FALSE(kh_name_valid("a/b"));
    CU_ASSERT_FALSE(kh_name_valid("a b"));
    CU_ASSERT_FALSE(kh_name_valid("a;version=2"));
    CU_ASSERT_TRUE(kh_name_valid(
        "0123456789012345678901234567890123456789012345678901234567890123"));
    CU_ASSERT_FALSE(kh_name_valid(
        "01234567890123456789012345678901234567890123456789012345678901234"));
    for (int i = KH_KEY_RSA2048; i <= KH_KEY_TYPE_MAX; i++) {
        CU_ASSERT_EQUAL(kh_key_type_from_name(kh_key_type_name(i), &t), 0);
        CU_ASSERT_EQUAL(t, i);
    }
    CU_ASSERT_PTR_NULL(kh_key_type_name(0));
    CU_ASSERT_PTR_NULL(kh_key_type_name(KH_KEY_TYPE_MAX + 1));
    CU_ASSERT_NOT_EQUAL(kh_key_type_from_name("rsa:1024", &t), 0);
    CU_ASSERT_EQUAL(kh_digest_from_name("sha384", &d), 0);
    CU_ASSERT_EQUAL(kh_digest_len(d), 48);
    CU_ASSERT_NOT_EQUAL(kh_digest_from_name("sha1", &d), 0);
    CU_ASSERT_EQUAL(kh_digest_len(KH_DIGEST_NONE), 0);
    CU_ASSERT_EQUAL(kh_digest_len(99), 0);
}

static void test_frame(void)
{
    struct kh_buf w;
    struct kh_frame f;
    uint32_t len;
    const uint8_t big[4] = { 0x00, 0x04, 0x00, 0x01 }; /* 256 KiB + 1 */
    const uint8_t small[4] = { 0, 0, 0, 5 };
    uint8_t bad_version[6] = { 2, 1, 0, 0, 0, 1 };

    kh_buf_init_writer(&w, 1024);
    CU_ASSERT_EQUAL(kh_frame_begin(&w, KH_MSG_STATUS, 42), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, 7), 0);
    CU_ASSERT_EQUAL(kh_frame_end(&w), 0);
    CU_ASSERT_EQUAL(kh_frame_check_len(kh_buf_data(&w), &len), 0);
    CU_ASSERT_EQUAL(len, kh_buf_size(&w) - 4);
    CU_ASSERT_EQUAL(kh_frame_decode(kh_buf_data(&w) + 4, len, &f), 0);
    CU_ASSERT_EQUAL(f.type, KH_MSG_STATUS);
    CU_ASSERT_EQUAL(f.request_id, 42);
    CU_ASSERT_EQUAL(kh_buf_len(&f.body), 1);
    /* Limits are checked on the length prefix alone. */
    CU_ASSERT_EQUAL(kh_frame_check_len(big, &len), KH_ERR_TOO_LARGE);
    CU_ASSERT_EQUAL(kh_frame_check_len(small, &len), KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(kh_frame_decode(bad_version, 6, &f), KH_ERR_BAD_VERSION);
    for (size_t i = 0; i < 6; i++) {
        CU_ASSERT_NOT_EQUAL(kh_frame_decode(kh_buf_data(&w) + 4, i, &f), 0);
    }
    /* A frame over the limit cannot be produced. */
    kh_buf_reset(&w);
    kh_buf_free(&w);
    kh_buf_init_writer(&w, KH_MAX_FRAME_LEN + 64);
    CU_ASSERT_EQUAL(kh_frame_begin(&w, KH_MSG_STATUS, 1), 0);
    {
        uint8_t *p;

        CU_ASSERT_EQUAL(kh_buf_reserve(&w, KH_MAX_FRAME_LEN, &p), 0);
        memset(p, 0, KH_MAX_FRAME_LEN);
    }
    CU_ASSERT_EQUAL(kh_frame_end(&w), KH_ERR_TOO_LARGE);
    kh_buf_free(&w);
}

static void test_status(void)
{
    struct kh_status_reply in = { .state = KH_STATE_UNSEALED,
                                  .insecure_dev = 1,
                                  .secure_heap = 1,
                                  .key_count = 12,
                                  .version = "0.1.0" },
                           out;
    struct kh_buf w;

    kh_buf_init_writer(&w, 1024);
    CU_ASSERT_EQUAL(kh_status_encode(&w, &in), 0);
    check_codec(&w, dec_status, &out);
    CU_ASSERT_EQUAL(out.state, KH_STATE_UNSEALED);
    CU_ASSERT_EQUAL(out.key_count, 12);
    CU_ASSERT_STRING_EQUAL(out.version, "0.1.0");
    /* An out-of-range state byte is refused. */
    ((uint8_t *)kh_buf_data(&w))[0] = 9;
    {
        struct kh_buf r;

        kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
        CU_ASSERT_EQUAL(kh_status_decode(&r, &out), KH_ERR_INVALID_FORMAT);
    }
    kh_buf_free(&w);
}

static void test_error(void)
{
    struct kh_error_reply in = { .code = KH_ERR_SEALED,
                                 .reason = "keyholder is sealed" },
                          out;
    struct kh_buf w, r;
    const uint8_t zero_code[] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    const uint8_t big_code[] = { 0, 0, 1, 0, 0, 0, 0, 0 };

    kh_buf_init_writer(&w, 1024);
    CU_ASSERT_EQUAL(kh_error_encode(&w, &in), 0);
    check_codec(&w, dec_error, &out);
    CU_ASSERT_EQUAL(out.code, KH_ERR_SEALED);
    CU_ASSERT_STRING_EQUAL(out.reason, "keyholder is sealed");
    kh_buf_init_reader(&r, zero_code, sizeof(zero_code));
    CU_ASSERT_EQUAL(kh_error_decode(&r, &out), KH_ERR_INVALID_FORMAT);
    kh_buf_init_reader(&r, big_code, sizeof(big_code));
    CU_ASSERT_EQUAL(kh_error_decode(&r, &out), KH_ERR_INVALID_FORMAT);
    in.code = 5; /* positive codes are not errors */
    kh_buf_reset(&w);
    CU_ASSERT_NOT_EQUAL(kh_error_encode(&w, &in), 0);
    kh_buf_free(&w);
}

static void test_keygen(void)
{
    struct kh_keygen_request in = { .name = "web", .type = KH_KEY_P256 },
                             out;
    struct kh_buf w, r;

    in.acl.n_uids = 2;
    in.acl.uids[0] = 33;
    in.acl.uids[1] = 1000;
    in.acl.n_gids = 1;
    in.acl.gids[0] = 33;
    kh_buf_init_writer(&w, 4096);
    CU_ASSERT_EQUAL(kh_keygen_encode(&w, &in), 0);
    check_codec(&w, dec_keygen, &out);
    CU_ASSERT_STRING_EQUAL(out.name, "web");
    CU_ASSERT_EQUAL(out.type, KH_KEY_P256);
    CU_ASSERT_EQUAL(out.acl.n_uids, 2);
    CU_ASSERT_EQUAL(out.acl.uids[1], 1000);
    CU_ASSERT_EQUAL(out.acl.gids[0], 33);

    /* An ACL count over the maximum is refused before reading it. */
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_buf_put_cstr(&w, "web"), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, KH_KEY_P256), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, KH_MAX_ACL + 1), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_keygen_decode(&r, &out), KH_ERR_TOO_LARGE);
    CU_ASSERT_EQUAL(kh_buf_len(&r), kh_buf_size(&w));

    /* Bad names and types never make it onto the wire or off it. */
    kh_buf_reset(&w);
    snprintf(in.name, sizeof(in.name), "a/b");
    CU_ASSERT_EQUAL(kh_keygen_encode(&w, &in), KH_ERR_INVALID_ARGUMENT);
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_buf_put_cstr(&w, "a/b"), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, KH_KEY_P256), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 0), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 0), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_keygen_decode(&r, &out), KH_ERR_INVALID_FORMAT);
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_buf_put_cstr(&w, "ok"), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, 99), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 0), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 0), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, KH_AUDIT_SYNC), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_keygen_decode(&r, &out), KH_ERR_UNSUPPORTED);
    /* The audit mode: sync (0) or batched (1), nothing else. */
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_buf_put_cstr(&w, "ok"), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, KH_KEY_P256), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 0), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 0), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, KH_AUDIT_BATCHED), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_keygen_decode(&r, &out), 0);
    CU_ASSERT_EQUAL(out.audit, KH_AUDIT_BATCHED);
    kh_buf_truncate(&w, kh_buf_size(&w) - 1);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, 2), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_keygen_decode(&r, &out), KH_ERR_INVALID_FORMAT);
    kh_buf_free(&w);
}

static void test_key_info(void)
{
    struct kh_key_info in, out;
    struct kh_buf w, r;

    memset(&in, 0, sizeof(in));
    snprintf(in.name, sizeof(in.name), "ca-root");
    in.version = 3;
    in.type = KH_KEY_RSA4096;
    in.state = KH_KEY_ACTIVE;
    in.created = 1790000000;
    in.owner_uid = 1000;
    in.acl.n_gids = 1;
    in.acl.gids[0] = 33;
    in.spki_len = 550;
    memset(in.spki, 0x5a, in.spki_len);
    kh_buf_init_writer(&w, 8192);
    CU_ASSERT_EQUAL(kh_key_info_encode(&w, &in), 0);
    check_codec(&w, dec_info_whole, &out);
    CU_ASSERT_EQUAL(memcmp(&in.spki, &out.spki, in.spki_len), 0);
    CU_ASSERT_EQUAL(out.created, in.created);
    CU_ASSERT_EQUAL(out.version, 3);

    /* SPKI over the cap: refused on both sides. */
    in.spki_len = KH_MAX_SPKI_LEN + 1;
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_key_info_encode(&w, &in), KH_ERR_TOO_LARGE);
    /* Version 0 and unknown states are invalid. */
    in.spki_len = 10;
    in.version = 0;
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_key_info_encode(&w, &in), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_key_info_decode(&r, &out), KH_ERR_INVALID_FORMAT);
    in.version = 1;
    in.state = 7;
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_key_info_encode(&w, &in), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_key_info_decode(&r, &out), KH_ERR_INVALID_FORMAT);
    kh_buf_free(&w);
}

static void test_ref_and_list(void)
{
    struct kh_key_ref ref = { .name = "web", .version = 2 }, rout;
    struct kh_list_request lr = { .after = "m" }, lout;
    struct kh_buf w, r;
    uint8_t more;
    uint32_t count;

    kh_buf_init_writer(&w, 1024);
    CU_ASSERT_EQUAL(kh_key_ref_encode(&w, &ref), 0);
    check_codec(&w, dec_ref, &rout);
    CU_ASSERT_EQUAL(rout.version, 2);
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_list_request_encode(&w, &lr), 0);
    check_codec(&w, dec_list_req, &lout);
    CU_ASSERT_STRING_EQUAL(lout.after, "m");
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_list_reply_begin(&w, 1, 3), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_list_reply_decode_header(&r, &more, &count), 0);
    CU_ASSERT_EQUAL(count, 3);
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, 0), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, KH_MAX_LIST_PAGE + 1), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_list_reply_decode_header(&r, &more, &count),
                    KH_ERR_INVALID_FORMAT);
    kh_buf_free(&w);
}

static void test_sign_request(void)
{
    uint8_t digest[32];
    struct kh_sign_request in = { .name = "web",
                                  .version = 0,
                                  .input = KH_INPUT_DIGEST,
                                  .digest = KH_DIGEST_SHA256,
                                  .padding = KH_PAD_PSS,
                                  .mgf1_digest = KH_DIGEST_SHA384,
                                  .salt_len = KH_PSS_SALT_MAX,
                                  .data = digest,
                                  .data_len = sizeof(digest) },
                           out;
    struct kh_buf w, r;
    uint8_t *big;

    memset(digest, 0xa5, sizeof(digest));
    kh_buf_init_writer(&w, KH_MAX_FRAME_LEN);
    CU_ASSERT_EQUAL(kh_sign_request_encode(&w, &in), 0);
    check_codec(&w, dec_sign_req, &out);
    CU_ASSERT_EQUAL(out.data_len, 32);
    CU_ASSERT_EQUAL(memcmp(out.data, digest, 32), 0);
    CU_ASSERT_EQUAL(out.salt_len, KH_PSS_SALT_MAX);
    CU_ASSERT_EQUAL(out.mgf1_digest, KH_DIGEST_SHA384);

    /* Each out-of-range field is refused by the encoder. */
    out = in;
    out.input = 3;
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_sign_request_encode(&w, &out), KH_ERR_INVALID_ARGUMENT);
    out = in;
    out.digest = KH_DIGEST_MAX + 1;
    CU_ASSERT_EQUAL(kh_sign_request_encode(&w, &out), KH_ERR_INVALID_ARGUMENT);
    out = in;
    out.padding = 3;
    CU_ASSERT_EQUAL(kh_sign_request_encode(&w, &out), KH_ERR_INVALID_ARGUMENT);
    out = in;
    out.salt_len = 0x10000;
    CU_ASSERT_EQUAL(kh_sign_request_encode(&w, &out), KH_ERR_INVALID_ARGUMENT);

    /* ... and by the decoder when a peer sends it anyway. */
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_sign_request_encode(&w, &in), 0);
    ((uint8_t *)kh_buf_data(&w))[4 + 3 + 4 + 1] = 9; /* the digest byte */
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_sign_request_decode(&r, &out), KH_ERR_INVALID_FORMAT);

    /* Data over KH_MAX_SIGN_DATA is refused both ways. */
    big = calloc(1, KH_MAX_SIGN_DATA + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    out = in;
    out.data = big;
    out.data_len = KH_MAX_SIGN_DATA + 1;
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_sign_request_encode(&w, &out), KH_ERR_INVALID_ARGUMENT);
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_buf_put_cstr(&w, "web"), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 0), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, KH_INPUT_MESSAGE), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, KH_DIGEST_SHA256), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, KH_PAD_NONE), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, KH_DIGEST_NONE), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 0), 0);
    CU_ASSERT_EQUAL(kh_buf_put_str(&w, big, KH_MAX_SIGN_DATA + 1), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_sign_request_decode(&r, &out), KH_ERR_TOO_LARGE);
    free(big);
    kh_buf_free(&w);
}

static void test_sign_reply(void)
{
    struct kh_sign_reply in = { .version = 1, .sig_len = 64 }, out;
    struct kh_buf w, r;

    memset(in.sig, 7, sizeof(in.sig));
    kh_buf_init_writer(&w, 4096);
    CU_ASSERT_EQUAL(kh_sign_reply_encode(&w, &in), 0);
    check_codec(&w, dec_sign_rep, &out);
    CU_ASSERT_EQUAL(out.sig_len, 64);
    CU_ASSERT_EQUAL(memcmp(out.sig, in.sig, 64), 0);
    in.sig_len = KH_MAX_SIG_LEN + 1;
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_sign_reply_encode(&w, &in), KH_ERR_INVALID_ARGUMENT);
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 1), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, KH_MAX_SIG_LEN + 1), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_sign_reply_decode(&r, &out), KH_ERR_TOO_LARGE);
    kh_buf_free(&w);
}

static void test_cert_import(void)
{
    uint8_t der[300];
    struct kh_cert_import_request in = { .name = "web",
                                         .der = der,
                                         .der_len = sizeof(der) },
                                  out;
    struct kh_buf w, r;
    uint8_t *big;

    memset(der, 0x30, sizeof(der));
    kh_buf_init_writer(&w, KH_MAX_FRAME_LEN);
    CU_ASSERT_EQUAL(kh_cert_import_encode(&w, &in), 0);
    check_codec(&w, dec_cert_import, &out);
    CU_ASSERT_STRING_EQUAL(out.name, "web");
    CU_ASSERT_EQUAL(out.der_len, sizeof(der));
    CU_ASSERT_EQUAL(memcmp(out.der, der, sizeof(der)), 0);

    /* Exactly KH_MAX_CERT_LEN passes; one more is refused both ways. */
    big = calloc(1, KH_MAX_CERT_LEN + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    out = in;
    out.der = big;
    out.der_len = KH_MAX_CERT_LEN;
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_cert_import_encode(&w, &out), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_cert_import_decode(&r, &out), 0);
    CU_ASSERT_EQUAL(out.der_len, KH_MAX_CERT_LEN);
    out.der_len = KH_MAX_CERT_LEN + 1;
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_cert_import_encode(&w, &out), KH_ERR_TOO_LARGE);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 0);
    CU_ASSERT_EQUAL(kh_buf_put_cstr(&w, "web"), 0);
    CU_ASSERT_EQUAL(kh_buf_put_str(&w, big, KH_MAX_CERT_LEN + 1), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_cert_import_decode(&r, &out), KH_ERR_TOO_LARGE);
    CU_ASSERT_EQUAL(kh_buf_len(&r), kh_buf_size(&w));
    free(big);

    /* A length prefix promising more than the frame holds. */
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_buf_put_cstr(&w, "web"), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 100), 0);
    CU_ASSERT_EQUAL(kh_buf_put_bytes(&w, der, 99), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_cert_import_decode(&r, &out),
                    KH_ERR_MESSAGE_INCOMPLETE);
    CU_ASSERT_EQUAL(kh_buf_len(&r), kh_buf_size(&w));

    /* An empty certificate and a bad name are refused both ways. */
    out = in;
    out.der_len = 0;
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_cert_import_encode(&w, &out), KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_buf_put_cstr(&w, "web"), 0);
    CU_ASSERT_EQUAL(kh_buf_put_str(&w, NULL, 0), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_cert_import_decode(&r, &out), KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(kh_buf_len(&r), kh_buf_size(&w));
    out = in;
    snprintf(out.name, sizeof(out.name), "../x");
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_cert_import_encode(&w, &out), KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_buf_put_cstr(&w, "../x"), 0);
    CU_ASSERT_EQUAL(kh_buf_put_str(&w, der, sizeof(der)), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_cert_import_decode(&r, &out), KH_ERR_INVALID_FORMAT);
    kh_buf_free(&w);
}

static void test_cert_get(void)
{
    struct kh_cert_get_request req = { .name = "ca-root" }, rout;
    uint8_t der[1200];
    struct kh_cert_get_reply in = { .present = 1,
                                    .der = der,
                                    .der_len = sizeof(der) },
                             out;
    struct kh_buf w, r;
    uint8_t *big;

    kh_buf_init_writer(&w, KH_MAX_FRAME_LEN);
    CU_ASSERT_EQUAL(kh_cert_get_request_encode(&w, &req), 0);
    check_codec(&w, dec_cert_get_req, &rout);
    CU_ASSERT_STRING_EQUAL(rout.name, "ca-root");
    snprintf(req.name, sizeof(req.name), "a b");
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_cert_get_request_encode(&w, &req),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_buf_put_cstr(&w, "a b"), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_cert_get_request_decode(&r, &rout),
                    KH_ERR_INVALID_FORMAT);

    /* A certificate, and none. */
    memset(der, 0x82, sizeof(der));
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_cert_get_reply_encode(&w, &in), 0);
    check_codec(&w, dec_cert_get_rep, &out);
    CU_ASSERT_EQUAL(out.present, 1);
    CU_ASSERT_EQUAL(out.der_len, sizeof(der));
    CU_ASSERT_EQUAL(memcmp(out.der, der, sizeof(der)), 0);
    out.present = 0;
    out.der = NULL;
    out.der_len = 0;
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_cert_get_reply_encode(&w, &out), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 5);
    check_codec(&w, dec_cert_get_rep, &out);
    CU_ASSERT_EQUAL(out.present, 0);
    CU_ASSERT_EQUAL(out.der_len, 0);

    /* Inconsistent present/der pairs: refused by both sides. */
    out = in;
    out.present = 0;
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_cert_get_reply_encode(&w, &out),
                    KH_ERR_INVALID_ARGUMENT);
    out.present = 2;
    CU_ASSERT_EQUAL(kh_cert_get_reply_encode(&w, &out),
                    KH_ERR_INVALID_ARGUMENT);
    out.present = 1;
    out.der_len = 0;
    CU_ASSERT_EQUAL(kh_cert_get_reply_encode(&w, &out),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 0);
    {
        static const struct {
            uint8_t present;
            size_t len;
        } bad[] = { { 0, 1 }, { 1, 0 }, { 2, 0 }, { 2, 10 }, { 0xff, 10 } };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            kh_buf_reset(&w);
            CU_ASSERT_EQUAL(kh_buf_put_u8(&w, bad[i].present), 0);
            CU_ASSERT_EQUAL(kh_buf_put_str(&w, der, bad[i].len), 0);
            kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
            CU_ASSERT_EQUAL(kh_cert_get_reply_decode(&r, &out),
                            KH_ERR_INVALID_FORMAT);
            CU_ASSERT_EQUAL(kh_buf_len(&r), kh_buf_size(&w));
        }
    }

    /* Over KH_MAX_CERT_LEN: refused both ways, before the bytes are read. */
    big = calloc(1, KH_MAX_CERT_LEN + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    out = in;
    out.der = big;
    out.der_len = KH_MAX_CERT_LEN + 1;
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_cert_get_reply_encode(&w, &out), KH_ERR_TOO_LARGE);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, 1), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, KH_MAX_CERT_LEN + 1), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_cert_get_reply_decode(&r, &out), KH_ERR_TOO_LARGE);
    CU_ASSERT_EQUAL(kh_buf_len(&r), kh_buf_size(&w));
    free(big);
    kh_buf_free(&w);
}

static void test_errors_have_names(void)
{
    for (int e = 0; e >= KH_ERR_MIN; e--) {
        CU_ASSERT_STRING_NOT_EQUAL(kh_errname(e), "UNKNOWN");
        CU_ASSERT_STRING_NOT_EQUAL(kh_strerror(e), "unknown error");
    }
    CU_ASSERT_STRING_EQUAL(kh_errname(KH_ERR_MIN - 1), "UNKNOWN");
    CU_ASSERT_STRING_EQUAL(kh_errname(1), "UNKNOWN");
    CU_ASSERT_STRING_EQUAL(kh_errname(KH_ERR_SEALED), "SEALED");
}

static const struct kh_test tests[] = {
    KH_TEST(test_names),
    KH_TEST(test_frame),
    KH_TEST(test_status),
    KH_TEST(test_error),
    KH_TEST(test_keygen),
    KH_TEST(test_key_info),
    KH_TEST(test_ref_and_list),
    KH_TEST(test_sign_request),
    KH_TEST(test_sign_reply),
    KH_TEST(test_cert_import),
    KH_TEST(test_cert_get),
    KH_TEST(test_errors_have_names),
    { NULL, NULL },
};

KH_TEST_MAIN("kh_proto", tests)
