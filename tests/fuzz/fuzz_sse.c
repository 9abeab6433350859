/*
 * fuzz_sse.c — the incremental Server-Sent Events parser (sidecar/policy/sse.c).
 *
 * The input is the event stream itself (so the seeds are real streams).
 * libcurl hands the parser an upstream's bytes cut at arbitrary points, so
 * the property that matters is that the cuts make no difference:
 *
 * - The same stream fed in one piece, one byte at a time, and in pieces
 *   whose sizes the stream's own bytes choose (a mutation moves the cuts)
 *   produces the same events (name and data bytes), the same comment count,
 *   and consumes every byte.
 * - A callback that stops the feed (non-zero) gets its value back, and
 *   feeding the unconsumed rest later resumes as if nothing happened
 *   (rsp_sse_bytes counts exactly what was consumed).
 * - The events are those of a small line-by-line reading of the spec
 *   written here (ref_parse), so the cut-free reading is also right.
 * - Memory stays bounded: with a small max_event_bytes (chosen from the
 *   input) the buffer never exceeds max_event_bytes + 2, no dispatched
 *   event is over the limit, an over-long event fails with RS_E2BIG after
 *   the same events however the stream is cut, and the error is sticky.
 * - Every callback gets NUL-terminated strings; data holds no CR, a name
 *   neither CR nor LF (both are line ends).
 */
#include "sse.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ------------------------------------------------ event logs to compare */

typedef struct ev {
    size_t name_off, name_len, data_off, data_len;
} ev;

typedef struct evlog {
    ev *evs;
    size_t n, cap;
    char *bytes;
    size_t used, bcap;
    size_t max_event;   /* the parser's max_event_bytes, for the bound check */
    uint64_t stop_mask; /* event k (mod 64) stops the feed if its bit is set */
} evlog;

static void log_reset(evlog *l, size_t max_event, uint64_t stop_mask)
{
    l->n = 0;
    l->used = 0;
    l->max_event = max_event;
    l->stop_mask = stop_mask;
}

static size_t log_bytes(evlog *l, const char *p, size_t n)
{
    if (l->used + n > l->bcap) {
        size_t c = l->bcap ? l->bcap : 4096;
        while (c < l->used + n)
            c *= 2;
        l->bytes = realloc(l->bytes, c);
        CHECK(l->bytes != NULL);
        l->bcap = c;
    }
    if (n)
        memcpy(l->bytes + l->used, p, n);
    l->used += n;
    return l->used - n;
}

static void log_event(evlog *l, const char *name, size_t nlen, const char *data, size_t dlen)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->evs = realloc(l->evs, l->cap * sizeof *l->evs);
        CHECK(l->evs != NULL);
    }
    ev *e = &l->evs[l->n++];
    e->name_len = nlen;
    e->name_off = log_bytes(l, name, nlen);
    e->data_len = dlen;
    e->data_off = log_bytes(l, data, dlen);
}

static void same_log(const evlog *a, const evlog *b)
{
    CHECK(a->n == b->n);
    for (size_t k = 0; k < a->n; k++) {
        const ev *x = &a->evs[k], *y = &b->evs[k];
        CHECK(x->name_len == y->name_len && x->data_len == y->data_len);
        CHECK(memcmp(a->bytes + x->name_off, b->bytes + y->name_off, x->name_len) == 0);
        CHECK(memcmp(a->bytes + x->data_off, b->bytes + y->data_off, x->data_len) == 0);
    }
}

#define STOP_RC 7

static int on_event(void *ctx, const char *event, size_t event_len, const char *data, size_t data_len)
{
    evlog *l = ctx;
    CHECK(event[event_len] == '\0' && data[data_len] == '\0');
    CHECK(event_len + data_len <= l->max_event);
    CHECK(!memchr(data, '\r', data_len));
    CHECK(!memchr(event, '\r', event_len) && !memchr(event, '\n', event_len));
    log_event(l, event, event_len, data, data_len);
    return (l->stop_mask >> ((l->n - 1) % 64)) & 1 ? STOP_RC : 0;
}

/* ------------------------------------------------------- ways to feed */

enum cut { CUT_NONE, CUT_BYTES, CUT_INPUT };

/* Size of the next piece at pos: CUT_INPUT lets the byte there choose 0..12
 * (a 0 is an empty feed; the piece after it takes at least one byte). */
static size_t piece(enum cut how, const uint8_t *s, size_t len, size_t pos, bool *empty_done)
{
    size_t n;
    if (how == CUT_NONE)
        n = len - pos;
    else if (how == CUT_BYTES)
        n = 1;
    else {
        n = s[pos] % 13;
        if (n == 0 && *empty_done)
            n = 1;
        *empty_done = n == 0;
    }
    return n < len - pos ? n : len - pos;
}

typedef struct run {
    int err;            /* 0, or the sticky error the feed ended with */
    uint64_t comments;
} run;

/* Feed s[0..len) cut as `how`, resuming after every stopping callback.
 * Checks the bounds and error codes along the way. */
