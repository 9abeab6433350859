/*
 * test_ratelimit_headers.c — unit tests of the upstream rate-limit header
 * parsers (sidecar/ratelimit_headers.c): Retry-After in both of its forms
 * and OpenAI's x-ratelimit-reset-* durations.
 *
 * Dates are checked against a fixed "now" so no test depends on the clock:
 * REF is Wed, 21 Oct 2015 07:28:00 GMT, and each test puts now_wall at a
 * chosen distance from it. Tables list one input per row; a failing row is
 * named in the message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "ratelimit_headers.h"

#define NS  1ull
#define US  1000ull
#define MS  1000000ull
#define SEC 1000000000ull

#define REF 1445412480ll    /* Wed, 21 Oct 2015 07:28:00 GMT */
#define SENTINEL 0xDEADBEEFull

struct ok_row {
    const char *in;
    uint64_t want;
};

static void expect_retry(const char *in, int64_t now, uint64_t want)
{
    uint64_t got = SENTINEL;
    int rc = sc_parse_retry_after(in, now, &got);
    if (rc != 0 || got != want)
        fail_msg("Retry-After \"%s\": rc %d, %llu ns; want 0, %llu ns", in, rc,
                 (unsigned long long)got, (unsigned long long)want);
}

static void expect_retry_garbage(const char *in, int64_t now)
{
    uint64_t got = SENTINEL;
    int rc = sc_parse_retry_after(in, now, &got);
    if (rc != -1 || got != SENTINEL)
        fail_msg("Retry-After \"%s\": rc %d, out %llu; want -1, untouched", in, rc,
                 (unsigned long long)got);
}

static void expect_dur(const char *in, uint64_t want)
{
    uint64_t got = SENTINEL;
    int rc = sc_parse_reset_duration(in, &got);
    if (rc != 0 || got != want)
        fail_msg("duration \"%s\": rc %d, %llu ns; want 0, %llu ns", in, rc,
                 (unsigned long long)got, (unsigned long long)want);
}

static void expect_dur_garbage(const char *in)
{
    uint64_t got = SENTINEL;
    int rc = sc_parse_reset_duration(in, &got);
    if (rc != -1 || got != SENTINEL)
        fail_msg("duration \"%s\": rc %d, out %llu; want -1, untouched", in, rc,
                 (unsigned long long)got);
}

/* ------------------------------------------------ Retry-After: seconds */

