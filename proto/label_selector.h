/*
 * Kubernetes label selectors (metav1.LabelSelector): the one evaluator behind node_selector and
 * pod_selector, in the daemon and in the master.
 *
 * Accepted JSON forms:
 *   {"pool": "gpu", "zone": "a"}                          a plain map: every label equal
 *   {"matchLabels": {"pool": "gpu"},
 *    "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
 * Operators In, NotIn, Exists, DoesNotExist; the requirements are ANDed, as in Kubernetes.
 * An object with a member matchLabels or matchExpressions is the structured form. Validation
 * answers as the apiserver does (apimachinery's ValidateLabelSelector): In and NotIn need
 * values, Exists and DoesNotExist take none, keys and values must be valid label keys and values.
 */
#ifndef IPD_PROTO_LABEL_SELECTOR_H
#define IPD_PROTO_LABEL_SELECTOR_H

#include <jansson.h>
#include <stddef.h>

typedef enum ipd_selector_op {
    IPD_SELECTOR_IN = 0,
    IPD_SELECTOR_NOT_IN,
    IPD_SELECTOR_EXISTS,
    IPD_SELECTOR_DOES_NOT_EXIST,
} ipd_selector_op_t;

/** One requirement. Strings are owned by the selector. */
typedef struct ipd_label_requirement {
    char *key;
    ipd_selector_op_t op;
    int equals; /**< from matchLabels or a plain map: In with one value, written "key=value" */
    char **values;
    size_t nvalues;
} ipd_label_requirement_t;

/** A selector: the AND of its requirements. Zeroed = empty (matches everything). */
typedef struct ipd_label_selector {
    ipd_label_requirement_t *reqs;
    size_t nreqs;
} ipd_label_selector_t;

/**
 * Parses `obj` (borrowed) in either form into `out` (zeroed first; dispose it). `field` names
 * the field in messages ("node_selector"). At most `max_terms` requirements, and at most
 * `max_terms` values in each. `allow` lists extra member names the structured form tolerates
 * (NULL-terminated, may be NULL; pod_selector's "namespace"), which the caller reads itself.
 * Returns 0; IPD_EINVAL (a message in `msg` names the member and what is wrong, the
 * apiserver's words where it has some, and `out` is left empty); IPD_ETOOBIG; or -ENOMEM.
 * An empty selector is IPD_EINVAL: a pull needs a choice.
 */
int ipd_label_selector_parse(const json_t *obj, const char *field, size_t max_terms, const char *const *allow,
                             ipd_label_selector_t *out, char *msg, size_t msgcap);

/** Frees what the selector owns; safe on a zeroed or already disposed selector. */
void ipd_label_selector_dispose(ipd_label_selector_t *sel);

/** Deep copy into `dst` (overwritten). 0 or -ENOMEM (dst then empty). */
int ipd_label_selector_copy(ipd_label_selector_t *dst, const ipd_label_selector_t *src);

/** True if `labels` (a borrowed JSON object of label: value, NULL for none) satisfies every requirement. */
int ipd_label_selector_matches(const ipd_label_selector_t *sel, const json_t *labels);

/**
 * Writes the selector in the apiserver's labelSelector query syntax ("a=b,c in (d,e),!f")
 * into `out` (`cap` bytes). Returns the length, or IPD_ETOOBIG when it does not fit.
 */
int ipd_label_selector_format(const ipd_label_selector_t *sel, char *out, size_t cap);

/**
 * The selector as structured JSON ({"matchLabels": ..., "matchExpressions": [...]}, members
 * present only when not empty), which ipd_label_selector_parse reads back. Owned, or NULL on OOM.
 */
json_t *ipd_label_selector_to_json(const ipd_label_selector_t *sel);

/**
 * A keep job's node selection as JSON text: {"all_nodes":true} when `all`, else
 * {"node_selector":<ipd_label_selector_to_json>}, into `out` (`cap` bytes). Returns the length,
 * IPD_ETOOBIG when it does not fit, or -ENOMEM.
 */
int ipd_node_selection_write(int all, const ipd_label_selector_t *sel, char *out, size_t cap);

/**
 * The same with a pod selection: when `pod_ns` is not NULL, the object also has
 * "pod_selector": <ipd_label_selector_to_json of `pods`> with a member "namespace" (`pod_ns`):
 * the keep job follows the images of those pods (master/model_follow.c). The node members are
 * unchanged, so ipd_node_selection_read reads either. Returns as ipd_node_selection_write.
 */
int ipd_selection_write(int all, const ipd_label_selector_t *sel, const char *pod_ns, const ipd_label_selector_t *pods,
                        char *out, size_t cap);

/**
 * Reads the pod selection of a selection object (`obj` borrowed) into `ns` (`ns_cap` bytes) and
 * `sel` (dispose it). Returns 0, IPD_ENOTFOUND when it has none, or IPD_EINVAL (nothing set).
 */
int ipd_pod_selection_read(const json_t *obj, char *ns, size_t ns_cap, ipd_label_selector_t *sel);

/**
 * Reads a whole selection (`obj` borrowed: node members and an optional pod_selector) and writes
 * it again as ipd_selection_write does, into `out` (`cap` bytes). Returns the length, IPD_EINVAL
 * for an object that is not a selection, IPD_ETOOBIG, or -ENOMEM.
 */
int ipd_selection_copy(const json_t *obj, char *out, size_t cap);

/**
 * Reads what ipd_node_selection_write wrote (`obj` borrowed): sets `*all`, or fills `sel`
 * (dispose it). Returns 0 or IPD_EINVAL (nothing set).
 */
int ipd_node_selection_read(const json_t *obj, int *all, ipd_label_selector_t *sel);

#endif
