/*
 * admission.c — traffic control (see admission.h for the picture).
 *
 * Head-of-line waiting is deliberate: when the request that should go next
 * (by priority and fair share) cannot go because a shared limit is spent,
 * nothing behind it jumps ahead, or P2 traffic would eat the tokens P0 is
 * waiting for. The loop comes back at the earliest time anything could
 * change (a bucket refill, an embargo's end, a retry's backoff, a queued
 * deadline): wake_at.
 *
 * Under pressure P0 comes first (issue #14; README "Traffic control"):
 *   - each class has its own retry budget, so P2's retries cannot spend P0's;
 *   - a route's concurrency is split (sc_route_has_room): P0 keeps a reserve
 *     P1/P2 cannot use, and only P1/P2 probe above the level known to hold;
 *   - an upstream's Retry-After bars the class it refused and those below,
 *     and a refusal with lower classes in flight is blamed on them
 *     (policy/outcome.h), so P2 cannot park P0 behind an embargo;
 *   - shedding starts only when the upstream refuses (429/503) most
 *     attempts, with P2 before P1; P0 is never shed.
 * Degraded is not dead: at most max_ejected of the routes may be kept out
 * by their breakers, and when more are out the least bad of them take
 * traffic anyway (panic, as Envoy's panic threshold), so an upstream that
 * fails a share of requests still serves the rest through retries.
 */
#include "admission.h"

#include "log.h"
#include "outbox.h"
#include "outcome.h"
#include "ringside.h"
#include "router.h"
#include "sidecar.h"
#include "tokens.h"
#include "upstream.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Attempts started by one pump. The rest start on the next turn, so a
 * burst of thousands admitted at once (each a new connection: socket,
 * connect, send) cannot hold back the answers that turn has already
 * earned. */
#define START_BUDGET 64u


