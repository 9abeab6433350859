/*
 * outbox.c — completions on their way into a client's completion ring.
 *
 * The sidecar never blocks on a client: completions queue per client and
 * are written as space allows. A response larger than the free space goes
 * in pieces (a COMPLETION head, then BODY records); when the ring is full
 * we set PRODUCER_WAITING and the client rings our doorbell once it has
 * read. The queue is bounded because each entry is the answer to one
 * accepted record and a client may have at most max_inflight of those open.
 *
 * What the outbox cannot handle itself it leaves to the loop as a flag on
 * the client: c->broken (drop this client) and c->resume_due (resume its
 * paused transfers); it never calls back up into the modules above it.
 */
#include "outbox.h"

#include "access_log.h"

#include "inflight.h"
#include "log.h"
#include "ringpack.h"
#include "ringside.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

sc_completion *sc_completion_new(uint64_t id, int32_t error, uint32_t status, const char *msg)
{
    size_t mlen = msg ? strlen(msg) : 0;
    sc_completion *cp = malloc(sizeof *cp + mlen + 1);
    if (!cp)
        return NULL;
    memset(cp, 0, sizeof *cp);
    cp->id = id;
    cp->error = error;
    cp->status = status;
    cp->error_msg = cp->msg_buf;
    memcpy(cp->msg_buf, msg ? msg : "", mlen + 1);
    return cp;
}

void sc_completion_set_msg(sc_completion *cp, char *msg)
{
    if (cp->error_msg != cp->msg_buf)
        free(cp->error_msg);
    cp->error_msg = msg;
}

void sc_completion_set_upstream(sc_completion *cp, const char *name)
{
    size_t n = strnlen(name, sizeof cp->upstream_name - 1);
    memcpy(cp->upstream_name, name, n);
    cp->upstream_name[n] = 0;
}

void sc_completion_free(sc_completion *cp)
{
    if (!cp)
        return;
    free(cp->hname);   /* with hvalue and the strings */
    if (cp->error_msg != cp->msg_buf)
        free(cp->error_msg);
    free(cp->body);
    free(cp);
}

void sc_req_free(sc_req *r)
{
    free(r->body);
    free(r);
}

static void enqueue(sc_client *c, sc_completion *cp)
{
    cp->next = NULL;
    if (c->out_tail)
        c->out_tail->next = cp;
    else
        c->out_head = cp;
    c->out_tail = cp;
}

void sc_client_answer(sc_client *c, sc_completion *cp)
{
    if (!cp) {
        /* allocation failed: the client learns of it by losing the channel,
         * which is definite, rather than by waiting forever */
        c->broken = "out of memory for a completion";
        return;
    }
    c->n_open++;
    enqueue(c, cp);
}

int sc_client_chunk(sc_req *r, uint64_t seq, const void *data, size_t len)
{
    sc_client *c = r->client;
    if (c->sink)
        return c->sink->chunk(r, data, len);
    uint64_t id = r->id;
    sc_completion *cp = calloc(1, sizeof *cp);
    if (cp)
        cp->body = malloc(len ? len : 1);
    if (!cp || !cp->body) {
        free(cp);
        return RS_ENOMEM;
    }
    memcpy(cp->body, data, len);
    cp->body_len = len;
    cp->id = id;
    cp->seq = seq;
    cp->sidecar_ns = rs__now_ns();
    cp->is_chunk = true;
    c->out_chunk_bytes += len;
    enqueue(c, cp);
    return 0;
}

void sc_req_finish(sc_req *r, sc_completion *cp, uint64_t now)
{
    sc_client *c = r->client;
    if (c) {
        sc_inflight_remove(c, r);
        if (c->asm_req == r)
            c->asm_req = NULL;
    }
    if (!c || c->closing || !cp) {
        sc_completion_free(cp);
        if (c && !c->closing)
            c->broken = "out of memory for a completion";
        sc_req_free(r);
        return;
    }
    if (r->t_dispatch)
        cp->timings[RS__T_QUEUED] = (r->t_dispatch - r->t_drain) / 1000u;
    cp->timings[RS__T_TOTAL] = (now - r->t_drain) / 1000u;
    sc_obs_answer(&c->d->obs, r->obs_slot, r->priority, cp->error, cp->timings, r->t_dispatch != 0);
    sc_access_log(c->d, r, cp);
    if (c->sink) {
        c->sink->answer(r, cp);
        sc_req_free(r);
        return;
    }
    enqueue(c, cp);   /* n_open already counts it since intake */
    sc_req_free(r);
}

/* Reserve `span` bytes of the completion ring, or arm PRODUCER_WAITING.
 * Returns 1 (reserved), 0 (full: wait for the client's doorbell), -1 (the
 * client scribbled an impossible tail). */
static int reserve(sc_client *c, uint64_t span, uint64_t *pos)
{
    int r = rs__ring_reserve_sp(&c->cq, &c->cq_head, span, pos);
    if (r == -1) {
        rs__ring_arm(&c->cq, RS__RING_PRODUCER_WAITING);
        r = rs__ring_reserve_sp(&c->cq, &c->cq_head, span, pos);   /* re-check: no lost wakeup */
        if (r == 0)
            rs__ring_disarm(&c->cq, RS__RING_PRODUCER_WAITING);
    }
    return r == 0 ? 1 : r == -1 ? 0 : -1;
}

