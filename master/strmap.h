/*
 * A string-keyed hash map (separate chaining, power-of-two buckets, grows at load 1).
 * Keys are copied and owned by the map; values are borrowed pointers the caller manages.
 */
#ifndef IPD_MASTER_STRMAP_H
#define IPD_MASTER_STRMAP_H

#include "proto/error.h"
#include <stddef.h>

typedef struct ipd_strmap_entry {
    struct ipd_strmap_entry *next;
    void *value;
    size_t hash;
    char key[]; /**< NUL-terminated copy */
} ipd_strmap_entry_t;

typedef struct ipd_strmap {
    ipd_strmap_entry_t **buckets;
    size_t nbuckets, count;
} ipd_strmap_t;

/** Prepares an empty map in caller memory. Never fails (buckets are allocated on first put). */
void ipd_strmap_init(ipd_strmap_t *m);
/** Removes every entry, keeping the buckets for reuse (not the values). */
void ipd_strmap_clear(ipd_strmap_t *m);
/** Frees the entries and buckets (not the values). */
void ipd_strmap_dispose(ipd_strmap_t *m);
/** Returns the value for `key`, or NULL. */
void *ipd_strmap_get(const ipd_strmap_t *m, const char *key);
/** Sets `key` to `value` (replacing any). Returns 0 or -ENOMEM. */
IPD_MUST_USE int ipd_strmap_put(ipd_strmap_t *m, const char *key, void *value);

/** The hash every map files `key` under: computed once, it serves several calls below on one key. */
size_t ipd_strmap_hash(const char *key);
/** ipd_strmap_get() with `hash` = ipd_strmap_hash(key). */
void *ipd_strmap_get_hashed(const ipd_strmap_t *m, const char *key, size_t hash);
/** ipd_strmap_put() with `hash` = ipd_strmap_hash(key). */
IPD_MUST_USE int ipd_strmap_put_hashed(ipd_strmap_t *m, const char *key, size_t hash, void *value);
/** Removes `key`; returns its value, or NULL if absent. */
void *ipd_strmap_del(ipd_strmap_t *m, const char *key);

/** Iteration: `it` starts at 0; returns the next entry or NULL. Do not put or delete meanwhile. */
ipd_strmap_entry_t *ipd_strmap_next(const ipd_strmap_t *m, size_t *bucket, ipd_strmap_entry_t *prev);

#endif
