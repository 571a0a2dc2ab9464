#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "master/watch_batch.h"

static char got[16][32];
static size_t ngot;

static void collect(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    cr_assert_lt(ngot, 16);
    snprintf(got[ngot++], sizeof(got[0]), "%.*s", (int)len, line);
}

Test(watch_batch, keeps_the_latest_line_per_object_in_arrival_order)
{
    ipd_watch_batch_t b;
    ipd_watch_batch_init(&b);
    cr_assert_eq(ipd_watch_batch_put(&b, "ns/a", "a1", 2), 0);
    cr_assert_eq(ipd_watch_batch_put(&b, "ns/b", "b1", 2), 0);
    cr_assert_eq(ipd_watch_batch_put(&b, "ns/a", "a2", 2), 0);
    cr_assert_eq(ipd_watch_batch_put(&b, "ns/c", "c1", 2), 0);
    cr_assert_eq(ipd_watch_batch_put(&b, "ns/b", "b2", 2), 0);
    cr_assert_eq(ipd_watch_batch_count(&b), 3);
    cr_assert_eq(b.superseded, 2);
    ngot = 0;
    ipd_watch_batch_drain(&b, collect, NULL);
    cr_assert_eq(ngot, 3);
    cr_assert_str_eq(got[0], "a2");
    cr_assert_str_eq(got[1], "c1");
    cr_assert_str_eq(got[2], "b2");
    cr_assert_eq(ipd_watch_batch_count(&b), 0);
    ngot = 0;
    ipd_watch_batch_drain(&b, collect, NULL);
    cr_assert_eq(ngot, 0, "a drained batch is empty");
    cr_assert_eq(ipd_watch_batch_put(&b, "ns/a", "a3", 2), 0);
    ipd_watch_batch_drain(&b, collect, NULL);
    cr_assert_str_eq(got[0], "a3");
    ipd_watch_batch_dispose(&b);
}

Test(watch_batch, large_batches_survive_arena_growth)
{
    ipd_watch_batch_t b;
    ipd_watch_batch_init(&b);
    char line[2048], key[32];
    memset(line, 'x', sizeof(line));
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "ns/pod-%d", i % 7);
        snprintf(line, 16, "%08d", i);
        cr_assert_eq(ipd_watch_batch_put(&b, key, line, sizeof(line)), 0);
    }
    cr_assert_eq(ipd_watch_batch_count(&b), 7);
    ngot = 0;
    ipd_watch_batch_drain(&b, collect, NULL);
    cr_assert_eq(ngot, 7);
    /* The last seven puts, in order: 4993..4999. */
    for (size_t i = 0; i < 7; i++) {
        char want[16];
        snprintf(want, sizeof(want), "%08zu", 4993 + i);
        cr_assert_eq(strncmp(got[i], want, 8), 0, "%s vs %s", got[i], want);
    }
    ipd_watch_batch_dispose(&b);
}
