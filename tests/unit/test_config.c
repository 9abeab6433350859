/*
 * test_config.c — the YAML configuration reader (sidecar/config_file.c):
 * values land in the right fields, and every problem is reported with its
 * file, line and key path, all of them at once; and the example file in
 * deploy/ (its path is this program's argument) loads to the built-in
 * defaults. The socket's access settings (mode, group, allowed groups)
 * and demo mode are checked through the flags too, as ringsided loads them.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

static char path[64];
static char err[8192];

static int load(sc_config *cfg, const char *yaml)
{
    snprintf(path, sizeof path, "/tmp/rs-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->api_key_env, sizeof cfg->api_key_env, "DEEPSEEK_API_KEY");
    int n = sc_config_apply_file(cfg, path, err, sizeof err);
    unlink(path);
    return n;
}

/* err must contain "<path>:<line>: <rest>" */
static void assert_problem(int line, const char *rest)
{
    char want[512];
    snprintf(want, sizeof want, "%s:%d: %s", path, line, rest);
    if (!strstr(err, want))
        fail_msg("expected \"%s\" in:\n%s", want, err);
}

static void test_values_land_in_their_fields(void **state)
{
    (void)state;
    sc_config c;
    assert_int_equal(load(&c, "limits:\n  global: {rps: 12.5, burst: 3, tpm: 60000}\n"
                              "priorities:\n  weights: {p1: 60, p2: 40}\n  queue: {p2: 7}\n"
                              "retries: {attempts: 5, on_status: [503]}\n"
                              "breaker: {failure_rate: 0.3, min_requests: 7, window_ms: 2000, "
                              "max_cooldown_ms: 4000, max_ejected: 0.25}\n"
                              "latency: {alpha: 0.5, recover: 0.7, probe_ms: 300}\n"
                              "io_backend: epoll\n"
                              "routes:\n  - name: a\n    endpoint: http://127.0.0.1:9/\n    weight: 3\n"
                              "    concurrency: {probe_wait_ms: 100, probe_wait_max_ms: 900}\n"
                              "    models: {x: y}\n    conditions:\n      - latency_gt: 1500\n"), 0);
    assert_true(c.breaker_failure_rate == 0.3 && c.max_ejected == 0.25);
    assert_int_equal(c.io_backend, SC_IO_EPOLL);
    assert_int_equal(c.breaker_min_requests, 7);
    assert_int_equal(c.breaker_window_ms, 2000);
    assert_int_equal(c.breaker_max_cooldown_ms, 4000);
    assert_true(c.latency_alpha == 0.5 && c.latency_recover == 0.7);
    assert_int_equal(c.latency_probe_ms, 300);
    assert_int_equal(c.routes[0].probe_wait_ms, 100);
    assert_int_equal(c.routes[0].probe_wait_max_ms, 900);
    assert_true(c.global_limit.rps == 12.5 && c.global_limit.burst == 3 && c.global_limit.tpm == 60000);
    assert_int_equal(c.weight_p1, 60);
    assert_int_equal(c.weight_p2, 40);
    assert_int_equal(c.queue_max[2], 7);
    assert_int_equal(c.retry_attempts, 5);
    assert_int_equal(c.n_retry_status, 1);
    assert_int_equal(c.nroutes, 1);
    assert_string_equal(c.routes[0].endpoint, "http://127.0.0.1:9");   /* trailing / dropped */
    assert_int_equal(c.routes[0].weight, 3);
    assert_string_equal(c.routes[0].model_to[0], "y");
    assert_int_equal(c.routes[0].cond_latency_gt_ms, 1500);
    assert_string_equal(c.routes[0].api_key_env, "DEEPSEEK_API_KEY");
}

