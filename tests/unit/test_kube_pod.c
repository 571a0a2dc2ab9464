#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cause.h"
#include "proto/error.h"
#include "proto/json_prune.h"
#include "proto/kube_pod.h"

#define POD_META                                                                                                       \
    "\"metadata\":{\"name\":\"p1\",\"namespace\":\"imgpulld\","                                                        \
    "\"labels\":{\"imgpulld.io/job\":\"pj-1\",\"imgpulld.io/node\":\"node-a\"}},"                                      \
    "\"spec\":{\"nodeName\":\"node-a\"}"

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);
    cr_assert_not_null(v, "bad test JSON: %s: %s", err.text, text);
    return v;
}

/* A pod whose only container has the given state object, and phase. */
static json_t *pod_with(const char *phase, const char *state)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "{" POD_META ",\"status\":{\"phase\":\"%s\",\"containerStatuses\":[{\"name\":\"pull\",\"state\":%s}]}}",
             phase, state);
    return load(text);
}

static json_t *waiting(const char *reason)
{
    char state[256];
    snprintf(state, sizeof(state), "{\"waiting\":{\"reason\":\"%s\",\"message\":\"msg of %s\"}}", reason, reason);
    return pod_with("Pending", state);
}

static ipd_kube_event_t event(const char *pod, const char *reason, const char *message, uint32_t count, int64_t time)
{
    ipd_kube_event_t e;
    memset(&e, 0, sizeof(e));
    snprintf(e.pod, sizeof(e.pod), "%s", pod);
    snprintf(e.ns, sizeof(e.ns), "imgpulld");
    snprintf(e.kind, sizeof(e.kind), "Pod");
    snprintf(e.reason, sizeof(e.reason), "%s", reason);
    snprintf(e.message, sizeof(e.message), "%s", message);
    e.count = count;
    e.time = time;
    e.pull_ms = IPD_UNKNOWN_I64;
    e.image_bytes = IPD_UNKNOWN_I64;
    if (strcmp(reason, "Pulled") == 0)
        ipd_kube_pulled_parse(message, strlen(message), &e.pull_ms, &e.image_bytes);
    return e;
}

static ipd_task_t map(json_t *pod, const ipd_kube_event_t *ev, size_t n, int job_failed)
{
    ipd_task_t t;
    cr_assert_eq(ipd_kube_pod_map(pod, ev, n, job_failed, 777, &t), 0);
    json_decref(pod);
    return t;
}

Test(kube_pod, new_pod_without_status_is_pending)
{
    ipd_task_t t = map(load("{" POD_META "}"), NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_PENDING);
    cr_assert_str_eq(t.node, "node-a");
    cr_assert_str_eq(t.ns, "imgpulld");
    cr_assert_str_eq(t.pod, "p1");
    cr_assert_str_eq(t.reason, "");
    cr_assert_eq(t.attempts, 0);
    cr_assert_eq(t.updated_at, 777);
    cr_assert_eq(t.pull_ms, IPD_UNKNOWN_I64);
}

Test(kube_pod, unschedulable_pod_is_pending_with_the_scheduler_reason)
{
    ipd_task_t t =
        map(load("{" POD_META ",\"status\":{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"PodScheduled\","
                 "\"status\":\"False\",\"reason\":\"Unschedulable\",\"message\":\"0/3 nodes\"}]}}"),
            NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_PENDING);
    cr_assert_str_eq(t.reason, "Unschedulable");
    cr_assert_str_eq(t.message, "0/3 nodes");
}

Test(kube_pod, container_creating_is_pending_until_a_pulling_event)
{
    ipd_task_t t = map(waiting("ContainerCreating"), NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_PENDING);
    cr_assert_str_eq(t.reason, "ContainerCreating");
    ipd_kube_event_t ev = event("p1", "Pulling", "Pulling image \"nginx\"", 1, 10);
    t = map(waiting("ContainerCreating"), &ev, 1, 0);
    cr_assert_eq(t.state, IPD_TASK_PULLING);
    cr_assert_str_eq(t.reason, "Pulling");
    cr_assert_str_eq(t.message, "Pulling image \"nginx\"");
    cr_assert_eq(t.attempts, 1);
    t = map(waiting("PodInitializing"), &ev, 1, 0);
    cr_assert_eq(t.state, IPD_TASK_PULLING);
}

