/*
 * test_bucket.c — unit tests of the token bucket (sidecar/policy/bucket.c).
 *
 * Time is simulated: every test passes its own `now` in nanoseconds, so
 * "ten seconds" of traffic runs in microseconds. Amounts that the refill
 * computes in floating point are compared with a tolerance far below one
 * token; counts of admitted requests are compared exactly or within the
 * accuracy the interface promises.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "bucket.h"
#include "ringside.h"

#define MS 1000000ull
#define S  1000000000ull

static void assert_near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.12g, want %.12g (tolerance %g)", got, want, tol);
}

/* ----------------------------------------------------------------- basics */

static void test_init_starts_full(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 10.0, 5.0, 7 * S);
    assert_near(rsp_bucket_level(&b, 7 * S), 5.0, 0.0);
    for (int i = 0; i < 5; i++)
        assert_true(rsp_bucket_try_take(&b, 1.0, 7 * S));
    assert_false(rsp_bucket_try_take(&b, 1.0, 7 * S));
}

static void test_try_take_refuses_without_taking(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 1.0, 10.0, 0);
    assert_true(rsp_bucket_try_take(&b, 7.0, 0));
    assert_false(rsp_bucket_try_take(&b, 4.0, 0));
    assert_near(rsp_bucket_level(&b, 0), 3.0, 0.0);   /* the refusal took nothing */
    assert_true(rsp_bucket_try_take(&b, 3.0, 0));
    assert_near(rsp_bucket_level(&b, 0), 0.0, 0.0);
}

static void test_try_take_zero_refused_only_in_debt(void **state)
{
    (void)state;
    /* n = 0 follows the same rule as any n: level >= n. A free request
     * passes an empty bucket but not one in debt. */
    rsp_bucket b;
    rsp_bucket_init(&b, 1.0, 1.0, 0);
    rsp_bucket_charge(&b, 1.0, 0);
    assert_true(rsp_bucket_try_take(&b, 0.0, 0));
    rsp_bucket_charge(&b, 4.0, 0);
    assert_false(rsp_bucket_try_take(&b, 0.0, 0));
    assert_near(rsp_bucket_level(&b, 0), -4.0, 0.0);
    assert_int_equal(rsp_bucket_wait_ns(&b, 0.0, 0), 4 * S);
}

static void test_try_take_rejects_negative_and_nan(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 1.0, 3.0, 0);
    assert_false(rsp_bucket_try_take(&b, -1.0, 0));
    assert_false(rsp_bucket_try_take(&b, NAN, 0));
    assert_near(rsp_bucket_level(&b, 0), 3.0, 0.0);
}

static void test_refill_at_rate(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 100.0, 50.0, 0);
    assert_true(rsp_bucket_try_take(&b, 50.0, 0));
    assert_near(rsp_bucket_level(&b, 100 * MS), 10.0, 1e-9);
    assert_near(rsp_bucket_level(&b, 250 * MS), 25.0, 1e-9);
    assert_false(rsp_bucket_try_take(&b, 26.0, 250 * MS));
    assert_true(rsp_bucket_try_take(&b, 25.0, 250 * MS));
}

static void test_refill_capped_at_burst(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 100.0, 50.0, 0);
    assert_true(rsp_bucket_try_take(&b, 50.0, 0));
    assert_near(rsp_bucket_level(&b, 3600 * S), 50.0, 0.0);
    assert_false(rsp_bucket_try_take(&b, 51.0, 3600 * S));
}

static void test_huge_elapsed_time_is_safe(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 1e12, 1e9, 0);
    rsp_bucket_charge(&b, 2e9, 0);
    assert_near(rsp_bucket_level(&b, UINT64_MAX), 1e9, 0.0);
    assert_int_equal(rsp_bucket_wait_ns(&b, 1e9, UINT64_MAX), 0);
}

/* ---------------------------------------------------------- charge/refund */

static void test_charge_creates_debt_repaid_by_refill(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 10.0, 5.0, 0);
    rsp_bucket_charge(&b, 12.0, 0);
    assert_near(rsp_bucket_level(&b, 0), -7.0, 0.0);
    assert_false(rsp_bucket_try_take(&b, 1.0, 0));
    /* debt of 7 plus 1 token to take: 0.8 s at 10/s */
    assert_int_equal(rsp_bucket_wait_ns(&b, 1.0, 0), 800 * MS);
    assert_false(rsp_bucket_try_take(&b, 1.0, 800 * MS - 1));
    assert_true(rsp_bucket_try_take(&b, 1.0, 800 * MS));
}

