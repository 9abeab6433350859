/*
 * test_record.c — unit tests of the ring records (core/proto/record.c,
 * core/proto/ringpack.c): encode/decode round trips, the exact-size contract of
 * rs__packed_size, refusal of every malformed-record class, the structural
 * precheck, and a deterministic fuzz loop.
 *
 * Every buffer handed to the decoder is first copied into an allocation of
 * exactly its length, so under ASan a read one byte past the record is a
 * crash rather than a silent read of an sbuffer's spare capacity.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "ring.h"
#include "ringpack.h"
#include "ringside.h"

/* -------------------------------------------------------------- helpers */

static rs__rec g_rec;          /* large (header slices): not on the stack */

typedef struct buf {
    uint8_t *p;
    size_t n;
} buf;

static buf pack_with(rs__pack_fn fn, const void *rec)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    fn(&pk, rec);
    buf b = { (uint8_t *)sb.data, sb.size };
    return b;
}

/* Decode from an exact-size private copy. On return *copy owns that copy
 * (slices in g_rec point into it) unless copy is NULL. */
static int decode(const uint8_t *p, size_t n, uint64_t *id, const char **why, uint8_t **copy)
{
    uint8_t *c = malloc(n ? n : 1);
    assert_non_null(c);
    if (n)
        memcpy(c, p, n);
    *why = NULL;
    int rc = rs__rec_decode(c, n, &g_rec, id, why);
    if (copy)
        *copy = c;
    else
        free(c);
    return rc;
}

static int precheck(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    assert_non_null(c);
    if (n)
        memcpy(c, p, n);
    int rc = rs__msgpack_precheck(c, n);
    free(c);
    return rc;
}

static void assert_refused(const uint8_t *p, size_t n, uint64_t want_id)
{
    uint64_t id = 0xBADBADBADull;
    const char *why = NULL;
    int rc = decode(p, n, &id, &why, NULL);
    if (rc != RS_EBADREQ)
        fail_msg("decode of a malformed record returned %d, want RS_EBADREQ", rc);
    assert_non_null(why);
    assert_true(why[0] != '\0');
    assert_int_equal(id, want_id);
}

/* Malformed msgpack: the structural precheck itself must reject it. */
static void assert_structural_reject(const uint8_t *p, size_t n)
{
    assert_int_equal(precheck(p, n), -1);
    assert_refused(p, n, 0);
}

/* Well-formed msgpack that breaks a record rule: precheck passes it (it is
 * only structural), the decoder refuses it and still reports the id. */
static void assert_semantic_reject(const uint8_t *p, size_t n, uint64_t want_id)
{
    assert_int_equal(precheck(p, n), 0);
    assert_refused(p, n, want_id);
}

static void assert_slice(rs__slice s, const void *want, size_t n)
{
    assert_int_equal(s.len, n);
    if (n)
        assert_memory_equal(s.ptr, want, n);
}

static void assert_slice_in(rs__slice s, const uint8_t *b, size_t n)
{
    if (s.len == 0)
        return;
    assert_true((const uint8_t *)s.ptr >= b);
    assert_true((const uint8_t *)s.ptr + s.len <= b + n);
}

/* A decoded header list: within bounds, names not empty, every slice in buf. */
static void assert_headers_in(uint32_t nh, const rs__slice *names, const rs__slice *values,
                              const uint8_t *buf, size_t n)
{
    assert_true(nh <= RS__MAX_HEADERS);
    for (uint32_t k = 0; k < nh; k++) {
        assert_true(names[k].len > 0);
        assert_slice_in(names[k], buf, n);
        assert_slice_in(values[k], buf, n);
    }
}

static rs__slice sl(const char *s)
{
    rs__slice v = { s, (uint32_t)strlen(s) };
    return v;
}

static char *filled(size_t n, char first, char rest)
{
    char *p = malloc(n + 1);
    assert_non_null(p);
    memset(p, rest, n);
    if (n)
        p[0] = first;
    p[n] = 0;
    return p;
}

/* ---------------------------------------------- a field-by-field builder */

/* Build records field by field, with one field replaced by an arbitrary
 * value (or raw bytes), to reach each refusal on its own. Defaults:
 *   REQUEST    [1, 1, 77, 1, 0, 1000, "r", "m", "POST", "/p", ["a","b"], 3, b"xyz"]
 *   BODY       [1, 2, 77, 0, b"abc"]
 *   COMPLETION [1, 3, 77, -12, 429, "slow", 2, "up", [1,2,3,4], ["retry-after","1"], 3, b"xyz"]
 */
#define DEF_ID 77u

enum vt { V_UINT, V_INT, V_STR, V_STRN, V_BINN, V_NIL, V_TRUE, V_FLOAT, V_MAP0,
          V_ARRU, V_STRS, V_HDR_EMPTY_NAME, V_HDR_NIL_NAME, V_HDR_INT_NAME, V_EXT, V_RAW };

typedef struct val {
    enum vt t;
    uint64_t u;
    int64_t i;
    const char *s;
    uint32_t n;
} val;

#define VU(x)       ((val){ .t = V_UINT, .u = (x) })
#define VI(x)       ((val){ .t = V_INT, .i = (x) })
#define VS(x)       ((val){ .t = V_STR, .s = (x) })
#define VSTRN(c, k) ((val){ .t = V_STRN, .s = (c), .n = (k) })  /* k bytes, first = c[0] */
#define VBINN(k)    ((val){ .t = V_BINN, .n = (k) })
#define VNIL        ((val){ .t = V_NIL })
#define VTRUE       ((val){ .t = V_TRUE })
#define VFLOAT      ((val){ .t = V_FLOAT })
#define VMAP0       ((val){ .t = V_MAP0 })
#define VARRU(k)    ((val){ .t = V_ARRU, .n = (k) })            /* [0, 0, ...] */
#define VSTRS(k)    ((val){ .t = V_STRS, .n = (k) })            /* ["h", "h", ...] */
#define VEXT        ((val){ .t = V_EXT })
#define VRAW(b, k)  ((val){ .t = V_RAW, .s = (const char *)(b), .n = (k) })

static void put_val(msgpack_packer *pk, val v)
{
    switch (v.t) {
    case V_UINT: msgpack_pack_uint64(pk, v.u); break;
    case V_INT: msgpack_pack_int64(pk, v.i); break;
    case V_STR:
        msgpack_pack_str(pk, strlen(v.s));
        msgpack_pack_str_body(pk, v.s, strlen(v.s));
        break;
    case V_STRN: {
        char *p = filled(v.n, v.s ? v.s[0] : 'a', 'a');
        msgpack_pack_str(pk, v.n);
        msgpack_pack_str_body(pk, p, v.n);
        free(p);
        break;
    }
    case V_BINN: {
        char *p = filled(v.n, 'b', 'b');
        msgpack_pack_bin(pk, v.n);
        msgpack_pack_bin_body(pk, p, v.n);
        free(p);
        break;
    }
    case V_NIL: msgpack_pack_nil(pk); break;
    case V_TRUE: msgpack_pack_true(pk); break;
    case V_FLOAT: msgpack_pack_double(pk, 1.0); break;
    case V_MAP0: msgpack_pack_map(pk, 0); break;
    case V_ARRU:
        msgpack_pack_array(pk, v.n);
        for (uint32_t k = 0; k < v.n; k++)
            msgpack_pack_uint64(pk, 0);
        break;
    case V_STRS:
        msgpack_pack_array(pk, v.n);
        for (uint32_t k = 0; k < v.n; k++) {
            msgpack_pack_str(pk, 1);
            msgpack_pack_str_body(pk, "h", 1);
        }
        break;
    case V_HDR_EMPTY_NAME:
        msgpack_pack_array(pk, 4);
        put_val(pk, VS("ok"));
        put_val(pk, VS("v"));
        put_val(pk, VS(""));
        put_val(pk, VS("v"));
        break;
    case V_HDR_NIL_NAME:
        msgpack_pack_array(pk, 2);
        msgpack_pack_nil(pk);
        put_val(pk, VS("v"));
        break;
    case V_HDR_INT_NAME:
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint64(pk, 5);
        put_val(pk, VS("v"));
        break;
    case V_EXT:
        msgpack_pack_ext(pk, 3, 1);
        msgpack_pack_ext_body(pk, "ext", 3);
        break;
    case V_RAW:
        pk->callback(pk->data, v.s, v.n);
        break;
    }
}

