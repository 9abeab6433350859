/*
 * test_record_diff.c — differential test of the record decoder and of the
 * specialised encoders (core/proto/record.c).
 *
 * rs__rec_decode reads msgpack with its own schema-driven cursor. The oracle
 * is the decoder it replaced, kept below verbatim as the REFERENCE
 * IMPLEMENTATION: the structural precheck, msgpack-c's msgpack_unpack into a
 * zone, then typed extraction from the object tree. For every input both
 * run on the same exact-size heap copy (so ASan sees any read past the end)
 * and must agree on: accept or refuse, the refusal's reason string, the id
 * reported, and on success every field (integers by value, slices by
 * pointer and bytes).
 *
 * Inputs:
 *   - records of every kind packed by the library's rs__pack_* functions
 *     from random field values (and decoded back to those values), with
 *     rs__pack_into and rs__packed_size checked against msgpack-c's
 *     sbuffer packing of the same record;
 *   - records written here with a random legal encoding for every value
 *     (every integer width msgpack-c can decode, str/bin/nil for bytes,
 *     fix/16/32 headers), 0..64 headers, and extra trailing fields of any
 *     type and nesting; valid, and with one field broken in one of the ways
 *     the decoder has a rule for;
 *   - mutations of those: byte changes, truncations, insertions, deletions,
 *     edits of length and count fields;
 *   - random byte strings.
 *
 * Randomness comes from a fixed seed, so a run is repeatable; set
 * RS_DIFF_SEED=<n> to try other inputs. A failure names the seed, the phase
 * and the case number, and dumps the input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "ringpack.h"
#include "ringside.h"
#include "test_rand.h"

/* ============================================================ REFERENCE
 * The decoder as it was before the cursor reader (core/proto/record.c, precheck +
 * msgpack_unpack + typed extraction), copied unchanged apart from names.
 * It is the oracle: do not "fix" it to match the new decoder. Its first
 * step, the structural precheck, is the library's rs__msgpack_precheck,
 * which the new decoder left unchanged.
 */

static int ref_get_u64(const msgpack_object *o, uint64_t max, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return -1;
    *v = o->via.u64;
    return 0;
}

static int ref_get_u32(const msgpack_object *o, uint32_t max, uint32_t *v)
{
    uint64_t x;
    if (ref_get_u64(o, max, &x) < 0)
        return -1;
    *v = (uint32_t)x;
    return 0;
}

static int ref_get_bytes(const msgpack_object *o, uint32_t max, rs__slice *s)
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

static const char *ref_get_headers(const msgpack_object *o, uint32_t *n, rs__slice *names, rs__slice *values)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size % 2 != 0)
        return "headers must be a flat array of name/value pairs";
    if (o->via.array.size / 2 > RS__MAX_HEADERS)
        return "more than 64 headers (the limit per request)";
    *n = o->via.array.size / 2;
    for (uint32_t k = 0; k < *n; k++) {
        if (ref_get_bytes(&o->via.array.ptr[2 * k], RS__MAX_META, &names[k]) < 0 ||
            ref_get_bytes(&o->via.array.ptr[2 * k + 1], RS__MAX_META, &values[k]) < 0)
            return "a header name or value is not a string of at most 65536 bytes";
        if (names[k].len == 0)
            return "a header name is empty";
    }
    return NULL;
}

#define REF_FAIL(msg) do { *why = (msg); return RS_EBADREQ; } while (0)

static int ref_decode_request(const msgpack_object *f, uint32_t n, rs__req_rec *r, const char **why)
{
    if (n < 13)
        REF_FAIL("request record has too few fields");
    if (ref_get_u32(&f[3], 2, &r->priority) < 0)
        REF_FAIL("priority must be 0, 1 or 2");
    if (ref_get_u32(&f[4], UINT32_MAX, &r->flags) < 0)
        REF_FAIL("flags must be an unsigned integer");
    if (ref_get_u32(&f[5], UINT32_MAX, &r->timeout_ms) < 0)
        REF_FAIL("timeout_ms must be an unsigned 32-bit integer");
    if (ref_get_bytes(&f[6], 256, &r->route) < 0)
        REF_FAIL("route must be a string of at most 256 bytes");
    if (ref_get_bytes(&f[7], 256, &r->model) < 0)
        REF_FAIL("model must be a string of at most 256 bytes");
    if (ref_get_bytes(&f[8], 16, &r->method) < 0)
        REF_FAIL("method must be a string of at most 16 bytes");
    if (ref_get_bytes(&f[9], 8192, &r->path) < 0 || r->path.len == 0 || r->path.ptr[0] != '/')
        REF_FAIL("path must be a string starting with '/' of at most 8192 bytes");
    const char *hwhy = ref_get_headers(&f[10], &r->nheaders, r->hname, r->hvalue);
    if (hwhy)
        REF_FAIL(hwhy);
    if (ref_get_u64(&f[11], UINT64_MAX, &r->body_total) < 0)
        REF_FAIL("body_total must be an unsigned integer");
    if (ref_get_bytes(&f[12], RS__PART_BYTES, &r->part) < 0 || r->part.len > r->body_total)
        REF_FAIL("first body part is too long or longer than body_total");
    return 0;
}

static int ref_decode_body(const msgpack_object *f, uint32_t n, rs__body_rec *r, const char **why)
{
    if (n < 5)
        REF_FAIL("body record has too few fields");
    if (ref_get_u64(&f[3], UINT64_MAX, &r->offset) < 0)
        REF_FAIL("body offset must be an unsigned integer");
    if (ref_get_bytes(&f[4], RS__PART_BYTES, &r->part) < 0 || r->part.len == 0)
        REF_FAIL("body part must be 1..131072 bytes");
    return 0;
}

static int ref_decode_completion(const msgpack_object *f, uint32_t n, rs__comp_rec *r, const char **why)
{
    if (n < 12)
        REF_FAIL("completion record has too few fields");
    if (f[3].type == MSGPACK_OBJECT_NEGATIVE_INTEGER && f[3].via.i64 >= INT32_MIN)
        r->error = (int32_t)f[3].via.i64;
    else if (f[3].type == MSGPACK_OBJECT_POSITIVE_INTEGER && f[3].via.u64 == 0)
        r->error = 0;
    else
        REF_FAIL("error must be 0 or a negative code");
    if (ref_get_u32(&f[4], 999, &r->status) < 0)
        REF_FAIL("status must be 0..999");
    if (ref_get_bytes(&f[5], RS__MAX_META, &r->error_msg) < 0)
        REF_FAIL("error message too long");
    if (ref_get_u32(&f[6], UINT32_MAX, &r->attempts) < 0)
        REF_FAIL("attempts must be an unsigned integer");
    if (ref_get_bytes(&f[7], 256, &r->upstream) < 0)
        REF_FAIL("upstream name too long");
    if (f[8].type != MSGPACK_OBJECT_ARRAY || f[8].via.array.size != RS__T_COUNT)
        REF_FAIL("timings must be an array of 4 integers");
    for (unsigned k = 0; k < RS__T_COUNT; k++)
        if (ref_get_u64(&f[8].via.array.ptr[k], UINT64_MAX, &r->timings[k]) < 0)
            REF_FAIL("timings must be unsigned integers");
    const char *hwhy = ref_get_headers(&f[9], &r->nheaders, r->hname, r->hvalue);
    if (hwhy)
        REF_FAIL(hwhy);
    if (ref_get_u64(&f[10], UINT64_MAX, &r->body_total) < 0)
        REF_FAIL("body_total must be an unsigned integer");
    if (ref_get_bytes(&f[11], RS__PART_BYTES, &r->part) < 0 || r->part.len > r->body_total)
        REF_FAIL("first body part is too long or longer than body_total");
    return 0;
}

