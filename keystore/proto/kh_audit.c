#include "kh_audit.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

static const char kh_audit_entry_label[] = "keyholder/audit/entry/v1";
static const char kh_audit_cp_label[] = "keyholder/audit/checkpoint/v1";
static const char kh_audit_anchor_label[] = "keyholder/audit/anchor/v1";

/*- Names -------------------------------------------------------------- */

const char *kh_audit_kind_name(int kind)
{
    switch (kind) {
    case KH_AUDIT_EVENT:
        return "event";
    case KH_AUDIT_CHECKPOINT:
        return "checkpoint";
    case KH_AUDIT_GAP:
        return "gap";
    case KH_AUDIT_ANCHOR:
        return "anchor";
    case KH_AUDIT_START:
        return "start";
    default:
        return NULL;
    }
}

const char *kh_audit_category_name(int cat)
{
    static const char *const names[] = {
        [KH_AUDIT_CAT_AUTH] = "auth",
        [KH_AUDIT_CAT_POLICY] = "policy",
        [KH_AUDIT_CAT_LIFECYCLE] = "key-lifecycle",
        [KH_AUDIT_CAT_ADMIN] = "admin",
        [KH_AUDIT_CAT_SEAL] = "seal",
        [KH_AUDIT_CAT_SIGN] = "sign",
        [KH_AUDIT_CAT_READ] = "read",
        [KH_AUDIT_CAT_PROTOCOL] = "protocol",
        [KH_AUDIT_CAT_AUDIT] = "audit",
    };

    if (cat < KH_AUDIT_CAT_AUTH || cat > KH_AUDIT_CAT_MAX) {
        return NULL;
    }
    return names[cat];
}

const char *kh_audit_severity_name(int sev)
{
    switch (sev) {
    case KH_AUDIT_SEV_ERR:
        return "error";
    case KH_AUDIT_SEV_WARNING:
        return "warning";
    case KH_AUDIT_SEV_NOTICE:
        return "notice";
    case KH_AUDIT_SEV_INFO:
        return "info";
    default:
        return NULL;
    }
}

/*- Codec -------------------------------------------------------------- */

int kh_audit_entry_encode(struct kh_buf *b, const struct kh_audit_entry *e)
{
    int r;

    if (e->sig_len > KH_AUDIT_MAX_SIG || kh_audit_kind_name(e->kind) == NULL ||
        kh_audit_category_name(e->category) == NULL ||
        kh_audit_severity_name(e->severity) == NULL) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_u8(b, KH_AUDIT_VERSION)) != 0 ||
        (r = kh_buf_put_u64(b, e->seq)) != 0 ||
        (r = kh_buf_put_u64(b, e->time_ns)) != 0 ||
        (r = kh_buf_put_u8(b, e->kind)) != 0 ||
        (r = kh_buf_put_u8(b, e->category)) != 0 ||
        (r = kh_buf_put_u8(b, e->severity)) != 0 ||
        (r = kh_buf_put_u32(b, e->uid)) != 0 ||
        (r = kh_buf_put_u32(b, e->gid)) != 0 ||
        (r = kh_buf_put_u32(b, e->pid)) != 0 ||
        (r = kh_buf_put_cstr(b, e->exe)) != 0 ||
        (r = kh_buf_put_cstr(b, e->operator_name)) != 0 ||
        (r = kh_buf_put_cstr(b, e->op)) != 0 ||
        (r = kh_buf_put_cstr(b, e->key)) != 0 ||
        (r = kh_buf_put_u32(b, e->key_version)) != 0 ||
        (r = kh_buf_put_u8(b, e->has_data ? 1 : 0)) != 0 ||
        (r = kh_buf_put_bytes(b, e->data_sha256, 32)) != 0 ||
        (r = kh_buf_put_cstr(b, e->alg)) != 0 ||
        (r = kh_buf_put_u32(b, (uint32_t)e->result)) != 0 ||
        (r = kh_buf_put_cstr(b, e->reason)) != 0 ||
        (r = kh_buf_put_u64(b, e->subj_seq)) != 0 ||
        (r = kh_buf_put_bytes(b, e->subj_hash, KH_AUDIT_HASH_LEN)) != 0 ||
        (r = kh_buf_put_str(b, e->sig, e->sig_len)) != 0 ||
        (r = kh_buf_put_u64(b, e->aux)) != 0) {
        return r;
    }
    return KH_OK;
}

