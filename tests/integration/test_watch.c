/*
 * The master's list+watch against the simulator: the table converges to the simulator's state
 * after every fault the simulator can inject.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "proto/error.h"
#include "proto/kube_job.h"
#include "proto/kube_pod.h"
#include "proto/rfc3339.h"
#include "shared/pulljobs.h"
#include "shared/stats_segment.h"
#include "shared/table.h"

typedef struct world {
    h_proc_t sim, daemon;
    char instance[64];
    ipd_table_t *table;
} world_t;

static world_t w;

static void start_sim(const char *const *sim_args)
{
    memset(&w, 0, sizeof(w));
    w.sim = h_start_kubesim(sim_args);
}

/* Starts the daemon on the instance in w.instance (a new one when `tag` is not NULL). */
static void start_daemon(const char *tag, const char *const *env)
{
    if (tag != NULL)
        h_instance(w.instance, sizeof(w.instance), tag);
    char server[64];
    snprintf(server, sizeof(server), "http://127.0.0.1:%d", w.sim.port);
    const char *args[] = {"--kube-server", server, "--instance",  w.instance, "--listen", "127.0.0.1:0",
                          "--workers",     "1",    "--log-level", "debug",    NULL};
    w.daemon = h_start_daemon(args, env);
    uint64_t deadline = h_now_ms() + 15000;
    while (ipd_table_attach_readonly(w.instance, &w.table) != 0) {
        if (h_now_ms() > deadline) {
            h_dump_log(&w.daemon);
            cr_assert_fail("the daemon did not create its table");
        }
        usleep(20000);
    }
}

/* Stops what a test started; also runs as the suite's fini, so a failed assertion leaks nothing. */
static int release_world(void)
{
    int st = h_stop(&w.daemon, SIGTERM, 10000);
    h_stop(&w.sim, SIGTERM, 5000);
    if (w.table != NULL)
        ipd_table_destroy(w.table);
    w.table = NULL;
    if (w.instance[0] != '\0') {
        ipd_table_unlink(w.instance);
        ipd_stats_unlink(w.instance);
    }
    return st;
}

static void stop_world(void)
{
    int st = release_world();
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the daemon did not stop cleanly (status %d)", st);
}

static void fini_world(void)
{
    release_world();
}

TestSuite(watch, .fini = fini_world);

/* ---- creating jobs through the library, on a private loop ---- */

typedef struct create_ctx {
    int done, error;
    char ids[8][IPD_JOB_ID_SIZE];
    size_t n;
    char message[512];
} create_ctx_t;

static void on_created(const ipd_pull_result_t *res, void *data)
{
    create_ctx_t *c = data;
    c->done = 1;
    c->error = res->error;
    if (res->message)
        snprintf(c->message, sizeof(c->message), "%s", res->message);
    for (size_t i = 0; i < res->njobs && i < 8; i++)
        snprintf(c->ids[c->n++], IPD_JOB_ID_SIZE, "%s", res->jobs[i].job.id);
}

static void drive(ipd_kube_t *kube, const int *done)
{
    int epfd, tfd;
    ipd_kube_fds(kube, &epfd, &tfd);
    uint64_t deadline = h_now_ms() + 20000;
    while (!*done && h_now_ms() < deadline) {
        struct pollfd p[2] = {{.fd = epfd, .events = POLLIN}, {.fd = tfd, .events = POLLIN}};
        if (poll(p, 2, 100) > 0) {
            if (p[0].revents)
                ipd_kube_on_epoll_ready(kube);
            if (p[1].revents)
                ipd_kube_on_timer_ready(kube);
        }
    }
    cr_assert(*done, "the Kubernetes request did not finish");
}

