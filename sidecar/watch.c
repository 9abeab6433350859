/*
 * watch.c — turns the sidecar's state changes into timeline events.
 *
 * The policies change state deep inside a request's handling (a breaker
 * opens on a failure verdict, an embargo starts on a 429), and some only
 * by the passage of time (an open breaker's cooldown ends, an embargo
 * runs out). Rather than a call at each of those places, this module
 * looks at the state every WATCH_EVERY of loop time and reports what
 * differs from its last look: one place that knows the event vocabulary,
 * and the policies stay free of logging. An event is at most that late.
 * Client storms are counted a second at a time.
 */
#include "watch.h"

#include "admission.h"
#include "routes.h"
#include "timeline.h"

#include <stdio.h>

#define WATCH_EVERY (10ull * 1000000ull)
/* Registrations a second (accepted or refused) that make a client storm —
 * apps in a crash loop, a deploy gone wrong — and below which it is over. */
#define STORM_PER_S 100
#define STORM_OVER_PER_S 25

static const char *const breaker_kind[] = { [RSP_BREAKER_CLOSED] = "breaker_closed",
                                            [RSP_BREAKER_OPEN] = "breaker_open",
                                            [RSP_BREAKER_HALF_OPEN] = "breaker_half_open" };

static void breaker_event(sc_daemon *d, sc_route *rt, rsp_breaker_state s, uint64_t now)
{
    rsp_breaker *b = &rt->breaker;
    uint32_t n;
    double rate = rsp_breaker_failure_rate(b, now, &n);
    if (s == RSP_BREAKER_OPEN)
        sc_timeline_add(&d->timeline, true, breaker_kind[s], rt->cfg.name,
                        "route '%s': circuit breaker open for %.0f ms (%.0f%% of %u recent attempts failed)",
                        rt->cfg.name, (double)(b->open_until - now) / 1e6, 100.0 * rate, n);
    else if (s == RSP_BREAKER_HALF_OPEN)
        sc_timeline_add(&d->timeline, false, breaker_kind[s], rt->cfg.name,
                        "route '%s': circuit breaker half-open: probing with up to %u requests", rt->cfg.name,
                        b->cfg.half_open_probes);
    else
        sc_timeline_add(&d->timeline, false, breaker_kind[s], rt->cfg.name,
                        "route '%s': circuit breaker closed: the route recovered", rt->cfg.name);
}

/* A probe can open and close a breaker's half-open state within one look:
 * the breaker's transition counters say what happened since the last one,
 * and the path is walked open → half-open → closed (or open again) from
 * the state seen then, so no transition goes unreported. An OPEN breaker
 * past its cooldown is reported half-open when its probe goes. */
static void watch_breaker(sc_daemon *d, sc_route *rt, uint64_t now)
{
    const rsp_breaker *b = &rt->breaker;
    uint64_t opened = b->opened - rt->seen.opened, half = b->half_opened - rt->seen.half_opened,
             closed = b->closed - rt->seen.closed;
    rt->seen.opened = b->opened;
    rt->seen.half_opened = b->half_opened;
    rt->seen.closed = b->closed;
    rsp_breaker_state s = (rsp_breaker_state)rt->seen.breaker;
    while (opened + half + closed) {
        if (s == RSP_BREAKER_OPEN && half) {
            s = RSP_BREAKER_HALF_OPEN;
            half--;
        } else if (s == RSP_BREAKER_HALF_OPEN && closed) {
            s = RSP_BREAKER_CLOSED;
            closed--;
        } else if (opened) {
            s = RSP_BREAKER_OPEN;
            opened--;
        } else {   /* counters that fit no path (a reload's fresh breaker): the state as it is */
            s = b->state;
            opened = half = closed = 0;
        }
        breaker_event(d, rt, s, now);
    }
    rt->seen.breaker = (uint8_t)s;
}

static void watch_embargo(sc_daemon *d, sc_route *rt, uint64_t now)
{
    int from = -1;   /* the highest class barred now */
    for (int c = 0; c < 3 && from < 0; c++)
        if (rt->embargo_until[c] > now)
            from = c;
    if (from >= 0 && rt->embargo_until[from] < d->watch.wake)
        d->watch.wake = rt->embargo_until[from];   /* to report its end on time */
    if ((from >= 0) == rt->seen.embargo)
        return;
    rt->seen.embargo = from >= 0;
    if (from >= 0)
        sc_timeline_add(&d->timeline, true, "embargo", rt->cfg.name,
                        "route '%s': the upstream said Retry-After: P%d%s wait %.1f s", rt->cfg.name, from,
                        from < 2 ? " and below" : "", (double)(rt->embargo_until[from] - now) / 1e9);
    else
        sc_timeline_add(&d->timeline, false, "embargo_end", rt->cfg.name,
                        "route '%s': Retry-After over: every class may go again", rt->cfg.name);
}

