/*
 * mock_upstream.c - owns ringside-mock-upstream: an OpenAI/DeepSeek-compatible
 * HTTP/1.1 server used as the upstream in ringside's tests and benchmarks.
 * HTTP parsing, keep-alive and the epoll loop are libmicrohttpd's (internal
 * epoll thread pool); JSON is jansson's. This file decides what to answer;
 * resume_timer.c owns the non-blocking delays.
 *
 * Usage: ringside-mock-upstream [--port N] [--threads N] [--expect-key KEY]
 *                               [--verbose]
 *   Binds 127.0.0.1 only. --port 0 (default) picks a free port. Once
 *   listening it prints exactly one line "listening on 127.0.0.1:PORT" on
 *   stdout. SIGTERM/SIGINT stop it cleanly. --verbose enables
 *   libmicrohttpd's own error log on stderr.
 *
 * Endpoints
 *   GET  /healthz            200 "ok" (no auth, no controls)
 *   GET  /stats              200 {"requests":R,"connections":C,
 *                            "active_connections":A,"inflight":I,
 *                            "inflight_peak":P,"overloaded":O,
 *                            "failed_by_mix":F}; R counts every request
 *                            except /stats, /_control and /_stats_reset,
 *                            C every accepted TCP connection (so R > C
 *                            proves keep-alive reuse), I the chat requests
 *                            being served now (see x-mock-max-inflight), P
 *                            the highest I seen, O the 429s answered for
 *                            x-mock-max-inflight, F the requests failed by
 *                            x-mock-fail-rate.
 *   POST /_control           body: "x-mock-...: value" lines; they become the
 *                            default of every later request that lacks the
 *                            header (an empty body clears them). Lets a test
 *                            make the mock fail or turn slow, then recover.
 *                            Answers like /stats.
 *   POST /_stats_reset       Zeroes R, C, O, F, sets P to the current I (so
 *                            P >= I always holds) and restarts the
 *                            x-mock-fail-rate sequence, so a test can measure
 *                            one phase. I and A are live values, not reset.
 *                            Answers like /stats, after the reset.
 *   POST /echo, /v1/echo     200, request body echoed byte for byte, with the
 *                            request's Content-Type (default
 *                            application/octet-stream).
 *   anything else            chat completion (/chat/completions,
 *                            /v1/chat/completions, or any other path/method).
 *
 * Chat completion: 200 application/json chat.completion with id, object,
 * created, model (request body "model", else "deepseek-chat"),
 * choices[0].message {role:"assistant", content}, finish_reason "stop" and
 * usage {prompt_tokens = max(1, body bytes / 4), completion_tokens =
 * max(1, ceil(content bytes / 4)), total_tokens}. content is
 * "echo: <x-request-id>" when that header is present. A body that is not a
 * JSON object just yields the defaults.
 *
 * With --expect-key KEY every request except /healthz, /stats, /_control
 * and /_stats_reset must carry "Authorization: Bearer KEY", else 401
 * (authentication_error, invalid_api_key). Request bodies over 64 MiB get
 * 413.
 *
 * Control headers (chat unless noted; a malformed value gets a 400 whose
 * error.type is "mock_control_error", so a typo in a test fails loudly):
 *   x-mock-status: N         Answer with status N (200..599). Non-2xx gets an
 *                            OpenAI-style {"error":{"message","type","param",
 *                            "code"}} body; 2xx keeps the normal body. Also
 *                            applies to /echo. Wins over streaming.
 *   x-mock-retry-after: V    Add "Retry-After: V" verbatim (any status, also
 *                            /echo). "date+N" sends the HTTP-date N seconds
 *                            from now instead.
 *   x-mock-delay-ms: N       Wait N ms (<= 3600000) after the request is
 *                            fully read, before the response headers. Never
 *                            blocks other connections. Also applies to /echo.
 *                            A client that hangs up (even half-closes) cuts
 *                            this wait, and any stream pause, short.
 *   x-mock-stream: N         Answer as an SSE stream (text/event-stream) of N
 *                            (<= 1000000) chat.completion.chunk events whose
 *                            delta.content is "tok<i> " (i = 0..N-1; chunk 0
 *                            also has role "assistant"; the last has
 *                            finish_reason "stop" and usage), then
 *                            "data: [DONE]". N = 0 sends only [DONE].
 *                            Without the header, a body with "stream": true
 *                            streams 5 chunks.
 *   x-mock-chunk-interval-ms: N
 *                            Wait N ms between consecutive stream chunks
 *                            ([DONE] follows the last chunk at once).
 *   x-mock-keepalives: N     Before the content of a 2xx chat response, send N
 *                            (<= 100000) keep-alives, as DeepSeek does while
 *                            busy: the headers go out at once, keep-alive k is
 *                            sent at k*M ms and the content at N*M ms. Non-stream
 *                            keep-alives are "\n" at the start of a chunked
 *                            JSON body; stream keep-alives are ": keep-alive\n\n".
 *   x-mock-keepalive-interval-ms: M
 *                            Spacing of the keep-alives (default 100).
 *   x-mock-reset-after: N    Abort the connection once N body bytes
 *                            (keep-alives included, chunk framing excluded)
 *                            are sent, so the client sees a truncated body
 *                            (short of Content-Length, or no final chunk).
 *                            The abort is an RST, or a FIN when bytes are
 *                            still queued in the kernel, so that exactly N
 *                            bytes always arrive. A body of N bytes or fewer
 *                            completes normally. Works for JSON, stream,
 *                            error and /echo responses.
 *   x-mock-echo-headers: 1   Add top-level "request_headers": {lower-cased
 *                            name: value} to JSON bodies (success and error;
 *                            repeated headers joined with ", ").
 *   x-mock-max-inflight: N   Like DeepSeek's per-account concurrency limit:
 *                            a chat request that is read in full while N
 *                            (0..1000000) or more chat requests are in
 *                            flight gets an immediate 429 rate_limit_error
 *                            (no delay, no reset, no fail-rate decision).
 *                            A chat request is in flight from the moment it
 *                            is read in full and admitted until the last
 *                            byte of its answer is handed over for sending
 *                            (or the answer is cut): delays, keep-alives and
 *                            streams included, and never past the moment the
 *                            client can see the answer end. A client that
 *                            hangs up during a delay or pause releases its
 *                            slot at once (resume_timer.c watches suspended
 *                            sockets); otherwise libmicrohttpd's
 *                            request-completed callback releases it.
 *                            Every chat request counts, with a limit or not.
 *   x-mock-overload-retry-after: V
 *                            Retry-After of those 429s (default 1), same
 *                            forms as x-mock-retry-after (which they ignore).
 *   x-mock-fail-rate: P      Each admitted chat request fails with
 *                            probability P (a decimal in 0..1), otherwise it
 *                            is served normally. A failing request is
 *                            answered as with x-mock-status: 429 or 503, or
 *                            with its answer cut after half its body bytes
 *                            (like x-mock-reset-after, which it overrides;
 *                            for a stream, half-way through chunk N/2, or
 *                            through [DONE] when N = 0). Delays and
 *                            x-mock-retry-after still apply.
 *   x-mock-fail-kinds: K,... Kinds to pick from, uniformly, for a failing
 *                            request: 429, 503, reset (default all three; a
 *                            kind listed twice is picked twice as often).
 *   x-mock-seed: S           Decision n (0, 1, ... counted over the process,
 *                            restarted by /_stats_reset) is a pure function
 *                            of S and n: u = the n-th SplitMix64 output for
 *                            seed S as a double in [0, 1); the request fails
 *                            iff u < P, with kind number floor(u / P * K).
 *                            Without the header S is drawn at start-up.
 *
 * Order for a chat request read in full: malformed control -> 400, bad key
 * -> 401, over x-mock-max-inflight -> 429, fail-rate decision, delay, answer.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <linux/sockios.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "resume_timer.h"

#define BODY_LIMIT ((size_t)64 << 20)
#define MAX_DELAY_MS 3600000LL
#define MAX_STREAM_CHUNKS 1000000LL
#define MAX_KEEPALIVES 100000LL
#define DEFAULT_STREAM_CHUNKS 5
#define DEFAULT_KEEPALIVE_INTERVAL_MS 100
#define DEFAULT_MODEL "deepseek-chat"
#define SSE_KEEPALIVE ": keep-alive\n\n"
#define SSE_DONE "data: [DONE]\n\n"
#define MAX_INFLIGHT_LIMIT 1000000LL
#define MAX_FAIL_KINDS 16
#define DEFAULT_OVERLOAD_RETRY_AFTER "1"

/* Process-wide state shared by all worker threads: the counters are atomics
 * because every worker bumps them without any other coordination. */
