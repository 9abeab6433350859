/*
 * resume_timer.h - owns the mock upstream's single timer thread, which turns
 * "wait N ms" into "MHD_resume_connection() N ms from now".
 *
 * Delays in the mock must never block a libmicrohttpd worker thread (one
 * sleeping worker would stall every other connection it polls), so a delayed
 * connection is suspended by its worker and handed to this thread, which
 * resumes it when its deadline passes.
 *
 * libmicrohttpd does not watch a suspended connection's socket, so on its own
 * it would learn that the client hung up only when the delay ends and it
 * writes. This thread watches the socket instead and resumes the connection
 * as soon as the peer closes it (FIN or RST), so that whatever the request
 * holds (a x-mock-max-inflight slot) is released promptly: the pause is cut
 * short and the answer goes to a peer that is gone. A client that only
 * half-closes (shutdown for writing) counts as gone too.
 */
#ifndef RINGSIDE_MOCK_RESUME_TIMER_H
#define RINGSIDE_MOCK_RESUME_TIMER_H

#include <stdbool.h>

struct MHD_Connection;
struct resume_timer;

/* Starts the timer thread. Returns NULL (errno set) on failure. */
struct resume_timer *resume_timer_start(void);

/*
 * Resumes `conn` after `ms` milliseconds, or earlier if its peer hangs up.
 * The caller must already have called MHD_suspend_connection(conn): each call
 * here is paired with exactly one resume, which is what makes it legal. Once
 * the timer is stopping the connection is resumed immediately instead, so no
 * connection can stay suspended across MHD_stop_daemon().
 */
void resume_timer_after(struct resume_timer *rt, struct MHD_Connection *conn,
                        unsigned ms);

/* True once resume_timer_stop() began: callers should skip further delays. */
bool resume_timer_stopping(const struct resume_timer *rt);

/*
 * Resumes every pending connection now and joins the thread. Must be called
 * before MHD_stop_daemon() (libmicrohttpd forbids stopping a daemon that has
 * suspended connections). Later resume_timer_after() calls stay legal.
 */
void resume_timer_stop(struct resume_timer *rt);

/* Frees the timer. Only after MHD_stop_daemon() returned. */
void resume_timer_free(struct resume_timer *rt);

#endif
