/*
 * test_aimd.c — unit tests of the adaptive concurrency limit (sidecar/policy/aimd.c).
 *
 * The convergence tests run a simulated upstream that accepts at most
 * CAPACITY requests in flight and answers 429 to the rest, in rounds: each
 * round the client sends as many requests as the limit allows, and they all
 * complete one round-trip later (the same `now`), the overloads among them
 * arriving together as they do from a real upstream.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>

#include "aimd.h"
#include "ringside.h"
#include "test_rand.h"

#define MS 1000000ull
#define S  1000000000ull
#define CAPACITY 37u
#define RTT (100 * MS)
/* a success with the whole limit in use (the limit may grow) */
#define BUSY UINT_MAX

static rsp_aimd_cfg cfg_std(void)
{
    return (rsp_aimd_cfg){ .min = 1, .max = 200, .initial = 10, .increase = 1.0,
                          .decrease = 0.5, .cooldown_ns = RTT / 2 };
}

typedef struct sim_stats {
    unsigned lo, hi;         /* limit seen at round starts, after warm-up */
    double mean;
    unsigned overload_rounds;
} sim_stats;

/* One round: `limit` requests in flight, those beyond `capacity` refused. */
static void sim_round_cap(rsp_aimd *a, uint64_t done_ns, unsigned limit, unsigned capacity)
{
    for (unsigned i = 0; i < limit; i++) {
        if (i < capacity)
            rsp_aimd_on_success(a, done_ns, BUSY);
        else
            rsp_aimd_on_overload(a, done_ns, 0);
    }
}

static void sim_round(rsp_aimd *a, uint64_t done_ns, unsigned limit)
{
    sim_round_cap(a, done_ns, limit, CAPACITY);
}

static sim_stats simulate(rsp_aimd *a, unsigned warmup, unsigned rounds)
{
    sim_stats st = { .lo = UINT32_MAX, .hi = 0, .mean = 0, .overload_rounds = 0 };
    double sum = 0;
    for (unsigned r = 0; r < warmup + rounds; r++) {
        unsigned l = rsp_aimd_limit(a);
        if (r >= warmup) {
            st.lo = l < st.lo ? l : st.lo;
            st.hi = l > st.hi ? l : st.hi;
            sum += l;
            st.overload_rounds += l > CAPACITY;
        }
        sim_round(a, (uint64_t)(r + 1) * RTT, l);
    }
    st.mean = rounds ? sum / rounds : 0.0;
    return st;
}

/* A fresh limiter with configuration `c`, run for 200 warm-up rounds and
 * 2000 measured ones against the simulated upstream. */
static sim_stats simulate_cfg(rsp_aimd_cfg c)
{
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    return simulate(&a, 200, 2000);
}

/* The sawtooth probes one past capacity, never further, and falls to a
 * low point within [lo_min, lo_max]. */
static void assert_sawtooth(const sim_stats *st, unsigned lo_min, unsigned lo_max)
{
    assert_int_equal(st->hi, CAPACITY + 1);
    assert_true(st->lo >= lo_min && st->lo <= lo_max);
}

/* The standard configuration from limit 100 with a 1 s cooldown; `a` is
 * initialised with it, and it is returned for reconfiguring. */
static rsp_aimd_cfg init_cooling(rsp_aimd *a)
{
    rsp_aimd_cfg c = cfg_std();
    c.initial = 100;
    c.cooldown_ns = 1 * S;
    rsp_aimd_init(a, &c);
    return c;
}

/* `n` successes at `now`. */
static void successes(rsp_aimd *a, int n, uint64_t now)
{
    for (int i = 0; i < n; i++)
        rsp_aimd_on_success(a, now, BUSY);
}

/* ---------------------------------------------------------------- basics */

static void test_init_uses_initial(void **state)
{
    (void)state;
    rsp_aimd_cfg c = cfg_std();
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    assert_int_equal(rsp_aimd_limit(&a), 10);
    assert_false(a.decreased);
}

static void test_init_clamps_initial(void **state)
{
    (void)state;
    rsp_aimd_cfg c = cfg_std();
    rsp_aimd a;
    c.initial = 500;
    rsp_aimd_init(&a, &c);
    assert_int_equal(rsp_aimd_limit(&a), 200);
    c.initial = 0.2;
    rsp_aimd_init(&a, &c);
    assert_int_equal(rsp_aimd_limit(&a), 1);
}

