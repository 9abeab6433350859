/*
 * aimd.c — adaptive concurrency limit (see aimd.h for what and why).
 *
 * Every update ends in clamp(), written with negated comparisons so that a
 * NaN from a broken configuration also lands inside the bounds: the limit
 * handed to the dispatcher is always a sane number.
 */
#include "aimd.h"

#include <limits.h>

#include "ringside.h"

static double lower(const rsp_aimd_cfg *c)
{
    return c->min > 1.0 ? c->min : 1.0;
}

static double upper(const rsp_aimd_cfg *c)
{
    double lo = lower(c);
    return c->max >= lo ? c->max : lo;
}

static double clamp(const rsp_aimd_cfg *c, double v)
{
    double lo = lower(c), hi = upper(c);
    if (!(v >= lo))
        return lo;
    if (!(v <= hi))
        return hi;
    return v;
}

int rsp_aimd_cfg_check(const rsp_aimd_cfg *cfg)
{
    if (!(cfg->min > 0.0) || !(cfg->min <= cfg->initial) || !(cfg->initial <= cfg->max)
        || __builtin_isinf(cfg->max))
        return RS_EINVAL;
    if (!(cfg->increase > 0.0) || __builtin_isinf(cfg->increase))
        return RS_EINVAL;
    if (!(cfg->decrease > 0.0 && cfg->decrease < 1.0))
        return RS_EINVAL;
    return 0;
}

void rsp_aimd_init(rsp_aimd *a, const rsp_aimd_cfg *cfg)
{
    a->cfg = *cfg;
    a->limit = clamp(cfg, cfg->initial);
    a->last_decrease_ns = 0;
    a->decreased = false;
}

unsigned rsp_aimd_limit(const rsp_aimd *a)
{
    double l = clamp(&a->cfg, a->limit);
    if (l >= (double)UINT_MAX)
        return UINT_MAX;
    return (unsigned)l;         /* l >= 1: truncation is floor */
}

void rsp_aimd_on_success(rsp_aimd *a, uint64_t now_ns)
{
    (void)now_ns;               /* the increase is per success, not per time */
    a->limit = clamp(&a->cfg, a->limit + a->cfg.increase / a->limit);
}

void rsp_aimd_on_overload(rsp_aimd *a, uint64_t now_ns)
{
    if (a->decreased) {
        if (now_ns < a->last_decrease_ns)
            return;             /* stale timestamp: part of the same event */
        if (now_ns - a->last_decrease_ns < a->cfg.cooldown_ns)
            return;
    }
    a->limit = clamp(&a->cfg, a->limit * a->cfg.decrease);
    a->last_decrease_ns = now_ns;
    a->decreased = true;
}

void rsp_aimd_reconfigure(rsp_aimd *a, const rsp_aimd_cfg *cfg)
{
    a->cfg = *cfg;
    a->limit = clamp(cfg, a->limit);
}
