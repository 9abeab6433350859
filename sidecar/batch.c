/*
 * batch.c — see batch.h. The body is parsed once with yajl's tree parser
 * (after a streaming pass has bounded its depth) and each item turned into
 * a chat body at once; items then go through admission like any front-door
 * request, at most batch.concurrency of one batch in flight, in order.
 * An item its key's limits refuse for now waits for them (the batch is the
 * caller's way of saying "as fast as I am allowed"); an item refused for
 * good, or failed upstream, ends with its status: partial failure is normal.
 */
#include "batch.h"

#include "admission.h"
#include "body_json.h"
#include "log.h"
#include "outbox.h"
#include "ringside.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

enum item_state { IT_WAITING, IT_FLYING, IT_DONE };

typedef struct item {
    door_origin origin;           /* first: r->origin points here */
    sc_batch *b;
    enum item_state state;
    uint8_t *body;                /* its chat body until it is sent */
    size_t len;
    sc_req *r;                    /* in flight */
    uint64_t not_before;          /* its key's limits asked it to wait */
    unsigned status;
    char *result;                 /* "response":{..} or "error":{..} */
} item;

struct sc_batch {
    sc_batch *next;
    sc_batches *bs;
    sc_daemon *d;
    sc_vkey *key;
    char id[48];
    bool async, attached;
    uint32_t priority, timeout_ms;
    unsigned n, started, flying, done, failed;
    uint64_t ended_at;            /* ns; 0 while items are open */
    void (*on_done)(void *);
    void *ctx;
    item items[];
};

/* ------------------------------------------------------------ building */

/* s as the inside of a JSON string (no quotes). */
static void put_escaped(sc_text *t, const char *s)
{
    sc_text inner = { 0 };
    sc_text_json_str(&inner, s);
    size_t n = 0;
    char *q = sc_text_take(&inner, &n);
    if (!q) {
        t->failed = true;
        return;
    }
    q[n - 1] = 0;
    sc_text_put(t, q + 1);
    free(q);
}

static void fill_template(sc_text *t, const char *tpl, const char *query, const char *context)
{
    for (const char *p = tpl; *p;) {
        if (strncmp(p, "{{query}}", 9) == 0) {
            put_escaped(t, query);
            p += 9;
        } else if (strncmp(p, "{{context}}", 11) == 0) {
            put_escaped(t, context);
            p += 11;
        } else {
            const char *next = strstr(p, "{{");
            size_t n = next ? (size_t)(next - p) + (next == p) : strlen(p);
            sc_text_printf(t, "%.*s", (int)n, p);
            p += n;
        }
    }
}

static void gen_value(yajl_gen g, yajl_val v)
{
    switch (v->type) {
    case yajl_t_string:
        yajl_gen_string(g, (const unsigned char *)v->u.string, strlen(v->u.string));
        break;
    case yajl_t_number:
        yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
        break;
    case yajl_t_object:
        yajl_gen_map_open(g);
        for (size_t i = 0; i < v->u.object.len; i++) {
            yajl_gen_string(g, (const unsigned char *)v->u.object.keys[i], strlen(v->u.object.keys[i]));
            gen_value(g, v->u.object.values[i]);
        }
        yajl_gen_map_close(g);
        break;
    case yajl_t_array:
        yajl_gen_array_open(g);
        for (size_t i = 0; i < v->u.array.len; i++)
            gen_value(g, v->u.array.values[i]);
        yajl_gen_array_close(g);
        break;
    case yajl_t_true:
        yajl_gen_bool(g, 1);
        break;
    case yajl_t_false:
        yajl_gen_bool(g, 0);
        break;
    default:
        yajl_gen_null(g);
        break;
    }
}

static void item_fail(item *it, unsigned status, const char *code, const char *msg)
{
    door_http h = { .status = status, .type = "invalid_request_error", .code = code };
    snprintf(h.msg, sizeof h.msg, "%s", msg);
    sc_text t = { 0 };
    sc_text_put(&t, "\"error\":");
    sc_door_error_obj(&h, &t);
    it->result = sc_text_take(&t, NULL);
    it->status = status;
    it->state = IT_DONE;
    it->b->done++;
    it->b->failed++;
}

