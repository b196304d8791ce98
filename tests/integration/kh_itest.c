/*
 * kh_itest - integration test driver for keyholderd, used by test_*.sh.
 *
 *   kh_itest sign SOCKET NAME IN OUT [sha256|sha384|sha512|none] [pss]
 *       one signature through the client library (message mode), to be
 *       checked with `openssl pkeyutl -verify` by the caller
 *   kh_itest sign-digest SOCKET NAME IN OUT sha256|sha384|sha512 [pss]
 *       same, hashing here and sending the digest
 *   kh_itest concurrent SOCKET CLIENTS ROUNDS NAME...
 *       CLIENTS threads, each its own connection, each signing ROUNDS times
 *       with every NAME at once; every signature verified with OpenSSL
 *   kh_itest hostile SOCKET
 *       garbage, oversized, truncated, unknown and trailing-byte frames
 *       from raw sockets; after each the daemon must still serve others
 *   kh_itest limit SOCKET N
 *       N idle connections held; one more is refused with BUSY
 *   kh_itest expect-error SOCKET NAME ERRNAME
 *       a signature attempt must fail with that error (e.g. SEALED)
 *   kh_itest make-cert SOCKET NAME OUT.pem
 *       a self-signed certificate (CN=NAME, one day) for the held key NAME,
 *       signed by that key through the daemon: no private key leaves it
 *   kh_itest cert-import-raw SOCKET NAME FILE ok|ERRNAME
 *       sends FILE's bytes unchanged as NAME's certificate; the import must
 *       succeed or fail with that error
 *
 * Exit 0 when everything held, 1 with a message otherwise.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kh_client.h"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "kh_itest: FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL) {
        if (f != NULL) {
            fclose(f);
        }
        return NULL;
    }
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (f == NULL) {
        return -1;
    }
    ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/*- sign / sign-digest ------------------------------------------------- */

static int cmd_sign(int argc, char **argv, int prehash)
{
    struct kh_sign_request req = { .version = 0 };
    struct kh_sign_reply rep;
    struct kh_key_info info;
    struct kh_client *c;
    uint8_t md[EVP_MAX_MD_SIZE], *msg;
    unsigned int mdlen;
    size_t len;
    int r;

    if (argc < 6) {
        return fail("usage: sign SOCKET NAME IN OUT [digest] [pss]");
    }
    if ((msg = read_file(argv[4], &len)) == NULL) {
        return fail("cannot read %s", argv[4]);
    }
    if (kh_client_new(argv[2], &c) != 0) {
        return fail("alloc");
    }
    if ((r = kh_client_key_info(c, argv[3], 0, &info)) != 0) {
        return fail("key info %s: %s", argv[3], kh_client_reason(c));
    }
    snprintf(req.name, sizeof(req.name), "%s", argv[3]);
    req.input = KH_INPUT_MESSAGE;
    req.digest = KH_DIGEST_NONE;
    if (argc > 6 && strcmp(argv[6], "none") != 0 &&
        kh_digest_from_name(argv[6], &req.digest) != 0) {
        return fail("bad digest %s", argv[6]);
    }
    if (kh_key_type_is_rsa(info.type)) {
        req.padding = argc > 7 && strcmp(argv[7], "pss") == 0 ? KH_PAD_PSS
                                                               : KH_PAD_PKCS1;
        req.salt_len = KH_PSS_SALT_DIGEST;
    }
    req.data = msg;
    req.data_len = len;
    if (prehash) {
        const EVP_MD *type = EVP_get_digestbyname(kh_digest_name(req.digest));

        if (type == NULL || EVP_Digest(msg, len, md, &mdlen, type, NULL) != 1) {
            return fail("hash");
        }
        req.input = KH_INPUT_DIGEST;
        req.data = md;
        req.data_len = mdlen;
    }
    if ((r = kh_client_sign(c, &req, &rep)) != 0) {
        return fail("sign %s: %s (%s)", argv[3], kh_client_reason(c),
                    kh_errname(r));
    }
    if (write_file(argv[5], rep.sig, rep.sig_len) != 0) {
        return fail("write %s", argv[5]);
    }
    kh_client_free(c);
    free(msg);
    return 0;
}

