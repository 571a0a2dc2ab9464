/*
 * Keep jobs ("keep": true): the node set follows the cluster's nodes (joining, relabelled,
 * leaving, cordoned and uncordoned), refresh_seconds pulls again, a restarted master rebuilds
 * the job from the cluster and the table, and DELETE ends it. The real daemon runs against the
 * Kubernetes simulator.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static const char *const sim_args[] = {"--nodes", "3", "--pull-ms", "100", NULL};

static h_world_t w;

static void teardown(void)
{
    if (w.daemon.pid > 0 || w.sim.pid > 0)
        h_world_stop(&w);
}

static void post_keep(const char *body, char id[64])
{
    h_post_pull(w.port, body, id, 64);
}

/* What the job looks like: "state desired node:state[:reason] ...", tasks in node order. */
typedef struct job_want {
    const char *id, *want;
    char seen[1024];
} job_want_t;

static void describe(const char *id, char *out, size_t cap)
{
    json_t *job = h_get_job(w.port, id, NULL);
    size_t used =
        (size_t)snprintf(out, cap, "%s %lld", json_string_value(json_object_get(job, "state")) ?: "?",
                         (long long)json_integer_value(json_object_get(json_object_get(job, "nodes"), "desired")));
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(job, "tasks"), i, t)
    {
        const char *reason = json_string_value(json_object_get(t, "reason"));
        const char *state = json_string_value(json_object_get(t, "state"));
        int pending = strcmp(state, "pending") == 0;
        used += (size_t)snprintf(out + used, cap - used, " %s:%s%s%s", json_string_value(json_object_get(t, "node")),
                                 state, pending && reason ? ":" : "", pending && reason ? reason : "");
        if (used >= cap)
            break;
    }
    json_decref(job);
}

static int job_is(void *ctx)
{
    job_want_t *want = ctx;
    describe(want->id, want->seen, sizeof(want->seen));
    return strcmp(want->seen, want->want) == 0;
}

static void expect_job(const char *id, const char *want)
{
    job_want_t jw = {id, want, ""};
    cr_assert(h_wait(job_is, &jw, 20000), "job %s: want \"%s\", last seen \"%s\"", id, want, jw.seen);
}

/* Kubernetes Jobs of pull job `id` in the simulator: its tasks' (anchor 0) or its anchor Job (anchor 1). */
static size_t kube_jobs_of(const char *id, int anchor)
{
    char path[256];
    snprintf(
        path, sizeof(path),
        "/apis/batch/v1/namespaces/imgpulld/jobs?labelSelector=imgpulld.io%%2Fjob%%3D%s%%2C%simgpulld.io%%2Fanchor", id,
        anchor ? "" : "%21");
    json_t *list = h_http_json(w.sim.port, "GET", path, NULL, NULL);
    size_t n = json_array_size(json_object_get(list, "items"));
    json_decref(list);
    return n;
}

static size_t kube_jobs(const char *id)
{
    return kube_jobs_of(id, 0);
}

/* Starts the simulator and a daemon, and puts node-1 in the pool "warm". */
#define start_warm(tag) start_warm_at(IPD_AT, tag)
static void start_warm_at(const char *file, int line, const char *tag)
{
    h_world_sim(&w, tag, sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    h_sim_ok_at(file, line, w.sim.port, "POST", "/_sim/nodes/node-1/labels", "{\"labels\":{\"pool\":\"warm\"}}");
}

/* The table kept no final state over another (legitimate changes only: shared/table_final.c). */
static void expect_no_final_refusal(void)
{
    h_resp_t r;
    cr_assert_eq(h_http(w.port, "GET", "/metrics", NULL, NULL, &r), 0);
    cr_expect(strstr(r.body, "\nimgpulld_master_final_overwrites_refused_total 0\n") != NULL,
              "the table refused a final-state change");
    h_resp_free(&r);
}

Test(keep, the_node_set_follows_nodes_that_join_change_labels_leave_and_are_uncordoned, .fini = teardown)
{
    start_warm("keep");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-2/labels", "{\"labels\":{\"pool\":\"warm\"}}");
    char id[64];
    post_keep("{\"image\":\"busybox:1.36\",\"node_selector\":{\"pool\":\"warm\"},\"keep\":true}", id);
    expect_job(id, "keeping 2 node-1:succeeded node-2:succeeded");
    /* A node joins with the label; another gets it. */
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes", "{\"name\":\"node-4\",\"labels\":{\"pool\":\"warm\"}}");
    expect_job(id, "keeping 3 node-1:succeeded node-2:succeeded node-4:succeeded");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-3/labels", "{\"labels\":{\"pool\":\"warm\"}}");
    expect_job(id, "keeping 4 node-1:succeeded node-2:succeeded node-3:succeeded node-4:succeeded");
    /* One loses the label, one leaves the cluster: their tasks and Kubernetes Jobs go. */
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-1/labels", "{\"labels\":{\"pool\":\"cold\"}}");
    h_sim_ok(w.sim.port, "DELETE", "/_sim/nodes/node-4", NULL);
    expect_job(id, "keeping 2 node-2:succeeded node-3:succeeded");
    cr_expect_eq(kube_jobs(id), 2);
    /* A cordoned node joins: it waits, and pulls once uncordoned. */
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes",
             "{\"name\":\"node-5\",\"labels\":{\"pool\":\"warm\"},\"cordoned\":true}");
    expect_job(id, "keeping 3 node-2:succeeded node-3:succeeded node-5:pending:NodeCordoned");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-5/uncordon", "{}");
    expect_job(id, "keeping 3 node-2:succeeded node-3:succeeded node-5:succeeded");
    /* DELETE ends it. */
    h_expect_cancel(w.port, id);
    cr_expect_eq(kube_jobs(id), 0);
    cr_expect_eq(kube_jobs_of(id, 1), 0, "the anchor Job");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes", "{\"name\":\"node-6\",\"labels\":{\"pool\":\"warm\"}}");
    char seen[1024];
    describe(id, seen, sizeof(seen));
    cr_expect(strncmp(seen, "cancelled 3 ", 12) == 0, "%s", seen);
    cr_expect_eq(kube_jobs(id), 0, "a cancelled keep job creates nothing");
    expect_no_final_refusal();
}

