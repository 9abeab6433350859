/*
 * stream.c — reading streamed chunks (rs_next_chunk, rs_poll_chunks) and
 * per-stream flow control: FLOW records that hold a stream whose reader is
 * behind (see client.h).
 */
#include "client.h"

#include <stdlib.h>

/* Per-stream flow control, mu held: ask the sidecar to hold slot idx's
 * stream once its reader is stream_window bytes behind, and to go on when
 * the reader is down to a quarter of that (so a reader at the edge does
 * not toggle it per chunk). A ticket that has ended needs neither, nor
 * one abandoned (its CANCEL ends the stream). A release that never reached
 * the sidecar would leave its stream held for good: one that finds the
 * ring full is sent when there is room (rs__put_control_locked), as it is
 * recomputed then from what is unread. */
void rs__flow_sync_locked(rs_client *c, uint32_t idx)
{
    slot *s = &c->slots[idx];
    bool hold = s->held ? s->unread > c->stream_window / 4 : s->unread >= c->stream_window;
    if (hold == s->held || !c->flow || s->abandoned ||
        atomic_load_explicit(&s->state, memory_order_relaxed) != S_PENDING)
        return;
    rs__flow_rec f = { .id = (uint64_t)atomic_load_explicit(&s->gen, memory_order_relaxed) << 32 | idx,
                       .hold = hold };
    if (!rs__put_control_locked(c, rs__pack_flow, &f))
        return;
    s->held = hold;
    if (hold)
        atomic_fetch_add_explicit(&c->st.stream_holds, 1, memory_order_relaxed);
}

/* A waiter and no chunk reader: the ticket's chunks will not be read (new
 * ones are dropped as they come, deliver_chunk_locked). Drop the queued
 * ones too, and let the sidecar go on with the stream if it was held for
 * them: else the terminal response the waiter wants would never come. */
void rs__drop_unread_locked(rs_client *c, uint32_t idx)
{
    slot *s = &c->slots[idx];
    if (!s->chunk_head)
        return;
    rs__free_chunks(c, s);
    rs__flow_sync_locked(c, idx);
    if (c->nwaiters)   /* under the all-streams limit again */
        pthread_cond_broadcast(&c->cv);
}


void rs_chunk_free(rs_chunk *ch)
{
    free(ch);   /* a chunk_item: one block with its data */
}

static rs_chunk *pop_chunk(rs_client *c, slot *s)
{
    chunk_item *it = (chunk_item *)s->chunk_head;
    s->chunk_head = it->next ? &it->next->pub : NULL;
    if (!s->chunk_head)
        s->chunk_tail = NULL;
    size_t before = atomic_fetch_sub(&c->chunk_bytes, it->pub.len);
    /* below the limit again: whoever stopped reaping may go on */
    if (before >= c->chunk_limit && c->nwaiters)
        pthread_cond_broadcast(&c->cv);
    s->unread -= it->pub.len;
    if (s->held)
        rs__flow_sync_locked(c, (uint32_t)(s - c->slots));
    return &it->pub;
}

int rs_next_chunk(rs_client *c, rs_ticket t, int timeout_ms, rs_chunk **out)
{
    if (!c || !out)
        return RS_EINVAL;
    uint64_t deadline = rs__deadline_of(timeout_ms);
    int ret;
    slot *s = rs__claim_locked(c, t, CLAIM_CHUNKS, &ret);
    if (!s)
        return ret;
    for (bool first = true;; first = false) {
        if (rs__ticket_state(c, t) == S_FREE) {
            /* an rs_wait took the terminal response meanwhile (so no chunk
             * will come) and the slot may already carry another ticket */
            ret = 0;
            break;
        }
        if (s->abandoned) {   /* by another thread; our claim keeps the slot */
            ret = RS_ENOENT;
            break;
        }
        if (s->chunk_head) {
            *out = pop_chunk(c, s);
            ret = 1;
            break;
        }
        if (atomic_load_explicit(&s->state, memory_order_relaxed) == S_DONE) {
            ret = 0;   /* the terminal response came after the last chunk */
            break;
        }
        if ((ret = rs__wait_more(c, first, deadline)) != 0)
            break;
    }
    if (rs__ticket_state(c, t) != S_FREE) {   /* else the claim went with the slot */
        s->chunk_reader = false;
        if (s->abandoned)
            rs__unclaim_abandoned_locked(c, (uint32_t)t);
        else if (s->waited)
            rs__drop_unread_locked(c, (uint32_t)t);
    }
    pthread_mutex_unlock(&c->mu);
    return ret;
}

static int take_chunks(rs_client *c, void *dst, int max)
{
    rs_chunk **out = dst;
    int n = 0;
    /* round robin over the slots, so one chatty stream cannot hide the others */
    for (uint32_t k = 0; k < c->max_inflight && n < max; k++) {
        slot *s = &c->slots[(c->chunk_cursor + k) % c->max_inflight];
        if (s->chunk_head && !s->chunk_reader && !s->waited)
            out[n++] = pop_chunk(c, s);
    }
    c->chunk_cursor = (c->chunk_cursor + 1) % c->max_inflight;
    return n;
}

int rs_poll_chunks(rs_client *c, rs_chunk **out, int max, int timeout_ms)
{
    return rs__poll_any(c, out, max, timeout_ms, take_chunks);
}
