#include "kh_proto.h"

#include <string.h>

/*- Names ------------------------------------------------------------ */

static const char *const kh_key_type_names[] = {
    [KH_KEY_RSA2048] = "rsa:2048",   [KH_KEY_RSA3072] = "rsa:3072",
    [KH_KEY_RSA4096] = "rsa:4096",   [KH_KEY_P256] = "ec:P-256",
    [KH_KEY_P384] = "ec:P-384",      [KH_KEY_SECP256K1] = "ec:secp256k1",
    [KH_KEY_ED25519] = "ed25519",
};

const char *kh_key_type_name(int type)
{
    if (type < KH_KEY_RSA2048 || type > KH_KEY_TYPE_MAX) {
        return NULL;
    }
    return kh_key_type_names[type];
}

int kh_key_type_from_name(const char *name, uint8_t *type)
{
    for (int t = KH_KEY_RSA2048; t <= KH_KEY_TYPE_MAX; t++) {
        if (strcmp(name, kh_key_type_names[t]) == 0) {
            *type = (uint8_t)t;
            return KH_OK;
        }
    }
    return KH_ERR_INVALID_ARGUMENT;
}

int kh_key_type_is_rsa(int type)
{
    return type == KH_KEY_RSA2048 || type == KH_KEY_RSA3072 ||
           type == KH_KEY_RSA4096;
}

const char *kh_key_state_name(int state)
{
    switch (state) {
    case KH_KEY_ACTIVE:
        return "active";
    case KH_KEY_RETIRED:
        return "retired";
    case KH_KEY_DESTROYED:
        return "destroyed";
    default:
        return "unknown";
    }
}

const char *kh_state_name(int state)
{
    switch (state) {
    case KH_STATE_UNINITIALIZED:
        return "uninitialized";
    case KH_STATE_SEALED:
        return "sealed";
    case KH_STATE_UNSEALED:
        return "unsealed";
    default:
        return "unknown";
    }
}

static const struct {
    const char *name;
    size_t len;
} kh_digests[] = {
    [KH_DIGEST_NONE] = { NULL, 0 },
    [KH_DIGEST_SHA256] = { "sha256", 32 },
    [KH_DIGEST_SHA384] = { "sha384", 48 },
    [KH_DIGEST_SHA512] = { "sha512", 64 },
};

const char *kh_digest_name(int digest)
{
    if (digest <= KH_DIGEST_NONE || digest > KH_DIGEST_MAX) {
        return NULL;
    }
    return kh_digests[digest].name;
}

int kh_digest_from_name(const char *name, uint8_t *digest)
{
    for (int d = KH_DIGEST_SHA256; d <= KH_DIGEST_MAX; d++) {
        if (strcmp(name, kh_digests[d].name) == 0) {
            *digest = (uint8_t)d;
            return KH_OK;
        }
    }
    return KH_ERR_INVALID_ARGUMENT;
}

size_t kh_digest_len(int digest)
{
    if (digest <= KH_DIGEST_NONE || digest > KH_DIGEST_MAX) {
        return 0;
    }
    return kh_digests[digest].len;
}

