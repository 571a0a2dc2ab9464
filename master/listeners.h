/*
 * The listening sockets: one SO_REUSEPORT socket per (listen address, worker slot), opened by
 * the master and kept for its lifetime. Worker i serves the sockets of slot i; a respawned
 * worker i gets the same sockets, so the connections queued on them survive the crash. The
 * kernel spreads new connections over the slots by 4-tuple hash.
 *
 * A listen address with port 0 gets a port from the kernel on its first socket; the other
 * slots then bind that same port (tests choose ports this way). An address some other socket
 * listens on already (a second daemon, whose SO_REUSEPORT sockets would share it) is refused.
 */
#ifndef IPD_MASTER_LISTENERS_H
#define IPD_MASTER_LISTENERS_H

#include "proto/error.h"
#include <stddef.h>

#include "shared/config.h"

typedef struct ipd_listeners {
    ipd_config_hostport_t addr[IPD_CONFIG_MAX_LISTEN];  /**< as bound (port 0 resolved) */
    ipd_config_hostport_t asked[IPD_CONFIG_MAX_LISTEN]; /**< as configured */
    size_t naddr;
    int nslots;
    int *fds; /**< owned: naddr * nslots descriptors, slot-major: fds[slot * naddr + addr] */
} ipd_listeners_t;

/**
 * Opens every socket for `cfg->listen` and `cfg->workers` slots into a zeroed `l`. Returns 0,
 * or a negative code with `err` naming the address and the failed call (e.g.
 * "listen 127.0.0.1:80: bind: Permission denied"); nothing stays open on failure.
 */
IPD_MUST_USE int ipd_listeners_open(ipd_listeners_t *l, const ipd_config_t *cfg, char *err, size_t errlen);

/**
 * Brings `l` in line with a reloaded `cfg`: sockets of addresses that stay and slots that stay
 * are kept (their queues survive), new ones are opened, the others closed. On failure `l` is
 * unchanged. Returns 0 or a negative code with `err` set.
 */
IPD_MUST_USE int ipd_listeners_reconcile(ipd_listeners_t *l, const ipd_config_t *cfg, char *err, size_t errlen);

/** The descriptors of `slot` (naddr of them); borrowed from `l`. */
const int *ipd_listeners_slot(const ipd_listeners_t *l, int slot);

/** Closes every socket and frees the array. */
void ipd_listeners_close(ipd_listeners_t *l);

#endif
