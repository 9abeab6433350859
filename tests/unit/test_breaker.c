/*
 * test_breaker.c — unit tests of the circuit breaker (sidecar/policy/breaker.c).
 *
 * The clock is a plain variable each test advances by hand: the breaker
 * only ever sees the `now` it is given, so cooldown edges are tested to the
 * nanosecond. The fixture configuration uses small, distinct numbers
 * (3 failures, 2 slow results, 1 s cooldown, 2 probes) so that a test
 * passing by accident with another threshold would be visible.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "breaker.h"

#define MS   1000000ull
#define SEC  1000000000ull

#define T0        (1000 * SEC)     /* arbitrary non-zero start of the clock */
#define COOLDOWN  (1 * SEC)
#define SLOW_NS   (500 * MS)

static rsp_breaker_cfg test_cfg(void)
{
    rsp_breaker_cfg c = {
        .failure_threshold = 3,
        .latency_gt_ns = SLOW_NS,
        .slow_threshold = 2,
        .cooldown_ns = COOLDOWN,
        .half_open_probes = 2,
    };
    return c;
}

static void fresh(rsp_breaker *b)
{
    rsp_breaker_cfg c = test_cfg();
    rsp_breaker_init(b, &c);
}

/* Field by field: the structs have padding, which memcmp would compare. */
static void assert_cfg_equal(const rsp_breaker_cfg *a, const rsp_breaker_cfg *b)
{
    assert_int_equal(a->failure_threshold, b->failure_threshold);
    assert_int_equal(a->latency_gt_ns, b->latency_gt_ns);
    assert_int_equal(a->slow_threshold, b->slow_threshold);
    assert_int_equal(a->cooldown_ns, b->cooldown_ns);
    assert_int_equal(a->half_open_probes, b->half_open_probes);
}

static void assert_same(const rsp_breaker *a, const rsp_breaker *b)
{
    assert_cfg_equal(&a->cfg, &b->cfg);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->consec_failures, b->consec_failures);
    assert_int_equal(a->consec_slow, b->consec_slow);
    assert_int_equal(a->probes_in_flight, b->probes_in_flight);
    assert_int_equal(a->probes_ok, b->probes_ok);
    assert_int_equal(a->open_until, b->open_until);
    assert_int_equal(a->opened, b->opened);
    assert_int_equal(a->reopened, b->reopened);
    assert_int_equal(a->half_opened, b->half_opened);
    assert_int_equal(a->closed, b->closed);
}

/* A request sent and failed at `now`, as the sidecar would report it. */
static void send_fail(rsp_breaker *b, uint64_t now)
{
    assert_true(rsp_breaker_can_send(b, now));
    rsp_breaker_on_send(b, now);
    rsp_breaker_on_failure(b, now);
}

static void send_ok(rsp_breaker *b, uint64_t latency, uint64_t now)
{
    assert_true(rsp_breaker_can_send(b, now));
    rsp_breaker_on_send(b, now);
    rsp_breaker_on_success(b, latency, now);
}

/* Open the fixture breaker at `now` with three failures. */
static void trip(rsp_breaker *b, uint64_t now)
{
    for (int i = 0; i < 3; i++)
        send_fail(b, now);
    assert_int_equal(rsp_breaker_state_at(b, now), RSP_BREAKER_OPEN);
}

/* The breaker's state as seen at `t` (a macro, so failures name the test's line). */
#define assert_state(b, t, s) assert_int_equal(rsp_breaker_state_at((b), (t)), (s))

/* `n` requests sent and failed at `now`. */
static void fail_n(rsp_breaker *b, int n, uint64_t now)
{
    for (int i = 0; i < n; i++)
        send_fail(b, now);
}

/* `n` fast probe verdicts (requests already sent) at `now`. */
static void succeed_n(rsp_breaker *b, int n, uint64_t now)
{
    for (int i = 0; i < n; i++)
        rsp_breaker_on_success(b, 1 * MS, now);
}

/* A fixture breaker tripped open at T0. */
static void fresh_open(rsp_breaker *b)
{
    fresh(b);
    trip(b, T0);
}

/* A fixture breaker tripped at T0, then `probes` probes sent at `t` (at or
 * after the cooldown's end). Returns `t`. */
static uint64_t half_open(rsp_breaker *b, int probes, uint64_t t)
{
    fresh_open(b);
    for (int i = 0; i < probes; i++)
        rsp_breaker_on_send(b, t);
    return t;
}