static void test_retry_after_delta_seconds(void **state)
{
    (void)state;
    static const struct ok_row rows[] = {
        { "0", 0 },
        { "1", 1 * SEC },
        { "120", 120 * SEC },
        { "007", 7 * SEC },
        { "3600", 3600 * SEC },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        expect_retry(rows[i].in, REF, rows[i].want);
}

static void test_retry_after_seconds_ignore_now(void **state)
{
    (void)state;
    expect_retry("30", 0, 30 * SEC);
    expect_retry("30", INT64_MIN, 30 * SEC);
    expect_retry("30", INT64_MAX, 30 * SEC);
}

static void test_retry_after_surrounding_whitespace(void **state)
{
    (void)state;
    expect_retry(" 120", REF, 120 * SEC);
    expect_retry("120 ", REF, 120 * SEC);
    expect_retry("\t5\r\n", REF, 5 * SEC);
    expect_retry("  Wed, 21 Oct 2015 07:28:00 GMT\r\n", REF - 10, 10 * SEC);
}

static void test_retry_after_one_day_is_the_limit(void **state)
{
    (void)state;
    expect_retry("86400", REF, 86400 * SEC);
    expect_retry_garbage("86401", REF);          /* rejected, not clamped */
    expect_retry_garbage("1000000", REF);
    expect_retry_garbage("18446744073709551616", REF);
    expect_retry_garbage("99999999999999999999999999999999999999", REF);
}

static void test_retry_after_garbage(void **state)
{
    (void)state;
    static const char *const rows[] = {
        "", " ", "\t\r\n",
        "-1", "-0", "+5", "1.5", "1e3", "0x10", "12abc", "120s", "1 2", "12,000",
        "abc", "now", "soon", "Wed",
        "\xc2\xb5", "5\x01", "Wed,\x01 21 Oct 2015 07:28:00 GMT",
        "21 Oct 2015 07:28:00 GMT",   /* no day name: digits path, junk after */
        /* libcurl would skip the leading junk and read these as dates */
        "-Wed, 21 Oct 2015 07:28:00 GMT", ", 21 Oct 2015 07:28:00 GMT",
        "\"Wed, 21 Oct 2015 07:28:00 GMT\"",
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        expect_retry_garbage(rows[i], REF);
}

static void test_retry_after_null_arguments(void **state)
{
    (void)state;
    uint64_t out = SENTINEL;
    assert_int_equal(sc_parse_retry_after(NULL, REF, &out), -1);
    assert_int_equal(out, SENTINEL);
    assert_int_equal(sc_parse_retry_after("5", REF, NULL), -1);
}

/* -------------------------------------------------- Retry-After: dates */

static void test_retry_after_imf_fixdate(void **state)
{
    (void)state;
    expect_retry("Wed, 21 Oct 2015 07:28:00 GMT", REF - 120, 120 * SEC);
    expect_retry("Wed, 21 Oct 2015 07:28:00 GMT", REF - 1, 1 * SEC);
}

static void test_retry_after_rfc850_date(void **state)
{
    (void)state;
    expect_retry("Wednesday, 21-Oct-15 07:28:00 GMT", REF - 90, 90 * SEC);
    /* RFC 9110's own example: Sunday, 06-Nov-94 08:49:37 GMT */
    expect_retry("Sunday, 06-Nov-94 08:49:37 GMT", 784111777 - 3, 3 * SEC);
}

static void test_retry_after_asctime_date(void **state)
{
    (void)state;
    expect_retry("Wed Oct 21 07:28:00 2015", REF - 45, 45 * SEC);
    expect_retry("Sun Nov  6 08:49:37 1994", 784111777 - 7, 7 * SEC);
}

static void test_retry_after_past_date_is_zero(void **state)
{
    (void)state;
    expect_retry("Wed, 21 Oct 2015 07:28:00 GMT", REF, 0);            /* exactly now */
    expect_retry("Wed, 21 Oct 2015 07:28:00 GMT", REF + 1, 0);
    expect_retry("Wed, 21 Oct 2015 07:28:00 GMT", REF + 86400 * 365, 0);
    expect_retry("Thu, 01 Jan 1970 00:00:00 GMT", REF, 0);
    expect_retry("Wed, 21 Oct 2015 07:28:00 GMT", INT64_MAX, 0);
}

static void test_retry_after_date_over_one_day_rejected(void **state)
{
    (void)state;
    expect_retry("Wed, 21 Oct 2015 07:28:00 GMT", REF - 86400, 86400 * SEC);
    expect_retry_garbage("Wed, 21 Oct 2015 07:28:00 GMT", REF - 86401);
    expect_retry_garbage("Fri, 31 Dec 9999 23:59:59 GMT", REF);
    /* a difference that does not fit in int64 must not overflow */
    expect_retry_garbage("Wed, 21 Oct 2015 07:28:00 GMT", INT64_MIN);
}

static void test_retry_after_unreadable_dates(void **state)
{
    (void)state;
    static const char *const rows[] = {
        "Wed, 32 Oct 2015 07:28:00 GMT",       /* no 32nd */
        "Wed, 21 Foo 2015 07:28:00 GMT",       /* no such month */
        "Wed, 21 Oct 2015 25:28:00 GMT",       /* no 25th hour */
        "Oct 2015",
        "GMT",
        "hello world",
        /* longer than any HTTP-date: refused before libcurl sees it */
        "Wed,                                           21 Oct 2015 07:28:00 GMT",
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        expect_retry_garbage(rows[i], REF - 10);
}

/* ---------------------------------------------------------- durations */

static void test_duration_valid_forms(void **state)
{
    (void)state;
    static const struct ok_row rows[] = {
        { "0s", 0 },
        { "0", 0 },
        { "1s", 1 * SEC },
        { "1.5s", 1500 * MS },
        { "20ms", 20 * MS },
        { "6m0s", 360 * SEC },
        { "1h2m3.5s", 3723 * SEC + 500 * MS },
        { "1m30.312s", 90 * SEC + 312 * MS },
        { "59.999s", 59 * SEC + 999 * MS },
        { "1h", 3600 * SEC },
        { "2.5ms", 2500 * US },
        { "100ns", 100 * NS },
        { "7us", 7 * US },
        { "7\xc2\xb5s", 7 * US },       /* U+00B5 micro sign, as Go prints it */
        { "7\xce\xbcs", 7 * US },       /* U+03BC greek mu */
        { "1.25\xc2\xb5s", 1250 * NS },
        { ".5s", 500 * MS },
        { "1.s", 1 * SEC },
        { "0.5h", 1800 * SEC },
        { "1s1h", 3601 * SEC },         /* any order, as Go */
        { "1s1s", 2 * SEC },
        { "00s", 0 },
        { "  6m0s\r\n", 360 * SEC },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        expect_dur(rows[i].in, rows[i].want);
}

static void test_duration_fraction_truncates_below_ns(void **state)
{
    (void)state;
    expect_dur("0.000000001s", 1);
    expect_dur("0.0000000019s", 1);
    expect_dur("0.9ns", 0);
    expect_dur("1.000000000000000000000000001s", 1 * SEC);   /* > 18 digits */
    expect_dur("0.333333333333333333333333333h", 1200 * SEC - 1);
}

static void test_duration_garbage(void **state)
{
    (void)state;
    static const char *const rows[] = {
        "", " ", "\r\n",
        "s", "ms", "h", ".s", ".", "..5s",      /* missing number */
        "1", "10", "00", "1.5",                  /* missing unit */
        "1x", "1S", "1sec", "1H", "1d", "1\xc2\xb5", "1\xce\xbc", "1mss",
        "1hh", "1u",                             /* unknown unit */
        "-1s", "+1s", "-0s",                     /* signs */
        "1 s", "1s 2m", "1s\t2m",                /* inner whitespace */
        "1.5.5s", "1e3s", "1,5s", "0x1s", "1s.", "1s-",
        "\xff", "1s\x01",
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        expect_dur_garbage(rows[i]);
}

static void test_duration_overflow(void **state)
{
    (void)state;
    /* UINT64_MAX ns = 18446744073709551615 = 5124095h 34m 33.709551615s */
    expect_dur("18446744073709551615ns", UINT64_MAX);
    expect_dur("5124095h34m33.709551615s", UINT64_MAX);
    expect_dur_garbage("18446744073709551616ns");
    expect_dur_garbage("5124095h34m33.709551616s");
    expect_dur_garbage("5124096h");
    expect_dur_garbage("307445735m");
    expect_dur_garbage("99999999999999999999s");
    expect_dur_garbage("999999999999999999999999999999999999999999ns");
    expect_dur_garbage("18446744073709551615ns1ns");
}

static void test_duration_null_arguments(void **state)
{
    (void)state;
    uint64_t out = SENTINEL;
    assert_int_equal(sc_parse_reset_duration(NULL, &out), -1);
    assert_int_equal(out, SENTINEL);
    assert_int_equal(sc_parse_reset_duration("1s", NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after_delta_seconds),
        cmocka_unit_test(test_retry_after_seconds_ignore_now),
        cmocka_unit_test(test_retry_after_surrounding_whitespace),
        cmocka_unit_test(test_retry_after_one_day_is_the_limit),
        cmocka_unit_test(test_retry_after_garbage),
        cmocka_unit_test(test_retry_after_null_arguments),
        cmocka_unit_test(test_retry_after_imf_fixdate),
        cmocka_unit_test(test_retry_after_rfc850_date),
        cmocka_unit_test(test_retry_after_asctime_date),
        cmocka_unit_test(test_retry_after_past_date_is_zero),
        cmocka_unit_test(test_retry_after_date_over_one_day_rejected),
        cmocka_unit_test(test_retry_after_unreadable_dates),
        cmocka_unit_test(test_duration_valid_forms),
        cmocka_unit_test(test_duration_fraction_truncates_below_ns),
        cmocka_unit_test(test_duration_garbage),
        cmocka_unit_test(test_duration_overflow),
        cmocka_unit_test(test_duration_null_arguments),
    };
    return cmocka_run_group_tests_name("ratelimit_headers", tests, NULL, NULL);
}
