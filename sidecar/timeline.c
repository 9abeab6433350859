/*
 * timeline.c — see timeline.h.
 *
 * The file is the post-mortem's record: one JSON object per line,
 * appended with O_APPEND (a line per event, written whole by one write),
 * so it survives restarts and can be shipped as it is. Events are rare
 * (state changes, not requests): the write is on the loop, and a failing
 * disk costs one warning, never the sidecar. At start the last events of
 * the file are read back (with yajl), so /events shows what happened
 * before the restart too.
 */
#include "timeline.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#define RELOAD_BYTES (512u * 1024u)   /* of the file's end read back at start */

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void keep(sc_timeline *t, const sc_event *e)
{
    t->ev[t->head] = *e;
    t->head = (t->head + 1) % t->cap;
    if (t->n < t->cap)
        t->n++;
}

static void copy_field(char *dst, size_t len, yajl_val root, const char *key)
{
    const char *path[] = { key, NULL };
    yajl_val v = yajl_tree_get(root, path, yajl_t_string);
    snprintf(dst, len, "%s", v ? YAJL_GET_STRING(v) : "");
}

/* One line of the file back into an event; false if it is not one. */
static bool parse_line(const char *line, sc_event *e)
{
    char err[64];
    yajl_val root = yajl_tree_parse(line, err, sizeof err);
    if (!root)
        return false;
    const char *ms_path[] = { "ms", NULL };
    yajl_val ms = yajl_tree_get(root, ms_path, yajl_t_number);
    bool ok = ms && YAJL_IS_INTEGER(ms) && YAJL_GET_INTEGER(ms) > 0;
    if (ok) {
        e->ms = (uint64_t)YAJL_GET_INTEGER(ms);
        copy_field(e->kind, sizeof e->kind, root, "kind");
        copy_field(e->route, sizeof e->route, root, "route");
        copy_field(e->msg, sizeof e->msg, root, "msg");
        const char *tr_path[] = { "trouble", NULL };
        e->trouble = YAJL_IS_TRUE(yajl_tree_get(root, tr_path, yajl_t_true));
    }
    yajl_tree_free(root);
    return ok;
}

static void reload(sc_timeline *t)
{
    struct stat st;
    if (fstat(t->fd, &st) < 0 || st.st_size == 0)
        return;
    off_t from = st.st_size > (off_t)RELOAD_BYTES ? st.st_size - (off_t)RELOAD_BYTES : 0;
    size_t len = (size_t)(st.st_size - from);
    char *buf = malloc(len + 1);
    if (!buf)
        return;
    ssize_t got = pread(t->fd, buf, len, from);
    if (got > 0) {
        buf[got] = 0;
        char *line = buf;
        if (from > 0) {   /* the first line is cut: skip it */
            char *nl = strchr(buf, '\n');
            line = nl ? nl + 1 : buf + got;
        }
        for (char *nl; *line; line = nl + 1) {
            nl = strchr(line, '\n');
            if (!nl)
                break;   /* a last line without its newline was cut short by a crash */
            *nl = 0;
            sc_event e;
            if (parse_line(line, &e))
                keep(t, &e);
        }
    }
    free(buf);
}

int sc_timeline_open(sc_timeline *t, const char *path, unsigned keep_n)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    t->cap = keep_n ? keep_n : 1;
    t->ev = calloc(t->cap, sizeof *t->ev);
    if (!t->ev)
        return -ENOMEM;
    if (!path[0])
        return 0;
    snprintf(t->path, sizeof t->path, "%s", path);
    t->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (t->fd < 0)
        return -errno;
    reload(t);
    return 0;
}

void sc_timeline_close(sc_timeline *t)
{
    if (t->fd >= 0)
        close(t->fd);
    free(t->ev);
    memset(t, 0, sizeof *t);
    t->fd = -1;
}

static void event_json(const sc_event *e, sc_text *out)
{
    time_t s = (time_t)(e->ms / 1000u);
    struct tm tm;
    gmtime_r(&s, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    sc_text_printf(out, "{\"ts\":\"%s.%03uZ\",\"ms\":%llu,\"kind\":", ts, (unsigned)(e->ms % 1000u),
                   (unsigned long long)e->ms);
    sc_text_json_str(out, e->kind);
    sc_text_put(out, ",\"route\":");
    sc_text_json_str(out, e->route);
    sc_text_put(out, ",\"msg\":");
    sc_text_json_str(out, e->msg);
    sc_text_printf(out, ",\"trouble\":%s}", e->trouble ? "true" : "false");
}

void sc_timeline_add(sc_timeline *t, bool trouble, const char *kind, const char *route, const char *fmt, ...)
{
    sc_event e = { .ms = wall_ms(), .trouble = trouble };
    snprintf(e.kind, sizeof e.kind, "%s", kind);
    snprintf(e.route, sizeof e.route, "%s", route ? route : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    sc_log(trouble ? SC_WARN : SC_INFO, "%s", e.msg);
    if (!t->ev)
        return;   /* before the daemon opened it (or after it closed it) */
    keep(t, &e);
    if (t->fd < 0)
        return;
    sc_text line = { 0 };
    event_json(&e, &line);
    sc_text_put(&line, "\n");
    size_t len = 0;
    char *buf = sc_text_take(&line, &len);
    if (buf && write(t->fd, buf, len) != (ssize_t)len && !t->write_failed) {
        t->write_failed = true;
        sc_warn("timeline: cannot append to %s: %s; events are kept in memory only", t->path,
                strerror(errno));
    }
    free(buf);
}

void sc_timeline_json(const sc_timeline *t, uint64_t since_ms, sc_text *out)
{
    sc_text_put(out, "[");
    bool first = true;
    for (unsigned i = 0; i < t->n; i++) {
        const sc_event *e = &t->ev[(t->head + t->cap - t->n + i) % t->cap];
        if (e->ms < since_ms)
            continue;
        if (!first)
            sc_text_put(out, ",");
        first = false;
        event_json(e, out);
    }
    sc_text_put(out, "]");
}
