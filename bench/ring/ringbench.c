/*
 * ringbench.c — what it costs to move a small record through ringside's
 * shared-memory ring, measured in one run next to what this machine can do
 * at all, so the figures are judged as ratios rather than as absolutes.
 *
 * Every test runs between two processes:
 *   limit  a bare round trip on one shared cache line (two processes
 *          spinning on an atomic counter), and a bare one-way copy through
 *          an SPSC array of 64-byte slots, each with its own sequence word
 *          (no head, no tail, no framing): the floors of any channel here;
 *   ring   one-way 64-byte records/s through rs__ring itself, done the way
 *          the product does it: the producer as rs_submit (reserve_mp +
 *          copy_in + commit + the wakeup check), the consumer as
 *          sc_intake_drain (peek + copy_out per record, one release per
 *          drain of up to DRAIN_BUDGET records, and always before it would
 *          wait); plus two variants that show what costs what (release
 *          per record; no wakeup check — see ring_consumer, ring_produce);
 *   uds    64-byte ping-pong over a Unix socketpair with blocking read and
 *          write, back to back and with the asleep test's pause; beside it
 *          an eventfd ping-pong with that pause, the floor of a sleeping
 *          round trip through doorbells like the ring's;
 *   alone  the ring by itself, round trip: a request-sized record there and
 *          an answer-sized one back through two rs__rings, each side doing
 *          to the ring what the product does, and nothing else;
 *   floor  the same two records' bytes moved the cheapest way there is
 *          (two fixed cache lines each way, a sequence word per line, both
 *          lines awaited in one look so they cross together), plus the
 *          in-process cost of the msgpack steps ("parts"): the least any
 *          rs_call with these records could take on this machine;
 *   rtt    rs_call on the sidecar's built-in "echo" route (64-byte body),
 *          busy (both sides spin; calls back to back) and with the sidecar
 *          asleep (2 ms between calls, so the sidecar, at its default 50 us
 *          spin, is asleep at every call and the client rings its doorbell;
 *          the client as it ships: it spins up to 50 us for its answer);
 *          beside it the same with a client that never spins
 *          (RINGSIDE_SPIN_US=0: it yields once to the sidecar it woke,
 *          then sleeps until the sidecar rings back);
 *   direct the busy round trip through the real sidecar from a bare client
 *          (no client library: see direct_round), to split rs_call's time
 *          between the sidecar and the library;
 *   parts  in-process cost of the msgpack steps of that path, to split a
 *          round trip into "moving bytes" and "everything else";
 *   epoll  the sidecar's two event-loop backends (issue 15): every round
 *          trip through the sidecar (busy, direct, asleep, spin-0 client)
 *          is also run against a second sidecar started with
 *          --io-backend epoll, in the same rounds as the io_uring one (the
 *          order of the two swapped every round), so epoll / io_uring is a
 *          ratio within one run; beside it each sidecar's CPU per call.
 *          --no-epoll leaves it out (its JSON keys are then null).
 *
 * The sidecars are started here (path: first argument, else $RINGSIDE_BIN,
 * else build/sidecar/ringsided from the current directory) on sockets in a
 * mkdtemp directory, and killed by PID at the end, on a signal, or by the
 * kernel should this process die first (PR_SET_PDEATHSIG). They run with
 * --prefault, as every shared area here is faulted in before its test:
 * latency figures are of the rings, not of first-touch page faults. Each
 * is given its loop backend by name (--io-backend io_uring or epoll; the
 * figures without an "epoll" in their name are io_uring's), logs at info
 * level to a file in that directory, and must say "event loop: <backend>"
 * there, or the run stops: a figure is never of a backend it was not
 * asked for. Their warnings and errors are copied to stderr when they stop.
 * A sidecar's CPU per call is its loop thread's run time
 * (/proc/PID/schedstat, ns) over the rs_call rounds, divided by the calls
 * made in them; its share spent in the kernel is from the whole process's
 * utime and stime (/proc/PID/stat, 10 ms ticks: rough over short rounds).
 *
 * Method. This is a 2-vCPU virtual machine: the host moves the vCPUs
 * between physical cores, so the cross-core cost itself changes from one
 * second to the next (the bare round trip has been seen from 80 ns, vCPUs
 * on sibling hyperthreads, to 400 ns), and other processes come and go. So each comparison is taken in
 * alternating rounds (limit, ring, limit, ring, ...) and the samples of all
 * rounds are pooled: both sides of a ratio see the same mix of conditions.
 * Every latency sample is one clock_gettime pair around one round trip, in
 * every test alike (the clock's cost is printed). Throughput is records the
 * consumer has checked (each carries its sequence number) over a fixed
 * time: rates are medians of rounds, the one-way ratio is the median of the
 * per-round ratios; "found it full" is the share of records for which the
 * producer had to wait for space (the consumer was the slower side). Each
 * phase prints how much CPU other processes took
 * while it ran ("other load", in cores), so a disturbed run can be told.
 *
 * Nothing is pinned unless --pin asks. Waiters spin, then fall back to
 * sched_yield: when both processes share a core the one being waited for
 * cannot run while the other spins, so without the fallback every hand-off
 * would cost a scheduler slice. Yields are counted; many mean the two sides
 * shared a core for a while. Every phase is bounded in time and a watchdog
 * ends the run if anything hangs.
 *
 * Output: human-readable lines, then exactly one JSON line.
 */
#include "benchproc.h"
#include "channel.h"
#include "record.h"
#include "ring.h"
#include "ringpack.h"
#include "ringside.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD 64u
#define SLEEP_PAUSE_NS 2000000u
/* ~28 us of PAUSE on this CPU: far above any cross-core hand-off (< 1 us),
 * far below a scheduler slice. */
#define SPIN_BEFORE_YIELD 1000u
#define DRAIN_BUDGET 256u   /* records per drain: as sidecar/daemon.c */
#define MAX_KIDS 8
#define MAX_ROUNDS 16

/* ------------------------------------------------------------- plumbing */

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
        ;
}

typedef struct backoff {
    unsigned spins;
    uint64_t yields;
} backoff;

static inline void backoff_wait(backoff *b)
{
    if (b->spins < SPIN_BEFORE_YIELD) {
        b->spins++;
        rs__cpu_relax();
    } else {
        b->yields++;
        sched_yield();
    }
}

enum pin_mode { PIN_NONE, PIN_SPLIT, PIN_SAME };
static enum pin_mode g_pin = PIN_NONE;

static void pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0)
        fprintf(stderr, "ringbench: cannot pin to CPU %d: %s (running unpinned)\n", cpu, strerror(errno));
}

/* The far side of every pair (forked helper or sidecar). */
static void pin_far_side(void)
{
    if (g_pin == PIN_SPLIT)
        pin_to(1);
    else if (g_pin == PIN_SAME)
        pin_to(0);
}

/* Every process we start, so that no exit path leaves one running. */
static volatile pid_t g_kids[MAX_KIDS];
static char g_tmpdir[64];

static void kids_add(pid_t pid)
{
    for (int i = 0; i < MAX_KIDS; i++)
        if (g_kids[i] == 0) {
            g_kids[i] = pid;
            return;
        }
}

static void kids_forget(pid_t pid)
{
    for (int i = 0; i < MAX_KIDS; i++)
        if (g_kids[i] == pid)
            g_kids[i] = 0;
}

static void kill_kids(void)
{
    for (int i = 0; i < MAX_KIDS; i++)
        if (g_kids[i] > 0)
            kill(g_kids[i], SIGKILL);
}

/* What the sidecars leave in g_tmpdir: TAG.sock and TAG.log each. */
static const char *const g_sidecar_tags[] = { "busy", "asleep", "busy-epoll", "asleep-epoll" };

static void remove_tmpdir(void)
{
    if (!g_tmpdir[0])
        return;
    char p[128];
    for (size_t i = 0; i < sizeof g_sidecar_tags / sizeof *g_sidecar_tags; i++) {
        snprintf(p, sizeof p, "%s/%s.sock", g_tmpdir, g_sidecar_tags[i]);
        unlink(p);
        snprintf(p, sizeof p, "%s/%s.log", g_tmpdir, g_sidecar_tags[i]);
        unlink(p);
    }
    rmdir(g_tmpdir);
}

static void on_fatal_signal(int sig)
{
    static const char dog[] = "ringbench: watchdog: the run took too long; stopped, children killed\n";
    static const char intr[] = "ringbench: interrupted; children killed\n";
    kill_kids();
    remove_tmpdir();
    const char *m = sig == SIGALRM ? dog : intr;
    size_t n = sig == SIGALRM ? sizeof dog - 1 : sizeof intr - 1;
    if (write(2, m, n) < 0)
        _exit(3);
    _exit(3);
}

static void cleanup_at_exit(void)
{
    kill_kids();
    remove_tmpdir();
}

/* bp_fork: the child dies with us (PR_SET_PDEATHSIG) and drops our signal
 * handlers; here it also takes the far side's CPU when pinning. */
static pid_t fork_child(void)
{
    pid_t pid = bp_fork("ringbench");
    if (pid < 0)
        exit(1);
    if (pid == 0) {
        pin_far_side();
        return 0;
    }
    kids_add(pid);
    return pid;
}

/* Fork a helper that runs fn(arg) and exits; it dies with us. */
static pid_t spawn(void (*fn)(void *), void *arg)
{
    pid_t pid = fork_child();
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    return pid;
}

static void join(pid_t pid, const char *what)
{
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    kids_forget(pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "ringbench: the %s helper process failed (status %d)\n", what, st);
        exit(1);
    }
}

static void *shared_alloc(size_t n)
{
    /* populated now, so no first-touch page fault lands inside a test */
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "ringbench: mmap of %zu shared bytes: %s\n", n, strerror(errno));
        exit(1);
    }
    return p;
}

static void stamp(uint8_t *buf, uint64_t i)
{
    memcpy(buf, &i, sizeof i);
}

static bool stamp_ok(const uint8_t *buf, uint64_t i)
{
    uint64_t v;
    memcpy(&v, buf, sizeof v);
    return v == i;
}

/* ---------------------------------------------------------- statistics */

/* Latency samples of one test, pooled over its rounds. */
typedef struct series {
    uint64_t *v;
    size_t n, cap;
    uint64_t yields;
} series;

static void series_init(series *s, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->v = malloc((cap ? cap : 1) * sizeof *s->v);
    s->cap = cap;
    if (!s->v) {
        fprintf(stderr, "ringbench: out of memory for %zu samples\n", cap);
        exit(1);
    }
}

static inline void series_add(series *s, uint64_t x)
{
    if (s->n < s->cap)
        s->v[s->n++] = x;
}

/* One round of the bare round-trip tests (ping-pong, message ping-pong,
 * ring alone): a 5% warm-up, the deadline looked at every 256 trips, one
 * clock pair around each trip. Always inlined and given a constant `trip`,
 * so the trip is compiled into the loop: no indirect call inside what is
 * measured. Returns the yields of our side's waits. */
typedef void trip_fn(void *ctx, uint64_t i, backoff *b);

static inline __attribute__((always_inline)) uint64_t
timed_trips(series *out, size_t n, uint64_t deadline, trip_fn *trip, void *ctx)
{
    const size_t warm = n / 20 + 2;
    backoff b = { 0 };
    for (uint64_t i = 0; i < warm + n; i++) {
        if ((i & 255) == 0 && bp_now_ns() > deadline)
            break;
        b.spins = 0;
        uint64_t t0 = bp_now_ns();
        trip(ctx, i, &b);
        uint64_t t1 = bp_now_ns();
        if (i >= warm)
            series_add(out, t1 - t0);
    }
    return b.yields;
}

