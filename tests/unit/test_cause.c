/*
 * The cause classifier against real messages. Sources of the wordings:
 *   kubelet  pkg/kubelet/images/image_manager.go (container waiting messages: the runtime's
 *            error for ErrImagePull, "Back-off pulling image %q", "image pull failed for %s
 *            because the registry is unavailable.", "Failed to apply default image tag %q: ...",
 *            "Container image %q is not present with pull policy of Never");
 *   containerd core/remotes/docker/resolver.go and errors.go ("unexpected status from %s
 *            request to %s: %s", "pull access denied, repository does not exist or may require
 *            authorization: ...", "<ref>: not found"), its CRI plugin ("failed to pull and
 *            unpack image %q: failed to resolve reference %q: ..."), Go's net, crypto/tls and
 *            crypto/x509 errors, Docker Hub's toomanyrequests;
 *   dockerd  ("Error response from daemon: ... denied: requested access to the resource is
 *            denied", "manifest for %s not found: manifest unknown: manifest unknown");
 *   Job controller pkg/controller/job (DeadlineExceeded, BackoffLimitExceeded) and the node
 *            lifecycle controller / eviction manager (NodeLost, Evicted).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/cause.h"

typedef struct sample {
    const char *reason, *message;
    ipd_cause_t want;
} sample_t;

#define CRI          "rpc error: code = Unknown desc = failed to pull and unpack image "
#define RESOLVE(ref) CRI "\"" ref "\": failed to resolve reference \"" ref "\": "

static const sample_t samples[] = {
    /* auth */
    {"ErrImagePull",
     RESOLVE("registry.example.com/team/app:1.0") "unexpected status from HEAD request to "
                                                  "https://registry.example.com/v2/team/app/manifests/1.0: 401 "
                                                  "Unauthorized",
     IPD_CAUSE_AUTH},
    {"ErrImagePull",
     RESOLVE("docker.io/acme/private:1") "pull access denied, repository does not exist or may require authorization: "
                                         "server message: insufficient_scope: authorization failed",
     IPD_CAUSE_AUTH},
    {"ErrImagePull",
     RESOLVE("ghcr.io/acme/app:1") "unexpected status from HEAD request to https://ghcr.io/v2/acme/app/manifests/1: "
                                   "403 Forbidden",
     IPD_CAUSE_AUTH},
    {"ErrImagePull",
     RESOLVE("docker.io/acme/app:1") "failed to authorize: failed to fetch anonymous token: unexpected status from GET "
                                     "request to https://auth.docker.io/token?scope=repository%3Aacme%2Fapp%3Apull"
                                     "&service=registry.docker.io: 401 Unauthorized",
     IPD_CAUSE_AUTH},
    {"ErrImagePull",
     "rpc error: code = Unknown desc = Error response from daemon: pull access denied for acme/app, repository does "
     "not exist or may require 'docker login': denied: requested access to the resource is denied",
     IPD_CAUSE_AUTH},
    {"ErrImagePull",
     "rpc error: code = Unknown desc = Error response from daemon: Get \"https://registry.example.com/v2/\": no basic "
     "auth credentials",
     IPD_CAUSE_AUTH},
    {"ErrImagePull",
     "rpc error: code = Unknown desc = reading manifest 1 in quay.io/acme/app: unauthorized: access to the "
     "requested resource is not authorized",
     IPD_CAUSE_AUTH},
    /* not_found */
    {"ErrImagePull", RESOLVE("docker.io/library/nginx:1.999") "docker.io/library/nginx:1.999: not found",
     IPD_CAUSE_NOT_FOUND},
    {"ErrImagePull",
     "rpc error: code = Unknown desc = Error response from daemon: manifest for nginx:1.999 not found: manifest "
     "unknown: manifest unknown",
     IPD_CAUSE_NOT_FOUND},
    {"ErrImagePull",
     "rpc error: code = Unknown desc = reading manifest 1.999 in docker.io/library/nginx: manifest unknown: "
     "manifest unknown",
     IPD_CAUSE_NOT_FOUND},
    {"ErrImagePull", CRI "\"docker.io/acme/armonly:1\": no match for platform in manifest: not found",
     IPD_CAUSE_NOT_FOUND},
    {"ErrImageNeverPull", "Container image \"acme/app:1\" is not present with pull policy of Never",
     IPD_CAUSE_NOT_FOUND},
    /* network */
    {"ErrImagePull",
     RESOLVE("registry.invalid/app:1") "failed to do request: Head \"https://registry.invalid/v2/app/manifests/1\": "
                                       "dial tcp: lookup registry.invalid on 10.96.0.10:53: no such host",
     IPD_CAUSE_NETWORK},
    {"ErrImagePull",
     RESOLVE("10.0.0.5/app:1") "failed to do request: Head \"https://10.0.0.5/v2/app/manifests/1\": dial tcp "
                               "10.0.0.5:443: connect: connection refused",
     IPD_CAUSE_NETWORK},
    {"ErrImagePull",
     CRI "\"docker.io/library/nginx:1.27\": failed to copy: read tcp 10.244.1.5:41234->104.18.1.1:443: read: "
         "connection reset by peer",
     IPD_CAUSE_NETWORK},
    {"ErrImagePull",
     RESOLVE("10.0.0.5/app:1") "failed to do request: Head \"https://10.0.0.5/v2/app/manifests/1\": dial tcp "
                               "10.0.0.5:443: i/o timeout",
     IPD_CAUSE_NETWORK},
    {"RegistryUnavailable", "image pull failed for registry.example.com/app:1 because the registry is unavailable.",
     IPD_CAUSE_NETWORK},
    /* tls */
    {"ErrImagePull",
     RESOLVE("registry.local:5000/app:1") "failed to do request: Head "
                                          "\"https://registry.local:5000/v2/app/manifests/1\": tls: failed to verify "
                                          "certificate: x509: certificate signed by unknown authority",
     IPD_CAUSE_TLS},
    {"ErrImagePull",
     RESOLVE("registry.local/app:1") "failed to do request: Head \"https://registry.local/v2/app/manifests/1\": "
                                     "x509: certificate has expired or is not yet valid: current time "
                                     "2026-12-01T10:00:00Z is after 2026-11-30T00:00:00Z",
     IPD_CAUSE_TLS},
    {"ErrImagePull",
     RESOLVE("registry.local:5000/app:1") "failed to do request: Head "
                                          "\"https://registry.local:5000/v2/app/manifests/1\": http: server gave HTTP "
                                          "response to HTTPS client",
     IPD_CAUSE_TLS},
    {"ErrImagePull", RESOLVE("registry.local/app:1") "remote error: tls: handshake failure", IPD_CAUSE_TLS},
    /* rate_limited */
    {"ErrImagePull",
     CRI "\"docker.io/library/nginx:1.27\": failed to copy: httpReadSeeker: failed open: unexpected status code "
         "https://registry-1.docker.io/v2/library/nginx/manifests/sha256:0a1b: 429 Too Many Requests - Server "
         "message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by "
         "authenticating and upgrading: https://www.docker.com/increase-rate-limit",
     IPD_CAUSE_RATE_LIMITED},
    {"ErrImagePull",
     RESOLVE("docker.io/library/nginx:1.27") "unexpected status from HEAD request to "
                                             "https://registry-1.docker.io/v2/library/nginx/manifests/1.27: 429 Too "
                                             "Many Requests",
     IPD_CAUSE_RATE_LIMITED},
    /* timeout */
    {"ErrImagePull",
     CRI "\"registry.example.com/app:1\": failed to copy: read tcp 10.0.0.1:51000->10.0.0.2:443: i/o timeout",
     IPD_CAUSE_TIMEOUT},
    {"ErrImagePull", "rpc error: code = DeadlineExceeded desc = context deadline exceeded", IPD_CAUSE_TIMEOUT},
    {"ErrImagePull",
     RESOLVE("registry.example.com/app:1") "failed to do request: Head "
                                           "\"https://registry.example.com/v2/app/manifests/1\": net/http: TLS "
                                           "handshake timeout",
     IPD_CAUSE_TIMEOUT},
    {"ErrImagePull",
     "rpc error: code = Unknown desc = Error response from daemon: Get \"https://registry.example.com/v2/\": "
     "net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)",
     IPD_CAUSE_TIMEOUT},
    {"PullTimeout", "the pull attempt took longer than timeout_seconds (2 s)", IPD_CAUSE_TIMEOUT},
    /* invalid_reference */
    {"InvalidImageName",
     "Failed to apply default image tag \"Nginx:1\": couldn't parse image reference \"Nginx:1\": invalid reference "
     "format: repository name must be lowercase",
     IPD_CAUSE_INVALID_REFERENCE},
    {"ErrImagePull", "rpc error: code = Unknown desc = invalid reference format", IPD_CAUSE_INVALID_REFERENCE},
    /* node_unavailable */
    {"NodeLost", "Node node-3 which was running pod imgpull-pj-1-node-3-x is unresponsive", IPD_CAUSE_NODE_UNAVAILABLE},
    {"Evicted", "The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 512Mi.",
     IPD_CAUSE_NODE_UNAVAILABLE},
    {"NodeShutdown", "Pod was terminated in response to imminent node shutdown.", IPD_CAUSE_NODE_UNAVAILABLE},
    {"NodeDaemonLost", "", IPD_CAUSE_NODE_UNAVAILABLE},
    /* deadline */
    {"DeadlineExceeded", "Job was active longer than specified deadline", IPD_CAUSE_DEADLINE},
    /* cancelled */
    {"Cancelled", "the task's Kubernetes Job was deleted before the image was pulled", IPD_CAUSE_CANCELLED},
    {"ErrImagePull", "rpc error: code = Canceled desc = context canceled", IPD_CAUSE_CANCELLED},
    /* unknown */
    {"ImagePullBackOff", "Back-off pulling image \"registry.example.com/app:1\"", IPD_CAUSE_UNKNOWN},
    {"BackoffLimitExceeded", "Job has reached the specified backoff limit", IPD_CAUSE_UNKNOWN},
    {"ImageInspectError", "Failed to inspect image \"app:1\": rpc error: code = Unknown desc = boom",
     IPD_CAUSE_UNKNOWN},
    {"SignatureValidationFailed", "image rejected by policy", IPD_CAUSE_UNKNOWN},
    {"", "", IPD_CAUSE_UNKNOWN},
    {NULL, NULL, IPD_CAUSE_UNKNOWN},
    /* words of a class inside an image reference or a URL path decide nothing */
    {"ImagePullBackOff", "Back-off pulling image \"acme/unauthorized-app:timeout\"", IPD_CAUSE_UNKNOWN},
    {"ErrImagePull",
     RESOLVE("r.example/not-found:1") "unexpected status from HEAD request to "
                                      "https://r.example/v2/not-found/manifests/certificate: 500 Internal Server Error",
     IPD_CAUSE_UNKNOWN},
};

