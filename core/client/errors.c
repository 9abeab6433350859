/*
 * errors.c — names and sentences for RS_E* codes, and the library's
 * version: what a caller asks the library about itself. Each sentence says
 * what the caller can do next, because that is what an operator reads at
 * 3 a.m.
 */
#include "client.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
    int code;
    const char *name;
    const char *text;
} table[] = {
    { RS_OK, "RS_OK", "success" },
    { RS_EAGAIN, "RS_EAGAIN", "submission ring is full right now; wait for completions and retry" },
    { RS_E2BIG, "RS_E2BIG", "over a size limit (rs_last_error() or the message names which, and its value); send less, or raise that limit" },
    { RS_EINVAL, "RS_EINVAL", "invalid argument" },
    { RS_ENOMEM, "RS_ENOMEM", "out of memory" },
    { RS_ETIMEDOUT, "RS_ETIMEDOUT", "wait timed out; the request is still in flight, wait again" },
    { RS_ENOENT, "RS_ENOENT", "unknown ticket, or its response was already taken" },
    { RS_EGONE, "RS_EGONE", "the ringside sidecar is gone; check that it is running, then reconnect" },
    { RS_ECONNECT, "RS_ECONNECT", "cannot register with the ringside sidecar; check it runs and RINGSIDE_SOCKET points at its socket" },
    { RS_EPROTO, "RS_EPROTO", "protocol mismatch with the sidecar; use a client library of the same ringside version" },
    { RS_ETOOMANY, "RS_ETOOMANY", "too many requests outstanding on this client; wait for some to complete" },
    { RS_EBADREQ, "RS_EBADREQ", "the sidecar refused a malformed request" },
    { RS_EUPSTREAM, "RS_EUPSTREAM", "the upstream answered with an error status" },
    { RS_ECONNUP, "RS_ECONNUP", "could not get a response from the upstream (connect, reset or timeout)" },
    { RS_EDEADLINE, "RS_EDEADLINE", "the request's deadline passed before it could complete" },
    { RS_ESHUTDOWN, "RS_ESHUTDOWN", "the sidecar is shutting down; retry after it restarts" },
    { RS_ERATELIMITED, "RS_ERATELIMITED", "refused by a rate limit; retry later" },
    { RS_ESHED, "RS_ESHED", "shed under overload; retry later or raise the priority" },
    { RS_ECANCELLED, "RS_ECANCELLED", "cancelled by the client" },
    { RS_ENOROUTE, "RS_ENOROUTE", "no such route in the sidecar's configuration" },
    { RS_ECORRUPT, "RS_ECORRUPT", "this client's shared memory was corrupted; reconnect" },
    { RS_EINTERNAL, "RS_EINTERNAL", "internal error in ringside; please report it" },
    { RS_EINTERRUPTED, "RS_EINTERRUPTED", "the stream broke after part of it was delivered; it was not retried, resubmit if you want it again" },
    { RS_EQUEUEFULL, "RS_EQUEUEFULL", "the sidecar's queue for this priority is full; retry later, or raise its queue limit" },
};

const char *rs_strerror(int err)
{
    for (unsigned k = 0; k < sizeof table / sizeof table[0]; k++)
        if (table[k].code == err)
            return table[k].text;
    return "unknown ringside error code";
}

const char *rs_errname(int err)
{
    for (unsigned k = 0; k < sizeof table / sizeof table[0]; k++)
        if (table[k].code == err)
            return table[k].name;
    return "RS_E?";
}

const char *rs_version(void)
{
    return RS_VERSION_STRING;   /* meson's project version, the one source */
}

_Thread_local char rs__last_error[256];

const char *rs_last_error(void)
{
    return rs__last_error;
}

int rs__fail_detail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rs__last_error, sizeof rs__last_error, fmt, ap);
    va_end(ap);
    return code;
}
