/*
 * latency.c — a route's mean time to first content, with hysteresis (see
 * latency.h for the rule and why).
 */
#include "latency.h"

void rsp_latency_init(rsp_latency *l, const rsp_latency_cfg *cfg)
{
    *l = (rsp_latency){ .cfg = *cfg };
}

void rsp_latency_reconfigure(rsp_latency *l, const rsp_latency_cfg *cfg)
{
    l->cfg = *cfg;
    if (!cfg->limit_ns)
        l->slow = false;
}

void rsp_latency_on_sample(rsp_latency *l, uint64_t first_content_ns)
{
    double a = l->cfg.alpha > 0 && l->cfg.alpha <= 1 ? l->cfg.alpha : 1;
    double x = (double)first_content_ns;
    l->mean_ns = l->mean_ns > 0 ? l->mean_ns + a * (x - l->mean_ns) : x;
    if (!l->cfg.limit_ns)
        return;
    double limit = (double)l->cfg.limit_ns;
    if (!l->slow && l->mean_ns > limit)
        l->slow = true;
    else if (l->slow && l->mean_ns < limit * l->cfg.recover)
        l->slow = false;
}

bool rsp_latency_avoid(const rsp_latency *l, uint64_t now)
{
    return l->slow && now < l->probe_after;
}

void rsp_latency_on_send(rsp_latency *l, uint64_t now)
{
    if (l->slow)
        l->probe_after = now + l->cfg.probe_ns;
}
