/*
 * upstream.h — one attempt of a request at its route's upstream: the
 * libcurl transfer (upstream.c), on the multi handle the daemon's loop
 * drives (curl_loop.c). A finished attempt is reported through the callback
 * given at init, with what it ended with (sc_attempt) and the answer it
 * would give (sc_completion): the module above decides what it means.
 */
#ifndef SC_UPSTREAM_H
#define SC_UPSTREAM_H

#include "curl_loop.h"
#include "outcome.h"
#include "sidecar.h"

#include <curl/curl.h>

/* What one attempt ended with. */
typedef struct sc_attempt {
    rsp_attempt_end end;        /* what policy/outcome judges */
    uint64_t first_content_ns;  /* dispatch → first real content, 0 if none */
    bool has_usage;
    uint64_t usage_tokens;      /* from the response's usage, when has_usage */
} sc_attempt;

/* An attempt of req ended; cp (owned by the callee) is the answer it gives
 * if nothing else is tried. */
typedef void sc_attempt_done_fn(sc_daemon *d, sc_req *req, sc_completion *cp, const sc_attempt *at,
                                uint64_t now);

/* A transfer of the sidecar's own (side.c: a standby's keep-warm probe, a
 * webhook) on the same multi handle, so on the same connections: an
 * sc_curl_job (curl_loop.h). */
int sc_upstream_add_job(sc_daemon *d, CURL *easy);   /* 0 or -1 */
void sc_upstream_remove_job(sc_daemon *d, CURL *easy);   /* before it ended: done is not called */

int sc_upstream_init(sc_daemon *d, sc_attempt_done_fn *done);
void sc_upstream_destroy(sc_daemon *d);
/* Start an attempt of req at req->rt. Returns 0, or an RS_E* code when it
 * could not even start (then nothing is in flight). */
int sc_upstream_dispatch(sc_daemon *d, sc_req *req, uint64_t now);
void sc_upstream_abort(sc_daemon *d, sc_req *req);   /* no completion */
uint64_t sc_upstream_next_timeout(sc_daemon *d);      /* absolute ns or UINT64_MAX */
void sc_upstream_on_time(sc_daemon *d, uint64_t now);
/* c's queued stream data went below the low-water mark (c->resume_due):
 * resume its paused transfers. */
void sc_upstream_resume(sc_daemon *d, sc_client *c);
/* The client asked to hold (or go on with) req's stream: its reader of that
 * one ticket is behind. Holding pauses the transfer at its next data. */
void sc_upstream_hold(sc_daemon *d, sc_req *req, bool hold);

#endif
