/* The msgpack decoders: any bytes are rejected cleanly or decode to records that re-encode to the same records,
 * and a change record the fast path takes decodes as the generic decoder decodes it. */
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

/* One change decoder's outputs, filled with one byte first so that any byte left alone shows. */
typedef struct outs {
    ipd_job_t job;
    ipd_task_t tasks[CAP];
    char sel[IPD_MSGPACK_SELECTION_MAX];
    size_t n;
    int rc;
} outs_t;

static void decode_into(outs_t *o, int fast, const uint8_t *data, size_t size)
{
    memset(o, 0x5a, sizeof(*o));
    o->rc = fast ? ipd_msgpack_decode_change_fast(data, size, &o->job, o->sel, sizeof(o->sel), o->tasks, CAP, &o->n)
                 : ipd_msgpack_decode_keep_change_generic(data, size, &o->job, o->sel, sizeof(o->sel), o->tasks, CAP,
                                                          &o->n);
}

/* The fast path takes a record only with the generic decoder's result, byte for byte. */
static void check_fast_path(const uint8_t *data, size_t size)
{
    static outs_t fast, generic;
    decode_into(&fast, 1, data, size);
    if (fast.rc == 1)
        return;
    decode_into(&generic, 0, data, size);
    if (fast.rc != 0 || generic.rc != 0 || fast.n != generic.n || fast.n > CAP ||
        memcmp(&fast.job, &generic.job, sizeof(fast.job)) != 0 ||
        memcmp(fast.tasks, generic.tasks, fast.n * sizeof(fast.tasks[0])) != 0 ||
        memcmp(fast.sel, generic.sel, sizeof(fast.sel)) != 0)
        abort();
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
        /* The encoder writes spec.refresh_seconds for keep jobs only (pack_job), so a record of
         * another job that carries it does not come back with it. */
        if (!job.keep)
            job.spec.refresh_seconds = 0;
        if (ipd_msgpack_encode_job(&b, &job) != 0 || ipd_msgpack_decode_job(b.data, b.len, &again) != 0 ||
            memcmp(&job, &again, sizeof(job)) != 0)
            abort();
        ipd_buf_dispose(&b);
    }
    check_fast_path(data, size);
    if (ipd_msgpack_decode_change(data, size, &job, tasks, CAP, &n) == 0) {
        if (n > CAP)
            abort();
        for (size_t i = 0; i < n; i++)
            check_task_round_trip(&tasks[i]);
    }
    return 0;
}
