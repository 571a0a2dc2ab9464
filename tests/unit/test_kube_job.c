#include <criterion/criterion.h>
#include <stdlib.h>
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
    json_t *m = ipd_kube_job_manifest(&job, "node-a", "imgpulld", 3, 1, NULL);
    cr_assert_not_null(m);

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

Test(kube_job, a_keep_jobs_anchor_runs_no_pod_and_parses_as_the_anchor)
{
    ipd_job_t job = sample_job();
    job.keep = 1;
    job.spec.refresh_seconds = 600;
    json_t *m = ipd_kube_job_anchor_manifest(&job, "imgpulld", "{\"all_nodes\":true}", NULL);
    cr_assert_not_null(m);
    const json_t *meta = json_object_get(m, "metadata"), *spec = json_object_get(m, "spec");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "name")), "imgpull-pj-7f3a9c2e");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(meta, "labels"), IPD_LABEL_ANCHOR)), "true");
    cr_assert_null(json_object_get(json_object_get(meta, "labels"), IPD_LABEL_NODE));
    cr_assert(json_is_true(json_object_get(spec, "suspend")));
    cr_assert_eq(json_integer_value(json_object_get(spec, "parallelism")), 0);
    cr_assert_null(json_object_get(spec, "ttlSecondsAfterFinished"), "an anchor stays until the job is cancelled");
    cr_assert_null(json_object_get(json_object_get(json_object_get(spec, "template"), "spec"), "nodeName"));

    ipd_kube_job_info_t info;
    cr_assert_eq(ipd_kube_job_parse(m, &info), 0);
    cr_assert_eq(info.anchor, 1);
    cr_assert_str_eq(info.node, "");
    cr_assert_eq(info.keep, 1);
    cr_assert_eq(info.spec.refresh_seconds, 600);
    cr_assert_str_eq(info.selection, "{\"all_nodes\":true}");
    cr_assert_str_eq(info.image, job.image);
    json_decref(m);

    /* A task's Job is no anchor. */
    m = ipd_kube_job_manifest(&job, "node-a", "imgpulld", 1, 0, NULL);
    cr_assert_eq(ipd_kube_job_parse(m, &info), 0);
    cr_assert_eq(info.anchor, 0);
    json_decref(m);
}

Test(kube_job, long_node_names_keep_full_name_in_annotation)
{
    ipd_job_t job = sample_job();
    char node[200];
    memset(node, 'n', sizeof(node) - 1);
    node[sizeof(node) - 1] = '\0';
    json_t *m = ipd_kube_job_manifest(&job, node, "imgpulld", 1, 0, NULL);
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
        "{\"metadata\":{\"name\":\"imgpull-pj-1-n\",\"namespace\":\"imgpulld\",\"labels\":{\"imgpulld.io/"
        "job\":\"pj-1\"},"
        "\"creationTimestamp\":\"2026-11-27T10:00:00Z\"},"
        "\"spec\":{\"template\":{\"spec\":{\"nodeName\":\"n\",\"containers\":[{\"image\":\"nginx\"}]}}},"
        "\"status\":{\"conditions\":[{\"type\":\"Failed\",\"status\":\"True\",\"reason\":\"BackoffLimitExceeded\","
        "\"message\":\"Job has reached the specified backoff limit\","
        "\"lastTransitionTime\":\"2026-11-27T10:00:07Z\"}]}}",
        0, &e);
    cr_assert_not_null(obj);
    ipd_kube_job_info_t info;
    cr_assert_eq(ipd_kube_job_parse(obj, &info), 0);
    cr_assert_eq(info.failed, 1);
    cr_assert_str_eq(info.failed_reason, "BackoffLimitExceeded");
    cr_assert_str_eq(info.node, "n");
    cr_assert_eq(info.created_at, 1795773600000LL);
    cr_assert_eq(info.spec.ttl_seconds_after_finished, -1);
    cr_assert_eq(info.ended_at, 1795773607000LL, "when the Failed condition was set");
    cr_assert_eq(info.gave_up, 0);
    json_decref(obj);

    /* Marked by its node's daemon, which gave the task up, before it deleted the Job. */
    obj = json_loads("{\"metadata\":{\"name\":\"imgpull-pj-1-n\",\"labels\":{\"imgpulld.io/job\":\"pj-1\"},"
                     "\"annotations\":{\"imgpulld.io/outcome\":\"failed\"}},"
                     "\"spec\":{\"template\":{\"spec\":{\"nodeName\":\"n\",\"containers\":[{\"image\":\"nginx\"}]}}}}",
                     0, &e);
    cr_assert_not_null(obj);
    cr_assert_eq(ipd_kube_job_parse(obj, &info), 0);
    cr_assert_eq(info.gave_up, 1);
    cr_assert_eq(info.pulled, 0);
    json_decref(obj);

    obj = json_loads("{\"metadata\":{\"name\":\"other\"},\"spec\":{}}", 0, &e);
    cr_assert_eq(ipd_kube_job_parse(obj, &info), IPD_EINVAL);
    json_decref(obj);
}

