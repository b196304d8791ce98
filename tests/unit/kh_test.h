/*
 * kh_test.h - a thin CUnit runner shared by every unit test executable.
 *
 * Each tests/unit/test_<module>.c defines its tests and ends with
 *     static const struct kh_test tests[] = { KH_TEST(fn), ..., { 0 } };
 *     KH_TEST_MAIN("module", tests)
 * The process exits non-zero when any assertion failed, so ctest sees it.
 */
#ifndef KH_TEST_H
#define KH_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

struct kh_test {
    const char *name;
    void (*fn)(void);
};

#define KH_TEST(fn) { #fn, fn }

static inline int kh_test_run(const char *suite_name,
                              const struct kh_test *tests)
{
    CU_pSuite suite;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 2;
    }
    suite = CU_add_suite(suite_name, NULL, NULL);
    if (suite == NULL) {
        CU_cleanup_registry();
        return 2;
    }
    for (const struct kh_test *t = tests; t->name != NULL; t++) {
        if (CU_add_test(suite, t->name, t->fn) == NULL) {
            CU_cleanup_registry();
            return 2;
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed == 0 ? 0 : 1;
}

#define KH_TEST_MAIN(suite_name, tests)                                    \
    int main(void)                                                         \
    {                                                                      \
        return kh_test_run(suite_name, tests);                             \
    }

#endif /* KH_TEST_H */