/* One item of the array into its chat body, or a failed item. */
static void build_item(item *it, yajl_val v, const char *tpl)
{
    if (!YAJL_IS_OBJECT(v)) {
        item_fail(it, 400, "bad_item", "an item must be a JSON object: a chat body, or {\"query\", \"context\"}");
        return;
    }
    const char *qpath[] = { "query", NULL }, *cpath[] = { "context", NULL }, *spath[] = { "stream", NULL };
    yajl_val q = yajl_tree_get(v, qpath, yajl_t_any), c = yajl_tree_get(v, cpath, yajl_t_any);
    if (YAJL_IS_TRUE(yajl_tree_get(v, spath, yajl_t_any))) {
        item_fail(it, 400, "bad_item", "a batch item cannot be a stream (\"stream\": true)");
        return;
    }
    sc_text t = { 0 };
    if (q) {
        if (!YAJL_IS_STRING(q) || (c && !YAJL_IS_STRING(c) && !YAJL_IS_ARRAY(c))) {
            item_fail(it, 400, "bad_item", "\"query\" must be a string, \"context\" a string or a list of strings");
            return;
        }
        sc_text ctx = { 0 };
        sc_text_put(&ctx, "");
        if (YAJL_IS_STRING(c))
            sc_text_put(&ctx, c->u.string);
        for (size_t i = 0; YAJL_IS_ARRAY(c) && i < c->u.array.len; i++) {
            const char *s = YAJL_GET_STRING(c->u.array.values[i]);
            if (!s) {
                sc_text_free(&ctx);
                item_fail(it, 400, "bad_item", "\"context\" must be a string or a list of strings");
                return;
            }
            sc_text_printf(&ctx, "%s%s", i ? "\n\n" : "", s);
        }
        char *cs = sc_text_take(&ctx, NULL);
        fill_template(&t, tpl, q->u.string, cs ? cs : "");
        free(cs);
    } else {
        yajl_gen g = yajl_gen_alloc(NULL);
        const unsigned char *buf;
        size_t blen;
        if (g) {
            gen_value(g, v);
            if (yajl_gen_get_buf(g, &buf, &blen) == yajl_gen_status_ok)
                sc_text_printf(&t, "%.*s", (int)blen, (const char *)buf);
            yajl_gen_free(g);
        } else {
            t.failed = true;
        }
    }
    it->body = (uint8_t *)sc_text_take(&t, &it->len);
    if (!it->body)
        item_fail(it, 503, "out_of_memory", "sidecar out of memory building this item");
}

/* ------------------------------------------------------------ answers */

static void batch_free(sc_batch *b)
{
    for (unsigned i = 0; i < b->n; i++) {
        free(b->items[i].body);
        free(b->items[i].result);
    }
    free(b);
}

static void unlink_batch(sc_batches *bs, sc_batch *b)
{
    for (sc_batch **pp = &bs->head; *pp; pp = &(*pp)->next)
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    if (b->async)
        bs->kept--;
    b->key->pins--;
}

static void on_answer(door_origin *o, sc_completion *cp)
{
    item *it = (item *)o;
    sc_batch *b = it->b;
    door_http h;
    sc_door_http_of(cp, &h);
    sc_text t = { 0 };
    if (h.upstream_body && sc_body_is_json(cp->body, cp->body_len)) {
        sc_text_printf(&t, "\"response\":%.*s", (int)cp->body_len, (const char *)cp->body);
    } else if (h.upstream_body) {
        char *s = strndup(cp->body ? (const char *)cp->body : "", cp->body_len);
        sc_text_put(&t, "\"body\":");
        sc_text_json_str(&t, s ? s : "");
        free(s);
    } else {
        sc_text_put(&t, "\"error\":");
        sc_door_error_obj(&h, &t);
    }
    sc_completion_free(cp);
    it->result = sc_text_take(&t, NULL);
    it->status = h.status;
    it->state = IT_DONE;
    it->r = NULL;
    b->flying--;
    b->done++;
    b->failed += h.status >= 400;
    b->bs->pump_due = true;
    if (b->done == b->n) {
        b->ended_at = b->d->now ? b->d->now : 1;
        if (b->attached && b->on_done)
            b->on_done(b->ctx);
    }
}

