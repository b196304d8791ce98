/*
 * fuzz_khp_uri.c - the keyholder: URI parser (provider/uri.c).
 *
 * Input: the URI's bytes (a NUL ends it, as it would in a C string).
 * Properties of an accepted URI: the name is valid, the struct prints as
 * "keyholder:" (list), "keyholder:NAME" or "keyholder:NAME;version=N", that
 * text parses to the same struct, and it is the input itself: the grammar
 * has exactly one spelling per URI, so nothing can be smuggled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "provider.h"

/* Longer inputs only exercise the "too long" path again. */
#define FUZZ_URI_MAX 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[FUZZ_URI_MAX + 1], out[FUZZ_URI_MAX + 1];
    struct khp_uri u, u2;
    int n;

    if (size > FUZZ_URI_MAX) {
        size = FUZZ_URI_MAX;
    }
    memcpy(in, data, size);
    in[size] = '\0';
    if (!khp_uri_parse(in, &u)) {
        return 0;
    }
    if (u.list) {
        FUZZ_CHECK(u.name[0] == '\0' && u.version == 0);
        n = snprintf(out, sizeof(out), "%s:", KHP_URI_SCHEME);
    } else {
        FUZZ_CHECK(kh_name_valid(u.name));
        if (u.version == 0) {
            n = snprintf(out, sizeof(out), "%s:%s", KHP_URI_SCHEME, u.name);
        } else {
            n = snprintf(out, sizeof(out), "%s:%s;version=%u",
                         KHP_URI_SCHEME, u.name, (unsigned)u.version);
        }
    }
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof(out));
    FUZZ_CHECK(khp_uri_parse(out, &u2));
    FUZZ_CHECK(u.list == u2.list && u.version == u2.version &&
               strcmp(u.name, u2.name) == 0);
    FUZZ_CHECK(strcmp(in, out) == 0);
    return 0;
}