static create_ctx_t create_jobs(const char *body)
{
    ipd_pull_request_t req;
    char msg[256], server[64];
    ipd_pull_limits_t lim = {.max_images = 8, .max_nodes = 100, .max_selector_terms = 4};
    cr_assert_eq(ipd_pull_request_parse(body, strlen(body), &lim, &req, msg, sizeof(msg)), 0, "%s", msg);
    ipd_kube_config_t kc;
    memset(&kc, 0, sizeof(kc));
    snprintf(server, sizeof(server), "http://127.0.0.1:%d", w.sim.port);
    cr_assert_eq(ipd_kube_config_server(&kc, server, NULL, NULL, msg, sizeof(msg)), 0);
    ipd_kube_t *kube;
    cr_assert_eq(ipd_kube_create(&kube, &kc, NULL), 0);
    create_ctx_t c;
    memset(&c, 0, sizeof(c));
    ipd_pull_options_t opts = {.ns = "imgpulld", .max_nodes = 100};
    cr_assert_eq(ipd_pull_create(kube, &req, &opts, on_created, &c, NULL), 0);
    drive(kube, &c.done);
    ipd_kube_destroy(kube);
    ipd_pull_request_dispose(&req);
    return c;
}

/* ---- reading the table ---- */

typedef struct view {
    ipd_job_t job;
    ipd_task_t tasks[16];
    size_t ntasks;
} view_t;

static int get_job(const char *id, view_t *v)
{
    ipd_table_job_view_t tv = {.job = &v->job, .tasks = v->tasks, .task_cap = 16};
    int rc = ipd_table_get_job(w.table, id, &tv);
    v->ntasks = tv.ntasks;
    return rc;
}

static const ipd_task_t *task_of(const view_t *v, const char *node)
{
    for (size_t i = 0; i < v->ntasks; i++)
        if (strcmp(v->tasks[i].node, node) == 0)
            return &v->tasks[i];
    return NULL;
}

/* ---- the oracle: what the simulator says each task is ---- */

