/*
 * seccomp_refuse — run a program with some syscalls refused, as a
 * container runtime's seccomp profile refuses them (Docker >= 25 and
 * containerd's RuntimeDefault refuse io_uring_setup; podman's profile says
 * ENOSYS, others EPERM).
 *
 *   seccomp_refuse ERRNO SYSCALL[,SYSCALL...] PROGRAM [ARGS...]
 *
 * ERRNO is ENOSYS or EPERM; SYSCALL one of io_uring_setup, io_uring_enter,
 * io_uring_register, epoll_create1, epoll_pwait2. Every other syscall is
 * allowed.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define THIS_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_ARCH AUDIT_ARCH_AARCH64
#else
#error "seccomp_refuse: add this architecture's AUDIT_ARCH"
#endif

static const struct {
    const char *name;
    long nr;
} known[] = {
    { "io_uring_setup", __NR_io_uring_setup },
    { "io_uring_enter", __NR_io_uring_enter },
    { "io_uring_register", __NR_io_uring_register },
    { "epoll_create1", __NR_epoll_create1 },
    { "epoll_pwait2", __NR_epoll_pwait2 },
};

#define MAX_REFUSED 8

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s ENOSYS|EPERM SYSCALL[,SYSCALL...] PROGRAM [ARGS...]\n", argv[0]);
        return 2;
    }
    unsigned err = strcmp(argv[1], "ENOSYS") == 0 ? ENOSYS : strcmp(argv[1], "EPERM") == 0 ? EPERM : 0;
    if (!err) {
        fprintf(stderr, "seccomp_refuse: errno must be ENOSYS or EPERM, not '%s'\n", argv[1]);
        return 2;
    }
    long nrs[MAX_REFUSED];
    unsigned n = 0;
    for (char *name = strtok(argv[2], ","); name; name = strtok(NULL, ",")) {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(known[i].name, name) != 0)
            i++;
        if (i == sizeof known / sizeof known[0] || n == MAX_REFUSED) {
            fprintf(stderr, "seccomp_refuse: unknown syscall '%s'\n", name);
            return 2;
        }
        nrs[n++] = known[i].nr;
    }

    /* arch check, load nr, one compare per refused syscall, allow, refuse */
    struct sock_filter f[4 + MAX_REFUSED + 2];
    unsigned k = 0;
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_ARCH, 1, 0);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (unsigned i = 0; i < n; i++)   /* a match jumps over the rest and the allow */
        f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nrs[i], (unsigned char)(n - i), 0);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA));
    struct sock_fprog prog = { .len = (unsigned short)k, .filter = f };

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
        perror("seccomp_refuse: installing the filter");
        return 2;
    }
    execvp(argv[3], argv + 3);
    perror("seccomp_refuse: exec");
    return 127;
}