static uint64_t next_rand(sc_admission *a)
{
    /* xorshift64*: cheap, and good enough for jitter and weighted picks */
    a->rng ^= a->rng >> 12;
    a->rng ^= a->rng << 25;
    a->rng ^= a->rng >> 27;
    return a->rng * 2685821657736338717ull;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* ------------------------------------------------------------- config */

static void apply_limits(sc_daemon *d, uint64_t now, bool fresh)
{
    sc_admission *a = &d->adm;
    const sc_config *cfg = &d->cfg;
    const sc_limit_cfg *g = &cfg->global_limit;
    sc_limit_apply(g, fresh, now, &a->rps, &a->has_rps, &a->tpm, &a->has_tpm);
    a->backoff = (rsp_backoff_cfg){
        .max_attempts = cfg->retry_attempts,
        .initial_ns = sc_ms(cfg->retry_initial_ms),
        .factor = cfg->retry_factor,
        .cap_ns = sc_ms(cfg->retry_cap_ms),
    };
    rsp_retry_budget_cfg bc = { .ratio = cfg->budget_ratio, .min_retries = cfg->budget_min,
                               .window_ns = sc_ms(cfg->budget_window_ms) };
    for (int p = 0; p < 3; p++) {
        if (fresh)
            rsp_retry_budget_init(&a->budget[p], &bc, now);
        else
            rsp_retry_budget_reconfigure(&a->budget[p], &bc);
    }
    for (sc_client *c = d->clients; c; c = c->next) {
        const sc_limit_cfg *cl = &cfg->client_limit;
        sc_limit_apply(cl, !c->limited, now, &c->limit, &c->limited, NULL, NULL);
    }
}

static rsp_sched_cfg sched_cfg(const sc_config *cfg)
{
    rsp_sched_cfg sc = { .aging_ns = sc_ms(cfg->aging_ms) };
    for (int p = 0; p < 3; p++)
        sc.max_queued[p] = cfg->queue_max[p];
    sc.weight[1] = cfg->weight_p1;
    sc.weight[2] = cfg->weight_p2;
    return sc;
}

int sc_admission_init(sc_daemon *d, uint64_t now)
{
    sc_admission *a = &d->adm;
    memset(a, 0, sizeof *a);
    a->rps_due = UINT64_MAX;
    a->rng = now ^ 0x9e3779b97f4a7c15ull;
    if (!a->rng)
        a->rng = 1;
    rsp_window_init(&a->ended, sc_ms(d->cfg.shed_window_ms), now);
    rsp_sched_cfg sc = sched_cfg(&d->cfg);
    if (rsp_sched_init(&a->sched, &sc) < 0 || sc_routes_apply(&a->routes, &d->cfg, now) < 0)
        return -1;
    apply_limits(d, now, true);
    return 0;
}

int sc_admission_apply(sc_daemon *d, uint64_t now)
{
    sc_admission *a = &d->adm;
    rsp_sched_cfg sc = sched_cfg(&d->cfg);
    if (rsp_sched_reconfigure(&a->sched, &sc) < 0 || sc_routes_apply(&a->routes, &d->cfg, now) < 0)
        return -1;
    apply_limits(d, now, false);
    rsp_window_set_span(&a->ended, sc_ms(d->cfg.shed_window_ms));
    a->wake_at = 0;   /* new limits, routes, queues: look again this turn */
    return 0;
}

void sc_admission_destroy(sc_daemon *d)
{
    rsp_sched_destroy(&d->adm.sched);
    rsp_heap_free(&d->adm.retries);
    sc_routes_free(&d->adm.routes);
}

/* ------------------------------------------------------------ shedding */

/* Why a request of class prio (1 or 2) is being shed now, or NULL. What
 * counts is how upstream requests end: refused (429/503 after the retries
 * that were allowed) or not. Attempts refused along the way do not count:
 * they are what probing the upstream's capacity costs, and a degraded
 * upstream that still answers is better served by retries than by refusing
 * requests here. P2 is shed from shedding.error_rate on, P1 only from
 * halfway between it and 100%. */
const char *sc_admission_shed_reason(sc_daemon *d, unsigned prio, uint64_t now, char *buf, size_t len)
{
    uint64_t total, refused;
    rsp_window_sums(&d->adm.ended, now, &total, &refused);
    double t = d->cfg.shed_error_rate, bar = prio == 2 ? t : (1 + t) / 2;
    if (total < d->cfg.shed_min_samples || (double)refused <= bar * (double)total)
        return NULL;
    snprintf(buf, len, "the upstream refused %.0f%% of requests (429/503), above the P%u bar of %.0f%% "
             "(shedding.error_rate)", 100.0 * (double)refused / (double)total, prio, 100.0 * bar);
    return buf;
}

/* ------------------------------------------------------------ finishing */

static void finish(sc_req *r, uint64_t now, int32_t err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void finish(sc_req *r, uint64_t now, int32_t err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sc_completion *cp = sc_completion_new(r->id, err, 0, msg);
    if (cp)
        cp->attempts = r->attempts;
    sc_completion_free(r->last);
    r->last = NULL;
    sc_req_finish(r, cp, now);
}

static void finish_with(sc_req *r, sc_completion *cp, const char *note, uint64_t now)
{
    if (cp && note) {
        size_t n = strlen(cp->error_msg) + strlen(note) + 4;
        char *m = malloc(n);
        if (m) {
            snprintf(m, n, "%s%s%s", cp->error_msg, cp->error_msg[0] ? "; " : "", note);
            sc_completion_set_msg(cp, m);
        }
    }
    if (cp)
        cp->attempts = r->attempts;
    if (r->last != cp)
        sc_completion_free(r->last);
    r->last = NULL;
    sc_req_finish(r, cp, now);
}

static void finish_deadline(sc_daemon *d, sc_req *r, const char *where, uint64_t now)
{
    d->adm.stats.expired++;
    if (r->last)
        finish(r, now, RS_EDEADLINE, "deadline passed %s after %u attempt%s (last: %s)", where, r->attempts,
               r->attempts == 1 ? "" : "s", r->last->error_msg);
    else
        finish(r, now, RS_EDEADLINE, "deadline passed %s (P%u, %llu ms after it arrived)", where, r->priority,
               (unsigned long long)((now - r->t_drain) / 1000000u));
}

/* --------------------------------------------------------------- queue */

static void enqueue(sc_daemon *d, sc_req *r, uint64_t now)
{
    r->qi.prio = (uint8_t)r->priority;
    r->qi.deadline_ns = r->deadline;
    if (rsp_sched_push(&d->adm.sched, &r->qi, now) < 0) {
        d->adm.stats.queue_full++;
        finish(r, now, RS_EQUEUEFULL, "P%u queue is full (priorities.queue.p%u = %u); retry later",
               r->priority, r->priority, d->cfg.queue_max[r->priority]);
    }
}

/* A request for an upstream route enters traffic control. */
static void admit_upstream(sc_daemon *d, sc_req *r, uint64_t now)
{
    sc_admission *a = &d->adm;
    rsp_heap_node_init(&r->retry_node);
    a->stats.admitted++;
    a->wake_at = 0;   /* something new to place: the loop pumps this turn */

    if (r->priority > 0 && a->emergency && (a->em_owed += d->cfg.em_shed_fraction) >= 1) {
        a->em_owed -= 1;
        a->stats.shed++;
        finish(r, now, RS_ESHED, "shed: emergency mode sheds %.0f%% of P1/P2 requests (emergency.shed_fraction)",
               100.0 * d->cfg.em_shed_fraction);
        return;
    }
    if (r->priority > 0) {
        char buf[200];
        const char *why = sc_admission_shed_reason(d, r->priority, now, buf, sizeof buf);
        if (why && (double)(next_rand(a) >> 11) * 0x1.0p-53 < d->cfg.shed_fraction) {
            a->stats.shed++;
            finish(r, now, RS_ESHED, "shed: %s; %.0f%% of P%u requests are refused until it recovers",
                   why, 100.0 * d->cfg.shed_fraction, r->priority);
            return;
        }
    }
    /* one scan of the body, kept: each attempt's model rename reuses it
     * (the front door has scanned it already, for its own limits) */
    if (!r->body_scanned)
        sc_body_scan_request(r->body, r->body_len, &r->body_scan);
    rsp_token_estimate est;
    rsp_tokens_estimate_counts(r->body_len, &r->body_scan.counts, d->cfg.default_max_tokens, &est);
    r->tokens_need = (double)(est.prompt_tokens + est.max_tokens);
    rsp_retry_budget_on_request(&a->budget[r->priority], now);

    sc_client *c = r->client;
    if (c->limited && (c->throttled_head || !rsp_bucket_try_take(&c->limit, 1, now))) {
        r->throttled = true;
        r->throttled_next = NULL;
        if (c->throttled_tail)
            c->throttled_tail->throttled_next = r;
        else
            c->throttled_head = r;
        c->throttled_tail = r;
        return;
    }
    enqueue(d, r, now);
}

void sc_admit(sc_daemon *d, sc_req *r, uint64_t now)
{
    if (r->refuse == RS_E2BIG) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s: %zu bytes, the ring holds %llu (ring_bytes)", r->refuse_why,
                 r->body_len, (unsigned long long)d->cfg.ring_bytes);
        sc_req_finish(r, sc_completion_new(r->id, r->refuse, 0, msg), now);
    } else if (r->refuse) {
        sc_req_finish(r, sc_completion_new(r->id, r->refuse, 0, r->refuse_why), now);
    } else if (d->state != SC_RUNNING) {
        sc_req_finish(r, sc_completion_new(r->id, RS_ESHUTDOWN, 0,
                                           "sidecar is shutting down; retry after it restarts"), now);
    } else if (strcmp(r->route, "echo") == 0) {
        /* answered here, no network: the path benchmarks and probes use */
        sc_completion *cp = sc_completion_new(r->id, 0, 200, "");
        if (cp) {
            cp->body = r->body;
            cp->body_len = r->body_len;
            r->body = NULL;
            sc_completion_set_upstream(cp, "echo");
        }
        if (!d->adm.echo_slot)
            d->adm.echo_slot = sc_obs_slot(&d->obs, "echo");
        r->obs_slot = (uint8_t)d->adm.echo_slot;
        sc_req_finish(r, cp, now);
    } else if (r->route[0] && strcmp(r->route, "default") != 0 &&
               !(r->pinned = sc_routes_find(&d->adm.routes, r->route))) {
        char msg[600];
        int n = snprintf(msg, sizeof msg, "no route named '%s' (configured: echo", r->route);
        for (unsigned i = 0; i < d->adm.routes.n && n < (int)sizeof msg - 80; i++)
            if (!d->adm.routes.r[i]->retired)
                n += snprintf(msg + n, sizeof msg - (size_t)n, ", %s", d->adm.routes.r[i]->cfg.name);
        snprintf(msg + n, sizeof msg - (size_t)n, ")");
        sc_req_finish(r, sc_completion_new(r->id, RS_ENOROUTE, 0, msg), now);
    } else {
        admit_upstream(d, r, now);
    }
}

