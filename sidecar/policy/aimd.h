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
 * the cooldown: it cannot cause a second decrease. A refusal of a request
 * sent after the last decrease is not part of that event, cooldown or not:
 * the lowered limit was refused too (as when refusals come back in a
 * millisecond and the freed slots would be refilled and refused again all
 * through the cooldown).
 *
 * Probing, paced (issue #14). Each overload teaches the level that failed
 * (the ceiling): the limit then regrows up to one below it, and tries the
 * ceiling again only after probe_wait_ns, a wait that doubles each time the
 * same level fails again (up to probe_wait_max_ns) and starts over when a
 * level above it has held. Without this the additive increase bought a
 * fresh 429 (and the upstream's Retry-After with it) every cycle. A paced
 * probe that fails costs only the probe (back to one below the ceiling),
 * not half the window: the level below it is known to hold. With
 * probe_wait_ns 0 probing is classic AIMD (every failure halves). The
 * caller keeps its most important traffic out of the probe:
 * rsp_aimd_safe_limit is the level known to hold.
 *
 * Pure: `now` comes from the caller; no clock, no allocation.
 *
 * Preconditions (rsp_aimd_cfg_check): 0 < min <= initial <= max, finite;
 * increase > 0; 0 < decrease < 1. The limit is kept in [max(1, min), max]
 * whatever happens, even with a broken configuration (max < 1 is raised to
 * the lower bound). min should be a whole number: rsp_aimd_limit reports
 * floor(limit).
 */
#ifndef RSP_AIMD_H
#define RSP_AIMD_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rsp_aimd_cfg {
    double min, max, initial;
    double increase;      /* added per round (limit successes) */
    double decrease;      /* multiplicative factor in (0,1) */
    uint64_t cooldown_ns; /* no second decrease within this of the last */
    uint64_t probe_wait_ns;     /* before trying a failed level again (0: at once) */
    uint64_t probe_wait_max_ns; /* the wait doubles per failure up to this */
} rsp_aimd_cfg;

typedef struct rsp_aimd {
    rsp_aimd_cfg cfg;
    double limit;
    uint64_t last_decrease_ns;
    bool decreased;       /* last_decrease_ns is meaningful */
    unsigned ceiling;     /* the level that last overloaded; 0 = none known */
    uint64_t probe_after; /* the ceiling may be tried again from then */
    uint64_t probe_wait;  /* the wait after the next failure at the ceiling */
} rsp_aimd;

/* 0 if cfg satisfies the preconditions above, else RS_EINVAL. */
int rsp_aimd_cfg_check(const rsp_aimd_cfg *cfg);

void rsp_aimd_init(rsp_aimd *a, const rsp_aimd_cfg *cfg);

/* floor(limit), never below max(1, min). */
unsigned rsp_aimd_limit(const rsp_aimd *a);

/* The level known to hold: the limit, or one below the ceiling while the
 * limit is at or above it (a probe). */
unsigned rsp_aimd_safe_limit(const rsp_aimd *a);

/* A success, with in_flight requests at the upstream when it ended (it
 * included). The limit grows only while in use (in_flight at least half
 * of it), as TCP grows
 * its window only when the window is what limits it: a trickle of requests
 * would otherwise raise it without bound, and the first burst would then
 * find it far above the capacity. */
void rsp_aimd_on_success(rsp_aimd *a, uint64_t now_ns, unsigned in_flight);

/* The upstream refused (429/503) a request sent at sent_ns for too much
 * traffic. */
void rsp_aimd_on_overload(rsp_aimd *a, uint64_t now_ns, uint64_t sent_ns);

/* Keeps the learned limit, clamped to the new bounds, and the cooldown
 * state. */
void rsp_aimd_reconfigure(rsp_aimd *a, const rsp_aimd_cfg *cfg);

#endif