Test(cause, real_messages_classify_to_their_class)
{
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        ipd_cause_t got = ipd_cause_classify(samples[i].reason, samples[i].message);
        cr_expect_eq(got, samples[i].want, "sample %zu (%s: %s): got %s, want %s", i,
                     samples[i].reason ? samples[i].reason : "(null)", samples[i].message ? samples[i].message : "",
                     ipd_cause_name(got), ipd_cause_name(samples[i].want));
    }
}

Test(cause, every_class_has_a_sample)
{
    int seen[IPD_CAUSE_COUNT] = {0};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
        seen[samples[i].want]++;
    for (int c = IPD_CAUSE_AUTH; c < IPD_CAUSE_COUNT; c++)
        cr_expect_gt(seen[c], 0, "no sample for %s", ipd_cause_name((ipd_cause_t)c));
}

Test(cause, names_round_trip_and_none_is_null)
{
    cr_assert_null(ipd_cause_name(IPD_CAUSE_NONE));
    cr_assert_null(ipd_cause_name(IPD_CAUSE_COUNT));
    for (int c = IPD_CAUSE_AUTH; c < IPD_CAUSE_COUNT; c++) {
        const char *n = ipd_cause_name((ipd_cause_t)c);
        cr_assert_not_null(n);
        cr_assert_eq(ipd_cause_parse(n, strlen(n)), c);
    }
    cr_assert_str_eq(ipd_cause_name(IPD_CAUSE_RATE_LIMITED), "rate_limited");
    cr_assert_eq(ipd_cause_parse("", 0), -1);
    cr_assert_eq(ipd_cause_parse("null", 4), -1);
    cr_assert_eq(ipd_cause_parse("Auth", 4), -1);
    cr_assert_eq(ipd_cause_parse(NULL, 0), -1);
}

