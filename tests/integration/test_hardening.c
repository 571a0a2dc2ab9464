/*
 * Hardening: what an unlucky operator or a hostile local client does to a running daemon. A
 * reload into files a worker cannot load, workers killed while they hold connections and log
 * streams, the loopback listener's trust, and the workers' view of the table.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *const sim_args[] = {"--nodes", "2", "--pull-ms", "100", NULL};

static h_world_t w;

static void teardown(void)
{
    h_world_teardown(&w);
}

static int all_alive(const pid_t *pids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] <= 0 || kill(pids[i], 0) != 0)
            return 0;
    return 1;
}

/* ---- a load generator in the background ---- */

typedef struct load {
    FILE *out;
} load_t;

/* Starts h2load for `seconds` with 4 connections of 100 requests/s each (under request_rate_per_conn) against `url`. */
static void load_start(load_t *l, const char *url, int seconds)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "h2load -D %d -c 4 -m 1 --rps 100 %s 2>&1", seconds, url);
    l->out = popen(cmd, "r");
    cr_assert_not_null(l->out, "popen h2load");
}

/* Waits for h2load to end; fails the test unless every request succeeded. Returns the succeeded count. */
static long load_finish(load_t *l)
{
    static char text[16384];
    size_t n = fread(text, 1, sizeof(text) - 1, l->out);
    text[n] = '\0';
    pclose(l->out);
    long total = -1, started = -1, done = -1, ok = -1, failed = -1, errored = -1, timeout = -1;
    const char *p = strstr(text, "requests: ");
    cr_assert_not_null(p, "no h2load summary:\n%s", text);
    cr_assert_eq(
        sscanf(p, "requests: %ld total, %ld started, %ld done, %ld succeeded, %ld failed, %ld errored, %ld timeout",
               &total, &started, &done, &ok, &failed, &errored, &timeout),
        7, "h2load summary: %s", p);
    cr_assert_gt(ok, 0, "no request succeeded:\n%s", text);
    cr_assert_eq(failed + errored + timeout, 0, "requests failed under the reload:\n%s", text);
    return ok;
}

/* ---- item 1: a reload into files a worker cannot load ---- */

static void make_cert(const char *cert, const char *key)
{
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s -out %s -days 2 "
             "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>&1",
             key, cert);
    cr_assert_eq(h_sh(cmd, out, sizeof(out)), 0, "openssl: %s", out);
}

