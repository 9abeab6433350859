/*
 * streambench.c — how fast and how promptly does ringside forward a streamed
 * (SSE) response, chunk by chunk, and what does rs_call_batch save over
 * sequential rs_call? (issue 4)
 *
 * Real processes: the mock upstream (bench/mockup/ringside-mock-upstream,
 * port picked by the kernel, 2 worker threads) and a ringsided with a YAML
 * file written to a mkdtemp directory (one route to the mock, log_level
 * warn). One client, one thread. Three measurements, in this order:
 *
 *   fast    One stream of --chunks (200,000) events, `x-mock-stream: N`, no
 *           interval: the mock writes them as fast as TCP takes them (alone
 *           it serves this in ~0.16 s). The client reads with rs_next_chunk
 *           in a tight loop. chunks_per_s = (events - 1) / (time the last
 *           event was returned - time the first was returned), both read
 *           with CLOCK_MONOTONIC right after rs_next_chunk. Events are the
 *           N data events plus [DONE]. Every chunk is checked: seq must be
 *           0, 1, 2, ..., data of event i must hold "tok<i> ", the last must
 *           be [DONE], then rs_next_chunk must return 0 and the terminal
 *           response RS_OK / 200. The per-chunk latency (below) of this
 *           stream is also kept: it is mostly time queued behind earlier
 *           chunks, so it says how deep the pipeline runs, not how fast a
 *           chunk moves.
 *   paced   One stream of --paced (2,500) events, `x-mock-chunk-interval-ms:
 *           M` (2): a chunk every 2 ms, so each one finds the pipeline
 *           empty and both the sidecar and the client have gone to sleep
 *           (both spin 50 us by default). latency = client's
 *           CLOCK_MONOTONIC right after rs_next_chunk returns minus
 *           chunk->sidecar_ns (CLOCK_MONOTONIC when the sidecar's SSE parser
 *           finished the event, inside libcurl's write callback; same clock,
 *           same machine). So it covers: the rest of that loop turn, the
 *           outbox writing the CHUNK record into the completion ring, the
 *           doorbell (eventfd) to a sleeping client, the client's wake-up
 *           from ppoll, decoding, and the handoff to the reading thread. It
 *           does not cover the mock or the TCP hop before the sidecar. The
 *           first 10 events are left out of the percentiles (connection and
 *           first-wake-up effects); p50/p99/max of the rest.
 *   batch   --batch (1,000) requests to the sidecar's built-in route
 *           ("echo": answered in the sidecar, no network), each a distinct
 *           1 KiB body. singles: 1,000 sequential rs_call. batch: one
 *           rs_call_batch of the same 1,000. Every answer's body is checked
 *           against its request after the clock stops. One untimed round of
 *           each first, then --reps (21) rounds alternating singles/batch
 *           (a round is a few ms, and on a shared 2-vCPU machine single
 *           rounds swing by 3x or more: many short rounds make the median
 *           hold still); batch_speedup = median(singles) / median(batch).
 *
 * Diagnostics printed beside the figures, to say where the time goes:
 * CPU time of the sidecar, the mock and this process (process CPU-time
 * clocks, clock_getcpuclockid: to the ns, all threads) around each stream
 * and each timed batch round; the whole machine's busy time (/proc/stat),
 * since other work on a small machine shows in every figure; minor page
 * faults of the sidecar and of this process (/proc/PID/stat); the time this
 * process spent runnable but waiting for a CPU (/proc/self/schedstat); this
 * client's sleeps and doorbells (rs_client_get_stats); and the pauses in the
 * sidecar's stamps (a gap of over 200 us between consecutive sidecar_ns:
 * on the fast stream, the sidecar's loop turns). The content check of the
 * fast stream runs inside the timed loop, so it is kept cheap (memmem +
 * strtoull); the client was never the bottleneck with it.
 *
 * --sidecar-spin-us N (the sidecar's spin_us) and $RINGSIDE_SPIN_US (the
 * client's) are there to take the latency apart; the figures in
 * bench/RESULTS.md use the defaults.
 *
 * Processes are started by fork/execv, stopped by PID (SIGTERM, then SIGKILL
 * after 5 s), and killed by the kernel if this process dies first
 * (PR_SET_PDEATHSIG). A watchdog ends a run that takes over 60 s.
 *
 * Output: human-readable lines, then exactly one JSON line:
 *   {"bench":"stream","chunks_per_s":..,"chunk_p50_us":..,"chunk_p99_us":..,
 *    "batch_speedup":.., ...}
 * Exit status 0 only if every check passed.
 */
