#include "master/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POOL_POISON(p, n)   ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#include "master/model_internal.h"
#include "proto/buf.h"
#include "proto/cause.h"
#include "proto/error.h"
#include "proto/json.h"
#include "proto/kube_job.h"
#include "proto/rfc3339.h"
#include "shared/log.h"

#define ORPHAN_LIFETIME_MS (10 * 60 * 1000)

int64_t ipd_model_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ipd_model_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* Never 0, which ipd_model_remote_dirty_since() keeps for "nothing waits". */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

int64_t ipd_model_remote_dirty_since(const ipd_model_t *m)
{
    if (m->dirty == NULL)
        return 0;
    return m->local_dirty || m->remote_dirty_since == 0 ? -1 : m->remote_dirty_since;
}

/*
 * Dirty jobs are published in the order they were marked: new jobs (a reply of remote records,
 * a relist) then enter the table's active list at its end, in its order, instead of each at
 * the front of the ones written before it, which rewrote the whole list once per job
 * (docs/benchmarks.md, the Redis link's ingestion).
 */
void ipd_model_mark_job(ipd_model_t *m, job_rec_t *j)
{
    if (!m->marking_remote)
        m->local_dirty = 1;
    else if (m->remote_dirty_since == 0)
        m->remote_dirty_since = ipd_model_monotonic_ms();
    if (j->dirty)
        return;
    j->dirty = 1;
    j->next_dirty = NULL;
    if (m->dirty == NULL)
        m->dirty = j;
    else
        m->dirty_tail->next_dirty = j;
    m->dirty_tail = j;
}

void ipd_model_mark_dirty(ipd_model_t *m, job_rec_t *j)
{
    j->all_stale = 1;
    ipd_model_mark_job(m, j);
}

void ipd_model_mark_task(ipd_model_t *m, job_rec_t *j, task_rec_t *t)
{
    /* Listed once, while the indexes hold (no task inserted or removed since the last flush). */
    if (!t->stale && !j->counts_due) {
        if (j->nstale < j->cap)
            j->stale_list[j->nstale++] = (uint32_t)(t - j->tasks);
        else
            j->counts_due = 1;
    }
    t->stale = 1;
    ipd_model_mark_job(m, j);
}

void ipd_model_mark_node(ipd_model_t *m, const char *node, int active_only)
{
    size_t b = 0;
    job_rec_t *j = NULL;
    while ((j = ipd_model_next_job(m, &b, j)) != NULL) {
        if (active_only && ipd_job_state_is_final((ipd_job_state_t)j->job.state))
            continue;
        task_rec_t *t = ipd_model_task(j, node, 0);
        if (t != NULL)
            ipd_model_mark_task(m, j, t);
        else if (j->job.keep)
            ipd_model_mark_job(m, j); /* the node may enter its selection (ipd_model_keep_reconcile) */
    }
}

/* Job records per slab: about 240 KB, mapped at once. */
#define JOB_SLAB_RECORDS 64

/*
 * A zeroed job record. A job record is 3.8 KB, most of it two job records of the table's shape
 * that a new job writes at once: clearing it first, as calloc does from the heap, doubles the
 * work of a new job. Records come from slabs of fresh anonymous memory, which the kernel gives
 * zeroed, mapped in at once (one system call where each page was a fault of its own: every
 * record of a slab is used before the next slab is mapped); a forgotten job's record is cleared
 * and reused first. The
 * model keeps the records of as many jobs as it held at once, and unmaps them when destroyed.
 * With ipd_model_set_copy_tasks() they come from the heap (the general way, for the tests).
 */
