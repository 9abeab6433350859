/*
 * backoff.c — exponential backoff with full jitter (see backoff.h).
 *
 * No libm: the power is by squaring, the rounding by guarded casts, and the
 * uniform draw by a 64x64->128 multiply (Lemire's multiply-shift), which maps
 * rand64 onto [0, ceiling] without a division and without modulo's
 * cliff; its bias is at most (ceiling+1)/2^64, far below anything a timer
 * can resolve.
 */
#include "backoff.h"

#include "ringside.h"

int rsp_backoff_cfg_check(const rsp_backoff_cfg *cfg)
{
    if (!(cfg->factor >= 1.0) || __builtin_isinf(cfg->factor))
        return RS_EINVAL;
    return 0;
}

uint64_t rsp_backoff_ceiling_ns(const rsp_backoff_cfg *cfg, unsigned retry)
{
    uint64_t cap = cfg->cap_ns;
    if (cfg->initial_ns >= cap)
        return cap;
    if (cfg->initial_ns == 0)
        return 0;               /* 0 * anything, even an infinite factor */
    unsigned e = retry > 1 ? retry - 1 : 0;

    /* factor^e by squaring; once the partial product passes cap/initial
     * (or becomes inf/NaN) the answer is the cap, so stop early. */
    double limit = (double)cap / (double)cfg->initial_ns;
    double p = 1.0, base = cfg->factor;
    while (e) {
        if (e & 1u) {
            p *= base;
            if (!(p < limit))
                return cap;
        }
        e >>= 1;
        if (e)
            base *= base;
    }
    double c = (double)cfg->initial_ns * p;
    if (!(c < (double)cap))
        return cap;
    if (!(c > 0.0))
        return 0;               /* factor < 1 shrank it to nothing */
    return (uint64_t)c;         /* 0 < c < cap <= 2^64: in range */
}

uint64_t rsp_backoff_delay_ns(const rsp_backoff_cfg *cfg, unsigned retry, uint64_t rand64)
{
    uint64_t ceil_ns = rsp_backoff_ceiling_ns(cfg, retry);
    if (ceil_ns == UINT64_MAX)
        return rand64;          /* the range is every uint64_t */
    return (uint64_t)(((unsigned __int128)rand64 * (ceil_ns + 1)) >> 64);
}

bool rsp_backoff_allowed(const rsp_backoff_cfg *cfg, unsigned attempts_made, uint64_t now_ns,
                        uint64_t delay_ns, uint64_t deadline_ns)
{
    if (attempts_made >= cfg->max_attempts)
        return false;
    if (now_ns > deadline_ns)
        return false;
    return delay_ns <= deadline_ns - now_ns;
}
