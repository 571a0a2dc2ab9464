/*
 * Root causes end to end: for each cause class the simulator fails a pull the way a real node
 * does (tests/kubesim/sim/causes.py has the wordings and where they come from: kubelet
 * pkg/kubelet/images/image_manager.go, containerd core/remotes/docker, the eviction manager),
 * or the Job controller ends it (activeDeadlineSeconds), or a client cancels it. The failed
 * task and the job's error must carry the class and the registry's own words; ?cause= filters
 * the list and imgpulld_task_failures_total{cause} counts each failed task once.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static h_world_t w;

static void fini(void)
{
    h_world_stop(&w);
}

TestSuite(causes, .fini = fini);

typedef struct kase {
    const char *cause; /* the class the task must get */
    const char *image; /* what the job pulls */
    const char *words; /* in the task's last_failure.message and the job's error.message; NULL: none */
    const char *state; /* the job's final state */
    const char *extra; /* more request fields */
    char id[64];
} kase_t;

static kase_t cases[] = {
    {"auth", "causes.example/auth:1", "401 Unauthorized", "failed", "", ""},
    {"not_found", "causes.example/not_found:1", "causes.example/not_found:1: not found", "failed", "", ""},
    {"network", "causes.example/network:1", "no such host", "failed", "", ""},
    {"tls", "causes.example/tls:1", "x509: certificate signed by unknown authority", "failed", "", ""},
    {"rate_limited", "causes.example/rate_limited:1", "toomanyrequests", "failed", "", ""},
    {"timeout", "causes.example/timeout:1", "i/o timeout", "failed", "", ""},
    {"invalid_reference", "causes.example/invalid_reference:1", "invalid reference format", "failed", "", ""},
    {"node_unavailable", "causes.example/node_unavailable:1", "The node was low on resource", "failed", "", ""},
    {"cancelled", "causes.example/cancelled:1", "context canceled", "failed", "", ""},
    {"unknown", "causes.example/unknown:1", "no space left on device", "failed", "", ""},
    {"deadline", "causes.example/slow-deadline:1", NULL, "failed", ", \"deadline_seconds\": 1", ""},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void sim_post(const char *path, const char *body)
{
    h_resp_t r;
    const char *headers[] = {"Content-Type: application/json", NULL};
    cr_assert_eq(h_http(w.sim.port, "POST", path, body, headers, &r), 0, "%s", path);
    cr_assert_eq(r.status, 200, "%s: %ld %s", path, r.status, r.body);
    h_resp_free(&r);
}

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static void create(const char *image, const char *extra, char *id, size_t cap)
{
    char body[512];
    long status = 0;
    snprintf(body, sizeof(body), "{\"image\": \"%s\", \"nodes\": [\"node-1\"], \"backoff_limit\": 1%s}", image, extra);
    json_t *doc = h_http_json(w.port, "POST", "/api/v1/images/pull", body, &status);
    cr_assert(doc != NULL && status == 202, "POST %s: %ld", body, status);
    snprintf(id, cap, "%s", str(json_array_get(json_object_get(doc, "jobs"), 0), "id"));
    json_decref(doc);
}

static int all_final(void *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < NCASES; i++) {
        json_t *job = h_expect_job(w.port, cases[i].id);
        int final = strcmp(str(job, "state"), "failed") == 0 || strcmp(str(job, "state"), "cancelled") == 0 ||
                    strcmp(str(job, "state"), "succeeded") == 0;
        json_decref(job);
        if (!final)
            return 0;
    }
    return 1;
}

/* The ids a pull-jobs query lists. */
static size_t listed(const char *query, char ids[][64], size_t cap, long *status)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs?%s", query);
    json_t *doc = h_http_json(w.port, "GET", path, NULL, status);
    size_t i, n = 0;
    json_t *j;
    json_array_foreach(json_object_get(doc, "jobs"), i, j)
    {
        if (n < cap)
            snprintf(ids[n++], 64, "%s", str(j, "id"));
    }
    json_decref(doc);
    return n;
}

