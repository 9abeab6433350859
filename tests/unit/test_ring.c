/*
 * test_ring.c — unit tests of the lock-free byte ring (core/proto/ring.c).
 *
 * Every test builds its own ring on a cache-line-aligned, zeroed data area
 * (a fresh memfd is zero-filled) and checks one behaviour. The last test
 * runs real producer threads against a consumer thread: assertions there are
 * collected by the threads and checked by the main thread after the join,
 * because cmocka's assertions must not fire off the main thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring.h"

/* ------------------------------------------------------------- fixtures */

typedef struct fx {
    rs__ring_hdr *hdr;
    uint8_t *data;
    rs__ring r;
} fx;

static void fx_open(fx *f, uint64_t cap)
{
    f->hdr = aligned_alloc(RS__CACHELINE, sizeof(rs__ring_hdr));
    f->data = aligned_alloc(RS__CACHELINE, (size_t)cap);
    assert_non_null(f->hdr);
    assert_non_null(f->data);
    memset(f->hdr, 0, sizeof(rs__ring_hdr));
    memset(f->data, 0, (size_t)cap);
    rs__ring_init(&f->r, f->hdr, f->data, cap);
}

static void fx_close(fx *f)
{
    free(f->hdr);
    free(f->data);
}

static uint64_t load_head(const fx *f) { return atomic_load(&f->hdr->head); }
static uint64_t load_tail(const fx *f) { return atomic_load(&f->hdr->tail); }

/* A consumer at pos that has handed back everything before it. */
static int peek_at(const rs__ring *r, uint64_t pos, uint32_t max, uint32_t *len)
{
    rs__ring_cursor cur = { pos, pos };
    return rs__ring_peek(r, &cur, max, len);
}

/* Hand back [from, to). */
static int release_span(rs__ring *r, uint64_t from, uint64_t to)
{
    rs__ring_cursor cur = { to, from };
    return rs__ring_release(r, &cur);
}

static uint64_t frame_word_at(const fx *f, uint64_t pos)
{
    uint64_t w;
    memcpy(&w, f->data + (pos & (f->r.cap - 1)), sizeof w);
    return w;
}

static void set_frame_word(fx *f, uint64_t pos, uint64_t w)
{
    memcpy(f->data + (pos & (f->r.cap - 1)), &w, sizeof w);
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7u + (i >> 8));
}

/* Producer side of one record: reserve, copy the payload, commit. */
static uint64_t produce(fx *f, const void *payload, uint32_t len)
{
    uint64_t pos = 0;
    assert_int_equal(rs__ring_reserve_mp(&f->r, rs__rec_span(len), &pos), 0);
    rs__ring_copy_in(&f->r, pos + RS__FRAME_BYTES, payload, len);
    rs__ring_commit(&f->r, pos, len);
    return pos;
}

/* Consumer side of one record at *tail: peek, copy out, release. */
static uint32_t consume(fx *f, uint64_t *tail, void *out, uint32_t max)
{
    uint32_t len = 0;
    assert_int_equal(peek_at(&f->r, *tail, max, &len), 1);
    assert_true(len <= max);
    rs__ring_copy_out(&f->r, *tail + RS__FRAME_BYTES, out, len);
    uint64_t next = *tail + rs__rec_span(len);
    release_span(&f->r, *tail, next);
    *tail = next;
    return len;
}