#include "benchproc.h"
#include "ringside.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WATCHDOG_S      60
#define PACED_SKIP      10      /* first paced events left out of the percentiles */
#define CHUNK_WAIT_MS   20000   /* rs_next_chunk: longer than this is a hang */
#define GAP_NS          200000u /* a pause in the sidecar's stamps (see stream_result) */

/* ------------------------------------------------------------- plumbing */

/* This run's temp dir and children (bench/common/benchproc.h): global, so
 * that the watchdog can kill the children on any exit path, and the CPU
 * figures can read the children's clocks. */
static bp_run g_run;

/* minor page faults of a process so far, from /proc/PID/stat; -1 if unread */
static long long proc_minflt(pid_t pid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* the command name may hold spaces: fields count from the last ')';
     * minflt is field 10 */
    char *s = strrchr(buf, ')');
    long long v;
    if (!s || sscanf(s + 1, " %*c %*d %*d %*d %*d %*d %*u %lld", &v) != 1)
        return -1;
    return v;
}

/* ns this (single-threaded) process has spent runnable but waiting for a
 * CPU, from /proc/self/schedstat (its second field); 0 if unread */
static uint64_t self_runq_wait_ns(void)
{
    unsigned long long run, wait = 0;
    FILE *f = fopen("/proc/self/schedstat", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &run, &wait) != 2)
        wait = 0;
    fclose(f);
    return wait;
}

static double self_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int start_sidecar(const char *bin, int port, long spin_us, char *sock, size_t socklen)
{
    char cfg[256];
    /* everything else at the sidecar's defaults (8 MiB rings, spin 50 us,
     * 4096 in flight: room for the whole batch) */
    int n = snprintf(cfg, sizeof cfg,
                     "log_level: warn\n"
                     "grace_ms: 1000\n"
                     "routes:\n"
                     "  - {name: mock, endpoint: \"http://127.0.0.1:%d\"}\n",
                     port);
    if (spin_us >= 0 && n > 0 && (size_t)n < sizeof cfg)   /* a diagnostic, only when asked */
        snprintf(cfg + n, sizeof cfg - (size_t)n, "spin_us: %ld\n", spin_us);
    return bp_start_sidecar(&g_run, bin, cfg, sock, socklen);
}

/* nearest-rank percentile of a sorted array, in microseconds */
static double pct_us(const uint64_t *sorted, size_t n, double p)
{
    if (!n)
        return 0;
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)sorted[k - 1] / 1000.0;
}

/* ------------------------------------------------------------- streams */

typedef struct stream_result {
    uint64_t events;            /* chunks read, [DONE] included */
    uint64_t expected;
    uint64_t bytes;             /* chunk data bytes */
    uint64_t t_submit, t_first, t_last;
    double per_s;               /* (events - 1) / (t_last - t_first) */
    double p50_us, p90_us, p99_us, max_us, mean_us;
    size_t nlat;                /* events in the percentiles */
    bool ok;
    char why[256];              /* the first thing wrong, if !ok */
    int term_error, term_status;
    double sidecar_cpu_s, mock_cpu_s, self_cpu_s, busy_cores;
    uint64_t sleeps, doorbells;  /* this client's, during the stream */
    /* gaps over GAP_NS between consecutive sidecar_ns: the sidecar stamps
     * events as it parses them and writes them to the ring once per loop
     * turn, so on a saturated stream these gaps mark its turns */
    uint64_t gaps, max_gap_ns;
    long long sidecar_faults, self_faults;   /* minor page faults during the stream */
    uint64_t runq_wait_ns;      /* this client waited for a CPU, while runnable */
} stream_result;

/* One stream of n events, m ms apart (0: no interval), read as fast as
 * rs_next_chunk gives them. Latencies of events skip.. go into the
 * percentiles. Returns -1 only when the run cannot go on (client dead). */
