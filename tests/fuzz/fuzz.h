/*
 * fuzz.h - what every tests/fuzz/fuzz_<target>.c shares.
 *
 * A target defines LLVMFuzzerTestOneInput() and, if it needs fixed state,
 * LLVMFuzzerInitialize(). With -DKH_FUZZ=ON (clang) the file is linked with
 * libFuzzer; otherwise with replay_main.c, which runs every file of the
 * target's corpus once, so ctest replays the corpus on every test run.
 *
 * FUZZ_CHECK is the property assertion: unlike assert() it stays in release
 * builds, and it aborts, which both libFuzzer and ctest report as a crash.
 */
#ifndef KH_FUZZ_H
#define KH_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* dprintf to fd 2, not stderr: a target may point stderr elsewhere. */
#define FUZZ_CHECK(cond)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            dprintf(2, "%s:%d: property failed: %s\n", __FILE__, __LINE__,  \
                    #cond);                                                 \
            abort();                                                        \
        }                                                                   \
    } while (0)

#endif /* KH_FUZZ_H */
