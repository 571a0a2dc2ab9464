#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "master/daemon_internal.h"
#include "proto/buf.h"
#include "shared/log.h"
#include "shared/stats_report.h"

/* Copies the master's own figures into its block of the stats segment, where workers read them. */
void ipd_daemon_publish_stats(daemon_state_t *d)
{
    ipd_stats_block_t *b = ipd_stats_master_block(d->stats);
    if (b == NULL)
        return;
    ipd_reflector_stats_t sum;
    memset(&sum, 0, sizeof(sum));
    ipd_daemon_kube_reflector_stats(d, &sum);
    /* Restarted reflectors (a reload) start from zero: keep the counters monotonic. */
    uint64_t v[IPD_MSTATS_COUNT] = {0};
    v[IPD_MSTATS_READY] = (uint64_t)d->synced;
    v[IPD_MSTATS_WATCH_HEALTHY] = (uint64_t)(d->synced && ipd_daemon_kube_healthy(d));
    v[IPD_MSTATS_WORKERS_ALIVE] = d->sup ? ipd_supervisor_alive(d->sup) : 0;
    v[IPD_MSTATS_RESPAWNS] = d->sup ? ipd_supervisor_respawns(d->sup) : 0;
    v[IPD_MSTATS_WATCH_LISTS] = d->base.lists + sum.lists;
    v[IPD_MSTATS_WATCH_RELISTS] = d->base.relists_gone + sum.relists_gone;
    v[IPD_MSTATS_WATCH_STARTS] = d->base.watches + sum.watches;
    v[IPD_MSTATS_WATCH_RESTARTS] = d->base.watch_restarts + sum.watch_restarts;
    v[IPD_MSTATS_WATCH_IDLE_RESTARTS] = d->base.idle_restarts + sum.idle_restarts;
    v[IPD_MSTATS_WATCH_ERRORS] = d->base.errors + sum.errors;
    v[IPD_MSTATS_WATCH_EVENTS] = d->base.events + sum.events;
    v[IPD_MSTATS_WATCH_BOOKMARKS] = d->base.bookmarks + sum.bookmarks;
    if (d->model != NULL) {
        const ipd_model_stats_t *ms = ipd_model_stats(d->model);
        v[IPD_MSTATS_MODEL_OBJECTS] = d->base_model.objects + ms->objects;
        v[IPD_MSTATS_MODEL_PUBLISHED] = d->base_model.published + ms->published;
        v[IPD_MSTATS_MODEL_PUBLISH_ERRORS] = d->base_model.publish_errors + ms->publish_errors;
        v[IPD_MSTATS_MODEL_JOBS] = ms->jobs;
        v[IPD_MSTATS_MODEL_PODS] = ms->pods;
        for (int c = IPD_CAUSE_AUTH; c < IPD_CAUSE_COUNT; c++)
            v[ipd_mstats_task_failures(c)] = d->base_model.task_failures[c] + ms->task_failures[c];
    }
    uint64_t r429 = d->kube ? ipd_kube_retries_429(d->kube) : 0, rall = d->kube ? ipd_kube_retries(d->kube) : 0;
    v[IPD_MSTATS_KUBE_RETRIES_429] = d->base_kube_retries[0] + r429;
    v[IPD_MSTATS_KUBE_RETRIES_503] = d->base_kube_retries[1] + (rall - r429);
    v[IPD_MSTATS_KUBE_ACTIONS] = d->kube_actions;
    v[IPD_MSTATS_KUBE_ACTION_ERRORS] = d->kube_action_errors;
    v[IPD_MSTATS_RELOADS] = d->reloads;
    v[IPD_MSTATS_FINAL_REFUSED] = d->table != NULL ? ipd_table_final_refusals(d->table) : 0;
    v[IPD_MSTATS_STARTED_AT] = (uint64_t)d->started_at;
    v[IPD_MSTATS_REDIS_CATCHUP_HOLDS] = d->catchup_holds;
    if (d->redis != NULL) {
        ipd_redis_link_stats_t rs;
        ipd_redis_link_stats(d->redis, &rs);
        v[IPD_MSTATS_REDIS_STATE] = rs.state;
        v[IPD_MSTATS_REDIS_CONNECTS] = d->base_redis.connects + rs.connects;
        v[IPD_MSTATS_REDIS_PUBLISHED] = d->base_redis.published + rs.published;
        v[IPD_MSTATS_REDIS_APPLIED] = d->base_redis.applied + rs.applied;
        v[IPD_MSTATS_REDIS_SKIPPED] = d->base_redis.skipped + rs.skipped;
        v[IPD_MSTATS_REDIS_RESYNCS] = d->base_redis.resyncs + rs.resyncs;
        v[IPD_MSTATS_REDIS_NODES_LOST] = rs.nodes_lost;
        v[IPD_MSTATS_REDIS_STOOD_IN] = d->base_redis.stood_in + rs.stood_in;
    } else {
        v[IPD_MSTATS_REDIS_STATE] = d->cfg.redis[0] != '\0' ? IPD_REDIS_DOWN : IPD_REDIS_OFF;
        v[IPD_MSTATS_REDIS_CONNECTS] = d->base_redis.connects;
        v[IPD_MSTATS_REDIS_PUBLISHED] = d->base_redis.published;
        v[IPD_MSTATS_REDIS_APPLIED] = d->base_redis.applied;
        v[IPD_MSTATS_REDIS_SKIPPED] = d->base_redis.skipped;
        v[IPD_MSTATS_REDIS_RESYNCS] = d->base_redis.resyncs;
        v[IPD_MSTATS_REDIS_STOOD_IN] = d->base_redis.stood_in;
    }
    for (int i = 0; i < IPD_MSTATS_COUNT; i++)
        atomic_store_explicit(&b->c[i], v[i], memory_order_relaxed);
}

