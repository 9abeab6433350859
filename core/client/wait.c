/*
 * wait.c — waiting for answers: rs_wait, rs_poll, rs_call, and abandoning
 * a ticket nobody will claim (rs_abandon; see client.h).
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* forget: on RS_ETIMEDOUT, abandon t (without a CANCEL) under the same
 * lock, so that no rs_poll can take its answer in between. */
static int wait_until(rs_client *c, rs_ticket t, uint64_t deadline, rs_response **out, bool forget)
{
    uint32_t idx = (uint32_t)t;
    int err;
    slot *s = rs__claim_locked(c, t, CLAIM_RESPONSE, &err);
    if (!s)
        return err;
    if (!s->chunk_reader)
        rs__drop_unread_locked(c, idx);
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == S_DONE)
        rs__done_unlink(c, idx);

    for (bool first = true;; first = false) {
        if (s->abandoned) {   /* by another thread; our claim keeps the slot */
            err = RS_ENOENT;
            break;
        }
        if (atomic_load_explicit(&s->state, memory_order_relaxed) == S_DONE) {
            *out = s->resp;
            rs__slot_release(c, idx);
            pthread_mutex_unlock(&c->mu);
            return 0;
        }
        if ((err = rs__wait_more(c, first, deadline)) != 0)
            break;
    }
    if (err == RS_ETIMEDOUT || err == RS_ENOENT) {
        s->waited = false;   /* RS_ETIMEDOUT: the ticket stays live for a later wait */
        if (s->abandoned)
            rs__unclaim_abandoned_locked(c, idx);
        else if (forget)
            rs__abandon_locked(c, t, false);
    }
    pthread_mutex_unlock(&c->mu);
    return err;
}

int rs_wait(rs_client *c, rs_ticket t, int timeout_ms, rs_response **out)
{
    if (!c || !out)
        return RS_EINVAL;
    return wait_until(c, t, rs__deadline_of(timeout_ms), out, false);
}

/* rs_poll and rs_poll_chunks: take what is there, else wait for more. */
int rs__poll_any(rs_client *c, void *out, int max, int timeout_ms, rs__take_fn take)
{
    if (!c || !out || max <= 0)
        return RS_EINVAL;
    uint64_t deadline = rs__deadline_of(timeout_ms);
    int n;
    pthread_mutex_lock(&c->mu);
    for (bool first = true;; first = false) {
        if ((n = take(c, out, max)) != 0)
            break;
        if ((n = rs__wait_more(c, first, deadline)) != 0) {
            if (n == RS_ETIMEDOUT)
                n = 0;   /* nothing came: a count of zero, not an error */
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

static int take_responses(rs_client *c, void *dst, int max)
{
    rs_response **out = dst;
    int n = 0;
    /* a stream's terminal response waits until its chunks are read */
    for (uint32_t idx = c->done_head, next; n < max && idx != NIL; idx = next) {
        next = c->slots[idx].next;
        if (c->slots[idx].chunk_head)
            continue;
        rs__done_unlink(c, idx);
        out[n++] = c->slots[idx].resp;
        rs__slot_release(c, idx);
    }
    return n;
}

int rs_poll(rs_client *c, rs_response **out, int max, int timeout_ms)
{
    return rs__poll_any(c, out, max, timeout_ms, take_responses);
}

/* A thread whose claim on an abandoned ticket kept its slot (a waiter, a
 * chunk reader) has let go: the last one out frees the slot if the answer
 * has come; else deliver_locked (reap.c) frees it when it comes. mu held. */
void rs__unclaim_abandoned_locked(rs_client *c, uint32_t idx)
{
    slot *s = &c->slots[idx];
    if (!s->waited && !s->chunk_reader && atomic_load_explicit(&s->state, memory_order_relaxed) == S_DONE)
        rs__slot_release(c, idx);
}

/* Nobody will ever take ticket t's answer or chunks: drop them now and as
 * they come, and free the slot once the answer is in (the sidecar's one
 * terminal completion is the only sign that it has let go of the id). With
 * cancel, the sidecar is asked to stop; the CANCEL is due until the ring
 * has room (rs__put_control_locked). mu held.
 *
 * Threads waiting on or reading t at this moment keep the slot until they
 * leave, and leave with RS_ENOENT: a wait can then never take the answer
 * of the slot's next ticket. The alternative, refusing to abandon a
 * ticket someone waits on (RS_EINVAL), would hand the caller a retry loop
 * in exactly the places that cannot block or retry — finalizers, timeouts,
 * a closed iterator — and a slot lost whenever it gave up; a waiter told
 * RS_ENOENT has nothing to undo. */
int rs__abandon_locked(rs_client *c, rs_ticket t, bool cancel)
{
    slot *s = rs__live_slot_locked(c, t);
    if (!s)
        return RS_ENOENT;
    if (s->batch)
        return RS_EINVAL;
    uint32_t idx = (uint32_t)t;
    bool claimed = s->waited || s->chunk_reader;
    bool had_chunks = s->chunk_head != NULL;
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == S_DONE) {
        if (!s->waited)   /* a finished ticket nobody waits on is on the done list */
            rs__done_unlink(c, idx);
        rs_response_free(s->resp);
        s->resp = NULL;
        cancel = false;   /* it has ended: nothing to stop */
    }
    s->abandoned = true;
    rs__free_chunks(c, s);
    if (cancel && !atomic_load(&c->dead))
        s->cancel_due = !rs__put_control_locked(c, rs__pack_cancel, &t);
    if (!claimed)
        rs__unclaim_abandoned_locked(c, idx);
    /* Wake a claimant, and anyone who stopped reaping over the unread chunk
     * limit. A claimant may be the reaper, asleep on the doorbell. */
    if (claimed || had_chunks) {
        if (c->nwaiters)
            pthread_cond_broadcast(&c->cv);
        if (claimed && c->reaper_active)
            rs__wake_reaper(c);
    }
    return 0;
}

int rs_abandon(rs_client *c, rs_ticket t)
{
    if (!c)
        return RS_EINVAL;
    pthread_mutex_lock(&c->mu);
    int err = rs__abandon_locked(c, t, true);
    pthread_mutex_unlock(&c->mu);
    return err;
}

int rs_call(rs_client *c, const rs_request *rq, int timeout_ms, rs_response **out)
{
    if (!c || !rq || !out)
        return RS_EINVAL;
    /* The deadline is taken once the request is in the ring: on a VM a
     * clock read costs more than a look at a ring, and there it overlaps
     * with the sidecar's work instead of delaying the request. */
    uint64_t deadline = 0;
    rs_ticket t;
    int err;
    /* a full ring drains in microseconds: back off briefly, then retry */
    for (unsigned pause_us = 20; (err = rs_submit(c, rq, &t)) == RS_EAGAIN; ) {
        if (!deadline)
            deadline = rs__deadline_of(timeout_ms);
        if (rs__now_ns() >= deadline)
            return RS_ETIMEDOUT;
        usleep(pause_us);
        if (pause_us < 2000)
            pause_us *= 2;
    }
    if (err < 0)
        return err;
    if (!deadline)
        deadline = rs__deadline_of(timeout_ms);
    /* On RS_ETIMEDOUT, which promises a request that is still live, the
     * sidecar finishes it and its answer is dropped. */
    return wait_until(c, t, deadline, out, true);
}

void rs_response_free(rs_response *r)
{
    free(r);   /* one block: see response_from and synth */
}

const char *rs_response_header(const rs_response *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t k = 0; k < r->nheaders; k++)
        if (strcasecmp(r->headers[k].name, name) == 0)
            return r->headers[k].value;
    return NULL;
}
