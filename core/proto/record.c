/*
 * record.c — encoding and hostile-input-safe decoding of ring records.
 * The layout of each record kind is documented in record.h.
 *
 * Why the decoder reads msgpack itself. Every request and every response
 * crosses a ring as one small record, so decoding sits on the round trip's
 * critical path. msgpack-c's msgpack_unpack builds a tree of msgpack_object
 * in a zone before a single field can be checked, a large share of a
 * round trip's budget (NOTES.md, "Records are decoded by our own
 * schema-driven reader"). It also allocates for a container's declared
 * count before reading the elements, which is why hostile input first had
 * to pass a structural precheck. The records have a fixed schema, so the
 * decoder below walks the
 * bytes once with a cursor, reads exactly the msgpack types each field
 * allows, bounds-checks every length against the bytes left, and never
 * allocates; decoded strings are slices into the caller's buffer, as before.
 *
 * It accepts exactly what the old path (precheck, msgpack_unpack, typed
 * extraction) accepted, with the same refusal reasons: integers in any
 * encoding msgpack-c reports as a positive integer (fixint, uint8..64, and
 * int8..64 holding a non-negative value), str/bin/nil for bytes, fields
 * appended by a newer writer skipped whatever their type, and a structural
 * fault anywhere reported ahead of any field rule (a refusal runs
 * rs__msgpack_precheck to decide which; that path is cold).
 *
 * msgpack-c remains the encoder (the rs__pack_* functions below write through
 * its packer) and the oracle the decoder is tested against
 * (tests/unit/test_record_diff.c runs the old path side by side).
 */
#include "record.h"
#include "ringside.h"

#include <endian.h>
#include <stdbool.h>
#include <string.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* ------------------------------------------------------- structural skip */

/* Nesting limit: values sit at levels 0 (the record) to MP_MAX_DEPTH - 1, so
 * a non-empty container at level MP_MAX_DEPTH - 1 (its elements would be one
 * deeper) is refused. msgpack-c's own unpacker allowed 32; this limit was the
 * precheck's, and stays so the same records are accepted. */
#define MP_MAX_DEPTH 16

static int be_len(const uint8_t *p, size_t avail, unsigned nbytes, uint64_t *v)
{
    if (avail < nbytes)
        return -1;
    uint64_t x = 0;
    for (unsigned k = 0; k < nbytes; k++)
        x = (x << 8) | p[k];
    *v = x;
    return 0;
}

/* Step over the one msgpack value at p[*pos], which sits at nesting level
 * `level`, checking structure as rs__msgpack_precheck does: every length and
 * count fits in what is left of p[0..len), nesting stays within
 * MP_MAX_DEPTH, no reserved byte. Iterative, with a fixed-size stack, so
 * hostile nesting cannot recurse. Returns 0 and moves *pos past the value,
 * or -1. */
ALWAYS_INLINE int mp_skip(const uint8_t *p, size_t len, size_t *pos, int level)
{
    uint64_t left[MP_MAX_DEPTH];   /* objects still to read at each open level */
    uint64_t pending = 1;          /* objects declared but not yet read, all levels */
    int depth = level;
    size_t i = *pos;

    left[depth] = 1;
    while (depth >= level) {
        if (left[depth] == 0) {
            depth--;
            continue;
        }
        left[depth]--;
        pending--;
        if (i >= len)
            return -1;
        uint8_t b = p[i++];
        uint64_t skip = 0, children = 0, n = 0;
        unsigned lenbytes = 0;

        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* fixint, nil, bool: the byte is the object */
        } else if (b <= 0x8f) {
            children = 2u * (b & 0x0f);
        } else if (b <= 0x9f) {
            children = b & 0x0f;
        } else if (b <= 0xbf) {
            skip = b & 0x1f;
        } else {
            switch (b) {
            case 0xc4: case 0xd9: lenbytes = 1; break;           /* bin8 str8 */
            case 0xc5: case 0xda: lenbytes = 2; break;           /* bin16 str16 */
            case 0xc6: case 0xdb: lenbytes = 4; break;           /* bin32 str32 */
            case 0xc7: lenbytes = 1; skip = 1; break;             /* ext8 (+type) */
            case 0xc8: lenbytes = 2; skip = 1; break;
            case 0xc9: lenbytes = 4; skip = 1; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: case 0xde: lenbytes = 2; break;           /* array16 map16 */
            case 0xdd: case 0xdf: lenbytes = 4; break;           /* array32 map32 */
            default: return -1;                                  /* 0xc1 */
            }
            if (lenbytes) {
                if (be_len(p + i, len - i, lenbytes, &n) < 0)
                    return -1;
                i += lenbytes;
                if (b == 0xdc || b == 0xdd)
                    children = n;
                else if (b == 0xde || b == 0xdf)
                    children = 2 * n;
                else
                    skip += n;
            }
        }
        if (skip > len - i)
            return -1;
        i += skip;
        if (children) {
            /* every object takes at least one byte */
            if (pending + children > len - i || depth + 1 >= MP_MAX_DEPTH)
                return -1;
            left[++depth] = children;
            pending += children;
        }
    }
    *pos = i;
    return 0;
}