static struct {
    struct resume_timer *timer;
    char *expect_auth; /* "Bearer KEY", or NULL when any key is accepted */
    struct MHD_Response *healthz;
    atomic_ulong requests;
    atomic_ulong connections;
    atomic_long active_connections;
    atomic_ulong overloaded;    /* 429s answered for x-mock-max-inflight */
    atomic_ulong failed_by_mix; /* requests failed by x-mock-fail-rate */
    atomic_ullong mix_decisions; /* n of the next x-mock-fail-rate decision */
    atomic_ulong next_id;
    unsigned long id_salt; /* keeps ids distinct across restarts */
    uint64_t default_seed; /* x-mock-seed when a request has none */
} app;

/* In-flight chat requests. A mutex rather than atomics because admission
 * compares and increments, the peak follows the count, and /stats and
 * /_stats_reset must see both in one consistent state (peak >= count); it
 * is taken twice per chat request, which is noise next to the HTTP work. */
static struct {
    pthread_mutex_t mu;
    unsigned long count, peak;
} flight = {.mu = PTHREAD_MUTEX_INITIALIZER};

enum route {
    ROUTE_CHAT,
    ROUTE_ECHO,
    ROUTE_HEALTHZ,
    ROUTE_STATS,
    ROUTE_CONTROL,
    ROUTE_STATS_RESET,
};

enum fail_kind { FAIL_429, FAIL_503, FAIL_RESET };

/* Sticky control headers set with POST /_control: used by every request
 * that does not carry the header itself, so a test can make the mock fail
 * (or turn slow) and recover later, as a real upstream does. */
static pthread_mutex_t defaults_mu = PTHREAD_MUTEX_INITIALIZER;
static char *defaults;   /* "name: value\n" lines, or NULL */

/* The control header `name`: the request's own, else the sticky default
 * (copied into buf, since POST /_control may replace it meanwhile). */
static const char *control_value(struct MHD_Connection *c, const char *name, char *buf, size_t len)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    if (v)
        return v;
    const char *found = NULL;
    size_t nlen = strlen(name);
    pthread_mutex_lock(&defaults_mu);
    for (const char *p = defaults; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *val = p + nlen + 1;
            while (*val == ' ')
                val++;
            size_t vl = strcspn(val, "\r\n");
            if (vl < len) {
                memcpy(buf, val, vl);
                buf[vl] = 0;
                found = buf;
            }
            break;
        }
    }
    pthread_mutex_unlock(&defaults_mu);
    return found;
}

static void flight_release(void);

/*
 * Gives back an x-mock-max-inflight slot, once. Called just before the last
 * byte of the answer is handed to libmicrohttpd (or the connection is cut),
 * not when libmicrohttpd reports the request complete, which comes after the
 * bytes were sent: a client that has read a whole answer must find its slot
 * free, or one that keeps at most N requests open would see spurious 429s.
 * on_completed() releases whatever is still held (the client went away, or
 * the answer could not be built). All calls for one request run on the
 * thread serving its connection, one at a time, so the flag needs no atomic.
 */
static void slot_release(bool *held)
{
    if (held && *held) {
        *held = false;
        flight_release();
    }
}

struct controls {
    unsigned status; /* 0: not forced */
    char *retry_after;
    long long delay_ms;
    long long stream_chunks; /* -1: header absent */
    long long chunk_interval_ms;
    long long keepalives;
    long long keepalive_interval_ms;
    long long reset_after; /* -1: never */
    bool reset_mid; /* x-mock-fail-rate chose "reset": cut at half the body */
    bool echo_headers;
    /* The request's in-flight slot while it holds one, else NULL; see
     * slot_release(). */
    bool *slot;
    long long max_inflight; /* -1: no limit */
    char *overload_retry_after; /* NULL: DEFAULT_OVERLOAD_RETRY_AFTER */
    double fail_rate; /* < 0: header absent */
    unsigned char fail_kinds[MAX_FAIL_KINDS]; /* enum fail_kind */
    unsigned n_fail_kinds;
    bool have_seed;
    uint64_t seed;
};

/* Per-request state, MHD's con_cls; freed in on_completed(). */
struct req {
    enum route route;
    bool admitted;   /* admission and the fail-rate decision are made */
    bool holds_slot; /* counted in flight.count, see slot_release() */
    bool delay_served;
    bool too_large;
    char *body;
    size_t len, cap;
    struct controls ctl;
    char control_error[192]; /* non-empty: answer 400 with this message */
};

/* ------------------------------------------------------------------ */
/* Response body generator: everything that is not one ready buffer.   */
/* ------------------------------------------------------------------ */

