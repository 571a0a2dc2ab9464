#include "proto/pull_request.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"
#include "proto/image_ref.h"

static int is_alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
    return is_alnum_lower(c) || (c >= 'A' && c <= 'Z');
}

int ipd_is_dns_label_n(const char *s, size_t len)
{
    if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum_lower(s[i]) && s[i] != '-')
            return 0;
    return 1;
}

int ipd_is_dns_subdomain_n(const char *s, size_t len)
{
    if (len == 0 || len > 253)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (!ipd_is_dns_label_n(s + start, i - start))
                return 0;
            start = i + 1;
        }
    }
    return 1;
}

int ipd_is_dns_subdomain(const char *s)
{
    return ipd_is_dns_subdomain_n(s, strlen(s));
}

static int is_label_name(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

int ipd_is_label_value(const char *s)
{
    size_t n = strlen(s);
    return n == 0 || is_label_name(s, n);
}

int ipd_is_label_key(const char *s)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL)
        return is_label_name(s, strlen(s));
    char prefix[254];
    size_t plen = (size_t)(slash - s);
    if (plen == 0 || plen >= sizeof(prefix))
        return 0;
    memcpy(prefix, s, plen);
    prefix[plen] = '\0';
    return ipd_is_dns_subdomain(prefix) && is_label_name(slash + 1, strlen(slash + 1));
}

/* Copies a JSON array of strings into an owned char* array, checking each with `check`. */
static int take_strings(const json_t *arr, const char *field, size_t max, int (*check)(const char *, char *, size_t),
                        char ***out, size_t *nout, char *msg, size_t cap)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return ipd_errmsg(msg, cap, IPD_EINVAL, "%s must be a non-empty array of strings", field);
    size_t n = json_array_size(arr);
    if (n > max)
        return ipd_errmsg(msg, cap, IPD_ETOOBIG, "%s has %zu entries, at most %zu are allowed", field, n, max);
    char **v = calloc(n, sizeof(*v));
    if (v == NULL)
        return ipd_errmsg(msg, cap, -ENOMEM, "out of memory");
    *out = v;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(arr, i);
        if (!json_is_string(e))
            return ipd_errmsg(msg, cap, IPD_EINVAL, "%s[%zu] must be a string", field, i);
        const char *s = json_string_value(e);
        char why[160];
        if (strlen(s) != json_string_length(e) || check(s, why, sizeof(why)) != 0)
            return ipd_errmsg(msg, cap, IPD_EINVAL, "%s[%zu] \"%.80s\": %s", field, i, s,
                              strlen(s) != json_string_length(e) ? "contains a NUL byte" : why);
        for (size_t j = 0; j < i; j++)
            if (strcmp(v[j], s) == 0)
                return ipd_errmsg(msg, cap, IPD_EINVAL, "%s[%zu] repeats \"%.80s\"", field, i, s);
        if ((v[i] = strdup(s)) == NULL)
            return ipd_errmsg(msg, cap, -ENOMEM, "out of memory");
        *nout = i + 1;
    }
    return 0;
}

static int check_image(const char *s, char *why, size_t cap)
{
    return ipd_image_ref_validate(s, why, cap);
}

static int check_dns(const char *s, char *why, size_t cap)
{
    if (ipd_is_dns_subdomain(s))
        return 0;
    snprintf(why, cap, "not a valid name (lowercase letters, digits, '-' and '.', at most 253)");
    return IPD_EINVAL;
}

static int take_int(const json_t *v, const char *field, long long min, long long max, int32_t *out, char *msg,
                    size_t cap)
{
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return ipd_errmsg(msg, cap, IPD_EINVAL, "%s must be an integer between %lld and %lld", field, min, max);
    *out = (int32_t)json_integer_value(v);
    return 0;
}

static int take_selector(const json_t *obj, const ipd_pull_limits_t *lim, ipd_pull_request_t *r, char *msg, size_t cap)
{
    return ipd_label_selector_parse(obj, "node_selector", lim->max_selector_terms, NULL, &r->node_selector, msg, cap);
}

