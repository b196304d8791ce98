/*
 * kh_ceremony.c - share files, the ceremony record, commitments and the
 * record's signatures (kh_ceremony.h).
 */
#include "kh_ceremony.h"

#include <string.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kh_json.h"

static const char kh_share_aad_prefix[] = "keyholder-share-v1";
static const char kh_commit_prefix[] = "keyholder-share-commit-v1";
static const char kh_sign_prefix[] = "keyholder-ceremony-v1";

/* Role names in bit order (enum kh_role). */
static const char *const kh_role_names[] = {
    "admin", "approver", "custodian", "auditor",
};
#define KH_N_ROLES (sizeof(kh_role_names) / sizeof(kh_role_names[0]))

static const char *const kh_kind_names[] = {
    NULL, "init", "rekey", "rotate-master",
};

/* ---- bindings: AAD, commitment, fingerprint ---- */

int kh_share_aad(const uint8_t id[KH_CEREMONY_ID_LEN], uint8_t index,
                 const char *custodian, struct kh_buf *out)
{
    size_t start = kh_buf_size(out);
    int r;

    if (!kh_name_valid(custodian) || index == 0) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_bytes(out, kh_share_aad_prefix,
                              sizeof(kh_share_aad_prefix))) != KH_OK ||
        (r = kh_buf_put_bytes(out, id, KH_CEREMONY_ID_LEN)) != KH_OK ||
        (r = kh_buf_put_u8(out, index)) != KH_OK ||
        (r = kh_buf_put_bytes(out, custodian, strlen(custodian))) != KH_OK) {
        kh_buf_truncate(out, start);
    }
    return r;
}

int kh_share_commitment(const uint8_t id[KH_CEREMONY_ID_LEN], uint8_t x,
                        const uint8_t fpr[KH_FPR_LEN], const uint8_t *y,
                        size_t ylen, uint8_t out[KH_COMMITMENT_LEN])
{
    EVP_MD_CTX *md;
    unsigned int n = 0;
    int r = KH_ERR_CRYPTO;

    if (x == 0 || y == NULL || ylen == 0 || ylen > KH_SHAMIR_MAX_SECRET) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((md = EVP_MD_CTX_new()) != NULL &&
        EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(md, kh_commit_prefix, sizeof(kh_commit_prefix)) ==
            1 &&
        EVP_DigestUpdate(md, id, KH_CEREMONY_ID_LEN) == 1 &&
        EVP_DigestUpdate(md, &x, 1) == 1 &&
        EVP_DigestUpdate(md, fpr, KH_FPR_LEN) == 1 &&
        EVP_DigestUpdate(md, y, ylen) == 1 &&
        EVP_DigestFinal_ex(md, out, &n) == 1 && n == KH_COMMITMENT_LEN) {
        r = KH_OK;
    }
    EVP_MD_CTX_free(md); /* cleanses the state that saw y */
    return r;
}

int kh_spki_fingerprint(const uint8_t *spki, size_t len,
                        uint8_t out[KH_FPR_LEN])
{
    unsigned int n = 0;

    if (spki == NULL || len == 0) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if (EVP_Digest(spki, len, out, &n, EVP_sha256(), NULL) != 1 ||
        n != KH_FPR_LEN) {
        return KH_ERR_CRYPTO;
    }
    return KH_OK;
}

/* ---- share files ---- */

static int kh_share_check(const struct kh_share_file *s)
{
    if (s->threshold < 1 || s->threshold > s->count ||
        s->count > KH_SHAMIR_MAX_SHARES || s->index < 1 ||
        s->index > s->count || !kh_name_valid(s->custodian) ||
        s->box_len < 1 || s->box_len > KH_SHARE_BOX_MAX) {
        return KH_ERR_INVALID_FORMAT;
    }
    return KH_OK;
}