/* `imgpulld -c conf --check-config`: the exit status, and its output in `out`. */
static int check_config(char *out, size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s/imgpulld -c %s --check-config 2>&1", getenv("IPD_BUILD_DIR"), w.conf);
    int st = h_sh(cmd, out, cap);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* SIGHUP, then: rejected, READY=1 carries a STATUS saying so, and no new worker served. */
static void hup_expect_rejected(h_notify_t *n, const char *file_word)
{
    static char seen[65536];
    size_t before = h_log_count(&w.daemon, "reload rejected");
    seen[0] = '\0';
    kill(w.daemon.pid, SIGHUP);
    cr_assert(h_notify_wait(n, "RELOADING=1", 5000, seen, sizeof(seen)), "no RELOADING=1:\n%s", seen);
    cr_assert(h_notify_wait(n, "READY=1", 5000, seen, sizeof(seen)), "no READY=1 after the rejection:\n%s", seen);
    cr_assert_not_null(strstr(seen, "STATUS=reload rejected"), "READY=1 without a STATUS saying so:\n%s", seen);
    cr_assert_gt(h_log_count(&w.daemon, "reload rejected"), before, "the reload was not rejected");
    cr_assert(h_log_contains(&w.daemon, file_word), "the rejection does not name %s", file_word);
    cr_assert(!h_log_contains(&w.daemon, "reload complete"), "a rejected reload was announced as complete");
}

Test(hardening, reload_into_a_bad_tokens_file_or_tls_key_keeps_the_old_workers_serving_under_load, .fini = teardown)
{
    h_notify_t n;
    h_notify_open(&n);
    h_world_sim(&w, "badreload", sim_args);
    char tokens[192], cert[192], key[192], extra[1024], out[4096];
    snprintf(tokens, sizeof(tokens), "%s/tokens", w.dir);
    snprintf(cert, sizeof(cert), "%s/cert.pem", w.dir);
    snprintf(key, sizeof(key), "%s/key.pem", w.dir);
    make_cert(cert, key);
    h_write_file(tokens, "reader-token-0123456789 read\nadmin-token-0123456789 admin\n");
    snprintf(extra, sizeof(extra), "tokens_file %s\ntls_cert %s\ntls_key %s\n", tokens, cert, key);
    const char *env[] = {n.env, NULL};
    h_world_daemon(&w, extra, env, 0);
    cr_assert(h_notify_wait(&n, "READY=1", 20000, NULL, 0), "the daemon did not get ready");
    cr_assert_eq(check_config(out, sizeof(out)), 0, "--check-config of the good files: %s", out);
    pid_t gen1[2];
    uint64_t deadline = h_now_ms() + 5000;
    while (h_worker_pids(&w.daemon, 1, gen1, 2) < 2 && h_now_ms() < deadline)
        usleep(20000);
    cr_assert_eq(h_worker_pids(&w.daemon, 1, gen1, 2), 2);

    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/healthz", w.port);
    load_t load;
    load_start(&load, url, 6);
    usleep(500000);

    /* A tokens file with a line a worker refuses. */
    h_write_file(tokens, "reader-token-0123456789 read\nadmin-token-0123456789 wizard\n");
    cr_assert_eq(check_config(out, sizeof(out)), 1, "--check-config accepted a tokens file a worker refuses: %s", out);
    cr_assert_not_null(strstr(out, "tokens_file"), "--check-config does not name tokens_file: %s", out);
    hup_expect_rejected(&n, "role must be read or admin");
    h_write_file(tokens, "reader-token-0123456789 read\nadmin-token-0123456789 admin\n");

    /* A key that is not a key, then a key of another certificate. */
    h_write_file(key, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
    cr_assert_eq(check_config(out, sizeof(out)), 1, "--check-config accepted a broken tls_key: %s", out);
    cr_assert_not_null(strstr(out, "tls_key"), "--check-config does not name tls_key: %s", out);
    hup_expect_rejected(&n, "tls_key: loading key");
    char cert2[192], key2[192];
    snprintf(cert2, sizeof(cert2), "%s/cert2.pem", w.dir);
    snprintf(key2, sizeof(key2), "%s/key2.pem", w.dir);
    make_cert(cert2, key2);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cp %s %s", key2, key);
    cr_assert_eq(h_sh(cmd, NULL, 0), 0);
    cr_assert_eq(check_config(out, sizeof(out)), 1, "--check-config accepted a key of another certificate: %s", out);
    hup_expect_rejected(&n, "mismatch"); /* OpenSSL: "key values mismatch" */

    long ok = load_finish(&load);
    cr_log_info("h2load: %ld requests succeeded across two rejected reloads", ok);
    pid_t gen2[2];
    cr_assert_eq(h_worker_pids(&w.daemon, 2, gen2, 2), 0, "new workers started for rejected files");
    cr_assert(all_alive(gen1, 2), "the serving workers died");
    h_world_stop_clean(&w);
    h_notify_close(&n);
}

/* ---- item 2: the gauges of a killed worker ---- */

static json_t *stats_doc(void)
{
    long status = 0;
    json_t *doc = h_http_json(w.port, "GET", "/api/v1/stats", NULL, &status);
    cr_assert_eq(status, 200);
    return doc;
}

Test(hardening, sigkill_of_the_workers_holding_every_log_stream_frees_the_streams_under_load, .fini = teardown)
{
    h_world_sim(&w, "killgauge", (const char *const[]){"--pull-ms", "100", "--log-rate", "0", NULL});
    h_world_daemon(&w, "logs_max_streams 4\nlogs_max_streams_per_worker 4\nrespawn_backoff_initial 100ms\n", NULL, 1);
    pid_t gen1[2];
    cr_assert_eq(h_worker_pids(&w.daemon, 1, gen1, 2), 2);
    char url[128], cmd[1024], out[8192];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", w.port);
    load_t load;
    load_start(&load, url, 8);
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 %s/tests/integration/logs/killed.py --sim %d --daemon %d --streams 4 --pids %d,%d 2>&1",
             getenv("IPD_SOURCE_DIR"), w.sim.port, w.port, (int)gen1[0], (int)gen1[1]);
    int st = h_sh(cmd, out, sizeof(out));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "killed.py:\n%s", out);
    cr_log_info("%s", out);
    /* The load saw the kills (its connections to the dead workers failed); it is only load here. */
    char text[4096];
    size_t n = fread(text, 1, sizeof(text) - 1, load.out);
    text[n] = '\0';
    pclose(load.out);
    /* With the load gone, one connection is open: the one asking. */
    json_t *doc = stats_doc();
    json_int_t conns = json_integer_value(json_object_get(json_object_get(doc, "http"), "connections"));
    cr_assert_eq(conns, 1, "%lld connections counted with one client connected", (long long)conns);
    json_decref(doc);
    h_world_stop_clean(&w);
}