/* The pull pod, every field: what runs, as whom, with what, where. */
static const char expected_pod_spec[] =
    "{\"nodeName\": \"node-a\", \"restartPolicy\": \"Never\", \"automountServiceAccountToken\": false,"
    " \"activeDeadlineSeconds\": 90,"
    " \"enableServiceLinks\": false, \"terminationGracePeriodSeconds\": 0,"
    " \"securityContext\": {\"runAsNonRoot\": true, \"runAsUser\": 10001, \"runAsGroup\": 10001,"
    "                       \"seccompProfile\": {\"type\": \"RuntimeDefault\"}},"
    " \"tolerations\": [{\"key\": \"node-role.kubernetes.io/control-plane\", \"operator\": \"Exists\","
    "                    \"effect\": \"NoSchedule\"},"
    "                   {\"key\": \"dedicated\", \"operator\": \"Equal\", \"value\": \"gpu\"}],"
    " \"volumes\": [{\"name\": \"imgpulld-bin\", \"emptyDir\": {\"sizeLimit\": \"16Mi\"}}],"
    " \"initContainers\": [{\"name\": \"install-noop\", \"image\": \"registry.local/tools/busybox:1.36.1-musl\","
    "   \"imagePullPolicy\": \"IfNotPresent\", \"command\": [\"/bin/cp\", \"/bin/true\", \"/imgpulld-bin/true\"],"
    "   \"securityContext\": {\"allowPrivilegeEscalation\": false, \"readOnlyRootFilesystem\": true,"
    "                         \"runAsNonRoot\": true, \"capabilities\": {\"drop\": [\"ALL\"]}},"
    "   \"resources\": {\"requests\": {\"cpu\": \"1m\", \"memory\": \"8Mi\"},"
    "                   \"limits\": {\"cpu\": \"100m\", \"memory\": \"32Mi\"}},"
    "   \"volumeMounts\": [{\"name\": \"imgpulld-bin\", \"mountPath\": \"/imgpulld-bin\"}]}],"
    " \"containers\": [{\"name\": \"pull\", \"image\": \"registry:5000/team/app:v2\","
    "   \"imagePullPolicy\": \"Always\", \"command\": [\"/imgpulld-bin/true\"],"
    "   \"securityContext\": {\"allowPrivilegeEscalation\": false, \"readOnlyRootFilesystem\": true,"
    "                         \"runAsNonRoot\": true, \"capabilities\": {\"drop\": [\"ALL\"]}},"
    "   \"resources\": {\"requests\": {\"cpu\": \"1m\", \"memory\": \"8Mi\"},"
    "                   \"limits\": {\"cpu\": \"100m\", \"memory\": \"32Mi\"}},"
    "   \"volumeMounts\": [{\"name\": \"imgpulld-bin\", \"mountPath\": \"/imgpulld-bin\", \"readOnly\": true}]}],"
    " \"imagePullSecrets\": [{\"name\": \"reg-a\"}, {\"name\": \"reg-b\"}]}";

static const json_t *pod_spec_of(const json_t *m)
{
    return json_object_get(json_object_get(json_object_get(m, "spec"), "template"), "spec");
}

