#include "khd_state.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "khd_auth.h"
#include "khd_ceremony.h"
#include "khd_db.h"
#include "khd_keys.h"
#include "khd_log.h"
#include "khd_record.h"
#include "khd_wrap.h"

#define KHD_DEV_MASTER_FILE "master.dev"
#define KHD_META_CHECK "check"
#define KHD_META_MODE "mode"
#define KHD_MODE_DEV "dev"
#define KHD_CACHE_BUCKETS 256
#define KHD_CACHE_MAX 4096

/*
 * A ready-to-use key. The cache holds one reference; every signer holds one
 * while it signs, so sealing never frees a key under a running signature.
 */
struct khd_cached_key {
    struct khd_cached_key *next;
    uint32_t req_version; /* as requested: 0 = newest */
    struct kh_key_info meta; /* authenticated with the record */
    struct khd_key *key;
    atomic_int refs;
};

struct khd_ctx {
    struct khd_db *db;
    struct khd_audit *audit;
    char *state_dir;
    int secure_heap;
    uid_t self_uid;
    /*
     * |lock| guards state, kek and the cache. Signers hold it shared only to
     * find their key; misses, init, seal and unseal hold it exclusively.
     */
    pthread_rwlock_t lock;
    int state;
    int insecure_dev;
    struct khd_kek *kek;
    struct khd_cached_key *cache[KHD_CACHE_BUCKETS];
    unsigned cache_size;
    struct khd_auth *auth; /* outstanding operator challenges */
    struct khd_seal *seal; /* per-boot key, share submissions */
};

int khd_fail(struct khd_error *e, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
    va_end(ap);
    return code;
}

static int khd_require_unsealed(const struct khd_ctx *ctx,
                                struct khd_error *e);

/*- Key cache -------------------------------------------------------- */

static unsigned khd_cache_hash(const char *name, uint32_t version)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (const char *c = name; *c != '\0'; c++) {
        h = (h ^ (uint8_t)*c) * 16777619u;
    }
    h = (h ^ version) * 16777619u;
    return h % KHD_CACHE_BUCKETS;
}

static void khd_cached_release(struct khd_cached_key *ck)
{
    if (ck != NULL && atomic_fetch_sub(&ck->refs, 1) == 1) {
        khd_key_free(ck->key);
        OPENSSL_clear_free(ck, sizeof(*ck));
    }
}

/* Caller holds the lock (shared is enough). Returns a new reference. */
static struct khd_cached_key *khd_cache_find(struct khd_ctx *ctx,
                                             const char *name,
                                             uint32_t version)
{
    struct khd_cached_key *ck = ctx->cache[khd_cache_hash(name, version)];

    for (; ck != NULL; ck = ck->next) {
        if (ck->req_version == version && strcmp(ck->meta.name, name) == 0) {
            atomic_fetch_add(&ck->refs, 1);
            return ck;
        }
    }
    return NULL;
}

/* Caller holds the lock exclusively. Takes over one reference of |ck|. */
static void khd_cache_insert(struct khd_ctx *ctx, struct khd_cached_key *ck)
{
    unsigned h = khd_cache_hash(ck->meta.name, ck->req_version);

    if (ctx->cache_size >= KHD_CACHE_MAX) {
        khd_cached_release(ck); /* serve uncached rather than grow forever */
        return;
    }
    ck->next = ctx->cache[h];
    ctx->cache[h] = ck;
    ctx->cache_size++;
}

/* Caller holds the lock exclusively. */
static void khd_cache_wipe(struct khd_ctx *ctx)
{
    for (unsigned i = 0; i < KHD_CACHE_BUCKETS; i++) {
        struct khd_cached_key *ck = ctx->cache[i], *next;

        for (; ck != NULL; ck = next) {
            next = ck->next;
            khd_cached_release(ck);
        }
        ctx->cache[i] = NULL;
    }
    ctx->cache_size = 0;
}

/*- Master key and state ---------------------------------------------- */

/* Caller holds the lock exclusively. Consumes nothing; |master| stays. */
static int khd_unseal_with(struct khd_ctx *ctx, const uint8_t *master)
{
    uint8_t want[KHD_CHECK_VALUE_LEN], got[KHD_CHECK_VALUE_LEN];
    struct kh_buf stored;
    int r;

    kh_buf_init_writer(&stored, KHD_CHECK_VALUE_LEN);
    if ((r = khd_db_meta_get(ctx->db, KHD_META_CHECK, &stored)) != 0) {
        goto out;
    }
    if ((r = khd_master_check_value(master, got)) != 0) {
        goto out;
    }
    if (kh_buf_size(&stored) != sizeof(want) ||
        kh_buf_get_bytes(&stored, want, sizeof(want)) != 0 ||
        CRYPTO_memcmp(want, got, sizeof(want)) != 0) {
        khd_err("master key does not match this keystore's check value");
        r = KH_ERR_TAMPERED;
        goto out;
    }
    khd_kek_free(ctx->kek);
    ctx->kek = NULL;
    if ((r = khd_kek_derive(master, &ctx->kek)) != 0) {
        goto out;
    }
    ctx->state = KH_STATE_UNSEALED;
    /* A damaged audit key is logged; signing keys still unseal. */
    if (khd_audit_key_load(ctx->audit, ctx->kek) != 0) {
        khd_err("audit checkpoints stay unsigned until the audit key is "
                "repaired");
    }
out:
    OPENSSL_cleanse(got, sizeof(got));
    kh_buf_free(&stored);
    return r;
}

static char *khd_dev_path(const struct khd_ctx *ctx)
{
    char *path = NULL;

    if (asprintf(&path, "%s/%s", ctx->state_dir, KHD_DEV_MASTER_FILE) < 0) {
        return NULL;
    }
    return path;
}

