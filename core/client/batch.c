/*
 * batch.c — rs_batch: many requests, one answer each, driven in slices;
 * rs_call_batch is one batch run to its end or its timeout.
 *
 * Why slices: a binding must be able to stop between them (Ctrl-C, a Ruby
 * Thread#raise, an event loop's other tasks). So rs_batch_run keeps
 * nothing on its stack between calls: what was submitted, what came back
 * and what is still to submit live in the batch.
 *
 * Items are submitted in order; the first one that finds the ring full
 * (RS_EAGAIN) or every slot taken (RS_ETOOMANY) stops the pass, and later
 * items wait behind it, so a batch never overtakes itself. Answers make
 * room, so each pass starts where the last one stopped.
 *
 * The batch owns its tickets: each is claimed for it as it is submitted
 * (slot.batch, set before the slot is published), so rs_poll in another
 * thread never takes one of its answers. The reaper hands a finished item
 * to the batch (rs__batch_finished_locked) by its index, so collecting
 * costs one step per answer whatever order answers come in, and an item
 * stuck upstream does not keep the slots of the ones behind it.
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum item_state { I_TODO, I_SENT, I_DONE };

typedef struct item {
    rs_ticket ticket;            /* I_SENT, I_DONE: 0 if refused at submit */
    rs_response *resp;           /* I_DONE, until taken */
    enum item_state state;
} item;

/* Only the thread that drives the batch touches it, except where said. */
struct rs_batch {
    rs_client *c;                /* NULL once rs_close has detached us */
    struct rs_batch *prev, *next;   /* c->batches, guarded by c->mu */
    const rs_request *rqs;
    item *items;
    size_t n;
    size_t next_todo;            /* items before it are submitted (or refused) */
    size_t inflight, done;
    int err;                     /* what ended the batch, or 0 */
    int stop;                    /* the channel refused a submit: no more passes */
    /* Items whose answers the reaper handed over and we have not taken
     * into items yet; guarded by c->mu. Each item finishes once, so n
     * entries are enough. */
    uint32_t *finished;
    size_t nfinished;
    bool cancel_unfinished;      /* rs_batch_free cancels what is in flight */
};

/* A response for an item that never got one from the sidecar. */
static rs_response *synth(rs_ticket t, int err, const char *why)
{
    size_t ml = strlen(why);
    rs_response *r = calloc(1, sizeof *r + 1 + ml + 2);   /* one block, as response_from */
    if (!r)
        return NULL;
    r->body = (uint8_t *)(r + 1);   /* "" */
    char *p = (char *)r->body + 1;
    memcpy(p, why, ml + 1);
    r->error_msg = p;
    r->upstream = p + ml + 1;   /* "" */
    r->ticket = t;
    r->error = err;
    return r;
}

void rs__batch_finished_locked(rs_batch *b, uint32_t i)
{
    b->finished[b->nfinished++] = i;
}

/* Take the answers the reaper handed over; mu held. */
static void collect_locked(rs_batch *b)
{
    rs_client *c = b->c;
    for (size_t k = 0; k < b->nfinished; k++) {
        item *it = &b->items[b->finished[k]];
        uint32_t idx = (uint32_t)it->ticket;
        it->resp = c->slots[idx].resp;
        rs__slot_release(c, idx);
        it->state = I_DONE;
        b->inflight--;
        b->done++;
    }
    b->nfinished = 0;
}

/* rs_close: the client goes, its batches stay until rs_batch_free, which
 * then frees only their memory. Nothing else runs on c now. */
void rs__batches_detach(rs_client *c)
{
    for (rs_batch *b = c->batches, *next; b; b = next) {
        next = b->next;
        b->c = NULL;
        b->prev = b->next = NULL;
    }
    c->batches = NULL;
}

int rs_batch_new(rs_client *c, const rs_request *rqs, size_t n, rs_batch **out)
{
    if (!c || !out || (n && !rqs))
        return RS_EINVAL;
    if (n > UINT32_MAX)
        return rs__fail_detail(RS_E2BIG, "a batch of %zu requests; the limit is %u", n, UINT32_MAX);
    rs_batch *b = calloc(1, sizeof *b);
    if (!b)
        return RS_ENOMEM;
    b->items = calloc(n ? n : 1, sizeof *b->items);
    b->finished = malloc((n ? n : 1) * sizeof *b->finished);
    if (!b->items || !b->finished) {
        free(b->items);
        free(b->finished);
        free(b);
        return RS_ENOMEM;
    }
    b->c = c;
    b->rqs = rqs;
    b->n = n;
    b->cancel_unfinished = true;
    pthread_mutex_lock(&c->mu);
    b->next = c->batches;
    if (c->batches)
        c->batches->prev = b;
    c->batches = b;
    pthread_mutex_unlock(&c->mu);
    *out = b;
    return 0;
}

/* Submit items from next_todo on, in order, without mu; one doorbell for
 * them all. Returns true if some wait for room. */
