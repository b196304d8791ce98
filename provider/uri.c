/*
 * uri.c - the keyholder: URI.
 *
 *   keyholder:NAME              the newest active version of NAME
 *   keyholder:NAME;version=N    exactly version N (1 .. 2^32-1)
 *   keyholder:                  every key the caller may use (store only)
 *
 * NAME follows kh_name_valid(); nothing else is accepted, so a URI cannot
 * smuggle separators, paths or options.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

#define KHP_URI_PREFIX KHP_URI_SCHEME ":"
#define KHP_URI_VERSION ";version="

/* Decimal 1..UINT32_MAX, digits only. */
static int khp_parse_version(const char *s, uint32_t *out)
{
    unsigned long v;
    char *end;

    if (s[0] < '1' || s[0] > '9' || strlen(s) > 10) {
        return 0;
    }
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0 || v > UINT32_MAX) {
        return 0;
    }
    *out = (uint32_t)v;
    return 1;
}

int khp_uri_parse(const char *uri, struct khp_uri *out)
{
    const char *rest, *semi;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (uri == NULL ||
        strncmp(uri, KHP_URI_PREFIX, strlen(KHP_URI_PREFIX)) != 0) {
        return 0;
    }
    rest = uri + strlen(KHP_URI_PREFIX);
    if (rest[0] == '\0') {
        out->list = 1;
        return 1;
    }
    semi = strchr(rest, ';');
    n = semi != NULL ? (size_t)(semi - rest) : strlen(rest);
    if (n == 0 || n > KH_MAX_NAME_LEN) {
        return 0;
    }
    memcpy(out->name, rest, n);
    out->name[n] = '\0';
    if (!kh_name_valid(out->name)) {
        return 0;
    }
    if (semi == NULL) {
        return 1;
    }
    if (strncmp(semi, KHP_URI_VERSION, strlen(KHP_URI_VERSION)) != 0) {
        return 0;
    }
    return khp_parse_version(semi + strlen(KHP_URI_VERSION), &out->version);
}
