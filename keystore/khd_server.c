#include "khd_server.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "kh_proto.h"
#include "khd_dispatch.h"
#include "khd_log.h"

#define KHD_THREAD_STACK (1024 * 1024)

struct khd_conn {
    struct khd_conn *prev, *next;
    struct khd_server *srv;
    int fd;
    struct khd_peer peer;
};

struct khd_server {
    struct khd_ctx *ctx;
    const struct khd_server_config *cfg;
    pthread_mutex_t mu;
    pthread_cond_t idle;   /* signalled when a connection ends */
    struct khd_conn *conns;
    unsigned n_conns;
    int stopping;
    time_t last_limit_log;
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

static int khd_socket_perms(const struct khd_server_config *cfg)
{
    struct group *gr;

    if (cfg->socket_group == NULL) {
        return KH_OK; /* 0600 from the umask at bind */
    }
    if ((gr = getgrnam(cfg->socket_group)) == NULL) {
        khd_err("unknown socket group '%s'", cfg->socket_group);
        return KH_ERR_INVALID_ARGUMENT;
    }
    if (chown(cfg->socket_path, (uid_t)-1, gr->gr_gid) != 0 ||
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
 * Reads exactly |n| bytes. With |idle_ok| the wait for the first byte is
 * unbounded (an idle client between requests); after that the whole read
 * must finish within the I/O timeout. Returns 0, KH_ERR_IO on EOF/error
 * (|*eof| set for a clean EOF before the first byte) or KH_ERR_TIMEOUT.
 */
static int khd_read_full(struct khd_conn *c, uint8_t *buf, size_t n,
                         int idle_ok, int *eof)
{
    int64_t deadline = khd_now_ms() + c->srv->cfg->io_timeout_ms;
    size_t got = 0;

    *eof = 0;
    while (got < n) {
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int timeout = -1;
        ssize_t k;

        if (!(idle_ok && got == 0)) {
            int64_t left = deadline - khd_now_ms();

            if (left <= 0) {
                return KH_ERR_TIMEOUT;
            }
            timeout = (int)left;
        }
        if (poll(&pfd, 1, timeout) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return KH_ERR_IO;
        }
        if (pfd.revents == 0) {
            continue; /* the loop re-checks the deadline */
        }
        k = recv(c->fd, buf + got, n - got, 0);
        if (k == 0) {
            *eof = got == 0;
            return KH_ERR_IO;
        }
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return KH_ERR_IO;
        }
        if (got == 0 && idle_ok) {
            deadline = khd_now_ms() + c->srv->cfg->io_timeout_ms;
        }
        got += (size_t)k;
    }
    return KH_OK;
}

static int khd_write_full(struct khd_conn *c, const uint8_t *buf, size_t n)
{
    int64_t deadline = khd_now_ms() + c->srv->cfg->io_timeout_ms;
    size_t done = 0;

    while (done < n) {
        struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
        int64_t left = deadline - khd_now_ms();
        ssize_t k;

        if (left <= 0) {
            return KH_ERR_TIMEOUT;
        }
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
            return KH_ERR_IO;
        }
        k = send(c->fd, buf + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return KH_ERR_IO;
        }
        done += (size_t)k;
    }
    return KH_OK;
}

/* Serves one request. Returns 0 to continue, negative to close. */
static int khd_conn_serve_one(struct khd_conn *c, struct kh_buf *reply)
{
    uint8_t hdr[KH_FRAME_HEADER_LEN];
    uint8_t *frame = NULL;
    uint32_t len = 0;
    int r, eof;

    if ((r = khd_read_full(c, hdr, sizeof(hdr), 1, &eof)) != 0) {
        if (!eof) {
            khd_warn("uid %u pid %d: %s while reading a frame; closing",
                     (unsigned)c->peer.uid, (int)c->peer.pid,
                     kh_strerror(r));
        }
        return r;
    }
    kh_buf_reset(reply);
    /* The length is checked before anything is allocated. */
    if ((r = kh_frame_check_len(hdr, &len)) != 0) {
        khd_warn("uid %u pid %d sent a frame length of %u bytes (%s); "
                 "closing", (unsigned)c->peer.uid, (int)c->peer.pid,
                 (unsigned)((uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
                            (uint32_t)hdr[2] << 8 | hdr[3]),
                 kh_strerror(r));
        if (khd_reply_error(reply, 0, r, NULL) == 0) {
            (void)khd_write_full(c, kh_buf_data(reply), kh_buf_size(reply));
        }
        return r;
    }
    if ((frame = malloc(len)) == NULL) {
        return KH_ERR_ALLOC;
    }
    if ((r = khd_read_full(c, frame, len, 0, &eof)) != 0) {
        khd_warn("uid %u pid %d: %s in the middle of a %u-byte frame; "
                 "closing", (unsigned)c->peer.uid, (int)c->peer.pid,
                 kh_strerror(r), (unsigned)len);
        goto out;
    }
    r = khd_dispatch(c->srv->ctx, &c->peer, frame, len, reply);
    if (kh_buf_size(reply) > 0) {
        int w = khd_write_full(c, kh_buf_data(reply), kh_buf_size(reply));

        if (r == 0) {
            r = w;
        }
    }
out:
    OPENSSL_clear_free(frame, len); /* it may hold data to be signed */
    return r;
}

static void khd_conn_unlink(struct khd_conn *c)
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
    pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->mu);
}

static void *khd_conn_main(void *arg)
{
    struct khd_conn *c = arg;
    struct kh_buf reply;

    kh_buf_init_writer(&reply, KH_FRAME_HEADER_LEN + KH_MAX_FRAME_LEN);
    while (khd_conn_serve_one(c, &reply) == 0) {
    }
    kh_buf_free(&reply);
    khd_conn_unlink(c);
    free(c);
    return NULL;
}

/*- Accepting ---------------------------------------------------------- */

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

static void khd_accept_one(struct khd_server *srv, int lfd)
{
    struct khd_conn *c;
    pthread_attr_t attr;
    pthread_t tid;
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
    if (srv->n_conns >= srv->cfg->max_clients) {
        time_t now = time(NULL);

        if (now != srv->last_limit_log) { /* at most one line a second */
            srv->last_limit_log = now;
            khd_warn("connection limit (%u) reached; refusing uid %u pid %d",
                     srv->cfg->max_clients, (unsigned)c->peer.uid,
                     (int)c->peer.pid);
        }
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
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&tid, &attr, khd_conn_main, c) != 0) {
        pthread_attr_destroy(&attr);
        khd_warn("cannot start a connection thread; closing");
        khd_conn_unlink(c); /* closes fd */
        free(c);
        return;
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

        if (poll(pfd, 2, -1) < 0) {
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
    srv.stopping = 1;
    for (struct khd_conn *c = srv.conns; c != NULL; c = c->next) {
        shutdown(c->fd, SHUT_RDWR);
    }
    while (srv.n_conns > 0) {
        pthread_cond_wait(&srv.idle, &srv.mu);
    }
    pthread_mutex_unlock(&srv.mu);
    pthread_cond_destroy(&srv.idle);
    pthread_mutex_destroy(&srv.mu);
    return KH_OK;
}