typedef struct lat {
    uint64_t p50, p99, min;
    size_t n;
} lat;

/* Nearest-rank percentiles. */
static lat summarize(series *s)
{
    lat l = { 0 };
    if (!s->n)
        return l;
    qsort(s->v, s->n, sizeof *s->v, bp_cmp_u64);
    l.n = s->n;
    l.min = s->v[0];
    l.p50 = s->v[(s->n * 50 + 99) / 100 - 1];
    l.p99 = s->v[(s->n * 99 + 99) / 100 - 1];
    return l;
}

static void print_lat(const char *what, lat l, const char *extra)
{
    printf("  %-42s p50 %8.0f ns  p99 %8.0f ns  min %7.0f ns  (%zu samples%s)\n",
           what, (double)l.p50, (double)l.p99, (double)l.min, l.n, extra);
}

/* -------------------------------------------------------- interference */

/* On a 2-core machine anything else running moves the figures, so each
 * phase says how much CPU other processes (and the hypervisor, as steal)
 * took while it ran: machine-wide busy time from /proc/stat minus our own
 * and our children's. Children are joined before a phase ends, so their
 * time is counted by then. Resolution is the 10 ms clock tick. */
typedef struct cpu_mark {
    uint64_t wall_ns;
    double busy_s, ours_s;
} cpu_mark;

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static cpu_mark cpu_mark_now(void)
{
    cpu_mark m = { .wall_ns = bp_now_ns() };
    unsigned long long v[8] = { 0 };
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]) != 8)
            memset(v, 0, sizeof v);
        fclose(f);
    }
    /* user nice system (idle iowait) irq softirq steal */
    long hz = sysconf(_SC_CLK_TCK);
    m.busy_s = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)(hz > 0 ? hz : 100);
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    m.ours_s = tv_s(self.ru_utime) + tv_s(self.ru_stime) + tv_s(kids.ru_utime) + tv_s(kids.ru_stime);
    return m;
}

static cpu_mark g_mark;
static double g_worst_load;   /* of the phases long enough to tell */

/* Closes the current phase's window: other processes' CPU use, in cores. */
static double phase_load(void)
{
    cpu_mark m = cpu_mark_now();
    double wall = (double)(m.wall_ns - g_mark.wall_ns) / 1e9;
    double foreign = (m.busy_s - g_mark.busy_s) - (m.ours_s - g_mark.ours_s);
    double load = wall > 0 && foreign > 0 ? foreign / wall : 0;
    /* /proc/stat counts in ticks: a few ticks over a short phase are
     * sampling noise, not load */
    if (foreign > 0.1 && load > g_worst_load)
        g_worst_load = load;
    g_mark = m;
    return load;
}

/* --------------------------------------------------------------- plan */

typedef struct plan {
    bool quick;
    uint64_t ring_bytes;     /* data area of the one-way tests */
    unsigned rounds;         /* alternations in the latency phases */
    unsigned stream_rounds;
    size_t pp_samples, rtt_samples, uds_samples, paused_samples, sleep_samples, efd_samples;
    uint64_t stream_ns;      /* one one-way test, one round */
    uint64_t parts_iters;
} plan;

/* ------------------------------------------ (d) limit: cache-line ping-pong */

#define PP_STOP UINT64_MAX

typedef struct pingpong {
    _Alignas(64) _Atomic uint64_t ball;
    _Alignas(64) _Atomic uint64_t far_yields;
} pingpong;

static void pingpong_far(void *arg)
{
    pingpong *s = arg;
    backoff b = { 0 };
    /* odd values are the near side's serve, even ones our return */
    for (uint64_t want = 1;; want += 2) {
        uint64_t v;
        b.spins = 0;
        while ((v = atomic_load_explicit(&s->ball, memory_order_acquire)) != want && v != PP_STOP)
            backoff_wait(&b);
        if (v == PP_STOP)
            break;
        atomic_store_explicit(&s->ball, want + 1, memory_order_release);
    }
    atomic_store(&s->far_yields, b.yields);
}

static inline void pingpong_trip(void *ctx, uint64_t i, backoff *b)
{
    pingpong *s = ctx;
    uint64_t serve = 2 * i + 1;
    atomic_store_explicit(&s->ball, serve, memory_order_release);
    while (atomic_load_explicit(&s->ball, memory_order_acquire) != serve + 1)
        backoff_wait(b);
}

static void pingpong_round(series *out, size_t n, uint64_t deadline)
{
    pingpong *s = shared_alloc(sizeof *s);
    pid_t pid = spawn(pingpong_far, s);
    uint64_t yields = timed_trips(out, n, deadline, pingpong_trip, s);
    atomic_store_explicit(&s->ball, PP_STOP, memory_order_release);
    join(pid, "ping-pong");
    out->yields += yields + atomic_load(&s->far_yields);
    munmap(s, sizeof *s);
}

/* The ring alone, round trip: a request-sized record (100 bytes, as the
 * echo call's request) through one rs__ring and an answer-sized one (95)
 * back through another, each side doing what the product does to the ring
 * (reserve, copy in, commit, the producer's wakeup check; peek, copy out,
 * release after answering) but no msgpack, no request handling, no client
 * bookkeeping. Between the bare ping-pong and rs_call: what the ring costs
 * by itself. Rings of ring_bytes each, laid out as in a client region. */
#define PRIM_REQ 100u
#define PRIM_ANS 95u

typedef struct prim_ctl {
    _Alignas(64) _Atomic int stop;
    _Atomic uint64_t far_yields;
    uint64_t ring_bytes;
    uint8_t *area;
} prim_ctl;

/* The floor of any channel for our records: the echo call's request
 * (100 bytes: two cache lines) there and its answer (95) back, each line
 * carrying its own sequence word stored after the line's bytes, so the
 * reader looks at both lines in one pass and they cross between the cores
 * together. Same lines every time, no positions, no zeroing, no framing,
 * no encoding: nothing a ring of variable-size records could undercut.
 * Added to the in-process cost of the msgpack steps ("parts"), it is the
 * least an rs_call could take on this machine. */
#define MSG_LINE_BYTES 56u

typedef struct msg_line {
    _Alignas(64) uint8_t bytes[MSG_LINE_BYTES];
    _Atomic uint64_t seq;
} msg_line;

typedef struct msgpp {
    msg_line there[2], back[2];
    _Alignas(64) _Atomic int stop;
    _Atomic uint64_t far_yields;
} msgpp;

static void msg_send(msg_line *l, const uint8_t *src, uint32_t len, uint64_t seq)
{
    for (int k = 0; k < 2; k++) {
        uint32_t n = k == 0 ? MSG_LINE_BYTES : len - MSG_LINE_BYTES;
        memcpy(l[k].bytes, src + k * MSG_LINE_BYTES, n);
        atomic_store_explicit(&l[k].seq, seq, memory_order_release);
    }
}

/* Both lines' words are loaded in every look: the two misses overlap. */
static bool msg_recv(msg_line *l, uint8_t *dst, uint32_t len, uint64_t seq)
{
    uint64_t a = atomic_load_explicit(&l[0].seq, memory_order_acquire);
    uint64_t b = atomic_load_explicit(&l[1].seq, memory_order_acquire);
    if (a != seq || b != seq)
        return false;
    memcpy(dst, l[0].bytes, MSG_LINE_BYTES);
    memcpy(dst + MSG_LINE_BYTES, l[1].bytes, len - MSG_LINE_BYTES);
    return true;
}

static void msgpp_far(void *arg)
{
    msgpp *s = arg;
    uint8_t buf[PRIM_REQ], ans[PRIM_ANS];
    memset(ans, 0xcd, sizeof ans);
    backoff b = { 0 };
    for (uint64_t seq = 1;; seq++) {
        b.spins = 0;
        while (!msg_recv(s->there, buf, PRIM_REQ, seq)) {
            if (atomic_load_explicit(&s->stop, memory_order_relaxed))
                goto out;
            backoff_wait(&b);
        }
        ans[0] = buf[0];
        msg_send(s->back, ans, PRIM_ANS, seq);
    }
out:
    atomic_store(&s->far_yields, b.yields);
}

typedef struct msgpp_near {
    msgpp *s;
    uint8_t req[PRIM_REQ], buf[PRIM_ANS];
} msgpp_near;

static inline void msgpp_trip(void *ctx, uint64_t i, backoff *b)
{
    msgpp_near *m = ctx;
    msg_send(m->s->there, m->req, PRIM_REQ, i + 1);
    while (!msg_recv(m->s->back, m->buf, PRIM_ANS, i + 1))
        backoff_wait(b);
}

static void msgpp_round(series *out, size_t n, uint64_t deadline)
{
    msgpp_near m = { .s = shared_alloc(sizeof *m.s) };
    memset(m.req, 0xab, sizeof m.req);
    pid_t pid = spawn(msgpp_far, m.s);
    uint64_t yields = timed_trips(out, n, deadline, msgpp_trip, &m);
    atomic_store(&m.s->stop, 1);
    join(pid, "message ping-pong");
    out->yields += yields + atomic_load(&m.s->far_yields);
    munmap(m.s, sizeof *m.s);
}

static void prim_rings(prim_ctl *s, rs__ring *sq, rs__ring *cq)
{
    rs__ring_init(sq, s->area, s->area + 4096, s->ring_bytes);
    rs__ring_init(cq, s->area + 4096 + s->ring_bytes, s->area + 8192 + s->ring_bytes, s->ring_bytes);
}

static void prim_far(void *arg)
{
    prim_ctl *s = arg;
    /* a forked child maps a shared area lazily: fault it in now, as the
     * parent did (shared_alloc), so the first lap is not slower here */
    madvise(s->area, 2 * (4096 + s->ring_bytes), MADV_POPULATE_WRITE);
    rs__ring sq, cq;
    prim_rings(s, &sq, &cq);
    uint8_t buf[PRIM_REQ], ans[PRIM_ANS];
    memset(ans, 0xcd, sizeof ans);
    rs__ring_cursor cur = { 0, 0 };
    uint64_t head = 0;
    backoff b = { 0 };
    for (;;) {
        uint32_t len;
        b.spins = 0;
        while (rs__ring_peek(&sq, &cur, PRIM_REQ, &len) != 1) {
            if (atomic_load_explicit(&s->stop, memory_order_relaxed))
                goto out;
            backoff_wait(&b);
        }
        rs__ring_take(&sq, &cur, buf, len);
        uint64_t at;
        while (rs__ring_reserve_sp(&cq, &head, rs__rec_span(PRIM_ANS), &at) != 0)
            backoff_wait(&b);
        rs__ring_put_packed(&cq, at, ans, PRIM_ANS);
        rs__ring_wake_needed(&cq, RS__RING_NEED_WAKEUP);
        rs__ring_release(&sq, &cur);   /* after answering, as sc_intake_release */
    }
out:
    atomic_store(&s->far_yields, b.yields);
}

/* Our side of the ring alone: what rs_submit and the reaper do to the rings. */
typedef struct prim_near {
    rs__ring sq, cq;
    rs__ring_cursor cur;
    uint8_t req[PRIM_REQ], buf[PRIM_ANS];
} prim_near;

static inline void prim_trip(void *ctx, uint64_t i, backoff *b)
{
    (void)i;
    prim_near *p = ctx;
    uint64_t at;
    while (rs__ring_reserve_mp(&p->sq, rs__rec_span(PRIM_REQ), &at) != 0)
        backoff_wait(b);
    rs__ring_put_packed(&p->sq, at, p->req, PRIM_REQ);
    rs__ring_wake_needed(&p->sq, RS__RING_NEED_WAKEUP);
    uint32_t len;
    while (rs__ring_peek(&p->cq, &p->cur, PRIM_ANS, &len) != 1)
        backoff_wait(b);
    rs__ring_take(&p->cq, &p->cur, p->buf, len);
    rs__ring_release(&p->cq, &p->cur);
}

