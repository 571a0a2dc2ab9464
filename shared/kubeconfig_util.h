/*
 * Private helpers shared by the kubeconfig loaders (kubeconfig.c, kube_credentials.c).
 * Not part of the public API.
 */
#ifndef IPD_SHARED_KUBECONFIG_UTIL_H
#define IPD_SHARED_KUBECONFIG_UTIL_H

#include <stddef.h>

/** Largest file the loaders read (kubeconfig, token, namespace). */
#define IPD_KUBE_MAX_FILE (4u << 20)

/** Formats a message into `err` (may be NULL). Always returns `rc`, to allow `return ipd_kube_seterr(...)`. */
int ipd_kube_seterr(int rc, char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/**
 * Reads a whole file of at most `max` bytes. On success *out is owned (free with free()), NUL-terminated,
 * and *len (may be NULL) is its length. Returns 0, -errno, or IPD_ETOOBIG.
 */
int ipd_kube_read_file(const char *path, size_t max, char **out, size_t *len);

/** Returns an owned copy of `s` without leading and trailing whitespace (free with free()), or NULL on ENOMEM. */
char *ipd_kube_strdup_trim(const char *s);

#endif
