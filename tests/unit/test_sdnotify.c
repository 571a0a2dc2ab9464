#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "master/sdnotify.h"

static int bind_dgram(char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/ipd-notify-%d.sock", (int)getpid());
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

Test(sdnotify, sends_datagram_to_notify_socket)
{
    char path[108], buf[256];
    int fd = bind_dgram(path, sizeof(path));
    setenv("NOTIFY_SOCKET", path, 1);
    cr_assert_eq(ipd_sd_notify("READY=1"), 0);
    cr_assert_eq(ipd_sd_notifyf("STATUS=jobs %d", 7), 0);
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    cr_assert_eq(n, 7);
    buf[n] = '\0';
    cr_assert_str_eq(buf, "READY=1");
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    buf[n] = '\0';
    cr_assert_str_eq(buf, "STATUS=jobs 7");
    close(fd);
    unlink(path);
    unsetenv("NOTIFY_SOCKET");
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * A manager that stops reading (its queue holds net.unix.max_dgram_qlen datagrams) must not
 * stall the master's loop: a blocking sendto() waited until the reader read again, and a
 * daemon whose /readyz waited on its loop never recovered. Periodic notifications are dropped
 * at once; a state change waits IPD_SD_STATE_WAIT_MS, not longer.
 */
Test(sdnotify, a_full_manager_queue_never_blocks_the_sender, .timeout = 20)
{
    char path[108], buf[64];
    int fd = bind_dgram(path, sizeof(path));
    setenv("NOTIFY_SOCKET", path, 1);
    int rc = 0, sent = 0;
    uint64_t start = now_ms();
    while (sent < 100000 && (rc = ipd_sd_notify("WATCHDOG=1")) == 0)
        sent++;
    cr_assert_eq(rc, -EAGAIN, "after %d datagrams: %d", sent, rc);
    cr_assert_gt(sent, 0);
    cr_assert_eq(ipd_sd_notifyf("STATUS=jobs %d", 1), -EAGAIN);
    cr_assert_lt(now_ms() - start, 2000u, "the periodic sends waited for the reader");
    start = now_ms();
    cr_assert_eq(ipd_sd_notify_state("READY=1"), -EAGAIN);
    uint64_t waited = now_ms() - start;
    cr_assert_geq(waited, IPD_SD_STATE_WAIT_MS - 50, "the state change did not wait for room: %llu ms",
                  (unsigned long long)waited);
    cr_assert_lt(waited, IPD_SD_STATE_WAIT_MS + 2000u, "the state change waited %llu ms", (unsigned long long)waited);
    /* Room again: the state change goes through, after what was queued. */
    cr_assert_eq(recv(fd, buf, sizeof(buf), 0), 10);
    cr_assert_eq(ipd_sd_notify_state("READY=1"), 0);
    close(fd);
    unlink(path);
    unsetenv("NOTIFY_SOCKET");
}

Test(sdnotify, without_socket_is_a_noop_and_relative_path_is_rejected)
{
    unsetenv("NOTIFY_SOCKET");
    cr_assert_eq(ipd_sd_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    cr_assert_lt(ipd_sd_notify("READY=1"), 0);
    unsetenv("NOTIFY_SOCKET");
}

Test(sdnotify, watchdog_interval_only_for_this_pid)
{
    char pid[32];
    setenv("WATCHDOG_USEC", "30000000", 1);
    unsetenv("WATCHDOG_PID");
    cr_assert_eq(ipd_sd_watchdog_usec(), 30000000u);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    cr_assert_eq(ipd_sd_watchdog_usec(), 30000000u);
    setenv("WATCHDOG_PID", "1", 1);
    cr_assert_eq(ipd_sd_watchdog_usec(), 0u);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    cr_assert_eq(ipd_sd_watchdog_usec(), 0u);
}
