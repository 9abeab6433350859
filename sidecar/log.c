/*
 * log.c — JSON-lines logging (see log.h). Writes with one write(2) per line
 * so lines from a crash handler or a child never interleave mid-line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum sc_log_level min_level = SC_INFO;
static const char *names[] = { "debug", "info", "warn", "error" };

void sc_log_set_level(enum sc_log_level lvl)
{
    min_level = lvl;
}

int sc_log_parse_level(const char *s, enum sc_log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum sc_log_level)i;
            return 0;
        }
    return -1;
}

void sc_log(enum sc_log_level lvl, const char *fmt, ...)
{
    if (lvl < min_level)
        return;
    char msg[1024], line[2560];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"msg\":\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[lvl]);
    for (const unsigned char *p = (const unsigned char *)msg; *p && n < (int)sizeof line - 8; p++) {
        if (*p == '"' || *p == '\\') {
            line[n++] = '\\';
            line[n++] = (char)*p;
        } else if (*p < 0x20) {
            n += snprintf(line + n, sizeof line - (size_t)n, "\\u%04x", *p);
        } else {
            line[n++] = (char)*p;
        }
    }
    n += snprintf(line + n, sizeof line - (size_t)n, "\"}\n");
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nowhere left to report it */
    }
}
