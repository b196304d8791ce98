/*
 * kh_load - load test driver for keyholderd (test_daemon_load.sh).
 *
 *   kh_load SOCKET DAEMON_PID CLIENTS TOTAL P99_FACTOR RSS_SLACK_KB
 *           NAME:WEIGHT...
 *
 * CLIENTS threads, each on its own connection through the client library,
 * share TOTAL signatures (each gets TOTAL/CLIENTS, the first TOTAL%CLIENTS
 * one more). Each walks a wheel of the keys in which NAME appears WEIGHT
 * times, starting at its own offset, so every client signs the same mix.
 * Every signature is verified against the key's public key (SPKI from
 * KEY_INFO) with OpenSSL's default provider.
 *
 * Two phases: the first 10% of each quota warms up (connections, threads,
 * malloc arenas, unwrapped keys), then the daemon's VmRSS is read, then
 * the other 90% run while the main thread samples VmRSS every 100 ms.
 *
 * Printed: per client the count, p50, p99 and max latency of the sign
 * call (verification not included); the median and worst client; VmRSS
 * before, after warm-up, the peak during the run and at the end; VmHWM.
 * Fails (exit 1) when any signature failed or did not verify, a client did
 * not finish its quota, the worst client's p99 exceeds P99_FACTOR times
 * the median client's p99, or VmRSS rose more than RSS_SLACK_KB over its
 * value after warm-up.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "kh_client.h"

#define LOAD_MAX_KEYS 16
#define LOAD_WHEEL_MAX 256
#define LOAD_WARMUP_PCT 10
#define LOAD_RSS_SAMPLE_MS 100

struct load_key {
    struct kh_key_info info;
    EVP_PKEY *pub;
    const EVP_MD *md; /* NULL for Ed25519 */
    uint8_t digest;   /* KH_DIGEST_* sent with the request */
    long done;        /* signatures made with it (summed at the end) */
};

struct load_shared {
    const char *socket;
    struct load_key keys[LOAD_MAX_KEYS];
    int n_keys;
    int wheel[LOAD_WHEEL_MAX];
    int wheel_len;
    pthread_barrier_t warm; /* clients + main: warm-up done */
    pthread_barrier_t go;   /* clients + main: main phase starts */
    atomic_int running;
};

struct load_client {
    struct load_shared *sh;
    int id;
    long quota, ok, bad;
    long per_key[LOAD_MAX_KEYS];
    uint32_t *lat_us; /* one per signature */
    double elapsed_s;
    char err[256];
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "kh_load: FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * VmRSS less RssFile, and VmHWM, of |pid| in kB; -1 if unreadable. Pages
 * of mapped files do not count: the LMDB keystore is mapped, and it grows
 * by one audit entry per signature (keystore/AUDIT.md); page cache that
 * the kernel may drop is not daemon memory. Leaks are anonymous memory.
 */
static int read_rss(long pid, long *rss_kb, long *hwm_kb)
{
    char path[64], line[256];
    long file_kb = 0;
    FILE *f;

    *rss_kb = *hwm_kb = -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    if ((f = fopen(path, "r")) == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            *rss_kb = strtol(line + 6, NULL, 10);
        } else if (strncmp(line, "VmHWM:", 6) == 0) {
            *hwm_kb = strtol(line + 6, NULL, 10);
        } else if (strncmp(line, "RssFile:", 8) == 0) {
            file_kb = strtol(line + 8, NULL, 10);
        }
    }
    fclose(f);
    if (*rss_kb >= 0) {
        *rss_kb -= file_kb;
    }
    return *rss_kb >= 0 && *hwm_kb >= 0 ? 0 : -1;
}

/*- Keys --------------------------------------------------------------- */

static int key_setup(struct kh_client *c, const char *name,
                     struct load_key *k)
{
    const unsigned char *p;

    if (kh_client_key_info(c, name, 0, &k->info) != 0) {
        return fail("key %s: %s", name, kh_client_reason(c));
    }
    p = k->info.spki;
    if ((k->pub = d2i_PUBKEY(NULL, &p, (long)k->info.spki_len)) == NULL) {
        return fail("key %s: SPKI does not parse", name);
    }
    switch (k->info.type) {
    case KH_KEY_ED25519:
        k->md = NULL;
        k->digest = KH_DIGEST_NONE;
        break;
    case KH_KEY_P384:
        k->md = EVP_sha384();
        k->digest = KH_DIGEST_SHA384;
        break;
    default:
        k->md = EVP_sha256();
        k->digest = KH_DIGEST_SHA256;
        break;
    }
    return 0;
}

