#include "khd_dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "kh_audit.h"
#include "kh_auth.h"
#include "kh_proto.h"
#include "khd_audit.h"
#include "khd_auth.h"
#include "khd_ceremony.h"
#include "khd_log.h"
#include "khd_operators.h"

#define KHD_REPLY_MAX KH_MAX_FRAME_LEN

int khd_reply_error(struct kh_buf *reply, uint32_t request_id, int code,
                    const char *reason)
{
    struct kh_error_reply m = { .code = code };
    int r;

    snprintf(m.reason, sizeof(m.reason), "%s",
             reason != NULL && reason[0] != '\0' ? reason : kh_strerror(code));
    kh_buf_reset(reply);
    if ((r = kh_frame_begin(reply, KH_MSG_ERROR, request_id)) != 0 ||
        (r = kh_error_encode(reply, &m)) != 0 ||
        (r = kh_frame_end(reply)) != 0) {
        return r;
    }
    return KH_OK;
}

/*- Handlers: decode the body, act, encode the reply body ------------- */

static int khd_handle_status(struct khd_ctx *ctx, const struct khd_peer *p,
                             struct kh_buf *body, struct kh_buf *reply,
                             struct khd_error *e)
{
    struct kh_status_reply st;
    int r;

    (void)p;
    if ((r = kh_buf_expect_end(body)) != 0) {
        return r;
    }
    (void)e;
    khd_status(ctx, &st);
    return kh_status_encode(reply, &st);
}

static int khd_handle_generate(struct khd_ctx *ctx, const struct khd_peer *p,
                               struct kh_buf *body, struct kh_buf *reply,
                               struct khd_error *e)
{
    struct kh_keygen_request req;
    struct kh_key_info info;
    int r;

    if ((r = kh_keygen_decode(body, &req)) != 0) {
        return r;
    }
    if ((r = khd_op_generate(ctx, p, &req, &info, e)) != 0) {
        return r;
    }
    return kh_key_info_encode(reply, &info);
}

static int khd_handle_info(struct khd_ctx *ctx, const struct khd_peer *p,
                           struct kh_buf *body, struct kh_buf *reply,
                           struct khd_error *e)
{
    struct kh_key_ref ref;
    struct kh_key_info info;
    int r;

    if ((r = kh_key_ref_decode(body, &ref)) != 0) {
        return r;
    }
    if ((r = khd_op_info(ctx, p, &ref, &info, e)) != 0) {
        return r;
    }
    return kh_key_info_encode(reply, &info);
}

static int khd_handle_list(struct khd_ctx *ctx, const struct khd_peer *p,
                           struct kh_buf *body, struct kh_buf *reply,
                           struct khd_error *e)
{
    struct kh_list_request req;
    struct kh_key_info *items;
    uint32_t count = 0;
    uint8_t more = 0;
    int r;

    if ((r = kh_list_request_decode(body, &req)) != 0) {
        return r;
    }
    if ((items = calloc(KH_MAX_LIST_PAGE, sizeof(*items))) == NULL) {
        return KH_ERR_ALLOC;
    }
    if ((r = khd_op_list(ctx, p, req.after, items, KH_MAX_LIST_PAGE, &count,
                         &more, e)) != 0 ||
        (r = kh_list_reply_begin(reply, more, count)) != 0) {
        goto out;
    }
    for (uint32_t i = 0; i < count; i++) {
        if ((r = kh_key_info_encode(reply, &items[i])) != 0) {
            goto out;
        }
    }
out:
    free(items);
    return r;
}

static int khd_handle_sign(struct khd_ctx *ctx, const struct khd_peer *p,
                           struct kh_buf *body, struct kh_buf *reply,
                           struct khd_error *e)
{
    struct kh_sign_request req;
    struct kh_sign_reply rep;
    int r;

    if ((r = kh_sign_request_decode(body, &req)) != 0) {
        return r;
    }
    if ((r = khd_op_sign(ctx, p, &req, &rep, e)) == 0) {
        r = kh_sign_reply_encode(reply, &rep);
    }
    OPENSSL_cleanse(&rep, sizeof(rep));
    return r;
}

static int khd_handle_cert_import(struct khd_ctx *ctx,
                                  const struct khd_peer *p,
                                  struct kh_buf *body, struct kh_buf *reply,
                                  struct khd_error *e)
{
    struct kh_cert_import_request req;
    int r;

    (void)reply;
    if ((r = kh_cert_import_decode(body, &req)) != 0) {
        return r;
    }
    return khd_op_cert_import(ctx, p, &req, e);
}

