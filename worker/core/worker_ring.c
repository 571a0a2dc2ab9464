#include "worker/core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/error.h"
#include "proto/json.h"
#include "shared/log.h"

#define RING_BATCH 256

static int catalog_alloc(ipd_worker_catalog_t *c, uint32_t nslots)
{
    c->ids = calloc(nslots, sizeof(*c->ids));
    c->nslots = c->ids != NULL ? nslots : 0;
    return c->ids != NULL ? 0 : -ENOMEM;
}

ipd_table_t *ipd_worker_table(ipd_worker_t *w)
{
    if (w->table != NULL)
        return w->table;
    uint64_t now = h2o_now(w->loop);
    if (now < w->table_retry_at)
        return NULL;
    w->table_retry_at = now + 1000;
    int rc = ipd_table_attach_readonly(w->cfg->instance, &w->table);
    if (rc != 0) {
        w->table = NULL;
        if (rc != -ENOENT)
            ipd_warn("worker", "attaching table %s: %s", w->cfg->instance, ipd_strerror(rc));
        return NULL;
    }
    if (catalog_alloc(&w->catalog, ipd_table_job_capacity(w->table)) != 0) {
        ipd_error("worker", "catalogue of %u slots: out of memory", ipd_table_job_capacity(w->table));
        ipd_table_destroy(w->table);
        w->table = NULL;
        return NULL;
    }
    w->catalog.cursor = UINT64_MAX; /* forces a rebuild on the first poll */
    ipd_info("worker", "table %s attached (epoch %016llx, generation %llu)", w->cfg->instance,
             (unsigned long long)ipd_table_epoch(w->table), (unsigned long long)ipd_table_generation(w->table));
    ipd_worker_ring_poll(w);
    return w->table;
}

static int grow(void **p, size_t *cap, size_t want, size_t elem)
{
    if (want <= *cap)
        return 0;
    void *n = realloc(*p, want * elem);
    if (n == NULL)
        return -ENOMEM;
    *p = n;
    *cap = want;
    return 0;
}

int ipd_worker_read_job(ipd_worker_t *w, const char *id, ipd_table_ref_t ref, ipd_table_job_view_t *view)
{
    size_t json_want = ipd_table_json_capacity(w->table);
    if (grow((void **)&w->json, &w->json_cap, json_want > 0 ? json_want : 1, 1) != 0 ||
        grow((void **)&w->tasks, &w->task_cap, 16, sizeof(ipd_task_t)) != 0)
        return -ENOMEM;
    for (;;) {
        memset(view, 0, sizeof(*view));
        view->job = &w->job;
        view->tasks = w->tasks;
        view->task_cap = w->task_cap;
        view->json = w->json;
        view->json_cap = w->json_cap;
        int rc = id != NULL ? ipd_table_get_job(w->table, id, view) : ipd_table_get_job_at(w->table, ref, view);
        if (rc != IPD_ETOOBIG)
            return rc;
        if (grow((void **)&w->tasks, &w->task_cap, view->ntasks, sizeof(ipd_task_t)) != 0 ||
            grow((void **)&w->json, &w->json_cap, view->json_len, 1) != 0)
            return -ENOMEM;
    }
}

int ipd_worker_append_job(const ipd_table_job_view_t *view, ipd_buf_t *out)
{
    if (view->has_json && view->json_len > 0)
        return ipd_buf_append(out, view->json, view->json_len);
    return ipd_json_encode_job(out, view->job, view->tasks, view->ntasks);
}

ssize_t ipd_worker_read_list(ipd_worker_t *w, ipd_table_list_kind_t kind, uint64_t *generation)
{
    size_t count = 0, total = 0;
    if (grow((void **)&w->refs, &w->ref_cap, ipd_table_job_capacity(w->table), sizeof(ipd_table_ref_t)) != 0)
        return -ENOMEM;
    int rc = ipd_table_list(w->table, kind, w->refs, w->ref_cap, &count, &total, generation);
    return rc != 0 ? rc : (ssize_t)count;
}