/* Reconfigure with the fixture configuration but for one field. */
#define reconfigure_with(b, field, value) do {          \
        rsp_breaker_cfg c_ = test_cfg();                 \
        c_.field = (value);                             \
        rsp_breaker_reconfigure((b), &c_);               \
    } while (0)

/* ------------------------------------------------------------- config */

static void test_init_starts_closed_and_sends(void **state)
{
    (void)state;
    rsp_breaker b;
    memset(&b, 0xA5, sizeof b);        /* init must not depend on old bytes */
    fresh(&b);
    assert_state(&b, T0, RSP_BREAKER_CLOSED);
    assert_true(rsp_breaker_can_send(&b, T0));
    assert_true(rsp_breaker_can_send(&b, 0));
    assert_int_equal(b.opened, 0);
    assert_int_equal(b.half_opened, 0);
    assert_int_equal(b.closed, 0);
    assert_int_equal(b.reopened, 0);
}

static void test_zero_cfg_fields_take_defaults(void **state)
{
    (void)state;
    rsp_breaker_cfg zero = { 0 };
    rsp_breaker b;
    rsp_breaker_init(&b, &zero);
    assert_int_equal(b.cfg.failure_threshold, RSP_BREAKER_DEFAULT_FAILURE_THRESHOLD);
    assert_int_equal(b.cfg.slow_threshold, RSP_BREAKER_DEFAULT_SLOW_THRESHOLD);
    assert_int_equal(b.cfg.cooldown_ns, RSP_BREAKER_DEFAULT_COOLDOWN_NS);
    assert_int_equal(b.cfg.half_open_probes, RSP_BREAKER_DEFAULT_HALF_OPEN_PROBES);
    assert_int_equal(b.cfg.latency_gt_ns, 0);      /* stays off */
    assert_int_equal(RSP_BREAKER_DEFAULT_COOLDOWN_NS, SEC / 4);
    assert_int_equal(b.cfg.max_cooldown_ns, b.cfg.cooldown_ns);   /* never grows unless asked */
    assert_true(b.cfg.failure_rate == 0);                       /* the rate rule is off */
}

static void test_null_cfg_is_default(void **state)
{
    (void)state;
    rsp_breaker b;
    rsp_breaker_init(&b, NULL);
    rsp_breaker_cfg d = rsp_breaker_cfg_default();
    assert_cfg_equal(&b.cfg, &d);
    assert_int_equal(d.failure_threshold, 3);
    assert_int_equal(d.slow_threshold, 3);
    assert_int_equal(d.half_open_probes, 2);
}

static void test_explicit_cfg_kept_verbatim(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    rsp_breaker_cfg c = test_cfg();
    assert_cfg_equal(&b.cfg, &c);
}

/* ------------------------------------------------------------ failures */

static void test_opens_after_exactly_n_failures(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    send_fail(&b, T0);
    send_fail(&b, T0 + 1);
    assert_state(&b, T0 + 1, RSP_BREAKER_CLOSED);   /* N-1 */
    assert_true(rsp_breaker_can_send(&b, T0 + 1));
    send_fail(&b, T0 + 2);                       /* N */
    assert_state(&b, T0 + 2, RSP_BREAKER_OPEN);
    assert_false(rsp_breaker_can_send(&b, T0 + 2));
    assert_int_equal(rsp_breaker_open_until(&b), T0 + 2 + COOLDOWN);
}

static void test_success_resets_failure_count(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    fail_n(&b, 2, T0);
    send_ok(&b, 1 * MS, T0);
    fail_n(&b, 2, T0);
    assert_state(&b, T0, RSP_BREAKER_CLOSED);
    send_fail(&b, T0);
    assert_state(&b, T0, RSP_BREAKER_OPEN);
}

static void test_slow_success_also_resets_failure_count(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    fail_n(&b, 2, T0);
    send_ok(&b, SLOW_NS + 1, T0);      /* slow, but it did answer */
    fail_n(&b, 2, T0);
    assert_state(&b, T0, RSP_BREAKER_CLOSED);
}

static void test_failures_need_no_send_call_in_closed(void **state)
{
    (void)state;
    /* CLOSED counts verdicts, not sends: requests sent long ago count too */
    rsp_breaker b;
    fresh(&b);
    rsp_breaker_on_failure(&b, T0);
    rsp_breaker_on_failure(&b, T0);
    rsp_breaker_on_failure(&b, T0);
    assert_state(&b, T0, RSP_BREAKER_OPEN);
}

