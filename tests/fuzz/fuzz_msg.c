/*
 * fuzz_msg.c - see fuzz_msg.h. One codec function per message body:
 * decode into a struct, encode the struct into |w|, decode |w| again and
 * compare the two structs field by field.
 */
#include "fuzz_msg.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kh_audit.h"
#include "kh_auth.h"
#include "kh_proto.h"
#include "kh_seal.h"

/* Returns the decoder's result; on success |w| holds the re-encoding. */
typedef int (*fuzz_codec_fn)(struct kh_buf *b, struct kh_buf *w);

/* A reader over everything written to |w|. */
static void fuzz_reread(struct kh_buf *r, const struct kh_buf *w)
{
    kh_buf_init_reader(r, kh_buf_data(w), kh_buf_size(w));
}

/*- Field comparisons ------------------------------------------------ */

static int fuzz_acl_eq(const struct kh_acl *a, const struct kh_acl *b)
{
    return a->n_uids == b->n_uids && a->n_gids == b->n_gids &&
           a->n_uids <= KH_MAX_ACL && a->n_gids <= KH_MAX_ACL &&
           memcmp(a->uids, b->uids, a->n_uids * sizeof(a->uids[0])) == 0 &&
           memcmp(a->gids, b->gids, a->n_gids * sizeof(a->gids[0])) == 0;
}

static int fuzz_key_info_eq(const struct kh_key_info *a,
                            const struct kh_key_info *b)
{
    return strcmp(a->name, b->name) == 0 && a->version == b->version &&
           a->type == b->type && a->state == b->state &&
           a->created == b->created && a->owner_uid == b->owner_uid &&
           fuzz_acl_eq(&a->acl, &b->acl) && a->spki_len == b->spki_len &&
           a->spki_len <= KH_MAX_SPKI_LEN &&
           memcmp(a->spki, b->spki, a->spki_len) == 0;
}

static int fuzz_bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b,
                         size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/*- Codecs ------------------------------------------------------------- */

static int fuzz_codec_empty(struct kh_buf *b, struct kh_buf *w)
{
    (void)w;
    return kh_buf_expect_end(b);
}

static int fuzz_codec_error(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_error_reply m, m2;
    struct kh_buf r;
    int rc;

    if ((rc = kh_error_decode(b, &m)) != 0) {
        return rc;
    }
    FUZZ_CHECK(m.code < 0 && m.code >= KH_ERR_MIN);
    FUZZ_CHECK(strlen(m.reason) <= KH_MAX_REASON_LEN);
    FUZZ_CHECK(kh_error_encode(w, &m) == 0);
    fuzz_reread(&r, w);
    FUZZ_CHECK(kh_error_decode(&r, &m2) == 0);
    FUZZ_CHECK(m.code == m2.code && strcmp(m.reason, m2.reason) == 0);
    /* Every code the daemon may send has a name and a description. */
    FUZZ_CHECK(kh_errname(m.code) != NULL && kh_strerror(m.code) != NULL);
    return 0;
}

static int fuzz_codec_status(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_status_reply m, m2;
    struct kh_buf r;
    int rc;

    if ((rc = kh_status_decode(b, &m)) != 0) {
        return rc;
    }
    FUZZ_CHECK(kh_status_encode(w, &m) == 0);
    fuzz_reread(&r, w);
    FUZZ_CHECK(kh_status_decode(&r, &m2) == 0);
    FUZZ_CHECK(m.state == m2.state && m.insecure_dev == m2.insecure_dev &&
               m.secure_heap == m2.secure_heap &&
               m.key_count == m2.key_count &&
               strcmp(m.version, m2.version) == 0);
    FUZZ_CHECK(kh_state_name(m.state) != NULL);
    return 0;
}

static int fuzz_codec_keygen(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_keygen_request m, m2;
    struct kh_buf r;
    int rc;

    if ((rc = kh_keygen_decode(b, &m)) != 0) {
        return rc;
    }
    FUZZ_CHECK(kh_name_valid(m.name));
    FUZZ_CHECK(kh_keygen_encode(w, &m) == 0);
    fuzz_reread(&r, w);
    FUZZ_CHECK(kh_keygen_decode(&r, &m2) == 0);
    FUZZ_CHECK(strcmp(m.name, m2.name) == 0 && m.type == m2.type &&
               fuzz_acl_eq(&m.acl, &m2.acl));
    return 0;
}

