#include "shared/table_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto/error.h"
#include "shared/log.h"

/* Where everything goes for a set of capacities. */
typedef struct geometry {
    uint32_t jobs, tasks, ring, json, buckets;
    size_t job_copy, job_slot, task_slot, list_copy;
    uint64_t off_jobs, off_tasks, off_index, off_lists, off_ring, total;
} geometry_t;

static int compute(uint32_t jobs, uint32_t tasks, uint32_t ring, uint32_t json, geometry_t *g)
{
    if (jobs < 1 || jobs > IPD_TABLE_MAX_JOBS || tasks < 1 || tasks > IPD_TABLE_MAX_TASKS || ring < 2 ||
        ring > IPD_TABLE_MAX_RING || (ring & (ring - 1)) != 0 || json > IPD_TABLE_MAX_JSON)
        return IPD_EINVAL;
    *g = (geometry_t){.jobs = jobs, .tasks = tasks, .ring = ring, .json = json, .buckets = 2};
    while (g->buckets < 2 * jobs)
        g->buckets *= 2;
    g->job_copy = align_up(sizeof(job_copy_t) + json, TABLE_LINE);
    g->job_slot = TABLE_LINE + 2 * g->job_copy;
    g->task_slot = TABLE_LINE + 2 * sizeof(task_copy_t);
    g->list_copy = align_up(sizeof(list_copy_t) + list_positions(jobs) * sizeof(ipd_table_ref_t), TABLE_LINE);
    g->off_jobs = TABLE_PAGE;
    g->off_tasks = align_up(g->off_jobs + jobs * g->job_slot, TABLE_PAGE);
    g->off_index = align_up(g->off_tasks + tasks * g->task_slot, TABLE_PAGE);
    g->off_lists = align_up(g->off_index + 2 * (uint64_t)g->buckets * sizeof(uint64_t), TABLE_PAGE);
    g->off_ring = align_up(g->off_lists + 2 * (TABLE_LINE + 2 * g->list_copy), TABLE_PAGE);
    g->total = align_up(g->off_ring + ipd_ring_bytes(ring), TABLE_PAGE);
    return 0;
}

void ipd_table_options_init(ipd_table_options_t *opts)
{
    *opts = (ipd_table_options_t){.job_capacity = IPD_TABLE_DEFAULT_JOBS,
                                  .task_capacity = IPD_TABLE_DEFAULT_TASKS,
                                  .ring_capacity = IPD_TABLE_DEFAULT_RING,
                                  .json_capacity = IPD_TABLE_DEFAULT_JSON,
                                  .group = (gid_t)-1};
}

int ipd_table_check_instance(const char *instance)
{
    size_t n = instance != NULL ? strnlen(instance, IPD_TABLE_INSTANCE_MAX + 1) : 0;
    if (n == 0 || n > IPD_TABLE_INSTANCE_MAX || strcmp(instance, ".") == 0 || strcmp(instance, "..") == 0)
        return IPD_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = instance[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return IPD_EINVAL;
    }
    return 0;
}

int ipd_table_shm_name(const char *instance, const char *suffix, char *buf, size_t cap)
{
    if (ipd_table_check_instance(instance) != 0)
        return IPD_EINVAL;
    int n = snprintf(buf, cap, "/imgpulld.%s%s", instance, suffix != NULL ? suffix : "");
    return n < 0 || (size_t)n >= cap ? IPD_ETOOBIG : 0;
}

/* Checks a mapped header against itself and the object size; with `want`, against requested capacities. */
static int check_header(const table_header_t *h, size_t size, const geometry_t *want, char *why, size_t cap)
{
    geometry_t g;
    /* Pairs with the release store of the magic in build(): the rest of the header is complete. */
    uint64_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);

    if (size < TABLE_HEADER_SIZE || magic != TABLE_MAGIC)
        return snprintf(why, cap, "bad magic or object too small (%zu bytes)", size), IPD_ECORRUPT;
    if (h->layout_version != TABLE_LAYOUT_VERSION || h->header_size != TABLE_HEADER_SIZE)
        return snprintf(why, cap, "layout version %u != %u", h->layout_version, TABLE_LAYOUT_VERSION), IPD_ECORRUPT;
    if (h->job_record_size != sizeof(ipd_job_t) || h->task_record_size != sizeof(ipd_task_t) ||
        h->ring_entry_size != sizeof(ipd_ring_slot_t))
        return snprintf(why, cap, "record sizes differ from this build"), IPD_ECORRUPT;
    if (compute(h->job_capacity, h->task_capacity, h->ring_capacity, h->json_capacity, &g) != 0 ||
        g.total != h->total_size || g.total != size || g.buckets != h->index_buckets ||
        g.job_slot != h->job_slot_size || g.task_slot != h->task_slot_size || g.list_copy != h->list_copy_size ||
        g.off_jobs != h->off_jobs || g.off_tasks != h->off_tasks || g.off_index != h->off_index ||
        g.off_lists != h->off_lists || g.off_ring != h->off_ring)
        return snprintf(why, cap, "geometry inconsistent with the object size"), IPD_ECORRUPT;
    if (want != NULL &&
        (g.jobs != want->jobs || g.tasks != want->tasks || g.ring != want->ring || g.json != want->json))
        return snprintf(why, cap, "capacities %u/%u/%u/%u != requested %u/%u/%u/%u", g.jobs, g.tasks, g.ring, g.json,
                        want->jobs, want->tasks, want->ring, want->json),
               IPD_ECORRUPT;
    return 0;
}

