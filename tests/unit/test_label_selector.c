#include <criterion/criterion.h>
#include <string.h>

#include "proto/error.h"
#include "proto/label_selector.h"

static int parse(const char *text, ipd_label_selector_t *sel, char *msg)
{
    json_t *o = json_loads(text, 0, NULL);
    cr_assert_not_null(o, "%s", text);
    int rc = ipd_label_selector_parse(o, "node_selector", 5, NULL, sel, msg, 256);
    json_decref(o);
    return rc;
}

static int matches(const ipd_label_selector_t *sel, const char *labels)
{
    json_t *l = json_loads(labels, 0, NULL);
    int m = ipd_label_selector_matches(sel, l);
    json_decref(l);
    return m;
}

Test(label_selector, a_plain_map_is_every_label_equal)
{
    ipd_label_selector_t sel;
    char msg[256], text[256];
    cr_assert_eq(parse("{\"pool\":\"gpu\",\"zone\":\"a\"}", &sel, msg), 0, "%s", msg);
    cr_assert(matches(&sel, "{\"pool\":\"gpu\",\"zone\":\"a\",\"x\":\"y\"}"));
    cr_assert_not(matches(&sel, "{\"pool\":\"gpu\"}"));
    cr_assert_not(matches(&sel, "{\"pool\":\"cpu\",\"zone\":\"a\"}"));
    cr_assert_gt(ipd_label_selector_format(&sel, text, sizeof(text)), 0);
    cr_assert_str_eq(text, "pool=gpu,zone=a");
    ipd_label_selector_dispose(&sel);
}

Test(label_selector, match_expressions_evaluate_as_kubernetes_does)
{
    ipd_label_selector_t sel;
    char msg[256], text[256];
    const char *s = "{\"matchLabels\":{\"pool\":\"gpu\"},\"matchExpressions\":["
                    "{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]},"
                    "{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"spot\"]},"
                    "{\"key\":\"gpu.vendor\",\"operator\":\"Exists\"},"
                    "{\"key\":\"drain\",\"operator\":\"DoesNotExist\"}]}";
    cr_assert_eq(parse(s, &sel, msg), 0, "%s", msg);
    cr_assert(matches(&sel, "{\"pool\":\"gpu\",\"zone\":\"b\",\"gpu.vendor\":\"x\"}"));
    /* NotIn matches a missing label; In does not. */
    cr_assert(matches(&sel, "{\"pool\":\"gpu\",\"zone\":\"a\",\"tier\":\"ondemand\",\"gpu.vendor\":\"\"}"));
    cr_assert_not(matches(&sel, "{\"pool\":\"gpu\",\"gpu.vendor\":\"x\"}"));
    cr_assert_not(matches(&sel, "{\"pool\":\"gpu\",\"zone\":\"c\",\"gpu.vendor\":\"x\"}"));
    cr_assert_not(matches(&sel, "{\"pool\":\"gpu\",\"zone\":\"a\",\"tier\":\"spot\",\"gpu.vendor\":\"x\"}"));
    cr_assert_not(matches(&sel, "{\"pool\":\"gpu\",\"zone\":\"a\"}"));
    cr_assert_not(matches(&sel, "{\"pool\":\"gpu\",\"zone\":\"a\",\"gpu.vendor\":\"x\",\"drain\":\"1\"}"));
    cr_assert_gt(ipd_label_selector_format(&sel, text, sizeof(text)), 0);
    cr_assert_str_eq(text, "pool=gpu,zone in (a,b),tier notin (spot),gpu.vendor,!drain");
    /* The structured JSON reads back to the same selector. */
    json_t *j = ipd_label_selector_to_json(&sel);
    ipd_label_selector_t back;
    cr_assert_eq(ipd_label_selector_parse(j, "x", 8, NULL, &back, msg, sizeof(msg)), 0, "%s", msg);
    char text2[256];
    ipd_label_selector_format(&back, text2, sizeof(text2));
    cr_assert_str_eq(text2, text);
    ipd_label_selector_t copy;
    cr_assert_eq(ipd_label_selector_copy(&copy, &back), 0);
    ipd_label_selector_format(&copy, text2, sizeof(text2));
    cr_assert_str_eq(text2, text);
    json_decref(j);
    ipd_label_selector_dispose(&copy);
    ipd_label_selector_dispose(&back);
    ipd_label_selector_dispose(&sel);
}

