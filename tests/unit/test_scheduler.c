/*
 * test_scheduler.c — unit tests of the admission scheduler (sidecar/policy/scheduler.c).
 *
 * Each test builds its own scheduler and items and checks one behaviour.
 * Times are made up (the scheduler reads no clock), so a test can stand at
 * any instant. Some tests look inside rsp_sched (heap, passes) on purpose:
 * invariants and the renormalisation of the fair-share counters cannot be
 * seen from outside within a test's lifetime. The last test drives 100,000
 * random operations against a simple reference model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ringside.h"
#include "scheduler.h"

#define SEC 1000000000ull
#define FAR (1000000ull * SEC)   /* a deadline no test reaches */

/* ------------------------------------------------------------- helpers */

static void item_init(rsp_sched_item *it, int prio, uint64_t deadline_ns)
{
    memset(it, 0, sizeof *it);
    it->prio = (uint8_t)prio;
    it->deadline_ns = deadline_ns;
}

static rsp_sched_cfg cfg_make(uint32_t maxq, uint32_t w1, uint32_t w2, uint64_t aging_ns)
{
    rsp_sched_cfg c;
    rsp_sched_cfg_default(&c);
    for (int p = 0; p < 3; p++)
        c.max_queued[p] = maxq;
    c.weight[1] = w1;
    c.weight[2] = w2;
    c.aging_ns = aging_ns;
    return c;
}

static void push_ok(rsp_sched *s, rsp_sched_item *it, uint64_t now)
{
    assert_int_equal(rsp_sched_push(s, it, now), 0);
    assert_int_equal(it->queued, 1);
}

/* next() must return something; take it and return it. */
static rsp_sched_item *take_next(rsp_sched *s, uint64_t now, bool allow_p12)
{
    rsp_sched_item *it = rsp_sched_next(s, now, allow_p12 ? RSP_SCHED_ALL : RSP_SCHED_P0);
    assert_non_null(it);
    rsp_sched_take(s, it);
    assert_int_equal(it->queued, 0);
    return it;
}

/* Push `n` fresh items of class `prio` (deadline `deadline_ns`) at `now`, in order. */
static void push_class(rsp_sched *s, rsp_sched_item *items, int n, int prio,
                       uint64_t deadline_ns, uint64_t now)
{
    for (int i = 0; i < n; i++) {
        item_init(&items[i], prio, deadline_ns);
        push_ok(s, &items[i], now);
    }
}

/* The next `n` takes at `now` are items[0..n-1], in that order. */
static void take_expect(rsp_sched *s, rsp_sched_item *items, int n, uint64_t now)
{
    for (int i = 0; i < n; i++)
        assert_ptr_equal(take_next(s, now, true), &items[i]);
}

/* A backlog of both P1 and P2 that never runs dry: every taken item is pushed
 * back at its class's tail. Returns the number of P1 takes among `takes`. */
#define POOL 64
typedef struct backlog {
    rsp_sched s;
    rsp_sched_item p1[POOL], p2[POOL];
} backlog;

static backlog *backlog_new(uint32_t w1, uint32_t w2)
{
    backlog *b = calloc(1, sizeof *b);
    assert_non_null(b);
    rsp_sched_cfg c = cfg_make(POOL, w1, w2, 0);
    assert_int_equal(rsp_sched_init(&b->s, &c), 0);
    for (int i = 0; i < POOL; i++) {
        item_init(&b->p1[i], 1, FAR);
        item_init(&b->p2[i], 2, FAR);
    }
    return b;
}

static void backlog_fill(backlog *b, int prio)
{
    for (int i = 0; i < POOL; i++)
        push_ok(&b->s, prio == 1 ? &b->p1[i] : &b->p2[i], 0);
}

/* A backlog with both classes filled. */
static backlog *backlog_full(uint32_t w1, uint32_t w2)
{
    backlog *b = backlog_new(w1, w2);
    backlog_fill(b, 1);
    backlog_fill(b, 2);
    return b;
}

/* Give the backlog new weights (bounds stay POOL, aging off). */
static void backlog_reweight(backlog *b, uint32_t w1, uint32_t w2)
{
    rsp_sched_cfg c = cfg_make(POOL, w1, w2, 0);
    assert_int_equal(rsp_sched_reconfigure(&b->s, &c), 0);
}

static void backlog_free(backlog *b)
{
    rsp_sched_destroy(&b->s);
    free(b);
}

/* Take `takes` items, pushing each back; count takes per class. */
static void backlog_run(backlog *b, int takes, int *n1, int *n2)
{
    *n1 = *n2 = 0;
    for (int i = 0; i < takes; i++) {
        rsp_sched_item *it = take_next(&b->s, 0, true);
        if (it->prio == 1)
            (*n1)++;
        else if (it->prio == 2)
            (*n2)++;
        else
            fail_msg("P0 item out of nowhere");
        push_ok(&b->s, it, 0);
    }
}

/* Take `takes` items (pushing each back): after every n takes P1 has had
 * n*0.7 +- 1 of them. */
static void assert_prefix_split_70(backlog *b, int takes)
{
    int n1 = 0;
    for (int n = 1; n <= takes; n++) {
        rsp_sched_item *it = take_next(&b->s, 0, true);
        n1 += it->prio == 1;
        push_ok(&b->s, it, 0);
        double dev = n1 - 0.7 * n;
        if (dev > 1.0 || dev < -1.0)
            fail_msg("after %d takes P1 has %d", n, n1);
    }
}

/* Weights w1/w2, one of them 0: the zero-weight class (`starved`, 5 items,
 * queued first) is served only once the other (20 items) has run dry. */
static void assert_zero_weight_waits(uint32_t w1, uint32_t w2, int starved)
{
    rsp_sched s;
    rsp_sched_cfg c = cfg_make(100, w1, w2, 0);
    assert_int_equal(rsp_sched_init(&s, &c), 0);
    rsp_sched_item zero[5], other[20];
    push_class(&s, zero, 5, starved, FAR, 0);
    push_class(&s, other, 20, 3 - starved, FAR, 0);
    take_expect(&s, other, 20, 0);
    take_expect(&s, zero, 5, 0);
    rsp_sched_destroy(&s);
}

/* Weights 70/30, only the other class backlogged for 10000 takes, then
 * class `idle` floods: within the next 100 takes it gets its share (+-1),
 * not a burst of credit saved up while idle. */
