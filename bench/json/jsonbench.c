/*
 * jsonbench.c — what the JSON body scans (sidecar/body_json.c) cost on the
 * sidecar's loop thread, against the memmem scans they replaced
 * (old_scan.c, the code as it was).
 *
 *   jsonbench [--rounds 15] [--sizes 1,10]
 *
 * Bodies, built here deterministically, for each size S MiB:
 *   chat    a chat request laid out as openai-python sends it: "messages"
 *           first (a system prompt, then user/assistant turns of English
 *           prose with newlines, quotes and a few accented and CJK
 *           characters, all JSON-escaped as a client library would), then
 *           "model", "max_tokens", "temperature", "stream". So the top-level
 *           keys come after the megabytes, as they usually do.
 *   cjk     the same with turns of mostly Chinese text (every character
 *           three bytes of UTF-8, which yajl checks one by one).
 *   resp    a chat completion response of S MiB (one long assistant
 *           message) with its "usage" object at the end.
 * Each operation runs --rounds times per body, the operations taking turns
 * within a round, each run timed whole with clock_gettime(CLOCK_MONOTONIC);
 * the median is reported as MB/s (10^6 bytes of body per second):
 *   old_estimate  the old token-estimate scan (memmem for `_tokens"`)
 *   old_rename    the old rename (memmem for `"model"`, then the splice)
 *   old_request   both: what the old code spent per request
 *   new_scan      sc_body_scan_request: one pass finds model, max_tokens, n
 *   new_rename    sc_body_rename_model given that scan (the splice alone)
 *   new_request   scan + rename: the new cost per request when the scan
 *                 from admission is kept for the dispatch
 *   old_usage / new_usage   the response's usage, on `resp`
 *   yajl_bare / yajl_bare_noutf8   yajl with no callbacks, with and without
 *                 its UTF-8 check: the floor for any yajl scan, and what
 *                 the check costs
 * ratio_* = new MB/s / old MB/s, within this run.
 *
 * Output: human-readable lines, then exactly one JSON line:
 *   {"bench":"body_json","rounds":..,"sizes_mib":[..],"chat_1mib":{..},...}
 */
#include "body_json.h"
#include "old_scan.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_parse.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s)
{
    size_t l = strlen(s);
    if (b->n + l + 1 > b->cap) {
        b->cap = (b->n + l + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            perror("realloc");
            exit(1);
        }
    }
    memcpy(b->p + b->n, s, l + 1);
    b->n += l;
}

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Prose as it sits inside a JSON string: escaped newlines and quotes. */
static void prose(buf *b, uint64_t *seed, size_t bytes, bool cjk)
{
    static const char *words[] = {
        "the", "model", "returns", "a", "token", "stream", "while", "upstream", "limits",
        "requests", "per", "minute", "and", "\\\"quoted\\\"", "caf\xc3\xa9", "na\xc3\xafve",
        "retry", "after", "seconds,", "budget.", "{\\\"max_tokens\\\": 5}", "json", "code:",
        "\xe6\x97\xa5\xe6\x9c\xac", "sidecar", "latency", "p99", "with", "of", "to",
    };
    static const char *hanzi[] = {
        "\xe6\xa8\xa1\xe5\x9e\x8b", "\xe8\xaf\xb7\xe6\xb1\x82", "\xe9\x99\x90\xe5\x88\xb6",
        "\xe4\xbb\xa4\xe7\x89\x8c", "\xe6\xb5\x81", "\xe7\x9a\x84", "\xe6\x98\xaf",
        "\xe5\x9c\xa8", "\xe3\x80\x82", "\xef\xbc\x8c",
    };
    size_t end = b->n + bytes;
    while (b->n < end) {
        uint64_t r = rnd(seed);
        if (cjk && r % 8)
            put(b, hanzi[(r >> 8) % (sizeof hanzi / sizeof hanzi[0])]);
        else
            put(b, words[(r >> 8) % (sizeof words / sizeof words[0])]);
        put(b, (r >> 20) % 12 == 0 ? "\\n" : (r >> 20) % 40 == 1 ? "\\n\\n" : " ");
    }
}

static char *chat_body(size_t bytes, bool cjk, size_t *len)
{
    buf b = { 0 };
    uint64_t seed = 42;
    put(&b, "{\"messages\":[{\"role\":\"system\",\"content\":\"");
    prose(&b, &seed, 2000, false);
    put(&b, "\"}");
    bool user = true;
    while (b.n + 200 < bytes) {
        put(&b, user ? ",{\"role\":\"user\",\"content\":\"" : ",{\"role\":\"assistant\",\"content\":\"");
        size_t turn = 4000 + rnd(&seed) % 60000;
        if (b.n + turn + 200 > bytes)
            turn = bytes - b.n - 200;
        prose(&b, &seed, turn, cjk);
        put(&b, "\"}");
        user = !user;
    }
    put(&b, "],\"model\":\"deepseek-chat\",\"max_tokens\":4096,\"temperature\":0.7,\"stream\":false}");
    *len = b.n;
    return b.p;
}

