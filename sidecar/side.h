/*
 * side.h — HTTP requests of the sidecar's own (side.c): a standby route's
 * keep-warm probe now; webhooks and alerts next. Never traffic: no
 * client, no route limits, no counters.
 */
#ifndef SC_SIDE_H
#define SC_SIDE_H

#include "sidecar.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

/* status: the HTTP status, 0 when none came (err then says why). */
typedef void sc_side_done_fn(sc_daemon *d, void *ctx, long status, const char *err);

/* Send method url with headers (taken, freed by the request) and body
 * (copied; NULL for none), giving up after timeout_ms; the server's
 * certificate checked against ca_file (NULL or "": the system's). done hears how it
 * ended, from the loop, never from inside this call. Returns 0 or -1. */
int sc_side_request(sc_daemon *d, const char *method, const char *url, struct curl_slist *headers,
                    const char *body, size_t len, uint32_t timeout_ms, const char *ca_file,
                    sc_side_done_fn *done, void *ctx);
/* Stop every request in flight; their done is not called. */
void sc_side_destroy(sc_daemon *d);

#endif
