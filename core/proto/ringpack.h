/*
 * ringpack.h — glue between the ring and the record encoders: pack a record
 * straight into reserved ring space and commit it, so a body is copied once,
 * from the caller's buffer into shared memory.
 */
#ifndef RS_RINGPACK_H
#define RS_RINGPACK_H

#include "record.h"
#include "ring.h"

#include <stdbool.h>

/* Pack rec (whose packed size is len, from rs__packed_size) at pos and
 * commit it. Returns the span it took (rs__rec_span(len)). */
uint64_t rs__ring_put(rs__ring *r, uint64_t pos, rs__pack_fn fn, const void *rec, uint32_t len);

/* Copy an already packed payload in at pos and commit it; returns the span. */
uint64_t rs__ring_put_packed(rs__ring *r, uint64_t pos, const void *payload, uint32_t len);

/* A record on its way into a ring, the usual way: stage it (which gives
 * its packed length, to reserve the space), then put it at the reserved
 * position. Small records (most: requests without big bodies, answers,
 * stream events) are packed once into the stage and copied in with one
 * memcpy; larger ones are sized here and packed field by field straight
 * into the ring, so a big body is copied once. */
#define RS__SMALL_RECORD 2048u
typedef struct rs__staged {
    rs__pack_fn fn;
    const void *rec;
    uint32_t len;
    bool small;
    uint8_t buf[RS__SMALL_RECORD];
} rs__staged;

uint32_t rs__stage(rs__staged *st, rs__pack_fn fn, const void *rec);
uint64_t rs__ring_put_staged(rs__ring *r, uint64_t pos, const rs__staged *st);   /* the span */

#endif
