/*
 * router.h — weighted choice of one upstream route among the eligible ones.
 *
 * It owns only the draw: which routes are eligible (breaker lets a request
 * through, bucket has room, the request's model is served there) and what
 * their weights are is decided by the caller, so this stays a pure function
 * that a test can drive with any random word.
 */
#ifndef RSP_ROUTER_H
#define RSP_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

/* Pick an index in [0,n) with probability weight[i]/sum over eligible i
 * (eligible[i] && weight[i] > 0), using rand64 (64 uniformly random bits);
 * -1 if none is eligible. eligible may be NULL (every route eligible). n
 * above INT_MAX cannot be answered in an int and returns -1 without reading
 * the arrays.
 *
 * One random word, no rejection loop: the draw is (rand64 * sum) >> 64 in
 * 128 bits, so every unit of weight owns floor or ceil of 2^64/sum of the
 * possible words, and a route's probability is off from weight/sum by less
 * than sum/2^64 relative (2^-32 for a sum of 2^32). The sum of n <= INT_MAX
 * 32-bit weights cannot overflow its 64-bit accumulator. The same
 * rand64 always picks the same route, and increasing rand64 walks the
 * eligible routes in index order (0 → first, UINT64_MAX → last). */
int rsp_router_pick(const uint32_t *weight, const bool *eligible, unsigned n,
                   uint64_t rand64);

/* Panic (issue #14): which routes that their breakers keep out are let in
 * anyway. out[i]: route i is live and its breaker refuses it now;
 * badness[i]: its recent failure rate (1.0 when nothing is known); live:
 * how many routes take traffic at all. At most max(1, floor(live ×
 * max_ejected)) may stay out; when more are out, or every live route is,
 * the least bad are let in (lowest badness, then highest weight, then
 * lowest index): failing everything because every route fails some would
 * serve nobody. Sets let_in[i] for i < n; returns how many. n at most
 * RSP_ROUTER_MAX_LET_IN. */
#define RSP_ROUTER_MAX_LET_IN 64
unsigned rsp_router_let_in(const bool *out, const double *badness, const uint32_t *weight, unsigned n,
                           unsigned live, double max_ejected, bool *let_in);

#endif