static void watch_latency(sc_daemon *d, sc_route *rt)
{
    if (rt->latency.slow == rt->seen.slow)
        return;
    rt->seen.slow = rt->latency.slow;
    double limit = (double)rt->latency.cfg.limit_ns / 1e6;
    if (rt->latency.slow)
        sc_timeline_add(&d->timeline, true, "failover", rt->cfg.name,
                        "route '%s': mean first content %.0f ms is over %.0f ms (a latency_gt condition): "
                        "avoided, one probe request per latency.probe_ms", rt->cfg.name,
                        rt->latency.mean_ns / 1e6, limit);
    else
        sc_timeline_add(&d->timeline, false, "failback", rt->cfg.name,
                        "route '%s': mean first content %.0f ms is back under %.0f ms: it takes its share again",
                        rt->cfg.name, rt->latency.mean_ns / 1e6, limit * rt->latency.cfg.recover);
}

static void watch_panic(sc_daemon *d)
{
    sc_admission *a = &d->adm;
    if (a->panic == d->watch.panic)
        return;
    d->watch.panic = a->panic;
    if (a->panic)
        sc_timeline_add(&d->timeline, true, "panic", "",
                        "every route is out by its circuit breaker, or more than breaker.max_ejected (%.2f) of "
                        "them: the least bad %u take%s traffic anyway", d->cfg.max_ejected, a->panic,
                        a->panic == 1 ? "s" : "");
    else
        sc_timeline_add(&d->timeline, false, "panic_end", "", "no route is let in past its breaker any more");
}

static void watch_shedding(sc_daemon *d, uint64_t now)
{
    for (unsigned p = 1; p < 3; p++) {
        char why[200];
        bool on = sc_admission_shed_reason(d, p, now, why, sizeof why) != NULL;
        if (on == d->watch.shedding[p])
            continue;
        d->watch.shedding[p] = on;
        if (on)
            sc_timeline_add(&d->timeline, true, "shedding", "", "shedding %.0f%% of P%u: %s",
                            100.0 * d->cfg.shed_fraction, p, why);
        else
            sc_timeline_add(&d->timeline, false, "shedding_end", "", "no longer shedding P%u", p);
    }
}

static void watch_clients(sc_daemon *d, uint64_t now)
{
    if (d->watch.storm && d->watch.storm_at < d->watch.wake)
        d->watch.wake = d->watch.storm_at;   /* to see it end on time */
    if (now < d->watch.storm_at)
        return;
    uint64_t regs = d->stats.clients_accepted + d->stats.clients_refused;
    uint64_t n = regs - d->watch.storm_regs, refused = d->stats.clients_refused - d->watch.storm_refused;
    bool first = d->watch.storm_at == 0;
    d->watch.storm_at = now + 1000000000ull;
    d->watch.storm_regs = regs;
    d->watch.storm_refused = d->stats.clients_refused;
    if (first)
        return;
    if (!d->watch.storm && n >= STORM_PER_S) {
        d->watch.storm = true;
        sc_timeline_add(&d->timeline, true, "client_storm", "",
                        "client storm: %llu registrations in the last second (%llu refused), %u clients connected",
                        (unsigned long long)n, (unsigned long long)refused, d->nclients);
    } else if (d->watch.storm && n < STORM_OVER_PER_S) {
        d->watch.storm = false;
        sc_timeline_add(&d->timeline, false, "client_storm_end", "",
                        "client storm over: %llu registrations in the last second, %u clients connected",
                        (unsigned long long)n, d->nclients);
    }
}

void sc_watch(sc_daemon *d, uint64_t now)
{
    if (now >= d->watch.next)
        sc_watch_now(d, now);
}

void sc_watch_now(sc_daemon *d, uint64_t now)
{
    d->watch.next = now + WATCH_EVERY;
    d->watch.wake = UINT64_MAX;
    for (unsigned i = 0; i < d->adm.routes.n; i++) {
        sc_route *rt = d->adm.routes.r[i];
        if (rt->retired)
            continue;
        watch_breaker(d, rt, now);
        watch_embargo(d, rt, now);
        watch_latency(d, rt);
    }
    watch_panic(d);
    watch_shedding(d, now);
    watch_clients(d, now);
}
