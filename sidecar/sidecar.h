/*
 * sidecar.h — the daemon's shared state: one sc_daemon, its registered
 * clients, the requests they have in flight and the answers on their way
 * back. The modules that act on them, bottom to top (each calls only the
 * ones below it; one above hears from one below through a callback or a
 * flag the loop acts on, never a call back up):
 *   inflight.c   a client's requests in flight, indexed by id
 *   outbox.c     answers and stream chunks into a client's completion ring
 *   routes.c     the route table and each route's capacity right now
 *   upstream.c   an attempt: the libcurl transfer, driven by the loop; it
 *                reports a finished attempt through a callback
 *   admission.c  traffic control: queues, limits, route choice, attempts,
 *                and what a finished attempt means (policy/outcome.c)
 *   intake.c     a client's submission ring drained into requests
 *   clients.c    registration, a client's region, hang-up, teardown
 *   daemon.c     the loop body: each turn, signals, draining; it acts on
 *                the flags below (sc_client.broken, .resume_due)
 * Each struct says which module writes which of its fields.
 */
#ifndef SC_SIDECAR_H
#define SC_SIDECAR_H

#include "admission.h"
#include "body_json.h"
#include "bucket.h"
#include "channel.h"
#include "config.h"
#include "heap_trim.h"
#include "loop.h"
#include "record.h"
#include "obs.h"
#include "rates.h"
#include "timeline.h"
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
typedef struct sc_admin sc_admin;
typedef struct sc_door sc_door;

/* notify.c's queue of deliveries */
typedef struct sc_delivery sc_delivery;
typedef struct sc_notify_state {
    sc_delivery *head;
    unsigned queued;
    uint64_t due;                 /* the next retry (ns) */
    uint64_t sent, failed, dropped;
} sc_notify_state;

/* alerts.c: each rule's state */
typedef struct sc_alert_state {
    uint64_t pending_since;       /* its condition true since (0: false) */
    bool firing;
    uint64_t fired_ms;            /* wall clock, for the notifications */
    uint64_t resend_at;           /* Alertmanager's periodic re-send */
    double value;
} sc_alert_state;

/* emergency.c's state */
typedef struct sc_emergency {
    uint64_t next;
    bool manual;                  /* on by hand: only a hand turns it off */
    uint64_t healthy_since;       /* on: the primaries healthy since (0: not) */
    uint64_t hold_until;          /* off by hand: no automatic trigger before */
    uint64_t warm_due;            /* the next keep-warm probe of a standby route */
} sc_emergency;

/* A terminal answer (or a stream's chunk) on its way into a client's
 * completion ring. It owns all its memory; body_sent tracks how much of a
 * large body is already in the ring when the client reads slowly. The
 * message it was made with lives in the same allocation (msg_buf): the
 * common answer costs one malloc. Made by whoever answers; written into
 * the ring, then freed, by outbox.c. */
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
    char **hname, **hvalue;       /* one allocation at hname: both arrays, then the strings */
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
    /* intake.c (made from the request's records; inflight.c links it) */
    sc_client *client;
    sc_req *prev, *next;          /* the client's in-flight list */
    sc_req *hnext, **hpprev;      /* its id index's chain (inflight.c) */
    uint64_t id;
    uint32_t priority, flags;
    uint64_t t_drain, deadline;   /* monotonic ns */
    char *method, *path, *route, *model;      /* in this allocation */
    uint32_t nheaders;
    char **headers;               /* "name: value", in this allocation */
    uint8_t *body;
    size_t body_len, body_have;
    int32_t refuse;               /* RS_E* to answer once the body is in */
    const char *refuse_why;

    /* upstream.c */
    void *xfer;                   /* the transfer of the attempt in flight */
    uint64_t t_dispatch;          /* when its first attempt started */
    bool flow_hold;               /* its reader is behind (a FLOW record):
                                     deliver no more of this stream for now */

    /* admission.c */
    rsp_sched_item qi;            /* queued for dispatch */
    rsp_heap_node retry_node;     /* waiting out a backoff */
    sc_req *throttled_next;       /* waiting for its client's rate limit */
    bool throttled;
    struct sc_route *rt;          /* the route of the attempt in flight */
    struct sc_route *pinned;      /* the client named this route */
    struct sc_route *last_route;  /* where the last attempt failed */
    uint32_t attempts;
    uint32_t attempts_free;       /* of those, retries of refusals blamed on lower classes */
    uint64_t breaker_epoch;       /* the route breaker's epoch when sent */
    uint64_t sent_at;             /* when the attempt in flight was sent */
    bool panic;                   /* sent despite the route's breaker (every route was out):
                                     its verdict is not the breaker's to hear */
    uint8_t obs_slot;             /* the route its answer is counted under (obs.h) */
    sc_body_req body_scan;        /* the body's top-level keys (model, max_tokens) */
    bool body_scanned;            /* body_scan is filled already */
    double tokens_need;           /* LLM token estimate (prompt + max_tokens) */
    double tokens_reserved;       /* for the attempt in flight */
    sc_completion *last;          /* the last failed attempt's answer */

    void *origin;                 /* a sink client's own (frontdoor.c: the HTTP exchange) */
};

/* Where the answers of a client that is not a ring go: the front door's
 * virtual keys (frontdoor.c), whose requests arrive over HTTP. Called by
 * the module that answers, in the middle of its work, so a sink only takes
 * what it is given and leaves the acting on it to the loop. */
