/*
 * outcome.h — what one finished upstream attempt means: for the route's
 * health (its circuit breaker, its concurrency limit, the shedding window)
 * and for the request (done, or retried — now on another route, or after a
 * backoff that respects the upstream's Retry-After — and if not, why not).
 *
 * A pure function of what the attempt ended with and of the state it is
 * judged in, passed in: admission (sidecar/admission.c) gathers that state,
 * applies the verdict to the breaker, AIMD and buckets, and spends the retry
 * budget last (a retry the verdict rules out spends none).
 *
 * The rules, and why:
 *   - A success, or an HTTP answer under 400, is done.
 *   - 400/401/402/403/404/422 are never retried: the request itself is
 *     wrong, and sending it again only costs quota.
 *   - A stream that already delivered content is never retried: the client
 *     would see its beginning twice.
 *   - Retried: transport failures (connect, reset, timeout), a first
 *     content slower than the route's first-content timeout, the statuses
 *     of retries.on_status, and a status in the routes' failure set (their
 *     `conditions`) when another route can take the retry now.
 *   - A retry goes to another healthy route at once when there is one;
 *     else it waits out the backoff, and never less than its class's
 *     embargo on the route (Retry-After, x-ratelimit-reset-*), capped at 15
 *     minutes so a garbage header cannot park a route for days.
 *   - A refusal (429/503) is "too much traffic" and brings the route's
 *     concurrency limit down (aimd.h) when it comes back quickly: in less
 *     than half the route's mean time to first content (or before any
 *     success is known). Refusing for load costs an upstream nothing, so it
 *     answers at once; a refusal that took as long as an answer is a
 *     degraded upstream failing requests it worked on, at random, and
 *     cutting concurrency for it would not make it rarer, only starve the
 *     requests it still serves (TCP under random loss, the same trap).
 *   - Who an embargo bars (issue #14): the priority class that was refused
 *     and those below it; never a class above. When requests of a lower
 *     class were in flight (on any route: two routes may share one
 *     account's limit), a refusal for too much traffic is theirs: they made the
 *     upstream full, so the embargo starts one class lower, and the refused
 *     request is retried at once, and that retry costs it neither an
 *     attempt nor its class's retry budget (the sidecar, not the request,
 *     sent too much): the embargo and the lowered concurrency limit drain
 *     the lower classes and make its room. Once they are drained, a refusal
 *     is the request's own again, so this cannot go on without end.
 *     So P2 can never park P0 behind a Retry-After it provoked; P0 is
 *     barred only by a refusal of its own with nothing below it in flight,
 *     i.e. when the upstream refuses P0 traffic itself.
 *   - A refusal while other requests of ours were in flight on the route
 *     bars no class either: its Retry-After delays only the refused
 *     request's own retry. The upstream is serving the others; if it
 *     refused for their number, the route's concurrency limit (aimd.h)
 *     answers that, and if it refuses at random (degraded), barring the
 *     class would stop the requests it still serves. Refusing a request
 *     with nothing else of ours in flight, the upstream means all of us.
 *   - The breaker hears only verdicts sent in its current epoch (an LLM
 *     call can outlive a whole cool-down; its late result must not close or
 *     reopen a breaker that probes with other requests). A 429 or the
 *     request's own deadline says nothing about the route's health
 *     (abandon); another 4xx says it is up (success).
 */
#ifndef RSP_OUTCOME_H
#define RSP_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>

#define RSP_OUTCOME_MAX_EMBARGO_NS (15ull * 60 * 1000000000u)
#define RSP_OUTCOME_NO_EMBARGO 3u

/* How the attempt ended, as the transfer saw it. */
typedef struct rsp_attempt_end {
    bool transport_ok;          /* a complete HTTP response arrived */
    bool deadline_hit;          /* the request's own deadline ended it */
    bool slow;                  /* cut off: no real content within first_content */
    bool delivered;             /* stream chunks already reached the client */
    uint32_t status;            /* HTTP status, 0 if none */
    uint64_t embargo_ns;        /* the upstream asked to wait this long (0: no) */
} rsp_attempt_end;

/* The state it is judged in. */
typedef struct rsp_outcome_in {
    const uint32_t *retry_status;   /* retries.on_status */
    unsigned n_retry_status;
    bool failure_status;        /* the status is in the routes' failure set */
    bool other_route_ready;     /* another route could take a retry now */
    bool same_epoch;            /* the breaker is in the epoch it was sent in */
    uint32_t attempts;          /* made so far, this one included, free retries not */
    uint32_t max_attempts;      /* retries.attempts */
    uint64_t backoff_ns;        /* the backoff policy's delay for this retry */
    unsigned priority;          /* the request's class, 0..2 */
    bool lower_in_flight;       /* requests of a lower class were in flight */
    bool route_busy;            /* other requests of ours were in flight on the route */
    uint64_t took_ns;           /* from sending the attempt to its end */
    uint64_t typical_ns;        /* the route's mean time to first content (0: unknown) */
    uint64_t embargo_until;     /* the route's embargo for this class before this attempt */
    uint64_t now, deadline;
} rsp_outcome_in;

enum rsp_breaker_verdict { RSP_VERDICT_NONE, RSP_VERDICT_SUCCESS, RSP_VERDICT_FAILURE, RSP_VERDICT_ABANDON };

/* Why a request that failed is not retried. */
enum rsp_stop {
    RSP_STOP_NOT_RETRYABLE,     /* the rules above say no (or it succeeded) */
    RSP_STOP_ATTEMPTS,          /* retries.attempts reached */
    RSP_STOP_DEADLINE,          /* the next attempt would start after the deadline */
};

typedef struct rsp_outcome {
    bool ok;                    /* the upstream answered, under 400 */
    enum rsp_breaker_verdict breaker;
    bool refused;               /* 429/503 */
    bool aimd_overload;         /* refused for too much traffic: the route's
                                   concurrency limit must come down */
    bool health_failure;        /* count a failure (shedding window, route stats) */
    /* the route's classes embargo_from..2 wait until embargo_until
     * (RSP_OUTCOME_NO_EMBARGO: the answer asked no wait) */
    unsigned embargo_from;
    uint64_t embargo_until;
    bool retry;                 /* retry at retry_at (if the budget allows) */
    bool on_them;               /* refused for the lower classes: the retry is free */
    uint64_t retry_at;
    enum rsp_stop stop;         /* when !retry */
} rsp_outcome;

rsp_outcome rsp_outcome_judge(const rsp_attempt_end *a, const rsp_outcome_in *in);

#endif