static int ref_decode_chunk(const msgpack_object *f, uint32_t n, rs__chunk_rec *r, const char **why)
{
    if (n < 7)
        REF_FAIL("chunk record has too few fields");
    if (ref_get_u64(&f[3], UINT64_MAX, &r->seq) < 0 || ref_get_u64(&f[4], UINT64_MAX, &r->sidecar_ns) < 0)
        REF_FAIL("chunk seq and time must be unsigned integers");
    if (ref_get_u32(&f[5], 1, &r->more) < 0)
        REF_FAIL("chunk 'more' must be 0 or 1");
    if (ref_get_bytes(&f[6], RS__PART_BYTES, &r->data) < 0)
        REF_FAIL("chunk data must be at most 131072 bytes");
    return 0;
}

static int ref_decode_flow(const msgpack_object *f, uint32_t n, rs__flow_rec *r, const char **why)
{
    if (n < 4)
        REF_FAIL("flow record has too few fields");
    if (ref_get_u32(&f[3], 1, &r->hold) < 0)
        REF_FAIL("flow 'hold' must be 0 or 1");
    return 0;
}

static int ref_rec_decode(msgpack_zone *zone, const void *buf, size_t len, rs__rec *out,
                          uint64_t *id, const char **why)
{
    *id = 0;
    if (rs__msgpack_precheck(buf, len) < 0)
        REF_FAIL("record is not one well-formed msgpack value");

    msgpack_zone_clear(zone);
    msgpack_object root;
    size_t off = 0;
    if (msgpack_unpack(buf, len, &off, zone, &root) != MSGPACK_UNPACK_SUCCESS || off != len)
        REF_FAIL("record is not one well-formed msgpack value");
    if (root.type != MSGPACK_OBJECT_ARRAY || root.via.array.size < 3)
        REF_FAIL("record must be an array [version, kind, id, ...]");

    const msgpack_object *f = root.via.array.ptr;
    uint32_t n = root.via.array.size;
    uint64_t version, kind;
    if (ref_get_u64(&f[2], UINT64_MAX, id) < 0) {
        *id = 0;
        REF_FAIL("record id must be an unsigned integer");
    }
    if (ref_get_u64(&f[0], UINT32_MAX, &version) < 0 || version != RS__REC_VERSION)
        REF_FAIL("unsupported record version (client and sidecar versions differ)");
    if (ref_get_u64(&f[1], 255, &kind) < 0)
        REF_FAIL("unknown record kind");
    out->kind = (int)kind;
    switch (kind) {
    case RS__KIND_REQUEST:
        out->u.req.id = *id;
        return ref_decode_request(f, n, &out->u.req, why);
    case RS__KIND_BODY:
        out->u.body.id = *id;
        return ref_decode_body(f, n, &out->u.body, why);
    case RS__KIND_COMPLETION:
        out->u.comp.id = *id;
        return ref_decode_completion(f, n, &out->u.comp, why);
    case RS__KIND_CANCEL:
        return 0;
    case RS__KIND_CHUNK:
        out->u.chunk.id = *id;
        return ref_decode_chunk(f, n, &out->u.chunk, why);
    case RS__KIND_FLOW:
        out->u.flow.id = *id;
        return ref_decode_flow(f, n, &out->u.flow, why);
    default:
        REF_FAIL("unknown record kind");
    }
}

/* ======================================================== END REFERENCE */

/* Every reason the decoder can give; the generated and mutated inputs must
 * reach each of them, or the comparison left a rule untested. */
static const char *const k_reasons[] = {
    "record is not one well-formed msgpack value",
    "record must be an array [version, kind, id, ...]",
    "record id must be an unsigned integer",
    "unsupported record version (client and sidecar versions differ)",
    "unknown record kind",
    "request record has too few fields",
    "priority must be 0, 1 or 2",
    "flags must be an unsigned integer",
    "timeout_ms must be an unsigned 32-bit integer",
    "route must be a string of at most 256 bytes",
    "model must be a string of at most 256 bytes",
    "method must be a string of at most 16 bytes",
    "path must be a string starting with '/' of at most 8192 bytes",
    "headers must be a flat array of name/value pairs",
    "more than 64 headers (the limit per request)",
    "a header name or value is not a string of at most 65536 bytes",
    "a header name is empty",
    "body_total must be an unsigned integer",
    "first body part is too long or longer than body_total",
    "body record has too few fields",
    "body offset must be an unsigned integer",
    "body part must be 1..131072 bytes",
    "completion record has too few fields",
    "error must be 0 or a negative code",
    "status must be 0..999",
    "error message too long",
    "attempts must be an unsigned integer",
    "upstream name too long",
    "timings must be an array of 4 integers",
    "timings must be unsigned integers",
    "chunk record has too few fields",
    "chunk seq and time must be unsigned integers",
    "chunk 'more' must be 0 or 1",
    "chunk data must be at most 131072 bytes",
    "flow record has too few fields",
    "flow 'hold' must be 0 or 1",
};
#define NREASONS (sizeof k_reasons / sizeof k_reasons[0])

/* ------------------------------------------------------------ harness */

static msgpack_zone g_zone;
static rs__rec g_want, g_got;        /* large (header slices): not on the stack */
static uint64_t g_seed = 0x5EEDC0DE2024ull;
static uint64_t g_rng;
static const char *g_phase = "";
static unsigned long g_case;
static unsigned long g_seen[NREASONS];
static unsigned long g_accepted, g_refused;

static char g_text[RS__PART_BYTES + 2];   /* filler for str/bin payloads */
static char g_path[8194];                  /* '/' then filler */

static int group_setup(void **state)
{
    (void)state;
    const char *env = getenv("RS_DIFF_SEED");
    if (env && *env)
        g_seed = strtoull(env, NULL, 0);
    print_message("record_diff: seed %" PRIu64 " (set RS_DIFF_SEED to change)\n", g_seed);
    for (size_t i = 0; i < sizeof g_text; i++)
        g_text[i] = (char)(' ' + (i * 7 + i / 13) % 95);
    memcpy(g_path, g_text, sizeof g_path);
    g_path[0] = '/';
    return msgpack_zone_init(&g_zone, 4096) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    msgpack_zone_destroy(&g_zone);
    return 0;
}

/* splitmix64: each test reseeds from the run seed and its own salt, so a
 * failing test replays on its own */
static uint64_t rnd(void)
{
    return splitmix64(&g_rng);
}

static void start_phase(const char *phase, uint64_t salt)
{
    g_phase = phase;
    g_rng = g_seed ^ salt;
    g_case = 0;
}

static uint32_t rn(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

static bool one_in(uint32_t n)
{
    return rn(n) == 0;
}

static void dump(const uint8_t *p, size_t n)
{
    char line[3 * 32 + 1];
    size_t shown = n < 512 ? n : 512;
    print_error("input (%zu bytes%s):\n", n, shown < n ? ", first 512 shown" : "");
    for (size_t i = 0; i < shown; i += 32) {
        size_t k = 0;
        for (size_t j = i; j < shown && j < i + 32; j++)
            k += (size_t)snprintf(line + k, sizeof line - k, "%02x ", p[j]);
        print_error("  %04zx: %s\n", i, line);
    }
}

#define MISMATCH(p, n, fmt, ...) do {                                               \
        dump((p), (n));                                                             \
        fail_msg("seed %" PRIu64 " (RS_DIFF_SEED=%" PRIu64 "), phase %s, case %lu: " fmt, \
                 g_seed, g_seed, g_phase, g_case, ##__VA_ARGS__);                   \
    } while (0)

static void cmp_slice(const uint8_t *p, size_t n, const char *what, rs__slice w, rs__slice g)
{
    if (w.len != g.len)
        MISMATCH(p, n, "%s: length %u (oracle) vs %u (decoder)", what, w.len, g.len);
    if (w.len == 0)
        return;   /* nil decodes to a static "", any pointer is fine */
    if (w.ptr != g.ptr || memcmp(w.ptr, g.ptr, w.len) != 0)
        MISMATCH(p, n, "%s: slice differs (offset %td vs %td)", what,
                 (const uint8_t *)w.ptr - p, (const uint8_t *)g.ptr - p);
}

#define CMP_INT(p, n, what, a, b) do {                                              \
        if ((uint64_t)(a) != (uint64_t)(b))                                         \
            MISMATCH(p, n, "%s: %" PRIu64 " (oracle) vs %" PRIu64 " (decoder)", what, \
                     (uint64_t)(a), (uint64_t)(b));                                 \
    } while (0)

