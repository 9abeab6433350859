/*
 * fuzz_intake.c — the sidecar's consumer of a client's submission ring,
 * driven turn by turn by a fuzzed producer: the hostile client of issue
 * #12, which crashed the sidecar with one legal full lap.
 *
 * One real daemon (sc_daemon_init, as ringsided makes it) lives for the
 * whole run. Each input gets a fresh client whose region the harness maps
 * itself (sc_client_new/start, without the doorbell polls: the harness
 * drives every turn) and then plays a little program read from the input:
 *   legal requests (head and BODY records reserved as one unit, as the
 *   client library does; some left uncommitted for a while), cancels and
 *   flow records, padded to any span (full laps, wraps at any offset);
 *   raw frames with any length and payload, reserved or not; scribbles on
 *   the ring's data and on the positions in its header;
 *   sidecar turns (sc_intake_drain with any budget, sc_outbox_flush,
 *   sc_intake_release, as the loop runs them) and client reads of the
 *   completion ring.
 * Requests go to the "echo" route (answered inside the sidecar with their
 * body) or to an unknown route (RS_ENOROUTE), so every answer comes back
 * within the turn and nothing touches the network.
 *
 * Checked, beyond ASan/UBSan's "no bad access, no leak": unless the input
 * wrote something inconsistent (a scribble, or a raw frame whose length is
 * not what it reserved), which can rewrite any record's bytes, its id too,
 *   - no legal request is answered twice, and each answer is the right one
 *     (echo: RS_OK and the very bytes sent; unknown route: RS_ENOROUTE);
 *   - at the end, if the client is still connected, every legal request
 *     was answered exactly once;
 * and always:
 *   - what the sidecar writes into the completion ring always frames and
 *     decodes, unless the client scribbled the completion ring's tail.
 */
#include "clients.h"
#include "daemon.h"
#include "intake.h"
#include "outbox.h"
#include "ringpack.h"
#include "ringside.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define RING (256u << 10)      /* the smallest ring: laps come quickly */
#define MAX_LEGAL 512
#define LEGAL_ID_BASE (1ull << 40)

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "fuzz_intake: %s (line %d)\n", #cond, __LINE__); abort(); } } while (0)

static sc_daemon d;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char sock[64];
    snprintf(sock, sizeof sock, "/tmp/rs-fuzz-intake-%d.sock", (int)getpid());
    static char *args[] = { "fuzz_intake", "--socket", sock, "--ring-bytes", "262144", "--max-inflight", "64",
                            "--upstream", "http://127.0.0.1:9", "--log-level", "error", NULL };
    int n = (int)(sizeof args / sizeof args[0]) - 1;
    static sc_config cfg;
    if (sc_config_load(&cfg, n, args) != 0 || sc_daemon_init(&d, &cfg, n, args) < 0)
        abort();
    /* nobody connects: registration is not what is fuzzed here */
    sc_clients_stop_listening(&d);
    return 0;
}

/* ------------------------------------------------------------ the input */

typedef struct input {
    const uint8_t *p, *end;
} input;

static bool more(const input *in) { return in->p < in->end; }
static uint8_t u8(input *in) { return in->p < in->end ? *in->p++ : 0; }
static uint32_t u16(input *in) { uint32_t v = u8(in); return v | (uint32_t)u8(in) << 8; }
static uint32_t u32(input *in) { uint32_t v = u16(in); return v | u16(in) << 16; }

/* ------------------------------------------------------------ the world */

typedef struct legal {
    uint64_t id;
    bool echo;              /* else an unknown route */
    uint32_t body_len;
    uint8_t seed;           /* body[i] = seed + i */
    uint64_t frame_pos;     /* its head's frame, while uncommitted */
    uint32_t frame_len;
    bool pending;           /* head not committed yet */
    unsigned answers;
} legal;

