#include "kh_client.h"

#include "kh_auth.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>

struct kh_client {
    char *path;
    int fd;
    int timeout_ms;
    uint32_t next_id;
    char reason[KH_MAX_REASON_LEN + 128];
    char op[KH_MAX_NAME_LEN + 1]; /* operator; "" = plain requests */
    kh_client_sign_fn sign;
    void *sign_arg;
};

static int kh_client_fail(struct kh_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int kh_client_fail(struct kh_client *c, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
    va_end(ap);
    return code;
}

const char *kh_client_socket_path(const char *explicit_path)
{
    const char *env;

    if (explicit_path != NULL && explicit_path[0] != '\0') {
        return explicit_path;
    }
    env = getenv("KEYHOLDER_SOCKET");
    return env != NULL && env[0] != '\0' ? env : KH_DEFAULT_SOCKET;
}

int kh_client_new(const char *path, struct kh_client **out)
{
    struct kh_client *c;

    *out = NULL;
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        return KH_ERR_ALLOC;
    }
    if ((c->path = strdup(kh_client_socket_path(path))) == NULL) {
        free(c);
        return KH_ERR_ALLOC;
    }
    c->fd = -1;
    c->timeout_ms = KH_CLIENT_DEFAULT_TIMEOUT_MS;
    c->next_id = 1;
    *out = c;
    return KH_OK;
}

