#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "master/listeners.h"
#include "common/mloop_wait.h"
#include "master/loop.h"
#include "master/supervisor.h"
#include "shared/log.h"

/*
 * The workers forked here run test_worker_main: they report to the test over a datagram socket
 * in the abstract namespace (the supervisor closes every inherited descriptor it does not hand
 * over, so the worker opens its own), then wait on their ring eventfd and parent pipe.
 */

typedef struct report {
    char kind; /* 'S' started, 'R' ring woke it, 'T' got SIGTERM, 'Q' got SIGQUIT, 'E' parent pipe EOF */
    int pid, slot, nlisten, listen_fd, ring_fd, parent_fd, stray_fds;
    unsigned generation;
    unsigned long long listen_ino;
    uint64_t at_ms; /* the worker's monotonic clock when it sent this */
} report_t;

/* Behaviour of the test workers, set before they are forked. */
static struct sockaddr_un report_addr;
static socklen_t report_addr_len;
static int die_young;            /* exit 1 right after reporting start */
static unsigned ignore_term_gen; /* workers of this generation survive SIGTERM */
static unsigned fail_gen;        /* workers of this generation exit 1 at once, as one that cannot start */

/* The test's side. */
static ipd_mloop_t *loop;
static ipd_listeners_t listeners;
static ipd_config_t cfg;
static ipd_supervisor_t *sup;
static int report_fd = -1, sig_fd = -1;
static ipd_mloop_io_t report_io, sig_io;
static report_t reports[512];
static size_t nreports;
static uint64_t reap_at[64]; /* our clock just before each ipd_supervisor_reap that reaped something */
static size_t nreaps;
static int reaped;

static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
}

static void on_quit(int sig)
{
    (void)sig;
    got_term = 2;
}

static int stray_fds(const ipd_worker_args_t *a)
{
    int n = 0;
    for (int fd = 3; fd < 1024; fd++) {
        int ours = fd == a->ring_fd || fd == a->parent_fd;
        for (size_t i = 0; i < a->nlisten; i++)
            ours |= fd == a->listen_fds[i];
        if (!ours && fcntl(fd, F_GETFD) != -1)
            n++;
    }
    return n;
}

static void send_report(int fd, char kind, const ipd_worker_args_t *a, int stray)
{
    report_t r = {.kind = kind,
                  .pid = (int)getpid(),
                  .slot = a->slot,
                  .nlisten = (int)a->nlisten,
                  .listen_fd = a->nlisten > 0 ? a->listen_fds[0] : -1,
                  .ring_fd = a->ring_fd,
                  .parent_fd = a->parent_fd,
                  .stray_fds = stray,
                  .generation = a->generation,
                  .at_ms = ipd_mloop_clock_ms()};
    struct stat st;
    if (a->nlisten > 0 && fstat(a->listen_fds[0], &st) == 0)
        r.listen_ino = (unsigned long long)st.st_ino;
    ssize_t n = sendto(fd, &r, sizeof(r), 0, (const struct sockaddr *)&report_addr, report_addr_len);
    (void)n;
}

static int test_worker_main(const ipd_worker_args_t *a)
{
    int stray = stray_fds(a);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 2;
    /* SIGTERM and SIGQUIT stay blocked except inside ppoll, so none is missed between checks. */
    sigset_t block, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGQUIT);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    struct sigaction sa = {.sa_handler = on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_quit;
    sigaction(SIGQUIT, &sa, NULL);
    send_report(fd, 'S', a, stray);
    if (die_young || a->generation == fail_gen)
        return 1;
    for (;;) {
        if (got_term == 2) {
            send_report(fd, 'Q', a, 0);
            return 0;
        }
        if (got_term == 1) {
            got_term = 0;
            send_report(fd, 'T', a, 0);
            if (a->generation != ignore_term_gen)
                return 0;
        }
        struct pollfd p[2] = {{.fd = a->ring_fd, .events = POLLIN}, {.fd = a->parent_fd, .events = POLLIN}};
        if (ppoll(p, 2, NULL, &wait_mask) < 0)
            continue;
        if (p[0].revents & POLLIN) {
            uint64_t v;
            if (read(a->ring_fd, &v, sizeof(v)) == sizeof(v))
                send_report(fd, 'R', a, 0);
        }
        if (p[1].revents & (POLLIN | POLLHUP)) {
            char c;
            if (read(a->parent_fd, &c, 1) == 0) {
                send_report(fd, 'E', a, 0);
                return 3;
            }
        }
    }
}

