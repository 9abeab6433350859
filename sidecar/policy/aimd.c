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
    *a = (rsp_aimd){ .cfg = *cfg };
    a->limit = clamp(cfg, cfg->initial);
    a->probe_wait = cfg->probe_wait_ns;
}

unsigned rsp_aimd_limit(const rsp_aimd *a)
{
    double l = clamp(&a->cfg, a->limit);
    if (l >= (double)UINT_MAX)
        return UINT_MAX;
    return (unsigned)l;         /* l >= 1: truncation is floor */
}

unsigned rsp_aimd_safe_limit(const rsp_aimd *a)
{
    unsigned l = rsp_aimd_limit(a);
    return a->ceiling && l >= a->ceiling && a->ceiling > 1 ? a->ceiling - 1 : l;
}

void rsp_aimd_on_success(rsp_aimd *a, uint64_t now_ns, unsigned in_flight)
{
    if ((double)in_flight * 2 < a->limit)
        return;   /* not limited by it: a success here proves nothing about more */
    double next = clamp(&a->cfg, a->limit + a->cfg.increase / a->limit);
    if (a->ceiling && next >= (double)a->ceiling && now_ns < a->probe_after) {
        /* not yet: stay just under the level that failed */
        double below = (double)a->ceiling - 1e-9;
        next = a->limit > below ? a->limit : below;
    }
    if (a->ceiling && next >= (double)a->ceiling + 1) {
        /* a round at the old ceiling held: it was a passing refusal */
        a->ceiling = 0;
        a->probe_wait = a->cfg.probe_wait_ns;
    }
    a->limit = clamp(&a->cfg, next);
}

void rsp_aimd_on_overload(rsp_aimd *a, uint64_t now_ns, uint64_t sent_ns)
{
    if (a->decreased && sent_ns <= a->last_decrease_ns &&
        (now_ns < a->last_decrease_ns || now_ns - a->last_decrease_ns < a->cfg.cooldown_ns))
        return;   /* part of the event already acted on (or a stale timestamp) */
    unsigned level = rsp_aimd_limit(a);
    if (a->ceiling && level >= a->ceiling && a->cfg.probe_wait_ns) {
        /* a paced probe of the known ceiling failed: back to the level
         * below, which held, and wait longer before the next try (unpaced,
         * this would buy a refusal every round: halve as classic AIMD) */
        uint64_t max = a->cfg.probe_wait_max_ns > a->cfg.probe_wait_ns ? a->cfg.probe_wait_max_ns
                                                                       : a->cfg.probe_wait_ns;
        a->probe_wait = a->probe_wait > max / 2 ? max : 2 * a->probe_wait;
        a->limit = clamp(&a->cfg, (double)a->ceiling - 1);
    } else {
        /* a level thought safe failed: the capacity shrank, by how much
         * nobody says; halve */
        a->probe_wait = a->cfg.probe_wait_ns;
        a->ceiling = level;
        a->limit = clamp(&a->cfg, a->limit * a->cfg.decrease);
    }
    a->probe_after = now_ns + a->probe_wait;
    a->last_decrease_ns = now_ns;
    a->decreased = true;
}

void rsp_aimd_reconfigure(rsp_aimd *a, const rsp_aimd_cfg *cfg)
{
    a->cfg = *cfg;
    a->limit = clamp(cfg, a->limit);
}
