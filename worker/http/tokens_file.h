/*
 * Reading the tokens file (directive tokens_file) a worker loads when it starts and that
 * --check-config checks. The file's format and the parser are proto/http_auth.h's.
 */
#ifndef IPD_WORKER_HTTP_TOKENS_FILE_H
#define IPD_WORKER_HTTP_TOKENS_FILE_H

#include <stddef.h>

#include "proto/http_auth.h"

/**
 * Reads and parses the file at `path` (borrowed). Returns 0, IPD_EINVAL (bad content, or over
 * IPD_HTTP_TOKENS_FILE_MAX) or -errno, with "path: ..." in `err`.
 */
int ipd_http_tokens_load(const char *path, ipd_http_tokens_t *out, char *err, size_t errcap);

#endif
