/*
 * body_json.c — top-level keys of JSON bodies, through yajl's callbacks
 * (see body_json.h for the rules).
 *
 * Why callbacks and this shape:
 *
 * - yajl keeps its nesting state in a byte stack and calls us per token;
 *   we keep only a depth counter and "which top-level key's value comes
 *   next". Nothing is built, so memory does not grow with the body.
 * - We register no string-value callback. yajl decodes a string that has
 *   escapes into its own buffer only to hand it to that callback, and a
 *   prompt is one long string full of \n and \": without the callback it
 *   is lexed in place and never copied. Keys (short) and numbers do come
 *   to us; numbers through yajl_number, as text, so that huge or
 *   fractional values are ours to judge instead of yajl's parse errors.
 * - A string value therefore announces itself by silence: after a wanted
 *   key, the next callback is the value's own (number, null, boolean, map
 *   or array start) unless the value is a string, in which case the next
 *   callback is the next key or the end of the object, at the same depth.
 *
 * Byte offsets, for the rename. yajl 2.1 has one offset accessor,
 * yajl_get_bytes_consumed(): the parser's position in the chunk of the
 * current yajl_parse() call. Inside a callback it is valid and exact: the
 * lexer advances that position past a token before the parser calls us
 * for it (yajl_parser.c: yajl_lex_lex(..., offset, ...) then the callback;
 * yajl_do_parse zeroes it only on entry). We pass the whole body as one
 * chunk, so in a key callback it is the absolute offset just past the
 * key's closing quote. Every key is lexed in that first call, since a
 * string token ends at its closing quote inside the buffer; only a token
 * cut off by the end of the buffer is finished by yajl_complete_parse()
 * (whose own chunk restarts the count), and that happens only to bodies
 * that turn out invalid, whose offsets are never used. From the key's end
 * the value's opening quote is the first '"': yajl accepted only
 * whitespace and one ':' in between. Its end is found by a second, tiny
 * parse of the bytes from that quote with a string callback, where bytes
 * consumed is again exact: that window holds the token and nothing before
 * it, so the count is the token's length. The window is capped at what
 * the longest mappable name can take escaped (6 bytes per decoded byte,
 * "\u00XX"), so a hostile megabyte "model" costs no second pass.
 * The tests check the span on escaped, spaced and unescaped values; the
 * fuzz target checks that a renamed body differs only there.
 */
#include "body_json.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

enum key { K_NONE, K_MODEL, K_MAX_TOKENS, K_MAX_COMPLETION, K_N, K_STREAM, K_USAGE, K_TOTAL };
enum value { V_STRING, V_NUMBER, V_TRUE, V_OTHER };   /* V_OTHER: null, false, map, array */

typedef struct scan {
    yajl_handle h;
    const uint8_t *body;
    size_t len;
    bool response;          /* which keys are wanted */
    bool object;            /* the top-level value opened as an object */
    unsigned depth;         /* 1 inside the top-level object */
    enum key pending;       /* the wanted key whose value comes next */
    size_t key_end;         /* just past that key's closing quote */
    bool in_usage;          /* inside the current top-level "usage" object */
    bool any_top;           /* an array will do at the top too (sc_body_is_json) */

    bool has_model;
    size_t model_at;
    bool has_max, has_mct;
    uint64_t max, mct, n;
    bool stream;
    bool has_total;
    uint64_t total;
} scan;

/* A JSON number's text as a count: digits only (no '-', '.', exponent).
 * Beyond UINT64_MAX: UINT64_MAX if saturate, else not a count. */
static bool count_of(const char *t, size_t l, bool saturate, uint64_t *v)
{
    if (l == 0)
        return false;
    uint64_t x = 0;
    bool over = false;
    /* every byte is looked at even once over: "1e400" is not a count */
    for (size_t i = 0; i < l; i++) {
        if (t[i] < '0' || t[i] > '9')
            return false;
        unsigned d = (unsigned)(t[i] - '0');
        if (over || x > (UINT64_MAX - d) / 10)
            over = true;
        else
            x = x * 10 + d;
    }
    if (over && !saturate)
        return false;
    *v = over ? UINT64_MAX : x;
    return true;
}

/* The value of s->pending has arrived (kind; for a number, its text). */
static void resolve(scan *s, enum value kind, const char *t, size_t l)
{
    enum key k = s->pending;
    s->pending = K_NONE;
    uint64_t v = 0;
    bool num = kind == V_NUMBER;
    switch (k) {
    case K_NONE:
        return;
    case K_MODEL:
        s->has_model = false;
        if (kind == V_STRING) {
            const uint8_t *q = memchr(s->body + s->key_end, '"', s->len - s->key_end);
            if (q) {
                s->has_model = true;
                s->model_at = (size_t)(q - s->body);
            }
        }
        return;
    case K_MAX_TOKENS:
        s->has_max = num && count_of(t, l, true, &v);
        s->max = v;
        return;
    case K_MAX_COMPLETION:
        s->has_mct = num && count_of(t, l, true, &v);
        s->mct = v;
        return;
    case K_N:
        s->n = num && count_of(t, l, true, &v) ? v : 1;
        return;
    case K_STREAM:
        s->stream = kind == V_TRUE;
        return;
    case K_USAGE:
        /* the object's own callback (start_map) sets in_usage after this */
        s->has_total = false;
        s->in_usage = false;
        return;
    case K_TOTAL:
        s->has_total = num && count_of(t, l, false, &v);
        s->total = v;
        return;
    }
}

