/*
 * admin.h — the admin HTTP listener: /metrics, /healthz, /readyz, /status, served
 * from the sidecar's loop (admin.c).
 */
#ifndef SC_ADMIN_H
#define SC_ADMIN_H

#include "sidecar.h"

/* Listen on admin.listen. 0 also when off, or when the default address is
 * taken (a warning says so); -1 after logging why an explicit address
 * cannot be used. */
int sc_admin_start(sc_daemon *d);
void sc_admin_stop(sc_daemon *d);
/* When the listener needs a turn of its own (ns), UINT64_MAX: not before
 * its socket is ready. */
uint64_t sc_admin_due(const sc_daemon *d);
/* Give it that turn if it is due. */
void sc_admin_on_time(sc_daemon *d, uint64_t now);

#endif
