/*
 * Nodes and pull jobs: a pending task says why it waits (NodeNotReady, NodeCordoned, Queued) and
 * starts once its node can take it. The real daemon runs against the Kubernetes simulator, whose
 * nodes behave as Kubernetes' do (tests/kubesim/README.md "Nodes").
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static const char *const sim_args[] = {"--nodes", "4", "--pull-ms", "100", NULL};

static h_world_t w;

static void teardown(void)
{
    if (w.daemon.pid > 0 || w.sim.pid > 0)
        h_world_stop(&w);
}

static void sim(const char *method, const char *path, const char *body)
{
    h_resp_t r;
    cr_assert_eq(h_http(w.sim.port, method, path, body, NULL, &r), 0, "%s %s: transport", method, path);
    cr_assert(r.status >= 200 && r.status < 300, "%s %s: %ld %s", method, path, r.status, r.body ? r.body : "");
    h_resp_free(&r);
}

/* POSTs a pull request and returns the id of its (only) job. */
static void post_pull(const char *body, char id[64])
{
    long st = 0;
    json_t *doc = h_http_json(w.port, "POST", "/api/v1/images/pull", body, &st);
    cr_assert_eq(st, 202, "POST %s: %ld", body, st);
    const char *s = json_string_value(json_object_get(json_array_get(json_object_get(doc, "jobs"), 0), "id"));
    cr_assert_not_null(s);
    snprintf(id, 64, "%s", s);
    json_decref(doc);
}

typedef struct task_want {
    const char *id, *node, *state, *reason, *message_part;
    char seen[512];
} task_want_t;

static int task_is(void *ctx)
{
    task_want_t *want = ctx;
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs/%s", want->id);
    json_t *job = h_http_json(w.port, "GET", path, NULL, NULL);
    size_t i;
    json_t *t;
    int ok = 0;
    json_array_foreach(json_object_get(job, "tasks"), i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "node")), want->node) != 0)
            continue;
        const char *state = json_string_value(json_object_get(t, "state"));
        const char *reason = json_string_value(json_object_get(t, "reason"));
        const char *message = json_string_value(json_object_get(t, "message"));
        snprintf(want->seen, sizeof(want->seen), "%s %s %s", state, reason ? reason : "null",
                 message ? message : "null");
        ok = strcmp(state, want->state) == 0 &&
             (want->reason == NULL || (reason != NULL && strcmp(reason, want->reason) == 0)) &&
             (want->message_part == NULL || (message != NULL && strstr(message, want->message_part) != NULL));
    }
    json_decref(job);
    return ok;
}

static void expect_task(const char *id, const char *node, const char *state, const char *reason, const char *msg_part)
{
    task_want_t want = {id, node, state, reason, msg_part, ""};
    cr_assert(h_wait(task_is, &want, 15000), "job %s node %s: want %s %s (%s), last seen: %s", id, node, state,
              reason ? reason : "-", msg_part ? msg_part : "-", want.seen);
}

Test(nodes, a_task_on_a_not_ready_or_cordoned_node_says_why_and_starts_once_it_can, .fini = teardown)
{
    h_world_sim(&w, "nodes", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    sim("POST", "/_sim/nodes/node-2/notready", "{}");
    sim("POST", "/_sim/nodes/node-3/cordon", "{}");
    char id[64];
    post_pull("{\"image\":\"busybox:1.36\",\"nodes\":[\"node-1\",\"node-2\",\"node-3\"]}", id);
    expect_task(id, "node-1", "succeeded", NULL, NULL);
    expect_task(id, "node-2", "pending", "NodeNotReady",
                "node node-2 is not Ready (NodeStatusUnknown): Kubelet stopped posting node status.");
    expect_task(id, "node-3", "pending", "NodeCordoned", "node node-3 is cordoned");
    /* Kubernetes would run a pinned pod on a cordoned node: nothing of the task is started there. */
    json_t *pods = h_http_json(w.sim.port, "GET", "/api/v1/namespaces/imgpulld/pods", NULL, NULL);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(pods, "items"), i, p)
    {
        const char *node = json_string_value(json_object_get(json_object_get(p, "spec"), "nodeName"));
        cr_expect(strcmp(node, "node-3") != 0, "a pull pod was started on the cordoned node");
    }
    json_decref(pods);
    sim("POST", "/_sim/nodes/node-2/ready", "{}");
    sim("POST", "/_sim/nodes/node-3/uncordon", "{}");
    expect_task(id, "node-2", "succeeded", NULL, NULL);
    expect_task(id, "node-3", "succeeded", NULL, NULL);
}

Test(nodes, a_task_beyond_the_parallelism_says_queued_and_a_node_gone_not_ready_is_named, .fini = teardown)
{
    h_world_sim(&w, "queued", sim_args);
    sim("POST", "/_sim/pull", "{\"pattern\":\"slow-\",\"ms\":60000}");
    h_world_daemon(&w, NULL, NULL, 1);
    char id[64];
    post_pull("{\"image\":\"slow-app:1\",\"nodes\":[\"node-1\",\"node-2\"],\"parallelism\":1}", id);
    expect_task(id, "node-1", "pulling", NULL, NULL);
    expect_task(id, "node-2", "pending", "Queued", "parallelism");
    /* The node of a queued task goes away: its reason says so instead. */
    sim("POST", "/_sim/nodes/node-2/notready", "{}");
    expect_task(id, "node-2", "pending", "NodeNotReady", "node-2 is not Ready");
    sim("DELETE", "/_sim/nodes/node-2", NULL);
    expect_task(id, "node-2", "pending", "NodeNotReady", "node node-2 is not in the cluster");
}

Test(nodes, all_nodes_takes_only_the_nodes_a_pull_pod_can_start_on, .fini = teardown)
{
    h_world_sim(&w, "all", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    sim("POST", "/_sim/nodes/node-2/notready", "{}");
    sim("POST", "/_sim/nodes/node-3/cordon", "{}");
    long st = 0;
    json_t *doc =
        h_http_json(w.port, "POST", "/api/v1/images/pull", "{\"image\":\"busybox:1.36\",\"all_nodes\":true}", &st);
    cr_assert_eq(st, 202);
    json_t *tasks = json_object_get(json_array_get(json_object_get(doc, "jobs"), 0), "tasks");
    cr_assert_eq(json_array_size(tasks), 2, "tasks: %zu", json_array_size(tasks));
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(tasks, 0), "node")), "node-1");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(tasks, 1), "node")), "node-4");
    json_decref(doc);
}