/* ---------------------------------------------------------------- slow */

static void test_opens_after_n_consecutive_slow_results(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    send_ok(&b, SLOW_NS + 1, T0);
    assert_state(&b, T0, RSP_BREAKER_CLOSED);
    send_ok(&b, 60 * SEC, T0 + 5);
    assert_state(&b, T0 + 5, RSP_BREAKER_OPEN);
    assert_int_equal(rsp_breaker_open_until(&b), T0 + 5 + COOLDOWN);
    assert_int_equal(b.opened, 1);
}

static void test_fast_success_resets_slow_count(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    send_ok(&b, SLOW_NS + 1, T0);
    send_ok(&b, SLOW_NS - 1, T0);
    send_ok(&b, SLOW_NS + 1, T0);
    assert_state(&b, T0, RSP_BREAKER_CLOSED);
    send_ok(&b, SLOW_NS + 1, T0);
    assert_state(&b, T0, RSP_BREAKER_OPEN);
}

static void test_latency_equal_to_threshold_is_not_slow(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    for (int i = 0; i < 10; i++)
        send_ok(&b, SLOW_NS, T0);
    assert_state(&b, T0, RSP_BREAKER_CLOSED);
}

static void test_latency_gt_zero_disables_slow_detection(void **state)
{
    (void)state;
    rsp_breaker_cfg c = test_cfg();
    c.latency_gt_ns = 0;
    rsp_breaker b;
    rsp_breaker_init(&b, &c);
    for (int i = 0; i < 10; i++)
        send_ok(&b, UINT64_MAX, T0);
    assert_state(&b, T0, RSP_BREAKER_CLOSED);
}

static void test_failure_does_not_break_slow_streak(void **state)
{
    (void)state;
    /* slow, fail, slow: no fast answer in between, so the streak is 2 */
    rsp_breaker b;
    fresh(&b);
    send_ok(&b, SLOW_NS + 1, T0);
    send_fail(&b, T0);
    send_ok(&b, SLOW_NS + 1, T0);
    assert_state(&b, T0, RSP_BREAKER_OPEN);
}

/* ------------------------------------------------------------ cooldown */

static void test_open_refuses_until_cooldown_ends(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh_open(&b);
    assert_false(rsp_breaker_can_send(&b, T0 + COOLDOWN - 1));
    assert_state(&b, T0 + COOLDOWN - 1, RSP_BREAKER_OPEN);
    assert_true(rsp_breaker_can_send(&b, T0 + COOLDOWN));
    assert_state(&b, T0 + COOLDOWN, RSP_BREAKER_HALF_OPEN);
}

static void test_queries_do_not_transition(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh_open(&b);
    rsp_breaker before = b;
    uint64_t late = T0 + 100 * COOLDOWN;
    for (int i = 0; i < 5; i++) {
        assert_state(&b, late, RSP_BREAKER_HALF_OPEN);
        assert_true(rsp_breaker_can_send(&b, late));
    }
    assert_same(&b, &before);
    assert_int_equal(b.state, RSP_BREAKER_OPEN);
    assert_int_equal(b.half_opened, 0);
}

static void test_send_before_cooldown_changes_nothing(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh_open(&b);
    rsp_breaker before = b;
    rsp_breaker_on_send(&b, T0 + COOLDOWN - 1);   /* contract broken: ignored */
    assert_same(&b, &before);
}

static void test_first_send_after_cooldown_goes_half_open(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh_open(&b);
    uint64_t t = T0 + COOLDOWN + 7;
    rsp_breaker_on_send(&b, t);
    assert_int_equal(b.state, RSP_BREAKER_HALF_OPEN);
    assert_state(&b, t, RSP_BREAKER_HALF_OPEN);
    assert_int_equal(b.probes_in_flight, 1);
    assert_int_equal(b.half_opened, 1);
}

static void test_cooldown_deadline_saturates(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    uint64_t near_end = UINT64_MAX - COOLDOWN / 2;
    trip(&b, near_end);
    assert_int_equal(rsp_breaker_open_until(&b), UINT64_MAX);
    assert_false(rsp_breaker_can_send(&b, UINT64_MAX - 1));
}

/* -------------------------------------------------------------- probes */

