#include <criterion/criterion.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "master/loop.h"

static int fired[8];
static uint64_t fired_at[8];
static int order_len;
static int order[8];

static void on_timer(ipd_mloop_timer_t *t)
{
    int id = (int)(intptr_t)t->data;
    fired[id]++;
    fired_at[id] = ipd_mloop_clock_ms();
    order[order_len++] = id;
}

Test(loop, timers_fire_in_deadline_order)
{
    ipd_mloop_t *loop;
    cr_assert_eq(ipd_mloop_create(&loop), 0);
    ipd_mloop_timer_t t[4];
    uint64_t delays[4] = {40, 10, 30, 20};
    memset(fired, 0, sizeof(fired));
    order_len = 0;
    /* Read before the timers are armed: a reading taken after them could come late, under load,
     * and make the 40 ms timer look early. */
    uint64_t start = ipd_mloop_clock_ms();
    for (int i = 0; i < 4; i++) {
        ipd_mloop_timer_init(&t[i], on_timer, (void *)(intptr_t)i);
        ipd_mloop_timer_start(loop, &t[i], delays[i]);
    }
    while (order_len < 4)
        cr_assert_geq(ipd_mloop_run_once(loop, 1000), 0);
    cr_assert_eq(order[0], 1);
    cr_assert_eq(order[1], 3);
    cr_assert_eq(order[2], 2);
    cr_assert_eq(order[3], 0);
    cr_assert_geq(fired_at[0] - start, 40);
    for (int i = 0; i < 4; i++)
        cr_assert_not(ipd_mloop_timer_active(&t[i]));
    ipd_mloop_destroy(loop);
}

Test(loop, stopped_timer_does_not_fire_and_restart_moves_deadline)
{
    ipd_mloop_t *loop;
    cr_assert_eq(ipd_mloop_create(&loop), 0);
    ipd_mloop_timer_t a, b;
    memset(fired, 0, sizeof(fired));
    order_len = 0;
    ipd_mloop_timer_init(&a, on_timer, (void *)(intptr_t)0);
    ipd_mloop_timer_init(&b, on_timer, (void *)(intptr_t)1);
    ipd_mloop_timer_start(loop, &a, 5);
    ipd_mloop_timer_start(loop, &b, 10);
    ipd_mloop_timer_stop(loop, &a);
    ipd_mloop_timer_stop(loop, &a);
    ipd_mloop_timer_start(loop, &b, 30);
    uint64_t start = ipd_mloop_clock_ms();
    while (order_len < 1)
        ipd_mloop_run_once(loop, 1000);
    cr_assert_eq(fired[0], 0);
    cr_assert_eq(fired[1], 1);
    cr_assert_geq(ipd_mloop_clock_ms() - start, 29);
    ipd_mloop_destroy(loop);
}

struct pair {
    ipd_mloop_io_t io[2];
    int fds[2][2];
    int calls;
};

static void on_read_stop_other(ipd_mloop_io_t *io, uint32_t events)
{
    struct pair *p = io->data;
    (void)events;
    p->calls++;
    /* Stop and scribble over the other watcher: it is ready in this batch too. */
    ipd_mloop_t *loop = *(ipd_mloop_t **)((char *)p + sizeof(*p));
    ipd_mloop_io_t *other = io == &p->io[0] ? &p->io[1] : &p->io[0];
    ipd_mloop_io_stop(loop, other);
    ipd_mloop_io_stop(loop, io);
    memset(other, 0xff, sizeof(*other));
    other->_registered = 0;
}

Test(loop, watcher_stopped_in_same_batch_is_not_dispatched)
{
    struct {
        struct pair p;
        ipd_mloop_t *loop;
    } s;
    memset(&s, 0, sizeof(s));
    cr_assert_eq(ipd_mloop_create(&s.loop), 0);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(pipe(s.p.fds[i]), 0);
        ipd_mloop_io_init(&s.p.io[i], s.p.fds[i][0], on_read_stop_other, &s.p);
        cr_assert_eq(ipd_mloop_io_start(s.loop, &s.p.io[i], EPOLLIN), 0);
        cr_assert_eq(write(s.p.fds[i][1], "x", 1), 1);
    }
    cr_assert_eq(ipd_mloop_run_once(s.loop, 100), 1);
    cr_assert_eq(s.p.calls, 1);
    cr_assert_eq(ipd_mloop_run_once(s.loop, 20), 0);
    for (int i = 0; i < 2; i++) {
        close(s.p.fds[i][0]);
        close(s.p.fds[i][1]);
    }
    ipd_mloop_destroy(s.loop);
}

Test(loop, many_timers_keep_heap_order)
{
    ipd_mloop_t *loop;
    cr_assert_eq(ipd_mloop_create(&loop), 0);
    enum { N = 500 };
    ipd_mloop_timer_t *t = calloc(N, sizeof(*t));
    srand(7);
    for (int i = 0; i < N; i++) {
        ipd_mloop_timer_init(&t[i], on_timer, (void *)(intptr_t)0);
        ipd_mloop_timer_start(loop, &t[i], (uint64_t)(rand() % 1000) + 100000);
    }
    for (int i = 0; i < N; i += 3)
        ipd_mloop_timer_stop(loop, &t[i]);
    /* Every remaining timer is still linked at a consistent heap position. */
    int active = 0;
    for (int i = 0; i < N; i++)
        active += ipd_mloop_timer_active(&t[i]);
    cr_assert_eq(active, N - (N + 2) / 3);
    for (int i = 0; i < N; i++)
        ipd_mloop_timer_stop(loop, &t[i]);
    free(t);
    ipd_mloop_destroy(loop);
}

Test(loop, stopping_a_zeroed_timer_that_was_never_armed_leaves_the_others_alone)
{
    ipd_mloop_t *loop;
    cr_assert_eq(ipd_mloop_create(&loop), 0);
    ipd_mloop_timer_t armed, zeroed;
    memset(&zeroed, 0, sizeof(zeroed)); /* as in a calloc'd state whose start failed early */
    memset(fired, 0, sizeof(fired));
    order_len = 0;
    ipd_mloop_timer_init(&armed, on_timer, (void *)(intptr_t)0);
    ipd_mloop_timer_start(loop, &armed, 1);
    ipd_mloop_timer_stop(loop, &zeroed);
    cr_assert(ipd_mloop_timer_active(&armed), "stopping another timer disarmed this one");
    uint64_t end = ipd_mloop_clock_ms() + 1000;
    while (fired[0] == 0 && ipd_mloop_clock_ms() < end)
        cr_assert_geq(ipd_mloop_run_once(loop, 10), 0);
    cr_assert_eq(fired[0], 1);
    ipd_mloop_destroy(loop);
}
