/*
 * config_file.c — the YAML configuration file, read with libyaml: the
 * document, its top-level keys and the smaller sections (config_routes.c
 * and config_ops.c have theirs; config_yaml.c reads the values).
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
#include "config_yaml.h"
#include "record.h"

#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ------------------------------------------------------------ limits */


static void k_limits_global(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, cy_limit_keys, &((sc_config *)t)->global_limit); }
static void k_limits_client(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, cy_limit_keys, &((sc_config *)t)->client_limit); }
static const cy_key limits_keys[] = {
    { "global", k_limits_global }, { "per_client", k_limits_client }, { 0, 0 },
};
static void k_limits(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, limits_keys, t); }

/* -------------------------------------------------------- priorities */

static void k_p0(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 10000000, &((uint32_t *)t)[0]); }
static void k_p1(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 10000000, &((uint32_t *)t)[1]); }
static void k_p2(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 10000000, &((uint32_t *)t)[2]); }
static const cy_key per_prio_keys[] = { { "p0", k_p0 }, { "p1", k_p1 }, { "p2", k_p2 }, { 0, 0 } };
static void k_queue(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, per_prio_keys, ((sc_config *)t)->queue_max); }
static void k_deadline(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, per_prio_keys, ((sc_config *)t)->deadline_ms); }
static void k_w_p1(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 1000, &((sc_config *)t)->weight_p1); }
static void k_w_p2(ycx *x, yaml_node_t *v, void *t) { cy_u32(x, v, 1, 1000, &((sc_config *)t)->weight_p2); }
static const cy_key weight_keys[] = { { "p1", k_w_p1 }, { "p2", k_w_p2 }, { 0, 0 } };
static void k_weights(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, weight_keys, t); }
CY_U32_KEY(k_aging, aging_ms, 0, 86400000)
static void k_reserved(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 0, 0.9, &((sc_config *)t)->p0_reserved); }
static const cy_key prio_keys[] = {
    { "p0_reserved", k_reserved }, { "weights", k_weights }, { "aging_ms", k_aging },
    { "queue", k_queue }, { "deadline_ms", k_deadline }, { 0, 0 },
};
static void k_priorities(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, prio_keys, t); }

/* ------------------------------------------------------------ retries */

CY_U32_KEY(k_attempts, retry_attempts, 1, 20)
CY_U32_KEY(k_initial, retry_initial_ms, 1, 3600000)
CY_U32_KEY(k_cap, retry_cap_ms, 1, 3600000)
static void k_factor(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 1, 10, &((sc_config *)t)->retry_factor); }
static void k_on_status(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    cy_status_list(x, v, c->retry_status, &c->n_retry_status);
    static const uint32_t never[] = { 400, 401, 402, 403, 404, 422 };
    for (uint32_t i = 0; i < c->n_retry_status; i++)
        for (unsigned k = 0; k < sizeof never / sizeof never[0]; k++)
            if (c->retry_status[i] == never[k])
                cy_err(x, v, "%u is never retried: the same request would fail the same way", never[k]);
}
static void k_b_ratio(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 0, 10, &((sc_config *)t)->budget_ratio); }
CY_U32_KEY(k_b_min, budget_min, 0, 1000000)
CY_U32_KEY(k_b_window, budget_window_ms, 100, 3600000)
static const cy_key budget_keys[] = {
    { "ratio", k_b_ratio }, { "min", k_b_min }, { "window_ms", k_b_window }, { 0, 0 },
};
static void k_budget(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, budget_keys, t); }
static const cy_key retry_keys[] = {
    { "attempts", k_attempts }, { "initial_ms", k_initial }, { "factor", k_factor },
    { "cap_ms", k_cap }, { "on_status", k_on_status }, { "budget", k_budget }, { 0, 0 },
};
static void k_retries(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, retry_keys, t); }

/* ------------------------------------------------- breaker, shedding */