static run feed(rsp_sse *p, evlog *l, enum cut how, const uint8_t *s, size_t len, size_t max_event)
{
    run r = { 0, 0 };
    size_t pos = 0;
    bool empty_done = false;
    while (pos < len) {
        size_t n = piece(how, s, len, pos, &empty_done);
        size_t off = 0;
        for (;;) {
            uint64_t before = rsp_sse_bytes(p);
            size_t events_before = l->n;
            /* a zero-length feed may pass NULL */
            int rc = rsp_sse_feed(p, n - off ? (const void *)(s + pos + off) : NULL, n - off);
            uint64_t took = rsp_sse_bytes(p) - before;
            CHECK(rsp_sse_buffer_bytes(p) <= max_event + 2);
            if (rc == STOP_RC) {
                /* stopped right after the event that asked to stop */
                CHECK(l->n > events_before && (l->stop_mask >> ((l->n - 1) % 64)) & 1);
                CHECK(took <= n - off);
                off += (size_t)took;
                continue;
            }
            if (rc != 0) {
                CHECK(rc == RS_E2BIG);
                /* sticky: a later feed says the same and dispatches nothing */
                size_t n_failed = l->n;
                CHECK(rsp_sse_feed(p, "data: x\n\n", 9) == rc && l->n == n_failed);
                r.err = rc;
                r.comments = rsp_sse_comments(p);
                return r;
            }
            CHECK(took == n - off);
            break;
        }
        pos += n;
    }
    CHECK(rsp_sse_bytes(p) == len);
    size_t n_before = l->n;
    CHECK(rsp_sse_finish(p) == 0);
    CHECK(l->n == n_before);   /* end of stream dispatches nothing */
    r.comments = rsp_sse_comments(p);
    return r;
}

static run parse_all(evlog *l, enum cut how, const uint8_t *s, size_t len, size_t max_event,
                     uint64_t stop_mask)
{
    rsp_sse p;
    log_reset(l, max_event, stop_mask);
    CHECK(rsp_sse_init(&p, max_event, on_event, l) == 0);
    run r = feed(&p, l, how, s, len, max_event);
    CHECK(rsp_sse_events(&p) == l->n);
    rsp_sse_destroy(&p);
    rsp_sse_destroy(&p);   /* documented as safe twice */
    return r;
}

/* ------------------------------------- the spec, read line by line */

/* "Interpreting an event stream" without a size limit: split into lines
 * (CRLF, LF or CR), skip one leading BOM, drop an unterminated last line
 * and an undispatched last event. Returns the comment count. */
static uint64_t ref_parse(evlog *l, const uint8_t *s, size_t len)
{
    size_t i = 0;
    uint64_t comments = 0;
    char *data = malloc(len + 1), *name = malloc(len + 1);
    CHECK(data && name);
    size_t dlen = 0, nlen = 0;
    log_reset(l, SIZE_MAX, 0);
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len) {
        size_t b = i;
        while (i < len && s[i] != '\r' && s[i] != '\n')
            i++;
        if (i == len)
            break;                               /* no line end: dropped */
        size_t e = i;
        i += s[i] == '\r' && i + 1 < len && s[i + 1] == '\n' ? 2 : 1;
        const char *line = (const char *)s + b;
        size_t ll = e - b;
        if (ll == 0) {                           /* blank: dispatch */
            if (dlen > 0)
                log_event(l, name, nlen, data, dlen - 1);
            dlen = nlen = 0;
            continue;
        }
        if (line[0] == ':') {
            comments++;
            continue;
        }
        const char *colon = memchr(line, ':', ll);
        size_t fl = colon ? (size_t)(colon - line) : ll;
        const char *v = colon ? colon + 1 : line + ll;
        size_t vl = (size_t)(line + ll - v);
        if (vl > 0 && v[0] == ' ') {
            v++;
            vl--;
        }
        if (fl == 4 && memcmp(line, "data", 4) == 0) {
            memcpy(data + dlen, v, vl);
            dlen += vl;
            data[dlen++] = '\n';
        } else if (fl == 5 && memcmp(line, "event", 5) == 0) {
            memcpy(name, v, vl);
            nlen = vl;
        }
    }
    free(data);
    free(name);
    return comments;
}

/* ---------------------------------------------------------------- main */

static evlog ref, whole, cut;

int LLVMFuzzerTestOneInput(const uint8_t *s, size_t len)
{
    /* no limit reached: the spec's reading, then every way of cutting */
    size_t big = len + 16;
    uint64_t ref_comments = ref_parse(&ref, s, len);
    run w = parse_all(&whole, CUT_NONE, s, len, big, 0);
    CHECK(w.err == 0 && w.comments == ref_comments);
    same_log(&ref, &whole);

    run c = parse_all(&cut, CUT_BYTES, s, len, big, 0);
    CHECK(c.err == 0 && c.comments == ref_comments);
    same_log(&whole, &cut);

    /* input-chosen cuts, and callbacks that stop the feed now and then */
    uint64_t mask = 0;
    for (size_t k = 0; k < len && k < 8; k++)
        mask = (mask << 8) | s[len - 1 - k];
    c = parse_all(&cut, CUT_INPUT, s, len, big, mask);
    CHECK(c.err == 0 && c.comments == ref_comments);
    same_log(&whole, &cut);

    /* a small limit: the same events before the same failure, however cut
     * (input-chosen cuts only: byte by byte costs the most, and the cuts
     * above already showed cutting changes nothing below the limit) */
    uint32_t sum = 0;
    for (size_t k = 0; k < len; k++)
        sum += s[k];
    size_t small = 1 + sum % 96;
    w = parse_all(&whole, CUT_NONE, s, len, small, 0);
    c = parse_all(&cut, CUT_INPUT, s, len, small, mask);
    CHECK(w.err == c.err && w.comments == c.comments);
    same_log(&whole, &cut);
    return 0;
}
