/*
 * door_reply.c — a front-door exchange's answer as HTTP (door_xch.h): the
 * upstream's own answer passed through (its status, body and headers but
 * those of the hop), ringside's refusals as OpenAI-style errors with
 * Retry-After where waiting helps, and event streams written as the
 * events arrive — [DONE] after a whole one, an error event after one that
 * broke. Also the other side: where the request's answer and events come
 * in (the key's sink calls them), to be written when MHD runs.
 */
#include "door_xch.h"

#include "admission.h"
#include "outbox.h"
#include "ringside.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ answers */

/* Every answer: who it was for (once the key is known), then counted. */
static enum MHD_Result queue(xch *x, unsigned status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    if (x->key) {
        char v[16];
        snprintf(v, sizeof v, "%u", x->priority);
        MHD_add_response_header(resp, "x-ringside-priority", v);
        MHD_add_response_header(resp, "x-ringside-key", x->key->cfg.name);
        sc_vkey_count(x->key, status);
    }
    enum MHD_Result ret = MHD_queue_response(x->conn, status, resp);
    MHD_destroy_response(resp);
    x->queued = true;
    return ret;
}

enum MHD_Result door_send_json(xch *x, unsigned status, char *body, size_t len, uint64_t retry_after)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (retry_after) {
        char v[24];
        snprintf(v, sizeof v, "%llu", (unsigned long long)retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    return queue(x, status, resp);
}

enum MHD_Result door_send_refusal(xch *x, const door_http *h)
{
    size_t len = 0;
    char *body = sc_door_error_json(h, &len);
    return door_send_json(x, h->status, body, len, h->retry_after_s);
}

enum MHD_Result door_refuse(xch *x, unsigned status, const char *type, const char *code, const char *fmt, ...)
{
    door_http h = { .status = status, .type = type, .code = code };
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h.msg, sizeof h.msg, fmt, ap);
    va_end(ap);
    return door_send_refusal(x, &h);
}

/* Upstream headers that describe this hop, not the answer: never copied. */
static bool hop_header(const char *name)
{
    static const char *const hop[] = { "connection", "keep-alive", "transfer-encoding", "content-length",
                                       "upgrade", "proxy-connection", "te", "trailer", "date", "server" };
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (strcasecmp(name, hop[i]) == 0)
            return true;
    return false;
}

/* The terminal answer of a request that is not an event stream. */
enum MHD_Result door_send_answer(xch *x)
{
    sc_completion *cp = x->cp;
    door_http h;
    sc_door_http_of(cp, &h);
    if (!h.upstream_body)
        return door_send_refusal(x, &h);
    struct MHD_Response *resp = MHD_create_response_from_buffer(cp->body_len, cp->body ? cp->body : (void *)"",
                                                                cp->body ? MHD_RESPMEM_MUST_FREE
                                                                         : MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    cp->body = NULL;   /* libmicrohttpd frees it */
    bool ctype = false;
    for (uint32_t k = 0; k < cp->nheaders; k++) {
        if (hop_header(cp->hname[k]))
            continue;
        ctype |= strcasecmp(cp->hname[k], "content-type") == 0;
        MHD_add_response_header(resp, cp->hname[k], cp->hvalue[k]);
    }
    if (!ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (cp->upstream_name[0])
        MHD_add_response_header(resp, "x-ringside-route", cp->upstream_name);
    char v[16];
    snprintf(v, sizeof v, "%u", cp->attempts);
    MHD_add_response_header(resp, "x-ringside-attempts", v);
    return queue(x, h.status, resp);
}

/* --------------------------------------------------------- event streams */

static void out_put(xch *x, const char *s, size_t n)
{
    if (x->out_off && x->out_off == x->out_len)
        x->out_off = x->out_len = 0;
    if (x->out_len + n > x->out_cap) {
        if (x->out_off) {   /* slide the unsent part down first */
            memmove(x->out, x->out + x->out_off, x->out_len - x->out_off);
            x->out_len -= x->out_off;
            x->out_off = 0;
        }
        size_t cap = x->out_cap ? x->out_cap : 4096;
        while (cap < x->out_len + n)
            cap *= 2;
        char *p = cap > x->out_cap ? realloc(x->out, cap) : x->out;
        if (!p) {
            x->out_failed = true;
            return;
        }
        x->out = p;
        x->out_cap = cap;
    }
    memcpy(x->out + x->out_len, s, n);
    x->out_len += n;
}

/* One event's data as SSE: a data: line per line of it. */
static void out_event(xch *x, const char *data, size_t len)
{
    size_t i = 0;
    do {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - data) : len;
        out_put(x, "data: ", 6);
        out_put(x, data + i, end - i);
        out_put(x, "\n", 1);
        i = end + 1;
    } while (i < len);
    out_put(x, "\n", 1);
}

/* What ends the stream: [DONE] after a whole one, an error event after one
 * that broke (the OpenAI SDKs raise it as an APIError). */
static void write_tail(xch *x)
{
    x->tail_written = true;
    sc_completion *cp = x->cp;
    door_http h;
    sc_door_http_of(cp, &h);
    if (cp->error == RS_OK) {
        if (!x->done_seen)
            out_put(x, "data: [DONE]\n\n", 14);
        return;
    }
    size_t len = 0;
    char *body = sc_door_error_json(&h, &len);
    if (body) {
        while (len && body[len - 1] == '\n')
            len--;
        out_event(x, body, len);
        free(body);
    }
}

static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    xch *x = cls;
    if (x->caller_gone || x->out_failed)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (x->out_off == x->out_len && x->cp && !x->tail_written)
        write_tail(x);
    size_t n = x->out_len - x->out_off;
    if (n) {
        if (n > max)
            n = max;
        memcpy(buf, x->out + x->out_off, n);
        x->out_off += n;
        if (x->held && x->r && x->out_len - x->out_off < RESUME_BYTES) {
            x->held = false;   /* (its transfer may hand over more events right here) */
            sc_admission_hold(x->door->d, x->r, false);
        }
        return (ssize_t)n;
    }
    if (x->cp)
        return MHD_CONTENT_READER_END_OF_STREAM;
    x->suspended = true;   /* nothing to write until the next event */
    MHD_suspend_connection(x->conn);
    return 0;
}

enum MHD_Result door_start_stream(xch *x)
{
    x->streaming = true;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, read_stream, x, NULL);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return queue(x, MHD_HTTP_OK, resp);
}

/* ------------------------------------------------------ the origin's side */

void door_wake(xch *x)
{
    if (x->suspended && x->conn) {
        x->suspended = false;
        MHD_resume_connection(x->conn);
    }
    sc_mhd_wake(&x->door->m);
}

void door_batch_done(void *ctx)
{
    door_wake(ctx);
}

void door_on_answer(door_origin *o, sc_completion *cp)
{
    xch *x = (xch *)o;
    x->r = NULL;
    x->door->open--;
    if (!x->conn) {   /* the caller has gone */
        sc_completion_free(cp);
        free(x);
        return;
    }
    x->cp = cp;
    door_wake(x);
}

int door_on_chunk(door_origin *o, const void *data, size_t len)
{
    xch *x = (xch *)o;
    if (!x->conn)
        return 0;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
        x->done_seen = true;
    out_event(x, data, len);
    if (x->out_failed)
        return RS_ENOMEM;
    if (!x->held && x->r && x->out_len - x->out_off > HOLD_BYTES) {
        x->held = true;   /* the caller reads slower than the upstream writes */
        sc_admission_hold(x->door->d, x->r, true);
    }
    door_wake(x);
    return 0;
}
