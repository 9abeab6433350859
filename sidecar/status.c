/*
 * status.c — see status.h. Totals, not rates: a reader that polls takes
 * the differences (the status page does, every second), so the sidecar
 * keeps no window of its own for this.
 *
 * {"version","pid","io_backend","state","uptime_s","clients",
 *  "queues":{"P0":n,...}, "emergency":bool, "shedding":{"P1":bool,"P2":bool},
 *  "answers":{"total":n,"ok":n,"errors":n}, "latency":{"count":n,"sum_s":x},
 *  "routes":[{"name","endpoint","standby","weight","breaker","limit","inflight",
 *             "embargo_s","mean_first_content_ms","avoided","attempts",
 *             "ok","failed","rate_limited"}]}
 */
#include "status.h"

#include "admission.h"
#include "rates.h"
#include "routes.h"
#include "text.h"

#include <unistd.h>

static const char *const breaker_names[] = { [RSP_BREAKER_CLOSED] = "closed", [RSP_BREAKER_OPEN] = "open",
                                             [RSP_BREAKER_HALF_OPEN] = "half_open" };

static void answers(sc_text *t, const sc_obs *o, uint64_t now)
{
    sc_rates_sample a = sc_rates_totals(o, now);
    sc_text_printf(t, ",\"answers\":{\"total\":%llu,\"ok\":%llu,\"errors\":%llu}", (unsigned long long)a.total,
                   (unsigned long long)a.ok, (unsigned long long)a.errors);
    sc_text_printf(t, ",\"latency\":{\"count\":%llu,\"sum_s\":%.6f}", (unsigned long long)a.latency_n,
                   a.latency_sum);
}

static void route(sc_text *t, const sc_route *rt, uint64_t now)
{
    uint64_t embargo = 0;
    for (int c = 0; c < 3; c++)
        if (rt->embargo_until[c] > now && rt->embargo_until[c] - now > embargo)
            embargo = rt->embargo_until[c] - now;
    sc_text_put(t, "{\"name\":");
    sc_text_json_str(t, rt->cfg.name);
    sc_text_put(t, ",\"endpoint\":");
    sc_text_json_str(t, rt->cfg.endpoint);
    sc_text_printf(t, ",\"standby\":%s", rt->cfg.standby ? "true" : "false");
    sc_text_printf(t, ",\"weight\":%u,\"breaker\":\"%s\",\"limit\":%u,\"inflight\":[%u,%u,%u],\"embargo_s\":%.3f,"
                      "\"mean_first_content_ms\":%.1f,\"avoided\":%s,\"attempts\":%llu,\"ok\":%llu,"
                      "\"failed\":%llu,\"rate_limited\":%llu}",
                   rt->cfg.weight, breaker_names[rsp_breaker_state_at(&rt->breaker, now)], rsp_aimd_limit(&rt->aimd),
                   rt->inflight[0], rt->inflight[1], rt->inflight[2], (double)embargo / 1e9,
                   rt->latency.mean_ns / 1e6, rt->latency.slow ? "true" : "false",
                   (unsigned long long)rt->stats.attempts, (unsigned long long)rt->stats.ok,
                   (unsigned long long)rt->stats.failed, (unsigned long long)rt->stats.rate_limited);
}

char *sc_status_json(sc_daemon *d, uint64_t now, size_t *len)
{
    sc_text t = { 0 };
    sc_text_printf(&t, "{\"version\":\"%s\",\"pid\":%d,\"io_backend\":\"%s\",\"state\":\"%s\","
                       "\"uptime_s\":%.1f,\"clients\":%u",
                   RS_VERSION_STRING, (int)getpid(), sc_loop_backend_name(&d->loop),
                   d->state == SC_RUNNING ? "running" : "draining", (double)(now - d->started_at) / 1e9,
                   d->nclients);
    sc_text_printf(&t, ",\"queues\":{\"P0\":%u,\"P1\":%u,\"P2\":%u}", rsp_sched_len(&d->adm.sched, 0),
                   rsp_sched_len(&d->adm.sched, 1), rsp_sched_len(&d->adm.sched, 2));
    sc_text_printf(&t, ",\"emergency\":%s", d->adm.emergency ? "true" : "false");
    sc_text_printf(&t, ",\"shedding\":{\"P1\":%s,\"P2\":%s}", d->watch.shedding[1] ? "true" : "false",
                   d->watch.shedding[2] ? "true" : "false");
    answers(&t, &d->obs, now);
    sc_text_put(&t, ",\"routes\":[");
    bool first = true;
    for (unsigned i = 0; i < d->adm.routes.n; i++) {
        if (d->adm.routes.r[i]->retired)
            continue;
        if (!first)
            sc_text_put(&t, ",");
        first = false;
        route(&t, d->adm.routes.r[i], now);
    }
    sc_text_put(&t, "]}");
    return sc_text_take(&t, len);
}