int kh_share_file_encode(const struct kh_share_file *s, struct kh_buf *out)
{
    struct kh_json_writer w;
    size_t start = kh_buf_size(out);
    int r;

    if (kh_share_check(s) != KH_OK) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    kh_json_writer_init(&w, out);
    kh_json_obj_begin(&w);
    kh_json_key(&w, "type");
    kh_json_str(&w, "keyholder-share");
    kh_json_key(&w, "version");
    kh_json_uint(&w, KH_SHARE_VERSION);
    kh_json_key(&w, "ceremony_id");
    kh_json_hex(&w, s->ceremony_id, KH_CEREMONY_ID_LEN);
    kh_json_key(&w, "index");
    kh_json_uint(&w, s->index);
    kh_json_key(&w, "threshold");
    kh_json_uint(&w, s->threshold);
    kh_json_key(&w, "shares");
    kh_json_uint(&w, s->count);
    kh_json_key(&w, "custodian");
    kh_json_str(&w, s->custodian);
    kh_json_key(&w, "custodian_spki_sha256");
    kh_json_hex(&w, s->custodian_fpr, KH_FPR_LEN);
    kh_json_key(&w, "commitment");
    kh_json_hex(&w, s->commitment, KH_COMMITMENT_LEN);
    kh_json_key(&w, "box");
    kh_json_b64(&w, s->box, s->box_len);
    kh_json_obj_end(&w);
    if ((r = kh_json_finish(&w)) != KH_OK) {
        kh_buf_truncate(out, start);
    }
    return r;
}

/* A string member whose value must be exactly |want|. */
static int kh_read_const(struct kh_json_reader *jr, const char *key,
                         const char *want)
{
    char got[64];
    int r;

    if ((r = kh_json_read_key(jr, key)) != KH_OK ||
        (r = kh_json_read_str(jr, got, sizeof(got))) != KH_OK) {
        return r == KH_ERR_TOO_LARGE ? KH_ERR_INVALID_FORMAT : r;
    }
    return strcmp(got, want) == 0 ? KH_OK : KH_ERR_INVALID_FORMAT;
}

static int kh_read_version(struct kh_json_reader *jr, uint64_t want)
{
    uint64_t v;
    int r;

    if ((r = kh_json_read_key(jr, "version")) != KH_OK ||
        (r = kh_json_read_uint(jr, &v, UINT32_MAX)) != KH_OK) {
        return r;
    }
    return v == want ? KH_OK : KH_ERR_BAD_VERSION;
}

static int kh_read_uint_member(struct kh_json_reader *jr, const char *key,
                               uint64_t max, unsigned *out)
{
    uint64_t v = 0;
    int r;

    if ((r = kh_json_read_key(jr, key)) != KH_OK ||
        (r = kh_json_read_uint(jr, &v, max)) != KH_OK) {
        return r;
    }
    *out = (unsigned)v;
    return KH_OK;
}

static int kh_read_str_member(struct kh_json_reader *jr, const char *key,
                              char *out, size_t outsz)
{
    int r;

    if ((r = kh_json_read_key(jr, key)) != KH_OK) {
        return r;
    }
    return kh_json_read_str(jr, out, outsz);
}

static int kh_read_hex_member(struct kh_json_reader *jr, const char *key,
                              uint8_t *out, size_t len)
{
    int r;

    if ((r = kh_json_read_key(jr, key)) != KH_OK) {
        return r;
    }
    return kh_json_read_hex(jr, out, len);
}

static int kh_read_b64_member(struct kh_json_reader *jr, const char *key,
                              uint8_t *out, size_t max, size_t *len)
{
    int r;

    if ((r = kh_json_read_key(jr, key)) != KH_OK) {
        return r;
    }
    return kh_json_read_b64(jr, out, max, len);
}

/* Requires |d| to be exactly |canon|'s content. */
static int kh_same_bytes(const uint8_t *d, size_t len,
                         const struct kh_buf *canon)
{
    if (kh_buf_size(canon) != len ||
        memcmp(kh_buf_data(canon), d, len) != 0) {
        return KH_ERR_INVALID_FORMAT; /* not the canonical encoding */
    }
    return KH_OK;
}

static int kh_share_parse(struct kh_json_reader *jr, struct kh_share_file *s)
{
    unsigned index = 0;
    int r;

    if ((r = kh_json_read_obj_begin(jr)) != KH_OK ||
        (r = kh_read_const(jr, "type", "keyholder-share")) != KH_OK ||
        (r = kh_read_version(jr, KH_SHARE_VERSION)) != KH_OK ||
        (r = kh_read_hex_member(jr, "ceremony_id", s->ceremony_id,
                                KH_CEREMONY_ID_LEN)) != KH_OK ||
        (r = kh_read_uint_member(jr, "index", 255, &index)) != KH_OK ||
        (r = kh_read_uint_member(jr, "threshold", 255, &s->threshold)) !=
            KH_OK ||
        (r = kh_read_uint_member(jr, "shares", 255, &s->count)) != KH_OK ||
        (r = kh_read_str_member(jr, "custodian", s->custodian,
                                sizeof(s->custodian))) != KH_OK ||
        (r = kh_read_hex_member(jr, "custodian_spki_sha256",
                                s->custodian_fpr, KH_FPR_LEN)) != KH_OK ||
        (r = kh_read_hex_member(jr, "commitment", s->commitment,
                                KH_COMMITMENT_LEN)) != KH_OK ||
        (r = kh_read_b64_member(jr, "box", s->box, sizeof(s->box),
                                &s->box_len)) != KH_OK ||
        (r = kh_json_read_obj_end(jr)) != KH_OK ||
        (r = kh_json_read_end(jr)) != KH_OK) {
        return r;
    }
    s->index = (uint8_t)index;
    return kh_share_check(s);
}

