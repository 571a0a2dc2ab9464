/*
 * The pruned decoder against jansson: for any bytes it accepts exactly what json_loadb accepts,
 * and what it keeps equals the same pruning of jansson's whole document. Checked with the
 * shape of a pod watch event (what the master reads), with a shape that nests arrays, and with
 * no shape at all.
 */
#include <jansson.h>
#include <stdlib.h>

#include "fuzz.h"
#include "proto/json_prune.h"
#include "proto/kube_pod.h"

static const ipd_json_field_t event_fields[] = {{"type", NULL}, {"object", &ipd_kube_pod_shape}};
static const ipd_json_shape_t event_shape = IPD_JSON_OBJECT_SHAPE(event_fields);

static const ipd_json_field_t leaf_fields[] = {{"a", NULL}, {"name", NULL}};
static const ipd_json_shape_t leaf = IPD_JSON_OBJECT_SHAPE(leaf_fields);
static const ipd_json_shape_t inner = IPD_JSON_ARRAY_SHAPE(&leaf);
static const ipd_json_shape_t outer = IPD_JSON_ARRAY_SHAPE(&inner);
static const ipd_json_field_t nested_fields[] = {{"object", &outer}, {"metadata", &leaf}, {"x", &outer}};
static const ipd_json_shape_t nested_shape = IPD_JSON_OBJECT_SHAPE(nested_fields);

static void check(const char *buf, size_t size, const json_t *full, const ipd_json_shape_t *shape)
{
    json_t *pruned = NULL;
    int rc = ipd_json_prune_load(buf, size, shape, &pruned);
    if ((rc == 0) != (full != NULL))
        abort();
    if (full == NULL)
        return;
    json_t *want = ipd_json_prune(full, shape);
    if (want == NULL || !json_equal(want, pruned))
        abort();
    json_decref(want);
    json_decref(pruned);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    json_t *full = json_loadb(buf, size, 0, NULL);
    check(buf, size, full, &event_shape);
    check(buf, size, full, &ipd_kube_pod_shape);
    check(buf, size, full, &nested_shape);
    check(buf, size, full, NULL);
    json_decref(full);
    return 0;
}
