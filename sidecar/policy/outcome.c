/*
 * outcome.c — what one finished upstream attempt means (see outcome.h for
 * the rules and why).
 */
#include "outcome.h"

static bool in_list(const uint32_t *list, unsigned n, uint32_t v)
{
    for (unsigned i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

static const uint32_t never_retried[] = { 400, 401, 402, 403, 404, 422 };

rsp_outcome rsp_outcome_judge(const rsp_attempt_end *a, const rsp_outcome_in *in)
{
    rsp_outcome o = { .embargo_from = RSP_OUTCOME_NO_EMBARGO, .stop = RSP_STOP_NOT_RETRYABLE };
    o.ok = a->transport_ok && a->status < 400;
    if (o.ok) {
        o.breaker = in->same_epoch ? RSP_VERDICT_SUCCESS : RSP_VERDICT_NONE;
        return o;
    }

    o.health_failure = (!a->transport_ok || a->slow || in->failure_status) && !a->deadline_hit;
    o.refused = a->status == 429 || a->status == 503;
    /* too much traffic, or a failure that took the upstream as long as an
     * answer (see the header) */
    o.aimd_overload = o.refused && (!in->typical_ns || 2 * in->took_ns < in->typical_ns);
    /* a refusal with lower classes in flight is theirs (see the header) */
    bool theirs = o.aimd_overload && in->lower_in_flight && in->priority < 2;
    o.on_them = theirs;
    uint64_t embargo = a->embargo_ns < RSP_OUTCOME_MAX_EMBARGO_NS ? a->embargo_ns : RSP_OUTCOME_MAX_EMBARGO_NS;
    uint64_t own_embargo = in->embargo_until;
    if (embargo) {
        o.embargo_until = in->now + embargo;
        if (theirs)
            o.embargo_from = in->priority + 1;
        else if (!o.refused || !in->route_busy)
            o.embargo_from = in->priority;
        if (!theirs && o.embargo_until > own_embargo)
            own_embargo = o.embargo_until;
    }
    if (!in->same_epoch)
        o.breaker = RSP_VERDICT_NONE;
    else if (o.health_failure)
        o.breaker = RSP_VERDICT_FAILURE;
    else if (a->status == 429 || a->deadline_hit)
        o.breaker = RSP_VERDICT_ABANDON;
    else
        o.breaker = RSP_VERDICT_SUCCESS;   /* another 4xx: the route is up */

    bool retryable = !a->deadline_hit && !a->delivered &&
                     !in_list(never_retried, sizeof never_retried / sizeof never_retried[0], a->status) &&
                     (!a->transport_ok || a->slow || in_list(in->retry_status, in->n_retry_status, a->status) ||
                      (in->failure_status && in->other_route_ready));
    if (!retryable)
        return o;
    if (in->attempts >= in->max_attempts && !theirs) {
        o.stop = RSP_STOP_ATTEMPTS;
        return o;
    }
    uint64_t delay = 0;
    if (!in->other_route_ready && !theirs) {
        delay = in->backoff_ns;
        if (own_embargo > in->now + delay)
            delay = own_embargo - in->now;
    }
    if (in->now + delay >= in->deadline) {
        o.stop = RSP_STOP_DEADLINE;
        return o;
    }
    o.retry = true;
    o.retry_at = in->now + delay;
    return o;
}
