/*
 * client.c — the client side of a ringside channel: registration, submit,
 * and the dispatch of completions to the threads that wait for them.
 *
 * Submit is lock-free: a ticket slot comes off a lock-free free-list, the
 * records are packed straight into space reserved with one CAS, and the
 * doorbell is rung only if the sidecar said it is asleep.
 *
 * Completions are read by one thread at a time, the "reaper" (the leader of
 * a leader/followers scheme, as in many RPC clients): whichever waiting
 * thread finds no reaper becomes it, drains the completion ring, hands each
 * response to its ticket slot, and wakes the followers. The reaper spins
 * briefly before it sleeps, because on a busy channel the next completion is
 * a few hundred nanoseconds away and a sleep/wake pair costs tens of
 * microseconds. It sleeps in epoll_wait() on the completion doorbell *and* the
 * registration socket, so a dead sidecar (socket hang-up) wakes every waiter
 * with RS_EGONE instead of leaving it hanging. Slot bookkeeping is guarded by
 * a mutex that is never held across a sleep or a ring operation.
 */
#include "ringside.h"

#include "channel.h"
#include "record.h"
#include "ring.h"
#include "ringpack.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum slot_state { S_FREE, S_PENDING, S_DONE };

#define NIL UINT32_MAX

typedef struct slot {
    _Atomic uint32_t gen;        /* bumped on every reuse: stale tickets miss */
    _Atomic uint32_t state;      /* enum slot_state */
    _Atomic uint32_t free_next;  /* free-list link */
    /* guarded by client.mu: */
    bool waited;                 /* a thread is in rs_wait for it */
    bool abandoned;              /* rs_call gave up: free it on completion */
    bool chunk_reader;           /* a thread is in rs_next_chunk for it */
    uint32_t prev, next;         /* done-list links */
    rs_response *resp;
    rs_chunk *chunk_head, *chunk_tail;   /* streamed chunks not yet read */
    size_t unread;               /* their bytes */
    bool held;                   /* we asked the sidecar to hold the stream */
} slot;

/* rs_chunk plus its queue link; the public part comes first */
typedef struct chunk_item {
    rs_chunk pub;
    struct chunk_item *next;
} chunk_item;

struct rs_client {
    int sock, sq_efd, cq_efd;
    void *map;
    size_t map_len;
    rs__ring sq, cq;
    uint32_t max_record, max_inflight;
    uint64_t spin_ns;

    slot *slots;
    _Atomic uint64_t free_head;  /* (aba tag << 32) | (index + 1); 0 = empty */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool reaper_active;
    uint32_t nwaiters;
    uint32_t done_head, done_tail;   /* finished, unclaimed tickets, FIFO */
    uint32_t chunk_cursor;           /* where rs_poll_chunks resumes its scan */
    /* Unread chunk bytes. A stream with stream_window of them unread is
     * held at the sidecar (a FLOW record), so its reader's pace holds back
     * only its own upstream transfer and never the other tickets. Over
     * chunk_limit in all (many held streams, or a sidecar without FLOW)
     * the reaper stops reading the ring: the ring fills and the sidecar
     * pauses this client's streams, and everything waits for the readers. */
    _Atomic size_t chunk_bytes;
    size_t chunk_limit, stream_window;
    bool flow;                       /* the sidecar takes FLOW records */
    bool flow_due;                   /* a FLOW record found the ring full */
    int epfd;                        /* rs_event_fd, made on first use */
    int wait_ep;                     /* the reaper sleeps here (see reaper_idle) */
    _Atomic int dead;                /* 0, or why the channel is unusable */
    bool dead_drained;               /* and the ring was emptied after that */

    /* reaper-only state: */
    rs__ring_cursor cq_cur;
    uint8_t *rxbuf;
    rs__decoder dec;
    rs_response *asm_resp;           /* response whose body is arriving */
    uint64_t asm_id, asm_have;
    chunk_item *asm_chunk;           /* chunk whose data is arriving */

    struct {
        _Atomic uint64_t submitted, completed, ring_full, doorbells, sleeps, orphans, stream_holds;
    } st;
};

static _Thread_local char last_error[256];
/* This thread woke the sidecar since it last waited (see reaper_idle). */
static _Thread_local bool woke_sidecar;

const char *rs_last_error(void)
{
    return last_error;
}

static int fail_detail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_detail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ free list */

static void free_push(rs_client *c, uint32_t idx)
{
    uint64_t old = atomic_load_explicit(&c->free_head, memory_order_relaxed);
    uint64_t nw;
    do {
        atomic_store_explicit(&c->slots[idx].free_next, (uint32_t)old, memory_order_relaxed);
        nw = ((old >> 32) + 1) << 32 | (idx + 1);
    } while (!atomic_compare_exchange_weak_explicit(&c->free_head, &old, nw,
                                                    memory_order_release, memory_order_relaxed));
}

static int free_pop(rs_client *c, uint32_t *idx)
{
    uint64_t old = atomic_load_explicit(&c->free_head, memory_order_acquire);
    for (;;) {
        uint32_t top = (uint32_t)old;
        if (top == 0)
            return -1;
        uint32_t next = atomic_load_explicit(&c->slots[top - 1].free_next, memory_order_relaxed);
        uint64_t nw = ((old >> 32) + 1) << 32 | next;
        if (atomic_compare_exchange_weak_explicit(&c->free_head, &old, nw,
                                                  memory_order_acquire, memory_order_acquire)) {
            *idx = top - 1;
            return 0;
        }
    }
}

/* The state of slot idx if it still belongs to ticket t, else S_FREE.
 * A slot leaves S_FREE in submit_one, without mu: the generation is
 * bumped first, then the state is stored with release. Reading the state
 * first (acquire), then the generation, a reader that sees the new state
 * sees the new generation too. The other order could pair the old
 * generation with the new state and take a spent ticket for the slot's
 * new one (e2e: a waited ticket seen live again, once in 10,000 calls
 * from 4 threads). */
static uint32_t ticket_state(rs_client *c, rs_ticket t)
{
    uint32_t idx = (uint32_t)t;
    if (idx >= c->max_inflight)
        return S_FREE;
    uint32_t state = atomic_load_explicit(&c->slots[idx].state, memory_order_acquire);
    if (atomic_load_explicit(&c->slots[idx].gen, memory_order_relaxed) != (uint32_t)(t >> 32))
        return S_FREE;
    return state;
}

