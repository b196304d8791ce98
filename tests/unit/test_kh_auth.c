/* Unit tests: operator authentication codecs (keystore/proto/kh_auth.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kh_auth.h"
#include "kh_seal.h"
#include "kh_test.h"

/* Every strict prefix and one extra byte fail; the whole decodes. */
static void check_prefixes(const struct kh_buf *enc,
                           int (*dec)(struct kh_buf *, void *), void *m)
{
    size_t n = kh_buf_size(enc);
    uint8_t plus[4096];
    struct kh_buf r;

    CU_ASSERT_FATAL(n + 1 <= sizeof(plus));
    for (size_t i = 0; i < n; i++) {
        kh_buf_init_reader(&r, kh_buf_data(enc), i);
        CU_ASSERT_NOT_EQUAL(dec(&r, m), 0);
        CU_ASSERT_EQUAL(kh_buf_len(&r), i);
    }
    memcpy(plus, kh_buf_data(enc), n);
    plus[n] = 0;
    kh_buf_init_reader(&r, plus, n + 1);
    CU_ASSERT_EQUAL(dec(&r, m), KH_ERR_TRAILING_DATA);
    kh_buf_init_reader(&r, kh_buf_data(enc), n);
    CU_ASSERT_EQUAL(dec(&r, m), 0);
}

static int dec_authed(struct kh_buf *b, void *m)
{
    return kh_authed_decode(b, m);
}

static int dec_challenge(struct kh_buf *b, void *m)
{
    return kh_challenge_decode(b, m);
}

static void test_roles(void)
{
    uint32_t r = 0;
    char s[64];

    CU_ASSERT_EQUAL(kh_role_from_name("custodian", &r), 0);
    CU_ASSERT_EQUAL(r, KH_ROLE_CUSTODIAN);
    CU_ASSERT_EQUAL(kh_role_from_name("root", &r), KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NULL(kh_role_name(0x10));
    kh_roles_format(KH_ROLE_ADMIN | KH_ROLE_AUDITOR, s, sizeof(s));
    CU_ASSERT_STRING_EQUAL(s, "admin,auditor");
    kh_roles_format(0, s, sizeof(s));
    CU_ASSERT_STRING_EQUAL(s, "-");
}

static void test_authed_codec(void)
{
    static const uint8_t inner[] = { 1, 2, 3 }, sig[] = { 0x30, 1, 2 };
    struct kh_authed m = { .op = "alice", .inner_type = KH_MSG_OPERATOR_LIST,
                           .inner = inner, .inner_len = sizeof(inner),
                           .sig = sig, .sig_len = sizeof(sig) }, d;
    struct kh_buf b;

    memset(m.nonce, 7, sizeof(m.nonce));
    kh_buf_init_writer(&b, 4096);
    CU_ASSERT_EQUAL_FATAL(kh_authed_encode(&b, &m), 0);
    check_prefixes(&b, dec_authed, &d);
    CU_ASSERT_STRING_EQUAL(d.op, "alice");
    CU_ASSERT_EQUAL(d.inner_type, KH_MSG_OPERATOR_LIST);
    CU_ASSERT_EQUAL(d.inner_len, 3);
    CU_ASSERT_EQUAL(memcmp(d.nonce, m.nonce, 32), 0);
    kh_buf_free(&b);
    /* An empty signature and a bad operator name are refused. */
    m.sig_len = 0;
    kh_buf_init_writer(&b, 4096);
    CU_ASSERT_EQUAL(kh_authed_encode(&b, &m), KH_ERR_INVALID_ARGUMENT);
    m.sig_len = sizeof(sig);
    snprintf(m.op, sizeof(m.op), "-bad");
    CU_ASSERT_EQUAL(kh_authed_encode(&b, &m), KH_ERR_INVALID_ARGUMENT);
    kh_buf_free(&b);
}

static void test_challenge_codec(void)
{
    struct kh_challenge_reply m = { .ttl = 60 }, d;
    struct kh_buf b;

    memset(m.nonce, 0xab, sizeof(m.nonce));
    kh_buf_init_writer(&b, 256);
    CU_ASSERT_EQUAL_FATAL(kh_challenge_encode(&b, &m), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&b), 36);
    check_prefixes(&b, dec_challenge, &d);
    CU_ASSERT_EQUAL(d.ttl, 60);
    kh_buf_free(&b);
}

