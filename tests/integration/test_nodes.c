/*
 * Nodes and pull jobs: a pending task says why it waits (NodeNotReady, NodeCordoned, Queued) and
 * starts once its node can take it. The real daemon runs against the Kubernetes simulator, whose
 * nodes behave as Kubernetes' do (tests/kubesim/README.md "Nodes").
 */
#include <criterion/criterion.h>
#include <signal.h>
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

/* POSTs a pull request and returns the id of its (only) job. */
static void post_pull(const char *body, char id[64])
{
    h_post_pull(w.port, body, id, 64);
}

typedef struct task_want {
    const char *id, *node, *state, *reason, *message_part;
    char seen[512];
} task_want_t;

static int task_is(void *ctx)
{
    task_want_t *want = ctx;
    json_t *job = h_get_job(w.port, want->id, NULL);
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
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-2/notready", "{}");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-3/cordon", "{}");
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
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-2/ready", "{}");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-3/uncordon", "{}");
    expect_task(id, "node-2", "succeeded", NULL, NULL);
    expect_task(id, "node-3", "succeeded", NULL, NULL);
}

Test(nodes, a_task_beyond_the_parallelism_says_queued_and_a_node_gone_not_ready_is_named, .fini = teardown)
{
    h_world_sim(&w, "queued", sim_args);
    h_sim_ok(w.sim.port, "POST", "/_sim/pull", "{\"pattern\":\"slow-\",\"ms\":60000}");
    h_world_daemon(&w, NULL, NULL, 1);
    char id[64];
    post_pull("{\"image\":\"slow-app:1\",\"nodes\":[\"node-1\",\"node-2\"],\"parallelism\":1}", id);
    expect_task(id, "node-1", "pulling", NULL, NULL);
    expect_task(id, "node-2", "pending", "Queued", "parallelism");
    /* The node of a queued task goes away: its reason says so instead. */
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-2/notready", "{}");
    expect_task(id, "node-2", "pending", "NodeNotReady", "node-2 is not Ready");
    /* Deleted, it is gone for good: the task is given up (a_task_whose_node_is_deleted_...). */
    h_sim_ok(w.sim.port, "DELETE", "/_sim/nodes/node-2", NULL);
    expect_task(id, "node-2", "failed", "NodeDeleted", "node node-2 was deleted from the cluster");
}

/*
 * A node deleted during a pull is gone for good: Kubernetes' pod garbage collector would fail
 * its pull pod and every replacement, each after a minute (pkg/controller/podgc/gc_controller.go,
 * 20 s sweeps, 40 s quarantine), until the Job's backoff limit; the job would show the pull
 * running meanwhile. The daemon gives the task up at once (NodeDeleted, cause node_unavailable)
 * and deletes its Job; the other nodes' tasks go on, and the job ends failed once they end.
 */
Test(nodes, a_task_whose_node_is_deleted_fails_at_once_and_its_job_is_deleted, .fini = teardown)
{
    h_world_sim(&w, "deleted", sim_args);
    h_sim_ok(w.sim.port, "POST", "/_sim/pull", "{\"pattern\":\"slow-\",\"ms\":4000}");
    h_world_daemon(&w, NULL, NULL, 1);
    char id[64], kjob[128];
    post_pull("{\"image\":\"slow-app:1\",\"nodes\":[\"node-1\",\"node-2\"]}", id);
    expect_task(id, "node-1", "pulling", "Pulling", NULL);
    expect_task(id, "node-2", "pulling", "Pulling", NULL);
    h_sim_ok(w.sim.port, "DELETE", "/_sim/nodes/node-2", NULL);
    expect_task(id, "node-2", "failed", "NodeDeleted",
                "node node-2 was deleted from the cluster; the pull there was given up");
    snprintf(kjob, sizeof(kjob), "imgpull-%s-node-2", id);
    cr_assert(h_sim_job_gone(w.sim.port, kjob, 10000), "node-2's Job %s is still there", kjob);
    json_t *job = h_get_job(w.port, id, NULL);
    cr_expect_str_eq(json_string_value(json_object_get(job, "state")), "pulling");
    json_t *t = json_array_get(json_object_get(job, "tasks"), 1);
    cr_expect_str_eq(json_string_value(json_object_get(t, "cause")), "node_unavailable");
    json_decref(job);
    expect_task(id, "node-1", "succeeded", NULL, NULL);
    job = h_get_job(w.port, id, NULL);
    cr_expect_str_eq(json_string_value(json_object_get(job, "state")), "failed");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(job, "error"), "reason")), "NodeDeleted");
    json_decref(job);
}

/*
 * The same while the daemon is stopped: restarted on its table, it lists the Nodes and node-2 is
 * not among them. The job was made when node-2 was in the cluster (a POST names nodes that
 * exist), so it was deleted meanwhile, and its task is given up at once as above. Before, the
 * restarted master had never seen node-2, took it for a node not listed yet, and showed the task
 * pending (NodeNotReady, "not in the cluster") until Kubernetes failed the Job.
 */
