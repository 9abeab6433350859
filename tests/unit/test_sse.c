/*
 * test_sse.c — unit tests of the incremental SSE parser (sidecar/policy/sse.c).
 *
 * Every test feeds bytes and compares the events the callback saw (copied
 * into a recorder) with what the WHATWG event-stream rules say. Streams are
 * also fed cut at every byte boundary, one byte at a time and at random
 * cuts, because curl's write callback may cut anywhere and the parser's
 * whole difficulty is state carried between feeds. The fuzz tests compare
 * against a deliberately naive whole-buffer reference parser written
 * straight from the spec, so the incremental one cannot just agree with
 * itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

/* ------------------------------------------------------------ recorder */

typedef struct ev {
    char *event;
    size_t elen;
    char *data;
    size_t dlen;
} ev;

typedef struct rec {
    ev *v;
    size_t n, cap;
    size_t stop_at;   /* if non-zero: the stop_at-th event returns stop_rc */
    int stop_rc;
    int not_nul_terminated;
    size_t max_seen;  /* largest data_len + event_len */
} rec;

static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    assert_non_null(d);
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void rec_push(rec *r, const char *event, size_t elen, const char *data, size_t dlen)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        assert_non_null(r->v);
    }
    r->v[r->n].event = dup_bytes(event, elen);
    r->v[r->n].elen = elen;
    r->v[r->n].data = dup_bytes(data, dlen);
    r->v[r->n].dlen = dlen;
    r->n++;
}

static int rec_fn(void *ctx, const char *event, size_t elen, const char *data, size_t dlen)
{
    rec *r = ctx;
    if (event[elen] != '\0' || data[dlen] != '\0')
        r->not_nul_terminated++;
    if (elen + dlen > r->max_seen)
        r->max_seen = elen + dlen;
    rec_push(r, event, elen, data, dlen);
    if (r->stop_at && r->n == r->stop_at)
        return r->stop_rc;
    return 0;
}

static void rec_free(rec *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].event);
        free(r->v[i].data);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}

static int rec_equal(const rec *a, const rec *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].elen != b->v[i].elen || a->v[i].dlen != b->v[i].dlen)
            return 0;
        if (memcmp(a->v[i].event, b->v[i].event, a->v[i].elen) != 0)
            return 0;
        if (memcmp(a->v[i].data, b->v[i].data, a->v[i].dlen) != 0)
            return 0;
    }
    return 1;
}

/* Event i has exactly this name and data (C strings: no NULs in these). */
static void assert_event(const rec *r, size_t i, const char *event, const char *data)
{
    assert_true(i < r->n);
    assert_int_equal(r->v[i].elen, strlen(event));
    assert_memory_equal(r->v[i].event, event, r->v[i].elen);
    assert_int_equal(r->v[i].dlen, strlen(data));
    assert_memory_equal(r->v[i].data, data, r->v[i].dlen);
}

/* --------------------------------------------------------- feed helpers */

#define BIG_MAX (1u << 20)

/* One parser over the whole of s, then finish. Returns the feed's result. */
static int run_whole(const char *s, size_t n, size_t max, rec *r, uint64_t *comments)
{
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, max, rec_fn, r), 0);
    int rc = rsp_sse_feed(&p, s, n);
    assert_int_equal(rsp_sse_finish(&p), 0);
    if (comments)
        *comments = rsp_sse_comments(&p);
    rsp_sse_destroy(&p);
    return rc;
}

/* s cut at the given increasing offsets; stops at the first non-zero feed. */
static int run_cuts(const char *s, size_t n, const size_t *cuts, size_t ncuts, size_t max,
                    rec *r, uint64_t *comments)
{
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, max, rec_fn, r), 0);
    int rc = 0;
    size_t at = 0;
    for (size_t k = 0; k <= ncuts && rc == 0; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        rc = rsp_sse_feed(&p, s + at, end - at);
        at = end;
    }
    rsp_sse_finish(&p);
    if (comments)
        *comments = rsp_sse_comments(&p);
    rsp_sse_destroy(&p);
    return rc;
}

static int run_bytewise(const char *s, size_t n, size_t max, rec *r, uint64_t *comments)
{
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, max, rec_fn, r), 0);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = rsp_sse_feed(&p, s + i, 1);
    rsp_sse_finish(&p);
    if (comments)
        *comments = rsp_sse_comments(&p);
    rsp_sse_destroy(&p);
    return rc;
}

#define STR(s) (s), (sizeof(s) - 1)

/* -------------------------------------------------- the OpenAI stream */

/* What DeepSeek's /chat/completions sends with "stream": true (trimmed). */
static const char *const CHUNKS[] = {
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1718345013,"
    "\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
    "\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}",
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1718345013,"
    "\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
    "\"Hello\"},\"logprobs\":null,\"finish_reason\":null}]}",
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1718345013,"
    "\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
    "\" world: \\\"data:\\\\n\\\"\"},\"logprobs\":null,\"finish_reason\":null}]}",
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1718345013,"
    "\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
    "\"\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{"
    "\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8}}",
    "[DONE]",
};
#define NCHUNKS (sizeof CHUNKS / sizeof CHUNKS[0])

/* crlf: DeepSeek's variant, "\r\n" line ends and ": keep-alive" comments
 * before the first event and between events (it sends them while the
 * model is queued). */