Test(kube_pod, pull_failures_are_retrying_and_carry_the_kubelet_text)
{
    static const char *reasons[] = {
        "ErrImagePull",        "ImagePullBackOff",  "InvalidImageName",         "ErrImageNeverPull",
        "RegistryUnavailable", "ImageInspectError", "SignatureValidationFailed"};
    ipd_kube_event_t ev[2] = {event("p1", "Pulling", "Pulling image", 3, 10),
                              event("p1", "BackOff", "Back-off", 2, 20)};
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        char msg[64];
        ipd_task_t t = map(waiting(reasons[i]), ev, 2, 0);
        snprintf(msg, sizeof(msg), "msg of %s", reasons[i]);
        cr_assert_eq(t.state, IPD_TASK_RETRYING, "%s", reasons[i]);
        cr_assert_str_eq(t.reason, reasons[i]);
        cr_assert_str_eq(t.message, msg);
        cr_assert_eq(t.attempts, 3, "attempts are the Pulling events' count");
    }
}

/*
 * The kubelet reports a failed pull twice: the container status (ErrImagePull, the error) and
 * the Event `Failed to pull image "IMAGE": ERROR` (pkg/kubelet/images/image_manager.go). A pods
 * watch that was behind may show only the back-off that replaced the status; the Event still
 * holds the registry's words, and the task keeps them as its last failure.
 */
Test(kube_pod, the_failed_pull_event_keeps_the_registry_words_behind_a_back_off)
{
#define NOTFOUND "rpc error: code = NotFound desc = failed to pull and unpack image \"registry.invalid/a:1\": not found"
    ipd_kube_event_t ev[4] = {event("p1", "Pulling", "Pulling image \"registry.invalid/a:1\"", 2, 10),
                              event("p1", "Failed", "Failed to pull image \"registry.invalid/a:1\": " NOTFOUND, 2, 11),
                              event("p1", "Failed", "Error: ErrImagePull", 2, 12),
                              event("p1", "BackOff", "Back-off pulling image \"registry.invalid/a:1\"", 1, 13)};
    ipd_task_t t = map(
        pod_with("Pending",
                 "{\"waiting\":{\"reason\":\"ImagePullBackOff\",\"message\":\"Back-off pulling image \\\"x\\\"\"}}"),
        ev, 4, 0);
    cr_assert_eq(t.state, IPD_TASK_RETRYING);
    cr_assert_str_eq(t.reason, "ImagePullBackOff");
    cr_assert_str_eq(t.fail_reason, "ErrImagePull");
    cr_assert_str_eq(t.fail_message, NOTFOUND);
    ipd_task_t prev;
    ipd_task_init(&prev, "node-a", 1);
    ipd_task_keep_failure(&t, &prev);
    ipd_task_set_cause(&t);
    cr_assert_eq(t.cause, IPD_CAUSE_NOT_FOUND);
    cr_assert_str_eq(t.fail_message, NOTFOUND);

    /* Without such an Event nothing is made up: an earlier failure is carried instead. */
    t = map(waiting("ImagePullBackOff"), ev + 2, 2, 0);
    cr_assert_str_eq(t.fail_reason, "");
    cr_assert_str_eq(t.fail_message, "");
#undef NOTFOUND
}

/*
 * A pod stuck failing its pull never fails its Job (the kubelet backs the pull off for ever), so
 * the task is given up once backoff_limit + 1 attempts failed, in words that name the registry's.
 * A pull that failed for another reason (the pod failed), or is not failing, is never given up.
 */
Test(kube_pod, a_pull_is_exhausted_after_backoff_limit_plus_one_failed_attempts)
{
    ipd_kube_event_t ev[3] = {
        event("p1", "Pulling", "Pulling image \"registry.invalid/a:1\"", 2, 10),
        event("p1", "Failed", "Failed to pull image \"registry.invalid/a:1\": manifest unknown", 2, 11),
        event("p1", "BackOff", "Back-off pulling image \"registry.invalid/a:1\"", 1, 12)};
    ipd_task_t t = map(waiting("ImagePullBackOff"), ev, 3, 0);
    char msg[IPD_MESSAGE_SIZE] = "untouched";
    cr_assert(ipd_kube_pull_failing(&t));
    cr_assert_not(ipd_kube_pull_exhausted(&t, 2, msg, sizeof(msg)), "2 attempts under backoff_limit 2");
    cr_assert_str_eq(msg, "untouched");
    cr_assert(ipd_kube_pull_exhausted(&t, 1, msg, sizeof(msg)));
    cr_assert_str_eq(msg, "gave up after 2 attempts (backoff_limit 1): ErrImagePull: manifest unknown");
    /* Without the registry's words, the status's. */
    t = map(waiting("ErrImagePull"), ev, 1, 0);
    t.attempts = 5;
    cr_assert(ipd_kube_pull_exhausted(&t, 0, msg, 24));
    cr_assert_str_eq(msg, "gave up after 5 attempt", "truncated to the room given");
    t = map(pod_with("Failed", "{\"terminated\":{\"exitCode\":1,\"reason\":\"Error\"}}"), ev, 3, 0);
    cr_assert_eq(t.state, IPD_TASK_RETRYING);
    cr_assert_not(ipd_kube_pull_failing(&t));
    cr_assert_not(ipd_kube_pull_exhausted(&t, 0, msg, sizeof(msg)));
    t = map(waiting("ContainerCreating"), NULL, 0, 0);
    cr_assert_not(ipd_kube_pull_failing(&t));
}

