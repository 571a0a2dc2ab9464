/*
 * A JSON skimmer: finds one string member by its path without building a document. Watch
 * streams deliver whole objects of several KB of which a reader may first need only the type,
 * the name and the resourceVersion; skimming costs a pass over the bytes and no allocation.
 */
#ifndef IPD_PROTO_JSON_SCAN_H
#define IPD_PROTO_JSON_SCAN_H

#include <stddef.h>

/**
 * Looks up the string at `path` (`depth` object member names, borrowed) in the JSON text
 * `buf` of `len` bytes, e.g. {"object", "metadata", "name"}. On success points `*val` into
 * `buf` at the string's raw bytes (between the quotes, escapes not decoded), sets `*vlen`,
 * and returns 0; returns 1 when the raw bytes contain an escape (the caller decodes them
 * some other way), IPD_ENOTFOUND when the path is absent or not a string, IPD_EINVAL when the
 * text is malformed on the way. Only the members walked are checked: this is no validator.
 */
int ipd_json_scan_string(const char *buf, size_t len, const char *const *path, size_t depth, const char **val,
                         size_t *vlen);

/** A slice of the scanned text. */
typedef struct ipd_json_span {
    const char *ptr; /**< into the scanned buffer; NULL when the member was not found */
    size_t len;
    int escaped; /**< the raw bytes contain an escape */
} ipd_json_span_t;

/**
 * Walks the object at `path` (`depth` member names; 0 for the top level) once and fills
 * `out[i]` with the raw string value of member `names[i]` (`n` of them, borrowed), or a NULL
 * span when it is absent or not a string. The walk stops as soon as every name has a string
 * value: the first occurrence of each counts, and what follows is not read (an API server
 * writes metadata.name, namespace and resourceVersion before the bulky managedFields).
 * Returns 0, IPD_ENOTFOUND when the path is absent, or IPD_EINVAL when the text is malformed
 * on the way.
 */
int ipd_json_scan_members(const char *buf, size_t len, const char *const *path, size_t depth, const char *const *names,
                          size_t n, ipd_json_span_t *out);

#endif
