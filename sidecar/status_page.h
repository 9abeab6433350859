/*
 * status_page.h — the live status page served at GET /status: one HTML
 * file (status_page.html) compiled into the binary (status_page.c).
 */
#ifndef SC_STATUS_PAGE_H
#define SC_STATUS_PAGE_H

#include <stddef.h>

/* A copy of the page (the caller frees it) and its length; NULL when out
 * of memory. */
char *sc_status_page(size_t *len);

#endif
