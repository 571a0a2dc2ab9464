/*
 * Stand-in for klib's khash.h, which h2o/http2_internal.h includes and Debian's libh2o-dev does
 * not ship. It declares just what that header needs to be read: a hash type per
 * KHASH_MAP_INIT_INT64, kept opaque (the library's connection holds a pointer to one, and
 * pointers are all alike), and the three lookup macros its one inline lookup uses, which fail
 * the build if that lookup is ever compiled into code here. Only worker/http/h2_guard.c includes
 * http2_internal.h, and it reads connection fields only. When the package ships the real
 * khash.h next to http2_internal.h, that one is found first and this file is not read.
 */
#ifndef IPD_WORKER_H2O_COMPAT_KHASH_H
#define IPD_WORKER_H2O_COMPAT_KHASH_H

#include <stdint.h>

typedef uint32_t khint_t;
typedef khint_t khiter_t;

#define khash_t(name)                       kh_##name##_t
#define KHASH_MAP_INIT_INT64(name, khval_t) typedef struct kh_##name##_s kh_##name##_t;

/** Calls to this fail the build: the hash tables of the library are not to be read from here. */
extern khint_t ipd_khash_unavailable(void) __attribute__((error("khash lookups are not available here")));
#define kh_get(name, h, key) ((void)(h), (void)(key), ipd_khash_unavailable())
#define kh_end(h)            ((void)(h), (khint_t)0)
#define kh_val(h, x)         ((void)(h), (void)(x), NULL)

#endif
