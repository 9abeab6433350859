/*
 * config_file.c — the YAML configuration file, read with libyaml.
 *
 * The file is loaded as a libyaml document (so every node keeps its line),
 * then walked by small table-driven readers: each mapping lists the keys it
 * knows, and anything else is an error, because a misspelt limit silently
 * ignored is worse than a refusal to start. Every problem is reported as
 * "FILE:LINE: KEY: what is wrong, and what is allowed", and all problems
 * are collected, not just the first, so one edit fixes them all.
 *
 * Scalars may use ${VAR} or ${VAR:-default}: secrets stay in the
 * environment. An unset variable without a default is an error.
 */
#include "config.h"
#include "record.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct ycx {
    yaml_document_t doc;
    const char *file;
    char *err;
    size_t errlen, used;
    int nerr;
    char key[160];     /* dotted path of the key being read, for messages */
} ycx;

static void yerr(ycx *x, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void yerr(ycx *x, const yaml_node_t *n, const char *fmt, ...)
{
    x->nerr++;
    if (x->used + 1 >= x->errlen)
        return;
    size_t start = x->used;
    int w = snprintf(x->err + x->used, x->errlen - x->used, "%s:%zu: %s: ", x->file,
                     n ? n->start_mark.line + 1 : 0, x->key[0] ? x->key : "(top)");
    if (w > 0 && (size_t)w < x->errlen - x->used)
        x->used += (size_t)w;
    va_list ap;
    va_start(ap, fmt);
    w = vsnprintf(x->err + x->used, x->errlen - x->used, fmt, ap);
    va_end(ap);
    if (w > 0 && (size_t)w < x->errlen - x->used)
        x->used += (size_t)w;
    /* one problem, one line: a key or value quoted from the file may hold
     * a newline (or a terminal escape), which must not start a line of
     * its own that looks like another problem */
    for (size_t i = start; i < x->used; i++)
        if ((unsigned char)x->err[i] < 0x20 || x->err[i] == 0x7f)
            x->err[i] = '?';
    if (x->used + 1 < x->errlen) {
        x->err[x->used++] = '\n';
        x->err[x->used] = 0;
    }
}

static yaml_node_t *node(ycx *x, int idx)
{
    return yaml_document_get_node(&x->doc, idx);
}

/* The scalar's text with ${VAR} / ${VAR:-default} substituted, in buf. */
static const char *text(ycx *x, yaml_node_t *n, char *buf, size_t len)
{
    if (n->type != YAML_SCALAR_NODE) {
        yerr(x, n, "expected a single value, found a %s",
             n->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return NULL;
    }
    const char *s = (const char *)n->data.scalar.value;
    size_t o = 0;
    while (*s) {
        if (s[0] == '$' && s[1] == '{') {
            const char *end = strchr(s, '}');
            if (!end) {
                yerr(x, n, "unterminated ${ in '%s'", (const char *)n->data.scalar.value);
                return NULL;
            }
            char name[128];
            size_t nl = (size_t)(end - s - 2);
            if (nl >= sizeof name) {
                yerr(x, n, "variable name too long");
                return NULL;
            }
            memcpy(name, s + 2, nl);
            name[nl] = 0;
            const char *def = NULL;
            char *colon = strstr(name, ":-");
            if (colon) {
                *colon = 0;
                def = colon + 2;
            }
            const char *v = getenv(name);
            if (!v || !*v)
                v = def;
            if (!v) {
                yerr(x, n, "environment variable %s is not set (use ${%s:-default} for a fallback)", name, name);
                return NULL;
            }
            size_t vl = strlen(v);
            if (o + vl >= len) {
                yerr(x, n, "value longer than %zu bytes", len - 1);
                return NULL;
            }
            memcpy(buf + o, v, vl);
            o += vl;
            s = end + 1;
        } else {
            if (o + 1 >= len) {
                yerr(x, n, "value longer than %zu bytes", len - 1);
                return NULL;
            }
            buf[o++] = *s++;
        }
    }
    buf[o] = 0;
    return buf;
}

static void get_str(ycx *x, yaml_node_t *n, char *dst, size_t len)
{
    char buf[1024];
    const char *t = text(x, n, buf, sizeof buf);
    if (!t)
        return;
    if (strlen(t) >= len) {
        yerr(x, n, "longer than %zu characters", len - 1);
        return;
    }
    memcpy(dst, t, strlen(t) + 1);
}

static void get_u32(ycx *x, yaml_node_t *n, uint32_t min, uint32_t max, uint32_t *dst)
{
    char buf[64];
    const char *t = text(x, n, buf, sizeof buf);
    if (!t)
        return;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(t, &end, 10);
    if (!*t || *end || errno || t[0] == '-' || v < min || v > max) {
        yerr(x, n, "'%s' is not a whole number from %u to %u", t, min, max);
        return;
    }
    *dst = (uint32_t)v;
}

static void get_bool(ycx *x, yaml_node_t *n, bool *dst)
{
    char buf[16];
    const char *t = text(x, n, buf, sizeof buf);
    if (!t)
        return;
    if (strcmp(t, "true") == 0)
        *dst = true;
    else if (strcmp(t, "false") == 0)
        *dst = false;
    else
        yerr(x, n, "'%s' is not true or false", t);
}

static void get_double(ycx *x, yaml_node_t *n, double min, double max, double *dst)
{
    char buf[64];
    const char *t = text(x, n, buf, sizeof buf);
    if (!t)
        return;
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    if (!*t || *end || errno || !isfinite(v) || v < min || v > max) {
        yerr(x, n, "'%s' is not a number from %g to %g", t, min, max);
        return;
    }
    *dst = v;
}

/* ---------------------------------------------------------- mappings */

typedef void (*key_fn)(ycx *x, yaml_node_t *value, void *target);

typedef struct key_spec {
    const char *name;
    key_fn fn;
} key_spec;

/* Walk a mapping, dispatching each known key; unknown keys are errors. */
static void walk_map(ycx *x, yaml_node_t *map, const key_spec *keys, void *target)
{
    if (map->type != YAML_MAPPING_NODE) {
        yerr(x, map, "expected a mapping of keys");
        return;
    }
    size_t base = strlen(x->key);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(x, p->key), *v = node(x, p->value);
        const char *name = k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
        snprintf(x->key + base, sizeof x->key - base, "%s%s", base ? "." : "", name);
        const key_spec *ks = keys;
        while (ks->name && strcmp(ks->name, name) != 0)
            ks++;
        if (ks->name) {
            ks->fn(x, v, target);
        } else {
            char known[512] = "";
            for (const key_spec *q = keys; q->name; q++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", q == keys ? "" : ", ", q->name);
            yerr(x, k, "unknown key (known here: %s)", known);
        }
        x->key[base] = 0;
    }
}

static void get_status_list(ycx *x, yaml_node_t *n, uint32_t *dst, uint32_t *count)
{
    if (n->type == YAML_SCALAR_NODE) {   /* a single status is fine too */
        *count = 0;
        get_u32(x, n, 100, 599, &dst[(*count)++]);
        return;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        yerr(x, n, "expected a list of HTTP status codes, e.g. [502, 503]");
        return;
    }
    *count = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        if (*count == SC_MAX_STATUS) {
            yerr(x, n, "at most %d status codes", SC_MAX_STATUS);
            return;
        }
        get_u32(x, node(x, *it), 100, 599, &dst[(*count)++]);
    }
}

/* ------------------------------------------------------------ limits */

#define U32_KEY(fname, field, lo, hi)                                      \
    static void fname(ycx *x, yaml_node_t *v, void *t)                    \
    {                                                                      \
        get_u32(x, v, lo, hi, &((sc_config *)t)->field);                   \
    }

static void k_limit_rps(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 0.001, 1e7, &((sc_limit_cfg *)t)->rps); }
static void k_limit_burst(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 1, 1e7, &((sc_limit_cfg *)t)->burst); }
static void k_limit_tpm(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 1, 1e12, &((sc_limit_cfg *)t)->tpm); }
static const key_spec limit_keys[] = {
    { "rps", k_limit_rps }, { "burst", k_limit_burst }, { "tpm", k_limit_tpm }, { 0, 0 },
};
static void k_limits_global(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, limit_keys, &((sc_config *)t)->global_limit); }
static void k_limits_client(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, limit_keys, &((sc_config *)t)->client_limit); }
static const key_spec limits_keys[] = {
    { "global", k_limits_global }, { "per_client", k_limits_client }, { 0, 0 },
};
static void k_limits(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, limits_keys, t); }