static char *openai_stream(int crlf, size_t *len)
{
    size_t cap = 8192, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    const char *eol = crlf ? "\r\n" : "\n";
    if (crlf)
        n += (size_t)snprintf(s + n, cap - n, ": keep-alive%s%s", eol, eol);
    for (size_t i = 0; i < NCHUNKS; i++) {
        n += (size_t)snprintf(s + n, cap - n, "data: %s%s%s", CHUNKS[i], eol, eol);
        if (crlf && i == 1)
            n += (size_t)snprintf(s + n, cap - n, ": keep-alive%s%s", eol, eol);
        assert_true(n < cap);
    }
    *len = n;
    return s;
}

static void assert_openai_events(const rec *r)
{
    assert_int_equal(r->n, NCHUNKS);
    for (size_t i = 0; i < NCHUNKS; i++)
        assert_event(r, i, "", CHUNKS[i]);
}

static void test_openai_stream_whole(void **state)
{
    (void)state;
    size_t n;
    char *s = openai_stream(0, &n);
    rec r = { 0 };
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, BIG_MAX, rec_fn, &r), 0);
    assert_int_equal(rsp_sse_feed(&p, s, n), 0);
    assert_openai_events(&r);
    assert_int_equal(rsp_sse_events(&p), NCHUNKS);
    assert_int_equal(rsp_sse_comments(&p), 0);
    assert_int_equal(rsp_sse_bytes(&p), n);
    rsp_sse_destroy(&p);
    rec_free(&r);
    free(s);
}

static void test_openai_stream_split_at_every_byte(void **state)
{
    (void)state;
    for (int crlf = 0; crlf <= 1; crlf++) {
        size_t n;
        char *s = openai_stream(crlf, &n);
        for (size_t cut = 0; cut <= n; cut++) {
            rec r = { 0 };
            uint64_t comments;
            assert_int_equal(run_cuts(s, n, &cut, 1, BIG_MAX, &r, &comments), 0);
            assert_openai_events(&r);
            assert_int_equal(comments, crlf ? 2 : 0);
            rec_free(&r);
        }
        free(s);
    }
}

static void test_openai_stream_one_byte_at_a_time(void **state)
{
    (void)state;
    for (int crlf = 0; crlf <= 1; crlf++) {
        size_t n;
        char *s = openai_stream(crlf, &n);
        rec r = { 0 };
        uint64_t comments;
        assert_int_equal(run_bytewise(s, n, BIG_MAX, &r, &comments), 0);
        assert_openai_events(&r);
        assert_int_equal(comments, crlf ? 2 : 0);
        rec_free(&r);
        free(s);
    }
}

/* ------------------------------------------------------- event framing */

static void test_several_events_in_one_feed(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("data: a\n\ndata: b\n\ndata: c\n\n"), BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 3);
    assert_event(&r, 0, "", "a");
    assert_event(&r, 1, "", "b");
    assert_event(&r, 2, "", "c");
    rec_free(&r);
}

static void test_event_dispatched_as_soon_as_blank_line_arrives(void **state)
{
    (void)state;
    rec r = { 0 };
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, BIG_MAX, rec_fn, &r), 0);
    assert_int_equal(rsp_sse_feed(&p, STR("data: a\n")), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(rsp_sse_feed(&p, STR("\n")), 0);
    assert_int_equal(r.n, 1);
    /* a lone "\r" ends the line at once: no waiting to see if "\n" follows */
    assert_int_equal(rsp_sse_feed(&p, STR("data: b\r\r")), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 1, "", "b");
    rsp_sse_destroy(&p);
    rec_free(&r);
}

static void test_keepalive_comments_counted_not_events(void **state)
{
    (void)state;
    rec r = { 0 };
    uint64_t comments;
    assert_int_equal(run_whole(STR(": keep-alive\n\n: keep-alive\n\ndata: a\n\n"
                                   ": keep-alive\n\n:\n\ndata: b\n\n"),
                               BIG_MAX, &r, &comments), 0);
    assert_int_equal(comments, 4);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "", "a");
    assert_event(&r, 1, "", "b");
    rec_free(&r);
}

static void test_comment_inside_event_does_not_end_it(void **state)
{
    (void)state;
    rec r = { 0 };
    uint64_t comments;
    assert_int_equal(run_whole(STR("data: a\n: keep-alive\ndata: b\n\n"), BIG_MAX, &r,
                               &comments), 0);
    assert_int_equal(comments, 1);
    assert_int_equal(r.n, 1);
    assert_event(&r, 0, "", "a\nb");
    rec_free(&r);
}

static void test_leading_and_repeated_blank_lines_do_nothing(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("\n\r\n\r\ndata: a\n\n\n\n\ndata: b\n\n\n"), BIG_MAX, &r,
                               NULL), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "", "a");
    assert_event(&r, 1, "", "b");
    rec_free(&r);
}

/* -------------------------------------------------------- line endings */

static void test_crlf_line_endings(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n"), BIG_MAX, &r,
                               NULL), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "", "a\nb");
    assert_event(&r, 1, "", "c");
    rec_free(&r);
}

static void test_cr_line_endings(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("data: a\rdata: b\r\rdata: c\r\r"), BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "", "a\nb");
    assert_event(&r, 1, "", "c");
    rec_free(&r);
}

