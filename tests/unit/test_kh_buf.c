/* Unit tests: the bounds-checked buffer (keystore/proto/kh_buf.c). */
#include <string.h>

#include "kh_buf.h"
#include "kh_test.h"

static void test_roundtrip_integers(void)
{
    struct kh_buf w, r;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;

    kh_buf_init_writer(&w, 64);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, 0xab), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u16(&w, 0x1234), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 0xdeadbeef), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u64(&w, 0x0102030405060708ull), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 15);
    /* Big-endian on the wire. */
    CU_ASSERT_EQUAL(kh_buf_data(&w)[1], 0x12);
    CU_ASSERT_EQUAL(kh_buf_data(&w)[3], 0xde);
    CU_ASSERT_EQUAL(kh_buf_data(&w)[7], 0x01);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_buf_get_u8(&r, &u8), 0);
    CU_ASSERT_EQUAL(kh_buf_get_u16(&r, &u16), 0);
    CU_ASSERT_EQUAL(kh_buf_get_u32(&r, &u32), 0);
    CU_ASSERT_EQUAL(kh_buf_get_u64(&r, &u64), 0);
    CU_ASSERT_EQUAL(u8, 0xab);
    CU_ASSERT_EQUAL(u16, 0x1234);
    CU_ASSERT_EQUAL(u32, 0xdeadbeef);
    CU_ASSERT_EQUAL(u64, 0x0102030405060708ull);
    CU_ASSERT_EQUAL(kh_buf_expect_end(&r), 0);
    kh_buf_free(&w);
}

/* Every getter on every truncation fails and leaves the cursor alone. */
static void test_truncation_keeps_cursor(void)
{
    const uint8_t bytes[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    uint8_t out[8];
    uint64_t u64;
    uint32_t u32;
    uint16_t u16;

    for (size_t n = 0; n < 8; n++) {
        struct kh_buf r;

        kh_buf_init_reader(&r, bytes, n);
        CU_ASSERT_EQUAL(kh_buf_get_u64(&r, &u64), KH_ERR_MESSAGE_INCOMPLETE);
        CU_ASSERT_EQUAL(kh_buf_len(&r), n);
        if (n < 4) {
            CU_ASSERT_EQUAL(kh_buf_get_u32(&r, &u32),
                            KH_ERR_MESSAGE_INCOMPLETE);
            CU_ASSERT_EQUAL(kh_buf_len(&r), n);
        }
        if (n < 2) {
            CU_ASSERT_EQUAL(kh_buf_get_u16(&r, &u16),
                            KH_ERR_MESSAGE_INCOMPLETE);
        }
        CU_ASSERT_EQUAL(kh_buf_get_bytes(&r, out, n + 1),
                        KH_ERR_MESSAGE_INCOMPLETE);
        CU_ASSERT_EQUAL(kh_buf_skip(&r, n + 1), KH_ERR_MESSAGE_INCOMPLETE);
        CU_ASSERT_EQUAL(kh_buf_len(&r), n);
    }
}

static void test_strings(void)
{
    struct kh_buf w, r;
    const uint8_t *p;
    size_t len;
    char s[8];

    kh_buf_init_writer(&w, 128);
    CU_ASSERT_EQUAL(kh_buf_put_cstr(&w, "hello"), 0);
    CU_ASSERT_EQUAL(kh_buf_put_str(&w, "", 0), 0);
    CU_ASSERT_EQUAL(kh_buf_put_str(&w, "a\0b", 3), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_buf_get_cstr(&r, s, sizeof(s)), 0);
    CU_ASSERT_STRING_EQUAL(s, "hello");
    CU_ASSERT_EQUAL(kh_buf_get_str(&r, &p, &len, 10), 0);
    CU_ASSERT_EQUAL(len, 0);
    /* A NUL inside text is refused and the cursor stays. */
    CU_ASSERT_EQUAL(kh_buf_get_cstr(&r, s, sizeof(s)), KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(kh_buf_len(&r), 7);
    CU_ASSERT_EQUAL(kh_buf_get_str(&r, &p, &len, 3), 0);
    CU_ASSERT_EQUAL(memcmp(p, "a\0b", 3), 0);
    CU_ASSERT_EQUAL(kh_buf_expect_end(&r), 0);
    kh_buf_free(&w);
}

static void test_string_limits(void)
{
    struct kh_buf w, r;
    const uint8_t *p;
    size_t len;
    char s[4];

    kh_buf_init_writer(&w, 128);
    CU_ASSERT_EQUAL(kh_buf_put_cstr(&w, "toolong"), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    /* Over the caller's maximum: TOO_LARGE, cursor unchanged. */
    CU_ASSERT_EQUAL(kh_buf_get_str(&r, &p, &len, 6), KH_ERR_TOO_LARGE);
    CU_ASSERT_EQUAL(kh_buf_get_cstr(&r, s, sizeof(s)), KH_ERR_TOO_LARGE);
    CU_ASSERT_EQUAL(kh_buf_len(&r), 11);
    /* The length says 7 but only 6 bytes follow. */
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w) - 1);
    CU_ASSERT_EQUAL(kh_buf_get_str(&r, &p, &len, 100),
                    KH_ERR_MESSAGE_INCOMPLETE);
    CU_ASSERT_EQUAL(kh_buf_len(&r), 10);
    kh_buf_free(&w);
}

/* A length of 0xffffffff must not wrap any arithmetic. */
static void test_huge_length_prefix(void)
{
    const uint8_t evil[] = { 0xff, 0xff, 0xff, 0xff, 'x' };
    const uint8_t evil2[] = { 0xff, 0xff, 0xff, 0xfc, 'x' };
    struct kh_buf r, sub;
    const uint8_t *p;
    size_t len;

    kh_buf_init_reader(&r, evil, sizeof(evil));
    CU_ASSERT_EQUAL(kh_buf_get_str(&r, &p, &len, SIZE_MAX),
                    KH_ERR_MESSAGE_INCOMPLETE);
    CU_ASSERT_EQUAL(kh_buf_get_sub(&r, &sub, KH_BUF_SIZE_MAX),
                    KH_ERR_TOO_LARGE);
    kh_buf_init_reader(&r, evil2, sizeof(evil2));
    CU_ASSERT_EQUAL(kh_buf_get_str(&r, &p, &len, SIZE_MAX),
                    KH_ERR_MESSAGE_INCOMPLETE);
    CU_ASSERT_EQUAL(kh_buf_len(&r), sizeof(evil2));
}

static void test_sub_buffer(void)
{
    struct kh_buf w, r, sub;
    uint32_t v;

    kh_buf_init_writer(&w, 64);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 4), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 77), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, 9), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_buf_get_sub(&r, &sub, 4), 0);
    CU_ASSERT_EQUAL(kh_buf_get_u32(&sub, &v), 0);
    CU_ASSERT_EQUAL(v, 77);
    CU_ASSERT_EQUAL(kh_buf_expect_end(&sub), 0);
    /* The outer buffer still has one byte: trailing data. */
    CU_ASSERT_EQUAL(kh_buf_expect_end(&r), KH_ERR_TRAILING_DATA);
    kh_buf_free(&w);
}

