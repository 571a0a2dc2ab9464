#include <criterion/criterion.h>
#include <string.h>

#include "proto/kube_node.h"

static json_t *node(const char *ready, int cordoned, const char *taints)
{
    json_t *n = json_pack("{s:{s:s}, s:{}, s:{s:[{s:s, s:s, s:s, s:s}]}}", "metadata", "name", "node-a", "spec",
                          "status", "conditions", "type", "Ready", "status", ready, "reason",
                          strcmp(ready, "True") == 0 ? "KubeletReady" : "NodeStatusUnknown", "message",
                          strcmp(ready, "True") == 0 ? "kubelet is posting ready status"
                                                     : "Kubelet stopped posting node status.");
    if (cordoned)
        json_object_set_new(json_object_get(n, "spec"), "unschedulable", json_true());
    if (taints != NULL)
        json_object_set_new(json_object_get(n, "spec"), "taints", json_loads(taints, 0, NULL));
    return n;
}

static ipd_node_block_t check(json_t *n, const char *tolerations, char reason[64], char message[512])
{
    json_t *tol = tolerations ? json_loads(tolerations, 0, NULL) : NULL;
    reason[0] = message[0] = '\0';
    ipd_node_block_t b = ipd_kube_node_check(n, "node-a", tol, reason, 64, message, 512);
    json_decref(tol);
    json_decref(n);
    return b;
}

Test(kube_node, ready_untainted_node_is_usable_and_leaves_text_alone)
{
    char reason[64], message[512];
    cr_assert_eq(check(node("True", 0, NULL), NULL, reason, message), IPD_NODE_USABLE);
    cr_assert_str_empty(reason);
    cr_assert_str_empty(message);
}

Test(kube_node, missing_or_not_ready_node_says_node_not_ready_with_the_kubelet_words)
{
    char reason[64], message[512];
    cr_assert_eq(check(NULL, NULL, reason, message), IPD_NODE_NOT_READY);
    cr_assert_str_eq(reason, "NodeNotReady");
    cr_assert_str_eq(message, "node node-a is not in the cluster");
    /* The node lifecycle controller's taints for an unreachable node are not reported as Unschedulable. */
    json_t *n = node("Unknown", 0,
                     "[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoSchedule\"},"
                     "{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"}]");
    cr_assert_eq(check(n, NULL, reason, message), IPD_NODE_NOT_READY);
    cr_assert_str_eq(reason, "NodeNotReady");
    cr_assert_str_eq(message, "node node-a is not Ready (NodeStatusUnknown): Kubelet stopped posting node status.");
}

Test(kube_node, cordoned_node_says_node_cordoned_before_its_unschedulable_taint)
{
    char reason[64], message[512];
    json_t *n = node("True", 1, "[{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\"}]");
    cr_assert_eq(check(n, NULL, reason, message), IPD_NODE_CORDONED);
    cr_assert_str_eq(reason, "NodeCordoned");
    cr_assert(strstr(message, "node-a is cordoned") != NULL, "%s", message);
}

Test(kube_node, untolerated_noschedule_or_noexecute_taint_is_unschedulable)
{
    char reason[64], message[512];
    const char *cp = "[{\"key\":\"node-role.kubernetes.io/control-plane\",\"effect\":\"NoSchedule\"}]";
    cr_assert_eq(check(node("True", 0, cp), NULL, reason, message), IPD_NODE_UNTOLERATED);
    cr_assert_str_eq(reason, "Unschedulable");
    cr_assert_str_eq(message, "node node-a has the taint node-role.kubernetes.io/control-plane:NoSchedule, which the "
                              "pull pod does not tolerate");
    const char *gpu = "[{\"key\":\"gpu\",\"value\":\"a100\",\"effect\":\"NoExecute\"}]";
    cr_assert_eq(check(node("True", 0, gpu), "[{\"key\":\"gpu\",\"value\":\"h100\"}]", reason, message),
                 IPD_NODE_UNTOLERATED);
    cr_assert(strstr(message, "gpu=a100:NoExecute") != NULL, "%s", message);
    /* PreferNoSchedule never holds a pod back. */
    const char *soft = "[{\"key\":\"spot\",\"effect\":\"PreferNoSchedule\"}]";
    cr_assert_eq(check(node("True", 0, soft), NULL, reason, message), IPD_NODE_USABLE);
}

Test(kube_node, tolerations_match_as_kubernetes_matches_them)
{
    char reason[64], message[512];
    const char *gpu = "[{\"key\":\"gpu\",\"value\":\"a100\",\"effect\":\"NoSchedule\"}]";
    /* Equal (the default operator) compares the value; an empty effect matches every effect. */
    cr_assert_eq(check(node("True", 0, gpu), "[{\"key\":\"gpu\",\"value\":\"a100\"}]", reason, message),
                 IPD_NODE_USABLE);
    cr_assert_eq(check(node("True", 0, gpu), "[{\"key\":\"gpu\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]",
                       reason, message),
                 IPD_NODE_USABLE);
    cr_assert_eq(check(node("True", 0, gpu), "[{\"key\":\"gpu\",\"operator\":\"Exists\",\"effect\":\"NoExecute\"}]",
                       reason, message),
                 IPD_NODE_UNTOLERATED);
    /* An empty key with Exists tolerates everything. */
    cr_assert_eq(check(node("True", 0, gpu), "[{\"operator\":\"Exists\"}]", reason, message), IPD_NODE_USABLE);
    cr_assert_eq(check(node("True", 0, gpu), "[{\"key\":\"gpu\",\"operator\":\"Bogus\"}]", reason, message),
                 IPD_NODE_UNTOLERATED);
}
