/*
 * frontdoor.c — the OpenAI-compatible HTTP front door (frontdoor.h).
 *
 * libmicrohttpd parses and writes HTTP (keep-alive, chunked transfer, the
 * header size bound, the connection limit, idle timeouts), driven by the
 * loop as the admin listener is (mhd_loop.c). An exchange (one HTTP request) reads its body, becomes a
 * request of its virtual key through door_req.c, and suspends its
 * connection until the answer comes through the key's sink; a stream's
 * events are written as they arrive, the connection suspended whenever
 * there is nothing to write (returning 0 from the content reader would
 * make MHD call it again at once: a busy loop).
 *
 * What libmicrohttpd does not do, done here on a tick (every TICK_MS):
 * - a request head or body that arrives too slowly (slowloris) is answered
 *   408 and its connection closed: a head's first byte is seen in the
 *   socket's TCP_INFO byte count, so a kept-alive connection that sends
 *   nothing is idle (idle_timeout_ms), not slow;
 * - a caller that hangs up while its connection is suspended (MHD does not
 *   watch those) is found by a peek at its socket, and its upstream
 *   transfer cancelled; a stream's caller that hangs up is found by the
 *   next write.
 * A stream whose caller reads slower than the upstream writes holds its
 * transfer (as a FLOW record does for a ring client) above HOLD_BYTES
 * queued, and lets it go on below RESUME_BYTES.
 */
#include "frontdoor.h"

#include "admission.h"
#include "body_json.h"
#include "door_xch.h"
#include "log.h"
#include "outbox.h"
#include "ringside.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <linux/tcp.h>   /* its tcp_info has tcpi_bytes_received, glibc's does not */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define TICK_MS 250
#define LIMIT_QUIET_MS 5000

static const sc_mhd_logger mhd_logger = { "front door", SC_DEBUG };

/* ------------------------------------------------------------ requests */

static enum endpoint endpoint_of(const char *method, const char *url, bool *method_ok)
{
    static const struct { const char *path; enum endpoint ep; bool get; } eps[] = {
        { "/v1/chat/completions", EP_CHAT, false }, { "/v1/completions", EP_COMPLETIONS, false },
        { "/v1/embeddings", EP_EMBEDDINGS, false }, { "/v1/models", EP_MODELS, true },
        { "/api/v1/batch", EP_BATCH, false },
    };
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++)
        if (strcmp(url, eps[i].path) == 0) {
            *method_ok = get == eps[i].get && (get || strcmp(method, MHD_HTTP_METHOD_POST) == 0);
            return eps[i].ep;
        }
    if (strncmp(url, "/api/v1/batch/", 14) == 0 && url[14]) {
        *method_ok = get;
        return EP_BATCH_GET;
    }
    *method_ok = false;
    return EP_NONE;
}

/* x-ringside-priority, -deadline-ms and -route, within what the key allows.
 * NULL, or what is wrong (for a 400). */
static const char *read_headers(xch *x, struct MHD_Connection *conn, char *buf, size_t len)
{
    const sc_vkey_cfg *k = &x->key->cfg;
    x->priority = x->ep == EP_BATCH ? x->door->d->cfg.door.batch_priority : k->priority;
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-ringside-priority");
    if (v) {
        const char *p = (v[0] == 'P' || v[0] == 'p') ? v + 1 : v;
        if (!(p[0] >= '0' && p[0] <= '2' && !p[1])) {
            snprintf(buf, len, "x-ringside-priority: 0, 1 or 2 (or P0-P2), got '%.40s'", v);
            return buf;
        }
        x->priority = (uint32_t)(p[0] - '0');
    }
    if (x->priority < k->max_priority)   /* asked above what the key may: capped */
        x->priority = k->max_priority;
    v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-ringside-deadline-ms");
    if (v) {
        char *end;
        unsigned long ms = strtoul(v, &end, 10);
        if (!*v || *end || v[0] == '-' || ms < 1 || ms > 3600000) {
            snprintf(buf, len, "x-ringside-deadline-ms: 1 to 3600000, got '%.40s'", v);
            return buf;
        }
        x->timeout_ms = (uint32_t)ms;
    }
    v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-ringside-route");
    if (v && snprintf(x->route, sizeof x->route, "%s", v) >= (int)sizeof x->route) {
        snprintf(buf, len, "x-ringside-route: no route has a name that long");
        return buf;
    }
    v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-request-id");
    if (v)
        snprintf(x->request_id, sizeof x->request_id, "%s", v);
    return NULL;
}

