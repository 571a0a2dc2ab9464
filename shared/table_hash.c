#include "shared/table_internal.h"

#include <string.h>

/* Odd 64-bit multipliers with well-mixed bits. */
#define M1 UINT64_C(0x9e3779b97f4a7c15)
#define M2 UINT64_C(0xbf58476d1ce4e5b9)
#define M3 UINT64_C(0x94d049bb133111eb)
#define M4 UINT64_C(0xff51afd7ed558ccd)

static inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint64_t lane(uint64_t acc, uint64_t w)
{
    return rotl(acc + w * M2, 31) * M1;
}

static inline uint64_t finish(uint64_t h)
{
    h ^= h >> 30;
    h *= M2;
    h ^= h >> 27;
    h *= M3;
    return h ^ (h >> 31);
}

uint64_t ipd_table_hash64(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data, *end = p + len;
    uint64_t a = seed + M1, b = seed ^ M2, c = seed - M3, d = rotl(seed, 17) ^ M4;

    /* Four independent lanes keep the multipliers busy on long records. */
    for (; end - p >= 32; p += 32) {
        a = lane(a, load64(p));
        b = lane(b, load64(p + 8));
        c = lane(c, load64(p + 16));
        d = lane(d, load64(p + 24));
    }
    uint64_t h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18) + (uint64_t)len * M4;
    for (; end - p >= 8; p += 8)
        h = rotl(h ^ lane(0, load64(p)), 27) * M1 + M4;
    uint64_t tail = 0;
    memcpy(&tail, p, (size_t)(end - p));
    h ^= lane((uint64_t)(end - p), tail);
    return finish(h);
}

uint64_t ipd_table_job_checksum(const job_copy_t *c, uint32_t json_cap)
{
    uint64_t h = ipd_table_hash64(&c->stamp, sizeof(*c) - offsetof(job_copy_t, stamp), 0);
    if (c->flags & COPY_HAS_JSON)
        h = ipd_table_hash64(job_json((job_copy_t *)c), c->json_len < json_cap ? c->json_len : json_cap, h);
    return h;
}

uint64_t ipd_table_task_checksum(const task_copy_t *c)
{
    return ipd_table_hash64(&c->stamp, sizeof(*c) - offsetof(task_copy_t, stamp), 0);
}

uint64_t ipd_table_id_hash(const char *id)
{
    return ipd_table_hash64(id, strnlen(id, IPD_JOB_ID_SIZE), UINT64_C(0x6964));
}