typedef struct world {
    sc_client *c;           /* ours to free (started unwatched) */
    int peer;               /* our end of its socket */
    void *map;              /* our own mapping of its region */
    size_t map_len;
    rs__ring sq, cq;        /* the client's view of the two rings */
    rs__ring_cursor cq_cur;
    uint8_t *rx;
    legal req[MAX_LEGAL];
    unsigned nreq;
    bool tainted;           /* wrote something inconsistent: exactly-once
                               is no longer owed, at-most-once still is */
    bool cq_scribbled;      /* the sidecar's answers may be overwritten */
    /* a completion arriving in pieces (COMPLETION head, then BODY records) */
    legal *asm_for;
    uint8_t *asm_body;
    uint64_t asm_len, asm_have;
} world;

static bool connected(const world *w) { return !w->c->closing; }

static legal *find(world *w, uint64_t id)
{
    if (id < LEGAL_ID_BASE || id - LEGAL_ID_BASE >= w->nreq)
        return NULL;
    return &w->req[id - LEGAL_ID_BASE];
}

static void fill_body(uint8_t *b, uint32_t n, uint8_t seed)
{
    for (uint32_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed + i);
}

static bool body_ok(const uint8_t *b, uint64_t n, const legal *l)
{
    if (n != l->body_len)
        return false;
    for (uint64_t i = 0; i < n; i++)
        if (b[i] != (uint8_t)(l->seed + i))
            return false;
    return true;
}

/* A terminal answer for l (its body, whole): right, and the first —
 * unless the input rewrote what the sidecar reads or writes, which can
 * change any record's bytes, its id included. */
static void answered(world *w, legal *l, int32_t error, const uint8_t *body, uint64_t len)
{
    l->answers++;
    if (w->tainted || w->cq_scribbled)
        return;
    CHECK(l->answers == 1);
    if (l->echo) {
        CHECK(error == 0);
        CHECK(body_ok(body, len, l));
    } else {
        CHECK(error == RS_ENOROUTE);
    }
}

/* --------------------------------------------------------- the producer */

/* A legal request: head and BODY records in one reservation. */
static void put_request(world *w, input *in)
{
    if (w->nreq == MAX_LEGAL)
        return;
    legal *l = &w->req[w->nreq];
    *l = (legal){ .id = LEGAL_ID_BASE + w->nreq, .echo = u8(in) % 4 != 0, .seed = u8(in) };
    uint8_t size = u8(in);
    l->body_len = size < 200 ? size * 7u : size < 250 ? u16(in) : (u32(in) % (RING - 4096));
    uint8_t *body = malloc(l->body_len ? l->body_len : 1);
    if (!body)
        abort();
    fill_body(body, l->body_len, l->seed);
    rs__req_rec r = { .id = l->id, .priority = u8(in) % 3, .flags = 0, .timeout_ms = 60000,
                      .route = l->echo ? (rs__slice){ "echo", 4 } : (rs__slice){ "nope", 4 },
                      .method = { "POST", 4 }, .path = { "/v1/x", 5 }, .body_total = l->body_len,
                      .part = { (const char *)body, l->body_len < RS__PART_BYTES ? l->body_len : RS__PART_BYTES } };
    rs__staged head;
    uint32_t head_len = rs__stage(&head, rs__pack_request, &r);
    uint64_t total = rs__rec_span(head_len);
    for (uint64_t off = r.part.len; off < l->body_len; off += RS__PART_BYTES) {
        uint64_t left = l->body_len - off;
        rs__body_rec b = { .id = l->id, .offset = off,
                           .part = { (const char *)body + off, (uint32_t)(left < RS__PART_BYTES ? left : RS__PART_BYTES) } };
        total += rs__rec_span(rs__packed_size(rs__pack_body, &b));
    }
    uint64_t pos;
    if (rs__ring_reserve_mp(&w->sq, total, &pos) == 0) {
        bool hold = u8(in) % 4 == 0;   /* commit the head later: the sidecar waits at it */
        l->frame_pos = pos;
        l->frame_len = head_len;
        if (hold) {
            /* pack the head in place, then take its frame word back (the
             * sidecar runs only in turn(): it never saw it committed) */
            rs__ring_put_staged(&w->sq, pos, &head);
            __atomic_store_n((uint64_t *)(void *)(w->sq.data + (pos & (w->sq.cap - 1))), 0, __ATOMIC_RELEASE);
            l->pending = true;
            pos += rs__rec_span(head_len);
        } else {
            pos += rs__ring_put_staged(&w->sq, pos, &head);
        }
        for (uint64_t off = r.part.len; off < l->body_len; off += RS__PART_BYTES) {
            uint64_t left = l->body_len - off;
            rs__body_rec b = { .id = l->id, .offset = off,
                               .part = { (const char *)body + off, (uint32_t)(left < RS__PART_BYTES ? left : RS__PART_BYTES) } };
            pos += rs__ring_put(&w->sq, pos, rs__pack_body, &b, (uint32_t)rs__packed_size(rs__pack_body, &b));
        }
        w->nreq++;
    }
    free(body);
}