static int run_stream(rs_client *c, unsigned n, unsigned interval_ms, unsigned skip, stream_result *res)
{
    memset(res, 0, sizeof *res);
    res->expected = (uint64_t)n + 1;
    res->ok = true;
    uint64_t *lat = malloc((size_t)(n + 1) * sizeof *lat);
    if (!lat) {
        fprintf(stderr, "streambench: out of memory\n");
        return -1;
    }
    memset(lat, 0, (size_t)(n + 1) * sizeof *lat);   /* fault its pages in now, not while timing */
    char count[16], iv[16];
    snprintf(count, sizeof count, "%u", n);
    snprintf(iv, sizeof iv, "%u", interval_ms);
    rs_header h[2] = { { "x-mock-stream", count }, { "x-mock-chunk-interval-ms", iv } };
    rs_request rq = RS_REQUEST_INIT;
    rq.path = "/chat/completions";
    rq.flags = RS_REQ_STREAM;
    rq.headers = h;
    rq.nheaders = interval_ms ? 2 : 1;
    static const char body[] = "{\"model\":\"deepseek-chat\",\"stream\":true,\"messages\":"
                               "[{\"role\":\"user\",\"content\":\"count\"}]}";
    rq.body = body;
    rq.body_len = sizeof body - 1;
    rq.timeout_ms = 55000;

    rs_client_stats st0, st1;
    rs_client_get_stats(c, &st0);
    double sc0 = bp_proc_cpu_s(g_run.sidecar_pid), mk0 = bp_proc_cpu_s(g_run.mock_pid), me0 = self_cpu_s();
    double busy0 = bp_machine_busy_s();
    long long flt0 = proc_minflt(g_run.sidecar_pid), sflt0 = proc_minflt(getpid());
    uint64_t rq0 = self_runq_wait_ns();
    res->t_submit = bp_now_ns();
    rs_ticket t;
    int err = rs_submit(c, &rq, &t);
    if (err < 0) {
        fprintf(stderr, "streambench: rs_submit of the stream: %s\n", rs_errname(err));
        free(lat);
        return -1;
    }
    rs_chunk *ch;
    uint64_t i = 0, nlat = 0, prev_ns = 0;
    while ((err = rs_next_chunk(c, t, CHUNK_WAIT_MS, &ch)) == 1) {
        uint64_t now = bp_now_ns();
        if (i == 0)
            res->t_first = now;
        res->t_last = now;
        if (i >= skip && i <= n)   /* lat has room for the n + 1 sent */
            lat[nlat++] = now > ch->sidecar_ns ? now - ch->sidecar_ns : 0;
        res->bytes += ch->len;
        if (i > 0 && ch->sidecar_ns > prev_ns) {
            uint64_t gap = ch->sidecar_ns - prev_ns;
            res->gaps += gap > GAP_NS;
            if (gap > res->max_gap_ns)
                res->max_gap_ns = gap;
        }
        prev_ns = ch->sidecar_ns;
        if (res->ok) {
            /* cheap, because it runs inside the timed loop: find "tok,
             * read the number, expect a space and the closing quote */
            bool good;
            if (i < n) {
                const char *tok = memmem(ch->data, ch->len, "\"tok", 4);
                char *end = NULL;
                good = tok && tok[4] >= '0' && tok[4] <= '9' && strtoull(tok + 4, &end, 10) == i &&
                       end[0] == ' ' && end[1] == '"';
            } else {
                good = i == n && strcmp((const char *)ch->data, "[DONE]") == 0;
            }
            if (ch->seq != i || !good || (ch->sidecar_ns > now)) {
                res->ok = false;
                snprintf(res->why, sizeof res->why,
                         "chunk #%llu (counting from 0) has seq %llu, sidecar_ns %s, data '%.60s%s' "
                         "(expected seq %llu with %s%llu%s)",
                         (unsigned long long)i, (unsigned long long)ch->seq,
                         ch->sidecar_ns > now ? "in the future" : "ok", (const char *)ch->data,
                         ch->len > 60 ? "..." : "", (unsigned long long)i, i < n ? "\"tok" : "[DONE]",
                         (unsigned long long)i, i < n ? " \"" : "");
            }
        }
        rs_chunk_free(ch);
        i++;   /* a chunk past [DONE] fails the check above (i > n) */
    }
    res->events = i;
    res->nlat = nlat;
    if (err < 0) {
        res->ok = false;
        snprintf(res->why, sizeof res->why, "rs_next_chunk returned %s after %llu of %llu chunks%s",
                 rs_errname(err), (unsigned long long)i, (unsigned long long)res->expected,
                 err == RS_ETIMEDOUT ? " (no chunk for 20 s: a hang)" : "");
        rs_cancel(c, t);
    } else if (i != res->expected && res->ok) {
        res->ok = false;
        snprintf(res->why, sizeof res->why, "%llu chunks read, %llu sent", (unsigned long long)i,
                 (unsigned long long)res->expected);
    }
    rs_response *r = NULL;
    int werr = rs_wait(c, t, 10000, &r);
    if (werr == 0) {
        res->term_error = r->error;
        res->term_status = r->status;
        if (res->ok && (r->error != RS_OK || r->status != 200)) {
            res->ok = false;
            snprintf(res->why, sizeof res->why, "terminal response %s, status %d: %s", rs_errname(r->error),
                     r->status, r->error_msg);
        }
        rs_response_free(r);
    } else {
        res->term_error = werr;
        if (res->ok) {
            res->ok = false;
            snprintf(res->why, sizeof res->why, "rs_wait for the terminal response returned %s", rs_errname(werr));
        }
    }
    double wall = (double)(bp_now_ns() - res->t_submit) / 1e9;
    res->sidecar_cpu_s = bp_proc_cpu_s(g_run.sidecar_pid) - sc0;
    res->mock_cpu_s = bp_proc_cpu_s(g_run.mock_pid) - mk0;
    res->self_cpu_s = self_cpu_s() - me0;
    res->sidecar_faults = proc_minflt(g_run.sidecar_pid) - flt0;
    res->self_faults = proc_minflt(getpid()) - sflt0;
    res->runq_wait_ns = self_runq_wait_ns() - rq0;
    res->busy_cores = (bp_machine_busy_s() - busy0) / wall;
    rs_client_get_stats(c, &st1);
    res->sleeps = st1.sleeps - st0.sleeps;
    res->doorbells = st1.doorbells - st0.doorbells;

    if (res->events > 1 && res->t_last > res->t_first)
        res->per_s = (double)(res->events - 1) / ((double)(res->t_last - res->t_first) / 1e9);
    if (nlat) {
        double sum = 0;
        for (size_t k = 0; k < nlat; k++)
            sum += (double)lat[k];
        res->mean_us = sum / (double)nlat / 1000.0;
        qsort(lat, nlat, sizeof *lat, bp_cmp_u64);
        res->p50_us = pct_us(lat, nlat, 50);
        res->p90_us = pct_us(lat, nlat, 90);
        res->p99_us = pct_us(lat, nlat, 99);
        res->max_us = (double)lat[nlat - 1] / 1000.0;
    }
    free(lat);
    return werr == RS_EGONE || err == RS_EGONE ? -1 : 0;
}

