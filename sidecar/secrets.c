/*
 * secrets.c — the sidecar holds what its clients must not see: the API keys
 * of the upstreams, and every client's requests on their way through.
 *
 * Clients usually run under the sidecar's own uid, and Linux lets a
 * process of the same uid read another's /proc/PID/environ (where keys
 * arrive), /proc/PID/mem (all clients' data), open its descriptors through
 * /proc/PID/fd, and ptrace it — unless that process is not "dumpable".
 * So the sidecar makes itself non-dumpable before it reads anything
 * (prctl(PR_SET_DUMPABLE, 0): the files under /proc/PID then belong to root, and the
 * kernel writes no core dump), and sets RLIMIT_CORE to 0 as well, since
 * with fs.suid_dumpable=2 a non-dumpable process still dumps core.
 *
 * A key named by an api_key_env is taken out of the environment the first
 * time it is read: the value is copied here, the bytes of "NAME=value" in
 * the environment block are wiped (they are what /proc/PID/environ shows,
 * even after unsetenv) and the variable is unset, so no library or child
 * reads it later. The copy stays for the life of the process because a
 * reload (SIGHUP) builds the routes again from it.
 */
#include "secrets.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

extern char **environ;

int sc_secrets_lock_process(void)
{
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return -errno;
    struct rlimit none = { 0, 0 };
    if (setrlimit(RLIMIT_CORE, &none) < 0)
        return -errno;
    return 0;
}

typedef struct kept {
    struct kept *next;
    char *value;       /* NULL: the variable was unset or empty */
    char name[];
} kept;

static kept *keys;

/* Wipe the value of every "name=..." entry in the environment block, then
 * unset the variable. */
static void scrub(const char *name)
{
    size_t n = strlen(name);
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            explicit_bzero(*e + n + 1, strlen(*e + n + 1));
    unsetenv(name);
}

const char *sc_secret(const char *name)
{
    if (!name || !*name)
        return NULL;
    for (kept *k = keys; k; k = k->next)
        if (strcmp(k->name, name) == 0)
            return k->value;
    size_t n = strlen(name);
    kept *k = malloc(sizeof *k + n + 1);
    if (!k)
        return NULL;
    memcpy(k->name, name, n + 1);
    const char *v = getenv(name);
    k->value = v && *v ? strdup(v) : NULL;
    if (v && *v && !k->value) {   /* out of memory: leave the environment as it is */
        free(k);
        return NULL;
    }
    scrub(name);
    k->next = keys;
    keys = k;
    return k->value;
}
