/*
 * shim.h — the C surface that SWIG wraps for every language binding.
 *
 * ringside.h is shaped for C programs: structs filled in place, arrays of
 * header structs, output pointers, blocking calls. Each of those needs its
 * own typemaps in each SWIG target language, and three sets of typemaps are
 * three places for the same bug. This shim reshapes the API once, in C, so
 * that the SWIG interface (ringside.i) stays almost language-neutral:
 *
 *   - handles are opaque (rsb_client, rsb_batch); responses and chunks are
 *     handed over as rs_response* / rs_chunk*, whose ownership passes to
 *     the caller: a per-language "out" typemap converts each in one go,
 *     copying the body once into a native string, and frees it at once;
 *   - a request is one call with scalar arguments; its headers are text,
 *     "Name: value" lines, and its body is a pointer and a length;
 *   - a function that can fail returns NULL / 0 / a negative code and
 *     leaves the reason in a per-thread code (rsb_errcode, as errno), so no
 *     language needs output-parameter typemaps;
 *   - blocking waits run in short slices through hooks the language module
 *     installs at load time: each slice runs without the interpreter lock
 *     (Python's GIL, Ruby's GVL), and between slices the language may claim
 *     the thread back (Ctrl-C, Thread#raise) — the call then returns
 *     RSB_EINTR and the binding raises the language's own exception;
 *   - every call on a client holds a read lock and rsb_close takes it for
 *     writing, so closing a client while other threads wait on it is safe
 *     (rs_close alone must not race with other calls).
 *
 * Everything here follows ringside.h's convention: errors are RS_E* codes,
 * never errno, plus the two shim-only codes below.
 */
#ifndef RINGSIDE_BINDINGS_SHIM_H
#define RINGSIDE_BINDINGS_SHIM_H

#include "ringside.h"

#include <stddef.h>
#include <stdint.h>

/* Shim-only codes, far below the RS_E* range. */
enum {
    RSB_EINTR   = -1000, /* the language interrupted a wait (signal, Thread#raise) */
    RSB_ECLOSED = -1001, /* the client was closed */
};

/* ---- hooks a language module installs once, at load time ---- */

typedef void *(*rsb_work_fn)(void *);
typedef struct rsb_hooks {
    /* Run work(arg) with the interpreter lock released. It may skip the
     * call when the language has an interrupt pending (Ruby does); the shim
     * notices and asks interrupted(). NULL: call it directly. */
    void (*without_lock)(rsb_work_fn work, void *arg);
    /* With the lock held, between slices of a wait: nonzero when the
     * language wants the thread back (it keeps the exception to raise when
     * the call returns RSB_EINTR). NULL: never. */
    int (*interrupted)(void);
} rsb_hooks;

void rsb_set_hooks(const rsb_hooks *h);

/* ---- errors ---- */

/* The code left by this thread's last rsb_ call that can fail (0: none). */
int rsb_errcode(void);
/* Detail of that failure (the sidecar's reason for a refused connection,
 * which argument was bad, ...); "" if none. */
const char *rsb_errdetail(void);
/* rs_strerror / rs_errname, knowing the shim's own codes too. */
const char *rsb_strerror(int code);
const char *rsb_errname(int code);
/* rs_version(): the libringside in use. */
const char *rsb_version(void);

/* ---- clients ---- */

typedef struct rsb_client rsb_client;

/* Connect (socket_path NULL: $RINGSIDE_SOCKET, else the default). NULL on
 * failure (RS_ECONNECT, RS_EPROTO, RS_ENOMEM; detail from the sidecar). */
rsb_client *rsb_connect(const char *socket_path);
/* Close the channel; waits for calls in other threads to leave it (at most
 * one wait slice). Later calls fail with RSB_ECLOSED. Idempotent. */
void rsb_close(rsb_client *c);
/* Close if needed and free the handle (the languages' finalizers). */
void rsb_client_free(rsb_client *c);
int rsb_closed(rsb_client *c);

/* The request of rsb_submit / rsb_call / rsb_batch_add, as arguments:
 * method NULL = POST; route NULL = default route, "echo" = answered by the
 * sidecar; headers NULL or "Name: value" lines separated by '\n';
 * priority 0..2; timeout_ms the request's deadline (0 = sidecar default);
 * flags RS_REQ_*. */
#define RSB_REQUEST_PARAMS const char *method, const char *path, const char *route, \
    const char *model, const char *headers, const void *body, size_t body_len,     \
    int priority, int timeout_ms, unsigned flags

