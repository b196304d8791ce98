/* Unit tests: share files, ceremony records and their signatures
 * (kh_ceremony.c), and the whole share path: split, box, file, open,
 * commitment, combine. */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "kh_ceremony.h"
#include "kh_test.h"

#define N_PEOPLE 4
static const char *const names[N_PEOPLE] = { "alice", "bob", "carol",
                                             "dave" };
static EVP_PKEY *keys[N_PEOPLE], *stranger, *stranger384;
static const uint8_t cid[KH_CEREMONY_ID_LEN] = "ceremony-id-0001";

static void test_setup(void)
{
    CU_ASSERT_NOT_EQUAL_FATAL(CRYPTO_secure_malloc_init(1 << 20, 32), 0);
    for (int i = 0; i < N_PEOPLE; i++) {
        keys[i] = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
                                    i == 2 ? "P-384" : "P-256");
        CU_ASSERT_PTR_NOT_NULL_FATAL(keys[i]);
    }
    stranger = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    stranger384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    CU_ASSERT_FATAL(stranger != NULL && stranger384 != NULL);
}

static void set_spki(struct kh_ceremony_participant *p, EVP_PKEY *k)
{
    uint8_t *der = NULL;
    int n = i2d_PUBKEY(k, &der);

    CU_ASSERT_FATAL(n > 0 && (size_t)n <= sizeof(p->spki));
    memcpy(p->spki, der, (size_t)n);
    p->spki_len = (size_t)n;
    OPENSSL_free(der);
}

/* alice admin+custodian (x=1), bob custodian (x=2), carol (P-384)
 * custodian+auditor (x=3), dave admin; 2-of-3. */
static struct kh_ceremony_record *make_record(void)
{
    static const unsigned roles[N_PEOPLE] = {
        KH_ROLE_ADMIN | KH_ROLE_CUSTODIAN, KH_ROLE_CUSTODIAN,
        KH_ROLE_CUSTODIAN | KH_ROLE_AUDITOR, KH_ROLE_ADMIN,
    };
    struct kh_ceremony_record *rec = kh_ceremony_record_new();

    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    memcpy(rec->ceremony_id, cid, sizeof(cid));
    rec->kind = KH_CEREMONY_INIT;
    kh_ceremony_format_time(1795359600, rec->time);
    strcpy(rec->location, "Room 101, \"vault\"\nsecond line");
    strcpy(rec->note, "first ceremony \xe2\x9c\x93");
    strcpy(rec->deviations, "");
    strcpy(rec->witnesses[0], "Eve Witness");
    strcpy(rec->witnesses[1], "Frank");
    rec->n_witnesses = 2;
    strcpy(rec->khd_version, "0.1.0");
    memset(rec->khd_sha256, 0xab, sizeof(rec->khd_sha256));
    rec->threshold = 2;
    rec->count = 3;
    for (int i = 0; i < N_PEOPLE; i++) {
        struct kh_ceremony_participant *p = &rec->participants[i];

        strcpy(p->name, names[i]);
        p->roles = roles[i];
        set_spki(p, keys[i]);
        if (roles[i] & KH_ROLE_CUSTODIAN) {
            p->share_index = (uint8_t)(i + 1);
            memset(p->commitment, 0x10 + i, sizeof(p->commitment));
        }
    }
    rec->n_participants = N_PEOPLE;
    return rec;
}

static void test_time(void)
{
    char t[KH_CEREMONY_TIME_LEN + 1];

    kh_ceremony_format_time(0, t);
    CU_ASSERT_STRING_EQUAL(t, "1970-01-01T00:00:00Z");
    kh_ceremony_format_time(1795359600, t);
    CU_ASSERT_STRING_EQUAL(t, "2026-11-22T15:00:00Z");
}

