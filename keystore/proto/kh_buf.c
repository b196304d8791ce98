#include "kh_buf.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

/*
 * Do not try to recover from corrupted buffer internals (as sshbuf): a
 * broken invariant means memory corruption, and continuing could leak keys.
 */
void kh_buf_check(const struct kh_buf *b)
{
    if (b == NULL || b->off > b->len || b->len > b->max ||
        b->max > KH_BUF_SIZE_MAX ||
        (!b->readonly && b->len > b->alloc) ||
        (b->d == NULL && b->len != 0)) {
        abort();
    }
}

void kh_buf_init_reader(struct kh_buf *b, const uint8_t *d, size_t len)
{
    memset(b, 0, sizeof(*b));
    if (len > KH_BUF_SIZE_MAX) {
        len = 0; /* refuse silently: nothing readable, every get fails */
    }
    b->d = (uint8_t *)d;
    b->len = len;
    b->max = len;
    b->readonly = 1;
    if (d == NULL) {
        b->len = b->max = 0;
    }
}

void kh_buf_init_writer(struct kh_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max > KH_BUF_SIZE_MAX ? KH_BUF_SIZE_MAX : max;
}

void kh_buf_free(struct kh_buf *b)
{
    if (b == NULL) {
        return;
    }
    if (!b->readonly && b->d != NULL) {
        OPENSSL_clear_free(b->d, b->alloc);
    }
    memset(b, 0, sizeof(*b));
}

void kh_buf_reset(struct kh_buf *b)
{
    kh_buf_check(b);
    if (!b->readonly && b->d != NULL) {
        OPENSSL_cleanse(b->d, b->alloc);
        b->len = 0;
    }
    b->off = 0;
}

size_t kh_buf_len(const struct kh_buf *b)
{
    kh_buf_check(b);
    return b->len - b->off;
}

const uint8_t *kh_buf_ptr(const struct kh_buf *b)
{
    kh_buf_check(b);
    return b->d == NULL ? (const uint8_t *)"" : b->d + b->off;
}

const uint8_t *kh_buf_data(const struct kh_buf *b)
{
    kh_buf_check(b);
    return b->d == NULL ? (const uint8_t *)"" : b->d;
}

size_t kh_buf_size(const struct kh_buf *b)
{
    kh_buf_check(b);
    return b->len;
}

int kh_buf_expect_end(const struct kh_buf *b)
{
    return kh_buf_len(b) == 0 ? KH_OK : KH_ERR_TRAILING_DATA;
}

/*- Reading ---------------------------------------------------------- */

/* Something non-NULL to point at for zero bytes of an empty buffer. */
static uint8_t kh_buf_empty[1];

/* Returns a pointer to |n| unread bytes, or NULL if fewer remain. */
static const uint8_t *kh_buf_peek(const struct kh_buf *b, size_t n)
{
    kh_buf_check(b);
    if (b->len - b->off < n) { /* cannot underflow: off <= len */
        return NULL;
    }
    return b->d == NULL ? kh_buf_empty : b->d + b->off; /* no NULL + 0 */
}

int kh_buf_get_bytes(struct kh_buf *b, void *out, size_t n)
{
    const uint8_t *p = kh_buf_peek(b, n);

    if (p == NULL) {
        return KH_ERR_MESSAGE_INCOMPLETE;
    }
    if (n > 0) {
        memcpy(out, p, n);
    }
    b->off += n;
    return KH_OK;
}

int kh_buf_skip(struct kh_buf *b, size_t n)
{
    if (kh_buf_peek(b, n) == NULL) {
        return KH_ERR_MESSAGE_INCOMPLETE;
    }
    b->off += n;
    return KH_OK;
}

int kh_buf_get_u8(struct kh_buf *b, uint8_t *v)
{
    return kh_buf_get_bytes(b, v, 1);
}

int kh_buf_get_u16(struct kh_buf *b, uint16_t *v)
{
    const uint8_t *p = kh_buf_peek(b, 2);

    if (p == NULL) {
        return KH_ERR_MESSAGE_INCOMPLETE;
    }
    *v = (uint16_t)((uint16_t)p[0] << 8 | p[1]);
    b->off += 2;
    return KH_OK;
}

int kh_buf_get_u32(struct kh_buf *b, uint32_t *v)
{
    const uint8_t *p = kh_buf_peek(b, 4);

    if (p == NULL) {
        return KH_ERR_MESSAGE_INCOMPLETE;
    }
    *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
    b->off += 4;
    return KH_OK;
}

int kh_buf_get_u64(struct kh_buf *b, uint64_t *v)
{
    const uint8_t *p = kh_buf_peek(b, 8);
    uint64_t x = 0;

    if (p == NULL) {
        return KH_ERR_MESSAGE_INCOMPLETE;
    }
    for (int i = 0; i < 8; i++) {
        x = x << 8 | p[i];
    }
    *v = x;
    b->off += 8;
    return KH_OK;
}

