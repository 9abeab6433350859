/*
 * intake.c — turning the records in a client's submission ring into
 * requests.
 *
 * The ring is client-writable memory, so it is read the way a network
 * socket would be: each record is copied out of shared memory first and
 * only the private copy is decoded, so the client cannot change a length
 * between our check and our use. A frame we cannot trust (bad commit mark,
 * impossible length) means we have lost the record boundaries: the client
 * gets an RS_ECORRUPT answer and is disconnected, since nothing after that
 * point can be parsed with confidence. A record that frames fine but
 * decodes badly is answered with RS_EBADREQ and we go on with the next one.
 *
 * Every accepted request head gets exactly one completion, even when its
 * body records never arrive intact or it is refused (the refusal waits for
 * the body records so they are not mistaken for new requests). A request
 * whose body is whole goes on to admission (sc_admit).
 */
#include "intake.h"

#include "admission.h"
#include "inflight.h"
#include "log.h"
#include "outbox.h"
#include "ringside.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void refuse_record(sc_client *c, uint64_t id, int32_t code, const char *why)
{
    c->stats_bad++;
    c->d->stats.bad_records++;
    sc_client_answer(c, sc_completion_new(id, code, 0, why));
}

static void fail_assembly(sc_client *c, const char *why)
{
    sc_req *r = c->asm_req;
    c->asm_req = NULL;
    c->stats_bad++;
    c->d->stats.bad_records++;
    sc_req_finish(r, sc_completion_new(r->id, RS_EBADREQ, 0, why), c->d->now);
}

static bool token_ok(const char *p, uint32_t n)
{
    /* RFC 9110 tchar: what may appear in a method or header name */
    static const char extra[] = "!#$%&'*+-.^_`|~";
    for (uint32_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch && strchr(extra, ch))))
            return false;
    }
    return n > 0;
}

static bool value_ok(const char *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
            return false;
    return true;
}

static char *put_str(char **cur, rs__slice s)
{
    char *start = *cur;
    memcpy(start, s.ptr, s.len);
    start[s.len] = 0;
    *cur += s.len + 1;
    return start;
}

