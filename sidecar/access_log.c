/*
 * access_log.c — see access_log.h. A line says who asked (client pid,
 * request id), what class, where it went, how it ended and how long each
 * part took; never a key, a header's value or a body: it is meant to be
 * shipped to a log store as it is (ELK, Loki). Level "errors" (the
 * default) writes the answers that are not RS_OK, "all" every one, each
 * kept with probability `sample`; "off" none. The lines go to stderr with
 * the other logs, or to access_log.file.
 */
#include "access_log.h"

#include "log.h"
#include "obs.h"
#include "ringside.h"
#include "text.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

const char *sc_req_client_id(const sc_req *r)
{
    for (uint32_t k = 0; k < r->nheaders; k++)
        if (strncasecmp(r->headers[k], "x-request-id:", 13) == 0) {
            const char *v = r->headers[k] + 13;
            while (*v == ' ')
                v++;
            return v;
        }
    return NULL;
}

void sc_req_id(const sc_daemon *d, const sc_req *r, char *buf, size_t len)
{
    const char *own = sc_req_client_id(r);
    if (own)
        snprintf(buf, len, "%s", own);
    else
        snprintf(buf, len, "rs-%llx-%llu-%llu", (unsigned long long)d->started_ms,
                 (unsigned long long)(r->client ? r->client->id : 0), (unsigned long long)r->id);
}

static bool wanted(sc_daemon *d, int32_t error)
{
    if (d->cfg.access_level == SC_ACCESS_OFF || (d->cfg.access_level == SC_ACCESS_ERRORS && error == RS_OK))
        return false;
    if (d->cfg.access_sample >= 1.0)
        return true;
    d->access_rng = d->access_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(d->access_rng >> 11) * 0x1.0p-53 < d->cfg.access_sample;
}

void sc_access_log(sc_daemon *d, const sc_req *r, const sc_completion *cp)
{
    if (!wanted(d, cp->error))
        return;
    char id[128], ts[40];
    sc_req_id(d, r, id, sizeof id);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    sc_text t = { 0 };
    sc_text_printf(&t, "{\"ts\":\"%s.%03ldZ\",\"type\":\"access\",\"id\":", ts, now.tv_nsec / 1000000);
    sc_text_json_str(&t, id);
    if (r->client && r->client->name) {   /* a front-door request: who by virtual key */
        sc_text_put(&t, ",\"key\":");
        sc_text_json_str(&t, r->client->name);
    }
    sc_text_printf(&t, ",\"client_pid\":%d,\"priority\":%u,\"route\":", r->client ? (int)r->client->pid : 0,
                   r->priority);
    sc_text_json_str(&t, cp->upstream_name);
    sc_text_printf(&t, ",\"status\":%u,\"outcome\":\"%s\",\"attempts\":%u,\"queue_ms\":%.3f,"
                       "\"first_content_ms\":%.3f,\"total_ms\":%.3f,\"tokens_estimate\":%.0f,\"message\":",
                   cp->status, sc_obs_outcome_name(sc_obs_outcome(cp->error)), cp->attempts, (double)cp->timings[RS__T_QUEUED] / 1e3,
                   (double)cp->timings[RS__T_FIRST_CONTENT] / 1e3, (double)cp->timings[RS__T_TOTAL] / 1e3,
                   r->tokens_need);
    sc_text_json_str(&t, cp->error_msg ? cp->error_msg : "");
    sc_text_put(&t, "}\n");
    size_t len = 0;
    char *line = sc_text_take(&t, &len);
    if (!line)
        return;
    int fd = d->access_fd >= 0 ? d->access_fd : STDERR_FILENO;
    if (write(fd, line, len) < 0) {
        /* a full disk must not stop the answers: the line is lost */
    }
    free(line);
}