static const char *str_at(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t created_of(const json_t *obj)
{
    int64_t ms = 0;
    const char *c = str_at(json_object_get(obj, "metadata"), "creationTimestamp");
    if (c != NULL)
        ipd_time_parse(c, strlen(c), &ms);
    return ms;
}

static int pod_failed(const json_t *pod)
{
    const char *phase = str_at(json_object_get(pod, "status"), "phase");
    return phase != NULL && strcmp(phase, "Failed") == 0;
}

/* Orders two pods of one Job as the daemon must: creation time, then a pod that has not failed. */
static int pod_cmp(const json_t *a, const json_t *b)
{
    int64_t ca = created_of(a), cb = created_of(b);
    if (ca != cb)
        return ca < cb ? -1 : 1;
    return pod_failed(b) - pod_failed(a);
}

static int owned_by(const json_t *pod, const char *kjob)
{
    const json_t *meta = json_object_get(pod, "metadata");
    const char *owner = str_at(json_object_get(meta, "labels"), "job-name");
    return owner != NULL && strcmp(owner, kjob) == 0 && json_object_get(meta, "deletionTimestamp") == NULL;
}

/* The newest pod of the Job `kjob`, or NULL. */
static const json_t *newest_pod(const json_t *pods, const char *kjob)
{
    const json_t *best = NULL, *p;
    size_t i;
    json_array_foreach(pods, i, p)
    {
        if (owned_by(p, kjob) && (best == NULL || pod_cmp(p, best) > 0))
            best = p;
    }
    return best;
}

/* True if `name` is a pod of `kjob` that ties with the newest one (the order within is unknowable). */
static int among_newest(const json_t *pods, const char *kjob, const json_t *newest, const char *name)
{
    const json_t *p;
    size_t i;
    json_array_foreach(pods, i, p)
    {
        if (owned_by(p, kjob) && pod_cmp(p, newest) == 0 &&
            strcmp(str_at(json_object_get(p, "metadata"), "name"), name) == 0)
            return 1;
    }
    return 0;
}

static size_t pod_events(const json_t *events, const char *pod, ipd_kube_event_t *out, size_t cap)
{
    size_t n = 0, i;
    const json_t *e;
    json_array_foreach(events, i, e)
    {
        ipd_kube_event_t ev;
        if (n < cap && ipd_kube_event_parse(e, &ev) == 0 && strcmp(ev.pod, pod) == 0)
            out[n++] = ev;
    }
    return n;
}

/*
 * True when every Job of the simulator has its task in the table with the newest pod and the
 * state that pod maps to, and every active job of the table still has Jobs in the simulator.
 * `why` receives the first difference.
 */
static int table_matches_sim(char *why, size_t cap) __attribute__((noinline));
static int table_matches_sim(char *why, size_t cap)
{
    json_t *st = h_http_json(w.sim.port, "GET", "/_sim/state", NULL, NULL);
    if (st == NULL) {
        snprintf(why, cap, "no simulator state");
        return 0;
    }
    const json_t *kjobs = json_object_get(st, "jobs"), *pods = json_object_get(st, "pods");
    const json_t *events = json_object_get(st, "events"), *kj;
    size_t i;
    int ok = 1;
    json_array_foreach(kjobs, i, kj)
    {
        ipd_kube_job_info_t info;
        if (!ok || ipd_kube_job_parse(kj, &info) != 0)
            continue;
        view_t v;
        if (get_job(info.job_id, &v) != 0) {
            snprintf(why, cap, "job %s missing from the table", info.job_id);
            ok = 0;
            break;
        }
        const ipd_task_t *t = task_of(&v, info.node);
        const json_t *pod = newest_pod(pods, info.name);
        if (t == NULL) {
            snprintf(why, cap, "job %s has no task for %s", info.job_id, info.node);
            ok = 0;
        } else if (pod != NULL) {
            const char *name = str_at(json_object_get(pod, "metadata"), "name");
            ipd_kube_event_t evs[32];
            size_t n = pod_events(events, name, evs, 32);
            ipd_task_t expect;
            ipd_kube_pod_map(pod, evs, n, info.failed, 0, &expect);
            if ((strcmp(t->pod, name) != 0 && !among_newest(pods, info.name, pod, t->pod)) ||
                t->state != expect.state) {
                snprintf(why, cap, "job %s node %s: table has pod %s state %s, simulator pod %s maps to %s",
                         info.job_id, info.node, t->pod, ipd_task_state_name(t->state), name,
                         ipd_task_state_name(expect.state));
                ok = 0;
            }
        }
    }
    ipd_table_ref_t refs[256];
    size_t count = 0;
    ipd_table_list(w.table, IPD_TABLE_LIST_ACTIVE, refs, 256, &count, NULL, NULL);
    for (size_t r = 0; ok && r < count; r++) {
        ipd_job_t job;
        ipd_table_job_view_t tv = {.job = &job};
        if (ipd_table_get_job_at(w.table, refs[r], &tv) != 0 && tv.job->id[0] == '\0')
            continue;
        int found = 0;
        json_array_foreach(kjobs, i, kj)
        {
            const char *id = str_at(json_object_get(json_object_get(kj, "metadata"), "labels"), IPD_LABEL_JOB);
            found |= id != NULL && strcmp(id, job.id) == 0;
        }
        if (!found) {
            snprintf(why, cap, "active job %s has no Job in the simulator", job.id);
            ok = 0;
        }
    }
    json_decref(st);
    return ok;
}

static char last_why[2048];

static int converged(void *ctx)
{
    (void)ctx;
    return table_matches_sim(last_why, sizeof(last_why));
}

static void assert_converges(const char *after)
{
    if (!h_wait(converged, NULL, 30000)) {
        h_dump_log(&w.daemon);
        cr_assert_fail("after %s the table did not converge: %s", after, last_why);
    }
}

static int all_final(void *ctx)
{
    create_ctx_t *c = ctx;
    for (size_t i = 0; i < c->n; i++) {
        view_t v;
        if (get_job(c->ids[i], &v) != 0 || !ipd_job_state_is_final((ipd_job_state_t)v.job.state))
            return 0;
    }
    return 1;
}

static long sim_post(const char *path, const char *body)
{
    long status = 0;
    json_t *r = h_http_json(w.sim.port, "POST", path, body, &status);
    json_decref(r);
    return status;
}

static uint64_t request_count(const char *needle)
{
    h_resp_t r;
    uint64_t n = 0;
    if (h_http(w.sim.port, "GET", "/_sim/requests", NULL, NULL, &r) == 0 && r.body != NULL)
        for (const char *p = r.body; (p = strstr(p, needle)) != NULL; p++)
            n++;
    h_resp_free(&r);
    return n;
}

static void start_world(const char *tag, const char *const *sim_args, const char *const *env)
{
    start_sim(sim_args);
    start_daemon(tag, env);
}

static void dump_jobs(const create_ctx_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        view_t v;
        int rc = get_job(c->ids[i], &v);
        fprintf(stderr, "job %s: rc %d state %s\n", c->ids[i], rc, ipd_job_state_name(v.job.state));
        for (size_t t = 0; rc == 0 && t < v.ntasks; t++)
            fprintf(stderr, "  %s pod %s %s %s %s\n", v.tasks[t].node, v.tasks[t].pod,
                    ipd_task_state_name(v.tasks[t].state), v.tasks[t].reason, v.tasks[t].message);
    }
}

