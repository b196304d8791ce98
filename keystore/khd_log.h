/*
 * khd_log.h - keyholderd's operational log: stderr with --foreground,
 * syslog (LOG_DAEMON) otherwise. Key names and fingerprints only, never
 * secrets. The audit trail is separate (khd_audit, a later issue).
 */
#ifndef KHD_LOG_H
#define KHD_LOG_H

#include <syslog.h>

void khd_log_init(int to_stderr);
void khd_log(int priority, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define khd_err(...) khd_log(LOG_ERR, __VA_ARGS__)
#define khd_warn(...) khd_log(LOG_WARNING, __VA_ARGS__)
#define khd_info(...) khd_log(LOG_INFO, __VA_ARGS__)

#endif /* KHD_LOG_H */
