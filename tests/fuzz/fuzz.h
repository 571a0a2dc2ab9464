/*
 * The entry point every fuzz target defines. Built with -fsanitize=fuzzer it is driven by
 * libFuzzer; otherwise replay_main.c drives it over a corpus and deterministic mutations.
 * A target must accept any bytes, never leak, and abort() when a property it checks fails.
 */
#ifndef IPD_TESTS_FUZZ_H
#define IPD_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
