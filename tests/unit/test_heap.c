/*
 * test_heap.c — the embedded-node min-heap (sidecar/policy/heap.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "heap.h"
#include "test_rand.h"

/* Every node knows its slot and no child is smaller than its parent. */
static void check_heap(const rsp_heap *h)
{
    assert_true(h->n <= h->cap);
    for (uint32_t i = 0; i < h->n; i++) {
        assert_int_equal(h->a[i]->idx, i);
        if (i > 0)
            assert_true(h->a[(i - 1) / 2]->key <= h->a[i]->key);
    }
}

static void test_pops_in_key_order(void **state)
{
    (void)state;
    enum { N = 1000 };
    rsp_heap h = { 0 };
    rsp_heap_node *nodes = calloc(N, sizeof *nodes);
    assert_non_null(nodes);
    uint64_t seed = 1;
    for (int i = 0; i < N; i++) {
        nodes[i].key = splitmix64(&seed) % 500;   /* with repeats */
        assert_int_equal(rsp_heap_push(&h, &nodes[i]), 0);
    }
    check_heap(&h);
    uint64_t last = 0;
    for (int i = 0; i < N; i++) {
        rsp_heap_node *top = rsp_heap_top(&h);
        assert_non_null(top);
        assert_true(top->key >= last);
        last = top->key;
        rsp_heap_remove(&h, top);
        assert_int_equal(top->idx, RSP_HEAP_OUT);
    }
    assert_null(rsp_heap_top(&h));
    rsp_heap_free(&h);
    free(nodes);
}

/* Removal from anywhere keeps the order, whether the moved last node has
 * to go up or down. */
static void test_remove_from_the_middle(void **state)
{
    (void)state;
    enum { N = 257 };
    rsp_heap h = { 0 };
    rsp_heap_node nodes[N];
    uint64_t seed = 7;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < N; i++) {
            nodes[i].key = splitmix64(&seed) % 1000;
            assert_int_equal(rsp_heap_push(&h, &nodes[i]), 0);
        }
        for (int i = 0; i < N; i += 3) {
            rsp_heap_remove(&h, &nodes[(i * 7 + round) % N]);
            check_heap(&h);
        }
        while (rsp_heap_top(&h))
            rsp_heap_remove(&h, rsp_heap_top(&h));
    }
    rsp_heap_free(&h);
}

/* contains() is safe on nodes that were never pushed, were removed, or sit
 * in another heap; remove() of such a node changes nothing. */
static void test_contains_only_its_own_nodes(void **state)
{
    (void)state;
    rsp_heap h = { 0 }, other = { 0 };
    rsp_heap_node a = { .key = 1 }, b = { .key = 2 }, stray = { .key = 0, .idx = 0 };
    assert_int_equal(rsp_heap_push(&h, &a), 0);
    assert_int_equal(rsp_heap_push(&other, &b), 0);
    assert_true(rsp_heap_contains(&h, &a));
    assert_false(rsp_heap_contains(&h, &b));       /* idx 0, but not ours */
    assert_false(rsp_heap_contains(&h, &stray));   /* garbage idx 0 */
    stray.idx = 12345;
    assert_false(rsp_heap_contains(&h, &stray));
    rsp_heap_remove(&h, &b);
    rsp_heap_remove(&h, &stray);
    assert_int_equal(h.n, 1);
    assert_ptr_equal(rsp_heap_top(&h), &a);
    rsp_heap_node_init(&stray);
    assert_false(rsp_heap_contains(&h, &stray));
    rsp_heap_remove(&h, &a);
    assert_false(rsp_heap_contains(&h, &a));
    rsp_heap_free(&h);
    rsp_heap_free(&other);
}

/* After reserve(n), n pushes never allocate (the scheduler relies on it). */
static void test_reserved_capacity_is_not_reallocated(void **state)
{
    (void)state;
    rsp_heap h = { 0 };
    assert_int_equal(rsp_heap_reserve(&h, 100), 0);
    rsp_heap_node **before = h.a;
    rsp_heap_node nodes[100];
    for (int i = 0; i < 100; i++) {
        nodes[i].key = (uint64_t)(100 - i);
        assert_int_equal(rsp_heap_push(&h, &nodes[i]), 0);
    }
    assert_ptr_equal(h.a, before);
    assert_int_equal(h.cap, 100);
    assert_int_equal(rsp_heap_top(&h)->key, 1);
    assert_int_equal(rsp_heap_reserve(&h, 50), 0);   /* never shrinks */
    assert_int_equal(h.cap, 100);
    assert_int_equal(rsp_heap_reserve(&h, (uint64_t)UINT32_MAX), -1);
    assert_int_equal(h.cap, 100);
    rsp_heap_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pops_in_key_order),
        cmocka_unit_test(test_remove_from_the_middle),
        cmocka_unit_test(test_contains_only_its_own_nodes),
        cmocka_unit_test(test_reserved_capacity_is_not_reallocated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