static void assert_idle_class_banks_nothing(int idle)
{
    int busy = 3 - idle;
    int want = idle == 1 ? 70 : 30;
    backlog *b = backlog_new(70, 30);
    backlog_fill(b, busy);
    int n[3];
    backlog_run(b, 10000, &n[1], &n[2]);   /* `idle` idle all along */
    assert_int_equal(n[busy], 10000);
    backlog_fill(b, idle);                 /* `idle` floods */
    backlog_run(b, 100, &n[1], &n[2]);
    assert_in_range(n[idle], want - 1, want + 1);
    backlog_free(b);
}

static void assert_split(uint32_t w1, uint32_t w2, int takes)
{
    backlog *b = backlog_full(w1, w2);
    int n1, n2;
    backlog_run(b, takes, &n1, &n2);
    double share1 = (double)n1 / takes;
    double want1 = (double)w1 / (w1 + w2);
    if (share1 < want1 - 0.01 || share1 > want1 + 0.01)
        fail_msg("weights %u/%u: P1 got %d of %d takes (%.4f, want %.4f +- 0.01)",
                 w1, w2, n1, takes, share1, want1);
    assert_int_equal(n1 + n2, takes);
    backlog_free(b);
}

/* --------------------------------------------------------------- basics */

static void test_init_null_cfg_gives_defaults(void **state)
{
    (void)state;
    rsp_sched s;
    assert_int_equal(rsp_sched_init(&s, NULL), 0);
    for (int p = 0; p < 3; p++) {
        assert_int_equal(s.cfg.max_queued[p], RSP_SCHED_DEFAULT_MAX_QUEUED);
        assert_int_equal(rsp_sched_len(&s, p), 0);
    }
    assert_int_equal(s.cfg.weight[1], 70);
    assert_int_equal(s.cfg.weight[2], 30);
    assert_int_equal(s.cfg.aging_ns, 5 * SEC);
    assert_null(rsp_sched_next(&s, 0, RSP_SCHED_ALL));
    assert_null(rsp_sched_pop_expired(&s, UINT64_MAX));
    assert_int_equal(rsp_sched_next_deadline(&s), UINT64_MAX);
    assert_int_equal(rsp_sched_len(&s, -1), 0);
    assert_int_equal(rsp_sched_len(&s, 3), 0);
    rsp_sched_destroy(&s);
}

static void test_push_sets_enq_time_and_queued(void **state)
{
    (void)state;
    rsp_sched s;
    assert_int_equal(rsp_sched_init(&s, NULL), 0);
    rsp_sched_item a;
    item_init(&a, 1, FAR);
    push_ok(&s, &a, 12345);
    assert_int_equal(a.enq_ns, 12345);
    assert_int_equal(rsp_sched_len(&s, 1), 1);
    rsp_sched_destroy(&s);
}

static void test_fifo_within_class(void **state)
{
    (void)state;
    rsp_sched s;
    assert_int_equal(rsp_sched_init(&s, NULL), 0);
    enum { N = 50 };
    rsp_sched_item it[N];
    for (int i = 0; i < N; i++) {
        /* deadlines in reverse, so heap order would be the opposite of FIFO */
        item_init(&it[i], 1, FAR - (uint64_t)i);
        push_ok(&s, &it[i], (uint64_t)i);
    }
    for (int i = 0; i < N; i++) {
        assert_ptr_equal(take_next(&s, N, true), &it[i]);
        assert_int_equal(rsp_sched_len(&s, 1), N - 1 - i);
    }
    assert_null(rsp_sched_next(&s, N, RSP_SCHED_ALL));
    rsp_sched_destroy(&s);
}

static void test_p0_always_first(void **state)
{
    (void)state;
    rsp_sched s;
    rsp_sched_cfg c = cfg_make(100, 70, 30, 1);   /* aging 1 ns: P2 heads are "old" */
    assert_int_equal(rsp_sched_init(&s, &c), 0);
    rsp_sched_item p1[10], p2[10], p0[5];
    for (int i = 0; i < 10; i++) {
        item_init(&p2[i], 2, FAR);
        push_ok(&s, &p2[i], 0);
        item_init(&p1[i], 1, FAR);
        push_ok(&s, &p1[i], 0);
    }
    for (int i = 0; i < 5; i++) {
        item_init(&p0[i], 0, FAR);
        push_ok(&s, &p0[i], 100 * SEC);   /* youngest of all */
    }
    for (int i = 0; i < 5; i++)
        assert_ptr_equal(take_next(&s, 1000 * SEC, true), &p0[i]);
    /* a P0 arriving in the middle of P1/P2 service still goes next */
    rsp_sched_item late;
    item_init(&late, 0, FAR);
    assert_int_not_equal(take_next(&s, 1000 * SEC, true)->prio, 0);
    push_ok(&s, &late, 1000 * SEC);
    assert_ptr_equal(take_next(&s, 1000 * SEC, true), &late);
    rsp_sched_destroy(&s);
}

static void test_no_p12_returns_only_p0(void **state)
{
    (void)state;
    rsp_sched s;
    assert_int_equal(rsp_sched_init(&s, NULL), 0);
    rsp_sched_item a, b, z;
    item_init(&a, 1, FAR);
    item_init(&b, 2, FAR);
    item_init(&z, 0, FAR);
    push_ok(&s, &a, 0);
    push_ok(&s, &b, 0);
    assert_null(rsp_sched_next(&s, 100 * SEC, RSP_SCHED_P0));   /* even with P2 aged */
    push_ok(&s, &z, 0);
    assert_ptr_equal(rsp_sched_next(&s, 100 * SEC, RSP_SCHED_P0), &z);
    rsp_sched_take(&s, &z);
    assert_null(rsp_sched_next(&s, 100 * SEC, RSP_SCHED_P0));
    assert_non_null(rsp_sched_next(&s, 100 * SEC, RSP_SCHED_ALL));
    rsp_sched_destroy(&s);
}

/* A class left out of `allow` (no upstream takes it now) does not hold up
 * the other: its head is passed over, aged or not. */
