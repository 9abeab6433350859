/*
 * curl_loop.h — libcurl's multi handle, driven by the daemon's loop.
 *
 * Every transfer the sidecar makes (attempts, upstream.c; its own
 * requests, side.c) is an easy handle on this one multi handle, so they
 * share its connections. A transfer's CURLOPT_PRIVATE points at a
 * sc_curl_job, whose done is called when it ends — the handle is then out
 * of the multi and the job's owner's again.
 */
#ifndef SC_CURL_LOOP_H
#define SC_CURL_LOOP_H

#include "loop.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sc_curl_job sc_curl_job;
struct sc_curl_job {
    void (*done)(sc_curl_job *job, CURLcode rc);
};

typedef struct sc_curl_sock sc_curl_sock;

typedef struct sc_curl_loop {
    sc_loop *loop;
    CURLM *multi;
    CURLSH *share;       /* TLS sessions, one cache for every transfer */
    uint64_t timer_at;   /* when libcurl wants its timeout action */
    sc_curl_sock *socks; /* by fd */
    size_t nsocks;
    unsigned npolls;     /* poll ops whose completion has not come back yet */
    unsigned nconns;     /* sockets open by transfers given sc_curl_loop_prepare */
} sc_curl_loop;

/* max_host_conns: connections to one host at most (0: no cap); transfers
 * past it wait in libcurl for a connection or a stream to be free. */
int sc_curl_loop_init(sc_curl_loop *cl, sc_loop *loop, long max_host_conns);   /* 0 or -1 */
/* Ends every transfer still on it (their done is not called) and waits for
 * the loop to hand back its poll ops. */
void sc_curl_loop_destroy(sc_curl_loop *cl);
/* libcurl's timeout action, when due (cl->timer_at). */
void sc_curl_loop_on_time(sc_curl_loop *cl, uint64_t now);
/* The options every transfer on it takes: the shared TLS session cache and
 * the socket callbacks that keep nconns. */
void sc_curl_loop_prepare(sc_curl_loop *cl, CURL *easy);
int sc_curl_loop_add(sc_curl_loop *cl, CURL *easy);      /* 0 or -1 */
void sc_curl_loop_remove(sc_curl_loop *cl, CURL *easy);  /* before it ended: done is not called */

#endif