static void test_mixed_line_endings(void **state)
{
    (void)state;
    rec r = { 0 };
    /* "\n\r" is two line ends (LF, then CR), not one */
    assert_int_equal(run_whole(STR("data: a\r\ndata: b\rdata: c\n\r"
                                   "event: e\rdata: d\r\n\n"),
                               BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "", "a\nb\nc");
    assert_event(&r, 1, "e", "d");
    rec_free(&r);
}

static void test_crlf_split_across_feeds_is_one_line_end(void **state)
{
    (void)state;
    rec r = { 0 };
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, BIG_MAX, rec_fn, &r), 0);
    /* if "\r" | "\n" were two line ends, "\n" would be a blank line and
     * dispatch "a" alone */
    assert_int_equal(rsp_sse_feed(&p, STR("data: a\r")), 0);
    assert_int_equal(rsp_sse_feed(&p, STR("\n")), 0);
    assert_int_equal(rsp_sse_feed(&p, STR("data: b\r")), 0);
    assert_int_equal(rsp_sse_feed(&p, STR("\ndata: c\r")), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(rsp_sse_feed(&p, STR("\n\r")), 0);
    assert_int_equal(r.n, 1);                     /* the CR of "\r\n" dispatches */
    assert_int_equal(rsp_sse_feed(&p, STR("\n")), 0);
    assert_int_equal(r.n, 1);                     /* its LF is not a second blank line */
    assert_int_equal(rsp_sse_feed(&p, STR("data: d\r\n\r\n")), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "", "a\nb\nc");
    assert_event(&r, 1, "", "d");
    rsp_sse_destroy(&p);
    rec_free(&r);
}

static void test_cr_then_cr_across_feeds_is_blank_line(void **state)
{
    (void)state;
    rec r = { 0 };
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, BIG_MAX, rec_fn, &r), 0);
    assert_int_equal(rsp_sse_feed(&p, STR("data: a\r")), 0);
    assert_int_equal(rsp_sse_feed(&p, STR("\r")), 0);
    assert_int_equal(r.n, 1);
    assert_event(&r, 0, "", "a");
    rsp_sse_destroy(&p);
    rec_free(&r);
}

/* ---------------------------------------------------------------- data */

static void test_multiline_data_joined_with_newline(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("data: a\ndata: b\ndata: c\n\ndata:\ndata:\n\n"), BIG_MAX,
                               &r, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "", "a\nb\nc");
    assert_event(&r, 1, "", "\n");               /* two empty lines */
    rec_free(&r);
}

static void test_data_without_space_after_colon(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("data:x\n\ndata:{\"a\":1}\n\n"), BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "", "x");
    assert_event(&r, 1, "", "{\"a\":1}");
    rec_free(&r);
}

static void test_data_two_spaces_strips_only_one(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("data:  x \n\ndata:\tx\n\n"), BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "", " x ");              /* trailing space kept too */
    assert_event(&r, 1, "", "\tx");              /* only a space is stripped */
    rec_free(&r);
}

static void test_data_keeps_colons_and_nul_bytes(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("data: a: b:c\n\ndata: x\0y\n\n"), BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "", "a: b:c");
    assert_int_equal(r.v[1].dlen, 3);
    assert_memory_equal(r.v[1].data, "x\0y", 3);
    rec_free(&r);
}

static void test_empty_data_line_alone_is_an_event_with_empty_data(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("data\n\ndata:\n\n"), BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "", "");
    assert_event(&r, 1, "", "");
    rec_free(&r);
}

/* --------------------------------------------------------- event names */

static void test_event_name_given_to_callback(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("event: message_start\ndata: {}\n\n"
                                   "data: x\nevent:delta\n\n"),
                               BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "message_start", "{}");
    assert_event(&r, 1, "delta", "x");           /* the name may follow the data */
    rec_free(&r);
}

static void test_event_name_cleared_after_dispatch(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("event: a\ndata: 1\n\ndata: 2\n\n"), BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "a", "1");
    assert_event(&r, 1, "", "2");
    rec_free(&r);
}

static void test_last_event_line_wins(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("event: a-long-name\ndata: 1\nevent: b\n\n"
                                   "event: c\nevent\ndata: 2\n\n"),
                               BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "b", "1");
    assert_event(&r, 1, "", "2");                /* "event" alone sets "" */
    rec_free(&r);
}

static void test_event_without_data_not_dispatched(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("event: ping\n\ndata: x\n\n"), BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 1);
    assert_event(&r, 0, "", "x");                /* "ping" did not leak into it */
    rec_free(&r);
}

static void test_event_name_kept_when_buffer_grows(void **state)
{
    (void)state;
    /* the name sits at the end of the buffer and must move with it; the
     * 5000-byte data line outgrows the initial 1 KiB several times when fed
     * one byte at a time, once when fed whole */
    enum { dlen = 5000 };
    static char s[dlen + 64];   /* static: GCC's -Warray-bounds misfires on
                                 * malloc + assert_non_null under -O2 ASan */
    size_t n = (size_t)sprintf(s, "event: the-name\ndata: ");
    memset(s + n, 'd', dlen);
    n += dlen;
    memcpy(s + n, "\n\n", 2);
    n += 2;
    for (int bytewise = 0; bytewise <= 1; bytewise++) {
        rec r = { 0 };
        int rc = bytewise ? run_bytewise(s, n, BIG_MAX, &r, NULL)
                          : run_whole(s, n, BIG_MAX, &r, NULL);
        assert_int_equal(rc, 0);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.v[0].elen, 8);
        assert_memory_equal(r.v[0].event, "the-name", 8);
        assert_int_equal(r.v[0].dlen, dlen);
        assert_memory_equal(r.v[0].data, s + n - 2 - dlen, dlen);
        rec_free(&r);
    }
}

static void test_replaced_event_name_not_counted_twice(void **state)
{
    (void)state;
    rec r = { 0 };
    /* max 16: the old 10-byte name is dropped when the new "event:" line
     * starts, so 10 + 10 never counts against the limit */
    assert_int_equal(run_whole(STR("event: 0123456789\nevent: abcdefghij\ndata: 12345\n\n"),
                               16, &r, NULL), 0);
    assert_int_equal(r.n, 1);
    assert_event(&r, 0, "abcdefghij", "12345");
    rec_free(&r);
}

