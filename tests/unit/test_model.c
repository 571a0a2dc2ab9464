#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/at.h"
#include "common/table_fixture.h"
#include "common/instance.h"
#include "master/model.h"
#include "master/publish.h"
#include "proto/error.h"
#include "proto/job_spans.h"
#include "proto/json_prune.h"
#include "proto/kube_job.h"
#include "proto/kube_pod.h"
#include "proto/rfc3339.h"
#include "shared/log.h"
#include "shared/table.h"

#define NS    "imgpulld"
#define IMAGE "registry.local/app:1"
#define T0    INT64_C(1800000000000) /* the tests' wall clock, Unix ms */

static char instance[64];
static ipd_table_t *table;
static ipd_model_t *model;

/* The actions the model asked for, in order: "resume ns/name", "delete_job ...", "delete_pod ...". */
static char actions[64][160];
static size_t nactions;

static void record(const char *what, const char *ns, const char *name)
{
    if (nactions < sizeof(actions) / sizeof(actions[0]))
        snprintf(actions[nactions++], sizeof(actions[0]), "%s %s/%s", what, ns, name);
}

static void on_resume(void *ctx, const char *ns, const char *name)
{
    (void)ctx;
    record("resume", ns, name);
}

static void on_delete_job(void *ctx, const char *ns, const char *name)
{
    (void)ctx;
    record("delete_job", ns, name);
}

static void on_delete_pod(void *ctx, const char *ns, const char *name)
{
    (void)ctx;
    record("delete_pod", ns, name);
}

static void on_create_job(void *ctx, const ipd_job_t *job, const char *node, int suspend, const char *selection)
{
    (void)ctx;
    (void)job;
    (void)selection;
    record(suspend ? "create_suspended" : "create", "", node);
}

static void on_create_keep_job(void *ctx, const ipd_job_t *like, const char *image, const char *selection)
{
    (void)ctx;
    (void)selection;
    record("create_keep", like->id, image);
}

static void on_cancel_job(void *ctx, const char *id)
{
    (void)ctx;
    record("cancel", "", id);
}

static const ipd_model_actions_t recorder = {.resume_job = on_resume,
                                             .delete_job = on_delete_job,
                                             .delete_pod = on_delete_pod,
                                             .create_job = on_create_job,
                                             .create_keep_job = on_create_keep_job,
                                             .cancel_job = on_cancel_job};

/* A new model over the same table, asking `acts` of the cluster, in node scope for `node`, with
 * Redis (`remote_feed`) or not. */
static void remodel(const ipd_model_actions_t *acts, const char *node, int remote_feed)
{
    ipd_model_destroy(model);
    cr_assert_eq(ipd_model_create(table, acts, &model), 0);
    ipd_model_set_node(model, node, remote_feed);
}

/* A small table named `name` (created, or reattached: `info` may be NULL). */
#define create_table(name, info) ipd_test_table_create(name, 64, 256, 1024, 16384, 0, info)

static void open_table(void)
{
    table = create_table(instance, NULL);
}

/* A new master: the same table reattached, a new model over it. */
static void restart_master(void)
{
    ipd_table_open_info_t info;
    ipd_model_destroy(model);
    model = NULL;
    ipd_table_destroy(table);
    table = create_table(instance, &info);
    cr_assert_eq(info.outcome, IPD_TABLE_REATTACHED);
    cr_assert_eq(ipd_model_create(table, &recorder, &model), 0);
}

static void setup(void)
{
    static int seq;
    ipd_log_set_level(IPD_LOG_ERROR);
    char tag[32];
    snprintf(tag, sizeof(tag), "model-%d", ++seq);
    ipd_test_instance(instance, sizeof(instance), tag);
    ipd_table_unlink(instance);
    open_table();
    nactions = 0;
    cr_assert_eq(ipd_model_create(table, &recorder, &model), 0);
}

static void remove_pruned_twin(void);

static void teardown(void)
{
    ipd_model_destroy(model);
    ipd_table_destroy(table);
    ipd_table_unlink(instance);
    /* A test that failed halfway leaves no segment either: the pruned twin's, a model pair's. */
    remove_pruned_twin();
    char pair[sizeof(instance) + 8];
    snprintf(pair, sizeof(pair), "%s-b", instance);
    ipd_table_unlink(pair);
}

TestSuite(model, .init = setup, .fini = teardown, .timeout = 60);

/* ---- fixtures ---- */

static ipd_job_t job_of(const char *id, int32_t backoff_limit, int32_t parallelism)
{
    ipd_job_t j;
    memset(&j, 0, sizeof(j));
    snprintf(j.id, sizeof(j.id), "%s", id);
    snprintf(j.image, sizeof(j.image), "%s", IMAGE);
    j.created_at = T0 - 60000;
    j.pull_policy = IPD_PULL_IF_NOT_PRESENT;
    j.spec.backoff_limit = backoff_limit;
    j.spec.parallelism = parallelism;
    j.spec.ttl_seconds_after_finished = -1;
    return j;
}

static void kjob_name(const char *id, const char *node, char *out)
{
    ipd_kube_job_name(id, node, out);
}

/* The batch/v1 Job the daemon would create for `node`, as the API server returns it. */
static json_t *kjob(const ipd_job_t *job, const char *node, uint32_t node_count, int suspend)
{
    json_t *o = ipd_kube_job_manifest(job, node, NS, node_count, suspend, NULL);
    cr_assert_not_null(o);
    json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string("1"));
    json_object_set_new(o, "status", json_object());
    return o;
}

/* What containerd says for a registry that refuses the pull (core/remotes/docker/errors.go). */
#define ERR401                                                                                                         \
    "rpc error: code = Unknown desc = failed to pull and unpack image \"" IMAGE                                        \
    "\": failed to resolve reference \"" IMAGE                                                                         \
    "\": unexpected status from HEAD request to https://registry.example/v2/app/manifests/1: 401 Unauthorized"

/* A container status: "creating", "backoff", "err401", "starterror", "running" or "completed" (the no-op
 * exited 0). */
static json_t *container(const char *state)
{
    json_t *st;
    if (strcmp(state, "creating") == 0)
        st = json_pack("{s:{s:s}}", "waiting", "reason", "ContainerCreating");
    else if (strcmp(state, "backoff") == 0)
        st = json_pack("{s:{s:s, s:s}}", "waiting", "reason", "ImagePullBackOff", "message",
                       "Back-off pulling image \"" IMAGE "\"");
    else if (strcmp(state, "err401") == 0)
        st = json_pack("{s:{s:s, s:s}}", "waiting", "reason", "ErrImagePull", "message", ERR401);
    else if (strcmp(state, "completed") == 0)
        st = json_pack("{s:{s:s, s:i}}", "terminated", "reason", "Completed", "exitCode", 0);
    else if (strcmp(state, "starterror") == 0)
        st = json_pack("{s:{s:s, s:i, s:s}}", "terminated", "reason", "StartError", "exitCode", 128, "message",
                       "exec: \"/.imgpulld-pulled\": stat /.imgpulld-pulled: no such file or directory");
    else
        st = json_pack("{s:{s:s}}", "running", "startedAt", "2027-01-15T08:00:05Z");
    return json_pack("[{s:s, s:s, s:s, s:b, s:i, s:o}]", "name", "pull", "image", IMAGE, "imageID", "", "ready", 0,
                     "restartCount", 0, "state", st);
}

/* A pod of the Job of (`job_id`, `node`), created `created_s` seconds after T0. */
static json_t *pod(const char *job_id, const char *node, const char *name, int created_s, const char *state)
{
    char jname[IPD_KUBE_JOB_NAME_SIZE], label[64], created[40];
    kjob_name(job_id, node, jname);
    ipd_kube_node_label(node, label);
    ipd_time_format(T0 + (int64_t)created_s * 1000, created, sizeof(created));
    const char *phase = strcmp(state, "completed") == 0    ? "Succeeded"
                        : strcmp(state, "starterror") == 0 ? "Failed"
                        : strcmp(state, "running") == 0    ? "Running"
                                                           : "Pending";
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}}, s:{s:s, s:s, s:[{s:s, s:s}]},"
                     " s:{s:s, s:o}}",
                     "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "namespace", NS, "creationTimestamp",
                     created, "resourceVersion", "1", "labels", IPD_LABEL_JOB, job_id, IPD_LABEL_NODE, label,
                     "job-name", jname, "spec", "nodeName", node, "restartPolicy", "Never", "containers", "name",
                     "pull", "image", IMAGE, "status", "phase", phase, "containerStatuses", container(state));
}

/* An Event about pod `pod_name`, `at_s` seconds after T0. */
static json_t *event(const char *name, const char *pod_name, const char *reason, const char *message, int count,
                     int at_s)
{
    char ts[40];
    ipd_time_format(T0 + (int64_t)at_s * 1000, ts, sizeof(ts));
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:s, s:i, s:s, s:s, s:s}", "apiVersion", "v1",
                     "kind", "Event", "metadata", "name", name, "namespace", NS, "involvedObject", "kind", "Pod",
                     "namespace", NS, "name", pod_name, "reason", reason, "message", message, "count", count,
                     "firstTimestamp", ts, "lastTimestamp", ts, "type", "Normal");
}

#define PULLED_MSG "Successfully pulled image \"" IMAGE "\" in 1.5s (1.6s including waiting). Image size: 123 bytes."

/* Applies `obj` (consumed) to the model. */
static void apply(ipd_model_kind_t kind, ipd_watch_type_t type, json_t *obj)
{
    cr_assert_not_null(obj);
    ipd_model_apply(model, kind, type, obj);
    json_decref(obj);
}

/* A pull that began: pod `pod_name` of job `job_id` on `node` created at 1 s, its Pulling event `event_name` at 2 s. */
static void apply_pulling(const char *job_id, const char *node, const char *pod_name, const char *event_name)
{
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job_id, node, pod_name, 1, "creating"));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event(event_name, pod_name, "Pulling", "Pulling image", 1, 2));
}

/* A pull that ended before its pod was seen: the Pulled event `event_name` at 4 s, then the completed pod. */
static void apply_pulled(const char *job_id, const char *node, const char *pod_name, const char *event_name)
{
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event(event_name, pod_name, "Pulled", PULLED_MSG, 1, 4));
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job_id, node, pod_name, 1, "completed"));
}

/* The Job's conditions, as the Job controller sets them. */
static json_t *kjob_finished(const ipd_job_t *job, const char *node, const char *type, const char *reason)
{
    json_t *o = kjob(job, node, 1, 0);
    json_object_set_new(o, "status",
                        json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "conditions", "type", type, "status", "True", "reason",
                                  reason, "message", "condition of the test"));
    return o;
}

static void add_kjob(const ipd_job_t *job, const char *node, uint32_t node_count, int suspend)
{
    apply(IPD_MODEL_KJOBS, IPD_WATCH_ADDED, kjob(job, node, node_count, suspend));
}

/* job_of, with its one Kubernetes Job, on node-a, applied. */
static ipd_job_t job_on_node_a(const char *id, int32_t backoff_limit, int32_t parallelism)
{
    ipd_job_t j = job_of(id, backoff_limit, parallelism);
    add_kjob(&j, "node-a", 1, 0);
    return j;
}

typedef struct view {
    ipd_job_t job;
    ipd_task_t tasks[8];
    size_t ntasks;
} view_t;

static view_t read_job(const char *id)
{
    view_t v;
    ipd_table_job_view_t tv = {.job = &v.job, .tasks = v.tasks, .task_cap = 8};
    int rc = ipd_table_get_job(table, id, &tv);
    cr_assert_eq(rc, 0, "job %s: %s", id, ipd_strerror(rc));
    v.ntasks = tv.ntasks;
    return v;
}

static const ipd_task_t *task_on(const view_t *v, const char *node)
{
    for (size_t i = 0; i < v->ntasks; i++)
        if (strcmp(v->tasks[i].node, node) == 0)
            return &v->tasks[i];
    cr_assert_fail("job %s has no task on %s", v->job.id, node);
    return NULL;
}

/* The n-th recorded action that starts with `prefix`, or "" when there are fewer. */
static const char *nth_action(const char *prefix, size_t n)
{
    for (size_t i = 0; i < nactions; i++)
        if (strncmp(actions[i], prefix, strlen(prefix)) == 0 && n-- == 0)
            return actions[i];
    return "";
}

static size_t count_actions(const char *prefix)
{
    size_t n = 0;
    for (size_t i = 0; i < nactions; i++)
        n += strncmp(actions[i], prefix, strlen(prefix)) == 0;
    return n;
}

/*
 * Ticks and flushes at `due` - 1 ms and at `due`: the action `kind`, asked `asked` times so far,
 * must not be asked again before `due` and must be asked once more at it.
 */
#define expect_asked_again(kind, asked, due) expect_asked_again_at(IPD_AT, kind, asked, due)
static void expect_asked_again_at(const char *file, int line, const char *kind, size_t asked, int64_t due)
{
    ipd_model_tick(model);
    ipd_model_flush(model, due - 1);
    ipd_assert_at(file, line, count_actions(kind) == asked, "%s asked %zu times before it was due, want %zu", kind,
                  count_actions(kind), asked);
    ipd_model_tick(model);
    ipd_model_flush(model, due);
    ipd_assert_at(file, line, count_actions(kind) == asked + 1, "%s asked %zu times once due, want %zu", kind,
                  count_actions(kind), asked + 1);
}

/* ---- cases ---- */

Test(model, job_without_pods_has_one_pending_task)
{
    ipd_job_t job = job_on_node_a("pj-00000001", 2, 0);
    cr_assert_eq(ipd_model_flush(model, T0), 1);
    view_t v = read_job("pj-00000001");
    cr_assert_eq(v.ntasks, 1);
    cr_assert_str_eq(v.tasks[0].node, "node-a");
    cr_assert_eq(v.tasks[0].state, IPD_TASK_PENDING);
    cr_assert_eq(v.job.state, IPD_JOB_PENDING);
    cr_assert_str_eq(v.job.image, IMAGE);
    cr_assert_eq(v.job.created_at, job.created_at);
    cr_assert_eq(v.job.spec.backoff_limit, 2);
    cr_assert_eq(v.job.nodes.desired, 1);
    cr_assert_eq(v.job.nodes.pending, 1);
    cr_assert_eq(v.job.version, 1);
    cr_assert_eq(v.job.started_at, IPD_TIME_NULL);
    cr_assert_eq(v.job.finished_at, IPD_TIME_NULL);
    cr_assert_eq(nactions, 0);
    cr_assert_eq(ipd_model_stats(model)->jobs, 1);
}

Test(model, nodes_whose_jobs_are_not_seen_yet_count_as_pending)
{
    ipd_job_t job = job_of("pj-00000002", 2, 0);
    add_kjob(&job, "node-b", 3, 0);
    ipd_model_flush(model, T0);
    view_t v = read_job("pj-00000002");
    cr_assert_eq(v.ntasks, 1);
    cr_assert_eq(v.job.nodes.desired, 3);
    cr_assert_eq(v.job.nodes.pending, 3);
}

Test(model, pull_progresses_from_pulling_to_succeeded)
{
    ipd_job_t job = job_on_node_a("pj-00000003", 3, 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "pull-a-1", 1, "creating"));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED,
          event("pull-a-1.1", "pull-a-1", "Pulling", "Pulling image \"" IMAGE "\"", 1, 2));
    cr_assert_eq(ipd_model_flush(model, T0 + 2000), 1);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_PULLING);
    cr_assert_str_eq(v.tasks[0].reason, "Pulling");
    cr_assert_str_eq(v.tasks[0].pod, "pull-a-1");
    cr_assert_str_eq(v.tasks[0].ns, NS);
    cr_assert_eq(v.tasks[0].attempts, 1);
    cr_assert_eq(v.tasks[0].updated_at, T0 + 2000);
    cr_assert_eq(v.job.state, IPD_JOB_PULLING);
    cr_assert_eq(v.job.started_at, T0 + 2000);
    cr_assert_eq(v.job.finished_at, IPD_TIME_NULL);
    cr_assert_eq(v.job.version, 1);
    uint64_t gen = ipd_table_generation(table);

    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("pull-a-1.2", "pull-a-1", "Pulled", PULLED_MSG, 1, 4));
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-a-1", 1, "completed"));
    cr_assert_eq(ipd_model_flush(model, T0 + 5000), 1);
    cr_assert_gt(ipd_table_generation(table), gen);
    v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_SUCCEEDED);
    cr_assert_str_eq(v.tasks[0].reason, "Pulled");
    cr_assert_eq(v.tasks[0].pull_ms, 1500);
    cr_assert_eq(v.tasks[0].image_bytes, 123);
    cr_assert_eq(v.tasks[0].attempts, 1);
    cr_assert_eq(v.job.state, IPD_JOB_SUCCEEDED);
    cr_assert_eq(v.job.nodes.succeeded, 1);
    cr_assert_eq(v.job.started_at, T0 + 2000);
    cr_assert_eq(v.job.finished_at, T0 + 5000);
    cr_assert_eq(v.job.version, 2);
    cr_assert_eq(count_actions("resume"), 0);
    cr_assert_eq(count_actions("delete_pod"), 0);
}

/*
 * The Pulled event that carries a pull's figures may come after the pod's exit that ended the
 * task (a watch behind the other). The figures fill the final task in; its time stays when it
 * ended, and so does its job's end: a daemon that learns the task with its figures already in
 * (another node's, or after a restart) shows the same times. Before, the task and a job that
 * ended with it took the time the figures came.
 */
Test(model, figures_that_come_after_the_end_do_not_move_it)
{
    ipd_job_t job = job_on_node_a("pj-000000a3", 3, 0);
    apply_pulling(job.id, "node-a", "pull-a-1", "pull-a-1.1");
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-a-1", 1, "completed"));
    ipd_model_flush(model, T0 + 5000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_SUCCEEDED);
    cr_assert_eq(v.tasks[0].pull_ms, IPD_UNKNOWN_I64);
    cr_assert_eq(v.job.finished_at, T0 + 5000);

    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("pull-a-1.2", "pull-a-1", "Pulled", PULLED_MSG, 1, 4));
    ipd_model_flush(model, T0 + 9000);
    v = read_job(job.id);
    cr_assert_eq(v.tasks[0].pull_ms, 1500, "the figures fill the task in");
    cr_assert_eq(v.tasks[0].image_bytes, 123);
    cr_assert_eq(v.tasks[0].updated_at, T0 + 5000, "updated_at %lld", (long long)v.tasks[0].updated_at);
    cr_assert_eq(v.job.finished_at, T0 + 5000);
}

Test(model, applying_the_same_objects_again_writes_nothing)
{
    ipd_job_t job = job_of("pj-00000004", 3, 0);
    for (int round = 0; round < 3; round++) {
        add_kjob(&job, "node-a", 1, 0);
        apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-a-1", 1, "completed"));
        apply(IPD_MODEL_EVENTS, IPD_WATCH_MODIFIED,
              event("pull-a-1.1", "pull-a-1", "Pulling", "Pulling image \"" IMAGE "\"", 1, 2));
        apply(IPD_MODEL_EVENTS, IPD_WATCH_MODIFIED, event("pull-a-1.2", "pull-a-1", "Pulled", PULLED_MSG, 1, 4));
        uint64_t gen = ipd_table_generation(table), head = ipd_table_ring_head(table);
        /* Later flushes run later: nothing time-dependent may leak into an unchanged record. */
        size_t written = ipd_model_flush(model, T0 + 5000 + round * 60000);
        view_t v = read_job(job.id);
        cr_assert_eq(v.job.state, IPD_JOB_SUCCEEDED);
        cr_assert_eq(v.job.version, 1, "round %d bumped the version", round);
        cr_assert_eq(v.job.finished_at, T0 + 5000);
        cr_assert_eq(v.tasks[0].updated_at, T0 + 5000);
        if (round == 0) {
            cr_assert_eq(written, 1);
        } else {
            cr_assert_eq(written, 0, "round %d wrote %zu jobs", round, written);
            cr_assert_eq(ipd_table_generation(table), gen);
            cr_assert_eq(ipd_table_ring_head(table), head);
        }
    }
    /* The periodic tick re-evaluates too, and also writes nothing for an unchanged job. */
    uint64_t gen = ipd_table_generation(table);
    ipd_model_tick(model);
    cr_assert_eq(ipd_model_flush(model, T0 + 600000), 0);
    cr_assert_eq(ipd_table_generation(table), gen);
}

Test(model, version_increases_with_every_change)
{
    ipd_job_t job = job_of("pj-00000005", 3, 0);
    add_kjob(&job, "node-a", 2, 0);
    add_kjob(&job, "node-b", 2, 0);
    ipd_model_flush(model, T0);
    cr_assert_eq(read_job(job.id).job.version, 1);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "pull-a-1", 1, "creating"));
    ipd_model_flush(model, T0 + 1000);
    /* A pod without events is still pending, but the task now names its pod. */
    view_t v = read_job(job.id);
    cr_assert_eq(v.job.version, 2);
    cr_assert_str_eq(task_on(&v, "node-a")->pod, "pull-a-1");
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("e1", "pull-a-1", "Pulling", "Pulling image", 1, 2));
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(read_job(job.id).job.version, 3);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-b", "pull-b-1", 1, "completed"));
    ipd_model_flush(model, T0 + 3000);
    v = read_job(job.id);
    cr_assert_eq(v.job.version, 4);
    cr_assert_eq(task_on(&v, "node-b")->state, IPD_TASK_SUCCEEDED);
    cr_assert_eq(task_on(&v, "node-a")->state, IPD_TASK_PULLING);
    cr_assert_eq(v.job.state, IPD_JOB_PULLING);
    /* Tasks are published in node order, whatever the order they were seen in. */
    cr_assert_str_eq(v.tasks[0].node, "node-a");
    cr_assert_str_eq(v.tasks[1].node, "node-b");
}

