#include "proto/label_selector.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"
#include "proto/pull_request.h"

static const char *const op_names[] = {"In", "NotIn", "Exists", "DoesNotExist"};

static void free_req(ipd_label_requirement_t *r)
{
    free(r->key);
    for (size_t i = 0; i < r->nvalues; i++)
        free(r->values[i]);
    free(r->values);
}

void ipd_label_selector_dispose(ipd_label_selector_t *sel)
{
    for (size_t i = 0; sel->reqs != NULL && i < sel->nreqs; i++)
        free_req(&sel->reqs[i]);
    free(sel->reqs);
    sel->reqs = NULL;
    sel->nreqs = 0;
}

/* Appends a requirement with `key`; returns it, or NULL on OOM. `cap` is the room reserved. */
static ipd_label_requirement_t *add_req(ipd_label_selector_t *sel, const char *key, ipd_selector_op_t op)
{
    ipd_label_requirement_t *r = &sel->reqs[sel->nreqs];
    memset(r, 0, sizeof(*r));
    if ((r->key = strdup(key)) == NULL)
        return NULL;
    r->op = op;
    sel->nreqs++;
    return r;
}

static int add_value(ipd_label_requirement_t *r, const char *v, size_t cap)
{
    if (r->values == NULL && (r->values = calloc(cap, sizeof(char *))) == NULL)
        return -ENOMEM;
    if ((r->values[r->nvalues] = strdup(v)) == NULL)
        return -ENOMEM;
    r->nvalues++;
    return 0;
}

static int take_equalities(const json_t *map, const char *path, size_t max_terms, ipd_label_selector_t *out, char *msg,
                           size_t cap)
{
    if (!json_is_object(map))
        return ipd_errmsg(msg, cap, IPD_EINVAL, "%s must be an object of label: value", path);
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)map, key, val)
    {
        if (out->nreqs >= max_terms)
            return ipd_errmsg(msg, cap, IPD_ETOOBIG, "%s: more than %zu requirements", path, max_terms);
        if (!ipd_is_label_key(key))
            return ipd_errmsg(msg, cap, IPD_EINVAL, "%s: Invalid value: \"%.80s\": not a valid label key", path, key);
        if (!json_is_string(val) || !ipd_is_label_value(json_string_value(val)))
            return ipd_errmsg(msg, cap, IPD_EINVAL,
                              "%s[\"%.80s\"]: Invalid value: not a valid label value (empty, or at most 63 of "
                              "alphanumerics, '-', '_' and '.', alphanumeric at both ends)",
                              path, key);
        ipd_label_requirement_t *r = add_req(out, key, IPD_SELECTOR_IN);
        if (r == NULL || add_value(r, json_string_value(val), 1) != 0)
            return -ENOMEM;
        r->equals = 1;
    }
    return 0;
}

