/*
 * tokens.h — LLM token estimates for token budgets, without parsing JSON.
 *
 * The tokens/min bucket must be charged before a request goes upstream, from
 * a body that may be megabytes of prompt, on the sidecar's one loop thread.
 * A tokenizer or a full JSON parse there would cost more than the request's
 * whole trip through ringside, so the estimate is deliberately crude:
 *
 * - prompt_tokens = ceil(len / 4): about 4 bytes per token for English and
 *   for the JSON around it (OpenAI's own rule of thumb). It overestimates
 *   for JSON-escaped or whitespace-heavy bodies and underestimates for CJK
 *   text (about 1 token per 3-byte character); the real count from the
 *   response (rsp_tokens_usage) corrects the bucket afterwards, so the
 *   estimate only has to be cheap and in the right order of magnitude.
 * - max_tokens: the first "max_tokens" or "max_completion_tokens" that looks
 *   like an object key (see below) with a non-negative integer value; if
 *   none, the caller's default and has_max_tokens = false.
 *
 * The scan is one memmem pass for the suffix both keys share, `_tokens"`,
 * plus O(1) checks per hit: linear even on hostile input. glibc's memmem
 * (Horspool on byte pairs) runs at a few GB/s depending on the text, so a
 * 4 MiB prompt costs a few hundred microseconds; one pass for the suffix
 * beats one pass per key. "Looks like an object key" means: the quote that opens it is
 * preceded (skipping JSON whitespace) by '{' or ',' and the closing quote is
 * followed by ':'. A quote inside a JSON string is always escaped (\"), so
 * prompt text that mentions "max_tokens" never matches; a key of a nested
 * object does (e.g. "metadata": {"max_tokens": 5}) — the price of not
 * tracking depth. Keys spelled with \u escapes are not recognised.
 *
 * A value counts only if it is digits followed by JSON whitespace, ',', '}'
 * or ']': 1.5, 1e3, -1, "100", null and a number cut off by the end of the
 * buffer are all ignored. Values beyond UINT64_MAX:
 * - max_tokens saturates at UINT64_MAX: an absurd request must not slip
 *   under the budget by overflowing, and a bucket refuses a cost above its
 *   burst;
 * - usage rejects it (-1): charging an absurd debt from a garbled response
 *   would block the route for centuries.
 *
 * Both functions read only the `len` bytes given (no NUL terminator needed)
 * and are safe on arbitrary bytes.
 */
#ifndef RSP_TOKENS_H
#define RSP_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rsp_token_estimate {
    uint64_t prompt_tokens;
    uint64_t max_tokens;
    bool has_max_tokens;
} rsp_token_estimate;

/* See above. body may be NULL when len is 0. */
void rsp_tokens_estimate(const void *body, size_t len, uint64_t default_max_tokens,
                        rsp_token_estimate *out);

/* From an upstream response body (JSON, or the last SSE events): the value of
 * the last key-looking "total_tokens" with a valid integer value (the one in
 * "usage"; with streaming only the final chunk carries usage). Returns 0 and
 * sets *total, or -1 if absent or garbage (*total untouched). */
int rsp_tokens_usage(const void *body, size_t len, uint64_t *total);

#endif