static void apply(ipd_worker_catalog_t *c, const ipd_ring_entry_t *e)
{
    if (e->slot >= c->nslots)
        return;
    if (e->kind == IPD_RING_JOB_UPSERTED)
        memcpy(c->ids[e->slot], e->id, IPD_JOB_ID_SIZE);
    else if (e->kind == IPD_RING_JOB_DELETED && strncmp(c->ids[e->slot], e->id, IPD_JOB_ID_SIZE) == 0)
        c->ids[e->slot][0] = '\0';
}

/*
 * Rebuilds the catalogue from every job slot, then lets the ring take over from the head read
 * before the walk: a change made during the walk is replayed by the next poll.
 */
static void rebuild(ipd_worker_t *w)
{
    ipd_worker_catalog_t *c = &w->catalog;
    uint64_t head = ipd_table_ring_head(w->table);
    for (uint32_t s = 0; s < c->nslots; s++) {
        ipd_job_t job;
        ipd_table_job_view_t view = {.job = &job};
        int rc = ipd_table_get_job_in_slot(w->table, s, &view);
        if (rc == 0 || rc == IPD_ETOOBIG)
            memcpy(c->ids[s], job.id, IPD_JOB_ID_SIZE);
        else
            c->ids[s][0] = '\0';
    }
    c->cursor = head;
}

void ipd_worker_ring_poll(ipd_worker_t *w)
{
    ipd_ring_entry_t batch[RING_BATCH];
    ipd_worker_catalog_t *c = &w->catalog;
    if (w->table == NULL)
        return;
    int resync = c->cursor == UINT64_MAX || c->cursor > ipd_table_ring_head(w->table);
    while (!resync) {
        size_t n = 0;
        int rc = ipd_table_ring_read(w->table, c->cursor, batch, RING_BATCH, &n);
        if (rc != 0) {
            resync = 1;
            break;
        }
        if (n == 0)
            return;
        for (size_t i = 0; i < n; i++) {
            apply(c, &batch[i]);
            for (size_t k = 0; k < w->nobservers; k++)
                if (w->observers[k].on_change != NULL)
                    w->observers[k].on_change(w, &batch[i], w->observers[k].data);
        }
        c->cursor = batch[n - 1].seq;
        ipd_worker_cache_clear(&w->cache);
    }
    if (c->cursor != UINT64_MAX) {
        c->resyncs++;
        ipd_stats_add(w->stats, IPD_STATS_RING_OVERRUNS, 1);
    }
    rebuild(w);
    ipd_worker_cache_clear(&w->cache);
    ipd_worker_cache_clear(&w->job_cache);
    for (size_t k = 0; k < w->nobservers; k++)
        if (w->observers[k].on_resync != NULL)
            w->observers[k].on_resync(w, w->observers[k].data);
}

int ipd_worker_observe(ipd_worker_t *w, const ipd_worker_observer_t *o)
{
    if (w->nobservers == IPD_WORKER_MAX_OBSERVERS)
        return -1;
    w->observers[w->nobservers++] = *o;
    return 0;
}

static void on_ring_ready(h2o_socket_t *sock, const char *err)
{
    ipd_worker_t *w = sock->data;
    uint64_t ticks;
    (void)err;
    while (read(w->args->ring_fd, &ticks, sizeof(ticks)) < 0 && errno == EINTR)
        ;
    if (ipd_worker_table(w) != NULL)
        ipd_worker_ring_poll(w);
}

int ipd_worker_ring_start(ipd_worker_t *w)
{
    if (w->args->ring_fd < 0)
        return 0;
    int fd = dup(w->args->ring_fd);
    if (fd < 0) {
        ipd_error("worker", "dup(ring eventfd): %s", strerror(errno));
        return -1;
    }
    w->ring_sock = h2o_evloop_socket_create(w->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    w->ring_sock->data = w;
    h2o_socket_read_start(w->ring_sock, on_ring_ready);
    return 0;
}

void ipd_worker_ring_dispose(ipd_worker_t *w)
{
    if (w->ring_sock != NULL)
        h2o_socket_close(w->ring_sock);
    w->ring_sock = NULL;
    free(w->catalog.ids);
    memset(&w->catalog, 0, sizeof(w->catalog));
    free(w->tasks);
    free(w->json);
    free(w->refs);
    w->tasks = NULL;
    w->json = NULL;
    w->refs = NULL;
    w->task_cap = w->json_cap = w->ref_cap = 0;
}