/* Reads the dev master key into |master| (secure heap). */
static int khd_dev_read(const struct khd_ctx *ctx, uint8_t *master)
{
    char *path = khd_dev_path(ctx);
    ssize_t n = -1;
    uint8_t extra;
    int fd, r = KH_ERR_STORAGE;

    if (path == NULL) {
        return KH_ERR_ALLOC;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        r = errno == ENOENT ? KH_ERR_NOT_FOUND : KH_ERR_STORAGE;
        if (r != KH_ERR_NOT_FOUND) {
            khd_err("cannot open %s: %s", path, strerror(errno));
        }
        goto out;
    }
    n = read(fd, master, KHD_MASTER_KEY_LEN);
    if (n != KHD_MASTER_KEY_LEN || read(fd, &extra, 1) != 0) {
        khd_err("%s is not a %d-byte master key", path, KHD_MASTER_KEY_LEN);
        r = KH_ERR_TAMPERED;
    } else {
        r = KH_OK;
    }
    close(fd);
out:
    free(path);
    return r;
}

/* Writes the dev master key durably: temp file, fsync, rename, fsync dir. */
static int khd_dev_write(const struct khd_ctx *ctx, const uint8_t *master)
{
    char *path = khd_dev_path(ctx), *tmp = NULL;
    int fd = -1, dfd = -1, r = KH_ERR_STORAGE;

    if (path == NULL || asprintf(&tmp, "%s.tmp", path) < 0) {
        tmp = NULL;
        r = KH_ERR_ALLOC;
        goto out;
    }
    (void)unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write(fd, master, KHD_MASTER_KEY_LEN) != KHD_MASTER_KEY_LEN ||
        fsync(fd) != 0 || rename(tmp, path) != 0) {
        khd_err("cannot write %s: %s", path, strerror(errno));
        (void)unlink(tmp);
        goto out;
    }
    if ((dfd = open(ctx->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        fsync(dfd) != 0) {
        khd_err("cannot sync %s: %s", ctx->state_dir, strerror(errno));
        goto out;
    }
    r = KH_OK;
out:
    if (fd >= 0) {
        close(fd);
    }
    if (dfd >= 0) {
        close(dfd);
    }
    free(tmp);
    free(path);
    return r;
}

static int khd_is_dev_mode(struct khd_ctx *ctx)
{
    struct kh_buf mode;
    int dev;

    kh_buf_init_writer(&mode, 16);
    dev = khd_db_meta_get(ctx->db, KHD_META_MODE, &mode) == 0 &&
          kh_buf_size(&mode) == strlen(KHD_MODE_DEV) &&
          memcmp(kh_buf_data(&mode), KHD_MODE_DEV, strlen(KHD_MODE_DEV)) == 0;
    kh_buf_free(&mode);
    return dev;
}

/* Caller holds the lock exclusively. */
static int khd_dev_unseal(struct khd_ctx *ctx)
{
    uint8_t *master;
    int r;

    if (!CRYPTO_secure_malloc_initialized()) {
        return KH_ERR_INSECURE_MEMORY;
    }
    if ((master = OPENSSL_secure_malloc(KHD_MASTER_KEY_LEN)) == NULL) {
        return KH_ERR_ALLOC;
    }
    if ((r = khd_dev_read(ctx, master)) == 0) {
        r = khd_unseal_with(ctx, master);
    }
    OPENSSL_secure_clear_free(master, KHD_MASTER_KEY_LEN);
    return r;
}

/*
 * glibc's default rwlock lets a steady stream of readers (signers) starve a
 * writer forever; seal is the incident-response stop and must get through.
 */
static int khd_lock_init(pthread_rwlock_t *lock)
{
    pthread_rwlockattr_t attr;
    int r;

    if (pthread_rwlockattr_init(&attr) != 0) {
        return -1;
    }
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    r = pthread_rwlock_init(lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    return r;
}

int khd_ctx_open(const struct khd_config *cfg, struct khd_ctx **out)
{
    struct khd_ctx *ctx;
    struct kh_buf check;
    int r;

    *out = NULL;
    if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
        return KH_ERR_ALLOC;
    }
    if (khd_lock_init(&ctx->lock) != 0) {
        free(ctx);
        return KH_ERR_INTERNAL;
    }
    ctx->secure_heap = cfg->secure_heap;
    ctx->self_uid = geteuid();
    if ((r = khd_auth_new(cfg->challenge_ttl, &ctx->auth)) != 0 ||
        (r = khd_seal_new(cfg, &ctx->seal)) != 0) {
        goto fail;
    }
    if ((ctx->state_dir = strdup(cfg->state_dir)) == NULL) {
        r = KH_ERR_ALLOC;
        goto fail;
    }
    if ((r = khd_db_open(cfg->state_dir, &ctx->db)) != 0 ||
        (r = khd_audit_open(ctx->db, &cfg->audit, &ctx->audit)) != 0) {
        goto fail;
    }
    kh_buf_init_writer(&check, KHD_CHECK_VALUE_LEN);
    r = khd_db_meta_get(ctx->db, KHD_META_CHECK, &check);
    kh_buf_free(&check);
    if (r == KH_ERR_NOT_FOUND) {
        ctx->state = KH_STATE_UNINITIALIZED;
        khd_info("keystore %s is not initialized (khadmin init)",
                 cfg->state_dir);
    } else if (r != 0) {
        goto fail;
    } else {
        ctx->state = KH_STATE_SEALED;
        ctx->insecure_dev = khd_is_dev_mode(ctx);
    }
    if (ctx->insecure_dev) {
        khd_warn("INSECURE dev keyholder: the master key is stored in %s/%s; "
                 "never use it for real keys", cfg->state_dir,
                 KHD_DEV_MASTER_FILE);
        if ((r = khd_dev_unseal(ctx)) != 0) {
            khd_err("dev auto-unseal failed: %s; staying sealed",
                    kh_strerror(r));
        } else {
            khd_info("dev keyholder unsealed");
        }
    } else if (ctx->state == KH_STATE_SEALED) {
        khd_info("keyholder is sealed");
    }
    *out = ctx;
    return KH_OK;
fail:
    khd_ctx_close(ctx);
    return r;
}

void khd_ctx_close(struct khd_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    khd_cache_wipe(ctx);
    khd_kek_free(ctx->kek);
    khd_audit_close(ctx->audit);
    khd_db_close(ctx->db);
    khd_auth_free(ctx->auth);
    khd_seal_free(ctx->seal);
    pthread_rwlock_destroy(&ctx->lock);
    free(ctx->state_dir);
    free(ctx);
}

void khd_status(struct khd_ctx *ctx, struct kh_status_reply *out)
{
    uint32_t count = 0;

    memset(out, 0, sizeof(*out));
    pthread_rwlock_rdlock(&ctx->lock);
    out->state = (uint8_t)ctx->state;
    out->insecure_dev = (uint8_t)ctx->insecure_dev;
    pthread_rwlock_unlock(&ctx->lock);
    out->secure_heap = (uint8_t)ctx->secure_heap;
    if (khd_db_key_count(ctx->db, &count) == 0) {
        out->key_count = count;
    }
    out->audit_head = khd_audit_head(ctx->audit);
    if (khd_audit_pubkey(ctx->audit, out->audit_spki,
                         sizeof(out->audit_spki), &out->audit_spki_len) != 0) {
        out->audit_spki_len = 0; /* none yet */
    }
    snprintf(out->version, sizeof(out->version), "%s", KH_VERSION);
}

/* Administrative actions: root or the daemon's own user, for now. */
static int khd_peer_is_admin(const struct khd_ctx *ctx,
                             const struct khd_peer *p)
{
    return p->uid == 0 || p->uid == ctx->self_uid;
}

struct khd_audit *khd_ctx_audit(struct khd_ctx *ctx)
{
    return ctx->audit;
}

int khd_ctx_start(struct khd_ctx *ctx)
{
    return khd_audit_start(ctx->audit);
}

int khd_may_read_audit(const struct khd_ctx *ctx, const struct khd_peer *p)
{
    if (khd_peer_is_admin(ctx, p)) {
        return 1;
    }
    return p->operator_name[0] != '\0' &&
           (p->operator_roles & (KH_ROLE_AUDITOR | KH_ROLE_ADMIN)) != 0;
}

int khd_op_audit_archive(struct khd_ctx *ctx, const struct khd_peer *p,
                         uint64_t before, uint64_t *dropped,
                         struct khd_error *e)
{
    char why[KH_MAX_REASON_LEN + 1] = "";
    int r;

    *dropped = 0;
    if (!khd_peer_is_admin(ctx, p) &&
        !(p->operator_name[0] != '\0' &&
          (p->operator_roles & KH_ROLE_ADMIN) != 0)) {
        return khd_fail(e, KH_ERR_DENIED, "only an admin may archive the "
                        "audit log");
    }
    /* Shared lock: a seal waits until the anchor is signed. */
    pthread_rwlock_rdlock(&ctx->lock);
    if ((r = khd_require_unsealed(ctx, e)) == 0 &&
        (r = khd_audit_archive(ctx->audit, before, dropped, why,
                               sizeof(why))) != 0) {
        r = khd_fail(e, r, "%s", why);
    }
    pthread_rwlock_unlock(&ctx->lock);
    return r;
}

int khd_peer_is_local_admin(const struct khd_ctx *ctx,
                            const struct khd_peer *p)
{
    return khd_peer_is_admin(ctx, p);
}

struct khd_db *khd_ctx_db(struct khd_ctx *ctx)
{
    return ctx->db;
}

struct khd_auth *khd_ctx_auth(struct khd_ctx *ctx)
{
    return ctx->auth;
}

int khd_ctx_state(struct khd_ctx *ctx)
{
    int st;

    pthread_rwlock_rdlock(&ctx->lock);
    st = ctx->state;
    pthread_rwlock_unlock(&ctx->lock);
    return st;
}

struct khd_seal *khd_ctx_seal(struct khd_ctx *ctx)
{
    return ctx->seal;
}

void khd_ctx_tick(struct khd_ctx *ctx)
{
    khd_seal_tick(ctx->seal);
}

int khd_ctx_init_master(struct khd_ctx *ctx, const uint8_t *master,
                        int (*store)(void *arg), void *arg,
                        struct khd_error *e)
{
    int r;

    pthread_rwlock_wrlock(&ctx->lock);
    if (ctx->state != KH_STATE_UNINITIALIZED) {
        r = khd_fail(e, KH_ERR_ALREADY_INITIALIZED,
                     "keyholder is already initialized");
    } else if ((r = store(arg)) != 0) {
        r = khd_fail(e, r, "cannot store the ceremony: %s", kh_strerror(r));
    } else if ((r = khd_unseal_with(ctx, master)) != 0) {
        ctx->state = KH_STATE_SEALED; /* stored: initialized from now on */
        r = khd_fail(e, r, "cannot unseal: %s", kh_strerror(r));
    } else {
        ctx->insecure_dev = 0;
        /* The ceremony's audit key; khd_audit_pubkey() gives its SPKI. */
        if ((r = khd_audit_key_create(ctx->audit, ctx->kek)) != 0 &&
            r != KH_ERR_KEY_EXISTS) {
            r = khd_fail(e, r, "cannot create the audit key: %s",
                         kh_strerror(r));
        } else {
            r = KH_OK;
        }
    }
    pthread_rwlock_unlock(&ctx->lock);
    return r;
}

int khd_ctx_unseal_master(struct khd_ctx *ctx, const uint8_t *master,
                          struct khd_error *e)
{
    int r;

    pthread_rwlock_wrlock(&ctx->lock);
    if (ctx->state != KH_STATE_SEALED) {
        r = khd_fail(e, KH_ERR_INVALID_ARGUMENT, "keyholder is %s",
                     kh_state_name(ctx->state));
    } else if ((r = khd_unseal_with(ctx, master)) != 0) {
        r = khd_fail(e, r, "the rebuilt master key does not match this "
                     "keystore: %s", kh_strerror(r));
    }
    pthread_rwlock_unlock(&ctx->lock);
    return r;
}

int khd_ctx_wrap(struct khd_ctx *ctx, const uint8_t *aad, size_t aadlen,
                 const uint8_t *pt, size_t ptlen, struct kh_buf *out,
                 struct khd_error *e)
{
    int r;

    pthread_rwlock_rdlock(&ctx->lock);
    if ((r = khd_require_unsealed(ctx, e)) == 0 &&
        (r = khd_wrap(ctx->kek, aad, aadlen, pt, ptlen, out)) != 0) {
        r = khd_fail(e, r, "cannot wrap: %s", kh_strerror(r));
    }
    pthread_rwlock_unlock(&ctx->lock);
    return r;
}

int khd_ctx_rekey(struct khd_ctx *ctx,
                  int (*fn)(void *arg, const struct khd_kek *kek,
                            struct khd_kek **new_kek),
                  void *arg, struct khd_error *e)
{
    struct khd_kek *nk = NULL;
    int r;

    pthread_rwlock_wrlock(&ctx->lock);
    if ((r = khd_require_unsealed(ctx, e)) != 0) {
        goto out;
    }
    if ((r = fn(arg, ctx->kek, &nk)) != 0) {
        if (e->reason[0] == '\0') {
            khd_fail(e, r, "cannot commit: %s", kh_strerror(r));
        }
        goto out;
    }
    if (nk != NULL) {
        khd_cache_wipe(ctx); /* keys unwrapped under the old KEK */
        khd_kek_free(ctx->kek);
        ctx->kek = nk;
    }
out:
    pthread_rwlock_unlock(&ctx->lock);
    return r;
}

int khd_ctx_is_dev(struct khd_ctx *ctx)
{
    int dev;

    pthread_rwlock_rdlock(&ctx->lock);
    dev = ctx->insecure_dev;
    pthread_rwlock_unlock(&ctx->lock);
    return dev;
}

int khd_init_dev(struct khd_ctx *ctx, const struct khd_peer *p,
                 struct khd_error *e)
{
    uint8_t check[KHD_CHECK_VALUE_LEN];
    uint8_t *master = NULL;
    int r;

    if (!khd_peer_is_admin(ctx, p)) {
        return khd_fail(e, KH_ERR_DENIED, "only root may initialize");
    }
    if (ctx->secure_heap == 0 || !CRYPTO_secure_malloc_initialized()) {
        return khd_fail(e, KH_ERR_INSECURE_MEMORY,
                        "secure heap unavailable; refusing to create keys");
    }
    pthread_rwlock_wrlock(&ctx->lock);
    if (ctx->state != KH_STATE_UNINITIALIZED) {
        r = khd_fail(e, KH_ERR_ALREADY_INITIALIZED,
                     "keyholder is already initialized");
        goto out;
    }
    if ((master = OPENSSL_secure_malloc(KHD_MASTER_KEY_LEN)) == NULL) {
        r = khd_fail(e, KH_ERR_ALLOC, "out of secure memory");
        goto out;
    }
    /*
     * Order matters for crashes: the master key file first, the check value
     * last. A crash in between leaves an uninitialized keystore.
     */
    if (RAND_priv_bytes(master, KHD_MASTER_KEY_LEN) != 1 ||
        (r = khd_master_check_value(master, check)) != 0) {
        r = khd_fail(e, KH_ERR_CRYPTO, "cannot generate the master key");
        goto out;
    }
    if ((r = khd_dev_write(ctx, master)) != 0 ||
        (r = khd_db_meta_put(ctx->db, KHD_META_MODE, KHD_MODE_DEV,
                             strlen(KHD_MODE_DEV))) != 0 ||
        (r = khd_db_meta_put(ctx->db, KHD_META_CHECK, check,
                             sizeof(check))) != 0) {
        r = khd_fail(e, r, "cannot store the master key: %s", kh_strerror(r));
        goto out;
    }
    ctx->insecure_dev = 1;
    if ((r = khd_unseal_with(ctx, master)) != 0) {
        r = khd_fail(e, r, "cannot unseal: %s", kh_strerror(r));
        goto out;
    }
    if ((r = khd_audit_key_create(ctx->audit, ctx->kek)) != 0 &&
        r != KH_ERR_KEY_EXISTS) {
        r = khd_fail(e, r, "cannot create the audit key: %s",
                     kh_strerror(r));
        goto out;
    }
    r = KH_OK;
    khd_warn("initialized an INSECURE dev keyholder (uid %u): master key "
             "kept in %s", (unsigned)p->uid, ctx->state_dir);
out:
    pthread_rwlock_unlock(&ctx->lock);
    if (master != NULL) {
        OPENSSL_secure_clear_free(master, KHD_MASTER_KEY_LEN);
    }
    OPENSSL_cleanse(check, sizeof(check));
    return r;
}

int khd_seal(struct khd_ctx *ctx, const struct khd_peer *p,
             struct khd_error *e)
{
    int r = KH_OK;

    /* The incident stop: root, the daemon's uid, any admin or custodian. */
    if (!khd_peer_is_admin(ctx, p) &&
        (p->operator_roles & (KH_ROLE_ADMIN | KH_ROLE_CUSTODIAN)) == 0) {
        return khd_fail(e, KH_ERR_DENIED, "only root may seal, or an "
                        "operator with the admin or custodian role");
    }
    /* Submitted shares and a rebuilt master go too (own lock, first). */
    khd_seal_reset(ctx->seal, "sealed");
    pthread_rwlock_wrlock(&ctx->lock);
    if (ctx->state == KH_STATE_UNINITIALIZED) {
        r = khd_fail(e, KH_ERR_NOT_INITIALIZED, "keyholder is not initialized");
    } else {
        khd_cache_wipe(ctx);
        khd_kek_free(ctx->kek);
        ctx->kek = NULL;
        khd_audit_key_unload(ctx->audit);
        ctx->state = KH_STATE_SEALED;
        khd_warn("sealed by %s%s%suid %u pid %d exe %s: every key wiped "
                 "from memory", p->operator_name[0] != '\0' ? "operator " : "",
                 p->operator_name, p->operator_name[0] != '\0' ? " " : "",
                 (unsigned)p->uid, (int)p->pid, khd_peer_exe(p));
    }
    pthread_rwlock_unlock(&ctx->lock);
    return r;
}

int khd_unseal_dev(struct khd_ctx *ctx, const struct khd_peer *p,
                   struct khd_error *e)
{
    int r = KH_OK;

    if (!khd_peer_is_admin(ctx, p)) {
        return khd_fail(e, KH_ERR_DENIED, "only root may unseal");
    }
    pthread_rwlock_wrlock(&ctx->lock);
    if (ctx->state == KH_STATE_UNINITIALIZED) {
        r = khd_fail(e, KH_ERR_NOT_INITIALIZED, "keyholder is not initialized");
    } else if (!ctx->insecure_dev) {
        r = khd_fail(e, KH_ERR_DENIED,
                     "not a dev keyholder: unseal needs custodian shares");
    } else if (ctx->state == KH_STATE_SEALED &&
               (r = khd_dev_unseal(ctx)) != 0) {
        r = khd_fail(e, r, "dev unseal failed: %s", kh_strerror(r));
    } else {
        khd_info("dev keyholder unsealed by uid %u", (unsigned)p->uid);
    }
    pthread_rwlock_unlock(&ctx->lock);
    return r;
}

/*- Key operations ----------------------------------------------------- */

int khd_peer_may_use(const struct khd_peer *p, const struct kh_key_info *meta)
{
    if (p->uid == 0 || p->uid == meta->owner_uid) {
        return 1;
    }
    for (uint32_t i = 0; i < meta->acl.n_uids; i++) {
        if (meta->acl.uids[i] == p->uid) {
            return 1;
        }
    }
    for (uint32_t i = 0; i < meta->acl.n_gids; i++) {
        if (meta->acl.gids[i] == p->gid) {
            return 1;
        }
        for (uint32_t j = 0; j < p->n_groups; j++) {
            if (meta->acl.gids[i] == p->groups[j]) {
                return 1;
            }
        }
    }
    return 0;
}

/* Caller holds the lock. Refusal for any state but UNSEALED. */
static int khd_require_unsealed(const struct khd_ctx *ctx,
                                struct khd_error *e)
{
    switch (ctx->state) {
    case KH_STATE_UNSEALED:
        return KH_OK;
    case KH_STATE_SEALED:
        return khd_fail(e, KH_ERR_SEALED, "keyholder is sealed");
    default:
        return khd_fail(e, KH_ERR_NOT_INITIALIZED,
                        "keyholder is not initialized (khadmin init)");
    }
}

/*
 * Reads and authenticates one record. Caller holds the lock (the KEK must
 * not go away). With |key| NULL the private part is authenticated only.
 */
static int khd_load_record(struct khd_ctx *ctx, const char *name,
                           uint32_t version, struct kh_key_info *meta,
                           struct khd_key **key, struct khd_error *e)
{
    struct kh_buf rec;
    uint8_t *priv = NULL;
    size_t privlen = 0;
    uint32_t found = 0;
    int r;

    kh_buf_init_writer(&rec, KHD_RECORD_MAX_LEN);
    r = khd_db_key_get(ctx->db, name, version, &rec, &found);
    if (r == KH_ERR_UNKNOWN_KEY) {
        r = version == 0
                ? khd_fail(e, r, "no key named '%s'", name)
                : khd_fail(e, r, "no version %u of key '%s'", version, name);
        goto out;
    } else if (r != 0) {
        r = khd_fail(e, r, "cannot read key '%s': %s", name, kh_strerror(r));
        goto out;
    }
    r = khd_record_open(ctx->kek, kh_buf_data(&rec), kh_buf_size(&rec), name,
                        found, meta, key != NULL ? &priv : NULL, &privlen);
    if (r != 0) {
        khd_err("key '%s' version %u failed its integrity check: refused",
                name, found);
        r = khd_fail(e, KH_ERR_TAMPERED,
                     "stored key '%s' version %u failed its integrity check",
                     name, found);
        goto out;
    }
    if (key != NULL &&
        (r = khd_key_import_private(meta->type, priv, privlen, key)) != 0) {
        khd_err("key '%s' version %u does not decode as %s: refused", name,
                found, kh_key_type_name(meta->type));
        r = khd_fail(e, KH_ERR_TAMPERED,
                     "stored key '%s' version %u is not a valid %s key", name,
                     found, kh_key_type_name(meta->type));
    }
out:
    if (priv != NULL) {
        OPENSSL_secure_clear_free(priv, privlen);
    }
    kh_buf_free(&rec);
    return r;
}

/* Finds or loads the ready key; returns a reference to release. */
static int khd_get_key(struct khd_ctx *ctx, const char *name,
                       uint32_t version, struct khd_cached_key **out,
                       struct khd_error *e)
{
    struct khd_cached_key *ck;
    int r;

    *out = NULL;
    pthread_rwlock_rdlock(&ctx->lock);
    if ((r = khd_require_unsealed(ctx, e)) == 0 &&
        (ck = khd_cache_find(ctx, name, version)) != NULL) {
        *out = ck;
    }
    pthread_rwlock_unlock(&ctx->lock);
    if (r != 0 || *out != NULL) {
        return r;
    }
    /* Miss: decode once under the exclusive lock (first use only). */
    pthread_rwlock_wrlock(&ctx->lock);
    if ((r = khd_require_unsealed(ctx, e)) != 0) {
        goto out;
    }
    if ((ck = khd_cache_find(ctx, name, version)) != NULL) {
        *out = ck; /* another thread loaded it meanwhile */
        goto out;
    }
    if ((ck = OPENSSL_zalloc(sizeof(*ck))) == NULL) {
        r = khd_fail(e, KH_ERR_ALLOC, "out of memory");
        goto out;
    }
    if ((r = khd_load_record(ctx, name, version, &ck->meta, &ck->key, e)) !=
        0) {
        OPENSSL_clear_free(ck, sizeof(*ck));
        goto out;
    }
    ck->req_version = version;
    atomic_init(&ck->refs, 2); /* the cache's and the caller's */
    khd_cache_insert(ctx, ck);
    *out = ck;
out:
    pthread_rwlock_unlock(&ctx->lock);
    return r;
}

static int khd_check_use(const struct khd_peer *p,
                         const struct kh_key_info *meta, struct khd_error *e)
{
    if (!khd_peer_may_use(p, meta)) {
        khd_warn("uid %u pid %d exe %s denied key '%s' version %u",
                 (unsigned)p->uid, (int)p->pid, khd_peer_exe(p), meta->name,
                 meta->version);
        return khd_fail(e, KH_ERR_DENIED, "uid %u may not use key '%s'",
                        (unsigned)p->uid, meta->name);
    }
    if (meta->state != KH_KEY_ACTIVE) {
        return khd_fail(e, KH_ERR_DENIED, "key '%s' version %u is %s",
                        meta->name, meta->version,
                        kh_key_state_name(meta->state));
    }
    return KH_OK;
}

/* 0 if no key has |name|, KH_ERR_KEY_EXISTS if one has, or a DB error. */
static int khd_name_free(struct khd_ctx *ctx, const char *name)
{
    struct kh_buf rec;
    uint32_t found;
    int r;

    kh_buf_init_writer(&rec, KHD_RECORD_MAX_LEN);
    r = khd_db_key_get(ctx->db, name, 0, &rec, &found);
    kh_buf_free(&rec);
    if (r == KH_ERR_UNKNOWN_KEY) {
        return KH_OK;
    }
    return r == 0 ? KH_ERR_KEY_EXISTS : r;
}

int khd_op_generate(struct khd_ctx *ctx, const struct khd_peer *p,
                    const struct kh_keygen_request *req,
                    struct kh_key_info *out, struct khd_error *e)
{
    struct khd_key *key = NULL;
    struct kh_buf rec;
    uint8_t *priv = NULL;
    size_t privlen = 0;
    int r;

    kh_buf_init_writer(&rec, KHD_RECORD_MAX_LEN);
    memset(out, 0, sizeof(*out));
    khd_audit_note_key(req->name, 1, KH_AUDIT_SYNC);
    khd_audit_note_alg("%s audit=%s", kh_key_type_name(req->type),
                       req->audit == KH_AUDIT_BATCHED ? "batched" : "sync");
    pthread_rwlock_rdlock(&ctx->lock);
    r = khd_require_unsealed(ctx, e);
    pthread_rwlock_unlock(&ctx->lock);
    if (r != 0) {
        goto out;
    }
    /* Cheap check first, so a taken name costs no key generation. */
    if ((r = khd_name_free(ctx, req->name)) != 0) {
        r = r == KH_ERR_KEY_EXISTS
                ? khd_fail(e, r, "a key named '%s' already exists", req->name)
                : khd_fail(e, r, "cannot read the keystore: %s",
                           kh_strerror(r));
        goto out;
    }
    /* Generate without the lock: RSA-4096 takes seconds. */
    if ((r = khd_key_generate(req->type, &key)) != 0 ||
        (r = khd_key_export_private(key, &priv, &privlen)) != 0 ||
        (r = khd_key_public_spki(key, out->spki, sizeof(out->spki),
                                 &out->spki_len)) != 0) {
        r = khd_fail(e, r, "cannot generate %s key: %s",
                     kh_key_type_name(req->type), kh_strerror(r));
        goto out;
    }
    snprintf(out->name, sizeof(out->name), "%s", req->name);
    out->version = 1;
    out->type = req->type;
    out->state = KH_KEY_ACTIVE;
    out->created = (uint64_t)time(NULL);
    out->owner_uid = p->uid;
    out->acl = req->acl;
    out->audit = req->audit;

    /*
     * Wrap and insert under one shared hold of the lock: a master-key
     * rotation (exclusive) can then never commit between the two and leave
     * a record wrapped under the old KEK.
     */
    pthread_rwlock_rdlock(&ctx->lock);
    if ((r = khd_require_unsealed(ctx, e)) == 0 &&
        (r = khd_record_seal(ctx->kek, out, priv, privlen, &rec)) != 0) {
        r = khd_fail(e, r, "cannot wrap key: %s", kh_strerror(r));
    }
    if (r == 0) {
        r = khd_db_key_insert(ctx->db, req->name, 1, kh_buf_data(&rec),
                              kh_buf_size(&rec));
    } else {
        pthread_rwlock_unlock(&ctx->lock);
        goto out;
    }
    pthread_rwlock_unlock(&ctx->lock);
    if (r == KH_ERR_KEY_EXISTS) {
        r = khd_fail(e, r, "a key named '%s' already exists", req->name);
        goto out;
    } else if (r != 0) {
        r = khd_fail(e, r, "cannot store key: %s", kh_strerror(r));
        goto out;
    }
    khd_info("uid %u pid %d exe %s generated %s key '%s' version 1",
             (unsigned)p->uid, (int)p->pid, khd_peer_exe(p),
             kh_key_type_name(req->type), req->name);
out:
    if (priv != NULL) {
        OPENSSL_secure_clear_free(priv, privlen);
    }
    khd_key_free(key);
    kh_buf_free(&rec);
    return r;
}

int khd_op_info(struct khd_ctx *ctx, const struct khd_peer *p,
                const struct kh_key_ref *ref, struct kh_key_info *out,
                struct khd_error *e)
{
    struct khd_cached_key *ck;
    int r;

    khd_audit_note_key(ref->name, ref->version, KH_AUDIT_SYNC);
    if ((r = khd_get_key(ctx, ref->name, ref->version, &ck, e)) != 0) {
        return r;
    }
    khd_audit_note_key(ck->meta.name, ck->meta.version, KH_AUDIT_SYNC);
    if (!khd_peer_may_use(p, &ck->meta)) {
        khd_warn("uid %u pid %d exe %s denied key '%s' version %u",
                 (unsigned)p->uid, (int)p->pid, khd_peer_exe(p),
                 ck->meta.name, ck->meta.version);
        r = khd_fail(e, KH_ERR_DENIED, "uid %u may not use key '%s'",
                     (unsigned)p->uid, ck->meta.name);
    } else {
        *out = ck->meta;
    }
    khd_cached_release(ck);
    return r;
}

int khd_op_list(struct khd_ctx *ctx, const struct khd_peer *p,
                const char *after, struct kh_key_info *out, uint32_t max,
                uint32_t *count, uint8_t *more, struct khd_error *e)
{
    char name[KH_MAX_NAME_LEN + 1], cursor[KH_MAX_NAME_LEN + 1];
    int r;

    *count = 0;
    *more = 0;
    snprintf(cursor, sizeof(cursor), "%s", after);
    pthread_rwlock_rdlock(&ctx->lock);
    if ((r = khd_require_unsealed(ctx, e)) != 0) {
        goto out;
    }
    while ((r = khd_db_key_next_name(ctx->db, cursor, name)) == 0) {
        struct kh_key_info meta;

        if (*count == max) {
            *more = 1;
            break;
        }
        snprintf(cursor, sizeof(cursor), "%s", name);
        /*
         * Every listed record is authenticated, not just parsed. A record
         * that fails is left out (and logged by khd_load_record): one bad
         * record must not hide every other key from every user.
         */
        r = khd_load_record(ctx, name, 0, &meta, NULL, e);
        if (r == KH_ERR_TAMPERED) {
            e->reason[0] = '\0';
            continue;
        }
        if (r != 0) {
            goto out;
        }
        if (khd_peer_may_use(p, &meta)) {
            out[(*count)++] = meta;
        }
    }
    if (r == KH_ERR_NOT_FOUND || r == 0) {
        r = KH_OK;
    } else {
        r = khd_fail(e, r, "cannot list keys: %s", kh_strerror(r));
    }
out:
    pthread_rwlock_unlock(&ctx->lock);
    return r;
}

/* Appends |src| to |out| (|*n| used of |cap|), cut to fit. */
static void khd_cat(char *out, size_t cap, size_t *n, const char *src)
{
    size_t k = strnlen(src, cap - 1 - *n);

    memcpy(out + *n, src, k);
    *n += k;
    out[*n] = '\0';
}

/*
 * The audit entry's algorithm text: "[TYPE ]input=I digest=D padding=P",
 * plus " mgf1=M salt=S" for PSS. Built without printf for the common case:
 * every signature pays for it.
 */
static void khd_note_sign_alg(const char *type,
                              const struct kh_sign_request *req)
{
    const char *digest = kh_digest_name(req->digest);
    char alg[96];
    size_t n = 0;

    if (req->padding == KH_PAD_PSS && type != NULL) {
        khd_audit_note_alg("%s input=%s digest=%s padding=pss mgf1=%s salt=%u",
                           type,
                           req->input == KH_INPUT_DIGEST ? "digest"
                                                         : "message",
                           digest != NULL ? digest : "?",
                           kh_digest_name(req->mgf1_digest) != NULL
                               ? kh_digest_name(req->mgf1_digest)
                               : "same",
                           (unsigned)req->salt_len);
        return;
    }
    alg[0] = '\0';
    if (type != NULL) {
        khd_cat(alg, sizeof(alg), &n, type);
        khd_cat(alg, sizeof(alg), &n, " ");
    }
    khd_cat(alg, sizeof(alg), &n,
            req->input == KH_INPUT_DIGEST ? "input=digest" : "input=message");
    khd_cat(alg, sizeof(alg), &n, " digest=");
    khd_cat(alg, sizeof(alg), &n, digest != NULL ? digest : "none");
    khd_cat(alg, sizeof(alg), &n,
            req->padding == KH_PAD_PSS     ? " padding=pss"
            : req->padding == KH_PAD_PKCS1 ? " padding=pkcs1"
                                           : " padding=none");
    khd_audit_note_alg_text(alg);
}

int khd_op_sign(struct khd_ctx *ctx, const struct khd_peer *p,
                const struct kh_sign_request *req, struct kh_sign_reply *out,
                struct khd_error *e)
{
    struct khd_cached_key *ck;
    struct khd_sign_params sp = {
        .input = req->input,
        .digest = req->digest,
        .padding = req->padding,
        .mgf1_digest = req->mgf1_digest,
        .salt_len = req->salt_len,
    };
    int r;

    khd_audit_note_key(req->name, req->version, KH_AUDIT_SYNC);
    khd_audit_note_data(req->data, req->data_len);
    if ((r = khd_get_key(ctx, req->name, req->version, &ck, e)) != 0) {
        khd_note_sign_alg(NULL, req); /* what was asked, of no known key */
        return r;
    }
    khd_audit_note_key(ck->meta.name, ck->meta.version, ck->meta.audit);
    khd_note_sign_alg(kh_key_type_name(ck->meta.type), req);
    if ((r = khd_check_use(p, &ck->meta, e)) != 0) {
        goto out;
    }
    out->sig_len = sizeof(out->sig);
    r = khd_key_sign(ck->key, &sp, req->data, req->data_len, out->sig,
                     &out->sig_len);
    if (r != 0) {
        r = khd_fail(e, r, "%s key '%s' cannot sign this request: %s",
                     kh_key_type_name(ck->meta.type), ck->meta.name,
                     kh_strerror(r));
        goto out;
    }
    out->version = ck->meta.version;
out:
    khd_cached_release(ck);
    return r;
}

/*- Certificates ------------------------------------------------------- */

/*
 * Checks |der| against the key described by |meta|: exactly one DER X.509
 * certificate (nothing after it) whose SubjectPublicKeyInfo equals the
 * key's byte for byte. Returns 0, KH_ERR_INVALID_FORMAT (not a
 * certificate) or KH_ERR_INVALID_ARGUMENT (another public key).
 */
static int khd_cert_check(const uint8_t *der, size_t len,
                          const struct kh_key_info *meta)
{
    const unsigned char *p = der;
    unsigned char *spki = NULL;
    X509 *x = NULL;
    int n, r;

    if (len == 0 || len > KH_MAX_CERT_LEN) {
        return KH_ERR_INVALID_FORMAT;
    }
    if ((x = d2i_X509(NULL, &p, (long)len)) == NULL || p != der + len) {
        r = KH_ERR_INVALID_FORMAT;
        goto out;
    }
    n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
    if (n <= 0) {
        r = KH_ERR_INVALID_FORMAT;
    } else if ((size_t)n != meta->spki_len ||
               memcmp(spki, meta->spki, meta->spki_len) != 0) {
        r = KH_ERR_INVALID_ARGUMENT;
    } else {
        r = KH_OK;
    }
out:
    if (r != 0) {
        ERR_clear_error(); /* the peer's bad input, not our failure */
    }
    OPENSSL_free(spki);
    X509_free(x);
    return r;
}

/* SHA-256 of a certificate as lowercase hex, for log lines. */
static void khd_cert_fingerprint(const uint8_t *der, size_t len,
                                 char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    out[0] = '\0';
    if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != sizeof(md)) {
        return;
    }
    for (unsigned i = 0; i < mdlen; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

/*
 * Caller holds the lock. The authenticated metadata of the newest version
 * of |name|, provided the keyholder is unsealed and |p| may use the key.
 */
static int khd_cert_key(struct khd_ctx *ctx, const struct khd_peer *p,
                        const char *name, struct kh_key_info *meta,
                        struct khd_error *e)
{
    int r;

    if ((r = khd_require_unsealed(ctx, e)) != 0 ||
        (r = khd_load_record(ctx, name, 0, meta, NULL, e)) != 0) {
        return r;
    }
    if (!khd_peer_may_use(p, meta)) {
        khd_warn("uid %u pid %d exe %s denied the certificate of key '%s'",
                 (unsigned)p->uid, (int)p->pid, khd_peer_exe(p), meta->name);
        return khd_fail(e, KH_ERR_DENIED, "uid %u may not use key '%s'",
                        (unsigned)p->uid, meta->name);
    }
    return KH_OK;
}

#define KHD_CERT_LABEL KHD_CERT_MAC_LABEL

/*
 * Certificates are public but must not be swapped on disk (an old or
 * foreign certificate for the same key): each is stored as der || HMAC
 * under the master-derived MAC key, bound to the key name. Caller holds
 * the lock (the MAC key must stay).
 */
static int khd_cert_store(struct khd_ctx *ctx, const char *name,
                          const uint8_t *der, size_t len)
{
    struct kh_buf v;
    uint8_t *tag;
    int r;

    kh_buf_init_writer(&v, KH_MAX_CERT_LEN + KHD_MAC_LEN);
    if ((r = kh_buf_put_bytes(&v, der, len)) == 0 &&
        (r = kh_buf_reserve(&v, KHD_MAC_LEN, &tag)) == 0 &&
        (r = khd_mac(ctx->kek, KHD_CERT_LABEL, (const uint8_t *)name,
                     strlen(name), der, len, tag)) == 0) {
        r = khd_db_cert_put(ctx->db, name, kh_buf_data(&v), kh_buf_size(&v));
    }
    kh_buf_free(&v);
    return r;
}

/*
 * Appends the authenticated certificate DER of |name| to |out|.
 * KH_ERR_NOT_FOUND if none, KH_ERR_TAMPERED if it fails its MAC.
 */
static int khd_cert_load(struct khd_ctx *ctx, const char *name,
                         struct kh_buf *out)
{
    uint8_t want[KHD_MAC_LEN];
    struct kh_buf v;
    size_t len;
    int r;

    kh_buf_init_writer(&v, KH_MAX_CERT_LEN + KHD_MAC_LEN);
    r = khd_db_cert_get(ctx->db, name, &v);
    if (r == KH_ERR_NO_SPACE) {
        r = KH_ERR_TAMPERED; /* never stored by us */
    }
    if (r != 0) {
        goto out;
    }
    len = kh_buf_size(&v);
    if (len <= KHD_MAC_LEN ||
        khd_mac(ctx->kek, KHD_CERT_LABEL, (const uint8_t *)name,
                strlen(name), kh_buf_data(&v), len - KHD_MAC_LEN, want) != 0 ||
        CRYPTO_memcmp(want, kh_buf_data(&v) + len - KHD_MAC_LEN,
                      KHD_MAC_LEN) != 0) {
        r = KH_ERR_TAMPERED;
        goto out;
    }
    r = kh_buf_put_bytes(out, kh_buf_data(&v), len - KHD_MAC_LEN);
out:
    kh_buf_free(&v);
    return r;
}

int khd_op_cert_import(struct khd_ctx *ctx, const struct khd_peer *p,
                       const struct kh_cert_import_request *req,
                       struct khd_error *e)
{
    struct kh_key_info meta;
    char fp[65];
    int r;

    khd_audit_note_key(req->name, 0, KH_AUDIT_SYNC);
    /* Shared lock throughout: a seal waits until the certificate is in. */
    pthread_rwlock_rdlock(&ctx->lock);
    if ((r = khd_cert_key(ctx, p, req->name, &meta, e)) != 0) {
        goto out;
    }
    r = khd_cert_check(req->der, req->der_len, &meta);
    if (r == KH_ERR_INVALID_FORMAT) {
        r = khd_fail(e, KH_ERR_INVALID_ARGUMENT,
                     "not a DER X.509 certificate (or bytes follow it)");
        goto out;
    } else if (r != 0) {
        r = khd_fail(e, KH_ERR_INVALID_ARGUMENT,
                     "certificate public key does not match key '%s'",
                     req->name);
        goto out;
    }
    if ((r = khd_cert_store(ctx, req->name, req->der, req->der_len)) != 0) {
        r = khd_fail(e, r, "cannot store the certificate: %s",
                     kh_strerror(r));
        goto out;
    }
    khd_cert_fingerprint(req->der, req->der_len, fp);
    khd_info("uid %u pid %d exe %s stored a certificate for key '%s' "
             "(sha256 %s)", (unsigned)p->uid, (int)p->pid, khd_peer_exe(p),
             req->name, fp);
out:
    pthread_rwlock_unlock(&ctx->lock);
    return r;
}

int khd_op_cert_get(struct khd_ctx *ctx, const struct khd_peer *p,
                    const char *name, struct kh_buf *der, uint8_t *present,
                    struct khd_error *e)
{
    struct kh_key_info meta;
    size_t start = kh_buf_size(der);
    int r;

    *present = 0;
    khd_audit_note_key(name, 0, KH_AUDIT_SYNC);
    pthread_rwlock_rdlock(&ctx->lock);
    if ((r = khd_cert_key(ctx, p, name, &meta, e)) != 0) {
        goto out;
    }
    r = khd_cert_load(ctx, name, der);
    if (r == KH_ERR_NOT_FOUND) {
        r = KH_OK;
        goto out;
    }
    if (r == 0) {
        r = khd_cert_check(kh_buf_data(der) + start,
                           kh_buf_size(der) - start, &meta);
    } else if (r != KH_ERR_TAMPERED) {
        r = khd_fail(e, r, "cannot read the certificate of key '%s': %s",
                     name, kh_strerror(r));
        goto out;
    }
    if (r != 0) {
        kh_buf_truncate(der, start);
        khd_err("stored certificate of key '%s' %s: refused", name,
                r == KH_ERR_TAMPERED ? "failed its MAC"
                : r == KH_ERR_INVALID_ARGUMENT
                    ? "does not carry the key's public key"
                    : "is not a valid certificate");
        r = khd_fail(e, KH_ERR_TAMPERED,
                     "stored certificate of key '%s' failed its check "
                     "against the key", name);
        goto out;
    }
    *present = 1;
out:
    pthread_rwlock_unlock(&ctx->lock);
    return r;
}