static void test_probe_slots_are_limited(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh_open(&b);
    uint64_t t = T0 + COOLDOWN;
    assert_true(rsp_breaker_can_send(&b, t));
    rsp_breaker_on_send(&b, t);
    assert_true(rsp_breaker_can_send(&b, t));
    rsp_breaker_on_send(&b, t);
    assert_false(rsp_breaker_can_send(&b, t));           /* both slots taken */
    assert_false(rsp_breaker_can_send(&b, t + 100 * COOLDOWN));
    rsp_breaker_on_send(&b, t);                          /* contract broken */
    assert_int_equal(b.probes_in_flight, 2);
}

static void test_all_probes_succeed_closes(void **state)
{
    (void)state;
    rsp_breaker b;
    uint64_t t = half_open(&b, 2, T0 + COOLDOWN);
    rsp_breaker_on_success(&b, 1 * MS, t + 1);
    assert_state(&b, t + 1, RSP_BREAKER_HALF_OPEN);   /* 1 of 2 */
    rsp_breaker_on_success(&b, 1 * MS, t + 2);
    assert_state(&b, t + 2, RSP_BREAKER_CLOSED);
    assert_true(rsp_breaker_can_send(&b, t + 2));
    assert_int_equal(b.closed, 1);
}

static void test_probe_success_frees_slot(void **state)
{
    (void)state;
    rsp_breaker b;
    uint64_t t = half_open(&b, 2, T0 + COOLDOWN);
    rsp_breaker_on_success(&b, 1 * MS, t);
    assert_true(rsp_breaker_can_send(&b, t));      /* one slot back, still half-open */
    assert_state(&b, t, RSP_BREAKER_HALF_OPEN);
}

static void test_failed_probe_reopens_with_fresh_cooldown(void **state)
{
    (void)state;
    rsp_breaker b;
    uint64_t t = half_open(&b, 2, T0 + COOLDOWN + 300 * MS);
    rsp_breaker_on_success(&b, 1 * MS, t + 1);       /* one good probe is not enough */
    uint64_t fail_at = t + 50 * MS;
    rsp_breaker_on_failure(&b, fail_at);
    assert_state(&b, fail_at, RSP_BREAKER_OPEN);
    assert_int_equal(rsp_breaker_open_until(&b), fail_at + COOLDOWN);
    assert_false(rsp_breaker_can_send(&b, fail_at + COOLDOWN - 1));
    assert_true(rsp_breaker_can_send(&b, fail_at + COOLDOWN));
}

static void test_slow_probe_reopens(void **state)
{
    (void)state;
    rsp_breaker b;
    uint64_t t = half_open(&b, 1, T0 + COOLDOWN);
    rsp_breaker_on_success(&b, SLOW_NS + 1, t + 9);
    assert_state(&b, t + 9, RSP_BREAKER_OPEN);
    assert_int_equal(rsp_breaker_open_until(&b), t + 9 + COOLDOWN);
    assert_int_equal(b.reopened, 1);
}

static void test_reopen_voids_other_probes(void **state)
{
    (void)state;
    /* the second probe's late success must not count for the next round */
    rsp_breaker b;
    uint64_t t = half_open(&b, 2, T0 + COOLDOWN);
    rsp_breaker_on_failure(&b, t);                  /* reopen */
    assert_int_equal(b.probes_in_flight, 0);       /* as metrics show it */
    assert_int_equal(b.probes_ok, 0);
    rsp_breaker_on_success(&b, 1 * MS, t + 1);      /* the other probe, while OPEN */
    assert_state(&b, t + 1, RSP_BREAKER_OPEN);
    uint64_t t2 = t + COOLDOWN;
    rsp_breaker_on_send(&b, t2);
    assert_int_equal(b.probes_in_flight, 1);
    assert_int_equal(b.probes_ok, 0);
}

static void test_abandon_frees_probe_slot(void **state)
{
    (void)state;
    rsp_breaker b;
    uint64_t t = half_open(&b, 2, T0 + COOLDOWN);
    assert_false(rsp_breaker_can_send(&b, t));
    rsp_breaker_on_abandon(&b);
    assert_true(rsp_breaker_can_send(&b, t));
    assert_state(&b, t, RSP_BREAKER_HALF_OPEN);
    /* an abandoned probe is no verdict: two real successes are still needed */
    rsp_breaker_on_send(&b, t);
    rsp_breaker_on_success(&b, 1 * MS, t);
    assert_state(&b, t, RSP_BREAKER_HALF_OPEN);
    rsp_breaker_on_success(&b, 1 * MS, t);
    assert_state(&b, t, RSP_BREAKER_CLOSED);
}