static int khd_handle_cert_get(struct khd_ctx *ctx, const struct khd_peer *p,
                               struct kh_buf *body, struct kh_buf *reply,
                               struct khd_error *e)
{
    struct kh_cert_get_request req;
    struct kh_cert_get_reply rep = { .present = 0 };
    struct kh_buf der;
    int r;

    if ((r = kh_cert_get_request_decode(body, &req)) != 0) {
        return r;
    }
    kh_buf_init_writer(&der, KH_MAX_CERT_LEN);
    if ((r = khd_op_cert_get(ctx, p, req.name, &der, &rep.present, e)) ==
        0) {
        rep.der = kh_buf_data(&der);
        rep.der_len = kh_buf_size(&der);
        r = kh_cert_get_reply_encode(reply, &rep);
    }
    kh_buf_free(&der);
    return r;
}

static int khd_handle_audit_read(struct khd_ctx *ctx,
                                 const struct khd_peer *p,
                                 struct kh_buf *body, struct kh_buf *reply,
                                 struct khd_error *e)
{
    struct kh_audit_read_request req;
    int r;

    if ((r = kh_audit_read_request_decode(body, &req)) != 0) {
        return r;
    }
    if (!khd_may_read_audit(ctx, p)) {
        snprintf(e->reason, sizeof(e->reason), "uid %u may not read the "
                 "audit log (auditor or admin only)", (unsigned)p->uid);
        return KH_ERR_DENIED;
    }
    if ((r = khd_audit_read(khd_ctx_audit(ctx), p, req.from, req.max,
                            reply)) != 0) {
        snprintf(e->reason, sizeof(e->reason), "cannot read the audit "
                 "log: %s", kh_strerror(r));
    }
    return r;
}

static int khd_handle_audit_archive(struct khd_ctx *ctx,
                                    const struct khd_peer *p,
                                    struct kh_buf *body, struct kh_buf *reply,
                                    struct khd_error *e)
{
    uint64_t before, dropped = 0;
    int r;

    if ((r = kh_audit_archive_decode(body, &before)) != 0 ||
        (r = khd_op_audit_archive(ctx, p, before, &dropped, e)) != 0) {
        return r;
    }
    return kh_buf_put_u64(reply, dropped);
}

typedef int (*khd_handler_fn)(struct khd_ctx *, const struct khd_peer *,
                              struct kh_buf *, struct kh_buf *,
                              struct khd_error *);
/* A state change with an empty request and an empty reply. */
typedef int (*khd_action_fn)(struct khd_ctx *, const struct khd_peer *,
                             struct khd_error *);

static const struct {
    uint8_t type;
    const char *name;
    khd_handler_fn fn;     /* decodes the body and encodes the reply */
    khd_action_fn action;  /* or: no body, no reply */
} khd_handlers[] = {
    { KH_MSG_STATUS, "status", khd_handle_status, NULL },
    { KH_MSG_INIT_DEV, "init-dev", NULL, khd_init_dev },
    { KH_MSG_SEAL, "seal", NULL, khd_seal },
    { KH_MSG_UNSEAL_DEV, "unseal-dev", NULL, khd_unseal_dev },
    { KH_MSG_KEY_GENERATE, "key-generate", khd_handle_generate, NULL },
    { KH_MSG_KEY_LIST, "key-list", khd_handle_list, NULL },
    { KH_MSG_KEY_INFO, "key-info", khd_handle_info, NULL },
    { KH_MSG_KEY_SIGN, "key-sign", khd_handle_sign, NULL },
    { KH_MSG_CERT_IMPORT, "cert-import", khd_handle_cert_import, NULL },
    { KH_MSG_CERT_GET, "cert-get", khd_handle_cert_get, NULL },
    { KH_MSG_AUTH_CHALLENGE, "auth-challenge", khd_handle_auth_challenge,
      NULL },
    { KH_MSG_OPERATOR_ADD, "operator-add", khd_handle_operator_add, NULL },
    { KH_MSG_OPERATOR_LIST, "operator-list", khd_handle_operator_list,
      NULL },
    { KH_MSG_OPERATOR_REMOVE, "operator-remove", khd_handle_operator_remove,
      NULL },
    { KH_MSG_CEREMONY_INIT, "ceremony-init", khd_handle_ceremony_init, NULL },
    { KH_MSG_CEREMONY_INFO, "ceremony-info", khd_handle_ceremony_info, NULL },
    { KH_MSG_UNSEAL_INFO, "unseal-info", khd_handle_unseal_info, NULL },
    { KH_MSG_UNSEAL_SHARE, "unseal-share", khd_handle_unseal_share, NULL },
    { KH_MSG_UNSEAL_RESET, "unseal-reset", NULL, khd_unseal_reset },
    { KH_MSG_REKEY_PREPARE, "rekey-prepare", khd_handle_rekey_prepare, NULL },
    { KH_MSG_REKEY_COMMIT, "rekey-commit", NULL, khd_rekey_commit },
    { KH_MSG_REKEY_ABORT, "rekey-abort", NULL, khd_rekey_abort },
    { KH_MSG_AUDIT_READ, "audit-read", khd_handle_audit_read, NULL },
    { KH_MSG_AUDIT_ARCHIVE, "audit-archive", khd_handle_audit_archive, NULL },
};

