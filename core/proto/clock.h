/*
 * clock.h — the one clock both sides of a channel read: CLOCK_MONOTONIC in
 * nanoseconds. Deadlines and timings never use wall time, which can jump.
 */
#ifndef RS_CLOCK_H
#define RS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t rs__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