static int take_expression(const json_t *e, const char *path, size_t max_terms, ipd_label_selector_t *out, char *msg,
                           size_t cap)
{
    if (!json_is_object(e))
        return ipd_errmsg(msg, cap, IPD_EINVAL, "%s must be an object with key, operator and values", path);
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)e, name, v)
    {
        if (strcmp(name, "key") != 0 && strcmp(name, "operator") != 0 && strcmp(name, "values") != 0)
            return ipd_errmsg(msg, cap, IPD_EINVAL, "%s: unknown field \"%.80s\"", path, name);
    }
    const json_t *key = json_object_get(e, "key"), *op = json_object_get(e, "operator");
    const json_t *values = json_object_get(e, "values");
    if (!json_is_string(key) || json_string_value(key)[0] == '\0')
        return ipd_errmsg(msg, cap, IPD_EINVAL, "%s.key: Required value", path);
    if (!ipd_is_label_key(json_string_value(key)))
        return ipd_errmsg(msg, cap, IPD_EINVAL, "%s.key: Invalid value: \"%.80s\": not a valid label key", path,
                          json_string_value(key));
    if (!json_is_string(op))
        return ipd_errmsg(msg, cap, IPD_EINVAL, "%s.operator: Required value", path);
    int opi = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(json_string_value(op), op_names[i]) == 0)
            opi = i;
    if (opi < 0)
        return ipd_errmsg(msg, cap, IPD_EINVAL, "%s.operator: Invalid value: \"%.40s\": not a valid selector operator",
                          path, json_string_value(op));
    size_t n = json_is_array(values) ? json_array_size(values) : 0;
    if (values != NULL && !json_is_array(values) && !json_is_null(values))
        return ipd_errmsg(msg, cap, IPD_EINVAL, "%s.values must be an array of strings", path);
    if ((opi == IPD_SELECTOR_IN || opi == IPD_SELECTOR_NOT_IN) && n == 0)
        return ipd_errmsg(msg, cap, IPD_EINVAL,
                          "%s.values: Required value: must be specified when `operator` is 'In' or 'NotIn'", path);
    if ((opi == IPD_SELECTOR_EXISTS || opi == IPD_SELECTOR_DOES_NOT_EXIST) && n > 0)
        return ipd_errmsg(msg, cap, IPD_EINVAL,
                          "%s.values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                          path);
    if (n > max_terms)
        return ipd_errmsg(msg, cap, IPD_ETOOBIG, "%s.values has %zu entries, at most %zu are allowed", path, n,
                          max_terms);
    if (out->nreqs >= max_terms)
        return ipd_errmsg(msg, cap, IPD_ETOOBIG, "%s: more than %zu requirements", path, max_terms);
    ipd_label_requirement_t *r = add_req(out, json_string_value(key), (ipd_selector_op_t)opi);
    if (r == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(values, i);
        if (!json_is_string(s) || !ipd_is_label_value(json_string_value(s)))
            return ipd_errmsg(msg, cap, IPD_EINVAL, "%s.values[%zu]: Invalid value: not a valid label value", path, i);
        if (add_value(r, json_string_value(s), n) != 0)
            return -ENOMEM;
    }
    return 0;
}

int ipd_label_selector_parse(const json_t *obj, const char *field, size_t max_terms, const char *const *allow,
                             ipd_label_selector_t *out, char *msg, size_t msgcap)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(obj) || json_object_size(obj) == 0)
        return ipd_errmsg(msg, msgcap, IPD_EINVAL,
                          "%s must be a non-empty object: label: value, or matchLabels and matchExpressions", field);
    const json_t *ml = json_object_get(obj, "matchLabels"), *me = json_object_get(obj, "matchExpressions");
    size_t room = max_terms > 0 ? max_terms : 1;
    if ((out->reqs = calloc(room, sizeof(*out->reqs))) == NULL)
        return -ENOMEM;
    char path[160];
    int rc = 0;
    if (ml == NULL && me == NULL) {
        rc = take_equalities(obj, field, max_terms, out, msg, msgcap);
    } else {
        const char *name;
        const json_t *v;
        json_object_foreach((json_t *)obj, name, v)
        {
            int known = strcmp(name, "matchLabels") == 0 || strcmp(name, "matchExpressions") == 0;
            for (size_t i = 0; allow != NULL && allow[i] != NULL && !known; i++)
                known = strcmp(name, allow[i]) == 0;
            if (!known) {
                rc = ipd_errmsg(msg, msgcap, IPD_EINVAL, "%s: unknown field \"%.80s\"", field, name);
                break;
            }
        }
        if (rc == 0 && ml != NULL) {
            snprintf(path, sizeof(path), "%s.matchLabels", field);
            rc = take_equalities(ml, path, max_terms, out, msg, msgcap);
        }
        if (rc == 0 && me != NULL && !json_is_array(me)) {
            rc = ipd_errmsg(msg, msgcap, IPD_EINVAL, "%s.matchExpressions must be an array", field);
        } else if (rc == 0 && me != NULL) {
            size_t i;
            const json_t *e;
            json_array_foreach(me, i, e)
            {
                snprintf(path, sizeof(path), "%s.matchExpressions[%zu]", field, i);
                if ((rc = take_expression(e, path, max_terms, out, msg, msgcap)) != 0)
                    break;
            }
        }
        if (rc == 0 && out->nreqs == 0)
            rc = ipd_errmsg(msg, msgcap, IPD_EINVAL, "%s: matchLabels and matchExpressions are both empty", field);
    }
    if (rc == -ENOMEM)
        ipd_errmsg(msg, msgcap, -ENOMEM, "out of memory");
    if (rc != 0)
        ipd_label_selector_dispose(out);
    return rc;
}