int kh_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > KH_MAX_NAME_LEN || name[0] == '.' || name[0] == '-') {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

/*- Framing ---------------------------------------------------------- */

int kh_frame_check_len(const uint8_t hdr[KH_FRAME_HEADER_LEN], uint32_t *len)
{
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
                 (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3];

    if (n > KH_MAX_FRAME_LEN) {
        return KH_ERR_TOO_LARGE;
    }
    if (n < KH_FRAME_PREFIX_LEN) {
        return KH_ERR_INVALID_FORMAT;
    }
    *len = n;
    return KH_OK;
}

int kh_frame_decode(const uint8_t *p, size_t len, struct kh_frame *f)
{
    struct kh_buf b;
    int r;

    if (len > KH_MAX_FRAME_LEN) {
        return KH_ERR_TOO_LARGE;
    }
    kh_buf_init_reader(&b, p, len);
    if ((r = kh_buf_get_u8(&b, &f->version)) != 0 ||
        (r = kh_buf_get_u8(&b, &f->type)) != 0 ||
        (r = kh_buf_get_u32(&b, &f->request_id)) != 0) {
        return r;
    }
    if (f->version != KH_PROTO_VERSION) {
        return KH_ERR_BAD_VERSION;
    }
    kh_buf_init_reader(&f->body, kh_buf_ptr(&b), kh_buf_len(&b));
    return KH_OK;
}

int kh_frame_begin(struct kh_buf *out, uint8_t type, uint32_t request_id)
{
    int r;

    if (kh_buf_size(out) != 0) {
        return KH_ERR_INTERNAL;
    }
    if ((r = kh_buf_put_u32(out, 0)) != 0 || /* patched by kh_frame_end */
        (r = kh_buf_put_u8(out, KH_PROTO_VERSION)) != 0 ||
        (r = kh_buf_put_u8(out, type)) != 0 ||
        (r = kh_buf_put_u32(out, request_id)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_frame_end(struct kh_buf *out)
{
    size_t total = kh_buf_size(out);
    uint8_t *p;
    uint32_t n;

    if (total < KH_FRAME_HEADER_LEN + KH_FRAME_PREFIX_LEN) {
        return KH_ERR_INTERNAL;
    }
    if (total - KH_FRAME_HEADER_LEN > KH_MAX_FRAME_LEN) {
        return KH_ERR_TOO_LARGE;
    }
    n = (uint32_t)(total - KH_FRAME_HEADER_LEN);
    p = (uint8_t *)kh_buf_data(out);
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    return KH_OK;
}

/*- Messages --------------------------------------------------------- */

/*
 * Every decoder works on a copy of the reader and commits the cursor only
 * when the whole message parsed, so a failure leaves |b| unchanged.
 */

int kh_error_encode(struct kh_buf *b, const struct kh_error_reply *m)
{
    int r;

    if (m->code >= 0 || m->code < KH_ERR_MIN) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_u32(b, (uint32_t)-m->code)) != 0 ||
        (r = kh_buf_put_str(b, m->reason,
                            strnlen(m->reason, KH_MAX_REASON_LEN))) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_error_decode(struct kh_buf *b, struct kh_error_reply *m)
{
    struct kh_buf t = *b;
    uint32_t code;
    int r;

    if ((r = kh_buf_get_u32(&t, &code)) != 0 ||
        (r = kh_buf_get_cstr(&t, m->reason, sizeof(m->reason))) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    if (code == 0 || code > (uint32_t)-KH_ERR_MIN) {
        return KH_ERR_INVALID_FORMAT;
    }
    m->code = -(int)code;
    *b = t;
    return KH_OK;
}

int kh_status_encode(struct kh_buf *b, const struct kh_status_reply *m)
{
    int r;

    if ((r = kh_buf_put_u8(b, m->state)) != 0 ||
        (r = kh_buf_put_u8(b, m->insecure_dev)) != 0 ||
        (r = kh_buf_put_u8(b, m->secure_heap)) != 0 ||
        (r = kh_buf_put_u32(b, m->key_count)) != 0 ||
        (r = kh_buf_put_cstr(b, m->version)) != 0 ||
        (r = kh_buf_put_u64(b, m->audit_head)) != 0 ||
        (r = kh_buf_put_str(b, m->audit_spki, m->audit_spki_len)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_status_decode(struct kh_buf *b, struct kh_status_reply *m)
{
    struct kh_buf t = *b;
    const uint8_t *spki;
    int r;

    if ((r = kh_buf_get_u8(&t, &m->state)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->insecure_dev)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->secure_heap)) != 0 ||
        (r = kh_buf_get_u32(&t, &m->key_count)) != 0 ||
        (r = kh_buf_get_cstr(&t, m->version, sizeof(m->version))) != 0 ||
        (r = kh_buf_get_u64(&t, &m->audit_head)) != 0 ||
        (r = kh_buf_get_str(&t, &spki, &m->audit_spki_len,
                            KH_MAX_SPKI_LEN)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    memcpy(m->audit_spki, spki, m->audit_spki_len);
    if (m->state > KH_STATE_UNSEALED || m->insecure_dev > 1 ||
        m->secure_heap > 2) {
        return KH_ERR_INVALID_FORMAT;
    }
    *b = t;
    return KH_OK;
}

static int kh_name_encode(struct kh_buf *b, const char *name)
{
    if (!kh_name_valid(name)) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    return kh_buf_put_cstr(b, name);
}

static int kh_name_decode(struct kh_buf *b, char out[KH_MAX_NAME_LEN + 1])
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_buf_get_cstr(&t, out, KH_MAX_NAME_LEN + 1)) != 0) {
        return r;
    }
    if (!kh_name_valid(out)) {
        return KH_ERR_INVALID_FORMAT;
    }
    *b = t;
    return KH_OK;
}

static int kh_acl_encode(struct kh_buf *b, const struct kh_acl *a)
{
    int r;

    if (a->n_uids > KH_MAX_ACL || a->n_gids > KH_MAX_ACL) {
        return KH_ERR_TOO_LARGE;
    }
    if ((r = kh_buf_put_u32(b, a->n_uids)) != 0) {
        return r;
    }
    for (uint32_t i = 0; i < a->n_uids; i++) {
        if ((r = kh_buf_put_u32(b, a->uids[i])) != 0) {
            return r;
        }
    }
    if ((r = kh_buf_put_u32(b, a->n_gids)) != 0) {
        return r;
    }
    for (uint32_t i = 0; i < a->n_gids; i++) {
        if ((r = kh_buf_put_u32(b, a->gids[i])) != 0) {
            return r;
        }
    }
    return KH_OK;
}

static int kh_id_list_decode(struct kh_buf *b, uint32_t *n, uint32_t *ids)
{
    int r;

    if ((r = kh_buf_get_u32(b, n)) != 0) {
        return r;
    }
    if (*n > KH_MAX_ACL) {
        return KH_ERR_TOO_LARGE;
    }
    for (uint32_t i = 0; i < *n; i++) {
        if ((r = kh_buf_get_u32(b, &ids[i])) != 0) {
            return r;
        }
    }
    return KH_OK;
}

static int kh_acl_decode(struct kh_buf *b, struct kh_acl *a)
{
    int r;

    memset(a, 0, sizeof(*a));
    if ((r = kh_id_list_decode(b, &a->n_uids, a->uids)) != 0 ||
        (r = kh_id_list_decode(b, &a->n_gids, a->gids)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_keygen_encode(struct kh_buf *b, const struct kh_keygen_request *m)
{
    int r;

    if (kh_key_type_name(m->type) == NULL) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_name_encode(b, m->name)) != 0 ||
        (r = kh_buf_put_u8(b, m->type)) != 0 ||
        (r = kh_acl_encode(b, &m->acl)) != 0 ||
        (r = kh_buf_put_u8(b, m->audit)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_keygen_decode(struct kh_buf *b, struct kh_keygen_request *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_name_decode(&t, m->name)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->type)) != 0 ||
        (r = kh_acl_decode(&t, &m->acl)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->audit)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    if (m->audit > 1) {
        return KH_ERR_INVALID_FORMAT;
    }
    if (kh_key_type_name(m->type) == NULL) {
        return KH_ERR_UNSUPPORTED;
    }
    *b = t;
    return KH_OK;
}

int kh_key_info_encode(struct kh_buf *b, const struct kh_key_info *m)
{
    int r;

    if (m->spki_len > KH_MAX_SPKI_LEN) {
        return KH_ERR_TOO_LARGE;
    }
    if ((r = kh_name_encode(b, m->name)) != 0 ||
        (r = kh_buf_put_u32(b, m->version)) != 0 ||
        (r = kh_buf_put_u8(b, m->type)) != 0 ||
        (r = kh_buf_put_u8(b, m->state)) != 0 ||
        (r = kh_buf_put_u64(b, m->created)) != 0 ||
        (r = kh_buf_put_u32(b, m->owner_uid)) != 0 ||
        (r = kh_acl_encode(b, &m->acl)) != 0 ||
        (r = kh_buf_put_str(b, m->spki, m->spki_len)) != 0 ||
        (r = kh_buf_put_u8(b, m->audit)) != 0) {
        return r;
    }
    return KH_OK;
}

/*
 * Not the whole message: a key_info is also a list item and a record
 * prefix, so the caller checks for the end.
 */
int kh_key_info_decode(struct kh_buf *b, struct kh_key_info *m)
{
    struct kh_buf t = *b;
    const uint8_t *spki;
    int r;

    if ((r = kh_name_decode(&t, m->name)) != 0 ||
        (r = kh_buf_get_u32(&t, &m->version)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->type)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->state)) != 0 ||
        (r = kh_buf_get_u64(&t, &m->created)) != 0 ||
        (r = kh_buf_get_u32(&t, &m->owner_uid)) != 0 ||
        (r = kh_acl_decode(&t, &m->acl)) != 0 ||
        (r = kh_buf_get_str(&t, &spki, &m->spki_len, KH_MAX_SPKI_LEN)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->audit)) != 0) {
        return r;
    }
    if (m->version == 0 || kh_key_type_name(m->type) == NULL ||
        m->audit > 1 ||
        m->state < KH_KEY_ACTIVE || m->state > KH_KEY_DESTROYED ||
        m->spki_len == 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    memcpy(m->spki, spki, m->spki_len);
    *b = t;
    return KH_OK;
}

int kh_key_ref_encode(struct kh_buf *b, const struct kh_key_ref *m)
{
    int r;

    if ((r = kh_name_encode(b, m->name)) != 0 ||
        (r = kh_buf_put_u32(b, m->version)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_key_ref_decode(struct kh_buf *b, struct kh_key_ref *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_name_decode(&t, m->name)) != 0 ||
        (r = kh_buf_get_u32(&t, &m->version)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    *b = t;
    return KH_OK;
}

int kh_list_request_encode(struct kh_buf *b, const struct kh_list_request *m)
{
    if (m->after[0] != '\0' && !kh_name_valid(m->after)) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    return kh_buf_put_cstr(b, m->after);
}

int kh_list_request_decode(struct kh_buf *b, struct kh_list_request *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_buf_get_cstr(&t, m->after, sizeof(m->after))) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    if (m->after[0] != '\0' && !kh_name_valid(m->after)) {
        return KH_ERR_INVALID_FORMAT;
    }
    *b = t;
    return KH_OK;
}

int kh_list_reply_begin(struct kh_buf *b, uint8_t more, uint32_t count)
{
    int r;

    if (more > 1 || count > KH_MAX_LIST_PAGE) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_u8(b, more)) != 0 ||
        (r = kh_buf_put_u32(b, count)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_list_reply_decode_header(struct kh_buf *b, uint8_t *more,
                                uint32_t *count)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_buf_get_u8(&t, more)) != 0 ||
        (r = kh_buf_get_u32(&t, count)) != 0) {
        return r;
    }
    if (*more > 1 || *count > KH_MAX_LIST_PAGE) {
        return KH_ERR_INVALID_FORMAT;
    }
    *b = t;
    return KH_OK;
}

static int kh_sign_fields_valid(const struct kh_sign_request *m)
{
    if (m->input != KH_INPUT_MESSAGE && m->input != KH_INPUT_DIGEST) {
        return 0;
    }
    if (m->digest > KH_DIGEST_MAX || m->mgf1_digest > KH_DIGEST_MAX ||
        m->padding > KH_PAD_PSS) {
        return 0;
    }
    if (m->salt_len > KH_PSS_SALT_EXPLICIT_MAX &&
        m->salt_len != KH_PSS_SALT_DIGEST && m->salt_len != KH_PSS_SALT_MAX) {
        return 0;
    }
    return m->data_len <= KH_MAX_SIGN_DATA;
}

int kh_sign_request_encode(struct kh_buf *b, const struct kh_sign_request *m)
{
    int r;

    if (!kh_sign_fields_valid(m)) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_name_encode(b, m->name)) != 0 ||
        (r = kh_buf_put_u32(b, m->version)) != 0 ||
        (r = kh_buf_put_u8(b, m->input)) != 0 ||
        (r = kh_buf_put_u8(b, m->digest)) != 0 ||
        (r = kh_buf_put_u8(b, m->padding)) != 0 ||
        (r = kh_buf_put_u8(b, m->mgf1_digest)) != 0 ||
        (r = kh_buf_put_u32(b, m->salt_len)) != 0 ||
        (r = kh_buf_put_str(b, m->data, m->data_len)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_sign_request_decode(struct kh_buf *b, struct kh_sign_request *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_name_decode(&t, m->name)) != 0 ||
        (r = kh_buf_get_u32(&t, &m->version)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->input)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->digest)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->padding)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->mgf1_digest)) != 0 ||
        (r = kh_buf_get_u32(&t, &m->salt_len)) != 0 ||
        (r = kh_buf_get_str(&t, &m->data, &m->data_len,
                            KH_MAX_SIGN_DATA)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    if (!kh_sign_fields_valid(m)) {
        return KH_ERR_INVALID_FORMAT;
    }
    *b = t;
    return KH_OK;
}

int kh_sign_reply_encode(struct kh_buf *b, const struct kh_sign_reply *m)
{
    int r;

    if (m->sig_len == 0 || m->sig_len > KH_MAX_SIG_LEN) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_u32(b, m->version)) != 0 ||
        (r = kh_buf_put_str(b, m->sig, m->sig_len)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_sign_reply_decode(struct kh_buf *b, struct kh_sign_reply *m)
{
    struct kh_buf t = *b;
    const uint8_t *sig;
    int r;

    if ((r = kh_buf_get_u32(&t, &m->version)) != 0 ||
        (r = kh_buf_get_str(&t, &sig, &m->sig_len, KH_MAX_SIG_LEN)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    if (m->sig_len == 0 || m->version == 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    memcpy(m->sig, sig, m->sig_len);
    *b = t;
    return KH_OK;
}

int kh_cert_import_encode(struct kh_buf *b,
                          const struct kh_cert_import_request *m)
{
    int r;

    if (m->der_len == 0) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if (m->der_len > KH_MAX_CERT_LEN) {
        return KH_ERR_TOO_LARGE;
    }
    if ((r = kh_name_encode(b, m->name)) != 0 ||
        (r = kh_buf_put_str(b, m->der, m->der_len)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_cert_import_decode(struct kh_buf *b, struct kh_cert_import_request *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_name_decode(&t, m->name)) != 0 ||
        (r = kh_buf_get_str(&t, &m->der, &m->der_len, KH_MAX_CERT_LEN)) !=
            0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    if (m->der_len == 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    *b = t;
    return KH_OK;
}

int kh_cert_get_request_encode(struct kh_buf *b,
                               const struct kh_cert_get_request *m)
{
    return kh_name_encode(b, m->name);
}

int kh_cert_get_request_decode(struct kh_buf *b,
                               struct kh_cert_get_request *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_name_decode(&t, m->name)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    *b = t;
    return KH_OK;
}

/* present 0 with no bytes, or present 1 with 1..KH_MAX_CERT_LEN bytes. */
static int kh_cert_reply_valid(uint8_t present, size_t der_len)
{
    if (present == 0) {
        return der_len == 0;
    }
    return present == 1 && der_len > 0 && der_len <= KH_MAX_CERT_LEN;
}

int kh_cert_get_reply_encode(struct kh_buf *b,
                             const struct kh_cert_get_reply *m)
{
    int r;

    if (m->der_len > KH_MAX_CERT_LEN) {
        return KH_ERR_TOO_LARGE;
    }
    if (!kh_cert_reply_valid(m->present, m->der_len)) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_u8(b, m->present)) != 0 ||
        (r = kh_buf_put_str(b, m->der, m->der_len)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_cert_get_reply_decode(struct kh_buf *b, struct kh_cert_get_reply *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_buf_get_u8(&t, &m->present)) != 0 ||
        (r = kh_buf_get_str(&t, &m->der, &m->der_len, KH_MAX_CERT_LEN)) !=
            0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    if (!kh_cert_reply_valid(m->present, m->der_len)) {
        return KH_ERR_INVALID_FORMAT;
    }
    *b = t;
    return KH_OK;
}

int kh_audit_read_request_encode(struct kh_buf *b,
                                 const struct kh_audit_read_request *m)
{
    int r;

    if ((r = kh_buf_put_u64(b, m->from)) != 0 ||
        (r = kh_buf_put_u32(b, m->max)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_audit_read_request_decode(struct kh_buf *b,
                                 struct kh_audit_read_request *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_buf_get_u64(&t, &m->from)) != 0 ||
        (r = kh_buf_get_u32(&t, &m->max)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    *b = t;
    return KH_OK;
}

int kh_audit_archive_encode(struct kh_buf *b, uint64_t before)
{
    return kh_buf_put_u64(b, before);
}

int kh_audit_archive_decode(struct kh_buf *b, uint64_t *before)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_buf_get_u64(&t, before)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    *b = t;
    return KH_OK;
}