static void test_a_class_left_out_is_passed_over(void **state)
{
    (void)state;
    rsp_sched s;
    assert_int_equal(rsp_sched_init(&s, NULL), 0);
    rsp_sched_item a, b, z;
    item_init(&a, 1, FAR);
    item_init(&b, 2, FAR);
    item_init(&z, 0, FAR);
    push_ok(&s, &b, 0);
    push_ok(&s, &a, 50 * SEC);
    /* the P2 head is aged and would go first... */
    assert_ptr_equal(rsp_sched_next(&s, 100 * SEC, RSP_SCHED_ALL), &b);
    /* ...unless P2 is left out */
    assert_ptr_equal(rsp_sched_next(&s, 100 * SEC, RSP_SCHED_P0 | RSP_SCHED_P1), &a);
    assert_ptr_equal(rsp_sched_next(&s, 100 * SEC, RSP_SCHED_P0 | RSP_SCHED_P2), &b);
    rsp_sched_take(&s, &a);
    assert_null(rsp_sched_next(&s, 100 * SEC, RSP_SCHED_P0 | RSP_SCHED_P1));
    push_ok(&s, &z, 100 * SEC);
    assert_ptr_equal(rsp_sched_next(&s, 100 * SEC, RSP_SCHED_P0), &z);
    assert_ptr_equal(rsp_sched_next(&s, 100 * SEC, RSP_SCHED_P2), &b);
    rsp_sched_destroy(&s);
}

static void test_next_has_no_side_effect(void **state)
{
    (void)state;
    backlog *b = backlog_full(70, 30);
    rsp_sched_item z;
    item_init(&z, 0, FAR);
    for (int i = 0; i < 1000; i++) {
        rsp_sched snap;
        memcpy(&snap, &b->s, sizeof snap);
        rsp_sched_item *first = rsp_sched_next(&b->s, (uint64_t)i * SEC, RSP_SCHED_ALL);
        for (int k = 0; k < 5; k++) {
            assert_ptr_equal(rsp_sched_next(&b->s, (uint64_t)i * SEC, RSP_SCHED_ALL), first);
            (void)rsp_sched_next(&b->s, (uint64_t)i * SEC, RSP_SCHED_P0);
        }
        assert_memory_equal(&snap, &b->s, sizeof snap);
        rsp_sched_take(&b->s, first);
        push_ok(&b->s, first, 0);
    }
    /* and peeking did not disturb the split */
    assert_in_range(b->s.stats.taken[1], 699, 701);
    assert_int_equal(b->s.stats.taken[1] + b->s.stats.taken[2], 1000);
    backlog_free(b);
}

/* ----------------------------------------------------------- fair share */

static void test_split_70_30_over_10000_takes(void **state)
{
    (void)state;
    assert_split(70, 30, 10000);
}

static void test_split_default_weights(void **state)
{
    (void)state;
    rsp_sched_cfg c;
    rsp_sched_cfg_default(&c);
    assert_split(c.weight[1], c.weight[2], 10000);
}

static void test_split_50_50(void **state)
{
    (void)state;
    assert_split(50, 50, 10000);
}

static void test_split_90_10(void **state)
{
    (void)state;
    assert_split(90, 10, 10000);
}

static void test_split_holds_in_every_prefix(void **state)
{
    (void)state;
    /* Deterministic stride order: after n takes P1 has had n*0.7 +- 1, for
     * every n, not only on average over a long run. */
    backlog *b = backlog_full(70, 30);
    assert_prefix_split_70(b, 10000);
    backlog_free(b);
}

static void test_weight_zero_only_when_other_empty(void **state)
{
    (void)state;
    assert_zero_weight_waits(70, 0, 2);
}

static void test_weight_zero_p1_yields_to_p2(void **state)
{
    (void)state;
    /* the other direction: a P1 of weight 0 waits for P2 to run dry */
    assert_zero_weight_waits(0, 30, 1);
}

static void test_both_weights_zero_split_evenly(void **state)
{
    (void)state;
    backlog *b = backlog_full(0, 0);
    int n1, n2;
    backlog_run(b, 1000, &n1, &n2);
    assert_int_equal(n1, 500);
    assert_int_equal(n2, 500);
    backlog_free(b);
}

static void test_reconfigure_changes_weights(void **state)
{
    (void)state;
    backlog *b = backlog_full(70, 30);
    int n1, n2;
    backlog_run(b, 1000, &n1, &n2);
    assert_int_equal(n1, 700);
    backlog_reweight(b, 90, 10);
    backlog_run(b, 1000, &n1, &n2);
    assert_in_range(n1, 899, 901);
    backlog_free(b);
}

static void test_reconfigure_weights_start_level(void **state)
{
    (void)state;
    /* Under 70/0 P2 is never charged while P1 runs ahead; once P2 gets a
     * weight it must not cash that in as thousands of takes in a row. */
    backlog *b = backlog_full(70, 0);
    int n1, n2;
    backlog_run(b, 5000, &n1, &n2);
    assert_int_equal(n1, 5000);
    backlog_reweight(b, 70, 30);
    backlog_run(b, 100, &n1, &n2);
    assert_in_range(n2, 29, 31);
    backlog_free(b);
}

static void test_reconfigure_bounds_keeps_fair_state(void **state)
{
    (void)state;
    /* A bound-only change (as a config reload does) must not reset the
     * order: the take sequence is the same as without the reload. */
    backlog *x = backlog_full(70, 30), *y = backlog_full(70, 30);
    int n1, n2;
    backlog_run(x, 5, &n1, &n2);
    backlog_run(y, 5, &n1, &n2);
    rsp_sched_cfg c = cfg_make(POOL + 10, 70, 30, 0);
    assert_int_equal(rsp_sched_reconfigure(&y->s, &c), 0);
    for (int i = 0; i < 50; i++) {
        rsp_sched_item *a = take_next(&x->s, 0, true), *bb = take_next(&y->s, 0, true);
        assert_int_equal(a->prio, bb->prio);
        push_ok(&x->s, a, 0);
        push_ok(&y->s, bb, 0);
    }
    backlog_free(x);
    backlog_free(y);
}

/* --------------------------------------------------------------- aging */

/* Weights 99/1 with both backlogged: after one P1 and one P2 take, the next
 * P2 is due only after ~99 more P1 takes. */
typedef struct aging_fx {
    rsp_sched s;
    rsp_sched_item p1[120], b, a;
} aging_fx;

static aging_fx *aging_setup(uint64_t aging_ns, uint64_t p1_enq)
{
    aging_fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    rsp_sched_cfg c = cfg_make(200, 99, 1, aging_ns);
    assert_int_equal(rsp_sched_init(&f->s, &c), 0);
    item_init(&f->b, 2, FAR);
    item_init(&f->a, 2, FAR);
    push_ok(&f->s, &f->b, 1 * SEC);
    push_ok(&f->s, &f->a, 1 * SEC);
    for (int i = 0; i < 120; i++) {
        item_init(&f->p1[i], 1, FAR);
        push_ok(&f->s, &f->p1[i], p1_enq);
    }
    /* at t = 2 s nothing is aged yet: plain weighted order */
    assert_ptr_equal(take_next(&f->s, 2 * SEC, true), &f->p1[0]);
    assert_ptr_equal(take_next(&f->s, 2 * SEC, true), &f->b);
    assert_ptr_equal(rsp_sched_next(&f->s, 2 * SEC, RSP_SCHED_ALL), &f->p1[1]);
    return f;
}