static void test_charge_ignores_negative_nan_and_infinite(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 10.0, 5.0, 0);
    rsp_bucket_charge(&b, -3.0, 0);
    rsp_bucket_charge(&b, NAN, 0);
    rsp_bucket_charge(&b, INFINITY, 0);
    assert_near(rsp_bucket_level(&b, 0), 5.0, 0.0);
}

static void test_refund_gives_back_capped_at_burst(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 10.0, 5.0, 0);
    assert_true(rsp_bucket_try_take(&b, 4.0, 0));
    rsp_bucket_refund(&b, 3.0, 0);
    assert_near(rsp_bucket_level(&b, 0), 4.0, 0.0);
    rsp_bucket_refund(&b, 100.0, 0);
    assert_near(rsp_bucket_level(&b, 0), 5.0, 0.0);
    rsp_bucket_refund(&b, -2.0, 0);
    assert_near(rsp_bucket_level(&b, 0), 5.0, 0.0);
}

static void test_refund_reduces_debt(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 10.0, 5.0, 0);
    rsp_bucket_charge(&b, 15.0, 0);        /* estimate was 15 */
    rsp_bucket_refund(&b, 9.0, 0);         /* real usage was 6 */
    assert_near(rsp_bucket_level(&b, 0), -1.0, 0.0);
}

/* ----------------------------------------------------------------- wait_ns */

static void test_wait_ns_zero_when_available(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 1.0, 2.0, 0);
    assert_int_equal(rsp_bucket_wait_ns(&b, 2.0, 0), 0);
    assert_int_equal(rsp_bucket_wait_ns(&b, 0.0, 0), 0);
}

static void test_wait_ns_exact_for_deficit(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 10.0, 5.0, 0);
    assert_true(rsp_bucket_try_take(&b, 5.0, 0));
    assert_int_equal(rsp_bucket_wait_ns(&b, 1.0, 0), 100 * MS);
    assert_int_equal(rsp_bucket_wait_ns(&b, 2.5, 0), 250 * MS);
    assert_int_equal(rsp_bucket_wait_ns(&b, 1.0, 40 * MS), 60 * MS);
}

static void test_wait_ns_is_the_first_nanosecond_that_works(void **state)
{
    (void)state;
    /* rates whose periods are not whole nanoseconds */
    const double rates[] = { 3.0, 7.0, 300.0, 7777.0, 1e6 / 7.0, 0.37 };
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        rsp_bucket b;
        rsp_bucket_init(&b, rates[k], 4.0, 1000);
        assert_true(rsp_bucket_try_take(&b, 4.0, 1000));
        uint64_t w = rsp_bucket_wait_ns(&b, 1.5, 1000);
        assert_true(w > 0);
        rsp_bucket early = b, exact = b;
        assert_false(rsp_bucket_try_take(&early, 1.5, 1000 + w - 1));
        assert_true(rsp_bucket_try_take(&exact, 1.5, 1000 + w));
    }
}

static void test_wait_ns_never_if_more_than_burst(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 1000.0, 10.0, 0);
    assert_int_equal(rsp_bucket_wait_ns(&b, 10.5, 0), UINT64_MAX);
    assert_int_equal(rsp_bucket_wait_ns(&b, NAN, 0), UINT64_MAX);
    assert_int_equal(rsp_bucket_wait_ns(&b, 10.0, 0), 0);
    assert_false(rsp_bucket_try_take(&b, 10.5, 3600 * S));
}

static void test_wait_ns_saturates_when_too_long(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 1e-9, 1.0, 0);   /* one token per ~32 years */
    rsp_bucket_charge(&b, 1e6, 0);
    assert_int_equal(rsp_bucket_wait_ns(&b, 1.0, 0), UINT64_MAX);
}

static void test_rate_accuracy_take_when_wait_says(void **state)
{
    (void)state;
    /* 1000/s, burst 1: a scheduler that sleeps exactly wait_ns and takes
     * must get 1000/s over 10 s, within 0.1% (10000 +- 10 in [0, 10 s)). */
    const double rates[] = { 1000.0, 333.0, 7777.0 };
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        rsp_bucket b;
        rsp_bucket_init(&b, rates[k], 1.0, 0);
        uint64_t t = 0, taken = 0, loops = 0;
        while (t < 10 * S) {
            uint64_t w = rsp_bucket_wait_ns(&b, 1.0, t);
            if (w == 0) {
                assert_true(rsp_bucket_try_take(&b, 1.0, t));
                taken++;
            } else {
                t += w;
            }
            loops++;
        }
        double want = rates[k] * 10.0;
        if (!(fabs((double)taken - want) <= want * 0.001))
            fail_msg("rate %g: took %llu in 10 s, want %g", rates[k],
                     (unsigned long long)taken, want);
        /* never woken early: each take costs one wait and one take */
        assert_true(loops <= 2 * taken + 1);
    }
}

