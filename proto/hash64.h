/*
 * The project's 64-bit hash of a byte string: fast, well mixed, not cryptographic. The table
 * checksums its records with it (shared/table_hash.c, ipd_table_hash64) and the list cursor
 * signs its fields with it (proto/http_cursor.c). Header-only so that both inline it.
 */
#ifndef IPD_PROTO_HASH64_H
#define IPD_PROTO_HASH64_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Odd 64-bit multipliers with well-mixed bits. */
#define IPD_HASH64_M1 UINT64_C(0x9e3779b97f4a7c15)
#define IPD_HASH64_M2 UINT64_C(0xbf58476d1ce4e5b9)
#define IPD_HASH64_M3 UINT64_C(0x94d049bb133111eb)
#define IPD_HASH64_M4 UINT64_C(0xff51afd7ed558ccd)

static inline uint64_t ipd_hash64_rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t ipd_hash64_load(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint64_t ipd_hash64_lane(uint64_t acc, uint64_t w)
{
    return ipd_hash64_rotl(acc + w * IPD_HASH64_M2, 31) * IPD_HASH64_M1;
}

static inline uint64_t ipd_hash64_finish(uint64_t h)
{
    h ^= h >> 30;
    h *= IPD_HASH64_M2;
    h ^= h >> 27;
    h *= IPD_HASH64_M3;
    return h ^ (h >> 31);
}

/** Hashes `len` bytes of `data` (borrowed) with `seed`. The value is stable across builds and hosts of one byte order.
 */
static inline uint64_t ipd_hash64(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data, *end = p + len;
    uint64_t a = seed + IPD_HASH64_M1, b = seed ^ IPD_HASH64_M2, c = seed - IPD_HASH64_M3,
             d = ipd_hash64_rotl(seed, 17) ^ IPD_HASH64_M4;

    /* Four independent lanes keep the multipliers busy on long records. */
    for (; end - p >= 32; p += 32) {
        a = ipd_hash64_lane(a, ipd_hash64_load(p));
        b = ipd_hash64_lane(b, ipd_hash64_load(p + 8));
        c = ipd_hash64_lane(c, ipd_hash64_load(p + 16));
        d = ipd_hash64_lane(d, ipd_hash64_load(p + 24));
    }
    uint64_t h = ipd_hash64_rotl(a, 1) + ipd_hash64_rotl(b, 7) + ipd_hash64_rotl(c, 12) + ipd_hash64_rotl(d, 18) +
                 (uint64_t)len * IPD_HASH64_M4;
    for (; end - p >= 8; p += 8)
        h = ipd_hash64_rotl(h ^ ipd_hash64_lane(0, ipd_hash64_load(p)), 27) * IPD_HASH64_M1 + IPD_HASH64_M4;
    uint64_t tail = 0;
    memcpy(&tail, p, (size_t)(end - p));
    h ^= ipd_hash64_lane((uint64_t)(end - p), tail);
    return ipd_hash64_finish(h);
}

#endif
