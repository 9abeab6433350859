/*
 * inflight.c — a client's accepted, not yet completed requests: a list
 * (walked when the client goes or the sidecar gives up on them) and an
 * index by request id (CANCEL and FLOW records name a request by its id).
 *
 * The ids come from client-written memory. A walk of the list per lookup
 * let one client with thousands of requests in flight and a flood of
 * CANCELs for ids it no longer had slow every other client's calls by
 * orders of magnitude (bench/flood, bench/RESULTS.md). The index is a
 * chained hash whose buckets are picked with
 * a per-client random seed, so a client cannot aim its ids at one bucket;
 * unlinking is O(1) (each node knows the pointer that points at it).
 */
#include "sidecar.h"

#include <stdlib.h>
#include <sys/random.h>

/* Smallest power of two >= n (n >= 1), as a shift for the hash. */
static unsigned bucket_bits(uint32_t n)
{
    unsigned bits = 6;   /* 64 buckets at least */
    while (bits < 31 && (1u << bits) < n)
        bits++;
    return bits;
}

int sc_inflight_init(sc_client *c, uint32_t max_inflight)
{
    c->id_bits = bucket_bits(max_inflight);
    c->by_id = calloc((size_t)1 << c->id_bits, sizeof *c->by_id);
    if (getrandom(&c->id_seed, sizeof c->id_seed, GRND_NONBLOCK) != sizeof c->id_seed)
        c->id_seed = (uint64_t)(uintptr_t)c * 0x9E3779B97F4A7C15ull;   /* still unknown to the client */
    return c->by_id ? 0 : -1;
}

void sc_inflight_destroy(sc_client *c)
{
    free(c->by_id);
    c->by_id = NULL;
}

static sc_req **bucket(const sc_client *c, uint64_t id)
{
    return &c->by_id[((id ^ c->id_seed) * 0x9E3779B97F4A7C15ull) >> (64 - c->id_bits)];
}

void sc_inflight_add(sc_client *c, sc_req *r)
{
    r->prev = NULL;
    r->next = c->inflight;
    if (c->inflight)
        c->inflight->prev = r;
    c->inflight = r;

    sc_req **b = bucket(c, r->id);
    r->hnext = *b;
    if (*b)
        (*b)->hpprev = &r->hnext;
    r->hpprev = b;
    *b = r;
}

void sc_inflight_remove(sc_client *c, sc_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->inflight = r->next;
    if (r->next)
        r->next->prev = r->prev;

    *r->hpprev = r->hnext;
    if (r->hnext)
        r->hnext->hpprev = r->hpprev;
}

sc_req *sc_inflight_find(const sc_client *c, uint64_t id)
{
    for (sc_req *r = *bucket(c, id); r; r = r->hnext)
        if (r->id == id)
            return r;
    return NULL;
}
