/*
 * secrets.h — keeping the upstream API keys, and the clients' data that
 * passes through the sidecar's memory, away from every process but root.
 */
#ifndef SC_SECRETS_H
#define SC_SECRETS_H

/* Make this process unreadable by other processes of its own uid: no
 * ptrace, no /proc/PID/{mem,environ,fd,maps}, and no core dump. Call it
 * first thing in main, before any key is read. Returns 0 or -errno. */
int sc_secrets_lock_process(void);

/* The value of the environment variable `name`, or NULL when it is unset
 * or empty. The first call for a name takes the variable out of the
 * environment (its bytes in the process's environment block are wiped and
 * it is unset); later calls return the copy kept here, for the life of the
 * process, so a configuration reload still finds the key. */
const char *sc_secret(const char *name);

#endif
