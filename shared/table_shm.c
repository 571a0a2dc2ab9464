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
#include "shared/shm.h"

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
    g->job_copy = job_copy_bytes(json);
    g->job_slot = job_slot_bytes(json);
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
    t->job_copy_size = job_copy_bytes(h->json_capacity);
    t->job_slot_size = h->job_slot_size;
    t->job_copy1_off = job_copy1_offset(h->json_capacity);
    t->list_copy_size = h->list_copy_size;
    ipd_ring_init(&t->ring, t->base + h->off_ring, h->ring_capacity, &h->ring_head);
}

/* Takes the mapping `m` into a new table handle (its region pointers not yet set). */
static int wrap(ipd_shm_t *m, ipd_table_t **out)
{
    ipd_table_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        ipd_shm_unmap(m);
        return -ENOMEM;
    }
    t->base = m->base;
    t->size = m->size;
    t->hdr = m->base;
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

int ipd_table_attach_readonly(const char *instance, ipd_table_t **out)
{
    char names[1][IPD_SHM_NAME_SIZE], why[160];
    ipd_shm_t m;
    int rc = ipd_shm_find(instance, IPD_SHM_TABLE, names, 1);
    if (rc <= 0)
        return rc == 0 ? -ENOENT : rc;
    if ((rc = ipd_shm_open(names[0], 0, (gid_t)-2, TABLE_HEADER_SIZE, &m)) != 0 || (rc = wrap(&m, out)) != 0)
        return rc;
    if ((rc = check_header((*out)->hdr, (*out)->size, NULL, why, sizeof(why))) != 0) {
        ipd_error("table", "%s failed validation: %s", names[0], why);
        ipd_table_destroy(*out);
        *out = NULL;
        return rc;
    }
    set_view(*out);
    return 0;
}

int ipd_table_unlink(const char *instance)
{
    int rc = ipd_shm_unlink_all(instance, IPD_SHM_TABLE);
    return rc < 0 ? rc : rc == 0 ? -ENOENT : 0;
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

/*
 * The object is sparse: its pages take memory as they are first written. A /dev/shm that cannot
 * hold it full would kill the writer with SIGBUS the day the table fills, so the start fails now
 * instead (docs/shm-layout.md, "Memory and /dev/shm"). `name` is the object reattached, whose
 * pages count as room; NULL for a new one. 0, or -ENOSPC after saying why.
 */
static int check_room(const char *name, const geometry_t *g)
{
    uint64_t avail;
    if (ipd_shm_room(name, &avail) != 0 || avail >= g->total)
        return 0;
    ipd_error("table",
              "/dev/shm has room for %llu bytes, fewer than the %llu a full table of %u jobs, %u tasks, %u ring "
              "entries and %u JSON bytes per job takes: give /dev/shm more room (its size= mount option), or lower "
              "table_jobs, table_tasks, table_ring or table_json_inline",
              (unsigned long long)avail, (unsigned long long)g->total, g->jobs, g->tasks, g->ring, g->json);
    return -ENOSPC;
}

/* Creates a new object for `instance` and a fresh writer table in it. */
static int build(const char *instance, const geometry_t *g, gid_t group, ipd_table_t **out, ipd_table_open_info_t *info)
{
    ipd_shm_t m;
    int rc = check_room(NULL, g);
    if (rc != 0 || (rc = ipd_shm_create(instance, IPD_SHM_TABLE, g->total, group, &m)) != 0)
        return rc;
    snprintf(info->name, sizeof(info->name), "%s", m.name);
    if ((rc = wrap(&m, out)) != 0) {
        shm_unlink(info->name);
        return rc;
    }
    if ((rc = init_header((*out)->hdr, g)) == 0) {
        set_view(*out);
        if ((rc = ipd_table_writer_new(*out)) == 0 && (rc = ipd_table_writer_derive(*out)) == 0)
            ipd_table_writer_zeroed(*out);
    }
    if (rc != 0) {
        shm_unlink(info->name);
        ipd_table_destroy(*out);
        *out = NULL;
    }
    return rc;
}

/* Maps an existing object read-write and validates it; 0, IPD_ECORRUPT (reason in `info`) or -errno. */
static int reopen(const char *name, const geometry_t *g, gid_t group, ipd_table_t **out, ipd_table_open_info_t *info)
{
    ipd_shm_t m;
    int rc = ipd_shm_open(name, 1, group, TABLE_HEADER_SIZE, &m);
    if (rc == IPD_ECORRUPT)
        snprintf(info->detail, sizeof(info->detail), "object smaller than its header");
    if (rc != 0 || (rc = wrap(&m, out)) != 0)
        return rc;
    if ((rc = check_header((*out)->hdr, (*out)->size, g, info->detail, sizeof(info->detail))) == 0 &&
        (rc = check_room(name, g)) == 0) {
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

/* The most objects of an instance considered at start-up; more are left from many crashes in a row. */
#define TABLE_CANDIDATES 16

int ipd_table_create(const ipd_table_options_t *opts, ipd_table_t **out, ipd_table_open_info_t *info)
{
    ipd_table_open_info_t local;
    char names[TABLE_CANDIDATES][IPD_SHM_NAME_SIZE];
    geometry_t g;
    int rc, n;

    info = info != NULL ? info : &local;
    memset(info, 0, sizeof(*info));
    *out = NULL;
    if ((rc = compute(opts->job_capacity, opts->task_capacity, opts->ring_capacity, opts->json_capacity, &g)) != 0)
        return rc;
    if ((n = ipd_shm_find(opts->instance, IPD_SHM_TABLE, names, TABLE_CANDIDATES)) < 0)
        return n;
    info->outcome = IPD_TABLE_CREATED;
    /*
     * The newest of this user's objects is reattached if it passes validation; every other one
     * (rejected, or left by a master that crashed while it rebuilt) is removed.
     */
    for (int i = 0; i < n && i < TABLE_CANDIDATES; i++) {
        if (*out == NULL) {
            if (opts->force_rebuild) {
                rc = IPD_ESTATE;
                snprintf(info->detail, sizeof(info->detail), "rebuild requested");
            } else {
                rc = reopen(names[i], &g, opts->group, out, info);
            }
            if (rc == 0) {
                info->outcome = IPD_TABLE_REATTACHED;
                memcpy(info->name, names[i], sizeof(info->name));
                continue;
            }
            if (rc == -ENOENT)
                continue;
            if (rc != IPD_ECORRUPT && rc != IPD_ESTATE)
                return rc;
            ipd_warn("table", "rebuilding %s: %s", names[i], info->detail);
            info->outcome = IPD_TABLE_REBUILT;
            info->reason = rc;
        } else {
            ipd_warn("table", "removing %s, older than %s", names[i], info->name);
        }
        if (shm_unlink(names[i]) != 0 && errno != ENOENT) {
            rc = -errno;
            ipd_error("table", "shm_unlink %s: %s", names[i], strerror(errno));
            ipd_table_destroy(*out);
            *out = NULL;
            return rc;
        }
    }
    return *out != NULL ? 0 : build(opts->instance, &g, opts->group, out, info);
}