Test(model, image_pull_backoff_gives_up_after_the_backoff_limit)
{
    ipd_job_t job = job_of("pj-00000006", 1, 0);
    char jname[IPD_KUBE_JOB_NAME_SIZE], want[160];
    kjob_name(job.id, "node-a", jname);
    snprintf(want, sizeof(want), "delete_job %s/%s", NS, jname);
    add_kjob(&job, "node-a", 1, 0);
    apply_pulling(job.id, "node-a", "pull-a-1", "e1");
    ipd_model_flush(model, T0 + 2000);
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-a-1", 1, "backoff"));
    ipd_model_flush(model, T0 + 3000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_RETRYING, "one failed attempt of two allowed");
    cr_assert_str_eq(v.tasks[0].reason, "ImagePullBackOff");
    cr_assert_eq(v.job.state, IPD_JOB_PULLING);
    cr_assert_str_eq(v.job.error_reason, "ImagePullBackOff");
    cr_assert_eq(nactions, 0);

    /* The kubelet tries again (the Pulling event's count goes to 2) and fails again. */
    apply(IPD_MODEL_EVENTS, IPD_WATCH_MODIFIED, event("e1", "pull-a-1", "Pulling", "Pulling image", 2, 12));
    ipd_model_flush(model, T0 + 12000);
    v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_FAILED, "the model must publish the task it gave up on");
    cr_assert_eq(v.tasks[0].attempts, 2);
    cr_assert_str_eq(v.tasks[0].reason, "ImagePullBackOff");
    cr_assert_eq(strncmp(v.tasks[0].message, "gave up after 2 attempts (backoff_limit 1)", 42), 0, "message: %s",
                 v.tasks[0].message);
    cr_assert_eq(v.job.state, IPD_JOB_FAILED);
    cr_assert_eq(v.job.finished_at, T0 + 12000);
    cr_assert_eq(nactions, 1);
    cr_assert_str_eq(actions[0], want);

    /* Asked again only once the retry interval has passed without the Job going away. */
    expect_asked_again("delete_job", 1, T0 + 17000);
    cr_assert_str_eq(actions[1], want);

    /* Once the Job and its pod are gone, nobody asks again and the job leaves memory, not the table. */
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, kjob(&job, "node-a", 1, 0));
    apply(IPD_MODEL_PODS, IPD_WATCH_DELETED, pod(job.id, "node-a", "pull-a-1", 1, "backoff"));
    uint64_t version = read_job(job.id).job.version;
    ipd_model_flush(model, T0 + 18000);
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 60000);
    cr_assert_eq(count_actions("delete_job"), 2);
    cr_assert_eq(ipd_model_stats(model)->jobs, 0);
    cr_assert_eq(ipd_model_stats(model)->pods, 0);
    v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_FAILED);
    cr_assert_eq(v.job.state, IPD_JOB_FAILED);
    cr_assert_eq(v.job.version, version, "the gone objects changed nothing that is published");
}

/* The issue's case: the registry's 401 must survive the back-off and name the failed job. */
Test(model, a_task_that_gives_up_names_the_registry_words_and_its_cause)
{
    ipd_job_t job = job_on_node_a("pj-0000000c", 1, 0);
    apply_pulling(job.id, "node-a", "pull-a-1", "e1");
    ipd_model_flush(model, T0 + 2000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].cause, IPD_CAUSE_NONE);
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-a-1", 1, "err401"));
    ipd_model_flush(model, T0 + 3000);
    v = read_job(job.id);
    cr_assert_eq(v.tasks[0].cause, IPD_CAUSE_AUTH);
    cr_assert_eq(v.job.error_cause, IPD_CAUSE_AUTH);
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-a-1", 1, "backoff"));
    ipd_model_flush(model, T0 + 4000);
    v = read_job(job.id);
    cr_assert_str_eq(v.tasks[0].reason, "ImagePullBackOff");
    cr_assert_str_eq(v.tasks[0].fail_reason, "ErrImagePull");
    cr_assert_str_eq(v.tasks[0].fail_message, ERR401);
    cr_assert_eq(v.tasks[0].cause, IPD_CAUSE_AUTH);
    cr_assert_eq(ipd_model_stats(model)->task_failures[IPD_CAUSE_AUTH], 0, "retrying is not failed");

    apply(IPD_MODEL_EVENTS, IPD_WATCH_MODIFIED, event("e1", "pull-a-1", "Pulling", "Pulling image", 2, 12));
    ipd_model_flush(model, T0 + 12000);
    v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_FAILED);
    cr_assert_eq(v.tasks[0].cause, IPD_CAUSE_AUTH);
    cr_assert_str_eq(v.tasks[0].fail_message, ERR401, "the kept failure stays verbatim");
    cr_assert_eq(v.job.state, IPD_JOB_FAILED);
    cr_assert_eq(v.job.error_cause, IPD_CAUSE_AUTH);
    cr_assert_not_null(strstr(v.job.error_message, "gave up after 2 attempts (backoff_limit 1): ErrImagePull: "), "%s",
                       v.job.error_message);
    cr_assert_not_null(strstr(v.job.error_message, "401 Unauthorized"), "%s", v.job.error_message);
    cr_assert_eq(ipd_model_stats(model)->task_failures[IPD_CAUSE_AUTH], 1);

    /* Counted once per task, whatever happens to it later. */
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 20000);
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-a-1", 1, "err401"));
    ipd_model_flush(model, T0 + 21000);
    uint64_t total = 0;
    for (int c = 0; c < IPD_CAUSE_COUNT; c++)
        total += ipd_model_stats(model)->task_failures[c];
    cr_assert_eq(total, 1);
}

Test(model, deleted_job_cancels_its_pulling_task)
{
    ipd_job_t job = job_of("pj-00000007", 3, 0);
    add_kjob(&job, "node-a", 2, 0);
    add_kjob(&job, "node-b", 2, 0);
    apply_pulling(job.id, "node-a", "pull-a-1", "ea");
    apply_pulling(job.id, "node-b", "pull-b-1", "eb");
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(read_job(job.id).job.state, IPD_JOB_PULLING);

    /* node-a's Job is deleted mid-pull: that task is cancelled, the job goes on with node-b. */
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, kjob(&job, "node-a", 2, 0));
    ipd_model_flush(model, T0 + 3000);
    view_t v = read_job(job.id);
    cr_assert_eq(task_on(&v, "node-a")->state, IPD_TASK_CANCELLED);
    cr_assert_str_eq(task_on(&v, "node-a")->reason, "Cancelled");
    cr_assert_eq(task_on(&v, "node-b")->state, IPD_TASK_PULLING);
    cr_assert_eq(v.job.state, IPD_JOB_PULLING);
    cr_assert_eq(v.job.finished_at, IPD_TIME_NULL);

    /* node-b succeeds: all final, none failed, one cancelled -> the job is cancelled. */
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-b", "pull-b-1", 1, "completed"));
    ipd_model_flush(model, T0 + 4000);
    v = read_job(job.id);
    cr_assert_eq(task_on(&v, "node-b")->state, IPD_TASK_SUCCEEDED);
    cr_assert_eq(task_on(&v, "node-a")->state, IPD_TASK_CANCELLED);
    cr_assert_eq(v.job.state, IPD_JOB_CANCELLED);
    cr_assert_eq(v.job.nodes.cancelled, 1);
    cr_assert_eq(v.job.nodes.succeeded, 1);
    cr_assert_eq(v.job.finished_at, T0 + 4000);
}

Test(model, deleted_job_with_its_only_task_pulling_is_cancelled)
{
    ipd_job_t job = job_on_node_a("pj-00000008", 3, 0);
    apply_pulling(job.id, "node-a", "pull-a-1", "ea");
    ipd_model_flush(model, T0 + 2000);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, kjob(&job, "node-a", 1, 0));
    apply(IPD_MODEL_PODS, IPD_WATCH_DELETED, pod(job.id, "node-a", "pull-a-1", 1, "creating"));
    ipd_model_flush(model, T0 + 3000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_CANCELLED);
    cr_assert_eq(v.job.state, IPD_JOB_CANCELLED);
    cr_assert_eq(v.job.finished_at, T0 + 3000);
    cr_assert_eq(ipd_model_stats(model)->jobs, 0, "a final job without objects leaves memory");
}

/*
 * A Job made and deleted between two reads of the Jobs (a loop turn keeps the last event of each
 * object: a POST cancelled at once) is seen only as its deletion. Before, the model ignored a
 * deletion whose task it did not hold: the job stayed a task short for ever.
 */
Test(model, a_job_seen_only_as_its_deletion_ends_its_task_cancelled)
{
    ipd_job_t job = job_of("pj-00000010", 3, 0);
    add_kjob(&job, "node-b", 2, 0);
    ipd_model_flush(model, T0 + 1000);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, kjob(&job, "node-a", 2, 0));
    ipd_model_flush(model, T0 + 2000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.ntasks, 2, "node-a's task was not made from its deleted Job");
    cr_assert_eq(task_on(&v, "node-a")->state, IPD_TASK_CANCELLED);
    cr_assert_str_eq(task_on(&v, "node-a")->reason, "Cancelled");
    cr_assert_eq(v.job.nodes.cancelled, 1);

    /* A job this model held nothing of: its one Job, deleted unfinished, ends it cancelled. */
    ipd_job_t only = job_of("pj-00000011", 3, 0);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, kjob(&only, "node-a", 1, 0));
    ipd_model_flush(model, T0 + 3000);
    v = read_job(only.id);
    cr_assert_eq(v.ntasks, 1);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_CANCELLED);
    cr_assert_eq(v.job.state, IPD_JOB_CANCELLED);

    /* A Job that ended, of a job held nowhere here (aged out of the history): not brought back. */
    ipd_job_t old = job_of("pj-00000012", 3, 0);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, kjob_finished(&old, "node-a", "Complete", "CompletionsReached"));
    ipd_model_flush(model, T0 + 4000);
    ipd_job_t none;
    ipd_table_job_view_t probe = {.job = &none};
    cr_assert_eq(ipd_table_get_job(table, old.id, &probe), IPD_ENOTFOUND);
}

Test(model, parallelism_resumes_one_suspended_job_at_a_time)
{
    ipd_job_t job = job_of("pj-00000009", 3, 1);
    char na[IPD_KUBE_JOB_NAME_SIZE], nb[IPD_KUBE_JOB_NAME_SIZE], nc[IPD_KUBE_JOB_NAME_SIZE], want[160];
    kjob_name(job.id, "node-a", na);
    kjob_name(job.id, "node-b", nb);
    kjob_name(job.id, "node-c", nc);
    add_kjob(&job, "node-a", 3, 0);
    add_kjob(&job, "node-b", 3, 1);
    add_kjob(&job, "node-c", 3, 1);
    apply_pulling(job.id, "node-a", "pull-a-1", "ea");
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(count_actions("resume"), 0, "node-a holds the only slot");
    view_t v = read_job(job.id);
    cr_assert_eq(task_on(&v, "node-b")->state, IPD_TASK_PENDING);
    cr_assert_str_eq(task_on(&v, "node-b")->reason, "Queued");

    /* node-a's pod is done, its Job not yet: the Job holds the slot. Then it completes and
     * exactly one of the suspended Jobs is resumed. */
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-a-1", 1, "completed"));
    ipd_model_flush(model, T0 + 9000);
    cr_assert_eq(count_actions("resume"), 0, "the slot is counted from the Job, not the task");
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-a", "Complete", "CompletionsReached"));
    ipd_model_flush(model, T0 + 10000);
    cr_assert_eq(count_actions("resume"), 1);
    snprintf(want, sizeof(want), "resume %s/%s", NS, nb);
    cr_assert_str_eq(nth_action("resume", 0), want);

    /* Not seen resumed yet: the request holds the slot and is not repeated before 5 s. */
    expect_asked_again("resume", 1, T0 + 15000);
    cr_assert_str_eq(nth_action("resume", 1), want);

    /* The Job shows up resumed: no more requests while it pulls. */
    add_kjob(&job, "node-b", 3, 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-b", "pull-b-1", 16, "creating"));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("eb", "pull-b-1", "Pulling", "Pulling image", 1, 17));
    ipd_model_flush(model, T0 + 17000);
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 30000);
    cr_assert_eq(count_actions("resume"), 2);
    v = read_job(job.id);
    cr_assert_eq(task_on(&v, "node-b")->state, IPD_TASK_PULLING);
    cr_assert_eq(task_on(&v, "node-c")->state, IPD_TASK_PENDING);

    /* node-b finishes: node-c's turn. */
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-b", "pull-b-1", 16, "completed"));
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-b", "Complete", "CompletionsReached"));
    ipd_model_flush(model, T0 + 31000);
    cr_assert_eq(count_actions("resume"), 3);
    snprintf(want, sizeof(want), "resume %s/%s", NS, nc);
    cr_assert_str_eq(nth_action("resume", 2), want);
    cr_assert_eq(count_actions("resume"), 3);
}

Test(model, list_resync_forgets_what_the_list_did_not_have)
{
    ipd_job_t x = job_of("pj-0000000a", 3, 0), y = job_of("pj-0000000b", 3, 0);
    add_kjob(&x, "node-a", 1, 0);
    add_kjob(&y, "node-a", 1, 0);
    json_t *px = pod(x.id, "node-a", "pull-x", 1, "creating"), *py = pod(y.id, "node-a", "pull-y", 1, "creating");
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, json_incref(px));
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, json_incref(py));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("ex", "pull-x", "Pulling", "Pulling image", 1, 2));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("ey", "pull-y", "Pulling", "Pulling image", 1, 2));
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(ipd_model_stats(model)->pods, 2);
    cr_assert_eq(read_job(y.id).tasks[0].state, IPD_TASK_PULLING);

    /* A relist of pods and of Jobs that only has x's. */
    const ipd_reflector_ops_t *pods = ipd_model_ops(IPD_MODEL_PODS), *kjobs = ipd_model_ops(IPD_MODEL_KJOBS);
    pods->on_list_begin(model);
    pods->on_object(model, IPD_WATCH_ADDED, px);
    pods->on_list_end(model);
    cr_assert_eq(ipd_model_stats(model)->pods, 1);
    json_t *kx = kjob(&x, "node-a", 1, 0);
    kjobs->on_list_begin(model);
    kjobs->on_object(model, IPD_WATCH_ADDED, kx);
    kjobs->on_list_end(model);
    json_decref(kx);
    ipd_model_flush(model, T0 + 3000);

    view_t vy = read_job(y.id), vx = read_job(x.id);
    cr_assert_eq(vy.tasks[0].state, IPD_TASK_CANCELLED, "y's objects are gone");
    cr_assert_eq(vy.job.state, IPD_JOB_CANCELLED);
    cr_assert_eq(vx.tasks[0].state, IPD_TASK_PULLING, "x was listed and keeps its state");
    cr_assert_eq(vx.job.version, 1);
    cr_assert_eq(ipd_model_stats(model)->jobs, 1, "y is final with nothing left in Kubernetes");
    json_decref(px);
    json_decref(py);
}

/* The order in which the evidence of a success arrives. */
typedef enum success_order {
    PULLED_THEN_COMPLETED, /* the kubelet's Pulled Event, then the pod's exit 0 */
    COMPLETED_THEN_PULLED, /* the pod's exit 0, then the Pulled Event */
    JOB_THEN_POD,          /* the Job's Complete condition, then the pod and its Events */
} success_order_t;

/* Runs one success of job `id` on node-a in `order`; returns its task when it first became
 * final (`*first`) and after everything arrived. */
static ipd_task_t succeed_in_order(const char *id, success_order_t order, ipd_task_t *first)
{
    ipd_job_t job = job_on_node_a(id, 3, 0);
    char pod_name[32], ev1[40], ev2[40];
    snprintf(pod_name, sizeof(pod_name), "pull-%s", id);
    snprintf(ev1, sizeof(ev1), "%s.1", pod_name);
    snprintf(ev2, sizeof(ev2), "%s.2", pod_name);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", pod_name, 1, "creating"));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event(ev1, pod_name, "Pulling", "Pulling image \"" IMAGE "\"", 1, 2));
    ipd_model_flush(model, T0 + 2000);
    if (order == PULLED_THEN_COMPLETED) {
        apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event(ev2, pod_name, "Pulled", PULLED_MSG, 1, 4));
        ipd_model_flush(model, T0 + 4000);
        cr_assert_eq(read_job(id).tasks[0].state, IPD_TASK_PULLING);
        apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", pod_name, 1, "completed"));
    } else if (order == COMPLETED_THEN_PULLED) {
        apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", pod_name, 1, "completed"));
    } else {
        apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-a", "Complete", "CompletionsReached"));
    }
    ipd_model_flush(model, T0 + 5000);
    view_t v = read_job(id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_SUCCEEDED, "order %d", (int)order);
    *first = v.tasks[0];
    /* Everything else arrives, some of it twice. */
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", pod_name, 1, "completed"));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_MODIFIED, event(ev2, pod_name, "Pulled", PULLED_MSG, 1, 4));
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-a", "Complete", "CompletionsReached"));
    ipd_model_flush(model, T0 + 6000);
    apply(IPD_MODEL_EVENTS, IPD_WATCH_MODIFIED, event(ev2, pod_name, "Pulled", PULLED_MSG, 1, 4));
    ipd_model_flush(model, T0 + 7000);
    v = read_job(id);
    cr_assert_eq(v.job.state, IPD_JOB_SUCCEEDED);
    return v.tasks[0];
}

Test(model, a_succeeded_task_says_the_same_whatever_evidence_came_first)
{
    static const char *const ids[] = {"pj-000000f1", "pj-000000f2", "pj-000000f3"};
    ipd_task_t first[3], last[3];
    for (int o = 0; o < 3; o++) {
        last[o] = succeed_in_order(ids[o], (success_order_t)o, &first[o]);
        cr_assert_str_eq(last[o].reason, first[o].reason, "order %d: the final reason changed", o);
        cr_assert_str_eq(last[o].message, first[o].message, "order %d: the final message changed", o);
        cr_assert_eq(last[o].state, IPD_TASK_SUCCEEDED);
        cr_assert_eq(last[o].pull_ms, 1500, "order %d: the figures follow", o);
        cr_assert_eq(last[o].image_bytes, 123);
        cr_assert_eq(last[o].attempts, 1);
    }
    for (int o = 1; o < 3; o++) {
        cr_assert_str_eq(last[o].reason, last[0].reason, "order %d gave another reason", o);
        cr_assert_str_eq(last[o].message, last[0].message, "order %d gave another message", o);
        cr_assert_eq(last[o].cause, last[0].cause);
    }
    cr_assert_str_eq(last[0].reason, IPD_REASON_PULLED);
    cr_assert_str_eq(last[0].message, IPD_MESSAGE_PULLED);
}

Test(model, events_that_arrive_before_their_pod_apply_once_it_arrives)
{
    ipd_job_t job = job_on_node_a("pj-0000000c", 3, 0);
    ipd_model_flush(model, T0);
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("e1", "pull-a-1", "Pulling", "Pulling image", 3, 2));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("e2", "pull-a-1", "Pulled", PULLED_MSG, 1, 3));
    cr_assert_eq(ipd_model_flush(model, T0 + 3000), 0, "events of an unknown pod change no job");
    cr_assert_eq(ipd_model_stats(model)->pods, 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "pull-a-1", 1, "creating"));
    cr_assert_eq(ipd_model_flush(model, T0 + 4000), 1);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_PULLING, "pulled, the no-op has not exited yet");
    cr_assert_str_eq(v.tasks[0].reason, "Pulled");
    cr_assert_eq(v.tasks[0].attempts, 3);
    cr_assert_eq(v.tasks[0].pull_ms, 1500);
    cr_assert_eq(v.tasks[0].image_bytes, 123);
    cr_assert_eq(ipd_model_stats(model)->pods, 1);
}

Test(model, replacement_pod_takes_over_and_attempts_add_up)
{
    ipd_job_t job = job_on_node_a("pj-0000000d", 6, 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "pull-a-1", 1, "backoff"));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("e1", "pull-a-1", "Pulling", "Pulling image", 2, 2));
    ipd_model_flush(model, T0 + 3000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_RETRYING);
    cr_assert_eq(v.tasks[0].attempts, 2);

    /* The Job's next pod (created later) becomes the task's pod. */
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "pull-a-2", 20, "creating"));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("e2", "pull-a-2", "Pulling", "Pulling image", 1, 21));
    ipd_model_flush(model, T0 + 21000);
    v = read_job(job.id);
    cr_assert_str_eq(v.tasks[0].pod, "pull-a-2");
    cr_assert_eq(v.tasks[0].state, IPD_TASK_PULLING);
    cr_assert_eq(v.tasks[0].attempts, 3);

    /* A late update of the older pod does not take the task back, nor does its deletion count twice. */
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-a-1", 1, "backoff"));
    apply(IPD_MODEL_PODS, IPD_WATCH_DELETED, pod(job.id, "node-a", "pull-a-1", 1, "backoff"));
    ipd_model_flush(model, T0 + 22000);
    v = read_job(job.id);
    cr_assert_str_eq(v.tasks[0].pod, "pull-a-2");
    cr_assert_eq(v.tasks[0].attempts, 3);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_PULLING);

    /* The replacement pod succeeds. */
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-a-2", 20, "completed"));
    ipd_model_flush(model, T0 + 25000);
    v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_SUCCEEDED);
    cr_assert_eq(v.tasks[0].attempts, 3);
}

Test(model, both_pods_of_a_task_in_one_batch_add_up)
{
    /* As after a master restart: the list brings the old and the new pod before any flush. */
    ipd_job_t job = job_on_node_a("pj-0000000e", 6, 0);
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("e1", "pull-a-1", "Pulling", "Pulling image", 2, 2));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("e2", "pull-a-2", "Pulling", "Pulling image", 1, 21));
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "pull-a-1", 1, "backoff"));
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "pull-a-2", 20, "creating"));
    ipd_model_flush(model, T0 + 22000);
    view_t v = read_job(job.id);
    cr_assert_str_eq(v.tasks[0].pod, "pull-a-2");
    cr_assert_eq(v.tasks[0].state, IPD_TASK_PULLING);
    cr_assert_eq(v.tasks[0].attempts, 3);
}

