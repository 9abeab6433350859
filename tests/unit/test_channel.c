/*
 * test_channel.c — unit tests of the region layout and the default socket
 * path (core/proto/channel.c).
 *
 * rs__default_socket_path reads the effective uid. The root rule is tested
 * when the tests run as root; the non-root rules ($XDG_RUNTIME_DIR, then
 * /tmp/ringside-<uid>) are tested either directly when not root, or, when
 * root, by dropping the effective uid to 65534 (nobody) around the call
 * with seteuid() and restoring it at once (the saved uid stays 0). Where a
 * rule cannot be reached from the current identity the test is skipped.
 *
 * rs__client_socket_path (what rs_connect uses) puts the pod path before
 * that default; the tests give it a pod path of their own, a socket bound
 * in a private directory, so they never touch /run/ringside.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "channel.h"
#include "ring.h"
#include "ringside.h"

#define PAGE 4096u

/* --------------------------------------------------------------- layout */

static void check_layout_sane(const rs__layout *l, uint64_t sq_cap, uint64_t cq_cap)
{
    assert_int_equal(l->sq_cap, sq_cap);
    assert_int_equal(l->cq_cap, cq_cap);
    /* headers: cache-line aligned, inside the first page, not overlapping */
    assert_int_equal(l->sq_hdr_off % RS__CACHELINE, 0);
    assert_int_equal(l->cq_hdr_off % RS__CACHELINE, 0);
    assert_true(l->sq_hdr_off + sizeof(rs__ring_hdr) <= PAGE);
    assert_true(l->cq_hdr_off + sizeof(rs__ring_hdr) <= PAGE);
    assert_true(l->sq_hdr_off + sizeof(rs__ring_hdr) <= l->cq_hdr_off ||
                l->cq_hdr_off + sizeof(rs__ring_hdr) <= l->sq_hdr_off);
    /* data areas: page aligned, after the header page, disjoint, in size */
    assert_int_equal(l->sq_data_off % PAGE, 0);
    assert_int_equal(l->cq_data_off % PAGE, 0);
    assert_true(l->sq_data_off >= PAGE && l->cq_data_off >= PAGE);
    assert_true(l->sq_data_off + sq_cap <= l->cq_data_off ||
                l->cq_data_off + cq_cap <= l->sq_data_off);
    assert_true(l->sq_data_off + sq_cap <= l->size);
    assert_true(l->cq_data_off + cq_cap <= l->size);
    assert_int_equal(l->size, PAGE + sq_cap + cq_cap);
}

static void test_layout_compute_is_accepted(void **state)
{
    (void)state;
    static const uint64_t caps[][2] = {
        { 4096, 4096 }, { 65536, 4096 }, { 4096, 1u << 20 }, { 1u << 20, 1u << 22 },
        { 1ull << 30, 1ull << 30 },
    };
    for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
        rs__layout l;
        memset(&l, 0xAB, sizeof l);
        rs__layout_compute(caps[k][0], caps[k][1], &l);
        check_layout_sane(&l, caps[k][0], caps[k][1]);
        assert_int_equal(rs__layout_check(&l, l.size), 0);
    }
}

static rs__layout good_layout(void)
{
    rs__layout l;
    rs__layout_compute(65536, 16384, &l);
    assert_int_equal(rs__layout_check(&l, l.size), 0);
    return l;
}

/* Each of bad[0..n-1], as the SQ and then as the CQ capacity (the other
 * ring 4096), makes a layout that the check refuses. */
static void assert_caps_rejected(const uint64_t *bad, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        rs__layout l;
        rs__layout_compute(bad[k], 4096, &l);
        assert_int_equal(rs__layout_check(&l, l.size), -1);
        rs__layout_compute(4096, bad[k], &l);
        assert_int_equal(rs__layout_check(&l, l.size), -1);
    }
}

