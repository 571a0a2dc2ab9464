/* The table across processes: read-only workers, torn-read hunting, a writer killed mid-update. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/error.h"
#include "common/table_fixture.h"
#include "shared/table.h"
#include "shared/table_internal.h"

#define NJOBS    64
#define JSON_CAP 512

static char instance[64];

static void new_instance(void)
{
    snprintf(instance, sizeof(instance), "test-table-mp-%d", (int)getpid());
    ipd_table_unlink(instance);
}

static void drop_instance(void)
{
    ipd_table_unlink(instance);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(char *dst, size_t len, uint64_t a, uint64_t b)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)('a' + (a * 31 + b * 17 + i * 7) % 26);
}

/* Version at which task `j` of a job at version `v` last changed: tasks change in turn. */
static uint64_t task_version(uint64_t v, size_t j)
{
    return v < j ? 0 : v - (v - j) % 3;
}

/* Everything about job `k` at version `v` follows from (k, v), so a reader can check a copy. */
static void make_job(int k, uint64_t v, ipd_job_t *job, ipd_task_t *tasks, size_t *ntasks, char *json, size_t *json_len)
{
    memset(job, 0, sizeof(*job));
    snprintf(job->id, sizeof(job->id), "pj-%08x", (unsigned)k * 2654435761u);
    snprintf(job->image, sizeof(job->image), "registry.local/img-%d:%llu", k, (unsigned long long)v);
    fill(job->error_message, 400, (uint64_t)k, v);
    job->version = v;
    job->created_at = k + 1;
    job->state = IPD_JOB_PULLING;
    job->nodes.desired = (uint32_t)v;
    *ntasks = 3 + (v / 7) % 2;
    memset(tasks, 0, *ntasks * sizeof(*tasks));
    for (size_t j = 0; j < *ntasks; j++) {
        uint64_t tv = j < 3 ? task_version(v, j) : v;
        snprintf(tasks[j].node, sizeof(tasks[j].node), "node-%d-%zu", k, j);
        fill(tasks[j].message, 300, (uint64_t)k * 8 + j, tv);
        tasks[j].updated_at = (int64_t)tv;
        tasks[j].attempts = (uint32_t)tv;
    }
    *json_len = 64 + v % 200;
    fill(json, *json_len, v, (uint64_t)k);
}

static int put_version(ipd_table_t *w, int k, uint64_t v)
{
    ipd_job_t job;
    ipd_task_t tasks[4];
    char json[JSON_CAP];
    size_t n, jl;
    make_job(k, v, &job, tasks, &n, json, &jl);
    return ipd_table_put_job(w, &job, tasks, n, json, jl);
}

/* Reads and checks job `ref` (or `k` by id): 0 ok, 1 torn, or the negative read error. */
static int check_job(const ipd_table_t *t, int k, const ipd_table_ref_t *ref, uint64_t *version)
{
    ipd_job_t got, want;
    ipd_task_t tasks[8], wtasks[4];
    char json[JSON_CAP], wjson[JSON_CAP], id[IPD_JOB_ID_SIZE];
    size_t wn, wjl;
    ipd_table_job_view_t v = {.job = &got, .tasks = tasks, .task_cap = 8, .json = json, .json_cap = JSON_CAP};
    snprintf(id, sizeof(id), "pj-%08x", (unsigned)k * 2654435761u);
    int rc = ref != NULL ? ipd_table_get_job_at(t, *ref, &v) : ipd_table_get_job(t, id, &v);
    if (rc != 0)
        return rc;
    if (ref != NULL)
        k = (int)got.created_at - 1;
    if (k < 0 || k >= NJOBS)
        return 1;
    make_job(k, got.version, &want, wtasks, &wn, wjson, &wjl);
    if (version != NULL)
        *version = got.version;
    if (memcmp(&got, &want, sizeof(got)) != 0 || v.ntasks != wn || memcmp(tasks, wtasks, wn * sizeof(*tasks)) != 0 ||
        !v.has_json || v.json_len != wjl || memcmp(json, wjson, wjl) != 0)
        return 1;
    return 0;
}

