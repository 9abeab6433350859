/*
 * door_req.h — a front-door request (an HTTP call, or one item of a batch)
 * made into an sc_req of its virtual key's client and sent through the
 * same admission as a ring client's; and its terminal answer as HTTP: the
 * status, and an OpenAI-style error body for what ringside refused
 * (door_req.c).
 */
#ifndef SC_DOOR_REQ_H
#define SC_DOOR_REQ_H

#include "text.h"
#include "vkeys.h"

/* Who waits for a request's answer: an HTTP exchange (frontdoor.c) or a
 * batch item (batch.c). Called while admission or the upstream is at
 * work: take what is given, act on it later. */
typedef struct door_origin {
    void (*answer)(struct door_origin *o, sc_completion *cp);             /* takes cp (not NULL) */
    int (*chunk)(struct door_origin *o, const void *data, size_t len);    /* 0 or RS_ENOMEM */
} door_origin;

/* The client sink every virtual key has: it hands answers to r->origin. */
extern const sc_sink sc_door_sink;

typedef struct door_call {
    sc_vkey *key;
    const char *method, *path;
    const char *route;            /* "" or NULL: any route the key may use */
    const char *request_id;       /* the caller's x-request-id, or NULL */
    uint32_t priority;
    uint32_t timeout_ms;          /* 0: the class's default deadline */
    bool stream;
    uint8_t *body;                /* taken (set to NULL) when submitted; the caller's if refused */
    size_t len;
    const sc_body_req *scan;      /* the body's scan (sc_body_scan_request) */
    sc_req **req;                 /* set to the request before it is admitted (its
                                     answer may come at once: the origin clears it) */
} door_call;

/* An answer or a refusal, as HTTP. */
typedef struct door_http {
    unsigned status;
    const char *type, *code;      /* OpenAI's error "type" and ringside's "code" */
    uint64_t retry_after_s;       /* 0: no Retry-After */
    bool upstream_body;           /* the upstream's own body (and headers) go back */
    char msg[400];
} door_http;

/* Send call through admission for o. 0: its answer will reach o (perhaps
 * already has, before this returns); -1: refused before admission (the
 * key's limits, a route it may not use), *why says how to answer. */
int sc_door_submit(sc_daemon *d, door_call *call, door_origin *o, uint64_t now, door_http *why);

/* The HTTP form of a terminal answer. */
void sc_door_http_of(const sc_completion *cp, door_http *h);

/* {"error":{"message":..,"type":..,"param":null,"code":..}} (malloc'd). */
char *sc_door_error_json(const door_http *h, size_t *len);
/* Only the inner object, appended to t. */
void sc_door_error_obj(const door_http *h, sc_text *t);

#endif