/* A key_info that must be the whole body (KEY_GENERATE, KEY_INFO). */
static int fuzz_codec_key_info(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_key_info *m, *m2;
    struct kh_buf t = *b, r;
    int rc;

    m = calloc(2, sizeof(*m));
    FUZZ_CHECK(m != NULL);
    m2 = m + 1;
    if ((rc = kh_key_info_decode(&t, m)) != 0 ||
        (rc = kh_buf_expect_end(&t)) != 0) {
        goto out;
    }
    *b = t;
    FUZZ_CHECK(kh_name_valid(m->name) && m->version != 0 &&
               kh_key_type_name(m->type) != NULL && m->spki_len > 0);
    FUZZ_CHECK(kh_key_info_encode(w, m) == 0);
    fuzz_reread(&r, w);
    FUZZ_CHECK(kh_key_info_decode(&r, m2) == 0 &&
               kh_buf_expect_end(&r) == 0);
    FUZZ_CHECK(fuzz_key_info_eq(m, m2));
out:
    free(m);
    return rc;
}

static int fuzz_codec_list_request(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_list_request m, m2;
    struct kh_buf r;
    int rc;

    if ((rc = kh_list_request_decode(b, &m)) != 0) {
        return rc;
    }
    FUZZ_CHECK(kh_list_request_encode(w, &m) == 0);
    fuzz_reread(&r, w);
    FUZZ_CHECK(kh_list_request_decode(&r, &m2) == 0);
    FUZZ_CHECK(strcmp(m.after, m2.after) == 0);
    return 0;
}

/* Decodes a whole KEY_LIST reply body into |items| (KH_MAX_LIST_PAGE). */
static int fuzz_list_reply_decode(struct kh_buf *b, uint8_t *more,
                                  uint32_t *count, struct kh_key_info *items)
{
    struct kh_buf t = *b;
    int rc;

    if ((rc = kh_list_reply_decode_header(&t, more, count)) != 0) {
        return rc;
    }
    FUZZ_CHECK(*more <= 1 && *count <= KH_MAX_LIST_PAGE);
    for (uint32_t i = 0; i < *count; i++) {
        if ((rc = kh_key_info_decode(&t, &items[i])) != 0) {
            return rc;
        }
    }
    if ((rc = kh_buf_expect_end(&t)) != 0) {
        return rc;
    }
    *b = t;
    return 0;
}

static int fuzz_codec_list_reply(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_key_info *items, *items2;
    uint32_t count, count2;
    uint8_t more, more2;
    struct kh_buf r;
    int rc;

    items = calloc(2 * KH_MAX_LIST_PAGE, sizeof(*items));
    FUZZ_CHECK(items != NULL);
    items2 = items + KH_MAX_LIST_PAGE;
    if ((rc = fuzz_list_reply_decode(b, &more, &count, items)) != 0) {
        goto out;
    }
    FUZZ_CHECK(kh_list_reply_begin(w, more, count) == 0);
    for (uint32_t i = 0; i < count; i++) {
        FUZZ_CHECK(kh_key_info_encode(w, &items[i]) == 0);
    }
    fuzz_reread(&r, w);
    FUZZ_CHECK(fuzz_list_reply_decode(&r, &more2, &count2, items2) == 0);
    FUZZ_CHECK(more == more2 && count == count2);
    for (uint32_t i = 0; i < count; i++) {
        FUZZ_CHECK(fuzz_key_info_eq(&items[i], &items2[i]));
    }
out:
    free(items);
    return rc;
}

static int fuzz_codec_key_ref(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_key_ref m, m2;
    struct kh_buf r;
    int rc;

    if ((rc = kh_key_ref_decode(b, &m)) != 0) {
        return rc;
    }
    FUZZ_CHECK(kh_key_ref_encode(w, &m) == 0);
    fuzz_reread(&r, w);
    FUZZ_CHECK(kh_key_ref_decode(&r, &m2) == 0);
    FUZZ_CHECK(strcmp(m.name, m2.name) == 0 && m.version == m2.version);
    return 0;
}