static void test_every_problem_has_file_line_and_key(void **state)
{
    (void)state;
    sc_config c;
    int n = load(&c, "limits:\n"
                     "  global: {rps: fast}\n"
                     "priorities:\n"
                     "  weights: {p3: 1}\n"
                     "routes:\n"
                     "  - name: echo\n"
                     "    endpoint: http://x\n"
                     "ring_bytes: 300000\n"
                     "io_backend: kqueue\n");
    assert_int_equal(n, 5);
    assert_problem(2, "limits.global.rps: 'fast' is not a number");
    assert_problem(4, "priorities.weights.p3: unknown key (known here: p1, p2)");
    assert_problem(6, "routes[0]: 'echo' is the sidecar's built-in route");
    assert_problem(8, "ring_bytes: 300000 is not a power of two");
    assert_problem(9, "io_backend: 'kqueue' is not one of auto, io_uring, epoll");
}

static void test_front_door_keys_and_their_problems(void **state)
{
    (void)state;
    sc_config c;
    assert_int_equal(load(&c, "front_door:\n"
                              "  listen: unix:/tmp/d.sock\n"
                              "  anonymous: {priority: 2, limits: {rps: 5}}\n"
                              "  keys:\n"
                              "    - {name: app, key_env: APP, priority: 2, max_priority: 1, routes: [a, b], max_inflight: 9}\n"
                              "  batch: {template: 'q={{query}}', concurrency: 4}\n"), 0);
    assert_string_equal(c.door.listen, "unix:/tmp/d.sock");
    assert_false(c.door.listen_default);
    assert_true(c.door.anonymous && c.door.anon.priority == 2 && c.door.anon.limit.rps == 5);
    assert_int_equal(c.door.nkeys, 1);
    assert_string_equal(c.door.keys[0].key_env, "APP");
    assert_int_equal(c.door.keys[0].max_priority, 1);
    assert_int_equal(c.door.keys[0].max_inflight, 9);
    assert_true(sc_vkey_allows(&c.door.keys[0], "b") && !sc_vkey_allows(&c.door.keys[0], "c"));
    assert_string_equal(c.door.batch_template, "q={{query}}");
    assert_int_equal(c.door.batch_concurrency, 4);

    int n = load(&c, "front_door:\n"
                     "  keys:\n"
                     "    - {name: anonymous, key_sha256: abc}\n"
                     "    - {name: x, priority: 1, max_priority: 2}\n"
                     "  batch: {template: nothing}\n");
    assert_int_equal(n, 5);
    assert_problem(3, "front_door.keys[0].key_sha256: expected 64 hex digits");
    assert_problem(3, "front_door.keys[0]: 'anonymous' is the name of callers without a key");
    assert_problem(4, "front_door.keys[1]: max_priority (2) is a lower class than priority (1)");
    assert_problem(4, "front_door.keys[1]: give the token's variable (key_env) or its hash (key_sha256)");
    assert_problem(5, "front_door.batch.template: the template never uses {{query}}");
}

static void test_http_version_and_ca_file(void **state)
{
    (void)state;
    sc_config c;
    assert_int_equal(load(&c, "routes:\n"
                              "  - {name: a, endpoint: https://x, http_version: 2, ca_file: /etc/ca.pem}\n"
                              "  - {name: b, endpoint: https://y, http_version: '1.1'}\n"
                              "  - {name: c, endpoint: https://z}\n"), 0);
    assert_int_equal(c.routes[0].http_version, SC_HTTP_2);
    assert_string_equal(c.routes[0].ca_file, "/etc/ca.pem");
    assert_int_equal(c.routes[1].http_version, SC_HTTP_1_1);
    assert_int_equal(c.routes[2].http_version, SC_HTTP_AUTO);
    assert_string_equal(c.routes[2].ca_file, "");

    assert_int_equal(load(&c, "routes:\n  - {name: a, endpoint: https://x, http_version: 3}\n"), 1);
    assert_problem(2, "routes[0].http_version: '3' is not one of auto, 1.1, 2");
    /* h2c (prior knowledge) only where libcurl can reuse its connections */
    int n = load(&c, "routes:\n  - {name: a, endpoint: http://x, http_version: 2}\n");
    if (curl_version_info(CURLVERSION_NOW)->version_num < 0x080000) {
        assert_int_equal(n, 1);
        assert_problem(2, "routes[0]: http_version 2 over http:// (h2c) needs libcurl 8.0.0 or later");
    } else {
        assert_int_equal(n, 0);
    }
}