static void set(ipd_task_t *t, ipd_task_state_t state, const char *reason, const char *message)
{
    t->state = (uint8_t)state;
    memset(t->reason, 0, sizeof(t->reason));
    memset(t->message, 0, sizeof(t->message));
    snprintf(t->reason, sizeof(t->reason), "%s", reason);
    snprintf(t->message, sizeof(t->message), "%s", message);
}

#define REG401                                                                                                         \
    RESOLVE("registry.example.com/app:1")                                                                              \
    "unexpected status from HEAD request to "                                                                          \
    "https://registry.example.com/v2/app/manifests/1: 401 Unauthorized"

/* The case: the registry's 401 survives the back-off that replaces it in the pod. */
Test(cause, the_registry_words_survive_a_later_back_off)
{
    ipd_task_t prev, t;
    ipd_task_init(&prev, "node-a", 1);
    t = prev;
    set(&t, IPD_TASK_PULLING, "Pulling", "Pulling image \"registry.example.com/app:1\"");
    ipd_task_keep_failure(&t, &prev);
    ipd_task_set_cause(&t);
    cr_assert_eq(t.cause, IPD_CAUSE_NONE);
    cr_assert_str_eq(t.fail_reason, "");

    prev = t;
    set(&t, IPD_TASK_RETRYING, "ErrImagePull", REG401);
    ipd_task_keep_failure(&t, &prev);
    ipd_task_set_cause(&t);
    cr_assert_eq(t.cause, IPD_CAUSE_AUTH);
    cr_assert_str_eq(t.fail_message, REG401);

    prev = t;
    set(&t, IPD_TASK_RETRYING, "ImagePullBackOff", "Back-off pulling image \"registry.example.com/app:1\"");
    ipd_task_keep_failure(&t, &prev);
    ipd_task_set_cause(&t);
    cr_assert_eq(t.cause, IPD_CAUSE_AUTH);
    cr_assert_str_eq(t.fail_reason, "ErrImagePull");
    cr_assert_str_eq(t.fail_message, REG401);

    /* A pulling retry keeps the class of the failure it retries. */
    prev = t;
    set(&t, IPD_TASK_PULLING, "Pulling", "Pulling image \"registry.example.com/app:1\"");
    ipd_task_keep_failure(&t, &prev);
    ipd_task_set_cause(&t);
    cr_assert_eq(t.cause, IPD_CAUSE_AUTH);

    /* The job names the cause and the registry's words. */
    prev = t;
    set(&t, IPD_TASK_FAILED, "ImagePullBackOff", "Back-off pulling image \"registry.example.com/app:1\"");
    ipd_task_keep_failure(&t, &prev);
    ipd_task_set_cause(&t);
    ipd_job_t job;
    memset(&job, 0, sizeof(job));
    ipd_job_aggregate(&job, &t, 1, 10);
    cr_assert_eq(job.state, IPD_JOB_FAILED);
    cr_assert_eq(job.error_cause, IPD_CAUSE_AUTH);
    cr_assert_str_eq(job.error_reason, "ImagePullBackOff");
    cr_assert_not_null(strstr(job.error_message, "401 Unauthorized"), "%s", job.error_message);
    cr_assert_not_null(strstr(job.error_message, "Back-off pulling image"), "%s", job.error_message);
}

