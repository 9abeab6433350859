/*
 * config.h — the daemon's settings: safe defaults, then environment, then
 * command-line flags (the YAML file arrives with traffic control). Every
 * limit the sidecar enforces lives here, so every refusal can name one.
 */
#ifndef SC_CONFIG_H
#define SC_CONFIG_H

#include "loop.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define SC_MOCK_DEFAULT_URL "http://127.0.0.1:18089"
#define SC_DEEPSEEK_URL     "https://api.deepseek.com"
#define SC_MAX_ALLOW_UIDS   16
#define SC_MAX_ALLOW_GIDS   16
#define SC_SOCKET_MODE      0660   /* owner and group may open the socket */

#define SC_MAX_ROUTES 16
#define SC_MAX_STATUS 16
#define SC_MAX_MODELS 16

/* The file and flags give times in milliseconds; the sidecar counts ns. */
static inline uint64_t sc_ms(uint64_t ms)
{
    return ms * 1000000u;
}

/* A rate limit; 0 in a field means "no limit of that kind". */
typedef struct sc_limit_cfg {
    double rps;                   /* requests per second */
    double burst;                 /* requests allowed at once (default: max(1, rps)) */
    double tpm;                   /* LLM tokens per minute (prompt estimate + max_tokens) */
} sc_limit_cfg;

typedef struct sc_route_cfg {
    char name[64];
    char endpoint[512];           /* base URL; the request path is appended */
    uint32_t weight;              /* share of traffic among healthy routes */
    char api_key_env[64];         /* env var holding this route's key ("" = none) */
    uint32_t nmodels;             /* model name mapping: client's → upstream's */
    char model_from[SC_MAX_MODELS][128], model_to[SC_MAX_MODELS][128];
    uint32_t connect_timeout_ms, first_content_timeout_ms, idle_timeout_ms, total_timeout_ms; /* 0: global */
    sc_limit_cfg limit;
    uint32_t conc_initial, conc_min, conc_max;   /* AIMD in-flight cap */
    uint32_t probe_wait_ms, probe_wait_max_ms;   /* before a level that failed is tried again */
    /* conditions: outcomes of *other* routes that send traffic over to this one */
    uint32_t cond_status[SC_MAX_STATUS];
    uint32_t n_cond_status;
    uint32_t cond_latency_gt_ms;  /* 0 = none */
    bool standby;                 /* takes traffic only in emergency mode (emergency.c) */
    uint32_t keep_warm_ms;        /* a standby's keep-warm probe period; 0 = none */
    int http_version;             /* SC_HTTP_* */
    char ca_file[256];            /* PEM bundle the upstream's certificate must chain to; "" = the system's */
} sc_route_cfg;

/* sc_route_cfg.http_version. AUTO: HTTP/2 where TLS negotiates it, else
 * HTTP/1.1. V2 adds HTTP/2 with prior knowledge (h2c) on http://. */
enum { SC_HTTP_AUTO, SC_HTTP_1_1, SC_HTTP_2 };

/* An alert rule (alerts.c): `metric` above `above` for for_ms fires it;
 * the ratio and latency metrics are over window_ms, with at least
 * min_answers answers in it. */
enum { SC_ACCESS_OFF, SC_ACCESS_ERRORS, SC_ACCESS_ALL };
enum { SC_AM_ERROR_RATIO, SC_AM_MEAN_LATENCY_MS, SC_AM_ROUTES_OUT, SC_AM_SHEDDING, SC_AM_EMERGENCY,
       SC_AM_SATURATION, SC_AM_COUNT };
#define SC_MAX_ALERT_RULES 16
#define SC_MAX_WEBHOOKS 4
typedef struct sc_alert_rule_cfg {
    char name[64];
    int metric;
    double above;
    uint32_t for_ms, window_ms, min_answers;
    char severity[16];
} sc_alert_rule_cfg;
typedef struct sc_webhook_cfg {
    char url[256];
    char secret_env[64];          /* the HMAC-SHA256 key's variable; "" = unsigned */
} sc_webhook_cfg;

/* The HTTP front door (frontdoor.c): its virtual keys and limits. */
#define SC_MAX_VKEYS 32
#define SC_MAX_VKEY_ROUTES 8
typedef struct sc_vkey_cfg {
    char name[64];                /* what metrics and logs call its traffic */
    char key_env[64];             /* the variable holding its bearer token... */
    char key_sha256[65];          /* ...or the token's SHA-256 in hex */
    uint32_t priority;            /* the class of its requests (0-2) */
    uint32_t max_priority;        /* the highest class x-ringside-priority may ask for */
    sc_limit_cfg limit;           /* rps, burst, tpm: over it a request gets 429 */
    uint32_t max_inflight;        /* its requests open at once (0: no cap) */
    char routes[SC_MAX_VKEY_ROUTES][64];   /* the routes it may use... */
    unsigned nroutes;             /* ...0: any */
} sc_vkey_cfg;

