/*
 * khd_syslog.h - keyholderd's own sender of syslog datagrams, for the
 * audit trail's `--syslog` (keystore/AUDIT.md, "Syslog").
 *
 * One RFC 3164-style datagram per message, in the format glibc's syslog()
 * writes to a local socket: "<PRI>Mmm dd hh:mm:ss keyholderd[PID]: MSG".
 * The socket is a Unix datagram socket at a configurable path (/dev/log by
 * default; journald's is /run/systemd/journal/dev-log), which glibc's
 * syslog() cannot be pointed at. A send that fails closes the socket and
 * reconnects once; while the receiver is gone each message fails fast, and
 * the next one after it comes back goes through. Under seccomp this needs
 * socket(AF_UNIX), connect and sendto (khd_harden.c, KHD_SECCOMP_SYSLOG).
 */
#ifndef KHD_SYSLOG_H
#define KHD_SYSLOG_H

#include <stddef.h>
#include <sys/types.h>

#include "kh_err.h"

#define KHD_SYSLOG_DEFAULT_PATH "/dev/log"
#define KHD_SYSLOG_PATH_MAX 107 /* sockaddr_un.sun_path less its NUL */

struct khd_syslog;

/*
 * A sender to the datagram socket at |path| (< 108 bytes), tagging each
 * message "keyholderd[pid]". It tries to connect now; a receiver that is
 * not there yet is not an error (see khd_syslog_connected).
 */
KH_MUST_CHECK int khd_syslog_new(const char *path, pid_t pid,
                                 struct khd_syslog **out);
void khd_syslog_free(struct khd_syslog *s);
const char *khd_syslog_path(const struct khd_syslog *s);
int khd_syslog_connected(const struct khd_syslog *s);

/*
 * Sends |msg| with priority |pri| (facility | severity). Waits at most
 * 100 ms for room in a full receiver queue, and not again until a send
 * went through. Returns 0, or KH_ERR_IO with the reason in |why| (size
 * |cap|). Thread-safe.
 */
KH_MUST_CHECK int khd_syslog_send(struct khd_syslog *s, int pri,
                                  const char *msg, char *why, size_t cap);

#endif /* KHD_SYSLOG_H */
