/*
 * UTF-8 well-formedness (RFC 3629): the one check behind the JSON encoder's replacement of bad
 * sequences, the pruned JSON decoder and WebSocket text messages. Overlong forms, surrogates,
 * code points above U+10FFFF and truncated sequences are not well-formed.
 */
#ifndef IPD_PROTO_UTF8_H
#define IPD_PROTO_UTF8_H

#include <stddef.h>

/**
 * Length (2 to 4) of the well-formed sequence that starts at s[0], a byte >= 0x80, within
 * s[0..n); 0 when there is none. Then *bad (unless NULL) gets the length of the maximal
 * invalid subpart, the bytes one U+FFFD replaces.
 */
size_t ipd_utf8_seq(const unsigned char *s, size_t n, size_t *bad);

/** Whether the `len` bytes at `s` are well-formed UTF-8. */
int ipd_utf8_valid(const unsigned char *s, size_t len);

#endif
