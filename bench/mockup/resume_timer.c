/*
 * resume_timer.c - owns the mock upstream's timer thread: a min-heap of
 * (deadline, suspended connection) drained by one thread that calls
 * MHD_resume_connection() (documented as callable from any thread).
 *
 * One thread for all timers keeps the design trivially correct: workers only
 * push, the timer thread only pops and frees, and a single mutex guards the
 * heap and every entry. At benchmark rates (tens of thousands of delayed
 * requests per second) the heap operations are negligible next to the HTTP
 * work.
 *
 * The thread sleeps in epoll_wait() on a timerfd armed for the earliest
 * deadline (nanosecond precision, unlike epoll_wait's millisecond timeout,
 * which would add up over a paced stream) and on every suspended socket,
 * watched for EPOLLRDHUP so that a client that hangs up mid-delay is resumed
 * at once (see resume_timer.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "resume_timer.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* One suspended connection. Owned by the heap: only the timer thread pops
 * and frees it, so an epoll event that carries it can never outlive it (the
 * socket is unwatched before the entry is freed, in the same thread). */
struct pending {
    uint64_t deadline_ns;
    /* Tie-breaker so equal deadlines fire in scheduling order (keeps
     * chunk ordering intuitive when two timers land on the same ns). */
    uint64_t seq;
    struct MHD_Connection *conn;
    int fd;    /* watched for the peer hanging up; -1: not watched */
    bool gone; /* already resumed because the peer hung up */
};

struct resume_timer {
    pthread_mutex_t lock;
    pthread_t thread;
    int epfd; /* the timerfd (data.ptr NULL) and watched sockets */
    int tfd;  /* CLOCK_MONOTONIC, armed for heap[0]'s deadline */
    struct pending **heap;
    size_t len, cap;
    uint64_t next_seq;
    atomic_bool stopping;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool entry_before(const struct pending *a, const struct pending *b)
{
    if (a->deadline_ns != b->deadline_ns)
        return a->deadline_ns < b->deadline_ns;
    return a->seq < b->seq;
}

static void heap_swap(struct pending **h, size_t i, size_t j)
{
    struct pending *t = h[i];
    h[i] = h[j];
    h[j] = t;
}

static bool heap_push(struct resume_timer *rt, struct pending *e)
{
    if (rt->len == rt->cap) {
        size_t ncap = rt->cap ? rt->cap * 2 : 256;
        struct pending **nh = realloc(rt->heap, ncap * sizeof *nh);
        if (!nh)
            return false;
        rt->heap = nh;
        rt->cap = ncap;
    }
    size_t i = rt->len++;
    rt->heap[i] = e;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!entry_before(rt->heap[i], rt->heap[parent]))
            break;
        heap_swap(rt->heap, i, parent);
        i = parent;
    }
    return true;
}

static struct pending *heap_pop(struct resume_timer *rt)
{
    struct pending *top = rt->heap[0];
    rt->heap[0] = rt->heap[--rt->len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < rt->len && entry_before(rt->heap[l], rt->heap[m]))
            m = l;
        if (r < rt->len && entry_before(rt->heap[r], rt->heap[m]))
            m = r;
        if (m == i)
            break;
        heap_swap(rt->heap, i, m);
        i = m;
    }
    return top;
}

/* Arms the timerfd for absolute monotonic time `deadline_ns`; 0 disarms.
 * A deadline already past fires at once. Called with the lock held, so the
 * last arm always matches the heap's current top. */
