#include "khd_server.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "kh_proto.h"
#include "khd_audit.h"
#include "khd_dispatch.h"
#include "khd_log.h"

#define KHD_THREAD_STACK (1024 * 1024)

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

/*
 * Most frames fit the per-connection input buffer, so one recv usually
 * brings a whole request and nothing is allocated per request. Bytes of a
 * following frame (a pipelining client) stay buffered for the next round.
 */
#define KHD_CONN_INBUF 8192

/*
 * Frames too big for c->in are read into an allocation of their size (up
 * to KH_MAX_FRAME_LEN). Their sum over all connections is capped, so
 * clients that announce large frames and then dribble cannot make the
 * daemon hold max_clients x 256 KiB.
 */
#define KHD_BIG_FRAME_BUDGET (16u * 1024 * 1024)

/* Distinct uids whose per-uid limit messages are rate-limited apart. */
#define KHD_UID_LOG_SLOTS 8

struct khd_conn {
    struct khd_conn *prev, *next;
    struct khd_server *srv;
    pthread_t tid;
    int fd;
    struct khd_peer peer;
    size_t in_start, in_end; /* unread bytes are in[in_start..in_end) */
    uint8_t in[KHD_CONN_INBUF];
};

struct khd_server {
    struct khd_ctx *ctx;
    const struct khd_server_config *cfg;
    pthread_mutex_t mu;
    pthread_cond_t idle;   /* signalled when a connection ends */
    struct khd_conn *conns;    /* being served */
    struct khd_conn *finished; /* threads ending: to join and free */
    unsigned n_conns;
    size_t big_bytes; /* large-frame buffers held, <= KHD_BIG_FRAME_BUDGET */
    time_t last_limit_log;
    /* When each of the last few uids' limit was logged (once a second). */
    struct {
        uid_t uid;
        time_t when;
    } uid_log[KHD_UID_LOG_SLOTS];
    time_t last_budget_log;
};

/*- Socket setup ------------------------------------------------------- */

static int khd_sockaddr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        khd_err("socket path too long (max %zu bytes): %s",
                sizeof(sa->sun_path) - 1, path);
        return KH_ERR_INVALID_ARGUMENT;
    }
    memcpy(sa->sun_path, path, strlen(path));
    return KH_OK;
}

/* Removes a stale socket file, but never one a live daemon listens on. */
static int khd_clear_stale(const char *path, const struct sockaddr_un *sa)
{
    struct stat st;
    int fd, live;

    if (lstat(path, &st) != 0) {
        return errno == ENOENT ? KH_OK : KH_ERR_IO;
    }
    if (!S_ISSOCK(st.st_mode)) {
        khd_err("%s exists and is not a socket; refusing to remove it", path);
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        return KH_ERR_IO;
    }
    live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
    close(fd);
    if (live) {
        khd_err("another keyholderd is already serving %s", path);
        return KH_ERR_BUSY;
    }
    if (unlink(path) != 0) {
        khd_err("cannot remove stale socket %s: %s", path, strerror(errno));
        return KH_ERR_IO;
    }
    return KH_OK;
}

/*
 * A socket born in its group already (the daemon's own gid, as under the
 * systemd unit's Group=) is not chowned: the unit's system call filter
 * denies chown (@privileged), and nothing needs changing.
 */
static int khd_socket_perms(const struct khd_server_config *cfg)
{
    struct group *gr;
    struct stat st;

    if (cfg->socket_group == NULL) {
        return KH_OK; /* 0600 from the umask at bind */
    }
    if ((gr = getgrnam(cfg->socket_group)) == NULL) {
        khd_err("unknown socket group '%s'", cfg->socket_group);
        return KH_ERR_INVALID_ARGUMENT;
    }
    if (lstat(cfg->socket_path, &st) != 0 ||
        (st.st_gid != gr->gr_gid &&
         chown(cfg->socket_path, (uid_t)-1, gr->gr_gid) != 0) ||
        chmod(cfg->socket_path, 0660) != 0) {
        khd_err("cannot give %s to group %s: %s", cfg->socket_path,
                cfg->socket_group, strerror(errno));
        return KH_ERR_IO;
    }
    return KH_OK;
}