/*
 * A generated body is a sequence of segments (keep-alives, then the JSON body
 * or the SSE chunks and [DONE]), each optionally preceded by a pause. The
 * content-reader callback packs as many ready segments as fit into MHD's
 * buffer; at a pause it suspends the connection and lets the timer resume it,
 * so a worker never sleeps. Owned by its MHD_Response (freed by gen_free),
 * which outlives every content-reader call.
 */
struct gen {
    struct MHD_Connection *conn;
    bool sse;
    unsigned ka_total, ka_sent, ka_interval_ms;

    /* non-stream: the whole body, sent as one segment */
    char *body;
    size_t body_len;
    bool body_sent;

    /* stream: chunk JSON = head + middle + tail, see render_chunk() */
    char *chunk_head;
    size_t chunk_head_len;
    char *usage_tail;
    unsigned n_chunks, chunks_sent, chunk_interval_ms;
    bool done_sent;
    char *scratch;
    size_t scratch_cap;

    /* cursor */
    const char *seg;
    size_t seg_len, seg_off;
    unsigned pending_delay_ms;
    uint64_t sent;
    long long reset_after;
    bool reset_mid; /* set reset_after half-way through the target segment */
    /* Points into the request, which outlives every gen_read() call:
     * libmicrohttpd only reads a response before it reports the request
     * complete (on_completed() frees the request). */
    bool *slot;
};

static void gen_free(void *cls)
{
    struct gen *g = cls;
    free(g->body);
    free(g->chunk_head);
    free(g->usage_tail);
    free(g->scratch);
    free(g);
}

static void render_chunk(struct gen *g)
{
    unsigned i = g->chunks_sent;
    bool last = i + 1 == g->n_chunks;
    int n = snprintf(g->scratch + g->chunk_head_len,
                     g->scratch_cap - g->chunk_head_len,
                     "%s\"content\":\"tok%u \"},\"logprobs\":null,"
                     "\"finish_reason\":%s}]%s}\n\n",
                     i == 0 ? "\"role\":\"assistant\"," : "", i,
                     last ? "\"stop\"" : "null", last ? g->usage_tail : "");
    g->seg = g->scratch;
    g->seg_len = g->chunk_head_len + (size_t)n;
}

/* Loads the next segment and the pause before it; false at end of body. */
static bool gen_next(struct gen *g)
{
    /* Empty until a segment loads, so a finished body stays finished on the
     * calls MHD makes after we returned its last bytes. */
    g->seg_off = g->seg_len = 0;
    if (g->ka_sent < g->ka_total) {
        g->pending_delay_ms = g->ka_sent ? g->ka_interval_ms : 0;
        g->seg = g->sse ? SSE_KEEPALIVE : "\n";
        g->seg_len = strlen(g->seg);
        g->ka_sent++;
        return true;
    }
    unsigned after_ka = g->ka_total ? g->ka_interval_ms : 0;
    /* Where a "reset" failure cuts: the JSON body, or the middle chunk, or
     * [DONE] when there is no chunk, so the client always gets the headers
     * and part of the content, never a whole body. */
    bool target;
    if (!g->sse) {
        if (g->body_sent)
            return false;
        g->body_sent = true;
        g->pending_delay_ms = after_ka;
        g->seg = g->body ? g->body : "";
        g->seg_len = g->body_len;
        target = true;
    } else if (g->chunks_sent < g->n_chunks) {
        g->pending_delay_ms = g->chunks_sent ? g->chunk_interval_ms : after_ka;
        render_chunk(g);
        target = g->chunks_sent == g->n_chunks / 2;
        g->chunks_sent++;
    } else if (!g->done_sent) {
        g->done_sent = true;
        g->pending_delay_ms = g->n_chunks ? 0 : after_ka;
        g->seg = SSE_DONE;
        g->seg_len = strlen(SSE_DONE);
        target = g->n_chunks == 0;
    } else {
        return false;
    }
    /* Every earlier segment has been copied in full, so g->sent is where
     * this one starts. */
    if (target && g->reset_mid)
        g->reset_after = (long long)(g->sent + g->seg_len / 2);
    return true;
}

/*
 * Cuts the connection for x-mock-reset-after, just before we hand
 * MHD_CONTENT_READER_END_WITH_ERROR back to libmicrohttpd.
 *
 * An RST is what a crashed upstream produces and the harsher case for a
 * proxy, so when every byte we produced has left the socket we reset it with
 * connect(AF_UNSPEC) (tcp_disconnect: RST now, fd stays MHD's to close). If
 * bytes are still queued in the kernel an RST would discard them and the
 * client would see fewer than N bytes, so then a FIN follows them instead.
 *
 * Either way the socket reports EPOLLHUP/EPOLLERR, which is load-bearing:
 * libmicrohttpd 0.9.75 only marks a chunked connection closed at this point
 * and would not close the socket until some unrelated event woke its worker,
 * leaving the client hanging instead of seeing the abort.
 */
static void abort_connection(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return;
    int fd = ci->connect_fd;
    int unsent = 1;
    if (ioctl(fd, SIOCOUTQNSD, &unsent) == 0 && unsent == 0) {
        struct sockaddr unspec = {.sa_family = AF_UNSPEC};
        if (connect(fd, &unspec, sizeof unspec) == 0)
            return;
    }
    shutdown(fd, SHUT_RDWR);
}

static ssize_t gen_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct gen *g = cls;
    size_t n = 0;
    (void)pos; /* the response is never reused, so our own cursor suffices */

    for (;;) {
        if (g->seg_off == g->seg_len && !gen_next(g))
            return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
        if (g->pending_delay_ms) {
            if (n) /* flush what is ready; the pause happens next call */
                return (ssize_t)n;
            unsigned ms = g->pending_delay_ms;
            g->pending_delay_ms = 0;
            if (!resume_timer_stopping(app.timer)) {
                MHD_suspend_connection(g->conn);
                resume_timer_after(app.timer, g->conn, ms);
                return 0;
            }
        }
        size_t take = g->seg_len - g->seg_off;
        if (take > max - n)
            take = max - n;
        if (g->reset_after >= 0) {
            uint64_t room = (uint64_t)g->reset_after - g->sent;
            if (room == 0 && take > 0) {
                if (n)
                    return (ssize_t)n;
                slot_release(g->slot);
                abort_connection(g->conn);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            if (take > room)
                take = (size_t)room;
        }
        memcpy(out + n, g->seg + g->seg_off, take);
        g->seg_off += take;
        g->sent += take;
        n += take;
        /* The last segment is complete: these are the answer's last bytes
         * (for a stream, [DONE], which many clients treat as the end). */
        if (g->seg_off == g->seg_len && (g->sse ? g->done_sent : g->body_sent))
            slot_release(g->slot);
        if (n == max)
            return (ssize_t)n;
    }
}

