/*
 * fuzz_kh_proto.c - the frame reader and every message decoder
 * (keystore/proto/kh_proto.c, kh_buf.c).
 *
 * Input: one wire frame, u32 len || u8 version || u8 type || u32 id || body.
 * The length prefix goes through kh_frame_check_len() as the daemon's
 * reader does, but the frame itself is all the bytes after it, whatever
 * the prefix says, so the fuzzer need not keep the two in step. The body
 * is decoded by the decoder of the frame's type (fuzz_msg_check: cursor
 * unchanged on failure, canonical round trip on success). When the prefix
 * is valid and matches, re-encoding the frame must give the input back.
 */
#include <string.h>

#include "fuzz.h"
#include "fuzz_msg.h"
#include "kh_proto.h"

static void fuzz_frame_roundtrip(const uint8_t *data, size_t size,
                                 const struct kh_frame *f)
{
    struct kh_buf w;

    kh_buf_init_writer(&w, KH_FRAME_HEADER_LEN + KH_MAX_FRAME_LEN);
    FUZZ_CHECK(kh_frame_begin(&w, f->type, f->request_id) == 0);
    FUZZ_CHECK(kh_buf_put_bytes(&w, kh_buf_ptr(&f->body),
                                kh_buf_len(&f->body)) == 0);
    FUZZ_CHECK(kh_frame_end(&w) == 0);
    FUZZ_CHECK(kh_buf_size(&w) == size &&
               memcmp(kh_buf_data(&w), data, size) == 0);
    kh_buf_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *frame;
    struct kh_frame f;
    uint32_t len = 0;
    int len_ok, r;

    if (size < KH_FRAME_HEADER_LEN) {
        return 0;
    }
    r = kh_frame_check_len(data, &len);
    FUZZ_CHECK(r == 0 || r == KH_ERR_TOO_LARGE || r == KH_ERR_INVALID_FORMAT);
    len_ok = r == 0;
    if (len_ok) {
        FUZZ_CHECK(len >= KH_FRAME_PREFIX_LEN && len <= KH_MAX_FRAME_LEN);
    }
    frame = data + KH_FRAME_HEADER_LEN;
    r = kh_frame_decode(frame, size - KH_FRAME_HEADER_LEN, &f);
    if (r != 0) {
        FUZZ_CHECK(r == KH_ERR_MESSAGE_INCOMPLETE || r == KH_ERR_BAD_VERSION ||
                   r == KH_ERR_TOO_LARGE);
        return 0;
    }
    FUZZ_CHECK(f.version == KH_PROTO_VERSION);
    FUZZ_CHECK(kh_buf_len(&f.body) ==
               size - KH_FRAME_HEADER_LEN - KH_FRAME_PREFIX_LEN);
    FUZZ_CHECK(kh_buf_ptr(&f.body) ==
               frame + KH_FRAME_PREFIX_LEN);
    if (len_ok && len == size - KH_FRAME_HEADER_LEN) {
        fuzz_frame_roundtrip(data, size, &f);
    }
    (void)fuzz_msg_check(f.type, kh_buf_ptr(&f.body), kh_buf_len(&f.body));
    return 0;
}
