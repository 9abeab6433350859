/*
 * breaker.c — circuit breaker state machine (see breaker.h for the picture).
 *
 * Streaks and a rate: an LLM upstream that is down fails every request, so
 * "N in a row" reacts within N requests; one that is degraded fails a good
 * share of them but seldom N in a row, which the rate over a window (with
 * a minimum volume) catches. A single good answer ends a failure streak.
 * The window is a ring of slots (as in retry_budget.c): O(1), no
 * allocation, counts fall out a slot at a time as `now` passes.
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
    if (c.max_cooldown_ns < c.cooldown_ns)
        c.max_cooldown_ns = c.cooldown_ns;
    if (!c.rate_window_ns)
        c.rate_window_ns = RSP_WINDOW_SLOTS;
    if (!c.rate_min_requests)
        c.rate_min_requests = 1;
    return c;
}

void rsp_breaker_init(rsp_breaker *b, const rsp_breaker_cfg *cfg)
{
    *b = (rsp_breaker){ .cfg = normalise(cfg), .state = RSP_BREAKER_CLOSED };
    b->cooldown = b->cfg.cooldown_ns;
    rsp_window_init(&b->win, b->cfg.rate_window_ns, 0);
}

void rsp_breaker_reconfigure(rsp_breaker *b, const rsp_breaker_cfg *cfg)
{
    b->cfg = normalise(cfg);
    rsp_window_set_span(&b->win, b->cfg.rate_window_ns);
    if (b->cooldown < b->cfg.cooldown_ns)
        b->cooldown = b->cfg.cooldown_ns;
    if (b->cooldown > b->cfg.max_cooldown_ns)
        b->cooldown = b->cfg.max_cooldown_ns;
}

double rsp_breaker_failure_rate(rsp_breaker *b, uint64_t now, uint32_t *n)
{
    uint64_t ok, fail;
    rsp_window_sums(&b->win, now, &ok, &fail);
    *n = ok + fail > UINT32_MAX ? UINT32_MAX : (uint32_t)(ok + fail);
    return ok + fail ? (double)fail / (double)(ok + fail) : 0.0;
}

static void go_open(rsp_breaker *b, uint64_t now)
{
    if (b->state == RSP_BREAKER_HALF_OPEN) {
        b->reopened++;
        /* the route is still not back: wait longer before the next try */
        b->cooldown = b->cooldown > b->cfg.max_cooldown_ns / 2 ? b->cfg.max_cooldown_ns : 2 * b->cooldown;
    }
    b->opened++;
    b->state = RSP_BREAKER_OPEN;
    /* saturate: a deadline that wrapped would reopen at once */
    b->open_until = now > UINT64_MAX - b->cooldown ? UINT64_MAX : now + b->cooldown;
    b->consec_failures = 0;
    b->consec_slow = 0;
    /* probes still in flight now belong to a finished round: their slots
     * are void, and their verdicts arrive while OPEN and are dropped */
    b->probes_in_flight = 0;
    b->probes_ok = 0;
}

static void go_closed(rsp_breaker *b, uint64_t now)
{
    b->closed++;
    b->state = RSP_BREAKER_CLOSED;
    b->cooldown = b->cfg.cooldown_ns;
    rsp_window_init(&b->win, b->cfg.rate_window_ns, now);   /* judged afresh: the outage is over */
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
        rsp_window_add(&b->win, now, 1, 0);
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
            go_closed(b, now);
        return;
    case RSP_BREAKER_OPEN:
    default:
        return;                 /* sent before it opened: already judged */
    }
}

/* The failures in a row that mean an outage, for a route failing `rate` of
 * its requests lately: failure_threshold, or more when that many in a row
 * would come by chance once in RSP_BREAKER_STREAK_ODDS requests or more
 * often. A healthy route that dies opens after failure_threshold; one that
 * fails 27% at random needs 6 (0.27^6 < 1/1000), instead of opening every
 * few seconds on a lucky run of 3 (0.27^3 = 2%). */
static uint32_t streak_needed(const rsp_breaker *b, double rate, uint32_t n)
{
    uint32_t k = 1;
    if (b->cfg.failure_rate > 0 && n >= b->cfg.rate_min_requests && rate > 0 && rate < 1)
        for (double chance = rate; chance * RSP_BREAKER_STREAK_ODDS >= 1.0 && k < 64; chance *= rate)
            k++;
    return k > b->cfg.failure_threshold ? k : b->cfg.failure_threshold;
}

void rsp_breaker_on_failure(rsp_breaker *b, uint64_t now)
{
    switch (b->state) {
    case RSP_BREAKER_CLOSED: {
        if (b->consec_failures < UINT32_MAX)
            b->consec_failures++;
        rsp_window_add(&b->win, now, 0, 1);
        uint32_t n;
        double rate = rsp_breaker_failure_rate(b, now, &n);
        if (b->consec_failures >= streak_needed(b, rate, n) ||
            (b->cfg.failure_rate > 0 && n >= b->cfg.rate_min_requests && rate >= b->cfg.failure_rate))
            go_open(b, now);
        return;
    }
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
