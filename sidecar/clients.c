/*
 * clients.c — who may talk to the sidecar, and the life of each client.
 *
 * A client connects to the registration socket (SOCK_SEQPACKET), the peer
 * is checked with SO_PEERCRED, and after a valid hello the sidecar creates
 * the client's own region: a memfd sealed against shrinking and growing (so
 * the client can never make our mapping fault), plus two eventfd doorbells,
 * all passed back with SCM_RIGHTS. No other process ever receives that
 * memfd, which is what isolates clients from each other.
 *
 * The socket then only signals life: its hang-up (the client exited, was
 * SIGKILLed, or closed) tears the client down, cancels its requests and
 * reclaims its region. Teardown waits for the client's pending loop
 * ops to come back before freeing it, as a cancelled op still completes.
 */
#include "clients.h"

#include "admission.h"
#include "channel.h"
#include "inflight.h"
#include "log.h"
#include "outbox.h"
#include "ringside.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>


/* A connection between accept and a valid hello. */
typedef struct sc_pending {
    sc_op op;
    sc_daemon *d;
    int fd;
    struct ucred cred;
    rs__hello hello;
} sc_pending;

static void arm_accept(sc_daemon *d);

void sc_client_free(sc_client *c)
{
    sc_inflight_destroy(c);
    free(c);
}

/* A watched client is freed once it is closed and its ops have come back
 * (a cancelled op still completes, into this struct); an unwatched one is
 * its starter's to free. */
static void maybe_free(sc_client *c)
{
    if (c->closing && c->ops_pending == 0 && c->watched)
        sc_client_free(c);
}

/* ------------------------------------------------------------ listening */

/* Connecting needs search permission on every directory above the
 * socket, so a directory we make opens to exactly the classes the socket
 * admits: group r-x when socket_mode gives the group anything (0750, owned
 * by socket_group when set, so that group's members of other uids get in
 * and nobody else can even see the name), others r-x only when the mode
 * has world bits (0755). A directory that exists already (/tmp, a shared
 * emptyDir) is the operator's and left as it is. */
