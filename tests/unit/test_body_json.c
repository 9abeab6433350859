/*
 * test_body_json.c — unit tests of the top-level JSON key scans and the
 * model rename (sidecar/body_json.c).
 *
 * Every body is passed as a heap copy of exactly its length (no NUL, no
 * slack), so under ASan a read past the end is a crash, not a silent pass.
 * Renames are compared byte for byte with the expected body. The random
 * tests compare the scans against an oracle built on yajl's tree parser
 * (a DOM, fine for small test bodies), which walks the top-level keys in
 * order and keeps the last of each.
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
#include <yajl/yajl_tree.h>

#include "body_json.h"
#include "test_rand.h"

/* ------------------------------------------------------------- helpers */

static uint8_t *dup_exact(const void *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    if (n)
        memcpy(b, p, n);
    return b;
}

static sc_body_req scan_n(const void *body, size_t n)
{
    uint8_t *b = dup_exact(body, n);
    sc_body_req q;
    memset(&q, 0xAB, sizeof q);
    sc_body_scan_request(b, n, &q);
    free(b);
    return q;
}

static sc_body_req scan(const char *body)
{
    return scan_n(body, strlen(body));
}

static sc_route_cfg g_route;

/* the route's models map: pairs of from, to; NULL ends */
static const sc_route_cfg *route(const char *from, const char *to, ...)
{
    memset(&g_route, 0, sizeof g_route);
    va_list ap;
    va_start(ap, to);
    while (from) {
        assert_true(g_route.nmodels < SC_MAX_MODELS);
        snprintf(g_route.model_from[g_route.nmodels], sizeof g_route.model_from[0], "%s", from);
        snprintf(g_route.model_to[g_route.nmodels], sizeof g_route.model_to[0], "%s", to);
        g_route.nmodels++;
        from = va_arg(ap, const char *);
        if (from)
            to = va_arg(ap, const char *);
    }
    va_end(ap);
    return &g_route;
}

/* The renamed body as a NUL-terminated string, or NULL for no rename. */
static char *renamed_n(const sc_route_cfg *rt, const void *body, size_t n)
{
    uint8_t *b = dup_exact(body, n);
    sc_body_req q;
    sc_body_scan_request(b, n, &q);
    size_t olen = 12345;
    uint8_t *o = sc_body_rename_model(&q, b, n, rt, &olen);
    free(b);
    if (!o) {
        assert_int_equal(olen, 12345);   /* untouched */
        return NULL;
    }
    char *s = malloc(olen + 1);
    assert_non_null(s);
    memcpy(s, o, olen);
    s[olen] = '\0';
    free(o);
    return s;
}

static char *renamed(const sc_route_cfg *rt, const char *body)
{
    return renamed_n(rt, body, strlen(body));
}

static void expect_rename(const sc_route_cfg *rt, const char *body, const char *want)
{
    char *got = renamed(rt, body);
    if (!got)
        fail_msg("no rename of %s, want %s", body, want);
    if (strcmp(got, want) != 0)
        fail_msg("rename of %s\n  got  %s\n  want %s", body, got, want);
    free(got);
}

static void expect_no_rename(const sc_route_cfg *rt, const char *body)
{
    char *got = renamed(rt, body);
    if (got)
        fail_msg("renamed %s to %s, want no rename", body, got);
}

static void expect_max(const char *body, uint64_t want)
{
    sc_body_req q = scan(body);
    if (!q.object || !q.counts.has_max_tokens || q.counts.max_tokens != want)
        fail_msg("body %s: object %d has %d max %llu, want %llu", body, q.object,
                 q.counts.has_max_tokens, (unsigned long long)q.counts.max_tokens,
                 (unsigned long long)want);
}

static void expect_no_max(const char *body)
{
    sc_body_req q = scan(body);
    if (q.counts.has_max_tokens || q.counts.max_tokens != 0)
        fail_msg("body %s: has %d max %llu, want none", body, q.counts.has_max_tokens,
                 (unsigned long long)q.counts.max_tokens);
}

static void expect_n(const char *body, uint64_t want)
{
    sc_body_req q = scan(body);
    if (q.counts.n != want)
        fail_msg("body %s: n %llu, want %llu", body, (unsigned long long)q.counts.n,
                 (unsigned long long)want);
}

/* sc_body_usage on an exact copy; *v stays 777 when untouched */
static int usage(const char *s, uint64_t *v)
{
    size_t n = strlen(s);
    uint8_t *b = dup_exact(s, n);
    *v = 777;
    int rc = sc_body_usage(b, n, v);
    free(b);
    return rc;
}

static void expect_usage(const char *body, uint64_t want)
{
    uint64_t v;
    int rc = usage(body, &v);
    if (rc != 0 || v != want)
        fail_msg("usage of %s: rc %d value %llu, want %llu", body, rc, (unsigned long long)v,
                 (unsigned long long)want);
}

static void expect_no_usage(const char *body)
{
    uint64_t v;
    int rc = usage(body, &v);
    if (rc != -1 || v != 777)
        fail_msg("usage of %s: rc %d value %llu, want none", body, rc, (unsigned long long)v);
}

/* Nothing found, as for any body that is not one JSON object. */
static void expect_nothing(const void *body, size_t n)
{
    sc_body_req q = scan_n(body, n);
    if (q.object || q.has_model || q.model_at != 0 || q.counts.has_max_tokens
        || q.counts.max_tokens != 0 || q.counts.n != 1)
        fail_msg("body \"%.*s\": object %d model %d, want nothing", (int)(n > 200 ? 200 : n),
                 (const char *)body, q.object, q.has_model);
}

/* --------------------------------------------------------- the rename */

static void test_top_level_model_renamed(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("deepseek-chat", "deepseek-v3", NULL);
    expect_rename(rt, "{\"model\":\"deepseek-chat\",\"messages\":[]}",
                  "{\"model\":\"deepseek-v3\",\"messages\":[]}");
    /* a shorter and a longer name: the rest moves, unchanged */
    expect_rename(route("a", "abcdefghij", NULL), "{\"x\":1,\"model\":\"a\",\"y\":[true,null]}",
                  "{\"x\":1,\"model\":\"abcdefghij\",\"y\":[true,null]}");
    expect_rename(route("abcdefghij", "a", NULL), "{\"model\":\"abcdefghij\"}",
                  "{\"model\":\"a\"}");
}

