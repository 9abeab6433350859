/*
 * daemon.c — the loop body of ringsided and its life cycle.
 *
 * Each turn: run the callbacks of a bounded number of finished loop ops
 * (curl sockets, doorbells, accepts, signals), fire libcurl's timer, drain
 * every client's submission ring (a bounded number of records each, so one
 * busy client cannot starve the others), start a bounded number of
 * attempts, write queued completions, submit new SQEs. Every bound is there
 * so that answers already earned reach their clients within a turn, even
 * with thousands of transfers in flight.
 *
 * Idle policy: after the last work the loop may keep polling the rings for
 * spin_us without any syscall, because on a busy channel the next record is
 * less than a microsecond away — but only while work comes that close
 * together (core/proto/spin.h): a caller whose records are farther apart
 * would pay for the spin in CPU and gain nothing. Then it sets
 * NEED_WAKEUP in every submission ring, looks once more, and sleeps in the
 * loop (io_uring_enter, or epoll_wait) until a completion (a doorbell, a
 * socket, a signal) or the next timer. With spin_us 0 the loop goes to
 * sleep straight after the turn that did the work.
 *
 * SIGTERM/SIGINT: stop accepting clients, let in-flight requests finish for
 * grace_ms, answer new ones with RS_ESHUTDOWN, then answer whatever is left
 * with RS_ESHUTDOWN, flush completions (bounded), and exit. A second signal
 * skips the grace period.
 */
#include "daemon.h"

#include "alerts.h"
#include "emergency.h"
#include "notify.h"
#include "side.h"
#include "admin.h"
#include "frontdoor.h"
#include "admission.h"
#include "clients.h"
#include "intake.h"
#include "log.h"
#include "outbox.h"
#include "ringside.h"
#include "upstream.h"
#include "watch.h"
#include "spin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <time.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define DRAIN_BUDGET 1024u           /* records per client per turn */
/* Completions handled per turn (each may run libcurl on a socket and end
 * a transfer): a bound on the time between an answer being ready and
 * its client having it, when thousands of transfers are in flight. */
#define REAP_BUDGET 64u
#define FLUSH_LIMIT_NS 2000000000u   /* after the grace period */

/* ---------------------------------------------------------------- signals */

static void begin_drain(sc_daemon *d, const char *why)
{
    uint64_t now = rs__now_ns();
    if (d->state == SC_RUNNING) {
        d->state = SC_DRAINING;
        d->drain_deadline = now + (uint64_t)d->cfg.grace_ms * 1000000u;
        sc_clients_stop_listening(d);
        sc_timeline_add(&d->timeline, false, "drain", "",
                        "%s: draining for up to %u ms (no new clients; new requests get RS_ESHUTDOWN)", why,
                        d->cfg.grace_ms);
    } else {
        d->drain_deadline = now;   /* asked twice: stop waiting */
        sc_info("%s again: ending the grace period now", why);
    }
}

static void arm_signals(sc_daemon *d);
static void reload(sc_daemon *d);

/* Every counter the sidecar keeps, in one log line: on SIGUSR1 and at exit
 * (the metrics endpoint will serve them too). */
static void log_stats(sc_daemon *d, const char *when)
{
    char routes[1024];
    int n = 0;
    routes[0] = 0;
    for (unsigned i = 0; i < d->adm.routes.n && n < (int)sizeof routes - 160; i++) {
        const sc_route *r = d->adm.routes.r[i];
        n += snprintf(routes + n, sizeof routes - (size_t)n,
                      "; route '%s': %llu attempts, %llu ok, %llu failed, %llu rate-limited, %llu slow",
                      r->cfg.name, (unsigned long long)r->stats.attempts, (unsigned long long)r->stats.ok,
                      (unsigned long long)r->stats.failed, (unsigned long long)r->stats.rate_limited,
                      (unsigned long long)r->stats.slow);
    }
    const sc_admission *a = &d->adm;
    sc_info("stats (%s): %llu requests, %llu completions, %llu bad records, %llu corrupt rings; "
            "clients: %llu accepted, %llu refused, %llu gone, %u connected; "
            "%llu admitted, %llu queue full, %llu shed, %llu past their deadline, %llu retries, "
            "%llu retries refused by the budget%s",
            when, (unsigned long long)d->stats.requests, (unsigned long long)d->stats.completions,
            (unsigned long long)d->stats.bad_records, (unsigned long long)d->stats.corrupt_rings,
            (unsigned long long)d->stats.clients_accepted, (unsigned long long)d->stats.clients_refused,
            (unsigned long long)d->stats.clients_gone, d->nclients, (unsigned long long)a->stats.admitted,
            (unsigned long long)a->stats.queue_full, (unsigned long long)a->stats.shed,
            (unsigned long long)a->stats.expired, (unsigned long long)a->stats.retries,
            (unsigned long long)a->stats.budget_denied, routes);
}

