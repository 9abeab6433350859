/*
 * window.c — two counts over a sliding window of time (see window.h).
 */
#include "window.h"

static uint64_t slot_ns(const rsp_window *w)
{
    uint64_t s = w->span_ns / RSP_WINDOW_SLOTS;
    return s ? s : 1;
}

/* Move `cur` forward to the slot that contains now_ns, zeroing the slots it
 * enters (they held counts from one window ago). */
static void advance(rsp_window *w, uint64_t now_ns)
{
    if (now_ns < w->slot_start_ns)
        return;
    uint64_t s = slot_ns(w);
    uint64_t k = (now_ns - w->slot_start_ns) / s;
    if (k == 0)
        return;
    if (k >= RSP_WINDOW_SLOTS) {
        for (unsigned i = 0; i < RSP_WINDOW_SLOTS; i++)
            w->a[i] = w->b[i] = 0;
    } else {
        for (uint64_t i = 0; i < k; i++) {
            w->cur = (w->cur + 1) % RSP_WINDOW_SLOTS;
            w->a[w->cur] = w->b[w->cur] = 0;
        }
    }
    /* k * s <= now - slot_start: cannot overflow */
    w->slot_start_ns += k * s;
}

static void add_sat(uint32_t *c, uint32_t n)
{
    *c = *c > UINT32_MAX - n ? UINT32_MAX : *c + n;
}

void rsp_window_init(rsp_window *w, uint64_t span_ns, uint64_t now_ns)
{
    *w = (rsp_window){ .span_ns = span_ns, .slot_start_ns = now_ns };
}

void rsp_window_set_span(rsp_window *w, uint64_t span_ns)
{
    w->span_ns = span_ns;
}

void rsp_window_add(rsp_window *w, uint64_t now_ns, uint32_t a, uint32_t b)
{
    advance(w, now_ns);
    add_sat(&w->a[w->cur], a);
    add_sat(&w->b[w->cur], b);
}

void rsp_window_sums(rsp_window *w, uint64_t now_ns, uint64_t *a, uint64_t *b)
{
    advance(w, now_ns);
    *a = *b = 0;
    for (unsigned i = 0; i < RSP_WINDOW_SLOTS; i++) {
        *a += w->a[i];
        *b += w->b[i];
    }
}
