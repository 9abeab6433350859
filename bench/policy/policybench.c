/*
 * policybench.c — does the global request-rate limit deliver the rate it is
 * configured for, and what does the policy work cost per request?
 *
 * Two measurements, in this order:
 *
 *   rate   End to end, real processes. The mock upstream
 *          (bench/mockup/ringside-mock-upstream, port picked by the kernel)
 *          and a ringsided are started here, the sidecar with a YAML file
 *          written to a mkdtemp directory:
 *              limits: {global: {rps: R, burst: B}}      R = --rps (200), B = --burst (1)
 *              priorities: {queue: {p1: 100000}}
 *              routes: [{name: mock, endpoint: http://127.0.0.1:PORT}]
 *          One client keeps a window of 2R P1 requests in flight
 *          (rs_submit, collected with rs_poll), so the sidecar's P1 queue
 *          is never empty and the rate bucket alone decides when each
 *          request leaves. After a 1 s warm-up, the completions whose
 *          rs_poll returned inside the next 10 s are counted:
 *          achieved_rps = completions / 10 s, rate_error_pct =
 *          100 * (achieved - configured) / configured. Counting at a fixed
 *          window's edges is off by at most one completion (0.05% at 200/s
 *          over 10 s), well inside the ±1% the issue asks for. Two
 *          cross-checks are printed beside it: the mock's own request
 *          counter (GET /stats) read at both edges of the window, which
 *          sees dispatches and not completions, and the mean gap between
 *          consecutive completions against the ideal 1/R, which says how
 *          much time each token loses when the rate falls short.
 *   admit  In-process, no I/O, no clock inside the loop: the pure policy
 *          calls that sc_admission_pump() makes for one dispatched request
 *          (rsp_sched_push at enqueue, then rsp_sched_next, rsp_bucket_wait_ns,
 *          rsp_sched_take, rsp_bucket_try_take), over a backlog held at 1,000
 *          queued requests of mixed priority (10% P0, 60% P1, 30% P2, the
 *          sidecar's default weights 70/30 and aging 5 s). `now` is a
 *          virtual clock advanced 1001 ns per request against a bucket of
 *          1e6/s, burst 1, so every request finds its token (the refill
 *          arithmetic still runs each time) and nothing expires. Each round
 *          of --requests (1,000,000) is timed as a whole with
 *          clock_gettime(CLOCK_MONOTONIC); the median of 7 rounds is
 *          admit_ns_per_req. Priorities and deadlines are drawn beforehand
 *          so the random generator is not timed. Deadlines are the
 *          sidecar's per-class defaults (30/120/600 s after arrival: what a
 *          request without timeout_ms gets). That is also the dearer case
 *          for the deadline heap: the standing backlog is mostly P2 with the
 *          latest deadlines, so each P0/P1 push sifts up to near the root
 *          and each take of one sifts a P2 down again. A second figure uses
 *          deadlines uniform in [1 s, 120 s] (clients passing their own
 *          timeout_ms). The bucket calls alone and the scheduler calls
 *          alone are also timed, to say where the time goes.
 *
 * Not in admit_ns_per_req: what the pump does per loop turn rather than per
 * request (pop_expired, next_deadline, p12_allowed's route walk), routing,
 * the token estimate, the tokens/min bucket; and of course the ring, msgpack
 * and libcurl work of the same request.
 *
 * Processes are started by fork/execv, stopped by PID (SIGTERM, then SIGKILL
 * after 5 s), and killed by the kernel if this process dies first
 * (PR_SET_PDEATHSIG). A watchdog ends a run that hangs.
 *
 * Output: human-readable lines, then exactly one JSON line:
 *   {"bench":"policy","configured_rps":..,"achieved_rps":..,"rate_error_pct":..,
 *    "window_s":..,"admit_ns_per_req":.., ...}
 */
#include "benchproc.h"
#include "bucket.h"
#include "ringside.h"
#include "scheduler.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP_NS     1000000000ull
#define WATCHDOG_S    60
#define ADMIT_ROUNDS  7
#define ADMIT_DEPTH   1000u
#define ADMIT_STEP_NS 1001u   /* > 1/rate of the 1e6/s bucket: a token is always there */