/* -------------------------------------------------------- priorities */

static void k_p0(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 1, 10000000, &((uint32_t *)t)[0]); }
static void k_p1(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 1, 10000000, &((uint32_t *)t)[1]); }
static void k_p2(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 1, 10000000, &((uint32_t *)t)[2]); }
static const key_spec per_prio_keys[] = { { "p0", k_p0 }, { "p1", k_p1 }, { "p2", k_p2 }, { 0, 0 } };
static void k_queue(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, per_prio_keys, ((sc_config *)t)->queue_max); }
static void k_deadline(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, per_prio_keys, ((sc_config *)t)->deadline_ms); }
static void k_w_p1(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 1, 1000, &((sc_config *)t)->weight_p1); }
static void k_w_p2(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 1, 1000, &((sc_config *)t)->weight_p2); }
static const key_spec weight_keys[] = { { "p1", k_w_p1 }, { "p2", k_w_p2 }, { 0, 0 } };
static void k_weights(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, weight_keys, t); }
U32_KEY(k_aging, aging_ms, 0, 86400000)
static void k_reserved(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 0, 0.9, &((sc_config *)t)->p0_reserved); }
static const key_spec prio_keys[] = {
    { "p0_reserved", k_reserved }, { "weights", k_weights }, { "aging_ms", k_aging },
    { "queue", k_queue }, { "deadline_ms", k_deadline }, { 0, 0 },
};
static void k_priorities(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, prio_keys, t); }

