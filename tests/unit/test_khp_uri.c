/* Unit tests: the keyholder: URI parser (provider/uri.c). */
#include <string.h>

#include "kh_test.h"
#include "provider.h"

static void test_valid(void)
{
    struct khp_uri u;

    CU_ASSERT_TRUE(khp_uri_parse("keyholder:web", &u));
    CU_ASSERT_STRING_EQUAL(u.name, "web");
    CU_ASSERT_EQUAL(u.version, 0);
    CU_ASSERT_FALSE(u.list);
    CU_ASSERT_TRUE(khp_uri_parse("keyholder:ca.root-2;version=17", &u));
    CU_ASSERT_STRING_EQUAL(u.name, "ca.root-2");
    CU_ASSERT_EQUAL(u.version, 17);
    CU_ASSERT_TRUE(khp_uri_parse("keyholder:k;version=4294967295", &u));
    CU_ASSERT_EQUAL(u.version, 4294967295u);
    CU_ASSERT_TRUE(khp_uri_parse("keyholder:", &u));
    CU_ASSERT_TRUE(u.list);
}

static void test_refused(void)
{
    static const char *bad[] = {
        NULL,
        "",
        "keyholder",
        "Keyholder:web",
        "file:web",
        "keyholder:/etc/passwd",
        "keyholder:../web",
        "keyholder:-web",
        "keyholder:.web",
        "keyholder:we b",
        "keyholder:web;",
        "keyholder:web;version=",
        "keyholder:web;version=0",
        "keyholder:web;version=-1",
        "keyholder:web;version=+1",
        "keyholder:web;version=01",
        "keyholder:web;version=1x",
        "keyholder:web;version=4294967296",
        "keyholder:web;version=99999999999999999999",
        "keyholder:web;Version=1",
        "keyholder:web;version=1;version=2",
        "keyholder:web;object=1",
        "keyholder:;version=1",
        "keyholder://web",
        "keyholder:0123456789012345678901234567890123456789012345678901234567"
        "890123456",
    };
    struct khp_uri u;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_FALSE(khp_uri_parse(bad[i], &u));
    }
}

static const struct kh_test tests[] = {
    KH_TEST(test_valid),
    KH_TEST(test_refused),
    { NULL, NULL },
};

KH_TEST_MAIN("khp_uri", tests)
