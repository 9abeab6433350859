/*
 * ringpack.c — pack records in place in a ring (see ringpack.h).
 */
#include "ringpack.h"

#include <string.h>

struct ring_cursor {
    const rs__ring *r;
    uint64_t pos;
};

static int write_ring(void *data, const char *buf, size_t len)
{
    struct ring_cursor *c = data;
    rs__ring_copy_in(c->r, c->pos, buf, len);
    c->pos += len;
    return 0;
}

uint64_t rs__ring_put(rs__ring *r, uint64_t pos, rs__pack_fn fn, const void *rec, uint32_t len)
{
    struct ring_cursor cur = { r, pos + RS__FRAME_BYTES };
    msgpack_packer pk;
    msgpack_packer_init(&pk, &cur, write_ring);
    fn(&pk, rec);
    rs__ring_commit(r, pos, len);
    return rs__rec_span(len);
}

uint64_t rs__ring_put_packed(rs__ring *r, uint64_t pos, const void *payload, uint32_t len)
{
    rs__ring_copy_in(r, pos + RS__FRAME_BYTES, payload, len);
    rs__ring_commit(r, pos, len);
    return rs__rec_span(len);
}

uint32_t rs__stage(rs__staged *st, rs__pack_fn fn, const void *rec)
{
    st->fn = fn;
    st->rec = rec;
    size_t n = rs__pack_into(fn, rec, st->buf, sizeof st->buf);
    st->small = n != 0;
    st->len = (uint32_t)(n ? n : rs__packed_size(fn, rec));
    return st->len;
}

uint64_t rs__ring_put_staged(rs__ring *r, uint64_t pos, const rs__staged *st)
{
    return st->small ? rs__ring_put_packed(r, pos, st->buf, st->len)
                     : rs__ring_put(r, pos, st->fn, st->rec, st->len);
}