/* Submit without blocking. Returns the ticket; on failure 0 with the code
 * in rsb_errcode() (RS_EAGAIN: ring full right now). A ticket can be 0 in
 * principle (after 2^32 reuses of slot 0), so the code is what decides. */
uint64_t rsb_submit(rsb_client *c, RSB_REQUEST_PARAMS);
/* Submit, retrying a full ring (RS_EAGAIN, RS_ETOOMANY) for up to wait_ms
 * (< 0: no limit), as rsb_call does: for streams, which are submitted and
 * then read chunk by chunk. Returns as rsb_submit. */
uint64_t rsb_submit_wait(rsb_client *c, RSB_REQUEST_PARAMS, int wait_ms);
/* Submit and wait up to wait_ms (< 0: until the terminal completion). A
 * full ring is retried until then. NULL on failure; on RS_ETIMEDOUT or
 * RSB_EINTR the request is cancelled and its answer discarded. */
rs_response *rsb_call(rsb_client *c, RSB_REQUEST_PARAMS, int wait_ms);

/* Wait for one ticket. NULL on failure: RS_ETIMEDOUT (still live, wait
 * again), RS_ENOENT, RS_EGONE, RSB_EINTR (still live), RSB_ECLOSED. */
rs_response *rsb_wait(rsb_client *c, uint64_t ticket, int wait_ms);
/* One finished response of a ticket nobody waits for, or NULL
 * (RS_ETIMEDOUT when none came within wait_ms). */
rs_response *rsb_poll(rsb_client *c, int wait_ms);

/* Next chunk of a stream, or NULL: with rsb_errcode() 0 the stream is over
 * (rsb_wait gives its terminal response), else RS_ETIMEDOUT, RS_ENOENT, ... */
rs_chunk *rsb_next_chunk(rsb_client *c, uint64_t ticket, int wait_ms);
/* One chunk of any stream nobody reads with rsb_next_chunk, or NULL. */
rs_chunk *rsb_poll_chunk(rsb_client *c, int wait_ms);

/* Ask the sidecar to cancel; the ticket still ends with one response. */
int rsb_cancel(rsb_client *c, uint64_t ticket);
/* Cancel and forget (rs_abandon): the library drops the terminal answer
 * and any chunks as they arrive, so the ticket's slot is not leaked. */
void rsb_abandon(rsb_client *c, uint64_t ticket);

/* rs_event_fd / rs_arm_event_fd, for event loops. */
int rsb_event_fd(rsb_client *c);
int rsb_arm_event_fd(rsb_client *c);

/* A counter of rs_client_stats by name ("submitted", "completed",
 * "ring_full", "doorbells", "sleeps", "orphans", "stream_holds"); 0 for
 * another name. */
uint64_t rsb_stat(rsb_client *c, const char *name);
/* The names above, space-separated. */
const char *rsb_stat_names(void);

/* CLOCK_MONOTONIC in nanoseconds, the clock of rs_chunk.sidecar_ns: Lua
 * has no clock of its own to measure a chunk's delay (or a round trip). */
uint64_t rsb_monotonic_ns(void);

/* ---- batches ---- */

typedef struct rsb_batch rsb_batch;

rsb_batch *rsb_batch_new(void);
void rsb_batch_free(rsb_batch *b);
/* Append a request (strings and body are copied). Returns its index or an
 * RS_E* code. */
int rsb_batch_add(rsb_batch *b, RSB_REQUEST_PARAMS);
size_t rsb_batch_size(rsb_batch *b);
/* Submit every item with one doorbell (rs_submit_batch); then
 * rsb_batch_ticket / rsb_batch_error say what happened to each. Returns how
 * many were accepted, or an RS_E* code. */
int rsb_batch_submit(rsb_client *c, rsb_batch *b);
uint64_t rsb_batch_ticket(rsb_batch *b, size_t i);
int rsb_batch_error(rsb_batch *b, size_t i);
/* Submit every item and wait for all, up to wait_ms in total (< 0: no
 * limit), resubmitting items the full ring refused as answers make room
 * (an rs_batch run in slices). Returns 0 (then take each item's result)
 * or an RS_E* / RSB_E* code that ended the whole batch. Unfinished items
 * are abandoned. */
int rsb_batch_call(rsb_client *c, rsb_batch *b, int wait_ms);
/* The response of item i after rsb_batch_call (ownership passes to the
 * caller), or NULL with the item's code in rsb_errcode(). */
rs_response *rsb_batch_take(rsb_batch *b, size_t i);

#endif /* RINGSIDE_BINDINGS_SHIM_H */
