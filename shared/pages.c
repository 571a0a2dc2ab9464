#include "shared/pages.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_round(size_t n, size_t size, int *ok)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *ok = size == 0 || n <= SIZE_MAX / size;
    size_t bytes = *ok ? n * size : 0;
    if (bytes == 0)
        bytes = 1;
    *ok = *ok && bytes <= SIZE_MAX - page;
    return *ok ? (bytes + page - 1) / page * page : 0;
}

void *ipd_pages_alloc(size_t n, size_t size)
{
    int ok;
    size_t bytes = page_round(n, size, &ok);
    if (!ok) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    return p;
}

void ipd_pages_free(void *p, size_t n, size_t size)
{
    if (p == NULL)
        return;
    int ok;
    munmap(p, page_round(n, size, &ok));
}
