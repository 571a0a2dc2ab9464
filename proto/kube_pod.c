#include "proto/error.h"
#include "proto/kube_pod.h"
#include "proto/json_get.h"

#include <stdio.h>
#include <string.h>

#define LABEL_JOB  "imgpulld.io/job"
#define LABEL_NODE "imgpulld.io/node"

/* What one container (or the pod as a whole) says about the pull. */
typedef enum verdict {
    WAITING = 0, /* nothing pulled yet */
    PULLED,      /* the image is on the node; the no-op has not finished */
    DONE,        /* the no-op ran and exited 0: the pull succeeded, for good */
    BROKEN,      /* the image is on the node but the container could not run or exited non-zero */
    FAILING,     /* the pull failed */
} verdict_t;

typedef struct observation {
    verdict_t verdict;
    const char *reason, *message; /* borrowed from the pod JSON */
} observation_t;

static const char *const pull_failures[] = {
    "ErrImagePull",        "ImagePullBackOff",  "InvalidImageName",          "ErrImageNeverPull",
    "RegistryUnavailable", "ImageInspectError", "SignatureValidationFailed",
};
static const char *const after_pull[] = {
    "CreateContainerError", "CreateContainerConfigError", "RunContainerError",  "StartError",
    "CrashLoopBackOff",     "PreStartHookError",          "PostStartHookError", "PreCreateHookError",
};

static int one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return 1;
    return 0;
}

/* What of a Pod this file and the master read, member by member (see ipd_kube_pod_shape). */
static const ipd_json_shape_t any_object_shape = IPD_JSON_EMPTY_OBJECT_SHAPE; /* only json_is_object() is asked */
static const ipd_json_field_t text_fields[] = {{"reason", NULL}, {"message", NULL}};
static const ipd_json_shape_t text_shape = IPD_JSON_OBJECT_SHAPE(text_fields);
static const ipd_json_field_t terminated_fields[] = {{"reason", NULL}, {"message", NULL}, {"exitCode", NULL}};
static const ipd_json_shape_t terminated_shape = IPD_JSON_OBJECT_SHAPE(terminated_fields);
static const ipd_json_field_t state_fields[] = {
    {"waiting", &text_shape}, {"terminated", &terminated_shape}, {"running", &any_object_shape}};
static const ipd_json_shape_t state_shape = IPD_JSON_OBJECT_SHAPE(state_fields);
static const ipd_json_field_t last_state_fields[] = {{"terminated", &any_object_shape}};
static const ipd_json_shape_t last_state_shape = IPD_JSON_OBJECT_SHAPE(last_state_fields);
static const ipd_json_field_t container_status_fields[] = {
    {"state", &state_shape}, {"lastState", &last_state_shape}, {"imageID", NULL}};
static const ipd_json_shape_t container_status_shape = IPD_JSON_OBJECT_SHAPE(container_status_fields);
static const ipd_json_shape_t container_statuses_shape = IPD_JSON_ARRAY_SHAPE(&container_status_shape);
static const ipd_json_field_t condition_fields[] = {
    {"type", NULL}, {"status", NULL}, {"reason", NULL}, {"message", NULL}};
static const ipd_json_shape_t condition_shape = IPD_JSON_OBJECT_SHAPE(condition_fields);
static const ipd_json_shape_t conditions_shape = IPD_JSON_ARRAY_SHAPE(&condition_shape);
static const ipd_json_field_t status_fields[] = {{"phase", NULL},
                                                 {"reason", NULL},
                                                 {"message", NULL},
                                                 {"containerStatuses", &container_statuses_shape},
                                                 {"conditions", &conditions_shape}};
static const ipd_json_shape_t status_shape = IPD_JSON_OBJECT_SHAPE(status_fields);
static const ipd_json_field_t container_fields[] = {{"image", NULL}}; /* the master reads the first one's */
static const ipd_json_shape_t container_shape = IPD_JSON_OBJECT_SHAPE(container_fields);
static const ipd_json_shape_t containers_shape = IPD_JSON_ARRAY_SHAPE(&container_shape);
static const ipd_json_field_t spec_fields[] = {{"nodeName", NULL}, {"containers", &containers_shape}};
static const ipd_json_shape_t spec_shape = IPD_JSON_OBJECT_SHAPE(spec_fields);
static const ipd_json_field_t label_fields[] = {{LABEL_JOB, NULL}, {LABEL_NODE, NULL}};
static const ipd_json_shape_t labels_shape = IPD_JSON_OBJECT_SHAPE(label_fields);
/* deletionTimestamp is kept whole: only whether it is there and not null matters. */
static const ipd_json_field_t metadata_fields[] = {{"name", NULL},
                                                   {"namespace", NULL},
                                                   {"labels", &labels_shape},
                                                   {"deletionTimestamp", NULL},
                                                   {"creationTimestamp", NULL}};
