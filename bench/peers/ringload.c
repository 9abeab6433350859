/*
 * ringload — a closed-loop load generator through ringside's ring: what
 * wrk is to an HTTP proxy, for the sidecar's shared-memory front.
 *
 *   ringload --socket PATH --conc N --seconds S [--warmup S]
 *            [--path /v1/chat/completions] [--body FILE|STRING]
 *            [--route NAME] [--model NAME] [--priority 0|1|2]
 *            [--clients K] [--timeout-ms MS] [--drain-s S] [--show-errors N]
 *            [--marks]
 *
 * It keeps exactly N requests in flight: each answer reaped with rs_poll is
 * followed at once by a new rs_submit, so the sidecar (not a pacing clock
 * here) sets the rate, as with wrk's connections. The N are spread over K
 * clients (rs_connect each), one thread per client: a client is
 * thread-safe, but one thread per client keeps every ticket's reaping on
 * the thread that knows when it was submitted, with no lock between them.
 * One client is the default: on a small machine every extra spinning thread
 * takes CPU from the sidecar under test.
 *
 * Latency is per request, CLOCK_MONOTONIC from just before rs_submit to the
 * return of the rs_poll that reaped it. The first --warmup seconds are not
 * measured; then for --seconds every answer reaped counts (its rate, its
 * latency, ok or error). After that nothing new is submitted and the
 * requests still in flight are drained (up to --drain-s), so that the
 * totals — submitted, answered, and the upstream attempts the sidecar
 * reports per answer — can be checked against the upstream's own request
 * counter (bench/peers/peers.py does). "ok" is RS_OK with a 2xx status;
 * anything else is an error, the first few printed to stderr.
 *
 * The last stdout line is the result:
 *   {"bench":"ringload","conc":..,"rps":..,"p50_us":..,"p99_us":..,
 *    "p999_us":..,"ok":..,"errors":..,...}
 * Exit 0 when it ran to its end (errors are in the JSON), 1 when it could
 * not (no sidecar, the sidecar gone, a request refused as malformed), 2 on
 * bad usage, 130 on SIGINT/SIGTERM.
 */
#include "benchproc.h"
#include "ringside.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define POLL_MAX 128
#define POLL_WAIT_MS 100

static const char DEFAULT_BODY[] =
    "{\"model\":\"deepseek-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}],"
    "\"max_tokens\":16}";

typedef struct opts {
    const char *socket;
    unsigned conc, clients, show_errors, priority;
    bool marks;
    double seconds, warmup, drain_s;
    uint32_t timeout_ms;
    const char *path, *route, *model;
    char *body;
    size_t body_len;
} opts;

/* A growable array of samples (ns). */
typedef struct u64vec {
    uint64_t *v;
    size_t n, cap;
} u64vec;

