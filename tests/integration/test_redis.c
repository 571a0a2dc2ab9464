/*
 * Cross-node coherence through Redis: a real redis-server (no persistence, free loopback port,
 * stopped by PID), the simulator with 3 nodes, and 3 daemons in node scope, one per node, each
 * on its own port and instance. Every daemon must show every node's tasks as the node's own
 * daemon computed them, and converge to the simulator's truth after each fault.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/at.h"
#include "harness.h"
#include "proto/kube_job.h"
#include "proto/rfc3339.h"

#define N 3

typedef struct world {
    h_proc_t sim, redis;
    h_proc_t redis2; /* a second Redis Cluster node, for the redirect case */
    h_proc_t d[N];
    char instance[N][64];
    char conf[N][192];
    int port[N];
    char dir[128];
    char extra[512];        /* configuration lines every daemon gets */
    char extra_one[N][256]; /* and the lines of one daemon */
    int no_redis;           /* the daemons run in node scope without Redis (a redis-server runs all the same) */
    int sim_nodes;          /* the simulator's nodes, when more than the N that have a daemon */
} world_t;

static world_t w;

/* Stops a Redis node, stopped (SIGSTOP) or not, and removes its log. */
static void stop_redis(h_proc_t *r)
{
    if (r->pid > 0)
        kill(r->pid, SIGCONT);
    h_stop(r, SIGTERM, 5000);
    if (r->log[0])
        unlink(r->log);
}

/* Stops everything; returns how many daemons did not exit cleanly (sanitizer reports exit non-zero). */
static int release_world(void)
{
    int unclean = 0;
    for (int i = 0; i < N; i++) {
        if (w.d[i].pid > 0)
            kill(w.d[i].pid, SIGCONT);
        int st = h_stop(&w.d[i], SIGTERM, 15000);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            h_dump_log(&w.d[i]);
            unclean++;
        }
        if (w.instance[i][0])
            h_unlink_instance(w.instance[i]);
    }
    stop_redis(&w.redis);
    stop_redis(&w.redis2);
    h_stop(&w.sim, SIGTERM, 5000);
    char pw[64]; /* the_documented_acl_lets_every_script_run's password file, were it left */
    snprintf(pw, sizeof(pw), "/tmp/ipd-acl-%d.pw", (int)getpid());
    unlink(pw);
    if (w.dir[0]) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w.dir);
        h_sh(cmd, NULL, 0);
    }
    memset(&w, 0, sizeof(w));
    return unclean;
}

static void release(void)
{
    release_world();
}

TestSuite(redis, .fini = release);

static void stop_world(void)
{
    cr_expect_eq(release_world(), 0, "a daemon did not stop cleanly");
}

/* Kills daemon i (SIGKILL): its table stays, as after a crash. */
static void kill_daemon(int i)
{
    kill(w.d[i].pid, SIGKILL);
    waitpid(w.d[i].pid, NULL, 0);
    w.d[i].pid = 0;
}

/* Stops Redis and starts an empty one on the same port: Redis lost its data. */
static void restart_redis_empty(void)
{
    int port = w.redis.port;
    h_stop(&w.redis, SIGTERM, 5000);
    unlink(w.redis.log);
    w.redis = h_start_redis(w.dir, port, NULL);
}

static void sim_post(const char *path, const char *body)
{
    h_resp_t r;
    cr_assert_eq(h_http(w.sim.port, "POST", path, body, NULL, &r), 0, "%s", path);
    cr_assert_eq(r.status, 200, "%s: %ld %s", path, r.status, r.body);
    h_resp_free(&r);
}

/* Writes daemon i's configuration file, linked to the Redis at `redis` (the directive's value). */
static void write_conf(int i, const char *redis)
{
    char text[2048], link[128] = "";
    /* A world's own settings may give the liveness TTL; 3 s otherwise. */
    if (!w.no_redis)
        snprintf(link, sizeof(link), "redis %s\n%s", redis,
                 strstr(w.extra, "redis_liveness_ttl ") != NULL ? "" : "redis_liveness_ttl 3s\n");
    snprintf(text, sizeof(text),
             "kube_server http://127.0.0.1:%d\ninstance %s\nlisten 127.0.0.1:%d\nworkers 1\nscope node\n"
             "node_name node-%d\n%swatch_backoff_max 1s\n"
             "stats_file %s/stats-%d.json\nlog_level debug\n%s%s",
             w.sim.port, w.instance[i], w.port[i], i + 1, link, w.dir, i, w.extra, w.extra_one[i]);
    h_write_file(w.conf[i], text);
}

static void start_daemon(int i)
{
    char redis[64];
    snprintf(redis, sizeof(redis), "127.0.0.1:%d", w.redis.port);
    write_conf(i, redis);
    const char *args[] = {"-c", w.conf[i], NULL};
    w.d[i] = h_start_daemon(args, NULL);
}

/* Starts the world with `one` (NULL for none) added to daemon `which`'s configuration only. */
static void start_world_with(const char *tag, const char *const *redis_args, const char *extra, int which,
                             const char *one)
{
    int no_redis = w.no_redis, sim_nodes = w.sim_nodes;
    memset(&w, 0, sizeof(w));
    w.no_redis = no_redis;
    if (one != NULL)
        snprintf(w.extra_one[which], sizeof(w.extra_one[which]), "%s", one);
    char inst[48];
    h_instance(inst, sizeof(inst), tag);
    snprintf(w.dir, sizeof(w.dir), "/tmp/ipd-%s", inst);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", w.dir, w.dir);
    cr_assert_eq(h_sh(cmd, NULL, 0), 0);
    snprintf(w.extra, sizeof(w.extra), "%s", extra ? extra : "");
    char nodes[16];
    snprintf(nodes, sizeof(nodes), "%d", sim_nodes > N ? sim_nodes : N);
    const char *sim_args[] = {"--nodes", nodes, "--pull-ms", "300", NULL};
    w.sim = h_start_kubesim(sim_args);
    /* Pods exit 0 after the pull: Jobs complete as with the no-op helper. */
    sim_post("/_sim/outcome", "{\"pattern\": \".\", \"outcome\": \"Run\", \"run_ms\": 100, \"exit_code\": 0}");
    w.redis = h_start_redis(w.dir, 0, redis_args);
    for (int i = 0; i < N; i++) {
        snprintf(w.instance[i], sizeof(w.instance[i]), "%s-%d", inst, i + 1);
        snprintf(w.conf[i], sizeof(w.conf[i]), "%s/d%d.conf", w.dir, i + 1);
        w.port[i] = h_free_port();
        start_daemon(i);
    }
    for (int i = 0; i < N; i++)
        h_wait_ready(&w.d[i], w.port[i], 20000);
}

static void start_world(const char *tag, const char *const *redis_args, const char *extra)
{
    start_world_with(tag, redis_args, extra, 0, NULL);
}

/* ---- reading the daemons ---- */

static const char *str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static json_t *get_job(int i, const char *id)
{
    long status = 0;
    json_t *doc = h_get_job(w.port[i], id, &status);
    if (status != 200) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static json_t *task_of(json_t *job, const char *node)
{
    size_t k;
    json_t *t;
    json_array_foreach(json_object_get(job, "tasks"), k, t)
    {
        if (strcmp(str(t, "node"), node) == 0)
            return t;
    }
    return NULL;
}

/* POSTs the pull request `body` to daemon i; returns the first job's id (owned: free). */
#define post(i, body) post_at(IPD_AT, i, body)
static char *post_at(const char *file, int line, int i, const char *body)
{
    long status = 0;
    json_t *doc = h_http_json(w.port[i], "POST", "/api/v1/images/pull", body, &status);
    ipd_assert_at(file, line, doc != NULL && status == 202, "POST pull on daemon %d: %ld", i + 1, status);
    char *id = strdup(str(json_array_get(json_object_get(doc, "jobs"), 0), "id"));
    json_decref(doc);
    return id;
}

/* Pulls `image` onto `nodes` (a JSON array) through daemon i; returns the job's id (owned: free). */
#define pull(i, image, nodes) pull_at(IPD_AT, i, image, nodes)
static char *pull_at(const char *file, int line, int i, const char *image, const char *nodes)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"image\": \"%s\", \"nodes\": %s}", image, nodes);
    return post_at(file, line, i, body);
}

/* What must be equal on every daemon: the tasks as their node's daemon computed them, and the
 * job's times (docs/api.md, Resume). */
static char *tasks_text(json_t *job)
{
    json_t *out = json_array();
    size_t k;
    json_t *t;
    json_array_foreach(json_object_get(job, "tasks"), k, t)
    {
        json_t *c = json_object();
        static const char *const keys[] = {"node",    "state",       "reason",   "message",
                                           "pull_ms", "image_bytes", "attempts", "pod"};
        for (size_t n = 0; n < sizeof(keys) / sizeof(keys[0]); n++)
            json_object_set(c, keys[n], json_object_get(t, keys[n]) ? json_object_get(t, keys[n]) : json_null());
        json_array_append_new(out, c);
    }
    json_t *all =
        json_pack("{s:s, s:O, s:o, s:O, s:O, s:O}", "state", str(job, "state"), "nodes", json_object_get(job, "nodes"),
                  "tasks", out, "created_at", json_object_get(job, "created_at"), "started_at",
                  json_object_get(job, "started_at"), "finished_at", json_object_get(job, "finished_at"));
    char *text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(all);
    return text;
}

typedef struct want {
    const char *id;
    int daemons[N]; /* which daemons to ask (1) */
    const char *node, *state;
    const char *job_state;
} want_t;

/* Every asked daemon shows `node`'s task in `state` (in any state: NULL), and the job in `job_state` (NULL: any). */
static int all_show(void *ctx)
{
    want_t *wt = ctx;
    for (int i = 0; i < N; i++) {
        if (!wt->daemons[i])
            continue;
        json_t *job = get_job(i, wt->id);
        int ok = job != NULL;
        if (ok && wt->node != NULL) {
            json_t *t = task_of(job, wt->node);
            ok = t != NULL && (wt->state == NULL || strcmp(str(t, "state"), wt->state) == 0);
        }
        if (ok && wt->job_state != NULL)
            ok = strcmp(str(job, "state"), wt->job_state) == 0;
        json_decref(job);
        if (!ok)
            return 0;
    }
    return 1;
}

#define expect_same_everywhere(id) expect_same_everywhere_at(IPD_AT, id)
static void expect_same_everywhere_at(const char *file, int line, const char *id)
{
    char *first = NULL;
    for (int i = 0; i < N; i++) {
        json_t *job = get_job(i, id);
        ipd_assert_at(file, line, job != NULL, "daemon %d does not have job %s", i + 1, id);
        char *text = tasks_text(job);
        json_decref(job);
        if (first == NULL)
            first = text;
        else {
            /* Whole, for the log: a long difference is cut short in the assertion's message. */
            if (strcmp(text, first) != 0)
                fprintf(stderr, "daemon %d: %s\ndaemon 1: %s\n", i + 1, text, first);
            ipd_expect_at(file, line, strcmp(text, first) == 0, "daemon %d differs from daemon 1: %s, daemon 1: %s",
                          i + 1, text, first);
            free(text);
        }
    }
    free(first);
}

static int64_t master_stat(int i, const char *name)
{
    long status = 0;
    json_t *doc = h_http_json(w.port[i], "GET", "/api/v1/stats", NULL, &status);
    json_t *v = json_object_get(json_object_get(doc, "master"), name);
    int64_t n = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(doc);
    return n;
}

/* Waits up to `timeout_ms` for daemon i's master figure `name` to reach `min`; returns its value. */
static int64_t wait_stat(int i, const char *name, int64_t min, int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    int64_t v = master_stat(i, name);
    while (v < min && h_now_ms() < deadline) {
        usleep(100 * 1000);
        v = master_stat(i, name);
    }
    return v;
}

#define wait_all(wt, timeout_ms, what) wait_all_at(IPD_AT, wt, timeout_ms, what)
static void wait_all_at(const char *file, int line, want_t *wt, int timeout_ms, const char *what)
{
    if (!h_wait(all_show, wt, timeout_ms)) {
        for (int i = 0; i < N; i++) {
            json_t *job = get_job(i, wt->id);
            char *text = job ? json_dumps(job, JSON_COMPACT) : NULL;
            fprintf(stderr, "daemon %d: %s\n", i + 1, text ? text : "(no job)");
            free(text);
            json_decref(job);
            h_dump_log(&w.d[i]);
        }
        ipd_test_fail_at(file, line, "%s", what);
    }
}

/* Waits until every daemon shows job `id` succeeded. */
#define wait_succeeded(id, timeout_ms, what) wait_succeeded_at(IPD_AT, id, timeout_ms, what)
static void wait_succeeded_at(const char *file, int line, const char *id, int timeout_ms, const char *what)
{
    want_t done = {id, {1, 1, 1}, NULL, NULL, "succeeded"};
    wait_all_at(file, line, &done, timeout_ms, what);
}

/*
 * Waits until every daemon shows job `id` succeeded, lets the figures of the last Pulled events
 * settle (they may land after the state), and expects every daemon to show the same tasks.
 */
#define expect_converged(id, timeout_ms, what) expect_converged_at(IPD_AT, id, timeout_ms, what)
static void expect_converged_at(const char *file, int line, const char *id, int timeout_ms, const char *what)
{
    wait_succeeded_at(file, line, id, timeout_ms, what);
    usleep(1500 * 1000);
    expect_same_everywhere_at(file, line, id);
}

/*
 * Makes the simulator's pulls of "slow" images take `ms`, pulls `image` onto every node through
 * daemon 1 and waits until every daemon shows node-3's pull started. Returns the job's id (owned).
 */
#define slow_pull(ms, image, what) slow_pull_at(IPD_AT, ms, image, what)
static char *slow_pull_at(const char *file, int line, int ms, const char *image, const char *what)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"pattern\": \"slow\", \"ms\": %d}", ms);
    sim_post("/_sim/pull", body);
    char *id = pull_at(file, line, 0, image, "[\"node-1\", \"node-2\", \"node-3\"]");
    want_t pulling = {id, {1, 1, 1}, "node-3", "pulling", NULL};
    wait_all_at(file, line, &pulling, 30000, what);
    return id;
}

/* DELETEs job `id` through daemon i; fails the test unless it is answered 200 or 202. */
#define cancel_through(i, id) cancel_through_at(IPD_AT, i, id)
static void cancel_through_at(const char *file, int line, int i, const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs/%s", id);
    h_resp_t r;
    ipd_assert_at(file, line, h_http(w.port[i], "DELETE", path, NULL, NULL, &r) == 0, "DELETE through daemon %d",
                  i + 1);
    ipd_assert_at(file, line, r.status == 202 || r.status == 200, "DELETE through daemon %d: %ld %s", i + 1, r.status,
                  r.body);
    h_resp_free(&r);
}

/* Waits until every daemon shows the task of job `id` on every node in `state`. */
#define wait_every_task(id, state, timeout_ms, what) wait_every_task_at(IPD_AT, id, state, timeout_ms, what)
static void wait_every_task_at(const char *file, int line, const char *id, const char *state, int timeout_ms,
                               const char *what)
{
    for (int n = 1; n <= N; n++) {
        char node[16];
        snprintf(node, sizeof(node), "node-%d", n);
        want_t tc = {id, {1, 1, 1}, node, state, NULL};
        wait_all_at(file, line, &tc, timeout_ms, what);
    }
}

/* ---- the cases ---- */
/*
 * What Redis holds must be what the publish scripts promise, however many changes one script
 * call carried: the Stream's sequence numbers follow each other from the first entry to {p}:seq,
 * and every node's hash holds, for each job, the record of that node's last Stream entry of it.
 * Returns "ok <entries>" or what differs.
 */
