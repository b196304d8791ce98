/* Unit tests for keystore/proto/kh_audit.c: codec, chain, JSON, verifier. */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kh_audit.h"
#include "kh_test.h"

#define N_ENTRIES 6

struct chain {
    EVP_PKEY *key;
    uint8_t *spki;
    size_t spki_len;
    struct kh_buf enc[N_ENTRIES];
    struct kh_audit_rec rec[N_ENTRIES];
    struct kh_audit_entry e[N_ENTRIES];
};

static void sign_statement(EVP_PKEY *pk, int kind, uint64_t seq,
                           const uint8_t *hash, uint64_t t, uint8_t *sig,
                           size_t *siglen)
{
    struct kh_buf st;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    kh_buf_init_writer(&st, 256);
    CU_ASSERT_EQUAL(kh_audit_statement(kind, seq, hash, t, &st), 0);
    *siglen = KH_AUDIT_MAX_SIG;
    CU_ASSERT_EQUAL(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk), 1);
    CU_ASSERT_EQUAL(EVP_DigestSign(md, sig, siglen, kh_buf_data(&st),
                                   kh_buf_size(&st)), 1);
    EVP_MD_CTX_free(md);
    kh_buf_free(&st);
}

/* seq 1..6: start, sign, refusal, checkpoint (over 1..3), sign, sign. */
static void chain_build(struct chain *c)
{
    uint8_t prev[KH_AUDIT_HASH_LEN] = { 0 };
    int n;

    memset(c, 0, sizeof(*c));
    c->key = EVP_EC_gen("P-256");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->key);
    n = i2d_PUBKEY(c->key, &c->spki);
    CU_ASSERT_FATAL(n > 0);
    c->spki_len = (size_t)n;
    for (int i = 0; i < N_ENTRIES; i++) {
        struct kh_audit_entry *e = &c->e[i];

        e->seq = (uint64_t)i + 1;
        e->time_ns = 1795000000123456789ull + (uint64_t)i;
        e->kind = i == 0 ? KH_AUDIT_START
                  : i == 3 ? KH_AUDIT_CHECKPOINT
                           : KH_AUDIT_EVENT;
        e->category = i == 2 ? KH_AUDIT_CAT_POLICY : KH_AUDIT_CAT_SIGN;
        e->severity = i == 2 ? KH_AUDIT_SEV_WARNING : KH_AUDIT_SEV_INFO;
        e->uid = 1000;
        snprintf(e->exe, sizeof(e->exe), "/usr/bin/a \"quoted\" \\x01");
        snprintf(e->op, sizeof(e->op), "key-sign");
        snprintf(e->key, sizeof(e->key), "k");
        e->key_version = 1;
        e->has_data = 1;
        memset(e->data_sha256, i, sizeof(e->data_sha256));
        e->result = i == 2 ? KH_ERR_DENIED : 0;
        if (i == 3) {
            e->subj_seq = 3;
            memcpy(e->subj_hash, prev, sizeof(prev));
            sign_statement(c->key, KH_AUDIT_CHECKPOINT, 3, prev, e->time_ns,
                           e->sig, &e->sig_len);
        }
        kh_buf_init_writer(&c->enc[i], KH_AUDIT_MAX_ENC);
        CU_ASSERT_EQUAL(kh_audit_entry_encode(&c->enc[i], e), 0);
        memcpy(c->rec[i].prev, prev, sizeof(prev));
        CU_ASSERT_EQUAL(kh_audit_hash(prev, kh_buf_data(&c->enc[i]),
                                      kh_buf_size(&c->enc[i]),
                                      c->rec[i].hash), 0);
        c->rec[i].enc = kh_buf_data(&c->enc[i]);
        c->rec[i].enc_len = kh_buf_size(&c->enc[i]);
        memcpy(prev, c->rec[i].hash, sizeof(prev));
    }
}

static void chain_free(struct chain *c)
{
    for (int i = 0; i < N_ENTRIES; i++) {
        kh_buf_free(&c->enc[i]);
    }
    OPENSSL_free(c->spki);
    EVP_PKEY_free(c->key);
}

static void genesis(struct kh_audit_verifier *v)
{
    v->have_prev = 1;
    v->next_seq = 1;
    memset(v->prev, 0, sizeof(v->prev));
}

