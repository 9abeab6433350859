/*
 * hostile_client.c — a client that registers by hand and writes its
 * submission ring itself, legally or not, for the end-to-end tests of the
 * sidecar's promise that no client can crash, stall or slow it. pytest
 * (test_hostile.py) runs an honest client beside it meanwhile.
 *
 *   lap SOCK          fill the submission ring exactly once (head - tail =
 *                     capacity, which is legal) with well-formed CANCEL
 *                     records padded by a trailing bin field, ring once;
 *                     then an echo request must still be answered
 *   overrun SOCK      a frame whose record would run past the lap the
 *                     sidecar has handed back: no producer could have
 *                     reserved it, so the answer is RS_ECORRUPT and a hang-up
 *   cqtail SOCK       the completion ring's tail scribbled to an impossible
 *                     value, then answers are due: the sidecar must drop
 *                     this client (hang-up), never write where it points
 *   scribble SOCK frames|sqdata|all SEED
 *                     garbage: well-framed records of random bytes (each
 *                     answered RS_EBADREQ, the client kept), random bytes
 *                     over the submission ring (RS_ECORRUPT, then a
 *                     hang-up), or over the whole region (a hang-up)
 *   limits SOCK       requests over the sidecar's limits, written without
 *                     the client library (which refuses them first): each
 *                     answer's error and message, which must name the limit
 *   capped SOCK N DELAY_MS
 *                     N requests the mock answers after DELAY_MS (the
 *                     sidecar's --max-inflight), and one more that must
 *                     wait in the ring; prints "waiting", then expects
 *                     every answer (the test meanwhile watches the
 *                     sidecar's CPU: a record waiting for the cap must not
 *                     keep its loop spinning)
 *   snoop SOCK [PID [SECRET]]
 *                     what a process of the sidecar's uid can see of it:
 *                     /proc/PID/{environ,mem,maps,fd,map_files} and
 *                     ptrace, PID being the sidecar (absent or 0: found
 *                     with SO_PEERCRED) or, as a control, another
 *                     process; whether SECRET shows
 *                     in its environment; and that two registrations get
 *                     two distinct regions
 *   wrap SOCK SEED [WRAPS]
 *                     legal echo requests of random sizes, padded cancels
 *                     between them, until WRAPS (300) requests have straddled the
 *                     ring's end (the wrap falls inside them at random
 *                     offsets): every answer must come back once, whole
 *
 * Each mode prints one JSON line and exits 0 when the sidecar behaved.
 */
#include "channel.h"
#include "record.h"
#include "ring.h"
#include "ringpack.h"
#include "ringside.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DIE(...) do { fprintf(stderr, "hostile_client: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

