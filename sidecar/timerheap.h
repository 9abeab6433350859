/*
 * timerheap.h — a binary min-heap of embedded nodes keyed by time, for the
 * daemon's own timers (retries waiting out their backoff). Nodes live in
 * their owners; the heap holds pointers and records each node's index so
 * removal from the middle is O(log n).
 */
#ifndef SC_TIMERHEAP_H
#define SC_TIMERHEAP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sc_heap_node {
    uint64_t when;
    uint32_t idx;     /* UINT32_MAX when not in a heap */
} sc_heap_node;

typedef struct sc_heap {
    sc_heap_node **a;
    uint32_t n, cap;
} sc_heap;

void sc_heap_node_init(sc_heap_node *node);
bool sc_heap_contains(const sc_heap_node *node);
int sc_heap_push(sc_heap *h, sc_heap_node *node);   /* 0 or -1 (no memory) */
void sc_heap_remove(sc_heap *h, sc_heap_node *node);
sc_heap_node *sc_heap_top(const sc_heap *h);        /* NULL if empty */
void sc_heap_free(sc_heap *h);

#endif
