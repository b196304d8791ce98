/* Unit tests: the LMDB keystore layer (khd_db.c). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kh_test.h"
#include "khd_db.h"

static char dir[] = "/tmp/khd_db_test.XXXXXX";

static void test_setup(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
}

static void test_meta(void)
{
    struct khd_db *db;
    struct kh_buf v;

    CU_ASSERT_EQUAL_FATAL(khd_db_open(dir, &db), 0);
    kh_buf_init_writer(&v, 64);
    CU_ASSERT_EQUAL(khd_db_meta_get(db, "check", &v), KH_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(khd_db_meta_put(db, "check", "abc", 3), 0);
    CU_ASSERT_EQUAL(khd_db_meta_get(db, "check", &v), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&v), 3);
    CU_ASSERT_EQUAL(memcmp(kh_buf_data(&v), "abc", 3), 0);
    /* A value larger than the caller's buffer is refused, not cut. */
    CU_ASSERT_EQUAL(khd_db_meta_put(db, "big", "0123456789", 10), 0);
    {
        struct kh_buf small;

        kh_buf_init_writer(&small, 4);
        CU_ASSERT_EQUAL(khd_db_meta_get(db, "big", &small), KH_ERR_NO_SPACE);
        kh_buf_free(&small);
    }
    kh_buf_free(&v);
    khd_db_close(db);
}

static int put(struct khd_db *db, const char *name, uint32_t v)
{
    char rec[32];

    snprintf(rec, sizeof(rec), "%s#%u", name, (unsigned)v);
    return khd_db_key_insert(db, name, v, rec, strlen(rec));
}

static void expect(struct khd_db *db, const char *name, uint32_t v,
                   const char *want, uint32_t want_v)
{
    struct kh_buf out;
    uint32_t found = 0;

    kh_buf_init_writer(&out, 1024);
    CU_ASSERT_EQUAL(khd_db_key_get(db, name, v, &out, &found), 0);
    CU_ASSERT_EQUAL(found, want_v);
    CU_ASSERT_EQUAL(kh_buf_size(&out), strlen(want));
    CU_ASSERT_EQUAL(memcmp(kh_buf_data(&out), want, strlen(want)), 0);
    kh_buf_free(&out);
}