/* One registered client seen from the inside: its region and rings. */
typedef struct raw {
    int sock, sq_bell;
    rs__welcome w;
    rs__ring sq, cq;
    rs__ring_cursor cq_cur;
    uint8_t *rx;
} raw;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void raw_connect(raw *c, const char *path)
{
    int fds[3];
    char err[256];
    c->sock = rs__channel_register(path, &c->w, fds, err, sizeof err);
    if (c->sock < 0)
        DIE("register: %s", err);
    uint8_t *base = mmap(NULL, c->w.layout.size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
    if (base == MAP_FAILED)
        DIE("mmap: %s", strerror(errno));
    /* the region is sealed: no client can shrink it under the sidecar */
    if (ftruncate(fds[0], 4096) == 0)
        DIE("ftruncate shrank the region: it should be sealed");
    close(fds[0]);
    close(fds[2]);
    c->sq_bell = fds[1];
    const rs__layout *l = &c->w.layout;
    rs__ring_init(&c->sq, base + l->sq_hdr_off, base + l->sq_data_off, l->sq_cap);
    rs__ring_init(&c->cq, base + l->cq_hdr_off, base + l->cq_data_off, l->cq_cap);
    c->cq_cur = (rs__ring_cursor){ 0, 0 };
    static uint8_t rx[RS__MAX_RECORD];   /* one at a time: the modes are single-threaded */
    c->rx = rx;
}

static void ring_bell(raw *c)
{
    uint64_t one = 1;
    if (write(c->sq_bell, &one, sizeof one) < 0)
        DIE("doorbell: %s", strerror(errno));
}

/* Put a payload of len bytes in the ring; with commit false, leave its
 * frame word 0 (the caller commits it later). Returns its position. */
static uint64_t put_payload(raw *c, const void *payload, uint32_t len, bool commit)
{
    uint64_t pos;
    if (rs__ring_reserve_mp(&c->sq, rs__rec_span(len), &pos) < 0)
        DIE("submission ring full");
    rs__ring_copy_in(&c->sq, pos + RS__FRAME_BYTES, payload, len);
    if (commit)
        rs__ring_commit(&c->sq, pos, len);
    return pos;
}

/* A well-formed CANCEL of an unknown id whose record spans exactly `span`
 * bytes of the ring: [1, 4, id, bin(pad)] — a newer writer's extra field,
 * which the decoder skips. Returns its position. */
static uint64_t put_padded_cancel(raw *c, uint64_t id, uint64_t span, bool commit)
{
    uint32_t len = (uint32_t)(span - RS__FRAME_BYTES);
    uint8_t *p = calloc(1, len);
    if (!p || len < 20)
        DIE("bad cancel span %llu", (unsigned long long)span);
    p[0] = 0x94;
    p[1] = 1;
    p[2] = RS__KIND_CANCEL;
    p[3] = 0xcf;   /* uint64 id */
    for (int k = 0; k < 8; k++)
        p[4 + k] = (uint8_t)(id >> (56 - 8 * k));
    uint32_t pad = len - 17;
    p[12] = 0xc6;   /* bin32 */
    p[13] = (uint8_t)(pad >> 24);
    p[14] = (uint8_t)(pad >> 16);
    p[15] = (uint8_t)(pad >> 8);
    p[16] = (uint8_t)pad;
    uint64_t pos = put_payload(c, p, len, commit);
    free(p);
    return pos;
}

/* An echo request whose body is body[0..n); returns the bytes it took. */
static uint64_t put_echo(raw *c, uint64_t id, const uint8_t *body, uint32_t n)
{
    rs__req_rec r = { .id = id, .priority = 1, .route = { "echo", 4 }, .method = { "POST", 4 },
                      .path = { "/e", 2 }, .body_total = n,
                      .part = { (const char *)body, n } };
    rs__staged st;
    uint64_t span = rs__rec_span(rs__stage(&st, rs__pack_request, &r)), pos;
    if (n > RS__PART_BYTES)
        DIE("echo body too long");
    if (rs__ring_reserve_mp(&c->sq, span, &pos) < 0)
        DIE("submission ring full");
    rs__ring_put_staged(&c->sq, pos, &st);
    return span;
}

/* The next completion-ring record within ms, decoded into *rec. Returns 1,
 * 0 on timeout, -1 when the ring is corrupt or the record undecodable. */
static int next_record(raw *c, rs__rec *rec, int ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    uint32_t len;
    int rc;
    while ((rc = rs__ring_peek(&c->cq, &c->cq_cur, RS__MAX_RECORD, &len)) == 0) {
        if (c->cq_cur.pos != c->cq_cur.released) {
            if (rs__ring_release(&c->cq, &c->cq_cur) < 0)
                return -1;
            /* the sidecar may be waiting for that room */
            if (rs__ring_wake_needed(&c->cq, RS__RING_PRODUCER_WAITING))
                ring_bell(c);
        }
        if (now_ms() >= end)
            return 0;
        usleep(200);
    }
    if (rc < 0)
        return -1;
    rs__ring_take(&c->cq, &c->cq_cur, c->rx, len);
    uint64_t id;
    const char *why;
    return rs__rec_decode(c->rx, len, rec, &id, &why) == 0 ? 1 : -1;
}

/* The terminal completion of one request, skipping nothing else: the
 * modes below expect only completions. */
static int next_completion(raw *c, rs__comp_rec *out, int ms)
{
    rs__rec rec;
    int rc = next_record(c, &rec, ms);
    if (rc != 1)
        return rc;
    if (rec.kind != RS__KIND_COMPLETION)
        return -1;
    *out = rec.u.comp;
    return 1;
}

static bool hung_up(raw *c, int ms)
{
    struct pollfd pf = { c->sock, POLLIN, 0 };
    if (poll(&pf, 1, ms) <= 0)
        return false;
    char b;
    return recv(c->sock, &b, 1, MSG_DONTWAIT) <= 0;
}

/* ------------------------------------------------------------------ lap */

static int mode_lap(const char *path)
{
    raw c;
    raw_connect(&c, path);
    uint64_t cap = c.w.layout.sq_cap, span = 128u << 10;
    if (cap < 2 * span)
        span = cap / 2;
    unsigned n = (unsigned)(cap / span);
    /* the first record is committed last, so the sidecar (which may be
     * spinning on the ring) finds the whole lap at once */
    uint64_t first = put_padded_cancel(&c, 1000, span, false);
    for (unsigned i = 1; i < n; i++)
        put_padded_cancel(&c, 1000 + i, span, true);
    if (atomic_load(&c.sq.hdr->head) - atomic_load(&c.sq.hdr->tail) != cap)
        DIE("the lap is not exactly full");
    rs__ring_commit(&c.sq, first, (uint32_t)(span - RS__FRAME_BYTES));
    ring_bell(&c);

    /* the sidecar hands the lap back; then it must still serve us */
    uint64_t end = now_ms() + 10000;
    while (atomic_load(&c.sq.hdr->tail) != cap && now_ms() < end && !hung_up(&c, 0))
        usleep(1000);
    bool back = atomic_load(&c.sq.hdr->tail) == cap;
    static const uint8_t body[] = "after a full lap";
    rs__comp_rec cr;
    int got = 0;
    if (back) {
        put_echo(&c, 7, body, sizeof body);
        ring_bell(&c);
        got = next_completion(&c, &cr, 10000);
    }
    bool echoed = got == 1 && cr.id == 7 && cr.error == 0 && cr.part.len == sizeof body &&
                  memcmp(cr.part.ptr, body, sizeof body) == 0;
    bool hup = hung_up(&c, 0);
    printf("{\"mode\":\"lap\",\"records\":%u,\"record_bytes\":%llu,\"ring_bytes\":%llu,"
           "\"handed_back\":%s,\"echoed\":%s,\"hung_up\":%s}\n",
           n, (unsigned long long)span, (unsigned long long)cap, back ? "true" : "false",
           echoed ? "true" : "false", hup ? "true" : "false");
    return back && echoed && !hup ? 0 : 1;
}

/* -------------------------------------------------------------- overrun */

static int mode_overrun(const char *path)
{
    raw c;
    raw_connect(&c, path);
    uint64_t cap = c.w.layout.sq_cap;
    /* legal records up to 64 bytes short of the lap, then a frame there
     * that claims a record of 128 bytes: its end would lie in space the
     * sidecar has not handed back (its first record, read this turn) */
    uint64_t span = 64u << 10, left = cap - 64;
    uint64_t id = 1;
    uint64_t first = put_padded_cancel(&c, id++, span, false);
    left -= span;
    while (left >= span + 64) {
        put_padded_cancel(&c, id++, span, true);
        left -= span;
    }
    put_padded_cancel(&c, id++, left, true);
    uint64_t pos;
    if (rs__ring_reserve_mp(&c.sq, 64, &pos) < 0)
        DIE("submission ring full");
    uint8_t junk[120];
    memset(junk, 0x90, sizeof junk);   /* empty arrays: harmless if ever decoded */
    rs__ring_copy_in(&c.sq, pos + RS__FRAME_BYTES, junk, 56);
    rs__ring_commit(&c.sq, pos, sizeof junk);
    rs__ring_commit(&c.sq, first, (uint32_t)(span - RS__FRAME_BYTES));
    ring_bell(&c);

    rs__comp_rec cr;
    int got = next_completion(&c, &cr, 10000);
    bool corrupt = got == 1 && cr.error == RS_ECORRUPT;
    bool hup = hung_up(&c, 10000);
    printf("{\"mode\":\"overrun\",\"completion\":\"%s\",\"message\":\"%.*s\",\"hung_up\":%s}\n",
           got == 1 ? rs_errname(cr.error) : got == 0 ? "none" : "unreadable",
           got == 1 ? (int)cr.error_msg.len : 0, got == 1 ? cr.error_msg.ptr : "",
           hup ? "true" : "false");
    return corrupt && hup ? 0 : 1;
}

/* --------------------------------------------------------------- cqtail */

static int mode_cqtail(const char *path)
{
    raw c;
    raw_connect(&c, path);
    uint64_t cap = c.w.layout.cq_cap;
    /* a tail ahead of anything the sidecar wrote: read at face value the
     * ring would look (more than) empty */
    atomic_store(&c.cq.hdr->tail, (uint64_t)1 << 62);
    /* answers that fill the ring several times over, never read: the
     * sidecar must look at the tail, find it impossible, and drop us */
    static uint8_t body[32u << 10];
    memset(body, 'x', sizeof body);
    uint64_t want = 3 * cap, sent = 0, id = 1;
    bool hup = false;
    uint64_t end = now_ms() + 20000;
    while (sent < want && now_ms() < end && !(hup = hung_up(&c, 0))) {
        uint64_t pos;
        rs__req_rec r = { .id = id, .priority = 1, .route = { "echo", 4 }, .method = { "POST", 4 },
                          .path = { "/e", 2 }, .body_total = sizeof body,
                          .part = { (const char *)body, sizeof body } };
        rs__staged st;
        uint64_t span = rs__rec_span(rs__stage(&st, rs__pack_request, &r));
        if (rs__ring_reserve_mp(&c.sq, span, &pos) < 0) {
            ring_bell(&c);
            usleep(1000);
            continue;
        }
        rs__ring_put_staged(&c.sq, pos, &st);
        ring_bell(&c);
        sent += sizeof body;
        id++;
    }
    if (!hup)
        hup = hung_up(&c, 10000);
    printf("{\"mode\":\"cqtail\",\"requests\":%llu,\"hung_up\":%s}\n", (unsigned long long)(id - 1),
           hup ? "true" : "false");
    return hup ? 0 : 1;
}

/* ------------------------------------------------------------- scribble */

static uint64_t rng;

static uint8_t rnd8(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint8_t)(rng >> 56);
}

