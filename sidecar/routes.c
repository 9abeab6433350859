/*
 * routes.c — route table and per-route admission checks (see routes.h).
 */
#include "routes.h"

#include "log.h"
#include "scheduler.h"
#include "secrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sc_limit_apply(const sc_limit_cfg *l, bool fresh, uint64_t now, rsp_bucket *rps, bool *has_rps,
                    rsp_bucket *tpm, bool *has_tpm)
{
    /* burst: as configured, else one second's worth (at least one request) */
    *has_rps = l->rps > 0;
    if (*has_rps) {
        double burst = l->burst > 0 ? l->burst : (l->rps < 1 ? 1 : l->rps);
        if (fresh)
            rsp_bucket_init(rps, l->rps, burst, now);
        else
            rsp_bucket_reconfigure(rps, l->rps, burst, now);
    }
    if (!tpm)
        return;
    *has_tpm = l->tpm > 0;
    if (*has_tpm) {
        if (fresh)
            rsp_bucket_init(tpm, l->tpm / 60.0, l->tpm, now);
        else
            rsp_bucket_reconfigure(tpm, l->tpm / 60.0, l->tpm, now);
    }
}

int sc_routes_apply(sc_routes *t, const sc_config *cfg, uint64_t now)
{
    /* A latency_gt condition on one route makes every other route that is
     * slower to first content count as failing; the strictest one wins. */
    uint32_t latency_gt = 0;
    t->n_fail_status = 0;
    for (unsigned i = 0; i < cfg->nroutes; i++) {
        const sc_route_cfg *rc = &cfg->routes[i];
        if (rc->cond_latency_gt_ms && (!latency_gt || rc->cond_latency_gt_ms < latency_gt))
            latency_gt = rc->cond_latency_gt_ms;
        for (uint32_t k = 0; k < rc->n_cond_status && t->n_fail_status < 2 * SC_MAX_STATUS; k++)
            t->fail_status[t->n_fail_status++] = rc->cond_status[k];
    }
    for (uint32_t k = 0; k < cfg->n_retry_status && t->n_fail_status < 2 * SC_MAX_STATUS; k++)
        if (cfg->retry_status[k] >= 500)
            t->fail_status[t->n_fail_status++] = cfg->retry_status[k];

    for (unsigned i = 0; i < t->n; i++)
        t->r[i]->retired = true;

    for (unsigned i = 0; i < cfg->nroutes; i++) {
        const sc_route_cfg *rc = &cfg->routes[i];
        sc_route *r = NULL;
        for (unsigned k = 0; k < t->n; k++)
            if (strcmp(t->r[k]->cfg.name, rc->name) == 0)
                r = t->r[k];
        bool fresh = r == NULL;
        if (fresh) {
            if (t->n == 2 * SC_MAX_ROUTES)
                sc_routes_collect(t);
            if (t->n == 2 * SC_MAX_ROUTES || !(r = calloc(1, sizeof *r)))
                return -1;
            t->r[t->n++] = r;
        }
        r->cfg = *rc;
        r->retired = false;
        r->p0_share = cfg->p0_reserved;
        if (fresh) {
            r->rps_due = UINT64_MAX;
            r->warm.up = -1;
        }
        r->tls = strncmp(rc->endpoint, "https://", 8) == 0;

        free(r->auth);
        r->auth = NULL;
        const char *key = sc_secret(rc->api_key_env);
        if (key) {
            size_t n = strlen(key) + 32;
            if ((r->auth = malloc(n)) != NULL)
                snprintf(r->auth, n, "Authorization: Bearer %s", key);
        }

        bool self_condition = rc->cond_latency_gt_ms != 0;
        uint32_t first = rc->first_content_timeout_ms ? rc->first_content_timeout_ms
                       : (!self_condition && latency_gt) ? latency_gt : cfg->first_content_timeout_ms;
        r->first_content_ns = sc_ms(first);
        r->idle_ns = sc_ms(rc->idle_timeout_ms ? rc->idle_timeout_ms : cfg->idle_timeout_ms);
        r->connect_ms = rc->connect_timeout_ms ? rc->connect_timeout_ms : cfg->connect_timeout_ms;
        r->total_ms = rc->total_timeout_ms ? rc->total_timeout_ms : cfg->total_timeout_ms;

        rsp_breaker_cfg bc = {
            .failure_threshold = cfg->breaker_failures,
            .latency_gt_ns = self_condition ? 0 : sc_ms(latency_gt),
            .slow_threshold = cfg->breaker_slow,
            .cooldown_ns = sc_ms(cfg->breaker_cooldown_ms),
            .max_cooldown_ns = sc_ms(cfg->breaker_max_cooldown_ms),
            .half_open_probes = cfg->breaker_probes,
            .failure_rate = cfg->breaker_failure_rate,
            .rate_min_requests = cfg->breaker_min_requests,
            .rate_window_ns = sc_ms(cfg->breaker_window_ms),
        };
        rsp_aimd_cfg ac = {
            .min = rc->conc_min,
            .max = rc->conc_max,
            .initial = rc->conc_initial,
            .increase = 1.0,
            .decrease = 0.5,
            .cooldown_ns = 1000000000u,
            .probe_wait_ns = sc_ms(rc->probe_wait_ms),
            .probe_wait_max_ns = sc_ms(rc->probe_wait_max_ms),
        };
        /* the seed's latency rule: a route slower on average than another
         * route's latency_gt condition is avoided (policy/latency.h) */
        rsp_latency_cfg lc = { .limit_ns = self_condition ? 0 : sc_ms(latency_gt), .alpha = cfg->latency_alpha,
                               .recover = cfg->latency_recover, .probe_ns = sc_ms(cfg->latency_probe_ms) };
        if (ac.initial > ac.max)
            ac.initial = ac.max;
        if (ac.initial < ac.min)
            ac.initial = ac.min;
        if (fresh) {
            rsp_breaker_init(&r->breaker, &bc);
            rsp_aimd_init(&r->aimd, &ac);
            rsp_latency_init(&r->latency, &lc);
        } else {
            rsp_breaker_reconfigure(&r->breaker, &bc);
            rsp_aimd_reconfigure(&r->aimd, &ac);
            rsp_latency_reconfigure(&r->latency, &lc);
        }
        sc_limit_apply(&rc->limit, fresh, now, &r->rps, &r->has_rps, &r->tpm, &r->has_tpm);
    }
    /* live routes in configuration order, so logs and picks are stable */
    for (unsigned i = 0; i < cfg->nroutes; i++)
        for (unsigned k = i; k < t->n; k++)
            if (strcmp(t->r[k]->cfg.name, cfg->routes[i].name) == 0) {
                sc_route *tmp = t->r[i];
                t->r[i] = t->r[k];
                t->r[k] = tmp;
            }
    sc_routes_collect(t);
    return 0;
}