static struct gen *gen_new(struct MHD_Connection *c, const struct controls *ctl)
{
    struct gen *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->conn = c;
    g->reset_after = ctl->reset_mid ? -1 : ctl->reset_after;
    g->reset_mid = ctl->reset_mid;
    g->slot = ctl->slot;
    return g;
}

/* ------------------------------------------------------------------ */
/* JSON helpers                                                         */
/* ------------------------------------------------------------------ */

/* Header values are arbitrary bytes but JSON strings must be UTF-8; a mock
 * should degrade (replace bytes) rather than fail the whole response. */
static json_t *json_str_lossy(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value)
{
    json_t *obj = cls;
    (void)kind;
    char name[256];
    size_t i = 0;
    for (; key[i] && i + 1 < sizeof name; i++)
        name[i] = (char)tolower((unsigned char)key[i]);
    name[i] = '\0';
    if (!value)
        value = "";

    json_t *prev = json_object_get(obj, name);
    if (prev && json_is_string(prev)) {
        size_t need = strlen(json_string_value(prev)) + strlen(value) + 3;
        char *joined = malloc(need);
        if (joined) {
            snprintf(joined, need, "%s, %s", json_string_value(prev), value);
            json_t *v = json_str_lossy(joined);
            if (v)
                json_object_set_new(obj, name, v);
            free(joined);
        }
    } else {
        json_t *v = json_str_lossy(value);
        if (v)
            json_object_set_new(obj, name, v);
    }
    return MHD_YES;
}

static void add_request_headers(json_t *root, struct MHD_Connection *c)
{
    json_t *h = json_object();
    if (!h)
        return;
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, h);
    json_object_set_new(root, "request_headers", h);
}

static char *next_completion_id(void)
{
    unsigned long n = atomic_fetch_add(&app.next_id, 1);
    char *id = malloc(48);
    if (id)
        snprintf(id, 48, "chatcmpl-mock%lx-%lx", app.id_salt, n);
    return id;
}

/* ------------------------------------------------------------------ */
/* Queuing responses                                                    */
/* ------------------------------------------------------------------ */

static void add_common_headers(struct MHD_Response *resp, const char *ctype,
                               const struct controls *ctl)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (ctl && ctl->retry_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
                                ctl->retry_after);
}

/* Takes ownership of `body` (malloc'd). Uses the plain-buffer fast path
 * unless the body must be cut short by x-mock-reset-after. */
static enum MHD_Result queue_body(struct MHD_Connection *c, unsigned status,
                                  const char *ctype, char *body, size_t len,
                                  const struct controls *ctl)
{
    struct MHD_Response *resp;
    long long cut = !ctl          ? -1
                    : ctl->reset_mid ? (long long)(len / 2)
                                     : ctl->reset_after;
    if (cut >= 0 && (uint64_t)cut < len) {
        struct gen *g = gen_new(c, ctl);
        if (!g) {
            free(body);
            return MHD_NO;
        }
        g->body = body;
        g->body_len = len;
        g->reset_after = cut;
        g->reset_mid = false; /* already resolved to a byte count */
        resp = MHD_create_response_from_callback(len, 64 * 1024, gen_read, g,
                                                 gen_free);
        if (!resp)
            gen_free(g);
    } else {
        if (body) {
            resp = MHD_create_response_from_buffer_with_free_callback(
                len, body, free);
            if (!resp)
                free(body);
        } else {
            resp = MHD_create_response_from_buffer(0, (void *)"",
                                                   MHD_RESPMEM_PERSISTENT);
        }
        /* The whole answer is handed over at once. */
        if (ctl)
            slot_release(ctl->slot);
    }
    if (!resp)
        return MHD_NO;
    add_common_headers(resp, ctype, ctl);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Chunked (size unknown) response whose body comes from `g`. */
static enum MHD_Result queue_gen(struct MHD_Connection *c, unsigned status,
                                 const char *ctype, struct gen *g,
                                 const struct controls *ctl)
{
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16 * 1024, gen_read, g, gen_free);
    if (!resp) {
        gen_free(g);
        return MHD_NO;
    }
    add_common_headers(resp, ctype, ctl);
    if (g->sse)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result queue_json(struct MHD_Connection *c, unsigned status,
                                  json_t *root, const struct controls *ctl)
{
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!s)
        return MHD_NO;
    return queue_body(c, status, "application/json", s, strlen(s), ctl);
}

struct error_kind {
    unsigned status;
    const char *type, *code, *message;
};

/* Mirrors what OpenAI and DeepSeek send for each status, so client-side
 * classification (retryable or not) sees realistic payloads. */
static const struct error_kind error_kinds[] = {
    {400, "invalid_request_error", "invalid_request", "Invalid request format"},
    {401, "authentication_error", "invalid_api_key", "Incorrect API key provided"},
    {402, "invalid_request_error", "insufficient_balance", "Insufficient Balance"},
    {403, "permission_error", "forbidden", "Permission denied"},
    {404, "invalid_request_error", "not_found", "The requested resource does not exist"},
    {408, "timeout_error", "request_timeout", "Request timed out"},
    {413, "invalid_request_error", "request_too_large", "Request body too large"},
    {422, "invalid_request_error", "invalid_parameters", "Invalid Parameters"},
    {429, "rate_limit_error", "rate_limit_exceeded", "Rate limit reached for requests"},
    {500, "server_error", "internal_error", "The server had an error while processing your request"},
    {502, "server_error", "bad_gateway", "Bad gateway"},
    {503, "server_error", "server_overloaded", "The server is overloaded, please try again later"},
    {504, "server_error", "gateway_timeout", "Gateway timeout"},
};

static enum MHD_Result queue_error(struct MHD_Connection *c, unsigned status,
                                   const char *message,
                                   const struct controls *ctl)
{
    const char *type = status >= 500 ? "server_error" : "invalid_request_error";
    const char *code = "mock_error";
    const char *dflt = "Mock upstream error";
    for (size_t i = 0; i < sizeof error_kinds / sizeof error_kinds[0]; i++) {
        if (error_kinds[i].status == status) {
            type = error_kinds[i].type;
            code = error_kinds[i].code;
            dflt = error_kinds[i].message;
            break;
        }
    }
    char msg[256];
    if (message && strncmp(message, "mock:", 5) == 0)
        type = "mock_control_error";
    snprintf(msg, sizeof msg, "%s", message ? message : dflt);
    json_t *root = json_pack("{s:{s:s, s:s, s:n, s:s}}", "error", "message",
                             msg, "type", type, "param", "code", code);
    if (root && ctl && ctl->echo_headers)
        add_request_headers(root, c);
    return queue_json(c, status, root, ctl);
}