static int mode_scribble(const char *path, const char *how, uint64_t seed)
{
    raw c;
    raw_connect(&c, path);
    rng = seed;
    int bad = 0, corrupt = 0, other = 0, frames = 0, got = 0;
    if (strcmp(how, "frames") == 0) {
        /* valid framing, garbage payloads: each one gets its own error */
        for (frames = 0; frames < 200; frames++) {
            uint8_t payload[256];
            uint32_t len = 1 + rnd8();
            for (uint32_t i = 0; i < len; i++)
                payload[i] = rnd8();
            if (frames % 3 == 0)
                payload[0] = 0x9d;   /* fixarray(13): looks like a request head */
            put_payload(&c, payload, len, true);
        }
    } else if (strcmp(how, "sqdata") == 0) {
        for (uint64_t i = 0; i < c.w.layout.sq_cap; i++)
            c.sq.data[i] = rnd8();
    } else if (strcmp(how, "all") == 0) {
        uint8_t *base = c.sq.data - c.w.layout.sq_data_off;
        for (uint64_t i = 0; i < c.w.layout.size; i++)
            base[i] = rnd8();
    } else {
        DIE("scribble mode must be frames, sqdata or all");
    }
    ring_bell(&c);

    if (strcmp(how, "all") != 0) {
        rs__comp_rec cr;
        int rc;
        while ((rc = next_completion(&c, &cr, strcmp(how, "frames") == 0 ? 5000 : 1000)) == 1) {
            got++;
            bad += cr.error == RS_EBADREQ;
            corrupt += cr.error == RS_ECORRUPT;
            other += cr.error != RS_EBADREQ && cr.error != RS_ECORRUPT;
        }
        other += rc < 0;
    }
    bool hup = hung_up(&c, strcmp(how, "frames") == 0 ? 0 : 5000);
    printf("{\"mode\":\"scribble\",\"how\":\"%s\",\"frames\":%d,\"completions\":%d,\"badreq\":%d,"
           "\"corrupt\":%d,\"other\":%d,\"hung_up\":%s}\n",
           how, frames, got, bad, corrupt, other, hup ? "true" : "false");
    if (strcmp(how, "frames") == 0)
        return got == frames && bad == frames && !hup ? 0 : 1;
    if (strcmp(how, "sqdata") == 0)
        return corrupt == 1 && hup ? 0 : 1;
    return hup ? 0 : 1;
}

