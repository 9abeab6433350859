/*
 * reap.c — the reaper: the one thread at a time that drains the completion
 * ring, hands responses and stream chunks to their tickets, and sleeps on
 * the doorbell when there is nothing (see client.h).
 */
#include "client.h"

#include "ringpack.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static rs_response *response_from(const rs__comp_rec *cr)
{
    /* One block: the struct, the header array, the body (it may still
     * arrive in pieces; its size is known) and every small string, so a
     * response costs one malloc and rs_response_free one free. */
    if (cr->body_total > SIZE_MAX / 2)
        return NULL;
    size_t need = sizeof(rs_response) + cr->nheaders * sizeof(rs_header) + cr->body_total + 1 +
                  cr->error_msg.len + 1 + cr->upstream.len + 1;
    for (uint32_t k = 0; k < cr->nheaders; k++)
        need += cr->hname[k].len + 1 + cr->hvalue[k].len + 1;
    rs_response *r = malloc(need);
    if (!r)
        return NULL;
    memset(r, 0, sizeof *r);
    r->headers = (rs_header *)(r + 1);
    r->body = (uint8_t *)(r->headers + cr->nheaders);
    r->body_len = cr->body_total;
    memcpy(r->body, cr->part.ptr, cr->part.len);
    r->body[cr->body_total] = 0;
    char *p = (char *)r->body + cr->body_total + 1;
#define TAKE(dst, sl) do { memcpy(p, (sl).ptr, (sl).len); p[(sl).len] = 0; (dst) = p; p += (sl).len + 1; } while (0)
    TAKE(r->error_msg, cr->error_msg);
    TAKE(r->upstream, cr->upstream);
    for (uint32_t k = 0; k < cr->nheaders; k++) {
        TAKE(r->headers[k].name, cr->hname[k]);
        TAKE(r->headers[k].value, cr->hvalue[k]);
    }
#undef TAKE
    r->nheaders = cr->nheaders;
    r->ticket = cr->id;
    r->error = cr->error;
    r->status = (int)cr->status;
    r->attempts = cr->attempts;
    r->timings.queued_us = cr->timings[RS__T_QUEUED];
    r->timings.first_byte_us = cr->timings[RS__T_FIRST_BYTE];
    r->timings.first_content_us = cr->timings[RS__T_FIRST_CONTENT];
    r->timings.total_us = cr->timings[RS__T_TOTAL];
    return r;
}

