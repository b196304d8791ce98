#include "kha.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

struct kh_client *kha_client(struct kha_globals *g)
{
    struct kh_client *c;

    if (kh_client_new(g->socket_path, &c) != 0) {
        fprintf(stderr, "khadmin: out of memory\n");
        return NULL;
    }
    if (kha_auth_attach(g, c) != KHA_OK) {
        kh_client_free(c);
        return NULL;
    }
    if (kh_client_connect(c) != 0) {
        fprintf(stderr, "khadmin: %s\n", kh_client_reason(c));
        kh_client_free(c);
        return NULL;
    }
    return c;
}

int kha_call_failed(struct kh_client *c, const char *what, int r)
{
    const char *reason = kh_client_reason(c);

    fprintf(stderr, "khadmin: %s failed: %s (%s)\n", what,
            reason[0] != '\0' ? reason : kh_strerror(r), kh_errname(r));
    return KHA_FAIL;
}

int kha_call_empty(struct kha_globals *g, uint8_t type, const uint8_t *body,
                   size_t len, const char *what)
{
    struct kh_client *c;
    struct kh_buf reply;
    int r;

    if ((c = kha_client(g)) == NULL) {
        return KHA_FAIL;
    }
    kh_buf_init_writer(&reply, KH_MAX_FRAME_LEN);
    r = kh_client_call(c, type, body, len, 0, &reply);
    if (r != 0) {
        r = kha_call_failed(c, what, r);
    } else if (kh_buf_expect_end(&reply) != 0) {
        fprintf(stderr, "khadmin: %s: unexpected reply\n", what);
        r = KHA_FAIL;
    }
    kh_buf_free(&reply);
    kh_client_free(c);
    return r;
}

int kha_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "khadmin: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: khadmin %s\n", usage);
    return KHA_USAGE;
}

int kha_check_name(const char *usage, const char *name)
{
    if (!kh_name_valid(name)) {
        return kha_usage_error(usage,
                               "invalid key name '%s': 1-%d of A-Z a-z 0-9 "
                               ". _ - not starting with . or -",
                               name, KH_MAX_NAME_LEN);
    }
    return KHA_OK;
}

int kha_take_name(int argc, char **argv, const char *usage,
                  const char **name)
{
    if (optind >= argc) {
        return kha_usage_error(usage, "missing key NAME");
    }
    if (optind + 1 != argc) {
        return kha_usage_error(usage, "unexpected argument '%s'",
                               argv[optind + 1]);
    }
    *name = argv[optind];
    return kha_check_name(usage, *name);
}

void kha_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch < 0x20) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fputc('"', f);
}

void kha_format_time(uint64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(out, 32, "%llu", (unsigned long long)t);
    }
}

void kha_fingerprint(const struct kh_key_info *k, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    out[0] = '\0';
    if (EVP_Digest(k->spki, k->spki_len, md, &mdlen, EVP_sha256(), NULL) !=
            1 ||
        mdlen != sizeof(md)) {
        return;
    }
    for (unsigned i = 0; i < mdlen; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

uint8_t *kha_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    uint8_t *buf = NULL, *nb;
    size_t cap = 0, n = 0;

    if (f == NULL) {
        fprintf(stderr, "khadmin: cannot open %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t k;

        if (n == cap) {
            if (cap >= max) {
                fprintf(stderr, "khadmin: %s is larger than %zu bytes\n",
                        path, max);
                goto fail;
            }
            cap = cap == 0 ? 65536 : cap * 2;
            if (cap > max) {
                cap = max;
            }
            if ((nb = realloc(buf, cap + 1)) == NULL) {
                fprintf(stderr, "khadmin: out of memory\n");
                goto fail;
            }
            buf = nb;
        }
        k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) {
            if (ferror(f)) {
                fprintf(stderr, "khadmin: cannot read %s\n", path);
                goto fail;
            }
            break;
        }
    }
    if (f != stdin) {
        fclose(f);
    }
    if (buf == NULL && (buf = malloc(1)) == NULL) {
        return NULL;
    }
    *len = n;
    return buf;
fail:
    if (f != stdin) {
        fclose(f);
    }
    free(buf);
    return NULL;
}
