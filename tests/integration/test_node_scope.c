/*
 * Node scope without Redis: a daemon watches its own node's pull pods and the Events of those
 * pods only, every node's imgpulld Jobs, and computes a job over all its nodes.
 *
 * Events are selected per pod with involvedObject.name: the selectable fields of core/v1 Events
 * are listed in kubernetes/kubernetes pkg/registry/core/event/strategy.go (ToSelectableFields:
 * involvedObject.{kind,namespace,name,uid,apiVersion,resourceVersion,fieldPath}, reason,
 * reportingComponent, source, type); there is no node or host field, so a pod's name is the
 * finest selection. The simulator refuses any other field with 400, as the apiserver does.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static h_world_t w;

static void fini(void)
{
    h_world_stop(&w);
}

TestSuite(node_scope, .fini = fini);

static void sim_post(const char *path, const char *body)
{
    h_resp_t r;
    cr_assert_eq(h_http(w.sim.port, "POST", path, body, NULL, &r), 0, "%s", path);
    cr_assert_eq(r.status, 200, "%s: %ld %s", path, r.status, r.body);
    h_resp_free(&r);
}

static json_t *task_of(json_t *job, const char *node)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(job, "tasks"), i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "node")), node) == 0)
            return t;
    }
    return NULL;
}

static const char *str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static int count(json_t *job, const char *key)
{
    return (int)json_integer_value(json_object_get(json_object_get(job, "nodes"), key));
}

typedef struct wait_task {
    const char *id, *node, *state;
} wait_task_t;

static int task_in_state(void *ctx)
{
    wait_task_t *wt = ctx;
    json_t *job = h_expect_job(w.port, wt->id);
    json_t *t = task_of(job, wt->node);
    int ok = t != NULL && strcmp(str(t, "state"), wt->state) == 0;
    json_decref(job);
    return ok;
}

Test(node_scope, a_job_is_never_final_while_another_node_is_pending_and_events_are_per_pod, .timeout = 120)
{
    const char *sim_args[] = {"--nodes", "2", "--pull-ms", "200", NULL};
    h_world_sim(&w, "nodescope", sim_args);
    /* Pods exit 0 after the pull, so that a Job completes without its node's daemon. */
    sim_post("/_sim/outcome", "{\"pattern\": \"nginx\", \"outcome\": \"Run\", \"run_ms\": 100, \"exit_code\": 0}");
    sim_post("/_sim/nodes/node-2/notready", "{}");
    h_world_daemon(&w, "scope node\nnode_name node-1\nworkers 1\n", NULL, 1);

    long status = 0;
    json_t *doc = h_http_json(w.port, "POST", "/api/v1/images/pull",
                              "{\"image\": \"nginx:1.27\", \"nodes\": [\"node-1\", \"node-2\"]}", &status);
    cr_assert(doc != NULL && status == 202, "POST pull: %ld", status);
    char id[64];
    snprintf(id, sizeof(id), "%s", str(json_array_get(json_object_get(doc, "jobs"), 0), "id"));
    json_decref(doc);

    wait_task_t own = {id, "node-1", "succeeded"};
    cr_assert(h_wait(task_in_state, &own, 30000), "node-1's task did not succeed");
    /* Node-1 is done, node-2 has not started: the job is not, now or a little later. */
    for (int round = 0; round < 2; round++) {
        json_t *job = h_expect_job(w.port, id);
        char *text = json_dumps(job, JSON_COMPACT);
        cr_expect_str_neq(str(job, "state"), "succeeded", "%s", text);
        cr_expect_eq(count(job, "desired"), 2, "%s", text);
        cr_expect_eq(count(job, "succeeded"), 1, "%s", text);
        /* Node-2's Job has a pod (Pending on a NotReady node): the Job says "active". */
        cr_expect_eq(count(job, "pending") + count(job, "pulling"), 1, "%s", text);
        json_t *t1 = task_of(job, "node-1"), *t2 = task_of(job, "node-2");
        cr_assert(t1 != NULL && t2 != NULL, "both tasks are listed: %s", text);
        cr_expect(strcmp(str(t2, "state"), "pending") == 0 || strcmp(str(t2, "state"), "pulling") == 0, "%s", text);
        /* The own node's task carries the kubelet's figures (from the per-pod Events). */
        cr_expect_gt(json_integer_value(json_object_get(t1, "pull_ms")), 0, "%s", text);
        cr_expect_gt(json_integer_value(json_object_get(t1, "image_bytes")), 0, "%s", text);
        free(text);
        json_decref(job);
        usleep(1000 * 1000);
    }

    /*
     * Node-2's Job was created suspended (its node was not ready) and only node-2's daemon
     * resumes it; there is none here, so the test does what it would. Then the Job runs and
     * completes: node-1's daemon shows what the Job says.
     */
    char path[256];
    snprintf(path, sizeof(path),
             "/apis/batch/v1/namespaces/imgpulld/jobs?labelSelector=imgpulld.io/job%%3D%s,imgpulld.io/node%%3Dnode-2",
             id);
    json_t *list = h_http_json(w.sim.port, "GET", path, NULL, &status);
    const char *name = json_string_value(
        json_object_get(json_object_get(json_array_get(json_object_get(list, "items"), 0), "metadata"), "name"));
    cr_assert(name != NULL, "node-2's Job is missing");
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/imgpulld/jobs/%s", name);
    json_decref(list);
    const char *patch_headers[] = {"Content-Type: application/merge-patch+json", NULL};
    h_resp_t pr;
    cr_assert_eq(h_http(w.sim.port, "PATCH", path, "{\"spec\":{\"suspend\":false}}", patch_headers, &pr), 0);
    cr_assert_eq(pr.status, 200, "PATCH %s: %ld %s", path, pr.status, pr.body);
    h_resp_free(&pr);
    sim_post("/_sim/nodes/node-2/ready", "{}");
    wait_task_t other = {id, "node-2", "succeeded"};
    cr_assert(h_wait(task_in_state, &other, 30000), "node-2's task did not follow its Job");
    json_t *job = h_expect_job(w.port, id);
    char *text = json_dumps(job, JSON_COMPACT);
    cr_expect_str_eq(str(job, "state"), "succeeded", "%s", text);
    cr_expect_eq(count(job, "succeeded"), 2, "%s", text);
    json_t *t2 = task_of(job, "node-2");
    cr_expect_str_eq(str(t2, "reason"), "", "another node's task has no reason: %s", text);
    cr_expect(json_is_null(json_object_get(t2, "pull_ms")), "nor figures: %s", text);
    free(text);
    json_decref(job);

    /* Events were listed and watched per pod of node-1, never namespace-wide. */
    json_t *log = h_http_json(w.sim.port, "GET", "/_sim/requests", NULL, &status);
    cr_assert(log != NULL && status == 200);
    size_t i, per_pod = 0;
    json_t *r;
    json_array_foreach(json_object_get(log, "recent"), i, r)
    {
        if (strstr(str(r, "path"), "/events") == NULL)
            continue;
        const char *q = str(r, "query");
        cr_expect(strstr(q, "involvedObject.name") != NULL, "an Events request not scoped to a pod: %s?%s",
                  str(r, "path"), q);
        cr_expect(strstr(q, "node-2") == NULL, "an Events request for node-2's pod: %s", q);
        per_pod++;
    }
    cr_expect_gt(per_pod, 0, "no Events request at all");
    json_decref(log);
}