static void arm(struct resume_timer *rt, uint64_t deadline_ns)
{
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(deadline_ns / 1000000000u),
                     .tv_nsec = (long)(deadline_ns % 1000000000u)},
    };
    timerfd_settime(rt->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Stops watching before the connection is resumed: after the resume
 * libmicrohttpd may close the socket and reuse its number. */
static void unwatch(struct resume_timer *rt, struct pending *p)
{
    if (p->fd >= 0)
        epoll_ctl(rt->epfd, EPOLL_CTL_DEL, p->fd, NULL);
    p->fd = -1;
}

/* Resumes outside the lock: MHD_resume_connection() takes libmicrohttpd's
 * own mutex, and never nesting it inside ours rules out any lock-order
 * inversion with workers that are calling resume_timer_after(). */
#define BATCH 128

static void *timer_main(void *arg)
{
    struct resume_timer *rt = arg;
    struct epoll_event evs[BATCH];
    struct MHD_Connection *due[2 * BATCH];

    for (;;) {
        int k = epoll_wait(rt->epfd, evs, BATCH, -1);
        if (k < 0)
            k = 0; /* EINTR: just look at the heap again */
        size_t n = 0;
        pthread_mutex_lock(&rt->lock);
        for (int i = 0; i < k; i++) {
            struct pending *p = evs[i].data.ptr;
            if (!p) {
                uint64_t ticks;
                /* Non-blocking; it only clears the readiness, so EAGAIN
                 * (re-armed meanwhile) is as good as a count. */
                ssize_t got = read(rt->tfd, &ticks, sizeof ticks);
                (void)got;
                continue;
            }
            /* EPOLLONESHOT: one event per watch, and unwatch() below. The
             * entry stays in the heap until its deadline, as a tombstone. */
            if (!p->gone) {
                p->gone = true;
                unwatch(rt, p);
                due[n++] = p->conn;
            }
        }
        bool stop = atomic_load(&rt->stopping);
        uint64_t now = now_ns();
        while (rt->len > 0 && n < 2 * BATCH &&
               (stop || rt->heap[0]->deadline_ns <= now)) {
            struct pending *p = heap_pop(rt);
            if (!p->gone) {
                unwatch(rt, p);
                due[n++] = p->conn;
            }
            free(p);
        }
        bool done = stop && rt->len == 0;
        /* A full batch leaves due entries behind: a past deadline makes
         * the timerfd fire again at once. */
        arm(rt, rt->len == 0 ? 0 : stop ? 1 : rt->heap[0]->deadline_ns);
        pthread_mutex_unlock(&rt->lock);

        for (size_t i = 0; i < n; i++)
            MHD_resume_connection(due[i]);
        if (done)
            break;
    }
    return NULL;
}

struct resume_timer *resume_timer_start(void)
{
    struct resume_timer *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    pthread_mutex_init(&rt->lock, NULL);
    atomic_init(&rt->stopping, false);
    /* Deadlines are monotonic so wall-clock jumps cannot stretch delays. */
    rt->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    rt->epfd = epoll_create1(EPOLL_CLOEXEC);
    int err = errno;
    if (rt->tfd >= 0 && rt->epfd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        err = epoll_ctl(rt->epfd, EPOLL_CTL_ADD, rt->tfd, &ev) == 0
                  ? pthread_create(&rt->thread, NULL, timer_main, rt)
                  : errno;
        if (err == 0)
            return rt;
    }
    if (rt->tfd >= 0)
        close(rt->tfd);
    if (rt->epfd >= 0)
        close(rt->epfd);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
    errno = err;
    return NULL;
}

void resume_timer_after(struct resume_timer *rt, struct MHD_Connection *conn,
                        unsigned ms)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct pending *p = malloc(sizeof *p);
    pthread_mutex_lock(&rt->lock);
    /* Checked under the lock: stop() flips the flag under the same lock and
     * the thread drains the heap after that, so an entry pushed here is
     * always either drained by the thread or resumed right below. */
    bool resume_now = atomic_load(&rt->stopping);
    if (!resume_now && p) {
        *p = (struct pending){
            .deadline_ns = now_ns() + (uint64_t)ms * 1000000u,
            .seq = rt->next_seq++,
            .conn = conn,
            .fd = -1,
        };
        /* Watched before the push, under the lock: the thread cannot pop
         * and free the entry before it is fully set up. Without a watch
         * the delay still works; a hang-up is then noticed at its end. */
        if (ci) {
            struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLONESHOT,
                                     .data.ptr = p};
            if (epoll_ctl(rt->epfd, EPOLL_CTL_ADD, ci->connect_fd, &ev) == 0)
                p->fd = ci->connect_fd;
        }
        if (heap_push(rt, p)) {
            if (rt->heap[0] == p)
                arm(rt, p->deadline_ns);
            p = NULL; /* the heap owns it */
        } else {
            unwatch(rt, p);
            resume_now = true;
        }
    } else {
        resume_now = true;
    }
    if (resume_now && !atomic_load(&rt->stopping))
        /* Out of memory: a shorter delay beats a connection that is
         * suspended forever. */
        fprintf(stderr, "mock-upstream: timer heap full, delay skipped\n");
    pthread_mutex_unlock(&rt->lock);
    free(p);
    if (resume_now)
        MHD_resume_connection(conn);
}

bool resume_timer_stopping(const struct resume_timer *rt)
{
    return atomic_load(&rt->stopping);
}

void resume_timer_stop(struct resume_timer *rt)
{
    pthread_mutex_lock(&rt->lock);
    atomic_store(&rt->stopping, true);
    arm(rt, 1); /* long past: wakes the thread to drain the heap */
    pthread_mutex_unlock(&rt->lock);
    pthread_join(rt->thread, NULL);
}

void resume_timer_free(struct resume_timer *rt)
{
    if (!rt)
        return;
    close(rt->tfd);
    close(rt->epfd);
    pthread_mutex_destroy(&rt->lock);
    free(rt->heap);
    free(rt);
}
