/*
 * The systemd notification protocol, without libsystemd: datagrams such as "READY=1" sent to
 * the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
 * Without $NOTIFY_SOCKET every call is a successful no-op, so the daemon runs the same way
 * under systemd, in a test that binds its own socket, or from a shell.
 */
#ifndef IPD_MASTER_SDNOTIFY_H
#define IPD_MASTER_SDNOTIFY_H

#include <stdint.h>

/** How long a state change (ipd_sd_notify_state) waits for room in the manager's queue. */
#define IPD_SD_STATE_WAIT_MS 1000

/**
 * Sends one periodic notification ("WATCHDOG=1", "STATUS=...") without waiting: when the
 * manager's receive queue is full (it has not read the last net.unix.max_dgram_qlen datagrams)
 * the datagram is dropped and -EAGAIN returned, so the caller's loop never stalls on a manager
 * that is busy or a listener that stopped reading; the next one carries the news. 0 or -errno.
 */
int ipd_sd_notify(const char *state);
/** printf-style ipd_sd_notify. */
int ipd_sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/**
 * Sends a state change the manager must see ("READY=1", "RELOADING=1", "STOPPING=1", with
 * STATUS= lines joined by \n): waits at most IPD_SD_STATE_WAIT_MS for room in
 * the manager's queue, then gives up with -EAGAIN. 0 or -errno.
 */
int ipd_sd_notify_state(const char *state);

/**
 * Returns the watchdog interval in microseconds from $WATCHDOG_USEC when it is meant for this
 * process ($WATCHDOG_PID absent or equal to getpid()), else 0 (no watchdog).
 */
uint64_t ipd_sd_watchdog_usec(void);

#endif