static void on_report(ipd_mloop_io_t *io, uint32_t events)
{
    (void)events;
    report_t r;
    while (recv(io->fd, &r, sizeof(r), MSG_DONTWAIT) == (ssize_t)sizeof(r))
        if (nreports < sizeof(reports) / sizeof(reports[0]))
            reports[nreports++] = r;
}

static void on_sigchld(ipd_mloop_io_t *io, uint32_t events)
{
    (void)events;
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        ;
    if (sup == NULL)
        return;
    uint64_t now = ipd_mloop_clock_ms();
    int n = ipd_supervisor_reap(sup);
    if (n > 0 && nreaps < sizeof(reap_at) / sizeof(reap_at[0]))
        reap_at[nreaps++] = now;
    reaped += n;
}

static void setup(void)
{
    static int seq;
    die_young = 0;
    ignore_term_gen = 0;
    fail_gen = 0;
    nreports = nreaps = 0;
    reaped = 0;
    sup = NULL;
    ipd_log_set_level(IPD_LOG_ERROR);

    memset(&report_addr, 0, sizeof(report_addr));
    report_addr.sun_family = AF_UNIX;
    int len = snprintf(report_addr.sun_path + 1, sizeof(report_addr.sun_path) - 1, "ipd-test-supervisor-%d-%d",
                       (int)getpid(), ++seq);
    report_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
    report_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert_geq(report_fd, 0);
    cr_assert_eq(bind(report_fd, (struct sockaddr *)&report_addr, report_addr_len), 0, "bind: %s", strerror(errno));

    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    cr_assert_eq(sigprocmask(SIG_BLOCK, &chld, NULL), 0);
    sig_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    cr_assert_geq(sig_fd, 0);

    cr_assert_eq(ipd_mloop_create(&loop), 0);
    ipd_mloop_io_init(&report_io, report_fd, on_report, NULL);
    ipd_mloop_io_init(&sig_io, sig_fd, on_sigchld, NULL);
    cr_assert_eq(ipd_mloop_io_start(loop, &report_io, EPOLLIN), 0);
    cr_assert_eq(ipd_mloop_io_start(loop, &sig_io, EPOLLIN), 0);

    ipd_config_init(&cfg);
    snprintf(cfg.listen[0].host, sizeof(cfg.listen[0].host), "127.0.0.1");
    cfg.listen[0].port = 0;
    cfg.listen_count = 1;
    cfg.workers = 2;
    cfg.respawn_backoff_initial_ms = 100;
    cfg.respawn_backoff_max_ms = 400;
    cfg.reload_drain_timeout_ms = 300;
}

static void teardown(void)
{
    ipd_supervisor_destroy(sup);
    sup = NULL;
    ipd_listeners_close(&listeners);
    ipd_mloop_io_stop(loop, &report_io);
    ipd_mloop_io_stop(loop, &sig_io);
    ipd_mloop_destroy(loop);
    close(report_fd);
    close(sig_fd);
}

TestSuite(supervisor, .init = setup, .fini = teardown, .timeout = 60);

#define WAIT_UNTIL(cond, ms) IPD_LOOP_UNTIL(loop, cond, ms, 20)

#define run_for(ms) ipd_loop_run_for(loop, ms)

