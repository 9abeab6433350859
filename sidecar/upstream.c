/*
 * upstream.c — one attempt of a request at its route's upstream: a libcurl
 * transfer on the multi handle (curl_loop.c), its body gathered or its SSE
 * events forwarded as they come, its end judged into an sc_attempt and
 * the answer it would give.
 *
 * Easy handles are recycled. The API key is added here, from the
 * sidecar's own environment; whatever Authorization a client sent is
 * dropped.
 */
#include "upstream.h"

#include "access_log.h"
#include "curl_loop.h"
#include "body_json.h"
#include "log.h"
#include "outbox.h"
#include "ratelimit_headers.h"
#include "ringside.h"
#include "routes.h"
#include "sse.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_RESP_HEADER_BYTES (32u * 1024u)
#define EASY_POOL 256
/* Upstream connections kept open for reuse (over HTTP/1.1, one per
 * transfer in flight): beyond this many transfers in flight, a transfer's
 * connection is closed when it ends instead of joining thousands of idle
 * ones. */
#define KEEP_CONNS 1024u
/* Connections per host for HTTP/2 routes (each carries as many streams as
 * the server allows, commonly 100-1,000). */
#define MUX_CONNS 8

typedef struct xfer {
    sc_curl_job job;            /* first: CURLOPT_PRIVATE points here */
    sc_upstream *up;
    sc_req *req;
    struct xfer *prev, *next;   /* active transfers, for the timeout sweep */
    CURL *easy;
    sc_curl_loop *on;           /* the multi handle it is on */
    struct curl_slist *hdrs;
    uint8_t *body;              /* the request body with the model renamed, if it was */
    uint8_t *buf;
    size_t len, cap;
    bool too_big;
    bool line_start, in_comment;  /* where the content scan is in a line */
    uint64_t t_start, t_first_byte, t_first_content, t_last_byte;
    uint64_t max_response;
    /* streaming (RS_REQ_STREAM): each SSE event goes to the client as it
     * arrives; nothing of a successful stream is kept here */
    bool stream, paused;
    int sse_err;                /* why the SSE feed stopped: RS_E2BIG or RS_ENOMEM */
    uint64_t chunks;            /* events forwarded */
    rsp_sse sse;
    char errbuf[CURL_ERROR_SIZE];
} xfer;

#define MAX_EVENT_BYTES (1u << 20)

struct sc_upstream {
    sc_daemon *d;
    sc_attempt_done_fn *done;   /* who hears of a finished attempt */
    sc_curl_loop cl;    /* HTTP/1.1 transfers, and the sidecar's own */
    sc_curl_loop mux;   /* transfers that may share an HTTP/2 connection */
    CURL *pool[EASY_POOL];
    unsigned npool;
    xfer *active;       /* transfers in flight */
    unsigned nactive;   /* of them on cl (HTTP/1.1) */
    uint64_t sweep_at;  /* next first-content / idle timeout check */
};

static void complete(sc_upstream *up, struct xfer *x, CURLcode rc, bool slow);

uint64_t sc_upstream_next_timeout(sc_daemon *d)
{
    sc_upstream *up = d->up;
    uint64_t t = up->cl.timer_at < up->mux.timer_at ? up->cl.timer_at : up->mux.timer_at;
    return t < up->sweep_at ? t : up->sweep_at;
}

/* Timeouts libcurl cannot express: no real content yet (keep-alives do not
 * count), and silence between chunks. Checked every 20 ms while transfers
 * that have them are in flight. */
static void sweep(sc_upstream *up, uint64_t now)
{
    up->sweep_at = UINT64_MAX;
    for (xfer *x = up->active, *next; x; x = next) {
        next = x->next;
        sc_route *rt = x->req->rt;
        bool slow = rt->first_content_ns && !x->t_first_content && now - x->t_start >= rt->first_content_ns;
        /* a transfer we paused is silent because of us, not the upstream */
        bool idle = !slow && !x->paused && rt->idle_ns && now - x->t_last_byte >= rt->idle_ns;
        if (slow || idle) {
            sc_curl_loop_remove(x->on, x->easy);
            if (idle)
                snprintf(x->errbuf, sizeof x->errbuf, "no data for %llu ms (idle timeout)",
                         (unsigned long long)(rt->idle_ns / 1000000u));
            complete(up, x, slow ? CURLE_OK : CURLE_RECV_ERROR, slow);
        } else if (rt->first_content_ns || rt->idle_ns) {
            up->sweep_at = now + 20000000u;
        }
    }
}

