/*
 * daemon.h — life cycle of the ringsided daemon (the loop body is in
 * daemon.c; see its header comment for the idle and drain policies).
 */
#ifndef SC_DAEMON_H
#define SC_DAEMON_H

#include "sidecar.h"

int sc_daemon_init(sc_daemon *d, const sc_config *cfg, int argc, char **argv);
void sc_daemon_run(sc_daemon *d);
void sc_daemon_destroy(sc_daemon *d);

#endif
