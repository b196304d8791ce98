/*
 * fuzz_msg.h - every message body decoder of the wire protocol, chosen by
 * frame type, with a round-trip property (fuzz_kh_proto, fuzz_khd_dispatch).
 */
#ifndef KH_FUZZ_MSG_H
#define KH_FUZZ_MSG_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decodes |body| as the body of a frame of |type| (a request 0x01..0x7e, a
 * reply type | 0x80, or KH_MSG_ERROR). Returns the decoder's result: 0, a
 * negative KH_ERR_*, or KH_ERR_UNKNOWN_TYPE when no message has that type.
 *
 * Checks, aborting on a violation: a failed decode leaves the reader's
 * cursor where it was; a successful one consumed every byte, re-encodes to
 * exactly |body| (the codec is canonical) and decodes again to an equal
 * struct.
 */
int fuzz_msg_check(uint8_t type, const uint8_t *body, size_t len);

#endif /* KH_FUZZ_MSG_H */