static void cmp_headers(const uint8_t *p, size_t n, uint32_t nw, const rs__slice *wn, const rs__slice *wv,
                        uint32_t ng, const rs__slice *gn, const rs__slice *gv)
{
    CMP_INT(p, n, "nheaders", nw, ng);
    for (uint32_t k = 0; k < nw; k++) {
        cmp_slice(p, n, "header name", wn[k], gn[k]);
        cmp_slice(p, n, "header value", wv[k], gv[k]);
    }
}

static void cmp_records(const uint8_t *p, size_t n, const rs__rec *w, const rs__rec *g)
{
    CMP_INT(p, n, "kind", w->kind, g->kind);
    switch (w->kind) {
    case RS__KIND_REQUEST: {
        const rs__req_rec *a = &w->u.req, *b = &g->u.req;
        CMP_INT(p, n, "req.id", a->id, b->id);
        CMP_INT(p, n, "priority", a->priority, b->priority);
        CMP_INT(p, n, "flags", a->flags, b->flags);
        CMP_INT(p, n, "timeout_ms", a->timeout_ms, b->timeout_ms);
        cmp_slice(p, n, "route", a->route, b->route);
        cmp_slice(p, n, "model", a->model, b->model);
        cmp_slice(p, n, "method", a->method, b->method);
        cmp_slice(p, n, "path", a->path, b->path);
        cmp_headers(p, n, a->nheaders, a->hname, a->hvalue, b->nheaders, b->hname, b->hvalue);
        CMP_INT(p, n, "req.body_total", a->body_total, b->body_total);
        cmp_slice(p, n, "req.part", a->part, b->part);
        break;
    }
    case RS__KIND_BODY:
        CMP_INT(p, n, "body.id", w->u.body.id, g->u.body.id);
        CMP_INT(p, n, "offset", w->u.body.offset, g->u.body.offset);
        cmp_slice(p, n, "body.part", w->u.body.part, g->u.body.part);
        break;
    case RS__KIND_COMPLETION: {
        const rs__comp_rec *a = &w->u.comp, *b = &g->u.comp;
        CMP_INT(p, n, "comp.id", a->id, b->id);
        CMP_INT(p, n, "error", (int64_t)a->error, (int64_t)b->error);
        CMP_INT(p, n, "status", a->status, b->status);
        cmp_slice(p, n, "error_msg", a->error_msg, b->error_msg);
        CMP_INT(p, n, "attempts", a->attempts, b->attempts);
        cmp_slice(p, n, "upstream", a->upstream, b->upstream);
        for (int k = 0; k < RS__T_COUNT; k++)
            CMP_INT(p, n, "timing", a->timings[k], b->timings[k]);
        cmp_headers(p, n, a->nheaders, a->hname, a->hvalue, b->nheaders, b->hname, b->hvalue);
        CMP_INT(p, n, "comp.body_total", a->body_total, b->body_total);
        cmp_slice(p, n, "comp.part", a->part, b->part);
        break;
    }
    case RS__KIND_CHUNK:
        CMP_INT(p, n, "chunk.id", w->u.chunk.id, g->u.chunk.id);
        CMP_INT(p, n, "seq", w->u.chunk.seq, g->u.chunk.seq);
        CMP_INT(p, n, "sidecar_ns", w->u.chunk.sidecar_ns, g->u.chunk.sidecar_ns);
        CMP_INT(p, n, "more", w->u.chunk.more, g->u.chunk.more);
        cmp_slice(p, n, "chunk.data", w->u.chunk.data, g->u.chunk.data);
        break;
    case RS__KIND_FLOW:
        CMP_INT(p, n, "flow.id", w->u.flow.id, g->u.flow.id);
        CMP_INT(p, n, "hold", w->u.flow.hold, g->u.flow.hold);
        break;
    default:   /* CANCEL: the id is all, compared by the caller */
        break;
    }
}

/* Run oracle and decoder on one input; returns the oracle's verdict. On
 * success g_got holds the decoded record, with slices into *copy when copy
 * is not NULL (the caller frees it), else the copy is freed here. */
static int diff_one_keep(const uint8_t *src, size_t n, uint8_t **copy)
{
    g_case++;
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    if (n)
        memcpy(p, src, n);

    /* different garbage in each, so a field one side leaves unset shows */
    memset(&g_want, 0x55, sizeof g_want);
    memset(&g_got, 0xAA, sizeof g_got);
    uint64_t id_w = 0x5555, id_g = 0xAAAA;
    const char *why_w = NULL, *why_g = NULL;
    int rc_w = ref_rec_decode(&g_zone, p, n, &g_want, &id_w, &why_w);
    int rc_g = rs__rec_decode(p, n, &g_got, &id_g, &why_g);

    if (rc_w != rc_g)
        MISMATCH(p, n, "oracle returned %d (%s), decoder %d (%s)", rc_w, rc_w ? why_w : "ok",
                 rc_g, rc_g ? (why_g ? why_g : "(no reason)") : "ok");
    CMP_INT(p, n, "reported id", id_w, id_g);
    if (rc_w != 0) {
        if (!why_g || strcmp(why_w, why_g) != 0)
            MISMATCH(p, n, "reason: oracle \"%s\", decoder \"%s\"", why_w, why_g ? why_g : "(null)");
        size_t k = 0;
        while (k < NREASONS && strcmp(k_reasons[k], why_w) != 0)
            k++;
        if (k == NREASONS)
            MISMATCH(p, n, "unlisted reason \"%s\"", why_w);
        g_seen[k]++;
        g_refused++;
    } else {
        cmp_records(p, n, &g_want, &g_got);
        g_accepted++;
    }
    if (copy)
        *copy = p;
    else
        free(p);
    return rc_w;
}

static int diff_one(const uint8_t *src, size_t n)
{
    return diff_one_keep(src, n, NULL);
}

/* -------------------------------------------- writing msgpack by hand */

typedef struct wb {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} wb;

static void wb_init(wb *w)
{
    msgpack_sbuffer_init(&w->sb);
    msgpack_packer_init(&w->pk, &w->sb, msgpack_sbuffer_write);
}

static void wb_free(wb *w)
{
    msgpack_sbuffer_destroy(&w->sb);
}

static void raw(wb *w, const void *p, size_t n)
{
    msgpack_sbuffer_write(&w->sb, p, n);
}

static void raw_byte(wb *w, uint8_t b)
{
    raw(w, &b, 1);
}

/* lead byte, then v big-endian in width bytes */
static void raw_be(wb *w, uint8_t lead, uint64_t v, unsigned width)
{
    uint8_t b[9];
    b[0] = lead;
    for (unsigned k = 0; k < width; k++)
        b[1 + k] = (uint8_t)(v >> (8 * (width - 1 - k)));
    raw(w, b, 1 + width);
}

/* A non-negative integer in a random encoding msgpack-c decodes as a
 * positive integer: fixint, uint8..64, int8..64; or msgpack-c's own pick. */
static void put_uint(wb *w, uint64_t v)
{
    uint8_t opt[10];
    int k = 0;
    if (v <= 0x7f)
        opt[k++] = 0x00;
    if (v <= 0xff)
        opt[k++] = 0xcc;
    if (v <= 0xffff)
        opt[k++] = 0xcd;
    if (v <= 0xffffffffu)
        opt[k++] = 0xce;
    opt[k++] = 0xcf;
    if (v <= 0x7f)
        opt[k++] = 0xd0;
    if (v <= 0x7fff)
        opt[k++] = 0xd1;
    if (v <= 0x7fffffff)
        opt[k++] = 0xd2;
    if (v <= INT64_MAX)
        opt[k++] = 0xd3;
    if (one_in(3)) {
        msgpack_pack_uint64(&w->pk, v);
        return;
    }
    uint8_t c = opt[rn((uint32_t)k)];
    if (c == 0x00)
        raw_byte(w, (uint8_t)v);
    else
        raw_be(w, c, v, 1u << (c & 3));
}

