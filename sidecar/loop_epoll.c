/*
 * loop_epoll.c — the epoll backend of the loop (loop.h), for hosts that
 * refuse io_uring. Each op waits for readiness of its fd (data.ptr = the
 * op; one op per fd at a time, which is how the daemon uses fds), then
 * does the syscall itself: accept4, recv, read. What completes without an
 * fd event — a cancel, a timeout, a populate — goes through a ready queue
 * delivered at the next reap, so an owner's callback never runs inside
 * the call that started or cancelled the op (io_uring's behaviour too).
 *
 * One-shot ops use EPOLLONESHOT and leave the set when they complete; the
 * multishot poll (a client's doorbell eventfd, never read) is
 * edge-triggered, so each write wakes us once, as io_uring's multishot poll
 * does. Timers are few (accept pauses, hello deadlines): a list, searched.
 * A populate (an madvise faulting a client's region in, milliseconds) runs
 * in a thread of its own, as io_uring runs it in a worker, and reports
 * through an eventfd.
 */
#include "loop_backend.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

enum { K_POLL, K_POLL_MULTI, K_ACCEPT, K_RECV, K_READ, K_TIMEOUT, K_POPULATE };
enum { S_IN_EPOLL = 1, S_TIMED = 2 };

#define EV_BATCH 64
/* A look at epoll without waiting is a syscall (~0.6 µs here), and a loop
 * that spins on its rings looks on every turn: only every LOOK_EVERY-th
 * look asks the kernel, unless the last one found events. A socket event
 * then waits a few looks at most; a loop going to sleep asks anyway. */
#define LOOK_EVERY 8

typedef struct sc_epoll {
    int epfd;
    struct epoll_event ev[EV_BATCH];
    int nev, iev;               /* events fetched, and how far dispatched */
    sc_op *ready, *ready_tail;  /* completions decided without an fd event */
    sc_op *timers;              /* ops with a deadline */
    bool no_pwait2;             /* epoll_pwait2 refused: ms timeouts */
    bool found;                 /* the last fetch found events */
    unsigned looks;
} sc_epoll;

static inline sc_epoll *E(sc_loop *l)
{
    return l->impl;
}

static const sc_loop_backend epoll_backend;

int sc_loop_epoll_init(sc_loop *l)
{
    sc_epoll *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd < 0) {
        int err = errno;
        free(e);
        return -err;
    }
    l->be = &epoll_backend;
    l->impl = e;
    return 0;
}

static void e_destroy(sc_loop *l)
{
    close(E(l)->epfd);
    free(l->impl);
}

static void push_ready(sc_epoll *e, sc_op *op, int res)
{
    op->be.res = res;
    op->be.next = NULL;
    if (e->ready_tail)
        e->ready_tail->be.next = op;
    else
        e->ready = op;
    e->ready_tail = op;
}

static void untime(sc_epoll *e, sc_op *op)
{
    for (sc_op **pp = &e->timers; *pp; pp = &(*pp)->be.next)
        if (*pp == op) {
            *pp = op->be.next;
            break;
        }
    op->be.state &= (uint8_t)~S_TIMED;
}

static void time_op(sc_epoll *e, sc_op *op, uint64_t ns)
{
    op->be.due_ns = rs__now_ns() + ns;
    op->be.next = e->timers;
    e->timers = op;
    op->be.state |= S_TIMED;
}

/* Leave the set (and the timer list): the op is about to complete. */
static void disarm(sc_epoll *e, sc_op *op)
{
    if (op->be.state & S_IN_EPOLL)
        epoll_ctl(e->epfd, EPOLL_CTL_DEL, op->be.fd, NULL);
    if (op->be.state & S_TIMED)
        untime(e, op);
    op->be.state = 0;
}

static void arm(sc_epoll *e, sc_op *op, int kind, int fd, uint32_t events)
{
    op->be.kind = (uint8_t)kind;
    op->be.fd = fd;
    op->be.state = 0;
    struct epoll_event ev = {
        .events = events | (kind == K_POLL_MULTI ? EPOLLET : EPOLLONESHOT),
        .data.ptr = op,
    };
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        push_ready(e, op, -errno);
        return;
    }
    op->be.events = ev.events;
    op->be.state = S_IN_EPOLL;
}