/* Move an empty ring's positions to `pos` (as if earlier laps had run). */
static void fx_seek(fx *f, uint64_t pos)
{
    atomic_store(&f->hdr->head, pos);
    atomic_store(&f->hdr->tail, pos);
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* ------------------------------------------------------------ rec_span */

static void test_rec_span_small_values(void **state)
{
    (void)state;
    assert_int_equal(rs__rec_span(0), 8);
    assert_int_equal(rs__rec_span(1), 16);
    assert_int_equal(rs__rec_span(7), 16);
    assert_int_equal(rs__rec_span(8), 16);
    assert_int_equal(rs__rec_span(9), 24);
    assert_int_equal(rs__rec_span(16), 24);
    assert_int_equal(rs__rec_span(17), 32);
}

static void test_rec_span_is_frame_plus_padded_payload(void **state)
{
    (void)state;
    for (uint64_t len = 0; len < 5000; len++) {
        uint64_t s = rs__rec_span(len);
        assert_int_equal(s % 8, 0);
        assert_true(s >= len + RS__FRAME_BYTES);
        assert_true(s < len + RS__FRAME_BYTES + 8);
    }
}

static void test_rec_span_large_lengths_do_not_wrap(void **state)
{
    (void)state;
    assert_int_equal(rs__rec_span(UINT32_MAX), 8u + 0x100000000ull);
    assert_int_equal(rs__rec_span(UINT32_MAX - 7u), 8u + 0xFFFFFFF8ull);
    assert_int_equal(rs__rec_span(1ull << 40), 8u + (1ull << 40));
}

/* ---------------------------------------------------------- round trip */

static void test_round_trip_one_record(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint8_t in[100], out[100];
    fill_pattern(in, sizeof in, 3);

    uint64_t pos = 99;
    assert_int_equal(rs__ring_reserve_mp(&f.r, rs__rec_span(sizeof in), &pos), 0);
    assert_int_equal(pos, 0);
    assert_int_equal(load_head(&f), rs__rec_span(sizeof in));
    rs__ring_copy_in(&f.r, pos + RS__FRAME_BYTES, in, sizeof in);
    rs__ring_commit(&f.r, pos, sizeof in);
    assert_int_equal(frame_word_at(&f, 0), ((uint64_t)RS__FRAME_MAGIC << 32) | sizeof in);

    uint32_t len = 0;
    assert_int_equal(peek_at(&f.r, 0, 4096, &len), 1);
    assert_int_equal(len, sizeof in);
    memset(out, 0, sizeof out);
    rs__ring_copy_out(&f.r, RS__FRAME_BYTES, out, len);
    assert_memory_equal(in, out, sizeof in);

    release_span(&f.r, 0, rs__rec_span(len));
    assert_int_equal(load_tail(&f), rs__rec_span(sizeof in));
    /* the consumed span is zero again, and nothing follows it */
    assert_true(all_zero(f.data, 4096));
    assert_int_equal(peek_at(&f.r, rs__rec_span(len), 4096, &len), 0);
    fx_close(&f);
}

static void test_round_trip_zero_length_record(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint64_t pos = produce(&f, "", 0);
    assert_int_equal(load_head(&f), 8);
    uint32_t len = 77;
    /* a committed empty record is still a record: the mark makes it nonzero */
    assert_int_equal(peek_at(&f.r, pos, 4096, &len), 1);
    assert_int_equal(len, 0);
    fx_close(&f);
}

static void test_round_trip_fifo_order(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint8_t in[3][40], out[40];
    const uint32_t lens[3] = { 1, 17, 40 };
    for (int k = 0; k < 3; k++) {
        fill_pattern(in[k], sizeof in[k], (uint8_t)(50 * k));
        produce(&f, in[k], lens[k]);
    }
    uint64_t tail = 0;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(consume(&f, &tail, out, sizeof out), lens[k]);
        assert_memory_equal(in[k], out, lens[k]);
    }
    assert_int_equal(tail, load_head(&f));
    assert_int_equal(load_tail(&f), tail);
    fx_close(&f);
}

/* ----------------------------------------------------------- wrapping */

static void test_copy_in_out_wraps_at_end(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint8_t in[100], out[100];
    fill_pattern(in, sizeof in, 9);
    rs__ring_copy_in(&f.r, 3 * 4096 + 4096 - 30, in, sizeof in);
    assert_memory_equal(f.data + 4096 - 30, in, 30);
    assert_memory_equal(f.data, in + 30, 70);
    assert_true(all_zero(f.data + 70, 4096 - 30 - 70));
    rs__ring_copy_out(&f.r, 4096 - 30, out, sizeof out);
    assert_memory_equal(in, out, sizeof in);
    fx_close(&f);
}

static void test_wrap_payload_split_across_end(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    /* frame at cap-24: 16 payload bytes before the end, the rest at 0 */
    fx_seek(&f, 4096 - 24);
    uint8_t in[40], out[40];
    fill_pattern(in, sizeof in, 1);
    uint64_t pos = produce(&f, in, sizeof in);
    assert_int_equal(pos, 4096 - 24);
    assert_memory_equal(f.data + 4096 - 16, in, 16);
    assert_memory_equal(f.data, in + 16, 24);
    assert_int_equal(load_head(&f), 4096 - 24 + 48);

    uint64_t tail = pos;
    assert_int_equal(consume(&f, &tail, out, sizeof out), sizeof in);
    assert_memory_equal(in, out, sizeof in);
    assert_int_equal(tail, 4096 + 24);
    assert_true(all_zero(f.data, 4096));   /* both halves were zeroed */
    fx_close(&f);
}

static void test_wrap_frame_in_last_8_bytes(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    fx_seek(&f, 5 * 4096 - 8);
    uint8_t in[20], out[20];
    fill_pattern(in, sizeof in, 77);
    uint64_t pos = produce(&f, in, sizeof in);
    assert_int_equal(pos & 4095, 4096 - 8);
    assert_int_equal(frame_word_at(&f, pos), ((uint64_t)RS__FRAME_MAGIC << 32) | sizeof in);
    assert_memory_equal(f.data, in, sizeof in);   /* payload starts at 0 */

    uint64_t tail = pos;
    assert_int_equal(consume(&f, &tail, out, sizeof out), sizeof in);
    assert_memory_equal(in, out, sizeof in);
    assert_int_equal(tail, 5 * 4096 + 24);
    assert_true(all_zero(f.data, 4096));
    fx_close(&f);
}

