/*
 * mhd_loop.c — see mhd_loop.h. With MHD_USE_EPOLL libmicrohttpd keeps its
 * sockets in an epoll set of its own, whose fd is one more fd the loop
 * polls: when it is readable, or at the time MHD_get_timeout names, the
 * loop calls MHD_run, which accepts, reads and writes only what is ready —
 * it never blocks the loop.
 */
#include "mhd_loop.h"

#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

void sc_mhd_log(void *cls, const char *fmt, va_list ap)
{
    const sc_mhd_logger *lg = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    if (lg->level == SC_WARN)
        sc_warn("%s: %s", lg->prefix, msg);
    else
        sc_debug("%s: %s", lg->prefix, msg);
}

static void run(sc_mhd *m)
{
    m->rerun = false;
    MHD_run(m->mhd);
    MHD_UNSIGNED_LONG_LONG ms;
    /* a connection closed at max connections: MHD puts its listening
     * socket back in its epoll set at the start of a run, so run again */
    m->due = m->rerun ? 0
           : MHD_get_timeout(m->mhd, &ms) == MHD_YES ? rs__now_ns() + (uint64_t)ms * 1000000u : UINT64_MAX;
}

static void arm(sc_mhd *m)
{
    const union MHD_DaemonInfo *fd = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    sc_loop_poll(m->loop, &m->op, fd->epoll_fd, POLLIN, false);
    m->armed = true;
}

static void finish(sc_mhd *m)
{
    MHD_stop_daemon(m->mhd);
    m->mhd = NULL;
    m->release(m);
}

static void on_ready(sc_op *op, int res, uint32_t flags)
{
    (void)flags;
    sc_mhd *m = container_of(op, sc_mhd, op);
    m->armed = false;
    if (!m->loop) {   /* stopped while the poll was out */
        finish(m);
        return;
    }
    if (res < 0 && res != -ECANCELED)
        sc_warn("HTTP listener: poll failed: %s", strerror(-res));
    run(m);
    arm(m);
}

void sc_mhd_begin(sc_mhd *m, sc_loop *loop, void (*release)(sc_mhd *m))
{
    m->loop = loop;
    m->release = release;
    m->op.fn = on_ready;
    arm(m);
    run(m);
}

void sc_mhd_on_time(sc_mhd *m, uint64_t now)
{
    if (now >= m->due)
        run(m);
}

void sc_mhd_wake(sc_mhd *m)
{
    m->due = 0;
    m->rerun = true;   /* (when called within a run) */
}

void sc_mhd_stop(sc_mhd *m)
{
    sc_loop *loop = m->loop;
    m->loop = NULL;
    if (m->armed) {
        sc_loop_cancel(loop, &m->op);
        return;
    }
    finish(m);
}