static job_rec_t *job_alloc(ipd_model_t *m)
{
    job_rec_t *j;
    if (m->copy_tasks) {
        if ((j = aligned_alloc(_Alignof(job_rec_t), sizeof(*j))) != NULL) {
            memset(j, 0, sizeof(*j));
            j->from_heap = 1;
        }
        return j;
    }
    j = m->free_jobs;
    if (j != NULL) {
        POOL_UNPOISON(j, sizeof(*j));
        m->free_jobs = j->next_dirty;
        memset(j, 0, sizeof(*j));
        return j;
    }
    if (m->slabs == NULL || m->slabs->used == JOB_SLAB_RECORDS) {
        job_slab_t *s = mmap(NULL, sizeof(*s) + JOB_SLAB_RECORDS * sizeof(job_rec_t), PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (s == MAP_FAILED)
            return NULL;
        s->next = m->slabs;
        m->slabs = s;
    }
    return &m->slabs->recs[m->slabs->used++];
}

/* Gives back a record of job_alloc() (its contents disposed of). */
static void job_release(ipd_model_t *m, job_rec_t *j)
{
    if (j->from_heap) {
        free(j);
        return;
    }
    j->next_dirty = m->free_jobs;
    m->free_jobs = j;
    /* What is left of the record is for job_alloc() only: a use of it is a use after free. */
    POOL_POISON(j, sizeof(*j));
    POOL_UNPOISON(&j->next_dirty, sizeof(j->next_dirty));
}

/* Unmaps every slab (the records in them disposed of). */
static void job_slabs_dispose(ipd_model_t *m)
{
    while (m->slabs != NULL) {
        job_slab_t *s = m->slabs;
        m->slabs = s->next;
        POOL_UNPOISON(s, sizeof(*s) + JOB_SLAB_RECORDS * sizeof(job_rec_t));
        munmap(s, sizeof(*s) + JOB_SLAB_RECORDS * sizeof(job_rec_t));
    }
    m->free_jobs = NULL;
}

/* The job `id` filed under `hash` (ipd_strmap_hash(id)), or NULL. */
static job_rec_t *jobs_get(const ipd_model_t *m, const char *id, size_t hash)
{
    if (m->jobs.nbuckets == 0)
        return NULL;
    job_rec_t *j = m->jobs.buckets[hash & (m->jobs.nbuckets - 1)];
    while (j != NULL && (j->hash != hash || strcmp(j->job.id, id) != 0))
        j = j->hash_next;
    return j;
}

/* Files job `j` (not filed yet, its id set) under `hash`; 0 or -ENOMEM. */
static int jobs_put(ipd_model_t *m, job_rec_t *j, size_t hash)
{
    job_index_t *x = &m->jobs;
    if (x->count >= x->nbuckets) {
        size_t n = x->nbuckets ? x->nbuckets * 2 : 64;
        job_rec_t **b = calloc(n, sizeof(*b));
        if (b == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < x->nbuckets; i++) {
            job_rec_t *e = x->buckets[i];
            while (e != NULL) {
                job_rec_t *next = e->hash_next;
                e->hash_next = b[e->hash & (n - 1)];
                b[e->hash & (n - 1)] = e;
                e = next;
            }
        }
        free(x->buckets);
        x->buckets = b;
        x->nbuckets = n;
    }
    j->hash = hash;
    j->hash_next = x->buckets[hash & (x->nbuckets - 1)];
    x->buckets[hash & (x->nbuckets - 1)] = j;
    x->count++;
    return 0;
}

/* Takes job `j` out of the index, if filed. */
static void jobs_del(ipd_model_t *m, job_rec_t *j)
{
    if (m->jobs.nbuckets == 0)
        return;
    job_rec_t **pp = &m->jobs.buckets[j->hash & (m->jobs.nbuckets - 1)];
    while (*pp != NULL && *pp != j)
        pp = &(*pp)->hash_next;
    if (*pp == NULL)
        return;
    *pp = j->hash_next;
    j->hash_next = NULL;
    m->jobs.count--;
}

job_rec_t *ipd_model_next_job(const ipd_model_t *m, size_t *bucket, job_rec_t *prev)
{
    if (prev != NULL && prev->hash_next != NULL)
        return prev->hash_next;
    for (size_t b = prev != NULL ? *bucket + 1 : *bucket; b < m->jobs.nbuckets; b++) {
        if (m->jobs.buckets[b] != NULL) {
            *bucket = b;
            return m->jobs.buckets[b];
        }
    }
    *bucket = m->jobs.nbuckets;
    return NULL;
}

/* A new job `id`, filed under `hash` (ipd_strmap_hash(id)). */
static job_rec_t *new_job(ipd_model_t *m, const char *id, size_t hash)
{
    job_rec_t *j = job_alloc(m);
    if (j == NULL)
        return NULL;
    ipd_strlcpy_utf8(j->job.id, id, sizeof(j->job.id));
    /* A time for whatever reads the job before it is published (CREATED_FLUSH: the flush's). */
    j->job.created_at = ipd_model_now();
    j->job.spec.backoff_limit = 3;
    j->job.spec.ttl_seconds_after_finished = -1;
    if (jobs_put(m, j, hash) != 0) {
        job_release(m, j);
        return NULL;
    }
    m->stats.jobs++;
    return j;
}

static void free_job(ipd_model_t *m, job_rec_t *j);

/* Takes a job and its tasks as the table holds them; `hash` is ipd_strmap_hash(job->id). */
static job_rec_t *adopt(ipd_model_t *m, const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks, size_t hash)
{
    job_rec_t *j = new_job(m, job->id, hash);
    if (j == NULL)
        return NULL;
    j->job = *job;
    j->published = *job;
    j->published_blank = (uint8_t)ipd_job_blank(job);
    j->was_published = 1;
    j->created_by = CREATED_TABLE;
    for (size_t i = 0; i < ntasks; i++) {
        task_rec_t *t = ipd_model_task(j, tasks[i].node, 1);
        if (t == NULL) {
            /* Half a job would publish the other half as new tasks: none at all. */
            free_job(m, j);
            return NULL;
        }
        t->task = tasks[i];
        t->untimed = 0; /* the time the table holds */
        t->blank = (uint8_t)ipd_task_blank(&t->task);
        if (ipd_model_note_sent(t) != 0) {
            free_job(m, j);
            return NULL;
        }
        /* What the table holds of this node's task went to Redis when it was written, and goes
         * again with the republish after every connect: only a change is news. A job let go of
         * and brought back by another node's record would otherwise write its task anew, which
         * brings it back on the other daemons, which write theirs, for ever. */
        t->table_pos = (uint32_t)i + 1;
        t->adopted_attempts = tasks[i].attempts;
    }
    return j;
}

/* Remembers that the table evicted `id`; the oldest memory goes once gone_cap are held. */
static void remember_gone(ipd_model_t *m, const char *id)
{
    if (m->gone_cap == 0 || ipd_strmap_get(&m->gone, id) != NULL)
        return;
    char *slot = m->gone_ids[m->gone_next];
    if (slot[0] != '\0')
        ipd_strmap_del(&m->gone, slot);
    ipd_strlcpy_utf8(slot, id, IPD_JOB_ID_SIZE);
    if (ipd_strmap_put(&m->gone, slot, (void *)1) != 0)
        slot[0] = '\0';
    m->gone_next = (m->gone_next + 1) % m->gone_cap;
}

/* Copies job `id` and its tasks from the table, with room for `cap` tasks at first (the count a
 * probe gave): `*tasks` (owned by the caller) holds `*ntasks`. Returns 0 or the table's code. */
static int table_tasks(ipd_model_t *m, const char *id, size_t cap, ipd_job_t *job, ipd_task_t **tasks, size_t *ntasks)
{
    for (cap = cap > 0 ? cap : 1;;) {
        ipd_task_t *t = malloc(cap * sizeof(*t));
        if (t == NULL)
            return -ENOMEM;
        ipd_table_job_view_t view = {.job = job, .tasks = t, .task_cap = cap};
        int rc = ipd_table_get_job(m->table, id, &view);
        if (rc == IPD_ETOOBIG && view.ntasks > cap) {
            cap = view.ntasks;
            free(t);
            continue;
        }
        if (rc != 0) {
            free(t);
            return rc;
        }
        *tasks = t;
        *ntasks = view.ntasks;
        return 0;
    }
}

/*
 * A job the model let go of (finished, its objects gone) may show up again through a late
 * event. It comes back from the table with its history rather than as a new job, which would
 * take a fresh creation time and push a younger job out of a full table.
 */
static int reload_from_table(ipd_model_t *m, const char *id, size_t hash, job_rec_t **out)
{
    ipd_job_t job;
    /* Asked first without room for tasks: a job the table does not hold (every new one) costs a
     * lookup and no allocation; the 28 KB of room a job's tasks were looked up with each time
     * also moved the heap's end ahead of what it held, a fresh page at a time. */
    ipd_table_job_view_t probe = {.job = &job};
    int rc = ipd_table_get_job(m->table, id, &probe);
    ipd_task_t *tasks = NULL;
    size_t ntasks = 0;
    if (rc != 0 || (rc = table_tasks(m, id, probe.ntasks, &job, &tasks, &ntasks)) != 0)
        return rc;
    /* The table holds it under `id`: its record's id is `id`, and so is its hash (the record's own
     * is taken should they ever differ). */
    if (strcmp(job.id, id) != 0)
        hash = ipd_strmap_hash(job.id);
    if ((*out = adopt(m, &job, tasks, ntasks, hash)) == NULL)
        rc = -ENOMEM;
    free(tasks);
    return rc;
}

job_rec_t *ipd_model_job(ipd_model_t *m, const char *id, int create)
{
    /* One hash for every lookup of the id: the jobs, the table's evictions, a new job's filing. */
    size_t hash = ipd_strmap_hash(id);
    job_rec_t *j = jobs_get(m, id, hash);
    if (j != NULL || !create)
        return j;
    /*
     * A job is new only when the table does not hold it and never evicted it. A job written anew
     * over a record the table could not be read from, or after the table evicted it, would
     * publish what a late object shows (a pod of an earlier attempt, a Job's replayed update)
     * in place of the terminal state it was published with, from version 1 again.
     */
    int rc = reload_from_table(m, id, hash, &j);
    if (rc == 0)
        return j;
    if (rc != IPD_ENOTFOUND || ipd_strmap_get_hashed(&m->gone, id, hash) != NULL)
        return NULL;
    return new_job(m, id, hash);
}

void ipd_model_take_created(ipd_model_t *m, job_rec_t *j, int64_t at, created_by_t by)
{
    if (at == IPD_TIME_NULL || by < j->created_by)
        return;
    int earliest = by == CREATED_POD || by == CREATED_KJOB;
    if (by == j->created_by && earliest && at >= j->job.created_at)
        return;
    j->created_by = (uint8_t)by;
    if (at == j->job.created_at)
        return;
    j->job.created_at = at;
    ipd_model_mark_job(m, j);
    /* This node's task told another time: it is told again (model.c, publish). */
    task_rec_t *t = by == CREATED_KJOB && m->self_node[0] != '\0' ? ipd_model_task(j, m->self_node, 0) : NULL;
    if (t != NULL && t->sent != NULL) {
        free(t->sent);
        t->sent = NULL;
        ipd_model_mark_task(m, j, t);
    }
}

task_rec_t *ipd_model_task(job_rec_t *j, const char *node, int create)
{
    /* Tasks are kept in node order (the published record is stable): a binary search finds a
     * node's task among thousands, and a new task goes in its place with one move. */
    size_t lo = 0, hi = j->ntasks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(j->tasks[mid].task.node, node);
        if (c == 0)
            return &j->tasks[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!create)
        return NULL;
    if (j->ntasks == j->cap) {
        /* From one record up: most jobs of a node-scope daemon hold a task or two, and every
         * record reserved is memory a new job touches. */
        size_t cap = j->cap ? j->cap * 2 : 1;
        if (ipd_model_grow_task_index(j, cap) != 0)
            return NULL;
        /* Aligned as the type says (its hot fields in one line), which realloc does not promise. */
        task_rec_t *t = aligned_alloc(_Alignof(task_rec_t), cap * sizeof(*t));
        if (t == NULL)
            return NULL;
        if (j->ntasks > 0)
            memcpy(t, j->tasks, j->ntasks * sizeof(*t));
        free(j->tasks);
        j->tasks = t;
        j->cap = cap;
    }
    memmove(&j->tasks[lo + 1], &j->tasks[lo], (j->ntasks - lo) * sizeof(j->tasks[0]));
    j->ntasks++;
    j->counts_due = 1; /* the indexes after `lo` moved */
    task_rec_t *t = &j->tasks[lo];
    /* Every field zero but the task, which gets its value without its strings' tails: a new task
     * writes 10 of its 30 lines, not all. */
    memset(t, 0, offsetof(task_rec_t, task));
    memset(&t->sent, 0, sizeof(*t) - offsetof(task_rec_t, sent));
    _Static_assert(offsetof(task_rec_t, sent) == offsetof(task_rec_t, task) + sizeof(ipd_task_t),
                   "task_rec_t: `sent` follows `task`");
    t->stale = 1; /* its first computation; the caller marks the job */
    t->untimed = 1;
    /* A time for whatever reads the task before it is computed (own_task on a republish). */
    ipd_task_init_value(&t->task, node, ipd_model_now());
    t->blank = (uint8_t)ipd_task_blank(&t->task);
    return t;
}

void ipd_model_task_dispose(task_rec_t *t)
{
    free(t->remote);
    free(t->sent);
    free(t->kube);
    t->remote = t->sent = NULL;
    t->kube = NULL;
}

const task_kube_t ipd_model_no_kube;

task_kube_t *ipd_model_task_kube(task_rec_t *t)
{
    if (t->kube == NULL)
        t->kube = calloc(1, sizeof(*t->kube));
    return t->kube;
}

int ipd_model_note_sent(task_rec_t *t)
{
    if (t->sent == NULL && (t->sent = malloc(sizeof(*t->sent))) == NULL)
        return -ENOMEM;
    ipd_task_copy(t->sent, &t->task);
    return 0;
}

/* Frees the job's tasks and what they own. */
static void free_tasks(job_rec_t *j)
{
    for (size_t i = 0; i < j->ntasks; i++)
        ipd_model_task_dispose(&j->tasks[i]);
    free(j->tasks);
}

static void free_job(ipd_model_t *m, job_rec_t *j)
{
    jobs_del(m, j);
    json_decref(j->tolerations);
    ipd_model_keep_dispose(j);
    ipd_model_dispose_task_index(j);
    free_tasks(j);
    job_release(m, j);
    m->stats.jobs--;
}

static int load_job(const ipd_job_t *job, const ipd_task_t *tasks, size_t ntasks, const void *json, size_t json_len,
                    void *ctx)
{
    ipd_model_t *m = ctx;
    /* Finished jobs stay in the table as history; only active ones need following. */
    if (ipd_job_state_is_final((ipd_job_state_t)job->state))
        return 0;
    job_rec_t *j = adopt(m, job, tasks, ntasks, ipd_strmap_hash(job->id));
    if (j == NULL)
        return -ENOMEM;
    j->from_table = 1;
    if (job->keep) {
        /* The record carries the keep job's node selection (ipd_model_keep_json). */
        json_t *doc = json_loadb(json, json_len, 0, NULL);
        ipd_model_keep_learn(j, doc);
        json_decref(doc);
    }
    return 0;
}

int ipd_model_create(ipd_table_t *table, const ipd_model_actions_t *actions, ipd_model_t **out)
{
    ipd_model_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    m->table = table;
    if (actions != NULL)
        m->actions = *actions;
    ipd_strmap_init(&m->pods);
    ipd_strmap_init(&m->nodes);
    ipd_strmap_init(&m->lost_nodes);
    ipd_strmap_init(&m->follows);
    ipd_strmap_init(&m->gone);
    ipd_strmap_init(&m->own_records);
    ipd_buf_init(&m->json);
    m->gone_cap = ipd_table_job_capacity(table);
    if (m->gone_cap > 0 && (m->gone_ids = calloc(m->gone_cap, sizeof(*m->gone_ids))) == NULL) {
        ipd_model_destroy(m);
        return -ENOMEM;
    }
    int rc = ipd_table_foreach(table, load_job, m);
    if (rc != 0) {
        ipd_model_destroy(m);
        return rc < 0 ? rc : -ENOMEM;
    }
    if (m->jobs.count > 0)
        ipd_info("model", "reloaded %zu active jobs from the table", m->jobs.count);
    *out = m;
    return 0;
}

void ipd_model_destroy(ipd_model_t *m)
{
    if (m == NULL)
        return;
    /* Each bucket's jobs, the next one taken before its job is given back. */
    for (size_t i = 0; i < m->jobs.nbuckets; i++) {
        job_rec_t *j = m->jobs.buckets[i];
        while (j != NULL) {
            job_rec_t *next = j->hash_next;
            json_decref(j->tolerations);
            ipd_model_keep_dispose(j);
            ipd_model_dispose_task_index(j);
            free_tasks(j);
            job_release(m, j);
            j = next;
        }
    }
    free(m->jobs.buckets);
    job_slabs_dispose(m);
    size_t b = 0;
    ipd_strmap_entry_t *e = NULL;
    while ((e = ipd_strmap_next(&m->nodes, &b, e)) != NULL) {
        node_rec_t *n = e->value;
        json_decref(n->obj);
        free(n);
    }
    ipd_strmap_dispose(&m->nodes);
    b = 0;
    e = NULL;
    while ((e = ipd_strmap_next(&m->pods, &b, e)) != NULL)
        ipd_model_pod_free(e->value);
    ipd_strmap_dispose(&m->pods);
    ipd_strmap_dispose(&m->lost_nodes);
    ipd_model_follow_dispose(m);
    ipd_strmap_dispose(&m->gone);
    ipd_model_own_records_done(m);
    free(m->gone_ids);
    ipd_buf_dispose(&m->json);
    free(m->scratch);
    free(m->changed);
    free(m->changed_index);
    free(m->scratch_blank);
    free(m->changed_blank);
    free(m->computed_index);
    free(m);
}

void ipd_model_set_copy_tasks(ipd_model_t *m, int on)
{
    m->copy_tasks = on != 0;
}

const ipd_model_stats_t *ipd_model_stats(const ipd_model_t *m)
{
    return &m->stats;
}

void ipd_model_set_teardown_wait(ipd_model_t *m, int64_t ms)
{
    m->teardown_wait_ms = ms > 0 ? ms : 0;
}

void ipd_model_set_node(ipd_model_t *m, const char *node, int remote_feed)
{
    snprintf(m->self_node, sizeof(m->self_node), "%s", node != NULL ? node : "");
    m->remote_feed = m->self_node[0] != '\0' && remote_feed;
    /* Which tasks are this node's, which the counts tell apart, may have changed. */
    size_t b = 0;
    job_rec_t *j = NULL;
    while ((j = ipd_model_next_job(m, &b, j)) != NULL)
        j->counts_due = 1;
}

static int forgettable(const job_rec_t *j);

/* Takes a record's job times as hints (job_rec_t.started_hint, finished_hint): the earliest stay. */
static void take_times(job_rec_t *j, int64_t started_at, int64_t finished_at)
{
    if (started_at != IPD_TIME_NULL && (j->started_hint == IPD_TIME_NULL || started_at < j->started_hint))
        j->started_hint = started_at;
    if (finished_at != IPD_TIME_NULL && (j->finished_hint == IPD_TIME_NULL || finished_at < j->finished_hint))
        j->finished_hint = finished_at;
}

/*
 * When a job that became final ended: when the last of its tasks did, as each task's node
 * stamped it (updated_at), if every task is final; else (a cancel or a deadline ended it with
 * tasks still going) `fallback`, the time this daemon saw it. Every daemon holds the same task
 * records, so every daemon gives the same time, whenever it learnt the job.
 */
static int64_t last_task_end(const job_rec_t *j, int64_t fallback)
{
    int64_t last = IPD_TIME_NULL;
    for (size_t i = 0; i < j->ntasks; i++) {
        const ipd_task_t *t = &j->tasks[i].task;
        if (!ipd_task_state_is_final((ipd_task_state_t)t->state))
            return fallback;
        if (t->updated_at > last)
            last = t->updated_at;
    }
    return last != IPD_TIME_NULL ? last : fallback;
}

/*
 * A job's times as early as another node's records say (job_rec_t.started_hint, finished_hint):
 * the daemons that saw the start or the end first set them for the others, including a start
 * that no task here shows any more (cancelled while pulling). A job never ends before it
 * started (the nodes' clocks may differ by a little).
 */
static void settle_times(const ipd_model_t *m, job_rec_t *j, ipd_job_t *next)
{
    const own_rec_t *o = ipd_model_own_record(m, next->id);
    if (o != NULL)
        take_times(j, o->started_at, o->finished_at);
    if (j->started_hint != IPD_TIME_NULL && (next->started_at == IPD_TIME_NULL || j->started_hint < next->started_at))
        next->started_at = j->started_hint; /* also when the tasks started here were cancelled before */
    if (next->finished_at == IPD_TIME_NULL)
        return;
    if (j->finished_hint != IPD_TIME_NULL && j->finished_hint < next->finished_at)
        next->finished_at = j->finished_hint;
    if (next->started_at != IPD_TIME_NULL && next->finished_at < next->started_at)
        next->finished_at = next->started_at;
}

static int remote_task(ipd_model_t *m, const ipd_job_t *job, const char *selection, const ipd_task_t *task);

/* What a record says of its job (borrowed, as ipd_model_remote_task takes it), taken into `j`. */
static void take_record_job(ipd_model_t *m, job_rec_t *j, const ipd_job_t *job, const char *selection)
{
    if (j->job.image[0] == '\0' || !j->was_published) {
        if (!ipd_job_spec_same(&j->job.spec, &job->spec))
            ipd_model_mark_dirty(m, j); /* an input of every task (timeout_seconds) */
        ipd_strlcpy_utf8(j->job.image, job->image, sizeof(j->job.image));
        j->job.pull_policy = job->pull_policy;
        j->job.spec = job->spec;
    }
    ipd_model_take_created(m, j, job->created_at, CREATED_RECORD);
    take_times(j, job->started_at, job->finished_at);
    if (job->nodes.desired > j->node_count)
        j->node_count = job->nodes.desired;
    if (job->keep && !j->job.keep) {
        j->job.keep = 1;
        j->job.spec.refresh_seconds = job->spec.refresh_seconds;
    }
    if (job->keep && selection != NULL && selection[0] != '\0') {
        json_t *sel = json_loads(selection, 0, NULL);
        ipd_model_keep_learn(j, sel);
        json_decref(sel);
    }
}

/*
 * This node's task restored from its record (own_rec_t) once every collection was listed, and
 * neither its Job nor a pod of it is there: deleted while no master watched. A final task
 * stays as it was published; any other was cancelled, as a task reloaded from a table is
 * (ipd_model_initial_sync_done).
 */
static void own_task_without_objects(ipd_model_t *m, job_rec_t *j, task_rec_t *t)
{
    if (!m->lists_done || t->has_kjob || task_text(t)->pod_key[0] != '\0' ||
        ipd_task_state_is_final((ipd_task_state_t)t->task.state) || t->kjob_gone)
        return;
    t->kjob_gone = 1;
    ipd_model_mark_task(m, j, t);
}

/*
 * This node's task of `j` made from its record `task` (its cause set), as a table would have held
 * it: with the record's time, and published already. NULL when out of memory.
 */
static task_rec_t *own_task_from_record(ipd_model_t *m, job_rec_t *j, const ipd_job_t *job, const char *selection,
                                        const ipd_task_t *task)
{
    task_rec_t *t = ipd_model_task(j, task->node, 1);
    if (t == NULL)
        return NULL;
    take_record_job(m, j, job, selection);
    ipd_model_task_set(t, task);
    t->untimed = 0; /* the record's time */
    return ipd_model_note_sent(t) == 0 ? t : NULL;
}

/*
 * A final record of this node's task that this master holds no task of, once its first snapshot
 * did its part: another daemon put it back from its table after Redis lost its data, when this
 * node's table and cluster had nothing left of it (a reboot emptied the table, the Job was
 * deleted; ipd_redis_link_fill_in), or a later snapshot holds it. The task is made from it, with
 * its job, as own_record makes one; a keep job's task is left to its Jobs, and a job let go of
 * stays gone.
 */
static int own_fill(ipd_model_t *m, const ipd_job_t *job, const char *selection, const ipd_task_t *task)
{
    if (job->keep || !ipd_task_state_is_final((ipd_task_state_t)task->state))
        return 0;
    job_rec_t *j = ipd_model_job(m, job->id, 0);
    if (j != NULL && (j->job.keep || ipd_model_task(j, task->node, 0) != NULL))
        return 0;
    if (j == NULL && (j = ipd_model_job(m, job->id, 1)) == NULL)
        return ipd_strmap_get(&m->gone, job->id) != NULL ? 0 : -ENOMEM;
    ipd_task_t taken;
    ipd_task_copy(&taken, task);
    ipd_task_set_cause(&taken); /* as the model sets it on what it computes */
    task_rec_t *t = own_task_from_record(m, j, job, selection, &taken);
    if (t == NULL)
        return -ENOMEM;
    take_times(j, job->started_at, job->finished_at);
    ipd_info("model", "job %s: this node's %s task taken back from another daemon's copy", job->id,
             ipd_task_state_name((ipd_task_state_t)taken.state));
    ipd_model_mark_task(m, j, t);
    return 0;
}

/*
 * A record of this node's own task: kept while the snapshot of a new master is applied
 * (own_rec_t), unless it is the echo of what this master handed to own_task. A task this
 * master does not have yet is made from it, with its job, as a table would have held them: the
 * record is what a daemon of this node last published, and the task's Kubernetes objects may be
 * gone since (every pull Job has a TTL). A keep job's task is left to its Jobs
 * (master/model_keep.c).
 */
static int own_record(ipd_model_t *m, const ipd_job_t *job, const char *selection, const ipd_task_t *task)
{
    if (m->own_records_done)
        return own_fill(m, job, selection, task);
    job_rec_t *j = ipd_model_job(m, job->id, 0);
    task_rec_t *t = j != NULL ? ipd_model_task(j, task->node, 0) : NULL;
    if (t != NULL && t->sent != NULL && ipd_task_same(t->sent, task))
        return 0;
    own_rec_t *o = ipd_strmap_get(&m->own_records, job->id);
    if (o == NULL) {
        if ((o = malloc(sizeof(*o))) == NULL)
            return -ENOMEM;
        if (ipd_strmap_put(&m->own_records, job->id, o) != 0) {
            free(o);
            return -ENOMEM;
        }
    }
    ipd_task_copy(&o->task, task);
    ipd_task_set_cause(&o->task); /* as the model sets it on what it computes */
    o->started_at = job->started_at;
    o->finished_at = job->finished_at;
    if (t == NULL && !job->keep) {
        if (j == NULL && (j = ipd_model_job(m, job->id, 1)) == NULL)
            return ipd_strmap_get(&m->gone, job->id) != NULL ? 0 : -ENOMEM;
        /* A job the table still held comes back with this node's task as the table held it. */
        t = ipd_model_task(j, task->node, 0);
        if (t == NULL && !j->job.keep) {
            if ((t = own_task_from_record(m, j, job, selection, &o->task)) == NULL)
                return -ENOMEM;
            own_task_without_objects(m, j, t);
        }
    }
    if (j != NULL) {
        take_times(j, job->started_at, job->finished_at);
        if (t != NULL)
            ipd_model_mark_task(m, j, t); /* computed already: again, to take the record's time */
        else
            ipd_model_mark_dirty(m, j);
    }
    return 0;
}

const own_rec_t *ipd_model_own_record(const ipd_model_t *m, const char *id)
{
    return m->own_records.count > 0 ? ipd_strmap_get(&m->own_records, id) : NULL;
}

int ipd_model_own_records_open(const ipd_model_t *m)
{
    return !m->own_records_done;
}

int ipd_model_own_records_done(ipd_model_t *m)
{
    if (m->own_records_done)
        return 0;
    size_t b = 0;
    ipd_strmap_entry_t *e = NULL;
    while ((e = ipd_strmap_next(&m->own_records, &b, e)) != NULL)
        free(e->value);
    ipd_strmap_dispose(&m->own_records);
    m->own_records_done = 1;
    return 1;
}

int ipd_model_remote_task(ipd_model_t *m, const ipd_job_t *job, const char *selection, const ipd_task_t *task)
{
    m->marking_remote = 1;
    int rc = remote_task(m, job, selection, task);
    m->marking_remote = 0;
    return rc;
}

static int remote_task(ipd_model_t *m, const ipd_job_t *job, const char *selection, const ipd_task_t *task)
{
    if (job->id[0] == '\0' || task->node[0] == '\0')
        return IPD_EINVAL;
    if (!model_is_remote(m, task->node))
        return own_record(m, job, selection, task);
    job_rec_t *j = ipd_model_job(m, job->id, 1);
    if (j == NULL)
        return ipd_strmap_get(&m->gone, job->id) != NULL ? 0 : -ENOMEM; /* an evicted job stays gone */
    /* A record no rule changes goes into the task itself; any other is held apart from it
     * (model_internal.h), and its room is had before the task is made, so that a task is never
     * made without it. */
    task_rec_t *t = ipd_model_task(j, task->node, 0);
    int take = ipd_model_takes_record(m, t, task);
    ipd_task_t *room = t != NULL ? t->remote : NULL;
    if (!take && room == NULL && (room = malloc(sizeof(*room))) == NULL)
        return -ENOMEM;
    if (t == NULL && (t = ipd_model_task(j, task->node, 1)) == NULL) {
        free(room);
        return -ENOMEM;
    }
    if (!take)
        t->remote = room;
    take_record_job(m, j, job, selection);
    if (take) {
        ipd_model_take_record(t, task);
    } else {
        ipd_task_copy(t->remote, task);
        /* Its cause as ipd_model_compute_task gives it (it classifies the task's own words): a
         * record that no rule of the model changes is taken as it is (from_published, model_task.c). */
        ipd_task_set_cause(t->remote);
    }
    ipd_model_mark_task(m, j, t);
    return 0;
}

int ipd_model_remote_drop(ipd_model_t *m, const char *id)
{
    job_rec_t *j = ipd_model_job(m, id, 0);
    if (j != NULL) {
        /* Changes wait for the next flush (records applied before the drop, held back while the
         * link catches up): the drop follows the job's publication, so that its last state is
         * not left in the table after the job left the others'. */
        if (j->dirty) {
            j->drop_wanted = 1;
            return 0;
        }
        /* Still followed here (this node's task or its Kubernetes objects): it stays. */
        if (!forgettable(j))
            return 0;
        free_job(m, j);
    }
    /* Gone as if evicted here: a late record, or the stand-in's list of a Job that is still there
     * (master/standin.h), does not bring it back. */
    remember_gone(m, id);
    int rc = ipd_table_delete_job(m->table, id);
    return rc == IPD_ENOTFOUND ? 0 : rc;
}

void ipd_model_remote_node(ipd_model_t *m, const char *node, int alive)
{
    int lost = ipd_strmap_get(&m->lost_nodes, node) != NULL;
    if (!model_is_remote(m, node) || lost == !alive)
        return;
    if (alive)
        ipd_strmap_del(&m->lost_nodes, node);
    else if (ipd_strmap_put(&m->lost_nodes, node, (void *)1) != 0)
        return;
    ipd_info("model", "node %s: its daemon is %s", node, alive ? "back" : "lost (liveness key expired)");
    ipd_model_mark_node(m, node, 0);
}

void ipd_model_lost_tasks(ipd_model_t *m,
                          void (*fn)(void *ctx, const ipd_job_t *job, uint32_t node_count, const ipd_task_t *task,
                                     ipd_task_state_t published),
                          void *ctx)
{
    /* Lost nodes are few: each job's task of each is found as ipd_model_mark_node finds it. */
    size_t nb = 0;
    ipd_strmap_entry_t *e = NULL;
    while ((e = ipd_strmap_next(&m->lost_nodes, &nb, e)) != NULL) {
        size_t b = 0;
        job_rec_t *j = NULL;
        while ((j = ipd_model_next_job(m, &b, j)) != NULL) {
            const task_rec_t *t = j->job.keep ? NULL : ipd_model_task(j, e->key, 0);
            /* A lost node's record is held apart from the task, which shows it unknown (model_task.c). */
            if (t != NULL && !ipd_task_state_is_final((ipd_task_state_t)t->task.state))
                fn(ctx, &j->job, j->node_count, &t->task,
                   (ipd_task_state_t)(t->remote != NULL ? t->remote->state : t->task.state));
        }
    }
}

/* ipd_model_task_held of a job the table holds with fewer tasks than nodes: read its tasks. */
static int task_in_table(ipd_model_t *m, const char *id, const char *node, size_t ntasks)
{
    ipd_job_t job;
    ipd_task_t *tasks = NULL;
    if (table_tasks(m, id, ntasks, &job, &tasks, &ntasks) != 0)
        return IPD_MODEL_JOB_GONE;
    int held = IPD_MODEL_JOB_ONLY;
    for (size_t i = 0; held == IPD_MODEL_JOB_ONLY && i < ntasks; i++)
        if (strcmp(tasks[i].node, node) == 0)
            held = tasks[i].state;
    free(tasks);
    return held;
}

int ipd_model_task_held(ipd_model_t *m, const char *id, const char *node)
{
    job_rec_t *j = jobs_get(m, id, ipd_strmap_hash(id));
    if (j == NULL) {
        if (ipd_strmap_get(&m->gone, id) != NULL)
            return IPD_MODEL_JOB_GONE;
        ipd_job_t job;
        ipd_table_job_view_t probe = {.job = &job};
        int rc = ipd_table_get_job(m->table, id, &probe);
        if (rc == IPD_ENOTFOUND)
            return IPD_MODEL_NO_TASK;
        /* A job with a task of each node is read no further (a stand-in's list finds the Jobs of
         * finished jobs each round). */
        if (rc != 0 || probe.ntasks == 0 || probe.ntasks >= job.nodes.desired)
            return IPD_MODEL_JOB_GONE;
        return task_in_table(m, id, node, probe.ntasks);
    }
    const task_rec_t *t = ipd_model_task(j, node, 0);
    return t != NULL ? t->task.state : IPD_MODEL_JOB_ONLY;
}

int ipd_model_task_unfinished(ipd_model_t *m, const char *id, const char *node, ipd_task_t *out)
{
    job_rec_t *j = jobs_get(m, id, ipd_strmap_hash(id));
    const task_rec_t *t = j != NULL ? ipd_model_task(j, node, 0) : NULL;
    if (t == NULL || ipd_task_state_is_final((ipd_task_state_t)t->task.state))
        return 0;
    ipd_task_copy(out, &t->task);
    return 1;
}

void ipd_model_tick(ipd_model_t *m)
{
    /* Events whose pod never showed up within the orphan lifetime belong to other pods. */
    ipd_model_expire_orphans(m, ipd_model_now(), ORPHAN_LIFETIME_MS);
    size_t b = 0;
    job_rec_t *j = NULL;
    /* Active jobs are re-evaluated: actions the cluster has not carried out yet (and a keep job's
     * refresh) depend on the clock, not on new objects. A job whose record does not change is not
     * rewritten. Its tasks are recomputed only when an input changed, or while a time-based rule
     * of the task itself waits (recheck_at, set by ipd_model_compute_task; the flush's clock says
     * whether it is due). The per-attempt timeout is the pod's activeDeadlineSeconds, which
     * Kubernetes enforces and reports through the pod: no task waits on the clock for it. */
    while ((j = ipd_model_next_job(m, &b, j)) != NULL) {
        int wake = !ipd_job_state_is_final((ipd_job_state_t)j->job.state) || j->job.cancelled;
        /* The counts say whether any task calls for a walk (they lag only tasks marked already). */
        if (!j->counts_due && j->counts.gave_up > 0)
            wake = 1;
        for (size_t i = 0; i < j->ntasks && (j->counts_due || j->counts.recheck > 0); i++) {
            task_rec_t *t = &j->tasks[i];
            if (t->has_kjob && t->gave_up)
                wake = 1;
            if (t->recheck_at != 0)
                ipd_model_mark_task(m, j, t);
        }
        if (wake)
            ipd_model_mark_job(m, j);
    }
}

void ipd_model_initial_sync_done(ipd_model_t *m)
{
    m->lists_done = 1;
    size_t ob = 0;
    ipd_strmap_entry_t *oe = NULL;
    while ((oe = ipd_strmap_next(&m->own_records, &ob, oe)) != NULL) {
        const own_rec_t *o = oe->value;
        job_rec_t *oj = ipd_model_job(m, oe->key, 0);
        task_rec_t *ot = oj != NULL ? ipd_model_task(oj, o->task.node, 0) : NULL;
        if (ot != NULL)
            own_task_without_objects(m, oj, ot);
    }
    size_t b = 0;
    job_rec_t *j = NULL;
    while ((j = ipd_model_next_job(m, &b, j)) != NULL) {
        if (!j->from_table)
            continue;
        j->from_table = 0;
        /* A keep job's Jobs stay (no TTL), its anchor Job included: none left means it was
         * cancelled while no master watched; some left, the missing task Jobs are created again
         * (ipd_model_keep_reconcile). A keep job from before anchors has task Jobs only. */
        size_t with_kjob = (size_t)j->keep.anchored;
        for (size_t i = 0; i < j->ntasks; i++)
            with_kjob += j->tasks[i].has_kjob;
        if (j->job.keep && with_kjob == 0)
            j->job.cancelled = 1;
        for (size_t i = 0; i < j->ntasks && !(j->job.keep && !j->job.cancelled); i++) {
            task_rec_t *t = &j->tasks[i];
            /* With Redis, other nodes' tasks have no Job here: Redis says what became of them. */
            if (m->remote_feed && model_is_remote(m, t->task.node))
                continue;
            if (ipd_task_state_is_final((ipd_task_state_t)t->task.state))
                continue;
            if (!t->has_kjob && task_text(t)->pod_key[0] == '\0')
                t->kjob_gone = 1;
            /* Its node was in the cluster when the job was made (a POST names nodes that exist)
             * and is not in this master's first list of the Nodes it watches: deleted while no
             * master watched, given up as a deletion seen is (forget_node, model_kube.c). */
            else if (m->nodes_listed && !model_is_remote(m, t->task.node) &&
                     ipd_strmap_get(&m->nodes, t->task.node) == NULL)
                t->node_deleted = 1;
        }
        ipd_model_mark_dirty(m, j);
    }
}

/* Fewer bytes than the JSON of any task (proto/json.c writes twelve member names). */
#define TASK_JSON_MIN 128

/* Notes the jobs the table evicted (deleted records after `head`, other than `id`) and tells the owner. */
static void report_evictions(ipd_model_t *m, uint64_t head, const char *id)
{
    ipd_ring_entry_t e[16];
    size_t count = 0;
    while (ipd_table_ring_read(m->table, head, e, sizeof(e) / sizeof(e[0]), &count) == 0 && count > 0) {
        for (size_t i = 0; i < count; i++) {
            if (e[i].kind != IPD_RING_JOB_DELETED || strcmp(e[i].id, id) == 0)
                continue;
            remember_gone(m, e[i].id);
            if (m->actions.job_evicted != NULL)
                m->actions.job_evicted(m->actions.ctx, e[i].id);
        }
        head = e[count - 1].seq;
    }
}

/* The job's tasks as one array (the table's full put and the inline JSON take an array): a job of
 * one task is an array of one as it is; more are copied into the model's scratch array. `*blank`
 * is their blank bits beside them (task_rec_t.blank): the JSON encoder and the table writer do not
 * read the strings known empty, nor does the copy. */
static const ipd_task_t *task_array(ipd_model_t *m, const job_rec_t *j, const uint8_t **blank)
{
    if (j->ntasks == 1 && !m->copy_tasks) {
        *blank = &j->tasks[0].blank;
        return &j->tasks[0].task;
    }
    for (size_t i = 0; i < j->ntasks; i++) {
        m->scratch_blank[i] = j->tasks[i].blank;
        ipd_task_copy_known(&m->scratch[i], 0, &j->tasks[i].task, j->tasks[i].blank);
    }
    *blank = m->scratch_blank;
    return m->scratch;
}

/* The tasks publish() found changed (indexes in m->changed_index) as one array: one task is an
 * array of one as it is; more are copied into m->changed. `*blank` as for task_array(). */
static const ipd_task_t *changed_array(ipd_model_t *m, const job_rec_t *j, size_t nchanged, const uint8_t **blank)
{
    if (nchanged == 1 && !m->copy_tasks) {
        *blank = &j->tasks[m->changed_index[0]].blank;
        return &j->tasks[m->changed_index[0]].task;
    }
    for (size_t k = 0; k < nchanged; k++) {
        const task_rec_t *t = &j->tasks[m->changed_index[k]];
        m->changed_blank[k] = t->blank;
        ipd_task_copy_known(&m->changed[k], 0, &t->task, t->blank);
    }
    *blank = m->changed_blank;
    return m->changed;
}

static int by_index(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/*
 * Publishes one job if its record changed. Returns 1 when written.
 *
 * Only the tasks marked stale (or all, for a job marked all_stale) are recomputed from their
 * objects; the others keep the state they were last computed to, which nothing has changed
 * since (every input of a task marks it: ipd_model_mark_task), and that the table holds where
 * it held them. The job's counts are kept as each task changes (master/model_counts.c), so they
 * are exact whatever was recomputed, and a flush looks at its marked tasks only: a task change
 * costs the same in a job of 3 tasks and in one of 5 000.
 */
static int publish(ipd_model_t *m, job_rec_t *j, int64_t now)
{
    size_t n = j->ntasks;
    /* Nodes the job targets whose task has not been seen yet count as pending tasks: a job is
     * never final while one of its nodes has not reported. */
    size_t unseen = j->node_count > n && !j->job.keep ? j->node_count - n : 0;
    /* The model's scratch arrays, not a malloc per job: a batch of remote records publishes
     * hundreds of jobs in a row (docs/benchmarks.md, the Redis link's ingestion). */
    m->ncomputed = 0;
    if (n > m->scratch_cap) {
        size_t cap = n < 16 ? 16 : n * 2;
        ipd_task_t *grown = realloc(m->scratch, cap * sizeof(*grown));
        ipd_task_t *grown_changed = grown != NULL ? realloc(m->changed, cap * sizeof(*grown_changed)) : NULL;
        uint32_t *grown_index = grown_changed != NULL ? realloc(m->changed_index, cap * sizeof(*grown_index)) : NULL;
        uint8_t *grown_sblank = grown_index != NULL ? realloc(m->scratch_blank, cap) : NULL;
        uint8_t *grown_cblank = grown_sblank != NULL ? realloc(m->changed_blank, cap) : NULL;
        uint32_t *grown_computed =
            grown_cblank != NULL ? realloc(m->computed_index, cap * sizeof(*grown_computed)) : NULL;
        m->scratch = grown != NULL ? grown : m->scratch;
        m->changed = grown_changed != NULL ? grown_changed : m->changed;
        m->changed_index = grown_index != NULL ? grown_index : m->changed_index;
        m->scratch_blank = grown_sblank != NULL ? grown_sblank : m->scratch_blank;
        m->changed_blank = grown_cblank != NULL ? grown_cblank : m->changed_blank;
        m->computed_index = grown_computed != NULL ? grown_computed : m->computed_index;
        if (grown_computed == NULL) {
            j->counts_due = 1; /* the actions recount what the tasks' fields say now */
            return 0;
        }
        m->scratch_cap = cap;
    }
    int all = j->all_stale;
    j->all_stale = 0;
    /* With every task stale, or indexes that moved (the stale list no longer holds), every task
     * is looked at; otherwise only the listed ones, the others being as the table holds them. */
    int walk_all = all || j->counts_due;
    int tasks_changed = 0;
    size_t nchanged = 0;
    if (!walk_all && j->nstale > 1)
        qsort(j->stale_list, j->nstale, sizeof(j->stale_list[0]), by_index);
    size_t nwalk = walk_all ? n : j->nstale;
    for (size_t k = 0; k < nwalk; k++) {
        size_t i = walk_all ? k : j->stale_list[k];
        task_rec_t *t = &j->tasks[i];
        int c = 0;
        if (all || t->stale) {
            t->stale = 0;
            t->computed = 1;
            m->stats.tasks_computed++;
            c = ipd_model_compute_task(m, j, t, now);
            tasks_changed |= c;
            m->computed_index[m->ncomputed++] = (uint32_t)i;
            if (!walk_all)
                ipd_model_count_task(m, j, i);
        }
        /* What the table lacks: a task that changed, or that it holds at another index or not at all. */
        if (c || t->table_pos != i + 1)
            m->changed_index[nchanged++] = (uint32_t)i;
    }
    j->nstale = 0;
    if (walk_all)
        ipd_model_recount(m, j);
    /*
     * Every Job seen so far deleted before it finished, by someone else (a POST rolled back after
     * an apiserver refusal, a cancel), and none left: the Jobs not seen yet will not come either.
     * Other nodes' tasks seen through Redis are no such proof at once: their records come one at
     * a time (after Redis lost its data, or to a daemon that learns the job from them), and the
     * others may tell another end. The job waits for them while the tasks seen stay so.
     */
    int torn_down = unseen > 0 && n > 0;
    for (size_t i = 0; i < n && torn_down; i++)
        torn_down = !j->tasks[i].has_kjob && ipd_task_state_is_final((ipd_task_state_t)j->tasks[i].task.state) &&
                    (j->tasks[i].kjob_gone || j->tasks[i].task.state == IPD_TASK_CANCELLED);
    if (!torn_down) {
        j->torn_since = 0;
    } else if (m->remote_feed && m->teardown_wait_ms > 0) {
        if (j->torn_since == 0 || j->torn_seen != n) {
            j->torn_since = now;
            j->torn_seen = (uint32_t)n;
        }
        /* Not final meanwhile: the tick looks at it again (ipd_model_tick wakes unfinished jobs). */
        torn_down = now - j->torn_since >= m->teardown_wait_ms;
    }
    const ipd_task_t *tasks = NULL; /* the contiguous array, made only when needed */
    const uint8_t *tasks_blank = NULL;
    /* The job is aggregated in place: what it becomes carries started_at / finished_at into the
     * next aggregation whether or not it is written. */
    ipd_job_t *next = &j->job;
    if (!j->was_published && j->created_by == CREATED_FLUSH)
        next->created_at = now;
    ipd_node_counts_t counts;
    ipd_model_job_counts(j, torn_down ? 0 : (uint32_t)unseen, torn_down ? (uint32_t)unseen : 0, &counts);
    ipd_job_aggregate_counts(next, &counts, ipd_model_first_failing(j), now);
    /* A final job state is published once and never changes (its tasks' final states never do
     * either, see ipd_model_compute_task): a cancel that comes after it, or a task that shows up
     * late, changes counts at most, never the state or its error, and its time only to an
     * earlier one another node's record gives (settle_times). */
    /* A keep job is never final: a state published before its Jobs said it keeps is corrected. */
    if (j->was_published && ipd_job_state_is_final((ipd_job_state_t)j->published.state) && !j->job.keep) {
        next->state = j->published.state;
        /* Earlier when the tasks' ends moved earlier: a task takes the time a stand-in published
         * its end with (model_task.c), which the other daemons' jobs ended at. */
        int64_t last = last_task_end(j, j->published.finished_at);
        next->finished_at = last < j->published.finished_at ? last : j->published.finished_at;
        ipd_strlcpy_utf8(next->error_reason, j->published.error_reason, sizeof(next->error_reason));
        ipd_strlcpy_utf8(next->error_message, j->published.error_message, sizeof(next->error_message));
        next->error_cause = j->published.error_cause;
    } else if (ipd_job_state_is_final((ipd_job_state_t)next->state)) {
        next->finished_at = last_task_end(j, next->finished_at);
    }
    settle_times(m, j, next);
    next->version = j->published.version;
    /* A task the table lacks is a change even when no count moved (a node's task that replaces
     * one of the pending placeholders above). */
    unsigned next_blank = ipd_job_blank(next);
    int changed = !j->was_published || tasks_changed || nchanged > 0 ||
                  !ipd_job_same_known(next, next_blank, &j->published, j->published_blank);
    int written = 0;
    if (changed) {
        next->version++;
        ipd_buf_reset(&m->json);
        int rc = 0;
        /* A job whose JSON cannot fit the table's inline room is not encoded for it: the workers
         * encode it themselves (a 5 000-task job is about 1 MB of JSON). */
        if (n * TASK_JSON_MIN <= ipd_table_json_capacity(m->table)) {
            tasks = task_array(m, j, &tasks_blank);
            rc = ipd_json_encode_job_known(&m->json, next, tasks, tasks_blank, n);
            if (rc == 0)
                rc = ipd_model_keep_json(j, &m->json);
        }
        const void *json = m->json.len > 0 ? m->json.data : NULL;
        /* The table is given the changed tasks only, when it holds the job with as many tasks:
         * a task change costs the same in a job of 3 tasks and in one of 5 000. */
        int full = !j->was_published;
        if (rc == 0 && !full) {
            const uint8_t *changed_blank = NULL;
            const ipd_task_t *changed_tasks = changed_array(m, j, nchanged, &changed_blank);
            rc = ipd_table_put_tasks_known(m->table, next, next_blank, n, m->changed_index, changed_tasks,
                                           changed_blank, nchanged, json, m->json.len);
            /* The table holds another task count, or no longer holds the job: all of it. */
            if (rc == IPD_ESTATE || rc == IPD_ENOTFOUND) {
                full = 1;
                rc = 0;
            }
        }
        if (rc == 0 && full) {
            uint64_t head = ipd_table_ring_head(m->table);
            if (tasks == NULL)
                tasks = task_array(m, j, &tasks_blank);
            rc = ipd_table_put_job_known(m->table, next, next_blank, tasks, tasks_blank, n, json, m->json.len);
            /* Writing a job takes one change record; more means it evicted others (even on
             * IPD_EFULL, which may evict before it gives up). */
            if (ipd_table_ring_head(m->table) > head + 1)
                report_evictions(m, head, next->id);
        }
        if (rc == 0) {
            if (full)
                for (size_t i = 0; i < n; i++)
                    j->tasks[i].table_pos = (uint32_t)i + 1;
            else
                for (size_t k = 0; k < nchanged; k++)
                    j->tasks[m->changed_index[k]].table_pos = m->changed_index[k] + 1;
            ipd_job_copy_known(&j->published, j->published_blank, next, next_blank);
            j->published_blank = (uint8_t)next_blank;
            j->was_published = 1;
            m->stats.published++;
            written = 1;
        } else {
            /* What the table holds of the tasks is unknown: the next put gives them all. */
            for (size_t i = 0; i < n; i++)
                j->tasks[i].table_pos = 0;
            j->counts_due = 1; /* ... and the next flush looks at every task's position */
            m->stats.publish_errors++;
            ipd_error("model", "job %s not published: %s", next->id, ipd_strerror(rc));
        }
    }
    if (!written)
        next->version = j->published.version;
    int tell = m->self_node[0] != '\0' && m->actions.own_task != NULL;
    for (size_t k = 0; k < m->ncomputed; k++) {
        task_rec_t *t = &j->tasks[m->computed_index[k]];
        /* Only a task recomputed now can differ from what own_task was last given. */
        if (!t->computed)
            continue;
        t->computed = 0;
        if (!tell || model_is_remote(m, t->task.node) || (t->sent != NULL && ipd_task_same(t->sent, &t->task)))
            continue;
        ipd_model_note_sent(t); /* without room, handed over again at its next computation */
        m->actions.own_task(m->actions.ctx, &j->job, j->node_count, ipd_model_keep_selection(j), &t->task);
    }
    return written;
}

/* A job with nothing left in Kubernetes and nothing left to do leaves memory (the table keeps it). */
static int forgettable(const job_rec_t *j)
{
    if (!j->was_published || !ipd_job_state_is_final((ipd_job_state_t)j->published.state))
        return 0;
    for (size_t i = 0; i < j->ntasks; i++)
        if (j->tasks[i].has_kjob || task_text(&j->tasks[i])->pod_key[0] != '\0')
            return 0;
    return 1;
}

/* A published job nothing here follows any more leaves memory; the table keeps it, unless
 * another node's daemon dropped it meanwhile (drop_wanted). */
static void forget_job(ipd_model_t *m, job_rec_t *j)
{
    char id[IPD_JOB_ID_SIZE];
    int drop = j->drop_wanted;
    memcpy(id, j->job.id, sizeof(id));
    free_job(m, j);
    if (drop) {
        remember_gone(m, id); /* as ipd_model_remote_drop */
        int rc = ipd_table_delete_job(m->table, id);
        if (rc != 0 && rc != IPD_ENOTFOUND)
            ipd_warn("model", "job %s: dropping it from the table: %s", id, ipd_strerror(rc));
    }
}

size_t ipd_model_flush(ipd_model_t *m, int64_t now)
{
    return ipd_model_flush_some(m, now, SIZE_MAX);
}

size_t ipd_model_flush_some(ipd_model_t *m, int64_t now, size_t max_jobs)
{
    size_t written = 0, looked = 0;
    /* Actions may change a job they ran for (a task that gives up fails): it is dirty again and
     * is published by a second pass, so the table never lags a decision already acted upon. */
    for (int pass = 0; pass < 2 && m->dirty != NULL; pass++) {
        job_rec_t *j = m->dirty, *tail = m->dirty_tail;
        m->dirty = m->dirty_tail = NULL;
        while (j != NULL) {
            if (looked++ == max_jobs) {
                /* The rest go first at the next flush, before what was marked meanwhile. */
                tail->next_dirty = m->dirty;
                if (m->dirty == NULL)
                    m->dirty_tail = tail;
                m->dirty = j;
                pass = 2;
                break;
            }
            job_rec_t *next = j->next_dirty;
            j->dirty = 0;
            j->next_dirty = NULL;
            if (j->from_table) {
                /*
                 * A job reloaded from the table by a new master waits for the first complete
                 * lists (ipd_model_initial_sync_done() marks it dirty): until then the model has
                 * seen part of the cluster, e.g. a pod without the events that say it pulls, and
                 * publishing would show clients states that did not happen.
                 */
                j = next;
                continue;
            }
            written += (size_t)publish(m, j, now);
            ipd_model_run_actions(m, j, now);
            if (!j->dirty && forgettable(j))
                forget_job(m, j);
            else if (!j->dirty)
                j->drop_wanted = 0; /* followed here: it stays, as a drop says (ipd_model_remote_drop) */
            j = next;
        }
    }
    /* Jobs the actions marked again after the second pass are theirs, not a remote record's:
     * the next flush comes at once (ipd_model_remote_dirty_since). */
    if (m->dirty == NULL) {
        m->local_dirty = 0;
        m->remote_dirty_since = 0;
    }
    if (written > 0)
        m->stats.flushes++;
    return written;
}
