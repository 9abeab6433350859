/*
 * aimd.h — adaptive concurrency limit per upstream (additive increase,
 * multiplicative decrease).
 *
 * DeepSeek and its peers cap the requests an account may have in flight and
 * answer 429 (or 503) beyond that cap, which they do not publish and which
 * moves with their load. This policy learns it the way TCP learns a path's
 * window: every success nudges the limit up by `increase / limit`, so one
 * full window of successes ("a round") adds `increase`; an overload signal
 * multiplies it by `decrease`. The limit therefore saws between about
 * decrease*C and C around the upstream's real capacity C, probing just past
 * C once per cycle — the one 429 per cycle is the price of tracking a limit
 * that nobody tells us.
 *
 * Cooldown: when the limit is too high, a whole window of in-flight requests
 * fails at once. Those 429s describe one event, not N, so after a decrease
 * further overload signals are ignored for `cooldown_ns` (set it to about one
 * request latency). Without it one burst would collapse the limit to min.
 * A `now` older than the last decrease (a stale timestamp) counts as within
 * the cooldown: it cannot cause a second decrease.
 *
 * Pure: `now` comes from the caller; no clock, no allocation.
 *
 * Preconditions (rs_aimd_cfg_check): 0 < min <= initial <= max, finite;
 * increase > 0; 0 < decrease < 1. The limit is kept in [max(1, min), max]
 * whatever happens, even with a broken configuration (max < 1 is raised to
 * the lower bound). min should be a whole number: rs_aimd_limit reports
 * floor(limit).
 */
#ifndef RS_AIMD_H
#define RS_AIMD_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rs_aimd_cfg {
    double min, max, initial;
    double increase;      /* added per round (limit successes) */
    double decrease;      /* multiplicative factor in (0,1) */
    uint64_t cooldown_ns; /* no second decrease within this of the last */
} rs_aimd_cfg;

typedef struct rs_aimd {
    rs_aimd_cfg cfg;
    double limit;
    uint64_t last_decrease_ns;
    bool decreased;       /* last_decrease_ns is meaningful */
} rs_aimd;

/* 0 if cfg satisfies the preconditions above, else RS_EINVAL. */
int rs_aimd_cfg_check(const rs_aimd_cfg *cfg);

void rs_aimd_init(rs_aimd *a, const rs_aimd_cfg *cfg);

/* floor(limit), never below max(1, min). */
unsigned rs_aimd_limit(const rs_aimd *a);

void rs_aimd_on_success(rs_aimd *a, uint64_t now_ns);

/* A 429 or 503 from the upstream. */
void rs_aimd_on_overload(rs_aimd *a, uint64_t now_ns);

/* Keeps the learned limit, clamped to the new bounds, and the cooldown
 * state. */
void rs_aimd_reconfigure(rs_aimd *a, const rs_aimd_cfg *cfg);

#endif
