/*
 * metrics.c — the sidecar's state as a Prometheus text page (format
 * 0.0.4), named by Prometheus's conventions: counters end in _total,
 * durations are _seconds histograms, every series has its unit in its
 * name. Built whole on the loop's thread from what the modules keep
 * (obs.h, the routes, admission, the clients), a few KB; nothing here
 * is on a request's path. Route gauges show live routes only: a route a
 * reload retired may share its name with the new one, and a series must
 * appear once.
 */
#include "metrics.h"

#include "obs.h"
#include "routes.h"
#include "text.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static const char *const hist_names[SC_H_COUNT] = {
    [SC_H_QUEUE_WAIT] = "ringside_queue_wait_seconds",
    [SC_H_FIRST_CONTENT] = "ringside_first_content_seconds",
    [SC_H_TOTAL] = "ringside_request_duration_seconds",
};
static const char *const hist_help[SC_H_COUNT] = {
    [SC_H_QUEUE_WAIT] = "Time from arrival to the first attempt, of requests sent upstream.",
    [SC_H_FIRST_CONTENT] = "Time from arrival to the first content of the answer (keep-alives do not count).",
    [SC_H_TOTAL] = "Time from arrival to the terminal answer.",
};

static void head(sc_text *t, const char *name, const char *type, const char *help)
{
    sc_text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{route="…"[,priority="Pn"]: the route's name escaped for a label */
static void series(sc_text *t, const char *name, const char *route, int prio)
{
    sc_text_printf(t, "%s{route=\"", name);
    sc_text_label(t, route);
    if (prio >= 0)
        sc_text_printf(t, "\",priority=\"P%d", prio);
    sc_text_put(t, "\"");
}

static void histogram(sc_text *t, const char *name, const char *route, int prio, const sc_hist *h)
{
    char n[96];
    uint64_t cum = 0;
    snprintf(n, sizeof n, "%s_bucket", name);
    for (unsigned i = 0; i <= SC_OBS_BOUNDS; i++) {
        cum += h->bucket[i];
        series(t, n, route, prio);
        if (i < SC_OBS_BOUNDS)
            sc_text_printf(t, ",le=\"%g\"} %llu\n", sc_obs_bounds[i], (unsigned long long)cum);
        else
            sc_text_printf(t, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    snprintf(n, sizeof n, "%s_sum", name);
    series(t, n, route, prio);
    sc_text_printf(t, "} %.6f\n", h->sum);
    snprintf(n, sizeof n, "%s_count", name);
    series(t, n, route, prio);
    sc_text_printf(t, "} %llu\n", (unsigned long long)h->count);
}

static void obs_part(sc_text *t, const sc_obs *o)
{
    /* every outcome of a route in use, zeros included: a series that
     * appears only at its first increment loses that increment to rate() */
    head(t, "ringside_requests_total", "counter",
         "Terminal answers by route (\"\": refused before one was chosen), priority and outcome.");
    for (unsigned s = 0; s < o->n; s++)
        for (int p = 0; p < 3; p++)
            for (unsigned k = 0; k < SC_OUT_COUNT; k++)
                if (s > 0 || o->route[s].requests[p][k]) {
                    series(t, "ringside_requests_total", o->name[s], p);
                    sc_text_printf(t, ",outcome=\"%s\"} %llu\n", sc_obs_outcome_name(k),
                                   (unsigned long long)o->route[s].requests[p][k]);
                }
    head(t, "ringside_attempts_total", "counter", "Attempts sent upstream, retries included.");
    for (unsigned s = 1; s < o->n; s++)
        for (int p = 0; p < 3; p++) {
            series(t, "ringside_attempts_total", o->name[s], p);
            sc_text_printf(t, "} %llu\n", (unsigned long long)o->route[s].attempts[p]);
        }
    head(t, "ringside_tokens_used_total", "counter", "LLM tokens the upstream reported using (usage).");
    for (unsigned s = 1; s < o->n; s++)
        if (o->route[s].tokens_used) {
            series(t, "ringside_tokens_used_total", o->name[s], -1);
            sc_text_printf(t, "} %llu\n", (unsigned long long)o->route[s].tokens_used);
        }
    head(t, "ringside_retries_total", "counter", "Retries scheduled, by priority.");
    for (int p = 0; p < 3; p++)
        sc_text_printf(t, "ringside_retries_total{priority=\"P%d\"} %llu\n", p, (unsigned long long)o->retries[p]);
    head(t, "ringside_retry_budget_refusals_total", "counter",
         "Retries refused because the priority's retry budget was spent.");
    for (int p = 0; p < 3; p++)
        sc_text_printf(t, "ringside_retry_budget_refusals_total{priority=\"P%d\"} %llu\n", p,
                       (unsigned long long)o->budget_refusals[p]);
    for (unsigned h = 0; h < SC_H_COUNT; h++) {
        head(t, hist_names[h], "histogram", hist_help[h]);
        for (unsigned s = 0; s < o->n; s++)
            for (int p = 0; p < 3; p++)
                if (o->route[s].hist[h][p].count)
                    histogram(t, hist_names[h], o->name[s], p, &o->route[s].hist[h][p]);
    }
}

static void routes_part(sc_text *t, sc_daemon *d, uint64_t now)
{
    const sc_routes *rs = &d->adm.routes;
    static const int breaker_value[] = { [RSP_BREAKER_CLOSED] = 0, [RSP_BREAKER_HALF_OPEN] = 1,
                                         [RSP_BREAKER_OPEN] = 2 };
    head(t, "ringside_breaker_state", "gauge", "Circuit breaker: 0 closed, 1 half-open, 2 open.");
    for (unsigned i = 0; i < rs->n; i++)
        if (!rs->r[i]->retired) {
            series(t, "ringside_breaker_state", rs->r[i]->cfg.name, -1);
            sc_text_printf(t, "} %d\n", breaker_value[rsp_breaker_state_at(&rs->r[i]->breaker, now)]);
        }
    head(t, "ringside_breaker_opened_total", "counter", "Times the route's breaker opened (reopenings included).");
    for (unsigned i = 0; i < rs->n; i++)
        if (!rs->r[i]->retired) {
            series(t, "ringside_breaker_opened_total", rs->r[i]->cfg.name, -1);
            sc_text_printf(t, "} %llu\n", (unsigned long long)rs->r[i]->breaker.opened);
        }
    head(t, "ringside_standby_up", "gauge", "A standby route answers its keep-warm probe (1) or not (0).");
    for (unsigned i = 0; i < rs->n; i++)
        if (!rs->r[i]->retired && rs->r[i]->cfg.standby && rs->r[i]->warm.up >= 0) {
            series(t, "ringside_standby_up", rs->r[i]->cfg.name, -1);
            sc_text_printf(t, "} %d\n", rs->r[i]->warm.up);
        }
    head(t, "ringside_concurrency_limit", "gauge", "The route's learned (AIMD) limit of attempts in flight.");
    for (unsigned i = 0; i < rs->n; i++)
        if (!rs->r[i]->retired) {
            series(t, "ringside_concurrency_limit", rs->r[i]->cfg.name, -1);
            sc_text_printf(t, "} %u\n", rsp_aimd_limit(&rs->r[i]->aimd));
        }
    head(t, "ringside_inflight", "gauge", "Attempts at the upstream now.");
    for (unsigned i = 0; i < rs->n; i++)
        for (int p = 0; p < 3 && !rs->r[i]->retired; p++) {
            series(t, "ringside_inflight", rs->r[i]->cfg.name, p);
            sc_text_printf(t, "} %u\n", rs->r[i]->inflight[p]);
        }
    head(t, "ringside_embargo_seconds", "gauge",
         "Seconds left of the upstream's Retry-After for the priority on the route (0: none).");
    for (unsigned i = 0; i < rs->n; i++)
        if (!rs->r[i]->retired)
            for (int p = 0; p < 3; p++) {
                uint64_t until = rs->r[i]->embargo_until[p];
                series(t, "ringside_embargo_seconds", rs->r[i]->cfg.name, p);
                sc_text_printf(t, "} %.3f\n", until > now ? (double)(until - now) / 1e9 : 0.0);
            }
    /* what to scale on: the share of the learned capacity in use, over
     * the live routes (an HPA target of 0.8 is the seed's "add instances
     * when utilisation stays above 80%") */
    head(t, "ringside_saturation", "gauge", "Attempts in flight over the routes' concurrency limits (0..1+).");
    sc_text_printf(t, "ringside_saturation %.4f\n", sc_routes_saturation(rs));
}

static void ring_use(const rs__ring *r, uint64_t consumer, uint64_t producer, uint64_t *sum)
{
    /* the client writes one of the two positions: never trust it past the ring */
    uint64_t used = producer - consumer;
    *sum += used > r->cap ? r->cap : used;
}

static void clients_part(sc_text *t, sc_daemon *d)
{
    uint64_t sq = 0, cq = 0;
    for (sc_client *c = d->clients; c; c = c->next) {
        if (c->closing)
            continue;
        ring_use(&c->sq, c->sq_cur.pos, atomic_load_explicit(&c->sq.hdr->head, memory_order_relaxed), &sq);
        ring_use(&c->cq, atomic_load_explicit(&c->cq.hdr->tail, memory_order_relaxed), c->cq_head, &cq);
    }
    head(t, "ringside_clients", "gauge", "Clients registered now.");
    sc_text_printf(t, "ringside_clients %u\n", d->nclients);
    head(t, "ringside_ring_used_bytes", "gauge", "Bytes waiting in the clients' rings, summed over clients.");
    sc_text_printf(t, "ringside_ring_used_bytes{ring=\"submission\"} %llu\n", (unsigned long long)sq);
    sc_text_printf(t, "ringside_ring_used_bytes{ring=\"completion\"} %llu\n", (unsigned long long)cq);
    head(t, "ringside_ring_capacity_bytes", "gauge", "Bytes of each kind of ring, summed over clients.");
    sc_text_printf(t, "ringside_ring_capacity_bytes %llu\n",
                   (unsigned long long)(d->cfg.ring_bytes * d->nclients));
    head(t, "ringside_clients_refused_total", "counter", "Registrations refused (not admitted, bad hello).");
    sc_text_printf(t, "ringside_clients_refused_total %llu\n", (unsigned long long)d->stats.clients_refused);
    head(t, "ringside_bad_records_total", "counter", "Malformed records a client wrote.");
    sc_text_printf(t, "ringside_bad_records_total %llu\n", (unsigned long long)d->stats.bad_records);
}

void sc_metrics_page(sc_daemon *d, uint64_t now, sc_text *t)
{
    head(t, "ringside_build_info", "gauge", "Always 1: the version and the event loop's backend.");
    sc_text_printf(t, "ringside_build_info{version=\"%s\",io_backend=\"%s\"} 1\n", RS_VERSION_STRING,
                   sc_loop_backend_name(&d->loop));
    head(t, "ringside_queue_depth", "gauge", "Requests queued for dispatch, by priority.");
    for (int p = 0; p < 3; p++)
        sc_text_printf(t, "ringside_queue_depth{priority=\"P%d\"} %u\n", p, rsp_sched_len(&d->adm.sched, p));
    head(t, "ringside_emergency", "gauge", "1 while emergency mode is on (emergency.*).");
    sc_text_printf(t, "ringside_emergency %d\n", d->adm.emergency ? 1 : 0);
    head(t, "ringside_alert_firing", "gauge", "1 while the sidecar's alert rule fires (alerts.rules).");
    for (unsigned i = 0; i < d->cfg.n_alert_rules; i++) {
        sc_text_put(t, "ringside_alert_firing{alert=\"");
        sc_text_label(t, d->cfg.alert_rules[i].name);
        sc_text_printf(t, "\"} %d\n", d->alert[i].firing ? 1 : 0);
    }
    head(t, "ringside_notifications_total", "counter",
         "Alert notifications (webhooks, Alertmanager): delivered, given up after retries, dropped from a full queue.");
    sc_text_printf(t, "ringside_notifications_total{result=\"sent\"} %llu\n", (unsigned long long)d->notify.sent);
    sc_text_printf(t, "ringside_notifications_total{result=\"failed\"} %llu\n", (unsigned long long)d->notify.failed);
    sc_text_printf(t, "ringside_notifications_total{result=\"dropped\"} %llu\n", (unsigned long long)d->notify.dropped);
    head(t, "ringside_shedding", "gauge", "1 while requests of the priority are being shed (shedding.*).");
    for (int p = 1; p < 3; p++)
        sc_text_printf(t, "ringside_shedding{priority=\"P%d\"} %d\n", p, d->watch.shedding[p] ? 1 : 0);
    head(t, "ringside_tokens_reserved", "gauge",
         "LLM token estimates (prompt + max_tokens) of the attempts in flight.");
    sc_text_printf(t, "ringside_tokens_reserved %.0f\n", d->adm.tokens_in_flight > 0 ? d->adm.tokens_in_flight : 0.0);
    obs_part(t, &d->obs);
    routes_part(t, d, now);
    clients_part(t, d);
}
