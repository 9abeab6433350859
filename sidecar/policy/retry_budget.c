/*
 * retry_budget.c — sliding-window retry budget (see retry_budget.h).
 *
 * Slots are aligned to the time of init, not to wall-clock seconds: only
 * differences of `now` matter, so any monotonic clock works.
 */
#include "retry_budget.h"

#include "ringside.h"

static uint64_t slot_ns(const rsp_retry_budget *rb)
{
    uint64_t w = rb->cfg.window_ns / RSP_RETRY_BUDGET_SLOTS;
    return w ? w : 1;
}

/* Move `cur` forward to the slot that contains now_ns, zeroing the slots it
 * enters (they held counts from one window ago). */
static void advance(rsp_retry_budget *rb, uint64_t now_ns)
{
    if (now_ns < rb->slot_start_ns)
        return;
    uint64_t w = slot_ns(rb);
    uint64_t k = (now_ns - rb->slot_start_ns) / w;
    if (k == 0)
        return;
    if (k >= RSP_RETRY_BUDGET_SLOTS) {
        for (unsigned i = 0; i < RSP_RETRY_BUDGET_SLOTS; i++)
            rb->requests[i] = rb->retries[i] = 0;
    } else {
        for (uint64_t i = 0; i < k; i++) {
            rb->cur = (rb->cur + 1) % RSP_RETRY_BUDGET_SLOTS;
            rb->requests[rb->cur] = rb->retries[rb->cur] = 0;
        }
    }
    /* k * w <= now - slot_start: cannot overflow */
    rb->slot_start_ns += k * w;
}

static void bump(uint32_t *c)
{
    if (*c < UINT32_MAX)
        (*c)++;
}

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
    rb->slot_start_ns = now_ns;
    rb->cur = 0;
    for (unsigned i = 0; i < RSP_RETRY_BUDGET_SLOTS; i++)
        rb->requests[i] = rb->retries[i] = 0;
}

void rsp_retry_budget_on_request(rsp_retry_budget *rb, uint64_t now_ns)
{
    advance(rb, now_ns);
    bump(&rb->requests[rb->cur]);
}

bool rsp_retry_budget_try_retry(rsp_retry_budget *rb, uint64_t now_ns)
{
    advance(rb, now_ns);
    uint64_t req = 0, ret = 0;
    for (unsigned i = 0; i < RSP_RETRY_BUDGET_SLOTS; i++) {
        req += rb->requests[i];
        ret += rb->retries[i];
    }
    /* Both sides as doubles: exact below 2^53, and a negative or NaN ratio
     * (broken precondition) simply allows only the floor. */
    double allowed = rb->cfg.ratio * (double)req;
    if (!(allowed >= (double)rb->cfg.min_retries))
        allowed = (double)rb->cfg.min_retries;
    if (!((double)ret < allowed))
        return false;
    bump(&rb->retries[rb->cur]);
    return true;
}