/* Job `id` on node-a with two pods of two failed attempts each, published at T0 + 22 s. */
static ipd_job_t two_pods_of_two_attempts(const char *id)
{
    ipd_job_t job = job_on_node_a(id, 6, 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "pull-a-1", 1, "backoff"));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("e1", "pull-a-1", "Pulling", "Pulling image", 2, 2));
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "pull-a-2", 20, "backoff"));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("e2", "pull-a-2", "Pulling", "Pulling image", 2, 21));
    ipd_model_flush(model, T0 + 22000);
    cr_assert_eq(read_job(job.id).tasks[0].attempts, 4);
    return job;
}

/*
 * A new master of two_pods_of_two_attempts' job, whose first pod was deleted meanwhile, lists
 * the Job and the second pod, publishes, and only then lists the events that show its two
 * attempts: the task shows 4 attempts throughout, and a later attempt of the listed pod makes 5.
 */
static void relist_second_pod(const ipd_job_t *job)
{
    add_kjob(job, "node-a", 1, 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job->id, "node-a", "pull-a-2", 20, "backoff"));
    ipd_model_flush(model, T0 + 60000);
    view_t v = read_job(job->id);
    cr_assert_eq(v.tasks[0].attempts, 4, "before the events: attempts went back to %u", v.tasks[0].attempts);
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("e2", "pull-a-2", "Pulling", "Pulling image", 2, 21));
    ipd_model_initial_sync_done(model);
    ipd_model_flush(model, T0 + 61000);
    v = read_job(job->id);
    cr_assert_eq(v.tasks[0].attempts, 4, "once listed: %u attempts, not 4", v.tasks[0].attempts);
    apply(IPD_MODEL_EVENTS, IPD_WATCH_MODIFIED, event("e2", "pull-a-2", "Pulling", "Pulling image", 3, 62));
    ipd_model_flush(model, T0 + 63000);
    cr_assert_eq(read_job(job->id).tasks[0].attempts, 5);
}

Test(model, attempts_of_pods_deleted_while_no_master_watched_still_count)
{
    ipd_job_t job = two_pods_of_two_attempts("pj-00000014");

    /* The master stops; the first pod is deleted meanwhile; the table held 4 attempts. */
    restart_master();
    relist_second_pod(&job);
}

Test(model, reattached_table_reloads_active_jobs_and_cancels_the_vanished)
{
    ipd_job_t a = job_of("pj-00000010", 3, 0), b = job_of("pj-00000011", 3, 0), done = job_of("pj-00000012", 3, 0);
    add_kjob(&a, "node-a", 1, 0);
    apply_pulling(a.id, "node-a", "pull-a-1", "ea");
    add_kjob(&b, "node-b", 1, 0);
    add_kjob(&done, "node-a", 1, 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(done.id, "node-a", "pull-d-1", 1, "completed"));
    cr_assert_eq(ipd_model_flush(model, T0 + 2000), 3);
    cr_assert_eq(read_job(done.id).job.state, IPD_JOB_SUCCEEDED);
    view_t before = read_job(a.id);
    cr_assert_eq(before.job.state, IPD_JOB_PULLING);

    restart_master();
    cr_assert_eq(ipd_model_stats(model)->jobs, 2, "the two active jobs are reloaded, not the finished one");

    /* The first lists find only a's objects; b's Job vanished while no master watched. */
    add_kjob(&a, "node-a", 1, 0);
    apply_pulling(a.id, "node-a", "pull-a-1", "ea");
    uint64_t gen = ipd_table_generation(table);
    ipd_model_initial_sync_done(model);
    cr_assert_eq(ipd_model_flush(model, T0 + 60000), 1, "only b changed");
    cr_assert_eq(ipd_table_generation(table), gen + 1);
    view_t va = read_job(a.id), vb = read_job(b.id);
    cr_assert_eq(va.job.version, before.job.version);
    cr_assert_eq(va.job.state, IPD_JOB_PULLING);
    cr_assert_eq(va.job.started_at, before.job.started_at);
    cr_assert_eq(vb.tasks[0].state, IPD_TASK_CANCELLED);
    cr_assert_eq(vb.job.state, IPD_JOB_CANCELLED);
    cr_assert_eq(vb.job.version, 2);
    cr_assert_eq(vb.job.finished_at, T0 + 60000);
    cr_assert_eq(read_job(done.id).job.state, IPD_JOB_SUCCEEDED, "history stays in the table");
    cr_assert_eq(ipd_model_stats(model)->jobs, 1);
}

/* A pod failed by the kubelet for outlasting its activeDeadlineSeconds (the pod in its shape). */
static json_t *timed_out_pod(const char *job_id, const char *node, const char *name, int created_s)
{
    json_t *p = pod(job_id, node, name, created_s, "creating");
    json_t *status = json_object_get(p, "status");
    json_object_set_new(status, "phase", json_string("Failed"));
    json_object_set_new(status, "reason", json_string("DeadlineExceeded"));
    json_object_set_new(status, "message",
                        json_string("Pod was active on the node longer than the specified deadline"));
    return p;
}

Test(model, a_timed_out_attempt_is_a_failed_one_named_pull_timeout)
{
    ipd_job_t job = job_of("pj-00000013", 1, 0);
    job.spec.timeout_seconds = 30;
    add_kjob(&job, "node-a", 1, 0);
    apply_pulling(job.id, "node-a", "pull-a-1", "ea");
    ipd_model_flush(model, T0 + 2000);
    /* The kubelet fails the pod at its deadline; the Job starts another attempt. */
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, timed_out_pod(job.id, "node-a", "pull-a-1", 1));
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 32000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_RETRYING);
    cr_assert_str_eq(v.tasks[0].reason, "PullTimeout");
    cr_assert_str_eq(v.tasks[0].message, "the pull attempt took longer than timeout_seconds (30 s)");
    /* The second attempt times out too: the Job fails on its backoff limit, the task says why. */
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, timed_out_pod(job.id, "node-a", "pull-a-2", 33));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("ea2", "pull-a-2", "Pulling", "Pulling image", 1, 34));
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-a", "Failed", "BackoffLimitExceeded"));
    ipd_model_flush(model, T0 + 64000);
    v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_FAILED);
    cr_assert_str_eq(v.tasks[0].reason, "PullTimeout");
    cr_assert_eq(v.tasks[0].attempts, 2);
    cr_assert_eq(v.job.state, IPD_JOB_FAILED);
    cr_assert_eq(count_actions("delete_pod"), 0, "the kubelet ends the attempt, not the master");
}

Test(model, jobs_not_seen_yet_hold_parallelism_slots)
{
    /* The watch delivers the suspended Job first; the two created running are not seen yet. */
    ipd_job_t job = job_of("pj-00000014", 3, 2);
    add_kjob(&job, "node-c", 3, 1);
    ipd_model_flush(model, T0 + 1000);
    cr_assert_eq(count_actions("resume"), 0, "two unseen Jobs may be running");
    add_kjob(&job, "node-a", 3, 0);
    add_kjob(&job, "node-b", 3, 0);
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(count_actions("resume"), 0);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-a", "Complete", "CompletionsReached"));
    ipd_model_flush(model, T0 + 3000);
    cr_assert_eq(count_actions("resume"), 1);
}

Test(model, a_late_event_brings_a_forgotten_job_back_with_its_history)
{
    ipd_job_t job = job_on_node_a("pj-0000000f", 3, 0);
    apply_pulled(job.id, "node-a", "late-1", "late-1.1");
    ipd_model_flush(model, T0 + 5000);
    view_t before = read_job(job.id);
    cr_assert_eq(before.job.state, IPD_JOB_SUCCEEDED);

    /* Its Job and pod go away: the model lets the finished job go (the table keeps it). */
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, kjob(&job, "node-a", 1, 0));
    apply(IPD_MODEL_PODS, IPD_WATCH_DELETED, pod(job.id, "node-a", "late-1", 1, "completed"));
    ipd_model_flush(model, T0 + 6000);
    cr_assert_eq(ipd_model_stats(model)->jobs, 0, "the finished job is still held");

    /* A late pod update of that job: it returns from the table, not as a new job. */
    size_t slots_before = 0, total_before = 0, total_after = 0;
    ipd_table_ref_t refs[4];
    ipd_table_list(table, IPD_TABLE_LIST_ACTIVE, refs, 4, &slots_before, &total_before, NULL);
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "late-1", 1, "completed"));
    ipd_model_flush(model, T0 + 9000);
    view_t after = read_job(job.id);
    cr_assert_eq(after.job.created_at, before.job.created_at, "the job came back with a new creation time");
    cr_assert_eq(after.job.finished_at, before.job.finished_at);
    cr_assert_eq(after.job.state, IPD_JOB_SUCCEEDED);
    cr_assert_eq(after.tasks[0].pull_ms, 1500, "the pull figures were kept");
    cr_assert_geq(after.job.version, before.job.version);
    ipd_table_list(table, IPD_TABLE_LIST_ACTIVE, refs, 4, &slots_before, &total_after, NULL);
    cr_assert_eq(total_after, total_before, "the late event made an active job");
}

/* Flushes and checks that job `id` still shows `state` on the job and on every task, at a version
 * not below `*version` (updated). */
static void flush_keeps(const char *id, ipd_job_state_t state, ipd_task_state_t task_state, int64_t now,
                        uint64_t *version)
{
    ipd_model_flush(model, now);
    view_t v = read_job(id);
    cr_assert_eq(v.job.state, state, "at %lld the job went from %s to %s", (long long)(now - T0),
                 ipd_job_state_name(state), ipd_job_state_name(v.job.state));
    for (size_t i = 0; i < v.ntasks; i++)
        cr_assert_eq(v.tasks[i].state, task_state, "at %lld task %s went from %s to %s", (long long)(now - T0),
                     v.tasks[i].node, ipd_task_state_name(task_state), ipd_task_state_name(v.tasks[i].state));
    cr_assert_geq(v.job.version, *version, "the version went back from %llu to %llu", (unsigned long long)*version,
                  (unsigned long long)v.job.version);
    *version = v.job.version;
}

/*
 * test_pull_jobs (tests/integration/ws/check_final.py): the pods watch is throttled and dropped
 * while the Jobs watch is not, so both Jobs report Complete while the model last saw their pods
 * pulling. The pods watch then catches up: a full list with the pods as they were, replayed
 * updates of an older attempt, the deletions, and once the job is let go, one more late update.
 */
Test(model, a_pods_watch_behind_the_jobs_watch_never_reopens_a_finished_job)
{
    ipd_job_t job = job_of("pj-28e2902d", 3, 0);
    uint64_t version = 0;
    add_kjob(&job, "node-a", 2, 0);
    add_kjob(&job, "node-b", 2, 0);
    json_t *pa = pod(job.id, "node-a", "pull-a", 1, "creating"), *pb = pod(job.id, "node-b", "pull-b", 1, "creating");
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, json_incref(pa));
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, json_incref(pb));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("pull-a.1", "pull-a", "Pulling", "Pulling image", 1, 2));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("pull-b.1", "pull-b", "Pulling", "Pulling image", 1, 2));
    flush_keeps(job.id, IPD_JOB_PULLING, IPD_TASK_PULLING, T0 + 2000, &version);

    /* The Jobs watch: both Complete, the pods still pulling as far as the model knows. */
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-a", "Complete", "CompletionsReached"));
    ipd_model_flush(model, T0 + 3000);
    view_t half = read_job(job.id);
    cr_assert_eq(half.job.state, IPD_JOB_PULLING);
    cr_assert_eq(task_on(&half, "node-a")->state, IPD_TASK_SUCCEEDED);
    cr_assert_eq(task_on(&half, "node-b")->state, IPD_TASK_PULLING);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-b", "Complete", "CompletionsReached"));
    flush_keeps(job.id, IPD_JOB_SUCCEEDED, IPD_TASK_SUCCEEDED, T0 + 4000, &version);

    /* The pods watch is back after 410 Gone: a full list shows the pods as the watch last had
     * them, then the events and updates it missed, older ones first. */
    const ipd_reflector_ops_t *pods = ipd_model_ops(IPD_MODEL_PODS);
    pods->on_list_begin(model);
    pods->on_object(model, IPD_WATCH_ADDED, pa);
    pods->on_object(model, IPD_WATCH_ADDED, pb);
    pods->on_list_end(model);
    flush_keeps(job.id, IPD_JOB_SUCCEEDED, IPD_TASK_SUCCEEDED, T0 + 5000, &version);
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-a", 1, "backoff"));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("pull-a.2", "pull-a", "Failed", "ErrImagePull", 1, 3));
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-b", "pull-b", 1, "running"));
    flush_keeps(job.id, IPD_JOB_SUCCEEDED, IPD_TASK_SUCCEEDED, T0 + 6000, &version);
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-a", 1, "completed"));
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-b", "pull-b", 1, "completed"));
    flush_keeps(job.id, IPD_JOB_SUCCEEDED, IPD_TASK_SUCCEEDED, T0 + 7000, &version);

    /* Everything goes; the model lets the job go; a replayed update of an older attempt comes. */
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, kjob(&job, "node-a", 2, 0));
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, kjob(&job, "node-b", 2, 0));
    apply(IPD_MODEL_PODS, IPD_WATCH_DELETED, pa);
    apply(IPD_MODEL_PODS, IPD_WATCH_DELETED, pb);
    flush_keeps(job.id, IPD_JOB_SUCCEEDED, IPD_TASK_SUCCEEDED, T0 + 8000, &version);
    cr_assert_eq(ipd_model_stats(model)->jobs, 0, "the finished job is still held");
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-a", 1, "backoff"));
    flush_keeps(job.id, IPD_JOB_SUCCEEDED, IPD_TASK_SUCCEEDED, T0 + 9000, &version);
}

/*
 * A finished job the model let go of and the table then evicted (a full table makes room for a
 * new job) is gone: a late update of one of its pods (a pods watch behind, replaying what it
 * missed) does not bring it back as a new job of version 1 that shows the pod's old attempt in
 * place of the terminal state it was published with, evicting a job that is still history.
 */
Test(model, a_late_pod_of_an_evicted_job_does_not_bring_it_back)
{
    ipd_job_t done = job_of("pj-00000e00", 3, 0);
    add_kjob(&done, "node-a", 1, 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(done.id, "node-a", "done-1", 1, "completed"));
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(read_job(done.id).job.state, IPD_JOB_SUCCEEDED);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, kjob(&done, "node-a", 1, 0));
    apply(IPD_MODEL_PODS, IPD_WATCH_DELETED, pod(done.id, "node-a", "done-1", 1, "completed"));
    ipd_model_flush(model, T0 + 3000);
    cr_assert_eq(ipd_model_stats(model)->jobs, 0);

    /* As many active jobs as the table holds: the last one evicts the finished job. */
    uint32_t cap = ipd_table_job_capacity(table);
    ipd_job_t fill[64];
    cr_assert_leq(cap, 64);
    for (uint32_t i = 0; i < cap; i++) {
        char id[IPD_JOB_ID_SIZE];
        snprintf(id, sizeof(id), "pj-00001%03x", (unsigned)i);
        fill[i] = job_of(id, 3, 0);
        add_kjob(&fill[i], "node-a", 1, 0);
        ipd_model_flush(model, T0 + 4000);
    }
    ipd_job_t gone;
    ipd_table_job_view_t tv = {.job = &gone};
    cr_assert_eq(ipd_table_get_job(table, done.id, &tv), IPD_ENOTFOUND, "the table did not evict the finished job");

    /* One of them finishes (room for a finished job again); then the late pod update comes. */
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&fill[0], "node-a", "Complete", "CompletionsReached"));
    ipd_model_flush(model, T0 + 5000);
    cr_assert_eq(read_job(fill[0].id).job.state, IPD_JOB_SUCCEEDED);
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(done.id, "node-a", "done-1", 1, "backoff"));
    ipd_model_flush(model, T0 + 6000);
    int rc = ipd_table_get_job(table, done.id, &tv);
    cr_assert_eq(rc, IPD_ENOTFOUND, "the evicted job came back %s at version %llu", ipd_job_state_name(gone.state),
                 (unsigned long long)gone.version);
    cr_assert_eq(read_job(fill[0].id).job.state, IPD_JOB_SUCCEEDED, "the finished job that is still history stays");
    cr_assert_eq(ipd_model_stats(model)->jobs, (uint64_t)cap);
}

Test(model, a_replacement_pod_does_not_undo_a_succeeded_pull)
{
    ipd_job_t job = job_on_node_a("pj-00000010", 3, 0);
    apply_pulled(job.id, "node-a", "first-1", "first-1.1");
    ipd_model_flush(model, T0 + 5000);
    cr_assert_eq(read_job(job.id).tasks[0].state, IPD_TASK_SUCCEEDED);

    /* The Job starts a replacement in the same second; it has not pulled anything yet. */
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "first-2", 1, "creating"));
    ipd_model_flush(model, T0 + 6000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_SUCCEEDED, "the task went back to %s",
                 ipd_task_state_name(v.tasks[0].state));
    cr_assert_eq(v.job.state, IPD_JOB_SUCCEEDED);
    cr_assert_eq(v.tasks[0].pull_ms, 1500);
    cr_assert_eq(count_actions("delete_job"), 0, "a Job that Completed is left to its ttlSecondsAfterFinished");
}

/*
 * The issue's case: the pods watch is behind (429s, then a dropped watch) while the Jobs watch
 * is not. Whatever order the evidence arrives in, a published terminal state never changes.
 */
Test(model, a_terminal_state_never_changes_whatever_arrives_late)
{
    /* The Job Completed before its pod was seen: succeeded at once, figures land later. */
    ipd_job_t ok = job_of("pj-00000020", 1, 0);
    add_kjob(&ok, "node-a", 1, 0);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&ok, "node-a", "Complete", "CompletionsReached"));
    ipd_model_flush(model, T0 + 1000);
    view_t v = read_job(ok.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_SUCCEEDED);
    cr_assert_eq(v.job.state, IPD_JOB_SUCCEEDED);
    int64_t finished = v.job.finished_at;
    /* Then the lagging pods watch delivers the history: a failed first attempt, a backing-off
     * one, the success; and the Job is deleted. Nothing of it changes the state. */
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(ok.id, "node-a", "ok-1", 1, "starterror"));
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(ok.id, "node-a", "ok-2", 2, "backoff"));
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(read_job(ok.id).tasks[0].state, IPD_TASK_SUCCEEDED);
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("ok-2.1", "ok-2", "Pulled", PULLED_MSG, 1, 3));
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(ok.id, "node-a", "ok-2", 2, "completed"));
    ipd_model_flush(model, T0 + 3000);
    v = read_job(ok.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_SUCCEEDED);
    cr_assert_eq(v.tasks[0].pull_ms, 1500, "figures that come later still land");
    cr_assert_eq(v.job.finished_at, finished);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, kjob(&ok, "node-a", 1, 0));
    ipd_model_flush(model, T0 + 4000);
    cr_assert_eq(read_job(ok.id).job.state, IPD_JOB_SUCCEEDED, "a DELETE after the end changes nothing");

    /* The Job Failed (its backoff limit) before the pods watch showed anything: failed, and a
     * pod that shows the image pulled afterwards does not turn it into a success. */
    ipd_job_t bad = job_of("pj-00000021", 1, 0);
    add_kjob(&bad, "node-a", 1, 0);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&bad, "node-a", "Failed", "BackoffLimitExceeded"));
    ipd_model_flush(model, T0 + 1000);
    v = read_job(bad.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_FAILED);
    cr_assert_str_eq(v.tasks[0].reason, "BackoffLimitExceeded");
    cr_assert_eq(v.job.state, IPD_JOB_FAILED);
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("bad-1.1", "bad-1", "Pulled", PULLED_MSG, 1, 3));
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(bad.id, "node-a", "bad-1", 1, "running"));
    ipd_model_flush(model, T0 + 3000);
    v = read_job(bad.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_FAILED);
    cr_assert_str_eq(v.tasks[0].reason, "BackoffLimitExceeded");
    cr_assert_eq(v.job.state, IPD_JOB_FAILED);

    /* A failed pod alone is not final: its Job starts another, which may succeed. */
    ipd_job_t retry = job_of("pj-00000022", 1, 0);
    add_kjob(&retry, "node-a", 1, 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(retry.id, "node-a", "retry-1", 1, "starterror"));
    ipd_model_flush(model, T0 + 1000);
    cr_assert_eq(read_job(retry.id).tasks[0].state, IPD_TASK_RETRYING);
    cr_assert_eq(read_job(retry.id).job.state, IPD_JOB_PULLING);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(retry.id, "node-a", "retry-2", 2, "completed"));
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(read_job(retry.id).tasks[0].state, IPD_TASK_SUCCEEDED);
}

Test(model, pull_figures_that_arrive_after_success_still_land)
{
    ipd_job_t job = job_on_node_a("pj-00000011", 3, 0);
    /* The pod says the container failed to start (the image is in) before the Pulled event. */
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "early-1", 1, "completed"));
    ipd_model_flush(model, T0 + 5000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_SUCCEEDED);
    cr_assert_eq(v.tasks[0].pull_ms, IPD_UNKNOWN_I64);
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("early-1.1", "early-1", "Pulled", PULLED_MSG, 1, 4));
    ipd_model_flush(model, T0 + 6000);
    v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_SUCCEEDED);
    cr_assert_eq(v.tasks[0].pull_ms, 1500);
    cr_assert_eq(v.tasks[0].image_bytes, 123);
}

/* ---- pods decoded to the model's shape ---- */

static ipd_table_t *pruned_table;
static ipd_model_t *pruned_model;

