/*
 * backoff.h — how long to wait before a retry, and whether to retry at all.
 *
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential
 * Backoff And Jitter"): the delay before retry r is uniform in
 * [0, min(cap, initial * factor^(r-1))]. Full jitter, rather than a fixed
 * delay plus a little noise, is what spreads the clients that were all
 * refused by the same 429 burst: with fixed delays they come back together
 * and are refused together again. The sidecar takes the upstream's
 * Retry-After instead when it sends one; this is the fallback.
 *
 * Randomness is an argument (rand64, uniformly random 64 bits) so the
 * policy stays a pure function and tests can pick the extremes. The ceiling
 * is computed by exponentiation by squaring in doubles, which saturates at
 * the cap instead of overflowing, and costs O(log retry) for any retry.
 *
 * Attempts count the first one: max_attempts = 3 means a first attempt and
 * at most two retries. A request without a deadline passes
 * deadline_ns = UINT64_MAX.
 *
 * Preconditions (rsp_backoff_cfg_check): factor >= 1 and finite. A factor
 * below 1 shrinks the ceiling (computed as written, never negative); a NaN
 * factor gives the cap.
 */
#ifndef RSP_BACKOFF_H
#define RSP_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rsp_backoff_cfg {
    uint32_t max_attempts; /* first attempt included */
    uint64_t initial_ns;   /* ceiling for the first retry */
    double factor;         /* ceiling growth per retry */
    uint64_t cap_ns;       /* ceiling never exceeds this */
} rsp_backoff_cfg;

#define RSP_BACKOFF_CFG_DEFAULT                                            \
    ((rsp_backoff_cfg){ .max_attempts = 3, .initial_ns = 1000000000ull,   \
                       .factor = 2.0, .cap_ns = 30000000000ull })

/* 0 if cfg satisfies the preconditions above, else RS_EINVAL. */
int rsp_backoff_cfg_check(const rsp_backoff_cfg *cfg);

/* The upper end of the delay range for retry number `retry` (1 = the first
 * retry; 0 is treated as 1): min(cap, initial * factor^(retry-1)). */
uint64_t rsp_backoff_ceiling_ns(const rsp_backoff_cfg *cfg, unsigned retry);

/* Delay before retry number `retry`: uniform in [0, rsp_backoff_ceiling_ns],
 * both ends included (rand64 = 0 gives 0, UINT64_MAX gives the ceiling).
 * Never overflows for large retry. */
uint64_t rsp_backoff_delay_ns(const rsp_backoff_cfg *cfg, unsigned retry, uint64_t rand64);

/* May another attempt start: attempts_made < max_attempts, and
 * now + delay does not pass the deadline (now + delay == deadline is
 * allowed). Overflow-safe. */
bool rsp_backoff_allowed(const rsp_backoff_cfg *cfg, unsigned attempts_made, uint64_t now_ns,
                        uint64_t delay_ns, uint64_t deadline_ns);

#endif