/* ------------------------------------------------------------- fields */

static void test_unknown_fields_and_id_retry_ignored(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("id: 7\nretry: 100\nfoo: bar\ndatax: y\ndat: z\n"
                                   "Data: Q\nevents: n\ndata: x\n\nid: 8\n\n"),
                               BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 1);
    assert_event(&r, 0, "", "x");
    rec_free(&r);
}

static void test_line_without_colon_is_field_with_empty_value(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("data\ndata: x\n\nevent\ndata: y\n\nfoo\n\n"), BIG_MAX, &r,
                               NULL), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "", "\nx");
    assert_event(&r, 1, "", "y");
    rec_free(&r);
}

/* ---------------------------------------------------------- end of stream */

static void test_finish_drops_unterminated_event(void **state)
{
    (void)state;
    rec r = { 0 };
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, BIG_MAX, rec_fn, &r), 0);
    assert_int_equal(rsp_sse_feed(&p, STR("data: a\n\nevent: e\ndata: b\n")), 0);
    assert_int_equal(rsp_sse_finish(&p), 0);
    assert_int_equal(r.n, 1);
    assert_event(&r, 0, "", "a");
    /* a new stream on the same parser starts clean: neither "b" nor "e" */
    assert_int_equal(rsp_sse_feed(&p, STR("data: c\n\n")), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 1, "", "c");
    rsp_sse_destroy(&p);
    rec_free(&r);
}

static void test_finish_drops_unterminated_line(void **state)
{
    (void)state;
    rec r = { 0 };
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, BIG_MAX, rec_fn, &r), 0);
    assert_int_equal(rsp_sse_feed(&p, STR("data: a\n\ndata: b")), 0);
    assert_int_equal(rsp_sse_finish(&p), 0);
    assert_int_equal(rsp_sse_feed(&p, STR("\n\n")), 0);   /* "b" is gone */
    assert_int_equal(r.n, 1);
    rsp_sse_destroy(&p);
    rec_free(&r);
}

/* ------------------------------------------------------------------ BOM */

static void test_bom_at_start_skipped(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("\xEF\xBB\xBF" "data: a\n\n"), BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 1);
    assert_event(&r, 0, "", "a");
    rec_free(&r);
}

static void test_bom_split_across_feeds_skipped(void **state)
{
    (void)state;
    static const char s[] = "\xEF\xBB\xBF" "data: a\n\n";
    for (size_t a = 0; a <= 4; a++) {
        for (size_t b = a; b <= 4; b++) {
            size_t cuts[2] = { a, b };
            rec r = { 0 };
            assert_int_equal(run_cuts(s, sizeof s - 1, cuts, 2, BIG_MAX, &r, NULL), 0);
            assert_int_equal(r.n, 1);
            assert_event(&r, 0, "", "a");
            rec_free(&r);
        }
    }
}

static void test_bom_skipped_only_once(void **state)
{
    (void)state;
    rec r = { 0 };
    /* a second BOM is part of the field name, which is then not "data" */
    assert_int_equal(run_whole(STR("\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\n"
                                   "\xEF\xBB\xBF" "data: b\n\ndata: c\n\n"),
                               BIG_MAX, &r, NULL), 0);
    assert_int_equal(r.n, 1);
    assert_event(&r, 0, "", "c");
    rec_free(&r);
}

static void test_partial_bom_is_content(void **state)
{
    (void)state;
    /* "\xEF\xBB" then ':' : the line is field "\xEF\xBB", not a comment */
    static const char s[] = "\xEF\xBB: c\n\ndata: a\n\n";
    for (size_t cut = 0; cut <= 3; cut++) {
        rec r = { 0 };
        uint64_t comments;
        assert_int_equal(run_cuts(s, sizeof s - 1, &cut, 1, BIG_MAX, &r, &comments), 0);
        assert_int_equal(comments, 0);
        assert_int_equal(r.n, 1);
        assert_event(&r, 0, "", "a");
        rec_free(&r);
    }
}

/* --------------------------------------------------------------- limits */

static void test_event_at_max_is_accepted(void **state)
{
    (void)state;
    rec r = { 0 };
    /* max 16: 16 bytes of data; 10 + 6-byte name; two lines 7 + '\n' + 8 */
    assert_int_equal(run_whole(STR("data: 0123456789abcdef\n\n"
                                   "event: nnnnnn\ndata: 0123456789\n\n"
                                   "data: 0123456\ndata: 01234567\n\n"),
                               16, &r, NULL), 0);
    assert_int_equal(r.n, 3);
    assert_event(&r, 0, "", "0123456789abcdef");
    assert_event(&r, 1, "nnnnnn", "0123456789");
    assert_event(&r, 2, "", "0123456\n01234567");
    rec_free(&r);
}

static void test_event_over_max_is_e2big(void **state)
{
    (void)state;
    static const struct { const char *s; } cases[] = {
        { "data: 0123456789abcdefg\n\n" },                     /* one line, 17 */
        { "data: 0123456789abcdefg" },                         /* before its line end */
        { "data: 01234567\ndata: 01234567\n\n" },              /* 8 + '\n' + 8 */
        { "event: nnnnnnn\ndata: 0123456789\n\n" },            /* name 7 + data 10 */
        { "data: 0123456789\nevent: nnnnnnn\n\n" },            /* name after data */
        { "event: 0123456789abcdefgh\ndata: x\n\n" },          /* name alone too long */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rec r = { 0 };
        assert_int_equal(run_whole(cases[i].s, strlen(cases[i].s), 16, &r, NULL), RS_E2BIG);
        assert_int_equal(r.n, 0);
        rec_free(&r);
    }
}

