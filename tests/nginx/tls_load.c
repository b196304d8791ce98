/*
 * tls_load - a load client of full TLS handshakes, for the nginx tests and
 * the TLS benchmark (tests/bench/bench_tls.sh).
 *
 *   tls_load --connect HOST:PORT --cafile CERT
 *            (--handshakes N | --seconds S | both)
 *            [--threads T] [--tls1.2|--tls1.3] [--sigalgs LIST]
 *            [--groups LIST] [--servername NAME] [--timeout-ms MS]
 *            [--quiet]
 *
 * Each thread has its own SSL_CTX with session caching and tickets off and
 * never offers a session, so every connection is a full handshake: the
 * server signs once per connection. The server certificate must verify
 * against CERT (SSL_VERIFY_PEER); with --servername the name is also
 * checked against the certificate and sent as SNI (an IP address is
 * checked against the IP SANs and not sent: SNI carries host names only).
 * After the handshake the thread sends "GET / HTTP/1.0" and reads the
 * response to its end: a connection passes only if a status line
 * "HTTP/1.x NNN" came back, which proves the session keys work both ways.
 * The socket is then closed with SO_LINGER 0 (an RST, after the server's
 * own close), so tens of thousands of connections leave no TIME_WAIT.
 *
 * It stops after N connections (shared by all threads), or after S
 * seconds, whichever comes first; each connection (TCP connect, handshake,
 * request, response) has a deadline of --timeout-ms (default 5000), so a
 * dead server turns into quick failures, never a hang. A thread pauses
 * 10 ms after a failed connection, so a refusing server is not flooded.
 * It connects only to HOST:PORT (the tests use 127.0.0.1).
 *
 * Output, last two lines:
 *   handshakes/s 812.3  p50 4.61 ms  p99 9.80 ms  TLSv1.3  ECDSA+SHA256
 *     group x25519  TLS_AES_256_GCM_SHA384  http 200  client-cpu 540 us/hs
 *     (4 threads, 5.00 s)                                   [one line]
 *   N passed, M failed
 * handshakes/s is passed connections over the wall time of the run;
 * latency is TCP connect to handshake done, over passed connections;
 * protocol, signature algorithm, group, cipher and HTTP status are those
 * of the first passed connection; client-cpu is this process's CPU time
 * per passed connection. Unless --quiet, the first failures' reasons go
 * to stderr.
 *
 * Exit: 0 no failure (and at least one connection), 1 a failure,
 * 2 usage or set-up error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TL_MAX_THREADS 256
#define TL_MAX_HANDSHAKES 100000000ull
#define TL_MAX_SECONDS 3600.0
#define TL_DEFAULT_TIMEOUT_MS 5000
#define TL_MAX_TIMEOUT_MS 600000
#define TL_MAX_REPORTED_FAILURES 5
#define TL_REASON_LEN 256
#define TL_INFO_LEN 64
#define TL_MAX_RESPONSE (1024 * 1024)  /* bytes read from one response */
#define TL_FAIL_PAUSE_NS 10000000ull   /* 10 ms after a failed connection */
#define TL_NS 1000000000ull
#define TL_MS 1000000ull

enum tl_proto {
    TL_PROTO_ANY = 0,
    TL_PROTO_12 = 1,
    TL_PROTO_13 = 2,
};

struct tl_opts {
    const char *host;
    const char *port;
    const char *cafile;
    const char *sigalgs;
    const char *groups;
    const char *servername;
    unsigned long long handshakes;  /* 0 = no count limit */
    double seconds;                 /* 0 = no time limit */
    unsigned threads;
    unsigned timeout_ms;
    enum tl_proto proto;
    int quiet;
};

/* What the first passed connection negotiated. */
struct tl_first {
    char protocol[TL_INFO_LEN];
    char sigalg[TL_INFO_LEN];
    char group[TL_INFO_LEN];
    char cipher[TL_INFO_LEN];
    int http_status;
};

/*
 * Shared by all threads. While they run, only the atomics change, and
 * first (written once, by whoever sets first_taken).
 */
