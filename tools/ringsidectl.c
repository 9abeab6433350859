/*
 * ringsidectl.c — `ringsidectl`: the operator's view of a running
 * ringsided through its admin listener (the HTTP API, nothing else): a
 * live status view that refreshes in place like varnishstat, the route
 * table, the incident timeline as text or as a Markdown post-mortem, and
 * the admin actions (reload, emergency mode).
 *
 * It reads the same documents as the /status page (/api/status, /events)
 * and computes the same figures: rates are differences between two reads
 * of the sidecar's totals, timed by the sidecar's own uptime, so the first
 * frame shows averages since the start. JSON is parsed with yajl's tree
 * API; HTTP is one libcurl easy handle, kept alive across the live view's
 * polls. The live view is plain ANSI (home, clear to end of line and of
 * screen): no curses, and `--once` prints one frame with no escape codes
 * at all, for scripts and tests.
 */
#include <curl/curl.h>
#include <yajl/yajl_tree.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ADMIN "http://127.0.0.1:9464"
#define LIVE_EVENTS 10   /* timeline lines in the status view */

static const char *admin_url = DEFAULT_ADMIN;
static CURL *curl;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ringsidectl [--admin URL] COMMAND [options]\n"
        "  --admin URL           the sidecar's admin listener (default: $RINGSIDE_ADMIN or " DEFAULT_ADMIN ")\n"
        "commands:\n"
        "  status [--once]       live view, refreshed every second (--once: one frame, no escape codes)\n"
        "  routes                the route table\n"
        "  events [--since T]    the incident timeline, oldest first (default: every event kept)\n"
        "  timeline --since T [--markdown]\n"
        "                        the timeline of a period; --markdown: a post-mortem document\n"
        "  reload                reload the sidecar's configuration (POST /admin/reload)\n"
        "  emergency on|off      enter or leave emergency mode (POST /admin/emergency)\n"
        "  metrics               the Prometheus page, as it is\n"
        "T: a duration back from now (90s, 15m, 1h, 2d, 1h30m), a UTC time in ISO 8601\n"
        "   (2026-12-02T16:00:00Z, 2026-12-02 16:00, +hh:mm offsets taken), or Unix milliseconds\n");
}

/* ------------------------------------------------------------- HTTP */

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    buf *b = arg;
    size_t len = size * nmemb;
    char *p = realloc(b->p, b->n + len + 1);
    if (!p)
        return 0;   /* libcurl fails the transfer */
    memcpy(p + b->n, data, len);
    b->n += len;
    p[b->n] = 0;
    b->p = p;
    return len;
}

/* METHOD ADMIN_URL/path into body (0-terminated) and status. On a
 * transfer that fails (nothing listening, a timeout) it says where it
 * tried and how to point either side elsewhere, and returns -1. */
static int http(const char *method, const char *path, buf *body, long *status)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", admin_url, path);
    body->p = NULL;
    body->n = 0;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_POST, strcmp(method, "POST") == 0 ? 1L : 0L);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    else
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        fprintf(stderr,
                "ringsidectl: cannot reach the admin listener at %s: %s\n"
                "  Is ringsided running, with its admin listener at that address? The sidecar listens where\n"
                "  admin.listen (--admin-listen) says, 127.0.0.1:9464 by default ('off' turns it off);\n"
                "  point ringsidectl at it with --admin URL or $RINGSIDE_ADMIN.\n",
                admin_url, curl_easy_strerror(rc));
        free(body->p);
        body->p = NULL;
        return -1;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    if (!body->p)
        body->p = calloc(1, 1);
    return body->p ? 0 : -1;
}

/* GET a JSON document; NULL after saying why. */
static yajl_val get_json(const char *path)
{
    buf b;
    long status = 0;
    if (http("GET", path, &b, &status) < 0)
        return NULL;
    if (status != 200) {
        fprintf(stderr, "ringsidectl: GET %s%s: HTTP %ld: %s", admin_url, path, status, b.p);
        free(b.p);
        return NULL;
    }
    char err[256];
    yajl_val v = yajl_tree_parse(b.p, err, sizeof err);
    if (!v)
        fprintf(stderr, "ringsidectl: GET %s%s: not JSON (%s): is that a ringside admin listener?\n", admin_url,
                path, err);
    free(b.p);
    return v;
}