static void put_default(msgpack_packer *pk, int kind, uint32_t k)
{
    static const val req[13] = {
        { .t = V_UINT, .u = 1 }, { .t = V_UINT, .u = 1 }, { .t = V_UINT, .u = DEF_ID },
        { .t = V_UINT, .u = 1 }, { .t = V_UINT, .u = 0 }, { .t = V_UINT, .u = 1000 },
        { .t = V_STR, .s = "r" }, { .t = V_STR, .s = "m" }, { .t = V_STR, .s = "POST" },
        { .t = V_STR, .s = "/p" }, { .t = V_STRS, .n = 2 }, { .t = V_UINT, .u = 3 },
        { .t = V_BINN, .n = 3 },
    };
    static const val body[5] = {
        { .t = V_UINT, .u = 1 }, { .t = V_UINT, .u = 2 }, { .t = V_UINT, .u = DEF_ID },
        { .t = V_UINT, .u = 0 }, { .t = V_BINN, .n = 3 },
    };
    static const val comp[12] = {
        { .t = V_UINT, .u = 1 }, { .t = V_UINT, .u = 3 }, { .t = V_UINT, .u = DEF_ID },
        { .t = V_INT, .i = -12 }, { .t = V_UINT, .u = 429 }, { .t = V_STR, .s = "slow" },
        { .t = V_UINT, .u = 2 }, { .t = V_STR, .s = "up" }, { .t = V_ARRU, .n = 4 },
        { .t = V_STRS, .n = 2 }, { .t = V_UINT, .u = 3 }, { .t = V_BINN, .n = 3 },
    };
    const val *tab = kind == RS__KIND_REQUEST ? req : kind == RS__KIND_BODY ? body : comp;
    uint32_t nf = kind == RS__KIND_REQUEST ? 13 : kind == RS__KIND_BODY ? 5 : 12;
    put_val(pk, k < nf ? tab[k] : VU(0));
}

static uint32_t nfields_of(int kind)
{
    return kind == RS__KIND_REQUEST ? 13 : kind == RS__KIND_BODY ? 5 : 12;
}

/* A record of `kind` with nfields fields, field `bad` (or none if < 0)
 * replaced by v. */
static buf build_n(int kind, uint32_t nfields, int bad, val v)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, nfields);
    for (uint32_t k = 0; k < nfields; k++) {
        if ((int)k == bad)
            put_val(&pk, v);
        else
            put_default(&pk, kind, k);
    }
    buf b = { (uint8_t *)sb.data, sb.size };
    return b;
}

static buf build(int kind, int bad, val v)
{
    return build_n(kind, nfields_of(kind), bad, v);
}

static void semantic(int kind, int field, val v, uint64_t want_id)
{
    buf b = build(kind, field, v);
    assert_semantic_reject(b.p, b.n, want_id);
    free(b.p);
}

/* Field `field` of a `kind` record: each of bad[0..n-1] there is refused
 * as semantic, with the default id reported. */
static void semantic_each(int kind, int field, const val *bad, size_t n)
{
    for (size_t k = 0; k < n; k++)
        semantic(kind, field, bad[k], DEF_ID);
}

#define SEMANTIC_EACH(kind, field, ...) do {                                   \
        const val bad_[] = { __VA_ARGS__ };                                 \
        semantic_each((kind), (field), bad_, sizeof bad_ / sizeof bad_[0]);  \
    } while (0)

static void accepted(int kind, int field, val v)
{
    buf b = build(kind, field, v);
    uint64_t id;
    const char *why;
    int rc = decode(b.p, b.n, &id, &why, NULL);
    if (rc != 0)
        fail_msg("record refused: %s", why ? why : "(no reason)");
    assert_int_equal(id, DEF_ID);
    assert_int_equal(g_rec.kind, kind);
    free(b.p);
}

/* ------------------------------------------------------ sample records */

static rs__req_rec g_req;
static rs__comp_rec g_comp;
static char g_body[RS__PART_BYTES + 1];
static char g_names[RS__MAX_HEADERS][8];
static char g_values[RS__MAX_HEADERS][40];

static void init_body(void)
{
    for (size_t i = 0; i < sizeof g_body; i++)
        g_body[i] = (char)(i * 31u + (i >> 9));
}

static void sample_request(rs__req_rec *r, uint32_t nheaders, uint32_t chunk)
{
    init_body();
    memset(r, 0, sizeof *r);
    r->id = 0x1234567890ABCDEFull;
    r->priority = 2;
    r->flags = 0x80000001u;
    r->timeout_ms = 30000;
    r->route = sl("deepseek");
    r->model = sl("deepseek-chat");
    r->method = sl("POST");
    r->path = sl("/v1/chat/completions");
    r->nheaders = nheaders;
    for (uint32_t k = 0; k < nheaders; k++) {
        snprintf(g_names[k], sizeof g_names[k], "h%02u", k % 100u);
        snprintf(g_values[k], sizeof g_values[k], "%.*s", (int)(k % 33), "value-value-value-value-value-val");
        r->hname[k] = sl(g_names[k]);
        r->hvalue[k] = sl(g_values[k]);   /* k == 0: an empty value is allowed */
    }
    r->body_total = chunk + 1000000ull;
    r->part.ptr = g_body;
    r->part.len = chunk;
}

static void sample_completion(rs__comp_rec *r, int32_t error, uint32_t nheaders, uint32_t chunk)
{
    init_body();
    memset(r, 0, sizeof *r);
    r->id = UINT64_MAX - 5;
    r->error = error;
    r->status = 503;
    r->error_msg = sl("upstream answered 503: retry later");
    r->attempts = 3;
    r->upstream = sl("primary");
    r->timings[RS__T_QUEUED] = 12;
    r->timings[RS__T_FIRST_BYTE] = 3456;
    r->timings[RS__T_FIRST_CONTENT] = 0;
    r->timings[RS__T_TOTAL] = UINT64_MAX;
    r->nheaders = nheaders;
    for (uint32_t k = 0; k < nheaders; k++) {
        snprintf(g_names[k], sizeof g_names[k], "r%02u", k % 100u);
        snprintf(g_values[k], sizeof g_values[k], "v%u", k * 7u);
        r->hname[k] = sl(g_names[k]);
        r->hvalue[k] = sl(g_values[k]);
    }
    r->body_total = chunk;
    r->part.ptr = g_body;
    r->part.len = chunk;
}

/* The part requests and completions share: headers, body total, first
 * chunk (a macro: the two record types differ). */
#define check_headers_and_body(got, want) do {                                      \
        assert_int_equal((got)->nheaders, (want)->nheaders);                        \
        for (uint32_t k_ = 0; k_ < (want)->nheaders; k_++) {                        \
            assert_slice((got)->hname[k_], (want)->hname[k_].ptr, (want)->hname[k_].len);    \
            assert_slice((got)->hvalue[k_], (want)->hvalue[k_].ptr, (want)->hvalue[k_].len); \
        }                                                                           \
        assert_int_equal((got)->body_total, (want)->body_total);                    \
        assert_slice((got)->part, (want)->part.ptr, (want)->part.len);           \
    } while (0)

static void check_request(const rs__req_rec *want, const rs__req_rec *got)
{
    assert_int_equal(got->id, want->id);
    assert_int_equal(got->priority, want->priority);
    assert_int_equal(got->flags, want->flags);
    assert_int_equal(got->timeout_ms, want->timeout_ms);
    assert_slice(got->route, want->route.ptr, want->route.len);
    assert_slice(got->model, want->model.ptr, want->model.len);
    assert_slice(got->method, want->method.ptr, want->method.len);
    assert_slice(got->path, want->path.ptr, want->path.len);
    check_headers_and_body(got, want);
}

static void check_completion(const rs__comp_rec *want, const rs__comp_rec *got)
{
    assert_int_equal(got->id, want->id);
    assert_int_equal(got->error, want->error);
    assert_int_equal(got->status, want->status);
    assert_slice(got->error_msg, want->error_msg.ptr, want->error_msg.len);
    assert_int_equal(got->attempts, want->attempts);
    assert_slice(got->upstream, want->upstream.ptr, want->upstream.len);
    for (int k = 0; k < RS__T_COUNT; k++)
        assert_int_equal(got->timings[k], want->timings[k]);
    check_headers_and_body(got, want);
}

/* Pack, check the size contract and precheck, decode; returns the copy the
 * decoded slices point into (caller frees). */
static uint8_t *round_trip(rs__pack_fn fn, const void *rec, int kind, uint64_t want_id)
{
    buf b = pack_with(fn, rec);
    assert_int_equal(rs__packed_size(fn, rec), b.n);
    assert_int_equal(precheck(b.p, b.n), 0);
    uint64_t id = 0;
    const char *why = NULL;
    uint8_t *copy;
    int rc = decode(b.p, b.n, &id, &why, &copy);
    if (rc != 0)
        fail_msg("valid record refused (%d): %s", rc, why ? why : "(no reason)");
    assert_int_equal(id, want_id);
    assert_int_equal(g_rec.kind, kind);
    free(b.p);
    return copy;
}

