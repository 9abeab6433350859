/*
 * channel.c — region layout and default socket path (see channel.h).
 */
#include "channel.h"
#include "ring.h"
#include "ringside.h"

#include <stdio.h>
#include <stdlib.h>
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

int rs__layout_check(const rs__layout *l, uint64_t size)
{
    if (!pow2_at_least_page(l->sq_cap) || !pow2_at_least_page(l->cq_cap))
        return -1;
    if (l->size != size || l->sq_hdr_off % RS__CACHELINE || l->cq_hdr_off % RS__CACHELINE)
        return -1;
    if (l->sq_hdr_off + sizeof(rs__ring_hdr) > PAGE || l->cq_hdr_off + sizeof(rs__ring_hdr) > PAGE)
        return -1;
    if (l->sq_data_off % PAGE || l->cq_data_off % PAGE)
        return -1;
    if (l->sq_data_off + l->sq_cap > size || l->cq_data_off + l->cq_cap > size)
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
