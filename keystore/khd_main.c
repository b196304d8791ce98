/*
 * keyholderd - holds private keys and signs for local clients.
 *
 *   keyholderd [--socket PATH] [--state-dir DIR] [--socket-group GROUP]
 *              [--foreground] [--max-clients N] [--max-clients-per-uid N]
 *              [--io-timeout-ms MS] [--idle-timeout-ms MS]
 *              [--secure-heap BYTES] [--user NAME] [--require-mlock]
 *              [--no-seccomp] [--syslog] [--syslog-socket PATH]
 *              [--checkpoint-every N]
 *              [--checkpoint-secs S]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "kh_err.h"
#include "khd_harden.h"
#include "khd_keys.h"
#include "khd_log.h"
#include "khd_server.h"
#include "khd_state.h"
#include "khd_syslog.h"

#define KHD_DEFAULT_SOCKET "/run/keyholder/keyholder.sock"
#define KHD_DEFAULT_STATE_DIR "/var/lib/keyholder"
#define KHD_DEFAULT_MAX_CLIENTS 256
#define KHD_DEFAULT_IO_TIMEOUT_MS 10000
/* Clients reconnect transparently (kh_client retries a closed connection). */
#define KHD_DEFAULT_IDLE_TIMEOUT_MS (10 * 60 * 1000)
/* Power of two; holds the KEK, unwrapped keys and OpenSSL's secure BNs. */
#define KHD_DEFAULT_SECURE_HEAP (8u * 1024 * 1024)

struct khd_options {
    const char *socket_path;
    const char *state_dir;
    const char *socket_group;
    int foreground;
    unsigned max_clients;
    unsigned max_clients_per_uid; /* 0: half of max_clients */
    int io_timeout_ms;
    int idle_timeout_ms;
    size_t secure_heap;
    const char *user; /* --user: setuid to it once the socket is bound */
    int require_mlock;
    int no_seccomp;
    unsigned challenge_ttl;  /* --challenge-ttl SECONDS */
    unsigned unseal_timeout; /* --unseal-timeout SECONDS */
    int syslog;            /* --syslog: each committed audit entry */
    const char *syslog_socket; /* --syslog-socket PATH (implies --syslog) */
    unsigned long cp_every, cp_secs;
};

static int khd_stop_pipe[2] = { -1, -1 };

static void khd_on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;

    (void)!write(khd_stop_pipe[1], &c, 1);
    errno = saved;
}

static void khd_usage(FILE *f)
{
    fprintf(f,
            "usage: keyholderd [--socket PATH] [--state-dir DIR]\n"
            "                  [--socket-group GROUP] [--foreground]\n"
            "                  [--max-clients N] [--max-clients-per-uid N]\n"
            "                  [--io-timeout-ms MS] [--idle-timeout-ms MS]\n"
            "                  [--secure-heap BYTES] [--user NAME]\n"
            "                  [--require-mlock] [--no-seccomp]\n"
            "                  [--challenge-ttl SECONDS] "
            "[--unseal-timeout SECONDS]\n"
            "                  [--syslog] [--syslog-socket PATH]\n"
            "                  [--checkpoint-every N] [--checkpoint-secs S]\n"
            "  --socket        default $KEYHOLDER_SOCKET, else %s\n"
            "  --state-dir     default %s\n"
            "  --max-clients   connections in all (default 256); one uid may\n"
            "                  hold --max-clients-per-uid (default half)\n"
            "  --io-timeout-ms a started frame must arrive within (10000)\n"
            "  --idle-timeout-ms  close a connection idle this long (600000;\n"
            "                  0: never)\n"
            "  --user          run as NAME once the socket is bound (root)\n"
            "  --require-mlock refuse to start if memory cannot be locked\n"
            "  --no-seccomp    no system call filter (debugging only)\n"
            "  --challenge-ttl operator challenge lifetime, default 60\n"
            "  --unseal-timeout a partial unseal expires, default 600\n"
            "  --syslog        send each committed audit entry to syslog\n"
            "                  (LOG_AUTHPRIV, one JSON line)\n"
            "  --syslog-socket PATH  its Unix datagram socket (default\n"
            "                  /dev/log; implies --syslog)\n"
            "  --checkpoint-every N, --checkpoint-secs S\n"
            "                  sign an audit checkpoint every N entries or S\n"
            "                  seconds (default 1000, 60)\n",
            KHD_DEFAULT_SOCKET, KHD_DEFAULT_STATE_DIR);
}

