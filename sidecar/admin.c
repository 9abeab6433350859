/*
 * admin.c — the admin HTTP listener (metrics, health, status), served by
 * libmicrohttpd from the sidecar's own loop.
 *
 * libmicrohttpd runs without a thread of its own, driven by the loop
 * (mhd_loop.c): it never blocks the loop. Pages
 * are built whole in memory by their handler (a few KB) and handed to
 * libmicrohttpd to send. Connections are bounded in number, memory and
 * idle time, so scrapers and stray clients cannot pile up.
 *
 * The address: admin.listen (default 127.0.0.1:9464; "off" disables). When
 * the default is taken (another sidecar on the host) the listener is left
 * off with a warning; an address given explicitly must work, or the start
 * fails.
 */
#include "admin.h"

#include "emergency.h"
#include "frontdoor.h"
#include "log.h"
#include "mhd_loop.h"
#include "metrics.h"
#include "routes.h"
#include "status.h"
#include "status_page.h"
#include "text.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct sc_admin {
    sc_mhd m;            /* libmicrohttpd on the loop */
    sc_daemon *d;
    char where[80];      /* host:port actually bound */
};

static const sc_mhd_logger mhd_logger = { "admin listener", SC_WARN };

/* --------------------------------------------------------------- pages */

static enum MHD_Result send_page(struct MHD_Connection *conn, unsigned status, const char *type, char *body,
                                 size_t len)
{
    if (!body)
        return MHD_NO;   /* out of memory: libmicrohttpd closes the connection */
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MHD_NO;
    size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    char *body = malloc(len + 1);
    if (body)
        memcpy(body, buf, len + 1);
    return send_page(conn, status, "text/plain; charset=utf-8", body, len);
}

/* Ready: running (not draining) and at least one route can take a
 * request now — a breaker not open, or the panic rule letting it in. */
static const char *not_ready(sc_daemon *d, uint64_t now)
{
    if (d->state != SC_RUNNING)
        return "draining: the sidecar is stopping";
    sc_breaker_count c = sc_routes_breakers(&d->adm.routes, now, 0);
    if (c.routes && c.open == c.routes)
        return "every route's circuit breaker is open";
    return NULL;
}

/* Changes (POST) only from this host: the listener may be opened to the
 * pod network for scraping, and a scraper must not be able to reload. */
static bool from_loopback(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa && sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a6) ||
               (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
    }
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
    (void)version;
    (void)upload;
    sc_admin *a = cls;
    sc_daemon *d = a->d;
    /* a body (which no page takes) is read and dropped before answering */
    if (!*con_cls) {
        *con_cls = a;
        return MHD_YES;
    }
    if (*upload_len) {
        *upload_len = 0;
        return MHD_YES;
    }
    uint64_t now = rs__now_ns();
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (get && strcmp(url, "/metrics") == 0) {
        sc_text t = { 0 };
        sc_metrics_page(d, now, &t);
        sc_door_metrics(d, &t);
        size_t len = 0;
        char *page = sc_text_take(&t, &len);
        return send_page(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", page, len);
    }
    if (get && strcmp(url, "/api/status") == 0) {
        size_t len = 0;
        char *doc = sc_status_json(d, now, &len);
        return send_page(conn, MHD_HTTP_OK, "application/json", doc, len);
    }
    if (get && strcmp(url, "/status") == 0) {
        size_t len = 0;
        char *page = sc_status_page(&len);
        return send_page(conn, MHD_HTTP_OK, "text/html; charset=utf-8", page, len);
    }
    if (get && strcmp(url, "/events") == 0) {
        const char *since = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since");
        char *end = NULL;
        unsigned long long ms = since ? strtoull(since, &end, 10) : 0;
        if (since && (!*since || *end))
            return send_text(conn, MHD_HTTP_BAD_REQUEST, "since: Unix milliseconds, got '%s'\n", since);
        sc_text t = { 0 };
        sc_timeline_json(&d->timeline, ms, &t);
        size_t len = 0;
        char *doc = sc_text_take(&t, &len);
        return send_page(conn, MHD_HTTP_OK, "application/json", doc, len);
    }
    if (get && strcmp(url, "/healthz") == 0)
        return send_text(conn, MHD_HTTP_OK, "ok\n");
    if (get && strcmp(url, "/readyz") == 0) {
        const char *why = not_ready(d, now);
        return why ? send_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready: %s\n", why)
                   : send_text(conn, MHD_HTTP_OK, "ready\n");
    }
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (post && strncmp(url, "/admin/", 7) == 0 && !from_loopback(conn))
        return send_text(conn, MHD_HTTP_FORBIDDEN, "%s: only from this host (a loopback address)\n", url);
    if (post && strcmp(url, "/admin/reload") == 0) {
        d->reload_asked = true;   /* the loop reloads after this turn, as on SIGHUP */
        return send_text(conn, MHD_HTTP_ACCEPTED, "reload asked: see /events for its outcome\n");
    }
    if (post && strcmp(url, "/admin/emergency") == 0) {
        const char *state = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state");
        if (!state || (strcmp(state, "on") != 0 && strcmp(state, "off") != 0))
            return send_text(conn, MHD_HTTP_BAD_REQUEST, "/admin/emergency?state=on or ?state=off\n");
        sc_emergency_set(d, strcmp(state, "on") == 0, now);
        return send_text(conn, MHD_HTTP_OK, "emergency mode %s\n", d->adm.emergency ? "on" : "off");
    }
    if (get)
        return send_text(conn, MHD_HTTP_NOT_FOUND,
                         "no page %s here: try /status, /metrics, /healthz, /readyz, /api/status, /events\n", url);
    return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s: not a method this listener takes\n", method,
                     url);
}