/*- concurrent --------------------------------------------------------- */

struct conc_key {
    struct kh_key_info info;
    EVP_PKEY *pub;
};

struct conc_shared {
    const char *socket;
    struct conc_key *keys;
    int n_keys;
    int rounds;
    pthread_barrier_t start;
};

struct conc_thread {
    struct conc_shared *sh;
    int id;
    long ok, bad;
    char err[256];
};

/* Verifies one signature over |msg| with the key's public half. */
static int verify(const struct conc_key *k, const uint8_t *msg, size_t len,
                  const struct kh_sign_reply *rep)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *md = k->info.type == KH_KEY_ED25519 ? NULL : EVP_sha256();
    int ok = 0;

    if (mctx != NULL &&
        EVP_DigestVerifyInit(mctx, &pctx, md, NULL, k->pub) == 1 &&
        (!kh_key_type_is_rsa(k->info.type) ||
         EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1)) {
        ok = EVP_DigestVerify(mctx, rep->sig, rep->sig_len, msg, len) == 1;
    }
    EVP_MD_CTX_free(mctx);
    return ok;
}

static void *conc_main(void *arg)
{
    struct conc_thread *t = arg;
    struct conc_shared *sh = t->sh;
    struct kh_client *c;
    uint8_t msg[64];

    if (kh_client_new(sh->socket, &c) != 0) {
        t->bad++;
        return NULL;
    }
    pthread_barrier_wait(&sh->start);
    for (int round = 0; round < sh->rounds; round++) {
        for (int i = 0; i < sh->n_keys; i++) {
            const struct conc_key *k = &sh->keys[i];
            struct kh_sign_request req = { .input = KH_INPUT_MESSAGE };
            struct kh_sign_reply rep;
            int r;

            snprintf((char *)msg, sizeof(msg), "thread %d round %d key %d",
                     t->id, round, i);
            snprintf(req.name, sizeof(req.name), "%s", k->info.name);
            req.digest = k->info.type == KH_KEY_ED25519 ? KH_DIGEST_NONE
                                                        : KH_DIGEST_SHA256;
            if (kh_key_type_is_rsa(k->info.type)) {
                req.padding = KH_PAD_PSS;
                req.salt_len = KH_PSS_SALT_DIGEST;
            }
            req.data = msg;
            req.data_len = strlen((char *)msg);
            r = kh_client_sign(c, &req, &rep);
            if (r == 0 && verify(k, msg, req.data_len, &rep)) {
                t->ok++;
            } else {
                t->bad++;
                snprintf(t->err, sizeof(t->err), "%s: %s", k->info.name,
                         r != 0 ? kh_client_reason(c) : "bad signature");
            }
        }
    }
    kh_client_free(c);
    return NULL;
}