static void test_e2big_sticky_until_reset(void **state)
{
    (void)state;
    rec r = { 0 };
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, 16, rec_fn, &r), 0);
    assert_int_equal(rsp_sse_feed(&p, STR("data: a\n\ndata: 0123456789abcdefghij\n\n")),
                     RS_E2BIG);
    assert_int_equal(r.n, 1);                         /* the event before it got out */
    assert_int_equal(rsp_sse_feed(&p, STR("data: b\n\n")), RS_E2BIG);
    assert_int_equal(rsp_sse_feed(&p, STR("")), RS_E2BIG);
    assert_int_equal(r.n, 1);
    assert_true(rsp_sse_buffer_bytes(&p) <= 16 + 2);
    rsp_sse_destroy(&p);
    rec_free(&r);
}

static void test_reset_makes_parser_usable_again(void **state)
{
    (void)state;
    rec r = { 0 };
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, 16, rec_fn, &r), 0);
    assert_int_equal(rsp_sse_feed(&p, STR(": c\nevent: e\ndata: 0123456789abcdefghij")),
                     RS_E2BIG);
    rsp_sse_reset(&p);
    assert_int_equal(rsp_sse_comments(&p), 0);
    assert_int_equal(rsp_sse_bytes(&p), 0);
    /* nothing of the failed event survives: not its name, not its data */
    assert_int_equal(rsp_sse_feed(&p, STR("\xEF\xBB\xBF" "data: ok\n\n")), 0);
    assert_int_equal(r.n, 1);
    assert_event(&r, 0, "", "ok");
    assert_int_equal(rsp_sse_events(&p), 1);
    rsp_sse_destroy(&p);
    rec_free(&r);
}

static void test_comments_and_ignored_fields_not_limited(void **state)
{
    (void)state;
    /* they are skipped as they stream past, never stored */
    size_t n = 3 * 10000 + 64;
    char *s = malloc(n);
    assert_non_null(s);
    size_t k = 0;
    s[k++] = ':';
    memset(s + k, 'c', 10000), k += 10000;
    s[k++] = '\n';
    memcpy(s + k, "id: ", 4), k += 4;
    memset(s + k, '1', 10000), k += 10000;
    s[k++] = '\n';
    memset(s + k, 'f', 10000), k += 10000;         /* a 10000-byte field name */
    memcpy(s + k, ": v\ndata: x\n\n", 13), k += 13;
    rec r = { 0 };
    uint64_t comments;
    assert_int_equal(run_whole(s, k, 16, &r, &comments), 0);
    assert_int_equal(comments, 1);
    assert_int_equal(r.n, 1);
    assert_event(&r, 0, "", "x");
    rec_free(&r);
    free(s);
}

/* ------------------------------------------------------------- callback */

static void test_callback_nonzero_stops_feed_and_is_returned(void **state)
{
    (void)state;
    static const char s[] = "data: a\n\ndata: b\r\ndata: c\n\n";
    rec r = { .stop_at = 1, .stop_rc = 42 };
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, BIG_MAX, rec_fn, &r), 0);
    assert_int_equal(rsp_sse_feed(&p, s, sizeof s - 1), 42);
    assert_int_equal(r.n, 1);
    assert_int_equal(rsp_sse_events(&p), 1);
    /* consumed up to the blank line that dispatched "a", nothing after */
    uint64_t used = rsp_sse_bytes(&p);
    assert_int_equal(used, 9);
    /* feeding the rest resumes where it stopped */
    assert_int_equal(rsp_sse_feed(&p, s + used, sizeof s - 1 - used), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 0, "", "a");
    assert_event(&r, 1, "", "b\nc");
    rsp_sse_destroy(&p);
    rec_free(&r);
}

static void test_callback_stop_between_cr_and_lf_resumes(void **state)
{
    (void)state;
    static const char s[] = "data: a\r\n\r\ndata: b\r\n\r\n";
    rec r = { .stop_at = 1, .stop_rc = -99 };
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, BIG_MAX, rec_fn, &r), 0);
    assert_int_equal(rsp_sse_feed(&p, s, sizeof s - 1), -99);
    uint64_t used = rsp_sse_bytes(&p);
    assert_int_equal(used, 10);                   /* stopped after the 2nd "\r" */
    assert_int_equal(rsp_sse_feed(&p, s + used, sizeof s - 1 - used), 0);
    assert_int_equal(r.n, 2);
    assert_event(&r, 1, "", "b");
    rsp_sse_destroy(&p);
    rec_free(&r);
}

static void test_callback_strings_nul_terminated(void **state)
{
    (void)state;
    rec r = { 0 };
    assert_int_equal(run_whole(STR("event: e\ndata: a\ndata: b\n\ndata: c\n\n"), BIG_MAX, &r,
                               NULL), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.not_nul_terminated, 0);
    rec_free(&r);
}

/* ------------------------------------------------------ init, counters */

static int never_fn(void *ctx, const char *e, size_t el, const char *d, size_t dl)
{
    (void)ctx, (void)e, (void)el, (void)d, (void)dl;
    return 0;
}

