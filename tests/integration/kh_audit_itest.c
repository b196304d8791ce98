/*
 * kh_audit_itest - helpers for test_daemon_audit.sh.
 *
 *   kh_audit_itest sign-record SOCKET NAME CLIENTS MAX OUT
 *       CLIENTS threads sign unique messages with NAME (up to MAX each);
 *       after each returned signature, the message's SHA-256 (hex) is
 *       appended to OUT at once (O_APPEND, one write per line), so what OUT
 *       holds was acknowledged even if keyholderd is killed meanwhile. A
 *       thread stops at its first failure (the daemon went away).
 *   kh_audit_itest tamper STATE_DIR flip SEQ | delete SEQ | swap A B |
 *                                  truncate N | last
 *       edits the audit sub-database of a STOPPED keyholderd directly
 *       (LMDB), as an attacker with the disk would: change one byte of
 *       entry SEQ, delete it, swap two entries' values, delete the last N
 *       entries; "last" prints the last stored seq.
 *   kh_audit_itest syslog-recv PATH OUT SECONDS [stall]
 *       a syslog receiver, as syslogd listens on /dev/log: binds a Unix
 *       datagram socket at PATH (which must not exist), appends each
 *       datagram received to OUT as one line (O_APPEND, one write each),
 *       until SIGTERM or SECONDS have passed; then reads what is still
 *       queued, removes PATH and prints how many it received. With
 *       "stall" it reads nothing until then, as a hung syslogd: its
 *       queue fills and stays full.
 *
 * Exit 0 when it did what was asked, 1 with a message otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <lmdb.h>
#include <openssl/evp.h>

#include "kh_client.h"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "kh_audit_itest: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

/*- sign-record -------------------------------------------------------- */

struct rec_shared {
    const char *socket, *name;
    long max;
    int fd;
    unsigned run_id;
};

struct rec_thread {
    struct rec_shared *sh;
    int id;
    long ok;
    char err[256];
};

static void *rec_main(void *arg)
{
    struct rec_thread *t = arg;
    struct rec_shared *sh = t->sh;
    struct kh_client *c;
    char msg[96], line[66];
    unsigned char md[32];
    unsigned int mdlen;

    if (kh_client_new(sh->socket, &c) != 0) {
        snprintf(t->err, sizeof(t->err), "no client");
        return NULL;
    }
    for (long i = 0; i < sh->max; i++) {
        struct kh_sign_request req = { .input = KH_INPUT_MESSAGE,
                                       .digest = KH_DIGEST_SHA256 };
        struct kh_sign_reply rep;

        snprintf(msg, sizeof(msg), "audit run %u thread %d n %ld",
                 sh->run_id, t->id, i);
        snprintf(req.name, sizeof(req.name), "%s", sh->name);
        req.data = (const uint8_t *)msg;
        req.data_len = strlen(msg);
        if (kh_client_sign(c, &req, &rep) != 0) {
            snprintf(t->err, sizeof(t->err), "%s", kh_client_reason(c));
            break;
        }
        EVP_Digest(msg, strlen(msg), md, &mdlen, EVP_sha256(), NULL);
        for (unsigned j = 0; j < 32; j++) {
            snprintf(line + 2 * j, 3, "%02x", md[j]);
        }
        line[64] = '\n';
        if (write(sh->fd, line, 65) != 65) {
            snprintf(t->err, sizeof(t->err), "write: %s", strerror(errno));
            break;
        }
        t->ok++;
    }
    kh_client_free(c);
    return NULL;
}

