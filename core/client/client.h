/*
 * client.h — the inside of an rs_client, shared by the files of the client
 * library (core/client/), one file per job:
 *   connect.c  registration, rs_connect / rs_close, liveness, stats
 *   slots.c    ticket slots: the lock-free free list, the done list, claims
 *   submit.c   rs_submit (limits checked, records packed into the ring),
 *              batches of submits, cancels, the sidecar's doorbell, and
 *              control records (CANCEL, FLOW) that wait for room
 *   reap.c     the reaper: drains the completion ring, hands responses and
 *              stream chunks to their tickets, sleeps and wakes waiters
 *   wait.c     rs_wait, rs_poll, rs_call, rs_abandon
 *   stream.c   reading streams (rs_next_chunk, rs_poll_chunks) and their
 *              per-stream flow control (FLOW records)
 *   batch.c    rs_batch (a batch driven in slices) and rs_call_batch
 *   eventfd.c  the pollable fd for event loops
 *   errors.c   error names and sentences, the last error's detail, version
 *
 * Submit is lock-free: a ticket slot comes off a lock-free free-list, the
 * records are packed straight into space reserved with one CAS, and the
 * doorbell is rung only if the sidecar said it is asleep.
 *
 * Completions are read by one thread at a time, the "reaper" (the leader of
 * a leader/followers scheme, as in many RPC clients): whichever waiting
 * thread finds no reaper becomes it, drains the completion ring, hands each
 * response to its ticket slot, and wakes the followers. The reaper spins
 * briefly before it sleeps, because on a busy channel the next completion is
 * a few hundred nanoseconds away and a sleep/wake pair costs tens of
 * microseconds. It sleeps in epoll_wait() on the completion doorbell *and* the
 * registration socket, so a dead sidecar (socket hang-up) wakes every waiter
 * with RS_EGONE instead of leaving it hanging. Slot bookkeeping is guarded by
 * a mutex (mu) that is never held across a sleep or a ring operation.
 *
 * Internal names: rs__ (the public API is rs_); "_locked" functions expect
 * mu held.
 */
#ifndef RS_CLIENT_H
#define RS_CLIENT_H

#include "ringside.h"

#include "clock.h"
#include "record.h"
#include "ring.h"
#include "spin.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum slot_state { S_FREE, S_PENDING, S_DONE };

#define NIL UINT32_MAX

typedef struct slot {
    _Atomic uint32_t gen;        /* bumped on every reuse: stale tickets miss */
    _Atomic uint32_t state;      /* enum slot_state */
    _Atomic uint32_t free_next;  /* free-list link */
    /* guarded by client.mu: */
    bool waited;                 /* a thread is in rs_wait for it, or a batch
                                    owns it (batch != NULL) */
    bool abandoned;              /* nobody will take its answer: drop its
                                    chunks and answer as they come */
    bool chunk_reader;           /* a thread is in rs_next_chunk for it */
    bool cancel_due;             /* abandoned, and its CANCEL found the
                                    submission ring full (see sq_due) */
    uint32_t prev, next;         /* done-list links */
    rs_response *resp;
    rs_chunk *chunk_head, *chunk_tail;   /* streamed chunks not yet read */
    size_t unread;               /* their bytes */
    bool held;                   /* we asked the sidecar to hold the stream */
    struct rs_batch *batch;      /* the batch whose item this is, or NULL */
    uint32_t batch_item;         /* and which item */
} slot;

/* rs_chunk plus its queue link; the public part comes first */
typedef struct chunk_item {
    rs_chunk pub;
    struct chunk_item *next;
} chunk_item;

struct rs_client {
    int sock, sq_efd, cq_efd;
    void *map;
    size_t map_len;
    rs__ring sq, cq;
    uint32_t max_record, max_inflight;
    rs__spin spin;   /* whether to spin for an answer (the reaper's) */

    slot *slots;
    _Atomic uint64_t free_head;  /* (aba tag << 32) | (index + 1); 0 = empty */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool reaper_active;
    uint32_t nwaiters;
    uint32_t done_head, done_tail;   /* finished, unclaimed tickets, FIFO */
    uint32_t chunk_cursor;           /* where rs_poll_chunks resumes its scan */
    /* Unread chunk bytes. A stream with stream_window of them unread is
     * held at the sidecar (a FLOW record), so its reader's pace holds back
     * only its own upstream transfer and never the other tickets. Over
     * chunk_limit in all (many held streams, or a sidecar without FLOW)
     * the reaper stops reading the ring: the ring fills and the sidecar
     * pauses this client's streams, and everything waits for the readers. */
    _Atomic size_t chunk_bytes;
    size_t chunk_limit, stream_window;
    bool flow;                       /* the sidecar takes FLOW records */
    bool sq_due;                     /* a FLOW or CANCEL record found the
                                        submission ring full: the reaper
                                        sends it (rs__send_due_locked) */
    struct rs_batch *batches;        /* live batches, detached by rs_close */
    int epfd;                        /* rs_event_fd, made on first use */
    int wait_ep;                     /* the reaper sleeps here (see reaper_idle) */
    _Atomic int dead;                /* 0, or why the channel is unusable */
    bool dead_drained;               /* and the ring was emptied after that */

