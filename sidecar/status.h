/*
 * status.h — the sidecar at a glance as JSON, for /api/status, the status
 * page and ringsidectl (status.c).
 */
#ifndef SC_STATUS_H
#define SC_STATUS_H

#include "sidecar.h"

#include <stddef.h>
#include <stdint.h>

/* The document (malloc'd; the caller frees it), NULL when out of memory. */
char *sc_status_json(sc_daemon *d, uint64_t now, size_t *len);

#endif