static void prim_round(series *out, size_t n, uint64_t ring_bytes, uint64_t deadline)
{
    size_t area = 2 * (4096 + ring_bytes);
    prim_ctl *s = shared_alloc(sizeof *s);
    s->ring_bytes = ring_bytes;
    s->area = shared_alloc(area);
    pid_t pid = spawn(prim_far, s);
    prim_near p = { .cur = { 0, 0 } };
    prim_rings(s, &p.sq, &p.cq);
    memset(p.req, 0xab, sizeof p.req);
    uint64_t yields = timed_trips(out, n, deadline, prim_trip, &p);
    atomic_store(&s->stop, 1);
    join(pid, "ring echo");
    out->yields += yields + atomic_load(&s->far_yields);
    munmap(s->area, area);
    munmap(s, sizeof *s);
}

/* --------------------------------------------------- one-way streams */

/* Control block of a one-way test, on its own page: the data under test
 * never shares a cache line with it. */
typedef struct stream_ctl {
    _Alignas(64) _Atomic int ready;
    _Alignas(64) _Atomic uint64_t total;   /* UINT64_MAX until the producer stops */
    _Alignas(64) _Atomic uint64_t t_end;
    _Atomic uint64_t bad, consumer_yields, bells;
    _Atomic uint64_t full;   /* records the producer had to wait for space for */
    /* set before the fork */
    uint64_t ring_bytes;
    unsigned batch;
    bool wake_check;
    void *area;
} stream_ctl;

typedef struct stream_result {
    double per_s;
    uint64_t records, yields, bad, full;
} stream_result;

/* One producer (this process, produce()) against one consumer (forked) for
 * p->stream_ns. The consumer stamps the time it has checked the last one. */
static stream_result run_stream(const plan *p, stream_ctl *ctl, void (*consumer)(void *),
                                uint64_t (*produce)(stream_ctl *, uint64_t, uint64_t *))
{
    atomic_store(&ctl->total, UINT64_MAX);
    atomic_store(&ctl->ready, 0);
    pid_t pid = spawn(consumer, ctl);
    while (!atomic_load_explicit(&ctl->ready, memory_order_acquire))
        sched_yield();
    uint64_t yields = 0;
    uint64_t t0 = bp_now_ns();
    uint64_t n = produce(ctl, t0 + p->stream_ns, &yields);
    atomic_store_explicit(&ctl->total, n, memory_order_release);
    join(pid, "one-way consumer");
    stream_result r = {
        .records = n,
        .per_s = (double)n * 1e9 / (double)(atomic_load(&ctl->t_end) - t0),
        .yields = yields + atomic_load(&ctl->consumer_yields),
        .bad = atomic_load(&ctl->bad),
        .full = atomic_load(&ctl->full),
    };
    return r;
}

/* (d) bare copy: the 8-byte sequence word sits right before its 64-byte
 * payload, so a slot moves the same 72 bytes as a ring record (8-byte frame
 * word + 64-byte payload) and only the ring's own logic differs. */
typedef struct bare_slot {
    _Atomic uint64_t seq;   /* i: free for record i; i + 1: holds record i */
    uint8_t payload[PAYLOAD];
} bare_slot;

static void bare_consumer(void *arg)
{
    stream_ctl *ctl = arg;
    bare_slot *slots = ctl->area;
    size_t nslots = ctl->ring_bytes / sizeof(bare_slot), idx = 0;
    uint8_t dst[PAYLOAD];
    uint64_t bad = 0;
    backoff b = { 0 };
    atomic_store_explicit(&ctl->ready, 1, memory_order_release);
    for (uint64_t i = 0;; i++) {
        bare_slot *s = &slots[idx];
        b.spins = 0;
        while (atomic_load_explicit(&s->seq, memory_order_acquire) != i + 1) {
            if (atomic_load_explicit(&ctl->total, memory_order_acquire) == i)
                goto done;
            backoff_wait(&b);
        }
        memcpy(dst, s->payload, PAYLOAD);
        bad += !stamp_ok(dst, i);
        atomic_store_explicit(&s->seq, i + nslots, memory_order_release);
        if (++idx == nslots)
            idx = 0;
    }
done:
    atomic_store(&ctl->t_end, bp_now_ns());
    atomic_store(&ctl->bad, bad);
    atomic_store(&ctl->consumer_yields, b.yields);
}

static uint64_t bare_produce(stream_ctl *ctl, uint64_t stop, uint64_t *yields)
{
    bare_slot *slots = ctl->area;
    size_t nslots = ctl->ring_bytes / sizeof(bare_slot), idx = 0;
    uint8_t src[PAYLOAD];
    memset(src, 0xab, sizeof src);
    backoff b = { 0 };
    uint64_t i, full = 0;
    for (i = 0;; i++) {
        if ((i & 1023) == 0 && bp_now_ns() >= stop)
            break;
        bare_slot *s = &slots[idx];
        b.spins = 0;
        while (atomic_load_explicit(&s->seq, memory_order_acquire) != i)
            backoff_wait(&b);
        full += b.spins != 0;
        stamp(src, i);
        memcpy(s->payload, src, PAYLOAD);
        atomic_store_explicit(&s->seq, i + 1, memory_order_release);
        if (++idx == nslots)
            idx = 0;
    }
    *yields = b.yields;
    atomic_store(&ctl->full, full);
    return i;
}

/* (b) the ring. Laid out as in a client region: the header on its own
 * page, the data area page-aligned after it. */
static void ring_of(stream_ctl *ctl, rs__ring *r)
{
    uint8_t *base = ctl->area;
    rs__ring_init(r, base, base + 4096, ctl->ring_bytes);
}

/* Zeroes and publishes the tail once per up to `batch` records, and always
 * before waiting (or a producer waiting for that space would wait on us):
 * batch DRAIN_BUDGET is sc_intake_drain, batch 1 the cost of releasing
 * every record on its own. */
static void ring_consumer(void *arg)
{
    stream_ctl *ctl = arg;
    rs__ring r;
    ring_of(ctl, &r);
    uint8_t dst[PAYLOAD];
    rs__ring_cursor cur = { 0, 0 };
    uint64_t bad = 0, i = 0;
    unsigned held = 0;
    backoff b = { 0 };
    atomic_store_explicit(&ctl->ready, 1, memory_order_release);
    for (;;) {
        uint32_t len;
        int rc = rs__ring_peek(&r, &cur, PAYLOAD, &len);
        if (rc == 1) {
            rs__ring_take(&r, &cur, dst, len);
            bad += len != PAYLOAD || !stamp_ok(dst, i);
            i++;
            if (++held >= ctl->batch) {
                rs__ring_release(&r, &cur);
                held = 0;
            }
            b.spins = 0;
            continue;
        }
        if (rc < 0) {
            bad++;
            break;
        }
        if (held) {
            rs__ring_release(&r, &cur);
            held = 0;
            continue;
        }
        if (atomic_load_explicit(&ctl->total, memory_order_acquire) == i)
            break;
        backoff_wait(&b);
    }
    atomic_store(&ctl->t_end, bp_now_ns());
    atomic_store(&ctl->bad, bad);
    atomic_store(&ctl->consumer_yields, b.yields);
}

static uint64_t ring_produce(stream_ctl *ctl, uint64_t stop, uint64_t *yields)
{
    rs__ring r;
    ring_of(ctl, &r);
    uint8_t src[PAYLOAD];
    memset(src, 0xab, sizeof src);
    const uint64_t span = rs__rec_span(PAYLOAD);
    backoff b = { 0 };
    uint64_t i, bells = 0, full = 0;
    for (i = 0;; i++) {
        if ((i & 1023) == 0 && bp_now_ns() >= stop)
            break;
        uint64_t pos;
        b.spins = 0;
        if (rs__ring_reserve_mp(&r, span, &pos) < 0) {
            full++;
            while (rs__ring_reserve_mp(&r, span, &pos) < 0)
                backoff_wait(&b);
        }
        stamp(src, i);
        rs__ring_copy_in(&r, pos + RS__FRAME_BYTES, src, PAYLOAD);
        rs__ring_commit(&r, pos, PAYLOAD);
        /* what rs_submit does after every commit; nobody arms the flag
         * here, so this costs exactly the fence and the load */
        if (ctl->wake_check && rs__ring_wake_needed(&r, RS__RING_NEED_WAKEUP))
            bells++;
    }
    *yields = b.yields;
    atomic_store(&ctl->bells, bells);
    atomic_store(&ctl->full, full);
    return i;
}

enum stream_kind { ST_BARE, ST_RING, ST_RING_EACH, ST_RING_NOWAKE, ST_COUNT };

static stream_result stream_once(const plan *p, enum stream_kind kind)
{
    size_t area = 4096 + p->ring_bytes;
    stream_ctl *ctl = shared_alloc(sizeof *ctl);
    ctl->ring_bytes = p->ring_bytes;
    ctl->batch = kind == ST_RING_EACH ? 1 : DRAIN_BUDGET;
    ctl->wake_check = kind != ST_RING_NOWAKE;
    ctl->area = shared_alloc(area);
    if (kind == ST_BARE) {
        bare_slot *slots = ctl->area;
        for (size_t k = 0; k < p->ring_bytes / sizeof(bare_slot); k++)
            atomic_store_explicit(&slots[k].seq, k, memory_order_relaxed);
    }
    stream_result r = kind == ST_BARE ? run_stream(p, ctl, bare_consumer, bare_produce)
                                      : run_stream(p, ctl, ring_consumer, ring_produce);
    munmap(ctl->area, area);
    munmap(ctl, sizeof *ctl);
    return r;
}

/* Median of the rounds' rates; counts summed. */
static stream_result stream_median(const stream_result *rs, unsigned n)
{
    double rates[MAX_ROUNDS];
    stream_result m = { 0 };
    for (unsigned k = 0; k < n; k++) {
        rates[k] = rs[k].per_s;
        m.records += rs[k].records;
        m.yields += rs[k].yields;
        m.bad += rs[k].bad;
        m.full += rs[k].full;
    }
    qsort(rates, n, sizeof *rates, bp_cmp_double);
    m.per_s = n % 2 ? rates[n / 2] : (rates[n / 2 - 1] + rates[n / 2]) / 2;
    return m;
}

static double share(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0;
}

/* "rounds" lists each round's M records/s and its found-it-full share. */
static void print_stream(const char *what, stream_result m, const stream_result *rs, unsigned n)
{
    char rounds[256] = "";
    size_t used = 0;
    for (unsigned k = 0; k < n && n > 1 && used < sizeof rounds; k++)
        used += (size_t)snprintf(rounds + used, sizeof rounds - used, "%s%.1f/%.0f%%",
                                 k ? " " : "; rounds ", rs[k].per_s / 1e6, share(rs[k].full, rs[k].records));
    printf("  %-42s %7.2f M records/s  (%llu records, %.0f%% found it full, %llu yields%s%s)\n", what,
           m.per_s / 1e6, (unsigned long long)m.records, share(m.full, m.records),
           (unsigned long long)m.yields, rounds, m.bad ? "; CHECK FAILURES" : "");
}

/* ------------------------------------------- (c) Unix socket ping-pong */

static int read_full(int fd, void *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k == 0)
            return 0;
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)k;
    }
    return 1;
}

