#include "khd_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static int khd_log_stderr = 1;

void khd_log_init(int to_stderr)
{
    khd_log_stderr = to_stderr;
    if (!to_stderr) {
        openlog("keyholderd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    }
}

static const char *khd_log_level(int priority)
{
    switch (priority) {
    case LOG_ERR:
        return "error";
    case LOG_WARNING:
        return "warning";
    case LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

void khd_log(int priority, const char *fmt, ...)
{
    char msg[1024];
    char when[32];
    struct tm tm;
    time_t now = time(NULL);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!khd_log_stderr) {
        syslog(priority, "%s", msg);
        return;
    }
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* One fprintf per line: stdio locks the stream, lines do not mix. */
    fprintf(stderr, "%s keyholderd %s: %s\n", when, khd_log_level(priority),
            msg);
}