/* ------------------------------------------------------------ retries */

U32_KEY(k_attempts, retry_attempts, 1, 20)
U32_KEY(k_initial, retry_initial_ms, 1, 3600000)
U32_KEY(k_cap, retry_cap_ms, 1, 3600000)
static void k_factor(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 1, 10, &((sc_config *)t)->retry_factor); }
static void k_on_status(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    get_status_list(x, v, c->retry_status, &c->n_retry_status);
    static const uint32_t never[] = { 400, 401, 402, 403, 404, 422 };
    for (uint32_t i = 0; i < c->n_retry_status; i++)
        for (unsigned k = 0; k < sizeof never / sizeof never[0]; k++)
            if (c->retry_status[i] == never[k])
                yerr(x, v, "%u is never retried: the same request would fail the same way", never[k]);
}
static void k_b_ratio(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 0, 10, &((sc_config *)t)->budget_ratio); }
U32_KEY(k_b_min, budget_min, 0, 1000000)
U32_KEY(k_b_window, budget_window_ms, 100, 3600000)
static const key_spec budget_keys[] = {
    { "ratio", k_b_ratio }, { "min", k_b_min }, { "window_ms", k_b_window }, { 0, 0 },
};
static void k_budget(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, budget_keys, t); }
static const key_spec retry_keys[] = {
    { "attempts", k_attempts }, { "initial_ms", k_initial }, { "factor", k_factor },
    { "cap_ms", k_cap }, { "on_status", k_on_status }, { "budget", k_budget }, { 0, 0 },
};
static void k_retries(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, retry_keys, t); }

/* ------------------------------------------------- breaker, shedding */