int khd_server_listen(const struct khd_server_config *cfg)
{
    struct sockaddr_un sa;
    mode_t old;
    int fd, r;

    if ((r = khd_sockaddr(cfg->socket_path, &sa)) != 0 ||
        (r = khd_clear_stale(cfg->socket_path, &sa)) != 0) {
        return r;
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        khd_err("socket: %s", strerror(errno));
        return KH_ERR_IO;
    }
    old = umask(0177); /* the socket is born 0600: no window for others */
    r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r != 0) {
        khd_err("cannot bind %s: %s", cfg->socket_path, strerror(errno));
        close(fd);
        return KH_ERR_IO;
    }
    if ((r = khd_socket_perms(cfg)) != 0 || listen(fd, 128) != 0) {
        if (r == 0) {
            khd_err("listen: %s", strerror(errno));
        }
        unlink(cfg->socket_path);
        close(fd);
        return r != 0 ? r : KH_ERR_IO;
    }
    return fd;
}

/*- One connection ----------------------------------------------------- */

static int64_t khd_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Waits until the socket is readable. |deadline| < 0 waits without limit
 * (an idle client between requests). Returns 0, KH_ERR_TIMEOUT or
 * KH_ERR_IO.
 */
static int khd_wait_readable(struct khd_conn *c, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int timeout = -1, n;

        if (deadline >= 0) {
            int64_t left = deadline - khd_now_ms();

            if (left <= 0) {
                return KH_ERR_TIMEOUT;
            }
            timeout = (int)left;
        }
        n = poll(&pfd, 1, timeout);
        if (n > 0) {
            return KH_OK;
        }
        if (n < 0 && errno != EINTR) {
            return KH_ERR_IO;
        }
    }
}

/*
 * One recv into |p| that never blocks; returns bytes read, 0 for EAGAIN,
 * negative on EOF or error.
 *
 * Waiting is poll()'s job, never a blocking recv(): a thread asleep in
 * recv() on a Unix stream socket is also woken whenever the peer reads
 * what this socket sent (the kernel's write-space wake-up does not filter
 * by event), so a blocking reader pays one futile wake-up, often across
 * CPUs, per request. A poll(POLLIN) waiter sleeps through it. Measured
 * with 2 client threads: P-256 signatures 43-50k/s -> 60-66k/s.
 */
static ssize_t khd_recv_some(struct khd_conn *c, uint8_t *p, size_t n)
{
    ssize_t k;

    do {
        k = recv(c->fd, p, n, MSG_DONTWAIT);
    } while (k < 0 && errno == EINTR);
    if (k == 0) {
        return -1;
    }
    if (k < 0) {
        return errno == EAGAIN ? 0 : -1;
    }
    return k;
}

/*
 * Makes |need| (<= KHD_CONN_INBUF) unread bytes available in c->in. While
 * |idle| and nothing of the frame has arrived, waits up to the idle
 * timeout; once a byte is there the frame must complete within the I/O
 * timeout. Returns 0, KH_ERR_TIMEOUT, or KH_ERR_IO (|*eof| set for a clean
 * EOF between frames).
 */