/* --------------------------------------------------------------- limits */

/* Send r (and, when body_total is over the first part, BODY records of
 * filler up to it, as ring space allows), then read its answer. */
static int raw_call(raw *c, rs__req_rec *r, rs__comp_rec *out)
{
    rs__staged st;
    uint64_t pos, span = rs__rec_span(rs__stage(&st, rs__pack_request, r));
    if (rs__ring_reserve_mp(&c->sq, span, &pos) < 0)
        DIE("submission ring full");
    rs__ring_put_staged(&c->sq, pos, &st);
    static char filler[RS__PART_BYTES];
    memset(filler, 'b', sizeof filler);
    for (uint64_t off = r->part.len; off < r->body_total;) {
        uint64_t left = r->body_total - off;
        rs__body_rec b = { .id = r->id, .offset = off,
                           .part = { filler, (uint32_t)(left < sizeof filler ? left : sizeof filler) } };
        uint32_t len = (uint32_t)rs__packed_size(rs__pack_body, &b);
        if (rs__ring_reserve_mp(&c->sq, rs__rec_span(len), &pos) < 0) {
            ring_bell(c);
            usleep(200);
            continue;
        }
        rs__ring_put(&c->sq, pos, rs__pack_body, &b, len);
        off += b.part.len;
    }
    ring_bell(c);
    return next_completion(c, out, 20000);
}

