/*
 * submit.c — putting requests into the submission ring: every limit
 * checked first, the whole request reserved with one CAS, the doorbell rung
 * only when the sidecar sleeps (see client.h).
 */
#include "client.h"

#include "ringpack.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* This thread woke the sidecar since it last waited: its reaper then
 * yields the CPU once before spinning (see reaper_idle, reap.c). */
_Thread_local bool rs__woke_sidecar;

void rs__ring_doorbell(rs_client *c)
{
    uint64_t one = 1;
    atomic_fetch_add_explicit(&c->st.doorbells, 1, memory_order_relaxed);
    if (write(c->sq_efd, &one, sizeof one) < 0 && errno != EAGAIN)
        rs__mark_dead(c, RS_EGONE);
}


static rs__slice cstr(const char *s)
{
    rs__slice v = { s ? s : "", s ? (uint32_t)strlen(s) : 0 };
    return v;
}

/* The BODY record carrying rq's body from offset off. */
static void body_part(rs__body_rec *b, const rs_request *rq, uint64_t off)
{
    uint64_t left = rq->body_len - off;
    b->offset = off;
    b->part.ptr = (const char *)rq->body + off;
    b->part.len = (uint32_t)(left < RS__PART_BYTES ? left : RS__PART_BYTES);
}

/* A string field over its limit: the refusal names the field and the limit. */
static int over(const char *what, size_t len, unsigned limit)
{
    return rs__fail_detail(RS_E2BIG, "%s is %zu bytes; the limit is %u", what, len, limit);
}

/* Check rq against every limit the sidecar keeps (the README's table),
 * fill the head record from it, and refuse, naming the limit and its
 * value in rs_last_error(), what the sidecar would refuse or could never
 * receive. */
static int check_request(const rs_request *rq, rs__req_rec *r)
{
    if (!rq->path || rq->path[0] != '/')
        return rs__fail_detail(RS_EINVAL, "path must start with '/' (got '%.40s')", rq->path ? rq->path : "(null)");
    if (rq->priority < RS_P0 || rq->priority > RS_P2)
        return rs__fail_detail(RS_EINVAL, "priority must be RS_P0, RS_P1 or RS_P2 (got %d)", rq->priority);
    if ((rq->body_len && !rq->body) || (rq->nheaders && !rq->headers))
        return rs__fail_detail(RS_EINVAL, "%s", rq->body_len && !rq->body ? "body_len > 0 with no body"
                                                                      : "nheaders > 0 with no headers");
    if (rq->nheaders > RS__MAX_HEADERS)
        return rs__fail_detail(RS_E2BIG, "%zu headers; the limit is %u per request", rq->nheaders,
                           RS__MAX_HEADERS);
    r->priority = (uint32_t)rq->priority;
    r->flags = rq->flags;
    r->timeout_ms = rq->timeout_ms;
    r->route = cstr(rq->route);
    r->model = cstr(rq->model);
    r->method = cstr(rq->method ? rq->method : "POST");
    r->path = cstr(rq->path);
    if (r->route.len > RS__MAX_NAME)
        return over("route", r->route.len, RS__MAX_NAME);
    if (r->model.len > RS__MAX_NAME)
        return over("model", r->model.len, RS__MAX_NAME);
    if (r->method.len > RS__MAX_METHOD)
        return over("method", r->method.len, RS__MAX_METHOD);
    if (r->path.len > RS__MAX_PATH)
        return over("path", r->path.len, RS__MAX_PATH);
    r->nheaders = (uint32_t)rq->nheaders;
    for (size_t k = 0; k < rq->nheaders; k++) {
        if (!rq->headers[k].name || !rq->headers[k].name[0] || !rq->headers[k].value)
            return rs__fail_detail(RS_EINVAL, "header %zu has %s", k,
                               rq->headers[k].name && rq->headers[k].name[0] ? "no value" : "no name");
        r->hname[k] = cstr(rq->headers[k].name);
        r->hvalue[k] = cstr(rq->headers[k].value);
    }
    r->body_total = rq->body_len;
    r->part.ptr = rq->body;
    r->part.len = (uint32_t)(rq->body_len < RS__PART_BYTES ? rq->body_len : RS__PART_BYTES);
    return 0;
}