/* -------------------------------------------------------------- batches */

typedef struct batch_result {
    double singles_ms, batch_ms, speedup, ratio_median;
    double singles_min_ms, singles_max_ms, batch_min_ms, batch_max_ms;
    int reps;
    /* summed over the timed rounds, per mode: [0] singles, [1] batch */
    double sidecar_cpu_s[2], self_cpu_s[2];
    uint64_t sleeps[2], doorbells[2];
    bool ok;
    char why[256];
} batch_result;

/* Check answers against requests, then free them. */
static void check_answers(rs_response **out, const rs_request *rqs, size_t n, const char *what, batch_result *br)
{
    for (size_t i = 0; i < n; i++) {
        rs_response *r = out[i];
        if (br->ok && (!r || r->error != RS_OK || r->status != 200 || r->body_len != rqs[i].body_len ||
                       memcmp(r->body, rqs[i].body, r->body_len) != 0)) {
            br->ok = false;
            snprintf(br->why, sizeof br->why, "%s: item %zu: %s, status %d, body %zu bytes%s", what, i,
                     r ? rs_errname(r->error) : "no response", r ? r->status : 0, r ? r->body_len : 0,
                     r && r->body_len == rqs[i].body_len ? " (other content)" : "");
        }
        rs_response_free(r);
        out[i] = NULL;
    }
}

static double time_singles(rs_client *c, const rs_request *rqs, size_t n, rs_response **out, batch_result *br)
{
    uint64_t t0 = bp_now_ns();
    for (size_t i = 0; i < n; i++) {
        int err = rs_call(c, &rqs[i], 10000, &out[i]);
        if (err < 0) {
            out[i] = NULL;
            if (br->ok) {
                br->ok = false;
                snprintf(br->why, sizeof br->why, "singles: rs_call of item %zu returned %s", i, rs_errname(err));
            }
        }
    }
    double ms = (double)(bp_now_ns() - t0) / 1e6;
    check_answers(out, rqs, n, "singles", br);
    return ms;
}