static void test_notification_delivery(void **state)
{
    (void)state;
    sc_config c;
    assert_int_equal(load(&c, "alerts: {delivery: {attempts: 3, backoff_ms: 250}}\n"), 0);
    assert_int_equal(c.notify_attempts, 3);
    assert_int_equal(c.notify_backoff_ms, 250);
    assert_int_equal(load(&c, "alerts: {delivery: {attempts: 0}}\n"), 1);
    assert_problem(1, "alerts.delivery.attempts: '0' is not a whole number from 1 to 100");
}

static void test_env_substitution(void **state)
{
    (void)state;
    sc_config c;
    setenv("RS_UNIT_PORT", "4242", 1);
    assert_int_equal(load(&c, "routes:\n  - {name: a, endpoint: 'http://127.0.0.1:${RS_UNIT_PORT}'}\n"
                              "grace_ms: ${RS_UNIT_UNSET:-77}\n"), 0);
    assert_string_equal(c.routes[0].endpoint, "http://127.0.0.1:4242");
    assert_int_equal(c.grace_ms, 77);
    assert_int_equal(load(&c, "grace_ms: ${RS_UNIT_UNSET}\n"), 1);
    assert_problem(1, "grace_ms: environment variable RS_UNIT_UNSET is not set");
}

static void test_not_yaml_and_missing_file(void **state)
{
    (void)state;
    sc_config c;
    assert_int_equal(load(&c, "routes: [\n  - a\n"), 1);
    assert_non_null(strstr(err, "not valid YAML"));
    memset(&c, 0, sizeof c);
    assert_int_equal(sc_config_apply_file(&c, "/nonexistent/ringside.yaml", err, sizeof err), 1);
    assert_non_null(strstr(err, "/nonexistent/ringside.yaml:0: (top): cannot open"));
}

static void test_wrong_shapes(void **state)
{
    (void)state;
    sc_config c;
    assert_int_equal(load(&c, "routes: {name: a}\nlimits: [1, 2]\nretries:\n  on_status: {a: 1}\n"), 3);
    assert_problem(1, "routes: expected a list of routes");
    assert_problem(2, "limits: expected a mapping of keys");
    assert_problem(4, "retries.on_status: expected a list of HTTP status codes");
}

static void test_socket_access_keys(void **state)
{
    (void)state;
    sc_config c;
    /* a YAML 1.1 reader would make 0640 a number; ours keeps the text */
    assert_int_equal(load(&c, "socket_mode: 0640\nsocket_group: root\nallow_gids: [4242, root, '7']\n"), 0);
    assert_int_equal(c.socket_mode, 0640);
    assert_string_equal(c.socket_group, "root");
    assert_int_equal(c.socket_gid, 0);
    assert_int_equal(c.n_allow_gids, 3);
    assert_int_equal(c.allow_gids[0], 4242);
    assert_int_equal(c.allow_gids[1], 0);
    assert_int_equal(c.allow_gids[2], 7);
    /* a numeric gid need not be in the group database (containers) */
    assert_int_equal(load(&c, "socket_mode: '666'\nsocket_group: '4242'\n"), 0);
    assert_int_equal(c.socket_mode, 0666);
    assert_string_equal(c.socket_group, "4242");
    assert_int_equal(c.socket_gid, 4242);
}

