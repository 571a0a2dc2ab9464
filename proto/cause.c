#include "proto/cause.h"

#include <string.h>

typedef struct reason_rule {
    const char *reason;
    ipd_cause_t cause;
} reason_rule_t;

/* Reasons that say it all, whatever the message. */
static const reason_rule_t reason_rules[] = {
    {"InvalidImageName", IPD_CAUSE_INVALID_REFERENCE}, {"ErrImageNeverPull", IPD_CAUSE_NOT_FOUND},
    {"RegistryUnavailable", IPD_CAUSE_NETWORK},        {"PullTimeout", IPD_CAUSE_TIMEOUT},
    {"DeadlineExceeded", IPD_CAUSE_DEADLINE},          {"Cancelled", IPD_CAUSE_CANCELLED},
    {"NodeLost", IPD_CAUSE_NODE_UNAVAILABLE},          {"NodeNotReady", IPD_CAUSE_NODE_UNAVAILABLE},
    {"NodeCordoned", IPD_CAUSE_NODE_UNAVAILABLE},      {"NodeShutdown", IPD_CAUSE_NODE_UNAVAILABLE},
    {"Shutdown", IPD_CAUSE_NODE_UNAVAILABLE},          {"Evicted", IPD_CAUSE_NODE_UNAVAILABLE},
    {"NodeAffinity", IPD_CAUSE_NODE_UNAVAILABLE},      {"NodeDaemonLost", IPD_CAUSE_NODE_UNAVAILABLE},
    {"NodeDeleted", IPD_CAUSE_NODE_UNAVAILABLE},       {"DeletionByPodGC", IPD_CAUSE_NODE_UNAVAILABLE},
};

typedef struct message_rule {
    ipd_cause_t cause;
    const char *const *needles; /* NULL-terminated, matched case-insensitively */
} message_rule_t;

/* Containerd's docker resolver ("unexpected status from HEAD request to URL: 429 Too Many
 * Requests"), Docker Hub's error codes (toomanyrequests), CRI-O and dockershim wordings. */
static const char *const rate_limited[] = {"429 too many requests", "toomanyrequests", "pull rate limit",
                                           "rate limit exceeded", NULL};
/* The kubelet's applyDefaultImageTag and the distribution reference parser. */
static const char *const invalid_reference[] = {"invalid reference format", "couldn't parse image",
                                                "repository name must be", "invalid image name", NULL};
/* Go's crypto/tls and crypto/x509 errors, and a plain-HTTP registry asked for HTTPS. */
static const char *const tls[] = {"x509: ", "tls: ", "certificate", "http response to https client", NULL};
/* 401/403 from the registry or its token server, containerd's "authorization failed" and
 * "pull access denied", docker's "no basic auth credentials". */
static const char *const auth[] = {"401 unauthorized",
                                   "403 forbidden",
                                   "unauthorized",
                                   "authentication required",
                                   "authorization failed",
                                   "failed to authorize",
                                   "failed to fetch anonymous token",
                                   "failed to fetch oauth token",
                                   "pull access denied",
                                   "access to the resource is denied",
                                   "no basic auth credentials",
                                   "denied: ",
                                   NULL};
/* containerd's errdefs.ErrNotFound ("<ref>: not found"), registry error codes, a 404, an
 * index without the node's platform. */
static const char *const not_found[] = {
    "not found", "manifest unknown", "name unknown", "no match for platform", "does not exist", NULL};
/* Go's net errors: DNS, connect, resets; the registry's gateway answering for it. */
static const char *const network[] = {"no such host",
                                      "dial tcp",
                                      "connection refused",
                                      "connection reset",
                                      "network is unreachable",
                                      "no route to host",
                                      "server misbehaving",
                                      "unexpected eof",
                                      "broken pipe",
                                      "registry is unavailable",
                                      "502 bad gateway",
                                      "503 service unavailable",
                                      NULL};
/* Go's timeouts: context deadlines, i/o deadlines, http.Client timeouts. */
static const char *const timeout[] = {
    "i/o timeout",       "deadline exceeded", "client.timeout exceeded", "timeout exceeded",
    "handshake timeout", "timed out",         "504 gateway timeout",     NULL};
static const char *const cancelled[] = {"context canceled", NULL};
/* The node lifecycle controller and the kubelet's eviction manager. */
static const char *const node_unavailable[] = {"node is not ready", "is unresponsive", "node was low on resource",
                                               "node is shutting down", NULL};

static const message_rule_t message_rules[] = {
    {IPD_CAUSE_RATE_LIMITED, rate_limited},
    {IPD_CAUSE_INVALID_REFERENCE, invalid_reference},
    {IPD_CAUSE_TLS, tls},
    {IPD_CAUSE_AUTH, auth},
    {IPD_CAUSE_NOT_FOUND, not_found},
    {IPD_CAUSE_NETWORK, network},
    {IPD_CAUSE_TIMEOUT, timeout},
    {IPD_CAUSE_CANCELLED, cancelled},
    {IPD_CAUSE_NODE_UNAVAILABLE, node_unavailable},
};