static void test_record_roundtrip(void)
{
    struct kh_ceremony_record *rec = make_record(), *back;
    struct kh_buf b, b2, tbs;
    const char *prefix = "keyholder-ceremony-v1";

    back = kh_ceremony_record_new();
    kh_buf_init_writer(&b, KH_CEREMONY_FILE_MAX);
    kh_buf_init_writer(&b2, KH_CEREMONY_FILE_MAX);
    kh_buf_init_writer(&tbs, KH_CEREMONY_FILE_MAX);
    CU_ASSERT_EQUAL_FATAL(kh_ceremony_encode(rec, &b), 0);
    CU_ASSERT_EQUAL_FATAL(kh_ceremony_decode(kh_buf_data(&b),
                                             kh_buf_size(&b), back), 0);
    CU_ASSERT_EQUAL(kh_ceremony_encode(back, &b2), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&b), kh_buf_size(&b2));
    CU_ASSERT_EQUAL(memcmp(kh_buf_data(&b), kh_buf_data(&b2),
                           kh_buf_size(&b)), 0);
    CU_ASSERT_STRING_EQUAL(back->location, rec->location);
    CU_ASSERT_EQUAL(back->participants[2].roles,
                    KH_ROLE_CUSTODIAN | KH_ROLE_AUDITOR);
    CU_ASSERT_EQUAL(back->participants[2].share_index, 3);
    CU_ASSERT_EQUAL(back->participants[3].share_index, 0);
    /* The members the record must hold are there, by name. */
    CU_ASSERT_PTR_NOT_NULL(memmem(kh_buf_data(&b), kh_buf_size(&b),
                                  "\"secret_sharing\": \"shamir-gf256\"",
                                  32));
    CU_ASSERT_PTR_NOT_NULL(memmem(kh_buf_data(&b), kh_buf_size(&b),
                                  "\"signatures\": []", 16));
    /* Signed bytes: prefix, NUL, the JSON without "signatures". */
    CU_ASSERT_EQUAL(kh_ceremony_signed_bytes(rec, &tbs), 0);
    CU_ASSERT_EQUAL(memcmp(kh_buf_data(&tbs), prefix, strlen(prefix) + 1),
                    0);
    CU_ASSERT_PTR_NULL(memmem(kh_buf_data(&tbs), kh_buf_size(&tbs),
                              "signatures", 10));
    kh_buf_free(&b);
    kh_buf_free(&b2);
    kh_buf_free(&tbs);
    kh_ceremony_record_free(rec);
    kh_ceremony_record_free(back);
}

static int encode_decode(struct kh_ceremony_record *rec)
{
    struct kh_buf b;
    int r;

    kh_buf_init_writer(&b, KH_CEREMONY_FILE_MAX);
    r = kh_ceremony_encode(rec, &b);
    kh_buf_free(&b);
    return r;
}

