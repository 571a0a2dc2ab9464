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

#define YOUNG_MS 10000 /* a worker that dies younger than this doubles its slot's respawn delay */

typedef struct worker {
    pid_t pid;
    int slot;
    unsigned generation;
    int ring_fd; /* the master's end of the worker's eventfd */
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
    ipd_config_t cfg;
    const ipd_listeners_t *listeners;
    ipd_worker_main_fn worker_main;
    worker_t *workers;
    size_t nworkers, capworkers;
    slot_t slots[IPD_MAX_WORKERS];
    int nslots;
    unsigned generation;
    int parent_pipe[2];
    pid_t master_pid;
    int stopping;
    ipd_mloop_timer_t drain_timer;
    unsigned long respawns;
};

static int spawn(ipd_supervisor_t *sup, int slot);

static void on_respawn(ipd_mloop_timer_t *t)
{
    slot_t *s = t->data;
    if (!s->sup->stopping && spawn(s->sup, s->index) != 0)
        ipd_mloop_timer_start(s->sup->loop, &s->respawn, s->backoff_ms);
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
                          ipd_worker_main_fn worker_main, ipd_supervisor_t **out)
{
    ipd_supervisor_t *sup = calloc(1, sizeof(*sup));
    if (sup == NULL)
        return -ENOMEM;
    sup->loop = loop;
    sup->cfg = *cfg;
    sup->listeners = listeners;
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

static _Noreturn void run_child(ipd_supervisor_t *sup, int slot, int ring_fd)
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

    ipd_worker_args_t args = {.cfg = &sup->cfg,
                              .slot = slot,
                              .generation = sup->generation,
                              .listen_fds = ipd_listeners_slot(sup->listeners, slot),
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

static int spawn(ipd_supervisor_t *sup, int slot)
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
    pid_t pid = fork();
    if (pid < 0) {
        int err = -errno;
        ipd_error("master", "fork for worker slot %d: %s", slot, strerror(errno));
        close(efd);
        return err;
    }
    if (pid == 0)
        run_child(sup, slot, efd);
    sup->workers[sup->nworkers++] = (worker_t){.pid = pid,
                                               .slot = slot,
                                               .generation = sup->generation,
                                               .ring_fd = efd,
                                               .started_ms = ipd_mloop_clock_ms()};
    ipd_info("master", "worker %d started on slot %d (generation %u)", (int)pid, slot, sup->generation);
    return 0;
}

int ipd_supervisor_start(ipd_supervisor_t *sup)
{
    sup->generation = 1;
    for (int i = 0; i < sup->nslots; i++) {
        int rc = spawn(sup, i);
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
    ipd_mloop_timer_start(sup->loop, &s->respawn, s->backoff_ms);
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
        reaped++;
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
    sup->cfg = *cfg;
    resize_slots(sup, cfg->workers);
    sup->generation++;
    for (int i = 0; i < sup->nslots; i++) {
        ipd_mloop_timer_stop(sup->loop, &sup->slots[i].respawn);
        sup->slots[i].backoff_ms = cfg->respawn_backoff_initial_ms;
        if (spawn(sup, i) != 0)
            ipd_mloop_timer_start(sup->loop, &sup->slots[i].respawn, sup->slots[i].backoff_ms);
    }
    drain_old(sup, SIGTERM);
    return 0;
}

void ipd_supervisor_stop(ipd_supervisor_t *sup, int fast)
{
    sup->stopping = 1;
    for (int i = 0; i < sup->nslots; i++)
        ipd_mloop_timer_stop(sup->loop, &sup->slots[i].respawn);
    drain_old(sup, fast ? SIGQUIT : SIGTERM);
}

size_t ipd_supervisor_alive(const ipd_supervisor_t *sup)
{
    return sup->nworkers;
}

pid_t ipd_supervisor_pid(const ipd_supervisor_t *sup, int slot)
{
    for (size_t i = 0; i < sup->nworkers; i++)
        if (sup->workers[i].slot == slot && sup->workers[i].generation == sup->generation &&
            !sup->workers[i].draining)
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