/* ---- item 4: workers hold no writable mapping of the table ---- */

Test(hardening, no_worker_maps_the_table_writable, .fini = teardown)
{
    h_world_sim(&w, "maps", sim_args);
    h_world_daemon(&w, "workers 3\n", NULL, 1);
    pid_t pids[3];
    cr_assert_eq(h_worker_pids(&w.daemon, 1, pids, 3), 3);
    char table[128], stats[128];
    /* The objects' names end in a random part (shared/shm.h). */
    snprintf(table, sizeof(table), "/dev/shm/imgpulld.%s@table-", w.instance);
    snprintf(stats, sizeof(stats), "/dev/shm/imgpulld.%s@stats-", w.instance);
    for (int i = 0; i < 3; i++) {
        char path[64], line[512];
        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pids[i]);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "%s", path);
        int ro = 0, stats_maps = 0;
        while (fgets(line, sizeof(line), f) != NULL) {
            char perms[8] = "", name[256] = "";
            if (sscanf(line, "%*s %7s %*s %*s %*s %255s", perms, name) != 2)
                continue;
            if (strncmp(name, table, strlen(table)) == 0) {
                cr_assert_eq(perms[1], '-', "worker %d maps the table writable: %s", (int)pids[i], line);
                ro++;
            }
            stats_maps += strncmp(name, stats, strlen(stats)) == 0;
        }
        fclose(f);
        cr_assert_eq(ro, 1, "worker %d maps the table %d times", (int)pids[i], ro);
        cr_assert_leq(stats_maps, 1, "worker %d maps the stats segment %d times", (int)pids[i], stats_maps);
    }
    h_world_stop_clean(&w);
}

/* ---- item 3: the loopback listener, Host and Origin ---- */

static int ws_upgrade_status(int port, const char *origin)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "GET /ws/image-pull-all HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: %s\r\n\r\n",
             port, origin);
    return h_raw_status(port, text);
}

/* After a reload: the previous generation's workers have exited, so only the new configuration answers. */
static void wait_old_workers_gone(unsigned generation)
{
    pid_t old[8];
    size_t n = h_worker_pids(&w.daemon, generation, old, 8);
    uint64_t deadline = h_now_ms() + 10000;
    for (size_t i = 0; i < n; i++)
        while (kill(old[i], 0) == 0 && h_now_ms() < deadline)
            usleep(20000);
    for (size_t i = 0; i < n; i++)
        cr_assert_neq(kill(old[i], 0), 0, "worker %d of generation %u did not exit", (int)old[i], generation);
}