struct tl_job {
    const struct tl_opts *opts;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char request[512];
    size_t request_len;
    int name_is_ip;                 /* --servername is an address: no SNI */
    uint64_t deadline_ns;           /* end of the run; 0 = none */
    atomic_ullong claimed;          /* connections started (count mode) */
    atomic_uint reported;           /* failures printed so far */
    atomic_int first_taken;
    struct tl_first first;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int go;                         /* under mu: 1 run, -1 abort */
};

struct tl_worker {
    struct tl_job *job;
    pthread_t tid;
    SSL_CTX *ctx;
    uint64_t *lat;                  /* ns per passed connection */
    size_t n_lat;
    size_t cap_lat;
    unsigned long long failed;
    uint64_t t_start;
    uint64_t t_end;
};

static uint64_t tl_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * TL_NS + (uint64_t)ts.tv_nsec;
}

/* Prints one failure reason, for the first few failures of the run only. */
static void tl_report(struct tl_job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tl_report(struct tl_job *job, const char *fmt, ...)
{
    char msg[TL_REASON_LEN];
    unsigned n;
    va_list ap;

    if (job->opts->quiet) {
        return;
    }
    n = atomic_fetch_add(&job->reported, 1);
    if (n >= TL_MAX_REPORTED_FAILURES) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "tls_load: failure: %s%s\n", msg,
            n + 1 == TL_MAX_REPORTED_FAILURES ? " (further failures not shown)"
                                               : "");
}

/* The newest OpenSSL error of this thread as text ("" if none). */
static void tl_ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();

    buf[0] = '\0';
    if (e != 0) {
        ERR_error_string_n(e, buf, len);
    }
    ERR_clear_error();
}

/*
 * Waits until fd is ready for what SSL (or connect) wants, or the deadline.
 * Returns 0 ready, -1 timeout or poll error (errno set).
 */
static int tl_wait(int fd, short events, uint64_t deadline)
{
    struct pollfd p = { .fd = fd, .events = events };
    uint64_t now;
    int r;

    for (;;) {
        now = tl_now_ns();
        if (now >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        r = poll(&p, 1, (int)((deadline - now + TL_MS - 1) / TL_MS));
        if (r > 0) {
            return 0;
        }
        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR) {
            return -1;
        }
    }
}