static bool key_is(const unsigned char *k, size_t l, const char *want)
{
    size_t n = strlen(want);
    return l == n && memcmp(k, want, n) == 0;
}

/* A scalar other than a string. At depth 0 it is the whole body: not an
 * object, so the parse can stop here. */
static int on_scalar(scan *s, enum value kind, const char *t, size_t l)
{
    if (s->depth == 0)
        return 0;
    if (s->pending != K_NONE)
        resolve(s, kind, t, l);
    return 1;
}

static int cb_null(void *ctx)
{
    return on_scalar(ctx, V_OTHER, NULL, 0);
}

static int cb_boolean(void *ctx, int b)
{
    return on_scalar(ctx, b ? V_TRUE : V_OTHER, NULL, 0);
}

static int cb_number(void *ctx, const char *t, size_t l)
{
    return on_scalar(ctx, V_NUMBER, t, l);
}

static int open_container(scan *s, bool map)
{
    if (s->depth == 0) {
        if (!map && !s->any_top)
            return 0;
        s->object = true;
    }
    bool usage = s->pending == K_USAGE && map;
    if (s->pending != K_NONE)
        resolve(s, V_OTHER, NULL, 0);
    if (++s->depth > SC_BODY_MAX_DEPTH)
        return 0;
    if (usage)
        s->in_usage = true;   /* its members are at depth 2 */
    return 1;
}

static int cb_start_map(void *ctx)
{
    return open_container(ctx, true);
}

static int cb_start_array(void *ctx)
{
    return open_container(ctx, false);
}

static int cb_end_map(void *ctx)
{
    scan *s = ctx;
    if (s->pending != K_NONE)
        resolve(s, V_STRING, NULL, 0);   /* the last member's value was a string */
    if (s->in_usage && s->depth == 2)
        s->in_usage = false;
    s->depth--;
    return 1;
}

static int cb_end_array(void *ctx)
{
    scan *s = ctx;
    s->depth--;
    return 1;
}

static int cb_map_key(void *ctx, const unsigned char *k, size_t l)
{
    scan *s = ctx;
    if (s->pending != K_NONE)
        resolve(s, V_STRING, NULL, 0);   /* the previous member's value was a string */
    enum key want = K_NONE;
    if (s->depth == 1 && !s->response) {
        if (key_is(k, l, "model"))
            want = K_MODEL;
        else if (key_is(k, l, "max_tokens"))
            want = K_MAX_TOKENS;
        else if (key_is(k, l, "max_completion_tokens"))
            want = K_MAX_COMPLETION;
        else if (key_is(k, l, "n"))
            want = K_N;
        else if (key_is(k, l, "stream"))
            want = K_STREAM;
    } else if (s->depth == 1) {
        if (key_is(k, l, "usage"))
            want = K_USAGE;
    } else if (s->depth == 2 && s->in_usage) {
        if (key_is(k, l, "total_tokens"))
            want = K_TOTAL;
    }
    if (want != K_NONE) {
        s->pending = want;
        s->key_end = yajl_get_bytes_consumed(s->h);
    }
    return 1;
}

static const yajl_callbacks scan_callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end_map,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end_array,
};

/* Structure is checked, the bytes inside strings are not: yajl's UTF-8
 * check leaves its string loop at every byte above 0x7F, which costs most
 * on CJK prompts (bench/RESULTS.md, "body_json"), and what a prompt's text
 * holds is the upstream's to judge. A renamed body stays as (in)valid as
 * the client sent it, since `to` itself is checked. */
static yajl_handle parser(const yajl_callbacks *cb, void *ctx)
{
    yajl_handle h = yajl_alloc(cb, NULL, ctx);
    if (h)
        yajl_config(h, yajl_dont_validate_strings, 1);
    return h;
}

/* One pass; true if the body is one valid JSON object within the limits. */
static bool run(scan *s, const void *body, size_t len, bool response)
{
    bool any = s->any_top;
    memset(s, 0, sizeof *s);
    s->any_top = any;
    s->body = body;
    s->len = len;
    s->response = response;
    s->n = 1;
    if (!body || len == 0)
        return false;
    s->h = parser(&scan_callbacks, s);
    if (!s->h)
        return false;
    bool ok = yajl_parse(s->h, body, len) == yajl_status_ok
              && yajl_complete_parse(s->h) == yajl_status_ok && s->object;
    yajl_free(s->h);
    s->h = NULL;
    return ok;
}

