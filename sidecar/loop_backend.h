/*
 * loop_backend.h — what a backend of the event loop provides (loop.h says
 * what each operation means; loop.c chooses the backend and forwards).
 */
#ifndef SC_LOOP_BACKEND_H
#define SC_LOOP_BACKEND_H

#include "loop.h"

struct sc_loop_backend {
    const char *name;
    void (*destroy)(sc_loop *l);
    void (*poll)(sc_loop *l, sc_op *op, int fd, unsigned events, bool multi);
    void (*accept)(sc_loop *l, sc_op *op, int fd);
    void (*recv)(sc_loop *l, sc_op *op, int fd, void *buf, size_t len, uint64_t timeout_ns);
    void (*read)(sc_loop *l, sc_op *op, int fd, void *buf, size_t len);
    void (*timeout)(sc_loop *l, sc_op *op, uint64_t ns);
    void (*populate)(sc_loop *l, sc_op *op, void *addr, size_t len);
    void (*cancel)(sc_loop *l, sc_op *op);
    void (*flush)(sc_loop *l);
    bool (*pending)(sc_loop *l);
    unsigned (*reap)(sc_loop *l, unsigned max);
    void (*wait)(sc_loop *l, uint64_t timeout_ns);
};

/* Each sets l->be and l->impl, or returns -errno and leaves l zeroed. */
int sc_loop_uring_init(sc_loop *l, unsigned entries);
int sc_loop_epoll_init(sc_loop *l);

#endif
