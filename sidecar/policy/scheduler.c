/*
 * scheduler.c — the admission scheduler (see scheduler.h for what it owns).
 *
 * Why stride scheduling for P1/P2: it is deterministic (tests can demand an
 * exact split, and an operator sees the same order for the same input), it
 * needs one integer per class, and it gives the configured split over any
 * window, not only on average. Each take of class c adds stride[c] =
 * ONE / weight[c] to pass[c]; the class with the smaller pass goes next.
 * ONE is 2^32, so a weight's rounding error is below 1e-9 of its share.
 *
 * Why the re-entry rule: a class that becomes backlogged again starts at the
 * other class's pass (or, if both were idle, at the highest pass reached so
 * far) unless its own pass is already higher. Without it, a class idle for
 * an hour would come back an hour's worth of takes "behind" and take every
 * slot until it caught up. A class that leaves with debt (pass ahead) keeps
 * it, so leaving and re-joining is not a way to jump the queue.
 *
 * Why the arithmetic stays bounded: passes only grow, so they are shifted
 * down together (renormalised) once one passes 2^62; and a class can run at
 * most RSP_SCHED_MAX_LAG ahead of a backlogged competitor (aging can serve
 * P2 out of turn for as long as P1 keeps arriving), so the shift always
 * brings the values back down and nothing can wrap in a sidecar that runs
 * for years.
 */
#include "scheduler.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ringside.h"

#define RSP_SCHED_ONE       (1ull << 32)
#define RSP_SCHED_RENORM    (1ull << 62)
/* 1024 takes of a weight-1 class: far more debt than any real burst of
 * aged takes, far less than the renormalisation threshold. */
#define RSP_SCHED_MAX_LAG   (1024ull * RSP_SCHED_ONE)

/* ------------------------------------------------------------ config */

void rsp_sched_cfg_default(rsp_sched_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int p = 0; p < RSP_SCHED_NPRIO; p++)
        cfg->max_queued[p] = RSP_SCHED_DEFAULT_MAX_QUEUED;
    cfg->weight[1] = RSP_SCHED_DEFAULT_WEIGHT_P1;
    cfg->weight[2] = RSP_SCHED_DEFAULT_WEIGHT_P2;
    cfg->aging_ns = RSP_SCHED_DEFAULT_AGING_NS;
}

static void rs__sched_set_strides(rsp_sched *s)
{
    uint32_t w1 = s->cfg.weight[1], w2 = s->cfg.weight[2];
    if (w1 == 0 && w2 == 0)
        w1 = w2 = 1;   /* "no preference" rather than "serve neither" */
    s->stride[0] = 0;
    s->stride[1] = w1 ? RSP_SCHED_ONE / w1 : 0;
    s->stride[2] = w2 ? RSP_SCHED_ONE / w2 : 0;
}

/* Heap slots needed so that no push the bounds allow can find the heap full.
 * After a bound is lowered, a class may hold more than its new bound until it
 * drains, so each class counts as the larger of the two. */
static uint64_t rs__sched_needed(const rsp_sched *s, const rsp_sched_cfg *cfg)
{
    uint64_t n = 0;
    for (int p = 0; p < RSP_SCHED_NPRIO; p++)
        n += s->len[p] > cfg->max_queued[p] ? s->len[p] : cfg->max_queued[p];
    return n;
}

static int rs__sched_reserve(rsp_sched *s, uint64_t need)
{
    return rsp_heap_reserve(&s->dl, need) < 0 ? RS_ENOMEM : 0;
}

int rsp_sched_init(rsp_sched *s, const rsp_sched_cfg *cfg)
{
    memset(s, 0, sizeof *s);
    if (cfg)
        s->cfg = *cfg;
    else
        rsp_sched_cfg_default(&s->cfg);
    rs__sched_set_strides(s);
    int err = rs__sched_reserve(s, rs__sched_needed(s, &s->cfg));
    if (err) {
        memset(s, 0, sizeof *s);
        return err;
    }
    return 0;
}

void rsp_sched_destroy(rsp_sched *s)
{
    rsp_heap_free(&s->dl);
    memset(s, 0, sizeof *s);
}