static void accept_request(sc_client *c, const rs__req_rec *rr)
{
    sc_daemon *d = c->d;
    /* one allocation: the struct, then the header line pointers, then the
     * strings and "name: value" lines */
    size_t slen = rr->method.len + rr->path.len + rr->route.len + rr->model.len + 4;
    size_t hlen = 0;
    for (uint32_t k = 0; k < rr->nheaders; k++)
        hlen += rr->hname[k].len + 2 + rr->hvalue[k].len + 1;
    size_t ptrs = (rr->nheaders + 1) * sizeof(char *);
    sc_req *r = malloc(sizeof *r + ptrs + slen + hlen);
    if (!r) {
        sc_error("out of memory accepting request %llu", (unsigned long long)rr->id);
        refuse_record(c, rr->id, RS_ENOMEM, "sidecar out of memory");
        return;
    }
    memset(r, 0, sizeof *r);
    r->headers = (char **)(void *)(r + 1);
    r->headers[0] = NULL;
    char *p = (char *)r->headers + ptrs;
    r->method = put_str(&p, rr->method.len ? rr->method : (rs__slice){ "POST", 4 });
    r->path = put_str(&p, rr->path);
    r->route = put_str(&p, rr->route);
    r->model = put_str(&p, rr->model);
    for (uint32_t k = 0; k < rr->nheaders; k++) {
        if (!token_ok(rr->hname[k].ptr, rr->hname[k].len) || !value_ok(rr->hvalue[k].ptr, rr->hvalue[k].len)) {
            r->refuse = RS_EBADREQ;
            r->refuse_why = "a header name is not an HTTP token or a value contains CR, LF or NUL";
            break;
        }
        r->headers[k] = p;
        memcpy(p, rr->hname[k].ptr, rr->hname[k].len);
        p += rr->hname[k].len;
        *p++ = ':';
        *p++ = ' ';
        memcpy(p, rr->hvalue[k].ptr, rr->hvalue[k].len);
        p += rr->hvalue[k].len;
        *p++ = 0;
        r->headers[k + 1] = NULL;
        r->nheaders = k + 1;
    }
    if (slen + hlen > RS__MAX_META) {
        /* the client library refuses this before sending (packed, its
         * count is a little higher than these string bytes) */
        r->refuse = RS_EBADREQ;
        r->refuse_why = "method, path, route, model and headers are over 65536 bytes together "
                        "(the limit of a request's head)";
    }
    if (!token_ok(r->method, (uint32_t)strlen(r->method))) {
        r->refuse = RS_EBADREQ;
        r->refuse_why = "method is not an HTTP token";
    }
    for (const char *q = r->path; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f) {
            r->refuse = RS_EBADREQ;
            r->refuse_why = "path contains a space or control character";
            break;
        }

    r->client = c;
    r->id = rr->id;
    r->priority = rr->priority;
    r->flags = rr->flags;
    r->t_drain = d->now;
    uint32_t tmo = rr->timeout_ms ? rr->timeout_ms : d->cfg.deadline_ms[rr->priority];
    r->deadline = r->t_drain + (uint64_t)tmo * 1000000u;
    r->body_len = rr->body_total;
    if (rr->body_total > d->cfg.ring_bytes) {
        /* an honest client cannot send this much in one ring */
        r->refuse = RS_E2BIG;
        r->refuse_why = "body larger than the submission ring";   /* sc_admit adds the figures */
    } else if (!r->refuse && rr->body_total) {
        r->body = malloc(rr->body_total);
        if (!r->body) {
            r->refuse = RS_ENOMEM;
            r->refuse_why = "sidecar out of memory for the request body";
        }
    }
    if (r->body)
        memcpy(r->body, rr->part.ptr, rr->part.len);
    r->body_have = rr->part.len;

    sc_inflight_add(c, r);
    c->n_open++;
    c->stats_requests++;
    d->stats.requests++;

    if (r->body_have == r->body_len)
        sc_admit(d, r, d->now);
    else
        c->asm_req = r;
}

static void take_body(sc_client *c, const rs__body_rec *b)
{
    sc_req *r = c->asm_req;
    if (!r || b->id != r->id || b->offset != r->body_have || b->part.len > r->body_len - r->body_have) {
        if (r && b->id == r->id) {
            fail_assembly(c, "body record out of order or overlong");
        } else {
            if (r)
                fail_assembly(c, "body records interrupted by another request's record");
            refuse_record(c, b->id, RS_EBADREQ, "body record without a request head");
        }
        return;
    }
    if (r->body)
        memcpy(r->body + r->body_have, b->part.ptr, b->part.len);
    r->body_have += b->part.len;
    if (r->body_have == r->body_len) {
        c->asm_req = NULL;
        sc_admit(c->d, r, c->d->now);
    }
}

/* The client gave up on a request. One that has already ended is left
 * alone (its answer is on its way); one whose body is still arriving is
 * answered once the body is in, so its remaining records are not mistaken
 * for garbage. */
static void cancel(sc_client *c, uint64_t id)
{
    sc_req *r = sc_inflight_find(c, id);
    if (!r)
        return;
    if (r == c->asm_req) {
        r->refuse = RS_ECANCELLED;
        r->refuse_why = "cancelled by the client";
    } else {
        sc_admission_forget(c->d, r);
        sc_completion *cp = sc_completion_new(r->id, RS_ECANCELLED, 0, "cancelled by the client");
        if (cp)
            cp->attempts = r->attempts;
        sc_req_finish(r, cp, c->d->now);
    }
}

