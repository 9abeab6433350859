/*
 * config.c — defaults, environment and flags (see config.h).
 */
#include "config.h"

#include "channel.h"
#include "record.h"
#include "secrets.h"
#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ringsided [options]\n"
        "  --config FILE            YAML configuration (env RINGSIDE_CONFIG); flags override it\n"
        "  --check-config FILE      validate FILE, print problems with their line, exit\n"
        "  --socket PATH            registration socket (env RINGSIDE_SOCKET; default\n"
        "                           /run/ringside/ringside.sock as root, else\n"
        "                           $XDG_RUNTIME_DIR/ringside.sock or /tmp/ringside-UID/)\n"
        "  --upstream URL           upstream base URL (env RINGSIDE_UPSTREAM; default\n"
        "                           " SC_DEEPSEEK_URL " when the API key is set,\n"
        "                           else the bundled mock at " SC_MOCK_DEFAULT_URL ")\n"
        "  --api-key-env NAME       env var with the upstream API key (default DEEPSEEK_API_KEY)\n"
        "  --ring-bytes N           size of each client ring, power of two (default 8388608)\n"
        "  --max-inflight N         outstanding requests per client (default 4096)\n"
        "  --timeout-ms N           upstream total timeout per attempt (default 300000)\n"
        "  --connect-timeout-ms N   upstream connect timeout (default 10000)\n"
        "  --max-response-bytes N   largest upstream response accepted (default 67108864)\n"
        "  --grace-ms N             SIGTERM drain period (default 10000)\n"
        "  --spin-us N              busy-poll before sleeping (default 50)\n"
        "  --prefault               fault each client's rings in when it registers, so\n"
        "                           its first lap takes no page faults (costs their\n"
        "                           memory up front: 2 x ring-bytes per client)\n"
        "  --socket-mode MODE       octal mode of the socket (default 0660)\n"
        "  --socket-group GROUP     group (name or gid) given the socket, so processes\n"
        "                           of other uids in that group can open it (default:\n"
        "                           the sidecar's own group)\n"
        "  --allow-uid UID|any      peer uid allowed to register (repeatable; default:\n"
        "                           root and the sidecar's own uid)\n"
        "  --allow-gid GID          peers in this group (primary or supplementary) may\n"
        "                           register too (repeatable; name or gid)\n"
        "  --admin-listen HOST:PORT admin HTTP listener: /metrics, /healthz, /readyz\n"
        "                           (default " SC_ADMIN_DEFAULT "; off disables)\n"
        "  --front-door-listen A    the OpenAI-compatible HTTP front door: HOST:PORT,\n"
        "                           unix:PATH or off (default " SC_FRONT_DOOR_DEFAULT ")\n"
        "  --front-door-anonymous   let requests without a virtual key in\n"
        "  --io-backend B           auto|io_uring|epoll: the event loop (default auto:\n"
        "                           io_uring, or epoll where io_uring is refused)\n"
        "  --log-level L            debug|info|warn|error (default info)\n"
        "  --version, --help\n");
}