static double time_batch(rs_client *c, const rs_request *rqs, size_t n, rs_response **out, batch_result *br)
{
    uint64_t t0 = bp_now_ns();
    int err = rs_call_batch(c, rqs, n, 10000, out);
    double ms = (double)(bp_now_ns() - t0) / 1e6;
    if (err < 0) {
        if (br->ok) {
            br->ok = false;
            snprintf(br->why, sizeof br->why, "rs_call_batch returned %s", rs_errname(err));
        }
        for (size_t i = 0; i < n; i++)
            out[i] = NULL;   /* not set on RS_ENOMEM per the contract: do not free */
        return ms;
    }
    check_answers(out, rqs, n, "batch", br);
    return ms;
}

static int run_batch(rs_client *c, size_t n, size_t body_bytes, int reps, batch_result *br)
{
    memset(br, 0, sizeof *br);
    br->ok = true;
    br->reps = reps;
    rs_request *rqs = calloc(n, sizeof *rqs);
    rs_response **out = calloc(n, sizeof *out);
    uint8_t *bodies = malloc(n * body_bytes);
    double *s = calloc((size_t)reps, sizeof *s), *b = calloc((size_t)reps, sizeof *b),
           *ratio = calloc((size_t)reps, sizeof *ratio);
    if (!rqs || !out || !bodies || !s || !b || !ratio) {
        free(rqs), free(out), free(bodies), free(s), free(b), free(ratio);
        fprintf(stderr, "streambench: out of memory\n");
        return -1;
    }
    /* distinct bodies, so an answer given to the wrong item shows */
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = bodies + i * body_bytes;
        for (size_t k = 0; k < body_bytes; k++)
            p[k] = (uint8_t)('a' + (i * 7 + k) % 26);
        char tag[32];
        int tl = snprintf(tag, sizeof tag, "item-%zu;", i);
        memcpy(p, tag, (size_t)tl < body_bytes ? (size_t)tl : body_bytes);
        rqs[i] = (rs_request)RS_REQUEST_INIT;
        rqs[i].route = "echo";
        rqs[i].path = "/echo";
        rqs[i].body = p;
        rqs[i].body_len = body_bytes;
        rqs[i].timeout_ms = 10000;
    }
    /* one untimed round of each: page faults, malloc arenas, caches */
    time_singles(c, rqs, n, out, br);
    time_batch(c, rqs, n, out, br);
    for (int r = 0; r < reps; r++) {
        for (int m = 0; m < 2; m++) {
            rs_client_stats st0, st1;
            rs_client_get_stats(c, &st0);
            double sc0 = bp_proc_cpu_s(g_run.sidecar_pid), me0 = self_cpu_s();
            if (m == 0)
                s[r] = time_singles(c, rqs, n, out, br);
            else
                b[r] = time_batch(c, rqs, n, out, br);
            br->sidecar_cpu_s[m] += bp_proc_cpu_s(g_run.sidecar_pid) - sc0;
            br->self_cpu_s[m] += self_cpu_s() - me0;
            rs_client_get_stats(c, &st1);
            br->sleeps[m] += st1.sleeps - st0.sleeps;
            br->doorbells[m] += st1.doorbells - st0.doorbells;
        }
        ratio[r] = s[r] / b[r];
    }
    qsort(s, (size_t)reps, sizeof *s, bp_cmp_double);
    qsort(b, (size_t)reps, sizeof *b, bp_cmp_double);
    qsort(ratio, (size_t)reps, sizeof *ratio, bp_cmp_double);
    br->singles_ms = s[reps / 2];
    br->batch_ms = b[reps / 2];
    br->singles_min_ms = s[0];
    br->singles_max_ms = s[reps - 1];
    br->batch_min_ms = b[0];
    br->batch_max_ms = b[reps - 1];
    br->speedup = br->singles_ms / br->batch_ms;
    br->ratio_median = ratio[reps / 2];
    free(rqs), free(out), free(bodies), free(s), free(b), free(ratio);
    return 0;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: streambench [--chunks N] [--paced N] [--interval-ms M] [--batch N] [--body-bytes B]\n"
            "                   [--reps R] [--sidecar-spin-us N] [--sidecar PATH] [--mock PATH]\n"
            "  --chunks N       events in the fast stream (default 200000)\n"
            "  --paced N        events in the paced stream (default 2500)\n"
            "  --interval-ms M  spacing of the paced stream (default 2)\n"
            "  --batch N        echo requests per batch round (default 1000)\n"
            "  --body-bytes B   body of each echo request (default 1024)\n"
            "  --reps R         timed rounds of singles and of batch (default 21)\n"
            "  --sidecar-spin-us N  set the sidecar's spin_us (busy-poll before sleeping; a\n"
            "                   diagnostic); default: not set, the sidecar's default (50).\n"
            "                   The client's own spin is $RINGSIDE_SPIN_US (default 50)\n"
            "  --sidecar PATH   ringsided (default $RINGSIDED, else BUILD/sidecar/ringsided next to this binary)\n"
            "  --mock PATH      mock upstream (default $RINGSIDE_MOCK_UPSTREAM, else\n"
            "                   BUILD/bench/mockup/ringside-mock-upstream)\n");
}

