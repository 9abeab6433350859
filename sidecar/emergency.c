/*
 * emergency.c — emergency mode: the seed's drill, done by the sidecar.
 *
 * On: shed emergency.shed_fraction of P1/P2 at once (admission counts it
 * exactly), send the rest — and P0 — to the routes marked `standby` if any
 * is configured, and say so in the timeline. Entered by hand (POST
 * /admin/emergency?state=on, ringsidectl) or automatically when
 * error_ratio of the answers over window_ms failed (with at least
 * min_requests of them), or when every primary route's breaker is open.
 * Left by hand, or automatically once the primaries have been healthy
 * (breakers closed, errors under half the trigger ratio) for recover_ms:
 * the hysteresis keeps a flapping upstream from flapping the mode. A
 * manual "off" also holds the automatic trigger back for recover_ms.
 *
 * The error ratio comes from the answer counters sampled once a second
 * (rates.h): nothing is added to a request's path.
 */
#include "emergency.h"

#include "admission.h"
#include "routes.h"
#include "side.h"
#include "timeline.h"
#include "watch.h"

#include <stdint.h>
#include <stdio.h>

#define TICK (100ull * 1000000ull)

static unsigned standbys(const sc_daemon *d, char *names, size_t len)
{
    unsigned n = 0;
    size_t used = 0;
    names[0] = 0;
    for (unsigned i = 0; i < d->adm.routes.n; i++) {
        const sc_route *rt = d->adm.routes.r[i];
        if (rt->retired || !rt->cfg.standby || !rt->cfg.weight)
            continue;
        int w = snprintf(names + used, len - used, "%s'%s'", n ? ", " : "", rt->cfg.name);
        if (w > 0 && used + (size_t)w < len)
            used += (size_t)w;
        n++;
    }
    return n;
}

static void enter(sc_daemon *d, bool manual, const char *why)
{
    sc_watch_now(d, rs__now_ns());   /* what led here goes first in the timeline */
    sc_admission *a = &d->adm;
    char names[256];
    unsigned n = standbys(d, names, sizeof names);
    a->emergency = true;
    a->to_standby = n > 0;
    a->em_owed = 0;
    a->wake_at = 0;   /* queued requests may go now: the routes they may take changed */
    d->em.manual = manual;
    d->em.healthy_since = 0;
    sc_timeline_add(&d->timeline, true, "emergency_on", "",
                    "emergency mode on (%s): shedding %.0f%% of P1/P2 (emergency.shed_fraction); %s%s", why,
                    100.0 * d->cfg.em_shed_fraction, n ? "traffic goes to the standby routes " : "no standby route "
                    "configured: traffic stays on the primaries", names);
}

static void leave(sc_daemon *d, const char *why)
{
    sc_watch_now(d, rs__now_ns());
    d->adm.emergency = d->adm.to_standby = false;
    d->adm.wake_at = 0;   /* as on entering: the routes changed */
    d->em.manual = false;
    sc_timeline_add(&d->timeline, false, "emergency_off", "",
                    "emergency mode off (%s): no more emergency shedding; traffic back on the primary routes", why);
}

void sc_emergency_set(sc_daemon *d, bool on, uint64_t now)
{
    if (on && !d->adm.emergency)
        enter(d, true, "asked by hand");
    else if (on)
        d->em.manual = true;   /* now held by hand: automatic recovery will not end it */
    else if (d->adm.emergency) {
        leave(d, "asked by hand");
        d->em.hold_until = now + (uint64_t)d->cfg.em_recover_ms * 1000000u;
    }
}

/* ---------------------------------------------------------- keep warm */

/* ctx is the route's counters slot (obs.h): a number that stays valid
 * whatever a reload does to the route meanwhile */
static void warm_done(sc_daemon *d, void *ctx, long status, const char *err)
{
    unsigned slot = (unsigned)(uintptr_t)ctx;
    for (unsigned i = 0; i < d->adm.routes.n; i++) {
        sc_route *rt = d->adm.routes.r[i];
        if (rt->obs_slot != slot || rt->retired)
            continue;
        rt->warm.inflight = false;
        /* any answer below 500 means a server that answers, on a connection
         * now open: the probe's purpose, whatever the status */
        int8_t up = status && status < 500;
        if (up != rt->warm.up) {
            if (up)
                sc_timeline_add(&d->timeline, false, "standby_up", rt->cfg.name,
                                "route '%s' (standby): answering its keep-warm probe (HTTP %ld)", rt->cfg.name,
                                status);
            else if (status)
                sc_timeline_add(&d->timeline, true, "standby_down", rt->cfg.name,
                                "route '%s' (standby): keep-warm probe answered HTTP %ld", rt->cfg.name, status);
            else
                sc_timeline_add(&d->timeline, true, "standby_down", rt->cfg.name,
                                "route '%s' (standby): keep-warm probe failed: %s", rt->cfg.name, err);
        }
        rt->warm.up = up;
    }
}

