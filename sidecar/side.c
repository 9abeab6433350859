/*
 * side.c — see side.h. The requests go on the upstream transfers' multi
 * handle (sc_upstream_add_job): the same loop drives them, and they share
 * its connection cache — which is the point of a keep-warm probe: the
 * connection it leaves open is the one the standby's first real request
 * takes, with no handshake. The answer's body is not kept.
 */
#include "side.h"

#include "upstream.h"

#include <stdlib.h>
#include <string.h>

typedef struct side_req {
    sc_curl_job job;              /* first: the easy handle's CURLOPT_PRIVATE */
    sc_daemon *d;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    sc_side_done_fn *done;
    void *ctx;
    struct side_req *prev, *next; /* in flight (d->side) */
    char err[CURL_ERROR_SIZE];
} side_req;

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static void unlink_req(side_req *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->d->side = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

static void free_req(side_req *s)
{
    curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->headers);
    free(s->body);
    free(s);
}

static void on_done(sc_curl_job *job, CURLcode rc)
{
    side_req *s = container_of(job, side_req, job);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    unlink_req(s);
    s->done(s->d, s->ctx, status, rc == CURLE_OK ? "" : s->err[0] ? s->err : curl_easy_strerror(rc));
    free_req(s);
}

int sc_side_request(sc_daemon *d, const char *method, const char *url, struct curl_slist *headers,
                    const char *body, size_t len, uint32_t timeout_ms, const char *ca_file,
                    sc_side_done_fn *done, void *ctx)
{
    side_req *s = calloc(1, sizeof *s);
    CURL *e = s ? curl_easy_init() : NULL;
    if (!e || (body && !(s->body = malloc(len ? len : 1)))) {
        if (e)
            curl_easy_cleanup(e);
        free(s);
        curl_slist_free_all(headers);
        return -1;
    }
    if (body)
        memcpy(s->body, body, len);
    s->job.done = on_done;
    s->d = d;
    s->easy = e;
    s->headers = headers;
    s->done = done;
    s->ctx = ctx;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &s->job);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->err);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (ca_file && ca_file[0])
        curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body ? s->body : "");
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    if (sc_upstream_add_job(d, e) < 0) {
        free_req(s);
        return -1;
    }
    s->next = d->side;
    if (d->side)
        d->side->prev = s;
    d->side = s;
    return 0;
}

void sc_side_destroy(sc_daemon *d)
{
    while (d->side) {
        side_req *s = d->side;
        unlink_req(s);
        sc_upstream_remove_job(d, s->easy);
        free_req(s);
    }
}