    /* reaper-only state: */
    rs__ring_cursor cq_cur;
    uint8_t *rxbuf;
    rs_response *asm_resp;           /* response whose body is arriving */
    uint64_t asm_id, asm_have;
    chunk_item *asm_chunk;           /* chunk whose data is arriving */

    struct {
        _Atomic uint64_t submitted, completed, ring_full, doorbells, sleeps, orphans, stream_holds;
    } st;
};

static inline uint64_t rs__deadline_of(int timeout_ms)
{
    if (timeout_ms < 0)
        return UINT64_MAX;
    return rs__now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/* The state of slot idx if it still belongs to ticket t, else S_FREE.
 * A slot leaves S_FREE in rs__submit_one, without mu: the generation is
 * bumped first, then the state is stored with release. Reading the state
 * first (acquire), then the generation, a reader that sees the new state
 * sees the new generation too. The other order could pair the old
 * generation with the new state and take a spent ticket for the slot's
 * new one. */
static inline uint32_t rs__ticket_state(rs_client *c, rs_ticket t)
{
    uint32_t idx = (uint32_t)t;
    if (idx >= c->max_inflight)
        return S_FREE;
    uint32_t state = atomic_load_explicit(&c->slots[idx].state, memory_order_acquire);
    if (atomic_load_explicit(&c->slots[idx].gen, memory_order_relaxed) != (uint32_t)(t >> 32))
        return S_FREE;
    return state;
}

static inline bool rs__cq_has_record(rs_client *c)
{
    return rs__ring_has_frame(&c->cq, c->cq_cur.pos);
}

/* errors.c: the detail rs_last_error() returns, per thread */
extern _Thread_local char rs__last_error[256];
int rs__fail_detail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* connect.c */
bool rs__sidecar_gone(rs_client *c);
void rs__mark_dead(rs_client *c, int why);

/* slots.c */
void rs__free_push(rs_client *c, uint32_t idx);
int rs__free_pop(rs_client *c, uint32_t *idx);
void rs__done_append(rs_client *c, uint32_t idx);
void rs__done_unlink(rs_client *c, uint32_t idx);
void rs__free_chunks(rs_client *c, slot *s);
void rs__slot_release(rs_client *c, uint32_t idx);
slot *rs__live_slot_locked(rs_client *c, rs_ticket t);
/* What a thread claims a ticket's slot for: one waiter for the response,
 * one reader for the stream's chunks (the two may differ). */
enum claim { CLAIM_RESPONSE, CLAIM_CHUNKS };
slot *rs__claim_locked(rs_client *c, rs_ticket t, enum claim what, int *err);

/* submit.c */
extern _Thread_local bool rs__woke_sidecar;
/* owner: the batch that claims the ticket (item is its index), or NULL */
int rs__submit_one(rs_client *c, const rs_request *rq, rs_ticket *ticket, struct rs_batch *owner,
                   uint32_t item);
void rs__maybe_ring(rs_client *c);
void rs__ring_doorbell(rs_client *c);
bool rs__put_control_locked(rs_client *c, rs__pack_fn fn, const void *rec);
void rs__send_due_locked(rs_client *c);

/* reap.c */
int rs__wait_more(rs_client *c, bool first, uint64_t deadline);
void rs__wake_reaper(rs_client *c);

/* wait.c */
/* Collect up to max finished things of tickets nobody waits on; mu held. */
typedef int (*rs__take_fn)(rs_client *c, void *out, int max);
int rs__poll_any(rs_client *c, void *out, int max, int timeout_ms, rs__take_fn take);
int rs__abandon_locked(rs_client *c, rs_ticket t, bool cancel);
void rs__unclaim_abandoned_locked(rs_client *c, uint32_t idx);

/* batch.c */
void rs__batch_finished_locked(struct rs_batch *b, uint32_t item);
void rs__batches_detach(rs_client *c);

/* stream.c */
void rs__flow_sync_locked(rs_client *c, uint32_t idx);
void rs__drop_unread_locked(rs_client *c, uint32_t idx);

#endif
