/*
 * retry_budget.c — sliding-window retry budget (see retry_budget.h).
 */
#include "retry_budget.h"

#include "ringside.h"

int rsp_retry_budget_cfg_check(const rsp_retry_budget_cfg *cfg)
{
    if (!(cfg->ratio >= 0.0) || __builtin_isinf(cfg->ratio))
        return RS_EINVAL;
    if (cfg->window_ns < RSP_RETRY_BUDGET_SLOTS)
        return RS_EINVAL;
    return 0;
}

void rsp_retry_budget_init(rsp_retry_budget *rb, const rsp_retry_budget_cfg *cfg, uint64_t now_ns)
{
    rb->cfg = *cfg;
    rsp_window_init(&rb->w, cfg->window_ns, now_ns);
}

void rsp_retry_budget_reconfigure(rsp_retry_budget *rb, const rsp_retry_budget_cfg *cfg)
{
    rb->cfg = *cfg;
    rsp_window_set_span(&rb->w, cfg->window_ns);
}

void rsp_retry_budget_on_request(rsp_retry_budget *rb, uint64_t now_ns)
{
    rsp_window_add(&rb->w, now_ns, 1, 0);
}

bool rsp_retry_budget_try_retry(rsp_retry_budget *rb, uint64_t now_ns)
{
    uint64_t req, ret;
    rsp_window_sums(&rb->w, now_ns, &req, &ret);
    /* Both sides as doubles: exact below 2^53, and a negative or NaN ratio
     * (broken precondition) simply allows only the floor. */
    double allowed = rb->cfg.ratio * (double)req;
    if (!(allowed >= (double)rb->cfg.min_retries))
        allowed = (double)rb->cfg.min_retries;
    if (!((double)ret < allowed))
        return false;
    rsp_window_add(&rb->w, now_ns, 0, 1);
    return true;
}
