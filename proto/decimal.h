/*
 * Decimal digits for the encoders, without snprintf: a job's JSON carries a dozen numbers and
 * three or four times, and formatting them through stdio was a third of encoding it.
 */
#ifndef IPD_PROTO_DECIMAL_H
#define IPD_PROTO_DECIMAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** Most bytes ipd_decimal_u64 writes (UINT64_MAX has 20 digits). */
#define IPD_DECIMAL_U64_MAX 20

/** "00", "01", ... "99": the two digits of `v` are at ipd_decimal_pairs[2 * v]. */
extern const char ipd_decimal_pairs[200];

/** Writes `v` (0 <= v < 100) as exactly two digits at `out` (caller's memory, no NUL). */
static inline void ipd_decimal_2(char *out, unsigned v)
{
    memcpy(out, ipd_decimal_pairs + 2 * v, 2);
}

/**
 * Writes `v` in decimal without leading zeros at `out` (caller's memory, room for
 * IPD_DECIMAL_U64_MAX bytes, no NUL). Returns the number of digits written.
 */
size_t ipd_decimal_u64(char *out, uint64_t v);

#endif
