/*
 * test_tokens.c — unit tests of the token estimate (sidecar/policy/tokens.c):
 * pure arithmetic on the numbers the body scan found. What the scan finds
 * in a body is tested in test_body_json.c.
 *
 * The random test compares against 128-bit arithmetic, where nothing can
 * overflow, so a wrong saturation shows up as a difference.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "tokens.h"
#include "test_rand.h"

#define DEF 1234u   /* default max_tokens used throughout */

static rsp_token_estimate est(size_t len, bool has, uint64_t max, uint64_t n)
{
    rsp_token_counts c = { .has_max_tokens = has, .max_tokens = max, .n = n };
    rsp_token_estimate e;
    memset(&e, 0xAB, sizeof e);
    rsp_tokens_estimate_counts(len, &c, DEF, &e);
    return e;
}

static void test_prompt_tokens_is_ceil_len_over_4(void **state)
{
    (void)state;
    const uint64_t want[] = { 0, 1, 1, 1, 1, 2, 2, 2, 2 };
    for (size_t n = 0; n <= 8; n++)
        assert_int_equal(est(n, false, 0, 1).prompt_tokens, want[n]);
    assert_int_equal(est(SIZE_MAX, false, 0, 1).prompt_tokens, SIZE_MAX / 4 + 1);
}

static void test_default_when_the_request_names_none(void **state)
{
    (void)state;
    rsp_token_estimate e = est(100, false, 999, 1);
    assert_false(e.has_max_tokens);
    assert_int_equal(e.max_tokens, DEF);

    /* NULL counts: nothing was found */
    memset(&e, 0xAB, sizeof e);
    rsp_tokens_estimate_counts(100, NULL, DEF, &e);
    assert_false(e.has_max_tokens);
    assert_int_equal(e.max_tokens, DEF);
    assert_int_equal(e.prompt_tokens, 25);
}

static void test_the_requests_own_limit(void **state)
{
    (void)state;
    rsp_token_estimate e = est(40, true, 512, 1);
    assert_true(e.has_max_tokens);
    assert_int_equal(e.max_tokens, 512);
    assert_int_equal(e.prompt_tokens, 10);
    e = est(40, true, 0, 1);
    assert_true(e.has_max_tokens);
    assert_int_equal(e.max_tokens, 0);
}

static void test_n_multiplies_the_completion_budget(void **state)
{
    (void)state;
    assert_int_equal(est(40, true, 512, 3).max_tokens, 1536);
    assert_int_equal(est(40, false, 0, 4).max_tokens, 4 * DEF);   /* the default too */
    /* n = 0 asks for nothing sensible: one choice, as when absent */
    assert_int_equal(est(40, true, 512, 0).max_tokens, 512);
    /* the prompt is sent once whatever n */
    assert_int_equal(est(40, true, 512, 3).prompt_tokens, 10);
}

static void test_saturates_without_wrapping_the_sum(void **state)
{
    (void)state;
    rsp_token_estimate e = est(40, true, UINT64_MAX, 1);
    assert_int_equal(e.max_tokens, UINT64_MAX - 10);
    assert_int_equal(e.prompt_tokens + e.max_tokens, UINT64_MAX);

    e = est(40, true, UINT64_MAX / 2 + 1, 2);   /* the product alone wraps to 0 */
    assert_int_equal(e.max_tokens, UINT64_MAX - 10);

    e = est(40, true, 3, UINT64_MAX);
    assert_int_equal(e.max_tokens, UINT64_MAX - 10);

    /* one below the limit is exact */
    e = est(0, true, UINT64_MAX / 3, 3);
    assert_int_equal(e.max_tokens, UINT64_MAX / 3 * 3);
    e = est(4, true, (UINT64_MAX - 1) / 5, 5);
    assert_int_equal(e.max_tokens, (UINT64_MAX - 1) / 5 * 5);
}

static void test_random_against_128_bit_arithmetic(void **state)
{
    (void)state;
    uint64_t seed = 5;
    for (int it = 0; it < 200000; it++) {
        uint64_t r = splitmix64(&seed);
        /* mostly small values, often extremes */
        uint64_t max = splitmix64(&seed) >> (r & 63);
        uint64_t n = splitmix64(&seed) >> ((r >> 6) & 63);
        size_t len = (size_t)(splitmix64(&seed) >> ((r >> 12) & 63));
        bool has = (r >> 18) & 1;
        rsp_token_estimate e = est(len, has, max, n);

        unsigned __int128 prompt = ((unsigned __int128)len + 3) / 4;
        unsigned __int128 per = has ? max : DEF;
        unsigned __int128 want = per * (n ? n : 1);
        unsigned __int128 room = (unsigned __int128)UINT64_MAX - prompt;
        if (want > room)
            want = room;
        if (e.prompt_tokens != (uint64_t)prompt || e.max_tokens != (uint64_t)want
            || e.has_max_tokens != has)
            fail_msg("len %zu has %d max %llu n %llu: got %llu/%llu", len, has,
                     (unsigned long long)max, (unsigned long long)n,
                     (unsigned long long)e.prompt_tokens, (unsigned long long)e.max_tokens);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt_tokens_is_ceil_len_over_4),
        cmocka_unit_test(test_default_when_the_request_names_none),
        cmocka_unit_test(test_the_requests_own_limit),
        cmocka_unit_test(test_n_multiplies_the_completion_budget),
        cmocka_unit_test(test_saturates_without_wrapping_the_sum),
        cmocka_unit_test(test_random_against_128_bit_arithmetic),
    };
    return cmocka_run_group_tests_name("tokens", tests, NULL, NULL);
}
