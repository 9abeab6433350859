/*
 * outbox.h — answers and stream chunks on their way into a client's
 * completion ring (outbox.c), and the client's completion doorbell.
 */
#ifndef SC_OUTBOX_H
#define SC_OUTBOX_H

#include "sidecar.h"

sc_completion *sc_completion_new(uint64_t id, int32_t error, uint32_t status, const char *msg);
void sc_completion_free(sc_completion *cp);
/* Replace the message with msg (malloc'd; cp takes it). */
void sc_completion_set_msg(sc_completion *cp, char *msg);
/* Name the route that answered (cut at 63 bytes, which route names fit). */
void sc_completion_set_upstream(sc_completion *cp, const char *name);

/* Hand the terminal completion of req to its client (or drop it if the
 * client is gone) and free req. Takes ownership of cp; now is when the
 * answer was ready (its total time). */
void sc_req_finish(sc_req *req, sc_completion *cp, uint64_t now);
void sc_req_free(sc_req *req);
/* Answer a record that never became a request (malformed, refused). */
void sc_client_answer(sc_client *c, sc_completion *cp);
/* Queue one streamed event's data of r for its client (copied), or hand it
 * to the client's sink. Returns 0 or RS_ENOMEM. */
int sc_client_chunk(sc_req *r, uint64_t seq, const void *data, size_t len);

/* Write what fits of c's queued completions; ring its doorbell if it
 * sleeps. Returns true when it wrote to a client that is awake, i.e. one
 * looking for its answer right now. Raises c->resume_due when its queued
 * stream data drops below the low-water mark, c->broken when the client
 * scribbled an impossible tail. */
bool sc_outbox_flush(sc_client *c);
/* Ring c's completion doorbell (its reaper sleeps, or a producer waits). */
void sc_outbox_ring_bell(sc_client *c);

#endif
