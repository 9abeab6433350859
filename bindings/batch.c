/*
 * batch.c — the bindings' batch object: requests collected one by one
 * (copied, so the caller's buffers may go), then submitted together, or
 * called as one rs_batch run in slices like any wait (see shim.c).
 */
#include "shim_int.h"

#include <stdlib.h>
#include <string.h>

enum item_state { I_TODO, I_SENT, I_DONE };

typedef struct item {
    char *store;            /* copies of the strings, headers and body */
    rs_header *h;
    uint64_t ticket;
    int err;
    enum item_state state;
    rs_response *resp;
} item;

struct rsb_batch {
    size_t n, cap;
    rs_request *rqs;        /* contiguous, as rs_submit_batch wants them */
    item *items;
};

rsb_batch *rsb_batch_new(void)
{
    rsb_batch *b = calloc(1, sizeof *b);
    rsb__set_err(b ? 0 : RS_ENOMEM);
    return b;
}

void rsb_batch_free(rsb_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->items[i].store);
        free(b->items[i].h);
        rs_response_free(b->items[i].resp);
    }
    free(b->rqs);
    free(b->items);
    free(b);
}

size_t rsb_batch_size(rsb_batch *b)
{
    return b ? b->n : 0;
}

/* Append s (may be NULL) to the store at *at; returns the copy. */
static const char *stash(char **at, const char *s, size_t len)
{
    if (!s)
        return NULL;
    char *p = *at;
    memcpy(p, s, len);
    p[len] = '\0';
    *at += len + 1;
    return p;
}

int rsb_batch_add(rsb_batch *b, RSB_REQUEST_PARAMS)
{
    if (!b) {
        rsb__set_errf(RS_EINVAL, "no batch");
        return RS_EINVAL;
    }
    rs_request rq;
    hdrs hs;
    int err = rsb__fill_request(&rq, &hs, method, path, route, model, headers, body, body_len, priority, timeout_ms,
                           flags);
    if (err)
        return err;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        rs_request *rqs = realloc(b->rqs, cap * sizeof *rqs);
        if (rqs)
            b->rqs = rqs;
        item *items = rqs ? realloc(b->items, cap * sizeof *items) : NULL;
        if (!items) {
            rsb__hdrs_free(&hs);
            rsb__set_err(RS_ENOMEM);
            return RS_ENOMEM;
        }
        b->items = items;
        b->cap = cap;
    }
    /* One block per item: the request's strings, header strings and body.
     * The caller's buffers may move or die before the batch is sent. */
    size_t need = body_len + 1;
    const char *strs[] = { method, path, route, model };
    for (size_t k = 0; k < 4; k++)
        need += strs[k] ? strlen(strs[k]) + 1 : 0;
    for (size_t k = 0; k < hs.n; k++)
        need += strlen(hs.h[k].name) + strlen(hs.h[k].value) + 2;
    item *it = &b->items[b->n];
    *it = (item){ .state = I_TODO };
    it->store = malloc(need);
    it->h = hs.n ? malloc(hs.n * sizeof *it->h) : NULL;
    if (!it->store || (hs.n && !it->h)) {
        free(it->store);
        free(it->h);
        rsb__hdrs_free(&hs);
        rsb__set_err(RS_ENOMEM);
        return RS_ENOMEM;
    }
    char *at = it->store;
    rq.body = body_len ? memcpy(at, body, body_len) : NULL;
    at += body_len + 1;
    rq.method = stash(&at, method, method ? strlen(method) : 0);
    rq.path = stash(&at, path, strlen(path));
    rq.route = stash(&at, route, route ? strlen(route) : 0);
    rq.model = stash(&at, model, model ? strlen(model) : 0);
    for (size_t k = 0; k < hs.n; k++) {
        it->h[k].name = stash(&at, hs.h[k].name, strlen(hs.h[k].name));
        it->h[k].value = stash(&at, hs.h[k].value, strlen(hs.h[k].value));
    }
    rq.headers = it->h;
    rsb__hdrs_free(&hs);
    b->rqs[b->n] = rq;
    rsb__set_err(0);
    return (int)b->n++;
}

