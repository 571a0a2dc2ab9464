/* Configuration: defaults, value types, file syntax, layers, cross-field checks, printing. */
#include "proto/error.h"
#include "shared/config.h"
#include "shared/config_table.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];
static char path[256];
static char err[1024];
static ipd_config_t cfg;

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ipd-config-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(path, sizeof(path), "%s/imgpulld.conf", tmpdir);
    unsetenv("WATCHDOG_USEC");
    unsetenv("RUNTIME_DIRECTORY");
    err[0] = '\0';
}

static int remove_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void teardown(void)
{
    nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(config, .init = setup, .fini = teardown);

static void write_file(const char *file, const char *text)
{
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Loads `text` as the config file, with optional environment and flags; returns the result. */
static int load_with(const char *text, char *const *envp, const char *const *dirs, const char *const *values,
                     size_t nflags)
{
    static const char *const names[8] = {"--a", "--b", "--c", "--d", "--e", "--f", "--g", "--h"};
    write_file(path, text);
    return ipd_config_load(&cfg, path, true, envp, dirs, values, names, nflags, err, sizeof(err));
}

static int load(const char *text)
{
    return load_with(text, NULL, NULL, NULL, 0);
}

/* Asserts that loading `text` fails with a message that contains `expect` after "<path>:". */
static void expect_error(const char *text, const char *expect)
{
    cr_assert_eq(load(text), IPD_EINVAL, "accepted: %s", text);
    char want[1200];
    snprintf(want, sizeof(want), "%s:%s", path, expect);
    cr_assert_str_eq(err, want);
}

Test(config, defaults)
{
    ipd_config_init(&cfg);
    cr_assert_eq(ipd_config_finalize(&cfg, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cfg.listen_count, 1);
    cr_assert_str_eq(cfg.listen[0].host, "127.0.0.1");
    cr_assert_eq(cfg.listen[0].port, 8080);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cr_assert_eq(cfg.workers, cpus > 256 ? 256 : cpus);
    cr_assert_str_eq(cfg.instance, "default");
    cr_assert_str_eq(cfg.namespace, "imgpulld");
    cr_assert_eq(cfg.log_namespace_count, 1);
    cr_assert_str_eq(cfg.log_namespace[0], "imgpulld");
    cr_assert_eq(cfg.scope, IPD_SCOPE_CLUSTER);
    cr_assert_eq(cfg.log_level, 1);
    cr_assert_eq(cfg.table_jobs, 4096);
    cr_assert_eq(cfg.table_tasks, 65536);
    cr_assert_eq(cfg.table_ring, 65536);
    cr_assert_eq(cfg.table_json_inline, 8192);
    cr_assert_eq(cfg.max_request_body, 65536);
    cr_assert_eq(cfg.max_nodes_per_job, 5000);
    cr_assert_eq(cfg.ws_ping_interval_ms, 30000);
    cr_assert_eq(cfg.ws_pong_timeout_ms, 60000);
    cr_assert_eq(cfg.watch_timeout_ms, 300000);
    cr_assert_eq(cfg.watch_backoff_initial_ms, 800);
    cr_assert_eq(cfg.logs_tail_lines_max, 10000);
    cr_assert_eq(cfg.logs_pod_wait_ms, 60000);
    cr_assert_str_eq(cfg.redis, "");
    cr_assert_str_eq(cfg.redis_prefix, "imgpulld");
    cr_assert_eq(cfg.redis_stream_maxlen, 100000);
    cr_assert_eq(cfg.redis_read_count, 4000);
    cr_assert_eq(cfg.redis_catchup_publish_ms, 100);
    cr_assert_eq(cfg.redis_liveness_ttl_ms, 15000);
    cr_assert_eq(cfg.redis_standin_page, 500);
    cr_assert_eq(cfg.redis_standin_node_reads, 64);
    cr_assert_eq(cfg.redis_standin_event_reads, 64);
    cr_assert(cfg.redis_standin_watch);
    cr_assert_eq(cfg.redis_slots_ttl_ms, 7 * 24 * 3600 * 1000ULL);
    cr_assert_not(cfg.kube_insecure_skip_tls_verify);
    cr_assert_not(cfg.watchdog);
    cr_assert_str_eq(cfg.config_path, "");
    cr_assert_not_null(strstr(cfg.stats_file, "default.stats.json"));
    cr_assert_neq(cfg.node_name[0], '\0');
    cr_assert_eq(ipd_config_source_of(&cfg, "workers"), IPD_CONFIG_SOURCE_DEFAULT);
}

Test(config, auto_values_follow_the_environment)
{
    setenv("WATCHDOG_USEC", "30000000", 1);
    setenv("RUNTIME_DIRECTORY", "/run/imgpulld:/run/other", 1);
    cr_assert_eq(load("instance blue\n"), 0, "%s", err);
    cr_assert(cfg.watchdog);
    cr_assert_str_eq(cfg.stats_file, "/run/imgpulld/blue.stats.json");
    cr_assert_eq(load("watchdog off\nstats_file /var/tmp/s.json\nworkers auto\n"), 0, "%s", err);
    cr_assert_not(cfg.watchdog);
    cr_assert_str_eq(cfg.stats_file, "/var/tmp/s.json");
    cr_assert_geq(cfg.workers, 1);
}

Test(config, durations)
{
    uint64_t ms;
    static const struct {
        const char *text;
        uint64_t ms;
    } ok[] = {{"500ms", 500},   {"30s", 30000}, {"5m", 300000},   {"1h", 3600000},
              {"1m30s", 90000}, {"0s", 0},      {"2d", 172800000}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert_eq(ipd_config_parse_duration(ok[i].text, &ms), 0, "%s", ok[i].text);
        cr_assert_eq(ms, ok[i].ms, "%s", ok[i].text);
    }
    static const char *const bad[] = {"", "30", "5x", "m", "-1s", "1.5s", "10 s", "1sm", "99999999999999999999h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(ipd_config_parse_duration(bad[i], &ms), IPD_EINVAL, "accepted \"%s\"", bad[i]);
}

Test(config, sizes)
{
    uint64_t b;
    cr_assert_eq(ipd_config_parse_size("512", &b), 0);
    cr_assert_eq(b, 512);
    cr_assert_eq(ipd_config_parse_size("64k", &b), 0);
    cr_assert_eq(b, 65536);
    cr_assert_eq(ipd_config_parse_size("16M", &b), 0);
    cr_assert_eq(b, 16u << 20);
    cr_assert_eq(ipd_config_parse_size("1g", &b), 0);
    cr_assert_eq(b, 1u << 30);
    static const char *const bad[] = {"", "k", "1kb", "-1", "1.5k", "1 k", "99999999999999g"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(ipd_config_parse_size(bad[i], &b), IPD_EINVAL, "accepted \"%s\"", bad[i]);
}

Test(config, bools)
{
    bool v = false;
    static const char *const yes[] = {"on", "yes", "true", "1", "ON"}, *const no[] = {"off", "no", "false", "0"};
    for (size_t i = 0; i < 5; i++)
        cr_assert(ipd_config_parse_bool(yes[i], &v) == 0 && v, "%s", yes[i]);
    for (size_t i = 0; i < 4; i++)
        cr_assert(ipd_config_parse_bool(no[i], &v) == 0 && !v, "%s", no[i]);
    cr_assert_eq(ipd_config_parse_bool("maybe", &v), IPD_EINVAL);
    expect_error("kube_insecure_skip_tls_verify maybe\n",
                 "1: kube_insecure_skip_tls_verify: expects on or off, got \"maybe\"");
}

Test(config, host_port)
{
    ipd_config_hostport_t hp;
    char buf[300];
    cr_assert_eq(ipd_config_parse_hostport("[::1]:80", true, &hp), 0);
    cr_assert_str_eq(hp.host, "::1");
    cr_assert_eq(hp.port, 80);
    cr_assert(ipd_config_hostport_is_loopback(&hp));
    cr_assert_gt(ipd_config_hostport_format(&hp, buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "[::1]:80");
    cr_assert_eq(ipd_config_parse_hostport("127.0.0.9:8080", true, &hp), 0);
    cr_assert(ipd_config_hostport_is_loopback(&hp));
    cr_assert_eq(ipd_config_parse_hostport("127.0.0.1:0", true, &hp), 0);
    cr_assert_eq(hp.port, 0);
    cr_assert_eq(ipd_config_parse_hostport("localhost:1", true, &hp), 0);
    cr_assert(ipd_config_hostport_is_loopback(&hp));
    cr_assert_eq(ipd_config_parse_hostport("[::]:8080", true, &hp), 0);
    cr_assert_not(ipd_config_hostport_is_loopback(&hp));
    cr_assert_eq(ipd_config_parse_hostport("0.0.0.0:65535", true, &hp), 0);
    cr_assert_not(ipd_config_hostport_is_loopback(&hp));
    cr_assert_eq(ipd_config_parse_hostport("redis.imgpulld.svc:6379", false, &hp), 0);
    cr_assert_str_eq(hp.host, "redis.imgpulld.svc");
    cr_assert_eq(ipd_config_parse_hostport("redis.imgpulld.svc:6379", true, &hp), IPD_EINVAL);
    static const char *const bad[] = {"::1:80",  "[::1]",   "[::1]80", "1.2.3.4:0", ":80",         "1.2.3.4:65536",
                                      "[zz]:80", "1.2.3.4", "a b:80",  "h:80x",     "[1.2.3.4]:8", "-bad-:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(ipd_config_parse_hostport(bad[i], false, &hp), IPD_EINVAL, "accepted \"%s\"", bad[i]);
    expect_error("listen ::1:80\n", "1: listen: an IPv6 address needs brackets, as in [::1]:8080, got \"::1:80\"");
    cr_assert_eq(ipd_config_parse_hostport("[fd00::5]:6379", false, &hp), 0);
    cr_assert_str_eq(hp.host, "fd00::5");
}

Test(config, redis_settings)
{
    cr_assert_eq(load("scope node\nnode_name node-1\nredis [fd00::5]:6379\n"), 0, "%s", err);
    cr_assert_str_eq(cfg.redis, "[fd00::5]:6379");
    cr_assert_eq(load("scope node\nnode_name node-1\nredis unix:/run/redis/redis.sock\nredis_prefix ipd-a\n"
                      "redis_stream_maxlen 50\nredis_liveness_ttl 3s\nredis_read_count 250\n"
                      "redis_catchup_publish 0ms\nredis_standin_page 20\nredis_standin_node_reads 0\n"
                      "redis_standin_event_reads 5\nredis_slots_ttl 2d12h\nredis_standin_watch off\n"),
                 0, "%s", err);
    cr_assert_eq(cfg.redis_catchup_publish_ms, 0);
    cr_assert_eq(cfg.redis_standin_page, 20);
    cr_assert_eq(cfg.redis_standin_node_reads, 0);
    cr_assert_eq(cfg.redis_standin_event_reads, 5);
    cr_assert_not(cfg.redis_standin_watch);
    cr_assert_eq(cfg.redis_slots_ttl_ms, 60 * 3600 * 1000ULL);
    cr_assert_str_eq(cfg.redis, "unix:/run/redis/redis.sock");
    cr_assert_str_eq(cfg.redis_prefix, "ipd-a");
    cr_assert_eq(cfg.redis_stream_maxlen, 50);
    cr_assert_eq(cfg.redis_read_count, 250);
    cr_assert_eq(cfg.redis_liveness_ttl_ms, 3000);
    expect_error("scope node\nnode_name n\nredis 127.0.0.1:6379\nredis_standin_page 0\n",
                 "4: redis_standin_page: must be between 1 and 5000, got \"0\"");
    expect_error("scope node\nnode_name n\nredis 127.0.0.1:6379\nredis_standin_node_reads 10001\n",
                 "4: redis_standin_node_reads: must be between 0 and 10000, got \"10001\"");
    expect_error("scope node\nnode_name n\nredis 127.0.0.1:6379\nredis_standin_event_reads -1\n",
                 "4: redis_standin_event_reads: must be between 0 and 10000, got \"-1\"");
    expect_error("scope node\nnode_name n\nredis 127.0.0.1:6379\nredis_slots_ttl 30m\n",
                 "4: redis_slots_ttl: must be between 1h and 365d, got \"30m\"");
    expect_error("scope node\nnode_name n\nredis localhost\n", "3: redis: expects host:port, got \"localhost\"");
    expect_error("scope node\nnode_name n\nredis unix:run/redis.sock\n",
                 "3: redis: unix: needs an absolute socket path, got \"unix:run/redis.sock\"");
    expect_error("redis 127.0.0.1:6379\n",
                 "1: redis: needs scope node (a cluster-scope daemon watches every node itself)");
    expect_error("scope node\nnode_name n\nredis 127.0.0.1:6379\nredis_prefix a{b}\n",
                 "4: redis_prefix: may only contain letters, digits, '_', '.' and '-', got \"a{b}\"");
    expect_error("scope node\nnode_name n\nredis 127.0.0.1:6379\nredis_stream_maxlen 0\n",
                 "4: redis_stream_maxlen: must be between 1 and 100000000, got \"0\"");
    expect_error("scope node\nnode_name n\nredis 127.0.0.1:6379\nredis_read_count 0\n",
                 "4: redis_read_count: must be between 1 and 20000, got \"0\"");
    expect_error("scope node\nnode_name n\nredis 127.0.0.1:6379\nredis_read_count 20001\n",
                 "4: redis_read_count: must be between 1 and 20000, got \"20001\"");
    expect_error("scope node\nnode_name n\nredis 127.0.0.1:6379\nredis_liveness_ttl 10ms\n",
                 "4: redis_liveness_ttl: must be between 1s and 1h, got \"10ms\"");
    expect_error("scope node\nnode_name n\nredis 127.0.0.1:6379\nredis_catchup_publish 11s\n",
                 "4: redis_catchup_publish: must be between 0ms and 10s, got \"11s\"");
    expect_error("scope node\nnode_name n\nredis 127.0.0.1:6379\nredis_catchup_publish soon\n",
                 "4: redis_catchup_publish: expects a duration such as 500ms, 30s, 5m or 1h, got \"soon\"");
    cr_assert_eq(load("scope node\nnode_name node-1\nredis 127.0.0.1:6379\nredis_catchup_publish 250ms\n"), 0, "%s",
                 err);
    cr_assert_eq(cfg.redis_catchup_publish_ms, 250);
    expect_error("redis_username u\n", "1: redis_username: is set but redis is not");
}

Test(config, integer_bounds)
{
    cr_assert_eq(load("workers 256\n"), 0, "%s", err);
    cr_assert_eq(cfg.workers, 256);
    cr_assert_eq(load("workers 1\n"), 0, "%s", err);
    expect_error("workers 257\n", "1: workers: must be between 1 and 256, got \"257\"");
    expect_error("workers four\n", "1: workers: expects an integer, got \"four\"");
    expect_error("workers 99999999999999999999\n", "1: workers: expects an integer, got \"99999999999999999999\"");
    expect_error("ws_ping_interval 2h\n", "1: ws_ping_interval: must be between 1s and 1h, got \"2h\"");
    expect_error("max_request_body 512\n", "1: max_request_body: must be between 1k and 64m, got \"512\"");
    expect_error("watch_timeout 30\n", "1: watch_timeout: expects a duration such as 500ms, 30s, 5m or 1h, got \"30\"");
}

Test(config, enums_and_names)
{
    cr_assert_eq(load("scope node\nnode_name node-a.example\nlog_level debug\n"), 0, "%s", err);
    cr_assert_eq(cfg.scope, IPD_SCOPE_NODE);
    cr_assert_str_eq(cfg.node_name, "node-a.example");
    cr_assert_eq(cfg.log_level, 0);
    expect_error("log_level loud\n", "1: log_level: must be one of debug, info, warn, error; got \"loud\"");
    expect_error("instance a/b\n", "1: instance: may only contain letters, digits, '_', '.' and '-', got \"a/b\"");
    expect_error("instance "
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                 "1: instance: is longer than 64 characters");
    expect_error("instance \"\"\n", "1: instance: must not be empty");
    expect_error("namespace Pulls\n",
                 "1: namespace: must be a DNS label: lower-case letters, digits and '-', at most 63, got \"Pulls\"");
    expect_error("kube_server ftp://x\n", "1: kube_server: must start with http:// or https://, got \"ftp://x\"");
}

Test(config, errors_name_file_line_and_directive)
{
    expect_error("# comment\n\nlisten 127.0.0.1:8080\n\n\n\n\n\n\n\n  \nworkers 0 # twelve\n",
                 "12: workers: must be between 1 and 256, got \"0\"");
    expect_error("workers 2 3\n", "1: workers: expects one value, got 2");
    expect_error("workers\n", "1: workers: expects a value");
}

Test(config, unknown_directive_suggests_a_close_name)
{
    expect_error("wrokers 4\n", "1: unknown directive \"wrokers\" (did you mean \"workers\"?)");
    expect_error("ws_ping_intervall 4s\n",
                 "1: unknown directive \"ws_ping_intervall\" (did you mean \"ws_ping_interval\"?)");
    expect_error("frobnicate yes\n", "1: unknown directive \"frobnicate\"");
}

Test(config, duplicate_directive_names_both_lines)
{
    char want[600];
    cr_assert_eq(load("workers 2\n\nworkers 3\n"), IPD_EINVAL);
    snprintf(want, sizeof(want), "%s:3: workers: duplicate directive, already set at %s:1", path, path);
    cr_assert_str_eq(err, want);
}

Test(config, repeatable_directives_replace_the_lower_layer)
{
    cr_assert_eq(
        load("listen 127.0.0.1:9000\nlisten [::1]:9000 localhost:9001\nlog_namespace a b\nlog_namespace c a\n"), 0,
        "%s", err);
    cr_assert_eq(cfg.listen_count, 3);
    cr_assert_str_eq(cfg.listen[1].host, "::1");
    cr_assert_eq(cfg.listen[2].port, 9001);
    cr_assert_eq(cfg.log_namespace_count, 3);
    cr_assert_str_eq(cfg.log_namespace[2], "c");
    expect_error("listen 127.0.0.1:9000\nlisten 127.0.0.1:9000\n", "2: listen: 127.0.0.1:9000 is listed twice");
}

Test(config, environment_overrides_file)
{
    char *envp[] = {
        "IMGPULLD_WORKERS=4",       "IMGPULLD_TABLE_JOBS=128",  "PATH=/bin", "IMGPULLD_LISTEN=127.0.0.1:1, [::1]:2",
        "IMGPULLD_NO_SUCH_THING=1", "IMGPULLD_KUBECONFIG=/a b", NULL};
    cr_assert_eq(load_with("workers 2\nlisten 127.0.0.1:8080\ntable_jobs 64\n", envp, NULL, NULL, 0), 0, "%s", err);
    cr_assert_eq(cfg.workers, 4);
    cr_assert_eq(cfg.table_jobs, 128);
    cr_assert_eq(cfg.listen_count, 2);
    cr_assert_str_eq(cfg.listen[1].host, "::1");
    cr_assert_str_eq(cfg.kubeconfig, "/a b");
    cr_assert_eq(ipd_config_source_of(&cfg, "workers"), IPD_CONFIG_SOURCE_ENV);

    char *bad[] = {"IMGPULLD_WORKERS=0", NULL};
    cr_assert_eq(load_with("", bad, NULL, NULL, 0), IPD_EINVAL);
    cr_assert_str_eq(err, "environment IMGPULLD_WORKERS: workers: must be between 1 and 256, got \"0\"");
}

Test(config, flags_override_environment_and_file)
{
    char *envp[] = {"IMGPULLD_WORKERS=4", "IMGPULLD_LISTEN=127.0.0.1:1", NULL};
    const char *dirs[] = {"workers", "listen", "listen", "scope"};
    const char *values[] = {"6", "127.0.0.1:7000", "[::1]:7000", "node"};
    cr_assert_eq(load_with("workers 2\nnode_name n1\n", envp, dirs, values, 4), 0, "%s", err);
    cr_assert_eq(cfg.workers, 6);
    cr_assert_eq(cfg.listen_count, 2);
    cr_assert_eq(cfg.listen[0].port, 7000);
    cr_assert_eq(cfg.scope, IPD_SCOPE_NODE);
    cr_assert_eq(ipd_config_source_of(&cfg, "listen"), IPD_CONFIG_SOURCE_FLAG);
    cr_assert_eq(ipd_config_source_of(&cfg, "node_name"), IPD_CONFIG_SOURCE_FILE);

    const char *bad_dirs[] = {"scope"}, *bad_values[] = {"galaxy"};
    cr_assert_eq(load_with("", NULL, bad_dirs, bad_values, 1), IPD_EINVAL);
    cr_assert_str_eq(err, "option --a: scope: must be one of cluster, node; got \"galaxy\"");
}

Test(config, cross_field_checks)
{
    expect_error("tls_cert /etc/c.pem\n", "1: tls_cert: tls_key is required as well");
    expect_error("listen 127.0.0.1:1\nlisten 0.0.0.0:8080\n",
                 "2: listen 0.0.0.0:8080 is not loopback: tokens_file is required");
    expect_error("listen [::]:8080\n", "1: listen [::]:8080 is not loopback: tokens_file is required");
    cr_assert_eq(load("listen 0.0.0.0:8080\ntokens_file /etc/imgpulld/tokens\n"), 0, "%s", err);

    char want[600];
    cr_assert_eq(load("kubeconfig /k\nkube_server https://k:6443\n"), IPD_EINVAL);
    snprintf(want, sizeof(want), "%s:2: kube_server: cannot be combined with kubeconfig (set at %s:1)", path, path);
    cr_assert_str_eq(err, want);
    cr_assert_eq(load("kubeconfig /k\nkube_token_file /t\n"), IPD_EINVAL);
    cr_assert_not_null(strstr(err, ":2: kube_token_file: applies to kube_server"), "%s", err);

    expect_error("redis_password_file /p\n", "1: redis_password_file: is set but redis is not");
    expect_error("watch_backoff_initial 1m\nwatch_backoff_max 30s\n",
                 "1: watch_backoff_initial: watch_backoff_initial (1m) must be at most watch_backoff_max (30s)");
    expect_error("ws_pong_timeout 30s\n",
                 "1: ws_pong_timeout: ws_ping_interval (30s) must be less than ws_pong_timeout (30s)");
    expect_error("table_tasks 1000\n", "1: table_tasks: max_nodes_per_job (5000) must be at most table_tasks (1000)");
    expect_error("logs_max_streams 8\n",
                 "1: logs_max_streams: logs_max_streams_per_worker (64) must be at most logs_max_streams (8)");
}

Test(config, node_scope_uses_the_host_name)
{
    cr_assert_eq(load("scope node\n"), 0, "%s", err);
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    for (char *p = host; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    cr_assert_str_eq(cfg.node_name, host);
}

Test(config, quoting)
{
    cr_assert_eq(load("tokens_file \"/etc/my tokens/#1 \\\"a\\\" \\\\\"  # comment\nnamespace \"pulls\"\n"), 0, "%s",
                 err);
    cr_assert_str_eq(cfg.tokens_file, "/etc/my tokens/#1 \"a\" \\");
    cr_assert_str_eq(cfg.namespace, "pulls");
    cr_assert_eq(load("kubeconfig \"\"\n"), 0, "%s", err);
    cr_assert_str_eq(cfg.kubeconfig, "");
    expect_error("tokens_file \"/etc/x\n", "1: unterminated quoted value");
    expect_error("tokens_file \"/etc/\\n\"\n", "1: only \\\" and \\\\ may be escaped in a quoted value");
    expect_error("tokens_file \"/a\"b\n", "1: text directly after a closing quote");
    expect_error("tokens_file /a\"b\"\n", "1: a quote inside an unquoted value");
}

Test(config, include_is_relative_to_the_including_file)
{
    char sub[300], inc[400];
    snprintf(sub, sizeof(sub), "%s/conf.d", tmpdir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof(sub), "%s/conf.d/extra.conf", tmpdir);
    write_file(sub, "workers 3\nbogus 1\n");
    cr_assert_eq(load("include conf.d/extra.conf\n"), IPD_EINVAL);
    char want[600];
    snprintf(want, sizeof(want), "%s:2: unknown directive \"bogus\"", sub);
    cr_assert_str_eq(err, want);
    write_file(sub, "workers 3\n");
    cr_assert_eq(load("include conf.d/extra.conf\nworkers 4\n"), IPD_EINVAL);
    cr_assert_not_null(strstr(err, "duplicate directive, already set at"), "%s", err);
    cr_assert_eq(load("include conf.d/extra.conf\n"), 0, "%s", err);
    cr_assert_eq(cfg.workers, 3);
    snprintf(inc, sizeof(inc), "include %s/missing.conf\n", tmpdir);
    cr_assert_eq(load(inc), IPD_EINVAL);
    cr_assert_not_null(strstr(err, ":1: include: cannot read"), "%s", err);
}

Test(config, missing_file)
{
    cr_assert_eq(ipd_config_load(&cfg, "/nonexistent/imgpulld.conf", true, NULL, NULL, NULL, NULL, 0, err, sizeof(err)),
                 -ENOENT);
    cr_assert_str_eq(err, "/nonexistent/imgpulld.conf: cannot open: No such file or directory");
    cr_assert_eq(
        ipd_config_load(&cfg, "/nonexistent/imgpulld.conf", false, NULL, NULL, NULL, NULL, 0, err, sizeof(err)), 0);
    cr_assert_str_eq(cfg.config_path, "");
}

Test(config, long_line_is_an_error)
{
    char *text = malloc(10000);
    memset(text, 'a', 9998);
    memcpy(text, "tokens_file ", 12);
    text[9998] = '\n';
    text[9999] = '\0';
    expect_error(text, "1: line longer than 8191 bytes");
    free(text);
}

/* Prints `c` without the "# origin" comments, for comparing two configurations. */
static void print_plain(const ipd_config_t *c, char *buf, size_t len)
{
    FILE *f = fmemopen(buf, len, "w");
    cr_assert_not_null(f);
    cr_assert_eq(ipd_config_print(c, f), 0);
    fclose(f);
    for (char *p = buf; (p = strstr(p, "  # ")) != NULL;) {
        char *eol = strchr(p, '\n');
        memmove(p, eol, strlen(eol) + 1);
    }
}

Test(config, printed_config_reads_back_the_same)
{
    static char first[65536], second[65536];
    cr_assert_eq(
        load("listen [::1]:81 127.0.0.1:82\ntokens_file \"/a b\"\nworkers auto\nkube_server http://k.svc:6443\n"
             "ws_pong_timeout 90s\nlog_namespace a b\n"),
        0, "%s", err);
    print_plain(&cfg, first, sizeof(first));
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(ipd_config_print(&cfg, f), 0);
    fclose(f);
    cr_assert_eq(ipd_config_load(&cfg, path, true, NULL, NULL, NULL, NULL, 0, err, sizeof(err)), 0, "%s", err);
    print_plain(&cfg, second, sizeof(second));
    cr_assert_str_eq(first, second);
    cr_assert_not_null(strstr(first, "ws_pong_timeout 90s\n"));
    cr_assert_not_null(strstr(first, "tokens_file \"/a b\"\n"));
}

Test(config, reload_keeps_flags_and_rereads_the_file)
{
    const char *dirs[] = {"workers"}, *values[] = {"5"};
    cr_assert_eq(load_with("workers 2\ntable_jobs 64\nlog_level warn\n", NULL, dirs, values, 1), 0, "%s", err);
    write_file(path, "workers 3\ntable_jobs 128\nlog_level debug\n");
    static ipd_config_t next;
    cr_assert_eq(ipd_config_reload(&cfg, &next, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(next.workers, 5);
    cr_assert_eq(next.log_level, 0);
    cr_assert_str_eq(ipd_config_restart_required(&cfg, &next), "table_jobs");
    cr_assert_null(ipd_config_restart_required(&cfg, &cfg));
    cr_assert_null(ipd_config_changed(&cfg, &next, IPD_CF_KUBE), "no Kubernetes setting changed");
    snprintf(next.namespace, sizeof(next.namespace), "other");
    cr_assert_str_eq(ipd_config_changed(&cfg, &next, IPD_CF_KUBE), "namespace");
    cr_assert_null(ipd_config_changed(&cfg, &next, IPD_CF_RESTART | IPD_CF_KUBE), "no row has both flags");
    write_file(path, "workers 0\n");
    cr_assert_eq(ipd_config_reload(&cfg, &next, NULL, err, sizeof(err)), IPD_EINVAL);
}

Test(config, system_checks)
{
    cr_assert_eq(load("tokens_file /nonexistent/tokens\n"), 0, "%s", err);
    cr_assert_eq(ipd_config_check_system(&cfg, err, sizeof(err)), IPD_EINVAL);
    cr_assert_not_null(strstr(err, ":1: tokens_file: cannot read \"/nonexistent/tokens\""), "%s", err);
    cr_assert_eq(load("shm_group no-such-group-here\n"), 0, "%s", err);
    cr_assert_eq(ipd_config_check_system(&cfg, err, sizeof(err)), IPD_EINVAL);
    cr_assert_not_null(strstr(err, "shm_group: no group named \"no-such-group-here\""), "%s", err);
    cr_assert_eq(load("shm_group root\n"), 0, "%s", err);
    cr_assert_eq(ipd_config_check_system(&cfg, err, sizeof(err)), 0, "%s", err);
}

Test(config, flags_come_from_the_table)
{
    ipd_config_flag_t flags[32];
    size_t n = ipd_config_flags(flags, 32);
    static const char *const want[] = {"--listen", "--workers",   "--instance", "--kubeconfig", "--kube-server",
                                       "--scope",  "--node-name", "--redis",    "--log-level"};
    cr_assert_eq(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < n; k++)
            found |= strcmp(flags[k].flag, want[i]) == 0;
        cr_assert(found, "no flag %s", want[i]);
    }
}

Test(config, every_example_value_is_valid)
{
    ipd_config_init(&cfg);
    for (size_t i = 0; i < ipd_config_table_len; i++) {
        const ipd_config_directive_t *row = &ipd_config_table[i];
        const char *value = row->def[0] ? row->def : row->example;
        if (!value)
            continue;
        cr_assert_eq(ipd_config_apply(&cfg, row, &value, 1, IPD_CONFIG_SOURCE_FLAG, "example", err, sizeof(err)), 0,
                     "%s", err);
        cr_assert_not_null(row->help);
        cr_assert_eq(strchr(row->help, '|'), NULL, "%s: help breaks the Markdown table", row->name);
    }
}

Test(config, pull_pod_directives_are_checked_and_tolerations_repeat)
{
    cr_assert_eq(load("pull_toleration node-role.kubernetes.io/control-plane:NoSchedule\n"
                      "pull_toleration dedicated=gpu *:NoExecute\npull_uid 1000\npull_job_ttl 10m\n"
                      "pull_helper_image registry.local:5000/tools/busybox@sha256:"
                      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"),
                 0, "%s", err);
    cr_assert_eq(cfg.pull_toleration_count, 3);
    cr_assert_str_eq(cfg.pull_toleration[1], "dedicated=gpu");
    cr_assert_eq(cfg.pull_uid, 1000);
    cr_assert_eq(cfg.pull_job_ttl_ms, 600000);
    expect_error("pull_toleration role:Never\n",
                 "1: pull_toleration: effect must be NoSchedule, PreferNoSchedule or NoExecute, got \"Never\", got "
                 "\"role:Never\"");
    expect_error("pull_uid 0\n", "1: pull_uid: must be between 1 and 2147483647, got \"0\"");
    expect_error("\npull_helper_noop bin/true\n",
                 "2: pull_helper_noop: must be an absolute path to a file, got \"bin/true\"");
    expect_error("pull_helper_image \"Not An Image\"\n",
                 "1: pull_helper_image: must be an image reference such as "
                 "registry.example.com/tools/busybox:1.36.1-musl, got \"Not An Image\"");
}
