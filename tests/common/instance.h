/*
 * Names of the daemon instances (and so of the /dev/shm segments /imgpulld.<instance> and
 * /imgpulld.<instance>.stats) that tests create. Every name starts with IPD_TEST_INSTANCE_PREFIX,
 * which ctest sets per build tree ("t" and a hash of the build directory), so that the check at
 * the end of the suite (tests/shm_check.sh) finds this tree's leftovers and no one else's.
 */
#ifndef IPD_TESTS_INSTANCE_H
#define IPD_TESTS_INSTANCE_H

#include <stddef.h>

/** The prefix of every test instance name: $IPD_TEST_INSTANCE_PREFIX, or "t" outside ctest. Borrowed. */
const char *ipd_test_instance_prefix(void);

/**
 * Writes "<prefix><pid>-<tag>" into `out` (`cap` bytes; 64 is enough for a tag of up to 32
 * characters). `tag` is [A-Za-z0-9_.-]; a test that makes several instances varies it.
 */
void ipd_test_instance(char *out, size_t cap, const char *tag);

#endif
