/*
 * resume_timer.h - owns the mock upstream's single timer thread, which turns
 * "wait N ms" into "MHD_resume_connection() N ms from now".
 *
 * Delays in the mock must never block a libmicrohttpd worker thread (one
 * sleeping worker would stall every other connection it polls), so a delayed
 * connection is suspended by its worker and handed to this thread, which
 * resumes it when its deadline passes.
 */
#ifndef RINGSIDE_MOCK_RESUME_TIMER_H
#define RINGSIDE_MOCK_RESUME_TIMER_H

#include <stdbool.h>

struct MHD_Connection;
struct resume_timer;

/* Starts the timer thread. Returns NULL (errno set) on failure. */
struct resume_timer *resume_timer_start(void);

/*
 * Resumes `conn` after `ms` milliseconds. The caller must already have called
 * MHD_suspend_connection(conn): each call here is paired with exactly one
 * suspend, which is what makes the eventual resume legal. Once the timer is
 * stopping the connection is resumed immediately instead, so no connection
 * can stay suspended across MHD_stop_daemon().
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