static void test_limit_is_floor_and_at_least_one(void **state)
{
    (void)state;
    rsp_aimd_cfg c = cfg_std();
    c.initial = 7.99;
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    assert_int_equal(rsp_aimd_limit(&a), 7);
    c.min = 0;              /* a zero floor still admits one request */
    c.initial = 0;
    rsp_aimd_init(&a, &c);
    assert_int_equal(rsp_aimd_limit(&a), 1);
    c.min = 3;
    c.max = 0.5;            /* broken bounds: the floor wins */
    rsp_aimd_init(&a, &c);
    assert_int_equal(rsp_aimd_limit(&a), 3);
}

static void test_success_adds_increase_per_round(void **state)
{
    (void)state;
    rsp_aimd_cfg c = cfg_std();
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    successes(&a, 10, 0);                      /* one round at limit 10 */
    assert_true(a.limit > 10.9 && a.limit < 11.0);
    assert_int_equal(rsp_aimd_limit(&a), 10);

    c.increase = 3.0;
    rsp_aimd_init(&a, &c);
    successes(&a, 10, 0);
    assert_true(a.limit > 12.5 && a.limit < 13.0);
}

static void test_success_capped_at_max(void **state)
{
    (void)state;
    rsp_aimd_cfg c = cfg_std();
    c.max = 12;
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    for (int i = 0; i < 10000; i++)
        rsp_aimd_on_success(&a, (uint64_t)i, BUSY);
    assert_true(a.limit == 12.0);
    assert_int_equal(rsp_aimd_limit(&a), 12);
}

static void test_overload_multiplies_by_decrease(void **state)
{
    (void)state;
    rsp_aimd_cfg c = cfg_std();
    c.initial = 40;
    c.decrease = 0.7;
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    rsp_aimd_on_overload(&a, 5 * S, 0);
    assert_true(fabs(a.limit - 28.0) < 1e-9);
    assert_true(a.decreased);
    assert_int_equal(a.last_decrease_ns, 5 * S);
}

static void test_overload_floored_at_min(void **state)
{
    (void)state;
    rsp_aimd_cfg c = cfg_std();
    c.min = 4;
    c.initial = 6;
    c.cooldown_ns = 0;
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    for (uint64_t t = 0; t < 20; t++)
        rsp_aimd_on_overload(&a, t, 0);
    assert_true(a.limit == 4.0);
    assert_int_equal(rsp_aimd_limit(&a), 4);
}

/* -------------------------------------------------------------- cooldown */

static void test_cooldown_suppresses_second_decrease(void **state)
{
    (void)state;
    rsp_aimd a;
    init_cooling(&a);
    rsp_aimd_on_overload(&a, 10 * S, 0);
    assert_int_equal(rsp_aimd_limit(&a), 50);
    rsp_aimd_on_overload(&a, 10 * S, 0);
    rsp_aimd_on_overload(&a, 11 * S - 1, 0);
    assert_int_equal(rsp_aimd_limit(&a), 50);
    assert_int_equal(a.last_decrease_ns, 10 * S);   /* ignored ones do not extend it */
    rsp_aimd_on_overload(&a, 11 * S, 0);
    assert_int_equal(rsp_aimd_limit(&a), 25);
    assert_int_equal(a.last_decrease_ns, 11 * S);
}

static void test_first_overload_at_time_zero_decreases(void **state)
{
    (void)state;
    rsp_aimd a;
    init_cooling(&a);
    rsp_aimd_on_overload(&a, 0, 0);      /* no earlier decrease: no cooldown */
    assert_int_equal(rsp_aimd_limit(&a), 50);
    rsp_aimd_on_overload(&a, 1, 0);
    assert_int_equal(rsp_aimd_limit(&a), 50);
}

static void test_stale_overload_is_within_cooldown(void **state)
{
    (void)state;
    rsp_aimd a;
    init_cooling(&a);
    rsp_aimd_on_overload(&a, 10 * S, 0);
    rsp_aimd_on_overload(&a, 2 * S, 0);  /* older than the last decrease */
    assert_int_equal(rsp_aimd_limit(&a), 50);
    assert_int_equal(a.last_decrease_ns, 10 * S);
}