static long jobs_count(void)
{
    long status = 0;
    json_t *doc = h_http_json(w.port, "GET", "/api/v1/images/pull-jobs", NULL, &status);
    cr_assert_eq(status, 200);
    json_t *jobs = json_object_get(doc, "jobs");
    long n = json_is_array(jobs) ? (long)json_array_size(jobs) : -1;
    json_decref(doc);
    return n;
}

#define EVIL_BODY "{\"image\":\"docker.io/library/evil:1\",\"nodes\":[\"node-1\"]}"

Test(hardening, a_rebound_page_cannot_create_a_job_nor_open_a_cross_origin_websocket, .fini = teardown)
{
    h_world_sim(&w, "rebind", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    long before = jobs_count();
    /* The request of the issue: a page at evil.example whose name now resolves to 127.0.0.1. */
    const char *evil[] = {"Host: evil.example", "Origin: http://evil.example", "Content-Type: application/json", NULL};
    h_resp_t r;
    cr_assert_eq(h_http(w.port, "POST", "/api/v1/images/pull", EVIL_BODY, evil, &r), 0);
    cr_assert_eq(r.status, 421, "a rebound POST got %ld: %s", r.status, r.body);
    cr_assert_not_null(strstr(r.body, "\"error\""), "not the JSON error body: %s", r.body);
    h_resp_free(&r);
    /* Host right, Origin foreign (a page elsewhere posting to 127.0.0.1). */
    const char *cross[] = {"Origin: http://evil.example", "Content-Type: application/json", NULL};
    h_expect_status(w.port, "POST", "/api/v1/images/pull", EVIL_BODY, cross, 403, "a cross-origin POST");
    const char *null_origin[] = {"Origin: null", "Content-Type: application/json", NULL};
    h_expect_status(w.port, "POST", "/api/v1/images/pull", EVIL_BODY, null_origin, 403, "Origin: null");
    cr_assert_eq(jobs_count(), before, "a job was created");

    cr_assert_eq(ws_upgrade_status(w.port, "http://evil.example"), 403, "a cross-origin WebSocket upgrade");
    char same[64];
    snprintf(same, sizeof(same), "http://127.0.0.1:%d", w.port);
    cr_assert_eq(ws_upgrade_status(w.port, same), 101, "a same-origin WebSocket upgrade");
    int st10 = h_raw_status(w.port, "GET /healthz HTTP/1.0\r\n\r\n");
    cr_assert_eq(st10, 200, "HTTP/1.0 without Host: %d", st10);
    cr_assert_eq(h_raw_status(w.port, "GET /healthz HTTP/1.1\r\nHost: a..b\r\n\r\n"), 400, "a malformed Host");
    /* curl and other non-browser clients send no Origin; localhost names are loopback. */
    const char *local[] = {"Host: localhost", NULL};
    h_expect_status(w.port, "GET", "/api/v1/images/pull-active", NULL, local, 200, NULL);

    /* Both lists are configurable: listing the name and the origin lets the same request in. */
    h_world_write_conf(&w, "allowed_hosts evil.example\nallowed_origins http://evil.example\n");
    kill(w.daemon.pid, SIGHUP);
    cr_assert(h_log_wait(&w.daemon, "reload complete", 10000), "the reload did not complete");
    wait_old_workers_gone(1);
    h_expect_status(w.port, "POST", "/api/v1/images/pull", EVIL_BODY, evil, 202, "a listed host and origin");
    cr_assert_eq(ws_upgrade_status(w.port, "http://evil.example"), 101, "a listed origin's WebSocket upgrade");
    h_world_stop_clean(&w);
}

Test(hardening, with_tokens_file_loopback_without_a_token_gets_loopback_role, .fini = teardown)
{
    h_world_sim(&w, "lorole", sim_args);
    h_world_daemon_tokens(&w, "reader-token-0123456789 read\nadmin-token-0123456789 admin\n", NULL);
    const char *json[] = {"Content-Type: application/json", NULL};
    const char *reader[] = {"Authorization: Bearer reader-token-0123456789", NULL};
    /* Default loopback_role none: as on any other listener. */
    h_expect_status(w.port, "GET", "/api/v1/images/pull-active", NULL, NULL, 401, "GET without a token on loopback");
    h_expect_status(w.port, "POST", "/api/v1/images/pull", EVIL_BODY, json, 401, "POST without a token on loopback");
    h_expect_status(w.port, "GET", "/healthz", NULL, NULL, 200, NULL);
    h_expect_status(w.port, "GET", "/api/v1/images/pull-active", NULL, reader, 200, NULL);
    char same[64];
    snprintf(same, sizeof(same), "http://127.0.0.1:%d", w.port);
    cr_assert_eq(ws_upgrade_status(w.port, same), 401, "a WebSocket without a token");

    /* loopback_role read: reads pass, writes need an admin token. */
    char extra[600];
    snprintf(extra, sizeof(extra), "tokens_file %s/tokens\nloopback_role read\n", w.dir);
    h_world_write_conf(&w, extra);
    kill(w.daemon.pid, SIGHUP);
    cr_assert(h_log_wait(&w.daemon, "reload complete", 10000), "the reload did not complete");
    wait_old_workers_gone(1);
    h_expect_status(w.port, "GET", "/api/v1/images/pull-active", NULL, NULL, 200, "GET with loopback_role read");
    h_expect_status(w.port, "POST", "/api/v1/images/pull", EVIL_BODY, json, 403, "POST with loopback_role read");
    h_world_stop_clean(&w);
}

/* ---- item 5: a failed start exits 1 with the reason, never a crash ---- */

Test(hardening, a_failed_start_exits_1_with_its_reason, .fini = teardown)
{
    h_world_sim(&w, "badstart", sim_args);
    char kubeconfig[192];
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfig", w.dir);
    h_write_file(kubeconfig, "apiVersion: v1\nkind: Config\nclusters: [ {name: x, cluster: {server: }\n");
    char conf[1024], cmd[1024], out[8192];
    snprintf(conf, sizeof(conf), "instance %s\nlisten 127.0.0.1:%d\nkubeconfig %s\n", w.instance, h_free_port(),
             kubeconfig);
    h_write_file(w.conf, conf);
    snprintf(cmd, sizeof(cmd), "timeout 20 %s/imgpulld -c %s 2>&1", getenv("IPD_BUILD_DIR"), w.conf);
    int st = h_sh(cmd, out, sizeof(out));
    cr_assert(WIFEXITED(st), "not an exit: %d\n%s", st, out);
    cr_assert_eq(WEXITSTATUS(st), 1, "exit status %d (139 is a crash):\n%s", WEXITSTATUS(st), out);
    cr_assert_not_null(strstr(out, "kubeconfig"), "the reason does not name the kubeconfig:\n%s", out);
}

/* ---- item 6: a second daemon on the same port ---- */

Test(hardening, a_second_daemon_on_the_same_port_fails_at_start, .fini = teardown)
{
    h_world_sim(&w, "twice", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    char conf[1024], path[256], cmd[1024], out[8192], instance[64];
    h_instance(instance, sizeof(instance), "twice2");
    snprintf(path, sizeof(path), "%s/second.conf", w.dir);
    snprintf(conf, sizeof(conf), "instance %s\nlisten 127.0.0.1:%d\nkube_server http://127.0.0.1:%d\n", instance,
             w.port, w.sim.port);
    h_write_file(path, conf);
    snprintf(cmd, sizeof(cmd), "timeout 20 %s/imgpulld -c %s 2>&1", getenv("IPD_BUILD_DIR"), path);
    int st = h_sh(cmd, out, sizeof(out));
    h_unlink_instance(instance);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "the second daemon ran (status %d):\n%s", st, out);
    cr_assert_not_null(strstr(out, "another process listens on this address"), "no clear reason:\n%s", out);
    /* The first daemon still answers every request with its own table. */
    for (int i = 0; i < 20; i++)
        h_expect_status(w.port, "GET", "/healthz", NULL, NULL, 200, NULL);
    h_world_stop_clean(&w);
}

/* ---- item 7: shared memory and files planted by someone else ---- */

/*
 * Another user plants objects at every name the daemon could use: the fixed names of older
 * versions and names of the daemon's own form (shared/shm.h) with guessable random parts, with a
 * valid-looking size and open to all. The daemon starts, serves, and leaves them all alone.
 */
static const char *const planted[] = {"", ".stats", "@table-0000000000000000", "@stats-0000000000000000",
                                      "@table-ffffffffffffffff"};
enum { NPLANTED = sizeof(planted) / sizeof(planted[0]) };
static char planted_path[NPLANTED][160];

/* The planted objects go whatever the outcome: they are root's to remove, not the daemon's. */
static void remove_planted(void)
{
    teardown();
    for (size_t i = 0; i < NPLANTED; i++)
        if (planted_path[i][0] != '\0')
            unlink(planted_path[i]);
}

Test(hardening, objects_another_user_created_first_neither_block_nor_feed_the_daemon, .fini = remove_planted)
{
    char cmd[600];
    struct stat sb;
    h_world_sim(&w, "squat", sim_args);
    for (size_t i = 0; i < NPLANTED; i++) {
        snprintf(planted_path[i], sizeof(planted_path[i]), "/dev/shm/imgpulld.%s%s", w.instance, planted[i]);
        /* Another user's object, writable by all: one the daemon must neither trust nor remove. */
        snprintf(cmd, sizeof(cmd), "head -c 65536 /dev/zero > %.160s && chown nobody %.160s && chmod 0666 %.160s",
                 planted_path[i], planted_path[i], planted_path[i]);
        cr_assert_eq(h_sh(cmd, NULL, 0), 0, "%s", cmd);
    }
    h_world_daemon(&w, NULL, NULL, 1);
    h_resp_t r;
    cr_assert_eq(h_http(w.port, "GET", "/api/v1/images/pull-jobs", NULL, NULL, &r), 0);
    int status = r.status;
    h_resp_free(&r);
    int st = h_world_stop(&w);
    int untouched = 0;
    for (size_t i = 0; i < NPLANTED; i++)
        untouched += stat(planted_path[i], &sb) == 0 && sb.st_uid != 0 && sb.st_size == 65536;
    cr_expect_eq(status, 200, "the daemon does not serve next to the planted objects");
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
    cr_expect_eq(untouched, NPLANTED, "another user's object was removed or changed");
}

Test(hardening, sigusr1_never_writes_through_a_planted_symlink, .fini = teardown)
{
    h_world_sim(&w, "statlink", sim_args);
    char stats[192], victim[192], tmp[256];
    snprintf(stats, sizeof(stats), "%s/stats.json", w.dir);
    snprintf(victim, sizeof(victim), "%s/victim", w.dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", stats);
    h_write_file(victim, "precious\n");
    cr_assert_eq(symlink(victim, tmp), 0);
    h_world_daemon(&w, NULL, NULL, 1); /* its stats_file is dir/stats.json */
    kill(w.daemon.pid, SIGUSR1);
    uint64_t deadline = h_now_ms() + 5000;
    struct stat sb;
    while (stat(stats, &sb) != 0 && h_now_ms() < deadline)
        usleep(20000);
    char text[64] = "";
    FILE *f = fopen(victim, "r");
    cr_assert_not_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    cr_assert_str_eq(text, "precious\n", "the stats went through the planted link");
    cr_assert_eq(lstat(stats, &sb), 0, "no stats file");
    cr_assert(S_ISREG(sb.st_mode), "the stats file is not a regular file");
    h_world_stop_clean(&w);
}

/* ---- item 10: descriptor exhaustion ---- */

/* utime + stime of `pid` in clock ticks. */
static unsigned long long cpu_ticks(pid_t pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strrchr(text, ')');
    unsigned long long ut = 0, st = 0;
    cr_assert_not_null(p);
    cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st), 2);
    return ut + st;
}

