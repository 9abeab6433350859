/*
 * record.h — the versioned msgpack records that cross the rings.
 *
 * Six kinds, each a msgpack array whose first two elements are the format
 * version and the kind:
 *   REQUEST    [1, 1, id, priority, flags, timeout_ms, route, model, method,
 *               path, [name, value, ...], body_total, first_part]
 *   BODY       [1, 2, id, offset, part]
 *   COMPLETION [1, 3, id, error, status, error_msg, attempts, upstream,
 *               [queued_us, first_byte_us, first_content_us, total_us],
 *               [name, value, ...], body_total, first_part]
 *   CANCEL     [1, 4, id]                               client → sidecar
 *   CHUNK      [1, 5, id, seq, sidecar_ns, more, data]  sidecar → client: one
 *               streamed event's data; an event longer than RS__PART_BYTES
 *               spans several CHUNK records of the same seq, all but the last
 *               with more = 1
 *   FLOW       [1, 6, id, hold]                         client → sidecar:
 *               hold = 1 stops delivering stream id's events (its reader
 *               is behind), 0 resumes. Sent only to a sidecar whose
 *               welcome lists RS__FEATURE_FLOW.
 * Words: a *part* is a piece of a request's or an answer's body (its first
 * part rides in the head record); a *chunk* is one streamed event's data.
 * A body longer than RS__PART_BYTES continues in BODY records that follow
 * the head record directly and in order (one producer writes a head and its
 * BODY records as one unit), so a reader assembles at most one body at a
 * time per ring.
 *
 * Decoding never trusts the bytes: records are decoded from a private copy
 * by a schema-driven reader (record.c) that bounds-checks every count and
 * length against the record's size, checks every field's type and range, and
 * never allocates. Decoded strings are slices pointing into that private
 * copy. Encoding goes through msgpack-c's packer.
 */
#ifndef RS_RECORD_H
#define RS_RECORD_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define RS__REC_VERSION 1

enum rs__rec_kind {
    RS__KIND_REQUEST = 1,
    RS__KIND_BODY = 2,
    RS__KIND_COMPLETION = 3,
    RS__KIND_CANCEL = 4,
    RS__KIND_CHUNK = 5,
    RS__KIND_FLOW = 6,
};

/* Limits of one request (the README's limits table lists them all). The
 * client library refuses a request over any of them before it is sent,
 * naming the limit; the sidecar's decoder enforces them again. */
#define RS__MAX_HEADERS 64u
#define RS__MAX_METHOD  16u
#define RS__MAX_PATH    8192u
#define RS__MAX_NAME    256u            /* route, model, upstream names */
#define RS__PART_BYTES  (128u * 1024u)  /* body or event bytes per record */
#define RS__MAX_META    (64u * 1024u)   /* a record without its body bytes */
#define RS__MAX_RECORD  (RS__PART_BYTES + RS__MAX_META)
/* The smallest ring: any record fits into it whole (a producer whose record
 * cannot fit an empty ring would wait for space forever). */
#define RS__MIN_RING_BYTES (256u * 1024u)
_Static_assert(RS__MIN_RING_BYTES >= 8u + RS__MAX_RECORD, "a ring must hold the largest record");

typedef struct rs__slice {
    const char *ptr;
    uint32_t len;
} rs__slice;

typedef struct rs__req_rec {
    uint64_t id;
    uint32_t priority, flags, timeout_ms;
    rs__slice route, model, method, path;
    uint32_t nheaders;
    rs__slice hname[RS__MAX_HEADERS], hvalue[RS__MAX_HEADERS];
    uint64_t body_total;
    rs__slice part;               /* the body's first part */
} rs__req_rec;

typedef struct rs__body_rec {
    uint64_t id;
    uint64_t offset;
    rs__slice part;
} rs__body_rec;

enum { RS__T_QUEUED, RS__T_FIRST_BYTE, RS__T_FIRST_CONTENT, RS__T_TOTAL, RS__T_COUNT };

typedef struct rs__comp_rec {
    uint64_t id;
    int32_t error;
    uint32_t status;
    rs__slice error_msg;
    uint32_t attempts;
    rs__slice upstream;
    uint64_t timings[RS__T_COUNT];
    uint32_t nheaders;
    rs__slice hname[RS__MAX_HEADERS], hvalue[RS__MAX_HEADERS];
    uint64_t body_total;
    rs__slice part;               /* the body's first part */
} rs__comp_rec;

typedef struct rs__chunk_rec {
    uint64_t id;
    uint64_t seq;
    uint64_t sidecar_ns;
    uint32_t more;
    rs__slice data;
} rs__chunk_rec;

typedef struct rs__flow_rec {
    uint64_t id;
    uint32_t hold;
} rs__flow_rec;

typedef struct rs__rec {
    int kind;
    union {
        rs__req_rec req;
        rs__body_rec body;
        rs__comp_rec comp;
        rs__chunk_rec chunk;
        rs__flow_rec flow;
    } u;
} rs__rec;

/* Decode one record from buf[0..len). On success returns 0 and fills *out
 * with slices into buf. On failure returns RS_EBADREQ, sets *why to a static
 * description, and sets *id to the record's id when it could be read (else 0)
 * so the refusal can still be addressed to the request. */
int rs__rec_decode(const void *buf, size_t len, rs__rec *out,
                   uint64_t *id, const char **why);

/* Encoders write through a msgpack_packer; rs__packed_size runs an encoder
 * into a byte counter so a producer can reserve exactly the space needed and
 * then pack straight into the ring (no intermediate copy of the body). */
typedef void (*rs__pack_fn)(msgpack_packer *pk, const void *rec);
void rs__pack_request(msgpack_packer *pk, const void *req_rec);
void rs__pack_body(msgpack_packer *pk, const void *body_rec);
void rs__pack_completion(msgpack_packer *pk, const void *comp_rec);
void rs__pack_cancel(msgpack_packer *pk, const void *id);   /* a uint64_t */
void rs__pack_chunk(msgpack_packer *pk, const void *chunk_rec);
void rs__pack_flow(msgpack_packer *pk, const void *flow_rec);
size_t rs__packed_size(rs__pack_fn fn, const void *rec);

/* Pack rec into buf[0..cap): returns the packed size, or 0 when it does not
 * fit (then size it with rs__packed_size and pack it in place). Records of
 * the rs__pack_* functions above take a path where msgpack-c's write
 * callback is known at compile time and inlined (see record.c). */
size_t rs__pack_into(rs__pack_fn fn, const void *rec, void *buf, size_t cap);

/* Cheap structural check (exposed for tests and fuzzers): every container
 * count and byte length in buf must fit in what is left of buf, non-empty
 * containers nest at most 15 deep (the root counted), and buf
 * holds exactly one value. It guarded msgpack-c's unpacker, which allocates
 * for a declared count before it has read the elements; the decoder now only
 * runs it on a refused record, to report a structural fault ahead of a field
 * rule exactly as before. Returns 0 or -1. */
int rs__msgpack_precheck(const uint8_t *buf, size_t len);

#endif