/* ------------------------------------------------------------- plumbing */

/* This run's temp dir and children (bench/common/benchproc.h): global, so
 * that the watchdog can kill the children on any exit path. */
static bp_run g_run;

/* GET /stats on the mock; its "requests" counter, or -1. A fresh HTTP/1.0
 * connection, so the mock closes it and reading to EOF is the whole answer. */
static long long mock_requests(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { 2, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[2048];
    size_t got = 0;
    long long v = -1;
    static const char rq[] = "GET /stats HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, rq, sizeof rq - 1) == (ssize_t)(sizeof rq - 1)) {
        ssize_t r;
        while (got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
            got += (size_t)r;
        buf[got] = 0;
        const char *k = strstr(buf, "\"requests\":");
        if (k)
            v = strtoll(k + 11, NULL, 10);
    }
    close(fd);
    return v;
}

/* ------------------------------------------------------ rate, end to end */

typedef struct rate_result {
    double configured, achieved, error_pct, window_s;
    double upstream_rps;        /* from the mock's counter; < 0 if unread */
    double mean_gap_us, ideal_gap_us, p50_gap_us, p99_gap_us;
    double busy_cores;          /* whole machine during the window, ours included */
    uint64_t ok, failed, submit_refused;
    int sidecar_status;
} rate_result;

/* |x| <= bound, without libm */
static bool abs_le(double x, double bound)
{
    return x <= bound && -x <= bound;
}

static int start_sidecar(const char *bin, double rps, double burst, int spin_us, uint32_t window, int port,
                         char *sock, size_t socklen)
{
    char cfg[512];
    /* queue.p1: far above the window, so no request is refused for room;
     * max_inflight: the client may hold the whole window open;
     * grace_ms: the run ends with a queue full of requests we no longer want;
     * log_level warn: no per-request logging competes with the loop. */
    int n = snprintf(cfg, sizeof cfg,
                     "log_level: warn\n"
                     "grace_ms: 1000\n"
                     "max_inflight: %u\n"
                     "limits:\n"
                     "  global: {rps: %.17g, burst: %.17g}\n"
                     "priorities:\n"
                     "  queue: {p1: 100000}\n"
                     "routes:\n"
                     "  - {name: mock, endpoint: \"http://127.0.0.1:%d\"}\n",
                     window + 64 > 4096 ? window + 64 : 4096, rps, burst, port);
    /* only when asked (a diagnostic): by default the sidecar's own default */
    if (spin_us >= 0 && n > 0 && (size_t)n < sizeof cfg)
        snprintf(cfg + n, sizeof cfg - (size_t)n, "spin_us: %d\n", spin_us);
    return bp_start_sidecar(&g_run, bin, cfg, sock, socklen);
}

static int run_rate(const char *sidecar_bin, const char *mock_bin, double rps, double burst, int spin_us,
                    double seconds, rate_result *res)
{
    memset(res, 0, sizeof *res);
    res->configured = rps;
    res->upstream_rps = -1;
    int port;
    if (bp_start_mock(&g_run, mock_bin, &port) < 0)
        return -1;
    /* 2R in flight: two seconds of queue, so the bucket, never the client,
     * is what the sidecar waits for */
    uint32_t window = (uint32_t)(2.0 * rps + 0.999999);
    if (window < 16)
        window = 16;
    char sock[128];
    if (start_sidecar(sidecar_bin, rps, burst, spin_us, window, port, sock, sizeof sock) < 0)
        return -1;
    rs_client *c = bp_connect(&g_run, sock);
    if (!c)
        return -1;

    static const char body[] =
        "{\"model\":\"deepseek-chat\",\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    rs_request rq = RS_REQUEST_INIT;
    rq.path = "/chat/completions";
    rq.priority = RS_P1;
    rq.body = body;
    rq.body_len = sizeof body - 1;
    /* generous: a request waits about window/R = 2 s in the queue; a deadline
     * that fired would end it without an upstream call and skew the count */
    rq.timeout_ms = (uint32_t)(1000.0 * (double)window / rps) + 60000u;

    size_t cap = (size_t)(rps * (seconds + 2.0) * 1.5) + 1024;
    uint64_t *stamps = malloc(cap * sizeof *stamps);
    if (!stamps) {
        rs_close(c);
        return -1;
    }
    uint64_t t0 = bp_now_ns(), win_start = t0 + WARMUP_NS, win_end = win_start + (uint64_t)(seconds * 1e9);
    uint64_t inflight = 0, n = 0;
    long long up_start = -1, up_end = -1;
    uint64_t up_t_start = 0, up_t_end = 0;
    bool in_window = false;
    double busy0 = 0;
    int rc = 0;
    uint64_t first_err_shown = 0;

    for (;;) {
        while (inflight < window) {
            rs_ticket t;
            int err = rs_submit(c, &rq, &t);
            if (err == RS_EAGAIN || err == RS_ETOOMANY) {
                res->submit_refused++;
                break;
            }
            if (err < 0) {
                fprintf(stderr, "policybench: rs_submit: %s: %s\n", rs_errname(err), rs_strerror(err));
                rc = -1;
                goto out;
            }
            inflight++;
        }
        rs_response *r[64];
        /* short timeout: the window's edges are checked at least every 5 ms */
        int got = rs_poll(c, r, 64, 5);
        uint64_t t = bp_now_ns();
        if (got < 0) {
            fprintf(stderr, "policybench: rs_poll: %s: %s\n", rs_errname(got), rs_strerror(got));
            rc = -1;
            goto out;
        }
        if (!in_window && t >= win_start) {
            /* read the mock's counter at the edge, timed at the midpoint
             * of the exchange */
            uint64_t a = bp_now_ns();
            up_start = mock_requests(port);
            up_t_start = a + (bp_now_ns() - a) / 2;
            busy0 = bp_machine_busy_s();
            in_window = true;
        }
        for (int i = 0; i < got; i++) {
            inflight--;
            bool counted = t >= win_start && t < win_end;
            if (r[i]->error == RS_OK && r[i]->status == 200) {
                if (counted) {
                    res->ok++;
                    if (n < cap)
                        stamps[n++] = t;
                }
            } else {
                /* every request should succeed: a failure is a finding */
                if (counted)
                    res->failed++;
                if (first_err_shown++ < 5)
                    fprintf(stderr, "policybench: request ended with %s (status %d): %s\n",
                            rs_errname(r[i]->error), r[i]->status, r[i]->error_msg);
            }
            rs_response_free(r[i]);
        }
        if (t >= win_end) {
            uint64_t a = bp_now_ns();
            up_end = mock_requests(port);
            up_t_end = a + (bp_now_ns() - a) / 2;
            res->busy_cores = (bp_machine_busy_s() - busy0) / ((double)(up_t_end - up_t_start) / 1e9);
            break;
        }
    }

    res->window_s = seconds;
    res->achieved = (double)res->ok / seconds;
    res->error_pct = 100.0 * (res->achieved - rps) / rps;
    if (up_start >= 0 && up_end >= up_start && up_t_end > up_t_start)
        res->upstream_rps = (double)(up_end - up_start) / ((double)(up_t_end - up_t_start) / 1e9);
    res->ideal_gap_us = 1e6 / rps;
    if (n >= 2) {
        res->mean_gap_us = (double)(stamps[n - 1] - stamps[0]) / 1e3 / (double)(n - 1);
        /* gaps in place: stamps[i] becomes the gap after completion i */
        for (uint64_t i = 0; i + 1 < n; i++)
            stamps[i] = stamps[i + 1] - stamps[i];
        qsort(stamps, n - 1, sizeof *stamps, bp_cmp_u64);
        res->p50_gap_us = (double)stamps[(n - 1) / 2] / 1e3;
        res->p99_gap_us = (double)stamps[(n - 1) * 99 / 100] / 1e3;
    }
out:
    free(stamps);
    /* abandons the queued rest: the sidecar cancels them, so its drain on
     * SIGTERM has nothing to wait for */
    rs_close(c);
    return rc;
}

/* ---------------------------------------------------- admission, in-process */

typedef struct admit_input {
    uint8_t *prio;
    uint64_t *deadline_off;   /* ns after the request's arrival */
    size_t n;
} admit_input;

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* 10% P0, 60% P1, 30% P2: interactive traffic on top of a batch backlog.
 * random_deadlines: uniform 1..120 s at ms grain; else the sidecar's
 * per-class defaults (30, 120, 600 s). */
static int admit_input_make(admit_input *in, size_t n, bool random_deadlines, uint64_t seed)
{
    static const uint64_t defaults_ns[3] = { 30000000000ull, 120000000000ull, 600000000000ull };
    in->n = n;
    in->prio = malloc(n);
    in->deadline_off = malloc(n * sizeof *in->deadline_off);
    if (!in->prio || !in->deadline_off)
        return -1;
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = xorshift(&s) % 100;
        in->prio[i] = r < 10 ? 0 : r < 70 ? 1 : 2;
        in->deadline_off[i] = random_deadlines ? (1000 + xorshift(&s) % 119001) * 1000000ull
                                               : defaults_ns[in->prio[i]];
    }
    return 0;
}

