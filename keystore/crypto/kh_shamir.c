/*
 * kh_shamir.c - Shamir's secret sharing over GF(2^8) (kh_shamir.h).
 *
 * Constant time: multiplication by shift-and-mask over 8 rounds, inversion
 * as a^254 with a fixed chain of multiplications, no table indexed by a
 * secret and no branch on a secret. Only x coordinates, m, n and len
 * (public) steer control flow.
 */
#include "kh_shamir.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

/* The AES polynomial x^8 + x^4 + x^3 + x + 1 without its x^8 term. */
#define KH_GF256_POLY 0x1bu

uint8_t kh_gf256_mul(uint8_t a, uint8_t b)
{
    unsigned p = 0, aa = a, bb = b;

    for (int i = 0; i < 8; i++) {
        p ^= (0u - (bb & 1u)) & aa;          /* add a when b's bit is set */
        aa = (aa << 1) ^ ((0u - (aa >> 7)) & KH_GF256_POLY);
        aa &= 0xffu;
        bb >>= 1;
    }
    return (uint8_t)p;
}

/* a^254 = a^-1 for a != 0 (and 0 for 0): a^2 * a^4 * ... * a^128. */
uint8_t kh_gf256_inv(uint8_t a)
{
    uint8_t sq = kh_gf256_mul(a, a); /* a^2 */
    uint8_t r = sq;

    for (int i = 0; i < 6; i++) {
        sq = kh_gf256_mul(sq, sq);   /* a^4, a^8, ..., a^128 */
        r = kh_gf256_mul(r, sq);
    }
    return r;
}

static int kh_shamir_check_len(size_t len)
{
    return len >= 1 && len <= KH_SHAMIR_MAX_SECRET ? KH_OK
                                                   : KH_ERR_INVALID_ARGUMENT;
}

/* Horner: c[0] + c[1] x + ... + c[deg] x^deg, c[i] at coef[i * stride]. */
static uint8_t kh_shamir_eval(const uint8_t *coef, size_t stride,
                              unsigned deg, uint8_t x)
{
    uint8_t y = coef[deg * stride];

    for (unsigned i = deg; i-- > 0;) {
        y = kh_gf256_mul(y, x) ^ coef[i * stride];
    }
    return y;
}

int kh_shamir_split(const uint8_t *secret, size_t len, unsigned m,
                    unsigned n, struct kh_shamir_share *shares)
{
    uint8_t *coef;
    size_t clen;
    int r;

    if (secret == NULL || shares == NULL || m < 1 || m > n ||
        n > KH_SHAMIR_MAX_SHARES || kh_shamir_check_len(len) != KH_OK) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    /* Row i holds coefficient i of every byte's polynomial; row 0 the
     * secret. All randomness is drawn before any share is written. */
    clen = (size_t)m * len;
    if ((coef = OPENSSL_secure_malloc(clen)) == NULL) {
        return KH_ERR_ALLOC;
    }
    memcpy(coef, secret, len);
    if (m > 1 && RAND_priv_bytes(coef + len, (int)(clen - len)) != 1) {
        r = KH_ERR_CRYPTO;
        goto out;
    }
    for (unsigned i = 0; i < n; i++) {
        shares[i].x = (uint8_t)(i + 1);
        for (size_t b = 0; b < len; b++) {
            shares[i].y[b] = kh_shamir_eval(coef + b, len, m - 1,
                                            (uint8_t)(i + 1));
        }
    }
    r = KH_OK;
out:
    OPENSSL_secure_clear_free(coef, clen);
    return r;
}

/* Public x coordinates: nonzero and pairwise distinct. */
static int kh_shamir_check_xs(const struct kh_shamir_share *shares,
                              unsigned k)
{
    uint8_t seen[32] = { 0 };

    for (unsigned i = 0; i < k; i++) {
        uint8_t x = shares[i].x;

        if (x == 0 || (seen[x >> 3] & (1u << (x & 7))) != 0) {
            return KH_ERR_INVALID_ARGUMENT;
        }
        seen[x >> 3] |= (uint8_t)(1u << (x & 7));
    }
    return KH_OK;
}

/* Lagrange basis polynomial i at 0: prod_{j != i} x_j / (x_j - x_i). */
static uint8_t kh_shamir_basis0(const struct kh_shamir_share *shares,
                                unsigned k, unsigned i)
{
    uint8_t num = 1, den = 1;

    for (unsigned j = 0; j < k; j++) {
        if (j == i) {
            continue;
        }
        num = kh_gf256_mul(num, shares[j].x);
        den = kh_gf256_mul(den, shares[j].x ^ shares[i].x);
    }
    return kh_gf256_mul(num, kh_gf256_inv(den));
}

int kh_shamir_combine(const struct kh_shamir_share *shares, unsigned k,
                      size_t len, uint8_t *secret)
{
    uint8_t acc[KH_SHAMIR_MAX_SECRET] = { 0 };

    if (shares == NULL || secret == NULL || k < 1 ||
        k > KH_SHAMIR_MAX_SHARES || kh_shamir_check_len(len) != KH_OK ||
        kh_shamir_check_xs(shares, k) != KH_OK) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    for (unsigned i = 0; i < k; i++) {
        uint8_t l = kh_shamir_basis0(shares, k, i);

        for (size_t b = 0; b < len; b++) {
            acc[b] ^= kh_gf256_mul(l, shares[i].y[b]);
        }
    }
    memcpy(secret, acc, len);
    OPENSSL_cleanse(acc, sizeof(acc));
    return KH_OK;
}
