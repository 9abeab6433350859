/*
 * burstbench.c — N requests at once through the ring to a slow upstream:
 * how much memory does the sidecar hold for them, does it give it back, how
 * fast does it open upstream connections, and does each answer reach its
 * client as soon as the sidecar has it? (issue 18, points 3 and 4)
 *
 *   burstbench [--n 10000] [--delay-ms D] [--mode h1|queued|h2]
 *              [--clients K] [--rounds R] [--build-dir DIR]
 *              [--ringsided PATH] [--mock PATH] [...; --help lists all]
 *
 * Processes (bench/common/benchproc.h: children die with us, killed by PID,
 * temp dir removed on every exit path): an upstream on 127.0.0.1 and a
 * ringsided with a generated config. The upstream holds every request D ms
 * (default 15,000: longer than the current sidecar takes to open 10,000
 * connections, so all N are there at once; 50 in mode queued) after
 * reading it, then answers a small chat completion whose content is
 * "echo: <x-request-id>":
 *   h1, queued   the mock upstream (bench/mockup, HTTP/1.1, libmicrohttpd),
 *                delay by the request header x-mock-delay-ms: D;
 *   h2           nginx, HTTP/2 over TLS (a throw-away certificate the route
 *                trusts by ca_file; --h2c: cleartext, prior knowledge), the
 *                delay by echo_sleep (Debian's libnginx-mod-http-echo);
 *                --upstream nginx runs the same nginx over cleartext
 *                HTTP/1.1 in the other modes.
 * The sidecar's config lifts every limit in the way of the burst: each
 * client may hold its whole share in flight, queues hold N + 1000 per
 * priority, deadlines and timeouts are an hour, one attempt per request (a
 * retry would hide a failure this benchmark must count), no P0
 * reservation, and the route's concurrency is fixed (AIMD's min = max =
 * initial) at N + 64 (h1, h2) or at --queued-limit (64) in mode queued,
 * where the rest wait in the sidecar's P1 queue. Rings are 1 MiB (they are
 * shared memory the sidecar touches too: at the default 8 MiB, four
 * clients' rings alone could reach 64 MiB of its RSS). Mode h2 adds the
 * route key of --h2-key ("http_version: 2"); a sidecar that refuses the
 * key (ringsided --check-config) makes the run print "h2 is not supported
 * yet" and exit 2.
 *
 * One round: K client threads (one rs_client each) submit their share of
 * the N requests as fast as rs_submit takes them (RS_EAGAIN: ring full, and
 * RS_ETOOMANY are retried and counted), while K reaper threads collect the
 * answers with rs_poll. Per request: client latency = CLOCK_MONOTONIC right
 * after the rs_poll that returned it − right before the rs_submit that
 * accepted it, and the sidecar's own rs_response.timings. The held-back gap
 * = client latency − total_us: the time the answer spent between being
 * ready in the sidecar and reaching the client, plus the (unseen) time the
 * record waited in the submission ring before the sidecar took it. Every
 * answer must be RS_OK, 200, and carry its own request's id; anything else
 * is counted by kind, and an answer that never comes (round timeout) is lost.
 * --access-log splits the gap in two with the sidecar's access log (level
 * all, a line per answer stamped when the answer was ready): ring wait
 * (submit → the sidecar took the record) and held (ready → reaped).
 *
 * Beside it, sampled while the round runs:
 *   - the sidecar's memory from /proc/PID/status every 50 ms: VmRSS (and its
 *     anon / shmem parts: the shmem part is the clients' rings, which the
 *     sidecar maps too); the peak is VmHWM, reset before the round by
 *     writing 5 to /proc/PID/clear_refs (the sampled maximum if that fails);
 *     after = VmRSS --settle-ms (2000) after the last answer was reaped;
 *   - the upstream's counters every 50 ms (mock GET /stats, nginx
 *     stub_status; our own poll connections are subtracted): connections
 *     accepted, requests, in flight, open. conn_per_s = 80% of the round's
 *     connections / the time between 10% and 90% of them;
 *   - the sidecar's admin /metrics every 250 ms: in flight, queued, and how
 *     long each scrape took (served by the sidecar's own loop: a slow scrape
 *     is a long loop turn);
 *   - CPU seconds of the sidecar and of the upstream from the first submit
 *     to the last answer.
 * Before the first round, a warm-up of 8 requests per client (no delay)
 * connects everything, then 1 s of quiet before the baseline RSS. A round
 * gives up on answers after 60 s + 3 × D × ⌈N / concurrency⌉ (--timeout-s),
 * and a watchdog (alarm) kills everything after 120 s + R × (that + settle
 * + 10 s).
 *
 * Output: progress and a summary per round on stderr; then one JSON line on
 * stdout. With --rounds R > 1, a figure is the median of the rounds' figures,
 * except rss_peak_mib (the largest), rss_after_mib (the last round's) and
 * the error counts (summed); "per_round" has each round's. Exit status: 0,
 * 1 if any request failed or was lost, 2 for bad arguments or a mode the
 * sidecar does not support, 3 from the watchdog or a signal.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "benchproc.h"
#include "ringside.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MEM_SAMPLE_MS     50
#define UP_SAMPLE_MS      50
#define ADMIN_SAMPLE_MS   250
#define WARMUP_PER_CLIENT 8
#define POLL_BATCH        256
#define MAX_CLIENTS       64
#define ECHO_MODULE       "/usr/lib/nginx/modules/ngx_http_echo_module.so"

enum mode { MODE_H1, MODE_QUEUED, MODE_H2 };
static const char *const mode_names[] = { "h1", "queued", "h2" };
enum upstream_kind { UP_MOCK, UP_NGINX };

/* ------------------------------------------------------------ options */

typedef struct opts {
    unsigned n, delay_ms, clients, rounds, queued_limit, settle_ms, timeout_s;
    bool delay_set;
    enum mode mode;
    enum upstream_kind upstream;
    bool upstream_set;
    bool access_log;   /* split the gap with the sidecar's access log */
    bool h2c;          /* h2: cleartext prior knowledge instead of TLS */
    uint32_t ring_bytes;
    char sidecar[PATH_MAX], mock[PATH_MAX];
    const char *nginx, *h2_key;
} opts;

static opts O;
static bp_run g_run;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: burstbench [options]\n"
            "  --n N             requests in the burst (10000)\n"
            "  --delay-ms D      the upstream holds each request D ms (h1, h2: 15000; queued: 50)\n"
            "  --mode M          h1 | queued | h2 (h1)\n"
            "  --clients K       client threads, one rs_client each (4)\n"
            "  --rounds R        bursts against the same processes (1)\n"
            "  --queued-limit C  the route's concurrency in mode queued (64)\n"
            "  --ring-bytes B    each client ring (1048576; a power of two >= 262144)\n"
            "  --settle-ms MS    after the last answer, wait this long before rss_after (2000)\n"
            "  --timeout-s S     a round's limit (default: from N, D and the concurrency)\n"
            "  --upstream U      mock | nginx (mock; h2 always nginx)\n"
            "  --h2-key YAML     the route key that asks for HTTP/2 (\"http_version: 2\")\n"
            "  --h2c             h2 over cleartext (prior knowledge) instead of TLS with a\n"
            "                    throw-away certificate (ringsided needs libcurl >= 8.0.0 for it)\n"
            "  --access-log      split the gap into ring wait and answer held, from the sidecar's\n"
            "                    access log (a line per answer: costs the sidecar a write each)\n"
            "  --build-dir DIR   take ringsided and the mock from this build tree\n"
            "  --ringsided PATH  --mock PATH  --nginx PATH (/usr/sbin/nginx)\n");
}

static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        return false;
    *out = (unsigned)v;
    return true;
}

