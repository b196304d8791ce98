/*
 * kh_err.h - the one error code space shared by the wire protocol, the
 * daemon, the client library and khadmin.
 *
 * Every kh_/khd_/kha_ function returns int: 0 (KH_OK) on success or a
 * negative KH_ERR_* value. The same codes travel on the wire as their
 * absolute value inside an ERROR reply, so a client sees exactly why the
 * daemon refused (SEALED, DENIED, UNKNOWN_KEY...), never internals.
 */
#ifndef KH_ERR_H
#define KH_ERR_H

#define KH_MUST_CHECK __attribute__((warn_unused_result))

enum kh_err {
    KH_OK = 0,
    KH_ERR_INTERNAL = -1,          /* a bug or an impossible state */
    KH_ERR_ALLOC = -2,             /* out of memory */
    KH_ERR_MESSAGE_INCOMPLETE = -3, /* truncated field or frame */
    KH_ERR_INVALID_FORMAT = -4,    /* malformed field */
    KH_ERR_TOO_LARGE = -5,         /* field or frame over its limit */
    KH_ERR_TRAILING_DATA = -6,     /* bytes left after a message */
    KH_ERR_NO_SPACE = -7,          /* writer reached its maximum size */
    KH_ERR_BAD_VERSION = -8,       /* unsupported protocol version */
    KH_ERR_UNKNOWN_TYPE = -9,      /* unknown message type */
    KH_ERR_SEALED = -10,           /* keyholder is sealed */
    KH_ERR_DENIED = -11,           /* caller may not do this */
    KH_ERR_UNKNOWN_KEY = -12,      /* no such key or version */
    KH_ERR_KEY_EXISTS = -13,       /* a key of that name exists */
    KH_ERR_INVALID_ARGUMENT = -14, /* a well-formed but invalid value */
    KH_ERR_UNSUPPORTED = -15,      /* algorithm/option not supported */
    KH_ERR_TAMPERED = -16,         /* stored record failed integrity */
    KH_ERR_STORAGE = -17,          /* LMDB or file system failure */
    KH_ERR_CRYPTO = -18,           /* a cryptographic primitive failed */
    KH_ERR_UNAVAILABLE = -19,      /* daemon not reachable */
    KH_ERR_IO = -20,               /* socket read/write failed */
    KH_ERR_NOT_INITIALIZED = -21,  /* keyholder has no master key yet */
    KH_ERR_ALREADY_INITIALIZED = -22,
    KH_ERR_TIMEOUT = -23,          /* peer too slow */
    KH_ERR_PROTOCOL = -24,         /* peer broke the protocol */
    KH_ERR_NOT_FOUND = -25,        /* generic lookup miss (not a key) */
    KH_ERR_BUSY = -26,             /* a limit was hit; try again later */
    KH_ERR_INSECURE_MEMORY = -27,  /* secure heap unavailable */
    KH_ERR_AUTH_FAILED = -28,      /* operator authentication failed */
    KH_ERR_BAD_SHARE = -29,        /* a master-key share was refused */
    KH_ERR_EXPIRED = -30,          /* challenge or partial unseal expired */
    KH_ERR_AUDIT = -31,            /* the audit log could not be written */
};

#define KH_ERR_MIN KH_ERR_AUDIT

/* Returns a static, human-readable description of |err|. */
const char *kh_strerror(int err);

/* Returns the short symbolic name of |err| ("SEALED", "DENIED", ...). */
const char *kh_errname(int err);

#endif /* KH_ERR_H */