U32_KEY(k_br_failures, breaker_failures, 1, 1000)
U32_KEY(k_br_slow, breaker_slow, 1, 1000)
U32_KEY(k_br_cooldown, breaker_cooldown_ms, 1, 3600000)
U32_KEY(k_br_probes, breaker_probes, 1, 1000)
U32_KEY(k_br_max_cooldown, breaker_max_cooldown_ms, 1, 3600000)
static void k_br_rate(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 0, 1, &((sc_config *)t)->breaker_failure_rate); }
U32_KEY(k_br_min, breaker_min_requests, 1, 1000000)
U32_KEY(k_br_window, breaker_window_ms, 100, 3600000)
static void k_br_ejected(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 0, 1, &((sc_config *)t)->max_ejected); }
static const key_spec breaker_keys[] = {
    { "failures", k_br_failures }, { "slow", k_br_slow }, { "cooldown_ms", k_br_cooldown },
    { "max_cooldown_ms", k_br_max_cooldown }, { "failure_rate", k_br_rate }, { "min_requests", k_br_min },
    { "window_ms", k_br_window }, { "max_ejected", k_br_ejected }, { "half_open_probes", k_br_probes },
    { 0, 0 },
};
static void k_breaker(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, breaker_keys, t); }

static void k_sh_rate(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 0, 1, &((sc_config *)t)->shed_error_rate); }
static void k_sh_frac(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 0, 1, &((sc_config *)t)->shed_fraction); }
U32_KEY(k_sh_window, shed_window_ms, 100, 3600000)
U32_KEY(k_sh_min, shed_min_samples, 1, 1000000)
static const key_spec shed_keys[] = {
    { "error_rate", k_sh_rate }, { "fraction", k_sh_frac }, { "window_ms", k_sh_window },
    { "min_samples", k_sh_min }, { 0, 0 },
};
static void k_shedding(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, shed_keys, t); }

static void k_em_frac(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 0, 1, &((sc_config *)t)->em_shed_fraction); }
static void k_em_rate(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 0, 1, &((sc_config *)t)->em_error_ratio); }
U32_KEY(k_em_window, em_window_ms, 1000, 60000)
U32_KEY(k_em_min, em_min_requests, 1, 1000000)
U32_KEY(k_em_recover, em_recover_ms, 0, 3600000)
static void k_em_open(ycx *x, yaml_node_t *v, void *t) { get_bool(x, v, &((sc_config *)t)->em_when_open); }
static const key_spec emergency_keys[] = {
    { "shed_fraction", k_em_frac }, { "error_ratio", k_em_rate }, { "window_ms", k_em_window },
    { "min_requests", k_em_min }, { "when_primaries_open", k_em_open }, { "recover_ms", k_em_recover },
    { 0, 0 },
};
static void k_emergency(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, emergency_keys, t); }

static void k_l_alpha(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 0.001, 1, &((sc_config *)t)->latency_alpha); }
static void k_l_recover(ycx *x, yaml_node_t *v, void *t) { get_double(x, v, 0.01, 1, &((sc_config *)t)->latency_recover); }
U32_KEY(k_l_probe, latency_probe_ms, 1, 3600000)
static const key_spec latency_keys[] = {
    { "alpha", k_l_alpha }, { "recover", k_l_recover }, { "probe_ms", k_l_probe }, { 0, 0 },
};
static void k_latency(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, latency_keys, t); }

/* ------------------------------------------------------------ timeouts */

typedef struct timeouts { uint32_t *connect, *first, *idle, *total; } timeouts;
static void k_t_connect(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 1, 3600000, ((timeouts *)t)->connect); }
/* 0 turns these two off */
static void k_t_first(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 0, 3600000, ((timeouts *)t)->first); }
static void k_t_idle(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 0, 3600000, ((timeouts *)t)->idle); }
static void k_t_total(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 1, 86400000, ((timeouts *)t)->total); }
static const key_spec timeout_keys[] = {
    { "connect_ms", k_t_connect }, { "first_content_ms", k_t_first }, { "idle_ms", k_t_idle },
    { "total_ms", k_t_total }, { 0, 0 },
};
static void k_timeouts(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    timeouts tt = { &c->connect_timeout_ms, &c->first_content_timeout_ms, &c->idle_timeout_ms, &c->total_timeout_ms };
    walk_map(x, v, timeout_keys, &tt);
}

/* --------------------------------------------------------------- admin */