static void test_socket_access_problems_name_their_key(void **state)
{
    (void)state;
    sc_config c;
    int n = load(&c, "socket_mode: 0060\n"
                     "socket_group: no-such-group-rs\n"
                     "allow_gids: 4242\n");
    assert_int_equal(n, 3);
    assert_problem(1, "socket_mode: '0060' locks out the socket's owner");
    assert_problem(2, "socket_group: 'no-such-group-rs' is not a group here");
    assert_problem(3, "allow_gids: expected a list of gids or group names");
    n = load(&c, "socket_mode: 04660\n"
                 "allow_gids:\n  - 1\n  - no-such-group-rs\n  - 4294967295\n"
                 "socket_group: ''\n");
    assert_int_equal(n, 4);
    assert_problem(1, "socket_mode: '04660' has bits beyond 0777");
    assert_problem(4, "allow_gids: 'no-such-group-rs' is not a group here");
    assert_problem(5, "allow_gids: '4294967295' is not a gid");
    assert_problem(6, "socket_group: '' is not a group here");
    assert_int_equal(c.n_allow_gids, 1);   /* only the good one is kept */
    n = load(&c, "socket_mode: 0o660\n");
    assert_int_equal(n, 1);
    assert_problem(1, "socket_mode: '0o660' is not an octal mode such as 0660");
    n = load(&c, "socket_mode: 0680\n");
    assert_int_equal(n, 1);
    assert_problem(1, "socket_mode: '0680' is not an octal mode");
}

/* ringsided's argv after its name, loaded as it would (no file unless the
 * arguments name one); returns sc_config_load's result, with what it
 * printed to stderr in err */
