/*
 * door_req.c — see door_req.h. A front-door request is an sc_req like any
 * other: its virtual key is its client, and from sc_admit on it meets the
 * same queues, limits, routes, retries and breakers as a ring client's, is
 * counted in the same metrics and written to the same access log. Only
 * its answer takes another way out: the key's sink, not a ring.
 */
#include "door_req.h"

#include "admission.h"
#include "inflight.h"
#include "outbox.h"
#include "ringside.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sink_answer(sc_req *r, sc_completion *cp)
{
    sc_vkey *k = container_of(r->client, sc_vkey, c);
    k->open--;
    door_origin *o = r->origin;
    o->answer(o, cp);
}

static int sink_chunk(sc_req *r, const void *data, size_t len)
{
    door_origin *o = r->origin;
    return o->chunk(o, data, len);
}

const sc_sink sc_door_sink = { sink_answer, sink_chunk };

static char *put(char **cur, const char *s)
{
    char *start = *cur;
    size_t n = strlen(s) + 1;
    memcpy(start, s, n);
    *cur += n;
    return start;
}

static void refuse(door_http *h, unsigned status, const char *type, const char *code, uint64_t retry_ns,
                   const char *msg)
{
    memset(h, 0, sizeof *h);
    h->status = status;
    h->type = type;
    h->code = code;
    h->retry_after_s = retry_ns == UINT64_MAX ? 0 : (retry_ns + 999999999u) / 1000000000u;
    if (retry_ns && !h->retry_after_s)
        h->retry_after_s = 1;
    snprintf(h->msg, sizeof h->msg, "%s", msg);
}

int sc_door_submit(sc_daemon *d, door_call *call, door_origin *o, uint64_t now, door_http *why)
{
    sc_vkey *k = call->key;
    const char *route = call->route ? call->route : "";
    char buf[300];
    if (route[0] && !sc_vkey_allows(&k->cfg, route)) {
        k->refused_route++;
        snprintf(buf, sizeof buf, "key '%s' may not use route '%s'", k->cfg.name, route);
        refuse(why, 403, "permission_error", "route_not_allowed", 0, buf);
        return -1;
    }
    rsp_token_estimate est;
    rsp_tokens_estimate_counts(call->len, &call->scan->counts, d->cfg.default_max_tokens, &est);
    double tokens = (double)(est.prompt_tokens + est.max_tokens);
    uint64_t retry_ns;
    const char *limited = sc_vkey_admit(k, tokens, now, &retry_ns, buf, sizeof buf);
    if (limited) {
        refuse(why, 429, "rate_limit_error", "key_limit", retry_ns, limited);
        return -1;
    }

    /* one allocation, as intake makes them: the struct, the header line
     * pointers, then the strings */
    char hdr[3][200];
    unsigned nh = 0;
    snprintf(hdr[nh++], sizeof hdr[0], "Content-Type: application/json");
    if (call->stream)
        snprintf(hdr[nh++], sizeof hdr[0], "Accept: text/event-stream");
    if (call->request_id)
        snprintf(hdr[nh++], sizeof hdr[0], "X-Request-Id: %.180s", call->request_id);
    size_t slen = strlen(call->method) + strlen(call->path) + strlen(route) + 4;   /* and model "" */
    for (unsigned i = 0; i < nh; i++)
        slen += strlen(hdr[i]) + 1;
    size_t ptrs = (nh + 1) * sizeof(char *);
    sc_req *r = calloc(1, sizeof *r + ptrs + slen);
    if (!r) {
        refuse(why, 503, "server_error", "out_of_memory", 1000000000u, "sidecar out of memory");
        return -1;
    }
    r->headers = (char **)(void *)(r + 1);
    char *p = (char *)r->headers + ptrs;
    r->method = put(&p, call->method);
    r->path = put(&p, call->path);
    r->route = put(&p, route);
    r->model = put(&p, "");
    for (unsigned i = 0; i < nh; i++)
        r->headers[i] = put(&p, hdr[i]);
    r->headers[nh] = NULL;
    r->nheaders = nh;
    r->client = &k->c;
    r->origin = o;
    r->id = ++k->next_id;   /* unique within the key's client (its inflight index) */
    r->priority = call->priority;
    r->flags = call->stream ? RS_REQ_STREAM : 0;
    r->t_drain = now;
    uint32_t tmo = call->timeout_ms ? call->timeout_ms : d->cfg.deadline_ms[call->priority];
    r->deadline = now + (uint64_t)tmo * 1000000u;
    r->body = call->body;
    r->body_len = r->body_have = call->len;
    call->body = NULL;
    r->body_scan = *call->scan;
    r->body_scanned = true;
    sc_inflight_add(&k->c, r);
    k->open++;
    d->stats.requests++;
    *call->req = r;
    sc_admit(d, r, now);
    return 0;
}

void sc_door_http_of(const sc_completion *cp, door_http *h)
{
    memset(h, 0, sizeof *h);
    snprintf(h->msg, sizeof h->msg, "%s", cp->error_msg);
    h->type = "server_error";
    switch (cp->error) {
    case RS_OK:
    case RS_EUPSTREAM:
        /* the upstream's answer, status and body as it gave them */
        h->status = cp->status ? cp->status : 502;
        h->upstream_body = cp->status != 0;
        h->code = "upstream_error";
        return;
    case RS_EBADREQ:
    case RS_EINVAL:
        h->status = 400, h->type = "invalid_request_error", h->code = "bad_request";
        return;
    case RS_E2BIG:
        h->status = 413, h->type = "invalid_request_error", h->code = "too_large";
        return;
    case RS_ENOROUTE:
        h->status = 404, h->type = "invalid_request_error", h->code = "route_not_found";
        return;
    case RS_ERATELIMITED:
    case RS_EQUEUEFULL:
        h->status = 429, h->type = "rate_limit_error", h->retry_after_s = 1;
        h->code = cp->error == RS_EQUEUEFULL ? "queue_full" : "rate_limited";
        return;
    case RS_ESHED:
        h->status = 503, h->code = "shed", h->retry_after_s = 1;
        return;
    case RS_ESHUTDOWN:
        h->status = 503, h->code = "shutting_down", h->retry_after_s = 1;
        return;
    case RS_EDEADLINE:
        h->status = 504, h->type = "timeout", h->code = "deadline_exceeded";
        return;
    case RS_ECONNUP:
        h->status = 502, h->code = "upstream_unreachable";
        return;
    case RS_EINTERRUPTED:
        h->status = 502, h->code = "stream_interrupted";
        return;
    case RS_ENOMEM:
        h->status = 503, h->code = "out_of_memory", h->retry_after_s = 1;
        return;
    case RS_ECANCELLED:
        h->status = 499, h->code = "cancelled";
        return;
    default:
        h->status = 500, h->code = "internal_error";
        return;
    }
}

void sc_door_error_obj(const door_http *h, sc_text *t)
{
    sc_text_put(t, "{\"message\":");
    sc_text_json_str(t, h->msg);
    sc_text_put(t, ",\"type\":");
    sc_text_json_str(t, h->type ? h->type : "server_error");
    sc_text_put(t, ",\"param\":null,\"code\":");
    sc_text_json_str(t, h->code ? h->code : "error");
    sc_text_put(t, "}");
}

char *sc_door_error_json(const door_http *h, size_t *len)
{
    sc_text t = { 0 };
    sc_text_put(&t, "{\"error\":");
    sc_door_error_obj(h, &t);
    sc_text_put(&t, "}\n");
    return sc_text_take(&t, len);
}
