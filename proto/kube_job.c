#include "proto/kube_job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"
#include "proto/rfc3339.h"
#include "proto/pull_request.h"
#include "proto/json_get.h"

#define NAME_MAX_LEN 56 /* pods append "-xxxxx"; the job-name label must stay <= 63 */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

void ipd_kube_job_name(const char *job_id, const char *node, char out[IPD_KUBE_JOB_NAME_SIZE])
{
    int n = snprintf(out, IPD_KUBE_JOB_NAME_SIZE, "imgpull-%s-", job_id);
    size_t used = n < 0 ? 0 : (size_t)n, nodelen = strlen(node);
    int exact = used + nodelen <= NAME_MAX_LEN;
    /* Dots are legal in Job names but not in the job-name label of its pods. */
    size_t keep = exact ? nodelen : (NAME_MAX_LEN > used + 9 ? NAME_MAX_LEN - used - 9 : 0);
    for (size_t i = 0; i < keep; i++) {
        char c = node[i];
        if (c == '.')
            exact = 0;
        out[used++] = c == '.' ? '-' : c;
    }
    while (used > 0 && out[used - 1] == '-')
        used--;
    if (!exact)
        used += (size_t)snprintf(out + used, IPD_KUBE_JOB_NAME_SIZE - used, "-%08x", (unsigned)fnv1a(node));
    out[used] = '\0';
}

void ipd_kube_node_label(const char *node, char out[64])
{
    if (ipd_is_label_value(node) && strlen(node) < 64)
        snprintf(out, 64, "%s", node);
    else
        snprintf(out, 64, "h-%016llx", (unsigned long long)fnv1a(node));
}

static json_t *secrets_json(const char *list)
{
    json_t *arr = json_array();
    char buf[IPD_SECRETS_SIZE];
    snprintf(buf, sizeof(buf), "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
        json_array_append_new(arr, json_pack("{s:s}", "name", tok));
    return arr;
}

const ipd_kube_pod_config_t ipd_kube_pod_config_default = {
    .helper_image = "docker.io/library/busybox:1.36.1-musl",
    .helper_noop = "/bin/true",
    .helper_copy = "/bin/cp",
    .uid = 65532,
    .tolerations = NULL,
    .ntolerations = 0,
    .ttl_seconds_after_finished = 3600,
};

static int effect_ok(const char *e)
{
    return strcmp(e, "NoSchedule") == 0 || strcmp(e, "PreferNoSchedule") == 0 || strcmp(e, "NoExecute") == 0;
}

int ipd_kube_toleration_parse(const char *text, json_t **out, char *why, size_t cap)
{
    char buf[IPD_TOLERATION_SIZE];
    if (out != NULL)
        *out = NULL;
    if (strlen(text) >= sizeof(buf)) {
        snprintf(why, cap, "is longer than %zu characters", sizeof(buf) - 1);
        return IPD_EINVAL;
    }
    snprintf(buf, sizeof(buf), "%s", text);
    /* The effect follows the last ':' (keys have none: a prefix is "example.com/name"). */
    char *effect = strrchr(buf, ':');
    if (effect != NULL)
        *effect++ = '\0';
    char *value = strchr(buf, '=');
    if (value != NULL)
        *value++ = '\0';
    int any_key = strcmp(buf, "*") == 0;
    if (effect != NULL && !effect_ok(effect)) {
        snprintf(why, cap, "effect must be NoSchedule, PreferNoSchedule or NoExecute, got \"%s\"", effect);
        return IPD_EINVAL;
    }
    if (!any_key && !ipd_is_label_key(buf)) {
        snprintf(why, cap, "must be *, key, key=value, optionally followed by :Effect; \"%s\" is not a label key", buf);
        return IPD_EINVAL;
    }
    if (value != NULL && (any_key || !ipd_is_label_value(value))) {
        snprintf(why, cap, any_key ? "* takes no value" : "\"%s\" is not a label value", value);
        return IPD_EINVAL;
    }
    if (out == NULL)
        return 0;
    json_t *t = json_object();
    if (t == NULL)
        return -ENOMEM;
    if (!any_key)
        json_object_set_new(t, "key", json_string(buf));
    json_object_set_new(t, "operator", json_string(value != NULL ? "Equal" : "Exists"));
    if (value != NULL)
        json_object_set_new(t, "value", json_string(value));
    if (effect != NULL)
        json_object_set_new(t, "effect", json_string(effect));
    *out = t;
    return 0;
}

static json_t *resources_json(void)
{
    return json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "requests", "cpu", IPD_PULL_CPU_REQUEST, "memory",
                     IPD_PULL_MEMORY_REQUEST, "limits", "cpu", IPD_PULL_CPU_LIMIT, "memory", IPD_PULL_MEMORY_LIMIT);
}