static void redis_consistent(char *out, size_t cap)
{
    static const char script[] =
        "local e = redis.call('XRANGE', KEYS[1], '-', '+') "
        "local last, prev = {}, nil "
        "for _, x in ipairs(e) do "
        "local f = {} "
        "for i = 1, #x[2], 2 do f[x[2][i]] = x[2][i + 1] end "
        "local s = tonumber(f.s) "
        "if prev ~= nil and s ~= prev + 1 then return 'sequence ' .. s .. ' follows ' .. prev end "
        "prev = s "
        "if f.r then last[f.n .. '|' .. f.j] = f.r end "
        "end "
        "if prev == nil then return 'an empty Stream' end "
        "if prev ~= tonumber(redis.call('GET', KEYS[2])) then return 'the last entry is not seq' end "
        "for k, r in pairs(last) do "
        "local n, j = string.match(k, '^(.-)|(.*)$') "
        "if redis.call('HGET', ARGV[1] .. n, j) ~= r then return 'hash of ' .. k .. ' differs' end "
        "end "
        "return 'ok ' .. #e";
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d EVAL \"%s\" 2 '{imgpulld}:stream' '{imgpulld}:seq' '{imgpulld}:tasks:'",
             w.redis.port, script);
    out[0] = '\0';
    h_sh(cmd, out, cap);
    out[strcspn(out, "\n")] = '\0';
}

Test(redis, a_pull_onto_three_nodes_reads_the_same_on_every_daemon, .timeout = 120)
{
    start_world("rsame", NULL, NULL);
    char *id = pull(0, "nginx:1.27", "[\"node-1\", \"node-2\", \"node-3\"]");
    expect_converged(id, 30000, "the job did not succeed on every daemon");
    json_t *job = get_job(0, id);
    for (int n = 1; n <= N; n++) {
        char node[16];
        snprintf(node, sizeof(node), "node-%d", n);
        json_t *t = task_of(job, node);
        cr_expect_gt(json_integer_value(json_object_get(t, "pull_ms")), 0, "%s has no pull_ms on daemon 1", node);
        cr_expect_gt(json_integer_value(json_object_get(t, "image_bytes")), 0, "%s has no image_bytes", node);
    }
    json_decref(job);
    cr_expect_eq(master_stat(0, "redis_link_state"), 3, "daemon 1's link is not up");
    cr_expect_gt(master_stat(0, "redis_records_applied_total"), 0);
    char verdict[256];
    redis_consistent(verdict, sizeof(verdict));
    cr_expect(strncmp(verdict, "ok ", 3) == 0, "Redis: %s", verdict);
    free(id);
    stop_world();
}

Test(redis, a_failing_pull_on_node_3_and_a_cancel_through_daemon_2_are_seen_everywhere, .timeout = 120)
{
    start_world("rfail", NULL, NULL);
    sim_post("/_sim/fail", "{\"pattern\": \"broken\", \"message\": \"manifest unknown\"}");
    char *bad = pull(0, "registry.example/broken:1", "[\"node-3\"]");
    want_t wt = {bad, {1, 0, 0}, "node-3", "retrying", NULL};
    wait_all(&wt, 30000, "daemon 1 does not show node-3's failing pull");
    json_t *job = get_job(0, bad);
    json_t *t = task_of(job, "node-3");
    const char *reason = str(t, "reason");
    cr_expect(strcmp(reason, "ErrImagePull") == 0 || strcmp(reason, "ImagePullBackOff") == 0,
              "daemon 1 shows reason %s", reason);
    cr_expect(strstr(str(t, "message"), "manifest unknown") != NULL || strcmp(reason, "ImagePullBackOff") == 0,
              "the kubelet's message is missing: %s", str(t, "message"));
    json_decref(job);

    /* A slow pull on every node, cancelled through daemon 2. */
    char *slow = slow_pull(60000, "slow:1", "the slow pull did not start on node-3 for every daemon");
    cancel_through(1, slow);
    want_t cancelled = {slow, {1, 1, 1}, NULL, NULL, "cancelled"};
    wait_all(&cancelled, 30000, "the cancel through daemon 2 is not seen everywhere");
    wait_every_task(slow, "cancelled", 10000, "a task is not cancelled everywhere");
    free(bad);
    free(slow);
    stop_world();
}

/*
 * A cancelled job's Kubernetes Jobs are gone, so each daemon lets go of it once it is final. A
 * record of another node that arrives later (a restarted daemon republishes its node) brings it
 * back from the table; this node's task, unchanged, must not be written to Redis again, or the
 * other daemons, which let go of it too, answer with theirs and the three echo each other for
 * ever (a thousand records a second each).
 */
Test(redis, a_cancelled_job_is_not_echoed_between_the_daemons, .timeout = 120)
{
    start_world("recho", NULL, NULL);
    char *slow = slow_pull(60000, "slow:3", "the slow pull did not start on node-3 for every daemon");
    cancel_through(1, slow);
    wait_every_task(slow, "cancelled", 30000, "a task is not cancelled everywhere");
    /* A restarted daemon republishes its node's tasks, the cancelled one included. */
    int st = h_stop(&w.d[2], SIGTERM, 15000);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "daemon 3 did not stop cleanly");
    start_daemon(2);
    h_wait_ready(&w.d[2], w.port[2], 20000);
    /* Nothing changes in the cluster from here on: what each daemon writes must stop. */
    usleep(2000 * 1000);
    int64_t before[N], after[N];
    for (int i = 0; i < N; i++)
        before[i] = master_stat(i, "redis_published_total");
    usleep(3000 * 1000);
    for (int i = 0; i < N; i++) {
        after[i] = master_stat(i, "redis_published_total");
        cr_expect_eq(after[i], before[i], "daemon %d wrote %lld task records in 3 s after everything settled", i + 1,
                     (long long)(after[i] - before[i]));
    }
    free(slow);
    stop_world();
}

/* Starts daemon i again and expects job `id` to converge everywhere within `timeout_ms`. */
#define restart_converged(i, id, timeout_ms, what) restart_converged_at(IPD_AT, i, id, timeout_ms, what)
static void restart_converged_at(const char *file, int line, int i, const char *id, int timeout_ms, const char *what)
{
    start_daemon(i);
    h_wait_ready(&w.d[i], w.port[i], 20000);
    expect_converged_at(file, line, id, timeout_ms, what);
}

/* Stops daemon i cleanly and removes its table, as a reboot empties /dev/shm. */
static void stop_emptied(int i)
{
    cr_assert_eq(h_stop(&w.d[i], SIGTERM, 15000), 0, "daemon %d did not stop cleanly", i + 1);
    h_unlink_instance(w.instance[i]);
}

typedef struct same_time {
    const char *id, *node;
    char at[2][40];
} same_time_t;

/* Daemons 1 and 2 show `node`'s task of the job with one updated_at. */
static int same_updated_at(void *ctx)
{
    same_time_t *s = ctx;
    for (int i = 0; i < 2; i++) {
        json_t *job = get_job(i, s->id);
        snprintf(s->at[i], sizeof(s->at[i]), "%s", str(task_of(job, s->node), "updated_at"));
        json_decref(job);
    }
    return s->at[0][0] != '\0' && strcmp(s->at[0], s->at[1]) == 0;
}

/*
 * Daemon 3 killed: each of the others judges its node lost when it sees the liveness key gone,
 * each at its own moment, and shows its unfinished task unknown. The stand-in then publishes that
 * task unknown (master/standin.h), and both show it from that record, with one updated_at, where
 * each showed its own before.
 */
Test(redis, a_killed_daemon_turns_its_tasks_unknown_and_converges_once_restarted, .timeout = 120)
{
    start_world("rkill", NULL, NULL);
    char *id = slow_pull(15000, "slow:2", "node-3's pull did not start everywhere");
    kill_daemon(2);
    uint64_t t0 = h_now_ms();
    want_t unknown = {id, {1, 1, 0}, "node-3", "unknown", NULL};
    /* TTL 3 s, checked every second: within TTL + a check period + a little. */
    wait_all(&unknown, 6000, "node-3's task did not become unknown within the TTL");
    fprintf(stderr, "unknown after %llu ms\n", (unsigned long long)(h_now_ms() - t0));
    json_t *job = get_job(0, id);
    cr_expect_str_eq(str(task_of(job, "node-3"), "reason"), "NodeDaemonLost");
    json_decref(job);
    same_time_t st = {id, "node-3", {"", ""}};
    cr_expect(h_wait(same_updated_at, &st, 5000), "node-3's unknown task: updated_at %s on daemon 1, %s on daemon 2",
              st.at[0], st.at[1]);
    restart_converged(2, id, 40000, "the job did not converge after the restart");
    free(id);
    stop_world();
}

/*
 * A node whose daemon never ran (the simulator has 4 nodes, 3 with a daemon). The daemon that
 * holds the stand-in lease lists the Jobs of the nodes without a live daemon, with a label
 * selector `imgpulld.io/node notin (...)` (upstream k8s.io/apimachinery/pkg/labels/selector.go:
 * NotIn also matches a Job without the label, a keep job's anchor, which is skipped), and
 * publishes node-4's task as its Job says: Complete is succeeded (upstream
 * pkg/controller/job/job_controller.go sets the condition once the pod succeeded). Before, node-4
 * had no task on any daemon and both jobs stayed pulling, the one on node-4 alone unknown (404).
 */
Test(redis, a_node_without_a_daemon_shows_what_its_jobs_say_on_every_daemon, .timeout = 120)
{
    w.sim_nodes = 4;
    start_world("rnone", NULL, NULL);
    char *all = pull(0, "nginx:1.25", "[\"node-1\", \"node-2\", \"node-3\", \"node-4\"]");
    char *alone = pull(1, "redis:7", "[\"node-4\"]");
    expect_converged(all, 30000, "the job on 4 nodes did not end on every daemon");
    expect_converged(alone, 30000, "the job on node-4 alone did not show and end on every daemon");
    for (int i = 0; i < N; i++) {
        json_t *job = get_job(i, all);
        json_t *t = task_of(job, "node-4");
        cr_expect_str_eq(str(t, "state"), "succeeded", "daemon %d", i + 1);
        cr_expect_str_eq(str(t, "reason"), "Pulled", "daemon %d", i + 1);
        cr_expect(json_is_null(json_object_get(t, "pull_ms")), "daemon %d: figures nobody saw", i + 1);
        cr_expect_eq(json_integer_value(json_object_get(json_object_get(job, "nodes"), "succeeded")), 4, "daemon %d",
                     i + 1);
        json_decref(job);
    }
    /* The job on node-4 alone is dated by its Job: its task ended by the end of the second of
     * the Complete condition's time (pkg/controller/job/job_controller.go, newCondition; whole
     * seconds), not before the job's creation. Before, it was when the stand-in's list came by,
     * up to a third of the lease time (5 s here) later. */
    char path[256];
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/imgpulld/jobs?labelSelector=imgpulld.io%%2Fjob%%3D%s",
             alone);
    json_t *kjobs = h_http_json(w.sim.port, "GET", path, NULL, NULL);
    json_t *kstatus = json_object_get(json_array_get(json_object_get(kjobs, "items"), 0), "status");
    cr_assert_not_null(kstatus, "node-4's Job of %s is not listed", alone);
    int64_t kend = 0;
    size_t ci;
    json_t *cond;
    json_array_foreach(json_object_get(kstatus, "conditions"), ci, cond) if (strcmp(str(cond, "type"), "Complete") == 0)
        cr_assert_eq(ipd_time_parse(str(cond, "lastTransitionTime"), strlen(str(cond, "lastTransitionTime")), &kend),
                     0);
    cr_assert_neq(kend, 0, "node-4's Job has no Complete condition");
    for (int i = 0; i < N; i++) {
        json_t *job = get_job(i, alone);
        int64_t created = 0, finished = 0, ended = 0;
        json_t *t = task_of(job, "node-4");
        ipd_time_parse(str(job, "created_at"), strlen(str(job, "created_at")), &created);
        ipd_time_parse(str(job, "finished_at"), strlen(str(job, "finished_at")), &finished);
        ipd_time_parse(str(t, "updated_at"), strlen(str(t, "updated_at")), &ended);
        int64_t want = kend + 999 > created ? kend + 999 : created;
        cr_expect_eq(ended, want, "daemon %d: node-4's task ended at %s, its Job in the second of %lld", i + 1,
                     str(t, "updated_at"), (long long)kend);
        cr_expect_eq(finished, want, "daemon %d: finished_at %s", i + 1, str(job, "finished_at"));
        json_decref(job);
    }
    json_decref(kjobs);
    int64_t stood = 0;
    for (int i = 0; i < N; i++)
        stood += master_stat(i, "redis_standin_records_total");
    /* One daemon holds the lease: node-4's two tasks, unknown then succeeded unless the first
     * list already saw the Job complete. */
    cr_expect(stood >= 2 && stood <= 4, "stand-in records: %lld", (long long)stood);
    free(all);
    free(alone);
    stop_world();
}

/* The Jobs of job `id` that run now in the simulator: not suspended and neither Complete nor
 * Failed (pkg/controller/job/job_controller.go starts no pod for a suspended Job). -1 when the
 * list fails. With `all`, every Job of the job is counted. */
static int jobs_counted(const char *id, int all)
{
    char path[256];
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/imgpulld/jobs?labelSelector=imgpulld.io%%2Fjob%%3D%s", id);
    long status = 0;
    json_t *list = h_http_json(w.sim.port, "GET", path, NULL, &status);
    if (list == NULL || status != 200) {
        json_decref(list);
        return -1;
    }
    int n = 0;
    size_t i, k;
    json_t *kj, *c;
    json_array_foreach(json_object_get(list, "items"), i, kj)
    {
        int ended = 0;
        json_array_foreach(json_object_get(json_object_get(kj, "status"), "conditions"), k, c) ended |=
            (strcmp(str(c, "type"), "Complete") == 0 || strcmp(str(c, "type"), "Failed") == 0) &&
            strcmp(str(c, "status"), "True") == 0;
        n += all || (!ended && !json_is_true(json_object_get(json_object_get(kj, "spec"), "suspend")));
    }
    json_decref(list);
    return n;
}

/* Waits up to `timeout_ms` for jobs_counted(id, all) to be `want`; returns the last count. */
static int jobs_counted_after(const char *id, int all, int want, int timeout_ms)
{
    uint64_t t0 = h_now_ms();
    int n;
    while ((n = jobs_counted(id, all)) != want && h_now_ms() - t0 < (uint64_t)timeout_ms)
        usleep(20 * 1000);
    return n;
}

/* Whether the simulator's request log, since it was last cleared, holds a list of Node `node` by
 * name (the stand-in's read of a held Job's node). */
static int node_read(const char *node)
{
    char sel[64];
    snprintf(sel, sizeof(sel), "metadata.name%%3D%s", node);
    json_t *log = h_http_json(w.sim.port, "GET", "/_sim/requests", NULL, NULL);
    size_t i;
    json_t *r;
    int seen = 0;
    json_array_foreach(json_object_get(log, "recent"), i, r) seen |=
        strcmp(str(r, "path"), "/api/v1/nodes") == 0 && strstr(str(r, "query"), sel) != NULL;
    json_decref(log);
    return seen;
}

/* The most of job `id`'s Jobs seen running at once, sampled every 30 ms until every daemon shows
 * the job succeeded or `timeout_ms` passed. */
static int most_running_until_done(const char *id, int timeout_ms)
{
    want_t done = {id, {1, 1, 1}, NULL, NULL, "succeeded"};
    int most = 0;
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    while (!all_show(&done) && h_now_ms() < deadline) {
        int n = jobs_counted(id, 0);
        if (n > most)
            most = n;
        usleep(30 * 1000);
    }
    return most;
}

/*
 * A job's parallelism holds across the daemons of node scope, each of which sees only its own
 * node's Job: the slots are counted in Redis ({p}:slots:<id>). Before, each daemon counted every
 * other node's Job, which it never sees, as running (a Job not seen yet may have been created
 * unsuspended), so no Job was resumed after the first `parallelism`, and the job never ended.
 * node-4 has no daemon: the stand-in claims a slot for its Job and resumes it. At no sample do
 * more of the job's Jobs run than its parallelism.
 */
Test(redis, a_job_s_parallelism_holds_across_the_daemons_and_the_job_ends, .timeout = 120)
{
    w.sim_nodes = 4;
    start_world("rpar", NULL, NULL);
    char *id = post(1, "{\"image\": \"alpine:par\", \"nodes\": [\"node-1\", \"node-2\", \"node-3\", \"node-4\"], "
                       "\"parallelism\": 2}");
    int most = most_running_until_done(id, 60000);
    wait_succeeded(id, 1000, "the job with parallelism 2 did not end on every daemon");
    cr_expect(most <= 2, "%d of the job's Jobs ran at once (parallelism 2)", most);
    cr_expect(most >= 1, "no Job was seen running");
    expect_same_everywhere(id);
    /* Every slot was freed (the stand-in frees node-4's at its next list): none is held. */
    char cmd[256], out[256] = "";
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d HGETALL '{imgpulld}:slots:%s' | tr '\\n' ' '", w.redis.port, id);
    uint64_t t0 = h_now_ms();
    while ((h_sh(cmd, out, sizeof(out)), strcmp(out, "# 0 ") != 0) && h_now_ms() - t0 < 8000)
        usleep(100 * 1000);
    cr_expect_str_eq(out, "# 0 ", "slots still held");
    free(id);
    stop_world();
}

