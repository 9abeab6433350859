/*
 * slots.c — ticket slots: the lock-free free list submit takes them from,
 * the FIFO of finished tickets nobody waits on, and claims (see client.h).
 */
#include "client.h"

#include <stdatomic.h>

void rs__free_push(rs_client *c, uint32_t idx)
{
    uint64_t old = atomic_load_explicit(&c->free_head, memory_order_relaxed);
    uint64_t nw;
    do {
        atomic_store_explicit(&c->slots[idx].free_next, (uint32_t)old, memory_order_relaxed);
        nw = ((old >> 32) + 1) << 32 | (idx + 1);
    } while (!atomic_compare_exchange_weak_explicit(&c->free_head, &old, nw,
                                                    memory_order_release, memory_order_relaxed));
}

int rs__free_pop(rs_client *c, uint32_t *idx)
{
    uint64_t old = atomic_load_explicit(&c->free_head, memory_order_acquire);
    for (;;) {
        uint32_t top = (uint32_t)old;
        if (top == 0)
            return -1;
        uint32_t next = atomic_load_explicit(&c->slots[top - 1].free_next, memory_order_relaxed);
        uint64_t nw = ((old >> 32) + 1) << 32 | next;
        if (atomic_compare_exchange_weak_explicit(&c->free_head, &old, nw,
                                                  memory_order_acquire, memory_order_acquire)) {
            *idx = top - 1;
            return 0;
        }
    }
}


void rs__done_append(rs_client *c, uint32_t idx)
{
    slot *s = &c->slots[idx];
    s->next = NIL;
    s->prev = c->done_tail;
    if (c->done_tail != NIL)
        c->slots[c->done_tail].next = idx;
    else
        c->done_head = idx;
    c->done_tail = idx;
}

void rs__done_unlink(rs_client *c, uint32_t idx)
{
    slot *s = &c->slots[idx];
    if (s->prev != NIL)
        c->slots[s->prev].next = s->next;
    else
        c->done_head = s->next;
    if (s->next != NIL)
        c->slots[s->next].prev = s->prev;
    else
        c->done_tail = s->prev;
    s->prev = s->next = NIL;
}

void rs__free_chunks(rs_client *c, slot *s)
{
    while (s->chunk_head) {
        chunk_item *it = (chunk_item *)s->chunk_head;
        s->chunk_head = it->next ? &it->next->pub : NULL;
        atomic_fetch_sub(&c->chunk_bytes, it->pub.len);
        rs_chunk_free(&it->pub);
    }
    s->chunk_tail = NULL;
    s->unread = 0;
}

/* Caller holds mu; the slot is DONE and owned by the caller. */
void rs__slot_release(rs_client *c, uint32_t idx)
{
    slot *s = &c->slots[idx];
    rs__free_chunks(c, s);
    s->chunk_reader = false;
    s->resp = NULL;
    s->waited = s->abandoned = s->held = s->cancel_due = false;
    s->batch = NULL;
    atomic_store_explicit(&s->state, S_FREE, memory_order_relaxed);
    rs__free_push(c, idx);
}

/* The slot of a ticket that is still the caller's to wait on, or NULL
 * (stale generation, free, or abandoned). mu held. */
slot *rs__live_slot_locked(rs_client *c, rs_ticket t)
{
    if (rs__ticket_state(c, t) == S_FREE)
        return NULL;
    slot *s = &c->slots[(uint32_t)t];
    return s->abandoned ? NULL : s;
}
/* Lock mu and claim t's slot. Returns it with mu held, or NULL with mu
 * released and *err set: RS_ENOENT (not a live ticket) or RS_EINVAL
 * (another thread already holds that claim). */
slot *rs__claim_locked(rs_client *c, rs_ticket t, enum claim what, int *err)
{
    pthread_mutex_lock(&c->mu);
    slot *s = rs__live_slot_locked(c, t);
    bool *flag = !s ? NULL : what == CLAIM_RESPONSE ? &s->waited : &s->chunk_reader;
    *err = !s ? RS_ENOENT : *flag ? RS_EINVAL : 0;
    if (*err) {
        pthread_mutex_unlock(&c->mu);
        return NULL;
    }
    *flag = true;
    return s;
}