static void test_keys_and_versions(void)
{
    struct khd_db *db;
    struct kh_buf out;
    uint32_t found, count;

    CU_ASSERT_EQUAL_FATAL(khd_db_open(dir, &db), 0);
    /* Names chosen to sit next to each other in LMDB's byte order. */
    CU_ASSERT_EQUAL(put(db, "a", 1), 0);
    CU_ASSERT_EQUAL(put(db, "a", 2), 0);
    CU_ASSERT_EQUAL(put(db, "a", 10), 0);
    CU_ASSERT_EQUAL(put(db, "a-b", 1), 0);
    CU_ASSERT_EQUAL(put(db, "a.b", 7), 0);
    CU_ASSERT_EQUAL(put(db, "aa", 3), 0);
    CU_ASSERT_EQUAL(put(db, "zz", 1), 0);
    CU_ASSERT_EQUAL(put(db, "a", 2), KH_ERR_KEY_EXISTS);
    CU_ASSERT_EQUAL(put(db, "bad/name", 1), KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(put(db, "a", 0), KH_ERR_INVALID_ARGUMENT);

    expect(db, "a", 0, "a#10", 10);
    expect(db, "a", 2, "a#2", 2);
    expect(db, "a-b", 0, "a-b#1", 1);
    expect(db, "a.b", 0, "a.b#7", 7);
    expect(db, "aa", 0, "aa#3", 3);
    expect(db, "zz", 0, "zz#1", 1); /* the last key in the table */

    kh_buf_init_writer(&out, 1024);
    CU_ASSERT_EQUAL(khd_db_key_get(db, "a", 3, &out, &found),
                    KH_ERR_UNKNOWN_KEY);
    CU_ASSERT_EQUAL(khd_db_key_get(db, "b", 0, &out, &found),
                    KH_ERR_UNKNOWN_KEY);
    CU_ASSERT_EQUAL(khd_db_key_get(db, "zzz", 0, &out, &found),
                    KH_ERR_UNKNOWN_KEY);
    CU_ASSERT_EQUAL(khd_db_key_get(db, "0", 0, &out, &found),
                    KH_ERR_UNKNOWN_KEY);
    kh_buf_free(&out);

    CU_ASSERT_EQUAL(khd_db_key_count(db, &count), 0);
    CU_ASSERT_EQUAL(count, 7);
    khd_db_close(db);
}

static void test_name_iteration(void)
{
    const char *want[] = { "a", "a-b", "a.b", "aa", "zz" };
    char cursor[KH_MAX_NAME_LEN + 1] = "", next[KH_MAX_NAME_LEN + 1];
    struct khd_db *db;
    size_t i = 0;
    int r;

    CU_ASSERT_EQUAL_FATAL(khd_db_open(dir, &db), 0);
    while ((r = khd_db_key_next_name(db, cursor, next)) == 0) {
        CU_ASSERT_FATAL(i < sizeof(want) / sizeof(want[0]));
        CU_ASSERT_STRING_EQUAL(next, want[i]);
        snprintf(cursor, sizeof(cursor), "%s", next);
        i++;
    }
    CU_ASSERT_EQUAL(r, KH_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(i, 5);
    khd_db_close(db);
}

/* Certificates: one per name, replaced by a put, apart from the keys. */
static void test_certs(void)
{
    struct khd_db *db;
    struct kh_buf out, small;
    uint32_t count;

    CU_ASSERT_EQUAL_FATAL(khd_db_open(dir, &db), 0);
    kh_buf_init_writer(&out, KH_MAX_CERT_LEN);
    CU_ASSERT_EQUAL(khd_db_cert_get(db, "a", &out), KH_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(khd_db_cert_put(db, "a", "first", 5), 0);
    CU_ASSERT_EQUAL(khd_db_cert_put(db, "a-b", "other", 5), 0);
    CU_ASSERT_EQUAL(khd_db_cert_get(db, "a", &out), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&out), 5);
    CU_ASSERT_EQUAL(memcmp(kh_buf_data(&out), "first", 5), 0);
    CU_ASSERT_EQUAL(khd_db_cert_put(db, "a", "second!", 7), 0);
    kh_buf_reset(&out);
    CU_ASSERT_EQUAL(khd_db_cert_get(db, "a", &out), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&out), 7);
    CU_ASSERT_EQUAL(memcmp(kh_buf_data(&out), "second!", 7), 0);
    /* Names are whole keys: no prefix matches. */
    kh_buf_reset(&out);
    CU_ASSERT_EQUAL(khd_db_cert_get(db, "aa", &out), KH_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(khd_db_cert_get(db, "", &out), KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(khd_db_cert_put(db, "bad/name", "x", 1),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(khd_db_cert_put(db, "a", "", 0), KH_ERR_INVALID_ARGUMENT);
    /* A value larger than the caller's buffer is refused, not cut. */
    kh_buf_init_writer(&small, 4);
    CU_ASSERT_EQUAL(khd_db_cert_get(db, "a", &small), KH_ERR_NO_SPACE);
    kh_buf_free(&small);
    /* Certificates are not keys. */
    CU_ASSERT_EQUAL(khd_db_key_count(db, &count), 0);
    CU_ASSERT_EQUAL(count, 7);
    kh_buf_free(&out);
    khd_db_close(db);
}

/* What was committed is there after reopening (a restart). */
static void test_reopen(void)
{
    struct khd_db *db;
    uint32_t count;

    CU_ASSERT_EQUAL_FATAL(khd_db_open(dir, &db), 0);
    CU_ASSERT_EQUAL(khd_db_key_count(db, &count), 0);
    CU_ASSERT_EQUAL(count, 7);
    expect(db, "a", 0, "a#10", 10);
    {
        struct kh_buf out;

        kh_buf_init_writer(&out, KH_MAX_CERT_LEN);
        CU_ASSERT_EQUAL(khd_db_cert_get(db, "a", &out), 0);
        CU_ASSERT_EQUAL(kh_buf_size(&out), 7);
        kh_buf_free(&out);
    }
    khd_db_close(db);
}

static void test_open_refuses_missing_dir(void)
{
    struct khd_db *db;

    CU_ASSERT_EQUAL(khd_db_open("/nonexistent/keyholder", &db),
                    KH_ERR_STORAGE);
    CU_ASSERT_PTR_NULL(db);
}

static void test_cleanup(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static const struct kh_test tests[] = {
    KH_TEST(test_setup),
    KH_TEST(test_meta),
    KH_TEST(test_keys_and_versions),
    KH_TEST(test_name_iteration),
    KH_TEST(test_certs),
    KH_TEST(test_reopen),
    KH_TEST(test_open_refuses_missing_dir),
    KH_TEST(test_cleanup),
    { NULL, NULL },
};

KH_TEST_MAIN("khd_db", tests)
