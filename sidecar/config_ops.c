/*
 * config_ops.c — the operations sections of the YAML file (config_yaml.h):
 * emergency mode, the admin listener, the incident timeline, alerts, the
 * access log.
 */
#include "config_yaml.h"

#include <stdio.h>
#include <string.h>

/* ----------------------------------------------------------- emergency */

static void k_em_frac(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 0, 1, &((sc_config *)t)->em_shed_fraction); }
static void k_em_rate(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 0, 1, &((sc_config *)t)->em_error_ratio); }
CY_U32_KEY(k_em_window, em_window_ms, 1000, 60000)
CY_U32_KEY(k_em_min, em_min_requests, 1, 1000000)
CY_U32_KEY(k_em_recover, em_recover_ms, 0, 3600000)
static void k_em_open(ycx *x, yaml_node_t *v, void *t) { cy_bool(x, v, &((sc_config *)t)->em_when_open); }
static const cy_key emergency_keys[] = {
    { "shed_fraction", k_em_frac }, { "error_ratio", k_em_rate }, { "window_ms", k_em_window },
    { "min_requests", k_em_min }, { "when_primaries_open", k_em_open }, { "recover_ms", k_em_recover },
    { 0, 0 },
};
void cy_emergency(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, emergency_keys, t); }

/* --------------------------------------------------------------- admin */

static void k_a_listen(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    cy_str(x, v, c->admin_listen, sizeof c->admin_listen);
    c->admin_listen_default = false;
}
static const cy_key admin_keys[] = { { "listen", k_a_listen }, { 0, 0 } };
void cy_admin(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, admin_keys, t); }

/* ------------------------------------------------------------ timeline */

static void k_tl_file(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    cy_str(x, v, c->timeline_file, sizeof c->timeline_file);
    c->timeline_file_default = false;
}
CY_U32_KEY(k_tl_keep, timeline_keep, 1, 1000000)
static const cy_key timeline_keys[] = { { "file", k_tl_file }, { "keep", k_tl_keep }, { 0, 0 } };
void cy_timeline(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, timeline_keys, t); }


/* -------------------------------------------------------------- alerts */

static const char *const metric_names[SC_AM_COUNT] = {
    [SC_AM_ERROR_RATIO] = "error_ratio", [SC_AM_MEAN_LATENCY_MS] = "mean_latency_ms",
    [SC_AM_ROUTES_OUT] = "routes_out", [SC_AM_SHEDDING] = "shedding", [SC_AM_EMERGENCY] = "emergency",
    [SC_AM_SATURATION] = "saturation",
};

const char *sc_alert_metric_name(int m)
{
    return m >= 0 && m < SC_AM_COUNT ? metric_names[m] : "?";
}

static void k_ar_name(ycx *x, yaml_node_t *v, void *t) { cy_str(x, v, ((sc_alert_rule_cfg *)t)->name, sizeof ((sc_alert_rule_cfg *)t)->name); }
static void k_ar_metric(ycx *x, yaml_node_t *v, void *t)
{
    char buf[32];
    const char *s = cy_text(x, v, buf, sizeof buf);
    for (int m = 0; s && m < SC_AM_COUNT; m++)
        if (strcmp(s, metric_names[m]) == 0) {
            ((sc_alert_rule_cfg *)t)->metric = m;
            return;
        }
    if (s)
        cy_err(x, v, "'%s' is not one of error_ratio, mean_latency_ms, routes_out, shedding, emergency, "
                     "saturation", s);
}
static void k_ar_above(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, -1e12, 1e12, &((sc_alert_rule_cfg *)t)->above); }
static void k_ar_for(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 0, 86400000, &((sc_alert_rule_cfg *)t)->for_ms); }
static void k_ar_window(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1000, 300000, &((sc_alert_rule_cfg *)t)->window_ms); }
static void k_ar_min(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 1000000, &((sc_alert_rule_cfg *)t)->min_answers); }
static void k_ar_sev(ycx *x, yaml_node_t *v, void *t) { cy_str(x, v, ((sc_alert_rule_cfg *)t)->severity, sizeof ((sc_alert_rule_cfg *)t)->severity); }
static const cy_key rule_keys[] = {
    { "name", k_ar_name }, { "metric", k_ar_metric }, { "above", k_ar_above }, { "for_ms", k_ar_for },
    { "window_ms", k_ar_window }, { "min_answers", k_ar_min }, { "severity", k_ar_sev }, { 0, 0 },
};