/* ------------------------------------------------------------------ */
/* Control headers                                                      */
/* ------------------------------------------------------------------ */

/* Returns false (and fills r->control_error) when present but malformed. */
static bool header_int(struct MHD_Connection *c, struct req *r,
                       const char *name, long long lo, long long hi,
                       long long *out)
{
    char buf[64];
    const char *v = control_value(c, name, buf, sizeof buf);
    if (!v)
        return true;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    if (errno || end == v || *end || x < lo || x > hi) {
        snprintf(r->control_error, sizeof r->control_error,
                 "mock: %s must be an integer in [%lld, %lld], got \"%.64s\"",
                 name, lo, hi, v);
        return false;
    }
    *out = x;
    return true;
}

/* A Retry-After value (verbatim, or "date+N") from control header `name`
 * into *out; *out stays NULL when the header is absent. */
static bool parse_retry_after(struct MHD_Connection *c, struct req *r,
                              const char *name, char **out)
{
    char buf[128];
    const char *v = control_value(c, name, buf, sizeof buf);
    if (!v)
        return true;
    if (strncasecmp(v, "date+", 5) == 0) {
        char *end;
        errno = 0;
        long long secs = strtoll(v + 5, &end, 10);
        if (errno || end == v + 5 || *end || secs < 0 || secs > 100000000LL) {
            snprintf(r->control_error, sizeof r->control_error,
                     "mock: %s date+N needs N >= 0, got \"%.64s\"", name, v);
            return false;
        }
        time_t when = time(NULL) + (time_t)secs;
        struct tm tm;
        gmtime_r(&when, &tm);
        char date[64];
        /* Never setlocale()d, so %a/%b are the English names HTTP wants. */
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        *out = strdup(date);
    } else {
        *out = strdup(v);
    }
    return *out != NULL;
}

/* x-mock-fail-rate: a plain decimal in [0, 1]. strtod alone would also take
 * "nan", "1e-1" or hex floats; a mock control should accept one spelling. */
static bool parse_fail_rate(struct MHD_Connection *c, struct req *r)
{
    char buf[64];
    const char *v = control_value(c, "x-mock-fail-rate", buf, sizeof buf);
    if (!v)
        return true;
    size_t digits = strspn(v, "0123456789");
    size_t len = digits;
    if (v[len] == '.') {
        size_t frac = strspn(v + len + 1, "0123456789");
        digits += frac;
        len += 1 + frac;
    }
    double p = -1;
    if (digits > 0 && v[len] == '\0')
        p = strtod(v, NULL); /* never setlocale()d: '.' is the point */
    if (!(p >= 0.0 && p <= 1.0)) {
        snprintf(r->control_error, sizeof r->control_error,
                 "mock: x-mock-fail-rate must be a decimal in [0, 1], got \"%.64s\"",
                 v);
        return false;
    }
    r->ctl.fail_rate = p;
    return true;
}

static bool parse_fail_kinds(struct MHD_Connection *c, struct req *r)
{
    struct controls *k = &r->ctl;
    char buf[160];
    const char *v = control_value(c, "x-mock-fail-kinds", buf, sizeof buf);
    if (!v) {
        k->fail_kinds[0] = FAIL_429;
        k->fail_kinds[1] = FAIL_503;
        k->fail_kinds[2] = FAIL_RESET;
        k->n_fail_kinds = 3;
        return true;
    }
    k->n_fail_kinds = 0;
    const char *p = v;
    for (;;) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, ", \t");
        const char *q = p + n + strspn(p + n, " \t");
        int kind = n == 3 && strncmp(p, "429", 3) == 0           ? FAIL_429
                   : n == 3 && strncmp(p, "503", 3) == 0         ? FAIL_503
                   : n == 5 && strncasecmp(p, "reset", 5) == 0   ? FAIL_RESET
                                                                 : -1;
        if (kind < 0 || k->n_fail_kinds == MAX_FAIL_KINDS || (*q && *q != ',')) {
            snprintf(r->control_error, sizeof r->control_error,
                     "mock: x-mock-fail-kinds must be a comma list of at most "
                     "%d of 429, 503, reset, got \"%.64s\"", MAX_FAIL_KINDS, v);
            return false;
        }
        k->fail_kinds[k->n_fail_kinds++] = (unsigned char)kind;
        if (!*q)
            return true;
        p = q + 1;
    }
}

static bool parse_seed(struct MHD_Connection *c, struct req *r)
{
    char buf[64];
    const char *v = control_value(c, "x-mock-seed", buf, sizeof buf);
    if (!v)
        return true;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || v[0] == '+' ||
        isspace((unsigned char)v[0])) {
        snprintf(r->control_error, sizeof r->control_error,
                 "mock: x-mock-seed must be an integer in [0, 2^64), got \"%.64s\"",
                 v);
        return false;
    }
    r->ctl.have_seed = true;
    r->ctl.seed = (uint64_t)x;
    return true;
}

static void parse_controls(struct MHD_Connection *c, struct req *r)
{
    struct controls *k = &r->ctl;
    long long status = 0, echo = 0;
    k->stream_chunks = -1;
    k->keepalive_interval_ms = DEFAULT_KEEPALIVE_INTERVAL_MS;
    k->reset_after = -1;
    k->max_inflight = -1;
    k->fail_rate = -1;

    /* && chains stop at the first bad header so its message survives. */
    bool ok = header_int(c, r, "x-mock-status", 200, 599, &status) &&
              header_int(c, r, "x-mock-delay-ms", 0, MAX_DELAY_MS, &k->delay_ms) &&
              header_int(c, r, "x-mock-stream", 0, MAX_STREAM_CHUNKS,
                         &k->stream_chunks) &&
              header_int(c, r, "x-mock-chunk-interval-ms", 0, MAX_DELAY_MS,
                         &k->chunk_interval_ms) &&
              header_int(c, r, "x-mock-keepalives", 0, MAX_KEEPALIVES,
                         &k->keepalives) &&
              header_int(c, r, "x-mock-keepalive-interval-ms", 0, MAX_DELAY_MS,
                         &k->keepalive_interval_ms) &&
              header_int(c, r, "x-mock-reset-after", 0, LLONG_MAX / 2,
                         &k->reset_after) &&
              header_int(c, r, "x-mock-echo-headers", 0, 1, &echo) &&
              parse_retry_after(c, r, "x-mock-retry-after", &k->retry_after) &&
              header_int(c, r, "x-mock-max-inflight", 0, MAX_INFLIGHT_LIMIT,
                         &k->max_inflight) &&
              parse_retry_after(c, r, "x-mock-overload-retry-after",
                                &k->overload_retry_after) &&
              parse_fail_rate(c, r) && parse_fail_kinds(c, r) &&
              parse_seed(c, r);
    if (!ok && !r->control_error[0])
        snprintf(r->control_error, sizeof r->control_error,
                 "mock: out of memory parsing control headers");
    k->status = (unsigned)status;
    k->echo_headers = echo == 1;
}