static int khd_fill(struct khd_conn *c, size_t need, int idle, int *eof)
{
    const struct khd_server_config *cfg = c->srv->cfg;
    int64_t deadline = -1, idle_deadline = -1;
    int r;

    *eof = 0;
    if (c->in_end - c->in_start >= need) {
        return KH_OK;
    }
    if (KHD_CONN_INBUF - c->in_start < need) { /* compact */
        memmove(c->in, c->in + c->in_start, c->in_end - c->in_start);
        c->in_end -= c->in_start;
        c->in_start = 0;
    }
    if (!idle || c->in_end > c->in_start) {
        deadline = khd_now_ms() + cfg->io_timeout_ms;
    } else if (cfg->idle_timeout_ms > 0) {
        idle_deadline = khd_now_ms() + cfg->idle_timeout_ms;
    }
    while (c->in_end - c->in_start < need) {
        ssize_t k;

        /*
         * Idle: wait for the next frame up to the idle timeout (shutdown()
         * at exit wakes the poll). Mid-frame: never past the deadline.
         */
        k = khd_recv_some(c, c->in + c->in_end, KHD_CONN_INBUF - c->in_end);
        if (k < 0) {
            *eof = c->in_end == c->in_start;
            return KH_ERR_IO;
        }
        if (k == 0) {
            r = khd_wait_readable(c, deadline >= 0 ? deadline : idle_deadline);
            if (r == KH_ERR_TIMEOUT && deadline < 0) {
                *eof = 1;
                khd_info("uid %u pid %d exe %s: idle for %d ms (the idle "
                         "timeout); closing", (unsigned)c->peer.uid,
                         (int)c->peer.pid, khd_peer_exe(&c->peer),
                         cfg->idle_timeout_ms);
            }
            if (r != 0) {
                return r;
            }
            continue;
        }
        c->in_end += (size_t)k;
        if (deadline < 0) {
            deadline = khd_now_ms() + cfg->io_timeout_ms;
        }
    }
    return KH_OK;
}

/* Reads exactly |n| bytes straight into |p| (frames too big to buffer). */
static int khd_read_direct(struct khd_conn *c, uint8_t *p, size_t n)
{
    int64_t deadline = khd_now_ms() + c->srv->cfg->io_timeout_ms;
    size_t got = 0;
    int r;

    while (got < n) {
        ssize_t k = khd_recv_some(c, p + got, n - got);

        if (k < 0) {
            return KH_ERR_IO;
        }
        if (k == 0 && (r = khd_wait_readable(c, deadline)) != 0) {
            return r;
        }
        got += (size_t)k;
    }
    return KH_OK;
}

/* Sends at once; waits for room only when the socket buffer is full. */
static int khd_write_full(struct khd_conn *c, const uint8_t *buf, size_t n)
{
    int64_t deadline = khd_now_ms() + c->srv->cfg->io_timeout_ms;
    size_t done = 0;

    while (done < n) {
        struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
        ssize_t k = send(c->fd, buf + done, n - done,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        int64_t left;

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
        if ((left = deadline - khd_now_ms()) <= 0) {
            return KH_ERR_TIMEOUT;
        }
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
            return KH_ERR_IO;
        }
    }
    return KH_OK;
}

/* |len| 0: the frame's length prefix itself was incomplete. */
static void khd_log_io(const struct khd_conn *c, int r, uint32_t len)
{
    if (len == 0) {
        khd_warn("uid %u pid %d exe %s: %s in the middle of a frame's "
                 "length prefix (I/O timeout %d ms); closing",
                 (unsigned)c->peer.uid, (int)c->peer.pid,
                 khd_peer_exe(&c->peer), kh_strerror(r),
                 c->srv->cfg->io_timeout_ms);
        return;
    }
    khd_warn("uid %u pid %d exe %s: %s in the middle of a %u-byte frame "
             "(I/O timeout %d ms); closing", (unsigned)c->peer.uid,
             (int)c->peer.pid, khd_peer_exe(&c->peer), kh_strerror(r),
             (unsigned)len, c->srv->cfg->io_timeout_ms);
}

/*
 * Takes (|n| > 0) or gives back (|n| < 0) large-frame buffer bytes.
 * Returns KH_ERR_BUSY, logged at most once a second, when taking them
 * would pass KHD_BIG_FRAME_BUDGET.
 */