static void commit_pending(world *w, legal *l)
{
    if (l->pending) {
        rs__ring_commit(&w->sq, l->frame_pos, l->frame_len);
        l->pending = false;
    }
}

/* A CANCEL or FLOW record for a legal id (or an unknown one), padded with
 * a trailing bin field (a newer writer's extra field) to a span from the
 * input: lets the input fill a lap exactly or put a wrap anywhere. */
static void put_control(world *w, input *in, bool flow)
{
    uint64_t id = w->nreq && u8(in) % 2 ? LEGAL_ID_BASE + u16(in) % w->nreq : u32(in);
    uint8_t rec[32];
    size_t n = 0;
    rec[n++] = flow ? 0x95 : 0x94;
    rec[n++] = 1;
    rec[n++] = flow ? RS__KIND_FLOW : RS__KIND_CANCEL;
    rec[n++] = 0xcf;
    for (int k = 0; k < 8; k++)
        rec[n++] = (uint8_t)(id >> (56 - 8 * k));
    if (flow)
        rec[n++] = u8(in) & 1;
    uint32_t pad = u8(in) % 3 == 0 ? 0 : u32(in) % (RING - 64);
    uint32_t len = (uint32_t)n + (pad ? 5 + pad : 0);
    if (!pad)
        rec[0]--;   /* one field fewer */
    uint64_t pos;
    if (rs__ring_reserve_mp(&w->sq, rs__rec_span(len), &pos) < 0)
        return;
    rs__ring_copy_in(&w->sq, pos + RS__FRAME_BYTES, rec, n);
    if (pad) {
        uint8_t h[5] = { 0xc6, (uint8_t)(pad >> 24), (uint8_t)(pad >> 16), (uint8_t)(pad >> 8), (uint8_t)pad };
        rs__ring_copy_in(&w->sq, pos + RS__FRAME_BYTES + n, h, sizeof h);
        /* the padding's bytes are whatever the ring holds: zero, as the
         * consumer left it */
    }
    rs__ring_commit(&w->sq, pos, len);
}

/* A frame with any length and payload. Payloads that would decode as a
 * record of a legal id, or as a request to a route that would leave the
 * sidecar (admission, the network), are not written. */