static void admit_input_free(admit_input *in)
{
    free(in->prio);
    free(in->deadline_off);
}

enum admit_mode { ADMIT_FULL, ADMIT_BUCKET_ONLY, ADMIT_SCHED_ONLY };

typedef struct admit_state {
    rsp_sched s;
    rsp_bucket b;
    rsp_sched_item items[ADMIT_DEPTH + 1];
    rsp_sched_item *freelist[ADMIT_DEPTH + 1];
    uint32_t nfree;
    uint64_t now;
    uint64_t refused, blocked, taken[3];
} admit_state;

static int admit_setup(admit_state *st, const admit_input *in)
{
    memset(st, 0, sizeof *st);
    rsp_sched_cfg cfg;
    rsp_sched_cfg_default(&cfg);
    /* bounds out of the way: every push must be accepted, or we would time refusals */
    for (int p = 0; p < RSP_SCHED_NPRIO; p++)
        cfg.max_queued[p] = 100000;
    if (rsp_sched_init(&st->s, &cfg) < 0)
        return -1;
    st->now = 1000000000000ull;   /* any start; far from 0 */
    rsp_bucket_init(&st->b, 1e6, 1, st->now);
    for (uint32_t i = 0; i <= ADMIT_DEPTH; i++)
        st->freelist[st->nfree++] = &st->items[i];
    /* the standing backlog: ADMIT_DEPTH requests drawn like the rest (from
     * the end of the input, so the timed part starts at index 0) */
    for (uint32_t i = 0; i < ADMIT_DEPTH; i++) {
        rsp_sched_item *it = st->freelist[--st->nfree];
        size_t k = in->n - 1 - i;
        it->prio = in->prio[k];
        it->deadline_ns = st->now + in->deadline_off[k];
        if (rsp_sched_push(&st->s, it, st->now) < 0)
            return -1;
        st->now += ADMIT_STEP_NS;
    }
    return 0;
}

