/*
 * obs.c — see obs.h.
 */
#include "obs.h"

#include "ringside.h"

#include <stdio.h>
#include <string.h>

/* From a cached answer (1 ms) to a long generation (60 s). */
const double sc_obs_bounds[SC_OBS_BOUNDS] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5, 1, 2.5, 5, 10, 30, 60 };

static const char *const outcome_names[SC_OUT_COUNT] = {
    [SC_OUT_OK] = "ok", [SC_OUT_UPSTREAM_ERROR] = "upstream_error",
    [SC_OUT_CONNECTION_ERROR] = "connection_error", [SC_OUT_INTERRUPTED] = "interrupted",
    [SC_OUT_DEADLINE] = "deadline", [SC_OUT_RATE_LIMITED] = "rate_limited", [SC_OUT_SHED] = "shed",
    [SC_OUT_QUEUE_FULL] = "queue_full", [SC_OUT_CANCELLED] = "cancelled", [SC_OUT_SHUTDOWN] = "shutdown",
    [SC_OUT_BAD_REQUEST] = "bad_request", [SC_OUT_NO_ROUTE] = "no_route", [SC_OUT_OTHER] = "other",
};

const char *sc_obs_outcome_name(unsigned outcome)
{
    return outcome < SC_OUT_COUNT ? outcome_names[outcome] : "other";
}

void sc_obs_init(sc_obs *o)
{
    memset(o, 0, sizeof *o);
    o->n = 1;   /* slot 0: no route */
}

unsigned sc_obs_slot(sc_obs *o, const char *name)
{
    for (unsigned i = 1; i < o->n; i++)
        if (strcmp(o->name[i], name) == 0)
            return i;
    if (o->n == SC_OBS_SLOTS)
        return 0;
    snprintf(o->name[o->n], sizeof o->name[0], "%s", name);
    return o->n++;
}

unsigned sc_obs_outcome(int32_t error)
{
    switch (error) {
    case RS_OK: return SC_OUT_OK;
    case RS_EUPSTREAM: return SC_OUT_UPSTREAM_ERROR;
    case RS_ECONNUP: return SC_OUT_CONNECTION_ERROR;
    case RS_EINTERRUPTED: return SC_OUT_INTERRUPTED;
    case RS_EDEADLINE: return SC_OUT_DEADLINE;
    case RS_ERATELIMITED: return SC_OUT_RATE_LIMITED;
    case RS_ESHED: return SC_OUT_SHED;
    case RS_EQUEUEFULL: return SC_OUT_QUEUE_FULL;
    case RS_ECANCELLED: return SC_OUT_CANCELLED;
    case RS_ESHUTDOWN: return SC_OUT_SHUTDOWN;
    case RS_EBADREQ: case RS_E2BIG: case RS_EINVAL: return SC_OUT_BAD_REQUEST;
    case RS_ENOROUTE: return SC_OUT_NO_ROUTE;
    default: return SC_OUT_OTHER;
    }
}

static void observe(sc_hist *h, double s)
{
    unsigned i = 0;
    while (i < SC_OBS_BOUNDS && s > sc_obs_bounds[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum += s;
}

void sc_obs_answer(sc_obs *o, unsigned slot, unsigned prio, int32_t error, const uint64_t *timings_us,
                   bool dispatched)
{
    if (slot >= o->n)
        slot = 0;
    if (prio > 2)
        prio = 2;
    sc_obs_route *r = &o->route[slot];
    r->requests[prio][sc_obs_outcome(error)]++;
    if (dispatched)
        observe(&r->hist[SC_H_QUEUE_WAIT][prio], (double)timings_us[RS__T_QUEUED] / 1e6);
    /* an error's body is not the content a caller waits for */
    if (error == RS_OK && timings_us[RS__T_FIRST_CONTENT])
        observe(&r->hist[SC_H_FIRST_CONTENT][prio], (double)timings_us[RS__T_FIRST_CONTENT] / 1e6);
    observe(&r->hist[SC_H_TOTAL][prio], (double)timings_us[RS__T_TOTAL] / 1e6);
}