static int make_parent_dir(const sc_config *cfg)
{
    char dir[sizeof ((struct sockaddr_un *)0)->sun_path];
    snprintf(dir, sizeof dir, "%s", cfg->socket_path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    mode_t mode = 0700 | ((cfg->socket_mode & 0070) ? 0050 : 0) | ((cfg->socket_mode & 0007) ? 0005 : 0);
    if (mkdir(dir, mode) < 0) {
        if (errno == EEXIST)
            return 0;
        sc_error("cannot create %s, the directory of the socket: %s", dir, strerror(errno));
        return -1;
    }
    /* mkdir's mode passed through the umask, and the group is ours until
     * the chown: set both before the socket appears inside */
    if (cfg->socket_group[0] && chown(dir, (uid_t)-1, cfg->socket_gid) < 0) {
        sc_error("socket_group: cannot give %s, the directory of the socket, to group %s: %s (the "
                 "sidecar must be root or a member of that group)", dir, cfg->socket_group, strerror(errno));
        return -1;
    }
    if (chmod(dir, mode) < 0) {
        sc_error("cannot set %s, the directory of the socket, to mode %04o: %s", dir, (unsigned)mode,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* The socket is bound owner-only (umask 0177), given to socket_group, and
 * only then opened to socket_mode: no moment where it is open to a group
 * it was not meant for. Giving it to a group we are not in takes root
 * (CAP_CHOWN). */
static int open_socket_file(const sc_config *cfg)
{
    const char *path = cfg->socket_path;
    if (cfg->socket_group[0] && chown(path, (uid_t)-1, cfg->socket_gid) < 0) {
        sc_error("socket_group: cannot give %s to group %s: %s (the sidecar must be root or a member "
                 "of that group)", path, cfg->socket_group, strerror(errno));
        return -1;
    }
    if (chmod(path, cfg->socket_mode) < 0) {
        sc_error("socket_mode: cannot set %s to %04o: %s", path, (unsigned)cfg->socket_mode, strerror(errno));
        return -1;
    }
    return 0;
}

int sc_clients_listen(sc_daemon *d)
{
    const char *path = d->cfg.socket_path;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);

    if (make_parent_dir(&d->cfg) < 0)
        return -1;
    d->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (d->listen_fd < 0) {
        sc_error("socket: %s", strerror(errno));
        return -1;
    }
    /* A socket file left by a crashed sidecar blocks bind; one that still
     * answers belongs to a live sidecar and must not be stolen. */
    int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
        close(probe);
        sc_error("another ringsided already serves %s; stop it or pass --socket", path);
        return -1;
    }
    if (probe >= 0)
        close(probe);
    unlink(path);
    mode_t old = umask(0177);
    int r = bind(d->listen_fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (r < 0) {
        sc_error("cannot listen on %s: %s", path, strerror(errno));
        return -1;
    }
    if (open_socket_file(&d->cfg) < 0)
        return -1;
    if (listen(d->listen_fd, 128) < 0) {
        sc_error("cannot listen on %s: %s", path, strerror(errno));
        return -1;
    }
    arm_accept(d);
    return 0;
}

void sc_clients_stop_listening(sc_daemon *d)
{
    if (d->listen_fd < 0)
        return;
    if (d->accept_armed)
        sc_loop_cancel(&d->loop, &d->accept_op);
    if (d->accept_paused)
        sc_loop_cancel(&d->loop, &d->accept_pause_op);
    sc_loop_flush(&d->loop);
    close(d->listen_fd);
    d->listen_fd = -1;
    unlink(d->cfg.socket_path);
}

/* ------------------------------------------------------------ handshake */

static void refuse(int fd, int status, const char *fmt, const char *arg)
{
    rs__welcome w = { .magic = RS__WELCOME_MAGIC, .version = RS__PROTO_VERSION, .status = status };
    snprintf(w.message, sizeof w.message, fmt, arg);
    if (send(fd, &w, sizeof w, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* the peer left already; nothing to tell */
    }
    close(fd);
}

static bool out_of_fds(int err)
{
    return err == EMFILE || err == ENFILE;
}

/* A registration that failed for want of a resource: say which, so the
 * client's error names the remedy rather than a vague hang-up. */
static void refuse_for_want_of(int fd, int err)
{
    if (out_of_fds(err))
        refuse(fd, RS_ECONNECT, "%s", "sidecar is out of file descriptors (3 per client); retry later, "
               "or raise its open-file limit (ulimit -n)");
    else
        refuse(fd, RS_ENOMEM, "sidecar could not create the shared region: %s", strerror(err));
}

static bool gid_allowed(const sc_config *cfg, gid_t gid)
{
    for (unsigned i = 0; i < cfg->n_allow_gids; i++)
        if (cfg->allow_gids[i] == gid)
            return true;
    return false;
}

/* Admitted by uid (allow_uids), or by a group (allow_gids): the primary
 * gid from SO_PEERCRED, else any supplementary group the peer held when
 * it connected (SO_PEERGROUPS), as an app container typically gets the
 * socket's group as a supplementary one. */
static bool peer_allowed(const sc_config *cfg, int fd, const struct ucred *cred)
{
    if (cfg->allow_any_uid)
        return true;
    for (unsigned i = 0; i < cfg->n_allow_uids; i++)
        if (cfg->allow_uids[i] == cred->uid)
            return true;
    if (cfg->n_allow_gids == 0)
        return false;
    if (gid_allowed(cfg, cred->gid))
        return true;
    socklen_t len = 0;   /* asks for the size: ERANGE unless the peer has no groups */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) == 0 || errno != ERANGE)
        return false;
    gid_t *groups = malloc(len);
    bool ok = false;
    if (groups && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
        for (size_t i = 0; !ok && i < len / sizeof *groups; i++)
            ok = gid_allowed(cfg, groups[i]);
    free(groups);
    return ok;
}

static void on_sq_bell(sc_op *op, int res, uint32_t flags);
static void on_hup(sc_op *op, int res, uint32_t flags);

/* One multishot poll for the life of the client: every doorbell write
 * completes once and nothing needs re-arming. The eventfd is never read (its
 * counter only grows, and would need 2^64 rings to overflow): a read and a
 * re-arm per wakeup were two more steps between a client's doorbell and
 * its answer. */
static void arm_sq_bell(sc_client *c)
{
    sc_loop_poll(&c->d->loop, &c->sq_bell_op, c->sq_efd, POLLIN, true);
    c->ops_pending++;
}

static void arm_hup(sc_client *c)
{
    sc_loop_poll(&c->d->loop, &c->hup_op, c->sock, POLLIN | POLLRDHUP, false);
    c->ops_pending++;
}

/* --prefault: fault the region in without stalling the loop (io_uring runs
 * the madvise in one of its worker threads). The first lap of each ring would
 * otherwise take a page fault every 4 KiB on each side (the slowest of a
 * busy client's calls until both rings have lapped: bench/RESULTS.md). The
 * client maps it populated (RS__FEATURE_PREFAULT); whichever side comes first
 * allocates the pages. Should the client go before it ends, the unmapped
 * range just ends the madvise early. */
static void on_prefault(sc_op *op, int res, uint32_t flags)
{
    (void)flags;
    sc_client *c = container_of(op, sc_client, prefault_op);
    c->ops_pending--;
    if (res < 0 && !c->closing)
        sc_warn("client %llu: prefaulting its region failed (%s); its rings fault in as they are used",
                (unsigned long long)c->id, strerror(-res));
    maybe_free(c);
}

static void prefault(sc_client *c)
{
    sc_loop_populate(&c->d->loop, &c->prefault_op, c->map, c->map_len);
    c->ops_pending++;
}

static int send_welcome(int fd, const rs__welcome *w, int memfd, int sq_efd, int cq_efd)
{
    int fds[3] = { memfd, sq_efd, cq_efd };
    union {
        char buf[CMSG_SPACE(sizeof fds)];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = { (void *)w, sizeof *w };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cm), fds, sizeof fds);
    /* a fresh socket's buffer is empty: this small send cannot block */
    return sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof *w ? 0 : -1;
}

sc_client *sc_client_new(sc_daemon *d)
{
    sc_client *c = calloc(1, sizeof *c);
    if (c && sc_inflight_init(c, d->cfg.max_inflight) < 0) {
        free(c);
        return NULL;
    }
    if (c) {
        c->d = d;
        c->id = ++d->next_client_id;
        c->capped_at = UINT64_MAX;
    }
    return c;
}

void sc_client_start(sc_client *c, void *map, const rs__layout *lay, int sock, int sq_efd, int cq_efd,
                     pid_t pid, uid_t uid, bool watch)
{
    sc_daemon *d = c->d;
    uint8_t *base = map;
    c->map = map;
    c->map_len = lay->size;
    rs__ring_init(&c->sq, base + lay->sq_hdr_off, base + lay->sq_data_off, lay->sq_cap);
    rs__ring_init(&c->cq, base + lay->cq_hdr_off, base + lay->cq_data_off, lay->cq_cap);
    c->sock = sock;
    c->sq_efd = sq_efd;
    c->cq_efd = cq_efd;
    c->pid = pid;
    c->uid = uid;
    sc_limit_apply(&d->cfg.client_limit, true, rs__now_ns(), &c->limit, &c->limited, NULL, NULL);
    c->sq_bell_op.fn = on_sq_bell;
    c->hup_op.fn = on_hup;
    c->prefault_op.fn = on_prefault;
    c->next = d->clients;
    if (d->clients)
        d->clients->prev = c;
    d->clients = c;
    d->nclients++;
    d->stats.clients_accepted++;
    d->kicked = true;
    c->watched = watch;
    if (!watch)
        return;
    arm_sq_bell(c);
    arm_hup(c);
    if (d->cfg.prefault)
        prefault(c);
}

static void create_client(sc_daemon *d, sc_pending *p)
{
    const sc_config *cfg = &d->cfg;
    rs__layout lay;
    rs__layout_compute(cfg->ring_bytes, cfg->ring_bytes, &lay);

    sc_client *c = sc_client_new(d);
    int memfd = memfd_create("ringside-client", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (!c || memfd < 0 || ftruncate(memfd, (off_t)lay.size) < 0 ||
        fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        int err = errno;
        sc_error("cannot create a client region of %llu bytes: %s",
                 (unsigned long long)lay.size, strerror(err));
        refuse_for_want_of(p->fd, err);
        if (memfd >= 0)
            close(memfd);
        if (c)
            sc_inflight_destroy(c);
        free(c);
        return;
    }
    void *map = mmap(NULL, lay.size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    int sq_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int cq_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    rs__welcome w = {
        .magic = RS__WELCOME_MAGIC, .version = RS__PROTO_VERSION, .status = 0,
        .max_record = RS__MAX_RECORD, .max_inflight = cfg->max_inflight,
        .features = RS__FEATURE_FLOW | (cfg->prefault ? RS__FEATURE_PREFAULT : 0),
        .client_id = c->id, .layout = lay,
    };
    bool made = map != MAP_FAILED && sq_efd >= 0 && cq_efd >= 0;
    if (!made || send_welcome(p->fd, &w, memfd, sq_efd, cq_efd) < 0) {
        int err = errno;
        sc_error("registration of pid %d failed: %s", (int)p->cred.pid, strerror(err));
        if (!made) {   /* the client is still there to be told why */
            refuse_for_want_of(p->fd, err);
            p->fd = -1;
        }
        if (map != MAP_FAILED)
            munmap(map, lay.size);
        if (sq_efd >= 0)
            close(sq_efd);
        if (cq_efd >= 0)
            close(cq_efd);
        close(memfd);
        if (p->fd >= 0)
            close(p->fd);
        sc_inflight_destroy(c);
        free(c);
        return;
    }
    close(memfd);   /* our mapping keeps the region alive */
    sc_client_start(c, map, &lay, p->fd, sq_efd, cq_efd, p->cred.pid, p->cred.uid, true);
    sc_info("client %llu registered: pid %d uid %u, rings 2x%llu bytes",
            (unsigned long long)c->id, (int)c->pid, (unsigned)c->uid,
            (unsigned long long)cfg->ring_bytes);
}

static void on_hello(sc_op *op, int res, uint32_t flags)
{
    (void)flags;
    sc_pending *p = container_of(op, sc_pending, op);
    sc_daemon *d = p->d;
    if (res != (int)sizeof p->hello || p->hello.magic != RS__HELLO_MAGIC) {
        sc_warn("registration from pid %d dropped: %s", (int)p->cred.pid,
                res < 0 ? strerror(-res) : "no valid hello");
        d->stats.clients_refused++;
        close(p->fd);
    } else if (p->hello.version != RS__PROTO_VERSION) {
        d->stats.clients_refused++;
        refuse(p->fd, RS_EPROTO, "%s", "client speaks another protocol version; use a matching libringside");
    } else if (!peer_allowed(&d->cfg, p->fd, &p->cred)) {
        /* refused only after the hello is read: closing a socket with unread
         * data would reset it and the client would never see the reason */
        char msg[sizeof ((rs__welcome *)0)->message];
        snprintf(msg, sizeof msg, "uid %u may not register (gid %u); admit it with allow_uids "
                 "(--allow-uid %u), or its group with allow_gids (--allow-gid %u)",
                 (unsigned)p->cred.uid, (unsigned)p->cred.gid, (unsigned)p->cred.uid, (unsigned)p->cred.gid);
        sc_warn("refused pid %d: %s", (int)p->cred.pid, msg);
        d->stats.clients_refused++;
        refuse(p->fd, RS_ECONNECT, "%s", msg);
    } else if (d->state != SC_RUNNING) {
        refuse(p->fd, RS_ESHUTDOWN, "%s", "sidecar is shutting down");
    } else {
        create_client(d, p);
    }
    free(p);
}

#define ACCEPT_PAUSE_MS 100

static void on_accept_pause(sc_op *op, int res, uint32_t flags)
{
    (void)res;
    (void)flags;
    sc_daemon *d = container_of(op, sc_daemon, accept_pause_op);
    d->accept_paused = false;
    arm_accept(d);   /* nothing if we stopped listening meanwhile */
}

/* accept() failed for want of a file descriptor (or kernel memory).
 * Retrying at once would fail at once, in a loop that burns a core and
 * floods the log (hundreds of thousands of lines a second) until some client
 * goes: wait a little between tries instead, with one log line per
 * episode. The connections wait in the listen backlog meanwhile. */
static void pause_accepts(sc_daemon *d, int err)
{
    if (d->accept_pauses++ == 0)
        sc_timeline_add(&d->timeline, true, "accept_paused", "",
                "cannot accept clients: %s (%u connected); retrying every %d ms%s", strerror(err),
                d->nclients, ACCEPT_PAUSE_MS,
                out_of_fds(err) ? ". Each client takes 3 file descriptors: raise the sidecar's "
                                  "open-file limit (ulimit -n)" : "");
    d->accept_pause_op.fn = on_accept_pause;
    sc_loop_timeout(&d->loop, &d->accept_pause_op, ACCEPT_PAUSE_MS * 1000000ull);
    d->accept_paused = true;
}

static void on_accept(sc_op *op, int res, uint32_t flags)
{
    (void)flags;
    sc_daemon *d = container_of(op, sc_daemon, accept_op);
    d->accept_armed = false;
    if (d->listen_fd < 0) {
        if (res >= 0)
            close(res);
        return;
    }
    if (res < 0) {
        if (out_of_fds(-res) || res == -ENOBUFS || res == -ENOMEM) {
            pause_accepts(d, -res);
            return;
        }
        if (res != -EAGAIN && res != -EINTR && res != -ECANCELED)
            sc_warn("accept: %s", strerror(-res));
        arm_accept(d);
        return;
    }
    if (d->accept_pauses) {
        sc_timeline_add(&d->timeline, false, "accept_resumed", "", "accepting clients again (after %u pauses)",
                        d->accept_pauses);
        d->accept_pauses = 0;
    }
    int fd = res;
    sc_pending *p = calloc(1, sizeof *p);
    socklen_t len = sizeof p->cred;
    if (!p || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &p->cred, &len) < 0) {
        close(fd);
        free(p);
        arm_accept(d);
        return;
    }
    p->d = d;
    p->fd = fd;
    p->op.fn = on_hello;
    /* the hello must come within 5 s, or a silent peer would pin an op */
    sc_loop_recv(&d->loop, &p->op, fd, &p->hello, sizeof p->hello, 5000000000ull);
    arm_accept(d);
}

static void arm_accept(sc_daemon *d)
{
    if (d->listen_fd < 0 || d->accept_armed)
        return;
    d->accept_op.fn = on_accept;
    sc_loop_accept(&d->loop, &d->accept_op, d->listen_fd);
    d->accept_armed = true;
}

/* ------------------------------------------------------------- doorbells */

static void on_sq_bell(sc_op *op, int res, uint32_t flags)
{
    sc_client *c = container_of(op, sc_client, sq_bell_op);
    bool more = flags & SC_OP_MORE;
    if (!more)
        c->ops_pending--;
    if (c->closing) {
        if (!more)
            maybe_free(c);
        return;
    }
    if (res < 0 && res != -EAGAIN && res != -EINTR) {
        sc_client_close(c, "doorbell poll failed");
        return;
    }
    c->d->kicked = true;
    if (!more)   /* the kernel ended the multishot (e.g. CQ overflow): renew it */
        arm_sq_bell(c);
}

static void on_hup(sc_op *op, int res, uint32_t flags)
{
    (void)flags;
    (void)res;
    sc_client *c = container_of(op, sc_client, hup_op);
    c->ops_pending--;
    if (c->closing) {
        maybe_free(c);
        return;
    }
    /* the client never writes after its hello: any event means it is gone
     * (or misbehaving, which ends the same way) */
    sc_client_close(c, "client hung up");
}

/* -------------------------------------------------------------- teardown */

void sc_client_close(sc_client *c, const char *why)
{
    if (c->closing)
        return;
    sc_daemon *d = c->d;
    unsigned cancelled = 0;
    c->closing = true;
    if (c->watched) {
        sc_loop_cancel(&d->loop, &c->sq_bell_op);
        sc_loop_cancel(&d->loop, &c->hup_op);
        sc_loop_flush(&d->loop);
    }

    while (c->inflight) {
        sc_req *r = c->inflight;
        c->inflight = r->next;
        sc_admission_forget(d, r);
        r->client = NULL;
        sc_req_free(r);
        cancelled++;
    }
    c->asm_req = NULL;
    while (c->out_head) {
        sc_completion *cp = c->out_head;
        c->out_head = cp->next;
        sc_completion_free(cp);
    }
    c->out_tail = NULL;
    munmap(c->map, c->map_len);
    close(c->sock);
    close(c->sq_efd);
    close(c->cq_efd);

    if (c->prev)
        c->prev->next = c->next;
    else
        d->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    d->nclients--;
    d->stats.clients_gone++;
    sc_info("client %llu (pid %d) closed: %s; %llu requests (%llu bad records), %u in flight cancelled, "
            "region reclaimed", (unsigned long long)c->id, (int)c->pid, why,
            (unsigned long long)c->stats_requests, (unsigned long long)c->stats_bad, cancelled);
    maybe_free(c);
}