static void kh_client_disconnect(struct kh_client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

void kh_client_free(struct kh_client *c)
{
    if (c == NULL) {
        return;
    }
    kh_client_disconnect(c);
    free(c->path);
    free(c);
}

/* Bounds every blocking send and recv on the socket by the timeout. */
static void kh_client_apply_timeout(struct kh_client *c)
{
    struct timeval tv;

    if (c->fd < 0) {
        return;
    }
    tv.tv_sec = c->timeout_ms / 1000;
    tv.tv_usec = (c->timeout_ms % 1000) * 1000;
    (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    (void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

void kh_client_set_timeout(struct kh_client *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : KH_CLIENT_DEFAULT_TIMEOUT_MS;
    kh_client_apply_timeout(c);
}

const char *kh_client_reason(const struct kh_client *c)
{
    return c->reason;
}

int kh_client_connect(struct kh_client *c)
{
    struct sockaddr_un sa;

    if (c->fd >= 0) {
        return KH_OK;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(c->path) >= sizeof(sa.sun_path)) {
        return kh_client_fail(c, KH_ERR_INVALID_ARGUMENT,
                              "socket path too long: %s", c->path);
    }
    memcpy(sa.sun_path, c->path, strlen(c->path));
    if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        return kh_client_fail(c, KH_ERR_UNAVAILABLE, "socket: %s",
                              strerror(errno));
    }
    /* A Unix connect does not block for long; bound it anyway. */
    kh_client_apply_timeout(c);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = errno;

        kh_client_disconnect(c);
        return kh_client_fail(c, KH_ERR_UNAVAILABLE,
                              "cannot connect to keyholderd at %s: %s",
                              c->path, strerror(err));
    }
    return KH_OK;
}

static int64_t kh_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for |events| on the socket until |deadline|. */
static int kh_client_wait(struct kh_client *c, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = { .fd = c->fd, .events = events };
        int64_t left = deadline - kh_now_ms();
        int n;

        if (left <= 0) {
            return KH_ERR_TIMEOUT;
        }
        n = poll(&pfd, 1, (int)left);
        if (n > 0) {
            return KH_OK;
        }
        if (n < 0 && errno != EINTR) {
            return KH_ERR_IO;
        }
    }
}

static int kh_client_send_all(struct kh_client *c, const uint8_t *p, size_t n,
                              int64_t deadline)
{
    size_t done = 0;
    int r;

    while (done < n) {
        ssize_t k = send(c->fd, p + done, n - done,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (k >= 0) {
            done += (size_t)k;
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN) {
            return KH_ERR_IO;
        }
        if ((r = kh_client_wait(c, POLLOUT, deadline)) != 0) {
            return r;
        }
    }
    return KH_OK;
}

static int kh_client_recv_all(struct kh_client *c, uint8_t *p, size_t n,
                              int64_t deadline)
{
    size_t got = 0;
    int r;

    while (got < n) {
        ssize_t k = recv(c->fd, p + got, n - got, MSG_DONTWAIT);

        if (k > 0) {
            got += (size_t)k;
            continue;
        }
        if (k == 0) {
            return KH_ERR_IO; /* daemon closed the connection */
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN) {
            return KH_ERR_IO;
        }
        if ((r = kh_client_wait(c, POLLIN, deadline)) != 0) {
            return r;
        }
    }
    return KH_OK;
}

/* Replies up to this size arrive in one recv with their header. */
#define KH_CLIENT_FIRST_READ 4096

/*
 * Reads one reply frame for request |id| into |frame| (cleared first): a
 * poll, then one recv that takes header and body at once for most replies.
 */
static int kh_client_read_reply(struct kh_client *c, uint32_t id,
                                int64_t deadline, struct kh_buf *frame,
                                struct kh_frame *f)
{
    uint8_t first[KH_CLIENT_FIRST_READ];
    uint8_t *p;
    uint32_t len;
    size_t got = 0, body;
    int r;

    while (got < KH_FRAME_HEADER_LEN) {
        ssize_t k;

        /*
         * Wait in poll(POLLIN), never in a blocking recv(): a thread asleep
         * in recv() on a Unix stream socket is also woken each time the
         * daemon reads what this socket sent (the kernel's write-space
         * wake-up does not filter by event), one futile wake-up per
         * request; a poll() waiter sleeps through it. Waiting first saves
         * a recv: right after the request the reply is never there yet.
         */
        if ((r = kh_client_wait(c, POLLIN, deadline)) != 0) {
            return r;
        }
        k = recv(c->fd, first + got, sizeof(first) - got, MSG_DONTWAIT);
        if (k > 0) {
            got += (size_t)k;
            continue;
        }
        if (k == 0) {
            return KH_ERR_IO;
        }
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            return KH_ERR_IO;
        }
    }
    if ((r = kh_frame_check_len(first, &len)) != 0) {
        return KH_ERR_PROTOCOL;
    }
    body = got - KH_FRAME_HEADER_LEN;
    if (body > len) {
        r = KH_ERR_PROTOCOL; /* bytes beyond the one reply we asked for */
        goto out;
    }
    if ((r = kh_buf_reserve(frame, len, &p)) != 0) {
        goto out;
    }
    memcpy(p, first + KH_FRAME_HEADER_LEN, body);
    if ((r = kh_client_recv_all(c, p + body, len - body, deadline)) != 0) {
        goto out;
    }
    if (kh_frame_decode(p, len, f) != 0 ||
        (f->request_id != id && f->request_id != 0)) {
        r = KH_ERR_PROTOCOL;
        goto out;
    }
    r = KH_OK;
out:
    OPENSSL_cleanse(first, got);
    return r;
}

static int kh_client_io_fail(struct kh_client *c, int r)
{
    kh_client_disconnect(c);
    switch (r) {
    case KH_ERR_TIMEOUT:
        return kh_client_fail(c, r, "keyholderd at %s did not answer within "
                              "%d ms", c->path, c->timeout_ms);
    case KH_ERR_PROTOCOL:
        return kh_client_fail(c, r, "keyholderd at %s sent a malformed reply",
                              c->path);
    default:
        return kh_client_fail(c, KH_ERR_UNAVAILABLE,
                              "lost the connection to keyholderd at %s",
                              c->path);
    }
}

/*
 * One attempt: connect if needed, send, receive. |*sent| tells whether
 * the request may have reached the daemon.
 */
static int kh_client_try(struct kh_client *c, const struct kh_buf *req,
                         uint32_t id, struct kh_buf *frame,
                         struct kh_frame *f, int *sent)
{
    int64_t deadline = kh_now_ms() + c->timeout_ms;
    int r;

    *sent = 0;
    if ((r = kh_client_connect(c)) != 0) {
        return r;
    }
    /* A stale connection to a restarted daemon shows up as EOF/EPIPE. */
    r = kh_client_send_all(c, kh_buf_data(req), kh_buf_size(req), deadline);
    if (r != 0) {
        return kh_client_io_fail(c, r);
    }
    *sent = 1;
    kh_buf_reset(frame);
    if ((r = kh_client_read_reply(c, id, deadline, frame, f)) != 0) {
        return kh_client_io_fail(c, r);
    }
    return KH_OK;
}

static int kh_client_call_raw(struct kh_client *c, uint8_t type,
                              const uint8_t *body, size_t len,
                              int idempotent, struct kh_buf *reply)
{
    struct kh_buf req, frame;
    struct kh_frame f;
    uint32_t id = c->next_id++;
    int r, sent, reused = c->fd >= 0;

    c->reason[0] = '\0';
    kh_buf_init_writer(&req, KH_FRAME_HEADER_LEN + KH_MAX_FRAME_LEN);
    kh_buf_init_writer(&frame, KH_MAX_FRAME_LEN);
    if ((r = kh_frame_begin(&req, type, id)) != 0 ||
        (r = kh_buf_put_bytes(&req, body, len)) != 0 ||
        (r = kh_frame_end(&req)) != 0) {
        r = kh_client_fail(c, r, "request too large: %s", kh_strerror(r));
        goto out;
    }
    r = kh_client_try(c, &req, id, &frame, &f, &sent);
    /*
     * A connection that worked before may be stale (daemon restarted):
     * retry once on a fresh one, unless the daemon may have acted on a
     * request that must not run twice.
     */
    if (r != 0 && reused && r != KH_ERR_TIMEOUT &&
        (!sent || idempotent)) {
        r = kh_client_try(c, &req, id, &frame, &f, &sent);
    }
    if (r != 0) {
        goto out;
    }
    if (f.type == KH_MSG_ERROR) {
        struct kh_error_reply e;

        if (kh_error_decode(&f.body, &e) != 0) {
            r = kh_client_io_fail(c, KH_ERR_PROTOCOL);
            goto out;
        }
        r = kh_client_fail(c, e.code, "%s", e.reason);
        goto out;
    }
    if (f.type != (type | KH_MSG_REPLY)) {
        r = kh_client_io_fail(c, KH_ERR_PROTOCOL);
        goto out;
    }
    r = kh_buf_put_bytes(reply, kh_buf_ptr(&f.body), kh_buf_len(&f.body));
out:
    kh_buf_free(&req);
    kh_buf_free(&frame);
    return r;
}

int kh_client_set_operator(struct kh_client *c, const char *op,
                           kh_client_sign_fn sign, void *arg)
{
    if (op == NULL || sign == NULL || strlen(op) > KH_MAX_NAME_LEN ||
        !kh_name_valid(op)) {
        return kh_client_fail(c, KH_ERR_INVALID_ARGUMENT,
                              "invalid operator name '%.80s'",
                              op != NULL ? op : "(null)");
    }
    snprintf(c->op, sizeof(c->op), "%s", op);
    c->sign = sign;
    c->sign_arg = arg;
    return KH_OK;
}

int kh_client_challenge(struct kh_client *c, uint8_t nonce[32],
                        uint32_t *ttl)
{
    struct kh_challenge_reply ch;
    struct kh_buf reply;
    int r;

    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    r = kh_client_call_raw(c, KH_MSG_AUTH_CHALLENGE, NULL, 0, 1, &reply);
    if (r == 0 && kh_challenge_decode(&reply, &ch) != 0) {
        r = kh_client_io_fail(c, KH_ERR_PROTOCOL);
    } else if (r == 0) {
        memcpy(nonce, ch.nonce, sizeof(ch.nonce));
        *ttl = ch.ttl;
    }
    kh_buf_free(&reply);
    return r;
}

/* Sends |type| + |body| for |nonce| in an AUTHED envelope. */
static int kh_client_send_authed(struct kh_client *c, uint8_t type,
                                 const uint8_t nonce[KH_AUTH_NONCE_LEN],
                                 const uint8_t *body, size_t len,
                                 struct kh_buf *reply)
{
    struct kh_authed m = { .inner_type = type, .inner = body,
                           .inner_len = len };
    uint8_t sig[KH_MAX_OPSIG_LEN];
    struct kh_buf tbs, env;
    int r;

    kh_buf_init_writer(&tbs, KH_MAX_FRAME_LEN + 256);
    kh_buf_init_writer(&env, KH_MAX_FRAME_LEN);
    snprintf(m.op, sizeof(m.op), "%s", c->op);
    memcpy(m.nonce, nonce, sizeof(m.nonce));
    m.sig = sig;
    m.sig_len = sizeof(sig);
    if ((r = kh_auth_tbs(&tbs, m.nonce, m.op, type, body, len)) != 0 ||
        (r = c->sign(c->sign_arg, kh_buf_data(&tbs), kh_buf_size(&tbs), sig,
                     &m.sig_len)) != 0) {
        r = kh_client_fail(c, r, "cannot sign the request as operator "
                           "'%s': %s", c->op, kh_strerror(r));
        goto out;
    }
    if ((r = kh_authed_encode(&env, &m)) != 0) {
        r = kh_client_fail(c, r, "request too large for an operator "
                           "envelope: %s", kh_strerror(r));
        goto out;
    }
    r = kh_client_call_raw(c, KH_MSG_AUTHED, kh_buf_data(&env),
                           kh_buf_size(&env), 0, reply);
out:
    kh_buf_free(&tbs);
    kh_buf_free(&env);
    return r;
}

/* Wraps |type| + |body| in an AUTHED envelope signed by the operator. */
static int kh_client_call_authed(struct kh_client *c, uint8_t type,
                                 const uint8_t *body, size_t len,
                                 struct kh_buf *reply)
{
    uint8_t nonce[KH_AUTH_NONCE_LEN];
    uint32_t ttl;
    int r;

    if ((r = kh_client_challenge(c, nonce, &ttl)) != 0) {
        return r;
    }
    return kh_client_send_authed(c, type, nonce, body, len, reply);
}

int kh_client_call_bound(struct kh_client *c, uint8_t type,
                         kh_client_body_fn build, void *arg,
                         struct kh_buf *reply)
{
    uint8_t nonce[KH_AUTH_NONCE_LEN];
    struct kh_buf body;
    uint32_t ttl;
    int r;

    c->reason[0] = '\0';
    if (c->sign == NULL) {
        return kh_client_fail(c, KH_ERR_AUTH_FAILED, "this request needs an "
                              "operator (--as NAME --key KEY)");
    }
    if ((r = kh_client_challenge(c, nonce, &ttl)) != 0) {
        return r;
    }
    kh_buf_init_writer(&body, KH_MAX_INNER_LEN);
    if ((r = build(arg, nonce, &body)) != 0) {
        if (c->reason[0] == '\0') {
            r = kh_client_fail(c, r, "cannot build the request: %s",
                               kh_strerror(r));
        }
    } else {
        r = kh_client_send_authed(c, type, nonce, kh_buf_data(&body),
                                  kh_buf_size(&body), reply);
    }
    kh_buf_free(&body);
    return r;
}

int kh_client_call(struct kh_client *c, uint8_t type, const uint8_t *body,
                   size_t len, int idempotent, struct kh_buf *reply)
{
    if (c->sign != NULL && type != KH_MSG_AUTH_CHALLENGE &&
        type != KH_MSG_AUTHED) {
        return kh_client_call_authed(c, type, body, len, reply);
    }
    return kh_client_call_raw(c, type, body, len, idempotent, reply);
}

/*- Typed calls -------------------------------------------------------- */

/* Runs a call whose request body is in |body| and decodes with |dec|. */
static int kh_client_simple(struct kh_client *c, uint8_t type, int idem,
                            struct kh_buf *body, struct kh_buf *reply)
{
    return kh_client_call(c, type, kh_buf_data(body), kh_buf_size(body),
                          idem, reply);
}

static int kh_client_bad_reply(struct kh_client *c, int r)
{
    (void)r;
    return kh_client_io_fail(c, KH_ERR_PROTOCOL);
}

int kh_client_status(struct kh_client *c, struct kh_status_reply *out)
{
    struct kh_buf body, reply;
    int r;

    kh_buf_init_writer(&body, 0);
    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if ((r = kh_client_simple(c, KH_MSG_STATUS, 1, &body, &reply)) == 0 &&
        kh_status_decode(&reply, out) != 0) {
        r = kh_client_bad_reply(c, r);
    }
    kh_buf_free(&reply);
    return r;
}

static int kh_client_empty_call(struct kh_client *c, uint8_t type)
{
    struct kh_buf body, reply;
    int r;

    kh_buf_init_writer(&body, 0);
    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if ((r = kh_client_simple(c, type, 0, &body, &reply)) == 0 &&
        kh_buf_expect_end(&reply) != 0) {
        r = kh_client_bad_reply(c, r);
    }
    kh_buf_free(&reply);
    return r;
}

int kh_client_init_dev(struct kh_client *c)
{
    return kh_client_empty_call(c, KH_MSG_INIT_DEV);
}

int kh_client_seal(struct kh_client *c)
{
    return kh_client_empty_call(c, KH_MSG_SEAL);
}

int kh_client_unseal_dev(struct kh_client *c)
{
    return kh_client_empty_call(c, KH_MSG_UNSEAL_DEV);
}

static int kh_client_info_reply(struct kh_client *c, struct kh_buf *reply,
                                struct kh_key_info *out)
{
    if (kh_key_info_decode(reply, out) != 0 ||
        kh_buf_expect_end(reply) != 0) {
        return kh_client_bad_reply(c, KH_ERR_PROTOCOL);
    }
    return KH_OK;
}

int kh_client_key_generate(struct kh_client *c,
                           const struct kh_keygen_request *req,
                           struct kh_key_info *out)
{
    struct kh_buf body, reply;
    int r;

    kh_buf_init_writer(&body, KH_MAX_FRAME_LEN);
    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if ((r = kh_keygen_encode(&body, req)) != 0) {
        r = kh_client_fail(c, r, "invalid key generation request");
    } else if ((r = kh_client_simple(c, KH_MSG_KEY_GENERATE, 0, &body,
                                     &reply)) == 0) {
        r = kh_client_info_reply(c, &reply, out);
    }
    kh_buf_free(&body);
    kh_buf_free(&reply);
    return r;
}

int kh_client_key_info(struct kh_client *c, const char *name,
                       uint32_t version, struct kh_key_info *out)
{
    struct kh_key_ref ref = { .version = version };
    struct kh_buf body, reply;
    int r;

    if (strlen(name) > KH_MAX_NAME_LEN || !kh_name_valid(name)) {
        return kh_client_fail(c, KH_ERR_INVALID_ARGUMENT,
                              "invalid key name '%.80s'", name);
    }
    snprintf(ref.name, sizeof(ref.name), "%s", name);
    kh_buf_init_writer(&body, KH_MAX_FRAME_LEN);
    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if ((r = kh_key_ref_encode(&body, &ref)) == 0 &&
        (r = kh_client_simple(c, KH_MSG_KEY_INFO, 1, &body, &reply)) == 0) {
        r = kh_client_info_reply(c, &reply, out);
    }
    kh_buf_free(&body);
    kh_buf_free(&reply);
    return r;
}

int kh_client_key_list(struct kh_client *c,
                       int (*cb)(const struct kh_key_info *, void *),
                       void *arg)
{
    struct kh_list_request req = { .after = "" };
    struct kh_key_info *info;
    struct kh_buf body, reply;
    uint8_t more = 1;
    int r = KH_OK;

    if ((info = malloc(sizeof(*info))) == NULL) {
        return KH_ERR_ALLOC;
    }
    kh_buf_init_writer(&body, KH_MAX_FRAME_LEN);
    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    while (more && r == 0) {
        uint32_t count;

        kh_buf_reset(&body);
        kh_buf_reset(&reply);
        if ((r = kh_list_request_encode(&body, &req)) != 0 ||
            (r = kh_client_simple(c, KH_MSG_KEY_LIST, 1, &body, &reply)) !=
                0) {
            break;
        }
        if (kh_list_reply_decode_header(&reply, &more, &count) != 0) {
            r = kh_client_bad_reply(c, r);
            break;
        }
        for (uint32_t i = 0; i < count && r == 0; i++) {
            if (kh_key_info_decode(&reply, info) != 0) {
                r = kh_client_bad_reply(c, r);
                break;
            }
            snprintf(req.after, sizeof(req.after), "%s", info->name);
            r = cb(info, arg);
        }
        if (r == 0 && kh_buf_expect_end(&reply) != 0) {
            r = kh_client_bad_reply(c, r);
        }
        if (r == 0 && more && count == 0) {
            r = kh_client_bad_reply(c, r); /* no progress: refuse to spin */
        }
    }
    kh_buf_free(&body);
    kh_buf_free(&reply);
    free(info);
    return r;
}

int kh_client_sign(struct kh_client *c, const struct kh_sign_request *req,
                   struct kh_sign_reply *out)
{
    struct kh_buf body, reply;
    int r;

    kh_buf_init_writer(&body, KH_MAX_FRAME_LEN);
    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if ((r = kh_sign_request_encode(&body, req)) != 0) {
        r = kh_client_fail(c, r, "invalid signing request: %s",
                           kh_strerror(r));
    } else if ((r = kh_client_simple(c, KH_MSG_KEY_SIGN, 1, &body,
                                     &reply)) == 0 &&
               kh_sign_reply_decode(&reply, out) != 0) {
        r = kh_client_bad_reply(c, r);
    }
    kh_buf_free(&body); /* wipes the data to be signed */
    kh_buf_free(&reply);
    return r;
}

/* Copies a key name into a request field; KH_ERR_INVALID_ARGUMENT if bad. */
static int kh_client_name(struct kh_client *c, const char *name,
                          char out[KH_MAX_NAME_LEN + 1])
{
    if (name == NULL || strlen(name) > KH_MAX_NAME_LEN ||
        !kh_name_valid(name)) {
        return kh_client_fail(c, KH_ERR_INVALID_ARGUMENT,
                              "invalid key name '%.80s'",
                              name != NULL ? name : "(null)");
    }
    snprintf(out, KH_MAX_NAME_LEN + 1, "%s", name);
    return KH_OK;
}

int kh_client_cert_import(struct kh_client *c, const char *name,
                          const uint8_t *der, size_t len)
{
    struct kh_cert_import_request req = { .der = der, .der_len = len };
    struct kh_buf body, reply;
    int r;

    c->reason[0] = '\0';
    if ((r = kh_client_name(c, name, req.name)) != 0) {
        return r;
    }
    if (len > KH_MAX_CERT_LEN) {
        return kh_client_fail(c, KH_ERR_TOO_LARGE,
                              "a certificate of %zu bytes; at most %u are "
                              "stored", len, KH_MAX_CERT_LEN);
    }
    if (der == NULL || len == 0) {
        return kh_client_fail(c, KH_ERR_INVALID_ARGUMENT,
                              "no certificate given");
    }
    kh_buf_init_writer(&body, KH_MAX_FRAME_LEN);
    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if ((r = kh_cert_import_encode(&body, &req)) != 0) {
        r = kh_client_fail(c, r, "invalid certificate import request: %s",
                           kh_strerror(r));
    } else if ((r = kh_client_simple(c, KH_MSG_CERT_IMPORT, 1, &body,
                                     &reply)) == 0 &&
               kh_buf_expect_end(&reply) != 0) {
        r = kh_client_bad_reply(c, r);
    }
    kh_buf_free(&body);
    kh_buf_free(&reply);
    return r;
}

int kh_client_cert_get(struct kh_client *c, const char *name, uint8_t **der,
                       size_t *len)
{
    struct kh_cert_get_request req;
    struct kh_cert_get_reply rep;
    struct kh_buf body, reply;
    int r;

    *der = NULL;
    *len = 0;
    c->reason[0] = '\0';
    if ((r = kh_client_name(c, name, req.name)) != 0) {
        return r;
    }
    kh_buf_init_writer(&body, KH_MAX_FRAME_LEN);
    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    if ((r = kh_cert_get_request_encode(&body, &req)) != 0 ||
        (r = kh_client_simple(c, KH_MSG_CERT_GET, 1, &body, &reply)) != 0) {
        goto out;
    }
    if (kh_cert_get_reply_decode(&reply, &rep) != 0) {
        r = kh_client_bad_reply(c, r);
        goto out;
    }
    if (!rep.present) {
        r = kh_client_fail(c, KH_ERR_NOT_FOUND,
                           "key '%s' has no certificate", req.name);
        goto out;
    }
    if ((*der = malloc(rep.der_len)) == NULL) {
        r = kh_client_fail(c, KH_ERR_ALLOC, "out of memory");
        goto out;
    }
    memcpy(*der, rep.der, rep.der_len);
    *len = rep.der_len;
out:
    kh_buf_free(&body);
    kh_buf_free(&reply);
    return r;
}