/* ------------------------------------------------------------ done list */

static void done_append(rs_client *c, uint32_t idx)
{
    slot *s = &c->slots[idx];
    s->next = NIL;
    s->prev = c->done_tail;
    if (c->done_tail != NIL)
        c->slots[c->done_tail].next = idx;
    else
        c->done_head = idx;
    c->done_tail = idx;
}

static void done_unlink(rs_client *c, uint32_t idx)
{
    slot *s = &c->slots[idx];
    if (s->prev != NIL)
        c->slots[s->prev].next = s->next;
    else
        c->done_head = s->next;
    if (s->next != NIL)
        c->slots[s->next].prev = s->prev;
    else
        c->done_tail = s->prev;
    s->prev = s->next = NIL;
}

static void free_chunks(rs_client *c, slot *s)
{
    while (s->chunk_head) {
        chunk_item *it = (chunk_item *)s->chunk_head;
        s->chunk_head = it->next ? &it->next->pub : NULL;
        atomic_fetch_sub(&c->chunk_bytes, it->pub.len);
        rs_chunk_free(&it->pub);
    }
    s->chunk_tail = NULL;
    s->unread = 0;
}

/* Caller holds mu; the slot is DONE and owned by the caller. */
static void slot_release(rs_client *c, uint32_t idx)
{
    slot *s = &c->slots[idx];
    free_chunks(c, s);
    s->chunk_reader = false;
    s->resp = NULL;
    s->waited = s->abandoned = s->held = false;
    atomic_store_explicit(&s->state, S_FREE, memory_order_relaxed);
    free_push(c, idx);
}

/* --------------------------------------------------------- registration */

static int register_with(rs_client *c, const char *path)
{
    rs__welcome w;
    int fds[3];
    c->sock = rs__channel_register(path, &w, fds, last_error, sizeof last_error);
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
        return fail_detail(RS_EPROTO, "%s", "sidecar sent an invalid region layout");
    }
    c->map_len = (size_t)stbuf.st_size;
    int populate = (w.features & RS__FEATURE_PREFAULT) ? MAP_POPULATE : 0;
    c->map = mmap(NULL, c->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | populate, fds[0], 0);
    close(fds[0]);
    if (c->map == MAP_FAILED) {
        c->map = NULL;
        return fail_detail(RS_ENOMEM, "mmap of the shared region failed: %s", strerror(errno));
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
    last_error[0] = 0;
    if (!out)
        return RS_EINVAL;
    if (!socket_path) {
        if (rs__default_socket_path(path, sizeof path) < 0)
            return fail_detail(RS_EINVAL, "%s", "default socket path too long");
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
    c->spin_ns = (spin ? strtoull(spin, NULL, 10) : 50) * 1000u;

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->mu, NULL);

    int err = register_with(c, socket_path);
    if (err == 0 && rs__decoder_init(&c->dec) < 0)
        err = RS_ENOMEM;
    if (err == 0 && (c->wait_ep = make_wait_ep(c)) < 0)
        err = RS_ENOMEM;
    if (err == 0) {
        c->slots = calloc(c->max_inflight, sizeof *c->slots);
        c->rxbuf = malloc(c->max_record);
        if (!c->slots || !c->rxbuf)
            err = RS_ENOMEM;
    }
    if (err < 0) {
        if (c->map)
            rs__decoder_destroy(&c->dec);
        rs_close(c);
        return err;
    }
    for (uint32_t i = c->max_inflight; i-- > 0;) {
        c->slots[i].prev = c->slots[i].next = NIL;
        free_push(c, i);
    }
    *out = c;
    return 0;
}