static const ipd_json_shape_t metadata_shape = IPD_JSON_OBJECT_SHAPE(metadata_fields);
static const ipd_json_field_t pod_fields[] = {
    {"metadata", &metadata_shape}, {"spec", &spec_shape}, {"status", &status_shape}};
const ipd_json_shape_t ipd_kube_pod_shape = IPD_JSON_OBJECT_SHAPE(pod_fields);

/* Copies an identifier that must fit whole; NULL copies as "". */
static int copy_id(char *dst, size_t cap, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;
    if (n >= cap)
        return IPD_EINVAL;
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
    return 0;
}

int ipd_kube_pod_info(const json_t *pod, ipd_kube_pod_info_t *out)
{
    const json_t *meta = json_object_get(pod, "metadata");
    const json_t *labels = json_object_get(meta, "labels");
    const char *name = ipd_json_str_at(meta, "name", NULL), *ns = ipd_json_str_at(meta, "namespace", NULL);
    ipd_kube_pod_info_t info;
    if (!json_is_object(meta) || name == NULL || ns == NULL || name[0] == '\0' || ns[0] == '\0')
        return IPD_EINVAL;
    memset(&info, 0, sizeof(info));
    if (copy_id(info.name, sizeof(info.name), name) != 0 || copy_id(info.ns, sizeof(info.ns), ns) != 0 ||
        copy_id(info.node, sizeof(info.node), ipd_json_str_at(json_object_get(pod, "spec"), "nodeName", NULL)) != 0 ||
        copy_id(info.job_id, sizeof(info.job_id), ipd_json_str_at(labels, LABEL_JOB, NULL)) != 0 ||
        copy_id(info.node_label, sizeof(info.node_label), ipd_json_str_at(labels, LABEL_NODE, NULL)) != 0)
        return IPD_EINVAL;
    const json_t *del = json_object_get(meta, "deletionTimestamp");
    info.deleting = del != NULL && !json_is_null(del);
    *out = info;
    return 0;
}

static observation_t observe_container(const json_t *cs)
{
    const json_t *state = json_object_get(cs, "state");
    const json_t *waiting = json_object_get(state, "waiting");
    const json_t *terminated = json_object_get(state, "terminated");
    const char *image_id = ipd_json_str_at(cs, "imageID", NULL);
    observation_t o = {WAITING, NULL, NULL};
    if (json_is_object(waiting)) {
        o.reason = ipd_json_str_at(waiting, "reason", NULL);
        o.message = ipd_json_str_at(waiting, "message", NULL);
        if (one_of(o.reason, pull_failures, sizeof(pull_failures) / sizeof(pull_failures[0])))
            o.verdict = FAILING;
        else if (one_of(o.reason, after_pull, sizeof(after_pull) / sizeof(after_pull[0])))
            o.verdict = BROKEN;
    } else if (json_is_object(terminated)) {
        const json_t *code = json_object_get(terminated, "exitCode");
        o.verdict = json_is_integer(code) && json_integer_value(code) == 0 ? DONE : BROKEN;
        o.reason = ipd_json_str_at(terminated, "reason", NULL);
        o.message = ipd_json_str_at(terminated, "message", NULL);
    } else if (json_is_object(json_object_get(state, "running"))) {
        o.verdict = PULLED;
    }
    if (o.verdict == WAITING && ((image_id != NULL && image_id[0] != '\0') ||
                                 json_is_object(json_object_get(json_object_get(cs, "lastState"), "terminated"))))
        o.verdict = PULLED;
    return o;
}

/* Failure dominates, then a container that could not run; the pod is done only when every
 * container is, and pulled when every container is pulled or done. */
static observation_t observe_containers(const json_t *status)
{
    const json_t *list = json_object_get(status, "containerStatuses"), *cs;
    observation_t none = {WAITING, NULL, NULL}, first_waiting = none, first_pulled = none, first_done = none;
    observation_t broken = none;
    size_t i, pulled = 0, done = 0, n = json_array_size(list);
    json_array_foreach(list, i, cs)
    {
        observation_t o = observe_container(cs);
        if (o.verdict == FAILING)
            return o;
        if (o.verdict == BROKEN && broken.verdict == WAITING)
            broken = o;
        if (o.verdict == DONE && done++ == 0)
            first_done = o;
        if (o.verdict == PULLED && pulled++ == 0)
            first_pulled = o;
        if (o.verdict == WAITING && first_waiting.reason == NULL)
            first_waiting = o;
    }
    if (broken.verdict == BROKEN)
        return broken;
    if (n > 0 && done == n)
        return first_done;
    if (n > 0 && pulled + done == n)
        return pulled > 0 ? first_pulled : first_done;
    return first_waiting;
}