int rs__msgpack_precheck(const uint8_t *p, size_t len)
{
    size_t i = 0;
    return mp_skip(p, len, &i, 0) == 0 && i == len ? 0 : -1;
}

/* ------------------------------------------------------------- cursor */

typedef struct cur {
    const uint8_t *p;      /* next byte */
    const uint8_t *end;    /* one past the record */
} cur;

/* msgpack is big-endian; the bytes may sit at any alignment */
ALWAYS_INLINE uint16_t ld16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return be16toh(v);
}

ALWAYS_INLINE uint32_t ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return be32toh(v);
}

ALWAYS_INLINE uint64_t ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return be64toh(v);
}

/* What msgpack-c would call the next object, as far as integers go. */
enum { INT_NONE, INT_POS, INT_NEG };

/* Read an integer in any encoding. INT_POS: *v is the value (msgpack-c's
 * POSITIVE_INTEGER: fixint, uint8..64, or int8..64 holding a value >= 0).
 * INT_NEG: *v holds the int64_t bits. INT_NONE: not an integer or cut
 * short; the cursor is then left where it was. */
ALWAYS_INLINE int rd_int(cur *c, uint64_t *v)
{
    const uint8_t *p = c->p;
    size_t left = (size_t)(c->end - p);
    if (left == 0)
        return INT_NONE;
    uint8_t b = p[0];
    if (b <= 0x7f) {
        *v = b;
        c->p = p + 1;
        return INT_POS;
    }
    if (b >= 0xe0) {
        *v = (uint64_t)(int64_t)(int8_t)b;
        c->p = p + 1;
        return INT_NEG;
    }
    if (b < 0xcc || b > 0xd3)
        return INT_NONE;
    /* 0xcc..0xcf uint8..64, 0xd0..0xd3 int8..64: width from the low bits */
    unsigned w = 1u << (b & 3);
    if (left - 1 < w)
        return INT_NONE;
    uint64_t x;
    switch (w) {
    case 1: x = p[1]; break;
    case 2: x = ld16(p + 1); break;
    case 4: x = ld32(p + 1); break;
    default: x = ld64(p + 1); break;
    }
    c->p = p + 1 + w;
    if (b <= 0xcf) {
        *v = x;
        return INT_POS;
    }
    unsigned shift = 64 - 8 * w;     /* sign-extend from w bytes */
    int64_t s = (int64_t)(x << shift) >> shift;
    *v = (uint64_t)s;
    return s < 0 ? INT_NEG : INT_POS;
}

ALWAYS_INLINE bool rd_u64(cur *c, uint64_t max, uint64_t *v)
{
    return rd_int(c, v) == INT_POS && *v <= max;
}

ALWAYS_INLINE bool rd_u32(cur *c, uint32_t max, uint32_t *v)
{
    uint64_t x;
    if (!rd_u64(c, max, &x))
        return false;
    *v = (uint32_t)x;
    return true;
}

/* str, bin and nil (= empty) are all accepted where bytes are expected */
ALWAYS_INLINE bool rd_bytes(cur *c, uint32_t max, rs__slice *s)
{
    const uint8_t *p = c->p;
    size_t left = (size_t)(c->end - p);
    if (left == 0)
        return false;
    uint8_t b = p[0];
    size_t n, h;
    if ((b & 0xe0) == 0xa0) {           /* fixstr */
        n = b & 0x1f;
        h = 1;
    } else if (b == 0xc0) {
        s->ptr = "";
        s->len = 0;
        c->p = p + 1;
        return true;
    } else {
        switch (b) {
        case 0xc4: case 0xd9: h = 2; break;    /* bin8 str8 */
        case 0xc5: case 0xda: h = 3; break;    /* bin16 str16 */
        case 0xc6: case 0xdb: h = 5; break;    /* bin32 str32 */
        default: return false;
        }
        if (left < h)
            return false;
        n = h == 2 ? p[1] : h == 3 ? ld16(p + 1) : ld32(p + 1);
    }
    if (n > max || n > left - h)
        return false;
    s->ptr = (const char *)p + h;
    s->len = (uint32_t)n;
    c->p = p + h + n;
    return true;
}