static void k_a_listen(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    get_str(x, v, c->admin_listen, sizeof c->admin_listen);
    c->admin_listen_default = false;
}
static const key_spec admin_keys[] = { { "listen", k_a_listen }, { 0, 0 } };
static void k_admin(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, admin_keys, t); }

/* ------------------------------------------------------------ timeline */

static void k_tl_file(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    get_str(x, v, c->timeline_file, sizeof c->timeline_file);
    c->timeline_file_default = false;
}
U32_KEY(k_tl_keep, timeline_keep, 1, 1000000)
static const key_spec timeline_keys[] = { { "file", k_tl_file }, { "keep", k_tl_keep }, { 0, 0 } };
static void k_timeline(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, timeline_keys, t); }

/* -------------------------------------------------------------- routes */

static void k_r_name(ycx *x, yaml_node_t *v, void *t) { get_str(x, v, ((sc_route_cfg *)t)->name, sizeof ((sc_route_cfg *)t)->name); }
static void k_r_endpoint(ycx *x, yaml_node_t *v, void *t)
{
    sc_route_cfg *r = t;
    get_str(x, v, r->endpoint, sizeof r->endpoint);
    if (r->endpoint[0] && strncmp(r->endpoint, "http://", 7) != 0 && strncmp(r->endpoint, "https://", 8) != 0)
        yerr(x, v, "'%s' must start with http:// or https://", r->endpoint);
}
static void k_r_weight(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 0, 1000000, &((sc_route_cfg *)t)->weight); }
static void k_r_standby(ycx *x, yaml_node_t *v, void *t) { get_bool(x, v, &((sc_route_cfg *)t)->standby); }
static void k_r_warm(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 0, 3600000, &((sc_route_cfg *)t)->keep_warm_ms); }
static void k_r_keyenv(ycx *x, yaml_node_t *v, void *t) { get_str(x, v, ((sc_route_cfg *)t)->api_key_env, sizeof ((sc_route_cfg *)t)->api_key_env); }
static void k_r_models(ycx *x, yaml_node_t *v, void *t)
{
    sc_route_cfg *r = t;
    if (v->type != YAML_MAPPING_NODE) {
        yerr(x, v, "expected a mapping of client model name: upstream model name");
        return;
    }
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        if (r->nmodels == SC_MAX_MODELS) {
            yerr(x, v, "at most %d model mappings", SC_MAX_MODELS);
            return;
        }
        get_str(x, node(x, p->key), r->model_from[r->nmodels], sizeof r->model_from[0]);
        get_str(x, node(x, p->value), r->model_to[r->nmodels], sizeof r->model_to[0]);
        r->nmodels++;
    }
}
static void k_r_timeouts(ycx *x, yaml_node_t *v, void *t)
{
    sc_route_cfg *r = t;
    timeouts tt = { &r->connect_timeout_ms, &r->first_content_timeout_ms, &r->idle_timeout_ms, &r->total_timeout_ms };
    walk_map(x, v, timeout_keys, &tt);
}
static void k_r_limits(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, limit_keys, &((sc_route_cfg *)t)->limit); }
static void k_c_initial(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 1, 100000, &((sc_route_cfg *)t)->conc_initial); }
static void k_c_min(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 1, 100000, &((sc_route_cfg *)t)->conc_min); }
static void k_c_max(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 1, 100000, &((sc_route_cfg *)t)->conc_max); }
static void k_c_pw(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 0, 3600000, &((sc_route_cfg *)t)->probe_wait_ms); }
static void k_c_pwm(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 0, 3600000, &((sc_route_cfg *)t)->probe_wait_max_ms); }
static const key_spec conc_keys[] = {
    { "initial", k_c_initial }, { "min", k_c_min }, { "max", k_c_max }, { "probe_wait_ms", k_c_pw },
    { "probe_wait_max_ms", k_c_pwm }, { 0, 0 },
};
static void k_r_conc(ycx *x, yaml_node_t *v, void *t) { walk_map(x, v, conc_keys, t); }
static void k_cond_status(ycx *x, yaml_node_t *v, void *t)
{
    sc_route_cfg *r = t;
    get_status_list(x, v, r->cond_status, &r->n_cond_status);
}
static void k_cond_latency(ycx *x, yaml_node_t *v, void *t) { get_u32(x, v, 1, 3600000, &((sc_route_cfg *)t)->cond_latency_gt_ms); }
static const key_spec cond_keys[] = {
    { "http_status", k_cond_status }, { "latency_gt", k_cond_latency }, { 0, 0 },
};
static void k_r_conditions(ycx *x, yaml_node_t *v, void *t)
{
    if (v->type != YAML_SEQUENCE_NODE) {
        yerr(x, v, "expected a list, e.g. [{http_status: [502, 503]}, {latency_gt: 2000}]");
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
        walk_map(x, node(x, *it), cond_keys, t);
}
static const key_spec route_keys[] = {
    { "name", k_r_name }, { "endpoint", k_r_endpoint }, { "weight", k_r_weight },
    { "api_key_env", k_r_keyenv }, { "models", k_r_models }, { "timeouts", k_r_timeouts },
    { "limits", k_r_limits }, { "concurrency", k_r_conc }, { "conditions", k_r_conditions },
    { "standby", k_r_standby }, { "keep_warm_ms", k_r_warm }, { 0, 0 },
};

void sc_route_cfg_init(sc_route_cfg *r, const sc_config *c)
{
    memset(r, 0, sizeof *r);
    r->weight = 1;
    snprintf(r->api_key_env, sizeof r->api_key_env, "%s", c->api_key_env);
    r->conc_initial = 64;
    r->conc_min = 1;
    r->conc_max = 256;
    r->probe_wait_ms = 5000;
    r->probe_wait_max_ms = 60000;
    r->keep_warm_ms = 5000;
}

static void k_routes(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    if (v->type != YAML_SEQUENCE_NODE) {
        yerr(x, v, "expected a list of routes");
        return;
    }
    c->nroutes = 0;
    size_t base = strlen(x->key);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        if (c->nroutes == SC_MAX_ROUTES) {
            yerr(x, v, "at most %d routes", SC_MAX_ROUTES);
            return;
        }
        sc_route_cfg *r = &c->routes[c->nroutes];
        sc_route_cfg_init(r, c);
        snprintf(x->key + base, sizeof x->key - base, "[%u]", c->nroutes);
        yaml_node_t *rn = node(x, *it);
        walk_map(x, rn, route_keys, r);
        if (!r->name[0])
            yerr(x, rn, "a route needs a name");
        if (!r->endpoint[0])
            yerr(x, rn, "a route needs an endpoint (base URL)");
        if (strcmp(r->name, "echo") == 0)
            yerr(x, rn, "'echo' is the sidecar's built-in route; pick another name");
        for (unsigned k = 0; k < c->nroutes; k++)
            if (strcmp(c->routes[k].name, r->name) == 0)
                yerr(x, rn, "route name '%s' is used twice", r->name);
        if (r->conc_min > r->conc_max)
            yerr(x, rn, "concurrency.min (%u) is above concurrency.max (%u)", r->conc_min, r->conc_max);
        size_t n = strlen(r->endpoint);
        while (n > 0 && r->endpoint[n - 1] == '/')
            r->endpoint[--n] = 0;
        x->key[base] = 0;
        c->nroutes++;
    }
    unsigned primaries = 0;
    for (unsigned k = 0; k < c->nroutes; k++)
        primaries += !c->routes[k].standby;
    if (c->nroutes && !primaries)
        yerr(x, v, "every route is a standby: at least one must take traffic outside emergency mode");
}