static void aging_free(aging_fx *f)
{
    rsp_sched_destroy(&f->s);
    free(f);
}

static void test_aging_old_p2_jumps_younger_p1(void **state)
{
    (void)state;
    aging_fx *f = aging_setup(5 * SEC, 1 * SEC + 1);   /* P1s 1 ns younger than a */
    /* exactly aging_ns old is not yet "older than" */
    assert_ptr_equal(rsp_sched_next(&f->s, 6 * SEC, RSP_SCHED_ALL), &f->p1[1]);
    assert_ptr_equal(take_next(&f->s, 6 * SEC + 1, true), &f->a);
    aging_free(f);
}

static void test_aging_off_p2_waits(void **state)
{
    (void)state;
    aging_fx *f = aging_setup(0, 1 * SEC + 1);
    int p1_before_a = 0;
    for (;;) {
        rsp_sched_item *it = take_next(&f->s, 3600 * SEC, true);
        if (it == &f->a)
            break;
        p1_before_a++;
    }
    assert_in_range(p1_before_a, 97, 99);
    aging_free(f);
}

static void test_aging_does_not_pass_older_p1(void **state)
{
    (void)state;
    aging_fx *f = aging_setup(5 * SEC, 0);   /* P1s older than a */
    assert_ptr_equal(rsp_sched_next(&f->s, 100 * SEC, RSP_SCHED_ALL), &f->p1[1]);
    aging_free(f);
}

static void test_aged_takes_are_charged_to_p2(void **state)
{
    (void)state;
    rsp_sched s;
    rsp_sched_cfg c = cfg_make(100, 50, 50, 5 * SEC);
    assert_int_equal(rsp_sched_init(&s, &c), 0);
    rsp_sched_item old2[4], p1[10], new2[10];
    push_class(&s, old2, 4, 2, FAR, 0);
    push_class(&s, p1, 10, 1, FAR, 6 * SEC);
    push_class(&s, new2, 10, 2, FAR, 6 * SEC);
    take_expect(&s, old2, 4, 6 * SEC);
    /* heads now equally old: weights decide, and P1 is owed 4 takes */
    take_expect(&s, p1, 4, 6 * SEC);
    rsp_sched_destroy(&s);
}

/* ---------------------------------------------------- no banked credit */

static void test_idle_p2_does_not_bank_credit(void **state)
{
    (void)state;
    assert_idle_class_banks_nothing(2);
}

static void test_idle_p1_does_not_bank_credit(void **state)
{
    (void)state;
    assert_idle_class_banks_nothing(1);
}

static void test_both_idle_then_return_split_fresh(void **state)
{
    (void)state;
    backlog *b = backlog_new(70, 30);
    backlog_fill(b, 1);
    int n1, n2;
    backlog_run(b, 5000, &n1, &n2);
    while (rsp_sched_next(&b->s, 0, RSP_SCHED_ALL))            /* P1 drains */
        take_next(&b->s, 0, true);
    backlog_fill(b, 2);                               /* P2 comes back first */
    backlog_fill(b, 1);
    /* They restart level (P1's last take counted in where P2 re-enters), and
     * a tie goes to P1. */
    assert_int_equal(rsp_sched_next(&b->s, 0, RSP_SCHED_ALL)->prio, 1);
    backlog_run(b, 100, &n1, &n2);
    assert_in_range(n1, 69, 71);
    backlog_free(b);
}

/* --------------------------------------------------------------- bounds */

static void test_bound_refuses_per_class(void **state)
{
    (void)state;
    rsp_sched s;
    rsp_sched_cfg c = cfg_make(0, 70, 30, 0);
    c.max_queued[0] = 2;
    c.max_queued[1] = 3;
    c.max_queued[2] = 4;
    assert_int_equal(rsp_sched_init(&s, &c), 0);
    rsp_sched_item it[3][5];
    for (int p = 0; p < 3; p++) {
        for (uint32_t i = 0; i < c.max_queued[p]; i++) {
            item_init(&it[p][i], p, FAR);
            push_ok(&s, &it[p][i], 0);
        }
        rsp_sched_item *extra = &it[p][c.max_queued[p]];
        item_init(extra, p, 77);
        rsp_sched_item before = *extra;
        assert_int_equal(rsp_sched_push(&s, extra, 9), RS_EQUEUEFULL);
        assert_memory_equal(&before, extra, sizeof before);   /* untouched */
        assert_int_equal(rsp_sched_len(&s, p), c.max_queued[p]);
        assert_int_equal(s.stats.refused[p], 1);
    }
    assert_int_equal(rsp_sched_next_deadline(&s), FAR);
    rsp_sched_destroy(&s);
}

static void test_full_class_accepts_after_take(void **state)
{
    (void)state;
    rsp_sched s;
    rsp_sched_cfg c = cfg_make(2, 70, 30, 0);
    assert_int_equal(rsp_sched_init(&s, &c), 0);
    rsp_sched_item a, b, x;
    item_init(&a, 1, FAR);
    item_init(&b, 1, FAR);
    item_init(&x, 1, FAR);
    push_ok(&s, &a, 0);
    push_ok(&s, &b, 0);
    assert_int_equal(rsp_sched_push(&s, &x, 0), RS_EQUEUEFULL);
    assert_ptr_equal(take_next(&s, 0, true), &a);
    push_ok(&s, &x, 0);
    assert_int_equal(rsp_sched_push(&s, &a, 0), RS_EQUEUEFULL);
    rsp_sched_destroy(&s);
}

static void test_zero_bound_refuses_class(void **state)
{
    (void)state;
    rsp_sched s;
    rsp_sched_cfg c = cfg_make(5, 70, 30, 0);
    c.max_queued[2] = 0;
    assert_int_equal(rsp_sched_init(&s, &c), 0);
    rsp_sched_item a;
    item_init(&a, 2, FAR);
    assert_int_equal(rsp_sched_push(&s, &a, 0), RS_EQUEUEFULL);
    item_init(&a, 1, FAR);
    push_ok(&s, &a, 0);
    rsp_sched_destroy(&s);
}