static int cmd_sign_record(int argc, char **argv)
{
    struct rec_shared sh = { 0 };
    struct rec_thread th[64];
    pthread_t tids[64];
    long ok = 0;
    int n;

    if (argc != 7) {
        return fail("usage: sign-record SOCKET NAME CLIENTS MAX OUT");
    }
    sh.socket = argv[2];
    sh.name = argv[3];
    n = atoi(argv[4]);
    sh.max = atol(argv[5]);
    sh.run_id = (unsigned)time(NULL) ^ (unsigned)getpid() << 8;
    if (n <= 0 || n > 64 || sh.max <= 0) {
        return fail("bad CLIENTS or MAX");
    }
    if ((sh.fd = open(argv[6], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                      0600)) < 0) {
        return fail("%s: %s", argv[6], strerror(errno));
    }
    memset(th, 0, sizeof(th));
    for (int i = 0; i < n; i++) {
        th[i].sh = &sh;
        th[i].id = i;
        if (pthread_create(&tids[i], NULL, rec_main, &th[i]) != 0) {
            return fail("pthread_create");
        }
    }
    for (int i = 0; i < n; i++) {
        pthread_join(tids[i], NULL);
        ok += th[i].ok;
    }
    close(sh.fd);
    printf("sign-record: %d clients: %ld signatures returned\n", n, ok);
    for (int i = 0; i < n; i++) {
        if (th[i].ok != sh.max) {
            return fail("client %d stopped after %ld: %s", i, th[i].ok,
                        th[i].err);
        }
    }
    return 0;
}

/*- tamper ------------------------------------------------------------- */

static void seq_key(uint8_t kb[8], unsigned long long seq)
{
    for (int i = 0; i < 8; i++) {
        kb[i] = (uint8_t)(seq >> (56 - 8 * i));
    }
}

static int tamper_get(MDB_txn *txn, MDB_dbi dbi, unsigned long long seq,
                      uint8_t **val, size_t *len)
{
    uint8_t kb[8];
    MDB_val k = { 8, kb }, v;
    int rc;

    seq_key(kb, seq);
    if ((rc = mdb_get(txn, dbi, &k, &v)) != 0) {
        return fail("seq %llu: %s", seq, mdb_strerror(rc));
    }
    if ((*val = malloc(v.mv_size)) == NULL) {
        return fail("alloc");
    }
    memcpy(*val, v.mv_data, v.mv_size);
    *len = v.mv_size;
    return 0;
}

static int tamper_put(MDB_txn *txn, MDB_dbi dbi, unsigned long long seq,
                      uint8_t *val, size_t len)
{
    uint8_t kb[8];
    MDB_val k = { 8, kb }, v = { len, val };
    int rc;

    seq_key(kb, seq);
    if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0) {
        return fail("put %llu: %s", seq, mdb_strerror(rc));
    }
    return 0;
}

static int tamper_del(MDB_txn *txn, MDB_dbi dbi, unsigned long long seq)
{
    uint8_t kb[8];
    MDB_val k = { 8, kb };
    int rc;

    seq_key(kb, seq);
    if ((rc = mdb_del(txn, dbi, &k, NULL)) != 0) {
        return fail("del %llu: %s", seq, mdb_strerror(rc));
    }
    return 0;
}

static int tamper_last(MDB_txn *txn, MDB_dbi dbi, unsigned long long *seq)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0 ||
        (rc = mdb_cursor_get(cur, &k, &v, MDB_LAST)) != 0 || k.mv_size != 8) {
        return fail("no last entry");
    }
    *seq = 0;
    for (int i = 0; i < 8; i++) {
        *seq = *seq << 8 | ((const uint8_t *)k.mv_data)[i];
    }
    mdb_cursor_close(cur);
    return 0;
}

static int tamper_apply(MDB_txn *txn, MDB_dbi dbi, int argc, char **argv)
{
    const char *op = argv[3];
    unsigned long long a = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
    unsigned long long b = argc > 5 ? strtoull(argv[5], NULL, 10) : 0;
    uint8_t *va = NULL, *vb = NULL;
    size_t la, lb;
    int r = 1;

    if (strcmp(op, "last") == 0) {
        if ((r = tamper_last(txn, dbi, &a)) == 0) {
            printf("%llu\n", a);
        }
    } else if (strcmp(op, "flip") == 0 && argc == 5) {
        /* One byte near the end of the encoding (the aux field). */
        if ((r = tamper_get(txn, dbi, a, &va, &la)) == 0) {
            va[la - 2] ^= 0x01;
            r = tamper_put(txn, dbi, a, va, la);
        }
    } else if (strcmp(op, "delete") == 0 && argc == 5) {
        r = tamper_del(txn, dbi, a);
    } else if (strcmp(op, "swap") == 0 && argc == 6) {
        if ((r = tamper_get(txn, dbi, a, &va, &la)) == 0 &&
            (r = tamper_get(txn, dbi, b, &vb, &lb)) == 0 &&
            (r = tamper_put(txn, dbi, a, vb, lb)) == 0) {
            r = tamper_put(txn, dbi, b, va, la);
        }
    } else if (strcmp(op, "truncate") == 0 && argc == 5) {
        r = 0;
        for (unsigned long long i = 0; r == 0 && i < a; i++) {
            unsigned long long last;

            if ((r = tamper_last(txn, dbi, &last)) == 0) {
                r = tamper_del(txn, dbi, last);
            }
        }
    } else {
        r = fail("usage: tamper STATE_DIR flip SEQ | delete SEQ | swap A B "
                 "| truncate N | last");
    }
    free(va);
    free(vb);
    return r;
}

