/*
 * heap_trim.c — see heap_trim.h. A look costs a walk of malloc's bins
 * (mallinfo2), a trim a walk of the heap's free chunks: both are kept to
 * once a second, and a trim to when there is enough to give back.
 */
#include "heap_trim.h"

#include <malloc.h>

#define LOOK_EVERY_NS 1000000000u
#define TRIM_ABOVE_BYTES (8u << 20)

void sc_heap_trim_look(sc_heap_trim *h, bool open, uint64_t now)
{
    h->next = now + LOOK_EVERY_NS;
    h->again = open;
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks >= TRIM_ABOVE_BYTES) {
        malloc_trim(0);
        h->trims++;
    }
}

uint64_t sc_heap_trim_due(const sc_heap_trim *h)
{
    return h->again ? h->next : UINT64_MAX;
}