static void test_abandon_without_probe_is_noop(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    rsp_breaker before = b;
    rsp_breaker_on_abandon(&b);                     /* CLOSED */
    assert_same(&b, &before);
    trip(&b, T0);
    before = b;
    rsp_breaker_on_abandon(&b);                     /* OPEN */
    assert_same(&b, &before);
    rsp_breaker_on_send(&b, T0 + COOLDOWN);
    rsp_breaker_on_abandon(&b);
    before = b;
    rsp_breaker_on_abandon(&b);                     /* HALF_OPEN, no slot held */
    assert_same(&b, &before);
    assert_int_equal(b.probes_in_flight, 0);
}

static void test_verdicts_while_open_are_ignored(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh_open(&b);
    rsp_breaker before = b;
    rsp_breaker_on_failure(&b, T0 + 500 * MS);      /* must not push the deadline */
    rsp_breaker_on_success(&b, 1 * MS, T0 + 500 * MS);
    rsp_breaker_on_success(&b, 1 * MS, T0 + 600 * MS);
    rsp_breaker_on_success(&b, SLOW_NS + 1, T0 + 600 * MS);
    assert_same(&b, &before);
    /* also once the cooldown has passed but no probe has gone out */
    rsp_breaker_on_success(&b, 1 * MS, T0 + 2 * COOLDOWN);
    rsp_breaker_on_failure(&b, T0 + 2 * COOLDOWN);
    assert_same(&b, &before);
}

static void test_verdict_in_half_open_without_probe_ignored(void **state)
{
    (void)state;
    rsp_breaker b;
    uint64_t t = half_open(&b, 1, T0 + COOLDOWN);
    rsp_breaker_on_success(&b, 1 * MS, t);          /* probe 1 ok, slot freed */
    rsp_breaker before = b;
    rsp_breaker_on_failure(&b, t + 1);              /* not a probe */
    rsp_breaker_on_success(&b, 1 * MS, t + 1);      /* not a probe */
    assert_same(&b, &before);
}

static void test_recovered_breaker_counts_failures_from_zero(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    fail_n(&b, 3, T0);
    uint64_t t = T0 + COOLDOWN;
    send_ok(&b, 1 * MS, t);
    send_ok(&b, 1 * MS, t);
    assert_state(&b, t, RSP_BREAKER_CLOSED);
    fail_n(&b, 2, t);
    assert_state(&b, t, RSP_BREAKER_CLOSED);
    send_fail(&b, t);
    assert_state(&b, t, RSP_BREAKER_OPEN);
}

/* --------------------------------------------------------- reconfigure */

static void test_reconfigure_keeps_open_state_and_deadline(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh_open(&b);
    reconfigure_with(&b, cooldown_ns, 60 * SEC);
    assert_state(&b, T0 + 1, RSP_BREAKER_OPEN);
    assert_int_equal(rsp_breaker_open_until(&b), T0 + COOLDOWN);   /* running cooldown kept */
    assert_int_equal(b.opened, 1);
    assert_int_equal(b.cfg.cooldown_ns, 60 * SEC);
    /* the new cooldown applies from the next opening */
    uint64_t t = T0 + COOLDOWN;
    rsp_breaker_on_send(&b, t);
    rsp_breaker_on_failure(&b, t);
    assert_int_equal(rsp_breaker_open_until(&b), t + 60 * SEC);
}

static void test_reconfigure_keeps_failure_streak(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    fail_n(&b, 2, T0);
    reconfigure_with(&b, failure_threshold, 5);
    fail_n(&b, 2, T0);
    assert_state(&b, T0, RSP_BREAKER_CLOSED);   /* 4 of 5 */
    send_fail(&b, T0);
    assert_state(&b, T0, RSP_BREAKER_OPEN);
}

static void test_reconfigure_lower_threshold_opens_on_next_failure(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    fail_n(&b, 2, T0);
    reconfigure_with(&b, failure_threshold, 1);
    assert_state(&b, T0, RSP_BREAKER_CLOSED);
    send_fail(&b, T0);
    assert_state(&b, T0, RSP_BREAKER_OPEN);
}

