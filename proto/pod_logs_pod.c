/* What a Pod object and a Status body tell the log streams. Pure. */
#include "proto/pod_logs.h"

#include <stdio.h>
#include <string.h>

static const json_t *containers_of(const json_t *pod)
{
    return json_object_get(json_object_get(pod, "spec"), "containers");
}

size_t ipd_logs_pod_ncontainers(const json_t *pod)
{
    return json_array_size(containers_of(pod));
}

const char *ipd_logs_pod_container(const json_t *pod, size_t i)
{
    return json_string_value(json_object_get(json_array_get(containers_of(pod), i), "name"));
}

/* The spec lists a named container may come from, in the order the apiserver lists them. */
static const char *const spec_lists[] = {"initContainers", "containers", "ephemeralContainers"};

int ipd_logs_pod_has_container(const json_t *pod, const char *name)
{
    const json_t *spec = json_object_get(pod, "spec");
    for (size_t l = 0; l < sizeof(spec_lists) / sizeof(spec_lists[0]); l++) {
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(spec, spec_lists[l]), i, c)
        {
            const char *n = json_string_value(json_object_get(c, "name"));
            if (n != NULL && strcmp(n, name) == 0)
                return 1;
        }
    }
    return 0;
}

int ipd_logs_pod_list_containers(const json_t *pod, ipd_buf_t *out)
{
    const json_t *spec = json_object_get(pod, "spec");
    int rc = 0;
    for (size_t l = 0; rc == 0 && l < sizeof(spec_lists) / sizeof(spec_lists[0]); l++) {
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(spec, spec_lists[l]), i, c)
        {
            const char *n = json_string_value(json_object_get(c, "name"));
            if (n == NULL)
                continue;
            if (rc == 0 && out->len != 0)
                rc = ipd_buf_append(out, ", ", 2);
            if (rc == 0)
                rc = ipd_buf_append(out, n, strlen(n));
        }
    }
    return rc;
}

ipd_logs_container_state_t ipd_logs_pod_container_state(const json_t *pod, const char *name, int *has_previous)
{
    static const char *const lists[] = {"containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"};
    const json_t *status = json_object_get(pod, "status");
    size_t i;
    const json_t *st;
    if (has_previous != NULL)
        *has_previous = 0;
    for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
        json_array_foreach(json_object_get(status, lists[l]), i, st)
        {
            const char *n = json_string_value(json_object_get(st, "name"));
            if (n == NULL || strcmp(n, name) != 0)
                continue;
            if (has_previous != NULL)
                *has_previous = json_object_get(json_object_get(st, "lastState"), "terminated") != NULL;
            const json_t *state = json_object_get(st, "state");
            if (json_object_get(state, "running") != NULL)
                return IPD_LOGS_CONTAINER_RUNNING;
            if (json_object_get(state, "terminated") != NULL)
                return IPD_LOGS_CONTAINER_TERMINATED;
            return IPD_LOGS_CONTAINER_UNKNOWN;
        }
    }
    return IPD_LOGS_CONTAINER_UNKNOWN;
}

int ipd_logs_pick_container(const json_t *pod, const char *podname, const char *wanted, char *out, char *msg,
                            size_t msgcap)
{
    ipd_buf_t list;
    const char *pick = NULL;
    size_t n = ipd_logs_pod_ncontainers(pod);
    if (wanted[0] != '\0' && ipd_logs_pod_has_container(pod, wanted))
        pick = wanted;
    else if (wanted[0] == '\0' && n == 1)
        pick = ipd_logs_pod_container(pod, 0);
    if (pick != NULL && strlen(pick) < IPD_LOGS_CONTAINER_SIZE) {
        strcpy(out, pick);
        return 0;
    }
    ipd_buf_init(&list);
    int rc = ipd_logs_pod_list_containers(pod, &list);
    const char *names = rc == 0 && list.data != NULL ? list.data : "(none)";
    if (wanted[0] != '\0')
        snprintf(msg, msgcap, "container: \"%s\" is not a container of pod %s; choose one of: %s", wanted, podname,
                 names);
    else
        snprintf(msg, msgcap, "container: pod %s has %zu containers; choose one of: %s", podname, n, names);
    ipd_buf_dispose(&list);
    return -1;
}

/* Length of the longest prefix of `s` (`len` bytes) that fits `cap - 1` bytes and ends on a UTF-8 boundary. */
static size_t utf8_prefix(const char *s, size_t len, size_t cap)
{
    if (len < cap)
        return len;
    size_t n = cap - 1;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

void ipd_logs_status_message(const char *body, size_t len, char *out, size_t cap)
{
    json_t *doc = body != NULL && len != 0 ? json_loadb(body, len, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(doc, "message"));
    const char *src = m != NULL ? m : body != NULL ? body : "";
    size_t srclen = m != NULL ? strlen(m) : body != NULL ? len : 0;
    /* A body that is not a Status may end with a line break; it adds nothing to a one-line message. */
    while (srclen > 0 && (src[srclen - 1] == '\n' || src[srclen - 1] == '\r'))
        srclen--;
    size_t n = cap != 0 ? utf8_prefix(src, srclen, cap) : 0;
    if (cap != 0) {
        memcpy(out, src, n);
        out[n] = '\0';
    }
    json_decref(doc);
}
