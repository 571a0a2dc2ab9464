/*
 * Serving, part 3: the master's conversation with systemd (sd_notify over a test NOTIFY_SOCKET),
 * SIGHUP with a broken and then a valid configuration, and the SIGUSR1 stats dump.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *const sim_args[] = {"--nodes", "2", "--pull-ms", "100", NULL};

static h_world_t w;

/* Runs after every test, also after a failed assertion: nothing outlives the test. */
static void teardown(void)
{
    if (w.daemon.pid > 0 || w.sim.pid > 0)
        h_world_stop(&w);
}

static void sim_req(const char *method, const char *path, const char *body)
{
    h_resp_t r;
    cr_assert_eq(h_http(w.sim.port, method, path, body, NULL, &r), 0, "%s %s", method, path);
    cr_assert_eq(r.status, 200, "%s %s: %ld %s", method, path, r.status, r.body);
    h_resp_free(&r);
}

/* Drains the notify socket for `ms` and returns how many datagrams had the line `line`. */
static int count_for(h_notify_t *n, const char *line, int ms, char *seen, size_t cap)
{
    uint64_t until = h_now_ms() + (uint64_t)ms;
    int found = 0;
    while (h_now_ms() < until)
        found += h_notify_wait(n, line, (int)(until - h_now_ms()), seen, cap);
    return found;
}