/* Text fields must be printable ASCII: the JSON rendering stays exact. */
static int kh_audit_text_ok(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) {
            return 0;
        }
    }
    return 1;
}

int kh_audit_entry_decode(struct kh_buf *b, struct kh_audit_entry *e)
{
    struct kh_buf t = *b;
    const uint8_t *sig;
    uint8_t version;
    uint32_t result;
    int r;

    memset(e, 0, sizeof(*e));
    if ((r = kh_buf_get_u8(&t, &version)) != 0) {
        return r;
    }
    if (version != KH_AUDIT_VERSION) {
        return KH_ERR_BAD_VERSION;
    }
    if ((r = kh_buf_get_u64(&t, &e->seq)) != 0 ||
        (r = kh_buf_get_u64(&t, &e->time_ns)) != 0 ||
        (r = kh_buf_get_u8(&t, &e->kind)) != 0 ||
        (r = kh_buf_get_u8(&t, &e->category)) != 0 ||
        (r = kh_buf_get_u8(&t, &e->severity)) != 0 ||
        (r = kh_buf_get_u32(&t, &e->uid)) != 0 ||
        (r = kh_buf_get_u32(&t, &e->gid)) != 0 ||
        (r = kh_buf_get_u32(&t, &e->pid)) != 0 ||
        (r = kh_buf_get_cstr(&t, e->exe, sizeof(e->exe))) != 0 ||
        (r = kh_buf_get_cstr(&t, e->operator_name,
                             sizeof(e->operator_name))) != 0 ||
        (r = kh_buf_get_cstr(&t, e->op, sizeof(e->op))) != 0 ||
        (r = kh_buf_get_cstr(&t, e->key, sizeof(e->key))) != 0 ||
        (r = kh_buf_get_u32(&t, &e->key_version)) != 0 ||
        (r = kh_buf_get_u8(&t, &e->has_data)) != 0 ||
        (r = kh_buf_get_bytes(&t, e->data_sha256, 32)) != 0 ||
        (r = kh_buf_get_cstr(&t, e->alg, sizeof(e->alg))) != 0 ||
        (r = kh_buf_get_u32(&t, &result)) != 0 ||
        (r = kh_buf_get_cstr(&t, e->reason, sizeof(e->reason))) != 0 ||
        (r = kh_buf_get_u64(&t, &e->subj_seq)) != 0 ||
        (r = kh_buf_get_bytes(&t, e->subj_hash, KH_AUDIT_HASH_LEN)) != 0 ||
        (r = kh_buf_get_str(&t, &sig, &e->sig_len, KH_AUDIT_MAX_SIG)) != 0 ||
        (r = kh_buf_get_u64(&t, &e->aux)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    e->result = (int32_t)result;
    memcpy(e->sig, sig, e->sig_len);
    if (kh_audit_kind_name(e->kind) == NULL ||
        kh_audit_category_name(e->category) == NULL ||
        kh_audit_severity_name(e->severity) == NULL || e->has_data > 1 ||
        e->result > 0 || !kh_audit_text_ok(e->exe) ||
        !kh_audit_text_ok(e->operator_name) || !kh_audit_text_ok(e->op) ||
        !kh_audit_text_ok(e->key) || !kh_audit_text_ok(e->alg) ||
        !kh_audit_text_ok(e->reason)) {
        return KH_ERR_INVALID_FORMAT;
    }
    *b = t;
    return KH_OK;
}

/*
 * SHA-256 fetched once: EVP_sha256() makes every EVP_DigestInit_ex() look
 * the implementation up again in the method store (about a third of the
 * writer's cost per entry). Never freed: it lives as long as the process.
 */
static EVP_MD *kh_audit_md;
static pthread_once_t kh_audit_md_once = PTHREAD_ONCE_INIT;

static void kh_audit_md_fetch(void)
{
    kh_audit_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *kh_audit_sha256(void)
{
    (void)pthread_once(&kh_audit_md_once, kh_audit_md_fetch);
    return kh_audit_md != NULL ? kh_audit_md : EVP_sha256();
}

int kh_audit_data_hash(const uint8_t *data, size_t len,
                       uint8_t out[KH_AUDIT_HASH_LEN])
{
    unsigned int n = 0;

    return EVP_Digest(data, len, out, &n, kh_audit_sha256(), NULL) == 1 &&
                   n == KH_AUDIT_HASH_LEN
               ? KH_OK
               : KH_ERR_CRYPTO;
}

int kh_audit_hash(const uint8_t prev[KH_AUDIT_HASH_LEN], const uint8_t *enc,
                  size_t len, uint8_t out[KH_AUDIT_HASH_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok;

    ok = md != NULL && EVP_DigestInit_ex(md, kh_audit_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(md, kh_audit_entry_label,
                          sizeof(kh_audit_entry_label)) == 1 &&
         EVP_DigestUpdate(md, prev, KH_AUDIT_HASH_LEN) == 1 &&
         EVP_DigestUpdate(md, enc, len) == 1 &&
         EVP_DigestFinal_ex(md, out, &n) == 1 && n == KH_AUDIT_HASH_LEN;
    EVP_MD_CTX_free(md);
    return ok ? KH_OK : KH_ERR_CRYPTO;
}

int kh_audit_rec_encode(struct kh_buf *b, const struct kh_audit_rec *rec)
{
    int r;

    if ((r = kh_buf_put_bytes(b, rec->prev, KH_AUDIT_HASH_LEN)) != 0 ||
        (r = kh_buf_put_bytes(b, rec->hash, KH_AUDIT_HASH_LEN)) != 0 ||
        (r = kh_buf_put_bytes(b, rec->enc, rec->enc_len)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_audit_rec_parse(const uint8_t *p, size_t len, struct kh_audit_rec *rec)
{
    if (len <= 2 * KH_AUDIT_HASH_LEN || len > KH_AUDIT_MAX_REC) {
        return KH_ERR_INVALID_FORMAT;
    }
    memcpy(rec->prev, p, KH_AUDIT_HASH_LEN);
    memcpy(rec->hash, p + KH_AUDIT_HASH_LEN, KH_AUDIT_HASH_LEN);
    rec->enc = p + 2 * KH_AUDIT_HASH_LEN;
    rec->enc_len = len - 2 * KH_AUDIT_HASH_LEN;
    return KH_OK;
}

int kh_audit_statement(int kind, uint64_t seq,
                       const uint8_t hash[KH_AUDIT_HASH_LEN],
                       uint64_t time_ns, struct kh_buf *out)
{
    const char *label = kind == KH_AUDIT_ANCHOR ? kh_audit_anchor_label
                                                : kh_audit_cp_label;
    int r;

    if (kind != KH_AUDIT_ANCHOR && kind != KH_AUDIT_CHECKPOINT) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_bytes(out, label, strlen(label) + 1)) != 0 ||
        (r = kh_buf_put_u64(out, seq)) != 0 ||
        (r = kh_buf_put_bytes(out, hash, KH_AUDIT_HASH_LEN)) != 0 ||
        (r = kh_buf_put_u64(out, time_ns)) != 0) {
        return r;
    }
    return KH_OK;
}

/*- JSON lines --------------------------------------------------------- */

void kh_audit_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int kh_json_put(struct kh_buf *b, const char *s)
{
    return kh_buf_put_bytes(b, s, strlen(s));
}

static int kh_json_printf(struct kh_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int kh_json_printf(struct kh_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        return KH_ERR_INTERNAL;
    }
    return kh_buf_put_bytes(b, tmp, (size_t)n);
}

/* "name":"escaped" preceded by a comma unless first. */
static int kh_json_str_field(struct kh_buf *b, const char *name,
                             const char *s)
{
    int r;

    if ((r = kh_json_printf(b, ",\"%s\":\"", name)) != 0) {
        return r;
    }
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            r = kh_json_printf(b, "\\%c", c);
        } else if (c < 0x20 || c > 0x7e) {
            r = kh_json_printf(b, "\\u%04x", c);
        } else {
            r = kh_buf_put_u8(b, c);
        }
        if (r != 0) {
            return r;
        }
    }
    return kh_buf_put_u8(b, '"');
}

static int kh_json_hex_field(struct kh_buf *b, const char *name,
                             const uint8_t *p, size_t n)
{
    char hex[2 * KH_AUDIT_MAX_SIG + 1];

    if (n > KH_AUDIT_MAX_SIG) {
        return KH_ERR_INTERNAL;
    }
    kh_audit_hex(p, n, hex);
    return kh_json_str_field(b, name, hex);
}

static void kh_audit_time_str(uint64_t ns, char out[48])
{
    time_t s = (time_t)(ns / 1000000000u);
    struct tm tm;
    char day[32];

    if (gmtime_r(&s, &tm) == NULL) {
        snprintf(out, 48, "invalid");
        return;
    }
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 48, "%s.%09uZ", day, (unsigned)(ns % 1000000000u));
}

int kh_audit_json_line(const struct kh_audit_rec *rec,
                       const struct kh_audit_entry *e, struct kh_buf *out)
{
    char when[48];
    uint8_t none[32] = { 0 };
    int r;

    kh_audit_time_str(e->time_ns, when);
    if ((r = kh_json_printf(out, "{\"seq\":%" PRIu64, e->seq)) != 0 ||
        (r = kh_json_str_field(out, "time", when)) != 0 ||
        (r = kh_json_str_field(out, "kind", kh_audit_kind_name(e->kind))) !=
            0 ||
        (r = kh_json_str_field(out, "category",
                               kh_audit_category_name(e->category))) != 0 ||
        (r = kh_json_str_field(out, "severity",
                               kh_audit_severity_name(e->severity))) != 0 ||
        (r = kh_json_printf(out, ",\"uid\":%u,\"gid\":%u,\"pid\":%u",
                            (unsigned)e->uid, (unsigned)e->gid,
                            (unsigned)e->pid)) != 0 ||
        (r = kh_json_str_field(out, "exe", e->exe)) != 0 ||
        (r = kh_json_str_field(out, "operator", e->operator_name)) != 0 ||
        (r = kh_json_str_field(out, "op", e->op)) != 0 ||
        (r = kh_json_str_field(out, "key", e->key)) != 0 ||
        (r = kh_json_printf(out, ",\"key_version\":%u",
                            (unsigned)e->key_version)) != 0 ||
        (r = kh_json_hex_field(out, "data_sha256",
                               e->has_data ? e->data_sha256 : none,
                               e->has_data ? 32 : 0)) != 0 ||
        (r = kh_json_str_field(out, "alg", e->alg)) != 0 ||
        (r = kh_json_str_field(out, "result",
                               e->result == 0 ? "OK"
                                              : kh_errname(e->result))) !=
            0 ||
        (r = kh_json_printf(out, ",\"code\":%d", (int)e->result)) != 0 ||
        (r = kh_json_str_field(out, "reason", e->reason)) != 0 ||
        (r = kh_json_printf(out, ",\"subj_seq\":%" PRIu64, e->subj_seq)) !=
            0 ||
        (r = kh_json_hex_field(out, "subj_hash", e->subj_hash,
                               KH_AUDIT_HASH_LEN)) != 0 ||
        (r = kh_json_hex_field(out, "sig", e->sig, e->sig_len)) != 0 ||
        (r = kh_json_printf(out, ",\"aux\":%" PRIu64, e->aux)) != 0 ||
        (r = kh_json_hex_field(out, "prev_hash", rec->prev,
                               KH_AUDIT_HASH_LEN)) != 0 ||
        (r = kh_json_hex_field(out, "hash", rec->hash, KH_AUDIT_HASH_LEN)) !=
            0 ||
        (r = kh_json_put(out, ",\"entry\":\"")) != 0) {
        return r;
    }
    for (size_t i = 0; i < rec->enc_len; i++) {
        char hx[3];

        kh_audit_hex(rec->enc + i, 1, hx);
        if ((r = kh_buf_put_bytes(out, hx, 2)) != 0) {
            return r;
        }
    }
    return kh_json_put(out, "\"}");
}

static int kh_unhex_nibble(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Lowercase hex of exactly |n| bytes at |s| (2n chars) into |out|. */
static int kh_unhex(const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = kh_unhex_nibble(s[2 * i]), lo = kh_unhex_nibble(s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return KH_ERR_INVALID_FORMAT;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return KH_OK;
}

/* The position of the last |needle| in |line| (len bytes), or NULL. */
static const char *kh_find_last(const char *line, size_t len,
                                const char *needle)
{
    size_t n = strlen(needle);

    if (len < n) {
        return NULL;
    }
    for (size_t i = len - n + 1; i-- > 0;) {
        if (memcmp(line + i, needle, n) == 0) {
            return line + i;
        }
    }
    return NULL;
}

int kh_audit_json_parse(const char *line, size_t len, struct kh_buf *encbuf,
                        struct kh_audit_rec *rec, struct kh_audit_entry *e)
{
    static const char entry_key[] = ",\"entry\":\"";
    static const char prev_key[] = ",\"prev_hash\":\"";
    static const char hash_key[] = ",\"hash\":\"";
    const char *p, *end = line + len;
    struct kh_buf rb, dec;
    size_t hexlen;
    uint8_t *enc;
    int r;

    if (len < 4 || len > KH_AUDIT_MAX_LINE || line[0] != '{' ||
        memcmp(end - 2, "\"}", 2) != 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    if ((p = kh_find_last(line, len, entry_key)) == NULL) {
        return KH_ERR_INVALID_FORMAT;
    }
    p += strlen(entry_key);
    hexlen = (size_t)(end - 2 - p);
    if (hexlen % 2 != 0 || hexlen == 0 || hexlen / 2 > KH_AUDIT_MAX_ENC) {
        return KH_ERR_INVALID_FORMAT;
    }
    kh_buf_reset(encbuf);
    if ((r = kh_buf_reserve(encbuf, hexlen / 2, &enc)) != 0 ||
        (r = kh_unhex(p, hexlen / 2, enc)) != 0) {
        return r != KH_ERR_INVALID_FORMAT ? r : KH_ERR_INVALID_FORMAT;
    }
    rec->enc = kh_buf_data(encbuf);
    rec->enc_len = kh_buf_size(encbuf);
    /* prev_hash and hash sit just before "entry", in that order. */
    p -= strlen(entry_key);
    if ((size_t)(p - line) < strlen(hash_key) + 64 + 1 + strlen(prev_key) +
                                 64 + 1) {
        return KH_ERR_INVALID_FORMAT;
    }
    p -= 64 + 1;
    if (memcmp(p - strlen(hash_key), hash_key, strlen(hash_key)) != 0 ||
        kh_unhex(p, 32, rec->hash) != 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    p -= strlen(hash_key) + 64 + 1;
    if (memcmp(p - strlen(prev_key), prev_key, strlen(prev_key)) != 0 ||
        kh_unhex(p, 32, rec->prev) != 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    kh_buf_init_reader(&dec, rec->enc, rec->enc_len);
    if ((r = kh_audit_entry_decode(&dec, e)) != 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    /* The line must be exactly what this entry renders to. */
    kh_buf_init_writer(&rb, KH_AUDIT_MAX_LINE);
    r = kh_audit_json_line(rec, e, &rb);
    if (r == 0 && (kh_buf_size(&rb) != len ||
                   memcmp(kh_buf_data(&rb), line, len) != 0)) {
        r = KH_ERR_INVALID_FORMAT;
    }
    kh_buf_free(&rb);
    return r;
}

/*- Anchors ------------------------------------------------------------ */

int kh_audit_anchor_encode(struct kh_buf *b, const struct kh_audit_anchor *a)
{
    int r;

    if (a->sig_len > KH_AUDIT_MAX_SIG) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_u64(b, a->seq)) != 0 ||
        (r = kh_buf_put_u64(b, a->time_ns)) != 0 ||
        (r = kh_buf_put_bytes(b, a->hash, KH_AUDIT_HASH_LEN)) != 0 ||
        (r = kh_buf_put_str(b, a->sig, a->sig_len)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_audit_anchor_decode(struct kh_buf *b, struct kh_audit_anchor *a)
{
    struct kh_buf t = *b;
    const uint8_t *sig;
    int r;

    if ((r = kh_buf_get_u64(&t, &a->seq)) != 0 ||
        (r = kh_buf_get_u64(&t, &a->time_ns)) != 0 ||
        (r = kh_buf_get_bytes(&t, a->hash, KH_AUDIT_HASH_LEN)) != 0 ||
        (r = kh_buf_get_str(&t, &sig, &a->sig_len, KH_AUDIT_MAX_SIG)) != 0) {
        return r;
    }
    if (a->seq < 2) {
        return KH_ERR_INVALID_FORMAT;
    }
    memcpy(a->sig, sig, a->sig_len);
    *b = t;
    return KH_OK;
}

int kh_audit_anchor_json(const struct kh_audit_anchor *a, struct kh_buf *out)
{
    char hash[2 * KH_AUDIT_HASH_LEN + 1], sig[2 * KH_AUDIT_MAX_SIG + 1];
    int r;

    if (a->sig_len > KH_AUDIT_MAX_SIG) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    kh_audit_hex(a->hash, KH_AUDIT_HASH_LEN, hash);
    kh_audit_hex(a->sig, a->sig_len, sig);
    if ((r = kh_json_printf(out, "{\"anchor_seq\":%" PRIu64
                            ",\"anchor_time_ns\":%" PRIu64, a->seq,
                            a->time_ns)) != 0 ||
        (r = kh_json_put(out, ",\"anchor_hash\":\"")) != 0 ||
        (r = kh_json_put(out, hash)) != 0 ||
        (r = kh_json_put(out, "\",\"anchor_sig\":\"")) != 0 ||
        (r = kh_json_put(out, sig)) != 0 ||
        (r = kh_json_put(out, "\"}")) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_audit_anchor_json_parse(const char *line, size_t len,
                               struct kh_audit_anchor *a)
{
    char tmp[2 * KH_AUDIT_MAX_SIG + 256];
    unsigned long long seq, t;
    char hash[65], sig[2 * KH_AUDIT_MAX_SIG + 1];
    struct kh_buf rb;
    int n = 0, r;

    if (len >= sizeof(tmp)) {
        return KH_ERR_INVALID_FORMAT;
    }
    memcpy(tmp, line, len);
    tmp[len] = '\0';
    if (sscanf(tmp, "{\"anchor_seq\":%20llu,\"anchor_time_ns\":%20llu,"
               "\"anchor_hash\":\"%64[0-9a-f]\",\"anchor_sig\":\"%320[0-9a-f]"
               "\"}%n", &seq, &t, hash, sig, &n) != 4 ||
        (size_t)n != len || strlen(hash) != 64 || strlen(sig) % 2 != 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    a->seq = seq;
    a->time_ns = t;
    a->sig_len = strlen(sig) / 2;
    if (kh_unhex(hash, 32, a->hash) != 0 ||
        kh_unhex(sig, a->sig_len, a->sig) != 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    kh_buf_init_writer(&rb, sizeof(tmp));
    r = kh_audit_anchor_json(a, &rb);
    if (r == 0 && (kh_buf_size(&rb) != len ||
                   memcmp(kh_buf_data(&rb), line, len) != 0)) {
        r = KH_ERR_INVALID_FORMAT; /* leading zeros, spaces... */
    }
    kh_buf_free(&rb);
    return r;
}

/*- AUDIT_READ reply -------------------------------------------------- */

int kh_audit_page_encode(struct kh_buf *b, const struct kh_audit_page *m)
{
    int r;

    if (m->has_anchor > 1 || m->more > 1 || m->spki_len > KH_MAX_SPKI_LEN) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_u64(b, m->first)) != 0 ||
        (r = kh_buf_put_u64(b, m->head)) != 0 ||
        (r = kh_buf_put_u8(b, m->has_anchor)) != 0 ||
        (m->has_anchor && (r = kh_audit_anchor_encode(b, &m->anchor)) != 0) ||
        (r = kh_buf_put_str(b, m->spki, m->spki_len)) != 0 ||
        (r = kh_buf_put_u8(b, m->more)) != 0 ||
        (r = kh_buf_put_u32(b, m->count)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_audit_page_decode(struct kh_buf *b, struct kh_audit_page *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_buf_get_u64(&t, &m->first)) != 0 ||
        (r = kh_buf_get_u64(&t, &m->head)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->has_anchor)) != 0) {
        return r;
    }
    if (m->has_anchor > 1) {
        return KH_ERR_INVALID_FORMAT;
    }
    if ((m->has_anchor && (r = kh_audit_anchor_decode(&t, &m->anchor)) != 0) ||
        (r = kh_buf_get_str(&t, &m->spki, &m->spki_len, KH_MAX_SPKI_LEN)) !=
            0 ||
        (r = kh_buf_get_u8(&t, &m->more)) != 0 ||
        (r = kh_buf_get_u32(&t, &m->count)) != 0) {
        return r;
    }
    if (m->more > 1) {
        return KH_ERR_INVALID_FORMAT;
    }
    *b = t;
    return KH_OK;
}

int kh_audit_page_entry_decode(struct kh_buf *b, uint64_t *seq,
                               const uint8_t **val, size_t *len)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_buf_get_u64(&t, seq)) != 0 ||
        (r = kh_buf_get_str(&t, val, len, KH_AUDIT_MAX_REC + 1)) != 0) {
        return r;
    }
    *b = t;
    return KH_OK;
}

/*- Verifier ----------------------------------------------------------- */

static int kh_verr(struct kh_audit_verifier *v, uint64_t seq, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

static int kh_verr(struct kh_audit_verifier *v, uint64_t seq, const char *fmt,
                   ...)
{
    va_list ap;

    if (v->error[0] == '\0') {
        v->bad_seq = seq;
        va_start(ap, fmt);
        vsnprintf(v->error, sizeof(v->error), fmt, ap);
        va_end(ap);
    }
    return KH_ERR_TAMPERED;
}

int kh_audit_verifier_init(struct kh_audit_verifier *v, const uint8_t *spki,
                           size_t len)
{
    const unsigned char *p = spki;

    memset(v, 0, sizeof(*v));
    if (spki == NULL) {
        return KH_OK;
    }
    if ((v->pubkey = d2i_PUBKEY(NULL, &p, (long)len)) == NULL ||
        p != spki + len) {
        ERR_clear_error();
        EVP_PKEY_free(v->pubkey);
        v->pubkey = NULL;
        return KH_ERR_INVALID_FORMAT;
    }
    return KH_OK;
}

void kh_audit_verifier_free(struct kh_audit_verifier *v)
{
    EVP_PKEY_free(v->pubkey);
    v->pubkey = NULL;
}

/* 1 if |sig| is the audit key's signature over the statement. */
static int kh_audit_sig_ok(struct kh_audit_verifier *v, int kind,
                           uint64_t seq, const uint8_t *hash,
                           uint64_t time_ns, const uint8_t *sig,
                           size_t siglen)
{
    struct kh_buf st;
    EVP_MD_CTX *md = NULL;
    int ok = 0;

    if (v->pubkey == NULL) {
        return 0;
    }
    kh_buf_init_writer(&st, 256);
    if (kh_audit_statement(kind, seq, hash, time_ns, &st) == 0 &&
        (md = EVP_MD_CTX_new()) != NULL &&
        EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, v->pubkey) == 1) {
        ok = EVP_DigestVerify(md, sig, siglen, kh_buf_data(&st),
                              kh_buf_size(&st)) == 1;
    }
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    kh_buf_free(&st);
    return ok;
}

int kh_audit_verify_anchor(struct kh_audit_verifier *v, uint64_t seq,
                           const uint8_t hash[KH_AUDIT_HASH_LEN],
                           uint64_t time_ns, const uint8_t *sig,
                           size_t siglen)
{
    if (v->error[0] != '\0') {
        return KH_ERR_TAMPERED;
    }
    if (v->pubkey == NULL) {
        return kh_verr(v, seq, "seq %" PRIu64 ": the archive anchor cannot "
                       "be checked without the audit public key", seq);
    }
    if (!kh_audit_sig_ok(v, KH_AUDIT_ANCHOR, seq, hash, time_ns, sig,
                         siglen)) {
        return kh_verr(v, seq, "seq %" PRIu64 ": archive anchor signature "
                       "does not verify", seq);
    }
    v->have_prev = 1;
    v->next_seq = seq;
    memcpy(v->prev, hash, KH_AUDIT_HASH_LEN);
    v->last_signed_seq = seq - 1;
    return KH_OK;
}

static int kh_audit_verify_signed(struct kh_audit_verifier *v,
                                  const struct kh_audit_entry *e,
                                  const struct kh_audit_rec *rec)
{
    const char *what = e->kind == KH_AUDIT_ANCHOR ? "anchor" : "checkpoint";

    if (e->kind == KH_AUDIT_CHECKPOINT &&
        (e->subj_seq + 1 != e->seq ||
         memcmp(e->subj_hash, rec->prev, KH_AUDIT_HASH_LEN) != 0)) {
        return kh_verr(v, e->seq, "seq %" PRIu64 ": checkpoint does not "
                       "cover the entry before it", e->seq);
    }
    if (v->pubkey == NULL) {
        return kh_verr(v, e->seq, "seq %" PRIu64 ": %s signature cannot be "
                       "checked without the audit public key", e->seq, what);
    }
    if (!kh_audit_sig_ok(v, e->kind, e->subj_seq, e->subj_hash, e->time_ns,
                         e->sig, e->sig_len)) {
        return kh_verr(v, e->seq, "seq %" PRIu64 ": %s signature does not "
                       "verify", e->seq, what);
    }
    if (e->kind == KH_AUDIT_CHECKPOINT) {
        v->checkpoints++;
        v->last_signed_seq = e->subj_seq;
    } else {
        v->anchors++;
    }
    return KH_OK;
}

int kh_audit_verify_next(struct kh_audit_verifier *v, uint64_t key_seq,
                         const struct kh_audit_rec *rec)
{
    struct kh_audit_entry *e;
    uint8_t h[KH_AUDIT_HASH_LEN];
    struct kh_buf b;
    int r = KH_OK;

    if (v->error[0] != '\0') {
        return KH_ERR_TAMPERED;
    }
    if (v->have_prev && key_seq != v->next_seq) {
        return key_seq > v->next_seq
                   ? kh_verr(v, v->next_seq, "seq %" PRIu64 " is missing "
                             "(next stored entry is %" PRIu64 ")",
                             v->next_seq, key_seq)
                   : kh_verr(v, v->next_seq, "seq %" PRIu64 " is out of "
                             "order (found %" PRIu64 ")", v->next_seq,
                             key_seq);
    }
    if ((e = malloc(sizeof(*e))) == NULL) {
        return KH_ERR_ALLOC;
    }
    kh_buf_init_reader(&b, rec->enc, rec->enc_len);
    if (kh_audit_entry_decode(&b, e) != 0) {
        r = kh_verr(v, key_seq, "seq %" PRIu64 ": entry does not decode",
                    key_seq);
        goto out;
    }
    if (e->seq != key_seq) {
        r = kh_verr(v, key_seq, "seq %" PRIu64 ": holds the entry of seq %"
                    PRIu64 " (moved or reordered)", key_seq, e->seq);
        goto out;
    }
    if (v->have_prev && memcmp(rec->prev, v->prev, KH_AUDIT_HASH_LEN) != 0) {
        r = kh_verr(v, key_seq, "seq %" PRIu64 ": previous hash does not "
                    "match seq %" PRIu64 "'s hash", key_seq, key_seq - 1);
        goto out;
    }
    if ((r = kh_audit_hash(rec->prev, rec->enc, rec->enc_len, h)) != 0) {
        goto out;
    }
    if (memcmp(h, rec->hash, KH_AUDIT_HASH_LEN) != 0) {
        r = kh_verr(v, key_seq, "seq %" PRIu64 ": hash mismatch (entry "
                    "altered)", key_seq);
        goto out;
    }
    if ((e->kind == KH_AUDIT_CHECKPOINT || e->kind == KH_AUDIT_ANCHOR) &&
        (r = kh_audit_verify_signed(v, e, rec)) != 0) {
        goto out;
    }
    if (e->kind == KH_AUDIT_GAP) {
        v->gaps++;
    }
    v->entries++;
    v->have_prev = 1;
    v->next_seq = key_seq + 1;
    v->last_seq = key_seq;
    memcpy(v->prev, rec->hash, KH_AUDIT_HASH_LEN);
out:
    free(e);
    return r;
}
