/*
 * Durations written in Go's time.Duration syntax, as the kubelet prints them in events
 * ("1.234s", "1m2.5s", "850ms", "1h0m0.001s").
 */
#ifndef IPD_PROTO_DURATION_H
#define IPD_PROTO_DURATION_H

#include <stddef.h>
#include <stdint.h>

/** Longest duration accepted, in seconds: anything longer is not a plausible pull time. */
#define IPD_DURATION_MAX_SECONDS INT64_C(1000000000)

/**
 * Parses `len` bytes at `s` (borrowed, need not be NUL-terminated): an optional sign, then one
 * or more decimal numbers (with an optional fraction, "1.5", ".5", "5.") each followed by a unit
 * of ns, us, µs (U+00B5 or U+03BC), ms, s, m or h. "0" alone is zero. Fractions finer than a
 * nanosecond are dropped. Returns 0 and sets *ns (nanoseconds), or IPD_EINVAL for an empty
 * string, a number without unit, an unknown unit, stray characters, or a magnitude above
 * IPD_DURATION_MAX_SECONDS.
 */
int ipd_go_duration_parse(const char *s, size_t len, int64_t *ns);

#endif
