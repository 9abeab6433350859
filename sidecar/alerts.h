/*
 * alerts.h — the alert rules, evaluated in the sidecar (alerts.c).
 */
#ifndef SC_ALERTS_H
#define SC_ALERTS_H

#include "sidecar.h"

/* Evaluate the rules (once a second) and send due notifications; call
 * every loop turn. */
void sc_alerts_tick(sc_daemon *d, uint64_t now);
/* When it wants a turn, UINT64_MAX while idle. */
uint64_t sc_alerts_due(const sc_daemon *d);

#endif