int ipd_label_selector_copy(ipd_label_selector_t *dst, const ipd_label_selector_t *src)
{
    memset(dst, 0, sizeof(*dst));
    if (src->nreqs == 0)
        return 0;
    if ((dst->reqs = calloc(src->nreqs, sizeof(*dst->reqs))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < src->nreqs; i++) {
        const ipd_label_requirement_t *s = &src->reqs[i];
        ipd_label_requirement_t *r = add_req(dst, s->key, s->op);
        if (r == NULL)
            goto oom;
        r->equals = s->equals;
        for (size_t k = 0; k < s->nvalues; k++)
            if (add_value(r, s->values[k], s->nvalues) != 0)
                goto oom;
    }
    return 0;
oom:
    ipd_label_selector_dispose(dst);
    return -ENOMEM;
}

static int has_value(const ipd_label_requirement_t *r, const char *v)
{
    for (size_t i = 0; i < r->nvalues; i++)
        if (strcmp(r->values[i], v) == 0)
            return 1;
    return 0;
}

int ipd_label_selector_matches(const ipd_label_selector_t *sel, const json_t *labels)
{
    for (size_t i = 0; i < sel->nreqs; i++) {
        const ipd_label_requirement_t *r = &sel->reqs[i];
        const json_t *v = json_object_get(labels, r->key);
        const char *val = json_is_string(v) ? json_string_value(v) : NULL;
        int ok;
        switch (r->op) {
        case IPD_SELECTOR_IN:
            ok = val != NULL && has_value(r, val);
            break;
        case IPD_SELECTOR_NOT_IN:
            ok = val == NULL || !has_value(r, val);
            break;
        case IPD_SELECTOR_EXISTS:
            ok = val != NULL;
            break;
        default:
            ok = val == NULL;
            break;
        }
        if (!ok)
            return 0;
    }
    return 1;
}

int ipd_label_selector_format(const ipd_label_selector_t *sel, char *out, size_t cap)
{
    size_t used = 0;
    if (cap == 0)
        return IPD_ETOOBIG;
    out[0] = '\0';
    for (size_t i = 0; i < sel->nreqs; i++) {
        const ipd_label_requirement_t *r = &sel->reqs[i];
        const char *sep = i ? "," : "";
        int n;
        if (r->op == IPD_SELECTOR_IN && r->equals)
            n = snprintf(out + used, cap - used, "%s%s=%s", sep, r->key, r->values[0]);
        else if (r->op == IPD_SELECTOR_EXISTS)
            n = snprintf(out + used, cap - used, "%s%s", sep, r->key);
        else if (r->op == IPD_SELECTOR_DOES_NOT_EXIST)
            n = snprintf(out + used, cap - used, "%s!%s", sep, r->key);
        else
            n = snprintf(out + used, cap - used, "%s%s %s (", sep, r->key, r->op == IPD_SELECTOR_IN ? "in" : "notin");
        if (n < 0 || (size_t)n >= cap - used)
            return IPD_ETOOBIG;
        used += (size_t)n;
        if (r->equals || r->op == IPD_SELECTOR_EXISTS || r->op == IPD_SELECTOR_DOES_NOT_EXIST)
            continue;
        for (size_t k = 0; k < r->nvalues; k++) {
            n = snprintf(out + used, cap - used, "%s%s", k ? "," : "", r->values[k]);
            if (n < 0 || (size_t)n >= cap - used)
                return IPD_ETOOBIG;
            used += (size_t)n;
        }
        if (used + 1 >= cap)
            return IPD_ETOOBIG;
        out[used++] = ')';
        out[used] = '\0';
    }
    return (int)used;
}

json_t *ipd_label_selector_to_json(const ipd_label_selector_t *sel)
{
    json_t *o = json_object(), *ml = json_object(), *me = json_array();
    if (o == NULL || ml == NULL || me == NULL)
        goto oom;
    for (size_t i = 0; i < sel->nreqs; i++) {
        const ipd_label_requirement_t *r = &sel->reqs[i];
        if (r->equals) {
            if (json_object_set_new(ml, r->key, json_string(r->values[0])) != 0)
                goto oom;
            continue;
        }
        json_t *e = json_pack("{s:s, s:s}", "key", r->key, "operator", op_names[r->op]);
        json_t *vals = json_array();
        if (e == NULL || vals == NULL || json_array_append_new(me, e) != 0) {
            json_decref(e);
            json_decref(vals);
            goto oom;
        }
        for (size_t k = 0; k < r->nvalues; k++)
            json_array_append_new(vals, json_string(r->values[k]));
        if (r->nvalues > 0)
            json_object_set_new(e, "values", vals);
        else
            json_decref(vals);
    }
    if (json_object_size(ml) > 0)
        json_object_set(o, "matchLabels", ml);
    if (json_array_size(me) > 0)
        json_object_set(o, "matchExpressions", me);
    json_decref(ml);
    json_decref(me);
    return o;
oom:
    json_decref(o);
    json_decref(ml);
    json_decref(me);
    return NULL;
}

int ipd_node_selection_write(int all, const ipd_label_selector_t *sel, char *out, size_t cap)
{
    return ipd_selection_write(all, sel, NULL, NULL, out, cap);
}

int ipd_selection_write(int all, const ipd_label_selector_t *sel, const char *pod_ns, const ipd_label_selector_t *pods,
                        char *out, size_t cap)
{
    json_t *o =
        all ? json_pack("{s:b}", "all_nodes", 1) : json_pack("{s:o}", "node_selector", ipd_label_selector_to_json(sel));
    if (o != NULL && pod_ns != NULL) {
        json_t *p = ipd_label_selector_to_json(pods);
        if (p == NULL || json_object_set_new(p, "namespace", json_string(pod_ns)) != 0 ||
            json_object_set_new(o, "pod_selector", p) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    if (text == NULL)
        return -ENOMEM;
    size_t n = strlen(text);
    int rc = n < cap ? (int)n : IPD_ETOOBIG;
    if (n < cap)
        memcpy(out, text, n + 1);
    free(text);
    return rc;
}

int ipd_pod_selection_read(const json_t *obj, char *ns, size_t ns_cap, ipd_label_selector_t *sel)
{
    static const char *const allow[] = {"namespace", NULL};
    char msg[256];
    memset(sel, 0, sizeof(*sel));
    const json_t *p = json_object_get(obj, "pod_selector");
    if (p == NULL)
        return IPD_ENOTFOUND;
    const char *n = json_string_value(json_object_get(p, "namespace"));
    if (n == NULL || n[0] == '\0' || strlen(n) >= ns_cap)
        return IPD_EINVAL;
    if (ipd_label_selector_parse(p, "pod_selector", 1024, allow, sel, msg, sizeof(msg)) != 0)
        return IPD_EINVAL;
    memcpy(ns, n, strlen(n) + 1);
    return 0;
}

int ipd_node_selection_read(const json_t *obj, int *all, ipd_label_selector_t *sel)
{
    char msg[256];
    memset(sel, 0, sizeof(*sel));
    *all = 0;
    if (json_is_true(json_object_get(obj, "all_nodes"))) {
        *all = 1;
        return 0;
    }
    const json_t *ns = json_object_get(obj, "node_selector");
    if (ns == NULL)
        return IPD_EINVAL;
    return ipd_label_selector_parse(ns, "node_selector", 1024, NULL, sel, msg, sizeof(msg)) == 0 ? 0 : IPD_EINVAL;
}

int ipd_selection_copy(const json_t *obj, char *out, size_t cap)
{
    int all;
    ipd_label_selector_t nodes, pods;
    char ns[256];
    if (ipd_node_selection_read(obj, &all, &nodes) != 0)
        return IPD_EINVAL;
    int prc = ipd_pod_selection_read(obj, ns, sizeof(ns), &pods);
    int rc = prc == 0 || prc == IPD_ENOTFOUND ? ipd_selection_write(all, &nodes, prc == 0 ? ns : NULL, &pods, out, cap)
                                              : IPD_EINVAL;
    ipd_label_selector_dispose(&nodes);
    ipd_label_selector_dispose(&pods);
    return rc;
}
