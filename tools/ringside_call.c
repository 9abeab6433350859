/*
 * ringside_call.c — `ringside-call`: send one request through a running
 * ringsided and print the response body. For demos, smoke tests and
 * operators poking at a live sidecar; it uses only the public client API.
 */
#include "ringside.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ringside-call [options]\n"
        "  --socket PATH        sidecar socket (default: $RINGSIDE_SOCKET or the default path)\n"
        "  --route NAME         route (default: the sidecar's default; 'echo' = no network)\n"
        "  --method M           HTTP method (default POST)\n"
        "  --path P             request path (default /chat/completions)\n"
        "  --header 'K: V'      extra header (repeatable, up to 32)\n"
        "  --data STR           request body (default: a small chat completion request)\n"
        "  --data-file FILE     request body from a file ('-' = stdin)\n"
        "  --priority 0|1|2     priority class (default 1)\n"
        "  --timeout-ms N       request deadline and wait limit (default 60000)\n"
        "  -v                   print status, timings and headers to stderr\n");
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) {
                free(buf);
                buf = NULL;
            }
            buf = b;
        }
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    const char *sock = NULL, *data = NULL, *file = NULL;
    rs_request rq = RS_REQUEST_INIT;
    rs_header hdrs[32];
    char *hbuf[32];
    size_t nh = 0;
    int verbose = 0, timeout = 60000;
    rq.path = "/chat/completions";
    static const struct option opts[] = {
        { "socket", required_argument, 0, 's' }, { "route", required_argument, 0, 'r' },
        { "method", required_argument, 0, 'm' }, { "path", required_argument, 0, 'p' },
        { "header", required_argument, 0, 'H' }, { "data", required_argument, 0, 'd' },
        { "data-file", required_argument, 0, 'f' }, { "priority", required_argument, 0, 'P' },
        { "timeout-ms", required_argument, 0, 't' }, { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    int o;
    while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (o) {
        case 's': sock = optarg; break;
        case 'r': rq.route = optarg; break;
        case 'm': rq.method = optarg; break;
        case 'p': rq.path = optarg; break;
        case 'd': data = optarg; break;
        case 'f': file = optarg; break;
        case 'P': rq.priority = atoi(optarg); break;
        case 't': timeout = atoi(optarg); break;
        case 'v': verbose = 1; break;
        case 'H': {
            char *colon = strchr(optarg, ':');
            if (!colon || nh == 32) {
                fprintf(stderr, "ringside-call: --header wants 'Name: value' (at most 32)\n");
                return 2;
            }
            hbuf[nh] = strndup(optarg, (size_t)(colon - optarg));
            hdrs[nh].name = hbuf[nh];
            hdrs[nh].value = colon + 1 + strspn(colon + 1, " ");
            nh++;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    size_t blen = 0;
    char *body = NULL;
    if (file) {
        body = slurp(file, &blen);
        if (!body) {
            fprintf(stderr, "ringside-call: cannot read %s\n", file);
            return 2;
        }
    } else {
        if (!data)
            data = "{\"model\":\"deepseek-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello from ringside\"}]}";
        blen = strlen(data);
    }
    rq.body = body ? body : data;
    rq.body_len = blen;
    rq.headers = hdrs;
    rq.nheaders = nh;
    rq.timeout_ms = timeout > 0 ? (uint32_t)timeout : 0;

    rs_client *c;
    int err = rs_connect(sock, &c);
    if (err < 0) {
        fprintf(stderr, "ringside-call: %s: %s\n  %s\n", rs_errname(err), rs_strerror(err), rs_last_error());
        return 1;
    }
    rs_response *r = NULL;
    err = rs_call(c, &rq, timeout, &r);
    if (err < 0) {
        /* a refusal at submit names its limit in rs_last_error() */
        fprintf(stderr, "ringside-call: %s: %s\n", rs_errname(err),
                (err == RS_E2BIG || err == RS_EINVAL) && *rs_last_error() ? rs_last_error() : rs_strerror(err));
        rs_close(c);
        return 1;
    }
    if (verbose) {
        fprintf(stderr, "status %d, %s%s%s, upstream '%s', attempts %u\n", r->status,
                rs_errname(r->error), r->error ? ": " : "", r->error_msg, r->upstream, r->attempts);
        fprintf(stderr, "timings: queued %llu us, first byte %llu us, first content %llu us, total %llu us\n",
                (unsigned long long)r->timings.queued_us, (unsigned long long)r->timings.first_byte_us,
                (unsigned long long)r->timings.first_content_us, (unsigned long long)r->timings.total_us);
        for (size_t k = 0; k < r->nheaders; k++)
            fprintf(stderr, "%s: %s\n", r->headers[k].name, r->headers[k].value);
    }
    fwrite(r->body, 1, r->body_len, stdout);
    if (r->body_len && r->body[r->body_len - 1] != '\n')
        fputc('\n', stdout);
    int rc = r->error ? 1 : 0;
    if (r->error && !verbose)
        fprintf(stderr, "ringside-call: %s (HTTP %d): %s\n", rs_errname(r->error), r->status, r->error_msg);
    rs_response_free(r);
    rs_close(c);
    for (size_t k = 0; k < nh; k++)
        free(hbuf[k]);
    free(body);
    return rc;
}