static int fuzz_codec_sign_request(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_sign_request m, m2;
    struct kh_buf r;
    int rc;

    if ((rc = kh_sign_request_decode(b, &m)) != 0) {
        return rc;
    }
    FUZZ_CHECK(m.data_len <= KH_MAX_SIGN_DATA);
    FUZZ_CHECK(kh_sign_request_encode(w, &m) == 0);
    fuzz_reread(&r, w);
    FUZZ_CHECK(kh_sign_request_decode(&r, &m2) == 0);
    FUZZ_CHECK(strcmp(m.name, m2.name) == 0 && m.version == m2.version &&
               m.input == m2.input && m.digest == m2.digest &&
               m.padding == m2.padding && m.mgf1_digest == m2.mgf1_digest &&
               m.salt_len == m2.salt_len &&
               fuzz_bytes_eq(m.data, m.data_len, m2.data, m2.data_len));
    return 0;
}

static int fuzz_codec_sign_reply(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_sign_reply m, m2;
    struct kh_buf r;
    int rc;

    if ((rc = kh_sign_reply_decode(b, &m)) != 0) {
        return rc;
    }
    FUZZ_CHECK(m.sig_len > 0 && m.sig_len <= KH_MAX_SIG_LEN);
    FUZZ_CHECK(kh_sign_reply_encode(w, &m) == 0);
    fuzz_reread(&r, w);
    FUZZ_CHECK(kh_sign_reply_decode(&r, &m2) == 0);
    FUZZ_CHECK(m.version == m2.version &&
               fuzz_bytes_eq(m.sig, m.sig_len, m2.sig, m2.sig_len));
    return 0;
}

static int fuzz_codec_cert_import(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_cert_import_request m, m2;
    struct kh_buf r;
    int rc;

    if ((rc = kh_cert_import_decode(b, &m)) != 0) {
        return rc;
    }
    FUZZ_CHECK(m.der_len > 0 && m.der_len <= KH_MAX_CERT_LEN);
    FUZZ_CHECK(kh_cert_import_encode(w, &m) == 0);
    fuzz_reread(&r, w);
    FUZZ_CHECK(kh_cert_import_decode(&r, &m2) == 0);
    FUZZ_CHECK(strcmp(m.name, m2.name) == 0 &&
               fuzz_bytes_eq(m.der, m.der_len, m2.der, m2.der_len));
    return 0;
}

static int fuzz_codec_cert_get_request(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_cert_get_request m, m2;
    struct kh_buf r;
    int rc;

    if ((rc = kh_cert_get_request_decode(b, &m)) != 0) {
        return rc;
    }
    FUZZ_CHECK(kh_cert_get_request_encode(w, &m) == 0);
    fuzz_reread(&r, w);
    FUZZ_CHECK(kh_cert_get_request_decode(&r, &m2) == 0);
    FUZZ_CHECK(strcmp(m.name, m2.name) == 0);
    return 0;
}

static int fuzz_codec_cert_get_reply(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_cert_get_reply m, m2;
    struct kh_buf r;
    int rc;

    if ((rc = kh_cert_get_reply_decode(b, &m)) != 0) {
        return rc;
    }
    FUZZ_CHECK((m.present == 0 && m.der_len == 0) ||
               (m.present == 1 && m.der_len > 0 &&
                m.der_len <= KH_MAX_CERT_LEN));
    FUZZ_CHECK(kh_cert_get_reply_encode(w, &m) == 0);
    fuzz_reread(&r, w);
    FUZZ_CHECK(kh_cert_get_reply_decode(&r, &m2) == 0);
    FUZZ_CHECK(m.present == m2.present &&
               fuzz_bytes_eq(m.der, m.der_len, m2.der, m2.der_len));
    return 0;
}

static int fuzz_codec_audit_read_request(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_audit_read_request m, m2;
    struct kh_buf r;
    int rc;

    if ((rc = kh_audit_read_request_decode(b, &m)) != 0) {
        return rc;
    }
    FUZZ_CHECK(kh_audit_read_request_encode(w, &m) == 0);
    fuzz_reread(&r, w);
    FUZZ_CHECK(kh_audit_read_request_decode(&r, &m2) == 0);
    FUZZ_CHECK(m.from == m2.from && m.max == m2.max);
    return 0;
}