static int parse_args(int argc, char **argv)
{
    O.n = 10000;
    O.clients = 4;
    O.rounds = 1;
    O.queued_limit = 64;
    O.settle_ms = 2000;
    O.ring_bytes = 1u << 20;
    O.nginx = "/usr/sbin/nginx";
    O.h2_key = "http_version: 2";
    bp_default_bins(O.sidecar, sizeof O.sidecar, O.mock, sizeof O.mock);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned u;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--access-log")) {
            O.access_log = true;
            continue;
        }
        if (!strcmp(a, "--h2c")) {
            O.h2c = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "burstbench: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--n") && parse_uint(v, 1, 1000000, &O.n))
            continue;
        if (!strcmp(a, "--delay-ms") && parse_uint(v, 0, 3600000, &O.delay_ms)) {
            O.delay_set = true;
            continue;
        }
        if (!strcmp(a, "--clients") && parse_uint(v, 1, MAX_CLIENTS, &O.clients))
            continue;
        if (!strcmp(a, "--rounds") && parse_uint(v, 1, 100, &O.rounds))
            continue;
        if (!strcmp(a, "--queued-limit") && parse_uint(v, 1, 100000, &O.queued_limit))
            continue;
        if (!strcmp(a, "--settle-ms") && parse_uint(v, 0, 600000, &O.settle_ms))
            continue;
        if (!strcmp(a, "--timeout-s") && parse_uint(v, 1, 86400, &O.timeout_s))
            continue;
        if (!strcmp(a, "--ring-bytes") && parse_uint(v, 262144, 1u << 30, &u) && !(u & (u - 1))) {
            O.ring_bytes = u;
            continue;
        }
        if (!strcmp(a, "--mode")) {
            int m = !strcmp(v, "h1") ? MODE_H1 : !strcmp(v, "queued") ? MODE_QUEUED : !strcmp(v, "h2") ? MODE_H2 : -1;
            if (m >= 0) {
                O.mode = (enum mode)m;
                continue;
            }
        }
        if (!strcmp(a, "--upstream") && (!strcmp(v, "mock") || !strcmp(v, "nginx"))) {
            O.upstream = !strcmp(v, "mock") ? UP_MOCK : UP_NGINX;
            O.upstream_set = true;
            continue;
        }
        if (!strcmp(a, "--h2-key")) {
            O.h2_key = v;
            continue;
        }
        if (!strcmp(a, "--build-dir")) {
            snprintf(O.sidecar, sizeof O.sidecar, "%s/sidecar/ringsided", v);
            snprintf(O.mock, sizeof O.mock, "%s/bench/mockup/ringside-mock-upstream", v);
            continue;
        }
        if (!strcmp(a, "--ringsided")) {
            snprintf(O.sidecar, sizeof O.sidecar, "%s", v);
            continue;
        }
        if (!strcmp(a, "--mock")) {
            snprintf(O.mock, sizeof O.mock, "%s", v);
            continue;
        }
        if (!strcmp(a, "--nginx")) {
            O.nginx = v;
            continue;
        }
        fprintf(stderr, "burstbench: bad option or value: %s %s\n", a, v);
        usage(stderr);
        return -1;
    }
    if (O.mode == MODE_H2) {
        if (O.upstream_set && O.upstream == UP_MOCK) {
            fprintf(stderr, "burstbench: the mock speaks HTTP/1.1 only; mode h2 uses nginx\n");
            return -1;
        }
        O.upstream = UP_NGINX;
    }
    if (!O.delay_set)
        O.delay_ms = O.mode == MODE_QUEUED ? 50 : 15000;
    return 0;
}

/* the route's fixed concurrency */
static unsigned route_concurrency(void)
{
    return O.mode == MODE_QUEUED ? O.queued_limit : O.n + 64;
}

/* A round's limit: the upstream's own time for N at that concurrency
 * (D per wave), three times over, plus a minute for connecting and for a
 * slow shared machine. */
static unsigned round_timeout_s(void)
{
    if (O.timeout_s)
        return O.timeout_s;
    unsigned c = route_concurrency();
    uint64_t waves = (O.n + c - 1) / c;
    return (unsigned)(60 + 3 * waves * O.delay_ms / 1000);
}

/* ------------------------------------------------------------ helpers */

static double now_s(uint64_t t0)
{
    return (double)(bp_now_ns() - t0) / 1e9;
}

typedef struct memstat {
    long rss_kb, hwm_kb, anon_kb, file_kb, shmem_kb;
} memstat;

static int read_mem(pid_t pid, memstat *m)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    memset(m, 0, sizeof *m);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        long v;
        if (sscanf(line, "VmRSS: %ld", &v) == 1)
            m->rss_kb = v;
        else if (sscanf(line, "VmHWM: %ld", &v) == 1)
            m->hwm_kb = v;
        else if (sscanf(line, "RssAnon: %ld", &v) == 1)
            m->anon_kb = v;
        else if (sscanf(line, "RssFile: %ld", &v) == 1)
            m->file_kb = v;
        else if (sscanf(line, "RssShmem: %ld", &v) == 1)
            m->shmem_kb = v;
    }
    fclose(f);
    return m->rss_kb > 0 ? 0 : -1;
}

static double mib(long kb)
{
    return (double)kb / 1024.0;
}

/* VmHWM := VmRSS now (proc(5), clear_refs "5"), so each round has its own
 * exact peak */
static bool reset_hwm(pid_t pid)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/clear_refs", (int)pid);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok;
}

/* One HTTP/1.0 exchange on 127.0.0.1:port (the server closes, so EOF ends
 * the answer). Returns the body (NUL-terminated, inside buf) or NULL. */
static char *http_call(int port, const char *method, const char *path, const char *body, char *buf, size_t cap,
                       int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char rq[512];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(rq, sizeof rq, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n\r\n%s", method, path,
                     blen, body ? body : "");
    char *res = NULL;
    if (n > 0 && (size_t)n < sizeof rq && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, rq, (size_t)n) == n) {
        size_t got = 0;
        ssize_t r;
        while (got < cap - 1 && (r = read(fd, buf + got, cap - 1 - got)) > 0)
            got += (size_t)r;
        buf[got] = 0;
        char *sep = strstr(buf, "\r\n\r\n");
        if (sep && strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 9, "200", 3) == 0)
            res = sep + 4;
    }
    close(fd);
    return res;
}

