/*
 * replay_main.c - the corpus replay that stands in for libFuzzer when
 * fuzzing is off (the default build), as OpenSSL's fuzz/test-corpus.c does.
 *
 *   fuzz_<target> PATH...
 *
 * Each PATH is a file or a directory (its regular files, in name order).
 * Runs LLVMFuzzerInitialize() once if the target defines it, then
 * LLVMFuzzerTestOneInput() on each file's bytes, held in a buffer of exactly
 * that size so that an overread hits ASan's redzone as under libFuzzer. A
 * crashing input aborts the process; the last "run" line names it. Exit 0
 * only if at least one input ran and none failed.
 *
 * In the ASan build (KH_SANITIZE) LeakSanitizer checks the heap after the
 * last input, as libFuzzer does after an input that allocated more than it
 * freed: the check LSan runs at exit comes after OpenSSL's atexit cleanup,
 * which frees what OpenSSL kept, and so misses what libFuzzer reports
 * (tests/fuzz/README.md, "LeakSanitizer and the secure heap").
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef KH_SANITIZE
#include <sanitizer/lsan_interface.h>
#endif

#include "fuzz.h"

/* Optional in a target: a weak reference is NULL when it is not defined. */
#pragma weak LLVMFuzzerInitialize

struct replay_stats {
    unsigned passed;
    unsigned failed;
};

static int replay_read(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    long n;
    int ok = 0;

    *data = NULL;
    *size = 0;
    if (f == NULL) {
        return 0;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        goto out;
    }
    /* malloc(0) may return NULL; a 0-byte input still gets a pointer. */
    if ((*data = malloc(n > 0 ? (size_t)n : 1)) == NULL) {
        goto out;
    }
    if (n > 0 && fread(*data, 1, (size_t)n, f) != (size_t)n) {
        free(*data);
        *data = NULL;
        goto out;
    }
    *size = (size_t)n;
    ok = 1;
out:
    fclose(f);
    return ok;
}

static void replay_file(const char *path, struct replay_stats *st)
{
    uint8_t *data;
    size_t size;

    if (!replay_read(path, &data, &size)) {
        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
        st->failed++;
        return;
    }
    printf("run %s (%zu bytes)\n", path, size);
    fflush(stdout);
    (void)LLVMFuzzerTestOneInput(data, size);
    free(data);
    st->passed++;
}

static int replay_filter(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

static void replay_path(const char *path, struct replay_stats *st)
{
    struct dirent **names;
    struct stat sb;
    int n;

    if (stat(path, &sb) != 0) {
        fprintf(stderr, "cannot stat %s: %s\n", path, strerror(errno));
        st->failed++;
        return;
    }
    if (!S_ISDIR(sb.st_mode)) {
        replay_file(path, st);
        return;
    }
    if ((n = scandir(path, &names, replay_filter, alphasort)) < 0) {
        fprintf(stderr, "cannot list %s: %s\n", path, strerror(errno));
        st->failed++;
        return;
    }
    for (int i = 0; i < n; i++) {
        char *file;

        if (asprintf(&file, "%s/%s", path, names[i]->d_name) < 0) {
            st->failed++;
        } else {
            if (stat(file, &sb) == 0 && S_ISREG(sb.st_mode)) {
                replay_file(file, st);
            }
            free(file);
        }
        free(names[i]);
    }
    free(names);
}

/* 1 if LeakSanitizer finds unreachable memory now (it prints it). */
static int replay_leaks(void)
{
#ifdef KH_SANITIZE
    return __lsan_do_recoverable_leak_check() != 0;
#else
    return 0;
#endif
}

int main(int argc, char **argv)
{
    struct replay_stats st = { 0, 0 };

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize != NULL) {
        (void)LLVMFuzzerInitialize(&argc, &argv);
    }
    for (int i = 1; i < argc; i++) {
        replay_path(argv[i], &st);
    }
    if (replay_leaks()) {
        fprintf(stderr, "%s: LeakSanitizer found leaks after the last "
                        "input\n", argv[0]);
        st.failed++;
    }
    printf("%s: %u passed, %u failed\n", argv[0], st.passed, st.failed);
    if (st.passed == 0) {
        fprintf(stderr, "%s: no input found\n", argv[0]);
        return 1;
    }
    return st.failed == 0 ? 0 : 1;
}