static void test_record_rules(void)
{
    struct kh_ceremony_record *rec = make_record();

    CU_ASSERT_EQUAL(encode_decode(rec), 0);
    rec->threshold = 4; /* M > N */
    CU_ASSERT_EQUAL(encode_decode(rec), KH_ERR_INVALID_ARGUMENT);
    rec->threshold = 0;
    CU_ASSERT_EQUAL(encode_decode(rec), KH_ERR_INVALID_ARGUMENT);
    rec->threshold = 2;
    rec->count = 4; /* 3 custodians for 4 shares */
    CU_ASSERT_EQUAL(encode_decode(rec), KH_ERR_INVALID_ARGUMENT);
    rec->count = 3;
    rec->participants[1].share_index = 1; /* duplicate index */
    CU_ASSERT_EQUAL(encode_decode(rec), KH_ERR_INVALID_ARGUMENT);
    rec->participants[1].share_index = 4; /* out of range */
    CU_ASSERT_EQUAL(encode_decode(rec), KH_ERR_INVALID_ARGUMENT);
    rec->participants[1].share_index = 2;
    strcpy(rec->participants[1].name, "alice"); /* duplicate name */
    CU_ASSERT_EQUAL(encode_decode(rec), KH_ERR_INVALID_ARGUMENT);
    strcpy(rec->participants[1].name, "bad name");
    CU_ASSERT_EQUAL(encode_decode(rec), KH_ERR_INVALID_ARGUMENT);
    strcpy(rec->participants[1].name, "bob");
    rec->participants[3].roles = 0;
    CU_ASSERT_EQUAL(encode_decode(rec), KH_ERR_INVALID_ARGUMENT);
    rec->participants[3].roles = KH_ROLE_ADMIN;
    rec->participants[3].share_index = 1; /* index for a non-custodian */
    CU_ASSERT_EQUAL(encode_decode(rec), KH_ERR_INVALID_ARGUMENT);
    rec->participants[3].share_index = 0;
    strcpy(rec->time, "2026-02-29T00:00:00Z");
    CU_ASSERT_EQUAL(encode_decode(rec), KH_ERR_INVALID_ARGUMENT);
    strcpy(rec->time, "2028-02-29T23:59:59Z");
    CU_ASSERT_EQUAL(encode_decode(rec), 0);
    strcpy(rec->time, "2026-11-22 15:00:00Z");
    CU_ASSERT_EQUAL(encode_decode(rec), KH_ERR_INVALID_ARGUMENT);
    strcpy(rec->time, "2026-11-22T15:00:00Z");
    rec->kind = 4;
    CU_ASSERT_EQUAL(encode_decode(rec), KH_ERR_INVALID_ARGUMENT);
    rec->kind = KH_CEREMONY_ROTATE_MASTER;
    strcpy(rec->note, "bad \xff");
    CU_ASSERT_EQUAL(encode_decode(rec), KH_ERR_INVALID_ARGUMENT);
    strcpy(rec->note, "");
    CU_ASSERT_EQUAL(encode_decode(rec), 0);
    kh_ceremony_record_free(rec);
}

/* Encodes, decodes, and checks every participant's signature. */
static int verify_all(const uint8_t *d, size_t len)
{
    struct kh_ceremony_record *rec = kh_ceremony_record_new();
    int r;

    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    r = kh_ceremony_decode(d, len, rec);
    for (unsigned i = 0; r == 0 && i < rec->n_participants; i++) {
        r = kh_ceremony_check_signature(rec, i);
    }
    kh_ceremony_record_free(rec);
    return r;
}

