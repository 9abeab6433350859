/*
 * loop.h — the event loop every part of the daemon is driven by.
 *
 * An operation is an sc_op embedded in whatever owns it (a client, a
 * socket watch, a transfer). The owner starts it with one of the calls
 * below and, when it completes, the loop calls op->fn with the result
 * (a count or a poll mask, or -errno). Every started op completes exactly
 * once (a multishot poll: once per event with SC_OP_MORE, then once
 * without), a cancelled one with -ECANCELED: owners count their pending
 * ops and free themselves only when the count reaches zero.
 *
 * Two backends keep that contract, and nothing above this header knows
 * which one runs (loop_uring.c, loop_epoll.c):
 *   io_uring  the design's loop: every op is an SQE, completions arrive
 *             without a syscall each; the default.
 *   epoll     where io_uring is refused (container runtimes' default
 *             seccomp profiles, sysctl kernel.io_uring_disabled): the same
 *             ops done as readiness waits plus the syscall itself.
 */
#ifndef SC_LOOP_H
#define SC_LOOP_H

#include "clock.h"

#include <linux/time_types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sc_op sc_op;
typedef void (*sc_op_fn)(sc_op *op, int res, uint32_t flags);

/* flags: a multishot op stays armed after this completion */
#define SC_OP_MORE (1u << 1)

struct sc_op {
    sc_op_fn fn;
    /* the backend's bookkeeping, never touched by the owner */
    struct {
        sc_op *next;                  /* epoll: ready queue or timer list */
        void *buf;
        size_t len;
        uint64_t due_ns;              /* epoll: a timed op's deadline */
        struct __kernel_timespec ts;  /* io_uring: a timeout, read at submission */
        int fd, res;
        uint32_t events;
        uint8_t kind, state;
    } be;
};

/* The owner of an op (or of any embedded member), from the member. */
#define container_of(p, T, m) ((T *)(void *)((char *)(p) - offsetof(T, m)))

typedef enum sc_io_backend { SC_IO_AUTO, SC_IO_URING, SC_IO_EPOLL } sc_io_backend;

typedef struct sc_loop_backend sc_loop_backend;

typedef struct sc_loop {
    const sc_loop_backend *be;
    void *impl;
} sc_loop;

/* Set the loop up on the backend asked for. SC_IO_AUTO tries io_uring and
 * falls back to epoll when the kernel refuses it; *uring_err is then
 * io_uring's -errno (0 when io_uring runs or was not tried). Returns 0, or
 * -errno of the backend that failed. */
int sc_loop_init(sc_loop *l, unsigned entries, sc_io_backend want, int *uring_err);
/* Safe on a loop whose init failed or never ran (zeroed). */
void sc_loop_destroy(sc_loop *l);
/* "io_uring" or "epoll". */
const char *sc_loop_backend_name(const sc_loop *l);

/* Wait for events (POLLIN, POLLOUT, POLLRDHUP) on fd; res is the mask that
 * occurred. One completion, or with multi one per wakeup (SC_OP_MORE)
 * until cancelled. */
void sc_loop_poll(sc_loop *l, sc_op *op, int fd, unsigned events, bool multi);
/* Accept a connection on a listening socket; res is its fd (close-on-exec). */
void sc_loop_accept(sc_loop *l, sc_op *op, int fd);
/* Receive up to len bytes; with timeout_ns > 0 it ends with -ECANCELED
 * after that long without data. */
void sc_loop_recv(sc_loop *l, sc_op *op, int fd, void *buf, size_t len, uint64_t timeout_ns);
/* Read up to len bytes from a non-blocking fd (a signalfd). */
void sc_loop_read(sc_loop *l, sc_op *op, int fd, void *buf, size_t len);
/* Complete with -ETIME after ns. */
void sc_loop_timeout(sc_loop *l, sc_op *op, uint64_t ns);
/* Fault [addr, addr+len) in for writing (MADV_POPULATE_WRITE), off the
 * loop's thread where the backend can. */
void sc_loop_populate(sc_loop *l, sc_op *op, void *addr, size_t len);

/* Cancel op: it completes with -ECANCELED, unless its completion was
 * already on its way (then that one arrives). */
void sc_loop_cancel(sc_loop *l, sc_op *op);

/* Hand queued ops to the kernel without waiting. */
void sc_loop_flush(sc_loop *l);

/* Is a completion waiting? Cheap enough for loops that spin. */
bool sc_loop_pending(sc_loop *l);

/* Run the callbacks of the completions already there, at most max of them
 * (the rest wait for the next call: sc_loop_pending stays true). Returns
 * how many ran. */
unsigned sc_loop_reap(sc_loop *l, unsigned max);

/* Flush and sleep until a completion is there or timeout_ns (UINT64_MAX:
 * no timeout) passes. */
void sc_loop_wait(sc_loop *l, uint64_t timeout_ns);

#endif