static void unthrottle(sc_client *c, sc_req *r)
{
    sc_req **pp = &c->throttled_head, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->throttled_next;
    }
    if (*pp) {
        *pp = r->throttled_next;
        if (c->throttled_tail == r)
            c->throttled_tail = prev;
    }
    r->throttled = false;
}

/* ------------------------------------------------------------- attempts */

/* An attempt whose stream is held stops counting against the limits: add
 * (+1) or take away (-1) its share. */
static void count_held(sc_req *r, int by)
{
    if (r->rt && r->flow_hold)
        r->rt->held[r->priority] += (uint32_t)by;
}

void sc_admission_hold(sc_daemon *d, sc_req *r, bool hold)
{
    if (r->flow_hold == hold)
        return;
    count_held(r, -1);              /* the old state's share out... */
    sc_upstream_hold(d, r, hold);   /* (sets flow_hold) */
    count_held(r, +1);              /* ...and the new one's in */
    d->adm.wake_at = 0;   /* capacity may have changed: pump this turn */
}

static void release_attempt(sc_daemon *d, sc_req *r, uint64_t now, bool refund)
{
    sc_admission *a = &d->adm;
    sc_route *rt = r->rt;
    if (!rt)
        return;
    count_held(r, -1);
    rt->inflight[r->priority]--;
    a->inflight--;
    a->tokens_in_flight -= r->tokens_need;
    a->wake_at = 0;   /* capacity freed: the loop pumps this turn */
    if (refund && r->tokens_reserved > 0) {
        if (a->has_tpm)
            rsp_bucket_refund(&a->tpm, r->tokens_reserved, now);
        if (rt->has_tpm)
            rsp_bucket_refund(&rt->tpm, r->tokens_reserved, now);
    }
    r->tokens_reserved = 0;
    r->rt = NULL;
}