static int on_chunk(door_origin *o, const void *data, size_t len)
{
    (void)o, (void)data, (void)len;
    return 0;   /* never a stream */
}

/* -------------------------------------------------------------- public */

sc_batch *sc_batch_start(sc_batches *bs, sc_daemon *d, sc_vkey *k, uint8_t *body, size_t len, uint32_t priority,
                         uint32_t timeout_ms, bool async, void (*on_done)(void *), void *ctx, door_http *why)
{
    const sc_front_door_cfg *cfg = &d->cfg.door;
    memset(why, 0, sizeof *why);
    why->status = 400;
    why->type = "invalid_request_error";
    why->code = "bad_batch";
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    uint8_t *nul = len && body[i] == '[' && sc_body_is_json(body, len) ? realloc(body, len + 1) : NULL;
    if (!nul) {
        free(body);
        snprintf(why->msg, sizeof why->msg, "the body must be a JSON array of items (at most %d levels deep)",
                 SC_BODY_MAX_DEPTH);
        return NULL;
    }
    body = nul;
    body[len] = 0;
    char err[128];
    yajl_val root = yajl_tree_parse((const char *)body, err, sizeof err);
    free(body);
    if (!YAJL_IS_ARRAY(root) || root->u.array.len == 0 || root->u.array.len > cfg->batch_max_items) {
        snprintf(why->msg, sizeof why->msg, "a batch is a JSON array of 1 to %u items (batch.max_items)",
                 cfg->batch_max_items);
        yajl_tree_free(root);
        return NULL;
    }
    if (async && bs->kept >= cfg->batch_max_kept) {
        /* make room: the oldest finished one goes first */
        sc_batch *old = NULL;
        for (sc_batch *b = bs->head; b; b = b->next)
            if (b->async && b->ended_at && (!old || b->ended_at < old->ended_at))
                old = b;
        if (!old) {
            yajl_tree_free(root);
            *why = (door_http){ .status = 429, .type = "rate_limit_error", .code = "too_many_batches",
                                .retry_after_s = 10 };
            snprintf(why->msg, sizeof why->msg, "%u asynchronous batches are running (batch.max_kept)",
                     cfg->batch_max_kept);
            return NULL;
        }
        unlink_batch(bs, old);
        batch_free(old);
    }
    unsigned n = (unsigned)root->u.array.len;
    sc_batch *b = calloc(1, sizeof *b + n * sizeof(item));
    if (!b) {
        yajl_tree_free(root);
        *why = (door_http){ .status = 503, .type = "server_error", .code = "out_of_memory", .retry_after_s = 1 };
        snprintf(why->msg, sizeof why->msg, "sidecar out of memory for the batch");
        return NULL;
    }
    b->bs = bs;
    b->d = d;
    b->key = k;
    k->pins++;
    b->n = n;
    b->async = async;
    b->attached = !async;
    b->priority = priority;
    b->timeout_ms = timeout_ms;
    b->on_done = on_done;
    b->ctx = ctx;
    unsigned char rnd[12];
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
        memset(rnd, 0, sizeof rnd);
    int o = snprintf(b->id, sizeof b->id, "batch_");
    for (size_t j = 0; j < sizeof rnd; j++)
        o += snprintf(b->id + o, sizeof b->id - (size_t)o, "%02x", rnd[j]);
    for (unsigned j = 0; j < n; j++) {
        item *it = &b->items[j];
        it->b = b;
        it->origin.answer = on_answer;
        it->origin.chunk = on_chunk;
        build_item(it, root->u.array.values[j], cfg->batch_template);
    }
    yajl_tree_free(root);
    b->next = bs->head;
    bs->head = b;
    bs->kept += async;
    if (b->done == b->n)
        b->ended_at = d->now ? d->now : 1;
    bs->pump_due = true;
    sc_batches_tick(bs, d->now);
    return b;
}

bool sc_batch_done(const sc_batch *b)
{
    return b->done == b->n;
}

