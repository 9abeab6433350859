/*
 * loop_uring.c — the io_uring backend of the loop (loop.h). An op's
 * address is its SQE's user_data; CQEs whose user_data is 0 (cancel
 * requests, link timeouts) are dropped. Timers are the wait timeout of
 * io_uring_submit_and_wait_timeout(): the daemon computes its nearest
 * deadline (libcurl's timer, the drain deadline, request deadlines) and
 * sleeps in the kernel until then, so no timer costs an SQE of its own.
 */
#include "loop_backend.h"

#include "log.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

_Static_assert(SC_OP_MORE == IORING_CQE_F_MORE, "SC_OP_MORE passes IORING_CQE_F_MORE through");

typedef struct sc_uring {
    struct io_uring ring;
    unsigned unsubmitted;
} sc_uring;

static inline sc_uring *U(sc_loop *l)
{
    return l->impl;
}

static const sc_loop_backend uring_backend;

int sc_loop_uring_init(sc_loop *l, unsigned entries)
{
    sc_uring *u = calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
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
    int r = io_uring_queue_init_params(entries, &u->ring, &p);
    if (r == -EINVAL) {
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 4;
        r = io_uring_queue_init_params(entries, &u->ring, &p);
    }
    if (r < 0) {
        free(u);
        return r;
    }
    l->be = &uring_backend;
    l->impl = u;
    return 0;
}

static void u_destroy(sc_loop *l)
{
    io_uring_queue_exit(&U(l)->ring);
    free(l->impl);
}

/* An SQE for op (user_data set; op may be NULL for fire-and-forget). Never
 * fails: when the SQ is full it submits first. */
static struct io_uring_sqe *sqe_for(sc_loop *l, sc_op *op)
{
    sc_uring *u = U(l);
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&u->ring))) {
        int r = io_uring_submit(&u->ring);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            sc_error("io_uring_submit failed: %s", strerror(-r));
        u->unsubmitted = 0;
    }
    io_uring_sqe_set_data(sqe, op);
    u->unsubmitted++;
    return sqe;
}

static void set_ts(sc_op *op, uint64_t ns)
{
    op->be.ts.tv_sec = (long long)(ns / 1000000000u);
    op->be.ts.tv_nsec = (long long)(ns % 1000000000u);
}

static void u_poll(sc_loop *l, sc_op *op, int fd, unsigned events, bool multi)
{
    struct io_uring_sqe *sqe = sqe_for(l, op);
    if (multi)
        io_uring_prep_poll_multishot(sqe, fd, events);
    else
        io_uring_prep_poll_add(sqe, fd, events);
}

static void u_accept(sc_loop *l, sc_op *op, int fd)
{
    io_uring_prep_accept(sqe_for(l, op), fd, NULL, NULL, SOCK_CLOEXEC);
}

static void u_recv(sc_loop *l, sc_op *op, int fd, void *buf, size_t len, uint64_t timeout_ns)
{
    struct io_uring_sqe *sqe = sqe_for(l, op);
    io_uring_prep_recv(sqe, fd, buf, len, 0);
    if (timeout_ns) {
        sqe->flags |= IOSQE_IO_LINK;
        set_ts(op, timeout_ns);
        io_uring_prep_link_timeout(sqe_for(l, NULL), &op->be.ts, 0);
    }
}

static void u_read(sc_loop *l, sc_op *op, int fd, void *buf, size_t len)
{
    io_uring_prep_read(sqe_for(l, op), fd, buf, (unsigned)len, 0);
}

static void u_timeout(sc_loop *l, sc_op *op, uint64_t ns)
{
    set_ts(op, ns);
    io_uring_prep_timeout(sqe_for(l, op), &op->be.ts, 0, 0);
}

/* io_uring runs the madvise in one of its worker threads */
static void u_populate(sc_loop *l, sc_op *op, void *addr, size_t len)
{
    io_uring_prep_madvise(sqe_for(l, op), addr, (off_t)len, MADV_POPULATE_WRITE);
}

static void u_cancel(sc_loop *l, sc_op *op)
{
    io_uring_prep_cancel(sqe_for(l, NULL), op, 0);
}

static void u_flush(sc_loop *l)
{
    sc_uring *u = U(l);
    if (!u->unsubmitted)
        return;
    int r = io_uring_submit(&u->ring);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
        sc_error("io_uring_submit failed: %s", strerror(-r));
    u->unsubmitted = 0;
}

/* a plain memory read, for loops that spin */
static bool u_pending(sc_loop *l)
{
    sc_uring *u = U(l);
    return io_uring_cq_ready(&u->ring) ||
           (IO_URING_READ_ONCE(*u->ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW));
}

static unsigned u_reap(sc_loop *l, unsigned max)
{
    sc_uring *u = U(l);
    struct io_uring_cqe *cqes[64];
    unsigned total = 0, n;
    /* deferred completion work runs only when we ask for events */
    if (IO_URING_READ_ONCE(*u->ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW))
        io_uring_get_events(&u->ring);
    while (total < max && (n = io_uring_peek_batch_cqe(&u->ring, cqes, max - total < 64 ? max - total : 64)) > 0) {
        for (unsigned i = 0; i < n; i++) {
            sc_op *op = io_uring_cqe_get_data(cqes[i]);
            int res = cqes[i]->res;
            uint32_t flags = cqes[i]->flags & SC_OP_MORE;
            /* mark seen before the callback: it may queue new SQEs and
             * those may complete into the slot we would otherwise pin */
            io_uring_cqe_seen(&u->ring, cqes[i]);
            if (op)
                op->fn(op, res, flags);
        }
        total += n;
    }
    return total;
}

static void u_wait(sc_loop *l, uint64_t timeout_ns)
{
    sc_uring *u = U(l);
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts, *tsp = NULL;
    if (timeout_ns != UINT64_MAX) {
        ts.tv_sec = (long long)(timeout_ns / 1000000000u);
        ts.tv_nsec = (long long)(timeout_ns % 1000000000u);
        tsp = &ts;
    }
    int r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, tsp, NULL);
    u->unsubmitted = 0;
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
        sc_error("io_uring wait failed: %s", strerror(-r));
}

static const sc_loop_backend uring_backend = {
    .name = "io_uring",
    .destroy = u_destroy,
    .poll = u_poll,
    .accept = u_accept,
    .recv = u_recv,
    .read = u_read,
    .timeout = u_timeout,
    .populate = u_populate,
    .cancel = u_cancel,
    .flush = u_flush,
    .pending = u_pending,
    .reap = u_reap,
    .wait = u_wait,
};
