#include "master/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 64
#define SPILLED    (SIZE_MAX - 1)

struct ipd_mloop {
    int epfd;
    uint64_t now;
    ipd_mloop_timer_t **heap;
    size_t nheap, capheap;
    ipd_mloop_timer_t *spill; /* armed timers the heap had no room for */
    /* The batch being dispatched, so that stopping a watcher can drop its pending event and a
     * callback may free another watcher of the same batch. */
    struct epoll_event *batch;
    int nbatch;
};

uint64_t ipd_mloop_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int ipd_mloop_create(ipd_mloop_t **out)
{
    ipd_mloop_t *loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return -ENOMEM;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        int err = -errno;
        free(loop);
        return err;
    }
    loop->now = ipd_mloop_clock_ms();
    *out = loop;
    return 0;
}

void ipd_mloop_destroy(ipd_mloop_t *loop)
{
    if (loop == NULL)
        return;
    close(loop->epfd);
    free(loop->heap);
    free(loop);
}

uint64_t ipd_mloop_now(const ipd_mloop_t *loop)
{
    return loop->now;
}

void ipd_mloop_io_init(ipd_mloop_io_t *io, int fd, ipd_mloop_io_cb cb, void *data)
{
    *io = (ipd_mloop_io_t){.fd = fd, .cb = cb, .data = data};
}

int ipd_mloop_io_start(ipd_mloop_t *loop, ipd_mloop_io_t *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (epoll_ctl(loop->epfd, io->_registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, io->fd, &ev) != 0)
        return -errno;
    io->_registered = 1;
    io->_events = events;
    return 0;
}

void ipd_mloop_io_stop(ipd_mloop_t *loop, ipd_mloop_io_t *io)
{
    if (!io->_registered)
        return;
    /* ENOENT/EBADF here mean the fd was closed first; the watcher is gone either way. */
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->_registered = 0;
    io->_events = 0;
    for (int i = 0; i < loop->nbatch; i++)
        if (loop->batch[i].data.ptr == io)
            loop->batch[i].data.ptr = NULL;
}

/* Timers: a binary min-heap on the deadline; each timer knows its index for O(log n) removal. */

static void heap_swap(ipd_mloop_t *loop, size_t a, size_t b)
{
    ipd_mloop_timer_t *t = loop->heap[a];
    loop->heap[a] = loop->heap[b];
    loop->heap[b] = t;
    loop->heap[a]->_heap_index = a;
    loop->heap[b]->_heap_index = b;
}

static void heap_up(ipd_mloop_t *loop, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->_deadline <= loop->heap[i]->_deadline)
            break;
        heap_swap(loop, i, parent);
        i = parent;
    }
}

static void heap_down(ipd_mloop_t *loop, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < loop->nheap && loop->heap[l]->_deadline < loop->heap[m]->_deadline)
            m = l;
        if (r < loop->nheap && loop->heap[r]->_deadline < loop->heap[m]->_deadline)
            m = r;
        if (m == i)
            return;
        heap_swap(loop, i, m);
        i = m;
    }
}

void ipd_mloop_timer_init(ipd_mloop_timer_t *timer, ipd_mloop_timer_cb cb, void *data)
{
    *timer = (ipd_mloop_timer_t){.cb = cb, .data = data, ._heap_index = SIZE_MAX};
}

int ipd_mloop_timer_active(const ipd_mloop_timer_t *timer)
{
    return timer->_heap_index != SIZE_MAX;
}

void ipd_mloop_timer_stop(ipd_mloop_t *loop, ipd_mloop_timer_t *timer)
{
    size_t i = timer->_heap_index;
    if (i == SPILLED) {
        ipd_mloop_timer_t **p = &loop->spill;
        while (*p != NULL && *p != timer)
            p = &(*p)->_spill_next;
        if (*p == timer)
            *p = timer->_spill_next;
        timer->_heap_index = SIZE_MAX;
        return;
    }
    /* Not linked, or never initialised (zeroed: index 0 but not the heap's entry 0). */
    if (i >= loop->nheap || loop->heap[i] != timer)
        return;
    timer->_heap_index = SIZE_MAX;
    loop->nheap--;
    if (i == loop->nheap)
        return;
    loop->heap[i] = loop->heap[loop->nheap];
    loop->heap[i]->_heap_index = i;
    heap_up(loop, i);
    heap_down(loop, loop->heap[i]->_heap_index);
}

void ipd_mloop_timer_start(ipd_mloop_t *loop, ipd_mloop_timer_t *timer, uint64_t delay_ms)
{
    ipd_mloop_timer_stop(loop, timer);
    timer->_deadline = ipd_mloop_clock_ms() + delay_ms;
    if (loop->nheap == loop->capheap) {
        size_t cap = loop->capheap ? loop->capheap * 2 : 16;
        ipd_mloop_timer_t **heap = realloc(loop->heap, cap * sizeof(*heap));
        if (heap == NULL) {
            timer->_heap_index = SPILLED;
            timer->_spill_next = loop->spill;
            loop->spill = timer;
            return;
        }
        loop->heap = heap;
        loop->capheap = cap;
    }
    timer->_heap_index = loop->nheap;
    loop->heap[loop->nheap++] = timer;
    heap_up(loop, timer->_heap_index);
}

/* The earliest deadline of the heap and the spill list, or UINT64_MAX. */
static uint64_t first_deadline(const ipd_mloop_t *loop)
{
    uint64_t d = loop->nheap > 0 ? loop->heap[0]->_deadline : UINT64_MAX;
    for (const ipd_mloop_timer_t *t = loop->spill; t != NULL; t = t->_spill_next)
        if (t->_deadline < d)
            d = t->_deadline;
    return d;
}

/* A due timer, from the heap or the spill list, or NULL. */
static ipd_mloop_timer_t *due_timer(const ipd_mloop_t *loop)
{
    if (loop->nheap > 0 && loop->heap[0]->_deadline <= loop->now)
        return loop->heap[0];
    for (ipd_mloop_timer_t *t = loop->spill; t != NULL; t = t->_spill_next)
        if (t->_deadline <= loop->now)
            return t;
    return NULL;
}

static int next_wait(const ipd_mloop_t *loop, int max_wait_ms)
{
    uint64_t deadline = first_deadline(loop);
    if (deadline == UINT64_MAX)
        return max_wait_ms;
    int wait = deadline <= loop->now ? 0 : (int)(deadline - loop->now > INT32_MAX ? INT32_MAX : deadline - loop->now);
    return max_wait_ms < 0 || wait < max_wait_ms ? wait : max_wait_ms;
}

int ipd_mloop_run_once(ipd_mloop_t *loop, int max_wait_ms)
{
    struct epoll_event evs[MAX_EVENTS];
    loop->now = ipd_mloop_clock_ms();
    int n = epoll_wait(loop->epfd, evs, MAX_EVENTS, next_wait(loop, max_wait_ms));
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    loop->now = ipd_mloop_clock_ms();
    int ran = 0;
    loop->batch = evs;
    loop->nbatch = n;
    for (int i = 0; i < n; i++) {
        ipd_mloop_io_t *io = evs[i].data.ptr;
        /* NULL: a callback earlier in this batch stopped this watcher (and may have freed it). */
        if (io == NULL)
            continue;
        io->cb(io, evs[i].events);
        ran++;
    }
    loop->batch = NULL;
    loop->nbatch = 0;
    ipd_mloop_timer_t *t;
    while ((t = due_timer(loop)) != NULL) {
        ipd_mloop_timer_stop(loop, t);
        t->cb(t);
        ran++;
    }
    return ran;
}
