#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/at.h"
#include "master/listeners.h"

/* A configuration with `workers` slots and the listen addresses given as host, port pairs. */
static void config_of(ipd_config_t *cfg, int workers, size_t naddr, const char *const *hosts, const uint16_t *ports)
{
    ipd_config_init(cfg);
    cfg->workers = workers;
    cfg->listen_count = naddr;
    for (size_t i = 0; i < naddr; i++) {
        snprintf(cfg->listen[i].host, sizeof(cfg->listen[i].host), "%s", hosts[i]);
        cfg->listen[i].port = ports[i];
    }
}

/* config_of, then opens the listeners of `cfg` into `l`; fails the test otherwise. */
#define open_of(...) open_of_at(IPD_AT, __VA_ARGS__)
static void open_of_at(const char *file, int line, ipd_config_t *cfg, ipd_listeners_t *l, int workers, size_t naddr,
                       const char *const *hosts, const uint16_t *ports)
{
    char err[256] = "";
    config_of(cfg, workers, naddr, hosts, ports);
    memset(l, 0, sizeof(*l));
    int rc = ipd_listeners_open(l, cfg, err, sizeof(err));
    ipd_assert_at(file, line, rc == 0, "open: %d %s", rc, err);
}

/* open_of with `workers` slots on the one address 127.0.0.1, port 0 (any free one). */
#define open_loopback(cfg, l, workers) open_loopback_at(IPD_AT, cfg, l, workers)
static void open_loopback_at(const char *file, int line, ipd_config_t *cfg, ipd_listeners_t *l, int workers)
{
    static const char *const hosts[] = {"127.0.0.1"};
    static const uint16_t ports[] = {0};
    open_of_at(file, line, cfg, l, workers, 1, hosts, ports);
}

/* Reconciles `l` with `cfg`; fails the test unless it succeeds. */
#define reconcile_ok(l, cfg) reconcile_ok_at(IPD_AT, l, cfg)
static void reconcile_ok_at(const char *file, int line, ipd_listeners_t *l, const ipd_config_t *cfg)
{
    char err[256] = "";
    int rc = ipd_listeners_reconcile(l, cfg, err, sizeof(err));
    ipd_assert_at(file, line, rc == 0, "reconcile: %d %s", rc, err);
}

static uint16_t local_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0, "getsockname(%d): %s", fd, strerror(errno));
    cr_assert_eq(sa.sin_family, AF_INET);
    return ntohs(sa.sin_port);
}

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

static size_t open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    size_t n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* A plain listening socket without SO_REUSEPORT, so that nothing else can bind its port. */
static int exclusive_listener(const char *host, uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    cr_assert_eq(inet_pton(AF_INET, host, &sa.sin_addr), 1);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind: %s", strerror(errno));
    cr_assert_eq(listen(fd, 1), 0);
    *port = local_port(fd);
    return fd;
}

static void copy_fds(const ipd_listeners_t *l, int *out)
{
    memcpy(out, l->fds, l->naddr * (size_t)l->nslots * sizeof(int));
}

Test(listeners, slots_share_one_real_port_with_reuseport)
{
    ipd_config_t cfg;
    ipd_listeners_t l;
    open_loopback(&cfg, &l, 3);
    cr_assert_eq(l.naddr, 1);
    cr_assert_eq(l.nslots, 3);
    cr_assert_eq(l.asked[0].port, 0, "the configured address keeps its port 0");
    uint16_t port = l.addr[0].port;
    cr_assert_neq(port, 0);
    for (int s = 0; s < 3; s++) {
        int fd = ipd_listeners_slot(&l, s)[0];
        cr_assert_eq(fd, l.fds[s]);
        cr_assert_eq(local_port(fd), port, "slot %d bound another port", s);
        int one = 0;
        socklen_t len = sizeof(one);
        cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, &len), 0);
        cr_assert_neq(one, 0, "slot %d lacks SO_REUSEPORT", s);
        cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
        for (int o = 0; o < s; o++)
            cr_assert_neq(fd, l.fds[o]);
    }

    /* A connection to the port lands on exactly one of the three sockets. */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s", strerror(errno));
    struct pollfd pfd[3];
    for (int s = 0; s < 3; s++)
        pfd[s] = (struct pollfd){.fd = l.fds[s], .events = POLLIN};
    cr_assert_eq(poll(pfd, 3, 5000), 1, "exactly one socket has the connection queued");
    int accepted = 0;
    for (int s = 0; s < 3; s++) {
        int a = accept(l.fds[s], NULL, NULL);
        if (a >= 0) {
            accepted++;
            close(a);
        } else {
            cr_assert_eq(errno, EAGAIN);
        }
    }
    cr_assert_eq(accepted, 1);
    close(c);
    ipd_listeners_close(&l);
    cr_assert_null(l.fds);
}