/* ------------------------------------------------------------------ */
/* Endpoints                                                            */
/* ------------------------------------------------------------------ */

static enum MHD_Result serve_stats(struct MHD_Connection *c)
{
    pthread_mutex_lock(&flight.mu);
    unsigned long inflight = flight.count, peak = flight.peak;
    pthread_mutex_unlock(&flight.mu);
    char buf[320];
    int n = snprintf(buf, sizeof buf,
                     "{\"requests\":%lu,\"connections\":%lu,"
                     "\"active_connections\":%ld,\"inflight\":%lu,"
                     "\"inflight_peak\":%lu,\"overloaded\":%lu,"
                     "\"failed_by_mix\":%lu}",
                     atomic_load(&app.requests), atomic_load(&app.connections),
                     atomic_load(&app.active_connections), inflight, peak,
                     atomic_load(&app.overloaded),
                     atomic_load(&app.failed_by_mix));
    char *body = strndup(buf, (size_t)n);
    if (!body)
        return MHD_NO;
    return queue_body(c, MHD_HTTP_OK, "application/json", body, (size_t)n, NULL);
}

static enum MHD_Result serve_echo(struct MHD_Connection *c, struct req *r,
                                  unsigned status)
{
    const char *ctype = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    char *body = r->body;
    r->body = NULL; /* ownership moves to the response: no 4 MiB copy */
    return queue_body(c, status, ctype ? ctype : "application/octet-stream",
                      body, r->len, &r->ctl);
}

/* POST /_stats_reset. The peak restarts from the current count rather than
 * 0 so that peak >= inflight holds even when requests are in flight. */
static void reset_stats(void)
{
    atomic_store(&app.requests, 0);
    atomic_store(&app.connections, 0);
    atomic_store(&app.overloaded, 0);
    atomic_store(&app.failed_by_mix, 0);
    atomic_store(&app.mix_decisions, 0);
    pthread_mutex_lock(&flight.mu);
    flight.peak = flight.count;
    pthread_mutex_unlock(&flight.mu);
}

/* ------------------------------------------------------------------ */
/* Concurrency limit and failure mix                                    */
/* ------------------------------------------------------------------ */

/* Takes a slot unless `limit` (>= 0) slots are taken already. Unlimited
 * requests take one too, so "inflight" always counts every chat request
 * being served and a limited request sees them all, as an account would. */
static bool flight_admit(long long limit)
{
    pthread_mutex_lock(&flight.mu);
    bool ok = limit < 0 || flight.count < (unsigned long long)limit;
    if (ok && ++flight.count > flight.peak)
        flight.peak = flight.count;
    pthread_mutex_unlock(&flight.mu);
    return ok;
}

static void flight_release(void)
{
    pthread_mutex_lock(&flight.mu);
    flight.count--;
    pthread_mutex_unlock(&flight.mu);
}

/* The n-th output of SplitMix64 seeded with `seed`: a pure function of
 * (seed, n), so decision n comes out the same whichever thread takes it. */
