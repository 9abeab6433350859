/*
 * connect.c — registering with the sidecar (rs_connect), closing, and
 * telling whether the sidecar is still there (see client.h).
 */
#include "client.h"

#include "channel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int register_with(rs_client *c, const char *path)
{
    rs__welcome w;
    int fds[3];
    c->sock = rs__channel_register(path, &w, fds, rs__last_error, sizeof rs__last_error);
    if (c->sock < 0) {
        int err = c->sock;
        c->sock = -1;
        return err;
    }
    c->sq_efd = fds[1];
    c->cq_efd = fds[2];

    struct stat stbuf;
    if (fstat(fds[0], &stbuf) < 0 || rs__layout_check(&w.layout, (uint64_t)stbuf.st_size) < 0 ||
        w.max_inflight == 0 || w.max_record < 1024) {
        close(fds[0]);
        return rs__fail_detail(RS_EPROTO, "%s", "sidecar sent an invalid region layout");
    }
    c->map_len = (size_t)stbuf.st_size;
    int populate = (w.features & RS__FEATURE_PREFAULT) ? MAP_POPULATE : 0;
    c->map = mmap(NULL, c->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | populate, fds[0], 0);
    close(fds[0]);
    if (c->map == MAP_FAILED) {
        c->map = NULL;
        return rs__fail_detail(RS_ENOMEM, "mmap of the shared region failed: %s", strerror(errno));
    }
    uint8_t *base = c->map;
    rs__ring_init(&c->sq, base + w.layout.sq_hdr_off, base + w.layout.sq_data_off, w.layout.sq_cap);
    rs__ring_init(&c->cq, base + w.layout.cq_hdr_off, base + w.layout.cq_data_off, w.layout.cq_cap);
    c->max_record = w.max_record;
    c->max_inflight = w.max_inflight;
    c->flow = (w.features & RS__FEATURE_FLOW) != 0;
    return 0;
}

/* Where the reaper sleeps: the completion doorbell edge-triggered, so a
 * wakeup is one epoll_wait and the eventfd never needs a read() (its
 * counter only grows; each write is a new edge), and the registration
 * socket, whose hang-up means the sidecar is gone. */
static int make_wait_ep(rs_client *c)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -1;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.fd = c->cq_efd };
    struct epoll_event hv = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = c->sock };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->cq_efd, &ev) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c->sock, &hv) < 0) {
        close(ep);
        return -1;
    }
    return ep;
}

int rs_connect(const char *socket_path, rs_client **out)
{
    char path[108];
    rs__last_error[0] = 0;
    if (!out)
        return RS_EINVAL;
    if (!socket_path) {
        if (rs__client_socket_path(RS__POD_SOCKET_PATH, path, sizeof path) < 0)
            return rs__fail_detail(RS_EINVAL, "%s", "default socket path too long");
        socket_path = path;
    }
    rs_client *c = calloc(1, sizeof *c);
    if (!c)
        return RS_ENOMEM;
    c->sock = c->sq_efd = c->cq_efd = c->epfd = c->wait_ep = -1;
    c->done_head = c->done_tail = NIL;
    const char *cl = getenv("RINGSIDE_CHUNK_BUFFER");
    c->chunk_limit = cl ? strtoull(cl, NULL, 10) : 64u << 20;
    const char *sw = getenv("RINGSIDE_STREAM_WINDOW");
    c->stream_window = sw ? strtoull(sw, NULL, 10) : 256u << 10;
    if (c->stream_window < 4096)
        c->stream_window = 4096;
    const char *spin = getenv("RINGSIDE_SPIN_US");
    rs__spin_init(&c->spin, (spin ? strtoull(spin, NULL, 10) : 50) * 1000u);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->mu, NULL);

    int err = register_with(c, socket_path);
    if (err == 0 && (c->wait_ep = make_wait_ep(c)) < 0)
        err = RS_ENOMEM;
    if (err == 0) {
        c->slots = calloc(c->max_inflight, sizeof *c->slots);
        c->rxbuf = malloc(c->max_record);
        if (!c->slots || !c->rxbuf)
            err = RS_ENOMEM;
    }
    if (err < 0) {
        rs_close(c);
        return err;
    }
    for (uint32_t i = c->max_inflight; i-- > 0;) {
        c->slots[i].prev = c->slots[i].next = NIL;
        rs__free_push(c, i);
    }
    *out = c;
    return 0;
}

void rs_close(rs_client *c)
{
    if (!c)
        return;
    rs__batches_detach(c);
    if (c->slots) {
        for (uint32_t i = 0; i < c->max_inflight; i++) {
            rs_response_free(c->slots[i].resp);
            rs__free_chunks(c, &c->slots[i]);
        }
    }
    rs_response_free(c->asm_resp);
    if (c->asm_chunk)
        rs_chunk_free(&c->asm_chunk->pub);
    if (c->epfd >= 0)
        close(c->epfd);
    if (c->wait_ep >= 0)
        close(c->wait_ep);
    if (c->map)
        munmap(c->map, c->map_len);
    if (c->sock >= 0)
        close(c->sock);   /* the sidecar sees the hang-up and cancels our requests */
    if (c->sq_efd >= 0)
        close(c->sq_efd);
    if (c->cq_efd >= 0)
        close(c->cq_efd);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c->slots);
    free(c->rxbuf);
    free(c);
}

/* Non-blocking check of the registration socket: the sidecar never writes
 * to it after the welcome, so readable means hang-up. */
bool rs__sidecar_gone(rs_client *c)
{
    char b;
    ssize_t n = recv(c->sock, &b, 1, MSG_DONTWAIT | MSG_PEEK);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void rs__mark_dead(rs_client *c, int why)
{
    int expect = 0;
    atomic_compare_exchange_strong(&c->dead, &expect, why);
}

void rs_client_get_stats(rs_client *c, rs_client_stats *o)
{
    o->submitted = atomic_load(&c->st.submitted);
    o->completed = atomic_load(&c->st.completed);
    o->ring_full = atomic_load(&c->st.ring_full);
    o->doorbells = atomic_load(&c->st.doorbells);
    o->sleeps = atomic_load(&c->st.sleeps);
    o->orphans = atomic_load(&c->st.orphans);
    o->stream_holds = atomic_load(&c->st.stream_holds);
}
