/*
 * test_outcome.c — the verdict on one finished attempt (sidecar/policy/
 * outcome.c): what it means for the route's breaker and concurrency, and
 * whether, when and why not the request is retried.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "outcome.h"

#define S 1000000000ull
#define MS 1000000ull
static const uint32_t on_status[] = { 429, 500, 502, 503, 504 };

/* A P1 request on its first attempt, 10 s before its deadline, with a 1 s
 * backoff, no other route, nothing else in flight, and the breaker in the
 * epoch it was sent in. */
static rsp_outcome_in base(void)
{
    return (rsp_outcome_in){ .retry_status = on_status, .n_retry_status = 5, .same_epoch = true,
                             .attempts = 1, .max_attempts = 3, .backoff_ns = 1 * S, .priority = 1,

                             .now = 100 * S, .deadline = 110 * S };
}

static rsp_attempt_end answered(uint32_t status)
{
    return (rsp_attempt_end){ .transport_ok = true, .status = status };
}

static void test_a_success_is_done_and_tells_the_breaker(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    rsp_attempt_end a = answered(200);
    rsp_outcome o = rsp_outcome_judge(&a, &in);
    assert_true(o.ok);
    assert_false(o.retry);
    assert_false(o.health_failure);
    assert_false(o.aimd_overload);
    assert_int_equal(o.breaker, RSP_VERDICT_SUCCESS);
    /* sent before the breaker changed state: a late verdict, not heard */
    in.same_epoch = false;
    assert_int_equal(rsp_outcome_judge(&a, &in).breaker, RSP_VERDICT_NONE);
}

static void test_a_client_error_is_never_retried_and_means_the_route_is_up(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    in.other_route_ready = true;
    in.failure_status = true;   /* even when a condition lists it */
    static const uint32_t never[] = { 400, 401, 402, 403, 404, 422 };
    for (unsigned i = 0; i < 6; i++) {
        rsp_attempt_end a = answered(never[i]);
        rsp_outcome o = rsp_outcome_judge(&a, &in);
        assert_false(o.ok);
        assert_false(o.retry);
        assert_int_equal(o.stop, RSP_STOP_NOT_RETRYABLE);
    }
    in.failure_status = false;
    rsp_attempt_end a = answered(404);
    rsp_outcome o = rsp_outcome_judge(&a, &in);
    assert_int_equal(o.breaker, RSP_VERDICT_SUCCESS);
    assert_false(o.health_failure);
}

static void test_a_429_waits_out_its_retry_after_and_says_nothing_of_health(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    rsp_attempt_end a = answered(429);
    a.embargo_ns = 5 * S;
    rsp_outcome o = rsp_outcome_judge(&a, &in);
    assert_true(o.retry);
    assert_true(o.aimd_overload);
    assert_false(o.health_failure);
    assert_int_equal(o.breaker, RSP_VERDICT_ABANDON);
    assert_int_equal(o.embargo_from, 1);     /* its class (base: P1) and below */
    assert_int_equal(o.embargo_until, 105 * S);
    assert_int_equal(o.retry_at, 105 * S);   /* the embargo, not the 1 s backoff */
    /* a longer backoff wins over a shorter embargo */
    in.backoff_ns = 7 * S;
    assert_int_equal(rsp_outcome_judge(&a, &in).retry_at, 107 * S);
}

static void test_another_ready_route_takes_the_retry_at_once(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    in.other_route_ready = true;
    rsp_attempt_end a = answered(429);
    a.embargo_ns = 5 * S;
    rsp_outcome o = rsp_outcome_judge(&a, &in);
    assert_true(o.retry);
    assert_int_equal(o.retry_at, in.now);
    assert_int_equal(o.embargo_until, 105 * S);   /* this route stays embargoed */
}

static void test_transport_failures_and_slow_answers_are_health_failures_and_retried(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    rsp_attempt_end reset = { .transport_ok = false };
    rsp_outcome o = rsp_outcome_judge(&reset, &in);
    assert_true(o.retry && o.health_failure);
    assert_int_equal(o.breaker, RSP_VERDICT_FAILURE);
    assert_int_equal(o.retry_at, 101 * S);
    rsp_attempt_end slow = { .slow = true };
    o = rsp_outcome_judge(&slow, &in);
    assert_true(o.retry && o.health_failure);
    assert_int_equal(o.breaker, RSP_VERDICT_FAILURE);
    /* a late verdict is still a failure for shedding, not for the breaker */
    in.same_epoch = false;
    o = rsp_outcome_judge(&reset, &in);
    assert_true(o.health_failure);
    assert_int_equal(o.breaker, RSP_VERDICT_NONE);
}