static void wait_final(create_ctx_t *c)
{
    if (!h_wait(all_final, c, 40000)) {
        h_dump_log(&w.daemon);
        dump_jobs(c);
        cr_assert_fail("the jobs did not all reach a final state");
    }
}

Test(watch, initial_list_spans_pages_and_fills_the_table)
{
    const char *sim[] = {"--nodes", "3", "--pull-ms", "200", NULL};
    start_sim(sim);
    create_ctx_t c[4];
    const char *images[4] = {"docker.io/library/nginx:1.27", "docker.io/library/redis:7", "quay.io/a/b:1",
                             "ghcr.io/team/app:v2"};
    for (int i = 0; i < 4; i++) {
        char body[256];
        snprintf(body, sizeof(body), "{\"image\":\"%s\",\"all_nodes\":true}", images[i]);
        c[i] = create_jobs(body);
        cr_assert_eq(c[i].error, 0, "%s", c[i].message);
    }
    const char *env[] = {"IMGPULLD_LIST_PAGE_SIZE=2", NULL};
    start_daemon("pages", env);
    assert_converges("the initial list");
    for (int i = 0; i < 4; i++) {
        view_t v;
        cr_assert_eq(get_job(c[i].ids[0], &v), 0, "job %s missing", c[i].ids[0]);
        cr_assert_eq(v.ntasks, 3);
        cr_assert_str_eq(v.job.image, images[i]);
    }
    /* 12 Jobs and 12 pods at 2 per page: at least 5 follow-up pages each. */
    cr_assert_geq(request_count("continue="), 10, "list pages with continue: %llu",
                  (unsigned long long)request_count("continue="));
    stop_world();
}

/* The real pull of job `id` on `node` in the simulator: a Pulled event that is not "already present". */
static int sim_pulled(const char *id, const char *node, int64_t *ms, int64_t *bytes)
{
    char prefix[IPD_KUBE_JOB_NAME_SIZE + 1];
    ipd_kube_job_name(id, node, prefix);
    strcat(prefix, "-");
    json_t *st = h_http_json(w.sim.port, "GET", "/_sim/state", NULL, NULL);
    size_t i;
    const json_t *e;
    int found = 0;
    json_array_foreach(json_object_get(st, "events"), i, e)
    {
        ipd_kube_event_t ev;
        const char *msg = str_at(e, "message");
        if (!found && ipd_kube_event_parse(e, &ev) == 0 && !ev.init_container &&
            strncmp(ev.pod, prefix, strlen(prefix)) == 0 && strcmp(ev.reason, "Pulled") == 0 && msg != NULL &&
            strncmp(msg, "Successfully", 12) == 0)
            found = ipd_kube_pulled_parse(msg, strlen(msg), ms, bytes) == 0;
    }
    json_decref(st);
    return found;
}

