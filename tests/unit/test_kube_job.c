#include <criterion/criterion.h>
#include <string.h>

#include "proto/error.h"
#include "proto/kube_job.h"

static ipd_job_t sample_job(void)
{
    ipd_job_t job;
    memset(&job, 0, sizeof(job));
    strcpy(job.id, "pj-7f3a9c2e");
    strcpy(job.image, "registry:5000/team/app:v2");
    job.pull_policy = IPD_PULL_ALWAYS;
    job.created_at = 1795773600123LL;
    job.spec.backoff_limit = 2;
    job.spec.deadline_seconds = 300;
    job.spec.ttl_seconds_after_finished = 60;
    job.spec.timeout_seconds = 90;
    job.spec.parallelism = 4;
    strcpy(job.spec.pull_secrets, "reg-a,reg-b");
    return job;
}

Test(kube_job, names_fit_dns_labels_and_stay_unique)
{
    char a[IPD_KUBE_JOB_NAME_SIZE], b[IPD_KUBE_JOB_NAME_SIZE];
    ipd_kube_job_name("pj-7f3a9c2e", "node-a", a);
    cr_assert_str_eq(a, "imgpull-pj-7f3a9c2e-node-a");
    ipd_kube_job_name("pj-7f3a9c2e", "ip-10-0-0-1.eu-west-1.compute.internal", a);
    ipd_kube_job_name("pj-7f3a9c2e", "ip-10-0-0-1.eu-west-1.compute.internak", b);
    cr_assert_leq(strlen(a), 56);
    cr_assert_null(strchr(a, '.'));
    cr_assert_str_neq(a, b);
    cr_assert_neq(a[strlen(a) - 1], '-');
}

Test(kube_job, manifest_round_trips_through_parse)
{
    ipd_job_t job = sample_job();
    json_t *m = ipd_kube_job_manifest(&job, "node-a", "imgpulld", 3, 1);
    cr_assert_not_null(m);
    const json_t *podspec = json_object_get(json_object_get(json_object_get(m, "spec"), "template"), "spec");
    cr_assert_str_eq(json_string_value(json_object_get(podspec, "nodeName")), "node-a");
    cr_assert_str_eq(json_string_value(json_object_get(podspec, "restartPolicy")), "Never");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(podspec, "tolerations"), 0), "operator")),
        "Exists");
    const json_t *c0 = json_array_get(json_object_get(podspec, "containers"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(c0, "imagePullPolicy")), "Always");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(c0, "command"), 0)), IPD_PULL_COMMAND);
    cr_assert_eq(json_array_size(json_object_get(podspec, "imagePullSecrets")), 2);

    ipd_kube_job_info_t info;
    cr_assert_eq(ipd_kube_job_parse(m, &info), 0);
    cr_assert_str_eq(info.job_id, "pj-7f3a9c2e");
    cr_assert_str_eq(info.node, "node-a");
    cr_assert_str_eq(info.ns, "imgpulld");
    cr_assert_str_eq(info.image, job.image);
    cr_assert_eq(info.pull_policy, IPD_PULL_ALWAYS);
    cr_assert_eq(info.created_at, job.created_at);
    cr_assert_eq(info.node_count, 3);
    cr_assert_eq(info.suspended, 1);
    cr_assert_eq(info.spec.backoff_limit, 2);
    cr_assert_eq(info.spec.deadline_seconds, 300);
    cr_assert_eq(info.spec.ttl_seconds_after_finished, 60);
    cr_assert_eq(info.spec.timeout_seconds, 90);
    cr_assert_eq(info.spec.parallelism, 4);
    cr_assert_str_eq(info.spec.pull_secrets, "reg-a,reg-b");
    cr_assert_eq(info.failed, 0);
    json_decref(m);
}

Test(kube_job, long_node_names_keep_full_name_in_annotation)
{
    ipd_job_t job = sample_job();
    char node[200];
    memset(node, 'n', sizeof(node) - 1);
    node[sizeof(node) - 1] = '\0';
    json_t *m = ipd_kube_job_manifest(&job, node, "imgpulld", 1, 0);
    const json_t *labels = json_object_get(json_object_get(m, "metadata"), "labels");
    cr_assert_leq(strlen(json_string_value(json_object_get(labels, IPD_LABEL_NODE))), 63);
    ipd_kube_job_info_t info;
    cr_assert_eq(ipd_kube_job_parse(m, &info), 0);
    cr_assert_str_eq(info.node, node);
    json_decref(m);
}

Test(kube_job, failed_condition_and_foreign_jobs)
{
    json_error_t e;
    json_t *obj = json_loads(
        "{\"metadata\":{\"name\":\"imgpull-pj-1-n\",\"namespace\":\"imgpulld\",\"labels\":{\"imgpulld.io/job\":\"pj-1\"},"
        "\"creationTimestamp\":\"2026-11-27T10:00:00Z\"},"
        "\"spec\":{\"template\":{\"spec\":{\"nodeName\":\"n\",\"containers\":[{\"image\":\"nginx\"}]}}},"
        "\"status\":{\"conditions\":[{\"type\":\"Failed\",\"status\":\"True\",\"reason\":\"BackoffLimitExceeded\","
        "\"message\":\"Job has reached the specified backoff limit\"}]}}",
        0, &e);
    cr_assert_not_null(obj);
    ipd_kube_job_info_t info;
    cr_assert_eq(ipd_kube_job_parse(obj, &info), 0);
    cr_assert_eq(info.failed, 1);
    cr_assert_str_eq(info.failed_reason, "BackoffLimitExceeded");
    cr_assert_str_eq(info.node, "n");
    cr_assert_eq(info.created_at, 1795773600000LL);
    cr_assert_eq(info.spec.ttl_seconds_after_finished, -1);
    json_decref(obj);

    obj = json_loads("{\"metadata\":{\"name\":\"other\"},\"spec\":{}}", 0, &e);
    cr_assert_eq(ipd_kube_job_parse(obj, &info), IPD_EINVAL);
    json_decref(obj);
}