static void test_layout_check_rejects_non_power_of_two_caps(void **state)
{
    (void)state;
    static const uint64_t bad[] = { 3 * 4096, 4096 + 8, 65536 - 4096, 65536 + 4096, UINT64_MAX };
    assert_caps_rejected(bad, sizeof bad / sizeof bad[0]);
}

static void test_layout_check_rejects_caps_below_4096(void **state)
{
    (void)state;
    static const uint64_t bad[] = { 0, 1, 8, 64, 2048 };
    assert_caps_rejected(bad, sizeof bad / sizeof bad[0]);
}

static void test_layout_check_rejects_size_mismatch(void **state)
{
    (void)state;
    rs__layout l = good_layout();
    assert_int_equal(rs__layout_check(&l, l.size - 1), -1);
    assert_int_equal(rs__layout_check(&l, l.size + 1), -1);
    assert_int_equal(rs__layout_check(&l, l.size + PAGE), -1);
    assert_int_equal(rs__layout_check(&l, 0), -1);
    /* the layout's own size disagreeing with the mapping */
    l.size += PAGE;
    assert_int_equal(rs__layout_check(&l, l.size - PAGE), -1);
}

static void test_layout_check_rejects_misaligned_header_offsets(void **state)
{
    (void)state;
    static const uint64_t bad[] = { 8, 32, 63, 65, 200 };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        rs__layout l = good_layout();
        l.sq_hdr_off = bad[k];
        assert_int_equal(rs__layout_check(&l, l.size), -1);
        l = good_layout();
        l.cq_hdr_off = bad[k];
        assert_int_equal(rs__layout_check(&l, l.size), -1);
    }
}

static void test_layout_check_rejects_header_outside_first_page(void **state)
{
    (void)state;
    rs__layout l = good_layout();
    l.cq_hdr_off = PAGE - RS__CACHELINE;    /* aligned, but runs past the page */
    assert_int_equal(rs__layout_check(&l, l.size), -1);
    l = good_layout();
    l.sq_hdr_off = PAGE;
    assert_int_equal(rs__layout_check(&l, l.size), -1);
    l = good_layout();
    l.cq_hdr_off = PAGE - sizeof(rs__ring_hdr);   /* the last slot that fits */
    assert_int_equal(rs__layout_check(&l, l.size), 0);
}

static void test_layout_check_rejects_misaligned_data_offsets(void **state)
{
    (void)state;
    static const uint64_t delta[] = { 8, 64, 2048 };
    for (size_t k = 0; k < sizeof delta / sizeof delta[0]; k++) {
        rs__layout l = good_layout();
        l.sq_data_off += delta[k];
        l.size += PAGE;
        assert_int_equal(rs__layout_check(&l, l.size), -1);
        l = good_layout();
        l.cq_data_off += delta[k];
        l.size += PAGE;
        assert_int_equal(rs__layout_check(&l, l.size), -1);
    }
}

static void test_layout_check_rejects_data_beyond_size(void **state)
{
    (void)state;
    rs__layout l = good_layout();
    l.cq_data_off += PAGE;                  /* cq data now ends a page past size */
    assert_int_equal(rs__layout_check(&l, l.size), -1);
    l = good_layout();
    l.sq_data_off = l.size - PAGE;          /* sq data starts in the last page */
    assert_int_equal(rs__layout_check(&l, l.size), -1);
    l = good_layout();
    l.cq_cap *= 2;                          /* bigger ring, same size */
    assert_int_equal(rs__layout_check(&l, l.size), -1);
    l = good_layout();
    l.sq_data_off = l.size;
    assert_int_equal(rs__layout_check(&l, l.size), -1);
}

/* A layout comes from another process; offsets near 2^64 must not wrap
 * around the "inside the mapping" checks into looking small. */