static void test_wrap_record_ending_exactly_at_end(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    fx_seek(&f, 4096 - 32);
    uint8_t in[24], out[24];
    fill_pattern(in, sizeof in, 5);
    produce(&f, in, sizeof in);
    assert_int_equal(load_head(&f), 4096);
    uint64_t tail = 4096 - 32;
    consume(&f, &tail, out, sizeof out);
    assert_memory_equal(in, out, sizeof in);
    /* the next frame is at offset 0 of the next lap and is empty */
    uint32_t len;
    assert_int_equal(peek_at(&f.r, tail, 4096, &len), 0);
    fx_close(&f);
}

static void test_wrap_many_laps_varied_sizes(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint8_t in[700], out[700];
    uint64_t tail = 0;
    for (uint32_t k = 0; k < 2000; k++) {
        uint32_t len = (k * 37u) % 700u;
        fill_pattern(in, len, (uint8_t)k);
        produce(&f, in, len);
        memset(out, 0xEE, sizeof out);
        assert_int_equal(consume(&f, &tail, out, sizeof out), len);
        assert_memory_equal(in, out, len);
    }
    assert_true(tail > 50 * 4096);     /* really went round many times */
    assert_true(all_zero(f.data, 4096));
    fx_close(&f);
}

/* ------------------------------------------------------------ fullness */

static void test_full_ring_refuses_reserve(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint64_t pos = 12345;
    assert_int_equal(rs__ring_reserve_mp(&f.r, 4096 - 8, &pos), 0);
    assert_int_equal(rs__ring_reserve_mp(&f.r, 16, &pos), -1);
    assert_int_equal(pos, 0);                     /* untouched on refusal */
    assert_int_equal(load_head(&f), 4096 - 8);    /* nothing reserved */
    assert_int_equal(rs__ring_reserve_mp(&f.r, 8, &pos), 0);
    assert_int_equal(pos, 4096 - 8);
    assert_int_equal(rs__ring_reserve_mp(&f.r, 8, &pos), -1);
    fx_close(&f);
}

static void test_reserve_more_than_capacity_refused(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint64_t pos;
    assert_int_equal(rs__ring_reserve_mp(&f.r, 4096 + 8, &pos), -1);
    assert_int_equal(rs__ring_reserve_mp(&f.r, UINT64_MAX - 7, &pos), -1);
    assert_int_equal(load_head(&f), 0);
    assert_int_equal(rs__ring_reserve_mp(&f.r, 4096, &pos), 0);
    fx_close(&f);
}

static void test_full_ring_accepts_after_release(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint8_t in[120], out[120];
    fill_pattern(in, sizeof in, 11);
    int n = 0;
    uint64_t pos;
    while (rs__ring_reserve_mp(&f.r, rs__rec_span(sizeof in), &pos) == 0) {
        rs__ring_copy_in(&f.r, pos + RS__FRAME_BYTES, in, sizeof in);
        rs__ring_commit(&f.r, pos, sizeof in);
        n++;
    }
    assert_int_equal(n, 4096 / 128);
    uint64_t tail = 0;
    consume(&f, &tail, out, sizeof out);
    assert_memory_equal(in, out, sizeof in);
    /* exactly one record's room came back */
    assert_int_equal(rs__ring_reserve_mp(&f.r, 128 + 8, &pos), -1);
    assert_int_equal(rs__ring_reserve_mp(&f.r, 128, &pos), 0);
    assert_int_equal(pos, 4096);
    assert_int_equal(rs__ring_reserve_mp(&f.r, 8, &pos), -1);
    fx_close(&f);
}

/* ------------------------------------------------------------ peek: 0 */

static void test_peek_empty_ring_returns_0(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint32_t len = 5;
    assert_int_equal(peek_at(&f.r, 0, 4096, &len), 0);
    assert_int_equal(peek_at(&f.r, 7 * 4096 + 64, 4096, &len), 0);
    fx_close(&f);
}

static void test_peek_reserved_uncommitted_returns_0(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint8_t in[64];
    fill_pattern(in, sizeof in, 1);
    uint64_t pos;
    assert_int_equal(rs__ring_reserve_mp(&f.r, rs__rec_span(sizeof in), &pos), 0);
    rs__ring_copy_in(&f.r, pos + RS__FRAME_BYTES, in, sizeof in);
    uint32_t len;
    assert_int_equal(peek_at(&f.r, pos, 4096, &len), 0);
    rs__ring_commit(&f.r, pos, sizeof in);
    assert_int_equal(peek_at(&f.r, pos, 4096, &len), 1);
    assert_int_equal(len, sizeof in);
    fx_close(&f);
}