/* Every container of a pull pod: nothing it could use to gain anything on the node. */
static json_t *container_security_json(void)
{
    return json_pack("{s:b, s:b, s:b, s:{s:[s]}}", "allowPrivilegeEscalation", 0, "readOnlyRootFilesystem", 1,
                     "runAsNonRoot", 1, "capabilities", "drop", "ALL");
}

static json_t *tolerations_json(const ipd_kube_pod_config_t *pod)
{
    json_t *arr = json_array();
    char why[160];
    for (size_t i = 0; arr != NULL && i < pod->ntolerations; i++) {
        json_t *t;
        if (ipd_kube_toleration_parse(pod->tolerations[i], &t, why, sizeof(why)) != 0) {
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, t);
    }
    return arr;
}

static json_t *pod_spec_json(const ipd_job_t *job, const char *node, const ipd_kube_pod_config_t *pod)
{
    const char *base = strrchr(pod->helper_noop, '/');
    char noop[256];
    /* The copy keeps the program's name: a multi-call binary (busybox) picks its applet by it. */
    snprintf(noop, sizeof(noop), "%s/%s", IPD_PULL_BIN_DIR, base != NULL ? base + 1 : pod->helper_noop);
    json_t *tolerations = tolerations_json(pod);
    if (tolerations == NULL)
        return NULL;
    json_t *init = json_pack("{s:s, s:s, s:s, s:[s, s, s], s:o, s:o, s:[{s:s, s:s}]}", "name", "install-noop", "image",
                             pod->helper_image, "imagePullPolicy", "IfNotPresent", "command", pod->helper_copy,
                             pod->helper_noop, noop, "securityContext", container_security_json(), "resources",
                             resources_json(), "volumeMounts", "name", IPD_PULL_VOLUME, "mountPath", IPD_PULL_BIN_DIR);
    json_t *pull =
        json_pack("{s:s, s:s, s:s, s:[s], s:o, s:o, s:[{s:s, s:s, s:b}]}", "name", "pull", "image", job->image,
                  "imagePullPolicy", ipd_pull_policy_name((ipd_pull_policy_t)job->pull_policy), "command", noop,
                  "securityContext", container_security_json(), "resources", resources_json(), "volumeMounts", "name",
                  IPD_PULL_VOLUME, "mountPath", IPD_PULL_BIN_DIR, "readOnly", 1);
    json_t *security = json_pack("{s:b, s:I, s:I, s:{s:s}}", "runAsNonRoot", 1, "runAsUser", (json_int_t)pod->uid,
                                 "runAsGroup", (json_int_t)pod->uid, "seccompProfile", "type", "RuntimeDefault");
    json_t *spec = json_pack("{s:s, s:s, s:b, s:b, s:i, s:o, s:o, s:[{s:s, s:{s:s}}], s:[o], s:[o]}", "nodeName", node,
                             "restartPolicy", "Never", "automountServiceAccountToken", 0, "enableServiceLinks", 0,
                             "terminationGracePeriodSeconds", 0, "securityContext", security, "tolerations",
                             tolerations, "volumes", "name", IPD_PULL_VOLUME, "emptyDir", "sizeLimit",
                             IPD_PULL_VOLUME_LIMIT, "initContainers", init, "containers", pull);
    if (spec != NULL && job->spec.pull_secrets[0] != '\0')
        json_object_set_new(spec, "imagePullSecrets", secrets_json(job->spec.pull_secrets));
    /* The per-attempt timeout is the pod's deadline: the kubelet fails a pod that was active on
     * its node longer (reason DeadlineExceeded), and the Job counts it against backoffLimit. */
    if (spec != NULL && job->spec.timeout_seconds > 0)
        json_object_set_new(spec, "activeDeadlineSeconds", json_integer(job->spec.timeout_seconds));
    return spec;
}

