/*
 * fuzz_kh_share.c - the share file decoder (keystore/crypto/kh_ceremony.c).
 *
 * Input: the file's bytes. Properties of an accepted file: it is the
 * canonical encoding of what it decoded to (encoding the struct gives the
 * input back byte for byte), decoding that again gives the same struct,
 * the fields obey the rules (1 <= index <= N, 1 <= M <= N, a valid
 * custodian name, a box of 1..KH_SHARE_BOX_MAX bytes), and the box's AAD
 * can be built from it.
 */
#include <string.h>

#include "fuzz.h"
#include "kh_ceremony.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct kh_share_file s, s2;
    struct kh_buf out, aad;

    if (kh_share_file_decode(data, size, &s) != 0) {
        return 0;
    }
    FUZZ_CHECK(s.index >= 1 && s.index <= s.count);
    FUZZ_CHECK(s.threshold >= 1 && s.threshold <= s.count);
    FUZZ_CHECK(s.count <= KH_SHAMIR_MAX_SHARES);
    FUZZ_CHECK(kh_name_valid(s.custodian));
    FUZZ_CHECK(s.box_len >= 1 && s.box_len <= KH_SHARE_BOX_MAX);
    kh_buf_init_writer(&out, KH_SHARE_FILE_MAX);
    FUZZ_CHECK(kh_share_file_encode(&s, &out) == 0);
    FUZZ_CHECK(kh_buf_size(&out) == size &&
               memcmp(kh_buf_data(&out), data, size) == 0);
    FUZZ_CHECK(kh_share_file_decode(kh_buf_data(&out), kh_buf_size(&out),
                                    &s2) == 0);
    FUZZ_CHECK(memcmp(&s, &s2, sizeof(s)) == 0);
    kh_buf_free(&out);
    kh_buf_init_writer(&aad, 256);
    FUZZ_CHECK(kh_share_aad(s.ceremony_id, s.index, s.custodian, &aad) == 0);
    kh_buf_free(&aad);
    return 0;
}
