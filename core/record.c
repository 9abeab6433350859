/*
 * record.c — encoding and hostile-input-safe decoding of ring records.
 * The layout of each record kind is documented in record.h.
 */
#include "record.h"
#include "ringside.h"

#include <string.h>

/* ---------------------------------------------------------------- precheck */

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

int rs__msgpack_precheck(const uint8_t *p, size_t len)
{
    enum { MAX_DEPTH = 16 };
    uint64_t left[MAX_DEPTH];   /* objects still to read at each open level */
    uint64_t pending = 1;       /* objects declared but not yet read, all levels */
    int depth = 0;
    size_t i = 0;

    left[0] = 1;
    while (depth >= 0) {
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
            if (pending + children > len - i || depth + 1 >= MAX_DEPTH)
                return -1;
            left[++depth] = children;
            pending += children;
        }
    }
    return i == len ? 0 : -1;
}

/* ------------------------------------------------------------------ decode */

int rs__decoder_init(rs__decoder *d)
{
    return msgpack_zone_init(&d->zone, 4096) ? 0 : RS_ENOMEM;
}

void rs__decoder_destroy(rs__decoder *d)
{
    msgpack_zone_destroy(&d->zone);
}

static int get_u64(const msgpack_object *o, uint64_t max, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return -1;
    *v = o->via.u64;
    return 0;
}

static int get_u32(const msgpack_object *o, uint32_t max, uint32_t *v)
{
    uint64_t x;
    if (get_u64(o, max, &x) < 0)
        return -1;
    *v = (uint32_t)x;
    return 0;
}

/* str, bin and nil (= empty) are all accepted where bytes are expected */
static int get_bytes(const msgpack_object *o, uint32_t max, rs__slice *s)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        s->ptr = "";
        s->len = 0;
        return 0;
    case MSGPACK_OBJECT_STR:
        s->ptr = o->via.str.ptr;
        s->len = o->via.str.size;
        break;
    case MSGPACK_OBJECT_BIN:
        s->ptr = o->via.bin.ptr;
        s->len = o->via.bin.size;
        break;
    default:
        return -1;
    }
    return s->len <= max ? 0 : -1;
}

static int get_headers(const msgpack_object *o, uint32_t *n, rs__slice *names, rs__slice *values)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size % 2 != 0 ||
        o->via.array.size / 2 > RS__MAX_HEADERS)
        return -1;
    *n = o->via.array.size / 2;
    for (uint32_t k = 0; k < *n; k++) {
        if (get_bytes(&o->via.array.ptr[2 * k], RS__MAX_META, &names[k]) < 0 ||
            get_bytes(&o->via.array.ptr[2 * k + 1], RS__MAX_META, &values[k]) < 0 ||
            names[k].len == 0)
            return -1;
    }
    return 0;
}

#define FAIL(msg) do { *why = (msg); return RS_EBADREQ; } while (0)

static int decode_request(const msgpack_object *f, uint32_t n, rs__req_rec *r, const char **why)
{
    if (n < 13)
        FAIL("request record has too few fields");
    if (get_u32(&f[3], 2, &r->priority) < 0)
        FAIL("priority must be 0, 1 or 2");
    if (get_u32(&f[4], UINT32_MAX, &r->flags) < 0)
        FAIL("flags must be an unsigned integer");
    if (get_u32(&f[5], UINT32_MAX, &r->timeout_ms) < 0)
        FAIL("timeout_ms must be an unsigned 32-bit integer");
    if (get_bytes(&f[6], 256, &r->route) < 0)
        FAIL("route must be a string of at most 256 bytes");
    if (get_bytes(&f[7], 256, &r->model) < 0)
        FAIL("model must be a string of at most 256 bytes");
    if (get_bytes(&f[8], 16, &r->method) < 0)
        FAIL("method must be a string of at most 16 bytes");
    if (get_bytes(&f[9], 8192, &r->path) < 0 || r->path.len == 0 || r->path.ptr[0] != '/')
        FAIL("path must be a string starting with '/' of at most 8192 bytes");
    if (get_headers(&f[10], &r->nheaders, r->hname, r->hvalue) < 0)
        FAIL("headers must be a flat array of at most 64 name/value pairs");
    if (get_u64(&f[11], UINT64_MAX, &r->body_total) < 0)
        FAIL("body_total must be an unsigned integer");
    if (get_bytes(&f[12], RS__CHUNK_BYTES, &r->chunk) < 0 || r->chunk.len > r->body_total)
        FAIL("first body chunk is too long or longer than body_total");
    return 0;
}

