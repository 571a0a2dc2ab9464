/* The pure parts of pod-log streaming: the query, the framer, what a Pod and a Status say. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "proto/pod_logs.h"

#define S(lit) lit, sizeof(lit) - 1

static int parse(const char *q, ipd_logs_query_t *out, char *msg)
{
    return ipd_logs_query_parse(q, strlen(q), 10000, out, msg, 256);
}

Test(logs_query, defaults_and_every_option)
{
    ipd_logs_query_t q;
    char msg[256];
    cr_assert_eq(parse("pod=web-1", &q, msg), 0, "%s", msg);
    cr_assert_str_eq(q.pod, "web-1");
    cr_assert_eq(q.follow, 1);
    cr_assert_eq(q.tail_lines, -1);
    cr_assert_eq(q.limit_bytes, 0);
    cr_assert_eq(parse("namespace=imgpulld&pod=a.b&container=c&follow=false&tailLines=0&timestamps=1&previous=true"
                       "&sinceTime=2026-01-02T03:04:05.678%2B01:00&limitBytes=99&access_token=whatever",
                       &q, msg),
                 0, "%s", msg);
    cr_assert_str_eq(q.ns, "imgpulld");
    cr_assert_str_eq(q.container, "c");
    cr_assert(q.follow == 0 && q.timestamps == 1 && q.previous == 1 && q.tail_lines == 0);
    cr_assert(q.has_since_time && q.limit_bytes == 99);
    cr_assert_eq(parse("job=pj-0a1b2c3d&node=node-1&sinceSeconds=30", &q, msg), 0, "%s", msg);
    cr_assert_str_eq(q.job, "pj-0a1b2c3d");
    cr_assert_eq(q.since_seconds, 30);
}

Test(logs_query, every_bad_value_names_its_parameter)
{
    static const char *const bad[][2] = {
        {"pod=a&tailLines=10001", "tailLines"},
        {"pod=a&tailLines=-1", "tailLines"},
        {"pod=a&tailLines=", "tailLines"},
        {"pod=a&follow=yes", "follow"},
        {"pod=a&timestamps=", "timestamps"},
        {"pod=a&previous=2", "previous"},
        {"pod=a&sinceSeconds=0", "sinceSeconds"},
        {"pod=a&sinceTime=2026-13-01T00:00:00Z", "sinceTime"},
        {"pod=a&sinceSeconds=1&sinceTime=2026-01-01T00:00:00Z", "sinceTime"},
        {"pod=a&limitBytes=0", "limitBytes"},
        {"pod=a&limitBytes=9007199254740992", "limitBytes"},
        {"pod=a&namespace=-x", "namespace"},
        {"pod=A", "pod"},
        {"pod=a..b", "pod"},
        {"pod=a&container=c_d", "container"},
        {"job=pj-1", "node"},
        {"node=n", "job"},
        {"pod=a&job=pj-1&node=n", "pod"},
        {"", "pod"},
        {"pod=a&x=1", "x"},
        {"pod=a&pod=b", "pod"},
        {"job=PJ&node=n", "job"},
        {"pod=a&tailLines=%zz", "tailLines"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ipd_logs_query_t q;
        char msg[256];
        cr_assert_eq(parse(bad[i][0], &q, msg), -1, "%s was accepted", bad[i][0]);
        size_t n = strlen(bad[i][1]);
        cr_assert(strncmp(msg, bad[i][1], n) == 0 && msg[n] == ':', "%s: message \"%s\" does not name %s", bad[i][0],
                  msg, bad[i][1]);
    }
}

Test(logs_query, log_path_carries_the_options)
{
    ipd_logs_query_t q;
    char msg[256];
    ipd_buf_t b;
    ipd_buf_init(&b);
    cr_assert_eq(parse("pod=p&timestamps=true&tailLines=5&sinceTime=2026-01-02T03:04:05Z&limitBytes=100", &q, msg), 0);
    cr_assert_eq(ipd_logs_query_log_path(&q, "ns", "p", "c", 40, &b), 0);
    cr_assert_str_eq(b.data, "/api/v1/namespaces/ns/pods/p/log?container=c&follow=true&timestamps=true&tailLines=5"
                             "&sinceTime=2026-01-02T03:04:05.000Z&limitBytes=40");
    ipd_buf_reset(&b);
    cr_assert_eq(parse("pod=p&follow=false&sinceSeconds=7&previous=true", &q, msg), 0);
    cr_assert_eq(ipd_logs_query_log_path(&q, "ns", "p", "", 0, &b), 0);
    cr_assert_str_eq(b.data, "/api/v1/namespaces/ns/pods/p/log?previous=true&sinceSeconds=7");
    ipd_buf_dispose(&b);
}

Test(logs_query, dns_names)
{
    cr_assert(ipd_logs_is_dns_label(S("a-1")));
    cr_assert(!ipd_logs_is_dns_label(S("a-")));
    cr_assert(!ipd_logs_is_dns_label(S("a.b")));
    cr_assert(ipd_logs_is_dns_subdomain(S("a.b-c.d")));
    cr_assert(!ipd_logs_is_dns_subdomain(S("a..b")));
    cr_assert(!ipd_logs_is_dns_subdomain(S(".a")));
}

/* Frames collected by the framer tests. */
struct frames {
    char data[1 << 16];
    size_t len;
    size_t sizes[64];
    size_t n;
};

