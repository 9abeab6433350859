/*
 * sidecar.h — the daemon's shared state: one sc_daemon, its registered
 * clients, and the requests they have in flight. The parts that act on
 * them live in their own files:
 *   clients.c   registration socket, per-client region, hang-up, teardown
 *   intake.c    draining a client's submission ring into requests
 *   outbox.c    writing completions into a client's completion ring
 *   upstream.c  forwarding requests with libcurl multi, driven by io_uring
 *   daemon.c    the loop body: what runs each turn, signals, draining
 */
#ifndef SC_SIDECAR_H
#define SC_SIDECAR_H

#include "admission.h"
#include "bucket.h"
#include "channel.h"
#include "config.h"
#include "loop.h"
#include "record.h"
#include "ring.h"
#include "scheduler.h"
#include "heap.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Streamed data queued for one client (outbox) above which its streaming
 * transfers are paused, and below which they resume: a slow reader holds
 * back only its own upstream transfers, and sidecar memory stays bounded. */
#define SC_CHUNK_HIGH_WATER (1u << 20)
#define SC_CHUNK_LOW_WATER  (256u << 10)

typedef struct sc_daemon sc_daemon;
typedef struct sc_client sc_client;
typedef struct sc_req sc_req;
typedef struct sc_completion sc_completion;
typedef struct sc_upstream sc_upstream;

/* A terminal answer on its way into a client's completion ring. It owns all
 * its memory; body_sent tracks how much of a large body is already in the
 * ring when the client reads slowly. The message it was made with lives in
 * the same allocation (msg_buf): the common answer costs one malloc. */
struct sc_completion {
    sc_completion *next;
    uint64_t id;
    int32_t error;
    uint32_t status;
    uint32_t attempts;
    char *error_msg;              /* msg_buf, or a malloc'd replacement */
    char upstream_name[64];       /* route names are shorter (config.h) */
    uint64_t timings[RS__T_COUNT];
    uint32_t nheaders;
    char **hname, **hvalue;       /* owned */
    uint8_t *body;                /* owned */
    size_t body_len;
    size_t body_sent;
    bool head_sent;
    bool is_chunk;                /* a streamed event (CHUNK records), not terminal */
    uint64_t seq, sidecar_ns;
    char msg_buf[];
};

/* One accepted request, from the moment its head record leaves the ring to
 * its terminal completion. Its strings and header lines live in the same
 * allocation, after the struct; the body has its own (it may be handed on
 * to a completion or to libcurl). */
struct sc_req {
    sc_client *client;
    sc_req *prev, *next;          /* the client's in-flight list */
    sc_req *hnext, **hpprev;      /* its id index's chain (inflight.c) */
    uint64_t id;
    uint32_t priority, flags;
    uint64_t t_drain, t_dispatch, deadline;   /* monotonic ns */
    char *method, *path, *route, *model;      /* in this allocation */
    uint32_t nheaders;
    char **headers;               /* "name: value", in this allocation */
    uint8_t *body;
    size_t body_len, body_have;
    int32_t refuse;               /* RS_E* to answer once the body is in */
    bool flow_hold;               /* the client's reader is behind: deliver
                                     no more of this stream for now (FLOW) */
    const char *refuse_why;
    void *xfer;                   /* upstream transfer, when dispatched */

    /* traffic control (admission.c) */
    rsp_sched_item qi;             /* queued for dispatch */
    rsp_heap_node retry_node;     /* waiting out a backoff */
    sc_req *held_next;            /* waiting for its client's rate limit */
    bool held;
    struct sc_route *rt;          /* the route of the attempt in flight */
    struct sc_route *pinned;      /* the client named this route */
    struct sc_route *last_route;  /* where the last attempt failed */
    uint32_t attempts;
    uint64_t breaker_epoch;       /* the route breaker's epoch when sent */
    double tokens_need;           /* LLM token estimate (prompt + max_tokens) */
    double tokens_held;           /* reserved for the attempt in flight */
    sc_completion *last;          /* the last failed attempt's answer */
};

struct sc_client {
    sc_daemon *d;
    sc_client *prev, *next;
    uint64_t id;
    pid_t pid;
    uid_t uid;
    int sock, sq_efd, cq_efd;
    void *map;
    size_t map_len;
    rs__ring sq, cq;
    rs__ring_cursor sq_cur;       /* our consumer positions: never read back */
    uint64_t cq_head;             /* our producer position: never read back */

    sc_req *asm_req;              /* request whose BODY records are due */
    sc_req *inflight;             /* accepted, not yet completed (inflight.c) */
    sc_req **by_id;               /* and indexed by id: 1 << id_bits chains */
    unsigned id_bits;
    uint64_t id_seed;
    uint32_t n_open;              /* accepted and not yet written out */
    sc_completion *out_head, *out_tail;
    size_t out_chunk_bytes;       /* streamed data queued here, not yet in the ring */
    unsigned paused;              /* this client's transfers paused on that */
    bool closing;
    bool watched;                 /* doorbell and hang-up polls armed */
    bool limited;                 /* per-client rate limit configured */
    rsp_bucket limit;
    sc_req *held_head, *held_tail;

    unsigned ops_pending;
    sc_op sq_bell_op, hup_op, prefault_op;
    uint64_t stats_requests, stats_bad;
};

enum sc_state { SC_RUNNING, SC_DRAINING, SC_STOPPING };

