#include "khd_db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lmdb.h>

#include "khd_log.h"

#define KHD_DB_MAP_SIZE (1024ul * 1024 * 1024) /* sparse; grows on demand */
#define KHD_DB_MAX_READERS 1024
#define KHD_DB_KEY_LEN (KH_MAX_NAME_LEN + 1 + 4)

struct khd_db {
    MDB_env *env;
    MDB_dbi meta;
    MDB_dbi keys;
    MDB_dbi certs;
    MDB_dbi operators;
    MDB_dbi audit;
};

static int khd_db_fail(const char *what, int rc)
{
    khd_err("lmdb %s: %s", what, mdb_strerror(rc));
    return KH_ERR_STORAGE;
}

int khd_db_open(const char *dir, struct khd_db **out)
{
    struct khd_db *db;
    MDB_txn *txn = NULL;
    int rc, dead = 0;

    *out = NULL;
    if ((db = calloc(1, sizeof(*db))) == NULL) {
        return KH_ERR_ALLOC;
    }
    /*
     * MDB_NOTLS: reader slots belong to transactions, not threads, since
     * connection threads come and go. Never MDB_NOMEMINIT or MDB_NOSYNC.
     */
    if ((rc = mdb_env_create(&db->env)) != 0 ||
        (rc = mdb_env_set_mapsize(db->env, KHD_DB_MAP_SIZE)) != 0 ||
        (rc = mdb_env_set_maxreaders(db->env, KHD_DB_MAX_READERS)) != 0 ||
        (rc = mdb_env_set_maxdbs(db->env, 16)) != 0 ||
        (rc = mdb_env_open(db->env, dir, MDB_NOTLS, 0600)) != 0) {
        khd_err("cannot open keystore in %s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    /* Readers left by a killed process would pin old pages forever. */
    (void)mdb_reader_check(db->env, &dead);
    if (dead > 0) {
        khd_info("cleared %d stale LMDB reader slot(s)", dead);
    }
    if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &db->meta)) != 0 ||
        (rc = mdb_dbi_open(txn, "keys", MDB_CREATE, &db->keys)) != 0 ||
        (rc = mdb_dbi_open(txn, "certs", MDB_CREATE, &db->certs)) != 0 ||
        (rc = mdb_dbi_open(txn, "operators", MDB_CREATE,
                           &db->operators)) != 0 ||
        (rc = mdb_dbi_open(txn, "audit", MDB_CREATE, &db->audit)) != 0) {
        khd_err("cannot open keystore tables: %s", mdb_strerror(rc));
        goto fail;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        khd_err("cannot create keystore tables: %s", mdb_strerror(rc));
        goto fail;
    }
    *out = db;
    return KH_OK;
fail:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (db->env != NULL) {
        mdb_env_close(db->env);
    }
    free(db);
    return KH_ERR_STORAGE;
}

void khd_db_close(struct khd_db *db)
{
    if (db == NULL) {
        return;
    }
    mdb_env_close(db->env);
    free(db);
}

/*
 * One read-only transaction: appends the value of |key| in table |dbi| to
 * |out|. KH_ERR_NOT_FOUND if absent; |what| names the table in errors.
 */
static int khd_db_get_one(struct khd_db *db, MDB_dbi dbi, const char *what,
                          const char *key, struct kh_buf *out)
{
    MDB_txn *txn;
    MDB_val k = { strlen(key), (void *)key }, v;
    int rc, r;

    if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0) {
        return khd_db_fail("begin", rc);
    }
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        r = KH_ERR_NOT_FOUND;
    } else if (rc != 0) {
        r = khd_db_fail(what, rc);
    } else {
        r = kh_buf_put_bytes(out, v.mv_data, v.mv_size); /* copy out */
    }
    mdb_txn_abort(txn);
    return r;
}

/*
 * One durable write transaction: stores |val| under |key| in table |dbi|
 * with mdb_put |flags|. MDB_NOOVERWRITE on an existing key is
 * KH_ERR_KEY_EXISTS.
 */
