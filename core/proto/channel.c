/*
 * channel.c — region layout and default socket path (see channel.h).
 */
#include "channel.h"
#include "ring.h"
#include "ringside.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define PAGE 4096u

void rs__layout_compute(uint64_t sq_cap, uint64_t cq_cap, rs__layout *l)
{
    /* ring headers share the first page; each ring's data starts on a page */
    l->sq_hdr_off = 0;
    l->cq_hdr_off = sizeof(rs__ring_hdr);
    l->sq_data_off = PAGE;
    l->sq_cap = sq_cap;
    l->cq_data_off = PAGE + sq_cap;
    l->cq_cap = cq_cap;
    l->size = PAGE + sq_cap + cq_cap;
}

static int pow2_at_least_page(uint64_t v)
{
    return v >= PAGE && (v & (v - 1)) == 0;
}

/* off + len <= size, without the sum overflowing */
static int fits(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

int rs__layout_check(const rs__layout *l, uint64_t size)
{
    if (!pow2_at_least_page(l->sq_cap) || !pow2_at_least_page(l->cq_cap) || l->size != size)
        return -1;
    if (l->sq_hdr_off % RS__CACHELINE || l->cq_hdr_off % RS__CACHELINE ||
        l->sq_data_off % PAGE || l->cq_data_off % PAGE)
        return -1;
    /* both headers in the first page, not overlapping each other */
    if (!fits(l->sq_hdr_off, sizeof(rs__ring_hdr), PAGE) || !fits(l->cq_hdr_off, sizeof(rs__ring_hdr), PAGE) ||
        (l->sq_hdr_off < l->cq_hdr_off + sizeof(rs__ring_hdr) && l->cq_hdr_off < l->sq_hdr_off + sizeof(rs__ring_hdr)))
        return -1;
    /* data areas after the header page, inside the mapping, disjoint */
    if (l->sq_data_off < PAGE || l->cq_data_off < PAGE ||
        !fits(l->sq_data_off, l->sq_cap, size) || !fits(l->cq_data_off, l->cq_cap, size) ||
        (l->sq_data_off < l->cq_data_off + l->cq_cap && l->cq_data_off < l->sq_data_off + l->sq_cap))
        return -1;
    return 0;
}

int rs__default_socket_path(char *buf, size_t n)
{
    const char *env = getenv("RINGSIDE_SOCKET");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int w;
    if (env && *env)
        w = snprintf(buf, n, "%s", env);
    else if (geteuid() == 0)
        w = snprintf(buf, n, "/run/ringside/ringside.sock");
    else if (xdg && *xdg)
        w = snprintf(buf, n, "%s/ringside.sock", xdg);
    else
        w = snprintf(buf, n, "/tmp/ringside-%u/ringside.sock", (unsigned)geteuid());
    return (w < 0 || (size_t)w >= n) ? RS_EINVAL : 0;
}

int rs__client_socket_path(const char *pod_path, char *buf, size_t n)
{
    const char *env = getenv("RINGSIDE_SOCKET");
    struct stat st;
    if ((!env || !*env) && stat(pod_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        int w = snprintf(buf, n, "%s", pod_path);
        return (w < 0 || (size_t)w >= n) ? RS_EINVAL : 0;
    }
    return rs__default_socket_path(buf, n);
}

static int recv_welcome(int sock, rs__welcome *w, int fds[3])
{
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { w, sizeof *w };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    int nfds = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); n >= 0 && cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            if (nfds < 3)
                fds[nfds++] = fd;
            else
                close(fd);
        }
    }
    if (n != (ssize_t)sizeof *w || w->magic != RS__WELCOME_MAGIC) {
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        /* no answer at all (hang-up, reset, timeout) is not a version
         * mismatch: e.g. a sidecar that died a moment ago */
        return n <= 0 ? -2 : -1;
    }
    return nfds;
}

int rs__channel_register(const char *path, rs__welcome *w, int fds[3], char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "socket path too long: %s", path);
        return RS_EINVAL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        snprintf(err, errlen, "socket(): %s", strerror(errno));
        return RS_ECONNECT;
    }
    /* registration is a short exchange; never hang forever on a stuck sidecar */
    struct timeval tv = { .tv_sec = 5 };
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(sock, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno == EACCES)   /* the socket's mode and group, or a directory above it */
            snprintf(err, errlen, "no permission to open %s: on the sidecar, set socket_group "
                     "(--socket-group) to a group of this process, or widen socket_mode (--socket-mode)", path);
        else
            snprintf(err, errlen, "cannot connect to %s: %s (is ringsided running? set RINGSIDE_SOCKET)",
                     path, strerror(errno));
        close(sock);
        return RS_ECONNECT;
    }
    rs__hello h = { .magic = RS__HELLO_MAGIC, .version = RS__PROTO_VERSION };
    snprintf(h.name, sizeof h.name, "pid-%ld", (long)getpid());
    /* A sidecar that refuses us (uid not allowed) answers before reading the
     * hello and hangs up, so a failed send still leaves its reason to read. */
    int send_errno = 0;
    if (send(sock, &h, sizeof h, MSG_NOSIGNAL) != (ssize_t)sizeof h)
        send_errno = errno;
    int nfds = recv_welcome(sock, w, fds);
    if (nfds < 0 && send_errno) {
        snprintf(err, errlen, "registration send failed: %s", strerror(send_errno));
        close(sock);
        return RS_ECONNECT;
    }
    if (nfds == -2) {
        snprintf(err, errlen, "the sidecar at %s hung up without answering (restarting or stopping? retry)", path);
        close(sock);
        return RS_ECONNECT;
    }
    if (nfds < 0) {
        snprintf(err, errlen, "no valid welcome from the sidecar at %s (version mismatch or timeout)", path);
        close(sock);
        return RS_EPROTO;
    }
    if (w->status != 0 || nfds != 3) {
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        w->message[sizeof w->message - 1] = 0;
        snprintf(err, errlen, "sidecar refused registration: %s", w->message);
        close(sock);
        return w->status < 0 ? w->status : RS_EPROTO;
    }
    return sock;
}