CY_U32_KEY(k_br_failures, breaker_failures, 1, 1000)
CY_U32_KEY(k_br_slow, breaker_slow, 1, 1000)
CY_U32_KEY(k_br_cooldown, breaker_cooldown_ms, 1, 3600000)
CY_U32_KEY(k_br_probes, breaker_probes, 1, 1000)
CY_U32_KEY(k_br_max_cooldown, breaker_max_cooldown_ms, 1, 3600000)
static void k_br_rate(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 0, 1, &((sc_config *)t)->breaker_failure_rate); }
CY_U32_KEY(k_br_min, breaker_min_requests, 1, 1000000)
CY_U32_KEY(k_br_window, breaker_window_ms, 100, 3600000)
static void k_br_ejected(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 0, 1, &((sc_config *)t)->max_ejected); }
static const cy_key breaker_keys[] = {
    { "failures", k_br_failures }, { "slow", k_br_slow }, { "cooldown_ms", k_br_cooldown },
    { "max_cooldown_ms", k_br_max_cooldown }, { "failure_rate", k_br_rate }, { "min_requests", k_br_min },
    { "window_ms", k_br_window }, { "max_ejected", k_br_ejected }, { "half_open_probes", k_br_probes },
    { 0, 0 },
};
static void k_breaker(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, breaker_keys, t); }

static void k_sh_rate(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 0, 1, &((sc_config *)t)->shed_error_rate); }
static void k_sh_frac(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 0, 1, &((sc_config *)t)->shed_fraction); }
CY_U32_KEY(k_sh_window, shed_window_ms, 100, 3600000)
CY_U32_KEY(k_sh_min, shed_min_samples, 1, 1000000)
static const cy_key shed_keys[] = {
    { "error_rate", k_sh_rate }, { "fraction", k_sh_frac }, { "window_ms", k_sh_window },
    { "min_samples", k_sh_min }, { 0, 0 },
};
static void k_shedding(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, shed_keys, t); }


static void k_l_alpha(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 0.001, 1, &((sc_config *)t)->latency_alpha); }
static void k_l_recover(ycx *x, yaml_node_t *v, void *t) { cy_double(x, v, 0.01, 1, &((sc_config *)t)->latency_recover); }
CY_U32_KEY(k_l_probe, latency_probe_ms, 1, 3600000)
static const cy_key latency_keys[] = {
    { "alpha", k_l_alpha }, { "recover", k_l_recover }, { "probe_ms", k_l_probe }, { 0, 0 },
};
static void k_latency(ycx *x, yaml_node_t *v, void *t) { cy_walk(x, v, latency_keys, t); }

/* ------------------------------------------------------------ timeouts */

static void k_timeouts(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    cy_timeouts tt = { &c->connect_timeout_ms, &c->first_content_timeout_ms, &c->idle_timeout_ms, &c->total_timeout_ms };
    cy_walk(x, v, cy_timeout_keys, &tt);
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
    const char *s = cy_text(x, v, buf, sizeof buf);
    const char *why = s ? sc_parse_socket_mode(s, &((sc_config *)t)->socket_mode) : NULL;
    if (why)
        cy_err(x, v, "'%s' %s", s, why);
}

static void k_socket_group(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    char buf[sizeof c->socket_group];
    const char *s = cy_text(x, v, buf, sizeof buf);
    if (!s)
        return;
    const char *why = sc_parse_group(s, &c->socket_gid);
    if (why)
        cy_err(x, v, "'%s' %s", s, why);
    else
        memcpy(c->socket_group, s, strlen(s) + 1);
}

static void k_gids(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    if (v->type != YAML_SEQUENCE_NODE) {
        cy_err(x, v, "expected a list of gids or group names, e.g. [4242]");
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        if (c->n_allow_gids >= SC_MAX_ALLOW_GIDS) {
            cy_err(x, v, "at most %d groups", SC_MAX_ALLOW_GIDS);
            return;
        }
        char buf[64];
        const char *s = cy_text(x, cy_node(x, *it), buf, sizeof buf);
        const char *why = s ? sc_parse_group(s, &c->allow_gids[c->n_allow_gids]) : NULL;
        if (why)
            cy_err(x, cy_node(x, *it), "'%s' %s", s, why);
        else if (s)
            c->n_allow_gids++;
    }
}

/* ------------------------------------------------------------- top */

