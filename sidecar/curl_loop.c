/*
 * curl_loop.c — libcurl's multi interface driven entirely by the daemon's
 * loop (curl_loop.h).
 *
 * libcurl tells us which sockets it wants watched (CURLMOPT_SOCKETFUNCTION)
 * and when it next needs a call on timeout (CURLMOPT_TIMERFUNCTION). We
 * turn each socket interest into a one-shot loop poll and the timer
 * into the loop's wait timeout; when a poll fires we hand the event to
 * curl_multi_socket_action() and re-arm if curl still wants the socket.
 * libcurl is never called from inside its own callbacks.
 *
 * A changed interest cancels the armed poll and arms a new one. A poll op is
 * "current" only while its socket's state points at it, so the completion of a
 * cancelled (or raced) poll is recognised and dropped; its memory is freed
 * only by that completion, never earlier. Cancelling promptly also matters
 * for another reason: a pending io_uring poll holds a reference to the
 * socket, so the connection would not really close until the poll ends.
 *
 * Connections are reused by the multi handle's pool (HTTP/1.1 keep-alive,
 * HTTP/2 multiplexing). Its sockets are counted, so that a transfer can skip
 * libcurl's search for an idle connection when none can exist
 * (upstream.c).
 */
#include "curl_loop.h"

#include "log.h"

#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct poll_op {
    sc_op op;
    sc_curl_loop *cl;
    int fd;
} poll_op;

struct sc_curl_sock {
    int what;           /* CURL_POLL_* curl wants, 0 = none */
    poll_op *armed;     /* the current poll, or NULL */
};

/* ------------------------------------------------------------- sockets */

static sc_curl_sock *sock_get(sc_curl_loop *cl, int fd)
{
    if ((size_t)fd >= cl->nsocks) {
        size_t n = cl->nsocks ? cl->nsocks : 64;
        while (n <= (size_t)fd)
            n *= 2;
        sc_curl_sock *s = realloc(cl->socks, n * sizeof *s);
        if (!s)
            return NULL;
        memset(s + cl->nsocks, 0, (n - cl->nsocks) * sizeof *s);
        cl->socks = s;
        cl->nsocks = n;
    }
    return &cl->socks[fd];
}

static void on_poll(sc_op *op, int res, uint32_t flags);

static void arm_poll(sc_curl_loop *cl, int fd, sc_curl_sock *s)
{
    poll_op *p = malloc(sizeof *p);
    if (!p) {
        sc_error("out of memory arming a poll on fd %d", fd);
        return;
    }
    p->op.fn = on_poll;
    p->cl = cl;
    cl->npolls++;
    p->fd = fd;
    unsigned mask = 0;
    if (s->what & CURL_POLL_IN)
        mask |= POLLIN;
    if (s->what & CURL_POLL_OUT)
        mask |= POLLOUT;
    sc_loop_poll(cl->loop, &p->op, fd, mask, false);
    s->armed = p;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    sc_curl_loop *cl = userp;
    sc_curl_sock *s = sock_get(cl, fd);
    if (!s)
        return -1;
    if (s->armed) {
        sc_loop_cancel(cl->loop, &s->armed->op);
        s->armed = NULL;
    }
    s->what = what == CURL_POLL_REMOVE ? 0 : what;
    if (s->what)
        arm_poll(cl, fd, s);
    else
        sc_loop_flush(cl->loop);   /* let the cancel release the socket now */
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    sc_curl_loop *cl = userp;
    cl->timer_at = timeout_ms < 0 ? UINT64_MAX : rs__now_ns() + (uint64_t)timeout_ms * 1000000u;
    return 0;
}

static void check_done(sc_curl_loop *cl)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(cl->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result;
        sc_curl_job *job = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&job);
        curl_multi_remove_handle(cl->multi, e);
        job->done(job, rc);
    }
}