void sc_routes_collect(sc_routes *t)
{
    unsigned w = 0;
    for (unsigned i = 0; i < t->n; i++) {
        sc_route *r = t->r[i];
        if (r->retired && sc_route_inflight(r) == 0) {
            free(r->auth);
            free(r);
        } else {
            t->r[w++] = r;
        }
    }
    t->n = w;
}

void sc_routes_free(sc_routes *t)
{
    for (unsigned i = 0; i < t->n; i++) {
        free(t->r[i]->auth);
        free(t->r[i]);
    }
    t->n = 0;
}

sc_route *sc_routes_find(sc_routes *t, const char *name)
{
    for (unsigned i = 0; i < t->n; i++)
        if (!t->r[i]->retired && strcmp(t->r[i]->cfg.name, name) == 0)
            return t->r[i];
    return NULL;
}

bool sc_routes_is_failure_status(const sc_routes *t, uint32_t status)
{
    for (unsigned i = 0; i < t->n_fail_status; i++)
        if (t->fail_status[i] == status)
            return true;
    return false;
}

uint32_t sc_route_inflight(const sc_route *r)
{
    return r->inflight[0] + r->inflight[1] + r->inflight[2];
}

uint32_t sc_route_busy(const sc_route *r)
{
    return sc_route_inflight(r) - (r->held[0] + r->held[1] + r->held[2]);
}

double sc_routes_saturation(const sc_routes *t)
{
    double used = 0, limit = 0;
    for (unsigned i = 0; i < t->n; i++)
        if (!t->r[i]->retired) {
            used += sc_route_busy(t->r[i]);
            limit += rsp_aimd_limit(&t->r[i]->aimd);
        }
    return limit > 0 ? used / limit : 0.0;
}

sc_breaker_count sc_routes_breakers(const sc_routes *t, uint64_t now, unsigned which)
{
    sc_breaker_count c = { 0 };
    for (unsigned i = 0; i < t->n; i++) {
        const sc_route *r = t->r[i];
        if (r->retired || ((which & SC_BREAKERS_WEIGHTED) && !r->cfg.weight) ||
            ((which & SC_BREAKERS_PRIMARY) && r->cfg.standby))
            continue;
        c.routes++;
        rsp_breaker_state s = rsp_breaker_state_at(&r->breaker, now);
        c.open += s == RSP_BREAKER_OPEN;
        c.closed += s == RSP_BREAKER_CLOSED;
    }
    return c;
}

bool sc_route_has_room(const sc_route *r, unsigned prio)
{
    uint32_t p0 = r->inflight[0] - r->held[0];
    uint32_t p12 = r->inflight[1] - r->held[1] + r->inflight[2] - r->held[2];
    unsigned limit = rsp_aimd_limit(&r->aimd), safe = rsp_aimd_safe_limit(&r->aimd);
    if (p0 + p12 >= limit)
        return false;
    if (prio > 0)
        return p12 < rsp_sched_p12_room(safe, limit - safe, r->p0_share);
    uint32_t share = rsp_sched_p12_room(safe, 0, r->p0_share);
    return p0 + (p12 < share ? p12 : share) < safe;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

const char *sc_route_blocked(sc_route *r, uint64_t now, double tokens, unsigned prio, bool panic,
                             uint64_t *when)
{
    *when = UINT64_MAX;
    if (r->retired || r->cfg.weight == 0)
        return "retired or weight 0";
    if (!panic && !rsp_breaker_can_send(&r->breaker, now)) {
        if (rsp_breaker_state_at(&r->breaker, now) == RSP_BREAKER_OPEN)
            *when = rsp_breaker_open_until(&r->breaker);
        return "circuit breaker open";
    }
    if (now < r->embargo_until[prio]) {
        *when = r->embargo_until[prio];
        return "upstream asked to wait (Retry-After)";
    }
    if (!sc_route_has_room(r, prio))
        return "at its concurrency limit";
    if (r->has_rps) {
        uint64_t w = rsp_bucket_wait_ns(&r->rps, 1, rsp_bucket_due_time(r->rps_due, now));
        if (w) {
            *when = r->rps_due = w == UINT64_MAX ? UINT64_MAX : now + w;
            return "route rps limit";
        }
    }
    if (r->has_tpm && tokens > 0) {
        double need = tokens > r->tpm.burst ? r->tpm.burst : tokens;
        uint64_t w = rsp_bucket_wait_ns(&r->tpm, need, now);
        if (w) {
            *when = earliest(*when, w == UINT64_MAX ? UINT64_MAX : now + w);
            return "route tpm limit";
        }
    }
    return NULL;
}