/* Hand a finished response to its ticket; mu held. */
static void deliver_locked(rs_client *c, rs_response *r)
{
    uint64_t id = r->ticket;
    uint32_t idx = (uint32_t)id;
    /* written under mu only: a plain increment of the atomic will do */
    atomic_store_explicit(&c->st.completed, atomic_load_explicit(&c->st.completed, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (rs__ticket_state(c, id) != S_PENDING) {
        /* not ours: e.g. the sidecar's answer to garbage in our ring */
        atomic_fetch_add_explicit(&c->st.orphans, 1, memory_order_relaxed);
        if (r->error == RS_ECORRUPT)
            rs__mark_dead(c, RS_ECORRUPT);
        rs_response_free(r);
        return;
    }
    slot *s = &c->slots[idx];
    if (s->abandoned) {
        rs_response_free(r);
        atomic_store_explicit(&s->state, S_DONE, memory_order_relaxed);
        rs__unclaim_abandoned_locked(c, idx);   /* frees it unless a claimant is still leaving */
        return;
    }
    s->resp = r;
    atomic_store_explicit(&s->state, S_DONE, memory_order_relaxed);
    if (s->batch)
        rs__batch_finished_locked(s->batch, s->batch_item);
    else if (!s->waited)
        rs__done_append(c, idx);
}

/* Queue a finished chunk on its ticket; mu held. */
static void deliver_chunk_locked(rs_client *c, chunk_item *it)
{
    uint64_t id = it->pub.ticket;
    uint32_t idx = (uint32_t)id;
    if (rs__ticket_state(c, id) != S_PENDING || c->slots[idx].abandoned ||
        (c->slots[idx].waited && !c->slots[idx].chunk_reader)) {
        /* nobody will read it: unknown ticket, abandoned, or a caller that
         * rs_wait()s for the terminal response only */
        if (idx >= c->max_inflight || atomic_load_explicit(&c->slots[idx].gen, memory_order_relaxed) !=
                                          (uint32_t)(id >> 32))
            atomic_fetch_add_explicit(&c->st.orphans, 1, memory_order_relaxed);
        rs_chunk_free(&it->pub);
        return;
    }
    slot *s = &c->slots[idx];
    it->next = NULL;
    if (s->chunk_tail)
        ((chunk_item *)s->chunk_tail)->next = it;
    else
        s->chunk_head = &it->pub;
    s->chunk_tail = &it->pub;
    atomic_fetch_add(&c->chunk_bytes, it->pub.len);
    s->unread += it->pub.len;
    rs__flow_sync_locked(c, idx);
}

/* Add a CHUNK record's data to the chunk being assembled; returns the chunk
 * when it is complete (more == 0), else NULL. */
static chunk_item *take_chunk(rs_client *c, const rs__chunk_rec *cr, bool *bad)
{
    chunk_item *it = c->asm_chunk;
    if (it && (it->pub.ticket != cr->id || it->pub.seq != cr->seq)) {
        *bad = true;
        return NULL;
    }
    size_t have = it ? it->pub.len : 0;
    chunk_item *n = realloc(it, sizeof *n + have + cr->data.len + 1);
    if (!n) {
        *bad = true;
        return NULL;
    }
    if (!it) {
        memset(n, 0, sizeof *n);
        n->pub.ticket = cr->id;
        n->pub.seq = cr->seq;
        n->pub.sidecar_ns = cr->sidecar_ns;
    }
    n->pub.data = (uint8_t *)(n + 1);
    memcpy(n->pub.data + have, cr->data.ptr, cr->data.len);
    n->pub.len = have + cr->data.len;
    n->pub.data[n->pub.len] = 0;
    c->asm_chunk = cr->more ? n : NULL;
    return cr->more ? NULL : n;
}

/* Drain the completion ring. Called by the reaper only, without mu.
 * Returns how many responses and chunks were handed out. hold: return with
 * mu held (the caller takes it next anyway; one lock round less), and
 * leave waking the followers to the caller. */
static int reap(rs_client *c, bool hold)
{
    enum { BATCH = 64 };
    struct { rs_response *r; chunk_item *ch; } ready[BATCH];
    int nready = 0;
    uint32_t len;
    int rc;

    /* a whole lap read ends the batch too (peek returns 0): it is handed
     * back below before anything more can be read */
    while (nready < BATCH && atomic_load_explicit(&c->chunk_bytes, memory_order_relaxed) < c->chunk_limit &&
           (rc = rs__ring_peek(&c->cq, &c->cq_cur, c->max_record, &len)) != 0) {
        if (rc < 0) {
            rs__mark_dead(c, RS_ECORRUPT);
            break;
        }
        rs__ring_take(&c->cq, &c->cq_cur, c->rxbuf, len);

        rs__rec rec;
        uint64_t id;
        const char *why;
        bool bad = false;
        if (rs__rec_decode(c->rxbuf, len, &rec, &id, &why) < 0) {
            rs__mark_dead(c, RS_EPROTO);
            break;
        }
        if (rec.kind == RS__KIND_COMPLETION) {
            rs_response *r = response_from(&rec.u.comp);
            if (!r) {
                rs__mark_dead(c, RS_ENOMEM);
                break;
            }
            if (rec.u.comp.part.len == rec.u.comp.body_total) {
                ready[nready].r = r;
                ready[nready++].ch = NULL;
            } else {
                rs_response_free(c->asm_resp);   /* a prior unfinished body: protocol bug */
                c->asm_resp = r;
                c->asm_id = id;
                c->asm_have = rec.u.comp.part.len;
            }
        } else if (rec.kind == RS__KIND_BODY && c->asm_resp && id == c->asm_id &&
                   rec.u.body.offset == c->asm_have &&
                   rec.u.body.part.len <= c->asm_resp->body_len - c->asm_have) {
            memcpy(c->asm_resp->body + c->asm_have, rec.u.body.part.ptr, rec.u.body.part.len);
            c->asm_have += rec.u.body.part.len;
            if (c->asm_have == c->asm_resp->body_len) {
                ready[nready].r = c->asm_resp;
                ready[nready++].ch = NULL;
                c->asm_resp = NULL;
            }
        } else if (rec.kind == RS__KIND_CHUNK) {
            chunk_item *ch = take_chunk(c, &rec.u.chunk, &bad);
            if (ch) {
                ready[nready].r = NULL;
                ready[nready++].ch = ch;
            }
        } else {
            bad = true;
        }
        if (bad) {
            rs__mark_dead(c, RS_EPROTO);
            break;
        }
    }
    /* One release for the batch; then, having freed space, kick the
     * sidecar if it waits to write more. A reap that freed nothing has
     * nothing to announce (and saves the fence). */
    if (c->cq_cur.pos != c->cq_cur.released) {
        if (rs__ring_release(&c->cq, &c->cq_cur) < 0)
            rs__mark_dead(c, RS_ECORRUPT);
        else if (rs__ring_wake_needed(&c->cq, RS__RING_PRODUCER_WAITING))
            rs__ring_doorbell(c);
    }

    if (nready || atomic_load(&c->dead) || hold) {
        pthread_mutex_lock(&c->mu);
        for (int k = 0; k < nready; k++) {
            if (ready[k].r)
                deliver_locked(c, ready[k].r);
            else
                deliver_chunk_locked(c, ready[k].ch);
        }
        if (c->sq_due)   /* a CANCEL or FLOW record waited for room */
            rs__send_due_locked(c);
        if (!hold) {
            if (c->nwaiters)
                pthread_cond_broadcast(&c->cv);
            pthread_mutex_unlock(&c->mu);
        }
    }
    return nready;
}

/* Reaper with nothing to reap: spin a little if answers have lately come
 * within the spin (spin.h), then sleep until the completion doorbell, a
 * sidecar hang-up, or the deadline. Returns true when the sidecar hung
 * up. The spin reads the clock once per 64 looks: on a VM a clock read
 * costs more than a look at the ring. So the wait's length is known
 * roughly: 0 when the answer came before the first read. Only a wait that
 * spun is counted (spin.h says why). */
static bool reaper_idle(rs_client *c, uint64_t deadline)
{
    uint64_t spin_ns = rs__spin_window_probing(&c->spin);
    uint64_t start = 0, spin_end = 0, now = 0;
    bool yield = rs__woke_sidecar;
    rs__woke_sidecar = false;
    for (unsigned i = 1; spin_ns; i++) {
        if (rs__cq_has_record(c)) {
            rs__spin_observe(&c->spin, start ? now - start : 0);
            return false;
        }
        if (yield || (i & 63) == 0) {
            now = rs__now_ns();
            if (!start) {
                start = now;
                spin_end = now + spin_ns;
            }
            if (now >= spin_end || now >= deadline)
                break;
        }
        if (yield)
            sched_yield();
        else
            rs__cpu_relax();
    }
    /* Even a client not spinning gives a sidecar it just woke one chance
     * to run first, should they share this CPU: then its answer is here
     * before we would have gone to sleep. */
    if (yield && !spin_ns) {
        sched_yield();
        if (rs__cq_has_record(c))
            return false;
    }
    if (deadline != UINT64_MAX && (now = rs__now_ns()) >= deadline)
        return false;

    bool hup = false;
    rs__ring_arm(&c->cq, RS__RING_NEED_WAKEUP);
    if (!rs__cq_has_record(c)) {
        struct epoll_event ev[2];
        struct timespec ts, *tsp = NULL;
        if (deadline != UINT64_MAX) {
            uint64_t left = deadline - now;
            ts.tv_sec = (time_t)(left / 1000000000u);
            ts.tv_nsec = (long)(left % 1000000000u);
            tsp = &ts;
        }
        atomic_fetch_add_explicit(&c->st.sleeps, 1, memory_order_relaxed);
        int n = epoll_pwait2(c->wait_ep, ev, 2, tsp, NULL);
        if (n < 0 && errno == ENOSYS)   /* kernel < 5.11: millisecond timeout, rounded up */
            n = epoll_wait(c->wait_ep, ev, 2,
                           tsp ? (int)(((deadline - now) + 999999u) / 1000000u) : -1);
        for (int k = 0; k < n; k++)
            if (ev[k].data.fd == c->sock && rs__sidecar_gone(c))
                hup = true;
    }
    if (spin_ns)   /* it spun the whole window: at least that long */
        rs__spin_observe(&c->spin, rs__now_ns() - start);
    /* NEED_WAKEUP is left as it is: usually the sidecar cleared it when it
     * rang; if we woke for another reason it costs the sidecar one more
     * doorbell. Clearing it could clear an event-fd user's arming
     * (rs_arm_event_fd sets the same flag), whose loop would then never
     * hear of its answer (asyncio tasks hung while a thread's wait timed
     * out: NOTES.md, "Event-fd arming"). */
    return hup;
}

/* Wake the reaper from its sleep on the completion doorbell, by ringing
 * that doorbell ourselves: a thread it waits for has been told to go
 * (rs_abandon). An event-loop user of the same fd sees one wakeup with
 * nothing new, which it handles anyway. */
void rs__wake_reaper(rs_client *c)
{
    uint64_t one = 1;
    if (write(c->cq_efd, &one, sizeof one) < 0) {
        /* EAGAIN: the counter is full, so the fd is readable already */
    }
}

/* One step of waiting, mu held on entry and exit: become the reaper if
 * nobody is, else sleep until the reaper has news or the deadline. */
static void wait_step(rs_client *c, uint64_t deadline)
{
    /* Over the chunk limit the ring is left alone until someone reads
     * chunks (they broadcast); reaping would only spin. */
    bool over = atomic_load_explicit(&c->chunk_bytes, memory_order_relaxed) >= c->chunk_limit;
    if (!c->reaper_active && !over) {
        c->reaper_active = true;
        pthread_mutex_unlock(&c->mu);
        bool hup = false, locked = false;
        if (reap(c, false) == 0 && !atomic_load(&c->dead)) {
            hup = reaper_idle(c, deadline);
            if (!hup) {
                reap(c, true);
                locked = true;
            }
        }
        /* A sidecar writes its last completions before it goes away: hand
         * out everything still in the ring before declaring it gone. */
        bool drained = hup || atomic_load(&c->dead);
        if (drained) {
            if (locked)
                pthread_mutex_unlock(&c->mu);
            locked = false;
            while (reap(c, false) > 0)
                ;
            if (hup)
                rs__mark_dead(c, RS_EGONE);
        }
        if (!locked)
            pthread_mutex_lock(&c->mu);
        if (drained)
            c->dead_drained = true;
        c->reaper_active = false;
        if (c->nwaiters)   /* someone must take over the reaping */
            pthread_cond_broadcast(&c->cv);
        return;
    }
    c->nwaiters++;
    if (deadline == UINT64_MAX) {
        pthread_cond_wait(&c->cv, &c->mu);
    } else {
        struct timespec ts = { (time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u) };
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    c->nwaiters--;
}

/* The tail of every wait loop, mu held, once the caller found nothing to
 * take: wait one step and return 0 (look again), or say why to stop — the
 * channel is dead (and its ring was drained first), or RS_ETIMEDOUT.
 * `first` lets a zero timeout still reap the ring once. */
int rs__wait_more(rs_client *c, bool first, uint64_t deadline)
{
    int dead;
    if (c->dead_drained && (dead = atomic_load(&c->dead)) != 0)
        return dead;
    if (!first && rs__now_ns() >= deadline)
        return RS_ETIMEDOUT;
    wait_step(c, deadline);
    return 0;
}
