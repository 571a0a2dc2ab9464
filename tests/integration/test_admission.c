/*
 * Overload: a POST whose jobs the table cannot hold is refused before anything is created in
 * Kubernetes (503 table_full, Retry-After), instead of a 202 for jobs that never appear.
 * worker/rest/admission.c has the protocol.
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

TestSuite(admission, .fini = fini);

/* The imgpulld Jobs the simulator holds. */
static size_t sim_jobs(void)
{
    long status = 0;
    json_t *doc = h_http_json(w.sim.port, "GET", "/apis/batch/v1/namespaces/imgpulld/jobs", NULL, &status);
    cr_assert(doc != NULL && status == 200, "listing the simulator's Jobs: %ld", status);
    size_t n = json_array_size(json_object_get(doc, "items"));
    json_decref(doc);
    return n;
}

static long post(const char *image, h_resp_t *r)
{
    char body[256];
    const char *headers[] = {"Content-Type: application/json", NULL};
    snprintf(body, sizeof(body), "{\"image\": \"%s\", \"nodes\": [\"node-1\"]}", image);
    cr_assert_eq(h_http(w.port, "POST", "/api/v1/images/pull", body, headers, r), 0);
    return r->status;
}

Test(admission, a_post_the_full_table_cannot_hold_is_503_and_creates_nothing, .timeout = 120)
{
    /* Pulls that take a minute keep every job active for the whole test. */
    const char *sim_args[] = {"--nodes", "2", "--pull-ms", "60000", NULL};
    h_world_sim(&w, "admission", sim_args);
    h_world_daemon(&w, "table_jobs 16\ntable_tasks 64\nmax_nodes_per_job 8\ntable_full_retry_after 7s\nworkers 2\n",
                   NULL, 1);

    char image[64];
    h_resp_t r;
    for (int i = 0; i < 16; i++) {
        snprintf(image, sizeof(image), "example.com/fill:%d", i);
        cr_assert_eq(post(image, &r), 202, "POST %d: %ld %s", i, r.status, r.body);
        h_resp_free(&r);
    }
    cr_assert_eq(sim_jobs(), 16);

    /* The 17th job has no room: every job is active, none can be evicted. */
    cr_assert_eq(post("example.com/one-too-many:1", &r), 503, "%ld %s", r.status, r.body);
    json_t *err = json_loadb(r.body, r.len, 0, NULL);
    cr_assert_not_null(err, "%s", r.body);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(err, "error"), "code")), "table_full", "%s",
                     r.body);
    cr_expect(strstr(json_string_value(json_object_get(json_object_get(err, "error"), "message")), "table_jobs") !=
                  NULL,
              "%s", r.body);
    json_decref(err);
    char v[32];
    cr_expect(h_resp_header(&r, "Retry-After", v, sizeof(v)) && strcmp(v, "7") == 0, "Retry-After: %s", v);
    h_resp_free(&r);

    /* Nothing was created for it, now or a moment later. */
    usleep(500 * 1000);
    cr_expect_eq(sim_jobs(), 16, "the refused POST created a Kubernetes Job");

    /* A cancelled job is final and can be evicted: its slot takes a new job again. */
    long status = 0;
    json_t *active = h_http_json(w.port, "GET", "/api/v1/images/pull-active", NULL, &status);
    cr_assert(active != NULL && status == 200);
    char id[64], path[128];
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(active, "jobs"), 0), "id")));
    json_decref(active);
    snprintf(path, sizeof(path), "/api/v1/images/pull-jobs/%s", id);
    cr_assert_eq(h_http(w.port, "DELETE", path, NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 202, "DELETE: %ld %s", r.status, r.body);
    h_resp_free(&r);
    cr_assert_eq(post("example.com/after-cancel:1", &r), 202, "%ld %s", r.status, r.body);
    h_resp_free(&r);
}

static int lists_ok(void *ctx)
{
    (void)ctx;
    h_resp_t r;
    if (h_http(w.port, "GET", "/api/v1/images/pull-active", NULL, NULL, &r) != 0)
        return 0;
    int ok = r.status == 200;
    h_resp_free(&r);
    return ok;
}

Test(admission, lists_are_503_not_ready_until_the_table_holds_a_complete_list, .timeout = 120)
{
    const char *sim_args[] = {"--nodes", "1", NULL};
    const char *headers[] = {"Content-Type: application/json", NULL};
    h_world_sim(&w, "notready", sim_args);
    /* The pods list fails for a while: the table holds no complete list from Kubernetes. */
    h_resp_t r;
    cr_assert_eq(h_http(w.sim.port, "POST", "/_sim/inject",
                        "{\"count\": 1000, \"code\": 500, \"path\": \"/api/v1/namespaces/imgpulld/pods\", "
                        "\"method\": \"GET\"}",
                        headers, &r),
                 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    h_resp_free(&r);
    h_world_daemon(&w, NULL, NULL, 0);
    static const char *const lists[] = {"/api/v1/images/pull-active", "/api/v1/images/pull-failed",
                                        "/api/v1/images/pull-jobs"};
    char v[32];
    int seen = 0;
    for (int round = 0; round < 50 && !seen; round++) {
        if (h_http(w.port, "GET", "/readyz", NULL, NULL, &r) == 0 && r.status == 503)
            seen = 1;
        h_resp_free(&r);
        if (!seen)
            usleep(100 * 1000);
    }
    cr_assert(seen, "the daemon never answered /readyz 503");
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        cr_assert_eq(h_http(w.port, "GET", lists[i], NULL, NULL, &r), 0);
        cr_expect_eq(r.status, 503, "%s: %ld %s", lists[i], r.status, r.body);
        cr_expect(strstr(r.body, "\"not_ready\"") != NULL, "%s: %s", lists[i], r.body);
        cr_expect(h_resp_header(&r, "Retry-After", v, sizeof(v)) && strcmp(v, "1") == 0, "%s", lists[i]);
        h_resp_free(&r);
    }
    /* Once the pods are listed, the lists answer. */
    cr_assert_eq(h_http(w.sim.port, "DELETE", "/_sim/inject", NULL, NULL, &r), 0);
    h_resp_free(&r);
    cr_assert(h_wait(lists_ok, NULL, 60000), "the lists never became ready");
}
