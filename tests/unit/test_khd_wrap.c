/* Unit tests: key wrapping (khd_wrap.c) and key records (khd_record.c). */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "kh_test.h"
#include "khd_record.h"
#include "khd_wrap.h"

static uint8_t master_a[KHD_MASTER_KEY_LEN];
static uint8_t master_b[KHD_MASTER_KEY_LEN];

static void test_setup(void)
{
    CU_ASSERT_NOT_EQUAL_FATAL(CRYPTO_secure_malloc_init(1 << 20, 32), 0);
    CU_ASSERT_EQUAL_FATAL(RAND_bytes(master_a, sizeof(master_a)), 1);
    CU_ASSERT_EQUAL_FATAL(RAND_bytes(master_b, sizeof(master_b)), 1);
}

static void test_check_value(void)
{
    uint8_t a1[KHD_CHECK_VALUE_LEN], a2[KHD_CHECK_VALUE_LEN];
    uint8_t b[KHD_CHECK_VALUE_LEN];

    CU_ASSERT_EQUAL(khd_master_check_value(master_a, a1), 0);
    CU_ASSERT_EQUAL(khd_master_check_value(master_a, a2), 0);
    CU_ASSERT_EQUAL(khd_master_check_value(master_b, b), 0);
    CU_ASSERT_EQUAL(memcmp(a1, a2, sizeof(a1)), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a1, b, sizeof(a1)), 0);
    /* The check value is not the master key itself. */
    CU_ASSERT_NOT_EQUAL(memcmp(a1, master_a, sizeof(a1)), 0);
}

static void test_wrap_roundtrip(void)
{
    struct khd_kek *kek;
    struct kh_buf w;
    const uint8_t secret[] = "private key bytes";
    uint8_t *pt;
    size_t ptlen;

    CU_ASSERT_EQUAL_FATAL(khd_kek_derive(master_a, &kek), 0);
    CU_ASSERT_TRUE(CRYPTO_secure_allocated(kek));
    kh_buf_init_writer(&w, 4096);
    CU_ASSERT_EQUAL(khd_wrap(kek, (const uint8_t *)"aad", 3, secret,
                             sizeof(secret), &w), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&w), sizeof(secret) + KHD_WRAP_OVERHEAD);
    /* The plaintext does not appear in the blob. */
    CU_ASSERT_PTR_NULL(memmem(kh_buf_data(&w), kh_buf_size(&w), secret, 8));
    CU_ASSERT_EQUAL(khd_unwrap(kek, (const uint8_t *)"aad", 3,
                               kh_buf_data(&w), kh_buf_size(&w), &pt, &ptlen),
                    0);
    CU_ASSERT_EQUAL(ptlen, sizeof(secret));
    CU_ASSERT_EQUAL(memcmp(pt, secret, ptlen), 0);
    CU_ASSERT_TRUE(CRYPTO_secure_allocated(pt));
    OPENSSL_secure_clear_free(pt, ptlen);
    /* Two wraps of the same key differ (fresh nonce). */
    {
        struct kh_buf w2;

        kh_buf_init_writer(&w2, 4096);
        CU_ASSERT_EQUAL(khd_wrap(kek, NULL, 0, secret, sizeof(secret), &w2),
                        0);
        CU_ASSERT_NOT_EQUAL(memcmp(kh_buf_data(&w) + 1,
                                   kh_buf_data(&w2) + 1, 12), 0);
        kh_buf_free(&w2);
    }
    kh_buf_free(&w);
    khd_kek_free(kek);
}