static void test_peek_later_commit_does_not_unblock_earlier(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint64_t a, b;
    assert_int_equal(rs__ring_reserve_mp(&f.r, 16, &a), 0);
    assert_int_equal(rs__ring_reserve_mp(&f.r, 16, &b), 0);
    rs__ring_copy_in(&f.r, b + 8, "second", 6);
    rs__ring_commit(&f.r, b, 6);
    uint32_t len;
    assert_int_equal(peek_at(&f.r, a, 4096, &len), 0);
    assert_int_equal(peek_at(&f.r, b, 4096, &len), 1);
    fx_close(&f);
}

static void test_peek_released_space_reads_0_next_lap(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    /* lap 1: fill the whole ring with records of several sizes */
    uint8_t in[200], out[200];
    uint64_t tail = 0;
    uint32_t k = 0;
    while (load_head(&f) + rs__rec_span(200) <= 4096) {
        uint32_t len = 1 + (k++ * 53u) % 200u;
        fill_pattern(in, len, 0xA5);
        produce(&f, in, len);
    }
    while (tail < load_head(&f))
        consume(&f, &tail, out, sizeof out);
    assert_true(all_zero(f.data, 4096));
    /* lap 2: no 8-aligned position of the ring reads as a record */
    uint32_t len;
    for (uint64_t off = 0; off < 4096; off += 8)
        assert_int_equal(peek_at(&f.r, 4096 + off, UINT32_MAX, &len), 0);
    fx_close(&f);
}

static void test_peek_stale_frame_lookalike_not_a_record(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    /* lap 1: a payload that carries a perfect committed frame word at a
     * position that will be a frame position in lap 2 */
    uint64_t fake = ((uint64_t)RS__FRAME_MAGIC << 32) | 5u;
    uint8_t in[64], out[64];
    memset(in, 0x41, sizeof in);
    memcpy(in + 8, &fake, 8);          /* lands at ring offset 16 */
    uint64_t tail = 0;
    produce(&f, in, sizeof in);
    consume(&f, &tail, out, sizeof out);
    assert_int_equal(tail, 72);
    /* lap 2 starts at offset 0: one 8-byte record, then the consumer
     * looks at offset 16, where the lookalike used to be */
    fx_seek(&f, 4096);
    tail = 4096;
    produce(&f, "12345678", 8);
    consume(&f, &tail, out, sizeof out);
    assert_int_equal(tail & 4095, 16);
    uint32_t len = 0;
    assert_int_equal(peek_at(&f.r, tail, 4096, &len), 0);
    fx_close(&f);
}

/* ----------------------------------------------------------- peek: -1 */

static void test_peek_bad_commit_mark(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint32_t len = 0;
    set_frame_word(&f, 0, 16);                                    /* no mark */
    assert_int_equal(peek_at(&f.r, 0, 4096, &len), -1);
    set_frame_word(&f, 0, ((uint64_t)(RS__FRAME_MAGIC + 1) << 32) | 16);
    assert_int_equal(peek_at(&f.r, 0, 4096, &len), -1);
    set_frame_word(&f, 0, (uint64_t)RS__FRAME_MAGIC);            /* mark in low half */
    assert_int_equal(peek_at(&f.r, 0, 4096, &len), -1);
    set_frame_word(&f, 0, UINT64_MAX);
    assert_int_equal(peek_at(&f.r, 0, 4096, &len), -1);
    set_frame_word(&f, 0, ((uint64_t)RS__FRAME_MAGIC << 32) | 16);
    assert_int_equal(peek_at(&f.r, 0, 4096, &len), 1);
    assert_int_equal(len, 16);
    fx_close(&f);
}

static void test_peek_length_over_max_len(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint8_t in[100];
    fill_pattern(in, sizeof in, 2);
    produce(&f, in, sizeof in);
    uint32_t len = 0;
    assert_int_equal(peek_at(&f.r, 0, 99, &len), -1);
    assert_int_equal(peek_at(&f.r, 0, 0, &len), -1);
    assert_int_equal(peek_at(&f.r, 0, 100, &len), 1);
    assert_int_equal(len, 100);
    fx_close(&f);
}

static void test_peek_length_over_capacity(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint32_t len = 0;
    /* cap - 8 payload bytes: the span is exactly the ring */
    set_frame_word(&f, 0, ((uint64_t)RS__FRAME_MAGIC << 32) | (4096 - 8));
    assert_int_equal(peek_at(&f.r, 0, UINT32_MAX, &len), 1);
    assert_int_equal(len, 4096 - 8);
    /* one byte more pads to a span of cap + 8: can never be in the ring */
    set_frame_word(&f, 0, ((uint64_t)RS__FRAME_MAGIC << 32) | (4096 - 7));
    assert_int_equal(peek_at(&f.r, 0, UINT32_MAX, &len), -1);
    set_frame_word(&f, 0, ((uint64_t)RS__FRAME_MAGIC << 32) | UINT32_MAX);
    assert_int_equal(peek_at(&f.r, 0, UINT32_MAX, &len), -1);
    fx_close(&f);
}

