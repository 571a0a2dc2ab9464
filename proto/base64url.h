/*
 * Unpadded base64url (RFC 4648 section 5, without '='): the alphabet of the list cursor
 * (proto/http_parse.h) and of the WebSocket bearer subprotocol (proto/http_auth.h).
 * Pure: no allocation, no state. Fuzzed by tests/fuzz/fuzz_base64url.c.
 */
#ifndef IPD_PROTO_BASE64URL_H
#define IPD_PROTO_BASE64URL_H

#include <stddef.h>

/**
 * Encodes `n` bytes of `in` (borrowed) into `out` (`cap` bytes), NUL-terminated. Returns the
 * length without the NUL, or -1 when the text and its NUL do not fit.
 */
int ipd_base64url_encode(const void *in, size_t n, char *out, size_t cap);

/**
 * Decodes `n` characters of `in` (borrowed; need not be NUL-terminated) into `out` (`cap`
 * bytes; not NUL-terminated). Returns the decoded length, or -1 for a character outside the
 * alphabet (padding included), a length no encoder produces (n % 4 == 1), trailing bits that
 * an encoder leaves zero and are not, or more than `cap` bytes. What decodes re-encodes to the
 * same text: the decoder accepts exactly the encoder's outputs.
 */
int ipd_base64url_decode(const char *in, size_t n, void *out, size_t cap);

#endif