static void test_sign_verify(void)
{
    struct kh_ceremony_record *rec = make_record();
    struct kh_buf b;
    unsigned accepted = 0, changed = 0;
    uint8_t *copy;

    /* Sign out of order: signatures end up in participant order. */
    CU_ASSERT_EQUAL(kh_ceremony_sign(rec, "carol", keys[2]), 0);
    CU_ASSERT_EQUAL(kh_ceremony_sign(rec, "alice", keys[0]), 0);
    CU_ASSERT_EQUAL(kh_ceremony_sign(rec, "dave", keys[3]), 0);
    CU_ASSERT_EQUAL(rec->n_sigs, 3);
    CU_ASSERT_STRING_EQUAL(rec->sigs[0].name, "alice");
    CU_ASSERT_STRING_EQUAL(rec->sigs[1].name, "carol");
    CU_ASSERT_STRING_EQUAL(rec->sigs[1].algorithm, "ecdsa-sha384");
    CU_ASSERT_STRING_EQUAL(rec->sigs[2].algorithm, "ecdsa-sha256");
    /* bob has not signed. */
    CU_ASSERT_EQUAL(kh_ceremony_check_signature(rec, 1), KH_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(kh_ceremony_check_signature(rec, 0), 0);
    /* The wrong key for a name is refused; so is an unknown name. */
    CU_ASSERT_EQUAL(kh_ceremony_sign(rec, "bob", keys[0]),
                    KH_ERR_AUTH_FAILED);
    CU_ASSERT_EQUAL(kh_ceremony_sign(rec, "bob", stranger),
                    KH_ERR_AUTH_FAILED);
    CU_ASSERT_EQUAL(kh_ceremony_sign(rec, "mallory", stranger),
                    KH_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(rec->n_sigs, 3);
    CU_ASSERT_EQUAL(kh_ceremony_sign(rec, "bob", keys[1]), 0);
    CU_ASSERT_EQUAL(rec->n_sigs, 4);
    CU_ASSERT_STRING_EQUAL(rec->sigs[1].name, "bob");
    /* Signing again replaces. */
    CU_ASSERT_EQUAL(kh_ceremony_sign(rec, "bob", keys[1]), 0);
    CU_ASSERT_EQUAL(rec->n_sigs, 4);

    kh_buf_init_writer(&b, KH_CEREMONY_FILE_MAX);
    CU_ASSERT_EQUAL_FATAL(kh_ceremony_encode(rec, &b), 0);
    CU_ASSERT_EQUAL(verify_all(kh_buf_data(&b), kh_buf_size(&b)), 0);

    /* Every single byte changed (three ways) is refused. */
    copy = OPENSSL_malloc(kh_buf_size(&b));
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    for (size_t i = 0; i < kh_buf_size(&b); i++) {
        static const uint8_t deltas[] = { 0x01, 0x20, 0x80 };

        for (size_t k = 0; k < sizeof(deltas); k++) {
            memcpy(copy, kh_buf_data(&b), kh_buf_size(&b));
            copy[i] ^= deltas[k];
            changed++;
            accepted += verify_all(copy, kh_buf_size(&b)) == 0;
        }
    }
    CU_ASSERT_EQUAL(accepted, 0);
    CU_ASSERT_TRUE(changed > 3000);
    /* Every truncation and an extra byte too. */
    for (size_t n = 0; n < kh_buf_size(&b); n++) {
        accepted += verify_all(kh_buf_data(&b), n) == 0;
    }
    CU_ASSERT_EQUAL(accepted, 0);
    OPENSSL_free(copy);

    /* A signature moved to another participant does not verify. */
    memcpy(rec->sigs[1].sig, rec->sigs[0].sig, sizeof(rec->sigs[0].sig));
    rec->sigs[1].sig_len = rec->sigs[0].sig_len;
    CU_ASSERT_EQUAL(kh_ceremony_check_signature(rec, 1),
                    KH_ERR_AUTH_FAILED);
    /* The algorithm must match the key's curve. */
    CU_ASSERT_EQUAL(kh_ceremony_sign(rec, "bob", keys[1]), 0);
    strcpy(rec->sigs[1].algorithm, "ecdsa-sha384");
    CU_ASSERT_EQUAL(kh_ceremony_check_signature(rec, 1),
                    KH_ERR_AUTH_FAILED);
    /* Changing the record after signing breaks every signature. */
    CU_ASSERT_EQUAL(kh_ceremony_sign(rec, "bob", keys[1]), 0);
    rec->threshold = 3;
    for (unsigned i = 0; i < rec->n_participants; i++) {
        CU_ASSERT_EQUAL(kh_ceremony_check_signature(rec, i),
                        KH_ERR_AUTH_FAILED);
    }
    kh_buf_free(&b);
    kh_ceremony_record_free(rec);
}

static void test_non_ec_participant(void)
{
    struct kh_ceremony_record *rec = make_record();
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

    CU_ASSERT_PTR_NOT_NULL_FATAL(ed);
    set_spki(&rec->participants[3], ed);
    CU_ASSERT_EQUAL(kh_ceremony_sign(rec, "dave", ed), KH_ERR_UNSUPPORTED);
    strcpy(rec->sigs[0].name, "dave");
    strcpy(rec->sigs[0].algorithm, "ecdsa-sha256");
    rec->sigs[0].sig_len = 8;
    rec->n_sigs = 1;
    CU_ASSERT_EQUAL(kh_ceremony_check_signature(rec, 3), KH_ERR_UNSUPPORTED);
    EVP_PKEY_free(ed);
    kh_ceremony_record_free(rec);
}

static void test_aad_commitment(void)
{
    struct kh_buf b;
    uint8_t fpr[KH_FPR_LEN], c1[32], c2[32], y[32], ref[32];
    uint8_t msg[26 + 16 + 1 + 32 + 32];
    unsigned int n;
    static const char expect_aad[] =
        "keyholder-share-v1\0ceremony-id-0001\x07" "bob";

    kh_buf_init_writer(&b, 256);
    CU_ASSERT_EQUAL(kh_share_aad(cid, 7, "bob", &b), 0);
    CU_ASSERT_EQUAL(kh_buf_size(&b), sizeof(expect_aad) - 1);
    CU_ASSERT_EQUAL(memcmp(kh_buf_data(&b), expect_aad,
                           sizeof(expect_aad) - 1), 0);
    CU_ASSERT_EQUAL(kh_share_aad(cid, 0, "bob", &b),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_share_aad(cid, 1, "", &b), KH_ERR_INVALID_ARGUMENT);
    kh_buf_free(&b);

    memset(fpr, 0x33, sizeof(fpr));
    memset(y, 0x44, sizeof(y));
    CU_ASSERT_EQUAL(kh_share_commitment(cid, 2, fpr, y, 32, c1), 0);
    /* Known answer: SHA-256 of the documented concatenation. */
    memcpy(msg, "keyholder-share-commit-v1", 26); /* with its NUL */
    memcpy(msg + 26, cid, 16);
    msg[42] = 2;
    memcpy(msg + 43, fpr, 32);
    memcpy(msg + 75, y, 32);
    CU_ASSERT_EQUAL(EVP_Digest(msg, sizeof(msg), ref, &n, EVP_sha256(),
                               NULL), 1);
    CU_ASSERT_EQUAL(memcmp(c1, ref, 32), 0);
    /* Each input changes it. */
    CU_ASSERT_EQUAL(kh_share_commitment(cid, 3, fpr, y, 32, c2), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(c1, c2, 32), 0);
    y[31] ^= 1;
    CU_ASSERT_EQUAL(kh_share_commitment(cid, 2, fpr, y, 32, c2), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(c1, c2, 32), 0);
    y[31] ^= 1;
    fpr[0] ^= 1;
    CU_ASSERT_EQUAL(kh_share_commitment(cid, 2, fpr, y, 32, c2), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(c1, c2, 32), 0);
    CU_ASSERT_EQUAL(kh_share_commitment(cid, 0, fpr, y, 32, c2),
                    KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_share_commitment(cid, 1, fpr, y, 0, c2),
                    KH_ERR_INVALID_ARGUMENT);
}

/*
 * The ceremony's share path end to end, as daemon and khadmin will run
 * it: split a master key 2-of-3, box each y to its custodian, write share
 * files; then decode, open with the custodian's key, check the
 * commitment, combine two.
 */
static void test_share_path(void)
{
    struct kh_shamir_share sh[3], got[3];
    struct kh_share_file sf, back;
    struct kh_buf files[3], aad, box;
    uint8_t master[32], rebuilt[32], c[32];
    EVP_PKEY *ck[3] = { keys[0], keys[1], keys[2] };

    CU_ASSERT_EQUAL_FATAL(RAND_bytes(master, sizeof(master)), 1);
    CU_ASSERT_EQUAL_FATAL(kh_shamir_split(master, 32, 2, 3, sh), 0);
    for (int i = 0; i < 3; i++) {
        uint8_t *der = NULL;
        int dlen = i2d_PUBKEY(ck[i], &der);

        memset(&sf, 0, sizeof(sf));
        memcpy(sf.ceremony_id, cid, sizeof(cid));
        sf.index = sh[i].x;
        sf.threshold = 2;
        sf.count = 3;
        strcpy(sf.custodian, names[i]);
        CU_ASSERT_EQUAL(kh_spki_fingerprint(der, (size_t)dlen,
                                            sf.custodian_fpr), 0);
        OPENSSL_free(der);
        CU_ASSERT_EQUAL(kh_share_commitment(cid, sf.index, sf.custodian_fpr,
                                            sh[i].y, 32, sf.commitment), 0);
        kh_buf_init_writer(&aad, 256);
        kh_buf_init_writer(&box, KH_SHARE_BOX_MAX);
        CU_ASSERT_EQUAL(kh_share_aad(cid, sf.index, sf.custodian, &aad), 0);
        CU_ASSERT_EQUAL_FATAL(kh_box_seal(ck[i], KH_SHARE_BOX_LABEL,
                                          kh_buf_data(&aad),
                                          kh_buf_size(&aad), sh[i].y, 32,
                                          &box), 0);
        memcpy(sf.box, kh_buf_data(&box), kh_buf_size(&box));
        sf.box_len = kh_buf_size(&box);
        kh_buf_init_writer(&files[i], KH_SHARE_FILE_MAX);
        CU_ASSERT_EQUAL_FATAL(kh_share_file_encode(&sf, &files[i]), 0);
        kh_buf_free(&aad);
        kh_buf_free(&box);
    }
    OPENSSL_cleanse(sh, sizeof(sh));

    /* Custodians 3 and 1 open their shares; 2-of-3 rebuilds. */
    for (int j = 0; j < 2; j++) {
        int i = j == 0 ? 2 : 0;
        uint8_t *y;
        size_t ylen;

        CU_ASSERT_EQUAL_FATAL(kh_share_file_decode(kh_buf_data(&files[i]),
                                                   kh_buf_size(&files[i]),
                                                   &back), 0);
        CU_ASSERT_STRING_EQUAL(back.custodian, names[i]);
        kh_buf_init_writer(&aad, 256);
        CU_ASSERT_EQUAL(kh_share_aad(back.ceremony_id, back.index,
                                     back.custodian, &aad), 0);
        /* Another custodian's key cannot open it. */
        CU_ASSERT_EQUAL(kh_box_open(ck[1], KH_SHARE_BOX_LABEL,
                                    kh_buf_data(&aad), kh_buf_size(&aad),
                                    back.box, back.box_len, &y, &ylen),
                        KH_ERR_CRYPTO);
        CU_ASSERT_EQUAL_FATAL(kh_box_open(ck[i], KH_SHARE_BOX_LABEL,
                                          kh_buf_data(&aad),
                                          kh_buf_size(&aad), back.box,
                                          back.box_len, &y, &ylen), 0);
        CU_ASSERT_EQUAL_FATAL(ylen, 32);
        CU_ASSERT_EQUAL(kh_share_commitment(back.ceremony_id, back.index,
                                            back.custodian_fpr, y, ylen, c),
                        0);
        CU_ASSERT_EQUAL(memcmp(c, back.commitment, 32), 0);
        got[j].x = back.index;
        memcpy(got[j].y, y, 32);
        OPENSSL_secure_clear_free(y, ylen);
        kh_buf_free(&aad);
    }
    CU_ASSERT_EQUAL(kh_shamir_combine(got, 2, 32, rebuilt), 0);
    CU_ASSERT_EQUAL(memcmp(rebuilt, master, 32), 0);
    OPENSSL_cleanse(got, sizeof(got));

    /* Relabelling a share file for another index or custodian breaks the
     * box's AAD (the file itself still parses). */
    CU_ASSERT_EQUAL(kh_share_file_decode(kh_buf_data(&files[0]),
                                         kh_buf_size(&files[0]), &back), 0);
    {
        uint8_t *y;
        size_t ylen;

        kh_buf_init_writer(&aad, 256);
        CU_ASSERT_EQUAL(kh_share_aad(back.ceremony_id, 2, back.custodian,
                                     &aad), 0);
        CU_ASSERT_EQUAL(kh_box_open(ck[0], KH_SHARE_BOX_LABEL,
                                    kh_buf_data(&aad), kh_buf_size(&aad),
                                    back.box, back.box_len, &y, &ylen),
                        KH_ERR_CRYPTO);
        kh_buf_free(&aad);
    }
    for (int i = 0; i < 3; i++) {
        kh_buf_free(&files[i]);
    }
}

static void test_share_file_strict(void)
{
    struct kh_share_file sf, back, again;
    struct kh_buf b;
    uint8_t copy[KH_SHARE_FILE_MAX];
    size_t n;
    unsigned same = 0;

    memset(&sf, 0, sizeof(sf));
    memcpy(sf.ceremony_id, cid, sizeof(cid));
    sf.index = 3;
    sf.threshold = 2;
    sf.count = 3;
    strcpy(sf.custodian, "carol");
    memset(sf.custodian_fpr, 0xcd, KH_FPR_LEN);
    memset(sf.commitment, 0xef, KH_COMMITMENT_LEN);
    memset(sf.box, 0x5a, 130);
    sf.box_len = 130;
    kh_buf_init_writer(&b, KH_SHARE_FILE_MAX);
    CU_ASSERT_EQUAL_FATAL(kh_share_file_encode(&sf, &b), 0);
    n = kh_buf_size(&b);
    CU_ASSERT_EQUAL_FATAL(kh_share_file_decode(kh_buf_data(&b), n, &back),
                          0);
    CU_ASSERT_EQUAL(memcmp(&sf, &back, sizeof(sf)), 0);
    /* Canonical: a changed byte is refused or decodes to another struct. */
    for (size_t i = 0; i < n; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            memcpy(copy, kh_buf_data(&b), n);
            copy[i] ^= (uint8_t)(1u << bit);
            if (kh_share_file_decode(copy, n, &again) == 0) {
                same += memcmp(&again, &sf, sizeof(sf)) == 0;
            }
        }
    }
    CU_ASSERT_EQUAL(same, 0);
    for (size_t len = 0; len < n; len++) {
        CU_ASSERT_NOT_EQUAL(kh_share_file_decode(kh_buf_data(&b), len,
                                                 &again), 0);
    }
    memcpy(copy, kh_buf_data(&b), n);
    copy[n] = ' ';
    CU_ASSERT_EQUAL(kh_share_file_decode(copy, n + 1, &again),
                    KH_ERR_INVALID_FORMAT);
    /* Encoder rules. */
    sf.index = 4;
    CU_ASSERT_EQUAL(kh_share_file_encode(&sf, &b), KH_ERR_INVALID_ARGUMENT);
    sf.index = 0;
    CU_ASSERT_EQUAL(kh_share_file_encode(&sf, &b), KH_ERR_INVALID_ARGUMENT);
    sf.index = 1;
    sf.threshold = 4;
    CU_ASSERT_EQUAL(kh_share_file_encode(&sf, &b), KH_ERR_INVALID_ARGUMENT);
    sf.threshold = 2;
    sf.box_len = 0;
    CU_ASSERT_EQUAL(kh_share_file_encode(&sf, &b), KH_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(kh_buf_size(&b), n);
    kh_buf_free(&b);
}

static void test_teardown(void)
{
    for (int i = 0; i < N_PEOPLE; i++) {
        EVP_PKEY_free(keys[i]);
    }
    EVP_PKEY_free(stranger);
    EVP_PKEY_free(stranger384);
    CRYPTO_secure_malloc_done();
}

static const struct kh_test tests[] = {
    KH_TEST(test_setup),
    KH_TEST(test_time),
    KH_TEST(test_record_roundtrip),
    KH_TEST(test_record_rules),
    KH_TEST(test_sign_verify),
    KH_TEST(test_non_ec_participant),
    KH_TEST(test_aad_commitment),
    KH_TEST(test_share_path),
    KH_TEST(test_share_file_strict),
    KH_TEST(test_teardown),
    { 0 },
};

KH_TEST_MAIN("kh_ceremony", tests)
