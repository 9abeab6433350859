/*
 * shim.c — the SWIG-friendly layer over ringside.h (see shim.h for why it
 * exists and for the contract of each call): errors, the client, sliced
 * waits and requests; the batch object is in batch.c.
 *
 * Two mechanisms live here, shared by every language:
 *
 * Sliced waits. A blocking call is a loop of waits of at most SLICE_MS,
 * each run through the language's without_lock hook (the GIL/GVL is
 * released only while the thread really sleeps), with the language asked
 * between slices whether it wants the thread back. The slice bounds the
 * delay of Ctrl-C and Thread#raise, and of rsb_close in another thread; it
 * costs nothing on the fast path, because a wait returns as soon as its
 * answer is there.
 *
 * The client lock. rs_close must not race with other calls, but languages
 * with finalizers and threads make such races easy to write. Every call
 * holds c->lock for reading while it touches the rs_client; rsb_close takes
 * it for writing (writer-preferring, so closing is not starved by a busy
 * client) and then frees the rs_client. Readers never nest.
 *
 * Client logic stays in the library: a ticket given up on (a wait timed
 * out or interrupted, a stream closed early) goes to rs_abandon, which
 * cancels it and drops its chunks and answer as they come; a batch call is
 * an rs_batch run in slices like any other wait.
 */
#include "shim_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLICE_MS 100            /* longest uninterruptible piece of a wait */

/* ------------------------------------------------------------- errors */

_Thread_local int rsb__last_code;
static _Thread_local char last_detail[256];

void rsb__set_err(int code)
{
    rsb__last_code = code;
    last_detail[0] = '\0';
}

void rsb__set_errf(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_detail, sizeof last_detail, fmt, ap);
    va_end(ap);
    rsb__last_code = code;
}

int rsb_errcode(void)
{
    return rsb__last_code;
}

const char *rsb_errdetail(void)
{
    return last_detail;
}

const char *rsb_strerror(int code)
{
    if (code == RSB_EINTR)
        return "the wait was interrupted; the request is still in flight unless the call says otherwise";
    if (code == RSB_ECLOSED)
        return "this client was closed; create a new one";
    return rs_strerror(code);
}

const char *rsb_version(void)
{
    return rs_version();
}

const char *rsb_errname(int code)
{
    if (code == RSB_EINTR)
        return "RSB_EINTR";
    if (code == RSB_ECLOSED)
        return "RSB_ECLOSED";
    return rs_errname(code);
}

/* -------------------------------------------------------------- hooks */

static rsb_hooks hooks;