static int khd_db_put_one(struct khd_db *db, MDB_dbi dbi, const char *what,
                          const char *key, const void *val, size_t len,
                          unsigned flags)
{
    MDB_txn *txn;
    MDB_val k = { strlen(key), (void *)key }, v = { len, (void *)val };
    int rc;

    if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0) {
        return khd_db_fail("begin", rc);
    }
    if ((rc = mdb_put(txn, dbi, &k, &v, flags)) != 0) {
        mdb_txn_abort(txn);
        return rc == MDB_KEYEXIST ? KH_ERR_KEY_EXISTS : khd_db_fail(what, rc);
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        return khd_db_fail("commit", rc);
    }
    return KH_OK;
}

int khd_db_meta_get(struct khd_db *db, const char *key, struct kh_buf *out)
{
    return khd_db_get_one(db, db->meta, "get meta", key, out);
}

int khd_db_meta_put(struct khd_db *db, const char *key, const void *val,
                    size_t len)
{
    return khd_db_put_one(db, db->meta, "put meta", key, val, len, 0);
}

/* LMDB key: name || NUL || u32 version, so versions of a name are adjacent. */
static size_t khd_db_key(uint8_t out[KHD_DB_KEY_LEN], const char *name,
                         uint32_t version)
{
    size_t n = strlen(name);

    memcpy(out, name, n);
    out[n] = 0;
    out[n + 1] = (uint8_t)(version >> 24);
    out[n + 2] = (uint8_t)(version >> 16);
    out[n + 3] = (uint8_t)(version >> 8);
    out[n + 4] = (uint8_t)version;
    return n + 5;
}

/* Splits an LMDB key; 0 if it has the expected shape. */
static int khd_db_key_parse(const MDB_val *k, char name[KH_MAX_NAME_LEN + 1],
                            uint32_t *version)
{
    const uint8_t *p = k->mv_data;
    size_t n;

    if (k->mv_size < 6 || k->mv_size > KHD_DB_KEY_LEN) {
        return -1;
    }
    n = k->mv_size - 5;
    if (p[n] != 0 || memchr(p, 0, n) != NULL) {
        return -1;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    *version = (uint32_t)p[n + 1] << 24 | (uint32_t)p[n + 2] << 16 |
               (uint32_t)p[n + 3] << 8 | p[n + 4];
    return 0;
}

int khd_db_key_insert(struct khd_db *db, const char *name, uint32_t version,
                      const void *rec, size_t len)
{
    uint8_t kb[KHD_DB_KEY_LEN];
    MDB_txn *txn;
    MDB_val k, v = { len, (void *)rec };
    int rc;

    if (!kh_name_valid(name) || version == 0) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    k.mv_size = khd_db_key(kb, name, version);
    k.mv_data = kb;
    if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0) {
        return khd_db_fail("begin", rc);
    }
    rc = mdb_put(txn, db->keys, &k, &v, MDB_NOOVERWRITE);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc == MDB_KEYEXIST ? KH_ERR_KEY_EXISTS
                                  : khd_db_fail("put key", rc);
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        return khd_db_fail("commit", rc);
    }
    return KH_OK;
}

/* Positions |cur| on the highest version of |name|. */
static int khd_db_seek_newest(MDB_cursor *cur, const char *name, MDB_val *k,
                              MDB_val *v, uint32_t *found)
{
    uint8_t kb[KHD_DB_KEY_LEN];
    char got[KH_MAX_NAME_LEN + 1];
    size_t n = strlen(name);
    int rc;

    /* name || 0x01 sorts just after every "name || NUL || version". */
    memcpy(kb, name, n);
    kb[n] = 1;
    k->mv_size = n + 1;
    k->mv_data = kb;
    rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) {
        rc = mdb_cursor_get(cur, k, v, MDB_LAST);
    } else if (rc == 0) {
        rc = mdb_cursor_get(cur, k, v, MDB_PREV);
    }
    if (rc != 0) {
        return rc;
    }
    if (khd_db_key_parse(k, got, found) != 0 || strcmp(got, name) != 0) {
        return MDB_NOTFOUND;
    }
    return 0;
}

