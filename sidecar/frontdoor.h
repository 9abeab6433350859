/*
 * frontdoor.h — the OpenAI-compatible HTTP front door: /v1/chat/completions,
 * /v1/completions, /v1/embeddings, /v1/models and the batch endpoint,
 * served from the sidecar's loop (frontdoor.c).
 */
#ifndef SC_FRONTDOOR_H
#define SC_FRONTDOOR_H

#include "sidecar.h"
#include "text.h"

/* Listen on front_door.listen and set up the virtual keys. 0 also when
 * off, or when the default address is taken (a warning says so); -1 after
 * logging why an explicit address or a key cannot be used. */
int sc_door_start(sc_daemon *d);
/* Close the listener (the drain has answered what was open). */
void sc_door_stop(sc_daemon *d);
/* The configuration was reloaded: bring the keys up to date. -1: a key
 * could not be (the old ones stay). */
int sc_door_reload(sc_daemon *d, uint64_t now);
/* When it needs a turn of its own (ns); UINT64_MAX: not before a socket is ready. */
uint64_t sc_door_due(const sc_daemon *d);
void sc_door_on_time(sc_daemon *d, uint64_t now);
/* The grace period is over: answer every request still open as shut down.
 * Returns how many. */
unsigned sc_door_abort(sc_daemon *d);
/* Requests it has open (draining waits for them). */
uint64_t sc_door_open(const sc_daemon *d);
/* Its counters, in Prometheus' text format, appended to t. */
void sc_door_metrics(const sc_daemon *d, sc_text *t);

#endif
