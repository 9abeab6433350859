/*
 * ringpack.h — glue between the ring and the record encoders: pack a record
 * straight into reserved ring space and commit it, so a body is copied once,
 * from the caller's buffer into shared memory.
 */
#ifndef RS_RINGPACK_H
#define RS_RINGPACK_H

#include "record.h"
#include "ring.h"

/* Pack rec (whose packed size is len, from rs__packed_size) at pos and
 * commit it. Returns the span it took (rs__rec_span(len)). */
uint64_t rs__ring_put(rs__ring *r, uint64_t pos, rs__pack_fn fn, const void *rec, uint32_t len);

#endif