static int cmd_concurrent(int argc, char **argv)
{
    struct conc_shared sh = { 0 };
    struct conc_thread *th;
    pthread_t *tids;
    struct kh_client *c;
    long ok = 0, bad = 0;
    int n;

    if (argc < 6) {
        return fail("usage: concurrent SOCKET CLIENTS ROUNDS NAME...");
    }
    sh.socket = argv[2];
    n = atoi(argv[3]);
    sh.rounds = atoi(argv[4]);
    sh.n_keys = argc - 5;
    if (n <= 0 || n > 1024 || sh.rounds <= 0) {
        return fail("bad CLIENTS or ROUNDS");
    }
    sh.keys = calloc((size_t)sh.n_keys, sizeof(*sh.keys));
    th = calloc((size_t)n, sizeof(*th));
    tids = calloc((size_t)n, sizeof(*tids));
    if (sh.keys == NULL || th == NULL || tids == NULL ||
        kh_client_new(sh.socket, &c) != 0) {
        return fail("alloc");
    }
    for (int i = 0; i < sh.n_keys; i++) {
        const unsigned char *p;

        if (kh_client_key_info(c, argv[5 + i], 0, &sh.keys[i].info) != 0) {
            return fail("key %s: %s", argv[5 + i], kh_client_reason(c));
        }
        p = sh.keys[i].info.spki;
        sh.keys[i].pub = d2i_PUBKEY(NULL, &p, (long)sh.keys[i].info.spki_len);
        if (sh.keys[i].pub == NULL) {
            return fail("key %s: SPKI does not parse", argv[5 + i]);
        }
    }
    kh_client_free(c);
    pthread_barrier_init(&sh.start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        th[i].sh = &sh;
        th[i].id = i;
        if (pthread_create(&tids[i], NULL, conc_main, &th[i]) != 0) {
            return fail("pthread_create");
        }
    }
    for (int i = 0; i < n; i++) {
        pthread_join(tids[i], NULL);
        ok += th[i].ok;
        bad += th[i].bad;
        if (th[i].bad > 0) {
            fprintf(stderr, "client %d: %ld failed (%s)\n", i, th[i].bad,
                    th[i].err);
        }
    }
    pthread_barrier_destroy(&sh.start);
    printf("concurrent: %d clients x %d rounds x %d keys: %ld valid, %ld "
           "failed\n", n, sh.rounds, sh.n_keys, ok, bad);
    for (int i = 0; i < sh.n_keys; i++) {
        EVP_PKEY_free(sh.keys[i].pub);
    }
    free(sh.keys);
    free(th);
    free(tids);
    if (bad != 0 || ok != (long)n * sh.rounds * sh.n_keys) {
        return fail("%ld of %ld signatures failed", bad,
                    (long)n * sh.rounds * sh.n_keys);
    }
    return 0;
}

/*- hostile ------------------------------------------------------------ */

static int raw_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct timeval tv = { .tv_sec = 5 };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/*
 * Reads one reply frame. Returns its error code (negative), 1 for a
 * success reply, 0 for a closed connection, -1000 for a malformed reply.
 */
static int raw_reply(int fd, uint32_t *req_id)
{
    uint8_t hdr[4], body[4096];
    struct kh_frame f;
    struct kh_error_reply e;
    uint32_t len;
    ssize_t n;
    size_t got = 0;

    n = recv(fd, hdr, 4, MSG_WAITALL);
    if (n == 0) {
        return 0;
    }
    if (n != 4 || kh_frame_check_len(hdr, &len) != 0 || len > sizeof(body)) {
        return -1000;
    }
    while (got < len) {
        n = recv(fd, body + got, len - got, 0);
        if (n <= 0) {
            return -1000;
        }
        got += (size_t)n;
    }
    if (kh_frame_decode(body, len, &f) != 0) {
        return -1000;
    }
    *req_id = f.request_id;
    if (f.type != KH_MSG_ERROR) {
        return 1;
    }
    if (kh_error_decode(&f.body, &e) != 0) {
        return -1000;
    }
    return e.code;
}

/*
 * 1 if the peer closed the connection, 0 if it is still open. A Unix socket
 * closed while our unread bytes sat in its queue reports ECONNRESET.
 */