/* Non-blocking TCP connect with a deadline. Returns the fd, or -1. */
static int tl_connect(struct tl_job *job, uint64_t deadline)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    int one = 1;
    int fd, err = 0;
    socklen_t elen = sizeof(err);

    fd = socket(job->addr.ss_family,
                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        tl_report(job, "socket: %s", strerror(errno));
        return -1;
    }
    /* Closing sends an RST: no TIME_WAIT left behind on either side. */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&job->addr, job->addr_len) != 0) {
        if (errno != EINPROGRESS) {
            tl_report(job, "connect %s:%s: %s", job->opts->host,
                      job->opts->port, strerror(errno));
            goto fail;
        }
        if (tl_wait(fd, POLLOUT, deadline) != 0) {
            tl_report(job, "connect %s:%s: %s", job->opts->host,
                      job->opts->port, strerror(errno));
            goto fail;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 ||
            err != 0) {
            tl_report(job, "connect %s:%s: %s", job->opts->host,
                      job->opts->port, strerror(err != 0 ? err : errno));
            goto fail;
        }
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/*
 * Drives one SSL call (ret = its return value) through WANT_READ /
 * WANT_WRITE. Returns 1 retry the call, 0 clean end of stream (only when
 * eof_ok), -1 failure (reported under the name what).
 */
static int tl_ssl_step(struct tl_job *job, SSL *ssl, int fd, int ret,
                       uint64_t deadline, const char *what, int eof_ok)
{
    char why[TL_REASON_LEN];
    int e = SSL_get_error(ssl, ret);
    long vr;

    switch (e) {
    case SSL_ERROR_WANT_READ:
        if (tl_wait(fd, POLLIN, deadline) == 0) {
            return 1;
        }
        tl_report(job, "%s: %s", what, strerror(errno));
        return -1;
    case SSL_ERROR_WANT_WRITE:
        if (tl_wait(fd, POLLOUT, deadline) == 0) {
            return 1;
        }
        tl_report(job, "%s: %s", what, strerror(errno));
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        if (eof_ok) {
            return 0;
        }
        tl_report(job, "%s: connection closed by the server", what);
        return -1;
    case SSL_ERROR_SYSCALL:
        tl_report(job, "%s: %s", what,
                  errno != 0 ? strerror(errno) : "unexpected EOF");
        ERR_clear_error();
        return -1;
    default:
        vr = SSL_get_verify_result(ssl);
        tl_ssl_reason(why, sizeof(why));
        if (vr != X509_V_OK) {
            tl_report(job, "%s: certificate verify failed: %s", what,
                      X509_verify_cert_error_string(vr));
        } else {
            tl_report(job, "%s: %s", what, why[0] != '\0' ? why : "SSL error");
        }
        return -1;
    }
}

/* "ECDSA+SHA256", "RSA-PSS+SHA256", "Ed25519", like s_client says it. */
static void tl_sigalg_name(SSL *ssl, char *buf, size_t len)
{
    int type = NID_undef, md = NID_undef;
    const char *t, *m = NULL;

    if (!SSL_get_peer_signature_type_nid(ssl, &type)) {
        snprintf(buf, len, "none");
        return;
    }
    switch (type) {
    case EVP_PKEY_EC:
        t = "ECDSA";
        break;
    case EVP_PKEY_RSA:
        t = "RSA-PKCS1";
        break;
    case EVP_PKEY_RSA_PSS:
        t = "RSA-PSS";
        break;
    case EVP_PKEY_ED25519:
        t = "Ed25519";
        break;
    case EVP_PKEY_ED448:
        t = "Ed448";
        break;
    default:
        t = OBJ_nid2sn(type);
        break;
    }
    if (SSL_get_peer_signature_nid(ssl, &md) && md != NID_undef) {
        m = OBJ_nid2sn(md);
    }
    snprintf(buf, len, "%s%s%s", t != NULL ? t : "?", m != NULL ? "+" : "",
             m != NULL ? m : "");
}

static void tl_record_first(struct tl_job *job, SSL *ssl, int status)
{
    struct tl_first *f = &job->first;
    const char *g;
    int gid;

    if (atomic_exchange(&job->first_taken, 1) != 0) {
        return;
    }
    snprintf(f->protocol, sizeof(f->protocol), "%s", SSL_get_version(ssl));
    tl_sigalg_name(ssl, f->sigalg, sizeof(f->sigalg));
    gid = SSL_get_negotiated_group(ssl);
    g = gid != 0 ? SSL_group_to_name(ssl, gid) : NULL;
    snprintf(f->group, sizeof(f->group), "%s", g != NULL ? g : "none");
    snprintf(f->cipher, sizeof(f->cipher), "%s", SSL_get_cipher_name(ssl));
    f->http_status = status;
}

/* Parses "HTTP/1.x NNN"; returns NNN, or -1. */
static int tl_http_status(const char *buf, size_t len)
{
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' ||
        buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' ||
        buf[11] < '0' || buf[11] > '9') {
        return -1;
    }
    return (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
}

/*
 * One connection: connect, full handshake, request, response.
 * Returns 0 passed (latency in *lat_ns), -1 failed (reported).
 */
static int tl_one(struct tl_worker *w, uint64_t *lat_ns)
{
    struct tl_job *job = w->job;
    uint64_t t0 = tl_now_ns();
    uint64_t deadline = t0 + (uint64_t)job->opts->timeout_ms * TL_MS;
    char head[16];
    char buf[4096];
    size_t head_len = 0, got = 0, sent = 0, n;
    SSL *ssl = NULL;
    int fd, r, ok = -1, status;

    fd = tl_connect(job, deadline);
    if (fd < 0) {
        return -1;
    }
    ssl = SSL_new(w->ctx);
    if (ssl == NULL || !SSL_set_fd(ssl, fd)) {
        tl_report(job, "SSL_new: out of memory");
        goto out;
    }
    if (job->opts->servername != NULL && !job->name_is_ip &&
        !SSL_set_tlsext_host_name(ssl, job->opts->servername)) {
        tl_report(job, "SNI %s refused", job->opts->servername);
        goto out;
    }
    SSL_set_connect_state(ssl);
    while ((r = SSL_do_handshake(ssl)) != 1) {
        if (tl_ssl_step(job, ssl, fd, r, deadline, "handshake", 0) != 1) {
            goto out;
        }
    }
    *lat_ns = tl_now_ns() - t0;
    if (SSL_session_reused(ssl)) {
        tl_report(job, "handshake: session resumed (must be full)");
        goto out;
    }

    while (sent < job->request_len) {
        r = SSL_write_ex(ssl, job->request + sent, job->request_len - sent,
                         &n);
        if (r == 1) {
            sent += n;
            continue;
        }
        if (tl_ssl_step(job, ssl, fd, r, deadline, "request", 0) != 1) {
            goto out;
        }
    }
    /* HTTP/1.0: the response ends when the server closes. */
    for (;;) {
        r = SSL_read_ex(ssl, buf, sizeof(buf), &n);
        if (r == 1) {
            if (head_len < sizeof(head)) {
                size_t k = sizeof(head) - head_len < n
                               ? sizeof(head) - head_len : n;

                memcpy(head + head_len, buf, k);
                head_len += k;
            }
            got += n;
            if (got > TL_MAX_RESPONSE) {
                tl_report(job, "response longer than %d bytes",
                          TL_MAX_RESPONSE);
                goto out;
            }
            continue;
        }
        r = tl_ssl_step(job, ssl, fd, r, deadline, "response", 1);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            goto out;
        }
    }
    status = tl_http_status(head, head_len);
    if (status < 0) {
        tl_report(job, "response: no HTTP status line (%zu bytes)", got);
        goto out;
    }
    tl_record_first(job, ssl, status);
    ok = 0;
out:
    SSL_free(ssl);
    close(fd);
    ERR_clear_error();
    return ok;
}

