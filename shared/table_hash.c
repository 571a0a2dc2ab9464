#include "shared/table_internal.h"

#include <string.h>

#include "proto/hash64.h"

uint64_t ipd_table_hash64(const void *data, size_t len, uint64_t seed)
{
    return ipd_hash64(data, len, seed);
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
