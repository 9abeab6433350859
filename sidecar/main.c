/*
 * main.c — ringsided: load settings, run the daemon until it is told to
 * stop, exit 0 after a clean drain.
 */
#include "daemon.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
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