/* A one-shot op whose syscall said "not yet": wait for the next event. */
static void rearm(sc_epoll *e, sc_op *op)
{
    struct epoll_event ev = { .events = op->be.events, .data.ptr = op };
    if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, op->be.fd, &ev) < 0) {
        int err = errno;
        disarm(e, op);
        op->fn(op, -err, 0);
    }
}

static void e_poll(sc_loop *l, sc_op *op, int fd, unsigned events, bool multi)
{
    arm(E(l), op, multi ? K_POLL_MULTI : K_POLL, fd, events);
}

static void e_accept(sc_loop *l, sc_op *op, int fd)
{
    /* readiness can be stale (the peer gave up): accept4 must not block */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    arm(E(l), op, K_ACCEPT, fd, EPOLLIN);
}

static void e_recv(sc_loop *l, sc_op *op, int fd, void *buf, size_t len, uint64_t timeout_ns)
{
    sc_epoll *e = E(l);
    op->be.buf = buf;
    op->be.len = len;
    arm(e, op, K_RECV, fd, EPOLLIN);
    if (timeout_ns && (op->be.state & S_IN_EPOLL))
        time_op(e, op, timeout_ns);
}

static void e_read(sc_loop *l, sc_op *op, int fd, void *buf, size_t len)
{
    op->be.buf = buf;
    op->be.len = len;
    arm(E(l), op, K_READ, fd, EPOLLIN);
}

static void e_timeout(sc_loop *l, sc_op *op, uint64_t ns)
{
    op->be.kind = K_TIMEOUT;
    op->be.state = 0;
    time_op(E(l), op, ns);
}

/* The thread owns op->be.buf/len/res until it writes the eventfd. */
static void *populate_thread(void *arg)
{
    sc_op *op = arg;
    op->be.res = madvise(op->be.buf, op->be.len, MADV_POPULATE_WRITE) == 0 ? 0 : -errno;
    uint64_t one = 1;
    if (write(op->be.fd, &one, sizeof one) < 0) {
        /* an eventfd write of 1 cannot fail short of a bug */
    }
    return NULL;
}

static void e_populate(sc_loop *l, sc_op *op, void *addr, size_t len)
{
    sc_epoll *e = E(l);
    op->be.buf = addr;
    op->be.len = len;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) {
        op->be.state = 0;
        push_ready(e, op, -errno);
        return;
    }
    arm(e, op, K_POPULATE, efd, EPOLLIN);
    pthread_attr_t attr;
    pthread_t t;
    int r = -1;
    if (op->be.state && pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(&t, &attr, populate_thread, op);
        pthread_attr_destroy(&attr);
    }
    if (op->be.state && r != 0) {
        disarm(e, op);
        push_ready(e, op, -(r > 0 ? r : EAGAIN));
    }
    if (!op->be.state)
        close(efd);
}

/* End an armed op before its event: cancelled, or its time is up. */
static void end_early(sc_epoll *e, sc_op *op, int res)
{
    disarm(e, op);
    /* an event already fetched for it must not be dispatched after this */
    for (int i = e->iev; i < e->nev; i++)
        if (e->ev[i].data.ptr == op)
            e->ev[i].data.ptr = NULL;
    push_ready(e, op, res);
}

static void e_cancel(sc_loop *l, sc_op *op)
{
    /* a populate under way cannot be stopped (nor can io_uring's): its
     * thread writes into op until it reports */
    if (op->be.state && op->be.kind != K_POPULATE)
        end_early(E(l), op, -ECANCELED);
}

static void e_flush(sc_loop *l)
{
    (void)l;   /* every op started at once */
}

/* Fetch events into ev[], waiting up to timeout_ns (0: just look). */
static void fetch(sc_epoll *e, uint64_t timeout_ns)
{
    int n = -1;
    if (!e->no_pwait2) {
        struct timespec ts = { (time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u) };
        n = epoll_pwait2(e->epfd, e->ev, EV_BATCH, timeout_ns == UINT64_MAX ? NULL : &ts, NULL);
        if (n < 0 && (errno == ENOSYS || errno == EPERM))
            e->no_pwait2 = true;   /* an old kernel or a seccomp profile */
    }
    if (e->no_pwait2) {
        /* milliseconds, rounded up: waking early would spin */
        int ms = timeout_ns == UINT64_MAX ? -1
                 : timeout_ns >= (uint64_t)INT32_MAX * 1000000u ? INT32_MAX
                 : (int)((timeout_ns + 999999u) / 1000000u);
        n = epoll_wait(e->epfd, e->ev, EV_BATCH, ms);
    }
    if (n < 0) {
        if (errno != EINTR)
            sc_error("epoll_wait failed: %s", strerror(errno));
        n = 0;
    }
    e->nev = n;
    e->iev = 0;
    e->found = n > 0;
}

