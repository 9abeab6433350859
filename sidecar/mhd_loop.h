/*
 * mhd_loop.h — a libmicrohttpd daemon driven by the sidecar's loop, with no
 * thread of its own (mhd_loop.c): the admin listener and the front door.
 */
#ifndef SC_MHD_LOOP_H
#define SC_MHD_LOOP_H

#include "loop.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sc_mhd {
    sc_loop *loop;
    struct MHD_Daemon *mhd;       /* started by the owner with MHD_USE_EPOLL */
    sc_op op;                     /* the poll on its epoll fd */
    bool armed;
    bool rerun;                   /* set during a run: run again at once */
    uint64_t due;                 /* when it wants MHD_run (ns); UINT64_MAX: not before its fd is ready */
    void (*release)(struct sc_mhd *m);   /* after sc_mhd_stop: MHD stopped, free the owner */
} sc_mhd;

/* MHD_OPTION_EXTERNAL_LOGGER with cls a sc_mhd_logger: its lines go to the
 * sidecar's log under prefix, at level. */
typedef struct sc_mhd_logger {
    const char *prefix;
    int level;                    /* enum sc_log_level */
} sc_mhd_logger;
void sc_mhd_log(void *cls, const char *fmt, va_list ap);

/* m->mhd is started: poll its fd and give it a first run. */
void sc_mhd_begin(sc_mhd *m, sc_loop *loop, void (*release)(sc_mhd *m));
/* Its run, if due. */
void sc_mhd_on_time(sc_mhd *m, uint64_t now);
/* Have it run this turn (a suspended connection was resumed). */
void sc_mhd_wake(sc_mhd *m);
/* Stop it: MHD_stop_daemon now, or when the poll comes back (its memory
 * is the loop's until then); then m->release(m). */
void sc_mhd_stop(sc_mhd *m);

#endif