static void test_nested_model_before_top_level(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("a", "B", NULL);
    expect_rename(rt, "{\"metadata\":{\"model\":\"a\"},\"model\":\"a\"}",
                  "{\"metadata\":{\"model\":\"a\"},\"model\":\"B\"}");
    expect_rename(rt, "{\"messages\":[{\"role\":\"user\",\"model\":\"a\"}],\"model\":\"a\"}",
                  "{\"messages\":[{\"role\":\"user\",\"model\":\"a\"}],\"model\":\"B\"}");
}

static void test_nested_model_after_top_level(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("a", "B", NULL);
    expect_rename(rt, "{\"model\":\"a\",\"metadata\":{\"model\":\"a\",\"m\":{\"model\":\"a\"}}}",
                  "{\"model\":\"B\",\"metadata\":{\"model\":\"a\",\"m\":{\"model\":\"a\"}}}");
}

static void test_model_in_a_response_format_schema(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("a", "B", NULL);
    const char *schema =
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"car\","
        "\"schema\":{\"type\":\"object\",\"properties\":{\"model\":{\"type\":\"string\","
        "\"enum\":[\"a\"]},\"make\":{\"type\":\"string\"}},\"required\":[\"model\"],"
        "\"default\":{\"model\":\"a\"}}}}";
    char body[1024], want[1024];
    snprintf(body, sizeof body, "{%s,\"model\":\"a\"}", schema);
    snprintf(want, sizeof want, "{%s,\"model\":\"B\"}", schema);
    expect_rename(rt, body, want);
    snprintf(body, sizeof body, "{\"model\":\"a\",%s}", schema);
    snprintf(want, sizeof want, "{\"model\":\"B\",%s}", schema);
    expect_rename(rt, body, want);
    /* the schema alone names no model for the request */
    snprintf(body, sizeof body, "{%s}", schema);
    expect_no_rename(rt, body);
}

static void test_only_nested_models_no_rename(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("a", "B", NULL);
    expect_no_rename(rt, "{\"metadata\":{\"model\":\"a\"}}");
    expect_no_rename(rt, "{\"tools\":[{\"model\":\"a\"}],\"stop\":[\"model\",\"a\"]}");
    /* "model" as a value, not a key */
    expect_no_rename(rt, "{\"name\":\"model\",\"x\":\"a\"}");
    /* a key that merely contains it */
    expect_no_rename(rt, "{\"model_name\":\"a\",\"xmodel\":\"a\",\"Model\":\"a\"}");
    /* the key inside prompt text */
    expect_no_rename(rt, "{\"content\":\"{\\\"model\\\":\\\"a\\\"}\"}");
}

static void test_escaped_keys_and_values(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("a", "B", "we\"ird\\name", "x", NULL);
    expect_rename(rt, "{\"mo\\u0064el\":\"a\"}", "{\"mo\\u0064el\":\"B\"}");
    expect_rename(rt, "{\"\\u006d\\u006F\\u0064\\u0065\\u006c\":\"a\",\"n\":1}",
                  "{\"\\u006d\\u006F\\u0064\\u0065\\u006c\":\"B\",\"n\":1}");
    /* the value is compared decoded and replaced whole */
    expect_rename(rt, "{\"model\":\"\\u0061\"}", "{\"model\":\"B\"}");
    expect_rename(rt, "{\"model\":\"we\\\"ird\\\\name\",\"z\":0}", "{\"model\":\"x\",\"z\":0}");
    expect_rename(rt, "{\"model\":\"we\\u0022ird\\u005cname\"}", "{\"model\":\"x\"}");
    /* an escaped slash decodes to a slash */
    expect_rename(route("org/m", "m2", NULL), "{\"model\":\"org\\/m\"}", "{\"model\":\"m2\"}");
    /* near misses */
    expect_no_rename(rt, "{\"model\":\"\\u0061 \"}");
    expect_no_rename(rt, "{\"model\":\"A\"}");
    expect_no_rename(rt, "{\"model\":\"a\\u0000\"}");
    expect_no_rename(rt, "{\"model \":\"a\"}");
}

static void test_replacement_is_escaped(void **state)
{
    (void)state;
    expect_rename(route("a", "x\"y\\z", NULL), "{\"model\":\"a\"}",
                  "{\"model\":\"x\\\"y\\\\z\"}");
    expect_rename(route("a", "tab\there\nnl\x01", NULL), "{\"model\":\"a\"}",
                  "{\"model\":\"tab\\there\\nnl\\u0001\"}");
    /* UTF-8 passes as it is; a slash needs no escape */
    expect_rename(route("a", "deepseek/\xc3\xa9\xe6\x97\xa5", NULL), "{\"model\":\"a\"}",
                  "{\"model\":\"deepseek/\xc3\xa9\xe6\x97\xa5\"}");
    /* a `to` that is not UTF-8 cannot be written as JSON: no rename */
    expect_no_rename(route("a", "bad\xff", NULL), "{\"model\":\"a\"}");
}

static void test_whitespace_everywhere(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("a", "BB", NULL);
    expect_rename(rt, " \n\t{ \r\"x\" :\n[ 1 , { } ] ,\n \"model\" \n : \t \"a\" \n , \"y\" : \"a\" } \n ",
                  " \n\t{ \r\"x\" :\n[ 1 , { } ] ,\n \"model\" \n : \t \"BB\" \n , \"y\" : \"a\" } \n ");
    expect_rename(rt, "{\"model\"   :   \"a\"   }", "{\"model\"   :   \"BB\"   }");
    /* yajl's whitespace also has \v and \f (JSON's has not) */
    expect_rename(rt, "\f{\"model\":\v\"a\"}", "\f{\"model\":\v\"BB\"}");
}

static void test_no_model_or_not_a_string(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("a", "B", "5", "C", NULL);
    expect_no_rename(rt, "{\"messages\":[]}");
    expect_no_rename(rt, "{}");
    const char *bad[] = { "5", "null", "true", "false", "[\"a\"]", "{\"a\":1}", "{}", "[]",
                          "-1", "5.0" };
    char body[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body, "{\"model\":%s}", bad[i]);
        expect_no_rename(rt, body);
        assert_true(scan(body).object);
        assert_false(scan(body).has_model);
    }
}

