/*
 * notify.c — alert notifications to webhooks and Alertmanager.
 *
 * Each notification becomes one delivery per target, in a bounded queue
 * (NOTIFY_QUEUE: when an endpoint is down for long, the oldest deliveries
 * go first, counted), each sent as a side request (side.c: the loop's own
 * transfers, never on a request's path) and retried with backoff
 * (alerts.delivery: 1, 2, 4, 8 s by default) until it is answered 2xx or
 * its attempts have failed.
 *
 * Webhooks get one JSON object; with secret_env set, the body's
 * HMAC-SHA256 under that key is in X-Ringside-Signature: sha256=<hex>, so
 * the receiver can tell the sidecar's calls from anyone else's.
 * Alertmanager gets its v2 API's array of one alert (POST /api/v2/alerts);
 * it forgets an alert not sent again within its resolve_timeout, so
 * alerts.c sends firing ones again every minute.
 */
#include "notify.h"

#include "log.h"
#include "secrets.h"
#include "side.h"
#include "text.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOTIFY_QUEUE 64
#define NOTIFY_TIMEOUT_MS 5000

struct sc_delivery {
    sc_delivery *next;
    sc_daemon *d;
    char url[300];
    char sig[112];                /* the signature header (29 + 64 hex), or "" */
    char *body;
    size_t len;
    unsigned attempts;
    uint64_t next_at;
    bool inflight;
};

static void iso8601(uint64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000u);
    struct tm tm;
    gmtime_r(&s, &tm);
    char t[32];
    strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03uZ", t, (unsigned)(ms % 1000u));
}

static void instance(char *buf, size_t len)
{
    char host[128] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(buf, len, "%s:%d", host, (int)getpid());
}

/* What both bodies say, as text. */
typedef struct note_text {
    char starts[40], ends[40], instance[160];
} note_text;

static char *webhook_body(const sc_alert_note *n, const note_text *nt, size_t *len)
{
    sc_text t = { 0 };
    sc_text_put(&t, "{\"alert\":");
    sc_text_json_str(&t, n->name);
    sc_text_printf(&t, ",\"status\":\"%s\",\"severity\":", n->firing ? "firing" : "resolved");
    sc_text_json_str(&t, n->severity);
    sc_text_put(&t, ",\"summary\":");
    sc_text_json_str(&t, n->summary);
    sc_text_printf(&t, ",\"value\":%.6g,\"threshold\":%.6g,\"starts_at\":\"%s\",\"ends_at\":", n->value,
                   n->threshold, nt->starts);
    if (n->firing)
        sc_text_put(&t, "null");
    else
        sc_text_printf(&t, "\"%s\"", nt->ends);
    sc_text_put(&t, ",\"instance\":");
    sc_text_json_str(&t, nt->instance);
    sc_text_put(&t, "}");
    return sc_text_take(&t, len);
}

static char *alertmanager_body(const sc_alert_note *n, const note_text *nt, size_t *len)
{
    sc_text t = { 0 };
    sc_text_put(&t, "[{\"labels\":{\"alertname\":");
    sc_text_json_str(&t, n->name);
    sc_text_put(&t, ",\"severity\":");
    sc_text_json_str(&t, n->severity);
    sc_text_put(&t, ",\"service\":\"ringside\",\"instance\":");
    sc_text_json_str(&t, nt->instance);
    sc_text_put(&t, "},\"annotations\":{\"summary\":");
    sc_text_json_str(&t, n->summary);
    sc_text_printf(&t, "},\"startsAt\":\"%s\"", nt->starts);
    if (!n->firing)   /* an end in the past resolves it */
        sc_text_printf(&t, ",\"endsAt\":\"%s\"", nt->ends);
    sc_text_put(&t, "}]");
    return sc_text_take(&t, len);
}

static void sign(const char *secret, const char *body, size_t len, char *hdr, size_t hlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, md, &mdlen)) {
        hdr[0] = 0;
        return;
    }
    int w = snprintf(hdr, hlen, "X-Ringside-Signature: sha256=");
    for (unsigned i = 0; i < mdlen && (size_t)w + 2 < hlen; i++)
        w += snprintf(hdr + w, hlen - (size_t)w, "%02x", md[i]);
}