/* ------------------------------------------------------------- JSON */

static yajl_val jget(yajl_val v, const char *key)
{
    const char *path[] = { key, NULL };
    return yajl_tree_get(v, path, yajl_t_any);
}

static double jnum(yajl_val v, const char *key)
{
    yajl_val x = jget(v, key);
    return YAJL_IS_NUMBER(x) ? YAJL_GET_DOUBLE(x) : 0;
}

static uint64_t jint(yajl_val v, const char *key)
{
    yajl_val x = jget(v, key);
    return YAJL_IS_INTEGER(x) && YAJL_GET_INTEGER(x) > 0 ? (uint64_t)YAJL_GET_INTEGER(x) : 0;
}

static const char *jstr(yajl_val v, const char *key)
{
    yajl_val x = jget(v, key);
    return YAJL_IS_STRING(x) ? YAJL_GET_STRING(x) : "";
}

static bool jtrue(yajl_val v, const char *key)
{
    return YAJL_IS_TRUE(jget(v, key));
}

/* ------------------------------------------------------------ tables */

#define MAX_COLS 16

/* Rows of text cells printed in aligned columns; alignment per column,
 * 'l' or 'r'; the last column is never padded. */
typedef struct table {
    unsigned ncol, nrow;
    const char *align;
    char **cell;
} table;

static void tab_row(table *t, ...)
{
    char **c = realloc(t->cell, (size_t)(t->nrow + 1) * t->ncol * sizeof *c);
    if (!c)
        return;
    t->cell = c;
    va_list ap;
    va_start(ap, t);
    for (unsigned i = 0; i < t->ncol; i++) {
        const char *s = va_arg(ap, const char *);
        c[t->nrow * t->ncol + i] = strdup(s ? s : "");
    }
    va_end(ap);
    t->nrow++;
}

static void tab_print(table *t, FILE *f)
{
    size_t w[MAX_COLS] = { 0 };
    for (unsigned r = 0; r < t->nrow; r++)
        for (unsigned i = 0; i < t->ncol; i++) {
            const char *s = t->cell[r * t->ncol + i];
            size_t n = s ? strlen(s) : 0;
            w[i] = n > w[i] ? n : w[i];
        }
    for (unsigned r = 0; r < t->nrow; r++) {
        for (unsigned i = 0; i < t->ncol; i++) {
            const char *s = t->cell[r * t->ncol + i];
            s = s ? s : "";
            bool last = i + 1 == t->ncol;
            if (last)
                fprintf(f, "%s", s);
            else
                fprintf(f, t->align[i] == 'r' ? "%*s  " : "%-*s  ", (int)w[i], s);
        }
        fputc('\n', f);
    }
    for (unsigned i = 0; i < t->nrow * t->ncol; i++)
        free(t->cell[i]);
    free(t->cell);
    t->cell = NULL;
    t->nrow = 0;
}

static const char *fmt(char *dst, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static const char *fmt(char *dst, size_t len, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(dst, len, f, ap);
    va_end(ap);
    return dst;
}

/* ------------------------------------------------------------ times */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unix ms → "2026-12-02 16:12:23.495" (UTC); with_ms false drops the ms. */
static const char *utc(char *dst, size_t len, int64_t ms, bool with_ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm);
    if (with_ms)
        snprintf(dst, len, "%s.%03d", day, (int)(ms % 1000));
    else
        snprintf(dst, len, "%s", day);
    return dst;
}

/* "1h30m", "90s", "2d" → ms; -1 if not a duration */
static int64_t parse_duration(const char *s)
{
    int64_t total = 0;
    if (!*s)
        return -1;
    while (*s) {
        if (!isdigit((unsigned char)*s))
            return -1;
        char *end;
        double n = strtod(s, &end);
        int64_t unit;
        if (strncmp(end, "ms", 2) == 0) {
            unit = 1;
            end += 2;
        } else {
            switch (*end) {
            case 's': unit = 1000; break;
            case 'm': unit = 60000; break;
            case 'h': unit = 3600000; break;
            case 'd': unit = 86400000; break;
            case 'w': unit = 7 * 86400000LL; break;
            default: return -1;
            }
            end++;
        }
        total += (int64_t)(n * (double)unit);
        s = end;
    }
    return total;
}