/* Header, then exactly |count| entries, nothing after them. */
static int fuzz_codec_audit_read_reply(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_audit_page m;
    struct kh_buf t = *b;
    int rc;

    if ((rc = kh_audit_page_decode(&t, &m)) != 0) {
        return rc;
    }
    FUZZ_CHECK(m.has_anchor <= 1 && m.more <= 1 &&
               m.spki_len <= KH_MAX_SPKI_LEN);
    FUZZ_CHECK(kh_audit_page_encode(w, &m) == 0);
    for (uint32_t i = 0; i < m.count; i++) {
        const uint8_t *val;
        uint64_t seq;
        size_t len;

        if ((rc = kh_audit_page_entry_decode(&t, &seq, &val, &len)) != 0) {
            kh_buf_reset(w);
            return rc;
        }
        FUZZ_CHECK(len <= KH_AUDIT_MAX_REC + 1);
        FUZZ_CHECK(kh_buf_put_u64(w, seq) == 0 &&
                   kh_buf_put_str(w, val, len) == 0);
    }
    if ((rc = kh_buf_expect_end(&t)) != 0) {
        kh_buf_reset(w);
        return rc;
    }
    *b = t;
    return 0;
}

static int fuzz_codec_audit_archive(struct kh_buf *b, struct kh_buf *w)
{
    uint64_t before;
    int rc;

    if ((rc = kh_audit_archive_decode(b, &before)) != 0) {
        return rc;
    }
    FUZZ_CHECK(kh_audit_archive_encode(w, before) == 0);
    return 0;
}

/*- By type ------------------------------------------------------------ */

/*- Operators, ceremony, unseal (kh_auth.h, kh_seal.h) ------------------ */
/*
 * Decode into a heap struct, encode it again; fuzz_msg_check compares the
 * re-encoding with the body byte for byte.
 */
#define FUZZ_CODEC_HEAP(fn, type, dec, enc)                                 \
    static int fn(struct kh_buf *b, struct kh_buf *w)                       \
    {                                                                       \
        type *m = calloc(1, sizeof(*m));                                    \
        int rc;                                                             \
                                                                            \
        FUZZ_CHECK(m != NULL);                                              \
        if ((rc = dec(b, m)) == 0) {                                        \
            FUZZ_CHECK(enc(w, m) == 0);                                     \
        }                                                                   \
        free(m);                                                            \
        return rc;                                                          \
    }

FUZZ_CODEC_HEAP(fuzz_codec_challenge, struct kh_challenge_reply,
                kh_challenge_decode, kh_challenge_encode)
FUZZ_CODEC_HEAP(fuzz_codec_authed, struct kh_authed, kh_authed_decode,
                kh_authed_encode)
FUZZ_CODEC_HEAP(fuzz_codec_ceremony_init, struct kh_ceremony_init_request,
                kh_ceremony_init_decode, kh_ceremony_init_encode)
FUZZ_CODEC_HEAP(fuzz_codec_ceremony_reply, struct kh_ceremony_init_reply,
                kh_ceremony_reply_decode, kh_ceremony_reply_encode)
FUZZ_CODEC_HEAP(fuzz_codec_ceremony_info, struct kh_ceremony_info,
                kh_ceremony_info_decode, kh_ceremony_info_encode)
FUZZ_CODEC_HEAP(fuzz_codec_unseal_info, struct kh_unseal_info,
                kh_unseal_info_decode, kh_unseal_info_encode)
FUZZ_CODEC_HEAP(fuzz_codec_unseal_share, struct kh_unseal_share,
                kh_unseal_share_decode, kh_unseal_share_encode)
FUZZ_CODEC_HEAP(fuzz_codec_unseal_progress, struct kh_unseal_progress,
                kh_unseal_progress_decode, kh_unseal_progress_encode)

/* The reply to an AUTHED request is the inner request's: any bytes. */
static int fuzz_codec_any(struct kh_buf *b, struct kh_buf *w)
{
    FUZZ_CHECK(kh_buf_put_bytes(w, kh_buf_ptr(b), kh_buf_len(b)) == 0);
    return kh_buf_skip(b, kh_buf_len(b));
}

/* OPERATOR_ADD: one operator, nothing after it. */
static int fuzz_codec_operator(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_operator m;
    struct kh_buf t = *b;
    int rc;

    if ((rc = kh_operator_decode(&t, &m)) != 0 ||
        (rc = kh_buf_expect_end(&t)) != 0) {
        return rc;
    }
    FUZZ_CHECK(kh_operator_encode(w, &m) == 0);
    *b = t;
    return 0;
}

