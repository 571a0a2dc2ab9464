#include <criterion/criterion.h>
#include <string.h>

#include "proto/error.h"
#include "proto/pull_request.h"

static const ipd_pull_limits_t limits = {.max_images = 4, .max_nodes = 3, .max_selector_terms = 2};

static int parse(const char *body, ipd_pull_request_t *r, char *msg)
{
    return ipd_pull_request_parse(body, strlen(body), &limits, r, msg, 256);
}

Test(pull_request, one_image_on_named_nodes_with_defaults)
{
    ipd_pull_request_t r;
    char msg[256];
    cr_assert_eq(parse("{\"image\":\"docker.io/library/nginx:1.27\",\"nodes\":[\"node-a\",\"node-b\"]}", &r, msg), 0,
                 "%s", msg);
    cr_assert_eq(r.nimages, 1);
    cr_assert_str_eq(r.images[0], "docker.io/library/nginx:1.27");
    cr_assert_eq(r.node_choice, IPD_NODES_BY_NAME);
    cr_assert_eq(r.nnodes, 2);
    cr_assert_str_eq(r.nodes[1], "node-b");
    cr_assert_eq(r.pull_policy, IPD_PULL_IF_NOT_PRESENT);
    cr_assert_eq(r.spec.backoff_limit, 3);
    cr_assert_eq(r.spec.ttl_seconds_after_finished, -1);
    cr_assert_eq(r.spec.parallelism, 0);
    ipd_pull_request_dispose(&r);
}

Test(pull_request, images_selector_and_every_option)
{
    ipd_pull_request_t r;
    char msg[256], sel[128];
    const char *body = "{\"images\":[\"registry:5000/img:tag\",\"nginx@sha256:"
                       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"],"
                       "\"node_selector\":{\"kubernetes.io/os\":\"linux\",\"pool\":\"gpu\"},"
                       "\"pull_policy\":\"Always\",\"timeout_seconds\":120,\"backoff_limit\":0,"
                       "\"deadline_seconds\":600,\"parallelism\":2,\"pull_secrets\":[\"reg-a\",\"reg-b\"],"
                       "\"ttl_seconds_after_finished\":0}";
    cr_assert_eq(parse(body, &r, msg), 0, "%s", msg);
    cr_assert_eq(r.nimages, 2);
    cr_assert_eq(r.node_choice, IPD_NODES_BY_LABELS);
    cr_assert_eq(r.pull_policy, IPD_PULL_ALWAYS);
    cr_assert_eq(r.spec.timeout_seconds, 120);
    cr_assert_eq(r.spec.backoff_limit, 0);
    cr_assert_eq(r.spec.deadline_seconds, 600);
    cr_assert_eq(r.spec.parallelism, 2);
    cr_assert_eq(r.spec.ttl_seconds_after_finished, 0);
    cr_assert_str_eq(r.spec.pull_secrets, "reg-a,reg-b");
    cr_assert_gt(ipd_pull_request_label_selector(&r, sel, sizeof(sel)), 0);
    cr_assert(strcmp(sel, "kubernetes.io/os=linux,pool=gpu") == 0 ||
                  strcmp(sel, "pool=gpu,kubernetes.io/os=linux") == 0,
              "%s", sel);
    ipd_pull_request_dispose(&r);
}

Test(pull_request, all_nodes)
{
    ipd_pull_request_t r;
    char msg[256];
    cr_assert_eq(parse("{\"image\":\"nginx\",\"all_nodes\":true}", &r, msg), 0, "%s", msg);
    cr_assert_eq(r.node_choice, IPD_NODES_ALL);
    ipd_pull_request_dispose(&r);
}

struct bad_case {
    const char *body;
    int code;
    const char *needle;
};

