/*
 * kh_json.h - a tiny strict JSON writer and pull reader for Keyholder's
 * own files (share files, ceremony records). Not a general JSON library.
 *
 * Writer: one canonical form. The caller emits members in a fixed order;
 * output is UTF-8, strings escaped per RFC 8259 with the shortest escape
 * (\" \\ \b \f \n \r \t, other bytes below 0x20 as \u00xx, nothing else
 * escaped), integers only (unsigned, no sign, no leading zero). Layout: a
 * non-empty object or array puts each element on its own line, indented by
 * two spaces per level, the closing bracket on its own line at the parent's
 * level; an empty one is "{}" or "[]"; a member is "key": value (one
 * space after the colon); the document ends with one newline. Errors are
 * sticky: the first one is kept and returned by kh_json_finish(), so a
 * writer can emit a whole document and check once.
 *
 * Reader: a pull parser that consumes exactly the structure the caller
 * expects, in order: kh_json_key() requires the next member's key to be
 * the one named, so unknown, missing, reordered and duplicate members are
 * all refused. Only objects, arrays, strings (valid UTF-8; the escapes the
 * writer emits; no NUL) and non-negative integers are accepted; JSON
 * whitespace between tokens is allowed here (canonical layout is checked
 * by re-encoding, see kh_ceremony.h). Depth and sizes are bounded.
 * Errors: KH_ERR_INVALID_FORMAT (syntax, unexpected member or type),
 * KH_ERR_TOO_LARGE (string, number or depth over its limit),
 * KH_ERR_TRAILING_DATA (bytes after the document).
 */
#ifndef KH_JSON_H
#define KH_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "kh_buf.h"
#include "kh_err.h"

#define KH_JSON_MAX_DEPTH 8

struct kh_json_writer {
    struct kh_buf *out;
    int err;                          /* first error, sticky */
    unsigned depth;
    uint8_t kind[KH_JSON_MAX_DEPTH];  /* '{' or '[' */
    uint8_t count[KH_JSON_MAX_DEPTH]; /* elements so far (0, 1 = more) */
    int after_key;                    /* a value completes a member */
    int started;                      /* the top-level value was begun */
};

void kh_json_writer_init(struct kh_json_writer *w, struct kh_buf *out);
void kh_json_obj_begin(struct kh_json_writer *w);
void kh_json_obj_end(struct kh_json_writer *w);
void kh_json_arr_begin(struct kh_json_writer *w);
void kh_json_arr_end(struct kh_json_writer *w);
/* The key of the next member of the current object. */
void kh_json_key(struct kh_json_writer *w, const char *key);
/* A string value; KH_ERR_INVALID_ARGUMENT if not valid UTF-8 or has NUL. */
void kh_json_str(struct kh_json_writer *w, const char *s);
void kh_json_uint(struct kh_json_writer *w, uint64_t v);
/* Binary data as a string of lowercase hex / standard padded base64. */
void kh_json_hex(struct kh_json_writer *w, const uint8_t *d, size_t len);
void kh_json_b64(struct kh_json_writer *w, const uint8_t *d, size_t len);
/* Closes the document (newline); returns the first error or 0. */
KH_MUST_CHECK int kh_json_finish(struct kh_json_writer *w);

struct kh_json_reader {
    const uint8_t *d;
    size_t len, off;
    unsigned depth;
    uint8_t kind[KH_JSON_MAX_DEPTH];  /* '{' or '[' */
    uint8_t count[KH_JSON_MAX_DEPTH]; /* elements read so far (0, 1) */
};

void kh_json_reader_init(struct kh_json_reader *r, const uint8_t *d,
                         size_t len);
KH_MUST_CHECK int kh_json_read_obj_begin(struct kh_json_reader *r);
/* The end of the current object: no further member. */
KH_MUST_CHECK int kh_json_read_obj_end(struct kh_json_reader *r);
/* The next member's key, which must be |key|. */
KH_MUST_CHECK int kh_json_read_key(struct kh_json_reader *r, const char *key);
KH_MUST_CHECK int kh_json_read_arr_begin(struct kh_json_reader *r);
/*
 * 1 if the current array has another element (then read it), 0 after
 * consuming the closing bracket, or a negative KH_ERR_*.
 */
KH_MUST_CHECK int kh_json_read_arr_next(struct kh_json_reader *r);
/* A string into |out| (at most |outsz| - 1 bytes, NUL-terminated). */
KH_MUST_CHECK int kh_json_read_str(struct kh_json_reader *r, char *out,
                                   size_t outsz);
/* An integer in 0..|max|. */
KH_MUST_CHECK int kh_json_read_uint(struct kh_json_reader *r, uint64_t *v,
                                    uint64_t max);
/* A hex string of exactly |len| bytes (lowercase only). */
KH_MUST_CHECK int kh_json_read_hex(struct kh_json_reader *r, uint8_t *out,
                                   size_t len);
/* A canonical base64 string of at most |max| bytes; |*len| the size. */
KH_MUST_CHECK int kh_json_read_b64(struct kh_json_reader *r, uint8_t *out,
                                   size_t max, size_t *len);
/* Only whitespace is left. */
KH_MUST_CHECK int kh_json_read_end(struct kh_json_reader *r);

/* Strict codecs, also used alone (0 or KH_ERR_INVALID_FORMAT / TOO_LARGE).*/
KH_MUST_CHECK int kh_hex_decode(const char *s, size_t slen, uint8_t *out,
                                size_t len);
void kh_hex_encode(const uint8_t *d, size_t len, char *out); /* 2len + 1 */
KH_MUST_CHECK int kh_b64_decode(const char *s, size_t slen, uint8_t *out,
                                size_t max, size_t *len);
/* Valid UTF-8 (no overlong forms, no surrogates, <= U+10FFFF). */
int kh_utf8_valid(const uint8_t *s, size_t len);

#endif /* KH_JSON_H */