static void limit_case(raw *c, const char *name, rs__req_rec *r, bool last)
{
    rs__comp_rec cr;
    int got = raw_call(c, r, &cr);
    printf("\"%s\":{\"error\":\"%s\",\"detail\":\"%.*s\"}%s", name,
           got == 1 ? rs_errname(cr.error) : "none", got == 1 ? (int)cr.error_msg.len : 0,
           got == 1 ? cr.error_msg.ptr : "", last ? "}\n" : ",");
}

static int mode_limits(const char *path)
{
    raw c;
    raw_connect(&c, path);
    static char big[100u << 10];
    memset(big, 'v', sizeof big);
    rs__req_rec r = { .priority = 1, .route = { "echo", 4 }, .method = { "POST", 4 }, .path = { "/e", 2 } };
    printf("{");

    r.id = 1;   /* one 100 KiB header: over the decoder's per-string limit */
    r.nheaders = 1;
    r.hname[0] = (rs__slice){ "x-big", 5 };
    r.hvalue[0] = (rs__slice){ big, sizeof big };
    limit_case(&c, "header_100k", &r, false);

    r.id = 2;   /* 20 of 4 KiB: each fine, together over the head's limit */
    r.nheaders = 20;
    for (int k = 0; k < 20; k++) {
        r.hname[k] = (rs__slice){ "x-h", 3 };
        r.hvalue[k] = (rs__slice){ big, 4096 };
    }
    limit_case(&c, "headers_80k", &r, false);

    r.id = 3;   /* a path over its limit */
    r.nheaders = 0;
    big[0] = '/';
    r.path = (rs__slice){ big, 9000 };
    limit_case(&c, "path_9000", &r, false);
    r.path = (rs__slice){ "/e", 2 };

    r.id = 4;   /* a body over the ring, streamed through it in pieces */
    r.body_total = c.w.layout.sq_cap + 1;
    r.part = (rs__slice){ big, 1024 };
    limit_case(&c, "body_over_ring", &r, true);
    return 0;
}

/* --------------------------------------------------------------- capped */

static void put_slow(raw *c, uint64_t id, const char *delay_ms)
{
    rs__req_rec r = { .id = id, .priority = 1, .method = { "POST", 4 }, .path = { "/v1/chat/completions", 20 },
                      .nheaders = 1 };
    r.hname[0] = (rs__slice){ "x-mock-delay-ms", 15 };
    r.hvalue[0] = (rs__slice){ delay_ms, (uint32_t)strlen(delay_ms) };
    rs__staged st;
    uint64_t pos, span = rs__rec_span(rs__stage(&st, rs__pack_request, &r));
    if (rs__ring_reserve_mp(&c->sq, span, &pos) < 0)
        DIE("submission ring full");
    rs__ring_put_staged(&c->sq, pos, &st);
}