/* A negative integer in a random encoding that holds it. */
static void put_neg(wb *w, int64_t v)
{
    uint8_t opt[5];
    int k = 0;
    if (v >= -32)
        opt[k++] = 0xe0;
    if (v >= INT8_MIN)
        opt[k++] = 0xd0;
    if (v >= INT16_MIN)
        opt[k++] = 0xd1;
    if (v >= INT32_MIN)
        opt[k++] = 0xd2;
    opt[k++] = 0xd3;
    uint8_t c = opt[rn((uint32_t)k)];
    if (c == 0xe0)
        raw_byte(w, (uint8_t)v);
    else
        raw_be(w, c, (uint64_t)v, 1u << (c & 3));
}

static uint64_t rand_u64(void)
{
    static const uint64_t edge[] = {
        0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff,
        0x80000000u, 0xffffffffu, 0x100000000ull, INT64_MAX, (uint64_t)INT64_MAX + 1, UINT64_MAX,
    };
    switch (rn(4)) {
    case 0: return edge[rn(sizeof edge / sizeof edge[0])];
    case 1: return rn(200);
    case 2: return rnd() >> rn(64);
    default: return rnd();
    }
}

static int64_t rand_neg(void)
{
    static const int64_t edge[] = {
        -1, -32, -33, -128, -129, -32768, -32769, INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MIN,
    };
    if (one_in(2))
        return edge[rn(sizeof edge / sizeof edge[0])];
    return -(int64_t)(rnd() >> (1 + rn(63))) - 1;
}

/* a value in 0..max, often at the edges */
static uint64_t pick_le(uint64_t max)
{
    switch (rn(5)) {
    case 0: return 0;
    case 1: return max;
    case 2: return max ? max - 1 : 0;
    default: {
        uint64_t v = rand_u64();
        return max == UINT64_MAX ? v : v % (max + 1);
    }
    }
}

/* bytes in a random legal header: str as fixstr/str8/16/32, bin as
 * bin8/16/32 (msgpack-c's packer only ever picks the smallest) */
static void put_bytes_as(wb *w, const char *s, uint32_t len, bool bin)
{
    uint8_t opt[4];
    int k = 0;
    if (!bin) {
        if (len <= 31)
            opt[k++] = 0xa0;
        if (len <= 0xff)
            opt[k++] = 0xd9;
        if (len <= 0xffff)
            opt[k++] = 0xda;
        opt[k++] = 0xdb;
    } else {
        if (len <= 0xff)
            opt[k++] = 0xc4;
        if (len <= 0xffff)
            opt[k++] = 0xc5;
        opt[k++] = 0xc6;
    }
    uint8_t c = opt[rn((uint32_t)k)];
    if (c == 0xa0)
        raw_byte(w, (uint8_t)(0xa0 | len));
    else
        raw_be(w, c, len, c == 0xd9 || c == 0xc4 ? 1 : c == 0xda || c == 0xc5 ? 2 : 4);
    if (len)
        raw(w, s, len);
}

/* str, bin, or (when empty, sometimes) nil */
static void put_bytes(wb *w, const char *s, uint32_t len)
{
    if (len == 0 && one_in(3))
        msgpack_pack_nil(&w->pk);
    else
        put_bytes_as(w, s, len, one_in(2));
}

static void put_count(wb *w, uint32_t n, uint8_t fix, uint8_t c16)
{
    uint32_t pick = rn(3);
    if (n <= 15 && pick == 0)
        raw_byte(w, (uint8_t)(fix | n));
    else if (n <= 0xffff && pick <= 1)
        raw_be(w, c16, n, 2);
    else
        raw_be(w, (uint8_t)(c16 + 1), n, 4);
}

static void put_array(wb *w, uint32_t n)
{
    put_count(w, n, 0x90, 0xdc);
}

static void put_map(wb *w, uint32_t n)
{
    put_count(w, n, 0x80, 0xde);
}

static void put_ext(wb *w)
{
    static const uint32_t lens[] = { 1, 2, 4, 8, 16, 0, 3, 20, 300 };
    uint32_t len = lens[rn(sizeof lens / sizeof lens[0])];
    msgpack_pack_ext(&w->pk, len, (int8_t)rn(128));
    msgpack_pack_ext_body(&w->pk, g_text, len);
}

/* Any msgpack value: what a newer writer might append. */
static void put_any(wb *w, int depth)
{
    switch (rn(depth < 4 ? 15 : 11)) {
    case 0: msgpack_pack_nil(&w->pk); break;
    case 1: msgpack_pack_true(&w->pk); break;
    case 2: msgpack_pack_false(&w->pk); break;
    case 3: put_uint(w, rand_u64()); break;
    case 4: put_neg(w, rand_neg()); break;
    case 5: msgpack_pack_float(&w->pk, 1.5f); break;
    case 6: msgpack_pack_double(&w->pk, -2.25); break;
    case 7: put_bytes_as(w, g_text, rn(40), false); break;
    case 8: put_bytes_as(w, g_text, rn(40), true); break;
    case 9: put_ext(w); break;
    case 10:
        if (one_in(2))
            put_array(w, 0);
        else
            put_map(w, 0);
        break;
    case 11: case 12: {
        uint32_t n = rn(5);
        put_array(w, n);
        for (uint32_t k = 0; k < n; k++)
            put_any(w, depth + 1);
        break;
    }
    default: {
        uint32_t n = rn(4);
        put_map(w, n);
        for (uint32_t k = 0; k < 2 * n; k++)
            put_any(w, depth + 1);
        break;
    }
    }
}

/* d containers nested in one another around a scalar: probes the depth
 * limit (the root is one level, so d = 14 fits and 15 does not) */
static void put_nested(wb *w, uint32_t d)
{
    for (uint32_t k = 0; k < d; k++) {
        if (one_in(2)) {
            put_array(w, 1);
        } else {
            put_map(w, 1);
            put_uint(w, k);
        }
    }
    put_uint(w, 7);
}

/* A value of the wrong type: for an integer field (int_field) anything but
 * an integer, for a bytes field anything but str/bin/nil. */
static void put_wrong(wb *w, bool int_field)
{
    for (;;) {
        switch (rn(10)) {
        case 0: if (int_field) { msgpack_pack_nil(&w->pk); return; } break;
        case 1: msgpack_pack_true(&w->pk); return;
        case 2: msgpack_pack_double(&w->pk, 1.0); return;
        case 3: if (int_field) { put_bytes_as(w, "12", 2, false); return; } break;
        case 4: if (int_field) { put_bytes_as(w, "12", 2, true); return; } break;
        case 5: put_array(w, 0); return;
        case 6: put_map(w, 0); return;
        case 7: put_ext(w); return;
        case 8: if (!int_field) { put_uint(w, rand_u64()); return; } break;
        default: put_array(w, 1); put_uint(w, 1); return;
        }
    }
}

/* ------------------------------------------- generated record fields */

typedef struct gen {
    bool bad;            /* this field is to break a rule */
    uint32_t chunk_len;  /* decided before body_total, which precedes the chunk */
    uint64_t body_total;
} gen;

static void gen_uint(wb *w, uint64_t max, bool bad)
{
    if (!bad) {
        put_uint(w, pick_le(max));
        return;
    }
    switch (rn(3)) {
    case 0:
        if (max < UINT64_MAX) {
            uint64_t over = one_in(2) ? 1 : 1 + rnd() % (UINT64_MAX - max);
            put_uint(w, max + over);
            return;
        }
        /* fall through */
    case 1:
        put_neg(w, rand_neg());
        return;
    default:
        put_wrong(w, true);
        return;
    }
}