/* The second table of the pruned-pods test, "<instance>-pruned". */
static void remove_pruned_twin(void)
{
    char other[sizeof(instance) + 8];
    snprintf(other, sizeof(other), "%s-pruned", instance);
    ipd_model_destroy(pruned_model);
    pruned_model = NULL;
    ipd_table_destroy(pruned_table);
    pruned_table = NULL;
    ipd_table_unlink(other);
}

/* Applies `obj` (consumed) to the test's model whole, and to `pruned_model` as the reflector
 * decodes a watched object: from its text, keeping the shape the model's ops name. */
static void apply_both(ipd_model_kind_t kind, ipd_watch_type_t type, json_t *obj)
{
    const ipd_json_shape_t *shape = ipd_model_ops(kind)->shape;
    json_t *copy = NULL;
    cr_assert_not_null(obj);
    if (shape == NULL) {
        copy = json_incref(obj);
    } else {
        char *text = json_dumps(obj, 0);
        cr_assert_eq(ipd_json_prune_load(text, strlen(text), shape, &copy), 0);
        free(text);
    }
    ipd_model_apply(model, kind, type, obj);
    ipd_model_apply(pruned_model, kind, type, copy);
    json_decref(obj);
    json_decref(copy);
}

/* Both models flush at `now` and publish the same records. */
static void flush_both_alike(int64_t now, const char *const *ids, size_t nids)
{
    size_t a = ipd_model_flush(model, now), b = ipd_model_flush(pruned_model, now);
    cr_assert_eq(a, b, "at +%lld ms: %zu jobs written from whole pods, %zu from pruned ones", (long long)(now - T0), a,
                 b);
    for (size_t i = 0; i < nids; i++) {
        view_t v[2];
        ipd_table_t *tables[2] = {table, pruned_table};
        for (int k = 0; k < 2; k++) {
            memset(&v[k], 0, sizeof(v[k]));
            ipd_table_job_view_t tv = {.job = &v[k].job, .tasks = v[k].tasks, .task_cap = 8};
            cr_assert_eq(ipd_table_get_job(tables[k], ids[i], &tv), 0, "job %s", ids[i]);
            v[k].ntasks = tv.ntasks;
        }
        cr_assert_eq(v[0].ntasks, v[1].ntasks, "job %s", ids[i]);
        cr_assert_eq(memcmp(&v[0].job, &v[1].job, sizeof(v[0].job)), 0, "job %s at +%lld ms: %s vs %s", ids[i],
                     (long long)(now - T0), ipd_job_state_name(v[0].job.state), ipd_job_state_name(v[1].job.state));
        for (size_t t = 0; t < v[0].ntasks; t++)
            cr_assert_eq(memcmp(&v[0].tasks[t], &v[1].tasks[t], sizeof(v[0].tasks[t])), 0,
                         "job %s task %s at +%lld ms: %s %s vs %s %s", ids[i], v[0].tasks[t].node,
                         (long long)(now - T0), ipd_task_state_name(v[0].tasks[t].state), v[0].tasks[t].reason,
                         ipd_task_state_name(v[1].tasks[t].state), v[1].tasks[t].reason);
    }
}

/* The kubelet-made pod of the fuzz seeds, as the API server sends it (managedFields and all). */
static json_t *kubelet_pod(void)
{
    char path[4096];
    const char *src = getenv("IPD_SOURCE_DIR");
    if (src != NULL) {
        snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/fuzz_json_prune/pod_managed_fields", src);
    } else {
        snprintf(path, sizeof(path), "%s", __FILE__);
        char *cut = strstr(path, "/tests/unit/");
        cr_assert_not_null(cut, "set IPD_SOURCE_DIR to the source tree");
        snprintf(cut, sizeof(path) - (size_t)(cut - path), "/tests/fuzz/corpus/fuzz_json_prune/pod_managed_fields");
    }
    json_t *ev = json_load_file(path, 0, NULL);
    cr_assert_not_null(ev, "%s", path);
    json_t *pod = json_incref(json_object_get(ev, "object"));
    json_decref(ev);
    return pod;
}

Test(model, pods_decoded_to_the_model_s_shape_give_the_same_table)
{
    char other[80];
    snprintf(other, sizeof(other), "%s-pruned", instance);
    ipd_table_unlink(other);
    pruned_table = create_table(other, NULL);
    cr_assert_eq(ipd_model_create(pruned_table, NULL, &pruned_model), 0);
    cr_assert_eq(ipd_model_ops(IPD_MODEL_PODS)->shape, &ipd_kube_pod_shape);

    ipd_job_t a = job_of("pj-000000a1", 1, 0), b = job_of("pj-7f3a9c2e", 3, 0);
    static const char *const ids[] = {"pj-000000a1", "pj-7f3a9c2e"};
    const char *kubelet_node = "worker-03.example.internal";
    apply_both(IPD_MODEL_KJOBS, IPD_WATCH_ADDED, kjob(&a, "node-a", 2, 0));
    apply_both(IPD_MODEL_KJOBS, IPD_WATCH_ADDED, kjob(&a, "node-b", 2, 0));
    apply_both(IPD_MODEL_KJOBS, IPD_WATCH_ADDED, kjob(&b, kubelet_node, 1, 0));
    apply_both(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(a.id, "node-a", "pull-a-1", 1, "creating"));
    apply_both(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(a.id, "node-b", "pull-b-1", 1, "backoff"));
    apply_both(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("ea", "pull-a-1", "Pulling", "Pulling image", 1, 2));
    apply_both(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("eb", "pull-b-1", "Pulling", "Pulling image", 1, 2));
    apply_both(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, kubelet_pod());
    flush_both_alike(T0 + 3000, ids, 2);

    apply_both(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(a.id, "node-a", "pull-a-1", 1, "completed"));
    apply_both(IPD_MODEL_EVENTS, IPD_WATCH_MODIFIED, event("eb", "pull-b-1", "Pulling", "Pulling image", 2, 12));
    apply_both(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(a.id, "node-b", "pull-b-2", 20, "creating"));
    apply_both(IPD_MODEL_EVENTS, IPD_WATCH_ADDED,
               event("ek", "imgpull-pj-7f3a9c2e-worker-03-x7k2p", "Pulling", "Pulling image", 3, 15));
    flush_both_alike(T0 + 21000, ids, 2);

    apply_both(IPD_MODEL_PODS, IPD_WATCH_DELETED, pod(a.id, "node-b", "pull-b-1", 1, "backoff"));
    apply_both(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(a.id, "node-b", "pull-b-2", 20, "completed"));
    apply_both(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("eb2", "pull-b-2", "Pulled", PULLED_MSG, 1, 22));
    apply_both(IPD_MODEL_PODS, IPD_WATCH_DELETED, kubelet_pod());
    flush_both_alike(T0 + 25000, ids, 2);
    view_t v = read_job(a.id);
    cr_assert_eq(v.job.state, IPD_JOB_SUCCEEDED, "the scenario should end with job %s succeeded, not %s", a.id,
                 ipd_job_state_name(v.job.state));

    remove_pruned_twin();
}

/* A Node as the reflector hands it over: Ready or not, cordoned or not, with `taints` (JSON, may be NULL). */
static json_t *node_obj(const char *name, int ready, int cordoned, const char *taints)
{
    json_t *n = json_pack("{s:{s:s}, s:{}, s:{s:[{s:s, s:s, s:s, s:s}]}}", "metadata", "name", name, "spec", "status",
                          "conditions", "type", "Ready", "status", ready ? "True" : "Unknown", "reason",
                          ready ? "KubeletReady" : "NodeStatusUnknown", "message",
                          ready ? "kubelet is posting ready status" : "Kubelet stopped posting node status.");
    if (cordoned)
        json_object_set_new(json_object_get(n, "spec"), "unschedulable", json_true());
    if (taints != NULL)
        json_object_set_new(json_object_get(n, "spec"), "taints", json_loads(taints, 0, NULL));
    return n;
}

static void list_nodes(json_t *const *nodes, size_t n)
{
    const ipd_reflector_ops_t *ops = ipd_model_ops(IPD_MODEL_NODES);
    ops->on_list_begin(model);
    for (size_t i = 0; i < n; i++) {
        ops->on_object(model, IPD_WATCH_ADDED, nodes[i]);
        json_decref(nodes[i]);
    }
    ops->on_list_end(model);
}

/* Lists `n` Ready nodes, node-0 ... named with `digits` digits. */
static void list_ready_nodes(int n, int digits)
{
    json_t **nodes = calloc((size_t)n, sizeof(*nodes));
    cr_assert_not_null(nodes);
    char node[32];
    for (int i = 0; i < n; i++) {
        snprintf(node, sizeof(node), "node-%0*d", digits, i);
        nodes[i] = node_obj(node, 1, 0, NULL);
    }
    list_nodes(nodes, (size_t)n);
    free(nodes);
}

Test(model, a_task_held_by_its_node_says_why_and_is_resumed_once_the_node_can_take_it)
{
    ipd_job_t job = job_of("pj-0000000a", 3, 0);
    char nb[IPD_KUBE_JOB_NAME_SIZE], nc[IPD_KUBE_JOB_NAME_SIZE], nd[IPD_KUBE_JOB_NAME_SIZE], want[160];
    kjob_name(job.id, "node-b", nb);
    kjob_name(job.id, "node-c", nc);
    kjob_name(job.id, "node-d", nd);
    /* The pull pod tolerates nothing here. */
    json_t *k[4] = {kjob(&job, "node-a", 4, 0), kjob(&job, "node-b", 4, 1), kjob(&job, "node-c", 4, 1),
                    kjob(&job, "node-d", 4, 1)};
    for (int i = 0; i < 4; i++) {
        json_object_del(json_object_get(json_object_get(json_object_get(k[i], "spec"), "template"), "spec"),
                        "tolerations");
        apply(IPD_MODEL_KJOBS, IPD_WATCH_ADDED, k[i]);
    }
    /* node-a's pod is there but its kubelet is gone: nothing reports about the pod. */
    json_t *pa = pod(job.id, "node-a", "pull-a-1", 1, "creating");
    json_object_del(json_object_get(pa, "status"), "containerStatuses");
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pa);
    json_t *nodes[] = {node_obj("node-a", 0, 0, NULL), node_obj("node-b", 1, 1, NULL),
                       node_obj("node-c", 1, 0, "[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]"),
                       node_obj("node-d", 0, 0, NULL)};
    list_nodes(nodes, 4);
    ipd_model_flush(model, T0 + 2000);
    view_t v = read_job(job.id);
    cr_assert_str_eq(task_on(&v, "node-a")->reason, "NodeNotReady");
    cr_assert_str_eq(task_on(&v, "node-a")->message,
                     "node node-a is not Ready (NodeStatusUnknown): Kubelet stopped posting node status.");
    cr_assert_str_eq(task_on(&v, "node-b")->reason, "NodeCordoned");
    cr_assert_str_eq(task_on(&v, "node-c")->reason, "Unschedulable");
    cr_assert_str_eq(task_on(&v, "node-c")->message,
                     "node node-c has the taint dedicated=db:NoSchedule, which the pull pod does not tolerate");
    cr_assert_str_eq(task_on(&v, "node-d")->reason, "NodeNotReady");
    cr_assert_eq(count_actions("resume"), 0, "no task starts on a node that cannot take it");

    /* node-b is uncordoned and node-d becomes Ready: both are resumed (no parallelism), node-c stays. */
    apply(IPD_MODEL_NODES, IPD_WATCH_MODIFIED, node_obj("node-b", 1, 0, NULL));
    apply(IPD_MODEL_NODES, IPD_WATCH_MODIFIED, node_obj("node-d", 1, 0, NULL));
    ipd_model_flush(model, T0 + 3000);
    cr_assert_eq(count_actions("resume"), 2);
    snprintf(want, sizeof(want), "resume %s/%s", NS, nb);
    cr_assert_str_eq(nth_action("resume", 0), want);
    snprintf(want, sizeof(want), "resume %s/%s", NS, nd);
    cr_assert_str_eq(nth_action("resume", 1), want);
    (void)nc;
    v = read_job(job.id);
    cr_assert_str_eq(task_on(&v, "node-c")->reason, "Unschedulable");

    /* node-c is deleted: gone for good, its task is given up and its Job deleted. */
    apply(IPD_MODEL_NODES, IPD_WATCH_DELETED, node_obj("node-c", 1, 0, NULL));
    ipd_model_flush(model, T0 + 4000);
    v = read_job(job.id);
    cr_assert_eq(task_on(&v, "node-c")->state, IPD_TASK_FAILED);
    cr_assert_str_eq(task_on(&v, "node-c")->reason, "NodeDeleted");
    cr_assert_str_eq(task_on(&v, "node-c")->message,
                     "node node-c was deleted from the cluster; the pull there was given up");
    cr_assert_eq(task_on(&v, "node-c")->cause, IPD_CAUSE_NODE_UNAVAILABLE);
    snprintf(want, sizeof(want), "delete_job %s/%s", NS, nc);
    cr_assert_eq(count_actions("delete_job"), 1);
    cr_assert_str_eq(nth_action("delete_job", 0), want);
}

/*
 * A node the Nodes list never held is not taken for deleted: a job may name a node the workers
 * listed before the master did (a node just added). Its task waits, saying the node is not in the
 * cluster; once listed, it runs. Only a node seen and then gone is given up.
 */
Test(model, a_task_on_a_node_never_listed_waits_and_is_not_given_up)
{
    ipd_job_t job = job_of("pj-0000000e", 1, 0);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_ADDED, kjob(&job, "node-e", 1, 1));
    json_t *nodes[] = {node_obj("node-a", 1, 0, NULL)};
    list_nodes(nodes, 1);
    ipd_model_flush(model, T0 + 2000);
    view_t v = read_job(job.id);
    cr_assert_eq(task_on(&v, "node-e")->state, IPD_TASK_PENDING);
    cr_assert_str_eq(task_on(&v, "node-e")->message, "node node-e is not in the cluster");
    apply(IPD_MODEL_NODES, IPD_WATCH_DELETED, node_obj("node-e", 1, 0, NULL));
    ipd_model_flush(model, T0 + 3000);
    v = read_job(job.id);
    cr_assert_eq(task_on(&v, "node-e")->state, IPD_TASK_PENDING);
    cr_assert_eq(count_actions("delete_job"), 0);
    apply(IPD_MODEL_NODES, IPD_WATCH_ADDED, node_obj("node-e", 1, 0, NULL));
    ipd_model_flush(model, T0 + 4000);
    cr_assert_eq(count_actions("resume"), 1);
}

/* A Node with `labels` (JSON object text), Ready and schedulable. */
static json_t *labelled_node(const char *name, const char *labels)
{
    json_t *n = node_obj(name, 1, 0, NULL);
    json_object_set_new(json_object_get(n, "metadata"), "labels", json_loads(labels, 0, NULL));
    return n;
}

/* A keep job's Kubernetes Job on `node`, with the selection pool=warm. */
static json_t *keep_kjob(const ipd_job_t *job, const char *node)
{
    json_t *k = kjob(job, node, 1, 0);
    json_t *ann = json_object_get(json_object_get(k, "metadata"), "annotations");
    json_object_set_new(ann, "imgpulld.io/node-selection",
                        json_string("{\"node_selector\":{\"matchLabels\":{\"pool\":\"warm\"}}}"));
    return k;
}

Test(model, a_keep_job_follows_its_nodes_and_a_foreign_deletion_cancels_it)
{
    ipd_job_t job = job_of("pj-0000000b", 3, 0);
    job.keep = 1;
    json_t *nodes[] = {labelled_node("node-a", "{\"pool\":\"warm\"}"), labelled_node("node-b", "{\"pool\":\"cold\"}")};
    list_nodes(nodes, 2);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_ADDED, keep_kjob(&job, "node-a"));
    ipd_model_flush(model, T0 + 1000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.job.state, IPD_JOB_KEEPING);
    cr_assert_eq(v.ntasks, 1);
    cr_assert_eq(count_actions("create"), 0, "node-a has its Job");

    /* node-b gets the label: a task and a Job for it. */
    apply(IPD_MODEL_NODES, IPD_WATCH_MODIFIED, labelled_node("node-b", "{\"pool\":\"warm\"}"));
    ipd_model_flush(model, T0 + 2000);
    cr_assert_str_eq(nth_action("create", 0), "create /node-b");
    v = read_job(job.id);
    cr_assert_eq(v.job.nodes.desired, 2);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_ADDED, keep_kjob(&job, "node-b"));

    /* node-a loses it: its Job is deleted by the master, then the task leaves; no cancellation. */
    apply(IPD_MODEL_NODES, IPD_WATCH_MODIFIED, labelled_node("node-a", "{}"));
    ipd_model_flush(model, T0 + 3000);
    char want[160], na[IPD_KUBE_JOB_NAME_SIZE];
    kjob_name(job.id, "node-a", na);
    snprintf(want, sizeof(want), "delete_job %s/%s", NS, na);
    cr_assert_str_eq(nth_action("delete_job", 0), want);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, keep_kjob(&job, "node-a"));
    ipd_model_flush(model, T0 + 4000);
    v = read_job(job.id);
    cr_assert_eq(v.job.state, IPD_JOB_KEEPING);
    cr_assert_eq(v.ntasks, 1);
    cr_assert_str_eq(v.tasks[0].node, "node-b");
    /* A late update of the deleted Job does not bring node-a back. */
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, keep_kjob(&job, "node-a"));
    ipd_model_flush(model, T0 + 4500);
    cr_assert_eq(read_job(job.id).ntasks, 1);

    /* node-b's Job deleted by someone else (DELETE, kubectl): the job is cancelled. */
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, keep_kjob(&job, "node-b"));
    ipd_model_flush(model, T0 + 5000);
    v = read_job(job.id);
    cr_assert_eq(v.job.state, IPD_JOB_CANCELLED);
    size_t creates = count_actions("create");
    apply(IPD_MODEL_NODES, IPD_WATCH_ADDED, labelled_node("node-c", "{\"pool\":\"warm\"}"));
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 6000);
    cr_assert_eq(count_actions("create"), creates, "a cancelled keep job creates nothing");
}

Test(model, a_job_deleted_by_its_ttl_right_after_it_completed_is_a_success)
{
    /* The watch merged the update that completed the Job into its deletion by the TTL. */
    ipd_job_t job = job_on_node_a("pj-00000023", 1, 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "ttl-1", 1, "creating"));
    ipd_model_flush(model, T0 + 1000);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, kjob_finished(&job, "node-a", "Complete", "CompletionsReached"));
    ipd_model_flush(model, T0 + 2000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_SUCCEEDED, "%s", ipd_task_state_name(v.tasks[0].state));
    cr_assert_eq(v.job.state, IPD_JOB_SUCCEEDED);
}

/* The last change record of the table. */
static ipd_ring_entry_t last_record(void)
{
    ipd_ring_entry_t e;
    size_t n = 0;
    uint64_t head = ipd_table_ring_head(table);
    cr_assert_eq(ipd_table_ring_read(table, head - 1, &e, 1, &n), 0);
    cr_assert_eq(n, 1);
    return e;
}

Test(model, a_task_seen_after_the_first_publication_is_published_and_one_change_names_its_task)
{
    ipd_job_t job = job_of("pj-00000031", 3, 0);
    /* Tasks are kept in node order: node-a and then node-b arrive in front of node-c. */
    add_kjob(&job, "node-c", 3, 0);
    ipd_model_flush(model, T0);
    add_kjob(&job, "node-a", 3, 0);
    ipd_model_flush(model, T0 + 1);
    add_kjob(&job, "node-b", 3, 0);
    ipd_model_flush(model, T0 + 2);
    view_t v = read_job(job.id);
    cr_assert_eq(v.ntasks, 3);
    cr_expect_str_eq(v.tasks[0].node, "node-a");
    cr_expect_str_eq(v.tasks[1].node, "node-b");
    cr_expect_str_eq(v.tasks[2].node, "node-c");

    /* node-b's pull starts: the table is given that task alone, and its record names it. */
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-b", "pull-b-1", 1, "creating"));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED,
          event("pull-b-1.1", "pull-b-1", "Pulling", "Pulling image \"" IMAGE "\"", 1, 2));
    cr_assert_eq(ipd_model_flush(model, T0 + 2000), 1);
    ipd_ring_entry_t e = last_record();
    cr_expect_str_eq(e.id, job.id);
    cr_expect_eq(e.task, 1, "the record names node-b's task, got %u", e.task);
    v = read_job(job.id);
    cr_expect_eq(task_on(&v, "node-b")->state, IPD_TASK_PULLING);
    cr_expect_eq(task_on(&v, "node-a")->state, IPD_TASK_PENDING);
    cr_expect_eq(task_on(&v, "node-c")->state, IPD_TASK_PENDING);
    cr_expect_eq(v.job.nodes.pulling, 1);

    /* node-b's pull ends: the table has the new state, the others as they were. */
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("pull-b-1.2", "pull-b-1", "Pulled", PULLED_MSG, 1, 4));
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-b", "pull-b-1", 1, "completed"));
    cr_assert_eq(ipd_model_flush(model, T0 + 5000), 1);
    v = read_job(job.id);
    cr_expect_eq(task_on(&v, "node-b")->state, IPD_TASK_SUCCEEDED);
    cr_expect_eq(task_on(&v, "node-b")->pull_ms, 1500);
    cr_expect_eq(task_on(&v, "node-a")->state, IPD_TASK_PENDING);
    cr_expect_eq(v.job.nodes.succeeded, 1);
    cr_expect_eq(v.job.nodes.pending, 2);
}

#define BIG_TASKS 200

static uint64_t computed_since(uint64_t *mark)
{
    uint64_t now = ipd_model_stats(model)->tasks_computed, d = now - *mark;
    *mark = now;
    return d;
}

