/*
 * text.c — see text.h.
 */
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(sc_text *t, size_t more)
{
    if (t->failed)
        return false;
    if (t->len + more + 1 <= t->cap)
        return true;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + more + 1)
        cap *= 2;
    char *b = realloc(t->buf, cap);
    if (!b) {
        t->failed = true;
        return false;
    }
    t->buf = b;
    t->cap = cap;
    return true;
}

void sc_text_printf(sc_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(t, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void sc_text_put(sc_text *t, const char *s)
{
    size_t n = strlen(s);
    if (!reserve(t, n))
        return;
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
}

void sc_text_json_str(sc_text *t, const char *s)
{
    sc_text_put(t, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            sc_text_printf(t, "\\%c", ch);
        else if (ch < 0x20)
            sc_text_printf(t, "\\u%04x", ch);
        else if (reserve(t, 1)) {
            t->buf[t->len++] = (char)ch;
            t->buf[t->len] = 0;
        }
    }
    sc_text_put(t, "\"");
}

void sc_text_label(sc_text *t, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            sc_text_printf(t, "\\%c", *s);
        else if (*s == '\n')
            sc_text_put(t, "\\n");
        else
            sc_text_printf(t, "%c", *s);
    }
}

char *sc_text_take(sc_text *t, size_t *len)
{
    if (t->failed || !reserve(t, 0)) {
        sc_text_free(t);
        return NULL;
    }
    char *b = t->buf;
    if (len)
        *len = t->len;
    memset(t, 0, sizeof *t);
    return b;
}

void sc_text_free(sc_text *t)
{
    free(t->buf);
    memset(t, 0, sizeof *t);
}