/* ------------------------------------------------------- on the loop */

void sc_admin_on_time(sc_daemon *d, uint64_t now)
{
    if (d->admin)
        sc_mhd_on_time(&d->admin->m, now);
}

uint64_t sc_admin_due(const sc_daemon *d)
{
    return d->admin ? d->admin->m.due : UINT64_MAX;
}

/* ------------------------------------------------------------ life */

static void release(sc_mhd *m)
{
    free(container_of(m, sc_admin, m));
}

int sc_admin_start(sc_daemon *d)
{
    const char *spec = d->cfg.admin_listen;
    if (strcmp(spec, "off") == 0)
        return 0;
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (sc_parse_hostport(spec, &ss, &sslen) < 0) {
        sc_error("admin.listen: '%s' is not HOST:PORT with a numeric host (e.g. 127.0.0.1:9464), or 'off'", spec);
        return -1;
    }
    sc_admin *a = calloc(1, sizeof *a);
    if (!a) {
        sc_error("out of memory starting the admin listener");
        return -1;
    }
    a->d = d;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    a->m.mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, a,
                              MHD_OPTION_EXTERNAL_LOGGER, sc_mhd_log, &mhd_logger,   /* first: it covers the rest */
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
                              MHD_OPTION_END);
    if (!a->m.mhd) {
        free(a);
        if (d->cfg.admin_listen_default) {
            sc_warn("admin listener off: cannot listen on %s (another sidecar on this host?); "
                    "set admin.listen (--admin-listen) to another address, or 'off'", spec);
            return 0;
        }
        sc_error("admin.listen: cannot listen on %s (see above)", spec);
        return -1;
    }
    const union MHD_DaemonInfo *port = MHD_get_daemon_info(a->m.mhd, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(a->where, sizeof a->where, "%.*s:%u", (int)(strrchr(spec, ':') - spec), spec,
             port ? (unsigned)port->port : 0u);
    d->admin = a;
    sc_mhd_begin(&a->m, &d->loop, release);
    sc_info("admin listener on http://%s (/status, /metrics, /healthz, /readyz, /api/status, /events)", a->where);
    return 0;
}

void sc_admin_stop(sc_daemon *d)
{
    sc_admin *a = d->admin;
    if (!a)
        return;
    d->admin = NULL;
    sc_mhd_stop(&a->m);
}