ALWAYS_INLINE bool rd_array(cur *c, uint32_t *n)
{
    const uint8_t *p = c->p;
    size_t left = (size_t)(c->end - p);
    if (left == 0)
        return false;
    uint8_t b = p[0];
    if ((b & 0xf0) == 0x90) {
        *n = b & 0x0f;
        c->p = p + 1;
    } else if (b == 0xdc && left >= 3) {
        *n = ld16(p + 1);
        c->p = p + 3;
    } else if (b == 0xdd && left >= 5) {
        *n = ld32(p + 1);
        c->p = p + 5;
    } else {
        return false;
    }
    return true;
}

/* The refusals below name each limit's value: keep them in step. */
_Static_assert(RS__MAX_HEADERS == 64 && RS__MAX_META == 65536 && RS__MAX_NAME == 256 &&
               RS__MAX_METHOD == 16 && RS__MAX_PATH == 8192 && RS__PART_BYTES == 131072,
               "a refusal message states a limit that changed");

/* Returns NULL, or why the headers were refused. */
ALWAYS_INLINE const char *rd_headers(cur *c, uint32_t *n, rs__slice *names, rs__slice *values)
{
    uint32_t m;
    if (!rd_array(c, &m) || m % 2 != 0)
        return "headers must be a flat array of name/value pairs";
    if (m / 2 > RS__MAX_HEADERS)
        return "more than 64 headers (the limit per request)";
    *n = m / 2;
    for (uint32_t k = 0; k < m / 2; k++) {
        if (!rd_bytes(c, RS__MAX_META, &names[k]) || !rd_bytes(c, RS__MAX_META, &values[k]))
            return "a header name or value is not a string of at most 65536 bytes";
        if (names[k].len == 0)
            return "a header name is empty";
    }
    return NULL;
}

/* Skip `count` values at level 1 (fields a newer writer appended). */
static bool skip_fields(cur *c, const uint8_t *base, uint64_t count)
{
    size_t i = (size_t)(c->p - base), len = (size_t)(c->end - base);
    for (uint64_t k = 0; k < count; k++)
        if (mp_skip(base, len, &i, 1) < 0)
            return false;
    c->p = base + i;
    return true;
}

/* ------------------------------------------------------------------ decode */

static const char NOT_ONE_VALUE[] = "record is not one well-formed msgpack value";

/* A field broke a rule, or the reader ran out of bytes. The old decoder
 * prechecked the whole record first, so a structural fault anywhere (even
 * after the failing field) outranks the field's own reason, and then no id
 * is reported. Cold: only refused records get here. */
__attribute__((cold, noinline))
static int refuse(const void *buf, size_t len, const char *msg, uint64_t *id, const char **why)
{
    if (msg == NOT_ONE_VALUE || rs__msgpack_precheck(buf, len) < 0) {
        msg = NOT_ONE_VALUE;
        *id = 0;
    }
    *why = msg;
    return RS_EBADREQ;
}

/* Each returns NULL when the fields after the id decode, else the reason. */

/* Requests and completions end alike: headers, the body's total length,
 * and its first part (the rest follows in BODY records). */
ALWAYS_INLINE const char *decode_message_tail(cur *c, uint32_t *nheaders, rs__slice *hname,
                                              rs__slice *hvalue, uint64_t *body_total, rs__slice *part)
{
    const char *why = rd_headers(c, nheaders, hname, hvalue);
    if (why)
        return why;
    if (!rd_u64(c, UINT64_MAX, body_total))
        return "body_total must be an unsigned integer";
    if (!rd_bytes(c, RS__PART_BYTES, part) || part->len > *body_total)
        return "first body part is too long or longer than body_total";
    return NULL;
}

