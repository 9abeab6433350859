/*
 * wait.c — waiting for answers: rs_wait, rs_poll, rs_call, and abandoning
 * a ticket nobody will claim (see client.h).
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int wait_until(rs_client *c, rs_ticket t, uint64_t deadline, rs_response **out)
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
        if (atomic_load_explicit(&s->state, memory_order_relaxed) == S_DONE) {
            *out = s->resp;
            rs__slot_release(c, idx);
            err = 0;
            break;
        }
        if ((err = rs__wait_more(c, first, deadline)) != 0) {
            if (err == RS_ETIMEDOUT)
                s->waited = false;   /* the ticket stays live for a later wait */
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return err;
}

int rs_wait(rs_client *c, rs_ticket t, int timeout_ms, rs_response **out)
{
    if (!c || !out)
        return RS_EINVAL;
    return wait_until(c, t, rs__deadline_of(timeout_ms), out);
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

/* Nobody will ever claim this ticket: free its slot when it ends. */
void rs__abandon(rs_client *c, rs_ticket t)
{
    pthread_mutex_lock(&c->mu);
    slot *s = &c->slots[(uint32_t)t];
    if (atomic_load_explicit(&s->gen, memory_order_relaxed) == (uint32_t)(t >> 32)) {
        if (atomic_load_explicit(&s->state, memory_order_relaxed) == S_DONE) {
            if (!s->waited)
                rs__done_unlink(c, (uint32_t)t);
            rs_response_free(s->resp);
            rs__slot_release(c, (uint32_t)t);
        } else if (atomic_load_explicit(&s->state, memory_order_relaxed) == S_PENDING) {
            s->abandoned = true;
            rs__free_chunks(c, s);
        }
    }
    pthread_mutex_unlock(&c->mu);
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
    err = wait_until(c, t, deadline, out);
    if (err == RS_ETIMEDOUT)
        rs__abandon(c, t);
    return err;
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