static int write_full(int fd, const void *buf, size_t n)
{
    for (size_t put = 0; put < n;) {
        ssize_t k = write(fd, (const char *)buf + put, n - put);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        put += (size_t)k;
    }
    return 1;
}

static int g_uds[2];

static void uds_echo(void *arg)
{
    (void)arg;
    close(g_uds[0]);
    uint8_t buf[PAYLOAD];
    while (read_full(g_uds[1], buf, sizeof buf) == 1)
        if (write_full(g_uds[1], buf, sizeof buf) < 0)
            _exit(1);
}

static void uds_round(series *out, size_t n, uint64_t pause_ns, uint64_t deadline)
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, g_uds) < 0) {
        fprintf(stderr, "ringbench: socketpair: %s\n", strerror(errno));
        exit(1);
    }
    pid_t pid = spawn(uds_echo, NULL);
    close(g_uds[1]);
    uint8_t msg[PAYLOAD], in[PAYLOAD];
    memset(msg, 0x5a, sizeof msg);
    size_t warm = pause_ns ? 2 : n / 20 + 2;
    for (size_t i = 0; i < warm + n && bp_now_ns() < deadline; i++) {
        if (pause_ns)
            sleep_ns(pause_ns);
        stamp(msg, i);
        uint64_t t0 = bp_now_ns();
        if (write_full(g_uds[0], msg, sizeof msg) < 0 || read_full(g_uds[0], in, sizeof in) != 1 ||
            !stamp_ok(in, i)) {
            fprintf(stderr, "ringbench: Unix socket ping-pong broke at message %zu\n", i);
            exit(1);
        }
        uint64_t t1 = bp_now_ns();
        if (i >= warm)
            series_add(out, t1 - t0);
    }
    close(g_uds[0]);   /* the echo side reads EOF and exits */
    join(pid, "Unix socket echo");
}

/* The floor of a sleeping round trip through doorbells like the ring's:
 * each side blocks in read() on its own eventfd, and the other writes it. */
#define EFD_STOP (1ull << 40)
static int g_efd[2];   /* [0] wakes the far side, [1] wakes us */

static void efd_echo(void *arg)
{
    (void)arg;
    uint64_t v, one = 1;
    while (read(g_efd[0], &v, sizeof v) == (ssize_t)sizeof v && v < EFD_STOP)
        if (write(g_efd[1], &one, sizeof one) != (ssize_t)sizeof one)
            _exit(1);
}

static void efd_round(series *out, size_t n, uint64_t pause_ns, uint64_t deadline)
{
    g_efd[0] = eventfd(0, EFD_CLOEXEC);
    g_efd[1] = eventfd(0, EFD_CLOEXEC);
    if (g_efd[0] < 0 || g_efd[1] < 0) {
        fprintf(stderr, "ringbench: eventfd: %s\n", strerror(errno));
        exit(1);
    }
    pid_t pid = spawn(efd_echo, NULL);
    uint64_t v, one = 1;
    for (size_t i = 0; i < 2 + n && bp_now_ns() < deadline; i++) {
        sleep_ns(pause_ns);
        uint64_t t0 = bp_now_ns();
        if (write(g_efd[0], &one, sizeof one) != (ssize_t)sizeof one ||
            read(g_efd[1], &v, sizeof v) != (ssize_t)sizeof v) {
            fprintf(stderr, "ringbench: eventfd ping-pong broke: %s\n", strerror(errno));
            exit(1);
        }
        uint64_t t1 = bp_now_ns();
        if (i >= 2)
            series_add(out, t1 - t0);
    }
    v = EFD_STOP;
    if (write(g_efd[0], &v, sizeof v) != (ssize_t)sizeof v)
        kill(pid, SIGKILL);
    join(pid, "eventfd echo");
    close(g_efd[0]);
    close(g_efd[1]);
}

/* The same pause and doorbells, each side waiting the way ringside's do:
 * the far side in io_uring as the sidecar's loop (same setup flags, a
 * multishot poll on its doorbell, the answer's doorbell write submitted by
 * the call that goes back to sleep), the near side in an edge-triggered
 * epoll as the client's reaper. No records, no work: what the asleep round
 * trip would cost if ringside did nothing but wake up. */
static void uring_echo(void *arg)
{
    _Atomic int *stop = arg;
    struct io_uring ring;
    struct io_uring_params prm = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                                            IORING_SETUP_TASKRUN_FLAG };
    if (io_uring_queue_init_params(8, &ring, &prm) < 0) {
        memset(&prm, 0, sizeof prm);
        if (io_uring_queue_init_params(8, &ring, &prm) < 0)
            _exit(1);
    }
    static const uint64_t one = 1;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_poll_multishot(sqe, g_efd[0], POLLIN);
    io_uring_sqe_set_data64(sqe, 1);
    while (!atomic_load(stop)) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, bells = 0;
        io_uring_for_each_cqe(&ring, head, cqe) bells += cqe->user_data == 1;
        io_uring_cq_advance(&ring, io_uring_cq_ready(&ring));
        if (bells && !atomic_load(stop)) {
            sqe = io_uring_get_sqe(&ring);
            io_uring_prep_write(sqe, g_efd[1], &one, sizeof one, 0);
            io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
            io_uring_sqe_set_data64(sqe, 0);
        }
    }
    io_uring_queue_exit(&ring);
}

static void uring_round(series *out, size_t n, uint64_t pause_ns, uint64_t deadline)
{
    g_efd[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    g_efd[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
    _Atomic int *stop = shared_alloc(sizeof *stop);
    if (g_efd[0] < 0 || g_efd[1] < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, g_efd[1], &ev) < 0) {
        fprintf(stderr, "ringbench: eventfd/epoll: %s\n", strerror(errno));
        exit(1);
    }
    pid_t pid = spawn(uring_echo, (void *)stop);
    uint64_t one = 1;
    for (size_t i = 0; i < 2 + n && bp_now_ns() < deadline; i++) {
        sleep_ns(pause_ns);
        uint64_t t0 = bp_now_ns();
        if (write(g_efd[0], &one, sizeof one) != (ssize_t)sizeof one) {
            fprintf(stderr, "ringbench: io_uring doorbell ping-pong broke: %s\n", strerror(errno));
            exit(1);
        }
        while (epoll_wait(ep, &ev, 1, 5000) != 1) {
            if (errno != EINTR) {
                fprintf(stderr, "ringbench: io_uring doorbell ping-pong: no answer in 5 s\n");
                exit(1);
            }
        }
        uint64_t t1 = bp_now_ns();
        if (i >= 2)
            series_add(out, t1 - t0);
    }
    atomic_store(stop, 1);
    if (write(g_efd[0], &one, sizeof one) != (ssize_t)sizeof one)
        kill(pid, SIGKILL);
    join(pid, "io_uring doorbell echo");
    close(ep);
    close(g_efd[0]);
    close(g_efd[1]);
    munmap((void *)stop, sizeof *stop);
}

/* ------------------------------------------------ (a) ring round trips */

/* The sidecar's event-loop backends (issue 15). */
enum backend { BE_URING, BE_EPOLL, BE_COUNT };
static const char *const g_backend_names[BE_COUNT] = { "io_uring", "epoll" };

typedef struct sidecar {
    pid_t pid;
    enum backend be;
    char sock[128], log[128];
} sidecar;

/* Starts ringsided on g_tmpdir/TAG.sock with the loop backend `be` asked
 * for by name, its stdout and stderr to g_tmpdir/TAG.log. */
static void sidecar_start(sidecar *s, const char *bin, const char *tag, enum backend be, unsigned spin_us)
{
    char spin[16];
    snprintf(spin, sizeof spin, "%u", spin_us);
    s->be = be;
    snprintf(s->sock, sizeof s->sock, "%s/%s.sock", g_tmpdir, tag);
    snprintf(s->log, sizeof s->log, "%s/%s.log", g_tmpdir, tag);
    int logfd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0) {
        fprintf(stderr, "ringbench: cannot create %s: %s\n", s->log, strerror(errno));
        exit(1);
    }
    pid_t pid = fork_child();
    if (pid == 0) {
        if (dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
            _exit(126);
        setenv("RINGSIDE_SOCKET", s->sock, 1);
        /* --prefault: as the areas of the other tests (shared_alloc), the
         * rings take no first-touch page fault inside a test. --log-level
         * info: for the "event loop: ..." line (sidecar_check_backend);
         * nothing is logged per call */
        char *args[] = { (char *)bin, "--socket", s->sock, "--io-backend", (char *)g_backend_names[be],
                         "--spin-us", spin, "--prefault", "--grace-ms", "0", "--log-level", "info", NULL };
        execv(bin, args);
        fprintf(stderr, "ringbench: cannot run %s: %s (build it with `ninja -C build`, "
                "or pass its path as the first argument or in $RINGSIDE_BIN)\n", bin, strerror(errno));
        _exit(127);
    }
    close(logfd);
    s->pid = pid;
}

/* Up to `max` bytes of the sidecar's log (its end, if longer); "" if unread. */
static void sidecar_read_log(const sidecar *s, char *buf, size_t max)
{
    buf[0] = 0;
    FILE *f = fopen(s->log, "r");
    if (!f)
        return;
    if (fseek(f, 0, SEEK_END) == 0) {
        long sz = ftell(f);
        fseek(f, sz > (long)max - 1 ? sz - (long)max + 1 : 0, SEEK_SET);
    }
    size_t n = fread(buf, 1, max - 1, f);
    buf[n] = 0;
    fclose(f);
}

static void sidecar_print_log(const sidecar *s)
{
    char buf[4096];
    sidecar_read_log(s, buf, sizeof buf);
    fprintf(stderr, "---- %s (tail) ----\n%s------------------------------\n", s->log, buf);
}

/* Its warnings and errors to our stderr (they went there before the
 * sidecars logged to files). */
static void sidecar_stop(sidecar *s)
{
    bp_stop_pid(s->pid, 2000);   /* 2 s, then no more manners */
    kids_forget(s->pid);
    s->pid = 0;
    FILE *f = fopen(s->log, "r");
    if (!f)
        return;
    char line[2600];
    while (fgets(line, sizeof line, f))
        if (strstr(line, "\"level\":\"warn\"") || strstr(line, "\"level\":\"error\""))
            fprintf(stderr, "ringbench: the %s sidecar said: %s", g_backend_names[s->be], line);
    fclose(f);
}

/* Retry until the sidecar listens; give up if it exits or takes > 5 s. */
static rs_client *sidecar_connect(const sidecar *s)
{
    uint64_t until = bp_now_ns() + 5000000000u;
    int err;
    for (;;) {
        rs_client *c;
        if ((err = rs_connect(s->sock, &c)) == 0)
            return c;
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            kids_forget(s->pid);
            fprintf(stderr, "ringbench: the sidecar (--io-backend %s) exited before accepting clients (status %d)\n",
                    g_backend_names[s->be], st);
            sidecar_print_log(s);
            exit(1);
        }
        if (bp_now_ns() > until)
            break;
        sleep_ns(5000000u);
    }
    fprintf(stderr, "ringbench: no sidecar on %s after 5 s: %s %s\n", s->sock, rs_strerror(err), rs_last_error());
    sidecar_print_log(s);
    exit(1);
}

/* The sidecar logs "event loop: B" before it listens, so once a client has
 * connected the line is there. Without it the figures would be of another
 * backend than the one they are reported as: stop. */