json_t *ipd_kube_job_manifest(const ipd_job_t *job, const char *node, const char *ns, uint32_t node_count, int suspend,
                              const ipd_kube_pod_config_t *pod)
{
    char name[IPD_KUBE_JOB_NAME_SIZE], label[64], created[40], num[3][16];
    if (pod == NULL)
        pod = &ipd_kube_pod_config_default;
    ipd_kube_job_name(job->id, node, name);
    ipd_kube_node_label(node, label);
    ipd_time_format(job->created_at, created, sizeof(created));
    snprintf(num[0], sizeof(num[0]), "%u", node_count);
    snprintf(num[1], sizeof(num[1]), "%d", (int)job->spec.timeout_seconds);
    snprintf(num[2], sizeof(num[2]), "%d", (int)job->spec.parallelism);

    json_t *podspec = pod_spec_json(job, node, pod);
    if (podspec == NULL)
        return NULL;
    json_t *labels = json_pack("{s:s, s:s}", IPD_LABEL_JOB, job->id, IPD_LABEL_NODE, label);
    json_t *spec = json_pack("{s:i, s:b, s:{s:{s:O}, s:o}}", "backoffLimit", (int)job->spec.backoff_limit, "suspend",
                             suspend, "template", "metadata", "labels", labels, "spec", podspec);
    if (job->spec.deadline_seconds > 0)
        json_object_set_new(spec, "activeDeadlineSeconds", json_integer(job->spec.deadline_seconds));
    int32_t ttl = job->spec.ttl_seconds_after_finished >= 0 ? job->spec.ttl_seconds_after_finished
                                                            : pod->ttl_seconds_after_finished;
    /* A keep job's Jobs stay: one deleted by anyone but the master is the job's cancellation. */
    if (ttl >= 0 && !job->keep)
        json_object_set_new(spec, "ttlSecondsAfterFinished", json_integer(ttl));
    json_t *annotations = json_pack("{s:s, s:s, s:s, s:s, s:s}", IPD_LABEL_NODE, node, "imgpulld.io/created-at",
                                    created, "imgpulld.io/node-count", num[0], "imgpulld.io/timeout-seconds", num[1],
                                    "imgpulld.io/parallelism", num[2]);
    if (job->keep) {
        char refresh[16];
        snprintf(refresh, sizeof(refresh), "%d", (int)job->spec.refresh_seconds);
        json_object_set_new(annotations, IPD_ANNOTATION_KEEP, json_string("true"));
        json_object_set_new(annotations, IPD_ANNOTATION_REFRESH, json_string(refresh));
    }
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:o}, s:o}", "apiVersion", "batch/v1", "kind", "Job", "metadata",
                     "name", name, "namespace", ns, "labels", labels, "annotations", annotations, "spec", spec);
}