static uint64_t splitmix64_at(uint64_t seed, uint64_t n)
{
    uint64_t z = seed + (n + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* x-mock-fail-rate: turns this request into a failure, or leaves it be. */
static void decide_failure(struct controls *k)
{
    if (k->fail_rate < 0)
        return;
    uint64_t n = atomic_fetch_add(&app.mix_decisions, 1);
    uint64_t h = splitmix64_at(k->have_seed ? k->seed : app.default_seed, n);
    double u = (double)(h >> 11) * 0x1.0p-53; /* uniform in [0, 1) */
    if (!(u < k->fail_rate))
        return;
    /* Given a failure u is uniform in [0, P), so u / P picks the kind
     * uniformly without spending a second random number. */
    unsigned i = (unsigned)(u / k->fail_rate * k->n_fail_kinds);
    if (i >= k->n_fail_kinds)
        i = k->n_fail_kinds - 1; /* rounding at the top edge */
    atomic_fetch_add(&app.failed_by_mix, 1);
    switch ((enum fail_kind)k->fail_kinds[i]) {
    case FAIL_429:
        k->status = MHD_HTTP_TOO_MANY_REQUESTS;
        break;
    case FAIL_503:
        k->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        break;
    case FAIL_RESET:
        /* Cuts whatever answer the request would have had. */
        k->reset_mid = true;
        break;
    }
}

/* The 429 of x-mock-max-inflight: at once, with its own Retry-After and
 * none of the request's other effects (no delay, no reset). */
static enum MHD_Result queue_overloaded(struct MHD_Connection *c,
                                        const struct req *r)
{
    struct controls k = {
        .reset_after = -1,
        .echo_headers = r->ctl.echo_headers,
        .retry_after = r->ctl.overload_retry_after
                           ? r->ctl.overload_retry_after
                           : (char *)DEFAULT_OVERLOAD_RETRY_AFTER,
    };
    char msg[128];
    snprintf(msg, sizeof msg,
             "Rate limit reached: too many concurrent requests (limit %lld)",
             r->ctl.max_inflight);
    return queue_error(c, MHD_HTTP_TOO_MANY_REQUESTS, msg, &k);
}

/* Builds the per-stream constant parts so each chunk costs one snprintf. */
static bool setup_stream(struct gen *g, const char *id, time_t created,
                         json_t *model, unsigned prompt_tokens, unsigned n)
{
    char *model_json = json_dumps(model, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!model_json)
        return false;
    size_t cap = strlen(model_json) + strlen(id) + 256;
    g->chunk_head = malloc(cap);
    g->usage_tail = malloc(128);
    bool ok = g->chunk_head && g->usage_tail;
    if (ok) {
        int hl = snprintf(g->chunk_head, cap,
                          "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\","
                          "\"created\":%lld,\"model\":%s,"
                          "\"system_fingerprint\":\"fp_ringside_mock\","
                          "\"choices\":[{\"index\":0,\"delta\":{",
                          id, (long long)created, model_json);
        g->chunk_head_len = (size_t)hl;
        snprintf(g->usage_tail, 128,
                 ",\"usage\":{\"prompt_tokens\":%u,\"completion_tokens\":%u,"
                 "\"total_tokens\":%u}",
                 prompt_tokens, n, prompt_tokens + n);
        /* Room for the longest middle part: role, tok index, tail. */
        g->scratch_cap = g->chunk_head_len + 256 + 128;
        g->scratch = malloc(g->scratch_cap);
        ok = g->scratch != NULL;
        if (ok)
            memcpy(g->scratch, g->chunk_head, g->chunk_head_len);
    }
    free(model_json);
    g->sse = true;
    g->n_chunks = n;
    return ok;
}

static enum MHD_Result serve_chat(struct MHD_Connection *c, struct req *r,
                                  unsigned status)
{
    const struct controls *k = &r->ctl;
    json_t *model = NULL;
    bool body_stream = false;

    json_error_t jerr;
    json_t *in = r->len ? json_loadb(r->body, r->len, 0, &jerr) : NULL;
    if (json_is_object(in)) {
        json_t *m = json_object_get(in, "model");
        if (json_is_string(m))
            model = json_incref(m);
        body_stream = json_is_true(json_object_get(in, "stream"));
    }
    json_decref(in);
    if (!model)
        model = json_string(DEFAULT_MODEL);
    if (!model)
        return MHD_NO;

    unsigned prompt_tokens = (unsigned)(r->len / 4 > UINT_MAX ? UINT_MAX : r->len / 4);
    if (prompt_tokens == 0)
        prompt_tokens = 1;
    char *id = next_completion_id();
    time_t created = time(NULL);
    enum MHD_Result ret = MHD_NO;
    if (!id)
        goto out;

    long long n_chunks = k->stream_chunks >= 0 ? k->stream_chunks
                         : body_stream        ? DEFAULT_STREAM_CHUNKS
                                              : -1;
    if (n_chunks >= 0) {
        struct gen *g = gen_new(c, k);
        if (!g)
            goto out;
        if (!setup_stream(g, id, created, model, prompt_tokens,
                          (unsigned)n_chunks)) {
            gen_free(g);
            goto out;
        }
        g->ka_total = (unsigned)k->keepalives;
        g->ka_interval_ms = (unsigned)k->keepalive_interval_ms;
        g->chunk_interval_ms = (unsigned)k->chunk_interval_ms;
        ret = queue_gen(c, status, "text/event-stream", g, k);
        goto out;
    }

    const char *rid =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-request-id");
    char content[320];
    if (rid)
        snprintf(content, sizeof content, "echo: %.300s", rid);
    else
        snprintf(content, sizeof content, "Hello from the ringside mock upstream.");
    unsigned completion_tokens = (unsigned)((strlen(content) + 3) / 4);
    json_t *content_json = json_str_lossy(content);
    if (!content_json)
        goto out;
    json_t *root = json_pack(
        "{s:s, s:s, s:I, s:O, s:s, s:[{s:i, s:{s:s, s:o}, s:n, s:s}],"
        " s:{s:i, s:i, s:i}}",
        "id", id, "object", "chat.completion", "created", (json_int_t)created,
        "model", model, "system_fingerprint", "fp_ringside_mock", "choices",
        "index", 0, "message", "role", "assistant", "content", content_json,
        "logprobs", "finish_reason", "stop", "usage", "prompt_tokens",
        (int)prompt_tokens, "completion_tokens", (int)completion_tokens,
        "total_tokens", (int)(prompt_tokens + completion_tokens));
    if (!root)
        goto out;
    if (k->echo_headers)
        add_request_headers(root, c);

    if (k->keepalives == 0) {
        ret = queue_json(c, status, root, k);
        goto out;
    }
    /* Keep-alives force headers out before the body exists, as DeepSeek
     * does, so the body is chunked rather than Content-Length framed. */
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    struct gen *g = s ? gen_new(c, k) : NULL;
    if (!g) {
        free(s);
        goto out;
    }
    g->body = s;
    g->body_len = strlen(s);
    g->ka_total = (unsigned)k->keepalives;
    g->ka_interval_ms = (unsigned)k->keepalive_interval_ms;
    ret = queue_gen(c, status, "application/json", g, k);
out:
    free(id);
    json_decref(model);
    return ret;
}

static enum MHD_Result respond(struct MHD_Connection *c, struct req *r)
{
    switch (r->route) {
    case ROUTE_HEALTHZ:
        return MHD_queue_response(c, MHD_HTTP_OK, app.healthz);
    case ROUTE_STATS:
        return serve_stats(c);
    case ROUTE_CONTROL: {
        char *nd = r->len ? strndup(r->body, r->len) : NULL;
        pthread_mutex_lock(&defaults_mu);
        free(defaults);
        defaults = nd;
        pthread_mutex_unlock(&defaults_mu);
        return serve_stats(c);
    }
    case ROUTE_STATS_RESET:
        reset_stats();
        return serve_stats(c);
    case ROUTE_ECHO:
    case ROUTE_CHAT:
        break;
    }
    unsigned status = r->ctl.status ? r->ctl.status : MHD_HTTP_OK;
    if (status >= 300)
        return queue_error(c, status, NULL, &r->ctl);
    if (r->route == ROUTE_ECHO)
        return serve_echo(c, r, status);
    return serve_chat(c, r, status);
}

static enum route route_of(const char *method, const char *url)
{
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
               strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (get && strcmp(url, "/healthz") == 0)
        return ROUTE_HEALTHZ;
    if (get && strcmp(url, "/stats") == 0)
        return ROUTE_STATS;
    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0 && strcmp(url, "/_control") == 0)
        return ROUTE_CONTROL;
    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0 &&
        strcmp(url, "/_stats_reset") == 0)
        return ROUTE_STATS_RESET;
    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0 &&
        (strcmp(url, "/echo") == 0 || strcmp(url, "/v1/echo") == 0))
        return ROUTE_ECHO;
    return ROUTE_CHAT;
}

static bool auth_ok(struct MHD_Connection *c)
{
    if (!app.expect_auth)
        return true;
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    return v && strcmp(v, app.expect_auth) == 0;
}