static enum MHD_Result submit(xch *x)
{
    sc_door *door = x->door;
    sc_daemon *d = door->d;
    sc_body_req scan;
    sc_body_scan_request(x->body, x->len, &scan);
    bool get = x->ep == EP_MODELS;
    if (!get && !scan.object)
        return door_refuse(x, 400, "invalid_request_error", "bad_json", "the body must be one JSON object");
    x->stream = !get && scan.stream;
    static const char *const paths[] = { [EP_CHAT] = "/v1/chat/completions", [EP_COMPLETIONS] = "/v1/completions",
                                         [EP_EMBEDDINGS] = "/v1/embeddings", [EP_MODELS] = "/v1/models" };
    door_call call = {
        .key = x->key, .method = get ? "GET" : "POST", .path = paths[x->ep], .route = x->route,
        .request_id = x->request_id[0] ? x->request_id : NULL, .priority = x->priority,
        .timeout_ms = x->timeout_ms, .stream = x->stream, .body = x->body, .len = x->len, .scan = &scan,
    };
    x->origin.answer = door_on_answer;
    x->origin.chunk = door_on_chunk;
    door_http why;
    call.req = &x->r;
    door->open++;
    if (sc_door_submit(d, &call, &x->origin, d->now, &why) < 0) {
        door->open--;
        return door_send_refusal(x, &why);   /* the body stays x's, freed with it */
    }
    x->body = NULL;
    if (x->cp)   /* answered at once (refused by admission, the echo route) */
        return door_send_answer(x);
    x->suspended = true;
    MHD_suspend_connection(x->conn);
    return MHD_YES;
}

/* The answer (or first event) is in: the connection was resumed for it. */
static enum MHD_Result respond(xch *x)
{
    if (x->caller_gone)
        return MHD_NO;   /* MHD closes the connection; on_completed cancels the request */
    if (x->batch) {   /* a synchronous batch has ended */
        size_t len = 0;
        char *json = sc_batch_json(x->batch, true, &len);
        sc_batch_detach(&x->door->batches, x->batch);
        x->batch = NULL;
        return door_send_json(x, MHD_HTTP_OK, json, len, 0);
    }
    if (x->stream && (x->out_len > x->out_off || (x->cp && x->cp->error == RS_EINTERRUPTED)))
        return door_start_stream(x);
    if (x->cp)
        return door_send_answer(x);
    x->suspended = true;   /* resumed with nothing for it (the tick's peek found it alive) */
    MHD_suspend_connection(x->conn);
    return MHD_YES;
}

static xch *xch_new(sc_door *door, struct MHD_Connection *conn)
{
    xch *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->door = door;
    x->conn = conn;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    x->dc = ci ? ci->socket_context : NULL;
    if (x->dc) {
        x->dc->in_request = true;
        x->dc->x = x;
    }
    x->next = door->xchs;
    if (door->xchs)
        door->xchs->prev = x;
    door->xchs = x;
    return x;
}