static int khd_big_budget(struct khd_conn *c, long n)
{
    struct khd_server *srv = c->srv;
    int r = KH_OK;

    pthread_mutex_lock(&srv->mu);
    if (n < 0) {
        srv->big_bytes -= (size_t)-n;
    } else if (srv->big_bytes + (size_t)n > KHD_BIG_FRAME_BUDGET) {
        time_t now = time(NULL);

        if (now != srv->last_budget_log) {
            srv->last_budget_log = now;
            khd_warn("large-frame buffers at their limit (%u KiB in use); "
                     "refusing a %ld-byte frame from uid %u pid %d exe %s",
                     (unsigned)(srv->big_bytes / 1024), n,
                     (unsigned)c->peer.uid, (int)c->peer.pid,
                     khd_peer_exe(&c->peer));
        }
        r = KH_ERR_BUSY;
    } else {
        srv->big_bytes += (size_t)n;
    }
    pthread_mutex_unlock(&srv->mu);
    return r;
}

/*
 * Reads the next frame's body (what follows the length prefix). Small
 * frames stay in c->in (|*frame| points there, |*owned| 0); larger ones
 * are read into a fresh allocation (|*owned| 1).
 */
static int khd_read_frame(struct khd_conn *c, struct kh_buf *reply,
                          uint8_t **frame, uint32_t *len, int *owned)
{
    uint8_t *big;
    size_t have;
    int r, eof;

    *frame = NULL;
    *owned = 0;
    if ((r = khd_fill(c, KH_FRAME_HEADER_LEN, 1, &eof)) != 0) {
        if (!eof) {
            khd_log_io(c, r, 0);
        }
        return r;
    }
    /* The length is checked before anything is allocated. */
    if ((r = kh_frame_check_len(c->in + c->in_start, len)) != 0) {
        const uint8_t *h = c->in + c->in_start;

        char why[KH_MAX_REASON_LEN + 1];
        unsigned flen = (unsigned)((uint32_t)h[0] << 24 |
                                   (uint32_t)h[1] << 16 |
                                   (uint32_t)h[2] << 8 | h[3]);

        khd_warn("uid %u pid %d exe %s sent a frame length of %u bytes "
                 "(%s); closing", (unsigned)c->peer.uid, (int)c->peer.pid,
                 khd_peer_exe(&c->peer), flen, kh_strerror(r));
        snprintf(why, sizeof(why), "frame length of %u bytes: %s", flen,
                 kh_strerror(r));
        khd_audit_event(khd_ctx_audit(c->srv->ctx), &c->peer, "frame",
                        KH_AUDIT_CAT_PROTOCOL, r, why);
        if (khd_reply_error(reply, 0, r, NULL) == 0) {
            (void)khd_write_full(c, kh_buf_data(reply), kh_buf_size(reply));
        }
        return r;
    }
    if (KH_FRAME_HEADER_LEN + (size_t)*len <= KHD_CONN_INBUF) {
        if ((r = khd_fill(c, KH_FRAME_HEADER_LEN + *len, 0, &eof)) != 0) {
            khd_log_io(c, r, *len);
            return r;
        }
        *frame = c->in + c->in_start + KH_FRAME_HEADER_LEN;
        return KH_OK;
    }
    if ((r = khd_big_budget(c, (long)*len)) != 0) {
        if (khd_reply_error(reply, 0, r, "too many large requests in "
                            "progress; try again later") == 0) {
            (void)khd_write_full(c, kh_buf_data(reply), kh_buf_size(reply));
        }
        return r;
    }
    if ((big = malloc(*len)) == NULL) {
        (void)khd_big_budget(c, -(long)*len);
        return KH_ERR_ALLOC;
    }
    have = c->in_end - c->in_start - KH_FRAME_HEADER_LEN;
    if (have > *len) {
        have = *len;
    }
    memcpy(big, c->in + c->in_start + KH_FRAME_HEADER_LEN, have);
    if ((r = khd_read_direct(c, big + have, *len - have)) != 0) {
        khd_log_io(c, r, *len);
        OPENSSL_clear_free(big, *len);
        (void)khd_big_budget(c, -(long)*len);
        return r;
    }
    OPENSSL_cleanse(c->in + c->in_start, KH_FRAME_HEADER_LEN + have);
    c->in_start += KH_FRAME_HEADER_LEN + have;
    *frame = big;
    *owned = 1;
    return KH_OK;
}