/* Put one request in the ring, without ringing the doorbell. A batch's
 * request is claimed for it (owner) before the slot is published, so no
 * rs_poll in another thread can take its answer in between. */
int rs__submit_one(rs_client *c, const rs_request *rq, rs_ticket *ticket, struct rs_batch *owner,
                   uint32_t item)
{
    if (!c || !rq || !ticket)
        return rs__fail_detail(RS_EINVAL, "%s", "no client, request or ticket");
    int dead = atomic_load(&c->dead);
    if (dead)
        return dead;
    rs__req_rec rec;   /* ~2 KiB of header slices: fine on any thread's stack */
    rs__req_rec *r = &rec;
    int err = check_request(rq, r);
    if (err)
        return err;

    uint32_t idx;
    if (rs__free_pop(c, &idx) < 0)
        return RS_ETOOMANY;
    slot *s = &c->slots[idx];
    /* the slot is ours alone until it is freed again: no locked add needed */
    uint32_t gen = atomic_load_explicit(&s->gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&s->gen, gen, memory_order_relaxed);
    r->id = (uint64_t)gen << 32 | idx;

    /* Size every record first so the whole request is reserved in one CAS:
     * either all of it enters the ring or none of it does. */
    rs__staged head;
    uint32_t head_len = rs__stage(&head, rs__pack_request, r);
    uint64_t total = rs__rec_span(head_len);
    rs__body_rec b = { .id = r->id };
    for (uint64_t off = r->part.len; off < rq->body_len; off += RS__PART_BYTES) {
        body_part(&b, rq, off);
        total += rs__rec_span(rs__packed_size(rs__pack_body, &b));
    }
    uint64_t pos;
    if (head_len - r->part.len > RS__MAX_META) {
        err = rs__fail_detail(RS_E2BIG, "method, path, route, model and headers take %u bytes packed; "
                          "the limit is %u together", head_len - r->part.len, RS__MAX_META);
    } else if (head_len > c->max_record) {
        err = rs__fail_detail(RS_E2BIG, "the request's first record is %u bytes; this sidecar takes at most %u",
                          head_len, c->max_record);
    } else if (total > c->sq.cap) {
        err = rs__fail_detail(RS_E2BIG, "request needs %llu bytes of ring (a %zu-byte body and its framing); "
                          "the sidecar's rings hold %llu (ring_bytes): raise ring_bytes or send less",
                          (unsigned long long)total, rq->body_len, (unsigned long long)c->sq.cap);
    } else if (rs__ring_reserve_mp(&c->sq, total, &pos) < 0) {
        atomic_fetch_add_explicit(&c->st.ring_full, 1, memory_order_relaxed);
        err = RS_EAGAIN;
        if (rs__sidecar_gone(c)) {
            rs__mark_dead(c, RS_EGONE);
            err = RS_EGONE;
        }
    }
    if (err) {
        rs__free_push(c, idx);
        return err;
    }
    if (owner) {
        /* Without mu, yet safe: other threads read a slot's claim only
         * after they have seen it pending with this generation (acquire,
         * below), which orders these stores before their reads. */
        s->waited = true;
        s->batch = owner;
        s->batch_item = item;
    }
    atomic_store_explicit(&s->state, S_PENDING, memory_order_release);   /* after gen: rs__ticket_state */

    pos += rs__ring_put_staged(&c->sq, pos, &head);
    for (uint64_t off = r->part.len; off < rq->body_len; off += RS__PART_BYTES) {
        body_part(&b, rq, off);
        pos += rs__ring_put(&c->sq, pos, rs__pack_body, &b, (uint32_t)rs__packed_size(rs__pack_body, &b));
    }
    *ticket = r->id;

    atomic_fetch_add_explicit(&c->st.submitted, 1, memory_order_relaxed);
    return 0;
}

void rs__maybe_ring(rs_client *c)
{
    if (rs__ring_wake_needed(&c->sq, RS__RING_NEED_WAKEUP)) {
        rs__ring_doorbell(c);
        rs__woke_sidecar = true;
    }
}

