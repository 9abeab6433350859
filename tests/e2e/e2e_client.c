/*
 * e2e_client.c — the C client side of the end-to-end tests. pytest
 * (test_e2e.py) starts the real sidecar and the real mock upstream, then
 * runs this program in one of the modes below and checks what it prints
 * (one JSON line) and its exit status. Each mode checks its own results
 * and exits non-zero with a reason on stderr when anything is wrong.
 *
 *   load SOCK THREADS PER_THREAD ROUTE   pipelined requests from threads;
 *                                        every ticket completes exactly once
 *                                        with the body that belongs to it
 *   spaced SOCK THREADS N PAUSE_US       rs_call N times per thread with a
 *                                        pause before each (so the sidecar
 *                                        is asleep); each answer is checked;
 *                                        prints how many doorbells were rung
 *   claims SOCK ROUNDS DELAY_MS          per round one slow request: while one
 *                                        thread waits for its response and
 *                                        another reads its chunks, a second
 *                                        waiter and a second reader get
 *                                        RS_EINVAL; then both end well
 *                                        (whichever sees the response first),
 *                                        and the spent ticket is RS_ENOENT
 *   big SOCK BYTES ROUTE PATH            one request with a BYTES body,
 *                                        echoed back byte for byte
 *   hold SOCK N DELAY_MS                 N slow requests, then block (to be
 *                                        SIGKILLed mid-flight)
 *   drain SOCK N DELAY_MS                N slow requests; print how each
 *                                        ended (the test SIGTERMs the sidecar)
 *   gone SOCK DELAY_MS                   one slow request; the sidecar is
 *                                        killed meanwhile: expect RS_EGONE
 *   batch SOCK N PRIO TIMEOUT_MS WINDOW ROUTE [NAME:VALUE ...]
 *                                        N chat requests, WINDOW in flight at
 *                                        once; prints how they ended (error
 *                                        names, statuses, attempts, routes)
 *                                        and their latency percentiles
 *   stream SOCK N READ_DELAY_US CANCEL_AT [NAME:VALUE ...]
 *                                        one streamed chat completion of N
 *                                        mock chunks, read with rs_next_chunk
 *                                        (sleeping READ_DELAY_US per chunk);
 *                                        checks every chunk arrives in order;
 *                                        CANCEL_AT > 0 cancels after that many
 *   heldstream SOCK N CALLS HOLD_MS      a stream of N mock chunks left unread
 *                                        while CALLS rs_calls go through the
 *                                        same client, and HOLD_MS more; then
 *                                        the stream is read to its end (in
 *                                        order, complete) with a call after
 *                                        every 100 chunks; prints how the
 *                                        calls went, the RSS growth meanwhile,
 *                                        and stream_holds
 *   heldwait SOCK N                      a stream of N mock chunks, one read,
 *                                        then held; its rs_wait must end it
 *   heldfull SOCK N                      a stream of N mock chunks is held;
 *                                        print "ready", wait for "fill" (the
 *                                        sidecar is stopped), fill the ring
 *                                        with slow requests and the rest with
 *                                        cancels of an answered request,
 *                                        read what is here (its release finds
 *                                        the ring full), print "full", wait
 *                                        for "go", read the stream to its end,
 *                                        cancel the slow ones
 *   callbatch SOCK N                     rs_call_batch of N mixed requests
 *                                        (ok / 400 / unknown route / echo):
 *                                        each result is the right one, in order
 *   slicedbatch SOCK N                   N mixed requests (those of callbatch
 *                                        and some refused at submit) as one
 *                                        rs_call_batch, then as an rs_batch
 *                                        run in 1 ms slices: both right, the
 *                                        same answers; then a batch of slow
 *                                        requests freed unfinished: prints how
 *                                        soon their slots came back
 *   abandon SOCK N DELAY_MS MAX_INFLIGHT N requests the mock answers after
 *                                        DELAY_MS; a thread waits on one,
 *                                        another reads another; all are
 *                                        abandoned: both threads get
 *                                        RS_ENOENT; prints how soon every
 *                                        slot was back, then MAX_INFLIGHT
 *                                        echo requests must be accepted at
 *                                        once and 3 x MAX_INFLIGHT more go
 *                                        through, collected with rs_poll,
 *                                        which never returns an abandoned one
 *   abandonfull SOCK K                   K slow requests; print "ready", wait
 *                                        for "fill" (the sidecar is stopped),
 *                                        fill the ring as heldfull does,
 *                                        abandon the K (their CANCELs find no
 *                                        room; a thread waiting on one of them
 *                                        must return at once all the same),
 *                                        print "full", wait for "go": the K
 *                                        must end long before the mock would
 *                                        answer them, unseen
 *   pollmany SOCK N                      N echo requests collected with
 *                                        rs_poll, each exactly once
 *   faults SOCK N                        connect, one call, 0.2 s pause, then
 *                                        N echo calls of 64 bytes; prints
 *                                        the minor page faults this process
 *                                        took during the calls (not connect)
 *   limits SOCK                          one request over each limit of the
 *                                        README's table (and some just
 *                                        under): prints, per case, the
 *                                        error name and rs_last_error()
 *   fill SOCK                            connect, print "ready", wait for
 *                                        "fill" (the test has SIGSTOPped the
 *                                        sidecar), submit until the ring is
 *                                        full, print the count, wait for
 *                                        "go", check every accepted request
 *                                        completes
 */
#include "channel.h"
#include "record.h"
#include "ring.h"
#include "ringpack.h"
#include "ringside.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path;

#define DIE(...) do { fprintf(stderr, "e2e_client: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