static void test_no_map_or_no_match(void **state)
{
    (void)state;
    const char *body = "{\"model\":\"a\"}";
    expect_no_rename(route(NULL, NULL), body);
    expect_no_rename(route("b", "B", "aa", "X", "", "Y", NULL), body);
    /* the first pair that matches wins */
    expect_rename(route("b", "B", "a", "first", "a", "second", NULL), body,
                  "{\"model\":\"first\"}");
    /* a rename to the same name still writes a fresh token */
    expect_rename(route("a", "a", NULL), "{\"model\":\"\\u0061\"}", "{\"model\":\"a\"}");
    /* an empty name can be mapped */
    expect_rename(route("", "E", NULL), "{\"model\":\"\"}", "{\"model\":\"E\"}");
    /* NULL arguments */
    sc_body_req q = scan(body);
    size_t olen;
    assert_null(sc_body_rename_model(NULL, body, strlen(body), route("a", "B", NULL), &olen));
    assert_null(sc_body_rename_model(&q, body, strlen(body), NULL, &olen));
    assert_null(sc_body_rename_model(&q, NULL, 0, route("a", "B", NULL), &olen));
}

static void test_duplicate_model_last_wins(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("a", "A", "b", "B", NULL);
    expect_rename(rt, "{\"model\":\"a\",\"model\":\"b\"}", "{\"model\":\"a\",\"model\":\"B\"}");
    expect_rename(rt, "{\"model\":\"a\",\"x\":1,\"model\":\"a\"}",
                  "{\"model\":\"a\",\"x\":1,\"model\":\"A\"}");
    /* the last one is what the upstream reads, whatever it holds */
    expect_no_rename(rt, "{\"model\":\"a\",\"model\":7}");
    expect_no_rename(rt, "{\"model\":\"a\",\"model\":\"zzz\"}");
    expect_no_rename(rt, "{\"model\":\"a\",\"model\":{\"model\":\"a\"}}");
    expect_rename(rt, "{\"model\":7,\"model\":\"a\"}", "{\"model\":7,\"model\":\"A\"}");
    expect_rename(rt, "{\"mo\\u0064el\":\"b\",\"model\":\"a\"}",
                  "{\"mo\\u0064el\":\"b\",\"model\":\"A\"}");
}

static const char *invalid_bodies[] = {
    "{\"model\":\"a\",}",                /* trailing comma */
    "{\"model\":\"a\"} x",               /* trailing garbage */
    "{\"model\":\"a\"}{}",               /* two values */
    "{\"model\":\"a\"",                  /* unclosed */
    "{\"model\":\"a\"]",
    "{'model':\"a\"}",
    "{model:\"a\"}",
    "{\"model\":\"a\" /* c */}",
    "// c\n{\"model\":\"a\"}",
    "{\"model\":\"a\",\"t\":NaN}",
    "{\"model\":\"a\",\"t\":Infinity}",
    "{\"model\":\"a\",\"n\":01}",
    "{\"model\":\"a\",\"n\":+1}",
    "{\"model\":\"a\",\"n\":.5}",
    "{\"model\":\"a\",\"n\":1.}",
    "{\"model\":\"a\",\"n\":1e}",
    "{\"model\":\"a\",\"n\":-}",
    "{\"model\":\"a\",\"x\":\"\\x\"}",   /* bad escape */
    "{\"model\":\"a\",\"x\":\"\\u12G4\"}",
    "{\"model\":\"a\",\"x\":\"tab\there\"}",   /* raw control character */
    "{\"model\":\"a\",\"x\":\xff}",                /* a high byte outside a string */
    "{\"model\":\"a\",\xc3\xa9:1}",
    "{\"model\":\"a\" \"x\":1}",
    "{\"model\" \"a\"}",
    "{\"model\"::\"a\"}",
    "{\"model\":\"a\",\"x\":tru}",
    "{\"model\":\"a\",\"x\":nul}",
    "{\"model\":\"a\",\"x\":[1,]}",
    "{\"model\":\"a\",1:2}",
    "\"model\"",
    "[{\"model\":\"a\"}]",
    "5",
    "null",
    "",
    "   ",
    "\xef\xbb\xbf{\"model\":\"a\"}",     /* a BOM is not JSON */
};

static void test_invalid_json_no_rename_no_numbers(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("a", "B", NULL);
    char body[256];
    for (size_t i = 0; i < sizeof invalid_bodies / sizeof invalid_bodies[0]; i++) {
        const char *b = invalid_bodies[i];
        expect_no_rename(rt, b);
        expect_nothing(b, strlen(b));
        /* with numbers inside the broken body too */
        snprintf(body, sizeof body, "{\"max_tokens\":5,\"n\":2,%s", b[0] == '{' ? b + 1 : b);
        expect_nothing(body, strlen(body));
        uint64_t v;
        snprintf(body, sizeof body, "{\"usage\":{\"total_tokens\":5},%s", b[0] == '{' ? b + 1 : b);
        assert_int_equal(usage(body, &v), -1);
    }
    /* the same bodies repaired are fine (the list tests what it says) */
    expect_rename(rt, "{\"model\":\"a\",\"n\":1}", "{\"model\":\"B\",\"n\":1}");
    expect_rename(rt, "{\"model\":\"a\",\"x\":\"\\u12F4\"}", "{\"model\":\"B\",\"x\":\"\\u12F4\"}");
}

static void test_strings_are_not_checked_for_utf8(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("a", "B", NULL);
    /* structure decides; the text inside strings is the upstream's to judge */
    expect_rename(rt, "{\"x\":\"\xff\xfe\xc3\",\"model\":\"a\"}",
                  "{\"x\":\"\xff\xfe\xc3\",\"model\":\"B\"}");
    expect_rename(rt, "{\"k\xff\":1,\"model\":\"a\",\"max_tokens\":5}",
                  "{\"k\xff\":1,\"model\":\"B\",\"max_tokens\":5}");
    expect_max("{\"x\":\"\xed\xa0\x80\",\"max_tokens\":5}", 5);   /* a surrogate's bytes */
    /* a model that is not UTF-8 matches no configured name, and is no error */
    sc_body_req q = scan("{\"model\":\"a\xff\"}");
    assert_true(q.object && q.has_model);
    expect_no_rename(rt, "{\"model\":\"a\xff\"}");
    expect_rename(route("a\xff", "B", NULL), "{\"model\":\"a\xff\"}", "{\"model\":\"B\"}");
}