/* The parallelism slots of job `id` as Redis holds them: "node-N r # 1 " and so on. */
static void slots_of(const char *id, char *out, size_t cap)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d HGETALL '{imgpulld}:slots:%s' | tr '\\n' ' '", w.redis.port, id);
    out[0] = '\0';
    h_sh(cmd, out, cap);
}

/*
 * Two nodes without a daemon under parallelism 2: the stand-in claims a slot for each in the
 * same list, and both Jobs run at once. Before, it claimed for one Job per job and list, so
 * they ran one after the other, a third of the TTL apart.
 */
Test(redis, the_stand_in_claims_as_many_slots_as_the_parallelism_in_one_list, .timeout = 120)
{
    w.sim_nodes = 5;
    start_world("rpar2", NULL, NULL);
    /* Both Nodes turn Ready right after a list of the stand-in that found both Jobs (it read a
     * Node then), so its next list finds both Jobs able to run. Without this, a list between the two
     * Jobs' creations saw one only, and the test passed or not by chance. */
    sim_post("/_sim/nodes/node-4/notready", "{}");
    sim_post("/_sim/nodes/node-5/notready", "{}");
    char *id = post(0, "{\"image\": \"alpine:par2\", \"nodes\": [\"node-4\", \"node-5\"], \"parallelism\": 2}");
    uint64_t t0 = h_now_ms();
    cr_assert_eq(jobs_counted_after(id, 1, 2, 20000), 2, "the job's two Jobs were not created");
    h_sim_ok(w.sim.port, "DELETE", "/_sim/requests", NULL);
    while (!node_read("node-4") && !node_read("node-5") && h_now_ms() - t0 < 30000)
        usleep(20 * 1000);
    cr_assert(node_read("node-4") || node_read("node-5"), "the stand-in read neither Node");
    /* The other Node's read of that list ends too; the next list is a second (TTL / 3) later. */
    usleep(150 * 1000);
    sim_post("/_sim/nodes/node-4/ready", "{}");
    sim_post("/_sim/nodes/node-5/ready", "{}");
    int most = most_running_until_done(id, 60000);
    wait_succeeded(id, 1000, "the job on two nodes without a daemon did not end on every daemon");
    cr_expect_eq(most, 2, "%d of the job's two Jobs ran at once (parallelism 2)", most);
    free(id);
    stop_world();
}

/*
 * node-2 and node-3 under parallelism 1: the daemon whose Job took the slot is killed, and its
 * Job is deleted meanwhile (kubectl delete). The stand-in publishes that task cancelled and frees
 * its slot; the other node's Job then runs. Before, the slot stayed held for ever and the other
 * Job waited for ever.
 */
Test(redis, a_lost_node_s_job_deleted_frees_its_slot, .timeout = 150)
{
    start_world("rparl", NULL, NULL);
    sim_post("/_sim/pull", "{\"pattern\": \"slowpar\", \"ms\": 60000}");
    char *id = post(0, "{\"image\": \"slowpar:1\", \"nodes\": [\"node-2\", \"node-3\"], \"parallelism\": 1}");
    char slots[256] = "";
    uint64_t t0 = h_now_ms();
    while ((slots_of(id, slots, sizeof(slots)), strstr(slots, " r ") == NULL) && h_now_ms() - t0 < 20000)
        usleep(100 * 1000);
    int held = strstr(slots, "node-2 r") != NULL ? 2 : strstr(slots, "node-3 r") != NULL ? 3 : 0;
    cr_assert(held != 0, "no node took the slot: %s", slots);
    int other = held == 2 ? 3 : 2;
    kill_daemon(held - 1);
    char path[256], node[16];
    snprintf(node, sizeof(node), "node-%d", held);
    char name[IPD_KUBE_JOB_NAME_SIZE];
    ipd_kube_job_name(id, node, name);
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/imgpulld/jobs/%s?propagationPolicy=Background", name);
    h_sim_ok(w.sim.port, "DELETE", path, NULL);
    sim_post("/_sim/pull", "{\"pattern\": \"slowpar\", \"ms\": 300}");
    snprintf(node, sizeof(node), "node-%d", other);
    want_t done = {id, {1, 0, 0}, node, "succeeded", NULL};
    done.daemons[other - 1] = 1;
    wait_all(&done, 60000, "the other node's Job never took the slot the lost node's deleted Job held");
    json_t *job = get_job(0, id);
    snprintf(node, sizeof(node), "node-%d", held);
    cr_expect_str_eq(str(task_of(job, node), "state"), "cancelled");
    json_decref(job);
    free(id);
    stop_world();
}

/*
 * A Job created suspended because its node could not take a pull pod (node-4 NotReady), on a
 * node without a daemon: once node-4 is Ready the stand-in resumes it, as node-4's own daemon
 * would, and node-4's task succeeds on every daemon. The job is POSTed to daemon 1 as `body`,
 * onto node-3 and node-4 at least.
 */
static void stand_in_resumes_held(const char *world, const char *body)
{
    w.sim_nodes = 4;
    start_world(world, NULL, NULL);
    sim_post("/_sim/nodes/node-4/notready", "{}");
    char *id = post(0, body);
    want_t first = {id, {1, 1, 1}, "node-3", "succeeded", NULL};
    wait_all(&first, 30000, "node-3's task did not succeed");
    /* A few of the stand-in's lists (a second apart with this TTL): node-4's Job still waits. */
    sleep(3);
    json_t *job = get_job(0, id);
    cr_assert_str_eq(str(task_of(job, "node-4"), "state"), "unknown", "node-4's Job ran while its node was not Ready");
    json_decref(job);
    sim_post("/_sim/nodes/node-4/ready", "{}");
    want_t resumed = {id, {1, 1, 1}, "node-4", "succeeded", NULL};
    wait_all(&resumed, 20000, "node-4's Job was not resumed once its node was Ready");
    expect_same_everywhere(id);
    free(id);
    stop_world();
}

/* Before, nobody resumed it, and the job stayed unfinished for ever. */
Test(redis, the_stand_in_resumes_a_held_job_once_its_node_is_ready, .timeout = 120)
{
    stand_in_resumes_held("rheld", "{\"image\": \"alpine:held\", \"nodes\": [\"node-3\", \"node-4\"]}");
}

/* A keep job's alike. Before, the stand-in left keep jobs to their nodes' daemons: node-4 never
 * pulled, and its task stayed unknown. */
Test(redis, the_stand_in_resumes_a_keep_job_s_held_job_once_its_node_is_ready, .timeout = 120)
{
    stand_in_resumes_held("rheldk", "{\"image\": \"alpine:heldkeep\", \"all_nodes\": true, \"keep\": true}");
}

/*
 * Redis restarts empty while a Job holds the only slot: the slots are lost with everything else.
 * Every daemon holds its running Job's slot again after it reconnects and claims none for a
 * liveness TTL, so the cap holds. Before, a waiting node claimed at once and took the slot the
 * running Job held: two ran at once under parallelism 1.
 */
Test(redis, a_redis_restarted_empty_keeps_a_job_s_parallelism, .timeout = 120)
{
    start_world("rparr", NULL, NULL);
    sim_post("/_sim/pull", "{\"pattern\": \"slowpar\", \"ms\": 5000}");
    char *id = post(0, "{\"image\": \"slowpar:2\", \"nodes\": [\"node-1\", \"node-2\", \"node-3\"], "
                       "\"parallelism\": 1}");
    cr_assert_eq(jobs_counted_after(id, 0, 1, 20000), 1, "no Job took the slot");
    restart_redis_empty();
    int most = most_running_until_done(id, 60000);
    wait_succeeded(id, 1000, "the job did not end once Redis was back");
    cr_expect_eq(most, 1, "%d of the job's Jobs ran at once (parallelism 1)", most);
    free(id);
    stop_world();
}

/*
 * Redis emptied by FLUSHALL, its connections kept: the daemon whose Job holds the only slot is
 * stopped meanwhile, so it cannot say so at once. A slot is granted only once the epoch Redis
 * holds is a liveness TTL old (the slot script reads it), the time every live daemon takes to
 * see the new epoch and say which slots its running Jobs hold. Before, no reconnect meant no
 * wait: a waiting node claimed within a second, got the slot the running Job held, and two ran
 * at once under parallelism 1.
 */
Test(redis, a_flushed_redis_keeps_a_job_s_parallelism, .timeout = 120)
{
    start_world("rparf", NULL, NULL);
    sim_post("/_sim/pull", "{\"pattern\": \"slowpar\", \"ms\": 6000}");
    char *id = post(0, "{\"image\": \"slowpar:3\", \"nodes\": [\"node-1\", \"node-2\", \"node-3\"], "
                       "\"parallelism\": 1}");
    cr_assert_eq(jobs_counted_after(id, 0, 1, 20000), 1, "no Job took the slot");
    char slots[256];
    slots_of(id, slots, sizeof(slots));
    const char *at = strstr(slots, "node-");
    cr_assert(at != NULL && at[5] >= '1' && at[5] <= '3', "the slots: %s", slots);
    int holder = at[5] - '1';
    kill(w.d[holder].pid, SIGSTOP);
    char cmd[96], out[64] = "";
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d FLUSHALL", w.redis.port);
    cr_assert_eq(h_sh(cmd, out, sizeof(out)), 0, "FLUSHALL: %s", out);
    usleep(1500 * 1000);
    kill(w.d[holder].pid, SIGCONT);
    int most = most_running_until_done(id, 60000);
    wait_succeeded(id, 1000, "the job did not end after the FLUSHALL");
    cr_expect_eq(most, 1, "%d of the job's Jobs ran at once (parallelism 1)", most);
    free(id);
    stop_world();
}

/*
 * A daemon started while Redis kept its data (the epoch older than a liveness TTL) claims a slot
 * at once. Before, every daemon waited a liveness TTL after each connect, its first included,
 * whether or not Redis had lost anything: with the default 15 s, a parallelism job's pull on a
 * node whose daemon had just started waited 15 s. (The epoch is made a minute old by hand rather
 * than waited for: the daemons take it for a new one and republish, which changes nothing here.)
 */
Test(redis, a_daemon_started_while_redis_kept_its_data_claims_a_slot_at_once, .timeout = 120)
{
    start_world("rclaim", NULL, "redis_liveness_ttl 8s\n");
    char cmd[200], out[64] = "";
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d SET '{imgpulld}:epoch' \"0123456789abcdef:%llu\"", w.redis.port,
             (unsigned long long)time(NULL) * 1000 - 60000);
    cr_assert_eq(h_sh(cmd, out, sizeof(out)), 0, "SET: %s", out);
    for (int i = 0; i < N; i++)
        cr_assert(h_log_wait(&w.d[i], "Redis lost its data", 10000), "daemon %d did not read the epoch", i + 1);
    cr_assert_eq(h_stop(&w.d[2], SIGTERM, 15000), 0, "daemon 3 did not stop cleanly");
    start_daemon(2);
    h_wait_ready(&w.d[2], w.port[2], 20000);
    char *id = post(0, "{\"image\": \"alpine:claim\", \"nodes\": [\"node-3\"], \"parallelism\": 1}");
    /* The pull takes 300 ms and the pod 100 ms; a wait for the TTL would take 8 s. */
    want_t done = {id, {1, 1, 1}, "node-3", "succeeded", "succeeded"};
    wait_all(&done, 5000, "node-3's Job did not run within 5 s of the POST (waited for a slot)");
    free(id);
    stop_world();
}

/* With redis_standin_node_reads 0 the stand-in reads no Node, and such a Job waits for its
 * node's daemon: the limit holds. */
Test(redis, the_stand_in_reads_no_node_when_its_limit_is_0, .timeout = 120)
{
    w.sim_nodes = 4;
    start_world("rheld0", NULL, "redis_standin_node_reads 0\n");
    sim_post("/_sim/nodes/node-4/notready", "{}");
    char *id = pull(0, "alpine:held0", "[\"node-4\"]");
    want_t shown = {id, {1, 1, 1}, "node-4", "unknown", NULL};
    wait_all(&shown, 20000, "node-4's task is not shown");
    sim_post("/_sim/nodes/node-4/ready", "{}");
    /* Several of the stand-in's lists (a second apart with this TTL). */
    sleep(4);
    json_t *job = get_job(0, id);
    cr_expect_str_eq(str(task_of(job, "node-4"), "state"), "unknown",
                     "node-4's Job was resumed though the stand-in may read no Node");
    json_decref(job);
    free(id);
    stop_world();
}

/*
 * The same in node scope without Redis: every daemon watches every node's Job and resumes only
 * its own. Before, when a slot freed, every daemon whose Job waited took it: under parallelism
 * 1, node-2's and node-3's Jobs ran at once. Now a Job waits for the Jobs waiting before it.
 */
Test(redis, without_redis_a_job_s_parallelism_holds_too, .timeout = 120)
{
    w.no_redis = 1;
    start_world("rparn", NULL, NULL);
    char *id = post(0, "{\"image\": \"alpine:parn\", \"nodes\": [\"node-1\", \"node-2\", \"node-3\"], "
                       "\"parallelism\": 1}");
    int most = most_running_until_done(id, 60000);
    wait_succeeded(id, 1000, "the job with parallelism 1 did not end on every daemon");
    cr_expect_eq(most, 1, "%d of the job's Jobs ran at once (parallelism 1)", most);
    free(id);
    stop_world();
}

/*
 * Node scope without Redis: node-2's pull fails past backoff_limit 0, its daemon gives the task
 * up and deletes the Job (the kubelet would retry for ever). Before, the other daemons saw a Job
 * deleted before it ended, a cancel: the job failed on daemon 2 and was cancelled on 1 and 3.
 * The Job is marked failed before it goes, and every daemon shows the task and the job failed.
 */
Test(redis, without_redis_a_task_given_up_is_failed_on_every_daemon, .timeout = 120)
{
    w.no_redis = 1;
    start_world("rgaveup", NULL, NULL);
    sim_post("/_sim/fail", "{\"pattern\": \"broken\", \"message\": \"manifest unknown\"}");
    char *id = post(0, "{\"image\": \"registry.example/broken:2\", \"nodes\": [\"node-2\"], \"backoff_limit\": 0}");
    want_t failed = {id, {1, 1, 1}, "node-2", "failed", "failed"};
    wait_all(&failed, 30000, "node-2's task given up is not failed on every daemon");
    free(id);
    stop_world();
}

/*
 * A pull that keeps failing on a node without a daemon (node-4): the kubelet retries it for ever
 * (pkg/kubelet/images/image_manager.go backs the pull off; the pod stays Pending and its Job
 * never fails), so the stand-in gives it up past the job's backoff_limit, counting the kubelet's
 * Pulling Events as node-4's daemon would (proto/kube_pod.c): the task is failed in the words a
 * node's daemon gives it, the job ends failed everywhere and node-4's Job is deleted. Before,
 * node-4's task stayed unknown and the job pulling for ever.
 */
