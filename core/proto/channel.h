/*
 * channel.h — what a client and the sidecar agree on to open a channel:
 * the registration handshake over the Unix socket, the layout of the
 * per-client shared region, and where the socket lives by default.
 *
 * Registration (SOCK_SEQPACKET, so each message arrives whole):
 *   client → sidecar   rs__hello
 *   sidecar → client   rs__welcome + SCM_RIGHTS [region memfd, sq doorbell
 *                      eventfd, cq doorbell eventfd]   (fds only if status 0)
 * The socket then stays open for the life of the client: its hang-up is how
 * each side learns the other is gone.
 *
 * The region is a memfd the sidecar creates per client and seals against
 * shrinking and growing, so a client can never make the sidecar fault on a
 * truncated mapping. The layout is decided by the sidecar and told to the
 * client in the welcome; nothing in the region itself describes the layout,
 * so scribbling over it cannot mislead the sidecar.
 */
#ifndef RS_CHANNEL_H
#define RS_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#define RS__HELLO_MAGIC   0x31485352u   /* "RSH1" little-endian */
#define RS__WELCOME_MAGIC 0x31575352u   /* "RSW1" */
#define RS__PROTO_VERSION 1u

/* rs__welcome.features */
#define RS__FEATURE_FLOW     0x1u   /* FLOW records: per-stream hold/resume */
#define RS__FEATURE_PREFAULT 0x2u   /* the sidecar faults the region in (--prefault):
                                       map it populated too, so neither side takes
                                       a page fault on the rings' first lap */

typedef struct rs__hello {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t reserved;
    char name[64];          /* free-form client label for logs, NUL-padded */
} rs__hello;

typedef struct rs__layout {
    uint64_t sq_hdr_off, sq_data_off, sq_cap;
    uint64_t cq_hdr_off, cq_data_off, cq_cap;
    uint64_t size;
} rs__layout;

typedef struct rs__welcome {
    uint32_t magic;
    uint32_t version;
    int32_t status;         /* 0 or an RS_E* code; message says why */
    uint32_t max_record;    /* largest record payload the sidecar accepts */
    uint32_t max_inflight;  /* requests this client may have outstanding */
    uint32_t features;      /* RS__FEATURE_*: what this sidecar understands or
                               asks beyond version 1 (older sidecars send 0) */
    uint64_t client_id;
    rs__layout layout;
    char message[192];
} rs__welcome;

/* The client half of registration: connect to path, send a hello, receive
 * the welcome and its three fds (region memfd, sq doorbell, cq doorbell).
 * Returns the connected socket (>= 0), or an RS_E* code with a sentence in
 * err saying what went wrong and what to do. */
int rs__channel_register(const char *path, rs__welcome *w, int fds[3], char *err, size_t errlen);

/* Both capacities must be powers of two of at least 4 KiB. */
void rs__layout_compute(uint64_t sq_cap, uint64_t cq_cap, rs__layout *l);

/* Client side: is a layout received from the sidecar sane for a mapping of
 * `size` bytes? Returns 0 or -1. */
int rs__layout_check(const rs__layout *l, uint64_t size);

/* The default registration socket path: $RINGSIDE_SOCKET if set, else
 * /run/ringside/ringside.sock for root, else $XDG_RUNTIME_DIR/ringside.sock,
 * else /tmp/ringside-<uid>/ringside.sock. Returns 0, or RS_EINVAL if it does
 * not fit in n bytes. */
int rs__default_socket_path(char *buf, size_t n);

/* The fixed socket path of a pod: a shared emptyDir mounted at /run/ringside
 * in the sidecar's container and the apps', whatever uid each runs as. */
#define RS__POD_SOCKET_PATH "/run/ringside/ringside.sock"

/* Where a client registers when told no path: $RINGSIDE_SOCKET if set, else
 * pod_path (RS__POD_SOCKET_PATH; a parameter so tests can use their own)
 * when a socket is there, else rs__default_socket_path. The pod path comes
 * before the uid-dependent default because an app container runs under
 * another uid than the sidecar's: the default would point it elsewhere.
 * Returns 0, or RS_EINVAL if the path does not fit in n bytes. */
int rs__client_socket_path(const char *pod_path, char *buf, size_t n);

#endif
