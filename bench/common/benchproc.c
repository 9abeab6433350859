/*
 * benchproc.c — start, watch and stop the processes a benchmark needs
 * (see benchproc.h for why this is one module shared by the benchmarks).
 *
 * Owns: the fork/exec of children that die with us, their orderly and
 * forced stop, the watchdog and fatal-signal handler that kill them, the
 * run's temp directory, and the small timing helpers every benchmark used
 * its own copy of.
 */
#include "benchproc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- timing */

uint64_t bp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bp_sleep_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Printed per phase so that a run disturbed by other work on this small
 * machine can be told from a clean one. */
double bp_proc_cpu_s(pid_t pid)
{
    clockid_t id;
    struct timespec ts;
    if (pid <= 0 || clock_getcpuclockid(pid, &id) != 0 || clock_gettime(id, &ts) != 0)
        return -1;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bp_machine_busy_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    unsigned long long v[10] = { 0 };
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(f);
    if (n < 8)
        return -1;
    /* user nice system (idle iowait) irq softirq steal; guest time is
     * already inside user */
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

int bp_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int bp_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------ the run itself */

/* The run the signal handler cleans up after; one per process, since
 * signal handlers are. */
static bp_run *g_run;
/* Formatted when the watchdog is installed: the handler may only write(). */
static char g_dog_msg[160], g_intr_msg[96];
static size_t g_dog_len, g_intr_len;

void bp_init(bp_run *r, const char *name)
{
    memset(r, 0, sizeof *r);
    r->name = name;
}

int bp_make_dir(bp_run *r)
{
    snprintf(r->dir, sizeof r->dir, "/tmp/%s.XXXXXX", r->name);
    if (mkdtemp(r->dir) == NULL) {
        r->dir[0] = 0;   /* nothing to remove later */
        fprintf(stderr, "%s: mkdtemp: %s\n", r->name, strerror(errno));
        return -1;
    }
    return 0;
}

void bp_remove_files(bp_run *r)
{
    static const char *names[] = { "ringside.yaml", "rs.sock", "ringsided.log" };
    char p[128];
    if (!r->dir[0])
        return;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", r->dir, names[i]);
        unlink(p);
    }
    rmdir(r->dir);
}

static void on_fatal_signal(int sig)
{
    /* only async-signal-safe calls here */
    if (g_run && g_run->sidecar_pid > 0)
        kill(g_run->sidecar_pid, SIGKILL);
    if (g_run && g_run->mock_pid > 0)
        kill(g_run->mock_pid, SIGKILL);
    const char *m = sig == SIGALRM ? g_dog_msg : g_intr_msg;
    size_t n = sig == SIGALRM ? g_dog_len : g_intr_len;
    if (write(2, m, n) < 0)
        _exit(3);
    _exit(3);
}

void bp_install_watchdog(bp_run *r, unsigned seconds, const char *what)
{
    g_run = r;
    int n = snprintf(g_dog_msg, sizeof g_dog_msg, "%s: watchdog: %s; stopped, children killed\n", r->name, what);
    g_dog_len = n < 0 ? 0 : (size_t)n < sizeof g_dog_msg ? (size_t)n : sizeof g_dog_msg - 1;
    n = snprintf(g_intr_msg, sizeof g_intr_msg, "%s: interrupted; children killed\n", r->name);
    g_intr_len = n < 0 ? 0 : (size_t)n < sizeof g_intr_msg ? (size_t)n : sizeof g_intr_msg - 1;
    signal(SIGPIPE, SIG_IGN);   /* a dead peer is an error return, not our death */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    alarm(seconds);
}

void bp_sibling_path(char *out, size_t len, const char *rel)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    out[0] = 0;
    if (n <= 0) {
        snprintf(out, len, "%s", rel);
        return;
    }
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    /* plain copies, because gcc's truncation check cannot see this bound;
     * every benchmark sits two levels below BUILD */
    size_t ls = strlen(self), lr = strlen(rel);
    if (ls + 7 + lr + 1 > len)
        return;
    memcpy(out, self, ls);
    memcpy(out + ls, "/../../", 7);
    memcpy(out + ls + 7, rel, lr + 1);
}

void bp_default_bins(char *sidecar, size_t slen, char *mock, size_t mlen)
{
    const char *e = getenv("RINGSIDED");
    if (e && *e)
        snprintf(sidecar, slen, "%s", e);
    else
        bp_sibling_path(sidecar, slen, "sidecar/ringsided");
    e = getenv("RINGSIDE_MOCK_UPSTREAM");
    if (e && *e)
        snprintf(mock, mlen, "%s", e);
    else
        bp_sibling_path(mock, mlen, "bench/mockup/ringside-mock-upstream");
}

/* ------------------------------------------------------------ children */

pid_t bp_fork(const char *name)
{
    pid_t parent = getpid();
    fflush(NULL);   /* or the child would print our buffered output again */
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: fork: %s\n", name, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* survives exec: a crashed benchmark leaves nothing running */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* the parent died before prctl took effect: no signal will come */
        if (getppid() != parent)
            _exit(1);
        /* our handlers clean up the parent's children and files, which is
         * not the child's business */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGALRM, SIG_DFL);
    }
    return pid;
}