static int tl_push_lat(struct tl_worker *w, uint64_t ns)
{
    if (w->n_lat == w->cap_lat) {
        size_t cap = w->cap_lat != 0 ? w->cap_lat * 2 : 4096;
        uint64_t *p = realloc(w->lat, cap * sizeof(*p));

        if (p == NULL) {
            return -1;
        }
        w->lat = p;
        w->cap_lat = cap;
    }
    w->lat[w->n_lat++] = ns;
    return 0;
}

/* May this thread start another connection? */
static int tl_more(struct tl_job *job)
{
    if (job->deadline_ns != 0 && tl_now_ns() >= job->deadline_ns) {
        return 0;
    }
    if (job->opts->handshakes != 0 &&
        atomic_fetch_add(&job->claimed, 1) >= job->opts->handshakes) {
        return 0;
    }
    return 1;
}

static void *tl_thread(void *arg)
{
    struct tl_worker *w = arg;
    struct tl_job *job = w->job;
    uint64_t ns;
    int go;

    pthread_mutex_lock(&job->mu);
    while (job->go == 0) {
        pthread_cond_wait(&job->cond, &job->mu);
    }
    go = job->go;
    pthread_mutex_unlock(&job->mu);
    w->t_start = tl_now_ns();
    if (go == 1) {
        while (tl_more(job)) {
            if (tl_one(w, &ns) == 0) {
                if (tl_push_lat(w, ns) != 0) {
                    w->failed++;
                    tl_report(job, "out of memory");
                    break;
                }
            } else {
                /* Failing fast must not turn into a connect flood. */
                struct timespec ts = { 0, (long)TL_FAIL_PAUSE_NS };

                w->failed++;
                nanosleep(&ts, NULL);
            }
        }
    }
    w->t_end = tl_now_ns();
    return NULL;
}