/* Before the reflectors and model are replaced (reload), fold their counters into the base. */
void ipd_daemon_fold_stats(daemon_state_t *d)
{
    ipd_daemon_kube_reflector_stats(d, &d->base);
    if (d->kube != NULL) {
        d->base_kube_retries[0] += ipd_kube_retries_429(d->kube);
        d->base_kube_retries[1] += ipd_kube_retries(d->kube) - ipd_kube_retries_429(d->kube);
    }
    if (d->model != NULL) {
        const ipd_model_stats_t *ms = ipd_model_stats(d->model);
        d->base_model.objects += ms->objects;
        d->base_model.published += ms->published;
        d->base_model.publish_errors += ms->publish_errors;
        for (int c = 0; c < IPD_CAUSE_COUNT; c++)
            d->base_model.task_failures[c] += ms->task_failures[c];
    }
}

/*
 * Makes sure the directory of the stats file exists: under systemd RuntimeDirectory= creates it,
 * but root's default /run/imgpulld (or a configured path) may be missing outside systemd. Only
 * the last level is created (mode 0750), so a mistyped path does not grow a tree. Logs an error
 * naming the directory and returns -errno when it is missing and cannot be created.
 */
int ipd_daemon_prepare_stats_dir(const daemon_state_t *d)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(d->cfg.stats_file, '/');
    if (slash == NULL || slash == d->cfg.stats_file)
        return 0; /* the working directory, or / */
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - d->cfg.stats_file), d->cfg.stats_file);
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        errno = ENOTDIR;
    } else if (errno == ENOENT && mkdir(dir, 0750) == 0) {
        ipd_info("master", "created the stats file's directory %s", dir);
        return 0;
    }
    int err = errno;
    ipd_error("master", "stats file %s: cannot use its directory %s: %s", d->cfg.stats_file, dir, strerror(err));
    return -err;
}

/* SIGUSR1: one JSON line to the log and to the stats file (written whole, then renamed). */
void ipd_daemon_write_stats(daemon_state_t *d)
{
    ipd_buf_t buf;
    ipd_buf_init(&buf);
    ipd_daemon_publish_stats(d);
    ipd_stats_figures_t fig;
    ipd_stats_gather(d->stats, d->table, &fig);
    if (ipd_stats_report_json(&fig, &buf) != 0) {
        ipd_error("master", "stats: out of memory");
        ipd_buf_dispose(&buf);
        return;
    }
    ipd_log_json(IPD_LOG_INFO, "stats", "stats", "stats", buf.data, buf.len);
    if (ipd_daemon_prepare_stats_dir(d) != 0) {
        ipd_buf_dispose(&buf);
        return;
    }
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof(tmp), "%s.tmp", d->cfg.stats_file);
    /*
     * The directory may be shared (the working directory): a file or symbolic link planted at
     * the temporary name is removed, never followed, and the file is created anew.
     */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd >= 0 && f == NULL)
        close(fd);
    int ok = f != NULL && fwrite(buf.data, 1, buf.len, f) == buf.len && fputc('\n', f) != EOF;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, d->cfg.stats_file) != 0) {
        ipd_error("master", "stats file %s: %s", d->cfg.stats_file, strerror(errno));
        unlink(tmp);
    }
    ipd_buf_dispose(&buf);
}
