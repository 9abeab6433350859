/*
 * test_tokens.c — unit tests of the light body scans (sidecar/policy/tokens.c).
 *
 * Every body is copied into a heap block of exactly its length (no NUL, no
 * slack), so under ASan any read past the end is a crash, not a silent pass.
 * The fuzz tests compare the memmem-based scanner against a naive reference
 * written here (byte-by-byte search, overflow decided on the decimal string
 * rather than by arithmetic), so a skipped or misplaced hit shows up as a
 * difference, not just a crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokens.h"
#include "test_rand.h"

#define DEF 1234u   /* default max_tokens used throughout */

/* ------------------------------------------------------------- helpers */

static uint8_t *dup_exact(const void *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    if (n)
        memcpy(b, p, n);
    return b;
}

static rsp_token_estimate est(const char *s)
{
    size_t n = strlen(s);
    uint8_t *b = dup_exact(s, n);
    rsp_token_estimate e;
    memset(&e, 0xAB, sizeof e);
    rsp_tokens_estimate(b, n, DEF, &e);
    free(b);
    return e;
}

/* rsp_tokens_usage on an exact copy; returns the rc, *v gets the value or
 * stays 777 when untouched */
static int usage(const char *s, uint64_t *v)
{
    size_t n = strlen(s);
    uint8_t *b = dup_exact(s, n);
    *v = 777;
    int rc = rsp_tokens_usage(b, n, v);
    free(b);
    return rc;
}

static void assert_max(const char *body, uint64_t want)
{
    rsp_token_estimate e = est(body);
    if (!e.has_max_tokens || e.max_tokens != want)
        fail_msg("body %s: has=%d max=%llu, want %llu", body, e.has_max_tokens,
                 (unsigned long long)e.max_tokens, (unsigned long long)want);
}

static void assert_no_max(const char *body)
{
    rsp_token_estimate e = est(body);
    if (e.has_max_tokens || e.max_tokens != DEF)
        fail_msg("body %s: has=%d max=%llu, want default", body, e.has_max_tokens,
                 (unsigned long long)e.max_tokens);
}

/* ----------------------------------------------------- naive reference */

static bool ref_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* 0 ok, 1 overflow, -1 not a valid integer value */
static int ref_value(const uint8_t *p, size_t len, size_t q, size_t kend, uint64_t *v)
{
    size_t i = q;
    while (i > 0 && ref_ws(p[i - 1]))
        i--;
    if (i == 0 || !(p[i - 1] == '{' || p[i - 1] == ','))
        return -1;
    i = kend;
    while (i < len && ref_ws(p[i]))
        i++;
    if (i == len || p[i] != ':')
        return -1;
    for (i++; i < len && ref_ws(p[i]); i++)
        ;
    size_t start = i;
    while (i < len && p[i] >= '0' && p[i] <= '9')
        i++;
    if (i == start || i == len)
        return -1;
    if (!(ref_ws(p[i]) || p[i] == ',' || p[i] == '}' || p[i] == ']'))
        return -1;
    /* overflow decided on the digit string, without arithmetic */
    size_t z = start;
    while (z < i - 1 && p[z] == '0')
        z++;
    size_t nd = i - z;
    static const char maxs[] = "18446744073709551615";
    if (nd > 20 || (nd == 20 && memcmp(p + z, maxs, 20) > 0))
        return 1;
    char buf[32];
    memcpy(buf, p + z, nd);
    buf[nd] = 0;
    *v = strtoull(buf, NULL, 10);
    return 0;
}

static bool at(const uint8_t *p, size_t len, size_t i, const char *k)
{
    size_t n = strlen(k);
    return i + n <= len && memcmp(p + i, k, n) == 0;
}