/* The job with its counts, and the task on `node` (tasks of a big job do not fit view_t). */
static ipd_job_t read_big(const char *id, const char *node, ipd_task_t *task)
{
    static ipd_task_t tasks[BIG_TASKS];
    ipd_job_t job;
    ipd_table_job_view_t tv = {.job = &job, .tasks = tasks, .task_cap = BIG_TASKS};
    cr_assert_eq(ipd_table_get_job(table, id, &tv), 0);
    cr_assert_eq(tv.ntasks, BIG_TASKS);
    for (size_t i = 0; i < tv.ntasks && node != NULL; i++)
        if (strcmp(tasks[i].node, node) == 0)
            *task = tasks[i];
    return job;
}

Test(model, a_change_recomputes_the_tasks_it_touches_and_the_counts_stay_exact)
{
    /* A flush recomputes the tasks whose objects changed, not the whole job: one pod event in a
     * job of thousands of tasks used to recompute all of them (docs/benchmarks.md, a pull onto
     * 5 000 nodes). */
    ipd_job_t job = job_of("pj-00000041", 3, 0);
    char node[32];
    list_ready_nodes(BIG_TASKS, 3);
    for (int i = 0; i < BIG_TASKS; i++) {
        snprintf(node, sizeof(node), "node-%03d", i);
        add_kjob(&job, node, BIG_TASKS, 0);
    }
    uint64_t mark = 0;
    ipd_model_flush(model, T0 + 1000);
    cr_assert_eq(computed_since(&mark), BIG_TASKS);
    ipd_task_t t;
    ipd_job_t j = read_big(job.id, NULL, NULL);
    cr_assert_eq(j.nodes.pending, BIG_TASKS);

    /* One pod and its event: that task alone. */
    apply_pulling(job.id, "node-042", "pull-42", "pull-42.1");
    cr_assert_eq(ipd_model_flush(model, T0 + 2000), 1);
    cr_assert_eq(computed_since(&mark), 1);
    j = read_big(job.id, "node-042", &t);
    cr_assert_eq(t.state, IPD_TASK_PULLING);
    cr_assert_eq(j.nodes.pulling, 1);
    cr_assert_eq(j.nodes.pending, BIG_TASKS - 1);
    cr_assert_eq(j.state, IPD_JOB_PULLING);

    /* A node changes: the task on it alone, and it says why it waits. */
    apply(IPD_MODEL_NODES, IPD_WATCH_MODIFIED, node_obj("node-007", 0, 0, NULL));
    cr_assert_eq(ipd_model_flush(model, T0 + 3000), 1);
    cr_assert_eq(computed_since(&mark), 1);
    read_big(job.id, "node-007", &t);
    cr_assert_str_eq(t.reason, "NodeNotReady");

    /* The clock alone: nothing to recompute, nothing written. */
    uint64_t version = read_big(job.id, NULL, NULL).version;
    ipd_model_tick(model);
    cr_assert_eq(ipd_model_flush(model, T0 + 4000), 0);
    cr_assert_eq(computed_since(&mark), 0);
    cr_assert_eq(read_big(job.id, NULL, NULL).version, version);

    /* The Job failed before its pod said why: the task waits for the pod's words (10 s), then
     * fails with the Job's, on the clock alone, with no object changing. */
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-100", "pull-100", 1, "creating"));
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-100", "Failed", "BackoffLimitExceeded"));
    ipd_model_flush(model, T0 + 5000);
    cr_assert_eq(computed_since(&mark), 1);
    read_big(job.id, "node-100", &t);
    cr_assert_eq(t.state, IPD_TASK_RETRYING);
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 14999);
    read_big(job.id, "node-100", &t);
    cr_assert_eq(t.state, IPD_TASK_RETRYING);
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 15000);
    cr_assert_eq(computed_since(&mark), 2, "the waiting task alone, once per tick");
    j = read_big(job.id, "node-100", &t);
    cr_assert_eq(t.state, IPD_TASK_FAILED);
    cr_assert_str_eq(t.reason, "BackoffLimitExceeded");
    cr_assert_eq(j.nodes.failed, 1);
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 16000);
    cr_assert_eq(computed_since(&mark), 0, "a final task waits on nothing");

    /* Ten pods complete: ten tasks, counts exact. */
    for (int i = 150; i < 160; i++) {
        char name[32];
        snprintf(node, sizeof(node), "node-%03d", i);
        snprintf(name, sizeof(name), "pull-%d", i);
        apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, node, name, 20, "completed"));
    }
    ipd_model_flush(model, T0 + 21000);
    cr_assert_eq(computed_since(&mark), 10);
    j = read_big(job.id, NULL, NULL);
    cr_assert_eq(j.nodes.succeeded, 10);
    cr_assert_eq(j.nodes.failed, 1);
    cr_assert_eq(j.nodes.pulling, 1);
    cr_assert_eq(j.nodes.pending, BIG_TASKS - 12);
    cr_assert_eq(j.nodes.desired, BIG_TASKS);

    /* The job's spec is an input of every task (timeout_seconds names a timeout): all of them. */
    job.spec.timeout_seconds = 30;
    add_kjob(&job, "node-001", BIG_TASKS, 0);
    ipd_model_flush(model, T0 + 22000);
    cr_assert_eq(computed_since(&mark), BIG_TASKS);
}

Test(model, a_pod_with_more_events_than_it_keeps_keeps_its_pulled_figures)
{
    /* A pod keeps up to 16 Events, grown as they come; when full, the oldest that is not a
     * Pulled one goes, so the pull's size and duration stay. */
    ipd_job_t job = job_on_node_a("pj-00000042", 3, 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "many-1", 1, "creating"));
    apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event("many-1.pulled", "many-1", "Pulled", PULLED_MSG, 1, 2));
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof(name), "many-1.%d", i);
        apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED, event(name, "many-1", "Pulling", "Pulling image", 1, 3 + i));
        if (i % 7 == 0)
            ipd_model_flush(model, T0 + 3000 + i * 1000);
    }
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "many-1", 1, "completed"));
    ipd_model_flush(model, T0 + 60000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_SUCCEEDED);
    cr_assert_eq(v.tasks[0].pull_ms, 1500);
    cr_assert_eq(v.tasks[0].image_bytes, 123);
}

/* The groups ipd_model_pod_groups reports, as "selection|namespace|labelSelector|first node". */
static char groups[4][512];
static size_t ngroups;

static void on_group(void *data, const char *selection, const char *ns, const char *label_selector,
                     const char *first_node)
{
    (void)data;
    if (ngroups < 4)
        snprintf(groups[ngroups++], sizeof(groups[0]), "%s|%s|%s|%s", selection, ns, label_selector, first_node);
}

Test(model, keep_jobs_with_a_pod_selector_follow_the_images_their_pods_run)
{
    static const char sel[] =
        "{\"all_nodes\":true,\"pod_selector\":{\"matchLabels\":{\"app\":\"web\"},\"namespace\":\"shop\"}}";
    ipd_job_t job = job_of("pj-0000f001", 3, 0);
    job.keep = 1;
    snprintf(job.image, sizeof(job.image), "shop/web:2");
    json_t *nodes[] = {labelled_node("node-a", "{}")};
    list_nodes(nodes, 1);
    json_t *k = kjob(&job, "node-a", 1, 0);
    json_object_set_new(json_object_get(json_object_get(k, "metadata"), "annotations"), "imgpulld.io/node-selection",
                        json_string(sel));
    apply(IPD_MODEL_KJOBS, IPD_WATCH_ADDED, k);
    ipd_model_flush(model, T0 + 1000);
    cr_assert_eq(read_job(job.id).job.state, IPD_JOB_KEEPING);

    /* One group, listed with the apiserver's selector syntax. */
    ngroups = 0;
    ipd_model_pod_groups(model, on_group, NULL);
    cr_assert_eq(ngroups, 1);
    char want[600];
    snprintf(want, sizeof(want), "%s|shop|app=web|node-a", sel);
    cr_expect_str_eq(groups[0], want);

    /* A rollout starts: the new image gets a keep job like the old one, asked once while it comes. */
    const char *both[] = {"shop/web:2", "shop/web:3"};
    ipd_model_pod_images(model, sel, both, 2, T0 + 2000);
    cr_expect_eq(count_actions("create_keep"), 1);
    cr_expect_str_eq(nth_action("create_keep", 0), "create_keep pj-0000f001/shop/web:3");
    cr_expect_eq(count_actions("cancel"), 0);
    ipd_model_pod_images(model, sel, both, 2, T0 + 7000);
    cr_expect_eq(count_actions("create_keep"), 1, "asked again before its anchor could show");

    /* No pod at all (scaled to zero): nothing changes. */
    ipd_model_pod_images(model, sel, NULL, 0, T0 + 8000);
    cr_expect_eq(count_actions("cancel"), 0);

    /* The last old pod is gone: the old image's job is cancelled, once. */
    const char *next[] = {"shop/web:3"};
    ipd_model_pod_images(model, sel, next, 1, T0 + 9000);
    cr_expect_eq(count_actions("cancel"), 1);
    cr_expect_str_eq(nth_action("cancel", 0), "cancel /pj-0000f001");
    ipd_model_pod_images(model, sel, next, 1, T0 + 10000);
    cr_expect_eq(count_actions("cancel"), 1);

    /* A selection that follows no pods is no group. */
    ipd_job_t plain = job_of("pj-0000f002", 3, 0);
    plain.keep = 1;
    apply(IPD_MODEL_KJOBS, IPD_WATCH_ADDED, keep_kjob(&plain, "node-a"));
    ipd_model_flush(model, T0 + 11000);
    ngroups = 0;
    ipd_model_pod_groups(model, on_group, NULL);
    cr_expect_eq(ngroups, 1);
}

Test(model, a_relist_without_a_keep_jobs_anchor_cancels_it)
{
    /* Node scope with Redis: the anchors come from a reflector of their own (IPD_MODEL_ANCHORS). */
    ipd_job_t job = job_of("pj-0000f003", 3, 0);
    job.keep = 1;
    json_t *nodes[] = {labelled_node("node-a", "{}")};
    list_nodes(nodes, 1);
    const ipd_reflector_ops_t *ops = ipd_model_ops(IPD_MODEL_ANCHORS);
    ops->on_list_begin(model);
    json_t *anchor =
        ipd_kube_job_anchor_manifest(&job, NS, "{\"node_selector\":{\"matchLabels\":{\"pool\":\"gpu\"}}}", NULL);
    cr_assert_not_null(anchor);
    ops->on_object(model, IPD_WATCH_ADDED, anchor);
    json_decref(anchor);
    ops->on_list_end(model);
    ipd_model_flush(model, T0 + 1000);
    cr_assert_eq(read_job(job.id).job.state, IPD_JOB_KEEPING, "the anchor alone keeps the job");
    /* The watch broke and the anchor was deleted meanwhile: the relist no longer shows it. */
    ops->on_list_begin(model);
    ops->on_list_end(model);
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(read_job(job.id).job.state, IPD_JOB_CANCELLED);
}

#define RANDOM_NODES 40
#define RANDOM_STEPS 6000

/* The next number of a fixed sequence (an LCG): the same transitions in every run. */
static uint32_t next_random(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

/* One random input for task `node` of `job`: its Job (suspended, resumed, running, finished,
 * deleted), its pod (any container state, replaced, deleted), an Event, or its Node. */
static void random_input(const ipd_job_t *job, const char *node, uint32_t r, unsigned *attempt)
{
    static const char *const states[] = {"creating", "backoff", "err401", "running", "completed", "starterror"};
    char pod_name[64];
    snprintf(pod_name, sizeof(pod_name), "pull-%s-%s-%u", job->id, node, *attempt);
    json_t *o;
    switch (r % 12) {
    case 0:
    case 1:
        add_kjob(job, node, RANDOM_NODES, 1);
        break;
    case 2:
        apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob(job, node, RANDOM_NODES, 0));
        break;
    case 3:
        o = kjob(job, node, RANDOM_NODES, (r >> 8) % 2);
        json_object_set_new(o, "status", json_pack("{s:i}", "active", 1));
        apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, o);
        break;
    case 4:
        if ((r >> 8) % 4 == 0)
            apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED,
                  kjob_finished(job, node, (r >> 10) % 2 ? "Complete" : "Failed", "BackoffLimitExceeded"));
        break;
    case 5:
        if ((r >> 8) % 4 == 0)
            apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, kjob(job, node, RANDOM_NODES, 0));
        break;
    case 6:
    case 7:
    case 8:
        apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED,
              pod(job->id, node, pod_name, (int)*attempt, states[(r >> 8) % (sizeof(states) / sizeof(states[0]))]));
        break;
    case 9:
        apply(IPD_MODEL_PODS, IPD_WATCH_DELETED, pod(job->id, node, pod_name, (int)*attempt, "backoff"));
        ++*attempt;
        break;
    case 10:
        apply(IPD_MODEL_EVENTS, IPD_WATCH_ADDED,
              event(pod_name, pod_name, (r >> 8) % 2 ? "Failed" : "Pulling", ERR401, (int)(r >> 9) % 5 + 1, 3));
        break;
    default: {
        json_t *n = node_obj(node, (r >> 8) % 3 != 0, (r >> 10) % 4 == 0, NULL);
        ipd_model_apply(model, IPD_MODEL_NODES, IPD_WATCH_MODIFIED, n);
        json_decref(n);
        break;
    }
    }
}

/* Random inputs to two jobs, flushed now and then: after every flush the counts the model keeps
 * as tasks change equal a recount from scratch. */
static void random_transitions(uint64_t seed)
{
    ipd_job_t jobs[2] = {job_of("pj-00000051", 2, 5), job_of("pj-00000052", 1, 0)};
    unsigned attempts[2][RANDOM_NODES] = {{0}};
    char node[32];
    list_ready_nodes(RANDOM_NODES, 2);
    uint64_t rnd = seed;
    int64_t now = T0;
    size_t flushes = 0;
    for (int step = 0; step < RANDOM_STEPS; step++) {
        uint32_t r = next_random(&rnd);
        int jx = (int)(r % 2), nx = (int)((r >> 1) % RANDOM_NODES);
        snprintf(node, sizeof(node), "node-%02d", nx);
        random_input(&jobs[jx], node, next_random(&rnd), &attempts[jx][nx]);
        if (next_random(&rnd) % 4 != 0)
            continue;
        now += 1000 + next_random(&rnd) % 4000; /* resumes asked again, retrying Jobs waited on */
        if (next_random(&rnd) % 8 == 0)
            ipd_model_tick(model);
        ipd_model_flush(model, now);
        flushes++;
        cr_assert_eq(ipd_model_check_counts(model), 0, "step %d: the kept counts differ from a recount", step);
    }
    cr_assert_gt(flushes, RANDOM_STEPS / 8);
    cr_assert_gt(nactions, 0, "the parallelism resumed Jobs");
}

Test(model, counts_kept_as_tasks_change_equal_a_recount_after_random_transitions)
{
    random_transitions(1);
}

Test(model, counts_kept_as_tasks_change_equal_a_recount_in_node_scope)
{
    /* Other nodes' tasks are not this node's to resume: they leave the parallelism's queue. */
    ipd_model_set_node(model, "node-07", 0);
    random_transitions(2);
}

Test(model, new_jobs_of_one_flush_are_written_in_the_order_they_came)
{
    /* A reply of remote records, or a relist, brings many new jobs at once. Written in the order
     * they came, each enters the table's active list at its end; newest first, each went in
     * front of the ones just written, which rewrote the whole list once per job
     * (docs/benchmarks.md, the Redis link's ingestion). */
    const char *ids[] = {"pj-00000041", "pj-00000042", "pj-00000043", "pj-00000044"};
    const size_t count = sizeof(ids) / sizeof(ids[0]);
    uint64_t head = ipd_table_ring_head(table);
    for (size_t i = 0; i < count; i++)
        job_on_node_a(ids[i], 1, 0);
    ipd_model_flush(model, T0);
    ipd_ring_entry_t e[32];
    size_t n = 0, seen = 0;
    cr_assert_eq(ipd_table_ring_read(table, head, e, sizeof(e) / sizeof(e[0]), &n), 0);
    for (size_t i = 0; i < n; i++) {
        if (e[i].kind != IPD_RING_JOB_UPSERTED || (seen > 0 && strcmp(e[i].id, ids[seen - 1]) == 0))
            continue;
        cr_assert_lt(seen, count, "a job written twice or unexpected: %s", e[i].id);
        cr_assert_str_eq(e[i].id, ids[seen], "record %zu: %s, expected %s", i, e[i].id, ids[seen]);
        seen++;
    }
    cr_assert_eq(seen, count);
}

/* What own_task told one model, folded into a count and a hash of the jobs' ids and tasks' bytes. */
typedef struct own_log {
    size_t calls;
    uint64_t hash;
} own_log_t;

static void fold(own_log_t *log, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        log->hash = (log->hash ^ ((const unsigned char *)p)[i]) * 0x100000001b3ULL;
}

static void on_own_task(void *ctx, const ipd_job_t *job, uint32_t node_count, const char *selection,
                        const ipd_task_t *task)
{
    own_log_t *log = ctx;
    (void)selection;
    log->calls++;
    fold(log, job->id, strlen(job->id));
    fold(log, &node_count, sizeof(node_count));
    /* The task by value (proto/job.h): each string up to its NUL, what follows it being no part
     * of the record; the other bytes as they are. */
    for (size_t i = 0; i < IPD_TASK_NSPANS; i++) {
        const char *at = (const char *)task + ipd_task_spans[i].off;
        size_t len = ipd_task_spans[i].len, used = ipd_task_spans[i].str ? strnlen(at, len) : len;
        fold(log, at, used < len ? used + 1 : len);
    }
}

#define REMOTE_JOBS  3
#define REMOTE_NODES 6
#define REMOTE_STEPS 4000

/* A record of `node`'s task as its daemon publishes it: any state, words of any length. */
/* A record of `node` in a random state; with `settled` > 0, a final or unknown state once in
 * `settled` records only, the others pending, pulling or retrying. */
static ipd_task_t random_remote_task(const char *node, uint64_t *rnd, int64_t now, unsigned settled)
{
    static const char *const reasons[] = {"", "Pulling", "ErrImagePull", "ImagePullBackOff", "Pulled"};
    ipd_task_t t;
    ipd_task_init(&t, node, now);
    uint32_t r = next_random(rnd);
    t.state = (uint8_t)(r % IPD_TASK_STATE_COUNT);
    if (settled > 0 && (r >> 28) % settled != 0)
        t.state = (uint8_t)(r % (IPD_TASK_RETRYING + 1));
    snprintf(t.reason, sizeof(t.reason), "%s", reasons[(r >> 4) % 5]);
    size_t len = (r >> 8) % (sizeof(t.message) - 1);
    for (size_t i = 0; i < len; i++)
        t.message[i] = (char)('a' + (i + r) % 26);
    if ((r >> 20) % 2)
        snprintf(t.pod, sizeof(t.pod), "pull-%s-%u", node, (r >> 21) % 4);
    t.attempts = (r >> 23) % 5;
    t.pull_ms = (r >> 26) % 2 ? (int64_t)(r % 9000) : IPD_UNKNOWN_I64;
    t.image_bytes = (r >> 27) % 2 ? (int64_t)r : IPD_UNKNOWN_I64;
    t.updated_at = now - (int64_t)(r % 5000);
    return t;
}

/* The table `a` holds job `id` byte for byte as `b` does: the record, its tasks and its JSON. */
static void expect_same_job(ipd_table_t *a, ipd_table_t *b, const char *id, int step)
{
    static ipd_task_t ta[REMOTE_NODES + 1], tb[REMOTE_NODES + 1];
    static char ja[16384], jb[16384];
    ipd_job_t joba, jobb;
    ipd_table_job_view_t va = {
        .job = &joba, .tasks = ta, .task_cap = REMOTE_NODES + 1, .json = ja, .json_cap = sizeof(ja)};
    ipd_table_job_view_t vb = {
        .job = &jobb, .tasks = tb, .task_cap = REMOTE_NODES + 1, .json = jb, .json_cap = sizeof(jb)};
    int rca = ipd_table_get_job(a, id, &va), rcb = ipd_table_get_job(b, id, &vb);
    cr_assert_eq(rca, rcb, "step %d, job %s: %d and %d", step, id, rca, rcb);
    if (rca != 0)
        return;
    cr_assert(memcmp(&joba, &jobb, sizeof(joba)) == 0, "step %d, job %s: the job records differ", step, id);
    cr_assert_eq(va.ntasks, vb.ntasks, "step %d, job %s", step, id);
    for (size_t i = 0; i < va.ntasks; i++)
        cr_assert(memcmp(&ta[i], &tb[i], sizeof(ta[i])) == 0, "step %d, job %s: task %zu (%s) differs", step, id, i,
                  ta[i].node);
    cr_assert_eq(va.json_len, vb.json_len, "step %d, job %s", step, id);
    cr_assert(memcmp(ja, jb, va.json_len) == 0, "step %d, job %s: the JSON differs", step, id);
}

/* Two models of node-00 with Redis: `fast` over the suite's table, `general` over a table of its
 * own that takes the general path wherever the model has a shorter one (ipd_model_set_copy_tasks). */
typedef struct model_pair {
    char instance[80];
    ipd_table_t *table;
    ipd_model_t *fast, *general;
} model_pair_t;

static void pair_open(model_pair_t *p, const ipd_model_actions_t *fast, const ipd_model_actions_t *general)
{
    snprintf(p->instance, sizeof(p->instance), "%s-b", instance);
    ipd_table_unlink(p->instance);
    p->table = create_table(p->instance, NULL);
    cr_assert_not_null(p->table);
    cr_assert_eq(ipd_model_create(table, fast, &p->fast), 0);
    cr_assert_eq(ipd_model_create(p->table, general, &p->general), 0);
    ipd_model_set_copy_tasks(p->general, 1);
    ipd_model_set_node(p->fast, "node-00", 1);
    ipd_model_set_node(p->general, "node-00", 1);
}

