/*
 * tokens.h — LLM token estimates for token budgets, from a few numbers.
 *
 * The tokens/min bucket must be charged before a request goes upstream, from
 * a body that may be megabytes of prompt, on the sidecar's one loop thread.
 * A tokenizer there would cost more than the request's whole trip through
 * ringside, so the estimate is deliberately crude:
 *
 * - prompt_tokens = ceil(body_len / 4): about 4 bytes per token for English
 *   and for the JSON around it (OpenAI's own rule of thumb). It
 *   overestimates for JSON-escaped or whitespace-heavy bodies and
 *   underestimates for CJK text (about 1 token per 3-byte character); the
 *   real count from the response's usage corrects the bucket afterwards,
 *   so the estimate only has to be cheap and in the right order of
 *   magnitude.
 * - max_tokens: the completion budget of the whole request, i.e. the
 *   request's own per-choice limit (or the caller's default when it names
 *   none) times the number of choices `n`.
 *
 * This policy does not read bodies: the numbers come from the sidecar's
 * scan of the request's top-level JSON keys (sidecar/body_json.h), which is
 * where "max_tokens", "max_completion_tokens" and "n" are found.
 *
 * Overflow: the completion budget saturates so that prompt_tokens +
 * max_tokens never exceeds UINT64_MAX. An absurd request must not slip
 * under the budget by wrapping around (a caller adds the two), and a
 * bucket refuses a cost above its burst.
 */
#ifndef RSP_TOKENS_H
#define RSP_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a request body says about its completion, as found at its top
 * level. A caller that found nothing passes has_max_tokens = false, n = 1. */
typedef struct rsp_token_counts {
    bool has_max_tokens;    /* max_tokens or max_completion_tokens given */
    uint64_t max_tokens;    /* per choice; the larger of the two if both */
    uint64_t n;             /* choices; 0 is taken as 1 */
} rsp_token_counts;

typedef struct rsp_token_estimate {
    uint64_t prompt_tokens;
    uint64_t max_tokens;    /* completion budget: per-choice limit × n */
    bool has_max_tokens;    /* the per-choice limit came from the request */
} rsp_token_estimate;

/* See above. counts may be NULL (nothing found). */
void rsp_tokens_estimate_counts(size_t body_len, const rsp_token_counts *counts,
                                uint64_t default_max_tokens, rsp_token_estimate *out);

#endif
