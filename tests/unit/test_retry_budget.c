/*
 * test_retry_budget.c — unit tests of the sliding-window retry budget
 * (sidecar/policy/retry_budget.c).
 *
 * grants() asks a copy of the budget how many retries it would allow at a
 * given time, so a test can look at the window without changing it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "retry_budget.h"
#include "ringside.h"

#define MS 1000000ull
#define S  1000000000ull

static rsp_retry_budget_cfg cfg(double ratio, uint32_t min_retries, uint64_t window_ns)
{
    return (rsp_retry_budget_cfg){ .ratio = ratio, .min_retries = min_retries,
                                  .window_ns = window_ns };
}

static unsigned grants(const rsp_retry_budget *rb, uint64_t now_ns)
{
    rsp_retry_budget copy = *rb;
    unsigned n = 0;
    while (n < 1000000 && rsp_retry_budget_try_retry(&copy, now_ns))
        n++;
    return n;
}

static void requests(rsp_retry_budget *rb, unsigned n, uint64_t now_ns)
{
    for (unsigned i = 0; i < n; i++)
        rsp_retry_budget_on_request(rb, now_ns);
}

static void window_sums(const rsp_retry_budget *rb, uint64_t *req, uint64_t *ret)
{
    *req = *ret = 0;
    for (unsigned i = 0; i < RSP_RETRY_BUDGET_SLOTS; i++) {
        *req += rb->w.a[i];
        *ret += rb->w.b[i];
    }
}

/* --------------------------------------------------------------- floor */

static void test_floor_lets_quiet_service_retry(void **state)
{
    (void)state;
    rsp_retry_budget_cfg c = RSP_RETRY_BUDGET_CFG_DEFAULT;
    rsp_retry_budget rb;
    rsp_retry_budget_init(&rb, &c, 0);
    requests(&rb, 3, 0);
    /* 20% of 3 is 0.6: without the floor nothing could be retried */
    for (int i = 0; i < 10; i++)
        assert_true(rsp_retry_budget_try_retry(&rb, (uint64_t)i * MS));
    assert_false(rsp_retry_budget_try_retry(&rb, 10 * MS));
}

static void test_zero_floor_and_no_requests_allows_nothing(void **state)
{
    (void)state;
    rsp_retry_budget_cfg c = cfg(0.2, 0, 10 * S);
    rsp_retry_budget rb;
    rsp_retry_budget_init(&rb, &c, 0);
    assert_false(rsp_retry_budget_try_retry(&rb, 0));
    requests(&rb, 5, 0);
    assert_int_equal(grants(&rb, 0), 1);
}

/* --------------------------------------------------------------- ratio */

static void test_ratio_of_requests_in_window(void **state)
{
    (void)state;
    rsp_retry_budget_cfg c = cfg(0.2, 10, 10 * S);
    rsp_retry_budget rb;
    rsp_retry_budget_init(&rb, &c, 0);
    requests(&rb, 500, 1 * S);
    assert_int_equal(grants(&rb, 1 * S), 100);
    requests(&rb, 4, 2 * S);                 /* 504 * 0.2 = 100.8 */
    assert_int_equal(grants(&rb, 2 * S), 101);
}

static void test_storm_retries_bounded_by_ratio(void **state)
{
    (void)state;
    /* Every request fails and wants two retries, at 100 requests/s for
     * 60 s. The budget must hold retries to 20% of the requests in its
     * window at every moment, and to ~20% overall. */
    rsp_retry_budget_cfg c = RSP_RETRY_BUDGET_CFG_DEFAULT;
    rsp_retry_budget rb;
    rsp_retry_budget_init(&rb, &c, 0);
    uint64_t total_req = 0, total_ret = 0, refused = 0;
    for (uint64_t t = 0; t < 60 * S; t += 10 * MS) {
        rsp_retry_budget_on_request(&rb, t);
        total_req++;
        for (int k = 0; k < 2; k++) {
            if (rsp_retry_budget_try_retry(&rb, t + 1 * MS))
                total_ret++;
            else
                refused++;
        }
        uint64_t req, ret;
        window_sums(&rb, &req, &ret);
        double allowed = 0.2 * (double)req;
        if (allowed < 10)
            allowed = 10;
        assert_true((double)ret < allowed + 1.0);   /* granted only while below */
    }
    double share = (double)total_ret / (double)total_req;
    if (!(share > 0.19 && share < 0.215))
        fail_msg("retries were %.4f of requests", share);
    assert_true(refused > total_req);        /* the storm really was refused */
}

/* -------------------------------------------------------------- expiry */

static void test_budget_back_after_window(void **state)
{
    (void)state;
    rsp_retry_budget_cfg c = RSP_RETRY_BUDGET_CFG_DEFAULT;
    rsp_retry_budget rb;
    rsp_retry_budget_init(&rb, &c, 0);
    requests(&rb, 100, 0);
    assert_int_equal(grants(&rb, 0), 20);
    for (int i = 0; i < 20; i++)
        assert_true(rsp_retry_budget_try_retry(&rb, 0));
    assert_false(rsp_retry_budget_try_retry(&rb, 0));
    assert_false(rsp_retry_budget_try_retry(&rb, 10 * S - 1));
    /* the whole window has passed: the floor is available again */
    assert_int_equal(grants(&rb, 10 * S), 10);
}

