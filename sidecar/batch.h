/*
 * batch.h — POST /api/v1/batch: a JSON array of items (OpenAI chat bodies,
 * or the seed's {"query", "context"} made into one by a template), each
 * sent through admission as a request of the caller's virtual key, answered
 * in order with a status per item; synchronous, or asynchronous with an id
 * to ask for progress and results (batch.c).
 */
#ifndef SC_BATCH_H
#define SC_BATCH_H

#include "door_req.h"

typedef struct sc_batch sc_batch;

typedef struct sc_batches {
    sc_batch *head;
    unsigned kept;                /* asynchronous ones */
    bool pump_due;                /* an item ended: start the next ones */
} sc_batches;

/* Parse body (taken) and start the batch for key k. NULL and *why when the
 * batch is refused as a whole (not a JSON array, too many items, too many
 * batches kept). on_done(ctx) is called (from within an answer: act later)
 * when a synchronous batch's last item ends. */
sc_batch *sc_batch_start(sc_batches *bs, sc_daemon *d, sc_vkey *k, uint8_t *body, size_t len, uint32_t priority,
                         uint32_t timeout_ms, bool async, void (*on_done)(void *), void *ctx, door_http *why);
bool sc_batch_done(const sc_batch *b);
/* Its JSON: id, status, counts, and with results, every item's. */
char *sc_batch_json(const sc_batch *b, bool results, size_t *len);
/* The caller of a synchronous batch is done with it (answered, or gone:
 * then what is still open is cancelled). */
void sc_batch_detach(sc_batches *bs, sc_batch *b);
/* The asynchronous batch `id` of key k, or NULL. */
sc_batch *sc_batch_find(sc_batches *bs, const sc_vkey *k, const char *id);
/* Start items that may go now; drop kept batches past their time. */
void sc_batches_tick(sc_batches *bs, uint64_t now);
/* Items not yet answered (draining waits for them). */
uint64_t sc_batches_open(const sc_batches *bs);
void sc_batches_destroy(sc_batches *bs);

#endif