/* The scheduler's verdict on a pod that has no container status yet. */
static observation_t observe_scheduling(const json_t *status)
{
    const json_t *c;
    size_t i;
    observation_t o = {WAITING, NULL, NULL};
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        const char *type = ipd_json_str_at(c, "type", NULL), *st = ipd_json_str_at(c, "status", NULL);
        if (type != NULL && st != NULL && strcmp(type, "PodScheduled") == 0 && strcmp(st, "False") == 0) {
            o.reason = ipd_json_str_at(c, "reason", NULL);
            o.message = ipd_json_str_at(c, "message", NULL);
        }
    }
    return o;
}

typedef struct event_summary {
    uint64_t pulling_count;
    const ipd_kube_event_t *pulling, *pulled, *pulled_sizes;
    const ipd_kube_event_t *pull_failed; /* the last "Failed to pull image" */
} event_summary_t;

/* The kubelet's Event of a failed pull: reason Failed, message `Failed to pull image "IMAGE":
 * ERROR`, where ERROR is what the container status said under ErrImagePull
 * (pkg/kubelet/images/image_manager.go). Returns ERROR, or NULL for another Event. */
static const char *pull_error(const ipd_kube_event_t *e)
{
    static const char prefix[] = "Failed to pull image \"";
    if (strcmp(e->reason, "Failed") != 0 || strncmp(e->message, prefix, sizeof(prefix) - 1) != 0)
        return NULL;
    const char *end = strstr(e->message + sizeof(prefix) - 1, "\": ");
    return end != NULL && end[3] != '\0' ? end + 3 : NULL;
}

static int later(const ipd_kube_event_t *a, const ipd_kube_event_t *than)
{
    return than == NULL || a->time >= than->time;
}

static event_summary_t summarize(const ipd_kube_event_t *events, size_t n, const ipd_kube_pod_info_t *info)
{
    event_summary_t s = {0, NULL, NULL, NULL, NULL};
    for (size_t i = 0; i < n; i++) {
        const ipd_kube_event_t *e = &events[i];
        if (e->init_container || strcmp(e->pod, info->name) != 0 ||
            (e->ns[0] != '\0' && strcmp(e->ns, info->ns) != 0) || (e->kind[0] != '\0' && strcmp(e->kind, "Pod") != 0))
            continue;
        if (strcmp(e->reason, "Pulling") == 0) {
            s.pulling_count += e->count;
            if (later(e, s.pulling))
                s.pulling = e;
        } else if (strcmp(e->reason, "Pulled") == 0) {
            if (later(e, s.pulled))
                s.pulled = e;
            if ((e->pull_ms >= 0 || e->image_bytes >= 0) && later(e, s.pulled_sizes))
                s.pulled_sizes = e;
        } else if (pull_error(e) != NULL && later(e, s.pull_failed)) {
            s.pull_failed = e;
        }
    }
    return s;
}

static void set_text(ipd_task_t *t, const char *reason, const char *message)
{
    ipd_strlcpy_utf8(t->reason, reason != NULL ? reason : "", sizeof(t->reason));
    ipd_strlcpy_utf8(t->message, message != NULL ? message : "", sizeof(t->message));
}

