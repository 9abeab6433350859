/*
 * inflight.h — a client's accepted, not yet completed requests, indexed by
 * id (inflight.c: why a seeded hash).
 */
#ifndef SC_INFLIGHT_H
#define SC_INFLIGHT_H

#include "sidecar.h"

int sc_inflight_init(sc_client *c, uint32_t max_inflight);   /* -1: no memory */
void sc_inflight_destroy(sc_client *c);
void sc_inflight_add(sc_client *c, sc_req *r);
void sc_inflight_remove(sc_client *c, sc_req *r);
sc_req *sc_inflight_find(const sc_client *c, uint64_t id);   /* the first with that id */

#endif