static void test_init_rejects_bad_arguments(void **state)
{
    (void)state;
    rsp_sse p;
    assert_int_equal(rsp_sse_init(NULL, 16, never_fn, NULL), RS_EINVAL);
    assert_int_equal(rsp_sse_init(&p, 16, NULL, NULL), RS_EINVAL);
    rsp_sse_destroy(&p);
    assert_int_equal(rsp_sse_init(&p, 0, never_fn, NULL), RS_EINVAL);
    rsp_sse_destroy(&p);
    /* a huge max is clamped, not overflowed: the buffer starts small */
    assert_int_equal(rsp_sse_init(&p, SIZE_MAX, never_fn, NULL), 0);
    assert_true(rsp_sse_buffer_bytes(&p) <= 1025);
    assert_int_equal(rsp_sse_feed(&p, STR("data: a\n\n")), 0);
    rsp_sse_destroy(&p);
    rsp_sse_destroy(&p);
}

static void test_counters(void **state)
{
    (void)state;
    static const char a[] = "\xEF\xBB\xBF: x\ndata: a\n\nevent: e\n\n";
    static const char b[] = ":\r\ndata: b\n\n: y";
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, 64, never_fn, NULL), 0);
    assert_int_equal(rsp_sse_feed(&p, a, sizeof a - 1), 0);
    assert_int_equal(rsp_sse_feed(&p, NULL, 0), 0);
    assert_int_equal(rsp_sse_feed(&p, b, sizeof b - 1), 0);
    assert_int_equal(rsp_sse_events(&p), 2);            /* "e" had no data */
    assert_int_equal(rsp_sse_comments(&p), 2);          /* ": y" has not ended */
    assert_int_equal(rsp_sse_bytes(&p), (sizeof a - 1) + (sizeof b - 1));
    rsp_sse_reset(&p);
    assert_int_equal(rsp_sse_events(&p), 0);
    assert_int_equal(rsp_sse_comments(&p), 0);
    assert_int_equal(rsp_sse_bytes(&p), 0);
    rsp_sse_destroy(&p);
}

/* ----------------------------------------------------------------- fuzz */

static uint64_t rng_state;

static uint32_t rnd(void)
{
    /* xorshift64*: deterministic across platforms, unlike rand() */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static const char *const EOLS[] = { "\n", "\r\n", "\r" };

static size_t put(char *s, size_t n, size_t cap, const char *t, size_t k)
{
    if (n + k > cap)
        k = cap - n;
    memcpy(s + n, t, k);
    return n + k;
}

/* Well-formed events with long values (up to 1500 bytes a line, so the
 * 1 KiB initial buffer must grow), random line ends, comments and names,
 * cut at a random length. */
static size_t gen_events(char *s, size_t cap)
{
    size_t n = 0, want = rnd() % cap;
    char v[1500];
    const char *eol;
#define PUT_EOL() (eol = EOLS[rnd() % 3], n = put(s, n, want, eol, strlen(eol)))
    while (n < want) {
        if (rnd() % 4 == 0) {
            n = put(s, n, want, ": keep-alive", 12);
            PUT_EOL();
        }
        if (rnd() % 3 == 0) {
            n = put(s, n, want, "event: e", 8);
            PUT_EOL();
        }
        for (uint32_t lines = rnd() % 3; lines-- > 0;) {
            n = put(s, n, want, "data: ", 5 + rnd() % 2);   /* with or without ' ' */
            size_t k = rnd() % sizeof v;
            for (size_t i = 0; i < k; i++) {
                v[i] = (char)(rnd() & 0xFF);
                if (v[i] == '\r' || v[i] == '\n')
                    v[i] = 'x';
            }
            n = put(s, n, want, v, k);
            PUT_EOL();
        }
        PUT_EOL();                                          /* blank line */
    }
#undef PUT_EOL
    return n;
}

/* Token soup: mostly SSE-shaped tokens (so fields and line ends are common
 * enough to exercise every state), some raw random bytes. */
static size_t gen_soup(char *s, size_t cap)
{
    static const char *const tok[] = {
        "data", "data:", "data: ", "data:  ", "event:", "event: ", "event", "id: 1",
        "retry: 5", ":", ": keep-alive", " ", "\n", "\n", "\r", "\r\n", "\r\n", "\n\n",
        "x", "{\"a\":1}", "[DONE]", "\xEF\xBB\xBF", "\xEF", "ev", "dat", "datax:",
    };
    size_t n = 0;
    size_t want = rnd() % cap;
    while (n < want) {
        if (rnd() % 8 == 0) {
            s[n++] = (char)(rnd() & 0xFF);
            continue;
        }
        const char *t = tok[rnd() % (sizeof tok / sizeof tok[0])];
        size_t k = strlen(t);
        if (n + k > want)
            break;
        memcpy(s + n, t, k);
        n += k;
    }
    return n;
}

static size_t gen_stream(char *s, size_t cap)
{
    size_t n = rnd() % 3 ? gen_soup(s, cap) : gen_events(s, cap);
    if (n >= 3 && rnd() % 8 == 0)
        memcpy(s, "\xEF\xBB\xBF", 3);        /* a real BOM now and then */
    return n;
}

static size_t gen_cuts(size_t n, size_t *cuts, size_t max_cuts)
{
    size_t k = n ? rnd() % (max_cuts + 1) : 0;
    for (size_t i = 0; i < k; i++)
        cuts[i] = rnd() % (n + 1);
    /* insertion sort: the feed helpers want increasing offsets */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    return k;
}

/* Reference: the spec's algorithm on a whole buffer, written for clarity,
 * not speed — split into lines first, then interpret each line. */
static void ref_parse(const char *s, size_t n, rec *out, uint64_t *comments)
{
    size_t i = 0;
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    char *data = malloc(n + 1), *event = malloc(n + 1);
    assert_non_null(data);
    assert_non_null(event);
    size_t dlen = 0, elen = 0;
    *comments = 0;
    for (;;) {
        size_t e = i;
        while (e < n && s[e] != '\r' && s[e] != '\n')
            e++;
        if (e == n)
            break;                                /* unterminated: dropped */
        const char *line = s + i;
        size_t len = e - i;
        i = e + 1;
        if (s[e] == '\r' && i < n && s[i] == '\n')
            i++;
        if (len == 0) {
            if (dlen) {
                rec_push(out, event, elen, data, dlen - 1);
            }
            dlen = elen = 0;
            continue;
        }
        if (line[0] == ':') {
            (*comments)++;
            continue;
        }
        const char *colon = memchr(line, ':', len);
        size_t nlen = colon ? (size_t)(colon - line) : len;
        const char *val = colon ? colon + 1 : line + len;
        size_t vlen = colon ? len - nlen - 1 : 0;
        if (vlen && val[0] == ' ')
            val++, vlen--;
        if (nlen == 4 && memcmp(line, "data", 4) == 0) {
            memcpy(data + dlen, val, vlen);
            dlen += vlen;
            data[dlen++] = '\n';
        } else if (nlen == 5 && memcmp(line, "event", 5) == 0) {
            memcpy(event, val, vlen);
            elen = vlen;
        }
    }
    free(data);
    free(event);
}

static void test_fuzz_random_splits_match_reference(void **state)
{
    (void)state;
    rng_state = 0x5EED5EED12345678ull;
    static char s[4000];
    size_t cuts[16];
    size_t events = 0, comments = 0, long_events = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = gen_stream(s, sizeof s);
        rec want = { 0 }, got = { 0 };
        uint64_t want_c, got_c;
        ref_parse(s, n, &want, &want_c);
        int rc;
        if (iter % 10 == 0) {
            rc = run_bytewise(s, n, BIG_MAX, &got, &got_c);
        } else {
            size_t k = gen_cuts(n, cuts, 16);
            rc = run_cuts(s, n, cuts, k, BIG_MAX, &got, &got_c);
        }
        if (rc != 0 || !rec_equal(&want, &got) || want_c != got_c)
            fail_msg("iteration %d: rc %d, %zu events (want %zu), %llu comments (want %llu)",
                     iter, rc, got.n, want.n, (unsigned long long)got_c,
                     (unsigned long long)want_c);
        assert_int_equal(got.not_nul_terminated, 0);
        events += got.n;
        comments += got_c;
        long_events += got.max_seen > 1024;
        rec_free(&want);
        rec_free(&got);
    }
    print_message("fuzz: %zu events, %zu comments, %zu over 1 KiB\n", events, comments,
                  long_events);
    /* the generator really produced events, comments and events that
     * outgrow the initial 1 KiB buffer */
    assert_true(events > 10000);
    assert_true(comments > 3000);
    assert_true(long_events > 100);
}

