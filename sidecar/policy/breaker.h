/*
 * breaker.h — the circuit breaker of one upstream route.
 *
 * It owns one decision: may a request be sent to this route now? A route
 * that keeps failing (or keeps answering too slowly) is taken out of
 * rotation for a cooldown, so requests fail over at once instead of each
 * burning its deadline on a dead upstream; after the cooldown a few probes
 * test it, and only if every one of them succeeds is it trusted again.
 *
 *   CLOSED ──failure_threshold consecutive failures──────────┐
 *          ──failure_rate of the window's verdicts (at least ─┤
 *            rate_min_requests of them) are failures          │
 *          ──slow_threshold consecutive slow successes──────┤
 *                                                            v
 *   HALF_OPEN <──first send after the cooldown───────────── OPEN
 *          ──a probe fails or is slow (a longer cooldown)──> OPEN
 *          ──half_open_probes probes succeed───────────────> CLOSED
 *
 * The cooldown grows: cooldown_ns the first time, doubled by each round of
 * probes that fails, up to max_cooldown_ns; closing starts over. A route
 * that comes back is used again within about one short cooldown, and one
 * that stays down is probed at most once per max_cooldown_ns.
 *
 * A rate, besides the streak: an upstream that answers most requests but
 * fails many (overloaded, not dead) rarely fails N in a row, and a streak
 * alone would also open on a short unlucky run of an otherwise healthy
 * route. The rate needs volume (rate_min_requests in the window) before it
 * judges. The streak itself is judged against the rate: on a route that
 * fails a share of requests at random, N in a row is no outage, so the
 * streak needed grows until it would come by chance less than once in
 * RSP_BREAKER_STREAK_ODDS requests (failure_threshold stays the least).
 *
 * Pure policy: the caller passes `now` (monotonic ns) into every call; the
 * breaker reads no clock, allocates nothing and never blocks. The
 * OPEN→HALF_OPEN move is lazy: queries report an expired OPEN as HALF_OPEN
 * but only rsp_breaker_on_send() performs it, so the queries stay const and
 * the transition counters count probes that really happened.
 *
 * Verdicts of requests sent before the latest transition (a request sent
 * while CLOSED that ends after the breaker opened) are stale: the breaker
 * cannot tell them apart from probe verdicts on its own. It drops verdicts
 * that arrive while OPEN and those that arrive in HALF_OPEN with no probe in
 * flight; for exact attribution the caller keeps rsp_breaker_epoch() from the
 * time of sending and reports a verdict only if the epoch is unchanged.
 */
#ifndef RSP_BREAKER_H
#define RSP_BREAKER_H

#include "window.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    RSP_BREAKER_CLOSED,
    RSP_BREAKER_OPEN,
    RSP_BREAKER_HALF_OPEN,
} rsp_breaker_state;

/* Defaults, also applied to every zero field of a configuration (except
 * latency_gt_ns, where 0 means "no slow detection"), so a zeroed
 * rsp_breaker_cfg is the safe default. To make a threshold unreachable in
 * practice, set it to UINT32_MAX. */
#define RSP_BREAKER_DEFAULT_FAILURE_THRESHOLD 3u
#define RSP_BREAKER_DEFAULT_SLOW_THRESHOLD    3u
#define RSP_BREAKER_DEFAULT_COOLDOWN_NS       (250ull * 1000000ull)
#define RSP_BREAKER_DEFAULT_HALF_OPEN_PROBES  2u
/* A streak of failures opens the breaker only if it would come by chance
 * less than once in this many requests, given the route's recent failure
 * rate (see streak_needed in breaker.c). */
#define RSP_BREAKER_STREAK_ODDS 1000.0

typedef struct rsp_breaker_cfg {
    uint32_t failure_threshold;  /* consecutive failures that open it (default 3) */
    uint64_t latency_gt_ns;      /* 0 = off; a success slower than this (time to first
                                    real content) counts as a slow result */
    uint32_t slow_threshold;     /* consecutive slow results that open it (default 3) */
    uint64_t cooldown_ns;        /* open → half-open after this, the first time
                                    (default 250 ms) */
    uint64_t max_cooldown_ns;    /* each failed round of probes doubles the cooldown
                                    up to this (0: the cooldown never grows) */
    uint32_t half_open_probes;   /* probes allowed in flight while half-open; all must
                                    succeed to close (default 2) */
    double failure_rate;         /* 0 = off; open when at least this share of the
                                    window's verdicts are failures... */
    uint32_t rate_min_requests;  /* ...and there are at least this many of them */
    uint64_t rate_window_ns;     /* the window (window.h) */
} rsp_breaker_cfg;

