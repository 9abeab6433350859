/*
 * sched.h — the admission scheduler: the P0/P1/P2 wait queues of requests
 * that the upstream cannot take yet.
 *
 * It owns two decisions: which queued request goes next when the sidecar has
 * capacity, and which queued request has run out of time. Everything else
 * (rate tokens, the concurrency cap, P0's reserved share, answering a request)
 * stays with the caller:
 *
 *   push()          enqueue, or refuse at once with RS_EQUEUEFULL (the class is
 *                   at its bound): backpressure at submit time, never a drop later
 *   next()          peek at what should go next; no side effect, so the caller
 *                   may look and then decide it has no capacity after all
 *   take()          dequeue that item and charge its class for the service
 *   remove()        dequeue without charging (client gone, cancelled)
 *   pop_expired()   one item whose deadline has passed, for DEADLINE_EXCEEDED
 *   next_deadline() the earliest queued deadline, for the loop's wait timeout
 *
 * Order: P0 is strict priority. P1 and P2 share what is left by weight
 * (stride scheduling: each class has a virtual "pass", advanced by
 * ONE/weight per take; the smaller pass goes next, ties to P1), so 70/30
 * means 70% of takes are P1 while both are backlogged, exactly and
 * deterministically, not on average. A class that was idle re-enters at the
 * current virtual time, so it cannot bank the share it did not use and then
 * starve the other class. A P2 head older than aging_ns goes before a younger
 * P1 head, so P2 waits a bounded time even when P1 never runs dry; its take
 * is still charged to P2, so aging cannot raise P2's long-run share while P1
 * keeps winning on weight.
 *
 * Data structure: items are intrusive (embedded in the sidecar's request), so
 * pushing allocates nothing; each class is a doubly linked FIFO (O(1) remove
 * from the middle), and every queued item is also in one deadline min-heap
 * (sidecar/policy/heap.h: O(log n) expiry and removal, O(1) earliest deadline). Its array is
 * the only allocation, sized in init/reconfigure to the most items the bounds
 * allow, so the hot path never allocates and never fails for lack of memory.
 *
 * Pure policy: `now` (monotonic ns) is passed in; no clock, no sleep, no
 * global state. Not thread-safe: the sidecar's one loop owns it.
 *
 * Shutdown: rsp_sched_pop_expired(s, UINT64_MAX) hands back every queued item
 * (earliest deadline first), so the caller can answer each one before
 * rsp_sched_destroy(), which does not touch items.
 */


#ifndef RSP_SCHEDULER_H
#define RSP_SCHEDULER_H

#include "heap.h"

#include <stdbool.h>
#include <stdint.h>

#define RSP_SCHED_NPRIO 3

#define RSP_SCHED_DEFAULT_MAX_QUEUED 1000u
#define RSP_SCHED_DEFAULT_WEIGHT_P1  70u
#define RSP_SCHED_DEFAULT_WEIGHT_P2  30u
#define RSP_SCHED_DEFAULT_AGING_NS   (5ull * 1000000000ull)

typedef struct rsp_sched_item {        /* embedded in the sidecar's request struct */
    struct rsp_sched_item *next, *prev;  /* FIFO links within its class */
    uint64_t enq_ns;                    /* set by push */
    uint64_t deadline_ns;               /* set by the caller before push */
    rsp_heap_node dl;                   /* in the deadline heap, keyed by deadline_ns */
    uint8_t prio;                       /* 0..2, set by the caller */
    uint8_t queued;                     /* 1 while in the scheduler */
} rsp_sched_item;

typedef struct rsp_sched_cfg {
    uint32_t max_queued[3];   /* bound per class (e.g. 1000 each); 0 refuses every push */
    uint32_t weight[3];       /* weight[1] and weight[2] (default 70, 30); weight[0] unused:
                                 strict priority. A weight of 0 serves that class only
                                 when the other has nothing queued (or through aging);
                                 both 0 are treated as equal weights. */
    uint64_t aging_ns;        /* a P2 item waiting longer than this is served before P1
                                 items that are younger; 0 = off (default 5 s) */
} rsp_sched_cfg;