static void put_raw(world *w, input *in)
{
    uint32_t claimed = u8(in) % 2 ? u8(in) : u32(in);
    uint32_t n = u16(in) % 2048;
    if (n > (uint32_t)(in->end - in->p))
        n = (uint32_t)(in->end - in->p);
    const uint8_t *payload = in->p;
    in->p += n;
    rs__rec rec;
    uint64_t id;
    const char *why;
    if (rs__rec_decode(payload, n, &rec, &id, &why) == 0) {
        if (id >= LEGAL_ID_BASE)
            return;
        if (rec.kind == RS__KIND_REQUEST &&
            !(rec.u.req.route.len == 4 && (memcmp(rec.u.req.route.ptr, "echo", 4) == 0 ||
                                           memcmp(rec.u.req.route.ptr, "nope", 4) == 0)))
            return;
    }
    bool reserve = u8(in) % 4 != 0;
    uint64_t pos;
    if (reserve) {
        if (rs__ring_reserve_mp(&w->sq, rs__rec_span(n), &pos) < 0)
            return;
    } else {
        /* where the next record would go, unreserved (a scribbled head
         * may be unaligned: a frame word is always at an 8-byte offset) */
        pos = atomic_load(&w->sq.hdr->head) & ~(uint64_t)7;
    }
    rs__ring_copy_in(&w->sq, pos + RS__FRAME_BYTES, payload, n < w->sq.cap - 8 ? n : w->sq.cap - 8);
    uint64_t word = u8(in) % 8 ? ((uint64_t)RS__FRAME_MAGIC << 32 | claimed) : ((uint64_t)u32(in) << 32 | claimed);
    if (!reserve || claimed != n || word >> 32 != RS__FRAME_MAGIC)
        w->tainted = true;
    __atomic_store_n((uint64_t *)(void *)(w->sq.data + (pos & (w->sq.cap - 1))), word, __ATOMIC_RELEASE);
}

static void scribble(world *w, input *in)
{
    w->tainted = true;
    switch (u8(in) % 6) {
    case 0: {   /* the submission ring's data */
        uint32_t off = u32(in) % w->sq.cap, n = u8(in) % 64;
        for (uint32_t i = 0; i < n; i++)
            w->sq.data[(off + i) % w->sq.cap] = u8(in);
        break;
    }
    case 1: atomic_store(&w->sq.hdr->head, atomic_load(&w->sq.hdr->head) + (int32_t)u32(in)); break;
    case 2: atomic_store(&w->sq.hdr->tail, (uint64_t)u32(in) << (u8(in) % 32)); break;
    case 3: atomic_store(&w->cq.hdr->tail, atomic_load(&w->cq.hdr->tail) + (int32_t)u32(in));
            w->cq_scribbled = true;
            break;
    case 4: atomic_store(&w->cq.hdr->head, (uint64_t)u32(in) << 16); break;   /* never read by the sidecar */
    default: atomic_store(&w->sq.hdr->flags, u8(in)); atomic_store(&w->cq.hdr->flags, u8(in)); break;
    }
}

/* --------------------------------------------------------- the sidecar */

/* One loop turn for this client, as sc_daemon_run runs it. */
static unsigned turn(world *w, unsigned budget)
{
    if (!connected(w))
        return 0;
    d.now = rs__now_ns();
    unsigned n = sc_intake_drain(w->c, budget);
    sc_outbox_flush(w->c);
    sc_intake_release(w->c);
    if (w->c->broken)   /* the loop's part (daemon.c act_on_flags) */
        sc_client_close(w->c, w->c->broken);
    return n;
}

/* --------------------------------------------------------- the client */

/* Read up to max records of the completion ring. Returns how many. */
static unsigned client_read(world *w, unsigned max)
{
    unsigned n = 0;
    uint32_t len;
    int rc;
    while (n < max && (rc = rs__ring_peek(&w->cq, &w->cq_cur, RS__MAX_RECORD, &len)) != 0) {
        if (rc < 0) {
            CHECK(w->cq_scribbled);
            return n;
        }
        rs__ring_take(&w->cq, &w->cq_cur, w->rx, len);
        n++;
        rs__rec rec;
        uint64_t id;
        const char *why;
        if (rs__rec_decode(w->rx, len, &rec, &id, &why) < 0) {
            CHECK(w->cq_scribbled);
            continue;
        }
        if (rec.kind == RS__KIND_COMPLETION) {
            legal *l = find(w, id);
            if (!l)
                continue;   /* an answer to a raw record */
            const rs__comp_rec *cr = &rec.u.comp;
            if (cr->part.len == cr->body_total) {
                answered(w, l, cr->error, (const uint8_t *)cr->part.ptr, cr->part.len);
            } else if (cr->body_total <= RING) {
                free(w->asm_body);
                w->asm_for = l;
                w->asm_len = cr->body_total;
                w->asm_have = cr->part.len;
                w->asm_body = malloc(cr->body_total);
                if (!w->asm_body)
                    abort();
                memcpy(w->asm_body, cr->part.ptr, cr->part.len);
                w->asm_body[0] ^= (uint8_t)cr->error;   /* an error with a body: let body_ok fail */
            } else {
                CHECK(w->cq_scribbled);
            }
        } else if (rec.kind == RS__KIND_BODY && w->asm_for && id == w->asm_for->id &&
                   rec.u.body.offset == w->asm_have && rec.u.body.part.len <= w->asm_len - w->asm_have) {
            memcpy(w->asm_body + w->asm_have, rec.u.body.part.ptr, rec.u.body.part.len);
            w->asm_have += rec.u.body.part.len;
            if (w->asm_have == w->asm_len) {
                answered(w, w->asm_for, 0, w->asm_body, w->asm_len);
                free(w->asm_body);
                w->asm_body = NULL;
                w->asm_for = NULL;
            }
        } else {
            CHECK(w->cq_scribbled);   /* the sidecar sends no other record here */
        }
    }
    if (w->cq_cur.pos != w->cq_cur.released && rs__ring_release(&w->cq, &w->cq_cur) < 0)
        CHECK(w->cq_scribbled);
    return n;
}