/* ------------------------------------------------- one lap unreleased */

/* Fill the ring with n committed records of cap / n bytes each. */
static void fill_lap(fx *f, unsigned n)
{
    uint32_t len = (uint32_t)(f->r.cap / n - RS__FRAME_BYTES);
    uint8_t *p = calloc(1, len);
    assert_non_null(p);
    for (unsigned i = 0; i < n; i++) {
        p[0] = (uint8_t)i;
        produce(f, p, len);
    }
    free(p);
    assert_int_equal(load_head(f) - load_tail(f), f->r.cap);
}

static void test_a_consumer_never_reads_past_one_unreleased_lap(void **state)
{
    (void)state;
    /* issue #12: a full lap read in one go; the frames read are zeroed
     * only at release, so at pos = released + cap the first record's
     * frame still looks committed */
    for (uint64_t start = 0; start < 3 * 4096; start += 4096 + 40) {
        fx f;
        fx_open(&f, 4096);
        fx_seek(&f, start);
        fill_lap(&f, 4);
        rs__ring_cursor cur = { start, start };
        uint8_t out[4096];
        uint32_t len;
        for (unsigned i = 0; i < 4; i++) {
            assert_int_equal(rs__ring_peek(&f.r, &cur, 4096, &len), 1);
            rs__ring_take(&f.r, &cur, out, len);
            assert_int_equal(out[0], i);
        }
        assert_int_equal(cur.pos - cur.released, 4096);
        assert_true(frame_word_at(&f, cur.pos) != 0);   /* the stale first frame */
        assert_int_equal(rs__ring_peek(&f.r, &cur, 4096, &len), 0);
        assert_int_equal(rs__ring_release(&f.r, &cur), 0);
        assert_int_equal(load_tail(&f), start + 4096);
        assert_true(all_zero(f.data, 4096));
        assert_int_equal(rs__ring_peek(&f.r, &cur, 4096, &len), 0);
        fx_close(&f);
    }
}

static void test_a_record_ending_past_the_unreleased_lap_is_corrupt(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint8_t p[1000] = { 0 };
    produce(&f, p, sizeof p);   /* span 1008 */
    rs__ring_cursor cur = { 0, 0 };
    uint32_t len;
    uint8_t out[1000];
    assert_int_equal(rs__ring_peek(&f.r, &cur, 4096, &len), 1);
    rs__ring_take(&f.r, &cur, out, len);
    /* not released: 4096 - 1008 bytes may still be read; a frame claiming
     * one record more than that is corrupt, exactly that much is fine */
    set_frame_word(&f, cur.pos, ((uint64_t)RS__FRAME_MAGIC << 32) | (4096 - 1008 - 8 + 1));
    assert_int_equal(rs__ring_peek(&f.r, &cur, UINT32_MAX, &len), -1);
    set_frame_word(&f, cur.pos, ((uint64_t)RS__FRAME_MAGIC << 32) | (4096 - 1008 - 8));
    assert_int_equal(rs__ring_peek(&f.r, &cur, UINT32_MAX, &len), 1);
    /* once released, the whole ring is open to it again */
    assert_int_equal(rs__ring_release(&f.r, &cur), 0);
    set_frame_word(&f, cur.pos, ((uint64_t)RS__FRAME_MAGIC << 32) | (4096 - 8));
    assert_int_equal(rs__ring_peek(&f.r, &cur, UINT32_MAX, &len), 1);
    fx_close(&f);
}

static void test_release_of_an_impossible_span_touches_nothing(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    memset(f.data, 0xee, 4096);
    atomic_store(&f.hdr->tail, 123);
    rs__ring_cursor more_than_a_lap = { 4096 + 8, 0 }, backwards = { 0, 8 };
    assert_int_equal(rs__ring_release(&f.r, &more_than_a_lap), -1);
    assert_int_equal(rs__ring_release(&f.r, &backwards), -1);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(f.data[i], 0xee);
    assert_int_equal(load_tail(&f), 123);
    assert_int_equal(more_than_a_lap.released, 0);
    rs__ring_cursor lap = { 4096 + 16, 16 };
    assert_int_equal(rs__ring_release(&f.r, &lap), 0);
    assert_true(all_zero(f.data, 4096));
    assert_int_equal(load_tail(&f), 4096 + 16);
    fx_close(&f);
}

/* ---------------------------------------------------------- reserve_sp */