struct sc_daemon {
    sc_config cfg;
    int argc;                     /* kept to re-read the configuration on SIGHUP */
    char **argv;
    sc_loop loop;
    enum sc_state state;
    uint64_t drain_deadline;
    bool stop_now;

    int listen_fd;
    sc_op accept_op;
    bool accept_armed;
    /* out of file descriptors: accepts wait ACCEPT_PAUSE_MS at a time
     * (an io_uring timeout) instead of failing in a hot loop */
    sc_op accept_pause_op;
    bool accept_paused;
    unsigned accept_pauses;       /* in the current episode, for the log */

    int sig_fd;
    sc_op sig_op;
    uint8_t sig_buf[128];

    sc_client *clients;
    uint32_t nclients;
    uint64_t next_client_id;
    bool kicked;                  /* a doorbell rang: look at every ring */

    uint64_t now;                 /* the clock at the start of this loop turn */
    sc_upstream *up;
    sc_admission adm;
    rs__decoder dec;
    uint8_t *rxbuf;               /* one record copied out of shared memory */
    rs__comp_rec *comp_scratch;   /* the completion being packed (outbox) */

    struct {
        uint64_t requests, completions, bad_records, corrupt_rings,
                 clients_accepted, clients_refused, clients_gone;
    } stats;
};

/* clients.c */
int sc_clients_listen(sc_daemon *d);
/* A client in two steps, so a test can make the region itself: new
 * allocates it (NULL: out of memory), start takes the mapped region (which
 * c then owns and unmaps at close), its socket and doorbells, and puts it
 * to work. watch: arm the polls on its doorbell and socket, and free c
 * when it is closed; without them (the intake fuzzer, which drives every
 * turn itself) c is the caller's to free with sc_client_free once closed. */
sc_client *sc_client_new(sc_daemon *d);
void sc_client_start(sc_client *c, void *map, const rs__layout *lay, int sock, int sq_efd, int cq_efd,
                     pid_t pid, uid_t uid, bool watch);
void sc_client_free(sc_client *c);
void sc_clients_stop_listening(sc_daemon *d);
void sc_client_close(sc_client *c, const char *why);
void sc_client_ring_cq_bell(sc_client *c);

/* inflight.c: c's accepted, not yet completed requests, by id too */
int sc_inflight_init(sc_client *c, uint32_t max_inflight);   /* -1: no memory */
void sc_inflight_destroy(sc_client *c);
void sc_inflight_add(sc_client *c, sc_req *r);
void sc_inflight_remove(sc_client *c, sc_req *r);
sc_req *sc_inflight_find(const sc_client *c, uint64_t id);   /* the first with that id */

/* intake.c: drain up to budget records; returns records consumed. The
 * space they took is handed back by sc_intake_release, which the loop
 * calls after it has written this turn's completions: zeroing the drained
 * lines and publishing the tail would otherwise sit in front of the
 * answers (stores leave a core in order). */
unsigned sc_intake_drain(sc_client *c, unsigned budget);
void sc_intake_release(sc_client *c);

/* outbox.c */
sc_completion *sc_completion_new(uint64_t id, int32_t error, uint32_t status, const char *msg);
void sc_completion_free(sc_completion *cp);
/* Replace the message with msg (malloc'd; cp takes it). */
void sc_completion_set_msg(sc_completion *cp, char *msg);
/* Name the route that answered (cut at 63 bytes, which route names fit). */
void sc_completion_set_upstream(sc_completion *cp, const char *name);
/* Hand the terminal completion of req to its client (or drop it if the
 * client is gone) and free req. Takes ownership of cp. */
void sc_req_finish(sc_req *req, sc_completion *cp);
/* Answer a record that never became a request (malformed, refused). */
void sc_client_answer(sc_client *c, sc_completion *cp);
/* Queue one streamed event's data for c (copied). Returns 0 or RS_ENOMEM. */
int sc_client_chunk(sc_client *c, uint64_t id, uint64_t seq, const void *data, size_t len);
/* Write what fits of c's queued completions; ring its doorbell if it
 * sleeps. Returns true when it wrote to a client that is awake, i.e. one
 * looking for its answer right now. */
bool sc_outbox_flush(sc_client *c);
void sc_req_free(sc_req *req);

/* upstream.c */
int sc_upstream_init(sc_daemon *d);
void sc_upstream_destroy(sc_daemon *d);
/* Start an attempt of req at req->route. Returns 0, or an RS_E* code when it
 * could not even start (then nothing is in flight). */
int sc_upstream_dispatch(sc_daemon *d, sc_req *req, uint64_t now);
void sc_upstream_abort(sc_daemon *d, sc_req *req);   /* no completion */
uint64_t sc_upstream_next_timeout(sc_daemon *d);      /* absolute ns or UINT64_MAX */
/* c's queued stream data went below the low-water mark: resume its paused
 * transfers. */
void sc_upstream_resume(sc_daemon *d, sc_client *c);
/* The client asked to hold (or go on with) req's stream: its reader of that
 * one ticket is behind. Holding pauses the transfer at its next data. */
void sc_upstream_hold(sc_daemon *d, sc_req *req, bool hold);
void sc_upstream_on_time(sc_daemon *d, uint64_t now);

/* daemon.c */
void sc_dispatch(sc_daemon *d, sc_req *req);

#endif
