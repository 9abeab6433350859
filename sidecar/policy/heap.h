/*
 * heap.h — a binary min-heap of nodes embedded in their owners, keyed by a
 * 64-bit time. The heap holds pointers and each node records its index, so
 * a node leaves from the middle in O(log n). Two users: the scheduler's
 * deadline heap (sidecar/policy/scheduler.c: capacity reserved up front, so a push
 * never allocates on the dispatch path) and the sidecar's retry timers
 * (grows as needed).
 */
#ifndef RSP_HEAP_H
#define RSP_HEAP_H

#include <stdbool.h>
#include <stdint.h>

#define RSP_HEAP_OUT UINT32_MAX   /* idx of a node in no heap */

typedef struct rsp_heap_node {
    uint64_t key;
    uint32_t idx;
} rsp_heap_node;

typedef struct rsp_heap {
    rsp_heap_node **a;
    uint32_t n, cap;
} rsp_heap;

void rsp_heap_node_init(rsp_heap_node *x);

/* Is x in h? Safe on any node, even one never initialised or in another
 * heap: its recorded index must point back at it. */
bool rsp_heap_contains(const rsp_heap *h, const rsp_heap_node *x);

/* Make room for `need` nodes. 0, or -1 (too many, or out of memory). */
int rsp_heap_reserve(rsp_heap *h, uint64_t need);

/* Add x (not in a heap) with its key set; grows when full. 0, or -1. */
int rsp_heap_push(rsp_heap *h, rsp_heap_node *x);

/* Take x out of h; nothing if it is not there. */
void rsp_heap_remove(rsp_heap *h, rsp_heap_node *x);

static inline rsp_heap_node *rsp_heap_top(const rsp_heap *h)
{
    return h->n ? h->a[0] : 0;
}

void rsp_heap_free(rsp_heap *h);

#endif
