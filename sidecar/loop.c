/*
 * loop.c — the choice of the loop's backend, and the calls forwarded to
 * it (loop.h). io_uring first: it is the design. epoll only when the
 * kernel refuses io_uring, or when asked for.
 */
#include "loop.h"

#include "loop_backend.h"

#include <string.h>

int sc_loop_init(sc_loop *l, unsigned entries, sc_io_backend want, int *uring_err)
{
    memset(l, 0, sizeof *l);
    *uring_err = 0;
    if (want != SC_IO_EPOLL) {
        int r = sc_loop_uring_init(l, entries);
        if (r == 0 || want == SC_IO_URING) {
            *uring_err = r;
            return r;
        }
        /* any refusal falls back: seccomp says ENOSYS or EPERM, the sysctl
         * EPERM, an old kernel ENOSYS, a locked-memory limit ENOMEM */
        *uring_err = r;
    }
    return sc_loop_epoll_init(l);
}

void sc_loop_destroy(sc_loop *l)
{
    if (l->be)
        l->be->destroy(l);
    memset(l, 0, sizeof *l);
}

const char *sc_loop_backend_name(const sc_loop *l)
{
    return l->be ? l->be->name : "none";
}

void sc_loop_poll(sc_loop *l, sc_op *op, int fd, unsigned events, bool multi)
{
    l->be->poll(l, op, fd, events, multi);
}

void sc_loop_accept(sc_loop *l, sc_op *op, int fd)
{
    l->be->accept(l, op, fd);
}

void sc_loop_recv(sc_loop *l, sc_op *op, int fd, void *buf, size_t len, uint64_t timeout_ns)
{
    l->be->recv(l, op, fd, buf, len, timeout_ns);
}

void sc_loop_read(sc_loop *l, sc_op *op, int fd, void *buf, size_t len)
{
    l->be->read(l, op, fd, buf, len);
}

void sc_loop_timeout(sc_loop *l, sc_op *op, uint64_t ns)
{
    l->be->timeout(l, op, ns);
}

void sc_loop_populate(sc_loop *l, sc_op *op, void *addr, size_t len)
{
    l->be->populate(l, op, addr, len);
}

void sc_loop_cancel(sc_loop *l, sc_op *op)
{
    l->be->cancel(l, op);
}

void sc_loop_flush(sc_loop *l)
{
    l->be->flush(l);
}

bool sc_loop_pending(sc_loop *l)
{
    return l->be->pending(l);
}

unsigned sc_loop_reap(sc_loop *l, unsigned max)
{
    return l->be->reap(l, max);
}

void sc_loop_wait(sc_loop *l, uint64_t timeout_ns)
{
    l->be->wait(l, timeout_ns);
}