void sc_admission_forget(sc_daemon *d, sc_req *r)
{
    sc_admission *a = &d->adm;
    if (r->qi.queued)
        rsp_sched_remove(&a->sched, &r->qi);
    rsp_heap_remove(&a->retries, &r->retry_node);   /* if waiting out a backoff */
    if (r->throttled && r->client)
        unthrottle(r->client, r);
    if (r->rt) {
        sc_upstream_abort(d, r);
        if (rsp_breaker_epoch(&r->rt->breaker) == r->breaker_epoch)
            rsp_breaker_on_abandon(&r->rt->breaker);
        release_attempt(d, r, rs__now_ns(), true);
    }
    sc_completion_free(r->last);
    r->last = NULL;
}

/* Which routes may take an attempt now as far as their breakers go:
 * pass[i] when its breaker lets one through, panic[i] when it does not but
 * the route is let in anyway. At most max_ejected of the live routes (at
 * least one) may be kept out; when more are out, or all, the least bad of
 * them (lowest failure rate, then highest weight) are let in: an upstream
 * that fails some requests still serves the others, where refusing
 * everything would serve none. */
static void breaker_pass(sc_admission *a, const sc_config *cfg, uint64_t now, bool pass[], bool panic[])
{
    bool out[2 * SC_MAX_ROUTES];
    double bad[2 * SC_MAX_ROUTES];
    uint32_t weight[2 * SC_MAX_ROUTES];
    unsigned live = 0;
    for (unsigned i = 0; i < a->routes.n; i++) {
        sc_route *rt = a->routes.r[i];
        bool is_live = !rt->retired && rt->cfg.weight;
        pass[i] = is_live && rsp_breaker_can_send(&rt->breaker, now);
        out[i] = is_live && !pass[i];
        live += is_live;
        uint32_t n;
        double rate = out[i] ? rsp_breaker_failure_rate(&rt->breaker, now, &n) : 0;
        bad[i] = out[i] && !n ? 1.0 : rate;   /* nothing heard lately: assume the worst */
        weight[i] = rt->cfg.weight;
    }
    /* the timeline reports changes (watch.c) */
    a->panic = rsp_router_let_in(out, bad, weight, a->routes.n, live, cfg->max_ejected, panic);
}