/* ISO 8601 (UTC unless it says otherwise) → Unix ms; -1 if not one */
static int64_t parse_iso(const char *s)
{
    static const char *const forms[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                                         "%Y-%m-%d %H:%M", "%Y-%m-%d" };
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        struct tm tm = { 0 };
        const char *end = strptime(s, forms[i], &tm);
        if (!end)
            continue;
        int64_t ms = (int64_t)timegm(&tm) * 1000;
        if (*end == '.') {   /* fractions of a second: milliseconds kept */
            int64_t scale = 100;
            for (end++; isdigit((unsigned char)*end); end++, scale /= 10)
                ms += scale ? (*end - '0') * scale : 0;
        }
        if (*end == 'Z' || *end == 'z') {
            end++;
        } else if (*end == '+' || *end == '-') {
            int sign = *end == '-' ? -1 : 1, hh = 0, mm = 0;
            if (sscanf(end + 1, "%2d:%2d", &hh, &mm) != 2 && sscanf(end + 1, "%2d%2d", &hh, &mm) < 1)
                continue;
            ms -= sign * ((int64_t)hh * 3600000 + (int64_t)mm * 60000);
            end += strspn(end + 1, "0123456789:") + 1;
        }
        if (!*end)
            return ms;
    }
    return -1;
}

/* --since: a duration back from now, an ISO time, or Unix ms */
static int64_t parse_since(const char *s, int64_t now)
{
    if (*s && strspn(s, "0123456789") == strlen(s))
        return strtoll(s, NULL, 10);
    int64_t d = parse_duration(s);
    if (d >= 0)
        return now - d;
    return parse_iso(s);
}

/* ------------------------------------------------------------ events */

/* Trouble (a breaker opening, an embargo, an alert firing), as the
 * sidecar marked the event, against recoveries and routine. */
static bool trouble(yajl_val e)
{
    return jtrue(e, "trouble");
}

static yajl_val get_events(int64_t since)
{
    char path[64];
    snprintf(path, sizeof path, "/events?since=%" PRId64, since > 0 ? since : 0);
    yajl_val v = get_json(path);
    if (v && !YAJL_IS_ARRAY(v)) {
        fprintf(stderr, "ringsidectl: /events is not a JSON array: is that a ringside admin listener?\n");
        yajl_tree_free(v);
        return NULL;
    }
    return v;
}

static void events_table(yajl_val ev, FILE *f, bool newest_first, size_t max, bool color)
{
    table t = { .ncol = 4, .align = "llll" };
    size_t n = YAJL_GET_ARRAY(ev)->len, from = n > max ? n - max : 0;
    for (size_t k = from; k < n; k++) {
        yajl_val e = YAJL_GET_ARRAY(ev)->values[newest_first ? n - 1 - (k - from) : k];
        char when[40], kind[64];
        const char *kd = jstr(e, "kind");
        if (color && trouble(e))
            fmt(kind, sizeof kind, "\033[1;31m%s\033[0m", kd);
        else
            fmt(kind, sizeof kind, "%s", kd);
        tab_row(&t, utc(when, sizeof when, (int64_t)jint(e, "ms"), true), kind, jstr(e, "route"), jstr(e, "msg"));
    }
    tab_print(&t, f);
}

/* Markdown table cells: a pipe would end the cell, a newline the row. */
static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
}

static int cmd_events(int64_t since, bool period, bool markdown, const char *since_arg)
{
    int64_t now = now_ms();
    yajl_val ev = get_events(since);
    if (!ev)
        return 1;
    size_t n = YAJL_GET_ARRAY(ev)->len;
    char from[40], to[40];
    utc(from, sizeof from, since, false);
    utc(to, sizeof to, now, false);
    if (markdown) {
        unsigned bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += trouble(YAJL_GET_ARRAY(ev)->values[i]);
        printf("# ringside incident timeline\n\n");
        printf("- Period: %s UTC to %s UTC (--since %s)\n", from, to, since_arg);
        printf("- Sidecar: %s\n", admin_url);
        printf("- Events: %zu, %u of them trouble (in bold)\n\n", n, bad);
        if (!n) {
            printf("_No events in this period._\n");
        } else {
            printf("| time (UTC) | kind | route | what happened |\n|---|---|---|---|\n");
            for (size_t i = 0; i < n; i++) {
                yajl_val e = YAJL_GET_ARRAY(ev)->values[i];
                char when[40];
                const char *kind = jstr(e, "kind");
                printf("| %s | %s", utc(when, sizeof when, (int64_t)jint(e, "ms"), true), trouble(e) ? "**" : "");
                md_cell(stdout, kind);
                printf("%s | ", trouble(e) ? "**" : "");
                md_cell(stdout, jstr(e, "route"));
                printf(" | ");
                md_cell(stdout, jstr(e, "msg"));
                printf(" |\n");
            }
        }
    } else {
        if (period)
            printf("timeline from %s UTC to %s UTC: %zu event%s\n", from, to, n, n == 1 ? "" : "s");
        events_table(ev, stdout, false, n, false);
    }
    yajl_tree_free(ev);
    return 0;
}