static void test_push_refuses_bad_prio_and_double_push(void **state)
{
    (void)state;
    rsp_sched s;
    assert_int_equal(rsp_sched_init(&s, NULL), 0);
    rsp_sched_item a;
    item_init(&a, 3, FAR);
    assert_int_equal(rsp_sched_push(&s, &a, 0), RS_EINVAL);
    assert_int_equal(a.queued, 0);
    item_init(&a, 1, FAR);
    push_ok(&s, &a, 0);
    assert_int_equal(rsp_sched_push(&s, &a, 5), RS_EINVAL);
    assert_int_equal(rsp_sched_len(&s, 1), 1);
    assert_int_equal(a.enq_ns, 0);
    assert_ptr_equal(take_next(&s, 0, true), &a);
    assert_null(rsp_sched_next(&s, 0, RSP_SCHED_ALL));
    rsp_sched_destroy(&s);
}

/* ------------------------------------------------------------ deadlines */

static void test_pop_expired_in_deadline_order_across_classes(void **state)
{
    (void)state;
    rsp_sched s;
    assert_int_equal(rsp_sched_init(&s, NULL), 0);
    rsp_sched_item it[6];
    const int prio[6] = {2, 0, 1, 1, 0, 2};
    const uint64_t dl[6] = {100, 300, 200, 500, 50, 150};
    for (int i = 0; i < 6; i++) {
        item_init(&it[i], prio[i], dl[i]);
        push_ok(&s, &it[i], 0);
    }
    const uint64_t want[4] = {50, 100, 150, 200};
    for (int k = 0; k < 4; k++) {
        rsp_sched_item *e = rsp_sched_pop_expired(&s, 250);
        assert_non_null(e);
        assert_int_equal(e->deadline_ns, want[k]);
        assert_int_equal(e->queued, 0);
    }
    assert_null(rsp_sched_pop_expired(&s, 250));
    assert_int_equal(rsp_sched_len(&s, 0), 1);
    assert_int_equal(rsp_sched_len(&s, 1), 1);
    assert_int_equal(rsp_sched_len(&s, 2), 0);
    rsp_sched_destroy(&s);
}

static void test_pop_expired_only_expired(void **state)
{
    (void)state;
    rsp_sched s;
    assert_int_equal(rsp_sched_init(&s, NULL), 0);
    rsp_sched_item a, b;
    item_init(&a, 1, 1000);
    item_init(&b, 2, 2000);
    push_ok(&s, &a, 0);
    push_ok(&s, &b, 0);
    assert_null(rsp_sched_pop_expired(&s, 999));
    assert_ptr_equal(rsp_sched_pop_expired(&s, 1000), &a);   /* deadline == now is expired */
    assert_null(rsp_sched_pop_expired(&s, 1999));
    assert_int_equal(rsp_sched_len(&s, 2), 1);
    assert_ptr_equal(rsp_sched_pop_expired(&s, UINT64_MAX), &b);
    assert_null(rsp_sched_pop_expired(&s, UINT64_MAX));
    assert_int_equal(s.stats.expired[1], 1);
    assert_int_equal(s.stats.expired[2], 1);
    rsp_sched_destroy(&s);
}

static void test_pop_expired_removes_from_fifo(void **state)
{
    (void)state;
    rsp_sched s;
    assert_int_equal(rsp_sched_init(&s, NULL), 0);
    rsp_sched_item it[5];
    for (int i = 0; i < 5; i++) {
        item_init(&it[i], 1, (i == 0 || i == 2 || i == 4) ? 10 : FAR);
        push_ok(&s, &it[i], 0);
    }
    for (int k = 0; k < 3; k++)
        assert_non_null(rsp_sched_pop_expired(&s, 10));
    assert_int_equal(rsp_sched_len(&s, 1), 2);
    for (int i = 0; i < 5; i += 2) {
        assert_null(it[i].next);
        assert_null(it[i].prev);
    }
    assert_ptr_equal(take_next(&s, 10, true), &it[1]);
    assert_ptr_equal(take_next(&s, 10, true), &it[3]);
    assert_null(rsp_sched_next(&s, 10, RSP_SCHED_ALL));
    rsp_sched_destroy(&s);
}

static void test_next_deadline(void **state)
{
    (void)state;
    rsp_sched s;
    assert_int_equal(rsp_sched_init(&s, NULL), 0);
    assert_int_equal(rsp_sched_next_deadline(&s), UINT64_MAX);
    rsp_sched_item a, b, c;
    item_init(&a, 1, 500);
    item_init(&b, 2, 300);
    item_init(&c, 0, 400);
    push_ok(&s, &a, 0);
    assert_int_equal(rsp_sched_next_deadline(&s), 500);
    push_ok(&s, &b, 0);
    assert_int_equal(rsp_sched_next_deadline(&s), 300);
    push_ok(&s, &c, 0);
    assert_int_equal(rsp_sched_next_deadline(&s), 300);
    rsp_sched_remove(&s, &b);
    assert_int_equal(rsp_sched_next_deadline(&s), 400);
    rsp_sched_take(&s, &c);
    assert_int_equal(rsp_sched_next_deadline(&s), 500);
    rsp_sched_take(&s, &a);
    assert_int_equal(rsp_sched_next_deadline(&s), UINT64_MAX);
    rsp_sched_destroy(&s);
}

/* --------------------------------------------------------------- remove */

static void test_remove_from_middle_of_queue(void **state)
{
    (void)state;
    rsp_sched s;
    assert_int_equal(rsp_sched_init(&s, NULL), 0);
    rsp_sched_item it[5];
    push_class(&s, it, 5, 2, FAR, 0);
    rsp_sched_remove(&s, &it[2]);
    assert_int_equal(it[2].queued, 0);
    assert_null(it[2].next);
    assert_null(it[2].prev);
    assert_int_equal(rsp_sched_len(&s, 2), 4);
    rsp_sched_remove(&s, &it[4]);   /* tail */
    rsp_sched_remove(&s, &it[0]);   /* head */
    assert_int_equal(s.stats.removed[2], 3);
    assert_int_equal(s.stats.taken[2], 0);
    assert_ptr_equal(take_next(&s, 0, true), &it[1]);
    assert_ptr_equal(take_next(&s, 0, true), &it[3]);
    assert_null(rsp_sched_next(&s, 0, RSP_SCHED_ALL));
    /* a removed tail must not linger as the tail */
    rsp_sched_item z;
    item_init(&z, 2, FAR);
    push_ok(&s, &z, 0);
    assert_ptr_equal(take_next(&s, 0, true), &z);
    rsp_sched_destroy(&s);
}