/* a length in 0..max: mostly short, sometimes at the limit */
static uint32_t pick_len(uint32_t max)
{
    if (one_in(max > 8192 ? 400 : 30))
        return max;
    uint32_t cap = max < 40 ? max : 40;
    return rn(cap + 1);
}

static void gen_bytes(wb *w, uint32_t max, bool bad)
{
    if (!bad) {
        put_bytes(w, g_text, pick_len(max));
        return;
    }
    if (one_in(max > 8192 ? 40 : 3))
        put_bytes_as(w, g_text, max + 1, one_in(2));
    else
        put_wrong(w, false);
}

static void gen_path(wb *w, bool bad)
{
    if (!bad) {
        uint32_t len = one_in(40) ? 8192 : 1 + rn(40);
        put_bytes_as(w, g_path, len, one_in(4));
        return;
    }
    switch (rn(5)) {
    case 0: put_bytes(w, g_path, 0); break;                       /* empty or nil */
    case 1: put_bytes_as(w, g_text + 1, 1 + rn(20), false); break; /* no '/' */
    case 2: put_bytes_as(w, g_path, 8193, false); break;
    default: put_wrong(w, false); break;
    }
}

static void gen_headers(wb *w, bool bad)
{
    uint32_t np = one_in(10) ? RS__MAX_HEADERS - rn(3) : rn(6);
    uint32_t count = 2 * np;
    int broken = -1;   /* element made bad */
    if (bad) {
        switch (rn(5)) {
        case 0:
            count = 2 * np + 1;                                  /* odd */
            break;
        case 1:
            count = 2 * (RS__MAX_HEADERS + 1 + rn(3));           /* too many */
            break;
        case 2:
            if (one_in(3)) {
                put_wrong(w, false);                             /* not an array */
            } else {
                put_map(w, 1);                                   /* a map of them */
                put_bytes_as(w, "a", 1, false);
                put_bytes_as(w, "b", 1, false);
            }
            return;
        default:
            if (count == 0)
                count = 2 * (1 + rn(3));
            broken = (int)rn(count);
            break;
        }
    }
    put_array(w, count);
    for (uint32_t k = 0; k < count; k++) {
        bool name = k % 2 == 0;
        if ((int)k == broken) {
            if (name && one_in(2))
                put_bytes(w, "", 0);                             /* empty name */
            else
                put_wrong(w, false);
        } else if (name) {
            put_bytes_as(w, g_text + k, 1 + rn(12), one_in(4));
        } else {
            put_bytes(w, g_text + k, rn(20));
        }
    }
}

/* body_total then chunk, kept consistent unless one of them is bad */
static void gen_body_total(wb *w, gen *g, bool bad)
{
    g->chunk_len = pick_len(RS__PART_BYTES);
    if (bad && g->chunk_len > 0 && one_in(2)) {
        g->body_total = rn(g->chunk_len);   /* shorter than the chunk */
        put_uint(w, g->body_total);
        return;
    }
    if (bad) {
        gen_uint(w, UINT64_MAX, true);
        g->body_total = UINT64_MAX;
        return;
    }
    switch (rn(3)) {
    case 0: g->body_total = g->chunk_len; break;
    case 1: g->body_total = UINT64_MAX; break;
    default: g->body_total = g->chunk_len + rn(1000000); break;
    }
    put_uint(w, g->body_total);
}

static void gen_first_part(wb *w, gen *g, bool bad)
{
    if (!bad) {
        put_bytes(w, g_text, g->chunk_len);
        return;
    }
    if (g->body_total < 1000 && one_in(2))
        put_bytes_as(w, g_text, (uint32_t)g->body_total + 1, one_in(2));
    else if (one_in(50))
        put_bytes_as(w, g_text, RS__PART_BYTES + 1, true);
    else
        put_wrong(w, false);
}

static void gen_error(wb *w, bool bad)
{
    if (!bad) {
        if (one_in(3)) {
            put_uint(w, 0);
        } else {
            int64_t v = rand_neg();
            if (v < INT32_MIN)
                v = INT32_MIN;
            put_neg(w, v);
        }
        return;
    }
    switch (rn(3)) {
    case 0: put_uint(w, 1 + rand_u64() % 1000); break;
    case 1: put_neg(w, (int64_t)INT32_MIN - 1 - (int64_t)(rnd() >> 2)); break;
    default: put_wrong(w, true); break;
    }
}

static void gen_timings(wb *w, bool bad)
{
    uint32_t n = RS__T_COUNT;
    int broken = -1;
    if (bad) {
        switch (rn(3)) {
        case 0: n = one_in(2) ? RS__T_COUNT - 1 - rn(3) : RS__T_COUNT + 1 + rn(3); break;
        case 1: put_wrong(w, false); return;
        default: broken = (int)rn(RS__T_COUNT); break;
        }
    }
    put_array(w, n);
    for (uint32_t k = 0; k < n; k++) {
        if ((int)k == broken)
            gen_uint(w, UINT64_MAX, true);
        else
            put_uint(w, rand_u64());
    }
}

static uint32_t schema_fields(int kind)
{
    switch (kind) {
    case RS__KIND_REQUEST: return 13;
    case RS__KIND_BODY: return 5;
    case RS__KIND_COMPLETION: return 12;
    case RS__KIND_CANCEL: return 3;
    case RS__KIND_FLOW: return 4;
    default: return 7;
    }
}

/* field k (>= 3) of a kind, bad or not */
static void gen_field(wb *w, int kind, uint32_t k, gen *g)
{
    bool bad = g->bad;
    switch (kind) {
    case RS__KIND_REQUEST:
        switch (k) {
        case 3: gen_uint(w, 2, bad); break;
        case 4: gen_uint(w, UINT32_MAX, bad); break;
        case 5: gen_uint(w, UINT32_MAX, bad); break;
        case 6: gen_bytes(w, 256, bad); break;
        case 7: gen_bytes(w, 256, bad); break;
        case 8: gen_bytes(w, 16, bad); break;
        case 9: gen_path(w, bad); break;
        case 10: gen_headers(w, bad); break;
        case 11: gen_body_total(w, g, bad); break;
        default: gen_first_part(w, g, bad); break;
        }
        break;
    case RS__KIND_BODY:
        if (k == 3) {
            gen_uint(w, UINT64_MAX, bad);
        } else if (!bad) {
            put_bytes_as(w, g_text, 1 + pick_len(RS__PART_BYTES - 1), one_in(4) == 0);
        } else if (one_in(2)) {
            put_bytes(w, "", 0);   /* empty: str, bin or nil */
        } else {
            gen_bytes(w, RS__PART_BYTES, true);
        }
        break;
    case RS__KIND_COMPLETION:
        switch (k) {
        case 3: gen_error(w, bad); break;
        case 4: gen_uint(w, 999, bad); break;
        case 5: gen_bytes(w, RS__MAX_META, bad); break;
        case 6: gen_uint(w, UINT32_MAX, bad); break;
        case 7: gen_bytes(w, 256, bad); break;
        case 8: gen_timings(w, bad); break;
        case 9: gen_headers(w, bad); break;
        case 10: gen_body_total(w, g, bad); break;
        default: gen_first_part(w, g, bad); break;
        }
        break;
    case RS__KIND_FLOW:
        gen_uint(w, 1, bad);
        break;
    default:   /* CHUNK */
        switch (k) {
        case 3: case 4: gen_uint(w, UINT64_MAX, bad); break;
        case 5: gen_uint(w, 1, bad); break;
        default: gen_bytes(w, RS__PART_BYTES, bad); break;
        }
        break;
    }
}

enum { BAD_NONE = -1, BAD_COUNT = -2, BAD_ROOT = -3 };

/* A record of `kind`. bad: BAD_NONE, a field index to break, BAD_COUNT (too
 * few fields) or BAD_ROOT (not an array of 3+). Extra trailing fields are
 * appended when the count allows. */
