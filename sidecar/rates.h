/*
 * rates.h — the answers' totals sampled once a second (rates.c), so that
 * emergency mode and the alert rules can ask "what share failed, how
 * long did they take, over the last N seconds" without a window of their
 * own and without touching a request's path.
 */
#ifndef SC_RATES_H
#define SC_RATES_H

#include "obs.h"

#include <stdint.h>

#define SC_RATES_SAMPLES 320      /* one a second: windows up to five minutes */

typedef struct sc_rates_sample {
    uint64_t at, total, ok, failed, errors, latency_n;
    double latency_sum;           /* seconds, of the terminal answers */
} sc_rates_sample;

typedef struct sc_rates {
    sc_rates_sample s[SC_RATES_SAMPLES];
    unsigned head, n;
    uint64_t next;
} sc_rates;

typedef struct sc_rates_window {
    uint64_t answers, failed;     /* failed: by the upstream or on the way (not refusals of ours) */
    double error_ratio;           /* failed / answers, 0 with no answers */
    double errors_ratio;          /* every answer but ok and cancelled, as the apps see it */
    double mean_latency_s;        /* of the answers, 0 with none */
} sc_rates_window;

/* The answers' totals now, since the start: every terminal answer, the
 * ok ones, the failed ones (by the upstream or on the way), the errors
 * (every answer but ok and cancelled: a request its own client cancelled
 * is not an error), and their latency. What the samples hold, and what
 * /api/status shows. */
sc_rates_sample sc_rates_totals(const sc_obs *o, uint64_t now);
/* Take a sample if a second has passed since the last. */
void sc_rates_sample_now(sc_rates *r, const sc_obs *o, uint64_t now);
/* Over the last window_ns (as far back as the samples go), up to now. */
sc_rates_window sc_rates_over(const sc_rates *r, const sc_obs *o, uint64_t now, uint64_t window_ns);

#endif
