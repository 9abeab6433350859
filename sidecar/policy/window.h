/*
 * window.h — two counts over a sliding window of time: what a share is
 * computed from (retries among first attempts, failures among a route's
 * verdicts, refusals among requests).
 *
 * RSP_WINDOW_SLOTS fixed slots of span / SLOTS each, a ring of counters:
 * O(1) memory, no allocation, and counts fall out of the window a slot at
 * a time as `now` passes, so the window covers between SLOTS-1 and SLOTS
 * slots of the past. A gap longer than the whole window clears every slot
 * in one step, not one slot per elapsed slot. A `now` older than the
 * current slot's start (a stale timestamp) is counted in the current slot
 * and expires nothing. Counters saturate at UINT32_MAX instead of
 * wrapping. Slots are aligned to the time of init, not to wall-clock
 * seconds: only differences of `now` matter.
 *
 * Pure: `now` is passed in.
 */
#ifndef RSP_WINDOW_H
#define RSP_WINDOW_H

#include <stdint.h>

#define RSP_WINDOW_SLOTS 10

typedef struct rsp_window {
    uint64_t span_ns;          /* the whole window (a span under SLOTS ns gives 1 ns slots) */
    uint64_t slot_start_ns;    /* start of slot `cur` */
    unsigned cur;
    uint32_t a[RSP_WINDOW_SLOTS], b[RSP_WINDOW_SLOTS];
} rsp_window;

/* Empty, its first slot starting now. */
void rsp_window_init(rsp_window *w, uint64_t span_ns, uint64_t now_ns);

/* A new span (a reload); the counts stay. */
void rsp_window_set_span(rsp_window *w, uint64_t span_ns);

/* Count a and b (each 0 or more) at now. */
void rsp_window_add(rsp_window *w, uint64_t now_ns, uint32_t a, uint32_t b);

/* The sums over the window as of now. */
void rsp_window_sums(rsp_window *w, uint64_t now_ns, uint64_t *a, uint64_t *b);

#endif