static void test_entry_roundtrip(void)
{
    struct chain c;
    struct kh_audit_entry out;
    struct kh_buf r, w;

    chain_build(&c);
    kh_buf_init_reader(&r, c.rec[3].enc, c.rec[3].enc_len);
    CU_ASSERT_EQUAL(kh_audit_entry_decode(&r, &out), 0);
    CU_ASSERT_EQUAL(out.seq, 4);
    CU_ASSERT_EQUAL(out.sig_len, c.e[3].sig_len);
    kh_buf_init_writer(&w, KH_AUDIT_MAX_ENC);
    CU_ASSERT_EQUAL(kh_audit_entry_encode(&w, &out), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&w), c.rec[3].enc_len);
    CU_ASSERT_EQUAL(memcmp(kh_buf_data(&w), c.rec[3].enc, c.rec[3].enc_len),
                    0);
    /* Refusals: trailing byte, truncation, bad version, bad kind. */
    CU_ASSERT_EQUAL(kh_buf_put_u8(&w, 0), 0);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w));
    CU_ASSERT_EQUAL(kh_audit_entry_decode(&r, &out), KH_ERR_TRAILING_DATA);
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w) - 3);
    CU_ASSERT_EQUAL(kh_audit_entry_decode(&r, &out),
                    KH_ERR_MESSAGE_INCOMPLETE);
    ((uint8_t *)kh_buf_data(&w))[0] = 2;
    kh_buf_init_reader(&r, kh_buf_data(&w), kh_buf_size(&w) - 1);
    CU_ASSERT_EQUAL(kh_audit_entry_decode(&r, &out), KH_ERR_BAD_VERSION);
    ((uint8_t *)kh_buf_data(&w))[0] = KH_AUDIT_VERSION;
    ((uint8_t *)kh_buf_data(&w))[17] = 77; /* kind */
    CU_ASSERT_EQUAL(kh_audit_entry_decode(&r, &out), KH_ERR_INVALID_FORMAT);
    c.e[0].kind = 99;
    CU_ASSERT_EQUAL(kh_audit_entry_encode(&w, &c.e[0]),
                    KH_ERR_INVALID_ARGUMENT);
    kh_buf_free(&w);
    chain_free(&c);
}

static void test_json_roundtrip(void)
{
    struct chain c;
    struct kh_audit_entry out;
    struct kh_audit_rec rec;
    struct kh_buf line, enc;
    char *s;

    chain_build(&c);
    kh_buf_init_writer(&line, KH_AUDIT_MAX_LINE);
    kh_buf_init_writer(&enc, KH_AUDIT_MAX_ENC);
    CU_ASSERT_EQUAL(kh_audit_json_line(&c.rec[3], &c.e[3], &line), 0);
    s = (char *)kh_buf_data(&line);
    CU_ASSERT_EQUAL(kh_audit_json_parse(s, kh_buf_size(&line), &enc, &rec,
                                        &out), 0);
    CU_ASSERT_EQUAL(out.seq, 4);
    CU_ASSERT_EQUAL(memcmp(rec.hash, c.rec[3].hash, 32), 0);
    CU_ASSERT_EQUAL(rec.enc_len, c.rec[3].enc_len);
    {
        static const char want[] =
            "\"exe\":\"/usr/bin/a \\\"quoted\\\" \\\\x01\"";

        CU_ASSERT_PTR_NOT_NULL(memmem(s, kh_buf_size(&line), want,
                                      sizeof(want) - 1));
    }
    /* One readable field changed: refused although "entry" is intact. */
    s[2] = s[2] == 's' ? 't' : 's';
    CU_ASSERT_EQUAL(kh_audit_json_parse(s, kh_buf_size(&line), &enc, &rec,
                                        &out), KH_ERR_INVALID_FORMAT);
    CU_ASSERT_EQUAL(kh_audit_json_parse("{}", 2, &enc, &rec, &out),
                    KH_ERR_INVALID_FORMAT);
    kh_buf_free(&line);
    kh_buf_free(&enc);
    chain_free(&c);
}

static int verify_all(struct chain *c, const uint8_t *spki, size_t spki_len,
                      const int *order, struct kh_audit_verifier *v)
{
    int r = 0;

    CU_ASSERT_EQUAL(kh_audit_verifier_init(v, spki, spki_len), 0);
    genesis(v);
    for (int i = 0; r == 0 && order[i] >= 0; i++) {
        r = kh_audit_verify_next(v, c->e[order[i]].seq, &c->rec[order[i]]);
    }
    return r;
}

