/*
 * sse.c — incremental text/event-stream parser (see sse.h for the rules).
 *
 * The parser is a small state machine over the bytes of one line, so a line
 * may be cut anywhere between feeds:
 *
 *   ST_NAME    reading the field name (kept in name[], at most 5 bytes:
 *              a longer name cannot be "data" or "event", so the line is
 *              skipped from then on without storing anything)
 *   ST_COMMENT the line began with ':'; skipped, counted at its end
 *   ST_SKIP    an ignored field (id, retry, unknown); skipped
 *   ST_SPACE   just after the ':' of data/event: one ' ' is dropped
 *   ST_VALUE   storing the value of a data/event line
 *
 * Buffer layout (cap bytes, usable = cap - 1):
 *
 *   [0, data_len)                   data of the current event, lines + '\n'
 *   [data_len, data_len + val_len)  value of the line under construction
 *   [usable - ev_len, usable)       event name
 *   buf[usable] = '\0'
 *
 * A data value is written right where it will stay, so ending a data line
 * costs one '\n' and no copy. The event name lives at the far end because
 * it is set rarely and would otherwise have to move on every data line; it
 * moves only when the buffer grows or a new "event:" line ends. The fixed
 * NUL after it and the '\0' written over the data's final '\n' at dispatch
 * give the callback two C strings for free.
 *
 * Accounting: data_len + val_len + ev_len (+ 1 for the '\n' a data line in
 * progress will need) never exceeds limit = max_event_bytes + 1; the "+ 1"
 * is the data's final '\n', which is not part of the dispatched event. An
 * "event:" line drops the old name as soon as its ':' is seen (the line
 * replaces it whatever its value), so the old name is never counted twice.
 */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

enum { ST_NAME, ST_COMMENT, ST_SKIP, ST_SPACE, ST_VALUE };
enum { F_NONE, F_DATA, F_EVENT };

#define SSE_INITIAL_USABLE 1024u

static const unsigned char BOM[3] = { 0xEF, 0xBB, 0xBF };

static size_t usable(const rsp_sse *p) { return p->cap - 1; }

static int fail(rsp_sse *p, int err)
{
    p->failed = err;
    return err;
}

/* Ensure room for `extra` more bytes in the pending value (plus the '\n' a
 * data line will need), within the limit; grow the buffer if needed. */
static int reserve(rsp_sse *p, size_t extra)
{
    if (p->field == F_DATA)
        extra++;   /* the '\n' that will end this data line */
    size_t used = p->data_len + p->val_len + p->ev_len;
    if (extra > p->limit - used)
        return fail(p, RS_E2BIG);
    size_t need = used + extra;
    if (need <= usable(p))
        return 0;

    size_t old_usable = usable(p);
    size_t nu = old_usable * 2;
    if (nu < need)
        nu = need;
    if (nu > p->limit)
        nu = p->limit;
    char *nb = realloc(p->buf, nu + 1);
    if (!nb)
        return fail(p, RS_ENOMEM);
    /* the name stays at the end of the (now larger) buffer */
    memmove(nb + nu - p->ev_len, nb + old_usable - p->ev_len, p->ev_len);
    nb[nu] = '\0';
    p->buf = nb;
    p->cap = nu + 1;
    return 0;
}

static int field_of(const char *name, size_t len)
{
    if (len == 4 && memcmp(name, "data", 4) == 0)
        return F_DATA;
    if (len == 5 && memcmp(name, "event", 5) == 0)
        return F_EVENT;
    return F_NONE;
}

static void clear_line(rsp_sse *p)
{
    p->state = ST_NAME;
    p->field = F_NONE;
    p->name_len = 0;
    p->val_len = 0;
}

static int dispatch(rsp_sse *p)
{
    if (p->data_len == 0) {
        p->ev_len = 0;   /* a name without data is dropped with the event */
        return 0;
    }
    size_t dlen = p->data_len - 1;
    p->buf[dlen] = '\0';                        /* was the final '\n' */
    const char *ev = p->buf + usable(p) - p->ev_len;
    size_t elen = p->ev_len;
    p->data_len = 0;
    p->ev_len = 0;
    p->events++;
    /* State is already clean for the next event, so a callback that stops
     * the feed leaves the parser resumable. */
    return p->fn(p->ctx, ev, elen, p->buf, dlen);
}

/* The current line has ended (its terminator already consumed). */
static int end_line(rsp_sse *p)
{
    int rc = 0;
    switch (p->state) {
    case ST_NAME:
        if (p->name_len == 0) {
            rc = dispatch(p);                   /* blank line */
            break;
        }
        /* a field with no ':' has an empty value */
        p->field = (unsigned char)field_of(p->name, p->name_len);
        if (p->field == F_EVENT)
            p->ev_len = 0;
        /* fall through */
    case ST_SPACE:
    case ST_VALUE:
        if (p->field == F_DATA) {
            rc = reserve(p, 0);                 /* the '\n' */
            if (rc)
                return rc;
            p->buf[p->data_len + p->val_len] = '\n';
            p->data_len += p->val_len + 1;
        } else if (p->field == F_EVENT) {
            /* reserve() kept data_len + val_len <= usable, so the name's
             * new place never overlaps the data; memmove for the value */
            memmove(p->buf + usable(p) - p->val_len, p->buf + p->data_len, p->val_len);
            p->ev_len = p->val_len;
        }
        break;
    case ST_COMMENT:
        p->comments++;
        break;
    default:
        break;
    }
    clear_line(p);
    return rc;
}

