/*
 * kh_buf.h - the one bounds-checked buffer used by every encoder and decoder
 * of the Keyholder wire protocol and the on-disk record format.
 *
 * A buffer is either a reader over borrowed bytes or a growable writer with a
 * hard maximum size. All integers are big-endian. A string is u32 length ||
 * bytes. Every call returns 0 or a negative KH_ERR_*; on failure the read
 * cursor and the written length are unchanged. Writers wipe their storage
 * whenever it is released or moved, so they may hold secrets.
 *
 * The struct is public only so that buffers can live on the stack; use the
 * functions, never the fields.
 */
#ifndef KH_BUF_H
#define KH_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "kh_err.h"

/* Largest buffer anyone may create (sshbuf's SSHBUF_SIZE_MAX analogue). */
#define KH_BUF_SIZE_MAX (16u * 1024 * 1024)

struct kh_buf {
    uint8_t *d;      /* storage (borrowed for readers) */
    size_t off;      /* read cursor, off <= len */
    size_t len;      /* valid bytes, len <= alloc */
    size_t alloc;    /* allocated bytes of d (writers) */
    size_t max;      /* len never exceeds max */
    int readonly;    /* reader over borrowed memory */
};

/* Reader over |len| bytes at |d|; the bytes must outlive the reader. */
void kh_buf_init_reader(struct kh_buf *b, const uint8_t *d, size_t len);
/* Empty writer that may grow up to |max| bytes (<= KH_BUF_SIZE_MAX). */
void kh_buf_init_writer(struct kh_buf *b, size_t max);
/* Wipes and frees a writer's storage; leaves |b| an empty writer/reader. */
void kh_buf_free(struct kh_buf *b);
/* Wipes the content of a writer and rewinds it, keeping its storage. */
void kh_buf_reset(struct kh_buf *b);

/* Unread bytes and a pointer to them (valid until the next put). */
size_t kh_buf_len(const struct kh_buf *b);
const uint8_t *kh_buf_ptr(const struct kh_buf *b);
/* Returns KH_ERR_TRAILING_DATA if unread bytes remain, else 0. */
KH_MUST_CHECK int kh_buf_expect_end(const struct kh_buf *b);
/* Aborts the process when the invariants do not hold (corruption). */
void kh_buf_check(const struct kh_buf *b);

/* Getters: KH_ERR_MESSAGE_INCOMPLETE when the bytes are not there. */
KH_MUST_CHECK int kh_buf_get_u8(struct kh_buf *b, uint8_t *v);
KH_MUST_CHECK int kh_buf_get_u16(struct kh_buf *b, uint16_t *v);
KH_MUST_CHECK int kh_buf_get_u32(struct kh_buf *b, uint32_t *v);
KH_MUST_CHECK int kh_buf_get_u64(struct kh_buf *b, uint64_t *v);
/* Copies exactly |n| bytes to |out|. */
KH_MUST_CHECK int kh_buf_get_bytes(struct kh_buf *b, void *out, size_t n);
/* Advances over exactly |n| bytes. */
KH_MUST_CHECK int kh_buf_skip(struct kh_buf *b, size_t n);
/*
 * u32 length || bytes, at most |max| bytes (else KH_ERR_TOO_LARGE). |*p|
 * points into the buffer and is valid as long as the buffer's bytes are.
 */
KH_MUST_CHECK int kh_buf_get_str(struct kh_buf *b, const uint8_t **p,
                                 size_t *len, size_t max);
/*
 * A string that must hold text: no NUL byte, at most |outsz| - 1 bytes.
 * Copied to |out| and NUL-terminated.
 */
KH_MUST_CHECK int kh_buf_get_cstr(struct kh_buf *b, char *out, size_t outsz);
/* A u32-length-prefixed nested field as a reader over the same bytes. */
KH_MUST_CHECK int kh_buf_get_sub(struct kh_buf *b, struct kh_buf *sub,
                                 size_t max);

/* Putters: KH_ERR_NO_SPACE past the writer's maximum, KH_ERR_ALLOC. */
KH_MUST_CHECK int kh_buf_put_u8(struct kh_buf *b, uint8_t v);
KH_MUST_CHECK int kh_buf_put_u16(struct kh_buf *b, uint16_t v);
KH_MUST_CHECK int kh_buf_put_u32(struct kh_buf *b, uint32_t v);
KH_MUST_CHECK int kh_buf_put_u64(struct kh_buf *b, uint64_t v);
KH_MUST_CHECK int kh_buf_put_bytes(struct kh_buf *b, const void *p, size_t n);
/* u32 length || bytes; KH_ERR_TOO_LARGE if |n| does not fit a u32. */
KH_MUST_CHECK int kh_buf_put_str(struct kh_buf *b, const void *p, size_t n);
KH_MUST_CHECK int kh_buf_put_cstr(struct kh_buf *b, const char *s);
/*
 * Makes room for |n| bytes at the end and returns a pointer to them in |*p|;
 * they count as written. Valid until the next put.
 */
KH_MUST_CHECK int kh_buf_reserve(struct kh_buf *b, size_t n, uint8_t **p);
/* Drops written bytes past |len| (wiping them). |len| <= current length. */
void kh_buf_truncate(struct kh_buf *b, size_t len);
/* Whole written content, ignoring the read cursor. */
const uint8_t *kh_buf_data(const struct kh_buf *b);
size_t kh_buf_size(const struct kh_buf *b);

#endif /* KH_BUF_H */