static void k_socket(ycx *x, yaml_node_t *v, void *t) { cy_str(x, v, ((sc_config *)t)->socket_path, sizeof ((sc_config *)t)->socket_path); }
static void k_ring(ycx *x, yaml_node_t *v, void *t)
{
    uint32_t r = 0;
    cy_u32(x, v, RS__MIN_RING_BYTES, 1u << 30, &r);
    if (r & (r - 1))
        cy_err(x, v, "%u is not a power of two (e.g. 8388608)", r);
    else if (r)
        ((sc_config *)t)->ring_bytes = r;
}
CY_U32_KEY(k_inflight, max_inflight, 1, 1u << 20)
CY_U32_KEY(k_grace, grace_ms, 0, 3600000)
CY_U32_KEY(k_spin, spin_us, 0, 1000000)
static void k_prefault(ycx *x, yaml_node_t *v, void *t) { cy_bool(x, v, &((sc_config *)t)->prefault); }
CY_U32_KEY(k_max_tokens, default_max_tokens, 1, 10000000)
static void k_maxresp(ycx *x, yaml_node_t *v, void *t)
{
    uint32_t m = 0;
    cy_u32(x, v, 1024, UINT32_MAX, &m);
    if (m)
        ((sc_config *)t)->max_response_bytes = m;
}
static void k_log(ycx *x, yaml_node_t *v, void *t)
{
    char buf[16];
    const char *s = cy_text(x, v, buf, sizeof buf);
    static const char *levels[] = { "debug", "info", "warn", "error" };
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, levels[i]) == 0) {
            ((sc_config *)t)->log_level = i;
            return;
        }
    if (s)
        cy_err(x, v, "'%s' is not one of debug, info, warn, error", s);
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
    const char *s = cy_text(x, v, buf, sizeof buf);
    int b = s ? sc_io_backend_parse(s) : -1;
    if (b >= 0)
        ((sc_config *)t)->io_backend = b;
    else if (s)
        cy_err(x, v, "'%s' is not one of auto, io_uring, epoll", s);
}
static void k_uids(ycx *x, yaml_node_t *v, void *t)
{
    sc_config *c = t;
    if (v->type == YAML_SCALAR_NODE && strcmp((const char *)v->data.scalar.value, "any") == 0) {
        c->allow_any_uid = true;
        return;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        cy_err(x, v, "expected a list of uids, or 'any'");
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        if (c->n_allow_uids >= SC_MAX_ALLOW_UIDS - 2) {
            cy_err(x, v, "at most %d uids", SC_MAX_ALLOW_UIDS - 2);
            return;
        }
        uint32_t u = 0;
        cy_u32(x, cy_node(x, *it), 0, UINT32_MAX - 1, &u);
        c->allow_uids[c->n_allow_uids++] = (uid_t)u;
    }
}

static const cy_key top_keys[] = {
    { "socket", k_socket }, { "socket_mode", k_socket_mode }, { "socket_group", k_socket_group },
    { "allow_uids", k_uids }, { "allow_gids", k_gids }, { "ring_bytes", k_ring },
    { "max_inflight", k_inflight }, { "grace_ms", k_grace }, { "spin_us", k_spin },
    { "prefault", k_prefault },
    { "log_level", k_log }, { "io_backend", k_io }, { "admin", cy_admin }, { "timeline", cy_timeline }, { "max_response_bytes", k_maxresp },
    { "default_max_tokens", k_max_tokens }, { "timeouts", k_timeouts },
    { "limits", k_limits }, { "priorities", k_priorities }, { "retries", k_retries },
    { "breaker", k_breaker }, { "shedding", k_shedding }, { "emergency", cy_emergency }, { "alerts", cy_alerts }, { "access_log", cy_access_log }, { "latency", k_latency }, { "routes", cy_routes },
    { "front_door", cy_front_door },
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
        cy_walk(&x, root, top_keys, cfg);
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
        cy_err(&x, NULL, "cannot open: %s", strerror(errno));
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

int sc_parse_hostport(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof host || !colon[1])
        return -1;
    size_t hl = (size_t)(colon - spec);
    if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {   /* [::1]:9464 */
        memcpy(host, spec + 1, hl - 2);
        host[hl - 2] = 0;
    } else {
        memcpy(host, spec, hl);
        host[hl] = 0;
    }
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}