Test(nodes, a_task_whose_node_was_deleted_while_the_daemon_was_stopped_fails_at_its_start, .fini = teardown)
{
    h_world_sim(&w, "deleted2", sim_args);
    h_sim_ok(w.sim.port, "POST", "/_sim/pull", "{\"pattern\":\"slow-\",\"ms\":6000}");
    h_world_daemon(&w, NULL, NULL, 1);
    char id[64], kjob[128];
    post_pull("{\"image\":\"slow-app:2\",\"nodes\":[\"node-1\",\"node-2\"]}", id);
    expect_task(id, "node-2", "pulling", "Pulling", NULL);
    cr_assert_eq(h_stop(&w.daemon, SIGTERM, 10000), 0, "the daemon did not stop cleanly");
    h_sim_ok(w.sim.port, "DELETE", "/_sim/nodes/node-2", NULL);
    h_world_daemon(&w, NULL, NULL, 1);
    expect_task(id, "node-2", "failed", "NodeDeleted",
                "node node-2 was deleted from the cluster; the pull there was given up");
    snprintf(kjob, sizeof(kjob), "imgpull-%s-node-2", id);
    cr_expect(h_sim_job_gone(w.sim.port, kjob, 10000), "node-2's Job %s is still there", kjob);
    expect_task(id, "node-1", "succeeded", NULL, NULL);
}

Test(nodes, all_nodes_takes_only_the_nodes_a_pull_pod_can_start_on, .fini = teardown)
{
    h_world_sim(&w, "all", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-2/notready", "{}");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-3/cordon", "{}");
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

/* The nodes of the one job a POST creates, in order, comma-separated; the status is returned. */
static long post_nodes(const char *body, char *nodes, size_t cap, char *message, size_t mcap)
{
    long st = 0;
    json_t *doc = h_http_json(w.port, "POST", "/api/v1/images/pull", body, &st);
    nodes[0] = message[0] = '\0';
    json_t *tasks = json_object_get(json_array_get(json_object_get(doc, "jobs"), 0), "tasks");
    size_t i, used = 0;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        used += (size_t)snprintf(nodes + used, cap - used, "%s%s", i ? "," : "",
                                 json_string_value(json_object_get(t, "node")));
    }
    const char *m = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
    snprintf(message, mcap, "%s", m ? m : "");
    json_decref(doc);
    return st;
}

