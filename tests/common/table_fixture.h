/*
 * A job table for a unit test: created with the capacities the test needs, the test failing at
 * the caller's line when it cannot be. For tests that link the shared library.
 */
#ifndef IPD_TESTS_TABLE_FIXTURE_H
#define IPD_TESTS_TABLE_FIXTURE_H

#include <stdint.h>

#include "common/at.h"
#include "proto/error.h"
#include "shared/table.h"

/**
 * Creates (or reattaches, unless `force_rebuild`) the table of `instance` with `jobs` job slots,
 * `tasks` task slots, `ring` ring entries and `json` inline JSON bytes per job; `info` (may be
 * NULL) receives what ipd_table_create() did. Returns the writer (ipd_table_destroy).
 */
#define ipd_test_table_create(...) ipd_test_table_create_at(IPD_AT, __VA_ARGS__)
static inline ipd_table_t *ipd_test_table_create_at(const char *file, int line, const char *instance, uint32_t jobs,
                                                    uint32_t tasks, uint32_t ring, uint32_t json, int force_rebuild,
                                                    ipd_table_open_info_t *info)
{
    ipd_table_options_t o;
    ipd_table_t *t = NULL;
    ipd_table_options_init(&o);
    o.instance = instance;
    o.job_capacity = jobs;
    o.task_capacity = tasks;
    o.ring_capacity = ring;
    o.json_capacity = json;
    o.force_rebuild = force_rebuild;
    int rc = ipd_table_create(&o, &t, info);
    ipd_assert_at(file, line, rc == 0, "ipd_table_create(%s): %s", instance, ipd_strerror(rc));
    return t;
}

#endif