int khd_db_key_get(struct khd_db *db, const char *name, uint32_t version,
                   struct kh_buf *out, uint32_t *found)
{
    uint8_t kb[KHD_DB_KEY_LEN];
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc, r;

    if (!kh_name_valid(name)) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0) {
        return khd_db_fail("begin", rc);
    }
    if (version == 0) {
        if ((rc = mdb_cursor_open(txn, db->keys, &cur)) == 0) {
            rc = khd_db_seek_newest(cur, name, &k, &v, found);
        }
    } else {
        k.mv_size = khd_db_key(kb, name, version);
        k.mv_data = kb;
        rc = mdb_get(txn, db->keys, &k, &v);
        *found = version;
    }
    if (rc == MDB_NOTFOUND) {
        r = KH_ERR_UNKNOWN_KEY;
    } else if (rc != 0) {
        r = khd_db_fail("get key", rc);
    } else {
        r = kh_buf_put_bytes(out, v.mv_data, v.mv_size);
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return r;
}

int khd_db_key_next_name(struct khd_db *db, const char *after,
                         char next[KH_MAX_NAME_LEN + 1])
{
    uint8_t kb[KHD_DB_KEY_LEN];
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint32_t version;
    size_t n = strlen(after);
    int rc, r;

    if (n > KH_MAX_NAME_LEN) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0) {
        return khd_db_fail("begin", rc);
    }
    if ((rc = mdb_cursor_open(txn, db->keys, &cur)) == 0) {
        if (n == 0) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        } else {
            memcpy(kb, after, n);
            kb[n] = 1; /* past every version of |after| */
            k.mv_size = n + 1;
            k.mv_data = kb;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        }
    }
    if (rc == MDB_NOTFOUND) {
        r = KH_ERR_NOT_FOUND;
    } else if (rc != 0) {
        r = khd_db_fail("list keys", rc);
    } else if (khd_db_key_parse(&k, next, &version) != 0) {
        r = KH_ERR_TAMPERED;
    } else {
        r = KH_OK;
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return r;
}

int khd_db_cert_put(struct khd_db *db, const char *name, const void *der,
                    size_t len)
{
    if (!kh_name_valid(name) || len == 0) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    return khd_db_put_one(db, db->certs, "put cert", name, der, len, 0);
}

int khd_db_cert_get(struct khd_db *db, const char *name, struct kh_buf *out)
{
    if (!kh_name_valid(name)) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    return khd_db_get_one(db, db->certs, "get cert", name, out);
}

int khd_db_key_count(struct khd_db *db, uint32_t *count)
{
    MDB_txn *txn;
    MDB_stat st;
    int rc;

    if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0) {
        return khd_db_fail("begin", rc);
    }
    rc = mdb_stat(txn, db->keys, &st);
    mdb_txn_abort(txn);
    if (rc != 0) {
        return khd_db_fail("stat", rc);
    }
    *count = st.ms_entries > UINT32_MAX ? UINT32_MAX : (uint32_t)st.ms_entries;
    return KH_OK;
}

/*- Operators ---------------------------------------------------------- */

int khd_db_op_get(struct khd_db *db, const char *name, struct kh_buf *out)
{
    if (!kh_name_valid(name)) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    return khd_db_get_one(db, db->operators, "get operator", name, out);
}

int khd_db_op_insert(struct khd_db *db, const char *name, const void *val,
                     size_t len)
{
    if (!kh_name_valid(name) || len == 0) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    return khd_db_put_one(db, db->operators, "put operator", name, val, len,
                          MDB_NOOVERWRITE);
}