/* ------------------------------------------------------- round trips */

/* The sample request with `nheaders` headers and a `chunk`-byte first chunk
 * packs and decodes back to itself, headers counted. */
static void assert_sample_request_round_trips(uint32_t nheaders, uint32_t chunk)
{
    sample_request(&g_req, nheaders, chunk);
    uint8_t *c = round_trip(rs__pack_request, &g_req, RS__KIND_REQUEST, g_req.id);
    check_request(&g_req, &g_rec.u.req);
    assert_int_equal(g_rec.u.req.nheaders, nheaders);
    free(c);
}

/* g_req packs and decodes back to itself, reporting id `want_id`. */
static void assert_req_round_trips(uint64_t want_id)
{
    uint8_t *c = round_trip(rs__pack_request, &g_req, RS__KIND_REQUEST, want_id);
    check_request(&g_req, &g_rec.u.req);
    free(c);
}

/* g_comp packs and decodes back to itself. */
static void assert_comp_round_trips(void)
{
    uint8_t *c = round_trip(rs__pack_completion, &g_comp, RS__KIND_COMPLETION, g_comp.id);
    check_completion(&g_comp, &g_rec.u.comp);
    free(c);
}

static void test_request_round_trip_all_fields(void **state)
{
    (void)state;
    assert_sample_request_round_trips(3, 100);
}

static void test_request_round_trip_no_headers(void **state)
{
    (void)state;
    assert_sample_request_round_trips(0, 10);
}

static void test_request_round_trip_64_headers(void **state)
{
    (void)state;
    assert_int_equal(RS__MAX_HEADERS, 64);
    assert_sample_request_round_trips(RS__MAX_HEADERS, 10);
}

static void test_request_round_trip_empty_strings_and_body(void **state)
{
    (void)state;
    sample_request(&g_req, 0, 0);
    g_req.route = sl("");
    g_req.model = sl("");
    g_req.method = sl("");
    g_req.path = sl("/");
    g_req.body_total = 0;
    g_req.priority = 0;
    g_req.flags = 0;
    g_req.timeout_ms = 0;
    g_req.id = 0;
    assert_req_round_trips(0);
}

static void test_request_round_trip_max_values(void **state)
{
    (void)state;
    sample_request(&g_req, 1, RS__PART_BYTES);
    g_req.id = UINT64_MAX;
    g_req.flags = UINT32_MAX;
    g_req.timeout_ms = UINT32_MAX;
    g_req.body_total = UINT64_MAX;
    char *route = filled(256, 'r', 'r'), *model = filled(256, 'm', 'm');
    char *method = filled(16, 'G', 'E'), *path = filled(8192, '/', 'p');
    g_req.route = sl(route);
    g_req.model = sl(model);
    g_req.method = sl(method);
    g_req.path = sl(path);
    assert_req_round_trips(UINT64_MAX);
    free(route);
    free(model);
    free(method);
    free(path);
}

/* rs_submit passes the caller's body pointer through, and a request without
 * a body may have body == NULL: packing an empty part must be defined
 * behaviour (under UBSan, memcpy(dst, NULL, 0) in rs__ring_copy_in is
 * reported and, with halt_on_error, fails this test). */
static void test_request_null_empty_chunk_packs(void **state)
{
    (void)state;
    sample_request(&g_req, 0, 0);
    g_req.part.ptr = NULL;
    g_req.part.len = 0;
    g_req.body_total = 0;
    uint8_t *c = round_trip(rs__pack_request, &g_req, RS__KIND_REQUEST, g_req.id);
    assert_int_equal(g_rec.u.req.part.len, 0);
    free(c);

    /* and straight into a ring, as the client does */
    rs__ring_hdr *hdr = aligned_alloc(RS__CACHELINE, sizeof *hdr);
    uint8_t *data = aligned_alloc(RS__CACHELINE, 4096);
    assert_non_null(hdr);
    assert_non_null(data);
    memset(hdr, 0, sizeof *hdr);
    memset(data, 0, 4096);
    rs__ring r;
    rs__ring_init(&r, hdr, data, 4096);
    size_t len = rs__packed_size(rs__pack_request, &g_req);
    uint64_t pos;
    assert_int_equal(rs__ring_reserve_mp(&r, rs__rec_span(len), &pos), 0);
    assert_int_equal(rs__ring_put(&r, pos, rs__pack_request, &g_req, (uint32_t)len), rs__rec_span(len));
    uint64_t id;
    const char *why;
    assert_int_equal(decode(data + RS__FRAME_BYTES, len, &id, &why, NULL), 0);
    free(hdr);
    free(data);
}

static void test_request_nil_strings_decode_as_empty(void **state)
{
    (void)state;
    for (int field = 6; field <= 8; field++) {
        accepted(RS__KIND_REQUEST, field, VNIL);
        rs__slice s = field == 6 ? g_rec.u.req.route : field == 7 ? g_rec.u.req.model
                                                                  : g_rec.u.req.method;
        assert_int_equal(s.len, 0);
    }
}

static void test_request_round_trip_through_ring(void **state)
{
    (void)state;
    sample_request(&g_req, 5, 1000);
    const uint64_t cap = 4096;
    rs__ring_hdr *hdr = aligned_alloc(RS__CACHELINE, sizeof *hdr);
    uint8_t *data = aligned_alloc(RS__CACHELINE, cap);
    assert_non_null(hdr);
    assert_non_null(data);
    memset(hdr, 0, sizeof *hdr);
    memset(data, 0, cap);
    rs__ring r;
    rs__ring_init(&r, hdr, data, cap);
    /* start 40 bytes before the end so the record wraps */
    atomic_store(&hdr->head, 3 * cap - 40);
    atomic_store(&hdr->tail, 3 * cap - 40);

    size_t len = rs__packed_size(rs__pack_request, &g_req);
    uint64_t pos;
    assert_int_equal(rs__ring_reserve_mp(&r, rs__rec_span(len), &pos), 0);
    assert_int_equal(rs__ring_put(&r, pos, rs__pack_request, &g_req, (uint32_t)len), rs__rec_span(len));

    uint32_t plen = 0;
    rs__ring_cursor cur = { pos, pos };
    assert_int_equal(rs__ring_peek(&r, &cur, RS__MAX_RECORD, &plen), 1);
    assert_int_equal(plen, len);
    uint8_t *out = malloc(plen);
    assert_non_null(out);
    rs__ring_take(&r, &cur, out, plen);
    /* the ring holds exactly what a plain buffer packer produces */
    buf b = pack_with(rs__pack_request, &g_req);
    assert_int_equal(b.n, plen);
    assert_memory_equal(b.p, out, plen);

    uint64_t id;
    const char *why;
    assert_int_equal(rs__rec_decode(out, plen, &g_rec, &id, &why), 0);
    assert_int_equal(id, g_req.id);
    check_request(&g_req, &g_rec.u.req);
    free(b.p);
    free(out);
    free(hdr);
    free(data);
}

static void test_body_round_trip(void **state)
{
    (void)state;
    init_body();
    rs__body_rec b = { .id = 42, .offset = 131072, .part = { g_body, 4000 } };
    uint8_t *c = round_trip(rs__pack_body, &b, RS__KIND_BODY, 42);
    assert_int_equal(g_rec.u.body.id, 42);
    assert_int_equal(g_rec.u.body.offset, 131072);
    assert_slice(g_rec.u.body.part, g_body, 4000);
    free(c);
}

static void test_body_round_trip_max_chunk_and_offset(void **state)
{
    (void)state;
    init_body();
    rs__body_rec b = { .id = UINT64_MAX, .offset = UINT64_MAX, .part = { g_body, RS__PART_BYTES } };
    uint8_t *c = round_trip(rs__pack_body, &b, RS__KIND_BODY, UINT64_MAX);
    assert_int_equal(g_rec.u.body.offset, UINT64_MAX);
    assert_slice(g_rec.u.body.part, g_body, RS__PART_BYTES);
    free(c);
}

static void test_completion_round_trip_negative_error(void **state)
{
    (void)state;
    sample_completion(&g_comp, RS_EUPSTREAM, 2, 300);
    assert_comp_round_trips();
    assert_int_equal(g_rec.u.comp.error, -12);
}

static void test_completion_round_trip_int32_min_error(void **state)
{
    (void)state;
    sample_completion(&g_comp, INT32_MIN, 0, 0);
    assert_comp_round_trips();
}

static void test_completion_round_trip_success_64_headers(void **state)
{
    (void)state;
    sample_completion(&g_comp, RS_OK, RS__MAX_HEADERS, RS__PART_BYTES);
    g_comp.status = 200;
    g_comp.error_msg = sl("");
    g_comp.body_total = 5u * RS__PART_BYTES;
    assert_comp_round_trips();
}