static rs_client *connect_or_die(void)
{
    rs_client *c;
    int err = rs_connect(sock_path, &c);
    if (err < 0)
        DIE("rs_connect: %s: %s", rs_errname(err), rs_last_error());
    return c;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------------ load */

/* What each thread of load and spaced gets. */
struct load_arg {
    rs_client *c;
    int thread, n;
    const char *route;   /* load */
    int pause_us;        /* spaced */
    atomic_int *failures;
};

#define MAX_THREADS 64

/* One thread per args[i] running fn; returns when all have ended. */
static void run_threads(int n, void *(*fn)(void *), struct load_arg *args)
{
    pthread_t th[MAX_THREADS];
    if (n < 1 || n > MAX_THREADS)
        DIE("threads must be 1..%d", MAX_THREADS);
    for (int i = 0; i < n; i++)
        pthread_create(&th[i], NULL, fn, &args[i]);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

#define WINDOW 32

static void *load_thread(void *p)
{
    struct load_arg *a = p;
    rs_ticket win[WINDOW];
    char ids[WINDOW][48], bodies[WINDOW][160];
    int head = 0, inflight = 0, sent = 0, done = 0;

    while (done < a->n) {
        while (sent < a->n && inflight < WINDOW) {
            int slot = (head + inflight) % WINDOW;
            snprintf(ids[slot], sizeof ids[slot], "t%d-r%d", a->thread, sent);
            snprintf(bodies[slot], sizeof bodies[slot],
                     "{\"model\":\"deepseek-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
                     ids[slot]);
            rs_header h = { "x-request-id", ids[slot] };
            rs_request rq = RS_REQUEST_INIT;
            rq.path = "/chat/completions";
            rq.route = a->route;
            rq.headers = &h;
            rq.nheaders = 1;
            rq.body = bodies[slot];
            rq.body_len = strlen(bodies[slot]);
            rq.timeout_ms = 60000;
            int err = rs_submit(a->c, &rq, &win[slot]);
            if (err == RS_EAGAIN || err == RS_ETOOMANY)
                break;   /* ring full: wait for a completion first */
            if (err < 0) {
                fprintf(stderr, "submit %s: %s\n", ids[slot], rs_errname(err));
                atomic_fetch_add(a->failures, 1);
                return NULL;
            }
            inflight++;
            sent++;
        }
        if (!inflight)
            continue;
        rs_response *r;
        int err = rs_wait(a->c, win[head], 60000, &r);
        if (err < 0) {
            fprintf(stderr, "wait %s: %s\n", ids[head], rs_errname(err));
            atomic_fetch_add(a->failures, 1);
            return NULL;
        }
        /* the response must be this request's: echo returns our body, the
         * mock quotes our x-request-id */
        bool ok = r->error == RS_OK && r->status == 200 && r->ticket == win[head] &&
                  strstr((const char *)r->body, ids[head]) != NULL;
        if (!ok) {
            fprintf(stderr, "bad response for %s: %s status %d msg '%s' body '%.200s'\n", ids[head],
                    rs_errname(r->error), r->status, r->error_msg, (const char *)r->body);
            atomic_fetch_add(a->failures, 1);
        }
        /* a second wait on a consumed ticket must not return it again */
        rs_response *again;
        if (rs_wait(a->c, win[head], 0, &again) != RS_ENOENT) {
            fprintf(stderr, "ticket of %s completed twice\n", ids[head]);
            atomic_fetch_add(a->failures, 1);
        }
        rs_response_free(r);
        head = (head + 1) % WINDOW;
        inflight--;
        done++;
    }
    return NULL;
}

static int mode_load(int threads, int per, const char *route)
{
    rs_client *c = connect_or_die();
    struct load_arg args[MAX_THREADS];
    atomic_int failures = 0;
    uint64_t t0 = now_ms();
    for (int i = 0; i < threads && i < MAX_THREADS; i++)
        args[i] = (struct load_arg){ c, i, per, route[0] ? route : NULL, 0, &failures };
    run_threads(threads, load_thread, args);
    uint64_t ms = now_ms() - t0;
    rs_client_stats st;
    rs_client_get_stats(c, &st);
    rs_close(c);
    printf("{\"mode\":\"load\",\"requests\":%d,\"failures\":%d,\"submitted\":%llu,\"completed\":%llu,"
           "\"orphans\":%llu,\"ring_full\":%llu,\"ms\":%llu}\n",
           threads * per, atomic_load(&failures), (unsigned long long)st.submitted,
           (unsigned long long)st.completed, (unsigned long long)st.orphans,
           (unsigned long long)st.ring_full, (unsigned long long)ms);
    bool exact = st.submitted == (uint64_t)(threads * per) && st.completed == st.submitted && st.orphans == 0;
    return atomic_load(&failures) == 0 && exact ? 0 : 1;
}

/* ---------------------------------------------------------------- spaced */

static void *spaced_thread(void *p)
{
    struct load_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        char body[64];
        int len = snprintf(body, sizeof body, "spaced t%d-r%d", a->thread, i);
        rs_request rq = RS_REQUEST_INIT;
        rq.path = "/x";
        rq.route = "echo";
        rq.body = body;
        rq.body_len = (size_t)len;
        usleep((useconds_t)a->pause_us);
        rs_response *r;
        int err = rs_call(a->c, &rq, 10000, &r);
        if (err < 0) {
            fprintf(stderr, "call %s: %s\n", body, rs_errname(err));
            atomic_fetch_add(a->failures, 1);
            return NULL;
        }
        if (r->error != RS_OK || r->body_len != (size_t)len || memcmp(r->body, body, (size_t)len) != 0) {
            fprintf(stderr, "bad answer to %s: %s '%.*s'\n", body, rs_errname(r->error), (int)r->body_len,
                    (const char *)r->body);
            atomic_fetch_add(a->failures, 1);
        }
        rs_response_free(r);
    }
    return NULL;
}

static int mode_spaced(int threads, int per, int pause_us)
{
    rs_client *c = connect_or_die();
    struct load_arg args[MAX_THREADS];
    atomic_int failures = 0;
    for (int i = 0; i < threads && i < MAX_THREADS; i++)
        args[i] = (struct load_arg){ c, i, per, NULL, pause_us, &failures };
    run_threads(threads, spaced_thread, args);
    rs_client_stats st;
    rs_client_get_stats(c, &st);
    rs_close(c);
    printf("{\"mode\":\"spaced\",\"failures\":%d,\"submitted\":%llu,\"completed\":%llu,"
           "\"orphans\":%llu,\"doorbells\":%llu}\n",
           atomic_load(&failures), (unsigned long long)st.submitted, (unsigned long long)st.completed,
           (unsigned long long)st.orphans, (unsigned long long)st.doorbells);
    return atomic_load(&failures) == 0 && st.completed == (uint64_t)(threads * per) ? 0 : 1;
}

/* ------------------------------------------------------------------- big */

static int mode_big(size_t bytes, const char *route, const char *path)
{
    rs_client *c = connect_or_die();
    uint8_t *body = malloc(bytes);
    if (!body)
        DIE("out of memory");
    /* every byte value, in a pattern that exposes shifted or repeated chunks */
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < bytes; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        body[i] = (uint8_t)x;
    }
    rs_request rq = RS_REQUEST_INIT;
    rs_header h = { "content-type", "application/octet-stream" };
    rq.path = path;
    rq.route = route[0] ? route : NULL;
    rq.body = body;
    rq.body_len = bytes;
    rq.headers = &h;
    rq.nheaders = 1;
    rq.timeout_ms = 60000;
    rs_response *r;
    int err = rs_call(c, &rq, 60000, &r);
    if (err < 0)
        DIE("rs_call: %s", rs_errname(err));
    bool same = r->error == RS_OK && r->body_len == bytes && memcmp(r->body, body, bytes) == 0;
    printf("{\"mode\":\"big\",\"sent\":%zu,\"received\":%zu,\"error\":\"%s\",\"status\":%d,\"identical\":%s}\n",
           bytes, r->body_len, rs_errname(r->error), r->status, same ? "true" : "false");
    rs_response_free(r);
    rs_close(c);
    free(body);
    return same ? 0 : 1;
}

/* ----------------------------------------------------------- hold, drain */

static int submit_slow(rs_client *c, int n, int delay_ms, rs_ticket *t)
{
    char delay[16];
    snprintf(delay, sizeof delay, "%d", delay_ms);
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "slow-%d", i);
        rs_header h[2] = { { "x-mock-delay-ms", delay }, { "x-request-id", id } };
        rs_request rq = RS_REQUEST_INIT;
        rq.path = "/chat/completions";
        rq.headers = h;
        rq.nheaders = 2;
        rq.body = "{\"model\":\"deepseek-chat\"}";
        rq.body_len = strlen(rq.body);
        rq.timeout_ms = 120000;
        int err = rs_submit(c, &rq, &t[i]);
        if (err < 0)
            DIE("submit: %s", rs_errname(err));
    }
    return 0;
}

static _Noreturn void mode_hold(int n, int delay_ms)
{
    rs_client *c = connect_or_die();
    rs_ticket *t = calloc((size_t)n, sizeof *t);
    submit_slow(c, n, delay_ms, t);
    printf("submitted %d\n", n);
    fflush(stdout);
    for (;;)
        pause();   /* SIGKILLed by the test */
}

static int mode_drain(int n, int delay_ms)
{
    rs_client *c = connect_or_die();
    rs_ticket *t = calloc((size_t)n, sizeof *t);
    submit_slow(c, n, delay_ms, t);
    printf("submitted %d\n", n);
    fflush(stdout);
    int counts[32] = { 0 }, other = 0, wait_fail = 0;
    for (int i = 0; i < n; i++) {
        rs_response *r;
        int err = rs_wait(c, t[i], 60000, &r);
        if (err < 0) {
            fprintf(stderr, "wait: %s\n", rs_errname(err));
            wait_fail++;
            continue;
        }
        if (-r->error >= 0 && -r->error < 32)
            counts[-r->error]++;
        else
            other++;
        rs_response_free(r);
    }
    printf("{\"mode\":\"drain\",\"ok\":%d,\"shutdown\":%d,\"other\":%d,\"wait_failures\":%d}\n",
           counts[0], counts[-RS_ESHUTDOWN], n - counts[0] - counts[-RS_ESHUTDOWN] - wait_fail,
           wait_fail);
    (void)other;
    rs_close(c);
    free(t);
    return 0;
}