static int on_frame(const char *frame, size_t len, void *data)
{
    struct frames *f = data;
    cr_assert(f->n < 64 && f->len + len <= sizeof(f->data));
    memcpy(f->data + f->len, frame, len);
    f->len += len;
    f->sizes[f->n++] = len;
    return 0;
}

Test(logs_frame, cuts_at_the_last_line_end_and_splits_long_lines)
{
    ipd_logs_framer_t fr;
    struct frames *out = calloc(1, sizeof(*out));
    cr_assert_eq(ipd_logs_framer_init(&fr, 10), 0);
    /* "aaaa\nbbb\n" fits; "cc\n" starts the next frame; a 25-byte line is split 10 + 10 + rest. */
    const char in[] = "aaaa\nbbb\ncc\nxxxxxxxxxxxxxxxxxxxxxxxx\nd\n";
    for (size_t i = 0; i < sizeof(in) - 1; i += 3) /* in pieces, as the network would */
        cr_assert_eq(ipd_logs_framer_push(&fr, in + i, sizeof(in) - 1 - i < 3 ? sizeof(in) - 1 - i : 3, on_frame, out),
                     0);
    cr_assert_eq(ipd_logs_framer_flush(&fr, 1, on_frame, out), 0);
    cr_assert_eq(fr.len, 0);
    cr_assert_eq(out->len, sizeof(in) - 1);
    cr_assert_eq(memcmp(out->data, in, out->len), 0);
    for (size_t i = 0; i < out->n; i++)
        cr_assert(out->sizes[i] <= 10);
    cr_assert_eq(out->sizes[0], 9); /* "aaaa\nbbb\n": the frame ended at a line end */
    ipd_logs_framer_dispose(&fr);
    free(out);
}

Test(logs_frame, keeps_a_partial_line_until_flushed_whole)
{
    ipd_logs_framer_t fr;
    struct frames *out = calloc(1, sizeof(*out));
    cr_assert_eq(ipd_logs_framer_init(&fr, 64), 0);
    cr_assert_eq(ipd_logs_framer_push(&fr, S("one\ntw"), on_frame, out), 0);
    cr_assert_eq(ipd_logs_framer_flush(&fr, 1, on_frame, out), 0);
    cr_assert(out->n == 1 && out->sizes[0] == 4);
    cr_assert_eq(fr.len, 2);
    cr_assert_eq(ipd_logs_framer_flush(&fr, 0, on_frame, out), 0);
    cr_assert(out->n == 2 && memcmp(out->data, "one\ntw", 6) == 0);
    ipd_logs_framer_dispose(&fr);
    free(out);
}

static const char pod_json[] =
    "{\"spec\":{\"containers\":[{\"name\":\"app\"},{\"name\":\"side\"}]},"
    "\"status\":{\"containerStatuses\":[{\"name\":\"app\",\"state\":{\"running\":{}},"
    "\"lastState\":{\"terminated\":{\"exitCode\":1}}},{\"name\":\"side\",\"state\":{\"waiting\":{}}}]}}";

