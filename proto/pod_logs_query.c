/* The query of /ws/pod-logs and the apiserver path of the log request. Pure. */
#include "proto/pod_logs.h"

#include "proto/pull_request.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "proto/rfc3339.h"
#include "proto/http_parse.h"

/* The largest value accepted for sinceSeconds and limitBytes: what a JSON number holds exactly. */
#define BIG_MAX ((INT64_C(1) << 53) - 1)
/* Room for a decoded value: the longest name (a subdomain) or an RFC 3339 time. */
#define VALUE_SIZE 320

enum param {
    P_NAMESPACE,
    P_POD,
    P_JOB,
    P_NODE,
    P_CONTAINER,
    P_FOLLOW,
    P_TAIL,
    P_TIMESTAMPS,
    P_PREVIOUS,
    P_SINCE_SECONDS,
    P_SINCE_TIME,
    P_LIMIT_BYTES,
    P_ACCESS_TOKEN,
    P_COUNT
};

static const char *const names[P_COUNT] = {
    "namespace",  "pod",      "job",          "node",      "container",  "follow",       "tailLines",
    "timestamps", "previous", "sinceSeconds", "sinceTime", "limitBytes", "access_token",
};

int ipd_logs_is_dns_label(const char *s, size_t len)
{
    return ipd_is_dns_label_n(s, len);
}

int ipd_logs_is_dns_subdomain(const char *s, size_t len)
{
    return ipd_is_dns_subdomain_n(s, len);
}

__attribute__((format(printf, 3, 4))) static int fail(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    if (cap > 0)
        ipd_http_message_one_line(msg);
    return -1;
}