static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max || s[0] == '-') {
        fprintf(stderr, "ringsided: %s wants a whole number from %llu to %llu, got '%s'\n",
                opt, (unsigned long long)min, (unsigned long long)max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static bool route_named(const sc_config *cfg, const char *name)
{
    for (unsigned i = 0; i < cfg->nroutes; i++)
        if (strcmp(cfg->routes[i].name, name) == 0)
            return true;
    return false;
}

static void set_defaults(sc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->ring_bytes = 8u << 20;
    cfg->max_inflight = 4096;
    cfg->grace_ms = 10000;
    cfg->total_timeout_ms = 300000;
    cfg->connect_timeout_ms = 10000;
    cfg->max_response_bytes = 64u << 20;
    cfg->spin_us = 50;
    cfg->log_level = SC_INFO;
    snprintf(cfg->admin_listen, sizeof cfg->admin_listen, "%s", SC_ADMIN_DEFAULT);
    cfg->admin_listen_default = true;
    cfg->timeline_file_default = true;
    sc_front_door_cfg *door = &cfg->door;
    snprintf(door->listen, sizeof door->listen, "%s", SC_FRONT_DOOR_DEFAULT);
    door->listen_default = true;
    sc_vkey_cfg_init(&door->anon);
    snprintf(door->anon.name, sizeof door->anon.name, "anonymous");
    door->max_connections = 1024;
    door->max_header_bytes = 32768;
    door->max_body_bytes = 8u << 20;
    door->header_timeout_ms = 10000;
    door->body_timeout_ms = 30000;
    door->idle_timeout_ms = 60000;
    snprintf(door->batch_template, sizeof door->batch_template, "%s", SC_BATCH_TEMPLATE);
    door->batch_priority = 2;
    door->batch_max_items = 1000;
    door->batch_concurrency = 32;
    door->batch_keep_ms = 3600000;
    door->batch_max_kept = 64;
    cfg->timeline_keep = 1000;
    cfg->socket_mode = SC_SOCKET_MODE;
    snprintf(cfg->api_key_env, sizeof cfg->api_key_env, "DEEPSEEK_API_KEY");

    for (int p = 0; p < 3; p++)
        cfg->queue_max[p] = 1000;
    cfg->deadline_ms[0] = 30000;
    cfg->deadline_ms[1] = 120000;
    cfg->deadline_ms[2] = 600000;
    cfg->weight_p1 = 70;
    cfg->weight_p2 = 30;
    cfg->aging_ms = 5000;
    cfg->p0_reserved = 0.2;
    cfg->default_max_tokens = 1024;
    cfg->retry_attempts = 3;
    cfg->retry_initial_ms = 1000;
    cfg->retry_factor = 2.0;
    cfg->retry_cap_ms = 30000;
    static const uint32_t retry_status[] = { 429, 500, 502, 503, 504 };
    memcpy(cfg->retry_status, retry_status, sizeof retry_status);
    cfg->n_retry_status = 5;
    cfg->budget_ratio = 1.0;
    cfg->budget_min = 10;
    cfg->budget_window_ms = 10000;
    cfg->breaker_failures = 3;
    cfg->breaker_slow = 3;
    cfg->breaker_cooldown_ms = 250;
    cfg->breaker_max_cooldown_ms = 1000;
    cfg->breaker_failure_rate = 0.5;
    cfg->breaker_min_requests = 20;
    cfg->breaker_window_ms = 10000;
    cfg->max_ejected = 0.5;
    cfg->latency_alpha = 0.3;
    cfg->latency_recover = 0.8;
    cfg->latency_probe_ms = 1000;
    cfg->breaker_probes = 2;
    cfg->shed_error_rate = 0.5;
    cfg->shed_fraction = 0.5;
    cfg->em_shed_fraction = 0.5;
    cfg->em_error_ratio = 0;   /* the automatic triggers are the operator's to choose */
    cfg->em_window_ms = 30000;
    cfg->em_min_requests = 20;
    cfg->em_recover_ms = 30000;
    cfg->em_when_open = false;
    /* the seed's alerts, as deploy/prometheus/ringside-rules.yml has them */
    sc_alert_rule_init(&cfg->alert_rules[0], "RingsideHighErrorRatio", SC_AM_ERROR_RATIO, 0.05, 300000, "critical");
    sc_alert_rule_init(&cfg->alert_rules[1], "RingsideHighLatency", SC_AM_MEAN_LATENCY_MS, 500, 300000, "warning");
    sc_alert_rule_init(&cfg->alert_rules[2], "RingsideAllRoutesOpen", SC_AM_ROUTES_OUT, 0, 60000, "critical");
    sc_alert_rule_init(&cfg->alert_rules[3], "RingsideShedding", SC_AM_SHEDDING, 0, 60000, "warning");
    sc_alert_rule_init(&cfg->alert_rules[4], "RingsideEmergency", SC_AM_EMERGENCY, 0, 0, "critical");
    cfg->n_alert_rules = 5;
    cfg->access_level = SC_ACCESS_ERRORS;
    cfg->access_sample = 1.0;
    cfg->notify_attempts = 5;
    cfg->notify_backoff_ms = 1000;
    cfg->shed_window_ms = 10000;
    cfg->shed_min_samples = 20;
}

int sc_config_load(sc_config *cfg, int argc, char **argv)
{
    set_defaults(cfg);
    if (rs__default_socket_path(cfg->socket_path, sizeof cfg->socket_path) < 0) {
        fprintf(stderr, "ringsided: RINGSIDE_SOCKET is longer than %zu bytes\n", sizeof cfg->socket_path - 1);
        return -1;
    }

    /* pass 1: which file, and is this only a check? */
    bool check_only = false;
    const char *file = getenv("RINGSIDE_CONFIG");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "--config") == 0 || strcmp(a, "--check-config") == 0) && i + 1 < argc) {
            check_only |= strcmp(a, "--check-config") == 0;
            file = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            file = a + 9;
        } else if (strncmp(a, "--check-config=", 15) == 0) {
            file = a + 15;
            check_only = true;
        }
    }
    if (file && *file) {
        if (strlen(file) >= sizeof cfg->config_path) {
            fprintf(stderr, "ringsided: config path too long\n");
            return -1;
        }
        snprintf(cfg->config_path, sizeof cfg->config_path, "%s", file);
        char err[8192];
        int n = sc_config_apply_file(cfg, file, err, sizeof err);
        if (n) {
            fprintf(stderr, "%sringsided: %d problem%s in %s; nothing was started\n", err, n, n == 1 ? "" : "s", file);
            return -1;
        }
    }

    const char *sock_env = getenv("RINGSIDE_SOCKET");
    if (sock_env && *sock_env)
        snprintf(cfg->socket_path, sizeof cfg->socket_path, "%s", sock_env);
    const char *up_env = getenv("RINGSIDE_UPSTREAM");
    bool upstream_set = false;
    if (up_env && *up_env) {
        snprintf(cfg->upstream, sizeof cfg->upstream, "%s", up_env);
        upstream_set = true;
    }

    enum { O_SOCKET = 1, O_UPSTREAM, O_KEYENV, O_RING, O_INFLIGHT, O_TIMEOUT, O_CONNECT,
           O_MAXRESP, O_GRACE, O_SPIN, O_PREFAULT, O_UID, O_LOG, O_IO, O_ADMIN, O_DOOR, O_DOOR_ANON, O_VERSION, O_HELP, O_CONFIG, O_CHECK,
           O_SOCKMODE, O_SOCKGROUP, O_GID };
    static const struct option opts[] = {
        { "config", required_argument, 0, O_CONFIG },
        { "check-config", required_argument, 0, O_CHECK },
        { "socket", required_argument, 0, O_SOCKET },
        { "upstream", required_argument, 0, O_UPSTREAM },
        { "api-key-env", required_argument, 0, O_KEYENV },
        { "ring-bytes", required_argument, 0, O_RING },
        { "max-inflight", required_argument, 0, O_INFLIGHT },
        { "timeout-ms", required_argument, 0, O_TIMEOUT },
        { "connect-timeout-ms", required_argument, 0, O_CONNECT },
        { "max-response-bytes", required_argument, 0, O_MAXRESP },
        { "grace-ms", required_argument, 0, O_GRACE },
        { "spin-us", required_argument, 0, O_SPIN },
        { "prefault", no_argument, 0, O_PREFAULT },
        { "socket-mode", required_argument, 0, O_SOCKMODE },
        { "socket-group", required_argument, 0, O_SOCKGROUP },
        { "allow-uid", required_argument, 0, O_UID },
        { "allow-gid", required_argument, 0, O_GID },
        { "log-level", required_argument, 0, O_LOG },
        { "io-backend", required_argument, 0, O_IO },
        { "admin-listen", required_argument, 0, O_ADMIN },
        { "front-door-listen", required_argument, 0, O_DOOR },
        { "front-door-anonymous", no_argument, 0, O_DOOR_ANON },
        { "version", no_argument, 0, O_VERSION },
        { "help", no_argument, 0, O_HELP },
        { 0, 0, 0, 0 },
    };
    int o;
    uint64_t v;
    const char *why;
    opterr = 0;
    optind = 1;   /* reloads parse argv again */
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        switch (o) {
        case O_CONFIG:
        case O_CHECK:
            break;   /* handled in pass 1 */
        case O_SOCKET:
            if (strlen(optarg) >= sizeof cfg->socket_path) {
                fprintf(stderr, "ringsided: --socket path longer than %zu bytes\n", sizeof cfg->socket_path - 1);
                return -1;
            }
            snprintf(cfg->socket_path, sizeof cfg->socket_path, "%s", optarg);
            break;
        case O_UPSTREAM:
            snprintf(cfg->upstream, sizeof cfg->upstream, "%s", optarg);
            upstream_set = true;
            break;
        case O_KEYENV:
            snprintf(cfg->api_key_env, sizeof cfg->api_key_env, "%s", optarg);
            break;
        case O_RING:
            if (parse_u64("--ring-bytes", optarg, RS__MIN_RING_BYTES, 1u << 30, &cfg->ring_bytes) < 0)
                return -1;
            if (cfg->ring_bytes & (cfg->ring_bytes - 1)) {
                fprintf(stderr, "ringsided: --ring-bytes must be a power of two (e.g. 8388608)\n");
                return -1;
            }
            break;
        case O_INFLIGHT:
            if (parse_u64("--max-inflight", optarg, 1, 1u << 20, &v) < 0)
                return -1;
            cfg->max_inflight = (uint32_t)v;
            break;
        case O_TIMEOUT:
            if (parse_u64("--timeout-ms", optarg, 1, UINT32_MAX, &v) < 0)
                return -1;
            cfg->total_timeout_ms = (uint32_t)v;
            break;
        case O_CONNECT:
            if (parse_u64("--connect-timeout-ms", optarg, 1, UINT32_MAX, &v) < 0)
                return -1;
            cfg->connect_timeout_ms = (uint32_t)v;
            break;
        case O_MAXRESP:
            if (parse_u64("--max-response-bytes", optarg, 1024, 1ull << 32, &cfg->max_response_bytes) < 0)
                return -1;
            break;
        case O_GRACE:
            if (parse_u64("--grace-ms", optarg, 0, UINT32_MAX, &v) < 0)
                return -1;
            cfg->grace_ms = (uint32_t)v;
            break;
        case O_SPIN:
            if (parse_u64("--spin-us", optarg, 0, 1000000, &v) < 0)
                return -1;
            cfg->spin_us = (uint32_t)v;
            break;
        case O_PREFAULT:
            cfg->prefault = true;
            break;
        case O_UID:
            if (strcmp(optarg, "any") == 0) {
                cfg->allow_any_uid = true;
            } else {
                if (cfg->n_allow_uids == SC_MAX_ALLOW_UIDS - 2) {
                    fprintf(stderr, "ringsided: at most %d --allow-uid\n", SC_MAX_ALLOW_UIDS - 2);
                    return -1;
                }
                if (parse_u64("--allow-uid", optarg, 0, UINT32_MAX - 1, &v) < 0)
                    return -1;
                cfg->allow_uids[cfg->n_allow_uids++] = (uid_t)v;
            }
            break;
        case O_ADMIN:
            if (strlen(optarg) >= sizeof cfg->admin_listen) {
                fprintf(stderr, "ringsided: --admin-listen longer than %zu characters\n", sizeof cfg->admin_listen - 1);
                return -1;
            }
            snprintf(cfg->admin_listen, sizeof cfg->admin_listen, "%s", optarg);
            cfg->admin_listen_default = false;
            break;
        case O_DOOR:
            if (strlen(optarg) >= sizeof cfg->door.listen) {
                fprintf(stderr, "ringsided: --front-door-listen longer than %zu characters\n",
                        sizeof cfg->door.listen - 1);
                return -1;
            }
            snprintf(cfg->door.listen, sizeof cfg->door.listen, "%s", optarg);
            cfg->door.listen_default = false;
            break;
        case O_DOOR_ANON:
            cfg->door.anonymous = true;
            break;
        case O_IO:
            if ((cfg->io_backend = sc_io_backend_parse(optarg)) < 0) {
                fprintf(stderr, "ringsided: --io-backend wants auto, io_uring or epoll, got '%s'\n", optarg);
                return -1;
            }
            break;
        case O_SOCKMODE:
            if ((why = sc_parse_socket_mode(optarg, &cfg->socket_mode))) {
                fprintf(stderr, "ringsided: --socket-mode '%s' %s\n", optarg, why);
                return -1;
            }
            break;
        case O_SOCKGROUP:
            if (strlen(optarg) >= sizeof cfg->socket_group) {
                fprintf(stderr, "ringsided: --socket-group longer than %zu characters\n",
                        sizeof cfg->socket_group - 1);
                return -1;
            }
            if ((why = sc_parse_group(optarg, &cfg->socket_gid))) {
                fprintf(stderr, "ringsided: --socket-group '%s' %s\n", optarg, why);
                return -1;
            }
            snprintf(cfg->socket_group, sizeof cfg->socket_group, "%s", optarg);
            break;
        case O_GID:
            if (cfg->n_allow_gids == SC_MAX_ALLOW_GIDS) {
                fprintf(stderr, "ringsided: at most %d --allow-gid\n", SC_MAX_ALLOW_GIDS);
                return -1;
            }
            if ((why = sc_parse_group(optarg, &cfg->allow_gids[cfg->n_allow_gids]))) {
                fprintf(stderr, "ringsided: --allow-gid '%s' %s\n", optarg, why);
                return -1;
            }
            cfg->n_allow_gids++;
            break;
        case O_LOG: {
            enum sc_log_level l;
            if (sc_log_parse_level(optarg, &l) < 0) {
                fprintf(stderr, "ringsided: --log-level wants debug, info, warn or error\n");
                return -1;
            }
            cfg->log_level = (int)l;
            break;
        }
        case O_VERSION:
            printf("ringsided %s\n", RS_VERSION_STRING);
            return 1;
        case O_HELP:
            usage(stdout);
            return 1;
        default:
            fprintf(stderr, "ringsided: unknown or incomplete option '%s'\n", name);
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ringsided: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    cfg->api_key = sc_secret(cfg->api_key_env);
    if (cfg->nroutes == 0) {
        /* no routes configured: one route, "default", from flags and env;
         * with neither an upstream nor a key, the bundled mock, so the first
         * command of the README works offline (the daemon warns of it) */
        if (!upstream_set) {
            cfg->demo_mode = !cfg->api_key;
            snprintf(cfg->upstream, sizeof cfg->upstream, "%s", cfg->api_key ? SC_DEEPSEEK_URL : SC_MOCK_DEFAULT_URL);
        }
        sc_route_cfg *r = &cfg->routes[cfg->nroutes++];
        sc_route_cfg_init(r, cfg);
        snprintf(r->name, sizeof r->name, "default");
        snprintf(r->endpoint, sizeof r->endpoint, "%s", cfg->upstream);
        size_t n = strlen(r->endpoint);
        while (n > 0 && r->endpoint[n - 1] == '/')
            r->endpoint[--n] = 0;
        if (strncmp(r->endpoint, "http://", 7) != 0 && strncmp(r->endpoint, "https://", 8) != 0) {
            fprintf(stderr, "ringsided: upstream must start with http:// or https://, got '%s'\n", r->endpoint);
            return -1;
        }
    } else if (upstream_set) {
        fprintf(stderr, "ringsided: --upstream/RINGSIDE_UPSTREAM conflicts with the routes of %s; use one or the other\n",
                cfg->config_path);
        return -1;
    }
    uint32_t total_weight = 0;
    for (unsigned i = 0; i < cfg->nroutes; i++)
        total_weight += cfg->routes[i].weight;
    if (total_weight == 0) {
        fprintf(stderr, "ringsided: every route has weight 0: no traffic could ever be sent\n");
        return -1;
    }
    for (unsigned i = 0; i <= cfg->door.nkeys; i++) {
        const sc_vkey_cfg *k = i < cfg->door.nkeys ? &cfg->door.keys[i] : &cfg->door.anon;
        for (unsigned j = 0; j < k->nroutes; j++)
            if (strcmp(k->routes[j], "echo") != 0 && !route_named(cfg, k->routes[j])) {
                fprintf(stderr, "ringsided: front_door key '%s' names route '%s', which is not configured\n",
                        k->name, k->routes[j]);
                return -1;
            }
    }
    if (check_only) {
        printf("%s: OK (%u route%s)\n", cfg->config_path, cfg->nroutes, cfg->nroutes == 1 ? "" : "s");
        return 1;
    }
    if (!cfg->allow_any_uid) {
        /* room for these two is kept by the --allow-uid limit */
        cfg->allow_uids[cfg->n_allow_uids++] = geteuid();
        cfg->allow_uids[cfg->n_allow_uids++] = 0;
    }
    return 0;
}
