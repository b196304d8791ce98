/*
 * fuzz_khd_dispatch.c - the whole request dispatcher, khd_dispatch(), fed
 * raw frames against a real LMDB keystore with fixed keys (in the manner
 * of OpenSSH's agent_fuzz_helper.c, but through the public ctx API).
 *
 * Input: up to FUZZ_MAX_FRAMES records, each
 *     u8 peer || u32 len || frame
 * where |peer| modulo 4 picks root, the keys' owner, a user named in access
 * lists, or a stranger (fuzz_fixture.h), and |len| goes through
 * kh_frame_check_len() as the daemon's reader does (an invalid one ends the
 * input, as the daemon closes the connection). The frame is the next |len|
 * bytes, or what is left if fewer; it is copied to its own buffer so an
 * overread hits ASan. A non-zero return from the dispatcher also ends it.
 *
 * LLVMFuzzerInitialize builds the keystore once in a mkdtemp() directory
 * under $TMPDIR, else /dev/shm, else /tmp (removed at exit): secure heap,
 * khd_keys_init, khd_ctx_open, khd_init_dev as root, then the fixed key
 * records written directly with khd_record_seal() under the dev master
 * key, and a certificate imported for "ed". The LMDB file is then copied
 * aside as a snapshot.
 *
 * Bounded cost and size, two documented choices:
 *   - KEY_GENERATE of any RSA type is skipped (not dispatched): RSA key
 *     generation takes 0.1-5 s and would make those inputs dominate. EC,
 *     secp256k1 and Ed25519 generation are dispatched; RSA generation is
 *     covered by the unit tests.
 *   - An input that changed the keystore (a successful KEY_GENERATE or
 *     CERT_IMPORT) is followed by a restore of the snapshot (close, copy
 *     the LMDB file back, reopen), and a successful SEAL by an unseal. So
 *     every input starts from the same state and the LMDB never grows.
 *
 * Properties checked on every reply (abort on violation):
 *   - it is one whole frame whose body its own decoder accepts (fuzz_msg
 *     round trip), with the request's id and type | 0x80, or an ERROR;
 *     a non-zero dispatcher return only for an undecodable frame;
 *   - no ERROR says INTERNAL, NO_SPACE or STORAGE (bugs, not refusals);
 *   - access: a fixed key is served (info, sign, certificate, listing)
 *     only to the peers fuzz_fixture.h allows; a signature comes only from
 *     an active version; the moved record (p384 version 1) and rsa's bad
 *     certificate are never served.
 *
 * The daemon's log lines are discarded unless $KH_FUZZ_VERBOSE is set,
 * which also prints each reply (peer, type or error): useful to see what a
 * corpus file does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "fuzz.h"
#include "fuzz_fixture.h"
#include "fuzz_msg.h"
#include "kh_proto.h"
#include "khd_db.h"
#include "khd_dispatch.h"
#include "khd_keys.h"
#include "khd_record.h"
#include "khd_state.h"
#include "khd_wrap.h"

#define FUZZ_MAX_FRAMES 16
#define FUZZ_SECURE_HEAP (4u * 1024 * 1024)
#define FUZZ_CREATED 1735689600u /* fixed keys' creation time */

static const struct khd_peer fuzz_peers[FUZZ_PEER_COUNT] = {
    [FUZZ_PEER_ROOT] = { .uid = 0, .gid = 0, .pid = 4200 },
    [FUZZ_PEER_OWNER] = { .uid = FUZZ_UID_OWNER, .gid = FUZZ_UID_OWNER,
                          .pid = 4201 },
    [FUZZ_PEER_MEMBER] = { .uid = FUZZ_UID_MEMBER, .gid = FUZZ_UID_MEMBER,
                           .pid = 4203, .n_groups = 1,
                           .groups = { FUZZ_GID_MEMBER } },
    [FUZZ_PEER_STRANGER] = { .uid = FUZZ_UID_STRANGER,
                             .gid = FUZZ_UID_STRANGER, .pid = 4202,
                             .n_groups = 2,
                             .groups = { FUZZ_UID_STRANGER,
                                         FUZZ_GID_STRANGER } },
};