/* ------------------------------------------------------------ status */

static void routes_table(yajl_val st, FILE *f)
{
    yajl_val rs = jget(st, "routes");
    table t = { .ncol = 13, .align = "lllrrrrlrrrrr" };
    tab_row(&t, "route", "endpoint", "breaker", "weight", "limit", "inflight_P0/P1/P2", "embargo_s", "avoided",
            "first_content_ms", "attempts", "ok", "failed", "rate_limited");
    for (size_t i = 0; YAJL_IS_ARRAY(rs) && i < YAJL_GET_ARRAY(rs)->len; i++) {
        yajl_val r = YAJL_GET_ARRAY(rs)->values[i];
        yajl_val inf = jget(r, "inflight");
        unsigned fl[3] = { 0 };
        for (size_t p = 0; p < 3 && YAJL_IS_ARRAY(inf) && p < YAJL_GET_ARRAY(inf)->len; p++)
            fl[p] = (unsigned)YAJL_GET_DOUBLE(YAJL_GET_ARRAY(inf)->values[p]);
        char w[24], lim[24], in[48], emb[24], fc[24], at[24], ok[24], fail[24], rl[24];
        double e = jnum(r, "embargo_s");
        tab_row(&t, jstr(r, "name"), jstr(r, "endpoint"), jstr(r, "breaker"),
                fmt(w, sizeof w, "%.0f", jnum(r, "weight")), fmt(lim, sizeof lim, "%.0f", jnum(r, "limit")),
                fmt(in, sizeof in, "%u/%u/%u", fl[0], fl[1], fl[2]), e > 0 ? fmt(emb, sizeof emb, "%.1f", e) : "-",
                jtrue(r, "avoided") ? "yes" : "no", fmt(fc, sizeof fc, "%.1f", jnum(r, "mean_first_content_ms")),
                fmt(at, sizeof at, "%" PRIu64, jint(r, "attempts")), fmt(ok, sizeof ok, "%" PRIu64, jint(r, "ok")),
                fmt(fail, sizeof fail, "%" PRIu64, jint(r, "failed")),
                fmt(rl, sizeof rl, "%" PRIu64, jint(r, "rate_limited")));
    }
    tab_print(&t, f);
}

/* The totals of one read, for the rates. */
typedef struct sample {
    int pid;
    double t;   /* the sidecar's uptime_s */
    uint64_t n, errors, lat_n;
    double lat_sum;
} sample;

static sample sample_of(yajl_val st)
{
    yajl_val a = jget(st, "answers"), l = jget(st, "latency");
    return (sample){ .pid = (int)jnum(st, "pid"), .t = jnum(st, "uptime_s"), .n = jint(a, "total"),
                     .errors = jint(a, "errors"), .lat_n = jint(l, "count"), .lat_sum = jnum(l, "sum_s") };
}

/* "emergency" comes with the emergency mode: a bool, a string, or an
 * object with "active" or "state"; "-" where the sidecar has none. */
static const char *emergency_text(yajl_val st)
{
    yajl_val e = jget(st, "emergency");
    if (YAJL_IS_OBJECT(e))
        e = jget(e, "active") ? jget(e, "active") : jget(e, "state");
    if (YAJL_IS_TRUE(e))
        return "ON";
    if (YAJL_IS_FALSE(e))
        return "off";
    if (YAJL_IS_STRING(e))
        return YAJL_GET_STRING(e);
    return "-";
}