static int raw_closed(int fd)
{
    uint8_t b;
    struct timeval tv = { .tv_sec = 2 };
    ssize_t n;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    n = recv(fd, &b, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static int daemon_alive(const char *path)
{
    struct kh_client *c;
    struct kh_status_reply st;
    int r;

    if (kh_client_new(path, &c) != 0) {
        return 0;
    }
    r = kh_client_status(c, &st);
    kh_client_free(c);
    return r == 0;
}

static size_t frame(uint8_t *out, uint8_t version, uint8_t type, uint32_t id,
                    const uint8_t *body, size_t blen)
{
    uint32_t len = (uint32_t)(6 + blen);

    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    out[4] = version;
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

struct hostile_case {
    const char *what;
    int (*run)(const char *path);
};

static int case_oversized(const char *path)
{
    const uint8_t hdr[4] = { 0x7f, 0xff, 0xff, 0xff }; /* 2 GiB */
    uint32_t id = 99;
    int fd = raw_connect(path), r;

    if (fd < 0 || send(fd, hdr, 4, MSG_NOSIGNAL) != 4) {
        return fail("oversized: connect/send");
    }
    r = raw_reply(fd, &id);
    if (r != KH_ERR_TOO_LARGE || id != 0 || !raw_closed(fd)) {
        close(fd);
        return fail("oversized frame: expected TOO_LARGE and close, got %d",
                    r);
    }
    close(fd);
    return 0;
}

static int case_undersized(const char *path)
{
    const uint8_t hdr[4] = { 0, 0, 0, 2 };
    uint32_t id;
    int fd = raw_connect(path), r;

    if (fd < 0 || send(fd, hdr, 4, MSG_NOSIGNAL) != 4) {
        return fail("undersized: connect/send");
    }
    r = raw_reply(fd, &id);
    close(fd);
    return r == KH_ERR_INVALID_FORMAT ? 0 : fail("undersized: got %d", r);
}

static int case_garbage(const char *path)
{
    uint8_t junk[512];
    uint32_t id;
    int fd = raw_connect(path), r;

    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (uint8_t)(i * 131 + 7);
    }
    junk[0] = 0;
    junk[1] = 0;
    junk[2] = 1;
    junk[3] = 0; /* 256-byte frame of junk: version byte is not 1 */
    if (fd < 0 || send(fd, junk, sizeof(junk), MSG_NOSIGNAL) < 0) {
        return fail("garbage: connect/send");
    }
    r = raw_reply(fd, &id);
    if (r != KH_ERR_BAD_VERSION || !raw_closed(fd)) {
        close(fd);
        return fail("garbage: expected BAD_VERSION and close, got %d", r);
    }
    close(fd);
    return 0;
}

static int case_unknown_type_keeps_connection(const char *path)
{
    uint8_t buf[64];
    uint32_t id = 0;
    size_t n = frame(buf, KH_PROTO_VERSION, 0x55, 7, NULL, 0);
    int fd = raw_connect(path), r;

    if (fd < 0 || send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n) {
        return fail("unknown type: connect/send");
    }
    r = raw_reply(fd, &id);
    if (r != KH_ERR_UNKNOWN_TYPE || id != 7) {
        close(fd);
        return fail("unknown type: expected UNKNOWN_TYPE for id 7, got %d",
                    r);
    }
    /* Framing was intact, so the same connection keeps working. */
    n = frame(buf, KH_PROTO_VERSION, KH_MSG_STATUS, 8, NULL, 0);
    if (send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n ||
        raw_reply(fd, &id) != 1 || id != 8) {
        close(fd);
        return fail("unknown type: connection unusable afterwards");
    }
    close(fd);
    return 0;
}

static int case_trailing_bytes(const char *path)
{
    const uint8_t extra[3] = { 1, 2, 3 };
    uint8_t buf[64];
    uint32_t id;
    size_t n = frame(buf, KH_PROTO_VERSION, KH_MSG_STATUS, 9, extra, 3);
    int fd = raw_connect(path), r;

    if (fd < 0 || send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n) {
        return fail("trailing: connect/send");
    }
    r = raw_reply(fd, &id);
    close(fd);
    return r == KH_ERR_TRAILING_DATA ? 0 : fail("trailing: got %d", r);
}

static int case_truncated_body(const char *path)
{
    /* A sign request whose string length runs past the frame. */
    const uint8_t body[] = { 0, 0, 0, 3, 'w', 'e', 'b', 0, 0, 0, 0, 1, 1, 0,
                             0, 0, 0, 0, 0, 0, 0, 0, 0x10 };
    uint8_t buf[64];
    uint32_t id;
    size_t n = frame(buf, KH_PROTO_VERSION, KH_MSG_KEY_SIGN, 10, body,
                     sizeof(body));
    int fd = raw_connect(path), r;

    if (fd < 0 || send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n) {
        return fail("truncated: connect/send");
    }
    r = raw_reply(fd, &id);
    close(fd);
    return r == KH_ERR_MESSAGE_INCOMPLETE ? 0 : fail("truncated: got %d", r);
}

/* A certificate over KH_MAX_CERT_LEN: refused, the connection stays. */
static int case_oversized_cert(const char *path)
{
    size_t blen = 4 + 3 + 4 + KH_MAX_CERT_LEN + 1, n;
    uint8_t *body = calloc(1, blen), *buf = malloc(10 + blen);
    uint32_t id = 0, big = KH_MAX_CERT_LEN + 1;
    int fd = -1, r = 1;

    if (body == NULL || buf == NULL) {
        r = fail("oversized cert: alloc");
        goto out;
    }
    memcpy(body, "\0\0\0\3web", 7);
    body[7] = (uint8_t)(big >> 24);
    body[8] = (uint8_t)(big >> 16);
    body[9] = (uint8_t)(big >> 8);
    body[10] = (uint8_t)big;
    n = frame(buf, KH_PROTO_VERSION, KH_MSG_CERT_IMPORT, 12, body, blen);
    if ((fd = raw_connect(path)) < 0 ||
        send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n) {
        r = fail("oversized cert: connect/send");
        goto out;
    }
    if ((r = raw_reply(fd, &id)) != KH_ERR_TOO_LARGE || id != 12) {
        r = fail("oversized cert: expected TOO_LARGE for id 12, got %d", r);
        goto out;
    }
    n = frame(buf, KH_PROTO_VERSION, KH_MSG_STATUS, 13, NULL, 0);
    if (send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n ||
        raw_reply(fd, &id) != 1 || id != 13) {
        r = fail("oversized cert: connection unusable afterwards");
        goto out;
    }
    r = 0;
out:
    if (fd >= 0) {
        close(fd);
    }
    free(body);
    free(buf);
    return r;
}

static int case_disconnect_mid_frame(const char *path)
{
    uint8_t buf[64];
    size_t n = frame(buf, KH_PROTO_VERSION, KH_MSG_STATUS, 11, NULL, 0);
    int fd = raw_connect(path);

    if (fd < 0 || send(fd, buf, n - 3, MSG_NOSIGNAL) != (ssize_t)(n - 3)) {
        return fail("mid-frame: connect/send");
    }
    close(fd);
    return 0;
}

/* A client stuck mid-frame must not delay anyone else. */
static int case_stalled_client(const char *path)
{
    const uint8_t partial[6] = { 0, 0, 0, 6, KH_PROTO_VERSION,
                                 KH_MSG_STATUS };
    struct timespec a, b;
    int fd = raw_connect(path), alive;
    long ms;

    if (fd < 0 || send(fd, partial, sizeof(partial), MSG_NOSIGNAL) != 6) {
        return fail("stalled: connect/send");
    }
    clock_gettime(CLOCK_MONOTONIC, &a);
    alive = daemon_alive(path);
    clock_gettime(CLOCK_MONOTONIC, &b);
    close(fd);
    ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    if (!alive || ms > 1000) {
        return fail("stalled client delayed others: %ld ms", ms);
    }
    return 0;
}

static int cmd_hostile(int argc, char **argv)
{
    static const struct hostile_case cases[] = {
        { "oversized length prefix", case_oversized },
        { "length below the fixed prefix", case_undersized },
        { "garbage bytes", case_garbage },
        { "unknown message type", case_unknown_type_keeps_connection },
        { "trailing bytes after a message", case_trailing_bytes },
        { "truncated field inside a frame", case_truncated_body },
        { "certificate over its size limit", case_oversized_cert },
        { "disconnect in the middle of a frame", case_disconnect_mid_frame },
        { "client stalled mid-frame", case_stalled_client },
    };
    int failed = 0;

    if (argc < 3) {
        return fail("usage: hostile SOCKET");
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = cases[i].run(argv[2]);

        if (r == 0 && !daemon_alive(argv[2])) {
            r = fail("daemon stopped serving after: %s", cases[i].what);
        }
        printf("hostile: %-40s %s\n", cases[i].what, r == 0 ? "ok" : "FAIL");
        failed += r != 0;
    }
    return failed == 0 ? 0 : 1;
}

/*
 * Opens a connection the daemon has accepted and served: one STATUS round
 * trip. A connection of an earlier client (kh_start's readiness probe) may
 * still hold its slot for a moment after that client closed it, so a BUSY
 * here is retried for up to 5 s; anything else fails.
 */
static int held_connect(const char *path)
{
    uint8_t buf[64];
    uint32_t id = 0;

    for (int tries = 0; tries < 50; tries++) {
        int fd = raw_connect(path), r;
        size_t n = frame(buf, KH_PROTO_VERSION, KH_MSG_STATUS, 3, NULL, 0);

        if (fd < 0) {
            return -1;
        }
        if (send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n) {
            close(fd);
            return -1;
        }
        if ((r = raw_reply(fd, &id)) == 1 && id == 3) {
            return fd;
        }
        close(fd);
        if (r != KH_ERR_BUSY) {
            return -1;
        }
        usleep(100 * 1000);
    }
    return -1;
}

/* Holds N served connections open; the next one must be refused: BUSY. */
static int cmd_limit(int argc, char **argv)
{
    int fds[1024], n, extra, r;
    uint32_t id = 1;

    if (argc < 4 || (n = atoi(argv[3])) <= 0 || n > 1024) {
        return fail("usage: limit SOCKET N");
    }
    for (int i = 0; i < n; i++) {
        if ((fds[i] = held_connect(argv[2])) < 0) {
            for (int j = 0; j < i; j++) {
                close(fds[j]);
            }
            return fail("connection %d of %d not served", i + 1, n);
        }
    }
    extra = raw_connect(argv[2]);
    r = extra >= 0 ? raw_reply(extra, &id) : -1;
    if (extra >= 0) {
        close(extra);
    }
    for (int i = 0; i < n; i++) {
        close(fds[i]);
    }
    if (r != KH_ERR_BUSY) {
        return fail("connection %d: expected BUSY, got %d", n + 1, r);
    }
    usleep(200 * 1000); /* let the daemon notice the closed connections */
    if (!daemon_alive(argv[2])) {
        return fail("daemon does not serve after the limit was lifted");
    }
    printf("limit: %d connections held, the next refused with BUSY, "
           "served again once they closed\n", n);
    return 0;
}

static int cmd_expect_error(int argc, char **argv)
{
    struct kh_sign_request req = { .input = KH_INPUT_DIGEST,
                                   .digest = KH_DIGEST_SHA256 };
    struct kh_sign_reply rep;
    struct kh_client *c;
    uint8_t md[32] = { 0 };
    int r;

    if (argc < 5) {
        return fail("usage: expect-error SOCKET NAME ERRNAME");
    }
    if (kh_client_new(argv[2], &c) != 0) {
        return fail("alloc");
    }
    snprintf(req.name, sizeof(req.name), "%s", argv[3]);
    req.data = md;
    req.data_len = sizeof(md);
    r = kh_client_sign(c, &req, &rep);
    if (r == 0 || strcmp(kh_errname(r), argv[4]) != 0) {
        fail("expected %s, got %s (%s)", argv[4], r == 0 ? "success"
                                                         : kh_errname(r),
             kh_client_reason(c));
        kh_client_free(c);
        return 1;
    }
    printf("refused as expected: %s: %s\n", kh_errname(r),
           kh_client_reason(c));
    kh_client_free(c);
    return 0;
}

/*- make-cert / cert-import-raw ------------------------------------------ */

/*
 * How a held key of |type| signs a certificate: the signature algorithm
 * (and whether its parameters are an explicit NULL) and the request.
 */
static int cert_sign_params(uint8_t type, struct kh_sign_request *req,
                            int *nid, int *ptype)
{
    req->input = KH_INPUT_MESSAGE;
    req->digest = KH_DIGEST_SHA256;
    req->padding = KH_PAD_NONE;
    *ptype = V_ASN1_UNDEF; /* parameters absent */
    switch (type) {
    case KH_KEY_P256:
    case KH_KEY_P384:
    case KH_KEY_SECP256K1:
        *nid = NID_ecdsa_with_SHA256;
        return 0;
    case KH_KEY_RSA2048:
    case KH_KEY_RSA3072:
    case KH_KEY_RSA4096:
        *nid = NID_sha256WithRSAEncryption;
        *ptype = V_ASN1_NULL;
        req->padding = KH_PAD_PKCS1;
        return 0;
    case KH_KEY_ED25519:
        *nid = NID_ED25519;
        req->digest = KH_DIGEST_NONE;
        return 0;
    default:
        return -1;
    }
}

static int cert_add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    if ((ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL) {
        return 0;
    }
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* Subject = issuer = CN=|cn|, valid from now for a day, a random serial. */
static int cert_fill(X509 *x, const char *cn, EVP_PKEY *pub)
{
    X509_NAME *name = X509_NAME_new();
    BIGNUM *serial = BN_new();
    int ok;

    ok = name != NULL && serial != NULL &&
         X509_set_version(x, X509_VERSION_3) == 1 &&
         BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
         BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) != NULL &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)cn, -1, -1,
                                    0) == 1 &&
         X509_set_subject_name(x, name) == 1 &&
         X509_set_issuer_name(x, name) == 1 &&
         X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL &&
         X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) != NULL &&
         X509_set_pubkey(x, pub) == 1 &&
         cert_add_ext(x, NID_basic_constraints, "critical,CA:TRUE") &&
         cert_add_ext(x, NID_key_usage,
                      "critical,digitalSignature,keyCertSign") &&
         cert_add_ext(x, NID_subject_key_identifier, "hash");
    X509_NAME_free(name);
    BN_free(serial);
    return ok;
}