static long long json_int(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = s ? strstr(s, k) : NULL;
    return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* nearest rank of a sorted array */
static int64_t pct(const int64_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    k = k < 1 ? 1 : k > n ? n : k;
    return v[k - 1];
}

static double median(double *v, size_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, bp_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Everything under our mkdtemp directory (config, logs, nginx's files),
 * then the directory: bp_remove_files knows only its own three names. */
static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(p);
    else
        unlink(p);
    return 0;
}

static void remove_dir(void)
{
    if (g_run.dir[0] && strncmp(g_run.dir, "/tmp/burstbench.", 16) == 0)
        nftw(g_run.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    g_run.dir[0] = 0;
}

static void stop_all(void)
{
    bp_stop(&g_run.sidecar_pid);
    bp_stop(&g_run.mock_pid);
    remove_dir();
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "burstbench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------ upstream */

/* TLS to nginx in mode h2 (libcurl 7.88, Debian 12's, cannot reuse an h2c
 * connection: ringsided refuses h2c there). A throw-away P-256 certificate
 * for IP 127.0.0.1, the route trusting it through ca_file. */
static bool use_tls(void)
{
    return O.mode == MODE_H2 && !O.h2c;
}

static int make_cert(void)
{
    char key[128], crt[128], out[128];
    snprintf(key, sizeof key, "%s/key.pem", g_run.dir);
    snprintf(crt, sizeof crt, "%s/cert.pem", g_run.dir);
    snprintf(out, sizeof out, "%s/openssl.out", g_run.dir);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1",
                     "-addext", "subjectAltName=IP:127.0.0.1", NULL };
    pid_t pid = bp_spawn("burstbench", "/usr/bin/openssl", argv, fd, fd);
    if (fd >= 0)
        close(fd);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || access(crt, R_OK) != 0) {
        fprintf(stderr, "burstbench: could not make a certificate with /usr/bin/openssl (see %s)\n", out);
        return -1;
    }
    return 0;
}

typedef struct upstream {
    enum upstream_kind kind;
    int port;        /* where the sidecar sends requests */
    int stats_port;  /* mock: = port; nginx: its stub_status listener */
} upstream;

static upstream U;

/* nginx as the upstream: one process (master_process off, so the PID we
 * hold is the server), h2c with prior knowledge in mode h2 and HTTP/1.1
 * otherwise, a fixed answer after echo_sleep, stub_status on a second
 * listener for the connection counters. */
static int start_nginx(void)
{
    if (access(ECHO_MODULE, R_OK) != 0) {
        fprintf(stderr,
                "burstbench: nginx as the upstream needs the echo module (%s): install libnginx-mod-http-echo "
                "(deploy/install-deps.sh)\n",
                ECHO_MODULE);
        return -2;
    }
    U.port = free_port();
    U.stats_port = free_port();
    if (U.port < 0 || U.stats_port < 0 || U.port == U.stats_port)
        return -1;
    char conf[4096], path[128], errp[128];
    int n = snprintf(conf, sizeof conf,
                     "load_module %s;\n"
                     "daemon off;\nmaster_process off;\nworker_processes 1;\n"
                     "worker_rlimit_nofile 20000;\n"
                     "pid %s/nginx.pid;\nerror_log %s/nginx.err warn;\n"
                     "events { worker_connections 19000; multi_accept on; }\n"
                     "http {\n"
                     "  access_log off;\n"
                     "  client_body_temp_path %s/ngx; proxy_temp_path %s/ngx; fastcgi_temp_path %s/ngx;\n"
                     "  uwsgi_temp_path %s/ngx; scgi_temp_path %s/ngx;\n"
                     "  keepalive_requests 10000000; keepalive_timeout 300s;\n"
                     "  http2_max_concurrent_streams %u; http2_max_requests 10000000;\n"
                     "  server {\n"
                     "    listen 127.0.0.1:%d%s backlog=16384;\n"
                     "%s%s%s%s%s"
                     "    location /warm/ {\n"   /* the warm-up: no delay */
                     "      default_type application/json;\n"
                     "      echo_read_request_body;\n"
                     "      echo '{\"id\":\"chatcmpl-warm\",\"object\":\"chat.completion\"}';\n"
                     "    }\n"
                     "    location / {\n"
                     "      default_type application/json;\n"
                     "      echo_read_request_body;\n"
                     "      echo_sleep %u.%03u;\n"
                     "      echo '{\"id\":\"chatcmpl-burst\",\"object\":\"chat.completion\",\"created\":1700000000,"
                     "\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                     "\"content\":\"echo: $http_x_request_id\"},\"finish_reason\":\"stop\"}],"
                     "\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":4,\"total_tokens\":12}}';\n"
                     "    }\n"
                     "  }\n"
                     "  server { listen 127.0.0.1:%d; location / { stub_status; } }\n"
                     "}\n",
                     ECHO_MODULE, g_run.dir, g_run.dir, g_run.dir, g_run.dir, g_run.dir, g_run.dir, g_run.dir,
                     O.n + 64, U.port, use_tls() ? " ssl http2" : O.mode == MODE_H2 ? " http2" : "",
                     use_tls() ? "    ssl_certificate " : "", use_tls() ? g_run.dir : "",
                     use_tls() ? "/cert.pem;\n    ssl_certificate_key " : "", use_tls() ? g_run.dir : "",
                     use_tls() ? "/key.pem;\n" : "", O.delay_ms / 1000, O.delay_ms % 1000,
                     U.stats_port);
    if (n < 0 || (size_t)n >= sizeof conf)
        return -1;
    snprintf(path, sizeof path, "%s/ngx", g_run.dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/nginx.conf", g_run.dir);
    if (write_file(path, conf) < 0)
        return -1;
    snprintf(errp, sizeof errp, "%s/nginx.out", g_run.dir);
    int fd = open(errp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    char *argv[] = { (char *)O.nginx, "-p", g_run.dir, "-c", path, NULL };
    g_run.mock_pid = bp_spawn("burstbench", O.nginx, argv, fd, fd);
    if (fd >= 0)
        close(fd);
    if (g_run.mock_pid < 0) {
        g_run.mock_pid = 0;
        return -1;
    }
    char buf[1024];
    for (int i = 0; i < 200; i++) {
        if (http_call(U.stats_port, "GET", "/", NULL, buf, sizeof buf, 500))
            return 0;
        int st;
        if (waitpid(g_run.mock_pid, &st, WNOHANG) == g_run.mock_pid) {
            g_run.mock_pid = 0;
            break;
        }
        bp_sleep_ms(25);
    }
    fprintf(stderr, "burstbench: nginx did not start; its log:\n");
    snprintf(path, sizeof path, "%s/nginx.err", g_run.dir);
    FILE *f = fopen(path, "r");
    while (f && fgets(buf, sizeof buf, f))
        fputs(buf, stderr);
    if (f)
        fclose(f);
    f = fopen(errp, "r");
    while (f && fgets(buf, sizeof buf, f))
        fputs(buf, stderr);
    if (f)
        fclose(f);
    return -1;
}

static int start_upstream(void)
{
    U.kind = O.upstream;
    if (U.kind == UP_NGINX)
        return start_nginx();
    if (bp_start_mock(&g_run, O.mock, &U.port) < 0)
        return -1;
    U.stats_port = U.port;
    return 0;
}

/* The upstream's counters. conns_raw counts our own poll connections too. */
typedef struct up_counters {
    long long conns_raw, requests, inflight, inflight_peak, active;
} up_counters;

static int read_upstream(up_counters *c)
{
    char buf[2048];
    if (U.kind == UP_MOCK) {
        char *b = http_call(U.stats_port, "GET", "/stats", NULL, buf, sizeof buf, 2000);
        if (!b)
            return -1;
        c->conns_raw = json_int(b, "connections");
        c->requests = json_int(b, "requests");
        c->inflight = json_int(b, "inflight");
        c->inflight_peak = json_int(b, "inflight_peak");
        c->active = json_int(b, "active_connections");
        return c->conns_raw < 0 ? -1 : 0;
    }
    /* "Active connections: A \nserver accepts handled requests\n X Y Z \n
     *  Reading: r Writing: w Waiting: q" */
    char *b = http_call(U.stats_port, "GET", "/", NULL, buf, sizeof buf, 2000);
    long long act, acc, hand, req, rd, wr, wt;
    if (!b || sscanf(b, "Active connections: %lld server accepts handled requests %lld %lld %lld Reading: %lld "
                        "Writing: %lld Waiting: %lld",
                     &act, &acc, &hand, &req, &rd, &wr, &wt) != 7)
        return -1;
    c->conns_raw = acc;
    c->requests = req;
    c->inflight = wr;   /* requests being answered now, our own poll among them */
    c->inflight_peak = -1;
    c->active = act;
    return 0;
}

/* The mock's counters restart at 0; nginx's cannot, so its base is kept */
static up_counters g_up_base;
static long long g_up_polls;   /* our connections to the stats port since the base */

static int reset_upstream(void)
{
    g_up_polls = 0;
    memset(&g_up_base, 0, sizeof g_up_base);
    if (U.kind == UP_MOCK) {
        char buf[1024];
        return http_call(U.stats_port, "POST", "/_stats_reset", NULL, buf, sizeof buf, 5000) ? 0 : -1;
    }
    if (read_upstream(&g_up_base) < 0)
        return -1;
    g_up_polls = 0;   /* the base read's own connection is inside its count */
    return 0;
}

/* ------------------------------------------------------------ sidecar */

static int admin_port = -1;

static int write_sidecar_config(char *cfg, size_t len, bool with_h2)
{
    unsigned per_client = (O.n + O.clients - 1) / O.clients + 2 * WARMUP_PER_CLIENT + 64;
    unsigned c = route_concurrency();
    unsigned long long long_ms = 3600000ull;
    int n = snprintf(cfg, len,
                     "# written by burstbench for one run\n"
                     "log_level: info\n"
                     "grace_ms: 1000\n"
                     "ring_bytes: %u\n"
                     "max_inflight: %u\n"
                     "admin: {listen: \"127.0.0.1:0\"}\n"
                     "front_door: {listen: \"off\"}\n"
                     "timeline: {file: \"\"}\n"
                     "access_log: {level: %s%s%s}\n"
                     "timeouts: {connect_ms: 60000, total_ms: %llu}\n"
                     "priorities:\n"
                     "  p0_reserved: 0\n"
                     "  queue: {p0: %u, p1: %u, p2: %u}\n"
                     "  deadline_ms: {p0: %llu, p1: %llu, p2: %llu}\n"
                     "retries: {attempts: 1}\n"
                     "routes:\n"
                     "  - name: burst\n"
                     "    endpoint: \"%s://127.0.0.1:%d\"\n"
                     "    concurrency: {initial: %u, min: %u, max: %u}\n"
                     "%s%s%s%s%s%s",
                     O.ring_bytes, per_client, O.access_log ? "all, file: \"" : "errors",
                     O.access_log ? g_run.dir : "", O.access_log ? "/access.jsonl\"" : "", long_ms, O.n + 1000, O.n + 1000, O.n + 1000, long_ms, long_ms,
                     long_ms, use_tls() ? "https" : "http", U.port, c, c, c, with_h2 ? "    " : "",
                     with_h2 ? O.h2_key : "", with_h2 ? "\n" : "", use_tls() ? "    ca_file: \"" : "",
                     use_tls() ? g_run.dir : "", use_tls() ? "/cert.pem\"\n" : "");
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Mode h2 needs a route key that the sidecar may not know yet: ask
 * ringsided --check-config. 0: accepted; 2: refused (message printed). */
static int check_h2_config(const char *cfg)
{
    char path[128], out[128];
    snprintf(path, sizeof path, "%s/check.yaml", g_run.dir);
    snprintf(out, sizeof out, "%s/check.out", g_run.dir);
    if (write_file(path, cfg) < 0)
        return 2;
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    char *argv[] = { O.sidecar, "--check-config", path, NULL };
    pid_t pid = bp_spawn("burstbench", O.sidecar, argv, fd, fd);
    if (fd >= 0)
        close(fd);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return 2;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    char said[2048] = "";
    FILE *f = fopen(out, "r");
    if (f) {
        size_t k = fread(said, 1, sizeof said - 1, f);
        said[k] = 0;
        fclose(f);
    }
    fprintf(stderr,
            "burstbench: h2 is not supported yet: ringsided refused the HTTP/2 route (key '%s', %s).\n"
            "ringsided --check-config said:\n%s"
            "(if the key is named otherwise, pass it with --h2-key)\n",
            O.h2_key, use_tls() ? "over TLS" : "h2c", said);
    return 2;
}

static int find_admin_port(void)
{
    char p[128], line[512];
    snprintf(p, sizeof p, "%s/ringsided.log", g_run.dir);
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(p, "r");
        while (f && fgets(line, sizeof line, f)) {
            const char *m = strstr(line, "admin listener on http://127.0.0.1:");
            if (m) {
                fclose(f);
                return atoi(m + strlen("admin listener on http://127.0.0.1:"));
            }
        }
        if (f)
            fclose(f);
        bp_sleep_ms(25);
    }
    return -1;
}

/* ------------------------------------------------------------ one round */

typedef struct sub_rec {
    rs_ticket ticket;
    uint32_t i;
} sub_rec;

typedef struct reap_rec {
    rs_ticket ticket;
    uint64_t t_reap;
    rs_timings tm;
    int error, status;
    int64_t body_i;      /* the index in the answer's content; -1 none */
    bool body_round_ok;  /* the content names this round */
} reap_rec;

typedef struct client_ctx {
    rs_client *c;
    unsigned k;
    /* this round's share: indices k, k+K, k+2K, ... < n */
    uint32_t share;
    sub_rec *subs;       /* submitter's, in order */
    atomic_uint accepted;
    atomic_bool sub_done;
    uint64_t ring_full, toomany;
    reap_rec *reaps;
    size_t nreaps, capreaps;
    atomic_uint reaped;
    pthread_t sub_th, reap_th;
} client_ctx;

typedef struct round_state {
    unsigned round, n;
    uint64_t *t_submit;        /* per request, by its submitter */
    uint64_t *t_reap_i;        /* per request, its answer's reap time (OK answers; 0 otherwise) */
    uint64_t *total_i;         /* and its total_us */
    int64_t real_minus_mono;   /* CLOCK_REALTIME - CLOCK_MONOTONIC at the round's start, ns */
    int *submit_err;           /* 0, or the RS_E* that refused it for good */
    atomic_uint submitted, answered;
    atomic_uint reapers_left;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_barrier_t go;
    uint64_t deadline;         /* reapers give up here: the rest are lost */
    atomic_bool stop_samplers;
} round_state;

static round_state R;
static client_ctx C[MAX_CLIENTS];

static const char body_json[] =
    "{\"model\":\"deepseek-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"burst\"}],\"max_tokens\":16}";

static void *submitter(void *p)
{
    client_ctx *cx = p;
    char delay[16], id[48];
    snprintf(delay, sizeof delay, "%u", O.delay_ms);
    rs_header h[2] = { { "x-mock-delay-ms", delay }, { "x-request-id", id } };
    rs_request rq = RS_REQUEST_INIT;
    rq.path = "/chat/completions";
    rq.route = "burst";
    rq.headers = h;
    rq.nheaders = 2;
    rq.body = body_json;
    rq.body_len = sizeof body_json - 1;
    pthread_barrier_wait(&R.go);
    for (uint32_t s = 0; s < cx->share; s++) {
        uint32_t i = cx->k + s * O.clients;
        snprintf(id, sizeof id, "b%u-%u", R.round, i);
        for (;;) {
            uint64_t t = bp_now_ns();
            rs_ticket tk;
            int e = rs_submit(cx->c, &rq, &tk);
            if (e == 0) {
                R.t_submit[i] = t;
                cx->subs[atomic_load_explicit(&cx->accepted, memory_order_relaxed)] = (sub_rec){ tk, i };
                atomic_fetch_add_explicit(&cx->accepted, 1, memory_order_release);
                atomic_fetch_add_explicit(&R.submitted, 1, memory_order_relaxed);
                break;
            }
            if (e == RS_EAGAIN || e == RS_ETOOMANY) {
                if (e == RS_EAGAIN)
                    cx->ring_full++;
                else
                    cx->toomany++;
                /* the sidecar drains the ring on its own; give it the CPU */
                struct timespec ts = { 0, 50000 };
                nanosleep(&ts, NULL);
                if (bp_now_ns() > R.deadline) {
                    R.submit_err[i] = e;
                    break;
                }
                continue;
            }
            R.submit_err[i] = e;
            fprintf(stderr, "burstbench: rs_submit refused request %u: %s (%s)\n", i, rs_errname(e), rs_last_error());
            break;
        }
    }
    atomic_store_explicit(&cx->sub_done, true, memory_order_release);
    return NULL;
}

/* "echo: b<round>-<i>" in the answer's content */
static void parse_body(const rs_response *r, reap_rec *rr)
{
    rr->body_i = -1;
    rr->body_round_ok = false;
    if (!r->body)
        return;
    const char *m = memmem(r->body, r->body_len, "echo: b", 7);
    if (!m)
        return;
    char *end;
    unsigned long round = strtoul(m + 7, &end, 10);
    if (*end != '-')
        return;
    rr->body_round_ok = round == R.round;
    rr->body_i = (int64_t)strtoul(end + 1, NULL, 10);
}

static void *reaper(void *p)
{
    client_ctx *cx = p;
    rs_response *out[POLL_BATCH];
    pthread_barrier_wait(&R.go);
    for (;;) {
        unsigned got = atomic_load_explicit(&cx->reaped, memory_order_relaxed);
        if (atomic_load_explicit(&cx->sub_done, memory_order_acquire) &&
            got >= atomic_load_explicit(&cx->accepted, memory_order_acquire))
            break;
        if (bp_now_ns() > R.deadline)
            break;
        int k = rs_poll(cx->c, out, POLL_BATCH, 100);
        uint64_t t = bp_now_ns();
        if (k < 0) {
            fprintf(stderr, "burstbench: client %u: rs_poll: %s\n", cx->k, rs_errname(k));
            break;
        }
        for (int j = 0; j < k; j++) {
            if (cx->nreaps == cx->capreaps) {
                size_t cap = cx->capreaps ? 2 * cx->capreaps : 1024;
                reap_rec *nr = realloc(cx->reaps, cap * sizeof *nr);
                if (!nr) {
                    rs_response_free(out[j]);
                    continue;
                }
                cx->reaps = nr;
                cx->capreaps = cap;
            }
            reap_rec *rr = &cx->reaps[cx->nreaps++];
            rr->ticket = out[j]->ticket;
            rr->t_reap = t;
            rr->tm = out[j]->timings;
            rr->error = out[j]->error;
            rr->status = out[j]->status;
            parse_body(out[j], rr);
            if (out[j]->error && cx->nreaps <= 3)
                fprintf(stderr, "burstbench: an answer failed: %s, status %d: %s\n", rs_errname(out[j]->error),
                        out[j]->status, out[j]->error_msg);
            rs_response_free(out[j]);
        }
        if (k > 0) {
            atomic_fetch_add_explicit(&cx->reaped, (unsigned)k, memory_order_relaxed);
            atomic_fetch_add_explicit(&R.answered, (unsigned)k, memory_order_relaxed);
        }
    }
    pthread_mutex_lock(&R.lock);
    if (atomic_fetch_sub(&R.reapers_left, 1) == 1)
        pthread_cond_signal(&R.cond);
    pthread_mutex_unlock(&R.lock);
    return NULL;
}

/* ------------------------------------------------------------ samplers */

typedef struct up_sample {
    uint64_t t;               /* CLOCK_MONOTONIC ns */
    long long conns, requests, inflight, open;
} up_sample;

typedef struct samplers {
    pthread_t mem_th, up_th, admin_th;
    pthread_mutex_t lock;
    /* memory */
    long rss_max_kb, anon_max_kb, shmem_max_kb;
    long rss_now_kb;
    /* upstream */
    up_sample *ups;
    size_t nups, capups;
    long long up_inflight_max;
    unsigned up_fail;
    /* admin */
    double admin_max_ms;
    long long admin_inflight_max, admin_queue_max;
    unsigned admin_scrapes, admin_fail;
} samplers;

static samplers S;

static void *mem_sampler(void *p)
{
    (void)p;
    while (!atomic_load(&R.stop_samplers)) {
        memstat m;
        if (read_mem(g_run.sidecar_pid, &m) == 0) {
            pthread_mutex_lock(&S.lock);
            S.rss_now_kb = m.rss_kb;
            if (m.rss_kb > S.rss_max_kb)
                S.rss_max_kb = m.rss_kb;
            if (m.anon_kb > S.anon_max_kb)
                S.anon_max_kb = m.anon_kb;
            if (m.shmem_kb > S.shmem_max_kb)
                S.shmem_max_kb = m.shmem_kb;
            pthread_mutex_unlock(&S.lock);
        }
        bp_sleep_ms(MEM_SAMPLE_MS);
    }
    return NULL;
}

static void *up_sampler(void *p)
{
    (void)p;
    while (!atomic_load(&R.stop_samplers)) {
        uint64_t t = bp_now_ns();
        up_counters c;
        int r = read_upstream(&c);
        g_up_polls++;
        pthread_mutex_lock(&S.lock);
        if (r == 0) {
            if (S.nups == S.capups) {
                size_t cap = S.capups ? 2 * S.capups : 1024;
                up_sample *n = realloc(S.ups, cap * sizeof *n);
                if (n) {
                    S.ups = n;
                    S.capups = cap;
                }
            }
            if (S.nups < S.capups) {
                up_sample *u = &S.ups[S.nups++];
                u->t = t;
                u->conns = c.conns_raw - g_up_base.conns_raw - g_up_polls;
                u->requests = c.requests - g_up_base.requests - (U.kind == UP_NGINX ? g_up_polls : 0);
                u->inflight = c.inflight - (U.kind == UP_NGINX ? 1 : 0);
                u->open = c.active - 1;   /* our poll's own connection is open too */
                if (u->inflight > S.up_inflight_max)
                    S.up_inflight_max = u->inflight;
                if (c.inflight_peak > S.up_inflight_max)
                    S.up_inflight_max = c.inflight_peak;
            }
        } else {
            S.up_fail++;
        }
        pthread_mutex_unlock(&S.lock);
        uint64_t spent = (bp_now_ns() - t) / 1000000u;
        if (spent < UP_SAMPLE_MS)
            bp_sleep_ms(UP_SAMPLE_MS - (unsigned)spent);
    }
    return NULL;
}

static long long metric_sum(const char *text, const char *name)
{
    long long sum = 0;
    size_t nl = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, nl) == 0 && (p[nl] == '{' || p[nl] == ' ')) {
            const char *sp = strchr(p, ' ');
            const char *eol = strchr(p, '\n');
            if (sp && (!eol || sp < eol))
                sum += strtoll(sp + 1, NULL, 10);
        }
    }
    return sum;
}

static void *admin_sampler(void *p)
{
    (void)p;
    static char buf[256 * 1024];
    while (!atomic_load(&R.stop_samplers) && admin_port > 0) {
        uint64_t t = bp_now_ns();
        char *b = http_call(admin_port, "GET", "/metrics", NULL, buf, sizeof buf, 30000);
        double ms = (double)(bp_now_ns() - t) / 1e6;
        pthread_mutex_lock(&S.lock);
        if (b) {
            S.admin_scrapes++;
            if (ms > S.admin_max_ms)
                S.admin_max_ms = ms;
            long long inf = metric_sum(b, "ringside_inflight"), q = metric_sum(b, "ringside_queue_depth");
            if (inf > S.admin_inflight_max)
                S.admin_inflight_max = inf;
            if (q > S.admin_queue_max)
                S.admin_queue_max = q;
        } else {
            S.admin_fail++;
        }
        pthread_mutex_unlock(&S.lock);
        if (ms < ADMIN_SAMPLE_MS)
            bp_sleep_ms(ADMIN_SAMPLE_MS - (unsigned)ms);
    }
    return NULL;
}

/* When (s after t0; samples start before t0, so it may be negative) the
 * upstream's connection count first reached `level`, interpolated between
 * samples. False if it never did, or did in the very first sample. */
static bool conns_reached(long long level, uint64_t t0, double *when)
{
    for (size_t i = 1; i < S.nups; i++)
        if (S.ups[i].conns >= level) {
            const up_sample *a = &S.ups[i - 1], *b = &S.ups[i];
            double ta = ((double)a->t - (double)t0) / 1e9, tb = ((double)b->t - (double)t0) / 1e9;
            double f = b->conns > a->conns ? (double)(level - a->conns) / (double)(b->conns - a->conns) : 1;
            *when = ta + f * (tb - ta);
            return true;
        }
    return false;
}

/* the first sample (s after t0) that saw `level` requests: late by up to
 * one sampling period; -1 if none did (all N arrive after t0) */
static double requests_reached(long long level, uint64_t t0)
{
    for (size_t i = 0; i < S.nups; i++)
        if (S.ups[i].requests >= level)
            return ((double)S.ups[i].t - (double)t0) / 1e9;
    return -1;
}

/* ------------------------------------------------------------ results */

enum err_kind { EK_SUBMIT, EK_LOST, EK_ERROR, EK_STATUS, EK_MISMATCH, EK_DUP, EK_ORPHAN, EK_N };
static const char *const ek_names[] = { "submit", "lost", "error", "status", "mismatch", "duplicate", "orphan" };

typedef struct round_result {
    double first_answer_ms, last_answer_ms, submit_ms, all_at_upstream_ms;
    double cl_p50, cl_p99, cl_max;            /* client latency, ms */
    double tot_p50, tot_p99, tot_max;         /* total_us, ms */
    double fb_p50, fb_p99;                    /* first_byte_us, ms */
    double q_p50, q_p99;                      /* queued_us, ms */
    double gap_p50, gap_p99, gap_max, gap_min;
    /* --access-log: the gap = ring wait (submit → the sidecar took it)
     * + held (answer ready → reaped); -1 when not measured */
    double held_p50, held_p99, held_max, wait_p50, wait_p99, wait_max;
    uint64_t held_n;
    double rss_base, rss_peak, rss_after, anon_base, anon_peak, anon_after, shmem_peak;
    bool hwm_exact;
    double conn_per_s;
    long long up_conns, up_inflight_peak, up_open_after;
    double sidecar_cpu_s, upstream_cpu_s, self_cpu_s, busy_cores;
    double admin_max_ms;
    long long admin_inflight_max, admin_queue_max;
    unsigned admin_scrapes;
    uint64_t ring_full, toomany, ok, answered;
    uint64_t errs[EK_N], err_codes[32];
    uint64_t errors;
} round_result;

static int cmp_sub(const void *a, const void *b)
{
    rs_ticket x = ((const sub_rec *)a)->ticket, y = ((const sub_rec *)b)->ticket;
    return x < y ? -1 : x > y;
}

static void count_code(round_result *rr, int code)
{
    unsigned k = code < 0 && code > -32 ? (unsigned)-code : 0;
    rr->err_codes[k]++;
}

/* Match answers to requests (by ticket, per client), check each, and
 * compute the latency figures. */
static void analyse(round_result *rr, uint64_t t0)
{
    unsigned n = O.n;
    int64_t *cl = malloc(n * sizeof *cl), *tot = malloc(n * sizeof *tot), *gap = malloc(n * sizeof *gap),
            *fb = malloc(n * sizeof *fb), *qd = malloc(n * sizeof *qd);
    uint8_t *seen = calloc(n, 1);
    if (!cl || !tot || !gap || !fb || !qd || !seen) {
        fprintf(stderr, "burstbench: out of memory\n");
        exit(1);
    }
    size_t m = 0;
    uint64_t first = UINT64_MAX, last = 0, last_submit = 0;
    for (unsigned k = 0; k < O.clients; k++) {
        client_ctx *cx = &C[k];
        unsigned acc = atomic_load(&cx->accepted);
        qsort(cx->subs, acc, sizeof *cx->subs, cmp_sub);
        rr->ring_full += cx->ring_full;
        rr->toomany += cx->toomany;
        for (size_t j = 0; j < cx->nreaps; j++) {
            reap_rec *a = &cx->reaps[j];
            sub_rec key = { a->ticket, 0 };
            sub_rec *s = bsearch(&key, cx->subs, acc, sizeof *cx->subs, cmp_sub);
            if (!s) {
                rr->errs[EK_ORPHAN]++;
                continue;
            }
            uint32_t i = s->i;
            if (seen[i]) {
                rr->errs[EK_DUP]++;
                continue;
            }
            seen[i] = 1;
            rr->answered++;
            if (a->t_reap < first)
                first = a->t_reap;
            if (a->t_reap > last)
                last = a->t_reap;
            if (a->error != RS_OK) {
                rr->errs[EK_ERROR]++;
                count_code(rr, a->error);
                continue;
            }
            if (a->status != 200) {
                rr->errs[EK_STATUS]++;
                continue;
            }
            if (a->body_i != (int64_t)i || !a->body_round_ok) {
                rr->errs[EK_MISMATCH]++;
                continue;
            }
            rr->ok++;
            R.t_reap_i[i] = a->t_reap;
            R.total_i[i] = a->tm.total_us;
            int64_t lat = (int64_t)(a->t_reap - R.t_submit[i]) / 1000;   /* us */
            cl[m] = lat;
            tot[m] = (int64_t)a->tm.total_us;
            gap[m] = lat - (int64_t)a->tm.total_us;
            fb[m] = (int64_t)a->tm.first_byte_us;
            qd[m] = (int64_t)a->tm.queued_us;
            m++;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        if (R.submit_err[i]) {
            rr->errs[EK_SUBMIT]++;
            count_code(rr, R.submit_err[i]);
        } else if (!seen[i]) {
            rr->errs[EK_LOST]++;
        }
        if (R.t_submit[i] > last_submit)
            last_submit = R.t_submit[i];
    }
    for (int e = 0; e < EK_N; e++)
        rr->errors += rr->errs[e];
    qsort(cl, m, sizeof *cl, cmp_i64);
    qsort(tot, m, sizeof *tot, cmp_i64);
    qsort(gap, m, sizeof *gap, cmp_i64);
    qsort(fb, m, sizeof *fb, cmp_i64);
    qsort(qd, m, sizeof *qd, cmp_i64);
    rr->first_answer_ms = first == UINT64_MAX ? -1 : (double)(first - t0) / 1e6;
    rr->last_answer_ms = last ? (double)(last - t0) / 1e6 : -1;
    rr->submit_ms = last_submit ? (double)(last_submit - t0) / 1e6 : -1;
    rr->cl_p50 = (double)pct(cl, m, 50) / 1e3;
    rr->cl_p99 = (double)pct(cl, m, 99) / 1e3;
    rr->cl_max = (double)pct(cl, m, 100) / 1e3;
    rr->tot_p50 = (double)pct(tot, m, 50) / 1e3;
    rr->tot_p99 = (double)pct(tot, m, 99) / 1e3;
    rr->tot_max = (double)pct(tot, m, 100) / 1e3;
    rr->fb_p50 = (double)pct(fb, m, 50) / 1e3;
    rr->fb_p99 = (double)pct(fb, m, 99) / 1e3;
    rr->q_p50 = (double)pct(qd, m, 50) / 1e3;
    rr->q_p99 = (double)pct(qd, m, 99) / 1e3;
    rr->gap_min = m ? (double)gap[0] / 1e3 : 0;
    rr->gap_p50 = (double)pct(gap, m, 50) / 1e3;
    rr->gap_p99 = (double)pct(gap, m, 99) / 1e3;
    rr->gap_max = (double)pct(gap, m, 100) / 1e3;
    free(cl);
    free(tot);
    free(gap);
    free(fb);
    free(qd);
    free(seen);
}

static void upstream_figures(round_result *rr, uint64_t t0)
{
    if (getenv("BURSTBENCH_SAMPLES"))   /* the upstream's series, to check the figures by eye */
        for (size_t i = 0; i < S.nups; i++)
            fprintf(stderr, "  upstream sample %+8.3f s: %lld connections, %lld requests, %lld held\n",
                    ((double)S.ups[i].t - (double)t0) / 1e9, S.ups[i].conns, S.ups[i].requests, S.ups[i].inflight);
    long long total = S.nups ? S.ups[S.nups - 1].conns : 0;
    rr->up_conns = total;
    rr->up_inflight_peak = S.up_inflight_max;
    rr->up_open_after = S.nups ? S.ups[S.nups - 1].open : -1;
    rr->conn_per_s = 0;
    if (total >= 100) {
        double t10, t90;
        if (conns_reached((total + 9) / 10, t0, &t10) && conns_reached(total * 9 / 10, t0, &t90) && t90 > t10)
            rr->conn_per_s = 0.8 * (double)total / (t90 - t10);
    }
    double t = requests_reached(O.n, t0);
    rr->all_at_upstream_ms = t < 0 ? -1 : t * 1e3;
}

/* ---- --access-log: when each answer was ready, by the sidecar's clock */

static long g_access_off;   /* where this round's lines start in the file */

static int64_t real_minus_mono(void)
{
    struct timespec a, m, b;
    clock_gettime(CLOCK_REALTIME, &a);
    clock_gettime(CLOCK_MONOTONIC, &m);
    clock_gettime(CLOCK_REALTIME, &b);
    int64_t ra = (int64_t)a.tv_sec * 1000000000 + a.tv_nsec, rb = (int64_t)b.tv_sec * 1000000000 + b.tv_nsec;
    return ra / 2 + rb / 2 - ((int64_t)m.tv_sec * 1000000000 + m.tv_nsec);
}

/* The access log's "ts" is CLOCK_REALTIME (to the ms) when sc_req_finish
 * ran, i.e. when the answer was ready; total_us ends there too. So for an
 * answer with stamp T: held = reaped − (T + 0.5 ms), ±0.5 ms, and what is
 * left of the gap is the time its record waited in the submission ring
 * before the sidecar took it (plus the sidecar's intake stamp being its
 * loop turn's time, not the moment it read the record). */
static void access_split(round_result *rr)
{
    rr->held_p50 = rr->held_p99 = rr->held_max = rr->wait_p50 = rr->wait_p99 = rr->wait_max = -1;
    if (!O.access_log)
        return;
    char p[128];
    snprintf(p, sizeof p, "%s/access.jsonl", g_run.dir);
    FILE *f = fopen(p, "r");
    if (!f)
        return;
    fseek(f, g_access_off, SEEK_SET);
    int64_t *held = malloc(O.n * sizeof *held), *wait = malloc(O.n * sizeof *wait);
    size_t m = 0;
    char line[2048];
    while (held && wait && fgets(line, sizeof line, f)) {
        const char *ts = strstr(line, "\"ts\":\""), *id = strstr(line, "\"id\":\"b");
        struct tm tm = { 0 };
        int ms;
        unsigned round, i;
        if (!ts || !id || sscanf(ts + 6, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                                 &tm.tm_min, &tm.tm_sec, &ms) != 7 ||
            sscanf(id + 7, "%u-%u", &round, &i) != 2 || round != R.round || i >= O.n || !R.t_reap_i[i])
            continue;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        int64_t ready_real = (int64_t)timegm(&tm) * 1000000000 + (int64_t)ms * 1000000 + 500000;
        int64_t ready = ready_real - R.real_minus_mono;
        int64_t h = (int64_t)R.t_reap_i[i] - ready;
        int64_t lat = (int64_t)(R.t_reap_i[i] - R.t_submit[i]);
        held[m] = h / 1000;
        wait[m] = (lat - (int64_t)R.total_i[i] * 1000 - h) / 1000;
        m++;
    }
    g_access_off = ftell(f);
    fclose(f);
    if (held && wait && m) {
        qsort(held, m, sizeof *held, cmp_i64);
        qsort(wait, m, sizeof *wait, cmp_i64);
        rr->held_p50 = (double)pct(held, m, 50) / 1e3;
        rr->held_p99 = (double)pct(held, m, 99) / 1e3;
        rr->held_max = (double)pct(held, m, 100) / 1e3;
        rr->wait_p50 = (double)pct(wait, m, 50) / 1e3;
        rr->wait_p99 = (double)pct(wait, m, 99) / 1e3;
        rr->wait_max = (double)pct(wait, m, 100) / 1e3;
    }
    rr->held_n = m;
    free(held);
    free(wait);
}

static int run_round(unsigned round, round_result *rr)
{
    memset(rr, 0, sizeof *rr);
    R.round = round;
    R.n = O.n;
    atomic_store(&R.submitted, 0);
    atomic_store(&R.answered, 0);
    atomic_store(&R.reapers_left, O.clients);
    atomic_store(&R.stop_samplers, false);
    memset(R.t_submit, 0, O.n * sizeof *R.t_submit);
    memset(R.submit_err, 0, O.n * sizeof *R.submit_err);
    memset(R.t_reap_i, 0, O.n * sizeof *R.t_reap_i);
    memset(R.total_i, 0, O.n * sizeof *R.total_i);
    R.real_minus_mono = real_minus_mono();
    for (unsigned k = 0; k < O.clients; k++) {
        client_ctx *cx = &C[k];
        cx->k = k;
        cx->share = O.n > k ? (O.n - k + O.clients - 1) / O.clients : 0;
        atomic_store(&cx->accepted, 0);
        atomic_store(&cx->sub_done, false);
        atomic_store(&cx->reaped, 0);
        cx->ring_full = cx->toomany = 0;
        cx->nreaps = 0;
    }

    if (reset_upstream() < 0)
        fprintf(stderr, "burstbench: could not reset the upstream's counters; connection figures are off\n");
    memstat base;
    read_mem(g_run.sidecar_pid, &base);
    rr->rss_base = mib(base.rss_kb);
    rr->anon_base = mib(base.anon_kb);
    rr->hwm_exact = reset_hwm(g_run.sidecar_pid);

    free(S.ups);
    memset(&S.rss_max_kb, 0, sizeof S - offsetof(samplers, rss_max_kb));   /* ups too */
    pthread_create(&S.mem_th, NULL, mem_sampler, NULL);
    pthread_create(&S.up_th, NULL, up_sampler, NULL);
    pthread_create(&S.admin_th, NULL, admin_sampler, NULL);
    bp_sleep_ms(120);   /* a few samples of the quiet before */

    pthread_barrier_init(&R.go, NULL, 2 * O.clients + 1);
    for (unsigned k = 0; k < O.clients; k++) {
        pthread_create(&C[k].reap_th, NULL, reaper, &C[k]);
        pthread_create(&C[k].sub_th, NULL, submitter, &C[k]);
    }
    double cpu0 = bp_proc_cpu_s(g_run.sidecar_pid), ucpu0 = bp_proc_cpu_s(g_run.mock_pid), scpu0 = bp_proc_cpu_s(getpid()),
           busy0 = bp_machine_busy_s();
    uint64_t t0 = bp_now_ns();
    R.deadline = t0 + (uint64_t)round_timeout_s() * 1000000000ull;
    pthread_barrier_wait(&R.go);

    /* progress once a second until every reaper is done */
    pthread_mutex_lock(&R.lock);
    while (atomic_load(&R.reapers_left) > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&R.cond, &R.lock, &ts);
        if (atomic_load(&R.reapers_left) == 0)
            break;
        pthread_mutex_lock(&S.lock);
        up_sample u = S.nups ? S.ups[S.nups - 1] : (up_sample){ 0 };
        long rss = S.rss_now_kb;
        long long q = S.admin_queue_max;
        pthread_mutex_unlock(&S.lock);
        fprintf(stderr,
                "burstbench: round %u: %5.1f s: submitted %u, answered %u; upstream: %lld connections, %lld "
                "requests, %lld held; sidecar RSS %.1f MiB%s",
                round, now_s(t0), atomic_load(&R.submitted), atomic_load(&R.answered), u.conns, u.requests,
                u.inflight, mib(rss), O.mode == MODE_QUEUED ? "" : "\n");
        if (O.mode == MODE_QUEUED)
            fprintf(stderr, ", queue max %lld\n", q);
    }
    pthread_mutex_unlock(&R.lock);
    double cpu1 = bp_proc_cpu_s(g_run.sidecar_pid), ucpu1 = bp_proc_cpu_s(g_run.mock_pid), scpu1 = bp_proc_cpu_s(getpid()),
           busy1 = bp_machine_busy_s();
    double wall = now_s(t0);
    for (unsigned k = 0; k < O.clients; k++) {
        pthread_join(C[k].sub_th, NULL);
        pthread_join(C[k].reap_th, NULL);
    }
    pthread_barrier_destroy(&R.go);
    rr->sidecar_cpu_s = cpu1 - cpu0;
    rr->upstream_cpu_s = ucpu1 - ucpu0;
    rr->self_cpu_s = scpu1 - scpu0;
    rr->busy_cores = wall > 0 ? (busy1 - busy0) / wall : 0;

    fprintf(stderr, "burstbench: round %u: all answered or given up after %.1f s; settling %u ms\n", round, wall,
            O.settle_ms);
    bp_sleep_ms(O.settle_ms);
    memstat after;
    read_mem(g_run.sidecar_pid, &after);
    atomic_store(&R.stop_samplers, true);
    pthread_join(S.mem_th, NULL);
    pthread_join(S.up_th, NULL);
    pthread_join(S.admin_th, NULL);

    rr->rss_after = mib(after.rss_kb);
    rr->anon_after = mib(after.anon_kb);
    long peak = S.rss_max_kb;
    if (rr->hwm_exact && after.hwm_kb > peak)
        peak = after.hwm_kb;
    rr->rss_peak = mib(peak);
    rr->anon_peak = mib(S.anon_max_kb);
    rr->shmem_peak = mib(S.shmem_max_kb);
    rr->admin_max_ms = S.admin_max_ms;
    rr->admin_inflight_max = S.admin_inflight_max;
    rr->admin_queue_max = S.admin_queue_max;
    rr->admin_scrapes = S.admin_scrapes;
    upstream_figures(rr, t0);
    analyse(rr, t0);
    access_split(rr);
    return 0;
}

static void print_round(unsigned round, const round_result *r)
{
    fprintf(stderr,
            "burstbench: round %u (%s, n %u, delay %u ms, %u clients):\n"
            "  answers: %llu ok of %u; first after %.0f ms, last after %.0f ms (-1: none); all submitted after %.0f ms "
            "(ring full %llu times, slots full %llu times)\n"
            "  client latency  p50 %.1f  p99 %.1f  max %.1f ms\n"
            "  sidecar total   p50 %.1f  p99 %.1f  max %.1f ms  (queued p50 %.1f p99 %.1f; first byte p50 %.1f "
            "p99 %.1f)\n"
            "  held-back gap   p50 %.1f  p99 %.1f  max %.1f ms  (min %.1f)\n"
            "  sidecar RSS     base %.1f  peak %.1f%s  after %.1f MiB  (anon %.1f / %.1f / %.1f; rings' shmem "
            "peak %.1f)\n"
            "  upstream        %lld connections at %.0f/s; %lld held at once at most; all %u there after %.0f ms; "
            "%lld connections still open at the end\n"
            "  CPU             sidecar %.2f s, upstream %.2f s, this benchmark %.2f s; machine busy %.2f of 2 cores\n"
            "  admin /metrics  %u scrapes, slowest %.0f ms; sidecar in flight max %lld, queued max %lld\n",
            round, mode_names[O.mode], O.n, O.delay_ms, O.clients, (unsigned long long)r->ok, O.n,
            r->first_answer_ms, r->last_answer_ms, r->submit_ms, (unsigned long long)r->ring_full,
            (unsigned long long)r->toomany, r->cl_p50, r->cl_p99, r->cl_max, r->tot_p50, r->tot_p99, r->tot_max,
            r->q_p50, r->q_p99, r->fb_p50, r->fb_p99, r->gap_p50, r->gap_p99, r->gap_max, r->gap_min, r->rss_base,
            r->rss_peak, r->hwm_exact ? "" : " (sampled)", r->rss_after, r->anon_base, r->anon_peak, r->anon_after,
            r->shmem_peak, r->up_conns, r->conn_per_s, r->up_inflight_peak, O.n, r->all_at_upstream_ms, r->up_open_after,
            r->sidecar_cpu_s, r->upstream_cpu_s, r->self_cpu_s, r->busy_cores, r->admin_scrapes, r->admin_max_ms,
            r->admin_inflight_max, r->admin_queue_max);
    if (r->held_n)
        fprintf(stderr,
                "  gap, split     ring wait p50 %.1f  p99 %.1f  max %.1f ms; answer held p50 %.1f  p99 %.1f  max "
                "%.1f ms (access log, +-0.5 ms; %llu answers)\n",
                r->wait_p50, r->wait_p99, r->wait_max, r->held_p50, r->held_p99, r->held_max,
                (unsigned long long)r->held_n);
    if (r->errors) {
        fprintf(stderr, "  ERRORS: %llu:", (unsigned long long)r->errors);
        for (int e = 0; e < EK_N; e++)
            if (r->errs[e])
                fprintf(stderr, " %s %llu", ek_names[e], (unsigned long long)r->errs[e]);
        for (int c = 1; c < 32; c++)
            if (r->err_codes[c])
                fprintf(stderr, " [%s %llu]", rs_errname(-c), (unsigned long long)r->err_codes[c]);
        fputc('\n', stderr);
    }
}

/* ------------------------------------------------------------ JSON */

static void json_num(FILE *f, const char *key, double v, bool *first)
{
    fprintf(f, "%s\"%s\":%.2f", *first ? "" : ",", key, v);
    *first = false;
}

static void json_count(FILE *f, const char *key, double v, bool *first)
{
    fprintf(f, "%s\"%s\":%.0f", *first ? "" : ",", key, v);
    *first = false;
}

/* the median over the rounds of one double field of round_result */
static double med_of(const round_result *rs, unsigned nr, size_t off)
{
    double v[100];
    for (unsigned i = 0; i < nr && i < 100; i++)
        v[i] = *(const double *)((const char *)&rs[i] + off);
    return median(v, nr < 100 ? nr : 100);
}
static double med_ll(const round_result *rs, unsigned nr, size_t off)
{
    double v[100];
    for (unsigned i = 0; i < nr && i < 100; i++)
        v[i] = (double)*(const long long *)((const char *)&rs[i] + off);
    return median(v, nr < 100 ? nr : 100);
}
#define RR_MED(field) med_of(rs, nr, offsetof(round_result, field))

static void print_json(const round_result *rs, unsigned nr)
{
    FILE *f = stdout;
    bool first = true;
    uint64_t errs[EK_N] = { 0 }, codes[32] = { 0 }, errors = 0, ring_full = 0;
    double peak = 0, apeak = 0;
    for (unsigned i = 0; i < nr; i++) {
        errors += rs[i].errors;
        ring_full += rs[i].ring_full;
        for (int e = 0; e < EK_N; e++)
            errs[e] += rs[i].errs[e];
        for (int c = 0; c < 32; c++)
            codes[c] += rs[i].err_codes[c];
        if (rs[i].rss_peak > peak)
            peak = rs[i].rss_peak;
        if (rs[i].anon_peak > apeak)
            apeak = rs[i].anon_peak;
    }
    fprintf(f, "{\"bench\":\"burst\",\"mode\":\"%s\",\"upstream\":\"%s\",\"n\":%u,\"delay_ms\":%u,\"clients\":%u,"
               "\"rounds\":%u,\"route_concurrency\":%u,\"ring_bytes\":%u,",
            mode_names[O.mode], U.kind == UP_MOCK ? "mock" : "nginx", O.n, O.delay_ms, O.clients, nr,
            route_concurrency(), O.ring_bytes);
    first = true;
    json_num(f, "rss_base_mib", rs[0].rss_base, &first);
    json_num(f, "rss_peak_mib", peak, &first);
    json_num(f, "rss_after_mib", rs[nr - 1].rss_after, &first);
    json_num(f, "anon_base_mib", rs[0].anon_base, &first);
    json_num(f, "anon_peak_mib", apeak, &first);
    json_num(f, "anon_after_mib", rs[nr - 1].anon_after, &first);
    json_num(f, "shmem_peak_mib", RR_MED(shmem_peak), &first);
    json_num(f, "first_answer_ms", RR_MED(first_answer_ms), &first);
    json_num(f, "last_answer_ms", RR_MED(last_answer_ms), &first);
    json_num(f, "submit_ms", RR_MED(submit_ms), &first);
    json_num(f, "all_at_upstream_ms", RR_MED(all_at_upstream_ms), &first);
    json_num(f, "client_p50_ms", RR_MED(cl_p50), &first);
    json_num(f, "client_p99_ms", RR_MED(cl_p99), &first);
    json_num(f, "client_max_ms", RR_MED(cl_max), &first);
    json_num(f, "total_p50_ms", RR_MED(tot_p50), &first);
    json_num(f, "total_p99_ms", RR_MED(tot_p99), &first);
    json_num(f, "total_max_ms", RR_MED(tot_max), &first);
    json_num(f, "queued_p50_ms", RR_MED(q_p50), &first);
    json_num(f, "first_byte_p50_ms", RR_MED(fb_p50), &first);
    json_num(f, "first_byte_p99_ms", RR_MED(fb_p99), &first);
    json_num(f, "gap_p50_ms", RR_MED(gap_p50), &first);
    json_num(f, "gap_p99_ms", RR_MED(gap_p99), &first);
    json_num(f, "gap_max_ms", RR_MED(gap_max), &first);
    if (O.access_log) {
        json_num(f, "ring_wait_p50_ms", RR_MED(wait_p50), &first);
        json_num(f, "ring_wait_p99_ms", RR_MED(wait_p99), &first);
        json_num(f, "held_p50_ms", RR_MED(held_p50), &first);
        json_num(f, "held_p99_ms", RR_MED(held_p99), &first);
        json_num(f, "held_max_ms", RR_MED(held_max), &first);
    }
    json_count(f, "conn_per_s", RR_MED(conn_per_s), &first);
    json_count(f, "upstream_conns", med_ll(rs, nr, offsetof(round_result, up_conns)), &first);
    json_count(f, "upstream_held_max", med_ll(rs, nr, offsetof(round_result, up_inflight_peak)), &first);
    json_count(f, "upstream_open_after", (double)rs[nr - 1].up_open_after, &first);
    json_num(f, "sidecar_cpu_s", RR_MED(sidecar_cpu_s), &first);
    json_num(f, "upstream_cpu_s", RR_MED(upstream_cpu_s), &first);
    json_num(f, "bench_cpu_s", RR_MED(self_cpu_s), &first);
    json_num(f, "busy_cores", RR_MED(busy_cores), &first);
    json_num(f, "admin_scrape_max_ms", RR_MED(admin_max_ms), &first);
    json_count(f, "sidecar_queue_max", med_ll(rs, nr, offsetof(round_result, admin_queue_max)), &first);
    fprintf(f, ",\"ring_full_retries\":%llu,\"errors\":%llu,\"errors_by_kind\":{", (unsigned long long)ring_full,
            (unsigned long long)errors);
    bool f1 = true;
    for (int e = 0; e < EK_N; e++)
        if (errs[e]) {
            fprintf(f, "%s\"%s\":%llu", f1 ? "" : ",", ek_names[e], (unsigned long long)errs[e]);
            f1 = false;
        }
    for (int c = 1; c < 32; c++)
        if (codes[c]) {
            fprintf(f, "%s\"%s\":%llu", f1 ? "" : ",", rs_errname(-c), (unsigned long long)codes[c]);
            f1 = false;
        }
    fprintf(f, "},\"per_round\":[");
    for (unsigned i = 0; i < nr; i++) {
        const round_result *r = &rs[i];
        fprintf(f,
                "%s{\"rss_base_mib\":%.2f,\"rss_peak_mib\":%.2f,\"rss_after_mib\":%.2f,\"first_answer_ms\":%.1f,"
                "\"gap_p50_ms\":%.2f,\"gap_p99_ms\":%.2f,\"gap_max_ms\":%.2f,\"conn_per_s\":%.0f,\"errors\":%llu}",
                i ? "," : "", r->rss_base, r->rss_peak, r->rss_after, r->first_answer_ms, r->gap_p50, r->gap_p99,
                r->gap_max, r->conn_per_s, (unsigned long long)r->errors);
    }
    fprintf(f, "]}\n");
    fflush(f);
}

/* ------------------------------------------------------------ main */

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)O.n + 1024)
        fprintf(stderr,
                "burstbench: warning: the open-file limit is %llu; the sidecar and the upstream each need about "
                "%u (raise the hard limit, ulimit -Hn)\n",
                (unsigned long long)rl.rlim_cur, O.n + 1024);
}