static void test_layout_check_rejects_data_offset_overflow(void **state)
{
    (void)state;
    rs__layout l = good_layout();
    l.sq_data_off = 0 - l.sq_cap;          /* page aligned; off + cap == 0 mod 2^64 */
    assert_int_equal(rs__layout_check(&l, l.size), -1);
    l = good_layout();
    l.cq_data_off = 0 - l.cq_cap + PAGE;   /* off + cap wraps to PAGE */
    assert_int_equal(rs__layout_check(&l, l.size), -1);
}

static void test_layout_check_rejects_header_offset_overflow(void **state)
{
    (void)state;
    rs__layout l = good_layout();
    l.cq_hdr_off = 0 - (uint64_t)RS__CACHELINE;   /* aligned; off + 192 wraps to 128 */
    assert_int_equal(rs__layout_check(&l, l.size), -1);
}

/* ---------------------------------------------------------- socket path */

typedef struct saved_env {
    char *sock, *xdg;
} saved_env;

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int env_setup(void **state)
{
    saved_env *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    e->sock = dup_or_null(getenv("RINGSIDE_SOCKET"));
    e->xdg = dup_or_null(getenv("XDG_RUNTIME_DIR"));
    unsetenv("RINGSIDE_SOCKET");
    unsetenv("XDG_RUNTIME_DIR");
    *state = e;
    return 0;
}

static void restore(const char *name, const char *v)
{
    if (v)
        setenv(name, v, 1);
    else
        unsetenv(name);
}

static int env_teardown(void **state)
{
    saved_env *e = *state;
    restore("RINGSIDE_SOCKET", e->sock);
    restore("XDG_RUNTIME_DIR", e->xdg);
    free(e->sock);
    free(e->xdg);
    free(e);
    return 0;
}

/* Run rs__default_socket_path as a non-root user. Returns 0, or -1 when
 * that is impossible from here (root without CAP_SETUID). */
static int path_as_nonroot(char *buf, size_t n, int *rc, unsigned *uid)
{
    if (geteuid() != 0) {
        *uid = (unsigned)geteuid();
        *rc = rs__default_socket_path(buf, n);
        return 0;
    }
    if (seteuid(65534) != 0)
        return -1;
    *uid = (unsigned)geteuid();
    *rc = rs__default_socket_path(buf, n);
    int back = seteuid(0);
    assert_int_equal(back, 0);
    return 0;
}

/* As a non-root user the default path is `want` (skips where no non-root
 * identity can be reached). */
static void assert_nonroot_path(const char *want)
{
    char buf[256];
    int rc;
    unsigned uid;
    if (path_as_nonroot(buf, sizeof buf, &rc, &uid) < 0)
        skip();
    assert_int_equal(rc, 0);
    assert_string_equal(buf, want);
}

static void test_socket_path_env_override(void **state)
{
    (void)state;
    char buf[256];
    setenv("RINGSIDE_SOCKET", "/srv/rs/custom.sock", 1);
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    memset(buf, 'Z', sizeof buf);
    assert_int_equal(rs__default_socket_path(buf, sizeof buf), 0);
    assert_string_equal(buf, "/srv/rs/custom.sock");
}

static void test_socket_path_env_override_non_root(void **state)
{
    (void)state;
    setenv("RINGSIDE_SOCKET", "relative/also.sock", 1);
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    assert_nonroot_path("relative/also.sock");
}

static void test_socket_path_empty_env_is_unset(void **state)
{
    (void)state;
    char buf[256], want[256];
    setenv("RINGSIDE_SOCKET", "", 1);
    assert_int_equal(rs__default_socket_path(buf, sizeof buf), 0);
    assert_true(buf[0] == '/');
    unsetenv("RINGSIDE_SOCKET");
    assert_int_equal(rs__default_socket_path(want, sizeof want), 0);
    assert_string_equal(buf, want);
}

