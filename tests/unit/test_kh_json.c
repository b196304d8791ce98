/* Unit tests: the strict canonical JSON writer and reader (kh_json.c). */
#include <string.h>

#include "kh_json.h"
#include "kh_test.h"

static const char sample[] =
    "{\n"
    "  \"a\": 0,\n"
    "  \"s\": \"q\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f\xc3\xa9\x7f/\",\n"
    "  \"empty\": [],\n"
    "  \"eo\": {},\n"
    "  \"list\": [\n"
    "    18446744073709551615,\n"
    "    {\n"
    "      \"h\": \"00ff\",\n"
    "      \"b\": \"AQID\"\n"
    "    }\n"
    "  ]\n"
    "}\n";

static int write_sample(struct kh_buf *out)
{
    static const uint8_t bytes[] = { 0, 0xff }, b64[] = { 1, 2, 3 };
    struct kh_json_writer w;

    kh_json_writer_init(&w, out);
    kh_json_obj_begin(&w);
    kh_json_key(&w, "a");
    kh_json_uint(&w, 0);
    kh_json_key(&w, "s");
    kh_json_str(&w, "q\"b\\c\b\f\n\r\t\x01\x1f\xc3\xa9\x7f/");
    kh_json_key(&w, "empty");
    kh_json_arr_begin(&w);
    kh_json_arr_end(&w);
    kh_json_key(&w, "eo");
    kh_json_obj_begin(&w);
    kh_json_obj_end(&w);
    kh_json_key(&w, "list");
    kh_json_arr_begin(&w);
    kh_json_uint(&w, UINT64_MAX);
    kh_json_obj_begin(&w);
    kh_json_key(&w, "h");
    kh_json_hex(&w, bytes, 2);
    kh_json_key(&w, "b");
    kh_json_b64(&w, b64, 3);
    kh_json_obj_end(&w);
    kh_json_arr_end(&w);
    kh_json_obj_end(&w);
    return kh_json_finish(&w);
}

static void test_writer_canonical(void)
{
    struct kh_buf b;

    kh_buf_init_writer(&b, 4096);
    CU_ASSERT_EQUAL_FATAL(write_sample(&b), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&b), strlen(sample));
    CU_ASSERT_EQUAL(memcmp(kh_buf_data(&b), sample, strlen(sample)), 0);
    kh_buf_free(&b);
}

/* Reads |doc| with the sample's structure. */
static int read_sample(const char *doc, size_t len)
{
    struct kh_json_reader r;
    char s[64];
    uint64_t v;
    uint8_t h[2], b[8];
    size_t blen;
    int e;

    kh_json_reader_init(&r, (const uint8_t *)doc, len);
    if ((e = kh_json_read_obj_begin(&r)) != 0 ||
        (e = kh_json_read_key(&r, "a")) != 0 ||
        (e = kh_json_read_uint(&r, &v, 10)) != 0 ||
        (e = kh_json_read_key(&r, "s")) != 0 ||
        (e = kh_json_read_str(&r, s, sizeof(s))) != 0 ||
        (e = kh_json_read_key(&r, "empty")) != 0 ||
        (e = kh_json_read_arr_begin(&r)) != 0 ||
        (e = kh_json_read_arr_next(&r)) != 0 ||
        (e = kh_json_read_key(&r, "eo")) != 0 ||
        (e = kh_json_read_obj_begin(&r)) != 0 ||
        (e = kh_json_read_obj_end(&r)) != 0 ||
        (e = kh_json_read_key(&r, "list")) != 0 ||
        (e = kh_json_read_arr_begin(&r)) != 0) {
        return e;
    }
    if ((e = kh_json_read_arr_next(&r)) != 1 ||
        (e = kh_json_read_uint(&r, &v, UINT64_MAX)) != 0 ||
        (e = kh_json_read_arr_next(&r)) != 1) {
        return e < 0 ? e : KH_ERR_INVALID_FORMAT;
    }
    if (v != UINT64_MAX || strcmp(s, "q\"b\\c\b\f\n\r\t\x01\x1f\xc3\xa9\x7f/")) {
        return KH_ERR_INTERNAL;
    }
    if ((e = kh_json_read_obj_begin(&r)) != 0 ||
        (e = kh_json_read_key(&r, "h")) != 0 ||
        (e = kh_json_read_hex(&r, h, 2)) != 0 ||
        (e = kh_json_read_key(&r, "b")) != 0 ||
        (e = kh_json_read_b64(&r, b, sizeof(b), &blen)) != 0 ||
        (e = kh_json_read_obj_end(&r)) != 0 ||
        (e = kh_json_read_arr_next(&r)) != 0 ||
        (e = kh_json_read_obj_end(&r)) != 0) {
        return e;
    }
    if (h[0] != 0 || h[1] != 0xff || blen != 3 || b[2] != 3) {
        return KH_ERR_INTERNAL;
    }
    return kh_json_read_end(&r);
}

