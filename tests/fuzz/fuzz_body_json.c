/*
 * fuzz_body_json.c — the top-level JSON key scans and the model rename
 * (sidecar/body_json.c).
 *
 * The input is the body itself (so the seeds are real request and response
 * bodies), passed as an exactly sized heap copy so that a read past its end
 * is an ASan report. The route's models map is built per input so that
 * renames are common: it maps the body's own model name (when it has one
 * that can be mapped) to one of a few replacement names, chosen by the
 * input's length, some of which need escaping and one of which is not
 * UTF-8. Properties:
 *
 * - Bytes above 0x7F do not matter to structure (strings are not checked
 *   for UTF-8, and outside strings any such byte is an error), nor does
 *   which control byte sits where one is an error: the input with those
 *   bytes replaced by 'Q' and NUL by 0x01 (same length) scans the same —
 *   object or not, model place, counts, usage.
 * - That ASCII copy agrees with yajl's tree parser (a DOM, the oracle;
 *   it checks UTF-8 and takes C strings, hence the copy; it also allows
 *   comments, so its "object" is also checked without them): the body is
 *   an object within the depth limit exactly when the tree says so; the
 *   model, the counts and the usage are those of the last top-level key of
 *   each name.
 * - A renamed body is valid JSON (yajl, no callbacks, re-parses it; as in
 *   the scan, the UTF-8 inside strings is not checked), is
 *   the input with only the model value's token replaced (every byte
 *   before and after it identical), and scanning it again finds, at the
 *   same place at top level, the new name, and the same counts.
 * - No rename happens without a top-level model string that the map names,
 *   and one always happens with one, unless `to` is not UTF-8.
 * - The token estimate from the scan's counts never wraps.
 */
#include "body_json.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

/* A violated property aborts (libFuzzer then saves the input), naming
 * itself first: the compiler merges bare traps, so a stack trace alone
 * would not tell which check failed. */
__attribute__((noreturn, cold, noinline))
static void check_failed(int line, const char *what)
{
    fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, line, what);
    abort();
}
#define CHECK(cond) do { if (!(cond)) check_failed(__LINE__, #cond); } while (0)

static const char *const replacements[] = {
    "deepseek-chat", "x\"y\\z/", "tab\there\nand\x01", "\xe6\x97\xa5\xe6\x9c\xac", "", "bad\xff",
};

/* Valid as the scan means it: structure, not the UTF-8 inside strings. */
static bool valid_json(const uint8_t *b, size_t n)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    CHECK(h != NULL);
    yajl_config(h, yajl_dont_validate_strings, 1);
    bool ok = yajl_parse(h, b, n) == yajl_status_ok && yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    return ok;
}

/* --------------------------------------------------------- the oracle */

static yajl_val last_key(yajl_val obj, const char *name)
{
    yajl_val v = NULL;
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], name) == 0)
            v = obj->u.object.values[i];
    return v;
}