void sc_alert_rule_init(sc_alert_rule_cfg *r, const char *name, int metric, double above, uint32_t for_ms,
                        const char *severity)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->metric = metric;
    r->above = above;
    r->for_ms = for_ms;
    r->window_ms = 300000;
    r->min_answers = 20;
    snprintf(r->severity, sizeof r->severity, "%s", severity);
}

/* A list given replaces the default rules as a whole. */
static void k_al_rules(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    if (v->type != YAML_SEQUENCE_NODE) {
        cy_err(x, v, "expected a list of rules, e.g. [{name: X, metric: error_ratio, above: 0.05, for_ms: 300000}]");
        return;
    }
    c->n_alert_rules = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        if (c->n_alert_rules == SC_MAX_ALERT_RULES) {
            cy_err(x, v, "at most %d rules", SC_MAX_ALERT_RULES);
            return;
        }
        sc_alert_rule_cfg *r = &c->alert_rules[c->n_alert_rules];
        sc_alert_rule_init(r, "", SC_AM_COUNT, 0, 0, "warning");
        yaml_node_t *rn = cy_node(x, *it);
        cy_walk(x, rn, rule_keys, r);
        if (!r->name[0] || r->metric == SC_AM_COUNT)
            cy_err(x, rn, "a rule needs a name and a metric");
        c->n_alert_rules++;
    }
}
static void k_wh_url(ycx *x, yaml_node_t *v, void *t) { cy_str(x, v, ((sc_webhook_cfg *)t)->url, sizeof ((sc_webhook_cfg *)t)->url); }
static void k_wh_secret(ycx *x, yaml_node_t *v, void *t) { cy_str(x, v, ((sc_webhook_cfg *)t)->secret_env, sizeof ((sc_webhook_cfg *)t)->secret_env); }
static const cy_key webhook_keys[] = { { "url", k_wh_url }, { "secret_env", k_wh_secret }, { 0, 0 } };
static void k_al_webhooks(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    if (v->type != YAML_SEQUENCE_NODE) {
        cy_err(x, v, "expected a list, e.g. [{url: https://hooks.example/ringside, secret_env: HOOK_SECRET}]");
        return;
    }
    c->n_webhooks = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        if (c->n_webhooks == SC_MAX_WEBHOOKS) {
            cy_err(x, v, "at most %d webhooks", SC_MAX_WEBHOOKS);
            return;
        }
        sc_webhook_cfg *w = &c->webhooks[c->n_webhooks++];
        memset(w, 0, sizeof *w);
        yaml_node_t *wn = cy_node(x, *it);
        cy_walk(x, wn, webhook_keys, w);
        if (!w->url[0])
            cy_err(x, wn, "a webhook needs a url");
    }
}
static void k_al_am(ycx *x, yaml_node_t *v, void *t) { cy_str(x, v, ((sc_config *)t)->alertmanager, sizeof ((sc_config *)t)->alertmanager); }
static void k_dl_attempts(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 100, &((sc_config *)t)->notify_attempts); }
static void k_dl_backoff(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 10, 600000, &((sc_config *)t)->notify_backoff_ms); }
static const cy_key delivery_keys[] = { { "attempts", k_dl_attempts }, { "backoff_ms", k_dl_backoff }, { 0, 0 } };
static void k_al_delivery(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, delivery_keys, t); }
static const cy_key alert_keys[] = {
    { "rules", k_al_rules }, { "webhooks", k_al_webhooks }, { "alertmanager", k_al_am },
    { "delivery", k_al_delivery }, { 0, 0 },
};
void cy_alerts(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, alert_keys, t); }

/* ---------------------------------------------------------- access log */

static void k_ac_level(ycx *x, yaml_node_t *v, void *t)
{
    char buf[16];
    const char *s = cy_text(x, v, buf, sizeof buf);
    static const char *const levels[] = { [SC_ACCESS_OFF] = "off", [SC_ACCESS_ERRORS] = "errors",
                                          [SC_ACCESS_ALL] = "all" };
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, levels[i]) == 0) {
            ((sc_config *)t)->access_level = i;
            return;
        }
    if (s)
        cy_err(x, v, "'%s' is not one of off, errors, all", s);
}
static void k_ac_sample(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 0, 1, &((sc_config *)t)->access_sample); }
static void k_ac_file(ycx *x, yaml_node_t *v, void *t) { cy_str(x, v, ((sc_config *)t)->access_file, sizeof ((sc_config *)t)->access_file); }
static const cy_key access_keys[] = {
    { "level", k_ac_level }, { "sample", k_ac_sample }, { "file", k_ac_file }, { 0, 0 },
};
void cy_access_log(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, access_keys, t); }
