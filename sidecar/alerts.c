/*
 * alerts.c — the alert rules (alerts.rules, by default the seed's:
 * errors above 5% for 5 minutes, mean latency above 500 ms for 5 minutes,
 * no route with a closed breaker for a minute, shedding for a minute,
 * emergency mode), evaluated in the sidecar once a second, as Prometheus
 * evaluates deploy/prometheus/ringside-rules.yml: a rule whose metric is
 * above its threshold continuously for for_ms fires; it resolves when the
 * metric is no longer above. Firing and resolving go to the timeline and
 * to the notifications (notify.c).
 */
#include "alerts.h"

#include "notify.h"
#include "routes.h"
#include "timeline.h"
#include "watch.h"

#include <stdio.h>
#include <time.h>

#define EVAL_EVERY (1000ull * 1000000ull)
#define RESEND_EVERY (60ull * 1000000000ull)

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The rule's metric now; *known false when there is too little to judge
 * (a ratio over too few answers). */
static double measure(sc_daemon *d, const sc_alert_rule_cfg *r, uint64_t now, bool *known)
{
    *known = true;
    switch (r->metric) {
    case SC_AM_ERROR_RATIO:
    case SC_AM_MEAN_LATENCY_MS: {
        sc_rates_window w = sc_rates_over(&d->rates, &d->obs, now, (uint64_t)r->window_ms * 1000000u);
        *known = w.answers >= r->min_answers;
        return r->metric == SC_AM_ERROR_RATIO ? w.errors_ratio : w.mean_latency_s * 1000.0;
    }
    case SC_AM_ROUTES_OUT: {   /* 1 when no live route's breaker is closed */
        sc_breaker_count c = sc_routes_breakers(&d->adm.routes, now, SC_BREAKERS_WEIGHTED);
        return c.routes && !c.closed ? 1.0 : 0.0;
    }
    case SC_AM_SHEDDING:
        return d->watch.shedding[1] || d->watch.shedding[2] ? 1.0 : 0.0;
    case SC_AM_EMERGENCY:
        return d->adm.emergency ? 1.0 : 0.0;
    case SC_AM_SATURATION:
        return sc_routes_saturation(&d->adm.routes);
    default:
        *known = false;
        return 0;
    }
}

static void announce(sc_daemon *d, const sc_alert_rule_cfg *r, sc_alert_state *st, bool firing, uint64_t now)
{
    char summary[256];
    snprintf(summary, sizeof summary, "%s: %s is %.4g, %s %.4g%s", r->name, sc_alert_metric_name(r->metric),
             st->value, firing ? "above" : "no longer above", r->above,
             firing && r->for_ms ? " for the rule's for_ms" : "");
    sc_watch_now(d, now);   /* what led here goes first in the timeline */
    uint64_t ms = wall_ms();
    if (firing)
        st->fired_ms = ms;
    st->resend_at = now + RESEND_EVERY;
    sc_timeline_add(&d->timeline, firing, firing ? "alert_firing" : "alert_resolved", "", "alert %s (%s)",
                    summary, r->severity);
    sc_alert_note n = { .name = r->name, .severity = r->severity, .summary = summary, .firing = firing,
                        .value = st->value, .threshold = r->above, .starts_ms = st->fired_ms, .ends_ms = ms };
    sc_notify(d, &n, false);
}

void sc_alerts_tick(sc_daemon *d, uint64_t now)
{
    sc_notify_tick(d, now);
    if (now < d->alerts_next)
        return;
    d->alerts_next = now + EVAL_EVERY;
    sc_rates_sample_now(&d->rates, &d->obs, now);
    for (unsigned i = 0; i < d->cfg.n_alert_rules; i++) {
        const sc_alert_rule_cfg *r = &d->cfg.alert_rules[i];
        sc_alert_state *st = &d->alert[i];
        bool known;
        double v = measure(d, r, now, &known);
        bool above = known && v > r->above;
        if (known)
            st->value = v;
        if (!above) {
            st->pending_since = 0;
            if (st->firing) {
                st->firing = false;
                announce(d, r, st, false, now);
            }
            continue;
        }
        if (!st->pending_since)
            st->pending_since = now;
        if (!st->firing && now - st->pending_since >= (uint64_t)r->for_ms * 1000000u) {
            st->firing = true;
            announce(d, r, st, true, now);
        } else if (st->firing && now >= st->resend_at && d->cfg.alertmanager[0]) {
            st->resend_at = now + RESEND_EVERY;
            char summary[160];
            snprintf(summary, sizeof summary, "%s: %s is %.4g, above %.4g", r->name,
                     sc_alert_metric_name(r->metric), v, r->above);
            sc_alert_note n = { .name = r->name, .severity = r->severity, .summary = summary, .firing = true,
                                .value = v, .threshold = r->above, .starts_ms = st->fired_ms };
            sc_notify(d, &n, true);
        }
    }
}

uint64_t sc_alerts_due(const sc_daemon *d)
{
    uint64_t due = sc_notify_due(d);
    /* rules need their once-a-second look only while something moves or fires */
    bool busy = d->adm.inflight || d->adm.emergency;
    for (unsigned i = 0; i < d->cfg.n_alert_rules && !busy; i++)
        busy = d->alert[i].pending_since || d->alert[i].firing;
    return busy && d->alerts_next < due ? d->alerts_next : due;
}