/* a few requests without delay (x-mock-delay-ms: 0; nginx answers
 * /warm/ at once): connections, rings and caches warm */
static int warm_up(void)
{
    static rs_header h[1] = { { "x-mock-delay-ms", "0" } };
    rs_ticket t[MAX_CLIENTS][WARMUP_PER_CLIENT];
    int bad = 0;
    for (unsigned k = 0; k < O.clients; k++)
        for (unsigned j = 0; j < WARMUP_PER_CLIENT; j++) {
            rs_request rq = RS_REQUEST_INIT;
            rq.path = "/warm/chat/completions";
            rq.route = "burst";
            rq.headers = h;
            rq.nheaders = 1;
            rq.body = body_json;
            rq.body_len = sizeof body_json - 1;
            int e;
            while ((e = rs_submit(C[k].c, &rq, &t[k][j])) == RS_EAGAIN)
                bp_sleep_ms(1);
            if (e) {
                fprintf(stderr, "burstbench: warm-up submit refused: %s (%s)\n", rs_errname(e), rs_last_error());
                return -1;
            }
        }
    for (unsigned k = 0; k < O.clients; k++)
        for (unsigned j = 0; j < WARMUP_PER_CLIENT; j++) {
            rs_response *r = NULL;
            int e = rs_wait(C[k].c, t[k][j], 60000, &r);
            if (e || !r || r->error || r->status != 200) {
                if (!bad++)
                    fprintf(stderr, "burstbench: warm-up request failed: %s %s status %d %s\n", rs_errname(e),
                            r ? rs_errname(r->error) : "", r ? r->status : 0, r ? r->error_msg : "");
            }
            if (r)
                rs_response_free(r);
        }
    return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) < 0)
        return 2;
    setvbuf(stderr, NULL, _IOLBF, 0);
    raise_nofile();
    bp_init(&g_run, "burstbench");
    unsigned watchdog = 120 + O.rounds * (round_timeout_s() + O.settle_ms / 1000 + 10);
    bp_install_watchdog(&g_run, watchdog, "the run took too long");
    if (bp_make_dir(&g_run) < 0)
        return 1;
    int rc = 1;
    static char cfg[4096];

    if (O.mode == MODE_H2) {
        U.port = 1;   /* only the keys matter to the check */
        if ((use_tls() && make_cert() < 0) || write_sidecar_config(cfg, sizeof cfg, true) < 0 ||
            check_h2_config(cfg) != 0) {
            remove_dir();
            return 2;
        }
    }
    fprintf(stderr, "burstbench: mode %s, n %u, delay %u ms, %u clients, %u round(s), route concurrency %u, "
                    "rings %u bytes; upstream %s; watchdog %u s\n",
            mode_names[O.mode], O.n, O.delay_ms, O.clients, O.rounds, route_concurrency(), O.ring_bytes,
            O.upstream == UP_MOCK ? "mock" : "nginx", watchdog);
    int up = start_upstream();
    if (up < 0) {
        stop_all();
        return up == -2 ? 2 : 1;
    }
    char sock[128];
    if (write_sidecar_config(cfg, sizeof cfg, O.mode == MODE_H2) < 0 ||
        bp_start_sidecar(&g_run, O.sidecar, cfg, sock, sizeof sock) < 0)
        goto out;
    for (unsigned k = 0; k < O.clients; k++)
        if (!(C[k].c = bp_connect(&g_run, sock)))
            goto out;
    admin_port = find_admin_port();
    if (admin_port < 0)
        fprintf(stderr, "burstbench: the sidecar's admin port is not in its log; no /metrics samples\n");
    pthread_mutex_init(&R.lock, NULL);
    pthread_cond_init(&R.cond, NULL);
    pthread_mutex_init(&S.lock, NULL);
    R.t_submit = calloc(O.n, sizeof *R.t_submit);
    R.submit_err = calloc(O.n, sizeof *R.submit_err);
    R.t_reap_i = calloc(O.n, sizeof *R.t_reap_i);
    R.total_i = calloc(O.n, sizeof *R.total_i);
    for (unsigned k = 0; k < O.clients; k++)
        C[k].subs = calloc((O.n + O.clients - 1) / O.clients + 1, sizeof *C[k].subs);
    if (!R.t_submit || !R.submit_err || !R.t_reap_i || !R.total_i)
        goto out;
    if (warm_up() < 0) {
        bp_print_log_tail(&g_run);
        goto out;
    }
    bp_sleep_ms(1000);

    round_result *rs = calloc(O.rounds, sizeof *rs);
    if (!rs)
        goto out;
    uint64_t errors = 0;
    for (unsigned r = 0; r < O.rounds; r++) {
        run_round(r + 1, &rs[r]);
        print_round(r + 1, &rs[r]);
        errors += rs[r].errors;
        if (O.mode != MODE_QUEUED && rs[r].up_inflight_peak >= 0 && rs[r].up_inflight_peak < (long long)O.n * 9 / 10)
            fprintf(stderr,
                    "burstbench: note: at most %lld of %u requests were at the upstream at once: a longer "
                    "--delay-ms keeps all of them there together\n",
                    rs[r].up_inflight_peak, O.n);
        int st;
        if (waitpid(g_run.sidecar_pid, &st, WNOHANG) == g_run.sidecar_pid) {
            g_run.sidecar_pid = 0;
            fprintf(stderr, "burstbench: ringsided died (status %d)\n", st);
            bp_print_log_tail(&g_run);
            errors++;
            O.rounds = r + 1;
            break;
        }
    }
    if (errors)
        bp_print_log_tail(&g_run);
    print_json(rs, O.rounds);
    rc = errors ? 1 : 0;
    free(rs);
out:
    for (unsigned k = 0; k < O.clients; k++)
        if (C[k].c)
            rs_close(C[k].c);
    stop_all();
    return rc;
}
