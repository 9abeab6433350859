/*
 * config_ops.c — the operations sections of the YAML file (config_yaml.h):
 * emergency mode, the admin listener, the incident timeline.
 */
#include "config_yaml.h"

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

