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
#include "latency.h"

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
    /* no new attempt of priority p before embargo_until[p] (monotonic ns):
     * a Retry-After bars the class that provoked it and those below */
    uint64_t embargo_until[3];
    rsp_latency latency;          /* mean time to first content (the seed's rule) */
    uint64_t rps_due;             /* when the awaited rps token was due */
    uint64_t first_content_ns, idle_ns, connect_ms, total_ms;   /* effective timeouts */
    double p0_share;              /* priorities.p0_reserved */
    uint32_t inflight[3];         /* attempts at the upstream, by priority class */
    /* of those, streams their reader asked us to hold (FLOW records): they
     * do not count against the concurrency limit, so a reader that has
     * stopped cannot keep every other request off the route */
    uint32_t held[3];
    struct {
        uint64_t attempts, ok, failed, rate_limited, slow;
    } stats;
    unsigned obs_slot;            /* its counters in sc_daemon.obs; 0 until its first attempt */
    struct {                      /* watch.c: the state its last look saw */
        uint8_t breaker;
        bool embargo, slow;
        uint64_t opened, half_opened, closed;   /* the breaker's transition counters */
    } seen;
    struct {                      /* emergency.c: a standby's keep-warm probe */
        uint64_t next;            /* when the next one goes */
        bool inflight;
        int8_t up;                /* -1 unknown, 0 down, 1 answering */
    } warm;
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

/* Attempts in flight on r, of every class; and those of them not held
 * (what counts against its concurrency limit). */
uint32_t sc_route_inflight(const sc_route *r);
uint32_t sc_route_busy(const sc_route *r);

/* The share of the live routes' learned capacity in use: attempts in
 * flight (not held) over their concurrency limits summed, 0 with no limit
 * (what to scale on: metrics' ringside_saturation, the saturation alert). */
double sc_routes_saturation(const sc_routes *t);

/* The live routes' breakers at now: how many routes were counted, how
 * many of them are open, how many closed. SC_BREAKERS_WEIGHTED leaves out
 * routes of weight 0, SC_BREAKERS_PRIMARY the standby ones. What "no
 * route is closed" (the routes_out alert), "every primary is open" or
 * "every primary is closed" (emergency mode), "every route is open"
 * (/readyz) mean is then the caller's question on these counts. */
enum { SC_BREAKERS_WEIGHTED = 1, SC_BREAKERS_PRIMARY = 2 };
typedef struct sc_breaker_count {
    unsigned routes, open, closed;
} sc_breaker_count;
sc_breaker_count sc_routes_breakers(const sc_routes *t, uint64_t now, unsigned which);

/* Does r's concurrency limit leave room for one more attempt of priority
 * prio? The limit (AIMD) is split so that P1/P2 can never take P0's
 * reserve (rsp_sched_p12_room, at least one slot), and only P1/P2 probe
 * above the level known to hold: P0 goes up to that level, counting the
 * P1/P2 attempts within their share (one of theirs in a probe slot above
 * it is theirs alone). So when a probe finds the upstream full, the
 * refusal falls on P1/P2, not on P0. */
bool sc_route_has_room(const sc_route *r, unsigned prio);

/* Why a route cannot take an attempt of priority prio now (NULL: it can).
 * When it will be able to, if known, is stored in *when (absolute ns, else
 * UINT64_MAX). panic: its breaker does not count (every route is out). */
const char *sc_route_blocked(sc_route *r, uint64_t now, double tokens, unsigned prio, bool panic,
                             uint64_t *when);

#endif
