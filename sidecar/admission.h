/*
 * admission.h — traffic control: what happens to an upstream request
 * between intake and its terminal completion.
 *
 *   client limit ─► priority queue ─► global limits ─► route choice ─► attempt
 *    (throttled)       (P0/P1/P2,       (rps, tpm)      (breaker, AIMD,
 *                       deadlines)                        route rps/tpm,
 *                                                         Retry-After)
 *   attempt outcome ─► success: complete
 *                   └► retryable: backoff (or another healthy route now),
 *                                 within attempts, retry budget, deadline
 *
 * A request that finds no token or no capacity waits in its queue; it is
 * never failed for that. What does fail it is named: its deadline
 * (RS_EDEADLINE), a full queue (RS_EQUEUEFULL), shedding (RS_ESHED), or the
 * upstream's own answer once retrying is over.
 *
 * Policies are the pure modules of sidecar/policy (sched, bucket, aimd,
 * breaker, router, backoff, retry_budget, tokens, outcome); this file only
 * composes them and owns no clock: `now` is passed in by the loop.
 */
#ifndef SC_ADMISSION_H
#define SC_ADMISSION_H

#include "backoff.h"
#include "bucket.h"
#include "retry_budget.h"
#include "routes.h"
#include "scheduler.h"
#include "heap.h"
#include "window.h"

#include <stdbool.h>
#include <stdint.h>

struct sc_daemon;
struct sc_req;
struct sc_completion;
struct sc_attempt;

typedef struct sc_admission {
    rsp_sched sched;
    sc_routes routes;
    bool has_rps, has_tpm;
    rsp_bucket rps, tpm;               /* global */
    uint64_t rps_due;                 /* when the awaited rps token was due */
    /* one per priority class: P2's retries cannot spend P0's */
    rsp_retry_budget budget[3];
    rsp_backoff_cfg backoff;
    rsp_heap retries;                 /* requests waiting out a backoff */
    uint32_t inflight;                /* attempts at upstreams */
    double tokens_in_flight;          /* their token estimates (prompt + max_tokens) */
    uint64_t rng;
    uint64_t wake_at;                 /* when pump() has something to do again; 0 = this
                                         turn (admitted, capacity freed, reloaded) */
    rsp_window ended;                 /* for shedding: requests that ended at the
                                         upstream (a), those it refused (b) */
    unsigned panic;                   /* routes let in despite their breaker (logged on change) */
    unsigned echo_slot;               /* the echo route's counters (obs.h); 0 until used */
    /* emergency mode, set by emergency.c: shed em_shed_fraction of P1/P2
     * (exactly: a running sum, not a coin), and with to_standby send the
     * rest to the standby routes only */
    bool emergency, to_standby;
    double em_owed;
    struct {
        uint64_t admitted, queue_full, shed, expired, retries, budget_denied;
    } stats;
} sc_admission;

int sc_admission_init(struct sc_daemon *d, uint64_t now);
/* Apply new limits and routes (SIGHUP); queued and in-flight requests stay. */
int sc_admission_apply(struct sc_daemon *d, uint64_t now);
void sc_admission_destroy(struct sc_daemon *d);

/* An accepted request (its body whole) enters: refused, or answered here
 * (the "echo" route, an unknown route, a sidecar shutting down), or taken
 * into traffic control for its upstream route. */
void sc_admit(struct sc_daemon *d, struct sc_req *r, uint64_t now);
/* Take a request out of wherever it waits (queue, backoff, client hold,
 * upstream transfer) without completing it: the client is gone. */
void sc_admission_forget(struct sc_daemon *d, struct sc_req *r);
/* The client asked to hold (or go on with) r's stream (a FLOW record): the
 * transfer pauses, and while held it does not count against its route's
 * concurrency limit. */
void sc_admission_hold(struct sc_daemon *d, struct sc_req *r, bool hold);
/* Why requests of class prio (1 or 2) are being shed now (written to buf),
 * or NULL when they are not. */
const char *sc_admission_shed_reason(struct sc_daemon *d, unsigned prio, uint64_t now, char *buf, size_t len);
/* Expire, release and dispatch what can go now. */
void sc_admission_pump(struct sc_daemon *d, uint64_t now);
/* An attempt ended (upstream.c's callback); takes ownership of cp (the
 * answer to give if we stop). */
void sc_attempt_done(struct sc_daemon *d, struct sc_req *r, struct sc_completion *cp,
                     const struct sc_attempt *a, uint64_t now);

#endif