static void test_reader(void)
{
    static const char spaced[] =
        " {\"a\" :0 ,\"s\":\"q\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f\xc3\xa9\x7f/\""
        ",\"empty\":[ ],\"eo\":{ },\"list\":[18446744073709551615,{\"h\":"
        "\"00ff\",\"b\":\"AQID\"}]}\r\n\t ";

    CU_ASSERT_EQUAL(read_sample(sample, strlen(sample)), 0);
    /* Whitespace is free for the reader (layout is checked by re-encoding
     * in kh_ceremony). */
    CU_ASSERT_EQUAL(read_sample(spaced, strlen(spaced)), 0);
}

/* The sample with the first |from| replaced by |to| must be refused. */
static int read_patched(const char *from, const char *to)
{
    char doc[1024];
    const char *p = strstr(sample, from);
    size_t head;

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    head = (size_t)(p - sample);
    memcpy(doc, sample, head);
    strcpy(doc + head, to);
    strcat(doc, p + strlen(from));
    return read_sample(doc, strlen(doc));
}

static void test_reader_refusals(void)
{
    CU_ASSERT_EQUAL(read_patched("\"a\": 0", "\"b\": 0"),
                    KH_ERR_INVALID_FORMAT);                /* unknown key */
    CU_ASSERT_EQUAL(read_patched("\"a\": 0,", "\"a\": 0, \"a\": 0,"),
                    KH_ERR_INVALID_FORMAT);                /* duplicate */
    CU_ASSERT_EQUAL(read_patched("\"a\": 0", "\"a\": 00"),
                    KH_ERR_INVALID_FORMAT);                /* leading 0 */
    CU_ASSERT_EQUAL(read_patched("\"a\": 0", "\"a\": 11"),
                    KH_ERR_TOO_LARGE);                     /* over max */
    CU_ASSERT_EQUAL(read_patched("\"a\": 0", "\"a\": -0"),
                    KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(read_patched("\"a\": 0", "\"a\": 0.0"),
                    KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(read_patched("\"a\": 0", "\"a\": \"0\""),
                    KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(read_patched("18446744073709551615",
                                 "18446744073709551616"),
                    KH_ERR_TOO_LARGE);
    CU_ASSERT_EQUAL(read_patched("\\u0001", "\\u0000"),
                    KH_ERR_INVALID_FORMAT);                /* NUL */
    CU_ASSERT_EQUAL(read_patched("\\u0001", "\\u0020"),
                    KH_ERR_INVALID_FORMAT);                /* not ours */
    CU_ASSERT_EQUAL(read_patched("\\u0001", "\\u00e9"),
                    KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(read_patched("/\"", "\\/\""), KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(read_patched("\\t", "\t"), KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(read_patched("\xc3\xa9", "\xc3"),
                    KH_ERR_INVALID_FORMAT);                /* bad UTF-8 */
    CU_ASSERT_EQUAL(read_patched("\xc3\xa9", "\xed\xa0\x80"),
                    KH_ERR_INVALID_FORMAT);                /* surrogate */
    CU_ASSERT_EQUAL(read_patched("\xc3\xa9", "\xc0\xaf"),
                    KH_ERR_INVALID_FORMAT);                /* overlong */
    CU_ASSERT_EQUAL(read_patched("\"00ff\"", "\"00FF\""),
                    KH_ERR_INVALID_FORMAT);                /* hex case */
    CU_ASSERT_EQUAL(read_patched("\"00ff\"", "\"00f\""),
                    KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(read_patched("\"AQID\"", "\"AQI=\""),
                    KH_ERR_INTERNAL);                      /* other value */
    CU_ASSERT_EQUAL(read_patched("\"AQID\"", "\"AQJ=\""),
                    KH_ERR_INVALID_FORMAT);                /* unused bits */
    CU_ASSERT_EQUAL(read_patched("\"AQID\"", "\"AQ I D\""),
                    KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(read_patched("\"AQID\"", "\"AQ==AQID\""),
                    KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(read_patched("\"AQID\"", "\"AQIDBAUGBwgJ\""),
                    KH_ERR_TOO_LARGE);
    CU_ASSERT_NOT_EQUAL(read_patched("[]", "[,]"), 0);
    CU_ASSERT_NOT_EQUAL(read_patched("    }\n  ]", "    },\n  ]"),
                        0);                                /* trailing , */
    CU_ASSERT_EQUAL(read_patched("615,", "615"), KH_ERR_INVALID_FORMAT);
    {
        char doc[1024];

        snprintf(doc, sizeof(doc), "%s}", sample);
        CU_ASSERT_EQUAL(read_sample(doc, strlen(doc)), KH_ERR_TRAILING_DATA);
        snprintf(doc, sizeof(doc), "%s x", sample);
        CU_ASSERT_EQUAL(read_sample(doc, strlen(doc)), KH_ERR_TRAILING_DATA);
        /* An embedded NUL byte is not whitespace. */
        CU_ASSERT_EQUAL(read_sample(sample, strlen(sample) + 1),
                        KH_ERR_TRAILING_DATA);
    }
    CU_ASSERT_EQUAL(read_sample(sample, strlen(sample) - 3),
                    KH_ERR_INVALID_FORMAT);                /* truncated */
    /* Every truncation is refused. */
    for (size_t n = 0; n + 1 < strlen(sample); n++) {
        CU_ASSERT_NOT_EQUAL(read_sample(sample, n), 0);
    }
}

static void test_depth_limit(void)
{
    struct kh_buf b;
    struct kh_json_writer w;
    struct kh_json_reader r;
    const char deep[] = "[[[[[[[[[]]]]]]]]]";
    int e = 0, i, opened = 0;

    kh_buf_init_writer(&b, 4096);
    kh_json_writer_init(&w, &b);
    for (i = 0; i < KH_JSON_MAX_DEPTH + 1; i++) {
        kh_json_arr_begin(&w);
    }
    CU_ASSERT_EQUAL(kh_json_finish(&w), KH_ERR_TOO_LARGE);
    kh_buf_free(&b);
    kh_json_reader_init(&r, (const uint8_t *)deep, strlen(deep));
    for (i = 0; i < KH_JSON_MAX_DEPTH + 1 && e == 0; i++) {
        if (i > 0 && (e = kh_json_read_arr_next(&r)) != 1) {
            break;
        }
        if ((e = kh_json_read_arr_begin(&r)) == 0) {
            opened++;
        }
    }
    CU_ASSERT_EQUAL(opened, KH_JSON_MAX_DEPTH);
    CU_ASSERT_EQUAL(e, KH_ERR_TOO_LARGE);
}

static void test_writer_misuse(void)
{
    struct kh_buf b;
    struct kh_json_writer w;

    kh_buf_init_writer(&b, 4096);
    kh_json_writer_init(&w, &b);
    kh_json_obj_begin(&w);
    kh_json_uint(&w, 1); /* value without a key */
    kh_json_obj_end(&w);
    CU_ASSERT_EQUAL(kh_json_finish(&w), KH_ERR_INVALID_ARGUMENT);

    kh_buf_reset(&b);
    kh_json_writer_init(&w, &b);
    kh_json_obj_begin(&w);
    kh_json_key(&w, "k");
    kh_json_str(&w, "bad \xff utf-8");
    kh_json_obj_end(&w);
    CU_ASSERT_EQUAL(kh_json_finish(&w), KH_ERR_INVALID_ARGUMENT);

    kh_buf_reset(&b);
    kh_json_writer_init(&w, &b);
    kh_json_arr_begin(&w);
    kh_json_obj_end(&w); /* mismatched */
    CU_ASSERT_EQUAL(kh_json_finish(&w), KH_ERR_INVALID_ARGUMENT);

    kh_buf_reset(&b);
    kh_json_writer_init(&w, &b);
    kh_json_arr_begin(&w); /* unclosed */
    CU_ASSERT_EQUAL(kh_json_finish(&w), KH_ERR_INVALID_ARGUMENT);

    /* The writer's maximum size is honoured. */
    kh_buf_free(&b);
    kh_buf_init_writer(&b, 10);
    CU_ASSERT_EQUAL(write_sample(&b), KH_ERR_NO_SPACE);
    kh_buf_free(&b);
}

static void test_b64(void)
{
    uint8_t in[64], out[64];
    struct kh_buf b;
    size_t n;

    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)(i * 37 + 5);
    }
    kh_buf_init_writer(&b, 4096);
    for (size_t len = 0; len <= sizeof(in); len++) {
        struct kh_json_writer w;
        const char *s;

        kh_buf_reset(&b);
        kh_json_writer_init(&w, &b);
        kh_json_b64(&w, in, len);
        CU_ASSERT_EQUAL_FATAL(kh_json_finish(&w), 0);
        s = (const char *)kh_buf_data(&b) + 1;        /* skip the quote */
        n = kh_buf_size(&b) - 3;                      /* and quote, \n */
        CU_ASSERT_EQUAL(n, (len + 2) / 3 * 4);
        CU_ASSERT_EQUAL(kh_b64_decode(s, n, out, sizeof(out), &n), 0);
        CU_ASSERT_EQUAL(n, len);
        CU_ASSERT_EQUAL(memcmp(in, out, len), 0);
    }
    kh_buf_free(&b);
    CU_ASSERT_EQUAL(kh_b64_decode("AQID", 4, out, 2, &n), KH_ERR_TOO_LARGE);
    CU_ASSERT_EQUAL(kh_b64_decode("AQI", 3, out, 8, &n),
                    KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(kh_b64_decode("A===", 4, out, 8, &n),
                    KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(kh_b64_decode("AR==", 4, out, 8, &n),
                    KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(kh_b64_decode("AQ==", 4, out, 8, &n), 0);
    CU_ASSERT_EQUAL(kh_b64_decode("AQ-_", 4, out, 8, &n),
                    KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(kh_hex_decode("0g", 2, out, 1), KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(kh_hex_decode("0a", 2, out, 1), 0);
    CU_ASSERT_EQUAL(out[0], 10);
}

static const struct kh_test tests[] = {
    KH_TEST(test_writer_canonical),
    KH_TEST(test_reader),
    KH_TEST(test_reader_refusals),
    KH_TEST(test_depth_limit),
    KH_TEST(test_writer_misuse),
    KH_TEST(test_b64),
    { 0 },
};

KH_TEST_MAIN("kh_json", tests)