static int fuzz_codec_opname(struct kh_buf *b, struct kh_buf *w)
{
    char name[KH_MAX_NAME_LEN + 1];
    int rc;

    if ((rc = kh_opname_decode(b, name)) != 0) {
        return rc;
    }
    FUZZ_CHECK(kh_opname_encode(w, name) == 0);
    return 0;
}

/* OPERATOR_LIST reply: u32 count || count x operator. */
static int fuzz_codec_operator_list(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_operator m;
    struct kh_buf t = *b;
    uint32_t n;
    int rc;

    if ((rc = kh_buf_get_u32(&t, &n)) != 0) {
        return rc;
    }
    if (n > KH_MAX_OPERATORS) {
        return KH_ERR_TOO_LARGE;
    }
    FUZZ_CHECK(kh_buf_put_u32(w, n) == 0);
    for (uint32_t i = 0; i < n; i++) {
        if ((rc = kh_operator_decode(&t, &m)) != 0) {
            return rc;
        }
        FUZZ_CHECK(kh_operator_encode(w, &m) == 0);
    }
    if ((rc = kh_buf_expect_end(&t)) != 0) {
        return rc;
    }
    *b = t;
    return 0;
}

/* REKEY_PREPARE request: u8 purpose || CEREMONY_INIT request. */
static int fuzz_codec_rekey_prepare(struct kh_buf *b, struct kh_buf *w)
{
    struct kh_buf t = *b;
    uint8_t purpose;
    int rc;

    if ((rc = kh_buf_get_u8(&t, &purpose)) != 0 ||
        (rc = fuzz_codec_ceremony_init(&t, w)) != 0) {
        return rc;
    }
    /* The re-encoding must start with the purpose byte too. */
    {
        struct kh_buf full;

        kh_buf_init_writer(&full, KH_MAX_FRAME_LEN);
        FUZZ_CHECK(kh_buf_put_u8(&full, purpose) == 0 &&
                   kh_buf_put_bytes(&full, kh_buf_data(w), kh_buf_size(w)) ==
                       0);
        kh_buf_reset(w);
        FUZZ_CHECK(kh_buf_put_bytes(w, kh_buf_data(&full),
                                    kh_buf_size(&full)) == 0);
        kh_buf_free(&full);
    }
    *b = t;
    return 0;
}

