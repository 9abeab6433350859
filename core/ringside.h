/*
 * ringside.h — the whole public face of the ringside client library.
 *
 * An application hands each upstream (LLM API) request to the ringside
 * sidecar through a shared-memory ring, with a priority and a deadline, and
 * gets back exactly one terminal completion per request: the upstream's
 * response, or a typed error saying which limit or failure ended it.
 *
 *   rs_client *c;
 *   if (rs_connect(NULL, &c) < 0) ...            // $RINGSIDE_SOCKET or default
 *   rs_request rq = { .path = "/chat/completions", .body = json, .body_len = n };
 *   rs_response *r;
 *   int err = rs_call(c, &rq, 30000, &r);       // or rs_submit + rs_wait/rs_poll
 *   ... r->status, r->body, r->body_len ...
 *   rs_response_free(r);
 *   rs_close(c);
 *
 * Conventions (as liburing's): every function returns 0 (or a count) on
 * success and a negative RS_E* code on failure; it never sets errno for you to
 * read. rs_strerror() turns a code into a sentence that says what to do.
 *
 * Threads: one rs_client may be used by any number of threads at once
 * (submit, wait and poll are thread-safe). rs_close() must not race with
 * other calls on the same client.
 */
#ifndef RINGSIDE_H
#define RINGSIDE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* This header's version; rs_version() gives the library's (they differ
 * when an application runs against another libringside than it was built
 * with). */
#define RS_VERSION_MAJOR 0
#define RS_VERSION_MINOR 1
#define RS_VERSION_PATCH 0

/* Error codes. 0 is success; every error is negative. The same codes travel
 * in completions (rs_response.error) so an application handles a refusal the
 * same way whether it happened at submit time or in the sidecar. */
enum rs_error {
    RS_OK            = 0,
    RS_EAGAIN        = -1,  /* submission ring full right now: back off, retry */
    RS_E2BIG         = -2,  /* over a size limit (rs_last_error says which) */
    RS_EINVAL        = -3,  /* bad argument from the caller */
    RS_ENOMEM        = -4,  /* out of memory */
    RS_ETIMEDOUT     = -5,  /* the wait timed out; the request is still live */
    RS_ENOENT        = -6,  /* unknown ticket, or already consumed */
    RS_EGONE         = -7,  /* sidecar gone (crashed, stopped, or dropped us) */
    RS_ECONNECT      = -8,  /* could not reach / register with the sidecar */
    RS_EPROTO        = -9,  /* protocol or version mismatch with the sidecar */
    RS_ETOOMANY      = -10, /* too many requests outstanding on this client */
    RS_EBADREQ       = -11, /* the sidecar refused a malformed request record */
    RS_EUPSTREAM     = -12, /* upstream answered an error status (see .status) */
    RS_ECONNUP       = -13, /* upstream connection failed / reset / timed out */
    RS_EDEADLINE     = -14, /* the request's deadline passed */
    RS_ESHUTDOWN     = -15, /* the sidecar is shutting down */
    RS_ERATELIMITED  = -16, /* a rate limit refused the request */
    RS_ESHED         = -17, /* shed under overload */
    RS_ECANCELLED    = -18, /* cancelled by the client */
    RS_ENOROUTE      = -19, /* no such route configured in the sidecar */
    RS_ECORRUPT      = -20, /* this client's shared region was found corrupt */
    RS_EINTERNAL     = -21, /* a bug in ringside: please report it */
    RS_EQUEUEFULL    = -22, /* the sidecar's queue for this priority is full */
    RS_EINTERRUPTED  = -23, /* a stream broke after content was delivered */
};

/* Priority classes: P0 real-time, P1 near real-time, P2 batch. */
enum rs_priority { RS_P0 = 0, RS_P1 = 1, RS_P2 = 2 };

/* rs_request.flags */
#define RS_REQ_STREAM 0x1u   /* forward the upstream's SSE events as chunks as they
                                arrive (rs_next_chunk); the terminal response then
                                carries status, headers and timings, no body */

typedef uint64_t rs_ticket;

typedef struct rs_header {
    const char *name;
    const char *value;
} rs_header;