/* The signed bytes bind every field: change one, the bytes change. */
static void test_tbs_binds(void)
{
    uint8_t nonce[32] = { 1 };
    static const uint8_t body[] = { 9, 9 };
    struct kh_buf a, b;

    kh_buf_init_writer(&a, 4096);
    kh_buf_init_writer(&b, 4096);
    CU_ASSERT_EQUAL(kh_auth_tbs(&a, nonce, "alice", 0x22, body, 2), 0);
    CU_ASSERT_EQUAL(memcmp(kh_buf_data(&a), KH_AUTH_LABEL "\0",
                           sizeof(KH_AUTH_LABEL)), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&a),
                    sizeof(KH_AUTH_LABEL) + 32 + 6 + 1 + 4 + 2);
    CU_ASSERT_EQUAL(kh_auth_tbs(&b, nonce, "alice", 0x23, body, 2), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(kh_buf_data(&a), kh_buf_data(&b),
                               kh_buf_size(&a)), 0);
    kh_buf_reset(&b);
    /* "alic" + "e..." must not collide with "alice" + "...": NUL ends it */
    CU_ASSERT_EQUAL(kh_auth_tbs(&b, nonce, "alic", 0x22, body, 2), 0);
    CU_ASSERT_NOT_EQUAL(kh_buf_size(&a), kh_buf_size(&b));
    kh_buf_free(&a);
    kh_buf_free(&b);
}

static void test_operator_codec(void)
{
    struct kh_operator m = { .name = "bob", .roles = KH_ROLE_CUSTODIAN,
                             .created = 42, .spki_len = 3,
                             .spki = { 1, 2, 3 } }, d;
    struct kh_buf b, rd;

    kh_buf_init_writer(&b, 4096);
    CU_ASSERT_EQUAL_FATAL(kh_operator_encode(&b, &m), 0);
    kh_buf_init_reader(&rd, kh_buf_data(&b), kh_buf_size(&b));
    CU_ASSERT_EQUAL(kh_operator_decode(&rd, &d), 0);
    kh_buf_free(&b);
    CU_ASSERT_EQUAL(d.roles, KH_ROLE_CUSTODIAN);
    CU_ASSERT_EQUAL(d.created, 42);
    CU_ASSERT_EQUAL(d.spki_len, 3);
    m.roles = 0;
    kh_buf_init_writer(&b, 4096);
    CU_ASSERT_EQUAL(kh_operator_encode(&b, &m), KH_ERR_INVALID_ARGUMENT);
    m.roles = 0x100;
    CU_ASSERT_EQUAL(kh_operator_encode(&b, &m), KH_ERR_INVALID_ARGUMENT);
    kh_buf_free(&b);
}

static int dec_facts(struct kh_buf *b, void *m)
{
    return kh_facts_decode(b, m);
}

static int dec_share(struct kh_buf *b, void *m)
{
    return kh_unseal_share_decode(b, m);
}

