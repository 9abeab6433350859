/*
 * fuzz_ratelimit.c — the rate-limit header parsers (sidecar/ratelimit_headers.c):
 * sc_parse_retry_after (delta-seconds and HTTP-dates via curl_getdate) and
 * sc_parse_reset_duration (Go-style durations).
 *
 * Input: the header value up to the first NUL (so the seeds are plain
 * header values); the up to 8 bytes after a NUL, if any, are now_wall
 * (little-endian, any int64, so absurd clocks are tried too); without them
 * now_wall is a fixed time one minute before the RFC example date, so
 * "Wed, 21 Oct 2015 07:28:00 GMT" is a 60 s delay. The value is passed in
 * an exactly sized heap copy, so a read past its NUL is an ASan report.
 *
 * Properties, all from the contract in ratelimit_headers.h:
 * - -1 leaves the out value untouched (pre-filled with a sentinel).
 * - Retry-After: a delay is at most SC_RETRY_AFTER_MAX_S and whole seconds;
 *   a value starting with a digit is accepted iff it is all digits of at
 *   most SC_RETRY_AFTER_MAX_S, with exactly that delay; one starting with
 *   neither digit nor letter is garbage; a date's delay is relative to
 *   now_wall (at now_wall + delay it is 0, one second earlier it is 1 s).
 * - Durations: only digits, '.', and the letters of the units can be
 *   accepted; digits alone (other than "0") lack a unit; and since repeats
 *   add up, "XX" is twice "X" (or -1 past UINT64_MAX ns).
 * - Both: surrounding spaces, tabs, CR and LF make no difference.
 */
#include "ratelimit_headers.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A violated property aborts (libFuzzer then saves the input), naming
 * itself first: the compiler merges bare traps, so a stack trace alone
 * would not tell which check failed. */
__attribute__((noreturn, cold, noinline))
static void check_failed(int line, const char *what)
{
    fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, line, what);
    abort();
}
#define CHECK(cond) do { if (!(cond)) check_failed(__LINE__, #cond); } while (0)

#define SENTINEL 0xA5A5A5A5DEADBEEFull
#define NS_PER_S 1000000000ull
/* 2015-10-21 07:27:00 GMT: a minute before the example date */
#define REF_NOW 1445412420

static bool ows(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static bool digit(char c) { return c >= '0' && c <= '9'; }
static bool letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* An exactly sized NUL-terminated heap copy of pre + s[0..n) + post. */
static char *dup3(const char *pre, const char *s, size_t n, const char *post)
{
    size_t a = strlen(pre), c = strlen(post);
    char *d = malloc(a + n + c + 1);
    CHECK(d != NULL);
    memcpy(d, pre, a);
    memcpy(d + a, s, n);
    memcpy(d + a + n, post, c + 1);
    return d;
}

static int retry_after(const char *v, int64_t now, uint64_t *out)
{
    *out = SENTINEL;
    int rc = sc_parse_retry_after(v, now, out);
    CHECK(rc == 0 || rc == -1);
    if (rc < 0)
        CHECK(*out == SENTINEL);
    else
        CHECK(*out <= (uint64_t)SC_RETRY_AFTER_MAX_S * NS_PER_S && *out % NS_PER_S == 0);
    return rc;
}

static int duration(const char *v, uint64_t *out)
{
    *out = SENTINEL;
    int rc = sc_parse_reset_duration(v, out);
    CHECK(rc == 0 || rc == -1);
    if (rc < 0)
        CHECK(*out == SENTINEL);
    return rc;
}

static void check_retry_after(const char *v, const char *t, size_t tl, int64_t now)
{
    uint64_t d, d2;
    int rc = retry_after(v, now, &d);

    char *padded = dup3(" \t", v, strlen(v), "\r\n");
    CHECK(retry_after(padded, now, &d2) == rc && (rc < 0 || d2 == d));
    free(padded);

    if (tl == 0) {
        CHECK(rc < 0);
        return;
    }
    if (digit(t[0])) {
        /* delta-seconds: all digits, at most a day, exactly that long */
        uint64_t secs = 0;
        bool ok = true;
        for (size_t k = 0; k < tl && ok; k++) {
            ok = digit(t[k]);
            if (ok)
                secs = secs * 10 + (uint64_t)(t[k] - '0');
            ok = ok && secs <= SC_RETRY_AFTER_MAX_S;
        }
        CHECK(ok ? rc == 0 && d == secs * NS_PER_S : rc < 0);
        return;
    }
    if (!letter(t[0])) {
        CHECK(rc < 0);
        return;
    }
    /* a date: the delay counts down with the clock */
    uint64_t secs = rc == 0 ? d / NS_PER_S : 0;
    if (secs > 0 && now <= INT64_MAX - (int64_t)secs) {
        CHECK(retry_after(v, now + (int64_t)secs, &d2) == 0 && d2 == 0);
        CHECK(retry_after(v, now + (int64_t)secs - 1, &d2) == 0 && d2 == NS_PER_S);
    }
}

static void check_duration(const char *v, const char *t, size_t tl)
{
    uint64_t ns, ns2;
    int rc = duration(v, &ns);

    char *padded = dup3("\n \t", v, strlen(v), "\t \r");
    CHECK(duration(padded, &ns2) == rc && (rc < 0 || ns2 == ns));
    free(padded);

    bool all_digits = tl > 0;
    for (size_t k = 0; k < tl; k++) {
        all_digits = all_digits && digit(t[k]);
        /* digits, '.', and the bytes of h m s ms us µs μs ns */
        if (!digit(t[k]) && !strchr(".hmsun\xc2\xb5\xce\xbc", t[k]))
            CHECK(rc < 0);
    }
    if (tl == 1 && t[0] == '0') {
        CHECK(rc == 0 && ns == 0);
        return;
    }
    if (all_digits)
        CHECK(rc < 0);   /* a number without a unit */
    if (rc == 0) {
        /* t is digits/'.' first and a unit last, so "tt" splits into the
         * same components twice, each truncated to ns the same way */
        char *tt = malloc(2 * tl + 1);
        CHECK(tt != NULL);
        memcpy(tt, t, tl);
        memcpy(tt + tl, t, tl);
        tt[2 * tl] = '\0';
        int rc2 = duration(tt, &ns2);
        if (ns <= UINT64_MAX / 2)
            CHECK(rc2 == 0 && ns2 == 2 * ns);
        else
            CHECK(rc2 < 0);   /* over UINT64_MAX ns */
        free(tt);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nul = memchr(in, '\0', size);
    size_t vlen = nul ? (size_t)(nul - in) : size;

    int64_t now = REF_NOW;
    if (nul) {
        uint64_t w = 0;
        size_t rest = size - vlen - 1;
        for (size_t k = 0; k < rest && k < 8; k++)
            w |= (uint64_t)(uint8_t)nul[1 + k] << (8 * k);
        now = (int64_t)w;
    }

    char *v = dup3("", in, vlen, "");
    /* the trimmed value, for the grammar checks */
    const char *t = v, *e = v + vlen;
    while (t < e && ows(*t))
        t++;
    while (e > t && ows(e[-1]))
        e--;
    size_t tl = (size_t)(e - t);

    check_retry_after(v, t, tl, now);
    check_duration(v, t, tl);

    /* NULL is garbage for both, and leaves the out value alone */
    uint64_t out = SENTINEL;
    CHECK(sc_parse_retry_after(NULL, now, &out) == -1 && out == SENTINEL);
    CHECK(sc_parse_reset_duration(NULL, &out) == -1 && out == SENTINEL);
    free(v);
    return 0;
}