/* 1 if the stored operator value |v| has a role in |roles|. */
static int khd_db_op_has_role(const MDB_val *v, uint32_t roles)
{
    struct kh_operator *op = malloc(sizeof(*op));
    struct kh_buf b;
    int has;

    if (op == NULL) {
        return 1; /* cannot tell: count it, refusing nothing by mistake */
    }
    kh_buf_init_reader(&b, v->mv_data, v->mv_size);
    has = kh_operator_decode(&b, op) == 0 && (op->roles & roles) != 0;
    free(op);
    return has;
}

int khd_db_op_remove(struct khd_db *db, const char *name, uint32_t keep)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k = { 0, (void *)name }, ck, cv;
    size_t n = strlen(name);
    int rc, r = KH_ERR_STORAGE, others = 0;

    if (!kh_name_valid(name)) {
        return KH_ERR_INVALID_ARGUMENT;
    }
    k.mv_size = n;
    if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0) {
        return khd_db_fail("begin", rc);
    }
    /* One transaction: the count and the delete see the same operators. */
    if (keep != 0) {
        if ((rc = mdb_cursor_open(txn, db->operators, &cur)) != 0) {
            r = khd_db_fail("cursor", rc);
            goto fail;
        }
        for (rc = mdb_cursor_get(cur, &ck, &cv, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &ck, &cv, MDB_NEXT)) {
            if ((ck.mv_size != n || memcmp(ck.mv_data, name, n) != 0) &&
                khd_db_op_has_role(&cv, keep)) {
                others++;
            }
        }
        mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND) {
            r = khd_db_fail("list operators", rc);
            goto fail;
        }
    }
    rc = mdb_get(txn, db->operators, &k, &cv);
    if (rc == MDB_NOTFOUND) {
        r = KH_ERR_NOT_FOUND;
        goto fail;
    }
    if (rc != 0) {
        r = khd_db_fail("get operator", rc);
        goto fail;
    }
    if (keep != 0 && others == 0 && khd_db_op_has_role(&cv, keep)) {
        r = KH_ERR_DENIED;
        goto fail;
    }
    if ((rc = mdb_del(txn, db->operators, &k, NULL)) != 0) {
        r = khd_db_fail("delete operator", rc);
        goto fail;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        return khd_db_fail("commit", rc);
    }
    return KH_OK;
fail:
    mdb_txn_abort(txn);
    return r;
}

int khd_db_op_foreach(struct khd_db *db,
                      int (*fn)(void *arg, const uint8_t *val, size_t len),
                      void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc, r = KH_OK;

    if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0) {
        return khd_db_fail("begin", rc);
    }
    if ((rc = mdb_cursor_open(txn, db->operators, &cur)) != 0) {
        mdb_txn_abort(txn);
        return khd_db_fail("cursor", rc);
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        r = fn(arg, v.mv_data, v.mv_size);
    }
    if (r == 0 && rc != MDB_NOTFOUND) {
        r = khd_db_fail("list operators", rc);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return r;
}

/*- Multi-table write transactions ----------------------------------- */

struct khd_db_write {
    struct khd_db *db;
    MDB_txn *txn;
};

static MDB_dbi khd_db_table(const struct khd_db *db, int table)
{
    switch (table) {
    case KHD_TABLE_META:
        return db->meta;
    case KHD_TABLE_KEYS:
        return db->keys;
    case KHD_TABLE_CERTS:
        return db->certs;
    default:
        return db->operators;
    }
}

int khd_db_write_begin(struct khd_db *db, struct khd_db_write **out)
{
    struct khd_db_write *w;
    int rc;

    *out = NULL;
    if ((w = calloc(1, sizeof(*w))) == NULL) {
        return KH_ERR_ALLOC;
    }
    w->db = db;
    if ((rc = mdb_txn_begin(db->env, NULL, 0, &w->txn)) != 0) {
        free(w);
        return khd_db_fail("begin", rc);
    }
    *out = w;
    return KH_OK;
}