/* Fetch without waiting, when worth a syscall (LOOK_EVERY). */
static void look(sc_epoll *e)
{
    if (e->found || ++e->looks % LOOK_EVERY == 0)
        fetch(e, 0);
}

static uint64_t next_timer(sc_epoll *e)
{
    uint64_t due = UINT64_MAX;
    for (sc_op *op = e->timers; op; op = op->be.next)
        if (op->be.due_ns < due)
            due = op->be.due_ns;
    return due;
}

static bool e_pending(sc_loop *l)
{
    sc_epoll *e = E(l);
    if (e->ready || e->iev < e->nev || (e->timers && next_timer(e) <= rs__now_ns()))
        return true;
    look(e);
    return e->iev < e->nev;
}

/* An fd event for op: do its syscall and complete it, or wait on. */
static void dispatch(sc_epoll *e, sc_op *op, uint32_t revents)
{
    int res;
    switch (op->be.kind) {
    case K_POLL_MULTI:
        op->fn(op, (int)revents, SC_OP_MORE);
        return;
    case K_POLL:
        res = (int)revents;   /* EPOLLIN/OUT/ERR/HUP/RDHUP are the POLL* bits */
        break;
    case K_ACCEPT:
        res = accept4(op->be.fd, NULL, NULL, SOCK_CLOEXEC);
        break;
    case K_RECV:
        res = (int)recv(op->be.fd, op->be.buf, op->be.len, MSG_DONTWAIT);
        break;
    case K_READ:
        res = (int)read(op->be.fd, op->be.buf, op->be.len);
        break;
    case K_POPULATE:
        disarm(e, op);
        close(op->be.fd);
        op->fn(op, op->be.res, 0);
        return;
    default:
        return;
    }
    if (res < 0) {
        res = -errno;
        if (res == -EAGAIN || res == -EINTR) {
            rearm(e, op);
            return;
        }
    }
    disarm(e, op);
    op->fn(op, res, 0);
}

static unsigned e_reap(sc_loop *l, unsigned max)
{
    sc_epoll *e = E(l);
    unsigned n = 0;
    /* the queue as it stands: what callbacks add now waits for the next reap */
    sc_op *last = e->ready_tail;
    while (e->ready && n < max) {
        sc_op *op = e->ready;
        e->ready = op->be.next;
        if (!e->ready)
            e->ready_tail = NULL;
        op->fn(op, op->be.res, 0);
        n++;
        if (op == last)
            break;
    }
    if (n >= max)
        return n;
    if (e->timers) {
        uint64_t now = rs__now_ns();
        for (sc_op **pp = &e->timers; *pp;) {
            sc_op *t = *pp;
            if (t->be.due_ns > now) {
                pp = &t->be.next;
                continue;
            }
            *pp = t->be.next;
            t->be.state &= (uint8_t)~S_TIMED;
            /* a timed recv ends as io_uring's linked timeout ends it */
            end_early(e, t, t->be.kind == K_TIMEOUT ? -ETIME : -ECANCELED);
        }
    }
    if (e->iev >= e->nev)
        look(e);
    while (e->iev < e->nev && n < max) {
        struct epoll_event *ev = &e->ev[e->iev++];
        if (ev->data.ptr) {
            dispatch(e, ev->data.ptr, ev->events);
            n++;
        }
    }
    return n;
}

static void e_wait(sc_loop *l, uint64_t timeout_ns)
{
    sc_epoll *e = E(l);
    if (e->ready || e->iev < e->nev)
        return;
    uint64_t due = next_timer(e);
    if (due != UINT64_MAX) {
        uint64_t now = rs__now_ns();
        uint64_t left = due > now ? due - now : 0;
        if (left < timeout_ns)
            timeout_ns = left;
    }
    fetch(e, timeout_ns);
}

static const sc_loop_backend epoll_backend = {
    .name = "epoll",
    .destroy = e_destroy,
    .poll = e_poll,
    .accept = e_accept,
    .recv = e_recv,
    .read = e_read,
    .timeout = e_timeout,
    .populate = e_populate,
    .cancel = e_cancel,
    .flush = e_flush,
    .pending = e_pending,
    .reap = e_reap,
    .wait = e_wait,
};