static int mode_capped(const char *path, unsigned n, const char *delay_ms)
{
    raw c;
    raw_connect(&c, path);
    if (c.w.max_inflight != n)
        DIE("the sidecar's max_inflight is %u, not %u", c.w.max_inflight, n);
    for (unsigned i = 0; i <= n; i++)
        put_slow(&c, 100 + i, delay_ms);
    ring_bell(&c);
    printf("waiting\n");
    fflush(stdout);
    unsigned ok = 0;
    rs__comp_rec cr;
    while (ok <= n && next_completion(&c, &cr, 60000) == 1)
        ok += cr.error == 0 && cr.id >= 100 && cr.id <= 100 + n;
    printf("{\"mode\":\"capped\",\"answered\":%u,\"of\":%u}\n", ok, n + 1);
    return ok == n + 1 ? 0 : 1;
}

/* ---------------------------------------------------------------- snoop */

static const char *errname(int e)
{
    switch (e) {
    case 0: return "ok";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    case ESRCH: return "ESRCH";
    default: return "other";
    }
}

/* Read a whole /proc file; *found: whether `needle` occurs in it. */
static int read_proc(pid_t pid, const char *what, const char *needle, bool *found)
{
    char path[64], buf[65536];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int e = n < 0 ? errno : 0;
    close(fd);
    if (n > 0 && needle && *needle) {
        buf[n] = 0;
        for (ssize_t i = 0; i + (ssize_t)strlen(needle) <= n; i++)
            if (memcmp(buf + i, needle, strlen(needle)) == 0)
                *found = true;
    }
    return e;
}

static int list_proc_dir(pid_t pid, const char *what)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    DIR *d = opendir(path);
    if (!d)
        return errno;
    int e = 0;
    errno = 0;
    if (!readdir(d))
        e = errno;
    closedir(d);
    return e;
}

/* Open each of the target's descriptors 0..255: 0 if any opened. */
static int open_proc_fds(pid_t pid)
{
    int e = ENOENT;
    for (int n = 0; n < 256; n++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, n);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (errno != ENOENT)
            e = errno;
    }
    return e;
}

/* Read a word of the target's memory at its stack (from maps, or a
 * plausible address if maps is closed to us). */
static int read_proc_mem(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    unsigned long lo = 0x400000;
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "[stack]"))
            sscanf(line, "%lx", &lo);
    if (f)
        fclose(f);
    uint64_t word;
    int e = pread(fd, &word, sizeof word, (off_t)lo) == (ssize_t)sizeof word ? 0 : errno;
    close(fd);
    return e;
}

static int try_ptrace(pid_t pid)
{
    if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) < 0)
        return errno;
    ptrace(PTRACE_DETACH, pid, NULL, NULL);
    return 0;
}

static int mode_snoop(const char *path, pid_t pid, const char *secret)
{
    bool distinct = false;
    if (pid == 0) {
        raw a, b;
        raw_connect(&a, path);
        raw_connect(&b, path);
        struct ucred cr;
        socklen_t len = sizeof cr;
        if (getsockopt(a.sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
            DIE("SO_PEERCRED: %s", strerror(errno));
        pid = cr.pid;
        /* our two regions are two memfds: what one client writes, the
         * other never sees */
        memset(a.sq.data, 0x5a, 4096);
        distinct = b.sq.data[0] == 0 && b.sq.data[4095] == 0 && a.sq.data != b.sq.data;
    }
    bool found = false;
    int environ_e = read_proc(pid, "environ", secret, &found);
    int maps_e = read_proc(pid, "maps", NULL, NULL);
    int mem_e = read_proc_mem(pid);
    int fd_e = open_proc_fds(pid);
    int fddir_e = list_proc_dir(pid, "fd");
    int mapfiles_e = list_proc_dir(pid, "map_files");
    int ptrace_e = try_ptrace(pid);
    printf("{\"mode\":\"snoop\",\"pid\":%d,\"environ\":\"%s\",\"secret_seen\":%s,\"maps\":\"%s\","
           "\"mem\":\"%s\",\"fd\":\"%s\",\"fd_dir\":\"%s\",\"map_files\":\"%s\",\"ptrace\":\"%s\","
           "\"regions_distinct\":%s}\n",
           (int)pid, errname(environ_e), found ? "true" : "false", errname(maps_e), errname(mem_e),
           errname(fd_e), errname(fddir_e), errname(mapfiles_e), errname(ptrace_e),
           distinct ? "true" : "false");
    return 0;
}

/* ----------------------------------------------------------------- wrap */

static uint32_t rnd(uint32_t n)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33) % n;
}

