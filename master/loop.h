/*
 * The master's event loop: epoll for file descriptors and a binary heap of one-shot timers.
 * Arming a timer cannot fail: when the heap cannot grow, the timer waits on an unsorted list
 * linked through the timer itself (no allocation) and fires from there, in time.
 *
 * The master never links h2o, so it has this small loop of its own. Watchers and timers are
 * caller-owned memory (the loop only links them), as with libuv handles: a watcher or timer
 * must stay valid while it is registered; once stopped (even from inside a callback of the same
 * iteration) the loop never touches it again, so it may be freed right after ipd_mloop_io_stop.
 */
#ifndef IPD_MASTER_LOOP_H
#define IPD_MASTER_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "proto/error.h"

typedef struct ipd_mloop ipd_mloop_t;
typedef struct ipd_mloop_io ipd_mloop_io_t;
typedef struct ipd_mloop_timer ipd_mloop_timer_t;

/** Called with the epoll events (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP) that fired. */
typedef void (*ipd_mloop_io_cb)(ipd_mloop_io_t *io, uint32_t events);
/** Called once when the timer's deadline passes. Restart the timer to repeat. */
typedef void (*ipd_mloop_timer_cb)(ipd_mloop_timer_t *timer);

struct ipd_mloop_io {
    int fd;
    ipd_mloop_io_cb cb;
    void *data; /**< the caller's, untouched by the loop */
    uint32_t _events;
    int _registered;
};

struct ipd_mloop_timer {
    ipd_mloop_timer_cb cb;
    void *data;         /**< the caller's, untouched by the loop */
    uint64_t _deadline; /**< monotonic ms */
    size_t _heap_index; /**< SIZE_MAX while not linked, SIZE_MAX - 1 while on the spill list */
    ipd_mloop_timer_t *_spill_next;
};

/** Creates a loop. Returns 0 and an owned loop (free with ipd_mloop_destroy), or -errno. */
IPD_MUST_USE int ipd_mloop_create(ipd_mloop_t **out);
/** Frees the loop. Registered watchers and timers are simply forgotten (their fds stay open). */
void ipd_mloop_destroy(ipd_mloop_t *loop);

/** Prepares `io` for `fd`; call before ipd_mloop_io_start. */
void ipd_mloop_io_init(ipd_mloop_io_t *io, int fd, ipd_mloop_io_cb cb, void *data);
/** Watches `io->fd` for `events` (EPOLLIN|EPOLLOUT, level-triggered), or changes them. 0 or -errno. */
IPD_MUST_USE int ipd_mloop_io_start(ipd_mloop_t *loop, ipd_mloop_io_t *io, uint32_t events);
/** Stops watching. Safe on a stopped watcher and from inside any callback. */
void ipd_mloop_io_stop(ipd_mloop_t *loop, ipd_mloop_io_t *io);

/** Prepares `timer`; call once before the first ipd_mloop_timer_start. */
void ipd_mloop_timer_init(ipd_mloop_timer_t *timer, ipd_mloop_timer_cb cb, void *data);
/** (Re)arms `timer` to fire `delay_ms` from now. Never fails (see above). */
void ipd_mloop_timer_start(ipd_mloop_t *loop, ipd_mloop_timer_t *timer, uint64_t delay_ms);
/**
 * Disarms `timer`. Safe on a disarmed timer, and on a zeroed one that was never initialised
 * (a clean-up after a failed start may stop timers its start never reached).
 */
void ipd_mloop_timer_stop(ipd_mloop_t *loop, ipd_mloop_timer_t *timer);
/** True while armed. */
int ipd_mloop_timer_active(const ipd_mloop_timer_t *timer);

/** The loop's cached monotonic time in ms, refreshed once per iteration. */
uint64_t ipd_mloop_now(const ipd_mloop_t *loop);
/** Monotonic clock in ms, read now. */
uint64_t ipd_mloop_clock_ms(void);

/**
 * Runs one iteration: waits at most `max_wait_ms` (-1 = until something happens) for I/O,
 * dispatches ready watchers, then due timers. Returns the number of callbacks run, or -errno.
 * A signal interrupting the wait is not an error: the call returns 0 so that the caller can
 * look at its signal flags.
 */
int ipd_mloop_run_once(ipd_mloop_t *loop, int max_wait_ms);

#endif
