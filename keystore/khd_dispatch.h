/*
 * khd_dispatch.h - one request frame in, one reply frame out.
 *
 * Pure with respect to I/O: the server reads and writes sockets, this
 * decodes, authorises through khd_state and encodes. That keeps it easy to
 * unit test and fuzz (fuzz_khd_dispatch feeds it raw bytes).
 */
#ifndef KHD_DISPATCH_H
#define KHD_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "kh_buf.h"
#include "khd_state.h"

/*
 * |frame| is what followed the length prefix. Writes a whole reply frame
 * (success or KH_MSG_ERROR) into the empty writer |reply|. Returns 0 when
 * the connection may continue, or a negative KH_ERR_* when it must be
 * closed after the reply is sent (a frame that cannot be trusted).
 */
KH_MUST_CHECK int khd_dispatch(struct khd_ctx *ctx, const struct khd_peer *p,
                               const uint8_t *frame, size_t len,
                               struct kh_buf *reply);

/* Writes a KH_MSG_ERROR frame into the empty writer |reply|. */
KH_MUST_CHECK int khd_reply_error(struct kh_buf *reply, uint32_t request_id,
                                  int code, const char *reason);

#endif /* KHD_DISPATCH_H */