static void test_writer_limit(void)
{
    struct kh_buf w;
    uint8_t *p;

    kh_buf_init_writer(&w, 10);
    CU_ASSERT_EQUAL(kh_buf_put_u64(&w, 1), 0);
    CU_ASSERT_EQUAL(kh_buf_put_u32(&w, 1), KH_ERR_NO_SPACE);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 8);
    /* A string whose header fits but body does not is rolled back whole. */
    CU_ASSERT_EQUAL(kh_buf_put_str(&w, "x", 1), KH_ERR_NO_SPACE);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 8);
    CU_ASSERT_EQUAL(kh_buf_reserve(&w, 2, &p), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 10);
    CU_ASSERT_EQUAL(kh_buf_reserve(&w, 1, &p), KH_ERR_NO_SPACE);
    CU_ASSERT_EQUAL(kh_buf_reserve(&w, SIZE_MAX, &p), KH_ERR_NO_SPACE);
    kh_buf_free(&w);
}

static void test_growth_keeps_content(void)
{
    struct kh_buf w, r;
    uint32_t v;

    kh_buf_init_writer(&w, 1 << 20);
    for (uint32_t i = 0; i < 10000; i++) {
        CU_ASSERT_EQUAL_FATAL(kh_buf_put_u32(&w, i), 0);
    }
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    for (uint32_t i = 0; i < 10000; i++) {
        CU_ASSERT_EQUAL_FATAL(kh_buf_get_u32(&r, &v), 0);
        CU_ASSERT_EQUAL_FATAL(v, i);
    }
    kh_buf_free(&w);
}

static void test_reader_cannot_write(void)
{
    const uint8_t bytes[4] = { 0 };
    struct kh_buf r;

    kh_buf_init_reader(&r, bytes, sizeof(bytes));
    CU_ASSERT_NOT_EQUAL(kh_buf_put_u8(&r, 1), 0);
    CU_ASSERT_EQUAL(kh_buf_len(&r), 4);
    kh_buf_free(&r); /* must not free borrowed memory */
}

static void test_reset_and_truncate(void)
{
    struct kh_buf w;

    kh_buf_init_writer(&w, 32);
    CU_ASSERT_EQUAL(kh_buf_put_cstr(&w, "secret"), 0);
    kh_buf_truncate(&w, 4);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 4);
    /* Truncated bytes are wiped in place. */
    CU_ASSERT_EQUAL(w.d[4], 0);
    kh_buf_reset(&w);
    CU_ASSERT_EQUAL(kh_buf_size(&w), 0);
    CU_ASSERT_EQUAL(w.d[0], 0);
    kh_buf_free(&w);
    CU_ASSERT_PTR_NULL(w.d);
}

static const struct kh_test tests[] = {
    KH_TEST(test_roundtrip_integers),
    KH_TEST(test_truncation_keeps_cursor),
    KH_TEST(test_strings),
    KH_TEST(test_string_limits),
    KH_TEST(test_huge_length_prefix),
    KH_TEST(test_sub_buffer),
    KH_TEST(test_writer_limit),
    KH_TEST(test_growth_keeps_content),
    KH_TEST(test_reader_cannot_write),
    KH_TEST(test_reset_and_truncate),
    { NULL, NULL },
};

KH_TEST_MAIN("kh_buf", tests)
