/*
 * The query of /ws/pod-logs and the apiserver path it maps to (proto/pod_logs.h): never crashes
 * or reads past `len`. A refused query gives a one-line message that fits its buffer. An
 * accepted one holds NUL-terminated names that are DNS labels or subdomains, numbers in their
 * bounds, either a pod or a job with its node, and its apiserver path is printable ASCII with
 * no space, '#' or '?' beyond the one that starts the query: nothing of the client's text can
 * change which resource the worker asks the apiserver for.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/pod_logs.h"

#define TAIL_MAX 10000

static void check_name(const char *s, size_t cap, int subdomain)
{
    size_t n = strnlen(s, cap);
    if (n == cap || (n > 0 && !(subdomain ? ipd_logs_is_dns_subdomain(s, n) : ipd_logs_is_dns_label(s, n))))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ipd_logs_query_t q;
    char msg[160] = "";
    if (ipd_logs_query_parse((const char *)data, size, TAIL_MAX, &q, msg, sizeof(msg)) != 0) {
        size_t n = strnlen(msg, sizeof(msg));
        if (n == 0 || n == sizeof(msg) || memchr(msg, '\n', n) != NULL)
            abort();
        return 0;
    }
    check_name(q.ns, sizeof(q.ns), 0);
    check_name(q.pod, sizeof(q.pod), 1);
    check_name(q.container, sizeof(q.container), 0);
    if (strnlen(q.job, sizeof(q.job)) == sizeof(q.job) || strnlen(q.node, sizeof(q.node)) == sizeof(q.node))
        abort();
    if ((q.pod[0] != '\0') == (q.job[0] != '\0') || (q.job[0] != '\0') != (q.node[0] != '\0'))
        abort();
    if (q.tail_lines < -1 || q.tail_lines > TAIL_MAX || q.since_seconds < 0 || q.limit_bytes < 0 ||
        (q.follow != 0 && q.follow != 1) || (q.timestamps != 0 && q.timestamps != 1) ||
        (q.previous != 0 && q.previous != 1))
        abort();

    ipd_buf_t path;
    ipd_buf_init(&path);
    const char *ns = q.ns[0] != '\0' ? q.ns : "default";
    const char *pod = q.pod[0] != '\0' ? q.pod : "p";
    const char *container = q.container[0] != '\0' ? q.container : "c";
    if (ipd_logs_query_log_path(&q, ns, pod, container, q.limit_bytes, &path) == 0) {
        size_t questions = 0;
        for (size_t i = 0; i < path.len; i++) {
            char c = path.data[i];
            if (c <= ' ' || c >= 0x7f || c == '#')
                abort();
            questions += c == '?';
        }
        if (questions != 1 || path.len < 9 || memcmp(path.data, "/api/v1/", 8) != 0)
            abort();
    }
    ipd_buf_dispose(&path);
    return 0;
}
