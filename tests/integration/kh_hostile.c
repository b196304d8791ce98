/*
 * kh_hostile - hostile clients for test_daemon_hostile.sh, and the
 * well-behaved client that must keep being served while they run.
 *
 *   kh_hostile idle SOCKET N HOLD_MS
 *       N connections that send nothing for HOLD_MS; exit 0 if the daemon
 *       closed every one of them (its idle timeout) before HOLD_MS
 *   kh_hostile slow SOCKET N
 *       N connections, each sending a STATUS frame one byte per second;
 *       exit 0 if the daemon closed every one before its frame was complete
 *   kh_hostile flood SOCKET N HOLD_MS MAX_ACCEPTED
 *       opens N connections at once (RLIMIT_NOFILE raised to fit), holds
 *       them HOLD_MS; exit 0 if at most MAX_ACCEPTED stayed open and every
 *       other one got an ERROR BUSY reply
 *   kh_hostile midreq SOCKET N KEY
 *       N times: half a SIGN frame then close; and a whole SIGN request,
 *       closed before the reply is read
 *   kh_hostile bighdr SOCKET N
 *       one frame announcing 2 GiB (must get TOO_LARGE); then N
 *       connections announcing the largest allowed frame (256 KiB) and
 *       sending 1 KiB of it; exit 0 if some were refused with BUSY (the
 *       daemon's budget for large-frame buffers) and the rest were closed
 *       by the I/O timeout
 *   kh_hostile victim SOCKET KEY MS MAX_MS
 *       signs with KEY for MS on one connection, and every 200 ms on a
 *       fresh one; prints p50/p99/max of each; exit 0 if every signature
 *       succeeded, none on the kept connection took more than MAX_MS and
 *       none on a fresh one more than 5 x MAX_MS
 *
 * Exit 0 when the daemon behaved, 1 with a message otherwise.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kh_client.h"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "kh_hostile: FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int raw_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

/*
 * What the daemon did on |fd| within |wait_ms|: 0 nothing (still open),
 * 1 closed it, or the (negative) code of the ERROR reply it sent.
 */
static int raw_outcome(int fd, int wait_ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    uint8_t buf[1024];
    struct kh_frame f;
    struct kh_error_reply e;
    uint32_t len;
    ssize_t n;

    if (poll(&pfd, 1, wait_ms) <= 0) {
        return 0;
    }
    n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) {
        return 1; /* EOF, or ECONNRESET when our bytes were unread */
    }
    if (n < KH_FRAME_HEADER_LEN || kh_frame_check_len(buf, &len) != 0 ||
        (size_t)n < KH_FRAME_HEADER_LEN + len ||
        kh_frame_decode(buf + KH_FRAME_HEADER_LEN, len, &f) != 0 ||
        f.type != KH_MSG_ERROR || kh_error_decode(&f.body, &e) != 0) {
        return -1000;
    }
    return e.code;
}

static size_t put_frame(uint8_t *out, uint8_t type, uint32_t id,
                        const uint8_t *body, size_t blen)
{
    uint32_t len = (uint32_t)(6 + blen);

    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    out[4] = KH_PROTO_VERSION;
    out[5] = type;
    out[6] = (uint8_t)(id >> 24);
    out[7] = (uint8_t)(id >> 16);
    out[8] = (uint8_t)(id >> 8);
    out[9] = (uint8_t)id;
    if (blen > 0) {
        memcpy(out + 10, body, blen);
    }
    return 10 + blen;
}

static int *open_many(const char *path, int n)
{
    int *fds = calloc((size_t)n, sizeof(int));

    if (fds == NULL) {
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if ((fds[i] = raw_connect(path)) < 0) {
            fail("connection %d of %d: %s", i + 1, n, strerror(errno));
            for (int j = 0; j < i; j++) {
                close(fds[j]);
            }
            free(fds);
            return NULL;
        }
    }
    return fds;
}

static void close_many(int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    free(fds);
}

/*- idle --------------------------------------------------------------- */