/* The classes some route could take an attempt of now (breaker, embargo,
 * concurrency): a class no route takes must not hold up the others. For a
 * class that is out, *when is lowered to the first embargo or breaker
 * cool-down to end (freed concurrency wakes the loop by itself). */
static unsigned classes_open(sc_admission *a, const bool pass[], const bool panic[], uint64_t now, uint64_t *when)
{
    unsigned allow = RSP_SCHED_P0;
    for (unsigned p = 1; p < 3; p++) {
        uint64_t next = UINT64_MAX;
        for (unsigned i = 0; i < a->routes.n && !(allow & (1u << p)); i++) {
            sc_route *rt = a->routes.r[i];
            if (rt->retired || !rt->cfg.weight)
                continue;
            bool in = pass[i] || panic[i];
            if (in && now >= rt->embargo_until[p] && sc_route_has_room(rt, p))
                allow |= 1u << p;
            else if (now < rt->embargo_until[p])
                next = min_u64(next, rt->embargo_until[p]);
            else if (!in && rsp_breaker_state_at(&rt->breaker, now) == RSP_BREAKER_OPEN)
                next = min_u64(next, rsp_breaker_open_until(&rt->breaker));
        }
        if (!(allow & (1u << p)))
            *when = min_u64(*when, next);
    }
    return allow;
}

/* The route for r's next attempt, or NULL (then *when says when one could
 * be, if known). Among the routes that can take it now: not the route
 * where it last failed, if another can; not a route the latency rule
 * avoids (policy/latency.h), if another can; then by weight. */
static sc_route *choose_route(sc_admission *a, sc_req *r, const bool panic[], uint64_t now, uint64_t *when)
{
    *when = UINT64_MAX;
    bool ok[2 * SC_MAX_ROUTES];
    uint32_t weight[2 * SC_MAX_ROUTES];
    unsigned n_ok = 0;
    for (unsigned i = 0; i < a->routes.n; i++) {
        uint64_t w;
        sc_route *rt = a->routes.r[i];
        /* standby routes take traffic in emergency mode only, and then
         * they alone — but for a primary's breaker probes, or it could
         * never show it recovered; a route the client named goes regardless */
        bool wanted = rt->cfg.standby == a->to_standby ||
                      (a->to_standby && rsp_breaker_state_at(&rt->breaker, now) == RSP_BREAKER_HALF_OPEN);
        weight[i] = r->pinned ? rt == r->pinned : wanted ? rt->cfg.weight : 0;
        if (r->client->vkey && !sc_vkey_allows(r->client->vkey, rt->cfg.name))
            weight[i] = 0;   /* a virtual key kept off this route (frontdoor.c) */
        ok[i] = weight[i] && sc_route_blocked(rt, now, r->tokens_need, r->priority, panic[i], &w) == NULL;
        if (weight[i])
            *when = min_u64(*when, w);
        n_ok += ok[i];
    }
    if (!n_ok)
        return NULL;
    /* drop the least wanted while something else remains */
    for (int rule = 0; rule < 2 && n_ok > 1; rule++) {
        unsigned left = 0;
        bool drop[2 * SC_MAX_ROUTES];
        for (unsigned i = 0; i < a->routes.n; i++) {
            sc_route *rt = a->routes.r[i];
            drop[i] = ok[i] && (rule == 0 ? rt == r->last_route : rsp_latency_avoid(&rt->latency, now));
            left += ok[i] && !drop[i];
        }
        if (left)
            for (unsigned i = 0; i < a->routes.n; i++)
                ok[i] = ok[i] && !drop[i];
        n_ok = left ? left : n_ok;
    }
    int k = rsp_router_pick(weight, ok, a->routes.n, next_rand(a));
    if (k < 0)
        return NULL;
    r->panic = panic[k];
    return a->routes.r[k];
}

