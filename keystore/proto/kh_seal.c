#include "kh_seal.h"

#include <stdio.h>
#include <string.h>

const char *kh_purpose_name(int purpose)
{
    switch (purpose) {
    case KH_PURPOSE_UNSEAL:
        return "unseal";
    case KH_PURPOSE_REKEY:
        return "rekey";
    case KH_PURPOSE_ROTATE:
        return "rotate-master";
    default:
        return "none";
    }
}

void kh_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int kh_name_get(struct kh_buf *t, char out[KH_MAX_NAME_LEN + 1])
{
    int r;

    if ((r = kh_buf_get_cstr(t, out, KH_MAX_NAME_LEN + 1)) != 0) {
        return r;
    }
    return kh_name_valid(out) ? KH_OK : KH_ERR_INVALID_FORMAT;
}

/*- Facts ---------------------------------------------------------------- */

int kh_facts_encode(struct kh_buf *b, const struct kh_ceremony_facts *m)
{
    int r;

    if (m->m < 1 || m->m > m->n) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_bytes(b, m->id, sizeof(m->id))) != 0 ||
        (r = kh_buf_put_u8(b, m->m)) != 0 ||
        (r = kh_buf_put_u8(b, m->n)) != 0 ||
        (r = kh_buf_put_u64(b, m->created)) != 0) {
        return r;
    }
    for (unsigned i = 0; i < m->n; i++) {
        const struct kh_share_fact *s = &m->shares[i];

        if (s->x != i + 1 || !kh_name_valid(s->custodian)) {
            return KH_ERR_INVALID_ARGUMENT;
        }
        if ((r = kh_buf_put_u8(b, s->x)) != 0 ||
            (r = kh_buf_put_cstr(b, s->custodian)) != 0 ||
            (r = kh_buf_put_bytes(b, s->fpr, sizeof(s->fpr))) != 0 ||
            (r = kh_buf_put_bytes(b, s->commitment, sizeof(s->commitment))) !=
                0) {
            return r;
        }
    }
    return KH_OK;
}

/* Decodes without the end check (facts start longer messages). */
static int kh_facts_get(struct kh_buf *t, struct kh_ceremony_facts *m)
{
    int r;

    if ((r = kh_buf_get_bytes(t, m->id, sizeof(m->id))) != 0 ||
        (r = kh_buf_get_u8(t, &m->m)) != 0 ||
        (r = kh_buf_get_u8(t, &m->n)) != 0 ||
        (r = kh_buf_get_u64(t, &m->created)) != 0) {
        return r;
    }
    if (m->m < 1 || m->m > m->n) {
        return KH_ERR_INVALID_FORMAT;
    }
    for (unsigned i = 0; i < m->n; i++) {
        struct kh_share_fact *s = &m->shares[i];

        if ((r = kh_buf_get_u8(t, &s->x)) != 0 ||
            (r = kh_name_get(t, s->custodian)) != 0 ||
            (r = kh_buf_get_bytes(t, s->fpr, sizeof(s->fpr))) != 0 ||
            (r = kh_buf_get_bytes(t, s->commitment, sizeof(s->commitment))) !=
                0) {
            return r;
        }
        if (s->x != i + 1) {
            return KH_ERR_INVALID_FORMAT;
        }
    }
    return KH_OK;
}

int kh_facts_decode(struct kh_buf *b, struct kh_ceremony_facts *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_facts_get(&t, m)) != 0 || (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    *b = t;
    return KH_OK;
}

/*- Operators lists -------------------------------------------------------- */

static int kh_ops_put(struct kh_buf *b, uint32_t n,
                      const struct kh_operator *ops)
{
    int r;

    if (n > KH_MAX_OPERATORS) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_u32(b, n)) != 0) {
        return r;
    }
    for (uint32_t i = 0; i < n; i++) {
        if ((r = kh_operator_encode(b, &ops[i])) != 0) {
            return r;
        }
    }
    return KH_OK;
}

static int kh_ops_get(struct kh_buf *t, uint32_t *n, struct kh_operator *ops)
{
    int r;

    if ((r = kh_buf_get_u32(t, n)) != 0) {
        return r;
    }
    if (*n > KH_MAX_OPERATORS) {
        return KH_ERR_TOO_LARGE;
    }
    for (uint32_t i = 0; i < *n; i++) {
        if ((r = kh_operator_decode(t, &ops[i])) != 0) {
            return r;
        }
    }
    return KH_OK;
}