static struct {
    char *base;  /* mkdtemp() directory */
    char *state; /* base/state: the keystore */
    char *snap;  /* base/snap: data.mdb as initialized */
    int secure_heap;
    int verbose; /* $KH_FUZZ_VERBOSE: print each request and reply */
    struct khd_ctx *ctx;
} fz;

/*- Setup ------------------------------------------------------------- */

/*
 * The daemon logs a few lines per request through stdio's stderr; at
 * thousands of inputs a second that buries libFuzzer's output. glibc lets
 * a program point stderr elsewhere; fd 2, where the sanitizers, libFuzzer
 * and FUZZ_CHECK write, is untouched.
 */
static void fuzz_quiet(void)
{
    FILE *null = fopen("/dev/null", "w");

    if (null != NULL) {
        stderr = null;
    }
}

static void fuzz_die(const char *what, int r)
{
    dprintf(2, "fuzz_khd_dispatch: %s: %s\n", what, kh_strerror(r));
    abort();
}

static char *fuzz_path(const char *dir, const char *file)
{
    char *p;

    if (asprintf(&p, "%s/%s", dir, file) < 0) {
        fuzz_die("asprintf", KH_ERR_ALLOC);
    }
    return p;
}

static void fuzz_copy(const char *from, const char *to)
{
    uint8_t buf[65536];
    ssize_t n;
    int in, out;

    if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0 ||
        (out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
            0) {
        dprintf(2, "fuzz_khd_dispatch: copy %s to %s: %s\n", from, to,
                strerror(errno));
        abort();
    }
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            fuzz_die("write", KH_ERR_STORAGE);
        }
    }
    if (n < 0) {
        fuzz_die("read", KH_ERR_STORAGE);
    }
    close(in);
    close(out);
}

static void fuzz_ctx_open(void)
{
    struct khd_config cfg = { .state_dir = fz.state,
                              .secure_heap = fz.secure_heap };
    struct kh_status_reply st;
    int r;

    if ((r = khd_ctx_open(&cfg, &fz.ctx)) != 0) {
        fuzz_die("khd_ctx_open", r);
    }
    khd_status(fz.ctx, &st);
    FUZZ_CHECK(st.state == KH_STATE_UNSEALED);
}

/* One fixed key version as a sealed record in |db|; |rec| receives it. */
static void fuzz_put_key(struct khd_db *db, const struct khd_kek *kek,
                         const struct fuzz_key *k, struct kh_buf *rec)
{
    struct kh_key_info meta;
    struct khd_key *key = NULL;
    uint8_t *der = NULL, *priv = NULL;
    size_t derlen = 0, privlen = 0;
    int r;

    memset(&meta, 0, sizeof(meta));
    snprintf(meta.name, sizeof(meta.name), "%s", k->name);
    meta.version = k->version;
    meta.type = k->type;
    meta.state = k->state;
    meta.created = FUZZ_CREATED;
    meta.owner_uid = k->owner_uid;
    if (k->acl_uid != 0) {
        meta.acl.uids[meta.acl.n_uids++] = k->acl_uid;
    }
    if (k->acl_gid != 0) {
        meta.acl.gids[meta.acl.n_gids++] = k->acl_gid;
    }
    FUZZ_CHECK(fuzz_key_private(k, &der, &derlen));
    if ((r = khd_key_import_private(k->type, der, derlen, &key)) != 0 ||
        (r = khd_key_public_spki(key, meta.spki, sizeof(meta.spki),
                                 &meta.spki_len)) != 0 ||
        (r = khd_key_export_private(key, &priv, &privlen)) != 0 ||
        (r = khd_record_seal(kek, &meta, priv, privlen, rec)) != 0 ||
        (r = khd_db_key_insert(db, k->name, k->version, kh_buf_data(rec),
                               kh_buf_size(rec))) != 0) {
        fuzz_die(k->name, r);
    }
    OPENSSL_secure_clear_free(priv, privlen);
    OPENSSL_clear_free(der, derlen);
    khd_key_free(key);
}