static void gen_record(wb *w, int kind, int bad)
{
    uint32_t ns = schema_fields(kind), n = ns;
    if (bad == BAD_ROOT) {
        if (one_in(2)) {
            n = rn(3);
        } else {
            put_any(w, 3);
            if (one_in(2))
                return;
            /* a map shaped like a record head */
            put_map(w, 2);
            put_uint(w, 1);
            put_uint(w, (uint64_t)kind);
            put_uint(w, 2);
            put_uint(w, 77);
            return;
        }
    } else if (bad == BAD_COUNT) {
        if (ns <= 3)
            bad = BAD_NONE;
        else
            n = 3 + rn(ns - 3);
    }
    uint32_t extra = 0;
    if (n == ns && one_in(3))
        extra = 1 + rn(one_in(20) ? 40 : 3);
    put_array(w, n + extra);

    gen g = { 0 };
    for (uint32_t k = 0; k < n; k++) {
        g.bad = (int)k == bad;
        if (k <= 2 && g.bad) {
            if (k < 2 && one_in(2))        /* a version or kind out of range */
                put_uint(w, one_in(2) ? 0 : (k == 0 ? 2 : 7) + rand_u64() % 1000);
            else if (one_in(3))
                put_neg(w, rand_neg());
            else
                put_wrong(w, true);
        } else if (k == 0) {
            put_uint(w, RS__REC_VERSION);
        } else if (k == 1) {
            put_uint(w, (uint64_t)kind);
        } else if (k == 2) {
            put_uint(w, rand_u64());
        } else {
            gen_field(w, kind, k, &g);
        }
    }
    for (uint32_t k = 0; k < extra; k++) {
        if (one_in(10))
            put_nested(w, 10 + rn(8));
        else
            put_any(w, 1);
    }
}

static int rand_kind(void)
{
    return 1 + (int)rn(6);
}

/* ------------------------------------------ (a) library round trips */

static rs__req_rec g_req;
static rs__comp_rec g_comp;

static rs__slice rand_slice(const char *base, uint32_t max)
{
    rs__slice s = { base + rn(64), pick_len(max) };
    return s;
}

static void rand_headers(uint32_t *n, rs__slice *names, rs__slice *values)
{
    *n = one_in(8) ? RS__MAX_HEADERS : rn(8);
    for (uint32_t k = 0; k < *n; k++) {
        names[k] = (rs__slice){ g_text + rn(500), 1 + rn(24) };
        values[k] = (rs__slice){ g_text + rn(500), rn(40) };
    }
}

static uint32_t rand_chunk(rs__slice *chunk, uint64_t *total)
{
    uint32_t len = one_in(200) ? RS__PART_BYTES : rn(300);
    chunk->ptr = one_in(10) && len == 0 ? NULL : g_text;
    chunk->len = len;
    *total = len + (one_in(2) ? 0 : rand_u64() % 1000000);
    return len;
}

static void check_slice_is(const uint8_t *p, size_t n, const char *what, rs__slice got, rs__slice want)
{
    if (got.len != want.len || (want.len && memcmp(got.ptr, want.ptr, want.len) != 0))
        MISMATCH(p, n, "round trip: %s differs", what);
}

/* Pack rec with fn through msgpack-c's sbuffer; the specialised encoders
 * (rs__pack_into, rs__packed_size) must produce the same bytes and size,
 * and rs__pack_into must refuse every smaller buffer. Returns the bytes. */
static uint8_t *pack_and_check(rs__pack_fn fn, const void *rec, size_t *len)
{
    /* a completion may carry a full error message and a full chunk, so
     * a generated record can exceed RS__MAX_RECORD */
    static uint8_t out[2 * RS__MAX_RECORD];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    fn(&pk, rec);
    const uint8_t *p = (const uint8_t *)sb.data;
    size_t n = sb.size;

    size_t sz = rs__packed_size(fn, rec);
    if (sz != n)
        MISMATCH(p, n, "rs__packed_size %zu, msgpack-c packed %zu bytes", sz, n);
    memset(out, 0xEE, n + 16);
    size_t got = rs__pack_into(fn, rec, out, sizeof out);
    if (got != n || memcmp(out, p, n) != 0)
        MISMATCH(p, n, "rs__pack_into wrote %zu bytes, not msgpack-c's %zu", got, n);
    if (out[n] != 0xEE)
        MISMATCH(p, n, "rs__pack_into wrote past the packed size");
    got = rs__pack_into(fn, rec, out, n);
    if (got != n || memcmp(out, p, n) != 0)
        MISMATCH(p, n, "rs__pack_into with an exact-size buffer: %zu", got);
    size_t small = n - 1 - rn((uint32_t)n);   /* 0..n-1 */
    memset(out, 0xEE, n + 16);
    got = rs__pack_into(fn, rec, out, small);
    if (got != 0)
        MISMATCH(p, n, "rs__pack_into into %zu bytes returned %zu, want 0", small, got);
    for (size_t i = small; i < small + 16; i++)
        if (out[i] != 0xEE)
            MISMATCH(p, n, "rs__pack_into wrote past cap %zu", small);

    uint8_t *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, p, n);
    msgpack_sbuffer_destroy(&sb);
    *len = n;
    return copy;
}

static void round_trip_request(void)
{
    rs__req_rec *r = &g_req;
    r->id = rand_u64();
    r->priority = rn(3);
    r->flags = (uint32_t)rand_u64();
    r->timeout_ms = (uint32_t)rand_u64();
    r->route = rand_slice(g_text, 256);
    r->model = rand_slice(g_text, 256);
    r->method = rand_slice(g_text, 16);
    r->path = (rs__slice){ g_path, 1 + pick_len(8191) };
    rand_headers(&r->nheaders, r->hname, r->hvalue);
    rand_chunk(&r->part, &r->body_total);

    size_t n;
    uint8_t *b = pack_and_check(rs__pack_request, r, &n), *copy;
    if (diff_one_keep(b, n, &copy) != 0)
        MISMATCH(b, n, "a packed request was refused");
    const rs__req_rec *q = &g_got.u.req;
    CMP_INT(b, n, "round trip id", r->id, q->id);
    CMP_INT(b, n, "round trip priority", r->priority, q->priority);
    CMP_INT(b, n, "round trip flags", r->flags, q->flags);
    CMP_INT(b, n, "round trip timeout", r->timeout_ms, q->timeout_ms);
    check_slice_is(b, n, "route", q->route, r->route);
    check_slice_is(b, n, "model", q->model, r->model);
    check_slice_is(b, n, "method", q->method, r->method);
    check_slice_is(b, n, "path", q->path, r->path);
    CMP_INT(b, n, "round trip nheaders", r->nheaders, q->nheaders);
    for (uint32_t k = 0; k < r->nheaders; k++) {
        check_slice_is(b, n, "header name", q->hname[k], r->hname[k]);
        check_slice_is(b, n, "header value", q->hvalue[k], r->hvalue[k]);
    }
    CMP_INT(b, n, "round trip body_total", r->body_total, q->body_total);
    check_slice_is(b, n, "chunk", q->part, r->part);
    free(copy);
    free(b);
}