json_t *ipd_kube_job_anchor_manifest(const ipd_job_t *job, const char *ns, const char *selection,
                                     const ipd_kube_pod_config_t *pod)
{
    char name[IPD_KUBE_JOB_NAME_SIZE];
    json_t *m = ipd_kube_job_manifest(job, "anchor", ns, 0, 1, pod);
    if (m == NULL)
        return NULL;
    json_t *meta = json_object_get(m, "metadata"), *spec = json_object_get(m, "spec");
    json_t *labels = json_object_get(meta, "labels"); /* the template's labels too: one object */
    json_t *podspec = json_object_get(json_object_get(spec, "template"), "spec");
    ipd_kube_job_name(job->id, "", name);
    if (json_object_set_new(meta, "name", json_string(name)) != 0 || json_object_del(labels, IPD_LABEL_NODE) != 0 ||
        json_object_set_new(labels, IPD_LABEL_ANCHOR, json_string("true")) != 0 ||
        json_object_del(json_object_get(meta, "annotations"), IPD_LABEL_NODE) != 0 ||
        json_object_del(podspec, "nodeName") != 0 || json_object_set_new(spec, "parallelism", json_integer(0)) != 0 ||
        ipd_kube_job_set_selection(m, selection) != 0) {
        json_decref(m);
        return NULL;
    }
    return m;
}

int ipd_kube_job_set_selection(json_t *manifest, const char *selection)
{
    json_t *ann = json_object_get(json_object_get(manifest, "metadata"), "annotations");
    return json_object_set_new(ann, IPD_ANNOTATION_SELECTION, json_string(selection)) == 0 ? 0 : -ENOMEM;
}

static int32_t int_at(const json_t *obj, const char *key, int32_t dflt)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int32_t)json_integer_value(v) : dflt;
}

static int32_t annotation_int(const json_t *ann, const char *key)
{
    const char *s = ipd_json_str_at(ann, key, NULL);
    return s != NULL ? (int32_t)strtol(s, NULL, 10) : 0;
}

static void read_conditions(const json_t *status, ipd_kube_job_info_t *out)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        const char *type = ipd_json_str_at(c, "type", NULL), *st = ipd_json_str_at(c, "status", NULL);
        if (type == NULL || st == NULL || strcmp(st, "True") != 0)
            continue;
        int complete = strcmp(type, "Complete") == 0, failed = strcmp(type, "Failed") == 0;
        const char *at = complete || failed ? ipd_json_str_at(c, "lastTransitionTime", NULL) : NULL;
        int64_t ms;
        if (at != NULL && ipd_time_parse(at, strlen(at), &ms) == 0 &&
            (out->ended_at == IPD_TIME_NULL || ms < out->ended_at))
            out->ended_at = ms;
        if (complete) {
            out->complete = 1;
        } else if (failed) {
            out->failed = 1;
            ipd_strlcpy_utf8(out->failed_reason,
                             ipd_json_str_at(c, "reason", NULL) ? ipd_json_str_at(c, "reason", NULL) : "",
                             sizeof(out->failed_reason));
            ipd_strlcpy_utf8(out->failed_message,
                             ipd_json_str_at(c, "message", NULL) ? ipd_json_str_at(c, "message", NULL) : "",
                             sizeof(out->failed_message));
        }
    }
}

static void read_pod_template(const json_t *podspec, ipd_kube_job_info_t *out)
{
    const json_t *c0 = json_array_get(json_object_get(podspec, "containers"), 0);
    const char *image = ipd_json_str_at(c0, "image", NULL), *policy = ipd_json_str_at(c0, "imagePullPolicy", NULL);
    ipd_strlcpy_utf8(out->image, image ? image : "", sizeof(out->image));
    int p = policy ? ipd_pull_policy_parse(policy, strlen(policy)) : -1;
    out->pull_policy = (uint8_t)(p < 0 ? IPD_PULL_IF_NOT_PRESENT : p);
    size_t i, used = 0;
    const json_t *s;
    json_array_foreach(json_object_get(podspec, "imagePullSecrets"), i, s)
    {
        const char *name = ipd_json_str_at(s, "name", NULL);
        size_t len = name ? strlen(name) : 0;
        if (len == 0 || used + len + 1 >= sizeof(out->spec.pull_secrets))
            continue;
        if (used > 0)
            out->spec.pull_secrets[used++] = ',';
        memcpy(out->spec.pull_secrets + used, name, len + 1);
        used += len;
    }
}