static void test_every_truncation(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("deepseek-chat", "ds", NULL);
    const char *body =
        "{\"metadata\":{\"model\":\"deepseek-chat\"},\"model\":\"deepseek-chat\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi \\\"there\\\" \\u00e9\"}],"
        "\"max_tokens\":2048,\"n\":2,\"temperature\":0.5,\"stream\":false}";
    size_t n = strlen(body);
    for (size_t cut = 0; cut < n; cut++) {
        assert_null(renamed_n(rt, body, cut));
        expect_nothing(body, cut);
    }
    sc_body_req q = scan(body);
    assert_true(q.object);
    assert_int_equal(q.counts.max_tokens, 2048);
    assert_int_equal(q.counts.n, 2);
    char *got = renamed(rt, body);
    assert_non_null(got);
    assert_non_null(strstr(got, ",\"model\":\"ds\","));
    free(got);

    const char *resp = "{\"id\":\"x\",\"usage\":{\"prompt_tokens\":1,\"total_tokens\":15}}";
    n = strlen(resp);
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *b = dup_exact(resp, cut);
        uint64_t v = 777;
        assert_int_equal(sc_body_usage(b, cut, &v), -1);
        assert_int_equal(v, 777);
        free(b);
    }
    expect_usage(resp, 15);
}

/* depth nested containers around a member, alternating maps and arrays */
static char *nest(unsigned depth, const char *inner)
{
    size_t il = strlen(inner);
    char *s = malloc(depth * 6 + il + 64);
    assert_non_null(s);
    size_t k = 0;
    for (unsigned d = 0; d < depth; d++)
        k += (size_t)sprintf(s + k, d % 2 ? "[" : "{\"a\":");
    memcpy(s + k, inner, il);
    k += il;
    for (unsigned d = depth; d-- > 0;)
        s[k++] = d % 2 ? ']' : '}';
    s[k] = '\0';
    return s;
}

static void test_deep_nesting(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("a", "B", NULL);
    char body[1024 * 8];
    /* total depth exactly the limit (the top-level object is 1) */
    char *deep = nest(SC_BODY_MAX_DEPTH - 1, "1");
    snprintf(body, sizeof body, "{\"model\":\"a\",\"x\":%s,\"max_tokens\":3}", deep);
    free(deep);
    char *got = renamed(rt, body);
    assert_non_null(got);
    assert_memory_equal(got, "{\"model\":\"B\",", 13);
    free(got);
    expect_max(body, 3);

    /* one deeper is refused whole */
    deep = nest(SC_BODY_MAX_DEPTH, "1");
    snprintf(body, sizeof body, "{\"model\":\"a\",\"x\":%s,\"max_tokens\":3}", deep);
    free(deep);
    expect_no_rename(rt, body);
    expect_nothing(body, strlen(body));
    uint64_t v;
    deep = nest(SC_BODY_MAX_DEPTH, "1");
    snprintf(body, sizeof body, "{\"usage\":{\"total_tokens\":4},\"x\":%s}", deep);
    free(deep);
    assert_int_equal(usage(body, &v), -1);

    /* bombs: megabytes of openers, valid or not, stop at the limit */
    size_t n = 8u << 20;
    uint8_t *bomb = malloc(n);
    assert_non_null(bomb);
    memset(bomb, '[', n);
    bomb[0] = '{';
    memcpy(bomb + 1, "\"model\":\"a\",\"x\":", 16);
    expect_nothing(bomb, n);
    for (size_t i = 0; i + 5 <= n; i += 5)
        memcpy(bomb + i, "{\"a\":", 5);
    expect_nothing(bomb, n - n % 5);
    free(bomb);
}

/* A chat body around a prompt of about `fill` bytes full of escapes and
 * near misses; the top-level model comes before or after the prompt. */
static uint8_t *big_body(size_t fill, bool model_first, size_t *len)
{
    const char *pat = "lorem \\\"model\\\": \\\"deepseek-chat\\\", {\\\"max_tokens\\\": 5, "
                      "\\\"usage\\\": {\\\"total_tokens\\\": 9}} \\\\ \\n \\u00e9 ipsum "
                      "\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac ";
    const char *head1 = "{\"metadata\":{\"model\":\"deepseek-chat\"},";
    const char *model = "\"model\":\"deepseek-chat\",";
    const char *msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"";
    const char *tail = "\"}],\"max_tokens\":4096";
    size_t pl = strlen(pat), reps = fill / pl;
    size_t n = strlen(head1) + strlen(model) + strlen(msgs) + reps * pl + strlen(tail) + 2;
    uint8_t *b = malloc(n);
    assert_non_null(b);
    size_t k = 0;
#define PUT(s) do { size_t l_ = strlen(s); memcpy(b + k, s, l_); k += l_; } while (0)
    PUT(head1);
    if (model_first)
        PUT(model);
    PUT(msgs);
    for (size_t r = 0; r < reps; r++)
        PUT(pat);
    PUT(tail);
    if (!model_first) {
        PUT(",");
        PUT(model);
        k--;   /* its trailing comma */
    }
    PUT("}");
#undef PUT
    *len = k;
    return b;
}

static void test_20mb_prompt_keeps_every_other_byte(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("deepseek-chat", "deepseek-v3-0324", NULL);
    for (int first = 1; first >= 0; first--) {
        size_t n;
        uint8_t *b = big_body(20u << 20, first, &n);
        sc_body_req q;
        sc_body_scan_request(b, n, &q);
        assert_true(q.object);
        assert_true(q.has_model);
        assert_int_equal(q.counts.max_tokens, 4096);
        assert_int_equal(q.counts.n, 1);
        size_t olen;
        uint8_t *o = sc_body_rename_model(&q, b, n, rt, &olen);
        assert_non_null(o);
        const char *oldv = "\"deepseek-chat\"", *newv = "\"deepseek-v3-0324\"";
        size_t at = q.model_at, ol = strlen(oldv), nl = strlen(newv);
        assert_memory_equal(b + at, oldv, ol);
        assert_int_equal(olen, n - ol + nl);
        assert_memory_equal(o, b, at);
        assert_memory_equal(o + at, newv, nl);
        assert_memory_equal(o + at + nl, b + at + ol, n - at - ol);
        /* and the renamed body reads back with the new name */
        sc_body_req q2;
        sc_body_scan_request(o, olen, &q2);
        assert_true(q2.object && q2.has_model);
        assert_int_equal(q2.model_at, at);
        assert_int_equal(q2.counts.max_tokens, 4096);
        char name[SC_BODY_MODEL_MAX + 1];
        size_t tl;
        assert_int_equal(sc_body_model(&q2, o, olen, name, &tl), 16);
        assert_string_equal(name, "deepseek-v3-0324");
        assert_int_equal(tl, nl);
        free(o);
        free(b);
    }
}