void rsb_set_hooks(const rsb_hooks *h)
{
    hooks = *h;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t rsb_monotonic_ns(void)
{
    return now_ns();
}

uint64_t rsb__deadline_after(int wait_ms)
{
    return wait_ms < 0 ? UINT64_MAX : now_ns() + (uint64_t)wait_ms * 1000000u;
}

/* Milliseconds left until deadline, rounded up; -1 for no deadline. */
static int ms_left(uint64_t deadline)
{
    if (deadline == UINT64_MAX)
        return -1;
    uint64_t now = now_ns();
    if (now >= deadline)
        return 0;
    uint64_t ms = (deadline - now + 999999u) / 1000000u;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* ------------------------------------------------------------- client */


rsb_client *rsb_connect(const char *socket_path)
{
    rsb_client *c = calloc(1, sizeof *c);
    if (!c) {
        rsb__set_err(RS_ENOMEM);
        return NULL;
    }
    int err = rs_connect(socket_path, &c->rc);
    if (err < 0) {
        rsb__set_errf(err, "%s", rs_last_error());
        free(c);
        return NULL;
    }
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&c->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    rsb__set_err(0);
    return c;
}

/* Take the read lock; fails (with the code set) on a closed client. */
bool rsb__enter(rsb_client *c)
{
    if (!c) {
        rsb__set_errf(RS_EINVAL, "no client");
        return false;
    }
    pthread_rwlock_rdlock(&c->lock);
    if (c->closed) {
        pthread_rwlock_unlock(&c->lock);
        rsb__set_err(RSB_ECLOSED);
        return false;
    }
    return true;
}

void rsb__leave(rsb_client *c)
{
    pthread_rwlock_unlock(&c->lock);
}

static void *close_work(void *arg)
{
    rsb_client *c = arg;
    pthread_rwlock_wrlock(&c->lock);
    if (!c->closed) {
        rs_close(c->rc);
        c->rc = NULL;
        c->closed = true;
    }
    pthread_rwlock_unlock(&c->lock);
    return NULL;
}

void rsb_close(rsb_client *c)
{
    if (!c)
        return;
    /* Waiting for the write lock can take a slice of another thread's
     * wait: do it without the interpreter lock. A language may skip the
     * work when it has an interrupt pending; closing must happen anyway. */
    bool done = false;
    if (hooks.without_lock) {
        hooks.without_lock(close_work, c);
        pthread_rwlock_rdlock(&c->lock);
        done = c->closed;
        pthread_rwlock_unlock(&c->lock);
    }
    if (!done)
        close_work(c);
}

void rsb_client_free(rsb_client *c)
{
    if (!c)
        return;
    /* A finalizer runs when no other reference exists, so no call can be
     * inside the client: close directly, without the hooks. */
    close_work(c);
    pthread_rwlock_destroy(&c->lock);
    free(c);
}

int rsb_closed(rsb_client *c)
{
    if (!c)
        return 1;
    pthread_rwlock_rdlock(&c->lock);
    int closed = c->closed;
    pthread_rwlock_unlock(&c->lock);
    return closed;
}

/* ------------------------------------------------------------ abandon */

void rsb_abandon(rsb_client *c, uint64_t ticket)
{
    if (!rsb__enter(c))
        return;
    rs_abandon(c->rc, ticket);   /* RS_ENOENT: it has ended and been taken; nothing to do */
    rsb__leave(c);
    rsb__set_err(0);
}

/* ------------------------------------------------------- sliced waits */


static void *job_run(void *arg)
{
    job *j = arg;
    j->ran = true;
    if (j->kind == J_PAUSE) {
        struct timespec ts = { 0, (long)j->slice_ms * 1000 };
        nanosleep(&ts, NULL);
        j->rc = RS_ETIMEDOUT;
        return NULL;
    }
    rsb_client *c = j->c;
    pthread_rwlock_rdlock(&c->lock);
    if (c->closed) {
        j->rc = RSB_ECLOSED;
    } else {
        int n;
        switch (j->kind) {
        case J_WAIT:
            j->rc = rs_wait(c->rc, j->t, j->slice_ms, &j->resp);
            break;
        case J_POLL:
            n = rs_poll(c->rc, &j->resp, 1, j->slice_ms);
            j->rc = n == 1 ? 0 : n == 0 ? RS_ETIMEDOUT : n;
            break;
        case J_CHUNK:
            n = rs_next_chunk(c->rc, j->t, j->slice_ms, &j->chunk);
            j->rc = n == 1 ? 0 : n == 0 ? J_END : n;
            break;
        case J_POLL_CHUNK:
            n = rs_poll_chunks(c->rc, &j->chunk, 1, j->slice_ms);
            j->rc = n == 1 ? 0 : n == 0 ? RS_ETIMEDOUT : n;
            break;
        case J_BATCH:
            n = rs_batch_run(j->batch, j->slice_ms);
            j->rc = n == 1 ? 0 : n == 0 ? RS_ETIMEDOUT : n;
            break;
        case J_PAUSE:
            break;
        }
    }
    pthread_rwlock_unlock(&c->lock);
    return NULL;
}

/* Run one slice of j, releasing the interpreter lock unless it is only a
 * look (0 ms): a look is cheaper than the lock's round trip. Returns false
 * if the language skipped it (an interrupt was pending). */
static bool run_slice(job *j)
{
    j->ran = false;
    if (j->slice_ms == 0 || !hooks.without_lock)
        job_run(j);
    else
        hooks.without_lock(job_run, j);
    return j->ran;
}

/* Slices of j until it gets an answer, fails, reaches deadline, or the
 * language interrupts. */
int rsb__run_until(job *j, uint64_t deadline)
{
    if (!j->c) {
        rsb__set_errf(RS_EINVAL, "no client");
        return RS_EINVAL;
    }
    for (;;) {
        int left = ms_left(deadline);
        j->slice_ms = left < 0 || left > SLICE_MS ? SLICE_MS : left;
        if (run_slice(j)) {
            if (j->rc != RS_ETIMEDOUT)
                return j->rc;
            if (left == 0 || now_ns() >= deadline)
                return RS_ETIMEDOUT;
        }
        /* A skipped slice may be only the scheduler's tick (Ruby's timer
         * interrupt): the hook handles that and says no. */
        if (hooks.interrupted && hooks.interrupted())
            return RSB_EINTR;
    }
}

/* Sleep us microseconds without the interpreter lock (a full ring's
 * back-off); RSB_EINTR if the language wants the thread back. */
static int pause_us(int us)
{
    job j = { .kind = J_PAUSE, .slice_ms = us };
    run_slice(&j);
    return hooks.interrupted && hooks.interrupted() ? RSB_EINTR : 0;
}

/* ------------------------------------------------------------ requests */


void rsb__hdrs_free(hdrs *hs)
{
    free(hs->text);
    if (hs->h != hs->inline_h)
        free(hs->h);
}

/* "Name: value" lines, '\n' or "\r\n" separated; blank lines are skipped.
 * Returns 0 or RS_EINVAL / RS_ENOMEM with the detail set. */
static int hdrs_parse(hdrs *hs, const char *text)
{
    hs->text = NULL;
    hs->h = hs->inline_h;
    hs->n = 0;
    if (!text || !text[0])
        return 0;
    size_t lines = 1;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    if (!(hs->text = strdup(text)))
        goto nomem;
    if (lines > sizeof hs->inline_h / sizeof hs->inline_h[0] &&
        !(hs->h = malloc(lines * sizeof *hs->h))) {
        hs->h = hs->inline_h;
        goto nomem;
    }
    for (char *line = hs->text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (!len)
            continue;
        char *colon = strchr(line, ':');
        if (!colon || colon == line) {
            rsb__set_errf(RS_EINVAL, "header line '%.80s' is not 'Name: value'", line);
            rsb__hdrs_free(hs);
            return RS_EINVAL;
        }
        *colon = '\0';
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        hs->h[hs->n++] = (rs_header){ .name = line, .value = value };
    }
    return 0;
nomem:
    rsb__hdrs_free(hs);
    rsb__set_err(RS_ENOMEM);
    return RS_ENOMEM;
}

int rsb__fill_request(rs_request *rq, hdrs *hs, RSB_REQUEST_PARAMS)
{
    if (!path || path[0] != '/') {
        rsb__set_errf(RS_EINVAL, "path must start with '/' (got '%.80s')", path ? path : "");
        return RS_EINVAL;
    }
    if (priority < RS_P0 || priority > RS_P2) {
        rsb__set_errf(RS_EINVAL, "priority must be 0, 1 or 2 (got %d)", priority);
        return RS_EINVAL;
    }
    if (timeout_ms < 0) {
        rsb__set_errf(RS_EINVAL, "timeout must not be negative (got %d ms)", timeout_ms);
        return RS_EINVAL;
    }
    int err = hdrs_parse(hs, headers);
    if (err)
        return err;
    *rq = (rs_request){
        .method = method, .path = path, .route = route, .model = model,
        .headers = hs->h, .nheaders = hs->n, .body = body_len ? body : NULL, .body_len = body_len,
        .priority = priority, .timeout_ms = (uint32_t)timeout_ms, .flags = flags,
    };
    return 0;
}

/* A refusal at submit: the client library says which limit, and its value. */
static void set_submit_err(int err)
{
    if (err == RS_EINVAL || err == RS_E2BIG)
        rsb__set_errf(err, "%s", rs_last_error());
    else
        rsb__set_err(err);
}

uint64_t rsb_submit(rsb_client *c, RSB_REQUEST_PARAMS)
{
    rs_request rq;
    hdrs hs;
    if (rsb__fill_request(&rq, &hs, method, path, route, model, headers, body, body_len, priority, timeout_ms, flags))
        return 0;
    rs_ticket t = 0;
    if (rsb__enter(c)) {
        int err = rs_submit(c->rc, &rq, &t);
        rsb__leave(c);
        set_submit_err(err);
    }
    rsb__hdrs_free(&hs);
    return t;
}

/* Submit rq; a full ring (or all slots taken) drains as answers arrive:
 * back off briefly and retry, without the interpreter lock, until
 * deadline. Returns 0 or the code. */
static int submit_until(rsb_client *c, const rs_request *rq, uint64_t deadline, rs_ticket *t)
{
    for (int backoff = 20;;) {
        if (!rsb__enter(c))
            return rsb__last_code;
        int err = rs_submit(c->rc, rq, t);
        rsb__leave(c);
        if (err != RS_EAGAIN && err != RS_ETOOMANY)
            return err;
        if (ms_left(deadline) == 0)
            return err;
        if ((err = pause_us(backoff)) != 0)
            return err;
        if (backoff < 2000)
            backoff *= 2;
    }
}

uint64_t rsb_submit_wait(rsb_client *c, RSB_REQUEST_PARAMS, int wait_ms)
{
    rs_request rq;
    hdrs hs;
    if (rsb__fill_request(&rq, &hs, method, path, route, model, headers, body, body_len, priority, timeout_ms, flags))
        return 0;
    rs_ticket t = 0;
    int err = submit_until(c, &rq, rsb__deadline_after(wait_ms), &t);
    rsb__hdrs_free(&hs);
    set_submit_err(err);
    return err ? 0 : t;
}

rs_response *rsb_call(rsb_client *c, RSB_REQUEST_PARAMS, int wait_ms)
{
    rs_request rq;
    hdrs hs;
    if (rsb__fill_request(&rq, &hs, method, path, route, model, headers, body, body_len, priority, timeout_ms, flags))
        return NULL;
    uint64_t deadline = rsb__deadline_after(wait_ms);
    rs_ticket t = 0;
    int err = submit_until(c, &rq, deadline, &t);
    rsb__hdrs_free(&hs);
    if (err) {
        set_submit_err(err);
        return NULL;
    }
    job j = { .c = c, .kind = J_WAIT, .t = t };
    err = rsb__run_until(&j, deadline);
    if (err == RS_ETIMEDOUT || err == RSB_EINTR)
        rsb_abandon(c, t);
    rsb__set_err(err);
    return err ? NULL : j.resp;
}

rs_response *rsb_wait(rsb_client *c, uint64_t ticket, int wait_ms)
{
    job j = { .c = c, .kind = J_WAIT, .t = ticket };
    int err = rsb__run_until(&j, rsb__deadline_after(wait_ms));
    rsb__set_err(err);
    return err ? NULL : j.resp;
}

rs_response *rsb_poll(rsb_client *c, int wait_ms)
{
    job j = { .c = c, .kind = J_POLL };
    int err = rsb__run_until(&j, rsb__deadline_after(wait_ms));
    rsb__set_err(err);
    return err ? NULL : j.resp;
}

rs_chunk *rsb_next_chunk(rsb_client *c, uint64_t ticket, int wait_ms)
{
    job j = { .c = c, .kind = J_CHUNK, .t = ticket };
    int err = rsb__run_until(&j, rsb__deadline_after(wait_ms));
    rsb__set_err(err == J_END ? 0 : err);
    return err ? NULL : j.chunk;
}

rs_chunk *rsb_poll_chunk(rsb_client *c, int wait_ms)
{
    job j = { .c = c, .kind = J_POLL_CHUNK };
    int err = rsb__run_until(&j, rsb__deadline_after(wait_ms));
    rsb__set_err(err);
    return err ? NULL : j.chunk;
}

int rsb_cancel(rsb_client *c, uint64_t ticket)
{
    if (!rsb__enter(c))
        return rsb__last_code;
    int err = rs_cancel(c->rc, ticket);
    rsb__leave(c);
    rsb__set_err(err);
    return err;
}

int rsb_event_fd(rsb_client *c)
{
    if (!rsb__enter(c))
        return rsb__last_code;
    int fd = rs_event_fd(c->rc);
    rsb__leave(c);
    rsb__set_err(fd < 0 ? fd : 0);
    return fd;
}

int rsb_arm_event_fd(rsb_client *c)
{
    if (!rsb__enter(c))
        return rsb__last_code;
    int r = rs_arm_event_fd(c->rc);
    rsb__leave(c);
    rsb__set_err(r < 0 ? r : 0);
    return r;
}

static const char stat_names[] = "submitted completed ring_full doorbells sleeps orphans stream_holds";

const char *rsb_stat_names(void)
{
    return stat_names;
}

uint64_t rsb_stat(rsb_client *c, const char *name)
{
    if (!name || !rsb__enter(c))
        return 0;
    rs_client_stats st;
    rs_client_get_stats(c->rc, &st);
    rsb__leave(c);
    rsb__set_err(0);
    static const struct { const char *name; size_t off; } field[] = {
        { "submitted", offsetof(rs_client_stats, submitted) },
        { "completed", offsetof(rs_client_stats, completed) },
        { "ring_full", offsetof(rs_client_stats, ring_full) },
        { "doorbells", offsetof(rs_client_stats, doorbells) },
        { "sleeps", offsetof(rs_client_stats, sleeps) },
        { "orphans", offsetof(rs_client_stats, orphans) },
        { "stream_holds", offsetof(rs_client_stats, stream_holds) },
    };
    for (size_t k = 0; k < sizeof field / sizeof field[0]; k++)
        if (strcmp(name, field[k].name) == 0)
            return *(const uint64_t *)(const void *)((const char *)&st + field[k].off);
    return 0;
}