static void on_poll(sc_op *op, int res, uint32_t flags)
{
    (void)flags;
    poll_op *p = container_of(op, poll_op, op);
    sc_curl_loop *cl = p->cl;
    int fd = p->fd;
    bool current = cl->multi && (size_t)fd < cl->nsocks && cl->socks[fd].armed == p;
    free(p);
    cl->npolls--;
    if (!current)
        return;
    cl->socks[fd].armed = NULL;

    int ev = 0;
    if (res < 0)
        ev = CURL_CSELECT_ERR;
    else {
        if (res & POLLIN)
            ev |= CURL_CSELECT_IN;
        if (res & POLLOUT)
            ev |= CURL_CSELECT_OUT;
        if (res & (POLLERR | POLLHUP))
            ev |= CURL_CSELECT_ERR;
    }
    int running;
    curl_multi_socket_action(cl->multi, fd, ev, &running);
    check_done(cl);
    /* still wanted and not re-armed by a socket callback meanwhile */
    sc_curl_sock *s = &cl->socks[fd];
    if (s->what && !s->armed)
        arm_poll(cl, fd, s);
}

void sc_curl_loop_on_time(sc_curl_loop *cl, uint64_t now)
{
    if (now < cl->timer_at)
        return;
    cl->timer_at = UINT64_MAX;
    int running;
    curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(cl);
}

/* ---------------------------------------------------------- transfers */

static curl_socket_t on_open_socket(void *userp, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    sc_curl_loop *cl = userp;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    cl->nconns++;
    return fd;
}

static int on_close_socket(void *userp, curl_socket_t fd)
{
    sc_curl_loop *cl = userp;
    cl->nconns--;
    return close(fd);
}

void sc_curl_loop_prepare(sc_curl_loop *cl, CURL *e)
{
    /* a new connection resumes a TLS session any earlier transfer made,
     * and no transfer allocates a session cache of its own */
    curl_easy_setopt(e, CURLOPT_SHARE, cl->share);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, cl);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, cl);
}

int sc_curl_loop_add(sc_curl_loop *cl, CURL *easy)
{
    return curl_multi_add_handle(cl->multi, easy) == CURLM_OK ? 0 : -1;
}

void sc_curl_loop_remove(sc_curl_loop *cl, CURL *easy)
{
    if (cl->multi)
        curl_multi_remove_handle(cl->multi, easy);
}

/* ---------------------------------------------------------------- setup */

int sc_curl_loop_init(sc_curl_loop *cl, sc_loop *loop, long max_host_conns)
{
    memset(cl, 0, sizeof *cl);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    cl->loop = loop;
    cl->timer_at = UINT64_MAX;
    cl->multi = curl_multi_init();
    cl->share = curl_share_init();
    if (!cl->multi || !cl->share ||
        curl_share_setopt(cl->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        curl_multi_cleanup(cl->multi);
        curl_share_cleanup(cl->share);
        curl_global_cleanup();
        return -1;
    }
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    /* as many streams on an HTTP/2 connection as the server allows (libcurl
     * stops at 100 by default, and past a full connection it opens one per
     * transfer, not one per 100) */
    curl_multi_setopt(cl->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 1000L);
    /* no cap: a full cache is searched for its oldest idle connection at
     * every transfer's end; upstream.c bounds the idle ones instead */
    curl_multi_setopt(cl->multi, CURLMOPT_MAXCONNECTS, 0L);
    curl_multi_setopt(cl->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_conns);
    return 0;
}

void sc_curl_loop_destroy(sc_curl_loop *cl)
{
    if (!cl->multi)
        return;
    curl_multi_cleanup(cl->multi);   /* its socket callbacks cancel our polls */
    cl->multi = NULL;
    /* a poll op's memory is ours until its completion comes back */
    for (int i = 0; i < 200 && cl->npolls; i++) {
        sc_loop_wait(cl->loop, 10000000u);
        sc_loop_reap(cl->loop, UINT_MAX);
    }
    curl_share_cleanup(cl->share);
    free(cl->socks);
    cl->socks = NULL;
    curl_global_cleanup();
}