static int mode_gone(int delay_ms)
{
    rs_client *c = connect_or_die();
    rs_ticket t;
    submit_slow(c, 1, delay_ms, &t);
    printf("submitted 1\n");
    fflush(stdout);
    uint64_t t0 = now_ms();
    rs_response *r;
    int err = rs_wait(c, t, 60000, &r);
    uint64_t waited = now_ms() - t0;
    printf("{\"mode\":\"gone\",\"wait\":\"%s\",\"waited_ms\":%llu}\n", rs_errname(err),
           (unsigned long long)waited);
    int err2 = rs_submit(c, &(rs_request){ .path = "/x", .priority = 1 }, &t);
    rs_close(c);
    return err == RS_EGONE && err2 == RS_EGONE ? 0 : 1;
}

/* ---------------------------------------------------------------- claims */

struct claim_arg {
    rs_client *c;
    rs_ticket t;
    int err;
};

static void *claim_waiter(void *p)
{
    struct claim_arg *a = p;
    rs_response *r;
    a->err = rs_wait(a->c, a->t, 60000, &r);
    if (a->err == 0) {
        a->err = r->error == RS_OK && r->status == 200 ? 0 : RS_EPROTO;
        rs_response_free(r);
    }
    return NULL;
}

static void *claim_reader(void *p)
{
    struct claim_arg *a = p;
    rs_chunk *ch;
    /* a non-streamed request: no chunks, so this ends (0) with the response,
     * whichever thread takes that */
    a->err = rs_next_chunk(a->c, a->t, 5000, &ch);
    return NULL;
}

static int mode_claims(int rounds, int delay_ms)
{
    rs_client *c = connect_or_die();
    int bad = 0;
    for (int i = 0; i < rounds; i++) {
        rs_ticket t;
        submit_slow(c, 1, delay_ms, &t);
        struct claim_arg w = { c, t, -1 }, rd = { c, t, -1 };
        pthread_t tw, tr;
        pthread_create(&tw, NULL, claim_waiter, &w);
        pthread_create(&tr, NULL, claim_reader, &rd);
        usleep((useconds_t)delay_ms * 500);   /* both are blocked in their calls by now */
        rs_response *r;
        rs_chunk *ch;
        int second_wait = rs_wait(c, t, 0, &r);
        int second_read = rs_next_chunk(c, t, 0, &ch);
        pthread_join(tw, NULL);
        pthread_join(tr, NULL);
        int spent = rs_wait(c, t, 0, &r);
        bool ok = second_wait == RS_EINVAL && second_read == RS_EINVAL && w.err == 0 && rd.err == 0 &&
                  spent == RS_ENOENT;
        if (!ok || i == rounds - 1)
            printf("{\"mode\":\"claims\",\"round\":%d,\"second_wait\":\"%s\",\"second_read\":\"%s\","
                   "\"waiter\":\"%s\",\"reader\":\"%s\",\"spent\":\"%s\"}\n",
                   i, rs_errname(second_wait), rs_errname(second_read), rs_errname(w.err), rs_errname(rd.err),
                   rs_errname(spent));
        bad += !ok;
    }
    rs_close(c);
    return bad ? 1 : 0;
}

/* "NAME:VALUE" arguments into headers (hbuf holds the text); returns how many. */
static int parse_headers(int nh, char **hv, rs_header *h, char (*hbuf)[256], int max)
{
    int n = 0;
    for (int i = 0; i < nh && n < max; i++, n++) {
        snprintf(hbuf[i], sizeof hbuf[i], "%s", hv[i]);
        char *colon = strchr(hbuf[i], ':');
        if (!colon)
            DIE("header '%s' is not NAME:VALUE", hv[i]);
        *colon = 0;
        h[n].name = hbuf[i];
        h[n].value = colon + 1;
    }
    return n;
}

/* ---------------------------------------------------------------- stream */

/* Submit one streamed chat completion of n mock events (plus the "NAME:VALUE"
 * headers in hv). */
static rs_ticket submit_stream(rs_client *c, int n, int nh, char **hv)
{
    rs_header h[16];
    char hbuf[16][256], count[16];
    int nheaders = 0;
    snprintf(count, sizeof count, "%d", n);
    h[nheaders++] = (rs_header){ "x-mock-stream", count };
    nheaders += parse_headers(nh, hv, h + nheaders, hbuf, 15 - nheaders);
    rs_request rq = RS_REQUEST_INIT;
    rq.path = "/chat/completions";
    rq.flags = RS_REQ_STREAM;
    rq.headers = h;
    rq.nheaders = (size_t)nheaders;
    rq.body = "{\"model\":\"deepseek-chat\",\"stream\":true,\"messages\":[]}";
    rq.body_len = strlen(rq.body);
    rq.timeout_ms = 120000;
    rs_ticket t;
    int err = rs_submit(c, &rq, &t);
    if (err < 0)
        DIE("submit: %s", rs_errname(err));
    return t;
}