static int decode_body(const msgpack_object *f, uint32_t n, rs__body_rec *r, const char **why)
{
    if (n < 5)
        FAIL("body record has too few fields");
    if (get_u64(&f[3], UINT64_MAX, &r->offset) < 0)
        FAIL("body offset must be an unsigned integer");
    if (get_bytes(&f[4], RS__CHUNK_BYTES, &r->chunk) < 0 || r->chunk.len == 0)
        FAIL("body chunk must be 1..131072 bytes");
    return 0;
}

static int decode_completion(const msgpack_object *f, uint32_t n, rs__comp_rec *r, const char **why)
{
    if (n < 12)
        FAIL("completion record has too few fields");
    if (f[3].type == MSGPACK_OBJECT_NEGATIVE_INTEGER && f[3].via.i64 >= INT32_MIN)
        r->error = (int32_t)f[3].via.i64;
    else if (f[3].type == MSGPACK_OBJECT_POSITIVE_INTEGER && f[3].via.u64 == 0)
        r->error = 0;
    else
        FAIL("error must be 0 or a negative code");
    if (get_u32(&f[4], 999, &r->status) < 0)
        FAIL("status must be 0..999");
    if (get_bytes(&f[5], RS__MAX_META, &r->error_msg) < 0)
        FAIL("error message too long");
    if (get_u32(&f[6], UINT32_MAX, &r->attempts) < 0)
        FAIL("attempts must be an unsigned integer");
    if (get_bytes(&f[7], 256, &r->upstream) < 0)
        FAIL("upstream name too long");
    if (f[8].type != MSGPACK_OBJECT_ARRAY || f[8].via.array.size != RS__T_COUNT)
        FAIL("timings must be an array of 4 integers");
    for (unsigned k = 0; k < RS__T_COUNT; k++)
        if (get_u64(&f[8].via.array.ptr[k], UINT64_MAX, &r->timings[k]) < 0)
            FAIL("timings must be unsigned integers");
    if (get_headers(&f[9], &r->nheaders, r->hname, r->hvalue) < 0)
        FAIL("headers must be a flat array of at most 64 name/value pairs");
    if (get_u64(&f[10], UINT64_MAX, &r->body_total) < 0)
        FAIL("body_total must be an unsigned integer");
    if (get_bytes(&f[11], RS__CHUNK_BYTES, &r->chunk) < 0 || r->chunk.len > r->body_total)
        FAIL("first body chunk is too long or longer than body_total");
    return 0;
}

static int decode_chunk(const msgpack_object *f, uint32_t n, rs__chunk_rec *r, const char **why)
{
    if (n < 7)
        FAIL("chunk record has too few fields");
    if (get_u64(&f[3], UINT64_MAX, &r->seq) < 0 || get_u64(&f[4], UINT64_MAX, &r->sidecar_ns) < 0)
        FAIL("chunk seq and time must be unsigned integers");
    if (get_u32(&f[5], 1, &r->more) < 0)
        FAIL("chunk 'more' must be 0 or 1");
    if (get_bytes(&f[6], RS__CHUNK_BYTES, &r->data) < 0)
        FAIL("chunk data must be at most 131072 bytes");
    return 0;
}

int rs__rec_decode(rs__decoder *d, const void *buf, size_t len, rs__rec *out,
                   uint64_t *id, const char **why)
{
    *id = 0;
    if (rs__msgpack_precheck(buf, len) < 0)
        FAIL("record is not one well-formed msgpack value");

    msgpack_zone_clear(&d->zone);
    msgpack_object root;
    size_t off = 0;
    if (msgpack_unpack(buf, len, &off, &d->zone, &root) != MSGPACK_UNPACK_SUCCESS || off != len)
        FAIL("record is not one well-formed msgpack value");
    if (root.type != MSGPACK_OBJECT_ARRAY || root.via.array.size < 3)
        FAIL("record must be an array [version, kind, id, ...]");

    const msgpack_object *f = root.via.array.ptr;
    uint32_t n = root.via.array.size;
    uint64_t version, kind;
    if (get_u64(&f[2], UINT64_MAX, id) < 0) {
        *id = 0;
        FAIL("record id must be an unsigned integer");
    }
    if (get_u64(&f[0], UINT32_MAX, &version) < 0 || version != RS__REC_VERSION)
        FAIL("unsupported record version (client and sidecar versions differ)");
    if (get_u64(&f[1], 255, &kind) < 0)
        FAIL("unknown record kind");
    out->kind = (int)kind;
    switch (kind) {
    case RS__KIND_REQUEST:
        out->u.req.id = *id;
        return decode_request(f, n, &out->u.req, why);
    case RS__KIND_BODY:
        out->u.body.id = *id;
        return decode_body(f, n, &out->u.body, why);
    case RS__KIND_COMPLETION:
        out->u.comp.id = *id;
        return decode_completion(f, n, &out->u.comp, why);
    case RS__KIND_CANCEL:
        return 0;
    case RS__KIND_CHUNK:
        out->u.chunk.id = *id;
        return decode_chunk(f, n, &out->u.chunk, why);
    default:
        FAIL("unknown record kind");
    }
}