static bool append_body(struct req *r, const char *data, size_t n)
{
    if (r->too_large)
        return true; /* keep draining so the 413 can keep the connection */
    if (n > BODY_LIMIT - r->len) {
        r->too_large = true;
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return true;
    }
    if (r->len + n > r->cap) {
        size_t ncap = r->cap ? r->cap : 16 * 1024;
        while (ncap < r->len + n)
            ncap *= 2;
        if (ncap > BODY_LIMIT)
            ncap = BODY_LIMIT;
        char *nb = realloc(r->body, ncap);
        if (!nb)
            return false;
        r->body = nb;
        r->cap = ncap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    return true;
}

/* First call: headers only. Reject oversize declared bodies now (MHD then
 * closes the connection instead of reading them) and size the buffer once. */
static enum MHD_Result on_headers(struct MHD_Connection *c, struct req *r)
{
    const char *cl = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        unsigned long long declared = strtoull(cl, NULL, 10);
        if (declared > BODY_LIMIT)
            return queue_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
                               "Request body exceeds the mock's 64 MiB limit",
                               NULL);
        if (declared > 0) {
            r->body = malloc((size_t)declared);
            if (!r->body)
                return MHD_NO;
            r->cap = (size_t)declared;
        }
    }
    if (r->route == ROUTE_CHAT || r->route == ROUTE_ECHO)
        parse_controls(c, r);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        r->route = route_of(method, url);
        if (r->route != ROUTE_STATS && r->route != ROUTE_CONTROL &&
            r->route != ROUTE_STATS_RESET)
            atomic_fetch_add(&app.requests, 1);
        return on_headers(c, r);
    }
    if (*upload_data_size) {
        bool ok = append_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }

    /* Request fully read (or resumed after the delay). */
    if (r->too_large)
        return queue_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
                           "Request body exceeds the mock's 64 MiB limit", NULL);
    if (r->route == ROUTE_HEALTHZ || r->route == ROUTE_STATS ||
        r->route == ROUTE_CONTROL || r->route == ROUTE_STATS_RESET)
        return respond(c, r);
    if (r->control_error[0])
        return queue_error(c, MHD_HTTP_BAD_REQUEST, r->control_error, NULL);
    if (!auth_ok(c))
        return queue_error(c, MHD_HTTP_UNAUTHORIZED, NULL, &r->ctl);
    /* Once per request: this function runs again after a delay resumes. */
    if (r->route == ROUTE_CHAT && !r->admitted) {
        r->admitted = true;
        if (!flight_admit(r->ctl.max_inflight)) {
            atomic_fetch_add(&app.overloaded, 1);
            return queue_overloaded(c, r);
        }
        /* Released with the answer's last byte (slot_release()), else in
         * on_completed(), which libmicrohttpd calls exactly once for every
         * request it called us for, however it ends. */
        r->holds_slot = true;
        r->ctl.slot = &r->holds_slot;
        decide_failure(&r->ctl);
    }
    if (r->ctl.delay_ms > 0 && !r->delay_served &&
        !resume_timer_stopping(app.timer)) {
        r->delay_served = true;
        /* Suspend first: the resume may fire before this function returns. */
        MHD_suspend_connection(c);
        resume_timer_after(app.timer, c, (unsigned)r->ctl.delay_ms);
        return MHD_YES;
    }
    return respond(c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct req *r = *con_cls;
    if (!r)
        return;
    slot_release(&r->holds_slot);
    free(r->body);
    free(r->ctl.retry_after);
    free(r->ctl.overload_retry_after);
    free(r);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)c;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&app.connections, 1);
        atomic_fetch_add(&app.active_connections, 1);
    } else {
        atomic_fetch_sub(&app.active_connections, 1);
    }
}

/* ------------------------------------------------------------------ */
/* main                                                                 */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: ringside-mock-upstream [--port N] [--threads N] "
               "[--expect-key KEY] [--verbose]\n");
}

static bool parse_uint_arg(const char *s, unsigned long lo, unsigned long hi,
                           unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi || s[0] == '-')
        return false;
    *out = v;
    return true;
}

/* Benchmarks open thousands of connections; the default soft limit (often
 * 1024) would make the mock, not the proxy, refuse them. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    unsigned long port = 0, threads = 0;
    const char *key = NULL;
    bool verbose = false;
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 't'},
        {"expect-key", required_argument, NULL, 'k'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "p:t:k:vh", opts, NULL)) != -1) {
        switch (o) {
        case 'p':
            if (!parse_uint_arg(optarg, 0, 65535, &port)) {
                fprintf(stderr, "mock-upstream: bad --port '%s'\n", optarg);
                return 2;
            }
            break;
        case 't':
            if (!parse_uint_arg(optarg, 1, 256, &threads)) {
                fprintf(stderr, "mock-upstream: bad --threads '%s'\n", optarg);
                return 2;
            }
            break;
        case 'k':
            key = optarg;
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (threads == 0) {
        /* Enough to outrun a proxy on the same host without hogging it. */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus < 1 ? 1 : cpus > 4 ? 4 : (unsigned long)cpus;
    }

    /* Block the stop signals before any thread exists so that every thread
     * inherits the mask and sigwait() in main is their only consumer. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    if (key) {
        size_t n = strlen(key) + sizeof "Bearer ";
        app.expect_auth = malloc(n);
        if (!app.expect_auth)
            return 1;
        snprintf(app.expect_auth, n, "Bearer %s", key);
    }
    app.id_salt = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16);
    /* Unseeded runs must differ, or a test without x-mock-seed would see
     * the same "random" failures every time. */
    if (getrandom(&app.default_seed, sizeof app.default_seed, 0) !=
        (ssize_t)sizeof app.default_seed)
        app.default_seed = ((uint64_t)app.id_salt << 32) ^ (uint64_t)clock();
    app.healthz = MHD_create_response_from_buffer(2, (void *)"ok",
                                                  MHD_RESPMEM_PERSISTENT);
    if (!app.healthz)
        return 1;
    MHD_add_response_header(app.healthz, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain");

    app.timer = resume_timer_start();
    if (!app.timer) {
        perror("mock-upstream: timer thread");
        return 1;
    }

    struct sockaddr_in sa = {
        .sin_family = AF_INET,
        .sin_port = htons((uint16_t)port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_TURBO | (verbose ? MHD_USE_ERROR_LOG : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)65536,
        /* Per-connection pool: holds request headers (SDKs send many) and
         * the write buffer; 64 KiB keeps big-header requests out of 431. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "mock-upstream: cannot listen on 127.0.0.1:%lu: %s\n",
                port, errno ? strerror(errno) : "libmicrohttpd refused");
        resume_timer_stop(app.timer);
        resume_timer_free(app.timer);
        MHD_destroy_response(app.healthz);
        free(app.expect_auth);
        return 1;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on 127.0.0.1:%u\n", info ? (unsigned)info->port
                                               : (unsigned)port);
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;

    /* Order matters: resume every suspended connection before stopping
     * the daemon, which libmicrohttpd requires. */
    resume_timer_stop(app.timer);
    MHD_stop_daemon(d);
    resume_timer_free(app.timer);
    MHD_destroy_response(app.healthz);
    free(app.expect_auth);
    return 0;
}