/* GET {endpoint}/models every keep_warm_ms: cheap for an OpenAI-style API,
 * and it keeps a connection to the standby open. Not while traffic goes to
 * the standbys (emergency mode): that keeps them warm, and a probe beside
 * it would only take the connection a request wanted. */
static void keep_warm(sc_daemon *d, uint64_t now)
{
    d->em.warm_due = UINT64_MAX;
    for (unsigned i = 0; i < d->adm.routes.n; i++) {
        sc_route *rt = d->adm.routes.r[i];
        if (rt->retired || !rt->cfg.standby || !rt->cfg.keep_warm_ms || d->adm.to_standby)
            continue;
        if (!rt->warm.inflight && now >= rt->warm.next) {
            if (!rt->obs_slot)
                rt->obs_slot = sc_obs_slot(&d->obs, rt->cfg.name);
            char url[sizeof rt->cfg.endpoint + 16];
            snprintf(url, sizeof url, "%s/models", rt->cfg.endpoint);
            struct curl_slist *h = rt->auth ? curl_slist_append(NULL, rt->auth) : NULL;
            uint32_t timeout = rt->cfg.keep_warm_ms < 10000 ? rt->cfg.keep_warm_ms : 10000;
            rt->warm.inflight = sc_side_request(d, "GET", url, h, NULL, 0, timeout, rt->cfg.ca_file, warm_done,
                                                (void *)(uintptr_t)rt->obs_slot) == 0;
            rt->warm.next = now + (uint64_t)rt->cfg.keep_warm_ms * 1000000u;
        }
        if (rt->warm.next < d->em.warm_due)
            d->em.warm_due = rt->warm.next;
    }
}

/* ------------------------------------------------------------- the mode */

void sc_emergency_tick(sc_daemon *d, uint64_t now)
{
    sc_emergency *e = &d->em;
    if (now < e->next)
        return;
    e->next = now + TICK;
    keep_warm(d, now);
    sc_rates_sample_now(&d->rates, &d->obs, now);
    sc_rates_window w = sc_rates_over(&d->rates, &d->obs, now, (uint64_t)d->cfg.em_window_ms * 1000000u);
    uint64_t n = w.answers;
    double ratio = w.error_ratio;
    sc_breaker_count c = sc_routes_breakers(&d->adm.routes, now, SC_BREAKERS_WEIGHTED | SC_BREAKERS_PRIMARY);
    bool open = c.routes && c.open == c.routes;
    bool all_closed = c.routes && c.closed == c.routes;
    if (!d->adm.emergency) {
        if (now < e->hold_until || d->state != SC_RUNNING)
            return;
        char why[160];
        if (n >= d->cfg.em_min_requests && d->cfg.em_error_ratio > 0 && ratio >= d->cfg.em_error_ratio)
            snprintf(why, sizeof why, "%.0f%% of %llu answers failed over %u ms, emergency.error_ratio is %.0f%%",
                     100.0 * ratio, (unsigned long long)n, d->cfg.em_window_ms, 100.0 * d->cfg.em_error_ratio);
        else if (open && d->cfg.em_when_open)
            snprintf(why, sizeof why, "every primary route's circuit breaker is open");
        else
            return;
        enter(d, false, why);
        return;
    }
    if (e->manual)
        return;
    bool healthy = all_closed && (d->cfg.em_error_ratio == 0 || n < d->cfg.em_min_requests ||
                                  ratio < d->cfg.em_error_ratio / 2);
    if (!healthy) {
        e->healthy_since = 0;
        return;
    }
    if (!e->healthy_since)
        e->healthy_since = now;
    if (now - e->healthy_since >= (uint64_t)d->cfg.em_recover_ms * 1000000u) {
        char why[120];
        snprintf(why, sizeof why, "the primaries have been healthy for %u ms (emergency.recover_ms)",
                 d->cfg.em_recover_ms);
        leave(d, why);
    }
}

uint64_t sc_emergency_due(const sc_daemon *d)
{
    /* only while there is something to watch — requests in flight or
     * queued (waiting for a route, perhaps for this very switch) — else an
     * idle sidecar sleeps until a standby's next keep-warm probe */
    const sc_admission *a = &d->adm;
    bool busy = a->emergency || a->inflight || rsp_sched_len(&a->sched, 0) || rsp_sched_len(&a->sched, 1) ||
                rsp_sched_len(&a->sched, 2);
    return busy ? d->em.next : d->em.warm_due;
}