/*
 * With the keyholder initialized and closed: writes the fixed records
 * under the KEK of the dev master key in the state dir.
 */
static void fuzz_put_keys(void)
{
    static const char bad_cert[] = "not a certificate, and no valid MAC "
                                   "follows it: the daemon must refuse it";
    struct khd_kek *kek = NULL;
    struct khd_db *db = NULL;
    struct kh_buf rec;
    char *path = fuzz_path(fz.state, "master.dev");
    uint8_t *master = OPENSSL_secure_malloc(KHD_MASTER_KEY_LEN);
    int fd, r;

    FUZZ_CHECK(master != NULL);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
        read(fd, master, KHD_MASTER_KEY_LEN) != KHD_MASTER_KEY_LEN) {
        fuzz_die("read master.dev", KH_ERR_STORAGE);
    }
    close(fd);
    free(path);
    if ((r = khd_kek_derive(master, &kek)) != 0 ||
        (r = khd_db_open(fz.state, &db)) != 0) {
        fuzz_die("keystore", r);
    }
    OPENSSL_secure_clear_free(master, KHD_MASTER_KEY_LEN);
    for (size_t i = 0; i < fuzz_n_keys; i++) {
        kh_buf_init_writer(&rec, KHD_RECORD_MAX_LEN);
        fuzz_put_key(db, kek, &fuzz_keys[i], &rec);
        /* A record moved under another name must never be used. */
        if (strcmp(fuzz_keys[i].name, FUZZ_MOVED_FROM) == 0 &&
            (r = khd_db_key_insert(db, FUZZ_MOVED_KEY, FUZZ_MOVED_VERSION,
                                   kh_buf_data(&rec), kh_buf_size(&rec))) !=
                0) {
            fuzz_die("moved record", r);
        }
        kh_buf_free(&rec);
    }
    if ((r = khd_db_cert_put(db, FUZZ_BADCERT_KEY, bad_cert,
                             sizeof(bad_cert))) != 0) {
        fuzz_die("bad certificate", r);
    }
    khd_db_close(db);
    khd_kek_free(kek);
}

static void fuzz_import_cert(void)
{
    struct kh_cert_import_request req;
    struct khd_error e = { .reason = "" };
    uint8_t *der;
    size_t len;
    int r;

    memset(&req, 0, sizeof(req));
    snprintf(req.name, sizeof(req.name), "%s", FUZZ_CERT_KEY);
    FUZZ_CHECK(fuzz_key_cert(fuzz_key_find(FUZZ_CERT_KEY), &der, &len));
    req.der = der;
    req.der_len = len;
    if ((r = khd_op_cert_import(fz.ctx, &fuzz_peers[FUZZ_PEER_ROOT], &req,
                                &e)) != 0) {
        dprintf(2, "cert import: %s\n", e.reason);
        fuzz_die("cert import", r);
    }
    OPENSSL_free(der);
}

