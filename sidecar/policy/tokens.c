/*
 * tokens.c — light scans of request and response bodies (see tokens.h).
 *
 * Every whitespace or digit run walked around a hit belongs to that hit
 * alone (runs are bounded by the key's own quote and the next non-blank
 * byte), so the total work stays linear in len even for hostile input made
 * of nothing but candidate keys.
 */
#include "tokens.h"

#include <string.h>

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/*
 * The key occupies [q, kend): q is its opening quote, kend is just past its
 * closing quote. True, with *v, if it looks like an object key whose value
 * is a non-negative integer. On overflow: saturate, or reject.
 */
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
    /* the buffer ends inside the number: it may have more digits */
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

/* Next occurrence of needle in p[from, len), or len if none. memmem is only
 * called on a haystack at least as long as the needle, never on NULL. */
static size_t find(const uint8_t *p, size_t len, size_t from, const char *needle, size_t nlen)
{
    if (from > len || len - from < nlen)
        return len;
    const uint8_t *hit = memmem(p + from, len - from, needle, nlen);
    return hit ? (size_t)(hit - p) : len;
}

#define SUFFIX "_tokens\""
#define SUFFIX_LEN (sizeof SUFFIX - 1)
#define PFX_MAX "\"max"                 /* "max_tokens" = PFX_MAX SUFFIX */
#define PFX_MAX_LEN (sizeof PFX_MAX - 1)
#define PFX_MCT "\"max_completion"      /* "max_completion_tokens" */
#define PFX_MCT_LEN (sizeof PFX_MCT - 1)

void rsp_tokens_estimate(const void *body, size_t len, uint64_t default_max_tokens,
                        rsp_token_estimate *out)
{
    const uint8_t *p = body;
    out->prompt_tokens = (uint64_t)(len / 4 + (len % 4 != 0));
    out->max_tokens = default_max_tokens;
    out->has_max_tokens = false;

    /* One scan for the suffix both keys share. Hits come in position order
     * and two valid keys cannot overlap, so the first valid hit is the
     * first key in the body. */
    for (size_t m = find(p, len, 0, SUFFIX, SUFFIX_LEN); m < len;
         m = find(p, len, m + 1, SUFFIX, SUFFIX_LEN)) {
        size_t kend = m + SUFFIX_LEN;
        size_t q;
        if (m >= PFX_MAX_LEN && memcmp(p + m - PFX_MAX_LEN, PFX_MAX, PFX_MAX_LEN) == 0)
            q = m - PFX_MAX_LEN;
        else if (m >= PFX_MCT_LEN && memcmp(p + m - PFX_MCT_LEN, PFX_MCT, PFX_MCT_LEN) == 0)
            q = m - PFX_MCT_LEN;
        else
            continue;
        uint64_t v;
        if (key_value(p, len, q, kend, true, &v)) {
            out->max_tokens = v;
            out->has_max_tokens = true;
            return;
        }
    }
}

#define KEY_TOTAL "\"total_tokens\""
#define KEY_TOTAL_LEN (sizeof KEY_TOTAL - 1)

int rsp_tokens_usage(const void *body, size_t len, uint64_t *total)
{
    const uint8_t *p = body;
    bool found = false;
    uint64_t last = 0;
    /* No memrmem in libc: walk forward and keep the last valid hit. (A hit
     * overlapping the previous one would start at its closing quote, after
     * a letter, and never be valid; m + 1 is simply the obviously safe
     * step.) */
    for (size_t m = find(p, len, 0, KEY_TOTAL, KEY_TOTAL_LEN); m < len;
         m = find(p, len, m + 1, KEY_TOTAL, KEY_TOTAL_LEN)) {
        uint64_t v;
        if (key_value(p, len, m, m + KEY_TOTAL_LEN, false, &v)) {
            last = v;
            found = true;
        }
    }
    if (!found)
        return -1;
    *total = last;
    return 0;
}