static int gcd(int a, int b)
{
    while (b != 0) {
        int t = a % b;

        a = b;
        b = t;
    }
    return a;
}

/* NAME:WEIGHT arguments: keys and the wheel. */
static int keys_setup(struct load_shared *sh, int argc, char **argv)
{
    struct kh_client *c;
    int r = 0;

    if (argc > LOAD_MAX_KEYS) {
        return fail("at most %d keys", LOAD_MAX_KEYS);
    }
    if (kh_client_new(sh->socket, &c) != 0) {
        return fail("alloc");
    }
    for (int i = 0; r == 0 && i < argc; i++) {
        char name[KH_MAX_NAME_LEN + 1], *colon;
        long w;

        snprintf(name, sizeof(name), "%s", argv[i]);
        if ((colon = strchr(name, ':')) == NULL ||
            (w = strtol(colon + 1, NULL, 10)) <= 0 ||
            sh->wheel_len + w > LOAD_WHEEL_MAX) {
            r = fail("bad NAME:WEIGHT '%s'", argv[i]);
            break;
        }
        *colon = '\0';
        r = key_setup(c, name, &sh->keys[i]);
        for (long j = 0; j < w; j++) {
            sh->wheel[sh->wheel_len++] = i;
        }
        sh->n_keys++;
    }
    kh_client_free(c);
    /* Interleave: spread each key's slots over the wheel (stride walk). */
    if (r == 0) {
        int tmp[LOAD_WHEEL_MAX], n = sh->wheel_len, stride = 7;

        while (gcd(n, stride) != 1) {
            stride++;
        }
        for (int i = 0; i < n; i++) {
            tmp[(i * stride) % n] = sh->wheel[i];
        }
        memcpy(sh->wheel, tmp, sizeof(int) * (size_t)n);
    }
    return r;
}

static int verify(const struct load_key *k, const uint8_t *msg, size_t len,
                  const struct kh_sign_reply *rep)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = 0;

    if (mctx != NULL &&
        EVP_DigestVerifyInit(mctx, &pctx, k->md, NULL, k->pub) == 1 &&
        (!kh_key_type_is_rsa(k->info.type) ||
         EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1)) {
        ok = EVP_DigestVerify(mctx, rep->sig, rep->sig_len, msg, len) == 1;
    }
    EVP_MD_CTX_free(mctx);
    return ok;
}

/*- Clients ------------------------------------------------------------ */

static void client_sign(struct load_client *t, struct kh_client *c, long n)
{
    struct load_shared *sh = t->sh;
    const struct load_key *k = &sh->keys[sh->wheel[(t->id + n) %
                                                   sh->wheel_len]];
    struct kh_sign_request req = { .input = KH_INPUT_MESSAGE };
    struct kh_sign_reply rep;
    uint8_t msg[64];
    int64_t t0;
    int r;

    snprintf((char *)msg, sizeof(msg), "load client %d signature %ld", t->id,
             n);
    snprintf(req.name, sizeof(req.name), "%s", k->info.name);
    req.digest = k->digest;
    if (kh_key_type_is_rsa(k->info.type)) {
        req.padding = KH_PAD_PSS;
        req.salt_len = KH_PSS_SALT_DIGEST;
    }
    req.data = msg;
    req.data_len = strlen((char *)msg);
    t0 = now_us();
    r = kh_client_sign(c, &req, &rep);
    t->lat_us[n] = (uint32_t)(now_us() - t0);
    if (r == 0 && verify(k, msg, req.data_len, &rep)) {
        t->ok++;
        t->per_key[k - sh->keys]++;
    } else {
        if (t->bad++ == 0) {
            snprintf(t->err, sizeof(t->err), "%s: %s", k->info.name,
                     r != 0 ? kh_client_reason(c) : "bad signature");
        }
    }
}

