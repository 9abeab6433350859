/*
 * metrics.h — the /metrics page: the sidecar's counters and state in the
 * Prometheus text format (metrics.c).
 */
#ifndef SC_METRICS_H
#define SC_METRICS_H

#include "sidecar.h"

#include <stddef.h>
#include <stdint.h>

/* The page (malloc'd, the caller frees it) and its length; NULL when out
 * of memory. */
char *sc_metrics_page(sc_daemon *d, uint64_t now, size_t *len);

#endif
