/*
 * obs.h — what the sidecar counts for its metrics: every terminal answer
 * by route, priority and outcome, and three latency histograms (queue
 * wait, first content, total). Plain counters, written on the loop, read
 * by the metrics page (metrics.c) on the same thread.
 *
 * Routes are counted by name in slots that are never freed: a route that a
 * reload removes and a later one adds back keeps its counters (Prometheus
 * counters must only go up), and a request can carry its slot number to
 * its end without pointing into a route that may be gone by then. Slot 0
 * is "no route" (refused before one was chosen).
 */
#ifndef SC_OBS_H
#define SC_OBS_H

#include "record.h"

#include <stdbool.h>
#include <stdint.h>

#define SC_OBS_SLOTS 64          /* route names over a sidecar's life; more share slot 0 */
#define SC_OBS_BOUNDS 14         /* histogram bucket bounds, +Inf implied */

extern const double sc_obs_bounds[SC_OBS_BOUNDS];   /* seconds */

enum {
    SC_OUT_OK, SC_OUT_UPSTREAM_ERROR, SC_OUT_CONNECTION_ERROR, SC_OUT_INTERRUPTED, SC_OUT_DEADLINE,
    SC_OUT_RATE_LIMITED, SC_OUT_SHED, SC_OUT_QUEUE_FULL, SC_OUT_CANCELLED, SC_OUT_SHUTDOWN,
    SC_OUT_BAD_REQUEST, SC_OUT_NO_ROUTE, SC_OUT_OTHER, SC_OUT_COUNT
};

enum { SC_H_QUEUE_WAIT, SC_H_FIRST_CONTENT, SC_H_TOTAL, SC_H_COUNT };

typedef struct sc_hist {
    uint64_t bucket[SC_OBS_BOUNDS + 1];   /* not cumulative; the last is over every bound */
    uint64_t count;
    double sum;                           /* seconds */
} sc_hist;

typedef struct sc_obs_route {
    uint64_t requests[3][SC_OUT_COUNT];   /* by priority and outcome */
    uint64_t attempts[3];
    uint64_t tokens_used;
    sc_hist hist[SC_H_COUNT][3];
} sc_obs_route;

typedef struct sc_obs {
    char name[SC_OBS_SLOTS][64];
    sc_obs_route route[SC_OBS_SLOTS];
    unsigned n;                           /* slots in use (slot 0 always) */
    uint64_t retries[3], budget_refusals[3];
} sc_obs;

void sc_obs_init(sc_obs *o);
/* The slot counting route `name` (made on first sight; 0 once all are taken). */
unsigned sc_obs_slot(sc_obs *o, const char *name);
/* A terminal answer: its RS_* error and timings (µs, RS__T_*); dispatched:
 * it was sent upstream (its queue wait counts, even 0). */
void sc_obs_answer(sc_obs *o, unsigned slot, unsigned prio, int32_t error, const uint64_t *timings_us,
                   bool dispatched);
/* The outcome (SC_OUT_*) an RS_* error counts as, and its name. */
unsigned sc_obs_outcome(int32_t error);
const char *sc_obs_outcome_name(unsigned outcome);

#endif