Test(logs_pod, containers_and_their_state)
{
    json_t *pod = json_loads(pod_json, 0, NULL);
    char out[IPD_LOGS_CONTAINER_SIZE], msg[256];
    int prev;
    cr_assert_not_null(pod);
    cr_assert_eq(ipd_logs_pod_ncontainers(pod), 2);
    cr_assert_eq(ipd_logs_pod_container_state(pod, "app", &prev), IPD_LOGS_CONTAINER_RUNNING);
    cr_assert_eq(prev, 1);
    cr_assert_eq(ipd_logs_pod_container_state(pod, "side", &prev), IPD_LOGS_CONTAINER_UNKNOWN);
    cr_assert_eq(ipd_logs_pick_container(pod, "p", "side", out, msg, sizeof(msg)), 0);
    cr_assert_str_eq(out, "side");
    cr_assert_eq(ipd_logs_pick_container(pod, "p", "", out, msg, sizeof(msg)), -1);
    cr_assert_str_eq(msg, "container: pod p has 2 containers; choose one of: app, side");
    cr_assert_eq(ipd_logs_pick_container(pod, "p", "nope", out, msg, sizeof(msg)), -1);
    cr_assert_str_eq(msg, "container: \"nope\" is not a container of pod p; choose one of: app, side");
    json_decref(pod);
}

/* An init and an ephemeral container may be named, as the apiserver allows (pkg/registry/core/pod/strategy.go). */
Test(logs_pod, init_and_ephemeral_containers_are_named_not_defaulted)
{
    json_t *pod =
        json_loads("{\"spec\":{\"initContainers\":[{\"name\":\"setup\"}],\"containers\":[{\"name\":\"app\"}],"
                   "\"ephemeralContainers\":[{\"name\":\"debug\"}]},"
                   "\"status\":{\"initContainerStatuses\":[{\"name\":\"setup\",\"state\":{\"terminated\":{}}}],"
                   "\"ephemeralContainerStatuses\":[{\"name\":\"debug\",\"state\":{\"running\":{}}}]}}",
                   0, NULL);
    char out[IPD_LOGS_CONTAINER_SIZE], msg[256];
    cr_assert_not_null(pod);
    cr_assert_eq(ipd_logs_pick_container(pod, "p", "", out, msg, sizeof(msg)), 0);
    cr_assert_str_eq(out, "app");
    cr_assert_eq(ipd_logs_pick_container(pod, "p", "setup", out, msg, sizeof(msg)), 0);
    cr_assert_str_eq(out, "setup");
    cr_assert_eq(ipd_logs_pick_container(pod, "p", "debug", out, msg, sizeof(msg)), 0);
    cr_assert_eq(ipd_logs_pod_container_state(pod, "setup", NULL), IPD_LOGS_CONTAINER_TERMINATED);
    cr_assert_eq(ipd_logs_pod_container_state(pod, "debug", NULL), IPD_LOGS_CONTAINER_RUNNING);
    cr_assert_eq(ipd_logs_pick_container(pod, "p", "nope", out, msg, sizeof(msg)), -1);
    cr_assert_str_eq(msg, "container: \"nope\" is not a container of pod p; choose one of: setup, app, debug");
    json_decref(pod);
}

Test(logs_pod, status_message)
{
    char out[32];
    ipd_logs_status_message(S("{\"kind\":\"Status\",\"message\":\"pods \\\"x\\\" not found\",\"code\":404}"), out,
                            sizeof(out));
    cr_assert_str_eq(out, "pods \"x\" not found");
    ipd_logs_status_message(S("plain text body\n"), out, sizeof(out));
    cr_assert_str_eq(out, "plain text body");
    ipd_logs_status_message(S("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                              "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"),
                            out, sizeof(out));
    cr_assert_eq(strlen(out), 30); /* cut before a character, not inside one */
}

Test(logs_query, a_message_quoting_a_client_stays_one_line)
{
    ipd_logs_query_t q;
    char msg[256];
    cr_assert_eq(parse("pod=a%0Ab", &q, msg), -1);
    cr_assert_null(strchr(msg, '\n'), "%s", msg);
    cr_assert_not_null(strstr(msg, "a?b"), "%s", msg);
}
