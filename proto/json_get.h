/*
 * Reading fields of parsed JSON (jansson) where a field may be absent or of another type: the
 * Kubernetes objects the master and proto/ map, which carry what the API server sends.
 */
#ifndef IPD_PROTO_JSON_GET_H
#define IPD_PROTO_JSON_GET_H

#include <jansson.h>

/** The string member `key` of `obj` (borrowed from `obj`), or `dflt` when `obj` is no object,
 *  the member is absent, or it is not a string. */
static inline const char *ipd_json_str_at(const json_t *obj, const char *key, const char *dflt)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

#endif
