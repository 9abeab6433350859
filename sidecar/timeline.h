/*
 * timeline.h — the incident timeline: every state change the sidecar
 * goes through (a breaker opening, an embargo, shedding, a reload, ...)
 * with its time and figures, kept in memory for /events and appended to a
 * JSON-lines file that outlives restarts (timeline.c).
 */
#ifndef SC_TIMELINE_H
#define SC_TIMELINE_H

#include "text.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct sc_event {
    uint64_t ms;                 /* wall clock, Unix milliseconds */
    char kind[32];               /* e.g. "breaker_open": a fixed vocabulary, see README */
    char route[64];              /* "" when not about one route */
    char msg[384];               /* what happened, with its figures */
    bool trouble;                /* a problem starting (else a recovery, or routine) */
} sc_event;

typedef struct sc_timeline {
    sc_event *ev;                /* a ring of cap events, the newest at (head - 1) */
    unsigned cap, n, head;
    int fd;                      /* the file, or -1 */
    char path[256];
    bool write_failed;           /* logged once */
} sc_timeline;

/* Keep `keep` events in memory; append to path ("" for none), after
 * loading the last `keep` events already there. Returns 0 or -errno (the
 * file cannot be opened). */
int sc_timeline_open(sc_timeline *t, const char *path, unsigned keep);
void sc_timeline_close(sc_timeline *t);

/* Record an event and log it (warn for trouble, info for recovery). */
void sc_timeline_add(sc_timeline *t, bool trouble, const char *kind, const char *route, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The events since `since_ms` (Unix ms; 0 for all kept), oldest first, as
 * a JSON array. */
void sc_timeline_json(const sc_timeline *t, uint64_t since_ms, sc_text *out);

#endif