typedef struct rs_request {
    const char *method;        /* NULL = "POST" */
    const char *path;          /* appended to the route's base URL; required */
    const char *route;         /* NULL = the sidecar's default route; "echo" =
                                  answered by the sidecar itself (no network) */
    const char *model;         /* optional model hint for routing/limits */
    const rs_header *headers;  /* extra headers; Authorization is ignored */
    size_t nheaders;
    const void *body;
    size_t body_len;
    int priority;              /* RS_P0..RS_P2; default RS_P1 via RS_REQUEST_INIT */
    uint32_t timeout_ms;       /* deadline from submit; 0 = sidecar default */
    uint32_t flags;            /* RS_REQ_* */
} rs_request;

#define RS_REQUEST_INIT { .priority = RS_P1 }

/* Where the time went, in microseconds, as the sidecar saw it; 0 when a
 * phase did not happen. total_us >= queued_us + first_content_us, and
 * first_byte_us <= first_content_us. */
typedef struct rs_timings {
    uint64_t queued_us;        /* taken from the ring → its first attempt started */
    uint64_t first_byte_us;    /* the answering attempt's start → its first byte */
    uint64_t first_content_us; /* the answering attempt's start → its first real
                                  content (keep-alive blank lines and SSE
                                  comments do not count) */
    uint64_t total_us;         /* taken from the ring → the answer ready to go
                                  back (retries and backoffs included) */
} rs_timings;

typedef struct rs_response {
    rs_ticket ticket;
    int error;                 /* RS_OK or an RS_E* code */
    int status;                /* HTTP status from upstream, 0 if none */
    char *error_msg;           /* NUL-terminated; "" when error == RS_OK */
    rs_header *headers;        /* upstream response headers */
    size_t nheaders;
    uint8_t *body;             /* NUL-terminated for convenience */
    size_t body_len;
    uint32_t attempts;         /* upstream attempts made (0: never sent) */
    char *upstream;            /* name of the route that answered, or "" */
    rs_timings timings;
} rs_response;

typedef struct rs_client rs_client;

/* Connect and register. socket_path NULL → $RINGSIDE_SOCKET, else the pod
 * path /run/ringside/ringside.sock when a socket is there (whatever this
 * process's uid: a pod shares it between containers), else the default
 * for this uid ($XDG_RUNTIME_DIR/ringside.sock, else
 * /tmp/ringside-<uid>/ringside.sock; /run/ringside/ringside.sock for root). */
int rs_connect(const char *socket_path, rs_client **out);

/* Close the client; outstanding tickets are abandoned (the sidecar cancels
 * them). Responses already returned stay valid. */
void rs_close(rs_client *c);

/* Submit without blocking. On success stores a ticket. RS_EAGAIN means the
 * ring is full right now (nothing was sent); RS_E2BIG that the request is
 * over one of the limits of the README's table, which rs_last_error()
 * names with its value (it can never be sent as it is). */
int rs_submit(rs_client *c, const rs_request *rq, rs_ticket *ticket);

/* Wait for one ticket. timeout_ms < 0 waits forever, 0 only checks.
 * Returns 0 and stores the response (free it with rs_response_free), or
 * RS_ETIMEDOUT (the ticket stays valid), RS_ENOENT, RS_EGONE. A response whose
 * .error is not RS_OK is still returned with 0: the request has ended. */
int rs_wait(rs_client *c, rs_ticket t, int timeout_ms, rs_response **out);

/* Collect up to max finished responses of tickets no thread is rs_wait()ing
 * for. Waits up to timeout_ms for the first one. Returns the count (>= 0) or
 * RS_EGONE. */
int rs_poll(rs_client *c, rs_response **out, int max, int timeout_ms);

/* Submit and wait: the synchronous helper. On RS_EAGAIN at submit it retries
 * until the timeout. The request's own deadline is rq->timeout_ms. */
int rs_call(rs_client *c, const rs_request *rq, int timeout_ms, rs_response **out);

void rs_response_free(rs_response *r);

/* ---- streaming (requests submitted with RS_REQ_STREAM) ----
 * Each server-sent event's data arrives as one chunk, in order; keep-alive
 * comments and blank lines never do. After the last chunk, the ticket's
 * terminal response (rs_wait/rs_poll) says how the stream ended: RS_OK, or
 * an error — RS_EINTERRUPTED when the upstream broke after chunks were
 * delivered (such a stream is never retried: the client would see content
 * twice). A client that reads slowly slows only its own streams. */
