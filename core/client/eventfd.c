/*
 * eventfd.c — a pollable fd for event loops (asyncio, libuv, epoll).
 */
#include "client.h"

#include <sys/epoll.h>
#include <unistd.h>

int rs_event_fd(rs_client *c)
{
    if (!c)
        return RS_EINVAL;
    pthread_mutex_lock(&c->mu);
    if (c->epfd < 0) {
        /* one fd for both things that need attention: the completion
         * doorbell, and the registration socket's hang-up */
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN };
        if (ep >= 0) {
            ev.data.fd = c->cq_efd;
            epoll_ctl(ep, EPOLL_CTL_ADD, c->cq_efd, &ev);
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.fd = c->sock;
            epoll_ctl(ep, EPOLL_CTL_ADD, c->sock, &ev);
        }
        c->epfd = ep;
    }
    int fd = c->epfd;
    pthread_mutex_unlock(&c->mu);
    return fd >= 0 ? fd : RS_ENOMEM;
}

int rs_arm_event_fd(rs_client *c)
{
    if (!c)
        return RS_EINVAL;
    uint64_t v;
    if (read(c->cq_efd, &v, sizeof v) < 0) {
        /* EAGAIN: nothing to drain */
    }
    pthread_mutex_lock(&c->mu);
    bool pending = c->done_head != NIL || atomic_load(&c->chunk_bytes) > 0 || c->reaper_active ||
                   atomic_load(&c->dead) || rs__sidecar_gone(c);
    if (!pending) {
        /* no reaper runs (we hold mu and reaper_active is false), so the
         * ring position is ours to read */
        rs__ring_arm(&c->cq, RS__RING_NEED_WAKEUP);
        pending = rs__cq_has_record(c);
    }
    pthread_mutex_unlock(&c->mu);
    return pending ? 1 : 0;
}
