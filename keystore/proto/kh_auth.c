#include "kh_auth.h"

#include <stdio.h>
#include <string.h>

static const struct {
    uint32_t bit;
    const char *name;
} kh_roles[] = {
    { KH_ROLE_ADMIN, "admin" },
    { KH_ROLE_APPROVER, "approver" },
    { KH_ROLE_CUSTODIAN, "custodian" },
    { KH_ROLE_AUDITOR, "auditor" },
};
#define KH_N_ROLES (sizeof(kh_roles) / sizeof(kh_roles[0]))

const char *kh_role_name(uint32_t role)
{
    for (size_t i = 0; i < KH_N_ROLES; i++) {
        if (kh_roles[i].bit == role) {
            return kh_roles[i].name;
        }
    }
    return NULL;
}

int kh_role_from_name(const char *name, uint32_t *role)
{
    for (size_t i = 0; i < KH_N_ROLES; i++) {
        if (strcmp(kh_roles[i].name, name) == 0) {
            *role = kh_roles[i].bit;
            return KH_OK;
        }
    }
    return KH_ERR_INVALID_ARGUMENT;
}

void kh_roles_format(uint32_t roles, char *out, size_t outsz)
{
    size_t n = 0;

    if (outsz == 0) {
        return;
    }
    out[0] = '\0';
    for (size_t i = 0; i < KH_N_ROLES; i++) {
        if ((roles & kh_roles[i].bit) != 0 && n < outsz) {
            int k = snprintf(out + n, outsz - n, "%s%s", n > 0 ? "," : "",
                             kh_roles[i].name);

            n += k > 0 ? (size_t)k : 0;
        }
    }
    if (out[0] == '\0') {
        snprintf(out, outsz, "-");
    }
}

/*- Codecs: decode on a copy, commit the cursor only on success -------- */

static int kh_opname_get(struct kh_buf *t, char out[KH_MAX_NAME_LEN + 1])
{
    int r;

    if ((r = kh_buf_get_cstr(t, out, KH_MAX_NAME_LEN + 1)) != 0) {
        return r;
    }
    return kh_name_valid(out) ? KH_OK : KH_ERR_INVALID_FORMAT;
}

int kh_challenge_encode(struct kh_buf *b, const struct kh_challenge_reply *m)
{
    int r;

    if ((r = kh_buf_put_bytes(b, m->nonce, sizeof(m->nonce))) != 0 ||
        (r = kh_buf_put_u32(b, m->ttl)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_challenge_decode(struct kh_buf *b, struct kh_challenge_reply *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_buf_get_bytes(&t, m->nonce, sizeof(m->nonce))) != 0 ||
        (r = kh_buf_get_u32(&t, &m->ttl)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    *b = t;
    return KH_OK;
}

int kh_authed_encode(struct kh_buf *b, const struct kh_authed *m)
{
    int r;

    if (!kh_name_valid(m->op) || m->inner_len > KH_MAX_INNER_LEN ||
        m->sig_len == 0 || m->sig_len > KH_MAX_OPSIG_LEN) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_cstr(b, m->op)) != 0 ||
        (r = kh_buf_put_bytes(b, m->nonce, sizeof(m->nonce))) != 0 ||
        (r = kh_buf_put_u8(b, m->inner_type)) != 0 ||
        (r = kh_buf_put_str(b, m->inner, m->inner_len)) != 0 ||
        (r = kh_buf_put_str(b, m->sig, m->sig_len)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_authed_decode(struct kh_buf *b, struct kh_authed *m)
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_opname_get(&t, m->op)) != 0 ||
        (r = kh_buf_get_bytes(&t, m->nonce, sizeof(m->nonce))) != 0 ||
        (r = kh_buf_get_u8(&t, &m->inner_type)) != 0 ||
        (r = kh_buf_get_str(&t, &m->inner, &m->inner_len,
                            KH_MAX_INNER_LEN)) != 0 ||
        (r = kh_buf_get_str(&t, &m->sig, &m->sig_len, KH_MAX_OPSIG_LEN)) !=
            0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    if (m->sig_len == 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    *b = t;
    return KH_OK;
}

int kh_auth_tbs(struct kh_buf *out, const uint8_t nonce[KH_AUTH_NONCE_LEN],
                const char *op, uint8_t inner_type, const uint8_t *inner,
                size_t inner_len)
{
    int r;

    if (inner_len > UINT32_MAX) {
        return KH_ERR_TOO_LARGE;
    }
    if ((r = kh_buf_put_bytes(out, KH_AUTH_LABEL,
                              sizeof(KH_AUTH_LABEL))) != 0 || /* with NUL */
        (r = kh_buf_put_bytes(out, nonce, KH_AUTH_NONCE_LEN)) != 0 ||
        (r = kh_buf_put_bytes(out, op, strlen(op) + 1)) != 0 ||
        (r = kh_buf_put_u8(out, inner_type)) != 0 ||
        (r = kh_buf_put_u32(out, (uint32_t)inner_len)) != 0 ||
        (inner_len > 0 &&
         (r = kh_buf_put_bytes(out, inner, inner_len)) != 0)) {
        return r;
    }
    return KH_OK;
}

int kh_operator_encode(struct kh_buf *b, const struct kh_operator *m)
{
    int r;

    if (!kh_name_valid(m->name) || m->roles == 0 ||
        (m->roles & ~KH_ROLE_ALL) != 0 || m->spki_len == 0 ||
        m->spki_len > KH_MAX_OP_SPKI_LEN) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((r = kh_buf_put_cstr(b, m->name)) != 0 ||
        (r = kh_buf_put_u32(b, m->roles)) != 0 ||
        (r = kh_buf_put_u64(b, m->created)) != 0 ||
        (r = kh_buf_put_str(b, m->spki, m->spki_len)) != 0) {
        return r;
    }
    return KH_OK;
}

int kh_operator_decode(struct kh_buf *b, struct kh_operator *m)
{
    struct kh_buf t = *b;
    const uint8_t *p;
    int r;

    if ((r = kh_opname_get(&t, m->name)) != 0 ||
        (r = kh_buf_get_u32(&t, &m->roles)) != 0 ||
        (r = kh_buf_get_u64(&t, &m->created)) != 0 ||
        (r = kh_buf_get_str(&t, &p, &m->spki_len, KH_MAX_OP_SPKI_LEN)) !=
            0) {
        return r;
    }
    if (m->roles == 0 || (m->roles & ~KH_ROLE_ALL) != 0 ||
        m->spki_len == 0) {
        return KH_ERR_INVALID_FORMAT;
    }
    memcpy(m->spki, p, m->spki_len);
    *b = t;
    return KH_OK;
}

int kh_opname_encode(struct kh_buf *b, const char *name)
{
    if (!kh_name_valid(name)) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    return kh_buf_put_cstr(b, name);
}

int kh_opname_decode(struct kh_buf *b, char out[KH_MAX_NAME_LEN + 1])
{
    struct kh_buf t = *b;
    int r;

    if ((r = kh_opname_get(&t, out)) != 0 ||
        (r = kh_buf_expect_end(&t)) != 0) {
        return r;
    }
    *b = t;
    return KH_OK;
}
