/*
 * fuzz_record.c — the ring record decoder, rs__rec_decode (core/proto/record.c).
 *
 * Records arrive from another process's memory, so the decoder must take
 * any bytes without reading outside them. Beyond "no crash" this checks:
 *
 * - Round trip: a record that decodes is re-encoded with its kind's
 *   rs__pack_* encoder and decoded again, and every field (kind, id,
 *   numbers, each slice's length and bytes, header names and values) must
 *   come back equal. A decoder that accepted a value the encoder cannot
 *   express, or misread a field, shows up here.
 * - The encoding is a fixed point: encoding the re-decoded record gives
 *   the same bytes, and rs__packed_size agrees with rs__pack_into (a
 *   producer reserves ring space with the one and writes with the other).
 * - Decoded slices point into the record (or are empty): the header
 *   promises slices into the caller's buffer, never anything else.
 * - Structure before fields (record.h, rs__msgpack_precheck): an accepted
 *   record is one well-formed msgpack value, and a record that is not is
 *   refused as such with no id.
 *
 * The input is decoded from libFuzzer's own exactly sized heap copy and the
 * re-encoding from an exactly sized malloc, so ASan catches a read past the
 * end of either.
 */
#include "record.h"
#include "ringside.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A violated property aborts (libFuzzer then saves the input), naming
 * itself first: the compiler merges bare traps, so a stack trace alone
 * would not tell which check failed. */
__attribute__((noreturn, cold, noinline))
static void check_failed(int line, const char *what)
{
    fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, line, what);
    abort();
}
#define CHECK(cond) do { if (!(cond)) check_failed(__LINE__, #cond); } while (0)

/* Slices point into buf[0..len), or are empty (nil decodes to ""). */
static void check_in(const rs__slice *s, const uint8_t *buf, size_t len)
{
    if (s->len == 0)
        return;
    const uint8_t *p = (const uint8_t *)s->ptr;
    CHECK(p >= buf && p <= buf + len && s->len <= (size_t)(buf + len - p));
}

static void check_slices(const rs__rec *r, const uint8_t *buf, size_t len)
{
    switch (r->kind) {
    case RS__KIND_REQUEST: {
        const rs__req_rec *q = &r->u.req;
        check_in(&q->route, buf, len);
        check_in(&q->model, buf, len);
        check_in(&q->method, buf, len);
        check_in(&q->path, buf, len);
        check_in(&q->part, buf, len);
        CHECK(q->nheaders <= RS__MAX_HEADERS);
        for (uint32_t k = 0; k < q->nheaders; k++) {
            check_in(&q->hname[k], buf, len);
            check_in(&q->hvalue[k], buf, len);
        }
        break;
    }
    case RS__KIND_BODY:
        check_in(&r->u.body.part, buf, len);
        break;
    case RS__KIND_COMPLETION: {
        const rs__comp_rec *c = &r->u.comp;
        check_in(&c->error_msg, buf, len);
        check_in(&c->upstream, buf, len);
        check_in(&c->part, buf, len);
        CHECK(c->nheaders <= RS__MAX_HEADERS);
        for (uint32_t k = 0; k < c->nheaders; k++) {
            check_in(&c->hname[k], buf, len);
            check_in(&c->hvalue[k], buf, len);
        }
        break;
    }
    case RS__KIND_CHUNK:
        check_in(&r->u.chunk.data, buf, len);
        break;
    default:
        break;
    }
}