int kh_ceremony_init_encode(struct kh_buf *b,
                            const struct kh_ceremony_init_request *m)
{
    int r;

    if ((r = kh_buf_put_u8(b, m->threshold)) != 0) {
        return r;
    }
    return kh_ops_put(b, m->n_ops, m->ops);
}

int kh_ceremony_init_decode(struct kh_buf *b,
                            struct kh_ceremony_init_request *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_buf_get_u8(&t, &m->threshold)) != 0 ||
        (r = kh_ops_get(&t, &m->n_ops, m->ops)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    *b = t;
    return KH_OK;
}

/*- Ceremony replies --------------------------------------------------------- */

static int kh_version_put(struct kh_buf *b, const char *version,
                          const uint8_t sha256[KH_SEAL_SHA256_LEN])
{
    int r;

    if ((r = kh_buf_put_cstr(b, version)) != 0 ||
        (r = kh_buf_put_bytes(b, sha256, KH_SEAL_SHA256_LEN)) != 0) {
        return r;
    }
    return KH_OK;
}

static int kh_version_get(struct kh_buf *t, char *version, size_t vsz,
                          uint8_t sha256[KH_SEAL_SHA256_LEN])
{
    int r;

    if ((r = kh_buf_get_cstr(t, version, vsz)) != 0 ||
        (r = kh_buf_get_bytes(t, sha256, KH_SEAL_SHA256_LEN)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_ceremony_reply_encode(struct kh_buf *b,
                             const struct kh_ceremony_init_reply *m)
{
    int r;

    if ((r = kh_facts_encode(b, &m->facts)) != 0 ||
        (r = kh_version_put(b, m->version, m->sha256)) != 0) {
        return r;
    }
    for (unsigned i = 0; i < m->facts.n; i++) {
        if (m->box_len[i] == 0 || m->box_len[i] > KH_SEAL_MAX_BOX) {
            return KH_ERR_INVALID_ARGUMENT;
        }
        if ((r = kh_buf_put_str(b, m->box[i], m->box_len[i])) != 0) {
            return r;
        }
    }
    return KH_OK;
}

int kh_ceremony_reply_decode(struct kh_buf *b,
                             struct kh_ceremony_init_reply *m)
{
    struct kh_buf t = *b;
    const uint8_t *p;
    int r;

    if ((r = kh_facts_get(&t, &m->facts)) != 0 ||
        (r = kh_version_get(&t, m->version, sizeof(m->version), m->sha256)) !=
            0) {
        return r;
    }
    for (unsigned i = 0; i < m->facts.n; i++) {
        if ((r = kh_buf_get_str(&t, &p, &m->box_len[i], KH_SEAL_MAX_BOX)) !=
            0) {
            return r;
        }
        if (m->box_len[i] == 0) {
            return KH_ERR_INVALID_FORMAT;
        }
        memcpy(m->box[i], p, m->box_len[i]);
    }
    if ((r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    *b = t;
    return KH_OK;
}

int kh_ceremony_info_encode(struct kh_buf *b,
                            const struct kh_ceremony_info *m)
{
    int r;

    if ((r = kh_facts_encode(b, &m->facts)) != 0 ||
        (r = kh_version_put(b, m->version, m->sha256)) != 0) {
        return r;
    }
    return kh_ops_put(b, m->n_ops, m->ops);
}

int kh_ceremony_info_decode(struct kh_buf *b, struct kh_ceremony_info *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_facts_get(&t, &m->facts)) != 0 ||
        (r = kh_version_get(&t, m->version, sizeof(m->version), m->sha256)) !=
            0 ||
        (r = kh_ops_get(&t, &m->n_ops, m->ops)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    *b = t;
    return KH_OK;
}

/*- Unseal -------------------------------------------------------------- */

int kh_unseal_share_encode(struct kh_buf *b, const struct kh_unseal_share *m)
{
    int r;

    if (m->box_len == 0 || m->box_len > KH_SEAL_MAX_BOX || m->x == 0) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_u8(b, m->purpose)) != 0 ||
        (r = kh_buf_put_bytes(b, m->id, sizeof(m->id))) != 0 ||
        (r = kh_buf_put_u8(b, m->x)) != 0 ||
        (r = kh_buf_put_str(b, m->box, m->box_len)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_unseal_share_decode(struct kh_buf *b, struct kh_unseal_share *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_buf_get_u8(&t, &m->purpose)) != 0 ||
        (r = kh_buf_get_bytes(&t, m->id, sizeof(m->id))) != 0 ||
        (r = kh_buf_get_u8(&t, &m->x)) != 0 ||
        (r = kh_buf_get_str(&t, &m->box, &m->box_len, KH_SEAL_MAX_BOX)) !=
            0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    if (m->purpose < KH_PURPOSE_UNSEAL || m->purpose > KH_PURPOSE_ROTATE ||
        m->x == 0 || m->box_len == 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    *b = t;
    return KH_OK;
}

int kh_unseal_progress_encode(struct kh_buf *b,
                              const struct kh_unseal_progress *m)
{
    int r;

    if ((r = kh_buf_put_u8(b, m->have)) != 0 ||
        (r = kh_buf_put_u8(b, m->m)) != 0 ||
        (r = kh_buf_put_u8(b, m->done)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_unseal_progress_decode(struct kh_buf *b, struct kh_unseal_progress *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_buf_get_u8(&t, &m->have)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->m)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->done)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    *b = t;
    return KH_OK;
}

int kh_unseal_aad(struct kh_buf *out, const uint8_t id[KH_SEAL_ID_LEN],
                  uint8_t x, const char *custodian,
                  const uint8_t nonce[KH_AUTH_NONCE_LEN])
{
    int r;

    if ((r = kh_buf_put_bytes(out, KH_UNSEAL_AAD_LABEL,
                              sizeof(KH_UNSEAL_AAD_LABEL))) != 0 ||
        (r = kh_buf_put_bytes(out, id, KH_SEAL_ID_LEN)) != 0 ||
        (r = kh_buf_put_u8(out, x)) != 0 ||
        (r = kh_buf_put_bytes(out, custodian, strlen(custodian) + 1)) != 0 ||
        (r = kh_buf_put_bytes(out, nonce, KH_AUTH_NONCE_LEN)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_unseal_info_encode(struct kh_buf *b, const struct kh_unseal_info *m)
{
    int r;

    if ((r = kh_buf_put_u8(b, m->state)) != 0 ||
        (r = kh_buf_put_str(b, m->spki, m->spki_len)) != 0 ||
        (r = kh_buf_put_u8(b, m->has_ceremony)) != 0 ||
        (r = kh_buf_put_bytes(b, m->id, sizeof(m->id))) != 0 ||
        (r = kh_buf_put_u8(b, m->m)) != 0 ||
        (r = kh_buf_put_u8(b, m->purpose)) != 0 ||
        (r = kh_buf_put_u8(b, m->have)) != 0) {
        return r;
    }
    for (unsigned i = 0; i < m->have; i++) {
        if ((r = kh_buf_put_cstr(b, m->who[i])) != 0) {
            return r;
        }
    }
    if ((r = kh_buf_put_u32(b, m->seconds_left)) != 0 ||
        (r = kh_buf_put_u8(b, m->pending)) != 0 ||
        (r = kh_buf_put_u8(b, m->rekey_ready)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_unseal_info_decode(struct kh_buf *b, struct kh_unseal_info *m)
{
    struct kh_buf t = *b;
    const uint8_t *p;
    int r;

    if ((r = kh_buf_get_u8(&t, &m->state)) != 0 ||
        (r = kh_buf_get_str(&t, &p, &m->spki_len, KH_MAX_OP_SPKI_LEN)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->has_ceremony)) != 0 ||
        (r = kh_buf_get_bytes(&t, m->id, sizeof(m->id))) != 0 ||
        (r = kh_buf_get_u8(&t, &m->m)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->purpose)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->have)) != 0) {
        return r;
    }
    memcpy(m->spki, p, m->spki_len);
    for (unsigned i = 0; i < m->have; i++) {
        if ((r = kh_name_get(&t, m->who[i])) != 0) {
            return r;
        }
    }
    if ((r = kh_buf_get_u32(&t, &m->seconds_left)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->pending)) != 0 ||
        (r = kh_buf_get_u8(&t, &m->rekey_ready)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    *b = t;
    return KH_OK;
}
