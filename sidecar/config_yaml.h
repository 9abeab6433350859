/*
 * config_yaml.h — the reading of the YAML file, shared by the files that
 * know its sections: config_file.c (the walk and the top-level keys),
 * config_routes.c (routes), config_ops.c (admin, timeline, emergency,
 * alerts). Each mapping is a table of the keys it knows (cy_key); every
 * problem goes to cy_err as "FILE:LINE: key.path: what is wrong".
 */
#ifndef SC_CONFIG_YAML_H
#define SC_CONFIG_YAML_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

typedef struct ycx {
    yaml_document_t doc;
    const char *file;
    char *err;
    size_t errlen, used;
    int nerr;
    char key[160];     /* dotted path of the key being read, for messages */
} ycx;

void cy_err(ycx *x, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
yaml_node_t *cy_node(ycx *x, int idx);
/* The scalar's text with ${VAR} / ${VAR:-default} substituted, in buf
 * (NULL after reporting why not). */
const char *cy_text(ycx *x, yaml_node_t *n, char *buf, size_t len);
void cy_str(ycx *x, yaml_node_t *n, char *dst, size_t len);
void cy_u32(ycx *x, yaml_node_t *n, uint32_t min, uint32_t max, uint32_t *dst);
void cy_bool(ycx *x, yaml_node_t *n, bool *dst);
void cy_double(ycx *x, yaml_node_t *n, double min, double max, double *dst);
void cy_status_list(ycx *x, yaml_node_t *n, uint32_t *dst, uint32_t *count);

typedef void (*cy_key_fn)(ycx *x, yaml_node_t *value, void *target);
typedef struct cy_key {
    const char *name;
    cy_key_fn fn;
} cy_key;

/* Walk a mapping, dispatching each known key; unknown keys are errors. */
void cy_walk(ycx *x, yaml_node_t *map, const cy_key *keys, void *target);

/* A key holding a whole number of sc_config's field, within [lo, hi]. */
#define CY_U32_KEY(fname, field, lo, hi)                                   \
    static void fname(ycx *x, yaml_node_t *v, void *t)                    \
    {                                                                      \
        cy_u32(x, v, lo, hi, &((sc_config *)t)->field);                    \
    }

/* Shared by the global and the per-route settings. */
typedef struct cy_timeouts { uint32_t *connect, *first, *idle, *total; } cy_timeouts;
extern const cy_key cy_timeout_keys[];   /* target: a cy_timeouts */
extern const cy_key cy_limit_keys[];     /* target: an sc_limit_cfg */

/* The sections in files of their own (target: the sc_config). */
void cy_routes(ycx *x, yaml_node_t *v, void *t);
void cy_admin(ycx *x, yaml_node_t *v, void *t);
void cy_timeline(ycx *x, yaml_node_t *v, void *t);
void cy_emergency(ycx *x, yaml_node_t *v, void *t);
void cy_alerts(ycx *x, yaml_node_t *v, void *t);
void cy_access_log(ycx *x, yaml_node_t *v, void *t);
void cy_front_door(ycx *x, yaml_node_t *v, void *t);

#endif
