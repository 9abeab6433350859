/*
 * test_backoff.c — unit tests of exponential backoff with full jitter
 * (sidecar/policy/backoff.c).
 *
 * Randomness is an argument, so the ends of the range are tested with the
 * extreme inputs (0 and UINT64_MAX) and the distribution with a seeded
 * splitmix64 stream: deterministic, and good enough that the mean of 2e5
 * draws lands within a fraction of a percent of the true mean.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>

#include "backoff.h"
#include "ringside.h"
#include "test_rand.h"

#define MS 1000000ull
#define S  1000000000ull

/* ---------------------------------------------------------------- range */

static void test_defaults(void **state)
{
    (void)state;
    rsp_backoff_cfg c = RSP_BACKOFF_CFG_DEFAULT;
    assert_int_equal(c.max_attempts, 3);
    assert_int_equal(c.initial_ns, 1 * S);
    assert_true(c.factor == 2.0);
    assert_int_equal(c.cap_ns, 30 * S);
    assert_int_equal(rsp_backoff_cfg_check(&c), 0);
}

static void test_rand_zero_gives_zero(void **state)
{
    (void)state;
    rsp_backoff_cfg c = RSP_BACKOFF_CFG_DEFAULT;
    for (unsigned r = 0; r < 100; r++)
        assert_int_equal(rsp_backoff_delay_ns(&c, r, 0), 0);
}

static void test_rand_max_gives_ceiling(void **state)
{
    (void)state;
    rsp_backoff_cfg c = RSP_BACKOFF_CFG_DEFAULT;
    const uint64_t want[] = { 1 * S, 2 * S, 4 * S, 8 * S, 16 * S, 30 * S, 30 * S };
    for (unsigned r = 1; r <= 7; r++) {
        assert_int_equal(rsp_backoff_ceiling_ns(&c, r), want[r - 1]);
        assert_int_equal(rsp_backoff_delay_ns(&c, r, UINT64_MAX), want[r - 1]);
    }
}

static void test_retry_zero_is_first_retry(void **state)
{
    (void)state;
    rsp_backoff_cfg c = RSP_BACKOFF_CFG_DEFAULT;
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 0), 1 * S);
    assert_int_equal(rsp_backoff_delay_ns(&c, 0, UINT64_MAX), 1 * S);
}

static void test_half_rand_gives_half_ceiling(void **state)
{
    (void)state;
    rsp_backoff_cfg c = RSP_BACKOFF_CFG_DEFAULT;
    uint64_t d = rsp_backoff_delay_ns(&c, 3, 1ull << 63);
    assert_true(d >= 2 * S - 1 && d <= 2 * S + 1);
}

static void test_delay_monotonic_in_rand(void **state)
{
    (void)state;
    rsp_backoff_cfg c = { .max_attempts = 5, .initial_ns = 7, .factor = 1.5, .cap_ns = 1000 };
    uint64_t prev = 0;
    for (uint64_t k = 0; k <= 1000; k++) {
        uint64_t r = k * (UINT64_MAX / 1000);
        uint64_t d = rsp_backoff_delay_ns(&c, 4, r);
        assert_true(d >= prev);
        assert_true(d <= rsp_backoff_ceiling_ns(&c, 4));
        prev = d;
    }
    assert_int_equal(prev, rsp_backoff_ceiling_ns(&c, 4));
}

/* --------------------------------------------------------- distribution */

static void check_mean(const rsp_backoff_cfg *c, unsigned retry, uint64_t seed)
{
    const int n = 200000;
    uint64_t ceil_ns = rsp_backoff_ceiling_ns(c, retry);
    uint64_t lo = UINT64_MAX, hi = 0;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        uint64_t d = rsp_backoff_delay_ns(c, retry, splitmix64(&seed));
        assert_true(d <= ceil_ns);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        sum += (double)d;
    }
    double mean = sum / n, want = (double)ceil_ns / 2;
    /* standard error is ceil/sqrt(12 n) ~ 0.00065 ceil: 0.5% is > 7 sigma */
    if (!(fabs(mean - want) <= 0.005 * (double)ceil_ns))
        fail_msg("retry %u: mean %.0f ns, want %.0f", retry, mean, want);
    /* the draws fill the whole range */
    assert_true((double)lo < 0.001 * (double)ceil_ns);
    assert_true((double)hi > 0.999 * (double)ceil_ns);
}