static void round_trip_completion(void)
{
    rs__comp_rec *r = &g_comp;
    r->id = rand_u64();
    r->error = one_in(3) ? 0 : (int32_t)(rand_neg() | (int64_t)INT32_MIN);
    r->status = rn(1000);
    r->error_msg = rand_slice(g_text, RS__MAX_META);
    r->attempts = (uint32_t)rand_u64();
    r->upstream = rand_slice(g_text, 256);
    for (int k = 0; k < RS__T_COUNT; k++)
        r->timings[k] = rand_u64();
    rand_headers(&r->nheaders, r->hname, r->hvalue);
    rand_chunk(&r->part, &r->body_total);

    size_t n;
    uint8_t *b = pack_and_check(rs__pack_completion, r, &n), *copy;
    if (diff_one_keep(b, n, &copy) != 0)
        MISMATCH(b, n, "a packed completion was refused");
    const rs__comp_rec *q = &g_got.u.comp;
    CMP_INT(b, n, "round trip id", r->id, q->id);
    CMP_INT(b, n, "round trip error", (int64_t)r->error, (int64_t)q->error);
    CMP_INT(b, n, "round trip status", r->status, q->status);
    check_slice_is(b, n, "error_msg", q->error_msg, r->error_msg);
    CMP_INT(b, n, "round trip attempts", r->attempts, q->attempts);
    check_slice_is(b, n, "upstream", q->upstream, r->upstream);
    for (int k = 0; k < RS__T_COUNT; k++)
        CMP_INT(b, n, "round trip timing", r->timings[k], q->timings[k]);
    CMP_INT(b, n, "round trip nheaders", r->nheaders, q->nheaders);
    for (uint32_t k = 0; k < r->nheaders; k++) {
        check_slice_is(b, n, "header name", q->hname[k], r->hname[k]);
        check_slice_is(b, n, "header value", q->hvalue[k], r->hvalue[k]);
    }
    CMP_INT(b, n, "round trip body_total", r->body_total, q->body_total);
    check_slice_is(b, n, "chunk", q->part, r->part);
    free(copy);
    free(b);
}

static void round_trip_small_kinds(void)
{
    size_t n;
    uint8_t *b, *copy;

    rs__body_rec body = { .id = rand_u64(), .offset = rand_u64() };
    body.part = (rs__slice){ g_text, 1 + (one_in(100) ? RS__PART_BYTES - 1 : rn(500)) };
    b = pack_and_check(rs__pack_body, &body, &n);
    if (diff_one_keep(b, n, &copy) != 0)
        MISMATCH(b, n, "a packed body record was refused");
    CMP_INT(b, n, "body id", body.id, g_got.u.body.id);
    CMP_INT(b, n, "body offset", body.offset, g_got.u.body.offset);
    check_slice_is(b, n, "body part", g_got.u.body.part, body.part);
    free(copy);
    free(b);

    uint64_t cancel = rand_u64(), id;
    const char *why;
    b = pack_and_check(rs__pack_cancel, &cancel, &n);
    if (diff_one(b, n) != 0 || rs__rec_decode(b, n, &g_got, &id, &why) != 0 || id != cancel)
        MISMATCH(b, n, "a packed cancel did not decode to its id");
    free(b);

    rs__chunk_rec ch = { .id = rand_u64(), .seq = rand_u64(), .sidecar_ns = rand_u64(), .more = rn(2) };
    ch.data = (rs__slice){ one_in(10) ? NULL : g_text, 0 };
    if (ch.data.ptr)
        ch.data.len = rn(600);
    b = pack_and_check(rs__pack_chunk, &ch, &n);
    if (diff_one_keep(b, n, &copy) != 0)
        MISMATCH(b, n, "a packed chunk record was refused");
    CMP_INT(b, n, "chunk id", ch.id, g_got.u.chunk.id);
    CMP_INT(b, n, "chunk seq", ch.seq, g_got.u.chunk.seq);
    CMP_INT(b, n, "chunk ns", ch.sidecar_ns, g_got.u.chunk.sidecar_ns);
    CMP_INT(b, n, "chunk more", ch.more, g_got.u.chunk.more);
    check_slice_is(b, n, "chunk data", g_got.u.chunk.data, ch.data);
    free(copy);
    free(b);

    rs__flow_rec fl = { .id = rand_u64(), .hold = rn(2) };
    b = pack_and_check(rs__pack_flow, &fl, &n);
    if (diff_one(b, n) != 0 || rs__rec_decode(b, n, &g_got, &id, &why) != 0)
        MISMATCH(b, n, "a packed flow record was refused");
    CMP_INT(b, n, "flow id", fl.id, g_got.u.flow.id);
    CMP_INT(b, n, "flow hold", fl.hold, g_got.u.flow.hold);
    free(b);
}

static void test_library_round_trips_and_encoders(void **state)
{
    (void)state;
    start_phase("library round trips", 0xA1);
    for (int i = 0; i < 4000; i++) {
        round_trip_request();
        round_trip_completion();
        round_trip_small_kinds();
    }
}

/* ------------------------------------- (a) generated valid records */

static void test_generated_valid_records(void **state)
{
    (void)state;
    start_phase("generated valid", 0xA2);
    unsigned long before = g_accepted;
    for (int i = 0; i < 30000; i++) {
        wb w;
        wb_init(&w);
        gen_record(&w, rand_kind(), BAD_NONE);
        /* valid unless the extras nest too deep, which both must refuse */
        diff_one((const uint8_t *)w.sb.data, w.sb.size);
        wb_free(&w);
    }
    print_message("generated valid: %lu accepted of 30000\n", g_accepted - before);
    assert_true(g_accepted - before > 25000);
}

/* Extra fields nested around the depth limit, deterministically. */
static void test_extra_field_depth_limit(void **state)
{
    (void)state;
    start_phase("depth limit", 0xA3);
    for (int kind = RS__KIND_REQUEST; kind <= RS__KIND_FLOW; kind++) {
        for (uint32_t d = 0; d <= 20; d++) {
            wb w;
            wb_init(&w);
            uint32_t ns = schema_fields(kind);
            put_array(&w, ns + 1);
            gen g = { 0 };
            put_uint(&w, RS__REC_VERSION);
            put_uint(&w, (uint64_t)kind);
            put_uint(&w, 1000 + d);
            for (uint32_t k = 3; k < ns; k++)
                gen_field(&w, kind, k, &g);
            put_nested(&w, d);
            int rc = diff_one((const uint8_t *)w.sb.data, w.sb.size);
            /* the root is level 0, the extra field level 1: 14 nested
             * non-empty containers reach level 15 and fit, 15 do not */
            if ((rc == 0) != (d <= 14))
                MISMATCH((const uint8_t *)w.sb.data, w.sb.size, "depth %u: oracle rc %d", d, rc);
            wb_free(&w);
        }
    }
}

/* ---------------------------------------- generated broken records */

static void test_generated_broken_records(void **state)
{
    (void)state;
    start_phase("generated broken", 0xA4);
    for (int i = 0; i < 40000; i++) {
        int kind = rand_kind();
        int bad;
        switch (rn(12)) {
        case 0: bad = BAD_ROOT; break;
        case 1: bad = BAD_COUNT; break;
        default: bad = (int)rn(schema_fields(kind)); break;
        }
        wb w;
        wb_init(&w);
        gen_record(&w, kind, bad);
        diff_one((const uint8_t *)w.sb.data, w.sb.size);
        wb_free(&w);
    }
}

/* ------------------------------------------------- (b) mutations */

/* Offsets of the heads that carry a length or count, found by walking a
 * well-formed buffer. */
static void find_heads(const uint8_t *p, size_t n, size_t *i, size_t *heads, size_t *nh, size_t max, int depth)
{
    if (depth > 20)
        *i = n;   /* stop the walk: the callers' loops end when *i reaches n */
    if (*i >= n)
        return;
    size_t at = (*i)++;
    uint8_t b = p[at];
    uint64_t len = 0, children = 0;
    bool counted = false;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        return;
    } else if (b <= 0x8f) {
        children = 2u * (b & 0x0f);
        counted = true;
    } else if (b <= 0x9f) {
        children = b & 0x0f;
        counted = true;
    } else if (b <= 0xbf) {
        len = b & 0x1f;
        counted = true;
    } else {
        unsigned lb = 0;
        uint64_t extra = 0;
        switch (b) {
        case 0xc4: case 0xd9: case 0xc7: lb = 1; break;
        case 0xc5: case 0xda: case 0xc8: case 0xdc: case 0xde: lb = 2; break;
        case 0xc6: case 0xdb: case 0xc9: case 0xdd: case 0xdf: lb = 4; break;
        case 0xca: extra = 4; break;
        case 0xcb: extra = 8; break;
        case 0xcc: case 0xd0: extra = 1; break;
        case 0xcd: case 0xd1: extra = 2; break;
        case 0xce: case 0xd2: extra = 4; break;
        case 0xcf: case 0xd3: extra = 8; break;
        case 0xd4: extra = 2; break;
        case 0xd5: extra = 3; break;
        case 0xd6: extra = 5; break;
        case 0xd7: extra = 9; break;
        case 0xd8: extra = 17; break;
        default: *i = n; return;
        }
        if (lb) {
            if (n - *i < lb) {
                *i = n;
                return;
            }
            uint64_t v = 0;
            for (unsigned k = 0; k < lb; k++)
                v = (v << 8) | p[*i + k];
            *i += lb;
            counted = true;
            if (b == 0xdc || b == 0xdd)
                children = v;
            else if (b == 0xde || b == 0xdf)
                children = 2 * v;
            else
                len = v + (b >= 0xc7 && b <= 0xc9 ? 1 : 0);
        } else {
            len = extra;
        }
    }
    if (counted && *nh < max)
        heads[(*nh)++] = at;
    if (len > n - *i) {
        *i = n;
        return;
    }
    *i += len;
    for (uint64_t k = 0; k < children && *i < n; k++)
        find_heads(p, n, i, heads, nh, max, depth + 1);
}

