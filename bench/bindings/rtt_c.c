/*
 * rtt_c.c — the C side of the bindings benchmark: round trips of rs_call on
 * the sidecar's built-in "echo" route (answered inside the sidecar, no
 * network), back to back on one client, the way bench/bindings/rtt.py,
 * rtt.rb and rtt.lua do it in their languages.
 *
 *   rtt_c SOCKET N BODY_BYTES
 *
 * Prints one JSON line: {"lang":"c","n":N,"rtt_us":median,"mean_us":...}.
 * The median of 20 rounds of N/20 calls each: a round's mean smooths the
 * clock's cost, the median of rounds drops the ones a neighbour disturbed.
 * The same method is used in every language, so the figures compare.
 */
#include "ringside.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 20

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s SOCKET N BODY_BYTES\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[2]);
    size_t bytes = (size_t)atol(argv[3]);
    if (n < ROUNDS) {
        fprintf(stderr, "N must be at least %d\n", ROUNDS);
        return 2;
    }
    rs_client *c;
    int err = rs_connect(argv[1], &c);
    if (err < 0) {
        fprintf(stderr, "connect: %s: %s\n", rs_strerror(err), rs_last_error());
        return 1;
    }
    char *body = malloc(bytes + 1);
    if (!body)
        return 1;
    memset(body, 'x', bytes);
    rs_request rq = RS_REQUEST_INIT;
    rq.path = "/echo";
    rq.route = "echo";
    rq.body = body;
    rq.body_len = bytes;

    /* warm up: page in the rings, let both sides reach their steady state */
    for (int i = 0; i < n / 10; i++) {
        rs_response *r;
        if (rs_call(c, &rq, 10000, &r) == 0)
            rs_response_free(r);
    }
    double round_us[ROUNDS], sum = 0;
    int per = n / ROUNDS;
    for (int k = 0; k < ROUNDS; k++) {
        double t0 = now_us();
        for (int i = 0; i < per; i++) {
            rs_response *r;
            err = rs_call(c, &rq, 10000, &r);
            if (err < 0 || r->error != RS_OK || r->body_len != bytes) {
                fprintf(stderr, "call failed: %s\n", rs_errname(err < 0 ? err : r->error));
                return 1;
            }
            rs_response_free(r);
        }
        round_us[k] = (now_us() - t0) / per;
        sum += round_us[k];
    }
    qsort(round_us, ROUNDS, sizeof round_us[0], cmp);
    printf("{\"lang\":\"c\",\"n\":%d,\"rtt_us\":%.2f,\"mean_us\":%.2f}\n", per * ROUNDS,
           (round_us[ROUNDS / 2 - 1] + round_us[ROUNDS / 2]) / 2, sum / ROUNDS);
    free(body);
    rs_close(c);
    return 0;
}
