/*
 * body_json.h — the few top-level keys of JSON bodies the sidecar reads or
 * edits: a request's "model" (renamed per route), its "max_tokens",
 * "max_completion_tokens" and "n" (the token estimate), its "stream" (the
 * front door answers a stream as one), and a response's
 * "usage"."total_tokens" (settling that estimate).
 *
 * Bodies are parsed with yajl's callbacks over the caller's buffer: no
 * tree, no copy of the body, whatever its size (prompts can be megabytes).
 * The rules, the same for every function here:
 *
 * - Only keys of the top-level object count: a "model" inside "metadata"
 *   or among a response_format schema's properties, a "usage" inside
 *   "choices", are not the request's. Keys are compared decoded, so
 *   "mo\u0064el" is "model".
 * - A body that is not one valid JSON object yields nothing: a syntax error,
 *   a truncated body, a top-level array or scalar, trailing bytes, or
 *   nesting deeper than SC_BODY_MAX_DEPTH. Then there is no rename (the
 *   body goes upstream as is, to be judged there) and no numbers (the
 *   caller's defaults). "Valid" is about structure: the bytes inside
 *   strings are not checked for UTF-8 (see parser() in body_json.c), and
 *   yajl takes \v and \f for whitespace too.
 * - Duplicate keys: the last one wins, as in Python's json module (which
 *   OpenAI-compatible servers commonly parse with), JavaScript's JSON.parse
 *   and Go's encoding/json. Whatever the last one holds decides: in
 *   {"max_tokens":5,"max_tokens":null} there is no max_tokens, and in
 *   {"model":"a","model":7} no model to rename.
 * - Numbers count only as JSON integers >= 0: a fraction, an exponent or a
 *   minus sign make the key absent (the API defines these as integers).
 *   Above UINT64_MAX, max_tokens and n saturate (an absurd request must not
 *   slip under a budget), and total_tokens is refused (an absurd debt from
 *   a garbled response would block a route for centuries).
 *
 * Every scan reads the whole body: the rename needs to know the body is
 * valid, and with the last duplicate winning no value is final before the
 * end (most bodies also lack some of the keys, "n" above all, and absence
 * is only known at the end). A parse stops early only where the answer is
 * already settled: at a first token that is not '{', past the depth limit,
 * or at the first syntax error.
 */
#ifndef SC_BODY_JSON_H
#define SC_BODY_JSON_H

#include "config.h"
#include "tokens.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deeper nesting makes a body "not JSON" here. Real requests stay far
 * below it (OpenAI's structured outputs allow a few levels of schema); the
 * bound keeps a bracket bomb from growing yajl's state stack. */
#define SC_BODY_MAX_DEPTH 128

/* The longest model name a route can map (config.h's model_from). */
#define SC_BODY_MODEL_MAX (sizeof(((sc_route_cfg *)0)->model_from[0]) - 1)

/* What one pass over a request body found. */
typedef struct sc_body_req {
    bool object;                  /* one valid JSON object, within the limits */
    bool has_model;               /* the last top-level "model" is a string */
    size_t model_at;              /* that string's opening quote in the body */
    rsp_token_counts counts;      /* for rsp_tokens_estimate_counts */
    bool stream;                  /* the last top-level "stream" is true */
} sc_body_req;

/* Scans a request body (body may be NULL when len is 0). Always fills
 * *out; a body that is not a JSON object gives object = false, no model,
 * no max_tokens, n = 1. */
void sc_body_scan_request(const void *body, size_t len, sc_body_req *out);

/* The decoded value of the model string scan found in this same body, into
 * name (NUL-terminated; it may hold a NUL of its own, from \u0000), and
 * the length of its JSON token in the body, quotes included. Returns the
 * decoded length, or -1 if there is no model or it is longer than
 * SC_BODY_MODEL_MAX bytes decoded (no route can map it). */
int sc_body_model(const sc_body_req *scan, const void *body, size_t len,
                  char name[SC_BODY_MODEL_MAX + 1], size_t *token_len);

/* The body with its top-level "model" renamed through the route's models
 * map (the first pair whose `from` equals the decoded value), as a new
 * malloc'd buffer of *out_len bytes: the value's token replaced by `to` as
 * a JSON string (escaped where JSON needs it), every other byte as it was.
 * NULL when there is nothing to rename: the route maps nothing, the body is
 * not a JSON object, it has no top-level model string, the name is not
 * mapped, `to` is not valid UTF-8, or memory ran out. scan is this body's
 * sc_body_scan_request result (kept from admission, so retries and other
 * routes do not parse the body again). */
uint8_t *sc_body_rename_model(const sc_body_req *scan, const void *body, size_t len,
                              const sc_route_cfg *route, size_t *out_len);

/* Is body one valid JSON object or array, within SC_BODY_MAX_DEPTH? */
bool sc_body_is_json(const void *body, size_t len);

/* From an upstream response body (one JSON object, not an SSE stream):
 * its top-level "usage" object's "total_tokens". Returns 0 and sets
 * *total, or -1 if absent, not a valid count, or the body is not a JSON
 * object (*total untouched). An SSE stream's usage is in its last event:
 * pass that event's data. */
int sc_body_usage(const void *body, size_t len, uint64_t *total);

#endif