static int vec_push(u64vec *a, uint64_t x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 65536;
        uint64_t *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

/* Tickets in flight → their submit time: open addressing, linear probing,
 * deletion by shifting back (no tombstones: the table churns forever). */
typedef struct inflight {
    rs_ticket *key;
    uint64_t *t0;
    bool *used;
    size_t mask;
} inflight;

static int if_init(inflight *f, unsigned n)
{
    size_t cap = 16;
    while (cap < (size_t)n * 4)
        cap <<= 1;
    f->key = calloc(cap, sizeof *f->key);
    f->t0 = calloc(cap, sizeof *f->t0);
    f->used = calloc(cap, sizeof *f->used);
    f->mask = cap - 1;
    return f->key && f->t0 && f->used ? 0 : -1;
}

static void if_free(inflight *f)
{
    free(f->key);
    free(f->t0);
    free(f->used);
}

static size_t if_hash(const inflight *f, rs_ticket t)
{
    return (size_t)((t * 0x9e3779b97f4a7c15ull) >> 17) & f->mask;
}

static void if_put(inflight *f, rs_ticket t, uint64_t t0)
{
    size_t i = if_hash(f, t);
    while (f->used[i])
        i = (i + 1) & f->mask;
    f->used[i] = true;
    f->key[i] = t;
    f->t0[i] = t0;
}

/* The submit time of t, removed from the table; false if t is not there. */
static bool if_take(inflight *f, rs_ticket t, uint64_t *t0)
{
    size_t i = if_hash(f, t);
    while (f->used[i] && f->key[i] != t)
        i = (i + 1) & f->mask;
    if (!f->used[i])
        return false;
    *t0 = f->t0[i];
    f->used[i] = false;
    /* shift back the entries of the run after i that hash at or before it */
    for (size_t j = (i + 1) & f->mask; f->used[j]; j = (j + 1) & f->mask) {
        size_t h = if_hash(f, f->key[j]);
        bool movable = i <= j ? (h <= i || h > j) : (h <= i && h > j);
        if (movable) {
            f->key[i] = f->key[j];
            f->t0[i] = f->t0[j];
            f->used[i] = true;
            f->used[j] = false;
            i = j;
        }
    }
    return true;
}

typedef struct worker {
    unsigned id, target;
    rs_client *c;
    pthread_t th;
    inflight fl;
    unsigned live;                 /* in flight now */
    /* totals over the whole run, warm-up and drain included */
    uint64_t submitted, answered, ok_total, err_total, attempts, ring_full, orphans;
    /* the measured window */
    uint64_t w_ok, w_err;
    u64vec lat, side, queued;      /* client latency; the sidecar's total_us and
                                      queued_us (ns): how much of it the sidecar
                                      held, and how much of that before sending */
    int fatal;                     /* an RS_E* that ended this worker early */
} worker;

static opts g_o;
static uint64_t g_win0, g_win1;    /* the measured window, CLOCK_MONOTONIC ns */
static pthread_mutex_t g_go_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_go_cv = PTHREAD_COND_INITIALIZER;
static bool g_go;                  /* set once every thread exists, or on failure */
static volatile sig_atomic_t g_interrupted;
static atomic_uint g_shown;

static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

static void show_error(const worker *w, const rs_response *r)
{
    if (atomic_fetch_add(&g_shown, 1) >= g_o.show_errors)
        return;
    fprintf(stderr, "ringload: client %u: answer %s (status %d, %u attempts): %s\n", w->id, rs_errname(r->error),
            r->status, r->attempts, r->error_msg && r->error_msg[0] ? r->error_msg : rs_strerror(r->error));
}

static void reap(worker *w, rs_response **out, int k, uint64_t now)
{
    bool in_window = now >= g_win0 && now < g_win1;
    for (int i = 0; i < k; i++) {
        rs_response *r = out[i];
        uint64_t t0;
        if (!if_take(&w->fl, r->ticket, &t0)) {
            w->orphans++;
            rs_response_free(r);
            continue;
        }
        w->live--;
        w->answered++;
        w->attempts += r->attempts;
        bool ok = r->error == RS_OK && r->status >= 200 && r->status < 300;
        if (ok)
            w->ok_total++;
        else {
            w->err_total++;
            show_error(w, r);
        }
        if (in_window) {
            if (ok)
                w->w_ok++;
            else
                w->w_err++;
            if (vec_push(&w->lat, now - t0) < 0 || vec_push(&w->side, r->timings.total_us * 1000u) < 0 ||
                vec_push(&w->queued, r->timings.queued_us * 1000u) < 0)
                w->fatal = RS_ENOMEM;
        }
        rs_response_free(r);
    }
}

static void *run(void *p)
{
    worker *w = p;
    rs_request rq = RS_REQUEST_INIT;
    rq.path = g_o.path;
    rq.route = g_o.route;
    rq.model = g_o.model;
    rq.body = g_o.body;
    rq.body_len = g_o.body_len;
    rq.priority = (int)g_o.priority;
    rq.timeout_ms = g_o.timeout_ms;
    rs_response *out[POLL_MAX];

    pthread_mutex_lock(&g_go_mu);
    while (!g_go)
        pthread_cond_wait(&g_go_cv, &g_go_mu);
    pthread_mutex_unlock(&g_go_mu);
    uint64_t drain_end = g_win1 + (uint64_t)(g_o.drain_s * 1e9);
    while (!w->fatal && !g_interrupted) {
        uint64_t now = bp_now_ns();
        bool submitting = now < g_win1;
        if (!submitting && (w->live == 0 || now >= drain_end))
            break;
        while (submitting && w->live < w->target) {
            rs_ticket t;
            uint64_t t0 = bp_now_ns();
            int err = rs_submit(w->c, &rq, &t);
            if (err == RS_EAGAIN || err == RS_ETOOMANY) {
                w->ring_full++;      /* reap something first */
                break;
            }
            if (err < 0) {
                fprintf(stderr, "ringload: client %u: rs_submit: %s (%s)%s%s\n", w->id, rs_errname(err),
                        rs_strerror(err), rs_last_error()[0] ? ": " : "", rs_last_error());
                w->fatal = err;
                break;
            }
            if_put(&w->fl, t, t0);
            w->live++;
            w->submitted++;
        }
        if (w->fatal)
            break;
        int k = rs_poll(w->c, out, POLL_MAX, POLL_WAIT_MS);
        if (k < 0) {
            fprintf(stderr, "ringload: client %u: rs_poll: %s (%s)\n", w->id, rs_errname(k), rs_strerror(k));
            w->fatal = k;
            break;
        }
        if (k > 0)
            reap(w, out, k, bp_now_ns());
    }
    return NULL;
}

/* ---------------------------------------------------------------- usage */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ringload --socket PATH --conc N --seconds S [options]\n"
            "  --socket PATH      the sidecar's registration socket\n"
            "  --conc N           requests kept in flight (over all clients)\n"
            "  --seconds S        measured time (after the warm-up)\n"
            "  --warmup S         unmeasured load first (default 0)\n"
            "  --path P           request path (default /v1/chat/completions)\n"
            "  --body FILE|STRING the request body: a file's content if FILE exists,\n"
            "                     else the string itself (default: a small chat completion)\n"
            "  --route NAME       the sidecar's route (default: its default route)\n"
            "  --model NAME       the model hint for routing and limits (default none)\n"
            "  --priority 0|1|2   the requests' class (default 1)\n"
            "  --clients K        clients, one thread each (default 1; at most N)\n"
            "  --timeout-ms MS    each request's deadline (default 0: the sidecar's)\n"
            "  --drain-s S        how long to wait for the last answers (default 30)\n"
            "  --show-errors N    error answers printed to stderr (default 5)\n"
            "  --marks            print \"MARK start\" and \"MARK end\" lines on stdout as the\n"
            "                     measured window opens and closes (for a harness that\n"
            "                     samples the sidecar's CPU over exactly that window)\n"
            "Prints one JSON line: {\"bench\":\"ringload\",\"conc\":..,\"rps\":..,\"p50_us\":..,...}\n");
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_secs(const char *s, double lo, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo) || v > 86400)
        return -1;
    *out = v;
    return 0;
}