Test(listeners, reconcile_with_the_same_config_keeps_the_same_fds)
{
    ipd_config_t cfg;
    ipd_listeners_t l;
    int before[3];
    open_loopback(&cfg, &l, 3);
    copy_fds(&l, before);
    uint16_t port = l.addr[0].port;
    size_t nfds = open_fd_count();
    reconcile_ok(&l, &cfg);
    cr_assert_eq(open_fd_count(), nfds, "reconcile opened or closed sockets");
    cr_assert_eq(l.addr[0].port, port);
    for (int s = 0; s < 3; s++) {
        cr_assert_eq(l.fds[s], before[s]);
        cr_assert(fd_is_open(l.fds[s]));
        cr_assert_eq(local_port(l.fds[s]), port);
    }
    ipd_listeners_close(&l);
    for (int s = 0; s < 3; s++)
        cr_assert_not(fd_is_open(before[s]));
}

Test(listeners, reconcile_adding_an_address_keeps_the_old_sockets)
{
    ipd_config_t cfg;
    ipd_listeners_t l;
    const char *hosts[] = {"127.0.0.1", "127.0.0.2"};
    const uint16_t ports[] = {0, 0};
    int before[2];
    open_of(&cfg, &l, 2, 1, hosts, ports);
    copy_fds(&l, before);
    uint16_t port0 = l.addr[0].port;

    config_of(&cfg, 2, 2, hosts, ports);
    reconcile_ok(&l, &cfg);
    cr_assert_eq(l.naddr, 2);
    cr_assert_eq(l.nslots, 2);
    cr_assert_eq(l.addr[0].port, port0);
    uint16_t port1 = l.addr[1].port;
    cr_assert_neq(port1, 0);
    for (int s = 0; s < 2; s++) {
        const int *fds = ipd_listeners_slot(&l, s);
        cr_assert_eq(fds[0], before[s], "slot %d lost its socket on the kept address", s);
        cr_assert(fd_is_open(fds[0]));
        cr_assert(fd_is_open(fds[1]));
        cr_assert_neq(fds[1], before[0]);
        cr_assert_neq(fds[1], before[1]);
        cr_assert_eq(local_port(fds[1]), port1);
    }
    cr_assert_neq(ipd_listeners_slot(&l, 0)[1], ipd_listeners_slot(&l, 1)[1]);
    ipd_listeners_close(&l);
}

Test(listeners, reconcile_removing_an_address_closes_its_sockets)
{
    ipd_config_t cfg;
    ipd_listeners_t l;
    const char *hosts[] = {"127.0.0.1", "127.0.0.2"};
    const uint16_t ports[] = {0, 0};
    open_of(&cfg, &l, 2, 2, hosts, ports);
    int gone[2] = {ipd_listeners_slot(&l, 0)[0], ipd_listeners_slot(&l, 1)[0]};
    int kept[2] = {ipd_listeners_slot(&l, 0)[1], ipd_listeners_slot(&l, 1)[1]};
    uint16_t kept_port = l.addr[1].port;

    config_of(&cfg, 2, 1, hosts + 1, ports + 1);
    reconcile_ok(&l, &cfg);
    cr_assert_eq(l.naddr, 1);
    cr_assert_str_eq(l.addr[0].host, "127.0.0.2");
    cr_assert_eq(l.addr[0].port, kept_port);
    for (int s = 0; s < 2; s++) {
        cr_assert_eq(ipd_listeners_slot(&l, s)[0], kept[s]);
        cr_assert(fd_is_open(kept[s]));
        errno = 0;
        cr_assert_eq(fcntl(gone[s], F_GETFD), -1, "socket of the removed address still open");
        cr_assert_eq(errno, EBADF);
    }
    ipd_listeners_close(&l);
}