const json_t *ipd_kube_job_tolerations(const json_t *obj)
{
    const json_t *tol = json_object_get(
        json_object_get(json_object_get(json_object_get(obj, "spec"), "template"), "spec"), "tolerations");
    return json_is_array(tol) ? tol : NULL;
}

int ipd_kube_job_parse(const json_t *obj, ipd_kube_job_info_t *out)
{
    memset(out, 0, sizeof(*out));
    const json_t *meta = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec");
    const json_t *labels = json_object_get(meta, "labels"), *ann = json_object_get(meta, "annotations");
    const json_t *podspec = json_object_get(json_object_get(spec, "template"), "spec");
    const char *id = ipd_json_str_at(labels, IPD_LABEL_JOB, NULL), *name = ipd_json_str_at(meta, "name", NULL);
    const char *node = ipd_json_str_at(ann, IPD_LABEL_NODE, NULL),
               *anchor = ipd_json_str_at(labels, IPD_LABEL_ANCHOR, NULL);
    out->anchor = anchor != NULL && strcmp(anchor, "true") == 0;
    if (node == NULL)
        node = out->anchor ? "" : ipd_json_str_at(podspec, "nodeName", NULL);
    if (id == NULL || name == NULL || node == NULL || !json_is_object(podspec) || strlen(id) >= IPD_JOB_ID_SIZE)
        return IPD_EINVAL;
    ipd_strlcpy_utf8(out->job_id, id, sizeof(out->job_id));
    ipd_strlcpy_utf8(out->node, node, sizeof(out->node));
    ipd_strlcpy_utf8(out->name, name, sizeof(out->name));
    ipd_strlcpy_utf8(out->ns, ipd_json_str_at(meta, "namespace", NULL) ? ipd_json_str_at(meta, "namespace", NULL) : "",
                     sizeof(out->ns));
    const char *created = ipd_json_str_at(ann, "imgpulld.io/created-at", NULL);
    if (created == NULL || ipd_time_parse(created, strlen(created), &out->created_at) != 0) {
        created = ipd_json_str_at(meta, "creationTimestamp", NULL);
        if (created == NULL || ipd_time_parse(created, strlen(created), &out->created_at) != 0)
            out->created_at = IPD_TIME_NULL;
    }
    out->node_count = (uint32_t)annotation_int(ann, "imgpulld.io/node-count");
    out->spec.timeout_seconds = annotation_int(ann, "imgpulld.io/timeout-seconds");
    out->spec.parallelism = annotation_int(ann, "imgpulld.io/parallelism");
    out->spec.backoff_limit = int_at(spec, "backoffLimit", 6);
    out->spec.deadline_seconds = int_at(spec, "activeDeadlineSeconds", 0);
    out->spec.ttl_seconds_after_finished = int_at(spec, "ttlSecondsAfterFinished", -1);
    const char *keep = ipd_json_str_at(ann, IPD_ANNOTATION_KEEP, NULL),
               *selection = ipd_json_str_at(ann, IPD_ANNOTATION_SELECTION, NULL);
    out->keep = keep != NULL && strcmp(keep, "true") == 0;
    out->spec.refresh_seconds = annotation_int(ann, IPD_ANNOTATION_REFRESH);
    if (selection != NULL && strlen(selection) < sizeof(out->selection))
        memcpy(out->selection, selection, strlen(selection) + 1);
    out->suspended = json_is_true(json_object_get(spec, "suspend"));
    read_pod_template(podspec, out);
    read_conditions(json_object_get(obj, "status"), out);
    int32_t active = int_at(json_object_get(obj, "status"), "active", 0);
    out->active = active > 0 ? (uint32_t)active : 0;
    const char *outcome = ipd_json_str_at(ann, IPD_ANNOTATION_OUTCOME, NULL);
    out->pulled = outcome != NULL && strcmp(outcome, "succeeded") == 0;
    out->gave_up = outcome != NULL && strcmp(outcome, "failed") == 0;
    return 0;
}