static int metrics_counted(void *ctx)
{
    h_resp_t r;
    const char *want = ctx;
    if (h_http(w.port, "GET", "/metrics", NULL, NULL, &r) != 0)
        return 0;
    int ok = r.status == 200 && strstr(r.body, want) != NULL;
    h_resp_free(&r);
    return ok;
}

Test(causes, every_class_from_a_real_failure_reaches_task_error_filter_and_metric, .timeout = 180)
{
    const char *sim_args[] = {"--nodes", "1", "--pull-ms", "100", NULL};
    h_world_sim(&w, "causes", sim_args);
    char rule[256];
    for (size_t i = 0; i < NCASES; i++) {
        if (strcmp(cases[i].cause, "deadline") == 0)
            continue;
        snprintf(rule, sizeof(rule), "{\"pattern\": \"^causes\\\\.example/%s:\", \"cause\": \"%s\"}", cases[i].cause,
                 cases[i].cause);
        sim_post("/_sim/fail", rule);
    }
    sim_post("/_sim/pull", "{\"pattern\": \"slow\", \"ms\": 60000}");
    h_world_daemon(&w, NULL, NULL, 1);

    for (size_t i = 0; i < NCASES; i++)
        create(cases[i].image, cases[i].extra, cases[i].id, sizeof(cases[i].id));
    /* A client's DELETE: cancelled, which is not a failure. */
    char cancelled[64], path[128];
    create("causes.example/slow-cancel:1", "", cancelled, sizeof(cancelled));
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs/%s", cancelled);
    h_resp_t r;
    cr_assert_eq(h_http(w.port, "DELETE", path, NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 202, "DELETE: %ld %s", r.status, r.body);
    h_resp_free(&r);

    cr_assert(h_wait(all_final, NULL, 60000), "not every job reached a final state");
    for (size_t i = 0; i < NCASES; i++) {
        const kase_t *k = &cases[i];
        json_t *job = h_expect_job(w.port, k->id);
        char *text = json_dumps(job, JSON_COMPACT);
        json_t *task = json_array_get(json_object_get(job, "tasks"), 0), *err = json_object_get(job, "error");
        cr_expect_str_eq(str(job, "state"), k->state, "%s: %s", k->cause, text);
        cr_expect_str_eq(str(task, "cause"), k->cause, "%s: task cause: %s", k->cause, text);
        cr_expect_str_eq(str(err, "cause"), k->cause, "%s: error cause: %s", k->cause, text);
        if (k->words != NULL) {
            cr_expect(strstr(str(json_object_get(task, "last_failure"), "message"), k->words) != NULL,
                      "%s: last_failure keeps the node's words: %s", k->cause, text);
            cr_expect(strstr(str(err, "message"), k->words) != NULL, "%s: the error names the node's words: %s",
                      k->cause, text);
        }
        free(text);
        json_decref(job);
    }
    json_t *job = h_expect_job(w.port, cancelled);
    json_t *task = json_array_get(json_object_get(job, "tasks"), 0);
    cr_expect_str_eq(str(job, "state"), "cancelled");
    cr_expect_str_eq(str(task, "cause"), "cancelled");
    json_decref(job);

    /* ?cause= lists the jobs with a task of that class, and only those. */
    char ids[32][64];
    long status = 0;
    size_t n = listed("cause=auth", ids, 32, &status);
    cr_expect_eq(status, 200);
    cr_expect(n == 1 && strcmp(ids[0], cases[0].id) == 0, "cause=auth listed %zu jobs", n);
    n = listed("cause=tls,rate_limited&cause=deadline", ids, 32, &status);
    cr_expect_eq(n, 3, "three classes, three jobs: %zu", n);
    n = listed("cause=cancelled", ids, 32, &status);
    cr_expect_eq(n, 2, "the cancelled job and the context-canceled failure: %zu", n);
    listed("cause=bad_luck", ids, 32, &status);
    cr_expect_eq(status, 400);

    /* Each failed task counted once, by class; a cancelled task is not a failure. */
    char line[128];
    for (size_t i = 0; i < NCASES; i++) {
        snprintf(line, sizeof(line), "imgpulld_task_failures_total{cause=\"%s\"} 1\n", cases[i].cause);
        cr_expect(h_wait(metrics_counted, line, 10000), "missing: %s", line);
    }
}