static void start_attempt(sc_daemon *d, sc_req *r, sc_route *rt, uint64_t now)
{
    sc_admission *a = &d->adm;
    double need = r->tokens_need;
    if (a->has_rps) {
        rsp_bucket_try_take(&a->rps, 1, rsp_bucket_due_time(a->rps_due, now));
        a->rps_due = UINT64_MAX;
    }
    if (rt->has_rps) {
        rsp_bucket_try_take(&rt->rps, 1, rsp_bucket_due_time(rt->rps_due, now));
        rt->rps_due = UINT64_MAX;
    }
    r->tokens_reserved = 0;
    if (a->has_tpm || rt->has_tpm) {
        r->tokens_reserved = need;
        if (a->has_tpm)
            rsp_bucket_charge(&a->tpm, need > a->tpm.burst ? a->tpm.burst : need, now);
        if (rt->has_tpm)
            rsp_bucket_charge(&rt->tpm, need > rt->tpm.burst ? rt->tpm.burst : need, now);
    }
    r->rt = rt;
    r->attempts++;
    rt->inflight[r->priority]++;
    a->tokens_in_flight += r->tokens_need;
    rt->stats.attempts++;
    if (!rt->obs_slot)
        rt->obs_slot = sc_obs_slot(&d->obs, rt->cfg.name);
    r->obs_slot = (uint8_t)rt->obs_slot;
    d->obs.route[rt->obs_slot].attempts[r->priority]++;
    a->inflight++;
    count_held(r, +1);
    r->sent_at = now;
    if (!r->panic)
        rsp_breaker_on_send(&rt->breaker, now);
    r->breaker_epoch = rsp_breaker_epoch(&rt->breaker);
    rsp_latency_on_send(&rt->latency, now);

    int err = sc_upstream_dispatch(d, r, now);
    if (err < 0) {
        rsp_breaker_on_abandon(&rt->breaker);
        release_attempt(d, r, now, true);
        finish(r, now, err, "could not start the upstream transfer to route '%s'", rt->cfg.name);
    }
}

/* ----------------------------------------------------------------- pump */

static void release_throttled(sc_daemon *d, uint64_t now, uint64_t *wake)
{
    for (sc_client *c = d->clients; c; c = c->next) {
        if (!c->throttled_head || c->closing)
            continue;
        /* expire first: a throttled request's deadline runs as in any queue */
        for (sc_req *r = c->throttled_head, *next; r; r = next) {
            next = r->throttled_next;
            if (now >= r->deadline) {
                unthrottle(c, r);
                finish_deadline(d, r, "waiting for the client's rate limit (limits.per_client)", now);
            }
        }
        while (c->throttled_head) {
            uint64_t w = rsp_bucket_wait_ns(&c->limit, 1, now);
            if (w) {
                *wake = min_u64(*wake, w == UINT64_MAX ? UINT64_MAX : now + w);
                *wake = min_u64(*wake, c->throttled_head->deadline);
                break;
            }
            rsp_bucket_try_take(&c->limit, 1, now);
            sc_req *r = c->throttled_head;
            unthrottle(c, r);
            enqueue(d, r, now);
        }
    }
}

void sc_admission_pump(sc_daemon *d, uint64_t now)
{
    sc_admission *a = &d->adm;
    uint64_t wake = UINT64_MAX;

    rsp_heap_node *n;
    while ((n = rsp_heap_top(&a->retries)) != NULL && n->key <= now) {
        rsp_heap_remove(&a->retries, n);
        sc_req *r = container_of(n, sc_req, retry_node);
        if (now >= r->deadline)
            finish_deadline(d, r, "waiting to retry", now);
        else
            enqueue(d, r, now);
    }
    if (n)
        wake = n->key;

    release_throttled(d, now, &wake);

    rsp_sched_item *it;
    while ((it = rsp_sched_pop_expired(&a->sched, now)) != NULL)
        finish_deadline(d, container_of(it, sc_req, qi), "in the queue", now);

    bool pass[2 * SC_MAX_ROUTES], panic[2 * SC_MAX_ROUTES];
    for (unsigned started = 0;; started++) {
        if (started == START_BUDGET) {
            wake = now;
            break;
        }
        /* again each time: the last attempt may have taken a breaker's
         * last probe slot or a route's last room */
        breaker_pass(a, &d->cfg, now, pass, panic);
        if (!(it = rsp_sched_next(&a->sched, now, classes_open(a, pass, panic, now, &wake))))
            break;
        sc_req *r = container_of(it, sc_req, qi);
        uint64_t w = 0;
        if (a->has_rps && (w = rsp_bucket_wait_ns(&a->rps, 1, rsp_bucket_due_time(a->rps_due, now))) != 0) {
            wake = min_u64(wake, w == UINT64_MAX ? UINT64_MAX : now + w);
            a->rps_due = w == UINT64_MAX ? UINT64_MAX : now + w;
            break;
        }
        if (a->has_tpm) {
            double need = r->tokens_need > a->tpm.burst ? a->tpm.burst : r->tokens_need;
            if ((w = rsp_bucket_wait_ns(&a->tpm, need, now)) != 0) {
                wake = min_u64(wake, w == UINT64_MAX ? UINT64_MAX : now + w);
                break;
            }
        }
        sc_route *rt = choose_route(a, r, panic, now, &w);
        if (!rt) {
            wake = min_u64(wake, w);
            break;
        }
        rsp_sched_take(&a->sched, it);
        start_attempt(d, r, rt, now);
    }
    a->wake_at = min_u64(wake, rsp_sched_next_deadline(&a->sched));
    if (a->routes.n > d->cfg.nroutes)   /* retired ones are waiting to be freed */
        sc_routes_collect(&a->routes);
}