static void on_signal(sc_op *op, int res, uint32_t flags)
{
    (void)flags;
    sc_daemon *d = container_of(op, sc_daemon, sig_op);
    if (res == (int)sizeof(struct signalfd_siginfo)) {
        struct signalfd_siginfo si;
        memcpy(&si, d->sig_buf, sizeof si);
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            begin_drain(d, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        else if (si.ssi_signo == SIGHUP)
            reload(d);
        else if (si.ssi_signo == SIGUSR1)
            log_stats(d, "SIGUSR1");
    }
    if (res != -ECANCELED)
        arm_signals(d);
}

static void arm_signals(sc_daemon *d)
{
    d->sig_op.fn = on_signal;
    sc_loop_read(&d->loop, &d->sig_op, d->sig_fd, d->sig_buf, sizeof(struct signalfd_siginfo));
}

/* ------------------------------------------------------------ life cycle */

/* At start and after each reload. Demo mode is a warning, not an info
 * line: a production sidecar that lost its key (a Secret not mounted) would
 * otherwise answer every app from the mock, and look healthy doing it. */
static void log_routes(sc_daemon *d)
{
    for (unsigned i = 0; i < d->adm.routes.n; i++) {
        sc_route *r = d->adm.routes.r[i];
        if (!r->retired)
            sc_info("route '%s': %s, weight %u, API key %s%s", r->cfg.name, r->cfg.endpoint, r->cfg.weight,
                    r->auth ? "from $" : "not set", r->auth ? r->cfg.api_key_env : "");
    }
    if (d->cfg.demo_mode)
        sc_warn("demo mode: serving the bundled mock upstream at %s, not a real API (no $%s, no upstream, "
                "no routes). For the real API set %s, or pass --upstream URL, or a config file with routes",
                d->cfg.upstream, d->cfg.api_key_env, d->cfg.api_key_env);
}

/* Each client holds 3 descriptors here (its socket and two doorbells):
 * the usual soft limit of 1024 would stop us near 330 clients while the
 * hard limit allows more. Raise the soft one to it, as servers do (we
 * never use select(), so high descriptor numbers are fine). Returns the
 * limit in force. */
static rlim_t raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            getrlimit(RLIMIT_NOFILE, &rl);   /* e.g. a hard limit above fs.nr_open */
    }
    return rl.rlim_cur;
}

/* The timeline file: timeline.file, by default timeline.jsonl beside the
 * socket (a directory of ours that a restart keeps: a pod's emptyDir
 * outlives the container). A default place that fails only warns. */
static int open_timeline(sc_daemon *d)
{
    char path[sizeof d->cfg.timeline_file + sizeof d->cfg.socket_path];
    if (d->cfg.timeline_file_default) {
        const char *slash = strrchr(d->cfg.socket_path, '/');
        int dir = slash ? (int)(slash - d->cfg.socket_path) : 0;
        snprintf(path, sizeof path, "%.*s%stimeline.jsonl", dir, d->cfg.socket_path, slash ? "/" : "");
    } else {
        snprintf(path, sizeof path, "%s", d->cfg.timeline_file);
    }
    int r = sc_timeline_open(&d->timeline, path, d->cfg.timeline_keep);
    if (r == -ENOMEM) {
        sc_error("out of memory for the timeline");
        return -1;
    }
    if (r < 0 && !d->cfg.timeline_file_default) {
        sc_error("timeline.file: cannot open %s: %s", path, strerror(-r));
        return -1;
    }
    if (r < 0)
        sc_warn("timeline: cannot open %s (%s): events are kept in memory only; set timeline.file", path,
                strerror(-r));
    else if (path[0])
        sc_info("timeline: %s (%u events kept for /events, %u read back)", path, d->cfg.timeline_keep,
                d->timeline.n);
    sc_timeline_add(&d->timeline, false, "start", "", "ringsided %s started (pid %d)", RS_VERSION_STRING,
                    (int)getpid());
    return 0;
}

