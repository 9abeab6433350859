/*
 * test_rand.h — the unit tests' random numbers: splitmix64, tiny and
 * well mixed, always from a fixed seed, so a failing run repeats exactly.
 */
#ifndef RS_TEST_RAND_H
#define RS_TEST_RAND_H

#include <stdint.h>

static inline uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#endif