Test(redis, the_stand_in_gives_up_a_failing_pull_on_a_node_without_a_daemon, .timeout = 120)
{
    w.sim_nodes = 4;
    start_world("rgive", NULL, NULL);
    sim_post("/_sim/fail", "{\"pattern\": \"broken\", \"message\": \"manifest unknown\"}");
    uint64_t t0 = h_now_ms();
    char *id = post(0, "{\"image\": \"registry.example/broken:4\", \"nodes\": [\"node-3\", \"node-4\"], "
                       "\"backoff_limit\": 1}");
    want_t own = {id, {1, 1, 1}, "node-3", "failed", NULL};
    wait_all(&own, 60000, "node-3's failing pull was not given up on every daemon");
    uint64_t own_ms = h_now_ms() - t0;
    want_t failed = {id, {1, 1, 1}, "node-4", "failed", "failed"};
    wait_all(&failed, 60000, "node-4's failing pull was not given up on every daemon");
    fprintf(stderr,
            "given up on every daemon after the POST: node-3 (its daemon) %llu ms, node-4 (the stand-in) %llu ms\n",
            (unsigned long long)own_ms, (unsigned long long)(h_now_ms() - t0));
    expect_same_everywhere(id);
    json_t *job = get_job(0, id);
    json_t *t4 = task_of(job, "node-4"), *t3 = task_of(job, "node-3");
    cr_expect(strncmp(str(t4, "message"), "gave up after ", 14) == 0 && strstr(str(t4, "message"), "manifest unknown"),
              "node-4: %s", str(t4, "message"));
    cr_expect(json_integer_value(json_object_get(t4, "attempts")) >= 2, "node-4's attempts: %lld",
              (long long)json_integer_value(json_object_get(t4, "attempts")));
    cr_expect_str_eq(str(t4, "cause"), str(t3, "cause"));
    cr_expect_str_eq(str(t4, "state"), str(t3, "state"));
    json_decref(job);
    /* Both Jobs are deleted: node-3's by its daemon, node-4's by the stand-in. */
    cr_expect_eq(jobs_counted_after(id, 1, 0, 10000), 0, "the job's Jobs are not all deleted");
    free(id);
    stop_world();
}

/*
 * A job on node-1 and on node-4, which has no daemon, is cancelled right after its POST, just
 * after a list of the stand-in (every 3 s at redis_liveness_ttl 9s; a first job on node-4 shows
 * when one was made): the cancel deletes node-4's Job, the only source of node-4's task. The
 * stand-in watches the Jobs it lists and publishes the task of one deleted that it never listed:
 * cancelled, and the job ends cancelled everywhere before the next list. Before, node-4's task
 * was never known and the job stayed pulling, one task short, for ever.
 *
 * The simulator holds the stand-in's first watch request 2 s, so node-1's record (cancelled)
 * reaches the stand-in before the deletion of node-4's Job does, as a slower machine had it: with
 * node-4's task not seen yet, the job took itself for torn down and ended cancelled at once, and
 * the deletion of a job ended and let go of was not published.
 */
Test(redis, a_job_cancelled_before_the_stand_in_listed_its_job_ends_cancelled, .timeout = 120)
{
    w.sim_nodes = 4;
    start_world("rcancel4", NULL, "redis_liveness_ttl 9s\n");
    h_sim_ok(w.sim.port, "POST", "/_sim/inject", "{\"count\": 1, \"path\": \"watch=1.*notin\", \"delay_ms\": 2000}");
    char *first = pull(0, "nginx:1.27", "[\"node-4\"]");
    want_t listed = {first, {1, 1, 1}, "node-4", NULL, NULL};
    wait_all(&listed, 20000, "the stand-in did not list node-4's first Job");
    cr_assert(h_sim_injections_used(&w.sim.port), "the stand-in's watch was not held");
    sim_post("/_sim/pull", "{\"pattern\": \"slow\", \"ms\": 10000}");
    char *id = pull(0, "slow:7", "[\"node-1\", \"node-4\"]");
    /* Through daemon 1, whose table holds the job once the POST is answered (node-1's task):
     * another daemon learns it through Redis, and may not have yet (404). */
    cancel_through(0, id);
    want_t cancelled = {id, {1, 1, 1}, "node-4", "cancelled", "cancelled"};
    wait_all(&cancelled, 4000, "node-4's task was not cancelled on every daemon once the stand-in's watch ran");
    expect_same_everywhere(id);
    free(first);
    free(id);
    stop_world();
}

/*
 * node-4, which has no daemon, is deleted (its machine removed) while its pull runs: the pull can
 * never happen, and Kubernetes' pod garbage collector would fail its pod and every replacement,
 * each a minute later (pkg/controller/podgc/gc_controller.go: 20 s sweeps, 40 s quarantine),
 * until the Job's backoff limit. The stand-in reads the Node of such a node's running Jobs and,
 * finding none, gives the task up as a node's own daemon does when its Node is deleted: failed,
 * NodeDeleted, on every daemon, and node-4's Job deleted; node-3's pull goes on. Before, node-4's
 * task stayed unknown and the job pulling.
 */
Test(redis, the_stand_in_gives_up_the_task_of_a_deleted_node_without_a_daemon, .timeout = 120)
{
    w.sim_nodes = 4;
    start_world("rdeleted", NULL, NULL);
    sim_post("/_sim/pull", "{\"pattern\": \"slowdel\", \"ms\": 60000}");
    char *id = pull(0, "slowdel:1", "[\"node-3\", \"node-4\"]");
    cr_assert_eq(jobs_counted_after(id, 0, 2, 20000), 2, "the job's Jobs do not run");
    h_sim_ok(w.sim.port, "DELETE", "/_sim/nodes/node-4", NULL);
    want_t failed = {id, {1, 1, 1}, "node-4", "failed", "pulling"};
    wait_all(&failed, 20000, "node-4's task is not failed on every daemon");
    expect_same_everywhere(id);
    json_t *job = get_job(1, id);
    json_t *t4 = task_of(job, "node-4");
    cr_expect_str_eq(str(t4, "reason"), "NodeDeleted");
    cr_expect_str_eq(str(t4, "message"), "node node-4 was deleted from the cluster; the pull there was given up");
    cr_expect_str_eq(str(t4, "cause"), "node_unavailable");
    cr_expect_str_eq(str(task_of(job, "node-3"), "state"), "pulling");
    json_decref(job);
    cr_expect_eq(jobs_counted_after(id, 1, 1, 10000), 1, "node-4's Job is still there");
    free(id);
    stop_world();
}

/*
 * A Job of a node without a daemon marked given up (imgpulld.io/outcome=failed) but still there:
 * its node's daemon was lost between the mark and the deletion, or the deletion failed. The
 * stand-in deletes it, or the kubelet would retry its pull for ever; the task is failed
 * everywhere. Before, the Job stayed.
 */
Test(redis, the_stand_in_deletes_a_job_given_up_but_still_there, .timeout = 120)
{
    w.sim_nodes = 4;
    start_world("rgone", NULL, NULL);
    sim_post("/_sim/pull", "{\"pattern\": \"slowgone\", \"ms\": 60000}");
    char *id = pull(0, "slowgone:1", "[\"node-4\"]");
    cr_assert_eq(jobs_counted_after(id, 0, 1, 20000), 1, "node-4's Job does not run");
    char name[IPD_KUBE_JOB_NAME_SIZE], path[256];
    ipd_kube_job_name(id, "node-4", name);
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/imgpulld/jobs/%s", name);
    const char *patch_headers[] = {"Content-Type: application/merge-patch+json", NULL};
    h_resp_t pr;
    cr_assert_eq(h_http(w.sim.port, "PATCH", path,
                        "{\"metadata\":{\"annotations\":{\"imgpulld.io/outcome\":\"failed\"}}}", patch_headers, &pr),
                 0);
    cr_assert_eq(pr.status, 200, "PATCH %s: %ld %s", path, pr.status, pr.body);
    h_resp_free(&pr);
    want_t failed = {id, {1, 1, 1}, "node-4", "failed", "failed"};
    wait_all(&failed, 20000, "node-4's task given up is not failed everywhere");
    cr_expect_eq(jobs_counted_after(id, 1, 0, 10000), 0, "node-4's Job given up is still there");
    free(id);
    stop_world();
}

/* The daemon (0..N-1) that holds the stand-in lease, once one took it. */
static int standin_holder(void)
{
    char out[128] = "", cmd[160];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d GET '{imgpulld}:lease:stand-in'", w.redis.port);
    uint64_t t0 = h_now_ms();
    while ((h_sh(cmd, out, sizeof(out)), strncmp(out, "node-", 5) != 0) && h_now_ms() - t0 < 10000)
        usleep(100 * 1000);
    cr_assert_eq(strncmp(out, "node-", 5), 0, "no daemon took the stand-in lease: %s", out);
    int holder = atoi(out + 5) - 1;
    cr_assert(holder >= 0 && holder < N, "%s", out);
    return holder;
}

/*
 * The stand-in's list is on its way when a reload changes a Kubernetes setting of the daemon that
 * holds the lease: the Kubernetes client that would answer it goes, without calling back. The
 * daemon lists again with its new client at once. Before, it counted the list as still on its
 * way for ever: it stopped listing and renewing the lease, so nodes without a live daemon went
 * unseen until the lease expired and another daemon took it, and the list's context leaked (a
 * LeakSanitizer report at the stop). The same held for the pod lists of keep jobs that follow
 * pods (master/daemon_follow.c).
 */
Test(redis, a_reload_while_the_stand_in_lists_does_not_stop_it, .timeout = 120)
{
    w.sim_nodes = 4;
    start_world("rlist", NULL, NULL);
    int holder = standin_holder();
    /* Its next list is held 8 s by the simulator; a reload changes its Kubernetes settings meanwhile. */
    h_sim_ok(w.sim.port, "POST", "/_sim/inject", "{\"count\": 1, \"path\": \"notin\", \"delay_ms\": 8000}");
    cr_assert(h_wait(h_sim_injections_used, &w.sim.port, 5000), "the stand-in did not list");
    char token[sizeof(w.dir) + 8];
    snprintf(token, sizeof(token), "%s/token", w.dir);
    h_write_file(token, "a-token\n");
    snprintf(w.extra_one[holder], sizeof(w.extra_one[holder]), "kube_token_file %s\n", token);
    char redis[64];
    snprintf(redis, sizeof(redis), "127.0.0.1:%d", w.redis.port);
    write_conf(holder, redis);
    kill(w.d[holder].pid, SIGHUP);
    cr_assert(h_log_wait(&w.d[holder], "Kubernetes settings changed", 10000), "the reload did not restart the client");
    /* Well within the lease time (15 s here): the holder lists again itself. */
    char *id = pull(0, "busybox:reloaded", "[\"node-4\"]");
    want_t shown = {id, {1, 1, 1}, "node-4", "succeeded", "succeeded"};
    wait_all(&shown, 6000, "the job on node-4 was not shown within 6 s of the reload");
    free(id);
    stop_world();
}

/*
 * A job created while node-3's daemon is dead: node-3 never published its task. It shows
 * unknown (NodeDaemonLost) everywhere, then what its Job says once the Job completes, and the
 * daemon started again converges with the others. A job cancelled meanwhile (its Jobs deleted)
 * shows node-3's task cancelled, as node-3's daemon counts a task whose Job was deleted before
 * the pull ended; before, it stayed unknown until the daemon came back.
 */
Test(redis, a_job_created_while_a_node_s_daemon_is_dead_ends_as_its_job_says, .timeout = 120)
{
    start_world("rdead", NULL, NULL);
    kill_daemon(2);
    /* Lost once its key expired (TTL 3 s) and a liveness script saw it (every second). */
    for (int i = 0; i < 2; i++)
        cr_assert_eq(wait_stat(i, "redis_nodes_lost", 1, 8000), 1, "daemon %d did not see node-3 lost", i + 1);
    sim_post("/_sim/pull", "{\"pattern\": \"slow\", \"ms\": 3000}");
    char *id = pull(0, "slow:3", "[\"node-1\", \"node-3\"]");
    want_t unknown = {id, {1, 1, 0}, "node-3", "unknown", NULL};
    wait_all(&unknown, 10000, "node-3's task did not show unknown while its daemon is dead");
    want_t done = {id, {1, 1, 0}, "node-3", "succeeded", "succeeded"};
    wait_all(&done, 20000, "node-3's task did not end as its Job says");

    sim_post("/_sim/pull", "{\"pattern\": \"slower\", \"ms\": 60000}");
    char *cancelled = pull(1, "slower:1", "[\"node-1\", \"node-3\"]");
    want_t unknown2 = {cancelled, {1, 1, 0}, "node-3", "unknown", NULL};
    wait_all(&unknown2, 10000, "node-3's task of the second job did not show unknown");
    cancel_through(0, cancelled);
    want_t gone = {cancelled, {1, 1, 0}, "node-3", "cancelled", "cancelled"};
    wait_all(&gone, 15000, "node-3's task did not show cancelled once its Job was deleted");
    json_t *job = get_job(1, cancelled);
    cr_expect_str_eq(str(task_of(job, "node-3"), "reason"), "Cancelled");
    json_decref(job);

    restart_converged(2, id, 30000, "the job did not converge once node-3's daemon was back");
    want_t back = {cancelled, {1, 1, 1}, "node-3", "cancelled", "cancelled"};
    wait_all(&back, 15000, "the cancelled job did not show the same on the daemon started again");
    expect_same_everywhere(cancelled);
    free(cancelled);
    free(id);
    stop_world();
}

/* A job onto `nodes` (JSON) made through daemon `i` and cancelled through it at once: its Jobs
 * are created and deleted long before their pulls (60 s) could end. */
static char *made_and_cancelled(int i, const char *image, const char *nodes)
{
    sim_post("/_sim/pull", "{\"pattern\": \"slow\", \"ms\": 60000}");
    char *id = pull(i, image, nodes);
    cancel_through(i, id);
    return id;
}

/* True once Redis holds the resourceVersion up to which node-3's daemon saw its Jobs. */
static int node_3_rv_written(void *ctx)
{
    (void)ctx;
    char cmd[200], out[64] = "";
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d HGET '{imgpulld}:rv' node-3", w.redis.port);
    h_sh(cmd, out, sizeof(out));
    return atoll(out) > 0;
}

/*
 * Daemon 3 is killed, and before its liveness key expires (9 s) a job onto node-1 and node-3 is
 * made and cancelled through daemon 1: node-3's Job is created and deleted while nobody watches
 * it (daemon 3 is dead; the stand-in's watch leaves node-3 out while its key lives). Once node-3
 * is lost, the stand-in's new watch starts from the resourceVersion daemon 3 last wrote into
 * Redis, and its replay of node-3's Jobs publishes the task cancelled, as node-3's daemon counts
 * a Job deleted before the pull ended. Before, the new watch listed first: the Job was gone, no
 * task of node-3 ever came, and the job ended without it (the old watch's own resourceVersion
 * would not do either: a Job of node-4 moved it past the deletion).
 */
Test(redis, a_job_made_and_cancelled_while_a_dead_daemon_s_key_lives_shows_its_task_cancelled, .timeout = 120)
{
    w.sim_nodes = 4;
    /* A DELETE is answered once the table shows the job final, or after op_visible_timeout. */
    start_world("rgap", NULL, "redis_liveness_ttl 9s\nop_visible_timeout 1s\n");
    cr_assert(h_wait(node_3_rv_written, NULL, 15000), "daemon 3 did not write how far it saw its Jobs");
    kill_daemon(2);
    char *id = made_and_cancelled(0, "slow:9", "[\"node-1\", \"node-3\"]");
    /* A Job of node-4 (no daemon) moves the stand-in's watch past that deletion: the new watch
     * must start from daemon 3's version, not from the old watch's. */
    char *later = pull(0, "nginx:1.27", "[\"node-4\"]");
    want_t listed = {later, {1, 1, 0}, "node-4", NULL, NULL};
    wait_all(&listed, 8000, "the stand-in did not list node-4's Job");
    want_t cancelled = {id, {1, 1, 0}, "node-3", "cancelled", "cancelled"};
    wait_all(&cancelled, 25000, "node-3's task did not show cancelled once node-3 was lost");
    json_t *job = get_job(1, id);
    cr_expect_str_eq(str(task_of(job, "node-3"), "reason"), "Cancelled");
    json_decref(job);
    free(later);
    free(id);
    stop_world();
}

/*
 * Daemon 3 is killed and started again at once, as systemd restarts a daemon that crashed: its
 * liveness key never expires, so no stand-in covers node-3. A job onto node-1 and node-3 made and
 * cancelled through daemon 1 in between leaves nothing of node-3's Job for daemon 3's lists. Once
 * listed, daemon 3 watches its Jobs from the resourceVersion the daemon before it wrote into
 * Redis, and that replay's deletion makes the task, cancelled, on every daemon. Before, node-3's
 * task never came: the job ended cancelled, one liveness time later, without it.
 */
