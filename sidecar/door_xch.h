/*
 * door_xch.h — the front door's private parts, shared by frontdoor.c (the
 * listener, and an exchange's life: its request read, submitted, its
 * connection's end) and door_reply.c (an exchange's answer written as
 * HTTP, and the side its request's answer arrives on).
 */
#ifndef SC_DOOR_XCH_H
#define SC_DOOR_XCH_H

#include "batch.h"
#include "mhd_loop.h"
#include "door_req.h"
#include "vkeys.h"

#include <microhttpd.h>

#define HOLD_BYTES (256u << 10)
#define RESUME_BYTES (64u << 10)

enum endpoint { EP_NONE, EP_CHAT, EP_COMPLETIONS, EP_EMBEDDINGS, EP_MODELS, EP_BATCH, EP_BATCH_GET };

typedef struct door_conn door_conn;
typedef struct xch xch;

struct sc_door {
    sc_mhd m;                     /* libmicrohttpd on the loop */
    sc_daemon *d;
    uint64_t tick_at;
    char where[160];
    char unix_path[108];          /* the socket file we made, removed at stop */
    sc_vkeys keys;
    sc_batches batches;
    door_conn *conns;
    xch *xchs;                    /* exchanges MHD has not finished with */
    uint64_t open;
    uint64_t connections_total, slow_closed, unauthorized;
    unsigned nconns;
};

/* One connection, for the tick's checks. */
struct door_conn {
    door_conn *prev, *next;
    int fd;
    bool tcp;
    bool in_request;              /* its head is in: an exchange has it */
    uint64_t bytes_mark;          /* TCP bytes received when it last had no request */
    uint64_t head_from;           /* a new head's first byte seen (ns), 0: none */
    xch *x;
};

/* One HTTP request and its answer. */
struct xch {
    door_origin origin;           /* first: r->origin points here */
    sc_door *door;
    door_conn *dc;
    xch *prev, *next;
    struct MHD_Connection *conn;
    enum endpoint ep;
    sc_vkey *key;
    sc_req *r;                    /* in flight; NULL once answered */
    uint64_t body_from;
    uint8_t *body;
    size_t len, cap;
    bool queued;                  /* a response is queued: nothing more to read */
    bool started;                 /* the body is in and the request submitted */
    bool suspended;
    bool stream, streaming;       /* asked for one; an event stream is being written */
    bool held;                    /* its transfer held: the caller reads slowly */
    bool caller_gone;
    bool done_seen, tail_written;
    sc_completion *cp;            /* the terminal answer */
    char *out;                    /* stream bytes not yet taken by MHD */
    size_t out_len, out_off, out_cap;
    bool out_failed;
    uint32_t priority, timeout_ms;
    char route[64], request_id[128], batch_id[64];
    bool batch_async;
    sc_batch *batch;              /* a synchronous batch under way */
};

enum MHD_Result door_send_json(xch *x, unsigned status, char *body, size_t len, uint64_t retry_after);
enum MHD_Result door_send_refusal(xch *x, const door_http *h);
enum MHD_Result door_refuse(xch *x, unsigned status, const char *type, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The terminal answer of a request that is not an event stream. */
enum MHD_Result door_send_answer(xch *x);
/* A 200 event stream, written as the request's events arrive. */
enum MHD_Result door_start_stream(xch *x);
/* Resume x's connection (if suspended) and have MHD run this turn. */
void door_wake(xch *x);
/* x's door_origin callbacks, and a synchronous batch's end (ctx: x). */
void door_on_answer(door_origin *o, sc_completion *cp);
int door_on_chunk(door_origin *o, const void *data, size_t len);
void door_batch_done(void *ctx);

#endif