/* ----------------------------------------------------- socket access */

const char *sc_parse_socket_mode(const char *s, mode_t *mode)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 8);
    if (s[0] < '0' || s[0] > '7' || *end || errno)
        return "is not an octal mode such as 0660";
    if (v & ~0777ul)
        return "has bits beyond 0777 (setuid, setgid and sticky mean nothing on a socket)";
    if ((v & 0600) != 0600)
        return "locks out the socket's owner: processes of the sidecar's uid register through it "
               "too, so the owner keeps read and write (06xx)";
    *mode = (mode_t)v;
    return NULL;
}

const char *sc_parse_group(const char *s, gid_t *gid)
{
    if (s[0] && strspn(s, "0123456789") == strlen(s)) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || v >= (gid_t)-1)   /* (gid_t)-1 means "no change" to chown */
            return "is not a gid (a number below 4294967295)";
        *gid = (gid_t)v;
        return NULL;
    }
    struct group gr, *found = NULL;
    char buf[16384];
    int r = getgrnam_r(s, &gr, buf, sizeof buf, &found);
    if (r == 0 && found) {
        *gid = gr.gr_gid;
        return NULL;
    }
    if (r == ERANGE)
        return "has a group database entry too large to read; give its gid instead";
    return "is not a group here (not in the group database, nor a number): give a group name or a gid";
}