/* One frame: the same figures as the /status page. prev: the last read
 * (its pid 0 when there is none), for rates over the last interval. */
static void frame(FILE *f, yajl_val st, yajl_val ev, const sample *prev, bool color)
{
    sample s = sample_of(st), base = { 0 };
    bool since_start = !(prev->pid == s.pid && prev->t < s.t);
    if (!since_start)
        base = *prev;
    double dt = s.t - base.t;
    uint64_t dn = s.n - base.n, de = s.errors - base.errors, dc = s.lat_n - base.lat_n;
    char when[40];
    fprintf(f, "ringside %s  pid %d  %s  %s  up %.0f s  %s  %s UTC\n", jstr(st, "version"), s.pid,
            jstr(st, "io_backend"), jstr(st, "state"), s.t, admin_url, utc(when, sizeof when, now_ms(), false));
    char rate[24], lat[24], win[40];
    fprintf(f, "requests/s %s  error ratio %.1f %%  mean latency %s  (%s)\n",
            dt > 0 ? fmt(rate, sizeof rate, "%.1f", (double)dn / dt) : "-", dn ? 100.0 * (double)de / (double)dn : 0.0,
            dc ? fmt(lat, sizeof lat, "%.1f ms", 1000 * (s.lat_sum - base.lat_sum) / (double)dc) : "-",
            since_start ? "averages since the start" : fmt(win, sizeof win, "over the last %.1f s", dt));
    fprintf(f, "answers %" PRIu64 "  errors %" PRIu64 "  clients %.0f  emergency %s\n", s.n, s.errors,
            jnum(st, "clients"), emergency_text(st));
    yajl_val q = jget(st, "queues"), sh = jget(st, "shedding");
    fprintf(f, "queued  P0 %.0f  P1 %.0f  P2 %.0f    shedding  P1 %s  P2 %s\n\n", jnum(q, "P0"), jnum(q, "P1"),
            jnum(q, "P2"), jtrue(sh, "P1") ? "YES" : "no", jtrue(sh, "P2") ? "YES" : "no");
    routes_table(st, f);
    fprintf(f, "\ntimeline (newest first, last %d)\n", LIVE_EVENTS);
    events_table(ev, f, true, LIVE_EVENTS, color);
}

static int cmd_status(bool once)
{
    sample prev = { 0 };
    for (bool first = true;; first = false) {
        yajl_val st = get_json("/api/status");
        yajl_val ev = st ? get_events(now_ms() - 24 * 3600 * 1000LL) : NULL;
        if (!st || !ev) {
            yajl_tree_free(st);
            if (first || once)
                return 1;
            fprintf(stderr, "(retrying every second; ^C to quit)\n");
            sleep(1);
            continue;
        }
        if (once) {
            frame(stdout, st, ev, &prev, false);
        } else {
            /* drawn over the last frame: home, each line cleared to its
             * end, the rest of the screen cleared, one write */
            char *text = NULL;
            size_t len = 0;
            FILE *m = open_memstream(&text, &len);
            if (!m)
                return 1;
            frame(m, st, ev, &prev, isatty(STDOUT_FILENO));
            fclose(m);
            fputs(first ? "\033[H\033[2J" : "\033[H", stdout);
            for (char *line = text, *nl; *line; line = nl + 1) {
                nl = strchr(line, '\n');
                if (!nl)
                    nl = line + strlen(line) - 1;
                printf("%.*s\033[K\n", (int)(nl - line), line);
            }
            fputs("\033[J", stdout);
            fflush(stdout);
            free(text);
        }
        prev = sample_of(st);
        yajl_tree_free(st);
        yajl_tree_free(ev);
        if (once)
            return 0;
        sleep(1);
    }
}

static int cmd_routes(void)
{
    yajl_val st = get_json("/api/status");
    if (!st)
        return 1;
    routes_table(st, stdout);
    yajl_tree_free(st);
    return 0;
}

/* ------------------------------------------------------------ actions */

