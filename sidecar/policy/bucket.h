/*
 * bucket.h — token bucket: the rate limit policy for requests per second and
 * for LLM tokens per minute.
 *
 * A bucket holds up to `burst` tokens and refills continuously at `rate`
 * tokens per second. Admission takes tokens (rsp_bucket_try_take); an LLM
 * request whose real cost is only known after the response (usage) is
 * charged its estimate up front and corrected with rsp_bucket_charge (which
 * may drive the level negative: debt, repaid by refill before anything else
 * passes) or rsp_bucket_refund.
 *
 * Why it is built this way:
 * - Pure: every call takes `now` (monotonic ns) from the caller; nothing
 *   reads a clock, so the sidecar loop decides what "now" is once per turn
 *   and tests simulate hours in microseconds.
 * - Lazy refill: the level is brought up to date on each call from the time
 *   elapsed since `last_ns`; no timer per bucket.
 * - Doubles, not integers: the tokens/min bucket needs fractional tokens per
 *   nanosecond. Each refill rounds once, relative to the level (~1e-16), so a
 *   million tiny steps drift by ~1e-10 of `burst`, never by whole tokens.
 * - rsp_bucket_wait_ns is exact against the refill arithmetic: it returns the
 *   first nanosecond at which rsp_bucket_try_take will succeed (if nothing
 *   else touches the bucket), so a scheduler that sleeps exactly that long
 *   never busy-loops and never loses throughput to rounding.
 * - Time going backwards (a `now` older than one already seen, e.g. a stale
 *   timestamp) neither adds nor removes tokens: `last_ns` only moves forward.
 *
 * Preconditions: rate > 0 and burst >= 1, both finite (check configuration
 * with rsp_bucket_check); token counts n >= 0 and finite. A violated
 * precondition gives meaningless but defined results, never undefined
 * behaviour: a negative or NaN n is refused by try_take and ignored by
 * charge/refund.
 *
 * Not thread-safe: a bucket belongs to the one loop that owns it.
 */
#ifndef RSP_BUCKET_H
#define RSP_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rsp_bucket {
    double rate;      /* tokens per second */
    double burst;     /* capacity */
    double level;     /* tokens now (as of last_ns); negative = debt */
    uint64_t last_ns; /* latest `now` seen */
} rsp_bucket;

/* 0 if (rate, burst) satisfy the preconditions, else RS_EINVAL. */
int rsp_bucket_check(double rate_per_s, double burst);

/* Starts full. */
void rsp_bucket_init(rsp_bucket *b, double rate_per_s, double burst, uint64_t now_ns);

/* Time up to now is credited at the old rate; the level is kept, capped at
 * the new burst. */
void rsp_bucket_reconfigure(rsp_bucket *b, double rate_per_s, double burst, uint64_t now_ns);

/* Refill, then take n if level >= n (so even n == 0 is refused while the
 * bucket is in debt). */
bool rsp_bucket_try_take(rsp_bucket *b, double n, uint64_t now_ns);

/* Take n unconditionally: the level may go negative (debt). */
void rsp_bucket_charge(rsp_bucket *b, double n, uint64_t now_ns);

/* Give n back; the level is capped at burst. */
void rsp_bucket_refund(rsp_bucket *b, double n, uint64_t now_ns);

/* 0 if n is available now; else the ns until it will be (counted from
 * now_ns); UINT64_MAX if n > burst (never), or if the wait does not fit in
 * 64 bits. */
uint64_t rsp_bucket_wait_ns(rsp_bucket *b, double n, uint64_t now_ns);

/* The level after refilling up to now. */
double rsp_bucket_level(rsp_bucket *b, uint64_t now_ns);

/* The time to check and take a token the caller waited for (it was due at
 * `due`, by rsp_bucket_wait_ns): when it was due, if the caller woke a
 * little late for it (timer slack, a busy core), so that lateness is not
 * lost on every request — a burst-1 bucket cannot bank it, and the
 * long-run rate would fall short. Never more than 20 ms back: an older
 * "due" is stale. */
uint64_t rsp_bucket_due_time(uint64_t due, uint64_t now_ns);

#endif