int khd_db_write_put(struct khd_db_write *w, int table, const void *key,
                     size_t klen, const void *val, size_t vlen)
{
    MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
    int rc;

    if ((rc = mdb_put(w->txn, khd_db_table(w->db, table), &k, &v, 0)) != 0) {
        return khd_db_fail("put", rc);
    }
    return KH_OK;
}

int khd_db_write_del(struct khd_db_write *w, int table, const void *key,
                     size_t klen)
{
    MDB_val k = { klen, (void *)key };
    int rc = mdb_del(w->txn, khd_db_table(w->db, table), &k, NULL);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        return khd_db_fail("delete", rc);
    }
    return KH_OK;
}

int khd_db_write_get(struct khd_db_write *w, int table, const void *key,
                     size_t klen, struct kh_buf *out)
{
    MDB_val k = { klen, (void *)key }, v;
    int rc = mdb_get(w->txn, khd_db_table(w->db, table), &k, &v);

    if (rc == MDB_NOTFOUND) {
        return KH_ERR_NOT_FOUND;
    }
    if (rc != 0) {
        return khd_db_fail("get", rc);
    }
    return kh_buf_put_bytes(out, v.mv_data, v.mv_size);
}

int khd_db_write_rewrite(struct khd_db_write *w, int table,
                         int (*fn)(void *arg, const uint8_t *key, size_t klen,
                                   const uint8_t *val, size_t vlen,
                                   struct kh_buf *newval),
                         void *arg)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct kh_buf nv;
    int rc, r = KH_OK;

    if ((rc = mdb_cursor_open(w->txn, khd_db_table(w->db, table), &cur)) !=
        0) {
        return khd_db_fail("cursor", rc);
    }
    kh_buf_init_writer(&nv, KH_BUF_SIZE_MAX);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        kh_buf_reset(&nv);
        r = fn(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size, &nv);
        if (r == KHD_DB_REWRITE_DELETE) {
            r = KH_OK;
            if ((rc = mdb_cursor_del(cur, 0)) != 0) {
                r = khd_db_fail("delete", rc);
                break;
            }
            continue;
        }
        if (r != 0) {
            break;
        }
        if (kh_buf_size(&nv) > 0) {
            MDB_val n = { kh_buf_size(&nv), (void *)kh_buf_data(&nv) };

            if ((rc = mdb_cursor_put(cur, &k, &n, MDB_CURRENT)) != 0) {
                r = khd_db_fail("rewrite", rc);
                break;
            }
        }
    }
    if (r == 0 && rc != MDB_NOTFOUND && rc != 0) {
        r = khd_db_fail("iterate", rc);
    }
    kh_buf_free(&nv);
    mdb_cursor_close(cur);
    return r;
}

int khd_db_write_commit(struct khd_db_write *w)
{
    int rc = mdb_txn_commit(w->txn);

    free(w);
    return rc != 0 ? khd_db_fail("commit", rc) : KH_OK;
}

void khd_db_write_abort(struct khd_db_write *w)
{
    if (w != NULL) {
        mdb_txn_abort(w->txn);
        free(w);
    }
}

/*- Audit trail -------------------------------------------------------- */

static void khd_db_seq_key(uint8_t out[8], uint64_t seq)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(seq >> (56 - 8 * i));
    }
}

static int khd_db_seq_parse(const MDB_val *k, uint64_t *seq)
{
    const uint8_t *p = k->mv_data;

    if (k->mv_size != 8) {
        return -1;
    }
    *seq = 0;
    for (int i = 0; i < 8; i++) {
        *seq = *seq << 8 | p[i];
    }
    return 0;
}

