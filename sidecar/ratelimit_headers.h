/*
 * ratelimit_headers.h — parsers for the rate-limit hints an upstream sends
 * back: Retry-After (RFC 9110 §10.2.3) and OpenAI's x-ratelimit-reset-*
 * durations. They turn header text into a delay in nanoseconds for the
 * outcome and admission policies; they own no state, read no clock (the
 * wall time is passed in) and allocate nothing, so a fuzzer can call them
 * directly.
 *
 * Both take the field value as the upstream sent it: surrounding spaces,
 * tabs, CR and LF are ignored; anything else that does not fit the grammar
 * is garbage (-1) and leaves *out untouched, so the caller falls back to
 * its own backoff.
 */
#ifndef SC_RATELIMIT_HEADERS_H
#define SC_RATELIMIT_HEADERS_H

#include <stdint.h>

/* The longest Retry-After honoured, in seconds (one day). */
#define SC_RETRY_AFTER_MAX_S 86400

/* Retry-After: delta-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015
 * 07:28:00 GMT", also the obsolete RFC 850 and asctime forms) relative to
 * now_wall (seconds since the epoch). Returns 0 and the delay in ns (0 for a
 * date in the past), or -1 for garbage: NULL, empty, a sign, a fraction,
 * digits followed by anything, a string libcurl cannot read as a date, or a
 * delay over SC_RETRY_AFTER_MAX_S. Too-long delays are REJECTED, not
 * clamped: a day-long pause is a broken upstream or a misread header more
 * often than a real instruction, and obeying it would take the route out for
 * the day; the caller's own backoff (and deadlines) handle it instead. Dates
 * go through libcurl's curl_getdate(), which is lenient (it ignores what
 * follows a complete date and accepts a date without a time); only strings
 * starting with a letter are handed to it, as every HTTP-date does. */
int sc_parse_retry_after(const char *value, int64_t now_wall, uint64_t *delay_ns);

/* OpenAI's x-ratelimit-reset-requests / x-ratelimit-reset-tokens
 * durations, written as Go's time.Duration prints them: "6m0s", "1s",
 * "1.5s", "20ms", "1h2m3.5s", "0s". A sequence of <number><unit> with
 * number = digits, digits "." digits, digits ".", or "." digits, and unit
 * one of h m s ms us µs μs ns (any order, repeats add up, as Go's
 * time.ParseDuration). A lone "0" is 0, as in Go. Fraction digits beyond
 * the 18th are checked but ignored (they are below 1 ns even for hours).
 * Returns 0 and ns, or -1 for garbage: NULL, empty, unknown or missing unit,
 * missing number, a sign, inner whitespace, or a total over UINT64_MAX ns. */
int sc_parse_reset_duration(const char *value, uint64_t *ns);

#endif
