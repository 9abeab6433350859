/* spin.c — see spin.h. */
#include "spin.h"

/* the average's weight for a new gap (1/8: the last ~8 gaps matter) */
#define ALPHA 0.125
/* a gap counts for at most this many windows */
#define CLAMP 4
#define PROBE_EVERY 8

void rs__spin_init(rs__spin *s, uint64_t window_ns)
{
    s->window_ns = window_ns;
    s->gap_ns = (double)window_ns * CLAMP;   /* no spin until work comes close together */
}

void rs__spin_observe(rs__spin *s, uint64_t gap_ns)
{
    double g = (double)gap_ns, cap = (double)s->window_ns * CLAMP;
    s->gap_ns += ALPHA * ((g < cap ? g : cap) - s->gap_ns);
}

uint64_t rs__spin_window(const rs__spin *s)
{
    return s->window_ns && s->gap_ns <= (double)s->window_ns ? s->window_ns : 0;
}

uint64_t rs__spin_window_probing(rs__spin *s)
{
    uint64_t w = rs__spin_window(s);
    if (!w && s->window_ns && ++s->waits % PROBE_EVERY == 0)
        w = s->window_ns;
    return w;
}
