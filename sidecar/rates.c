/*
 * rates.c — see rates.h.
 */
#include "rates.h"

sc_rates_sample sc_rates_totals(const sc_obs *o, uint64_t now)
{
    sc_rates_sample t = { .at = now };
    for (unsigned s = 0; s < o->n; s++)
        for (int p = 0; p < 3; p++) {
            const uint64_t *n = o->route[s].requests[p];
            for (unsigned k = 0; k < SC_OUT_COUNT; k++)
                t.total += n[k];
            t.ok += n[SC_OUT_OK];
            t.failed += n[SC_OUT_UPSTREAM_ERROR] + n[SC_OUT_CONNECTION_ERROR] + n[SC_OUT_INTERRUPTED] +
                        n[SC_OUT_DEADLINE] + n[SC_OUT_RATE_LIMITED];
            t.errors += n[SC_OUT_OK] + n[SC_OUT_CANCELLED];   /* the rest, below */
            t.latency_n += o->route[s].hist[SC_H_TOTAL][p].count;
            t.latency_sum += o->route[s].hist[SC_H_TOTAL][p].sum;
        }
    t.errors = t.total - t.errors;
    return t;
}

void sc_rates_sample_now(sc_rates *r, const sc_obs *o, uint64_t now)
{
    if (now < r->next)
        return;
    r->s[r->head] = sc_rates_totals(o, now);
    r->head = (r->head + 1) % SC_RATES_SAMPLES;
    if (r->n < SC_RATES_SAMPLES)
        r->n++;
    r->next = now + 1000000000ull;
}

sc_rates_window sc_rates_over(const sc_rates *r, const sc_obs *o, uint64_t now, uint64_t window_ns)
{
    sc_rates_window w = { 0 };
    const sc_rates_sample *old = NULL;
    for (unsigned i = 0; i < r->n && !old; i++) {   /* the oldest sample inside the window */
        const sc_rates_sample *s = &r->s[(r->head + SC_RATES_SAMPLES - r->n + i) % SC_RATES_SAMPLES];
        if (now - s->at <= window_ns)
            old = s;
    }
    if (!old)
        return w;
    sc_rates_sample t = sc_rates_totals(o, now);
    w.answers = t.total - old->total;
    w.failed = t.failed - old->failed;
    w.error_ratio = w.answers ? (double)w.failed / (double)w.answers : 0.0;
    w.errors_ratio = w.answers ? (double)(t.errors - old->errors) / (double)w.answers : 0.0;
    uint64_t ln = t.latency_n - old->latency_n;
    w.mean_latency_s = ln ? (t.latency_sum - old->latency_sum) / (double)ln : 0.0;
    return w;
}