static int load_body(const char *arg)
{
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISREG(st.st_mode)) {
        FILE *f = fopen(arg, "rb");
        if (!f) {
            fprintf(stderr, "ringload: %s: %s\n", arg, strerror(errno));
            return -1;
        }
        g_o.body = malloc((size_t)st.st_size + 1);
        g_o.body_len = g_o.body ? fread(g_o.body, 1, (size_t)st.st_size, f) : 0;
        int bad = !g_o.body || ferror(f);
        fclose(f);
        if (bad) {
            fprintf(stderr, "ringload: could not read %s\n", arg);
            return -1;
        }
        return 0;
    }
    g_o.body_len = strlen(arg);
    g_o.body = malloc(g_o.body_len + 1);
    if (!g_o.body)
        return -1;
    memcpy(g_o.body, arg, g_o.body_len + 1);
    return 0;
}

/* 0, 1 after --help, -1 on bad usage (said on stderr) */
static int parse_args(int argc, char **argv)
{
    enum { O_SOCKET = 1, O_CONC, O_SECONDS, O_WARMUP, O_PATH, O_BODY, O_ROUTE, O_MODEL, O_PRIO, O_CLIENTS,
           O_TIMEOUT, O_DRAIN, O_SHOW, O_MARKS, O_HELP };
    static const struct option lo[] = {
        { "socket", required_argument, 0, O_SOCKET }, { "conc", required_argument, 0, O_CONC },
        { "seconds", required_argument, 0, O_SECONDS }, { "warmup", required_argument, 0, O_WARMUP },
        { "path", required_argument, 0, O_PATH }, { "body", required_argument, 0, O_BODY },
        { "route", required_argument, 0, O_ROUTE }, { "model", required_argument, 0, O_MODEL },
        { "priority", required_argument, 0, O_PRIO }, { "clients", required_argument, 0, O_CLIENTS },
        { "timeout-ms", required_argument, 0, O_TIMEOUT }, { "drain-s", required_argument, 0, O_DRAIN },
        { "show-errors", required_argument, 0, O_SHOW }, { "marks", no_argument, 0, O_MARKS },
        { "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 },
    };
    g_o = (opts){ .clients = 1, .show_errors = 5, .priority = RS_P1, .drain_s = 30, .seconds = -1,
                  .path = "/v1/chat/completions" };
    const char *body = NULL;
    unsigned timeout = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case O_SOCKET: g_o.socket = optarg; break;
        case O_CONC: bad = parse_uint(optarg, 1, 1000000, &g_o.conc); break;
        case O_SECONDS: bad = parse_secs(optarg, 0.001, &g_o.seconds); break;
        case O_WARMUP: bad = parse_secs(optarg, 0, &g_o.warmup); break;
        case O_PATH: g_o.path = optarg; break;
        case O_BODY: body = optarg; break;
        case O_ROUTE: g_o.route = optarg; break;
        case O_MODEL: g_o.model = optarg; break;
        case O_PRIO: bad = parse_uint(optarg, 0, 2, &g_o.priority); break;
        case O_CLIENTS: bad = parse_uint(optarg, 1, 1024, &g_o.clients); break;
        case O_TIMEOUT: bad = parse_uint(optarg, 0, 86400000, &timeout); break;
        case O_DRAIN: bad = parse_secs(optarg, 0, &g_o.drain_s); break;
        case O_SHOW: bad = parse_uint(optarg, 0, 1000000, &g_o.show_errors); break;
        case O_MARKS: g_o.marks = true; break;
        case O_HELP: usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
        if (bad) {
            fprintf(stderr, "ringload: bad value for --%s: %s\n", lo[ch - 1].name, optarg);
            return -1;
        }
    }
    if (optind < argc || !g_o.socket || !g_o.conc || g_o.seconds < 0) {
        fprintf(stderr, "ringload: --socket, --conc and --seconds are required\n");
        usage(stderr);
        return -1;
    }
    g_o.timeout_ms = timeout;
    if (g_o.clients > g_o.conc)
        g_o.clients = g_o.conc;
    return load_body(body ? body : DEFAULT_BODY);
}