typedef struct rs_chunk {
    rs_ticket ticket;
    uint64_t seq;              /* 0, 1, 2, … within the stream */
    uint8_t *data;             /* the event's data, NUL-terminated */
    size_t len;
    uint64_t sidecar_ns;       /* CLOCK_MONOTONIC when the sidecar got it */
} rs_chunk;

/* Next chunk of one stream. Returns 1 with *out set (free it with
 * rs_chunk_free), 0 when no chunk will come any more (rs_wait now returns
 * the terminal response, or another thread's rs_wait already took it), or
 * RS_ETIMEDOUT, RS_ENOENT, RS_EGONE, RS_EINVAL (another thread is already
 * reading this stream). One thread may wait for a ticket's response while
 * another reads its chunks; while a thread waits in rs_wait and none reads,
 * the ticket's chunks (queued or arriving) are dropped.
 * A stream whose reader is $RINGSIDE_STREAM_WINDOW bytes behind (default
 * 256 KiB of unread chunks) is held at the sidecar, its upstream transfer
 * paused, until the reader is down to a quarter of that; the client's
 * other tickets go on meanwhile. Over $RINGSIDE_CHUNK_BUFFER unread in all
 * (default 64 MiB: many held streams) the client stops taking anything
 * from the sidecar until some are read. */
int rs_next_chunk(rs_client *c, rs_ticket t, int timeout_ms, rs_chunk **out);

/* Chunks of any streams no thread is reading with rs_next_chunk, for one
 * thread multiplexing many streams (terminal responses still come from
 * rs_poll). Returns the count (>= 0) or RS_EGONE. */
int rs_poll_chunks(rs_client *c, rs_chunk **out, int max, int timeout_ms);

void rs_chunk_free(rs_chunk *ch);

/* Ask the sidecar to cancel a request or stream: it aborts the upstream
 * transfer and the ticket ends with RS_ECANCELLED (or with its real result,
 * if that came first). The ticket still gets exactly one terminal response. */
int rs_cancel(rs_client *c, rs_ticket t);

/* Give up on a ticket: nobody will wait for it or read it any more. The
 * sidecar is asked to cancel it (when the submission ring is full at that
 * moment, the CANCEL goes as soon as the sidecar makes room); its chunks
 * and its terminal response are dropped as they arrive, never delivered
 * (rs_poll and rs_poll_chunks never see them), and its slot is reused
 * after that. A thread that is waiting for it (rs_wait) or reading it
 * (rs_next_chunk) at that moment returns RS_ENOENT at once, as every later
 * call with the ticket does. Returns 0, RS_ENOENT (not a live ticket:
 * unknown, consumed, or abandoned already) or RS_EINVAL (an item of an
 * rs_batch: rs_batch_free abandons those). */
int rs_abandon(rs_client *c, rs_ticket t);

/* ---- batches ---- */

/* Submit n requests with one doorbell. tickets[i] and errors[i] (0 or the
 * RS_E* that refused item i; RS_EAGAIN: ring full, resubmit it later) are
 * set for every item. Returns how many were accepted, or RS_EGONE. */
int rs_submit_batch(rs_client *c, const rs_request *rqs, size_t n, rs_ticket *tickets, int *errors);

/* Submit n, wait for all (up to timeout_ms), store the responses in order:
 * out[i] is never NULL — an item refused at submit, or still running at the
 * timeout, gets a response whose error says so (RS_ETIMEDOUT: it was
 * abandoned and the sidecar finishes it unseen). Returns 0 or RS_ENOMEM.
 * It is one rs_batch run to its end or its timeout (below). */
int rs_call_batch(rs_client *c, const rs_request *rqs, size_t n, int timeout_ms, rs_response **out);

/* A batch driven in slices: rs_call_batch's work spread over as many calls
 * as the caller likes, so that it can stop between them (a binding checks
 * for Ctrl-C there; an event loop runs its other tasks).
 *
 *   rs_batch *b;
 *   if (rs_batch_new(c, rqs, n, &b) == 0) {
 *       int done;
 *       while ((done = rs_batch_run(b, 100)) == 0 && !interrupted())
 *           ;
 *       for (size_t i = 0; i < n; i++)
 *           if ((r = rs_batch_take(b, i)) != NULL) ... rs_response_free(r);
 *       rs_batch_free(b);        // abandons what is still in flight
 *   }
 *
 * One thread at a time drives a batch; other threads may use the client
 * meanwhile. The batch owns its tickets from the moment they are
 * submitted: rs_poll never returns their answers, and rs_wait or
 * rs_abandon on one gets RS_EINVAL. */