void sc_upstream_on_time(sc_daemon *d, uint64_t now)
{
    sc_upstream *up = d->up;
    if (now >= up->sweep_at)
        sweep(up, now);
    sc_curl_loop_on_time(&up->cl, now);
    sc_curl_loop_on_time(&up->mux, now);
}

/* ----------------------------------------------------------- transfers */

static int on_event(void *ctx, const char *event, size_t event_len, const char *data, size_t data_len)
{
    (void)event;
    (void)event_len;
    xfer *x = ctx;
    sc_client *c = x->req->client;
    if (!c || c->closing)
        return 0;
    return sc_client_chunk(x->req, x->chunks++, data, data_len);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    xfer *x = userdata;
    size_t n = size * nmemb;
    uint64_t now = rs__now_ns();
    long status = 0;
    if (x->stream)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    bool events = x->stream && status > 0 && status < 400;   /* an error body is JSON, kept whole */
    sc_client *c = x->req->client;
    if (events && c && (x->req->flow_hold || c->out_chunk_bytes >= SC_CHUNK_HIGH_WATER)) {
        /* the client (as a whole, or this stream's reader) reads slower
         * than the upstream writes: stop reading this transfer (TCP pushes
         * back on the upstream) until it catches up; curl hands us these
         * same bytes again on resume. c->paused counts the ones waiting
         * for the client's queue here to drain, not the held ones. */
        x->paused = true;
        if (!x->req->flow_hold)
            c->paused++;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (n) {
        x->t_last_byte = now;
        if (!x->t_first_byte)
            x->t_first_byte = now;
    }
    /* Busy upstreams send blank lines (JSON) or ": keep-alive" comment lines
     * (SSE) before the real answer: neither is content, and latency to the
     * first real content is what failover and the breaker judge. */
    for (size_t i = 0; i < n && !x->t_first_content; i++) {
        char ch = ptr[i];
        if (ch == '\n') {
            x->line_start = true;
            x->in_comment = false;
        } else if (x->line_start && ch == ':') {
            x->in_comment = true;
            x->line_start = false;
        } else if (ch != '\r' && ch != ' ' && ch != '\t') {
            x->line_start = false;
            if (!x->in_comment)
                x->t_first_content = now;
        }
    }
    if (events) {
        if ((x->sse_err = rsp_sse_feed(&x->sse, ptr, n)) != 0)
            return 0;   /* an event over 1 MiB, or no memory: ends the transfer */
        return n;
    }
    if (x->len + n > x->max_response) {
        x->too_big = true;
        return 0;   /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        while (cap < x->len + n + 1)
            cap *= 2;
        uint8_t *b = realloc(x->buf, cap);
        if (!b)
            return 0;
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, ptr, n);
    x->len += n;
    return n;
}

static bool drop_header(const char *h)
{
    /* hop-by-hop headers, and what curl or the sidecar sets itself */
    static const char *const names[] = {
        "authorization", "connection", "keep-alive", "proxy-authorization",
        "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "host", "content-length", "expect",
    };
    const char *colon = strchr(h, ':');
    size_t n = colon ? (size_t)(colon - h) : strlen(h);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && strncasecmp(h, names[i], n) == 0)
            return true;
    return false;
}

/* The request's headers as libcurl's list, nodes and the request id line
 * in one allocation instead of two per header: the nodes point at strings
 * the request and the route keep while the transfer lives, and libcurl
 * only reads them. NULL when out of memory. */