/* A client context: peer verification against CAFILE, no resumption. */
static SSL_CTX *tl_ctx_new(const struct tl_opts *o)
{
    char why[TL_REASON_LEN];
    X509_VERIFY_PARAM *vp;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        goto fail;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(ctx, o->cafile, NULL) != 1) {
        tl_ssl_reason(why, sizeof(why));
        fprintf(stderr, "tls_load: cannot load --cafile %s: %s\n", o->cafile,
                why);
        goto fail;
    }
    if (o->proto == TL_PROTO_12 &&
        (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
         !SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION))) {
        goto fail;
    }
    if (o->proto == TL_PROTO_13 &&
        !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
        goto fail;
    }
    if (o->sigalgs != NULL && !SSL_CTX_set1_sigalgs_list(ctx, o->sigalgs)) {
        fprintf(stderr, "tls_load: bad --sigalgs %s\n", o->sigalgs);
        goto fail;
    }
    if (o->groups != NULL && !SSL_CTX_set1_groups_list(ctx, o->groups)) {
        fprintf(stderr, "tls_load: bad --groups %s\n", o->groups);
        goto fail;
    }
    if (o->servername != NULL) {
        vp = SSL_CTX_get0_param(ctx);
        /* An IP address is checked against IP SANs, anything else as DNS. */
        if (X509_VERIFY_PARAM_set1_ip_asc(vp, o->servername) != 1) {
            ERR_clear_error();
            if (X509_VERIFY_PARAM_set1_host(vp, o->servername, 0) != 1) {
                goto fail;
            }
        }
    }
    return ctx;
fail:
    if (ctx == NULL) {
        fprintf(stderr, "tls_load: SSL_CTX_new failed\n");
    }
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* CPU time (user + system) of this process so far, in microseconds. */
static uint64_t tl_cpu_us(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0;
    }
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int tl_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array, in ms. */
static double tl_pct_ms(const uint64_t *v, size_t n, double p)
{
    size_t rank;

    if (n == 0) {
        return 0.0;
    }
    rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return (double)v[rank - 1] / (double)TL_MS;
}

/* Splits HOST:PORT or [V6]:PORT and resolves it (numeric or by name). */
static int tl_resolve(struct tl_opts *o, char *spec, struct tl_job *job)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    char *colon;
    int r;

    if (spec[0] == '[') {
        o->host = spec + 1;
        colon = strchr(spec, ']');
        if (colon == NULL || colon[1] != ':') {
            return -1;
        }
        *colon = '\0';
        o->port = colon + 2;
    } else {
        colon = strrchr(spec, ':');
        if (colon == NULL) {
            return -1;
        }
        *colon = '\0';
        o->host = spec;
        o->port = colon + 1;
    }
    if (o->host[0] == '\0' || o->port[0] == '\0') {
        return -1;
    }
    r = getaddrinfo(o->host, o->port, &hints, &res);
    if (r != 0 || res == NULL) {
        fprintf(stderr, "tls_load: cannot resolve %s port %s: %s\n", o->host,
                o->port, gai_strerror(r));
        return -2;
    }
    memcpy(&job->addr, res->ai_addr, res->ai_addrlen);
    job->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void tl_usage(FILE *f)
{
    fprintf(f,
        "usage: tls_load --connect HOST:PORT --cafile CERT\n"
        "                (--handshakes N | --seconds S | both)\n"
        "                [--threads T] [--tls1.2|--tls1.3] "
        "[--sigalgs LIST]\n"
        "                [--groups LIST] [--servername NAME] "
        "[--timeout-ms MS] [--quiet]\n");
}

enum {
    TL_OPT_TLS12 = 256,
    TL_OPT_TLS13,
    TL_OPT_SIGALGS,
    TL_OPT_GROUPS,
    TL_OPT_SERVERNAME,
    TL_OPT_TIMEOUT,
};

static const struct option tl_long_opts[] = {
    { "connect", required_argument, NULL, 'c' },
    { "cafile", required_argument, NULL, 'a' },
    { "handshakes", required_argument, NULL, 'n' },
    { "threads", required_argument, NULL, 't' },
    { "seconds", required_argument, NULL, 's' },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { "tls1.2", no_argument, NULL, TL_OPT_TLS12 },
    { "tls1.3", no_argument, NULL, TL_OPT_TLS13 },
    { "sigalgs", required_argument, NULL, TL_OPT_SIGALGS },
    { "groups", required_argument, NULL, TL_OPT_GROUPS },
    { "servername", required_argument, NULL, TL_OPT_SERVERNAME },
    { "timeout-ms", required_argument, NULL, TL_OPT_TIMEOUT },
    { NULL, 0, NULL, 0 },
};

