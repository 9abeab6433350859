/*
 * benchproc.h — start, watch and stop the processes a benchmark needs.
 *
 * The end-to-end benchmarks (policybench, streambench) each run a mock
 * upstream and a ringsided next to themselves, and ringbench forks helpers
 * and sidecars. They all need the same guarantees: a child never outlives
 * the benchmark (PR_SET_PDEATHSIG, kill on a signal or watchdog), a temp dir
 * that is removed on every exit path, and the same way of finding the
 * binaries in the build tree. That plumbing lives here once, so a fix to
 * (say) the shutdown order reaches every benchmark instead of one copy.
 *
 * What stays in the benchmarks: what they measure, their config's contents,
 * their own diagnostics. Every message printed from here starts with the
 * benchmark's name, as it did when each benchmark had its own copy.
 */
#ifndef RINGSIDE_BENCH_BENCHPROC_H
#define RINGSIDE_BENCH_BENCHPROC_H

#include "ringside.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One benchmark run: its name (message prefix), its mkdtemp directory and
 * the children started through it. Kept in a global by the benchmark,
 * because the signal handler must reach the pids. */
typedef struct bp_run {
    const char *name;
    char dir[64];                 /* "" until bp_make_dir succeeds */
    volatile pid_t mock_pid;      /* 0: not running */
    volatile pid_t sidecar_pid;
} bp_run;

/* ------------------------------------------------------------- timing */

uint64_t bp_now_ns(void);                    /* CLOCK_MONOTONIC */
void bp_sleep_ms(unsigned ms);               /* restarts on EINTR */
/* CPU seconds the whole machine spent busy (all processes, ours included),
 * from /proc/stat; -1 if unread. */
double bp_machine_busy_s(void);
/* CPU seconds a process (all its threads) has used so far, to the
 * nanosecond (its CPU-time clock; /proc/PID/stat counts 10 ms ticks); -1
 * if unread. getpid() for this one. */
double bp_proc_cpu_s(pid_t pid);
int bp_cmp_u64(const void *a, const void *b);     /* qsort comparators */
int bp_cmp_double(const void *a, const void *b);

/* ------------------------------------------------------ the run itself */

void bp_init(bp_run *r, const char *name);
/* mkdtemp /tmp/NAME.XXXXXX into r->dir; -1 (message printed) on failure. */
int bp_make_dir(bp_run *r);
/* The files bp_start_sidecar writes, then the directory. */
void bp_remove_files(bp_run *r);
/* SIGINT, SIGTERM and SIGALRM kill r's children and _exit(3) with a line
 * on stderr; SIGPIPE is ignored; alarm(seconds) arms the watchdog.
 * `what` says what the watchdog saw ("the run took too long"). */
void bp_install_watchdog(bp_run *r, unsigned seconds, const char *what);

/* Default binaries: $RINGSIDED / $RINGSIDE_MOCK_UPSTREAM, else next to this
 * one in the same build tree (BUILD/sidecar/ringsided,
 * BUILD/bench/mockup/ringside-mock-upstream). */
void bp_default_bins(char *sidecar, size_t slen, char *mock, size_t mlen);
/* BUILD/bench/X/Y → BUILD/<rel>; left empty if it does not fit (execv
 * then reports it). */
void bp_sibling_path(char *out, size_t len, const char *rel);

/* ------------------------------------------------------------ children */

/* fork with PR_SET_PDEATHSIG (the child dies with us) and the benchmark's
 * signal handlers reset in the child. Returns as fork does; on failure
 * prints "NAME: fork: ..." and returns -1. */
pid_t bp_fork(const char *name);
/* bp_fork + execv with stdout/stderr redirected (fd < 0: inherited) and
 * DEEPSEEK_API_KEY removed. */
pid_t bp_spawn(const char *name, const char *bin, char *const argv[], int out_fd, int err_fd);
/* SIGTERM, up to grace_ms to exit, then SIGKILL. Returns the wait status. */
int bp_stop_pid(pid_t pid, unsigned grace_ms);
/* bp_stop_pid with 5 s grace on *pidp, which is then 0. */
int bp_stop(volatile pid_t *pidp);

/* Start the mock upstream on a kernel-picked port (2 worker threads) and
 * read its "listening on 127.0.0.1:PORT" line. */
int bp_start_mock(bp_run *r, const char *bin, int *port);
/* Write config_yaml to DIR/ringside.yaml and start ringsided on DIR/rs.sock
 * (its path into sock) with output to DIR/ringsided.log. */
int bp_start_sidecar(bp_run *r, const char *bin, const char *config_yaml, char *sock, size_t socklen);
/* rs_connect until the sidecar listens (20 s), or it has exited. */
rs_client *bp_connect(bp_run *r, const char *sock);
/* The last 4 KiB of DIR/ringsided.log, to stderr. */
void bp_print_log_tail(const bp_run *r);

#endif