Test(nodes, node_selector_takes_match_labels_and_match_expressions, .fini = teardown)
{
    h_world_sim(&w, "sel", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-1/labels", "{\"labels\":{\"pool\":\"gpu\",\"zone\":\"a\"}}");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-2/labels", "{\"labels\":{\"pool\":\"gpu\",\"zone\":\"b\"}}");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-3/labels", "{\"labels\":{\"pool\":\"cpu\",\"zone\":\"a\"}}");
    static const struct {
        const char *selector, *nodes;
    } cases[] = {
        {"{\"pool\":\"gpu\"}", "node-1,node-2"},
        {"{\"matchLabels\":{\"pool\":\"gpu\"},\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"NotIn\","
         "\"values\":[\"b\"]}]}",
         "node-1"},
        {"{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]}]}",
         "node-1,node-2,node-3"},
        {"{\"matchExpressions\":[{\"key\":\"pool\",\"operator\":\"DoesNotExist\"}]}", "node-4"},
        {"{\"matchExpressions\":[{\"key\":\"pool\",\"operator\":\"Exists\"},{\"key\":\"pool\",\"operator\":\"NotIn\","
         "\"values\":[\"gpu\"]}]}",
         "node-3"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[512], nodes[256], message[512];
        snprintf(body, sizeof(body), "{\"image\":\"busybox:1.36\",\"node_selector\":%s}", cases[i].selector);
        cr_assert_eq(post_nodes(body, nodes, sizeof(nodes), message, sizeof(message)), 202, "%s: %s", body, message);
        cr_expect_str_eq(nodes, cases[i].nodes, "%s", cases[i].selector);
    }
    char nodes[256], message[512];
    cr_assert_eq(post_nodes("{\"image\":\"busybox:1.36\",\"node_selector\":{\"matchExpressions\":[{\"key\":\"pool\","
                            "\"operator\":\"Exists\",\"values\":[\"gpu\"]}]}}",
                            nodes, sizeof(nodes), message, sizeof(message)),
                 400);
    cr_expect_str_eq(message, "node_selector.matchExpressions[0].values: Forbidden: may not be specified when "
                              "`operator` is 'Exists' or 'DoesNotExist'");
    cr_assert_eq(post_nodes("{\"image\":\"busybox:1.36\",\"node_selector\":{\"matchExpressions\":[{\"key\":\"pool\","
                            "\"operator\":\"In\",\"values\":[\"none\"]}]}}",
                            nodes, sizeof(nodes), message, sizeof(message)),
                 400);
    cr_expect(strstr(message, "node_selector pool in (none) matches no node") != NULL, "%s", message);
}

Test(nodes, pod_selector_pulls_the_images_the_matching_pods_run, .fini = teardown)
{
    h_world_sim(&w, "pods", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    /* Two replicas of web (an init container, the app, a sidecar) and a pod of another app. */
    for (int i = 0; i < 2; i++) {
        char pod[512];
        snprintf(pod, sizeof(pod),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-%d\",\"labels\":{\"app\":"
                 "\"web\",\"tier\":\"front\"}},\"spec\":{\"restartPolicy\":\"Never\",\"initContainers\":[{\"name\":"
                 "\"init\",\"image\":\"shop/migrate:3\"}],\"containers\":[{\"name\":\"app\",\"image\":\"shop/web:2\"},"
                 "{\"name\":\"proxy\",\"image\":\"envoyproxy/envoy:v1.31\"}]}}",
                 i);
        h_sim_ok(w.sim.port, "POST", "/api/v1/namespaces/default/pods", pod);
    }
    h_sim_ok(w.sim.port, "POST", "/api/v1/namespaces/default/pods",
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"db-0\",\"labels\":{\"app\":\"db\"}},"
             "\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"db\",\"image\":\"postgres:16\"}]}}");
    long st = 0;
    json_t *doc = h_http_json(w.port, "POST", "/api/v1/images/pull",
                              "{\"pod_selector\":{\"namespace\":\"default\",\"matchExpressions\":[{\"key\":\"app\","
                              "\"operator\":\"In\",\"values\":[\"web\"]}]},\"nodes\":[\"node-1\",\"node-2\"]}",
                              &st);
    cr_assert_eq(st, 202);
    json_t *jobs = json_object_get(doc, "jobs");
    cr_assert_eq(json_array_size(jobs), 3, "jobs: %zu", json_array_size(jobs));
    const char *want[] = {"shop/migrate:3", "shop/web:2", "envoyproxy/envoy:v1.31"};
    for (size_t i = 0; i < 3; i++) {
        json_t *job = json_array_get(jobs, i);
        cr_expect_str_eq(json_string_value(json_object_get(job, "image")), want[i]);
        cr_expect_eq(json_array_size(json_object_get(job, "tasks")), 2);
        expect_task(json_string_value(json_object_get(job, "id")), "node-2", "succeeded", NULL, NULL);
    }
    json_decref(doc);
    /* Without a node choice, every node; a selector that matches no pod is 400. */
    doc = h_http_json(w.port, "POST", "/api/v1/images/pull",
                      "{\"pod_selector\":{\"namespace\":\"default\",\"app\":\"db\"}}", &st);
    cr_assert_eq(st, 202);
    cr_expect_eq(json_array_size(json_object_get(json_array_get(json_object_get(doc, "jobs"), 0), "tasks")), 4);
    json_decref(doc);
    doc = h_http_json(w.port, "POST", "/api/v1/images/pull",
                      "{\"pod_selector\":{\"namespace\":\"default\",\"app\":\"none\"}}", &st);
    cr_assert_eq(st, 400);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(doc, "error"), "message")),
                     "pod_selector app=none matches no pod in namespace default");
    json_decref(doc);
}

Test(nodes, a_taint_the_pull_pod_does_not_tolerate_holds_its_task_unschedulable, .fini = teardown)
{
    h_world_sim(&w, "taint", sim_args);
    /* The pull pods tolerate the gpu taint only (shared/config_table.h pull_toleration). */
    h_world_daemon(&w, "pull_toleration gpu:NoSchedule\n", NULL, 1);
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-1/taints",
             "{\"taints\":[{\"key\":\"node-role.kubernetes.io/control-plane\",\"effect\":\"NoSchedule\"}]}");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-2/taints",
             "{\"taints\":[{\"key\":\"gpu\",\"value\":\"a100\",\"effect\":\"NoSchedule\"}]}");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-3/taints",
             "{\"taints\":[{\"key\":\"spot\",\"effect\":\"PreferNoSchedule\"}]}");
    char id[64];
    post_pull("{\"image\":\"busybox:1.36\",\"nodes\":[\"node-1\",\"node-2\",\"node-3\"]}", id);
    expect_task(id, "node-1", "pending", "Unschedulable",
                "node node-1 has the taint node-role.kubernetes.io/control-plane:NoSchedule, which the pull pod does "
                "not tolerate");
    expect_task(id, "node-2", "succeeded", NULL, NULL);
    expect_task(id, "node-3", "succeeded", NULL, NULL);
    /* all_nodes leaves the control-plane node out. */
    long st = 0;
    json_t *doc =
        h_http_json(w.port, "POST", "/api/v1/images/pull", "{\"image\":\"busybox:1.36\",\"all_nodes\":true}", &st);
    cr_assert_eq(st, 202);
    cr_expect_eq(json_array_size(json_object_get(json_array_get(json_object_get(doc, "jobs"), 0), "tasks")), 3);
    json_decref(doc);
    /* The taint goes: the held task pulls. */
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-1/taints", "{\"taints\":[]}");
    expect_task(id, "node-1", "succeeded", NULL, NULL);
}