static void test_reconfigure_keeps_probes_in_flight(void **state)
{
    (void)state;
    rsp_breaker b;
    uint64_t t = half_open(&b, 2, T0 + COOLDOWN);
    reconfigure_with(&b, half_open_probes, 3);
    assert_state(&b, t, RSP_BREAKER_HALF_OPEN);
    assert_int_equal(b.probes_in_flight, 2);
    assert_true(rsp_breaker_can_send(&b, t));       /* a third slot now */
    rsp_breaker_on_send(&b, t);
    assert_false(rsp_breaker_can_send(&b, t));
    succeed_n(&b, 2, t);
    assert_state(&b, t, RSP_BREAKER_HALF_OPEN);   /* 2 of 3 */
    rsp_breaker_on_success(&b, 1 * MS, t);
    assert_state(&b, t, RSP_BREAKER_CLOSED);
}

static void test_reconfigure_keeps_counters(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh_open(&b);
    rsp_breaker_on_send(&b, T0 + COOLDOWN);
    rsp_breaker_reconfigure(&b, NULL);
    assert_int_equal(b.opened, 1);
    assert_int_equal(b.half_opened, 1);
    assert_int_equal(b.probes_in_flight, 1);
    assert_int_equal(b.state, RSP_BREAKER_HALF_OPEN);
}

/* ------------------------------------------------------------ counters */

static void test_counters_count_each_transition(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    uint64_t t = T0;
    trip(&b, t);                                   /* CLOSED → OPEN */
    t += COOLDOWN;
    send_fail(&b, t);                              /* → HALF_OPEN → OPEN */
    t += COOLDOWN;
    send_ok(&b, SLOW_NS + 1, t);                   /* → HALF_OPEN → OPEN (slow) */
    t += COOLDOWN;
    send_ok(&b, 1 * MS, t);                        /* → HALF_OPEN */
    send_ok(&b, 1 * MS, t);                        /* → CLOSED */
    trip(&b, t);                                   /* CLOSED → OPEN */
    assert_int_equal(b.opened, 4);
    assert_int_equal(b.reopened, 2);
    assert_int_equal(b.half_opened, 3);
    assert_int_equal(b.closed, 1);
}

static void test_epoch_changes_on_every_transition_only(void **state)
{
    (void)state;
    rsp_breaker b;
    fresh(&b);
    uint64_t e = rsp_breaker_epoch(&b);
    send_ok(&b, 1 * MS, T0);
    send_fail(&b, T0);
    assert_int_equal(rsp_breaker_epoch(&b), e);     /* no transition */
    fail_n(&b, 2, T0);
    assert_int_equal(rsp_breaker_epoch(&b), e + 1); /* opened */
    rsp_breaker_on_send(&b, T0 + COOLDOWN);
    assert_int_equal(rsp_breaker_epoch(&b), e + 2); /* half-opened */
    rsp_breaker_on_send(&b, T0 + COOLDOWN);
    assert_int_equal(rsp_breaker_epoch(&b), e + 2); /* second probe: same round */
    succeed_n(&b, 2, T0 + COOLDOWN);
    assert_int_equal(rsp_breaker_epoch(&b), e + 3); /* closed */
}

/* ------------------------------------------- the rate rule (issue #14) */

/* The rate rule on (half of at least min_requests verdicts in 10 s), with
 * this streak threshold. */
static rsp_breaker rate_breaker(uint32_t failure_threshold, uint32_t min_requests)
{
    rsp_breaker_cfg c = test_cfg();
    c.failure_threshold = failure_threshold;
    c.failure_rate = 0.5;
    c.rate_min_requests = min_requests;
    c.rate_window_ns = 10 * SEC;
    rsp_breaker b;
    rsp_breaker_init(&b, &c);
    return b;
}

/* A degraded route: 1 in 3 fails, never twice in a row. */
static void test_a_failure_rate_over_the_window_opens_it(void **state)
{
    (void)state;
    rsp_breaker b = rate_breaker(100, 20);   /* the streak out of the way */
    uint64_t t = T0;
    for (int i = 0; i < 300; i++, t += 10 * MS) {   /* 33% failures: under the rate */
        if (i % 3 == 2)
            rsp_breaker_on_failure(&b, t);
        else
            rsp_breaker_on_success(&b, 0, t);
    }
    assert_int_equal(rsp_breaker_state_at(&b, t), RSP_BREAKER_CLOSED);
    uint32_t n;
    double rate = rsp_breaker_failure_rate(&b, t, &n);
    assert_true(rate > 0.3 && rate < 0.36);
    assert_true(n >= 180 && n <= 300);
    /* then 2 in 3 fail: the share crosses half, and it opens */
    int opened_at = -1;
    for (int i = 0; i < 300 && opened_at < 0; i++, t += 10 * MS) {
        if (i % 3 != 2)
            rsp_breaker_on_failure(&b, t);
        else
            rsp_breaker_on_success(&b, 0, t);
        if (rsp_breaker_state_at(&b, t) == RSP_BREAKER_OPEN)
            opened_at = i;
    }
    assert_true(opened_at > 0);
    assert_int_equal(b.opened, 1);
}