static char *resp_body(size_t bytes, size_t *len)
{
    buf b = { 0 };
    uint64_t seed = 7;
    put(&b, "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1733000000,"
            "\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
            "\"assistant\",\"content\":\"");
    prose(&b, &seed, bytes - 400, false);
    put(&b, "\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1000,"
            "\"completion_tokens\":262144,\"total_tokens\":263144,\"prompt_tokens_details\":"
            "{\"cached_tokens\":0}},\"system_fingerprint\":\"fp_1\"}");
    *len = b.n;
    return b.p;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum op { OLD_ESTIMATE, OLD_RENAME, OLD_REQUEST, NEW_SCAN, NEW_RENAME, NEW_REQUEST, OLD_USAGE,
          NEW_USAGE, YAJL_BARE, YAJL_BARE_NOUTF8, NOPS };
static const char *op_name[NOPS] = { "old_estimate", "old_rename", "old_request", "new_scan",
                                     "new_rename", "new_request", "old_usage", "new_usage",
                                     "yajl_bare", "yajl_bare_noutf8" };

static sc_route_cfg g_route;
static volatile uint64_t g_sink;

static void fail(const char *what)
{
    fprintf(stderr, "jsonbench: %s\n", what);
    exit(1);
}

static void bare(const char *b, size_t n, bool utf8)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (!utf8)
        yajl_config(h, yajl_dont_validate_strings, 1);
    if (yajl_parse(h, (const unsigned char *)b, n) != yajl_status_ok
        || yajl_complete_parse(h) != yajl_status_ok)
        fail("yajl refused a benchmark body");
    yajl_free(h);
}

/* One run of op on body b; checks the answer so nothing is optimised away
 * and both sides are known to do the work. */
static void run_op(enum op op, const char *b, size_t n)
{
    uint64_t v = 0;
    size_t olen = 0;
    uint8_t *o = NULL;
    sc_body_req q;
    switch (op) {
    case OLD_ESTIMATE:
        if (!old_max_tokens(b, n, &v) || v != 4096)
            fail("old estimate");
        break;
    case OLD_RENAME:
        o = old_rename("deepseek-chat", "deepseek-v3", (const uint8_t *)b, n, &olen);
        if (!o)
            fail("old rename");
        break;
    case OLD_REQUEST:
        if (!old_max_tokens(b, n, &v) || v != 4096)
            fail("old estimate");
        o = old_rename("deepseek-chat", "deepseek-v3", (const uint8_t *)b, n, &olen);
        if (!o)
            fail("old rename");
        break;
    case NEW_SCAN:
        sc_body_scan_request(b, n, &q);
        if (!q.object || !q.has_model || q.counts.max_tokens != 4096)
            fail("new scan");
        v = q.model_at;
        break;
    case NEW_REQUEST:
        sc_body_scan_request(b, n, &q);
        if (!q.object || !q.has_model || q.counts.max_tokens != 4096)
            fail("new scan");
        o = sc_body_rename_model(&q, b, n, &g_route, &olen);
        if (!o)
            fail("new rename");
        break;
    case NEW_RENAME:
        break;   /* timed apart, see main */
    case OLD_USAGE:
        if (old_usage(b, n, &v) != 0 || v != 263144)
            fail("old usage");
        break;
    case NEW_USAGE:
        if (sc_body_usage(b, n, &v) != 0 || v != 263144)
            fail("new usage");
        break;
    case YAJL_BARE:
        bare(b, n, true);
        break;
    case YAJL_BARE_NOUTF8:
        bare(b, n, false);
        break;
    case NOPS:
        break;
    }
    g_sink += v + olen;
    free(o);
}

/* One timed run of op (NEW_RENAME given the body's scan q). */
static double time_op(enum op op, const char *b, size_t n, const sc_body_req *q)
{
    double t0 = now_s();
    if (op == NEW_RENAME) {
        size_t olen;
        uint8_t *o = sc_body_rename_model(q, b, n, &g_route, &olen);
        if (!o)
            fail("new rename");
        g_sink += olen;
        free(o);
    } else {
        run_op(op, b, n);
    }
    return now_s() - t0;
}

/* Median MB/s of each op in want[] over rounds. The ops take turns within
 * each round, so a slow spell of the machine (a shared 2-vCPU guest) falls
 * on all of them alike and the ratios stay comparable. */
