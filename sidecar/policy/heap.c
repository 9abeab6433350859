/*
 * heap.c — the embedded-node min-heap (see heap.h).
 */
#include "heap.h"

#include <stdlib.h>

void rsp_heap_node_init(rsp_heap_node *x)
{
    x->idx = RSP_HEAP_OUT;
}

bool rsp_heap_contains(const rsp_heap *h, const rsp_heap_node *x)
{
    return x->idx < h->n && h->a[x->idx] == x;
}

static void put(rsp_heap *h, uint32_t i, rsp_heap_node *x)
{
    h->a[i] = x;
    x->idx = i;
}

static void sift_up(rsp_heap *h, uint32_t i)
{
    rsp_heap_node *x = h->a[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (h->a[parent]->key <= x->key)
            break;
        put(h, i, h->a[parent]);
        i = parent;
    }
    put(h, i, x);
}

static void sift_down(rsp_heap *h, uint32_t i)
{
    rsp_heap_node *x = h->a[i];
    for (;;) {
        uint64_t l = 2ull * i + 1;   /* 64-bit: 2i+1 may not fit in 32 */
        if (l >= h->n)
            break;
        uint32_t c = (uint32_t)l;
        if (c + 1 < h->n && h->a[c + 1]->key < h->a[c]->key)
            c++;
        if (x->key <= h->a[c]->key)
            break;
        put(h, i, h->a[c]);
        i = c;
    }
    put(h, i, x);
}

int rsp_heap_reserve(rsp_heap *h, uint64_t need)
{
    if (need <= h->cap)
        return 0;
    /* indices are 32 bits, and RSP_HEAP_OUT is one of them */
    if (need >= RSP_HEAP_OUT || need > SIZE_MAX / sizeof *h->a)
        return -1;
    rsp_heap_node **a = realloc(h->a, (size_t)need * sizeof *a);
    if (!a)
        return -1;
    h->a = a;
    h->cap = (uint32_t)need;
    return 0;
}

int rsp_heap_push(rsp_heap *h, rsp_heap_node *x)
{
    if (h->n == h->cap && rsp_heap_reserve(h, h->cap ? 2ull * h->cap : 64) < 0)
        return -1;
    put(h, h->n++, x);
    sift_up(h, x->idx);
    return 0;
}

void rsp_heap_remove(rsp_heap *h, rsp_heap_node *x)
{
    if (!rsp_heap_contains(h, x))
        return;
    uint32_t i = x->idx;
    x->idx = RSP_HEAP_OUT;
    rsp_heap_node *last = h->a[--h->n];
    if (i == h->n)
        return;
    put(h, i, last);
    /* the moved node may belong above or below slot i */
    if (i > 0 && h->a[(i - 1) / 2]->key > last->key)
        sift_up(h, i);
    else
        sift_down(h, i);
}

void rsp_heap_free(rsp_heap *h)
{
    free(h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}