void sc_body_scan_request(const void *body, size_t len, sc_body_req *out)
{
    scan s = { .any_top = false };
    bool ok = run(&s, body, len, false);
    memset(out, 0, sizeof *out);
    out->counts.n = 1;
    if (!ok)
        return;
    out->object = true;
    out->has_model = s.has_model;
    out->model_at = s.has_model ? s.model_at : 0;
    out->counts.has_max_tokens = s.has_max || s.has_mct;
    if (s.has_max)
        out->counts.max_tokens = s.max;
    if (s.has_mct && (!s.has_max || s.mct > s.max))
        out->counts.max_tokens = s.mct;
    out->counts.n = s.n;
    out->stream = s.stream;
}

bool sc_body_is_json(const void *body, size_t len)
{
    scan s = { .any_top = true };
    return run(&s, body, len, true);
}

int sc_body_usage(const void *body, size_t len, uint64_t *total)
{
    scan s = { .any_top = false };
    if (!run(&s, body, len, true) || !s.has_total)
        return -1;
    *total = s.total;
    return 0;
}

/* ------------------------------------------------------ the model value */

typedef struct token {
    yajl_handle h;
    bool seen, fits;
    size_t token_len, name_len;
    char *name;
} token;

static int cb_token(void *ctx, const unsigned char *v, size_t l)
{
    token *t = ctx;
    t->seen = true;
    t->token_len = yajl_get_bytes_consumed(t->h);
    t->fits = l <= SC_BODY_MODEL_MAX;
    if (t->fits) {
        memcpy(t->name, v, l);
        t->name[l] = '\0';
        t->name_len = l;
    }
    return 0;   /* the token is all we wanted: stop */
}

static const yajl_callbacks token_callbacks = { .yajl_string = cb_token };

/* Escaped, each decoded byte takes at most 6 bytes ("\u00XX"). */
#define MODEL_WINDOW (2 + 6 * SC_BODY_MODEL_MAX)

int sc_body_model(const sc_body_req *scan, const void *body, size_t len,
                  char name[SC_BODY_MODEL_MAX + 1], size_t *token_len)
{
    if (!scan || !scan->object || !scan->has_model || !body || scan->model_at >= len
        || ((const uint8_t *)body)[scan->model_at] != '"')
        return -1;
    token t = { .name = name };
    t.h = parser(&token_callbacks, &t);
    if (!t.h)
        return -1;
    size_t window = len - scan->model_at;
    if (window > MODEL_WINDOW)
        window = MODEL_WINDOW;
    /* client_canceled is the success here: cb_token stops the parse; a
     * token longer than the window is simply never seen */
    yajl_parse(t.h, (const uint8_t *)body + scan->model_at, window);
    yajl_free(t.h);
    if (!t.seen || !t.fits)
        return -1;
    *token_len = t.token_len;
    return (int)t.name_len;
}

/* `to` as a JSON string token, by yajl's own generator (so its escaping
 * matches its parser's); NULL if `to` is not valid UTF-8 or on ENOMEM. */
static yajl_gen encode(const char *to, const unsigned char **buf, size_t *blen)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return NULL;
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);
    if (yajl_gen_string(g, (const unsigned char *)to, strlen(to)) != yajl_gen_status_ok
        || yajl_gen_get_buf(g, buf, blen) != yajl_gen_status_ok) {
        yajl_gen_free(g);
        return NULL;
    }
    return g;
}

uint8_t *sc_body_rename_model(const sc_body_req *scan, const void *body, size_t len,
                              const sc_route_cfg *route, size_t *out_len)
{
    if (!route || route->nmodels == 0)
        return NULL;
    char name[SC_BODY_MODEL_MAX + 1];
    size_t tok;
    int nlen = sc_body_model(scan, body, len, name, &tok);
    if (nlen < 0)
        return NULL;
    const char *to = NULL;
    for (uint32_t k = 0; k < route->nmodels && k < SC_MAX_MODELS && !to; k++) {
        const char *from = route->model_from[k];
        if (strlen(from) == (size_t)nlen && memcmp(from, name, (size_t)nlen) == 0)
            to = route->model_to[k];
    }
    if (!to)
        return NULL;

    const unsigned char *enc;
    size_t elen;
    yajl_gen g = encode(to, &enc, &elen);
    if (!g)
        return NULL;
    size_t at = scan->model_at, rest = len - at - tok;
    uint8_t *nb = malloc(at + elen + rest);
    if (nb) {
        memcpy(nb, body, at);
        memcpy(nb + at, enc, elen);
        memcpy(nb + at + elen, (const uint8_t *)body + at + tok, rest);
        *out_len = at + elen + rest;
    }
    yajl_gen_free(g);
    return nb;
}