static void test_remove_from_heap(void **state)
{
    (void)state;
    rsp_sched s;
    assert_int_equal(rsp_sched_init(&s, NULL), 0);
    rsp_sched_item it[20];
    for (int i = 0; i < 20; i++) {
        item_init(&it[i], i % 3, 1000 + (uint64_t)((i * 7) % 20));
        push_ok(&s, &it[i], 0);
    }
    /* it[0] has the earliest deadline (1000); it[3] = 1001, it[6] = 1002 */
    rsp_sched_remove(&s, &it[0]);
    rsp_sched_remove(&s, &it[6]);
    assert_int_equal(rsp_sched_next_deadline(&s), 1001);
    uint64_t last = 0;
    int n = 0;
    rsp_sched_item *e;
    while ((e = rsp_sched_pop_expired(&s, UINT64_MAX))) {
        assert_true(e != &it[0] && e != &it[6]);
        assert_true(e->deadline_ns >= last);
        last = e->deadline_ns;
        n++;
    }
    assert_int_equal(n, 18);
    rsp_sched_destroy(&s);
}

static void test_remove_or_take_unqueued_is_noop(void **state)
{
    (void)state;
    rsp_sched s, other;
    assert_int_equal(rsp_sched_init(&s, NULL), 0);
    assert_int_equal(rsp_sched_init(&other, NULL), 0);
    rsp_sched_item a, b, stray;
    item_init(&a, 1, FAR);
    item_init(&b, 1, FAR);
    item_init(&stray, 1, FAR);
    push_ok(&s, &a, 0);
    push_ok(&other, &b, 0);   /* queued, but in another scheduler */
    rsp_sched snap;
    memcpy(&snap, &s, sizeof snap);
    rsp_sched_remove(&s, &stray);
    rsp_sched_take(&s, &stray);
    rsp_sched_remove(&s, &b);
    rsp_sched_take(&s, &b);
    assert_memory_equal(&snap, &s, sizeof snap);
    assert_int_equal(b.queued, 1);
    rsp_sched_remove(&s, &a);
    rsp_sched_remove(&s, &a);
    assert_int_equal(s.stats.removed[1], 1);
    assert_int_equal(rsp_sched_len(&s, 1), 0);
    rsp_sched_destroy(&s);
    rsp_sched_destroy(&other);
}

/* ---------------------------------------------------------- reconfigure */

static void test_reconfigure_lowering_bound_keeps_items(void **state)
{
    (void)state;
    rsp_sched s;
    rsp_sched_cfg c = cfg_make(10, 70, 30, 0);
    assert_int_equal(rsp_sched_init(&s, &c), 0);
    rsp_sched_item it[8], x;
    push_class(&s, it, 8, 1, FAR, 0);
    c.max_queued[1] = 3;
    assert_int_equal(rsp_sched_reconfigure(&s, &c), 0);
    assert_int_equal(rsp_sched_len(&s, 1), 8);
    item_init(&x, 1, FAR);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(rsp_sched_push(&s, &x, 0), RS_EQUEUEFULL);
        assert_ptr_equal(take_next(&s, 0, true), &it[i]);
    }
    assert_int_equal(rsp_sched_len(&s, 1), 2);
    push_ok(&s, &x, 0);
    assert_ptr_equal(take_next(&s, 0, true), &it[6]);
    assert_ptr_equal(take_next(&s, 0, true), &it[7]);
    assert_ptr_equal(take_next(&s, 0, true), &x);
    rsp_sched_destroy(&s);
}

static void test_reconfigure_grows_heap_for_classes_over_bound(void **state)
{
    (void)state;
    /* 10+10 queued under bounds 10/10/10, then bounds 1/1/28: the sum of the
     * new bounds (30) is less than what may be queued (10+10+28). */
    rsp_sched s;
    rsp_sched_cfg c = cfg_make(10, 70, 30, 0);
    assert_int_equal(rsp_sched_init(&s, &c), 0);
    rsp_sched_item it[48];
    for (int i = 0; i < 20; i++) {
        item_init(&it[i], i < 10 ? 0 : 1, FAR - (uint64_t)i);
        push_ok(&s, &it[i], 0);
    }
    c.max_queued[0] = 1;
    c.max_queued[1] = 1;
    c.max_queued[2] = 28;
    assert_int_equal(rsp_sched_reconfigure(&s, &c), 0);
    for (int i = 20; i < 48; i++) {
        item_init(&it[i], 2, (uint64_t)i);
        push_ok(&s, &it[i], 0);
    }
    assert_int_equal(rsp_sched_len(&s, 2), 28);
    assert_int_equal(rsp_sched_next_deadline(&s), 20);
    int n = 0;
    while (rsp_sched_pop_expired(&s, UINT64_MAX))
        n++;
    assert_int_equal(n, 48);
    rsp_sched_destroy(&s);
}

/* ------------------------------------------------- long-run arithmetic */

static void test_renormalisation_keeps_split(void **state)
{
    (void)state;
    backlog *b = backlog_full(70, 30);
    /* Stand ~2500 takes before the renormalisation point, as after decades
     * of service, with P1 and P2 level. */
    const uint64_t start = (1ull << 62) - 2500ull * b->s.stride[1];
    b->s.pass[1] = b->s.pass[2] = b->s.vtime = start;
    assert_prefix_split_70(b, 10000);
    /* it did shift down */
    assert_true(b->s.pass[1] < (1ull << 40));
    assert_true(b->s.pass[2] < (1ull << 40));
    backlog_free(b);
}

static void test_aging_debt_is_bounded(void **state)
{
    (void)state;
    /* One P1 head that is always younger than an endless stream of aged P2
     * heads: every take is an aged P2 take. P2's pass must stop running
     * away from P1's, or it would eventually wrap. */
    rsp_sched s;
    rsp_sched_cfg c = cfg_make(10, 70, 30, 5 * SEC);
    assert_int_equal(rsp_sched_init(&s, &c), 0);
    rsp_sched_item p1, p2[2];
    item_init(&p1, 1, FAR);
    push_ok(&s, &p1, 1000000 * SEC);
    push_class(&s, p2, 2, 2, FAR, 0);
    for (int i = 0; i < 100000; i++) {
        rsp_sched_item *it = take_next(&s, 2000000 * SEC, true);
        assert_int_equal(it->prio, 2);
        push_ok(&s, it, (uint64_t)i);
    }
    assert_true(s.pass[2] > s.pass[1]);
    assert_true(s.pass[2] - s.pass[1] <= 1025ull << 32);
    rsp_sched_destroy(&s);
}