ALWAYS_INLINE const char *decode_request(cur *c, uint32_t n, rs__req_rec *r)
{
    if (n < 13)
        return "request record has too few fields";
    if (!rd_u32(c, 2, &r->priority))
        return "priority must be 0, 1 or 2";
    if (!rd_u32(c, UINT32_MAX, &r->flags))
        return "flags must be an unsigned integer";
    if (!rd_u32(c, UINT32_MAX, &r->timeout_ms))
        return "timeout_ms must be an unsigned 32-bit integer";
    if (!rd_bytes(c, RS__MAX_NAME, &r->route))
        return "route must be a string of at most 256 bytes";
    if (!rd_bytes(c, RS__MAX_NAME, &r->model))
        return "model must be a string of at most 256 bytes";
    if (!rd_bytes(c, RS__MAX_METHOD, &r->method))
        return "method must be a string of at most 16 bytes";
    if (!rd_bytes(c, RS__MAX_PATH, &r->path) || r->path.len == 0 || r->path.ptr[0] != '/')
        return "path must be a string starting with '/' of at most 8192 bytes";
    return decode_message_tail(c, &r->nheaders, r->hname, r->hvalue, &r->body_total, &r->part);
}

ALWAYS_INLINE const char *decode_body(cur *c, uint32_t n, rs__body_rec *r)
{
    if (n < 5)
        return "body record has too few fields";
    if (!rd_u64(c, UINT64_MAX, &r->offset))
        return "body offset must be an unsigned integer";
    if (!rd_bytes(c, RS__PART_BYTES, &r->part) || r->part.len == 0)
        return "body part must be 1..131072 bytes";
    return NULL;
}

ALWAYS_INLINE const char *decode_completion(cur *c, uint32_t n, rs__comp_rec *r)
{
    if (n < 12)
        return "completion record has too few fields";
    uint64_t e;
    int t = rd_int(c, &e);
    if (t == INT_NEG && (int64_t)e >= INT32_MIN)
        r->error = (int32_t)(int64_t)e;
    else if (t == INT_POS && e == 0)
        r->error = 0;
    else
        return "error must be 0 or a negative code";
    if (!rd_u32(c, 999, &r->status))
        return "status must be 0..999";
    if (!rd_bytes(c, RS__MAX_META, &r->error_msg))
        return "error message too long";
    if (!rd_u32(c, UINT32_MAX, &r->attempts))
        return "attempts must be an unsigned integer";
    if (!rd_bytes(c, RS__MAX_NAME, &r->upstream))
        return "upstream name too long";
    uint32_t nt;
    if (!rd_array(c, &nt) || nt != RS__T_COUNT)
        return "timings must be an array of 4 integers";
    for (unsigned k = 0; k < RS__T_COUNT; k++)
        if (!rd_u64(c, UINT64_MAX, &r->timings[k]))
            return "timings must be unsigned integers";
    return decode_message_tail(c, &r->nheaders, r->hname, r->hvalue, &r->body_total, &r->part);
}

ALWAYS_INLINE const char *decode_chunk(cur *c, uint32_t n, rs__chunk_rec *r)
{
    if (n < 7)
        return "chunk record has too few fields";
    if (!rd_u64(c, UINT64_MAX, &r->seq) || !rd_u64(c, UINT64_MAX, &r->sidecar_ns))
        return "chunk seq and time must be unsigned integers";
    if (!rd_u32(c, 1, &r->more))
        return "chunk 'more' must be 0 or 1";
    if (!rd_bytes(c, RS__PART_BYTES, &r->data))
        return "chunk data must be at most 131072 bytes";
    return NULL;
}

ALWAYS_INLINE const char *decode_flow(cur *c, uint32_t n, rs__flow_rec *r)
{
    if (n < 4)
        return "flow record has too few fields";
    if (!rd_u32(c, 1, &r->hold))
        return "flow 'hold' must be 0 or 1";
    return NULL;
}

/* Version and kind are judged only after the id (so a refusal can still be
 * addressed), so they are read without judging: 1 = a non-negative integer
 * (in *v), 0 = some other well-formed value (stepped over), -1 = malformed. */
ALWAYS_INLINE int rd_head_field(cur *c, const uint8_t *base, uint64_t *v)
{
    cur t = *c;
    if (rd_int(&t, v) == INT_POS) {
        *c = t;
        return 1;
    }
    return skip_fields(c, base, 1) ? 0 : -1;
}