static void enqueue(sc_daemon *d, const char *url, char *body, size_t len, const char *sig)
{
    sc_notify_state *q = &d->notify;
    if (!body)
        return;
    if (q->queued == NOTIFY_QUEUE) {   /* the oldest not in flight makes room */
        for (sc_delivery **pp = &q->head; *pp; pp = &(*pp)->next)
            if (!(*pp)->inflight) {
                sc_delivery *old = *pp;
                *pp = old->next;
                free(old->body);
                free(old);
                q->queued--;
                q->dropped++;
                break;
            }
        if (q->queued == NOTIFY_QUEUE) {
            free(body);
            q->dropped++;
            return;
        }
    }
    sc_delivery *dl = calloc(1, sizeof *dl);
    if (!dl) {
        free(body);
        q->dropped++;
        return;
    }
    dl->d = d;
    snprintf(dl->url, sizeof dl->url, "%s", url);
    snprintf(dl->sig, sizeof dl->sig, "%s", sig ? sig : "");
    dl->body = body;
    dl->len = len;
    sc_delivery **tail = &q->head;
    while (*tail)
        tail = &(*tail)->next;
    *tail = dl;
    q->queued++;
    q->due = 0;
}

void sc_notify(sc_daemon *d, const sc_alert_note *n, bool alertmanager_only)
{
    note_text nt;
    iso8601(n->starts_ms, nt.starts, sizeof nt.starts);
    iso8601(n->ends_ms, nt.ends, sizeof nt.ends);
    instance(nt.instance, sizeof nt.instance);
    for (unsigned i = 0; i < d->cfg.n_webhooks && !alertmanager_only; i++) {
        const sc_webhook_cfg *w = &d->cfg.webhooks[i];
        size_t len = 0;
        char *body = webhook_body(n, &nt, &len);
        char sig[sizeof ((sc_delivery *)0)->sig] = "";
        const char *secret = w->secret_env[0] ? sc_secret(w->secret_env) : NULL;
        if (w->secret_env[0] && !secret)
            sc_warn("alerts: webhook %s: $%s is not set: sent unsigned", w->url, w->secret_env);
        if (body && secret)
            sign(secret, body, len, sig, sizeof sig);
        enqueue(d, w->url, body, len, sig);
    }
    if (d->cfg.alertmanager[0]) {
        char url[300];
        snprintf(url, sizeof url, "%s/api/v2/alerts", d->cfg.alertmanager);
        size_t len = 0;
        char *body = alertmanager_body(n, &nt, &len);
        enqueue(d, url, body, len, NULL);
    }
}

static void unlink_free(sc_notify_state *q, sc_delivery *dl)
{
    for (sc_delivery **pp = &q->head; *pp; pp = &(*pp)->next)
        if (*pp == dl) {
            *pp = dl->next;
            break;
        }
    q->queued--;
    free(dl->body);
    free(dl);
}

static void delivered(sc_daemon *d, void *ctx, long status, const char *err)
{
    sc_delivery *dl = ctx;
    sc_notify_state *q = &d->notify;
    dl->inflight = false;
    if (status >= 200 && status < 300) {
        q->sent++;
        unlink_free(q, dl);
        return;
    }
    if (++dl->attempts >= d->cfg.notify_attempts) {
        q->failed++;
        if (status)
            sc_warn("alerts: %s answered HTTP %ld %u times: notification dropped", dl->url, status, dl->attempts);
        else
            sc_warn("alerts: %s: %s (%u attempts): notification dropped", dl->url, err, dl->attempts);
        unlink_free(q, dl);
        return;
    }
    unsigned doublings = dl->attempts - 1 < 16 ? dl->attempts - 1 : 16;
    dl->next_at = rs__now_ns() + ((uint64_t)d->cfg.notify_backoff_ms * 1000000u << doublings);
    q->due = 0;
}

void sc_notify_tick(sc_daemon *d, uint64_t now)
{
    sc_notify_state *q = &d->notify;
    if (now < q->due)
        return;
    q->due = UINT64_MAX;
    for (sc_delivery *dl = q->head; dl; dl = dl->next) {
        if (dl->inflight)
            continue;
        if (dl->next_at > now) {
            if (dl->next_at < q->due)
                q->due = dl->next_at;
            continue;
        }
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        if (dl->sig[0])
            h = curl_slist_append(h, dl->sig);
        dl->inflight = sc_side_request(d, "POST", dl->url, h, dl->body, dl->len, NOTIFY_TIMEOUT_MS, NULL,
                                       delivered, dl) == 0;
        if (!dl->inflight) {   /* out of memory: the next tick tries again */
            dl->next_at = now + 1000000000ull;
            if (dl->next_at < q->due)
                q->due = dl->next_at;
        }
    }
}

void sc_notify_destroy(sc_daemon *d)
{
    sc_notify_state *q = &d->notify;
    while (q->head) {
        sc_delivery *dl = q->head;
        q->head = dl->next;
        free(dl->body);
        free(dl);
    }
    q->queued = 0;
}
