/*
 * sse.h — incremental parser for upstream Server-Sent Events
 * (text/event-stream), as the WHATWG HTML spec interprets an event stream.
 *
 * Streaming LLM APIs (DeepSeek, OpenAI and compatibles) answer with
 *
 *   : keep-alive
 *
 *   data: {"choices":[{"delta":{"content":"Hel"}}]}
 *
 *   data: [DONE]
 *
 * and the sidecar must forward each event to the client as soon as the blank
 * line that ends it has arrived, whatever pieces libcurl's write callback
 * happens to cut the bytes into. This module owns exactly that job: bytes in,
 * one callback per complete event out, with memory bounded per stream. It
 * does no I/O, no JSON and no allocation per event, so it is unit-tested on
 * its own and can sit on the sidecar's one loop thread.
 *
 *   rsp_sse p;
 *   if (rsp_sse_init(&p, 1 << 20, on_event, ctx) < 0) ...
 *   ... in the write callback:  rc = rsp_sse_feed(&p, ptr, n);
 *   ... at end of transfer:     rsp_sse_finish(&p);
 *   rsp_sse_destroy(&p);
 *
 * What is parsed (spec section "Interpreting an event stream"):
 * - Lines end with "\r\n", "\n" or "\r"; a "\r\n" cut between two feeds is
 *   still one line end (so "\r" | "\n" never makes a spurious blank line).
 * - One UTF-8 BOM at the very start of the stream is skipped (also when cut
 *   across feeds). Bytes are otherwise passed through as they are: no UTF-8
 *   validation or U+FFFD replacement (the data is forwarded, not displayed).
 * - ":..." is a comment: counted (rsp_sse_comments), never an event.
 * - "name:value" with one leading space of the value stripped if present;
 *   a line without ':' is the field `name` with an empty value. Field names
 *   match exactly (case-sensitive).
 * - "data" appends value + "\n" to the event's data; "event" sets the event
 *   name; "id", "retry" and unknown fields are ignored.
 * - A blank line dispatches the event if its data is non-empty (even if it
 *   is only "\n", i.e. one empty "data" line: the event then has data ""),
 *   without the final "\n"; then data and name are cleared. An event with a
 *   name but no "data" line is dropped, as the spec says.
 * - End of stream (rsp_sse_finish) drops an event not yet ended by a blank
 *   line, as the spec says: a truncated upstream response must not look
 *   like a complete last chunk.
 *
 * Memory: one buffer per parser, grown by doubling and never shrunk (so no
 * allocation per event once it has reached the stream's typical size). It
 * holds only what an event needs: the data of the current event, its name,
 * and the value of the data/event line under construction (not the field
 * name). Comments and ignored fields stream past without being stored, so
 * they cost no memory and have no length limit. An event is accepted iff its
 * data (as dispatched, without the final "\n") plus its name is at most
 * max_event_bytes at every point while it is read (a name later replaced by
 * another "event:" line counts while it is held); the buffer never exceeds
 * max_event_bytes + 2 bytes (see rsp_sse_buffer_bytes). A longer event fails
 * with RS_E2BIG as soon as the limit is crossed, not at the end of the event.
 *
 * The struct is visible so it can be embedded in a per-transfer struct;
 * its fields are private: use the functions.
 *
 * Not thread-safe: one parser belongs to one stream on one thread. The
 * callback must not call rsp_sse_* functions on the parser that called it.
 */
#ifndef RSP_SSE_H
#define RSP_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "ringside.h"

/*
 * Called once per dispatched event. data is the event's data ("data:" lines
 * joined with "\n", no trailing "\n"); event is the "event:" value, or ""
 * (length 0) if there was none. Both are NUL-terminated (data[data_len] ==
 * '\0', event[event_len] == '\0') for convenience, but may contain NULs, so
 * use the lengths. They point into the parser's buffer and are valid only
 * during the call. Return 0 to continue, non-zero to stop (see rsp_sse_feed).
 */
typedef int (*rsp_sse_event_fn)(void *ctx, const char *event, size_t event_len,
                               const char *data, size_t data_len);

typedef struct rsp_sse {
    /* private */
    char *buf;            /* [data | pending value | ... free ... | name][NUL] */
    size_t cap;           /* bytes allocated; buf[cap - 1] is always NUL */
    size_t limit;         /* max_event_bytes + 1 (data is held with its final '\n') */
    size_t data_len;      /* data of the current event, each line with its '\n' */
    size_t val_len;       /* value of the data/event line under construction */
    size_t ev_len;        /* event name, held at the end of the buffer */
    rsp_sse_event_fn fn;
    void *ctx;
    uint64_t events;
    uint64_t comments;
    uint64_t bytes;
    int failed;           /* sticky RS_E2BIG / RS_ENOMEM until rsp_sse_reset */
    unsigned char state;  /* where in a line the parser is (sse.c) */
    unsigned char field;  /* the field whose value is being read */
    unsigned char name_len;
    unsigned char bom;    /* BOM bytes matched at stream start; 3 = done */
    unsigned char after_cr; /* last line ended with '\r': skip one '\n' */
    char name[5];         /* field name so far ("event" is the longest kept) */
} rsp_sse;

/*
 * max_event_bytes >= 1 (values above SIZE_MAX / 4 are treated as
 * SIZE_MAX / 4). Allocates the initial buffer (at most 1 KiB + 1 byte).
 * Returns 0, RS_EINVAL (p or fn NULL, max_event_bytes 0) or RS_ENOMEM.
 * On failure *p needs no rsp_sse_destroy (calling it is harmless).
 */
int rsp_sse_init(rsp_sse *p, size_t max_event_bytes, rsp_sse_event_fn fn, void *ctx);

/* Frees the buffer. Safe to call twice, or after a failed init. */
void rsp_sse_destroy(rsp_sse *p);

/*
 * Parses len bytes (buf may be NULL if len is 0), calling fn for every event
 * completed by them, in order. Returns:
 * - 0: all bytes consumed;
 * - the callback's non-zero value, unchanged: parsing stopped right after
 *   the line end that dispatched that event; the rest of buf was not
 *   consumed (rsp_sse_bytes grows by exactly the bytes consumed, so the
 *   caller may feed the rest later and parsing resumes correctly);
 * - RS_E2BIG: an event exceeded max_event_bytes; RS_ENOMEM: the buffer
 *   could not grow. Both are sticky: every later feed returns the same code
 *   until rsp_sse_reset (the stream's position is lost, so resuming could
 *   only produce a corrupt event).
 */
int rsp_sse_feed(rsp_sse *p, const void *buf, size_t len);

/*
 * End of stream: drops the incomplete event and line, if any (not
 * dispatched, per spec), and makes the parser ready for a new stream (its
 * BOM is skipped again). Counters and a sticky error are kept. Returns 0.
 */
int rsp_sse_finish(rsp_sse *p);

/* Back to the state just after init: empty event, counters zero, error
 * cleared. Keeps the buffer already allocated. */
void rsp_sse_reset(rsp_sse *p);

/* Events dispatched (counted before each callback, including one that stops
 * the feed). */
uint64_t rsp_sse_events(const rsp_sse *p);
/* Complete comment lines seen (": keep-alive"). */
uint64_t rsp_sse_comments(const rsp_sse *p);
/* Bytes consumed by rsp_sse_feed (including a skipped BOM). */
uint64_t rsp_sse_bytes(const rsp_sse *p);
/* Bytes allocated for the buffer now: at most max_event_bytes + 2. */
size_t rsp_sse_buffer_bytes(const rsp_sse *p);

#endif