/* Serves one request. Returns 0 to continue, negative to close. */
static int khd_conn_serve_one(struct khd_conn *c, struct kh_buf *reply)
{
    uint8_t *frame;
    uint32_t len = 0;
    int r, owned;

    kh_buf_reset(reply);
    if ((r = khd_read_frame(c, reply, &frame, &len, &owned)) != 0) {
        return r;
    }
    r = khd_dispatch(c->srv->ctx, &c->peer, frame, len, reply);
    /* The request may hold data to be signed: wipe it once served. */
    if (owned) {
        OPENSSL_clear_free(frame, len);
        (void)khd_big_budget(c, -(long)len);
    } else {
        OPENSSL_cleanse(frame - KH_FRAME_HEADER_LEN,
                        KH_FRAME_HEADER_LEN + len);
        c->in_start += KH_FRAME_HEADER_LEN + len;
    }
    if (c->in_start == c->in_end) {
        c->in_start = c->in_end = 0;
    }
    if (kh_buf_size(reply) > 0) {
        int w = khd_write_full(c, kh_buf_data(reply), kh_buf_size(reply));

        if (r == 0) {
            r = w;
        }
    }
    return r;
}

/*
 * Ends a connection: closes it and hands the struct to the accept thread,
 * which joins the thread (so OpenSSL's per-thread state is freed before
 * anyone exits) and frees it.
 */
static void khd_conn_finish(struct khd_conn *c)
{
    struct khd_server *srv = c->srv;

    pthread_mutex_lock(&srv->mu);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        srv->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    srv->n_conns--;
    close(c->fd);
    c->fd = -1;
    c->prev = NULL;
    c->next = srv->finished;
    srv->finished = c;
    pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->mu);
}

/* Accept thread only: joins and frees every finished connection. */
static void khd_reap(struct khd_server *srv)
{
    struct khd_conn *c, *next;

    pthread_mutex_lock(&srv->mu);
    c = srv->finished;
    srv->finished = NULL;
    pthread_mutex_unlock(&srv->mu);
    for (; c != NULL; c = next) {
        next = c->next;
        pthread_join(c->tid, NULL);
        OPENSSL_clear_free(c, sizeof(*c));
    }
}

static void *khd_conn_main(void *arg)
{
    struct khd_conn *c = arg;
    struct kh_buf reply;

    kh_buf_init_writer(&reply, KH_FRAME_HEADER_LEN + KH_MAX_FRAME_LEN);
    while (khd_conn_serve_one(c, &reply) == 0) {
    }
    kh_buf_free(&reply);
    khd_conn_finish(c); /* |c| belongs to the accept thread from here */
    return NULL;
}

/*- Accepting ---------------------------------------------------------- */

/*
 * Copies |n| bytes of a path into |out| (KHD_PEER_EXE_MAX) with control
 * characters, DEL, backslash and non-ASCII bytes as \xHH, so a client
 * cannot forge log lines with its file name. Returns 0, or -1 if it does
 * not fit (never truncated: a prefix could pass for another path).
 */