Test(serving, sd_notify_ready_after_the_first_list_reloading_watchdog_and_stopping, .fini = teardown)
{
    h_notify_t n;
    h_notify_open(&n);
    h_world_sim(&w, "notify", sim_args);
    /* Every list fails until the injection is cleared: no READY=1 may come before that. */
    sim_req("POST", "/_sim/inject", "{\"count\":100000,\"code\":500,\"path\":\"limit=\",\"method\":\"GET\"}");
    const char *env[] = {n.env, "WATCHDOG_USEC=400000", NULL};
    h_world_daemon(&w, "watch_backoff_initial 200ms\nwatch_backoff_max 500ms\nwatch_idle_timeout 2s\n", env, 0);

    static char seen[65536];
    seen[0] = '\0';
    cr_assert_eq(count_for(&n, "READY=1", 1500, seen, sizeof(seen)), 0, "READY=1 before the first list:\n%s", seen);
    cr_assert_null(strstr(seen, "WATCHDOG=1"), "WATCHDOG=1 before the first list:\n%s", seen);
    cr_assert_not_null(strstr(seen, "STATUS="), "no STATUS= while listing:\n%s", seen);
    cr_assert_not_null(strstr(seen, "watch listing"), "the status does not say the watch is listing:\n%s", seen);
    cr_assert(h_log_contains(&w.daemon, "HTTP 500"), "the list was not failing");

    sim_req("DELETE", "/_sim/inject", NULL);
    seen[0] = '\0';
    cr_assert(h_notify_wait(&n, "READY=1", 10000, seen, sizeof(seen)), "no READY=1 after the list:\n%s", seen);
    /* READY=1 was sent after the table held the list: the workers already say ready. */
    h_resp_t r;
    cr_assert_eq(h_http(w.port, "GET", "/readyz", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200, "READY=1 sent while /readyz says %ld", r.status);
    h_resp_free(&r);
    seen[0] = '\0';
    cr_assert(h_notify_wait(&n, "WATCHDOG=1", 2000, seen, sizeof(seen)), "no WATCHDOG=1 once ready:\n%s", seen);
    seen[0] = '\0';
    cr_assert(h_notify_wait(&n, "WATCHDOG=1", 1000, seen, sizeof(seen)), "WATCHDOG=1 is not periodic");

    /*
     * An apiserver outage does not stop the watchdog pings (the daemon serves what it has, and a
     * restart would not bring the apiserver back): every request fails and the watches are cut,
     * so the apiserver is silent past the grace (2 x watch_idle_timeout + watch_backoff_max).
     * STATUS= says degraded and /readyz answers 503 with the reason; the lists still answer.
     */
    sim_req("POST", "/_sim/inject", "{\"count\":100000,\"code\":500,\"path\":\".\"}");
    sim_req("POST", "/_sim/watches/drop", "{}");
    count_for(&n, "WATCHDOG=1", 5000, NULL, 0);
    seen[0] = '\0';
    cr_assert_geq(count_for(&n, "WATCHDOG=1", 1200, seen, sizeof(seen)), 1,
                  "no WATCHDOG=1 while the apiserver was away:\n%s", seen);
    cr_assert_not_null(strstr(seen, "watch degraded"), "the status does not say degraded:\n%s", seen);
    cr_assert_eq(h_http(w.port, "GET", "/readyz", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 503, "/readyz says %ld during the outage", r.status);
    cr_assert_not_null(strstr(r.body, "API server"), "/readyz does not say why: %s", r.body);
    h_resp_free(&r);
    cr_assert_eq(h_http(w.port, "GET", "/api/v1/images/pull-active", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200, "the lists stopped answering during the outage");
    h_resp_free(&r);
    sim_req("DELETE", "/_sim/inject", NULL);
    cr_assert(h_notify_wait(&n, "WATCHDOG=1", 5000, NULL, 0), "no WATCHDOG=1 after the watch recovered");
    /*
     * Once the apiserver answers, each watch is retried within watch_backoff_max (+25% jitter)
     * and hears a bookmark within the simulator's 1 s interval; the master publishes health on
     * its 1 s tick. That is under the grace (2 x 2 s + 0.5 s): allow twice the grace plus a tick.
     * The notify socket is not read meanwhile, as a busy manager would not: its queue fills
     * (net.unix.max_dgram_qlen) and the master must go on without waiting for it.
     */
    uint64_t grace_ms = 2 * 2000 + 500, until = h_now_ms() + 2 * grace_ms + 1000;
    long ready = 0;
    char why[512] = "";
    while (ready != 200 && h_now_ms() < until) {
        cr_assert_eq(h_http(w.port, "GET", "/readyz", NULL, NULL, &r), 0);
        ready = r.status;
        snprintf(why, sizeof(why), "%s", r.body ? r.body : "");
        h_resp_free(&r);
        usleep(100000);
    }
    if (ready != 200)
        h_dump_log(&w.daemon);
    cr_assert_eq(ready, 200, "/readyz did not recover: %s", why);
    /* Read the queue as the manager would: RELOADING=1 below then finds room at once. */
    count_for(&n, "WATCHDOG=1", 300, NULL, 0);

    /* SIGHUP: RELOADING=1, then READY=1. */
    seen[0] = '\0';
    kill(w.daemon.pid, SIGHUP);
    cr_assert(h_notify_wait(&n, "RELOADING=1", 5000, seen, sizeof(seen)), "no RELOADING=1:\n%s", seen);
    cr_assert_null(strstr(seen, "READY=1"), "READY=1 came before RELOADING=1:\n%s", seen);
    cr_assert(h_notify_wait(&n, "READY=1", 5000, seen, sizeof(seen)), "no READY=1 after the reload:\n%s", seen);
    cr_assert(h_log_wait(&w.daemon, "configuration reloaded", 2000));
    /* READY=1 comes once every new worker has taken its stats block, that is, serves. */
    cr_assert(h_log_contains(&w.daemon, "reload complete: the new workers serve"),
              "READY=1 was sent before the new workers served");

    /* SIGTERM: STOPPING=1 and a clean exit. */
    kill(w.daemon.pid, SIGTERM);
    cr_assert(h_notify_wait(&n, "STOPPING=1", 5000, NULL, 0), "no STOPPING=1");
    int st = h_world_stop(&w);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
    h_notify_close(&n);
}

/* True while every pid in `pids` is alive. */
static int all_alive(const pid_t *pids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] <= 0 || kill(pids[i], 0) != 0)
            return 0;
    return 1;
}

static int all_gone(const pid_t *pids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (kill(pids[i], 0) == 0)
            return 0;
    return 1;
}

Test(serving, sighup_with_a_broken_file_keeps_the_old_workers_then_a_valid_one_applies, .fini = teardown)
{
    h_world_sim(&w, "hupconf", sim_args);
    h_world_daemon(&w, "log_level info\n", NULL, 1);
    pid_t gen1[2], gen2[2];
    cr_assert_eq(h_worker_pids(&w.daemon, 1, gen1, 2), 2);

    /* Line 8 of the file (after six set-up lines and log_level) gets a misspelt directive. */
    h_world_write_conf(&w, "log_level info\nwrokers 3\n");
    char needle[300];
    snprintf(needle, sizeof(needle), "%s:8", w.conf);
    kill(w.daemon.pid, SIGHUP);
    cr_assert(h_log_wait(&w.daemon, "reload rejected", 5000), "the broken reload was not logged");
    cr_assert(h_log_contains(&w.daemon, needle), "the rejection does not name %s", needle);
    cr_assert(h_log_contains(&w.daemon, "wrokers"), "the rejection does not name the directive");
    usleep(300000);
    cr_assert_eq(h_worker_pids(&w.daemon, 2, gen2, 2), 0, "new workers started for a rejected file");
    cr_assert(all_alive(gen1, 2), "the old workers died");
    for (int i = 0; i < 20; i++) {
        h_resp_t r;
        cr_assert_eq(h_http(w.port, "GET", "/api/v1/images/pull-active", NULL, NULL, &r), 0);
        cr_assert_eq(r.status, 200);
        h_resp_free(&r);
    }

    /* A valid change applies: new workers, the old ones drain and exit. */
    h_world_write_conf(&w, "log_level info\nrequest_rate_per_conn 3\n");
    kill(w.daemon.pid, SIGHUP);
    cr_assert(h_log_wait(&w.daemon, "configuration reloaded", 5000), "the valid reload was not applied");
    uint64_t deadline = h_now_ms() + 5000;
    while (h_worker_pids(&w.daemon, 2, gen2, 2) < 2 && h_now_ms() < deadline)
        usleep(20000);
    cr_assert_eq(h_worker_pids(&w.daemon, 2, gen2, 2), 2, "no new workers");
    cr_assert(gen2[0] != gen1[0] && gen2[1] != gen1[1] && gen2[0] != gen1[1] && gen2[1] != gen1[0]);
    deadline = h_now_ms() + 10000;
    while (!all_gone(gen1, 2) && h_now_ms() < deadline)
        usleep(20000);
    cr_assert(all_gone(gen1, 2), "the old workers did not exit after the drain");
    cr_assert(all_alive(gen2, 2));
    /* The new request_rate_per_conn applies: a connection making 10 requests is cut at 3. */
    char cmd[256], text[8192];
    snprintf(cmd, sizeof(cmd), "h2load -n 10 -c 1 -m 1 http://127.0.0.1:%d/healthz 2>&1", w.port);
    h_sh(cmd, text, sizeof(text));
    cr_assert_not_null(strstr(text, "status codes: 3 2xx"), "the reloaded rate cap does not apply: %s", text);
    h_resp_t r;
    cr_assert_eq(h_http(w.port, "GET", "/api/v1/images/pull-active", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
    int st = h_world_stop(&w);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
}

/* The last log line of the stats dump, parsed; NULL if there is none. */
static json_t *stats_from_log(void)
{
    FILE *f = fopen(w.daemon.log, "r");
    cr_assert_not_null(f);
    static char line[1 << 16];
    json_t *last = NULL;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "\"component\":\"stats\"") == NULL)
            continue;
        json_t *doc = json_loads(line, 0, NULL);
        cr_assert_not_null(doc, "the stats line is not JSON: %s", line);
        json_decref(last);
        last = doc;
    }
    fclose(f);
    return last;
}

