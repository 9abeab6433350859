/*
 * intake.h — a client's submission ring drained into requests (intake.c),
 * each handed to admission.
 */
#ifndef SC_INTAKE_H
#define SC_INTAKE_H

#include "sidecar.h"

/* Drain up to budget records; returns records consumed. The space they
 * took is handed back by sc_intake_release, which the loop calls after it
 * has written this turn's completions: zeroing the drained lines and
 * publishing the tail would otherwise sit in front of the answers (stores
 * leave a core in order). A ring found corrupt answers RS_ECORRUPT and
 * raises c->broken. */
unsigned sc_intake_drain(sc_client *c, unsigned budget);
void sc_intake_release(sc_client *c);

#endif