static void test_slots_expire_one_at_a_time(void **state)
{
    (void)state;
    rsp_retry_budget_cfg c = cfg(0.5, 0, 10 * S);
    rsp_retry_budget rb;
    rsp_retry_budget_init(&rb, &c, 0);
    requests(&rb, 4, 0);                      /* slot 0 */
    assert_true(rsp_retry_budget_try_retry(&rb, 0));
    requests(&rb, 4, 5 * S);                  /* slot 5 */
    assert_int_equal(grants(&rb, 5 * S), 3);          /* 0.5*8 - 1 */
    assert_int_equal(grants(&rb, 10 * S - 1), 3);     /* slot 0 still in */
    assert_int_equal(grants(&rb, 10 * S), 2);         /* slot 0 out: 0.5*4 - 0 */
    assert_int_equal(grants(&rb, 15 * S - 1), 2);
    assert_int_equal(grants(&rb, 15 * S), 0);         /* slot 5 out too */
}

static void test_gap_longer_than_window_clears_all(void **state)
{
    (void)state;
    rsp_retry_budget_cfg c = RSP_RETRY_BUDGET_CFG_DEFAULT;
    rsp_retry_budget rb;
    rsp_retry_budget_init(&rb, &c, 0);
    requests(&rb, 1000, 3 * S);
    while (rsp_retry_budget_try_retry(&rb, 3 * S))
        ;
    /* an hour of silence, then one request */
    rsp_retry_budget_on_request(&rb, 3600 * S + 123);
    uint64_t req, ret;
    window_sums(&rb, &req, &ret);
    assert_int_equal(req, 1);
    assert_int_equal(ret, 0);
    assert_int_equal(grants(&rb, 3600 * S + 123), 10);
    /* slots stay aligned to init time: the slot holding 3600 s starts there */
    assert_int_equal(rb.w.slot_start_ns, 3600 * S);
}

static void test_gap_to_end_of_time_is_safe(void **state)
{
    (void)state;
    rsp_retry_budget_cfg c = RSP_RETRY_BUDGET_CFG_DEFAULT;
    rsp_retry_budget rb;
    rsp_retry_budget_init(&rb, &c, 5);
    requests(&rb, 50, 5);
    rsp_retry_budget_on_request(&rb, UINT64_MAX);
    assert_true(UINT64_MAX - rb.w.slot_start_ns < c.window_ns / RSP_RETRY_BUDGET_SLOTS);
    assert_int_equal(grants(&rb, UINT64_MAX), 10);
}

static void test_time_backwards_counts_in_current_slot(void **state)
{
    (void)state;
    rsp_retry_budget_cfg c = cfg(1.0, 0, 10 * S);
    rsp_retry_budget rb;
    rsp_retry_budget_init(&rb, &c, 0);
    rsp_retry_budget_on_request(&rb, 5 * S);
    rsp_retry_budget_on_request(&rb, 1 * S);   /* stale: counted, expires nothing */
    assert_int_equal(grants(&rb, 1 * S), 2);
    assert_int_equal(grants(&rb, 15 * S - 1), 2);
    assert_int_equal(grants(&rb, 15 * S), 0);  /* both left with slot 5 */
}

/* ------------------------------------------------------------ odd cases */

static void test_tiny_window_uses_one_ns_slots(void **state)
{
    (void)state;
    rsp_retry_budget_cfg c = cfg(1.0, 0, 3);    /* below SLOTS: 1 ns slots */
    rsp_retry_budget rb;
    rsp_retry_budget_init(&rb, &c, 100);
    rsp_retry_budget_on_request(&rb, 100);
    assert_int_equal(grants(&rb, 109), 1);
    assert_int_equal(grants(&rb, 110), 0);
}

static void test_counters_saturate(void **state)
{
    (void)state;
    rsp_retry_budget_cfg c = cfg(1.0, 0, 10 * S);
    rsp_retry_budget rb;
    rsp_retry_budget_init(&rb, &c, 0);
    rb.w.a[rb.w.cur] = UINT32_MAX - 1;
    requests(&rb, 3, 0);
    assert_int_equal(rb.w.a[rb.w.cur], UINT32_MAX);
}

static void test_cfg_check(void **state)
{
    (void)state;
    rsp_retry_budget_cfg c = RSP_RETRY_BUDGET_CFG_DEFAULT;
    assert_int_equal(rsp_retry_budget_cfg_check(&c), 0);
    assert_true(c.ratio == 0.2);
    assert_int_equal(c.min_retries, 10);
    assert_int_equal(c.window_ns, 10 * S);
    c.ratio = -0.1;
    assert_int_equal(rsp_retry_budget_cfg_check(&c), RS_EINVAL);
    c.ratio = NAN;
    assert_int_equal(rsp_retry_budget_cfg_check(&c), RS_EINVAL);
    c.ratio = 0.0;                              /* floor only: valid */
    assert_int_equal(rsp_retry_budget_cfg_check(&c), 0);
    c.window_ns = RSP_RETRY_BUDGET_SLOTS - 1;
    assert_int_equal(rsp_retry_budget_cfg_check(&c), RS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_floor_lets_quiet_service_retry),
        cmocka_unit_test(test_zero_floor_and_no_requests_allows_nothing),
        cmocka_unit_test(test_ratio_of_requests_in_window),
        cmocka_unit_test(test_storm_retries_bounded_by_ratio),
        cmocka_unit_test(test_budget_back_after_window),
        cmocka_unit_test(test_slots_expire_one_at_a_time),
        cmocka_unit_test(test_gap_longer_than_window_clears_all),
        cmocka_unit_test(test_gap_to_end_of_time_is_safe),
        cmocka_unit_test(test_time_backwards_counts_in_current_slot),
        cmocka_unit_test(test_tiny_window_uses_one_ns_slots),
        cmocka_unit_test(test_counters_saturate),
        cmocka_unit_test(test_cfg_check),
    };
    return cmocka_run_group_tests_name("retry_budget", tests, NULL, NULL);
}