void rs_close(rs_client *c)
{
    if (!c)
        return;
    if (c->slots) {
        for (uint32_t i = 0; i < c->max_inflight; i++) {
            rs_response_free(c->slots[i].resp);
            free_chunks(c, &c->slots[i]);
        }
        rs__decoder_destroy(&c->dec);
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
static bool sidecar_gone(rs_client *c)
{
    char b;
    ssize_t n = recv(c->sock, &b, 1, MSG_DONTWAIT | MSG_PEEK);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void mark_dead(rs_client *c, int why)
{
    int expect = 0;
    atomic_compare_exchange_strong(&c->dead, &expect, why);
}

static void ring_doorbell(rs_client *c)
{
    uint64_t one = 1;
    atomic_fetch_add_explicit(&c->st.doorbells, 1, memory_order_relaxed);
    if (write(c->sq_efd, &one, sizeof one) < 0 && errno != EAGAIN)
        mark_dead(c, RS_EGONE);
}

/* --------------------------------------------------------------- submit */

static rs__slice cstr(const char *s)
{
    rs__slice v = { s ? s : "", s ? (uint32_t)strlen(s) : 0 };
    return v;
}

/* The BODY record carrying rq's body from offset off. */
static void body_chunk(rs__body_rec *b, const rs_request *rq, uint64_t off)
{
    uint64_t left = rq->body_len - off;
    b->offset = off;
    b->chunk.ptr = (const char *)rq->body + off;
    b->chunk.len = (uint32_t)(left < RS__CHUNK_BYTES ? left : RS__CHUNK_BYTES);
}

/* A string field over its limit: the refusal names the field and the limit. */
static int over(const char *what, size_t len, unsigned limit)
{
    return fail_detail(RS_E2BIG, "%s is %zu bytes; the limit is %u", what, len, limit);
}

/* Check rq against every limit the sidecar keeps (the README's table),
 * fill the head record from it, and refuse, naming the limit and its
 * value in rs_last_error(), what the sidecar would refuse or could never
 * receive. */
static int check_request(const rs_request *rq, rs__req_rec *r)
{
    if (!rq->path || rq->path[0] != '/')
        return fail_detail(RS_EINVAL, "path must start with '/' (got '%.40s')", rq->path ? rq->path : "(null)");
    if (rq->priority < RS_P0 || rq->priority > RS_P2)
        return fail_detail(RS_EINVAL, "priority must be RS_P0, RS_P1 or RS_P2 (got %d)", rq->priority);
    if ((rq->body_len && !rq->body) || (rq->nheaders && !rq->headers))
        return fail_detail(RS_EINVAL, "%s", rq->body_len && !rq->body ? "body_len > 0 with no body"
                                                                      : "nheaders > 0 with no headers");
    if (rq->nheaders > RS__MAX_HEADERS)
        return fail_detail(RS_E2BIG, "%zu headers; the limit is %u per request", rq->nheaders,
                           RS__MAX_HEADERS);
    r->priority = (uint32_t)rq->priority;
    r->flags = rq->flags;
    r->timeout_ms = rq->timeout_ms;
    r->route = cstr(rq->route);
    r->model = cstr(rq->model);
    r->method = cstr(rq->method ? rq->method : "POST");
    r->path = cstr(rq->path);
    if (r->route.len > RS__MAX_NAME)
        return over("route", r->route.len, RS__MAX_NAME);
    if (r->model.len > RS__MAX_NAME)
        return over("model", r->model.len, RS__MAX_NAME);
    if (r->method.len > RS__MAX_METHOD)
        return over("method", r->method.len, RS__MAX_METHOD);
    if (r->path.len > RS__MAX_PATH)
        return over("path", r->path.len, RS__MAX_PATH);
    r->nheaders = (uint32_t)rq->nheaders;
    for (size_t k = 0; k < rq->nheaders; k++) {
        if (!rq->headers[k].name || !rq->headers[k].name[0] || !rq->headers[k].value)
            return fail_detail(RS_EINVAL, "header %zu has %s", k,
                               rq->headers[k].name && rq->headers[k].name[0] ? "no value" : "no name");
        r->hname[k] = cstr(rq->headers[k].name);
        r->hvalue[k] = cstr(rq->headers[k].value);
    }
    r->body_total = rq->body_len;
    r->chunk.ptr = rq->body;
    r->chunk.len = (uint32_t)(rq->body_len < RS__CHUNK_BYTES ? rq->body_len : RS__CHUNK_BYTES);
    return 0;
}

/* Put one request in the ring, without ringing the doorbell. */
static int submit_one(rs_client *c, const rs_request *rq, rs_ticket *ticket)
{
    if (!c || !rq || !ticket)
        return fail_detail(RS_EINVAL, "%s", "no client, request or ticket");
    int dead = atomic_load(&c->dead);
    if (dead)
        return dead;
    rs__req_rec rec;   /* ~2 KiB of header slices: fine on any thread's stack */
    rs__req_rec *r = &rec;
    int err = check_request(rq, r);
    if (err)
        return err;

    uint32_t idx;
    if (free_pop(c, &idx) < 0)
        return RS_ETOOMANY;
    slot *s = &c->slots[idx];
    /* the slot is ours alone until it is freed again: no locked add needed */
    uint32_t gen = atomic_load_explicit(&s->gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&s->gen, gen, memory_order_relaxed);
    r->id = (uint64_t)gen << 32 | idx;

    /* Size every record first so the whole request is reserved in one CAS:
     * either all of it enters the ring or none of it does. */
    rs__staged head;
    uint32_t head_len = rs__stage(&head, rs__pack_request, r);
    uint64_t total = rs__rec_span(head_len);
    rs__body_rec b = { .id = r->id };
    for (uint64_t off = r->chunk.len; off < rq->body_len; off += RS__CHUNK_BYTES) {
        body_chunk(&b, rq, off);
        total += rs__rec_span(rs__packed_size(rs__pack_body, &b));
    }
    uint64_t pos;
    if (head_len - r->chunk.len > RS__MAX_META) {
        err = fail_detail(RS_E2BIG, "method, path, route, model and headers take %u bytes packed; "
                          "the limit is %u together", head_len - r->chunk.len, RS__MAX_META);
    } else if (head_len > c->max_record) {
        err = fail_detail(RS_E2BIG, "the request's first record is %u bytes; this sidecar takes at most %u",
                          head_len, c->max_record);
    } else if (total > c->sq.cap) {
        err = fail_detail(RS_E2BIG, "request needs %llu bytes of ring (a %zu-byte body and its framing); "
                          "the sidecar's rings hold %llu (ring_bytes): raise ring_bytes or send less",
                          (unsigned long long)total, rq->body_len, (unsigned long long)c->sq.cap);
    } else if (rs__ring_reserve_mp(&c->sq, total, &pos) < 0) {
        atomic_fetch_add_explicit(&c->st.ring_full, 1, memory_order_relaxed);
        err = RS_EAGAIN;
        if (sidecar_gone(c)) {
            mark_dead(c, RS_EGONE);
            err = RS_EGONE;
        }
    }
    if (err) {
        free_push(c, idx);
        return err;
    }
    atomic_store_explicit(&s->state, S_PENDING, memory_order_release);   /* after gen: ticket_state */

    pos += rs__ring_put_staged(&c->sq, pos, &head);
    for (uint64_t off = r->chunk.len; off < rq->body_len; off += RS__CHUNK_BYTES) {
        body_chunk(&b, rq, off);
        pos += rs__ring_put(&c->sq, pos, rs__pack_body, &b, (uint32_t)rs__packed_size(rs__pack_body, &b));
    }
    *ticket = r->id;

    atomic_fetch_add_explicit(&c->st.submitted, 1, memory_order_relaxed);
    return 0;
}

static void maybe_ring(rs_client *c)
{
    if (rs__ring_wake_needed(&c->sq, RS__RING_NEED_WAKEUP)) {
        ring_doorbell(c);
        woke_sidecar = true;
    }
}

int rs_submit(rs_client *c, const rs_request *rq, rs_ticket *ticket)
{
    int err = submit_one(c, rq, ticket);
    if (err == 0)
        maybe_ring(c);
    return err;
}

int rs_submit_batch(rs_client *c, const rs_request *rqs, size_t n, rs_ticket *tickets, int *errors)
{
    if (!c || (n && (!rqs || !tickets || !errors)))
        return RS_EINVAL;
    int accepted = 0;
    for (size_t i = 0; i < n; i++) {
        tickets[i] = 0;
        errors[i] = submit_one(c, &rqs[i], &tickets[i]);
        accepted += errors[i] == 0;
        if (errors[i] == RS_EGONE)
            return RS_EGONE;
    }
    if (accepted)
        maybe_ring(c);   /* one doorbell for the whole batch, if any */
    return accepted;
}
/* ---------------------------------------------------------------- reaper */

static rs_response *response_from(const rs__comp_rec *cr)
{
    /* One block: the struct, the header array, the body (it may still
     * arrive in pieces; its size is known) and every small string, so a
     * response costs one malloc and rs_response_free one free. */
    if (cr->body_total > SIZE_MAX / 2)
        return NULL;
    size_t need = sizeof(rs_response) + cr->nheaders * sizeof(rs_header) + cr->body_total + 1 +
                  cr->error_msg.len + 1 + cr->upstream.len + 1;
    for (uint32_t k = 0; k < cr->nheaders; k++)
        need += cr->hname[k].len + 1 + cr->hvalue[k].len + 1;
    rs_response *r = malloc(need);
    if (!r)
        return NULL;
    memset(r, 0, sizeof *r);
    r->headers = (rs_header *)(r + 1);
    r->body = (uint8_t *)(r->headers + cr->nheaders);
    r->body_len = cr->body_total;
    memcpy(r->body, cr->chunk.ptr, cr->chunk.len);
    r->body[cr->body_total] = 0;
    char *p = (char *)r->body + cr->body_total + 1;
#define TAKE(dst, sl) do { memcpy(p, (sl).ptr, (sl).len); p[(sl).len] = 0; (dst) = p; p += (sl).len + 1; } while (0)
    TAKE(r->error_msg, cr->error_msg);
    TAKE(r->upstream, cr->upstream);
    for (uint32_t k = 0; k < cr->nheaders; k++) {
        TAKE(r->headers[k].name, cr->hname[k]);
        TAKE(r->headers[k].value, cr->hvalue[k]);
    }
#undef TAKE
    r->nheaders = cr->nheaders;
    r->ticket = cr->id;
    r->error = cr->error;
    r->status = (int)cr->status;
    r->attempts = cr->attempts;
    r->timings.queued_us = cr->timings[RS__T_QUEUED];
    r->timings.first_byte_us = cr->timings[RS__T_FIRST_BYTE];
    r->timings.first_content_us = cr->timings[RS__T_FIRST_CONTENT];
    r->timings.total_us = cr->timings[RS__T_TOTAL];
    return r;
}

/* Hand a finished response to its ticket; mu held. */
static void deliver_locked(rs_client *c, rs_response *r)
{
    uint64_t id = r->ticket;
    uint32_t idx = (uint32_t)id;
    /* written under mu only: a plain increment of the atomic will do */
    atomic_store_explicit(&c->st.completed, atomic_load_explicit(&c->st.completed, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (ticket_state(c, id) != S_PENDING) {
        /* not ours: e.g. the sidecar's answer to garbage in our ring */
        atomic_fetch_add_explicit(&c->st.orphans, 1, memory_order_relaxed);
        if (r->error == RS_ECORRUPT)
            mark_dead(c, RS_ECORRUPT);
        rs_response_free(r);
        return;
    }
    slot *s = &c->slots[idx];
    if (s->abandoned) {
        rs_response_free(r);
        slot_release(c, idx);
        return;
    }
    s->resp = r;
    atomic_store_explicit(&s->state, S_DONE, memory_order_relaxed);
    if (!s->waited)
        done_append(c, idx);
}

/* Per-stream flow control, mu held: ask the sidecar to hold slot idx's
 * stream once its reader is stream_window bytes behind, and to go on when
 * the reader is down to a quarter of that (so a reader at the edge does
 * not toggle it per chunk). A ticket that has ended needs neither. A
 * release that never reached the sidecar would leave its stream held for
 * good, so if the ring is full we set PRODUCER_WAITING: the sidecar rings
 * our doorbell when it frees space, the reaper wakes, and its next reap
 * sends what is due (flow_due). */
static void flow_sync_locked(rs_client *c, uint32_t idx)
{
    slot *s = &c->slots[idx];
    bool hold = s->held ? s->unread > c->stream_window / 4 : s->unread >= c->stream_window;
    if (hold == s->held || !c->flow || atomic_load_explicit(&s->state, memory_order_relaxed) != S_PENDING)
        return;
    rs__flow_rec f = { .id = (uint64_t)atomic_load_explicit(&s->gen, memory_order_relaxed) << 32 | idx,
                       .hold = hold };
    size_t len = rs__packed_size(rs__pack_flow, &f);
    uint64_t pos;
    if (rs__ring_reserve_mp(&c->sq, rs__rec_span(len), &pos) < 0) {
        rs__ring_arm(&c->sq, RS__RING_PRODUCER_WAITING);
        if (rs__ring_reserve_mp(&c->sq, rs__rec_span(len), &pos) < 0) {   /* no lost wakeup */
            c->flow_due = true;
            return;
        }
        if (!c->flow_due)   /* else another slot's record still waits for room */
            rs__ring_disarm(&c->sq, RS__RING_PRODUCER_WAITING);
    }
    rs__ring_put(&c->sq, pos, rs__pack_flow, &f, (uint32_t)len);
    s->held = hold;
    if (hold)
        atomic_fetch_add_explicit(&c->st.stream_holds, 1, memory_order_relaxed);
    maybe_ring(c);
}

/* Queue a finished chunk on its ticket; mu held. */
static void deliver_chunk_locked(rs_client *c, chunk_item *it)
{
    uint64_t id = it->pub.ticket;
    uint32_t idx = (uint32_t)id;
    if (ticket_state(c, id) != S_PENDING || c->slots[idx].abandoned ||
        (c->slots[idx].waited && !c->slots[idx].chunk_reader)) {
        /* nobody will read it: unknown ticket, abandoned, or a caller that
         * rs_wait()s for the terminal response only */
        if (idx >= c->max_inflight || atomic_load_explicit(&c->slots[idx].gen, memory_order_relaxed) !=
                                          (uint32_t)(id >> 32))
            atomic_fetch_add_explicit(&c->st.orphans, 1, memory_order_relaxed);
        rs_chunk_free(&it->pub);
        return;
    }
    slot *s = &c->slots[idx];
    it->next = NULL;
    if (s->chunk_tail)
        ((chunk_item *)s->chunk_tail)->next = it;
    else
        s->chunk_head = &it->pub;
    s->chunk_tail = &it->pub;
    atomic_fetch_add(&c->chunk_bytes, it->pub.len);
    s->unread += it->pub.len;
    flow_sync_locked(c, idx);
}

/* Add a CHUNK record's data to the chunk being assembled; returns the chunk
 * when it is complete (more == 0), else NULL. */
static chunk_item *take_chunk(rs_client *c, const rs__chunk_rec *cr, bool *bad)
{
    chunk_item *it = c->asm_chunk;
    if (it && (it->pub.ticket != cr->id || it->pub.seq != cr->seq)) {
        *bad = true;
        return NULL;
    }
    size_t have = it ? it->pub.len : 0;
    chunk_item *n = realloc(it, sizeof *n + have + cr->data.len + 1);
    if (!n) {
        *bad = true;
        return NULL;
    }
    if (!it) {
        memset(n, 0, sizeof *n);
        n->pub.ticket = cr->id;
        n->pub.seq = cr->seq;
        n->pub.sidecar_ns = cr->sidecar_ns;
    }
    n->pub.data = (uint8_t *)(n + 1);
    memcpy(n->pub.data + have, cr->data.ptr, cr->data.len);
    n->pub.len = have + cr->data.len;
    n->pub.data[n->pub.len] = 0;
    c->asm_chunk = cr->more ? n : NULL;
    return cr->more ? NULL : n;
}

/* Drain the completion ring. Called by the reaper only, without mu.
 * Returns how many responses and chunks were handed out. hold: return with
 * mu held (the caller takes it next anyway; one lock round less), and
 * leave waking the followers to the caller. */
static int reap(rs_client *c, bool hold)
{
    enum { BATCH = 64 };
    struct { rs_response *r; chunk_item *ch; } ready[BATCH];
    int nready = 0;
    uint32_t len;
    int rc;

    /* a whole lap read ends the batch too (peek returns 0): it is handed
     * back below before anything more can be read */
    while (nready < BATCH && atomic_load_explicit(&c->chunk_bytes, memory_order_relaxed) < c->chunk_limit &&
           (rc = rs__ring_peek(&c->cq, &c->cq_cur, c->max_record, &len)) != 0) {
        if (rc < 0) {
            mark_dead(c, RS_ECORRUPT);
            break;
        }
        rs__ring_take(&c->cq, &c->cq_cur, c->rxbuf, len);

        rs__rec rec;
        uint64_t id;
        const char *why;
        bool bad = false;
        if (rs__rec_decode(&c->dec, c->rxbuf, len, &rec, &id, &why) < 0) {
            mark_dead(c, RS_EPROTO);
            break;
        }
        if (rec.kind == RS__KIND_COMPLETION) {
            rs_response *r = response_from(&rec.u.comp);
            if (!r) {
                mark_dead(c, RS_ENOMEM);
                break;
            }
            if (rec.u.comp.chunk.len == rec.u.comp.body_total) {
                ready[nready].r = r;
                ready[nready++].ch = NULL;
            } else {
                rs_response_free(c->asm_resp);   /* a prior unfinished body: protocol bug */
                c->asm_resp = r;
                c->asm_id = id;
                c->asm_have = rec.u.comp.chunk.len;
            }
        } else if (rec.kind == RS__KIND_BODY && c->asm_resp && id == c->asm_id &&
                   rec.u.body.offset == c->asm_have &&
                   rec.u.body.chunk.len <= c->asm_resp->body_len - c->asm_have) {
            memcpy(c->asm_resp->body + c->asm_have, rec.u.body.chunk.ptr, rec.u.body.chunk.len);
            c->asm_have += rec.u.body.chunk.len;
            if (c->asm_have == c->asm_resp->body_len) {
                ready[nready].r = c->asm_resp;
                ready[nready++].ch = NULL;
                c->asm_resp = NULL;
            }
        } else if (rec.kind == RS__KIND_CHUNK) {
            chunk_item *ch = take_chunk(c, &rec.u.chunk, &bad);
            if (ch) {
                ready[nready].r = NULL;
                ready[nready++].ch = ch;
            }
        } else {
            bad = true;
        }
        if (bad) {
            mark_dead(c, RS_EPROTO);
            break;
        }
    }
    /* One release for the batch; then, having freed space, kick the
     * sidecar if it waits to write more. A reap that freed nothing has
     * nothing to announce (and saves the fence). */
    if (c->cq_cur.pos != c->cq_cur.released) {
        if (rs__ring_release(&c->cq, &c->cq_cur) < 0)
            mark_dead(c, RS_ECORRUPT);
        else if (rs__ring_wake_needed(&c->cq, RS__RING_PRODUCER_WAITING))
            ring_doorbell(c);
    }

    if (nready || atomic_load(&c->dead) || hold) {
        pthread_mutex_lock(&c->mu);
        for (int k = 0; k < nready; k++) {
            if (ready[k].r)
                deliver_locked(c, ready[k].r);
            else
                deliver_chunk_locked(c, ready[k].ch);
        }
        if (c->flow_due) {   /* a FLOW record waited for room (flow_sync_locked) */
            c->flow_due = false;
            for (uint32_t i = 0; i < c->max_inflight; i++)
                flow_sync_locked(c, i);
        }
        if (!hold) {
            if (c->nwaiters)
                pthread_cond_broadcast(&c->cv);
            pthread_mutex_unlock(&c->mu);
        }
    }
    return nready;
}

static bool cq_has_record(rs_client *c)
{
    return rs__ring_has_frame(&c->cq, c->cq_cur.pos);
}

/* Reaper with nothing to reap: spin a little, then sleep until the
 * completion doorbell, a sidecar hang-up, or the deadline. Returns true
 * when the sidecar hung up. The spin reads the clock once per 64 looks:
 * on a VM a clock read costs more than a look at the ring. */
static bool reaper_idle(rs_client *c, uint64_t deadline)
{
    uint64_t spin_end = 0, now = 0;
    bool yield = woke_sidecar;
    woke_sidecar = false;
    for (unsigned i = 1; c->spin_ns; i++) {
        if (cq_has_record(c))
            return false;
        if (yield || (i & 63) == 0) {
            now = now_ns();
            if (!spin_end)
                spin_end = now + c->spin_ns;
            if (now >= spin_end || now >= deadline)
                break;
        }
        if (yield)
            sched_yield();
        else
            rs__cpu_relax();
    }
    /* Even a client told not to spin gives a sidecar it just woke one
     * chance to run first, should they share this CPU: then its answer is
     * here before we would have gone to sleep. */
    if (yield && !c->spin_ns) {
        sched_yield();
        if (cq_has_record(c))
            return false;
    }
    if (deadline != UINT64_MAX && (now = now_ns()) >= deadline)
        return false;

    bool hup = false;
    rs__ring_arm(&c->cq, RS__RING_NEED_WAKEUP);
    if (!cq_has_record(c)) {
        struct epoll_event ev[2];
        struct timespec ts, *tsp = NULL;
        if (deadline != UINT64_MAX) {
            uint64_t left = deadline - now;
            ts.tv_sec = (time_t)(left / 1000000000u);
            ts.tv_nsec = (long)(left % 1000000000u);
            tsp = &ts;
        }
        atomic_fetch_add_explicit(&c->st.sleeps, 1, memory_order_relaxed);
        int n = epoll_pwait2(c->wait_ep, ev, 2, tsp, NULL);
        if (n < 0 && errno == ENOSYS)   /* kernel < 5.11: millisecond timeout, rounded up */
            n = epoll_wait(c->wait_ep, ev, 2,
                           tsp ? (int)(((deadline - now) + 999999u) / 1000000u) : -1);
        for (int k = 0; k < n; k++)
            if (ev[k].data.fd == c->sock && sidecar_gone(c))
                hup = true;
    }
    /* NEED_WAKEUP is left as it is: usually the sidecar cleared it when it
     * rang; if we woke for another reason it costs the sidecar one more
     * doorbell. Clearing it could clear an event-fd user's arming
     * (rs_arm_event_fd sets the same flag), whose loop would then never
     * hear of its answer: asyncio tasks hung while a thread's wait timed
     * out (2 of 20 runs). */
    return hup;
}

/* One step of waiting, mu held on entry and exit: become the reaper if
 * nobody is, else sleep until the reaper has news or the deadline. */
static void wait_step(rs_client *c, uint64_t deadline)
{
    /* Over the chunk limit the ring is left alone until someone reads
     * chunks (they broadcast); reaping would only spin. */
    bool over = atomic_load_explicit(&c->chunk_bytes, memory_order_relaxed) >= c->chunk_limit;
    if (!c->reaper_active && !over) {
        c->reaper_active = true;
        pthread_mutex_unlock(&c->mu);
        bool hup = false, locked = false;
        if (reap(c, false) == 0 && !atomic_load(&c->dead)) {
            hup = reaper_idle(c, deadline);
            if (!hup) {
                reap(c, true);
                locked = true;
            }
        }
        /* A sidecar writes its last completions before it goes away: hand
         * out everything still in the ring before declaring it gone. */
        bool drained = hup || atomic_load(&c->dead);
        if (drained) {
            if (locked)
                pthread_mutex_unlock(&c->mu);
            locked = false;
            while (reap(c, false) > 0)
                ;
            if (hup)
                mark_dead(c, RS_EGONE);
        }
        if (!locked)
            pthread_mutex_lock(&c->mu);
        if (drained)
            c->dead_drained = true;
        c->reaper_active = false;
        if (c->nwaiters)   /* someone must take over the reaping */
            pthread_cond_broadcast(&c->cv);
        return;
    }
    c->nwaiters++;
    if (deadline == UINT64_MAX) {
        pthread_cond_wait(&c->cv, &c->mu);
    } else {
        struct timespec ts = { (time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u) };
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    c->nwaiters--;
}

/* The tail of every wait loop, mu held, once the caller found nothing to
 * take: wait one step and return 0 (look again), or say why to stop — the
 * channel is dead (and its ring was drained first), or RS_ETIMEDOUT.
 * `first` lets a zero timeout still reap the ring once. */
static int wait_more(rs_client *c, bool first, uint64_t deadline)
{
    int dead;
    if (c->dead_drained && (dead = atomic_load(&c->dead)) != 0)
        return dead;
    if (!first && now_ns() >= deadline)
        return RS_ETIMEDOUT;
    wait_step(c, deadline);
    return 0;
}

/* The slot of a ticket that is still the caller's to wait on, or NULL
 * (stale generation, free, or abandoned by rs_call). mu held. */
static slot *live_slot_locked(rs_client *c, rs_ticket t)
{
    if (ticket_state(c, t) == S_FREE)
        return NULL;
    slot *s = &c->slots[(uint32_t)t];
    return s->abandoned ? NULL : s;
}

static uint64_t deadline_of(int timeout_ms)
{
    if (timeout_ms < 0)
        return UINT64_MAX;
    return now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/* What a thread claims a ticket's slot for: one waiter for the response,
 * one reader for the stream's chunks (the two may differ). */
enum claim { CLAIM_RESPONSE, CLAIM_CHUNKS };

/* Lock mu and claim t's slot. Returns it with mu held, or NULL with mu
 * released and *err set: RS_ENOENT (not a live ticket) or RS_EINVAL
 * (another thread already holds that claim). */
static slot *claim_locked(rs_client *c, rs_ticket t, enum claim what, int *err)
{
    pthread_mutex_lock(&c->mu);
    slot *s = live_slot_locked(c, t);
    bool *flag = !s ? NULL : what == CLAIM_RESPONSE ? &s->waited : &s->chunk_reader;
    *err = !s ? RS_ENOENT : *flag ? RS_EINVAL : 0;
    if (*err) {
        pthread_mutex_unlock(&c->mu);
        return NULL;
    }
    *flag = true;
    return s;
}

/* A waiter and no chunk reader: the ticket's chunks will not be read (new
 * ones are dropped as they come, deliver_chunk_locked). Drop the queued
 * ones too, and let the sidecar go on with the stream if it was held for
 * them: else the terminal response the waiter wants would never come. */
static void drop_unread_locked(rs_client *c, uint32_t idx)
{
    slot *s = &c->slots[idx];
    if (!s->chunk_head)
        return;
    free_chunks(c, s);
    flow_sync_locked(c, idx);
    if (c->nwaiters)   /* under the all-streams limit again */
        pthread_cond_broadcast(&c->cv);
}

static int wait_until(rs_client *c, rs_ticket t, uint64_t deadline, rs_response **out)
{
    uint32_t idx = (uint32_t)t;
    int err;
    slot *s = claim_locked(c, t, CLAIM_RESPONSE, &err);
    if (!s)
        return err;
    if (!s->chunk_reader)
        drop_unread_locked(c, idx);
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == S_DONE)
        done_unlink(c, idx);

    for (bool first = true;; first = false) {
        if (atomic_load_explicit(&s->state, memory_order_relaxed) == S_DONE) {
            *out = s->resp;
            slot_release(c, idx);
            err = 0;
            break;
        }
        if ((err = wait_more(c, first, deadline)) != 0) {
            if (err == RS_ETIMEDOUT)
                s->waited = false;   /* the ticket stays live for a later wait */
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return err;
}

int rs_wait(rs_client *c, rs_ticket t, int timeout_ms, rs_response **out)
{
    if (!c || !out)
        return RS_EINVAL;
    return wait_until(c, t, deadline_of(timeout_ms), out);
}

/* Collect up to max finished things of tickets nobody waits on; mu held. */
typedef int (*take_fn)(rs_client *c, void *out, int max);

/* rs_poll and rs_poll_chunks: take what is there, else wait for more. */
static int poll_any(rs_client *c, void *out, int max, int timeout_ms, take_fn take)
{
    if (!c || !out || max <= 0)
        return RS_EINVAL;
    uint64_t deadline = deadline_of(timeout_ms);
    int n;
    pthread_mutex_lock(&c->mu);
    for (bool first = true;; first = false) {
        if ((n = take(c, out, max)) != 0)
            break;
        if ((n = wait_more(c, first, deadline)) != 0) {
            if (n == RS_ETIMEDOUT)
                n = 0;   /* nothing came: a count of zero, not an error */
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

static int take_responses(rs_client *c, void *dst, int max)
{
    rs_response **out = dst;
    int n = 0;
    /* a stream's terminal response waits until its chunks are read */
    for (uint32_t idx = c->done_head, next; n < max && idx != NIL; idx = next) {
        next = c->slots[idx].next;
        if (c->slots[idx].chunk_head)
            continue;
        done_unlink(c, idx);
        out[n++] = c->slots[idx].resp;
        slot_release(c, idx);
    }
    return n;
}

int rs_poll(rs_client *c, rs_response **out, int max, int timeout_ms)
{
    return poll_any(c, out, max, timeout_ms, take_responses);
}

/* Nobody will ever claim this ticket: free its slot when it ends. */
static void abandon(rs_client *c, rs_ticket t)
{
    pthread_mutex_lock(&c->mu);
    slot *s = &c->slots[(uint32_t)t];
    if (atomic_load_explicit(&s->gen, memory_order_relaxed) == (uint32_t)(t >> 32)) {
        if (atomic_load_explicit(&s->state, memory_order_relaxed) == S_DONE) {
            if (!s->waited)
                done_unlink(c, (uint32_t)t);
            rs_response_free(s->resp);
            slot_release(c, (uint32_t)t);
        } else if (atomic_load_explicit(&s->state, memory_order_relaxed) == S_PENDING) {
            s->abandoned = true;
            free_chunks(c, s);
        }
    }
    pthread_mutex_unlock(&c->mu);
}

int rs_call(rs_client *c, const rs_request *rq, int timeout_ms, rs_response **out)
{
    if (!c || !rq || !out)
        return RS_EINVAL;
    /* The deadline is taken once the request is in the ring: a clock read
     * costs ~30 ns on a VM, and there it overlaps with the sidecar's work
     * instead of delaying the request. */
    uint64_t deadline = 0;
    rs_ticket t;
    int err;
    /* a full ring drains in microseconds: back off briefly, then retry */
    for (unsigned pause_us = 20; (err = rs_submit(c, rq, &t)) == RS_EAGAIN; ) {
        if (!deadline)
            deadline = deadline_of(timeout_ms);
        if (now_ns() >= deadline)
            return RS_ETIMEDOUT;
        usleep(pause_us);
        if (pause_us < 2000)
            pause_us *= 2;
    }
    if (err < 0)
        return err;
    if (!deadline)
        deadline = deadline_of(timeout_ms);
    err = wait_until(c, t, deadline, out);
    if (err == RS_ETIMEDOUT)
        abandon(c, t);
    return err;
}

void rs_response_free(rs_response *r)
{
    free(r);   /* one block: see response_from and synth */
}

const char *rs_response_header(const rs_response *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t k = 0; k < r->nheaders; k++)
        if (strcasecmp(r->headers[k].name, name) == 0)
            return r->headers[k].value;
    return NULL;
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

/* ------------------------------------------------------------ streaming */

void rs_chunk_free(rs_chunk *ch)
{
    free(ch);   /* a chunk_item: one block with its data */
}

static rs_chunk *pop_chunk(rs_client *c, slot *s)
{
    chunk_item *it = (chunk_item *)s->chunk_head;
    s->chunk_head = it->next ? &it->next->pub : NULL;
    if (!s->chunk_head)
        s->chunk_tail = NULL;
    size_t before = atomic_fetch_sub(&c->chunk_bytes, it->pub.len);
    /* below the limit again: whoever stopped reaping may go on */
    if (before >= c->chunk_limit && c->nwaiters)
        pthread_cond_broadcast(&c->cv);
    s->unread -= it->pub.len;
    if (s->held)
        flow_sync_locked(c, (uint32_t)(s - c->slots));
    return &it->pub;
}

int rs_next_chunk(rs_client *c, rs_ticket t, int timeout_ms, rs_chunk **out)
{
    if (!c || !out)
        return RS_EINVAL;
    uint64_t deadline = deadline_of(timeout_ms);
    int ret;
    slot *s = claim_locked(c, t, CLAIM_CHUNKS, &ret);
    if (!s)
        return ret;
    for (bool first = true;; first = false) {
        if (live_slot_locked(c, t) != s) {
            /* an rs_wait took the terminal response meanwhile (so no chunk
             * will come) and the slot may already carry another ticket */
            ret = 0;
            break;
        }
        if (s->chunk_head) {
            *out = pop_chunk(c, s);
            ret = 1;
            break;
        }
        if (atomic_load_explicit(&s->state, memory_order_relaxed) == S_DONE) {
            ret = 0;   /* the terminal response came after the last chunk */
            break;
        }
        if ((ret = wait_more(c, first, deadline)) != 0)
            break;
    }
    if (live_slot_locked(c, t) == s) {   /* else the claim went with the slot */
        s->chunk_reader = false;
        if (s->waited)
            drop_unread_locked(c, (uint32_t)t);
    }
    pthread_mutex_unlock(&c->mu);
    return ret;
}

static int take_chunks(rs_client *c, void *dst, int max)
{
    rs_chunk **out = dst;
    int n = 0;
    /* round robin over the slots, so one chatty stream cannot hide the others */
    for (uint32_t k = 0; k < c->max_inflight && n < max; k++) {
        slot *s = &c->slots[(c->chunk_cursor + k) % c->max_inflight];
        if (s->chunk_head && !s->chunk_reader && !s->waited)
            out[n++] = pop_chunk(c, s);
    }
    c->chunk_cursor = (c->chunk_cursor + 1) % c->max_inflight;
    return n;
}

int rs_poll_chunks(rs_client *c, rs_chunk **out, int max, int timeout_ms)
{
    return poll_any(c, out, max, timeout_ms, take_chunks);
}

int rs_cancel(rs_client *c, rs_ticket t)
{
    if (!c)
        return RS_EINVAL;
    uint32_t idx = (uint32_t)t;
    if (idx >= c->max_inflight)
        return RS_ENOENT;
    int dead = atomic_load(&c->dead);
    if (dead)
        return dead;
    pthread_mutex_lock(&c->mu);
    uint32_t state = ticket_state(c, t);
    pthread_mutex_unlock(&c->mu);
    if (state == S_FREE)
        return RS_ENOENT;
    if (state == S_DONE)
        return 0;   /* it has ended already; its answer stands */
    size_t len = rs__packed_size(rs__pack_cancel, &t);
    uint64_t pos;
    if (rs__ring_reserve_mp(&c->sq, rs__rec_span(len), &pos) < 0)
        return sidecar_gone(c) ? RS_EGONE : RS_EAGAIN;
    rs__ring_put(&c->sq, pos, rs__pack_cancel, &t, (uint32_t)len);
    maybe_ring(c);
    return 0;
}

/* ---------------------------------------------------------------- batches */

/* A response for an item that never got one from the sidecar. */
static rs_response *synth(rs_ticket t, int err, const char *why)
{
    size_t ml = strlen(why);
    rs_response *r = calloc(1, sizeof *r + 1 + ml + 2);   /* one block, as response_from */
    if (!r)
        return NULL;
    r->body = (uint8_t *)(r + 1);   /* "" */
    char *p = (char *)r->body + 1;
    memcpy(p, why, ml + 1);
    r->error_msg = p;
    r->upstream = p + ml + 1;   /* "" */
    r->ticket = t;
    r->error = err;
    return r;
}

int rs_call_batch(rs_client *c, const rs_request *rqs, size_t n, int timeout_ms, rs_response **out)
{
    if (!c || (n && (!rqs || !out)))
        return RS_EINVAL;
    enum { TODO, SENT, DONE } *st = calloc(n ? n : 1, sizeof *st);
    rs_ticket *t = calloc(n ? n : 1, sizeof *t);
    if (!st || !t) {
        free(st);
        free(t);
        return RS_ENOMEM;
    }
    uint64_t deadline = deadline_of(timeout_ms);
    size_t done = 0, oldest = 0, todo_from = 0;   /* items before todo_from are submitted */
    int err = 0;
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;

    while (done < n && !err) {
        /* submit what fits; a full ring is retried as answers make room */
        bool rang = false, todo = false;
        for (size_t i = todo_from; i < n; i++, todo_from = i) {
            int e = submit_one(c, &rqs[i], &t[i]);
            if (e == 0) {
                st[i] = SENT;
                rang = true;
            } else if (e == RS_EAGAIN || e == RS_ETOOMANY) {
                todo = true;
                break;   /* keep order: later items wait for room too */
            } else {
                out[i] = synth(0, e, e == RS_E2BIG || e == RS_EINVAL ? last_error : rs_strerror(e));
                st[i] = DONE;
                done++;
            }
        }
        if (rang)
            maybe_ring(c);
        /* the oldest in flight: only submitted items (before todo_from) */
        while (oldest < todo_from && st[oldest] != SENT)
            oldest++;
        uint64_t now = now_ns();
        if (now >= deadline)
            break;
        if (oldest == todo_from) {
            if (todo)
                usleep(100);   /* the ring is full of other threads' requests */
            continue;
        }
        uint64_t left = deadline == UINT64_MAX ? 0 : deadline - now;
        int wait_ms = deadline == UINT64_MAX ? -1 : (int)((left + 999999u) / 1000000u);
        if (todo && (wait_ms < 0 || wait_ms > 5))
            wait_ms = 5;   /* come back soon to submit the rest */
        rs_response *r;
        int e = rs_wait(c, t[oldest], wait_ms, &r);
        if (e == 0) {
            out[oldest] = r;
            st[oldest] = DONE;
            done++;
        } else if (e != RS_ETIMEDOUT) {
            err = e;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (st[i] == DONE)
            continue;
        if (st[i] == SENT)
            abandon(c, t[i]);
        out[i] = err ? synth(t[i], err, rs_strerror(err))
                     : synth(t[i], RS_ETIMEDOUT, st[i] == SENT ? "still running when the batch timed out; abandoned"
                                                            : "not submitted before the batch timed out");
    }
    free(st);
    free(t);
    for (size_t i = 0; i < n; i++)
        if (!out[i])
            return RS_ENOMEM;
    return 0;
}

/* ------------------------------------------------------------ event loops */

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
                   atomic_load(&c->dead) || sidecar_gone(c);
    if (!pending) {
        /* no reaper runs (we hold mu and reaper_active is false), so the
         * ring position is ours to read */
        rs__ring_arm(&c->cq, RS__RING_NEED_WAKEUP);
        pending = cq_has_record(c);
    }
    pthread_mutex_unlock(&c->mu);
    return pending ? 1 : 0;
}