static struct curl_slist *request_headers(sc_daemon *d, const sc_req *r, const sc_route *rt)
{
    enum { ID_LINE = 160 };
    uint32_t max = r->nheaders + 4;
    bool own_id = !sc_req_client_id(r);   /* a client's own id goes as it is */
    struct curl_slist *h = malloc(max * sizeof *h + ID_LINE);
    if (!h)
        return NULL;
    uint32_t n = 0;
    bool has_ctype = false;
    for (uint32_t k = 0; k < r->nheaders; k++) {
        if (drop_header(r->headers[k]))
            continue;
        has_ctype |= strncasecmp(r->headers[k], "content-type:", 13) == 0;
        h[n++].data = r->headers[k];
    }
    if (r->body_len && !has_ctype)
        h[n++].data = (char *)"Content-Type: application/json";
    if (rt->auth)
        h[n++].data = rt->auth;
    if (own_id) {
        char id[128], *line = (char *)(h + max);
        sc_req_id(d, r, id, sizeof id);
        snprintf(line, ID_LINE, "X-Request-Id: %s", id);
        h[n++].data = line;
    }
    h[n++].data = (char *)"Expect:";   /* no 100-continue round trip */
    for (uint32_t k = 0; k + 1 < n; k++)
        h[k].next = &h[k + 1];
    h[n - 1].next = NULL;
    return h;
}

static void recycle(sc_upstream *up, xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        up->active = x->next;
    if (x->next)
        x->next->prev = x->prev;
    if (x->on == &up->cl)
        up->nactive--;
    free(x->body);
    if (x->stream)
        rsp_sse_destroy(&x->sse);
    if (x->paused && x->req && !x->req->flow_hold && x->req->client)
        x->req->client->paused--;
    free(x->hdrs);
    if (up->npool < EASY_POOL) {
        curl_easy_reset(x->easy);
        up->pool[up->npool++] = x->easy;
    } else {
        curl_easy_cleanup(x->easy);
    }
    free(x->buf);
    free(x);
}

/* The route's HTTP version; true when its connections may be shared
 * (HTTP/2): a transfer then waits for the first connection to say whether
 * it multiplexes instead of opening one of its own. Never on HTTP/1.1,
 * where waiting would queue new requests behind slow ones on a
 * connection that can never be shared. */
static bool set_http_version(CURL *e, const sc_route *rt)
{
    long v = CURL_HTTP_VERSION_2TLS;   /* HTTP/2 if TLS negotiates it */
    bool shared = rt->tls;
    if (rt->cfg.http_version == SC_HTTP_1_1) {
        v = CURL_HTTP_VERSION_1_1;
        shared = false;
    } else if (rt->cfg.http_version == SC_HTTP_2 && !rt->tls) {
        v = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;   /* h2c: config.c checked libcurl can */
        shared = true;
    }
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, v);
    if (shared)
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    return shared;
}

static void xfer_done(sc_curl_job *job, CURLcode rc)
{
    xfer *x = container_of(job, xfer, job);
    complete(x->up, x, rc, false);
}