static int cmd_idle(const char *path, int n, int hold_ms)
{
    int64_t t0 = now_ms(), last = 0;
    int *fds = open_many(path, n), closed = 0;

    if (fds == NULL) {
        return 1;
    }
    while (closed < n && now_ms() - t0 < hold_ms) {
        for (int i = 0; i < n; i++) {
            if (fds[i] >= 0 && raw_outcome(fds[i], 0) == 1) {
                close(fds[i]);
                fds[i] = -1;
                closed++;
                last = now_ms() - t0;
            }
        }
        usleep(50 * 1000);
    }
    close_many(fds, n);
    printf("idle: %d connections sending nothing, %d closed by the daemon "
           "(the last after %lld ms)\n", n, closed, (long long)last);
    return closed == n ? 0 : fail("%d idle connections still open after "
                                  "%d ms", n - closed, hold_ms);
}

/*- slow --------------------------------------------------------------- */

static int cmd_slow(const char *path, int n)
{
    uint8_t frame[16];
    size_t len = put_frame(frame, KH_MSG_STATUS, 1, NULL, 0);
    int *fds = open_many(path, n), open_left = n;
    size_t sent = 0;
    int64_t t0 = now_ms();

    if (fds == NULL) {
        return 1;
    }
    /* One byte a second on each; the whole frame is 10 bytes. */
    for (; sent < len && open_left > 0; sent++) {
        for (int i = 0; i < n; i++) {
            if (fds[i] >= 0 &&
                (raw_outcome(fds[i], 0) != 0 ||
                 send(fds[i], frame + sent, 1, MSG_NOSIGNAL) != 1)) {
                close(fds[i]);
                fds[i] = -1;
                open_left--;
            }
        }
        if (sent + 1 < len) {
            sleep(1);
        }
    }
    close_many(fds, n);
    printf("slow: %d connections at 1 byte/s, %d closed by the daemon "
           "within %lld ms, after %zu of %zu bytes\n", n, n - open_left,
           (long long)(now_ms() - t0), sent, len);
    return open_left == 0 && sent < len
               ? 0
               : fail("%d slow connections were allowed to finish a frame",
                      open_left);
}

/*- flood -------------------------------------------------------------- */

static int raise_nofile(int need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -1;
    }
    if (rl.rlim_cur >= (rlim_t)need) {
        return 0;
    }
    rl.rlim_cur = rl.rlim_max < (rlim_t)need ? rl.rlim_max : (rlim_t)need;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= (rlim_t)need
               ? 0
               : -1;
}

static int cmd_flood(const char *path, int n, int hold_ms, int max_ok)
{
    int *fds, open_ok = 0, busy = 0, other = 0;
    int64_t t0 = now_ms();

    if (raise_nofile(n + 16) != 0) {
        return fail("cannot raise RLIMIT_NOFILE to %d", n + 16);
    }
    if ((fds = open_many(path, n)) == NULL) {
        return 1;
    }
    printf("flood: %d connections opened in %lld ms\n", n,
           (long long)(now_ms() - t0));
    usleep(500 * 1000); /* the daemon accepts, answers BUSY, closes */
    for (int i = 0; i < n; i++) {
        int r = raw_outcome(fds[i], 0);

        open_ok += r == 0;
        busy += r == KH_ERR_BUSY;
        other += r != 0 && r != KH_ERR_BUSY;
    }
    while (now_ms() - t0 < hold_ms) {
        usleep(100 * 1000);
    }
    close_many(fds, n);
    printf("flood: %d held open by the daemon, %d refused with BUSY, %d "
           "other; held %d ms\n", open_ok, busy, other, hold_ms);
    if (open_ok > max_ok || open_ok + busy != n) {
        return fail("expected at most %d accepted and BUSY for the rest",
                    max_ok);
    }
    return 0;
}

/*- midreq ------------------------------------------------------------- */

static size_t sign_frame(uint8_t *out, const char *key)
{
    struct kh_sign_request req = { .input = KH_INPUT_MESSAGE,
                                   .digest = KH_DIGEST_SHA256 };
    struct kh_buf b;
    size_t n;

    snprintf(req.name, sizeof(req.name), "%s", key);
    req.data = (const uint8_t *)"disconnect me";
    req.data_len = 13;
    kh_buf_init_writer(&b, 1024);
    if (kh_sign_request_encode(&b, &req) != 0) {
        kh_buf_free(&b);
        return 0;
    }
    n = put_frame(out, KH_MSG_KEY_SIGN, 5, kh_buf_data(&b), kh_buf_size(&b));
    kh_buf_free(&b);
    return n;
}

/*
 * A storm of short connections may meet its own uid's connection limit
 * (a refused one fails to send): counted, not an error, as long as most
 * got through.
 */
