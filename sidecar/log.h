/*
 * log.h — one JSON object per line on stderr, so operators can grep it and
 * log shippers can parse it without a custom pattern.
 */
#ifndef SC_LOG_H
#define SC_LOG_H

enum sc_log_level { SC_DEBUG, SC_INFO, SC_WARN, SC_ERROR };

void sc_log_set_level(enum sc_log_level lvl);
int sc_log_parse_level(const char *s, enum sc_log_level *out);

/* msg is printf-formatted; the result is JSON-escaped into "msg". */
void sc_log(enum sc_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sc_debug(...) sc_log(SC_DEBUG, __VA_ARGS__)
#define sc_info(...)  sc_log(SC_INFO, __VA_ARGS__)
#define sc_warn(...)  sc_log(SC_WARN, __VA_ARGS__)
#define sc_error(...) sc_log(SC_ERROR, __VA_ARGS__)

#endif