Test(watch, created_jobs_reach_final_states_with_reasons_durations_and_sizes)
{
    const char *sim[] = {"--nodes", "3", "--pull-ms", "300", "--fail-pattern", "^registry\\.invalid/", NULL};
    start_world("final", sim, NULL);
    create_ctx_t ok = create_jobs("{\"image\":\"docker.io/library/httpd:2.4.62\",\"all_nodes\":true}");
    create_ctx_t bad =
        create_jobs("{\"image\":\"registry.invalid/team/app:2\",\"nodes\":[\"node-1\"],\"backoff_limit\":1}");
    cr_assert_eq(ok.error, 0, "%s", ok.message);
    cr_assert_eq(bad.error, 0, "%s", bad.message);
    wait_final(&ok);
    wait_final(&bad);

    view_t v;
    cr_assert_eq(get_job(ok.ids[0], &v), 0);
    cr_assert_eq(v.job.state, IPD_JOB_SUCCEEDED);
    cr_assert_eq(v.job.nodes.succeeded, 3);
    cr_assert_neq(v.job.finished_at, IPD_TIME_NULL);
    for (size_t i = 0; i < v.ntasks; i++) {
        int64_t ms, bytes;
        cr_assert_eq(v.tasks[i].state, IPD_TASK_SUCCEEDED);
        cr_assert(sim_pulled(v.job.id, v.tasks[i].node, &ms, &bytes), "no Pulled event for %s", v.tasks[i].node);
        cr_assert_eq(v.tasks[i].pull_ms, ms, "node %s: pull_ms %lld, event says %lld", v.tasks[i].node,
                     (long long)v.tasks[i].pull_ms, (long long)ms);
        cr_assert_eq(v.tasks[i].image_bytes, bytes);
        cr_assert_geq(ms, 300, "pod %s: the simulator's Pulled event says %lld ms", v.tasks[i].pod, (long long)ms);
        cr_assert_gt(bytes, 0);
    }

    cr_assert_eq(get_job(bad.ids[0], &v), 0);
    cr_assert_eq(v.job.state, IPD_JOB_FAILED);
    cr_assert_eq(v.ntasks, 1);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_FAILED);
    cr_assert(strcmp(v.tasks[0].reason, "ErrImagePull") == 0 || strcmp(v.tasks[0].reason, "ImagePullBackOff") == 0 ||
                  strcmp(v.tasks[0].reason, "BackoffLimitExceeded") == 0,
              "reason %s", v.tasks[0].reason);
    cr_assert_geq(v.tasks[0].attempts, 1);
    cr_assert_str_eq(v.job.error_reason, v.tasks[0].reason);
    stop_world();
}

/* Jobs whose pulls take a while, so that the fault lands while they change. */
static void create_slow_jobs(create_ctx_t *a, create_ctx_t *b)
{
    *a = create_jobs("{\"image\":\"docker.io/library/nginx:1.27\",\"all_nodes\":true}");
    *b = create_jobs("{\"image\":\"docker.io/library/redis:7\",\"all_nodes\":true,\"parallelism\":1}");
    cr_assert_eq(a->error, 0, "%s", a->message);
    cr_assert_eq(b->error, 0, "%s", b->message);
}

static const char *const slow_sim[] = {"--nodes", "3", "--pull-ms", "1500", NULL};

Test(watch, dropped_watches_resume_and_converge)
{
    start_world("drop", slow_sim, NULL);
    create_ctx_t a, b;
    create_slow_jobs(&a, &b);
    uint64_t before = request_count("\"verb\":\"watch\"");
    for (int i = 0; i < 3; i++) {
        usleep(400000);
        cr_assert_eq(sim_post("/_sim/watches/drop", "{}"), 200);
    }
    wait_final(&a);
    wait_final(&b);
    assert_converges("dropped watches");
    cr_assert_gt(request_count("\"verb\":\"watch\""), before, "no watch was restarted");
    stop_world();
}

Test(watch, gone_storm_relists_and_converges)
{
    start_world("gone", slow_sim, NULL);
    create_ctx_t a, b;
    create_slow_jobs(&a, &b);
    for (int i = 0; i < 4; i++) {
        usleep(300000);
        cr_assert_eq(sim_post("/_sim/compact", "{\"error_watches\":true}"), 200);
    }
    wait_final(&a);
    wait_final(&b);
    assert_converges("a 410 storm");
    cr_assert(h_log_contains(&w.daemon, "watch error 410") || h_log_contains(&w.daemon, "list complete"),
              "no relist was logged");
    stop_world();
}

Test(watch, throttling_and_server_errors_back_off_and_converge)
{
    const char *env[] = {"IMGPULLD_WATCH_BACKOFF_MAX=2s", NULL};
    start_world("errors", slow_sim, env);
    create_ctx_t a, b;
    create_slow_jobs(&a, &b);
    cr_assert_eq(sim_post("/_sim/inject", "{\"count\":6,\"code\":429,\"path\":\"/api/v1/namespaces/imgpulld/.*\"}"),
                 200);
    cr_assert_eq(sim_post("/_sim/watches/drop", "{}"), 200);
    usleep(800000);
    cr_assert_eq(sim_post("/_sim/inject", "{\"count\":6,\"code\":500,\"path\":\"/apis/batch/.*\"}"), 200);
    cr_assert_eq(sim_post("/_sim/watches/drop", "{}"), 200);
    wait_final(&a);
    wait_final(&b);
    assert_converges("429 and 500 bursts");
    cr_assert(h_log_contains(&w.daemon, "HTTP 429"), "the 429s were not seen");
    cr_assert(h_log_contains(&w.daemon, "HTTP 500"), "the 500s were not seen");
    stop_world();
}

