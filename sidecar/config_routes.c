/*
 * config_routes.c — the `routes` section of the YAML file (config_yaml.h):
 * each route's keys, its defaults, and the checks across routes.
 */
#include "config_yaml.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

static void k_r_name(ycx *x, yaml_node_t *v, void *t) { cy_str(x, v, ((sc_route_cfg *)t)->name, sizeof ((sc_route_cfg *)t)->name); }
static void k_r_endpoint(ycx *x, yaml_node_t *v, void *t)
{
    sc_route_cfg *r = t;
    cy_str(x, v, r->endpoint, sizeof r->endpoint);
    if (r->endpoint[0] && strncmp(r->endpoint, "http://", 7) != 0 && strncmp(r->endpoint, "https://", 8) != 0)
        cy_err(x, v, "'%s' must start with http:// or https://", r->endpoint);
}
static void k_r_weight(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 0, 1000000, &((sc_route_cfg *)t)->weight); }
static void k_r_standby(ycx *x, yaml_node_t *v, void *t) { cy_bool(x, v, &((sc_route_cfg *)t)->standby); }
static void k_r_warm(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 0, 3600000, &((sc_route_cfg *)t)->keep_warm_ms); }
static void k_r_keyenv(ycx *x, yaml_node_t *v, void *t) { cy_str(x, v, ((sc_route_cfg *)t)->api_key_env, sizeof ((sc_route_cfg *)t)->api_key_env); }
static void k_r_http(ycx *x, yaml_node_t *v, void *t)
{
    static const char *const names[] = { [SC_HTTP_AUTO] = "auto", [SC_HTTP_1_1] = "1.1", [SC_HTTP_2] = "2" };
    char buf[16];
    const char *s = cy_text(x, v, buf, sizeof buf);
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            ((sc_route_cfg *)t)->http_version = i;
            return;
        }
    if (s)
        cy_err(x, v, "'%s' is not one of auto, 1.1, 2", s);
}
static void k_r_ca(ycx *x, yaml_node_t *v, void *t) { cy_str(x, v, ((sc_route_cfg *)t)->ca_file, sizeof ((sc_route_cfg *)t)->ca_file); }
static void k_r_models(ycx *x, yaml_node_t *v, void *t)
{
    sc_route_cfg *r = t;
    if (v->type != YAML_MAPPING_NODE) {
        cy_err(x, v, "expected a mapping of client model name: upstream model name");
        return;
    }
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        if (r->nmodels == SC_MAX_MODELS) {
            cy_err(x, v, "at most %d model mappings", SC_MAX_MODELS);
            return;
        }
        cy_str(x, cy_node(x, p->key), r->model_from[r->nmodels], sizeof r->model_from[0]);
        cy_str(x, cy_node(x, p->value), r->model_to[r->nmodels], sizeof r->model_to[0]);
        r->nmodels++;
    }
}
static void k_r_timeouts(ycx *x, yaml_node_t *v, void *t)
{
    sc_route_cfg *r = t;
    cy_timeouts tt = { &r->connect_timeout_ms, &r->first_content_timeout_ms, &r->idle_timeout_ms, &r->total_timeout_ms };
    cy_walk(x, v, cy_timeout_keys, &tt);
}
static void k_r_limits(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, cy_limit_keys, &((sc_route_cfg *)t)->limit); }
static void k_c_initial(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 100000, &((sc_route_cfg *)t)->conc_initial); }
static void k_c_min(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 100000, &((sc_route_cfg *)t)->conc_min); }
static void k_c_max(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 100000, &((sc_route_cfg *)t)->conc_max); }
static void k_c_pw(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 0, 3600000, &((sc_route_cfg *)t)->probe_wait_ms); }
static void k_c_pwm(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 0, 3600000, &((sc_route_cfg *)t)->probe_wait_max_ms); }
static const cy_key conc_keys[] = {
    { "initial", k_c_initial }, { "min", k_c_min }, { "max", k_c_max }, { "probe_wait_ms", k_c_pw },
    { "probe_wait_max_ms", k_c_pwm }, { 0, 0 },
};
static void k_r_conc(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, conc_keys, t); }
static void k_cond_status(ycx *x, yaml_node_t *v, void *t)
{
    sc_route_cfg *r = t;
    cy_status_list(x, v, r->cond_status, &r->n_cond_status);
}
static void k_cond_latency(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 3600000, &((sc_route_cfg *)t)->cond_latency_gt_ms); }
static const cy_key cond_keys[] = {
    { "http_status", k_cond_status }, { "latency_gt", k_cond_latency }, { 0, 0 },
};
static void k_r_conditions(ycx *x, yaml_node_t *v, void *t)
{
    if (v->type != YAML_SEQUENCE_NODE) {
        cy_err(x, v, "expected a list, e.g. [{http_status: [502, 503]}, {latency_gt: 2000}]");
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
        cy_walk(x, cy_node(x, *it), cond_keys, t);
}
static const cy_key route_keys[] = {
    { "name", k_r_name }, { "endpoint", k_r_endpoint }, { "weight", k_r_weight },
    { "api_key_env", k_r_keyenv }, { "models", k_r_models }, { "timeouts", k_r_timeouts },
    { "limits", k_r_limits }, { "concurrency", k_r_conc }, { "conditions", k_r_conditions },
    { "standby", k_r_standby }, { "keep_warm_ms", k_r_warm }, { "http_version", k_r_http },
    { "ca_file", k_r_ca }, { 0, 0 },
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

void cy_routes(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    if (v->type != YAML_SEQUENCE_NODE) {
        cy_err(x, v, "expected a list of routes");
        return;
    }
    c->nroutes = 0;
    size_t base = strlen(x->key);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        if (c->nroutes == SC_MAX_ROUTES) {
            cy_err(x, v, "at most %d routes", SC_MAX_ROUTES);
            return;
        }
        sc_route_cfg *r = &c->routes[c->nroutes];
        sc_route_cfg_init(r, c);
        snprintf(x->key + base, sizeof x->key - base, "[%u]", c->nroutes);
        yaml_node_t *rn = cy_node(x, *it);
        cy_walk(x, rn, route_keys, r);
        if (!r->name[0])
            cy_err(x, rn, "a route needs a name");
        if (!r->endpoint[0])
            cy_err(x, rn, "a route needs an endpoint (base URL)");
        if (strcmp(r->name, "echo") == 0)
            cy_err(x, rn, "'echo' is the sidecar's built-in route; pick another name");
        for (unsigned k = 0; k < c->nroutes; k++)
            if (strcmp(c->routes[k].name, r->name) == 0)
                cy_err(x, rn, "route name '%s' is used twice", r->name);
        /* libcurl before 8.0.0 sets a second HTTP/2 layer on an h2c
         * connection it reuses: every request after the first fails
         * ("Error in the HTTP2 framing layer", curl issue #10634) */
        if (r->http_version == SC_HTTP_2 && strncmp(r->endpoint, "http://", 7) == 0 &&
            curl_version_info(CURLVERSION_NOW)->version_num < 0x080000)
            cy_err(x, rn, "http_version 2 over http:// (h2c) needs libcurl 8.0.0 or later, and this is %s "
                   "(curl issue #10634 breaks reused h2c connections): use https://, where HTTP/2 is "
                   "negotiated, or http_version 1.1", curl_version_info(CURLVERSION_NOW)->version);
        if (r->conc_min > r->conc_max)
            cy_err(x, rn, "concurrency.min (%u) is above concurrency.max (%u)", r->conc_min, r->conc_max);
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
        cy_err(x, v, "every route is a standby: at least one must take traffic outside emergency mode");
}