static void same_slice(const rs__slice *a, const rs__slice *b)
{
    CHECK(a->len == b->len);
    CHECK(a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

static void same_headers(uint32_t na, const rs__slice *an, const rs__slice *av,
                         uint32_t nb, const rs__slice *bn, const rs__slice *bv)
{
    CHECK(na == nb);
    for (uint32_t k = 0; k < na; k++) {
        same_slice(&an[k], &bn[k]);
        same_slice(&av[k], &bv[k]);
    }
}

/* Every field the kind carries; the id of a CANCEL lives only in *id. */
static void same_record(const rs__rec *a, uint64_t aid, const rs__rec *b, uint64_t bid)
{
    CHECK(a->kind == b->kind);
    CHECK(aid == bid);
    switch (a->kind) {
    case RS__KIND_REQUEST: {
        const rs__req_rec *x = &a->u.req, *y = &b->u.req;
        CHECK(x->id == y->id && x->id == aid);
        CHECK(x->priority == y->priority && x->flags == y->flags && x->timeout_ms == y->timeout_ms);
        same_slice(&x->route, &y->route);
        same_slice(&x->model, &y->model);
        same_slice(&x->method, &y->method);
        same_slice(&x->path, &y->path);
        same_headers(x->nheaders, x->hname, x->hvalue, y->nheaders, y->hname, y->hvalue);
        CHECK(x->body_total == y->body_total);
        same_slice(&x->part, &y->part);
        break;
    }
    case RS__KIND_BODY: {
        const rs__body_rec *x = &a->u.body, *y = &b->u.body;
        CHECK(x->id == y->id && x->id == aid);
        CHECK(x->offset == y->offset);
        same_slice(&x->part, &y->part);
        break;
    }
    case RS__KIND_COMPLETION: {
        const rs__comp_rec *x = &a->u.comp, *y = &b->u.comp;
        CHECK(x->id == y->id && x->id == aid);
        CHECK(x->error == y->error && x->status == y->status && x->attempts == y->attempts);
        same_slice(&x->error_msg, &y->error_msg);
        same_slice(&x->upstream, &y->upstream);
        for (unsigned k = 0; k < RS__T_COUNT; k++)
            CHECK(x->timings[k] == y->timings[k]);
        same_headers(x->nheaders, x->hname, x->hvalue, y->nheaders, y->hname, y->hvalue);
        CHECK(x->body_total == y->body_total);
        same_slice(&x->part, &y->part);
        break;
    }
    case RS__KIND_CANCEL:
        break;
    case RS__KIND_CHUNK: {
        const rs__chunk_rec *x = &a->u.chunk, *y = &b->u.chunk;
        CHECK(x->id == y->id && x->id == aid);
        CHECK(x->seq == y->seq && x->sidecar_ns == y->sidecar_ns && x->more == y->more);
        same_slice(&x->data, &y->data);
        break;
    }
    case RS__KIND_FLOW: {
        const rs__flow_rec *x = &a->u.flow, *y = &b->u.flow;
        CHECK(x->id == y->id && x->id == aid);
        CHECK(x->hold == y->hold);
        break;
    }
    default:
        CHECK(0);   /* the decoder accepted a kind it does not know */
    }
}

/* The kind's encoder and what it takes (CANCEL takes the bare id). */
static rs__pack_fn encoder(const rs__rec *r, uint64_t *id, const void **arg)
{
    switch (r->kind) {
    case RS__KIND_REQUEST: *arg = &r->u.req; return rs__pack_request;
    case RS__KIND_BODY: *arg = &r->u.body; return rs__pack_body;
    case RS__KIND_COMPLETION: *arg = &r->u.comp; return rs__pack_completion;
    case RS__KIND_CANCEL: *arg = id; return rs__pack_cancel;
    case RS__KIND_CHUNK: *arg = &r->u.chunk; return rs__pack_chunk;
    default: *arg = &r->u.flow; return rs__pack_flow;
    }
}

/* Encode r into a fresh, exactly sized buffer; *len gets its size. */
static uint8_t *encode(const rs__rec *r, uint64_t *id, size_t *len)
{
    const void *arg;
    rs__pack_fn fn = encoder(r, id, &arg);
    size_t n = rs__packed_size(fn, arg);
    CHECK(n > 0);
    uint8_t *buf = malloc(n);
    CHECK(buf != NULL);
    CHECK(rs__pack_into(fn, arg, buf, n) == n);
    if (n > 1)   /* one byte short must report "does not fit", not write past */
        CHECK(rs__pack_into(fn, arg, buf, n - 1) == 0);
    *len = n;
    return buf;
}

/* rs__rec holds 2 x 64 header slices per message kind: keep them off the
 * stack. */
static rs__rec first, second, third;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t id1 = 0;
    const char *why = NULL;
    int rc = rs__rec_decode(data, size, &first, &id1, &why);
    int structural = rs__msgpack_precheck(data, size);
    if (rc != 0) {
        CHECK(rc == RS_EBADREQ && why != NULL);
        /* a structural fault outranks any field rule, and then no id */
        if (structural != 0)
            CHECK(id1 == 0 && strcmp(why, "record is not one well-formed msgpack value") == 0);
        return 0;
    }
    CHECK(structural == 0);
    check_slices(&first, data, size);

    size_t len2;
    uint8_t *enc2 = encode(&first, &id1, &len2);
    uint64_t id2 = 0;
    why = NULL;
    CHECK(rs__rec_decode(enc2, len2, &second, &id2, &why) == 0);
    check_slices(&second, enc2, len2);
    same_record(&first, id1, &second, id2);

    /* the encoder's output is canonical: once more gives the same bytes */
    size_t len3;
    uint8_t *enc3 = encode(&second, &id2, &len3);
    CHECK(len3 == len2 && memcmp(enc2, enc3, len2) == 0);
    uint64_t id3 = 0;
    CHECK(rs__rec_decode(enc3, len3, &third, &id3, &why) == 0);
    same_record(&first, id1, &third, id3);

    free(enc3);
    free(enc2);
    return 0;
}