int kh_share_file_decode(const uint8_t *d, size_t len,
                         struct kh_share_file *s)
{
    struct kh_json_reader jr;
    struct kh_buf canon;
    int r;

    memset(s, 0, sizeof(*s));
    if (len > KH_SHARE_FILE_MAX) {
        return KH_ERR_TOO_LARGE;
    }
    kh_json_reader_init(&jr, d, len);
    if ((r = kh_share_parse(&jr, s)) != KH_OK) {
        return r;
    }
    kh_buf_init_writer(&canon, KH_SHARE_FILE_MAX);
    if ((r = kh_share_file_encode(s, &canon)) == KH_OK) {
        r = kh_same_bytes(d, len, &canon);
    }
    kh_buf_free(&canon);
    return r;
}

/* ---- ceremony record: rules ---- */

struct kh_ceremony_record *kh_ceremony_record_new(void)
{
    return OPENSSL_zalloc(sizeof(struct kh_ceremony_record));
}

void kh_ceremony_record_free(struct kh_ceremony_record *rec)
{
    OPENSSL_free(rec); /* public data only */
}

const char *kh_ceremony_kind_name(int kind)
{
    if (kind < KH_CEREMONY_INIT || kind > KH_CEREMONY_ROTATE_MASTER) {
        return NULL;
    }
    return kh_kind_names[kind];
}

void kh_ceremony_format_time(uint64_t t, char out[KH_CEREMONY_TIME_LEN + 1])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(out, KH_CEREMONY_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) !=
            KH_CEREMONY_TIME_LEN) {
        memcpy(out, "1970-01-01T00:00:00Z", KH_CEREMONY_TIME_LEN + 1);
    }
}

/* Digits at s[0..n-1] as a number, or -1. */
static int kh_digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DDTHH:MM:SSZ" with a real calendar date. */
static int kh_time_valid(const char *t)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31 };
    int y, mo, d, h, mi, s;

    if (strlen(t) != KH_CEREMONY_TIME_LEN || t[4] != '-' || t[7] != '-' ||
        t[10] != 'T' || t[13] != ':' || t[16] != ':' || t[19] != 'Z') {
        return 0;
    }
    y = kh_digits(t, 4), mo = kh_digits(t + 5, 2), d = kh_digits(t + 8, 2);
    h = kh_digits(t + 11, 2), mi = kh_digits(t + 14, 2);
    s = kh_digits(t + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) {
        return 0;
    }
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 ||
                                                y % 400 == 0))) {
        return 0;
    }
    return 1;
}

