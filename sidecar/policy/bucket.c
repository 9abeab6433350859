/*
 * bucket.c — token bucket (see bucket.h for what it owns and why).
 *
 * All conversions between nanoseconds and tokens go through tokens_in() so
 * that rsp_bucket_wait_ns can check its answer with the very arithmetic that
 * the later refill will perform. No libm: the few roundings needed are done
 * with integer casts, guarded so that no out-of-range double is ever cast.
 */
#include "bucket.h"

#include "ringside.h"

/* 2^64 as a double: any double >= this does not fit in uint64_t. */
#define TWO_POW_64 18446744073709551616.0

static double tokens_in(const rsp_bucket *b, uint64_t dt_ns)
{
    /* Dividing by 1e9 (exact constant) rounds once; multiplying by 1e-9
     * would round twice. */
    return (double)dt_ns * b->rate / 1e9;
}

static void refill(rsp_bucket *b, uint64_t now_ns)
{
    if (now_ns <= b->last_ns)
        return;                 /* stale or equal time: nothing to credit */
    uint64_t dt = now_ns - b->last_ns;
    b->last_ns = now_ns;
    if (b->level >= b->burst) {
        b->level = b->burst;
        return;
    }
    double l = b->level + tokens_in(b, dt);
    /* written so that a NaN (broken precondition) lands on burst */
    b->level = l < b->burst ? l : b->burst;
}

int rsp_bucket_check(double rate_per_s, double burst)
{
    if (!(rate_per_s > 0.0) || __builtin_isinf(rate_per_s))
        return RS_EINVAL;
    if (!(burst >= 1.0) || __builtin_isinf(burst))
        return RS_EINVAL;
    return 0;
}

void rsp_bucket_init(rsp_bucket *b, double rate_per_s, double burst, uint64_t now_ns)
{
    b->rate = rate_per_s;
    b->burst = burst;
    b->level = burst;
    b->last_ns = now_ns;
}

void rsp_bucket_reconfigure(rsp_bucket *b, double rate_per_s, double burst, uint64_t now_ns)
{
    refill(b, now_ns);
    b->rate = rate_per_s;
    b->burst = burst;
    if (!(b->level <= burst))
        b->level = burst;
}

bool rsp_bucket_try_take(rsp_bucket *b, double n, uint64_t now_ns)
{
    if (!(n >= 0.0))
        return false;
    refill(b, now_ns);
    if (b->level >= n) {
        b->level -= n;
        return true;
    }
    return false;
}

void rsp_bucket_charge(rsp_bucket *b, double n, uint64_t now_ns)
{
    if (!(n >= 0.0) || __builtin_isinf(n))
        return;                 /* infinite debt could never be repaid */
    refill(b, now_ns);
    b->level -= n;
}

void rsp_bucket_refund(rsp_bucket *b, double n, uint64_t now_ns)
{
    if (!(n >= 0.0))
        return;
    refill(b, now_ns);
    double l = b->level + n;
    b->level = l < b->burst ? l : b->burst;
}

/* Would a refill of dt_ns from the current state reach n? */
static bool reaches(const rsp_bucket *b, uint64_t dt_ns, double n)
{
    return b->level + tokens_in(b, dt_ns) >= n;
}

uint64_t rsp_bucket_wait_ns(rsp_bucket *b, double n, uint64_t now_ns)
{
    if (!(n <= b->burst))
        return UINT64_MAX;      /* more than the bucket can ever hold (or NaN) */
    refill(b, now_ns);
    if (b->level >= n)
        return 0;

    double ns = (n - b->level) * 1e9 / b->rate;
    if (!(ns < TWO_POW_64))
        return UINT64_MAX;
    uint64_t w = (uint64_t)ns;
    if ((double)w < ns)
        w++;
    /* The estimate above rounds; settle on the first nanosecond at which
     * the refill itself says yes. A few steps either way always suffice
     * (the error is a couple of ulps); the bounds keep it O(1). */
    for (int i = 0; i < 8 && w < UINT64_MAX && !reaches(b, w, n); i++)
        w++;
    for (int i = 0; i < 8 && w > 1 && reaches(b, w - 1, n); i++)
        w--;
    if (w == 0)
        w = 1;                  /* level < n: not available now */

    /* A stale now_ns: the refill will count from last_ns, not from now. */
    uint64_t lag = b->last_ns - now_ns;   /* 0 unless now_ns < last_ns */
    if (w > UINT64_MAX - lag)
        return UINT64_MAX;
    return w + lag;
}

double rsp_bucket_level(rsp_bucket *b, uint64_t now_ns)
{
    refill(b, now_ns);
    return b->level;
}

uint64_t rsp_bucket_due_time(uint64_t due, uint64_t now_ns)
{
    return due < now_ns && now_ns - due < 20000000u ? due : now_ns;
}
