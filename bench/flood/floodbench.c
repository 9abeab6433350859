/*
 * floodbench — what a client's flood of CANCEL records costs the sidecar's
 * other clients, and whether it grows with the flooder's requests in flight.
 *
 *   floodbench [--inflight N] [--calls N] [--rounds N]
 *
 * It starts the mock upstream and a ringsided (benchproc), then connects:
 *   - a victim client, which makes back-to-back rs_calls on the echo route
 *     and times each;
 *   - flooder 0, with nothing in flight;
 *   - flooder N, with N requests in flight (the mock holds them 60 s).
 * Each flooder has one echo request the sidecar has answered but the
 * flooder never reaps, so its library still lets it cancel that ticket
 * again and again: every rs_cancel writes a CANCEL record for an id the
 * sidecar no longer has, which it must look up among that client's
 * requests in flight and not find. This is what a hostile client can do
 * with the public API alone.
 *
 * Rounds alternate: victim alone, flooder 0 flooding, flooder N flooding;
 * after a flood the flooder waits until the sidecar has taken all it wrote
 * (the backlog would otherwise fall on the next round). The samples of all
 * rounds of a kind are pooled. The victim's latency
 * during flooder N's flood over that during flooder 0's isolates what the
 * in-flight requests add to each lookup (both floods cost the same CPU
 * otherwise: 2 vCPUs are shared by the sidecar, the victim and a flooder).
 *
 * Prints what it measures, then one JSON line.
 */
#include "benchproc.h"
#include "ringside.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WATCHDOG_S 120

static bp_run g_run;

typedef struct flooder {
    rs_client *c;
    rs_ticket spent;        /* answered in the sidecar, never reaped here */
    atomic_int on;          /* 1: flood, 0: idle, -1: stop */
    atomic_ulong cancels;
    pthread_t th;
    bool running;
} flooder;

static void *flood(void *p)
{
    flooder *f = p;
    int on;
    while ((on = atomic_load(&f->on)) >= 0) {
        if (on && rs_cancel(f->c, f->spent) == 0)
            atomic_fetch_add_explicit(&f->cancels, 1, memory_order_relaxed);
        else
            usleep(on ? 5 : 200);   /* ring full, or not our round */
    }
    return NULL;
}

static const rs_request echo = { .path = "/e", .route = "echo", .priority = RS_P1 };

/* A ticket the sidecar answers at once and this client never reaps. */
static int new_spent(flooder *f)
{
    if (rs_submit(f->c, &echo, &f->spent) < 0)
        return -1;
    bp_sleep_ms(20);   /* answered: the sidecar no longer has it */
    return 0;
}

/* After a flood: wait until the sidecar has taken every record f wrote (a
 * call is answered after the records before it), so the next round does
 * not pay for this one's backlog; then a fresh spent ticket (the call
 * reaped the old one's answer, after which rs_cancel writes nothing). */
static int settle(flooder *f)
{
    rs_response *r;
    if (rs_call(f->c, &echo, 60000, &r) < 0)
        return -1;
    rs_response_free(r);
    if (rs_wait(f->c, f->spent, 0, &r) == 0)
        rs_response_free(r);
    return new_spent(f);
}

/* A flooder with n slow requests in flight and one spent ticket. */
static int start_flooder(flooder *f, const char *sock, unsigned n)
{
    if (!(f->c = bp_connect(&g_run, sock)))
        return -1;
    rs_header slow = { "x-mock-delay-ms", "60000" };
    rs_request rq = RS_REQUEST_INIT;
    rq.path = "/chat/completions";
    rq.headers = &slow;
    rq.nheaders = 1;
    rq.body = "{}";
    rq.body_len = 2;
    for (unsigned i = 0; i < n; i++) {
        rs_ticket t;
        if (rs_submit(f->c, &rq, &t) < 0) {
            fprintf(stderr, "floodbench: flooder could not put request %u in flight\n", i);
            return -1;
        }
    }
    if (new_spent(f) < 0)
        return -1;
    if (pthread_create(&f->th, NULL, flood, f) != 0)
        return -1;
    f->running = true;
    return 0;
}

static void stop_flooder(flooder *f)
{
    if (f->running) {
        atomic_store(&f->on, -1);
        pthread_join(f->th, NULL);
    }
    if (f->c)
        rs_close(f->c);   /* the sidecar cancels what is in flight */
}

/* `calls` back-to-back echo calls, their latencies appended to lat. */
static int victim_round(rs_client *c, unsigned calls, uint64_t *lat, size_t *nlat)
{
    rs_request rq = RS_REQUEST_INIT;
    rq.path = "/e";
    rq.route = "echo";
    rq.body = "ping";
    rq.body_len = 4;
    for (unsigned i = 0; i < calls; i++) {
        uint64_t t0 = bp_now_ns();
        rs_response *r;
        int err = rs_call(c, &rq, 30000, &r);
        if (err < 0 || r->error != RS_OK || r->body_len != 4) {
            fprintf(stderr, "floodbench: victim call failed: %s\n", rs_errname(err < 0 ? err : r->error));
            if (err == 0)
                rs_response_free(r);
            return -1;
        }
        rs_response_free(r);
        lat[(*nlat)++] = bp_now_ns() - t0;
    }
    return 0;
}

static double pct_us(uint64_t *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, bp_cmp_u64);
    size_t k = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[k] / 1000.0;
}

static unsigned long arg(int argc, char **argv, const char *name, unsigned long dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return strtoul(argv[i + 1], NULL, 10);
    return dflt;
}