Test(kube_pod, pull_failure_is_failed_only_when_the_job_failed)
{
    ipd_task_t t = map(waiting("ImagePullBackOff"), NULL, 0, 1);
    cr_assert_eq(t.state, IPD_TASK_FAILED);
    cr_assert_str_eq(t.reason, "ImagePullBackOff");
    cr_assert_eq(t.attempts, 1, "a failing task made at least one attempt");
    /* A failed pod is one failed attempt: its Job may start another, so this is not final. */
    t = map(pod_with("Failed", "{\"waiting\":{\"reason\":\"ErrImagePull\",\"message\":\"not found\"}}"), NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_RETRYING);
    cr_assert_str_eq(t.message, "not found");
}

Test(kube_pod, only_the_no_op_s_exit_0_is_success)
{
    static const char *reasons[] = {"CreateContainerError", "CreateContainerConfigError", "RunContainerError",
                                    "StartError", "CrashLoopBackOff"};
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        ipd_task_t t = map(waiting(reasons[i]), NULL, 0, 0);
        cr_assert_eq(t.state, IPD_TASK_RETRYING, "%s", reasons[i]);
        cr_assert_str_eq(t.reason, reasons[i]);
        t = map(waiting(reasons[i]), NULL, 0, 1);
        cr_assert_eq(t.state, IPD_TASK_FAILED, "%s", reasons[i]);
    }
    ipd_task_t t = map(pod_with("Running", "{\"running\":{\"startedAt\":\"2026-01-01T00:00:00Z\"}}"), NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_PULLING, "the image is there, the no-op has not finished");
    t = map(pod_with("Failed", "{\"terminated\":{\"exitCode\":128,\"reason\":\"StartError\",\"message\":\"exec: "
                               "no such file\"}}"),
            NULL, 0, 1);
    cr_assert_eq(t.state, IPD_TASK_FAILED);
    cr_assert_str_eq(t.reason, "StartError");
    t = map(pod_with("Succeeded", "{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\"}}"), NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_SUCCEEDED);
    cr_assert_str_eq(t.reason, IPD_REASON_PULLED);
    cr_assert_str_eq(t.message, IPD_MESSAGE_PULLED);
    t = map(pod_with("Running", "{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\"}}"), NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_SUCCEEDED, "the container's exit 0 before the pod's phase says so");
    t = map(load("{" POD_META ",\"status\":{\"phase\":\"Pending\",\"containerStatuses\":[{\"state\":{\"waiting\":"
                 "{\"reason\":\"ContainerCreating\"}},\"imageID\":\"docker.io/x@sha256:00\"}]}}"),
            NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_PULLING, "an image ID means the image is there, not that the pod is done");
}

Test(kube_pod, a_pod_past_its_deadline_is_a_timed_out_attempt)
{
    const char *text = "{" POD_META ",\"status\":{\"phase\":\"Failed\",\"reason\":\"DeadlineExceeded\","
                       "\"message\":\"Pod was active on the node longer than the specified deadline\","
                       "\"containerStatuses\":[{\"state\":{\"waiting\":{\"reason\":\"ImagePullBackOff\"}}}]}}";
    ipd_task_t t = map(load(text), NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_RETRYING);
    cr_assert_str_eq(t.reason, "DeadlineExceeded");
    t = map(load(text), NULL, 0, 1);
    cr_assert_eq(t.state, IPD_TASK_FAILED);
    cr_assert_str_eq(t.reason, "DeadlineExceeded");
}