static int mode_stream(int n, int read_delay_us, int cancel_at, int nh, char **hv)
{
    rs_client *c = connect_or_die();
    rs_ticket t = submit_stream(c, n, nh, hv);
    int err, got = 0, in_order = 1, done_seen = 0, keepalive_seen = 0;
    uint64_t lat_sum = 0;
    rs_chunk *ch;
    while ((err = rs_next_chunk(c, t, 60000, &ch)) == 1) {
        char want[32];
        snprintf(want, sizeof want, "\"tok%d \"", got);
        if (ch->seq != (uint64_t)got)
            in_order = 0;
        if (strcmp((char *)ch->data, "[DONE]") == 0)
            done_seen = 1;
        else if (!strstr((char *)ch->data, want))
            in_order = 0;
        if (strstr((char *)ch->data, "keep-alive"))
            keepalive_seen = 1;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        lat_sum += (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - ch->sidecar_ns;
        rs_chunk_free(ch);
        got++;
        if (cancel_at > 0 && got == cancel_at && rs_cancel(c, t) < 0)
            DIE("cancel failed");
        if (read_delay_us)
            usleep((useconds_t)read_delay_us);
    }
    if (err < 0)
        DIE("next_chunk: %s after %d chunks", rs_errname(err), got);
    rs_response *r;
    err = rs_wait(c, t, 10000, &r);
    if (err < 0)
        DIE("wait: %s", rs_errname(err));
    rs_client_stats st;
    rs_client_get_stats(c, &st);
    printf("{\"mode\":\"stream\",\"chunks\":%d,\"in_order\":%s,\"done\":%s,\"keepalive_seen\":%s,"
           "\"error\":\"%s\",\"status\":%d,\"attempts\":%u,\"body_len\":%zu,\"chunk_lat_avg_us\":%llu,"
           "\"stream_holds\":%llu,\"msg\":\"%.120s\"}\n",
           got, in_order ? "true" : "false", done_seen ? "true" : "false", keepalive_seen ? "true" : "false",
           rs_errname(r->error), r->status, r->attempts, r->body_len,
           (unsigned long long)(got ? lat_sum / (uint64_t)got / 1000u : 0),
           (unsigned long long)st.stream_holds, r->error_msg);
    rs_response_free(r);
    rs_close(c);
    return 0;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* One plain chat call; 1 if it came back 200 within 10 s. */
static int plain_call(rs_client *c, uint64_t *worst_ms)
{
    rs_request rq = RS_REQUEST_INIT;
    rq.path = "/chat/completions";
    rq.body = "{\"model\":\"deepseek-chat\",\"messages\":[]}";
    rq.body_len = strlen(rq.body);
    uint64_t t0 = now_ms();
    rs_response *r;
    int err = rs_call(c, &rq, 10000, &r);
    if (now_ms() - t0 > *worst_ms)
        *worst_ms = now_ms() - t0;
    if (err < 0) {
        fprintf(stderr, "call: %s\n", rs_errname(err));
        return 0;
    }
    int ok = r->error == RS_OK && r->status == 200;
    rs_response_free(r);
    return ok;
}

/* What reading a stream found: chunks, all of them in order with the mock's
 * content, the final [DONE]; calls made meanwhile and how many went well. */
typedef struct stream_tally {
    int got, in_order, done, calls_ok;
    uint64_t worst_call_ms;
} stream_tally;

/* Read stream t to its end, with a plain call after every `call_every`
 * chunks (0: none). Returns 0 or the error that ended it. */
static int read_stream(rs_client *c, rs_ticket t, int call_every, stream_tally *y)
{
    int err;
    rs_chunk *ch;
    while ((err = rs_next_chunk(c, t, 60000, &ch)) == 1) {
        char want[32];
        snprintf(want, sizeof want, "\"tok%d \"", y->got);
        if (ch->seq != (uint64_t)y->got)
            y->in_order = 0;
        if (strcmp((char *)ch->data, "[DONE]") == 0)
            y->done = 1;
        else if (!strstr((char *)ch->data, want))
            y->in_order = 0;
        rs_chunk_free(ch);
        if (++y->got % (call_every ? call_every : INT_MAX) == 0)
            y->calls_ok += plain_call(c, &y->worst_call_ms);
    }
    return err < 0 ? err : 0;
}

/* A stream of n events nobody reads while `calls` other requests go
 * through the same client and for hold_ms after them; then the stream is
 * read to its end with one more call after every 100 chunks. */
static int mode_heldstream(int n, int calls, int hold_ms)
{
    rs_client *c = connect_or_die();
    long rss0 = rss_kib();
    rs_ticket t = submit_stream(c, n, 0, NULL);
    usleep(300000);   /* let its events fill the ring while nobody reaps */

    stream_tally y = { .in_order = 1 };
    for (int i = 0; i < calls; i++)
        y.calls_ok += plain_call(c, &y.worst_call_ms);
    long rss1 = rss_kib();
    usleep((useconds_t)hold_ms * 1000u);

    int err = read_stream(c, t, 100, &y);
    if (err < 0)
        DIE("next_chunk: %s after %d chunks", rs_errname(err), y.got);
    rs_client_stats st;
    rs_client_get_stats(c, &st);
    rs_response *r;
    if ((err = rs_wait(c, t, 10000, &r)) < 0)
        DIE("wait: %s", rs_errname(err));
    printf("{\"mode\":\"heldstream\",\"calls_ok\":%d,\"worst_call_ms\":%llu,\"rss_growth_kib\":%ld,"
           "\"stream_holds\":%llu,\"chunks\":%d,\"in_order\":%s,\"done\":%s,\"error\":\"%s\"}\n",
           y.calls_ok, (unsigned long long)y.worst_call_ms, rss1 - rss0, (unsigned long long)st.stream_holds,
           y.got, y.in_order ? "true" : "false", y.done ? "true" : "false", rs_errname(r->error));
    rs_response_free(r);
    rs_close(c);
    return 0;
}

/* Request i of a mixed batch of `kinds` kinds: 0 answered by the mock
 * (quoting its id), 1 a 400 from the mock (not retried), 2 an unknown
 * route (refused by the sidecar), 3 echoed by the sidecar, 4 refused at
 * submit (a path without '/'). */
static void mixed_item(int i, int kinds, rs_request *rq, const char *id, rs_header *idh)
{
    static rs_header bad = { "x-mock-status", "400" };
    *rq = (rs_request)RS_REQUEST_INIT;
    rq->path = "/chat/completions";
    rq->body = id;
    rq->body_len = strlen(id);
    *idh = (rs_header){ "x-request-id", id };
    switch (i % kinds) {
    case 0: rq->headers = idh; rq->nheaders = 1; break;
    case 1: rq->headers = &bad; rq->nheaders = 1; break;
    case 2: rq->route = "no-such-route"; break;
    case 3: rq->route = "echo"; break;
    case 4: rq->path = "no-slash"; break;
    }
}

static bool mixed_right(int i, int kinds, const rs_response *r, const char *id)
{
    switch (i % kinds) {
    case 0: return r->error == RS_OK && strstr((char *)r->body, id);
    case 1: return r->error == RS_EUPSTREAM && r->status == 400;
    case 2: return r->error == RS_ENOROUTE;
    case 3: return r->error == RS_OK && strcmp((char *)r->body, id) == 0;
    default:   /* refused at submit: ticket 0, and rs_last_error's detail */
        return r->error == RS_EINVAL && r->ticket == 0 && strstr(r->error_msg, "path must start with '/'");
    }
}

/* Two answers to the same item say the same (the mock's ids and times
 * aside). */
static bool same_answer(int i, int kinds, const rs_response *a, const rs_response *b)
{
    if (a->error != b->error || a->status != b->status || strcmp(a->error_msg, b->error_msg) != 0)
        return false;
    return i % kinds != 3 || (a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0);
}

static int mode_callbatch(int n)
{
    rs_client *c = connect_or_die();
    rs_request *rq = calloc((size_t)n, sizeof *rq);
    rs_response **out = calloc((size_t)n, sizeof *out);
    char (*ids)[32] = calloc((size_t)n, sizeof *ids);
    rs_header *idh = calloc((size_t)n, sizeof *idh);
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "item-%d", i);
        mixed_item(i, 4, &rq[i], ids[i], &idh[i]);
    }
    int err = rs_call_batch(c, rq, (size_t)n, 120000, out);
    if (err < 0)
        DIE("rs_call_batch: %s", rs_errname(err));
    int right = 0;
    for (int i = 0; i < n; i++) {
        rs_response *r = out[i];
        bool ok = mixed_right(i, 4, r, ids[i]);
        right += ok;
        if (!ok)
            fprintf(stderr, "item %d: %s %d %s\n", i, rs_errname(r->error), r->status, r->error_msg);
        rs_response_free(r);
    }
    rs_client_stats st;
    rs_client_get_stats(c, &st);
    printf("{\"mode\":\"callbatch\",\"n\":%d,\"right\":%d,\"submitted\":%llu,\"completed\":%llu,"
           "\"doorbells\":%llu}\n", n, right, (unsigned long long)st.submitted,
           (unsigned long long)st.completed, (unsigned long long)st.doorbells);
    rs_close(c);
    free(rq);
    free(out);
    free(ids);
    free(idh);
    return right == n ? 0 : 1;
}

/* rs_poll until every submitted request's terminal completion has come
 * (or give_up_ms passed); returns how many answers rs_poll handed out
 * meanwhile. */
static int poll_until_all_completed(rs_client *c, uint64_t give_up_ms)
{
    int surfaced = 0;
    uint64_t until = now_ms() + give_up_ms;
    for (rs_client_stats st;;) {
        rs_client_get_stats(c, &st);
        if (st.completed == st.submitted || now_ms() >= until)
            return surfaced;
        rs_response *rs[64];
        int k = rs_poll(c, rs, 64, 50);
        if (k < 0)
            DIE("rs_poll: %s", rs_errname(k));
        for (int j = 0; j < k; j++) {
            fprintf(stderr, "rs_poll returned ticket %llx: %s\n", (unsigned long long)rs[j]->ticket,
                    rs_errname(rs[j]->error));
            rs_response_free(rs[j]);
        }
        surfaced += k;
    }
}

