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

/* Small records are cheaper packed once into a caller's buffer
 * (rs__pack_into, up to RS__SMALL_RECORD bytes) and copied in with one
 * memcpy than sized in one pass and packed field by field into the ring in
 * another. Copy an already packed payload in at pos and commit it; returns
 * the span. */
#define RS__SMALL_RECORD 2048u
uint64_t rs__ring_put_packed(rs__ring *r, uint64_t pos, const void *payload, uint32_t len);

#endif