Test(kube_job, pull_pod_runs_the_helper_s_noop_unprivileged_with_the_configured_tolerations_only)
{
    ipd_job_t job = sample_job();
    const char *tolerations[] = {"node-role.kubernetes.io/control-plane:NoSchedule", "dedicated=gpu"};
    ipd_kube_pod_config_t pod = ipd_kube_pod_config_default;
    pod.helper_image = "registry.local/tools/busybox:1.36.1-musl";
    pod.uid = 10001;
    pod.tolerations = tolerations;
    pod.ntolerations = 2;
    json_t *m = ipd_kube_job_manifest(&job, "node-a", "imgpulld", 3, 0, &pod);
    cr_assert_not_null(m);
    json_error_t e;
    json_t *want = json_loads(expected_pod_spec, 0, &e);
    cr_assert_not_null(want, "%s", e.text);
    char *got = json_dumps(pod_spec_of(m), JSON_INDENT(1) | JSON_SORT_KEYS);
    cr_assert(json_equal(want, pod_spec_of(m)), "the pod spec differs:\n%s", got);
    free(got);
    /* Nothing the pod runs is a path of the pulled image: every command is in the helper or the volume. */
    const json_t *c0 = json_array_get(json_object_get(pod_spec_of(m), "containers"), 0);
    cr_assert_eq(strncmp(json_string_value(json_array_get(json_object_get(c0, "command"), 0)), IPD_PULL_BIN_DIR "/",
                         strlen(IPD_PULL_BIN_DIR) + 1),
                 0);
    json_decref(want);
    json_decref(m);
}

Test(kube_job, default_pull_pod_tolerates_nothing_and_uses_busybox_musl)
{
    ipd_job_t job = sample_job();
    json_t *m = ipd_kube_job_manifest(&job, "node-a", "imgpulld", 1, 0, NULL);
    const json_t *spec = pod_spec_of(m);
    cr_assert_eq(json_array_size(json_object_get(spec, "tolerations")), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(spec, "securityContext"), "runAsUser")), 65532);
    const json_t *init = json_array_get(json_object_get(spec, "initContainers"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(init, "image")), "docker.io/library/busybox:1.36.1-musl");
    json_decref(m);
}

Test(kube_job, every_job_carries_a_ttl_the_client_s_or_the_default)
{
    ipd_job_t job = sample_job();
    ipd_kube_pod_config_t pod = ipd_kube_pod_config_default;
    pod.ttl_seconds_after_finished = 7200;
    json_t *m = ipd_kube_job_manifest(&job, "node-a", "imgpulld", 1, 0, &pod);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(m, "spec"), "ttlSecondsAfterFinished")), 60);
    json_decref(m);
    job.spec.ttl_seconds_after_finished = -1;
    m = ipd_kube_job_manifest(&job, "node-a", "imgpulld", 1, 0, &pod);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(m, "spec"), "ttlSecondsAfterFinished")), 7200);
    json_decref(m);
    job.spec.ttl_seconds_after_finished = 0;
    m = ipd_kube_job_manifest(&job, "node-a", "imgpulld", 1, 0, &pod);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(m, "spec"), "ttlSecondsAfterFinished")), 0);
    json_decref(m);
}

Test(kube_job, tolerations_parse_every_form_and_refuse_the_rest)
{
    static const struct {
        const char *text, *json;
    } good[] = {
        {"*", "{\"operator\": \"Exists\"}"},
        {"*:NoExecute", "{\"operator\": \"Exists\", \"effect\": \"NoExecute\"}"},
        {"example.com/role", "{\"key\": \"example.com/role\", \"operator\": \"Exists\"}"},
        {"node-role.kubernetes.io/control-plane:NoSchedule",
         "{\"key\": \"node-role.kubernetes.io/control-plane\", \"operator\": \"Exists\", \"effect\": \"NoSchedule\"}"},
        {"dedicated=gpu:PreferNoSchedule",
         "{\"key\": \"dedicated\", \"operator\": \"Equal\", \"value\": \"gpu\", \"effect\": \"PreferNoSchedule\"}"},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        json_t *t, *want = json_loads(good[i].json, 0, NULL);
        char why[160];
        cr_assert_eq(ipd_kube_toleration_parse(good[i].text, &t, why, sizeof(why)), 0, "%s: %s", good[i].text, why);
        cr_assert(json_equal(t, want), "%s", good[i].text);
        json_decref(t);
        json_decref(want);
    }
    static const char *const bad[] = {"", "key:NoWhere", "*=x", "Bad Key", "k=bad value", "k=v:", ":NoSchedule"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *t = (json_t *)1;
        char why[160] = "";
        cr_assert_eq(ipd_kube_toleration_parse(bad[i], &t, why, sizeof(why)), IPD_EINVAL, "%s", bad[i]);
        cr_assert_null(t);
        cr_assert_neq(why[0], '\0');
    }
}