static int mode_slicedbatch(int n)
{
    enum { KINDS = 5, SLOW = 8 };
    rs_client *c = connect_or_die();
    rs_request *rq = calloc((size_t)n, sizeof *rq);
    rs_response **one = calloc((size_t)n, sizeof *one), **sliced = calloc((size_t)n, sizeof *sliced);
    char (*ids)[32] = calloc((size_t)n, sizeof *ids);
    rs_header *idh = calloc((size_t)n, sizeof *idh);
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "item-%d", i);
        mixed_item(i, KINDS, &rq[i], ids[i], &idh[i]);
    }
    int err = rs_call_batch(c, rq, (size_t)n, 120000, one);
    if (err < 0)
        DIE("rs_call_batch: %s", rs_errname(err));

    rs_batch *b;
    if ((err = rs_batch_new(c, rq, (size_t)n, &b)) < 0)
        DIE("rs_batch_new: %s", rs_errname(err));
    int slices = 0, run;
    uint64_t give_up = now_ms() + 120000;
    while ((run = rs_batch_run(b, 1)) == 0 && now_ms() < give_up)
        slices++;
    if (run != 1)
        DIE("rs_batch_run: %s after %d slices", run ? rs_errname(run) : "not done", slices);
    int missing = 0, twice = 0;
    for (int i = 0; i < n; i++) {
        missing += !(sliced[i] = rs_batch_take(b, i));
        rs_response *again = rs_batch_take(b, i);
        twice += again != NULL;
        rs_response_free(again);
    }
    rs_batch_free(b);
    if (missing)
        DIE("%d items without an answer after rs_batch_run returned 1", missing);

    int right_one = 0, right_sliced = 0, same = 0;
    for (int i = 0; i < n; i++) {
        right_one += mixed_right(i, KINDS, one[i], ids[i]);
        right_sliced += mixed_right(i, KINDS, sliced[i], ids[i]);
        bool eq = same_answer(i, KINDS, one[i], sliced[i]);
        same += eq;
        if (!eq || !mixed_right(i, KINDS, sliced[i], ids[i]))
            fprintf(stderr, "item %d: %s %d '%s' / sliced %s %d '%s'\n", i, rs_errname(one[i]->error),
                    one[i]->status, one[i]->error_msg, rs_errname(sliced[i]->error), sliced[i]->status,
                    sliced[i]->error_msg);
        rs_response_free(one[i]);
        rs_response_free(sliced[i]);
    }

    /* A batch freed with its items in flight: they are cancelled, so
     * their slots come back long before the mock would answer. */
    rs_header slow = { "x-mock-delay-ms", "30000" };
    rs_request srq[SLOW];
    for (int i = 0; i < SLOW; i++) {
        srq[i] = (rs_request)RS_REQUEST_INIT;
        srq[i].path = "/chat/completions";
        srq[i].headers = &slow;
        srq[i].nheaders = 1;
    }
    if ((err = rs_batch_new(c, srq, SLOW, &b)) < 0 || (err = rs_batch_run(b, 200)) != 0)
        DIE("slow batch: %s", rs_errname(err));
    uint64_t t0 = now_ms();
    rs_batch_free(b);
    int surfaced = poll_until_all_completed(c, 20000);
    uint64_t freed_ms = now_ms() - t0;
    rs_client_stats st;
    rs_client_get_stats(c, &st);
    printf("{\"mode\":\"slicedbatch\",\"n\":%d,\"right_call\":%d,\"right_sliced\":%d,\"same\":%d,"
           "\"slices\":%d,\"taken_twice\":%d,\"freed_slots_back_ms\":%llu,\"surfaced\":%d,"
           "\"submitted\":%llu,\"completed\":%llu}\n",
           n, right_one, right_sliced, same, slices, twice, (unsigned long long)freed_ms, surfaced,
           (unsigned long long)st.submitted, (unsigned long long)st.completed);
    rs_close(c);
    free(rq);
    free(one);
    free(sliced);
    free(ids);
    free(idh);
    return 0;
}

/* ----------------------------------------------------------------- batch */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A small name → count table for the JSON summary. */
struct tally {
    char name[32][48];
    int count[32], n;
};

static void tally_add(struct tally *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->name[i], name) == 0) {
            t->count[i]++;
            return;
        }
    if (t->n < 32) {
        snprintf(t->name[t->n], sizeof t->name[0], "%s", name);
        t->count[t->n++] = 1;
    }
}

static void tally_print(const char *key, const struct tally *t)
{
    printf("\"%s\":{", key);
    for (int i = 0; i < t->n; i++)
        printf("%s\"%s\":%d", i ? "," : "", t->name[i], t->count[i]);
    printf("}");
}

static int mode_batch(int n, int prio, int timeout_ms, int window, const char *route, int nh, char **hv)
{
    rs_client *c = connect_or_die();
    rs_header h[16];
    char hbuf[16][256];
    int nheaders = 0;
    nheaders += parse_headers(nh, hv, h + nheaders, hbuf, 15 - nheaders);
    rs_ticket *t = calloc((size_t)n, sizeof *t);
    uint64_t *t0 = calloc((size_t)n, sizeof *t0), *lat = calloc((size_t)n, sizeof *lat);
    struct tally errs = { 0 }, status = { 0 }, attempts = { 0 }, ups = { 0 };
    int head = 0, sent = 0, done = 0;
    const char *body = "{\"model\":\"deepseek-chat\",\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    while (done < n) {
        while (sent < n && sent - done < window) {
            rs_request rq = RS_REQUEST_INIT;
            rq.path = "/chat/completions";
            rq.route = route[0] ? route : NULL;
            rq.priority = prio;
            rq.timeout_ms = (uint32_t)timeout_ms;
            rq.headers = h;
            rq.nheaders = (size_t)nheaders;
            rq.body = body;
            rq.body_len = strlen(body);
            t0[sent] = now_ms();
            int err = rs_submit(c, &rq, &t[sent]);
            if (err == RS_EAGAIN || err == RS_ETOOMANY)
                break;
            if (err < 0)
                DIE("submit: %s", rs_errname(err));
            sent++;
        }
        rs_response *r;
        int err = rs_wait(c, t[head], 600000, &r);
        if (err < 0)
            DIE("wait: %s", rs_errname(err));
        lat[head] = now_ms() - t0[head];
        char num[16];
        tally_add(&errs, rs_errname(r->error));
        snprintf(num, sizeof num, "%d", r->status);
        tally_add(&status, num);
        snprintf(num, sizeof num, "%u", r->attempts);
        tally_add(&attempts, num);
        tally_add(&ups, r->upstream[0] ? r->upstream : "-");
        if (r->error && getenv("E2E_VERBOSE"))
            fprintf(stderr, "%s: %s\n", rs_errname(r->error), r->error_msg);
        rs_response_free(r);
        head++;
        done++;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_u64);
    rs_client_stats st;
    rs_client_get_stats(c, &st);
    /* exactly one terminal completion per request: as many as submitted,
     * none for an unknown ticket */
    printf("{\"mode\":\"batch\",\"n\":%d,\"submitted\":%llu,\"completed\":%llu,\"orphans\":%llu,", n,
           (unsigned long long)st.submitted, (unsigned long long)st.completed, (unsigned long long)st.orphans);
    tally_print("errors", &errs);
    printf(",");
    tally_print("status", &status);
    printf(",");
    tally_print("attempts", &attempts);
    printf(",");
    tally_print("upstreams", &ups);
    printf(",\"lat_p50_ms\":%llu,\"lat_p99_ms\":%llu,\"lat_max_ms\":%llu}\n",
           (unsigned long long)lat[n / 2], (unsigned long long)lat[(n * 99) / 100],
           (unsigned long long)lat[n - 1]);
    rs_close(c);
    free(t);
    free(t0);
    free(lat);
    return 0;
}

/* ---------------------------------------------------------------- limits */

/* Submit rq and print how it went as one JSON member: a refusal at submit
 * with rs_last_error(), or the answer's error and message. */
static void limit_case(rs_client *c, const char *name, const rs_request *rq, bool last)
{
    rs_response *r = NULL;
    int err = rs_call(c, rq, 30000, &r);
    const char *detail = err ? rs_last_error() : r->error_msg;
    printf("\"%s\":{\"at\":\"%s\",\"error\":\"%s\",\"detail\":\"", name, err ? "submit" : "answer",
           rs_errname(err ? err : r->error));
    for (const char *p = detail; *p; p++)
        printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
    printf("\"}%s", last ? "}\n" : ",");
    rs_response_free(r);
}