typedef struct rsp_breaker {
    rsp_breaker_cfg cfg;          /* normalised: no zero threshold/cooldown/probes */
    rsp_breaker_state state;      /* stored state; an expired OPEN acts as HALF_OPEN */
    uint32_t consec_failures;    /* CLOSED: failures since the last success */
    uint32_t consec_slow;        /* CLOSED: slow successes since the last fast one */
    uint32_t probes_in_flight;   /* HALF_OPEN: probe slots taken */
    uint32_t probes_ok;          /* HALF_OPEN: probes that succeeded this round */
    uint64_t open_until;         /* OPEN: first instant a probe may go */
    uint64_t cooldown;           /* the next opening's cooldown */
    /* CLOSED: the verdicts over the rate window */
    rsp_window win;              /* a: successes, b: failures */

    /* Transition counters for metrics; monotonic, never reset. */
    uint64_t opened;             /* any → OPEN (includes reopened) */
    uint64_t reopened;           /* HALF_OPEN → OPEN: a probe failed or was slow */
    uint64_t half_opened;        /* OPEN → HALF_OPEN: a first probe went out */
    uint64_t closed;             /* HALF_OPEN → CLOSED: the route recovered */
} rsp_breaker;

/* The defaults as a configuration (what a zeroed cfg normalises to). */
rsp_breaker_cfg rsp_breaker_cfg_default(void);

/* Start CLOSED with zero counters. cfg may be NULL for all defaults. */
void rsp_breaker_init(rsp_breaker *b, const rsp_breaker_cfg *cfg);

/* Apply a new configuration (config reload) and keep the state, the
 * streaks, the probe slots and the counters. New thresholds apply from the
 * next verdict (a streak already at or past a lowered threshold opens on
 * the next failure); a running cooldown keeps its deadline, a new
 * cooldown_ns applies from the next opening; a lowered half_open_probes
 * takes no slot back from probes already in flight. cfg may be NULL. */
void rsp_breaker_reconfigure(rsp_breaker *b, const rsp_breaker_cfg *cfg);

/* Would a request be let through now? Pure query: OPEN past its cooldown
 * reports HALF_OPEN; does not reserve a probe. */
rsp_breaker_state rsp_breaker_state_at(const rsp_breaker *b, uint64_t now);

/* CLOSED, or a free probe slot in (effective) HALF_OPEN. */
bool rsp_breaker_can_send(const rsp_breaker *b, uint64_t now);

/* A request is sent: moves OPEN→HALF_OPEN when due and takes a probe slot
 * when half-open. Call only if can_send; otherwise it changes nothing. */
void rsp_breaker_on_send(rsp_breaker *b, uint64_t now);

/* The share of failures among the rate window's verdicts as of now, and
 * (in *n) how many verdicts that is. */
double rsp_breaker_failure_rate(rsp_breaker *b, uint64_t now, uint32_t *n);

/* A sent request succeeded; latency_ns is its time to first real content.
 * CLOSED: resets the failure streak; latency over latency_gt_ns extends the
 * slow streak (slow_threshold of them open it), a fast one resets it.
 * HALF_OPEN: frees the probe slot; a slow probe reopens, the
 * half_open_probes-th good one closes. */
void rsp_breaker_on_success(rsp_breaker *b, uint64_t latency_ns, uint64_t now);

/* A sent request failed (as the caller's outcome policy judges: connection
 * error, 5xx, 429, ...). CLOSED: failure_threshold in a row open it; the
 * slow streak is left alone (a failure is no evidence of speed).
 * HALF_OPEN: reopens with a fresh cooldown from `now`. */
void rsp_breaker_on_failure(rsp_breaker *b, uint64_t now);

/* A sent request ended without a verdict (cancelled, deadline passed before
 * an answer, sidecar draining): frees its probe slot if it held one. */
void rsp_breaker_on_abandon(rsp_breaker *b);

/* When OPEN: the time it will allow probes. Meaningless in other states. */
uint64_t rsp_breaker_open_until(const rsp_breaker *b);

/* Changes on every transition (it is the sum of the transition counters).
 * Read it right after rsp_breaker_on_send(); if it differs when the verdict
 * arrives, the request belongs to an earlier phase: report nothing (not
 * even on_abandon — the transition already released its slot). */
uint64_t rsp_breaker_epoch(const rsp_breaker *b);

#endif