/* A streamed event: CHUNK records, the last with more = 0. */
static int write_chunk(sc_client *c, sc_completion *cp, bool *progress)
{
    do {
        size_t left = cp->body_len - cp->body_sent;
        rs__chunk_rec ch = { .id = cp->id, .seq = cp->seq, .sidecar_ns = cp->sidecar_ns };
        ch.data = (rs__slice){ (const char *)cp->body + cp->body_sent,
                               (uint32_t)(left < RS__PART_BYTES ? left : RS__PART_BYTES) };
        ch.more = ch.data.len < left;
        rs__staged st;
        uint64_t pos;
        int rc = reserve(c, rs__rec_span(rs__stage(&st, rs__pack_chunk, &ch)), &pos);
        if (rc != 1)
            return rc;
        rs__ring_put_staged(&c->cq, pos, &st);
        cp->body_sent += ch.data.len;
        *progress = true;
    } while (cp->body_sent < cp->body_len);
    return 1;
}

/* Write what fits of cp. Returns 1 when all of it is in the ring. */
static int write_some(sc_client *c, sc_completion *cp, bool *progress)
{
    uint64_t pos;
    int rc;
    if (cp->is_chunk)
        return write_chunk(c, cp, progress);
    if (!cp->head_sent) {
        rs__comp_rec *rec = c->d->comp_scratch;   /* single-threaded loop: one will do */
        rec->id = cp->id;
        rec->error = cp->error;
        rec->status = cp->status;
        rec->error_msg = (rs__slice){ cp->error_msg, (uint32_t)strlen(cp->error_msg) };
        rec->attempts = cp->attempts;
        rec->upstream = (rs__slice){ cp->upstream_name, (uint32_t)strlen(cp->upstream_name) };
        memcpy(rec->timings, cp->timings, sizeof rec->timings);
        rec->nheaders = cp->nheaders;
        for (uint32_t k = 0; k < cp->nheaders; k++) {
            rec->hname[k] = (rs__slice){ cp->hname[k], (uint32_t)strlen(cp->hname[k]) };
            rec->hvalue[k] = (rs__slice){ cp->hvalue[k], (uint32_t)strlen(cp->hvalue[k]) };
        }
        rec->body_total = cp->body_len;
        rec->part = (rs__slice){ (const char *)cp->body,
                                  (uint32_t)(cp->body_len < RS__PART_BYTES ? cp->body_len : RS__PART_BYTES) };
        rs__staged st;
        rc = reserve(c, rs__rec_span(rs__stage(&st, rs__pack_completion, rec)), &pos);
        if (rc != 1)
            return rc;
        rs__ring_put_staged(&c->cq, pos, &st);
        cp->head_sent = true;
        cp->body_sent = rec->part.len;
        *progress = true;
    }
    while (cp->body_sent < cp->body_len) {
        size_t left = cp->body_len - cp->body_sent;
        rs__body_rec b = { .id = cp->id, .offset = cp->body_sent };
        b.part = (rs__slice){ (const char *)cp->body + cp->body_sent,
                               (uint32_t)(left < RS__PART_BYTES ? left : RS__PART_BYTES) };
        uint32_t len = (uint32_t)rs__packed_size(rs__pack_body, &b);
        rc = reserve(c, rs__rec_span(len), &pos);
        if (rc != 1)
            return rc;
        rs__ring_put(&c->cq, pos, rs__pack_body, &b, len);
        cp->body_sent += b.part.len;
        *progress = true;
    }
    return 1;
}

bool sc_outbox_flush(sc_client *c)
{
    bool progress = false, awake = false;
    while (c->out_head && !c->closing) {
        sc_completion *cp = c->out_head;
        int rc = write_some(c, cp, &progress);
        if (rc < 0) {
            c->broken = "completion ring tail corrupted by the client";
            return false;
        }
        /* (a client broken otherwise still gets what can be written: the
         * RS_ECORRUPT answer that says why it is dropped) */
        if (rc == 0)
            break;
        c->out_head = cp->next;
        if (!c->out_head)
            c->out_tail = NULL;
        if (cp->is_chunk) {
            c->out_chunk_bytes -= cp->body_len;
        } else {
            c->n_open--;
            c->d->stats.completions++;
        }
        sc_completion_free(cp);
    }
    if (progress) {
        if (rs__ring_wake_needed(&c->cq, RS__RING_NEED_WAKEUP))
            sc_outbox_ring_bell(c);
        else
            awake = true;
    }
    if (c->paused && c->out_chunk_bytes < SC_CHUNK_LOW_WATER)
        c->resume_due = true;
    return awake;
}

/* Written at once, not queued for the loop's next submission: on this
 * kind of machine the woken client usually runs on this very CPU, and a
 * write() lets it preempt us here with its answer in hand, while a queued
 * write would wake it only once the rest of the turn is done and the loop
 * is on its way to sleep. The fd is non-blocking; a failed write can only
 * mean the client is going away, which its hang-up reports. */
void sc_outbox_ring_bell(sc_client *c)
{
    static const uint64_t one = 1;
    ssize_t n = write(c->cq_efd, &one, sizeof one);
    (void)n;
}