Test(hardening, out_of_descriptors_a_worker_pauses_accepting_and_says_so, .fini = teardown)
{
    h_world_sim(&w, "nofile", sim_args);
    h_world_daemon(&w, "workers 1\n", NULL, 1);
    pid_t worker[1];
    cr_assert_eq(h_worker_pids(&w.daemon, 1, worker, 1), 1);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "prlimit --pid %d --nofile=64:64", (int)worker[0]);
    cr_assert_eq(h_sh(cmd, NULL, 0), 0);
    int fds[150];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)w.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 150; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(fds[i], 0);
        cr_assert_eq(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
    }
    usleep(300000);
    long hz = sysconf(_SC_CLK_TCK);
    unsigned long long before = cpu_ticks(worker[0]);
    usleep(2000000);
    unsigned long long used = cpu_ticks(worker[0]) - before;
    cr_assert_lt(used, (unsigned long long)(hz * 2 / 5), "the worker used %llu of %ld ticks in 2 s out of descriptors",
                 used, hz * 2);
    cr_assert(h_log_wait(&w.daemon, "pausing accepts", 2000), "nothing logged about accept failing");
    for (int i = 0; i < 150; i++)
        close(fds[i]);
    /* With the descriptors back, it serves again. */
    uint64_t deadline = h_now_ms() + 5000;
    long status = 0;
    while (status != 200 && h_now_ms() < deadline) {
        h_resp_t r = {0};
        if (h_http(w.port, "GET", "/healthz", NULL, NULL, &r) == 0)
            status = r.status;
        h_resp_free(&r);
    }
    cr_assert_eq(status, 200, "no answer once the connections were closed");
    h_world_stop_clean(&w);
}