Test(label_selector, invalid_selectors_are_refused_in_the_apiserver_s_words)
{
    static const struct {
        const char *in, *msg;
    } cases[] = {
        {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\",\"values\":[\"x\"]}]}",
         "node_selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or "
         "'DoesNotExist'"},
        {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[]}]}",
         "node_selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or "
         "'NotIn'"},
        {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"NotIn\"}]}",
         "node_selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or "
         "'NotIn'"},
        {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}",
         "node_selector.matchExpressions[0].operator: Invalid value: \"Gt\": not a valid selector operator"},
        {"{\"matchExpressions\":[{\"operator\":\"Exists\"}]}", "node_selector.matchExpressions[0].key: Required value"},
        {"{\"matchExpressions\":[{\"key\":\"-bad\",\"operator\":\"Exists\"}]}",
         "node_selector.matchExpressions[0].key: Invalid value: \"-bad\": not a valid label key"},
        {"{\"matchLabels\":{\"a\":\"b c\"}}",
         "node_selector.matchLabels[\"a\"]: Invalid value: not a valid label value"},
        {"{\"matchLabels\":{},\"matchExpressions\":[]}",
         "node_selector: matchLabels and matchExpressions are both empty"},
        {"{\"matchLabels\":{\"a\":\"b\"},\"other\":1}", "node_selector: unknown field \"other\""},
        {"{}", "node_selector must be a non-empty object"},
        {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\",\"extra\":1}]}",
         "node_selector.matchExpressions[0]: unknown field \"extra\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ipd_label_selector_t sel;
        char msg[256] = "";
        cr_assert_eq(parse(cases[i].in, &sel, msg), IPD_EINVAL, "%s", cases[i].in);
        cr_assert(strncmp(msg, cases[i].msg, strlen(cases[i].msg)) == 0, "%s: %s", cases[i].in, msg);
        cr_assert_null(sel.reqs);
    }
    ipd_label_selector_t sel;
    char msg[256];
    cr_assert_eq(parse("{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\",\"e\":\"5\",\"f\":\"6\"}", &sel, msg),
                 IPD_ETOOBIG);
    cr_assert_eq(parse("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[\"1\",\"2\",\"3\",\"4\","
                       "\"5\",\"6\"]}]}",
                       &sel, msg),
                 IPD_ETOOBIG);
}

Test(label_selector, a_selection_carries_the_pod_selection_and_reads_back)
{
    ipd_label_selector_t nodes, pods;
    char msg[256], out[512], again[512], ns[64];
    cr_assert_eq(parse("{\"pool\":\"web\"}", &nodes, msg), 0, "%s", msg);
    cr_assert_eq(parse("{\"matchLabels\":{\"app\":\"web\"}}", &pods, msg), 0, "%s", msg);
    cr_assert_gt(ipd_selection_write(0, &nodes, "shop", &pods, out, sizeof(out)), 0);
    cr_expect_str_eq(out, "{\"node_selector\":{\"matchLabels\":{\"pool\":\"web\"}},\"pod_selector\":{\"matchLabels\":"
                          "{\"app\":\"web\"},\"namespace\":\"shop\"}}");
    json_t *doc = json_loads(out, 0, NULL);
    ipd_label_selector_t read;
    cr_assert_eq(ipd_pod_selection_read(doc, ns, sizeof(ns), &read), 0);
    cr_expect_str_eq(ns, "shop");
    cr_expect(matches(&read, "{\"app\":\"web\"}"));
    cr_expect_eq(ipd_selection_copy(doc, again, sizeof(again)), (int)strlen(out));
    cr_expect_str_eq(again, out);
    json_decref(doc);
    ipd_label_selector_dispose(&read);
    /* Without one: IPD_ENOTFOUND, and a node selection alone copies as it was. */
    cr_assert_gt(ipd_node_selection_write(1, &nodes, out, sizeof(out)), 0);
    doc = json_loads(out, 0, NULL);
    cr_expect_eq(ipd_pod_selection_read(doc, ns, sizeof(ns), &read), IPD_ENOTFOUND);
    cr_expect_eq(ipd_selection_copy(doc, again, sizeof(again)), (int)strlen("{\"all_nodes\":true}"));
    json_decref(doc);
    ipd_label_selector_dispose(&nodes);
    ipd_label_selector_dispose(&pods);
}