static void test_zero_cooldown_collapses_on_a_burst(void **state)
{
    (void)state;
    /* Why the cooldown exists: one window's 429s, counted separately,
     * halve the limit once per 429. */
    rsp_aimd_cfg c = cfg_std();
    c.initial = 100;
    c.cooldown_ns = 0;
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    sim_round(&a, RTT, 100);
    assert_int_equal(rsp_aimd_limit(&a), 1);

    c.cooldown_ns = RTT / 2;
    rsp_aimd_init(&a, &c);
    sim_round(&a, RTT, 100);
    assert_true(rsp_aimd_limit(&a) >= 50);
}

/* ----------------------------------------------------------- convergence */

static void test_converges_up_to_capacity_and_saws(void **state)
{
    (void)state;
    rsp_aimd_cfg c = cfg_std();
    c.initial = 1;
    sim_stats st = simulate_cfg(c);
    /* probes one past capacity, never further; falls to about half */
    assert_sawtooth(&st, 18, 20);
    assert_true(st.mean > 25.0 && st.mean < 32.0);
    /* about one overloaded round per sawtooth cycle (~19 rounds) */
    assert_true(st.overload_rounds >= 2000 / 25 && st.overload_rounds <= 2000 / 15);
}

static void test_converges_down_from_max(void **state)
{
    (void)state;
    rsp_aimd_cfg c = cfg_std();
    c.initial = 200;
    sim_stats st = simulate_cfg(c);
    assert_sawtooth(&st, 18, 20);
}

static void test_sawtooth_follows_decrease_factor(void **state)
{
    (void)state;
    rsp_aimd_cfg c = cfg_std();
    c.decrease = 0.8;
    sim_stats st = simulate_cfg(c);
    assert_sawtooth(&st, 29, 32);   /* 0.8 * ~39 */
}

static void test_tracks_a_moving_capacity(void **state)
{
    (void)state;
    /* The upstream's real limit changes; the learned limit follows by
     * reconfiguring nothing: just outcomes. Capacity drops to 10. */
    rsp_aimd_cfg c = cfg_std();
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    (void)simulate(&a, 200, 0);
    unsigned hi = 0;
    for (unsigned r = 0; r < 500; r++) {
        unsigned l = rsp_aimd_limit(&a);
        if (r >= 100 && l > hi)
            hi = l;
        sim_round_cap(&a, (uint64_t)(r + 1000) * RTT, l, 10);
    }
    assert_int_equal(hi, 11);
}

/* ---------------------------------------------------------------- bounds */

static void test_never_outside_min_max(void **state)
{
    (void)state;
    rsp_aimd_cfg c = { .min = 5, .max = 60, .initial = 20, .increase = 4.0,
                      .decrease = 0.3, .cooldown_ns = 10 * MS };
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    uint64_t seed = 42, t = 0;
    int hit_min = 0, hit_max = 0;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = splitmix64(&seed);
        t += r % (3 * MS);
        /* phases of mostly success and mostly overload */
        bool bad_phase = (i / 5000) % 2;
        if ((r >> 32) % 1000 < (bad_phase ? 700u : 1u))
            rsp_aimd_on_overload(&a, t, 0);
        else
            rsp_aimd_on_success(&a, t, BUSY);
        assert_true(a.limit >= 5.0 && a.limit <= 60.0);
        unsigned l = rsp_aimd_limit(&a);
        assert_true(l >= 5 && l <= 60);
        hit_min |= l == 5;
        hit_max |= l == 60;
    }
    /* the walk really reached both ends */
    assert_true(hit_min);
    assert_true(hit_max);
}

/* ----------------------------------------------------------- reconfigure */

static void test_reconfigure_keeps_learned_limit(void **state)
{
    (void)state;
    rsp_aimd_cfg c = cfg_std();
    c.initial = 30;
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    c.initial = 5;
    c.max = 100;
    rsp_aimd_reconfigure(&a, &c);
    assert_int_equal(rsp_aimd_limit(&a), 30);
    assert_int_equal((int)a.cfg.max, 100);
}

static void test_reconfigure_clamps_limit(void **state)
{
    (void)state;
    rsp_aimd_cfg c = cfg_std();
    c.initial = 30;
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    c.max = 20;
    rsp_aimd_reconfigure(&a, &c);
    assert_int_equal(rsp_aimd_limit(&a), 20);
    c.min = 25;
    c.max = 50;
    rsp_aimd_reconfigure(&a, &c);
    assert_int_equal(rsp_aimd_limit(&a), 25);
}