static int parse_uint(const char *opt, const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < min || v > max) {
        fprintf(stderr, "streambench: %s wants a whole number from %lu to %lu, got '%s'\n", opt, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static void print_stream(const char *name, const stream_result *r)
{
    double span = (double)(r->t_last - r->t_first) / 1e9;
    printf("%s: %llu of %llu chunks in order and intact: %s; terminal %s/%d\n", name,
           (unsigned long long)r->events, (unsigned long long)r->expected, r->ok ? "yes" : "NO",
           rs_errname(r->term_error), r->term_status);
    if (!r->ok)
        printf("%s: FAILED: %s\n", name, r->why);
    printf("%s: submit -> first chunk %.2f ms; first -> last chunk %.3f s: %.0f chunks/s, %.1f MB/s of event data\n",
           name, (double)(r->t_first - r->t_submit) / 1e6, span, r->per_s,
           span > 0 ? (double)r->bytes / span / 1e6 : 0.0);
    printf("%s: sidecar_ns -> client has it (%zu chunks): p50 %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us, "
           "mean %.1f us\n",
           name, r->nlat, r->p50_us, r->p90_us, r->p99_us, r->max_us, r->mean_us);
    double ev = r->events ? (double)r->events : 1;
    printf("%s: sidecar's stamps pause (> %u us between events) %llu times, longest %.2f ms; %.0f events "
           "between pauses\n",
           name, GAP_NS / 1000u, (unsigned long long)r->gaps, (double)r->max_gap_ns / 1e6,
           (double)r->events / (double)(r->gaps + 1));
    printf("%s: CPU per chunk: sidecar %.2f us, mock %.2f us, client %.2f us; client slept %llu times, rang %llu "
           "doorbells; machine busy %.2f cores of %ld\n",
           name, r->sidecar_cpu_s * 1e6 / ev, r->mock_cpu_s * 1e6 / ev, r->self_cpu_s * 1e6 / ev,
           (unsigned long long)r->sleeps, (unsigned long long)r->doorbells, r->busy_cores,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("%s: minor page faults per 1000 chunks: sidecar %.1f, client %.1f; client waited for a CPU "
           "(runnable, not running) %.1f us per chunk\n",
           name, (double)r->sidecar_faults * 1000.0 / ev, (double)r->self_faults * 1000.0 / ev,
           (double)r->runq_wait_ns / 1000.0 / ev);
}

int main(int argc, char **argv)
{
    unsigned long nfast = 200000, npaced = 2500, interval = 2, nbatch = 1000, body_bytes = 1024, reps = 21;
    unsigned long spin = 0;
    long spin_us = -1;
    char sidecar_bin[PATH_MAX], mock_bin[PATH_MAX];
    bp_init(&g_run, "streambench");
    bp_default_bins(sidecar_bin, sizeof sidecar_bin, mock_bin, sizeof mock_bin);

    for (int i = 1; i < argc; i += 2) {   /* option, value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        int rc = 0;
        if (strcmp(a, "--chunks") == 0)
            rc = parse_uint(a, v, 1, 1000000, &nfast);
        else if (strcmp(a, "--paced") == 0)
            rc = parse_uint(a, v, PACED_SKIP + 1, 1000000, &npaced);
        else if (strcmp(a, "--interval-ms") == 0)
            rc = parse_uint(a, v, 1, 1000, &interval);
        else if (strcmp(a, "--batch") == 0)
            rc = parse_uint(a, v, 1, 4000, &nbatch);
        else if (strcmp(a, "--body-bytes") == 0)
            rc = parse_uint(a, v, 16, 1u << 20, &body_bytes);
        else if (strcmp(a, "--reps") == 0)
            rc = parse_uint(a, v, 1, 101, &reps);
        else if (strcmp(a, "--sidecar-spin-us") == 0) {
            rc = parse_uint(a, v, 0, 1000000, &spin);
            spin_us = (long)spin;
        } else if (strcmp(a, "--sidecar") == 0)
            snprintf(sidecar_bin, sizeof sidecar_bin, "%s", v);
        else if (strcmp(a, "--mock") == 0)
            snprintf(mock_bin, sizeof mock_bin, "%s", v);
        else {
            usage(stderr);
            return 2;
        }
        if (rc < 0)
            return 2;
    }
    if (npaced * interval > 20000) {
        fprintf(stderr, "streambench: --paced x --interval-ms over 20 s would not fit the 60 s run\n");
        return 2;
    }

    bp_install_watchdog(&g_run, WATCHDOG_S, "the run took over 60 s");

    if (bp_make_dir(&g_run) < 0)
        return 1;
    uint64_t run0 = bp_now_ns();
    int port;
    char sock[128];
    rs_client *c = NULL;
    if (bp_start_mock(&g_run, mock_bin, &port) < 0 || start_sidecar(sidecar_bin, port, spin_us, sock, sizeof sock) < 0 ||
        !(c = bp_connect(&g_run, sock))) {
        bp_stop(&g_run.sidecar_pid);
        bp_stop(&g_run.mock_pid);
        bp_remove_files(&g_run);
        return 1;
    }

    stream_result fast, paced;
    batch_result br;
    memset(&paced, 0, sizeof paced);
    memset(&br, 0, sizeof br);
    bool gone = false;

    printf("fast: one stream of %lu events + [DONE], no interval, read with rs_next_chunk in a tight loop\n",
           nfast);
    fflush(stdout);
    if (run_stream(c, (unsigned)nfast, 0, 0, &fast) < 0)
        gone = true;
    print_stream("fast", &fast);
    fflush(stdout);

    if (!gone) {
        printf("paced: one stream of %lu events, one every %lu ms; first %d left out of the percentiles\n", npaced,
               interval, PACED_SKIP);
        fflush(stdout);
        if (run_stream(c, (unsigned)npaced, (unsigned)interval, PACED_SKIP, &paced) < 0)
            gone = true;
        print_stream("paced", &paced);
        fflush(stdout);
    }

    if (!gone) {
        printf("batch: %lu echo-route requests of %lu bytes; %lu rounds each of sequential rs_call and one "
               "rs_call_batch, after one untimed round\n",
               nbatch, body_bytes, reps);
        fflush(stdout);
        if (run_batch(c, (size_t)nbatch, (size_t)body_bytes, (int)reps, &br) < 0)
            gone = true;
        printf("batch: answers all correct: %s%s%s\n", br.ok ? "yes" : "NO", br.ok ? "" : ": ", br.ok ? "" : br.why);
        printf("batch: singles median %.2f ms (%.2f-%.2f) = %.2f us/request; batch median %.2f ms (%.2f-%.2f) = "
               "%.2f us/request\n",
               br.singles_ms, br.singles_min_ms, br.singles_max_ms, br.singles_ms * 1000.0 / (double)nbatch,
               br.batch_ms, br.batch_min_ms, br.batch_max_ms, br.batch_ms * 1000.0 / (double)nbatch);
        for (int m = 0; m < 2; m++) {
            double nreq = (double)nbatch * (double)reps;
            printf("batch: %s, per request over the timed rounds: sidecar CPU %.2f us, client CPU %.2f us "
                   "(answer check included); client slept %.3f times, rang %.3f doorbells\n",
                   m ? "batch  " : "singles", br.sidecar_cpu_s[m] * 1e6 / nreq, br.self_cpu_s[m] * 1e6 / nreq,
                   (double)br.sleeps[m] / nreq, (double)br.doorbells[m] / nreq);
        }
        printf("batch: speedup median(singles)/median(batch) = %.2fx (median of per-round ratios %.2fx)\n",
               br.speedup, br.ratio_median);
    }

    rs_client_stats cs;
    rs_client_get_stats(c, &cs);
    rs_close(c);
    int st = bp_stop(&g_run.sidecar_pid);
    int sidecar_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (sidecar_status != 0 || gone) {
        fprintf(stderr, "streambench: ringsided ended with status %d%s\n", sidecar_status,
                gone ? " (the client saw it go away)" : "");
        bp_print_log_tail(&g_run);
    }
    bp_stop(&g_run.mock_pid);
    bp_remove_files(&g_run);
    double run_s = (double)(bp_now_ns() - run0) / 1e9;
    printf("run: %.1f s; client orphans %llu; ringsided exit status %d\n", run_s, (unsigned long long)cs.orphans,
           sidecar_status);

    char spin_s[24] = "null";   /* null: the sidecar's default */
    if (spin_us >= 0)
        snprintf(spin_s, sizeof spin_s, "%ld", spin_us);
    bool ok = fast.ok && paced.ok && br.ok && !gone && sidecar_status == 0;
    printf("{\"bench\":\"stream\",\"chunks_per_s\":%.0f,\"chunk_p50_us\":%.1f,\"chunk_p99_us\":%.1f,"
           "\"batch_speedup\":%.2f,"
           "\"chunks\":%llu,\"fast_ok\":%s,\"fast_first_chunk_ms\":%.2f,\"fast_mb_per_s\":%.1f,"
           "\"fast_p50_us\":%.1f,\"fast_p99_us\":%.1f,"
           "\"fast_sidecar_cpu_us_per_chunk\":%.2f,\"fast_client_cpu_us_per_chunk\":%.2f,"
           "\"fast_mock_cpu_us_per_chunk\":%.2f,\"fast_busy_cores\":%.2f,\"fast_stamp_pauses\":%llu,"
           "\"fast_sidecar_faults_per_kchunk\":%.1f,"
           "\"paced_chunks\":%llu,\"paced_interval_ms\":%lu,\"paced_ok\":%s,\"chunk_p90_us\":%.1f,"
           "\"chunk_max_us\":%.1f,\"chunk_mean_us\":%.1f,\"paced_busy_cores\":%.2f,"
           "\"paced_client_runq_wait_us_per_chunk\":%.1f,\"paced_sidecar_cpu_us_per_chunk\":%.1f,"
           "\"paced_mock_cpu_us_per_chunk\":%.1f,"
           "\"sidecar_spin_us\":%s,\"batch_n\":%lu,\"batch_body_bytes\":%lu,\"batch_reps\":%lu,\"batch_ok\":%s,"
           "\"singles_ms\":%.2f,\"batch_ms\":%.2f,\"batch_ratio_median\":%.2f,"
           "\"run_s\":%.1f,\"ok\":%s}\n",
           fast.per_s, paced.p50_us, paced.p99_us, br.speedup, (unsigned long long)fast.events,
           fast.ok ? "true" : "false", (double)(fast.t_first - fast.t_submit) / 1e6,
           fast.t_last > fast.t_first ? (double)fast.bytes / ((double)(fast.t_last - fast.t_first) / 1e9) / 1e6 : 0.0,
           fast.p50_us, fast.p99_us, fast.sidecar_cpu_s * 1e6 / (fast.events ? (double)fast.events : 1),
           fast.self_cpu_s * 1e6 / (fast.events ? (double)fast.events : 1),
           fast.mock_cpu_s * 1e6 / (fast.events ? (double)fast.events : 1), fast.busy_cores,
           (unsigned long long)fast.gaps, (double)fast.sidecar_faults * 1000.0 / (fast.events ? (double)fast.events : 1),
           (unsigned long long)paced.events, interval, paced.ok ? "true" : "false", paced.p90_us, paced.max_us,
           paced.mean_us, paced.busy_cores,
           (double)paced.runq_wait_ns / 1000.0 / (paced.events ? (double)paced.events : 1),
           paced.sidecar_cpu_s * 1e6 / (paced.events ? (double)paced.events : 1),
           paced.mock_cpu_s * 1e6 / (paced.events ? (double)paced.events : 1), spin_s, nbatch, body_bytes, reps, br.ok ? "true" : "false", br.singles_ms,
           br.batch_ms, br.ratio_median, run_s, ok ? "true" : "false");
    return ok ? 0 : 1;
}
