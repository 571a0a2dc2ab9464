#include "master/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "master/daemon_internal.h"
#include "master/publish.h"
#include "master/sdnotify.h"
#include "proto/error.h"
#include "shared/config_table.h"
#include "shared/log.h"

#define TICK_MS 1000

static volatile sig_atomic_t got_hup, got_usr1, got_term, got_quit, got_chld;
static int signal_write_fd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGHUP)
        got_hup = 1;
    else if (sig == SIGUSR1)
        got_usr1 = 1;
    else if (sig == SIGTERM || sig == SIGINT)
        got_term = 1;
    else if (sig == SIGQUIT)
        got_quit = 1;
    else if (sig == SIGCHLD)
        got_chld = 1;
    /* Wake the loop; a full pipe already holds a wake-up. */
    ssize_t n = write(signal_write_fd, "", 1);
    (void)n;
    errno = saved;
}

static int install_signals(daemon_state_t *d)
{
    if (pipe2(d->signal_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        ipd_error("master", "pipe2: %s", strerror(errno));
        return -errno;
    }
    signal_write_fd = d->signal_pipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    static const int sigs[] = {SIGHUP, SIGUSR1, SIGTERM, SIGINT, SIGQUIT, SIGCHLD};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (sigaction(sigs[i], &sa, NULL) != 0) {
            ipd_error("master", "sigaction: %s", strerror(errno));
            return -errno;
        }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void on_signal_pipe(ipd_mloop_io_t *io, uint32_t events)
{
    char buf[64];
    (void)events;
    while (read(io->fd, buf, sizeof(buf)) > 0)
        ;
}

static gid_t shm_gid(const ipd_config_t *cfg)
{
    if (cfg->shm_group[0] == '\0')
        return (gid_t)-1;
    struct group *g = getgrnam(cfg->shm_group);
    return g != NULL ? g->gr_gid : (gid_t)-1;
}

static int open_table(daemon_state_t *d)
{
    ipd_table_options_t opts;
    ipd_table_open_info_t info;
    ipd_table_options_init(&opts);
    opts.instance = d->cfg.instance;
    opts.job_capacity = (uint32_t)d->cfg.table_jobs;
    opts.task_capacity = (uint32_t)d->cfg.table_tasks;
    opts.ring_capacity = (uint32_t)d->cfg.table_ring;
    opts.json_capacity = (uint32_t)d->cfg.table_json_inline;
    opts.group = shm_gid(&d->cfg);
    int rc = ipd_table_create(&opts, &d->table, &info);
    if (rc != 0) {
        ipd_error("master", "shared-memory table of instance %s: %s", d->cfg.instance, ipd_strerror(rc));
        return rc;
    }
    char epoch[IPD_TABLE_EPOCH_HEX_SIZE];
    ipd_table_epoch_hex(d->table, epoch);
    ipd_info("master", "table %s %s (epoch %s, generation %llu)%s%s", info.name,
             info.outcome == IPD_TABLE_CREATED      ? "created"
             : info.outcome == IPD_TABLE_REATTACHED ? "reattached with its history"
                                                    : "rebuilt",
             epoch, (unsigned long long)ipd_table_generation(d->table), info.detail[0] ? ": " : "", info.detail);
    rc = ipd_stats_create(d->cfg.instance, IPD_MAX_WORKERS, d->stats_route_slots, opts.group, &d->stats);
    if (rc != 0)
        ipd_error("master", "stats segment of instance %s: %s", d->cfg.instance, ipd_strerror(rc));
    return rc;
}

/* A state change the manager must see: it may wait a moment for room, and says so when dropped. */
static void notify_state(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notify_state(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    int rc = ipd_sd_notify_state(buf);
    if (rc != 0)
        ipd_warn("master", "sd_notify %.*s: %s", (int)strcspn(buf, "\n"), buf, ipd_strerror(rc));
}

static void notify_status(daemon_state_t *d)
{
    ipd_sd_notifyf("STATUS=jobs %u, generation %llu, workers %zu, watch %s", ipd_table_job_count(d->table),
                   (unsigned long long)ipd_table_generation(d->table), d->sup ? ipd_supervisor_alive(d->sup) : 0,
                   !d->synced                   ? "listing"
                   : ipd_daemon_kube_healthy(d) ? "ok"
                                                : "degraded");
}

static void on_watchdog(ipd_mloop_timer_t *t)
{
    daemon_state_t *d = t->data;
    /*
     * WATCHDOG=1 vouches for this process: its loop runs and every worker slot has a worker.
     * An unreachable apiserver is not the daemon's fault and a restart would not cure it; it
     * shows in STATUS= and /readyz instead, while the daemon goes on serving what it has.
     */
    if (d->ever_synced && (d->sup == NULL || ipd_supervisor_healthy(d->sup)))
        ipd_sd_notify("WATCHDOG=1");
    ipd_mloop_timer_start(d->loop, t, d->watchdog_usec / 2000);
}

static void on_tick(ipd_mloop_timer_t *t)
{
    daemon_state_t *d = t->data;
    ipd_model_tick(d->model);
    ipd_daemon_follow_tick(d);
    ipd_daemon_standin_tick(d);
    ipd_daemon_replay_tick(d);
    ipd_daemon_publish_stats(d);
    notify_status(d);
    ipd_mloop_timer_start(d->loop, t, TICK_MS);
}

/*
 * In a forked worker, before its main: the master's read-write mappings of the table and the
 * stats segment go. The worker maps the table read-only itself, so nothing it runs can write it.
 */
static void in_child(void *data)
{
    daemon_state_t *d = data;
    ipd_table_destroy(d->table);
    d->table = NULL;
    ipd_stats_destroy(d->stats);
    d->stats = NULL;
}

static int start_workers(daemon_state_t *d)
{
    if (d->worker_main == NULL || d->sup != NULL)
        return 0;
    int rc = ipd_supervisor_create(d->loop, &d->cfg, &d->listeners, d->stats, d->worker_main, &d->sup);
    if (rc == 0) {
        ipd_supervisor_set_child_setup(d->sup, in_child, d);
        rc = ipd_supervisor_start(d->sup);
    }
    if (rc != 0)
        ipd_error("master", "starting workers: %s", ipd_strerror(rc));
    return rc;
}

static void finish_reload(daemon_state_t *d);

/* Its firing is a loop iteration: after_iteration() publishes what it held back or has left. */
static void on_publish_due(ipd_mloop_timer_t *t)
{
    (void)t;
}

/*
 * Publishes what changed (master/publish.h): changes of other nodes' records are held back
 * while the Redis link catches up, at most redis_catchup_publish after the first of them, and
 * then go out in parts; the timer brings the turn that follows. Returns the jobs written.
 */
static size_t publish(daemon_state_t *d)
{
    size_t written;
    int64_t again;
    ipd_publish_state_t st = ipd_publish_turn(d->model, d->redis, d->cfg.redis_catchup_publish_ms,
                                              ipd_model_monotonic_ms(), ipd_model_now(), &written, &again);
    if (again >= 0) {
        if (again == 0)
            ipd_mloop_timer_stop(d->loop, &d->publish_timer);
        if (!ipd_mloop_timer_active(&d->publish_timer))
            ipd_mloop_timer_start(d->loop, &d->publish_timer, (uint64_t)again);
    }
    if (st == IPD_PUBLISH_HELD && !d->holding)
        d->catchup_holds++;
    d->holding = st == IPD_PUBLISH_HELD;
    return written;
}

/* Whether the Redis link applied a snapshot since it was made (or there is none). */
static int redis_synced(const daemon_state_t *d)
{
    if (d->redis == NULL)
        return 1;
    ipd_redis_link_stats_t s;
    ipd_redis_link_stats(d->redis, &s);
    return s.state == IPD_REDIS_UP;
}

/*
 * Whether a new master's first Redis snapshot is still on its way (the link connecting or taking
 * it, which a Redis that does not answer ends within the link's answer timeout). The master
 * decides what became of its node's tasks whose Job went while it was down once that snapshot is
 * in: its node's records there may say how such a task ended (a stand-in's), which a decision
 * taken before would contradict for ever. With the link down, it decides without them.
 */
static int redis_first_snapshot_pending(const daemon_state_t *d)
{
    if (d->redis == NULL || d->model == NULL || !ipd_model_own_records_open(d->model))
        return 0;
    ipd_redis_link_stats_t s;
    ipd_redis_link_stats(d->redis, &s);
    return s.state == IPD_REDIS_SYNCING;
}

/* After every loop iteration: publish what changed, wake the workers, announce readiness. */
static void after_iteration(daemon_state_t *d)
{
    ipd_daemon_kube_drain(d);
    if (!d->synced && ipd_daemon_kube_synced(d) && !redis_first_snapshot_pending(d)) {
        ipd_model_initial_sync_done(d->model);
        ipd_model_flush(d->model, ipd_model_now());
        d->synced = d->ever_synced = 1;
        ipd_daemon_publish_stats(d);
        if (d->sup != NULL)
            ipd_supervisor_notify_ring(d->sup);
        ipd_info("master", "initial list complete: %u jobs in the table", ipd_table_job_count(d->table));
        if (d->republish_pending)
            ipd_daemon_redis_republish(d);
        ipd_redis_link_flush(d->redis);
        notify_state("READY=1");
        notify_status(d);
        return;
    }
    if (publish(d) > 0 && d->sup != NULL)
        ipd_supervisor_notify_ring(d->sup);
    /* This node's records from before this master did their part once the snapshot's changes
     * are published (ipd_model_own_records_done). */
    if (d->synced && ipd_model_own_records_open(d->model) && redis_synced(d) &&
        ipd_model_remote_dirty_since(d->model) == 0)
        ipd_model_own_records_done(d->model);
    /* This turn's task changes to Redis in one script call. */
    ipd_redis_link_flush(d->redis);
    if (d->reload_pending)
        finish_reload(d);
}

/* The directives marked IPD_CF_KUBE in the directive table, and whether Redis is used at all (which
 * Jobs node scope watches), need a new Kubernetes client and watch. */
static int kube_settings_differ(const ipd_config_t *a, const ipd_config_t *b)
{
    return ipd_config_changed(a, b, IPD_CF_KUBE) != NULL || (a->redis[0] != '\0') != (b->redis[0] != '\0');
}

/* Reads and checks the new configuration into `next`. Returns 0, or a negative code with `err` set. */
static int prepare_reload(daemon_state_t *d, ipd_config_t *next, char *err, size_t errlen)
{
    extern char **environ;
    int rc = ipd_config_reload(&d->cfg, next, environ, err, errlen);
    if (rc != 0)
        return rc;
    const char *restart = ipd_config_restart_required(&d->cfg, next);
    if (restart != NULL)
        ipd_warn("master", "reload: %s changes only on restart; the running value stays", restart);
    /* Those settings shape the shared memory: keep them as they are. */
    memcpy(next->instance, d->cfg.instance, sizeof(next->instance));
    memcpy(next->shm_group, d->cfg.shm_group, sizeof(next->shm_group));
    next->table_jobs = d->cfg.table_jobs;
    next->table_tasks = d->cfg.table_tasks;
    next->table_ring = d->cfg.table_ring;
    next->table_json_inline = d->cfg.table_json_inline;
    if (next->workers > (int)ipd_stats_blocks(d->stats)) {
        snprintf(err, errlen, "workers %d exceeds the %u stats blocks sized at start; restart to grow", next->workers,
                 ipd_stats_blocks(d->stats));
        return IPD_EINVAL;
    }
    /* The files the new workers will load, loaded here first: a bad one never reaches a worker. */
    if (d->worker_check != NULL && (rc = d->worker_check(next, err, errlen)) != 0)
        return rc;
    return ipd_listeners_reconcile(&d->listeners, next, err, errlen);
}

/* SIGHUP: a new configuration, new workers on the same sockets; the old ones drain once they serve. */
static void reload(daemon_state_t *d)
{
    ipd_config_t *next = malloc(sizeof(*next));
    char err[1024];
    notify_state("RELOADING=1");
    int rc = next != NULL ? prepare_reload(d, next, err, sizeof(err)) : -ENOMEM;
    if (next == NULL)
        snprintf(err, sizeof(err), "out of memory");
    if (rc != 0) {
        ipd_error("master", "reload rejected, the running configuration stays: %s", err);
        free(next);
        notify_state("READY=1\nSTATUS=reload rejected, the previous configuration serves: %s", err);
        return;
    }
    d->prev_cfg = d->cfg;
    d->cfg = *next;
    free(next);
    ipd_log_set_level((ipd_log_level_t)d->cfg.log_level);
    d->reload_pending = 1;
    d->reload_started_ms = ipd_mloop_clock_ms();
    ipd_info("master", "configuration reloaded; waiting for the new workers");
    if (d->sup != NULL && (rc = ipd_supervisor_reload(d->sup, &d->cfg)) != 0)
        ipd_error("master", "reload: starting the new workers: %s", ipd_strerror(rc));
}

/* The old configuration comes back: the new workers could not serve. */
static void abort_reload(daemon_state_t *d, const char *why)
{
    char err[512];
    ipd_supervisor_reload_abort(d->sup);
    d->cfg = d->prev_cfg;
    ipd_log_set_level((ipd_log_level_t)d->cfg.log_level);
    if (ipd_listeners_reconcile(&d->listeners, &d->cfg, err, sizeof(err)) != 0)
        ipd_error("master", "reload failed: restoring the previous listeners: %s", err);
    d->reload_pending = 0;
    ipd_error("master", "reload failed: %s; the previous configuration and its workers keep serving", why);
    notify_state("READY=1\nSTATUS=reload failed (%s), the previous configuration serves", why);
}

/* The new generation serves once each worker has claimed its stats block; only then the old drains. */
static void finish_reload(daemon_state_t *d)
{
    ipd_reload_state_t st = d->sup != NULL ? ipd_supervisor_reload_state(d->sup) : IPD_RELOAD_SERVING;
    if (st == IPD_RELOAD_FAILED) {
        abort_reload(d, "a new worker exited before it served (its log says why)");
        return;
    }
    if (st == IPD_RELOAD_PENDING) {
        if (ipd_mloop_clock_ms() - d->reload_started_ms > d->cfg.reload_drain_timeout_ms)
            abort_reload(d, "the new workers did not serve within reload_drain_timeout");
        return;
    }
    if (d->sup != NULL)
        ipd_supervisor_reload_commit(d->sup);
    d->reload_pending = 0;
    d->reloads++;
    if (kube_settings_differ(&d->prev_cfg, &d->cfg)) {
        ipd_info("master", "reload: Kubernetes settings changed, restarting the watch");
        ipd_daemon_fold_stats(d);
        ipd_daemon_kube_stop(d);
        d->synced = 0;
        if (ipd_daemon_kube_start(d) != 0)
            ipd_error("master", "reload: the watch could not restart; retrying on the next reload");
    }
    if (!ipd_redis_config_equal(&d->prev_cfg, &d->cfg) || d->cfg.redis_password_file[0] != '\0') {
        /* A new link republishes this node and resyncs once connected (the password is read again). */
        ipd_info("master", "reload: Redis settings applied");
        ipd_daemon_redis_apply(d);
    } else if (kube_settings_differ(&d->prev_cfg, &d->cfg)) {
        ipd_redis_link_resync(d->redis);
    }
    ipd_info("master", "reload complete: the new workers serve");
    notify_state("READY=1");
}

static void stop(daemon_state_t *d, int fast)
{
    if (d->stopping && !fast)
        return;
    d->stopping = 1;
    notify_state("STOPPING=1");
    ipd_info("master", "%s stop requested", fast ? "fast" : "graceful");
    /* Another daemon takes over the pod selections this one followed at once, not after the
     * lease time; the answers are awaited (briefly) before the link closes, in ipd_daemon_run. */
    ipd_redis_link_release_leases(d->redis);
    if (d->sup != NULL)
        ipd_supervisor_stop(d->sup, fast);
}

static void handle_signals(daemon_state_t *d)
{
    if (got_chld) {
        got_chld = 0;
        if (d->sup != NULL)
            ipd_supervisor_reap(d->sup);
    }
    if (got_quit) {
        got_quit = 0;
        stop(d, 1);
    }
    if (got_term) {
        got_term = 0;
        stop(d, 0);
    }
    if (got_hup) {
        got_hup = 0;
        if (!d->stopping && !d->reload_pending)
            reload(d);
        else if (d->reload_pending)
            got_hup = 1; /* one reload at a time: this one waits for the current to finish */
    }
    if (got_usr1) {
        got_usr1 = 0;
        ipd_daemon_write_stats(d);
    }
}

static int start(daemon_state_t *d)
{
    char err[512];
    int rc;
    if ((rc = ipd_mloop_create(&d->loop)) != 0 || (rc = install_signals(d)) != 0)
        return rc;
    ipd_mloop_io_init(&d->signal_io, d->signal_pipe[0], on_signal_pipe, d);
    if ((rc = ipd_mloop_io_start(d->loop, &d->signal_io, EPOLLIN)) != 0)
        return rc;
    if ((rc = ipd_listeners_open(&d->listeners, &d->cfg, err, sizeof(err))) != 0) {
        ipd_error("master", "%s", err);
        return rc;
    }
    for (size_t i = 0; i < d->listeners.naddr; i++)
        ipd_info("master", "listening on %s:%u", d->listeners.addr[i].host, (unsigned)d->listeners.addr[i].port);
    if ((rc = open_table(d)) != 0 || (rc = ipd_daemon_kube_start(d)) != 0 || (rc = start_workers(d)) != 0)
        return rc;
    ipd_daemon_prepare_stats_dir(d); /* a failure is logged; SIGUSR1 tries again */
    /* Redis down or misconfigured is degraded, never fatal: the daemon serves its own node. */
    ipd_daemon_redis_apply(d);
    ipd_mloop_timer_start(d->loop, &d->tick_timer, TICK_MS);
    if (d->cfg.watchdog && (d->watchdog_usec = ipd_sd_watchdog_usec()) > 0)
        ipd_mloop_timer_start(d->loop, &d->watchdog_timer, d->watchdog_usec / 2000);
    return 0;
}

static void cleanup(daemon_state_t *d)
{
    ipd_redis_link_destroy(d->redis);
    d->redis = NULL;
    ipd_daemon_kube_stop(d);
    ipd_supervisor_destroy(d->sup);
    ipd_listeners_close(&d->listeners);
    /* The table stays: a restarted master reattaches it with its history. */
    ipd_table_destroy(d->table);
    ipd_stats_destroy(d->stats);
    if (d->loop != NULL) {
        ipd_mloop_timer_stop(d->loop, &d->tick_timer);
        ipd_mloop_timer_stop(d->loop, &d->watchdog_timer);
        ipd_mloop_timer_stop(d->loop, &d->publish_timer);
        ipd_mloop_destroy(d->loop);
    }
    signal_write_fd = -1;
    for (int i = 0; i < 2; i++)
        if (d->signal_pipe[i] > 0)
            close(d->signal_pipe[i]);
}

int ipd_daemon_run(const ipd_config_t *cfg, ipd_worker_main_fn worker_main, ipd_worker_check_fn worker_check,
                   uint32_t stats_route_slots)
{
    daemon_state_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -ENOMEM;
    d->cfg = *cfg;
    d->worker_main = worker_main;
    d->worker_check = worker_check;
    d->stats_route_slots = stats_route_slots;
    d->signal_pipe[0] = d->signal_pipe[1] = -1;
    /* Armed by start(); initialised here so that a clean-up after a failed start finds them idle. */
    ipd_mloop_timer_init(&d->tick_timer, on_tick, d);
    ipd_mloop_timer_init(&d->watchdog_timer, on_watchdog, d);
    ipd_mloop_timer_init(&d->publish_timer, on_publish_due, d);
    d->started_at = ipd_model_now();
    ipd_log_set_level((ipd_log_level_t)cfg->log_level);
    int rc = start(d);
    while (rc == 0 && !(d->stopping && (d->sup == NULL || ipd_supervisor_alive(d->sup) == 0))) {
        int n = ipd_mloop_run_once(d->loop, TICK_MS);
        if (n < 0) {
            ipd_error("master", "epoll_wait: %s", strerror(-n));
            rc = n;
            break;
        }
        handle_signals(d);
        if (!d->stopping)
            after_iteration(d);
    }
    /* The leases given back by stop(): their answers, for at most redis_lease_release_wait. */
    uint64_t until = ipd_mloop_clock_ms() + d->cfg.redis_lease_release_wait_ms;
    for (uint64_t now = ipd_mloop_clock_ms(); rc == 0 && ipd_redis_link_releasing(d->redis) > 0 && now < until;
         now = ipd_mloop_clock_ms())
        ipd_mloop_run_once(d->loop, (int)(until - now));
    if (rc == 0)
        ipd_info("master", "stopped");
    cleanup(d);
    free(d);
    return rc;
}