/* The audit category of a request type; handlers may refine it. */
static uint8_t khd_audit_category(uint8_t type)
{
    switch (type) {
    case KH_MSG_STATUS:
    case KH_MSG_KEY_LIST:
    case KH_MSG_KEY_INFO:
    case KH_MSG_CERT_GET:
    case KH_MSG_AUDIT_READ:
    case KH_MSG_OPERATOR_LIST:
    case KH_MSG_CEREMONY_INFO:
    case KH_MSG_UNSEAL_INFO:
        return KH_AUDIT_CAT_READ;
    case KH_MSG_SEAL:
    case KH_MSG_UNSEAL_DEV:
    case KH_MSG_UNSEAL_SHARE:
    case KH_MSG_UNSEAL_RESET:
        return KH_AUDIT_CAT_SEAL;
    case KH_MSG_KEY_GENERATE:
    case KH_MSG_CERT_IMPORT:
        return KH_AUDIT_CAT_LIFECYCLE;
    case KH_MSG_KEY_SIGN:
        return KH_AUDIT_CAT_SIGN;
    case KH_MSG_AUTH_CHALLENGE:
    case KH_MSG_AUTHED:
        return KH_AUDIT_CAT_AUTH;
    default:
        return KH_AUDIT_CAT_ADMIN;
    }
}

/* The handler table's name of |type| ("authed", "unknown" otherwise). */
static const char *khd_op_name(uint8_t type)
{
    for (size_t i = 0; i < sizeof(khd_handlers) / sizeof(khd_handlers[0]);
         i++) {
        if (khd_handlers[i].type == type) {
            return khd_handlers[i].name;
        }
    }
    return type == KH_MSG_AUTHED ? "authed" : "unknown";
}

/* A decode failure names the field problem; others keep the handler's. */
static const char *khd_decode_reason(int r)
{
    switch (r) {
    case KH_ERR_MESSAGE_INCOMPLETE:
    case KH_ERR_INVALID_FORMAT:
    case KH_ERR_TOO_LARGE:
    case KH_ERR_TRAILING_DATA:
        return kh_strerror(r);
    default:
        return NULL;
    }
}

/*
 * Runs the handler for |type| on |body|, appending the reply body to
 * |reply| (a frame already begun). Returns the handler's result; a
 * decode failure gets a reason naming the request.
 */
static int khd_dispatch_inner(struct khd_ctx *ctx, const struct khd_peer *p,
                              uint8_t type, struct kh_buf *body,
                              struct kh_buf *reply, struct khd_error *e)
{
    int r;

    for (size_t i = 0; i < sizeof(khd_handlers) / sizeof(khd_handlers[0]);
         i++) {
        if (khd_handlers[i].type != type) {
            continue;
        }
        /* The request inside an AUTHED envelope names the operation. */
        khd_audit_note_op(khd_handlers[i].name, khd_audit_category(type));
        if (khd_handlers[i].action != NULL) {
            if ((r = kh_buf_expect_end(body)) == 0) {
                r = khd_handlers[i].action(ctx, p, e);
            }
        } else {
            r = khd_handlers[i].fn(ctx, p, body, reply, e);
        }
        if (r != 0 && e->reason[0] == '\0' &&
            khd_decode_reason(r) != NULL) {
            snprintf(e->reason, sizeof(e->reason), "bad %s request: %s",
                     khd_handlers[i].name, khd_decode_reason(r));
        }
        return r;
    }
    return khd_fail(e, KH_ERR_UNKNOWN_TYPE, "unknown message type 0x%02x",
                    type);
}