int rs__rec_decode(const void *buf, size_t len, rs__rec *out,
                   uint64_t *id, const char **why)
{
    const uint8_t *base = buf;
    cur c = { base, base + len };
    uint32_t n, nschema;
    uint64_t version = 0, kind = 0;
    const char *msg;

    *id = 0;
    if (!rd_array(&c, &n) || n < 3) {
        msg = "record must be an array [version, kind, id, ...]";
        goto refused;
    }
    int vs = rd_head_field(&c, base, &version);
    int ks = vs < 0 ? -1 : rd_head_field(&c, base, &kind);
    if (ks < 0) {
        msg = NOT_ONE_VALUE;
        goto refused;
    }
    if (!rd_u64(&c, UINT64_MAX, id)) {
        *id = 0;
        msg = "record id must be an unsigned integer";
        goto refused;
    }
    if (vs == 0 || version != RS__REC_VERSION) {
        msg = "unsupported record version (client and sidecar versions differ)";
        goto refused;
    }
    if (ks == 0 || kind < RS__KIND_REQUEST || kind > RS__KIND_FLOW) {
        msg = "unknown record kind";
        goto refused;
    }
    out->kind = (int)kind;
    switch (kind) {
    case RS__KIND_REQUEST:
        out->u.req.id = *id;
        msg = decode_request(&c, n, &out->u.req);
        nschema = 13;
        break;
    case RS__KIND_BODY:
        out->u.body.id = *id;
        msg = decode_body(&c, n, &out->u.body);
        nschema = 5;
        break;
    case RS__KIND_COMPLETION:
        out->u.comp.id = *id;
        msg = decode_completion(&c, n, &out->u.comp);
        nschema = 12;
        break;
    case RS__KIND_CANCEL:
        msg = NULL;
        nschema = 3;
        break;
    case RS__KIND_CHUNK:
        out->u.chunk.id = *id;
        msg = decode_chunk(&c, n, &out->u.chunk);
        nschema = 7;
        break;
    default:
        out->u.flow.id = *id;
        msg = decode_flow(&c, n, &out->u.flow);
        nschema = 4;
        break;
    }
    if (msg)
        goto refused;
    /* a newer writer's extra fields, then nothing: one value, no trailer */
    if ((n > nschema && !skip_fields(&c, base, n - nschema)) || c.p != c.end) {
        msg = NOT_ONE_VALUE;
        goto refused;
    }
    return 0;

refused:
    return refuse(buf, len, msg, id, why);
}

/* ------------------------------------------------------------------ encode */

/*
 * The packer bodies are always-inline so each sink gets its own copy. The
 * exported rs__pack_* functions (any msgpack_packer: an sbuffer, the ring
 * cursor in ringpack.c) are one copy; rs__pack_into and rs__packed_size
 * each build a packer whose write callback is a static function of this
 * file, so the compiler can turn msgpack-c's indirect (*pk->callback)(...)
 * into a direct call and inline it: a field's write becomes a bounds check
 * and a few stores (or, when counting, an add) instead of an indirect call
 * plus an out-of-line memcpy of 1..9 bytes.
 *
 * PK: every msgpack_pack_* call gets its own copy of the packer. GCC's early
 * inliner does not inline msgpack-c's (large) pack functions, so the
 * callback only becomes known when the IPA inliner inlines them, and it can
 * only substitute a callback that provably still holds at the call. Passing
 * one packer by address to call after call hides that (any call could have
 * changed it); a fresh copy per call, made from a packer whose address never
 * reaches a call, keeps the callback a known constant at every call, and the
 * inliner then inlines it. For a packer of unknown callback (the exported
 * functions) the copy is two loads and two stores per field. Check with
 * objdump -d: request_fixed and request_count call nothing but memcpy.
 */
#define PK(pk) (&(msgpack_packer){ .data = (pk)->data, .callback = (pk)->callback })

ALWAYS_INLINE void pack_str(msgpack_packer *pk, rs__slice s)
{
    msgpack_pack_str(PK(pk), s.len);
    msgpack_pack_str_body(PK(pk), s.ptr, s.len);
}

ALWAYS_INLINE void pack_bin(msgpack_packer *pk, rs__slice s)
{
    msgpack_pack_bin(PK(pk), s.len);
    msgpack_pack_bin_body(PK(pk), s.ptr, s.len);
}

