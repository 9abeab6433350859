/*
 * heap_trim.h — memory freed after a burst goes back to the kernel.
 *
 * glibc keeps freed memory in its heap for reuse and returns it only from
 * the heap's top. After thousands of transfers end (each some KiB of
 * libcurl state and buffers), what they used is free but scattered, so the
 * sidecar's RSS would stay at the burst's peak. Once a second, when more
 * than a few MiB lie free, malloc_trim hands the free pages back.
 */
#ifndef SC_HEAP_TRIM_H
#define SC_HEAP_TRIM_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sc_heap_trim {
    uint64_t next;      /* the next look */
    bool again;         /* requests were open at the last look: look once more when they are not */
    uint64_t trims;     /* malloc_trim calls, for the log at exit */
} sc_heap_trim;

/* Look at the heap (call when now >= h->next); `open`: requests in flight. */
void sc_heap_trim_look(sc_heap_trim *h, bool open, uint64_t now);
/* When the loop must wake for the next look (UINT64_MAX: not needed). */
uint64_t sc_heap_trim_due(const sc_heap_trim *h);

#endif
