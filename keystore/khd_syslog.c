#include "khd_syslog.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define KHD_SYSLOG_FULL_WAIT_MS 100
#define KHD_SYSLOG_HDR_MAX 64

struct khd_syslog {
    pthread_mutex_t mu; /* guards fd and buf */
    struct sockaddr_un addr;
    int fd; /* connected, or -1 */
    int congested; /* the last send found the queue full: do not wait */
    pid_t pid;
    char *buf; /* header + message of the datagram being sent */
    size_t cap;
};

/* Connects s->fd; on failure it stays -1 and errno says why. */
static int khd_syslog_connect(struct khd_syslog *s)
{
    int fd, err;

    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
        return KH_ERR_IO;
    }
    if (connect(fd, (const struct sockaddr *)&s->addr, sizeof(s->addr)) !=
        0) {
        err = errno;
        close(fd);
        errno = err;
        return KH_ERR_IO;
    }
    s->fd = fd;
    return KH_OK;
}

static void khd_syslog_disconnect(struct khd_syslog *s)
{
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    s->congested = 0;
}

int khd_syslog_new(const char *path, pid_t pid, struct khd_syslog **out)
{
    struct khd_syslog *s;
    time_t now = time(NULL);
    struct tm tm;

    *out = NULL;
    if (path == NULL || path[0] == '\0') {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        return KH_ERR_ALLOC;
    }
    s->addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(s->addr.sun_path)) {
        free(s);
        return KH_ERR_TOO_LARGE;
    }
    memcpy(s->addr.sun_path, path, strlen(path) + 1);
    s->fd = -1;
    s->pid = pid;
    pthread_mutex_init(&s->mu, NULL);
    /* Loads the time zone now, before the seccomp filter. */
    localtime_r(&now, &tm);
    (void)khd_syslog_connect(s);
    *out = s;
    return KH_OK;
}

void khd_syslog_free(struct khd_syslog *s)
{
    if (s == NULL) {
        return;
    }
    khd_syslog_disconnect(s);
    pthread_mutex_destroy(&s->mu);
    free(s->buf);
    free(s);
}

const char *khd_syslog_path(const struct khd_syslog *s)
{
    return s->addr.sun_path;
}

int khd_syslog_connected(const struct khd_syslog *s)
{
    return s->fd >= 0;
}

/* "<PRI>Mmm dd hh:mm:ss keyholderd[PID]: MSG" into s->buf; its length. */
static int khd_syslog_format(struct khd_syslog *s, int pri, const char *msg,
                             size_t *len)
{
    char hdr[KHD_SYSLOG_HDR_MAX], stamp[32];
    time_t now = time(NULL);
    size_t mlen = strlen(msg);
    struct tm tm;
    int h;

    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
    h = snprintf(hdr, sizeof(hdr), "<%d>%s keyholderd[%ld]: ", pri, stamp,
                 (long)s->pid);
    if (h < 0 || (size_t)h >= sizeof(hdr)) {
        return KH_ERR_INTERNAL;
    }
    if (s->cap < (size_t)h + mlen) {
        char *b = realloc(s->buf, (size_t)h + mlen);

        if (b == NULL) {
            return KH_ERR_ALLOC;
        }
        s->buf = b;
        s->cap = (size_t)h + mlen;
    }
    memcpy(s->buf, hdr, (size_t)h);
    memcpy(s->buf + h, msg, mlen);
    *len = (size_t)h + mlen;
    return KH_OK;
}

/*
 * One send. A full receiver queue gets KHD_SYSLOG_FULL_WAIT_MS once; while
 * it stays full, later sends fail at once (a stuck syslogd costs the
 * writer 100 ms per episode, not per entry).
 */
static int khd_syslog_send1(struct khd_syslog *s, size_t len)
{
    struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
    ssize_t n;

    for (int waited = s->congested;;) {
        n = send(s->fd, s->buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == (ssize_t)len) {
            s->congested = 0;
            return KH_OK;
        }
        if (n >= 0) {
            errno = EMSGSIZE; /* a datagram is never sent in part */
            return KH_ERR_IO;
        }
        if (errno == EINTR) {
            continue;
        }
        if ((errno != EAGAIN && errno != EWOULDBLOCK) || waited) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                s->congested = 1;
            }
            return KH_ERR_IO;
        }
        waited = 1;
        if (poll(&pfd, 1, KHD_SYSLOG_FULL_WAIT_MS) <= 0) {
            s->congested = 1;
            errno = EAGAIN;
            return KH_ERR_IO;
        }
    }
}

int khd_syslog_send(struct khd_syslog *s, int pri, const char *msg,
                    char *why, size_t cap)
{
    size_t len;
    int r, err = 0;

    pthread_mutex_lock(&s->mu);
    if ((r = khd_syslog_format(s, pri, msg, &len)) != 0) {
        pthread_mutex_unlock(&s->mu);
        snprintf(why, cap, "%s", kh_strerror(r));
        return r;
    }
    /* The receiver may have restarted (a new socket at the path): retry
     * once on a fresh connection. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s->fd < 0 && khd_syslog_connect(s) != 0) {
            err = errno;
            break;
        }
        if (khd_syslog_send1(s, len) == 0) {
            pthread_mutex_unlock(&s->mu);
            return KH_OK;
        }
        err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            break; /* alive but full: keep the connection */
        }
        khd_syslog_disconnect(s);
    }
    pthread_mutex_unlock(&s->mu);
    snprintf(why, cap, "%s",
             err == EAGAIN || err == EWOULDBLOCK
                 ? "the receiver's queue is full"
                 : strerror(err));
    return KH_ERR_IO;
}