static int mode_limits(void)
{
    rs_client *c = connect_or_die();
    static char big[(2u << 20) + 1];
    memset(big, 'v', sizeof big - 1);
    rs_header h[70];
    char names[70][8];
    for (int k = 0; k < 70; k++) {
        snprintf(names[k], sizeof names[k], "x-h%d", k);
        h[k] = (rs_header){ names[k], "v" };
    }
    rs_request rq = RS_REQUEST_INIT;
    rq.route = "echo";
    rq.path = "/e";
    printf("{");

    rs_header one = { "x-big", big };
    rq.headers = &one;
    rq.nheaders = 1;
    big[100u << 10] = 0;   /* one 100 KiB header */
    limit_case(c, "header_100k", &rq, false);
    big[100u << 10] = 'v';
    big[1u << 20] = 0;     /* one 1 MiB header */
    limit_case(c, "header_1m", &rq, false);
    big[1u << 20] = 'v';
    big[60u << 10] = 0;    /* 60 KiB: under the head's limit */
    limit_case(c, "header_60k", &rq, false);
    big[60u << 10] = 'v';

    rq.headers = h;
    rq.nheaders = 70;
    limit_case(c, "headers_70", &rq, false);
    rq.nheaders = 64;
    limit_case(c, "headers_64", &rq, false);
    rq.headers = NULL;
    rq.nheaders = 0;

    big[0] = '/';
    big[9000] = 0;
    rq.path = big;
    limit_case(c, "path_9000", &rq, false);
    rq.path = "/e";
    big[0] = 'v';
    big[9000] = 'v';
    big[300] = 0;
    rq.model = big;
    limit_case(c, "model_300", &rq, false);
    rq.model = NULL;
    rq.route = big;
    limit_case(c, "route_300", &rq, false);
    rq.route = "echo";
    big[300] = 'v';
    big[20] = 0;
    rq.method = big;
    limit_case(c, "method_20", &rq, false);
    rq.method = NULL;
    big[20] = 'v';

    /* a body larger than any ring the tests use, and one that fits */
    size_t n = 64u << 20;
    char *body = malloc(n);
    if (!body)
        DIE("out of memory");
    memset(body, 'b', n);
    rq.body = body;
    rq.body_len = n;
    limit_case(c, "body_64m", &rq, false);
    rq.body_len = 1u << 20;
    limit_case(c, "body_1m", &rq, true);
    free(body);
    rs_close(c);
    return 0;
}

/* -------------------------------------------------------- poll, fill */

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static int mode_faults(int n)
{
    rs_client *c = connect_or_die();
    char body[64];
    memset(body, 'f', sizeof body);
    rs_request rq = RS_REQUEST_INIT;
    rq.path = "/p";
    rq.route = "echo";
    rq.body = body;
    rq.body_len = sizeof body;
    rs_response *r;
    if (rs_call(c, &rq, 10000, &r) < 0)   /* the heap's first response comes before the count */
        DIE("call failed");
    rs_response_free(r);
    usleep(200000);   /* a --prefault sidecar faults the region in meanwhile */
    long f0 = minor_faults();
    int ok = 0;
    for (int i = 0; i < n; i++) {
        int err = rs_call(c, &rq, 10000, &r);
        if (err < 0)
            DIE("call %d: %s", i, rs_errname(err));
        ok += r->error == RS_OK && r->body_len == sizeof body;
        rs_response_free(r);
    }
    printf("{\"mode\":\"faults\",\"calls_ok\":%d,\"minor_faults\":%ld}\n", ok, minor_faults() - f0);
    rs_close(c);
    return 0;
}

static int mode_pollmany(int n)
{
    rs_client *c = connect_or_die();
    char *seen = calloc((size_t)n, 1);
    rs_ticket *t = calloc((size_t)n, sizeof *t);
    char body[32];
    int dup = 0, wrong = 0, got = 0;
    for (int i = 0; i < n; i++) {
        snprintf(body, sizeof body, "%d", i);
        rs_request rq = RS_REQUEST_INIT;
        rq.path = "/p";
        rq.route = "echo";
        rq.body = body;
        rq.body_len = strlen(body);
        int err;
        while ((err = rs_submit(c, &rq, &t[i])) == RS_EAGAIN || err == RS_ETOOMANY) {
            rs_response *r;
            if (rs_poll(c, &r, 1, 1000) == 1) {   /* make room, and count it */
                int k = atoi((const char *)r->body);
                if (k < 0 || k >= n || t[k] != r->ticket) wrong++;
                else if (seen[k]++) dup++;
                got++;
                rs_response_free(r);
            }
        }
        if (err < 0)
            DIE("submit: %s", rs_errname(err));
    }
    while (got < n) {
        rs_response *rs[64];
        int k = rs_poll(c, rs, 64, 10000);
        if (k <= 0)
            DIE("rs_poll returned %d after %d of %d", k, got, n);
        for (int j = 0; j < k; j++) {
            int idx = atoi((const char *)rs[j]->body);
            if (idx < 0 || idx >= n || t[idx] != rs[j]->ticket) wrong++;
            else if (seen[idx]++) dup++;
            rs_response_free(rs[j]);
        }
        got += k;
    }
    rs_response *extra;
    int more = rs_poll(c, &extra, 1, 200);
    printf("{\"mode\":\"pollmany\",\"collected\":%d,\"duplicates\":%d,\"wrong\":%d,\"extra\":%d}\n",
           got, dup, wrong, more);
    rs_close(c);
    free(seen);
    free(t);
    return got == n && !dup && !wrong && more == 0 ? 0 : 1;
}

static int mode_fill(void)
{
    rs_client *c = connect_or_die();
    enum { BODY = 64 * 1024, MAX = 4096 };
    static char body[BODY];
    static rs_ticket t[MAX];
    int n = 0, err = 0;
    uint64_t slowest_us = 0;
    char line[16];
    printf("ready\n");   /* the test stops the sidecar now, then says "fill" */
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin))
        DIE("no fill");
    while (n < MAX) {
        snprintf(body, sizeof body, "fill-%d", n);
        rs_request rq = RS_REQUEST_INIT;
        rq.path = "/f";
        rq.route = "echo";
        rq.body = body;
        rq.body_len = BODY;
        uint64_t t0 = now_ms();
        err = rs_submit(c, &rq, &t[n]);
        uint64_t took = now_ms() - t0;
        if (took * 1000 > slowest_us)
            slowest_us = took * 1000;
        if (err < 0)
            break;
        n++;
    }
    printf("full %d %s %llu\n", n, rs_errname(err), (unsigned long long)slowest_us);
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin))
        DIE("no go");
    int ok = 0;
    for (int i = 0; i < n; i++) {
        rs_response *r;
        char want[32];
        snprintf(want, sizeof want, "fill-%d", i);
        if (rs_wait(c, t[i], 30000, &r) == 0) {
            if (r->error == RS_OK && r->body_len == BODY && strcmp((const char *)r->body, want) == 0)
                ok++;
            rs_response_free(r);
        }
    }
    printf("{\"mode\":\"fill\",\"accepted\":%d,\"completed_ok\":%d}\n", n, ok);
    rs_close(c);
    return ok == n && err == RS_EAGAIN ? 0 : 1;
}

/* Calls on c until its stream is held; dies if it never is. */
static void call_until_held(rs_client *c, stream_tally *y)
{
    rs_client_stats st = { 0 };
    for (int i = 0; i < 2000 && !st.stream_holds; i++) {   /* calls reap: the stream gets held */
        plain_call(c, &y->worst_call_ms);
        rs_client_get_stats(c, &st);
    }
    if (!st.stream_holds)
        DIE("the stream was never held");
}

/* A held stream whose caller then wants only how it ends (rs_wait, no
 * more reading): its queued chunks go, and the stream must go on. */
