/*
 * retry_budget.h — retries may not exceed a fraction of requests over a
 * sliding window.
 *
 * Per-request retry limits (backoff.h) bound what one request may do; they
 * do not bound what all requests do together. When an upstream is down and
 * every request fails, "3 attempts each" triples the load on it exactly when
 * it can least take it (a retry storm). The budget caps retries at `ratio`
 * of the first attempts seen recently (default 20%), so the extra load from
 * retries is bounded however bad things get. `min_retries` is a floor so that
 * a quiet service (a handful of requests a minute) can still retry the odd
 * transient failure: 20% of 3 requests would otherwise be zero retries.
 *
 * The window is a sliding one of RSP_RETRY_BUDGET_SLOTS slots (window.h:
 * it covers 9-10 s of the past with the defaults; counters saturate).
 *
 * Preconditions (rsp_retry_budget_cfg_check): ratio >= 0 and finite,
 * window_ns >= RSP_RETRY_BUDGET_SLOTS (a smaller window is treated as 1 ns
 * slots).
 */
#ifndef RSP_RETRY_BUDGET_H
#define RSP_RETRY_BUDGET_H

#include "window.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct rsp_retry_budget_cfg {
    double ratio;          /* retries allowed per first attempt in the window */
    uint32_t min_retries;  /* retries always allowed in a window */
    uint64_t window_ns;
} rsp_retry_budget_cfg;

#define RSP_RETRY_BUDGET_CFG_DEFAULT \
    ((rsp_retry_budget_cfg){ .ratio = 0.2, .min_retries = 10, .window_ns = 10000000000ull })

#define RSP_RETRY_BUDGET_SLOTS RSP_WINDOW_SLOTS

typedef struct rsp_retry_budget {
    rsp_retry_budget_cfg cfg;
    rsp_window w;              /* a: first attempts, b: retries */
} rsp_retry_budget;

/* 0 if cfg satisfies the preconditions above, else RS_EINVAL. */
int rsp_retry_budget_cfg_check(const rsp_retry_budget_cfg *cfg);

void rsp_retry_budget_init(rsp_retry_budget *rb, const rsp_retry_budget_cfg *cfg, uint64_t now_ns);

/* New limits; the counts of the current window stay. */
void rsp_retry_budget_reconfigure(rsp_retry_budget *rb, const rsp_retry_budget_cfg *cfg);

/* A first attempt. */
void rsp_retry_budget_on_request(rsp_retry_budget *rb, uint64_t now_ns);

/* True (and the retry is counted) if retries in the window <
 * max(min_retries, ratio * requests in the window). */
bool rsp_retry_budget_try_retry(rsp_retry_budget *rb, uint64_t now_ns);

#endif
