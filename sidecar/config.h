/*
 * config.h — the daemon's settings: safe defaults, then environment, then
 * command-line flags (the YAML file arrives with traffic control). Every
 * limit the sidecar enforces lives here, so every refusal can name one.
 */
#ifndef SC_CONFIG_H
#define SC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SC_MOCK_DEFAULT_URL "http://127.0.0.1:18089"
#define SC_DEEPSEEK_URL     "https://api.deepseek.com"
#define SC_MAX_ALLOW_UIDS   16

typedef struct sc_config {
    char socket_path[108];
    char upstream[1024];          /* base URL; request path is appended */
    char api_key_env[64];         /* name of the env var holding the key */
    const char *api_key;          /* NULL: send no Authorization */
    uint64_t ring_bytes;          /* each of a client's two rings */
    uint32_t max_inflight;        /* outstanding requests per client */
    uint32_t grace_ms;            /* SIGTERM: drain this long, then fail the rest */
    uint32_t default_timeout_ms;  /* deadline of a request that names none */
    uint32_t connect_timeout_ms;
    uint64_t max_response_bytes;
    uint32_t spin_us;             /* busy-poll this long before sleeping */
    bool allow_any_uid;
    uid_t allow_uids[SC_MAX_ALLOW_UIDS];
    unsigned n_allow_uids;
    int log_level;
} sc_config;

/* Fill cfg from defaults, environment and argv. Returns 0, 1 when the run
 * should stop successfully (--help, --version), or -1 after printing what
 * is wrong to stderr. */
int sc_config_load(sc_config *cfg, int argc, char **argv);

#endif