/* ------------------------------------------------------------------- drift */

static void test_no_drift_over_million_tiny_steps(void **state)
{
    (void)state;
    /* 1e6 refills of 1 us each = 1 s. Compare with one refill of 1 s. */
    const double rates[] = { 1000.0, 100000.0 / 60.0, 1.0, 3e6 };
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        double burst = rates[k] * 4.0 > 1.0 ? rates[k] * 4.0 : 1.0;
        rsp_bucket a, one;
        rsp_bucket_init(&a, rates[k], burst, 0);
        rsp_bucket_init(&one, rates[k], burst, 0);
        rsp_bucket_charge(&a, burst, 0);
        rsp_bucket_charge(&one, burst, 0);
        for (uint64_t t = 1000; t <= 1000000000ull; t += 1000)
            (void)rsp_bucket_level(&a, t);
        double want = rates[k];         /* tokens in 1 s, from empty */
        assert_near(rsp_bucket_level(&one, S), want, want * 1e-12);
        assert_near(rsp_bucket_level(&a, S), want, want * 1e-6);
    }
}

static void test_no_drift_taking_in_tiny_steps(void **state)
{
    (void)state;
    /* Take 0.001 token every 1 us at 1000/s: exactly the refill. The level
     * must stay at the start level, not wander off. */
    rsp_bucket b;
    rsp_bucket_init(&b, 1000.0, 10.0, 0);
    rsp_bucket_charge(&b, 5.0, 0);
    uint64_t refused = 0;
    for (uint64_t t = 1000; t <= 1000000000ull; t += 1000)
        if (!rsp_bucket_try_take(&b, 0.001, t))
            refused++;
    assert_int_equal(refused, 0);
    assert_near(rsp_bucket_level(&b, S), 5.0, 1e-6);
}

/* --------------------------------------------------------- time backwards */

static void test_time_backwards_adds_nothing(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 10.0, 100.0, 0);
    assert_true(rsp_bucket_try_take(&b, 100.0, 0));
    assert_near(rsp_bucket_level(&b, 2 * S), 20.0, 1e-9);
    assert_near(rsp_bucket_level(&b, 1 * S), 20.0, 1e-9);   /* back 1 s */
    assert_near(rsp_bucket_level(&b, 0), 20.0, 1e-9);
    /* forward again: only time after 2 s counts, nothing is credited twice */
    assert_near(rsp_bucket_level(&b, 2 * S), 20.0, 1e-9);
    assert_near(rsp_bucket_level(&b, 3 * S), 30.0, 1e-9);
}

static void test_time_backwards_removes_nothing(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 10.0, 100.0, 5 * S);
    assert_true(rsp_bucket_try_take(&b, 40.0, 5 * S));
    assert_true(rsp_bucket_try_take(&b, 10.0, 4 * S));       /* stale now */
    assert_near(rsp_bucket_level(&b, 3 * S), 50.0, 0.0);
    assert_near(rsp_bucket_level(&b, 5 * S), 50.0, 0.0);
}

static void test_wait_ns_from_stale_now_counts_from_latest(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 10.0, 1.0, 10 * S);
    assert_true(rsp_bucket_try_take(&b, 1.0, 10 * S));
    /* asked at 9.9 s (stale): the token is there at 10.1 s, 200 ms later */
    uint64_t w = rsp_bucket_wait_ns(&b, 1.0, 9900 * MS);
    assert_int_equal(w, 200 * MS);
    rsp_bucket early = b;
    assert_false(rsp_bucket_try_take(&early, 1.0, 9900 * MS + w - 1));
    assert_true(rsp_bucket_try_take(&b, 1.0, 9900 * MS + w));
}

/* ------------------------------------------------------------ reconfigure */

static void test_reconfigure_keeps_level(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 10.0, 100.0, 0);
    assert_true(rsp_bucket_try_take(&b, 70.0, 0));
    rsp_bucket_reconfigure(&b, 20.0, 200.0, 0);
    assert_near(rsp_bucket_level(&b, 0), 30.0, 0.0);
    assert_near(b.burst, 200.0, 0.0);
}

static void test_reconfigure_caps_level_at_new_burst(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 10.0, 100.0, 0);
    rsp_bucket_reconfigure(&b, 10.0, 40.0, 0);
    assert_near(rsp_bucket_level(&b, 0), 40.0, 0.0);
    assert_false(rsp_bucket_try_take(&b, 41.0, 0));
}

