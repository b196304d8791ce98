/*
 * conn.c - connections from this process to keyholderd.
 *
 * A small pool of idle connections, shared by the threads of one process:
 * a call takes one (or creates one), uses it alone and gives it back, so no
 * lock is held while waiting for the daemon. The pool remembers its pid: a
 * child after fork() (an nginx worker) drops the inherited connections
 * without any I/O on them and opens its own. A daemon restart costs one
 * failed-then-retried call inside the client library.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "provider.h"

int khp_pool_init(struct khp_pool *pool)
{
    memset(pool, 0, sizeof(*pool));
    pool->pid = getpid();
    return pthread_mutex_init(&pool->mu, NULL) == 0;
}

void khp_pool_cleanup(struct khp_pool *pool)
{
    for (unsigned i = 0; i < pool->n_idle; i++) {
        kh_client_free(pool->idle[i]); /* close(2) only */
    }
    pool->n_idle = 0;
    pthread_mutex_destroy(&pool->mu);
}

/* Caller holds the lock. After fork the idle list belongs to the parent. */
static void khp_pool_check_pid(struct khp_pool *pool)
{
    pid_t now = getpid();

    if (pool->pid != now) {
        for (unsigned i = 0; i < pool->n_idle; i++) {
            kh_client_free(pool->idle[i]);
        }
        pool->n_idle = 0;
        pool->pid = now;
    }
}

struct kh_client *khp_conn_get(struct khp_ctx *ctx)
{
    struct kh_client *c = NULL;

    pthread_mutex_lock(&ctx->pool.mu);
    khp_pool_check_pid(&ctx->pool);
    if (ctx->pool.n_idle > 0) {
        c = ctx->pool.idle[--ctx->pool.n_idle];
    }
    pthread_mutex_unlock(&ctx->pool.mu);
    if (c != NULL) {
        return c;
    }
    if (kh_client_new(ctx->socket_path, &c) != 0) {
        khp_raise(ctx, KHP_R_INTERNAL, "out of memory");
        return NULL;
    }
    kh_client_set_timeout(c, ctx->timeout_ms);
    return c;
}

void khp_conn_put(struct khp_ctx *ctx, struct kh_client *c, int ok)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&ctx->pool.mu);
    khp_pool_check_pid(&ctx->pool);
    if (ok && ctx->pool.n_idle < KHP_POOL_MAX) {
        ctx->pool.idle[ctx->pool.n_idle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&ctx->pool.mu);
    kh_client_free(c);
}

/*
 * Raises a failed call's error. Refusals by the daemon carry its reason;
 * an unreachable daemon names the socket (the client library's text does).
 */
static void khp_raise_call(struct khp_ctx *ctx, struct kh_client *c, int r,
                           const char *what)
{
    const char *why = kh_client_reason(c);

    khp_raise(ctx, khp_reason_of(r), "%s: %s", what,
              why[0] != '\0' ? why : kh_strerror(r));
}

/* A connection is worth keeping unless the transport itself failed. */
static int khp_conn_healthy(int r)
{
    return r != KH_ERR_UNAVAILABLE && r != KH_ERR_IO && r != KH_ERR_TIMEOUT &&
           r != KH_ERR_PROTOCOL;
}

/*
 * Ends a call: raises its failure as "|what|: <reason>" and returns the
 * connection to the pool (dropped if the transport failed). 1 on success.
 */
static int khp_call_end(struct khp_ctx *ctx, struct kh_client *c, int r,
                        const char *what)
{
    if (r != 0) {
        khp_raise_call(ctx, c, r, what);
    }
    khp_conn_put(ctx, c, khp_conn_healthy(r));
    return r == 0;
}

int khp_call_key_info(struct khp_ctx *ctx, const char *name, uint32_t version,
                      struct kh_key_info *out)
{
    struct kh_client *c = khp_conn_get(ctx);
    char what[KH_MAX_NAME_LEN + 64];

    if (c == NULL) {
        return 0;
    }
    if (version != 0) {
        snprintf(what, sizeof(what), "keyholder:%s;version=%u", name,
                 (unsigned)version);
    } else {
        snprintf(what, sizeof(what), "keyholder:%s", name);
    }
    return khp_call_end(ctx, c, kh_client_key_info(c, name, version, out),
                        what);
}

int khp_call_sign(struct khp_ctx *ctx, const struct kh_sign_request *req,
                  struct kh_sign_reply *out)
{
    struct kh_client *c = khp_conn_get(ctx);
    char what[KH_MAX_NAME_LEN + 64];
    int r;

    if (c == NULL) {
        return 0;
    }
    r = kh_client_sign(c, req, out);
    if (r != 0) { /* the hot path: format only for a failure */
        snprintf(what, sizeof(what), "signing with keyholder:%s", req->name);
    }
    return khp_call_end(ctx, c, r, what);
}

int khp_call_generate(struct khp_ctx *ctx, const struct kh_keygen_request *req,
                      struct kh_key_info *out)
{
    struct kh_client *c = khp_conn_get(ctx);
    char what[KH_MAX_NAME_LEN + 64];

    if (c == NULL) {
        return 0;
    }
    snprintf(what, sizeof(what), "generating keyholder:%s", req->name);
    return khp_call_end(ctx, c, kh_client_key_generate(c, req, out), what);
}

int khp_call_key_list(struct khp_ctx *ctx,
                      int (*cb)(const struct kh_key_info *, void *),
                      void *arg)
{
    struct kh_client *c = khp_conn_get(ctx);

    if (c == NULL) {
        return 0;
    }
    return khp_call_end(ctx, c, kh_client_key_list(c, cb, arg),
                        "listing keyholder keys");
}

int khp_call_cert_get(struct khp_ctx *ctx, const char *name, uint8_t **der,
                      size_t *len)
{
    struct kh_client *c = khp_conn_get(ctx);
    char what[KH_MAX_NAME_LEN + 64];
    int r;

    *der = NULL;
    *len = 0;
    if (c == NULL) {
        return 0;
    }
    r = kh_client_cert_get(c, name, der, len);
    if (r == KH_ERR_NOT_FOUND) {
        r = KH_OK; /* no certificate stored: not an error */
    }
    snprintf(what, sizeof(what), "certificate of keyholder:%s", name);
    return khp_call_end(ctx, c, r, what);
}