static void ref_estimate(const uint8_t *p, size_t len, rsp_token_estimate *out)
{
    out->prompt_tokens = (len + 3) / 4;
    out->max_tokens = DEF;
    out->has_max_tokens = false;
    static const char *keys[] = { "\"max_tokens\"", "\"max_completion_tokens\"" };
    for (size_t i = 0; i < len; i++) {
        for (int k = 0; k < 2; k++) {
            if (!at(p, len, i, keys[k]))
                continue;
            uint64_t v = 0;
            int rc = ref_value(p, len, i, i + strlen(keys[k]), &v);
            if (rc >= 0) {
                out->max_tokens = rc == 1 ? UINT64_MAX : v;
                out->has_max_tokens = true;
                return;
            }
        }
    }
}

static int ref_usage(const uint8_t *p, size_t len, uint64_t *total)
{
    int found = -1;
    for (size_t i = 0; i < len; i++) {
        uint64_t v;
        if (at(p, len, i, "\"total_tokens\"")
            && ref_value(p, len, i, i + strlen("\"total_tokens\""), &v) == 0) {
            *total = v;
            found = 0;
        }
    }
    return found;
}

/* Both scanners on an exact copy of p[0, n): must agree. */
static void check_against_ref(const uint8_t *p, size_t n)
{
    uint8_t *b = dup_exact(p, n);
    rsp_token_estimate got, want;
    rsp_tokens_estimate(b, n, DEF, &got);
    ref_estimate(b, n, &want);
    if (got.prompt_tokens != want.prompt_tokens || got.has_max_tokens != want.has_max_tokens
        || got.max_tokens != want.max_tokens)
        fail_msg("estimate differs on %zu bytes \"%.*s\": got %d/%llu, want %d/%llu", n,
                 (int)n, (const char *)p, got.has_max_tokens,
                 (unsigned long long)got.max_tokens, want.has_max_tokens,
                 (unsigned long long)want.max_tokens);
    uint64_t gv = 555, wv = 555;
    int grc = rsp_tokens_usage(b, n, &gv);
    int wrc = ref_usage(b, n, &wv);
    if (grc != wrc || gv != wv)
        fail_msg("usage differs on %zu bytes \"%.*s\": got %d/%llu, want %d/%llu", n, (int)n,
                 (const char *)p, grc, (unsigned long long)gv, wrc, (unsigned long long)wv);
    free(b);
}

/* ------------------------------------------------------ prompt tokens */

static void test_prompt_tokens_is_ceil_len_over_4(void **state)
{
    (void)state;
    static const uint8_t buf[9] = "abcdefgh";
    const uint64_t want[] = { 0, 1, 1, 1, 1, 2, 2, 2, 2 };
    for (size_t n = 0; n <= 8; n++) {
        rsp_token_estimate e;
        rsp_tokens_estimate(n ? buf : NULL, n, DEF, &e);
        assert_int_equal(e.prompt_tokens, want[n]);
    }
}

/* --------------------------------------------------------- max_tokens */

static void test_max_tokens_found(void **state)
{
    (void)state;
    assert_max("{\"model\":\"deepseek-chat\",\"messages\":[],\"max_tokens\":512}", 512);
    assert_max("{\"max_tokens\":0}", 0);
}

static void test_max_completion_tokens_found(void **state)
{
    (void)state;
    assert_max("{\"model\":\"o1\",\"max_completion_tokens\": 8000 }", 8000);
}

static void test_first_key_wins(void **state)
{
    (void)state;
    assert_max("{\"max_completion_tokens\":7,\"max_tokens\":9}", 7);
    assert_max("{\"max_tokens\":9,\"max_completion_tokens\":7}", 9);
}

static void test_default_when_absent(void **state)
{
    (void)state;
    assert_no_max("{\"model\":\"deepseek-chat\",\"messages\":[]}");
    assert_no_max("");
    assert_no_max("max_tokens: 5");
}

static void test_whitespace_around_colon(void **state)
{
    (void)state;
    assert_max("{ \"max_tokens\" \n :\t\r 42 \n}", 42);
    assert_max("{\n  \"a\": 1,\n  \"max_tokens\"  :  42\n}", 42);
}