static void test_reserve_sp_advances_private_head(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint64_t head = 0, pos = 1;
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 48, &pos), 0);
    assert_int_equal(pos, 0);
    assert_int_equal(head, 48);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 16, &pos), 0);
    assert_int_equal(pos, 48);
    assert_int_equal(head, 64);
    assert_int_equal(load_head(&f), 64);   /* published for information */
    fx_close(&f);
}

static void test_reserve_sp_ignores_shared_head(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    /* a hostile peer scribbles on the shared head: the private one rules */
    atomic_store(&f.hdr->head, 1000000);
    uint64_t head = 64, pos;
    atomic_store(&f.hdr->tail, 64);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 4096, &pos), 0);
    assert_int_equal(pos, 64);
    assert_int_equal(head, 64 + 4096);
    fx_close(&f);
}

/* The shared tail is read (and checked) when the cached one leaves too
 * little space: ask for the whole ring so that it must be. */
static void test_reserve_sp_tail_ahead_of_head_is_corrupt(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint64_t head = 256, pos = 7;
    atomic_store(&f.hdr->tail, 264);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 4096, &pos), -2);
    atomic_store(&f.hdr->tail, UINT64_MAX);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 4096, &pos), -2);
    assert_int_equal(head, 256);
    assert_int_equal(pos, 7);
    fx_close(&f);
}

static void test_reserve_sp_tail_more_than_cap_behind_is_corrupt(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint64_t head = 10 * 4096, pos = 7;
    atomic_store(&f.hdr->tail, head - 4096 - 8);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 8, &pos), -2);
    atomic_store(&f.hdr->tail, 0);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 8, &pos), -2);
    /* exactly one lap behind is a full ring, not corruption */
    atomic_store(&f.hdr->tail, head - 4096);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 8, &pos), -1);
    assert_int_equal(head, 10 * 4096);
    assert_int_equal(pos, 7);
    fx_close(&f);
}

/* While the cached tail leaves room, the shared tail is not read at all:
 * a tail scribbled in the meantime is caught at the next real read. */
static void test_reserve_sp_reads_shared_tail_only_when_full(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint64_t head = 0, pos;
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 4096 - 64, &pos), 0);
    release_span(&f.r, 0, 4096 - 64);
    atomic_store(&f.hdr->tail, UINT64_MAX);   /* scribbled after the release */
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 64, &pos), 0);
    assert_int_equal(pos, 4096 - 64);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 8, &pos), -2);   /* cache says full: reads it */
    atomic_store(&f.hdr->tail, 4096 - 64);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 4096 - 64, &pos), 0);
    assert_int_equal(pos, 4096);
    fx_close(&f);
}

/* The multi-producer reservation also works from its cached tail, and a
 * release seen only through the shared tail still frees the space. */
static void test_reserve_mp_refreshes_cached_tail_when_full(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint64_t pos;
    assert_int_equal(rs__ring_reserve_mp(&f.r, 4096, &pos), 0);
    assert_int_equal(rs__ring_reserve_mp(&f.r, 8, &pos), -1);
    release_span(&f.r, 0, 1024);
    assert_int_equal(rs__ring_reserve_mp(&f.r, 1024, &pos), 0);
    assert_int_equal(pos, 4096);
    assert_int_equal(rs__ring_reserve_mp(&f.r, 8, &pos), -1);
    fx_close(&f);
}

static void test_reserve_sp_full_then_space_after_release(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    uint64_t head = 0, pos;
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 4096 - 16, &pos), 0);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 24, &pos), -1);
    assert_int_equal(head, 4096 - 16);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 16, &pos), 0);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 8, &pos), -1);
    release_span(&f.r, 0, 32);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 40, &pos), -1);
    assert_int_equal(rs__ring_reserve_sp(&f.r, &head, 32, &pos), 0);
    assert_int_equal(pos, 4096);
    fx_close(&f);
}

/* ------------------------------------------------------------- wakeups */

static void test_wake_needed_false_when_not_armed(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    assert_false(rs__ring_wake_needed(&f.r, RS__RING_NEED_WAKEUP));
    assert_false(rs__ring_wake_needed(&f.r, RS__RING_PRODUCER_WAITING));
    fx_close(&f);
}

static void test_arm_then_wake_needed_once(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    rs__ring_arm(&f.r, RS__RING_NEED_WAKEUP);
    assert_int_equal(atomic_load(&f.hdr->flags), RS__RING_NEED_WAKEUP);
    assert_true(rs__ring_wake_needed(&f.r, RS__RING_NEED_WAKEUP));
    assert_int_equal(atomic_load(&f.hdr->flags), 0);
    assert_false(rs__ring_wake_needed(&f.r, RS__RING_NEED_WAKEUP));
    fx_close(&f);
}