static int mode_heldwait(int n)
{
    rs_client *c = connect_or_die();
    rs_ticket t = submit_stream(c, n, 0, NULL);
    stream_tally y = { .in_order = 1 };
    rs_chunk *ch;
    if (rs_next_chunk(c, t, 10000, &ch) != 1)   /* a reader was here, read one and left */
        DIE("no first chunk");
    rs_chunk_free(ch);
    call_until_held(c, &y);
    uint64_t t0 = now_ms();
    rs_response *r;
    int err = rs_wait(c, t, 30000, &r);
    if (err < 0)
        DIE("wait: %s", rs_errname(err));
    printf("{\"mode\":\"heldwait\",\"error\":\"%s\",\"wait_ms\":%llu}\n", rs_errname(r->error),
           (unsigned long long)(now_ms() - t0));
    rs_response_free(r);
    rs_close(c);
    return 0;
}

/* A held stream whose release finds the submission ring full. */
static int mode_heldfull(int n)
{
    rs_client *c = connect_or_die();
    rs_ticket a = submit_stream(c, n, 0, NULL);
    stream_tally y = { .in_order = 1 };
    call_until_held(c, &y);
    for (int i = 0; i < 5; i++) {   /* take in what the sidecar had sent before the hold */
        usleep(50000);
        plain_call(c, &y.worst_call_ms);
    }
    /* an echo request whose answer stays in the ring, unreaped: cancels
     * of it fill the ring below to the last byte yet get no answer */
    rs_request eq = RS_REQUEST_INIT;
    eq.path = "/e";
    eq.route = "echo";
    rs_ticket e;
    if (rs_submit(c, &eq, &e) < 0)
        DIE("echo submit");
    usleep(100000);
    char line[16];
    printf("ready\n");   /* the test stops the sidecar, then says "fill" */
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin))
        DIE("no fill");

    enum { BODY = 64 * 1024, MAX = 4096 };
    static char body[BODY];
    static rs_ticket t[MAX];
    rs_header slow = { "x-mock-delay-ms", "20000" };
    int nfill = 0, err = 0;
    for (; nfill < MAX; nfill++) {
        rs_request rq = RS_REQUEST_INIT;
        rq.path = "/chat/completions";
        rq.headers = &slow;
        rq.nheaders = 1;
        rq.body = body;
        rq.body_len = BODY;
        if ((err = rs_submit(c, &rq, &t[nfill])) < 0)
            break;
    }
    if (err != RS_EAGAIN)
        DIE("fill ended with %s", rs_errname(err));
    int ncancel = 0;
    while (ncancel < 100000 && (err = rs_cancel(c, e)) == 0)
        ncancel++;
    if (err != RS_EAGAIN)
        DIE("cancel fill ended with %s", rs_errname(err));
    /* read what is here: the release it calls for finds the ring full */
    rs_chunk *ch;
    while (rs_next_chunk(c, a, 0, &ch) == 1) {
        rs_chunk_free(ch);
        y.got++;
    }
    printf("full %d read %d cancels %d\n", nfill, y.got, ncancel);
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin))   /* the sidecar runs again */
        DIE("no go");
    uint64_t t0 = now_ms();
    if ((err = read_stream(c, a, 0, &y)) < 0)
        DIE("next_chunk: %s after %d chunks", rs_errname(err), y.got);
    uint64_t stream_ms = now_ms() - t0;
    rs_response *r;
    if ((err = rs_wait(c, a, 10000, &r)) < 0)
        DIE("wait: %s", rs_errname(err));
    rs_response *er;
    if (rs_wait(c, e, 10000, &er) < 0 || er->error != RS_OK)
        DIE("the echo request did not end well");
    rs_response_free(er);
    int ended = 0;
    for (int i = 0; i < nfill; i++) {
        rs_response *f;
        rs_cancel(c, t[i]);
        if (rs_wait(c, t[i], 30000, &f) == 0) {
            ended += f->error == RS_ECANCELLED || f->error == RS_OK;
            rs_response_free(f);
        }
    }
    printf("{\"mode\":\"heldfull\",\"chunks\":%d,\"in_order\":%s,\"done\":%s,\"error\":\"%s\","
           "\"stream_ms_after_go\":%llu,\"fills\":%d,\"fills_ended\":%d}\n",
           y.got, y.in_order ? "true" : "false", y.done ? "true" : "false", rs_errname(r->error),
           (unsigned long long)stream_ms, nfill, ended);
    rs_response_free(r);
    rs_close(c);
    return 0;
}

/* --------------------------------------------------------------- abandon */

struct claimant {
    rs_client *c;
    rs_ticket t;
    bool read;            /* rs_next_chunk, else rs_wait */
    int err;
    uint64_t ended_ms;
};

static void *claimant_thread(void *p)
{
    struct claimant *a = p;
    if (a->read) {
        rs_chunk *ch;
        if ((a->err = rs_next_chunk(a->c, a->t, 60000, &ch)) == 1)
            rs_chunk_free(ch);
    } else {
        rs_response *r;
        if ((a->err = rs_wait(a->c, a->t, 60000, &r)) == 0)
            rs_response_free(r);
    }
    a->ended_ms = now_ms();
    return NULL;
}

/* n slow requests on a client of max_inflight slots, all abandoned while
 * two threads wait on / read two of them; then every slot must come back
 * (max_inflight requests accepted at once) and 3 x max_inflight echo
 * requests go through, collected with rs_poll, which must never return
 * one of the abandoned. */
static int mode_abandon(int n, int delay_ms, int max_inflight)
{
    if (n < 4 || n > max_inflight)
        DIE("abandon needs 4 <= N <= MAX_INFLIGHT");
    rs_client *c = connect_or_die();
    rs_ticket *t = calloc((size_t)n, sizeof *t);
    submit_slow(c, n, delay_ms, t);
    struct claimant w = { .c = c, .t = t[0] }, rd = { .c = c, .t = t[1], .read = true };
    pthread_t tw, tr;
    pthread_create(&tw, NULL, claimant_thread, &w);
    pthread_create(&tr, NULL, claimant_thread, &rd);
    usleep(200000);   /* both are blocked in their calls by now */

    uint64_t t0 = now_ms();
    int failed = 0;
    for (int i = 0; i < n; i++)
        failed += rs_abandon(c, t[i]) != 0;
    pthread_join(tw, NULL);
    pthread_join(tr, NULL);
    rs_response *r;
    int again = rs_abandon(c, t[0]), wait_after = rs_wait(c, t[2], 0, &r), cancel_after = rs_cancel(c, t[3]);

    /* every abandoned ticket ends (its answer dropped): all slots are free */
    int surfaced = poll_until_all_completed(c, (uint64_t)delay_ms * 2);
    uint64_t slots_back_ms = now_ms() - t0;

    /* Every slot at once, then three times as many again as they free up. */
    int echoes = 4 * max_inflight, sent = 0, got = 0, wrong = 0, at_once = -1;
    rs_ticket *e = calloc((size_t)echoes, sizeof *e);
    uint64_t give_up = now_ms() + 60000;
    while (got < echoes && now_ms() < give_up) {
        for (; sent < echoes; sent++) {
            char body[32];
            snprintf(body, sizeof body, "%d", sent);
            rs_request rq = RS_REQUEST_INIT;
            rq.path = "/e";
            rq.route = "echo";
            rq.body = body;
            rq.body_len = strlen(body);
            int err = rs_submit(c, &rq, &e[sent]);
            if (err == RS_EAGAIN || err == RS_ETOOMANY)
                break;
            if (err < 0)
                DIE("echo submit: %s", rs_errname(err));
        }
        if (at_once < 0)
            at_once = sent;
        rs_response *rs[64];
        int k = rs_poll(c, rs, 64, 100);
        if (k < 0)
            DIE("rs_poll: %s", rs_errname(k));
        for (int j = 0; j < k; j++) {
            int i = atoi((const char *)rs[j]->body);
            bool abandoned = false;
            for (int a = 0; a < n; a++)
                abandoned |= rs[j]->ticket == t[a];
            if (abandoned)
                surfaced++;
            else if (i < 0 || i >= sent || e[i] != rs[j]->ticket || rs[j]->error != RS_OK)
                wrong++;
            else
                got++;
            rs_response_free(rs[j]);
        }
    }
    int extra = poll_until_all_completed(c, 10000);
    if (rs_poll(c, &r, 1, 200) == 1) {
        extra++;
        rs_response_free(r);
    }
    rs_client_stats st;
    rs_client_get_stats(c, &st);
    printf("{\"mode\":\"abandon\",\"n\":%d,\"abandon_failures\":%d,\"waiter\":\"%s\",\"waiter_ms\":%llu,"
           "\"reader\":\"%s\",\"reader_ms\":%llu,\"again\":\"%s\",\"wait_after\":\"%s\","
           "\"cancel_after\":\"%s\",\"slots_back_ms\":%llu,\"accepted_at_once\":%d,\"echoes\":%d,"
           "\"surfaced\":%d,\"wrong\":%d,\"extra\":%d,\"submitted\":%llu,\"completed\":%llu}\n",
           n, failed, rs_errname(w.err), (unsigned long long)(w.ended_ms - t0), rs_errname(rd.err),
           (unsigned long long)(rd.ended_ms - t0), rs_errname(again), rs_errname(wait_after),
           rs_errname(cancel_after), (unsigned long long)slots_back_ms, at_once, got, surfaced, wrong, extra,
           (unsigned long long)st.submitted, (unsigned long long)st.completed);
    rs_close(c);
    free(t);
    free(e);
    return 0;
}