static void test_non_integer_values_ignored(void **state)
{
    (void)state;
    const char *bad[] = { "null", "1.5", "-1", "\"100\"", "1e3", "true", "[1]", "{}", "0x10",
                          "12a", "-0" };
    char body[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body, "{\"max_tokens\":%s}", bad[i]);
        assert_no_max(body);
        /* a later valid key is still found */
        snprintf(body, sizeof body, "{\"max_tokens\":%s,\"max_completion_tokens\":64}", bad[i]);
        assert_max(body, 64);
    }
}

static void test_key_inside_string_ignored(void **state)
{
    (void)state;
    assert_max("{\"messages\":[{\"role\":\"user\",\"content\":"
               "\"set {\\\"max_tokens\\\": 5, \\\"max_tokens\\\":6} please\"}],"
               "\"max_tokens\": 77}", 77);
    assert_no_max("{\"content\":\"{\\\"max_tokens\\\": 5}\"}");
}

static void test_key_as_value_ignored(void **state)
{
    (void)state;
    assert_no_max("{\"stop\":[\"max_tokens\"]}");
    assert_no_max("{\"stop\":\"max_tokens\",\"n\":1}");
    assert_no_max("{\"a\":\"max_tokens\" : 5}");     /* follows ':' not '{' or ',' */
    assert_no_max("\"max_tokens\": 5}");             /* nothing before the key */
}

static void test_nested_key_counts(void **state)
{
    (void)state;
    /* documented limitation: no depth tracking */
    assert_max("{\"metadata\":{\"max_tokens\":5},\"max_tokens\":9}", 5);
    /* but a schema object as value is not an integer: skipped */
    assert_max("{\"tools\":[{\"parameters\":{\"properties\":{\"max_tokens\":"
               "{\"type\":\"integer\"}}}}],\"max_tokens\":300}", 300);
}

static void test_other_tokens_keys_ignored(void **state)
{
    (void)state;
    assert_no_max("{\"total_tokens\":5,\"prompt_tokens\":3,\"xmax_tokens\":4,\"amax_completion_tokens\":8}");
    assert_no_max("{\"max_completion\":1, \"_tokens\": 2}");
}

static void test_huge_value_saturates(void **state)
{
    (void)state;
    assert_max("{\"max_tokens\":18446744073709551615}", UINT64_MAX);
    assert_max("{\"max_tokens\":18446744073709551614}", UINT64_MAX - 1);
    assert_max("{\"max_tokens\":18446744073709551616}", UINT64_MAX);
    assert_max("{\"max_tokens\":99999999999999999999999999999999999999999}", UINT64_MAX);
    assert_max("{\"max_tokens\":000000000000000000000000000000000000000042}", 42);
}

static void test_number_cut_by_buffer_end_ignored(void **state)
{
    (void)state;
    assert_no_max("{\"max_tokens\":12");
    assert_no_max("{\"max_tokens\":");
    assert_no_max("{\"max_tokens\"");
    assert_no_max("{\"max_tokens");
    assert_max("{\"max_tokens\":12 ", 12);
}

static void test_key_at_end_of_4mib_prompt(void **state)
{
    (void)state;
    const size_t fill = 4u << 20;
    const char *head = "{\"model\":\"deepseek-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"";
    const char *tail = "\"}],\"max_tokens\":4096}";
    /* filler full of near misses: escaped keys, bare suffixes */
    const char *pat = "lorem _tokens\\\" ipsum \\\"max_tokens\\\": 1, total_tokens\\\" ";
    size_t hl = strlen(head), tl = strlen(tail), pl = strlen(pat);
    size_t n = hl + fill + tl;
    uint8_t *b = malloc(n);
    assert_non_null(b);
    memcpy(b, head, hl);
    for (size_t i = 0; i < fill; i++)
        b[hl + i] = (uint8_t)pat[i % pl];
    /* the filler must not end in a backslash that escapes the closing quote */
    b[hl + fill - 1] = ' ';
    memcpy(b + hl + fill, tail, tl);
    rsp_token_estimate e;
    rsp_tokens_estimate(b, n, DEF, &e);
    assert_true(e.has_max_tokens);
    assert_int_equal(e.max_tokens, 4096);
    assert_int_equal(e.prompt_tokens, (n + 3) / 4);
    uint64_t v = 9;
    assert_int_equal(rsp_tokens_usage(b, n, &v), -1);
    assert_int_equal(v, 9);
    free(b);
}