/* The seed's {"query", "context"} batch item as a chat request: each
 * {{name}} is replaced by the item's value, escaped as JSON string text. */
#define SC_BATCH_TEMPLATE                                                                          \
    "{\"model\":\"deepseek-chat\",\"messages\":["                                                 \
    "{\"role\":\"system\",\"content\":\"Answer the question using this context.\\n\\n{{context}}\"}," \
    "{\"role\":\"user\",\"content\":\"{{query}}\"}]}"

typedef struct sc_front_door_cfg {
#define SC_FRONT_DOOR_DEFAULT "127.0.0.1:8080"
    char listen[128];             /* HOST:PORT, unix:PATH, or "off" */
    bool listen_default;          /* not set by the operator: a taken address only warns */
    bool anonymous;               /* requests with no key are let in, as key "anonymous" */
    sc_vkey_cfg anon;             /* what they may do */
    uint32_t max_connections;
    uint32_t max_header_bytes;    /* the request line and headers together */
    uint64_t max_body_bytes;
    uint32_t header_timeout_ms;   /* from a request's first byte to its last header */
    uint32_t body_timeout_ms;     /* from its last header to its last body byte */
    uint32_t idle_timeout_ms;     /* a kept-alive connection with nothing to do */
    sc_vkey_cfg keys[SC_MAX_VKEYS];
    unsigned nkeys;
    /* POST /api/v1/batch (batch.c) */
    char batch_template[2048];    /* a chat body with {{query}} and {{context}} */
    uint32_t batch_priority;
    uint32_t batch_max_items;
    uint32_t batch_concurrency;   /* items of one batch in flight at once */
    uint32_t batch_keep_ms;       /* an asynchronous batch's results, after it ends */
    uint32_t batch_max_kept;      /* asynchronous batches kept at once */
} sc_front_door_cfg;

typedef struct sc_config {
    char config_path[512];        /* "" = no file */
    char socket_path[108];
    char upstream[512];           /* the default route's endpoint when the file has no routes */
    char api_key_env[64];         /* the default route's key variable */
    const char *api_key;          /* NULL: send no Authorization */
    uint64_t ring_bytes;          /* each of a client's two rings */
    uint32_t max_inflight;        /* outstanding requests per client */
    uint32_t grace_ms;            /* SIGTERM: drain this long, then fail the rest */
    uint32_t connect_timeout_ms, first_content_timeout_ms, idle_timeout_ms, total_timeout_ms;
    uint64_t max_response_bytes;
    uint32_t spin_us;             /* busy-poll this long before sleeping */
    bool prefault;                /* fault each client's region in at registration */
    bool demo_mode;               /* the default route is the bundled mock because no
                                     key, upstream or routes were given */
    mode_t socket_mode;           /* of the socket file (and its directory, when made) */
    char socket_group[64];        /* as given ("" = the sidecar's own group)... */
    gid_t socket_gid;             /* ...and resolved */
    bool allow_any_uid;
    uid_t allow_uids[SC_MAX_ALLOW_UIDS];
    unsigned n_allow_uids;
    gid_t allow_gids[SC_MAX_ALLOW_GIDS];   /* a peer in one of these groups may register */
    unsigned n_allow_gids;
    int log_level;
    int io_backend;               /* sc_io_backend (loop.h); a restart changes it, not a reload */
#define SC_ADMIN_DEFAULT "127.0.0.1:9464"
    char admin_listen[64];        /* HOST:PORT of the admin listener, or "off" */
    bool admin_listen_default;    /* not set by the operator: a taken address only warns */
    char timeline_file[256];      /* the incident timeline's JSON lines; "" = memory only */
    bool timeline_file_default;   /* not set: timeline.jsonl beside the socket */
    uint32_t timeline_keep;       /* events kept in memory (for /events) */

    /* traffic control */
    sc_limit_cfg global_limit, client_limit;
    uint32_t queue_max[3];        /* queued requests per priority */
    uint32_t deadline_ms[3];      /* default deadline per priority */
    uint32_t weight_p1, weight_p2;
    uint32_t aging_ms;
    double p0_reserved;           /* share of upstream capacity only P0 may use */
    uint32_t default_max_tokens;  /* token estimate when a request names none */
    uint32_t retry_attempts, retry_initial_ms, retry_cap_ms;
    double retry_factor;
    uint32_t retry_status[SC_MAX_STATUS];
    uint32_t n_retry_status;
    double budget_ratio;
    uint32_t budget_min, budget_window_ms;
    uint32_t breaker_failures, breaker_slow, breaker_cooldown_ms, breaker_probes;
    uint32_t breaker_max_cooldown_ms;  /* failed probe rounds double the cooldown up to this */
    double breaker_failure_rate;       /* open at this share of failures in the window... */
    uint32_t breaker_min_requests, breaker_window_ms;   /* ...with this many verdicts */
    double max_ejected;           /* share of routes whose breakers may keep them out */
    double latency_alpha;         /* the mean first-content latency rule (policy/latency.h) */
    double latency_recover;
    uint32_t latency_probe_ms;
    double shed_error_rate, shed_fraction;
    /* emergency mode (emergency.c): shed em_shed_fraction of P1/P2 and send
     * the rest to the standby routes. On by hand, or (both off by default)
     * when em_error_ratio of the answers over em_window_ms failed (at least
     * em_min_requests of them), or every primary route's breaker is open
     * (em_when_open); off after em_recover_ms of health */
    double em_shed_fraction, em_error_ratio;
    uint32_t em_window_ms, em_min_requests, em_recover_ms;
    bool em_when_open;
    uint32_t shed_window_ms, shed_min_samples;
    sc_alert_rule_cfg alert_rules[SC_MAX_ALERT_RULES];
    unsigned n_alert_rules;
    sc_webhook_cfg webhooks[SC_MAX_WEBHOOKS];
    unsigned n_webhooks;
    char alertmanager[256];       /* its base URL; "" = none */
    uint32_t notify_attempts;     /* a notification's tries before it is dropped */
    uint32_t notify_backoff_ms;   /* before the second try; doubling after */
    int access_level;             /* SC_ACCESS_*: which terminal answers get a line */
    double access_sample;         /* of those, this share */
    char access_file[256];        /* "" = stderr */
    sc_route_cfg routes[SC_MAX_ROUTES];
    unsigned nroutes;
    sc_front_door_cfg door;
} sc_config;