/* Points the handle's region pointers into the mapping described by its (validated) header. */
static void set_view(ipd_table_t *t)
{
    table_header_t *h = t->hdr;
    t->jobs = t->base + h->off_jobs;
    t->tasks = t->base + h->off_tasks;
    t->index[0] = (_Atomic uint64_t *)(t->base + h->off_index);
    t->index[1] = t->index[0] + h->index_buckets;
    t->lists = t->base + h->off_lists;
    t->job_cap = h->job_capacity;
    t->task_cap = h->task_capacity;
    t->json_cap = h->json_capacity;
    t->buckets = h->index_buckets;
    t->job_copy_size = (h->job_slot_size - TABLE_LINE) / 2;
    t->list_copy_size = h->list_copy_size;
    ipd_ring_init(&t->ring, t->base + h->off_ring, h->ring_capacity, &h->ring_head);
}

static int map_fd(int fd, size_t size, int prot, ipd_table_t **out)
{
    ipd_table_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    void *p = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int err = -errno;
        ipd_error("table", "mmap of %zu bytes: %s", size, strerror(errno));
        free(t);
        return err;
    }
    t->base = p;
    t->size = size;
    t->hdr = p;
    *out = t;
    return 0;
}

void ipd_table_destroy(ipd_table_t *t)
{
    if (t == NULL)
        return;
    ipd_table_writer_free(t);
    if (t->base != NULL)
        munmap(t->base, t->size);
    free(t);
}

static int fstat_size(int fd, size_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        ipd_error("table", "fstat: %s", strerror(errno));
        return -errno;
    }
    *size = (size_t)st.st_size;
    return 0;
}

int ipd_table_attach_readonly(const char *instance, ipd_table_t **out)
{
    char name[IPD_TABLE_NAME_SIZE], why[160];
    size_t size = 0;
    int rc = ipd_table_shm_name(instance, NULL, name, sizeof(name));
    if (rc != 0)
        return rc;
    int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        ipd_error("table", "shm_open %s read-only: %s", name, strerror(errno));
        return rc;
    }
    if ((rc = fstat_size(fd, &size)) == 0 && size < TABLE_HEADER_SIZE)
        rc = IPD_ECORRUPT;
    if (rc == 0)
        rc = map_fd(fd, size, PROT_READ, out);
    close(fd);
    if (rc != 0)
        return rc;
    if ((rc = check_header((*out)->hdr, size, NULL, why, sizeof(why))) != 0) {
        ipd_error("table", "%s failed validation: %s", name, why);
        ipd_table_destroy(*out);
        *out = NULL;
        return rc;
    }
    set_view(*out);
    return 0;
}

int ipd_table_unlink(const char *instance)
{
    char name[IPD_TABLE_NAME_SIZE];
    int rc = ipd_table_shm_name(instance, NULL, name, sizeof(name));
    if (rc != 0)
        return rc;
    if (shm_unlink(name) != 0)
        return -errno;
    return 0;
}

/* Sets the object's mode and group: 0600, or 0640 owned by `group`. */
static int set_access(int fd, const char *name, gid_t group)
{
    if (group != (gid_t)-1 && fchown(fd, (uid_t)-1, group) != 0) {
        ipd_error("table", "fchown %s to gid %u: %s", name, (unsigned)group, strerror(errno));
        return -errno;
    }
    if (fchmod(fd, group != (gid_t)-1 ? 0640 : 0600) != 0) {
        ipd_error("table", "fchmod %s: %s", name, strerror(errno));
        return -errno;
    }
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fills a fresh (zeroed) mapping's header; the magic goes last. */
static int init_header(table_header_t *h, const geometry_t *g)
{
    if (getrandom(&h->epoch, sizeof(h->epoch), 0) != (ssize_t)sizeof(h->epoch)) {
        ipd_error("table", "getrandom: %s", strerror(errno));
        return -errno;
    }
    h->layout_version = TABLE_LAYOUT_VERSION;
    h->header_size = TABLE_HEADER_SIZE;
    h->total_size = g->total;
    h->created_at_ms = now_ms();
    h->creator_pid = (uint32_t)getpid();
    h->job_capacity = g->jobs;
    h->task_capacity = g->tasks;
    h->ring_capacity = g->ring;
    h->json_capacity = g->json;
    h->index_buckets = g->buckets;
    h->job_record_size = sizeof(ipd_job_t);
    h->task_record_size = sizeof(ipd_task_t);
    h->ring_entry_size = sizeof(ipd_ring_slot_t);
    h->job_slot_size = (uint32_t)g->job_slot;
    h->task_slot_size = (uint32_t)g->task_slot;
    h->list_copy_size = (uint32_t)g->list_copy;
    h->off_jobs = g->off_jobs;
    h->off_tasks = g->off_tasks;
    h->off_index = g->off_index;
    h->off_lists = g->off_lists;
    h->off_ring = g->off_ring;
    /* Pairs with the acquire load of the magic in check_header(). */
    atomic_store_explicit(&h->magic, TABLE_MAGIC, memory_order_release);
    return 0;
}

/* Creates the object `name` (which must not exist) and a fresh writer table in it. */
static int build(const char *name, const geometry_t *g, gid_t group, ipd_table_t **out)
{
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600), rc;
    if (fd < 0) {
        rc = -errno;
        ipd_error("table", "shm_open %s: %s", name, strerror(errno));
        return rc;
    }
    if ((rc = set_access(fd, name, group)) == 0 && ftruncate(fd, (off_t)g->total) != 0) {
        rc = -errno;
        ipd_error("table", "ftruncate %s to %llu bytes: %s", name, (unsigned long long)g->total, strerror(errno));
    }
    if (rc == 0)
        rc = map_fd(fd, g->total, PROT_READ | PROT_WRITE, out);
    close(fd);
    if (rc == 0 && (rc = init_header((*out)->hdr, g)) == 0) {
        set_view(*out);
        if ((rc = ipd_table_writer_new(*out)) == 0)
            rc = ipd_table_writer_derive(*out);
    }
    if (rc != 0) {
        if (rc != -EEXIST)
            shm_unlink(name);
        ipd_table_destroy(*out);
        *out = NULL;
    }
    return rc;
}

