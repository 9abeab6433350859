/*
 * test_router.c — unit tests of the weighted route choice (sidecar/policy/router.c).
 *
 * Distribution tests draw 1,000,000 picks from splitmix64 with a fixed seed
 * and require every route's count within 5 standard deviations of
 * n * weight / sum (binomial: sd = sqrt(n p (1 - p))). The seed is fixed, so
 * the run is deterministic; the bound is tight enough that a pick off by
 * one route for even 0.2% of draws (or a modulo/first-route bias of that
 * size) fails. Exactness is checked separately by driving rand64 to the
 * edges of each route's interval.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>

#include "router.h"
#include "test_rand.h"

#define PICKS 1000000u

/* Draw PICKS picks and check each route's share against its weight. */
static void check_distribution(const uint32_t *w, const bool *el, unsigned n, uint64_t seed)
{
    unsigned long count[16] = { 0 };
    assert_true(n <= 16);
    uint64_t s = seed;
    for (unsigned k = 0; k < PICKS; k++) {
        int i = rsp_router_pick(w, el, n, splitmix64(&s));
        assert_true(i >= 0 && (unsigned)i < n);
        count[i]++;
    }
    double sum = 0;
    for (unsigned i = 0; i < n; i++)
        if (!el || el[i])
            sum += w[i];
    for (unsigned i = 0; i < n; i++) {
        double p = (!el || el[i]) ? w[i] / sum : 0.0;
        double expect = PICKS * p;
        double var = PICKS * p * (1.0 - p);
        double dev = (double)count[i] - expect;
        /* |dev| > 5 sd, squared so that no libm is needed */
        if (p == 0.0) {
            assert_int_equal(count[i], 0);
        } else if (dev * dev > 25.0 * var) {
            fail_msg("route %u: %lu picks, expected %.0f (variance %.0f)", i, count[i],
                     expect, var);
        }
    }
}

/* ------------------------------------------------------- distribution */

static void test_distribution_80_20(void **state)
{
    (void)state;
    const uint32_t w[] = { 80, 20 };
    check_distribution(w, NULL, 2, 1);
}

static void test_distribution_1_1_98(void **state)
{
    (void)state;
    const uint32_t w[] = { 1, 1, 98 };
    check_distribution(w, NULL, 3, 2);
}

static void test_distribution_skips_ineligible(void **state)
{
    (void)state;
    /* 80/20 between routes 1 and 3; routes 0 and 2 are out */
    const uint32_t w[] = { 1000, 80, 1000, 20 };
    const bool el[] = { false, true, false, true };
    check_distribution(w, el, 4, 3);
}

static void test_distribution_large_weights(void **state)
{
    (void)state;
    /* sums above 2^32 stay proportional: 3:1 of huge weights */
    const uint32_t w[] = { UINT32_MAX, UINT32_MAX / 3 };
    check_distribution(w, NULL, 2, 4);
}

/* --------------------------------------------------------- eligibility */

static void test_ineligible_never_picked(void **state)
{
    (void)state;
    const uint32_t w[] = { 50, 50, 50, 50, 50 };
    const bool el[] = { false, true, false, true, false };
    uint64_t s = 5;
    for (int k = 0; k < 100000; k++) {
        int i = rsp_router_pick(w, el, 5, splitmix64(&s));
        assert_true(i == 1 || i == 3);
    }
    assert_int_equal(rsp_router_pick(w, el, 5, 0), 1);
    assert_int_equal(rsp_router_pick(w, el, 5, UINT64_MAX), 3);
}

static void test_zero_weight_never_picked(void **state)
{
    (void)state;
    const uint32_t w[] = { 0, 7, 0, 0, 3, 0 };
    uint64_t s = 6;
    for (int k = 0; k < 100000; k++) {
        int i = rsp_router_pick(w, NULL, 6, splitmix64(&s));
        assert_true(i == 1 || i == 4);
    }
    assert_int_equal(rsp_router_pick(w, NULL, 6, 0), 1);
    assert_int_equal(rsp_router_pick(w, NULL, 6, UINT64_MAX), 4);
}

