/*
 * Internal to the config module (shared/config*.c): the directive table and the helpers the
 * loader, checker and printers share. Other modules use shared/config.h only.
 */
#ifndef IPD_SHARED_CONFIG_TABLE_H
#define IPD_SHARED_CONFIG_TABLE_H

#include "shared/config.h"

#include <stdarg.h>

/** Value types of directives. The string types differ only in their validation. */
typedef enum ipd_config_type {
    IPD_CT_INT,      /**< int, range [min, max] */
    IPD_CT_DURATION, /**< uint64_t milliseconds, range [min, max] */
    IPD_CT_SIZE,     /**< size_t bytes, range [min, max] */
    IPD_CT_BOOL,     /**< bool */
    IPD_CT_ENUM,     /**< int index into enum_names */
    IPD_CT_NAME,     /**< char[]: [A-Za-z0-9_.-], length [min, size-1] */
    IPD_CT_LABEL,    /**< char[]: a DNS label (RFC 1123) */
    IPD_CT_DNSNAME,  /**< char[]: a DNS subdomain (RFC 1123) */
    IPD_CT_GROUP,    /**< char[]: a Unix group name */
    IPD_CT_PATH,     /**< char[]: a file path */
    IPD_CT_URL,      /**< char[]: an http:// or https:// URL */
    IPD_CT_HOSTPORT, /**< ipd_config_hostport_t */
    IPD_CT_ENDPOINT, /**< char[]: host:port, or unix: and an absolute socket path */
    IPD_CT_LISTEN,   /**< list of ipd_config_hostport_t, listener rules */
    IPD_CT_LABELS,   /**< list of char[IPD_CONFIG_LABEL_SIZE] DNS labels */
    IPD_CT_IMAGE,    /**< char[]: a container image reference */
    IPD_CT_ABSPATH,  /**< char[]: an absolute path (inside an image) */
    IPD_CT_TOLERATE, /**< list of char[IPD_CONFIG_TOLER_SIZE] Kubernetes tolerations */
    IPD_CT_HOSTS,    /**< list of char[IPD_CONFIG_WEB_NAME_SIZE]: host names or IP literals, or "*" */
    IPD_CT_ORIGINS,  /**< list of char[IPD_CONFIG_WEB_NAME_SIZE]: http(s)://host[:port] origins, or "*" */
} ipd_config_type_t;

enum {
    IPD_CF_REPEATABLE = 1, /**< a list: the directive may appear several times */
    IPD_CF_AUTO = 2,       /**< accepts "auto", resolved by ipd_config_finalize() */
    IPD_CF_RESTART = 4,    /**< a reload keeps the old value; a restart applies the new one */
    IPD_CF_KUBE = 8,       /**< a reload that changes it restarts the watch with a new Kubernetes client */
};

/** One directive. The table is the single source of names, types, defaults and help. */
typedef struct ipd_config_directive {
    const char *name;           /**< directive name; env var is IMGPULLD_ + upper case */
    ipd_config_type_t type;     /**< value type */
    unsigned flags;             /**< IPD_CF_* */
    size_t offset;              /**< of the field (of the array for lists) in ipd_config_t */
    size_t size;                /**< of the field (of one element for lists) */
    size_t count_offset;        /**< lists: offset of the size_t element count */
    size_t capacity;            /**< lists: number of elements */
    long long min, max;         /**< numbers: range in the field's unit; strings: min length */
    const char *const *choices; /**< enums: NULL-terminated names, index = stored value */
    const char *def;            /**< default, in file syntax ("" = unset); parsed by init */
    const char *doc_default;    /**< what the reference shows instead of def, or NULL */
    const char *example;        /**< value shown in the example file when def is "" */
    const char *flag;           /**< command-line flag that sets it, or NULL */
    const char *section;        /**< starts a new section of the reference, or NULL */
    const char *help;           /**< one or two sentences for operators */
} ipd_config_directive_t;

/** The table, in the order of the reference and of ipd_config_t's bookkeeping arrays. */
extern const ipd_config_directive_t ipd_config_table[];
/** Number of rows in ipd_config_table. */
extern const size_t ipd_config_table_len;

/** Returns the row named `name`, or NULL. */
const ipd_config_directive_t *ipd_config_find(const char *name);
/** Returns the name of the row closest to `name` (a likely typo), or NULL. */
const char *ipd_config_suggest(const char *name);
/** Index of `row` in the table. */
size_t ipd_config_index(const ipd_config_directive_t *row);

/**
 * Applies `n` values to `row` at layer `source` (see ipd_config_set). `where` names the place
 * for messages. Returns 0 or IPD_EINVAL with the message in `err`.
 */
int ipd_config_apply(ipd_config_t *cfg, const ipd_config_directive_t *row, const char *const *values, size_t n,
                     ipd_config_source_t source, const char *where, char *err, size_t errlen);

/** Writes "<where>: <name>: <message>" into `err` and returns IPD_EINVAL. `name` may be NULL. */
int ipd_config_fail(char *err, size_t errlen, const char *where, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/** Reports directive `name` as unknown, suggesting a close match. Returns IPD_EINVAL. */
int ipd_config_fail_unknown(char *err, size_t errlen, const char *where, const char *name);

/** Formats the value of `row` in `cfg` in file syntax (lists space-separated, strings quoted as needed). */
void ipd_config_format_value(const ipd_config_t *cfg, const ipd_config_directive_t *row, char *buf, size_t len);

/** Formats milliseconds with the largest unit that divides them exactly ("90s", "5m", "250ms"). */
void ipd_config_format_duration(uint64_t ms, char *buf, size_t len);
/** Formats bytes with the largest binary suffix that divides them exactly ("64k", "1m", "100"). */
void ipd_config_format_size(uint64_t bytes, char *buf, size_t len);
/** Writes `text` quoted and escaped if it is empty or holds spaces, quotes, `#` or `\`. */
void ipd_config_quote(const char *text, char *buf, size_t len);

/** ipd_config_parse_hostport() that also sets `*why` to a static reason on failure. */
int ipd_config_parse_hostport_why(const char *text, bool listener, ipd_config_hostport_t *out, const char **why);

/** Validators of the string types: NULL when `text` is valid, else a static reason. */
const char *ipd_config_check_string(ipd_config_type_t type, const char *text);

#endif