int rsp_sched_reconfigure(rsp_sched *s, const rsp_sched_cfg *cfg)
{
    /* Grow first: on failure nothing has changed. The heap never shrinks; a
     * few idle KiB are cheaper than a realloc that could fail mid-life. */
    int err = rs__sched_reserve(s, rs__sched_needed(s, cfg));
    if (err)
        return err;
    bool reweighed = cfg->weight[1] != s->cfg.weight[1] || cfg->weight[2] != s->cfg.weight[2];
    s->cfg = *cfg;
    rs__sched_set_strides(s);
    /* New weights start level: credit or debt earned under the old ones is
     * meaningless now, and can be large (a weight-0 class is never charged,
     * so the other runs up to RSP_SCHED_MAX_LAG ahead; turning the weight on
     * would then hand it tens of thousands of takes in a row). Changing only
     * bounds or aging keeps the fairness state. */
    if (reweighed) {
        uint64_t level = s->vtime;
        for (int c = 1; c <= 2; c++)
            if (s->len[c] && s->pass[c] > level)
                level = s->pass[c];
        for (int c = 1; c <= 2; c++)
            if (s->len[c])
                s->pass[c] = level;
        s->vtime = level;
    }
    return 0;
}

/* ---------------------------------------------------- fairness state */

static void rs__sched_renorm(rsp_sched *s)
{
    uint64_t base = UINT64_MAX;
    for (int c = 1; c <= 2; c++)
        if (s->len[c] && s->pass[c] < base)
            base = s->pass[c];
    if (base == UINT64_MAX)
        base = s->vtime;
    else if (s->vtime < base)
        s->vtime = base;   /* unobservable: vtime only matters once they idle */
    /* An idle class below base re-enters at >= base anyway: clamp it there. */
    for (int c = 1; c <= 2; c++)
        s->pass[c] = s->pass[c] > base ? s->pass[c] - base : 0;
    s->vtime -= base;
}

static void rs__sched_charge(rsp_sched *s, int c)
{
    s->pass[c] += s->stride[c];
    int o = 3 - c;
    if (s->len[o] && s->pass[c] > s->pass[o] + RSP_SCHED_MAX_LAG)
        s->pass[c] = s->pass[o] + RSP_SCHED_MAX_LAG;
    if (s->pass[c] > RSP_SCHED_RENORM)
        rs__sched_renorm(s);
}

/* Class c (1 or 2) is about to go from empty to backlogged. */
static void rs__sched_rejoin(rsp_sched *s, int c)
{
    int o = 3 - c;
    uint64_t floor = s->len[o] ? s->pass[o] : s->vtime;
    if (s->pass[c] < floor)
        s->pass[c] = floor;
}

/* Class c (1 or 2) has just become empty. */
static void rs__sched_idle(rsp_sched *s, int c)
{
    if (s->vtime < s->pass[c])
        s->vtime = s->pass[c];
}

/* Weighted choice between the P1 and P2 heads; 0 if both are empty. */
/* Between P1 and P2 heads h1, h2 (either may be NULL): the class that goes. */
static int rs__sched_fair_pick(const rsp_sched *s, const rsp_sched_item *h1, const rsp_sched_item *h2)
{
    if (!h1)
        return h2 ? 2 : 0;
    if (!h2)
        return 1;
    if (s->stride[1] == 0)
        return 2;   /* weight[1] == 0 (and weight[2] > 0) */
    if (s->stride[2] == 0)
        return 1;
    return s->pass[2] < s->pass[1] ? 2 : 1;
}

/* ------------------------------------------------------------- queue */

/* O(1) proof that `it` is queued in this scheduler (not only "queued"
 * somewhere): a stray item must not corrupt our lists. */
static bool rs__sched_owns(const rsp_sched *s, const rsp_sched_item *it)
{
    return it->queued && it->prio < RSP_SCHED_NPRIO && rsp_heap_contains(&s->dl, &it->dl);
}

static void rs__sched_unlink(rsp_sched *s, rsp_sched_item *it)
{
    int p = it->prio;
    if (it->prev)
        it->prev->next = it->next;
    else
        s->head[p] = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        s->tail[p] = it->prev;
    it->next = it->prev = NULL;
    s->len[p]--;
    rsp_heap_remove(&s->dl, &it->dl);
    it->queued = 0;
    if (p > 0 && s->len[p] == 0)
        rs__sched_idle(s, p);
}