static void test_completion_round_trip_timings(void **state)
{
    (void)state;
    sample_completion(&g_comp, RS_EDEADLINE, 1, 5);
    for (int k = 0; k < RS__T_COUNT; k++)
        g_comp.timings[k] = (1ull << (16 * k)) + (uint64_t)k;
    uint8_t *c = round_trip(rs__pack_completion, &g_comp, RS__KIND_COMPLETION, g_comp.id);
    for (int k = 0; k < RS__T_COUNT; k++)
        assert_int_equal(g_rec.u.comp.timings[k], (1ull << (16 * k)) + (uint64_t)k);
    free(c);
}

static void test_decoded_slices_point_into_buffer(void **state)
{
    (void)state;
    sample_request(&g_req, 4, 77);
    buf b = pack_with(rs__pack_request, &g_req);
    uint64_t id;
    const char *why;
    uint8_t *copy;
    assert_int_equal(decode(b.p, b.n, &id, &why, &copy), 0);
    const rs__req_rec *q = &g_rec.u.req;
    assert_slice_in(q->route, copy, b.n);
    assert_slice_in(q->path, copy, b.n);
    assert_slice_in(q->part, copy, b.n);
    for (uint32_t k = 0; k < q->nheaders; k++) {
        assert_slice_in(q->hname[k], copy, b.n);
        assert_slice_in(q->hvalue[k], copy, b.n);
    }
    assert_true((const uint8_t *)q->path.ptr >= copy && (const uint8_t *)q->path.ptr < copy + b.n);
    free(copy);
    free(b.p);
}

static void test_packed_size_equals_bytes_packed(void **state)
{
    (void)state;
    /* lengths on each side of msgpack's str/bin size-class boundaries */
    static const uint32_t lens[] = { 0, 1, 31, 32, 255, 256, 65535, 65536, RS__PART_BYTES };
    char *s = filled(RS__PART_BYTES, 'x', 'y');
    for (size_t a = 0; a < sizeof lens / sizeof lens[0]; a++) {
        sample_request(&g_req, (uint32_t)a * 7u, lens[a]);
        g_req.model.ptr = s;
        g_req.model.len = lens[a] > 256 ? 256 : lens[a];
        g_req.body_total = lens[a];
        buf b = pack_with(rs__pack_request, &g_req);
        assert_int_equal(rs__packed_size(rs__pack_request, &g_req), b.n);
        free(b.p);

        rs__body_rec br = { .id = lens[a], .offset = (uint64_t)lens[a] << 20, .part = { s, lens[a] } };
        b = pack_with(rs__pack_body, &br);
        assert_int_equal(rs__packed_size(rs__pack_body, &br), b.n);
        free(b.p);

        sample_completion(&g_comp, -(int32_t)lens[a], (uint32_t)a, lens[a]);
        g_comp.error_msg.ptr = s;
        g_comp.error_msg.len = lens[a] > RS__MAX_META ? RS__MAX_META : lens[a];
        b = pack_with(rs__pack_completion, &g_comp);
        assert_int_equal(rs__packed_size(rs__pack_completion, &g_comp), b.n);
        free(b.p);
    }
    free(s);
}

/* ------------------------------------------- malformed: framing/shape */

static void test_refuse_empty_buffer(void **state)
{
    (void)state;
    assert_structural_reject((const uint8_t *)"", 0);
}

static void refuse_every_prefix(rs__pack_fn fn, const void *rec)
{
    buf b = pack_with(fn, rec);
    for (size_t n = 0; n < b.n; n++)
        assert_structural_reject(b.p, n);
    free(b.p);
}

static void test_refuse_truncated_request(void **state)
{
    (void)state;
    sample_request(&g_req, 3, 40);
    refuse_every_prefix(rs__pack_request, &g_req);
}

static void test_refuse_truncated_body(void **state)
{
    (void)state;
    init_body();
    rs__body_rec b = { .id = 1000, .offset = 70000, .part = { g_body, 300 } };
    refuse_every_prefix(rs__pack_body, &b);
}

static void test_refuse_truncated_completion(void **state)
{
    (void)state;
    sample_completion(&g_comp, RS_ESHED, 2, 40);
    refuse_every_prefix(rs__pack_completion, &g_comp);
}

static void test_refuse_trailing_garbage(void **state)
{
    (void)state;
    sample_request(&g_req, 1, 10);
    buf b = pack_with(rs__pack_request, &g_req);
    uint8_t *p = malloc(b.n + 8);
    assert_non_null(p);
    memcpy(p, b.p, b.n);
    static const uint8_t tails[] = { 0x00, 0xc0, 0xff, 0x91 };
    for (size_t k = 0; k < sizeof tails; k++) {
        p[b.n] = tails[k];
        assert_structural_reject(p, b.n + 1);
    }
    memset(p + b.n, 0, 8);
    assert_structural_reject(p, b.n + 8);
    free(p);
    free(b.p);
}

static void test_refuse_two_records_in_one_buffer(void **state)
{
    (void)state;
    buf a = build(RS__KIND_BODY, -1, VNIL);
    uint8_t *p = malloc(2 * a.n);
    assert_non_null(p);
    memcpy(p, a.p, a.n);
    memcpy(p + a.n, a.p, a.n);
    assert_structural_reject(p, 2 * a.n);
    free(p);
    free(a.p);
}

static void test_refuse_not_an_array(void **state)
{
    (void)state;
    static const struct { const char *b; size_t n; } cases[] = {
        { "\x01", 1 },                        /* positive fixint */
        { "\xc0", 1 },                        /* nil */
        { "\xc3", 1 },                        /* true */
        { "\xa3" "abc", 4 },                  /* str */
        { "\xc4\x02" "ab", 4 },               /* bin */
        { "\x81\x01\x01", 3 },                /* map {1: 1} */
        { "\x83\x01\x01\x02\x01\x03\x4d", 7 }, /* map that looks like a request head */
        { "\xcb\0\0\0\0\0\0\0\0", 9 },        /* float64 */
        { "\xd4\x01\x00", 3 },                /* fixext1 */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        assert_semantic_reject((const uint8_t *)cases[k].b, cases[k].n, 0);
}

static void test_refuse_array_shorter_than_3(void **state)
{
    (void)state;
    assert_semantic_reject((const uint8_t *)"\x90", 1, 0);
    assert_semantic_reject((const uint8_t *)"\x91\x01", 2, 0);
    assert_semantic_reject((const uint8_t *)"\x92\x01\x01", 3, 0);
}

static void test_refuse_too_few_fields_per_kind(void **state)
{
    (void)state;
    for (int kind = RS__KIND_REQUEST; kind <= RS__KIND_COMPLETION; kind++) {
        for (uint32_t n = 3; n < nfields_of(kind); n++) {
            buf b = build_n(kind, n, -1, VNIL);
            assert_semantic_reject(b.p, b.n, DEF_ID);
            free(b.p);
        }
    }
}

static void test_refuse_wrong_version(void **state)
{
    (void)state;
    const val bad[] = { VU(0), VU(2), VU(0x100000001ull), VI(-1), VS("1"), VNIL, VFLOAT, VTRUE };
    for (int kind = RS__KIND_REQUEST; kind <= RS__KIND_COMPLETION; kind++) {
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            buf b = build(kind, 0, bad[k]);
            assert_int_equal(precheck(b.p, b.n), 0);
            uint64_t id;
            const char *why;
            assert_int_equal(decode(b.p, b.n, &id, &why, NULL), RS_EBADREQ);
            assert_non_null(why);
            assert_true(why[0] != '\0');
            free(b.p);
        }
    }
}

static void test_refuse_unknown_kind(void **state)
{
    (void)state;
    const val bad[] = { VU(0), VU(7), VU(255), VU(256), VU(UINT64_MAX), VI(-1), VS("\x01"), VNIL };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        semantic(RS__KIND_REQUEST, 1, bad[k], DEF_ID);
}

static void test_cancel_round_trip(void **state)
{
    (void)state;
    uint64_t want = 0x1234567800000042ull, id;
    const char *why;
    buf b = pack_with(rs__pack_cancel, &want);
    assert_int_equal(decode(b.p, b.n, &id, &why, NULL), 0);
    assert_int_equal(g_rec.kind, RS__KIND_CANCEL);
    assert_int_equal(id, want);
    free(b.p);
}