static int cmd_tamper(int argc, char **argv)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc, r;

    if (argc < 4) {
        return fail("usage: tamper STATE_DIR OP ...");
    }
    if ((rc = mdb_env_create(&env)) != 0 ||
        (rc = mdb_env_set_maxdbs(env, 16)) != 0 ||
        (rc = mdb_env_set_mapsize(env, 1024ul * 1024 * 1024)) != 0 ||
        (rc = mdb_env_open(env, argv[2], 0, 0600)) != 0) {
        return fail("%s: %s", argv[2], mdb_strerror(rc));
    }
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, "audit", 0, &dbi)) != 0) {
        mdb_env_close(env);
        return fail("audit table: %s", mdb_strerror(rc));
    }
    if ((r = tamper_apply(txn, dbi, argc, argv)) != 0) {
        mdb_txn_abort(txn);
    } else if ((rc = mdb_txn_commit(txn)) != 0) {
        r = fail("commit: %s", mdb_strerror(rc));
    }
    mdb_env_close(env);
    return r;
}

/*- syslog-recv --------------------------------------------------------- */

static volatile sig_atomic_t recv_stop;

static void recv_on_term(int sig)
{
    (void)sig;
    recv_stop = 1;
}

/* Receives datagrams on |fd| into |out| until SIGTERM or |deadline|. */
static long recv_loop(int fd, int out, time_t deadline, int stall)
{
    static char buf[256 * 1024];
    struct pollfd pfd = { .fd = fd, .events = stall ? 0 : POLLIN };
    long count = 0;
    ssize_t n;

    while (!recv_stop && time(NULL) < deadline) {
        if (poll(&pfd, 1, 100) <= 0 || stall) {
            continue;
        }
        if ((n = recv(fd, buf, sizeof(buf) - 1, 0)) < 0) {
            continue;
        }
        buf[n] = '\n';
        if (write(out, buf, (size_t)n + 1) != n + 1) {
            return -1;
        }
        count++;
    }
    /* What was queued before the stop is received, as syslogd would. */
    while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) >= 0) {
        buf[n] = '\n';
        if (write(out, buf, (size_t)n + 1) != n + 1) {
            return -1;
        }
        count++;
    }
    return count;
}

static int cmd_syslog_recv(int argc, char **argv)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct sigaction sa;
    long secs, count;
    int fd, out;

    if (argc < 5 || argc > 6 || (secs = atol(argv[4])) <= 0 ||
        (argc == 6 && strcmp(argv[5], "stall") != 0) ||
        strlen(argv[2]) >= sizeof(addr.sun_path)) {
        return fail("usage: syslog-recv PATH OUT SECONDS [stall]");
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = recv_on_term;
    sigaction(SIGTERM, &sa, NULL);
    memcpy(addr.sun_path, argv[2], strlen(argv[2]) + 1);
    if ((out = open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                    0600)) < 0) {
        return fail("%s: %s", argv[3], strerror(errno));
    }
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(out);
        return fail("bind %s: %s", argv[2], strerror(errno));
    }
    count = recv_loop(fd, out, time(NULL) + secs, argc == 6);
    unlink(argv[2]);
    close(fd);
    close(out);
    if (count < 0) {
        return fail("%s: write failed", argv[3]);
    }
    printf("%ld\n", count);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "sign-record") == 0) {
        return cmd_sign_record(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "tamper") == 0) {
        return cmd_tamper(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "syslog-recv") == 0) {
        return cmd_syslog_recv(argc, argv);
    }
    return fail("usage: kh_audit_itest sign-record|tamper|syslog-recv ...");
}
