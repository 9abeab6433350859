/*
 * access_log.h — one JSON line per terminal answer (access_log.c), and
 * the request id the upstream and the client see.
 */
#ifndef SC_ACCESS_LOG_H
#define SC_ACCESS_LOG_H

#include "sidecar.h"

#include <stddef.h>

/* The request's id: the x-request-id its client sent, else
 * "rs-<sidecar start>-<client>-<request>" (unique across restarts). */
void sc_req_id(const sc_daemon *d, const sc_req *r, char *buf, size_t len);
/* The client's own x-request-id header value, or NULL. */
const char *sc_req_client_id(const sc_req *r);

/* Log r's terminal answer cp, as access_log.level and .sample say. */
void sc_access_log(sc_daemon *d, const sc_req *r, const sc_completion *cp);

#endif