static void pair_close(model_pair_t *p)
{
    ipd_model_destroy(p->fast);
    ipd_model_destroy(p->general);
    ipd_table_destroy(p->table);
    ipd_table_unlink(p->instance);
}

/*
 * Two models, each over its own table, get the same random inputs: other nodes' records
 * (Redis), this node's Kubernetes objects, daemons lost and back. One takes its shorter paths
 * (a job of one task, or one changed task, passed where it is kept; a record no rule changes
 * taken into its task); the other copies every task as it does for a job of many, and computes
 * every record. After every flush both tables hold the same bytes, both models' counts equal a
 * recount, and own_task was told the same. `settled`: random_remote_task's; `lost_one_in`: one
 * remote input in that many loses or brings back a node's daemon.
 */
static void two_paths_agree(unsigned settled, unsigned lost_one_in)
{
    own_log_t log_a = {0}, log_b = {0};
    ipd_model_actions_t acts_a = recorder, acts_b = recorder;
    acts_a.own_task = acts_b.own_task = on_own_task;
    acts_a.ctx = &log_a;
    acts_b.ctx = &log_b;
    model_pair_t pair;
    pair_open(&pair, &acts_a, &acts_b);
    ipd_table_t *table_b = pair.table;
    ipd_model_t *models[2] = {pair.fast, pair.general};
    ipd_model_t *saved = model;
    char ids[REMOTE_JOBS][IPD_JOB_ID_SIZE];
    ipd_job_t jobs[REMOTE_JOBS];
    unsigned attempts[2][REMOTE_JOBS] = {{0}};
    for (int x = 0; x < REMOTE_JOBS; x++) {
        snprintf(ids[x], sizeof(ids[x]), "pj-000000%02d", 60 + x);
        jobs[x] = job_of(ids[x], 2, 0);
        jobs[x].nodes.desired = REMOTE_NODES;
    }
    uint64_t rnd = 7;
    int64_t now = T0;
    size_t flushes = 0, remote = 0, own = 0;
    for (int step = 0; step < REMOTE_STEPS; step++) {
        uint32_t r = next_random(&rnd);
        int jx = (int)(r % REMOTE_JOBS), nx = (int)((r >> 4) % REMOTE_NODES);
        char node[32];
        snprintf(node, sizeof(node), "node-%02d", nx);
        if (nx == 0) {
            uint32_t in = next_random(&rnd);
            for (int k = 0; k < 2; k++) {
                model = models[k];
                random_input(&jobs[jx], node, in, &attempts[k][jx]);
            }
            own++;
        } else if ((r >> 8) % lost_one_in == 0) {
            for (int k = 0; k < 2; k++)
                ipd_model_remote_node(models[k], node, (r >> 12) % 2);
        } else {
            ipd_task_t t = random_remote_task(node, &rnd, now, settled);
            for (int k = 0; k < 2; k++)
                cr_assert_eq(ipd_model_remote_task(models[k], &jobs[jx], NULL, &t), 0);
            remote++;
        }
        if (next_random(&rnd) % 3 != 0)
            continue;
        now += 500 + next_random(&rnd) % 3000;
        for (int k = 0; k < 2; k++) {
            ipd_model_flush(models[k], now);
            cr_assert_eq(ipd_model_check_counts(models[k]), 0, "step %d: the kept counts differ from a recount", step);
        }
        for (int x = 0; x < REMOTE_JOBS; x++)
            expect_same_job(table, table_b, ids[x], step);
        flushes++;
    }
    model = saved;
    cr_assert_gt(flushes, REMOTE_STEPS / 4);
    cr_assert_gt(remote, REMOTE_STEPS / 2);
    cr_assert_gt(own, REMOTE_STEPS / 10);
    cr_assert_gt(log_a.calls, 0, "this node's tasks went to own_task");
    cr_assert_eq(log_a.calls, log_b.calls);
    cr_assert_eq(log_a.hash, log_b.hash, "own_task was told other tasks");
    pair_close(&pair);
}

Test(model, remote_and_own_tasks_write_the_same_table_whether_single_tasks_are_copied_or_not)
{
    two_paths_agree(0, 16);
}

Test(model, records_taken_into_their_task_write_what_computed_records_write)
{
    /* Mostly records no rule changes, taken into their task as they come, and daemons often lost
     * and back meanwhile: the record must come back from the task when a rule applies. */
    two_paths_agree(40, 4);
}

/*
 * A new task's time is that of the flush that first publishes it, or its record's: never the
 * wall clock of the moment the model made it, even when its first computation leaves it as a
 * new task is (pending, no words). T0 lies ahead of the wall clock, so a task that kept it shows.
 */
Test(model, a_new_task_takes_the_time_of_its_flush_or_of_its_record)
{
    ipd_job_t own = job_on_node_a("pj-000000c1", 2, 0);
    ipd_model_flush(model, T0);
    view_t v = read_job(own.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_PENDING);
    cr_assert_eq(v.tasks[0].updated_at, T0, "this node's new task has the time %lld, the flush's is %lld",
                 (long long)v.tasks[0].updated_at, (long long)T0);

    /* Another node's daemon published its new task: every daemon shows that daemon's time, on
     * the path that takes the record into its task and on the one that computes it. */
    model_pair_t pair;
    pair_open(&pair, &recorder, &recorder);
    ipd_model_t *models[2] = {pair.fast, pair.general};
    ipd_table_t *tables[2] = {table, pair.table};
    ipd_job_t job = job_of("pj-000000c2", 2, 0);
    job.nodes.desired = 2;
    ipd_task_t rec;
    ipd_task_init(&rec, "node-01", T0 - 1234);
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(ipd_model_remote_task(models[k], &job, NULL, &rec), 0);
        ipd_model_flush(models[k], T0);
        ipd_job_t got;
        ipd_task_t tasks[2];
        ipd_table_job_view_t tv = {.job = &got, .tasks = tasks, .task_cap = 2};
        cr_assert_eq(ipd_table_get_job(tables[k], job.id, &tv), 0);
        cr_assert_eq(tv.ntasks, 1);
        cr_assert_eq(tasks[0].state, IPD_TASK_PENDING);
        cr_assert_eq(tasks[0].updated_at, T0 - 1234, "%s path: the record's time is %lld, the task's %lld",
                     k == 0 ? "taken" : "computed", (long long)(T0 - 1234), (long long)tasks[0].updated_at);
    }
    pair_close(&pair);
}

Test(model, records_of_forgotten_jobs_are_reused_as_new_ones)
{
    /* Jobs of other nodes finish and are let go of, and their records serve the next new jobs:
     * a model whose records come from its slabs writes what one whose records come from calloc
     * does, job after job (a record reused with anything left of its last job would differ). */
    model_pair_t pair;
    pair_open(&pair, &recorder, &recorder);
    ipd_model_t *models[2] = {pair.fast, pair.general};
    uint64_t rnd = 11;
    int64_t now = T0;
    size_t least = SIZE_MAX, most = 0;
    for (int x = 0; x < 400; x++) {
        char id[IPD_JOB_ID_SIZE];
        snprintf(id, sizeof(id), "pj-%08x", 0x100 + x);
        ipd_job_t job = job_of(id, 1 + x % 3, x % 4);
        job.nodes.desired = 1 + (uint32_t)(x % 3);
        snprintf(job.spec.pull_secrets, sizeof(job.spec.pull_secrets), "secret-%d", x % 5);
        /* Each of its nodes reports a pull or two and, but for every seventh job, a final state. */
        for (uint32_t n = 0; n < job.nodes.desired; n++) {
            char node[32];
            snprintf(node, sizeof(node), "node-%02u", n + 1);
            ipd_task_t t = random_remote_task(node, &rnd, now, 0);
            t.state = IPD_TASK_PULLING;
            for (int k = 0; k < 2; k++)
                cr_assert_eq(ipd_model_remote_task(models[k], &job, NULL, &t), 0);
            t.state = x % 7 == 0 ? IPD_TASK_PULLING : (uint8_t)(IPD_TASK_SUCCEEDED + (x + n) % 3);
            for (int k = 0; k < 2; k++)
                cr_assert_eq(ipd_model_remote_task(models[k], &job, NULL, &t), 0);
        }
        now += 1000;
        for (int k = 0; k < 2; k++) {
            ipd_model_flush(models[k], now);
            cr_assert_eq(ipd_model_check_counts(models[k]), 0, "job %d", x);
        }
        expect_same_job(table, pair.table, id, x);
        size_t held = ipd_model_stats(pair.fast)->jobs;
        cr_assert_eq(held, ipd_model_stats(pair.general)->jobs);
        least = held < least ? held : least;
        most = held > most ? held : most;
    }
    cr_assert_lt(most, 100, "finished jobs were let go of (%zu held at most)", most);
    cr_assert_gt(most, 1, "some jobs stayed while others came");
    pair_close(&pair);
}

/* ---- a job's creation time ---- */

/* The ids of the table's active list, in its order (at most `cap`). */
static size_t active_ids(char ids[][IPD_JOB_ID_SIZE], size_t cap)
{
    ipd_table_ref_t refs[32];
    size_t n = 0, total = 0, k = 0;
    cr_assert_eq(ipd_table_list(table, IPD_TABLE_LIST_ACTIVE, refs, 32, &n, &total, NULL), 0);
    for (size_t i = 0; i < n && k < cap; i++) {
        ipd_job_t j;
        ipd_table_job_view_t v = {.job = &j};
        if (ipd_table_get_job_at(table, refs[i], &v) == 0)
            memcpy(ids[k++], j.id, IPD_JOB_ID_SIZE);
    }
    return k;
}

/*
 * A job whose pull pod shows up before its Kubernetes Job (two watches, no order between them)
 * is published with its pod's creation time, never the wall clock of the moment the model saw
 * it (T0 lies ahead of the wall clock, so a job that took it shows). Its Job, which carries the
 * job's creation time, then corrects it: a new version, at its place in the active list.
 */
Test(model, a_job_seen_first_through_its_pod_takes_its_creation_time_from_its_job)
{
    ipd_job_t older = job_of("pj-000000d0", 2, 0), job = job_of("pj-000000d1", 2, 0);
    older.created_at = T0 - 30000;
    add_kjob(&older, "node-a", 1, 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-b", "pull-d1", 1, "creating"));
    ipd_model_flush(model, T0 + 2000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.job.created_at, T0 + 1000, "the pod's creation time is %lld, the job's %lld", (long long)(T0 + 1000),
                 (long long)v.job.created_at);
    uint64_t version = v.job.version;
    char ids[4][IPD_JOB_ID_SIZE];
    cr_assert_eq(active_ids(ids, 4), 2);
    cr_assert_str_eq(ids[0], older.id);

    add_kjob(&job, "node-b", 1, 0); /* created at T0 - 60000 */
    ipd_model_flush(model, T0 + 3000);
    v = read_job(job.id);
    cr_assert_eq(v.job.created_at, job.created_at, "the Job's creation time is %lld, the job's %lld",
                 (long long)job.created_at, (long long)v.job.created_at);
    cr_assert_gt(v.job.version, version);
    cr_assert_eq(active_ids(ids, 4), 2);
    cr_assert_str_eq(ids[0], job.id, "the job created first comes first");
    cr_assert_str_eq(ids[1], older.id);
}

/*
 * Node scope with Redis: this node's pod of a job shows up first, then another node's record,
 * which carries the job's creation time as the daemon that created it gave it: the job takes
 * it, though this daemon published it already. Once this node's Job is seen, the Job's time
 * stands whatever records say.
 */
Test(model, a_published_job_takes_the_creation_time_of_a_record_until_its_job_is_seen)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_job_t job = job_of("pj-000000d2", 2, 0);
    job.nodes.desired = 2;
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "pull-d2", 1, "creating"));
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(read_job(job.id).job.created_at, T0 + 1000);

    ipd_task_t rec;
    ipd_task_init(&rec, "node-b", T0 + 1500);
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &rec), 0);
    ipd_model_flush(model, T0 + 3000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.job.created_at, job.created_at, "the record's creation time is %lld, the job's %lld",
                 (long long)job.created_at, (long long)v.job.created_at);

    add_kjob(&job, "node-a", 2, 0);
    ipd_job_t guessed = job;
    guessed.created_at = T0 + 5000; /* a daemon that saw its pod first and told so */
    ipd_task_init(&rec, "node-c", T0 + 1600);
    cr_assert_eq(ipd_model_remote_task(model, &guessed, NULL, &rec), 0);
    ipd_model_flush(model, T0 + 4000);
    cr_assert_eq(read_job(job.id).job.created_at, job.created_at);
}

/* own_task's last word on each job: the job as it was handed over. */
static ipd_job_t told_job;
static size_t told;

static void on_own_task_job(void *ctx, const ipd_job_t *job, uint32_t node_count, const char *selection,
                            const ipd_task_t *task)
{
    (void)ctx;
    (void)node_count;
    (void)selection;
    (void)task;
    told_job = *job;
    told++;
}

/*
 * The record of this node's task carries the job's creation time: one that told a time taken
 * from a pod tells the Job's again once the Job corrects it, even when the task itself did not
 * change, so that the last record of every node carries the time every daemon shows.
 */
Test(model, a_corrected_creation_time_is_told_again_with_this_node_s_task)
{
    ipd_model_actions_t acts = recorder;
    acts.own_task = on_own_task_job;
    remodel(&acts, "node-a", 1);
    told = 0;
    ipd_job_t job = job_of("pj-000000d3", 2, 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "pull-d3", 1, "creating"));
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(told, 1);
    cr_assert_eq(told_job.created_at, T0 + 1000);
    add_kjob(&job, "node-a", 1, 0);
    ipd_model_flush(model, T0 + 3000);
    cr_assert_eq(told, 2, "this node's task was told %zu times", told);
    cr_assert_eq(told_job.created_at, job.created_at, "told %lld, the Job's is %lld", (long long)told_job.created_at,
                 (long long)job.created_at);
}

/*
 * A daemon without a task of the job (node-c) learns its creation time from records only. Node
 * b's daemon saw its pod first and told its pod's time, then its Job's once the Job came; node
 * a's told its Job's. In whatever order the records come, with a flush after each, both daemons
 * end with the same job: the time its Jobs carry, at the same place in the list.
 */
Test(model, daemons_that_get_records_in_other_orders_show_the_same_creation_time)
{
    model_pair_t pair;
    pair_open(&pair, &recorder, &recorder);
    ipd_model_t *models[2] = {pair.fast, pair.general};
    ipd_model_set_node(pair.fast, "node-c", 1);
    ipd_model_set_node(pair.general, "node-c", 1);
    ipd_job_t real = job_of("pj-000000d4", 2, 0), guessed;
    real.nodes.desired = 2;
    guessed = real;
    guessed.created_at = T0 + 1000;
    ipd_task_t a, b;
    ipd_task_init(&a, "node-a", T0 + 1200);
    ipd_task_init(&b, "node-b", T0 + 1100);
    /* node-b's first record, node-a's, node-b's again (its Job seen), as each daemon gets them. */
    const ipd_job_t *order[2][3] = {{&guessed, &real, &real}, {&real, &guessed, &real}};
    const ipd_task_t *from[2][3] = {{&b, &a, &b}, {&a, &b, &b}};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3; i++) {
            cr_assert_eq(ipd_model_remote_task(models[k], order[k][i], NULL, from[k][i]), 0);
            ipd_model_flush(models[k], T0 + 2000 + i * 1000);
        }
    ipd_job_t got[2];
    for (int k = 0; k < 2; k++) {
        ipd_task_t tasks[2];
        ipd_table_job_view_t tv = {.job = &got[k], .tasks = tasks, .task_cap = 2};
        cr_assert_eq(ipd_table_get_job(k == 0 ? table : pair.table, real.id, &tv), 0);
        cr_assert_eq(got[k].created_at, real.created_at, "daemon %d: the Jobs' creation time is %lld, the job's %lld",
                     k, (long long)real.created_at, (long long)got[k].created_at);
    }
    pair_close(&pair);
}

/*
 * What waits for a flush and who made it (ipd_model_remote_dirty_since, which the master uses
 * to hold back publishing while the Redis link catches up, master/daemon.c): records of other
 * nodes only, since the first of them; this node's objects are published at once, also when
 * records changed the same job before them.
 */
Test(model, changes_that_only_remote_records_made_say_since_when_and_any_other_says_publish_now)
{
    ipd_model_set_node(model, "node-a", 1);
    cr_assert_eq(ipd_model_remote_dirty_since(model), 0, "nothing waits yet");
    ipd_job_t job = job_of("pj-000000e1", 2, 0);
    job.nodes.desired = 2;
    ipd_task_t rec;
    ipd_task_init(&rec, "node-b", T0 + 1500);
    int64_t before = ipd_model_monotonic_ms();
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &rec), 0);
    int64_t since = ipd_model_remote_dirty_since(model);
    cr_assert_geq(since, before, "a record's change waits since %lld, not since it came (%lld)", (long long)since,
                  (long long)before);
    cr_assert_leq(since, ipd_model_monotonic_ms());
    rec.state = IPD_TASK_PULLING;
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &rec), 0);
    cr_assert_eq(ipd_model_remote_dirty_since(model), since, "the first change's time stands");
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(ipd_model_remote_dirty_since(model), 0, "a flush published it");
    view_t v = read_job(job.id);
    cr_assert_eq(task_on(&v, "node-b")->state, IPD_TASK_PULLING);

    /* A record, then this node's pod of the same job: publish now. */
    rec.pull_ms = 10;
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &rec), 0);
    cr_assert_gt(ipd_model_remote_dirty_since(model), 0);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(job.id, "node-a", "pull-e1", 1, "creating"));
    cr_assert_eq(ipd_model_remote_dirty_since(model), -1, "this node's pod waited behind remote records");
    ipd_model_flush(model, T0 + 3000);
    cr_assert_eq(ipd_model_remote_dirty_since(model), 0);

    /* This node's input first, then a record: publish now as well. */
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-e1", 1, "running"));
    rec.pull_ms = 20;
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &rec), 0);
    cr_assert_eq(ipd_model_remote_dirty_since(model), -1);
}

/* Whether the table holds job `id`. */
static int in_table(const char *id)
{
    ipd_job_t j;
    ipd_table_job_view_t tv = {.job = &j};
    int rc = ipd_table_get_job(table, id, &tv);
    cr_assert(rc == 0 || rc == IPD_ENOTFOUND, "job %s: %s", id, ipd_strerror(rc));
    return rc == 0;
}

/* Job `id` on node-b alone, its task there in `state` as node-b's record `rec` says, applied. */
static ipd_job_t node_b_job(const char *id, ipd_task_state_t state, ipd_task_t *rec)
{
    ipd_job_t job = job_of(id, 1, 0);
    job.nodes.desired = 1;
    ipd_task_init(rec, "node-b", T0 + 1500);
    rec->state = (uint8_t)state;
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, rec), 0);
    return job;
}

/*
 * Another node's daemon drops a job that aged out of its history (ipd_model_remote_drop): the
 * job leaves the table, unless this node still follows it. A drop that comes while records of
 * the job wait to be published (read in the same reply, or held back while the link catches
 * up, master/daemon.c) takes effect right after their publication, rather than being ignored
 * and leaving the job in this table alone.
 */
Test(model, another_node_s_drop_removes_the_job_also_when_its_last_records_wait_to_be_published)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_task_t rec;
    /* Published and finished, then dropped. */
    ipd_job_t done = node_b_job("pj-000000f1", IPD_TASK_SUCCEEDED, &rec);
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(read_job(done.id).job.state, IPD_JOB_SUCCEEDED);
    cr_assert_eq(ipd_model_remote_drop(model, done.id), 0);
    cr_assert(!in_table(done.id), "a published job stayed after its drop");

    /* Its final record and its drop before any flush: dropped once published. */
    ipd_job_t late = node_b_job("pj-000000f2", IPD_TASK_PULLING, &rec);
    ipd_model_flush(model, T0 + 2000);
    rec.state = IPD_TASK_SUCCEEDED;
    rec.updated_at = T0 + 2500;
    cr_assert_eq(ipd_model_remote_task(model, &late, NULL, &rec), 0);
    cr_assert_eq(ipd_model_remote_drop(model, late.id), 0);
    cr_assert(in_table(late.id));
    ipd_model_flush(model, T0 + 3000);
    cr_assert(!in_table(late.id), "the job whose drop came while its final record waited stayed in the table");
    /* Both stay gone: a late record does not bring them back, and the stand-in sees them gone
     * (master/standin.h), not as jobs it holds nothing of. */
    cr_assert_eq(ipd_model_task_held(model, done.id, "node-b"), IPD_MODEL_JOB_GONE);
    cr_assert_eq(ipd_model_task_held(model, late.id, "node-b"), IPD_MODEL_JOB_GONE);
    rec.updated_at = T0 + 3500;
    cr_assert_eq(ipd_model_remote_task(model, &late, NULL, &rec), 0);
    ipd_model_flush(model, T0 + 4000);
    cr_assert(!in_table(late.id), "a late record brought a dropped job back");
    cr_assert_eq(ipd_model_task_held(model, "pj-000000f9", "node-b"), IPD_MODEL_NO_TASK);

    /* Followed here (this node's pod of it): a drop leaves it, waiting or not. */
    ipd_job_t mine = job_of("pj-000000f3", 2, 0);
    mine.nodes.desired = 2;
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(mine.id, "node-a", "pull-f3", 1, "completed"));
    ipd_task_init(&rec, "node-b", T0 + 1500);
    rec.state = IPD_TASK_SUCCEEDED;
    cr_assert_eq(ipd_model_remote_task(model, &mine, NULL, &rec), 0);
    cr_assert_eq(ipd_model_remote_drop(model, mine.id), 0);
    ipd_model_flush(model, T0 + 3000);
    cr_assert(in_table(mine.id), "a job this node follows left the table on another node's drop");
    cr_assert_eq(ipd_model_remote_drop(model, mine.id), 0);
    cr_assert(in_table(mine.id));
}