static void test_wake_flags_are_independent(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    rs__ring_arm(&f.r, RS__RING_PRODUCER_WAITING);
    assert_false(rs__ring_wake_needed(&f.r, RS__RING_NEED_WAKEUP));
    rs__ring_arm(&f.r, RS__RING_NEED_WAKEUP);
    assert_true(rs__ring_wake_needed(&f.r, RS__RING_NEED_WAKEUP));
    assert_int_equal(atomic_load(&f.hdr->flags), RS__RING_PRODUCER_WAITING);
    assert_true(rs__ring_wake_needed(&f.r, RS__RING_PRODUCER_WAITING));
    assert_false(rs__ring_wake_needed(&f.r, RS__RING_PRODUCER_WAITING));
    assert_int_equal(atomic_load(&f.hdr->flags), 0);
    fx_close(&f);
}

static void test_disarm_clears_flag(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, 4096);
    rs__ring_arm(&f.r, RS__RING_NEED_WAKEUP | RS__RING_PRODUCER_WAITING);
    rs__ring_disarm(&f.r, RS__RING_NEED_WAKEUP);
    assert_false(rs__ring_wake_needed(&f.r, RS__RING_NEED_WAKEUP));
    assert_int_equal(atomic_load(&f.hdr->flags), RS__RING_PRODUCER_WAITING);
    fx_close(&f);
}

/* ------------------------------------------------ concurrent producers */

#define MP_THREADS  4
#define MP_RECORDS  100000u
#define MP_MAXLEN   300u
#define MP_CAP      (64u * 1024u)

/* Size and content are functions of (thread, seq), so the consumer can check
 * every byte. Byte 0 names the thread (low 2 bits) and carries the low bits
 * of seq; bytes 1..4 carry seq in full when the record is long enough. */
static uint32_t mix(uint32_t t, uint32_t s)
{
    uint32_t x = t * 0x9E3779B1u ^ (s + 0x7F4A7C15u) * 0x85EBCA77u;
    x ^= x >> 15;
    x *= 0x2C1B3C6Du;
    x ^= x >> 12;
    return x;
}

static uint32_t mp_len(uint32_t t, uint32_t s) { return 1 + mix(t, s) % MP_MAXLEN; }

static void mp_fill(uint8_t *p, uint32_t t, uint32_t s)
{
    uint32_t m = mix(t, s);
    uint32_t n = 1 + m % MP_MAXLEN;
    p[0] = (uint8_t)(t | (s << 2));
    for (uint32_t i = 1; i < n; i++)
        p[i] = i <= 4 ? (uint8_t)(s >> (8 * (i - 1))) : (uint8_t)((m >> (i % 24)) ^ i);
}

typedef struct mp_shared {
    rs__ring r;
    _Atomic int stop;
    _Atomic int prod_errors;
    /* consumer results, read after join */
    uint32_t got[MP_THREADS];
    uint64_t total;
    int bad_peek, bad_len, bad_content, bad_order, timed_out;
} mp_shared;

typedef struct mp_arg {
    mp_shared *sh;
    uint32_t tid;
} mp_arg;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *mp_producer(void *p)
{
    mp_arg *a = p;
    uint8_t buf[MP_MAXLEN];
    for (uint32_t s = 0; s < MP_RECORDS; s++) {
        uint32_t n = mp_len(a->tid, s);
        mp_fill(buf, a->tid, s);
        uint64_t pos;
        unsigned spins = 0;
        while (rs__ring_reserve_mp(&a->sh->r, rs__rec_span(n), &pos) < 0) {
            if (atomic_load(&a->sh->stop))
                return NULL;
            if (++spins % 16 == 0)
                sched_yield();
        }
        rs__ring_copy_in(&a->sh->r, pos + RS__FRAME_BYTES, buf, n);
        rs__ring_commit(&a->sh->r, pos, n);
    }
    return NULL;
}

static void *mp_consumer(void *p)
{
    mp_shared *sh = p;
    uint8_t buf[MP_MAXLEN], want[MP_MAXLEN];
    uint64_t tail = atomic_load(&sh->r.hdr->tail);
    const uint64_t expect = (uint64_t)MP_THREADS * MP_RECORDS;
    double deadline = now_s() + 90.0;
    unsigned idle = 0;
    while (sh->total < expect) {
        uint32_t len = 0;
        int rc = peek_at(&sh->r, tail, MP_MAXLEN, &len);
        if (rc < 0) {
            sh->bad_peek++;
            break;
        }
        if (rc == 0) {
            if (++idle % 16 == 0) {
                sched_yield();
                if (idle % 4096 == 0 && now_s() > deadline) {
                    sh->timed_out = 1;
                    break;
                }
            }
            continue;
        }
        idle = 0;
        rs__ring_copy_out(&sh->r, tail + RS__FRAME_BYTES, buf, len);
        uint64_t next = tail + rs__rec_span(len);
        release_span(&sh->r, tail, next);
        tail = next;
        sh->total++;

        if (len == 0) {
            sh->bad_len++;
            continue;
        }
        uint32_t t = buf[0] & 3u;
        uint32_t s = sh->got[t];
        if (s >= MP_RECORDS) {
            sh->bad_order++;
            continue;
        }
        sh->got[t]++;
        if (len != mp_len(t, s)) {
            sh->bad_len++;
            continue;
        }
        mp_fill(want, t, s);
        if (memcmp(buf, want, len) != 0)
            sh->bad_content++;
    }
    atomic_store(&sh->stop, 1);
    return NULL;
}