static void test_stats_count_each_outcome(void **state)
{
    (void)state;
    rsp_sched s;
    rsp_sched_cfg c = cfg_make(2, 70, 30, 0);
    assert_int_equal(rsp_sched_init(&s, &c), 0);
    rsp_sched_item a, b, d, e;
    item_init(&a, 0, FAR);
    item_init(&b, 0, 5);
    item_init(&d, 0, FAR);
    item_init(&e, 2, FAR);
    push_ok(&s, &a, 0);
    push_ok(&s, &b, 0);
    assert_int_equal(rsp_sched_push(&s, &d, 0), RS_EQUEUEFULL);
    assert_ptr_equal(rsp_sched_pop_expired(&s, 5), &b);
    push_ok(&s, &e, 0);
    rsp_sched_take(&s, &a);
    rsp_sched_remove(&s, &e);
    assert_int_equal(s.stats.pushed[0], 2);
    assert_int_equal(s.stats.refused[0], 1);
    assert_int_equal(s.stats.expired[0], 1);
    assert_int_equal(s.stats.taken[0], 1);
    assert_int_equal(s.stats.pushed[2], 1);
    assert_int_equal(s.stats.removed[2], 1);
    assert_int_equal(s.stats.taken[2], 0);
    rsp_sched_destroy(&s);
}

/* --------------------------------------------------------- model check */

#define M_ITEMS 256
#define M_OPS   100000

typedef struct model {
    int q[3][M_ITEMS];      /* FIFO of item indices per class */
    int n[3];
    bool queued[M_ITEMS];
    uint32_t bound[3];
} model;

