/*
 * clients.h — who may talk to the sidecar, and the life of each client
 * (clients.c): the registration socket, a client's region and doorbells,
 * its hang-up and teardown.
 */
#ifndef SC_CLIENTS_H
#define SC_CLIENTS_H

#include "sidecar.h"

int sc_clients_listen(sc_daemon *d);
void sc_clients_stop_listening(sc_daemon *d);

/* A client in two steps, so a test can make the region itself: new
 * allocates it (NULL: out of memory), start takes the mapped region (which
 * c then owns and unmaps at close), its socket and doorbells, and puts it
 * to work. watch: arm the polls on its doorbell and socket, and free c
 * when it is closed; without them (the intake fuzzer, which drives every
 * turn itself) c is the caller's to free with sc_client_free once closed. */
sc_client *sc_client_new(sc_daemon *d);
void sc_client_start(sc_client *c, void *map, const rs__layout *lay, int sock, int sq_efd, int cq_efd,
                     pid_t pid, uid_t uid, bool watch);
void sc_client_free(sc_client *c);

/* Drop c: cancel its requests, free its queued answers, unmap its region. */
void sc_client_close(sc_client *c, const char *why);

#endif