/* ------------------------------------------------------------------ encode */

static void pack_bytes(msgpack_packer *pk, rs__slice s)
{
    msgpack_pack_str(pk, s.len);
    msgpack_pack_str_body(pk, s.ptr, s.len);
}

static void pack_bin(msgpack_packer *pk, rs__slice s)
{
    msgpack_pack_bin(pk, s.len);
    msgpack_pack_bin_body(pk, s.ptr, s.len);
}

static void pack_headers(msgpack_packer *pk, uint32_t n, const rs__slice *names, const rs__slice *values)
{
    msgpack_pack_array(pk, 2 * n);
    for (uint32_t k = 0; k < n; k++) {
        pack_bytes(pk, names[k]);
        pack_bytes(pk, values[k]);
    }
}

/* [version, kind, id, ...] opens every record */
static void pack_start(msgpack_packer *pk, size_t nfields, unsigned kind, uint64_t id)
{
    msgpack_pack_array(pk, nfields);
    msgpack_pack_uint32(pk, RS__REC_VERSION);
    msgpack_pack_uint32(pk, kind);
    msgpack_pack_uint64(pk, id);
}

void rs__pack_request(msgpack_packer *pk, const void *rec)
{
    const rs__req_rec *r = rec;
    pack_start(pk, 13, RS__KIND_REQUEST, r->id);
    msgpack_pack_uint32(pk, r->priority);
    msgpack_pack_uint32(pk, r->flags);
    msgpack_pack_uint32(pk, r->timeout_ms);
    pack_bytes(pk, r->route);
    pack_bytes(pk, r->model);
    pack_bytes(pk, r->method);
    pack_bytes(pk, r->path);
    pack_headers(pk, r->nheaders, r->hname, r->hvalue);
    msgpack_pack_uint64(pk, r->body_total);
    pack_bin(pk, r->chunk);
}

void rs__pack_body(msgpack_packer *pk, const void *rec)
{
    const rs__body_rec *r = rec;
    pack_start(pk, 5, RS__KIND_BODY, r->id);
    msgpack_pack_uint64(pk, r->offset);
    pack_bin(pk, r->chunk);
}

void rs__pack_completion(msgpack_packer *pk, const void *rec)
{
    const rs__comp_rec *r = rec;
    pack_start(pk, 12, RS__KIND_COMPLETION, r->id);
    msgpack_pack_int32(pk, r->error);
    msgpack_pack_uint32(pk, r->status);
    pack_bytes(pk, r->error_msg);
    msgpack_pack_uint32(pk, r->attempts);
    pack_bytes(pk, r->upstream);
    msgpack_pack_array(pk, RS__T_COUNT);
    for (unsigned k = 0; k < RS__T_COUNT; k++)
        msgpack_pack_uint64(pk, r->timings[k]);
    pack_headers(pk, r->nheaders, r->hname, r->hvalue);
    msgpack_pack_uint64(pk, r->body_total);
    pack_bin(pk, r->chunk);
}

void rs__pack_cancel(msgpack_packer *pk, const void *id)
{
    pack_start(pk, 3, RS__KIND_CANCEL, *(const uint64_t *)id);
}

void rs__pack_chunk(msgpack_packer *pk, const void *rec)
{
    const rs__chunk_rec *r = rec;
    pack_start(pk, 7, RS__KIND_CHUNK, r->id);
    msgpack_pack_uint64(pk, r->seq);
    msgpack_pack_uint64(pk, r->sidecar_ns);
    msgpack_pack_uint32(pk, r->more);
    pack_bin(pk, r->data);
}

static int count_bytes(void *data, const char *buf, size_t len)
{
    (void)buf;
    *(size_t *)data += len;
    return 0;
}

size_t rs__packed_size(rs__pack_fn fn, const void *rec)
{
    size_t n = 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &n, count_bytes);
    fn(&pk, rec);
    return n;
}
