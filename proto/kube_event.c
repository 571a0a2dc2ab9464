#include "proto/duration.h"
#include "proto/error.h"
#include "proto/kube_pod.h"
#include "proto/rfc3339.h"
#include "proto/json_get.h"

#include <string.h>

static int64_t time_at(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    int64_t ms;
    if (!json_is_string(v) || ipd_time_parse(json_string_value(v), json_string_length(v), &ms) != 0)
        return IPD_TIME_NULL;
    return ms;
}

static int64_t count_at(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static void copy(char *dst, size_t cap, const char *src)
{
    ipd_strlcpy_utf8(dst, src != NULL ? src : "", cap);
}

int ipd_kube_event_parse(const json_t *obj, ipd_kube_event_t *out)
{
    if (!json_is_object(obj))
        return IPD_EINVAL;
    const json_t *inv = json_object_get(obj, "involvedObject");
    if (!json_is_object(inv))
        inv = json_object_get(obj, "regarding");
    const char *reason = ipd_json_str_at(obj, "reason", NULL), *name = ipd_json_str_at(inv, "name", NULL);
    if (reason == NULL || reason[0] == '\0' || name == NULL || name[0] == '\0')
        return IPD_EINVAL;
    const json_t *msg = json_object_get(obj, "message");
    if (!json_is_string(msg))
        msg = json_object_get(obj, "note");

    memset(out, 0, sizeof(*out));
    copy(out->reason, sizeof(out->reason), reason);
    copy(out->message, sizeof(out->message), json_string_value(msg));
    copy(out->kind, sizeof(out->kind), ipd_json_str_at(inv, "kind", NULL));
    copy(out->ns, sizeof(out->ns), ipd_json_str_at(inv, "namespace", NULL));
    copy(out->pod, sizeof(out->pod), name);
    const char *field = ipd_json_str_at(inv, "fieldPath", NULL);
    out->init_container = field != NULL && strncmp(field, "spec.initContainers{", 20) == 0;

    int64_t count = count_at(obj, "count");
    if (count <= 0)
        count = count_at(obj, "deprecatedCount");
    if (count <= 0)
        count = count_at(json_object_get(obj, "series"), "count");
    out->count = count <= 0 ? 1 : count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;

    static const char *const time_keys[] = {"lastTimestamp", "deprecatedLastTimestamp", "eventTime", "firstTimestamp",
                                            "deprecatedFirstTimestamp"};
    out->time = IPD_TIME_NULL;
    for (size_t i = 0; i < sizeof(time_keys) / sizeof(time_keys[0]) && out->time == IPD_TIME_NULL; i++)
        out->time = time_at(obj, time_keys[i]);
    out->pull_ms = IPD_UNKNOWN_I64;
    out->image_bytes = IPD_UNKNOWN_I64;
    if (strcmp(reason, "Pulled") == 0 && json_is_string(msg))
        ipd_kube_pulled_parse(json_string_value(msg), json_string_length(msg), &out->pull_ms, &out->image_bytes);
    return 0;
}

static const char *find(const char *s, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    return (size_t)(end - s) >= n ? memmem(s, (size_t)(end - s), needle, n) : NULL;
}

static int starts(const char *s, const char *end, const char *prefix)
{
    size_t n = strlen(prefix);
    return (size_t)(end - s) >= n && memcmp(s, prefix, n) == 0;
}

int ipd_kube_pulled_parse(const char *msg, size_t len, int64_t *pull_ms, int64_t *image_bytes)
{
    const char *end = msg + len, *p;
    if (starts(msg, end, "Container image \"")) {
        p = memchr(msg + 17, '"', len - 17);
        if (p == NULL || !starts(p, end, "\" already present on machine"))
            return IPD_EINVAL;
        *pull_ms = 0;
        *image_bytes = IPD_UNKNOWN_I64;
        return 0;
    }
    if (!starts(msg, end, "Successfully pulled image \""))
        return IPD_EINVAL;
    p = memchr(msg + 27, '"', len - 27);
    if (p == NULL)
        return IPD_EINVAL;
    int64_t ms = IPD_UNKNOWN_I64, bytes = IPD_UNKNOWN_I64;
    p++;
    if (starts(p, end, " in ")) {
        const char *d = p + 4, *e = d;
        while (e < end && *e != ' ' && *e != '(')
            e++;
        size_t dlen = (size_t)(e - d);
        if (dlen > 0 && d[dlen - 1] == '.')
            dlen--;
        int64_t ns;
        if (ipd_go_duration_parse(d, dlen, &ns) != 0 || ns < 0)
            return IPD_EINVAL;
        ms = ns / 1000000;
        p = e;
    }
    const char *size = find(p, end, "Image size: ");
    if (size != NULL) {
        const char *q = size + 12;
        int64_t v = 0;
        if (q == end || *q < '0' || *q > '9')
            return IPD_EINVAL;
        for (; q < end && *q >= '0' && *q <= '9'; q++) {
            if (v > (INT64_MAX - 9) / 10)
                return IPD_EINVAL;
            v = v * 10 + (*q - '0');
        }
        if (!starts(q, end, " bytes"))
            return IPD_EINVAL;
        bytes = v;
    }
    *pull_ms = ms;
    *image_bytes = bytes;
    return 0;
}
