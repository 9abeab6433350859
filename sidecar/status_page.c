/*
 * status_page.c — see status_page.h. The page is a file of its own
 * (status_page.html, inline CSS and JS, no external assets) turned into a
 * byte array by embed.py at build time: it is edited and reviewed as
 * HTML, and the sidecar needs no file at run time. All it does in the
 * browser is poll /api/status and /events, so this module owns nothing
 * but the bytes.
 */
#include "status_page.h"

#include "status_page_html.h"

#include <stdlib.h>
#include <string.h>

char *sc_status_page(size_t *len)
{
    char *page = malloc(STATUS_PAGE_HTML_LEN);
    if (page)
        memcpy(page, status_page_html, STATUS_PAGE_HTML_LEN);
    *len = STATUS_PAGE_HTML_LEN;
    return page;
}