/* ------------------------------------------------------------- outcomes */

static bool another_route_ready(sc_daemon *d, sc_req *r, sc_route *failed, uint64_t now)
{
    sc_admission *a = &d->adm;
    if (r->pinned)
        return false;
    bool pass[2 * SC_MAX_ROUTES], panic[2 * SC_MAX_ROUTES];
    breaker_pass(a, &d->cfg, now, pass, panic);
    for (unsigned i = 0; i < a->routes.n; i++) {
        uint64_t w;
        sc_route *rt = a->routes.r[i];
        if (rt != failed && (pass[i] || panic[i]) &&
            sc_route_blocked(rt, now, r->tokens_need, r->priority, panic[i], &w) == NULL)
            return true;
    }
    return false;
}

/* Settle the tokens reserved for an attempt against what the upstream
 * counted. */
static void settle_tokens(sc_admission *a, sc_route *rt, double used, double reserved, uint64_t now)
{
    double diff = used - reserved;
    if (a->has_tpm)
        diff > 0 ? rsp_bucket_charge(&a->tpm, diff, now) : rsp_bucket_refund(&a->tpm, -diff, now);
    if (rt->has_tpm)
        diff > 0 ? rsp_bucket_charge(&rt->tpm, diff, now) : rsp_bucket_refund(&rt->tpm, -diff, now);
}


/* Attempts of a class below prio in flight on any route (held streams
 * too: the upstream counts them). Any route, because routes may be two
 * endpoints of one account, sharing its limit. */
static bool lower_in_flight(const sc_admission *a, unsigned prio)
{
    for (unsigned i = 0; i < a->routes.n; i++)
        for (unsigned c = prio + 1; c < 3; c++)
            if (a->routes.r[i]->inflight[c])
                return true;
    return false;
}

/* An embargo on classes from..2 until `until`: on rt, or on every route
 * when the refused class was not the one barred (the lower classes were
 * blamed: wherever they run, they may be filling the same account). */
static void embargo(sc_admission *a, sc_route *rt, unsigned prio, unsigned from, uint64_t until)
{
    for (unsigned i = 0; i < a->routes.n; i++) {
        sc_route *x = a->routes.r[i];
        if (x != rt && from == prio)
            continue;
        for (unsigned c = from; c < 3; c++)
            if (until > x->embargo_until[c])
                x->embargo_until[c] = until;
    }
}