static void sidecar_check_backend(const sidecar *s)
{
    char buf[16384], want[64];
    sidecar_read_log(s, buf, sizeof buf);
    snprintf(want, sizeof want, "\"msg\":\"event loop: %s\"", g_backend_names[s->be]);
    if (strstr(buf, want))
        return;
    fprintf(stderr, "ringbench: FAILED: the sidecar started with --io-backend %s does not log "
            "'event loop: %s'; its figures would not be of that backend. Its log:\n",
            g_backend_names[s->be], g_backend_names[s->be]);
    sidecar_print_log(s);
    exit(1);
}

/* CPU a sidecar has used: its loop thread's run time (/proc/PID/schedstat,
 * ns; every call is handled there) and the whole process's user and system
 * time (/proc/PID/stat, clock ticks), for the share spent in the kernel.
 * Without schedstat, run_ns comes from the ticks. */
typedef struct proc_cpu {
    uint64_t run_ns, user_ticks, sys_ticks;
} proc_cpu;

static proc_cpu proc_cpu_of(pid_t pid)
{
    proc_cpu c = { 0 };
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        /* after "pid (comm) ": state ppid pgrp session tty_nr tpgid flags
         * minflt cminflt majflt cmajflt utime stime */
        const char *rp = strrchr(buf, ')');
        unsigned long long ut, st;
        if (rp && sscanf(rp + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2) {
            c.user_ticks = ut;
            c.sys_ticks = st;
        }
    }
    snprintf(p, sizeof p, "/proc/%d/schedstat", (int)pid);
    unsigned long long ns;
    f = fopen(p, "r");
    if (f && fscanf(f, "%llu", &ns) == 1) {
        c.run_ns = ns;
    } else {
        long hz = sysconf(_SC_CLK_TCK);
        c.run_ns = (c.user_ticks + c.sys_ticks) * (1000000000u / (uint64_t)(hz > 0 ? hz : 100));
    }
    if (f)
        fclose(f);
    return c;
}

/* A sidecar's CPU over some rs_call rounds, and the calls made in them. */
typedef struct cpu_acc {
    uint64_t run_ns, user_ticks, sys_ticks, calls;
} cpu_acc;

static double cpu_per_call(const cpu_acc *a)
{
    return a->calls ? (double)a->run_ns / (double)a->calls : 0;
}

/* -1: no tick landed in these rounds */
static double cpu_sys_share(const cpu_acc *a)
{
    uint64_t t = a->user_ticks + a->sys_ticks;
    return t ? (double)a->sys_ticks / (double)t : -1;
}

/* Client counters over the measured calls only. */
typedef struct call_stats {
    uint64_t calls, doorbells, sleeps;
} call_stats;

/* Returns the calls made, warm-up included. */
static size_t rtt_round(rs_client *c, series *out, size_t n, uint64_t pause_ns, uint64_t deadline,
                        call_stats *acc)
{
    uint8_t body[PAYLOAD];
    memset(body, 'e', sizeof body);
    rs_request rq = RS_REQUEST_INIT;
    rq.path = "/echo";
    rq.route = "echo";
    rq.body = body;
    rq.body_len = sizeof body;

    size_t warm = pause_ns ? 2 : n / 20 + 2, i;
    rs_client_stats s0 = { 0 }, s1;
    for (i = 0; i < warm + n && bp_now_ns() < deadline; i++) {
        if (i == warm)
            rs_client_get_stats(c, &s0);
        if (pause_ns)
            sleep_ns(pause_ns);
        stamp(body, i);
        rs_response *r;
        uint64_t t0 = bp_now_ns();
        int err = rs_call(c, &rq, 5000, &r);
        uint64_t t1 = bp_now_ns();
        if (err < 0) {
            fprintf(stderr, "ringbench: rs_call on the echo route: %s\n", rs_strerror(err));
            exit(1);
        }
        if (r->error != RS_OK || r->body_len != sizeof body || memcmp(r->body, body, sizeof body) != 0) {
            fprintf(stderr, "ringbench: the echo route answered %s (%s) with %zu bytes, not our 64\n",
                    rs_errname(r->error), r->error_msg, r->body_len);
            exit(1);
        }
        rs_response_free(r);
        if (i >= warm)
            series_add(out, t1 - t0);
    }
    rs_client_get_stats(c, &s1);
    if (s0.submitted) {
        acc->calls += s1.submitted - s0.submitted;
        acc->doorbells += s1.doorbells - s0.doorbells;
        acc->sleeps += s1.sleeps - s0.sleeps;
    }
    return i;
}

/* rtt_round on sidecar s, its CPU over the round added to cpu. */
static void rtt_round_on(const sidecar *s, rs_client *c, series *out, size_t n, uint64_t pause_ns,
                         uint64_t deadline, call_stats *acc, cpu_acc *cpu)
{
    proc_cpu a = proc_cpu_of(s->pid);
    size_t calls = rtt_round(c, out, n, pause_ns, deadline, acc);
    proc_cpu b = proc_cpu_of(s->pid);
    cpu->run_ns += b.run_ns - a.run_ns;
    cpu->user_ticks += b.user_ticks - a.user_ticks;
    cpu->sys_ticks += b.sys_ticks - a.sys_ticks;
    cpu->calls += calls;
}

/* What rs_submit packs for our echo call (body: PAYLOAD bytes). */
static void echo_request(rs__req_rec *rq, const uint8_t *body)
{
    rq->priority = RS_P1;
    rq->route = (rs__slice){ "echo", 4 };
    rq->model = (rs__slice){ "", 0 };
    rq->method = (rs__slice){ "POST", 4 };
    rq->path = (rs__slice){ "/echo", 5 };
    rq->body_total = PAYLOAD;
    rq->part = (rs__slice){ (const char *)body, PAYLOAD };
}

/* The real sidecar driven without the client library: the request record
 * rs_call sends (staged, reserved, copied in, committed, the doorbell rung
 * if the sidecar sleeps), its answer spun for, copied out, decoded and
 * checked, the space released, and nothing else: no ticket, no lock, no
 * response allocation, no clock read. Between "the ring alone" and
 * rs_call, it splits the sidecar's share of a round trip from the client
 * library's. Registers for the round and hangs up after it. */
static void direct_round(const char *sock, series *out, size_t n, uint64_t deadline)
{
    rs__welcome w;
    int fds[3];
    char why[256];
    int s = rs__channel_register(sock, &w, fds, why, sizeof why);
    if (s < 0) {
        fprintf(stderr, "ringbench: direct client registration: %s\n", why);
        exit(1);
    }
    struct stat st;
    if (fstat(fds[0], &st) < 0 || rs__layout_check(&w.layout, (uint64_t)st.st_size) < 0) {
        fprintf(stderr, "ringbench: direct client: bad region from the sidecar\n");
        exit(1);
    }
    int populate = (w.features & RS__FEATURE_PREFAULT) ? MAP_POPULATE : 0;   /* as rs_connect */
    uint8_t *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED | populate, fds[0], 0);
    close(fds[0]);
    close(fds[2]);   /* we spin for every answer: the sidecar never needs to wake us */
    rs__ring sq, cq;
    uint8_t *rx = malloc(w.max_record);
    rs__rec *rec = malloc(sizeof *rec);
    rs__req_rec *rq = calloc(1, sizeof *rq);
    if (base == MAP_FAILED || !rx || !rec || !rq) {
        fprintf(stderr, "ringbench: direct client: out of memory\n");
        exit(1);
    }
    rs__ring_init(&sq, base + w.layout.sq_hdr_off, base + w.layout.sq_data_off, w.layout.sq_cap);
    rs__ring_init(&cq, base + w.layout.cq_hdr_off, base + w.layout.cq_data_off, w.layout.cq_cap);
    uint8_t body[PAYLOAD];
    memset(body, 'e', sizeof body);
    echo_request(rq, body);

    const size_t warm = n / 20 + 2;
    rs__ring_cursor cur = { 0, 0 };
    backoff b = { 0 };
    for (uint64_t i = 0; i < warm + n; i++) {
        if ((i & 255) == 0 && bp_now_ns() > deadline)
            break;
        stamp(body, i);
        rq->id = i + 1;
        b.spins = 0;
        uint64_t t0 = bp_now_ns(), at;
        rs__staged stg;
        uint32_t len = rs__stage(&stg, rs__pack_request, rq);
        while (rs__ring_reserve_mp(&sq, rs__rec_span(len), &at) != 0)
            backoff_wait(&b);
        rs__ring_put_staged(&sq, at, &stg);
        if (rs__ring_wake_needed(&sq, RS__RING_NEED_WAKEUP)) {
            uint64_t one = 1;
            if (write(fds[1], &one, sizeof one) < 0)
                perror("ringbench: direct client doorbell");
        }
        uint32_t got;
        int rc;
        while ((rc = rs__ring_peek(&cq, &cur, w.max_record, &got)) == 0)
            backoff_wait(&b);
        uint64_t id = 0;
        const char *bad = "corrupt frame";
        if (rc > 0) {
            rs__ring_take(&cq, &cur, rx, got);
            bad = NULL;
            if (rs__rec_decode(rx, got, rec, &id, &bad) < 0)
                ;
            else if (rec->kind != RS__KIND_COMPLETION || id != rq->id || rec->u.comp.error != 0 ||
                     rec->u.comp.part.len != PAYLOAD || memcmp(rec->u.comp.part.ptr, body, PAYLOAD) != 0)
                bad = "not the echo of our request";
        }
        if (bad) {
            fprintf(stderr, "ringbench: direct client, answer %llu: %s\n", (unsigned long long)(i + 1), bad);
            exit(1);
        }
        rs__ring_release(&cq, &cur);
        uint64_t t1 = bp_now_ns();
        if (i >= warm)
            series_add(out, t1 - t0);
    }
    out->yields += b.yields;
    free(rx);
    free(rec);
    free(rq);
    munmap(base, (size_t)st.st_size);
    close(fds[1]);
    close(s);   /* the sidecar sees the hang-up and reclaims the region */
}

/* --------------------------------------- parts of the round trip (msgpack) */

typedef struct parts {
    double req_encode, req_decode, comp_encode, comp_decode;
    uint32_t req_len, comp_len;
} parts;

/* Each step as the path performs it for one echo call (client.c rs_submit
 * and reap, sidecar intake.c and outbox.c): encode = rs__stage (packs a
 * small record into a buffer) + reserve + copy in + commit; decode = peek +
 * copy out + release + decode. Timed over batches so the clock's cost drops out. The ring is
 * private memory here, so this is CPU work alone, no cache-line transfer. */
