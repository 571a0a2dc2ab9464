#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/error.h"
#include "common/table_fixture.h"
#include "shared/ring.h"
#include "shared/table.h"

#define CAP 8

static ipd_ring_slot_t *entries;
static _Atomic uint64_t head;
static ipd_ring_t ring;

static void setup(void)
{
    entries = calloc(CAP, sizeof(*entries));
    cr_assert_not_null(entries);
    atomic_store(&head, 0);
    cr_assert_eq(ipd_ring_init(&ring, entries, CAP, &head), 0);
}

static void teardown(void)
{
    free(entries);
}

static void append_n(int n)
{
    for (int i = 0; i < n; i++) {
        char id[16];
        uint64_t seq = ipd_ring_head(&ring) + 1;
        snprintf(id, sizeof(id), "pj-%llu", (unsigned long long)seq);
        cr_assert_eq(ipd_ring_append(&ring, IPD_RING_JOB_UPSERTED, (uint32_t)seq % 5, IPD_RING_TASK_NONE, seq * 10, id),
                     seq);
    }
}

TestSuite(ring, .init = setup, .fini = teardown);

Test(ring, init_rejects_capacities_that_are_not_powers_of_two)
{
    ipd_ring_t r;
    cr_expect_eq(ipd_ring_init(&r, entries, 6, &head), IPD_EINVAL);
    cr_expect_eq(ipd_ring_init(&r, entries, 1, &head), IPD_EINVAL);
    cr_expect_eq(ipd_ring_bytes(CAP), CAP * 64);
}

Test(ring, reads_records_in_order_from_a_cursor)
{
    ipd_ring_entry_t out[CAP];
    size_t n = 99;
    cr_assert_eq(ipd_ring_read(&ring, 0, out, CAP, &n), 0);
    cr_expect_eq(n, 0, "empty ring");
    append_n(5);
    cr_assert_eq(ipd_ring_read(&ring, 2, out, CAP, &n), 0);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof(id), "pj-%zu", i + 3);
        cr_expect_eq(out[i].seq, i + 3);
        cr_expect_eq(out[i].version, (i + 3) * 10);
        cr_expect_eq(out[i].kind, IPD_RING_JOB_UPSERTED);
        cr_expect_str_eq(out[i].id, id);
    }
    cr_assert_eq(ipd_ring_read(&ring, 0, out, 2, &n), 0);
    cr_expect_eq(n, 2, "a short buffer gets the oldest records");
    cr_expect_eq(out[1].seq, 2);
    cr_expect_eq(ipd_ring_read(&ring, 6, out, CAP, &n), IPD_EINVAL, "cursor ahead of the head");
}

Test(ring, exactly_capacity_behind_works_one_more_overruns)
{
    ipd_ring_entry_t out[CAP];
    size_t n;
    append_n(3 * CAP + 3);
    uint64_t h = ipd_ring_head(&ring);
    cr_assert_eq(ipd_ring_read(&ring, h - CAP, out, CAP, &n), 0);
    cr_assert_eq(n, CAP);
    cr_expect_eq(out[0].seq, h - CAP + 1);
    cr_expect_eq(out[CAP - 1].seq, h);
    cr_expect_eq(ipd_ring_read(&ring, h - CAP - 1, out, CAP, &n), IPD_EOVERRUN);
    cr_expect_eq(n, 0);
    cr_expect_eq(ipd_ring_read(&ring, 0, out, CAP, &n), IPD_EOVERRUN);
}

Test(ring, an_entry_being_rewritten_is_reported_not_returned)
{
    ipd_ring_entry_t out[CAP];
    size_t n;
    append_n(CAP);
    /* As the writer does before rewriting entry seq 1 for seq CAP + 1: */
    atomic_store(&entries[0].seq, 0);
    cr_expect_eq(ipd_ring_read(&ring, 0, out, CAP, &n), IPD_EOVERRUN);
    /* ... and once it holds seq CAP + 1, a reader asking for seq 1 is told it is gone. */
    atomic_store(&entries[0].seq, CAP + 1);
    cr_expect_eq(ipd_ring_read(&ring, 0, out, CAP, &n), IPD_EOVERRUN);
    cr_expect_eq(ipd_ring_read(&ring, 1, out, CAP, &n), 0);
    cr_expect_eq(n, CAP - 1);
}

Test(ring, table_ring_overrun_through_the_segment)
{
    char inst[64];
    snprintf(inst, sizeof(inst), "test-ring-%d", (int)getpid());
    ipd_table_unlink(inst);
    ipd_table_t *w = ipd_test_table_create(inst, 4, 4, 16, 0, 0, NULL), *r = NULL;
    cr_assert_eq(ipd_table_attach_readonly(inst, &r), 0);
    ipd_job_t j;
    memset(&j, 0, sizeof(j));
    strcpy(j.id, "pj-ring");
    for (int i = 0; i < 40; i++) {
        j.version = (uint64_t)i + 1;
        cr_assert_eq(ipd_table_put_job(w, &j, NULL, 0, NULL, 0), 0);
    }
    ipd_ring_entry_t out[16];
    size_t n;
    cr_assert_eq(ipd_table_ring_head(r), 40);
    cr_expect_eq(ipd_table_ring_read(r, 23, out, 16, &n), IPD_EOVERRUN);
    cr_assert_eq(ipd_table_ring_read(r, 24, out, 16, &n), 0);
    cr_assert_eq(n, 16);
    cr_expect_eq(out[0].seq, 25);
    cr_expect_eq(out[15].version, 40);
    cr_expect_eq(ipd_ring_read(ipd_table_ring(r), 40, out, 16, &n), 0);
    cr_expect_eq(n, 0);
    ipd_table_destroy(r);
    ipd_table_destroy(w);
    ipd_table_unlink(inst);
}