static void measure(const bool want[NOPS], const char *b, size_t n, int rounds, double mbps[NOPS])
{
    double *t = malloc(sizeof(double) * (size_t)rounds * NOPS);
    if (!t)
        fail("out of memory");
    sc_body_req q;
    sc_body_scan_request(b, n, &q);
    for (int op = 0; op < NOPS; op++)
        if (want[op])
            time_op((enum op)op, b, n, &q);   /* warm: page faults, caches */
    for (int r = 0; r < rounds; r++)
        for (int op = 0; op < NOPS; op++)
            if (want[op])
                t[op * rounds + r] = time_op((enum op)op, b, n, &q);
    for (int op = 0; op < NOPS; op++) {
        mbps[op] = 0;
        if (!want[op])
            continue;
        qsort(t + op * rounds, (size_t)rounds, sizeof *t, cmp_d);
        mbps[op] = (double)n / t[op * rounds + rounds / 2] / 1e6;
    }
    free(t);
}

int main(int argc, char **argv)
{
    int rounds = 15;
    unsigned sizes[8] = { 1, 10 };
    unsigned nsizes = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
            nsizes = 0;
            for (char *s = strtok(argv[++i], ","); s && nsizes < 8; s = strtok(NULL, ","))
                sizes[nsizes++] = (unsigned)atoi(s);
        } else {
            fprintf(stderr, "usage: jsonbench [--rounds N] [--sizes 1,10]\n");
            return 2;
        }
    }
    if (rounds < 1 || nsizes == 0)
        fail("bad arguments");
    snprintf(g_route.model_from[0], sizeof g_route.model_from[0], "deepseek-chat");
    snprintf(g_route.model_to[0], sizeof g_route.model_to[0], "deepseek-v3");
    g_route.nmodels = 1;

    char json[8192];
    size_t jn = (size_t)snprintf(json, sizeof json, "{\"bench\":\"body_json\",\"rounds\":%d,\"sizes_mib\":[",
                                 rounds);
    for (unsigned s = 0; s < nsizes; s++)
        jn += (size_t)snprintf(json + jn, sizeof json - jn, "%s%u", s ? "," : "", sizes[s]);
    jn += (size_t)snprintf(json + jn, sizeof json - jn, "]");

    for (unsigned s = 0; s < nsizes; s++) {
        size_t bytes = (size_t)sizes[s] << 20;
        static const char *kinds[] = { "chat", "cjk", "resp" };
        for (int k = 0; k < 3; k++) {
            size_t n;
            char *b = k == 2 ? resp_body(bytes, &n) : chat_body(bytes, k == 1, &n);
            double mbps[NOPS];
            bool want[NOPS];
            for (int op = 0; op < NOPS; op++) {
                bool usage_op = op == OLD_USAGE || op == NEW_USAGE;
                bool bare_op = op == YAJL_BARE || op == YAJL_BARE_NOUTF8;
                want[op] = (k == 2) == usage_op || bare_op;
            }
            measure(want, b, n, rounds, mbps);
            printf("%-4s %2u MiB (%zu bytes):", kinds[k], sizes[s], n);
            jn += (size_t)snprintf(json + jn, sizeof json - jn, ",\"%s_%umib\":{", kinds[k], sizes[s]);
            bool first = true;
            for (int op = 0; op < NOPS; op++) {
                if (mbps[op] == 0)
                    continue;
                printf(" %s %.0f", op_name[op], mbps[op]);
                jn += (size_t)snprintf(json + jn, sizeof json - jn, "%s\"%s_mbps\":%.1f",
                                       first ? "" : ",", op_name[op], mbps[op]);
                first = false;
            }
            if (k == 2) {
                double r = mbps[NEW_USAGE] / mbps[OLD_USAGE];
                printf(" | ratio usage %.3f", r);
                jn += (size_t)snprintf(json + jn, sizeof json - jn, ",\"ratio_usage\":%.3f", r);
            } else {
                double r1 = mbps[NEW_SCAN] / mbps[OLD_ESTIMATE];
                double r2 = mbps[NEW_REQUEST] / mbps[OLD_REQUEST];
                printf(" | ratio scan/estimate %.3f request %.3f", r1, r2);
                jn += (size_t)snprintf(json + jn, sizeof json - jn,
                                       ",\"ratio_scan_vs_estimate\":%.3f,\"ratio_request\":%.3f", r1, r2);
            }
            printf(" (MB/s)\n");
            jn += (size_t)snprintf(json + jn, sizeof json - jn, "}");
            free(b);
        }
    }
    snprintf(json + jn, sizeof json - jn, "}");
    printf("%s\n", json);
    return 0;
}