/* The embedded stats document of a log line: the object member that carries "http" and "table". */
static json_t *embedded(json_t *line)
{
    const char *k;
    json_t *v;
    json_object_foreach(line, k, v)
    {
        if (json_is_object(v) && json_object_get(v, "http") != NULL && json_object_get(v, "table") != NULL)
            return v;
    }
    return NULL;
}

Test(serving, sigusr1_writes_the_stats_line_and_file_with_the_api_figures, .fini = teardown)
{
    h_world_sim(&w, "usr1", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    const char *const json_hdr[] = {"Content-Type: application/json", NULL};
    h_resp_t r;
    cr_assert_eq(h_http(w.port, "POST", "/api/v1/images/pull",
                        "{\"image\":\"docker.io/library/a:1\",\"all_nodes\":true}", json_hdr, &r),
                 0);
    cr_assert_eq(r.status, 202);
    h_resp_free(&r);
    for (int i = 0; i < 30; i++) {
        h_http(w.port, "GET", i % 3 ? "/api/v1/images/pull-active" : "/nope", NULL, NULL, &r);
        h_resp_free(&r);
    }
    /* Let the job finish so that the table stands still. */
    uint64_t deadline = h_now_ms() + 10000;
    for (;;) {
        json_t *doc = h_http_json(w.port, "GET", "/api/v1/images/pull-active", NULL, NULL);
        size_t active = json_array_size(json_object_get(doc, "jobs"));
        json_decref(doc);
        if (active == 0)
            break;
        cr_assert_lt(h_now_ms(), deadline, "the job did not finish");
        usleep(100000);
    }
    usleep(200000);
    char path[256];
    snprintf(path, sizeof(path), "%s/stats.json", w.dir);
    unlink(path);
    kill(w.daemon.pid, SIGUSR1);
    json_t *file = NULL;
    deadline = h_now_ms() + 5000;
    while ((file = json_load_file(path, 0, NULL)) == NULL && h_now_ms() < deadline)
        usleep(20000);
    cr_assert_not_null(file, "no stats file %s", path);
    json_t *api = h_http_json(w.port, "GET", "/api/v1/stats", NULL, NULL);
    cr_assert_not_null(api);
    json_t *line = NULL;
    deadline = h_now_ms() + 3000;
    while ((line = stats_from_log()) == NULL && h_now_ms() < deadline)
        usleep(20000);
    cr_assert_not_null(line, "no stats line in the log");
    json_t *logged = embedded(line);
    cr_assert_not_null(logged, "the log line carries no stats document");
    cr_assert(json_equal(logged, file), "the log line and the file differ");

    /* The file and the API agree on every figure but the live ones (the API request's own connection). */
    json_object_del(json_object_get(file, "http"), "connections");
    json_object_del(json_object_get(api, "http"), "connections");
    static const char *const same[] = {"workers", "http", "websocket", "logs", "ring_overruns", "table"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        char *a = json_dumps(json_object_get(file, same[i]), JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
        char *b = json_dumps(json_object_get(api, same[i]), JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
        cr_assert(a != NULL && b != NULL, "%s missing", same[i]);
        cr_assert_str_eq(a, b, "%s: file %s, API %s", same[i], a, b);
        free(a);
        free(b);
    }
    cr_assert_geq(json_integer_value(json_object_get(json_object_get(file, "http"), "requests")), 31);
    json_t *fm = json_object_get(file, "master"), *am = json_object_get(api, "master");
    cr_assert_eq(json_integer_value(json_object_get(fm, "ready")), 1);
    cr_assert_eq(json_integer_value(json_object_get(fm, "workers")),
                 json_integer_value(json_object_get(am, "workers")));
    cr_assert_eq(json_integer_value(json_object_get(fm, "started_at_ms")),
                 json_integer_value(json_object_get(am, "started_at_ms")));
    json_decref(line);
    json_decref(file);
    json_decref(api);
    int st = h_world_stop(&w);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
}

/* Outside systemd nothing creates the stats file's directory (the unit's RuntimeDirectory= does
 * under systemd; root's default is /run/imgpulld): the master creates it, and when it cannot, the
 * error names the directory. */
Test(serving, sigusr1_creates_the_stats_directory_or_names_it, .fini = teardown)
{
    h_world_sim(&w, "statsdir", sim_args);
    char file[300], env_file[340];
    snprintf(file, sizeof(file), "%s/run/stats.json", w.dir);
    snprintf(env_file, sizeof(env_file), "IMGPULLD_STATS_FILE=%s", file);
    const char *env[] = {env_file, NULL};
    h_world_daemon(&w, "", env, 1);
    kill(w.daemon.pid, SIGUSR1);
    json_t *doc = NULL;
    uint64_t deadline = h_now_ms() + 5000;
    while ((doc = json_load_file(file, 0, NULL)) == NULL && h_now_ms() < deadline)
        usleep(20000);
    cr_assert_not_null(doc, "no stats file %s (its directory was not created)", file);
    json_decref(doc);
    cr_assert_eq(h_world_stop(&w), 0);

    /* Two levels missing: not created (a typo should not grow a tree), and the error names it. */
    h_world_sim(&w, "statsdir2", sim_args);
    char dir[300], needle[400];
    snprintf(dir, sizeof(dir), "%s/no/such", w.dir);
    snprintf(env_file, sizeof(env_file), "IMGPULLD_STATS_FILE=%s/stats.json", dir);
    h_world_daemon(&w, "", env, 1);
    kill(w.daemon.pid, SIGUSR1);
    snprintf(needle, sizeof(needle), "directory %s", dir);
    cr_assert(h_log_wait(&w.daemon, needle, 5000), "the stats error does not name the directory %s", dir);
    cr_assert_eq(access(dir, F_OK), -1, "%s was created", dir);
}