/* Every flipped bit position, wrong AAD, wrong KEK, truncation: TAMPERED. */
static void test_unwrap_refuses_tampering(void)
{
    struct khd_kek *kek, *other;
    struct kh_buf w;
    const uint8_t secret[40] = { 1, 2, 3 };
    uint8_t *pt, *copy;
    size_t ptlen, n;

    CU_ASSERT_EQUAL_FATAL(khd_kek_derive(master_a, &kek), 0);
    CU_ASSERT_EQUAL_FATAL(khd_kek_derive(master_b, &other), 0);
    kh_buf_init_writer(&w, 4096);
    CU_ASSERT_EQUAL_FATAL(khd_wrap(kek, (const uint8_t *)"aad", 3, secret,
                                   sizeof(secret), &w), 0);
    n = kh_buf_size(&w);
    copy = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    for (size_t i = 0; i < n; i++) {
        memcpy(copy, kh_buf_data(&w), n);
        copy[i] ^= 0x01;
        CU_ASSERT_EQUAL(khd_unwrap(kek, (const uint8_t *)"aad", 3, copy, n,
                                   &pt, &ptlen), KH_ERR_TAMPERED);
        CU_ASSERT_PTR_NULL(pt);
    }
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(khd_unwrap(kek, (const uint8_t *)"aad", 3,
                                   kh_buf_data(&w), i, &pt, &ptlen),
                        KH_ERR_TAMPERED);
    }
    CU_ASSERT_EQUAL(khd_unwrap(kek, (const uint8_t *)"aaD", 3,
                               kh_buf_data(&w), n, &pt, &ptlen),
                    KH_ERR_TAMPERED);
    CU_ASSERT_EQUAL(khd_unwrap(kek, NULL, 0, kh_buf_data(&w), n, &pt, &ptlen),
                    KH_ERR_TAMPERED);
    CU_ASSERT_EQUAL(khd_unwrap(other, (const uint8_t *)"aad", 3,
                               kh_buf_data(&w), n, &pt, &ptlen),
                    KH_ERR_TAMPERED);
    free(copy);
    kh_buf_free(&w);
    khd_kek_free(kek);
    khd_kek_free(other);
}

static void make_meta(struct kh_key_info *m, const char *name, uint32_t v)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->version = v;
    m->type = KH_KEY_P256;
    m->state = KH_KEY_ACTIVE;
    m->created = 1790000000;
    m->owner_uid = 1000;
    m->acl.n_uids = 1;
    m->acl.uids[0] = 33;
    m->spki_len = 91;
    memset(m->spki, 0x30, m->spki_len);
}

static void test_record_roundtrip(void)
{
    struct kh_key_info meta, got;
    struct khd_kek *kek;
    struct kh_buf rec;
    uint8_t priv[121], *p;
    size_t plen;

    CU_ASSERT_EQUAL_FATAL(RAND_bytes(priv, sizeof(priv)), 1);
    CU_ASSERT_EQUAL_FATAL(khd_kek_derive(master_a, &kek), 0);
    make_meta(&meta, "web", 1);
    kh_buf_init_writer(&rec, KHD_RECORD_MAX_LEN);
    CU_ASSERT_EQUAL(khd_record_seal(kek, &meta, priv, sizeof(priv), &rec), 0);
    CU_ASSERT_EQUAL(khd_record_open(kek, kh_buf_data(&rec), kh_buf_size(&rec),
                                    "web", 1, &got, &p, &plen), 0);
    CU_ASSERT_EQUAL(plen, sizeof(priv));
    CU_ASSERT_EQUAL(memcmp(p, priv, plen), 0);
    CU_ASSERT_EQUAL(got.acl.uids[0], 33);
    CU_ASSERT_EQUAL(memcmp(got.spki, meta.spki, meta.spki_len), 0);
    OPENSSL_secure_clear_free(p, plen);
    /* Metadata only: still authenticated. */
    CU_ASSERT_EQUAL(khd_record_open(kek, kh_buf_data(&rec), kh_buf_size(&rec),
                                    "web", 1, &got, NULL, NULL), 0);
    kh_buf_free(&rec);
    khd_kek_free(kek);
}