/* -------------------------------------------------------------- usage */

static const char deepseek_json[] =
    "{\"id\":\"c1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"deepseek-chat\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
    "\"The \\\"total_tokens\\\": 3 field\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15,"
    "\"prompt_tokens_details\":{\"cached_tokens\":0},\"prompt_cache_hit_tokens\":0,"
    "\"prompt_cache_miss_tokens\":10},\"system_fingerprint\":\"fp_1\"}";

static const char deepseek_sse[] =
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],"
    "\"usage\":null}\n\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":32,"
    "\"total_tokens\":42}}\n\n"
    "data: [DONE]\n\n";

static void test_usage_from_json_response(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(usage(deepseek_json, &v), 0);
    assert_int_equal(v, 15);
}

static void test_usage_from_sse_stream(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(usage(deepseek_sse, &v), 0);
    assert_int_equal(v, 42);
}

static void test_usage_takes_last(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(usage("{\"usage\":{\"total_tokens\":1}}\n{\"usage\":{\"total_tokens\":2}}",
                           &v), 0);
    assert_int_equal(v, 2);
    /* a garbage last one does not hide a valid earlier one */
    assert_int_equal(usage("{\"total_tokens\":8}{\"total_tokens\":null}", &v), 0);
    assert_int_equal(v, 8);
}

static void test_usage_absent(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(usage("", &v), -1);
    assert_int_equal(v, 777);
    assert_int_equal(usage("{\"usage\":null}", &v), -1);
    assert_int_equal(usage("{\"prompt_tokens\":3}", &v), -1);
    assert_int_equal(usage("{\"c\":\"\\\"total_tokens\\\": 3\"}", &v), -1);   /* in a string */
    assert_int_equal(v, 777);
}

static void test_usage_garbage_values(void **state)
{
    (void)state;
    const char *bad[] = { "{\"total_tokens\":null}", "{\"total_tokens\":-3}",
                          "{\"total_tokens\":\"15\"}", "{\"total_tokens\":1.0}",
                          "{\"total_tokens\":15", "{\"total_tokens\":}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v;
        assert_int_equal(usage(bad[i], &v), -1);
        assert_int_equal(v, 777);
    }
}

static void test_usage_overflow_rejected(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(usage("{\"total_tokens\":18446744073709551615}", &v), 0);
    assert_int_equal(v, UINT64_MAX);
    assert_int_equal(usage("{\"total_tokens\":18446744073709551616}", &v), -1);
    assert_int_equal(usage("{\"total_tokens\":123456789012345678901234567890}", &v), -1);
    assert_int_equal(v, 777);
}

static void test_usage_overlapping_keys(void **state)
{
    (void)state;
    /* the closing quote of one candidate opens the next */
    uint64_t v;
    assert_int_equal(usage("{\"total_tokens\"total_tokens\":5}", &v), -1);
    assert_int_equal(usage("{\"x\":1,\"total_tokens\":5,\"total_tokens\":6}", &v), 0);
    assert_int_equal(v, 6);
}

/* --------------------------------------------------------------- fuzz */

static void test_fuzz_random_bytes(void **state)
{
    (void)state;
    uint64_t seed = 7;
    uint8_t buf[600];
    for (int it = 0; it < 20000; it++) {
        size_t n = (size_t)(splitmix64(&seed) % sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)splitmix64(&seed);
        check_against_ref(buf, n);
    }
}