Test(redis, a_job_made_and_cancelled_while_a_daemon_restarts_shows_its_task_cancelled, .timeout = 120)
{
    start_world("rrestart", NULL, "redis_liveness_ttl 9s\nop_visible_timeout 1s\n");
    cr_assert(h_wait(node_3_rv_written, NULL, 15000), "daemon 3 did not write how far it saw its Jobs");
    kill_daemon(2);
    char *id = made_and_cancelled(0, "slow:9", "[\"node-1\", \"node-3\"]");
    start_daemon(2);
    want_t cancelled = {id, {1, 1, 1}, "node-3", "cancelled", "cancelled"};
    wait_all(&cancelled, 20000, "node-3's task did not show cancelled once daemon 3 was back");
    cr_expect_eq(master_stat(0, "redis_nodes_lost"), 0, "node-3 was taken for lost: a stand-in may have covered it");
    expect_same_everywhere(id);
    free(id);
    stop_world();
}

/*
 * The daemon that stands in is killed: it keeps the lease for its lease time (3 s here), and
 * nobody watches the Jobs of node-4 (no daemon) meanwhile. A job onto another node and node-4
 * made and cancelled then leaves nothing a list can find. The daemon that takes the lease next
 * starts its watch from its own Jobs' resourceVersion of a lease time and a TTL before, and the
 * replay publishes node-4's task cancelled. Before, its watch listed first, node-4's task never
 * came, and the job ended cancelled without it.
 */
Test(redis, a_job_made_and_cancelled_while_no_daemon_stands_in_shows_its_task_cancelled, .timeout = 120)
{
    w.sim_nodes = 4;
    /* Leases last max(redis_liveness_ttl, 3 x keep_pod_poll): 3 s here. */
    start_world("rholder", NULL, "keep_pod_poll 1s\nop_visible_timeout 1s\n");
    int holder = standin_holder(), other = (holder + 1) % N;
    kill_daemon(holder);
    char nodes[64];
    snprintf(nodes, sizeof(nodes), "[\"node-%d\", \"node-4\"]", other + 1);
    char *id = made_and_cancelled(other, "slow:4", nodes);
    want_t cancelled = {id, {1, 1, 1}, "node-4", "cancelled", "cancelled"};
    cancelled.daemons[holder] = 0;
    wait_all(&cancelled, 30000, "node-4's task did not show cancelled once another daemon stood in");
    free(id);
    stop_world();
}

/*
 * Daemon 3 is killed while node-3's pull runs: its table keeps the task pulling. The stand-in
 * sees node-3's Job complete and publishes the task succeeded, and Kubernetes deletes the Job
 * (ttl_seconds_after_finished). Restarted on its table, daemon 3 finds neither Job nor pod: its
 * node's record in Redis says how the task ended, also when Redis answers after the cluster was
 * listed. Before, daemon 3 took the missing Job for a cancel: node-3's task cancelled there and
 * succeeded on the others, for ever.
 */
Test(redis, a_daemon_restarted_on_its_table_takes_the_end_the_stand_in_published_meanwhile, .timeout = 120)
{
    start_world("rdownend", NULL, NULL);
    /* The pull ends after daemon 3's liveness key expired (3 s), and its Job goes 3 s later: the
     * stand-in, which lists every second, sees it complete. */
    sim_post("/_sim/pull", "{\"pattern\": \"slow\", \"ms\": 6000}");
    char *id = post(0, "{\"image\": \"slow:6\", \"nodes\": [\"node-1\", \"node-2\", \"node-3\"], "
                       "\"ttl_seconds_after_finished\": 3}");
    want_t pulling = {id, {0, 0, 1}, "node-3", "pulling", NULL};
    wait_all(&pulling, 30000, "node-3's pull did not start on daemon 3");
    kill_daemon(2);
    want_t ended = {id, {1, 1, 0}, "node-3", "succeeded", NULL};
    wait_all(&ended, 30000, "the stand-in did not publish node-3's task succeeded");
    char name[IPD_KUBE_JOB_NAME_SIZE];
    ipd_kube_job_name(id, "node-3", name);
    cr_assert(h_sim_job_gone(w.sim.port, name, 20000), "the simulator did not delete node-3's Job");
    /* Redis answers only after daemon 3 listed the cluster (within the 2 s a link waits). */
    kill(w.redis.pid, SIGSTOP);
    start_daemon(2);
    usleep(1000 * 1000);
    kill(w.redis.pid, SIGCONT);
    h_wait_ready(&w.d[2], w.port[2], 20000);
    expect_converged(id, 30000, "the restarted daemon does not show node-3's task as the others do");
    free(id);
    stop_world();
}

/*
 * A node rebooted: its daemon starts with an empty table (/dev/shm emptied) and learns the
 * finished job from the Redis hashes long after it ended. It shows the job's times as the
 * others do, not the time it read the records.
 */
Test(redis, a_daemon_restarted_with_an_empty_table_shows_the_job_s_times_as_the_others_do, .timeout = 120)
{
    start_world("rtimes", NULL, NULL);
    char *id = pull(0, "nginx:1.27", "[\"node-1\", \"node-2\", \"node-3\"]");
    expect_converged(id, 30000, "the job did not succeed on every daemon");
    stop_emptied(2);
    usleep(1200 * 1000); /* a whole second after the job ended, at the times' millisecond grain */
    restart_converged(2, id, 30000, "the restarted daemon does not show the job");
    free(id);
    stop_world();
}

/*
 * The same after Kubernetes deleted the job's Jobs and pods (ttl_seconds_after_finished, as
 * every pull Job has one): the restarted daemon has nothing of its node's task but its own
 * record in Redis, and shows the task as it was published, not as a node still to come.
 */
Test(redis, a_daemon_restarted_with_an_empty_table_after_kubernetes_deleted_its_job_shows_its_task, .timeout = 120)
{
    start_world("rttl", NULL, NULL);
    char *id = post(0, "{\"image\": \"nginx:1.27\", \"nodes\": [\"node-1\", \"node-2\", \"node-3\"], "
                       "\"ttl_seconds_after_finished\": 1}");
    expect_converged(id, 30000, "the job did not succeed on every daemon");
    stop_emptied(2);
    /* Until the simulator deleted node-3's Job (1 s after it finished). */
    char path[192];
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/imgpulld/jobs?labelSelector=imgpulld.io/job%%3D%s", id);
    uint64_t deadline = h_now_ms() + 20000;
    int left = 1;
    while (left && h_now_ms() < deadline) {
        h_resp_t r;
        cr_assert_eq(h_http(w.sim.port, "GET", path, NULL, NULL, &r), 0);
        left = r.status != 200 || strstr(r.body, "\"name\"") != NULL;
        h_resp_free(&r);
        if (left)
            usleep(200 * 1000);
    }
    cr_assert_not(left, "the simulator did not delete the job's Jobs");
    restart_converged(2, id, 30000, "the restarted daemon does not show the job as the others do");
    free(id);
    stop_world();
}

Test(redis, a_stopped_redis_degrades_and_converges_once_resumed, .timeout = 120)
{
    start_world("rstop", NULL, NULL);
    char *id = slow_pull(3000, "slow:3", "the pulls did not start everywhere");
    kill(w.redis.pid, SIGSTOP);
    usleep(5000 * 1000);
    /* Each daemon still serves, its own node at least. */
    for (int i = 0; i < N; i++) {
        char node[16];
        snprintf(node, sizeof(node), "node-%d", i + 1);
        json_t *job = get_job(i, id);
        cr_assert(job != NULL, "daemon %d does not answer while Redis is stopped", i + 1);
        cr_expect_str_eq(str(task_of(job, node), "state"), "succeeded", "daemon %d's own task", i + 1);
        json_decref(job);
    }
    kill(w.redis.pid, SIGCONT);
    expect_converged(id, 45000, "the daemons did not converge once Redis resumed");
    free(id);
    stop_world();
}

Test(redis, a_redis_restarted_empty_is_filled_again, .timeout = 120)
{
    start_world("rempty", NULL, NULL);
    char *first = pull(0, "nginx:1.26", "[\"node-1\", \"node-2\", \"node-3\"]");
    wait_succeeded(first, 30000, "the first job did not succeed everywhere");
    int port = w.redis.port;
    h_stop(&w.redis, SIGTERM, 5000);
    unlink(w.redis.log); /* the new one has a log of its own */
    /* A new, empty Redis on the same port; a job runs meanwhile. */
    sim_post("/_sim/pull", "{\"pattern\": \"slow\", \"ms\": 2000}");
    char *second = pull(1, "slow:4", "[\"node-1\", \"node-2\", \"node-3\"]");
    w.redis = h_start_redis(w.dir, port, NULL);
    expect_converged(second, 60000, "the second job did not converge after Redis restarted empty");
    expect_same_everywhere(first);
    /* Every daemon republished its node into the empty Redis. */
    char cmd[160], out[64];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d HLEN '{imgpulld}:tasks:node-3'", port);
    h_sh(cmd, out, sizeof(out));
    cr_expect_geq(atoi(out), 2, "node-3's hash holds %s", out);
    free(first);
    free(second);
    stop_world();
}

/* h_poll condition: every node's hash holds at least one task. */
static int every_hash_filled(void *ctx)
{
    (void)ctx;
    for (int n = 1; n <= N; n++) {
        char cmd[160], out[64] = "";
        snprintf(cmd, sizeof(cmd), "redis-cli -p %d HLEN '{imgpulld}:tasks:node-%d'", w.redis.port, n);
        h_sh(cmd, out, sizeof(out));
        if (atoi(out) < 1)
            return 0;
    }
    return 1;
}

/*
 * Redis emptied under running daemons (FLUSHALL: no connection drops, so no reconnect
 * republishes). The epoch key is set again by the first daemon to read it, and every daemon,
 * that one included, must see a value other than the one it held and republish its node. Each
 * daemon in turn is the only one running when Redis is emptied: one of them set the first epoch.
 */
typedef struct hash_has {
    int port;
    const char *node, *id;
} hash_has_t;

/* True once node `node`'s hash in Redis holds a record of job `id`. */
static int hash_has_job(void *ctx)
{
    const hash_has_t *h = ctx;
    char cmd[200], out[16] = "";
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d HEXISTS '{imgpulld}:tasks:%s' %s", h->port, h->node, h->id);
    h_sh(cmd, out, sizeof(out));
    return atoi(out) == 1;
}

/*
 * Redis restarted empty: every daemon republishes its own node's tasks, and none those of node-4,
 * which has no daemon and whose task the stand-in wrote. A daemon that started afterwards with an
 * empty table (a rebooted node) never learned a job on node-4 only: it answered 404 while the
 * others showed the job succeeded. The stand-in now puts such tasks back from its table, where
 * the hash has no record of the job; the restarted daemon shows the job as the others do.
 */
Test(redis, a_redis_restarted_empty_gets_back_the_tasks_of_a_node_without_a_daemon, .timeout = 120)
{
    w.sim_nodes = 4;
    start_world("rfill", NULL, NULL);
    char *id = pull(0, "nginx:1.26", "[\"node-4\"]");
    expect_converged(id, 30000, "the job on node-4 did not succeed on every daemon");
    stop_emptied(2);
    int port = w.redis.port;
    restart_redis_empty();
    restart_converged(2, id, 30000, "the daemon restarted with an empty table does not show the job on node-4");
    hash_has_t has = {port, "node-4", id};
    cr_expect(hash_has_job(&has), "node-4's task of %s was not put back into Redis", id);
    free(id);
    stop_world();
}

/*
 * Every daemon is killed right after a job's Jobs were created: node-4's Job (no daemon there)
 * runs and completes while none runs, and the daemons come back more than three lease times later.
 * Daemon 1's table holds the job (node-1's task), so the stand-in publishes node-4's task from its
 * Job however long ago it ended. Before, it took a job whose Job ended that long ago for one that
 * aged out of the history, published nothing, and the job waited for node-4 for ever.
 */
Test(redis, a_job_s_task_whose_job_ended_while_no_daemon_ran_is_published, .timeout = 120)
{
    w.sim_nodes = 4;
    start_world("rended", NULL, "keep_pod_poll 1s\n");
    char *id = pull(0, "nginx:1.22", "[\"node-1\", \"node-4\"]");
    char name[IPD_KUBE_JOB_NAME_SIZE];
    ipd_kube_job_name(id, "node-4", name);
    uint64_t t0 = h_now_ms();
    while (!h_sim_has_job(w.sim.port, name) && h_now_ms() - t0 < 10000)
        usleep(5 * 1000);
    for (int i = 0; i < N; i++) {
        kill_daemon(i);
    }
    cr_assert(h_sim_has_job(w.sim.port, name), "node-4's Job was not created");
    sleep(11); /* the Job ended more than three lease times (3 s) ago */
    for (int i = 0; i < N; i++)
        start_daemon(i);
    for (int i = 0; i < N; i++)
        h_wait_ready(&w.d[i], w.port[i], 20000);
    want_t done = {id, {1, 1, 1}, "node-4", "succeeded", "succeeded"};
    wait_all(&done, 15000, "node-4's task was not published from its Job");
    free(id);
    stop_world();
}

/*
 * The same while daemon 2, the only one whose table still holds the job, is down: Redis restarts
 * empty, daemons 1 and 3 restart with empty tables, and node-4's Job is gone (its TTL), so no
 * stand-in can publish the task from it. Daemon 2, started again on its table, sees an epoch
 * other than the one its table noted and puts back node-4's final task; before, only a stand-in
 * that saw the epoch change while it ran did, and the job stayed unknown (404) on daemons 1 and 3
 * for ever.
 */
Test(redis, a_daemon_down_while_redis_lost_its_data_puts_back_what_only_its_table_holds, .timeout = 150)
{
    w.sim_nodes = 4;
    start_world("rfill2", NULL, NULL);
    char *id = pull(0, "nginx:1.23", "[\"node-4\"]");
    expect_converged(id, 30000, "the job on node-4 did not succeed on every daemon");
    kill_daemon(1);
    stop_emptied(0);
    stop_emptied(2);
    restart_redis_empty();
    char name[IPD_KUBE_JOB_NAME_SIZE], path[300];
    ipd_kube_job_name(id, "node-4", name);
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/imgpulld/jobs/%s", name);
    h_sim_ok(w.sim.port, "DELETE", path, NULL);
    start_daemon(0);
    start_daemon(2);
    h_wait_ready(&w.d[0], w.port[0], 20000);
    h_wait_ready(&w.d[2], w.port[2], 20000);
    sleep(2);
    long status = 0;
    json_t *none = h_get_job(w.port[0], id, &status);
    json_decref(none);
    cr_assert_eq(status, 404, "daemon 1 knows the job before daemon 2 is back (%ld): the case does not hold", status);
    restart_converged(1, id, 15000, "daemon 2's final task of node-4 did not reach the others");
    free(id);
    stop_world();
}

/*
 * The same for a node that has a daemon: a job cancelled on node-1 and node-2 (their Jobs deleted),
 * then daemon 2 killed, daemons 1 and 3 rebooted (empty tables) and Redis restarted empty. Node-1's
 * cancelled task is then only in daemon 2's table: node-1's daemon has neither a record nor a Job
 * to make it from. Daemon 2, started again, puts that final task back into node-1's hash, and
 * node-1's daemon takes it as its own. Before, only nodes without a live daemon were put back:
 * daemons 1 and 3 showed the job with node-2's task alone, daemon 2 with both.
 */
Test(redis, a_final_task_only_a_stopped_daemon_holds_comes_back_to_its_node_s_daemon, .timeout = 150)
{
    start_world("rfill3", NULL, "keep_pod_poll 1s\n");
    sim_post("/_sim/pull", "{\"pattern\": \"slowc\", \"ms\": 30000}");
    char *id = pull(0, "slowc:1", "[\"node-1\", \"node-2\"]");
    want_t pulling = {id, {1, 1, 1}, "node-1", "pulling", NULL};
    wait_all(&pulling, 20000, "node-1's pull did not start everywhere");
    cancel_through(0, id);
    want_t cancelled = {id, {1, 1, 1}, "node-2", "cancelled", "cancelled"};
    wait_all(&cancelled, 20000, "the job was not cancelled everywhere");
    kill_daemon(1);
    stop_emptied(0);
    stop_emptied(2);
    restart_redis_empty();
    start_daemon(0);
    start_daemon(2);
    h_wait_ready(&w.d[0], w.port[0], 20000);
    h_wait_ready(&w.d[2], w.port[2], 20000);
    sleep(2);
    long status = 0;
    json_t *none = h_get_job(w.port[0], id, &status);
    json_decref(none);
    cr_assert_eq(status, 404, "daemon 1 knows the job before daemon 2 is back (%ld): the case does not hold", status);
    start_daemon(1);
    h_wait_ready(&w.d[1], w.port[1], 20000);
    want_t back = {id, {1, 1, 1}, "node-1", "cancelled", "cancelled"};
    wait_all(&back, 15000, "node-1's cancelled task did not come back from daemon 2's table");
    usleep(1500 * 1000);
    expect_same_everywhere(id);
    free(id);
    stop_world();
}

