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

rs_breaker_cfg rs_breaker_cfg_default(void)
{
    rs_breaker_cfg c = {
        .failure_threshold = RS_BREAKER_DEFAULT_FAILURE_THRESHOLD,
        .latency_gt_ns = 0,
        .slow_threshold = RS_BREAKER_DEFAULT_SLOW_THRESHOLD,
        .cooldown_ns = RS_BREAKER_DEFAULT_COOLDOWN_NS,
        .half_open_probes = RS_BREAKER_DEFAULT_HALF_OPEN_PROBES,
    };
    return c;
}

/* A zero threshold would open the breaker on no evidence at all, a zero
 * probe count would leave it half-open forever and a zero cooldown would
 * make "open" meaningless, so zero means "default" for those fields. */
static rs_breaker_cfg normalise(const rs_breaker_cfg *cfg)
{
    rs_breaker_cfg d = rs_breaker_cfg_default();
    if (!cfg)
        return d;
    rs_breaker_cfg c = *cfg;
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

void rs_breaker_init(rs_breaker *b, const rs_breaker_cfg *cfg)
{
    *b = (rs_breaker){ .cfg = normalise(cfg), .state = RS_BREAKER_CLOSED };
}

void rs_breaker_reconfigure(rs_breaker *b, const rs_breaker_cfg *cfg)
{
    b->cfg = normalise(cfg);
}

static void go_open(rs_breaker *b, uint64_t now)
{
    if (b->state == RS_BREAKER_HALF_OPEN)
        b->reopened++;
    b->opened++;
    b->state = RS_BREAKER_OPEN;
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

static void go_closed(rs_breaker *b)
{
    b->closed++;
    b->state = RS_BREAKER_CLOSED;
    b->consec_failures = 0;
    b->consec_slow = 0;
    b->probes_in_flight = 0;
    b->probes_ok = 0;
}

rs_breaker_state rs_breaker_state_at(const rs_breaker *b, uint64_t now)
{
    if (b->state == RS_BREAKER_OPEN && now >= b->open_until)
        return RS_BREAKER_HALF_OPEN;
    return b->state;
}

bool rs_breaker_can_send(const rs_breaker *b, uint64_t now)
{
    switch (rs_breaker_state_at(b, now)) {
    case RS_BREAKER_CLOSED:
        return true;
    case RS_BREAKER_HALF_OPEN:
        /* a stored OPEN that is due starts a round with every slot free */
        return b->state == RS_BREAKER_OPEN ||
               b->probes_in_flight < b->cfg.half_open_probes;
    case RS_BREAKER_OPEN:
    default:
        return false;
    }
}

void rs_breaker_on_send(rs_breaker *b, uint64_t now)
{
    if (!rs_breaker_can_send(b, now))
        return;
    if (b->state == RS_BREAKER_OPEN) {
        b->state = RS_BREAKER_HALF_OPEN;
        b->half_opened++;
        b->probes_in_flight = 0;
        b->probes_ok = 0;
    }
    if (b->state == RS_BREAKER_HALF_OPEN)
        b->probes_in_flight++;
}

void rs_breaker_on_success(rs_breaker *b, uint64_t latency_ns, uint64_t now)
{
    bool slow = b->cfg.latency_gt_ns && latency_ns > b->cfg.latency_gt_ns;

    switch (b->state) {
    case RS_BREAKER_CLOSED:
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
    case RS_BREAKER_HALF_OPEN:
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
    case RS_BREAKER_OPEN:
    default:
        return;                 /* sent before it opened: already judged */
    }
}

void rs_breaker_on_failure(rs_breaker *b, uint64_t now)
{
    switch (b->state) {
    case RS_BREAKER_CLOSED:
        if (b->consec_failures < UINT32_MAX)
            b->consec_failures++;
        if (b->consec_failures >= b->cfg.failure_threshold)
            go_open(b, now);
        return;
    case RS_BREAKER_HALF_OPEN:
        if (!b->probes_in_flight)
            return;             /* not a probe: sent before this round */
        go_open(b, now);
        return;
    case RS_BREAKER_OPEN:
    default:
        /* sent before it opened; extending the cooldown for it would punish
         * the route twice for the same outage */
        return;
    }
}

void rs_breaker_on_abandon(rs_breaker *b)
{
    if (b->state == RS_BREAKER_HALF_OPEN && b->probes_in_flight)
        b->probes_in_flight--;
}

uint64_t rs_breaker_open_until(const rs_breaker *b)
{
    return b->open_until;
}

uint64_t rs_breaker_epoch(const rs_breaker *b)
{
    return b->opened + b->half_opened + b->closed;
}