static enum MHD_Result first_call(sc_door *door, xch *x, const char *method, const char *url)
{
    sc_daemon *d = door->d;
    struct MHD_Connection *conn = x->conn;
    bool method_ok;
    x->ep = endpoint_of(method, url, &method_ok);
    if (x->ep == EP_NONE)
        return door_refuse(x, 404, "invalid_request_error", "unknown_url",
                      "no endpoint %s here: /v1/chat/completions, /v1/completions, /v1/embeddings, "
                      "/v1/models, /api/v1/batch", url);
    if (!method_ok)
        return door_refuse(x, 405, "invalid_request_error", "method_not_allowed", "%s does not take %s", url, method);
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    x->key = sc_vkeys_find(&door->keys, &d->cfg, auth);
    if (!x->key) {
        door->unauthorized++;
        return door_refuse(x, 401, "invalid_request_error", "invalid_api_key",
                      auth ? "the bearer token is not a virtual key of this sidecar"
                           : "no Authorization: Bearer <virtual key> (front_door.keys; anonymous access is off)");
    }
    char why[160];
    if (read_headers(x, conn, why, sizeof why))
        return door_refuse(x, 400, "invalid_request_error", "bad_header", "%s", why);
    if (x->ep == EP_BATCH_GET)
        snprintf(x->batch_id, sizeof x->batch_id, "%s", url + 14);
    if (x->ep == EP_BATCH) {
        const char *a = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "async");
        x->batch_async = a && strcmp(a, "0") != 0 && strcmp(a, "false") != 0;
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > d->cfg.door.max_body_bytes)
        return door_refuse(x, 413, "invalid_request_error", "body_too_large",
                      "body of %s bytes is over front_door.max_body_bytes (%llu)", cl,
                      (unsigned long long)d->cfg.door.max_body_bytes);
    x->body_from = d->now;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
    (void)version;
    sc_door *door = cls;
    sc_daemon *d = door->d;
    xch *x = *con_cls;
    if (!x) {
        if (!(x = xch_new(door, conn)))
            return MHD_NO;
        *con_cls = x;
        return first_call(door, x, method, url);
    }
    if (x->queued) {   /* refused before the body was read: drop what arrives */
        *upload_len = 0;
        return MHD_YES;
    }
    if (*upload_len) {
        size_t n = *upload_len;
        *upload_len = 0;
        if (x->len + n > d->cfg.door.max_body_bytes) {
            free(x->body);
            x->body = NULL;
            return door_refuse(x, 413, "invalid_request_error", "body_too_large",
                          "body over front_door.max_body_bytes (%llu)", (unsigned long long)d->cfg.door.max_body_bytes);
        }
        if (x->len + n > x->cap) {
            size_t cap = x->cap ? x->cap : 4096;
            while (cap < x->len + n)
                cap *= 2;
            uint8_t *p = realloc(x->body, cap);
            if (!p)
                return door_refuse(x, 503, "server_error", "out_of_memory", "sidecar out of memory for the body");
            x->body = p;
            x->cap = cap;
        }
        memcpy(x->body + x->len, upload, n);
        x->len += n;
        return MHD_YES;
    }
    if (x->started)
        return respond(x);
    x->started = true;
    if (x->dc)
        x->dc->in_request = false, x->body_from = 0;   /* the tick's slow-client checks end here */
    switch (x->ep) {
    case EP_BATCH: {
        door_http why;
        sc_batch *b = sc_batch_start(&door->batches, d, x->key, x->body, x->len, x->priority, x->timeout_ms,
                                     x->batch_async, door_batch_done, x, &why);
        x->body = NULL;   /* the batch's, whatever came of it */
        if (!b)
            return door_send_refusal(x, &why);
        if (x->batch_async) {
            size_t len = 0;
            char *json = sc_batch_json(b, false, &len);
            return door_send_json(x, MHD_HTTP_ACCEPTED, json, len, 0);
        }
        x->batch = b;
        if (sc_batch_done(b))
            return respond(x);
        x->suspended = true;
        MHD_suspend_connection(conn);
        return MHD_YES;
    }
    case EP_BATCH_GET: {
        sc_batch *b = sc_batch_find(&door->batches, x->key, x->batch_id);
        if (!b)
            return door_refuse(x, 404, "invalid_request_error", "batch_not_found",
                          "no batch %s of key '%s' (ended more than batch.keep_ms ago?)", x->batch_id,
                          x->key->cfg.name);
        size_t len = 0;
        char *json = sc_batch_json(b, true, &len);
        return door_send_json(x, MHD_HTTP_OK, json, len, 0);
    }
    default:
        return submit(x);
    }
}

