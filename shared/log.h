/*
 * Logging: one JSON object per line on stderr (journald keeps lines whole), with the time,
 * level, component, pid and message:
 *
 *   {"ts":"2026-11-27T10:00:00.123Z","level":"warn","component":"watch","pid":42,"msg":"..."}
 *
 * Each line is written with one write(2), so lines from the master and its workers never
 * interleave inside a line.
 */
#ifndef IPD_SHARED_LOG_H
#define IPD_SHARED_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum ipd_log_level {
    IPD_LOG_DEBUG = 0,
    IPD_LOG_INFO,
    IPD_LOG_WARN,
    IPD_LOG_ERROR,
} ipd_log_level_t;

/** Messages below `level` are dropped. The default is IPD_LOG_INFO. */
void ipd_log_set_level(ipd_log_level_t level);
ipd_log_level_t ipd_log_get_level(void);
/** Parses "debug", "info", "warn", "error". Returns the level or -1. */
int ipd_log_level_parse(const char *name);
/** Sends lines to `fd` instead of stderr (tests). */
void ipd_log_set_fd(int fd);

/** Logs a printf-style message. `component` is borrowed, e.g. "master", "watch", "worker". */
void ipd_log(ipd_log_level_t level, const char *component, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void ipd_logv(ipd_log_level_t level, const char *component, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/**
 * Logs a line whose `key` holds `json` (borrowed, `len` bytes) as a JSON value, not as a
 * string: {"ts":...,"level":...,"component":...,"pid":...,"msg":"<msg>","<key>":<json>}.
 * The caller guarantees `json` is one valid JSON value without newlines. One write(2).
 */
void ipd_log_json(ipd_log_level_t level, const char *component, const char *msg, const char *key, const char *json,
                  size_t len);

#define ipd_debug(comp, ...) ipd_log(IPD_LOG_DEBUG, comp, __VA_ARGS__)
#define ipd_info(comp, ...)  ipd_log(IPD_LOG_INFO, comp, __VA_ARGS__)
#define ipd_warn(comp, ...)  ipd_log(IPD_LOG_WARN, comp, __VA_ARGS__)
#define ipd_error(comp, ...) ipd_log(IPD_LOG_ERROR, comp, __VA_ARGS__)

#endif
