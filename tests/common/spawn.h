/*
 * Test servers written in Python (the Kubernetes simulator, the kube test server): started on
 * port 0, they print "listening on 127.0.0.1:PORT" on their first line of standard output.
 */
#ifndef IPD_TESTS_SPAWN_H
#define IPD_TESTS_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

/**
 * Starts /usr/bin/python3 with `script` (a path relative to the source tree, which comes from
 * IPD_SOURCE_DIR) and `args` (NULL-terminated; NULL entries before the end are not allowed),
 * waits up to `timeout_ms` for its first line and reads the port from it. Returns the child's
 * pid and sets *port, or -1 with what the child said (or why it failed) in `said`.
 */
pid_t ipd_test_spawn_server(const char *script, const char *const *args, int timeout_ms, int *port, char *said,
                            size_t saidlen);

#endif