static void test_chunk_round_trip(void **state)
{
    (void)state;
    rs__chunk_rec in = { .id = 77, .seq = 9, .sidecar_ns = 123456789, .more = 1,
                         .data = { "data: {\"x\":1}", 14 } };
    uint64_t id;
    const char *why;
    uint8_t *copy;
    buf b = pack_with(rs__pack_chunk, &in);
    assert_int_equal(b.n, rs__packed_size(rs__pack_chunk, &in));
    assert_int_equal(decode(b.p, b.n, &id, &why, &copy), 0);
    assert_int_equal(g_rec.kind, RS__KIND_CHUNK);
    assert_int_equal(g_rec.u.chunk.id, 77);
    assert_int_equal(g_rec.u.chunk.seq, 9);
    assert_int_equal(g_rec.u.chunk.sidecar_ns, 123456789);
    assert_int_equal(g_rec.u.chunk.more, 1);
    assert_int_equal(g_rec.u.chunk.data.len, 14);
    assert_memory_equal(g_rec.u.chunk.data.ptr, in.data.ptr, 14);
    free(copy);
    free(b.p);
}

static void test_refuse_bad_chunk(void **state)
{
    (void)state;
    uint64_t id;
    const char *why;
    /* more must be 0 or 1 */
    rs__chunk_rec in = { .id = 5, .more = 2, .data = { "x", 1 } };
    buf b = pack_with(rs__pack_chunk, &in);
    assert_int_equal(decode(b.p, b.n, &id, &why, NULL), RS_EBADREQ);
    assert_int_equal(id, 5);
    assert_non_null(why);
    free(b.p);
    /* too few fields: [1, 5, id] */
    uint64_t cancel_like = 5;
    b = pack_with(rs__pack_cancel, &cancel_like);
    b.p[0] = 0x93;              /* still fixarray(3) */
    b.p[2] = RS__KIND_CHUNK;    /* kind byte follows the version */
    assert_int_equal(decode(b.p, b.n, &id, &why, NULL), RS_EBADREQ);
    free(b.p);
}

static void test_flow_round_trip_and_refusals(void **state)
{
    (void)state;
    uint64_t id;
    const char *why;
    for (uint32_t hold = 0; hold <= 1; hold++) {
        rs__flow_rec in = { .id = 0x1234567890ull, .hold = hold };
        buf b = pack_with(rs__pack_flow, &in);
        assert_int_equal(b.n, rs__packed_size(rs__pack_flow, &in));
        assert_int_equal(decode(b.p, b.n, &id, &why, NULL), 0);
        assert_int_equal(g_rec.kind, RS__KIND_FLOW);
        assert_int_equal(g_rec.u.flow.id, in.id);
        assert_int_equal(g_rec.u.flow.hold, hold);
        free(b.p);
    }
    /* hold must be 0 or 1 */
    rs__flow_rec bad = { .id = 8, .hold = 2 };
    buf b = pack_with(rs__pack_flow, &bad);
    assert_int_equal(decode(b.p, b.n, &id, &why, NULL), RS_EBADREQ);
    assert_int_equal(id, 8);
    assert_string_equal(why, "flow 'hold' must be 0 or 1");
    free(b.p);
    /* too few fields: [1, 6, id] */
    uint64_t cancel_like = 8;
    b = pack_with(rs__pack_cancel, &cancel_like);
    b.p[2] = RS__KIND_FLOW;
    assert_int_equal(decode(b.p, b.n, &id, &why, NULL), RS_EBADREQ);
    assert_string_equal(why, "flow record has too few fields");
    free(b.p);
}

static void test_refuse_id_not_an_integer_reports_id_0(void **state)
{
    (void)state;
    const val bad[] = { VS("77"), VNIL, VI(-77), VFLOAT, VTRUE, VBINN(8), VARRU(1), VMAP0, VEXT };
    for (int kind = RS__KIND_REQUEST; kind <= RS__KIND_COMPLETION; kind++)
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
            semantic(kind, 2, bad[k], 0);
}

static void test_refuse_later_field_still_reports_id(void **state)
{
    (void)state;
    /* the last field of each kind is bad: everything before it, the id
     * included, was read */
    semantic(RS__KIND_REQUEST, 12, VU(1), DEF_ID);
    semantic(RS__KIND_BODY, 4, VU(1), DEF_ID);
    semantic(RS__KIND_COMPLETION, 11, VU(1), DEF_ID);
}

/* ------------------------------------------------- malformed: fields */

static void test_refuse_priority_3(void **state)
{
    (void)state;
    accepted(RS__KIND_REQUEST, 3, VU(2));
    assert_int_equal(g_rec.u.req.priority, 2);
    semantic(RS__KIND_REQUEST, 3, VU(3), DEF_ID);
    semantic(RS__KIND_REQUEST, 3, VU(0x100000000ull), DEF_ID);   /* would truncate to 0 */
}

static void test_refuse_negative_integers(void **state)
{
    (void)state;
    static const int req_fields[] = { 3, 4, 5, 11 };
    for (size_t k = 0; k < sizeof req_fields / sizeof req_fields[0]; k++) {
        semantic(RS__KIND_REQUEST, req_fields[k], VI(-1), DEF_ID);
        semantic(RS__KIND_REQUEST, req_fields[k], VI(INT64_MIN), DEF_ID);
    }
    semantic(RS__KIND_BODY, 3, VI(-1), DEF_ID);
    semantic(RS__KIND_COMPLETION, 4, VI(-1), DEF_ID);    /* status */
    semantic(RS__KIND_COMPLETION, 6, VI(-1), DEF_ID);    /* attempts */
    semantic(RS__KIND_COMPLETION, 10, VI(-1), DEF_ID);   /* body_total */
    /* a timing element: [0, 0, -1, 0] */
    static const uint8_t timings[] = { 0x94, 0x00, 0x00, 0xff, 0x00 };
    semantic(RS__KIND_COMPLETION, 8, VRAW(timings, sizeof timings), DEF_ID);
}

static void test_refuse_overflowing_integers(void **state)
{
    (void)state;
    semantic(RS__KIND_REQUEST, 4, VU(0x100000000ull), DEF_ID);    /* flags */
    semantic(RS__KIND_REQUEST, 5, VU(0x100000000ull), DEF_ID);    /* timeout_ms */
    semantic(RS__KIND_REQUEST, 5, VU(UINT64_MAX), DEF_ID);
    semantic(RS__KIND_COMPLETION, 4, VU(1000), DEF_ID);           /* status */
    semantic(RS__KIND_COMPLETION, 6, VU(0x100000000ull), DEF_ID); /* attempts */
    accepted(RS__KIND_COMPLETION, 4, VU(999));
    accepted(RS__KIND_REQUEST, 5, VU(UINT32_MAX));
}

static void test_refuse_completion_error_out_of_range(void **state)
{
    (void)state;
    semantic(RS__KIND_COMPLETION, 3, VU(1), DEF_ID);                 /* positive */
    SEMANTIC_EACH(RS__KIND_COMPLETION, 3,
                  VU(UINT64_MAX), VI((int64_t)INT32_MIN - 1), VI(INT64_MIN));
    accepted(RS__KIND_COMPLETION, 3, VI(INT32_MIN));
    assert_int_equal(g_rec.u.comp.error, INT32_MIN);
    accepted(RS__KIND_COMPLETION, 3, VU(0));
    assert_int_equal(g_rec.u.comp.error, 0);
}