static const struct {
    uint8_t type;
    fuzz_codec_fn fn;
} fuzz_codecs[] = {
    { KH_MSG_STATUS, fuzz_codec_empty },
    { KH_MSG_STATUS | KH_MSG_REPLY, fuzz_codec_status },
    { KH_MSG_INIT_DEV, fuzz_codec_empty },
    { KH_MSG_INIT_DEV | KH_MSG_REPLY, fuzz_codec_empty },
    { KH_MSG_SEAL, fuzz_codec_empty },
    { KH_MSG_SEAL | KH_MSG_REPLY, fuzz_codec_empty },
    { KH_MSG_UNSEAL_DEV, fuzz_codec_empty },
    { KH_MSG_UNSEAL_DEV | KH_MSG_REPLY, fuzz_codec_empty },
    { KH_MSG_KEY_GENERATE, fuzz_codec_keygen },
    { KH_MSG_KEY_GENERATE | KH_MSG_REPLY, fuzz_codec_key_info },
    { KH_MSG_KEY_LIST, fuzz_codec_list_request },
    { KH_MSG_KEY_LIST | KH_MSG_REPLY, fuzz_codec_list_reply },
    { KH_MSG_KEY_INFO, fuzz_codec_key_ref },
    { KH_MSG_KEY_INFO | KH_MSG_REPLY, fuzz_codec_key_info },
    { KH_MSG_KEY_SIGN, fuzz_codec_sign_request },
    { KH_MSG_KEY_SIGN | KH_MSG_REPLY, fuzz_codec_sign_reply },
    { KH_MSG_CERT_IMPORT, fuzz_codec_cert_import },
    { KH_MSG_CERT_IMPORT | KH_MSG_REPLY, fuzz_codec_empty },
    { KH_MSG_CERT_GET, fuzz_codec_cert_get_request },
    { KH_MSG_CERT_GET | KH_MSG_REPLY, fuzz_codec_cert_get_reply },
    { KH_MSG_AUTH_CHALLENGE, fuzz_codec_empty },
    { KH_MSG_AUTH_CHALLENGE | KH_MSG_REPLY, fuzz_codec_challenge },
    { KH_MSG_AUTHED, fuzz_codec_authed },
    { KH_MSG_AUTHED | KH_MSG_REPLY, fuzz_codec_any },
    { KH_MSG_OPERATOR_ADD, fuzz_codec_operator },
    { KH_MSG_OPERATOR_ADD | KH_MSG_REPLY, fuzz_codec_empty },
    { KH_MSG_OPERATOR_LIST, fuzz_codec_empty },
    { KH_MSG_OPERATOR_LIST | KH_MSG_REPLY, fuzz_codec_operator_list },
    { KH_MSG_OPERATOR_REMOVE, fuzz_codec_opname },
    { KH_MSG_OPERATOR_REMOVE | KH_MSG_REPLY, fuzz_codec_empty },
    { KH_MSG_CEREMONY_INIT, fuzz_codec_ceremony_init },
    { KH_MSG_CEREMONY_INIT | KH_MSG_REPLY, fuzz_codec_ceremony_reply },
    { KH_MSG_CEREMONY_INFO, fuzz_codec_empty },
    { KH_MSG_CEREMONY_INFO | KH_MSG_REPLY, fuzz_codec_ceremony_info },
    { KH_MSG_UNSEAL_INFO, fuzz_codec_empty },
    { KH_MSG_UNSEAL_INFO | KH_MSG_REPLY, fuzz_codec_unseal_info },
    { KH_MSG_UNSEAL_SHARE, fuzz_codec_unseal_share },
    { KH_MSG_UNSEAL_SHARE | KH_MSG_REPLY, fuzz_codec_unseal_progress },
    { KH_MSG_UNSEAL_RESET, fuzz_codec_empty },
    { KH_MSG_UNSEAL_RESET | KH_MSG_REPLY, fuzz_codec_empty },
    { KH_MSG_REKEY_PREPARE, fuzz_codec_rekey_prepare },
    { KH_MSG_REKEY_PREPARE | KH_MSG_REPLY, fuzz_codec_ceremony_reply },
    { KH_MSG_REKEY_COMMIT, fuzz_codec_empty },
    { KH_MSG_REKEY_COMMIT | KH_MSG_REPLY, fuzz_codec_empty },
    { KH_MSG_REKEY_ABORT, fuzz_codec_empty },
    { KH_MSG_REKEY_ABORT | KH_MSG_REPLY, fuzz_codec_empty },
    { KH_MSG_AUDIT_READ, fuzz_codec_audit_read_request },
    { KH_MSG_AUDIT_READ | KH_MSG_REPLY, fuzz_codec_audit_read_reply },
    { KH_MSG_AUDIT_ARCHIVE, fuzz_codec_audit_archive },
    /* The reply is the same shape: u64 dropped. */
    { KH_MSG_AUDIT_ARCHIVE | KH_MSG_REPLY, fuzz_codec_audit_archive },
    { KH_MSG_ERROR, fuzz_codec_error },
};

int fuzz_msg_check(uint8_t type, const uint8_t *body, size_t len)
{
    struct kh_buf b, w;
    size_t before;
    int rc = KH_ERR_UNKNOWN_TYPE;

    kh_buf_init_reader(&b, body, len);
    kh_buf_init_writer(&w, KH_MAX_FRAME_LEN);
    for (size_t i = 0; i < sizeof(fuzz_codecs) / sizeof(fuzz_codecs[0]);
         i++) {
        if (fuzz_codecs[i].type != type) {
            continue;
        }
        before = kh_buf_len(&b);
        rc = fuzz_codecs[i].fn(&b, &w);
        if (rc != 0) {
            FUZZ_CHECK(rc < 0 && rc >= KH_ERR_MIN);
            FUZZ_CHECK(kh_buf_len(&b) == before); /* cursor unchanged */
        } else {
            FUZZ_CHECK(kh_buf_len(&b) == 0);      /* all consumed */
            FUZZ_CHECK(fuzz_bytes_eq(kh_buf_data(&w), kh_buf_size(&w), body,
                                     len));       /* canonical */
        }
        break;
    }
    kh_buf_free(&w);
    return rc;
}