static void test_fuzz_structured_differential(void **state)
{
    (void)state;
    static const char *pieces[] = {
        "\"max_tokens\"", "\"max_completion_tokens\"", "\"total_tokens\"", "_tokens\"",
        "\"max", "\"max_completion", ":", " ", "\n", ",", "{", "}", "[", "]", "0", "7", "42",
        "18446744073709551615", "18446744073709551616", "000000000000000000000009",
        "99999999999999999999999", "\\", "\"", "-", ".", "e", "null", "a", "tokens\"",
        /* near-complete keys, so that the accepting paths are reached often */
        "{\"max_tokens\":", ",\"max_completion_tokens\" : ", ",\"total_tokens\":",
        "{\"total_tokens\"\t:\n", "5}", "12,", "3 ", "\\\"max_tokens\\\":",
    };
    const size_t np = sizeof pieces / sizeof pieces[0];
    uint64_t seed = 11;
    uint8_t buf[1024];
    unsigned with_max = 0, with_usage = 0;
    for (int it = 0; it < 50000; it++) {
        size_t n = 0;
        unsigned k = 1 + (unsigned)(splitmix64(&seed) % 24);
        for (unsigned j = 0; j < k; j++) {
            const char *s = pieces[splitmix64(&seed) % np];
            size_t l = strlen(s);
            if (n + l > sizeof buf)
                break;
            memcpy(buf + n, s, l);
            n += l;
        }
        check_against_ref(buf, n);
        rsp_token_estimate e;
        rsp_tokens_estimate(buf, n, DEF, &e);
        uint64_t v;
        with_max += e.has_max_tokens;
        with_usage += rsp_tokens_usage(buf, n, &v) == 0;
    }
    /* the generator really reaches the accepting paths */
    assert_true(with_max > 1000);
    assert_true(with_usage > 1000);
}

static void test_every_truncation_of_valid_bodies(void **state)
{
    (void)state;
    static const char *bodies[] = {
        "{\"model\":\"deepseek-chat\",\"messages\":[{\"role\":\"user\",\"content\":"
        "\"say \\\"max_tokens\\\": 1\"}],\"stream\":true,\"max_tokens\": 2048}",
        "{\"model\":\"o1\",\"max_completion_tokens\":18446744073709551616,\"max_tokens\":3}",
        deepseek_json,
        deepseek_sse,
    };
    for (size_t k = 0; k < sizeof bodies / sizeof bodies[0]; k++) {
        size_t n = strlen(bodies[k]);
        for (size_t cut = 0; cut <= n; cut++)
            check_against_ref((const uint8_t *)bodies[k], cut);
    }
    /* and the whole bodies give the expected answers */
    assert_max(bodies[0], 2048);
    assert_max(bodies[1], UINT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt_tokens_is_ceil_len_over_4),
        cmocka_unit_test(test_max_tokens_found),
        cmocka_unit_test(test_max_completion_tokens_found),
        cmocka_unit_test(test_first_key_wins),
        cmocka_unit_test(test_default_when_absent),
        cmocka_unit_test(test_whitespace_around_colon),
        cmocka_unit_test(test_non_integer_values_ignored),
        cmocka_unit_test(test_key_inside_string_ignored),
        cmocka_unit_test(test_key_as_value_ignored),
        cmocka_unit_test(test_nested_key_counts),
        cmocka_unit_test(test_other_tokens_keys_ignored),
        cmocka_unit_test(test_huge_value_saturates),
        cmocka_unit_test(test_number_cut_by_buffer_end_ignored),
        cmocka_unit_test(test_key_at_end_of_4mib_prompt),
        cmocka_unit_test(test_usage_from_json_response),
        cmocka_unit_test(test_usage_from_sse_stream),
        cmocka_unit_test(test_usage_takes_last),
        cmocka_unit_test(test_usage_absent),
        cmocka_unit_test(test_usage_garbage_values),
        cmocka_unit_test(test_usage_overflow_rejected),
        cmocka_unit_test(test_usage_overlapping_keys),
        cmocka_unit_test(test_fuzz_random_bytes),
        cmocka_unit_test(test_fuzz_structured_differential),
        cmocka_unit_test(test_every_truncation_of_valid_bodies),
    };
    return cmocka_run_group_tests_name("tokens", tests, NULL, NULL);
}
