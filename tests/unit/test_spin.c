/* test_spin.c — when busy-polling before sleep is allowed (core/proto/spin.h). */
#include "spin.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define US 1000u

static void feed(rs__spin *s, uint64_t gap_ns, int n)
{
    for (int i = 0; i < n; i++)
        rs__spin_observe(s, gap_ns);
}

static void test_back_to_back_work_spins(void **state)
{
    (void)state;
    rs__spin s;
    rs__spin_init(&s, 50 * US);
    assert_int_equal(rs__spin_window(&s), 0);   /* nothing seen yet: sleep */
    feed(&s, 2 * US, 20);
    assert_int_equal(rs__spin_window(&s), 50 * US);
}

static void test_work_farther_apart_than_the_window_sleeps(void **state)
{
    (void)state;
    rs__spin s;
    rs__spin_init(&s, 50 * US);
    feed(&s, 2 * US, 20);
    feed(&s, 150 * US, 20);   /* a caller at ~7k calls/s, one at a time */
    assert_int_equal(rs__spin_window(&s), 0);
    feed(&s, 40 * US, 40);    /* just within the window */
    assert_int_equal(rs__spin_window(&s), 50 * US);
}

static void test_a_long_idle_time_is_forgotten_within_a_few_requests(void **state)
{
    (void)state;
    rs__spin s;
    rs__spin_init(&s, 50 * US);
    feed(&s, 2 * US, 20);
    feed(&s, 60ull * 1000000000u, 10);   /* calls a minute apart */
    assert_int_equal(rs__spin_window(&s), 0);
    int n = 0;
    while (rs__spin_window(&s) == 0 && n < 100) {
        rs__spin_observe(&s, 2 * US);
        n++;
    }
    assert_true(n <= 12);
}

static void test_a_client_not_spinning_probes_every_eighth_wait(void **state)
{
    (void)state;
    rs__spin s;
    rs__spin_init(&s, 50 * US);
    feed(&s, 500 * US, 20);   /* answers far apart: no spin... */
    int spins = 0;
    for (int i = 0; i < 64; i++)
        spins += rs__spin_window_probing(&s) == 50 * US;
    assert_int_equal(spins, 8);   /* ...but a probe every eighth wait */
    /* probes that catch quick answers bring the spin back */
    int n = 0;
    while (rs__spin_window(&s) == 0 && n < 200) {
        if (rs__spin_window_probing(&s))
            rs__spin_observe(&s, 30 * US);
        n++;
    }
    assert_true(rs__spin_window(&s) == 50 * US && n < 200);
}

static void test_a_zero_window_never_spins(void **state)
{
    (void)state;
    rs__spin s;
    rs__spin_init(&s, 0);
    feed(&s, 0, 50);
    assert_int_equal(rs__spin_window(&s), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(rs__spin_window_probing(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_back_to_back_work_spins),
        cmocka_unit_test(test_work_farther_apart_than_the_window_sleeps),
        cmocka_unit_test(test_a_long_idle_time_is_forgotten_within_a_few_requests),
        cmocka_unit_test(test_a_client_not_spinning_probes_every_eighth_wait),
        cmocka_unit_test(test_a_zero_window_never_spins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