static void fuzz_cleanup(void)
{
    static const char *const files[] = { "data.mdb", "lock.mdb",
                                         "master.dev" };

    khd_ctx_close(fz.ctx);
    fz.ctx = NULL;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *p = fuzz_path(fz.state, files[i]);

        (void)unlink(p);
        free(p);
        p = fuzz_path(fz.snap, files[i]);
        (void)unlink(p);
        free(p);
    }
    (void)rmdir(fz.state);
    (void)rmdir(fz.snap);
    (void)rmdir(fz.base);
    free(fz.state);
    free(fz.snap);
    free(fz.base);
    khd_keys_cleanup();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct khd_error e = { .reason = "" };
    const char *tmp = getenv("TMPDIR");
    struct stat sb;
    char *from, *to;
    int r;

    (void)argc;
    (void)argv;
    fz.verbose = getenv("KH_FUZZ_VERBOSE") != NULL;
    if (!fz.verbose) {
        fuzz_quiet();
    }
    if ((fz.secure_heap = CRYPTO_secure_malloc_init(FUZZ_SECURE_HEAP, 32)) ==
        0) {
        fuzz_die("CRYPTO_secure_malloc_init", KH_ERR_INSECURE_MEMORY);
    }
    if ((r = khd_keys_init()) != 0) {
        fuzz_die("khd_keys_init", r);
    }
    /* tmpfs if there is one: LMDB commits are synchronous. */
    if (tmp == NULL || tmp[0] == '\0') {
        tmp = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) &&
                      access("/dev/shm", W_OK) == 0
                  ? "/dev/shm"
                  : "/tmp";
    }
    fz.base = fuzz_path(tmp, "kh-fuzz-dispatch.XXXXXX");
    if (mkdtemp(fz.base) == NULL) {
        dprintf(2, "mkdtemp %s: %s\n", fz.base, strerror(errno));
        abort();
    }
    fz.state = fuzz_path(fz.base, "state");
    fz.snap = fuzz_path(fz.base, "snap");
    if (mkdir(fz.state, 0700) != 0 || mkdir(fz.snap, 0700) != 0) {
        fuzz_die("mkdir", KH_ERR_STORAGE);
    }
    atexit(fuzz_cleanup);

    {
        struct khd_config cfg = { .state_dir = fz.state,
                                  .secure_heap = fz.secure_heap };

        if ((r = khd_ctx_open(&cfg, &fz.ctx)) != 0 ||
            (r = khd_init_dev(fz.ctx, &fuzz_peers[FUZZ_PEER_ROOT], &e)) !=
                0) {
            dprintf(2, "init: %s\n", e.reason);
            fuzz_die("init", r);
        }
        khd_ctx_close(fz.ctx);
        fz.ctx = NULL;
    }
    fuzz_put_keys();
    fuzz_ctx_open();
    fuzz_import_cert();
    khd_ctx_close(fz.ctx);
    from = fuzz_path(fz.state, "data.mdb");
    to = fuzz_path(fz.snap, "data.mdb");
    fuzz_copy(from, to);
    free(from);
    free(to);
    fuzz_ctx_open();
    return 0;
}

/*- State between inputs ---------------------------------------------- */

static void fuzz_restore(void)
{
    char *from = fuzz_path(fz.snap, "data.mdb");
    char *to = fuzz_path(fz.state, "data.mdb");

    khd_ctx_close(fz.ctx);
    fz.ctx = NULL;
    fuzz_copy(from, to);
    free(from);
    free(to);
    fuzz_ctx_open();
}

static void fuzz_unseal(void)
{
    struct khd_error e = { .reason = "" };
    struct kh_status_reply st;
    int r;

    khd_status(fz.ctx, &st);
    if (st.state != KH_STATE_UNSEALED &&
        (r = khd_unseal_dev(fz.ctx, &fuzz_peers[FUZZ_PEER_ROOT], &e)) != 0) {
        fuzz_die("unseal", r);
    }
}

/* KEY_GENERATE of an RSA type: not dispatched (see the top of the file). */
static int fuzz_skip(const uint8_t *frame, size_t len)
{
    struct kh_keygen_request req;
    struct kh_frame f;

    if (kh_frame_decode(frame, len, &f) != 0 ||
        f.type != KH_MSG_KEY_GENERATE) {
        return 0;
    }
    return kh_keygen_decode(&f.body, &req) == 0 &&
           kh_key_type_is_rsa(req.type);
}

/*- Reply properties --------------------------------------------------- */

/* |name| was served to |who|: allowed only as fuzz_fixture.h says. */
static void fuzz_check_served(const char *name, enum fuzz_peer who)
{
    const struct fuzz_key *k = fuzz_key_find(name);

    if (k != NULL && (k->may_use & (1u << who)) == 0) {
        dprintf(2, "key '%s' served to peer %d\n", name, (int)who);
        FUZZ_CHECK(!"a fixed key was served to a peer it does not allow");
    }
}