/* Any changed byte anywhere in the record is refused, never used. */
static void test_record_refuses_every_tampered_byte(void)
{
    struct kh_key_info meta, got;
    struct khd_kek *kek;
    struct kh_buf rec;
    uint8_t priv[64] = { 9 }, *copy, *p;
    size_t n, plen;

    CU_ASSERT_EQUAL_FATAL(khd_kek_derive(master_a, &kek), 0);
    make_meta(&meta, "web", 2);
    kh_buf_init_writer(&rec, KHD_RECORD_MAX_LEN);
    CU_ASSERT_EQUAL_FATAL(khd_record_seal(kek, &meta, priv, sizeof(priv),
                                          &rec), 0);
    n = kh_buf_size(&rec);
    copy = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    for (size_t i = 0; i < n; i++) {
        for (unsigned bit = 0; bit < 8; bit += 7) {
            memcpy(copy, kh_buf_data(&rec), n);
            copy[i] ^= (uint8_t)(1u << bit);
            CU_ASSERT_EQUAL(khd_record_open(kek, copy, n, "web", 2, &got, &p,
                                            &plen), KH_ERR_TAMPERED);
            CU_ASSERT_PTR_NULL(p);
        }
    }
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(khd_record_open(kek, kh_buf_data(&rec), i, "web", 2,
                                        &got, &p, &plen), KH_ERR_TAMPERED);
    }
    free(copy);
    kh_buf_free(&rec);
    khd_kek_free(kek);
}

/* A valid record moved under another name or version is refused. */
static void test_record_refuses_swap(void)
{
    struct kh_key_info meta, got;
    struct khd_kek *kek, *other;
    struct kh_buf rec;
    uint8_t priv[64] = { 9 }, *p;
    size_t plen;

    CU_ASSERT_EQUAL_FATAL(khd_kek_derive(master_a, &kek), 0);
    CU_ASSERT_EQUAL_FATAL(khd_kek_derive(master_b, &other), 0);
    make_meta(&meta, "low-value", 1);
    kh_buf_init_writer(&rec, KHD_RECORD_MAX_LEN);
    CU_ASSERT_EQUAL_FATAL(khd_record_seal(kek, &meta, priv, sizeof(priv),
                                          &rec), 0);
    CU_ASSERT_EQUAL(khd_record_open(kek, kh_buf_data(&rec), kh_buf_size(&rec),
                                    "ca-root", 1, &got, &p, &plen),
                    KH_ERR_TAMPERED);
    CU_ASSERT_EQUAL(khd_record_open(kek, kh_buf_data(&rec), kh_buf_size(&rec),
                                    "low-value", 2, &got, &p, &plen),
                    KH_ERR_TAMPERED);
    /* Same record under another keyholder's master key. */
    CU_ASSERT_EQUAL(khd_record_open(other, kh_buf_data(&rec),
                                    kh_buf_size(&rec), "low-value", 1, &got,
                                    &p, &plen), KH_ERR_TAMPERED);
    kh_buf_free(&rec);
    khd_kek_free(kek);
    khd_kek_free(other);
}

/*
 * An attacker who rewrites the metadata consistently (a wider ACL, another
 * type) but keeps the wrapped blob is caught by the AAD.
 */