#define make_writer(info) ipd_test_table_create(instance, NJOBS * 2, NJOBS * 8, 1024, JSON_CAP, 0, info)

/* Child: updates every job in turn as fast as it can, forever. */
static void writer_loop(ipd_table_t *w)
{
    uint64_t versions[NJOBS];
    for (int k = 0; k < NJOBS; k++) {
        ipd_job_t j;
        char id[IPD_JOB_ID_SIZE];
        ipd_table_job_view_t v = {.job = &j};
        snprintf(id, sizeof(id), "pj-%08x", (unsigned)k * 2654435761u);
        versions[k] = ipd_table_get_job(w, id, &v) == 0 ? j.version : 0;
    }
    for (uint64_t i = 0;; i++) {
        int k = (int)(i % NJOBS);
        if (put_version(w, k, ++versions[k]) != 0)
            _exit(3);
    }
}

static pid_t spawn_writer(ipd_table_t *w)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        writer_loop(w);
    return pid;
}

typedef struct reader_result {
    uint64_t reads, torn, busy, missing, scans;
} reader_result_t;

static void reader_loop(int fd, uint64_t target, double deadline)
{
    ipd_table_t *r = NULL;
    reader_result_t res = {0};
    unsigned seed = (unsigned)getpid();
    if (ipd_table_attach_readonly(instance, &r) != 0)
        _exit(4);
    for (uint64_t round = 1; res.reads < target && now_s() < deadline; round++) {
        for (int i = 0; i < 256; i++) {
            seed = seed * 1103515245u + 12345u;
            int rc = check_job(r, (int)((seed >> 8) % NJOBS), NULL, NULL);
            res.reads++;
            res.torn += rc == 1;
            res.busy += rc == IPD_EBUSY;
            res.missing += rc == IPD_ENOTFOUND;
        }
        if (round % 16 == 0) {
            ipd_table_ref_t refs[NJOBS];
            size_t n;
            if (ipd_table_list(r, IPD_TABLE_LIST_ACTIVE, refs, NJOBS, &n, NULL, NULL) != 0 || n != NJOBS)
                res.missing++;
            for (size_t i = 0; i < n; i++) {
                int rc = check_job(r, 0, &refs[i], NULL);
                res.reads++;
                res.torn += rc == 1;
                res.busy += rc == IPD_EBUSY;
                res.missing += rc == IPD_ENOTFOUND;
            }
            res.scans++;
        }
    }
    ipd_table_destroy(r);
    _exit(write(fd, &res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 5);
}

TestSuite(table_mp, .init = new_instance, .fini = drop_instance, .timeout = 120);

Test(table_mp, worker_mapping_is_read_only)
{
    ipd_table_t *w = make_writer(NULL);
    cr_assert_eq(put_version(w, 1, 1), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        ipd_table_t *r = NULL;
        if (ipd_table_attach_readonly(instance, &r) != 0)
            _exit(2);
        /* Die of the fault itself, not of a sanitizer's report of it. */
        signal(SIGSEGV, SIG_DFL);
        volatile char *p = (volatile char *)ipd_table_ring(r)->entries;
        p[0] = 1;
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "status %#x", status);
    ipd_table_destroy(w);
}

Test(table_mp, readers_never_see_a_torn_record)
{
    ipd_table_t *w = make_writer(NULL);
    for (int k = 0; k < NJOBS; k++)
        cr_assert_eq(put_version(w, k, 1), 0);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t writer = spawn_writer(w), readers[2];
    double deadline = now_s() + 15;
    for (int i = 0; i < 2; i++) {
        readers[i] = fork();
        cr_assert_geq(readers[i], 0);
        if (readers[i] == 0)
            reader_loop(fds[1], 500000, deadline);
    }
    reader_result_t total = {0};
    for (int i = 0; i < 2; i++) {
        reader_result_t res;
        int status;
        cr_assert_eq(read(fds[0], &res, sizeof(res)), (ssize_t)sizeof(res));
        total.reads += res.reads;
        total.torn += res.torn;
        total.busy += res.busy;
        total.missing += res.missing;
        total.scans += res.scans;
        cr_assert_eq(waitpid(readers[i], &status, 0), readers[i]);
        cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    uint64_t gen = ipd_table_generation(w);
    kill(writer, SIGKILL);
    waitpid(writer, NULL, 0);
    cr_log_info("reads %llu, torn %llu, busy %llu, scans %llu, writer updates %llu", (unsigned long long)total.reads,
                (unsigned long long)total.torn, (unsigned long long)total.busy, (unsigned long long)total.scans,
                (unsigned long long)gen);
    cr_expect_eq(total.torn, 0, "torn reads");
    cr_expect_eq(total.missing, 0, "jobs that vanished");
    /* The readers stop at 500 000 reads each or at the deadline, whichever comes first: on a
     * loaded machine the deadline. What matters is that enough reads overlapped the writer's
     * updates to catch a torn record, not how fast they went (speed is tests/bench's). */
    cr_expect_geq(total.reads, 20000, "too few reads overlapped the writer");
    cr_expect_leq(total.busy * 10000, total.reads, "reads that ran out of retries");
    cr_expect_gt(gen, 1000, "the writer kept writing");
    ipd_table_destroy(w);
    close(fds[0]);
    close(fds[1]);
}

/* Every job readable, pattern-valid, each read well under `budget_s`; returns the slowest. */
static double check_all(const ipd_table_t *t, double budget_s)
{
    double worst = 0;
    for (int k = 0; k < NJOBS; k++) {
        double t0 = now_s();
        int rc = check_job(t, k, NULL, NULL);
        double dt = now_s() - t0;
        worst = dt > worst ? dt : worst;
        cr_assert_eq(rc, 0, "job %d: %d (%s)", k, rc, rc < 0 ? ipd_strerror(rc) : "torn");
        cr_assert_lt(dt, budget_s, "job %d read took %.3f s", k, dt);
    }
    return worst;
}

Test(table_mp, reattach_after_writer_sigkilled_mid_update)
{
    ipd_table_open_info_t info;
    ipd_table_t *w = make_writer(&info);
    for (int k = 0; k < NJOBS; k++)
        cr_assert_eq(put_version(w, k, 1), 0);
    uint64_t epoch = ipd_table_epoch(w);
    uint32_t repaired = 0, announced = 0;
    srand((unsigned)getpid());
    for (int round = 0; round < 6; round++) {
        pid_t pid = spawn_writer(w);
        usleep(20000 + (useconds_t)(rand() % 60000));
        kill(pid, SIGKILL);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the writer was busy when killed");
        ipd_table_destroy(w);

        /* Readers first: they get the last good copy at once, with no writer to wait for. */
        ipd_table_t *r = NULL;
        cr_assert_eq(ipd_table_attach_readonly(instance, &r), 0);
        check_all(r, 0.05);
        uint64_t gen = ipd_table_generation(r), head = ipd_table_ring_head(r);

        w = make_writer(&info);
        cr_assert_eq(info.outcome, IPD_TABLE_REATTACHED, "round %d: %s", round, info.detail);
        cr_expect_eq(ipd_table_epoch(w), epoch);
        cr_expect_geq(ipd_table_generation(w), gen);
        cr_expect_geq(ipd_table_ring_head(w), head);
        cr_expect_eq(ipd_table_job_count(w), NJOBS);
        cr_expect_eq(ipd_table_verify(w), 0);
        repaired += info.repaired_slots;
        announced += info.announced;
        check_all(r, 0.05);
        ipd_table_destroy(r);
    }
    uint64_t head = ipd_table_ring_head(w);
    cr_assert_eq(put_version(w, 0, 1000000), 0);
    cr_expect_eq(ipd_table_ring_head(w), head + 1, "the ring goes on from where it was");
    cr_log_info("slots repaired %u, records announced %u over 6 kills", repaired, announced);
    ipd_table_destroy(w);
}

Test(table_mp, a_copy_left_mid_write_keeps_the_last_good_one)
{
    ipd_table_open_info_t info;
    ipd_table_t *w = make_writer(&info);
    for (int k = 0; k < NJOBS; k++)
        cr_assert_eq(put_version(w, k, 5), 0);
    /* Do what a writer killed halfway through an update leaves behind: a marked, half-filled copy. */
    uint32_t slot = ipd_table_index_lookup(w, "pj-00000000");
    cr_assert_neq(slot, UINT32_MAX);
    slot_head_t *jh = job_head(w, slot);
    ipd_table_latch_begin(jh);
    memset(job_copy(w, slot, atomic_load(&jh->seq) + 1), 0x5a, 1000);
    uint32_t ts = w->w->jobs[slot].task_first;
    slot_head_t *th = task_head(w, ts);
    ipd_table_latch_begin(th);
    memset(task_copy(w, ts, atomic_load(&th->seq) + 1), 0xa5, 200);
    cr_expect_eq(ipd_table_verify(w), 0, "copies marked mid-write are not judged");
    ipd_table_destroy(w);

    ipd_table_t *r = NULL;
    cr_assert_eq(ipd_table_attach_readonly(instance, &r), 0);
    uint64_t v = 0;
    double t0 = now_s();
    cr_expect_eq(check_job(r, 0, NULL, &v), 0);
    cr_expect_lt(now_s() - t0, 0.01, "no spinning on a slot a dead writer left");
    cr_expect_eq(v, 5);

    w = make_writer(&info);
    cr_assert_eq(info.outcome, IPD_TABLE_REATTACHED, "%s", info.detail);
    cr_expect_eq(info.repaired_slots, 2);
    cr_expect_eq(ipd_table_verify(w), 0);
    cr_expect_eq(check_job(r, 0, NULL, &v), 0);
    cr_expect_eq(v, 5);
    for (uint64_t ver = 6; ver < 12; ver++)
        cr_assert_eq(put_version(w, 0, ver), 0);
    cr_expect_eq(check_job(r, 0, NULL, &v), 0);
    cr_expect_eq(v, 11);
    ipd_table_destroy(r);
    ipd_table_destroy(w);
}

Test(table_mp, a_change_published_without_its_record_is_announced)
{
    ipd_table_open_info_t info;
    ipd_table_t *w = make_writer(&info);
    cr_assert_eq(put_version(w, 3, 1), 0);
    uint64_t head = ipd_table_ring_head(w);
    /* Publish a job copy the way put does, then "die" before the change record and generation. */
    uint32_t s3;
    {
        char id[IPD_JOB_ID_SIZE];
        snprintf(id, sizeof(id), "pj-%08x", 3u * 2654435761u);
        s3 = ipd_table_index_lookup(w, id);
    }
    slot_head_t *h = job_head(w, s3);
    job_copy_t *pub = job_copy(w, s3, atomic_load(&h->seq));
    ipd_table_latch_begin(h);
    job_copy_t *next = job_copy(w, s3, atomic_load(&h->seq) + 1);
    memcpy(next, pub, w->job_copy_size);
    next->stamp = ipd_table_generation(w) + 1;
    next->job.version = 2;
    next->checksum = ipd_table_job_checksum(next, w->json_cap);
    ipd_table_latch_publish(h);
    ipd_table_destroy(w);

    w = make_writer(&info);
    cr_assert_eq(info.outcome, IPD_TABLE_REATTACHED, "%s", info.detail);
    cr_expect_eq(info.announced, 1);
    ipd_ring_entry_t e[4];
    size_t n;
    cr_assert_eq(ipd_table_ring_read(w, head, e, 4, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect_eq(e[0].kind, IPD_RING_JOB_UPSERTED);
    cr_expect_eq(e[0].version, 2);
    cr_expect_eq(ipd_table_generation(w), 3, "stamp 2 was used by the dead writer; the announcement is 3");
    ipd_table_destroy(w);
}