int kh_buf_get_str(struct kh_buf *b, const uint8_t **p, size_t *len,
                   size_t max)
{
    const uint8_t *hdr = kh_buf_peek(b, 4);
    uint32_t n;

    if (hdr == NULL) {
        return KH_ERR_MESSAGE_INCOMPLETE;
    }
    n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
        (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3];
    if (n > max) {
        return KH_ERR_TOO_LARGE;
    }
    /* Subtract only on the side that cannot underflow. */
    if (b->len - b->off - 4 < n) {
        return KH_ERR_MESSAGE_INCOMPLETE;
    }
    *p = b->d + b->off + 4;
    *len = n;
    b->off += 4 + (size_t)n;
    return KH_OK;
}

int kh_buf_get_cstr(struct kh_buf *b, char *out, size_t outsz)
{
    struct kh_buf save = *b;
    const uint8_t *p;
    size_t n;
    int r;

    if (outsz == 0) {
        return KH_ERR_INTERNAL;
    }
    if ((r = kh_buf_get_str(b, &p, &n, outsz - 1)) != 0) {
        return r;
    }
    if (memchr(p, '\0', n) != NULL) {
        *b = save;
        return KH_ERR_INVALID_FORMAT;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return KH_OK;
}

int kh_buf_get_sub(struct kh_buf *b, struct kh_buf *sub, size_t max)
{
    const uint8_t *p;
    size_t n;
    int r;

    if ((r = kh_buf_get_str(b, &p, &n, max)) != 0) {
        return r;
    }
    kh_buf_init_reader(sub, p, n);
    return KH_OK;
}

/*- Writing ---------------------------------------------------------- */

int kh_buf_reserve(struct kh_buf *b, size_t n, uint8_t **p)
{
    uint8_t *nd;
    size_t need, nalloc;

    kh_buf_check(b);
    if (b->readonly) {
        return KH_ERR_INTERNAL;
    }
    if (n > b->max - b->len) { /* cannot underflow: len <= max */
        return KH_ERR_NO_SPACE;
    }
    if (n == 0 && b->d == NULL) {
        *p = kh_buf_empty; /* nothing to write; no NULL + 0 */
        return KH_OK;
    }
    need = b->len + n;
    if (need > b->alloc) {
        nalloc = b->alloc < 256 ? 256 : b->alloc;
        while (nalloc < need) {
            nalloc = nalloc > b->max / 2 ? b->max : nalloc * 2;
        }
        /* Never realloc: the old block may hold secrets and must be wiped. */
        if ((nd = OPENSSL_zalloc(nalloc)) == NULL) {
            return KH_ERR_ALLOC;
        }
        if (b->d != NULL) {
            memcpy(nd, b->d, b->len);
            OPENSSL_clear_free(b->d, b->alloc);
        }
        b->d = nd;
        b->alloc = nalloc;
    }
    *p = b->d + b->len;
    b->len = need;
    kh_buf_check(b);
    return KH_OK;
}

void kh_buf_truncate(struct kh_buf *b, size_t len)
{
    kh_buf_check(b);
    /* len == b->len drops nothing (and b->d may be NULL: no b->d + 0). */
    if (b->readonly || len >= b->len) {
        return;
    }
    OPENSSL_cleanse(b->d + len, b->len - len);
    b->len = len;
    if (b->off > len) {
        b->off = len;
    }
}

int kh_buf_put_bytes(struct kh_buf *b, const void *p, size_t n)
{
    uint8_t *dst;
    int r;

    if ((r = kh_buf_reserve(b, n, &dst)) != 0) {
        return r;
    }
    if (n > 0) {
        memcpy(dst, p, n);
    }
    return KH_OK;
}

int kh_buf_put_u8(struct kh_buf *b, uint8_t v)
{
    return kh_buf_put_bytes(b, &v, 1);
}

int kh_buf_put_u16(struct kh_buf *b, uint16_t v)
{
    uint8_t t[2] = { (uint8_t)(v >> 8), (uint8_t)v };

    return kh_buf_put_bytes(b, t, sizeof(t));
}

int kh_buf_put_u32(struct kh_buf *b, uint32_t v)
{
    uint8_t t[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 8), (uint8_t)v };

    return kh_buf_put_bytes(b, t, sizeof(t));
}

int kh_buf_put_u64(struct kh_buf *b, uint64_t v)
{
    uint8_t t[8];

    for (int i = 7; i >= 0; i--) {
        t[i] = (uint8_t)v;
        v >>= 8;
    }
    return kh_buf_put_bytes(b, t, sizeof(t));
}

int kh_buf_put_str(struct kh_buf *b, const void *p, size_t n)
{
    size_t before;
    int r;

    if (n > UINT32_MAX) {
        return KH_ERR_TOO_LARGE;
    }
    kh_buf_check(b);
    before = b->len;
    if ((r = kh_buf_put_u32(b, (uint32_t)n)) != 0) {
        return r;
    }
    if ((r = kh_buf_put_bytes(b, p, n)) != 0) {
        kh_buf_truncate(b, before);
        return r;
    }
    return KH_OK;
}

int kh_buf_put_cstr(struct kh_buf *b, const char *s)
{
    return kh_buf_put_str(b, s, strlen(s));
}