static size_t count(char kind, unsigned generation)
{
    size_t n = 0;
    for (size_t i = 0; i < nreports; i++)
        n += reports[i].kind == kind && (generation == 0 || reports[i].generation == generation);
    return n;
}

static const report_t *find(char kind, int pid)
{
    for (size_t i = 0; i < nreports; i++)
        if (reports[i].kind == kind && reports[i].pid == pid)
            return &reports[i];
    return NULL;
}

static const report_t *nth(char kind, size_t n)
{
    for (size_t i = 0; i < nreports; i++)
        if (reports[i].kind == kind && n-- == 0)
            return &reports[i];
    return NULL;
}

static void start_workers(int workers)
{
    char err[256] = "";
    cfg.workers = workers;
    cr_assert_eq(ipd_listeners_open(&listeners, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ipd_supervisor_create(loop, &cfg, &listeners, NULL, test_worker_main, &sup), 0);
    cr_assert_eq(ipd_supervisor_start(sup), 0);
    WAIT_UNTIL(count('S', 0) == (size_t)workers, 5000);
}

static int process_exists(pid_t pid)
{
    return kill(pid, 0) == 0;
}

static unsigned long long inode_of(int fd)
{
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    return (unsigned long long)st.st_ino;
}

Test(supervisor, start_forks_one_worker_per_slot_with_its_own_sockets)
{
    start_workers(2);
    cr_assert_eq(ipd_supervisor_alive(sup), 2);
    cr_assert(ipd_supervisor_healthy(sup));
    pid_t pids[2] = {ipd_supervisor_pid(sup, 0), ipd_supervisor_pid(sup, 1)};
    cr_assert_neq(pids[0], 0);
    cr_assert_neq(pids[1], 0);
    cr_assert_neq(pids[0], pids[1]);
    for (int s = 0; s < 2; s++) {
        const report_t *r = find('S', pids[s]);
        cr_assert_not_null(r, "no start report from the pid of slot %d", s);
        cr_assert(process_exists(pids[s]));
        cr_assert_eq(r->slot, s);
        cr_assert_eq(r->generation, 1);
        cr_assert_eq(r->nlisten, 1);
        cr_assert_eq(r->listen_fd, ipd_listeners_slot(&listeners, s)[0]);
        cr_assert_eq(r->listen_ino, inode_of(ipd_listeners_slot(&listeners, s)[0]),
                     "slot %d got another socket than its own", s);
        cr_assert_eq(r->stray_fds, 0, "worker of slot %d inherited %d descriptors it should not hold", s, r->stray_fds);
    }
    cr_assert_neq(find('S', pids[0])->listen_ino, find('S', pids[1])->listen_ino);
    cr_assert_neq(find('S', pids[0])->ring_fd, -1);
    ipd_supervisor_destroy(sup);
    sup = NULL;
    /* Destroy kills and reaps: neither pid exists any more, not even as a zombie. */
    cr_assert_not(process_exists(pids[0]));
    cr_assert_not(process_exists(pids[1]));
}

Test(supervisor, notify_ring_wakes_every_worker)
{
    start_workers(2);
    cr_assert_eq(count('R', 0), 0);
    ipd_supervisor_notify_ring(sup);
    WAIT_UNTIL(count('R', 0) == 2, 5000);
    cr_assert_not_null(find('R', ipd_supervisor_pid(sup, 0)));
    cr_assert_not_null(find('R', ipd_supervisor_pid(sup, 1)));
    /* A worker that read its eventfd is woken again by the next notification. */
    ipd_supervisor_notify_ring(sup);
    WAIT_UNTIL(count('R', 0) == 4, 5000);
}

Test(supervisor, killed_worker_is_respawned_on_its_slot_after_the_initial_backoff)
{
    start_workers(2);
    pid_t keep = ipd_supervisor_pid(sup, 0), victim = ipd_supervisor_pid(sup, 1);
    unsigned long long ino = find('S', victim)->listen_ino;
    cr_assert_eq(kill(victim, SIGKILL), 0);
    WAIT_UNTIL(reaped == 1, 5000);
    cr_assert_eq(ipd_supervisor_alive(sup), 1);
    cr_assert_eq(ipd_supervisor_pid(sup, 1), 0);
    cr_assert_not(ipd_supervisor_healthy(sup));
    cr_assert_eq(ipd_supervisor_respawns(sup), 1);
    WAIT_UNTIL(count('S', 0) == 3, 5000);
    const report_t *r = nth('S', 2);
    cr_assert_eq(r->slot, 1);
    cr_assert_neq(r->pid, victim);
    cr_assert_eq(r->pid, ipd_supervisor_pid(sup, 1));
    cr_assert_eq(r->listen_ino, ino, "the respawned worker must get the same socket");
    uint64_t gap = r->at_ms - reap_at[0];
    cr_assert_geq(gap, cfg.respawn_backoff_initial_ms, "respawned after %llu ms", (unsigned long long)gap);
    cr_assert_lt(gap, cfg.respawn_backoff_initial_ms + 1000, "respawned after %llu ms", (unsigned long long)gap);
    cr_assert_eq(ipd_supervisor_pid(sup, 0), keep);
    cr_assert(ipd_supervisor_healthy(sup));
    cr_assert_eq(ipd_supervisor_alive(sup), 2);
}

Test(supervisor, crash_loop_doubles_the_respawn_delay_up_to_the_cap)
{
    cfg.respawn_backoff_initial_ms = 40;
    cfg.respawn_backoff_max_ms = 160;
    die_young = 1;
    start_workers(1);
    const uint64_t expected[] = {40, 80, 160, 160, 160};
    const size_t n = sizeof(expected) / sizeof(expected[0]);
    WAIT_UNTIL(count('S', 0) == n + 1, 10000);
    cr_assert_geq(nreaps, n);
    for (size_t i = 0; i < n; i++) {
        const report_t *next = nth('S', i + 1);
        cr_assert_eq(next->slot, 0);
        uint64_t gap = next->at_ms - reap_at[i];
        cr_assert_geq(gap, expected[i], "respawn %zu after %llu ms, expected %llu", i, (unsigned long long)gap,
                      (unsigned long long)expected[i]);
        cr_assert_lt(gap, expected[i] + expected[i] / 2 + 50, "respawn %zu after %llu ms, expected %llu", i,
                     (unsigned long long)gap, (unsigned long long)expected[i]);
    }
    cr_assert_geq(ipd_supervisor_respawns(sup), n);
}

Test(supervisor, reload_starts_a_new_generation_and_terminates_the_old)
{
    start_workers(2);
    pid_t old[2] = {ipd_supervisor_pid(sup, 0), ipd_supervisor_pid(sup, 1)};
    unsigned long long ino[2] = {find('S', old[0])->listen_ino, find('S', old[1])->listen_ino};
    ipd_config_t next = cfg;
    cr_assert_eq(ipd_supervisor_reload(sup, &next), 0);
    /* Without a stats segment a new worker serves once forked. */
    cr_assert_eq(ipd_supervisor_reload_state(sup), IPD_RELOAD_SERVING);
    ipd_supervisor_reload_commit(sup);
    cr_assert_eq(ipd_supervisor_reload_state(sup), IPD_RELOAD_NONE);
    pid_t now[2] = {ipd_supervisor_pid(sup, 0), ipd_supervisor_pid(sup, 1)};
    for (int s = 0; s < 2; s++) {
        cr_assert_neq(now[s], 0);
        cr_assert_neq(now[s], old[0]);
        cr_assert_neq(now[s], old[1]);
    }
    WAIT_UNTIL(count('S', 2) == 2 && count('T', 1) == 2 && ipd_supervisor_alive(sup) == 2, 5000);
    for (int s = 0; s < 2; s++) {
        const report_t *r = find('S', now[s]);
        cr_assert_not_null(r);
        cr_assert_eq(r->slot, s);
        cr_assert_eq(r->generation, 2);
        cr_assert_eq(r->listen_ino, ino[s], "generation 2 of slot %d must serve the same socket", s);
        cr_assert_not_null(find('T', old[s]), "old worker of slot %d got no SIGTERM", s);
        cr_assert_null(find('T', now[s]));
        cr_assert_not(process_exists(old[s]));
    }
    cr_assert(ipd_supervisor_healthy(sup));
    /* Old workers that drained are not respawned. */
    run_for(cfg.respawn_backoff_initial_ms * 2);
    cr_assert_eq(count('S', 0), 4);
    cr_assert_eq(ipd_supervisor_respawns(sup), 0);
}

Test(supervisor, a_reload_whose_workers_die_before_serving_keeps_the_old_generation)
{
    fail_gen = 2;
    start_workers(2);
    pid_t old[2] = {ipd_supervisor_pid(sup, 0), ipd_supervisor_pid(sup, 1)};
    cr_assert_eq(ipd_supervisor_reload(sup, &cfg), 0);
    cr_assert_eq(ipd_supervisor_reload(sup, &cfg), -EBUSY, "a second reload while one is pending");
    WAIT_UNTIL(ipd_supervisor_reload_state(sup) == IPD_RELOAD_FAILED, 5000);
    ipd_supervisor_reload_abort(sup);
    cr_assert_eq(ipd_supervisor_reload_state(sup), IPD_RELOAD_NONE);
    WAIT_UNTIL(ipd_supervisor_alive(sup) == 2, 5000);
    run_for(cfg.respawn_backoff_initial_ms * 2);
    /* The old workers never heard SIGTERM, still serve their slots, and nothing was respawned. */
    cr_assert_eq(count('T', 0), 0);
    for (int s = 0; s < 2; s++) {
        cr_assert(process_exists(old[s]));
        cr_assert_eq(ipd_supervisor_pid(sup, s), old[s]);
    }
    cr_assert(ipd_supervisor_healthy(sup));
    /* The first new worker to die fails the reload: the other may be killed before it reports. */
    cr_assert_geq(count('S', 2), 1, "the new generation was not started");
    cr_assert_eq(ipd_supervisor_respawns(sup), 0);
    /* The next reload works. */
    fail_gen = 0;
    cr_assert_eq(ipd_supervisor_reload(sup, &cfg), 0);
    cr_assert_eq(ipd_supervisor_reload_state(sup), IPD_RELOAD_SERVING);
    ipd_supervisor_reload_commit(sup);
    WAIT_UNTIL(count('T', 0) == 2 && count('S', 3) == 2 && ipd_supervisor_alive(sup) == 2, 5000);
    cr_assert_not_null(find('S', ipd_supervisor_pid(sup, 0)));
    cr_assert_eq(find('S', ipd_supervisor_pid(sup, 0))->generation, 3);
}

Test(supervisor, reload_kills_workers_that_ignore_sigterm_after_the_drain_timeout)
{
    ignore_term_gen = 1;
    start_workers(2);
    pid_t old[2] = {ipd_supervisor_pid(sup, 0), ipd_supervisor_pid(sup, 1)};
    uint64_t t0 = ipd_mloop_clock_ms();
    cr_assert_eq(ipd_supervisor_reload(sup, &cfg), 0);
    ipd_supervisor_reload_commit(sup);
    WAIT_UNTIL(count('T', 1) == 2 && count('S', 2) == 2, 5000);
    /* They heard SIGTERM and stay: four processes until the drain deadline. */
    cr_assert_eq(ipd_supervisor_alive(sup), 4);
    cr_assert(process_exists(old[0]));
    WAIT_UNTIL(ipd_supervisor_alive(sup) == 2, 5000);
    uint64_t took = ipd_mloop_clock_ms() - t0;
    cr_assert_geq(took, cfg.reload_drain_timeout_ms, "old workers gone after %llu ms", (unsigned long long)took);
    cr_assert_lt(took, cfg.reload_drain_timeout_ms + 1000, "old workers gone after %llu ms", (unsigned long long)took);
    cr_assert_not(process_exists(old[0]));
    cr_assert_not(process_exists(old[1]));
    cr_assert(ipd_supervisor_healthy(sup));
    cr_assert_eq(ipd_supervisor_respawns(sup), 0);
}

Test(supervisor, graceful_stop_ends_every_worker_without_respawn)
{
    start_workers(2);
    pid_t pids[2] = {ipd_supervisor_pid(sup, 0), ipd_supervisor_pid(sup, 1)};
    ipd_supervisor_stop(sup, 0);
    WAIT_UNTIL(ipd_supervisor_alive(sup) == 0, 5000);
    cr_assert_not_null(find('T', pids[0]));
    cr_assert_not_null(find('T', pids[1]));
    cr_assert_eq(count('Q', 0), 0);
    run_for(cfg.respawn_backoff_initial_ms * 2);
    cr_assert_eq(count('S', 0), 2, "a worker was started after stop");
    cr_assert_eq(ipd_supervisor_respawns(sup), 0);
    cr_assert_eq(ipd_supervisor_alive(sup), 0);
    cr_assert_eq(ipd_supervisor_pid(sup, 0), 0);
    cr_assert_not(ipd_supervisor_healthy(sup));
}

Test(supervisor, fast_stop_sends_sigquit)
{
    start_workers(2);
    ipd_supervisor_stop(sup, 1);
    WAIT_UNTIL(ipd_supervisor_alive(sup) == 0, 5000);
    cr_assert_eq(count('Q', 0), 2);
    cr_assert_eq(count('T', 0), 0);
    run_for(cfg.respawn_backoff_initial_ms * 2);
    cr_assert_eq(count('S', 0), 2);
}

Test(supervisor, worker_sees_eof_on_parent_fd_when_the_master_is_gone)
{
    /* The supervisor kills its workers when destroyed, so the pipe is observed from a worker
     * whose master process exits without destroying anything. That master is a child of the
     * test; the test adopts the orphaned workers to reap them. PR_SET_PDEATHSIG sends the
     * workers SIGTERM, which these ones ignore, so only the pipe can end them. */
    char err[256] = "";
    ignore_term_gen = 1;
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    cr_assert_eq(ipd_listeners_open(&listeners, &cfg, err, sizeof(err)), 0, "%s", err);
    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t master = fork();
    cr_assert_geq(master, 0);
    if (master == 0) {
        ipd_mloop_t *mloop;
        ipd_supervisor_t *msup;
        close(go[1]);
        if (ipd_mloop_create(&mloop) != 0 ||
            ipd_supervisor_create(mloop, &cfg, &listeners, NULL, test_worker_main, &msup) != 0 ||
            ipd_supervisor_start(msup) != 0)
            _exit(1);
        char c;
        ssize_t n = read(go[0], &c, 1);
        _exit(n == 0 ? 0 : 1);
    }
    close(go[0]);
    WAIT_UNTIL(count('S', 0) == 2, 5000);
    cr_assert_eq(count('E', 0), 0);
    close(go[1]);
    WAIT_UNTIL(count('E', 0) == 2, 5000);
    int status;
    cr_assert_eq(waitpid(master, &status, 0), master);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 2; i++) {
        pid_t w = nth('S', (size_t)i)->pid;
        cr_assert_eq(waitpid(w, &status, 0), w);
        cr_assert(WIFEXITED(status));
        cr_assert_eq(WEXITSTATUS(status), 3, "worker %d did not leave through the pipe EOF", (int)w);
    }
}