static void test_the_rate_needs_volume(void **state)
{
    (void)state;
    rsp_breaker b = rate_breaker(100, 20);   /* the streak out of the way */
    /* 19 verdicts, every other one a failure: too few to judge */
    uint64_t t = T0;
    for (int i = 0; i < 19; i++, t += SEC / 10) {
        if (i % 2)
            rsp_breaker_on_failure(&b, t);
        else
            rsp_breaker_on_success(&b, 0, t);
    }
    assert_int_equal(rsp_breaker_state_at(&b, t), RSP_BREAKER_CLOSED);
    rsp_breaker_on_failure(&b, t);   /* the 20th: 10 of 20 */
    assert_int_equal(rsp_breaker_state_at(&b, t), RSP_BREAKER_OPEN);
}

static void test_old_verdicts_leave_the_window(void **state)
{
    (void)state;
    rsp_breaker b = rate_breaker(100, 10);   /* the streak out of the way */
    uint64_t t = T0;
    for (int i = 0; i < 9; i++)
        rsp_breaker_on_failure(&b, t);   /* 9 failures: one short of the volume */
    t += 11 * SEC;                       /* a quiet window later they are gone */
    for (int i = 0; i < 9; i++)
        rsp_breaker_on_success(&b, 0, t);
    rsp_breaker_on_failure(&b, t);       /* 1 of 10 */
    assert_int_equal(rsp_breaker_state_at(&b, t), RSP_BREAKER_CLOSED);
    uint32_t n;
    assert_true(rsp_breaker_failure_rate(&b, t, &n) < 0.11);
    assert_int_equal(n, 10);
}

/* A streak is judged against the route's failure rate: 3 in a row open a
 * healthy route at once, but not one that fails a quarter at random. */
static void test_a_streak_is_no_outage_on_a_route_that_often_fails(void **state)
{
    (void)state;
    rsp_breaker b = rate_breaker(3, 20);
    uint64_t t = T0;
    for (int i = 0; i < 100; i++, t += 10 * MS) {   /* 25 of 100 fail, never twice in a row */
        if (i % 4 == 2)
            rsp_breaker_on_failure(&b, t);
        else
            rsp_breaker_on_success(&b, 0, t);
    }
    for (int i = 0; i < 5; i++, t += 10 * MS)       /* 5 in a row: 0.29^5 is 1 in 500 */
        rsp_breaker_on_failure(&b, t);
    assert_int_equal(rsp_breaker_state_at(&b, t), RSP_BREAKER_CLOSED);
    rsp_breaker_on_failure(&b, t);                  /* the 6th: 0.29^6 is 1 in 1700 */
    assert_int_equal(rsp_breaker_state_at(&b, t), RSP_BREAKER_OPEN);

    /* a healthy route that dies: the third failure opens it */
    b = rate_breaker(3, 20);
    for (int i = 0; i < 100; i++, t += 10 * MS)
        rsp_breaker_on_success(&b, 0, t);
    rsp_breaker_on_failure(&b, t);
    rsp_breaker_on_failure(&b, t);
    assert_int_equal(rsp_breaker_state_at(&b, t), RSP_BREAKER_CLOSED);
    rsp_breaker_on_failure(&b, t);
    assert_int_equal(rsp_breaker_state_at(&b, t), RSP_BREAKER_OPEN);
}

/* ------------------------------------------- the growing cooldown (#14) */