static void test_socket_path_root_default(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();       /* the root rule needs euid 0 */
    char buf[256];
    setenv("XDG_RUNTIME_DIR", "/run/user/0", 1);   /* root ignores it */
    assert_int_equal(rs__default_socket_path(buf, sizeof buf), 0);
    assert_string_equal(buf, "/run/ringside/ringside.sock");
    unsetenv("XDG_RUNTIME_DIR");
    assert_int_equal(rs__default_socket_path(buf, sizeof buf), 0);
    assert_string_equal(buf, "/run/ringside/ringside.sock");
}

static void test_socket_path_xdg_for_non_root(void **state)
{
    (void)state;
    setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
    assert_nonroot_path("/run/user/4242/ringside.sock");
}

static void test_socket_path_tmp_for_non_root_without_xdg(void **state)
{
    (void)state;
    char buf[256], want[64];
    int rc = 0;
    unsigned uid = 0;   /* cmocka's skip() returns, as far as the compiler knows */
    if (path_as_nonroot(buf, sizeof buf, &rc, &uid) < 0)
        skip();
    assert_int_equal(rc, 0);
    snprintf(want, sizeof want, "/tmp/ringside-%u/ringside.sock", uid);
    assert_string_equal(buf, want);
    /* an empty XDG_RUNTIME_DIR counts as unset */
    setenv("XDG_RUNTIME_DIR", "", 1);
    assert_nonroot_path(want);
}

static void test_socket_path_buffer_too_small(void **state)
{
    (void)state;
    char buf[64];
    setenv("RINGSIDE_SOCKET", "/a/b.sock", 1);    /* 9 bytes + NUL */
    assert_int_equal(rs__default_socket_path(buf, 10), 0);
    assert_string_equal(buf, "/a/b.sock");
    assert_int_equal(rs__default_socket_path(buf, 9), RS_EINVAL);
    assert_int_equal(rs__default_socket_path(buf, 1), RS_EINVAL);
    assert_int_equal(rs__default_socket_path(buf, 0), RS_EINVAL);
}

static void test_socket_path_buffer_too_small_for_default(void **state)
{
    (void)state;
    char buf[64];
    /* whichever default applies to this identity, find its length first */
    assert_int_equal(rs__default_socket_path(buf, sizeof buf), 0);
    size_t need = strlen(buf) + 1;
    assert_int_equal(rs__default_socket_path(buf, need), 0);
    assert_int_equal(rs__default_socket_path(buf, need - 1), RS_EINVAL);
}

static void test_socket_path_xdg_too_long(void **state)
{
    (void)state;
    char buf[108];     /* sizeof(sockaddr_un.sun_path) */
    char *dir = malloc(200);
    assert_non_null(dir);
    memset(dir, 'd', 199);
    dir[0] = '/';
    dir[199] = 0;
    setenv("XDG_RUNTIME_DIR", dir, 1);
    int rc;
    unsigned uid;
    int r = path_as_nonroot(buf, sizeof buf, &rc, &uid);
    free(dir);
    if (r < 0)
        skip();
    assert_int_equal(rc, RS_EINVAL);
}

/* ------------------------------------------------ the client's choice */

typedef struct pod {
    char dir[64], sock[96], file[96];
    int fd;
} pod;

/* A private directory holding a bound socket ("pod.sock") and a plain file
 * ("file.sock") standing where a socket might. */