/* The pod name of the job's task on `node`. */
static void task_pod(const char *id, const char *node, char *out, size_t cap)
{
    json_t *job = h_get_job(w.port, id, NULL);
    size_t i;
    json_t *t;
    out[0] = '\0';
    json_array_foreach(json_object_get(job, "tasks"), i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "node")), node) == 0)
            snprintf(out, cap, "%s", json_string_value(json_object_get(t, "pod")) ?: "");
    }
    json_decref(job);
}

typedef struct repull {
    const char *id;
    char first_pod[256];
} repull_t;

static int pulled_again(void *ctx)
{
    repull_t *r = ctx;
    char pod[256], seen[1024];
    task_pod(r->id, "node-1", pod, sizeof(pod));
    describe(r->id, seen, sizeof(seen));
    return pod[0] != '\0' && strcmp(pod, r->first_pod) != 0 && strstr(seen, "node-1:succeeded") != NULL;
}

Test(keep, refresh_seconds_pulls_again_on_each_node, .fini = teardown)
{
    start_warm("refresh");
    char id[64];
    post_keep("{\"image\":\"busybox:latest\",\"pull_policy\":\"Always\",\"node_selector\":{\"pool\":\"warm\"},"
              "\"keep\":true,\"refresh_seconds\":10}",
              id);
    expect_job(id, "keeping 1 node-1:succeeded");
    repull_t r = {id, ""};
    task_pod(id, "node-1", r.first_pod, sizeof(r.first_pod));
    cr_assert(r.first_pod[0] != '\0');
    cr_assert(h_wait(pulled_again, &r, 30000), "no second pull on node-1 within 30 s");
    /* The simulator saw two pulls on node-1. */
    json_t *events = h_http_json(w.sim.port, "GET", "/api/v1/namespaces/imgpulld/events", NULL, NULL);
    size_t i, pulls = 0;
    json_t *e;
    json_array_foreach(json_object_get(events, "items"), i, e)
    {
        pulls += strcmp(json_string_value(json_object_get(e, "reason")) ?: "", "Pulling") == 0;
    }
    json_decref(events);
    cr_expect_geq(pulls, 2, "Pulling events: %zu", pulls);
    expect_no_final_refusal();
}

Test(keep, a_restarted_master_rebuilds_keep_jobs_from_the_cluster_and_the_table, .fini = teardown)
{
    start_warm("restart");
    char id[64];
    post_keep("{\"image\":\"busybox:1.36\",\"node_selector\":{\"matchExpressions\":[{\"key\":\"pool\",\"operator\":"
              "\"In\",\"values\":[\"warm\"]}]},\"keep\":true}",
              id);
    expect_job(id, "keeping 1 node-1:succeeded");
    /* Stopped: a node joins meanwhile. Restarted on the same table, the job follows on. */
    h_stop(&w.daemon, SIGTERM, 10000);
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes", "{\"name\":\"node-4\",\"labels\":{\"pool\":\"warm\"}}");
    h_world_daemon(&w, NULL, NULL, 1);
    expect_job(id, "keeping 2 node-1:succeeded node-4:succeeded");
    /* Stopped again and the table removed: the Jobs' annotations alone bring it back. */
    h_stop(&w.daemon, SIGTERM, 10000);
    h_unlink_instance(w.instance);
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-2/labels", "{\"labels\":{\"pool\":\"warm\"}}");
    h_world_daemon(&w, NULL, NULL, 1);
    expect_job(id, "keeping 3 node-1:succeeded node-2:succeeded node-4:succeeded");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-4/labels", "{\"labels\":{\"pool\":null}}");
    expect_job(id, "keeping 2 node-1:succeeded node-2:succeeded");
    expect_no_final_refusal();
}