/* Alternating rounds: victim alone, flooder 0, flooder N. */
static int measure(rs_client *victim, flooder *f0, flooder *fn, unsigned inflight, unsigned calls,
                   unsigned rounds)
{
    size_t cap = (size_t)calls * rounds, n[3] = { 0, 0, 0 };
    uint64_t *lat[3] = { malloc(cap * sizeof(uint64_t)), malloc(cap * sizeof(uint64_t)),
                         malloc(cap * sizeof(uint64_t)) };
    double secs[3] = { 0, 0, 0 };
    flooder *who[3] = { NULL, f0, fn };
    int rc = lat[0] && lat[1] && lat[2] ? 0 : -1;
    for (unsigned r = 0; r < rounds && rc == 0; r++) {
        for (int k = 0; k < 3 && rc == 0; k++) {
            uint64_t t0 = bp_now_ns();
            if (who[k])
                atomic_store(&who[k]->on, 1);
            rc = victim_round(victim, calls, lat[k], &n[k]);
            if (who[k])
                atomic_store(&who[k]->on, 0);
            secs[k] += (double)(bp_now_ns() - t0) / 1e9;
            if (who[k] && rc == 0)
                rc = settle(who[k]);
        }
    }
    if (rc == 0) {
        double p50[3], p99[3];
        for (int k = 0; k < 3; k++) {
            p99[k] = pct_us(lat[k], n[k], 0.99);
            p50[k] = pct_us(lat[k], n[k], 0.50);
        }
        double c0 = (double)atomic_load(&f0->cancels) / secs[1];
        double cn = (double)atomic_load(&fn->cancels) / secs[2];
        printf("victim alone:                           p50 %8.1f us  p99 %8.1f us  (%zu calls)\n", p50[0],
               p99[0], n[0]);
        printf("flood from a client with none in flight: p50 %8.1f us  p99 %8.1f us  (%.0f cancels/s)\n",
               p50[1], p99[1], c0);
        printf("flood from a client with %u in flight:  p50 %8.1f us  p99 %8.1f us  (%.0f cancels/s)\n",
               inflight, p50[2], p99[2], cn);
        printf("{\"bench\":\"flood\",\"inflight\":%u,\"idle_p50_us\":%.1f,\"flood0_p50_us\":%.1f,"
               "\"floodn_p50_us\":%.1f,\"idle_p99_us\":%.1f,\"flood0_p99_us\":%.1f,\"floodn_p99_us\":%.1f,"
               "\"floodn_vs_flood0\":%.2f,\"cancels0_per_s\":%.0f,\"cancelsn_per_s\":%.0f,\"calls\":%u,"
               "\"rounds\":%u}\n",
               inflight, p50[0], p50[1], p50[2], p99[0], p99[1], p99[2], p50[2] / p50[1], c0, cn, calls, rounds);
    }
    for (int k = 0; k < 3; k++)
        free(lat[k]);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned inflight = (unsigned)arg(argc, argv, "--inflight", 4000);
    unsigned calls = (unsigned)arg(argc, argv, "--calls", 2000);
    unsigned rounds = (unsigned)arg(argc, argv, "--rounds", 5);
    if (inflight < 1 || inflight > 4000 || calls < 10 || calls > 100000 || rounds < 1 || rounds > 50) {
        fprintf(stderr, "usage: floodbench [--inflight 1..4000] [--calls 10..100000] [--rounds 1..50]\n");
        return 2;
    }
    char sidecar_bin[512], mock_bin[512];
    bp_init(&g_run, "floodbench");
    bp_default_bins(sidecar_bin, sizeof sidecar_bin, mock_bin, sizeof mock_bin);
    bp_install_watchdog(&g_run, WATCHDOG_S, "the run took over 120 s");
    if (bp_make_dir(&g_run) < 0)
        return 1;

    int port, rc = 1;
    char sock[128], cfg[256];
    rs_client *victim = NULL;
    flooder f0 = { 0 }, fn = { 0 };
    if (bp_start_mock(&g_run, mock_bin, &port) == 0) {
        /* the P1 queue holds all of flooder N's requests (at its default
         * of 1000 the rest would be refused at once, not kept in flight) */
        snprintf(cfg, sizeof cfg,
                 "log_level: warn\ngrace_ms: 1000\npriorities: {queue: {p1: 8192}}\n"
                 "routes:\n  - {name: mock, endpoint: \"http://127.0.0.1:%d\"}\n",
                 port);
        if (bp_start_sidecar(&g_run, sidecar_bin, cfg, sock, sizeof sock) == 0 &&
            (victim = bp_connect(&g_run, sock)) && start_flooder(&f0, sock, 0) == 0 &&
            start_flooder(&fn, sock, inflight) == 0) {
            bp_sleep_ms(300);   /* the requests are in flight, the spent tickets answered */
            rc = measure(victim, &f0, &fn, inflight, calls, rounds) == 0 ? 0 : 1;
        }
    }
    stop_flooder(&f0);
    stop_flooder(&fn);
    if (victim)
        rs_close(victim);
    int st = bp_stop(&g_run.sidecar_pid);
    if (rc == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        fprintf(stderr, "floodbench: ringsided did not exit cleanly\n");
        bp_print_log_tail(&g_run);
        rc = 1;
    }
    bp_stop(&g_run.mock_pid);
    bp_remove_files(&g_run);
    return rc;
}
