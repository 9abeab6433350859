/*
 * fuzz_config.c — the YAML configuration loader (sidecar/config_file.c),
 * through its buffer entry point sc_config_apply_yaml: libyaml's parser
 * and loader, the table-driven key walkers, ${VAR} substitution and the
 * number/string readers, on any bytes.
 *
 * Properties beyond "no crash, no leak" (ASan's leak check is on):
 * - The return value is the problem count the header promises: 0 leaves
 *   err empty; n > 0 leaves exactly n lines, each "NAME:LINE: ..." with
 *   NAME the name passed in and LINE a number, so an operator can go to
 *   every problem. (When the problems overflow err, only the complete
 *   lines are checked, and there may be fewer of them.)
 * - err stays NUL-terminated within errlen.
 *
 * Every input starts from the same defaults (zeroed, api_key_env
 * DEEPSEEK_API_KEY, as tests/unit/test_config.c's load() does), so runs
 * do not depend on each other. ${VAR} reads the real environment with
 * getenv: a run is deterministic on one machine, but an input's outcome
 * can differ between machines whose environments differ.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A violated property aborts (libFuzzer then saves the input), naming
 * itself first: the compiler merges bare traps, so a stack trace alone
 * would not tell which check failed. */
__attribute__((noreturn, cold, noinline))
static void check_failed(int line, const char *what)
{
    fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, line, what);
    abort();
}
#define CHECK(cond) do { if (!(cond)) check_failed(__LINE__, #cond); } while (0)

#define NAME "fuzz.yaml"

static sc_config cfg;
/* Large enough that only pathological inputs (aliases that repeat an
 * erroneous mapping) overflow it: an error line embeds at most one input
 * scalar plus a few hundred bytes of key path and hints. */
static char err[1 << 20];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.api_key_env, sizeof cfg.api_key_env, "DEEPSEEK_API_KEY");
    err[0] = 'X';   /* must be cleared even when there is nothing to say */

    int n = sc_config_apply_yaml(&cfg, NAME, data, size, err, sizeof err);
    CHECK(n >= 0);
    size_t len = strnlen(err, sizeof err);
    CHECK(len < sizeof err);
    if (n == 0) {
        CHECK(len == 0);
        return 0;
    }
    /* the writer stops short of the end; leave room for one long line */
    int full = len + 8192 > sizeof err;

    int lines = 0;
    const char *p = err, *end = err + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            CHECK(full);            /* only a cut-off last line lacks its '\n' */
            break;
        }
        size_t ll = (size_t)(nl - p);
        CHECK(ll > sizeof NAME && memcmp(p, NAME ":", sizeof NAME) == 0);
        const char *q = p + sizeof NAME;
        const char *digits = q;
        while (q < nl && *q >= '0' && *q <= '9')
            q++;
        CHECK(q > digits && q + 1 < nl && q[0] == ':' && q[1] == ' ');
        lines++;
        p = nl + 1;
    }
    CHECK(full ? lines <= n : lines == n);
    return 0;
}