int kh_ceremony_find(const struct kh_ceremony_record *rec, const char *name)
{
    for (unsigned i = 0; i < rec->n_participants; i++) {
        if (strcmp(rec->participants[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int kh_participants_check(const struct kh_ceremony_record *rec)
{
    uint8_t seen[256] = { 0 };
    unsigned custodians = 0;

    if (rec->n_participants < 1 ||
        rec->n_participants > KH_CEREMONY_MAX_PARTICIPANTS) {
        return KH_ERR_INVALID_FORMAT;
    }
    for (unsigned i = 0; i < rec->n_participants; i++) {
        const struct kh_ceremony_participant *p = &rec->participants[i];

        if (!kh_name_valid(p->name) || kh_ceremony_find(rec, p->name) !=
                                           (int)i ||
            p->roles == 0 || (p->roles & ~(unsigned)KH_ROLE_ALL) != 0 ||
            p->spki_len < 1 || p->spki_len > KH_MAX_SPKI_LEN) {
            return KH_ERR_INVALID_FORMAT;
        }
        if ((p->roles & KH_ROLE_CUSTODIAN) == 0) {
            if (p->share_index != 0) {
                return KH_ERR_INVALID_FORMAT;
            }
            continue;
        }
        if (p->share_index < 1 || p->share_index > rec->count ||
            seen[p->share_index]) {
            return KH_ERR_INVALID_FORMAT;
        }
        seen[p->share_index] = 1;
        custodians++;
    }
    return custodians == rec->count ? KH_OK : KH_ERR_INVALID_FORMAT;
}

static int kh_sig_alg_valid(const char *alg)
{
    return strcmp(alg, "ecdsa-sha256") == 0 ||
           strcmp(alg, "ecdsa-sha384") == 0;
}

/* Signatures: by participants, in participant order, one each at most. */
static int kh_sigs_check(const struct kh_ceremony_record *rec)
{
    int last = -1;

    if (rec->n_sigs > rec->n_participants) {
        return KH_ERR_INVALID_FORMAT;
    }
    for (unsigned i = 0; i < rec->n_sigs; i++) {
        const struct kh_ceremony_signature *s = &rec->sigs[i];
        int p = kh_ceremony_find(rec, s->name);

        if (p <= last || !kh_sig_alg_valid(s->algorithm) ||
            s->sig_len < 1 || s->sig_len > KH_CEREMONY_MAX_SIG) {
            return KH_ERR_INVALID_FORMAT;
        }
        last = p;
    }
    return KH_OK;
}

static int kh_ceremony_check(const struct kh_ceremony_record *rec)
{
    if (kh_ceremony_kind_name(rec->kind) == NULL ||
        !kh_time_valid(rec->time) ||
        rec->n_witnesses > KH_CEREMONY_MAX_WITNESSES ||
        rec->threshold < 1 || rec->threshold > rec->count ||
        rec->count > KH_SHAMIR_MAX_SHARES ||
        rec->audit_spki_len > KH_MAX_SPKI_LEN) {
        return KH_ERR_INVALID_FORMAT;
    }
    if (kh_participants_check(rec) != KH_OK) {
        return KH_ERR_INVALID_FORMAT;
    }
    return kh_sigs_check(rec);
}

/* ---- ceremony record: encoding ---- */

static void kh_write_participant(struct kh_json_writer *w,
                                 const struct kh_ceremony_participant *p)
{
    kh_json_obj_begin(w);
    kh_json_key(w, "name");
    kh_json_str(w, p->name);
    kh_json_key(w, "roles");
    kh_json_arr_begin(w);
    for (unsigned b = 0; b < KH_N_ROLES; b++) {
        if (p->roles & (1u << b)) {
            kh_json_str(w, kh_role_names[b]);
        }
    }
    kh_json_arr_end(w);
    kh_json_key(w, "spki");
    kh_json_b64(w, p->spki, p->spki_len);
    if (p->roles & KH_ROLE_CUSTODIAN) {
        kh_json_key(w, "share_index");
        kh_json_uint(w, p->share_index);
        kh_json_key(w, "commitment");
        kh_json_hex(w, p->commitment, KH_COMMITMENT_LEN);
    }
    kh_json_obj_end(w);
}

static void kh_write_signatures(struct kh_json_writer *w,
                                const struct kh_ceremony_record *rec)
{
    kh_json_key(w, "signatures");
    kh_json_arr_begin(w);
    for (unsigned i = 0; i < rec->n_sigs; i++) {
        kh_json_obj_begin(w);
        kh_json_key(w, "name");
        kh_json_str(w, rec->sigs[i].name);
        kh_json_key(w, "algorithm");
        kh_json_str(w, rec->sigs[i].algorithm);
        kh_json_key(w, "signature");
        kh_json_b64(w, rec->sigs[i].sig, rec->sigs[i].sig_len);
        kh_json_obj_end(w);
    }
    kh_json_arr_end(w);
}

static void kh_write_header(struct kh_json_writer *w,
                            const struct kh_ceremony_record *rec)
{
    kh_json_key(w, "type");
    kh_json_str(w, "keyholder-ceremony");
    kh_json_key(w, "version");
    kh_json_uint(w, KH_CEREMONY_VERSION);
    kh_json_key(w, "ceremony_id");
    kh_json_hex(w, rec->ceremony_id, KH_CEREMONY_ID_LEN);
    kh_json_key(w, "kind");
    kh_json_str(w, kh_ceremony_kind_name(rec->kind));
    kh_json_key(w, "time");
    kh_json_str(w, rec->time);
    kh_json_key(w, "location");
    kh_json_str(w, rec->location);
    kh_json_key(w, "note");
    kh_json_str(w, rec->note);
    kh_json_key(w, "deviations");
    kh_json_str(w, rec->deviations);
    kh_json_key(w, "witnesses");
    kh_json_arr_begin(w);
    for (unsigned i = 0; i < rec->n_witnesses; i++) {
        kh_json_str(w, rec->witnesses[i]);
    }
    kh_json_arr_end(w);
    kh_json_key(w, "keyholderd");
    kh_json_obj_begin(w);
    kh_json_key(w, "version");
    kh_json_str(w, rec->khd_version);
    kh_json_key(w, "sha256");
    kh_json_hex(w, rec->khd_sha256, sizeof(rec->khd_sha256));
    kh_json_obj_end(w);
    kh_json_key(w, "algorithms");
    kh_json_obj_begin(w);
    kh_json_key(w, "secret_sharing");
    kh_json_str(w, KH_CEREMONY_ALG_SHARING);
    kh_json_key(w, "share_encryption");
    kh_json_str(w, KH_CEREMONY_ALG_SHARE_ENC);
    kh_json_key(w, "key_wrapping");
    kh_json_str(w, KH_CEREMONY_ALG_WRAP);
    kh_json_obj_end(w);
}

static int kh_ceremony_write(const struct kh_ceremony_record *rec,
                             int with_sigs, struct kh_buf *out)
{
    struct kh_json_writer w;
    size_t start = kh_buf_size(out);
    int r;

    if (kh_ceremony_check(rec) != KH_OK) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    kh_json_writer_init(&w, out);
    kh_json_obj_begin(&w);
    kh_write_header(&w, rec);
    kh_json_key(&w, "threshold");
    kh_json_uint(&w, rec->threshold);
    kh_json_key(&w, "shares");
    kh_json_uint(&w, rec->count);
    kh_json_key(&w, "participants");
    kh_json_arr_begin(&w);
    for (unsigned i = 0; i < rec->n_participants; i++) {
        kh_write_participant(&w, &rec->participants[i]);
    }
    kh_json_arr_end(&w);
    kh_json_key(&w, "audit_public_key");
    kh_json_b64(&w, rec->audit_spki, rec->audit_spki_len);
    if (with_sigs) {
        kh_write_signatures(&w, rec);
    }
    kh_json_obj_end(&w);
    if ((r = kh_json_finish(&w)) != KH_OK) {
        kh_buf_truncate(out, start);
    }
    return r;
}

int kh_ceremony_encode(const struct kh_ceremony_record *rec,
                       struct kh_buf *out)
{
    return kh_ceremony_write(rec, 1, out);
}

int kh_ceremony_signed_bytes(const struct kh_ceremony_record *rec,
                             struct kh_buf *out)
{
    size_t start = kh_buf_size(out);
    int r;

    if ((r = kh_buf_put_bytes(out, kh_sign_prefix,
                              sizeof(kh_sign_prefix))) != KH_OK) {
        return r;
    }
    if ((r = kh_ceremony_write(rec, 0, out)) != KH_OK) {
        kh_buf_truncate(out, start);
    }
    return r;
}

/* ---- ceremony record: decoding ---- */

static int kh_read_kind(struct kh_json_reader *jr, int *kind)
{
    char name[16];
    int r;

    if ((r = kh_read_str_member(jr, "kind", name, sizeof(name))) != KH_OK) {
        return r == KH_ERR_TOO_LARGE ? KH_ERR_INVALID_FORMAT : r;
    }
    for (int k = KH_CEREMONY_INIT; k <= KH_CEREMONY_ROTATE_MASTER; k++) {
        if (strcmp(name, kh_kind_names[k]) == 0) {
            *kind = k;
            return KH_OK;
        }
    }
    return KH_ERR_INVALID_FORMAT;
}

static int kh_read_witnesses(struct kh_json_reader *jr,
                             struct kh_ceremony_record *rec)
{
    int r, more;

    if ((r = kh_json_read_key(jr, "witnesses")) != KH_OK ||
        (r = kh_json_read_arr_begin(jr)) != KH_OK) {
        return r;
    }
    while ((more = kh_json_read_arr_next(jr)) == 1) {
        if (rec->n_witnesses == KH_CEREMONY_MAX_WITNESSES) {
            return KH_ERR_TOO_LARGE;
        }
        if ((r = kh_json_read_str(jr, rec->witnesses[rec->n_witnesses],
                                  KH_CEREMONY_MAX_WITNESS + 1)) != KH_OK) {
            return r;
        }
        rec->n_witnesses++;
    }
    return more;
}

static int kh_read_header(struct kh_json_reader *jr,
                          struct kh_ceremony_record *rec)
{
    int r;

    if ((r = kh_read_const(jr, "type", "keyholder-ceremony")) != KH_OK ||
        (r = kh_read_version(jr, KH_CEREMONY_VERSION)) != KH_OK ||
        (r = kh_read_hex_member(jr, "ceremony_id", rec->ceremony_id,
                                KH_CEREMONY_ID_LEN)) != KH_OK ||
        (r = kh_read_kind(jr, &rec->kind)) != KH_OK ||
        (r = kh_read_str_member(jr, "time", rec->time,
                                sizeof(rec->time))) != KH_OK ||
        (r = kh_read_str_member(jr, "location", rec->location,
                                sizeof(rec->location))) != KH_OK ||
        (r = kh_read_str_member(jr, "note", rec->note,
                                sizeof(rec->note))) != KH_OK ||
        (r = kh_read_str_member(jr, "deviations", rec->deviations,
                                sizeof(rec->deviations))) != KH_OK ||
        (r = kh_read_witnesses(jr, rec)) != KH_OK) {
        return r;
    }
    if ((r = kh_json_read_key(jr, "keyholderd")) != KH_OK ||
        (r = kh_json_read_obj_begin(jr)) != KH_OK ||
        (r = kh_read_str_member(jr, "version", rec->khd_version,
                                sizeof(rec->khd_version))) != KH_OK ||
        (r = kh_read_hex_member(jr, "sha256", rec->khd_sha256,
                                sizeof(rec->khd_sha256))) != KH_OK ||
        (r = kh_json_read_obj_end(jr)) != KH_OK ||
        (r = kh_json_read_key(jr, "algorithms")) != KH_OK ||
        (r = kh_json_read_obj_begin(jr)) != KH_OK ||
        (r = kh_read_const(jr, "secret_sharing", KH_CEREMONY_ALG_SHARING)) !=
            KH_OK ||
        (r = kh_read_const(jr, "share_encryption",
                           KH_CEREMONY_ALG_SHARE_ENC)) != KH_OK ||
        (r = kh_read_const(jr, "key_wrapping", KH_CEREMONY_ALG_WRAP)) !=
            KH_OK) {
        return r;
    }
    return kh_json_read_obj_end(jr);
}

static int kh_read_roles(struct kh_json_reader *jr, unsigned *roles)
{
    char name[16];
    int r, more;

    *roles = 0;
    if ((r = kh_json_read_key(jr, "roles")) != KH_OK ||
        (r = kh_json_read_arr_begin(jr)) != KH_OK) {
        return r;
    }
    while ((more = kh_json_read_arr_next(jr)) == 1) {
        unsigned bit = 0;

        if ((r = kh_json_read_str(jr, name, sizeof(name))) != KH_OK) {
            return r == KH_ERR_TOO_LARGE ? KH_ERR_INVALID_FORMAT : r;
        }
        for (unsigned b = 0; b < KH_N_ROLES; b++) {
            if (strcmp(name, kh_role_names[b]) == 0) {
                bit = 1u << b;
            }
        }
        /* Known, and in bit order without repeats. */
        if (bit == 0 || bit <= *roles) {
            return KH_ERR_INVALID_FORMAT;
        }
        *roles |= bit;
    }
    return more;
}

static int kh_read_participant(struct kh_json_reader *jr,
                               struct kh_ceremony_participant *p)
{
    unsigned x = 0;
    int r;

    if ((r = kh_json_read_obj_begin(jr)) != KH_OK ||
        (r = kh_read_str_member(jr, "name", p->name, sizeof(p->name))) !=
            KH_OK ||
        (r = kh_read_roles(jr, &p->roles)) != KH_OK ||
        (r = kh_read_b64_member(jr, "spki", p->spki, sizeof(p->spki),
                                &p->spki_len)) != KH_OK) {
        return r;
    }
    if (p->roles & KH_ROLE_CUSTODIAN) {
        if ((r = kh_read_uint_member(jr, "share_index", 255, &x)) != KH_OK ||
            (r = kh_read_hex_member(jr, "commitment", p->commitment,
                                    KH_COMMITMENT_LEN)) != KH_OK) {
            return r;
        }
        p->share_index = (uint8_t)x;
    }
    return kh_json_read_obj_end(jr);
}

static int kh_read_participants(struct kh_json_reader *jr,
                                struct kh_ceremony_record *rec)
{
    int r, more;

    if ((r = kh_json_read_key(jr, "participants")) != KH_OK ||
        (r = kh_json_read_arr_begin(jr)) != KH_OK) {
        return r;
    }
    while ((more = kh_json_read_arr_next(jr)) == 1) {
        if (rec->n_participants == KH_CEREMONY_MAX_PARTICIPANTS) {
            return KH_ERR_TOO_LARGE;
        }
        if ((r = kh_read_participant(
                 jr, &rec->participants[rec->n_participants])) != KH_OK) {
            return r;
        }
        rec->n_participants++;
    }
    return more;
}

static int kh_read_signatures(struct kh_json_reader *jr,
                              struct kh_ceremony_record *rec)
{
    int r, more;

    if ((r = kh_json_read_key(jr, "signatures")) != KH_OK ||
        (r = kh_json_read_arr_begin(jr)) != KH_OK) {
        return r;
    }
    while ((more = kh_json_read_arr_next(jr)) == 1) {
        struct kh_ceremony_signature *s;

        if (rec->n_sigs == KH_CEREMONY_MAX_PARTICIPANTS) {
            return KH_ERR_TOO_LARGE;
        }
        s = &rec->sigs[rec->n_sigs];
        if ((r = kh_json_read_obj_begin(jr)) != KH_OK ||
            (r = kh_read_str_member(jr, "name", s->name,
                                    sizeof(s->name))) != KH_OK ||
            (r = kh_read_str_member(jr, "algorithm", s->algorithm,
                                    sizeof(s->algorithm))) != KH_OK ||
            (r = kh_read_b64_member(jr, "signature", s->sig, sizeof(s->sig),
                                    &s->sig_len)) != KH_OK ||
            (r = kh_json_read_obj_end(jr)) != KH_OK) {
            return r;
        }
        rec->n_sigs++;
    }
    return more;
}

static int kh_ceremony_parse(struct kh_json_reader *jr,
                             struct kh_ceremony_record *rec)
{
    int r;

    if ((r = kh_json_read_obj_begin(jr)) != KH_OK ||
        (r = kh_read_header(jr, rec)) != KH_OK ||
        (r = kh_read_uint_member(jr, "threshold", 255, &rec->threshold)) !=
            KH_OK ||
        (r = kh_read_uint_member(jr, "shares", 255, &rec->count)) != KH_OK ||
        (r = kh_read_participants(jr, rec)) != KH_OK ||
        (r = kh_read_b64_member(jr, "audit_public_key", rec->audit_spki,
                                sizeof(rec->audit_spki),
                                &rec->audit_spki_len)) != KH_OK ||
        (r = kh_read_signatures(jr, rec)) != KH_OK ||
        (r = kh_json_read_obj_end(jr)) != KH_OK ||
        (r = kh_json_read_end(jr)) != KH_OK) {
        return r;
    }
    return kh_ceremony_check(rec);
}

int kh_ceremony_decode(const uint8_t *d, size_t len,
                       struct kh_ceremony_record *rec)
{
    struct kh_json_reader jr;
    struct kh_buf canon;
    int r;

    memset(rec, 0, sizeof(*rec));
    if (len > KH_CEREMONY_FILE_MAX) {
        return KH_ERR_TOO_LARGE;
    }
    kh_json_reader_init(&jr, d, len);
    if ((r = kh_ceremony_parse(&jr, rec)) != KH_OK) {
        return r;
    }
    kh_buf_init_writer(&canon, KH_CEREMONY_FILE_MAX);
    if ((r = kh_ceremony_encode(rec, &canon)) == KH_OK) {
        r = kh_same_bytes(d, len, &canon);
    }
    kh_buf_free(&canon);
    return r;
}

/* ---- signatures ---- */

/* The digest for an EC P-256 / P-384 key and its algorithm name. */
static int kh_sig_params(EVP_PKEY *key, const char **md, const char **alg)
{
    char group[64];
    size_t glen = 0;

    if (key == NULL || !EVP_PKEY_is_a(key, "EC") ||
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen) != 1) {
        return KH_ERR_UNSUPPORTED;
    }
    if (strcmp(group, "prime256v1") == 0) {
        *md = "SHA256", *alg = "ecdsa-sha256";
    } else if (strcmp(group, "secp384r1") == 0) {
        *md = "SHA384", *alg = "ecdsa-sha384";
    } else {
        return KH_ERR_UNSUPPORTED;
    }
    return KH_OK;
}

static EVP_PKEY *kh_spki_key(const uint8_t *spki, size_t len)
{
    const unsigned char *p = spki;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);

    if (k != NULL && p != spki + len) {
        EVP_PKEY_free(k); /* trailing bytes after the SPKI */
        k = NULL;
    }
    return k;
}

/* Inserts or replaces |s| (its name is participant |p|) in order. */
static void kh_sig_insert(struct kh_ceremony_record *rec, int p,
                          const struct kh_ceremony_signature *s)
{
    unsigned i = 0;

    while (i < rec->n_sigs && kh_ceremony_find(rec, rec->sigs[i].name) < p) {
        i++;
    }
    if (i < rec->n_sigs && strcmp(rec->sigs[i].name, s->name) == 0) {
        rec->sigs[i] = *s;
        return;
    }
    memmove(&rec->sigs[i + 1], &rec->sigs[i],
            (rec->n_sigs - i) * sizeof(rec->sigs[0]));
    rec->sigs[i] = *s;
    rec->n_sigs++;
}

int kh_ceremony_sign(struct kh_ceremony_record *rec, const char *name,
                     EVP_PKEY *key)
{
    struct kh_ceremony_signature s;
    struct kh_buf tbs;
    EVP_PKEY *pub = NULL;
    EVP_MD_CTX *md = NULL;
    const char *mdname, *alg;
    int p, r;

    if ((p = kh_ceremony_find(rec, name)) < 0) {
        return KH_ERR_NOT_FOUND;
    }
    if ((r = kh_sig_params(key, &mdname, &alg)) != KH_OK) {
        return r;
    }
    pub = kh_spki_key(rec->participants[p].spki,
                      rec->participants[p].spki_len);
    if (pub == NULL || EVP_PKEY_eq(pub, key) != 1) {
        EVP_PKEY_free(pub);
        return KH_ERR_AUTH_FAILED;
    }
    EVP_PKEY_free(pub);
    memset(&s, 0, sizeof(s));
    memcpy(s.name, name, strlen(name) + 1);
    memcpy(s.algorithm, alg, strlen(alg) + 1);
    s.sig_len = sizeof(s.sig);
    kh_buf_init_writer(&tbs, KH_CEREMONY_FILE_MAX);
    if ((r = kh_ceremony_signed_bytes(rec, &tbs)) != KH_OK) {
        goto out;
    }
    r = KH_ERR_CRYPTO;
    if ((md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestSignInit_ex(md, NULL, mdname, NULL, NULL, key, NULL) !=
            1 ||
        EVP_DigestSign(md, s.sig, &s.sig_len, kh_buf_data(&tbs),
                       kh_buf_size(&tbs)) != 1) {
        goto out;
    }
    kh_sig_insert(rec, p, &s);
    r = KH_OK;
out:
    EVP_MD_CTX_free(md);
    kh_buf_free(&tbs);
    return r;
}

int kh_ceremony_check_signature(const struct kh_ceremony_record *rec,
                                unsigned i)
{
    const struct kh_ceremony_signature *s = NULL;
    struct kh_buf tbs;
    EVP_PKEY *pub;
    EVP_MD_CTX *md = NULL;
    const char *mdname, *alg;
    int r;

    if (i >= rec->n_participants) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    for (unsigned k = 0; k < rec->n_sigs; k++) {
        if (strcmp(rec->sigs[k].name, rec->participants[i].name) == 0) {
            s = &rec->sigs[k];
        }
    }
    if (s == NULL) {
        return KH_ERR_NOT_FOUND;
    }
    if ((pub = kh_spki_key(rec->participants[i].spki,
                           rec->participants[i].spki_len)) == NULL) {
        return KH_ERR_UNSUPPORTED;
    }
    kh_buf_init_writer(&tbs, KH_CEREMONY_FILE_MAX);
    if ((r = kh_sig_params(pub, &mdname, &alg)) != KH_OK ||
        (r = kh_ceremony_signed_bytes(rec, &tbs)) != KH_OK) {
        goto out;
    }
    r = KH_ERR_AUTH_FAILED;
    if (strcmp(s->algorithm, alg) != 0 || (md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestVerifyInit_ex(md, NULL, mdname, NULL, NULL, pub, NULL) !=
            1 ||
        EVP_DigestVerify(md, s->sig, s->sig_len, kh_buf_data(&tbs),
                         kh_buf_size(&tbs)) != 1) {
        goto out;
    }
    r = KH_OK;
out:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    kh_buf_free(&tbs);
    return r;
}