static void test_each_failed_round_doubles_the_cooldown_up_to_its_cap(void **state)
{
    (void)state;
    rsp_breaker_cfg c = test_cfg();
    c.cooldown_ns = 250 * MS;
    c.max_cooldown_ns = 1 * SEC;
    rsp_breaker b;
    rsp_breaker_init(&b, &c);
    uint64_t t = T0;
    for (unsigned k = 0; k < c.failure_threshold; k++)
        rsp_breaker_on_failure(&b, t);
    assert_int_equal(rsp_breaker_open_until(&b), t + 250 * MS);
    static const uint64_t next[] = { 500 * MS, 1000 * MS, 1000 * MS, 1000 * MS };
    for (unsigned r = 0; r < 4; r++) {
        t = rsp_breaker_open_until(&b);
        assert_true(rsp_breaker_can_send(&b, t));
        rsp_breaker_on_send(&b, t);           /* a probe... */
        rsp_breaker_on_failure(&b, t + MS);   /* ...that fails */
        assert_int_equal(rsp_breaker_open_until(&b), t + MS + next[r]);
    }
    /* the route comes back: closing starts the schedule over */
    t = rsp_breaker_open_until(&b);
    for (unsigned k = 0; k < c.half_open_probes; k++)
        rsp_breaker_on_send(&b, t);
    for (unsigned k = 0; k < c.half_open_probes; k++)
        rsp_breaker_on_success(&b, 0, t + MS);
    assert_int_equal(rsp_breaker_state_at(&b, t + MS), RSP_BREAKER_CLOSED);
    for (unsigned k = 0; k < c.failure_threshold; k++)
        rsp_breaker_on_failure(&b, t + 2 * MS);
    assert_int_equal(rsp_breaker_open_until(&b), t + 2 * MS + 250 * MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_starts_closed_and_sends),
        cmocka_unit_test(test_a_failure_rate_over_the_window_opens_it),
        cmocka_unit_test(test_the_rate_needs_volume),
        cmocka_unit_test(test_a_streak_is_no_outage_on_a_route_that_often_fails),
        cmocka_unit_test(test_old_verdicts_leave_the_window),
        cmocka_unit_test(test_each_failed_round_doubles_the_cooldown_up_to_its_cap),
        cmocka_unit_test(test_zero_cfg_fields_take_defaults),
        cmocka_unit_test(test_null_cfg_is_default),
        cmocka_unit_test(test_explicit_cfg_kept_verbatim),
        cmocka_unit_test(test_opens_after_exactly_n_failures),
        cmocka_unit_test(test_success_resets_failure_count),
        cmocka_unit_test(test_slow_success_also_resets_failure_count),
        cmocka_unit_test(test_failures_need_no_send_call_in_closed),
        cmocka_unit_test(test_opens_after_n_consecutive_slow_results),
        cmocka_unit_test(test_fast_success_resets_slow_count),
        cmocka_unit_test(test_latency_equal_to_threshold_is_not_slow),
        cmocka_unit_test(test_latency_gt_zero_disables_slow_detection),
        cmocka_unit_test(test_failure_does_not_break_slow_streak),
        cmocka_unit_test(test_open_refuses_until_cooldown_ends),
        cmocka_unit_test(test_queries_do_not_transition),
        cmocka_unit_test(test_send_before_cooldown_changes_nothing),
        cmocka_unit_test(test_first_send_after_cooldown_goes_half_open),
        cmocka_unit_test(test_cooldown_deadline_saturates),
        cmocka_unit_test(test_probe_slots_are_limited),
        cmocka_unit_test(test_all_probes_succeed_closes),
        cmocka_unit_test(test_probe_success_frees_slot),
        cmocka_unit_test(test_failed_probe_reopens_with_fresh_cooldown),
        cmocka_unit_test(test_slow_probe_reopens),
        cmocka_unit_test(test_reopen_voids_other_probes),
        cmocka_unit_test(test_abandon_frees_probe_slot),
        cmocka_unit_test(test_abandon_without_probe_is_noop),
        cmocka_unit_test(test_verdicts_while_open_are_ignored),
        cmocka_unit_test(test_verdict_in_half_open_without_probe_ignored),
        cmocka_unit_test(test_recovered_breaker_counts_failures_from_zero),
        cmocka_unit_test(test_reconfigure_keeps_open_state_and_deadline),
        cmocka_unit_test(test_reconfigure_keeps_failure_streak),
        cmocka_unit_test(test_reconfigure_lower_threshold_opens_on_next_failure),
        cmocka_unit_test(test_reconfigure_keeps_probes_in_flight),
        cmocka_unit_test(test_reconfigure_keeps_counters),
        cmocka_unit_test(test_counters_count_each_transition),
        cmocka_unit_test(test_epoch_changes_on_every_transition_only),
    };
    return cmocka_run_group_tests_name("breaker", tests, NULL, NULL);
}