/* ---------------------------------------------------------------- main */

static double pct_us(const u64vec *a, double p)
{
    if (!a->n)
        return 0;
    double x = p * (double)a->n;    /* nearest rank: the ceil(p n)-th sample */
    size_t k = (size_t)x;
    if ((double)k < x)
        k++;
    k = k ? k - 1 : 0;
    if (k >= a->n)
        k = a->n - 1;
    return (double)a->v[k] / 1000.0;
}

/* wrk's percentiles of the same samples. wrk (4.x, stats_correct) corrects
 * its histogram for coordinated omission before it reports anything: with
 * e = its run time / (answers / connections), the time one connection took
 * per request, every sample s >= 2e gets copies at s - e, s - 2e, ... down
 * to just above e, the requests an open-loop client would have sent (and
 * seen delayed) during that stall. Its ranks are round(p/100 * count + 0.5)
 * in whole microseconds. To set the ring's figures beside wrk's, the same is
 * computed here without materialising the copies: count_le(x) is how many
 * samples, copies included, are at most x, and a percentile is the least x
 * whose count reaches its rank. */
static uint64_t co_copies(uint64_t s, uint64_t e)
{
    return s >= 2 * e ? (s + e - 1) / e - 2 : 0;
}

static uint64_t co_count_le(const uint64_t *us, size_t n, uint64_t e, uint64_t x)
{
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = us[i], k = co_copies(s, e);
        if (s <= x) {
            c += 1 + k;
            continue;
        }
        uint64_t kmin = (s - x + e - 1) / e;    /* copies s - k e <= x from here */
        if (kmin < 1)
            kmin = 1;
        if (k >= kmin)
            c += k - kmin + 1;
    }
    return c;
}