static void test_reconfigure_credits_past_at_old_rate(void **state)
{
    (void)state;
    rsp_bucket b;
    rsp_bucket_init(&b, 10.0, 1000.0, 0);
    assert_true(rsp_bucket_try_take(&b, 1000.0, 0));
    rsp_bucket_reconfigure(&b, 100.0, 1000.0, 1 * S);   /* 10 tokens at old rate */
    assert_near(rsp_bucket_level(&b, 1 * S), 10.0, 1e-9);
    assert_near(rsp_bucket_level(&b, 2 * S), 110.0, 1e-9);
}

/* ------------------------------------------------------------------ check */

static void test_check_rejects_bad_parameters(void **state)
{
    (void)state;
    assert_int_equal(rsp_bucket_check(1.0, 1.0), 0);
    assert_int_equal(rsp_bucket_check(1e6 / 60.0, 1e6), 0);
    assert_int_equal(rsp_bucket_check(0.0, 1.0), RS_EINVAL);
    assert_int_equal(rsp_bucket_check(-1.0, 1.0), RS_EINVAL);
    assert_int_equal(rsp_bucket_check(NAN, 1.0), RS_EINVAL);
    assert_int_equal(rsp_bucket_check(INFINITY, 1.0), RS_EINVAL);
    assert_int_equal(rsp_bucket_check(1.0, 0.5), RS_EINVAL);
    assert_int_equal(rsp_bucket_check(1.0, NAN), RS_EINVAL);
    assert_int_equal(rsp_bucket_check(1.0, INFINITY), RS_EINVAL);
}

static void test_due_time_takes_a_late_wakeup_back_to_when_the_token_was_due(void **state)
{
    (void)state;
    uint64_t ms = 1000000u;
    assert_int_equal(rsp_bucket_due_time(100 * ms, 103 * ms), 100 * ms);   /* woke 3 ms late */
    assert_int_equal(rsp_bucket_due_time(100 * ms, 125 * ms), 125 * ms);   /* stale: over 20 ms */
    assert_int_equal(rsp_bucket_due_time(100 * ms, 100 * ms), 100 * ms);
    assert_int_equal(rsp_bucket_due_time(UINT64_MAX, 5 * ms), 5 * ms);     /* nothing was awaited */
    assert_int_equal(rsp_bucket_due_time(110 * ms, 100 * ms), 100 * ms);   /* not due yet */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_starts_full),
        cmocka_unit_test(test_try_take_refuses_without_taking),
        cmocka_unit_test(test_try_take_zero_refused_only_in_debt),
        cmocka_unit_test(test_try_take_rejects_negative_and_nan),
        cmocka_unit_test(test_refill_at_rate),
        cmocka_unit_test(test_refill_capped_at_burst),
        cmocka_unit_test(test_huge_elapsed_time_is_safe),
        cmocka_unit_test(test_charge_creates_debt_repaid_by_refill),
        cmocka_unit_test(test_charge_ignores_negative_nan_and_infinite),
        cmocka_unit_test(test_refund_gives_back_capped_at_burst),
        cmocka_unit_test(test_refund_reduces_debt),
        cmocka_unit_test(test_wait_ns_zero_when_available),
        cmocka_unit_test(test_wait_ns_exact_for_deficit),
        cmocka_unit_test(test_wait_ns_is_the_first_nanosecond_that_works),
        cmocka_unit_test(test_wait_ns_never_if_more_than_burst),
        cmocka_unit_test(test_wait_ns_saturates_when_too_long),
        cmocka_unit_test(test_rate_accuracy_take_when_wait_says),
        cmocka_unit_test(test_no_drift_over_million_tiny_steps),
        cmocka_unit_test(test_no_drift_taking_in_tiny_steps),
        cmocka_unit_test(test_time_backwards_adds_nothing),
        cmocka_unit_test(test_time_backwards_removes_nothing),
        cmocka_unit_test(test_wait_ns_from_stale_now_counts_from_latest),
        cmocka_unit_test(test_reconfigure_keeps_level),
        cmocka_unit_test(test_reconfigure_caps_level_at_new_burst),
        cmocka_unit_test(test_reconfigure_credits_past_at_old_rate),
        cmocka_unit_test(test_check_rejects_bad_parameters),
        cmocka_unit_test(test_due_time_takes_a_late_wakeup_back_to_when_the_token_was_due),
    };
    return cmocka_run_group_tests_name("bucket", tests, NULL, NULL);
}