Test(redis, a_flushed_redis_is_told_by_its_epoch_and_filled_again, .timeout = 120)
{
    start_world("rflush", NULL, NULL);
    char *id = pull(0, "nginx:1.24", "[\"node-1\", \"node-2\", \"node-3\"]");
    wait_succeeded(id, 30000, "the job did not succeed everywhere");
    usleep(1500 * 1000);
    char cmd[160], out[64];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d FLUSHALL", w.redis.port);
    for (int i = 0; i < N; i++) {
        size_t before = h_log_count(&w.d[i], "Redis lost its data");
        for (int k = 0; k < N; k++)
            if (k != i)
                kill(w.d[k].pid, SIGSTOP);
        cr_assert_eq(h_sh(cmd, out, sizeof(out)), 0, "%s", out);
        /* TTL 3 s: the epoch is read every second; the others' liveness keys outlive this. */
        uint64_t t0 = h_now_ms();
        while (h_log_count(&w.d[i], "Redis lost its data") == before && h_now_ms() - t0 < 2500)
            usleep(50 * 1000);
        int noticed = h_log_count(&w.d[i], "Redis lost its data") > before;
        for (int k = 0; k < N; k++)
            if (k != i)
                kill(w.d[k].pid, SIGCONT);
        cr_expect(noticed, "daemon %d alone did not notice that Redis was emptied", i + 1);
        cr_expect(h_wait(every_hash_filled, NULL, 10000), "a node's hash stayed empty after the flush");
    }
    expect_same_everywhere(id);
    free(id);
    stop_world();
}

#define BEHIND_JOBS 4

/* Daemon 1 stops reading while BEHIND_JOBS jobs (images nginx:1.<first + k>) run on nodes 2 and 3
 * to their end; their ids go to `ids` (owned by the caller until daemon_1_catches_up). */
static void jobs_go_by_daemon_1(char *ids[BEHIND_JOBS], int first)
{
    /* A daemon is ready (/readyz) before its link has resynced for the first time: stopped
     * before that, it would resync on SIGCONT whatever it missed, and the tests could not tell
     * a catch-up from a resync. */
    cr_assert_geq(wait_stat(0, "redis_resyncs_total", 1, 20000), 1, "daemon 1's link did not come up");
    kill(w.d[0].pid, SIGSTOP);
    for (int k = 0; k < BEHIND_JOBS; k++) {
        char image[32];
        snprintf(image, sizeof(image), "nginx:1.%d", first + k);
        ids[k] = pull(1, image, "[\"node-2\", \"node-3\"]");
    }
    for (int k = 0; k < BEHIND_JOBS; k++) {
        want_t done = {ids[k], {0, 1, 1}, NULL, NULL, "succeeded"};
        wait_all(&done, 30000, "a job did not succeed on daemons 2 and 3");
    }
}

/* Daemon 1 reads again and shows each of the jobs as the others do; frees `ids`. */
static void daemon_1_catches_up(char *ids[BEHIND_JOBS], const char *why)
{
    kill(w.d[0].pid, SIGCONT);
    for (int k = 0; k < BEHIND_JOBS; k++) {
        wait_succeeded(ids[k], 30000, why);
        usleep(300 * 1000);
        expect_same_everywhere(ids[k]);
        free(ids[k]);
    }
}

Test(redis, a_stream_trimmed_past_a_daemon_resyncs_from_the_hashes, .timeout = 120)
{
    const char *redis_args[] = {"--stream-node-max-entries", "2", NULL};
    start_world("rtrim", redis_args, "redis_stream_maxlen 2\n");
    char *ids[BEHIND_JOBS];
    jobs_go_by_daemon_1(ids, 10);
    int64_t before = master_stat(1, "redis_resyncs_total");
    daemon_1_catches_up(ids, "daemon 1 did not converge after the Stream was trimmed");
    cr_expect_geq(master_stat(0, "redis_resyncs_total"), 2, "daemon 1 did not resync (daemon 2: %lld)",
                  (long long)before);
    stop_world();
}

Test(redis, a_daemon_behind_catches_up_through_small_replies_without_a_resync, .timeout = 120)
{
    /* Replies of 2 entries: catching up takes many XREADs, each written before the reply before
     * it is applied (the read-ahead, master/redis_link.c), and nothing is missed or taken twice.
     * A TTL of 60 s: a command unanswered for a third of it fails the link, and daemon 1's XREAD
     * stays unanswered for as long as it is stopped (longer than 5 s under the sanitizers). */
    start_world("rcount", NULL, "redis_read_count 2\nredis_liveness_ttl 60s\n");
    char *ids[BEHIND_JOBS];
    jobs_go_by_daemon_1(ids, 20);
    int64_t resyncs = master_stat(0, "redis_resyncs_total");
    daemon_1_catches_up(ids, "daemon 1 did not catch up");
    cr_expect_eq(master_stat(0, "redis_resyncs_total"), resyncs, "daemon 1 resynced instead of reading on");
    cr_expect_eq(master_stat(0, "redis_records_skipped_total"), 0, "daemon 1 skipped records");
    /* Behind by dozens of full replies: it held back publishing while it caught up (each
     * publication at most redis_catchup_publish after the first change it carries), and the
     * jobs above converged all the same. */
    int64_t holds = wait_stat(0, "redis_catchup_holds_total", 1, 5000);
    fprintf(stderr, "daemon 1 held back %lld publications while catching up\n", (long long)holds);
    cr_expect_geq(holds, 1, "daemon 1 published after every reply while catching up");
    stop_world();
}

Test(redis, a_malformed_record_is_skipped_and_counted, .timeout = 90)
{
    start_world("rbad", NULL, NULL);
    char cmd[1024], out[128];
    /* Text typed by hand, without a sequence number: its first byte is no version of this
     * format, older or newer. */
    snprintf(cmd, sizeof(cmd),
             "redis-cli -p %d XADD '{imgpulld}:stream' '*' n node-7 j pj-typed r garbage-not-msgpack >/dev/null && "
             "echo ok",
             w.redis.port);
    cr_assert_eq(h_sh(cmd, out, sizeof(out)), 0, "%s", out);
    for (int i = 0; i < N; i++)
        cr_expect_geq(wait_stat(i, "redis_records_skipped_total", 1, 10000), 1, "daemon %d", i + 1);
    cr_expect(h_log_wait(&w.d[0], "skipped a record of node node-7: malformed", 5000), "not logged as malformed");
    /*
     * Entries that carry the sequence number the daemons expect next, so that their records reach
     * the decoder: a version byte of 1 with a body that is not msgpack (malformed, logged above
     * already; it leaves the number to the next change), then a version byte of 2, newer than
     * this build's, written as a newer daemon would (it takes the number).
     */
    snprintf(cmd, sizeof(cmd),
             "printf '\\001garbage' | redis-cli -p %d -x EVAL \"return redis.call('XADD', KEYS[1], '*', 'n', "
             "'node-9', 's', tonumber(redis.call('GET', KEYS[2]) or '0') + 1, 'j', 'pj-bad', 'r', ARGV[1])\" 2 "
             "'{imgpulld}:stream' '{imgpulld}:seq' >/dev/null && "
             "printf '\\002\\200' | redis-cli -p %d -x EVAL \"return redis.call('XADD', KEYS[1], '*', 'n', "
             "'node-8', 's', redis.call('INCR', KEYS[2]), 'j', 'pj-new', 'r', ARGV[1])\" 2 '{imgpulld}:stream' "
             "'{imgpulld}:seq' >/dev/null && echo ok",
             w.redis.port, w.redis.port);
    cr_assert_eq(h_sh(cmd, out, sizeof(out)), 0, "%s", out);
    for (int i = 0; i < N; i++)
        cr_expect_geq(wait_stat(i, "redis_records_skipped_total", 3, 10000), 3, "daemon %d", i + 1);
    cr_expect(h_log_wait(&w.d[0], "skipped a record of node node-8: a newer format version", 5000), "not logged");
    cr_assert_eq(h_sh(cmd, out, sizeof(out)), 0, "%s", out);
    cr_expect_geq(wait_stat(0, "redis_records_skipped_total", 5, 10000), 5, "the second pair is counted");
    cr_expect_eq(h_log_count(&w.d[0], "skipped a record"), 2, "and not logged again");
    /* The link goes on: a pull still shows everywhere. */
    char *id = pull(2, "nginx:1.25", "[\"node-1\", \"node-3\"]");
    wait_succeeded(id, 30000, "the link stopped after a malformed record");
    free(id);
    stop_world();
}

/* The sequence number Redis holds ({imgpulld}:seq), 0 when it has none. */
static long long redis_seq(void)
{
    char cmd[160], out[64];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d GET '{imgpulld}:seq'", w.redis.port);
    cr_assert_eq(h_sh(cmd, out, sizeof(out)), 0, "%s", out);
    return atoll(out);
}

/* Appends an entry typed by hand: node node-x, sequence `s`, a record that is no record. */
static void xadd_typed(const char *s)
{
    char cmd[256], out[128];
    snprintf(cmd, sizeof(cmd),
             "redis-cli -p %d XADD '{imgpulld}:stream' '*' s '%s' n node-x r junk >/dev/null && echo ok", w.redis.port,
             s);
    cr_assert_eq(h_sh(cmd, out, sizeof(out)), 0, "%s", out);
}

/*
 * Entries typed by hand with a sequence number (s) of their own are skipped and counted, and no
 * daemon resyncs: one that takes the number of the next real change (which must still be
 * applied in order), one older than what the daemons applied, and ones whose s is not a
 * number. An s above the next change's is a gap, typed or not, and does resync.
 */
Test(redis, typed_entries_with_a_sequence_are_skipped_and_not_taken_for_a_gap, .timeout = 120)
{
    start_world("rseq", NULL, NULL);
    int64_t resyncs[N];
    for (int i = 0; i < N; i++)
        resyncs[i] = wait_stat(i, "redis_resyncs_total", 1, 10000);
    char s[32];
    snprintf(s, sizeof(s), "%lld", redis_seq() + 1);
    xadd_typed(s);
    for (int i = 0; i < N; i++)
        cr_expect_eq(wait_stat(i, "redis_records_skipped_total", 1, 10000), 1, "daemon %d", i + 1);
    char *id = pull(0, "nginx:1.24", "[\"node-1\", \"node-2\", \"node-3\"]");
    expect_converged(id, 30000, "the job did not succeed everywhere");
    free(id);
    for (int i = 0; i < N; i++)
        cr_expect_eq(master_stat(i, "redis_resyncs_total"), resyncs[i],
                     "daemon %d took the change after an entry typed with its number for a gap", i + 1);
    cr_assert_gt(redis_seq(), 1);
    const char *typed[] = {"1", "0", "12abc", "-3", "", "99999999999999999999999"};
    for (size_t k = 0; k < sizeof(typed) / sizeof(typed[0]); k++)
        xadd_typed(typed[k]);
    for (int i = 0; i < N; i++)
        cr_expect_eq(wait_stat(i, "redis_records_skipped_total", 7, 10000), 7, "daemon %d", i + 1);
    id = pull(1, "nginx:1.25", "[\"node-1\", \"node-2\", \"node-3\"]");
    expect_converged(id, 30000, "the job did not succeed everywhere after the typed entries");
    free(id);
    for (int i = 0; i < N; i++)
        cr_expect_eq(master_stat(i, "redis_resyncs_total"), resyncs[i], "daemon %d resynced after a typed entry",
                     i + 1);
    /* Logged once as malformed and once as older than what was applied. */
    cr_expect(h_log_wait(&w.d[0], "skipped a record of node node-x: malformed", 5000), "not logged as malformed");
    cr_expect(h_log_wait(&w.d[0], "skipped a record of node node-x: change 1 is older", 5000), "not logged as older");
    size_t logged = h_log_count(&w.d[0], "skipped a record");
    cr_expect_eq(logged, 2, "%zu lines logged for two kinds", logged);
    /* A number beyond the next change's is a gap: every daemon resyncs, and goes on. */
    snprintf(s, sizeof(s), "%lld", redis_seq() + 1000);
    xadd_typed(s);
    for (int i = 0; i < N; i++)
        cr_expect_eq(wait_stat(i, "redis_resyncs_total", resyncs[i] + 1, 10000), resyncs[i] + 1, "daemon %d", i + 1);
    id = pull(2, "nginx:1.26", "[\"node-1\", \"node-2\", \"node-3\"]");
    expect_converged(id, 30000, "the job did not succeed everywhere after a gap");
    free(id);
    stop_world();
}

/* Redis node `port` answers MOVED for the prefix's keys. */
static int answers_moved(void *ctx)
{
    char cmd[128], out[256] = "";
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d GET '{imgpulld}:epoch' 2>&1", *(const int *)ctx);
    h_sh(cmd, out, sizeof(out));
    return strstr(out, "MOVED") != NULL;
}

/*
 * The daemons point at a Redis Cluster node that does not serve the prefix's slot: every command
 * is answered MOVED, which hiredis 0.14 does not follow. The link stays down and says where the
 * slot is; each daemon serves its own node (docs/operations.md, "Sentinel or Cluster").
 */
Test(redis, a_redis_cluster_redirect_is_named_and_each_daemon_serves_its_node, .timeout = 120)
{
    /* The cluster bus port defaults to the port + 10000, beyond 65535 for a high free port. */
    char bus_a[16], bus_b[16];
    snprintf(bus_a, sizeof(bus_a), "%d", h_free_port());
    snprintf(bus_b, sizeof(bus_b), "%d", h_free_port());
    const char *const node_a[] = {
        "--cluster-enabled", "yes", "--cluster-config-file", "nodes-a.conf", "--cluster-port", bus_a, NULL};
    const char *const node_b[] = {
        "--cluster-enabled", "yes", "--cluster-config-file", "nodes-b.conf", "--cluster-port", bus_b, NULL};
    start_world("rmoved", node_a, NULL);
    w.redis2 = h_start_redis(w.dir, 0, node_b);
    char cmd[512], out[512];
    /* Node B serves every slot; A learns it by the cluster bus and redirects. */
    snprintf(cmd, sizeof(cmd),
             "redis-cli -p %d CLUSTER ADDSLOTSRANGE 0 16383 >/dev/null && redis-cli -p %d CLUSTER MEET 127.0.0.1 %d %s",
             w.redis2.port, w.redis.port, w.redis2.port, bus_b);
    cr_assert_eq(h_sh(cmd, out, sizeof(out)), 0, "%s", out);
    cr_assert(h_wait(answers_moved, &w.redis.port, 20000), "node A does not redirect");
    for (int i = 0; i < N; i++)
        cr_expect(h_log_wait(&w.d[i], "a Redis Cluster redirect, which the link does not follow", 30000),
                  "daemon %d does not name the redirect", i + 1);
    /* Between retries the link is down (1); each retry shows it connecting (2) for a moment. It must
     * never be up (3): read until it shows down, and check it never showed up on the way. */
    int64_t state = master_stat(0, "redis_link_state");
    for (uint64_t until = h_now_ms() + 10000; state != 1 && state != 3 && h_now_ms() < until;) {
        usleep(50 * 1000);
        state = master_stat(0, "redis_link_state");
    }
    cr_expect_eq(state, 1, "daemon 1's link is not down");
    char *id = pull(0, "nginx:1.27", "[\"node-1\"]");
    h_expect_job_state(w.port[0], id, "succeeded", 30000);
    free(id);
    stop_world();
}