/* Jobs the table holds with the given ids ("pj-%08x" of 0 .. n - 1), counted. */
static size_t held_of(ipd_table_t *t, size_t n)
{
    size_t held = 0;
    for (size_t i = 0; i < n; i++) {
        char id[IPD_JOB_ID_SIZE];
        ipd_job_t j;
        ipd_table_job_view_t tv = {.job = &j};
        snprintf(id, sizeof(id), "pj-%08zx", i);
        held += ipd_table_get_job(t, id, &tv) == 0;
    }
    return held;
}

/*
 * Publishing what other nodes' records changed (master/publish.h, the daemon's and the
 * ingestion benchmark's one policy): in parts of IPD_PUBLISH_PART jobs per turn, in the order
 * they were marked, so that one turn of the master's loop stays short however many jobs a held
 * window gathered; anything else wholly, in its turn. ipd_model_flush_some() leaves the jobs past
 * its bound dirty, first in line for the next flush.
 */
Test(model, other_nodes_changes_are_published_in_parts_and_any_other_change_wholly)
{
    const size_t n = 2 * IPD_PUBLISH_PART + 100;
    ipd_model_destroy(model);
    ipd_table_destroy(table);
    ipd_table_unlink(instance);
    table = ipd_test_table_create(instance, (uint32_t)n + 16, (uint32_t)n + 16, 8192, 4096, 1, NULL);
    cr_assert_eq(ipd_model_create(table, &recorder, &model), 0);
    ipd_model_set_node(model, "node-a", 1);
    for (size_t i = 0; i < n; i++) {
        char id[IPD_JOB_ID_SIZE];
        ipd_task_t rec;
        snprintf(id, sizeof(id), "pj-%08zx", i);
        node_b_job(id, IPD_TASK_PULLING, &rec);
    }
    size_t written;
    int64_t again;
    int64_t now = ipd_model_monotonic_ms();
    /* No link: nothing is held back; a window of 0 publishes them whole. */
    cr_assert_eq(ipd_publish_turn(model, NULL, 100, now, T0 + 2000, &written, &again), IPD_PUBLISH_PART_LEFT);
    cr_assert_eq(written, IPD_PUBLISH_PART);
    cr_assert_eq(again, 0, "the next part is due at once, not in %lld ms", (long long)again);
    cr_assert_eq(held_of(table, n), IPD_PUBLISH_PART);
    cr_assert_eq(held_of(table, IPD_PUBLISH_PART), IPD_PUBLISH_PART,
                 "the first jobs marked were not the first written");
    cr_assert_gt(ipd_model_remote_dirty_since(model), 0, "the jobs left wait as other nodes' changes");
    cr_assert_eq(ipd_publish_turn(model, NULL, 100, now, T0 + 2000, &written, &again), IPD_PUBLISH_PART_LEFT);
    cr_assert_eq(written, IPD_PUBLISH_PART);
    cr_assert_eq(ipd_publish_turn(model, NULL, 100, now, T0 + 2000, &written, &again), IPD_PUBLISH_DONE);
    cr_assert_eq(written, 100);
    cr_assert_eq(again, -1);
    cr_assert_eq(held_of(table, n), n);

    /* A change of this node among them: all in one turn. */
    for (size_t i = 0; i < n; i++) {
        char id[IPD_JOB_ID_SIZE];
        ipd_task_t rec;
        snprintf(id, sizeof(id), "pj-%08zx", i);
        node_b_job(id, IPD_TASK_SUCCEEDED, &rec);
    }
    char last[IPD_JOB_ID_SIZE];
    snprintf(last, sizeof(last), "pj-%08zx", n - 1);
    apply(IPD_MODEL_PODS, IPD_WATCH_ADDED, pod(last, "node-a", "pull-last", 1, "creating"));
    cr_assert_eq(ipd_publish_turn(model, NULL, 100, now, T0 + 3000, &written, &again), IPD_PUBLISH_DONE);
    cr_assert_eq(written, n);
    cr_assert_eq(ipd_model_remote_dirty_since(model), 0);

    /* Bounded by hand: the rest first at the next flush, then what was marked meanwhile. */
    for (size_t i = n; i < n + 3; i++) {
        char id[IPD_JOB_ID_SIZE];
        ipd_task_t rec;
        snprintf(id, sizeof(id), "pj-%08zx", i);
        node_b_job(id, IPD_TASK_PULLING, &rec);
    }
    cr_assert_eq(ipd_model_flush_some(model, T0 + 4000, 0), 0);
    cr_assert_eq(ipd_model_flush_some(model, T0 + 4000, 1), 1);
    cr_assert_eq(held_of(table, n + 1), n + 1, "not the first marked");
    ipd_task_t rec;
    node_b_job(last, IPD_TASK_PULLING, &rec); /* final already: nothing to write */
    char first[IPD_JOB_ID_SIZE];
    snprintf(first, sizeof(first), "pj-%08zx", n + 3);
    node_b_job(first, IPD_TASK_PULLING, &rec);
    cr_assert_eq(ipd_model_flush_some(model, T0 + 4000, 2), 2);
    cr_assert_eq(held_of(table, n + 3), n + 3, "the jobs left were not first at the next flush");
    cr_assert_eq(ipd_model_flush_some(model, T0 + 4000, SIZE_MAX), 1);
    cr_assert_eq(ipd_model_remote_dirty_since(model), 0);
}

/* Applies another node's record: its task in `state`, last changed at `updated_at`, with the job
 * as that node's daemon last computed it. */
static void remote_record(const ipd_job_t *job, const char *node, ipd_task_state_t state, int64_t updated_at)
{
    ipd_task_t rec;
    ipd_task_init(&rec, node, updated_at);
    rec.state = (uint8_t)state;
    rec.attempts = 1;
    cr_assert_eq(ipd_model_remote_task(model, job, NULL, &rec), 0);
}

/*
 * A daemon that learns a finished job from the other nodes' records long after (restarted with
 * an empty table, it resyncs from the Redis hashes) shows the times every other daemon shows:
 * started when the first daemon saw a task start (the earliest a record gives), finished when
 * the last task ended as its node stamped it, not when this daemon read the records.
 */
Test(model, a_job_learnt_late_from_records_keeps_the_times_the_other_daemons_show)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_job_t seen_b = job_of("pj-000000e1", 2, 0);
    seen_b.nodes.desired = 2;
    seen_b.started_at = T0 + 2500; /* node-b's daemon saw node-c's task start first */
    ipd_job_t seen_c = seen_b;
    seen_c.started_at = T0 + 2000;
    seen_c.finished_at = T0 + 6100; /* node-c's daemon, at its flush after its task ended last */
    remote_record(&seen_b, "node-b", IPD_TASK_SUCCEEDED, T0 + 5000);
    remote_record(&seen_c, "node-c", IPD_TASK_SUCCEEDED, T0 + 6000);
    ipd_model_flush(model, T0 + 600000);
    view_t v = read_job(seen_b.id);
    cr_assert_eq(v.job.state, IPD_JOB_SUCCEEDED);
    cr_assert_eq(v.job.started_at, T0 + 2000, "started_at %lld", (long long)v.job.started_at);
    cr_assert_eq(v.job.finished_at, T0 + 6000, "finished_at %lld", (long long)v.job.finished_at);

    /* A later record of the same job moves neither. */
    seen_b.started_at = T0 + 9000;
    seen_b.finished_at = T0 + 9000;
    remote_record(&seen_b, "node-b", IPD_TASK_SUCCEEDED, T0 + 5000);
    ipd_model_flush(model, T0 + 700000);
    v = read_job(seen_b.id);
    cr_assert_eq(v.job.started_at, T0 + 2000);
    cr_assert_eq(v.job.finished_at, T0 + 6000);
}

/*
 * A task another daemon published as unknown (the stand-in for a node without a live daemon,
 * master/standin.h) keeps the record's time on every daemon, lost node or not; only a task this
 * daemon itself judges lost takes its own time. Before, each daemon stamped such a task with the
 * time it applied the record, and the job's times followed from it.
 */
Test(model, a_task_a_record_says_unknown_keeps_the_record_s_time)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_job_t job = job_of("pj-000000e3", 2, 0);
    job.nodes.desired = 1;
    remote_record(&job, "node-d", IPD_TASK_UNKNOWN, T0 + 1000);
    ipd_model_flush(model, T0 + 1700);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_UNKNOWN);
    cr_assert_eq(v.tasks[0].updated_at, T0 + 1000, "updated_at %lld", (long long)v.tasks[0].updated_at);
    /* Judged lost meanwhile (the stand-in put it in {p}:nodes): the record still says when. */
    ipd_model_remote_node(model, "node-d", 0);
    job.started_at = T0 + 2000; /* as the stand-in says of a job that no daemon saw start */
    remote_record(&job, "node-d", IPD_TASK_SUCCEEDED, T0 + 2000);
    ipd_model_flush(model, T0 + 2900);
    v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_SUCCEEDED);
    cr_assert_eq(v.tasks[0].updated_at, T0 + 2000);
    cr_assert_eq(v.job.started_at, T0 + 2000, "started_at %lld", (long long)v.job.started_at);
    cr_assert_eq(v.job.finished_at, T0 + 2000, "finished_at %lld", (long long)v.job.finished_at);
}

/*
 * Node-b's daemon is lost: this daemon shows its pulling task unknown from the moment it saw the
 * liveness key gone. The stand-in then publishes the task unknown (master/standin.h): this
 * daemon takes that record's time, which every daemon shows. Before, a record that changed the
 * time only was no news, and each daemon kept its own. An earlier end of a final task, alone, is
 * news the same way.
 */
Test(model, a_lost_task_takes_the_time_of_the_stand_in_s_unknown_record)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_job_t job = job_of("pj-000000eb", 2, 0);
    job.nodes.desired = 1;
    remote_record(&job, "node-b", IPD_TASK_PULLING, T0 + 1000);
    ipd_model_flush(model, T0 + 1500);
    ipd_model_remote_node(model, "node-b", 0);
    ipd_model_flush(model, T0 + 4000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_UNKNOWN);
    cr_assert_eq(v.tasks[0].updated_at, T0 + 4000);
    ipd_task_t rec = v.tasks[0];
    rec.updated_at = T0 + 4700;
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &rec), 0);
    ipd_model_flush(model, T0 + 5000);
    v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_UNKNOWN);
    cr_assert_eq(v.tasks[0].updated_at, T0 + 4700, "updated_at %lld", (long long)v.tasks[0].updated_at);

    /* Its end, then the same end seen earlier. */
    remote_record(&job, "node-b", IPD_TASK_SUCCEEDED, T0 + 9000);
    ipd_model_flush(model, T0 + 9500);
    cr_assert_eq(read_job(job.id).job.finished_at, T0 + 9000);
    remote_record(&job, "node-b", IPD_TASK_SUCCEEDED, T0 + 8000);
    ipd_model_flush(model, T0 + 9900);
    v = read_job(job.id);
    cr_assert_eq(v.tasks[0].updated_at, T0 + 8000, "updated_at %lld", (long long)v.tasks[0].updated_at);
    cr_assert_eq(v.job.finished_at, T0 + 8000);
}

/*
 * A job cancelled through another daemon ended when that daemon saw the cancel: its record says
 * so, and it is earlier than the last task's end, which each node's daemon stamped when it
 * deleted its Job. A daemon that published a later time takes the earlier one, and never a time
 * before the job started (the nodes' clocks may differ).
 */
Test(model, a_job_cancelled_elsewhere_ends_when_the_daemon_it_went_through_saw_it)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_job_t job = job_of("pj-000000e2", 2, 0);
    job.nodes.desired = 2;
    job.started_at = T0 + 2000;
    remote_record(&job, "node-b", IPD_TASK_CANCELLED, T0 + 4200);
    remote_record(&job, "node-c", IPD_TASK_CANCELLED, T0 + 4500);
    ipd_model_flush(model, T0 + 8000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.job.state, IPD_JOB_CANCELLED);
    cr_assert_eq(v.job.finished_at, T0 + 4500, "no record says when: the last task's end");

    job.cancelled = 1;
    job.finished_at = T0 + 4000; /* node-c's daemon, which the cancel went through */
    remote_record(&job, "node-c", IPD_TASK_CANCELLED, T0 + 4500);
    ipd_model_flush(model, T0 + 9000);
    v = read_job(job.id);
    cr_assert_eq(v.job.finished_at, T0 + 4000, "finished_at %lld", (long long)v.job.finished_at);
    cr_assert_eq(v.job.started_at, T0 + 2000, "started_at %lld", (long long)v.job.started_at);

    job.finished_at = T0 + 1500; /* a node's clock behind the others' */
    remote_record(&job, "node-c", IPD_TASK_CANCELLED, T0 + 4500);
    ipd_model_flush(model, T0 + 10000);
    cr_assert_eq(read_job(job.id).job.finished_at, T0 + 2000, "never before it started");
}

/* A job of 3 nodes that node-a's daemon (a teardown wait of 3 s) learns from node-b's record,
 * cancelled, first. */
static ipd_job_t learnt_cancelled_first(const char *id)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_model_set_teardown_wait(model, 3000);
    ipd_job_t job = job_of(id, 2, 0);
    job.nodes.desired = 3;
    remote_record(&job, "node-b", IPD_TASK_CANCELLED, T0 + 1000);
    ipd_model_flush(model, T0 + 1100);
    return job;
}

/*
 * A daemon learns a job from the other nodes' records one at a time (it rebooted while Redis came
 * back empty and the daemons put their records back): node-b's, cancelled, comes first. Until the
 * others come, or the teardown wait passes, that is no proof the job was torn down: node-c's and
 * node-d's records then tell it ended failed, as every other daemon shows it. Before, the job
 * ended cancelled at the first record, and a final state never changes.
 */
Test(model, a_job_learnt_from_a_cancelled_record_first_ends_as_all_its_records_say)
{
    ipd_job_t job = learnt_cancelled_first("pj-000000f1");
    view_t v = read_job(job.id);
    cr_assert(!ipd_job_state_is_final((ipd_job_state_t)v.job.state), "ended %s on node-b's record alone",
              ipd_job_state_name((ipd_job_state_t)v.job.state));
    remote_record(&job, "node-c", IPD_TASK_SUCCEEDED, T0 + 1500);
    ipd_model_flush(model, T0 + 2000);
    remote_record(&job, "node-d", IPD_TASK_FAILED, T0 + 1600);
    ipd_model_flush(model, T0 + 2500);
    v = read_job(job.id);
    cr_assert_eq(v.job.state, IPD_JOB_FAILED, "the job is %s", ipd_job_state_name((ipd_job_state_t)v.job.state));
    cr_assert_eq(v.job.nodes.cancelled, 1);
}

/*
 * The same first record, and no other comes (the POST was rolled back after node-b's Job, or a
 * cancel deleted Jobs that nothing will tell of): once the teardown wait passed, counted from the
 * last task seen, the nodes not seen count cancelled and the job ends cancelled. The job, final
 * and let go of, is read from the table when the stand-in asks what it holds of a node (its
 * watch saw that node's Job deleted): node-d has no task there, and its record, when it comes,
 * joins the job. Before, a job let go of was gone to the stand-in, whatever the table held.
 */
Test(model, a_job_whose_other_records_never_come_ends_cancelled_after_the_wait)
{
    ipd_job_t job = learnt_cancelled_first("pj-000000f2");
    remote_record(&job, "node-c", IPD_TASK_CANCELLED, T0 + 2000);
    ipd_model_flush(model, T0 + 2100);
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 4500); /* 3 400 ms after node-b's, 2 400 after node-c's */
    cr_assert(!ipd_job_state_is_final((ipd_job_state_t)read_job(job.id).job.state));
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 5200);
    view_t v = read_job(job.id);
    cr_assert_eq(v.job.state, IPD_JOB_CANCELLED, "the job is %s", ipd_job_state_name((ipd_job_state_t)v.job.state));
    cr_assert_eq(v.job.nodes.cancelled, 3);
    cr_assert_eq(v.job.nodes.pending, 0);

    cr_assert_eq(ipd_model_task_held(model, job.id, "node-d"), IPD_MODEL_JOB_ONLY);
    cr_assert_eq(ipd_model_task_held(model, job.id, "node-b"), IPD_TASK_CANCELLED);
    remote_record(&job, "node-d", IPD_TASK_CANCELLED, T0 + 5500);
    ipd_model_flush(model, T0 + 5600);
    v = read_job(job.id);
    cr_assert_eq(v.job.state, IPD_JOB_CANCELLED);
    cr_assert_eq(v.job.nodes.cancelled, 3);
    cr_assert_eq(v.ntasks, 3, "node-d's record did not join the job (%zu tasks)", v.ntasks);
    /* With a task of each node, the table is read no further. */
    cr_assert_eq(ipd_model_task_held(model, job.id, "node-d"), IPD_MODEL_JOB_GONE);
}

/* A node reboot: the table loses job `id` (as an emptied /dev/shm would), and a new master of
 * node-a starts on it. */
static void reboot_master(const char *id)
{
    ipd_model_destroy(model);
    cr_assert_eq(ipd_table_delete_job(table, id), 0);
    cr_assert_eq(ipd_model_create(table, &recorder, &model), 0);
    ipd_model_set_node(model, "node-a", 1);
}

/*
 * A node rebooted: its new master finds no table, and the Redis snapshot gives it this node's
 * task as the daemon before it published it. The pod is gone since and its Events expired; the
 * Job is Complete. The task keeps the pod, the figures and the time of that record, and the job
 * the times it had, as the other daemons show them. Once the snapshot did its part
 * (ipd_model_own_records_done), records of this node are the echoes of this master's own.
 */
Test(model, this_node_s_task_from_before_this_master_keeps_its_pod_figures_and_times)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_job_t job = job_on_node_a("pj-000000e3", 2, 0);
    apply_pulling(job.id, "node-a", "pull-e3-1", "e3-pulling");
    ipd_model_flush(model, T0 + 2000);
    apply_pulled(job.id, "node-a", "pull-e3-1", "e3-pulled");
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-a", "Complete", "CompletionsReached"));
    ipd_model_flush(model, T0 + 5000);
    view_t before = read_job(job.id);
    cr_assert_eq(before.job.state, IPD_JOB_SUCCEEDED);
    cr_assert_gt(before.tasks[0].pull_ms, 0);
    cr_assert_str_eq(before.tasks[0].pod, "pull-e3-1");

    /* The reboot: an empty table, a new master. */
    reboot_master(job.id);
    cr_assert(ipd_model_own_records_open(model));
    cr_assert_eq(ipd_model_remote_task(model, &before.job, NULL, &before.tasks[0]), 0);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_ADDED, kjob_finished(&job, "node-a", "Complete", "CompletionsReached"));
    ipd_model_initial_sync_done(model);
    ipd_model_flush(model, T0 + 600000);
    view_t after = read_job(job.id);
    cr_assert_eq(after.job.state, IPD_JOB_SUCCEEDED);
    cr_assert_str_eq(after.tasks[0].pod, "pull-e3-1");
    cr_assert_eq(after.tasks[0].pull_ms, before.tasks[0].pull_ms);
    cr_assert_eq(after.tasks[0].image_bytes, before.tasks[0].image_bytes);
    cr_assert_eq(after.tasks[0].updated_at, before.tasks[0].updated_at, "updated_at %lld, was %lld",
                 (long long)after.tasks[0].updated_at, (long long)before.tasks[0].updated_at);
    cr_assert_eq(after.job.started_at, before.job.started_at, "started_at %lld, was %lld",
                 (long long)after.job.started_at, (long long)before.job.started_at);
    cr_assert_eq(after.job.finished_at, before.job.finished_at, "finished_at %lld, was %lld",
                 (long long)after.job.finished_at, (long long)before.job.finished_at);

    /* Done: a record of this node no longer counts. */
    cr_assert_eq(ipd_model_own_records_done(model), 1);
    cr_assert_not(ipd_model_own_records_open(model));
    ipd_task_t echo = before.tasks[0];
    echo.updated_at = T0 + 1000;
    ipd_job_t echo_job = before.job;
    echo_job.started_at = echo_job.finished_at = T0 + 1000;
    cr_assert_eq(ipd_model_remote_task(model, &echo_job, NULL, &echo), 0);
    ipd_model_flush(model, T0 + 700000);
    after = read_job(job.id);
    cr_assert_eq(after.tasks[0].updated_at, before.tasks[0].updated_at);
    cr_assert_eq(after.job.started_at, before.job.started_at);
}

/* This node's task as a stand-in published it while no daemon of this node was alive
 * (master/standin.h): succeeded from its Job, no pod, no figures. */
static ipd_task_t stood_in(int64_t at)
{
    ipd_task_t rec;
    ipd_task_init(&rec, "node-a", at);
    rec.state = IPD_TASK_SUCCEEDED;
    strcpy(rec.ns, NS);
    strcpy(rec.reason, "Pulled");
    strcpy(rec.message, "the image is on the node");
    return rec;
}

/*
 * This node's daemon was away (dead, or cut off from Redis) when its task ended, and a stand-in
 * published the end from the Job. The master, back, sees the same final state with its pod and
 * figures: the task keeps the time the stand-in published, which the other daemons show and
 * their job's end follows, and gains the pod and figures. Whether the snapshot's record comes
 * before this master computed the task or after it published it (a race of the lists and the
 * link) does not matter. Before, the master kept its own time when the record was not the same
 * but for the time, and its job ended later than on the other daemons.
 */
