/*
 * config_yaml.c — reading values from the YAML document (config_yaml.h):
 * scalars with ${VAR} substitution and range checks, key tables, and the
 * two tables both the global and the per-route settings use.
 */
#include "config_yaml.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cy_err(ycx *x, const yaml_node_t *n, const char *fmt, ...)
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

yaml_node_t *cy_node(ycx *x, int idx)
{
    return yaml_document_get_node(&x->doc, idx);
}

/* The scalar's text with ${VAR} / ${VAR:-default} substituted, in buf. */
const char *cy_text(ycx *x, yaml_node_t *n, char *buf, size_t len)
{
    if (n->type != YAML_SCALAR_NODE) {
        cy_err(x, n, "expected a single value, found a %s",
             n->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return NULL;
    }
    const char *s = (const char *)n->data.scalar.value;
    size_t o = 0;
    while (*s) {
        if (s[0] == '$' && s[1] == '{') {
            const char *end = strchr(s, '}');
            if (!end) {
                cy_err(x, n, "unterminated ${ in '%s'", (const char *)n->data.scalar.value);
                return NULL;
            }
            char name[128];
            size_t nl = (size_t)(end - s - 2);
            if (nl >= sizeof name) {
                cy_err(x, n, "variable name too long");
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
                cy_err(x, n, "environment variable %s is not set (use ${%s:-default} for a fallback)", name, name);
                return NULL;
            }
            size_t vl = strlen(v);
            if (o + vl >= len) {
                cy_err(x, n, "value longer than %zu bytes", len - 1);
                return NULL;
            }
            memcpy(buf + o, v, vl);
            o += vl;
            s = end + 1;
        } else {
            if (o + 1 >= len) {
                cy_err(x, n, "value longer than %zu bytes", len - 1);
                return NULL;
            }
            buf[o++] = *s++;
        }
    }
    buf[o] = 0;
    return buf;
}

void cy_str(ycx *x, yaml_node_t *n, char *dst, size_t len)
{
    char buf[1024];
    const char *t = cy_text(x, n, buf, sizeof buf);
    if (!t)
        return;
    if (strlen(t) >= len) {
        cy_err(x, n, "longer than %zu characters", len - 1);
        return;
    }
    memcpy(dst, t, strlen(t) + 1);
}

void cy_u32(ycx *x, yaml_node_t *n, uint32_t min, uint32_t max, uint32_t *dst)
{
    char buf[64];
    const char *t = cy_text(x, n, buf, sizeof buf);
    if (!t)
        return;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(t, &end, 10);
    if (!*t || *end || errno || t[0] == '-' || v < min || v > max) {
        cy_err(x, n, "'%s' is not a whole number from %u to %u", t, min, max);
        return;
    }
    *dst = (uint32_t)v;
}

void cy_bool(ycx *x, yaml_node_t *n, bool *dst)
{
    char buf[16];
    const char *t = cy_text(x, n, buf, sizeof buf);
    if (!t)
        return;
    if (strcmp(t, "true") == 0)
        *dst = true;
    else if (strcmp(t, "false") == 0)
        *dst = false;
    else
        cy_err(x, n, "'%s' is not true or false", t);
}

void cy_double(ycx *x, yaml_node_t *n, double min, double max, double *dst)
{
    char buf[64];
    const char *t = cy_text(x, n, buf, sizeof buf);
    if (!t)
        return;
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    if (!*t || *end || errno || !isfinite(v) || v < min || v > max) {
        cy_err(x, n, "'%s' is not a number from %g to %g", t, min, max);
        return;
    }
    *dst = v;
}

/* ---------------------------------------------------------- mappings */


/* Walk a mapping, dispatching each known key; unknown keys are errors. */
void cy_walk(ycx *x, yaml_node_t *map, const cy_key *keys, void *target)
{
    if (map->type != YAML_MAPPING_NODE) {
        cy_err(x, map, "expected a mapping of keys");
        return;
    }
    size_t base = strlen(x->key);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cy_node(x, p->key), *v = cy_node(x, p->value);
        const char *name = k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
        snprintf(x->key + base, sizeof x->key - base, "%s%s", base ? "." : "", name);
        const cy_key *ks = keys;
        while (ks->name && strcmp(ks->name, name) != 0)
            ks++;
        if (ks->name) {
            ks->fn(x, v, target);
        } else {
            char known[512] = "";
            for (const cy_key *q = keys; q->name; q++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", q == keys ? "" : ", ", q->name);
            cy_err(x, k, "unknown key (known here: %s)", known);
        }
        x->key[base] = 0;
    }
}

void cy_status_list(ycx *x, yaml_node_t *n, uint32_t *dst, uint32_t *count)
{
    if (n->type == YAML_SCALAR_NODE) {   /* a single status is fine too */
        *count = 0;
        cy_u32(x, n, 100, 599, &dst[(*count)++]);
        return;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        cy_err(x, n, "expected a list of HTTP status codes, e.g. [502, 503]");
        return;
    }
    *count = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        if (*count == SC_MAX_STATUS) {
            cy_err(x, n, "at most %d status codes", SC_MAX_STATUS);
            return;
        }
        cy_u32(x, cy_node(x, *it), 100, 599, &dst[(*count)++]);
    }
}

/* ---------------------------------------------------- limits, timeouts */

static void k_limit_rps(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 0.001, 1e7, &((sc_limit_cfg *)t)->rps); }
static void k_limit_burst(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 1, 1e7, &((sc_limit_cfg *)t)->burst); }
static void k_limit_tpm(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 1, 1e12, &((sc_limit_cfg *)t)->tpm); }
const cy_key cy_limit_keys[] = {
    { "rps", k_limit_rps }, { "burst", k_limit_burst }, { "tpm", k_limit_tpm }, { 0, 0 },
};

static void k_t_connect(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 3600000, ((cy_timeouts *)t)->connect); }
/* 0 turns these two off */
static void k_t_first(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 0, 3600000, ((cy_timeouts *)t)->first); }
static void k_t_idle(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 0, 3600000, ((cy_timeouts *)t)->idle); }
static void k_t_total(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 86400000, ((cy_timeouts *)t)->total); }
const cy_key cy_timeout_keys[] = {
    { "connect_ms", k_t_connect }, { "first_content_ms", k_t_first }, { "idle_ms", k_t_idle },
    { "total_ms", k_t_total }, { 0, 0 },
};