static void test_a_503_overloads_and_fails_the_route(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    in.failure_status = true;
    rsp_attempt_end a = answered(503);
    rsp_outcome o = rsp_outcome_judge(&a, &in);
    assert_true(o.retry && o.aimd_overload && o.health_failure);
    assert_int_equal(o.breaker, RSP_VERDICT_FAILURE);
}

static void test_a_condition_status_is_retried_only_where_another_route_can_take_it(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    in.n_retry_status = 0;   /* not in retries.on_status */
    in.failure_status = true;
    rsp_attempt_end a = answered(500);
    assert_false(rsp_outcome_judge(&a, &in).retry);
    in.other_route_ready = true;
    assert_true(rsp_outcome_judge(&a, &in).retry);
}

static void test_the_requests_own_deadline_ends_it_without_blaming_the_route(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    rsp_attempt_end a = { .transport_ok = false, .deadline_hit = true };
    rsp_outcome o = rsp_outcome_judge(&a, &in);
    assert_false(o.retry);
    assert_false(o.health_failure);
    assert_int_equal(o.breaker, RSP_VERDICT_ABANDON);
    assert_int_equal(o.stop, RSP_STOP_NOT_RETRYABLE);
}

static void test_a_stream_that_delivered_content_is_never_retried(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    rsp_attempt_end a = { .transport_ok = false, .delivered = true };
    rsp_outcome o = rsp_outcome_judge(&a, &in);
    assert_false(o.retry);
    assert_true(o.health_failure);
    assert_int_equal(o.stop, RSP_STOP_NOT_RETRYABLE);
}

static void test_retrying_stops_at_the_attempt_limit_and_before_the_deadline(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    rsp_attempt_end a = answered(502);
    in.attempts = 3;
    rsp_outcome o = rsp_outcome_judge(&a, &in);
    assert_false(o.retry);
    assert_int_equal(o.stop, RSP_STOP_ATTEMPTS);
    in.attempts = 2;
    in.backoff_ns = 10 * S;   /* would start exactly at the deadline */
    o = rsp_outcome_judge(&a, &in);
    assert_false(o.retry);
    assert_int_equal(o.stop, RSP_STOP_DEADLINE);
    in.backoff_ns = 10 * S - 1;
    assert_true(rsp_outcome_judge(&a, &in).retry);
}

static void test_an_embargo_is_capped_and_never_shortened(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    in.deadline = UINT64_MAX;
    rsp_attempt_end a = answered(429);
    a.embargo_ns = 86400 * S;   /* a day: garbage, or an upstream that means it */
    rsp_outcome o = rsp_outcome_judge(&a, &in);
    assert_int_equal(o.embargo_until, in.now + RSP_OUTCOME_MAX_EMBARGO_NS);
    /* the class already waits longer: the retry keeps to that */
    in.embargo_until = in.now + 1000 * S;
    a.embargo_ns = 2 * S;
    o = rsp_outcome_judge(&a, &in);
    assert_int_equal(o.embargo_until, in.now + 2 * S);   /* the caller keeps the later one */
    assert_int_equal(o.retry_at, in.now + 1000 * S);
}