/* ------------------------------------------------ the model's token */

static void test_model_token_span(void **state)
{
    (void)state;
    static const struct { const char *body, *name; size_t at, tok; } cases[] = {
        { "{\"model\":\"a\"}", "a", 9, 3 },
        { "{ \"model\" :\n \"ab\" }", "ab", 13, 4 },
        { "{\"model\":\"\\u0061\\\"\"}", "a\"", 9, 10 },
        { "{\"mo\\u0064el\":\"\"}", "", 14, 2 },
        { "{\"model\":\"\xe6\x97\xa5\"}", "\xe6\x97\xa5", 9, 5 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].body);
        uint8_t *b = dup_exact(cases[i].body, n);
        sc_body_req q;
        sc_body_scan_request(b, n, &q);
        assert_true(q.has_model);
        assert_int_equal(q.model_at, cases[i].at);
        char name[SC_BODY_MODEL_MAX + 1];
        size_t tl = 0;
        assert_int_equal(sc_body_model(&q, b, n, name, &tl), (int)strlen(cases[i].name));
        assert_string_equal(name, cases[i].name);
        assert_int_equal(tl, cases[i].tok);
        free(b);
    }
}

static void test_model_name_length_limit(void **state)
{
    (void)state;
    char longest[SC_BODY_MODEL_MAX + 2];
    memset(longest, 'm', sizeof longest - 1);
    longest[SC_BODY_MODEL_MAX] = '\0';
    const sc_route_cfg *rt = route(longest, "short", NULL);
    /* the longest mappable name, plain and with every byte escaped */
    size_t cap = 16 + 6 * (SC_BODY_MODEL_MAX + 1);
    char *body = malloc(cap), *esc = malloc(cap);
    assert_non_null(body);
    assert_non_null(esc);
    snprintf(body, cap, "{\"model\":\"%s\"}", longest);
    expect_rename(rt, body, "{\"model\":\"short\"}");
    size_t k = (size_t)sprintf(esc, "{\"model\":\"");
    for (size_t i = 0; i < SC_BODY_MODEL_MAX; i++)
        k += (size_t)sprintf(esc + k, "\\u006d");
    sprintf(esc + k, "\"}");
    expect_rename(rt, esc, "{\"model\":\"short\"}");
    /* one byte more cannot be mapped, but is still a model */
    longest[SC_BODY_MODEL_MAX] = 'm';
    longest[SC_BODY_MODEL_MAX + 1] = '\0';
    snprintf(body, cap, "{\"model\":\"%s\"}", longest);
    sc_body_req q = scan(body);
    assert_true(q.has_model);
    char name[SC_BODY_MODEL_MAX + 1];
    size_t tl;
    assert_int_equal(sc_body_model(&q, body, strlen(body), name, &tl), -1);
    expect_no_rename(rt, body);
    /* a megabyte model is looked at once, and not mapped */
    size_t n = 1u << 20;
    char *huge = malloc(n + 32);
    assert_non_null(huge);
    k = (size_t)sprintf(huge, "{\"model\":\"");
    memset(huge + k, 'm', n);
    sprintf(huge + k + n, "\"}");
    expect_no_rename(rt, huge);
    free(huge);
    free(body);
    free(esc);
}

static void test_model_api_refuses_foreign_scans(void **state)
{
    (void)state;
    const char *body = "{\"model\":\"a\"}";
    size_t n = strlen(body), tl;
    char name[SC_BODY_MODEL_MAX + 1];
    sc_body_req q = scan(body);
    assert_int_equal(sc_body_model(&q, body, n, name, &tl), 1);
    sc_body_req bad = q;
    bad.model_at = n;            /* past the end */
    assert_int_equal(sc_body_model(&bad, body, n, name, &tl), -1);
    bad.model_at = 2;            /* not a quote's place */
    assert_int_equal(sc_body_model(&bad, body, n, name, &tl), -1);
    bad = q;
    bad.object = false;
    assert_int_equal(sc_body_model(&bad, body, n, name, &tl), -1);
    assert_int_equal(sc_body_model(NULL, body, n, name, &tl), -1);
    assert_int_equal(sc_body_model(&q, NULL, 0, name, &tl), -1);
}

/* -------------------------------------------------- the token numbers */

static void test_max_tokens_top_level_only(void **state)
{
    (void)state;
    expect_max("{\"model\":\"m\",\"messages\":[],\"max_tokens\":512}", 512);
    expect_max("{\"max_tokens\":0}", 0);
    expect_max("{\"metadata\":{\"max_tokens\":5},\"max_tokens\":9}", 9);
    expect_max("{\"max_tokens\":9,\"metadata\":{\"max_tokens\":5}}", 9);
    expect_no_max("{\"metadata\":{\"max_tokens\":5}}");
    expect_no_max("{\"tools\":[{\"parameters\":{\"properties\":{\"max_tokens\":"
                  "{\"type\":\"integer\",\"default\":7}}}}]}");
    expect_no_max("{\"content\":\"{\\\"max_tokens\\\": 5}\",\"stop\":[\"max_tokens\"]}");
    expect_max("{\"max\\u005ftokens\":77}", 77);
    expect_no_max("{\"max_tokens \":5,\"Max_tokens\":6,\"total_tokens\":7}");
}

static void test_max_completion_tokens(void **state)
{
    (void)state;
    expect_max("{\"model\":\"o1\",\"max_completion_tokens\": 8000 }", 8000);
    /* both named: the larger, whichever an upstream honours */
    expect_max("{\"max_completion_tokens\":7,\"max_tokens\":9}", 9);
    expect_max("{\"max_tokens\":9,\"max_completion_tokens\":70}", 70);
    expect_max("{\"max_tokens\":null,\"max_completion_tokens\":70}", 70);
    expect_max("{\"max_tokens\":70,\"max_completion_tokens\":-1}", 70);
    expect_no_max("{\"x\":{\"max_completion_tokens\":7}}");
}

