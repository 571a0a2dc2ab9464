/* The msgpack decoders: any bytes are rejected cleanly or decode to records that re-encode to the same records. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/msgpack_codec.h"

#define CAP 8

static void check_task_round_trip(const ipd_task_t *t)
{
    ipd_buf_t b;
    ipd_task_t again;
    ipd_buf_init(&b);
    if (ipd_msgpack_encode_task(&b, t) != 0 || ipd_msgpack_decode_task(b.data, b.len, &again) != 0 ||
        memcmp(t, &again, sizeof(again)) != 0)
        abort();
    ipd_buf_dispose(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ipd_msgpack_limits_t small = {4096, 4, 32};
    ipd_task_t task, tasks[CAP];
    ipd_job_t job;
    size_t n;
    ipd_msgpack_check(data, size, &small);
    if (ipd_msgpack_decode_task(data, size, &task) == 0)
        check_task_round_trip(&task);
    if (ipd_msgpack_decode_job(data, size, &job) == 0) {
        ipd_buf_t b;
        ipd_job_t again;
        ipd_buf_init(&b);
        if (ipd_msgpack_encode_job(&b, &job) != 0 || ipd_msgpack_decode_job(b.data, b.len, &again) != 0 ||
            memcmp(&job, &again, sizeof(job)) != 0)
            abort();
        ipd_buf_dispose(&b);
    }
    if (ipd_msgpack_decode_change(data, size, &job, tasks, CAP, &n) == 0) {
        if (n > CAP)
            abort();
        for (size_t i = 0; i < n; i++)
            check_task_round_trip(&tasks[i]);
    }
    return 0;
}