static uint64_t rng_state;
static uint64_t rng(void)
{
    /* xorshift64*: fixed seed, same run every time */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static uint32_t rnd(uint32_t n) { return (uint32_t)(rng() % n); }

static void model_del(model *m, int idx, int prio)
{
    for (int k = 0; k < m->n[prio]; k++) {
        if (m->q[prio][k] == idx) {
            memmove(&m->q[prio][k], &m->q[prio][k + 1],
                    (size_t)(m->n[prio] - k - 1) * sizeof(int));
            m->n[prio]--;
            m->queued[idx] = false;
            return;
        }
    }
    fail_msg("model: item %d not in class %d", idx, prio);
}

static void model_check(const rsp_sched *s, const model *m, rsp_sched_item *items)
{
    uint32_t total = 0;
    uint64_t min_dl = UINT64_MAX;
    for (int p = 0; p < 3; p++) {
        assert_int_equal(rsp_sched_len(s, p), m->n[p]);
        total += (uint32_t)m->n[p];
        const rsp_sched_item *prev = NULL, *it = s->head[p];
        for (int k = 0; k < m->n[p]; k++) {
            assert_ptr_equal(it, &items[m->q[p][k]]);
            assert_ptr_equal(it->prev, prev);
            assert_int_equal(it->prio, p);
            if (it->deadline_ns < min_dl)
                min_dl = it->deadline_ns;
            prev = it;
            it = it->next;
        }
        assert_null(it);
        assert_ptr_equal(s->tail[p], prev);
    }
    for (int i = 0; i < M_ITEMS; i++)
        assert_int_equal(items[i].queued, m->queued[i]);
    assert_int_equal(s->dl.n, total);
    assert_true(s->dl.n <= s->dl.cap);
    for (uint32_t i = 0; i < s->dl.n; i++) {
        const rsp_sched_item *hi = (const rsp_sched_item *)(const void *)
            ((const char *)s->dl.a[i] - offsetof(rsp_sched_item, dl));
        assert_int_equal(s->dl.a[i]->idx, i);
        assert_int_equal(hi->queued, 1);
        assert_int_equal(s->dl.a[i]->key, hi->deadline_ns);
        if (i > 0)
            assert_true(s->dl.a[(i - 1) / 2]->key <= s->dl.a[i]->key);
    }
    assert_int_equal(rsp_sched_next_deadline(s), min_dl);
}

static rsp_sched_item *model_head(const model *m, rsp_sched_item *items, int p)
{
    return m->n[p] ? &items[m->q[p][0]] : NULL;
}

static void test_model_random_operations(void **state)
{
    (void)state;
    rng_state = 0x9E3779B97F4A7C15ull;
    rsp_sched_item *items = calloc(M_ITEMS, sizeof *items);
    model *m = calloc(1, sizeof *m);
    assert_non_null(items);
    assert_non_null(m);
    rsp_sched s;
    rsp_sched_cfg c = cfg_make(60, 70, 30, 2000);
    assert_int_equal(rsp_sched_init(&s, &c), 0);
    for (int p = 0; p < 3; p++)
        m->bound[p] = c.max_queued[p];
    uint64_t now = 1;
    uint64_t counts[8] = {0};

    for (int op = 0; op < M_OPS; op++) {
        now += rnd(50);
        uint32_t r = rnd(1000);
        if (r < 420) {                                   /* push */
            int idx = (int)rnd(M_ITEMS);
            rsp_sched_item *it = &items[idx];
            if (m->queued[idx]) {
                rsp_sched_item before = *it;
                assert_int_equal(rsp_sched_push(&s, it, now), RS_EINVAL);
                assert_memory_equal(&before, it, sizeof before);
                counts[0]++;
            } else {
                /* P0 rarer, as in life, so P1/P2 get served */
                int p = rnd(10) == 0 ? 0 : 1 + (int)rnd(2);
                it->prio = (uint8_t)p;
                it->deadline_ns = now + rnd(4000);
                if ((uint32_t)m->n[p] >= m->bound[p]) {
                    rsp_sched_item before = *it;
                    assert_int_equal(rsp_sched_push(&s, it, now), RS_EQUEUEFULL);
                    assert_memory_equal(&before, it, sizeof before);
                    counts[1]++;
                } else {
                    assert_int_equal(rsp_sched_push(&s, it, now), 0);
                    assert_int_equal(it->enq_ns, now);
                    m->q[p][m->n[p]++] = idx;
                    m->queued[idx] = true;
                    counts[2]++;
                }
            }
        } else if (r < 700) {                            /* next + take */
            bool allow = rnd(8) != 0;
            rsp_sched_item *h0 = model_head(m, items, 0);
            rsp_sched_item *h1 = model_head(m, items, 1);
            rsp_sched_item *h2 = model_head(m, items, 2);
            rsp_sched_item *got = rsp_sched_next(&s, now, allow ? RSP_SCHED_ALL : RSP_SCHED_P0);
            if (h0) {
                assert_ptr_equal(got, h0);
            } else if (!allow || (!h1 && !h2)) {
                assert_null(got);
            } else if (h2 && s.cfg.aging_ns && now - h2->enq_ns > s.cfg.aging_ns &&
                       (!h1 || h1->enq_ns > h2->enq_ns)) {
                assert_ptr_equal(got, h2);
                counts[3]++;
            } else if (!h1 || !h2) {
                assert_ptr_equal(got, h1 ? h1 : h2);
            } else {
                assert_true(got == h1 || got == h2);
            }
            if (got) {
                int idx = (int)(got - items);
                model_del(m, idx, got->prio);
                rsp_sched_take(&s, got);
                counts[4]++;
            }
        } else if (r < 850) {                            /* remove (maybe unqueued) */
            int idx = (int)rnd(M_ITEMS);
            if (m->queued[idx])
                model_del(m, idx, items[idx].prio);
            rsp_sched_remove(&s, &items[idx]);
            counts[5]++;
        } else if (r < 995) {                            /* expire everything due */
            rsp_sched_item *e;
            while ((e = rsp_sched_pop_expired(&s, now))) {
                assert_true(e->deadline_ns <= now);
                int idx = (int)(e - items);
                assert_true(m->queued[idx]);
                for (int i = 0; i < M_ITEMS; i++)   /* earliest first */
                    if (m->queued[i])
                        assert_true(items[i].deadline_ns >= e->deadline_ns);
                model_del(m, idx, e->prio);
                counts[6]++;
            }
            for (int i = 0; i < M_ITEMS; i++)
                if (m->queued[i])
                    assert_true(items[i].deadline_ns > now);
        } else {                                         /* reconfigure */
            for (int p = 0; p < 3; p++)
                c.max_queued[p] = rnd(120);
            c.weight[1] = rnd(100);
            c.weight[2] = rnd(100);
            c.aging_ns = rnd(3) ? rnd(5000) : 0;
            assert_int_equal(rsp_sched_reconfigure(&s, &c), 0);
            for (int p = 0; p < 3; p++)
                m->bound[p] = c.max_queued[p];
            counts[7]++;
        }
        model_check(&s, m, items);
    }
    /* every kind of operation really happened, and often */
    for (int k = 0; k < 8; k++)
        if (counts[k] < 100)
            fail_msg("operation kind %d ran only %llu times", k, (unsigned long long)counts[k]);
    rsp_sched_destroy(&s);
    free(m);
    free(items);
}

/* ------------------------------------------- P0's reserve (issue #14) */

static void test_p0_keeps_a_slot_whenever_there_are_two(void **state)
{
    (void)state;
    /* the old (uint32_t)(cap * 0.2) gave P0 nothing below 5 */
    assert_int_equal(rsp_sched_p12_room(4, 0, 0.2), 3);
    assert_int_equal(rsp_sched_p12_room(2, 0, 0.2), 1);
    assert_int_equal(rsp_sched_p12_room(10, 0, 0.2), 8);
    assert_int_equal(rsp_sched_p12_room(11, 0, 0.2), 8);   /* ceil(2.2) = 3 */
    /* one slot: P1/P2 must still run; no share: nothing reserved below two */
    assert_int_equal(rsp_sched_p12_room(1, 0, 0.2), 1);
    assert_int_equal(rsp_sched_p12_room(0, 0, 0.2), 0);
    assert_int_equal(rsp_sched_p12_room(100, 0, 0), 99);
    /* a share near one still leaves P1/P2 a slot */
    assert_int_equal(rsp_sched_p12_room(4, 0, 0.9), 1);
    /* probe slots go to P1/P2 on top */
    assert_int_equal(rsp_sched_p12_room(4, 1, 0.2), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p0_keeps_a_slot_whenever_there_are_two),
        cmocka_unit_test(test_init_null_cfg_gives_defaults),
        cmocka_unit_test(test_push_sets_enq_time_and_queued),
        cmocka_unit_test(test_fifo_within_class),
        cmocka_unit_test(test_p0_always_first),
        cmocka_unit_test(test_no_p12_returns_only_p0),
        cmocka_unit_test(test_a_class_left_out_is_passed_over),
        cmocka_unit_test(test_next_has_no_side_effect),
        cmocka_unit_test(test_split_70_30_over_10000_takes),
        cmocka_unit_test(test_split_default_weights),
        cmocka_unit_test(test_split_50_50),
        cmocka_unit_test(test_split_90_10),
        cmocka_unit_test(test_split_holds_in_every_prefix),
        cmocka_unit_test(test_weight_zero_only_when_other_empty),
        cmocka_unit_test(test_weight_zero_p1_yields_to_p2),
        cmocka_unit_test(test_both_weights_zero_split_evenly),
        cmocka_unit_test(test_reconfigure_changes_weights),
        cmocka_unit_test(test_reconfigure_weights_start_level),
        cmocka_unit_test(test_reconfigure_bounds_keeps_fair_state),
        cmocka_unit_test(test_aging_old_p2_jumps_younger_p1),
        cmocka_unit_test(test_aging_off_p2_waits),
        cmocka_unit_test(test_aging_does_not_pass_older_p1),
        cmocka_unit_test(test_aged_takes_are_charged_to_p2),
        cmocka_unit_test(test_idle_p2_does_not_bank_credit),
        cmocka_unit_test(test_idle_p1_does_not_bank_credit),
        cmocka_unit_test(test_both_idle_then_return_split_fresh),
        cmocka_unit_test(test_bound_refuses_per_class),
        cmocka_unit_test(test_full_class_accepts_after_take),
        cmocka_unit_test(test_zero_bound_refuses_class),
        cmocka_unit_test(test_push_refuses_bad_prio_and_double_push),
        cmocka_unit_test(test_pop_expired_in_deadline_order_across_classes),
        cmocka_unit_test(test_pop_expired_only_expired),
        cmocka_unit_test(test_pop_expired_removes_from_fifo),
        cmocka_unit_test(test_next_deadline),
        cmocka_unit_test(test_remove_from_middle_of_queue),
        cmocka_unit_test(test_remove_from_heap),
        cmocka_unit_test(test_remove_or_take_unqueued_is_noop),
        cmocka_unit_test(test_reconfigure_lowering_bound_keeps_items),
        cmocka_unit_test(test_reconfigure_grows_heap_for_classes_over_bound),
        cmocka_unit_test(test_renormalisation_keeps_split),
        cmocka_unit_test(test_aging_debt_is_bounded),
        cmocka_unit_test(test_stats_count_each_outcome),
        cmocka_unit_test(test_model_random_operations),
    };
    return cmocka_run_group_tests_name("sched", tests, NULL, NULL);
}