static void test_reconfigure_keeps_cooldown(void **state)
{
    (void)state;
    rsp_aimd a;
    rsp_aimd_cfg c = init_cooling(&a);
    rsp_aimd_on_overload(&a, 10 * S, 0);
    rsp_aimd_reconfigure(&a, &c);
    rsp_aimd_on_overload(&a, 10 * S + 1, 0);
    assert_int_equal(rsp_aimd_limit(&a), 50);
}

/* ---------------------------------------------------------------- check */

static void test_cfg_check(void **state)
{
    (void)state;
    rsp_aimd_cfg c = cfg_std();
    assert_int_equal(rsp_aimd_cfg_check(&c), 0);
    /* each case: the standard configuration with one field made invalid */
    enum { N_BAD = 6 };
    rsp_aimd_cfg bad[N_BAD] = { c, c, c, c, c, c };
    bad[0].decrease = 1.0;
    bad[1].decrease = 0.0;
    bad[2].increase = 0.0;
    bad[3].min = 0.0;
    bad[4].initial = 300;
    bad[5].max = NAN;
    for (int i = 0; i < N_BAD; i++) {
        if (rsp_aimd_cfg_check(&bad[i]) != RS_EINVAL)
            fail_msg("bad config case %d was accepted", i);
    }
}

/* ------------------------------------------- paced probing (issue #14) */

static rsp_aimd paced(void)
{
    rsp_aimd_cfg c = { .min = 1, .max = 64, .initial = 4, .increase = 1, .decrease = 0.5,
                       .cooldown_ns = 100000000ull, .probe_wait_ns = 5000000000ull,
                       .probe_wait_max_ns = 60000000000ull };
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    return a;
}

/* Successes until the limit stops growing (or n of them). */
static void grow(rsp_aimd *a, uint64_t now, int n)
{
    for (int i = 0; i < n; i++)
        rsp_aimd_on_success(a, now, BUSY);
}

static void test_a_level_that_failed_is_tried_again_only_after_the_wait(void **state)
{
    (void)state;

    rsp_aimd a = paced();
    uint64_t t = 1000 * S;
    grow(&a, t, 20);                       /* 4 -> 5 and beyond */
    unsigned level = rsp_aimd_limit(&a);
    assert_true(level >= 5);
    rsp_aimd_on_overload(&a, t, 0);           /* that level failed */
    assert_int_equal(a.ceiling, level);
    grow(&a, t + 1 * S, 1000);             /* regrows, but stops one below */
    assert_int_equal(rsp_aimd_limit(&a), level - 1);
    assert_int_equal(rsp_aimd_safe_limit(&a), level - 1);
    grow(&a, t + 5 * S, 1);                /* the wait is over: the probe */
    assert_int_equal(rsp_aimd_limit(&a), level);
    assert_int_equal(rsp_aimd_safe_limit(&a), level - 1);   /* the probe is not safe */
    rsp_aimd_on_overload(&a, t + 5 * S, 0);   /* and it fails again: twice the wait */
    grow(&a, t + 14 * S, 1000);
    assert_int_equal(rsp_aimd_limit(&a), level - 1);
    grow(&a, t + 15 * S, 1);
    assert_int_equal(rsp_aimd_limit(&a), level);
}

static void test_the_wait_doubles_to_its_cap_and_resets_when_a_level_above_holds(void **state)
{
    (void)state;

    rsp_aimd a = paced();
    uint64_t t = 1000 * S;
    grow(&a, t, 20);
    uint64_t waits[8];
    for (int k = 0; k < 8; k++) {
        rsp_aimd_on_overload(&a, t, 0);
        waits[k] = a.probe_after - t;
        grow(&a, t, 1000);                 /* regrown to one below the ceiling */
        t = a.probe_after;
        grow(&a, t, 1);                    /* the probe, at the ceiling */
    }
    assert_int_equal(waits[0], 5 * S);
    assert_int_equal(waits[1], 10 * S);
    assert_int_equal(waits[2], 20 * S);
    assert_int_equal(waits[3], 40 * S);
    assert_int_equal(waits[4], 60 * S);
    assert_int_equal(waits[7], 60 * S);
    /* the probe holds a whole round and more: the ceiling is forgotten */
    grow(&a, t, 1000);
    assert_int_equal(a.ceiling, 0);
    assert_int_equal(a.probe_wait, 5 * S);
    assert_int_equal(rsp_aimd_safe_limit(&a), rsp_aimd_limit(&a));
}