static unsigned depth_of(yajl_val v)
{
    unsigned d = 0;
    if (YAJL_IS_OBJECT(v)) {
        for (size_t i = 0; i < v->u.object.len; i++) {
            unsigned c = depth_of(v->u.object.values[i]);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    if (YAJL_IS_ARRAY(v)) {
        for (size_t i = 0; i < v->u.array.len; i++) {
            unsigned c = depth_of(v->u.array.values[i]);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    return 0;
}

static bool oracle_count(yajl_val v, bool saturate, uint64_t *out)
{
    if (!v || !YAJL_IS_NUMBER(v))
        return false;
    const char *t = YAJL_GET_NUMBER(v);
    size_t nd = strlen(t);
    if (nd == 0 || strspn(t, "0123456789") != nd)
        return false;
    static const char maxs[] = "18446744073709551615";
    if (nd > 20 || (nd == 20 && strcmp(t, maxs) > 0)) {
        *out = UINT64_MAX;
        return saturate;
    }
    *out = strtoull(t, NULL, 10);
    return true;
}

/* The scans of an ASCII body without NUL against the tree. */
static void check_oracle(const uint8_t *b, size_t n, const sc_body_req *q, int urc,
                         uint64_t total)
{
    char *s = malloc(n + 1);
    CHECK(s != NULL);
    memcpy(s, b, n);
    s[n] = '\0';
    CHECK(strlen(s) == n);
    char err[128];
    yajl_val tree = yajl_tree_parse(s, err, sizeof err);
    free(s);
    /* yajl_tree_parse allows comments; strict JSON does not */
    bool object = tree && YAJL_IS_OBJECT(tree) && depth_of(tree) <= SC_BODY_MAX_DEPTH
                  && valid_json(b, n);
    CHECK(q->object == object);
    if (!object) {
        CHECK(urc == -1);
        yajl_tree_free(tree);
        return;
    }
    yajl_val m = last_key(tree, "model");
    CHECK(q->has_model == (m && YAJL_IS_STRING(m)));
    if (q->has_model) {
        char name[SC_BODY_MODEL_MAX + 1];
        size_t tl;
        int nl = sc_body_model(q, b, n, name, &tl);
        /* the tree's C string stops at a decoded NUL: compare up to it */
        const char *want = m->u.string;
        size_t wl = strlen(want);
        if (nl >= 0)
            CHECK(wl <= (size_t)nl && memcmp(name, want, wl) == 0
                  && (wl == (size_t)nl || name[wl] == '\0'));
    }

    uint64_t a = 0, c = 0, want = 0;
    bool ha = oracle_count(last_key(tree, "max_tokens"), true, &a);
    bool hc = oracle_count(last_key(tree, "max_completion_tokens"), true, &c);
    want = ha && hc ? (a > c ? a : c) : ha ? a : hc ? c : 0;
    CHECK(q->counts.has_max_tokens == (ha || hc));
    CHECK(q->counts.max_tokens == want);
    uint64_t nn = 1;
    if (!oracle_count(last_key(tree, "n"), true, &nn))
        nn = 1;
    CHECK(q->counts.n == nn);

    yajl_val u = last_key(tree, "usage");
    bool hu = u && YAJL_IS_OBJECT(u) && oracle_count(last_key(u, "total_tokens"), false, &want);
    CHECK((urc == 0) == hu);
    if (hu)
        CHECK(total == want);
    yajl_tree_free(tree);
}

/* ------------------------------------------------------------ rename */

static void check_rename(const uint8_t *b, size_t n, const sc_body_req *q)
{
    static sc_route_cfg rt;
    memset(&rt, 0, sizeof rt);
    char name[SC_BODY_MODEL_MAX + 1];
    size_t tl = 0;
    int nl = sc_body_model(q, b, n, name, &tl);
    const char *to = replacements[n % (sizeof replacements / sizeof replacements[0])];
    /* an unrelated pair first, so the match is not always the first entry */
    snprintf(rt.model_from[0], sizeof rt.model_from[0], "gpt-4o");
    snprintf(rt.model_to[0], sizeof rt.model_to[0], "unused");
    rt.nmodels = 1;
    /* a name with a NUL of its own cannot be a config string */
    bool mappable = nl >= 0 && memchr(name, '\0', (size_t)nl) == NULL;
    if (mappable) {
        memcpy(rt.model_from[1], name, (size_t)nl + 1);
        snprintf(rt.model_to[1], sizeof rt.model_to[1], "%s", to);
        rt.nmodels = 2;
    }
    bool is_gpt = nl == 6 && memcmp(name, "gpt-4o", 6) == 0;
    bool maps = is_gpt || mappable;
    const char *dest = is_gpt ? "unused" : to;   /* the first pair that matches */

    size_t olen = 0;
    uint8_t *o = sc_body_rename_model(q, b, n, &rt, &olen);
    if (!maps || !q->object || !q->has_model) {
        CHECK(o == NULL);
        return;
    }
    bool utf8_ok = strcmp(dest, "bad\xff") != 0;
    CHECK((o != NULL) == utf8_ok);
    if (!o)
        return;

    /* only the token changed */
    size_t at = q->model_at, tail = n - at - tl;
    CHECK(olen >= at + tail + 2);
    CHECK(memcmp(o, b, at) == 0);
    CHECK(memcmp(o + olen - tail, b + at + tl, tail) == 0);
    CHECK(o[at] == '"' && o[olen - tail - 1] == '"');
    CHECK(valid_json(o, olen));

    /* read back: the new name, at the same place, the same numbers */
    sc_body_req r;
    sc_body_scan_request(o, olen, &r);
    CHECK(r.object && r.has_model && r.model_at == at);
    char got[SC_BODY_MODEL_MAX + 1];
    size_t gtl = 0;
    int gl = sc_body_model(&r, o, olen, got, &gtl);
    CHECK(gl == (int)strlen(dest) && strcmp(got, dest) == 0);
    CHECK(gtl == olen - tail - at);
    CHECK(r.counts.has_max_tokens == q->counts.has_max_tokens);
    CHECK(r.counts.max_tokens == q->counts.max_tokens);
    CHECK(r.counts.n == q->counts.n);
    uint64_t t1 = 1, t2 = 2;
    int u1 = sc_body_usage(b, n, &t1), u2 = sc_body_usage(o, olen, &t2);
    CHECK(u1 == u2 && (u1 < 0 || t1 == t2));
    free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *b = malloc(size ? size : 1);
    CHECK(b != NULL);
    if (size)
        memcpy(b, data, size);

    sc_body_req q;
    sc_body_scan_request(b, size, &q);
    if (!q.object)
        CHECK(!q.has_model && !q.counts.has_max_tokens && q.counts.n == 1);
    if (q.has_model)
        CHECK(q.model_at < size && b[q.model_at] == '"');
    /* only a valid body is an object */
    if (q.object)
        CHECK(valid_json(b, size));

    uint64_t total = 0x5A5A;
    int urc = sc_body_usage(b, size, &total);
    CHECK(urc == 0 || (urc == -1 && total == 0x5A5A));

    uint8_t *a = malloc(size + 1);
    CHECK(a != NULL);
    for (size_t i = 0; i < size; i++)
        a[i] = b[i] > 0x7F ? 'Q' : b[i] == 0 ? 1 : b[i];
    sc_body_req qa;
    sc_body_scan_request(a, size, &qa);
    CHECK(qa.object == q.object && qa.has_model == q.has_model && qa.model_at == q.model_at);
    CHECK(qa.counts.has_max_tokens == q.counts.has_max_tokens);
    CHECK(qa.counts.max_tokens == q.counts.max_tokens && qa.counts.n == q.counts.n);
    uint64_t ta = 0x5A5A;
    CHECK(sc_body_usage(a, size, &ta) == urc && ta == total);
    if (q.has_model) {
        char n1[SC_BODY_MODEL_MAX + 1], n2[SC_BODY_MODEL_MAX + 1];
        size_t l1 = 0, l2 = 0;
        CHECK(sc_body_model(&q, b, size, n1, &l1) == sc_body_model(&qa, a, size, n2, &l2));
        CHECK(l1 == l2);
    }
    check_oracle(a, size, &qa, urc, total);
    free(a);

    check_rename(b, size, &q);

    /* the estimate from what the scan found never wraps */
    rsp_token_estimate e;
    rsp_tokens_estimate_counts(size, &q.counts, 1000, &e);
    CHECK(e.prompt_tokens + e.max_tokens >= e.prompt_tokens);
    free(b);
    return 0;
}
