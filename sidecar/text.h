/*
 * text.h — a growing text buffer for the pages the admin listener serves
 * (metrics, JSON): printf-style appends, one allocation handed over at the
 * end. Out of memory is sticky: later appends do nothing and sc_text_take
 * returns NULL, so a page builder checks once, at the end.
 */
#ifndef SC_TEXT_H
#define SC_TEXT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sc_text {
    char *buf;
    size_t len, cap;
    bool failed;
} sc_text;

void sc_text_printf(sc_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sc_text_put(sc_text *t, const char *s);
/* s as a JSON string, quotes included. */
void sc_text_json_str(sc_text *t, const char *s);
/* s as a Prometheus label value (no quotes): \, " and newline escaped. */
void sc_text_label(sc_text *t, const char *s);
/* The text (NUL-terminated, the caller frees it) and its length (len may
 * be NULL); NULL if an append ran out of memory. Leaves t empty. */
char *sc_text_take(sc_text *t, size_t *len);
void sc_text_free(sc_text *t);

#endif