Test(kube_pod, pulled_event_gives_duration_and_size)
{
    ipd_kube_event_t ev[3] = {
        event("p1", "Pulling", "Pulling image \"nginx\"", 1, 10),
        event("p1", "Pulled",
              "Successfully pulled image \"nginx\" in 1.2s (1.5s including waiting). Image size: "
              "123 bytes.",
              1, 20),
        event("other-pod", "Pulling", "Pulling image", 5, 30),
    };
    ipd_task_t t = map(waiting("ContainerCreating"), ev, 3, 0);
    cr_assert_eq(t.state, IPD_TASK_PULLING);
    cr_assert_str_eq(t.reason, "Pulled");
    cr_assert_eq(t.pull_ms, 1200);
    cr_assert_eq(t.image_bytes, 123);
    cr_assert_eq(t.attempts, 1, "events of another pod are ignored");
}

Test(kube_pod, image_already_present_counts_no_second_attempt)
{
    ipd_kube_event_t ev = event("p1", "Pulled", "Container image \"nginx:1.27\" already present on machine", 1, 5);
    ipd_task_t t = map(waiting("ContainerCreating"), &ev, 1, 0);
    cr_assert_eq(t.state, IPD_TASK_PULLING);
    cr_assert_eq(t.pull_ms, 0);
    cr_assert_eq(t.image_bytes, IPD_UNKNOWN_I64);
    cr_assert_eq(t.attempts, 1);
}

Test(kube_pod, unknown_waiting_reason_is_pending_or_pulling)
{
    ipd_task_t t = map(waiting("SomethingNewInKubelet"), NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_PENDING);
    cr_assert_str_eq(t.reason, "SomethingNewInKubelet");
    ipd_kube_event_t ev = event("p1", "Pulling", "Pulling image", 2, 1);
    t = map(waiting("SomethingNewInKubelet"), &ev, 1, 0);
    cr_assert_eq(t.state, IPD_TASK_PULLING);
    cr_assert_eq(t.attempts, 2);
    t = map(pod_with("Pending", "{\"waiting\":{}}"), NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_PENDING);
}

Test(kube_pod, failed_pod_without_pull_failure_retries_unless_the_job_failed)
{
    const char *text =
        "{" POD_META ",\"status\":{\"phase\":\"Failed\",\"reason\":\"Evicted\",\"message\":\"low on disk\"}}";
    ipd_task_t t = map(load(text), NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_RETRYING);
    cr_assert_str_eq(t.reason, "Evicted");
    cr_assert_str_eq(t.message, "low on disk");
    t = map(load(text), NULL, 0, 1);
    cr_assert_eq(t.state, IPD_TASK_FAILED);
    t = map(load("{" POD_META ",\"status\":{\"phase\":\"Failed\"}}"), NULL, 0, 0);
    cr_assert_str_eq(t.reason, "PodFailed");
}

Test(kube_pod, job_failure_before_the_pull_fails_the_task)
{
    ipd_kube_event_t ev = event("p1", "Pulling", "Pulling image", 1, 1);
    ipd_task_t t = map(waiting("ContainerCreating"), &ev, 1, 1);
    cr_assert_eq(t.state, IPD_TASK_FAILED);
    cr_assert_str_eq(t.reason, "JobFailed");
}

Test(kube_pod, malformed_pods_are_invalid_and_leave_the_task_alone)
{
    static const char *bad[] = {
        "[]",
        "{}",
        "{\"metadata\":5}",
        "{\"metadata\":{\"namespace\":\"n\"}}",
        "{\"metadata\":{\"name\":7,\"namespace\":\"n\"}}",
        "{\"metadata\":{\"name\":\"p\"}}",
        "{\"metadata\":{\"name\":\"\",\"namespace\":\"n\"}}",
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"\"}}",
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"labels\":{\"imgpulld.io/job\":"
        "\"0123456789012345678901234567890123456789x\"}}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *pod = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        ipd_task_t t;
        memset(&t, 0x33, sizeof(t));
        cr_assert_eq(ipd_kube_pod_map(pod, NULL, 0, 0, 1, &t), IPD_EINVAL, "case %zu", i);
        cr_assert_eq(t.state, 0x33);
        json_decref(pod);
    }
    ipd_task_t t;
    cr_assert_eq(ipd_kube_pod_map(NULL, NULL, 0, 0, 1, &t), IPD_EINVAL);
}