/* A key_info of a fixed key must be exactly the stored one. */
static void fuzz_check_info(const struct kh_key_info *info)
{
    const struct fuzz_key *k = NULL;

    for (size_t i = 0; i < fuzz_n_keys; i++) {
        if (strcmp(fuzz_keys[i].name, info->name) == 0 &&
            fuzz_keys[i].version == info->version) {
            k = &fuzz_keys[i];
        }
    }
    if (fuzz_key_find(info->name) == NULL) {
        return;
    }
    FUZZ_CHECK(k != NULL && k->type == info->type &&
               k->state == info->state && k->owner_uid == info->owner_uid &&
               info->created == FUZZ_CREATED);
}

/* The successful reply |rep| to |req| from |who|; |dirty| if it changed
 * what the next input would see. */
static void fuzz_check_success(enum fuzz_peer who, struct kh_frame *req,
                               struct kh_frame *rep, int *dirty)
{
    union {
        struct kh_key_ref ref;
        struct kh_sign_request sign;
        struct kh_cert_import_request imp;
        struct kh_cert_get_request get;
        struct kh_keygen_request gen;
    } q;
    union {
        struct kh_key_info info;
        struct kh_sign_reply sig;
        struct kh_cert_get_reply cert;
    } a;
    uint32_t count;
    uint8_t more;

    switch (req->type) {
    case KH_MSG_KEY_GENERATE:
        FUZZ_CHECK(kh_keygen_decode(&req->body, &q.gen) == 0);
        FUZZ_CHECK(fuzz_key_find(q.gen.name) == NULL);
        FUZZ_CHECK(!kh_key_type_is_rsa(q.gen.type));
        *dirty = 1;
        break;
    case KH_MSG_CERT_IMPORT:
        FUZZ_CHECK(kh_cert_import_decode(&req->body, &q.imp) == 0);
        fuzz_check_served(q.imp.name, who);
        *dirty = 1;
        break;
    case KH_MSG_KEY_INFO:
        FUZZ_CHECK(kh_key_ref_decode(&req->body, &q.ref) == 0);
        FUZZ_CHECK(kh_key_info_decode(&rep->body, &a.info) == 0);
        FUZZ_CHECK(strcmp(q.ref.name, a.info.name) == 0);
        FUZZ_CHECK(q.ref.version == 0 || q.ref.version == a.info.version);
        fuzz_check_served(a.info.name, who);
        fuzz_check_info(&a.info);
        break;
    case KH_MSG_KEY_SIGN:
        FUZZ_CHECK(kh_sign_request_decode(&req->body, &q.sign) == 0);
        FUZZ_CHECK(kh_sign_reply_decode(&rep->body, &a.sig) == 0);
        FUZZ_CHECK(q.sign.version == 0 || q.sign.version == a.sig.version);
        fuzz_check_served(q.sign.name, who);
        if (fuzz_key_find(q.sign.name) != NULL) {
            int active = 0;

            for (size_t i = 0; i < fuzz_n_keys; i++) {
                active |= strcmp(fuzz_keys[i].name, q.sign.name) == 0 &&
                          fuzz_keys[i].version == a.sig.version &&
                          fuzz_keys[i].state == KH_KEY_ACTIVE;
            }
            FUZZ_CHECK(active);
        }
        break;
    case KH_MSG_CERT_GET:
        FUZZ_CHECK(kh_cert_get_request_decode(&req->body, &q.get) == 0);
        FUZZ_CHECK(kh_cert_get_reply_decode(&rep->body, &a.cert) == 0);
        FUZZ_CHECK(strcmp(q.get.name, FUZZ_BADCERT_KEY) != 0);
        fuzz_check_served(q.get.name, who);
        if (strcmp(q.get.name, FUZZ_CERT_KEY) == 0) {
            FUZZ_CHECK(a.cert.present == 1);
        }
        break;
    case KH_MSG_KEY_LIST:
        FUZZ_CHECK(kh_list_reply_decode_header(&rep->body, &more, &count) ==
                   0);
        for (uint32_t i = 0; i < count; i++) {
            FUZZ_CHECK(kh_key_info_decode(&rep->body, &a.info) == 0);
            fuzz_check_served(a.info.name, who);
            fuzz_check_info(&a.info);
            if (fuzz_key_find(a.info.name) != NULL) {
                FUZZ_CHECK(fuzz_key_find(a.info.name)->version ==
                           a.info.version);
            }
        }
        break;
    default:
        break;
    }
}