static void test_mean_is_half_the_ceiling(void **state)
{
    (void)state;
    rsp_backoff_cfg c = RSP_BACKOFF_CFG_DEFAULT;
    check_mean(&c, 1, 1);
    check_mean(&c, 3, 2);
    check_mean(&c, 12, 3);              /* capped: mean 15 s */
}

static void test_uniform_over_deciles(void **state)
{
    (void)state;
    rsp_backoff_cfg c = RSP_BACKOFF_CFG_DEFAULT;
    unsigned bins[10] = { 0 };
    uint64_t seed = 99;
    const unsigned n = 100000;
    for (unsigned i = 0; i < n; i++) {
        uint64_t d = rsp_backoff_delay_ns(&c, 2, splitmix64(&seed));
        unsigned b = (unsigned)(d / (2 * S / 10));
        bins[b > 9 ? 9 : b]++;
    }
    for (int b = 0; b < 10; b++)         /* 10000 expected, sigma ~95 */
        assert_true(bins[b] > 9500 && bins[b] < 10500);
}

/* ------------------------------------------------------------- overflow */

static void test_cap_holds_for_large_retry(void **state)
{
    (void)state;
    rsp_backoff_cfg c = RSP_BACKOFF_CFG_DEFAULT;
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 1000), 30 * S);
    assert_int_equal(rsp_backoff_delay_ns(&c, 1000, UINT64_MAX), 30 * S);
    assert_int_equal(rsp_backoff_ceiling_ns(&c, UINT_MAX), 30 * S);
    assert_int_equal(rsp_backoff_delay_ns(&c, UINT_MAX, UINT64_MAX), 30 * S);
}

static void test_no_overflow_with_huge_cap(void **state)
{
    (void)state;
    rsp_backoff_cfg c = { .max_attempts = 3, .initial_ns = 1, .factor = 2.0,
                         .cap_ns = UINT64_MAX };
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 64), 1ull << 63);
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 65), UINT64_MAX);
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 1000), UINT64_MAX);
    assert_int_equal(rsp_backoff_delay_ns(&c, 1000, UINT64_MAX), UINT64_MAX);
    assert_int_equal(rsp_backoff_delay_ns(&c, 1000, 12345), 12345);
    assert_int_equal(rsp_backoff_delay_ns(&c, 64, UINT64_MAX), 1ull << 63);
}

static void test_huge_factor_hits_cap(void **state)
{
    (void)state;
    rsp_backoff_cfg c = { .max_attempts = 3, .initial_ns = 10, .factor = 1e300,
                         .cap_ns = 5000 };
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 1), 10);
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 2), 5000);
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 3), 5000);   /* factor^2 = inf */
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 1000), 5000);
}

static void test_factor_one_is_constant(void **state)
{
    (void)state;
    rsp_backoff_cfg c = { .max_attempts = 3, .initial_ns = 250 * MS, .factor = 1.0,
                         .cap_ns = 30 * S };
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 1), 250 * MS);
    assert_int_equal(rsp_backoff_ceiling_ns(&c, UINT_MAX), 250 * MS);
}

static void test_initial_above_cap_gives_cap(void **state)
{
    (void)state;
    rsp_backoff_cfg c = { .max_attempts = 3, .initial_ns = 60 * S, .factor = 2.0,
                         .cap_ns = 30 * S };
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 1), 30 * S);
    c.initial_ns = 0;
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 50), 0);
    assert_int_equal(rsp_backoff_delay_ns(&c, 50, UINT64_MAX), 0);
}

static void test_non_integer_factor(void **state)
{
    (void)state;
    rsp_backoff_cfg c = { .max_attempts = 3, .initial_ns = 1000, .factor = 1.5,
                         .cap_ns = 1000000 };
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 2), 1500);
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 3), 2250);
    assert_int_equal(rsp_backoff_ceiling_ns(&c, 5), 5062);   /* 5062.5, floored */
}

