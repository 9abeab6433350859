/*
 * shim_int.h — what the shim's files share (shim.c: errors, the client,
 * sliced waits, requests; batch.c: the batch object). Not part of the
 * bindings' interface (shim.h).
 */
#ifndef RSB_SHIM_INT_H
#define RSB_SHIM_INT_H

#include "shim.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct rsb_client {
    rs_client *rc;
    pthread_rwlock_t lock;      /* read: any call; write: rsb_close */
    bool closed;                /* guarded by lock */
};

/* The last error of this thread: a code and its detail. */
extern _Thread_local int rsb__last_code;
void rsb__set_err(int code);
void rsb__set_errf(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Take c's read lock; fails (with the code set) on a closed client. */
bool rsb__enter(rsb_client *c);
void rsb__leave(rsb_client *c);

/* What a sliced wait waits for (see shim.c). */
enum job_kind { J_WAIT, J_POLL, J_CHUNK, J_POLL_CHUNK, J_BATCH, J_PAUSE };

#define J_END 1   /* J_CHUNK: the stream has no more chunks */

typedef struct job {
    rsb_client *c;
    enum job_kind kind;
    rs_ticket t;
    int slice_ms;      /* J_PAUSE: microseconds */
    bool ran;
    int rc;            /* 0 = got one (J_BATCH: all), J_END, RS_ETIMEDOUT, or an error */
    rs_response *resp;
    rs_chunk *chunk;
    rs_batch *batch;
} job;

int rsb__run_until(job *j, uint64_t deadline);
uint64_t rsb__deadline_after(int wait_ms);

/* Headers text split in place into rs_header entries. */
typedef struct hdrs {
    char *text;
    rs_header *h;
    size_t n;
    rs_header inline_h[16];
} hdrs;

void rsb__hdrs_free(hdrs *hs);
/* A request from the binding's arguments (validated; headers parsed into hs). */
int rsb__fill_request(rs_request *rq, hdrs *hs, RSB_REQUEST_PARAMS);

#endif
