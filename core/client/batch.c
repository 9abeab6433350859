/*
 * batch.c — rs_call_batch: many requests, one answer each, in order.
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int rs_call_batch(rs_client *c, const rs_request *rqs, size_t n, int timeout_ms, rs_response **out)
{
    if (!c || (n && (!rqs || !out)))
        return RS_EINVAL;
    enum { TODO, SENT, DONE } *st = calloc(n ? n : 1, sizeof *st);
    rs_ticket *t = calloc(n ? n : 1, sizeof *t);
    if (!st || !t) {
        free(st);
        free(t);
        return RS_ENOMEM;
    }
    uint64_t deadline = rs__deadline_of(timeout_ms);
    size_t done = 0, oldest = 0, todo_from = 0;   /* items before todo_from are submitted */
    int err = 0;
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;

    while (done < n && !err) {
        /* submit what fits; a full ring is retried as answers make room */
        bool rang = false, todo = false;
        for (size_t i = todo_from; i < n; i++, todo_from = i) {
            int e = rs__submit_one(c, &rqs[i], &t[i]);
            if (e == 0) {
                st[i] = SENT;
                rang = true;
            } else if (e == RS_EAGAIN || e == RS_ETOOMANY) {
                todo = true;
                break;   /* keep order: later items wait for room too */
            } else {
                out[i] = synth(0, e, e == RS_E2BIG || e == RS_EINVAL ? rs__last_error : rs_strerror(e));
                st[i] = DONE;
                done++;
            }
        }
        if (rang)
            rs__maybe_ring(c);
        /* the oldest in flight: only submitted items (before todo_from) */
        while (oldest < todo_from && st[oldest] != SENT)
            oldest++;
        uint64_t now = rs__now_ns();
        if (now >= deadline)
            break;
        if (oldest == todo_from) {
            if (todo)
                usleep(100);   /* the ring is full of other threads' requests */
            continue;
        }
        uint64_t left = deadline == UINT64_MAX ? 0 : deadline - now;
        int wait_ms = deadline == UINT64_MAX ? -1 : (int)((left + 999999u) / 1000000u);
        if (todo && (wait_ms < 0 || wait_ms > 5))
            wait_ms = 5;   /* come back soon to submit the rest */
        rs_response *r;
        int e = rs_wait(c, t[oldest], wait_ms, &r);
        if (e == 0) {
            out[oldest] = r;
            st[oldest] = DONE;
            done++;
        } else if (e != RS_ETIMEDOUT) {
            err = e;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (st[i] == DONE)
            continue;
        if (st[i] == SENT)
            rs__abandon(c, t[i]);
        out[i] = err ? synth(t[i], err, rs_strerror(err))
                     : synth(t[i], RS_ETIMEDOUT, st[i] == SENT ? "still running when the batch timed out; abandoned"
                                                            : "not submitted before the batch timed out");
    }
    free(st);
    free(t);
    for (size_t i = 0; i < n; i++)
        if (!out[i])
            return RS_ENOMEM;
    return 0;
}