static void test_non_integer_values_ignored(void **state)
{
    (void)state;
    const char *bad[] = { "null", "1.5", "1.0", "-1", "-0", "\"100\"", "1e3", "1E3", "0e0",
                          "true", "false", "[1]", "{}", "{\"max_tokens\":5}", "\"\"" };
    char body[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body, "{\"max_tokens\":%s}", bad[i]);
        expect_no_max(body);
        assert_true(scan(body).object);
        /* the last duplicate decides, either way */
        snprintf(body, sizeof body, "{\"max_tokens\":%s,\"max_tokens\":64}", bad[i]);
        expect_max(body, 64);
        snprintf(body, sizeof body, "{\"max_tokens\":64,\"max_tokens\":%s}", bad[i]);
        expect_no_max(body);
        snprintf(body, sizeof body, "{\"n\":%s}", bad[i]);
        expect_n(body, 1);
    }
}

static void test_huge_numbers(void **state)
{
    (void)state;
    expect_max("{\"max_tokens\":18446744073709551615}", UINT64_MAX);
    expect_max("{\"max_tokens\":18446744073709551614}", UINT64_MAX - 1);
    expect_max("{\"max_tokens\":18446744073709551616}", UINT64_MAX);
    expect_max("{\"max_tokens\":99999999999999999999999999999999999999999}", UINT64_MAX);
    expect_n("{\"n\":184467440737095516150}", UINT64_MAX);
    /* a huge exponent or fraction is still not an integer */
    expect_no_max("{\"max_tokens\":99999999999999999999999999999999.5}");
    expect_no_max("{\"max_tokens\":1e400}");
    expect_no_max("{\"max_tokens\":-99999999999999999999999999999999}");
    /* a megabyte of digits */
    size_t n = 1u << 20;
    char *b = malloc(n + 32);
    assert_non_null(b);
    size_t k = (size_t)sprintf(b, "{\"max_tokens\":");
    memset(b + k, '9', n);
    sprintf(b + k + n, ",\"n\":2}");
    expect_max(b, UINT64_MAX);
    expect_n(b, 2);
    /* saturated counts do not wrap the estimate either */
    sc_body_req q = scan(b);
    rsp_token_estimate e;
    rsp_tokens_estimate_counts(strlen(b), &q.counts, 100, &e);
    assert_int_equal(e.prompt_tokens + e.max_tokens, UINT64_MAX);
    free(b);
}

static void test_n(void **state)
{
    (void)state;
    expect_n("{\"n\":3}", 3);
    expect_n("{\"model\":\"m\"}", 1);
    expect_n("{\"n\":0}", 0);                       /* the estimate takes it as 1 */
    expect_n("{\"x\":{\"n\":5},\"n\":2}", 2);
    expect_n("{\"x\":{\"n\":5}}", 1);
    expect_n("{\"n\":5,\"x\":[{\"n\":7}]}", 5);
    expect_n("{\"\\u006e\":4}", 4);
    expect_n("{\"n\":4,\"n\":null}", 1);
    /* through the estimate: the completion budget is per choice */
    sc_body_req q = scan("{\"max_tokens\":100,\"n\":3}");
    rsp_token_estimate e;
    rsp_tokens_estimate_counts(24, &q.counts, 7, &e);
    assert_int_equal(e.max_tokens, 300);
    q = scan("{\"n\":3}");
    rsp_tokens_estimate_counts(7, &q.counts, 7, &e);
    assert_int_equal(e.max_tokens, 21);
    assert_false(e.has_max_tokens);
}

static void test_estimate_of_a_non_json_body(void **state)
{
    (void)state;
    /* the old light scan found these; a body that is not JSON now gives the
     * default, since nothing in it can be trusted to be what it looks like */
    expect_no_max("max_tokens: 5");
    expect_no_max("{\"max_tokens\":5");
    expect_no_max("{\"max_tokens\":5}{\"max_tokens\":6}");
    expect_n("{\"n\":5", 1);
}

/* ------------------------------------------------------------- usage */

static const char deepseek_json[] =
    "{\"id\":\"c1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"deepseek-chat\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
    "\"The \\\"total_tokens\\\": 3 field\"},\"logprobs\":null,\"finish_reason\":\"stop\","
    "\"usage\":{\"total_tokens\":99}}],"
    "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,"
    "\"prompt_tokens_details\":{\"cached_tokens\":0,\"total_tokens\":98},\"total_tokens\":15,"
    "\"prompt_cache_hit_tokens\":0,\"prompt_cache_miss_tokens\":10},\"system_fingerprint\":\"fp_1\"}";

static void test_usage_top_level(void **state)
{
    (void)state;
    expect_usage(deepseek_json, 15);
    expect_usage("{\"usage\":{\"total_tokens\":0}}", 0);
    expect_usage("{\"u\\u0073age\":{\"total\\u005ftokens\":12}}", 12);
    /* members after a nested object inside usage still count */
    expect_usage("{\"usage\":{\"d\":{\"x\":[{}]},\"e\":[[]],\"total_tokens\":16}}", 16);
}

static void test_usage_nested_only_is_absent(void **state)
{
    (void)state;
    expect_no_usage("{\"choices\":[{\"usage\":{\"total_tokens\":5}}]}");
    expect_no_usage("{\"x\":{\"usage\":{\"total_tokens\":5}}}");
    expect_no_usage("{\"total_tokens\":5}");
    expect_no_usage("{\"usage\":{\"details\":{\"total_tokens\":5}}}");
    expect_no_usage("{\"usage\":[{\"total_tokens\":5}]}");
    expect_no_usage("{\"usage\":{}}");
    expect_no_usage("{\"usage\":null}");
    expect_no_usage("{\"c\":\"\\\"usage\\\":{\\\"total_tokens\\\": 3}\"}");
    /* a nested usage after the top-level one changes nothing */
    expect_usage("{\"usage\":{\"total_tokens\":5},\"choices\":[{\"usage\":{\"total_tokens\":6}}]}", 5);
}

