/*
 * A pruned JSON decoder: builds a jansson document holding only the members a reader names,
 * and skips the rest without allocating. A watched Pod is several KB (managedFields, volumes,
 * env, tolerations, ...) of which the master reads a few dozen bytes; building the whole DOM
 * of each one cost more than everything else on the watch path.
 *
 * Skipping is not skimming: every byte is checked, so a text is accepted exactly when
 * json_loadb(buf, len, 0, ...) accepts it (RFC 8259 syntax with an object or array at the top,
 * strict UTF-8, no \u0000, no lone surrogate escape, integers within int64 and reals within
 * double, at most JSON_PARSER_MAX_DEPTH levels, and one NUL byte right after a number or a
 * literal ignored, as jansson's lexer loses it). What is kept has the values json_loadb gives
 * it, duplicate members included (the last one wins). tests/fuzz/fuzz_json_prune holds the
 * decoder to both promises against jansson itself.
 */
#ifndef IPD_PROTO_JSON_PRUNE_H
#define IPD_PROTO_JSON_PRUNE_H

#include <jansson.h>
#include <stddef.h>

typedef enum ipd_json_shape_kind {
    IPD_JSON_SHAPE_OBJECT = 0, /**< keep the named members of an object */
    IPD_JSON_SHAPE_ARRAY,      /**< keep every element of an array, each shaped by `items` */
} ipd_json_shape_kind_t;

typedef struct ipd_json_shape ipd_json_shape_t;

/** One member an object shape keeps. */
typedef struct ipd_json_field {
    const char *name;              /**< the member's name as decoded (escapes in the text still match) */
    const ipd_json_shape_t *shape; /**< what to keep of its value; NULL keeps all of it */
} ipd_json_field_t;

/**
 * What to keep of a value. A value whose type is not the shape's kind (a string where an
 * object was expected, say) is kept whole, so that every reader that follows the shape sees
 * what the full document holds. Readers must only look up the members a shape names: others
 * are absent from the pruned document.
 */
struct ipd_json_shape {
    ipd_json_shape_kind_t kind;
    const ipd_json_field_t *fields; /**< IPD_JSON_SHAPE_OBJECT: the members kept, `nfields` of them */
    size_t nfields;
    const ipd_json_shape_t *items; /**< IPD_JSON_SHAPE_ARRAY: the shape of each element; NULL keeps them whole */
};

/** An object shape from a static array of ipd_json_field_t. */
#define IPD_JSON_OBJECT_SHAPE(fields)                                                                                  \
    {                                                                                                                  \
        IPD_JSON_SHAPE_OBJECT, (fields), sizeof(fields) / sizeof((fields)[0]), NULL                                    \
    }
/** An object shape that keeps no member: the reader only asks whether the value is an object. */
#define IPD_JSON_EMPTY_OBJECT_SHAPE                                                                                    \
    {                                                                                                                  \
        IPD_JSON_SHAPE_OBJECT, NULL, 0, NULL                                                                           \
    }
/** An array shape whose elements are shaped by `items` (a pointer, NULL for whole elements). */
#define IPD_JSON_ARRAY_SHAPE(items)                                                                                    \
    {                                                                                                                  \
        IPD_JSON_SHAPE_ARRAY, NULL, 0, (items)                                                                         \
    }

/**
 * Decodes the JSON text `buf` of `len` bytes (borrowed), keeping what `shape` names (NULL keeps
 * everything). Returns 0 and an owned document in `*out` (json_decref), IPD_EINVAL when the text
 * is not one json_loadb(buf, len, 0, ...) accepts, or -ENOMEM.
 */
int ipd_json_prune_load(const char *buf, size_t len, const ipd_json_shape_t *shape, json_t **out);

/**
 * The same pruning applied to a document already parsed (`doc` borrowed): what
 * ipd_json_prune_load() gives for the text of `doc`. Returns an owned value, or NULL on OOM.
 */
json_t *ipd_json_prune(const json_t *doc, const ipd_json_shape_t *shape);

#endif