int rsp_sched_push(rsp_sched *s, rsp_sched_item *it, uint64_t now)
{
    if (it->prio >= RSP_SCHED_NPRIO || it->queued)
        return RS_EINVAL;
    int p = it->prio;
    /* The heap check cannot fire while the bounds hold (reserve sized it);
     * it is here so a bug elsewhere refuses instead of writing out of bounds. */
    if (s->len[p] >= s->cfg.max_queued[p] || s->dl.n >= s->dl.cap) {
        s->stats.refused[p]++;
        return RS_EQUEUEFULL;
    }
    if (p > 0 && s->len[p] == 0)
        rs__sched_rejoin(s, p);
    it->enq_ns = now;
    it->next = NULL;
    it->prev = s->tail[p];
    if (s->tail[p])
        s->tail[p]->next = it;
    else
        s->head[p] = it;
    s->tail[p] = it;
    s->len[p]++;
    it->queued = 1;
    it->dl.key = it->deadline_ns;
    rsp_heap_push(&s->dl, &it->dl);   /* cannot grow (checked above): cannot fail */
    s->stats.pushed[p]++;
    return 0;
}

rsp_sched_item *rsp_sched_next(rsp_sched *s, uint64_t now, unsigned allow)
{
    if (s->head[0] && (allow & RSP_SCHED_P0))
        return s->head[0];
    rsp_sched_item *h1 = allow & RSP_SCHED_P1 ? s->head[1] : NULL;
    rsp_sched_item *h2 = allow & RSP_SCHED_P2 ? s->head[2] : NULL;
    /* Aging: only against a younger P1 head, so an old P2 backlog does not
     * jump ahead of P1 items that have waited even longer. */
    if (h2 && s->cfg.aging_ns && now > h2->enq_ns && now - h2->enq_ns > s->cfg.aging_ns &&
        (!h1 || h1->enq_ns > h2->enq_ns))
        return h2;
    int c = rs__sched_fair_pick(s, h1, h2);
    return c ? s->head[c] : NULL;
}

void rsp_sched_take(rsp_sched *s, rsp_sched_item *it)
{
    if (!rs__sched_owns(s, it))
        return;
    int p = it->prio;
    /* Charge while the item still counts as queued, so a class that this
     * take empties records its charged pass as the idle point. */
    if (p > 0)
        rs__sched_charge(s, p);
    s->stats.taken[p]++;
    rs__sched_unlink(s, it);
}

void rsp_sched_remove(rsp_sched *s, rsp_sched_item *it)
{
    if (!rs__sched_owns(s, it))
        return;
    s->stats.removed[it->prio]++;
    rs__sched_unlink(s, it);
}

rsp_sched_item *rsp_sched_pop_expired(rsp_sched *s, uint64_t now)
{
    rsp_heap_node *top = rsp_heap_top(&s->dl);
    if (!top || top->key > now)
        return NULL;
    rsp_sched_item *it = (rsp_sched_item *)(void *)((char *)top - offsetof(rsp_sched_item, dl));
    s->stats.expired[it->prio]++;
    rs__sched_unlink(s, it);
    return it;
}

uint64_t rsp_sched_next_deadline(const rsp_sched *s)
{
    rsp_heap_node *top = rsp_heap_top(&s->dl);
    return top ? top->key : UINT64_MAX;
}

uint32_t rsp_sched_len(const rsp_sched *s, int prio)
{
    if (prio < 0 || prio >= RSP_SCHED_NPRIO)
        return 0;
    return s->len[prio];
}

uint32_t rsp_sched_p12_room(uint32_t safe, uint32_t probe, double p0_share)
{
    uint32_t reserve = 0;
    if (safe >= 2) {
        double r = (double)safe * (p0_share > 0 ? p0_share : 0);
        reserve = r >= (double)safe ? safe : (uint32_t)r + ((double)(uint32_t)r < r);
        if (reserve < 1)
            reserve = 1;
        if (reserve > safe - 1)
            reserve = safe - 1;   /* P1/P2 keep at least one */
    }
    return safe - reserve + probe;
}