static void test_a_failed_paced_probe_costs_only_the_probe(void **state)
{
    (void)state;

    rsp_aimd a = paced();
    uint64_t t = 1000 * S;
    grow(&a, t, 20);
    unsigned level = rsp_aimd_limit(&a);
    rsp_aimd_on_overload(&a, t, 0);     /* first failure: halved */
    assert_int_equal(rsp_aimd_limit(&a), level / 2);
    for (int i = 0; i < 1000 && rsp_aimd_limit(&a) < level; i++)
        rsp_aimd_on_success(&a, t + 5 * S, BUSY);     /* the probe is due and made */
    assert_int_equal(rsp_aimd_limit(&a), level);
    rsp_aimd_on_overload(&a, t + 5 * S, 0);
    /* one below the ceiling, which held: not half of it */
    assert_int_equal(rsp_aimd_limit(&a), level - 1);
    assert_int_equal(a.ceiling, level);
}

static void test_a_limit_not_in_use_does_not_grow(void **state)
{
    (void)state;

    rsp_aimd_cfg c = { .min = 1, .max = 256, .initial = 8, .increase = 1, .decrease = 0.5,
                       .cooldown_ns = 1 * S };
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    /* one request at a time says nothing about a capacity of 8 or 80 */
    for (int i = 0; i < 100; i++)
        rsp_aimd_on_success(&a, 1000 * S, 1);
    assert_int_equal(rsp_aimd_limit(&a), 8);
    for (int i = 0; i < 9; i++)
        rsp_aimd_on_success(&a, 1000 * S, 5); /* over half of it in use: a round grows it */
    assert_int_equal(rsp_aimd_limit(&a), 9);
}

static void test_a_refusal_of_a_request_sent_after_the_decrease_is_a_new_event(void **state)
{
    (void)state;
    rsp_aimd_cfg c = { .min = 1, .max = 256, .initial = 16, .increase = 1, .decrease = 0.5,
                       .cooldown_ns = 1 * S };
    rsp_aimd a;
    rsp_aimd_init(&a, &c);
    uint64_t t = 1000 * S;
    rsp_aimd_on_overload(&a, t, t - 100 * MS);              /* 16 -> 8 */
    rsp_aimd_on_overload(&a, t + 1 * MS, t - 50 * MS);      /* sent before: same event */
    assert_int_equal(rsp_aimd_limit(&a), 8);
    /* sent after the decrease and refused too: 8 is still too many,
     * cooldown or not */
    rsp_aimd_on_overload(&a, t + 2 * MS, t + 1 * MS);
    assert_int_equal(rsp_aimd_limit(&a), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_level_that_failed_is_tried_again_only_after_the_wait),
        cmocka_unit_test(test_the_wait_doubles_to_its_cap_and_resets_when_a_level_above_holds),
        cmocka_unit_test(test_a_failed_paced_probe_costs_only_the_probe),
        cmocka_unit_test(test_a_limit_not_in_use_does_not_grow),
        cmocka_unit_test(test_a_refusal_of_a_request_sent_after_the_decrease_is_a_new_event),
        cmocka_unit_test(test_init_uses_initial),
        cmocka_unit_test(test_init_clamps_initial),
        cmocka_unit_test(test_limit_is_floor_and_at_least_one),
        cmocka_unit_test(test_success_adds_increase_per_round),
        cmocka_unit_test(test_success_capped_at_max),
        cmocka_unit_test(test_overload_multiplies_by_decrease),
        cmocka_unit_test(test_overload_floored_at_min),
        cmocka_unit_test(test_cooldown_suppresses_second_decrease),
        cmocka_unit_test(test_first_overload_at_time_zero_decreases),
        cmocka_unit_test(test_stale_overload_is_within_cooldown),
        cmocka_unit_test(test_zero_cooldown_collapses_on_a_burst),
        cmocka_unit_test(test_converges_up_to_capacity_and_saws),
        cmocka_unit_test(test_converges_down_from_max),
        cmocka_unit_test(test_sawtooth_follows_decrease_factor),
        cmocka_unit_test(test_tracks_a_moving_capacity),
        cmocka_unit_test(test_never_outside_min_max),
        cmocka_unit_test(test_reconfigure_keeps_learned_limit),
        cmocka_unit_test(test_reconfigure_clamps_limit),
        cmocka_unit_test(test_reconfigure_keeps_cooldown),
        cmocka_unit_test(test_cfg_check),
    };
    return cmocka_run_group_tests_name("aimd", tests, NULL, NULL);
}