static void test_usage_last_wins(void **state)
{
    (void)state;
    expect_usage("{\"usage\":{\"total_tokens\":1},\"usage\":{\"total_tokens\":2}}", 2);
    expect_usage("{\"usage\":{\"total_tokens\":1,\"total_tokens\":3}}", 3);
    expect_no_usage("{\"usage\":{\"total_tokens\":1},\"usage\":null}");
    expect_no_usage("{\"usage\":{\"total_tokens\":1},\"usage\":{\"prompt_tokens\":1}}");
    expect_no_usage("{\"usage\":{\"total_tokens\":1,\"total_tokens\":\"2\"}}");
}

static void test_usage_garbage_values(void **state)
{
    (void)state;
    const char *bad[] = { "null", "-3", "\"15\"", "1.0", "1e1", "18446744073709551616",
                          "123456789012345678901234567890", "{}", "[]", "true" };
    char body[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body, "{\"usage\":{\"total_tokens\":%s}}", bad[i]);
        expect_no_usage(body);
    }
    expect_usage("{\"usage\":{\"total_tokens\":18446744073709551615}}", UINT64_MAX);
    expect_no_usage("data: {\"usage\":{\"total_tokens\":5}}\n\n");   /* SSE is not JSON */
    expect_no_usage("");
}

static void test_request_and_response_keys_apart(void **state)
{
    (void)state;
    /* a request scan does not look at usage, a usage scan not at model */
    sc_body_req q = scan("{\"usage\":{\"total_tokens\":5},\"total_tokens\":3}");
    assert_true(q.object);
    assert_false(q.has_model);
    assert_false(q.counts.has_max_tokens);
    expect_no_usage("{\"model\":\"a\",\"max_tokens\":5,\"n\":2}");
}

/* ------------------------------------ random bodies against an oracle */

typedef struct gen {
    uint64_t seed;
    char *b;
    size_t n, cap;
} gen;

static unsigned pick(gen *g, unsigned k)
{
    return (unsigned)(splitmix64(&g->seed) % k);
}

static void put(gen *g, const char *s)
{
    size_t l = strlen(s);
    if (g->n + l + 1 > g->cap) {
        g->cap = (g->n + l + 1) * 2;
        g->b = realloc(g->b, g->cap);
        assert_non_null(g->b);
    }
    memcpy(g->b + g->n, s, l);
    g->n += l;
    g->b[g->n] = '\0';
}

static void ws(gen *g)
{
    static const char *w[] = { "", "", "", " ", "\n", "\t ", "\r\n  " };
    put(g, w[pick(g, 7)]);
}

static void value(gen *g, unsigned depth);

static void object(gen *g, unsigned depth)
{
    static const char *keys[] = { "model", "mo\\u0064el", "m\\u006Fdel", "max_tokens",
                                  "max_completion_tokens", "n", "\\u006e", "usage",
                                  "total_tokens", "metadata", "messages", "x", "models" };
    put(g, "{");
    unsigned k = pick(g, 5);
    for (unsigned i = 0; i < k; i++) {
        if (i)
            put(g, ",");
        ws(g);
        put(g, "\"");
        /* top-level members name the model often, so renames are common */
        unsigned nk = depth == 0 && pick(g, 2) ? 3 : sizeof keys / sizeof keys[0];
        put(g, keys[pick(g, nk)]);
        put(g, "\"");
        ws(g);
        put(g, ":");
        ws(g);
        value(g, depth + 1);
        ws(g);
    }
    put(g, "}");
}

static void value(gen *g, unsigned depth)
{
    static const char *scalars[] = {
        "\"a\"", "\"b\"", "\"\\u0061\"", "\"deepseek-chat\"", "\"x\\\"y\"", "\"\"", "0", "7",
        "42", "18446744073709551615", "18446744073709551616", "-1", "1.5", "1e3", "null",
        "true", "false", "\"\\u00e9\\n\"", "\"\xc3\xa9\"",
    };
    unsigned r = pick(g, depth < 4 ? 10 : 6);
    if (r < 6) {
        put(g, scalars[pick(g, sizeof scalars / sizeof scalars[0])]);
    } else if (r < 8) {
        object(g, depth);
    } else {
        put(g, "[");
        unsigned k = pick(g, 4);
        for (unsigned i = 0; i < k; i++) {
            if (i)
                put(g, ",");
            ws(g);
            value(g, depth + 1);
        }
        put(g, "]");
    }
}

/* The oracle: the last top-level key of a name in yajl's tree. */
static yajl_val last_key(yajl_val obj, const char *name)
{
    yajl_val v = NULL;
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], name) == 0)
            v = obj->u.object.values[i];
    return v;
}

static bool oracle_count(yajl_val v, bool saturate, uint64_t *out)
{
    if (!v || !YAJL_IS_NUMBER(v))
        return false;
    const char *t = YAJL_GET_NUMBER(v);
    if (strspn(t, "0123456789") != strlen(t))
        return false;
    /* decided on the digit string, without arithmetic */
    static const char maxs[] = "18446744073709551615";
    size_t nd = strlen(t);
    if (nd > 20 || (nd == 20 && strcmp(t, maxs) > 0)) {
        *out = UINT64_MAX;
        return saturate;
    }
    *out = strtoull(t, NULL, 10);
    return true;
}

/* Bytes above 0x7F as 'Q': the tree parser checks UTF-8 and the scan does
 * not; in a string either is fine, outside one either is an error, and 'Q'
 * is in no key the scan looks for. Lengths, so offsets, do not change. */
static char *ascii(const char *s, size_t n)
{
    char *a = malloc(n + 1);
    assert_non_null(a);
    for (size_t i = 0; i < n; i++)
        a[i] = (unsigned char)s[i] > 0x7F ? 'Q' : s[i];
    a[n] = '\0';
    return a;
}