Test(listeners, reconcile_to_fewer_slots_closes_the_extra)
{
    ipd_config_t cfg;
    ipd_listeners_t l;
    int before[3];
    open_loopback(&cfg, &l, 3);
    copy_fds(&l, before);
    cfg.workers = 1;
    reconcile_ok(&l, &cfg);
    cr_assert_eq(l.nslots, 1);
    cr_assert_eq(l.fds[0], before[0]);
    cr_assert(fd_is_open(before[0]));
    cr_assert_not(fd_is_open(before[1]));
    cr_assert_not(fd_is_open(before[2]));
    ipd_listeners_close(&l);
}

Test(listeners, reconcile_to_more_slots_binds_the_resolved_port)
{
    ipd_config_t cfg;
    ipd_listeners_t l;
    open_loopback(&cfg, &l, 1);
    int first = l.fds[0];
    uint16_t port = l.addr[0].port;
    cfg.workers = 3;
    reconcile_ok(&l, &cfg);
    cr_assert_eq(l.nslots, 3);
    cr_assert_eq(l.fds[0], first);
    for (int s = 0; s < 3; s++)
        cr_assert_eq(local_port(l.fds[s]), port, "slot %d did not join port %u", s, (unsigned)port);
    ipd_listeners_close(&l);
}

Test(listeners, reconcile_follows_reordered_addresses)
{
    ipd_config_t cfg;
    ipd_listeners_t l;
    const char *hosts[] = {"127.0.0.1", "127.0.0.2"}, *swapped[] = {"127.0.0.2", "127.0.0.1"};
    const uint16_t ports[] = {0, 0};
    open_of(&cfg, &l, 2, 2, hosts, ports);
    int before[4];
    copy_fds(&l, before);
    config_of(&cfg, 2, 2, swapped, ports);
    reconcile_ok(&l, &cfg);
    for (int s = 0; s < 2; s++) {
        cr_assert_eq(ipd_listeners_slot(&l, s)[0], before[s * 2 + 1]);
        cr_assert_eq(ipd_listeners_slot(&l, s)[1], before[s * 2 + 0]);
    }
    for (int i = 0; i < 4; i++)
        cr_assert(fd_is_open(before[i]));
    ipd_listeners_close(&l);
}

Test(listeners, bind_error_names_the_address_and_keeps_the_old_set)
{
    ipd_config_t cfg;
    ipd_listeners_t l;
    char err[256] = "";
    uint16_t busy;
    int blocker = exclusive_listener("127.0.0.1", &busy);
    const char *hosts[] = {"127.0.0.1", "127.0.0.2", "127.0.0.1"};
    uint16_t ports[] = {0, 0, busy};
    open_of(&cfg, &l, 2, 1, hosts, ports);
    int before[2];
    copy_fds(&l, before);
    uint16_t port = l.addr[0].port;
    size_t nfds = open_fd_count();

    /* The second new address fails after the first one's sockets were opened. */
    config_of(&cfg, 2, 3, hosts, ports);
    int rc = ipd_listeners_reconcile(&l, &cfg, err, sizeof(err));
    cr_assert_eq(rc, -EADDRINUSE, "rc %d: %s", rc, err);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%u", (unsigned)busy);
    cr_assert_not_null(strstr(err, want), "error \"%s\" does not name %s", err, want);
    cr_assert_not_null(strstr(err, "bind"), "error \"%s\" does not name the call", err);
    cr_assert_eq(open_fd_count(), nfds, "a failed reconcile left sockets open");
    cr_assert_eq(l.naddr, 1);
    cr_assert_eq(l.nslots, 2);
    cr_assert_eq(l.addr[0].port, port);
    for (int s = 0; s < 2; s++) {
        cr_assert_eq(l.fds[s], before[s]);
        cr_assert(fd_is_open(before[s]));
        cr_assert_eq(local_port(before[s]), port);
    }
    ipd_listeners_close(&l);

    /* Opening from scratch fails the same way and leaves nothing open. */
    nfds = open_fd_count();
    memset(&l, 0, sizeof(l));
    err[0] = '\0';
    cr_assert_eq(ipd_listeners_open(&l, &cfg, err, sizeof(err)), -EADDRINUSE);
    cr_assert_not_null(strstr(err, want));
    cr_assert_null(l.fds);
    cr_assert_eq(open_fd_count(), nfds);
    close(blocker);
}