static void k_socket_mode(ycx *x, yaml_node_t *v, void *t)
{
    char buf[32];
    const char *s = text(x, v, buf, sizeof buf);
    const char *why = s ? sc_parse_socket_mode(s, &((sc_config *)t)->socket_mode) : NULL;
    if (why)
        yerr(x, v, "'%s' %s", s, why);
}

static void k_socket_group(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    char buf[sizeof c->socket_group];
    const char *s = text(x, v, buf, sizeof buf);
    if (!s)
        return;
    const char *why = sc_parse_group(s, &c->socket_gid);
    if (why)
        yerr(x, v, "'%s' %s", s, why);
    else
        memcpy(c->socket_group, s, strlen(s) + 1);
}

static void k_gids(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    if (v->type != YAML_SEQUENCE_NODE) {
        yerr(x, v, "expected a list of gids or group names, e.g. [4242]");
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        if (c->n_allow_gids >= SC_MAX_ALLOW_GIDS) {
            yerr(x, v, "at most %d groups", SC_MAX_ALLOW_GIDS);
            return;
        }
        char buf[64];
        const char *s = text(x, node(x, *it), buf, sizeof buf);
        const char *why = s ? sc_parse_group(s, &c->allow_gids[c->n_allow_gids]) : NULL;
        if (why)
            yerr(x, node(x, *it), "'%s' %s", s, why);
        else if (s)
            c->n_allow_gids++;
    }
}

/* ------------------------------------------------------------- top */