Test(kube_pod, wrong_types_in_optional_fields_never_crash)
{
    static const char *odd[] = {
        "{" POD_META ",\"status\":5}",
        "{" POD_META ",\"status\":{\"phase\":3,\"containerStatuses\":\"x\"}}",
        "{" POD_META ",\"status\":{\"containerStatuses\":[5,null,{\"state\":[]}]}}",
        "{" POD_META ",\"status\":{\"containerStatuses\":[{\"state\":{\"waiting\":{\"reason\":5}}}]}}",
        "{" POD_META ",\"status\":{\"conditions\":{\"type\":\"PodScheduled\"}}}",
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"labels\":[]},\"spec\":[]}",
    };
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        ipd_task_t t = map(load(odd[i]), NULL, 0, 0);
        cr_assert_eq(t.state, IPD_TASK_PENDING, "case %zu", i);
    }
}

Test(kube_pod, several_containers_need_all_pulled_and_any_failure_wins)
{
    ipd_task_t t = map(load("{" POD_META ",\"status\":{\"containerStatuses\":[{\"state\":{\"running\":{}}},"
                            "{\"state\":{\"waiting\":{\"reason\":\"ContainerCreating\"}}}]}}"),
                       NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_PENDING);
    t = map(load("{" POD_META ",\"status\":{\"containerStatuses\":[{\"state\":{\"running\":{}}},"
                 "{\"state\":{\"waiting\":{\"reason\":\"ErrImagePull\"}}}]}}"),
            NULL, 0, 0);
    cr_assert_eq(t.state, IPD_TASK_RETRYING);
}

Test(kube_pod, info_reads_identity_labels_and_deletion)
{
    json_t *pod =
        load("{\"metadata\":{\"name\":\"p1\",\"namespace\":\"ns\",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\","
             "\"labels\":{\"imgpulld.io/job\":\"pj-9\",\"imgpulld.io/node\":\"h-abc\"}},"
             "\"spec\":{\"nodeName\":\"worker.example.com\"}}");
    ipd_kube_pod_info_t info;
    cr_assert_eq(ipd_kube_pod_info(pod, &info), 0);
    cr_assert_str_eq(info.name, "p1");
    cr_assert_str_eq(info.ns, "ns");
    cr_assert_str_eq(info.node, "worker.example.com");
    cr_assert_str_eq(info.job_id, "pj-9");
    cr_assert_str_eq(info.node_label, "h-abc");
    cr_assert_eq(info.deleting, 1);
    json_decref(pod);
    ipd_task_t t = map(load("{\"metadata\":{\"name\":\"p1\",\"namespace\":\"ns\",\"labels\":{\"imgpulld.io/node\":"
                            "\"node-b\"}}}"),
                       NULL, 0, 0);
    cr_assert_str_eq(t.node, "node-b", "without spec.nodeName the node label names the node");
}

Test(kube_pod, event_parse_reads_core_and_events_api_shapes)
{
    json_t *core =
        load("{\"reason\":\"Pulled\",\"message\":\"Successfully pulled image \\\"a\\\" in 850ms. Image size: "
             "42 bytes.\",\"count\":3,\"lastTimestamp\":\"2026-11-27T10:00:00Z\",\"involvedObject\":"
             "{\"kind\":\"Pod\",\"name\":\"p1\",\"namespace\":\"imgpulld\"}}");
    ipd_kube_event_t e;
    cr_assert_eq(ipd_kube_event_parse(core, &e), 0);
    cr_assert_str_eq(e.reason, "Pulled");
    cr_assert_str_eq(e.pod, "p1");
    cr_assert_str_eq(e.ns, "imgpulld");
    cr_assert_str_eq(e.kind, "Pod");
    cr_assert_eq(e.count, 3);
    cr_assert_eq(e.time, INT64_C(1795773600000));
    cr_assert_eq(e.pull_ms, 850);
    cr_assert_eq(e.image_bytes, 42);
    json_decref(core);

    json_t *ev = load("{\"reason\":\"Pulling\",\"note\":\"Pulling image\",\"deprecatedCount\":4,\"eventTime\":"
                      "\"2026-11-27T10:00:00.250000Z\",\"regarding\":{\"name\":\"p2\"}}");
    cr_assert_eq(ipd_kube_event_parse(ev, &e), 0);
    cr_assert_str_eq(e.message, "Pulling image");
    cr_assert_str_eq(e.pod, "p2");
    cr_assert_eq(e.count, 4);
    cr_assert_eq(e.time, INT64_C(1795773600250));
    cr_assert_eq(e.pull_ms, IPD_UNKNOWN_I64);
    json_decref(ev);

    json_t *bare = load("{\"reason\":\"BackOff\",\"involvedObject\":{\"name\":\"p3\"},\"count\":-2,"
                        "\"lastTimestamp\":\"garbage\"}");
    cr_assert_eq(ipd_kube_event_parse(bare, &e), 0);
    cr_assert_eq(e.count, 1);
    cr_assert_eq(e.time, IPD_TIME_NULL);
    cr_assert_str_eq(e.message, "");
    json_decref(bare);
}

