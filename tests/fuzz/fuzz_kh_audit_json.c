/*
 * fuzz_kh_audit_json.c - the offline audit verifier's input: the JSON lines
 * of `khadmin audit export` / `audit archive` (keystore/proto/kh_audit.c).
 *
 * Input: text, one exported line per '\n' (an anchor line or an entry
 * line), fed to the verifier as `khadmin audit verify --file` does, with
 * the fixture's p256 key as the audit public key (gen_corpus.c signs the
 * seeds' checkpoints and anchors with it).
 *
 * Properties (abort on violation):
 *   - an accepted entry line is exactly the canonical rendering of the
 *     entry it carries, and that entry re-encodes to the carried bytes;
 *   - an accepted anchor line renders back to itself;
 *   - the verifier's error is sticky, names a sequence number once set, and
 *     while no error is set every accepted entry was counted.
 */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "fuzz_fixture.h"
#include "kh_audit.h"

#define FUZZ_MAX_LINES 64

static uint8_t *fuzz_spki;
static size_t fuzz_spki_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const struct fuzz_key *k = fuzz_key_find("p256");
    BIO *bio;
    EVP_PKEY *pk;
    int n;

    (void)argc;
    (void)argv;
    FUZZ_CHECK(k != NULL);
    FUZZ_CHECK((bio = BIO_new_mem_buf(k->pem, -1)) != NULL);
    FUZZ_CHECK((pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) != NULL);
    FUZZ_CHECK((n = i2d_PUBKEY(pk, &fuzz_spki)) > 0);
    fuzz_spki_len = (size_t)n;
    EVP_PKEY_free(pk);
    BIO_free(bio);
    return 0;
}

static void fuzz_entry_line(struct kh_audit_verifier *v, const char *line,
                            size_t len, int first, struct kh_buf *enc,
                            struct kh_audit_entry *e)
{
    struct kh_audit_rec rec;
    struct kh_buf w;
    uint64_t before = v->entries;
    int had_error = v->error[0] != '\0', r;

    if (kh_audit_json_parse(line, len, enc, &rec, e) != 0) {
        return;
    }
    kh_buf_init_writer(&w, KH_AUDIT_MAX_ENC);
    FUZZ_CHECK(kh_audit_entry_encode(&w, e) == 0);
    FUZZ_CHECK(kh_buf_size(&w) == rec.enc_len &&
               memcmp(kh_buf_data(&w), rec.enc, rec.enc_len) == 0);
    kh_buf_free(&w);
    if (first) {
        v->have_prev = 1;
        v->next_seq = 1;
        memset(v->prev, 0, sizeof(v->prev));
    }
    r = kh_audit_verify_next(v, e->seq, &rec);
    if (had_error) {
        FUZZ_CHECK(r == KH_ERR_TAMPERED);
    }
    if (r == 0) {
        FUZZ_CHECK(v->error[0] == '\0' && v->entries == before + 1 &&
                   v->last_seq == e->seq);
    } else {
        FUZZ_CHECK(v->error[0] != '\0' || r == KH_ERR_ALLOC ||
                   r == KH_ERR_CRYPTO);
    }
}

static void fuzz_anchor_line(struct kh_audit_verifier *v, const char *line,
                             size_t len, int first)
{
    struct kh_audit_anchor a;
    struct kh_buf w;

    if (kh_audit_anchor_json_parse(line, len, &a) != 0) {
        return;
    }
    kh_buf_init_writer(&w, 1024);
    FUZZ_CHECK(kh_audit_anchor_json(&a, &w) == 0);
    FUZZ_CHECK(kh_buf_size(&w) == len &&
               memcmp(kh_buf_data(&w), line, len) == 0);
    kh_buf_free(&w);
    if (first || !v->have_prev ||
        (a.seq == v->next_seq &&
         memcmp(a.hash, v->prev, KH_AUDIT_HASH_LEN) == 0)) {
        int r = kh_audit_verify_anchor(v, a.seq, a.hash, a.time_ns, a.sig,
                                       a.sig_len);

        FUZZ_CHECK(r == 0 || v->error[0] != '\0');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kh_audit_verifier v;
    struct kh_audit_entry *e = malloc(sizeof(*e));
    struct kh_buf enc;
    const char *p = (const char *)data, *end = p + size;
    int first = 1, lines = 0;

    FUZZ_CHECK(e != NULL);
    FUZZ_CHECK(kh_audit_verifier_init(&v, fuzz_spki, fuzz_spki_len) == 0);
    kh_buf_init_writer(&enc, KH_AUDIT_MAX_ENC);
    while (p < end && lines++ < FUZZ_MAX_LINES) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl != NULL ? nl : end) - p);

        if (len > 15 && memcmp(p, "{\"anchor_seq\":", 14) == 0) {
            fuzz_anchor_line(&v, p, len, first);
        } else {
            fuzz_entry_line(&v, p, len, first, &enc, e);
        }
        first = 0;
        p += len + 1;
    }
    if (v.error[0] != '\0') {
        FUZZ_CHECK(strstr(v.error, "seq") != NULL);
    }
    kh_buf_free(&enc);
    kh_audit_verifier_free(&v);
    free(e);
    return 0;
}