/* Counters for operators; monotonic, never reset by reconfigure. */
typedef struct rsp_sched_stats {
    uint64_t pushed[3];       /* accepted by push */
    uint64_t refused[3];      /* refused by push with RS_EQUEUEFULL */
    uint64_t taken[3];        /* dequeued by take (dispatched) */
    uint64_t removed[3];      /* dequeued by remove (cancelled) */
    uint64_t expired[3];      /* dequeued by pop_expired */
} rsp_sched_stats;

/* Fields are visible so it can be embedded by value; treat them as private. */
typedef struct rsp_sched {
    rsp_sched_cfg cfg;
    rsp_sched_item *head[3], *tail[3];  /* FIFO per class: take at head, push at tail */
    uint32_t len[3];
    rsp_heap dl;                       /* every queued item, by deadline (heap.h) */
    /* Weighted fair share between P1 and P2 (indices 1 and 2; 0 unused). */
    uint64_t stride[3];                /* RSP_SCHED_ONE / weight; 0 for weight 0 */
    uint64_t pass[3];                  /* virtual time each class has consumed */
    uint64_t vtime;                    /* re-entry point of a class that was idle */
    rsp_sched_stats stats;
} rsp_sched;

/* The defaults: 1000 per class, weights 70/30, aging 5 s. */
void rsp_sched_cfg_default(rsp_sched_cfg *cfg);

int rsp_sched_init(rsp_sched *s, const rsp_sched_cfg *cfg);         /* 0 or RS_ENOMEM; cfg NULL = defaults */
void rsp_sched_destroy(rsp_sched *s);
int rsp_sched_reconfigure(rsp_sched *s, const rsp_sched_cfg *cfg);  /* keeps queued items even above a lowered
                                                                    bound (new pushes refused until below);
                                                                    0 or RS_ENOMEM (old config kept) */
/* 0, or RS_EQUEUEFULL (class at its bound; item untouched), or RS_EINVAL
 * (prio > 2, or the item is already queued; item untouched). */
int rsp_sched_push(rsp_sched *s, rsp_sched_item *it, uint64_t now);
/* Classes rsp_sched_next may return (a bit per class): the caller leaves
 * out a class that no upstream can take now (e.g. P2 under an embargo P1
 * does not have), so that class's head does not hold up the others. */
#define RSP_SCHED_P0  1u
#define RSP_SCHED_P1  2u
#define RSP_SCHED_P2  4u
#define RSP_SCHED_ALL 7u
/* The item that should be dispatched next among the classes in `allow`, without removing it: P0 head
   if any; else a P2 head older than aging_ns whose P1 head (if any) is younger, else the P1 or P2
   head chosen by weighted fair sharing between the two classes. NULL if nothing eligible. No side
   effect. */
rsp_sched_item *rsp_sched_next(rsp_sched *s, uint64_t now, unsigned allow);
/* Remove `it` (normally the one next() returned) and charge its class for the service.
   No-op if `it` is not queued in `s`. */
void rsp_sched_take(rsp_sched *s, rsp_sched_item *it);
/* Remove any queued item without charging (client gone, cancelled). No-op if not queued. */
void rsp_sched_remove(rsp_sched *s, rsp_sched_item *it);
/* One queued item whose deadline_ns <= now, removed; NULL if none. O(log n). Earliest deadline first. */
rsp_sched_item *rsp_sched_pop_expired(rsp_sched *s, uint64_t now);
uint64_t rsp_sched_next_deadline(const rsp_sched *s);   /* earliest deadline queued, UINT64_MAX if empty */
uint32_t rsp_sched_len(const rsp_sched *s, int prio);   /* 0 for a prio outside 0..2 */

/* How many P1/P2 requests may be in flight at once: the upstream capacity
 * known to hold (`safe`, summed over the routes that can take requests)
 * less P0's reserve, plus the probe slots above it (`probe`: only P1/P2
 * probe an upstream's limit, so a probe's refusal never lands on P0). The
 * reserve is ceil(safe × p0_share), at least one slot when there are two or
 * more (truncating a share of a small capacity gave P0 none), and none
 * with a single slot (P1/P2 would never run at all). */
uint32_t rsp_sched_p12_room(uint32_t safe, uint32_t probe, double p0_share);

#endif /* RSP_SCHEDULER_H */