Test(kube_pod, event_parse_rejects_events_without_reason_or_object)
{
    static const char *bad[] = {"[]", "{}", "{\"reason\":\"Pulled\"}",
                                "{\"reason\":\"\",\"involvedObject\":{\"name\":\"p\"}}",
                                "{\"reason\":\"Pulled\",\"involvedObject\":{\"name\":5}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *v = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        ipd_kube_event_t e;
        cr_assert_eq(ipd_kube_event_parse(v, &e), IPD_EINVAL, "case %zu", i);
        json_decref(v);
    }
}

static int pulled(const char *msg, int64_t *ms, int64_t *bytes)
{
    *ms = *bytes = 4242;
    return ipd_kube_pulled_parse(msg, strlen(msg), ms, bytes);
}

Test(kube_pod, pulled_messages_of_every_kubelet_generation_are_read)
{
    int64_t ms, bytes;
    cr_assert_eq(
        pulled("Successfully pulled image \"x\" in 1.2s (1.5s including waiting). Image size: 123 bytes.", &ms, &bytes),
        0);
    cr_assert_eq(ms, 1200);
    cr_assert_eq(bytes, 123);
    cr_assert_eq(pulled("Successfully pulled image \"x\" in 1m2.5s (1m3s including waiting)", &ms, &bytes), 0);
    cr_assert_eq(ms, 62500);
    cr_assert_eq(bytes, IPD_UNKNOWN_I64);
    cr_assert_eq(pulled("Successfully pulled image \"registry:5000/x:1\" in 4.040977345s", &ms, &bytes), 0);
    cr_assert_eq(ms, 4040);
    cr_assert_eq(pulled("Successfully pulled image \"x\"", &ms, &bytes), 0);
    cr_assert_eq(ms, IPD_UNKNOWN_I64);
    cr_assert_eq(bytes, IPD_UNKNOWN_I64);
    cr_assert_eq(pulled("Container image \"x:1\" already present on machine", &ms, &bytes), 0);
    cr_assert_eq(ms, 0);
    cr_assert_eq(bytes, IPD_UNKNOWN_I64);
    cr_assert_eq(
        pulled("Container image \"x:1\" already present on machine and can be accessed by the pod", &ms, &bytes), 0);
}

Test(kube_pod, unreadable_pulled_messages_are_invalid)
{
    static const char *bad[] = {
        "",
        "Pulling image \"x\"",
        "Successfully pulled image \"x",
        "Successfully pulled image \"x\" in forever",
        "Successfully pulled image \"x\" in 2000000000s",
        "Successfully pulled image \"x\" in -1s",
        "Successfully pulled image \"x\" in 1s. Image size: lots bytes.",
        "Successfully pulled image \"x\" in 1s. Image size: 99999999999999999999 bytes.",
        "Successfully pulled image \"x\" in 1s. Image size: 12 kB.",
        "Container image \"x\" is not present",
        "Container image \"x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms, bytes;
        cr_assert_eq(pulled(bad[i], &ms, &bytes), IPD_EINVAL, "accepted \"%s\"", bad[i]);
        cr_assert_eq(ms, 4242);
        cr_assert_eq(bytes, 4242);
    }
}

/* Decodes `pod` again from its text, keeping only what ipd_kube_pod_shape keeps. */
static json_t *pruned_copy(const json_t *pod)
{
    char *text = json_dumps(pod, JSON_ENCODE_ANY);
    json_t *out = NULL;
    cr_assert_not_null(text);
    cr_assert_eq(ipd_json_prune_load(text, strlen(text), &ipd_kube_pod_shape, &out), 0, "refused %s", text);
    free(text);
    return out;
}

static const json_t *at(const json_t *v, const char *a, const char *b)
{
    return json_object_get(json_object_get(v, a), b);
}

/* Both absent, or equal. */
static int alike(const json_t *a, const json_t *b)
{
    return (a == NULL && b == NULL) || json_equal(a, b);
}

