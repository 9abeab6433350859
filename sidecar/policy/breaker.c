/*
 * breaker.c — circuit breaker state machine (see breaker.h for the picture).
 *
 * Streaks, not rates: an LLM upstream that is down fails every request, and
 * one that is overloaded answers 429/503 or crawls for every request, so
 * "N in a row" reacts within N requests and needs no window bookkeeping. A
 * single good answer proves the route can still serve, so it ends a failure
 * streak.
 *
 * Half-open admits a bounded number of probes at a time, so a recovering
 * upstream is not hit by the whole backlog at once, and demands that every
 * probe of the round succeed: one bad probe is enough evidence that the
 * route is not back yet, and it restarts the cooldown from that moment.
 */
#include "breaker.h"

#include <stddef.h>

rsp_breaker_cfg rsp_breaker_cfg_default(void)
{
    rsp_breaker_cfg c = {
        .failure_threshold = RSP_BREAKER_DEFAULT_FAILURE_THRESHOLD,
        .latency_gt_ns = 0,
        .slow_threshold = RSP_BREAKER_DEFAULT_SLOW_THRESHOLD,
        .cooldown_ns = RSP_BREAKER_DEFAULT_COOLDOWN_NS,
        .half_open_probes = RSP_BREAKER_DEFAULT_HALF_OPEN_PROBES,
    };
    return c;
}

/* A zero threshold would open the breaker on no evidence at all, a zero
 * probe count would leave it half-open forever and a zero cooldown would
 * make "open" meaningless, so zero means "default" for those fields. */
static rsp_breaker_cfg normalise(const rsp_breaker_cfg *cfg)
{
    rsp_breaker_cfg d = rsp_breaker_cfg_default();
    if (!cfg)
        return d;
    rsp_breaker_cfg c = *cfg;
    if (!c.failure_threshold)
        c.failure_threshold = d.failure_threshold;
    if (!c.slow_threshold)
        c.slow_threshold = d.slow_threshold;
    if (!c.cooldown_ns)
        c.cooldown_ns = d.cooldown_ns;
    if (!c.half_open_probes)
        c.half_open_probes = d.half_open_probes;
    return c;
}

void rsp_breaker_init(rsp_breaker *b, const rsp_breaker_cfg *cfg)
{
    *b = (rsp_breaker){ .cfg = normalise(cfg), .state = RSP_BREAKER_CLOSED };
}

void rsp_breaker_reconfigure(rsp_breaker *b, const rsp_breaker_cfg *cfg)
{
    b->cfg = normalise(cfg);
}

static void go_open(rsp_breaker *b, uint64_t now)
{
    if (b->state == RSP_BREAKER_HALF_OPEN)
        b->reopened++;
    b->opened++;
    b->state = RSP_BREAKER_OPEN;
    /* saturate: a deadline that wrapped would reopen at once */
    b->open_until = now > UINT64_MAX - b->cfg.cooldown_ns ? UINT64_MAX
                                                            : now + b->cfg.cooldown_ns;
    b->consec_failures = 0;
    b->consec_slow = 0;
    /* probes still in flight now belong to a finished round: their slots
     * are void, and their verdicts arrive while OPEN and are dropped */
    b->probes_in_flight = 0;
    b->probes_ok = 0;
}

static void go_closed(rsp_breaker *b)
{
    b->closed++;
    b->state = RSP_BREAKER_CLOSED;
    b->consec_failures = 0;
    b->consec_slow = 0;
    b->probes_in_flight = 0;
    b->probes_ok = 0;
}

rsp_breaker_state rsp_breaker_state_at(const rsp_breaker *b, uint64_t now)
{
    if (b->state == RSP_BREAKER_OPEN && now >= b->open_until)
        return RSP_BREAKER_HALF_OPEN;
    return b->state;
}

bool rsp_breaker_can_send(const rsp_breaker *b, uint64_t now)
{
    switch (rsp_breaker_state_at(b, now)) {
    case RSP_BREAKER_CLOSED:
        return true;
    case RSP_BREAKER_HALF_OPEN:
        /* a stored OPEN that is due starts a round with every slot free */
        return b->state == RSP_BREAKER_OPEN ||
               b->probes_in_flight < b->cfg.half_open_probes;
    case RSP_BREAKER_OPEN:
    default:
        return false;
    }
}

void rsp_breaker_on_send(rsp_breaker *b, uint64_t now)
{
    if (!rsp_breaker_can_send(b, now))
        return;
    if (b->state == RSP_BREAKER_OPEN) {
        b->state = RSP_BREAKER_HALF_OPEN;
        b->half_opened++;
        b->probes_in_flight = 0;
        b->probes_ok = 0;
    }
    if (b->state == RSP_BREAKER_HALF_OPEN)
        b->probes_in_flight++;
}

void rsp_breaker_on_success(rsp_breaker *b, uint64_t latency_ns, uint64_t now)
{
    bool slow = b->cfg.latency_gt_ns && latency_ns > b->cfg.latency_gt_ns;

    switch (b->state) {
    case RSP_BREAKER_CLOSED:
        b->consec_failures = 0;
        if (!slow) {
            b->consec_slow = 0;
            return;
        }
        if (b->consec_slow < UINT32_MAX)
            b->consec_slow++;
        if (b->consec_slow >= b->cfg.slow_threshold)
            go_open(b, now);
        return;
    case RSP_BREAKER_HALF_OPEN:
        if (!b->probes_in_flight)
            return;             /* not a probe: sent before this round */
        b->probes_in_flight--;
        if (slow) {
            go_open(b, now);
            return;
        }
        b->probes_ok++;
        if (b->probes_ok >= b->cfg.half_open_probes)
            go_closed(b);
        return;
    case RSP_BREAKER_OPEN:
    default:
        return;                 /* sent before it opened: already judged */
    }
}

void rsp_breaker_on_failure(rsp_breaker *b, uint64_t now)
{
    switch (b->state) {
    case RSP_BREAKER_CLOSED:
        if (b->consec_failures < UINT32_MAX)
            b->consec_failures++;
        if (b->consec_failures >= b->cfg.failure_threshold)
            go_open(b, now);
        return;
    case RSP_BREAKER_HALF_OPEN:
        if (!b->probes_in_flight)
            return;             /* not a probe: sent before this round */
        go_open(b, now);
        return;
    case RSP_BREAKER_OPEN:
    default:
        /* sent before it opened; extending the cooldown for it would punish
         * the route twice for the same outage */
        return;
    }
}

void rsp_breaker_on_abandon(rsp_breaker *b)
{
    if (b->state == RSP_BREAKER_HALF_OPEN && b->probes_in_flight)
        b->probes_in_flight--;
}

uint64_t rsp_breaker_open_until(const rsp_breaker *b)
{
    return b->open_until;
}

uint64_t rsp_breaker_epoch(const rsp_breaker *b)
{
    return b->opened + b->half_opened + b->closed;
}