/* {"namespace": "...", plus a selector in either form}: the images of the pods it matches. */
static int take_pod_selector(const json_t *obj, const ipd_pull_limits_t *lim, ipd_pull_request_t *r, char *msg,
                             size_t cap)
{
    static const char *const allow[] = {"namespace", NULL};
    const json_t *ns = json_object_get(obj, "namespace");
    if (!json_is_object(obj) || !json_is_string(ns) ||
        !ipd_is_dns_label_n(json_string_value(ns), json_string_length(ns)))
        return ipd_errmsg(msg, cap, IPD_EINVAL,
                          "pod_selector must be an object with a namespace (a DNS label) and matchLabels or "
                          "matchExpressions");
    json_t *sel = json_deep_copy(obj);
    if (sel == NULL)
        return ipd_errmsg(msg, cap, -ENOMEM, "out of memory");
    int has_structured =
        json_object_get(sel, "matchLabels") != NULL || json_object_get(sel, "matchExpressions") != NULL;
    if (!has_structured)
        json_object_del(sel, "namespace");
    int rc = ipd_label_selector_parse(sel, "pod_selector", lim->max_selector_terms, allow, &r->pod_selector, msg, cap);
    json_decref(sel);
    if (rc == 0 && (r->pod_namespace = strdup(json_string_value(ns))) == NULL)
        rc = ipd_errmsg(msg, cap, -ENOMEM, "out of memory");
    return rc;
}

