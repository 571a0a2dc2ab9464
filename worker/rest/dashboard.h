/*
 * The built-in dashboard's files (worker/dashboard/), embedded into the binary at build time by
 * worker/dashboard/embed.cmake. index.html is served at "/", every other file at "/ui/<name>".
 */
#ifndef IPD_WORKER_DASHBOARD_H
#define IPD_WORKER_DASHBOARD_H

#include <stddef.h>

/** One embedded file. Everything is static data of the generated file. */
typedef struct ipd_dashboard_asset {
    const char *path;          /**< the URL path: "/" or "/ui/app.js" */
    const char *content_type;  /**< with a charset for text */
    const unsigned char *data; /**< `len` bytes (followed by a NUL) */
    size_t len;
    const char *etag; /**< strong tag, quoted: the first 16 hex digits of the SHA-256 */
} ipd_dashboard_asset_t;

/** The files, in the order CMake lists them; ipd_dashboard_nassets entries. */
extern const ipd_dashboard_asset_t ipd_dashboard_assets[];
extern const size_t ipd_dashboard_nassets;

/** The file served at `path` (`len` bytes, borrowed), or NULL. */
const ipd_dashboard_asset_t *ipd_dashboard_find(const char *path, size_t len);

/** Whether a file is served at `path` (the router's test for the dashboard's route). */
int ipd_dashboard_is_file(const char *path, size_t len);

#endif