static void test_record_refuses_rewritten_metadata(void)
{
    struct kh_key_info meta, evil, got;
    struct khd_kek *kek;
    struct kh_buf rec, forged, m;
    struct kh_buf r;
    const uint8_t *mp, *wp;
    size_t mlen, wlen, plen;
    uint8_t priv[64] = { 9 }, *p;
    uint32_t magic;

    CU_ASSERT_EQUAL_FATAL(khd_kek_derive(master_a, &kek), 0);
    make_meta(&meta, "web", 1);
    kh_buf_init_writer(&rec, KHD_RECORD_MAX_LEN);
    CU_ASSERT_EQUAL_FATAL(khd_record_seal(kek, &meta, priv, sizeof(priv),
                                          &rec), 0);
    kh_buf_init_reader(&r, kh_buf_data(&rec), kh_buf_size(&rec));
    CU_ASSERT_EQUAL_FATAL(kh_buf_get_u32(&r, &magic), 0);
    CU_ASSERT_EQUAL_FATAL(kh_buf_get_str(&r, &mp, &mlen, 100000), 0);
    CU_ASSERT_EQUAL_FATAL(kh_buf_get_str(&r, &wp, &wlen, 100000), 0);

    for (int variant = 0; variant < 3; variant++) {
        evil = meta;
        if (variant == 0) {
            evil.acl.uids[evil.acl.n_uids++] = 65534; /* let nobody in */
        } else if (variant == 1) {
            evil.owner_uid = 65534;
        } else {
            evil.type = KH_KEY_P384;
        }
        kh_buf_init_writer(&m, 100000);
        kh_buf_init_writer(&forged, 100000);
        CU_ASSERT_EQUAL(kh_key_info_encode(&m, &evil), 0);
        CU_ASSERT_EQUAL(kh_buf_put_u32(&forged, magic), 0);
        CU_ASSERT_EQUAL(kh_buf_put_str(&forged, kh_buf_data(&m),
                                       kh_buf_size(&m)), 0);
        CU_ASSERT_EQUAL(kh_buf_put_str(&forged, wp, wlen), 0);
        CU_ASSERT_EQUAL(khd_record_open(kek, kh_buf_data(&forged),
                                        kh_buf_size(&forged), "web", 1, &got,
                                        &p, &plen), KH_ERR_TAMPERED);
        kh_buf_free(&m);
        kh_buf_free(&forged);
    }
    kh_buf_free(&rec);
    khd_kek_free(kek);
}

/* The MAC binds label, name and value; only this master key makes it. */
static void test_mac_binding(void)
{
    struct khd_kek *kek, *other;
    uint8_t t1[KHD_MAC_LEN], t2[KHD_MAC_LEN];
    const uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };

    CU_ASSERT_EQUAL_FATAL(khd_kek_derive(master_a, &kek), 0);
    CU_ASSERT_EQUAL_FATAL(khd_kek_derive(master_b, &other), 0);
    CU_ASSERT_EQUAL(khd_mac(kek, "l", (const uint8_t *)"web", 3, der,
                            sizeof(der), t1), 0);
    CU_ASSERT_EQUAL(khd_mac(kek, "l", (const uint8_t *)"web", 3, der,
                            sizeof(der), t2), 0);
    CU_ASSERT_EQUAL(memcmp(t1, t2, sizeof(t1)), 0);
    CU_ASSERT_EQUAL(khd_mac(kek, "l", (const uint8_t *)"web2", 4, der,
                            sizeof(der), t2), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(t1, t2, sizeof(t1)), 0);
    CU_ASSERT_EQUAL(khd_mac(kek, "m", (const uint8_t *)"web", 3, der,
                            sizeof(der), t2), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(t1, t2, sizeof(t1)), 0);
    CU_ASSERT_EQUAL(khd_mac(kek, "l", (const uint8_t *)"web", 3, der,
                            sizeof(der) - 1, t2), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(t1, t2, sizeof(t1)), 0);
    /* Moving a byte across the name/value boundary changes the tag. */
    CU_ASSERT_EQUAL(khd_mac(kek, "l", (const uint8_t *)"we", 2,
                            (const uint8_t *)"b", 1, t1), 0);
    CU_ASSERT_EQUAL(khd_mac(kek, "l", (const uint8_t *)"w", 1,
                            (const uint8_t *)"eb", 2, t2), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(t1, t2, sizeof(t1)), 0);
    CU_ASSERT_EQUAL(khd_mac(other, "l", (const uint8_t *)"we", 2,
                            (const uint8_t *)"b", 1, t2), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(t1, t2, sizeof(t1)), 0);
    khd_kek_free(kek);
    khd_kek_free(other);
}

static const struct kh_test tests[] = {
    KH_TEST(test_setup),
    KH_TEST(test_check_value),
    KH_TEST(test_wrap_roundtrip),
    KH_TEST(test_unwrap_refuses_tampering),
    KH_TEST(test_record_roundtrip),
    KH_TEST(test_record_refuses_every_tampered_byte),
    KH_TEST(test_record_refuses_swap),
    KH_TEST(test_record_refuses_rewritten_metadata),
    KH_TEST(test_mac_binding),
    { NULL, NULL },
};

KH_TEST_MAIN("khd_wrap", tests)