static void test_fuzz_small_max_stays_bounded(void **state)
{
    (void)state;
    rng_state = 0xB0B0CAFE0000BEEFull;
    static char s[4000];
    size_t cuts[16];
    int e2big = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = gen_stream(s, sizeof s);
        /* tiny limits, and limits above the initial 1 KiB (so the buffer
         * grows up to its bound) */
        size_t max = iter % 2 ? 1 + rnd() % 48 : 1000 + rnd() % 1500;
        size_t k = gen_cuts(n, cuts, 16);
        rec whole = { 0 }, split = { 0 };
        int rc_whole = run_whole(s, n, max, &whole, NULL);

        rsp_sse p;
        assert_int_equal(rsp_sse_init(&p, max, rec_fn, &split), 0);
        int rc = 0;
        size_t at = 0;
        for (size_t c = 0; c <= k && rc == 0; c++) {
            size_t end = c < k ? cuts[c] : n;
            rc = rsp_sse_feed(&p, s + at, end - at);
            at = end;
            assert_true(rsp_sse_buffer_bytes(&p) <= max + 2);
        }
        rsp_sse_destroy(&p);

        assert_true(rc == 0 || rc == RS_E2BIG);
        assert_int_equal(rc, rc_whole);           /* the limit does not depend on cuts */
        assert_true(rec_equal(&whole, &split));
        assert_true(whole.max_seen <= max);
        e2big += rc == RS_E2BIG;
        rec_free(&whole);
        rec_free(&split);
    }
    print_message("fuzz: %d of 3000 streams hit RS_E2BIG\n", e2big);
    /* the fuzz really reached the limit often, and also often did not */
    assert_true(e2big > 300);
    assert_true(e2big < 2700);
}

/* ------------------------------------------------- long bounded stream */

#define LONG_EVENTS 10000u
#define LONG_MAX_BYTES 4096u

/* Event i: a name on every third event; data of 1..4000 bytes with a '\n'
 * every 97 bytes (so many events are multi-line), letters from i. */
static size_t long_event(uint32_t i, char *data, char *name, size_t *nlen)
{
    size_t dlen = 1 + (size_t)((i * 2654435761u) % 4000u);
    for (size_t k = 0; k < dlen; k++)
        data[k] = (k % 97 == 96) ? '\n' : (char)('a' + (i + k) % 26);
    *nlen = i % 3 == 0 ? (size_t)snprintf(name, 16, "n%u", i % 7) : 0;
    return dlen;
}

typedef struct long_ctx {
    uint32_t next;
    uint32_t bad;
    char data[4096], name[16];
} long_ctx;

static int long_fn(void *ctx, const char *e, size_t el, const char *d, size_t dl)
{
    long_ctx *c = ctx;
    size_t nlen;
    size_t dlen = long_event(c->next++, c->data, c->name, &nlen);
    if (el != nlen || memcmp(e, c->name, el) != 0 || dl != dlen || memcmp(d, c->data, dl) != 0)
        c->bad++;
    return 0;
}

