#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
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