/* Whatever the reader does with a whole pod, it does the same with the pod pruned to its shape. */
static void assert_pruned_reads_alike(const json_t *pod, const char *what)
{
    json_t *pruned = pruned_copy(pod);
    ipd_kube_pod_info_t a, b;
    int rca = ipd_kube_pod_info(pod, &a), rcb = ipd_kube_pod_info(pruned, &b);
    cr_assert_eq(rca, rcb, "%s: info", what);
    if (rca == 0) {
        cr_assert_str_eq(a.ns, b.ns, "%s", what);
        cr_assert_str_eq(a.name, b.name, "%s", what);
        cr_assert_str_eq(a.node, b.node, "%s", what);
        cr_assert_str_eq(a.job_id, b.job_id, "%s", what);
        cr_assert_str_eq(a.node_label, b.node_label, "%s", what);
        cr_assert_eq(a.deleting, b.deleting, "%s", what);
    }
    ipd_kube_event_t evs[3] = {
        event("p1", "Pulling", "Pulling image \"nginx\"", 2, 10),
        event("p1", "Pulled", "Successfully pulled image \"nginx\" in 1.2s. Image size: 5 bytes.", 1, 20),
        event("p1", "BackOff", "Back-off", 1, 30),
    };
    /* With no event, Pulling, Pulling and Pulled, and BackOff alone; with and without a failed Job. */
    for (size_t nev = 0; nev <= 3; nev++) {
        for (int job_failed = 0; job_failed <= 1; job_failed++) {
            ipd_task_t ta, tb;
            memset(&ta, 0, sizeof(ta));
            memset(&tb, 0, sizeof(tb));
            const ipd_kube_event_t *list = nev == 3 ? evs + 2 : evs;
            size_t n = nev == 3 ? 1 : nev;
            rca = ipd_kube_pod_map(pod, list, n, job_failed, 777, &ta);
            rcb = ipd_kube_pod_map(pruned, list, n, job_failed, 777, &tb);
            cr_assert_eq(rca, rcb, "%s: map", what);
            cr_assert_eq(memcmp(&ta, &tb, sizeof(ta)), 0, "%s: task %s/%s vs %s/%s", what,
                         ipd_task_state_name((ipd_task_state_t)ta.state), ta.reason,
                         ipd_task_state_name((ipd_task_state_t)tb.state), tb.reason);
        }
    }
    /* The master's own reads. */
    cr_assert(alike(at(pod, "metadata", "creationTimestamp"), at(pruned, "metadata", "creationTimestamp")), "%s", what);
    cr_assert(alike(json_object_get(json_array_get(at(pod, "spec", "containers"), 0), "image"),
                    json_object_get(json_array_get(at(pruned, "spec", "containers"), 0), "image")),
              "%s", what);
    cr_assert(alike(at(pod, "status", "phase"), at(pruned, "status", "phase")), "%s", what);
    json_decref(pruned);
}