typedef struct sc_sink {
    void (*answer)(sc_req *r, sc_completion *cp);              /* takes cp (not NULL) */
    int (*chunk)(sc_req *r, const void *data, size_t len);     /* a streamed event's data:
                                                                  0 or RS_ENOMEM */
} sc_sink;

struct sc_client {
    /* frontdoor.c: set for an HTTP virtual key (no ring, no socket) */
    const sc_sink *sink;
    const sc_vkey_cfg *vkey;      /* the routes it may use */
    const char *name;             /* the key's name, for logs */

    /* clients.c */
    sc_daemon *d;
    sc_client *prev, *next;
    uint64_t id;
    pid_t pid;
    uid_t uid;
    int sock, sq_efd, cq_efd;
    void *map;
    size_t map_len;
    rs__ring sq, cq;
    bool closing;
    bool watched;                 /* doorbell and hang-up polls armed */
    unsigned ops_pending;
    sc_op sq_bell_op, hup_op, prefault_op;

    /* intake.c */
    rs__ring_cursor sq_cur;       /* our consumer positions: never read back */
    uint64_t capped_at;           /* where a record waits for the in-flight cap */
    sc_req *asm_req;              /* request whose BODY records are due */
    uint64_t stats_requests, stats_bad;

    /* inflight.c */
    sc_req *inflight;             /* accepted, not yet completed */
    sc_req **by_id;               /* and indexed by id: 1 << id_bits chains */
    unsigned id_bits;
    uint64_t id_seed;

    /* outbox.c (n_open: +1 by intake for each record it answers or accepts) */
    uint64_t cq_head;             /* our producer position: never read back */
    uint32_t n_open;              /* accepted and not yet written out */
    sc_completion *out_head, *out_tail;
    size_t out_chunk_bytes;       /* streamed data queued here, not yet in the ring */

    /* upstream.c */
    unsigned paused;              /* transfers paused while out_chunk_bytes is high */

    /* admission.c */
    bool limited;                 /* per-client rate limit configured */
    rsp_bucket limit;
    sc_req *throttled_head, *throttled_tail;

    /* Flags a lower module raises for the loop (daemon.c) to act on. */
    const char *broken;           /* why the client must be dropped (corrupt
                                     ring, no memory for an answer) */
    bool resume_due;              /* its queued stream data went below the
                                     low-water mark: resume paused transfers */
};

enum sc_state { SC_RUNNING, SC_DRAINING, SC_STOPPING };

struct sc_daemon {
    /* daemon.c */
    sc_config cfg;
    int argc;                     /* kept to re-read the configuration on SIGHUP */
    char **argv;
    sc_loop loop;
    enum sc_state state;
    uint64_t drain_deadline;
    bool stop_now;
    int sig_fd;
    sc_op sig_op;
    uint8_t sig_buf[128];
    uint64_t now;                 /* the clock at the start of this loop turn */
    uint64_t started_at;
    uint64_t started_ms;          /* the same, on the wall clock (request ids) */
    int access_fd;                /* access_log.file, or -1 for stderr */
    uint64_t access_rng;
    bool kicked;                  /* a doorbell rang: look at every ring */
    bool reload_asked;            /* POST /admin/reload (admin.c): reload after this turn */
    uint8_t *rxbuf;               /* one record copied out of shared memory (intake) */
    rs__comp_rec *comp_scratch;   /* the completion being packed (outbox) */
    sc_heap_trim heap;            /* heap_trim.c: freed memory back to the kernel */

    /* clients.c */
    int listen_fd;
    sc_op accept_op;
    bool accept_armed;
    /* out of file descriptors: accepts wait ACCEPT_PAUSE_MS at a time
     * (a loop timeout) instead of failing in a hot loop */
    sc_op accept_pause_op;
    bool accept_paused;
    unsigned accept_pauses;       /* in the current episode, for the log */
    sc_client *clients;
    uint32_t nclients;
    uint64_t next_client_id;

    sc_upstream *up;              /* upstream.c */
    sc_admission adm;             /* admission.c */
    sc_obs obs;                   /* counted by admission.c and outbox.c; shown by metrics.c */
    sc_admin *admin;              /* admin.c: the HTTP listener, or NULL */
    sc_door *door;                /* frontdoor.c: the HTTP front door, or NULL */
    struct side_req *side;        /* side.c: its requests in flight */
    sc_timeline timeline;         /* timeline.c: state changes, for /events and the file */
    sc_emergency em;              /* emergency.c */
    sc_rates rates;               /* rates.c: answer totals a second apart */
    sc_notify_state notify;       /* notify.c */
    sc_alert_state alert[SC_MAX_ALERT_RULES];   /* alerts.c */
    uint64_t alerts_next;
    struct {                      /* watch.c: what its last look saw */
        uint64_t next, wake;
        unsigned panic;
        bool shedding[3];
        bool storm;               /* a client storm is on */
        uint64_t storm_at, storm_regs, storm_refused;   /* the second being counted */
    } watch;

    struct {
        uint64_t requests, bad_records, corrupt_rings;            /* intake.c */
        uint64_t completions;                                     /* outbox.c */
        uint64_t clients_accepted, clients_refused, clients_gone;  /* clients.c */
    } stats;
};

#endif
