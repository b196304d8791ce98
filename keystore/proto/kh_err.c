#include "kh_err.h"

#include <stddef.h>

struct kh_err_desc {
    const char *name;
    const char *text;
};

/* Indexed by -err. */
static const struct kh_err_desc kh_err_table[] = {
    [0] = { "OK", "success" },
    [1] = { "INTERNAL", "internal error" },
    [2] = { "ALLOC", "out of memory" },
    [3] = { "MESSAGE_INCOMPLETE", "message truncated" },
    [4] = { "INVALID_FORMAT", "malformed message" },
    [5] = { "TOO_LARGE", "field or message too large" },
    [6] = { "TRAILING_DATA", "unexpected trailing data" },
    [7] = { "NO_SPACE", "buffer size limit reached" },
    [8] = { "BAD_VERSION", "unsupported protocol version" },
    [9] = { "UNKNOWN_TYPE", "unknown message type" },
    [10] = { "SEALED", "keyholder is sealed" },
    [11] = { "DENIED", "permission denied" },
    [12] = { "UNKNOWN_KEY", "no such key" },
    [13] = { "KEY_EXISTS", "a key with that name already exists" },
    [14] = { "INVALID_ARGUMENT", "invalid argument" },
    [15] = { "UNSUPPORTED", "not supported" },
    [16] = { "TAMPERED", "stored record failed its integrity check" },
    [17] = { "STORAGE", "storage failure" },
    [18] = { "CRYPTO", "cryptographic operation failed" },
    [19] = { "UNAVAILABLE", "keyholderd is not reachable" },
    [20] = { "IO", "connection I/O failed" },
    [21] = { "NOT_INITIALIZED", "keyholder is not initialized" },
    [22] = { "ALREADY_INITIALIZED", "keyholder is already initialized" },
    [23] = { "TIMEOUT", "timed out" },
    [24] = { "PROTOCOL", "protocol violation" },
    [25] = { "NOT_FOUND", "not found" },
    [26] = { "BUSY", "limit reached, try again later" },
    [27] = { "INSECURE_MEMORY", "secure memory is not available" },
    [28] = { "AUTH_FAILED", "operator authentication failed" },
    [29] = { "BAD_SHARE", "master key share refused" },
    [30] = { "EXPIRED", "expired" },
    [31] = { "AUDIT", "the audit log could not be written" },
};

static const struct kh_err_desc *kh_err_lookup(int err)
{
    if (err > 0 || err < KH_ERR_MIN) {
        return NULL;
    }
    return &kh_err_table[-err];
}

const char *kh_strerror(int err)
{
    const struct kh_err_desc *d = kh_err_lookup(err);

    return d != NULL ? d->text : "unknown error";
}

const char *kh_errname(int err)
{
    const struct kh_err_desc *d = kh_err_lookup(err);

    return d != NULL ? d->name : "UNKNOWN";
}
