/*
 * chaos_client.c — many features of the client at once, in random order,
 * against the real sidecar and the real mock upstream.
 *
 *   chaos_client SOCK THREADS SECONDS SEED [die]
 *
 * THREADS threads share one client (and now and then open one of their
 * own) and, until SECONDS have passed, each picks an operation at random
 * from a seeded generator: plain calls with faults injected by the mock
 * (5xx, 429, delays, resets), echo calls of 0..300 KiB, streams read to
 * the end / cancelled midway / waited for after reading some or none /
 * left unread while other calls go by, waits that time out and are waited
 * again, batches (whole, or run in slices and sometimes dropped midway),
 * tickets abandoned (some while being read), rs_poll on a private client,
 * clients that close with requests in flight. Each operation checks what
 * it got: every ticket ends exactly once, an answer is the one for its
 * request, a stream's chunks are in order and complete unless it ended
 * with an error that says otherwise. At the end the shared client must
 * have no orphan completions and as many completions as submissions, and
 * rs_poll must find nothing there (abandoned answers are dropped).
 *
 * With "die", the test stops the sidecar midway (SIGKILL, or SIGTERM and
 * its drain): from then on RS_ESHUTDOWN (refused while draining), RS_EGONE
 * and RS_ECONNECT (a new client) are the answers allowed in place of a
 * result; every thread stops at its first RS_EGONE or RS_ECONNECT, and the
 * run ends when all have (SECONDS is only a cap). A wait that missed the
 * death would end with RS_ETIMEDOUT instead, 30 s later: a failure.
 *
 * Prints one JSON line: operations run per kind and failures; exits 1 on
 * any failure (each is described on stderr).
 */
#include "ringside.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DIE(...) do { fprintf(stderr, "chaos_client: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

enum op { OP_CALL, OP_ECHO, OP_STREAM, OP_STREAM_CANCEL, OP_STREAM_WAIT, OP_STREAM_HELD, OP_WAIT_AGAIN,
          OP_BATCH, OP_BATCH_SLICED, OP_ABANDON, OP_POLL, OP_CLOSE_BUSY, OP_COUNT };
static const char *const op_name[OP_COUNT] = { "call", "echo", "stream", "stream_cancel", "stream_wait",
                                               "stream_held", "wait_again", "batch", "batch_sliced",
                                               "abandon", "poll", "close_busy" };

static const char *sock_path;
static rs_client *shared;
static uint64_t end_ms;
static atomic_ulong ops[OP_COUNT];
static atomic_int failures;
static bool death_expected;   /* "die" */
static atomic_bool gone;      /* and it happened */

#define FAIL(...) do { fprintf(stderr, "chaos_client: " __VA_ARGS__); fputc('\n', stderr); \
                       atomic_fetch_add(&failures, 1); } while (0)

/* err is the sidecar going away, and that is expected: note it, no failure. */
static bool died(int err)
{
    if (!death_expected || (err != RS_EGONE && err != RS_ECONNECT && err != RS_ESHUTDOWN))
        return false;
    if (err != RS_ESHUTDOWN)
        atomic_store(&gone, true);
    return true;
}

/* FAIL unless err is 0 or an expected death. */
#define CHECK(err, ...) do { if ((err) < 0 && !died(err)) FAIL(__VA_ARGS__); } while (0)

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef struct rng { uint64_t s; } rng;

