/*
 * Driving the master's event loop from a test: run it until a condition holds, or for a while.
 * For tests that link the master library.
 */
#ifndef IPD_TESTS_MLOOP_WAIT_H
#define IPD_TESTS_MLOOP_WAIT_H

#include <criterion/criterion.h>
#include <stdint.h>

#include "master/loop.h"

/*
 * Runs `loop` in steps of at most `step_ms` until `cond` holds; fails the test (at the line of the
 * macro's use) when `ms` pass first or the loop fails.
 */
#define IPD_LOOP_UNTIL(loop, cond, ms, step_ms)                                                                        \
    do {                                                                                                               \
        uint64_t deadline_ = ipd_mloop_clock_ms() + (ms);                                                              \
        while (!(cond)) {                                                                                              \
            cr_assert_lt(ipd_mloop_clock_ms(), deadline_, "timed out waiting for %s", #cond);                          \
            cr_assert_geq(ipd_mloop_run_once(loop, step_ms), 0);                                                       \
        }                                                                                                              \
    } while (0)

/* Runs `loop` for `ms` (for checks that something does NOT happen within a timer's reach). */
static inline void ipd_loop_run_for(ipd_mloop_t *loop, uint64_t ms)
{
    uint64_t end = ipd_mloop_clock_ms() + ms;
    while (ipd_mloop_clock_ms() < end)
        ipd_mloop_run_once(loop, (int)(end - ipd_mloop_clock_ms()) + 1);
}

#endif