ALWAYS_INLINE void pack_headers(msgpack_packer *pk, uint32_t n, const rs__slice *names,
                                const rs__slice *values)
{
    msgpack_pack_array(PK(pk), 2 * n);
    for (uint32_t k = 0; k < n; k++) {
        pack_str(pk, names[k]);
        pack_str(pk, values[k]);
    }
}

/* headers, body_total, first part: how requests and completions end */
ALWAYS_INLINE void pack_message_tail(msgpack_packer *pk, uint32_t n, const rs__slice *names,
                                     const rs__slice *values, uint64_t body_total, rs__slice part)
{
    pack_headers(pk, n, names, values);
    msgpack_pack_uint64(PK(pk), body_total);
    pack_bin(pk, part);
}

/* [version, kind, id, ...] opens every record */
ALWAYS_INLINE void pack_start(msgpack_packer *pk, size_t nfields, unsigned kind, uint64_t id)
{
    msgpack_pack_array(PK(pk), nfields);
    msgpack_pack_uint32(PK(pk), RS__REC_VERSION);
    msgpack_pack_uint32(PK(pk), kind);
    msgpack_pack_uint64(PK(pk), id);
}

ALWAYS_INLINE void pack_request_rec(msgpack_packer *pk, const rs__req_rec *r)
{
    pack_start(pk, 13, RS__KIND_REQUEST, r->id);
    msgpack_pack_uint32(PK(pk), r->priority);
    msgpack_pack_uint32(PK(pk), r->flags);
    msgpack_pack_uint32(PK(pk), r->timeout_ms);
    pack_str(pk, r->route);
    pack_str(pk, r->model);
    pack_str(pk, r->method);
    pack_str(pk, r->path);
    pack_message_tail(pk, r->nheaders, r->hname, r->hvalue, r->body_total, r->part);
}

ALWAYS_INLINE void pack_body_rec(msgpack_packer *pk, const rs__body_rec *r)
{
    pack_start(pk, 5, RS__KIND_BODY, r->id);
    msgpack_pack_uint64(PK(pk), r->offset);
    pack_bin(pk, r->part);
}

ALWAYS_INLINE void pack_completion_rec(msgpack_packer *pk, const rs__comp_rec *r)
{
    pack_start(pk, 12, RS__KIND_COMPLETION, r->id);
    msgpack_pack_int32(PK(pk), r->error);
    msgpack_pack_uint32(PK(pk), r->status);
    pack_str(pk, r->error_msg);
    msgpack_pack_uint32(PK(pk), r->attempts);
    pack_str(pk, r->upstream);
    msgpack_pack_array(PK(pk), RS__T_COUNT);
    for (unsigned k = 0; k < RS__T_COUNT; k++)
        msgpack_pack_uint64(PK(pk), r->timings[k]);
    pack_message_tail(pk, r->nheaders, r->hname, r->hvalue, r->body_total, r->part);
}

ALWAYS_INLINE void pack_cancel_rec(msgpack_packer *pk, const uint64_t *id)
{
    pack_start(pk, 3, RS__KIND_CANCEL, *id);
}

ALWAYS_INLINE void pack_chunk_rec(msgpack_packer *pk, const rs__chunk_rec *r)
{
    pack_start(pk, 7, RS__KIND_CHUNK, r->id);
    msgpack_pack_uint64(PK(pk), r->seq);
    msgpack_pack_uint64(PK(pk), r->sidecar_ns);
    msgpack_pack_uint32(PK(pk), r->more);
    pack_bin(pk, r->data);
}

ALWAYS_INLINE void pack_flow_rec(msgpack_packer *pk, const rs__flow_rec *r)
{
    pack_start(pk, 4, RS__KIND_FLOW, r->id);
    msgpack_pack_uint32(PK(pk), r->hold);
}

/* Every kind of record the library packs, with its C type, in the order
 * rs__pack_into and rs__packed_size test for them (most frequent first).
 * Each gets its exported rs__pack_NAME, a fixed-buffer sink and a counting
 * sink (below); a new kind is one line here plus its pack_NAME_rec. */
#define RECORD_KINDS(X)            \
    X(request, rs__req_rec)        \
    X(completion, rs__comp_rec)    \
    X(chunk, rs__chunk_rec)        \
    X(body, rs__body_rec)          \
    X(cancel, uint64_t)            \
    X(flow, rs__flow_rec)

