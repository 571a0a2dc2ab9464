#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/instance.h"
#include "proto/error.h"
#include "shared/stats_segment.h"
#include "shared/table.h"

static char instance[64];

/* Route slots of the segments made here (the worker's route table decides them in the daemon). */
#define ROUTE_SLOTS 210u

static void new_instance(void)
{
    ipd_test_instance(instance, sizeof(instance), "stats");
}

static void drop_instance(void)
{
    ipd_stats_unlink(instance);
}

TestSuite(stats, .init = new_instance, .fini = drop_instance, .timeout = 60);

Test(stats, workers_count_in_their_own_blocks_and_the_master_sums_them)
{
    ipd_stats_segment_t *seg = NULL;
    cr_assert_eq(ipd_stats_create(instance, 4, ROUTE_SLOTS, (gid_t)-1, &seg), 0);
    cr_expect_eq(ipd_stats_blocks(seg), 4);
    cr_expect_null(ipd_stats_block(seg, 4));
    pid_t kids[3];
    for (uint32_t i = 0; i < 3; i++) {
        kids[i] = fork();
        cr_assert_geq(kids[i], 0);
        if (kids[i] != 0)
            continue;
        ipd_stats_segment_t *mine = NULL;
        if (ipd_stats_attach(instance, &mine) != 0 || ipd_stats_claim(mine, i, getpid()) != 0)
            _exit(2);
        ipd_stats_block_t *b = ipd_stats_block(mine, i);
        for (int n = 0; n < 100000; n++)
            ipd_stats_request(b, n % 10 == 0 ? 404 : 200, (uint64_t)(n % 3) * 3000, 100, 1000);
        ipd_stats_gauge(b, IPD_STATS_WS_OPEN, 5);
        ipd_stats_gauge(b, IPD_STATS_WS_OPEN, -2);
        ipd_stats_add(b, IPD_STATS_WS_OPENED, 5);
        for (unsigned n = 0; n <= i; n++)
            ipd_stats_route_add(b, 7 + i); /* worker i counts i + 1 requests in route slot 7 + i */
        ipd_stats_route_add(b, ROUTE_SLOTS - 1);
        ipd_stats_destroy(mine);
        _exit(0);
    }
    for (int i = 0; i < 3; i++) {
        int status;
        cr_assert_eq(waitpid(kids[i], &status, 0), kids[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    ipd_stats_totals_t t;
    ipd_stats_aggregate(seg, &t);
    cr_expect_eq(t.workers, 3);
    cr_expect_eq(t.c[IPD_STATS_REQUESTS], 300000);
    cr_expect_eq(t.c[IPD_STATS_STATUS_2XX], 270000);
    cr_expect_eq(t.c[IPD_STATS_STATUS_4XX], 30000);
    cr_expect_eq(t.c[IPD_STATS_BYTES_IN], 30000000);
    cr_expect_eq(t.c[IPD_STATS_BYTES_OUT], 300000000);
    uint64_t in_buckets = 0;
    for (unsigned k = 0; k < IPD_STATS_LATENCY_BUCKETS; k++)
        in_buckets += t.c[IPD_STATS_LATENCY_FIRST + k];
    cr_expect_eq(in_buckets, 300000);
    cr_expect_eq(t.c[IPD_STATS_LATENCY_FIRST + ipd_stats_latency_bucket(0)], 3 * 33334, "n % 3 == 0: 0 µs");
    cr_expect_eq((int64_t)t.c[IPD_STATS_WS_OPEN], 9);
    cr_expect_eq(t.c[IPD_STATS_WS_OPENED], 15);
    cr_expect_eq(t.route[7], 1);
    cr_expect_eq(t.route[8], 2);
    cr_expect_eq(t.route[9], 3);
    cr_expect_eq(t.route[ROUTE_SLOTS - 1], 3, "the last slot is summed too");
    cr_expect_eq(t.route[0], 0);

    /* Worker 1 died: its gauges go, its counters stay (they are monotonic). */
    ipd_stats_reset_gauges(seg, 1);
    ipd_stats_aggregate(seg, &t);
    cr_expect_eq((int64_t)t.c[IPD_STATS_WS_OPEN], 6);
    cr_expect_eq(t.c[IPD_STATS_REQUESTS], 300000);
    cr_expect_eq(t.workers, 2);
    ipd_stats_destroy(seg);
}

Test(stats, latency_buckets_and_names)
{
    cr_expect_eq(ipd_stats_latency_bucket(0), 0);
    cr_expect_eq(ipd_stats_latency_bucket(250), 0);
    cr_expect_eq(ipd_stats_latency_bucket(251), 1);
    cr_expect_eq(ipd_stats_latency_bucket(1000000), IPD_STATS_LATENCY_BUCKETS - 2);
    cr_expect_eq(ipd_stats_latency_bucket(1000001), IPD_STATS_LATENCY_BUCKETS - 1);
    cr_expect_eq(ipd_stats_latency_bound(IPD_STATS_LATENCY_BUCKETS - 1), UINT64_MAX);
    for (unsigned k = 0; k < IPD_STATS_COUNT; k++)
        cr_expect_str_neq(ipd_stats_counter_name((ipd_stats_counter_t)k), "unknown", "counter %u has a name", k);
    cr_expect_str_eq(ipd_stats_counter_name(IPD_STATS_REQUESTS), "requests_total");
    cr_expect(ipd_stats_is_gauge(IPD_STATS_CONNECTIONS));
    cr_expect_not(ipd_stats_is_gauge(IPD_STATS_REQUESTS));
}

Test(stats, attach_rejects_a_foreign_object)
{
    char name[IPD_SHM_NAME_SIZE];
    ipd_stats_segment_t *seg = NULL;
    cr_expect_eq(ipd_stats_attach(instance, &seg), -ENOENT);
    cr_assert_eq(ipd_shm_name(instance, IPD_SHM_STATS, 1, name, sizeof(name)), 0);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 4096), 0);
    close(fd);
    cr_expect_eq(ipd_stats_attach(instance, &seg), IPD_ECORRUPT);
    cr_expect_eq(ipd_stats_create(instance, 0, ROUTE_SLOTS, (gid_t)-1, &seg), IPD_EINVAL);
    cr_assert_eq(ipd_stats_create(instance, 2, ROUTE_SLOTS, (gid_t)-1, &seg), 0, "create replaces a stale object");
    ipd_stats_segment_t *again = NULL;
    cr_assert_eq(ipd_stats_attach(instance, &again), 0);
    ipd_stats_add(ipd_stats_block(again, 1), IPD_STATS_LOG_BYTES, 7);
    ipd_stats_totals_t t;
    ipd_stats_aggregate(seg, &t);
    cr_expect_eq(t.c[IPD_STATS_LOG_BYTES], 7, "a worker's mapping is writable and shared");
    ipd_stats_destroy(again);
    ipd_stats_destroy(seg);
}
