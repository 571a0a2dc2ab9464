#include "master/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/stats_segment.h"

#define YOUNG_MS 10000 /* a worker that dies younger than this doubles its slot's respawn delay */

typedef struct worker {
    pid_t pid;
    int slot;
    unsigned generation;
    int ring_fd; /* the master's end of the worker's eventfd */
    int block;   /* the stats block the worker counts in, -1 for none */
    uint64_t started_ms;
    int draining;
} worker_t;

typedef struct slot {
    ipd_supervisor_t *sup;
    int index;
    uint64_t backoff_ms;
    ipd_mloop_timer_t respawn;
} slot_t;

struct ipd_supervisor {
    ipd_mloop_t *loop;
    ipd_config_t cfg;      /* the serving generation's */
    ipd_config_t next_cfg; /* the pending generation's, while next_generation != 0 */
    const ipd_listeners_t *listeners;
    ipd_stats_segment_t *stats;
    ipd_worker_main_fn worker_main;
    void (*child_setup)(void *data);
    void *child_setup_data;
    worker_t *workers;
    size_t nworkers, capworkers;
    slot_t slots[IPD_MAX_WORKERS];
    int nslots;
    unsigned generation;      /* the serving generation */
    unsigned next_generation; /* the generation a reload started and not yet committed, or 0 */
    unsigned last_generation; /* the highest generation number given out */
    int next_failed;          /* a worker of next_generation exited or could not be forked */
    int parent_pipe[2];
    pid_t master_pid;
    int stopping;
    ipd_mloop_timer_t drain_timer;
    unsigned long respawns;
};

static int spawn(ipd_supervisor_t *sup, int slot, unsigned generation, const ipd_config_t *cfg);

static void arm_respawn(ipd_supervisor_t *sup, slot_t *s)
{
    ipd_mloop_timer_start(sup->loop, &s->respawn, s->backoff_ms);
}

static void on_respawn(ipd_mloop_timer_t *t)
{
    slot_t *s = t->data;
    if (!s->sup->stopping && spawn(s->sup, s->index, s->sup->generation, &s->sup->cfg) != 0)
        arm_respawn(s->sup, s);
}

static void on_drain_deadline(ipd_mloop_timer_t *t)
{
    ipd_supervisor_t *sup = t->data;
    for (size_t i = 0; i < sup->nworkers; i++) {
        if (sup->workers[i].draining) {
            ipd_warn("master", "worker %d (slot %d) still draining after %llu ms: SIGKILL", (int)sup->workers[i].pid,
                     sup->workers[i].slot, (unsigned long long)sup->cfg.reload_drain_timeout_ms);
            kill(sup->workers[i].pid, SIGKILL);
        }
    }
}

/* Slots live in a fixed array sized for the largest `workers` value, so the respawn timers
 * linked in the loop never move. */
static void resize_slots(ipd_supervisor_t *sup, int n)
{
    for (int i = n; i < sup->nslots; i++)
        ipd_mloop_timer_stop(sup->loop, &sup->slots[i].respawn);
    for (int i = sup->nslots; i < n; i++) {
        sup->slots[i] = (slot_t){.sup = sup, .index = i, .backoff_ms = sup->cfg.respawn_backoff_initial_ms};
        ipd_mloop_timer_init(&sup->slots[i].respawn, on_respawn, &sup->slots[i]);
    }
    sup->nslots = n;
}

int ipd_supervisor_create(ipd_mloop_t *loop, const ipd_config_t *cfg, const ipd_listeners_t *listeners,
                          ipd_stats_segment_t *stats, ipd_worker_main_fn worker_main, ipd_supervisor_t **out)
{
    ipd_supervisor_t *sup = calloc(1, sizeof(*sup));
    if (sup == NULL)
        return -ENOMEM;
    sup->loop = loop;
    sup->cfg = *cfg;
    sup->listeners = listeners;
    sup->stats = stats;
    sup->worker_main = worker_main;
    sup->master_pid = getpid();
    ipd_mloop_timer_init(&sup->drain_timer, on_drain_deadline, sup);
    if (pipe2(sup->parent_pipe, O_CLOEXEC) != 0) {
        int err = -errno;
        free(sup);
        ipd_error("master", "pipe2: %s", strerror(-err));
        return err;
    }
    resize_slots(sup, cfg->workers);
    *out = sup;
    return 0;
}