static void pod_make(pod *p)
{
    snprintf(p->dir, sizeof p->dir, "/tmp/rs-test-pod-XXXXXX");
    assert_non_null(mkdtemp(p->dir));
    snprintf(p->sock, sizeof p->sock, "%s/pod.sock", p->dir);
    snprintf(p->file, sizeof p->file, "%s/file.sock", p->dir);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", p->sock);
    p->fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    assert_true(p->fd >= 0);
    assert_int_equal(bind(p->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    FILE *f = fopen(p->file, "w");
    assert_non_null(f);
    fclose(f);
}

static void pod_remove(pod *p)
{
    close(p->fd);
    unlink(p->sock);
    unlink(p->file);
    rmdir(p->dir);
}

static void test_client_path_prefers_a_pod_socket_to_the_default(void **state)
{
    (void)state;
    pod p;
    pod_make(&p);
    char buf[256], def[256], other[256];
    int rc_def = rs__default_socket_path(def, sizeof def);
    int rc = rs__client_socket_path(p.sock, buf, sizeof buf);
    /* whatever the uid: that is the point of a pod path (checked as nobody
     * when running as root) */
    int rc_other = 1;
    assert_int_equal(chmod(p.dir, 0755), 0);
    if (geteuid() == 0 && seteuid(65534) == 0) {
        rc_other = rs__client_socket_path(p.sock, other, sizeof other);
        assert_int_equal(seteuid(0), 0);
    }
    pod_remove(&p);
    assert_int_equal(rc_def, 0);
    assert_int_equal(rc, 0);
    assert_string_equal(buf, p.sock);
    assert_string_not_equal(buf, def);
    if (rc_other != 1) {
        assert_int_equal(rc_other, 0);
        assert_string_equal(other, p.sock);
    }
}

static void test_client_path_without_a_pod_socket_is_the_default(void **state)
{
    (void)state;
    pod p;
    pod_make(&p);
    char buf[256], def[256];
    assert_int_equal(rs__default_socket_path(def, sizeof def), 0);
    int missing = rs__client_socket_path("/nonexistent/rs-test/ringside.sock", buf, sizeof buf);
    assert_int_equal(missing, 0);
    assert_string_equal(buf, def);
    /* something that is not a socket is no sidecar either */
    int plain = rs__client_socket_path(p.file, buf, sizeof buf);
    pod_remove(&p);
    assert_int_equal(plain, 0);
    assert_string_equal(buf, def);
}

static void test_client_path_env_wins_over_the_pod_socket(void **state)
{
    (void)state;
    pod p;
    pod_make(&p);
    char buf[256];
    setenv("RINGSIDE_SOCKET", "/srv/rs/custom.sock", 1);
    int rc = rs__client_socket_path(p.sock, buf, sizeof buf);
    /* too small for the pod path: refused, not cut short */
    unsetenv("RINGSIDE_SOCKET");
    int small = rs__client_socket_path(p.sock, buf + 128, strlen(p.sock));
    pod_remove(&p);
    assert_int_equal(rc, 0);
    assert_string_equal(buf, "/srv/rs/custom.sock");
    assert_int_equal(small, RS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_compute_is_accepted),
        cmocka_unit_test(test_layout_check_rejects_non_power_of_two_caps),
        cmocka_unit_test(test_layout_check_rejects_caps_below_4096),
        cmocka_unit_test(test_layout_check_rejects_size_mismatch),
        cmocka_unit_test(test_layout_check_rejects_misaligned_header_offsets),
        cmocka_unit_test(test_layout_check_rejects_header_outside_first_page),
        cmocka_unit_test(test_layout_check_rejects_misaligned_data_offsets),
        cmocka_unit_test(test_layout_check_rejects_data_beyond_size),
        cmocka_unit_test(test_layout_check_rejects_data_offset_overflow),
        cmocka_unit_test(test_layout_check_rejects_header_offset_overflow),
        cmocka_unit_test_setup_teardown(test_socket_path_env_override, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_socket_path_env_override_non_root, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_socket_path_empty_env_is_unset, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_socket_path_root_default, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_socket_path_xdg_for_non_root, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_socket_path_tmp_for_non_root_without_xdg, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_socket_path_buffer_too_small, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_socket_path_buffer_too_small_for_default, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_socket_path_xdg_too_long, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_client_path_prefers_a_pod_socket_to_the_default, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_client_path_without_a_pod_socket_is_the_default, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_client_path_env_wins_over_the_pod_socket, env_setup, env_teardown),
    };
    return cmocka_run_group_tests_name("channel", tests, NULL, NULL);
}
