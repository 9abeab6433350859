/*
 * spin.h — when busy-polling a ring before sleeping pays.
 *
 * Either side may watch a ring for a while instead of sleeping: the
 * sidecar after a turn with work, a client waiting for an answer. A record
 * arriving during that spin is taken at once, with no doorbell (a syscall
 * for the other side) and no wakeup (a scheduler round trip). That pays
 * only when the record is likely to come within the spin: for a caller
 * that sends back to back, or answers that come back in microseconds.
 * For records 150 µs apart a 50 µs spin is pure waste, and in a pod with
 * a CPU limit that waste is throttled time taken from the work.
 *
 * So each side keeps a moving average of how long it waited (the gaps
 * between turns with work; the waits for an answer) and spins only while
 * that average is within the spin. Waits are clamped at a few spin
 * windows, so one idle minute does not take hundreds of events to forget:
 * a burst that starts after a quiet time earns its spin back within about
 * ten records.
 *
 * A wait that went to sleep without spinning first is no measure: its
 * length is the sleeper's own wake-up (40-200 µs on a VM) as much as the
 * record's, so counting it would keep a side asleep for records that come
 * in microseconds (a busy caller's p99 went from 2 to 72 µs that way).
 * Each side counts only the waits it spun for, and while it is not
 * spinning spins anyway every PROBE_EVERY-th wait (rs__spin_window_probing)
 * to see whether records have come closer.
 *
 * Pure: times come from the caller.
 */
#ifndef RS_SPIN_H
#define RS_SPIN_H

#include <stdint.h>

typedef struct rs__spin {
    uint64_t window_ns;   /* the longest spin; 0 turns spinning off */
    double gap_ns;        /* moving average of the waits */
    unsigned waits;       /* for the probes */
} rs__spin;

void rs__spin_init(rs__spin *s, uint64_t window_ns);
/* The awaited record came gap_ns after the wait began. */
void rs__spin_observe(rs__spin *s, uint64_t gap_ns);
/* How long to spin now: window_ns or 0. */
uint64_t rs__spin_window(const rs__spin *s);
/* The same, but window_ns every PROBE_EVERY-th call when it would be 0. */
uint64_t rs__spin_window_probing(rs__spin *s);

#endif