static parts measure_parts(const plan *p)
{
    enum { BATCH = 256 };
    parts out = { 0 };
    static _Alignas(4096) uint8_t hdr[4096], data[1u << 16];
    rs__ring r;
    rs__ring_init(&r, hdr, data, sizeof data);
    uint8_t *rx = malloc(RS__MAX_RECORD);
    rs__rec *rec = malloc(sizeof *rec);
    rs__req_rec *rq = calloc(1, sizeof *rq);
    rs__comp_rec *cp = calloc(1, sizeof *cp);
    if (!rx || !rec || !rq || !cp) {
        fprintf(stderr, "ringbench: out of memory\n");
        exit(1);
    }
    uint8_t body[PAYLOAD];
    memset(body, 'e', sizeof body);
    /* what rs_submit packs for our echo call, and what outbox.c answers */
    echo_request(rq, body);
    rq->id = 1ull << 32 | 7;
    cp->id = rq->id;
    cp->status = 200;
    cp->error_msg = (rs__slice){ "", 0 };
    cp->upstream = (rs__slice){ "echo", 4 };
    cp->body_total = PAYLOAD;
    cp->part = rq->part;

    rs__ring_cursor cur = { 0, 0 };
    for (int kind = 0; kind < 2; kind++) {
        rs__pack_fn fn = kind == 0 ? rs__pack_request : rs__pack_completion;
        const void *src = kind == 0 ? (const void *)rq : (const void *)cp;
        uint64_t enc = 0, decd = 0, n = 0;
        uint32_t len = 0;
        while (n < p->parts_iters) {
            uint64_t t0 = bp_now_ns();
            for (int k = 0; k < BATCH; k++) {
                rs__staged st;
                len = rs__stage(&st, fn, src);
                uint64_t at;
                if (rs__ring_reserve_mp(&r, rs__rec_span(len), &at) < 0) {
                    fprintf(stderr, "ringbench: parts ring full (a bug in ringbench)\n");
                    exit(1);
                }
                rs__ring_put_staged(&r, at, &st);
            }
            uint64_t t1 = bp_now_ns();
            for (int k = 0; k < BATCH; k++) {
                uint32_t got;
                const char *why = "no committed record";
                uint64_t id;
                bool ok = rs__ring_peek(&r, &cur, RS__MAX_RECORD, &got) == 1;
                if (ok) {
                    rs__ring_take(&r, &cur, rx, got);
                    rs__ring_release(&r, &cur);
                    ok = rs__rec_decode(rx, got, rec, &id, &why) == 0;
                }
                if (!ok) {
                    fprintf(stderr, "ringbench: our own record did not come back: %s\n", why);
                    exit(1);
                }
            }
            uint64_t t2 = bp_now_ns();
            enc += t1 - t0;
            decd += t2 - t1;
            n += BATCH;
        }
        if (kind == 0) {
            out.req_encode = (double)enc / (double)n;
            out.req_decode = (double)decd / (double)n;
            out.req_len = len;
        } else {
            out.comp_encode = (double)enc / (double)n;
            out.comp_decode = (double)decd / (double)n;
            out.comp_len = len;
        }
    }
    free(rx);
    free(rec);
    free(rq);
    free(cp);
    return out;
}

static double clock_cost_ns(void)
{
    enum { N = 200000 };
    uint64_t t0 = bp_now_ns(), x = 0;
    for (int i = 0; i < N; i++)
        x += bp_now_ns();
    uint64_t t1 = bp_now_ns();
    return x ? (double)(t1 - t0) / N : 0;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ringbench [--quick] [--no-epoll] [--pin split|same] [--ring-bytes N] [SIDECAR]\n"
        "  SIDECAR          ringsided to start (default: $RINGSIDE_BIN, else\n"
        "                   build/sidecar/ringsided relative to the current directory)\n"
        "  --quick          smoke run, under 10 s (fewer samples and rounds: noisier)\n"
        "  --no-epoll       measure the sidecar on io_uring only (~10 s shorter; the\n"
        "                   epoll keys of the JSON are then null)\n"
        "  --pin split      this process on CPU 0, the other side of each test on CPU 1\n"
        "  --pin same       both sides on CPU 0 (exercises the shared-core fallback)\n"
        "  --ring-bytes N   data area of the one-way tests, a power of two\n"
        "                   (default 8388608, the sidecar's default ring size)\n"
        "Prints human-readable lines, then one JSON line.\n");
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

/* JSON keys added to the one line, each followed by a comma. */
typedef struct jbuf {
    char s[2048];
    size_t n;
} jbuf;

static void jput(jbuf *j, int k)
{
    if (k > 0)
        j->n += (size_t)k;
    if (j->n >= sizeof j->s) {   /* a bug here, not a run to report */
        fprintf(stderr, "ringbench: the JSON line outgrew its buffer\n");
        exit(1);
    }
}

/* `have` false: null (the figure was not measured in this run). */
static void jkey_num(jbuf *j, const char *key, bool have, double v, int decimals)
{
    jput(j, have ? snprintf(j->s + j->n, sizeof j->s - j->n, "\"%s\":%.*f,", key, decimals, v)
                 : snprintf(j->s + j->n, sizeof j->s - j->n, "\"%s\":null,", key));
}

static void jkey_str(jbuf *j, const char *key, const char *v)
{
    jput(j, snprintf(j->s + j->n, sizeof j->s - j->n, "\"%s\":\"%s\",", key, v));
}

/* Deadline of one test's turn in a round: half as long again as n samples
 * should take, plus 100 ms, so a test slowed down (say, both sides on one
 * core) is cut short on its own and cannot eat the time of the test it is
 * compared with, and the whole run stays bounded. */
static uint64_t turn_end(size_t n, uint64_t expect_ns)
{
    return bp_now_ns() + (uint64_t)n * expect_ns * 3 / 2 + 100000000u;
}

static void plan_sizes(plan *p)
{
    if (p->quick) {
        p->rounds = 3;
        p->stream_rounds = 1;
        p->pp_samples = 30000;
        p->rtt_samples = 15000;
        p->uds_samples = 1500;
        p->paused_samples = 150;
        p->sleep_samples = 150;
        p->efd_samples = 90;
        p->stream_ns = 150000000u;
        p->parts_iters = 20480;
    } else {
        p->rounds = 10;
        p->stream_rounds = 5;
        p->pp_samples = 500000;
        p->rtt_samples = 300000;
        p->uds_samples = 30000;
        p->paused_samples = 2000;
        p->sleep_samples = 2000;
        p->efd_samples = 1000;
        p->stream_ns = 300000000u;
        p->parts_iters = 204800;
    }
}