int rsb_batch_submit(rsb_client *c, rsb_batch *b)
{
    if (!b) {
        rsb__set_errf(RS_EINVAL, "no batch");
        return RS_EINVAL;
    }
    rs_ticket *t = malloc((b->n ? b->n : 1) * sizeof *t);
    int *errs = malloc((b->n ? b->n : 1) * sizeof *errs);
    int n = RS_ENOMEM;
    if (t && errs && rsb__enter(c)) {
        n = rs_submit_batch(c->rc, b->rqs, b->n, t, errs);
        rsb__leave(c);
        if (n >= 0) {
            for (size_t i = 0; i < b->n; i++) {
                b->items[i].ticket = errs[i] ? 0 : t[i];
                b->items[i].err = errs[i];
                b->items[i].state = errs[i] ? I_DONE : I_SENT;
            }
        }
    } else if (t && errs) {
        n = rsb__last_code;
    }
    free(t);
    free(errs);
    rsb__set_err(n < 0 ? n : 0);
    return n;
}

uint64_t rsb_batch_ticket(rsb_batch *b, size_t i)
{
    return b && i < b->n ? b->items[i].ticket : 0;
}

int rsb_batch_error(rsb_batch *b, size_t i)
{
    return b && i < b->n ? b->items[i].err : RS_EINVAL;
}

int rsb_batch_call(rsb_client *c, rsb_batch *b, int wait_ms)
{
    if (!b) {
        rsb__set_errf(RS_EINVAL, "no batch");
        return RS_EINVAL;
    }
    for (size_t i = 0; i < b->n; i++) {
        rs_response_free(b->items[i].resp);
        b->items[i] = (item){ .store = b->items[i].store, .h = b->items[i].h, .state = I_TODO };
    }
    int fatal = 0;
    rs_batch *rb = NULL;
    if (!rsb__enter(c)) {
        fatal = rsb__last_code;
    } else {
        fatal = rs_batch_new(c->rc, b->rqs, b->n, &rb);
        rsb__leave(c);
    }
    if (!fatal) {
        job j = { .c = c, .kind = J_BATCH, .batch = rb };
        int err = rsb__run_until(&j, rsb__deadline_after(wait_ms));
        if (err != 0 && err != RS_ETIMEDOUT)
            fatal = err;
    }
    /* Under the read lock, so rsb_close cannot run meanwhile; after it,
     * the batch is detached and these touch only the batch. */
    if (rb)
        pthread_rwlock_rdlock(&c->lock);
    for (size_t i = 0; i < b->n; i++) {
        item *it = &b->items[i];
        rs_response *r = rb ? rs_batch_take(rb, i) : NULL;
        if (r && r->ticket == 0) {   /* refused at submit (rs_batch_run): the item's error */
            it->err = r->error;
            rs_response_free(r);
        } else if (r) {
            it->ticket = r->ticket;
            it->resp = r;
        } else {
            it->err = fatal && fatal != RSB_EINTR ? fatal : RS_ETIMEDOUT;
        }
        it->state = I_DONE;
    }
    if (rb) {
        rs_batch_free(rb);   /* abandons the items still in flight */
        pthread_rwlock_unlock(&c->lock);
    }
    /* Only an interruption ends the whole call: the language raises it.
     * Anything else (the sidecar gone, the client closed) is each item's
     * result. */
    int ret = fatal == RSB_EINTR || fatal == RS_ENOMEM ? fatal : 0;
    rsb__set_err(ret);
    return ret;
}

rs_response *rsb_batch_take(rsb_batch *b, size_t i)
{
    if (!b || i >= b->n) {
        rsb__set_errf(RS_EINVAL, "no item %zu in this batch", i);
        return NULL;
    }
    item *it = &b->items[i];
    rs_response *r = it->resp;
    it->resp = NULL;
    if (r)
        rsb__set_err(0);
    else if (it->err)
        rsb__set_err(it->err);
    else
        rsb__set_errf(RS_ENOENT, "item %zu has no result (not run, or taken already)", i);
    return r;
}
