/*
 * latency.h — the seed's latency rule: a route whose recent *mean* time to
 * first content is over its limit loses its traffic, and gets it back when
 * it is fast again.
 *
 * The per-request first-content timeout (and the breaker's slow streak)
 * cuts off one request that crawls; this catches a route that is slow on
 * the whole but seldom slow enough for either. The mean is an exponentially
 * weighted moving average (weight `alpha` for the newest sample), so it
 * forgets old samples without a window to keep. Hysteresis: the route turns
 * slow when the mean goes over limit_ns, and fast again only when it is
 * under limit_ns × recover (e.g. 0.8), so a route near the limit does not
 * flap. A slow route gets one request per probe_ns (if any other route can
 * take the rest) so its mean keeps being measured and its recovery seen.
 *
 * Pure: `now` is passed in; no clock, no allocation.
 */
#ifndef RSP_LATENCY_H
#define RSP_LATENCY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rsp_latency_cfg {
    uint64_t limit_ns;      /* 0 = the rule is off */
    double alpha;           /* the newest sample's weight, in (0, 1] */
    double recover;         /* fast again under limit_ns × recover, in (0, 1] */
    uint64_t probe_ns;      /* a slow route gets one request per this */
} rsp_latency_cfg;

typedef struct rsp_latency {
    rsp_latency_cfg cfg;
    double mean_ns;         /* 0 until the first sample */
    bool slow;
    uint64_t probe_after;   /* a slow route's next probe may go from then */
} rsp_latency;

void rsp_latency_init(rsp_latency *l, const rsp_latency_cfg *cfg);
/* Keep the mean and the verdict; the new limits apply from the next sample. */
void rsp_latency_reconfigure(rsp_latency *l, const rsp_latency_cfg *cfg);

/* A first content came after first_content_ns. */
void rsp_latency_on_sample(rsp_latency *l, uint64_t first_content_ns);

/* Should the route be passed over now? False when fast, and for a slow
 * one when its probe is due. */
bool rsp_latency_avoid(const rsp_latency *l, uint64_t now);

/* A request went to the route: if it is slow, that was its probe. */
void rsp_latency_on_send(rsp_latency *l, uint64_t now);

#endif