/* The exchange is over (answered, or its connection gone). */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode why)
{
    (void)conn;
    sc_door *door = cls;
    xch *x = *con_cls;
    if (!x)
        return;
    *con_cls = NULL;
    if (x->dc) {
        x->dc->x = NULL;
        x->dc->in_request = false;
        /* a Unix socket has no byte count: its next head's clock starts now */
        x->dc->head_from = x->dc->tcp ? 0 : door->d->now;
        struct tcp_info ti;
        socklen_t tl = sizeof ti;
        if (x->dc->tcp && getsockopt(x->dc->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0)
            x->dc->bytes_mark = ti.tcpi_bytes_received;
    }
    if (x->prev)
        x->prev->next = x->next;
    else
        door->xchs = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->conn = NULL;
    if (x->batch)   /* a synchronous batch's caller gone: its open items are cancelled */
        sc_batch_detach(&door->batches, x->batch);
    bool gone = why != MHD_REQUEST_TERMINATED_COMPLETED_OK;
    free(x->body);
    free(x->out);
    x->body = NULL;
    x->out = NULL;
    sc_completion_free(x->cp);
    x->cp = NULL;
    if (x->r) {
        /* the caller hung up before its answer: cancel the upstream transfer
         * (sc_req_finish comes back through door_on_answer, which frees x) */
        sc_req *r = x->r;
        if (x->key && !x->queued)   /* (a stream's 200 is counted already) */
            sc_vkey_count(x->key, 499);
        if (x->key)
            x->key->aborted++;
        sc_admission_forget(door->d, r);
        sc_req_finish(r, sc_completion_new(r->id, RS_ECANCELLED, 0, "the caller closed its connection"),
                      door->d->now);
        return;
    }
    if (gone && x->key && x->streaming)
        x->key->aborted++;
    free(x);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    sc_door *door = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        door_conn *dc = calloc(1, sizeof *dc);
        if (!dc)
            return;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        dc->fd = ci ? ci->connect_fd : -1;
        struct tcp_info ti;
        socklen_t tl = sizeof ti;
        dc->tcp = dc->fd >= 0 && getsockopt(dc->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0;
        if (!dc->tcp)   /* a Unix socket: its head counts from the connection's start */
            dc->head_from = door->d->now ? door->d->now : 1;
        dc->next = door->conns;
        if (door->conns)
            door->conns->prev = dc;
        door->conns = dc;
        door->nconns++;
        door->connections_total++;
        *socket_context = dc;
    } else if (*socket_context) {
        door_conn *dc = *socket_context;
        if (dc->prev)
            dc->prev->next = dc->next;
        else
            door->conns = dc->next;
        if (dc->next)
            dc->next->prev = dc->prev;
        door->nconns--;
        /* at max_connections MHD took its listening socket out of its
         * epoll set: run it again so that it takes it back */
        sc_mhd_wake(&door->m);
        if (dc->x)
            dc->x->dc = NULL;
        free(dc);
        *socket_context = NULL;
    }
}

/* --------------------------------------------------------------- tick */

/* Answer 408 on the socket itself and close it: libmicrohttpd has not
 * written anything on it yet (the request is not whole). */
static void too_slow(sc_door *door, door_conn *dc, const char *what, uint32_t ms)
{
    char body[200], msg[400];
    int bl = snprintf(body, sizeof body,
                      "{\"error\":{\"message\":\"%s not received within %u ms\",\"type\":\"invalid_request_error\","
                      "\"param\":null,\"code\":\"request_timeout\"}}\n", what, ms);
    int ml = snprintf(msg, sizeof msg, "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                      "Connection: close\r\nContent-Length: %d\r\n\r\n%s", bl, body);
    ssize_t w = send(dc->fd, msg, (size_t)ml, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w;
    shutdown(dc->fd, SHUT_RDWR);   /* libmicrohttpd sees the end and closes it */
    door->slow_closed++;
    dc->head_from = 0;
    if (dc->x && dc->x->key)
        sc_vkey_count(dc->x->key, 408);
}

static void tick(sc_door *door, uint64_t now)
{
    const sc_front_door_cfg *cfg = &door->d->cfg.door;
    for (door_conn *dc = door->conns; dc; dc = dc->next) {
        xch *x = dc->x;
        if (x && !x->started && x->body_from && now - x->body_from > sc_ms(cfg->body_timeout_ms)) {
            x->body_from = 0;
            too_slow(door, dc, "request body", cfg->body_timeout_ms);
            continue;
        }
        if (dc->in_request || dc->x)
            continue;
        if (dc->tcp && !dc->head_from) {
            struct tcp_info ti;
            socklen_t tl = sizeof ti;
            if (getsockopt(dc->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 && ti.tcpi_bytes_received > dc->bytes_mark)
                dc->head_from = now;
        }
        if (dc->head_from && now - dc->head_from > sc_ms(cfg->header_timeout_ms))
            too_slow(door, dc, "request head", cfg->header_timeout_ms);
    }
    /* callers waiting on a suspended connection: still there? */
    for (xch *x = door->xchs; x; x = x->next) {
        if (!x->suspended || !x->dc)
            continue;
        char b;
        ssize_t n = recv(x->dc->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            x->caller_gone = true;
            door_wake(x);   /* MHD then finds the end and completes the exchange */
        }
    }
    /* a key's limits refusing its callers is an episode on the timeline:
     * from the first refusal to LIMIT_QUIET_MS without one */
    for (sc_vkey *k = door->keys.head; k; k = k->next) {
        if (!k->limited && k->limited_last && now - k->limited_last < sc_ms(TICK_MS)) {
            k->limited = true;
            k->limited_from = k->refused_limit;
            sc_timeline_add(&door->d->timeline, false, "key_limited", "",
                            "front door: key '%s' over its own limits; its callers get 429", k->cfg.name);
        } else if (k->limited && now - k->limited_last > sc_ms(LIMIT_QUIET_MS)) {
            k->limited = false;
            sc_timeline_add(&door->d->timeline, false, "key_limit_ok", "",
                            "front door: key '%s' within its limits again (%llu requests refused)",
                            k->cfg.name, (unsigned long long)(k->refused_limit - k->limited_from + 1));
        }
    }
    sc_vkeys_sweep(&door->keys);
    sc_batches_tick(&door->batches, now);
}

/* -------------------------------------------------------- on the loop */

/* MHD first: stopping it completes its exchanges (on_completed), which
 * still use the batches and keys. */
static void release(sc_mhd *m)
{
    sc_door *door = container_of(m, sc_door, m);
    sc_batches_destroy(&door->batches);
    sc_vkeys_destroy(&door->keys);
    free(door);
}

uint64_t sc_door_due(const sc_daemon *d)
{
    const sc_door *door = d->door;
    if (!door)
        return UINT64_MAX;
    if (door->batches.pump_due)
        return 0;
    return door->m.due < door->tick_at ? door->m.due : door->tick_at;
}

void sc_door_on_time(sc_daemon *d, uint64_t now)
{
    sc_door *door = d->door;
    if (!door)
        return;
    if (now >= door->tick_at) {
        door->tick_at = now + sc_ms(TICK_MS);
        tick(door, now);
    } else if (door->batches.pump_due) {
        sc_batches_tick(&door->batches, now);
    }
    sc_mhd_on_time(&door->m, now);
}

uint64_t sc_door_open(const sc_daemon *d)
{
    return d->door ? d->door->open + sc_batches_open(&d->door->batches) : 0;
}

unsigned sc_door_abort(sc_daemon *d)
{
    unsigned n = 0;
    if (!d->door)
        return 0;
    for (sc_vkey *k = d->door->keys.head; k; k = k->next)
        while (k->c.inflight) {
            sc_req *r = k->c.inflight;
            sc_admission_forget(d, r);
            sc_req_finish(r, sc_completion_new(r->id, RS_ESHUTDOWN, 0,
                                               "sidecar shut down before the upstream answered (grace period over)"),
                          d->now);
            n++;
        }
    return n;
}

/* ------------------------------------------------------------- life */

static int listen_unix(const char *path, const sc_config *cfg)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        sc_error("front_door.listen: unix path longer than %zu bytes", sizeof sa.sun_path - 1);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    unlink(path);   /* a stale file of an earlier run */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, cfg->socket_mode) < 0 || listen(fd, 512) < 0) {
        sc_error("front_door.listen: unix:%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int sc_door_start(sc_daemon *d)
{
    const sc_front_door_cfg *cfg = &d->cfg.door;
    const char *spec = cfg->listen;
    if (strcmp(spec, "off") == 0)
        return 0;
    sc_door *door = calloc(1, sizeof *door);
    if (!door) {
        sc_error("out of memory starting the front door");
        return -1;
    }
    door->d = d;
    door->tick_at = d->now + sc_ms(TICK_MS);
    if (sc_vkeys_apply(d, &door->keys, &sc_door_sink, d->now) < 0) {
        sc_vkeys_destroy(&door->keys);
        free(door);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sslen;
    int lfd = -1;
    bool unix_sock = strncmp(spec, "unix:", 5) == 0;
    if (unix_sock) {
        if ((lfd = listen_unix(spec + 5, &d->cfg)) < 0)
            goto fail;
        snprintf(door->unix_path, sizeof door->unix_path, "%s", spec + 5);
    } else if (sc_parse_hostport(spec, &ss, &sslen) < 0) {
        sc_error("front_door.listen: '%s' is not HOST:PORT with a numeric host (e.g. 127.0.0.1:8080), "
                 "unix:PATH, or 'off'", spec);
        goto fail;
    }
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (!unix_sock && ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    /* the head must fit the connection's memory with room for the answer's headers */
    size_t mem = (size_t)cfg->max_header_bytes + 16384;
    unsigned idle_s = (cfg->idle_timeout_ms + 999) / 1000;
    door->m.mhd = unix_sock
        ? MHD_start_daemon(flags, 0, NULL, NULL, on_request, door, MHD_OPTION_EXTERNAL_LOGGER, sc_mhd_log, &mhd_logger,
                           MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
                           MHD_OPTION_CONNECTION_TIMEOUT, idle_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
                           MHD_OPTION_NOTIFY_COMPLETED, on_completed, door, MHD_OPTION_NOTIFY_CONNECTION,
                           on_connection, door, MHD_OPTION_END)
        : MHD_start_daemon(flags, 0, NULL, NULL, on_request, door, MHD_OPTION_EXTERNAL_LOGGER, sc_mhd_log, &mhd_logger,
                           MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                           cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
                           MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                           door, MHD_OPTION_NOTIFY_CONNECTION, on_connection, door, MHD_OPTION_END);
    if (!door->m.mhd) {
        if (lfd >= 0)
            close(lfd);
        if (cfg->listen_default) {
            sc_warn("front door off: cannot listen on %s (another sidecar on this host?); "
                    "set front_door.listen (--front-door-listen) to another address, or 'off'", spec);
            sc_vkeys_destroy(&door->keys);
            free(door);
            return 0;
        }
        sc_error("front_door.listen: cannot listen on %s", spec);
        goto fail;
    }
    if (unix_sock) {
        snprintf(door->where, sizeof door->where, "%s", spec);
    } else {
        const union MHD_DaemonInfo *port = MHD_get_daemon_info(door->m.mhd, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(door->where, sizeof door->where, "http://%.*s:%u", (int)(strrchr(spec, ':') - spec), spec,
                 port ? (unsigned)port->port : 0u);
    }
    d->door = door;
    sc_mhd_begin(&door->m, &d->loop, release);
    unsigned nkeys = 0;
    for (sc_vkey *k = door->keys.head; k; k = k->next)
        nkeys += !k->anonymous;
    sc_timeline_add(&d->timeline, false, "front_door", "",
                    "front door listening on %s (OpenAI-compatible: /v1/chat/completions; %u virtual key%s%s)",
                    door->where, nkeys, nkeys == 1 ? "" : "s", cfg->anonymous ? ", anonymous callers let in" : "");
    return 0;
fail:
    sc_vkeys_destroy(&door->keys);
    free(door);
    return -1;
}

int sc_door_reload(sc_daemon *d, uint64_t now)
{
    return d->door ? sc_vkeys_apply(d, &d->door->keys, &sc_door_sink, now) : 0;
}

void sc_door_stop(sc_daemon *d)
{
    sc_door *door = d->door;
    if (!door)
        return;
    d->door = NULL;
    /* MHD may not be stopped with a connection suspended: resume them all
     * (the requests still open were answered by the drain) */
    for (xch *x = door->xchs; x; x = x->next)
        if (x->suspended) {
            x->suspended = false;
            MHD_resume_connection(x->conn);
        }
    if (door->unix_path[0])
        unlink(door->unix_path);
    sc_mhd_stop(&door->m);
}

void sc_door_metrics(const sc_daemon *d, sc_text *t)
{
    const sc_door *door = d->door;
    if (!door)
        return;
    sc_vkeys_metrics(&door->keys, t);
    sc_text_printf(t, "# HELP ringside_frontdoor_unauthorized_total Front-door requests without a known key.\n"
                      "# TYPE ringside_frontdoor_unauthorized_total counter\n"
                      "ringside_frontdoor_unauthorized_total %llu\n"
                      "# HELP ringside_frontdoor_slow_closed_total Connections closed with 408 for a slow head or body.\n"
                      "# TYPE ringside_frontdoor_slow_closed_total counter\n"
                      "ringside_frontdoor_slow_closed_total %llu\n"
                      "# HELP ringside_frontdoor_connections Front-door connections open.\n"
                      "# TYPE ringside_frontdoor_connections gauge\n"
                      "ringside_frontdoor_connections %u\n"
                      "# HELP ringside_frontdoor_connections_total Front-door connections accepted.\n"
                      "# TYPE ringside_frontdoor_connections_total counter\n"
                      "ringside_frontdoor_connections_total %llu\n",
                   (unsigned long long)door->unauthorized, (unsigned long long)door->slow_closed, door->nconns,
                   (unsigned long long)door->connections_total);
}