void sc_attempt_done(sc_daemon *d, sc_req *r, sc_completion *cp, const sc_attempt *at, uint64_t now)
{
    sc_admission *a = &d->adm;
    sc_route *rt = r->rt;
    const rsp_attempt_end *end = &at->end;
    unsigned prio = r->priority;
    rsp_outcome_in in = {
        .retry_status = d->cfg.retry_status, .n_retry_status = d->cfg.n_retry_status,
        .failure_status = sc_routes_is_failure_status(&a->routes, end->status),
        .same_epoch = rsp_breaker_epoch(&rt->breaker) == r->breaker_epoch,
        .attempts = r->attempts - r->attempts_free, .max_attempts = a->backoff.max_attempts,
        .priority = prio, .lower_in_flight = lower_in_flight(a, prio),
        .embargo_until = rt->embargo_until[prio], .now = now, .deadline = r->deadline,
    };
    bool ok = end->transport_ok && end->status < 400;
    if (!ok) {
        /* asked after this attempt's slot is freed: it may be the one a
         * retry on another route needs */
        release_attempt(d, r, now, true);
        in.route_busy = sc_route_inflight(rt) > 0;
        in.took_ns = now - r->sent_at;
        in.typical_ns = (uint64_t)rt->latency.mean_ns;
        in.other_route_ready = another_route_ready(d, r, rt, now);
        if (!in.other_route_ready)
            in.backoff_ns = rsp_backoff_delay_ns(&a->backoff, r->attempts - r->attempts_free, next_rand(a));
    }
    rsp_outcome o = rsp_outcome_judge(end, &in);

    switch (r->panic ? RSP_VERDICT_NONE : o.breaker) {
    case RSP_VERDICT_SUCCESS: rsp_breaker_on_success(&rt->breaker, at->first_content_ns, now); break;
    case RSP_VERDICT_FAILURE: rsp_breaker_on_failure(&rt->breaker, now); break;
    case RSP_VERDICT_ABANDON: rsp_breaker_on_abandon(&rt->breaker); break;
    case RSP_VERDICT_NONE: break;
    }
    if (o.embargo_from < 3)
        embargo(a, rt, prio, o.embargo_from, o.embargo_until);
    if (o.ok) {
        rsp_window_add(&a->ended, now, 1, 0);
        if (at->has_usage && r->tokens_reserved > 0)
            settle_tokens(a, rt, (double)at->usage_tokens, r->tokens_reserved, now);
        if (at->has_usage)
            d->obs.route[rt->obs_slot].tokens_used += at->usage_tokens;
        r->tokens_reserved = 0;
        rsp_aimd_on_success(&rt->aimd, now, sc_route_busy(rt));   /* this one included */
        rsp_latency_on_sample(&rt->latency, at->first_content_ns);
        rt->stats.ok++;
        release_attempt(d, r, now, false);
        finish_with(r, cp, NULL, now);
        return;
    }
    if (o.aimd_overload) {
        unsigned was = rsp_aimd_limit(&rt->aimd);
        rsp_aimd_on_overload(&rt->aimd, now, r->sent_at);
        if (rsp_aimd_limit(&rt->aimd) != was)
            sc_debug("route '%s': HTTP %u: concurrency limit %u -> %u (known to hold: %u)", rt->cfg.name,
                     end->status, was, rsp_aimd_limit(&rt->aimd), rsp_aimd_safe_limit(&rt->aimd));
    }
    if (end->status == 429)
        rt->stats.rate_limited++;
    if (end->slow) {
        rt->stats.slow++;
        rsp_latency_on_sample(&rt->latency, rt->first_content_ns);   /* at least that slow */
    }
    if (o.health_failure)
        rt->stats.failed++;
    if (!o.retry) {
        if (!end->deadline_hit)
            rsp_window_add(&a->ended, now, 1, o.refused);
        char note[80];
        if (o.stop == RSP_STOP_ATTEMPTS)
            snprintf(note, sizeof note, "gave up after %u attempts (retries.attempts)", r->attempts);
        finish_with(r, cp, o.stop == RSP_STOP_ATTEMPTS ? note
                           : o.stop == RSP_STOP_DEADLINE ? "not retried: the next attempt would start after the deadline"
                           : NULL, now);
        return;
    }
    if (o.on_them) {
        r->attempts_free++;
    } else if (!rsp_retry_budget_try_retry(&a->budget[prio], now)) {
        a->stats.budget_denied++;
        d->obs.budget_refusals[prio]++;
        rsp_window_add(&a->ended, now, 1, o.refused);
        char note[80];
        snprintf(note, sizeof note, "not retried: the P%u retry budget is spent (retries.budget)", prio);
        finish_with(r, cp, note, now);
        return;
    }
    sc_completion_free(r->last);
    r->last = cp;
    r->last_route = rt;
    a->stats.retries++;
    d->obs.retries[prio]++;
    r->retry_node.key = o.retry_at;
    if (rsp_heap_push(&a->retries, &r->retry_node) < 0) {
        finish_with(r, cp, "not retried: out of memory", now);
        return;
    }
    if (a->wake_at > r->retry_node.key)
        a->wake_at = r->retry_node.key;
}
