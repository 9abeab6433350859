/*
 * vkeys.c — see vkeys.h. Tokens are never kept: a key_env's value is
 * hashed at load (and taken out of the environment by secrets.c), and a
 * caller's bearer token is hashed and compared with every key in constant
 * time, so neither timing nor a memory dump gives a token away.
 */
#include "vkeys.h"

#include "inflight.h"
#include "log.h"
#include "secrets.h"
#include "text.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const unsigned sc_vkey_status[SC_VKEY_STATUSES] = { 200, 400, 401, 403, 404, 408, 413, 429, 499,
                                                    500, 502, 503, 504, 422, 0 };

static void sha256(const void *p, size_t n, unsigned char out[32])
{
    unsigned len = 32;
    if (!EVP_Digest(p, n, out, &len, EVP_sha256(), NULL))
        memset(out, 0, 32);   /* matches no token: a hash is never all zeros in practice */
}

static int unhex(const char *s, unsigned char out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return 0;
}

static void set_limits(sc_vkey *k, uint64_t now, bool fresh)
{
    const sc_limit_cfg *l = &k->cfg.limit;
    k->has_rps = l->rps > 0;
    k->has_tpm = l->tpm > 0;
    double burst = l->burst > 0 ? l->burst : l->rps > 1 ? l->rps : 1;
    if (k->has_rps) {
        if (fresh)
            rsp_bucket_init(&k->rps, l->rps, burst, now);
        else
            rsp_bucket_reconfigure(&k->rps, l->rps, burst, now);
    }
    if (k->has_tpm) {
        /* a minute's worth at once: a key's budget is per minute */
        if (fresh)
            rsp_bucket_init(&k->tpm, l->tpm / 60.0, l->tpm, now);
        else
            rsp_bucket_reconfigure(&k->tpm, l->tpm / 60.0, l->tpm, now);
    }
}

static sc_vkey *find_named(sc_vkeys *ks, const char *name, bool anonymous)
{
    for (sc_vkey *k = ks->head; k; k = k->next)
        if (!k->retired && k->anonymous == anonymous && strcmp(k->cfg.name, name) == 0)
            return k;
    return NULL;
}

static int apply_one(sc_daemon *d, sc_vkeys *ks, const sc_sink *sink, const sc_vkey_cfg *cfg, bool anonymous,
                     uint64_t now, sc_vkey **kept, unsigned *nkept)
{
    unsigned char hash[32] = { 0 };
    if (!anonymous && cfg->key_env[0]) {
        const char *tok = sc_secret(cfg->key_env);
        if (!tok) {
            sc_error("front_door key '%s': its token variable %s is not set", cfg->name, cfg->key_env);
            return -1;
        }
        sha256(tok, strlen(tok), hash);
    } else if (!anonymous && unhex(cfg->key_sha256, hash) < 0) {
        sc_error("front_door key '%s': key_sha256 is not 64 hex digits", cfg->name);
        return -1;
    }
    sc_vkey *k = find_named(ks, cfg->name, anonymous);
    bool fresh = !k;
    if (fresh) {
        k = calloc(1, sizeof *k);
        if (!k || sc_inflight_init(&k->c, 1024) < 0) {
            free(k);
            sc_error("out of memory for the front door's keys");
            return -1;
        }
        k->c.d = d;
        k->c.id = d->next_client_id++;
        k->c.sink = sink;
        k->c.vkey = &k->cfg;
        k->c.name = k->cfg.name;
        k->anonymous = anonymous;
        k->next = ks->head;
        ks->head = k;
    }
    k->cfg = *cfg;
    memcpy(k->hash, hash, sizeof hash);
    set_limits(k, now, fresh);
    kept[(*nkept)++] = k;
    return 0;
}

int sc_vkeys_apply(sc_daemon *d, sc_vkeys *ks, const sc_sink *sink, uint64_t now)
{
    const sc_front_door_cfg *door = &d->cfg.door;
    sc_vkey *kept[SC_MAX_VKEYS + 1];
    unsigned nkept = 0;
    for (unsigned i = 0; i < door->nkeys; i++)
        if (apply_one(d, ks, sink, &door->keys[i], false, now, kept, &nkept) < 0)
            return -1;
    if (door->anonymous && apply_one(d, ks, sink, &door->anon, true, now, kept, &nkept) < 0)
        return -1;
    for (sc_vkey *k = ks->head; k; k = k->next) {
        bool still = false;
        for (unsigned i = 0; i < nkept; i++)
            still |= kept[i] == k;
        k->retired = !still;
    }
    sc_vkeys_sweep(ks);
    return 0;
}

static void free_key(sc_vkey *k)
{
    sc_inflight_destroy(&k->c);
    free(k);
}

void sc_vkeys_sweep(sc_vkeys *ks)
{
    for (sc_vkey **pp = &ks->head; *pp;) {
        sc_vkey *k = *pp;
        if (k->retired && !k->open && !k->pins) {
            *pp = k->next;
            free_key(k);
        } else {
            pp = &k->next;
        }
    }
}