/* ----------------------------------------------------------------- run */

/* The region is mapped twice, as it is between two processes: the
 * sidecar unmaps its mapping when it drops the client, ours stays. */
static bool open_client(world *w)
{
    rs__layout lay;
    rs__layout_compute(RING, RING, &lay);
    int fd = memfd_create("fuzz-intake", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)lay.size) < 0)
        abort();
    void *theirs = mmap(NULL, lay.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    w->map = mmap(NULL, lay.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    int sv[2];
    if (theirs == MAP_FAILED || w->map == MAP_FAILED || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    w->map_len = lay.size;
    int sq_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), cq_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    w->c = sc_client_new(&d);
    if (!w->c || sq_efd < 0 || cq_efd < 0)
        abort();
    sc_client_start(w->c, theirs, &lay, sv[0], sq_efd, cq_efd, getpid(), getuid(), false);
    w->peer = sv[1];
    uint8_t *base = w->map;
    rs__ring_init(&w->sq, base + lay.sq_hdr_off, base + lay.sq_data_off, lay.sq_cap);
    rs__ring_init(&w->cq, base + lay.cq_hdr_off, base + lay.cq_data_off, lay.cq_cap);
    w->rx = malloc(RS__MAX_RECORD);
    return w->rx != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static world w;
    memset(&w, 0, sizeof w);
    if (!open_client(&w))
        abort();
    input in = { data, data + size };
    while (more(&in)) {
        switch (u8(&in) % 10) {
        case 0: case 1: put_request(&w, &in); break;
        case 2: put_control(&w, &in, false); break;
        case 3: put_control(&w, &in, true); break;
        case 4: put_raw(&w, &in); break;
        case 5: scribble(&w, &in); break;
        case 6: if (w.nreq) commit_pending(&w, &w.req[u16(&in) % w.nreq]); break;
        case 7: case 8: turn(&w, 1 + u16(&in) % 300); break;
        default: client_read(&w, u8(&in) % 32); break;
        }
    }
    /* the end: everything committed, then turns and reads until quiet */
    for (unsigned i = 0; i < w.nreq; i++)
        commit_pending(&w, &w.req[i]);
    for (int quiet = 0, rounds = 0; quiet < 2 && rounds < 10000; rounds++)
        quiet = turn(&w, 256) + client_read(&w, 1000) == 0 ? quiet + 1 : 0;

    if (connected(&w) && !w.tainted)
        for (unsigned i = 0; i < w.nreq; i++)
            CHECK(w.req[i].answers == 1);
    sc_client_close(w.c, "end of input");   /* nothing if the sidecar closed it */
    sc_client_free(w.c);
    close(w.peer);
    munmap(w.map, w.map_len);
    free(w.rx);
    free(w.asm_body);
    return 0;
}