/* -------------------------------------------------------------- allowed */

static void test_allowed_counts_attempts(void **state)
{
    (void)state;
    rsp_backoff_cfg c = RSP_BACKOFF_CFG_DEFAULT;
    assert_true(rsp_backoff_allowed(&c, 0, 0, 0, UINT64_MAX));
    assert_true(rsp_backoff_allowed(&c, 1, 0, 1 * S, UINT64_MAX));
    assert_true(rsp_backoff_allowed(&c, 2, 0, 2 * S, UINT64_MAX));
    assert_false(rsp_backoff_allowed(&c, 3, 0, 0, UINT64_MAX));
    assert_false(rsp_backoff_allowed(&c, UINT_MAX, 0, 0, UINT64_MAX));
    c.max_attempts = 0;
    assert_false(rsp_backoff_allowed(&c, 0, 0, 0, UINT64_MAX));
}

static void test_allowed_refuses_past_deadline(void **state)
{
    (void)state;
    rsp_backoff_cfg c = RSP_BACKOFF_CFG_DEFAULT;
    assert_true(rsp_backoff_allowed(&c, 1, 10 * S, 2 * S, 12 * S));      /* lands on it */
    assert_false(rsp_backoff_allowed(&c, 1, 10 * S, 2 * S, 12 * S - 1));
    assert_false(rsp_backoff_allowed(&c, 1, 13 * S, 0, 12 * S));         /* already past */
    assert_true(rsp_backoff_allowed(&c, 1, 12 * S, 0, 12 * S));
}

static void test_allowed_no_overflow(void **state)
{
    (void)state;
    rsp_backoff_cfg c = RSP_BACKOFF_CFG_DEFAULT;
    /* now + delay wraps around 2^64: must still be refused */
    assert_false(rsp_backoff_allowed(&c, 1, UINT64_MAX - 5, 10, UINT64_MAX - 1));
    assert_false(rsp_backoff_allowed(&c, 1, 100, UINT64_MAX, UINT64_MAX - 1));
    assert_true(rsp_backoff_allowed(&c, 1, 100, UINT64_MAX - 100, UINT64_MAX));
    assert_false(rsp_backoff_allowed(&c, 1, 101, UINT64_MAX - 100, UINT64_MAX));
}

static void test_cfg_check(void **state)
{
    (void)state;
    rsp_backoff_cfg c = RSP_BACKOFF_CFG_DEFAULT;
    c.factor = 0.5;
    assert_int_equal(rsp_backoff_cfg_check(&c), RS_EINVAL);
    c.factor = NAN;
    assert_int_equal(rsp_backoff_cfg_check(&c), RS_EINVAL);
    c.factor = INFINITY;
    assert_int_equal(rsp_backoff_cfg_check(&c), RS_EINVAL);
    c.factor = 1.0;
    assert_int_equal(rsp_backoff_cfg_check(&c), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_rand_zero_gives_zero),
        cmocka_unit_test(test_rand_max_gives_ceiling),
        cmocka_unit_test(test_retry_zero_is_first_retry),
        cmocka_unit_test(test_half_rand_gives_half_ceiling),
        cmocka_unit_test(test_delay_monotonic_in_rand),
        cmocka_unit_test(test_mean_is_half_the_ceiling),
        cmocka_unit_test(test_uniform_over_deciles),
        cmocka_unit_test(test_cap_holds_for_large_retry),
        cmocka_unit_test(test_no_overflow_with_huge_cap),
        cmocka_unit_test(test_huge_factor_hits_cap),
        cmocka_unit_test(test_factor_one_is_constant),
        cmocka_unit_test(test_initial_above_cap_gives_cap),
        cmocka_unit_test(test_non_integer_factor),
        cmocka_unit_test(test_allowed_counts_attempts),
        cmocka_unit_test(test_allowed_refuses_past_deadline),
        cmocka_unit_test(test_allowed_no_overflow),
        cmocka_unit_test(test_cfg_check),
    };
    return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