static int mode_wrap(const char *path, uint64_t seed, uint64_t wraps)
{
    raw c;
    raw_connect(&c, path);
    rng = seed;
    uint64_t cap = c.w.layout.sq_cap, written = 0, id = 0, wrapped = 0;
    uint64_t answered = 0, wrong = 0;
    static uint8_t body[8192];
    /* until `wraps` requests have straddled the ring's end */
    while (wrapped < wraps && wrong == 0) {
        /* a few requests and a padded cancel, then read their answers */
        unsigned k = 1 + rnd(8);
        uint32_t sizes[8];
        for (unsigned i = 0; i < k; i++) {
            sizes[i] = rnd(sizeof body);
            for (uint32_t b = 0; b < sizes[i]; b++)
                body[b] = (uint8_t)(id + i + b);
            uint64_t span = put_echo(&c, id + i, body, sizes[i]);
            wrapped += (written + span - 1) / cap != written / cap;
            written += span;
        }
        uint64_t pad = 32 + 8 * (uint64_t)rnd(512);
        put_padded_cancel(&c, 1u << 30, pad, true);
        written += pad;
        ring_bell(&c);
        for (unsigned i = 0; i < k; i++) {
            rs__comp_rec cr;
            int got = next_completion(&c, &cr, 10000);
            if (got != 1) {
                fprintf(stderr, "hostile_client: request %llu: %s\n", (unsigned long long)(id + i),
                        got == 0 ? "no answer within 10 s" : "the completion ring holds an unreadable record");
                wrong++;
                break;
            }
            bool ok = cr.id == id + i && cr.error == 0 && cr.part.len == sizes[i];
            for (uint32_t b = 0; ok && b < sizes[i]; b++)
                ok = (uint8_t)cr.part.ptr[b] == (uint8_t)(id + i + b);
            if (!ok)
                fprintf(stderr, "hostile_client: request %llu (%u bytes): answer for %llu, %s, %u bytes: %.*s\n",
                        (unsigned long long)(id + i), sizes[i], (unsigned long long)cr.id, rs_errname(cr.error),
                        cr.part.len, (int)cr.error_msg.len, cr.error_msg.ptr);
            answered += ok;
            wrong += !ok;
        }
        id += k;
    }
    bool hup = hung_up(&c, 0);
    printf("{\"mode\":\"wrap\",\"laps\":%.1f,\"requests\":%llu,\"answered\":%llu,\"wrong\":%llu,"
           "\"wrapped\":%llu,\"hung_up\":%s}\n",
           (double)written / (double)cap, (unsigned long long)id, (unsigned long long)answered,
           (unsigned long long)wrong, (unsigned long long)wrapped, hup ? "true" : "false");
    return wrong == 0 && answered == id && !hup ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "lap") == 0)
        return mode_lap(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "overrun") == 0)
        return mode_overrun(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "cqtail") == 0)
        return mode_cqtail(argv[2]);
    if (argc >= 5 && strcmp(argv[1], "scribble") == 0)
        return mode_scribble(argv[2], argv[3], strtoull(argv[4], NULL, 10));
    if (argc >= 3 && strcmp(argv[1], "limits") == 0)
        return mode_limits(argv[2]);
    if (argc >= 5 && strcmp(argv[1], "capped") == 0)
        return mode_capped(argv[2], (unsigned)atoi(argv[3]), argv[4]);
    if (argc >= 3 && strcmp(argv[1], "snoop") == 0)
        return mode_snoop(argv[2], argc >= 4 ? (pid_t)atoi(argv[3]) : 0, argc >= 5 ? argv[4] : NULL);
    if (argc >= 4 && strcmp(argv[1], "wrap") == 0)
        return mode_wrap(argv[2], strtoull(argv[3], NULL, 10), argc >= 5 ? strtoull(argv[4], NULL, 10) : 300);
    DIE("usage: hostile_client lap|overrun|cqtail|limits SOCK | scribble SOCK frames|sqdata|all SEED | capped SOCK N DELAY_MS | snoop SOCK [PID [SECRET]] | wrap SOCK SEED [WRAPS]");
}
