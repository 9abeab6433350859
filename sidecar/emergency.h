/*
 * emergency.h — emergency mode: enter and leave it, by hand or by its
 * triggers (emergency.c; what it does is in admission: sheds and routes).
 */
#ifndef SC_EMERGENCY_H
#define SC_EMERGENCY_H

#include "sidecar.h"

/* By hand (POST /admin/emergency): on holds until turned off by hand. */
void sc_emergency_set(sc_daemon *d, bool on, uint64_t now);
/* The automatic triggers and recovery (every 100 ms; call every turn). */
void sc_emergency_tick(sc_daemon *d, uint64_t now);
/* When the tick wants to run, UINT64_MAX while idle. */
uint64_t sc_emergency_due(const sc_daemon *d);

#endif