/* In the child: keep stdio, this slot's sockets, the eventfd and the parent pipe; close the rest. */
static void close_inherited(const int *keep, size_t nkeep)
{
    int sorted[IPD_CONFIG_MAX_LISTEN + 2];
    size_t n = 0;
    for (size_t i = 0; i < nkeep; i++) {
        size_t j = n++;
        for (; j > 0 && sorted[j - 1] > keep[i]; j--)
            sorted[j] = sorted[j - 1];
        sorted[j] = keep[i];
    }
    unsigned first = 3;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned)sorted[i] > first)
            close_range(first, (unsigned)sorted[i] - 1, 0);
        if ((unsigned)sorted[i] + 1 > first)
            first = (unsigned)sorted[i] + 1;
    }
    close_range(first, ~0U, 0);
}

static _Noreturn void run_child(ipd_supervisor_t *sup, const worker_t *me, const ipd_config_t *cfg)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != sup->master_pid)
        _exit(1); /* the master died between fork and prctl */
    static const int sigs[] = {SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGPIPE};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], SIG_DFL);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);

    /* The master's writable mappings are not the worker's: it maps what it needs itself. */
    if (sup->child_setup != NULL)
        sup->child_setup(sup->child_setup_data);
    int ring_fd = me->ring_fd;
    ipd_worker_args_t args = {.cfg = cfg,
                              .slot = me->slot,
                              .generation = me->generation,
                              .stats_block = me->block,
                              .listen_fds = ipd_listeners_slot(sup->listeners, me->slot),
                              .nlisten = sup->listeners->naddr,
                              .ring_fd = ring_fd,
                              .parent_fd = sup->parent_pipe[0]};
    int keep[IPD_CONFIG_MAX_LISTEN + 2];
    size_t nkeep = 0;
    for (size_t i = 0; i < args.nlisten; i++)
        keep[nkeep++] = args.listen_fds[i];
    keep[nkeep++] = ring_fd;
    keep[nkeep++] = sup->parent_pipe[0];
    close_inherited(keep, nkeep);
    _exit(sup->worker_main(&args));
}

/* A stats block no live worker counts in: the slot's own if free, else the first free one. */
static int free_block(const ipd_supervisor_t *sup, int slot)
{
    uint32_t n = sup->stats != NULL ? ipd_stats_blocks(sup->stats) : 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t b = ((uint32_t)slot + k) % n;
        size_t i = 0;
        while (i < sup->nworkers && sup->workers[i].block != (int)b)
            i++;
        if (i == sup->nworkers)
            return (int)b;
    }
    return -1;
}

static int spawn(ipd_supervisor_t *sup, int slot, unsigned generation, const ipd_config_t *cfg)
{
    if (sup->nworkers == sup->capworkers) {
        size_t cap = sup->capworkers ? sup->capworkers * 2 : 8;
        worker_t *w = realloc(sup->workers, cap * sizeof(*w));
        if (w == NULL)
            return -ENOMEM;
        sup->workers = w;
        sup->capworkers = cap;
    }
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) {
        int err = -errno;
        ipd_error("master", "eventfd for worker slot %d: %s", slot, strerror(-err));
        return err;
    }
    worker_t w = {.slot = slot,
                  .generation = generation,
                  .ring_fd = efd,
                  .block = free_block(sup, slot),
                  .started_ms = ipd_mloop_clock_ms()};
    pid_t pid = fork();
    if (pid < 0) {
        int err = -errno;
        ipd_error("master", "fork for worker slot %d: %s", slot, strerror(errno));
        close(efd);
        return err;
    }
    if (pid == 0)
        run_child(sup, &w, cfg);
    w.pid = pid;
    sup->workers[sup->nworkers++] = w;
    ipd_info("master", "worker %d started on slot %d (generation %u)", (int)pid, slot, generation);
    return 0;
}

