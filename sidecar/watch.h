/*
 * watch.h — state changes (breakers, embargoes, failover, panic, shedding)
 * into the incident timeline (watch.c).
 */
#ifndef SC_WATCH_H
#define SC_WATCH_H

#include "sidecar.h"

/* Look at the state now (at most every 10 ms; call every loop turn). */
void sc_watch(sc_daemon *d, uint64_t now);
/* Look now, whenever the last look was: a module about to record an event
 * that follows from these changes (emergency mode, an alert) calls it
 * first, so the timeline keeps cause before effect. */
void sc_watch_now(sc_daemon *d, uint64_t now);
/* When a change is due by time alone (an embargo ending), UINT64_MAX if none. */
static inline uint64_t sc_watch_due(const sc_daemon *d)
{
    return d->watch.wake;
}

#endif