Test(redis, a_watch_on_daemon_1_follows_every_node_and_a_resume_elsewhere_resyncs, .timeout = 120)
{
    start_world("rws", NULL, NULL);
    char cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/integration/ws/check_redis_watch.py %d %d %d 2>&1",
             getenv("IPD_SOURCE_DIR") ? getenv("IPD_SOURCE_DIR") : ".", w.port[0], w.port[1], w.port[2]);
    int st = h_sh(cmd, out, sizeof(out));
    fprintf(stderr, "%s", out);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
    stop_world();
}

/* Whether node-3's hash in Redis holds job `id`: 1, 0, or -1 when redis-cli gave no answer. */
static int hash_holds(const char *node, const char *id)
{
    char cmd[256], out[64] = "";
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d HEXISTS '{imgpulld}:tasks:%s' '%s'", w.redis.port, node, id);
    h_sh(cmd, out, sizeof(out));
    return out[0] == '1' ? 1 : out[0] == '0' ? 0 : -1;
}

static int node3_hash_holds(const char *id)
{
    return hash_holds("node-3", id);
}

typedef struct gone {
    const char *id;
    const char *node; /* whose hash held it; node-3 when NULL */
} gone_t;

/* The job is out of its node's hash and no daemon serves it. */
static int gone_everywhere(void *ctx)
{
    const gone_t *g = ctx;
    if (hash_holds(g->node != NULL ? g->node : "node-3", g->id) != 0)
        return 0;
    for (int i = 0; i < N; i++) {
        json_t *job = get_job(i, g->id);
        json_decref(job);
        if (job != NULL)
            return 0;
    }
    return 1;
}

/* Pulls `n` jobs onto node-3 through daemon 1 and waits until every daemon shows them succeeded. */
static void pull_round(const char *tag, int n)
{
    char *ids[16];
    for (int k = 0; k < n; k++) {
        char image[64];
        snprintf(image, sizeof(image), "busybox:%s-%d", tag, k);
        ids[k] = pull(0, image, "[\"node-3\"]");
    }
    for (int k = 0; k < n; k++) {
        wait_succeeded(ids[k], 30000, "a job of the round did not succeed everywhere");
        free(ids[k]);
    }
}

Test(redis, a_job_aged_out_of_its_nodes_history_leaves_redis_and_every_daemon, .timeout = 150)
{
    /* Daemon 3 keeps 16 jobs, the fewest table_jobs allows; daemons 1 and 2 keep 4096. */
    start_world_with("rage", NULL, NULL, 2, "table_jobs 16\n");
    char *first = pull(0, "busybox:first", "[\"node-3\"]");
    wait_succeeded(first, 30000, "the first job did not succeed everywhere");
    cr_assert_eq(node3_hash_holds(first), 1, "node-3's hash does not hold the first job");
    /* 16 more, 8 at a time (daemon 3's table holds the active ones): the 17th job takes the
     * slot of the one that finished first, on daemon 3. */
    pull_round("a", 8);
    pull_round("b", 8);
    gone_t g = {first, NULL};
    if (!h_wait(gone_everywhere, &g, 15000)) {
        for (int i = 0; i < N; i++) {
            json_t *job = get_job(i, first);
            fprintf(stderr, "daemon %d: %s\n", i + 1, job ? "still has the first job" : "dropped it");
            json_decref(job);
            h_dump_log(&w.d[i]);
        }
        cr_assert_fail("the aged-out job is still in node-3's hash (%d) or on a daemon", node3_hash_holds(first));
    }
    free(first);
    stop_world();
}

/*
 * A job on a node without a daemon ages out too: its records are the stand-in's, and no daemon of
 * node-4 will ever drop them, so the daemon whose table evicts the job drops it from every hash.
 * Its Kubernetes Job is still there (its TTL is an hour), and the stand-in, which lists it every
 * second here, does not bring the job back.
 */
Test(redis, a_job_on_a_node_without_a_daemon_ages_out_and_stays_out, .timeout = 150)
{
    w.sim_nodes = 4;
    start_world_with("rage4", NULL, NULL, 2, "table_jobs 16\n");
    char *first = pull(0, "busybox:first", "[\"node-4\"]");
    wait_succeeded(first, 30000, "the job on node-4 did not succeed everywhere");
    cr_assert_eq(hash_holds("node-4", first), 1, "node-4's hash does not hold the job");
    pull_round("a", 8);
    pull_round("b", 8);
    gone_t g = {first, "node-4"};
    cr_assert(h_wait(gone_everywhere, &g, 15000), "the aged-out job is still in node-4's hash (%d) or on a daemon",
              hash_holds("node-4", first));
    /* Several lists of the stand-in later (one a second with this TTL). */
    sleep(4);
    cr_assert(gone_everywhere(&g), "the stand-in brought the aged-out job back");
    free(first);
    stop_world();
}

/* Daemon 1's master figure `name` equals `v` within `timeout_ms`. */
static int stat_is(int i, const char *name, int64_t v, int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    while (master_stat(i, name) != v) {
        if (h_now_ms() > deadline)
            return 0;
        usleep(100 * 1000);
    }
    return 1;
}

/*
 * Checks that each 'reconnecting in N ms' of daemon `i`'s log held: the next attempt (the next
 * 'down' line, nothing listens) came no sooner than N ms after. Returns the lines checked.
 */
static int expect_reconnects_as_logged(int i)
{
    FILE *f = fopen(w.d[i].log, "r");
    cr_assert_not_null(f, "%s", w.d[i].log);
    char line[2048];
    int64_t prev_at = -1, prev_ms = 0;
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *in = strstr(line, "reconnecting in "), *ts = strstr(line, "\"ts\":\"");
        int hh, mm, ss, milli;
        if (in == NULL || ts == NULL || sscanf(ts + 17, "%d:%d:%d.%d", &hh, &mm, &ss, &milli) != 4)
            continue;
        int64_t at = ((int64_t)(hh * 60 + mm) * 60 + ss) * 1000 + milli;
        if (prev_at >= 0)
            cr_expect_geq(at - prev_at, prev_ms - 20, "the log said reconnecting in %lld ms; it was %lld ms",
                          (long long)prev_ms, (long long)(at - prev_at));
        prev_at = at;
        prev_ms = strtoll(in + strlen("reconnecting in "), NULL, 10);
        n++;
    }
    fclose(f);
    return n;
}

Test(redis, a_daemon_without_redis_serves_degraded_and_sighup_links_it_over_a_unix_socket, .timeout = 120)
{
    char sock[160];
    h_instance(sock, sizeof(sock), "rsock");
    char path[200];
    snprintf(path, sizeof(path), "/tmp/ipd-%s.sock", sock);
    const char *redis_args[] = {"--unixsocket", path, "--unixsocketperm", "700", NULL};
    /* Daemon 1 starts pointed at a port where nothing listens. */
    start_world("rhup", redis_args, NULL);
    char dead[64];
    snprintf(dead, sizeof(dead), "127.0.0.1:%d", h_free_port());
    h_stop(&w.d[0], SIGTERM, 15000);
    write_conf(0, dead);
    const char *args[] = {"-c", w.conf[0], NULL};
    w.d[0] = h_start_daemon(args, NULL);
    h_wait_ready(&w.d[0], w.port[0], 20000);
    cr_expect(stat_is(0, "redis_link_state", 1, 5000), "daemon 1's link is not reported down");
    /* The jittered backoff: each attempt comes when the log said it would. */
    uint64_t t0 = h_now_ms();
    while (h_log_count(&w.d[0], "reconnecting in ") < 5 && h_now_ms() - t0 < 20000)
        usleep(100 * 1000);
    cr_expect_geq(expect_reconnects_as_logged(0), 5, "fewer reconnects than expected");
    /* Degraded, not down: it serves its own node. */
    char *id = pull(1, "nginx:1.24", "[\"node-1\", \"node-2\"]");
    want_t own = {id, {1, 0, 0}, "node-1", "succeeded", NULL};
    wait_all(&own, 30000, "daemon 1 does not serve its own node without Redis");

    /* The same Redis over its unix socket, applied by SIGHUP. */
    char unix_redis[210];
    snprintf(unix_redis, sizeof(unix_redis), "unix:%s", path);
    write_conf(0, unix_redis);
    kill(w.d[0].pid, SIGHUP);
    cr_expect(stat_is(0, "redis_link_state", 3, 15000), "SIGHUP did not bring daemon 1's link up");
    expect_converged(id, 30000, "the daemons did not converge once daemon 1 was linked");
    free(id);
    stop_world();
    unlink(path);
}

/* A keep job's own members, as one daemon shows them. */
static char *keep_text(int i, const char *id)
{
    json_t *job = get_job(i, id);
    json_t *k = json_object();
    static const char *const keys[] = {"keep", "refresh_seconds", "node_selector", "all_nodes"};
    for (size_t n = 0; n < sizeof(keys) / sizeof(keys[0]); n++)
        json_object_set(k, keys[n], json_object_get(job, keys[n]) ? json_object_get(job, keys[n]) : json_null());
    char *text = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(k);
    json_decref(job);
    return text;
}

typedef struct keep_want {
    const char *id, *want;
    char seen[512];
} keep_want_t;

static int daemon_3_shows_the_keep_job(void *ctx)
{
    keep_want_t *k = ctx;
    char *text = keep_text(2, k->id);
    snprintf(k->seen, sizeof(k->seen), "%s", text);
    free(text);
    return strcmp(k->seen, k->want) == 0;
}

typedef struct tasks_want {
    const char *id, *node;
    size_t n;
    char seen[64];
    int skip; /* a daemon not asked (1..N), 0 for none */
} tasks_want_t;

/* Every daemon (but `skip`) shows job `id` with `n` tasks, none on `node`. */
static int all_show_tasks_without(void *ctx)
{
    tasks_want_t *t = ctx;
    for (int i = 0; i < N; i++) {
        if (i + 1 == t->skip)
            continue;
        json_t *job = get_job(i, t->id);
        size_t n = json_array_size(json_object_get(job, "tasks"));
        int ok = job != NULL && n == t->n && task_of(job, t->node) == NULL;
        snprintf(t->seen, sizeof(t->seen), "daemon %d: %zu tasks", i + 1, n);
        json_decref(job);
        if (!ok)
            return 0;
    }
    return 1;
}

/*
 * A node leaves a keep job (here deleted): its daemon deletes its Job and removes its task, and
 * so must every other daemon, which see that task only through Redis. Before, the node's daemon
 * showed the job on 2 nodes and the others on 3, the left node's last pull kept for ever. Its
 * record leaves its hash too, so a daemon that starts later does not bring it back.
 */
Test(redis, a_node_leaving_a_keep_job_leaves_it_on_every_daemon, .timeout = 120)
{
    start_world("rleave", NULL, NULL);
    char *id = post(0, "{\"image\": \"nginx:1.27\", \"keep\": true, \"all_nodes\": true}");
    want_t wt = {id, {1, 1, 1}, "node-3", "succeeded", NULL};
    wait_all(&wt, 30000, "node-3's task did not succeed on every daemon");
    h_sim_ok(w.sim.port, "DELETE", "/_sim/nodes/node-3", NULL);
    tasks_want_t t = {id, "node-3", 2, "", 0};
    cr_assert(h_wait(all_show_tasks_without, &t, 15000), "node-3's task did not leave every daemon (%s)", t.seen);
    hash_has_t has = {w.redis.port, "node-3", id};
    cr_expect(!hash_has_job(&has), "node-3's hash still holds the keep job");
    free(id);
    stop_world();
}

/*
 * The same while daemon 2 is down: it comes back on its table, which still holds node-3's task,
 * and reads no Stream entry from before its snapshot, so the leave reaches it only through the
 * snapshot (the node's {p}:left: hash). Before, daemon 2 showed the left node's last pull for
 * ever while the others did not.
 */
Test(redis, a_daemon_down_while_a_node_left_a_keep_job_leaves_it_at_its_resync, .timeout = 120)
{
    start_world("rleft", NULL, NULL);
    char *id = post(0, "{\"image\": \"nginx:1.27\", \"keep\": true, \"all_nodes\": true}");
    want_t wt = {id, {1, 1, 1}, "node-3", "succeeded", NULL};
    wait_all(&wt, 30000, "node-3's task did not succeed on every daemon");
    kill_daemon(1);
    h_sim_ok(w.sim.port, "DELETE", "/_sim/nodes/node-3", NULL);
    tasks_want_t t = {id, "node-3", 2, "", 2};
    cr_assert(h_wait(all_show_tasks_without, &t, 15000), "node-3's task did not leave daemons 1 and 3 (%s)", t.seen);
    start_daemon(1);
    h_wait_ready(&w.d[1], w.port[1], 20000);
    tasks_want_t all = {id, "node-3", 2, "", 0};
    cr_expect(h_wait(all_show_tasks_without, &all, 10000), "daemon 2 still shows node-3's task (%s)", all.seen);
    free(id);
    stop_world();
}

/*
 * The same for node-4, which has no daemon: the stand-in reads the Node of a node without a
 * daemon that has a keep job's Job, finds it deleted, deletes the Job and removes the task on
 * every daemon. Before, node-4's last pull stayed in the job for ever.
 */
Test(redis, a_deleted_node_without_a_daemon_leaves_a_keep_job_on_every_daemon, .timeout = 120)
{
    w.sim_nodes = 4;
    start_world("rleave4", NULL, NULL);
    char *id = post(0, "{\"image\": \"nginx:1.27\", \"keep\": true, \"all_nodes\": true}");
    want_t wt = {id, {1, 1, 1}, "node-4", "succeeded", NULL};
    wait_all(&wt, 30000, "node-4's task did not succeed on every daemon");
    h_sim_ok(w.sim.port, "DELETE", "/_sim/nodes/node-4", NULL);
    tasks_want_t t = {id, "node-4", 3, "", 0};
    cr_assert(h_wait(all_show_tasks_without, &t, 20000), "node-4's task did not leave every daemon (%s)", t.seen);
    char name[IPD_KUBE_JOB_NAME_SIZE];
    ipd_kube_job_name(id, "node-4", name);
    cr_expect(h_sim_job_gone(w.sim.port, name, 10000), "node-4's Job is still there");
    free(id);
    stop_world();
}

/* Every daemon shows job `id` with `n` tasks desired and shown, none on `node` (a tasks_want_t). */
static int all_desire_tasks_without(void *ctx)
{
    tasks_want_t *t = ctx;
    if (!all_show_tasks_without(t))
        return 0;
    for (int i = 0; i < N; i++) {
        json_t *job = get_job(i, t->id);
        json_int_t desired = json_integer_value(json_object_get(json_object_get(job, "nodes"), "desired"));
        snprintf(t->seen, sizeof(t->seen), "daemon %d: %d desired", i + 1, (int)desired);
        json_decref(job);
        if (desired != (json_int_t)t->n)
            return 0;
    }
    return 1;
}

/*
 * node-4, which has no daemon, is deleted right after a keep job was made on every node: the
 * stand-in's list that first finds node-4's Job publishes its task from it and reads its Node,
 * which is gone, in the same round. Before, the stand-in saw no task of node-4 in its model yet
 * (its record was on its way through Redis), wrote no leave and deleted the Job: the record then
 * arrived, and node-4's task stayed in the job for ever, the Job that would have made it leave
 * gone.
 */
Test(redis, a_node_without_a_daemon_deleted_as_a_keep_job_is_made_leaves_it, .timeout = 120)
{
    w.sim_nodes = 4;
    start_world("rleave4n", NULL, NULL);
    char *id = post(0, "{\"image\": \"nginx:1.27\", \"keep\": true, \"all_nodes\": true}");
    h_sim_ok(w.sim.port, "DELETE", "/_sim/nodes/node-4", NULL);
    tasks_want_t t = {id, "node-4", 3, "", 0};
    cr_assert(h_wait(all_desire_tasks_without, &t, 20000), "node-4's task did not leave every daemon (%s)", t.seen);
    /* Several lists of the stand-in later (a list a second at redis_liveness_ttl 3s). */
    usleep(4000 * 1000);
    cr_expect(all_desire_tasks_without(&t), "node-4's task came back (%s)", t.seen);
    char name[IPD_KUBE_JOB_NAME_SIZE];
    ipd_kube_job_name(id, "node-4", name);
    cr_expect(h_sim_job_gone(w.sim.port, name, 10000), "node-4's Job is still there");
    free(id);
    stop_world();
}