static void test_single_eligible_always_picked(void **state)
{
    (void)state;
    const uint32_t w[] = { 9, 1, 9 };
    const bool el[] = { false, true, false };
    uint64_t s = 7;
    for (int k = 0; k < 10000; k++)
        assert_int_equal(rsp_router_pick(w, el, 3, splitmix64(&s)), 1);
}

static void test_null_eligible_means_all(void **state)
{
    (void)state;
    const uint32_t w[] = { 1, 1 };
    const bool all[] = { true, true };
    uint64_t s = 8;
    for (int k = 0; k < 10000; k++) {
        uint64_t r = splitmix64(&s);
        assert_int_equal(rsp_router_pick(w, NULL, 2, r), rsp_router_pick(w, all, 2, r));
    }
}

/* ---------------------------------------------------------------- none */

static void test_none_eligible_returns_minus_1(void **state)
{
    (void)state;
    const uint32_t w[] = { 5, 5, 5 };
    const bool none[] = { false, false, false };
    assert_int_equal(rsp_router_pick(w, none, 3, 0), -1);
    assert_int_equal(rsp_router_pick(w, none, 3, UINT64_MAX), -1);
}

static void test_all_zero_weights_returns_minus_1(void **state)
{
    (void)state;
    const uint32_t w[] = { 0, 0, 0 };
    assert_int_equal(rsp_router_pick(w, NULL, 3, 12345), -1);
    /* eligible but weightless, next to weighty but ineligible */
    const uint32_t w2[] = { 0, 10 };
    const bool el[] = { true, false };
    assert_int_equal(rsp_router_pick(w2, el, 2, 12345), -1);
}

static void test_no_routes_returns_minus_1(void **state)
{
    (void)state;
    const uint32_t w[] = { 1 };
    assert_int_equal(rsp_router_pick(w, NULL, 0, 0), -1);
    assert_int_equal(rsp_router_pick(NULL, NULL, 0, 0), -1);
    assert_int_equal(rsp_router_pick(NULL, NULL, 3, 0), -1);
}

static void test_n_beyond_int_returns_minus_1(void **state)
{
    (void)state;
    /* must refuse before reading: ASan would catch a read past w */
    const uint32_t w[] = { 1 };
    assert_int_equal(rsp_router_pick(w, NULL, (unsigned)INT_MAX + 1u, 0), -1);
    assert_int_equal(rsp_router_pick(w, NULL, UINT_MAX, 0), -1);
}

/* ----------------------------------------------------------- exactness */

static void test_extreme_rand_values_in_range(void **state)
{
    (void)state;
    const uint32_t w[] = { 80, 20 };
    assert_int_equal(rsp_router_pick(w, NULL, 2, 0), 0);
    assert_int_equal(rsp_router_pick(w, NULL, 2, UINT64_MAX), 1);
    const uint32_t w3[] = { 1, 1, 98 };
    assert_int_equal(rsp_router_pick(w3, NULL, 3, 0), 0);
    assert_int_equal(rsp_router_pick(w3, NULL, 3, UINT64_MAX), 2);
    const uint32_t big[] = { UINT32_MAX, UINT32_MAX, UINT32_MAX };
    assert_int_equal(rsp_router_pick(big, NULL, 3, 0), 0);
    assert_int_equal(rsp_router_pick(big, NULL, 3, UINT64_MAX), 2);
    const uint32_t one[] = { 1 };
    assert_int_equal(rsp_router_pick(one, NULL, 1, 0), 0);
    assert_int_equal(rsp_router_pick(one, NULL, 1, UINT64_MAX), 0);
}

static void test_interval_edges_are_exact(void **state)
{
    (void)state;
    /* sum 4 = 2^2: route 0 owns [0, 2^62), route 1 owns [2^62, 2^64) */
    const uint32_t w[] = { 1, 3 };
    const uint64_t q = 1ull << 62;
    assert_int_equal(rsp_router_pick(w, NULL, 2, q - 1), 0);
    assert_int_equal(rsp_router_pick(w, NULL, 2, q), 1);
    /* weights 1,1,2: [0,2^62) → 0, [2^62, 2^63) → 1, [2^63, 2^64) → 2 */
    const uint32_t w3[] = { 1, 1, 2 };
    assert_int_equal(rsp_router_pick(w3, NULL, 3, q - 1), 0);
    assert_int_equal(rsp_router_pick(w3, NULL, 3, q), 1);
    assert_int_equal(rsp_router_pick(w3, NULL, 3, 2 * q - 1), 1);
    assert_int_equal(rsp_router_pick(w3, NULL, 3, 2 * q), 2);
}