static void test_a_refusal_with_lower_classes_in_flight_bars_them_not_the_refused(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    in.priority = 0;
    in.lower_in_flight = true;
    rsp_attempt_end a = answered(429);
    a.embargo_ns = 1 * S;
    rsp_outcome o = rsp_outcome_judge(&a, &in);
    /* P1 and P2 made the upstream full: they wait out the Retry-After... */
    assert_int_equal(o.embargo_from, 1);
    assert_int_equal(o.embargo_until, 101 * S);
    assert_true(o.aimd_overload);
    /* ...and P0 goes again at once, neither embargo nor backoff, and even
     * past retries.attempts: that attempt was not its own */
    assert_true(o.retry && o.on_them);
    assert_int_equal(o.retry_at, in.now);
    in.attempts = in.max_attempts;
    o = rsp_outcome_judge(&a, &in);
    assert_true(o.retry && o.on_them);
    in.attempts = 1;
    /* a 503 too; a P1 refused with P2 in flight bars P2 only */
    a.status = 503;
    in.priority = 1;
    o = rsp_outcome_judge(&a, &in);
    assert_int_equal(o.embargo_from, 2);
    assert_int_equal(o.retry_at, in.now);
    /* nothing lower in flight: the refusal is P0's own, and P0 waits */
    a.status = 429;
    in.priority = 0;
    in.lower_in_flight = false;
    o = rsp_outcome_judge(&a, &in);
    assert_int_equal(o.embargo_from, 0);
    assert_int_equal(o.retry_at, 101 * S);
    assert_false(o.on_them);
    /* no Retry-After: no embargo for anyone */
    a.embargo_ns = 0;
    assert_int_equal(rsp_outcome_judge(&a, &in).embargo_from, RSP_OUTCOME_NO_EMBARGO);
    /* a failure that is no refusal (a reset) is the route's, whoever else
     * was in flight: the usual backoff */
    rsp_attempt_end reset = { .transport_ok = false };
    in.lower_in_flight = true;
    assert_int_equal(rsp_outcome_judge(&reset, &in).retry_at, 101 * S);
}

static void test_a_refusal_among_others_in_flight_bars_only_the_refused(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    in.route_busy = true;   /* the upstream serves the others */
    rsp_attempt_end a = answered(503);
    a.embargo_ns = 2 * S;
    rsp_outcome o = rsp_outcome_judge(&a, &in);
    assert_int_equal(o.embargo_from, RSP_OUTCOME_NO_EMBARGO);   /* the route serves on */
    assert_true(o.retry);
    assert_int_equal(o.retry_at, 102 * S);   /* the refused request still waits */
    in.other_route_ready = true;
    assert_int_equal(rsp_outcome_judge(&a, &in).retry_at, in.now);
    /* a Retry-After on an answer that is no refusal bars the route as ever */
    a.status = 500;
    assert_int_equal(rsp_outcome_judge(&a, &in).embargo_from, 1);
}

static void test_only_a_quick_refusal_is_too_much_traffic(void **state)
{
    (void)state;
    rsp_outcome_in in = base();
    in.typical_ns = 200 * MS;   /* answers take 200 ms to start */
    rsp_attempt_end a = answered(429);
    in.took_ns = 2 * MS;        /* refused at once: load */
    rsp_outcome o = rsp_outcome_judge(&a, &in);
    assert_true(o.refused && o.aimd_overload);
    in.took_ns = 190 * MS;      /* refused after the work: a degraded upstream */
    o = rsp_outcome_judge(&a, &in);
    assert_true(o.refused);
    assert_false(o.aimd_overload);
    /* and then it is not blamed on lower classes either */
    in.priority = 0;
    in.lower_in_flight = true;
    assert_false(rsp_outcome_judge(&a, &in).on_them);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_success_is_done_and_tells_the_breaker),
        cmocka_unit_test(test_a_client_error_is_never_retried_and_means_the_route_is_up),
        cmocka_unit_test(test_a_429_waits_out_its_retry_after_and_says_nothing_of_health),
        cmocka_unit_test(test_another_ready_route_takes_the_retry_at_once),
        cmocka_unit_test(test_transport_failures_and_slow_answers_are_health_failures_and_retried),
        cmocka_unit_test(test_a_503_overloads_and_fails_the_route),
        cmocka_unit_test(test_a_condition_status_is_retried_only_where_another_route_can_take_it),
        cmocka_unit_test(test_the_requests_own_deadline_ends_it_without_blaming_the_route),
        cmocka_unit_test(test_a_stream_that_delivered_content_is_never_retried),
        cmocka_unit_test(test_retrying_stops_at_the_attempt_limit_and_before_the_deadline),
        cmocka_unit_test(test_an_embargo_is_capped_and_never_shortened),
        cmocka_unit_test(test_a_refusal_with_lower_classes_in_flight_bars_them_not_the_refused),
        cmocka_unit_test(test_a_refusal_among_others_in_flight_bars_only_the_refused),
        cmocka_unit_test(test_only_a_quick_refusal_is_too_much_traffic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
