/*
 * tokens.c — the token estimate of a request (see tokens.h). Pure
 * arithmetic on numbers the sidecar's body scan found: no body, no clock.
 */
#include "tokens.h"

void rsp_tokens_estimate_counts(size_t body_len, const rsp_token_counts *counts,
                                uint64_t default_max_tokens, rsp_token_estimate *out)
{
    uint64_t prompt = (uint64_t)(body_len / 4 + (body_len % 4 != 0));
    bool has = counts && counts->has_max_tokens;
    uint64_t per_choice = has ? counts->max_tokens : default_max_tokens;
    uint64_t n = counts && counts->n > 1 ? counts->n : 1;

    /* saturate at what still leaves room for the prompt, so the caller's
     * prompt + completion sum cannot wrap */
    uint64_t room = UINT64_MAX - prompt;
    uint64_t completion = per_choice > room / n ? room : per_choice * n;

    out->prompt_tokens = prompt;
    out->max_tokens = completion;
    out->has_max_tokens = has;
}