/* METHOD path, the server's answer printed; 0 on 2xx. */
static int action(const char *method, const char *path)
{
    buf b;
    long status = 0;
    if (http(method, path, &b, &status) < 0)
        return 1;
    int rc = status >= 200 && status < 300 ? 0 : 1;
    if (rc == 0) {
        fwrite(b.p, 1, b.n, stdout);
    } else {
        fprintf(stderr, "ringsidectl: %s %s%s: HTTP %ld: %s", method, admin_url, path, status, b.p);
        if (b.n && b.p[b.n - 1] != '\n')
            fputc('\n', stderr);
        if ((status == 404 || status == 405) && strncmp(path, "/admin/emergency", 16) == 0)
            fprintf(stderr, "  (this sidecar does not take %s /admin/emergency: a version without emergency "
                            "mode?)\n", method);
    }
    free(b.p);
    return rc;
}

/* -------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    const char *env = getenv("RINGSIDE_ADMIN");
    if (env && *env)
        admin_url = env;
    const char *since_arg = NULL, *args[4] = { 0 };
    unsigned nargs = 0;
    bool once = false, markdown = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--admin") == 0 || strcmp(a, "--since") == 0) {
            if (i + 1 == argc) {
                fprintf(stderr, "ringsidectl: %s needs a value\n", a);
                return 2;
            }
            *(a[2] == 'a' ? &admin_url : &since_arg) = argv[++i];
        } else if (strncmp(a, "--admin=", 8) == 0) {
            admin_url = a + 8;
        } else if (strncmp(a, "--since=", 8) == 0) {
            since_arg = a + 8;
        } else if (strcmp(a, "--once") == 0) {
            once = true;
        } else if (strcmp(a, "--markdown") == 0) {
            markdown = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ringsidectl: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (nargs < sizeof args / sizeof *args) {
            args[nargs++] = a;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!nargs) {
        usage(stderr);
        return 2;
    }
    /* "host:port" alone means http://host:port; no trailing slash */
    static char url[512];
    snprintf(url, sizeof url, "%s%s", strstr(admin_url, "://") ? "" : "http://", admin_url);
    size_t ul = strlen(url);
    while (ul > 0 && url[ul - 1] == '/')
        url[--ul] = 0;
    admin_url = url;

    const char *cmd = args[0];
    int64_t since = 0;
    if (since_arg && (since = parse_since(since_arg, now_ms())) < 0) {
        fprintf(stderr, "ringsidectl: --since %s: not a duration (1h, 30m, 1h30m), an ISO 8601 time "
                        "(2026-12-02T16:00:00Z) or Unix milliseconds\n", since_arg);
        return 2;
    }
    bool takes_since = strcmp(cmd, "events") == 0 || strcmp(cmd, "timeline") == 0;
    if ((since_arg && !takes_since) || (once && strcmp(cmd, "status") != 0) ||
        (markdown && strcmp(cmd, "timeline") != 0) || (nargs > 1 && strcmp(cmd, "emergency") != 0)) {
        fprintf(stderr, "ringsidectl: %s takes no such argument\n", cmd);
        usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "timeline") == 0 && !since_arg) {
        fprintf(stderr, "ringsidectl: timeline needs --since (e.g. --since 1h, or --since 2026-12-02T16:00Z)\n");
        return 2;
    }
    if (strcmp(cmd, "emergency") == 0 && (nargs != 2 || (strcmp(args[1], "on") && strcmp(args[1], "off")))) {
        fprintf(stderr, "ringsidectl: emergency on|off\n");
        return 2;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = curl_easy_init();
    if (!curl) {
        fprintf(stderr, "ringsidectl: libcurl did not start\n");
        return 1;
    }
    int rc;
    if (strcmp(cmd, "status") == 0) {
        rc = cmd_status(once);
    } else if (strcmp(cmd, "routes") == 0) {
        rc = cmd_routes();
    } else if (takes_since) {
        rc = cmd_events(since, strcmp(cmd, "timeline") == 0, markdown, since_arg ? since_arg : "");
    } else if (strcmp(cmd, "reload") == 0) {
        rc = action("POST", "/admin/reload");
    } else if (strcmp(cmd, "emergency") == 0) {
        char path[64];
        rc = action("POST", fmt(path, sizeof path, "/admin/emergency?state=%s", args[1]));
    } else if (strcmp(cmd, "metrics") == 0) {
        rc = action("GET", "/metrics");
    } else {
        fprintf(stderr, "ringsidectl: no command '%s'\n", cmd);
        usage(stderr);
        rc = 2;
    }
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    return rc;
}