int main(int argc, char **argv)
{
    plan p = { .ring_bytes = 8u << 20 };
    const char *bin = NULL;
    bool with_epoll = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            p.quick = true;
        } else if (strcmp(argv[i], "--no-epoll") == 0) {
            with_epoll = false;
        } else if (strcmp(argv[i], "--pin") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "split") == 0) {
                g_pin = PIN_SPLIT;
            } else if (strcmp(argv[i], "same") == 0) {
                g_pin = PIN_SAME;
            } else {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "--ring-bytes") == 0 && i + 1 < argc) {
            p.ring_bytes = strtoull(argv[++i], NULL, 10);
            if (p.ring_bytes < 4096 || (p.ring_bytes & (p.ring_bytes - 1)) || p.ring_bytes > (1u << 30)) {
                fprintf(stderr, "ringbench: --ring-bytes wants a power of two from 4096 to 2^30\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] != '-' && !bin) {
            bin = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!bin)
        bin = getenv("RINGSIDE_BIN");
    if (!bin || !*bin)
        bin = "build/sidecar/ringsided";
    if (access(bin, X_OK) < 0) {
        fprintf(stderr, "ringbench: cannot run %s: %s (build it with `ninja -C build`, or pass its path "
                "as the first argument or in $RINGSIDE_BIN)\n", bin, strerror(errno));
        return 1;
    }
    plan_sizes(&p);

    struct sigaction sa = { .sa_handler = on_fatal_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    atexit(cleanup_at_exit);
    /* a full run: ~22 s quiet without the epoll rounds, which add ~12 s
     * (47 s on a loaded machine); every test's turn is bounded (turn_end),
     * and these are above the sum of the bounds */
    alarm(p.quick ? 20 : 100);
    if (g_pin != PIN_NONE)
        pin_to(0);
    if (mkdtemp(strcpy(g_tmpdir, "/tmp/ringbench.XXXXXX")) == NULL) {
        g_tmpdir[0] = 0;
        fprintf(stderr, "ringbench: mkdtemp: %s\n", strerror(errno));
        return 1;
    }

    uint64_t t_start = bp_now_ns();
    double clk = clock_cost_ns();
    printf("ringbench: %s run; sidecar %s, loop backends %s; pinning %s; one-way area %llu bytes; "
           "clock_gettime %.0f ns\n",
           p.quick ? "quick" : "full", bin, with_epoll ? "io_uring and epoll" : "io_uring only",
           g_pin == PIN_NONE ? "none" : g_pin == PIN_SPLIT ? "split (0 | 1)" : "same (0 | 0)",
           (unsigned long long)p.ring_bytes, clk);
    g_mark = cpu_mark_now();
    char extra[96];

    /* Phase 1: busy round trip against the bare cache-line round trip.
     * The sidecars sleep while a ping-pong round runs (no calls for
     * > 50 us), so they take no core from it; each backend's sidecar
     * sleeps while the other's is measured. The order of the two backends
     * is swapped every round, so neither always follows the same test. */
    const unsigned nbe = with_epoll ? BE_COUNT : 1;
    series pp, prim, msg, busy_be[BE_COUNT], direct_be[BE_COUNT];
    series_init(&pp, p.pp_samples);
    series_init(&msg, p.pp_samples);
    series_init(&prim, p.rtt_samples);
    call_stats busy_st_be[BE_COUNT] = { { 0 } };
    cpu_acc busy_cpu[BE_COUNT] = { { 0 } }, asleep_cpu[BE_COUNT] = { { 0 } };
    sidecar sc[BE_COUNT];
    rs_client *cl[BE_COUNT];
    for (unsigned k = 0; k < BE_COUNT; k++) {
        series_init(&busy_be[k], k < nbe ? p.rtt_samples : 0);
        series_init(&direct_be[k], k < nbe ? p.rtt_samples : 0);
    }
    for (unsigned k = 0; k < nbe; k++) {
        sidecar_start(&sc[k], bin, k == BE_URING ? "busy" : "busy-epoll", (enum backend)k, 50);
        cl[k] = sidecar_connect(&sc[k]);
        sidecar_check_backend(&sc[k]);
    }
    for (unsigned r = 0; r < p.rounds; r++) {
        size_t n_pp = p.pp_samples / p.rounds, n_rtt = p.rtt_samples / p.rounds;
        pingpong_round(&pp, n_pp, turn_end(n_pp, 500));
        msgpp_round(&msg, n_pp, turn_end(n_pp, 500));
        for (unsigned j = 0; j < nbe; j++) {
            unsigned k = r % 2 ? nbe - 1 - j : j;
            rtt_round_on(&sc[k], cl[k], &busy_be[k], n_rtt, 0, turn_end(n_rtt, 3000), &busy_st_be[k], &busy_cpu[k]);
        }
        prim_round(&prim, n_rtt, p.ring_bytes, turn_end(n_rtt, 1000));
        for (unsigned j = 0; j < nbe; j++) {
            unsigned k = r % 2 ? nbe - 1 - j : j;
            direct_round(sc[k].sock, &direct_be[k], n_rtt, turn_end(n_rtt, 2000));
        }
    }
    for (unsigned k = 0; k < nbe; k++) {
        rs_close(cl[k]);
        sidecar_stop(&sc[k]);
    }
    series *const busy = &busy_be[BE_URING], *const direct = &direct_be[BE_URING];
    const call_stats busy_st = busy_st_be[BE_URING];
    printf("phase 1: busy round trips, %u alternating rounds (other load %.2f cores)\n", p.rounds, phase_load());
    lat lim = summarize(&pp);
    snprintf(extra, sizeof extra, ", %llu yields", (unsigned long long)pp.yields);
    print_lat("limit: cache-line ping-pong RTT", lim, extra);
    lat ml = summarize(&msg);
    snprintf(extra, sizeof extra, ", %llu yields", (unsigned long long)msg.yields);
    print_lat("floor: 100 B there, 95 B back, two lines each", ml, extra);
    lat bl = summarize(busy);
    snprintf(extra, sizeof extra, "; client slept %llu times, rang %llu doorbells",
             (unsigned long long)busy_st.sleeps, (unsigned long long)busy_st.doorbells);
    print_lat("ring: rs_call echo RTT, busy (spin 50 us)", bl, extra);
    lat ql = summarize(&prim);
    snprintf(extra, sizeof extra, ", %llu yields", (unsigned long long)prim.yields);
    print_lat("ring alone: 100 B there, 95 B back", ql, extra);
    lat dl = summarize(direct);
    snprintf(extra, sizeof extra, ", %llu yields", (unsigned long long)direct->yields);
    print_lat("ring + sidecar, no client library", dl, extra);
    lat ebl = { 0 }, edl = { 0 };
    if (with_epoll) {
        ebl = summarize(&busy_be[BE_EPOLL]);
        snprintf(extra, sizeof extra, "; client slept %llu times, rang %llu doorbells",
                 (unsigned long long)busy_st_be[BE_EPOLL].sleeps, (unsigned long long)busy_st_be[BE_EPOLL].doorbells);
        print_lat("epoll sidecar: rs_call echo RTT, busy", ebl, extra);
        edl = summarize(&direct_be[BE_EPOLL]);
        snprintf(extra, sizeof extra, ", %llu yields", (unsigned long long)direct_be[BE_EPOLL].yields);
        print_lat("epoll sidecar: no client library", edl, extra);
    }

    /* Phase 2: one-way rate against the bare slot copy. */
    stream_result rs[ST_COUNT][MAX_ROUNDS];
    for (unsigned r = 0; r < p.stream_rounds; r++)
        for (int k = 0; k < ST_COUNT; k++)
            rs[k][r] = stream_once(&p, (enum stream_kind)k);
    printf("phase 2: one-way 64-byte records, %u alternating rounds of %.2f s (other load %.2f cores)\n",
           p.stream_rounds, (double)p.stream_ns / 1e9, phase_load());
    stream_result med[ST_COUNT];
    static const char *const stream_names[ST_COUNT] = {
        "limit: bare 64-byte slot copy",
        "ring: as rs_submit + the sidecar's drain",
        "ring: same, releasing every record",
        "ring: same, without the wakeup check",
    };
    for (int k = 0; k < ST_COUNT; k++) {
        med[k] = stream_median(rs[k], p.stream_rounds);
        print_stream(stream_names[k], med[k], rs[k], p.stream_rounds);
    }

    /* Phase 3: asleep round trip against the Unix socket. The client reads
     * RINGSIDE_SPIN_US when it connects. Both backends' sidecars, as in
     * phase 1. */
    series uds, udsp, efd, urg, asleep_be[BE_COUNT], nospin_be[BE_COUNT];
    series_init(&efd, p.efd_samples);
    series_init(&urg, p.efd_samples);
    series_init(&uds, p.uds_samples);
    series_init(&udsp, p.paused_samples);
    call_stats asleep_st_be[BE_COUNT] = { { 0 } }, nospin_st_be[BE_COUNT] = { { 0 } };
    for (unsigned k = 0; k < BE_COUNT; k++) {
        series_init(&asleep_be[k], k < nbe ? p.sleep_samples : 0);
        series_init(&nospin_be[k], k < nbe ? p.sleep_samples : 0);
    }
    /* cl: a client as it ships (it spins up to 50 us for its answer before
     * it sleeps); cs: one that never spins. */
    rs_client *cs[BE_COUNT];
    for (unsigned k = 0; k < nbe; k++) {
        sidecar_start(&sc[k], bin, k == BE_URING ? "asleep" : "asleep-epoll", (enum backend)k, 50);
        cl[k] = sidecar_connect(&sc[k]);
        sidecar_check_backend(&sc[k]);
    }
    const char *old_spin = getenv("RINGSIDE_SPIN_US");
    char *saved = old_spin ? strdup(old_spin) : NULL;
    setenv("RINGSIDE_SPIN_US", "0", 1);
    for (unsigned k = 0; k < nbe; k++)
        cs[k] = sidecar_connect(&sc[k]);
    if (saved) {
        setenv("RINGSIDE_SPIN_US", saved, 1);
        free(saved);
    } else {
        unsetenv("RINGSIDE_SPIN_US");
    }
    const uint64_t paused = SLEEP_PAUSE_NS + 50000u;
    for (unsigned r = 0; r < p.rounds; r++) {
        size_t n_up = p.paused_samples / p.rounds, n_as = p.sleep_samples / p.rounds;
        size_t n_u = p.uds_samples / p.rounds, n_e = p.efd_samples / p.rounds;
        uds_round(&udsp, n_up, SLEEP_PAUSE_NS, turn_end(n_up, paused));
        for (unsigned j = 0; j < nbe; j++) {
            unsigned k = r % 2 ? nbe - 1 - j : j;
            rtt_round_on(&sc[k], cl[k], &asleep_be[k], n_as, SLEEP_PAUSE_NS, turn_end(n_as, paused),
                         &asleep_st_be[k], &asleep_cpu[k]);
            rtt_round(cs[k], &nospin_be[k], n_as, SLEEP_PAUSE_NS, turn_end(n_as, paused), &nospin_st_be[k]);
        }
        uds_round(&uds, n_u, 0, turn_end(n_u, 30000));
        efd_round(&efd, n_e, SLEEP_PAUSE_NS, turn_end(n_e, paused));
        uring_round(&urg, n_e, SLEEP_PAUSE_NS, turn_end(n_e, paused));
    }
    for (unsigned k = 0; k < nbe; k++) {
        rs_close(cl[k]);
        rs_close(cs[k]);
        sidecar_stop(&sc[k]);
    }
    remove_tmpdir();
    g_tmpdir[0] = 0;
    const call_stats asleep_st = asleep_st_be[BE_URING], nospin_st = nospin_st_be[BE_URING];
    printf("phase 3: sleeping round trips, %u alternating rounds (other load %.2f cores)\n", p.rounds, phase_load());
    lat ul = summarize(&uds);
    print_lat("uds: ping-pong RTT, back to back", ul, "");
    lat upl = summarize(&udsp);
    print_lat("uds: ping-pong RTT, 2 ms apart", upl, "");
    lat el = summarize(&efd);
    print_lat("limit: eventfd ping-pong RTT, 2 ms apart", el, "");
    lat gl = summarize(&urg);
    print_lat("limit: io_uring/epoll doorbells, 2 ms apart", gl, "");
    lat al = summarize(&asleep_be[BE_URING]);
    snprintf(extra, sizeof extra, "; client slept %llu times, rang %llu doorbells",
             (unsigned long long)asleep_st.sleeps, (unsigned long long)asleep_st.doorbells);
    print_lat("ring: rs_call echo RTT, sidecar asleep, 2 ms apart", al, extra);
    lat nospinl = summarize(&nospin_be[BE_URING]);
    snprintf(extra, sizeof extra, "; client slept %llu times, rang %llu doorbells",
             (unsigned long long)nospin_st.sleeps, (unsigned long long)nospin_st.doorbells);
    print_lat("ring: same, client with RINGSIDE_SPIN_US=0", nospinl, extra);
    lat eal = { 0 }, enl = { 0 };
    if (with_epoll) {
        eal = summarize(&asleep_be[BE_EPOLL]);
        snprintf(extra, sizeof extra, "; client slept %llu times, rang %llu doorbells",
                 (unsigned long long)asleep_st_be[BE_EPOLL].sleeps, (unsigned long long)asleep_st_be[BE_EPOLL].doorbells);
        print_lat("epoll sidecar: rs_call echo RTT, asleep", eal, extra);
        enl = summarize(&nospin_be[BE_EPOLL]);
        snprintf(extra, sizeof extra, "; client slept %llu times, rang %llu doorbells",
                 (unsigned long long)nospin_st_be[BE_EPOLL].sleeps, (unsigned long long)nospin_st_be[BE_EPOLL].doorbells);
        print_lat("epoll sidecar: same, client at spin 0", enl, extra);
    }

    /* Phase 4: where a busy round trip's CPU time goes. */
    parts pt = measure_parts(&p);
    printf("phase 4: msgpack steps of one echo call, in-process (other load %.2f cores)\n", phase_load());
    printf("  request  %3u B: encode %4.0f ns, take out + decode %4.0f ns\n", pt.req_len, pt.req_encode,
           pt.req_decode);
    printf("  response %3u B: encode %4.0f ns, take out + decode %4.0f ns\n", pt.comp_len, pt.comp_encode,
           pt.comp_decode);
    double msgpack_ns = pt.req_encode + pt.req_decode + pt.comp_encode + pt.comp_decode;
    printf("  together %.0f ns of the %.0f ns busy RTT p50\n", msgpack_ns, (double)bl.p50);
    double floor_ns = (double)ml.p50 + msgpack_ns;
    printf("  floor of rs_call here: message ping-pong %llu + msgpack steps %.0f = %.0f ns, %.2fx the limit\n",
           (unsigned long long)ml.p50, msgpack_ns, floor_ns, ratio(floor_ns, (double)lim.p50));

    double rtt_vs_limit = ratio((double)bl.p50, (double)lim.p50);
    /* per round, then the median: a round's ring and bare runs are seconds
     * apart, rounds are further apart, and the cross-core cost drifts */
    double rr[MAX_ROUNDS], rb[MAX_ROUNDS];
    for (unsigned r = 0; r < p.stream_rounds; r++) {
        rr[r] = ratio(rs[ST_RING][r].per_s, rs[ST_BARE][r].per_s);
        rb[r] = ratio(rs[ST_RING_EACH][r].per_s, rs[ST_BARE][r].per_s);
    }
    qsort(rr, p.stream_rounds, sizeof *rr, bp_cmp_double);
    qsort(rb, p.stream_rounds, sizeof *rb, bp_cmp_double);
    double oneway_vs_limit = rr[p.stream_rounds / 2];
    double each_vs_limit = rb[p.stream_rounds / 2];
    double sleep_vs_uds = ratio((double)al.p50, (double)ul.p50);
    double sleep_vs_uds_paused = ratio((double)al.p50, (double)upl.p50);
    bool ok_rtt = rtt_vs_limit > 0 && rtt_vs_limit <= 2.0;
    bool ok_ow = oneway_vs_limit >= 0.5;
    double nospin_vs_uds_paused = ratio((double)nospinl.p50, (double)upl.p50);
    /* judged against the socket with the same pause: both have slept 2 ms
     * (the back-to-back socket runs warm, and is bimodal here) */
    bool ok_sleep = sleep_vs_uds_paused > 0 && sleep_vs_uds_paused <= 1.0;
    uint64_t bad = 0, yields = pp.yields + msg.yields;
    for (int k = 0; k < ST_COUNT; k++) {
        bad += med[k].bad;
        yields += med[k].yields;
    }
    printf("targets:\n");
    printf("  busy RTT / bare ping-pong      %6.2f  (<= 2.00: %s; the ring alone %.2f; ring + sidecar %.2f; "
           "the floor %.2f)\n",
           rtt_vs_limit, ok_rtt ? "met" : "NOT met", ratio((double)ql.p50, (double)lim.p50),
           ratio((double)dl.p50, (double)lim.p50), ratio(floor_ns, (double)lim.p50));
    printf("  one-way / bare copy            %6.2f  (>= 0.50: %s; releasing every record %.2f)\n",
           oneway_vs_limit, ok_ow ? "met" : "NOT met", each_vs_limit);
    printf("  asleep RTT / uds 2 ms apart    %6.2f  (<= 1.00: %s; / uds back to back %.2f; "
           "/ ringside's doorbells alone %.2f; client at spin 0 / uds 2 ms apart %.2f)\n",
           sleep_vs_uds_paused, ok_sleep ? "met" : "NOT met", sleep_vs_uds,
           ratio((double)al.p50, (double)gl.p50), nospin_vs_uds_paused);

    /* epoll against io_uring: the same calls in the same rounds */
    double cpu_busy[BE_COUNT], cpu_asleep[BE_COUNT], sys_busy[BE_COUNT], sys_asleep[BE_COUNT];
    for (unsigned k = 0; k < BE_COUNT; k++) {
        cpu_busy[k] = cpu_per_call(&busy_cpu[k]);
        cpu_asleep[k] = cpu_per_call(&asleep_cpu[k]);
        sys_busy[k] = cpu_sys_share(&busy_cpu[k]);
        sys_asleep[k] = cpu_sys_share(&asleep_cpu[k]);
    }
    double e_busy = ratio((double)ebl.p50, (double)bl.p50), e_direct = ratio((double)edl.p50, (double)dl.p50);
    double e_asleep = ratio((double)eal.p50, (double)al.p50), e_nospin = ratio((double)enl.p50, (double)nospinl.p50);
    /* with the ticks it is from: a share of 3 ticks says little */
    char kshare[2][BE_COUNT][48];
    for (unsigned k = 0; k < BE_COUNT; k++) {
        const cpu_acc *acc[2] = { &busy_cpu[k], &asleep_cpu[k] };
        for (int b = 0; b < 2; b++) {
            unsigned long long ticks = acc[b]->user_ticks + acc[b]->sys_ticks;
            snprintf(kshare[b][k], sizeof kshare[b][k], "%.0f%% in the kernel of %llu ticks",
                     ticks ? 100 * cpu_sys_share(acc[b]) : 0.0, ticks);
        }
    }
    if (with_epoll) {
        printf("loop backends: epoll / io_uring, the same calls in the same rounds:\n");
        printf("  busy rs_call p50               %6.2f  (p99 %llu / %llu ns; no client library %.2f)\n", e_busy,
               (unsigned long long)ebl.p99, (unsigned long long)bl.p99, e_direct);
        printf("  asleep rs_call p50             %6.2f  (p99 %llu / %llu ns; client at spin 0 %.2f)\n", e_asleep,
               (unsigned long long)eal.p99, (unsigned long long)al.p99, e_nospin);
        printf("  sidecar CPU per busy call      %6.2f  (io_uring %.0f ns, %s; epoll %.0f ns, %s)\n",
               ratio(cpu_busy[BE_EPOLL], cpu_busy[BE_URING]), cpu_busy[BE_URING], kshare[0][BE_URING],
               cpu_busy[BE_EPOLL], kshare[0][BE_EPOLL]);
        printf("  sidecar CPU per asleep call    %6.2f  (io_uring %.0f ns, %s; epoll %.0f ns, %s)\n",
               ratio(cpu_asleep[BE_EPOLL], cpu_asleep[BE_URING]), cpu_asleep[BE_URING], kshare[1][BE_URING],
               cpu_asleep[BE_EPOLL], kshare[1][BE_EPOLL]);
    } else {
        printf("loop backend: io_uring only (--no-epoll); sidecar CPU per busy call %.0f ns (%s), "
               "per asleep call %.0f ns (%s)\n", cpu_busy[BE_URING], kshare[0][BE_URING], cpu_asleep[BE_URING],
               kshare[1][BE_URING]);
    }
    for (unsigned k = 0; k < nbe; k++) {
        const call_stats *st = &asleep_st_be[k];
        if (st->calls && st->doorbells != st->calls)
            printf("warning: %llu of %llu asleep calls found the %s sidecar awake (no doorbell): not a pure "
                   "wake-up figure\n", (unsigned long long)(st->calls - st->doorbells),
                   (unsigned long long)st->calls, g_backend_names[k]);
    }
    if (g_worst_load > 0.10)
        printf("warning: other processes took up to %.2f cores during a phase: figures are disturbed\n",
               g_worst_load);
    const series *all[] = { &pp, &msg, &busy_be[0], &busy_be[1], &prim, &direct_be[0], &direct_be[1], &uds, &udsp,
                            &efd, &urg, &asleep_be[0], &asleep_be[1], &nospin_be[0], &nospin_be[1] };
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        if (all[k]->n < all[k]->cap / 2)
            printf("warning: a latency test ran out of time with %zu of %zu samples: the machine is "
                   "overloaded or both sides share a core\n", all[k]->n, all[k]->cap);
    if (bad)
        printf("error: a one-way consumer saw %llu records out of order or corrupt\n", (unsigned long long)bad);
    printf("ringbench: done in %.1f s\n", (double)(bp_now_ns() - t_start) / 1e9);

    /* the backends' keys: null where --no-epoll left them out */
    jbuf jb = { .n = 0 };
    jb.s[0] = 0;
    jkey_str(&jb, "backends", with_epoll ? "io_uring,epoll" : "io_uring");
    jkey_num(&jb, "epoll_rtt_p50_ns", with_epoll, (double)ebl.p50, 0);
    jkey_num(&jb, "epoll_rtt_p99_ns", with_epoll, (double)ebl.p99, 0);
    jkey_num(&jb, "epoll_direct_rtt_p50_ns", with_epoll, (double)edl.p50, 0);
    jkey_num(&jb, "epoll_sleep_rtt_p50_ns", with_epoll, (double)eal.p50, 0);
    jkey_num(&jb, "epoll_sleep_rtt_p99_ns", with_epoll, (double)eal.p99, 0);
    jkey_num(&jb, "epoll_sleep_nospin_rtt_p50_ns", with_epoll, (double)enl.p50, 0);
    jkey_num(&jb, "epoll_over_uring_busy_p50", with_epoll, e_busy, 3);
    jkey_num(&jb, "epoll_over_uring_direct_p50", with_epoll, e_direct, 3);
    jkey_num(&jb, "epoll_over_uring_asleep_p50", with_epoll, e_asleep, 3);
    jkey_num(&jb, "epoll_over_uring_asleep_nospin_p50", with_epoll, e_nospin, 3);
    jkey_num(&jb, "epoll_asleep_doorbells_per_call", with_epoll,
             ratio((double)asleep_st_be[BE_EPOLL].doorbells, (double)asleep_st_be[BE_EPOLL].calls), 3);
    jkey_num(&jb, "uring_sidecar_cpu_per_busy_call_ns", true, cpu_busy[BE_URING], 0);
    jkey_num(&jb, "epoll_sidecar_cpu_per_busy_call_ns", with_epoll, cpu_busy[BE_EPOLL], 0);
    jkey_num(&jb, "uring_sidecar_cpu_per_asleep_call_ns", true, cpu_asleep[BE_URING], 0);
    jkey_num(&jb, "epoll_sidecar_cpu_per_asleep_call_ns", with_epoll, cpu_asleep[BE_EPOLL], 0);
    jkey_num(&jb, "epoll_over_uring_cpu_busy", with_epoll, ratio(cpu_busy[BE_EPOLL], cpu_busy[BE_URING]), 3);
    jkey_num(&jb, "epoll_over_uring_cpu_asleep", with_epoll, ratio(cpu_asleep[BE_EPOLL], cpu_asleep[BE_URING]), 3);
    jkey_num(&jb, "uring_sidecar_sys_frac_busy", sys_busy[BE_URING] >= 0, sys_busy[BE_URING], 3);
    jkey_num(&jb, "epoll_sidecar_sys_frac_busy", with_epoll && sys_busy[BE_EPOLL] >= 0, sys_busy[BE_EPOLL], 3);
    jkey_num(&jb, "uring_sidecar_sys_frac_asleep", sys_asleep[BE_URING] >= 0, sys_asleep[BE_URING], 3);
    jkey_num(&jb, "epoll_sidecar_sys_frac_asleep", with_epoll && sys_asleep[BE_EPOLL] >= 0, sys_asleep[BE_EPOLL], 3);

    printf("{\"bench\":\"ring\",\"rtt_p50_ns\":%llu,\"rtt_p99_ns\":%llu,\"sleep_rtt_p50_ns\":%llu,"
           "\"oneway_per_s\":%.0f,\"uds_rtt_p50_ns\":%llu,\"limit_rtt_p50_ns\":%llu,"
           "\"limit_oneway_per_s\":%.0f,\"rtt_vs_limit\":%.3f,\"oneway_vs_limit\":%.3f,"
           "\"sleep_vs_uds\":%.3f,\"sleep_rtt_p99_ns\":%llu,\"uds_rtt_p99_ns\":%llu,"
           "\"uds_paused_rtt_p50_ns\":%llu,\"sleep_vs_uds_paused\":%.3f,"
           "\"sleep_nospin_rtt_p50_ns\":%llu,\"sleep_nospin_vs_uds_paused\":%.3f,"
           "\"ring_only_rtt_p50_ns\":%llu,\"direct_rtt_p50_ns\":%llu,\"efd_paused_rtt_p50_ns\":%llu,\"doorbells_paused_rtt_p50_ns\":%llu,\"limit_rtt_p99_ns\":%llu,"
           "\"oneway_release_each_per_s\":%.0f,\"release_each_vs_limit\":%.3f,"
           "\"oneway_nowake_per_s\":%.0f,\"oneway_full_frac\":%.3f,\"msgpack_ns\":%.0f,"
           "\"clock_ns\":%.0f,\"asleep_doorbells_per_call\":%.3f,"
           "\"asleep_client_sleeps_per_call\":%.3f,\"busy_client_sleeps\":%llu,\"yields\":%llu,"
           "\"msg_rtt_p50_ns\":%llu,\"floor_rtt_ns\":%.0f,\"floor_vs_limit\":%.3f,"
           "\"other_load_max\":%.2f,\"ring_bytes\":%llu,\"rounds\":%u,\"quick\":%s,\"pin\":\"%s\","
           "%s\"targets_met\":%d,\"ok\":%s}\n",
           (unsigned long long)bl.p50, (unsigned long long)bl.p99, (unsigned long long)al.p50,
           med[ST_RING].per_s, (unsigned long long)ul.p50, (unsigned long long)lim.p50,
           med[ST_BARE].per_s, rtt_vs_limit, oneway_vs_limit,
           sleep_vs_uds, (unsigned long long)al.p99, (unsigned long long)ul.p99,
           (unsigned long long)upl.p50, sleep_vs_uds_paused,
           (unsigned long long)nospinl.p50, nospin_vs_uds_paused,
           (unsigned long long)ql.p50, (unsigned long long)dl.p50, (unsigned long long)el.p50, (unsigned long long)gl.p50, (unsigned long long)lim.p99,
           med[ST_RING_EACH].per_s, each_vs_limit,
           med[ST_RING_NOWAKE].per_s, ratio((double)med[ST_RING].full, (double)med[ST_RING].records), msgpack_ns,
           clk, ratio((double)asleep_st.doorbells, (double)asleep_st.calls),
           ratio((double)asleep_st.sleeps, (double)asleep_st.calls), (unsigned long long)busy_st.sleeps,
           (unsigned long long)yields, (unsigned long long)ml.p50, floor_ns, ratio(floor_ns, (double)lim.p50),
           g_worst_load, (unsigned long long)p.ring_bytes, p.rounds, p.quick ? "true" : "false",
           g_pin == PIN_NONE ? "none" : g_pin == PIN_SPLIT ? "split" : "same", jb.s,
           ok_rtt + ok_ow + ok_sleep, bad ? "false" : "true");
    free(pp.v);
    free(msg.v);
    free(prim.v);
    free(uds.v);
    free(udsp.v);
    free(efd.v);
    free(urg.v);
    for (unsigned k = 0; k < BE_COUNT; k++) {
        free(busy_be[k].v);
        free(direct_be[k].v);
        free(asleep_be[k].v);
        free(nospin_be[k].v);
    }
    return bad ? 1 : 0;
}
