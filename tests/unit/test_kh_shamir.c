/* Unit tests: Shamir's secret sharing over GF(2^8) (kh_shamir.c). */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "kh_shamir.h"
#include "kh_test.h"

/* Reference multiply: schoolbook carry-less product, then reduction. */
static uint8_t slow_mul(uint8_t a, uint8_t b)
{
    unsigned p = 0;

    for (int i = 0; i < 8; i++) {
        if (b & (1u << i)) {
            p ^= (unsigned)a << i;
        }
    }
    for (int i = 14; i >= 8; i--) {
        if (p & (1u << i)) {
            p ^= 0x11bu << (i - 8);
        }
    }
    return (uint8_t)p;
}

static void test_field(void)
{
    unsigned bad = 0;

    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b++) {
            bad += kh_gf256_mul((uint8_t)a, (uint8_t)b) !=
                   slow_mul((uint8_t)a, (uint8_t)b);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* Known AES values: {57} x {83} = {c1}, {53}^-1 = {ca}. */
    CU_ASSERT_EQUAL(kh_gf256_mul(0x57, 0x83), 0xc1);
    CU_ASSERT_EQUAL(kh_gf256_inv(0x53), 0xca);
    CU_ASSERT_EQUAL(kh_gf256_inv(0), 0);
    for (unsigned a = 1; a < 256; a++) {
        bad += kh_gf256_mul((uint8_t)a, kh_gf256_inv((uint8_t)a)) != 1;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Combines the subset of |shares| given by the bits of |mask|. */
static int combine_mask(const struct kh_shamir_share *shares, unsigned n,
                        unsigned long mask, size_t len, uint8_t *out)
{
    struct kh_shamir_share pick[16];
    unsigned k = 0;
    int r;

    for (unsigned i = 0; i < n; i++) {
        if (mask & (1ul << i)) {
            pick[k++] = shares[i];
        }
    }
    r = kh_shamir_combine(pick, k, len, out);
    OPENSSL_cleanse(pick, sizeof(pick));
    return r;
}

/* Every subset of size m rebuilds; no subset of size m - 1 does. */
static void check_all_subsets(unsigned m, unsigned n, size_t len)
{
    struct kh_shamir_share shares[16];
    uint8_t secret[KH_SHAMIR_MAX_SECRET], out[KH_SHAMIR_MAX_SECRET];
    unsigned ok = 0, subsets = 0, small_hits = 0;

    CU_ASSERT_EQUAL_FATAL(RAND_bytes(secret, sizeof(secret)), 1);
    CU_ASSERT_EQUAL_FATAL(kh_shamir_split(secret, len, m, n, shares), 0);
    for (unsigned i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(shares[i].x, i + 1);
    }
    for (unsigned long mask = 1; mask < (1ul << n); mask++) {
        unsigned bits = (unsigned)__builtin_popcountl(mask);

        if (bits == m) {
            subsets++;
            ok += combine_mask(shares, n, mask, len, out) == 0 &&
                  memcmp(out, secret, len) == 0;
        } else if (bits == m - 1 && m > 1) {
            CU_ASSERT_EQUAL(combine_mask(shares, n, mask, len, out), 0);
            small_hits += memcmp(out, secret, len) == 0;
        } else if (bits > m) {
            /* More than the threshold also works. */
            CU_ASSERT_EQUAL(combine_mask(shares, n, mask, len, out), 0);
            CU_ASSERT_EQUAL(memcmp(out, secret, len), 0);
        }
    }
    CU_ASSERT_TRUE(subsets > 0);
    CU_ASSERT_EQUAL(ok, subsets);
    /* 16+ random bytes never come out of m - 1 shares by chance. */
    CU_ASSERT_EQUAL(small_hits, 0);
    OPENSSL_cleanse(shares, sizeof(shares));
}

static void test_subsets(void)
{
    check_all_subsets(1, 1, 32);
    check_all_subsets(2, 3, 32);
    check_all_subsets(3, 5, 32);
    check_all_subsets(5, 9, 32);
    check_all_subsets(1, 4, 1);
    check_all_subsets(4, 4, KH_SHAMIR_MAX_SECRET);
}

static void test_255_shares(void)
{
    static struct kh_shamir_share shares[255], pick[255];
    uint8_t secret[32], out[32];

    CU_ASSERT_EQUAL_FATAL(RAND_bytes(secret, sizeof(secret)), 1);
    CU_ASSERT_EQUAL_FATAL(kh_shamir_split(secret, 32, 200, 255, shares), 0);
    CU_ASSERT_EQUAL(shares[254].x, 255);
    /* Three subsets of 200: the first, the last, every other + rest. */
    for (int t = 0; t < 3; t++) {
        for (unsigned i = 0; i < 200; i++) {
            unsigned idx = t == 0 ? i
                           : t == 1 ? 254 - i
                           : i < 128 ? 2 * i : 2 * (i - 128) + 1;

            pick[i] = shares[idx];
        }
        CU_ASSERT_EQUAL(kh_shamir_combine(pick, 200, 32, out), 0);
        CU_ASSERT_EQUAL(memcmp(out, secret, 32), 0);
    }
    /* 199 shares do not rebuild it. */
    CU_ASSERT_EQUAL(kh_shamir_combine(shares, 199, 32, out), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(out, secret, 32), 0);
    /* 255-of-255 and 1-of-255. */
    CU_ASSERT_EQUAL(kh_shamir_split(secret, 32, 255, 255, shares), 0);
    CU_ASSERT_EQUAL(kh_shamir_combine(shares, 255, 32, out), 0);
    CU_ASSERT_EQUAL(memcmp(out, secret, 32), 0);
    CU_ASSERT_EQUAL(kh_shamir_split(secret, 32, 1, 255, shares), 0);
    CU_ASSERT_EQUAL(kh_shamir_combine(&shares[77], 1, 32, out), 0);
    CU_ASSERT_EQUAL(memcmp(out, secret, 32), 0);
    OPENSSL_cleanse(shares, sizeof(shares));
    OPENSSL_cleanse(pick, sizeof(pick));
}

/*
 * Perfect secrecy, exhaustively for a 1-byte secret. m = 2: the share at
 * x = 1 is s + c1. For a fixed observed share value, count for every
 * candidate secret the polynomials (c1 = 0..255) that produce it: every
 * candidate must be consistent with exactly one. m = 3 with the shares at
 * x = 1, 2 observed: for every candidate, exactly one of the 65536
 * (c1, c2) pairs produces the observed pair.
 */
static void test_no_information(void)
{
    static unsigned count[256];
    unsigned bad = 0;

    for (unsigned y1 = 0; y1 < 256; y1 += 85) {
        memset(count, 0, sizeof(count));
        for (unsigned s = 0; s < 256; s++) {
            for (unsigned c1 = 0; c1 < 256; c1++) {
                count[s] += (s ^ kh_gf256_mul((uint8_t)c1, 1)) == y1;
            }
        }
        for (unsigned s = 0; s < 256; s++) {
            bad += count[s] != 1;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);

    /* m = 3, shares at x = 1 and x = 2 observed as (0x5a, 0xc3). */
    memset(count, 0, sizeof(count));
    for (unsigned s = 0; s < 256; s++) {
        for (unsigned c1 = 0; c1 < 256; c1++) {
            for (unsigned c2 = 0; c2 < 256; c2++) {
                uint8_t coef[3] = { (uint8_t)s, (uint8_t)c1, (uint8_t)c2 };
                uint8_t y1 = coef[0] ^ coef[1] ^ coef[2];
                uint8_t y2 = coef[0] ^ kh_gf256_mul(coef[1], 2) ^
                             kh_gf256_mul(coef[2], 4);

                count[s] += y1 == 0x5a && y2 == 0xc3;
            }
        }
    }
    for (unsigned s = 0; s < 256; s++) {
        bad += count[s] != 1;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* With 1 share of a 2-of-3 split, the combine output is not the secret
 * more often than chance, and splitting twice gives different shares. */
static void test_fresh_coefficients(void)
{
    struct kh_shamir_share a[3], b[3];
    const uint8_t secret[16] = "0123456789abcdef";

    CU_ASSERT_EQUAL(kh_shamir_split(secret, 16, 2, 3, a), 0);
    CU_ASSERT_EQUAL(kh_shamir_split(secret, 16, 2, 3, b), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a[0].y, b[0].y, 16), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a[0].y, secret, 16), 0);
    /* 1-of-n: each share is the secret itself. */
    CU_ASSERT_EQUAL(kh_shamir_split(secret, 16, 1, 3, a), 0);
    CU_ASSERT_EQUAL(memcmp(a[2].y, secret, 16), 0);
}

static void test_refusals(void)
{
    struct kh_shamir_share s[4];
    static struct kh_shamir_share big[256];
    uint8_t secret[KH_SHAMIR_MAX_SECRET + 1] = { 1 }, out[80];

    memset(s, 0xee, sizeof(s));
    CU_ASSERT_EQUAL(kh_shamir_split(secret, 16, 0, 3, s),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_shamir_split(secret, 16, 4, 3, s),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_shamir_split(secret, 16, 2, 256, big),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_shamir_split(secret, 16, 0, 0, s),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_shamir_split(secret, 0, 2, 3, s),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_shamir_split(secret, KH_SHAMIR_MAX_SECRET + 1, 2, 3,
                                    s),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_shamir_split(NULL, 16, 2, 3, s),
                    KH_ERR_INVALID_ARGUMENT);
    /* Nothing was written by a refusal. */
    CU_ASSERT_EQUAL(s[0].x, 0xee);

    CU_ASSERT_EQUAL_FATAL(kh_shamir_split(secret, 16, 2, 3, s), 0);
    CU_ASSERT_EQUAL(kh_shamir_combine(s, 0, 16, out),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_shamir_combine(s, 2, 0, out),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_shamir_combine(s, 2, KH_SHAMIR_MAX_SECRET + 1, out),
                    KH_ERR_INVALID_ARGUMENT);
    s[3] = s[1];
    s[3].x = 0;
    CU_ASSERT_EQUAL(kh_shamir_combine(&s[2], 2, 16, out),
                    KH_ERR_INVALID_ARGUMENT); /* x = 0 */
    s[3] = s[0];
    CU_ASSERT_EQUAL(kh_shamir_combine(&s[2], 2, 16, out), 0);
    s[3] = s[2];
    CU_ASSERT_EQUAL(kh_shamir_combine(&s[2], 2, 16, out),
                    KH_ERR_INVALID_ARGUMENT); /* duplicate x */
    s[3].y[0] ^= 1;
    CU_ASSERT_EQUAL(kh_shamir_combine(&s[2], 2, 16, out),
                    KH_ERR_INVALID_ARGUMENT); /* same x, other y */
    CU_ASSERT_EQUAL(kh_shamir_combine(big, 256, 16, out),
                    KH_ERR_INVALID_ARGUMENT);
    OPENSSL_cleanse(s, sizeof(s));
}

static const struct kh_test tests[] = {
    KH_TEST(test_field),
    KH_TEST(test_subsets),
    KH_TEST(test_255_shares),
    KH_TEST(test_no_information),
    KH_TEST(test_fresh_coefficients),
    KH_TEST(test_refusals),
    { 0 },
};

KH_TEST_MAIN("kh_shamir", tests)