#define EXPORTED_PACKER(name, type)                                \
    void rs__pack_##name(msgpack_packer *pk, const void *rec)      \
    {                                                              \
        pack_##name##_rec(pk, (const type *)rec);                  \
    }
RECORD_KINDS(EXPORTED_PACKER)

/* Sink 1: a fixed buffer. Overflow is sticky and silent (the packer has no
 * way to stop early); the caller sees size 0 and falls back. */
struct fixed_sink {
    uint8_t *p;
    size_t cap, len;
    bool overflow;
};

static inline int fixed_write(void *data, const char *buf, size_t len)
{
    struct fixed_sink *f = data;
    if (len == 0)   /* an empty body: buf may be NULL */
        return 0;
    if (f->overflow || len > f->cap - f->len) {
        f->overflow = true;
        return 0;
    }
    uint8_t *d = f->p + f->len;
    if (len <= 16) {
        /* headers and short strings: two overlapping fixed-size moves
         * instead of a call to memcpy */
        if (len >= 8) {
            uint64_t a, b;
            memcpy(&a, buf, 8);
            memcpy(&b, buf + len - 8, 8);
            memcpy(d, &a, 8);
            memcpy(d + len - 8, &b, 8);
        } else if (len >= 4) {
            uint32_t a, b;
            memcpy(&a, buf, 4);
            memcpy(&b, buf + len - 4, 4);
            memcpy(d, &a, 4);
            memcpy(d + len - 4, &b, 4);
        } else {
            d[0] = (uint8_t)buf[0];
            d[len / 2] = (uint8_t)buf[len / 2];
            d[len - 1] = (uint8_t)buf[len - 1];
        }
    } else {
        memcpy(d, buf, len);
    }
    f->len += len;
    return 0;
}

/* Sink 2: a byte counter. */
static inline int count_write(void *data, const char *buf, size_t len)
{
    (void)buf;
    *(size_t *)data += len;
    return 0;
}

/* One fixed-buffer and one counting packer per record kind. Separate
 * functions, so the sink state never escapes and stays in registers. */
#define SPECIALISED_SINKS(name, type)                                         \
    static size_t name##_fixed(const void *rec, void *buf, size_t cap) \
    {                                                                         \
        struct fixed_sink f = { buf, cap, 0, false };                         \
        msgpack_packer pk;                                                    \
        msgpack_packer_init(&pk, &f, fixed_write);                            \
        pack_##name##_rec(&pk, (const type *)rec);                            \
        return f.overflow ? 0 : f.len;                                        \
    }                                                                         \
    static size_t name##_count(const void *rec)                       \
    {                                                                         \
        size_t n = 0;                                                         \
        msgpack_packer pk;                                                    \
        msgpack_packer_init(&pk, &n, count_write);                            \
        pack_##name##_rec(&pk, (const type *)rec);                            \
        return n;                                                             \
    }

RECORD_KINDS(SPECIALISED_SINKS)

/* Any other encoder goes through the callback as msgpack-c intends. */
__attribute__((noinline))
static size_t generic_fixed(rs__pack_fn fn, const void *rec, void *buf, size_t cap)
{
    struct fixed_sink f = { buf, cap, 0, false };
    msgpack_packer pk;
    msgpack_packer_init(&pk, &f, fixed_write);
    fn(&pk, rec);
    return f.overflow ? 0 : f.len;
}

__attribute__((noinline))
static size_t generic_count(rs__pack_fn fn, const void *rec)
{
    size_t n = 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &n, count_write);
    fn(&pk, rec);
    return n;
}

/* A direct call to the kind's own sink (not through a table), so each
 * stays a call the compiler sees whole. */
size_t rs__pack_into(rs__pack_fn fn, const void *rec, void *buf, size_t cap)
{
#define TRY_FIXED(name, type)                 \
    if (fn == rs__pack_##name)                \
        return name##_fixed(rec, buf, cap);
    RECORD_KINDS(TRY_FIXED)
#undef TRY_FIXED
    return generic_fixed(fn, rec, buf, cap);
}

size_t rs__packed_size(rs__pack_fn fn, const void *rec)
{
#define TRY_COUNT(name, type)                 \
    if (fn == rs__pack_##name)                \
        return name##_count(rec);
    RECORD_KINDS(TRY_COUNT)
#undef TRY_COUNT
    return generic_count(fn, rec);
}