pid_t bp_spawn(const char *name, const char *bin, char *const argv[], int out_fd, int err_fd)
{
    pid_t pid = bp_fork(name);
    if (pid == 0) {
        if (out_fd >= 0 && dup2(out_fd, 1) < 0)
            _exit(126);
        if (err_fd >= 0 && dup2(err_fd, 2) < 0)
            _exit(126);
        /* the mock wants no key, and the sidecar must not send a real one */
        unsetenv("DEEPSEEK_API_KEY");
        execv(bin, argv);
        dprintf(2, "%s: cannot run %s: %s\n", name, bin, strerror(errno));
        _exit(127);
    }
    return pid;
}

int bp_stop_pid(pid_t pid, unsigned grace_ms)
{
    int st = 0;
    if (pid <= 0)
        return 0;
    kill(pid, SIGTERM);
    for (unsigned i = 0; i < grace_ms / 10; i++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return st;
        bp_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return st;
}

int bp_stop(volatile pid_t *pidp)
{
    int st = bp_stop_pid(*pidp, 5000);
    *pidp = 0;
    return st;
}

int bp_start_mock(bp_run *r, const char *bin, int *port)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    /* two worker threads: this is a 2-vCPU machine; the mock is nowhere
     * near being the bottleneck of any benchmark here */
    char *argv[] = { (char *)bin, "--port", "0", "--threads", "2", NULL };
    r->mock_pid = bp_spawn(r->name, bin, argv, p[1], devnull);
    close(p[1]);
    if (devnull >= 0)
        close(devnull);
    if (r->mock_pid < 0) {
        close(p[0]);
        return -1;
    }
    char line[256];
    size_t got = 0;
    uint64_t deadline = bp_now_ns() + 10000000000ull;
    while (got < sizeof line - 1 && !memchr(line, '\n', got)) {
        struct pollfd pfd = { p[0], POLLIN, 0 };
        int64_t left = (int64_t)(deadline - bp_now_ns());
        if (left <= 0 || poll(&pfd, 1, (int)(left / 1000000) + 1) <= 0)
            break;
        ssize_t n = read(p[0], line + got, sizeof line - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(p[0]);   /* the mock printed its one line; later writes (none) would get EPIPE */
    line[got] = 0;
    const char *m = strstr(line, "listening on 127.0.0.1:");
    if (!m) {
        fprintf(stderr, "%s: the mock upstream (%s) did not say where it listens (said '%s')\n", r->name, bin,
                line);
        return -1;
    }
    *port = atoi(m + strlen("listening on 127.0.0.1:"));
    return 0;
}

int bp_start_sidecar(bp_run *r, const char *bin, const char *config_yaml, char *sock, size_t socklen)
{
    char cfg[128], logp[128];
    snprintf(cfg, sizeof cfg, "%s/ringside.yaml", r->dir);
    snprintf(logp, sizeof logp, "%s/ringsided.log", r->dir);
    snprintf(sock, socklen, "%s/rs.sock", r->dir);
    FILE *f = fopen(cfg, "w");
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %s\n", r->name, cfg, strerror(errno));
        return -1;
    }
    fputs(config_yaml, f);
    if (fclose(f) != 0)
        return -1;
    int logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0)
        return -1;
    char *argv[] = { (char *)bin, "--config", cfg, "--socket", sock, NULL };
    r->sidecar_pid = bp_spawn(r->name, bin, argv, logfd, logfd);
    close(logfd);
    return r->sidecar_pid < 0 ? -1 : 0;
}

/* The sidecar binds only after reading its config, so the first attempts
 * may find no socket: retry, but notice a sidecar that has died. */
rs_client *bp_connect(bp_run *r, const char *sock)
{
    uint64_t deadline = bp_now_ns() + 20000000000ull;
    for (;;) {
        rs_client *c;
        int err = rs_connect(sock, &c);
        if (err == 0)
            return c;
        int st;
        if (waitpid(r->sidecar_pid, &st, WNOHANG) == r->sidecar_pid) {
            r->sidecar_pid = 0;
            fprintf(stderr, "%s: ringsided exited (status %d) before it listened\n", r->name, st);
            bp_print_log_tail(r);
            return NULL;
        }
        if (bp_now_ns() > deadline) {
            fprintf(stderr, "%s: could not connect to ringsided on %s: %s (%s)\n", r->name, sock, rs_errname(err),
                    rs_last_error());
            bp_print_log_tail(r);
            return NULL;
        }
        bp_sleep_ms(20);
    }
}

void bp_print_log_tail(const bp_run *r)
{
    char p[128], buf[4096];
    snprintf(p, sizeof p, "%s/ringsided.log", r->dir);
    FILE *f = fopen(p, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, sz > (long)sizeof buf - 1 ? sz - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    fprintf(stderr, "---- ringsided log (tail) ----\n%s------------------------------\n", buf);
}