Test(redis, a_keep_jobs_selection_reaches_a_daemon_whose_node_it_does_not_match_yet, .timeout = 120)
{
    start_world("rkeep", NULL, NULL);
    sim_post("/_sim/nodes/node-1/labels", "{\"labels\": {\"pool\": \"warm\"}}");
    sim_post("/_sim/nodes/node-2/labels", "{\"labels\": {\"pool\": \"warm\"}}");
    char *id = post(0, "{\"image\": \"nginx:1.27\", \"keep\": true, \"refresh_seconds\": 3600, "
                       "\"node_selector\": {\"pool\": \"warm\"}}");
    want_t wt = {id, {1, 1, 1}, "node-2", "succeeded", NULL};
    wait_all(&wt, 30000, "node-2's task did not succeed on every daemon");
    /* Daemon 3 sees no Job of the job (node scope), only the Redis records: they carry the keep. */
    char *want = keep_text(0, id);
    cr_assert(strstr(want, "\"keep\":true") != NULL && strstr(want, "\"refresh_seconds\":3600") != NULL &&
                  strstr(want, "pool") != NULL,
              "daemon 1 shows %s", want);
    keep_want_t k = {id, want, ""};
    cr_expect(h_wait(daemon_3_shows_the_keep_job, &k, 10000), "daemon 3 shows %s, daemon 1 %s", k.seen, want);
    /* Node 3 joins the pool: its daemon follows the selection it learned through Redis. */
    sim_post("/_sim/nodes/node-3/labels", "{\"labels\": {\"pool\": \"warm\"}}");
    want_t w3 = {id, {1, 1, 1}, "node-3", "succeeded", NULL};
    wait_all(&w3, 30000, "node-3 did not pull for the keep job");
    free(want);
    free(id);
    stop_world();
}

Test(redis, a_restarted_daemon_without_a_task_of_a_keep_job_keeps_it, .timeout = 120)
{
    start_world("ranchor", NULL, NULL);
    sim_post("/_sim/nodes/node-1/labels", "{\"labels\": {\"pool\": \"warm\"}}");
    char *id = post(0, "{\"image\": \"nginx:1.27\", \"keep\": true, \"node_selector\": {\"pool\": \"warm\"}}");
    want_t wt = {id, {1, 1, 1}, "node-1", "succeeded", NULL};
    wait_all(&wt, 30000, "node-1's task did not succeed on every daemon");
    /*
     * Daemon 3 restarts on its table. Its node has no Job of the keep job, and a node daemon with
     * Redis lists only its own node's Jobs: it must still see the anchor Job, else it takes the
     * job for cancelled while no master ran.
     */
    cr_assert_eq(h_stop(&w.d[2], SIGTERM, 15000), 0);
    start_daemon(2);
    h_wait_ready(&w.d[2], w.port[2], 20000);
    usleep(2000 * 1000);
    json_t *job = get_job(2, id);
    cr_expect_str_eq(str(job, "state"), "keeping", "daemon 3 after its restart");
    json_decref(job);
    /* And it still follows the selection: node 3 joins the pool and pulls. */
    sim_post("/_sim/nodes/node-3/labels", "{\"labels\": {\"pool\": \"warm\"}}");
    want_t w3 = {id, {1, 1, 1}, "node-3", "succeeded", NULL};
    wait_all(&w3, 30000, "node-3 did not pull for the keep job after its daemon restarted");
    free(id);
    stop_world();
}

/* ---- keep jobs that follow pods, in node scope ---- */

/* Every running daemon shows exactly one `state` job of `image`, the same one (its id in `id`). */
typedef struct image_everywhere {
    const char *image, *state;
    char id[64], seen[256];
} image_everywhere_t;

static int one_job_everywhere(void *ctx)
{
    image_everywhere_t *ie = ctx;
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs?image=%s&state=%s", ie->image, ie->state);
    ie->id[0] = '\0';
    size_t used = 0;
    int ok = 1;
    for (int i = 0; i < N; i++) {
        if (w.d[i].pid <= 0)
            continue;
        json_t *list = h_http_json(w.port[i], "GET", path, NULL, NULL);
        json_t *jobs = json_object_get(list, "jobs");
        const char *id = str(json_array_get(jobs, 0), "id");
        used +=
            (size_t)snprintf(ie->seen + used, sizeof(ie->seen) - used, " daemon %d: %zu", i + 1, json_array_size(jobs));
        if (used >= sizeof(ie->seen))
            used = sizeof(ie->seen) - 1;
        if (json_array_size(jobs) != 1 || (ie->id[0] != '\0' && strcmp(ie->id, id) != 0))
            ok = 0;
        else
            snprintf(ie->id, sizeof(ie->id), "%s", id);
        json_decref(list);
    }
    return ok;
}

#define expect_one_job_everywhere(image, state, timeout_ms, ie)                                                        \
    do {                                                                                                               \
        *(ie) = (image_everywhere_t){image, state, "", ""};                                                            \
        cr_assert(h_wait(one_job_everywhere, (ie), timeout_ms), "%s %s jobs:%s", image, state, (ie)->seen);            \
    } while (0)

/* Keep jobs in the simulator: their anchor Jobs. */
static size_t anchors(void)
{
    json_t *list =
        h_http_json(w.sim.port, "GET",
                    "/apis/batch/v1/namespaces/imgpulld/jobs?labelSelector=imgpulld.io%2Fanchor%3Dtrue", NULL, NULL);
    size_t n = json_array_size(json_object_get(list, "items"));
    json_decref(list);
    return n;
}

/* Lists of namespace default's pods the simulator answered in the last `ms` milliseconds. */
static size_t pod_lists_over(int ms)
{
    h_sim_ok(w.sim.port, "DELETE", "/_sim/requests", NULL);
    usleep((useconds_t)ms * 1000);
    json_t *log = h_http_json(w.sim.port, "GET", "/_sim/requests", NULL, NULL);
    size_t i, n = 0;
    json_t *r;
    json_array_foreach(json_object_get(log, "recent"), i, r)
    {
        n += strcmp(str(r, "verb"), "list") == 0 && strcmp(str(r, "path"), "/api/v1/namespaces/default/pods") == 0;
    }
    json_decref(log);
    return n;
}

/*
 * A rollout under a pod_selector keep job POSTed to daemon `via`: the new image gets one keep job
 * (one anchor in the cluster, the same job on every daemon), the old one ends once its last pod is
 * gone.
 */
static void follow_rollout(int via)
{
    h_sim_web_pod(w.sim.port, "web-a", "shop/web:2");
    char *id = post(via, "{\"pod_selector\":{\"namespace\":\"default\",\"matchLabels\":{\"app\":\"web\"}},"
                         "\"keep\":true}");
    image_everywhere_t ie;
    expect_one_job_everywhere("shop/web:2", "keeping", 30000, &ie);
    cr_assert_str_eq(ie.id, id);
    h_sim_web_pod(w.sim.port, "web-b", "shop/web:3");
    expect_one_job_everywhere("shop/web:3", "keeping", 30000, &ie);
    /* No second job for the same image from another daemon, a few polls later. */
    usleep(3000 * 1000);
    cr_expect(one_job_everywhere(&ie), "shop/web:3 jobs:%s", ie.seen);
    cr_expect_eq(anchors(), 2, "anchor Jobs: one per image");
    want_t all = {ie.id, {1, 1, 1}, "node-3", "succeeded", NULL};
    wait_all(&all, 30000, "the new image was not pulled on node-3");
    h_sim_ok(w.sim.port, "DELETE", "/api/v1/namespaces/default/pods/web-a", NULL);
    want_t gone = {id, {1, 1, 1}, NULL, NULL, "cancelled"};
    wait_all(&gone, 30000, "the old image's job did not end everywhere");
    /* One daemon lists the pods, once a keep_pod_poll: about 6 in 6 s, where 3 daemons would make 18. */
    size_t lists = pod_lists_over(6000);
    fprintf(stderr, "pod lists in 6 s with 3 daemons, keep_pod_poll 1s: %zu\n", lists);
    cr_expect(lists >= 2 && lists <= 8, "pod lists in 6 s: %zu", lists);
    free(id);
}

/* The node whose daemon holds the Redis lease of the one followed selection ("" if none). */
static void lease_holder(char *out, size_t cap)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd),
             "redis-cli -p %d EVAL \"local k = redis.call('KEYS', ARGV[1]) if #k == 1 then return "
             "redis.call('GET', k[1]) end return ''\" 0 '{imgpulld}:lease:follow-*'",
             w.redis.port);
    out[0] = '\0';
    h_sh(cmd, out, cap);
    out[strcspn(out, "\n")] = '\0';
}

Test(redis, a_pod_selector_keep_job_follows_its_pods_once_and_another_daemon_takes_over, .timeout = 180)
{
    start_world("rfollow", NULL, "keep_pod_poll 1s\n");
    follow_rollout(0);
    char holder[64];
    lease_holder(holder, sizeof(holder));
    cr_assert(strncmp(holder, "node-", 5) == 0 && holder[5] >= '1' && holder[5] <= '3', "lease holder: %s", holder);
    /* The daemon that follows dies: another takes the lease once it expires and follows on. */
    int dead = holder[5] - '1';
    kill_daemon(dead);
    h_sim_web_pod(w.sim.port, "web-c", "shop/web:4");
    image_everywhere_t ie;
    expect_one_job_everywhere("shop/web:4", "keeping", 40000, &ie);
    char next[64];
    lease_holder(next, sizeof(next));
    cr_expect(strncmp(next, "node-", 5) == 0 && strcmp(next, holder) != 0, "lease went from %s to %s", holder, next);
    usleep(3000 * 1000);
    cr_expect(one_job_everywhere(&ie), "shop/web:4 jobs:%s", ie.seen);
    cr_expect_eq(anchors(), 2, "anchor Jobs: web:3 and web:4");
    /* Back, it converges. */
    start_daemon(dead);
    h_wait_ready(&w.d[dead], w.port[dead], 20000);
    expect_one_job_everywhere("shop/web:4", "keeping", 30000, &ie);
    stop_world();
}

/*
 * A clean stop of the daemon that follows gives its lease back: the key no longer names it once
 * the daemon has exited, and another daemon follows within a claim or two, not after the lease
 * time (15 s, the liveness TTL).
 */
Test(redis, a_daemon_that_stops_cleanly_gives_its_follow_lease_back, .timeout = 120)
{
    start_world("rfollowstop", NULL, "keep_pod_poll 1s\n");
    h_sim_web_pod(w.sim.port, "web-a", "shop/web:2");
    char *id = post(0, "{\"pod_selector\":{\"namespace\":\"default\",\"matchLabels\":{\"app\":\"web\"}},"
                       "\"keep\":true}");
    image_everywhere_t ie;
    expect_one_job_everywhere("shop/web:2", "keeping", 30000, &ie);
    char holder[64] = "";
    for (uint64_t until = h_now_ms() + 10000; holder[0] == '\0' && h_now_ms() < until; usleep(100 * 1000))
        lease_holder(holder, sizeof(holder));
    cr_assert(strncmp(holder, "node-", 5) == 0 && holder[5] >= '1' && holder[5] <= '3', "lease holder: %s", holder);
    int stopped = holder[5] - '1';
    uint64_t t0 = h_now_ms();
    cr_assert_eq(h_stop(&w.d[stopped], SIGTERM, 15000), 0);
    uint64_t stop_ms = h_now_ms() - t0;
    char after[64];
    lease_holder(after, sizeof(after));
    fprintf(stderr, "clean stop of the lease holder %s: %llu ms; then the key names \"%s\"\n", holder,
            (unsigned long long)stop_ms, after);
    cr_expect_neq(strcmp(after, holder), 0, "the stopped daemon %s still holds the lease", holder);
    /* Another daemon claims it at its next poll (keep_pod_poll 1s). */
    for (uint64_t until = h_now_ms() + 5000;
         (strncmp(after, "node-", 5) != 0 || strcmp(after, holder) == 0) && h_now_ms() < until; usleep(100 * 1000))
        lease_holder(after, sizeof(after));
    fprintf(stderr, "the lease named %s %llu ms after the stop began\n", after, (unsigned long long)(h_now_ms() - t0));
    cr_expect(strncmp(after, "node-", 5) == 0 && strcmp(after, holder) != 0,
              "no other daemon took the lease within 5 s: \"%s\"", after);
    free(id);
    stop_world();
}

Test(redis, without_redis_the_first_nodes_daemon_follows_the_pods, .timeout = 150)
{
    w.no_redis = 1;
    start_world("rfollow0", NULL, "keep_pod_poll 1s\n");
    /* Accepted by daemon 2; node-1's daemon follows (the first node of the oldest job). */
    follow_rollout(1);
    stop_world();
}

/*
 * Redis with an ACL user that may run only the commands docs/operations.md lists, on the
 * prefix's keys: every script the daemons run is allowed (docs/operations.md, "Redis"). The
 * daemons log in with redis_username and redis_password_file; a pull onto a node with a daemon
 * and one without (the stand-in's lease and scripts), a keep job a node leaves (the leave, and a
 * restart's snapshot reading the {p}:left: hashes), and stops that give the stand-in's lease back
 * (DEL) all work, and no daemon logs a command refused.
 */
Test(redis, the_documented_acl_lets_every_script_run, .timeout = 150)
{
    char pw[64];
    snprintf(pw, sizeof(pw), "/tmp/ipd-acl-%d.pw", (int)getpid());
    h_write_file(pw, "acl-secret-1\n");
    const char *acl[] = {"--user",  "ipd",       "on",       ">acl-secret-1", "~{imgpulld}:*", "-@all",
                         "+eval",   "+xread",    "+ping",    "+auth",         "+incr",         "+incrby",
                         "+hset",   "+hdel",     "+sadd",    "+xadd",         "+set",          "+get",
                         "+exists", "+smembers", "+hgetall", "+xrevrange",    "+pexpire",      "+hkeys",
                         "+time",   "+hget",     "+hexists", "+hincrby",      "+del",          NULL};
    char extra[160];
    snprintf(extra, sizeof(extra), "redis_username ipd\nredis_password_file %s\n", pw);
    w.sim_nodes = 4;
    start_world("racl", acl, extra);
    char *keep = post(0, "{\"image\": \"nginx:1.27\", \"keep\": true, \"all_nodes\": true}");
    char *id = pull(1, "busybox:acl", "[\"node-1\", \"node-4\"]");
    want_t done = {id, {1, 1, 1}, "node-4", "succeeded", "succeeded"};
    wait_all(&done, 30000, "the pull onto node-4 (no daemon) did not succeed on every daemon");
    want_t kept = {keep, {1, 1, 1}, "node-3", "succeeded", NULL};
    wait_all(&kept, 30000, "node-3's keep task did not succeed on every daemon");
    h_sim_ok(w.sim.port, "DELETE", "/_sim/nodes/node-3", NULL);
    tasks_want_t left = {keep, "node-3", 3, "", 0};
    cr_assert(h_wait(all_show_tasks_without, &left, 15000), "node-3 did not leave the keep job (%s)", left.seen);
    cr_assert_eq(h_stop(&w.d[0], SIGTERM, 15000), 0, "daemon 1 did not stop cleanly");
    start_daemon(0);
    h_wait_ready(&w.d[0], w.port[0], 20000);
    tasks_want_t again = {keep, "node-3", 3, "", 0};
    cr_expect(h_wait(all_show_tasks_without, &again, 10000), "after daemon 1's restart: %s", again.seen);
    for (int i = 0; i < N; i++) {
        cr_expect_eq(h_stop(&w.d[i], SIGTERM, 15000), 0, "daemon %d did not stop cleanly", i + 1);
        /* Redis's words for a command a script may not run, or one sent itself (NOPERM). */
        size_t refused = h_log_count(&w.d[i], "can't run this command") + h_log_count(&w.d[i], "NOPERM");
        cr_expect_eq(refused, 0, "daemon %d ran a command the ACL refuses", i + 1);
        if (refused > 0)
            h_dump_log(&w.d[i]);
    }
    char cmd[160], out[128] = "";
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d EXISTS '{imgpulld}:lease:stand-in'", w.redis.port);
    h_sh(cmd, out, sizeof(out));
    cr_expect_eq(atoi(out), 0, "the stand-in's lease was not given back: EXISTS says %s", out);
    free(id);
    free(keep);
    stop_world();
}