static void *client_main(void *arg)
{
    struct load_client *t = arg;
    struct load_shared *sh = t->sh;
    long warm = t->quota * LOAD_WARMUP_PCT / 100;
    struct kh_client *c = NULL;
    int64_t t0;

    if (kh_client_new(sh->socket, &c) != 0) {
        snprintf(t->err, sizeof(t->err), "client alloc");
    }
    t0 = now_us();
    /* A client stops at its first failure (reported with its reason). */
    for (long n = 0; c != NULL && t->bad == 0 && n < warm; n++) {
        client_sign(t, c, n);
    }
    pthread_barrier_wait(&sh->warm);
    pthread_barrier_wait(&sh->go);
    for (long n = warm; c != NULL && t->bad == 0 && n < t->quota; n++) {
        client_sign(t, c, n);
    }
    t->elapsed_s = (double)(now_us() - t0) / 1e6;
    atomic_fetch_sub(&sh->running, 1);
    kh_client_free(c);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The |pct| percentile of |n| sorted values (nearest rank). */
static double pctl_ms(const uint32_t *v, long n, int pct)
{
    long i = (n * pct + 99) / 100 - 1;

    if (n == 0) {
        return 0;
    }
    return v[i < 0 ? 0 : i] / 1000.0;
}

/*- Report ------------------------------------------------------------- */

struct load_rss {
    long before, warm, peak, end, hwm;
};

/* Per-client lines; the median and worst p99. Returns 0 or 1 (failed). */
static int report_clients(struct load_client *th, int n, double factor)
{
    double *p99 = calloc((size_t)n, sizeof(double)), med_p50, med_p99;
    double *p50 = calloc((size_t)n, sizeof(double));
    int worst = 0, r = 0;

    if (p99 == NULL || p50 == NULL) {
        free(p99);
        free(p50);
        return fail("alloc");
    }
    for (int i = 0; i < n; i++) {
        struct load_client *t = &th[i];

        qsort(t->lat_us, (size_t)t->quota, sizeof(uint32_t), cmp_u32);
        p50[i] = pctl_ms(t->lat_us, t->quota, 50);
        p99[i] = pctl_ms(t->lat_us, t->quota, 99);
        printf("client %2d: %5ld signed in %6.2f s  p50 %7.3f ms  p99 "
               "%7.3f ms  max %8.3f ms\n", i, t->ok, t->elapsed_s, p50[i],
               p99[i], t->quota > 0 ? t->lat_us[t->quota - 1] / 1000.0 : 0);
        if (p99[i] > p99[worst]) {
            worst = i;
        }
    }
    printf("worst client: %d, p99 %.3f ms\n", worst, p99[worst]);
    qsort(p50, (size_t)n, sizeof(double), cmp_double);
    qsort(p99, (size_t)n, sizeof(double), cmp_double);
    med_p50 = p50[n / 2];
    med_p99 = p99[n / 2];
    printf("median client: p50 %.3f ms, p99 %.3f ms; worst p99 / median "
           "p99 = %.2f (limit %.1f)\n", med_p50, med_p99,
           med_p99 > 0 ? p99[n - 1] / med_p99 : 0, factor);
    if (p99[n - 1] > factor * med_p99) {
        r = fail("a client was starved: worst p99 %.3f ms > %.1f x median "
                 "p99 %.3f ms", p99[n - 1], factor, med_p99);
    }
    free(p99);
    free(p50);
    return r;
}

static int report_rss(const struct load_rss *m, long slack_kb)
{
    printf("daemon VmRSS - RssFile: before %ld kB, after warm-up %ld kB, "
           "peak during the run %ld kB, end %ld kB; VmHWM %ld kB\n",
           m->before, m->warm, m->peak, m->end, m->hwm);
    printf("daemon VmRSS - RssFile growth after warm-up: %+ld kB (limit "
           "%ld kB)\n", m->peak - m->warm, slack_kb);
    if (m->before < 0 || m->warm < 0 || m->peak < 0) {
        return fail("cannot read the daemon's /proc status");
    }
    if (m->peak - m->warm > slack_kb) {
        return fail("daemon memory grew %ld kB after warm-up (limit %ld kB)",
                    m->peak - m->warm, slack_kb);
    }
    return 0;
}

/* Main phase: samples the daemon's RSS until every client is done. */
static void sample_rss(struct load_shared *sh, long pid, struct load_rss *m)
{
    long rss, hwm;

    m->peak = m->warm;
    while (atomic_load(&sh->running) > 0) {
        usleep(LOAD_RSS_SAMPLE_MS * 1000);
        if (read_rss(pid, &rss, &hwm) == 0 && rss > m->peak) {
            m->peak = rss;
        }
    }
}

static int run(struct load_shared *sh, struct load_client *th, int n,
               long pid, struct load_rss *m, double *secs)
{
    pthread_t *tids = calloc((size_t)n, sizeof(pthread_t));
    int64_t t0;
    long hwm;

    if (tids == NULL) {
        return fail("alloc");
    }
    read_rss(pid, &m->before, &hwm);
    atomic_store(&sh->running, n);
    t0 = now_us();
    for (int i = 0; i < n; i++) {
        if (pthread_create(&tids[i], NULL, client_main, &th[i]) != 0) {
            return fail("pthread_create");
        }
    }
    pthread_barrier_wait(&sh->warm);
    read_rss(pid, &m->warm, &hwm);
    pthread_barrier_wait(&sh->go);
    sample_rss(sh, pid, m);
    for (int i = 0; i < n; i++) {
        pthread_join(tids[i], NULL);
    }
    *secs = (double)(now_us() - t0) / 1e6;
    read_rss(pid, &m->end, &m->hwm);
    free(tids);
    return 0;
}

static int check_counts(struct load_shared *sh, struct load_client *th,
                        int n, long total, double secs)
{
    long ok = 0, bad = 0;
    int r = 0;

    for (int i = 0; i < n; i++) {
        ok += th[i].ok;
        bad += th[i].bad;
        for (int k = 0; k < sh->n_keys; k++) {
            sh->keys[k].done += th[i].per_key[k];
        }
        if (th[i].bad != 0 || th[i].ok != th[i].quota) {
            r = fail("client %d: %ld of %ld signed and verified (%ld failed: "
                     "%s)", i, th[i].ok, th[i].quota, th[i].bad, th[i].err);
        }
    }
    printf("load: %d clients, %ld signatures in %.1f s (%.0f/s): %ld valid, "
           "%ld failed\n", n, total, secs, (double)total / secs, ok, bad);
    for (int k = 0; k < sh->n_keys; k++) {
        printf("  %-12s type %u: %ld signatures\n", sh->keys[k].info.name,
               (unsigned)sh->keys[k].info.type, sh->keys[k].done);
    }
    if (ok != total) {
        r = fail("%ld of %ld signatures valid", ok, total);
    }
    return r;
}

int main(int argc, char **argv)
{
    struct load_shared sh = { 0 };
    struct load_client *th;
    struct load_rss m = { -1, -1, -1, -1, -1 };
    long pid, total, slack;
    double factor, secs = 0;
    int n, r;

    if (argc < 8) {
        return fail("usage: kh_load SOCKET DAEMON_PID CLIENTS TOTAL "
                    "P99_FACTOR RSS_SLACK_KB NAME:WEIGHT...");
    }
    sh.socket = argv[1];
    pid = atol(argv[2]);
    n = atoi(argv[3]);
    total = atol(argv[4]);
    factor = atof(argv[5]);
    slack = atol(argv[6]);
    if (pid <= 0 || n <= 0 || n > 1024 || total < n || factor < 1 ||
        slack <= 0) {
        return fail("bad DAEMON_PID, CLIENTS, TOTAL, P99_FACTOR or "
                    "RSS_SLACK_KB");
    }
    if (keys_setup(&sh, argc - 7, argv + 7) != 0 ||
        (th = calloc((size_t)n, sizeof(*th))) == NULL) {
        return 1;
    }
    for (int i = 0; i < n; i++) {
        th[i].sh = &sh;
        th[i].id = i;
        th[i].quota = total / n + (i < total % n);
        if ((th[i].lat_us = calloc((size_t)th[i].quota,
                                   sizeof(uint32_t))) == NULL) {
            return fail("alloc");
        }
    }
    pthread_barrier_init(&sh.warm, NULL, (unsigned)n + 1);
    pthread_barrier_init(&sh.go, NULL, (unsigned)n + 1);
    r = run(&sh, th, n, pid, &m, &secs);
    r = r != 0 ? r : check_counts(&sh, th, n, total, secs);
    r |= report_clients(th, n, factor);
    r |= report_rss(&m, slack);
    for (int i = 0; i < n; i++) {
        free(th[i].lat_us);
    }
    for (int k = 0; k < sh.n_keys; k++) {
        EVP_PKEY_free(sh.keys[k].pub);
    }
    pthread_barrier_destroy(&sh.warm);
    pthread_barrier_destroy(&sh.go);
    free(th);
    return r != 0 ? 1 : 0;
}