/* How to let io_uring in, for the messages below. */
#define URING_REMEDY                                                                        \
    "allow io_uring_setup, io_uring_enter and io_uring_register in the container's seccomp "  \
    "profile (deploy/seccomp/ringside.json; Docker's and containerd's defaults refuse them), " \
    "and check that sysctl kernel.io_uring_disabled is 0"

/* io_uring first; where the kernel refuses it, epoll with one warning that
 * says why (or, when io_uring was asked for by name, an error). */
static int start_loop(sc_daemon *d)
{
    int uring_err;
    int r = sc_loop_init(&d->loop, 1024, (sc_io_backend)d->cfg.io_backend, &uring_err);
    if (r < 0) {
        if (d->cfg.io_backend == SC_IO_URING)
            sc_error("cannot start: io_uring_setup failed: %s. io_backend is io_uring: to run here, "
                     "set io_backend to auto or epoll (--io-backend), or %s",
                     strerror(-r), URING_REMEDY);
        else if (uring_err)
            sc_error("cannot start: io_uring_setup failed (%s), and so did epoll_create1 (%s)",
                     strerror(-uring_err), strerror(-r));
        else
            sc_error("cannot start: epoll_create1 failed: %s", strerror(-r));
        return -1;
    }
    if (uring_err)
        sc_warn("io_uring unavailable (io_uring_setup: %s): using the epoll backend, which costs a "
                "syscall per socket event. To use io_uring: %s", strerror(-uring_err), URING_REMEDY);
    sc_info("event loop: %s", sc_loop_backend_name(&d->loop));
    return 0;
}

