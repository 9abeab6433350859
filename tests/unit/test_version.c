/*
 * test_version.c — one version everywhere: the library's rs_version(), the
 * macros of ringside.h and meson's project version (this program's
 * argument) must agree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ringside.h"

static const char *meson_version;

static void test_library_header_and_build_agree(void **state)
{
    (void)state;
    char header[32];
    snprintf(header, sizeof header, "%d.%d.%d", RS_VERSION_MAJOR, RS_VERSION_MINOR, RS_VERSION_PATCH);
    assert_string_equal(rs_version(), meson_version);
    assert_string_equal(header, meson_version);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_version MESON_PROJECT_VERSION\n");
        return 2;
    }
    meson_version = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_header_and_build_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
