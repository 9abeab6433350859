/*
 * ring.c — the lock-free byte ring (see ring.h for the protocol and why).
 */
#include "ring.h"

#include <string.h>

void rs__ring_init(rs__ring *r, void *hdr, void *data, uint64_t cap)
{
    r->hdr = hdr;
    r->data = data;
    r->cap = cap;
    atomic_init(&r->tail_seen, 0);   /* a stale 0 only costs one refresh */
}

static inline uint64_t off_of(const rs__ring *r, uint64_t pos)
{
    return pos & (r->cap - 1);
}

void rs__ring_copy_in(const rs__ring *r, uint64_t pos, const void *src, size_t len)
{
    if (len == 0)   /* src may be NULL for an empty body */
        return;
    uint64_t off = off_of(r, pos);
    size_t first = len;
    if (first > r->cap - off)
        first = (size_t)(r->cap - off);
    memcpy(r->data + off, src, first);
    if (len > first)
        memcpy(r->data, (const uint8_t *)src + first, len - first);
}

void rs__ring_copy_out(const rs__ring *r, uint64_t pos, void *dst, size_t len)
{
    if (len == 0)
        return;
    uint64_t off = off_of(r, pos);
    size_t first = len;
    if (first > r->cap - off)
        first = (size_t)(r->cap - off);
    memcpy(dst, r->data + off, first);
    if (len > first)
        memcpy((uint8_t *)dst + first, r->data, len - first);
}

static void zero_span(const rs__ring *r, uint64_t pos, uint64_t len)
{
    uint64_t off = off_of(r, pos);
    uint64_t first = len;
    if (first > r->cap - off)
        first = r->cap - off;
    memset(r->data + off, 0, first);
    if (len > first)
        memset(r->data, 0, len - first);
}

static inline _Atomic uint64_t *frame_at(const rs__ring *r, uint64_t pos)
{
    /* pos is 8-aligned and data is cache-line aligned: the frame word is a
     * naturally aligned 64-bit location, so atomic access is sound. */
    return (_Atomic uint64_t *)(void *)(r->data + off_of(r, pos));
}

int rs__ring_reserve_mp(rs__ring *r, uint64_t bytes, uint64_t *pos)
{
    /* acquire pairs with the release in the refresh below: the consumer
     * zeroed the space before it published the tail we cached */
    uint64_t t = atomic_load_explicit(&r->tail_seen, memory_order_acquire);
    uint64_t h = atomic_load_explicit(&r->hdr->head, memory_order_relaxed);
    bool fresh = false;
    for (;;) {
        uint64_t used = h - t;
        if (used > r->cap || bytes > r->cap - used) {
            if (fresh)
                return -1;
            /* full by the cached tail (or h is older than t): look at
             * the real one, then at head again, which cannot be behind it */
            t = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
            atomic_store_explicit(&r->tail_seen, t, memory_order_release);
            h = atomic_load_explicit(&r->hdr->head, memory_order_relaxed);
            fresh = true;
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&r->hdr->head, &h, h + bytes,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *pos = h;
            return 0;
        }
    }
}

int rs__ring_reserve_sp(rs__ring *r, uint64_t *head, uint64_t bytes, uint64_t *pos)
{
    uint64_t t = atomic_load_explicit(&r->tail_seen, memory_order_relaxed);
    if (*head - t > r->cap || bytes > r->cap - (*head - t)) {
        /* full by the cached tail: read (and check) the shared one */
        t = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
        if (t > *head || *head - t > r->cap)
            return -2;
        atomic_store_explicit(&r->tail_seen, t, memory_order_relaxed);
        if (bytes > r->cap - (*head - t))
            return -1;
    }
    *pos = *head;
    *head += bytes;
    /* informational only: the consumer never needs it, we never read it */
    atomic_store_explicit(&r->hdr->head, *head, memory_order_relaxed);
    return 0;
}

void rs__ring_commit(rs__ring *r, uint64_t pos, uint32_t len)
{
    uint64_t word = ((uint64_t)RS__FRAME_MAGIC << 32) | len;
    atomic_store_explicit(frame_at(r, pos), word, memory_order_release);
}

int rs__ring_peek(const rs__ring *r, const rs__ring_cursor *cur, uint32_t max_len, uint32_t *len)
{
    uint64_t unreleased = cur->pos - cur->released;
    if (unreleased >= r->cap)
        return unreleased == r->cap ? 0 : -1;
    uint64_t word = atomic_load_explicit(frame_at(r, cur->pos), memory_order_acquire);
    if (word == 0)
        return 0;
    uint32_t l = (uint32_t)word;
    if ((uint32_t)(word >> 32) != RS__FRAME_MAGIC || l > max_len ||
        rs__rec_span(l) > r->cap - unreleased)
        return -1;
    *len = l;
    return 1;
}

void rs__ring_take(const rs__ring *r, rs__ring_cursor *cur, void *dst, uint32_t len)
{
    rs__ring_copy_out(r, cur->pos + RS__FRAME_BYTES, dst, len);
    cur->pos += rs__rec_span(len);
}

int rs__ring_release(rs__ring *r, rs__ring_cursor *cur)
{
    uint64_t span = cur->pos - cur->released;
    if (span > r->cap)
        return -1;
    zero_span(r, cur->released, span);
    atomic_store_explicit(&r->hdr->tail, cur->pos, memory_order_release);
    cur->released = cur->pos;
    return 0;
}

bool rs__ring_wake_needed(rs__ring *r, uint32_t flag)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (!(atomic_load_explicit(&r->hdr->flags, memory_order_relaxed) & flag))
        return false;
    return (atomic_fetch_and_explicit(&r->hdr->flags, ~flag, memory_order_acq_rel) & flag) != 0;
}

void rs__ring_arm(rs__ring *r, uint32_t flag)
{
    atomic_fetch_or_explicit(&r->hdr->flags, flag, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
}

void rs__ring_disarm(rs__ring *r, uint32_t flag)
{
    /* Usually the other side already cleared it when it rang: then a load
     * is enough, and no locked write pulls the line back. Only the side
     * that arms a flag disarms it, so it cannot be set behind our back. */
    if (atomic_load_explicit(&r->hdr->flags, memory_order_relaxed) & flag)
        atomic_fetch_and_explicit(&r->hdr->flags, ~flag, memory_order_relaxed);
}