static int khd_parse_uint(const char *s, unsigned long max,
                          unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > max ||
        s[0] == '-') {
        return -1;
    }
    *out = v;
    return 0;
}

/* Returns 0 to run, 1 to exit 0 (help), 2 for a usage error. */
static int khd_parse_args(int argc, char **argv, struct khd_options *o)
{
    static const struct option longopts[] = {
        { "socket", required_argument, NULL, 's' },
        { "state-dir", required_argument, NULL, 'd' },
        { "socket-group", required_argument, NULL, 'g' },
        { "foreground", no_argument, NULL, 'f' },
        { "max-clients", required_argument, NULL, 'm' },
        { "max-clients-per-uid", required_argument, NULL, 'M' },
        { "io-timeout-ms", required_argument, NULL, 't' },
        { "idle-timeout-ms", required_argument, NULL, 'i' },
        { "secure-heap", required_argument, NULL, 'H' },
        { "user", required_argument, NULL, 'u' },
        { "require-mlock", no_argument, NULL, 'L' },
        { "no-seccomp", no_argument, NULL, 'S' },
        { "challenge-ttl", required_argument, NULL, 'C' },
        { "unseal-timeout", required_argument, NULL, 'U' },
        { "syslog", no_argument, NULL, 'Y' },
        { "syslog-socket", required_argument, NULL, 'P' },
        { "checkpoint-every", required_argument, NULL, 'N' },
        { "checkpoint-secs", required_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    unsigned long v;
    int c;

    o->socket_path = getenv("KEYHOLDER_SOCKET");
    if (o->socket_path == NULL || o->socket_path[0] == '\0') {
        o->socket_path = KHD_DEFAULT_SOCKET;
    }
    o->state_dir = KHD_DEFAULT_STATE_DIR;
    o->max_clients = KHD_DEFAULT_MAX_CLIENTS;
    o->io_timeout_ms = KHD_DEFAULT_IO_TIMEOUT_MS;
    o->idle_timeout_ms = KHD_DEFAULT_IDLE_TIMEOUT_MS;
    o->secure_heap = KHD_DEFAULT_SECURE_HEAP;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->socket_path = optarg;
            break;
        case 'd':
            o->state_dir = optarg;
            break;
        case 'g':
            o->socket_group = optarg;
            break;
        case 'f':
            o->foreground = 1;
            break;
        case 'm':
            if (khd_parse_uint(optarg, 65536, &v) != 0) {
                fprintf(stderr, "keyholderd: bad --max-clients '%s'\n",
                        optarg);
                return 2;
            }
            o->max_clients = (unsigned)v;
            break;
        case 'M':
            if (khd_parse_uint(optarg, 65536, &v) != 0) {
                fprintf(stderr, "keyholderd: bad --max-clients-per-uid "
                                "'%s'\n", optarg);
                return 2;
            }
            o->max_clients_per_uid = (unsigned)v;
            break;
        case 'i':
            /* 0 is allowed here: no idle timeout. */
            if (strcmp(optarg, "0") == 0) {
                o->idle_timeout_ms = 0;
                break;
            }
            if (khd_parse_uint(optarg, 24ul * 3600 * 1000, &v) != 0) {
                fprintf(stderr, "keyholderd: bad --idle-timeout-ms '%s'\n",
                        optarg);
                return 2;
            }
            o->idle_timeout_ms = (int)v;
            break;
        case 't':
            if (khd_parse_uint(optarg, 3600 * 1000, &v) != 0) {
                fprintf(stderr, "keyholderd: bad --io-timeout-ms '%s'\n",
                        optarg);
                return 2;
            }
            o->io_timeout_ms = (int)v;
            break;
        case 'H':
            if (khd_parse_uint(optarg, 1ul << 30, &v) != 0 ||
                (v & (v - 1)) != 0) {
                fprintf(stderr, "keyholderd: --secure-heap must be a power "
                                "of two up to 1 GiB\n");
                return 2;
            }
            o->secure_heap = v;
            break;
        case 'u':
            o->user = optarg;
            break;
        case 'L':
            o->require_mlock = 1;
            break;
        case 'S':
            o->no_seccomp = 1;
            break;
        case 'C':
        case 'U':
            if (khd_parse_uint(optarg, 86400, &v) != 0) {
                fprintf(stderr, "keyholderd: bad --%s '%s' (1..86400)\n",
                        c == 'C' ? "challenge-ttl" : "unseal-timeout",
                        optarg);
                return 2;
            }
            if (c == 'C') {
                o->challenge_ttl = (unsigned)v;
            } else {
                o->unseal_timeout = (unsigned)v;
            }
            break;
        case 'Y':
            o->syslog = 1;
            break;
        case 'P':
            if (strlen(optarg) > KHD_SYSLOG_PATH_MAX) {
                fprintf(stderr, "keyholderd: --syslog-socket path is longer "
                        "than %d bytes\n", KHD_SYSLOG_PATH_MAX);
                return 2;
            }
            o->syslog = 1;
            o->syslog_socket = optarg;
            break;
        case 'N':
        case 'T':
            if (khd_parse_uint(optarg, 100000000, &v) != 0) {
                fprintf(stderr, "keyholderd: bad --checkpoint-%s '%s'\n",
                        c == 'N' ? "every" : "secs", optarg);
                return 2;
            }
            *(c == 'N' ? &o->cp_every : &o->cp_secs) = v;
            break;
        case 'h':
            khd_usage(stdout);
            return 1;
        case 'V':
            printf("keyholderd %s\n", KH_VERSION);
            return 1;
        default:
            khd_usage(stderr);
            return 2;
        }
    }
    if (o->max_clients_per_uid == 0) {
        o->max_clients_per_uid = o->max_clients > 1 ? o->max_clients / 2 : 1;
    }
    if (o->max_clients_per_uid > o->max_clients) {
        o->max_clients_per_uid = o->max_clients;
    }
    if (optind != argc) {
        fprintf(stderr, "keyholderd: unexpected argument '%s'\n",
                argv[optind]);
        return 2;
    }
    return 0;
}