Test(watch, silent_watch_is_restarted_and_converges)
{
    const char *env[] = {"IMGPULLD_WATCH_IDLE_TIMEOUT=1500ms", NULL};
    start_world("stall", slow_sim, env);
    create_ctx_t a, b;
    create_slow_jobs(&a, &b);
    cr_assert_eq(sim_post("/_sim/stall", "{\"seconds\":4}"), 200);
    wait_final(&a);
    wait_final(&b);
    assert_converges("a stalled watch");
    cr_assert(h_log_contains(&w.daemon, "watch silent"), "the silent watch was not restarted");
    stop_world();
}

static int all_pulling(void *ctx)
{
    create_ctx_t *c = ctx;
    for (size_t i = 0; i < c->n; i++) {
        view_t v;
        if (get_job(c->ids[i], &v) != 0 || v.ntasks == 0)
            return 0;
        for (size_t t = 0; t < v.ntasks; t++)
            if (v.tasks[t].state != IPD_TASK_PULLING || v.tasks[t].attempts == 0)
                return 0;
    }
    return 1;
}

static int restarted_master_listed(void *ctx)
{
    (void)ctx;
    return h_log_contains(&w.daemon, "initial list complete");
}

/*
 * A new master reattaches the table and lists the cluster again. When nothing changed in the
 * meantime it must publish nothing: clients holding ETags and WebSocket cursors would
 * otherwise see changes that did not happen.
 */
Test(watch, a_restarted_master_changes_nothing_the_cluster_did_not_change)
{
    static const char *const stuck_sim[] = {"--nodes", "3", "--pull-ms", "86400000", NULL};
    start_world("again", stuck_sim, NULL);
    create_ctx_t a = create_jobs("{\"image\":\"docker.io/library/nginx:1.27\",\"all_nodes\":true}");
    cr_assert_eq(a.error, 0, "%s", a.message);
    if (!h_wait(all_pulling, &a, 20000)) {
        dump_jobs(&a);
        cr_assert_fail("the tasks did not all start pulling");
    }
    usleep(300000); /* let the events that follow Pulling settle */
    view_t before[8];
    for (size_t i = 0; i < a.n; i++)
        cr_assert_eq(get_job(a.ids[i], &before[i]), 0);
    uint64_t epoch = ipd_table_epoch(w.table), generation = ipd_table_generation(w.table);

    int st = h_stop(&w.daemon, SIGTERM, 10000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the first master did not stop cleanly (status %d)", st);
    ipd_table_destroy(w.table);
    w.table = NULL;
    start_daemon(NULL, NULL);
    cr_assert(h_wait(restarted_master_listed, NULL, 15000), "the new master did not list the cluster");
    usleep(1000000); /* what it would publish after the lists, it has published by now */

    cr_assert_eq(ipd_table_epoch(w.table), epoch, "the table was rebuilt, not reattached");
    for (size_t i = 0; i < a.n; i++) {
        view_t v;
        cr_assert_eq(get_job(a.ids[i], &v), 0);
        cr_assert_eq(v.job.version, before[i].job.version, "job %s: version %llu, was %llu", a.ids[i],
                     (unsigned long long)v.job.version, (unsigned long long)before[i].job.version);
        for (size_t t = 0; t < v.ntasks; t++)
            cr_assert_eq(v.tasks[t].attempts, before[i].tasks[t].attempts);
    }
    cr_assert_eq(ipd_table_generation(w.table), generation, "the new master published changes");
    stop_world();
}

Test(watch, apiserver_restart_with_new_resource_versions_converges)
{
    start_world("restart", slow_sim, NULL);
    create_ctx_t a, b;
    create_slow_jobs(&a, &b);
    usleep(500000);
    cr_assert_eq(sim_post("/_sim/restart", "{}"), 200);
    wait_final(&a);
    wait_final(&b);
    assert_converges("an apiserver restart");
    stop_world();
}