Test(cause, a_job_verdict_names_its_class_and_keeps_the_last_pull_failure)
{
    ipd_task_t prev, t;
    ipd_task_init(&prev, "node-a", 1);
    t = prev;
    set(&t, IPD_TASK_RETRYING, "ErrImagePull", REG401);
    ipd_task_keep_failure(&t, &prev);
    prev = t;
    set(&t, IPD_TASK_FAILED, "DeadlineExceeded", "Job was active longer than specified deadline");
    ipd_task_keep_failure(&t, &prev);
    ipd_task_set_cause(&t);
    cr_assert_eq(t.cause, IPD_CAUSE_DEADLINE);
    cr_assert_str_eq(t.fail_message, REG401);
    ipd_job_t job;
    memset(&job, 0, sizeof(job));
    ipd_job_aggregate(&job, &t, 1, 10);
    cr_assert_eq(job.error_cause, IPD_CAUSE_DEADLINE);
    cr_assert_not_null(strstr(job.error_message, "Job was active longer than specified deadline: ErrImagePull: "), "%s",
                       job.error_message);
    cr_assert_not_null(strstr(job.error_message, "401"), "%s", job.error_message);

    /* BackoffLimitExceeded names no class of its own: the kept failure gives it. */
    set(&t, IPD_TASK_FAILED, "BackoffLimitExceeded", "Job has reached the specified backoff limit");
    ipd_task_keep_failure(&t, &t);
    ipd_task_set_cause(&t);
    cr_assert_eq(t.cause, IPD_CAUSE_AUTH);
}

