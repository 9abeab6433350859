/*
 * metrics.h — the /metrics page: the sidecar's counters and state in the
 * Prometheus text format (metrics.c).
 */
#ifndef SC_METRICS_H
#define SC_METRICS_H

#include "sidecar.h"
#include "text.h"

#include <stddef.h>
#include <stdint.h>

/* The page, appended to t. */
void sc_metrics_page(sc_daemon *d, uint64_t now, sc_text *t);

#endif
