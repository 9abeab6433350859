/*
 * test_latency.c — the mean-latency rule (sidecar/policy/latency.c): a
 * route slow on average is avoided, probed, and taken back when fast.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "latency.h"

#define MS 1000000ull
#define S  1000000000ull

static rsp_latency fresh(void)
{
    rsp_latency_cfg c = { .limit_ns = 2 * S, .alpha = 0.3, .recover = 0.8, .probe_ns = 1 * S };
    rsp_latency l;
    rsp_latency_init(&l, &c);
    return l;
}

static void test_a_route_slow_on_average_is_avoided_and_probed(void **state)
{
    (void)state;
    rsp_latency l = fresh();
    uint64_t t = 100 * S;
    for (int i = 0; i < 10; i++)
        rsp_latency_on_sample(&l, 500 * MS);
    assert_false(l.slow);
    assert_false(rsp_latency_avoid(&l, t));
    /* one slow answer does not make a slow route */
    rsp_latency_on_sample(&l, 3 * S);
    assert_false(l.slow);
    /* a run of 3 s answers does */
    for (int i = 0; i < 10 && !l.slow; i++)
        rsp_latency_on_sample(&l, 3 * S);
    assert_true(l.slow);
    /* avoided, but a probe is due at once, then one per second */
    assert_false(rsp_latency_avoid(&l, t));
    rsp_latency_on_send(&l, t);
    assert_true(rsp_latency_avoid(&l, t + 999 * MS));
    assert_false(rsp_latency_avoid(&l, t + 1 * S));
}

static void test_it_comes_back_only_well_under_the_limit(void **state)
{
    (void)state;
    rsp_latency l = fresh();
    for (int i = 0; i < 20; i++)
        rsp_latency_on_sample(&l, 3 * S);
    assert_true(l.slow);
    /* just under the limit is not enough (hysteresis) */
    for (int i = 0; i < 50; i++)
        rsp_latency_on_sample(&l, 1900 * MS);
    assert_true(l.slow);
    for (int i = 0; i < 50 && l.slow; i++)
        rsp_latency_on_sample(&l, 200 * MS);
    assert_false(l.slow);
    assert_false(rsp_latency_avoid(&l, 0));
}

static void test_no_limit_no_rule(void **state)
{
    (void)state;
    rsp_latency_cfg c = { .limit_ns = 0, .alpha = 0.3, .recover = 0.8, .probe_ns = S };
    rsp_latency l;
    rsp_latency_init(&l, &c);
    for (int i = 0; i < 20; i++)
        rsp_latency_on_sample(&l, 100 * S);
    assert_false(l.slow);
    assert_true(l.mean_ns > 90.0 * S);   /* the mean is still kept */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_route_slow_on_average_is_avoided_and_probed),
        cmocka_unit_test(test_it_comes_back_only_well_under_the_limit),
        cmocka_unit_test(test_no_limit_no_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