int ipd_kube_pod_map(const json_t *pod, const ipd_kube_event_t *events, size_t nevents, int job_failed, int64_t now,
                     ipd_task_t *task)
{
    ipd_kube_pod_info_t info;
    int rc = ipd_kube_pod_info(pod, &info);
    if (rc != 0)
        return rc;
    const json_t *status = json_object_get(pod, "status");
    const char *phase = ipd_json_str_at(status, "phase", NULL);
    int phase_failed = phase != NULL && strcmp(phase, "Failed") == 0;
    int phase_succeeded = phase != NULL && strcmp(phase, "Succeeded") == 0;
    event_summary_t ev = summarize(events, nevents, &info);
    observation_t o = observe_containers(status);
    ipd_task_t t;

    ipd_task_init(&t, info.node[0] != '\0' ? info.node : info.node_label, now);
    memcpy(t.ns, info.ns, sizeof(t.ns));
    memcpy(t.pod, info.name, sizeof(t.pod));
    const char *pod_reason = ipd_json_str_at(status, "reason", NULL);
    /* Only what cannot be overturned is final: the no-op's exit 0 (or phase Succeeded) for
     * success, the Job's Failed condition for failure. A failed pod alone is one failed attempt:
     * the Job may start another. */
    int timed_out = phase_failed && pod_reason != NULL && strcmp(pod_reason, "DeadlineExceeded") == 0;
    if (timed_out) {
        t.state = job_failed ? IPD_TASK_FAILED : IPD_TASK_RETRYING;
        set_text(&t, pod_reason, ipd_json_str_at(status, "message", NULL));
    } else if (o.verdict == FAILING || o.verdict == BROKEN) {
        t.state = job_failed ? IPD_TASK_FAILED : IPD_TASK_RETRYING;
        set_text(&t, o.reason, o.message);
    } else if (o.verdict == DONE || phase_succeeded) {
        t.state = IPD_TASK_SUCCEEDED;
        set_text(&t, IPD_REASON_PULLED, IPD_MESSAGE_PULLED);
    } else if (!job_failed && (o.verdict == PULLED || ev.pulled != NULL)) {
        t.state = IPD_TASK_PULLING;
        if (ev.pulled != NULL)
            set_text(&t, ev.pulled->reason, ev.pulled->message);
        else
            set_text(&t, o.reason, o.message);
    } else if (phase_failed) {
        t.state = job_failed ? IPD_TASK_FAILED : IPD_TASK_RETRYING;
        const char *reason = ipd_json_str_at(status, "reason", NULL);
        set_text(&t, reason != NULL && reason[0] != '\0' ? reason : "PodFailed",
                 ipd_json_str_at(status, "message", NULL));
    } else if (job_failed) {
        t.state = IPD_TASK_FAILED;
        set_text(&t, "JobFailed", "the Kubernetes Job failed before the image was pulled");
    } else if (ev.pulling != NULL) {
        t.state = IPD_TASK_PULLING;
        set_text(&t, ev.pulling->reason, ev.pulling->message);
    } else {
        if (o.reason == NULL)
            o = observe_scheduling(status);
        set_text(&t, o.reason, o.message);
    }
    uint64_t attempts = ev.pulling_count;
    if (attempts == 0 && t.state != IPD_TASK_PENDING)
        attempts = 1;
    t.attempts = attempts > UINT32_MAX ? UINT32_MAX : (uint32_t)attempts;
    if (ev.pulled_sizes != NULL) {
        t.pull_ms = ev.pulled_sizes->pull_ms;
        t.image_bytes = ev.pulled_sizes->image_bytes;
    }
    /* The registry's words, also when the status shows only the back-off that replaced them (a
     * pods watch that was behind delivers the ErrImagePull status merged into a later one). */
    if (ev.pull_failed != NULL) {
        ipd_strlcpy_utf8(t.fail_reason, "ErrImagePull", sizeof(t.fail_reason));
        ipd_strlcpy_utf8(t.fail_message, pull_error(ev.pull_failed), sizeof(t.fail_message));
    }
    *task = t;
    return 0;
}

int ipd_kube_pull_failing(const ipd_task_t *task)
{
    static const char *const reasons[] = {
        "ErrImagePull",        "ImagePullBackOff",  "InvalidImageName",         "ErrImageNeverPull",
        "RegistryUnavailable", "ImageInspectError", "SignatureValidationFailed"};
    if (task->state != IPD_TASK_RETRYING)
        return 0;
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (strcmp(task->reason, reasons[i]) == 0)
            return 1;
    return 0;
}

int ipd_kube_pull_exhausted(const ipd_task_t *task, int32_t backoff_limit, char *message, size_t cap)
{
    if (!ipd_kube_pull_failing(task) || task->attempts < (uint32_t)backoff_limit + 1)
        return 0;
    /* Name the registry's words (the last failure), not the back-off that replaced them. */
    char msg[IPD_MESSAGE_SIZE * 2 + IPD_REASON_SIZE + 96];
    if (task->fail_message[0] != '\0')
        snprintf(msg, sizeof(msg), "gave up after %u attempts (backoff_limit %d): %s: %s", task->attempts,
                 (int)backoff_limit, task->fail_reason, task->fail_message);
    else
        snprintf(msg, sizeof(msg), "gave up after %u attempts (backoff_limit %d): %s", task->attempts,
                 (int)backoff_limit, task->message);
    ipd_strlcpy_utf8(message, msg, cap);
    return 1;
}