static int khd_exe_escape(const char *in, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)in[i];

        if (o + 5 > KHD_PEER_EXE_MAX) {
            return -1;
        }
        if (ch < 0x20 || ch >= 0x7f || ch == '\\') {
            o += (size_t)snprintf(out + o, 5, "\\x%02x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
    return 0;
}

/*
 * The peer's executable, race-free. A pidfd pins the process that
 * connected: SO_PEERPIDFD (Linux 6.5+) is taken from the socket itself;
 * older kernels fall back to pidfd_open(pid) (5.3+), which leaves a window
 * between connect and accept in which the pid could be recycled. Then
 * /proc/PID/exe is read and the pidfd asked whether its process is still
 * there: if it is, PID was still its pid during the readlink. Anything
 * that fails leaves "unknown"; the connection is never refused for it.
 */
static void khd_peer_exe_read(int fd, struct khd_peer *p)
{
    char link[32], path[PATH_MAX];
    socklen_t len = sizeof(int);
    int pidfd = -1;
    ssize_t n;

    p->exe[0] = '\0';
    if (p->pid <= 0) {
        return; /* a peer in another pid namespace */
    }
    if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) {
        /*
         * Only "no such option" (Linux < 6.5) falls back: EINVAL or ESRCH
         * mean the peer is gone, and its pid may already be another's.
         */
        if (errno != ENOPROTOOPT) {
            return;
        }
        pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    }
    if (pidfd < 0) {
        return;
    }
    snprintf(link, sizeof(link), "/proc/%d/exe", (int)p->pid);
    n = readlink(link, path, sizeof(path));
    if (n > 0 && (size_t)n < sizeof(path) &&
        syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 &&
        khd_exe_escape(path, (size_t)n, p->exe) != 0) {
        p->exe[0] = '\0';
    }
    close(pidfd);
}

static int khd_peer_creds(int fd, struct khd_peer *p)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    gid_t groups[KHD_MAX_PEER_GROUPS];

    memset(p, 0, sizeof(*p));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        len != sizeof(cred)) {
        return KH_ERR_IO;
    }
    p->uid = cred.uid;
    p->gid = cred.gid;
    p->pid = cred.pid;
    /* Supplementary groups as the kernel saw them at connect (Linux 4.13+). */
    len = sizeof(groups);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
        p->n_groups = (uint32_t)(len / sizeof(gid_t));
        memcpy(p->groups, groups, p->n_groups * sizeof(gid_t));
    }
    /* ERANGE (more groups than we keep): only the primary gid counts. */
    khd_peer_exe_read(fd, p);
    return KH_OK;
}

/*
 * Tells a client turned away at the connection limit why, without waiting:
 * it reads an ERROR BUSY reply instead of a bare EOF.
 */
