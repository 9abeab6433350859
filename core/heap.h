/*
 * heap.h — a binary min-heap of nodes embedded in their owners, keyed by a
 * 64-bit time. The heap holds pointers and each node records its index, so
 * a node leaves from the middle in O(log n). Two users: the scheduler's
 * deadline heap (core/scheduler.c: capacity reserved up front, so a push
 * never allocates on the dispatch path) and the sidecar's retry timers
 * (grows as needed).
 */
#ifndef RS_HEAP_H
#define RS_HEAP_H

#include <stdbool.h>
#include <stdint.h>

#define RS__HEAP_OUT UINT32_MAX   /* idx of a node in no heap */

typedef struct rs__heap_node {
    uint64_t key;
    uint32_t idx;
} rs__heap_node;

typedef struct rs__heap {
    rs__heap_node **a;
    uint32_t n, cap;
} rs__heap;

void rs__heap_node_init(rs__heap_node *x);

/* Is x in h? Safe on any node, even one never initialised or in another
 * heap: its recorded index must point back at it. */
bool rs__heap_contains(const rs__heap *h, const rs__heap_node *x);

/* Make room for `need` nodes. 0, or -1 (too many, or out of memory). */
int rs__heap_reserve(rs__heap *h, uint64_t need);

/* Add x (not in a heap) with its key set; grows when full. 0, or -1. */
int rs__heap_push(rs__heap *h, rs__heap_node *x);

/* Take x out of h; nothing if it is not there. */
void rs__heap_remove(rs__heap *h, rs__heap_node *x);

static inline rs__heap_node *rs__heap_top(const rs__heap *h)
{
    return h->n ? h->a[0] : 0;
}

void rs__heap_free(rs__heap *h);

#endif