/* The two halves of one request's trip through the policies, inlined into
 * each timed loop so a loop carries no branch it does not measure. */
static inline __attribute__((always_inline)) void arrive(admit_state *st, const admit_input *in, size_t i,
                                                         uint64_t now)
{
    rsp_sched_item *it = st->freelist[--st->nfree];
    it->prio = in->prio[i];
    it->deadline_ns = now + in->deadline_off[i];
    if (rsp_sched_push(&st->s, it, now) < 0) {
        st->refused++;
        st->freelist[st->nfree++] = it;
    }
}

static inline __attribute__((always_inline)) void dispatch(admit_state *st, rsp_sched_item *nx)
{
    rsp_sched_take(&st->s, nx);
    st->taken[nx->prio]++;
    st->freelist[st->nfree++] = nx;
}

/* One round: n requests arrive, one per virtual step, and one is dispatched
 * per arrival, so the queue stays ADMIT_DEPTH deep. The calls are those of
 * sc_admit()/enqueue() and of sc_admission_pump()'s dispatch loop, in that
 * order. Returns elapsed ns. */
static uint64_t admit_round(admit_state *st, const admit_input *in, size_t n, enum admit_mode mode)
{
    rsp_sched *s = &st->s;
    rsp_bucket *b = &st->b;
    uint64_t now = st->now;
    uint64_t t0 = bp_now_ns();
    switch (mode) {
    case ADMIT_FULL:
        for (size_t i = 0; i < n; i++) {
            arrive(st, in, i, now);
            rsp_sched_item *nx = rsp_sched_next(s, now, RSP_SCHED_ALL);
            if (nx && rsp_bucket_wait_ns(b, 1, now) == 0) {
                dispatch(st, nx);
                rsp_bucket_try_take(b, 1, now);
            } else {
                st->blocked++;
            }
            now += ADMIT_STEP_NS;
        }
        break;
    case ADMIT_BUCKET_ONLY:
        for (size_t i = 0; i < n; i++) {
            if (rsp_bucket_wait_ns(b, 1, now) == 0)
                rsp_bucket_try_take(b, 1, now);
            else
                st->blocked++;
            now += ADMIT_STEP_NS;
        }
        break;
    case ADMIT_SCHED_ONLY:
        for (size_t i = 0; i < n; i++) {
            arrive(st, in, i, now);
            rsp_sched_item *nx = rsp_sched_next(s, now, RSP_SCHED_ALL);
            if (nx)
                dispatch(st, nx);
            now += ADMIT_STEP_NS;
        }
        break;
    }
    uint64_t el = bp_now_ns() - t0;
    st->now = now;
    return el;
}