/*
 * An AUTHED envelope: checks the operator's signature over a fresh
 * challenge, then runs the inner request as that operator (on a copy of
 * the peer; the kernel's credentials stay as they are).
 */
static int khd_dispatch_authed(struct khd_ctx *ctx, const struct khd_peer *p,
                               struct kh_buf *body, struct kh_buf *reply,
                               struct khd_error *e)
{
    struct kh_authed m;
    struct kh_operator op;
    struct khd_peer *as;
    struct kh_buf inner;
    int r;

    if ((r = kh_authed_decode(body, &m)) != 0) {
        return khd_fail(e, KH_ERR_AUTH_FAILED, "bad operator envelope: %s",
                        kh_strerror(r));
    }
    if (m.inner_type == KH_MSG_AUTHED ||
        m.inner_type == KH_MSG_AUTH_CHALLENGE) {
        khd_warn("uid %u pid %d: nested operator envelope refused",
                 (unsigned)p->uid, (int)p->pid);
        return khd_fail(e, KH_ERR_AUTH_FAILED,
                        "an operator envelope may not carry another");
    }
    if ((r = khd_auth_verify(khd_ctx_auth(ctx), khd_ctx_db(ctx), p, &m, &op,
                             e)) != 0) {
        return r;
    }
    if ((as = malloc(sizeof(*as))) == NULL) {
        return khd_fail(e, KH_ERR_ALLOC, "out of memory");
    }
    *as = *p;
    snprintf(as->operator_name, sizeof(as->operator_name), "%s", op.name);
    as->operator_roles = op.roles;
    khd_audit_note_operator(op.name);
    memcpy(as->auth_nonce, m.nonce, sizeof(as->auth_nonce));
    kh_buf_init_reader(&inner, m.inner, m.inner_len);
    r = khd_dispatch_inner(ctx, as, m.inner_type, &inner, reply, e);
    free(as);
    return r;
}

/*
 * Every request runs inside an audit scope (khd_audit.h): the entry gets
 * the operation, the caller, the result and the reason, plus whatever the
 * handlers noted (the operator after a valid envelope, the key, the data's
 * digest). A success whose entry cannot be made durable becomes
 * KH_ERR_AUDIT: nothing is handed out unaudited.
 */
int khd_dispatch(struct khd_ctx *ctx, const struct khd_peer *p,
                 const uint8_t *frame, size_t len, struct kh_buf *reply)
{
    struct khd_error e = { .reason = "" };
    struct khd_audit_req q;
    struct kh_frame f;
    int r, er, ar;

    if ((r = kh_frame_decode(frame, len, &f)) != 0) {
        khd_warn("uid %u pid %d sent an undecodable frame: %s",
                 (unsigned)p->uid, (int)p->pid, kh_strerror(r));
        snprintf(e.reason, sizeof(e.reason), "undecodable frame: %s",
                 kh_strerror(r));
        khd_audit_event(khd_ctx_audit(ctx), p, "frame", KH_AUDIT_CAT_PROTOCOL,
                        r, e.reason);
        er = khd_reply_error(reply, 0, r, NULL);
        return er != 0 ? er : KH_ERR_PROTOCOL;
    }
    khd_audit_begin(&q, p, khd_op_name(f.type), khd_audit_category(f.type));
    /*
     * A challenge hands out a nonce and changes nothing: its entry need
     * not be durable before the reply, and an unauthenticated flood of
     * them must not cost one fdatasync each. What the operator then does
     * with it (AUTHED) is audited like any request.
     */
    if (f.type == KH_MSG_AUTH_CHALLENGE) {
        q.mode = KH_AUDIT_BATCHED;
    }
    if ((r = kh_frame_begin(reply, (uint8_t)(f.type | KH_MSG_REPLY),
                            f.request_id)) == 0) {
        if (f.type == KH_MSG_AUTHED) {
            r = khd_dispatch_authed(ctx, p, &f.body, reply, &e);
        } else {
            r = khd_dispatch_inner(ctx, p, f.type, &f.body, reply, &e);
        }
        if (r == 0) {
            r = kh_frame_end(reply);
        }
    }
    ar = khd_audit_end(khd_ctx_audit(ctx), &q, r, e.reason);
    if (r == 0 && ar != 0) {
        r = ar;
        snprintf(e.reason, sizeof(e.reason), "the audit entry could not be "
                 "stored; request not completed");
    }
    if (r == 0) {
        return KH_OK;
    }
    return khd_reply_error(reply, f.request_id, r, e.reason);
}
