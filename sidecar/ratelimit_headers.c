/*
 * ratelimit_headers.c — Retry-After and x-ratelimit-reset-* parsing.
 *
 * Header values come from the upstream, so they are untrusted text: every
 * digit run is accumulated with an overflow check, every byte is
 * classified, and nothing is read past the terminating NUL. HTTP-dates are
 * left to libcurl's curl_getdate() (already linked for the transfers and
 * well exercised) instead of a second hand-written date parser; it needs a
 * NUL-terminated copy of the trimmed value, which fits on the stack since
 * no valid HTTP-date is longer than the asctime/RFC 850 forms (~33 bytes).
 */
#include "ratelimit_headers.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define NS_PER_S 1000000000ull
#define DATE_MAX 64          /* generous bound for one HTTP-date */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* [*b, *e) = value without surrounding whitespace. */
static void trim(const char *value, const char **b, const char **e)
{
    const char *s = value, *t = value + strlen(value);
    while (s < t && is_ows(*s))
        s++;
    while (t > s && is_ows(t[-1]))
        t--;
    *b = s;
    *e = t;
}

/* ---------------------------------------------------------- Retry-After */

static int delta_seconds(const char *s, const char *e, uint64_t *secs)
{
    uint64_t v = 0;
    for (const char *p = s; p < e; p++) {
        if (!is_digit(*p))
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > SC_RETRY_AFTER_MAX_S)   /* also stops any overflow early */
            return -1;
    }
    *secs = v;
    return 0;
}

static int http_date(const char *s, const char *e, int64_t now_wall, uint64_t *secs)
{
    char buf[DATE_MAX];
    size_t len = (size_t)(e - s);
    if (len >= sizeof buf || !is_alpha(*s))
        return -1;
    for (const char *p = s; p < e; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return -1;                 /* control bytes: not a field value */
    memcpy(buf, s, len);
    buf[len] = '\0';

    time_t t = curl_getdate(buf, NULL);
    if (t == (time_t)-1)
        return -1;
    int64_t when = (int64_t)t;
    if (when <= now_wall) {
        *secs = 0;                     /* already past: go now */
        return 0;
    }
    /* when > now_wall, so the difference is positive; it can still exceed
     * INT64_MAX if now_wall is absurdly negative, hence unsigned math */
    uint64_t d = (uint64_t)when - (uint64_t)now_wall;
    if (d > SC_RETRY_AFTER_MAX_S)
        return -1;
    *secs = d;
    return 0;
}

int sc_parse_retry_after(const char *value, int64_t now_wall, uint64_t *delay_ns)
{
    if (!value || !delay_ns)
        return -1;
    const char *s, *e;
    trim(value, &s, &e);
    if (s == e)
        return -1;

    uint64_t secs;
    int rc = is_digit(*s) ? delta_seconds(s, e, &secs)
                          : http_date(s, e, now_wall, &secs);
    if (rc < 0)
        return -1;
    *delay_ns = secs * NS_PER_S;      /* <= 86400e9: no overflow */
    return 0;
}

/* ------------------------------------------------------------ durations */

struct unit {
    const char *name;
    uint64_t ns;
};

/* Go's unit table; "µ" is U+00B5 MICRO SIGN, "μ" U+03BC GREEK SMALL MU. */
static const struct unit units[] = {
    { "ns", 1ull },
    { "us", 1000ull },
    { "\xc2\xb5s", 1000ull },
    { "\xce\xbcs", 1000ull },
    { "ms", 1000000ull },
    { "s", NS_PER_S },
    { "m", 60ull * NS_PER_S },
    { "h", 3600ull * NS_PER_S },
};

static const struct unit *find_unit(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strlen(units[i].name) == len && memcmp(units[i].name, s, len) == 0)
            return &units[i];
    return NULL;
}

#define FRAC_DIGITS_MAX 18   /* 10^18 * 3.6e12 < 2^128: exact in 128 bits */

int sc_parse_reset_duration(const char *value, uint64_t *ns)
{
    if (!value || !ns)
        return -1;
    const char *p, *e;
    trim(value, &p, &e);
    if (p == e)
        return -1;
    if (e - p == 1 && *p == '0') {    /* Go prints and accepts a bare "0" */
        *ns = 0;
        return 0;
    }

    uint64_t total = 0;
    while (p < e) {
        /* integer part */
        uint64_t whole = 0;
        bool digits = false;
        for (; p < e && is_digit(*p); p++) {
            digits = true;
            uint64_t d = (uint64_t)(*p - '0');
            if (whole > (UINT64_MAX - d) / 10)
                return -1;             /* the number alone overflows */
            whole = whole * 10 + d;
        }
        /* fraction: kept as frac / scale, exactly, up to 18 digits */
        uint64_t frac = 0, scale = 1;
        if (p < e && *p == '.') {
            p++;
            for (; p < e && is_digit(*p); p++) {
                digits = true;
                if (scale < 1000000000000000000ull) {   /* 10^18 */
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10;
                }
            }
        }
        if (!digits)
            return -1;                 /* "s", ".s", "-1s", " 1s", ... */

        /* unit: everything up to the next digit or dot, as Go does */
        const char *u = p;
        while (p < e && !is_digit(*p) && *p != '.')
            p++;
        const struct unit *unit = find_unit(u, (size_t)(p - u));
        if (!unit)
            return -1;

        unsigned __int128 v = (unsigned __int128)whole * unit->ns;
        /* truncates below 1 ns, like Go */
        v += (unsigned __int128)frac * unit->ns / scale;
        v += total;
        if (v > UINT64_MAX)
            return -1;
        total = (uint64_t)v;
    }
    *ns = total;
    return 0;
}