static int load_args(sc_config *c, char **args)
{
    char *argv[64] = { "ringsided" };
    int argc = 1;
    while (args[argc - 1]) {
        assert_true(argc < 63);
        argv[argc] = args[argc - 1];
        argc++;
    }
    unsetenv("RINGSIDE_CONFIG");
    unsetenv("RINGSIDE_UPSTREAM");
    setenv("RINGSIDE_SOCKET", "/tmp/rs-test-config.sock", 1);
    fflush(stderr);
    int saved = dup(2);
    FILE *cap = tmpfile();
    assert_non_null(cap);
    dup2(fileno(cap), 2);
    memset(c, 0, sizeof *c);
    int r = sc_config_load(c, argc, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(cap);
    size_t n = fread(err, 1, sizeof err - 1, cap);
    err[n] = 0;
    fclose(cap);
    return r;
}

static void assert_refused(char **args, const char *says)
{
    sc_config c;
    assert_int_equal(load_args(&c, args), -1);
    if (!strstr(err, says))
        fail_msg("expected \"%s\" in:\n%s", says, err);
}

static void test_socket_access_flags(void **state)
{
    (void)state;
    static sc_config c;
    assert_int_equal(load_args(&c, (char *[]){ NULL }), 0);
    assert_int_equal(c.socket_mode, 0660);
    assert_string_equal(c.socket_group, "");
    assert_int_equal(c.n_allow_gids, 0);

    assert_int_equal(load_args(&c, (char *[]){ "--socket-mode", "0666", "--socket-group", "4242",
                                               "--allow-gid", "root", "--allow-gid", "4343", NULL }), 0);
    assert_int_equal(c.socket_mode, 0666);
    assert_string_equal(c.socket_group, "4242");
    assert_int_equal(c.socket_gid, 4242);
    assert_int_equal(c.n_allow_gids, 2);
    assert_int_equal(c.allow_gids[0], 0);
    assert_int_equal(c.allow_gids[1], 4343);
    /* allow_gids come in addition to the uids, and 'any' stays */
    assert_int_equal(load_args(&c, (char *[]){ "--allow-uid", "any", "--allow-gid", "5", NULL }), 0);
    assert_true(c.allow_any_uid);
    assert_int_equal(c.n_allow_gids, 1);

    assert_refused((char *[]){ "--socket-mode", "0460", NULL },
                   "ringsided: --socket-mode '0460' locks out the socket's owner");
    assert_refused((char *[]){ "--socket-mode", "2660", NULL }, "ringsided: --socket-mode '2660' has bits beyond 0777");
    assert_refused((char *[]){ "--socket-mode", "rw-rw----", NULL },
                   "ringsided: --socket-mode 'rw-rw----' is not an octal mode such as 0660");
    assert_refused((char *[]){ "--socket-group", "no-such-group-rs", NULL },
                   "ringsided: --socket-group 'no-such-group-rs' is not a group here");
    assert_refused((char *[]){ "--allow-gid", "no-such-group-rs", NULL },
                   "ringsided: --allow-gid 'no-such-group-rs' is not a group here");
    assert_refused((char *[]){ "--allow-gid", "-1", NULL }, "ringsided: --allow-gid '-1' is not a group here");
    char *many[2 * (SC_MAX_ALLOW_GIDS + 1) + 1];
    for (int i = 0; i <= SC_MAX_ALLOW_GIDS; i++) {
        many[2 * i] = "--allow-gid";
        many[2 * i + 1] = "7";
    }
    many[2 * (SC_MAX_ALLOW_GIDS + 1)] = NULL;
    assert_refused(many, "ringsided: at most 16 --allow-gid");
}

/* The bundled mock is the default route only when nothing else was said;
 * the daemon warns of it (e2e test_socket_access.py checks the warning). */
static void test_demo_mode_only_without_key_upstream_or_routes(void **state)
{
    (void)state;
    static sc_config c;
    unsetenv("RS_UNIT_NO_KEY");
    assert_int_equal(load_args(&c, (char *[]){ "--api-key-env", "RS_UNIT_NO_KEY", NULL }), 0);
    assert_true(c.demo_mode);
    assert_string_equal(c.upstream, SC_MOCK_DEFAULT_URL);

    assert_int_equal(load_args(&c, (char *[]){ "--api-key-env", "RS_UNIT_NO_KEY", "--upstream",
                                               SC_MOCK_DEFAULT_URL, NULL }), 0);
    assert_false(c.demo_mode);
    setenv("RS_UNIT_KEY", "sk-unit", 1);
    assert_int_equal(load_args(&c, (char *[]){ "--api-key-env", "RS_UNIT_KEY", NULL }), 0);
    assert_false(c.demo_mode);
    assert_string_equal(c.upstream, SC_DEEPSEEK_URL);

    snprintf(path, sizeof path, "/tmp/rs-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *yaml = "routes:\n  - {name: a, endpoint: 'http://127.0.0.1:9'}\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    int r = load_args(&c, (char *[]){ "--api-key-env", "RS_UNIT_NO_KEY", "--config", path, NULL });
    unlink(path);
    assert_int_equal(r, 0);
    assert_false(c.demo_mode);
}

/* What ringsided would run with, given these arguments after its name:
 * defaults, then the file, environment and flags (sidecar/config.c). */
static void load_as_ringsided(sc_config *c, const char *config_path)
{
    char *argv[] = { "ringsided", "--config", (char *)config_path, NULL };
    unsetenv("RINGSIDE_CONFIG");
    unsetenv("RINGSIDE_UPSTREAM");
    setenv("RINGSIDE_SOCKET", "/tmp/rs-test-config.sock", 1);   /* the example leaves it as is */
    memset(c, 0, sizeof *c);
    assert_int_equal(sc_config_load(c, config_path ? 3 : 1, argv), 0);
}

static const char *example_path;

static void test_the_example_file_shows_the_built_in_defaults(void **state)
{
    (void)state;
    static sc_config def, ex;
    load_as_ringsided(&def, NULL);
    load_as_ringsided(&ex, example_path);
    assert_string_equal(ex.config_path, example_path);

    /* the one deliberate difference: the example's two routes where no
     * file has the single "default" route from --upstream; its first
     * route shows the route defaults, the second examples */
    assert_int_equal(def.nroutes, 1);
    assert_int_equal(ex.nroutes, 2);
    sc_route_cfg want = def.routes[0];
    snprintf(want.name, sizeof want.name, "primary");
    snprintf(want.endpoint, sizeof want.endpoint, "https://api.deepseek.com");
    assert_memory_equal(&ex.routes[0], &want, sizeof want);
    assert_string_equal(ex.routes[1].name, "secondary");
    memcpy(ex.routes, def.routes, sizeof ex.routes);
    ex.nroutes = def.nroutes;
    memcpy(ex.upstream, def.upstream, sizeof ex.upstream);
    ex.demo_mode = def.demo_mode;   /* routes, so never the mock */
    memcpy(ex.config_path, def.config_path, sizeof ex.config_path);

    /* everything else equal, field by field so a failure names it */
#define SAME(f) do { if (memcmp(&ex.f, &def.f, sizeof ex.f) != 0) \
                         fail_msg("the example's %s is not the default", #f); } while (0)
    SAME(socket_path); SAME(api_key_env); SAME(ring_bytes); SAME(max_inflight); SAME(grace_ms);
    SAME(connect_timeout_ms); SAME(first_content_timeout_ms); SAME(idle_timeout_ms);
    SAME(total_timeout_ms); SAME(max_response_bytes); SAME(spin_us); SAME(prefault);
    SAME(allow_any_uid); SAME(allow_uids); SAME(n_allow_uids); SAME(log_level); SAME(io_backend);
    SAME(socket_mode); SAME(socket_group); SAME(socket_gid); SAME(allow_gids); SAME(n_allow_gids);
    SAME(admin_listen); SAME(timeline_keep); SAME(em_shed_fraction); SAME(em_error_ratio);
    SAME(em_window_ms); SAME(em_min_requests); SAME(em_when_open); SAME(em_recover_ms);
    SAME(global_limit); SAME(client_limit); SAME(queue_max); SAME(deadline_ms); SAME(weight_p1);
    SAME(weight_p2); SAME(aging_ms); SAME(p0_reserved); SAME(default_max_tokens);
    SAME(retry_attempts); SAME(retry_initial_ms); SAME(retry_cap_ms); SAME(retry_factor);
    SAME(retry_status); SAME(n_retry_status); SAME(budget_ratio); SAME(budget_min);
    SAME(budget_window_ms); SAME(breaker_failures); SAME(breaker_slow); SAME(breaker_cooldown_ms);
    SAME(breaker_probes); SAME(shed_error_rate); SAME(shed_fraction); SAME(shed_window_ms);
    SAME(shed_min_samples); SAME(breaker_max_cooldown_ms); SAME(breaker_failure_rate);
    SAME(breaker_min_requests); SAME(breaker_window_ms); SAME(max_ejected); SAME(latency_alpha);
    SAME(latency_recover); SAME(latency_probe_ms); SAME(door);
#undef SAME
    /* and no field the list above forgot */
    assert_memory_equal(&ex, &def, sizeof ex);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_config PATH-OF-deploy/ringside.example.yaml\n");
        return 2;
    }
    example_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_land_in_their_fields),
        cmocka_unit_test(test_every_problem_has_file_line_and_key),
        cmocka_unit_test(test_http_version_and_ca_file),
        cmocka_unit_test(test_notification_delivery),
        cmocka_unit_test(test_env_substitution),
        cmocka_unit_test(test_not_yaml_and_missing_file),
        cmocka_unit_test(test_wrong_shapes),
        cmocka_unit_test(test_socket_access_keys),
        cmocka_unit_test(test_socket_access_problems_name_their_key),
        cmocka_unit_test(test_socket_access_flags),
        cmocka_unit_test(test_front_door_keys_and_their_problems),
        cmocka_unit_test(test_demo_mode_only_without_key_upstream_or_routes),
        cmocka_unit_test(test_the_example_file_shows_the_built_in_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