static void k_socket(ycx *x, yaml_node_t *v, void *t) { get_str(x, v, ((sc_config *)t)->socket_path, sizeof ((sc_config *)t)->socket_path); }
static void k_ring(ycx *x, yaml_node_t *v, void *t)
{
    uint32_t r = 0;
    get_u32(x, v, RS__MIN_RING_BYTES, 1u << 30, &r);
    if (r & (r - 1))
        yerr(x, v, "%u is not a power of two (e.g. 8388608)", r);
    else if (r)
        ((sc_config *)t)->ring_bytes = r;
}
U32_KEY(k_inflight, max_inflight, 1, 1u << 20)
U32_KEY(k_grace, grace_ms, 0, 3600000)
U32_KEY(k_spin, spin_us, 0, 1000000)
static void k_prefault(ycx *x, yaml_node_t *v, void *t) { get_bool(x, v, &((sc_config *)t)->prefault); }
U32_KEY(k_max_tokens, default_max_tokens, 1, 10000000)
static void k_maxresp(ycx *x, yaml_node_t *v, void *t)
{
    uint32_t m = 0;
    get_u32(x, v, 1024, UINT32_MAX, &m);
    if (m)
        ((sc_config *)t)->max_response_bytes = m;
}
static void k_log(ycx *x, yaml_node_t *v, void *t)
{
    char buf[16];
    const char *s = text(x, v, buf, sizeof buf);
    static const char *levels[] = { "debug", "info", "warn", "error" };
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, levels[i]) == 0) {
            ((sc_config *)t)->log_level = i;
            return;
        }
    if (s)
        yerr(x, v, "'%s' is not one of debug, info, warn, error", s);
}
int sc_io_backend_parse(const char *s)
{
    static const char *const names[] = { [SC_IO_AUTO] = "auto", [SC_IO_URING] = "io_uring",
                                          [SC_IO_EPOLL] = "epoll" };
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static void k_io(ycx *x, yaml_node_t *v, void *t)
{
    char buf[16];
    const char *s = text(x, v, buf, sizeof buf);
    int b = s ? sc_io_backend_parse(s) : -1;
    if (b >= 0)
        ((sc_config *)t)->io_backend = b;
    else if (s)
        yerr(x, v, "'%s' is not one of auto, io_uring, epoll", s);
}
static void k_uids(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    if (v->type == YAML_SCALAR_NODE && strcmp((const char *)v->data.scalar.value, "any") == 0) {
        c->allow_any_uid = true;
        return;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        yerr(x, v, "expected a list of uids, or 'any'");
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        if (c->n_allow_uids >= SC_MAX_ALLOW_UIDS - 2) {
            yerr(x, v, "at most %d uids", SC_MAX_ALLOW_UIDS - 2);
            return;
        }
        uint32_t u = 0;
        get_u32(x, node(x, *it), 0, UINT32_MAX - 1, &u);
        c->allow_uids[c->n_allow_uids++] = (uid_t)u;
    }
}

static const key_spec top_keys[] = {
    { "socket", k_socket }, { "socket_mode", k_socket_mode }, { "socket_group", k_socket_group },
    { "allow_uids", k_uids }, { "allow_gids", k_gids }, { "ring_bytes", k_ring },
    { "max_inflight", k_inflight }, { "grace_ms", k_grace }, { "spin_us", k_spin },
    { "prefault", k_prefault },
    { "log_level", k_log }, { "io_backend", k_io }, { "admin", k_admin }, { "timeline", k_timeline }, { "max_response_bytes", k_maxresp },
    { "default_max_tokens", k_max_tokens }, { "timeouts", k_timeouts },
    { "limits", k_limits }, { "priorities", k_priorities }, { "retries", k_retries },
    { "breaker", k_breaker }, { "shedding", k_shedding }, { "emergency", k_emergency }, { "latency", k_latency }, { "routes", k_routes },
    { 0, 0 },
};

/* Load the document from an initialised parser (input already set), walk
 * it, and free the parser. The file and buffer entry points share it, so
 * both report exactly the same problems. */
static int apply_parser(sc_config *cfg, const char *name, yaml_parser_t *parser, char *err, size_t errlen)
{
    ycx x = { .file = name, .err = err, .errlen = errlen };
    if (!yaml_parser_load(parser, &x.doc)) {
        x.nerr++;
        snprintf(err, errlen, "%s:%zu: not valid YAML: %s%s%s\n", name, parser->problem_mark.line + 1,
                 parser->problem ? parser->problem : "parse error",
                 parser->context ? " " : "", parser->context ? parser->context : "");
        yaml_parser_delete(parser);
        return x.nerr;
    }
    yaml_node_t *root = yaml_document_get_root_node(&x.doc);
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        walk_map(&x, root, top_keys, cfg);
    yaml_document_delete(&x.doc);
    yaml_parser_delete(parser);
    return x.nerr;
}

int sc_config_apply_yaml(sc_config *cfg, const char *name, const void *buf, size_t len, char *err, size_t errlen)
{
    err[0] = 0;
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, buf, len);
    return apply_parser(cfg, name, &parser, err, errlen);
}

int sc_config_apply_file(sc_config *cfg, const char *path, char *err, size_t errlen)
{
    err[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        ycx x = { .file = path, .err = err, .errlen = errlen };
        yerr(&x, NULL, "cannot open: %s", strerror(errno));
        return x.nerr;
    }
    /* libyaml reads the file itself, as before the buffer entry point:
     * a read error stays a "not valid YAML" problem, and a huge or endless
     * file is never held in memory whole */
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int n = apply_parser(cfg, path, &parser, err, errlen);
    fclose(f);
    return n;
}
