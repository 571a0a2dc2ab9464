/*
 * RFC 3339 timestamps, the API's time format: UTC with milliseconds, "2026-11-27T10:00:00.123Z".
 * Times in the model are Unix milliseconds (int64_t).
 */
#ifndef IPD_PROTO_RFC3339_H
#define IPD_PROTO_RFC3339_H

#include <stddef.h>
#include <stdint.h>

/** Room for a formatted time and its NUL ("YYYY-MM-DDTHH:MM:SS.mmmZ" is 24 characters). */
#define IPD_TIME_STR_SIZE 32

/**
 * Formats Unix milliseconds `ms` as "YYYY-MM-DDTHH:MM:SS.mmmZ" into `out` (`cap` bytes, caller's
 * memory; IPD_TIME_STR_SIZE is enough). Times before 1970 are allowed. Returns the length (24),
 * or IPD_EINVAL if the year falls outside 0000..9999 or `cap` is too small (then `out` is the
 * empty string when `cap` > 0).
 */
int ipd_time_format(int64_t ms, char *out, size_t cap);

/**
 * Parses an RFC 3339 date-time of exactly `len` bytes from `s` (borrowed, need not be
 * NUL-terminated) into Unix milliseconds. Accepts "T", "t" or a space between date and time;
 * "Z", "z" or a "+HH:MM"/"-HH:MM" offset; a fraction of any precision (truncated to
 * milliseconds, toward the past). Leap second 60 is accepted and counts as the next second.
 * Returns 0 and sets *ms, or IPD_EINVAL (wrong syntax, field out of range, no such day).
 * Note that 1970-01-01T00:00:00Z is 0, the model's IPD_TIME_NULL.
 */
int ipd_time_parse(const char *s, size_t len, int64_t *ms);

#endif