/*
 * Creates the state dir (0700) and the socket's dir (0711) when missing.
 * A state dir created here for --user is given to that user.
 */
static int khd_prepare_dirs(const struct khd_options *o,
                            const char *socket_path,
                            const struct khd_user *u)
{
    char parent[PATH_MAX];
    char *slash;

    if (mkdir(o->state_dir, 0700) == 0) {
        if (khd_harden_give_dir(o->state_dir, u) != 0) {
            return -1;
        }
    } else if (errno != EEXIST) {
        khd_err("cannot create state dir %s: %s", o->state_dir,
                strerror(errno));
        return -1;
    }
    snprintf(parent, sizeof(parent), "%s", socket_path);
    if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
        *slash = '\0';
        /* 0711 on a dir we create: clients reach the socket, cannot list. */
        if (mkdir(parent, 0711) != 0 && errno != EEXIST) {
            khd_err("cannot create socket dir %s: %s", parent,
                    strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* |path| made absolute (the daemon leaves its cwd for /). */
static char *khd_absolute(const char *path)
{
    char cwd[PATH_MAX];
    char *out;

    if (path[0] == '/') {
        return strdup(path);
    }
    if (getcwd(cwd, sizeof(cwd)) == NULL ||
        asprintf(&out, "%s/%s", cwd, path) < 0) {
        return NULL;
    }
    return out;
}

/*
 * SHA-256 of the running binary, for the ceremony record (the firmware
 * analogue). Read once at start, before the seccomp filter.
 */
static int khd_hash_self(uint8_t out[32])
{
    unsigned char buf[65536];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    ssize_t n;
    int fd, r = -1;

    if (md == NULL ||
        (fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) < 0) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
        while ((n = read(fd, buf, sizeof(buf))) > 0 &&
               EVP_DigestUpdate(md, buf, (size_t)n) == 1) {
        }
        if (n == 0 && EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32) {
            r = 0;
        }
    }
    close(fd);
    EVP_MD_CTX_free(md);
    return r;
}

static int khd_init_secure_heap(size_t size)
{
    int r = CRYPTO_secure_malloc_init(size, 32);

    if (r == 0) {
        khd_err("cannot create the secure heap (%zu bytes): keys will not "
                "be unsealed", size);
    } else if (r == 2) {
        khd_warn("secure heap has no mlock/guard pages (RLIMIT_MEMLOCK?): "
                 "key material may be swapped");
    }
    return r;
}

/*
 * Without --foreground: fork, and let the parent exit only once the child
 * is serving (or has failed), so "keyholderd && khadmin status" works.
 */
static int khd_daemonize(int *ready_fd)
{
    int p[2];
    pid_t pid;
    char status = 1;

    if (pipe2(p, O_CLOEXEC) != 0) {
        return -1;
    }
    if ((pid = fork()) < 0) {
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        if (read(p[0], &status, 1) != 1) {
            status = 1;
        }
        _exit(status);
    }
    close(p[0]);
    if (setsid() < 0) {
        return -1;
    }
    *ready_fd = p[1];
    return 0;
}

static void khd_report_ready(int *ready_fd, char status)
{
    if (*ready_fd < 0) {
        return;
    }
    (void)!write(*ready_fd, &status, 1);
    close(*ready_fd);
    *ready_fd = -1;
}

/* A detached daemon logs to syslog; stdio goes to /dev/null. */
static void khd_detach_stdio(void)
{
    int devnull;

    if ((devnull = open("/dev/null", O_RDWR)) >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        if (devnull > 2) {
            close(devnull);
        }
    }
}

/*
 * The order matters; each step says why it is where it is. Root is needed
 * only up to the bind (socket dir, socket group); the keystore is opened
 * as the final user, then the seccomp filter closes the door behind it.
 */
int main(int argc, char **argv)
{
    struct khd_options o = { 0 };
    struct khd_server_config scfg;
    struct khd_config cfg = { 0 };
    struct khd_ctx *ctx = NULL;
    struct khd_user user;
    struct sigaction sa;
    char *state_dir = NULL, *socket_path = NULL;
    int r, lfd = -1, ready_fd = -1, rc = 1, locked;

    /*
     * First OpenSSL call: never read an openssl.cnf ($OPENSSL_CONF may name
     * modules, even the keyholder provider itself). The daemon uses the
     * built-in default provider only.
     */
    if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1) {
        fprintf(stderr, "keyholderd: OpenSSL initialization failed\n");
        return 1;
    }
    if ((r = khd_parse_args(argc, argv, &o)) != 0) {
        return r == 1 ? 0 : 2;
    }
    /* First: nothing inherited survives into openlog, the pipe, LMDB. */
    khd_harden_fds();
    khd_log_init(o.foreground);
    /* Before the fork, which inherits it: never dumpable, no core. */
    khd_harden_process();
    if (khd_harden_lookup_user(o.user, &user) != 0 ||
        (socket_path = khd_absolute(o.socket_path)) == NULL) {
        return 1;
    }
    if (user.uid == 0) {
        khd_warn("running as root: in production start keyholderd with "
                 "--user NAME (or as that user, the systemd unit's User=)");
    }
    if (!o.foreground && khd_daemonize(&ready_fd) != 0) {
        khd_err("cannot daemonize: %s", strerror(errno));
        free(socket_path);
        return 1;
    }
    /*
     * After the fork (locks are not inherited), before the secure heap,
     * OpenSSL and LMDB map anything: all of it is locked from the start.
     */
    locked = khd_harden_mlock(&user, o.require_mlock) == 0;
    if (!locked && o.require_mlock) {
        goto out;
    }
    if (khd_prepare_dirs(&o, socket_path, &user) != 0) {
        goto out;
    }
    if ((state_dir = realpath(o.state_dir, NULL)) == NULL) {
        khd_err("state dir %s: %s", o.state_dir, strerror(errno));
        goto out;
    }
    /* Owned by the user keyholderd will run as, not by who starts it. */
    if (khd_harden_check_state_dir(state_dir, &user) != 0 || chdir("/") != 0) {
        goto out;
    }
    if (pipe2(khd_stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = khd_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    memset(&cfg, 0, sizeof(cfg));
    cfg.state_dir = state_dir;
    cfg.challenge_ttl = o.challenge_ttl;
    cfg.unseal_timeout = o.unseal_timeout;
    cfg.secure_heap = khd_init_secure_heap(o.secure_heap);
    if (khd_hash_self(cfg.exe_sha256) != 0) {
        khd_err("cannot hash /proc/self/exe for the ceremony record");
        goto out;
    }
    cfg.audit.syslog = o.syslog;
    cfg.audit.syslog_socket = o.syslog_socket;
    cfg.audit.checkpoint_every = (uint32_t)o.cp_every;
    cfg.audit.checkpoint_secs = (uint32_t)o.cp_secs;
    if ((r = khd_keys_init()) != 0) {
        khd_err("crypto init failed: %s", kh_strerror(r));
        goto out;
    }
    /* The DRBG is seeded (getrandom) before the filter is in place. */
    if (RAND_status() != 1) {
        khd_err("OpenSSL initialization failed");
        goto out;
    }
    scfg.socket_path = socket_path;
    scfg.socket_group = o.socket_group;
    scfg.max_clients = o.max_clients;
    scfg.max_clients_per_uid = o.max_clients_per_uid;
    scfg.io_timeout_ms = o.io_timeout_ms;
    scfg.idle_timeout_ms = o.idle_timeout_ms;
    if ((lfd = khd_server_listen(&scfg)) < 0) {
        goto out;
    }
    /*
     * Root is done: the socket is bound and grouped. The keystore is
     * opened as the final user, so its files are that user's and root
     * never opens a file in a directory another user can write.
     */
    if (khd_harden_drop(&user) != 0) {
        goto out;
    }
    if ((r = khd_ctx_open(&cfg, &ctx)) != 0) {
        khd_err("cannot open keystore %s: %s", state_dir, kh_strerror(r));
        goto out;
    }
    if (!o.foreground) {
        khd_detach_stdio();
    }
    /* Last, once every file and socket is open; before any thread. */
    if (o.no_seccomp) {
        khd_warn("--no-seccomp: running WITHOUT the system call filter "
                 "(debugging only)");
    } else if (khd_harden_seccomp(o.foreground && !o.syslog
                                      ? 0
                                      : KHD_SECCOMP_SYSLOG) != 0) {
        goto out;
    }
    /* Threads that must run under the filter start only now. */
    if (khd_ctx_start(ctx) != 0) {
        goto out;
    }
    khd_info("keyholderd %s serving %s (state %s, pid %d, user %s, "
             "seccomp %s, memory %s)", KH_VERSION, socket_path, state_dir,
             (int)getpid(), user.name, o.no_seccomp ? "OFF" : "on",
             locked ? "locked" : "NOT locked");
    khd_info("limits: %u connections, %u per uid, I/O timeout %d ms, idle "
             "timeout %d ms", o.max_clients, o.max_clients_per_uid,
             o.io_timeout_ms, o.idle_timeout_ms);
    khd_report_ready(&ready_fd, 0);
    khd_server_run(ctx, &scfg, lfd, khd_stop_pipe[0]);
    khd_info("shutting down");
    unlink(socket_path);
    rc = 0;
out:
    if (lfd >= 0) {
        close(lfd);
    }
    khd_report_ready(&ready_fd, 1);
    khd_ctx_close(ctx);
    khd_keys_cleanup();
    free(state_dir);
    free(socket_path);
    if (CRYPTO_secure_malloc_initialized()) {
        CRYPTO_secure_malloc_done();
    }
    return rc;
}
