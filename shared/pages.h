/*
 * Large private arrays in anonymous mappings of their own, not in the malloc heap.
 *
 * The master's large private arrays (the table writer's per-slot and per-task state, sized by
 * the table's capacities) are inherited by every forked worker, which drops them. glibc serves
 * a large malloc() with a mapping of its own, but free() of such a chunk raises the process's
 * dynamic mmap threshold (and its trim threshold, to twice that) to the chunk's size for the
 * rest of its life: a worker that freed the master's arrays would then serve its own
 * short-lived buffers of a few hundred KB from the heap and keep what it frees resident, so
 * its memory would depend on the size of a table it does not write. munmap() changes nothing
 * in malloc's state.
 *
 * Sizes are rounded up to whole pages. Errors: NULL from ipd_pages_alloc when out of memory
 * (errno ENOMEM), as from calloc.
 */
#ifndef IPD_SHARED_PAGES_H
#define IPD_SHARED_PAGES_H

#include <stddef.h>

/** Zeroed memory for `n` elements of `size` bytes in a private anonymous mapping; NULL (errno
 *  ENOMEM) on failure or overflow. Release with ipd_pages_free(p, n, size). */
void *ipd_pages_alloc(size_t n, size_t size);

/** Unmaps what ipd_pages_alloc(n, size) returned; NULL is ignored. */
void ipd_pages_free(void *p, size_t n, size_t size);

#endif