void sc_vkeys_destroy(sc_vkeys *ks)
{
    while (ks->head) {
        sc_vkey *k = ks->head;
        ks->head = k->next;
        free_key(k);
    }
}

sc_vkey *sc_vkeys_find(sc_vkeys *ks, const sc_config *cfg, const char *authorization)
{
    /* with anonymous access on, a token that names no key is anonymous too:
     * SDKs insist on sending some key */
    sc_vkey *anon = cfg->door.anonymous ? find_named(ks, "anonymous", true) : NULL;
    if (!authorization)
        return anon;
    while (*authorization == ' ')
        authorization++;
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return anon;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    unsigned char h[32];
    sha256(tok, strlen(tok), h);
    sc_vkey *found = NULL;
    for (sc_vkey *k = ks->head; k; k = k->next)   /* every key compared: no early exit */
        if (!k->retired && !k->anonymous && CRYPTO_memcmp(k->hash, h, sizeof h) == 0)
            found = k;
    return found ? found : anon;
}

const char *sc_vkey_admit(sc_vkey *k, double tokens, uint64_t now, uint64_t *retry_ns, char *buf, size_t len)
{
    const sc_vkey_cfg *c = &k->cfg;
    const char *why = NULL;
    *retry_ns = 0;
    if (c->max_inflight && k->open >= c->max_inflight) {
        snprintf(buf, len, "key '%s' has %u requests open, its max_inflight", c->name, c->max_inflight);
        *retry_ns = 1000000000u;
        why = buf;
    } else if (k->has_rps && !rsp_bucket_try_take(&k->rps, 1, now)) {
        snprintf(buf, len, "key '%s' is over its rate limit (limits.rps = %g)", c->name, c->limit.rps);
        *retry_ns = rsp_bucket_wait_ns(&k->rps, 1, now);
        why = buf;
    } else if (k->has_tpm && tokens > c->limit.tpm) {
        snprintf(buf, len, "request estimated at %.0f tokens, more than key '%s' may use in a minute "
                 "(limits.tpm = %g)", tokens, c->name, c->limit.tpm);
        why = buf;   /* no wait helps */
        if (k->has_rps)
            rsp_bucket_refund(&k->rps, 1, now);
    } else if (k->has_tpm && !rsp_bucket_try_take(&k->tpm, tokens, now)) {
        snprintf(buf, len, "key '%s' is over its token budget (limits.tpm = %g; this request: ~%.0f)", c->name,
                 c->limit.tpm, tokens);
        *retry_ns = rsp_bucket_wait_ns(&k->tpm, tokens, now);
        if (k->has_rps)
            rsp_bucket_refund(&k->rps, 1, now);
        why = buf;
    }
    if (why) {
        k->refused_limit++;
        k->limited_last = now;
    }
    return why;
}

void sc_vkey_count(sc_vkey *k, unsigned status)
{
    unsigned i = 0;
    while (i < SC_VKEY_STATUSES - 1 && sc_vkey_status[i] != status)
        i++;
    k->by_status[i]++;
}

/* One sample: NAME{key="K"EXTRA} VALUE (extra: more labels, from the comma). */
static void sample(sc_text *t, const char *name, const sc_vkey *k, const char *extra, uint64_t v)
{
    sc_text_printf(t, "%s{key=\"", name);
    sc_text_label(t, k->cfg.name);
    sc_text_printf(t, "\"%s} %llu\n", extra, (unsigned long long)v);
}

void sc_vkeys_metrics(const sc_vkeys *ks, sc_text *t)
{
    sc_text_put(t, "# HELP ringside_frontdoor_requests_total Front-door answers by virtual key and HTTP status.\n"
                   "# TYPE ringside_frontdoor_requests_total counter\n");
    for (const sc_vkey *k = ks->head; k; k = k->next)
        for (unsigned i = 0; i < SC_VKEY_STATUSES; i++)
            if (k->by_status[i]) {
                char code[24] = ",code=\"other\"";
                if (sc_vkey_status[i])
                    snprintf(code, sizeof code, ",code=\"%u\"", sc_vkey_status[i]);
                sample(t, "ringside_frontdoor_requests_total", k, code, k->by_status[i]);
            }
    sc_text_put(t, "# HELP ringside_frontdoor_refused_total Front-door requests a key's own limits or routes refused.\n"
                   "# TYPE ringside_frontdoor_refused_total counter\n");
    for (const sc_vkey *k = ks->head; k; k = k->next) {
        sample(t, "ringside_frontdoor_refused_total", k, ",reason=\"limit\"", k->refused_limit);
        sample(t, "ringside_frontdoor_refused_total", k, ",reason=\"route\"", k->refused_route);
    }
    sc_text_put(t, "# HELP ringside_frontdoor_aborted_total Front-door calls whose caller hung up before the end.\n"
                   "# TYPE ringside_frontdoor_aborted_total counter\n");
    for (const sc_vkey *k = ks->head; k; k = k->next)
        sample(t, "ringside_frontdoor_aborted_total", k, "", k->aborted);
}
