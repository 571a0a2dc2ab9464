/*
 * Single API requests answered 429 or 503 with Retry-After are sent again after that delay
 * (kube_retries, kube_retry_max_wait): a client's POST and DELETE, and the master's own requests
 * (the PATCH that resumes a suspended task). An apiserver under API Priority and Fairness answers
 * 429 with Retry-After to requests it did not carry out (k8s.io/apiserver
 * pkg/server/filters/priority-and-fairness.go and maxinflight.go set the header; client-go's
 * rest/with_retry.go sends such a request again after it). The client's answer stays truthful:
 * a POST whose Jobs cannot all be created after the retries answers 503 and leaves nothing.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static const char *const sim_args[] = {"--nodes", "2", "--pull-ms", "100", NULL};

static h_world_t w;

static void teardown(void)
{
    if (w.daemon.pid > 0 || w.sim.pid > 0)
        h_world_stop(&w);
}

static void inject(const char *method, const char *path_re, int count, int code, int retry_after)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"count\":%d,\"code\":%d,\"method\":\"%s\",\"path\":\"%s\",\"retry_after\":%d}",
             count, code, method, path_re, retry_after);
    h_sim_ok(w.sim.port, "POST", "/_sim/inject", body);
}

/* The simulator's answers to `method` requests on Jobs of the pull namespace whose path holds `part`, oldest first. */
typedef struct answer {
    double time;
    long code;
} answer_t;

static size_t job_answers(const char *method, const char *part, answer_t *out, size_t cap)
{
    json_t *log = h_http_json(w.sim.port, "GET", "/_sim/requests", NULL, NULL);
    size_t i, n = 0;
    json_t *r;
    json_array_foreach(json_object_get(log, "recent"), i, r)
    {
        const char *m = json_string_value(json_object_get(r, "method"));
        const char *p = json_string_value(json_object_get(r, "path"));
        if (n < cap && m != NULL && p != NULL && strcmp(m, method) == 0 &&
            strstr(p, "/apis/batch/v1/namespaces/imgpulld/jobs") != NULL && strstr(p, part) != NULL)
            out[n++] = (answer_t){json_real_value(json_object_get(r, "time")),
                                  (long)json_integer_value(json_object_get(r, "code"))};
    }
    json_decref(log);
    return n;
}

static size_t kube_jobs(const char *id)
{
    char path[256];
    snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/imgpulld/jobs?labelSelector=imgpulld.io%%2Fjob%%3D%s", id);
    json_t *list = h_http_json(w.sim.port, "GET", path, NULL, NULL);
    size_t n = json_array_size(json_object_get(list, "items"));
    json_decref(list);
    return n;
}

static int nothing_active(void *ctx)
{
    (void)ctx;
    json_t *active = h_http_json(w.port, "GET", "/api/v1/images/pull-active", NULL, NULL);
    int none = active != NULL && json_array_size(json_object_get(active, "jobs")) == 0;
    json_decref(active);
    return none;
}

Test(retry_after, a_post_throttled_by_the_apiserver_is_created_after_retry_after, .fini = teardown)
{
    h_world_sim(&w, "rapost", sim_args);
    h_world_daemon(&w, "kube_retries 5\nkube_retry_max_wait 5s\n", NULL, 1);
    h_sim_ok(w.sim.port, "DELETE", "/_sim/requests", NULL);
    /* Both Job POSTs are throttled once each, then once more for one of them. */
    inject("POST", "/apis/batch/v1/namespaces/imgpulld/jobs", 3, 429, 1);
    char id[64];
    h_post_pull(w.port, "{\"image\":\"busybox:1.36\",\"nodes\":[\"node-1\",\"node-2\"]}", id, sizeof(id));
    h_expect_job_state(w.port, id, "succeeded", 30000);
    cr_expect_eq(kube_jobs(id), 2);
    /* Each retry came no sooner than the Retry-After (1 s) after the 429 it answers. */
    answer_t a[16];
    size_t n = job_answers("POST", "", a, 16);
    size_t throttled = 0, created = 0;
    double first_429 = 0, last_201 = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i].code == 429 && throttled++ == 0)
            first_429 = a[i].time;
        if (a[i].code == 201) {
            created++;
            last_201 = a[i].time;
        }
    }
    cr_expect_eq(throttled, 3, "429 answers: %zu", throttled);
    cr_expect_eq(created, 2, "201 answers: %zu", created);
    cr_expect_geq(last_201 - first_429, 1.9, "two 1 s waits in a row took %.2f s", last_201 - first_429);
    /* Three requests sent again after a 429, counted in /metrics. */
    h_resp_t r;
    cr_assert_eq(h_http(w.port, "GET", "/metrics", NULL, NULL, &r), 0);
    cr_expect(r.body != NULL && strstr(r.body, "imgpulld_kube_retries_total{reason=\"too_many_requests\"} 3\n") != NULL,
              "metrics: %.*s", (int)r.len, r.body ? r.body : "");
    h_resp_free(&r);
}

