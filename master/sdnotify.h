/*
 * The systemd notification protocol, without libsystemd: datagrams such as "READY=1" sent to
 * the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
 * Without $NOTIFY_SOCKET every call is a successful no-op, so the daemon runs the same way
 * under systemd, in a test that binds its own socket, or from a shell.
 */
#ifndef IPD_MASTER_SDNOTIFY_H
#define IPD_MASTER_SDNOTIFY_H

#include <stdint.h>

/** Sends one notification ("READY=1", "STATUS=...", several lines joined by \n). 0 or -errno. */
int ipd_sd_notify(const char *state);
/** printf-style ipd_sd_notify. */
int ipd_sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * Returns the watchdog interval in microseconds from $WATCHDOG_USEC when it is meant for this
 * process ($WATCHDOG_PID absent or equal to getpid()), else 0 (no watchdog).
 */
uint64_t ipd_sd_watchdog_usec(void);

#endif