static int cmd_midreq(const char *path, int n, const char *key)
{
    uint8_t frame[1024];
    size_t len = sign_frame(frame, key);
    int half = 0, whole = 0;

    if (len == 0) {
        return fail("cannot encode a sign request");
    }
    for (int i = 0; i < n; i++) {
        int a = raw_connect(path), b = raw_connect(path);

        if (a >= 0 &&
            send(a, frame, len / 2, MSG_NOSIGNAL) == (ssize_t)(len / 2)) {
            half++;
        }
        if (b >= 0 && send(b, frame, len, MSG_NOSIGNAL) == (ssize_t)len) {
            whole++;
        }
        if (a >= 0) {
            close(a); /* half a frame */
        }
        if (b >= 0) {
            close(b); /* a whole request, the reply never read */
        }
    }
    printf("midreq: %d of %d x half a SIGN frame then close, %d of %d x a "
           "SIGN request closed before its reply\n", half, n, whole, n);
    return half >= n / 2 && whole >= n / 2
               ? 0
               : fail("midreq: most connections failed");
}

/*- bighdr ------------------------------------------------------------- */

static int big_oversized(const char *path)
{
    const uint8_t hdr[4] = { 0x7f, 0xff, 0xff, 0xff };
    int fd = raw_connect(path), r;

    if (fd < 0 || send(fd, hdr, 4, MSG_NOSIGNAL) != 4) {
        return fail("bighdr: connect/send");
    }
    r = raw_outcome(fd, 5000);
    close(fd);
    if (r != KH_ERR_TOO_LARGE) {
        return fail("a 2 GiB length: expected TOO_LARGE, got %d", r);
    }
    printf("bighdr: a 2 GiB length prefix refused with TOO_LARGE\n");
    return 0;
}

static int cmd_bighdr(const char *path, int n)
{
    uint8_t part[10 + 1024] = { 0 };
    int *fds, busy = 0, closed = 0, other = 0;
    int64_t t0;

    if (big_oversized(path) != 0 || (fds = open_many(path, n)) == NULL) {
        return 1;
    }
    put_frame(part, KH_MSG_STATUS, 2, NULL, 0);
    part[0] = 0; /* length: KH_MAX_FRAME_LEN, the largest allowed */
    part[1] = (uint8_t)(KH_MAX_FRAME_LEN >> 16);
    part[2] = (uint8_t)(KH_MAX_FRAME_LEN >> 8);
    part[3] = (uint8_t)KH_MAX_FRAME_LEN;
    for (int i = 0; i < n; i++) {
        if (send(fds[i], part, sizeof(part), MSG_NOSIGNAL) !=
            (ssize_t)sizeof(part)) {
            other++;
        }
    }
    /* Refused at once (budget), or closed by the I/O timeout later. */
    t0 = now_ms();
    for (int left = n; left > 0 && now_ms() - t0 < 30000;) {
        for (int i = 0; i < n; i++) {
            int r = fds[i] >= 0 ? raw_outcome(fds[i], 0) : 0;

            if (r != 0) {
                busy += r == KH_ERR_BUSY;
                closed += r == 1;
                other += r != 1 && r != KH_ERR_BUSY;
                close(fds[i]);
                fds[i] = -1;
                left--;
            }
        }
        usleep(50 * 1000);
    }
    close_many(fds, n);
    printf("bighdr: %d connections announcing %u-byte frames: %d refused "
           "with BUSY (large-frame budget), %d closed (I/O timeout), %d "
           "other\n", n, KH_MAX_FRAME_LEN, busy, closed, other);
    if (busy == 0 || busy + closed != n) {
        return fail("expected BUSY for some and a timeout close for the rest");
    }
    return 0;
}

/*- victim ------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

/* One signature on |c|; its latency in µs in |*us|. */
static int victim_sign(struct kh_client *c, const char *key, uint32_t *us)
{
    struct kh_sign_request req = { .input = KH_INPUT_MESSAGE,
                                   .digest = KH_DIGEST_SHA256 };
    struct kh_sign_reply rep;
    struct timespec a, b;
    int r;

    snprintf(req.name, sizeof(req.name), "%s", key);
    req.data = (const uint8_t *)"victim";
    req.data_len = 6;
    clock_gettime(CLOCK_MONOTONIC, &a);
    r = kh_client_sign(c, &req, &rep);
    clock_gettime(CLOCK_MONOTONIC, &b);
    *us = (uint32_t)((b.tv_sec - a.tv_sec) * 1000000 +
                     (b.tv_nsec - a.tv_nsec) / 1000);
    if (r != 0) {
        fail("victim: sign failed: %s", kh_client_reason(c));
    }
    return r;
}