Test(cause, a_back_off_that_carries_the_error_or_comes_first_is_kept)
{
    ipd_task_t t;
    ipd_task_init(&t, "node-a", 1);
    set(&t, IPD_TASK_RETRYING, "ImagePullBackOff", "Back-off pulling image \"x:1\"");
    ipd_task_keep_failure(&t, &t);
    cr_assert_str_eq(t.fail_reason, "ImagePullBackOff");
    set(&t, IPD_TASK_RETRYING, "ImagePullBackOff", "Back-off pulling image \"x:1\": ErrImagePull: x:1: not found");
    ipd_task_keep_failure(&t, &t);
    ipd_task_set_cause(&t);
    cr_assert_str_eq(t.fail_message, "Back-off pulling image \"x:1\": ErrImagePull: x:1: not found");
    cr_assert_eq(t.cause, IPD_CAUSE_NOT_FOUND);
}

Test(cause, states_without_a_failure_have_no_cause)
{
    ipd_task_t t;
    ipd_task_init(&t, "node-a", 1);
    ipd_task_set_cause(&t);
    cr_assert_eq(t.cause, IPD_CAUSE_NONE);
    set(&t, IPD_TASK_RETRYING, "ErrImagePull", REG401);
    ipd_task_keep_failure(&t, &t);
    set(&t, IPD_TASK_SUCCEEDED, "Pulled", "Successfully pulled image \"x\" in 1s");
    ipd_task_set_cause(&t);
    cr_assert_eq(t.cause, IPD_CAUSE_NONE);
    cr_assert_str_eq(t.fail_reason, "ErrImagePull", "the last failure stays as history");
    set(&t, IPD_TASK_CANCELLED, "Cancelled", "cancelled");
    ipd_task_set_cause(&t);
    cr_assert_eq(t.cause, IPD_CAUSE_CANCELLED);
    set(&t, IPD_TASK_UNKNOWN, "NodeDaemonLost", "");
    ipd_task_set_cause(&t);
    cr_assert_eq(t.cause, IPD_CAUSE_NODE_UNAVAILABLE);
}