static void test_refuse_wrong_type_request_fields(void **state)
{
    (void)state;
    /* an integer field gets a str, a bytes field an integer, and so on */
    const struct { int field; val v; } cases[] = {
        { 3, VS("1") }, { 3, VNIL }, { 3, VFLOAT }, { 3, VTRUE },
        { 4, VS("0") }, { 4, VNIL }, { 4, VFLOAT },
        { 5, VBINN(2) }, { 5, VNIL }, { 5, VARRU(0) },
        { 6, VU(1) }, { 6, VARRU(1) }, { 6, VMAP0 }, { 6, VEXT }, { 6, VTRUE },
        { 7, VU(1) }, { 7, VFLOAT }, { 7, VEXT },
        { 8, VU(1) }, { 8, VSTRS(1) },
        { 9, VU(1) }, { 9, VTRUE }, { 9, VEXT },
        { 10, VS("a") }, { 10, VMAP0 }, { 10, VNIL }, { 10, VU(0) }, { 10, VBINN(4) },
        { 11, VS("3") }, { 11, VNIL }, { 11, VFLOAT },
        { 12, VU(3) }, { 12, VARRU(3) }, { 12, VTRUE }, { 12, VEXT },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        semantic(RS__KIND_REQUEST, cases[k].field, cases[k].v, DEF_ID);
}

static void test_refuse_wrong_type_body_fields(void **state)
{
    (void)state;
    const struct { int field; val v; } cases[] = {
        { 3, VS("0") }, { 3, VNIL }, { 3, VFLOAT }, { 3, VBINN(1) },
        { 4, VU(1) }, { 4, VARRU(1) }, { 4, VMAP0 }, { 4, VEXT }, { 4, VNIL },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        semantic(RS__KIND_BODY, cases[k].field, cases[k].v, DEF_ID);
}

static void test_refuse_wrong_type_completion_fields(void **state)
{
    (void)state;
    const struct { int field; val v; } cases[] = {
        { 3, VS("-12") }, { 3, VNIL }, { 3, VFLOAT },
        { 4, VS("429") }, { 4, VNIL },
        { 5, VU(1) }, { 5, VARRU(1) },
        { 6, VS("2") }, { 6, VFLOAT },
        { 7, VU(1) }, { 7, VMAP0 },
        { 8, VU(1) }, { 8, VMAP0 }, { 8, VNIL }, { 8, VSTRS(4) },
        { 9, VS("x") }, { 9, VMAP0 }, { 9, VU(0) },
        { 10, VS("3") }, { 10, VFLOAT },
        { 11, VU(3) }, { 11, VARRU(1) }, { 11, VEXT },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        semantic(RS__KIND_COMPLETION, cases[k].field, cases[k].v, DEF_ID);
}

static void test_refuse_path_not_starting_with_slash(void **state)
{
    (void)state;
    SEMANTIC_EACH(RS__KIND_REQUEST, 9, VS("v1/chat"), VS(" /v1"), VS(""), VNIL);
    accepted(RS__KIND_REQUEST, 9, VS("/"));
}

static void test_refuse_path_too_long(void **state)
{
    (void)state;
    accepted(RS__KIND_REQUEST, 9, VSTRN("/", 8192));
    assert_int_equal(g_rec.u.req.path.len, 8192);
    semantic(RS__KIND_REQUEST, 9, VSTRN("/", 8193), DEF_ID);
}

static void test_refuse_route_model_method_too_long(void **state)
{
    (void)state;
    accepted(RS__KIND_REQUEST, 6, VSTRN("r", 256));
    semantic(RS__KIND_REQUEST, 6, VSTRN("r", 257), DEF_ID);
    accepted(RS__KIND_REQUEST, 7, VSTRN("m", 256));
    semantic(RS__KIND_REQUEST, 7, VSTRN("m", 257), DEF_ID);
    accepted(RS__KIND_REQUEST, 8, VSTRN("G", 16));
    semantic(RS__KIND_REQUEST, 8, VSTRN("G", 17), DEF_ID);
    accepted(RS__KIND_COMPLETION, 7, VSTRN("u", 256));
    semantic(RS__KIND_COMPLETION, 7, VSTRN("u", 257), DEF_ID);
}

static void test_refuse_error_msg_too_long(void **state)
{
    (void)state;
    accepted(RS__KIND_COMPLETION, 5, VSTRN("e", RS__MAX_META));
    semantic(RS__KIND_COMPLETION, 5, VSTRN("e", RS__MAX_META + 1), DEF_ID);
}

static void test_refuse_odd_header_array(void **state)
{
    (void)state;
    SEMANTIC_EACH(RS__KIND_REQUEST, 10, VSTRS(1), VSTRS(3));
    semantic(RS__KIND_COMPLETION, 9, VSTRS(5), DEF_ID);
    accepted(RS__KIND_REQUEST, 10, VSTRS(0));
}

static void test_refuse_more_than_64_headers(void **state)
{
    (void)state;
    accepted(RS__KIND_REQUEST, 10, VSTRS(2 * RS__MAX_HEADERS));
    assert_int_equal(g_rec.u.req.nheaders, 64);
    SEMANTIC_EACH(RS__KIND_REQUEST, 10, VSTRS(2 * RS__MAX_HEADERS + 2), VSTRS(1000));
    accepted(RS__KIND_COMPLETION, 9, VSTRS(2 * RS__MAX_HEADERS));
    semantic(RS__KIND_COMPLETION, 9, VSTRS(2 * RS__MAX_HEADERS + 2), DEF_ID);
}

static void test_refuse_empty_header_name(void **state)
{
    (void)state;
    SEMANTIC_EACH(RS__KIND_REQUEST, 10,
                  (val){ .t = V_HDR_EMPTY_NAME }, (val){ .t = V_HDR_NIL_NAME });
    SEMANTIC_EACH(RS__KIND_COMPLETION, 9,
                  (val){ .t = V_HDR_EMPTY_NAME }, (val){ .t = V_HDR_NIL_NAME });
}

static void test_refuse_header_name_not_bytes(void **state)
{
    (void)state;
    semantic(RS__KIND_REQUEST, 10, (val){ .t = V_HDR_INT_NAME }, DEF_ID);
    semantic(RS__KIND_COMPLETION, 9, (val){ .t = V_HDR_INT_NAME }, DEF_ID);
    /* ["n", 5]: a value that is not bytes */
    static const uint8_t hv[] = { 0x92, 0xa1, 'n', 0x05 };
    semantic(RS__KIND_REQUEST, 10, VRAW(hv, sizeof hv), DEF_ID);
}

static void test_refuse_first_part_longer_than_body_total(void **state)
{
    (void)state;
    /* default body_total is 3 */
    accepted(RS__KIND_REQUEST, 12, VBINN(3));
    semantic(RS__KIND_REQUEST, 12, VBINN(4), DEF_ID);
    accepted(RS__KIND_COMPLETION, 11, VBINN(3));
    semantic(RS__KIND_COMPLETION, 11, VBINN(4), DEF_ID);
    semantic(RS__KIND_REQUEST, 12, VSTRN("x", 4), DEF_ID);
}

static void test_refuse_chunk_longer_than_chunk_bytes(void **state)
{
    (void)state;
    /* body_total large enough that only the chunk limit can refuse */
    init_body();
    sample_request(&g_req, 0, RS__PART_BYTES + 1);
    g_req.body_total = UINT64_MAX;
    buf b = pack_with(rs__pack_request, &g_req);
    assert_semantic_reject(b.p, b.n, g_req.id);
    free(b.p);

    rs__body_rec br = { .id = 6, .offset = 0, .part = { g_body, RS__PART_BYTES + 1 } };
    b = pack_with(rs__pack_body, &br);
    assert_semantic_reject(b.p, b.n, 6);
    free(b.p);

    sample_completion(&g_comp, 0, 0, RS__PART_BYTES + 1);
    g_comp.body_total = UINT64_MAX;
    b = pack_with(rs__pack_completion, &g_comp);
    assert_semantic_reject(b.p, b.n, g_comp.id);
    free(b.p);
}

static void test_refuse_empty_body_chunk(void **state)
{
    (void)state;
    SEMANTIC_EACH(RS__KIND_BODY, 4, VBINN(0), VS(""));
    accepted(RS__KIND_BODY, 4, VBINN(1));
}

static void test_refuse_timings_wrong_length(void **state)
{
    (void)state;
    SEMANTIC_EACH(RS__KIND_COMPLETION, 8, VARRU(0), VARRU(3), VARRU(5));
    accepted(RS__KIND_COMPLETION, 8, VARRU(4));
}

/* ------------------------------------- malformed: hostile msgpack sizes */

static void test_refuse_huge_array32_count(void **state)
{
    (void)state;
    static const uint8_t root[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01, 0x01 };
    assert_structural_reject(root, sizeof root);
    /* the same declared count as the headers field of a request */
    static const uint8_t field[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
    buf b = build(RS__KIND_REQUEST, 10, VRAW(field, sizeof field));
    assert_structural_reject(b.p, b.n);
    free(b.p);
    /* a count only a little larger than the bytes that follow */
    static const uint8_t near[] = { 0xdd, 0x00, 0x00, 0x00, 0x04, 0x01, 0x01, 0x01 };
    assert_structural_reject(near, sizeof near);
}

static void test_refuse_huge_array16_count(void **state)
{
    (void)state;
    static const uint8_t root[] = { 0xdc, 0xff, 0xff, 0x01, 0x01, 0x01 };
    assert_structural_reject(root, sizeof root);
}

static void test_refuse_huge_map32_count(void **state)
{
    (void)state;
    static const uint8_t root[] = { 0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01 };
    assert_structural_reject(root, sizeof root);
    /* 0x80000000 pairs: 2 * n overflows 32 bits */
    static const uint8_t half[] = { 0xdf, 0x80, 0x00, 0x00, 0x00, 0x01, 0x01 };
    assert_structural_reject(half, sizeof half);
    static const uint8_t field[] = { 0xdf, 0x7f, 0xff, 0xff, 0xff };
    buf b = build(RS__KIND_COMPLETION, 8, VRAW(field, sizeof field));
    assert_structural_reject(b.p, b.n);
    free(b.p);
    /* map16: 3 pairs declared, 2 present */
    static const uint8_t m16[] = { 0xde, 0x00, 0x03, 0x01, 0x01, 0x02, 0x02 };
    assert_structural_reject(m16, sizeof m16);
}

static void test_refuse_deep_nesting(void **state)
{
    (void)state;
    uint8_t p[1001];
    for (size_t depth = 17; depth <= 1000; depth = depth < 40 ? depth + 1 : depth * 2) {
        memset(p, 0x91, depth);     /* [[[[...0...]]]] */
        p[depth] = 0x00;
        assert_structural_reject(p, depth + 1);
    }
    /* same with maps: {0: {0: ...}} */
    uint8_t m[2 * 40 + 1];
    for (size_t k = 0; k < 40; k++) {
        m[2 * k] = 0x81;
        m[2 * k + 1] = 0x00;
    }
    m[80] = 0x00;
    assert_structural_reject(m, sizeof m);
}

static void test_precheck_accepts_shallow_nesting(void **state)
{
    (void)state;
    uint8_t p[9];
    memset(p, 0x91, 8);
    p[8] = 0x00;
    assert_int_equal(precheck(p, sizeof p), 0);
}

static void test_refuse_length_beyond_buffer(void **state)
{
    (void)state;
    static const struct { const char *b; size_t n; } cases[] = {
        { "\xdb\xff\xff\xff\xff" "abc", 8 },   /* str32 */
        { "\xdb\x00\x00\x00\x04" "abc", 8 },   /* str32, one short */
        { "\xc6\xff\xff\xff\xff" "abc", 8 },   /* bin32 */
        { "\xc6\x00\x00\x01\x00" "abc", 8 },
        { "\xda\xff\xff" "ab", 5 },            /* str16 */
        { "\xc5\x00\x09" "ab", 5 },            /* bin16 */
        { "\xd9\x05" "abc", 5 },               /* str8 */
        { "\xc4\x05" "abc", 5 },               /* bin8 */
        { "\xa5" "abc", 4 },                   /* fixstr */
        { "\xc9\xff\xff\xff\xff\x01" "ab", 8 }, /* ext32 */
        { "\xc7\x05\x01" "ab", 5 },            /* ext8 */
        { "\xd8\x01" "abc", 5 },               /* fixext16 */
        { "\xcf\x00\x00", 3 },                 /* uint64 */
        { "\xcb\x00", 2 },                     /* float64 */
        { "\xdb\xff\xff", 3 },                 /* str32 length itself cut */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        assert_structural_reject((const uint8_t *)cases[k].b, cases[k].n);
    /* str32 with a huge length in the path field of a request */
    static const uint8_t field[] = { 0xdb, 0xff, 0xff, 0xff, 0xf0, '/' };
    buf b = build(RS__KIND_REQUEST, 9, VRAW(field, sizeof field));
    assert_structural_reject(b.p, b.n);
    free(b.p);
    /* bin32 in the body part that claims one byte more than is there */
    static const uint8_t chunk[] = { 0xc6, 0x00, 0x00, 0x00, 0x04, 'a', 'b', 'c' };
    b = build(RS__KIND_BODY, 4, VRAW(chunk, sizeof chunk));
    assert_structural_reject(b.p, b.n);
    free(b.p);
}

static void test_refuse_reserved_byte_c1(void **state)
{
    (void)state;
    assert_structural_reject((const uint8_t *)"\xc1", 1);
    static const uint8_t c1 = 0xc1;
    for (int field = 0; field < 13; field++) {
        buf b = build(RS__KIND_REQUEST, field, VRAW(&c1, 1));
        assert_structural_reject(b.p, b.n);
        free(b.p);
    }
}

/* ----------------------------------------------------------- precheck */

static void test_precheck_accepts_valid_records(void **state)
{
    (void)state;
    for (int kind = RS__KIND_REQUEST; kind <= RS__KIND_COMPLETION; kind++) {
        buf b = build(kind, -1, VNIL);
        assert_int_equal(precheck(b.p, b.n), 0);
        free(b.p);
    }
    sample_request(&g_req, RS__MAX_HEADERS, RS__PART_BYTES);
    buf b = pack_with(rs__pack_request, &g_req);
    assert_int_equal(precheck(b.p, b.n), 0);
    free(b.p);
    sample_completion(&g_comp, -3, RS__MAX_HEADERS, RS__PART_BYTES);
    b = pack_with(rs__pack_completion, &g_comp);
    assert_int_equal(precheck(b.p, b.n), 0);
    free(b.p);
}

/* One array holding every msgpack type in every size class. */
static buf pack_all_types(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char *big = filled(70000, 'z', 'z');
    msgpack_pack_array(&pk, 33);
    msgpack_pack_nil(&pk);
    msgpack_pack_true(&pk);
    msgpack_pack_false(&pk);
    msgpack_pack_uint8(&pk, 5);
    msgpack_pack_uint8(&pk, 200);
    msgpack_pack_uint16(&pk, 60000);
    msgpack_pack_uint32(&pk, 4000000000u);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    msgpack_pack_int8(&pk, -5);
    msgpack_pack_int8(&pk, -100);
    msgpack_pack_int16(&pk, -30000);
    msgpack_pack_int32(&pk, INT32_MIN);
    msgpack_pack_int64(&pk, INT64_MIN);
    msgpack_pack_float(&pk, 1.5f);
    msgpack_pack_double(&pk, 2.5);
    static const uint32_t slens[] = { 3, 200, 300, 70000 };
    for (int k = 0; k < 4; k++) {
        msgpack_pack_str(&pk, slens[k]);
        msgpack_pack_str_body(&pk, big, slens[k]);
    }
    for (int k = 1; k < 4; k++) {
        msgpack_pack_bin(&pk, slens[k]);
        msgpack_pack_bin_body(&pk, big, slens[k]);
    }
    static const uint32_t elens[] = { 1, 2, 4, 8, 16, 3, 300, 70000 };
    for (int k = 0; k < 8; k++) {
        msgpack_pack_ext(&pk, elens[k], 7);
        msgpack_pack_ext_body(&pk, big, elens[k]);
    }
    msgpack_pack_array(&pk, 20);      /* array16 */
    for (int k = 0; k < 20; k++)
        msgpack_pack_uint8(&pk, (uint8_t)k);
    msgpack_pack_map(&pk, 16);        /* map16 */
    for (int k = 0; k < 16; k++) {
        msgpack_pack_uint8(&pk, (uint8_t)k);
        msgpack_pack_array(&pk, 0);
    }
    msgpack_pack_map(&pk, 1);         /* fixmap */
    msgpack_pack_nil(&pk);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_true(&pk);
    msgpack_pack_false(&pk);
    free(big);
    buf b = { (uint8_t *)sb.data, sb.size };
    return b;
}

static void test_precheck_accepts_every_msgpack_type(void **state)
{
    (void)state;
    buf b = pack_all_types();
    assert_int_equal(precheck(b.p, b.n), 0);
    /* and msgpack-c agrees this is one value */
    msgpack_zone z;
    msgpack_zone_init(&z, 4096);
    msgpack_object o;
    size_t off = 0;
    assert_int_equal(msgpack_unpack((const char *)b.p, b.n, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, b.n);
    assert_int_equal(o.via.array.size, 33);
    msgpack_zone_destroy(&z);
    free(b.p);
}

static void test_precheck_rejects_every_truncation_of_all_types(void **state)
{
    (void)state;
    buf b = pack_all_types();
    /* every prefix length up to the large tail, then a sampling of the rest */
    for (size_t n = 0; n < b.n; n = n < 2000 ? n + 1 : n + 97)
        assert_int_equal(rs__msgpack_precheck(b.p, n), -1);
    assert_int_equal(rs__msgpack_precheck(b.p, b.n - 1), -1);
    free(b.p);
}

/* -------------------------------------------------------------- fuzzing */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    /* xorshift64*: fixed seed, so every run sees the same inputs */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1Dull;
}

static unsigned long g_fuzz_ok, g_fuzz_refused;

static void check_decode_contract(const uint8_t *p, size_t n)
{
    uint64_t id = 0xFEEDull;
    const char *why;
    uint8_t *copy;
    int rc = decode(p, n, &id, &why, &copy);
    if (rc == 0) {
        g_fuzz_ok++;
        assert_true(g_rec.kind >= RS__KIND_REQUEST && g_rec.kind <= RS__KIND_FLOW);
        if (g_rec.kind == RS__KIND_CANCEL) {
            /* [1, 4, id]: nothing but the id, already reported */
        } else if (g_rec.kind == RS__KIND_FLOW) {
            assert_int_equal(g_rec.u.flow.id, id);
            assert_true(g_rec.u.flow.hold <= 1);
        } else if (g_rec.kind == RS__KIND_CHUNK) {
            assert_int_equal(g_rec.u.chunk.id, id);
            assert_true(g_rec.u.chunk.more <= 1);
            assert_slice_in(g_rec.u.chunk.data, copy, n);
        } else if (g_rec.kind == RS__KIND_REQUEST) {
            const rs__req_rec *q = &g_rec.u.req;
            assert_int_equal(q->id, id);
            assert_true(q->priority <= 2);
            assert_true(q->part.len <= q->body_total);
            assert_true(q->path.len > 0 && q->path.ptr[0] == '/');
            assert_slice_in(q->route, copy, n);
            assert_slice_in(q->model, copy, n);
            assert_slice_in(q->method, copy, n);
            assert_slice_in(q->path, copy, n);
            assert_slice_in(q->part, copy, n);
            assert_headers_in(q->nheaders, q->hname, q->hvalue, copy, n);
        } else if (g_rec.kind == RS__KIND_BODY) {
            assert_int_equal(g_rec.u.body.id, id);
            assert_true(g_rec.u.body.part.len > 0);
            assert_slice_in(g_rec.u.body.part, copy, n);
        } else {
            const rs__comp_rec *q = &g_rec.u.comp;
            assert_int_equal(q->id, id);
            assert_true(q->error <= 0);
            assert_true(q->status <= 999);
            assert_slice_in(q->error_msg, copy, n);
            assert_slice_in(q->upstream, copy, n);
            assert_slice_in(q->part, copy, n);
            assert_headers_in(q->nheaders, q->hname, q->hvalue, copy, n);
        }
    } else {
        g_fuzz_refused++;
        assert_int_equal(rc, RS_EBADREQ);
        assert_non_null(why);   /* decode() cleared it before the call */
        assert_true(why[0] != '\0');
    }
    free(copy);
}

static void test_fuzz_random_bytes(void **state)
{
    (void)state;
    uint8_t p[512];
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = (size_t)(rnd() % 513);
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)rnd();
        /* half the time, start like a record so the decoder gets further */
        if (n >= 4 && (iter & 1)) {
            p[0] = (uint8_t)(0x90 | (rnd() % 16));
            p[1] = 0x01;
            p[2] = (uint8_t)(1 + rnd() % 3);
        }
        check_decode_contract(p, n);
    }
    print_message("random: %lu decoded, %lu refused\n", g_fuzz_ok, g_fuzz_refused);
}

static void mutate_all(const buf *b, int iterations)
{
    uint8_t *p = malloc(b->n);
    assert_non_null(p);
    /* every position gets every interesting byte value once ... */
    static const uint8_t special[] = { 0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                       0xc0, 0xc1, 0xc2, 0xc4, 0xc6, 0xcc, 0xcf, 0xd0, 0xd3,
                                       0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff };
    for (size_t i = 0; i < b->n; i++) {
        for (size_t k = 0; k < sizeof special; k++) {
            memcpy(p, b->p, b->n);
            p[i] = special[k];
            check_decode_contract(p, b->n);
        }
    }
    /* ... then random single-byte mutations */
    for (int it = 0; it < iterations; it++) {
        memcpy(p, b->p, b->n);
        p[rnd() % b->n] = (uint8_t)rnd();
        check_decode_contract(p, b->n);
    }
    free(p);
}

static void test_fuzz_single_byte_mutations(void **state)
{
    (void)state;
    buf recs[5];
    recs[0] = build(RS__KIND_REQUEST, -1, VNIL);
    recs[1] = build(RS__KIND_BODY, -1, VNIL);
    recs[2] = build(RS__KIND_COMPLETION, -1, VNIL);
    sample_request(&g_req, 6, 50);
    recs[3] = pack_with(rs__pack_request, &g_req);
    sample_completion(&g_comp, -16, 6, 50);
    recs[4] = pack_with(rs__pack_completion, &g_comp);
    g_fuzz_ok = g_fuzz_refused = 0;
    for (int k = 0; k < 5; k++) {
        mutate_all(&recs[k], 30000);
        free(recs[k].p);
    }
    print_message("mutations: %lu decoded, %lu refused\n", g_fuzz_ok, g_fuzz_refused);
    /* both outcomes must have been reached, or the loop tested nothing */
    assert_true(g_fuzz_ok > 1000);
    assert_true(g_fuzz_refused > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip_all_fields),
        cmocka_unit_test(test_request_round_trip_no_headers),
        cmocka_unit_test(test_request_round_trip_64_headers),
        cmocka_unit_test(test_request_round_trip_empty_strings_and_body),
        cmocka_unit_test(test_request_round_trip_max_values),
        cmocka_unit_test(test_request_nil_strings_decode_as_empty),
        cmocka_unit_test(test_request_round_trip_through_ring),
        cmocka_unit_test(test_body_round_trip),
        cmocka_unit_test(test_body_round_trip_max_chunk_and_offset),
        cmocka_unit_test(test_completion_round_trip_negative_error),
        cmocka_unit_test(test_completion_round_trip_int32_min_error),
        cmocka_unit_test(test_completion_round_trip_success_64_headers),
        cmocka_unit_test(test_completion_round_trip_timings),
        cmocka_unit_test(test_decoded_slices_point_into_buffer),
        cmocka_unit_test(test_packed_size_equals_bytes_packed),
        cmocka_unit_test(test_refuse_empty_buffer),
        cmocka_unit_test(test_refuse_truncated_request),
        cmocka_unit_test(test_refuse_truncated_body),
        cmocka_unit_test(test_refuse_truncated_completion),
        cmocka_unit_test(test_refuse_trailing_garbage),
        cmocka_unit_test(test_refuse_two_records_in_one_buffer),
        cmocka_unit_test(test_refuse_not_an_array),
        cmocka_unit_test(test_refuse_array_shorter_than_3),
        cmocka_unit_test(test_refuse_too_few_fields_per_kind),
        cmocka_unit_test(test_refuse_wrong_version),
        cmocka_unit_test(test_refuse_unknown_kind),
        cmocka_unit_test(test_cancel_round_trip),
        cmocka_unit_test(test_chunk_round_trip),
        cmocka_unit_test(test_flow_round_trip_and_refusals),
        cmocka_unit_test(test_refuse_bad_chunk),
        cmocka_unit_test(test_refuse_id_not_an_integer_reports_id_0),
        cmocka_unit_test(test_refuse_later_field_still_reports_id),
        cmocka_unit_test(test_refuse_priority_3),
        cmocka_unit_test(test_refuse_negative_integers),
        cmocka_unit_test(test_refuse_overflowing_integers),
        cmocka_unit_test(test_refuse_completion_error_out_of_range),
        cmocka_unit_test(test_refuse_wrong_type_request_fields),
        cmocka_unit_test(test_refuse_wrong_type_body_fields),
        cmocka_unit_test(test_refuse_wrong_type_completion_fields),
        cmocka_unit_test(test_refuse_path_not_starting_with_slash),
        cmocka_unit_test(test_refuse_path_too_long),
        cmocka_unit_test(test_refuse_route_model_method_too_long),
        cmocka_unit_test(test_refuse_error_msg_too_long),
        cmocka_unit_test(test_refuse_odd_header_array),
        cmocka_unit_test(test_refuse_more_than_64_headers),
        cmocka_unit_test(test_refuse_empty_header_name),
        cmocka_unit_test(test_refuse_header_name_not_bytes),
        cmocka_unit_test(test_refuse_first_part_longer_than_body_total),
        cmocka_unit_test(test_refuse_chunk_longer_than_chunk_bytes),
        cmocka_unit_test(test_refuse_empty_body_chunk),
        cmocka_unit_test(test_refuse_timings_wrong_length),
        cmocka_unit_test(test_refuse_huge_array32_count),
        cmocka_unit_test(test_refuse_huge_array16_count),
        cmocka_unit_test(test_refuse_huge_map32_count),
        cmocka_unit_test(test_refuse_deep_nesting),
        cmocka_unit_test(test_precheck_accepts_shallow_nesting),
        cmocka_unit_test(test_refuse_length_beyond_buffer),
        cmocka_unit_test(test_refuse_reserved_byte_c1),
        cmocka_unit_test(test_precheck_accepts_valid_records),
        cmocka_unit_test(test_precheck_accepts_every_msgpack_type),
        cmocka_unit_test(test_precheck_rejects_every_truncation_of_all_types),
        cmocka_unit_test(test_fuzz_random_bytes),
        cmocka_unit_test(test_fuzz_single_byte_mutations),
        /* last: under UBSan it currently aborts the binary (see the test) */
        cmocka_unit_test(test_request_null_empty_chunk_packs),
    };
    return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