static int take_secrets(const json_t *arr, ipd_pull_request_t *r, char *msg, size_t cap)
{
    char **names = NULL;
    size_t n = 0;
    int err = take_strings(arr, "pull_secrets", 16, check_dns, &names, &n, msg, cap);
    size_t used = 0;
    for (size_t i = 0; err == 0 && i < n; i++) {
        size_t len = strlen(names[i]);
        if (used + len + (i > 0) >= sizeof(r->spec.pull_secrets)) {
            err = ipd_errmsg(msg, cap, IPD_ETOOBIG, "pull_secrets: names total more than %zu bytes",
                             sizeof(r->spec.pull_secrets) - 1);
            break;
        }
        if (i > 0)
            r->spec.pull_secrets[used++] = ',';
        memcpy(r->spec.pull_secrets + used, names[i], len + 1);
        used += len;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return err;
}

/* One optional field; returns 1 when `key` is not a known field. */
static int take_field(const char *key, const json_t *v, const ipd_pull_limits_t *lim, ipd_pull_request_t *r, int *err,
                      char *msg, size_t cap)
{
    if ((strcmp(key, "image") == 0 || strcmp(key, "images") == 0) && r->images != NULL) {
        *err = ipd_errmsg(msg, cap, IPD_EINVAL, "give either image or images, not both");
    } else if (strcmp(key, "image") == 0) {
        if (!json_is_string(v))
            *err = ipd_errmsg(msg, cap, IPD_EINVAL, "image must be a string");
        else {
            json_t *one = json_pack("[O]", v);
            *err = take_strings(one, "image", 1, check_image, &r->images, &r->nimages, msg, cap);
            json_decref(one);
            if (*err != 0 && strncmp(msg, "image[0] ", 9) == 0)
                memmove(msg + 5, msg + 8, strlen(msg + 8) + 1);
        }
    } else if (strcmp(key, "images") == 0) {
        *err = take_strings(v, "images", lim->max_images, check_image, &r->images, &r->nimages, msg, cap);
    } else if (strcmp(key, "nodes") == 0) {
        r->node_choice = IPD_NODES_BY_NAME;
        *err = take_strings(v, "nodes", lim->max_nodes, check_dns, &r->nodes, &r->nnodes, msg, cap);
    } else if (strcmp(key, "node_selector") == 0) {
        r->node_choice = IPD_NODES_BY_LABELS;
        *err = take_selector(v, lim, r, msg, cap);
    } else if (strcmp(key, "pod_selector") == 0) {
        *err = take_pod_selector(v, lim, r, msg, cap);
    } else if (strcmp(key, "all_nodes") == 0) {
        r->node_choice = IPD_NODES_ALL;
        if (!json_is_true(v))
            *err = ipd_errmsg(msg, cap, IPD_EINVAL, "all_nodes must be true when given");
    } else if (strcmp(key, "pull_policy") == 0) {
        int p = json_is_string(v) ? ipd_pull_policy_parse(json_string_value(v), json_string_length(v)) : -1;
        if (p < 0)
            *err = ipd_errmsg(msg, cap, IPD_EINVAL, "pull_policy must be \"IfNotPresent\" or \"Always\"");
        else
            r->pull_policy = (ipd_pull_policy_t)p;
    } else if (strcmp(key, "timeout_seconds") == 0) {
        *err = take_int(v, key, 1, 86400, &r->spec.timeout_seconds, msg, cap);
    } else if (strcmp(key, "backoff_limit") == 0) {
        *err = take_int(v, key, 0, 100, &r->spec.backoff_limit, msg, cap);
    } else if (strcmp(key, "deadline_seconds") == 0) {
        *err = take_int(v, key, 1, 604800, &r->spec.deadline_seconds, msg, cap);
    } else if (strcmp(key, "parallelism") == 0) {
        *err = take_int(v, key, 1, 100000, &r->spec.parallelism, msg, cap);
    } else if (strcmp(key, "ttl_seconds_after_finished") == 0) {
        *err = take_int(v, key, 0, 2592000, &r->spec.ttl_seconds_after_finished, msg, cap);
    } else if (strcmp(key, "keep") == 0) {
        if (!json_is_boolean(v))
            *err = ipd_errmsg(msg, cap, IPD_EINVAL, "keep must be true or false");
        r->keep = json_is_true(v);
    } else if (strcmp(key, "refresh_seconds") == 0) {
        *err = take_int(v, key, 10, 2592000, &r->spec.refresh_seconds, msg, cap);
    } else if (strcmp(key, "pull_secrets") == 0) {
        *err = take_secrets(v, r, msg, cap);
    } else {
        return 1;
    }
    return 0;
}

static int check_exclusive(const json_t *root, char *msg, size_t cap)
{
    int has_image = json_object_get(root, "image") != NULL, has_images = json_object_get(root, "images") != NULL;
    int has_pods = json_object_get(root, "pod_selector") != NULL;
    if (has_image && has_images)
        return ipd_errmsg(msg, cap, IPD_EINVAL, "give either image or images, not both");
    if ((has_image || has_images) && has_pods)
        return ipd_errmsg(msg, cap, IPD_EINVAL, "give image, images or pod_selector, not several");
    if (!has_image && !has_images && !has_pods)
        return ipd_errmsg(msg, cap, IPD_EINVAL, "image (or images, or pod_selector) is required");
    int choices = (json_object_get(root, "nodes") != NULL) + (json_object_get(root, "node_selector") != NULL) +
                  (json_object_get(root, "all_nodes") != NULL);
    if (choices == 0 && !has_pods)
        return ipd_errmsg(msg, cap, IPD_EINVAL, "one of nodes, node_selector or all_nodes is required");
    if (choices > 1)
        return ipd_errmsg(msg, cap, IPD_EINVAL, "nodes, node_selector and all_nodes are exclusive: give one");
    return 0;
}

int ipd_pull_request_parse(const char *body, size_t len, const ipd_pull_limits_t *limits, ipd_pull_request_t *out,
                           char *msg, size_t msgcap)
{
    memset(out, 0, sizeof(*out));
    out->spec.backoff_limit = 3;
    out->spec.ttl_seconds_after_finished = -1;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return ipd_errmsg(msg, msgcap, IPD_EINVAL, "malformed JSON at byte %d: %s", jerr.position, jerr.text);
    int err = 0;
    if (!json_is_object(root)) {
        err = ipd_errmsg(msg, msgcap, IPD_EINVAL, "the body must be a JSON object");
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (take_field(key, v, limits, out, &err, msg, msgcap)) {
            err = ipd_errmsg(msg, msgcap, IPD_EINVAL, "unknown field \"%.80s\"", key);
            goto done;
        }
        if (err != 0)
            goto done;
    }
    err = check_exclusive(root, msg, msgcap);
    /* The pods' images are wanted wherever a new replica may start: every node, unless chosen. */
    if (err == 0 && out->pod_namespace != NULL && json_object_get(root, "nodes") == NULL &&
        json_object_get(root, "node_selector") == NULL && json_object_get(root, "all_nodes") == NULL)
        out->node_choice = IPD_NODES_ALL;
    if (err == 0 && out->keep && out->node_choice == IPD_NODES_BY_NAME)
        err = ipd_errmsg(msg, msgcap, IPD_EINVAL,
                         "keep needs node_selector or all_nodes (a node set to follow), not nodes");
    if (err == 0 && out->spec.refresh_seconds > 0 && !out->keep)
        err = ipd_errmsg(msg, msgcap, IPD_EINVAL, "refresh_seconds needs keep: true");
done:
    json_decref(root);
    if (err != 0)
        ipd_pull_request_dispose(out);
    return err;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

void ipd_pull_request_dispose(ipd_pull_request_t *req)
{
    /* take_strings may leave a partially filled array: free up to the allocated entries. */
    free_list(req->images, req->nimages);
    free_list(req->nodes, req->nnodes);
    free(req->pod_namespace);
    ipd_label_selector_dispose(&req->pod_selector);
    ipd_label_selector_dispose(&req->node_selector);
    ipd_pull_policy_t p = req->pull_policy;
    memset(req, 0, sizeof(*req));
    req->pull_policy = p;
}

int ipd_pull_request_label_selector(const ipd_pull_request_t *req, char *out, size_t cap)
{
    return ipd_label_selector_format(&req->node_selector, out, cap);
}