int khd_db_audit_append(struct khd_db *db, const struct khd_db_audit_put *puts,
                        size_t n, const char *meta_key, const void *meta_val,
                        size_t meta_len)
{
    MDB_txn *txn;
    int rc;

    if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0) {
        return khd_db_fail("begin", rc);
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t kb[8];
        MDB_val k = { sizeof(kb), kb }, v = { puts[i].len, (void *)puts[i].val };

        khd_db_seq_key(kb, puts[i].seq);
        if ((rc = mdb_put(txn, db->audit, &k, &v, MDB_NOOVERWRITE)) != 0) {
            mdb_txn_abort(txn);
            return khd_db_fail("put audit entry", rc);
        }
    }
    if (meta_key != NULL) {
        MDB_val k = { strlen(meta_key), (void *)meta_key };
        MDB_val v = { meta_len, (void *)meta_val };

        if ((rc = mdb_put(txn, db->meta, &k, &v, 0)) != 0) {
            mdb_txn_abort(txn);
            return khd_db_fail("put audit head", rc);
        }
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        return khd_db_fail("commit audit", rc);
    }
    return KH_OK;
}

/* The first (|last| 0) or last stored seq. KH_ERR_NOT_FOUND if empty. */
int khd_db_audit_bound(struct khd_db *db, int last, uint64_t *seq)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc, r;

    if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0) {
        return khd_db_fail("begin", rc);
    }
    if ((rc = mdb_cursor_open(txn, db->audit, &cur)) == 0) {
        rc = mdb_cursor_get(cur, &k, &v, last ? MDB_LAST : MDB_FIRST);
    }
    if (rc == MDB_NOTFOUND) {
        r = KH_ERR_NOT_FOUND;
    } else if (rc != 0) {
        r = khd_db_fail("audit bound", rc);
    } else {
        r = khd_db_seq_parse(&k, seq) == 0 ? KH_OK : KH_ERR_TAMPERED;
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return r;
}

int khd_db_audit_read(struct khd_db *db, uint64_t from, uint32_t max,
                      size_t max_bytes, khd_db_audit_cb cb, void *arg,
                      int *more)
{
    uint8_t kb[8];
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k = { sizeof(kb), kb }, v;
    size_t bytes = 0;
    uint32_t count = 0;
    int rc, r = KH_OK;

    *more = 0;
    khd_db_seq_key(kb, from);
    if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0) {
        return khd_db_fail("begin", rc);
    }
    if ((rc = mdb_cursor_open(txn, db->audit, &cur)) == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    while (rc == 0) {
        uint64_t seq;

        if (count == max || bytes + v.mv_size > max_bytes) {
            *more = 1;
            break;
        }
        if (khd_db_seq_parse(&k, &seq) != 0) {
            seq = UINT64_MAX; /* a foreign key: the verifier names it */
        }
        if ((r = cb(seq, v.mv_data, v.mv_size, arg)) != 0) {
            break;
        }
        bytes += v.mv_size;
        count++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (r == 0 && rc != 0 && rc != MDB_NOTFOUND) {
        r = khd_db_fail("read audit", rc);
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return r;
}

int khd_db_audit_drop_before(struct khd_db *db, uint64_t before,
                             const char *meta_key, const void *meta_val,
                             size_t meta_len, uint64_t *dropped)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k, v, mk = { strlen(meta_key), (void *)meta_key };
    MDB_val mv = { meta_len, (void *)meta_val };
    int rc;

    *dropped = 0;
    if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0) {
        return khd_db_fail("begin", rc);
    }
    if ((rc = mdb_cursor_open(txn, db->audit, &cur)) == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    while (rc == 0) {
        uint64_t seq;

        if (khd_db_seq_parse(&k, &seq) == 0 && seq >= before) {
            break;
        }
        if ((rc = mdb_cursor_del(cur, 0)) != 0) {
            break;
        }
        (*dropped)++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    if ((rc != 0 && rc != MDB_NOTFOUND) ||
        (rc = mdb_put(txn, db->meta, &mk, &mv, 0)) != 0) {
        mdb_txn_abort(txn);
        return khd_db_fail("archive audit", rc);
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        return khd_db_fail("commit", rc);
    }
    return KH_OK;
}