int sc_daemon_init(sc_daemon *d, const sc_config *cfg, int argc, char **argv)
{
    memset(d, 0, sizeof *d);
    rlim_t nofile = raise_fd_limit();
    d->cfg = *cfg;
    d->argc = argc;
    d->argv = argv;
    d->listen_fd = -1;
    d->sig_fd = -1;
    sc_log_set_level((enum sc_log_level)cfg->log_level);

    if (start_loop(d) < 0)
        return -1;
    sc_obs_init(&d->obs);
    d->em.warm_due = UINT64_MAX;
    d->started_at = rs__now_ns();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    d->started_ms = (uint64_t)wall.tv_sec * 1000u + (uint64_t)wall.tv_nsec / 1000000u;
    d->access_rng = d->started_at | 1;
    d->access_fd = -1;
    if (cfg->access_file[0] &&
        (d->access_fd = open(cfg->access_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0) {
        sc_error("access_log.file: cannot open %s: %s", cfg->access_file, strerror(errno));
        return -1;
    }
    d->rxbuf = malloc(RS__MAX_RECORD);
    d->comp_scratch = malloc(sizeof *d->comp_scratch);
    if (!d->rxbuf || !d->comp_scratch || sc_upstream_init(d, sc_attempt_done) < 0 ||
        sc_admission_init(d, rs__now_ns()) < 0) {
        sc_error("out of memory initialising the daemon");
        return -1;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    d->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (d->sig_fd < 0) {
        sc_error("signalfd: %s", strerror(errno));
        return -1;
    }
    arm_signals(d);
    /* the admin listener first: once clients can register, it answers */
    if (sc_admin_start(d) < 0 || sc_door_start(d) < 0 || sc_clients_listen(d) < 0 || open_timeline(d) < 0)
        return -1;
    sc_info("ringsided listening on %s%s%s; rings 2x%llu bytes per client; open-file limit %llu",
            cfg->socket_path, cfg->config_path[0] ? "; config " : "", cfg->config_path,
            (unsigned long long)cfg->ring_bytes, (unsigned long long)nofile);
    log_routes(d);
    return 0;
}

/* SIGHUP: re-read the configuration; a bad file changes nothing. */
static void reload(sc_daemon *d)
{
    sc_config *cfg = malloc(sizeof *cfg);
    if (!cfg)
        return;
    sc_info("SIGHUP: reloading %s", d->cfg.config_path[0] ? d->cfg.config_path : "(no file: flags and env)");
    if (sc_config_load(cfg, d->argc, d->argv) != 0) {
        sc_timeline_add(&d->timeline, true, "reload_refused", "",
                        "reload refused: the new configuration is invalid (see the log); the old one stays");
        free(cfg);
        return;
    }
    /* what needs a restart keeps its running value */
    memcpy(cfg->socket_path, d->cfg.socket_path, sizeof cfg->socket_path);
    memcpy(cfg->socket_group, d->cfg.socket_group, sizeof cfg->socket_group);
    cfg->socket_gid = d->cfg.socket_gid;
    cfg->socket_mode = d->cfg.socket_mode;
    cfg->ring_bytes = d->cfg.ring_bytes;
    cfg->max_inflight = d->cfg.max_inflight;
    memcpy(cfg->admin_listen, d->cfg.admin_listen, sizeof cfg->admin_listen);
    memcpy(cfg->door.listen, d->cfg.door.listen, sizeof cfg->door.listen);
    cfg->door.max_connections = d->cfg.door.max_connections;
    cfg->door.max_header_bytes = d->cfg.door.max_header_bytes;
    cfg->door.idle_timeout_ms = d->cfg.door.idle_timeout_ms;
    memcpy(cfg->timeline_file, d->cfg.timeline_file, sizeof cfg->timeline_file);
    memcpy(cfg->access_file, d->cfg.access_file, sizeof cfg->access_file);
    cfg->timeline_keep = d->cfg.timeline_keep;
    cfg->io_backend = d->cfg.io_backend;
    sc_config old = d->cfg;
    d->cfg = *cfg;
    free(cfg);
    if (sc_admission_apply(d, rs__now_ns()) < 0) {
        d->cfg = old;
        sc_admission_apply(d, rs__now_ns());
        sc_error("reload failed (out of memory); the old configuration stays");
        return;
    }
    if (sc_door_reload(d, rs__now_ns()) < 0)
        sc_warn("reload: the front door keeps its old virtual keys (see above)");
    sc_log_set_level((enum sc_log_level)d->cfg.log_level);
    sc_timeline_add(&d->timeline, false, "reload", "", "configuration reloaded (SIGHUP)%s%s",
                    d->cfg.config_path[0] ? ": " : "", d->cfg.config_path);
    log_routes(d);
}

static uint32_t open_total(sc_daemon *d)
{
    uint32_t n = 0;
    for (sc_client *c = d->clients; c; c = c->next)
        n += c->n_open;
    return n + (uint32_t)sc_door_open(d);
}

static void abort_inflight(sc_daemon *d)
{
    unsigned n = 0;
    for (sc_client *c = d->clients; c; c = c->next) {
        sc_req *r = c->inflight;
        while (r) {
            sc_req *next = r->next;
            if (r != c->asm_req) {   /* that one is answered when its body is in */
                sc_admission_forget(d, r);
                sc_req_finish(r, sc_completion_new(r->id, RS_ESHUTDOWN, 0,
                    "sidecar shut down before the upstream answered (grace period over)"), d->now);
                n++;
            }
            r = next;
        }
    }
    n += sc_door_abort(d);
    if (n)
        sc_warn("grace period over: %u in-flight requests answered with RS_ESHUTDOWN", n);
}

static void check_shutdown(sc_daemon *d, uint64_t now)
{
    if (d->state == SC_DRAINING) {
        if (open_total(d) == 0) {
            d->stop_now = true;
        } else if (now >= d->drain_deadline) {
            abort_inflight(d);
            d->state = SC_STOPPING;
            d->drain_deadline = now + FLUSH_LIMIT_NS;
        }
    } else if (d->state == SC_STOPPING) {
        if (open_total(d) == 0 || now >= d->drain_deadline)
            d->stop_now = true;
    }
}

/* What a lower module asked of the loop for client c (sidecar.h). */
static void act_on_flags(sc_daemon *d, sc_client *c)
{
    if (c->broken) {
        sc_client_close(c, c->broken);
    } else if (c->resume_due) {
        c->resume_due = false;
        sc_upstream_resume(d, c);
    }
}

static bool rings_pending(sc_daemon *d)
{
    for (sc_client *c = d->clients; c; c = c->next) {
        /* a record waiting for the in-flight cap is not news until an
         * answer has gone out */
        bool capped = c->sq_cur.pos == c->capped_at && c->n_open >= d->cfg.max_inflight && !c->asm_req;
        if (!c->closing && !capped && rs__ring_has_frame(&c->sq, c->sq_cur.pos))
            return true;
    }
    return false;
}

static void set_need_wakeup(sc_daemon *d, bool on)
{
    for (sc_client *c = d->clients; c; c = c->next) {
        if (on)
            rs__ring_arm(&c->sq, RS__RING_NEED_WAKEUP);
        else
            rs__ring_disarm(&c->sq, RS__RING_NEED_WAKEUP);
    }
}

/* The nearest time something is due: libcurl's timer, admission's wake-up,
 * the drain deadline. */
static uint64_t next_due(sc_daemon *d)
{
    uint64_t until = sc_upstream_next_timeout(d);
    if (sc_admin_due(d) < until)
        until = sc_admin_due(d);
    if (sc_door_due(d) < until)
        until = sc_door_due(d);
    if (sc_watch_due(d) < until)
        until = sc_watch_due(d);
    if (sc_emergency_due(d) < until)
        until = sc_emergency_due(d);
    if (sc_alerts_due(d) < until)
        until = sc_alerts_due(d);
    if (sc_heap_trim_due(&d->heap) < until)
        until = sc_heap_trim_due(&d->heap);
    if (d->adm.wake_at < until)
        until = d->adm.wake_at;
    if (d->state != SC_RUNNING && d->drain_deadline < until)
        until = d->drain_deadline;
    return until;
}

/* Idle, but a record may be a fraction of a microsecond away: watch the
 * rings and the loop's completions with plain loads until something shows up or
 * `until` comes. The clock is read on entry and then once per ~64 client
 * looks, since on a VM a clock read costs more than a look at a ring
 * (NOTES.md, "Clock reads"). Each reading goes to d->now, and a turn
 * that follows a catch uses it as its time (returns true): a request's
 * arrival time is then at most ~64 looks old, and the clock read is not
 * between the record and its answer. */
static bool spin_until(sc_daemon *d, uint64_t until)
{
    unsigned period = d->nclients >= 64 ? 1 : 64 / (d->nclients ? d->nclients : 1);
    if ((d->now = rs__now_ns()) >= until)
        return false;
    for (unsigned i = 1;; i++) {
        if (rings_pending(d) || sc_loop_pending(&d->loop))
            return true;
        if (i % period == 0 && (d->now = rs__now_ns()) >= until)
            return false;
        rs__cpu_relax();
    }
}

void sc_daemon_run(sc_daemon *d)
{
    rs__spin spin;   /* whether spinning after work pays (spin.h) */
    rs__spin_init(&spin, (uint64_t)d->cfg.spin_us * 1000u);
    uint64_t last_work = rs__now_ns();   /* the last turn with work, or the last wakeup */
    uint64_t work_at = last_work;        /* the last turn with work */
    uint64_t spin_ns = 0;                /* the spin after it (spin.h) */
    bool blind = false;                  /* slept since it without spinning */
    bool woke = false;

    bool caught = false;   /* spin_until found work, and d->now is fresh */

    while (!d->stop_now) {
        uint64_t now = caught ? d->now : (d->now = rs__now_ns());
        caught = false;
        unsigned work = sc_loop_reap(&d->loop, REAP_BUDGET);
        sc_upstream_on_time(d, now);
        sc_admin_on_time(d, now);
        sc_door_on_time(d, now);
        sc_emergency_tick(d, now);
        sc_alerts_tick(d, now);
        sc_watch(d, now);
        if (now >= d->heap.next)
            sc_heap_trim_look(&d->heap, open_total(d) > 0, now);
        if (now >= d->adm.wake_at)   /* capacity freed (an answer), or a timer came due */
            sc_admission_pump(d, now);

        for (sc_client *c = d->clients, *next; c; c = next) {
            next = c->next;
            work += sc_intake_drain(c, DRAIN_BUDGET);
        }
        if (now >= d->adm.wake_at)   /* new requests were admitted: dispatch them this turn */
            sc_admission_pump(d, now);
        bool answered_awake = false;
        for (sc_client *c = d->clients, *next; c; c = next) {
            next = c->next;
            answered_awake |= sc_outbox_flush(c);
            sc_intake_release(c);
            act_on_flags(d, c);
        }
        check_shutdown(d, now);
        if (d->reload_asked) {
            d->reload_asked = false;
            reload(d);
        }

        /* A client that rang us awake and is now spinning for its answer
         * often shares our CPU on a small machine, and a spinning task
         * cannot preempt us: after the first turn that follows a sleep,
         * if it answered a client that is awake, step aside so it runs now
         * rather than after our spin. A busy loop never sleeps, so it
         * never pays this syscall. */
        if (woke && answered_awake)
            sched_yield();
        woke = false;
        if (work || d->kicked) {
            d->kicked = false;
            /* a gap that ended in a wakeup we did not spin before says how
             * slow waking is more than how soon the work came (spin.h) */
            if (!blind)
                rs__spin_observe(&spin, now - work_at);
            blind = false;
            last_work = work_at = now;
            spin_ns = rs__spin_window_probing(&spin);
        }
        if (now - last_work < spin_ns) {
            sc_loop_flush(&d->loop);
            if (last_work != now)
                caught = spin_until(d, last_work + spin_ns < next_due(d) ? last_work + spin_ns : next_due(d));
            continue;
        }

        /* Going to sleep: ask producers to ring, then look once more. SQEs
         * queued this turn are submitted by the same syscall that sleeps. */
        set_need_wakeup(d, true);
        if (rings_pending(d) || sc_loop_pending(&d->loop) || d->stop_now) {
            sc_loop_flush(&d->loop);
        } else {
            uint64_t due = next_due(d);
            now = rs__now_ns();
            sc_loop_wait(&d->loop, due == UINT64_MAX ? UINT64_MAX : due > now ? due - now : 0);
            woke = true;
            blind |= spin_ns == 0;
        }
        set_need_wakeup(d, false);
        last_work = rs__now_ns();
    }
}

/* Also after a failed sc_daemon_init, from wherever it stopped: without a
 * loop there are no clients, no listener and no ops to wait for. */
void sc_daemon_destroy(sc_daemon *d)
{
    bool started = d->loop.be != NULL;
    if (started) {
        while (d->clients)
            sc_client_close(d->clients, "sidecar stopped");
        sc_clients_stop_listening(d);
        sc_admin_stop(d);
        sc_door_stop(d);
        if (d->sig_fd >= 0)
            sc_loop_cancel(&d->loop, &d->sig_op);
        sc_loop_flush(&d->loop);
        /* clients free themselves as their cancelled ops come back */
        for (int i = 0; i < 100 && sc_loop_reap(&d->loop, UINT_MAX) + 1; i++) {
            sc_loop_wait(&d->loop, 5000000u);
            if (sc_loop_reap(&d->loop, UINT_MAX) == 0)
                break;
        }
        log_stats(d, "at exit");
    }
    sc_side_destroy(d);
    sc_notify_destroy(d);
    sc_upstream_destroy(d);
    sc_admission_destroy(d);
    if (d->sig_fd >= 0)
        close(d->sig_fd);
    free(d->rxbuf);
    free(d->comp_scratch);
    sc_loop_destroy(&d->loop);
    if (started)
        sc_timeline_add(&d->timeline, false, "stop", "", "ringsided stopped");
    sc_timeline_close(&d->timeline);
    if (d->access_fd >= 0)
        close(d->access_fd);
}