/* Rewrite the length or count at head h: by one or two either way, to 0,
 * to the largest its width holds, or to anything. */
static void edit_length(uint8_t *p, size_t n, size_t h)
{
    uint8_t b = p[h];
    unsigned width;
    size_t at = h + 1;
    if ((b >= 0x80 && b <= 0x9f) || (b >= 0xa0 && b <= 0xbf)) {
        uint8_t mask = b <= 0x9f ? 0x0f : 0x1f;
        p[h] = (uint8_t)((b & ~mask) | (((b & mask) + (uint8_t)rnd()) & mask));
        return;
    }
    switch (b) {
    case 0xc4: case 0xd9: case 0xc7: width = 1; break;
    case 0xc5: case 0xda: case 0xc8: case 0xdc: case 0xde: width = 2; break;
    default: width = 4; break;
    }
    if (at + width > n)
        return;
    uint64_t v = 0;
    for (unsigned k = 0; k < width; k++)
        v = (v << 8) | p[at + k];
    uint64_t maxv = width == 1 ? 0xff : width == 2 ? 0xffff : 0xffffffffu;
    switch (rn(7)) {
    case 0: v++; break;
    case 1: v--; break;
    case 2: v += 2; break;
    case 3: v -= 2; break;
    case 4: v = 0; break;
    case 5: v = maxv; break;
    default: v = rnd(); break;
    }
    v &= maxv;
    for (unsigned k = 0; k < width; k++)
        p[at + k] = (uint8_t)(v >> (8 * (width - 1 - k)));
}

static const uint8_t k_special[] = {
    0x00, 0x01, 0x02, 0x05, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x93, 0x9f, 0xa0, 0xa1, 0xbf,
    0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
    0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
};

/* One mutation of src[0..n) into out (capacity cap); returns the new size. */
static size_t mutate(const uint8_t *src, size_t n, uint8_t *out, size_t cap)
{
    size_t m = n < cap ? n : cap;
    memcpy(out, src, m);
    if (m == 0)
        return 0;
    switch (rn(8)) {
    case 0: case 1: {             /* 1..3 bytes changed */
        uint32_t k = 1 + rn(3);
        while (k--) {
            size_t at = rn((uint32_t)m);
            out[at] = one_in(2) ? k_special[rn(sizeof k_special)] : (uint8_t)rnd();
        }
        return m;
    }
    case 2:                       /* a bit flipped */
        out[rn((uint32_t)m)] ^= (uint8_t)(1u << rn(8));
        return m;
    case 3:                       /* truncated */
        return rn((uint32_t)m);
    case 4: {                     /* bytes inserted */
        uint32_t k = 1 + rn(4);
        if (m + k > cap)
            return m;
        size_t at = rn((uint32_t)m + 1);
        memmove(out + at + k, out + at, m - at);
        for (uint32_t j = 0; j < k; j++)
            out[at + j] = one_in(2) ? k_special[rn(sizeof k_special)] : (uint8_t)rnd();
        return m + k;
    }
    case 5: {                     /* bytes deleted */
        uint32_t k = 1 + rn(4);
        if (k > m)
            k = (uint32_t)m;
        size_t at = rn((uint32_t)(m - k) + 1);
        memmove(out + at, out + at + k, m - at - k);
        return m - k;
    }
    default: {                    /* a length or count edited */
        size_t heads[512], nh = 0, i = 0;
        find_heads(out, m, &i, heads, &nh, 512, 0);
        if (nh == 0) {
            out[rn((uint32_t)m)] = (uint8_t)rnd();
            return m;
        }
        uint32_t k = one_in(4) ? 2 : 1;
        while (k--)
            edit_length(out, m, heads[rn((uint32_t)nh)]);
        return m;
    }
    }
}

static void test_mutated_records(void **state)
{
    (void)state;
    start_phase("mutations", 0xB1);
    enum { CAP = 24 * 1024 };
    uint8_t *out = malloc(CAP);
    assert_non_null(out);
    unsigned long acc0 = g_accepted, ref0 = g_refused;
    int done = 0;
    while (done < 210000) {
        /* a base record: valid most of the time, broken otherwise */
        wb w;
        wb_init(&w);
        int kind = rand_kind();
        int bad = one_in(4) ? (int)rn(schema_fields(kind)) : BAD_NONE;
        gen_record(&w, kind, bad);
        const uint8_t *base = (const uint8_t *)w.sb.data;
        size_t n = w.sb.size;
        if (n > CAP - 64) {   /* a boundary-length field: diff it, do not mutate it */
            diff_one(base, n);
            wb_free(&w);
            continue;
        }
        for (int k = 0; k < 30; k++, done++) {
            size_t m = mutate(base, n, out, CAP);
            /* sometimes a second mutation on top */
            if (one_in(4) && m > 0) {
                static uint8_t tmp[CAP];
                memcpy(tmp, out, m);
                m = mutate(tmp, m, out, CAP);
            }
            diff_one(out, m);
        }
        wb_free(&w);
    }
    free(out);
    print_message("mutations: %lu accepted, %lu refused\n", g_accepted - acc0, g_refused - ref0);
    /* both outcomes in bulk, or the mutations tested little */
    assert_true(g_accepted - acc0 > 20000);
    assert_true(g_refused - ref0 > 100000);
}

static void test_random_bytes(void **state)
{
    (void)state;
    start_phase("random bytes", 0xB2);
    uint8_t p[300];
    for (int i = 0; i < 60000; i++) {
        size_t n = rn(sizeof p + 1);
        for (size_t k = 0; k < n; k++)
            p[k] = one_in(3) ? k_special[rn(sizeof k_special)] : (uint8_t)rnd();
        /* often start like a record, so decoding gets past the head */
        if (n >= 4 && one_in(2)) {
            p[0] = (uint8_t)(0x93 + rn(13));
            p[1] = 0x01;
            p[2] = (uint8_t)(1 + rn(5));
        }
        diff_one(p, n);
    }
}

/* Last: every reason the decoder has must have come up somewhere above. */
static void test_every_reason_was_reached(void **state)
{
    (void)state;
    for (size_t k = 0; k < NREASONS; k++) {
        print_message("%8lu  %s\n", g_seen[k], k_reasons[k]);
        if (g_seen[k] == 0)
            fail_msg("seed %" PRIu64 ": no input was refused with \"%s\"", g_seed, k_reasons[k]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_round_trips_and_encoders),
        cmocka_unit_test(test_generated_valid_records),
        cmocka_unit_test(test_extra_field_depth_limit),
        cmocka_unit_test(test_generated_broken_records),
        cmocka_unit_test(test_mutated_records),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_every_reason_was_reached),
    };
    return cmocka_run_group_tests_name("record_diff", tests, group_setup, group_teardown);
}