static void khd_refuse_busy(int fd)
{
    struct kh_buf reply;

    kh_buf_init_writer(&reply, 512);
    if (khd_reply_error(&reply, 0, KH_ERR_BUSY,
                        "keyholderd connection limit reached; try again "
                        "later") == 0) {
        (void)!send(fd, kh_buf_data(&reply), kh_buf_size(&reply),
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    kh_buf_free(&reply);
}

/*
 * Under srv->mu: whether |uid|'s per-uid limit may be logged now (at most
 * once a second per uid, so two uids at their limits in the same second
 * are both named).
 */
static int khd_uid_log_due(struct khd_server *srv, uid_t uid, time_t now)
{
    size_t oldest = 0;

    for (size_t i = 0; i < KHD_UID_LOG_SLOTS; i++) {
        if (srv->uid_log[i].when != 0 && srv->uid_log[i].uid == uid) {
            if (srv->uid_log[i].when == now) {
                return 0;
            }
            oldest = i;
            break;
        }
        if (srv->uid_log[i].when < srv->uid_log[oldest].when) {
            oldest = i;
        }
    }
    srv->uid_log[oldest].uid = uid;
    srv->uid_log[oldest].when = now;
    return 1;
}

/*
 * Under srv->mu: 1 if a new connection from |p| would pass the connection
 * limit or its uid's share of it; each limit logged at most once a second
 * (the per-uid one per uid).
 */
static int khd_over_limit(struct khd_server *srv, const struct khd_peer *p)
{
    time_t now = time(NULL);
    unsigned same_uid = 0;

    if (srv->n_conns >= srv->cfg->max_clients) {
        if (now != srv->last_limit_log) {
            srv->last_limit_log = now;
            khd_warn("connection limit (%u, --max-clients) reached; refusing "
                     "uid %u pid %d exe %s", srv->cfg->max_clients,
                     (unsigned)p->uid, (int)p->pid, khd_peer_exe(p));
        }
        return 1;
    }
    for (const struct khd_conn *o = srv->conns; o != NULL; o = o->next) {
        same_uid += o->peer.uid == p->uid;
    }
    if (same_uid >= srv->cfg->max_clients_per_uid) {
        if (khd_uid_log_due(srv, p->uid, now)) {
            khd_warn("per-user connection limit (%u, --max-clients-per-uid) "
                     "reached by uid %u; refusing pid %d exe %s",
                     srv->cfg->max_clients_per_uid, (unsigned)p->uid,
                     (int)p->pid, khd_peer_exe(p));
        }
        return 1;
    }
    return 0;
}

static void khd_accept_one(struct khd_server *srv, int lfd)
{
    struct khd_conn *c;
    pthread_attr_t attr;
    int fd;

    if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
            khd_warn("accept: %s", strerror(errno));
        }
        return;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->srv = srv;
    if (khd_peer_creds(fd, &c->peer) != 0) {
        khd_warn("cannot read peer credentials; closing connection");
        goto drop;
    }
    pthread_mutex_lock(&srv->mu);
    if (khd_over_limit(srv, &c->peer)) {
        pthread_mutex_unlock(&srv->mu);
        khd_refuse_busy(fd);
        goto drop;
    }
    c->next = srv->conns;
    if (srv->conns != NULL) {
        srv->conns->prev = c;
    }
    srv->conns = c;
    srv->n_conns++;
    pthread_mutex_unlock(&srv->mu);

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, KHD_THREAD_STACK);
    /* Only this thread reaps, so c->tid is set before anyone joins it. */
    if (pthread_create(&c->tid, &attr, khd_conn_main, c) != 0) {
        pthread_attr_destroy(&attr);
        khd_warn("cannot start a connection thread; closing");
        pthread_mutex_lock(&srv->mu);
        if (c->prev != NULL) {
            c->prev->next = c->next;
        } else {
            srv->conns = c->next;
        }
        if (c->next != NULL) {
            c->next->prev = c->prev;
        }
        srv->n_conns--;
        pthread_mutex_unlock(&srv->mu);
        goto drop;
    }
    pthread_attr_destroy(&attr);
    return;
drop:
    close(fd);
    free(c);
}

int khd_server_run(struct khd_ctx *ctx, const struct khd_server_config *cfg,
                   int listen_fd, int stop_fd)
{
    struct khd_server srv = { .ctx = ctx, .cfg = cfg };

    pthread_mutex_init(&srv.mu, NULL);
    pthread_cond_init(&srv.idle, NULL);
    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = listen_fd, .events = POLLIN },
            { .fd = stop_fd, .events = POLLIN },
        };

        khd_reap(&srv);
        khd_ctx_tick(ctx); /* partial unseals expire on time */
        /* Wake up now and then to join finished connection threads. */
        if (poll(pfd, 2, 1000) < 0) {
            if (errno == EINTR) {
                continue;
            }
            khd_err("poll: %s", strerror(errno));
            break;
        }
        if (pfd[1].revents != 0) {
            break;
        }
        if (pfd[0].revents & POLLIN) {
            khd_accept_one(&srv, listen_fd);
        }
    }
    /* Stop: wake every connection thread and wait until all have left. */
    pthread_mutex_lock(&srv.mu);
    for (struct khd_conn *c = srv.conns; c != NULL; c = c->next) {
        shutdown(c->fd, SHUT_RDWR);
    }
    while (srv.n_conns > 0) {
        pthread_cond_wait(&srv.idle, &srv.mu);
    }
    pthread_mutex_unlock(&srv.mu);
    khd_reap(&srv);
    pthread_cond_destroy(&srv.idle);
    pthread_mutex_destroy(&srv.mu);
    return KH_OK;
}