static void test_verify(void)
{
    static const int all[] = { 0, 1, 2, 3, 4, 5, -1 };
    static const int missing[] = { 0, 1, 3, 4, 5, -1 };
    struct kh_audit_verifier v;
    struct chain c, other;
    uint8_t saved;

    chain_build(&c);
    CU_ASSERT_EQUAL(verify_all(&c, c.spki, c.spki_len, all, &v), 0);
    CU_ASSERT_EQUAL(v.entries, 6);
    CU_ASSERT_EQUAL(v.checkpoints, 1);
    CU_ASSERT_EQUAL(v.last_signed_seq, 3);
    kh_audit_verifier_free(&v);

    CU_ASSERT_EQUAL(verify_all(&c, c.spki, c.spki_len, missing, &v),
                    KH_ERR_TAMPERED);
    CU_ASSERT_EQUAL(v.bad_seq, 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(v.error, "seq 3 is missing"));
    kh_audit_verifier_free(&v);

    /* Stored under seq 2, the entry of seq 3: reordered. */
    CU_ASSERT_EQUAL(kh_audit_verifier_init(&v, c.spki, c.spki_len), 0);
    genesis(&v);
    CU_ASSERT_EQUAL(kh_audit_verify_next(&v, 1, &c.rec[0]), 0);
    CU_ASSERT_EQUAL(kh_audit_verify_next(&v, 2, &c.rec[2]), KH_ERR_TAMPERED);
    CU_ASSERT_EQUAL(v.bad_seq, 2);
    /* Sticky: nothing after the first problem passes. */
    CU_ASSERT_EQUAL(kh_audit_verify_next(&v, 2, &c.rec[1]), KH_ERR_TAMPERED);
    kh_audit_verifier_free(&v);

    /* One byte of an encoding changed. */
    saved = ((uint8_t *)kh_buf_data(&c.enc[4]))[30];
    ((uint8_t *)kh_buf_data(&c.enc[4]))[30] ^= 0x20;
    CU_ASSERT_EQUAL(verify_all(&c, c.spki, c.spki_len, all, &v),
                    KH_ERR_TAMPERED);
    CU_ASSERT_EQUAL(v.bad_seq, 5);
    kh_audit_verifier_free(&v);
    ((uint8_t *)kh_buf_data(&c.enc[4]))[30] = saved;

    /* Another audit key: the checkpoint's signature fails. */
    chain_build(&other);
    CU_ASSERT_EQUAL(verify_all(&c, other.spki, other.spki_len, all, &v),
                    KH_ERR_TAMPERED);
    CU_ASSERT_EQUAL(v.bad_seq, 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(v.error, "signature does not verify"));
    kh_audit_verifier_free(&v);
    /* No key at all: a signed entry cannot pass. */
    CU_ASSERT_EQUAL(verify_all(&c, NULL, 0, all, &v), KH_ERR_TAMPERED);
    CU_ASSERT_EQUAL(v.bad_seq, 4);
    kh_audit_verifier_free(&v);
    chain_free(&other);
    chain_free(&c);
}

static void test_anchor(void)
{
    struct kh_audit_verifier v;
    struct kh_audit_anchor a = { .seq = 4, .time_ns = 5 }, b;
    struct kh_buf w;
    struct chain c;

    chain_build(&c);
    memcpy(a.hash, c.rec[2].hash, 32);
    sign_statement(c.key, KH_AUDIT_ANCHOR, 4, a.hash, 5, a.sig, &a.sig_len);
    kh_buf_init_writer(&w, 1024);
    CU_ASSERT_EQUAL(kh_audit_anchor_json(&a, &w), 0);
    CU_ASSERT_EQUAL(kh_audit_anchor_json_parse((char *)kh_buf_data(&w),
                                               kh_buf_size(&w), &b), 0);
    CU_ASSERT_EQUAL(b.seq, 4);
    CU_ASSERT_EQUAL(b.sig_len, a.sig_len);
    CU_ASSERT_EQUAL(kh_audit_anchor_json_parse(" {\"anchor_seq\":4}", 17, &b),
                    KH_ERR_INVALID_FORMAT);
    /* The archive's anchor lets seq 4.. verify alone. */
    CU_ASSERT_EQUAL(kh_audit_verifier_init(&v, c.spki, c.spki_len), 0);
    CU_ASSERT_EQUAL(kh_audit_verify_anchor(&v, a.seq, a.hash, a.time_ns,
                                           a.sig, a.sig_len), 0);
    for (int i = 3; i < N_ENTRIES; i++) {
        CU_ASSERT_EQUAL(kh_audit_verify_next(&v, c.e[i].seq, &c.rec[i]), 0);
    }
    kh_audit_verifier_free(&v);
    /* A forged anchor (another hash) is refused. */
    a.hash[0] ^= 1;
    CU_ASSERT_EQUAL(kh_audit_verifier_init(&v, c.spki, c.spki_len), 0);
    CU_ASSERT_EQUAL(kh_audit_verify_anchor(&v, a.seq, a.hash, a.time_ns,
                                           a.sig, a.sig_len),
                    KH_ERR_TAMPERED);
    CU_ASSERT_EQUAL(v.bad_seq, 4);
    kh_audit_verifier_free(&v);
    kh_buf_free(&w);
    chain_free(&c);
}

static const struct kh_test tests[] = {
    KH_TEST(test_entry_roundtrip),
    KH_TEST(test_json_roundtrip),
    KH_TEST(test_verify),
    KH_TEST(test_anchor),
    { 0 },
};

KH_TEST_MAIN("kh_audit", tests)