static void test_facts_codec(void)
{
    struct kh_ceremony_facts *f = calloc(1, sizeof(*f));
    struct kh_ceremony_facts *d = calloc(1, sizeof(*d));
    struct kh_buf b;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    memset(f->id, 0x11, sizeof(f->id));
    f->m = 2;
    f->n = 3;
    f->created = 1234;
    for (unsigned i = 0; i < 3; i++) {
        f->shares[i].x = (uint8_t)(i + 1);
        snprintf(f->shares[i].custodian, sizeof(f->shares[i].custodian),
                 "c%u", i);
        memset(f->shares[i].commitment, (int)i, 32);
    }
    kh_buf_init_writer(&b, 4096);
    CU_ASSERT_EQUAL_FATAL(kh_facts_encode(&b, f), 0);
    check_prefixes(&b, dec_facts, d);
    CU_ASSERT_EQUAL(d->m, 2);
    CU_ASSERT_STRING_EQUAL(d->shares[2].custodian, "c2");
    kh_buf_free(&b);
    /* M > N and shares out of order are refused. */
    f->m = 4;
    kh_buf_init_writer(&b, 4096);
    CU_ASSERT_EQUAL(kh_facts_encode(&b, f), KH_ERR_INVALID_ARGUMENT);
    f->m = 2;
    f->shares[1].x = 3;
    CU_ASSERT_EQUAL(kh_facts_encode(&b, f), KH_ERR_INVALID_ARGUMENT);
    kh_buf_free(&b);
    free(f);
    free(d);
}

static void test_unseal_share_codec(void)
{
    static const uint8_t box[] = { 1, 2, 3, 4 };
    struct kh_unseal_share m = { .purpose = KH_PURPOSE_UNSEAL, .x = 2,
                                 .box = box, .box_len = sizeof(box) }, d;
    struct kh_buf b;
    uint8_t bad[64];
    size_t n;

    kh_buf_init_writer(&b, 4096);
    CU_ASSERT_EQUAL_FATAL(kh_unseal_share_encode(&b, &m), 0);
    check_prefixes(&b, dec_share, &d);
    CU_ASSERT_EQUAL(d.x, 2);
    n = kh_buf_size(&b);
    CU_ASSERT_FATAL(n <= sizeof(bad));
    memcpy(bad, kh_buf_data(&b), n);
    kh_buf_free(&b);
    bad[0] = 9; /* unknown purpose */
    kh_buf_init_reader(&b, bad, n);
    CU_ASSERT_EQUAL(kh_unseal_share_decode(&b, &d), KH_ERR_INVALID_FORMAT);
    bad[0] = KH_PURPOSE_UNSEAL;
    bad[1 + KH_SEAL_ID_LEN] = 0; /* x = 0 */
    kh_buf_init_reader(&b, bad, n);
    CU_ASSERT_EQUAL(kh_unseal_share_decode(&b, &d), KH_ERR_INVALID_FORMAT);
}

/* The unseal AAD binds ceremony, index, custodian and nonce. */
static void test_unseal_aad(void)
{
    uint8_t id[KH_SEAL_ID_LEN] = { 1 }, nonce[32] = { 2 };
    struct kh_buf a, b;

    kh_buf_init_writer(&a, 256);
    kh_buf_init_writer(&b, 256);
    CU_ASSERT_EQUAL(kh_unseal_aad(&a, id, 1, "carol", nonce), 0);
    CU_ASSERT_EQUAL(kh_unseal_aad(&b, id, 1, "carol", nonce), 0);
    CU_ASSERT_EQUAL(memcmp(kh_buf_data(&a), kh_buf_data(&b),
                           kh_buf_size(&a)), 0);
    kh_buf_reset(&b);
    nonce[31] = 1;
    CU_ASSERT_EQUAL(kh_unseal_aad(&b, id, 1, "carol", nonce), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(kh_buf_data(&a), kh_buf_data(&b),
                               kh_buf_size(&a)), 0);
    kh_buf_free(&a);
    kh_buf_free(&b);
}

static const struct kh_test tests[] = {
    KH_TEST(test_facts_codec),
    KH_TEST(test_unseal_share_codec),
    KH_TEST(test_unseal_aad),
    KH_TEST(test_roles),
    KH_TEST(test_authed_codec),
    KH_TEST(test_challenge_codec),
    KH_TEST(test_tbs_binds),
    KH_TEST(test_operator_codec),
    { 0 },
};

KH_TEST_MAIN("kh_auth", tests)