typedef struct admit_figure {
    double median_ns, min_ns, max_ns;
    uint64_t refused, blocked, taken[3];
    uint32_t backlog[3];      /* queued per class after the last round */
} admit_figure;

static int admit_measure(const admit_input *in, enum admit_mode mode, admit_figure *fig)
{
    static admit_state st;   /* ~50 KiB: not on the stack */
    if (admit_setup(&st, in) < 0) {
        fprintf(stderr, "policybench: scheduler setup failed\n");
        return -1;
    }
    size_t n = in->n - ADMIT_DEPTH;   /* the tail of the input built the backlog */
    /* one untimed round first: page faults, caches, branch predictors */
    admit_round(&st, in, n, mode);
    st.refused = st.blocked = 0;
    memset(st.taken, 0, sizeof st.taken);
    double per[ADMIT_ROUNDS];
    for (int r = 0; r < ADMIT_ROUNDS; r++)
        per[r] = (double)admit_round(&st, in, n, mode) / (double)n;
    qsort(per, ADMIT_ROUNDS, sizeof per[0], bp_cmp_double);
    fig->median_ns = per[ADMIT_ROUNDS / 2];
    fig->min_ns = per[0];
    fig->max_ns = per[ADMIT_ROUNDS - 1];
    fig->refused = st.refused;
    fig->blocked = st.blocked;
    memcpy(fig->taken, st.taken, sizeof fig->taken);
    /* the backlog must still be intact, or the figure is of something else */
    for (int p = 0; p < 3; p++)
        fig->backlog[p] = rsp_sched_len(&st.s, p);
    uint32_t depth = fig->backlog[0] + fig->backlog[1] + fig->backlog[2];
    rsp_sched_destroy(&st.s);
    if (depth != ADMIT_DEPTH || st.refused || (mode != ADMIT_SCHED_ONLY && st.blocked)) {
        fprintf(stderr, "policybench: admission loop went off course (depth %u, refused %llu, blocked %llu)\n",
                depth, (unsigned long long)st.refused, (unsigned long long)st.blocked);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: policybench [--rps R] [--burst B] [--seconds S] [--requests N]\n"
            "                   [--spin-us N] [--sidecar PATH] [--mock PATH] [--no-rate]\n"
            "  --rps R        global rate limit to configure and check (default 200)\n"
            "  --burst B      its burst (default 1)\n"
            "  --spin-us N    set the sidecar's spin_us (how long its loop busy-polls before\n"
            "                 sleeping); default: not set, the sidecar's default (50)\n"
            "  --seconds S    measuring window after a 1 s warm-up (default 10)\n"
            "  --requests N   requests per round of the in-process admission test (default 1000000)\n"
            "  --sidecar PATH ringsided (default $RINGSIDED, else BUILD/sidecar/ringsided next to this binary)\n"
            "  --mock PATH    mock upstream (default $RINGSIDE_MOCK_UPSTREAM, else\n"
            "                 BUILD/bench/mockup/ringside-mock-upstream)\n"
            "  --no-rate      only the in-process admission test\n");
}

