/*
 * ring.h — the lock-free byte ring that carries records through shared memory.
 *
 * One ring = a header (producer position, consumer position, wakeup flags,
 * each on its own cache line) and a power-of-two data area. Positions are
 * free-running 64-bit byte counters; `pos & (cap - 1)` is the offset.
 *
 * A record is an 8-byte frame word followed by its payload, padded to 8
 * bytes. The frame word holds the payload length and a commit mark; a
 * producer stores it last, with release order, so a consumer that sees the
 * mark sees the payload. Producers reserve space with one CAS on `head` and
 * never wait for each other (a thread preempted mid-write holds back only the
 * consumer, never another producer). The consumer zeroes what it consumed
 * before it publishes `tail`, so a frame word it has not seen committed
 * always reads 0 — stale bytes from the previous lap cannot pass as a record.
 *
 * Trust: the two processes share this memory and the client may be hostile.
 * The sidecar therefore keeps its own copy of every position it owns, and
 * treats every word it reads from the ring as input to validate; nothing
 * read here is ever used unchecked as a length or an index.
 *
 * Wakeups follow io_uring's SQ_NEED_WAKEUP: a consumer that is about to
 * sleep sets RS__RING_NEED_WAKEUP, then re-checks the ring; a producer, after
 * committing, looks at the flag and rings the doorbell only if it is set (and
 * clears it, so a burst costs one doorbell). RS__RING_PRODUCER_WAITING is the
 * reverse: a producer that found the ring full asks the consumer to ring it
 * once space is freed. Both sides put a seq_cst fence between their store and
 * their load, so one of them always sees the other (no lost wakeup).
 */
#ifndef RS_RING_H
#define RS_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RS__CACHELINE 64

#define RS__RING_NEED_WAKEUP      0x1u
#define RS__RING_PRODUCER_WAITING 0x2u

/* High half of a committed frame word: "RSr1". Anything else but 0 is
 * corruption. */
#define RS__FRAME_MAGIC 0x52537231u
#define RS__FRAME_BYTES 8u

typedef struct rs__ring_hdr {
    _Alignas(RS__CACHELINE) _Atomic uint64_t head;   /* producers' reservation */
    _Alignas(RS__CACHELINE) _Atomic uint64_t tail;   /* consumer position */
    _Alignas(RS__CACHELINE) _Atomic uint32_t flags;  /* RS__RING_* */
    uint8_t pad_[RS__CACHELINE - sizeof(uint32_t)];
} rs__ring_hdr;

typedef struct rs__ring {
    rs__ring_hdr *hdr;
    uint8_t *data;
    uint64_t cap;      /* power of two, multiple of 8 */
    /* Producer side: the consumer's tail as last read. Space is reserved
     * against it and the shared tail is read again only when it says the
     * ring is full: the tail's cache line, which the consumer writes on
     * every release, then crosses between the cores once per ring lap
     * rather than once per record. Never ahead of the real tail, so it
     * can only under-state the free space. Private to this process. */
    _Atomic uint64_t tail_seen;
} rs__ring;

/* Bytes a record with a payload of len bytes takes in the ring. */
static inline uint64_t rs__rec_span(uint64_t len)
{
    return RS__FRAME_BYTES + ((len + 7u) & ~(uint64_t)7u);
}

void rs__ring_init(rs__ring *r, void *hdr, void *data, uint64_t cap);

/* Copy len bytes to/from ring position pos, wrapping at the end. */
void rs__ring_copy_in(const rs__ring *r, uint64_t pos, const void *src, size_t len);
void rs__ring_copy_out(const rs__ring *r, uint64_t pos, void *dst, size_t len);

/* Multi-producer reservation of `bytes` (a sum of rs__rec_span values), for
 * threads that share the ring header (the client side). Returns 0 and the
 * start position, or -1 if the ring lacks the space right now. */
int rs__ring_reserve_mp(rs__ring *r, uint64_t bytes, uint64_t *pos);

/* Single-producer reservation where the producer keeps its own head (the
 * sidecar writing a client's completion ring): *head is trusted, the shared
 * tail is not. Returns 0, -1 (no space now), or -2 (the tail the consumer
 * published is impossible: the region is corrupt). The shared tail is read,
 * and checked, only when the cached one (tail_seen) leaves too little
 * space, so a scribbled tail is caught at that point, not sooner. */
int rs__ring_reserve_sp(rs__ring *r, uint64_t *head, uint64_t bytes, uint64_t *pos);

/* Publish the record whose frame is at pos: payload already copied to
 * pos + RS__FRAME_BYTES. */
void rs__ring_commit(rs__ring *r, uint64_t pos, uint32_t len);

/* A consumer's own positions, kept in its private memory and never read
 * back from the ring: `pos`, where the next record starts, and `released`,
 * the tail it has published. The space between them has been read but not
 * yet zeroed, so its frame words still look committed: a consumer that
 * came round to it again would read those records twice. Hence the rule
 * rs__ring_peek enforces: a consumer reads at most one lap ahead of what it
 * has released. */
typedef struct rs__ring_cursor {
    uint64_t pos;
    uint64_t released;
} rs__ring_cursor;

/* Look at the record at cur->pos.
 * Returns 1 with *len set when a committed record is there; 0 when nothing
 * is committed there yet, or when the consumer has read a whole lap since
 * its last release (release, then look again); -1 when the frame is corrupt:
 * a bad mark, a length over max_len, or a record that would run past
 * released + cap, into space no producer could have reserved. */
int rs__ring_peek(const rs__ring *r, const rs__ring_cursor *cur, uint32_t max_len, uint32_t *len);

/* Copy the record rs__ring_peek found (len bytes) out to dst and step over
 * it. The caller decodes only the copy: the producer may still write the
 * shared bytes. */
void rs__ring_take(const rs__ring *r, rs__ring_cursor *cur, void *dst, uint32_t len);

/* The pause of a spin loop: lets the sibling hyperthread run and eases
 * the exit from the loop when the awaited line changes. */
static inline void rs__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Cheap "is anything at pos?" for spin loops: true when the frame word is
 * non-zero (committed or corrupt — rs__ring_peek tells which). */
static inline bool rs__ring_has_frame(const rs__ring *r, uint64_t pos)
{
    const _Atomic uint64_t *w = (const _Atomic uint64_t *)(const void *)(r->data + (pos & (r->cap - 1)));
    return atomic_load_explicit(w, memory_order_relaxed) != 0;
}

/* Hand back what the consumer has read, [cur->released, cur->pos): zero
 * it, then publish cur->pos as the tail. Returns 0, or -1 without touching
 * the ring when that span is impossible (pos behind released, or more than
 * a lap ahead of it): the positions are corrupt, and zeroing that span
 * would write outside the ring. */
int rs__ring_release(rs__ring *r, rs__ring_cursor *cur);

/* Producer side of the wakeup protocol: after committing, returns true when
 * the consumer asked to be woken (the flag is cleared: ring the doorbell). */
bool rs__ring_wake_needed(rs__ring *r, uint32_t flag);

/* Consumer/producer side: announce a sleep (set flag) — the caller must
 * re-check the ring after this and before sleeping. */
void rs__ring_arm(rs__ring *r, uint32_t flag);
void rs__ring_disarm(rs__ring *r, uint32_t flag);

#endif