int rs_submit(rs_client *c, const rs_request *rq, rs_ticket *ticket)
{
    int err = rs__submit_one(c, rq, ticket, NULL, 0);
    if (err == 0)
        rs__maybe_ring(c);
    return err;
}

int rs_submit_batch(rs_client *c, const rs_request *rqs, size_t n, rs_ticket *tickets, int *errors)
{
    if (!c || (n && (!rqs || !tickets || !errors)))
        return RS_EINVAL;
    int accepted = 0;
    for (size_t i = 0; i < n; i++) {
        tickets[i] = 0;
        errors[i] = rs__submit_one(c, &rqs[i], &tickets[i], NULL, 0);
        accepted += errors[i] == 0;
        if (errors[i] == RS_EGONE)
            return RS_EGONE;
    }
    if (accepted)
        rs__maybe_ring(c);   /* one doorbell for the whole batch, if any */
    return accepted;
}

/* A record that must reach the sidecar however full the submission ring
 * is right now: a CANCEL of an abandoned ticket (else the sidecar would
 * run it to its end for nobody), a FLOW release (else its stream stays
 * held for good). Puts it and returns true, or, with no room, sets
 * PRODUCER_WAITING: the sidecar rings our completion doorbell when it
 * frees space, the woken reaper calls rs__send_due_locked, and the caller
 * marks its record due. Returns false then. mu held. */
bool rs__put_control_locked(rs_client *c, rs__pack_fn fn, const void *rec)
{
    size_t len = rs__packed_size(fn, rec);
    uint64_t pos;
    if (rs__ring_reserve_mp(&c->sq, rs__rec_span(len), &pos) < 0) {
        rs__ring_arm(&c->sq, RS__RING_PRODUCER_WAITING);
        if (rs__ring_reserve_mp(&c->sq, rs__rec_span(len), &pos) < 0) {   /* no lost wakeup */
            c->sq_due = true;
            return false;
        }
        if (!c->sq_due)   /* else another record still waits for room */
            rs__ring_disarm(&c->sq, RS__RING_PRODUCER_WAITING);
    }
    rs__ring_put(&c->sq, pos, fn, rec, (uint32_t)len);
    rs__maybe_ring(c);
    return true;
}

/* Send the records that found the ring full (the reaper, woken because
 * the sidecar made room); any that still do not fit stay due. mu held. */
void rs__send_due_locked(rs_client *c)
{
    c->sq_due = false;
    for (uint32_t i = 0; i < c->max_inflight; i++) {
        slot *s = &c->slots[i];
        if (s->cancel_due) {
            rs_ticket t = (uint64_t)atomic_load_explicit(&s->gen, memory_order_relaxed) << 32 | i;
            s->cancel_due = !rs__put_control_locked(c, rs__pack_cancel, &t);
        }
        rs__flow_sync_locked(c, i);
    }
}

int rs_cancel(rs_client *c, rs_ticket t)
{
    if (!c)
        return RS_EINVAL;
    uint32_t idx = (uint32_t)t;
    if (idx >= c->max_inflight)
        return RS_ENOENT;
    int dead = atomic_load(&c->dead);
    if (dead)
        return dead;
    pthread_mutex_lock(&c->mu);
    uint32_t state = rs__live_slot_locked(c, t) ? rs__ticket_state(c, t) : S_FREE;   /* abandoned: not ours */
    pthread_mutex_unlock(&c->mu);
    if (state == S_FREE)
        return RS_ENOENT;
    if (state == S_DONE)
        return 0;   /* it has ended already; its answer stands */
    size_t len = rs__packed_size(rs__pack_cancel, &t);
    uint64_t pos;
    if (rs__ring_reserve_mp(&c->sq, rs__rec_span(len), &pos) < 0)
        return rs__sidecar_gone(c) ? RS_EGONE : RS_EAGAIN;
    rs__ring_put(&c->sq, pos, rs__pack_cancel, &t, (uint32_t)len);
    rs__maybe_ring(c);
    return 0;
}