static int parse_double(const char *opt, const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "policybench: %s wants a number from %g to %g, got '%s'\n", opt, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    double rps = 200, burst = 1, seconds = 10, nreq = 1000000, spin = -1;
    bool do_rate = true;
    int spin_us;
    char sidecar_bin[PATH_MAX], mock_bin[PATH_MAX];
    bp_init(&g_run, "policybench");
    bp_default_bins(sidecar_bin, sizeof sidecar_bin, mock_bin, sizeof mock_bin);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--no-rate") == 0) {
            do_rate = false;
        } else if (!v) {
            usage(stderr);
            return 2;
        } else if (strcmp(a, "--rps") == 0) {
            if (parse_double(a, v, 1, 20000, &rps) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--burst") == 0) {
            if (parse_double(a, v, 1, 1e6, &burst) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--spin-us") == 0) {
            if (parse_double(a, v, 0, 1000000, &spin) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--seconds") == 0) {
            if (parse_double(a, v, 1, 600, &seconds) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--requests") == 0) {
            if (parse_double(a, v, 2 * ADMIT_DEPTH, 1e8, &nreq) < 0)
                return 2;
            i++;
        } else if (strcmp(a, "--sidecar") == 0) {
            snprintf(sidecar_bin, sizeof sidecar_bin, "%s", v);
            i++;
        } else if (strcmp(a, "--mock") == 0) {
            snprintf(mock_bin, sizeof mock_bin, "%s", v);
            i++;
        } else {
            usage(stderr);
            return 2;
        }
    }

    spin_us = (int)spin;
    bp_install_watchdog(&g_run, (unsigned)(WATCHDOG_S + seconds), "the run took too long");

    /* admission first: nothing else of ours is running yet */
    size_t n = (size_t)nreq + ADMIT_DEPTH;
    admit_input rnd, dfl;
    admit_figure full, full_rnd, bucket_only, sched_only;
    if (admit_input_make(&rnd, n, true, 0x9e3779b97f4a7c15ull) < 0 ||
        admit_input_make(&dfl, n, false, 0x9e3779b97f4a7c15ull) < 0) {
        fprintf(stderr, "policybench: out of memory\n");
        return 1;
    }
    double busy0 = bp_machine_busy_s();
    uint64_t wall0 = bp_now_ns();
    if (admit_measure(&dfl, ADMIT_FULL, &full) < 0 || admit_measure(&rnd, ADMIT_FULL, &full_rnd) < 0 ||
        admit_measure(&dfl, ADMIT_BUCKET_ONLY, &bucket_only) < 0 ||
        admit_measure(&dfl, ADMIT_SCHED_ONLY, &sched_only) < 0)
        return 1;
    double admit_busy = (bp_machine_busy_s() - busy0) / ((double)(bp_now_ns() - wall0) / 1e9);
    admit_input_free(&rnd);
    admit_input_free(&dfl);
    uint64_t tk = full.taken[0] + full.taken[1] + full.taken[2];
    printf("admit: %.0f requests/round, queue held at %u (10%% P0 / 60%% P1 / 30%% P2 arriving), median of %d rounds\n",
           nreq, ADMIT_DEPTH, ADMIT_ROUNDS);
    printf("admit: push+next+wait_ns+take+try_take  %6.1f ns/req  (min %.1f, max %.1f)  default deadlines 30/120/600 s\n",
           full.median_ns, full.min_ns, full.max_ns);
    printf("admit: same, random deadlines 1-120 s    %6.1f ns/req  (min %.1f, max %.1f)\n", full_rnd.median_ns,
           full_rnd.min_ns, full_rnd.max_ns);
    printf("admit: bucket only (wait_ns+try_take)    %6.1f ns/req\n", bucket_only.median_ns);
    printf("admit: scheduler only (push+next+take)   %6.1f ns/req\n", sched_only.median_ns);
    printf("admit: dispatched P0/P1/P2 = %.1f%% / %.1f%% / %.1f%%; backlog at the end P0/P1/P2 = %u / %u / %u\n",
           100.0 * (double)full.taken[0] / (double)tk, 100.0 * (double)full.taken[1] / (double)tk,
           100.0 * (double)full.taken[2] / (double)tk, full.backlog[0], full.backlog[1], full.backlog[2]);
    printf("admit: machine busy %.2f cores of %ld while it ran (this test keeps 1 busy; more = other load)\n",
           admit_busy, sysconf(_SC_NPROCESSORS_ONLN));

    rate_result rr;
    memset(&rr, 0, sizeof rr);
    int rc = 0;
    if (do_rate) {
        if (bp_make_dir(&g_run) < 0)
            return 1;
        printf("rate: configured %.0f req/s, burst %g%s; 2R requests kept in flight; %.0f s measured after 1 s warm-up\n",
               rps, burst, spin_us >= 0 ? ", sidecar spin_us set" : "", seconds);
        fflush(stdout);
        rc = run_rate(sidecar_bin, mock_bin, rps, burst, spin_us, seconds, &rr);
        int st = bp_stop(&g_run.sidecar_pid);
        rr.sidecar_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (rr.sidecar_status != 0) {
            fprintf(stderr, "policybench: ringsided ended with status %d\n", rr.sidecar_status);
            bp_print_log_tail(&g_run);
        }
        bp_stop(&g_run.mock_pid);
        bp_remove_files(&g_run);
        if (rc < 0)
            return 1;
        bool ok = abs_le(rr.error_pct, 1.0);
        printf("rate: achieved %.2f req/s (%llu completions in %.0f s): error %+.3f%% -> %s the +-1%% bound\n",
               rr.achieved, (unsigned long long)rr.ok, rr.window_s, rr.error_pct, ok ? "within" : "OUTSIDE");
        if (rr.upstream_rps >= 0)
            printf("rate: upstream saw %.2f req/s (mock /stats across the window): error %+.3f%%\n", rr.upstream_rps,
                   100.0 * (rr.upstream_rps - rps) / rps);
        printf("rate: gap between completions: mean %.1f us, p50 %.1f us, p99 %.1f us (ideal 1/R = %.1f us; "
               "mean - ideal = %+.1f us per token)\n",
               rr.mean_gap_us, rr.p50_gap_us, rr.p99_gap_us, rr.ideal_gap_us, rr.mean_gap_us - rr.ideal_gap_us);
        printf("rate: machine busy %.2f cores of %ld during the window (client, sidecar and mock included)\n",
               rr.busy_cores, sysconf(_SC_NPROCESSORS_ONLN));
        printf("rate: failed %llu, submit refused (ring/window full) %llu, ringsided exit status %d\n",
               (unsigned long long)rr.failed, (unsigned long long)rr.submit_refused, rr.sidecar_status);
    }

    printf("{\"bench\":\"policy\",\"configured_rps\":%.0f,\"burst\":%g,", rps, burst);
    if (spin_us >= 0)
        printf("\"spin_us\":%d,", spin_us);
    if (do_rate)
        printf("\"achieved_rps\":%.2f,\"rate_error_pct\":%.3f,\"within_1pct\":%s,\"window_s\":%.0f,"
               "\"completions\":%llu,\"failed\":%llu,\"upstream_rps\":%.2f,\"mean_gap_us\":%.1f,\"ideal_gap_us\":%.1f,",
               rr.achieved, rr.error_pct, abs_le(rr.error_pct, 1.0) ? "true" : "false", rr.window_s,
               (unsigned long long)rr.ok, (unsigned long long)rr.failed, rr.upstream_rps, rr.mean_gap_us,
               rr.ideal_gap_us);
    else
        printf("\"achieved_rps\":null,\"rate_error_pct\":null,\"window_s\":null,");
    printf("\"admit_ns_per_req\":%.1f,\"admit_ns_random_deadlines\":%.1f,\"bucket_ns\":%.1f,\"sched_ns\":%.1f,"
           "\"queue_depth\":%u,\"admit_requests\":%.0f,\"admit_busy_cores\":%.2f,\"rate_busy_cores\":%.2f}\n",
           full.median_ns, full_rnd.median_ns, bucket_only.median_ns, sched_only.median_ns, ADMIT_DEPTH, nreq,
           admit_busy, rr.busy_cores);
    return rr.sidecar_status != 0 ? 1 : 0;
}