static uint64_t next(rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static uint32_t below(rng *r, uint32_t n)
{
    return (uint32_t)(next(r) % n);
}

/* A client of our own, or NULL once the sidecar is gone (as expected). */
static rs_client *connect_or_die(void)
{
    rs_client *c;
    int err = rs_connect(sock_path, &c);
    if (err < 0 && died(err))
        return NULL;
    if (err < 0)
        DIE("rs_connect: %s: %s", rs_errname(err), rs_last_error());
    return c;
}

/* ------------------------------------------------------------ requests */

/* A chat request to the mock, tagged with id (the mock quotes it) and
 * carrying up to two control headers. */
typedef struct chat {
    rs_request rq;
    rs_header h[3];
    char id[48], body[160], v1[24], v2[24];
    bool may_fail;   /* a fault was injected: it may end with an error */
} chat;

static void chat_init(chat *ch, const char *id)
{
    memset(ch, 0, sizeof *ch);
    snprintf(ch->id, sizeof ch->id, "%s", id);
    snprintf(ch->body, sizeof ch->body, "{\"model\":\"deepseek-chat\",\"messages\":[]}");
    ch->h[0] = (rs_header){ "x-request-id", ch->id };
    ch->rq = (rs_request)RS_REQUEST_INIT;
    ch->rq.path = "/chat/completions";
    ch->rq.headers = ch->h;
    ch->rq.nheaders = 1;
    ch->rq.body = ch->body;
    ch->rq.body_len = strlen(ch->body);
    ch->rq.timeout_ms = 30000;
}

static void chat_header(chat *ch, const char *name, char *vbuf, size_t vlen, unsigned long v)
{
    snprintf(vbuf, vlen, "%lu", v);
    ch->h[ch->rq.nheaders++] = (rs_header){ name, vbuf };
}

/* A random fault (a delay is not one), or none. */
static void chat_fault(chat *ch, rng *r)
{
    uint32_t k = below(r, 8);
    if (k == 0)
        chat_header(ch, "x-mock-status", ch->v1, sizeof ch->v1, 500 + below(r, 4));
    if (k == 1) {
        chat_header(ch, "x-mock-status", ch->v1, sizeof ch->v1, 429);
        chat_header(ch, "x-mock-retry-after", ch->v2, sizeof ch->v2, 0);
    }
    if (k == 2)
        chat_header(ch, "x-mock-delay-ms", ch->v1, sizeof ch->v1, below(r, 60));
    if (k == 3)
        chat_header(ch, "x-mock-reset-after", ch->v1, sizeof ch->v1, below(r, 100));
    ch->may_fail = k == 0 || k == 1 || k == 3;
}

/* The end of a chat request: a success must be this request's answer; a
 * request without a fault must succeed; one with a fault may end with an
 * upstream error, never with one that says the channel or ringside broke. */
static void check_chat(const chat *ch, const rs_response *r)
{
    if (r->error == RS_OK && (r->status != 200 || !strstr((const char *)r->body, ch->id)))
        FAIL("%s: RS_OK with status %d and a body that is not its own: %.120s", ch->id, r->status,
             (const char *)r->body);
    bool upstream_error = r->error == RS_EUPSTREAM || r->error == RS_ECONNUP || r->error == RS_ERATELIMITED;
    if (r->error != RS_OK && !(ch->may_fail && upstream_error) && !died(r->error))
        FAIL("%s: ended with %s (%s)%s", ch->id, rs_errname(r->error), r->error_msg,
             ch->may_fail ? "" : " without a fault injected");
}

/* ------------------------------------------------------------------ ops */

static void op_call(rs_client *c, rng *r, const char *id)
{
    chat ch;
    chat_init(&ch, id);
    chat_fault(&ch, r);
    rs_response *resp;
    int err = rs_call(c, &ch.rq, 30000, &resp);
    CHECK(err, "%s: rs_call: %s", id, rs_errname(err));
    if (err < 0)
        return;
    check_chat(&ch, resp);
    rs_response_free(resp);
}

static void op_echo(rs_client *c, rng *r, const char *id)
{
    size_t n = below(r, 4) ? below(r, 2000) : below(r, 300 * 1024);
    uint8_t *body = malloc(n + 1);
    if (!body)
        DIE("out of memory");
    uint64_t seed = next(r);
    for (size_t k = 0; k < n; k++)
        body[k] = (uint8_t)((seed >> (k % 57)) + k);
    rs_request rq = RS_REQUEST_INIT;
    rq.path = "/echo";
    rq.route = "echo";
    rq.body = body;
    rq.body_len = n;
    rs_response *resp;
    int err = rs_call(c, &rq, 30000, &resp);
    CHECK(err, "%s: echo rs_call: %s", id, rs_errname(err));
    if (err == 0 && (resp->error != RS_OK || resp->body_len != n || memcmp(resp->body, body, n) != 0) &&
        !died(resp->error))
        FAIL("%s: echo of %zu bytes came back as %s, %zu bytes", id, n, rs_errname(resp->error), resp->body_len);
    if (err == 0)
        rs_response_free(resp);
    free(body);
}

/* What to do after stop_at chunks (0: read them all). */
enum at_stop { CANCEL_AND_READ_ON, STOP_READING };

/* Read a stream's chunks; returns how many were read, -1 after a failure. */
static int read_chunks(rs_client *c, rs_ticket t, const char *id, int stop_at, enum at_stop then)
{
    int got = 0, err;
    rs_chunk *ck;
    while ((err = rs_next_chunk(c, t, 30000, &ck)) == 1) {
        char want[32];
        snprintf(want, sizeof want, "\"tok%d \"", got);
        bool ok = ck->seq == (uint64_t)got &&
                  (strcmp((const char *)ck->data, "[DONE]") == 0 || strstr((const char *)ck->data, want));
        rs_chunk_free(ck);
        if (!ok) {
            FAIL("%s: chunk %d out of order or not its own", id, got);
            return -1;
        }
        if (++got == stop_at && then == STOP_READING)
            break;
        int cerr = got == stop_at ? rs_cancel(c, t) : 0;
        CHECK(cerr, "%s: rs_cancel: %s", id, rs_errname(cerr));
        if (cerr < 0)
            return -1;
    }
    CHECK(err, "%s: rs_next_chunk: %s after %d chunks", id, rs_errname(err), got);
    if (err < 0)
        return -1;
    return got;
}

static int submit_stream(rs_client *c, rng *r, chat *ch, int n, rs_ticket *t)
{
    chat_header(ch, "x-mock-stream", ch->v1, sizeof ch->v1, (unsigned long)n);
    if (below(r, 5) == 0)   /* broken midway */
        chat_header(ch, "x-mock-reset-after", ch->v2, sizeof ch->v2, below(r, 200u * (unsigned)n + 1));
    ch->rq.flags = RS_REQ_STREAM;
    int err = rs_submit(c, &ch->rq, t);
    if (err != RS_EAGAIN)
        CHECK(err, "%s: stream submit: %s", ch->id, rs_errname(err));
    return err;
}

/* How a stream of n events may end; got: the chunks it delivered, or -1
 * when they were not all read. */
static void check_stream_end(rs_client *c, rs_ticket t, const char *id, int n, int got, bool cancelled)
{
    rs_response *resp;
    int err = rs_wait(c, t, 30000, &resp);
    CHECK(err, "%s: stream rs_wait: %s", id, rs_errname(err));
    if (err < 0)
        return;
    /* broken midway: interrupted after content, or (retried, and broken
     * each time) before it */
    bool ok = resp->error == RS_OK ? got < 0 || got == n + 1
            : resp->error == RS_EINTERRUPTED || resp->error == RS_ECONNUP ||
              (cancelled && resp->error == RS_ECANCELLED);
    if (!ok && !died(resp->error))
        FAIL("%s: stream of %d ended %s (%s) after %d chunks", id, n, rs_errname(resp->error),
             resp->error_msg, got);
    rs_response_free(resp);
}

static void op_stream(rs_client *c, rng *r, const char *id, enum op kind)
{
    chat ch;
    chat_init(&ch, id);
    int n = (int)(below(r, 3) ? below(r, 300) : below(r, 5000));
    rs_ticket t;
    if (submit_stream(c, r, &ch, n, &t) < 0)
        return;
    int got = -1;   /* not all read */
    if (kind == OP_STREAM_HELD)
        for (int k = 0; k < 5; k++)   /* calls while the stream goes unread */
            op_call(c, r, id);
    if (kind == OP_STREAM || kind == OP_STREAM_HELD)
        got = read_chunks(c, t, id, 0, STOP_READING);
    else if (kind == OP_STREAM_CANCEL)
        read_chunks(c, t, id, 1 + (int)below(r, (uint32_t)n + 1), CANCEL_AND_READ_ON);
    else if (below(r, 2))   /* OP_STREAM_WAIT: read some (or none), then only wait */
        read_chunks(c, t, id, 1 + (int)below(r, (uint32_t)n + 1), STOP_READING);
    check_stream_end(c, t, id, n, got, kind == OP_STREAM_CANCEL);
}

static void op_wait_again(rs_client *c, rng *r, const char *id)
{
    chat ch;
    chat_init(&ch, id);
    chat_header(&ch, "x-mock-delay-ms", ch.v1, sizeof ch.v1, 100 + below(r, 100));
    rs_ticket t;
    int err = rs_submit(c, &ch.rq, &t);
    if (err == RS_EAGAIN)
        return;
    CHECK(err, "%s: submit: %s", id, rs_errname(err));
    if (err < 0)
        return;
    rs_response *resp;
    if ((err = rs_wait(c, t, 1, &resp)) != RS_ETIMEDOUT) {
        /* only a sidecar going away ends it that soon (RS_ESHUTDOWN: refused) */
        if (!died(err) && !(err == 0 && died(resp->error)))
            FAIL("%s: a 1 ms wait on a 100 ms request returned %s (%s)", id, rs_errname(err),
                 err == 0 ? rs_errname(resp->error) : "no response");
        if (err == 0)
            rs_response_free(resp);
        return;
    }
    err = rs_wait(c, t, 30000, &resp);
    CHECK(err, "%s: second wait: %s", id, rs_errname(err));
    if (err < 0)
        return;
    check_chat(&ch, resp);   /* no fault injected: RS_OK or (expected) RS_EGONE */
    rs_response_free(resp);
}

static void op_batch(rs_client *c, rng *r, const char *id)
{
    enum { N = 8 };
    chat ch[N];
    rs_request rqs[N];
    for (int i = 0; i < N; i++) {
        char sub[sizeof ch[i].id];
        snprintf(sub, sizeof sub, "%.40s.%d", id, i);
        chat_init(&ch[i], sub);
        if (i % 2) {   /* echo items carry their id as the body */
            ch[i].rq.route = "echo";
            ch[i].rq.body = ch[i].id;
            ch[i].rq.body_len = strlen(ch[i].id);
        } else {
            chat_fault(&ch[i], r);
        }
        rqs[i] = ch[i].rq;
    }
    rs_response *out[N];
    if (rs_call_batch(c, rqs, N, 30000, out) != 0) {
        FAIL("%s: rs_call_batch failed", id);
        return;
    }
    for (int i = 0; i < N; i++) {
        if (out[i]->error != RS_EAGAIN)   /* refused at submit (ring full) is an answer too */
            check_chat(&ch[i], out[i]);
        rs_response_free(out[i]);
    }
}

/* Eight requests as an rs_batch run in 1-3 ms slices; one time in four
 * it is dropped after a few slices (its items in flight are abandoned). */
static void op_batch_sliced(rs_client *c, rng *r, const char *id)
{
    enum { N = 8 };
    chat ch[N];
    rs_request rqs[N];
    for (int i = 0; i < N; i++) {
        char sub[sizeof ch[i].id];
        snprintf(sub, sizeof sub, "%.40s.%d", id, i);
        chat_init(&ch[i], sub);
        if (i % 2) {
            ch[i].rq.route = "echo";
            ch[i].rq.body = ch[i].id;
            ch[i].rq.body_len = strlen(ch[i].id);
        } else {
            chat_fault(&ch[i], r);
        }
        rqs[i] = ch[i].rq;
    }
    rs_batch *b;
    int err = rs_batch_new(c, rqs, N, &b);
    CHECK(err, "%s: rs_batch_new: %s", id, rs_errname(err));
    if (err < 0)
        return;
    int slices = below(r, 4) ? INT32_MAX : 1 + (int)below(r, 5), run = 0;
    uint64_t give_up = now_ms() + 30000;
    for (int k = 0; k < slices && (run = rs_batch_run(b, 1 + (int)below(r, 3))) == 0 && now_ms() < give_up; k++)
        ;
    CHECK(run, "%s: rs_batch_run: %s", id, rs_errname(run));
    if (run == 0 && slices == INT32_MAX)
        FAIL("%s: a sliced batch did not end in 30 s", id);
    for (int i = 0; i < N; i++) {
        rs_response *resp = rs_batch_take(b, i);
        if (!resp) {
            if (run == 1)
                FAIL("%s: item %d has no answer after the batch ended", id, i);
            continue;
        }
        check_chat(&ch[i], resp);
        rs_response_free(resp);
    }
    rs_batch_free(b);
}

/* A slow request or a stream, given up on: sometimes at once, sometimes
 * while another thread is reading its chunks (that reader must come back
 * with RS_ENOENT, and nothing of the ticket may surface anywhere). */
struct reader { rs_client *c; rs_ticket t; int err; };

static void *read_until_end(void *p)
{
    struct reader *a = p;
    rs_chunk *ck;
    while ((a->err = rs_next_chunk(a->c, a->t, 30000, &ck)) == 1)
        rs_chunk_free(ck);
    return NULL;
}

static void op_abandon(rs_client *c, rng *r, const char *id)
{
    chat ch;
    chat_init(&ch, id);
    rs_ticket t;
    bool stream = below(r, 2);
    int err;
    if (stream) {
        if ((err = submit_stream(c, r, &ch, 200 + (int)below(r, 5000), &t)) < 0)
            return;
    } else {
        chat_header(&ch, "x-mock-delay-ms", ch.v1, sizeof ch.v1, below(r, 300));
        if ((err = rs_submit(c, &ch.rq, &t)) == RS_EAGAIN)
            return;
        CHECK(err, "%s: submit: %s", id, rs_errname(err));
        if (err < 0)
            return;
    }
    struct reader rd = { c, t, 1 };
    pthread_t th;
    bool reading = below(r, 2);
    if (reading)
        pthread_create(&th, NULL, read_until_end, &rd);
    usleep(below(r, 20000));
    if ((err = rs_abandon(c, t)) != 0)
        FAIL("%s: rs_abandon: %s", id, rs_errname(err));
    if (reading) {
        pthread_join(th, NULL);
        /* 0: the stream had ended before; RS_ENOENT: told it was abandoned */
        if (rd.err != 0 && rd.err != RS_ENOENT && !died(rd.err))
            FAIL("%s: a reader of an abandoned ticket got %s", id, rs_errname(rd.err));
    }
    rs_response *resp;
    if ((err = rs_wait(c, t, 0, &resp)) != RS_ENOENT) {
        FAIL("%s: rs_wait on an abandoned ticket: %s", id, rs_errname(err));
        if (err == 0)
            rs_response_free(resp);
    }
}

/* rs_poll takes any finished ticket of its client: on a private one. */
static void op_poll(rng *r, const char *id)
{
    rs_client *c = connect_or_die();
    if (!c)
        return;
    enum { N = 16 };
    rs_ticket t[N];
    bool seen[N] = { false };
    int n = 1 + (int)below(r, N);
    for (int i = 0; i < n; i++) {
        rs_request rq = RS_REQUEST_INIT;
        rq.path = "/e";
        rq.route = "echo";
        rq.body = &t[i];   /* anything; checked by ticket */
        rq.body_len = 0;
        int err = rs_submit(c, &rq, &t[i]);
        CHECK(err, "%s: poll submit: %s", id, rs_errname(err));
        if (err < 0) {
            rs_close(c);
            return;
        }
    }
    uint64_t give_up = now_ms() + 30000;
    int left = n;
    while (left > 0 && now_ms() < give_up) {
        rs_response *out[N];
        int k = rs_poll(c, out, N, 1000);
        for (int j = 0; j < k; j++) {
            int i = 0;
            while (i < n && t[i] != out[j]->ticket)
                i++;
            if (i == n || seen[i])
                FAIL("%s: rs_poll returned an unknown or repeated ticket", id);
            else
                seen[i] = true, left--;
            rs_response_free(out[j]);
        }
        CHECK(k, "%s: rs_poll: %s", id, rs_errname(k));
        if (k < 0)
            break;
    }
    if (left && !atomic_load(&gone))
        FAIL("%s: %d of %d tickets never polled", id, left, n);
    rs_close(c);
}

/* A client that goes away with requests in flight (slow, streaming). */
static void op_close_busy(rng *r, const char *id)
{
    rs_client *c = connect_or_die();
    if (!c)
        return;
    chat ch[2];
    chat_init(&ch[0], id);
    chat_header(&ch[0], "x-mock-delay-ms", ch[0].v1, sizeof ch[0].v1, 50 + below(r, 200));
    chat_init(&ch[1], id);
    rs_ticket t[2];
    rs_submit(c, &ch[0].rq, &t[0]);
    submit_stream(c, r, &ch[1], 100000, &t[1]);
    usleep(below(r, 20000));
    rs_close(c);
}

/* -------------------------------------------------------------- threads */

static void *worker(void *p)
{
    rng r = { (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull | 1 };
    for (unsigned long k = 0; now_ms() < end_ms && !atomic_load(&gone); k++) {
        char id[48];
        snprintf(id, sizeof id, "w%lu-%lu", (unsigned long)((uintptr_t)p & 0xff), k);
        enum op o = (enum op)below(&r, OP_COUNT);
        uint64_t t0 = now_ms();
        switch (o) {
        case OP_CALL: op_call(shared, &r, id); break;
        case OP_ECHO: op_echo(shared, &r, id); break;
        case OP_STREAM:
        case OP_STREAM_CANCEL:
        case OP_STREAM_WAIT:
        case OP_STREAM_HELD: op_stream(shared, &r, id, o); break;
        case OP_WAIT_AGAIN: op_wait_again(shared, &r, id); break;
        case OP_BATCH: op_batch(shared, &r, id); break;
        case OP_BATCH_SLICED: op_batch_sliced(shared, &r, id); break;
        case OP_ABANDON: op_abandon(shared, &r, id); break;
        case OP_POLL: op_poll(&r, id); break;
        default: op_close_busy(&r, id); break;
        }
        atomic_fetch_add(&ops[o], 1);
        if (now_ms() - t0 > 2000)   /* not a failure by itself; says where time went */
            fprintf(stderr, "chaos_client: %s: %s took %llu ms\n", id, op_name[o],
                    (unsigned long long)(now_ms() - t0));
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5 && !(argc == 6 && strcmp(argv[5], "die") == 0))
        DIE("usage: chaos_client SOCK THREADS SECONDS SEED [die]");
    death_expected = argc == 6;
    sock_path = argv[1];
    int threads = atoi(argv[2]);
    uint64_t seed = strtoull(argv[4], NULL, 10);
    if (threads < 1 || threads > 32)
        DIE("threads must be 1..32");
    shared = connect_or_die();
    end_ms = now_ms() + (uint64_t)atoi(argv[3]) * 1000u;
    pthread_t th[32];
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(seed * 1000u + (uint64_t)i + 1));
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);

    /* Nobody polls the shared client: what is left there is the answers
     * of abandoned tickets still on their way, to be dropped as they come. */
    rs_client_stats st;
    for (uint64_t give_up = now_ms() + 10000;;) {
        rs_client_get_stats(shared, &st);
        if (st.completed == st.submitted || atomic_load(&gone) || now_ms() >= give_up)
            break;
        rs_response *resp;
        if (rs_poll(shared, &resp, 1, 50) == 1) {
            FAIL("rs_poll found ticket %llx (%s) that nobody claimed", (unsigned long long)resp->ticket,
                 rs_errname(resp->error));
            rs_response_free(resp);
        }
    }
    if (st.orphans)
        FAIL("%llu orphan completions", (unsigned long long)st.orphans);
    if (st.completed != st.submitted && !atomic_load(&gone))   /* a death leaves tickets unanswered */
        FAIL("%llu submitted but %llu completed", (unsigned long long)st.submitted,
             (unsigned long long)st.completed);
    if (death_expected && !atomic_load(&gone))
        FAIL("the sidecar was to be killed, but every call went on working");
    rs_close(shared);

    printf("{\"mode\":\"chaos\",\"seed\":%llu,\"threads\":%d,", (unsigned long long)seed, threads);
    for (int o = 0; o < OP_COUNT; o++)
        printf("\"%s\":%lu,", op_name[o], atomic_load(&ops[o]));
    printf("\"submitted\":%llu,\"stream_holds\":%llu,\"gone\":%s,\"failures\":%d}\n",
           (unsigned long long)st.submitted, (unsigned long long)st.stream_holds,
           atomic_load(&gone) ? "true" : "false", atomic_load(&failures));
    return atomic_load(&failures) ? 1 : 0;
}