static void take_record(sc_client *c, const uint8_t *buf, uint32_t len)
{
    sc_daemon *d = c->d;
    rs__rec rec;
    uint64_t id;
    const char *why;
    if (rs__rec_decode(buf, len, &rec, &id, &why) < 0) {
        if (c->asm_req && c->asm_req->id == id) {
            fail_assembly(c, why);
            return;
        }
        if (c->asm_req)
            fail_assembly(c, "body records interrupted by a malformed record");
        sc_debug("client %llu: bad record (id %llu): %s", (unsigned long long)c->id,
                 (unsigned long long)id, why);
        refuse_record(c, id, RS_EBADREQ, why);
        return;
    }
    switch (rec.kind) {
    case RS__KIND_REQUEST:
        if (c->asm_req)
            fail_assembly(c, "body records missing: another request head came first");
        accept_request(c, &rec.u.req);
        break;
    case RS__KIND_BODY:
        take_body(c, &rec.u.body);
        break;
    case RS__KIND_CANCEL:
        cancel(c, id);
        break;
    case RS__KIND_FLOW: {
        /* one that has ended is left alone, as for a cancel */
        sc_req *r = sc_inflight_find(c, id);
        if (r)
            sc_admission_hold(d, r, rec.u.flow.hold != 0);
        break;
    }
    default:
        if (c->asm_req)
            fail_assembly(c, "body records interrupted by a completion record");
        refuse_record(c, id, RS_EBADREQ, "clients may not write completion records");
        break;
    }
}

static void ring_corrupt(sc_client *c, const char *what)
{
    char msg[160];
    snprintf(msg, sizeof msg, "submission ring %s at byte %llu; reconnect", what,
             (unsigned long long)(c->sq_cur.pos & (c->sq.cap - 1)));
    sc_warn("client %llu (pid %d): %s", (unsigned long long)c->id, (int)c->pid, msg);
    c->d->stats.corrupt_rings++;
    if (c->asm_req)
        fail_assembly(c, "submission ring corrupted mid-body");
    /* the loop writes the answer, then drops the client */
    sc_client_answer(c, sc_completion_new(0, RS_ECORRUPT, 0, msg));
    c->broken = "corrupt submission ring";
}

/* A CANCEL or a FLOW record: it opens no request and gets no answer. */
static bool opens_nothing(const uint8_t *buf, uint32_t len)
{
    rs__rec rec;
    uint64_t id;
    const char *why;
    return rs__rec_decode(buf, len, &rec, &id, &why) == 0 &&
           (rec.kind == RS__KIND_CANCEL || rec.kind == RS__KIND_FLOW);
}

unsigned sc_intake_drain(sc_client *c, unsigned budget)
{
    sc_daemon *d = c->d;
    unsigned n = 0;
    while (n < budget && !c->closing && !c->broken) {
        uint32_t len;
        /* 0 also when a whole lap has been read this turn: the rest (if
         * the client has written more) waits for the release */
        int rc = rs__ring_peek(&c->sq, &c->sq_cur, RS__MAX_RECORD, &len);
        if (rc == 0)
            break;
        if (rc < 0) {
            ring_corrupt(c, "framing corrupt");
            break;
        }
        /* copied out before it is decoded: the space can be released
         * later with the rest of this turn's records (sc_intake_release) */
        rs__ring_copy_out(&c->sq, c->sq_cur.pos + RS__FRAME_BYTES, d->rxbuf, len);
        /* At the in-flight cap only what opens nothing goes on (cancels:
         * the client may be abandoning every slot it has). The rest stays
         * in the ring: the client sees it full (RS_EAGAIN) instead of a
         * refusal after acceptance, and the loop need not look at this
         * record again until an answer has gone out (capped_at). */
        if (c->n_open >= d->cfg.max_inflight && !c->asm_req && !opens_nothing(d->rxbuf, len)) {
            c->capped_at = c->sq_cur.pos;
            break;
        }
        c->sq_cur.pos += rs__rec_span(len);
        n++;
        take_record(c, d->rxbuf, len);
    }
    return n;
}

void sc_intake_release(sc_client *c)
{
    if (c->closing || c->broken || c->sq_cur.pos == c->sq_cur.released)   /* closing: the region is unmapped */
        return;
    if (rs__ring_release(&c->sq, &c->sq_cur) < 0) {
        ring_corrupt(c, "positions impossible");
        return;
    }
    /* a record the client could not fit (a stream's release) waits for
     * room: tell it there is some */
    if (rs__ring_wake_needed(&c->sq, RS__RING_PRODUCER_WAITING))
        sc_outbox_ring_bell(c);
}