char *sc_batch_json(const sc_batch *b, bool results, size_t *len)
{
    sc_text t = { 0 };
    sc_text_printf(&t, "{\"id\":\"%s\",\"object\":\"batch\",\"status\":\"%s\",\"total\":%u,\"completed\":%u,"
                       "\"failed\":%u", b->id, b->done == b->n ? "completed" : "in_progress", b->n, b->done,
                   b->failed);
    if (results) {
        sc_text_put(&t, ",\"results\":[");
        for (unsigned i = 0; i < b->n; i++) {
            const item *it = &b->items[i];
            if (it->state == IT_DONE)
                sc_text_printf(&t, "%s{\"index\":%u,\"state\":\"done\",\"status\":%u,%s}", i ? "," : "", i,
                               it->status, it->result ? it->result : "\"error\":null");
            else
                sc_text_printf(&t, "%s{\"index\":%u,\"state\":\"pending\"}", i ? "," : "", i);
        }
        sc_text_put(&t, "]");
    }
    sc_text_put(&t, "}\n");
    return sc_text_take(&t, len);
}

void sc_batch_detach(sc_batches *bs, sc_batch *b)
{
    if (b->async)
        return;
    b->attached = false;
    /* the caller has its answer or is gone: nothing is left to wait for */
    for (unsigned i = 0; i < b->n; i++) {
        item *it = &b->items[i];
        if (it->state == IT_FLYING) {
            sc_req *r = it->r;
            sc_admission_forget(b->d, r);
            sc_req_finish(r, sc_completion_new(r->id, RS_ECANCELLED, 0, "the batch's caller closed its connection"),
                          b->d->now);
        }
    }
    unlink_batch(bs, b);
    batch_free(b);
}

sc_batch *sc_batch_find(sc_batches *bs, const sc_vkey *k, const char *id)
{
    for (sc_batch *b = bs->head; b; b = b->next)
        if (b->async && b->key == k && strcmp(b->id, id) == 0)
            return b;
    return NULL;
}

static void pump(sc_batch *b, uint64_t now)
{
    uint32_t most = b->d->cfg.door.batch_concurrency;
    while (b->flying < most && b->started < b->n && b->d->state == SC_RUNNING) {
        item *it = &b->items[b->started];
        if (it->state == IT_DONE) {
            b->started++;
            continue;
        }
        if (it->not_before > now)
            return;   /* in order: the rest wait behind it */
        sc_body_req scan;
        sc_body_scan_request(it->body, it->len, &scan);
        door_call call = { .key = b->key, .method = "POST", .path = "/v1/chat/completions", .route = "",
                           .priority = b->priority, .timeout_ms = b->timeout_ms, .body = it->body,
                           .len = it->len, .scan = &scan, .req = &it->r };
        door_http why;
        it->state = IT_FLYING;
        b->flying++;
        if (sc_door_submit(b->d, &call, &it->origin, now, &why) == 0) {
            it->body = NULL;   /* the request's now */
            b->started++;
            continue;
        }
        b->flying--;
        it->state = IT_WAITING;
        if (why.status == 429 && why.retry_after_s) {
            it->not_before = now + sc_ms(100);   /* its key's limit: look again soon */
            return;
        }
        item_fail(it, why.status, why.code, why.msg);
        b->started++;
    }
}

void sc_batches_tick(sc_batches *bs, uint64_t now)
{
    bs->pump_due = false;
    for (sc_batch *b = bs->head, *next; b; b = next) {
        next = b->next;
        uint64_t keep = sc_ms(b->d->cfg.door.batch_keep_ms);
        if (b->async && b->ended_at && now - b->ended_at > keep) {
            unlink_batch(bs, b);
            batch_free(b);
            continue;
        }
        pump(b, now);
    }
}

uint64_t sc_batches_open(const sc_batches *bs)
{
    uint64_t n = 0;
    for (const sc_batch *b = bs->head; b; b = b->next)
        n += b->n - b->done;
    return n;
}

void sc_batches_destroy(sc_batches *bs)
{
    while (bs->head) {
        sc_batch *b = bs->head;
        bs->head = b->next;
        b->key->pins--;
        batch_free(b);
    }
    bs->kept = 0;
}
