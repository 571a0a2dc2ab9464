/*
 * Where an HTTP/1.x request ends, as a proxy in front of this server may see it differently:
 * the request-smuggling shapes of RFC 9112 sections 2.2, 5.2 and 6.3 that the HTTP library
 * accepts. The worker checks the raw head of every HTTP/1.x request before any handler runs and
 * answers 400 (docs/api.md, "Errors").
 *
 * A pure function over borrowed bytes that need not be NUL-terminated.
 */
#ifndef IPD_PROTO_HTTP1_FRAMING_H
#define IPD_PROTO_HTTP1_FRAMING_H

#include <stddef.h>

/**
 * Checks the head of one HTTP/1.x request: `head` (borrowed, `len` bytes) starts at the request
 * line; the head ends at the first empty line, and whatever follows it (the body, a pipelined
 * request) is not looked at. Refused, each with its own message in `*why` (a static string):
 *
 *   - a line that ends in a bare LF instead of CR LF (the empty line included);
 *   - a field line folded onto the next (obs-fold: a line that starts with a space or tab);
 *   - two Content-Length fields with different values (the same value repeated is accepted);
 *   - Content-Length together with Transfer-Encoding.
 *
 * Returns 0 when none applies, 1 when the head has no empty line within `len` bytes (nothing
 * refused: the head is incomplete), or -1 with `*why` set.
 */
int ipd_http1_framing_check(const char *head, size_t len, const char **why);

#endif
