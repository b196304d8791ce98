/*
 * kh_shamir.h - Shamir's secret sharing over GF(2^8).
 *
 * The field is GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1.
 * Each byte of the secret is the constant term of its own random polynomial
 * of degree m - 1; share i (x = 1..n) holds the polynomial values at x. The
 * arithmetic is constant time: no table lookups indexed by secret bytes and
 * no branches on secret values (multiplication by shift-and-mask, inversion
 * by exponentiation).
 *
 * Randomness comes from RAND_priv_bytes. Every buffer that held a secret or
 * a coefficient is cleansed before it is released. Shares are secrets: the
 * caller cleanses them (OPENSSL_cleanse) when done.
 */
#ifndef KH_SHAMIR_H
#define KH_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "kh_err.h"

#define KH_SHAMIR_MAX_SHARES 255u
#define KH_SHAMIR_MAX_SECRET 64u

struct kh_shamir_share {
    uint8_t x;                        /* 1..255, never 0 */
    uint8_t y[KH_SHAMIR_MAX_SECRET];  /* the first |len| bytes are used */
};

/*
 * Splits |secret| (|len| bytes, 1..KH_SHAMIR_MAX_SECRET) into |n| shares
 * with threshold |m| (1 <= m <= n <= 255) written to |shares[0..n-1]|,
 * share i having x = i + 1. KH_ERR_INVALID_ARGUMENT for bad m, n or len;
 * KH_ERR_CRYPTO if the RNG fails (nothing is written then).
 */
KH_MUST_CHECK int kh_shamir_split(const uint8_t *secret, size_t len,
                                  unsigned m, unsigned n,
                                  struct kh_shamir_share *shares);

/*
 * Rebuilds the secret from |k| >= 1 shares by Lagrange interpolation at 0
 * into |secret| (|len| bytes). With fewer than the threshold the result is
 * a meaningless value: callers check it (the master key's check value).
 * KH_ERR_INVALID_ARGUMENT for k == 0, a share with x == 0, two shares with
 * the same x, or a bad len.
 */
KH_MUST_CHECK int kh_shamir_combine(const struct kh_shamir_share *shares,
                                    unsigned k, size_t len, uint8_t *secret);

/* The field operations, exposed for the unit tests. */
uint8_t kh_gf256_mul(uint8_t a, uint8_t b);
uint8_t kh_gf256_inv(uint8_t a); /* kh_gf256_inv(0) == 0 */

#endif /* KH_SHAMIR_H */
