/*
 * loop.c — io_uring plumbing (see loop.h). Timers are the wait timeout of
 * io_uring_submit_and_wait_timeout(): the daemon computes its nearest
 * deadline (libcurl's timer, the drain deadline, request deadlines) and
 * sleeps in the kernel until then, so no timer costs an SQE of its own.
 */
#include "loop.h"

#include "log.h"

#include <errno.h>
#include <string.h>
#include <time.h>

int sc_loop_init(sc_loop *l, unsigned entries)
{
    memset(l, 0, sizeof *l);
    struct io_uring_params p = { 0 };
    /* A CQ four times the SQ: bursts of completions from many sockets and
     * clients must not overflow between two reaps. One thread submits, and
     * completion work (a doorbell's poll firing, a socket becoming
     * readable) is deferred until we ask for events instead of
     * interrupting us: a doorbell wakes the sleeping loop directly, faster
     * than with the default task-work signalling (NOTES.md, "io_uring
     * setup"). TASKRUN_FLAG tells a spinning loop that such work is
     * waiting (sc_loop_pending). Kernels before 6.1 lack these flags: the
     * plain setup works there, only slower to wake. */
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
              IORING_SETUP_TASKRUN_FLAG;
    p.cq_entries = entries * 4;
    int r = io_uring_queue_init_params(entries, &l->ring, &p);
    if (r == -EINVAL) {
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 4;
        r = io_uring_queue_init_params(entries, &l->ring, &p);
    }
    return r;
}

bool sc_loop_pending(sc_loop *l)
{
    return io_uring_cq_ready(&l->ring) ||
           (IO_URING_READ_ONCE(*l->ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW));
}

void sc_loop_destroy(sc_loop *l)
{
    io_uring_queue_exit(&l->ring);
}

struct io_uring_sqe *sc_loop_sqe(sc_loop *l, sc_op *op)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&l->ring))) {
        int r = io_uring_submit(&l->ring);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            sc_error("io_uring_submit failed: %s", strerror(-r));
        l->unsubmitted = 0;
    }
    io_uring_sqe_set_data(sqe, op);
    l->unsubmitted++;
    return sqe;
}

void sc_loop_cancel(sc_loop *l, sc_op *op)
{
    struct io_uring_sqe *sqe = sc_loop_sqe(l, NULL);
    io_uring_prep_cancel(sqe, op, 0);
}

void sc_loop_flush(sc_loop *l)
{
    if (!l->unsubmitted)
        return;
    int r = io_uring_submit(&l->ring);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
        sc_error("io_uring_submit failed: %s", strerror(-r));
    l->unsubmitted = 0;
}

unsigned sc_loop_reap(sc_loop *l)
{
    struct io_uring_cqe *cqes[64];
    unsigned total = 0, n;
    /* deferred completion work runs only when we ask for events */
    if (IO_URING_READ_ONCE(*l->ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW))
        io_uring_get_events(&l->ring);
    while ((n = io_uring_peek_batch_cqe(&l->ring, cqes, 64)) > 0) {
        for (unsigned i = 0; i < n; i++) {
            sc_op *op = io_uring_cqe_get_data(cqes[i]);
            int res = cqes[i]->res;
            uint32_t flags = cqes[i]->flags;
            /* mark seen before the callback: it may queue new SQEs and
             * those may complete into the slot we would otherwise pin */
            io_uring_cqe_seen(&l->ring, cqes[i]);
            if (op)
                op->fn(op, res, flags);
        }
        total += n;
    }
    return total;
}

void sc_loop_wait(sc_loop *l, uint64_t timeout_ns)
{
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts, *tsp = NULL;
    if (timeout_ns != UINT64_MAX) {
        ts.tv_sec = (long long)(timeout_ns / 1000000000u);
        ts.tv_nsec = (long long)(timeout_ns % 1000000000u);
        tsp = &ts;
    }
    int r = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, tsp, NULL);
    l->unsubmitted = 0;
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
        sc_error("io_uring wait failed: %s", strerror(-r));
}