int sc_upstream_dispatch(sc_daemon *d, sc_req *r, uint64_t now)
{
    sc_upstream *up = d->up;
    sc_route *rt = r->rt;
    xfer *x = calloc(1, sizeof *x);
    CURL *e = up->npool ? up->pool[--up->npool] : curl_easy_init();
    size_t ulen = strlen(rt->cfg.endpoint) + strlen(r->path) + 1;
    char *url = malloc(ulen);
    struct curl_slist *hdrs = request_headers(d, r, rt);   /* never without the key */
    if (!x || !e || !url || !hdrs) {
        free(x);
        free(url);
        free(hdrs);
        if (e)
            curl_easy_cleanup(e);
        return RS_ENOMEM;
    }
    x->hdrs = hdrs;
    snprintf(url, ulen, "%s%s", rt->cfg.endpoint, r->path);
    x->job.done = xfer_done;
    x->up = up;
    x->req = r;
    x->easy = e;
    x->line_start = true;
    x->max_response = d->cfg.max_response_bytes;
    x->stream = (r->flags & RS_REQ_STREAM) != 0;
    if (x->stream && rsp_sse_init(&x->sse, MAX_EVENT_BYTES, on_event, x) < 0) {
        free(x->hdrs);
        free(x);
        free(url);
        curl_easy_cleanup(e);
        return RS_ENOMEM;
    }

    size_t blen = r->body_len;
    x->body = sc_body_rename_model(&r->body_scan, r->body, r->body_len, &rt->cfg, &blen);
    const uint8_t *body = x->body ? x->body : r->body;

    uint64_t left_ms = (r->deadline - now + 999999u) / 1000000u;
    if (rt->total_ms && rt->total_ms < left_ms)
        left_ms = rt->total_ms;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)rt->connect_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)left_ms);
    bool shared = set_http_version(e, rt);
    if (rt->cfg.ca_file[0])
        curl_easy_setopt(e, CURLOPT_CAINFO, rt->cfg.ca_file);
    x->on = shared ? &up->mux : &up->cl;
    sc_curl_loop_prepare(x->on, e);
    if (!shared) {
        /* libcurl's connection cache (7.88) is a list per host: looking for
         * an idle connection walks it, and so does giving one back to a
         * cache over its size. With thousands of transfers in flight that
         * is quadratic: most of the sidecar's CPU at 10,000. So search only
         * when an idle connection can exist, and past KEEP_CONNS in flight
         * use a connection once. (Multiplexed routes must search: that is
         * how a transfer finds the connection to share.) */
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, (long)(up->cl.nconns <= up->nactive));
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, (long)(up->nactive >= KEEP_CONNS));
    }
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    if (strcmp(r->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
        if (strcmp(r->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    free(url);   /* libcurl copied it */

    x->next = up->active;
    if (up->active)
        up->active->prev = x;
    up->active = x;
    up->nactive += !shared;
    if (sc_curl_loop_add(x->on, e) < 0) {
        recycle(up, x);
        return RS_EINTERNAL;
    }
    r->xfer = x;
    if (!r->t_dispatch)
        r->t_dispatch = now;
    x->t_start = x->t_last_byte = now;
    if ((rt->first_content_ns || rt->idle_ns) && up->sweep_at == UINT64_MAX)
        up->sweep_at = now + 20000000u;
    return 0;
}

int sc_upstream_add_job(sc_daemon *d, CURL *easy)
{
    /* its connections count too: a standby's keep-warm probe leaves the
     * idle one the switch to it must find */
    sc_curl_loop_prepare(&d->up->cl, easy);
    return sc_curl_loop_add(&d->up->cl, easy);
}

void sc_upstream_remove_job(sc_daemon *d, CURL *easy)
{
    if (d->up)
        sc_curl_loop_remove(&d->up->cl, easy);
}

void sc_upstream_resume(sc_daemon *d, sc_client *c)
{
    sc_upstream *up = d->up;
    for (xfer *x = up->active, *next; x && c->paused; x = next) {
        next = x->next;
        if (x->paused && x->req->client == c && !x->req->flow_hold) {
            x->paused = false;
            c->paused--;
            x->t_last_byte = rs__now_ns();   /* the silence was ours */
            /* may deliver the held bytes right here, and pause again */
            curl_easy_pause(x->easy, CURLPAUSE_CONT);
        }
    }
}

void sc_upstream_hold(sc_daemon *d, sc_req *r, bool hold)
{
    (void)d;
    xfer *x = r->xfer;
    sc_client *c = r->client;
    if (r->flow_hold == hold)
        return;
    r->flow_hold = hold;
    if (!x || !x->paused)
        return;   /* held: on_body pauses it at its next data */
    if (hold) {
        c->paused--;   /* it waited for the client's queue; now it is held */
    } else if (c->out_chunk_bytes >= SC_CHUNK_LOW_WATER) {
        c->paused++;   /* released, but the client's queue is still full */
    } else {
        x->paused = false;
        x->t_last_byte = rs__now_ns();
        curl_easy_pause(x->easy, CURLPAUSE_CONT);
    }
}

void sc_upstream_abort(sc_daemon *d, sc_req *r)
{
    xfer *x = r->xfer;
    if (!x)
        return;
    sc_curl_loop_remove(x->on, x->easy);
    r->xfer = NULL;
    recycle(d->up, x);
}

/* The answer's headers for the client, and the request's id when the
 * upstream did not echo one: the id the access log and the upstream's own
 * logs know the request by (built here, for answered attempts only).
 * Names, values and both arrays share one allocation (sidecar.h). */
static void take_headers(sc_completion *cp, CURL *e, const sc_daemon *d, const sc_req *r)
{
    struct curl_header *prev = NULL, *hh;
    uint32_t n = 0;
    size_t bytes = 0;
    bool has_id = false;
    while (n < RS__MAX_HEADERS - 1 && (hh = curl_easy_nextheader(e, CURLH_HEADER, -1, prev)) != NULL) {
        size_t b = strlen(hh->name) + strlen(hh->value) + 2;
        if (bytes + b > MAX_RESP_HEADER_BYTES)
            break;
        bytes += b;
        has_id |= strcasecmp(hh->name, "x-request-id") == 0;
        prev = hh;
        n++;
    }
    char rid[128] = "";
    if (!has_id) {
        sc_req_id(d, r, rid, sizeof rid);
        bytes += sizeof "x-request-id" + strlen(rid) + 1;
    }
    uint32_t slots = n + !has_id;
    char **block = malloc(2 * slots * sizeof(char *) + bytes);
    if (!block)
        return;
    cp->hname = block;
    cp->hvalue = block + slots;
    char *p = (char *)(block + 2 * slots);
    prev = NULL;
    for (uint32_t k = 0; k < n && (hh = curl_easy_nextheader(e, CURLH_HEADER, -1, prev)) != NULL; k++) {
        prev = hh;
        size_t nl = strlen(hh->name) + 1, vl = strlen(hh->value) + 1;
        cp->hname[k] = memcpy(p, hh->name, nl);
        cp->hvalue[k] = memcpy(p + nl, hh->value, vl);
        p += nl + vl;
        cp->nheaders++;
    }
    if (!has_id) {
        cp->hname[cp->nheaders] = memcpy(p, "x-request-id", sizeof "x-request-id");
        p += sizeof "x-request-id";
        cp->hvalue[cp->nheaders++] = memcpy(p, rid, strlen(rid) + 1);
    }
}

/* What the upstream asked us to wait before the next attempt: Retry-After,
 * or (on 429) OpenAI's x-ratelimit-reset-requests / -tokens. */
static uint64_t embargo_of(CURL *e, uint32_t status)
{
    uint64_t wait = 0, v;
    struct curl_header *h;
    if (curl_easy_header(e, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
        sc_parse_retry_after(h->value, (int64_t)time(NULL), &v) == 0)
        wait = v;
    if (status == 429) {
        static const char *const names[] = { "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens" };
        for (unsigned i = 0; i < 2; i++)
            if (curl_easy_header(e, names[i], 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
                sc_parse_reset_duration(h->value, &v) == 0 && v > wait)
                wait = v;
    }
    return wait;
}

/* End an attempt: build the answer it would give, and let admission decide
 * whether it is the request's answer or a reason to retry. `slow`: we cut
 * it off because no real content came within the route's first_content
 * timeout. */
static void complete(sc_upstream *up, xfer *x, CURLcode rc, bool slow)
{
    sc_req *r = x->req;
    sc_route *rt = r->rt;
    uint64_t now = rs__now_ns();
    char msg[CURL_ERROR_SIZE + 160];
    long status = 0;
    bool answered = rc == CURLE_OK && !slow;
    if (answered)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);

    sc_attempt at = { .end = { .transport_ok = answered, .status = (uint32_t)status, .slow = slow } };
    if (x->t_first_content)
        at.first_content_ns = x->t_first_content - x->t_start;
    int32_t err = 0;
    msg[0] = 0;
    if (x->stream && x->chunks > 0 && !answered) {
        /* content already reached the client: never retried */
        err = RS_EINTERRUPTED;
        at.end.delivered = true;
        snprintf(msg, sizeof msg, "stream from route '%s' interrupted after %llu events: %s", rt->cfg.name,
                 (unsigned long long)x->chunks,
                 x->sse_err == RS_E2BIG ? "an event exceeded 1 MiB"
                 : x->sse_err ? "sidecar out of memory forwarding an event"
                 : x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    } else if (slow) {
        err = RS_ECONNUP;
        snprintf(msg, sizeof msg, "route '%s' sent no real content within %llu ms (first_content timeout)",
                 rt->cfg.name, (unsigned long long)(rt->first_content_ns / 1000000u));
    } else if (answered) {
        if (status >= 400) {
            err = RS_EUPSTREAM;
            snprintf(msg, sizeof msg, "route '%s' answered HTTP %ld", rt->cfg.name, status);
        }
        at.end.embargo_ns = embargo_of(x->easy, (uint32_t)status);
        if (status < 400 && !x->stream)
            at.has_usage = sc_body_usage(x->buf, x->len, &at.usage_tokens) == 0;
    } else if (x->too_big) {
        err = RS_E2BIG;
        snprintf(msg, sizeof msg, "upstream response exceeded max_response_bytes (%llu)",
                 (unsigned long long)up->d->cfg.max_response_bytes);
    } else if (rc == CURLE_OPERATION_TIMEDOUT && now >= r->deadline) {
        err = RS_EDEADLINE;
        at.end.deadline_hit = true;
        snprintf(msg, sizeof msg, "deadline passed waiting for route '%s' (%s)", rt->cfg.name, x->errbuf);
    } else {
        err = RS_ECONNUP;
        snprintf(msg, sizeof msg, "route '%s' failed after %zu response bytes: %s (curl %d)", rt->cfg.name,
                 x->len, x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc), (int)rc);
    }
    sc_completion *cp = sc_completion_new(r->id, err, (uint32_t)status, msg);
    if (cp) {
        sc_completion_set_upstream(cp, rt->cfg.name);
        if (x->t_first_byte)
            cp->timings[RS__T_FIRST_BYTE] = (x->t_first_byte - x->t_start) / 1000u;
        if (x->t_first_content)
            cp->timings[RS__T_FIRST_CONTENT] = at.first_content_ns / 1000u;
        if (answered) {
            take_headers(cp, x->easy, up->d, r);
            cp->body = x->buf;      /* hand the buffer over, no copy */
            cp->body_len = x->len;
            x->buf = NULL;
        }
    }
    r->xfer = NULL;
    recycle(up, x);
    up->done(up->d, r, cp, &at, now);
}

/* ---------------------------------------------------------------- setup */

int sc_upstream_init(sc_daemon *d, sc_attempt_done_fn *done)
{
    sc_upstream *up = calloc(1, sizeof *up);
    /* HTTP/2 transfers get a multi handle of their own, capped at
     * MUX_CONNS per host: past a full connection, and while the first
     * one's TLS handshake runs, libcurl 7.88 opens a connection per
     * transfer (thousands of TLS handshakes at 10,000 in flight); with the
     * cap it queues them until a stream is free. HTTP/1.1 needs a
     * connection per transfer in flight, so its handle has no cap. */
    if (!up || sc_curl_loop_init(&up->cl, &d->loop, 0) < 0) {
        free(up);
        return -1;
    }
    if (sc_curl_loop_init(&up->mux, &d->loop, MUX_CONNS) < 0) {
        sc_curl_loop_destroy(&up->cl);
        free(up);
        return -1;
    }
    up->d = d;
    up->done = done;
    up->sweep_at = UINT64_MAX;
    d->up = up;
    return 0;
}

void sc_upstream_destroy(sc_daemon *d)
{
    sc_upstream *up = d->up;
    if (!up)
        return;
    for (unsigned i = 0; i < up->npool; i++)
        curl_easy_cleanup(up->pool[i]);
    sc_curl_loop_destroy(&up->mux);
    sc_curl_loop_destroy(&up->cl);
    free(up);
    d->up = NULL;
}
