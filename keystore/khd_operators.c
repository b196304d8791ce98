#include "khd_operators.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

#include "kh_auth.h"
#include "khd_auth.h"
#include "khd_db.h"
#include "khd_log.h"

const char *khd_peer_who(const struct khd_peer *p, char *buf, size_t n)
{
    if (p->operator_name[0] != '\0') {
        snprintf(buf, n, "operator %s (uid %u pid %d)", p->operator_name,
                 (unsigned)p->uid, (int)p->pid);
    } else {
        snprintf(buf, n, "uid %u pid %d", (unsigned)p->uid, (int)p->pid);
    }
    return buf;
}

int khd_require_role(struct khd_ctx *ctx, const struct khd_peer *p,
                     uint32_t roles, const char *what, struct khd_error *e)
{
    char want[64], who[KH_MAX_NAME_LEN + 64];

    if (p->operator_name[0] != '\0') {
        if ((p->operator_roles & roles) != 0) {
            return KH_OK;
        }
        kh_roles_format(roles, want, sizeof(want));
        khd_warn("%s may not %s: needs role %s",
                 khd_peer_who(p, who, sizeof(who)), what, want);
        return khd_fail(e, KH_ERR_DENIED, "operator '%s' may not %s "
                        "(needs role %s)", p->operator_name, what, want);
    }
    /* DESIGN.md: on a dev keyholder local root acts as every operator. */
    if (khd_peer_is_local_admin(ctx, p) && khd_ctx_is_dev(ctx)) {
        return KH_OK;
    }
    khd_warn("%s may not %s: no operator signature",
             khd_peer_who(p, who, sizeof(who)), what);
    return khd_fail(e, KH_ERR_AUTH_FAILED, "%s needs an operator: khadmin "
                    "--as NAME --key KEY", what);
}

int khd_handle_auth_challenge(struct khd_ctx *ctx, const struct khd_peer *p,
                              struct kh_buf *body, struct kh_buf *reply,
                              struct khd_error *e)
{
    struct kh_challenge_reply ch;
    int r;

    if ((r = kh_buf_expect_end(body)) != 0) {
        return r;
    }
    if ((r = khd_auth_challenge(khd_ctx_auth(ctx), p->uid, &ch)) != 0) {
        return khd_fail(e, r, "cannot make a challenge: %s", kh_strerror(r));
    }
    r = kh_challenge_encode(reply, &ch);
    OPENSSL_cleanse(&ch, sizeof(ch));
    return r;
}

int khd_handle_operator_add(struct khd_ctx *ctx, const struct khd_peer *p,
                            struct kh_buf *body, struct kh_buf *reply,
                            struct khd_error *e)
{
    struct kh_operator op;
    struct kh_buf v;
    char roles[64], who[KH_MAX_NAME_LEN + 64];
    int r;

    (void)reply;
    if ((r = kh_operator_decode(body, &op)) != 0 ||
        (r = kh_buf_expect_end(body)) != 0) {
        return r;
    }
    if ((r = khd_require_role(ctx, p, KH_ROLE_ADMIN, "add operators", e)) !=
            0 ||
        (r = khd_auth_check_spki(op.spki, op.spki_len, e)) != 0) {
        return r;
    }
    op.created = (uint64_t)time(NULL);
    kh_buf_init_writer(&v, 4096);
    if ((r = kh_operator_encode(&v, &op)) == 0) {
        r = khd_db_op_insert(khd_ctx_db(ctx), op.name, kh_buf_data(&v),
                             kh_buf_size(&v));
    }
    kh_buf_free(&v);
    if (r == KH_ERR_KEY_EXISTS) {
        return khd_fail(e, r, "an operator named '%s' already exists",
                        op.name);
    } else if (r != 0) {
        return khd_fail(e, r, "cannot store operator '%s': %s", op.name,
                        kh_strerror(r));
    }
    kh_roles_format(op.roles, roles, sizeof(roles));
    khd_info("%s added operator '%s' with roles %s",
             khd_peer_who(p, who, sizeof(who)), op.name, roles);
    return KH_OK;
}

struct khd_op_list {
    struct kh_buf items;
    uint32_t count;
};

static int khd_op_list_one(void *arg, const uint8_t *val, size_t len)
{
    struct khd_op_list *l = arg;
    struct kh_operator op;
    struct kh_buf b;
    int r;

    kh_buf_init_reader(&b, val, len);
    if (kh_operator_decode(&b, &op) != 0 || kh_buf_expect_end(&b) != 0) {
        khd_err("a stored operator record is malformed: not listed");
        return KH_OK;
    }
    if (l->count >= KH_MAX_OPERATORS) {
        return KH_ERR_TOO_LARGE;
    }
    if ((r = kh_operator_encode(&l->items, &op)) == 0) {
        l->count++;
    }
    return r;
}

int khd_handle_operator_list(struct khd_ctx *ctx, const struct khd_peer *p,
                             struct kh_buf *body, struct kh_buf *reply,
                             struct khd_error *e)
{
    struct khd_op_list l = { .count = 0 };
    int r;

    if ((r = kh_buf_expect_end(body)) != 0) {
        return r;
    }
    if ((r = khd_require_role(ctx, p, KH_ROLE_ALL, "list operators", e)) !=
        0) {
        return r;
    }
    kh_buf_init_writer(&l.items, KH_MAX_FRAME_LEN - 64);
    if ((r = khd_db_op_foreach(khd_ctx_db(ctx), khd_op_list_one, &l)) != 0) {
        r = khd_fail(e, r, "cannot list operators: %s", kh_strerror(r));
    } else if ((r = kh_buf_put_u32(reply, l.count)) == 0) {
        r = kh_buf_put_bytes(reply, kh_buf_data(&l.items),
                             kh_buf_size(&l.items));
    }
    kh_buf_free(&l.items);
    return r;
}

int khd_handle_operator_remove(struct khd_ctx *ctx, const struct khd_peer *p,
                               struct kh_buf *body, struct kh_buf *reply,
                               struct khd_error *e)
{
    char name[KH_MAX_NAME_LEN + 1], who[KH_MAX_NAME_LEN + 64];
    int r;

    (void)reply;
    if ((r = kh_opname_decode(body, name)) != 0) {
        return r;
    }
    if ((r = khd_require_role(ctx, p, KH_ROLE_ADMIN, "remove operators",
                              e)) != 0) {
        return r;
    }
    r = khd_db_op_remove(khd_ctx_db(ctx), name, KH_ROLE_ADMIN);
    if (r == KH_ERR_NOT_FOUND) {
        return khd_fail(e, r, "no operator named '%s'", name);
    } else if (r == KH_ERR_DENIED) {
        khd_warn("%s tried to remove '%s', the last admin: refused",
                 khd_peer_who(p, who, sizeof(who)), name);
        return khd_fail(e, r, "'%s' is the last admin; add another admin "
                        "first", name);
    } else if (r != 0) {
        return khd_fail(e, r, "cannot remove operator '%s': %s", name,
                        kh_strerror(r));
    }
    khd_info("%s removed operator '%s'", khd_peer_who(p, who, sizeof(who)),
             name);
    return KH_OK;
}