static bool submit_pass(rs_batch *b)
{
    rs_client *c = b->c;
    bool sent = false, full = false;
    for (; b->next_todo < b->n && !b->stop && !b->err; b->next_todo++) {
        item *it = &b->items[b->next_todo];
        int e = rs__submit_one(c, &b->rqs[b->next_todo], &it->ticket, b, (uint32_t)b->next_todo);
        if (e == 0) {
            it->state = I_SENT;
            b->inflight++;
            sent = true;
        } else if (e == RS_EAGAIN || e == RS_ETOOMANY) {
            full = true;
            break;
        } else if (e == RS_E2BIG || e == RS_EINVAL) {   /* this request's own fault: its answer */
            it->ticket = 0;
            it->resp = synth(0, e, rs__last_error);
            it->state = I_DONE;
            b->done++;
            if (!it->resp)
                b->err = RS_ENOMEM;
        } else {
            b->stop = e;   /* the channel failed: it says so for everything in flight too */
        }
    }
    if (sent)
        rs__maybe_ring(c);
    return full;
}

int rs_batch_run(rs_batch *b, int timeout_ms)
{
    if (!b)
        return RS_EINVAL;
    if (b->err)
        return b->err;
    rs_client *c = b->c;
    if (!c)
        return RS_EINVAL;   /* its client was closed */
    uint64_t deadline = rs__deadline_of(timeout_ms);
    for (bool first = true;; first = false) {
        bool full = submit_pass(b);
        if (b->err)
            return b->err;
        pthread_mutex_lock(&c->mu);
        collect_locked(b);
        if (b->done == b->n) {
            pthread_mutex_unlock(&c->mu);
            return 1;
        }
        uint64_t now = rs__now_ns();
        if (!b->inflight) {
            pthread_mutex_unlock(&c->mu);
            if (b->stop)
                return b->err = b->stop;
            if (now >= deadline)
                return 0;
            /* none of ours in flight, yet no room: other threads' requests
             * fill the ring; they drain in microseconds */
            usleep(100);
            continue;
        }
        /* With items still to submit, come back soon to put them into the
         * room that answers and the sidecar's reading make. */
        uint64_t until = deadline;
        if (full && deadline > now && deadline - now > 5000000u)
            until = now + 5000000u;
        int err = rs__wait_more(c, first, until);
        collect_locked(b);
        bool all = b->done == b->n;
        pthread_mutex_unlock(&c->mu);
        if (all)
            return 1;
        if (err == RS_ETIMEDOUT) {
            if (until == deadline)
                return 0;
        } else if (err) {
            return b->err = err;
        }
    }
}

rs_response *rs_batch_take(rs_batch *b, size_t i)
{
    if (!b || i >= b->n)
        return NULL;
    item *it = &b->items[i];
    if (it->state == I_SENT && b->c) {   /* its answer may have come since the last run */
        pthread_mutex_lock(&b->c->mu);
        collect_locked(b);
        pthread_mutex_unlock(&b->c->mu);
    }
    rs_response *r = it->resp;
    it->resp = NULL;
    return r;
}

void rs_batch_free(rs_batch *b)
{
    if (!b)
        return;
    rs_client *c = b->c;
    if (c) {
        pthread_mutex_lock(&c->mu);
        collect_locked(b);
        for (size_t i = 0; i < b->n; i++) {
            item *it = &b->items[i];
            if (it->state != I_SENT)
                continue;
            slot *s = &c->slots[(uint32_t)it->ticket];
            s->waited = false;   /* the batch's claim, set at submit */
            s->batch = NULL;
            rs__abandon_locked(c, it->ticket, b->cancel_unfinished);
        }
        if (b->prev)
            b->prev->next = b->next;
        else
            c->batches = b->next;
        if (b->next)
            b->next->prev = b->prev;
        pthread_mutex_unlock(&c->mu);
    }
    for (size_t i = 0; i < b->n; i++)
        rs_response_free(b->items[i].resp);
    free(b->items);
    free(b->finished);
    free(b);
}

int rs_call_batch(rs_client *c, const rs_request *rqs, size_t n, int timeout_ms, rs_response **out)
{
    if (!c || (n && (!rqs || !out)))
        return RS_EINVAL;
    rs_batch *b;
    int err = rs_batch_new(c, rqs, n, &b);
    if (err)
        return err;
    /* documented: an item that timed out is left for the sidecar to finish */
    b->cancel_unfinished = false;
    int run = rs_batch_run(b, timeout_ms);
    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        item *it = &b->items[i];
        if ((out[i] = rs_batch_take(b, i)) != NULL)
            continue;
        if (run < 0)
            out[i] = synth(it->ticket, run, rs_strerror(run));
        else
            out[i] = synth(it->ticket, RS_ETIMEDOUT, it->state == I_SENT
                                                         ? "still running when the batch timed out; abandoned"
                                                         : "not submitted before the batch timed out");
        if (!out[i])
            ret = RS_ENOMEM;
    }
    rs_batch_free(b);
    return ret;
}
