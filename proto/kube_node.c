#include "proto/kube_node.h"
#include "proto/json_get.h"

#include <stdio.h>
#include <string.h>

/* What of a Node is read here and by the master's selectors: status.images (every image on the
 * node, often hundreds) and the rest of the status are dropped. */
static const ipd_json_field_t condition_fields[] = {
    {"type", NULL}, {"status", NULL}, {"reason", NULL}, {"message", NULL}};
static const ipd_json_shape_t condition_shape = IPD_JSON_OBJECT_SHAPE(condition_fields);
static const ipd_json_shape_t conditions_shape = IPD_JSON_ARRAY_SHAPE(&condition_shape);
static const ipd_json_field_t status_fields[] = {{"conditions", &conditions_shape}};
static const ipd_json_shape_t status_shape = IPD_JSON_OBJECT_SHAPE(status_fields);
static const ipd_json_field_t spec_fields[] = {{"unschedulable", NULL}, {"taints", NULL}};
static const ipd_json_shape_t spec_shape = IPD_JSON_OBJECT_SHAPE(spec_fields);
static const ipd_json_field_t metadata_fields[] = {{"name", NULL}, {"labels", NULL}};
static const ipd_json_shape_t metadata_shape = IPD_JSON_OBJECT_SHAPE(metadata_fields);
static const ipd_json_field_t node_fields[] = {
    {"metadata", &metadata_shape}, {"spec", &spec_shape}, {"status", &status_shape}};
const ipd_json_shape_t ipd_kube_node_shape = IPD_JSON_OBJECT_SHAPE(node_fields);

static int toleration_matches_one(const json_t *tol, const json_t *taint)
{
    const char *teffect = ipd_json_str_at(tol, "effect", ""), *tkey = ipd_json_str_at(tol, "key", ""),
               *op = ipd_json_str_at(tol, "operator", "");
    if (teffect[0] != '\0' && strcmp(teffect, ipd_json_str_at(taint, "effect", "")) != 0)
        return 0;
    if (tkey[0] != '\0' && strcmp(tkey, ipd_json_str_at(taint, "key", "")) != 0)
        return 0;
    if (strcmp(op, "Exists") == 0)
        return 1;
    if (op[0] == '\0' || strcmp(op, "Equal") == 0)
        return strcmp(ipd_json_str_at(tol, "value", ""), ipd_json_str_at(taint, "value", "")) == 0;
    return 0;
}

int ipd_toleration_matches(const json_t *tolerations, const json_t *taint)
{
    size_t i;
    const json_t *tol;
    json_array_foreach(tolerations, i, tol)
    {
        if (json_is_object(tol) && toleration_matches_one(tol, taint))
            return 1;
    }
    return 0;
}

/* The taints the node controller derives from readiness and cordoning: reported as those. */
static int is_lifecycle_taint(const char *key)
{
    return strcmp(key, "node.kubernetes.io/not-ready") == 0 || strcmp(key, "node.kubernetes.io/unreachable") == 0 ||
           strcmp(key, "node.kubernetes.io/unschedulable") == 0;
}

void ipd_kube_node_deleted_message(const char *node, char *message, size_t message_cap)
{
    snprintf(message, message_cap, "node %.200s was deleted from the cluster; the pull there was given up", node);
}

ipd_node_block_t ipd_kube_node_check(const json_t *node, const char *name, const json_t *tolerations, char *reason,
                                     size_t reason_cap, char *message, size_t message_cap)
{
    if (!json_is_object(node)) {
        snprintf(reason, reason_cap, "%s", IPD_REASON_NODE_NOT_READY);
        snprintf(message, message_cap, "node %.200s is not in the cluster", name);
        return IPD_NODE_NOT_READY;
    }
    const json_t *ready = NULL, *c;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), i, c)
    {
        if (strcmp(ipd_json_str_at(c, "type", ""), "Ready") == 0)
            ready = c;
    }
    if (ready == NULL || strcmp(ipd_json_str_at(ready, "status", ""), "True") != 0) {
        const char *why = ready == NULL                             ? "no Ready condition"
                          : ipd_json_str_at(ready, "reason", "")[0] ? ipd_json_str_at(ready, "reason", "")
                                                                    : ipd_json_str_at(ready, "status", "");
        snprintf(reason, reason_cap, "%s", IPD_REASON_NODE_NOT_READY);
        snprintf(message, message_cap, "node %.200s is not Ready (%.64s)%s%.200s", name, why,
                 ipd_json_str_at(ready, "message", "")[0] ? ": " : "", ipd_json_str_at(ready, "message", ""));
        return IPD_NODE_NOT_READY;
    }
    const json_t *spec = json_object_get(node, "spec");
    if (json_is_true(json_object_get(spec, "unschedulable"))) {
        snprintf(reason, reason_cap, "%s", IPD_REASON_NODE_CORDONED);
        snprintf(message, message_cap, "node %.200s is cordoned; the pull starts once it is uncordoned", name);
        return IPD_NODE_CORDONED;
    }
    const json_t *taint;
    json_array_foreach(json_object_get(spec, "taints"), i, taint)
    {
        const char *effect = ipd_json_str_at(taint, "effect", ""), *key = ipd_json_str_at(taint, "key", ""),
                   *value = ipd_json_str_at(taint, "value", "");
        if ((strcmp(effect, "NoSchedule") != 0 && strcmp(effect, "NoExecute") != 0) || is_lifecycle_taint(key) ||
            ipd_toleration_matches(tolerations, taint))
            continue;
        snprintf(reason, reason_cap, "%s", IPD_REASON_UNSCHEDULABLE);
        snprintf(message, message_cap,
                 "node %.200s has the taint %.100s%s%.63s:%s, which the pull pod does not tolerate", name, key,
                 value[0] ? "=" : "", value, effect);
        return IPD_NODE_UNTOLERATED;
    }
    return IPD_NODE_USABLE;
}
