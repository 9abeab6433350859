/*
 * timerheap.c — min-heap of embedded timer nodes (see timerheap.h).
 */
#include "timerheap.h"

#include <stdlib.h>

void sc_heap_node_init(sc_heap_node *node)
{
    node->idx = UINT32_MAX;
}

bool sc_heap_contains(const sc_heap_node *node)
{
    return node->idx != UINT32_MAX;
}

static void put(sc_heap *h, uint32_t i, sc_heap_node *node)
{
    h->a[i] = node;
    node->idx = i;
}

static void sift_up(sc_heap *h, uint32_t i)
{
    sc_heap_node *node = h->a[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (h->a[parent]->when <= node->when)
            break;
        put(h, i, h->a[parent]);
        i = parent;
    }
    put(h, i, node);
}

static void sift_down(sc_heap *h, uint32_t i)
{
    sc_heap_node *node = h->a[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->a[c + 1]->when < h->a[c]->when)
            c++;
        if (node->when <= h->a[c]->when)
            break;
        put(h, i, h->a[c]);
        i = c;
    }
    put(h, i, node);
}

int sc_heap_push(sc_heap *h, sc_heap_node *node)
{
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 64;
        sc_heap_node **a = realloc(h->a, cap * sizeof *a);
        if (!a)
            return -1;
        h->a = a;
        h->cap = cap;
    }
    put(h, h->n++, node);
    sift_up(h, node->idx);
    return 0;
}

void sc_heap_remove(sc_heap *h, sc_heap_node *node)
{
    uint32_t i = node->idx;
    if (i == UINT32_MAX)
        return;
    node->idx = UINT32_MAX;
    if (--h->n == i)
        return;
    put(h, i, h->a[h->n]);
    sift_down(h, i);
    sift_up(h, h->a[i]->idx);
}

sc_heap_node *sc_heap_top(const sc_heap *h)
{
    return h->n ? h->a[0] : NULL;
}

void sc_heap_free(sc_heap *h)
{
    free(h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}
