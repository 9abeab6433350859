/*
 * loop.h — the io_uring event loop every part of the daemon is driven by.
 *
 * An operation is an sc_op embedded in whatever owns it (a client, a
 * socket watch, a transfer); its address is the SQE's user_data, and when
 * its CQE arrives the loop calls op->fn. CQEs whose user_data is 0 (cancel
 * requests, fire-and-forget writes) are dropped. Owners count their
 * pending ops and free themselves only when the count reaches zero, since
 * a cancelled op still delivers a CQE.
 */
#ifndef SC_LOOP_H
#define SC_LOOP_H

#include "clock.h"

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sc_op sc_op;
typedef void (*sc_op_fn)(sc_op *op, int res, uint32_t cqe_flags);

struct sc_op {
    sc_op_fn fn;
};

/* The owner of an op (or of any embedded member), from the member. */
#define container_of(p, T, m) ((T *)(void *)((char *)(p) - offsetof(T, m)))

typedef struct sc_loop {
    struct io_uring ring;
    unsigned unsubmitted;
} sc_loop;

int sc_loop_init(sc_loop *l, unsigned entries);
void sc_loop_destroy(sc_loop *l);

/* An SQE for op (user_data set; op may be NULL for fire-and-forget). Never
 * fails: when the SQ is full it submits first. */
struct io_uring_sqe *sc_loop_sqe(sc_loop *l, sc_op *op);

/* Ask the kernel to cancel op (its own CQE still arrives, with -ECANCELED). */
void sc_loop_cancel(sc_loop *l, sc_op *op);

/* Submit queued SQEs without waiting. */
void sc_loop_flush(sc_loop *l);

/* Is a CQE, or completion work the kernel holds for us, waiting? A plain
 * memory read: for loops that spin. */
bool sc_loop_pending(sc_loop *l);

/* Run the callbacks of every CQE already posted. Returns how many. */
unsigned sc_loop_reap(sc_loop *l);

/* Submit and sleep until at least one CQE or timeout_ns (UINT64_MAX: no
 * timeout) passes. */
void sc_loop_wait(sc_loop *l, uint64_t timeout_ns);


#endif
