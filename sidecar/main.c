/*
 * main.c — ringsided: load settings, run the daemon until it is told to
 * stop, exit 0 after a clean drain.
 */
#include "daemon.h"
#include "secrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    /* before anything is read: keys arrive in the environment */
    int err = sc_secrets_lock_process();
    if (err < 0) {
        fprintf(stderr, "ringsided: cannot keep other processes of this uid out of its memory "
                        "(prctl PR_SET_DUMPABLE / RLIMIT_CORE): %s\n", strerror(-err));
        return 1;
    }
    sc_config cfg;
    int r = sc_config_load(&cfg, argc, argv);
    if (r != 0)
        return r > 0 ? 0 : 2;
    static sc_daemon d;   /* large; and its address is stable for callbacks */
    if (sc_daemon_init(&d, &cfg, argc, argv) < 0) {
        sc_daemon_destroy(&d);
        return 1;
    }
    sc_daemon_run(&d);
    sc_daemon_destroy(&d);
    return 0;
}