static void fuzz_check_reply(enum fuzz_peer who, const uint8_t *frame,
                             size_t flen, int r, const struct kh_buf *reply,
                             int *dirty)
{
    const uint8_t *d = kh_buf_data(reply);
    size_t n = kh_buf_size(reply);
    struct kh_frame req, rep;
    struct kh_error_reply err;
    uint32_t len = 0;

    FUZZ_CHECK(n >= KH_FRAME_HEADER_LEN + KH_FRAME_PREFIX_LEN);
    FUZZ_CHECK(kh_frame_check_len(d, &len) == 0 &&
               len == n - KH_FRAME_HEADER_LEN);
    FUZZ_CHECK(kh_frame_decode(d + KH_FRAME_HEADER_LEN, len, &rep) == 0);
    FUZZ_CHECK(fuzz_msg_check(rep.type, kh_buf_ptr(&rep.body),
                              kh_buf_len(&rep.body)) == 0);
    if (rep.type == KH_MSG_ERROR) {
        struct kh_buf b = rep.body;

        FUZZ_CHECK(kh_error_decode(&b, &err) == 0);
        if (fz.verbose) {
            dprintf(2, "  peer %d: %s (%s)\n", (int)who,
                    kh_errname(err.code), err.reason);
        }
        if (err.code == KH_ERR_INTERNAL || err.code == KH_ERR_NO_SPACE ||
            err.code == KH_ERR_STORAGE) {
            dprintf(2, "error reply %s: %s\n", kh_errname(err.code),
                    err.reason);
            FUZZ_CHECK(!"the dispatcher reported a bug, not a refusal");
        }
    }
    if (kh_frame_decode(frame, flen, &req) != 0) {
        FUZZ_CHECK(r != 0 && rep.type == KH_MSG_ERROR &&
                   rep.request_id == 0);
        return;
    }
    FUZZ_CHECK(r == 0);
    FUZZ_CHECK(rep.request_id == req.request_id);
    if (rep.type != KH_MSG_ERROR) {
        if (fz.verbose) {
            dprintf(2, "  peer %d: type 0x%02x ok\n", (int)who, req.type);
        }
        FUZZ_CHECK(rep.type == (req.type | KH_MSG_REPLY));
        fuzz_check_success(who, &req, &rep, dirty);
    }
}

/*- The target --------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kh_buf reply;
    int dirty = 0;

    kh_buf_init_writer(&reply, KH_FRAME_HEADER_LEN + KH_MAX_FRAME_LEN);
    for (int i = 0; i < FUZZ_MAX_FRAMES &&
                    size >= 1 + KH_FRAME_HEADER_LEN;
         i++) {
        enum fuzz_peer who = (enum fuzz_peer)(data[0] % FUZZ_PEER_COUNT);
        uint8_t *frame;
        uint32_t len;
        size_t flen;
        int r;

        if (kh_frame_check_len(data + 1, &len) != 0) {
            break; /* the daemon answers and closes the connection */
        }
        data += 1 + KH_FRAME_HEADER_LEN;
        size -= 1 + KH_FRAME_HEADER_LEN;
        flen = len < size ? len : size;
        frame = malloc(flen > 0 ? flen : 1);
        FUZZ_CHECK(frame != NULL);
        memcpy(frame, data, flen);
        data += flen;
        size -= flen;
        if (fuzz_skip(frame, flen)) {
            free(frame);
            continue;
        }
        kh_buf_reset(&reply);
        r = khd_dispatch(fz.ctx, &fuzz_peers[who], frame, flen, &reply);
        fuzz_check_reply(who, frame, flen, r, &reply, &dirty);
        free(frame);
        if (r != 0) {
            break;
        }
    }
    kh_buf_free(&reply);
    if (dirty) {
        fuzz_restore();
    } else {
        fuzz_unseal();
    }
    ERR_clear_error();
    return 0;
}