static void test_concurrent_producers_one_consumer(void **state)
{
    (void)state;
    fx f;
    fx_open(&f, MP_CAP);
    mp_shared *sh = calloc(1, sizeof *sh);
    assert_non_null(sh);
    sh->r = f.r;
    pthread_t prod[MP_THREADS], cons;
    mp_arg args[MP_THREADS];
    assert_int_equal(pthread_create(&cons, NULL, mp_consumer, sh), 0);
    for (uint32_t t = 0; t < MP_THREADS; t++) {
        args[t].sh = sh;
        args[t].tid = t;
        assert_int_equal(pthread_create(&prod[t], NULL, mp_producer, &args[t]), 0);
    }
    for (int t = 0; t < MP_THREADS; t++)
        pthread_join(prod[t], NULL);
    pthread_join(cons, NULL);

    assert_int_equal(sh->timed_out, 0);
    assert_int_equal(sh->bad_peek, 0);
    assert_int_equal(sh->bad_len, 0);
    assert_int_equal(sh->bad_order, 0);
    assert_int_equal(sh->bad_content, 0);
    assert_int_equal(sh->total, (uint64_t)MP_THREADS * MP_RECORDS);
    for (int t = 0; t < MP_THREADS; t++)
        assert_int_equal(sh->got[t], MP_RECORDS);
    /* the ring is drained: positions meet and every byte is zero again */
    assert_int_equal(load_head(&f), load_tail(&f));
    assert_true(all_zero(f.data, MP_CAP));
    free(sh);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rec_span_small_values),
        cmocka_unit_test(test_rec_span_is_frame_plus_padded_payload),
        cmocka_unit_test(test_rec_span_large_lengths_do_not_wrap),
        cmocka_unit_test(test_round_trip_one_record),
        cmocka_unit_test(test_round_trip_zero_length_record),
        cmocka_unit_test(test_round_trip_fifo_order),
        cmocka_unit_test(test_copy_in_out_wraps_at_end),
        cmocka_unit_test(test_wrap_payload_split_across_end),
        cmocka_unit_test(test_wrap_frame_in_last_8_bytes),
        cmocka_unit_test(test_wrap_record_ending_exactly_at_end),
        cmocka_unit_test(test_wrap_many_laps_varied_sizes),
        cmocka_unit_test(test_full_ring_refuses_reserve),
        cmocka_unit_test(test_reserve_more_than_capacity_refused),
        cmocka_unit_test(test_full_ring_accepts_after_release),
        cmocka_unit_test(test_peek_empty_ring_returns_0),
        cmocka_unit_test(test_peek_reserved_uncommitted_returns_0),
        cmocka_unit_test(test_peek_later_commit_does_not_unblock_earlier),
        cmocka_unit_test(test_peek_released_space_reads_0_next_lap),
        cmocka_unit_test(test_peek_stale_frame_lookalike_not_a_record),
        cmocka_unit_test(test_peek_bad_commit_mark),
        cmocka_unit_test(test_peek_length_over_max_len),
        cmocka_unit_test(test_peek_length_over_capacity),
        cmocka_unit_test(test_a_consumer_never_reads_past_one_unreleased_lap),
        cmocka_unit_test(test_a_record_ending_past_the_unreleased_lap_is_corrupt),
        cmocka_unit_test(test_release_of_an_impossible_span_touches_nothing),
        cmocka_unit_test(test_reserve_sp_advances_private_head),
        cmocka_unit_test(test_reserve_sp_ignores_shared_head),
        cmocka_unit_test(test_reserve_sp_tail_ahead_of_head_is_corrupt),
        cmocka_unit_test(test_reserve_sp_tail_more_than_cap_behind_is_corrupt),
        cmocka_unit_test(test_reserve_sp_reads_shared_tail_only_when_full),
        cmocka_unit_test(test_reserve_mp_refreshes_cached_tail_when_full),
        cmocka_unit_test(test_reserve_sp_full_then_space_after_release),
        cmocka_unit_test(test_wake_needed_false_when_not_armed),
        cmocka_unit_test(test_arm_then_wake_needed_once),
        cmocka_unit_test(test_wake_flags_are_independent),
        cmocka_unit_test(test_disarm_clears_flag),
        cmocka_unit_test(test_concurrent_producers_one_consumer),
    };
    return cmocka_run_group_tests_name("ring", tests, NULL, NULL);
}
