/*
 * JSON parsing plus the pod mapping. The input is a pod object, optionally carrying an "events"
 * array of Event objects; the last byte chooses job_failed. A mapped task must encode to JSON
 * that parses back.
 */
#include <jansson.h>
#include <stdlib.h>

#include "fuzz.h"
#include "proto/json.h"
#include "proto/kube_pod.h"

#define MAX_EVENTS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ipd_kube_event_t events[MAX_EVENTS];
    size_t nevents = 0, i;
    int64_t ms, bytes;
    json_t *pod = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL), *ev;
    ipd_kube_pulled_parse((const char *)data, size, &ms, &bytes);
    if (pod == NULL)
        return 0;
    json_array_foreach(json_object_get(pod, "events"), i, ev)
    {
        if (nevents < MAX_EVENTS && ipd_kube_event_parse(ev, &events[nevents]) == 0)
            nevents++;
    }
    ipd_kube_pod_info_t info;
    ipd_kube_pod_info(pod, &info);
    ipd_task_t task;
    if (ipd_kube_pod_map(pod, events, nevents, size > 0 && (data[size - 1] & 1), 1, &task) == 0) {
        if (task.state >= IPD_TASK_STATE_COUNT)
            abort();
        ipd_buf_t b;
        ipd_buf_init(&b);
        if (ipd_json_encode_task(&b, &task) != 0)
            abort();
        json_t *back = json_loadb(b.data, b.len, 0, NULL);
        if (back == NULL)
            abort();
        json_decref(back);
        ipd_buf_dispose(&b);
    }
    json_decref(pod);
    return 0;
}