/* Maps an existing object read-write and validates it; 0, IPD_ECORRUPT (reason in `info`) or -errno. */
static int reopen(int fd, const char *name, const geometry_t *g, gid_t group, ipd_table_t **out,
                  ipd_table_open_info_t *info)
{
    size_t size = 0;
    int rc = fstat_size(fd, &size);
    if (rc == 0 && size < TABLE_HEADER_SIZE) {
        snprintf(info->detail, sizeof(info->detail), "object too small (%zu bytes)", size);
        return IPD_ECORRUPT;
    }
    if (rc != 0 || (rc = set_access(fd, name, group)) != 0 || (rc = map_fd(fd, size, PROT_READ | PROT_WRITE, out)) != 0)
        return rc;
    if ((rc = check_header((*out)->hdr, size, g, info->detail, sizeof(info->detail))) == 0) {
        set_view(*out);
        if ((rc = ipd_table_writer_new(*out)) == 0)
            rc = ipd_table_reattach(*out, info);
    }
    if (rc != 0) {
        ipd_table_destroy(*out);
        *out = NULL;
    }
    return rc;
}

int ipd_shm_check_owner(const char *name)
{
    char path[IPD_TABLE_NAME_SIZE + 16];
    struct stat st;
    snprintf(path, sizeof(path), "/dev/shm%s", name);
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISREG(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 0022) == 0)
        return 0;
    ipd_error("table",
              "%s exists and is not this daemon's (owner uid %u, mode %04o, %s): it is neither used nor removed; "
              "remove it as its owner or root, or choose another instance",
              path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), S_ISREG(st.st_mode) ? "a file" : "not a file");
    return -EPERM;
}

int ipd_table_create(const ipd_table_options_t *opts, ipd_table_t **out, ipd_table_open_info_t *info)
{
    ipd_table_open_info_t local;
    char name[IPD_TABLE_NAME_SIZE];
    geometry_t g;
    int rc;

    info = info != NULL ? info : &local;
    memset(info, 0, sizeof(*info));
    *out = NULL;
    if ((rc = compute(opts->job_capacity, opts->task_capacity, opts->ring_capacity, opts->json_capacity, &g)) != 0 ||
        (rc = ipd_table_shm_name(opts->instance, NULL, name, sizeof(name))) != 0)
        return rc;
    if ((rc = ipd_shm_check_owner(name)) != 0)
        return rc;
    int fd = shm_open(name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0 && errno != ENOENT) {
        rc = -errno;
        ipd_error("table", "shm_open %s: %s", name, strerror(errno));
        return rc;
    }
    if (fd >= 0) {
        if (opts->force_rebuild) {
            rc = IPD_ESTATE;
            snprintf(info->detail, sizeof(info->detail), "rebuild requested");
        } else {
            rc = reopen(fd, name, &g, opts->group, out, info);
        }
        close(fd);
        if (rc == 0) {
            info->outcome = IPD_TABLE_REATTACHED;
            return 0;
        }
        if (rc != IPD_ECORRUPT && rc != IPD_ESTATE)
            return rc;
        ipd_warn("table", "rebuilding %s: %s", name, info->detail);
        if (shm_unlink(name) != 0 && errno != ENOENT) {
            rc = -errno;
            ipd_error("table", "shm_unlink %s: %s", name, strerror(errno));
            return rc;
        }
        info->outcome = IPD_TABLE_REBUILT;
        info->reason = rc;
    } else {
        info->outcome = IPD_TABLE_CREATED;
    }
    return build(name, &g, opts->group, out);
}
