/*
 * spinbench — what busy-polling costs and buys at a given call rate
 * (issue #18 point 5: spin only while it pays).
 *
 *   spinbench [--seconds S] [--pauses 0,100,1000] [--spin-us N] [--ringsided PATH]
 *
 * One client calls the sidecar's echo route (no upstream: the answer is
 * the sidecar's own) one call at a time, pausing P µs (usleep) between
 * calls, for S seconds per pause. For each pause it reports the calls per
 * second, the mean call in µs, the sidecar's CPU and the client's (this
 * process), each as a share of one core.
 * Pause 0 is the busy path, where spinning is what makes a call take a
 * microsecond; the others are a caller that is slower than the spin, which
 * spinning only costs. Run it against an older ringsided (--ringsided) to
 * compare the sidecar's side; the client's side is this build's library.
 *
 * Prints one line per pause, then one JSON line.
 */
#include "benchproc.h"
#include "ringside.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bp_run g_run;

int main(int argc, char **argv)
{
    double seconds = 3;
    const char *pauses = "0,100,1000";
    unsigned spin_us = 50;
    char sidecar[512], mock[512];
    bp_default_bins(sidecar, sizeof sidecar, mock, sizeof mock);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--pauses") == 0 && i + 1 < argc)
            pauses = argv[++i];
        else if (strcmp(argv[i], "--spin-us") == 0 && i + 1 < argc)
            spin_us = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--ringsided") == 0 && i + 1 < argc)
            snprintf(sidecar, sizeof sidecar, "%s", argv[++i]);
        else {
            fprintf(stderr, "usage: spinbench [--seconds S] [--pauses 0,100,1000] [--spin-us N] [--ringsided PATH]\n");
            return 2;
        }
    }
    bp_init(&g_run, "spinbench");
    bp_install_watchdog(&g_run, 60 + (unsigned)(seconds * 20), "the run took too long");
    if (bp_make_dir(&g_run) < 0)
        return 1;
    char config[256], sock[128];
    snprintf(config, sizeof config, "log_level: warn\nspin_us: %u\n", spin_us);
    if (bp_start_sidecar(&g_run, sidecar, config, sock, sizeof sock) < 0)
        return 1;
    rs_client *c = bp_connect(&g_run, sock);
    if (!c)
        return 1;
    rs_request rq = RS_REQUEST_INIT;
    rq.path = "/spin";
    rq.route = "echo";
    rq.body = "{\"spin\":1}";
    rq.body_len = strlen(rq.body);

    char json[4096];
    int jl = snprintf(json, sizeof json, "{\"bench\":\"spin\",\"spin_us\":%u,\"seconds\":%.1f,\"runs\":[", spin_us,
                      seconds);
    int rc = 0, first = 1;
    char list[256];
    snprintf(list, sizeof list, "%s", pauses);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        unsigned pause = (unsigned)atoi(tok);
        /* a warm-up second: both sides' averages settle on this rate */
        for (uint64_t end = bp_now_ns() + 1000000000ull; bp_now_ns() < end;) {
            rs_response *r;
            if (rs_call(c, &rq, 5000, &r) == 0)
                rs_response_free(r);
            if (pause)
                usleep(pause);
        }
        double s0 = bp_proc_cpu_s(g_run.sidecar_pid), c0 = bp_proc_cpu_s(getpid());
        uint64_t t0 = bp_now_ns(), end = t0 + (uint64_t)(seconds * 1e9), in_calls = 0;
        unsigned long calls = 0, failed = 0;
        while (bp_now_ns() < end) {
            uint64_t a = bp_now_ns();
            rs_response *r = NULL;
            if (rs_call(c, &rq, 5000, &r) != 0 || r->error != RS_OK)
                failed++;
            in_calls += bp_now_ns() - a;
            if (r)
                rs_response_free(r);
            calls++;
            if (pause)
                usleep(pause);
        }
        double wall = (double)(bp_now_ns() - t0) / 1e9;
        double scpu = bp_proc_cpu_s(g_run.sidecar_pid) - s0, ccpu = bp_proc_cpu_s(getpid()) - c0;
        double rate = (double)calls / wall, mean_us = (double)in_calls / 1e3 / (double)(calls ? calls : 1);
        printf("pause %5u us: %9.0f calls/s, mean call %7.1f us, sidecar %5.1f%% of a core, client %5.1f%%%s\n",
               pause, rate, mean_us, 100 * scpu / wall, 100 * ccpu / wall, failed ? " (FAILED calls)" : "");
        jl += snprintf(json + jl, sizeof json - (size_t)jl,
                       "%s{\"pause_us\":%u,\"calls_per_s\":%.0f,\"mean_call_us\":%.2f,\"sidecar_core\":%.3f,"
                       "\"client_core\":%.3f,\"failed\":%lu}",
                       first ? "" : ",", pause, rate, mean_us, scpu / wall, ccpu / wall, failed);
        first = 0;
        if (failed)
            rc = 1;
    }
    snprintf(json + jl, sizeof json - (size_t)jl, "]}");
    rs_close(c);
    bp_stop(&g_run.sidecar_pid);
    bp_remove_files(&g_run);
    puts(json);
    return rc;
}
