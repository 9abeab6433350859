/*
 * old_scan.c — the baseline: the memmem scans that body_json.c replaced,
 * as they were at 80efebb (sidecar/policy/tokens.c's rsp_tokens_estimate
 * and rsp_tokens_usage, sidecar/upstream.c's rename_model), reduced to
 * what they computed, so jsonbench can time them on the same bodies. Kept
 * only here; nothing else links it.
 */
#include "old_scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool key_value(const uint8_t *p, size_t len, size_t q, size_t kend, bool saturate,
                      uint64_t *v)
{
    size_t i = q;
    while (i > 0 && is_ws(p[i - 1]))
        i--;
    if (i == 0 || (p[i - 1] != '{' && p[i - 1] != ','))
        return false;
    i = kend;
    while (i < len && is_ws(p[i]))
        i++;
    if (i >= len || p[i] != ':')
        return false;
    i++;
    while (i < len && is_ws(p[i]))
        i++;
    if (i >= len || !is_digit(p[i]))
        return false;
    uint64_t x = 0;
    bool over = false;
    for (; i < len && is_digit(p[i]); i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (over || x > (UINT64_MAX - d) / 10)
            over = true;
        else
            x = x * 10 + d;
    }
    if (i >= len)
        return false;
    uint8_t c = p[i];
    if (!(is_ws(c) || c == ',' || c == '}' || c == ']'))
        return false;
    if (over) {
        if (!saturate)
            return false;
        x = UINT64_MAX;
    }
    *v = x;
    return true;
}

static size_t find(const uint8_t *p, size_t len, size_t from, const char *needle, size_t nlen)
{
    if (from > len || len - from < nlen)
        return len;
    const uint8_t *hit = memmem(p + from, len - from, needle, nlen);
    return hit ? (size_t)(hit - p) : len;
}

bool old_max_tokens(const void *body, size_t len, uint64_t *max)
{
    const uint8_t *p = body;
    static const char sfx[] = "_tokens\"", pmax[] = "\"max", pmct[] = "\"max_completion";
    const size_t sl = sizeof sfx - 1, ml = sizeof pmax - 1, cl = sizeof pmct - 1;
    for (size_t m = find(p, len, 0, sfx, sl); m < len; m = find(p, len, m + 1, sfx, sl)) {
        size_t q;
        if (m >= ml && memcmp(p + m - ml, pmax, ml) == 0)
            q = m - ml;
        else if (m >= cl && memcmp(p + m - cl, pmct, cl) == 0)
            q = m - cl;
        else
            continue;
        if (key_value(p, len, q, m + sl, true, max))
            return true;
    }
    return false;
}

int old_usage(const void *body, size_t len, uint64_t *total)
{
    const uint8_t *p = body;
    static const char key[] = "\"total_tokens\"";
    const size_t kl = sizeof key - 1;
    bool found = false;
    uint64_t last = 0;
    for (size_t m = find(p, len, 0, key, kl); m < len; m = find(p, len, m + 1, key, kl)) {
        uint64_t v;
        if (key_value(p, len, m, m + kl, false, &v)) {
            last = v;
            found = true;
        }
    }
    if (!found)
        return -1;
    *total = last;
    return 0;
}

uint8_t *old_rename(const char *from, const char *to, const uint8_t *body, size_t len,
                    size_t *out_len)
{
    static const char key[] = "\"model\"";
    const uint8_t *p = memmem(body, len, key, sizeof key - 1);
    if (!p)
        return NULL;
    const uint8_t *end = body + len, *q = p + sizeof key - 1;
    while (q < end && is_ws(*q))
        q++;
    if (q >= end || *q++ != ':')
        return NULL;
    while (q < end && is_ws(*q))
        q++;
    if (q >= end || *q++ != '"')
        return NULL;
    const uint8_t *v = q;
    while (q < end && *q != '"' && *q != '\\')
        q++;
    if (q >= end || *q != '"')
        return NULL;
    size_t vlen = (size_t)(q - v);
    if (strlen(from) != vlen || memcmp(from, v, vlen) != 0)
        return NULL;
    size_t tlen = strlen(to);
    uint8_t *nb = malloc(len - vlen + tlen + 1);
    if (!nb)
        return NULL;
    size_t head = (size_t)(v - body);
    memcpy(nb, body, head);
    memcpy(nb + head, to, tlen);
    memcpy(nb + head + tlen, q, (size_t)(end - q));
    *out_len = len - vlen + tlen;
    return nb;
}