/* ---- item 15: subscriptions bounded per worker ---- */

Test(hardening, job_subscriptions_are_bounded_per_worker_not_only_per_connection, .fini = teardown)
{
    h_world_sim(&w, "subs", sim_args);
    h_world_daemon(&w, "workers 1\nws_max_subscriptions 3\nws_max_subscriptions_per_worker 5\n", NULL, 1);
    char cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/integration/ws/check_subs_total.py %d 2>&1",
             getenv("IPD_SOURCE_DIR"), w.port);
    int st = h_sh(cmd, out, sizeof(out));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "check_subs_total.py:\n%s", out);
    h_world_stop_clean(&w);
}

/* ---- item 8: max_header_size ---- */

Test(hardening, a_header_block_over_max_header_size_is_answered_431_before_authentication, .fini = teardown)
{
    h_world_sim(&w, "bighdr", sim_args);
    h_world_daemon_tokens(&w, "admin-token-0123456789 admin\n", NULL);
    static char big[300 * 1024 + 16];
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big, "X-Big: ", 7);
    big[sizeof(big) - 1] = '\0';
    const char *headers[] = {big, NULL};
    h_resp_t r;
    cr_assert_eq(h_http(w.port, "GET", "/api/v1/images/pull-active", NULL, headers, &r), 0);
    cr_assert_eq(r.status, 431, "a 300 KiB header got %ld", r.status);
    cr_assert_not_null(strstr(r.body, "header_too_large"), "not the JSON error body: %s", r.body);
    h_resp_free(&r);
    /* A request of ordinary size on a new connection is answered as before. */
    h_expect_status(w.port, "GET", "/api/v1/images/pull-active", NULL, NULL, 401, NULL);
    h_world_stop_clean(&w);
}