static int parse_bool(const char *v, int *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = 1;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

/* Decimal digits only, no sign, within [min, max]. */
static int parse_int(const char *v, int64_t min, int64_t max, int64_t *out)
{
    int64_t n = 0;
    if (*v == '\0' || strlen(v) > 18)
        return -1;
    for (const char *p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        n = n * 10 + (*p - '0');
    }
    if (n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

/* Copies a name checked with `valid` into `out` (`cap` bytes). */
static int take_name(const char *v, int (*valid)(const char *, size_t), char *out, size_t cap)
{
    size_t len = strlen(v);
    if (len >= cap || !valid(v, len))
        return -1;
    memcpy(out, v, len + 1);
    return 0;
}

/* Job ids are lower-case letters, digits and '-' ("pj-" and hex digits today). */
static int is_job_id(const char *s, size_t len)
{
    if (len == 0 || len >= IPD_JOB_ID_SIZE)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

#define NAME_FIELD(field) offsetof(ipd_logs_query_t, field), sizeof(((ipd_logs_query_t *)0)->field)

/* The parameters that name something: how a value is checked, where it goes and what it must be. */
static const struct {
    int (*valid)(const char *, size_t);
    size_t offset, size;
    const char *what;
} name_params[P_COUNT] = {
    [P_NAMESPACE] = {ipd_logs_is_dns_label, NAME_FIELD(ns), "a namespace name (a DNS label)"},
    [P_POD] = {ipd_logs_is_dns_subdomain, NAME_FIELD(pod), "a pod name (a DNS subdomain)"},
    [P_JOB] = {is_job_id, NAME_FIELD(job), "a pull job id"},
    [P_NODE] = {ipd_logs_is_dns_subdomain, NAME_FIELD(node), "a node name (a DNS subdomain)"},
    [P_CONTAINER] = {ipd_logs_is_dns_label, NAME_FIELD(container), "a container name (a DNS label)"},
};

static int take_value(ipd_logs_query_t *q, enum param p, const char *v, int64_t tail_max, char *msg, size_t cap)
{
    switch (p) {
    case P_NAMESPACE:
    case P_POD:
    case P_JOB:
    case P_NODE:
    case P_CONTAINER:
        return take_name(v, name_params[p].valid, (char *)q + name_params[p].offset, name_params[p].size) == 0
                   ? 0
                   : fail(msg, cap, "%s: \"%s\" is not %s", names[p], v, name_params[p].what);
    case P_FOLLOW:
    case P_TIMESTAMPS:
    case P_PREVIOUS:
        if (parse_bool(v, p == P_FOLLOW ? &q->follow : p == P_TIMESTAMPS ? &q->timestamps : &q->previous) == 0)
            return 0;
        return fail(msg, cap, "%s: must be true or false, got \"%s\"", names[p], v);
    case P_TAIL:
        if (parse_int(v, 0, tail_max, &q->tail_lines) == 0)
            return 0;
        return fail(msg, cap, "%s: must be an integer from 0 to %" PRId64 ", got \"%s\"", names[p], tail_max, v);
    case P_SINCE_SECONDS:
        return parse_int(v, 1, BIG_MAX, &q->since_seconds) == 0
                   ? 0
                   : fail(msg, cap, "%s: must be a positive number of seconds, got \"%s\"", names[p], v);
    case P_SINCE_TIME:
        if (ipd_time_parse(v, strlen(v), &q->since_time_ms) != 0)
            return fail(msg, cap, "%s: \"%s\" is not an RFC 3339 time", names[p], v);
        q->has_since_time = 1;
        return 0;
    case P_LIMIT_BYTES:
        return parse_int(v, 1, BIG_MAX, &q->limit_bytes) == 0
                   ? 0
                   : fail(msg, cap, "%s: must be a positive number of bytes, got \"%s\"", names[p], v);
    default:
        return 0; /* access_token: the router's */
    }
}

/* The rules between parameters. */
static int check_combination(const ipd_logs_query_t *q, char *msg, size_t cap)
{
    if (q->since_seconds != 0 && q->has_since_time)
        return fail(msg, cap, "sinceTime: give sinceSeconds or sinceTime, not both");
    if (q->pod[0] != '\0' && (q->job[0] != '\0' || q->node[0] != '\0'))
        return fail(msg, cap, "pod: give pod, or job and node, not both");
    if (q->job[0] != '\0' && q->node[0] == '\0')
        return fail(msg, cap, "node: required with job");
    if (q->node[0] != '\0' && q->job[0] == '\0')
        return fail(msg, cap, "job: required with node");
    if (q->pod[0] == '\0' && q->job[0] == '\0')
        return fail(msg, cap, "pod: required (or job and node)");
    return 0;
}

int ipd_logs_query_parse(const char *query, size_t len, int64_t tail_max, ipd_logs_query_t *out, char *msg,
                         size_t msgcap)
{
    ipd_http_param_t prm;
    size_t pos = 0;
    unsigned seen = 0;
    char value[VALUE_SIZE], name[64];

    memset(out, 0, sizeof(*out));
    out->follow = 1;
    out->tail_lines = -1;
    while (query != NULL && ipd_http_query_next(query, len, &pos, &prm)) {
        if (ipd_http_percent_decode(prm.name, prm.name_len, name, sizeof(name)) < 0)
            return fail(msg, msgcap, "query: malformed parameter name");
        int p = 0;
        while (p < P_COUNT && strcmp(name, names[p]) != 0)
            p++;
        if (p == P_COUNT)
            return fail(msg, msgcap, "%s: unknown parameter", name);
        if (seen & (1u << p))
            return fail(msg, msgcap, "%s: given more than once", name);
        seen |= 1u << p;
        if (p == P_ACCESS_TOKEN)
            continue;
        if (ipd_http_percent_decode(prm.value, prm.value_len, value, sizeof(value)) < 0)
            return fail(msg, msgcap, "%s: malformed or too long value", name);
        if (take_value(out, (enum param)p, value, tail_max, msg, msgcap) != 0)
            return -1;
    }
    return check_combination(out, msg, msgcap);
}

static int add_param(ipd_buf_t *out, int *first, const char *name, const char *value)
{
    char line[IPD_POD_SIZE + 64];
    int n = snprintf(line, sizeof(line), "%c%s=%s", *first ? '?' : '&', name, value);
    *first = 0;
    if (n < 0 || (size_t)n >= sizeof(line))
        return -ENOMEM;
    return ipd_buf_append(out, line, (size_t)n);
}

int ipd_logs_query_log_path(const ipd_logs_query_t *q, const char *ns, const char *pod, const char *container,
                            int64_t limit_bytes, ipd_buf_t *out)
{
    char num[32], when[IPD_TIME_STR_SIZE];
    int first = 1, rc;
    char head[IPD_NAMESPACE_SIZE + IPD_POD_SIZE + 64];
    int n = snprintf(head, sizeof(head), "/api/v1/namespaces/%s/pods/%s/log", ns, pod);
    if (n < 0 || (size_t)n >= sizeof(head))
        return -ENOMEM;
    if ((rc = ipd_buf_append(out, head, (size_t)n)) != 0)
        return rc;
    if (container[0] != '\0' && (rc = add_param(out, &first, "container", container)) != 0)
        return rc;
    if (q->follow && (rc = add_param(out, &first, "follow", "true")) != 0)
        return rc;
    if (q->timestamps && (rc = add_param(out, &first, "timestamps", "true")) != 0)
        return rc;
    if (q->previous && (rc = add_param(out, &first, "previous", "true")) != 0)
        return rc;
    if (q->tail_lines >= 0) {
        snprintf(num, sizeof(num), "%" PRId64, q->tail_lines);
        if ((rc = add_param(out, &first, "tailLines", num)) != 0)
            return rc;
    }
    if (q->since_seconds > 0) {
        snprintf(num, sizeof(num), "%" PRId64, q->since_seconds);
        if ((rc = add_param(out, &first, "sinceSeconds", num)) != 0)
            return rc;
    }
    if (q->has_since_time) {
        if (ipd_time_format(q->since_time_ms, when, sizeof(when)) < 0)
            return -ENOMEM;
        /* RFC 3339 in UTC needs no escaping but the colons, which a query value may hold. */
        if ((rc = add_param(out, &first, "sinceTime", when)) != 0)
            return rc;
    }
    if (limit_bytes > 0) {
        snprintf(num, sizeof(num), "%" PRId64, limit_bytes);
        if ((rc = add_param(out, &first, "limitBytes", num)) != 0)
            return rc;
    }
    return 0;
}