/* Abandon while the submission ring is full: the CANCELs wait for room. */
static int mode_abandonfull(int k)
{
    rs_client *c = connect_or_die();
    rs_ticket *slow = calloc((size_t)k + 1, sizeof *slow);
    /* k to abandon, and one more whose cancels fill the ring below to the
     * last byte (the sidecar cancels it at once when it runs again) */
    submit_slow(c, k + 1, 30000, slow);
    rs_ticket e = slow[k];
    /* a thread waits on one of them all along: the reaper, asleep */
    struct claimant w = { .c = c, .t = slow[0] };
    pthread_t tw;
    pthread_create(&tw, NULL, claimant_thread, &w);
    usleep(100000);
    char line[16];
    printf("ready\n");   /* the test stops the sidecar, then says "fill" */
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin))
        DIE("no fill");

    enum { BODY = 64 * 1024, MAX = 4096 };
    static char body[BODY];
    static rs_ticket t[MAX];
    int nfill = 0, err = 0;
    for (; nfill < MAX; nfill++) {
        snprintf(body, sizeof body, "fill-%d", nfill);
        rs_request rq = RS_REQUEST_INIT;
        rq.path = "/f";
        rq.route = "echo";
        rq.body = body;
        rq.body_len = BODY;
        if ((err = rs_submit(c, &rq, &t[nfill])) < 0)
            break;
    }
    if (err != RS_EAGAIN)
        DIE("fill ended with %s", rs_errname(err));
    int ncancel = 0;
    while (ncancel < 100000 && (err = rs_cancel(c, e)) == 0)
        ncancel++;
    if (err != RS_EAGAIN)
        DIE("cancel fill ended with %s", rs_errname(err));
    uint64_t t_abandon = now_ms();
    int abandoned = 0;
    for (int i = 0; i < k; i++)
        abandoned += rs_abandon(c, slow[i]) == 0;
    /* The waiter must hear of it now, while the sidecar is stopped and no
     * completion can wake it. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    bool joined = pthread_timedjoin_np(tw, NULL, &until) == 0;
    printf("full %d cancels %d abandoned %d waiter %s %llu\n", nfill, ncancel, abandoned,
           joined ? rs_errname(w.err) : "still-waiting", (unsigned long long)(joined ? w.ended_ms - t_abandon : 0));
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin))   /* the sidecar runs again */
        DIE("no go");
    if (!joined)
        pthread_join(tw, NULL);

    uint64_t t0 = now_ms();
    int fills_ok = 0;
    for (int i = 0; i < nfill; i++) {
        rs_response *r;
        char want[32];
        snprintf(want, sizeof want, "fill-%d", i);
        if (rs_wait(c, t[i], 30000, &r) == 0) {
            fills_ok += r->error == RS_OK && r->body_len == BODY && strcmp((const char *)r->body, want) == 0;
            rs_response_free(r);
        }
    }
    rs_response *er;
    if (rs_wait(c, e, 10000, &er) < 0 || er->error != RS_ECANCELLED)
        DIE("the request whose cancels filled the ring was not cancelled");
    rs_response_free(er);
    int surfaced = poll_until_all_completed(c, 20000);
    uint64_t ms = now_ms() - t0;
    rs_client_stats st;
    rs_client_get_stats(c, &st);
    printf("{\"mode\":\"abandonfull\",\"fills\":%d,\"fills_ok\":%d,\"abandoned\":%d,\"surfaced\":%d,"
           "\"ms_after_go\":%llu,\"submitted\":%llu,\"completed\":%llu}\n",
           nfill, fills_ok, abandoned, surfaced, (unsigned long long)ms, (unsigned long long)st.submitted,
           (unsigned long long)st.completed);
    rs_close(c);
    free(slow);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        DIE("usage: e2e_client MODE SOCK ... (see the file header)");
    const char *mode = argv[1];
    sock_path = argv[2];
    if (strcmp(mode, "load") == 0 && argc == 6)
        return mode_load(atoi(argv[3]), atoi(argv[4]), argv[5]);
    if (strcmp(mode, "spaced") == 0 && argc == 6)
        return mode_spaced(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (strcmp(mode, "claims") == 0 && argc == 5)
        return mode_claims(atoi(argv[3]), atoi(argv[4]));
    if (strcmp(mode, "big") == 0 && argc == 6)
        return mode_big(strtoull(argv[3], NULL, 10), argv[4], argv[5]);
    if (strcmp(mode, "hold") == 0 && argc == 5)
        mode_hold(atoi(argv[3]), atoi(argv[4]));
    if (strcmp(mode, "drain") == 0 && argc == 5)
        return mode_drain(atoi(argv[3]), atoi(argv[4]));
    if (strcmp(mode, "gone") == 0 && argc == 4)
        return mode_gone(atoi(argv[3]));
    if (strcmp(mode, "batch") == 0 && argc >= 8)
        return mode_batch(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), argv[7],
                          argc - 8, argv + 8);
    if (strcmp(mode, "stream") == 0 && argc >= 6)
        return mode_stream(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), argc - 6, argv + 6);
    if (strcmp(mode, "heldstream") == 0 && argc == 6)
        return mode_heldstream(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (strcmp(mode, "heldwait") == 0 && argc == 4)
        return mode_heldwait(atoi(argv[3]));
    if (strcmp(mode, "heldfull") == 0 && argc == 4)
        return mode_heldfull(atoi(argv[3]));
    if (strcmp(mode, "callbatch") == 0 && argc == 4)
        return mode_callbatch(atoi(argv[3]));
    if (strcmp(mode, "slicedbatch") == 0 && argc == 4)
        return mode_slicedbatch(atoi(argv[3]));
    if (strcmp(mode, "abandon") == 0 && argc == 6)
        return mode_abandon(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (strcmp(mode, "abandonfull") == 0 && argc == 4)
        return mode_abandonfull(atoi(argv[3]));
    if (strcmp(mode, "pollmany") == 0 && argc == 4)
        return mode_pollmany(atoi(argv[3]));
    if (strcmp(mode, "faults") == 0 && argc == 4)
        return mode_faults(atoi(argv[3]));
    if (strcmp(mode, "limits") == 0 && argc == 3)
        return mode_limits();
    if (strcmp(mode, "fill") == 0 && argc == 3)
        return mode_fill();
    DIE("bad arguments for mode %s", mode);
}