static void check_against_oracle(const char *body, size_t n, const sc_route_cfg *rt)
{
    char err[128];
    char *plain = ascii(body, n);
    yajl_val tree = yajl_tree_parse(plain, err, sizeof err);
    free(plain);
    /* the tree parser allows comments, JSON does not */
    bool object = tree && YAJL_IS_OBJECT(tree) && !memchr(body, '/', n);
    sc_body_req q = scan_n(body, n);
    if (q.object != object)
        fail_msg("object: got %d, oracle %d for %s", q.object, object, body);
    uint64_t v = 777, want = 0;
    int rc = usage(body, &v);
    if (!object) {
        expect_nothing(body, n);
        assert_int_equal(rc, -1);
        yajl_tree_free(tree);
        return;
    }

    yajl_val m = last_key(tree, "model");
    bool has_model = m && YAJL_IS_STRING(m);
    if (q.has_model != has_model)
        fail_msg("has_model: got %d, oracle %d for %s", q.has_model, has_model, body);
    char *got = renamed_n(rt, body, n);
    if (has_model) {
        char name[SC_BODY_MODEL_MAX + 1];
        size_t tl;
        char *mv = ascii(m->u.string, strlen(m->u.string));   /* YAJL_IS_STRING(m) */
        int nl = sc_body_model(&q, body, n, name, &tl);
        assert_int_equal(nl, (int)strlen(mv));
        char *nv = ascii(name, (size_t)nl);
        assert_string_equal(nv, mv);
        free(nv);
        free(mv);
        const char *to = NULL;
        for (uint32_t k = 0; k < rt->nmodels && !to; k++)
            if (strcmp(rt->model_from[k], name) == 0)
                to = rt->model_to[k];
        if (!to != !got)
            fail_msg("rename: got %s, want %s for %s", got ? got : "none", to ? to : "none", body);
        if (got) {
            char *gp = ascii(got, strlen(got));
            yajl_val t2 = yajl_tree_parse(gp, err, sizeof err);
            free(gp);
            assert_non_null(t2);
            yajl_val m2 = last_key(t2, "model");
            assert_true(m2 && YAJL_IS_STRING(m2));
            assert_string_equal(m2->u.string, to);
            assert_memory_equal(got, body, q.model_at);
            size_t gl = strlen(got), tail = n - q.model_at - tl;
            assert_memory_equal(got + gl - tail, body + n - tail, tail);
            yajl_tree_free(t2);
        }
    } else {
        assert_null(got);
    }
    free(got);

    uint64_t a = 0, b = 0;
    bool ha = oracle_count(last_key(tree, "max_tokens"), true, &a);
    bool hb = oracle_count(last_key(tree, "max_completion_tokens"), true, &b);
    want = ha && hb ? (a > b ? a : b) : ha ? a : hb ? b : 0;
    if (q.counts.has_max_tokens != (ha || hb) || q.counts.max_tokens != want)
        fail_msg("max_tokens: got %d/%llu, oracle %d/%llu for %s", q.counts.has_max_tokens,
                 (unsigned long long)q.counts.max_tokens, ha || hb, (unsigned long long)want, body);
    uint64_t nn = 1;
    if (!oracle_count(last_key(tree, "n"), true, &nn))
        nn = 1;
    if (q.counts.n != nn)
        fail_msg("n: got %llu, oracle %llu for %s", (unsigned long long)q.counts.n,
                 (unsigned long long)nn, body);

    yajl_val u = last_key(tree, "usage");
    bool hu = u && YAJL_IS_OBJECT(u) && oracle_count(last_key(u, "total_tokens"), false, &want);
    if ((rc == 0) != hu || (hu && v != want))
        fail_msg("usage: got %d/%llu, oracle %d/%llu for %s", rc, (unsigned long long)v, hu,
                 (unsigned long long)want, body);
    yajl_tree_free(tree);
}

static void test_random_bodies_against_the_tree_parser(void **state)
{
    (void)state;
    const sc_route_cfg *rt = route("a", "A\"1", "deepseek-chat", "ds", "", "empty", NULL);
    gen g = { .seed = 3 };
    unsigned objects = 0, models = 0, renames = 0;
    for (int it = 0; it < 30000; it++) {
        g.n = 0;
        put(&g, "");
        ws(&g);
        if (pick(&g, 8))
            object(&g, 0);
        else
            value(&g, 0);
        ws(&g);
        size_t n = g.n;
        unsigned how = pick(&g, 4);
        if (how == 1 && n) {
            n = pick(&g, (unsigned)n);               /* truncated */
            g.b[n] = '\0';
        } else if (how == 2 && n) {
            static const char bytes[] = "{}[],:\"\\ 0a-";
            g.b[pick(&g, (unsigned)n)] = bytes[pick(&g, sizeof bytes - 1)];   /* one byte changed */
        }
        check_against_oracle(g.b, n, rt);
        sc_body_req q = scan_n(g.b, n);
        objects += q.object;
        models += q.has_model;
        char *r = renamed_n(rt, g.b, n);
        renames += r != NULL;
        free(r);
    }
    free(g.b);
    /* the generator really reaches every outcome */
    assert_true(objects > 10000);
    assert_true(models > 1500);
    assert_true(renames > 700);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_level_model_renamed),
        cmocka_unit_test(test_nested_model_before_top_level),
        cmocka_unit_test(test_nested_model_after_top_level),
        cmocka_unit_test(test_model_in_a_response_format_schema),
        cmocka_unit_test(test_only_nested_models_no_rename),
        cmocka_unit_test(test_escaped_keys_and_values),
        cmocka_unit_test(test_replacement_is_escaped),
        cmocka_unit_test(test_whitespace_everywhere),
        cmocka_unit_test(test_no_model_or_not_a_string),
        cmocka_unit_test(test_no_map_or_no_match),
        cmocka_unit_test(test_duplicate_model_last_wins),
        cmocka_unit_test(test_invalid_json_no_rename_no_numbers),
        cmocka_unit_test(test_strings_are_not_checked_for_utf8),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_20mb_prompt_keeps_every_other_byte),
        cmocka_unit_test(test_model_token_span),
        cmocka_unit_test(test_model_name_length_limit),
        cmocka_unit_test(test_model_api_refuses_foreign_scans),
        cmocka_unit_test(test_max_tokens_top_level_only),
        cmocka_unit_test(test_max_completion_tokens),
        cmocka_unit_test(test_non_integer_values_ignored),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_n),
        cmocka_unit_test(test_estimate_of_a_non_json_body),
        cmocka_unit_test(test_usage_top_level),
        cmocka_unit_test(test_usage_nested_only_is_absent),
        cmocka_unit_test(test_usage_last_wins),
        cmocka_unit_test(test_usage_garbage_values),
        cmocka_unit_test(test_request_and_response_keys_apart),
        cmocka_unit_test(test_random_bodies_against_the_tree_parser),
    };
    return cmocka_run_group_tests_name("body_json", tests, NULL, NULL);
}