static int cmd_make_cert(int argc, char **argv)
{
    struct kh_sign_request req = { .version = 0 };
    struct kh_sign_reply rep;
    struct kh_key_info info;
    struct kh_client *c = NULL;
    const unsigned char *p;
    const ASN1_BIT_STRING *sig;
    const X509_ALGOR *outer;
    unsigned char *tbs = NULL;
    EVP_PKEY *pub = NULL;
    X509 *x = NULL;
    FILE *f = NULL;
    int nid, ptype, tbslen, r = 1;

    if (argc < 5) {
        return fail("usage: make-cert SOCKET NAME OUT.pem");
    }
    if (kh_client_new(argv[2], &c) != 0) {
        return fail("alloc");
    }
    if (kh_client_key_info(c, argv[3], 0, &info) != 0) {
        fail("key info %s: %s", argv[3], kh_client_reason(c));
        goto out;
    }
    p = info.spki;
    if ((pub = d2i_PUBKEY(NULL, &p, (long)info.spki_len)) == NULL) {
        fail("%s: SPKI does not parse", argv[3]);
        goto out;
    }
    if (cert_sign_params(info.type, &req, &nid, &ptype) != 0) {
        fail("%s: unknown key type %u", argv[3], (unsigned)info.type);
        goto out;
    }
    if ((x = X509_new()) == NULL || !cert_fill(x, argv[3], pub)) {
        fail("cannot build the certificate");
        goto out;
    }
    /*
     * The signature algorithm sits in the TBS and outside it; both must be
     * set before the TBS is encoded and signed. OpenSSL's setters need a
     * private key, so set them through the getters' pointers.
     */
    X509_get0_signature(&sig, &outer, x);
    if (X509_ALGOR_set0((X509_ALGOR *)X509_get0_tbs_sigalg(x),
                        OBJ_nid2obj(nid), ptype, NULL) != 1 ||
        X509_ALGOR_set0((X509_ALGOR *)outer, OBJ_nid2obj(nid), ptype,
                        NULL) != 1 ||
        (tbslen = i2d_re_X509_tbs(x, &tbs)) <= 0) {
        fail("cannot encode the TBSCertificate");
        goto out;
    }
    snprintf(req.name, sizeof(req.name), "%s", argv[3]);
    req.version = info.version;
    req.data = tbs;
    req.data_len = (size_t)tbslen;
    if (kh_client_sign(c, &req, &rep) != 0) {
        fail("sign the TBSCertificate with %s: %s", argv[3],
             kh_client_reason(c));
        goto out;
    }
    if (ASN1_BIT_STRING_set((ASN1_BIT_STRING *)sig, rep.sig,
                            (int)rep.sig_len) != 1) {
        fail("cannot set the signature");
        goto out;
    }
    /* A whole number of bytes: no unused bits in the BIT STRING. */
    ((ASN1_BIT_STRING *)sig)->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
    ((ASN1_BIT_STRING *)sig)->flags |= ASN1_STRING_FLAG_BITS_LEFT;
    if (X509_verify(x, pub) != 1) {
        fail("the daemon's signature does not verify");
        goto out;
    }
    if ((f = fopen(argv[4], "w")) == NULL || PEM_write_X509(f, x) != 1) {
        fail("cannot write %s", argv[4]);
        goto out;
    }
    r = 0;
out:
    if (f != NULL && fclose(f) != 0 && r == 0) {
        r = fail("cannot write %s", argv[4]);
    }
    OPENSSL_free(tbs);
    X509_free(x);
    EVP_PKEY_free(pub);
    kh_client_free(c);
    return r;
}