static void test_pick_is_monotonic_in_rand(void **state)
{
    (void)state;
    /* sweeping rand64 upward visits eligible routes in index order */
    const uint32_t w[] = { 3, 0, 5, 2, 7 };
    const bool el[] = { true, true, true, false, true };
    int last = -1;
    for (uint64_t k = 0; k <= 1000; k++) {
        uint64_t r = k == 1000 ? UINT64_MAX : k * (UINT64_MAX / 1000);
        int i = rsp_router_pick(w, el, 5, r);
        assert_true(i >= last);
        assert_true(i == 0 || i == 2 || i == 4);
        last = i;
    }
    assert_int_equal(last, 4);
}

/* Panic: which routes kept out by their breakers are let in anyway. */
static void test_let_in_keeps_out_at_most_the_share_and_lets_in_the_least_bad(void **state)
{
    (void)state;
    bool out[4], in[4];
    double bad[4] = { 0.6, 0.3, 0.9, 0.3 };
    uint32_t w[4] = { 80, 10, 5, 20 };

    /* two routes, one out: within max_ejected (half of two is one) */
    memcpy(out, (bool[]){ true, false, false, false }, sizeof out);
    assert_int_equal(rsp_router_let_in(out, bad, w, 2, 2, 0.5, in), 0);
    assert_false(in[0]);
    /* both out: the less bad one is let in */
    memcpy(out, (bool[]){ true, true, false, false }, sizeof out);
    assert_int_equal(rsp_router_let_in(out, bad, w, 2, 2, 0.5, in), 1);
    assert_true(!in[0] && in[1]);
    /* four, three out, two may stay out: the least bad goes in, equal
     * badness goes to the heavier weight */
    memcpy(out, (bool[]){ true, true, true, true }, sizeof out);
    assert_int_equal(rsp_router_let_in(out, bad, w, 4, 4, 0.5, in), 2);
    assert_true(in[1] && in[3] && !in[0] && !in[2]);
    memcpy(out, (bool[]){ false, true, true, true }, sizeof out);
    assert_int_equal(rsp_router_let_in(out, bad, w, 4, 4, 0.5, in), 1);
    assert_true(in[3] && !in[1]);
    /* one route: out alone is out entirely, so it is let in */
    memcpy(out, (bool[]){ true, false, false, false }, sizeof out);
    assert_int_equal(rsp_router_let_in(out, bad, w, 1, 1, 0.5, in), 1);
    assert_true(in[0]);
    /* max_ejected 0 still lets one stay out (of several) */
    memcpy(out, (bool[]){ true, false, false, false }, sizeof out);
    assert_int_equal(rsp_router_let_in(out, bad, w, 4, 4, 0.0, in), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distribution_80_20),
        cmocka_unit_test(test_distribution_1_1_98),
        cmocka_unit_test(test_distribution_skips_ineligible),
        cmocka_unit_test(test_distribution_large_weights),
        cmocka_unit_test(test_ineligible_never_picked),
        cmocka_unit_test(test_zero_weight_never_picked),
        cmocka_unit_test(test_single_eligible_always_picked),
        cmocka_unit_test(test_null_eligible_means_all),
        cmocka_unit_test(test_none_eligible_returns_minus_1),
        cmocka_unit_test(test_all_zero_weights_returns_minus_1),
        cmocka_unit_test(test_no_routes_returns_minus_1),
        cmocka_unit_test(test_n_beyond_int_returns_minus_1),
        cmocka_unit_test(test_extreme_rand_values_in_range),
        cmocka_unit_test(test_interval_edges_are_exact),
        cmocka_unit_test(test_pick_is_monotonic_in_rand),
        cmocka_unit_test(test_let_in_keeps_out_at_most_the_share_and_lets_in_the_least_bad),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