static int victim_fresh(const char *path, const char *key, uint32_t *us)
{
    struct kh_client *c;
    int r;

    if (kh_client_new(path, &c) != 0) {
        return fail("alloc");
    }
    kh_client_set_timeout(c, 10000);
    r = victim_sign(c, key, us);
    kh_client_free(c);
    return r;
}

struct victim_lat {
    uint32_t *us;
    size_t n;
};

static void victim_print(const char *what, struct victim_lat *l, int max_ms)
{
    qsort(l->us, l->n, sizeof(uint32_t), cmp_u32);
    printf("victim: %zu signatures %s: p50 %.3f ms, p99 %.3f ms, max %.3f "
           "ms (limit %d ms)\n", l->n, what, l->us[l->n / 2] / 1000.0,
           l->us[(l->n * 99) / 100] / 1000.0, l->us[l->n - 1] / 1000.0,
           max_ms);
}

/*
 * Persistent connection: bounded by MAX_MS. Fresh connections queue behind
 * the flood in the listen backlog (one accept thread): bounded by 5 x.
 */
static int cmd_victim(const char *path, const char *key, int ms, int max_ms)
{
    struct victim_lat kept = { calloc(1 << 20, sizeof(uint32_t)), 0 };
    struct victim_lat fresh = { calloc(1 << 16, sizeof(uint32_t)), 0 };
    int64_t t0 = now_ms(), next_fresh = t0;
    struct kh_client *c;
    int r = 0;

    if (kept.us == NULL || fresh.us == NULL || kh_client_new(path, &c) != 0) {
        return fail("alloc");
    }
    kh_client_set_timeout(c, 10000);
    while (r == 0 && now_ms() - t0 < ms && kept.n < (1 << 20) &&
           fresh.n < (1 << 16)) {
        r = victim_sign(c, key, &kept.us[kept.n++]);
        if (r == 0 && now_ms() >= next_fresh) {
            r = victim_fresh(path, key, &fresh.us[fresh.n++]);
            next_fresh += 200;
        }
        usleep(2000); /* a steady client, not a load generator */
    }
    kh_client_free(c);
    if (kept.n == 0 || fresh.n == 0) {
        return fail("victim: no signature");
    }
    victim_print("on one connection", &kept, max_ms);
    victim_print("each on a fresh connection", &fresh, 5 * max_ms);
    if (r == 0 && kept.us[kept.n - 1] > (uint32_t)max_ms * 1000) {
        r = fail("victim: a signature took %.3f ms",
                 kept.us[kept.n - 1] / 1000.0);
    }
    if (r == 0 && fresh.us[fresh.n - 1] > (uint32_t)max_ms * 5000) {
        r = fail("victim: a signature on a fresh connection took %.3f ms",
                 fresh.us[fresh.n - 1] / 1000.0);
    }
    free(kept.us);
    free(fresh.us);
    return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 2 ? argv[1] : "";

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(cmd, "idle") == 0 && argc == 5) {
        return cmd_idle(argv[2], atoi(argv[3]), atoi(argv[4]));
    }
    if (strcmp(cmd, "slow") == 0 && argc == 4) {
        return cmd_slow(argv[2], atoi(argv[3]));
    }
    if (strcmp(cmd, "flood") == 0 && argc == 6) {
        return cmd_flood(argv[2], atoi(argv[3]), atoi(argv[4]),
                         atoi(argv[5]));
    }
    if (strcmp(cmd, "midreq") == 0 && argc == 5) {
        return cmd_midreq(argv[2], atoi(argv[3]), argv[4]);
    }
    if (strcmp(cmd, "bighdr") == 0 && argc == 4) {
        return cmd_bighdr(argv[2], atoi(argv[3]));
    }
    if (strcmp(cmd, "victim") == 0 && argc == 6) {
        return cmd_victim(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    }
    return fail("usage: kh_hostile idle|slow|flood|midreq|bighdr|victim "
                "SOCKET ... (see the source)");
}