/* Fill cfg from defaults, then the YAML file (--config or $RINGSIDE_CONFIG),
 * then environment, then argv. Returns 0, 1 when the run should stop
 * successfully (--help, --version, --check-config passed), or -1 after
 * printing what is wrong (file:line: key: problem) to stderr. */
int sc_config_load(sc_config *cfg, int argc, char **argv);

/* A route's defaults: weight 1, the default key variable, concurrency
 * starting at 64 within [1, 256]. */
void sc_route_cfg_init(sc_route_cfg *r, const sc_config *c);

/* Readers of values that both the file and the flags take (config_file.c).
 * Each returns NULL, or what is wrong with s, to be put after the key or
 * flag that gave it: "socket_mode: '0060' <what is wrong>". */

/* An octal mode such as 0660: no bits beyond 0777, and the owner keeps
 * read and write (processes of the sidecar's uid, its health check among
 * them, register through the socket too). */
const char *sc_parse_socket_mode(const char *s, mode_t *mode);
/* A group name from the group database, or a numeric gid (which need not
 * be in it: containers often run with gids no /etc/group lists). */
const char *sc_parse_group(const char *s, gid_t *gid);

/* Apply a YAML file over cfg. Every problem found is appended to err as
 * "FILE:LINE: KEY: what is wrong" lines; returns their count (0 = valid). */
int sc_config_apply_file(sc_config *cfg, const char *path, char *err, size_t errlen);
/* The same for YAML text in buf[0..len) (no NUL needed), reported as FILE = name. */
int sc_config_apply_yaml(sc_config *cfg, const char *name, const void *buf, size_t len, char *err, size_t errlen);

void sc_alert_rule_init(sc_alert_rule_cfg *r, const char *name, int metric, double above, uint32_t for_ms,
                        const char *severity);
const char *sc_alert_metric_name(int metric);

/* A virtual key's defaults: priority 1, every route, no limit. */
void sc_vkey_cfg_init(sc_vkey_cfg *k);
/* May a caller of key k use the route named `route`? */
bool sc_vkey_allows(const sc_vkey_cfg *k, const char *route);

/* "HOST:PORT" (numeric host: no DNS at start; [v6]:port) → a socket
 * address. -1 if it is not one. */
int sc_parse_hostport(const char *spec, struct sockaddr_storage *ss, socklen_t *len);

/* "auto", "io_uring", "epoll" → sc_io_backend; -1 for anything else. */
int sc_io_backend_parse(const char *s);

#endif