typedef struct rs_batch rs_batch;

/* A batch of n requests; nothing is sent yet. rqs and everything it points
 * to must stay valid until rs_batch_free. Returns 0, RS_EINVAL, RS_E2BIG
 * (n over UINT32_MAX) or RS_ENOMEM. */
int rs_batch_new(rs_client *c, const rs_request *rqs, size_t n, rs_batch **out);

/* Submit what fits, in order (items that find the ring full or every slot
 * taken go in later, as answers make room), and wait for answers up to
 * timeout_ms (< 0: no limit; 0: only look). Returns 1 once every item has
 * its answer, 0 when the time is up first (call again), or an error that
 * ends the batch: RS_EGONE, RS_ECORRUPT... (the channel failed; the
 * answers that came before it can still be taken) or RS_ENOMEM; later
 * calls return it again. An item refused at submit (RS_E2BIG, RS_EINVAL)
 * gets a response with ticket 0 and that error, whose error_msg is the
 * detail rs_last_error() gave. */
int rs_batch_run(rs_batch *b, int timeout_ms);

/* Item i's answer (the caller frees it with rs_response_free); NULL if it
 * has not come yet, was taken already, or i >= n. */
rs_response *rs_batch_take(rs_batch *b, size_t i);

/* Free the batch and the answers nobody took. Items still in flight are
 * abandoned (rs_abandon: cancelled at the sidecar, their answers dropped).
 * May come after rs_close: then it only frees memory. */
void rs_batch_free(rs_batch *b);

/* ---- event loops ----
 * A file descriptor that becomes readable when completions or chunks may be
 * waiting, for asyncio, libuv, epoll… Before waiting on it, call
 * rs_arm_event_fd: 1 means something is already waiting (poll now instead),
 * 0 means it is safe to wait. Then collect with rs_poll / rs_poll_chunks /
 * rs_wait(…, 0, …). Arming consumes the fd's readiness: arm once per wait
 * of the loop, not once per waiting task, and after each wait let every
 * task that waits on this client look again (one loop per client). */
int rs_event_fd(rs_client *c);
int rs_arm_event_fd(rs_client *c);

/* Look up a response header by name (case-insensitive); NULL if absent. */
const char *rs_response_header(const rs_response *r, const char *name);

/* The version of the libringside in use, "MAJOR.MINOR.PATCH". */
const char *rs_version(void);

/* A sentence for an RS_E* code; never NULL. */
const char *rs_strerror(int err);

/* The symbolic name of an RS_E* code ("RS_EAGAIN"); never NULL. */
const char *rs_errname(int err);

/* Detail of the last failure in this thread of rs_connect (for example the
 * sidecar's reason for refusing the registration), or of a submit refused
 * with RS_E2BIG or RS_EINVAL (which limit, and its value: "9 headers…",
 * "path is 9000 bytes; the limit is 8192"); "" if none yet. Not set for
 * RS_EAGAIN and RS_ETOOMANY, which need no detail. */
const char *rs_last_error(void);

/* Counters of this client, for tests and operators. */
typedef struct rs_client_stats {
    uint64_t submitted;        /* requests accepted by rs_submit */
    uint64_t completed;        /* terminal completions received */
    uint64_t ring_full;        /* rs_submit calls refused with RS_EAGAIN */
    uint64_t doorbells;        /* wakeups the client had to ring */
    uint64_t sleeps;           /* times a waiter went to sleep */
    uint64_t orphans;          /* completions not matching any ticket
                                  (e.g. errors for garbage records) */
    uint64_t stream_holds;     /* times a stream's unread chunks reached
                                  RINGSIDE_STREAM_WINDOW and the sidecar was
                                  asked to hold it until they are read */
} rs_client_stats;

void rs_client_get_stats(rs_client *c, rs_client_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* RINGSIDE_H */
