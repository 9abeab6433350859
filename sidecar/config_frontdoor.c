/*
 * config_frontdoor.c — the `front_door` section of the YAML file
 * (config_yaml.h): the HTTP listener's limits, its virtual keys and the
 * batch endpoint. Route names a key lists are checked against the routes
 * once the whole file is read (config.c).
 */
#include "config_yaml.h"

#include <stdio.h>
#include <string.h>

void sc_vkey_cfg_init(sc_vkey_cfg *k)
{
    memset(k, 0, sizeof *k);
    k->priority = 1;
}

bool sc_vkey_allows(const sc_vkey_cfg *k, const char *route)
{
    if (!k->nroutes)
        return true;
    for (unsigned i = 0; i < k->nroutes; i++)
        if (strcmp(k->routes[i], route) == 0)
            return true;
    return false;
}

static void k_k_name(ycx *x, yaml_node_t *v, void *t) { cy_str(x, v, ((sc_vkey_cfg *)t)->name, sizeof ((sc_vkey_cfg *)t)->name); }
static void k_k_env(ycx *x, yaml_node_t *v, void *t) { cy_str(x, v, ((sc_vkey_cfg *)t)->key_env, sizeof ((sc_vkey_cfg *)t)->key_env); }
static void k_k_sha(ycx *x, yaml_node_t *v, void *t)
{
    sc_vkey_cfg *k = t;
    cy_str(x, v, k->key_sha256, sizeof k->key_sha256);
    size_t n = strspn(k->key_sha256, "0123456789abcdefABCDEF");
    if (n != 64 || k->key_sha256[n])
        cy_err(x, v, "expected 64 hex digits (sha256sum of the token, e.g. printf %%s \"$TOKEN\" | sha256sum)");
}
static void k_k_prio(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 0, 2, &((sc_vkey_cfg *)t)->priority); }
static void k_k_maxprio(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 0, 2, &((sc_vkey_cfg *)t)->max_priority); }
static void k_k_limits(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, cy_limit_keys, &((sc_vkey_cfg *)t)->limit); }
static void k_k_inflight(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 0, 1000000, &((sc_vkey_cfg *)t)->max_inflight); }
static void k_k_routes(ycx *x, yaml_node_t *v, void *t)
{
    sc_vkey_cfg *k = t;
    if (v->type != YAML_SEQUENCE_NODE) {
        cy_err(x, v, "expected a list of route names");
        return;
    }
    k->nroutes = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        if (k->nroutes == SC_MAX_VKEY_ROUTES) {
            cy_err(x, v, "at most %d routes", SC_MAX_VKEY_ROUTES);
            return;
        }
        cy_str(x, cy_node(x, *it), k->routes[k->nroutes], sizeof k->routes[0]);
        k->nroutes++;
    }
}
static const cy_key vkey_keys[] = {
    { "name", k_k_name }, { "key_env", k_k_env }, { "key_sha256", k_k_sha }, { "priority", k_k_prio },
    { "max_priority", k_k_maxprio }, { "limits", k_k_limits }, { "max_inflight", k_k_inflight },
    { "routes", k_k_routes }, { 0, 0 },
};

static void check_vkey(ycx *x, yaml_node_t *n, const sc_vkey_cfg *k, bool anonymous)
{
    if (k->max_priority > k->priority)
        cy_err(x, n, "max_priority (%u) is a lower class than priority (%u): P0 is the highest", k->max_priority,
               k->priority);
    if (anonymous)
        return;
    if (!k->name[0])
        cy_err(x, n, "a key needs a name");
    if (strcmp(k->name, "anonymous") == 0)
        cy_err(x, n, "'anonymous' is the name of callers without a key; pick another");
    if (!k->key_env[0] == !k->key_sha256[0])
        cy_err(x, n, "give the token's variable (key_env) or its hash (key_sha256), one of them");
}