Test(model, this_node_s_task_a_stand_in_ended_keeps_that_time_and_gains_the_pod)
{
    ipd_model_set_node(model, "node-a", 1);
    for (int late = 0; late < 2; late++) {
        ipd_job_t job = job_on_node_a(late ? "pj-000000e7" : "pj-000000e6", 2, 0);
        job.started_at = T0 + 3000;
        ipd_task_t rec = stood_in(T0 + 3000);
        if (!late)
            cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &rec), 0);
        apply_pulling(job.id, "node-a", late ? "pull-e7" : "pull-e6", late ? "e7-pulling" : "e6-pulling");
        apply_pulled(job.id, "node-a", late ? "pull-e7" : "pull-e6", late ? "e7-pulled" : "e6-pulled");
        apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-a", "Complete", "CompletionsReached"));
        if (!late)
            ipd_model_initial_sync_done(model);
        ipd_model_flush(model, T0 + 9000);
        if (late) {
            cr_assert_eq(read_job(job.id).tasks[0].updated_at, T0 + 9000);
            cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &rec), 0);
            ipd_model_flush(model, T0 + 9500);
        }
        view_t v = read_job(job.id);
        cr_assert_eq(v.tasks[0].state, IPD_TASK_SUCCEEDED, "late %d", late);
        cr_assert_str_eq(v.tasks[0].pod, late ? "pull-e7" : "pull-e6", "late %d", late);
        cr_assert_eq(v.tasks[0].pull_ms, 1500, "late %d", late);
        cr_assert_eq(v.tasks[0].updated_at, T0 + 3000, "late %d: updated_at %lld", late,
                     (long long)v.tasks[0].updated_at);
        cr_assert_eq(v.job.finished_at, T0 + 3000, "late %d: finished_at %lld", late, (long long)v.job.finished_at);
    }
}

/*
 * Another node's daemon was only cut off from Redis: it saw its task end from the pod before the
 * stand-in saw the Job complete. Back, it publishes its end, earlier and with the pod and
 * figures: every daemon takes the earliest end of the same final state, whichever record came
 * first, and the job's end follows. Before, a final task kept the first time it was published
 * with, and daemons that got the records in another order disagreed.
 */
Test(model, the_earliest_end_of_a_final_task_wins_whatever_order_its_records_come_in)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_job_t job = job_of("pj-000000e8", 2, 0);
    job.nodes.desired = 1;
    job.started_at = T0 + 1000;
    ipd_task_t standin = stood_in(T0 + 6000), own = stood_in(T0 + 4000);
    strcpy(standin.node, "node-b");
    strcpy(own.node, "node-b");
    strcpy(own.pod, "pull-e8");
    own.pull_ms = 1500;
    own.image_bytes = 123;
    own.attempts = 1;
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &standin), 0);
    ipd_model_flush(model, T0 + 6500);
    cr_assert_eq(read_job(job.id).job.finished_at, T0 + 6000);
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &own), 0);
    ipd_model_flush(model, T0 + 7000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].updated_at, T0 + 4000, "updated_at %lld", (long long)v.tasks[0].updated_at);
    cr_assert_str_eq(v.tasks[0].pod, "pull-e8");
    cr_assert_eq(v.tasks[0].pull_ms, 1500);
    cr_assert_eq(v.job.finished_at, T0 + 4000, "finished_at %lld", (long long)v.job.finished_at);
    /* The stand-in's again (a republish): nothing moves. */
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &standin), 0);
    ipd_model_flush(model, T0 + 8000);
    v = read_job(job.id);
    cr_assert_eq(v.tasks[0].updated_at, T0 + 4000);
    cr_assert_str_eq(v.tasks[0].pod, "pull-e8");
    cr_assert_eq(v.job.finished_at, T0 + 4000);
}

typedef struct lost_seen {
    char what[8][IPD_JOB_ID_SIZE + IPD_NODE_SIZE + 16];
    size_t n;
} lost_seen_t;

static void note_lost(void *ctx, const ipd_job_t *job, uint32_t node_count, const ipd_task_t *task,
                      ipd_task_state_t published)
{
    lost_seen_t *s = ctx;
    if (s->n < 8)
        snprintf(s->what[s->n++], sizeof(s->what[0]), "%s %s %u %s %s", job->id, task->node, node_count,
                 ipd_task_state_name((ipd_task_state_t)task->state), ipd_task_state_name(published));
}

/* The tasks the stand-in checks against the Jobs it lists (master/daemon_standin.c): the
 * unfinished ones of lost nodes, keep jobs left out. */
Test(model, the_lost_tasks_are_the_unfinished_ones_of_lost_nodes)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_job_t job = job_of("pj-000000e9", 2, 0);
    job.nodes.desired = 3;
    remote_record(&job, "node-b", IPD_TASK_PULLING, T0 + 1000);
    remote_record(&job, "node-c", IPD_TASK_PULLING, T0 + 1000);
    remote_record(&job, "node-d", IPD_TASK_SUCCEEDED, T0 + 1000);
    ipd_job_t keep = job_of("pj-000000ea", 2, 0);
    keep.keep = 1;
    remote_record(&keep, "node-b", IPD_TASK_PULLING, T0 + 1000);
    ipd_model_flush(model, T0 + 2000);
    lost_seen_t s = {.n = 0};
    ipd_model_lost_tasks(model, note_lost, &s);
    cr_assert_eq(s.n, 0, "no node is lost");
    ipd_model_remote_node(model, "node-b", 0);
    ipd_model_remote_node(model, "node-d", 0);
    ipd_model_flush(model, T0 + 3000);
    ipd_model_lost_tasks(model, note_lost, &s);
    cr_assert_eq(s.n, 1);
    /* Shown unknown here, published pulling by its daemon. */
    cr_assert_str_eq(s.what[0], "pj-000000e9 node-b 3 unknown pulling");
}

/*
 * Node-b's daemon, cut off from Redis, saw its task fail from the pod (the kubelet's words,
 * three attempts); the stand-in meanwhile published the failure from the Job (its Failed
 * condition's words, no pod). Back, node-b's daemon publishes its end: every daemon shows the
 * pod's words, the pod and the attempts, at the earlier end, and the Job's words published again
 * change nothing. Before, a final task kept the first words it was published with, and node-b's
 * daemon and the others showed the same failure in two ways.
 */
Test(model, words_from_the_job_alone_give_way_to_the_pod_s_words_of_the_same_end)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_job_t job = job_of("pj-000000ec", 2, 0);
    job.nodes.desired = 1;
    job.started_at = T0 + 1000;
    ipd_task_t from_job;
    ipd_task_init(&from_job, "node-b", T0 + 6000);
    from_job.state = IPD_TASK_FAILED;
    strcpy(from_job.ns, NS);
    strcpy(from_job.reason, "BackoffLimitExceeded");
    strcpy(from_job.message, "Job has reached the specified backoff limit");
    ipd_task_t from_pod = from_job;
    from_pod.updated_at = T0 + 5000;
    strcpy(from_pod.reason, "ErrImagePull");
    strcpy(from_pod.message, "manifest unknown");
    strcpy(from_pod.pod, "pull-ec");
    from_pod.attempts = 3;
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &from_job), 0);
    ipd_model_flush(model, T0 + 6500);
    cr_assert_str_eq(read_job(job.id).tasks[0].reason, "BackoffLimitExceeded");
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &from_pod), 0);
    ipd_model_flush(model, T0 + 7000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_FAILED);
    cr_assert_str_eq(v.tasks[0].reason, "ErrImagePull");
    cr_assert_str_eq(v.tasks[0].message, "manifest unknown");
    cr_assert_str_eq(v.tasks[0].pod, "pull-ec");
    cr_assert_eq(v.tasks[0].attempts, 3);
    cr_assert_eq(v.tasks[0].updated_at, T0 + 5000);
    cr_assert_eq(v.job.finished_at, T0 + 5000);
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &from_job), 0);
    ipd_model_flush(model, T0 + 8000);
    v = read_job(job.id);
    cr_assert_str_eq(v.tasks[0].reason, "ErrImagePull");
    cr_assert_str_eq(v.tasks[0].pod, "pull-ec");
    cr_assert_eq(v.tasks[0].updated_at, T0 + 5000);
}

/* A record of this node whose task differs from what this master computes gives it no time. */
Test(model, this_node_s_record_of_another_state_gives_no_time)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_job_t job = job_on_node_a("pj-000000e4", 2, 0);
    ipd_task_t rec;
    ipd_task_init(&rec, "node-a", T0 + 1000); /* pending, as it was before this master */
    cr_assert_eq(ipd_model_remote_task(model, &job, NULL, &rec), 0);
    apply_pulling(job.id, "node-a", "pull-e4-1", "e4-pulling");
    ipd_model_flush(model, T0 + 3000);
    view_t v = read_job(job.id);
    cr_assert_eq(v.tasks[0].state, IPD_TASK_PULLING);
    cr_assert_eq(v.tasks[0].updated_at, T0 + 3000);
}

/*
 * As attempts_of_pods_deleted_while_no_master_watched_still_count, but the node rebooted: the
 * new master finds no table, and its node's record in the Redis snapshot holds the attempts.
 * They count as the table's would: shown at once, taken as the earlier pods' once everything is
 * listed, and later attempts add to them. So backoff_limit still ends the retries in time.
 */
Test(model, attempts_in_this_node_s_record_count_after_a_restart_with_an_empty_table)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_job_t job = two_pods_of_two_attempts("pj-000000e5");
    view_t before = read_job(job.id);

    /* The reboot: the first pod was deleted meanwhile; an empty table, a new master. */
    reboot_master(job.id);
    cr_assert_eq(ipd_model_remote_task(model, &before.job, NULL, &before.tasks[0]), 0);
    relist_second_pod(&job);
}

/*
 * A node rebooted after Kubernetes deleted its pull Jobs (every pull Job has a TTL): the new
 * master finds no table and no object of its node's tasks, only their records in the Redis
 * snapshot. A finished task is restored as it was published, with its job even when no other
 * node has a task in it; an unfinished one whose Job is gone once everything is listed was
 * cancelled, as a task reloaded from a table is. A keep job's task is left to its Jobs.
 */
Test(model, this_node_s_records_restore_its_tasks_whose_kubernetes_objects_are_gone)
{
    ipd_model_set_node(model, "node-a", 1);
    ipd_job_t done = job_of("pj-000000e6", 2, 0);
    done.nodes.desired = 1;
    done.state = IPD_JOB_SUCCEEDED;
    done.started_at = T0 + 2000;
    done.finished_at = T0 + 5000;
    ipd_task_t done_task;
    ipd_task_init(&done_task, "node-a", T0 + 5000);
    done_task.state = IPD_TASK_SUCCEEDED;
    done_task.attempts = 1;
    done_task.pull_ms = 1500;
    done_task.image_bytes = 123;
    snprintf(done_task.ns, sizeof(done_task.ns), "%s", NS);
    snprintf(done_task.pod, sizeof(done_task.pod), "pull-e6-1");
    snprintf(done_task.reason, sizeof(done_task.reason), "%s", IPD_REASON_PULLED);
    snprintf(done_task.message, sizeof(done_task.message), "%s", IPD_MESSAGE_PULLED);
    cr_assert_eq(ipd_model_remote_task(model, &done, NULL, &done_task), 0);

    ipd_job_t going = job_of("pj-000000e7", 2, 0);
    going.nodes.desired = 2;
    going.started_at = T0 + 2000;
    ipd_task_t going_task;
    ipd_task_init(&going_task, "node-a", T0 + 3000);
    going_task.state = IPD_TASK_PULLING;
    going_task.attempts = 1;
    cr_assert_eq(ipd_model_remote_task(model, &going, NULL, &going_task), 0);
    ipd_task_t other;
    ipd_task_init(&other, "node-b", T0 + 3000);
    other.state = IPD_TASK_PULLING;
    cr_assert_eq(ipd_model_remote_task(model, &going, NULL, &other), 0);

    ipd_job_t kept = job_of("pj-000000e8", 2, 0);
    kept.keep = 1;
    kept.nodes.desired = 1;
    ipd_task_t kept_task;
    ipd_task_init(&kept_task, "node-a", T0 + 3000);
    kept_task.state = IPD_TASK_SUCCEEDED;
    cr_assert_eq(ipd_model_remote_task(model, &kept, NULL, &kept_task), 0);

    /* Before the lists are complete: as published. */
    ipd_model_flush(model, T0 + 600000);
    view_t v = read_job(done.id);
    cr_assert_eq(v.job.state, IPD_JOB_SUCCEEDED);
    cr_assert_eq(v.ntasks, 1);
    cr_assert_str_eq(v.tasks[0].pod, "pull-e6-1");
    cr_assert_eq(v.tasks[0].updated_at, T0 + 5000);
    cr_assert_eq(v.tasks[0].pull_ms, 1500);
    cr_assert_eq(v.job.started_at, T0 + 2000);
    cr_assert_eq(v.job.finished_at, T0 + 5000);
    v = read_job(going.id);
    cr_assert_eq(task_on(&v, "node-a")->state, IPD_TASK_PULLING);
    ipd_table_job_view_t probe = {.job = &v.job};
    cr_assert_eq(ipd_table_get_job(table, kept.id, &probe), IPD_ENOTFOUND,
                 "a keep job's task was made from its record");

    /* Listed: no Job and no pod of node-a's unfinished task. */
    ipd_model_initial_sync_done(model);
    ipd_model_flush(model, T0 + 601000);
    v = read_job(going.id);
    cr_assert_eq(task_on(&v, "node-a")->state, IPD_TASK_CANCELLED, "state %d", task_on(&v, "node-a")->state);
    cr_assert_eq(task_on(&v, "node-b")->state, IPD_TASK_PULLING);
    v = read_job(done.id);
    cr_assert_eq(v.job.state, IPD_JOB_SUCCEEDED);
    cr_assert_eq(v.tasks[0].updated_at, T0 + 5000);
}

/* Whether the slot action finds the link up (0) or not. */
static int slot_sent = 0;

static int on_slot(void *ctx, const char *id, int op, int32_t parallelism, const char *ns, const char *name)
{
    (void)ctx;
    (void)id;
    cr_assert_eq(parallelism, 1);
    if (slot_sent != 0)
        return slot_sent;
    record(op == IPD_MODEL_SLOT_CLAIM ? "claim" : op == IPD_MODEL_SLOT_HOLD ? "hold" : "done", ns, name);
    return 0;
}

/*
 * Node scope with Redis: this daemon sees only its node's Job, so it counts no other node's Job
 * as running (it never would see one end); it claims its node's slot in Redis while the Job
 * waits suspended, again about every tick until granted, resumes it once granted, holds the
 * slot while it runs and frees it once the Job completed. Before, the Jobs of the other two
 * nodes, never seen, held the only slot for ever.
 */
Test(model, node_scope_with_redis_claims_this_node_s_slot_and_resumes_once_granted)
{
    ipd_model_actions_t acts = recorder;
    acts.slot = on_slot;
    remodel(&acts, "node-a", 1);
    ipd_job_t job = job_of("pj-000000e1", 3, 1);
    char na[IPD_KUBE_JOB_NAME_SIZE], want[160];
    kjob_name(job.id, "node-a", na);
    snprintf(want, sizeof(want), "claim %s/%s", NS, na);
    add_kjob(&job, "node-a", 3, 1);
    ipd_model_flush(model, T0 + 2000);
    cr_assert_eq(count_actions("claim"), 1);
    cr_assert_str_eq(nth_action("claim", 0), want);
    cr_assert_eq(count_actions("resume"), 0, "not before a slot is granted");
    view_t v = read_job(job.id);
    cr_assert_str_eq(task_on(&v, "node-a")->reason, "Queued");
    /* Not granted: claimed again about every tick. */
    expect_asked_again("claim", 1, T0 + 2900);

    ipd_model_slot_granted(model, job.id);
    cr_assert_eq(count_actions("resume"), 1);
    snprintf(want, sizeof(want), "resume %s/%s", NS, na);
    cr_assert_str_eq(nth_action("resume", 0), want);

    /* Resumed: the Job runs and holds its slot, said once it could be sent (the link was
     * syncing after a reconnect, the first time). */
    add_kjob(&job, "node-a", 3, 0);
    apply_pulling(job.id, "node-a", "pull-e1", "ee1");
    slot_sent = -ENOTCONN;
    ipd_model_flush(model, T0 + 4000);
    slot_sent = 0;
    cr_assert_eq(count_actions("hold"), 0);
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 5000);
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 6000);
    cr_assert_eq(count_actions("hold"), 1);
    /* Redis may have lost the slots (a reconnect): said again. */
    ipd_model_slots_again(model);
    ipd_model_flush(model, T0 + 6500);
    cr_assert_eq(count_actions("hold"), 2);
    cr_assert_eq(count_actions("claim"), 2);

    /* The pod is done, the Job not yet: the slot stays held. Then the Job completes: freed, once. */
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-e1", 1, "completed"));
    ipd_model_flush(model, T0 + 7000);
    cr_assert_eq(count_actions("done"), 0, "freed before the Job ended");
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-a", "Complete", "CompletionsReached"));
    ipd_model_flush(model, T0 + 8000);
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 9000);
    cr_assert_eq(count_actions("done"), 1);
    /* A grant that comes late resumes nothing. */
    ipd_model_slot_granted(model, job.id);
    cr_assert_eq(count_actions("resume"), 1);
}

/*
 * Node scope without Redis: every daemon watches every node's Job and resumes only its own. When
 * node-a's Job completes, the daemons of node-b and node-c both see the only slot free; before,
 * both resumed their Job, and two ran at once under parallelism 1. Now node-c's daemon lets the
 * Job that waits before it (node-b, in task order) go first.
 */
Test(model, node_scope_without_redis_lets_the_jobs_waiting_ahead_go_first)
{
    ipd_model_set_node(model, "node-c", 0);
    ipd_job_t job = job_of("pj-000000e2", 3, 1);
    char nc[IPD_KUBE_JOB_NAME_SIZE], want[160];
    kjob_name(job.id, "node-c", nc);
    add_kjob(&job, "node-a", 3, 0);
    add_kjob(&job, "node-b", 3, 1);
    add_kjob(&job, "node-c", 3, 1);
    ipd_model_flush(model, T0 + 1000);
    cr_assert_eq(count_actions("resume"), 0);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-a", "Complete", "CompletionsReached"));
    ipd_model_flush(model, T0 + 2000);
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 9000);
    cr_assert_eq(count_actions("resume"), 0, "node-c's Job took the slot node-b's daemon takes");
    view_t v = read_job(job.id);
    cr_assert_str_eq(task_on(&v, "node-c")->reason, "Queued");

    /* node-b's daemon resumed its Job: it runs, then completes; then node-c's turn. */
    add_kjob(&job, "node-b", 3, 0);
    ipd_model_flush(model, T0 + 10000);
    cr_assert_eq(count_actions("resume"), 0, "node-b's Job runs");
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, kjob_finished(&job, "node-b", "Complete", "CompletionsReached"));
    ipd_model_flush(model, T0 + 11000);
    cr_assert_eq(count_actions("resume"), 1);
    snprintf(want, sizeof(want), "resume %s/%s", NS, nc);
    cr_assert_str_eq(nth_action("resume", 0), want);
}

static void on_fail_job(void *ctx, const char *ns, const char *name)
{
    (void)ctx;
    record("fail_job", ns, name);
}

/* `o` (a Job) annotated as its node's daemon leaves it before deleting it. */
static json_t *with_outcome(json_t *o, const char *outcome)
{
    json_object_set_new(json_object_get(json_object_get(o, "metadata"), "annotations"), "imgpulld.io/outcome",
                        json_string(outcome));
    return o;
}

/*
 * Node scope without Redis: another node's task is what its Job says. A daemon that gives its
 * task up (pull errors beyond backoff_limit, which the kubelet would retry for ever) deletes the
 * Job; before, every other daemon saw a Job deleted before it ended, a cancel, so that the
 * daemons disagreed: the job failed on one and was cancelled on the others. The Job is marked
 * failed first (imgpulld.io/outcome), and the others show the task failed, also when the watch
 * merges the mark into the deletion. This daemon, giving its own task up, marks its Job so.
 */
Test(model, without_redis_a_job_deleted_as_given_up_is_a_failure_everywhere)
{
    ipd_model_actions_t acts = recorder;
    acts.fail_job = on_fail_job;
    remodel(&acts, "node-a", 0);
    ipd_job_t job = job_of("pj-000000e3", 0, 0);
    add_kjob(&job, "node-a", 3, 0);
    add_kjob(&job, "node-b", 3, 0);
    add_kjob(&job, "node-c", 3, 0);
    apply(IPD_MODEL_KJOBS, IPD_WATCH_MODIFIED, with_outcome(kjob(&job, "node-b", 3, 0), "failed"));
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, with_outcome(kjob(&job, "node-b", 3, 0), "failed"));
    /* The watch merged node-c's mark into its deletion. */
    apply(IPD_MODEL_KJOBS, IPD_WATCH_DELETED, with_outcome(kjob(&job, "node-c", 3, 0), "failed"));
    ipd_model_flush(model, T0 + 2000);
    view_t v = read_job(job.id);
    cr_assert_eq(task_on(&v, "node-b")->state, IPD_TASK_FAILED, "node-b: %s",
                 ipd_task_state_name((ipd_task_state_t)task_on(&v, "node-b")->state));
    cr_assert_eq(task_on(&v, "node-c")->state, IPD_TASK_FAILED);

    /* node-a's own pull fails past backoff_limit 0: given up, its Job marked and deleted. */
    apply_pulling(job.id, "node-a", "pull-e3", "e3");
    ipd_model_flush(model, T0 + 3000);
    apply(IPD_MODEL_PODS, IPD_WATCH_MODIFIED, pod(job.id, "node-a", "pull-e3", 1, "backoff"));
    ipd_model_flush(model, T0 + 4000);
    ipd_model_tick(model);
    ipd_model_flush(model, T0 + 5000);
    cr_assert_eq(count_actions("fail_job"), 1, "the Job of the task given up was not marked failed");
    cr_assert_eq(count_actions("delete_job"), 0, "the Job of the task given up was deleted unmarked");
    cr_assert_eq(read_job(job.id).job.state, IPD_JOB_FAILED);
}