int ipd_supervisor_start(ipd_supervisor_t *sup)
{
    sup->generation = sup->last_generation = 1;
    for (int i = 0; i < sup->nslots; i++) {
        int rc = spawn(sup, i, sup->generation, &sup->cfg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void schedule_respawn(ipd_supervisor_t *sup, const worker_t *w, uint64_t now)
{
    slot_t *s = &sup->slots[w->slot];
    if (now - w->started_ms >= YOUNG_MS) {
        s->backoff_ms = sup->cfg.respawn_backoff_initial_ms;
    }
    ipd_warn("master", "respawning worker slot %d in %llu ms", w->slot, (unsigned long long)s->backoff_ms);
    arm_respawn(sup, s);
    uint64_t next = s->backoff_ms * 2;
    s->backoff_ms = next > sup->cfg.respawn_backoff_max_ms ? sup->cfg.respawn_backoff_max_ms : next;
    sup->respawns++;
}

static void log_exit(const worker_t *w, int status)
{
    if (WIFSIGNALED(status))
        ipd_log(w->draining ? IPD_LOG_INFO : IPD_LOG_ERROR, "master", "worker %d (slot %d) killed by signal %d",
                (int)w->pid, w->slot, WTERMSIG(status));
    else
        ipd_log(w->draining && WEXITSTATUS(status) == 0 ? IPD_LOG_INFO : IPD_LOG_ERROR, "master",
                "worker %d (slot %d) exited with status %d", (int)w->pid, w->slot, WEXITSTATUS(status));
}

int ipd_supervisor_reap(ipd_supervisor_t *sup)
{
    int reaped = 0, status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        size_t i = 0;
        while (i < sup->nworkers && sup->workers[i].pid != pid)
            i++;
        if (i == sup->nworkers)
            continue; /* not a worker (a helper child of the master) */
        worker_t w = sup->workers[i];
        sup->workers[i] = sup->workers[--sup->nworkers];
        close(w.ring_fd);
        log_exit(&w, status);
        /* What the worker held open (connections, streams, subscriptions) died with it. */
        if (w.block >= 0)
            ipd_stats_reset_gauges(sup->stats, (uint32_t)w.block);
        reaped++;
        if (!w.draining && sup->next_generation != 0 && w.generation == sup->next_generation) {
            ipd_error("master", "worker %d of the reloaded configuration died before it served", (int)w.pid);
            sup->next_failed = 1;
            continue;
        }
        if (!w.draining && !sup->stopping && w.generation == sup->generation && w.slot < sup->nslots)
            schedule_respawn(sup, &w, ipd_mloop_clock_ms());
    }
    int draining = 0;
    for (size_t i = 0; i < sup->nworkers; i++)
        draining |= sup->workers[i].draining;
    if (!draining)
        ipd_mloop_timer_stop(sup->loop, &sup->drain_timer);
    return reaped;
}

void ipd_supervisor_notify_ring(ipd_supervisor_t *sup)
{
    uint64_t one = 1;
    for (size_t i = 0; i < sup->nworkers; i++) {
        /* EAGAIN means the counter is saturated: the worker has a wake-up pending anyway. */
        ssize_t n = write(sup->workers[i].ring_fd, &one, sizeof(one));
        (void)n;
    }
}

static void drain_old(ipd_supervisor_t *sup, int sig)
{
    for (size_t i = 0; i < sup->nworkers; i++) {
        worker_t *w = &sup->workers[i];
        if (w->generation != sup->generation || sup->stopping) {
            w->draining = 1;
            kill(w->pid, sig);
        }
    }
    ipd_mloop_timer_start(sup->loop, &sup->drain_timer, sup->cfg.reload_drain_timeout_ms);
}

int ipd_supervisor_reload(ipd_supervisor_t *sup, const ipd_config_t *cfg)
{
    if (sup->next_generation != 0 || sup->stopping)
        return -EBUSY;
    if (cfg->workers > IPD_MAX_WORKERS)
        return -EINVAL;
    sup->next_cfg = *cfg;
    sup->next_generation = ++sup->last_generation;
    sup->next_failed = 0;
    for (int i = 0; i < cfg->workers; i++) {
        if (spawn(sup, i, sup->next_generation, &sup->next_cfg) != 0) {
            sup->next_failed = 1;
            break;
        }
    }
    return 0;
}

ipd_reload_state_t ipd_supervisor_reload_state(const ipd_supervisor_t *sup)
{
    if (sup->next_generation == 0)
        return IPD_RELOAD_NONE;
    if (sup->next_failed)
        return IPD_RELOAD_FAILED;
    for (int slot = 0; slot < sup->next_cfg.workers; slot++) {
        size_t i = 0;
        while (i < sup->nworkers &&
               !(sup->workers[i].slot == slot && sup->workers[i].generation == sup->next_generation))
            i++;
        if (i == sup->nworkers)
            return IPD_RELOAD_PENDING;
        const worker_t *w = &sup->workers[i];
        /* A worker claims its stats block once it has set up everything, that is, when it serves. */
        const ipd_stats_block_t *b = w->block >= 0 ? ipd_stats_block(sup->stats, (uint32_t)w->block) : NULL;
        if (b != NULL && atomic_load_explicit(&b->pid, memory_order_acquire) != (uint64_t)w->pid)
            return IPD_RELOAD_PENDING;
    }
    return IPD_RELOAD_SERVING;
}

void ipd_supervisor_reload_commit(ipd_supervisor_t *sup)
{
    if (sup->next_generation == 0)
        return;
    sup->cfg = sup->next_cfg;
    sup->generation = sup->next_generation;
    sup->next_generation = 0;
    resize_slots(sup, sup->cfg.workers);
    for (int i = 0; i < sup->nslots; i++) {
        ipd_mloop_timer_stop(sup->loop, &sup->slots[i].respawn);
        sup->slots[i].backoff_ms = sup->cfg.respawn_backoff_initial_ms;
    }
    drain_old(sup, SIGTERM);
}

void ipd_supervisor_reload_abort(ipd_supervisor_t *sup)
{
    if (sup->next_generation == 0)
        return;
    for (size_t i = 0; i < sup->nworkers; i++) {
        worker_t *w = &sup->workers[i];
        if (w->generation == sup->next_generation) {
            w->draining = 1;
            kill(w->pid, SIGKILL);
        }
    }
    sup->next_generation = 0;
    sup->next_failed = 0;
    /* A slot of the serving generation that lost its worker meanwhile gets one again. */
    for (int i = 0; i < sup->nslots; i++)
        if (ipd_supervisor_pid(sup, i) == 0 && !ipd_mloop_timer_active(&sup->slots[i].respawn))
            arm_respawn(sup, &sup->slots[i]);
}

void ipd_supervisor_stop(ipd_supervisor_t *sup, int fast)
{
    sup->stopping = 1;
    for (int i = 0; i < sup->nslots; i++)
        ipd_mloop_timer_stop(sup->loop, &sup->slots[i].respawn);
    drain_old(sup, fast ? SIGQUIT : SIGTERM);
}

void ipd_supervisor_set_child_setup(ipd_supervisor_t *sup, void (*fn)(void *data), void *data)
{
    sup->child_setup = fn;
    sup->child_setup_data = data;
}

size_t ipd_supervisor_alive(const ipd_supervisor_t *sup)
{
    return sup->nworkers;
}

pid_t ipd_supervisor_pid(const ipd_supervisor_t *sup, int slot)
{
    for (size_t i = 0; i < sup->nworkers; i++)
        if (sup->workers[i].slot == slot && sup->workers[i].generation == sup->generation && !sup->workers[i].draining)
            return sup->workers[i].pid;
    return 0;
}

int ipd_supervisor_healthy(const ipd_supervisor_t *sup)
{
    for (int i = 0; i < sup->nslots; i++)
        if (ipd_supervisor_pid(sup, i) == 0)
            return 0;
    return 1;
}

unsigned long ipd_supervisor_respawns(const ipd_supervisor_t *sup)
{
    return sup->respawns;
}

void ipd_supervisor_destroy(ipd_supervisor_t *sup)
{
    if (sup == NULL)
        return;
    for (size_t i = 0; i < sup->nworkers; i++)
        kill(sup->workers[i].pid, SIGKILL);
    for (size_t i = 0; i < sup->nworkers; i++) {
        waitpid(sup->workers[i].pid, NULL, 0);
        close(sup->workers[i].ring_fd);
    }
    for (int i = 0; i < sup->nslots; i++)
        ipd_mloop_timer_stop(sup->loop, &sup->slots[i].respawn);
    ipd_mloop_timer_stop(sup->loop, &sup->drain_timer);
    close(sup->parent_pipe[0]);
    close(sup->parent_pipe[1]);
    free(sup->workers);
    free(sup);
}
