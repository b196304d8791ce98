/* kh_json.c - strict canonical JSON for Keyholder's own files (kh_json.h). */
#include "kh_json.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

static const char kh_hex_digits[] = "0123456789abcdef";
static const char kh_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- codecs ---- */

int kh_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07u;
        } else {
            return 0;
        }
        if (len - i - 1 < n) {
            return 0;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0u) != 0x80u) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0; /* overlong, too large, or a surrogate */
        }
        i += n + 1;
    }
    return 1;
}

void kh_hex_encode(const uint8_t *d, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = kh_hex_digits[d[i] >> 4];
        out[2 * i + 1] = kh_hex_digits[d[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

static int kh_hex_nibble(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

int kh_hex_decode(const char *s, size_t slen, uint8_t *out, size_t len)
{
    if (slen != 2 * len) {
        return KH_ERR_INVALID_FORMAT;
    }
    for (size_t i = 0; i < len; i++) {
        int hi = kh_hex_nibble(s[2 * i]), lo = kh_hex_nibble(s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return KH_ERR_INVALID_FORMAT;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return KH_OK;
}

static int kh_b64_value(char c)
{
    const char *p;

    if (c == '\0' || (p = strchr(kh_b64_alphabet, c)) == NULL) {
        return -1;
    }
    return (int)(p - kh_b64_alphabet);
}

/* Standard alphabet, padded, no whitespace, unused bits zero. */
int kh_b64_decode(const char *s, size_t slen, uint8_t *out, size_t max,
                  size_t *len)
{
    size_t pad = 0, n;

    *len = 0;
    if (slen % 4 != 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    if (slen > 0 && s[slen - 1] == '=') {
        pad = slen > 1 && s[slen - 2] == '=' ? 2 : 1;
    }
    n = slen / 4 * 3 - pad;
    if (n > max) {
        return KH_ERR_TOO_LARGE;
    }
    for (size_t i = 0, o = 0; i < slen; i += 4) {
        int v[4];
        uint32_t q = 0;
        size_t valid = i + 4 < slen ? 4 : 4 - pad;

        for (size_t k = 0; k < 4; k++) {
            v[k] = k < valid ? kh_b64_value(s[i + k]) : 0;
            if (v[k] < 0) {
                return KH_ERR_INVALID_FORMAT;
            }
            q = q << 6 | (uint32_t)v[k];
        }
        if ((valid == 3 && (q & 0xffu) != 0) ||
            (valid == 2 && (q & 0xffffu) != 0)) {
            return KH_ERR_INVALID_FORMAT; /* non-canonical unused bits */
        }
        for (size_t k = 0; k + 1 < valid; k++) {
            out[o++] = (uint8_t)(q >> (16 - 8 * k));
        }
    }
    *len = n;
    return KH_OK;
}

/* ---- writer ---- */

void kh_json_writer_init(struct kh_json_writer *w, struct kh_buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

static void kh_json_put(struct kh_json_writer *w, const void *p, size_t n)
{
    if (w->err == KH_OK) {
        w->err = kh_buf_put_bytes(w->out, p, n);
    }
}

static void kh_json_fail(struct kh_json_writer *w, int err)
{
    if (w->err == KH_OK) {
        w->err = err;
    }
}

/* Newline and two spaces per open container. */
static void kh_json_newline(struct kh_json_writer *w)
{
    kh_json_put(w, "\n", 1);
    for (unsigned i = 0; i < w->depth; i++) {
        kh_json_put(w, "  ", 2);
    }
}

/* Separator and layout before the next element of the open container. */
static void kh_json_next_element(struct kh_json_writer *w)
{
    if (w->count[w->depth - 1] != 0) {
        kh_json_put(w, ",", 1);
    }
    w->count[w->depth - 1] = 1;
    kh_json_newline(w);
}

static void kh_json_before_value(struct kh_json_writer *w)
{
    if (w->after_key) {
        w->after_key = 0;
    } else if (w->depth == 0) {
        if (w->started) {
            kh_json_fail(w, KH_ERR_INVALID_ARGUMENT); /* second document */
        }
        w->started = 1;
    } else if (w->kind[w->depth - 1] != '[') {
        kh_json_fail(w, KH_ERR_INVALID_ARGUMENT); /* value without key */
    } else {
        kh_json_next_element(w);
    }
}

static void kh_json_open(struct kh_json_writer *w, char kind)
{
    kh_json_before_value(w);
    if (w->depth == KH_JSON_MAX_DEPTH) {
        kh_json_fail(w, KH_ERR_TOO_LARGE);
        return;
    }
    kh_json_put(w, &kind, 1);
    w->kind[w->depth] = (uint8_t)kind;
    w->count[w->depth] = 0;
    w->depth++;
}

static void kh_json_close(struct kh_json_writer *w, char kind)
{
    char end = kind == '{' ? '}' : ']';
    int had;

    if (w->depth == 0 || w->kind[w->depth - 1] != (uint8_t)kind ||
        w->after_key) {
        kh_json_fail(w, KH_ERR_INVALID_ARGUMENT);
        return;
    }
    had = w->count[w->depth - 1];
    w->depth--;
    if (had) {
        kh_json_newline(w);
    }
    kh_json_put(w, &end, 1);
}

void kh_json_obj_begin(struct kh_json_writer *w)
{
    kh_json_open(w, '{');
}

void kh_json_obj_end(struct kh_json_writer *w)
{
    kh_json_close(w, '{');
}

void kh_json_arr_begin(struct kh_json_writer *w)
{
    kh_json_open(w, '[');
}

void kh_json_arr_end(struct kh_json_writer *w)
{
    kh_json_close(w, '[');
}

/* A quoted, escaped string (RFC 8259 shortest escapes). */
static void kh_json_put_string(struct kh_json_writer *w, const char *s)
{
    size_t len = strlen(s);

    if (!kh_utf8_valid((const uint8_t *)s, len)) {
        kh_json_fail(w, KH_ERR_INVALID_ARGUMENT);
        return;
    }
    kh_json_put(w, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        char esc[7];
        const char *e = NULL;

        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default:
            if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = kh_hex_digits[c >> 4];
                esc[5] = kh_hex_digits[c & 0x0f];
                esc[6] = '\0';
                e = esc;
            }
        }
        if (e != NULL) {
            kh_json_put(w, e, strlen(e));
        } else {
            kh_json_put(w, &s[i], 1);
        }
    }
    kh_json_put(w, "\"", 1);
}

void kh_json_key(struct kh_json_writer *w, const char *key)
{
    if (w->depth == 0 || w->kind[w->depth - 1] != '{' || w->after_key) {
        kh_json_fail(w, KH_ERR_INVALID_ARGUMENT);
        return;
    }
    kh_json_next_element(w);
    kh_json_put_string(w, key);
    kh_json_put(w, ": ", 2);
    w->after_key = 1;
}

void kh_json_str(struct kh_json_writer *w, const char *s)
{
    kh_json_before_value(w);
    kh_json_put_string(w, s);
}

void kh_json_uint(struct kh_json_writer *w, uint64_t v)
{
    char digits[24];
    size_t n = sizeof(digits);

    kh_json_before_value(w);
    do {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    kh_json_put(w, digits + n, sizeof(digits) - n);
}

/* Reserves |n| bytes between quotes for an encoded value. */
static char *kh_json_reserve_str(struct kh_json_writer *w, size_t n)
{
    uint8_t *p = NULL;

    kh_json_before_value(w);
    kh_json_put(w, "\"", 1);
    if (w->err == KH_OK) {
        w->err = kh_buf_reserve(w->out, n, &p);
    }
    kh_json_put(w, "\"", 1);
    if (w->err != KH_OK) {
        return NULL;
    }
    /* The closing quote was appended after the reserved bytes. */
    return (char *)kh_buf_data(w->out) + kh_buf_size(w->out) - 1 - n;
}

void kh_json_hex(struct kh_json_writer *w, const uint8_t *d, size_t len)
{
    char *p = kh_json_reserve_str(w, 2 * len);

    for (size_t i = 0; p != NULL && i < len; i++) {
        p[2 * i] = kh_hex_digits[d[i] >> 4];
        p[2 * i + 1] = kh_hex_digits[d[i] & 0x0f];
    }
}

void kh_json_b64(struct kh_json_writer *w, const uint8_t *d, size_t len)
{
    char *p = kh_json_reserve_str(w, (len + 2) / 3 * 4);

    for (size_t i = 0; p != NULL && i < len; i += 3, p += 4) {
        uint32_t q = (uint32_t)d[i] << 16;
        size_t rest = len - i;

        q |= rest > 1 ? (uint32_t)d[i + 1] << 8 : 0;
        q |= rest > 2 ? d[i + 2] : 0;
        p[0] = kh_b64_alphabet[q >> 18];
        p[1] = kh_b64_alphabet[(q >> 12) & 63];
        p[2] = rest > 1 ? kh_b64_alphabet[(q >> 6) & 63] : '=';
        p[3] = rest > 2 ? kh_b64_alphabet[q & 63] : '=';
    }
}

int kh_json_finish(struct kh_json_writer *w)
{
    if (w->depth != 0 || !w->started || w->after_key) {
        kh_json_fail(w, KH_ERR_INVALID_ARGUMENT);
    }
    kh_json_put(w, "\n", 1);
    return w->err;
}

/* ---- reader ---- */

void kh_json_reader_init(struct kh_json_reader *r, const uint8_t *d,
                         size_t len)
{
    memset(r, 0, sizeof(*r));
    r->d = d;
    r->len = len;
}

static void kh_json_ws(struct kh_json_reader *r)
{
    while (r->off < r->len &&
           (r->d[r->off] == ' ' || r->d[r->off] == '\t' ||
            r->d[r->off] == '\n' || r->d[r->off] == '\r')) {
        r->off++;
    }
}

/* Skips whitespace, then consumes |c| or fails. */
static int kh_json_expect(struct kh_json_reader *r, char c)
{
    kh_json_ws(r);
    if (r->off >= r->len || r->d[r->off] != (uint8_t)c) {
        return KH_ERR_INVALID_FORMAT;
    }
    r->off++;
    return KH_OK;
}

static int kh_json_read_open(struct kh_json_reader *r, char kind)
{
    int e;

    if (r->depth == KH_JSON_MAX_DEPTH) {
        return KH_ERR_TOO_LARGE;
    }
    if ((e = kh_json_expect(r, kind)) != KH_OK) {
        return e;
    }
    r->kind[r->depth] = (uint8_t)kind;
    r->count[r->depth] = 0;
    r->depth++;
    return KH_OK;
}

int kh_json_read_obj_begin(struct kh_json_reader *r)
{
    return kh_json_read_open(r, '{');
}

int kh_json_read_arr_begin(struct kh_json_reader *r)
{
    return kh_json_read_open(r, '[');
}

int kh_json_read_obj_end(struct kh_json_reader *r)
{
    int e;

    if (r->depth == 0 || r->kind[r->depth - 1] != '{') {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((e = kh_json_expect(r, '}')) != KH_OK) {
        return e;
    }
    r->depth--;
    return KH_OK;
}

int kh_json_read_arr_next(struct kh_json_reader *r)
{
    int e;

    if (r->depth == 0 || r->kind[r->depth - 1] != '[') {
        return KH_ERR_INVALID_ARGUMENT;
    }
    kh_json_ws(r);
    if (r->off < r->len && r->d[r->off] == ']') {
        r->off++;
        r->depth--;
        return 0;
    }
    if (r->count[r->depth - 1] != 0 &&
        (e = kh_json_expect(r, ',')) != KH_OK) {
        return e;
    }
    r->count[r->depth - 1] = 1;
    return 1;
}

/* One escape after the backslash into |*c|. */
static int kh_json_unescape(struct kh_json_reader *r, uint8_t *c)
{
    int hi, lo;

    if (r->off >= r->len) {
        return KH_ERR_INVALID_FORMAT;
    }
    switch (r->d[r->off++]) {
    case '"': *c = '"'; return KH_OK;
    case '\\': *c = '\\'; return KH_OK;
    case 'b': *c = '\b'; return KH_OK;
    case 'f': *c = '\f'; return KH_OK;
    case 'n': *c = '\n'; return KH_OK;
    case 'r': *c = '\r'; return KH_OK;
    case 't': *c = '\t'; return KH_OK;
    case 'u':
        /* Only the control characters the writer escapes this way. */
        if (r->len - r->off < 4 || r->d[r->off] != '0' ||
            r->d[r->off + 1] != '0') {
            return KH_ERR_INVALID_FORMAT;
        }
        hi = kh_hex_nibble((char)r->d[r->off + 2]);
        lo = kh_hex_nibble((char)r->d[r->off + 3]);
        if (hi < 0 || hi > 1 || lo < 0 || (hi == 0 && lo == 0)) {
            return KH_ERR_INVALID_FORMAT; /* not 01..1f, or NUL */
        }
        r->off += 4;
        *c = (uint8_t)(hi << 4 | lo);
        return KH_OK;
    default:
        return KH_ERR_INVALID_FORMAT;
    }
}

/* A string into |out| (NUL-terminated, at most outsz - 1 bytes). */
static int kh_json_string(struct kh_json_reader *r, char *out, size_t outsz,
                          size_t *outlen)
{
    size_t save = r->off, n = 0;
    int e;

    if ((e = kh_json_expect(r, '"')) != KH_OK) {
        return e;
    }
    for (;;) {
        uint8_t c;

        if (r->off >= r->len) {
            e = KH_ERR_INVALID_FORMAT;
            goto fail;
        }
        c = r->d[r->off++];
        if (c == '"') {
            break;
        }
        if (c < 0x20) {
            e = KH_ERR_INVALID_FORMAT; /* raw control character */
            goto fail;
        }
        if (c == '\\' && (e = kh_json_unescape(r, &c)) != KH_OK) {
            goto fail;
        }
        if (n + 1 >= outsz) {
            e = KH_ERR_TOO_LARGE;
            goto fail;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    if (!kh_utf8_valid((const uint8_t *)out, n)) {
        e = KH_ERR_INVALID_FORMAT;
        goto fail;
    }
    *outlen = n;
    return KH_OK;
fail:
    r->off = save;
    if (outsz > 0) {
        out[0] = '\0';
    }
    return e;
}

int kh_json_read_key(struct kh_json_reader *r, const char *key)
{
    char got[64];
    size_t n, save = r->off;
    int e;

    if (r->depth == 0 || r->kind[r->depth - 1] != '{') {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r->count[r->depth - 1] != 0 &&
         (e = kh_json_expect(r, ',')) != KH_OK) ||
        (e = kh_json_string(r, got, sizeof(got), &n)) != KH_OK ||
        (e = kh_json_expect(r, ':')) != KH_OK) {
        r->off = save;
        return e == KH_ERR_TOO_LARGE ? KH_ERR_INVALID_FORMAT : e;
    }
    if (strcmp(got, key) != 0) {
        r->off = save;
        return KH_ERR_INVALID_FORMAT; /* unknown, missing or reordered */
    }
    r->count[r->depth - 1] = 1;
    return KH_OK;
}

int kh_json_read_str(struct kh_json_reader *r, char *out, size_t outsz)
{
    size_t n;

    return kh_json_string(r, out, outsz, &n);
}

int kh_json_read_uint(struct kh_json_reader *r, uint64_t *v, uint64_t max)
{
    uint64_t x = 0;
    size_t start;

    kh_json_ws(r);
    start = r->off;
    while (r->off < r->len && r->d[r->off] >= '0' && r->d[r->off] <= '9') {
        unsigned dgt = (unsigned)(r->d[r->off] - '0');

        if (dgt > max || x > (max - dgt) / 10) {
            r->off = start;
            return KH_ERR_TOO_LARGE;
        }
        x = x * 10 + dgt;
        r->off++;
    }
    if (r->off == start ||
        (r->off - start > 1 && r->d[start] == '0')) {
        r->off = start;
        return KH_ERR_INVALID_FORMAT; /* no digit, or a leading zero */
    }
    *v = x;
    return KH_OK;
}

/* A string of at most |max| bytes in a heap buffer (free with free()). */
static int kh_json_string_alloc(struct kh_json_reader *r, size_t max,
                                char **s, size_t *len)
{
    int e;

    if ((*s = malloc(max + 1)) == NULL) {
        return KH_ERR_ALLOC;
    }
    if ((e = kh_json_string(r, *s, max + 1, len)) != KH_OK) {
        free(*s);
        *s = NULL;
    }
    return e;
}

int kh_json_read_hex(struct kh_json_reader *r, uint8_t *out, size_t len)
{
    size_t save = r->off, n;
    char *s;
    int e;

    if ((e = kh_json_string_alloc(r, 2 * len, &s, &n)) != KH_OK) {
        return e == KH_ERR_TOO_LARGE ? KH_ERR_INVALID_FORMAT : e;
    }
    if ((e = kh_hex_decode(s, n, out, len)) != KH_OK) {
        r->off = save;
    }
    free(s);
    return e;
}

int kh_json_read_b64(struct kh_json_reader *r, uint8_t *out, size_t max,
                     size_t *len)
{
    size_t save = r->off, n;
    char *s;
    int e;

    if ((e = kh_json_string_alloc(r, (max + 2) / 3 * 4, &s, &n)) !=
        KH_OK) {
        return e;
    }
    if ((e = kh_b64_decode(s, n, out, max, len)) != KH_OK) {
        r->off = save;
    }
    free(s);
    return e;
}

int kh_json_read_end(struct kh_json_reader *r)
{
    if (r->depth != 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    kh_json_ws(r);
    return r->off == r->len ? KH_OK : KH_ERR_TRAILING_DATA;
}
