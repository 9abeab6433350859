/*
 * routes.h — the upstream routes at run time: each route's endpoint and
 * key, and the health and capacity state that decides whether it may take
 * one more attempt now (circuit breaker, AIMD in-flight cap, its own rate
 * and token buckets, and the embargo an upstream asked for with
 * Retry-After or x-ratelimit-reset-*).
 *
 * Routes are matched by name across configuration reloads, so a reload
 * keeps what each route has learned (breaker state, AIMD limit, buckets).
 * A route removed by a reload is retired: never picked again, and freed
 * once its last attempt has ended.
 */
#ifndef SC_ROUTES_H
#define SC_ROUTES_H

#include "aimd.h"
#include "breaker.h"
#include "bucket.h"
#include "config.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct sc_route {
    sc_route_cfg cfg;
    char *auth;                   /* "Authorization: Bearer …", or NULL */
    bool tls;                     /* https: HTTP/2 may be offered */
    bool retired;
    rsp_breaker breaker;
    rsp_aimd aimd;
    bool has_rps, has_tpm;
    rsp_bucket rps, tpm;
    uint64_t embargo_until;       /* no new attempt before this (monotonic ns) */
    uint64_t rps_due;             /* when the awaited rps token was due */
    uint64_t first_content_ns, idle_ns, connect_ms, total_ms;   /* effective timeouts */
    uint32_t inflight;
    /* of those, streams their reader asked us to hold (FLOW records): they
     * do not count against the concurrency limit, so a reader that has
     * stopped cannot keep every other request off the route */
    uint32_t held;
    struct {
        uint64_t attempts, ok, failed, rate_limited, slow;
    } stats;
} sc_route;

typedef struct sc_routes {
    sc_route *r[2 * SC_MAX_ROUTES];   /* live first, retired ones kept until idle */
    unsigned n;
    uint32_t fail_status[2 * SC_MAX_STATUS];   /* statuses that count as a route failing */
    unsigned n_fail_status;
} sc_routes;

/* Put a configured limit (global, per route, per client) into its buckets:
 * made afresh, or retuned keeping their levels (a reload). tpm may be NULL
 * where only a request rate applies. */
void sc_limit_apply(const sc_limit_cfg *l, bool fresh, uint64_t now, rsp_bucket *rps, bool *has_rps,
                    rsp_bucket *tpm, bool *has_tpm);

/* Build or update the table from cfg. Returns 0, or -1 (out of memory). */
int sc_routes_apply(sc_routes *t, const sc_config *cfg, uint64_t now);
void sc_routes_free(sc_routes *t);
/* Free retired routes that have no attempt in flight. */
void sc_routes_collect(sc_routes *t);

sc_route *sc_routes_find(sc_routes *t, const char *name);

bool sc_routes_is_failure_status(const sc_routes *t, uint32_t status);

/* Why a route cannot take an attempt now (NULL: it can). When it will be
 * able to, if known, is stored in *when (absolute ns, else UINT64_MAX). */
const char *sc_route_blocked(sc_route *r, uint64_t now, double tokens, uint64_t *when);

#endif