static const char *const job_verdicts[] = {"DeadlineExceeded", "BackoffLimitExceeded", "JobFailed", "PodFailurePolicy",
                                           "MaxFailedIndexesExceeded"};

/* Characters that continue an image reference, a URL path or a word. */
static int word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == '/';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * True if `needle` (lower case) occurs in `msg` as words of their own: not inside a quoted
 * string (the kubelet and containerd quote image references with %q), and not glued to the
 * letters, digits or path characters around it. So an image named "myorg/unauthorized-app" or
 * a URL path ".../not-found/..." does not decide the class; the runtime's words do.
 */
static int has_words(const char *msg, const char *needle)
{
    size_t n = strlen(needle);
    int open_end = !word_char(needle[n - 1]), open_start = !word_char(needle[0]);
    for (const char *p = msg; *p != '\0'; p++) {
        if (*p == '"') {
            const char *close = strchr(p + 1, '"');
            if (close != NULL) {
                p = close;
                continue;
            }
        }
        if (!open_start && p > msg && word_char(p[-1]))
            continue;
        size_t i = 0;
        while (i < n && p[i] != '\0' && lower(p[i]) == needle[i])
            i++;
        if (i == n && (open_end || !word_char(p[n])))
            return 1;
    }
    return 0;
}

ipd_cause_t ipd_cause_classify(const char *reason, const char *message)
{
    if (reason != NULL)
        for (size_t i = 0; i < sizeof(reason_rules) / sizeof(reason_rules[0]); i++)
            if (strcmp(reason, reason_rules[i].reason) == 0)
                return reason_rules[i].cause;
    if (message != NULL && message[0] != '\0')
        for (size_t i = 0; i < sizeof(message_rules) / sizeof(message_rules[0]); i++)
            for (const char *const *n = message_rules[i].needles; *n != NULL; n++)
                if (has_words(message, *n))
                    return message_rules[i].cause;
    return IPD_CAUSE_UNKNOWN;
}

int ipd_cause_is_job_verdict(const char *reason)
{
    for (size_t i = 0; reason != NULL && i < sizeof(job_verdicts) / sizeof(job_verdicts[0]); i++)
        if (strcmp(reason, job_verdicts[i]) == 0)
            return 1;
    return 0;
}

void ipd_task_keep_failure(ipd_task_t *t, const ipd_task_t *prev)
{
    if (t != prev && t->fail_reason[0] == '\0' && t->fail_message[0] == '\0') {
        memcpy(t->fail_reason, prev->fail_reason, sizeof(t->fail_reason));
        memcpy(t->fail_message, prev->fail_message, sizeof(t->fail_message));
    }
    if ((t->state != IPD_TASK_RETRYING && t->state != IPD_TASK_FAILED) || t->reason[0] == '\0' ||
        ipd_cause_is_job_verdict(t->reason))
        return;
    if (t->fail_reason[0] != '\0' && strcmp(t->reason, "ImagePullBackOff") == 0 &&
        ipd_cause_classify(t->reason, t->message) == IPD_CAUSE_UNKNOWN)
        return;
    /* Zero-padded copies, so that equal tasks stay equal byte for byte. */
    memset(t->fail_reason, 0, sizeof(t->fail_reason));
    memset(t->fail_message, 0, sizeof(t->fail_message));
    ipd_strlcpy_utf8(t->fail_reason, t->reason, sizeof(t->fail_reason));
    ipd_strlcpy_utf8(t->fail_message, t->message, sizeof(t->fail_message));
}

void ipd_task_set_cause(ipd_task_t *t)
{
    int kept = t->fail_reason[0] != '\0' || t->fail_message[0] != '\0';
    ipd_cause_t c = IPD_CAUSE_NONE;
    switch ((ipd_task_state_t)t->state) {
    case IPD_TASK_CANCELLED:
        c = IPD_CAUSE_CANCELLED;
        break;
    case IPD_TASK_RETRYING:
    case IPD_TASK_FAILED:
        c = ipd_cause_classify(t->reason, t->message);
        if (c == IPD_CAUSE_UNKNOWN && kept)
            c = ipd_cause_classify(t->fail_reason, t->fail_message);
        break;
    case IPD_TASK_SUCCEEDED:
        break;
    case IPD_TASK_UNKNOWN:
        c = IPD_CAUSE_NODE_UNAVAILABLE;
        break;
    default:
        if (kept)
            c = ipd_cause_classify(t->fail_reason, t->fail_message);
        break;
    }
    t->cause = (uint8_t)c;
}