Test(keep, a_keep_job_without_a_matching_node_waits_survives_a_restart_and_is_cancelled, .fini = teardown)
{
    h_world_sim(&w, "nonode", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    char id[64];
    /* No node is in the pool yet: the job waits for one, recorded by its anchor Job alone. */
    post_keep("{\"image\":\"busybox:1.36\",\"node_selector\":{\"pool\":\"gpu\"},\"keep\":true}", id);
    expect_job(id, "keeping 0");
    cr_expect_eq(kube_jobs(id), 0);
    cr_expect_eq(kube_jobs_of(id, 1), 1, "the anchor Job");
    /* A restart on a removed table rebuilds it from the anchor Job. */
    h_stop(&w.daemon, SIGTERM, 10000);
    h_unlink_instance(w.instance);
    h_world_daemon(&w, NULL, NULL, 1);
    expect_job(id, "keeping 0");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes", "{\"name\":\"node-9\",\"labels\":{\"pool\":\"gpu\"}}");
    expect_job(id, "keeping 1 node-9:succeeded");
    h_sim_ok(w.sim.port, "DELETE", "/_sim/nodes/node-9", NULL);
    expect_job(id, "keeping 0");
    /* No task Job is left; DELETE still ends the job, and deletes its anchor. */
    h_expect_cancel(w.port, id);
    cr_expect_eq(kube_jobs(id), 0);
    cr_expect_eq(kube_jobs_of(id, 1), 0, "the anchor Job");
}

Test(keep, a_node_back_before_its_old_jobs_deletion_is_seen_pulls_again, .fini = teardown)
{
    start_warm("rejoin");
    char id[64];
    post_keep("{\"image\":\"busybox:1.36\",\"node_selector\":{\"pool\":\"warm\"},\"keep\":true}", id);
    expect_job(id, "keeping 1 node-1:succeeded");
    repull_t r = {id, ""};
    task_pod(id, "node-1", r.first_pod, sizeof(r.first_pod));
    /* The deletion of node-1's Job is held back 3 s (429, Retry-After 3); meanwhile node-1 is back. */
    char rule[256];
    snprintf(rule, sizeof(rule),
             "{\"count\":1,\"code\":429,\"method\":\"DELETE\",\"path\":\"jobs/imgpull-%s-node-1\",\"retry_after\":3}",
             id);
    h_sim_ok(w.sim.port, "POST", "/_sim/inject", rule);
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-1/labels", "{\"labels\":{\"pool\":null}}");
    cr_assert(h_wait(h_sim_injections_used, &w.sim.port, 10000), "the master did not delete node-1's Job");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-1/labels", "{\"labels\":{\"pool\":\"warm\"}}");
    /* Once the old Job is gone, a new one pulls on node-1 at once, not at a refresh (there is none). */
    cr_assert(h_wait(pulled_again, &r, 30000), "node-1 did not pull again");
    cr_expect_eq(kube_jobs(id), 1, "node-1's new Job");
    expect_job(id, "keeping 1 node-1:succeeded");
}

/* The id of the one job of `image` in state `state`, "" until there is exactly one. */
typedef struct image_job {
    const char *image, *state;
    char id[64];
} image_job_t;

static int image_job_is(void *ctx)
{
    image_job_t *ij = ctx;
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs?image=%s&state=%s", ij->image, ij->state);
    json_t *list = h_http_json(w.port, "GET", path, NULL, NULL);
    json_t *jobs = json_object_get(list, "jobs");
    ij->id[0] = '\0';
    if (json_array_size(jobs) == 1)
        snprintf(ij->id, sizeof(ij->id), "%s", json_string_value(json_object_get(json_array_get(jobs, 0), "id")));
    json_decref(list);
    return ij->id[0] != '\0';
}

/*
 * A reload that changes a Kubernetes setting replaces the client while a list of the followed
 * pods is on its way (the simulator holds it 8 s): the list goes with the client, without an
 * answer. The daemon follows on with the new client. Before, it counted that list as on its way
 * for ever and never listed the pods again: a new image of theirs got no keep job.
 */
Test(keep, a_reload_while_the_followed_pods_are_listed_does_not_stop_the_following, .fini = teardown)
{
    h_world_sim(&w, "folreload", sim_args);
    h_world_daemon(&w, "keep_pod_poll 1s\n", NULL, 1);
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-1/labels", "{\"labels\":{\"pool\":\"web\"}}");
    h_sim_web_pod(w.sim.port, "web-a", "shop/web:2");
    char id[64];
    post_keep("{\"pod_selector\":{\"namespace\":\"default\",\"matchLabels\":{\"app\":\"web\"}},"
              "\"node_selector\":{\"pool\":\"web\"},\"keep\":true}",
              id);
    expect_job(id, "keeping 1 node-1:succeeded");
    h_sim_ok(w.sim.port, "POST", "/_sim/inject",
             "{\"count\":1,\"method\":\"GET\",\"path\":\"namespaces/default/pods\",\"delay_ms\":8000}");
    cr_assert(h_wait(h_sim_injections_used, &w.sim.port, 5000), "the master did not list the followed pods");
    char line[sizeof(w.dir) + 32];
    snprintf(line, sizeof(line), "%s/token", w.dir);
    FILE *f = fopen(line, "w");
    cr_assert_not_null(f);
    fputs("a-token\n", f);
    fclose(f);
    char extra[sizeof(line) + 64];
    snprintf(extra, sizeof(extra), "keep_pod_poll 1s\nkube_token_file %s\n", line);
    h_world_write_conf(&w, extra);
    kill(w.daemon.pid, SIGHUP);
    cr_assert(h_log_wait(&w.daemon, "Kubernetes settings changed", 10000), "the reload did not replace the client");
    h_sim_web_pod(w.sim.port, "web-b", "shop/web:3");
    image_job_t next = {"shop/web:3", "keeping", ""};
    cr_assert(h_wait(image_job_is, &next, 6000), "no keep job for shop/web:3 within 6 s of the reload");
}

Test(keep, a_pod_selector_keep_job_follows_the_pods_to_their_new_image, .fini = teardown)
{
    h_world_sim(&w, "follow", sim_args);
    h_world_daemon(&w, "keep_pod_poll 1s\n", NULL, 1);
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-1/labels", "{\"labels\":{\"pool\":\"web\"}}");
    h_sim_ok(w.sim.port, "POST", "/_sim/nodes/node-2/labels", "{\"labels\":{\"pool\":\"web\"}}");
    h_sim_web_pod(w.sim.port, "web-a", "shop/web:2");
    char id[64];
    post_keep("{\"pod_selector\":{\"namespace\":\"default\",\"matchLabels\":{\"app\":\"web\"}},"
              "\"node_selector\":{\"pool\":\"web\"},\"keep\":true}",
              id);
    expect_job(id, "keeping 2 node-1:succeeded node-2:succeeded");
    json_t *job = h_get_job(w.port, id, NULL);
    json_t *ps = json_object_get(job, "pod_selector");
    cr_expect_str_eq(json_string_value(json_object_get(ps, "namespace")) ?: "", "default", "the record's pod_selector");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(ps, "matchLabels"), "app")) ?: "", "web");
    json_decref(job);
    /* A rollout: a pod of the new tag comes, then the old pod goes. */
    h_sim_web_pod(w.sim.port, "web-b", "shop/web:3");
    image_job_t next = {"shop/web:3", "keeping", ""};
    cr_assert(h_wait(image_job_is, &next, 20000), "no keep job for shop/web:3");
    expect_job(next.id, "keeping 2 node-1:succeeded node-2:succeeded");
    expect_job(id, "keeping 2 node-1:succeeded node-2:succeeded");
    h_sim_ok(w.sim.port, "DELETE", "/api/v1/namespaces/default/pods/web-a", NULL);
    h_expect_job_state(w.port, id, "cancelled", 20000);
    cr_expect_eq(kube_jobs_of(id, 1), 0, "the old image's anchor Job");
    /* The new job carries the selection, so a restarted master follows on; scaled to zero changes nothing. */
    h_sim_ok(w.sim.port, "DELETE", "/api/v1/namespaces/default/pods/web-b", NULL);
    h_stop(&w.daemon, SIGTERM, 10000);
    h_world_daemon(&w, "keep_pod_poll 1s\n", NULL, 1);
    h_sim_web_pod(w.sim.port, "web-c", "shop/web:4");
    image_job_t last = {"shop/web:4", "keeping", ""};
    cr_assert(h_wait(image_job_is, &last, 20000), "no keep job for shop/web:4 after a restart");
    expect_job(last.id, "keeping 2 node-1:succeeded node-2:succeeded");
    h_expect_job_state(w.port, next.id, "cancelled", 20000);
}