static void k_d_keys(ycx *x, yaml_node_t *v, void *t)
{
    sc_front_door_cfg *d = t;
    if (v->type != YAML_SEQUENCE_NODE) {
        cy_err(x, v, "expected a list of virtual keys");
        return;
    }
    d->nkeys = 0;
    size_t base = strlen(x->key);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        if (d->nkeys == SC_MAX_VKEYS) {
            cy_err(x, v, "at most %d keys", SC_MAX_VKEYS);
            return;
        }
        sc_vkey_cfg *k = &d->keys[d->nkeys];
        sc_vkey_cfg_init(k);
        snprintf(x->key + base, sizeof x->key - base, "[%u]", d->nkeys);
        yaml_node_t *kn = cy_node(x, *it);
        cy_walk(x, kn, vkey_keys, k);
        check_vkey(x, kn, k, false);
        for (unsigned j = 0; j < d->nkeys; j++)
            if (strcmp(d->keys[j].name, k->name) == 0)
                cy_err(x, kn, "key name '%s' is used twice", k->name);
        x->key[base] = 0;
        d->nkeys++;
    }
}

static void k_d_listen(ycx *x, yaml_node_t *v, void *t)
{
    sc_front_door_cfg *d = t;
    cy_str(x, v, d->listen, sizeof d->listen);
    d->listen_default = false;
}
static void k_d_anon(ycx *x, yaml_node_t *v, void *t)
{
    /* true, false, or the anonymous caller's settings (a mapping: on) */
    sc_front_door_cfg *d = t;
    if (v->type == YAML_MAPPING_NODE) {
        cy_walk(x, v, vkey_keys + 3, &d->anon);   /* not name or key: priority onwards */
        check_vkey(x, v, &d->anon, true);
        d->anonymous = true;
    } else {
        cy_bool(x, v, &d->anonymous);
    }
}
static void k_d_conn(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 1000000, &((sc_front_door_cfg *)t)->max_connections); }
static void k_d_head(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 4096, 1u << 20, &((sc_front_door_cfg *)t)->max_header_bytes); }
static void k_d_body(ycx *x, yaml_node_t *v, void *t)
{
    uint32_t n = 0;
    cy_u32(x, v, 1024, 1u << 30, &n);
    ((sc_front_door_cfg *)t)->max_body_bytes = n;
}
static void k_d_htmo(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 100, 3600000, &((sc_front_door_cfg *)t)->header_timeout_ms); }
static void k_d_btmo(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 100, 3600000, &((sc_front_door_cfg *)t)->body_timeout_ms); }
static void k_d_itmo(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1000, 3600000, &((sc_front_door_cfg *)t)->idle_timeout_ms); }

static void k_b_template(ycx *x, yaml_node_t *v, void *t)
{
    sc_front_door_cfg *d = t;
    cy_str(x, v, d->batch_template, sizeof d->batch_template);
    if (!strstr(d->batch_template, "{{query}}"))
        cy_err(x, v, "the template never uses {{query}}");
}
static void k_b_prio(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 0, 2, &((sc_front_door_cfg *)t)->batch_priority); }
static void k_b_items(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 100000, &((sc_front_door_cfg *)t)->batch_max_items); }
static void k_b_conc(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 4096, &((sc_front_door_cfg *)t)->batch_concurrency); }
static void k_b_keep(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1000, 604800000, &((sc_front_door_cfg *)t)->batch_keep_ms); }
static void k_b_kept(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 100000, &((sc_front_door_cfg *)t)->batch_max_kept); }
static const cy_key batch_keys[] = {
    { "template", k_b_template }, { "priority", k_b_prio }, { "max_items", k_b_items },
    { "concurrency", k_b_conc }, { "keep_ms", k_b_keep }, { "max_kept", k_b_kept }, { 0, 0 },
};
static void k_d_batch(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, batch_keys, t); }

static const cy_key door_keys[] = {
    { "listen", k_d_listen }, { "anonymous", k_d_anon }, { "max_connections", k_d_conn },
    { "max_header_bytes", k_d_head }, { "max_body_bytes", k_d_body }, { "header_timeout_ms", k_d_htmo },
    { "body_timeout_ms", k_d_btmo }, { "idle_timeout_ms", k_d_itmo }, { "keys", k_d_keys },
    { "batch", k_d_batch }, { 0, 0 },
};
void cy_front_door(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, door_keys, &((sc_config *)t)->door); }
