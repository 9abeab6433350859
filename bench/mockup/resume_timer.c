/*
 * resume_timer.c - owns the mock upstream's timer thread: a min-heap of
 * (deadline, suspended connection) drained by one thread that calls
 * MHD_resume_connection() (documented as callable from any thread).
 *
 * One thread for all timers keeps the design trivially correct: workers only
 * push, the timer thread only pops, and a single mutex guards the heap. At
 * benchmark rates (tens of thousands of delayed requests per second) the heap
 * operations are negligible next to the HTTP work.
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
#include <time.h>

struct timer_entry {
    uint64_t deadline_ns;
    /* Tie-breaker so equal deadlines fire in scheduling order (keeps
     * chunk ordering intuitive when two timers land on the same ns). */
    uint64_t seq;
    struct MHD_Connection *conn;
};

struct resume_timer {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    struct timer_entry *heap;
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

static bool entry_before(const struct timer_entry *a, const struct timer_entry *b)
{
    if (a->deadline_ns != b->deadline_ns)
        return a->deadline_ns < b->deadline_ns;
    return a->seq < b->seq;
}

static void heap_swap(struct timer_entry *h, size_t i, size_t j)
{
    struct timer_entry t = h[i];
    h[i] = h[j];
    h[j] = t;
}

static bool heap_push(struct resume_timer *rt, struct timer_entry e)
{
    if (rt->len == rt->cap) {
        size_t ncap = rt->cap ? rt->cap * 2 : 256;
        struct timer_entry *nh = realloc(rt->heap, ncap * sizeof *nh);
        if (!nh)
            return false;
        rt->heap = nh;
        rt->cap = ncap;
    }
    size_t i = rt->len++;
    rt->heap[i] = e;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!entry_before(&rt->heap[i], &rt->heap[parent]))
            break;
        heap_swap(rt->heap, i, parent);
        i = parent;
    }
    return true;
}

static struct timer_entry heap_pop(struct resume_timer *rt)
{
    struct timer_entry top = rt->heap[0];
    rt->heap[0] = rt->heap[--rt->len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < rt->len && entry_before(&rt->heap[l], &rt->heap[m]))
            m = l;
        if (r < rt->len && entry_before(&rt->heap[r], &rt->heap[m]))
            m = r;
        if (m == i)
            break;
        heap_swap(rt->heap, i, m);
        i = m;
    }
    return top;
}

/* Resumes in batches outside the lock: MHD_resume_connection() takes
 * libmicrohttpd's own mutex, and never nesting it inside ours rules out any
 * lock-order inversion with workers that are calling resume_timer_after(). */
#define BATCH 128

static void *timer_main(void *arg)
{
    struct resume_timer *rt = arg;
    struct MHD_Connection *due[BATCH];

    pthread_mutex_lock(&rt->lock);
    for (;;) {
        bool stop = atomic_load(&rt->stopping);
        size_t n = 0;
        uint64_t now = now_ns();
        while (rt->len > 0 && n < BATCH &&
               (stop || rt->heap[0].deadline_ns <= now))
            due[n++] = heap_pop(rt).conn;

        if (n > 0) {
            pthread_mutex_unlock(&rt->lock);
            for (size_t i = 0; i < n; i++)
                MHD_resume_connection(due[i]);
            pthread_mutex_lock(&rt->lock);
            continue;
        }
        if (stop)
            break;
        if (rt->len == 0) {
            pthread_cond_wait(&rt->wake, &rt->lock);
        } else {
            uint64_t d = rt->heap[0].deadline_ns;
            struct timespec ts = {
                .tv_sec = (time_t)(d / 1000000000u),
                .tv_nsec = (long)(d % 1000000000u),
            };
            pthread_cond_timedwait(&rt->wake, &rt->lock, &ts);
        }
    }
    pthread_mutex_unlock(&rt->lock);
    return NULL;
}

struct resume_timer *resume_timer_start(void)
{
    struct resume_timer *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    /* Deadlines are monotonic so wall-clock jumps cannot stretch delays. */
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rt->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&rt->lock, NULL);
    atomic_init(&rt->stopping, false);
    int err = pthread_create(&rt->thread, NULL, timer_main, rt);
    if (err) {
        pthread_cond_destroy(&rt->wake);
        pthread_mutex_destroy(&rt->lock);
        free(rt);
        errno = err;
        return NULL;
    }
    return rt;
}

void resume_timer_after(struct resume_timer *rt, struct MHD_Connection *conn,
                        unsigned ms)
{
    pthread_mutex_lock(&rt->lock);
    /* Checked under the lock: stop() flips the flag under the same lock and
     * the thread drains the heap after that, so an entry pushed here is
     * always either drained by the thread or resumed right below. */
    bool resume_now = atomic_load(&rt->stopping);
    if (!resume_now) {
        struct timer_entry e = {
            .deadline_ns = now_ns() + (uint64_t)ms * 1000000u,
            .seq = rt->next_seq++,
            .conn = conn,
        };
        if (heap_push(rt, e)) {
            if (rt->heap[0].conn == conn)
                pthread_cond_signal(&rt->wake);
        } else {
            /* Out of memory: a shorter delay beats a connection that is
             * suspended forever. */
            fprintf(stderr, "mock-upstream: timer heap full, delay skipped\n");
            resume_now = true;
        }
    }
    pthread_mutex_unlock(&rt->lock);
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
    pthread_cond_signal(&rt->wake);
    pthread_mutex_unlock(&rt->lock);
    pthread_join(rt->thread, NULL);
}

void resume_timer_free(struct resume_timer *rt)
{
    if (!rt)
        return;
    pthread_cond_destroy(&rt->wake);
    pthread_mutex_destroy(&rt->lock);
    free(rt->heap);
    free(rt);
}