static int cmd_cert_import_raw(int argc, char **argv)
{
    struct kh_client *c;
    uint8_t *der;
    size_t len = 0;
    int r;

    if (argc < 6) {
        return fail("usage: cert-import-raw SOCKET NAME FILE ok|ERRNAME");
    }
    if ((der = read_file(argv[4], &len)) == NULL) {
        return fail("cannot read %s", argv[4]);
    }
    if (kh_client_new(argv[2], &c) != 0) {
        free(der);
        return fail("alloc");
    }
    r = kh_client_cert_import(c, argv[3], der, len);
    if ((r == 0) != (strcmp(argv[5], "ok") == 0) ||
        (r != 0 && strcmp(kh_errname(r), argv[5]) != 0)) {
        fail("cert import %s: expected %s, got %s (%s)", argv[4], argv[5],
             r == 0 ? "success" : kh_errname(r), kh_client_reason(c));
        r = 1;
    } else {
        printf("cert import %s: %s%s%s\n", argv[4],
               r == 0 ? "ok" : kh_errname(r), r == 0 ? "" : ": ",
               kh_client_reason(c));
        r = 0;
    }
    kh_client_free(c);
    free(der);
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        return fail("usage: kh_itest sign|sign-digest|concurrent|hostile|"
                    "limit|expect-error|make-cert|cert-import-raw ...");
    }
    if (strcmp(argv[1], "sign") == 0) {
        return cmd_sign(argc, argv, 0);
    }
    if (strcmp(argv[1], "sign-digest") == 0) {
        return cmd_sign(argc, argv, 1);
    }
    if (strcmp(argv[1], "concurrent") == 0) {
        return cmd_concurrent(argc, argv);
    }
    if (strcmp(argv[1], "hostile") == 0) {
        return cmd_hostile(argc, argv);
    }
    if (strcmp(argv[1], "limit") == 0) {
        return cmd_limit(argc, argv);
    }
    if (strcmp(argv[1], "expect-error") == 0) {
        return cmd_expect_error(argc, argv);
    }
    if (strcmp(argv[1], "make-cert") == 0) {
        return cmd_make_cert(argc, argv);
    }
    if (strcmp(argv[1], "cert-import-raw") == 0) {
        return cmd_cert_import_raw(argc, argv);
    }
    return fail("unknown command %s", argv[1]);
}