/* us: the samples in whole µs, ascending; e == 0: no correction. */
static uint64_t co_percentile(const uint64_t *us, size_t n, uint64_t e, double p)
{
    if (!n)
        return 0;
    uint64_t total = n;
    if (e)
        for (size_t i = 0; i < n; i++)
            total += co_copies(us[i], e);
    uint64_t rank = (uint64_t)(p / 100.0 * (double)total + 1.0);   /* round(y + 0.5), y >= 0 */
    uint64_t lo = us[0], hi = us[n - 1];
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint64_t c = e ? co_count_le(us, n, e, mid) : 0;
        if (!e) {   /* plain nearest rank over the sorted samples */
            size_t a = 0, b = n;
            while (a < b) {
                size_t m = a + (b - a) / 2;
                if (us[m] <= mid)
                    a = m + 1;
                else
                    b = m;
            }
            c = a;
        }
        if (c >= rank)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* One sorted array of every worker's samples of one kind (0 latency,
 * 1 the sidecar's total, 2 its queued time). */
static int merge(worker *ws, unsigned n, int kind, u64vec *out)
{
    for (unsigned i = 0; i < n; i++) {
        const u64vec *v = kind == 0 ? &ws[i].lat : kind == 1 ? &ws[i].side : &ws[i].queued;
        for (size_t k = 0; k < v->n; k++)
            if (vec_push(out, v->v[k]) < 0)
                return -1;
    }
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, bp_cmp_u64);
    return 0;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static void sleep_until(uint64_t t)
{
    uint64_t now;
    while (!g_interrupted && (now = bp_now_ns()) < t) {
        uint64_t ms = (t - now) / 1000000u + 1;
        bp_sleep_ms(ms > 100 ? 100 : (unsigned)ms);   /* a signal is seen within 0.1 s */
    }
}

int main(int argc, char **argv)
{
    int pa = parse_args(argc, argv);
    if (pa != 0)
        return pa < 0 ? 2 : 0;      /* bad usage, or --help */
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned n = g_o.clients;
    worker *ws = calloc(n, sizeof *ws);
    if (!ws)
        return 1;
    int rc = 0;
    unsigned connected = 0, started = 0;
    for (unsigned i = 0; i < n; i++) {
        worker *w = &ws[i];
        w->id = i;
        w->target = g_o.conc / n + (i < g_o.conc % n);
        int err = rs_connect(g_o.socket, &w->c);
        if (err < 0) {
            fprintf(stderr, "ringload: rs_connect(%s): %s (%s)%s%s\n", g_o.socket, rs_errname(err),
                    rs_strerror(err), rs_last_error()[0] ? ": " : "", rs_last_error());
            rc = 1;
            goto out;
        }
        connected++;
        if (if_init(&w->fl, w->target) < 0) {
            fprintf(stderr, "ringload: out of memory\n");
            rc = 1;
            goto out;
        }
    }
    for (; started < n; started++)
        if (pthread_create(&ws[started].th, NULL, run, &ws[started]) != 0) {
            fprintf(stderr, "ringload: pthread_create failed\n");
            g_interrupted = 1;     /* the ones started stop at once */
            rc = 1;
            break;
        }
    pthread_mutex_lock(&g_go_mu);
    g_win0 = bp_now_ns() + (uint64_t)(g_o.warmup * 1e9);
    g_win1 = g_win0 + (uint64_t)(g_o.seconds * 1e9);
    g_go = true;
    pthread_cond_broadcast(&g_go_cv);
    pthread_mutex_unlock(&g_go_mu);
    fprintf(stderr, "ringload: %u in flight over %u client%s, %.3g s warm-up, %.3g s measured\n", g_o.conc, n,
            n == 1 ? "" : "s", g_o.warmup, g_o.seconds);
    sleep_until(g_win0);
    double cpu0 = cpu_s();
    if (g_o.marks && !g_interrupted) {
        printf("MARK start\n");
        fflush(stdout);
    }
    sleep_until(g_win1);
    double cpu1 = cpu_s();
    if (g_o.marks && !g_interrupted) {
        printf("MARK end\n");
        fflush(stdout);
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(ws[i].th, NULL);
    if (g_interrupted && rc == 0) {
        fprintf(stderr, "ringload: interrupted\n");
        rc = 130;
        goto out;
    }
    if (rc)
        goto out;

    worker t = { 0 };
    for (unsigned i = 0; i < n; i++) {
        worker *w = &ws[i];
        t.submitted += w->submitted;
        t.answered += w->answered;
        t.ok_total += w->ok_total;
        t.err_total += w->err_total;
        t.attempts += w->attempts;
        t.ring_full += w->ring_full;
        t.orphans += w->orphans;
        t.w_ok += w->w_ok;
        t.w_err += w->w_err;
        t.live += w->live;
        if (w->fatal && !t.fatal)
            t.fatal = w->fatal;
    }
    u64vec lat = { 0 }, side = { 0 }, queued = { 0 };
    if (merge(ws, n, 0, &lat) < 0 || merge(ws, n, 1, &side) < 0 || merge(ws, n, 2, &queued) < 0) {
        fprintf(stderr, "ringload: out of memory\n");
        free(lat.v);
        free(side.v);
        free(queued.v);
        rc = 1;
        goto out;
    }
    uint64_t done = t.w_ok + t.w_err;
    uint64_t window_us = (uint64_t)(g_o.seconds * 1e6), per_conn = done / g_o.conc;
    uint64_t co_e = per_conn ? window_us / per_conn : 0;
    uint64_t *us = malloc((lat.n ? lat.n : 1) * sizeof *us);
    if (!us) {
        fprintf(stderr, "ringload: out of memory\n");
        free(lat.v);
        free(side.v);
        free(queued.v);
        rc = 1;
        goto out;
    }
    for (size_t k = 0; k < lat.n; k++)
        us[k] = lat.v[k] / 1000u;
    uint64_t co[4];
    static const double co_p[4] = { 50, 90, 99, 99.9 };
    for (int k = 0; k < 4; k++)
        co[k] = co_percentile(us, lat.n, co_e, co_p[k]);
    free(us);
    double mean = 0;
    for (size_t k = 0; k < lat.n; k++)
        mean += (double)lat.v[k];
    mean = lat.n ? mean / (double)lat.n / 1000.0 : 0;
    if (t.live)
        fprintf(stderr, "ringload: %u requests still in flight after %.3g s of drain: abandoned\n", t.live,
                g_o.drain_s);
    if (t.fatal)
        rc = 1;
    printf("{\"bench\":\"ringload\",\"conc\":%u,\"clients\":%u,\"seconds\":%.3f,\"warmup\":%.3f,"
           "\"rps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
           "\"max_us\":%.1f,\"mean_us\":%.1f,\"ok\":%llu,\"errors\":%llu,"
           "\"co_interval_us\":%llu,\"co_p50_us\":%llu,\"co_p90_us\":%llu,\"co_p99_us\":%llu,"
           "\"co_p999_us\":%llu,"
           "\"sidecar_p50_us\":%.1f,\"sidecar_p99_us\":%.1f,\"queued_p50_us\":%.1f,\"queued_p99_us\":%.1f,"
           "\"client_cpu_us_per_req\":%.2f,"
           "\"submitted\":%llu,\"answered\":%llu,\"ok_total\":%llu,\"errors_total\":%llu,"
           "\"attempts\":%llu,\"abandoned\":%u,\"ring_full\":%llu,\"orphans\":%llu,\"failed\":%s}\n",
           g_o.conc, n, g_o.seconds, g_o.warmup, (double)done / g_o.seconds, pct_us(&lat, 0.50),
           pct_us(&lat, 0.90), pct_us(&lat, 0.99), pct_us(&lat, 0.999), lat.n ? (double)lat.v[lat.n - 1] / 1000.0 : 0,
           mean, (unsigned long long)t.w_ok, (unsigned long long)t.w_err, (unsigned long long)co_e,
           (unsigned long long)co[0], (unsigned long long)co[1], (unsigned long long)co[2],
           (unsigned long long)co[3], pct_us(&side, 0.50),
           pct_us(&side, 0.99), pct_us(&queued, 0.50), pct_us(&queued, 0.99), done ? (cpu1 - cpu0) * 1e6 / (double)done : 0,
           (unsigned long long)t.submitted, (unsigned long long)t.answered, (unsigned long long)t.ok_total,
           (unsigned long long)t.err_total, (unsigned long long)t.attempts, t.live,
           (unsigned long long)t.ring_full, (unsigned long long)t.orphans, t.fatal ? "true" : "false");
    fflush(stdout);
    free(lat.v);
    free(side.v);
    free(queued.v);

out:
    for (unsigned i = 0; i < n; i++) {
        if (i < connected)
            rs_close(ws[i].c);
        if_free(&ws[i].fl);
        free(ws[i].lat.v);
        free(ws[i].side.v);
        free(ws[i].queued.v);
    }
    free(ws);
    free(g_o.body);
    return rc;
}
