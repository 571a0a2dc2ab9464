/*
 * Failures reported at the caller's line. A test helper that checks something on behalf of a test
 * takes the caller's __FILE__ and __LINE__ (its macro passes them) and fails through these, so that
 * criterion names the line of the test, not the line inside the helper.
 */
#ifndef IPD_TESTS_AT_H
#define IPD_TESTS_AT_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>

/** The caller's place, as a helper macro passes it on: `helper_at(IPD_AT, ...)`. */
#define IPD_AT __FILE__, __LINE__

/**
 * Marks the test failed at `file`:`line` with the printf-style message; then ends it when `end` is
 * set (as cr_assert_fail), else goes on (as cr_expect_fail).
 */
__attribute__((format(printf, 4, 5))) static inline void ipd_test_failed_at(const char *file, int line, int end,
                                                                            const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct criterion_assert_stats st = {.message = msg, .passed = 0, .line = (unsigned)line, .file = file};
    criterion_send_assert(&st);
    if (end)
        criterion_abort_test();
    criterion_continue_test();
}

/** Fails the test at `file`:`line` with the printf-style message and ends it (as cr_assert_fail). */
#define ipd_test_fail_at(file, line, ...) ipd_test_failed_at(file, line, 1, __VA_ARGS__)

/** Fails the test at `file`:`line` unless `cond` holds; the message follows the condition, as in cr_assert. */
#define ipd_assert_at(file, line, cond, ...)                                                                           \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            ipd_test_failed_at(file, line, 1, __VA_ARGS__);                                                            \
    } while (0)

/** As ipd_assert_at, but the test goes on (as cr_expect). */
#define ipd_expect_at(file, line, cond, ...)                                                                           \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            ipd_test_failed_at(file, line, 0, __VA_ARGS__);                                                            \
    } while (0)

#endif