/* Parses an unsigned decimal in [lo, hi]. Returns 0 or -1. */
static int tl_parse_ull(const char *s, unsigned long long lo,
                        unsigned long long hi, unsigned long long *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Returns 0, or 2 for a usage error (message printed). */
static int tl_parse_args(int argc, char **argv, struct tl_opts *o,
                         char **connect_spec)
{
    unsigned long long v;
    char *end;
    int c;

    memset(o, 0, sizeof(*o));
    o->threads = 1;
    o->timeout_ms = TL_DEFAULT_TIMEOUT_MS;
    *connect_spec = NULL;
    while ((c = getopt_long(argc, argv, "", tl_long_opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            *connect_spec = optarg;
            break;
        case 'a':
            o->cafile = optarg;
            break;
        case 'n':
            if (tl_parse_ull(optarg, 1, TL_MAX_HANDSHAKES, &v) != 0) {
                fprintf(stderr, "tls_load: --handshakes: 1..%llu\n",
                        TL_MAX_HANDSHAKES);
                return 2;
            }
            o->handshakes = v;
            break;
        case 't':
            if (tl_parse_ull(optarg, 1, TL_MAX_THREADS, &v) != 0) {
                fprintf(stderr, "tls_load: --threads: 1..%d\n",
                        TL_MAX_THREADS);
                return 2;
            }
            o->threads = (unsigned)v;
            break;
        case 's':
            errno = 0;
            o->seconds = strtod(optarg, &end);
            if (errno != 0 || *end != '\0' || end == optarg ||
                !(o->seconds > 0.0) || o->seconds > TL_MAX_SECONDS) {
                fprintf(stderr, "tls_load: --seconds: (0, %.0f]\n",
                        TL_MAX_SECONDS);
                return 2;
            }
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            tl_usage(stdout);
            exit(0);
        case TL_OPT_TLS12:
            o->proto = TL_PROTO_12;
            break;
        case TL_OPT_TLS13:
            o->proto = TL_PROTO_13;
            break;
        case TL_OPT_SIGALGS:
            o->sigalgs = optarg;
            break;
        case TL_OPT_GROUPS:
            o->groups = optarg;
            break;
        case TL_OPT_SERVERNAME:
            o->servername = optarg;
            break;
        case TL_OPT_TIMEOUT:
            if (tl_parse_ull(optarg, 1, TL_MAX_TIMEOUT_MS, &v) != 0) {
                fprintf(stderr, "tls_load: --timeout-ms: 1..%d\n",
                        TL_MAX_TIMEOUT_MS);
                return 2;
            }
            o->timeout_ms = (unsigned)v;
            break;
        default:
            tl_usage(stderr);
            return 2;
        }
    }
    if (optind != argc || *connect_spec == NULL || o->cafile == NULL ||
        (o->handshakes == 0 && o->seconds == 0.0)) {
        tl_usage(stderr);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct tl_opts opts;
    struct tl_job *job = NULL;
    struct tl_worker *w = NULL;
    uint64_t *all = NULL;
    uint64_t t_first = UINT64_MAX, t_last = 0, cpu0, cpu1;
    unsigned long long passed = 0, failed = 0;
    const char *host;
    char *spec;
    size_t n_all = 0;
    double wall, rate;
    unsigned started = 0;
    int sync_init = 0;
    int r, v6, rc = 2;

    r = tl_parse_args(argc, argv, &opts, &spec);
    if (r != 0) {
        return r;
    }
    /* A server that closes early must not kill us through SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);

    job = calloc(1, sizeof(*job));
    w = calloc(opts.threads, sizeof(*w));
    if (job == NULL || w == NULL) {
        fprintf(stderr, "tls_load: out of memory\n");
        goto out;
    }
    job->opts = &opts;
    r = tl_resolve(&opts, spec, job);
    if (r == -1) {
        fprintf(stderr, "tls_load: --connect wants HOST:PORT or [V6]:PORT\n");
        tl_usage(stderr);
        goto out;
    }
    if (r != 0) {
        goto out;
    }
    host = opts.servername != NULL ? opts.servername : opts.host;
    v6 = strchr(host, ':') != NULL; /* an IPv6 literal goes in brackets */
    r = snprintf(job->request, sizeof(job->request),
                 "GET / HTTP/1.0\r\nHost: %s%s%s\r\n"
                 "User-Agent: tls_load\r\n\r\n",
                 v6 ? "[" : "", host, v6 ? "]" : "");
    if (r < 0 || (size_t)r >= sizeof(job->request)) {
        fprintf(stderr, "tls_load: host name too long\n");
        goto out;
    }
    job->request_len = (size_t)r;
    if (opts.servername != NULL) {
        unsigned char ip[sizeof(struct in6_addr)];

        job->name_is_ip = inet_pton(AF_INET, opts.servername, ip) == 1 ||
                          inet_pton(AF_INET6, opts.servername, ip) == 1;
    }
    pthread_mutex_init(&job->mu, NULL);
    pthread_cond_init(&job->cond, NULL);
    sync_init = 1;
    for (unsigned i = 0; i < opts.threads; i++) {
        w[i].job = job;
        w[i].ctx = tl_ctx_new(&opts);
        if (w[i].ctx == NULL) {
            goto out;
        }
    }
    for (started = 0; started < opts.threads; started++) {
        if (pthread_create(&w[started].tid, NULL, tl_thread,
                           &w[started]) != 0) {
            fprintf(stderr, "tls_load: pthread_create failed\n");
            break;
        }
    }
    cpu0 = tl_cpu_us();
    pthread_mutex_lock(&job->mu);
    if (started == opts.threads && opts.seconds > 0.0) {
        job->deadline_ns = tl_now_ns() + (uint64_t)(opts.seconds * TL_NS);
    }
    job->go = started == opts.threads ? 1 : -1;
    pthread_cond_broadcast(&job->cond);
    pthread_mutex_unlock(&job->mu);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(w[i].tid, NULL);
    }
    cpu1 = tl_cpu_us();
    if (started != opts.threads) {
        goto out;
    }

    for (unsigned i = 0; i < opts.threads; i++) {
        passed += w[i].n_lat;
        failed += w[i].failed;
        if (w[i].t_start < t_first) {
            t_first = w[i].t_start;
        }
        if (w[i].t_end > t_last) {
            t_last = w[i].t_end;
        }
    }
    all = malloc((passed != 0 ? passed : 1) * sizeof(*all));
    if (all == NULL) {
        fprintf(stderr, "tls_load: out of memory\n");
        goto out;
    }
    for (unsigned i = 0; i < opts.threads; i++) {
        if (w[i].n_lat > 0) {
            memcpy(all + n_all, w[i].lat, w[i].n_lat * sizeof(*all));
            n_all += w[i].n_lat;
        }
    }
    qsort(all, n_all, sizeof(*all), tl_cmp_u64);
    wall = t_last > t_first ? (double)(t_last - t_first) / (double)TL_NS : 0;
    rate = wall > 0.0 ? (double)passed / wall : 0.0;
    if (passed > 0) {
        printf("handshakes/s %.1f  p50 %.2f ms  p99 %.2f ms  %s  %s  "
               "group %s  %s  http %d  client-cpu %.0f us/hs  "
               "(%u threads, %.2f s)\n",
               rate, tl_pct_ms(all, n_all, 50.0), tl_pct_ms(all, n_all, 99.0),
               job->first.protocol, job->first.sigalg, job->first.group,
               job->first.cipher, job->first.http_status,
               (double)(cpu1 - cpu0) / (double)passed, opts.threads, wall);
    } else {
        printf("handshakes/s 0.0  p50 - ms  p99 - ms  (no handshake passed; "
               "%u threads, %.2f s)\n", opts.threads, wall);
    }
    printf("%llu passed, %llu failed\n", passed, failed);
    rc = failed == 0 && passed > 0 ? 0 : 1;
out:
    if (w != NULL) {
        for (unsigned i = 0; i < opts.threads; i++) {
            SSL_CTX_free(w[i].ctx);
            free(w[i].lat);
        }
    }
    if (sync_init) {
        pthread_mutex_destroy(&job->mu);
        pthread_cond_destroy(&job->cond);
    }
    free(all);
    free(w);
    free(job);
    return rc;
}
