/*
 * vkeys.h — the front door's callers: virtual keys (vkeys.c). Each key is
 * a client to admission (an sc_client with a sink instead of a ring), with
 * its token's hash, its default and highest priority, its routes, its own
 * rate, token and concurrency limits, and its counters.
 */
#ifndef SC_VKEYS_H
#define SC_VKEYS_H

#include "sidecar.h"
#include "text.h"

/* The statuses counted per key (metrics); anything else counts as "other". */
#define SC_VKEY_STATUSES 15
extern const unsigned sc_vkey_status[SC_VKEY_STATUSES];   /* 0 last: other */

typedef struct sc_vkey {
    sc_client c;                  /* what admission sees; c.vkey points at cfg */
    sc_vkey_cfg cfg;              /* a copy: it lives as long as the key */
    unsigned char hash[32];       /* SHA-256 of its token (none for anonymous) */
    bool anonymous;
    bool retired;                 /* gone from the configuration: freed once idle */
    bool has_rps, has_tpm;
    rsp_bucket rps, tpm;
    uint32_t open;                /* its requests not yet answered */
    uint32_t pins;                /* batches that will send more requests as it */
    uint64_t next_id;
    bool limited;                 /* its limits refused a request lately (timeline) */
    uint64_t limited_last;        /* the last such refusal */
    uint64_t limited_from;        /* refused_limit when the episode began */
    uint64_t by_status[SC_VKEY_STATUSES];
    uint64_t refused_limit, refused_route, aborted;
    struct sc_vkey *next;
} sc_vkey;

typedef struct sc_vkeys {
    sc_vkey *head;
    uint64_t unauthorized;        /* requests with no key, or a key we do not know */
} sc_vkeys;

/* Build the keys from d->cfg.door, or bring them up to date after a
 * reload: a key still named keeps its counters and buckets' level, one no
 * longer named is retired (refused from now on) and freed when idle.
 * Returns -1 after logging why (a key_env that is not set). */
int sc_vkeys_apply(sc_daemon *d, sc_vkeys *ks, const sc_sink *sink, uint64_t now);
void sc_vkeys_destroy(sc_vkeys *ks);

/* The key a request's Authorization header value names (NULL: none
 * given). One that names no key we know is the anonymous key when
 * front_door.anonymous lets such callers in, else NULL. */
sc_vkey *sc_vkeys_find(sc_vkeys *ks, const sc_config *cfg, const char *authorization);

/* May k start a request estimated at `tokens` now? NULL, or why not
 * (written to buf) with how long until it may (*retry_ns). Takes the
 * rate and token budget when it may. */
const char *sc_vkey_admit(sc_vkey *k, double tokens, uint64_t now, uint64_t *retry_ns, char *buf, size_t len);
/* Count an answer given to a caller of k (its HTTP status). */
void sc_vkey_count(sc_vkey *k, unsigned status);
/* Their counters, in Prometheus' text format, appended to t. */
void sc_vkeys_metrics(const sc_vkeys *ks, sc_text *t);
/* Free retired keys with nothing open. */
void sc_vkeys_sweep(sc_vkeys *ks);

#endif