Test(kube_pod, pruned_pods_read_exactly_like_whole_pods)
{
    static const char *states[] = {
        "{\"waiting\":{\"reason\":\"ContainerCreating\"}}",
        "{\"waiting\":{\"reason\":\"ImagePullBackOff\",\"message\":\"Back-off pulling image \\\"x\\\"\"}}",
        "{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}",
        "{\"waiting\":{}}",
        "{\"running\":{\"startedAt\":\"2026-01-01T00:00:00Z\"}}",
        "{\"running\":\"not an object\"}",
        "{\"terminated\":{\"exitCode\":128,\"reason\":\"StartError\",\"message\":\"exec: no such file\"}}",
        "{\"terminated\":[]}",
        "[]",
    };
    static const char *phases[] = {"Pending", "Running", "Failed", "Succeeded"};
    for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++)
        for (size_t p = 0; p < sizeof(phases) / sizeof(phases[0]); p++) {
            json_t *pod = pod_with(phases[p], states[s]);
            assert_pruned_reads_alike(pod, states[s]);
            json_decref(pod);
        }
    static const char *pods[] = {
        "{" POD_META "}",
        "{" POD_META
        ",\"status\":{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"PodScheduled\",\"status\":\"False\","
        "\"reason\":\"Unschedulable\",\"message\":\"0/3 nodes\"},{\"type\":\"Ready\",\"status\":\"False\"}]}}",
        "{" POD_META ",\"status\":{\"phase\":\"Failed\",\"reason\":\"Evicted\",\"message\":\"low on disk\"}}",
        "{" POD_META ",\"status\":{\"containerStatuses\":[{\"state\":{\"waiting\":{\"reason\":\"ContainerCreating\"}},"
        "\"imageID\":\"docker.io/x@sha256:00\"}]}}",
        "{" POD_META ",\"status\":{\"containerStatuses\":[{\"state\":{\"waiting\":{\"reason\":\"ContainerCreating\"}},"
        "\"lastState\":{\"terminated\":{\"exitCode\":1}}}]}}",
        "{" POD_META ",\"status\":{\"containerStatuses\":[{\"state\":{\"running\":{}}},"
        "{\"state\":{\"waiting\":{\"reason\":\"ErrImagePull\"}}}]}}",
        "{" POD_META ",\"status\":5}",
        "{" POD_META
        ",\"status\":{\"phase\":3,\"containerStatuses\":\"x\",\"conditions\":{\"type\":\"PodScheduled\"}}}",
        "{" POD_META ",\"status\":{\"containerStatuses\":[5,null,{\"state\":[]},[{\"state\":{}}]]}}",
        "{\"metadata\":{\"name\":\"p1\",\"namespace\":\"ns\",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\","
        "\"creationTimestamp\":\"2026-01-01T00:00:00Z\",\"labels\":{\"imgpulld.io/job\":\"pj-9\",\"imgpulld.io/node\":"
        "\"h-abc\",\"other\":\"x\"},\"managedFields\":[{\"manager\":\"kubelet\"}]},\"spec\":{\"nodeName\":\"w\","
        "\"containers\":[{\"name\":\"pull\",\"image\":\"r/x:1\",\"env\":[]},{\"image\":\"second\"}]}}",
        "{\"metadata\":{\"name\":\"p1\",\"namespace\":\"ns\",\"deletionTimestamp\":null,\"labels\":{\"imgpulld.io/"
        "node\":"
        "\"node-b\"}},\"spec\":{\"containers\":{\"image\":\"x\"}}}",
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"labels\":[]},\"spec\":[]}",
        "{\"metadata\":{\"name\":\"p\"}}",
        "{\"metadata\":5}",
        "{}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(pods) / sizeof(pods[0]); i++) {
        json_t *pod = json_loads(pods[i], JSON_DECODE_ANY, NULL);
        cr_assert_not_null(pod, "case %zu", i);
        assert_pruned_reads_alike(pod, pods[i]);
        json_decref(pod);
    }
}

Test(kube_pod, the_helper_init_container_s_pull_is_not_the_task_s)
{
    json_t *obj = load("{\"reason\":\"Pulling\",\"message\":\"Pulling image \\\"busybox\\\"\",\"involvedObject\":"
                       "{\"kind\":\"Pod\",\"name\":\"p1\",\"fieldPath\":\"spec.initContainers{install-noop}\"}}");
    ipd_kube_event_t ev[2];
    cr_assert_eq(ipd_kube_event_parse(obj, &ev[0]), 0);
    cr_assert_eq(ev[0].init_container, 1);
    json_decref(obj);
    obj = load("{\"reason\":\"Pulled\",\"message\":\"Successfully pulled image \\\"busybox\\\" in 1s. Image size: 9 "
               "bytes.\",\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p1\",\"fieldPath\":"
               "\"spec.initContainers{install-noop}\"}}");
    cr_assert_eq(ipd_kube_event_parse(obj, &ev[1]), 0);
    json_decref(obj);
    ipd_task_t t = map(waiting("PodInitializing"), ev, 2, 0);
    cr_assert_eq(t.state, IPD_TASK_PENDING);
    cr_assert_eq(t.attempts, 0);
    cr_assert_eq(t.pull_ms, IPD_UNKNOWN_I64);
    obj = load("{\"reason\":\"Pulling\",\"message\":\"Pulling image \\\"app\\\"\",\"involvedObject\":"
               "{\"kind\":\"Pod\",\"name\":\"p1\",\"fieldPath\":\"spec.containers{pull}\"}}");
    cr_assert_eq(ipd_kube_event_parse(obj, &ev[0]), 0);
    cr_assert_eq(ev[0].init_container, 0);
    json_decref(obj);
    t = map(waiting("ContainerCreating"), ev, 2, 0);
    cr_assert_eq(t.state, IPD_TASK_PULLING);
    cr_assert_str_eq(t.message, "Pulling image \"app\"");
}
