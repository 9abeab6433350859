/*
 * router.c — weighted random choice among eligible upstream routes.
 *
 * Two linear passes (sum, then walk) instead of a prefix table: a sidecar
 * has a handful of routes per model and eligibility changes with every
 * breaker and bucket verdict, so a table would have to be rebuilt per pick
 * anyway and would need memory the caller owns.
 *
 * Multiply-shift instead of modulo: `rand64 % sum` favours small values by
 * up to 2^64 mod sum, and a rejection loop would need more random words
 * than the interface carries. The high 64 bits of the 128-bit product
 * rand64 * sum split [0, 2^64) into sum intervals whose lengths differ by
 * at most one, which is as fair as one 64-bit word can be.
 */
#include "router.h"

#include <limits.h>

static bool counts(const uint32_t *weight, const bool *eligible, unsigned i)
{
    return weight[i] > 0 && (!eligible || eligible[i]);
}

int rsp_router_pick(const uint32_t *weight, const bool *eligible, unsigned n,
                   uint64_t rand64)
{
    if (!weight || n == 0 || n > (unsigned)INT_MAX)
        return -1;

    /* n <= 2^31 weights below 2^32 each: the sum stays below 2^63 */
    uint64_t sum = 0;
    for (unsigned i = 0; i < n; i++)
        if (counts(weight, eligible, i))
            sum += weight[i];
    if (sum == 0)
        return -1;

    uint64_t target = (uint64_t)(((unsigned __int128)rand64 * sum) >> 64);
    /* target < sum, so the walk always ends on an eligible route */
    for (unsigned i = 0; i < n; i++) {
        if (!counts(weight, eligible, i))
            continue;
        if (target < weight[i])
            return (int)i;
        target -= weight[i];
    }
    return -1;   /* unreachable */
}

unsigned rsp_router_let_in(const bool *out, const double *badness, const uint32_t *weight, unsigned n,
                           unsigned live, double max_ejected, bool *let_in)
{
    unsigned idx[RSP_ROUTER_MAX_LET_IN], nout = 0;
    for (unsigned i = 0; i < n && i < RSP_ROUTER_MAX_LET_IN; i++) {
        let_in[i] = false;
        if (out[i])
            idx[nout++] = i;
    }
    double share = max_ejected * (double)live;
    unsigned keep_out = share >= 1.0 ? (unsigned)share : 1;
    unsigned want = nout > keep_out ? nout - keep_out : 0;
    if (nout && nout >= live && !want)
        want = 1;
    for (unsigned j = 0; j < want; j++) {   /* a partial selection sort: n is small */
        unsigned best = j;
        for (unsigned k = j + 1; k < nout; k++) {
            unsigned x = idx[k], y = idx[best];
            if (badness[x] < badness[y] || (badness[x] == badness[y] && weight[x] > weight[y]))
                best = k;
        }
        unsigned t = idx[j];
        idx[j] = idx[best];
        idx[best] = t;
        let_in[idx[j]] = true;
    }
    return want;
}