static void test_ten_thousand_events_small_max(void **state)
{
    (void)state;
    long_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    rsp_sse p;
    assert_int_equal(rsp_sse_init(&p, LONG_MAX_BYTES, long_fn, c), 0);

    static char stage[64 * 1024];
    char data[4096], name[16];
    size_t sn = 0;
    size_t buf_at_1000 = 0;
    static const char *const eols[] = { "\n", "\r\n", "\r" };
    rng_state = 42;
    for (uint32_t i = 0; i < LONG_EVENTS; i++) {
        size_t nlen;
        size_t dlen = long_event(i, data, name, &nlen);
        const char *eol = eols[i % 3];
        if (i % 100 == 0)
            sn += (size_t)sprintf(stage + sn, ": keep-alive%s%s", eol, eol);
        if (nlen)
            sn += (size_t)sprintf(stage + sn, "event: %s%s", name, eol);
        for (size_t a = 0; a <= dlen;) {         /* one "data:" line per data line */
            size_t b = a;
            while (b < dlen && data[b] != '\n')
                b++;
            sn += (size_t)sprintf(stage + sn, "data: %.*s%s", (int)(b - a), data + a, eol);
            a = b + 1;
        }
        sn += (size_t)sprintf(stage + sn, "%s", eol);
        if (sn > sizeof stage - 16 * 1024 || i + 1 == LONG_EVENTS) {
            /* feed in random pieces of 1..1500 bytes */
            for (size_t at = 0; at < sn;) {
                size_t k = 1 + rnd() % 1500;
                if (k > sn - at)
                    k = sn - at;
                assert_int_equal(rsp_sse_feed(&p, stage + at, k), 0);
                at += k;
            }
            sn = 0;
        }
        if (i == 1000)
            buf_at_1000 = rsp_sse_buffer_bytes(&p);
    }
    assert_int_equal(c->next, LONG_EVENTS);
    assert_int_equal(rsp_sse_events(&p), LONG_EVENTS);
    assert_int_equal(c->bad, 0);
    assert_int_equal(rsp_sse_comments(&p), LONG_EVENTS / 100);
    assert_true(rsp_sse_buffer_bytes(&p) <= LONG_MAX_BYTES + 2);
    /* reached its size early and then stopped growing: no per-event cost */
    assert_int_equal(rsp_sse_buffer_bytes(&p), buf_at_1000);
    rsp_sse_destroy(&p);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_stream_whole),
        cmocka_unit_test(test_openai_stream_split_at_every_byte),
        cmocka_unit_test(test_openai_stream_one_byte_at_a_time),
        cmocka_unit_test(test_several_events_in_one_feed),
        cmocka_unit_test(test_event_dispatched_as_soon_as_blank_line_arrives),
        cmocka_unit_test(test_keepalive_comments_counted_not_events),
        cmocka_unit_test(test_comment_inside_event_does_not_end_it),
        cmocka_unit_test(test_leading_and_repeated_blank_lines_do_nothing),
        cmocka_unit_test(test_crlf_line_endings),
        cmocka_unit_test(test_cr_line_endings),
        cmocka_unit_test(test_mixed_line_endings),
        cmocka_unit_test(test_crlf_split_across_feeds_is_one_line_end),
        cmocka_unit_test(test_cr_then_cr_across_feeds_is_blank_line),
        cmocka_unit_test(test_multiline_data_joined_with_newline),
        cmocka_unit_test(test_data_without_space_after_colon),
        cmocka_unit_test(test_data_two_spaces_strips_only_one),
        cmocka_unit_test(test_data_keeps_colons_and_nul_bytes),
        cmocka_unit_test(test_empty_data_line_alone_is_an_event_with_empty_data),
        cmocka_unit_test(test_event_name_given_to_callback),
        cmocka_unit_test(test_event_name_cleared_after_dispatch),
        cmocka_unit_test(test_last_event_line_wins),
        cmocka_unit_test(test_event_without_data_not_dispatched),
        cmocka_unit_test(test_event_name_kept_when_buffer_grows),
        cmocka_unit_test(test_replaced_event_name_not_counted_twice),
        cmocka_unit_test(test_unknown_fields_and_id_retry_ignored),
        cmocka_unit_test(test_line_without_colon_is_field_with_empty_value),
        cmocka_unit_test(test_finish_drops_unterminated_event),
        cmocka_unit_test(test_finish_drops_unterminated_line),
        cmocka_unit_test(test_bom_at_start_skipped),
        cmocka_unit_test(test_bom_split_across_feeds_skipped),
        cmocka_unit_test(test_bom_skipped_only_once),
        cmocka_unit_test(test_partial_bom_is_content),
        cmocka_unit_test(test_event_at_max_is_accepted),
        cmocka_unit_test(test_event_over_max_is_e2big),
        cmocka_unit_test(test_e2big_sticky_until_reset),
        cmocka_unit_test(test_reset_makes_parser_usable_again),
        cmocka_unit_test(test_comments_and_ignored_fields_not_limited),
        cmocka_unit_test(test_callback_nonzero_stops_feed_and_is_returned),
        cmocka_unit_test(test_callback_stop_between_cr_and_lf_resumes),
        cmocka_unit_test(test_callback_strings_nul_terminated),
        cmocka_unit_test(test_init_rejects_bad_arguments),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_fuzz_random_splits_match_reference),
        cmocka_unit_test(test_fuzz_small_max_stays_bounded),
        cmocka_unit_test(test_ten_thousand_events_small_max),
    };
    return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