Test(retry_after, a_post_still_throttled_after_the_retries_answers_503_and_leaves_nothing, .fini = teardown)
{
    h_world_sim(&w, "rafail", sim_args);
    h_world_daemon(&w, "kube_retries 2\nkube_retry_max_wait 1s\n", NULL, 1);
    /* Three attempts per Job, five throttled answers: one Job is created, the other never is. */
    inject("POST", "/apis/batch/v1/namespaces/imgpulld/jobs", 5, 503, 30);
    h_resp_t r;
    uint64_t t0 = h_now_ms();
    cr_assert_eq(h_http(w.port, "POST", "/api/v1/images/pull",
                        "{\"image\":\"busybox:1.36\",\"nodes\":[\"node-1\",\"node-2\"]}", NULL, &r),
                 0);
    uint64_t took = h_now_ms() - t0;
    json_t *doc = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
    const char *msg = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
    cr_assert_eq(r.status, 503, "POST answered %ld", r.status);
    cr_expect(msg != NULL && strstr(msg, "503") != NULL, "message: %s", msg ? msg : "(none)");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(doc, "error"), "code")) ?: "", "unavailable");
    /* The client is told when to come back: the apiserver's 30 s, capped at kube_retry_max_wait. */
    char after[32] = "";
    cr_expect_eq(h_resp_header(&r, "retry-after", after, sizeof(after)), 1, "no Retry-After: %s", r.headers);
    cr_expect_str_eq(after, "1");
    json_decref(doc);
    h_resp_free(&r);
    /* Two Jobs, three attempts each, five 503s: each Job was sent again twice. */
    cr_assert_eq(h_http(w.port, "GET", "/metrics", NULL, NULL, &r), 0);
    cr_expect(r.body != NULL &&
                  strstr(r.body, "imgpulld_kube_retries_total{reason=\"service_unavailable\"} 4\n") != NULL &&
                  strstr(r.body, "imgpulld_kube_retries_total{reason=\"too_many_requests\"} 0\n") != NULL,
              "metrics: %.*s", (int)r.len, r.body ? r.body : "");
    h_resp_free(&r);
    /* Retry-After 30 s is capped at kube_retry_max_wait (1 s): two waits, not a minute. */
    cr_expect_geq(took, 1900, "answered after %llu ms", (unsigned long long)took);
    cr_expect_lt(took, 20000, "answered after %llu ms", (unsigned long long)took);
    /* The Job that was created is rolled back: nothing of the job is left, and it is not shown. */
    json_t *list = h_http_json(w.sim.port, "GET", "/apis/batch/v1/namespaces/imgpulld/jobs", NULL, NULL);
    size_t left = json_array_size(json_object_get(list, "items"));
    json_decref(list);
    cr_expect_eq(left, 0, "Jobs left in the cluster: %zu", left);
    /* The master may have seen the rolled-back Job: it never stays active. */
    if (!h_wait(nothing_active, NULL, 10000)) {
        h_http(w.port, "GET", "/api/v1/images/pull-active", NULL, NULL, &r);
        cr_expect(0, "a rolled-back job stays active: %.*s", (int)r.len, r.body);
        h_resp_free(&r);
    }
}

Test(retry_after, a_delete_throttled_by_the_apiserver_cancels_after_retry_after, .fini = teardown)
{
    h_world_sim(&w, "radel", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    /* A pull that does not end by itself: the image keeps failing, so the job stays active. */
    h_sim_ok(w.sim.port, "POST", "/_sim/pull", "{\"pattern\":\"slow\",\"ms\":600000}");
    char id[64];
    h_post_pull(w.port, "{\"image\":\"example.com/slow:1\",\"nodes\":[\"node-1\"]}", id, sizeof(id));
    h_expect_job_state(w.port, id, "pulling", 20000);
    inject("DELETE", "/apis/batch/v1/namespaces/imgpulld/jobs", 2, 429, 1);
    h_expect_cancel(w.port, id);
    cr_expect_eq(kube_jobs(id), 0);
}

Test(retry_after, the_masters_resume_patch_waits_retry_after_not_its_own_interval, .fini = teardown)
{
    h_world_sim(&w, "rapatch", sim_args);
    h_world_daemon(&w, NULL, NULL, 1);
    h_sim_ok(w.sim.port, "POST", "/_sim/pull", "{\"default_ms\":1000}");
    h_sim_ok(w.sim.port, "DELETE", "/_sim/requests", NULL);
    /*
     * parallelism 1: the second node's Job starts suspended and the master resumes it with a
     * PATCH once the first is done. Three 429s with Retry-After 1 s: resumed about 3 s later.
     * The model's own interval for asking again is 5 s, so without Retry-After it takes 15 s.
     */
    inject("PATCH", "/apis/batch/v1/namespaces/imgpulld/jobs/imgpull-.*-node-2", 3, 429, 1);
    char id[64];
    h_post_pull(w.port, "{\"image\":\"busybox:1.36\",\"nodes\":[\"node-1\",\"node-2\"],\"parallelism\":1}", id,
                sizeof(id));
    h_expect_job_state(w.port, id, "succeeded", 60000);
    answer_t a[64];
    size_t n = job_answers("PATCH", "node-2", a, 64);
    double first_429 = 0, resumed = 0;
    size_t throttled = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i].code == 429 && throttled++ == 0)
            first_429 = a[i].time;
        if (a[i].code == 200 && throttled == 3 && resumed == 0)
            resumed = a[i].time;
    }
    cr_assert_eq(throttled, 3, "429 answers to PATCH: %zu", throttled);
    cr_assert_gt(resumed, 0, "no PATCH answered 200 after the 429s");
    cr_expect_geq(resumed - first_429, 2.9, "resumed %.2f s after the first 429", resumed - first_429);
    cr_expect_lt(resumed - first_429, 10.0, "resumed %.2f s after the first 429", resumed - first_429);
}