Test(pull_request, bad_bodies_name_the_problem)
{
    static const struct bad_case cases[] = {
        {"{\"image\":\"nginx\",\"nodes\":[\"a\"]", IPD_EINVAL, "malformed JSON at byte"},
        {"[1]", IPD_EINVAL, "JSON object"},
        {"{\"image\":\"nginx\",\"nodes\":[\"a\"],\"colour\":1}", IPD_EINVAL, "unknown field \"colour\""},
        {"{\"image\":\"Nginx\",\"nodes\":[\"a\"]}", IPD_EINVAL, "image \"Nginx\""},
        {"{\"image\":\"nginx:\",\"nodes\":[\"a\"]}", IPD_EINVAL, "image"},
        {"{\"image\":\"nginx@sha256:abc\",\"nodes\":[\"a\"]}", IPD_EINVAL, "image"},
        {"{\"image\":3,\"nodes\":[\"a\"]}", IPD_EINVAL, "image must be a string"},
        {"{\"nodes\":[\"a\"]}", IPD_EINVAL, "image (or images, or pod_selector) is required"},
        {"{\"image\":\"a\",\"images\":[\"b\"],\"nodes\":[\"a\"]}", IPD_EINVAL, "not both"},
        {"{\"image\":\"nginx\"}", IPD_EINVAL, "one of nodes, node_selector or all_nodes"},
        {"{\"image\":\"nginx\",\"nodes\":[\"a\"],\"all_nodes\":true}", IPD_EINVAL, "exclusive"},
        {"{\"image\":\"nginx\",\"nodes\":[]}", IPD_EINVAL, "nodes must be a non-empty array"},
        {"{\"image\":\"nginx\",\"nodes\":[\"a\",\"a\"]}", IPD_EINVAL, "nodes[1] repeats"},
        {"{\"image\":\"nginx\",\"nodes\":[\"Node_A\"]}", IPD_EINVAL, "nodes[0] \"Node_A\""},
        {"{\"image\":\"nginx\",\"nodes\":[\"a\",\"b\",\"c\",\"d\"]}", IPD_ETOOBIG, "at most 3"},
        {"{\"images\":[\"a\",\"b\",\"c\",\"d\",\"e\"],\"all_nodes\":true}", IPD_ETOOBIG, "at most 4"},
        {"{\"image\":\"nginx\",\"all_nodes\":false}", IPD_EINVAL, "all_nodes must be true"},
        {"{\"image\":\"nginx\",\"node_selector\":{}}", IPD_EINVAL, "node_selector must be"},
        {"{\"image\":\"nginx\",\"node_selector\":{\"a b\":\"x\"}}", IPD_EINVAL, "not a valid label key"},
        {"{\"image\":\"nginx\",\"node_selector\":{\"a\":\"-x\"}}", IPD_EINVAL, "valid label value"},
        {"{\"image\":\"nginx\",\"all_nodes\":true,\"pull_policy\":\"Never\"}", IPD_EINVAL, "pull_policy"},
        {"{\"image\":\"nginx\",\"all_nodes\":true,\"timeout_seconds\":0}", IPD_EINVAL, "timeout_seconds must be"},
        {"{\"image\":\"nginx\",\"all_nodes\":true,\"backoff_limit\":\"3\"}", IPD_EINVAL, "backoff_limit must be"},
        {"{\"image\":\"nginx\",\"all_nodes\":true,\"parallelism\":-1}", IPD_EINVAL, "parallelism must be"},
        {"{\"image\":\"nginx\",\"all_nodes\":true,\"pull_secrets\":[\"UPPER\"]}", IPD_EINVAL, "pull_secrets[0]"},
        {"{\"image\":\"nginx\",\"all_nodes\":true,\"image\":\"x\"}", IPD_EINVAL, "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ipd_pull_request_t r;
        char msg[256] = "";
        int rc = parse(cases[i].body, &r, msg);
        cr_assert_eq(rc, cases[i].code, "case %zu (%s): rc %d msg %s", i, cases[i].body, rc, msg);
        cr_assert(strstr(msg, cases[i].needle) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, msg, cases[i].needle);
        cr_assert_null(r.images);
        cr_assert_null(r.nodes);
    }
}

Test(pull_request, name_validators)
{
    cr_assert(ipd_is_dns_subdomain("node-a.example.com"));
    cr_assert_not(ipd_is_dns_subdomain("-a"));
    cr_assert_not(ipd_is_dns_subdomain("a..b"));
    cr_assert_not(ipd_is_dns_subdomain("a-.b"));
    cr_assert_not(ipd_is_dns_subdomain(""));
    cr_assert(ipd_is_label_value(""));
    cr_assert(ipd_is_label_value("Gpu_1.x"));
    cr_assert_not(ipd_is_label_value("x-"));
    cr_assert(ipd_is_label_key("kubernetes.io/hostname"));
    cr_assert_not(ipd_is_label_key("/x"));
    cr_assert_not(ipd_is_label_key("a/b/c"));
}

Test(pull_request, node_selector_takes_match_expressions)
{
    ipd_pull_request_t r;
    char msg[256], sel[128];
    cr_assert_eq(parse("{\"image\":\"a:1\",\"node_selector\":{\"matchExpressions\":[{\"key\":\"pool\",\"operator\":"
                       "\"In\",\"values\":[\"gpu\",\"tpu\"]}]}}",
                       &r, msg),
                 0, "%s", msg);
    cr_assert_eq(r.node_choice, IPD_NODES_BY_LABELS);
    cr_assert_gt(ipd_pull_request_label_selector(&r, sel, sizeof(sel)), 0);
    cr_assert_str_eq(sel, "pool in (gpu,tpu)");
    ipd_pull_request_dispose(&r);
    cr_assert_eq(parse("{\"image\":\"a:1\",\"node_selector\":{\"matchExpressions\":[{\"key\":\"pool\",\"operator\":"
                       "\"Exists\",\"values\":[\"x\"]}]}}",
                       &r, msg),
                 IPD_EINVAL);
    cr_assert(strstr(msg, "values: Forbidden") != NULL, "%s", msg);
}

Test(pull_request, pod_selector_brings_the_images_and_defaults_to_every_node)
{
    ipd_pull_request_t r;
    char msg[256];
    cr_assert_eq(parse("{\"pod_selector\":{\"namespace\":\"shop\",\"matchLabels\":{\"app\":\"web\"}}}", &r, msg), 0,
                 "%s", msg);
    cr_assert_eq(r.nimages, 0);
    cr_assert_str_eq(r.pod_namespace, "shop");
    cr_assert_eq(r.pod_selector.nreqs, 1);
    cr_assert_eq(r.node_choice, IPD_NODES_ALL);
    ipd_pull_request_dispose(&r);
    /* The plain map form, with a node choice of its own. */
    cr_assert_eq(parse("{\"pod_selector\":{\"namespace\":\"shop\",\"app\":\"web\"},\"node_selector\":{\"pool\":\"a\"}}",
                       &r, msg),
                 0, "%s", msg);
    cr_assert_eq(r.node_choice, IPD_NODES_BY_LABELS);
    cr_assert_eq(r.pod_selector.nreqs, 1);
    cr_assert_str_eq(r.pod_selector.reqs[0].key, "app");
    ipd_pull_request_dispose(&r);
    cr_assert_eq(parse("{\"pod_selector\":{\"matchLabels\":{\"app\":\"web\"}}}", &r, msg), IPD_EINVAL);
    cr_assert(strstr(msg, "namespace") != NULL, "%s", msg);
    cr_assert_eq(parse("{\"image\":\"a:1\",\"pod_selector\":{\"namespace\":\"s\",\"app\":\"web\"}}", &r, msg),
                 IPD_EINVAL);
    cr_assert_str_eq(msg, "give image, images or pod_selector, not several");
}

Test(pull_request, keep_follows_a_node_set_and_refresh_needs_keep)
{
    ipd_pull_request_t r;
    char msg[256];
    cr_assert_eq(parse("{\"image\":\"a:1\",\"all_nodes\":true,\"keep\":true,\"refresh_seconds\":3600}", &r, msg), 0,
                 "%s", msg);
    cr_assert(r.keep);
    cr_assert_eq(r.spec.refresh_seconds, 3600);
    ipd_pull_request_dispose(&r);
    cr_assert_eq(parse("{\"image\":\"a:1\",\"node_selector\":{\"p\":\"q\"},\"keep\":true}", &r, msg), 0, "%s", msg);
    cr_assert_eq(r.spec.refresh_seconds, 0);
    ipd_pull_request_dispose(&r);
    cr_assert_eq(parse("{\"image\":\"a:1\",\"nodes\":[\"n\"],\"keep\":true}", &r, msg), IPD_EINVAL);
    cr_assert_str_eq(msg, "keep needs node_selector or all_nodes (a node set to follow), not nodes");
    cr_assert_eq(parse("{\"image\":\"a:1\",\"all_nodes\":true,\"refresh_seconds\":600}", &r, msg), IPD_EINVAL);
    cr_assert_str_eq(msg, "refresh_seconds needs keep: true");
    cr_assert_eq(parse("{\"image\":\"a:1\",\"all_nodes\":true,\"keep\":true,\"refresh_seconds\":5}", &r, msg),
                 IPD_EINVAL);
    cr_assert_eq(parse("{\"image\":\"a:1\",\"all_nodes\":true,\"keep\":1}", &r, msg), IPD_EINVAL);
}