/* Offset of the first '\r' or '\n' in s[0, n), or n. */
static size_t find_eol(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != '\n' && s[i] != '\r')
        i++;
    return i;
}

/* Parse n bytes (no BOM handling). *used gets the bytes consumed. */
static int parse(rsp_sse *p, const unsigned char *s, size_t n, size_t *used)
{
    size_t i = 0;
    int rc = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (p->after_cr) {
            p->after_cr = 0;
            if (c == '\n') {                   /* second half of "\r\n" */
                i++;
                continue;
            }
        }
        if (c == '\r' || c == '\n') {
            i++;
            p->after_cr = c == '\r';
            rc = end_line(p);
            if (rc)
                break;
            continue;
        }
        switch (p->state) {
        case ST_NAME:
            i++;
            if (c == ':') {
                if (p->name_len == 0) {
                    p->state = ST_COMMENT;
                    break;
                }
                p->field = (unsigned char)field_of(p->name, p->name_len);
                if (p->field == F_NONE) {
                    p->state = ST_SKIP;
                    break;
                }
                if (p->field == F_EVENT)
                    p->ev_len = 0;
                p->state = ST_SPACE;
            } else if (p->name_len == sizeof p->name) {
                p->state = ST_SKIP;            /* longer than any field we keep */
            } else {
                p->name[p->name_len++] = (char)c;
            }
            break;
        case ST_SPACE:
            p->state = ST_VALUE;
            if (c == ' ')
                i++;
            break;
        case ST_VALUE: {
            size_t k = find_eol(s + i, n - i);
            rc = reserve(p, k);
            if (rc)
                goto out;
            memcpy(p->buf + p->data_len + p->val_len, s + i, k);
            p->val_len += k;
            i += k;
            break;
        }
        default:                               /* ST_COMMENT, ST_SKIP */
            i += find_eol(s + i, n - i);
            break;
        }
    }
out:
    *used = i;
    return rc;
}

int rsp_sse_init(rsp_sse *p, size_t max_event_bytes, rsp_sse_event_fn fn, void *ctx)
{
    if (!p)
        return RS_EINVAL;
    memset(p, 0, sizeof *p);
    if (!fn || max_event_bytes == 0)
        return RS_EINVAL;
    /* keeps limit + 1 and the doubling in reserve() far from overflow */
    if (max_event_bytes > SIZE_MAX / 4)
        max_event_bytes = SIZE_MAX / 4;
    p->limit = max_event_bytes + 1;
    size_t u = p->limit < SSE_INITIAL_USABLE ? p->limit : SSE_INITIAL_USABLE;
    p->buf = malloc(u + 1);
    if (!p->buf)
        return RS_ENOMEM;
    p->cap = u + 1;
    p->buf[u] = '\0';
    p->fn = fn;
    p->ctx = ctx;
    return 0;
}

void rsp_sse_destroy(rsp_sse *p)
{
    if (!p)
        return;
    free(p->buf);
    p->buf = NULL;
    p->cap = 0;
}

int rsp_sse_feed(rsp_sse *p, const void *buf, size_t len)
{
    if (p->failed)
        return p->failed;
    const unsigned char *s = buf;
    size_t used = 0;
    int rc = 0;

    /* The BOM may be cut across feeds: match it byte by byte. On a mismatch
     * the bytes matched so far were content after all: replay them (they
     * are BOM's own prefix, so no copy of them had to be kept). */
    while (p->bom < 3 && used < len) {
        if (s[used] == BOM[p->bom]) {
            p->bom++;
            used++;
            continue;
        }
        size_t k = p->bom, done;
        p->bom = 3;
        /* "\xEF\xBB" holds no line end, so this cannot dispatch or stop */
        rc = parse(p, BOM, k, &done);
        if (rc) {
            p->bytes += used;
            return rc;
        }
    }
    p->bytes += used;
    if (used == len)
        return 0;

    size_t done = 0;
    rc = parse(p, s + used, len - used, &done);
    p->bytes += done;
    return rc;
}

int rsp_sse_finish(rsp_sse *p)
{
    p->data_len = 0;
    p->ev_len = 0;
    p->after_cr = 0;
    p->bom = 0;
    clear_line(p);
    return 0;
}

void rsp_sse_reset(rsp_sse *p)
{
    rsp_sse_finish(p);
    p->events = 0;
    p->comments = 0;
    p->bytes = 0;
    p->failed = 0;
}

uint64_t rsp_sse_events(const rsp_sse *p) { return p->events; }
uint64_t rsp_sse_comments(const rsp_sse *p) { return p->comments; }
uint64_t rsp_sse_bytes(const rsp_sse *p) { return p->bytes; }
size_t rsp_sse_buffer_bytes(const rsp_sse *p) { return p->cap; }
