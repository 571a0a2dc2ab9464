/*
 * Configuration: every setting of the daemon, its default, and how it is loaded.
 *
 * Settings come in four layers; a later layer overrides an earlier one:
 *
 *   built-in defaults  <  config file  <  IMGPULLD_<DIRECTIVE> environment  <  command-line flags
 *
 * One table (shared/config.c) describes each directive once: its name, type, range, default
 * and help text. Parsing, validation, `--print-config`, the Markdown reference in
 * docs/operations.md and systemd/imgpulld.conf.example are all derived from that table.
 *
 * File syntax: one directive per line, `name value [value...]`; `#` starts a comment outside
 * quotes; blank lines are ignored; a value may be double-quoted, with `\"` and `\\` as the only
 * escapes. Directives marked repeatable (listen, log_namespace) append within a layer, and the
 * first occurrence in a higher layer replaces the lower layer's list. `include PATH` reads
 * another file in place (relative paths are resolved against the including file's directory).
 *
 * ipd_config_t holds no pointers: it can be copied with memcpy, compared, and inherited by
 * forked workers as it is. Nothing in it needs to be released.
 *
 * Errors are written to a caller-supplied buffer as "<where>: <directive>: <problem>", where
 * <where> is "path:line", "environment IMGPULLD_X" or "option --x", for example
 *
 *   imgpulld.conf:12: workers: must be between 1 and 256, got "0"
 *
 * and the functions return 0 or a negative code (IPD_EINVAL for bad configuration, -errno for
 * a file that cannot be read).
 */
#ifndef IPD_SHARED_CONFIG_H
#define IPD_SHARED_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IPD_CONFIG_DEFAULT_PATH   "/etc/imgpulld/imgpulld.conf" /**< used when no -c is given */
#define IPD_CONFIG_ENV_PREFIX     "IMGPULLD_"                   /**< environment variable prefix */
#define IPD_CONFIG_MAX_LISTEN     16                            /**< listen addresses */
#define IPD_CONFIG_MAX_NAMESPACES 32                            /**< log_namespace entries */
#define IPD_CONFIG_MAX_DIRECTIVES 96                            /**< capacity of the per-directive bookkeeping arrays */
#define IPD_CONFIG_HOST_SIZE      256                           /**< a DNS name (253) or an IPv6 literal, plus NUL */
#define IPD_CONFIG_INSTANCE_SIZE  65                            /**< [A-Za-z0-9_.-]{1,64} plus NUL */
#define IPD_CONFIG_LABEL_SIZE     64                            /**< a DNS label (63) plus NUL */
#define IPD_CONFIG_NODE_SIZE      254                           /**< a DNS subdomain (253) plus NUL */
#define IPD_CONFIG_ENDPOINT_SIZE  264  /**< redis: host:port, or unix: and a socket path (107) */
#define IPD_CONFIG_URL_SIZE       1024 /**< kube_server */
#define IPD_CONFIG_GROUP_SIZE     33   /**< a Unix group name plus NUL */
#define IPD_CONFIG_ORIGIN_SIZE    128  /**< "path:line" of a setting, truncated */
#define IPD_CONFIG_IMAGE_SIZE     512  /**< an image reference plus NUL */
#define IPD_CONFIG_TOLER_SIZE     384  /**< one pull_toleration (IPD_TOLERATION_SIZE) */
#define IPD_CONFIG_MAX_TOLERS     32   /**< pull_toleration entries */
#define IPD_CONFIG_MAX_WEB_NAMES  16   /**< allowed_hosts and allowed_origins entries */
#define IPD_CONFIG_WEB_NAME_SIZE  272  /**< an allowed host or "https://" + host + ":port", plus NUL */

/** Where a setting came from, in increasing precedence. */
typedef enum ipd_config_source {
    IPD_CONFIG_SOURCE_DEFAULT = 0,
    IPD_CONFIG_SOURCE_FILE,
    IPD_CONFIG_SOURCE_ENV,
    IPD_CONFIG_SOURCE_FLAG,
} ipd_config_source_t;

/** Watch scope (directive `scope`). */
typedef enum ipd_config_scope {
    IPD_SCOPE_CLUSTER = 0, /**< watch the pull pods of every node */
    IPD_SCOPE_NODE,        /**< watch only pods with spec.nodeName = node_name */
} ipd_config_scope_t;

/** What a caller without a token may do on a loopback listener (directive `loopback_role`). */
typedef enum ipd_config_role {
    IPD_ROLE_NONE = 0, /**< only the open endpoints (health, readiness, the dashboard's files) */
    IPD_ROLE_READ,     /**< read endpoints and watches */
    IPD_ROLE_ADMIN,    /**< everything */
} ipd_config_role_t;

/** A TCP endpoint. For listeners the host is an IP literal (no brackets) or "localhost". */
typedef struct ipd_config_hostport {
    /** Host name or IP literal, without the brackets of "[::1]:80". Empty when unset. */
    char host[IPD_CONFIG_HOST_SIZE];
    /** 1-65535; 0 when unset, or for a listener, "any free port". */
    uint16_t port;
} ipd_config_hostport_t;

/**
 * Every setting. Field comments name the directive; the table in config.c holds the defaults,
 * ranges and help text. Durations are milliseconds, sizes bytes. After ipd_config_finalize()
 * no field is "auto" any more: workers, node_name, log_namespace, stats_file and watchdog hold
 * their resolved values.
 */
typedef struct ipd_config {
    /** The file the configuration was read from; empty when only defaults, env and flags apply. */
    char config_path[PATH_MAX];

    /* Serving. */
    /** `listen`: addresses to serve on, at least one. */
    ipd_config_hostport_t listen[IPD_CONFIG_MAX_LISTEN];
    /** Number of valid entries in `listen`. */
    size_t listen_count;
    /** `workers`: worker processes (1-256); "auto" resolves to the online CPU count. */
    int workers;
    /** `instance`: names the shared-memory segment /imgpulld.<instance>. */
    char instance[IPD_CONFIG_INSTANCE_SIZE];
    /** `tls_cert`: PEM certificate chain; enables TLS (and HTTP/2 over ALPN) on every listener. */
    char tls_cert[PATH_MAX];
    /** `tls_key`: PEM private key for tls_cert. */
    char tls_key[PATH_MAX];
    /** `tokens_file`: bearer tokens with roles; required by any non-loopback listener. */
    char tokens_file[PATH_MAX];
    /** `loopback_role`: an ipd_config_role_t; what loopback callers without a token get when tokens_file is set. */
    int loopback_role;
    /** `allowed_hosts`: Host names accepted besides loopback names and IP literals ("*": any). */
    char allowed_hosts[IPD_CONFIG_MAX_WEB_NAMES][IPD_CONFIG_WEB_NAME_SIZE];
    /** Number of valid entries in `allowed_hosts`. */
    size_t allowed_hosts_count;
    /** `allowed_origins`: browser origins accepted besides the request's own ("*": any). */
    char allowed_origins[IPD_CONFIG_MAX_WEB_NAMES][IPD_CONFIG_WEB_NAME_SIZE];
    /** Number of valid entries in `allowed_origins`. */
    size_t allowed_origins_count;

    /* Kubernetes. */
    /** `kubeconfig`: kubeconfig file; with kube_server also empty, see ipd_kube_profile_load(). */
    char kubeconfig[PATH_MAX];
    /** `kube_server`: API server URL (http:// or https://). Excludes kubeconfig. */
    char kube_server[IPD_CONFIG_URL_SIZE];
    /** `kube_token_file`: bearer token for kube_server. */
    char kube_token_file[PATH_MAX];
    /** `kube_ca_file`: CA bundle to verify kube_server. */
    char kube_ca_file[PATH_MAX];
    /** `kube_insecure_skip_tls_verify`: do not verify the API server's certificate. */
    bool kube_insecure_skip_tls_verify;
    /** `scope`: an ipd_config_scope_t. */
    int scope;
    /** `node_name`: this node's Kubernetes name; defaults to the host name. */
    char node_name[IPD_CONFIG_NODE_SIZE];
    /** `namespace`: where pull Jobs are created. */
    char namespace[IPD_CONFIG_LABEL_SIZE];
    /** `watch_timeout`: timeoutSeconds asked of the API server for each watch. */
    uint64_t watch_timeout_ms;
    /** `watch_idle_timeout`: a watch that delivers nothing for this long is restarted. */
    uint64_t watch_idle_timeout_ms;
    /** `watch_backoff_initial`: first reconnect delay of the list+watch loop. */
    uint64_t watch_backoff_initial_ms;
    /** `watch_backoff_max`: cap of the doubling reconnect delay. */
    uint64_t watch_backoff_max_ms;
    /** `kube_retries`: times a single API request answered 429/503 with Retry-After is sent again. */
    int kube_retries;
    /** `kube_retry_max_wait`: cap on one wait before such a retry. */
    uint64_t kube_retry_max_wait_ms;
    /** `list_page_size`: `limit` of each paginated list request. */
    int list_page_size;
    /** `max_nodes_per_job`: upper bound of target nodes in one pull job. */
    int max_nodes_per_job;

    /* Pull pods. */
    /** `pull_helper_image`: image holding the no-op program and the copy program. */
    char pull_helper_image[IPD_CONFIG_IMAGE_SIZE];
    /** `pull_helper_noop`: absolute path of the static no-op program in pull_helper_image. */
    char pull_helper_noop[256];
    /** `pull_helper_copy`: absolute path of a `cp SOURCE DEST` program in pull_helper_image. */
    char pull_helper_copy[256];
    /** `pull_uid`: non-root uid and gid of the pull pods' containers. */
    int pull_uid;
    /** `pull_toleration`: taints the pull pods tolerate, in ipd_kube_toleration_parse() syntax. */
    char pull_toleration[IPD_CONFIG_MAX_TOLERS][IPD_CONFIG_TOLER_SIZE];
    /** Number of valid entries in `pull_toleration`. */
    size_t pull_toleration_count;
    /** `pull_job_ttl`: ttlSecondsAfterFinished of Jobs whose client set none (ms, whole seconds used). */
    uint64_t pull_job_ttl_ms;

    /* Redis. */
    /** `redis`: Redis endpoint for cross-node coherence, "host:port" or "unix:/path"; "" = none. */
    char redis[IPD_CONFIG_ENDPOINT_SIZE];
    /** `redis_password_file`: file whose first line is the Redis password. */
    char redis_password_file[PATH_MAX];
    /** `redis_username`: ACL user name (AUTH user password); "" = the default user. */
    char redis_username[IPD_CONFIG_INSTANCE_SIZE];
    /** `redis_prefix`: the key prefix, used as the keys' hash tag. */
    char redis_prefix[IPD_CONFIG_INSTANCE_SIZE];
    /** `redis_stream_maxlen`: approximate length the change Stream is trimmed to. */
    int redis_stream_maxlen;
    /** `redis_read_count`: Stream entries asked for by one XREAD (its COUNT). */
    int redis_read_count;
    /** `redis_catchup_publish`: while the link catches up, at most this long between publications. */
    uint64_t redis_catchup_publish_ms;
    /** `redis_liveness_ttl`: TTL of this node's liveness key; refreshed every third of it. */
    uint64_t redis_liveness_ttl_ms;
    /** `redis_lease_release_wait`: how long a clean stop waits for Redis to take its leases back. */
    uint64_t redis_lease_release_wait_ms;
    /** `redis_standin_page`: Jobs (or pull pods) per page of the stand-in's lists. */
    int redis_standin_page;
    /** `redis_standin_node_reads`: Nodes the stand-in lists per round for Jobs waiting suspended. */
    int redis_standin_node_reads;
    /** `redis_standin_event_reads`: pull pods' Events the stand-in lists per round for failing pulls. */
    int redis_standin_event_reads;
    /** `redis_standin_watch`: the stand-in also watches the Jobs it lists, for deletions between lists. */
    int redis_standin_watch;
    /** `redis_slots_ttl`: how long a job's parallelism slots stay in Redis after their last change. */
    uint64_t redis_slots_ttl_ms;

    /* Shared-memory table. */
    /** `table_jobs`: job slots. */
    int table_jobs;
    /** `table_tasks`: task slots, shared by all jobs. */
    int table_tasks;
    /** `table_ring`: change records kept in the event ring. */
    int table_ring;
    /** `table_json_inline`: bytes of pre-encoded JSON kept in each job slot. */
    size_t table_json_inline;
    /** `shm_group`: group allowed to read the segment (mode 0640); empty means 0600. */
    char shm_group[IPD_CONFIG_GROUP_SIZE];

    /* HTTP limits. */
    /** `max_request_body`: largest accepted request body. */
    size_t max_request_body;
    /** `max_header_size`: largest accepted request header block. */
    size_t max_header_size;
    /** `max_header_bytes_per_worker`: unfinished HTTP/2 header blocks one worker holds, all connections together. */
    size_t max_header_bytes_per_worker;
    /** `request_rate_per_conn`: requests (and HTTP/2 resets) per second per connection. */
    int request_rate_per_conn;
    /** `max_connections_per_worker`: open client connections per worker. */
    int max_connections_per_worker;
    /** `http_idle_timeout`: a client connection silent this long (idle, mid-request, mid-TLS-handshake) is closed. */
    uint64_t http_idle_timeout_ms;
    /** `keep_pod_poll`: how often the pods that keep jobs with pod_selector follow are listed. */
    uint64_t keep_pod_poll_ms;
    /** `op_visible_timeout`: how long a 202 to POST or DELETE waits for the table to show the change. */
    uint64_t op_visible_timeout_ms;
    /** `table_full_retry_after`: Retry-After of a POST refused because the table cannot hold its jobs. */
    uint64_t table_full_retry_after_ms;
    /** `linger_timeout`: how long an HTTP/1 connection refused with unread input is drained before it closes. */
    uint64_t linger_timeout_ms;
    /** `max_lingering_per_worker`: connections being drained at once by one worker. */
    int max_lingering_per_worker;

    /* WebSocket. */
    /** `ws_max_message`: largest client message; bigger frames close with 1009. */
    size_t ws_max_message;
    /** `ws_max_subscriptions`: jobs one connection may follow. */
    int ws_max_subscriptions;
    /** `ws_max_subscriptions_per_worker`: job subscriptions over all of a worker's connections. */
    int ws_max_subscriptions_per_worker;
    /** `ws_ping_interval`: server ping period. */
    uint64_t ws_ping_interval_ms;
    /** `ws_pong_timeout`: a connection silent this long after a ping is closed. */
    uint64_t ws_pong_timeout_ms;
    /** `ws_handshake_timeout`: time allowed for the upgrade request. */
    uint64_t ws_handshake_timeout_ms;
    /** `ws_write_timeout`: a client that accepts no data for this long is closed. */
    uint64_t ws_write_timeout_ms;
    /** `ws_max_outbound`: bytes queued to one client before it counts as slow. */
    size_t ws_max_outbound;
    /** `ws_send_buffer`: SO_SNDBUF of each WebSocket connection; 0 leaves it to the kernel. */
    size_t ws_send_buffer;
    /** `ws_max_connections`: WebSocket connections per worker; further upgrades are answered 503. */
    int ws_max_connections;

    /* Pod logs. */
    /** `log_namespace`: namespaces whose pod logs may be streamed; defaults to namespace. */
    char log_namespace[IPD_CONFIG_MAX_NAMESPACES][IPD_CONFIG_LABEL_SIZE];
    /** Number of valid entries in `log_namespace`. */
    size_t log_namespace_count;
    /** `logs_tail_lines_max`: largest tailLines a client may ask for. */
    int logs_tail_lines_max;
    /** `logs_pod_wait`: how long a stream waits for its pod to appear. */
    uint64_t logs_pod_wait_ms;
    /** `logs_client_write_timeout`: a log client that accepts no data for this long is closed. */
    uint64_t logs_client_write_timeout_ms;
    /** `logs_max_streams_per_worker`: concurrent log streams per worker. */
    int logs_max_streams_per_worker;
    /** `logs_max_streams`: concurrent log streams over all workers. */
    int logs_max_streams;
    /** `logs_frame_size`: largest binary frame of log bytes. */
    size_t logs_frame_size;

    /* Process. */
    /** `log_level`: an ipd_log_level_t from shared/log.h. */
    int log_level;
    /** `stats_file`: where SIGUSR1 writes the stats JSON line. */
    char stats_file[PATH_MAX];
    /** `watchdog`: send WATCHDOG=1 to systemd; "auto" means on when WATCHDOG_USEC is set. */
    bool watchdog;
    /** `reload_drain_timeout`: how long old workers may drain after SIGHUP before SIGKILL. */
    uint64_t reload_drain_timeout_ms;
    /** `respawn_backoff_initial`: delay before respawning a worker that died. */
    uint64_t respawn_backoff_initial_ms;
    /** `respawn_backoff_max`: cap of the doubling respawn delay of a crash-looping worker. */
    uint64_t respawn_backoff_max_ms;

    /* Bookkeeping of the loader; read only through the functions below. */
    /** A missing config_path is not an error (the default path was used, not -c). */
    bool _path_optional;
    /** Per directive (table order): the ipd_config_source_t that last set it. */
    unsigned char _source[IPD_CONFIG_MAX_DIRECTIVES];
    /** Per directive: set to "auto", resolved by ipd_config_finalize(). */
    bool _auto[IPD_CONFIG_MAX_DIRECTIVES];
    /** Per directive: where it was last set ("path:line", "environment X", "option --x"). */
    char _origin[IPD_CONFIG_MAX_DIRECTIVES][IPD_CONFIG_ORIGIN_SIZE];
} ipd_config_t;

/** Fills `cfg` with the built-in defaults (not yet finalized). Never fails. */
void ipd_config_init(ipd_config_t *cfg);

/**
 * Applies the file at `path` (borrowed) as the FILE layer. Returns 0, IPD_EINVAL with the
 * first problem in `err`, or -errno when the file (or an included one) cannot be read.
 */
int ipd_config_load_file(ipd_config_t *cfg, const char *path, char *err, size_t errlen);

/**
 * Applies the IMGPULLD_<DIRECTIVE> variables of `envp` (borrowed, NULL-terminated, usually
 * `environ`) as the ENV layer. List directives split their value on commas and spaces.
 * Unknown IMGPULLD_ variables are logged as warnings, not errors, since other tools may
 * share the prefix. Returns 0 or IPD_EINVAL.
 */
int ipd_config_load_env(ipd_config_t *cfg, char *const *envp, char *err, size_t errlen);

/**
 * Sets directive `name` from one textual `value` (both borrowed) at layer `source`;
 * `where` (borrowed) names the place for messages, e.g. "option --workers". For a repeatable
 * directive the first call at a higher layer replaces the list, later calls append. At the
 * FILE layer a second setting of a non-repeatable directive is an error; at other layers the
 * last one wins. Returns 0 or IPD_EINVAL.
 */
int ipd_config_set(ipd_config_t *cfg, const char *name, const char *value, ipd_config_source_t source,
                   const char *where, char *err, size_t errlen);

/**
 * Resolves "auto" values (workers, node_name, log_namespace, stats_file, watchdog) and runs
 * the cross-field checks: tls_cert with tls_key, tokens_file for non-loopback listeners,
 * kubeconfig versus kube_server, node scope with a node name, backoff ranges, and so on.
 * Idempotent. Returns 0 or IPD_EINVAL.
 */
int ipd_config_finalize(ipd_config_t *cfg, char *err, size_t errlen);

/**
 * Checks what only the running system can tell: the files named by the configuration are
 * readable and shm_group exists. Used by --check-config and at start-up. Returns 0 or
 * IPD_EINVAL.
 */
int ipd_config_check_system(const ipd_config_t *cfg, char *err, size_t errlen);

/**
 * The whole sequence used by the command line: defaults, then `path` (NULL: none; a missing
 * file is an error only when `path_required`), then `envp` (may be NULL), then
 * `nflags` name/value pairs in `flags` (borrowed; `flag_names[i]` such as "--listen" names
 * each for messages), then ipd_config_finalize(). Returns 0 or a negative code.
 */
int ipd_config_load(ipd_config_t *cfg, const char *path, bool path_required, char *const *envp,
                    const char *const *flag_directives, const char *const *flag_values, const char *const *flag_names,
                    size_t nflags, char *err, size_t errlen);

/**
 * Reloads for SIGHUP: builds `next` from defaults, the file `current` was read from, `envp`
 * (may be NULL) and the values `current` took from command-line flags, then finalizes it.
 * `current` is borrowed and left unchanged; on failure `next` is undefined and the caller
 * keeps running with `current`. Returns 0 or a negative code.
 */
int ipd_config_reload(const ipd_config_t *current, ipd_config_t *next, char *const *envp, char *err, size_t errlen);

/**
 * Returns the name of the first directive that differs between `a` and `b` and only takes
 * effect on a restart (instance, table sizes, shm_group), or NULL when there is none.
 */
const char *ipd_config_restart_required(const ipd_config_t *a, const ipd_config_t *b);

/**
 * Returns the name of the first directive carrying every flag of `flags` (IPD_CF_*,
 * shared/config_table.h) whose value differs between `a` and `b`, or NULL when there is none.
 */
const char *ipd_config_changed(const ipd_config_t *a, const ipd_config_t *b, unsigned flags);

/** A command-line flag that sets a directive. Both strings are static. */
typedef struct ipd_config_flag {
    /** The long option with its dashes, e.g. "--kube-server". */
    const char *flag;
    /** The directive it sets, e.g. "kube_server". */
    const char *directive;
} ipd_config_flag_t;

/** Fills `out` with up to `max` flags and returns how many directives have one. */
size_t ipd_config_flags(ipd_config_flag_t *out, size_t max);

/** Where directive `name` was last set: an ipd_config_source_t, or -1 for an unknown name. */
int ipd_config_source_of(const ipd_config_t *cfg, const char *name);

/** Writes the effective configuration in file syntax, one directive per line. Returns 0 or -errno. */
int ipd_config_print(const ipd_config_t *cfg, FILE *out);

/** Writes the directive reference as a Markdown table (docs/operations.md). Returns 0 or -errno. */
int ipd_config_print_reference(FILE *out);

/** Writes the example file, every directive commented out with its default. Returns 0 or -errno. */
int ipd_config_print_example(FILE *out);

/** A command-line option that is not a directive (a mode such as --check-config), for the manual. */
typedef struct ipd_config_man_option {
    const char *option; /**< e.g. "-c, --config FILE": the names, then a blank and the argument, if any */
    const char *help;   /**< one or two sentences */
} ipd_config_man_option_t;

/**
 * Writes a manual page in roff: `section` 8 is imgpulld(8) (the `nmodes` options in `modes`, then
 * every directive that has a flag, signals, files), 5 is imgpulld.conf(5) (every directive).
 * Both come from the directive table, like the reference and the example file. Returns 0,
 * -EINVAL for another section, or -errno.
 */
int ipd_config_print_man(FILE *out, int section, const ipd_config_man_option_t *modes, size_t nmodes);

/** Parses "500ms", "30s", "5m", "1h" or a sum such as "1m30s" into milliseconds. 0 or IPD_EINVAL. */
int ipd_config_parse_duration(const char *text, uint64_t *ms);

/** Parses bytes with an optional binary suffix k, m or g ("64k" = 65536). 0 or IPD_EINVAL. */
int ipd_config_parse_size(const char *text, uint64_t *bytes);

/** Parses on/off, yes/no, true/false, 1/0. 0 or IPD_EINVAL. */
int ipd_config_parse_bool(const char *text, bool *value);

/**
 * Parses "host:port" or "[v6]:port". For listeners (`listener` true) the host must be an IP
 * literal or "localhost" and port 0 is allowed (the kernel picks a free port: for tests);
 * otherwise the host may be a DNS name and the port is 1-65535. Returns 0 or IPD_EINVAL.
 */
int ipd_config_parse_hostport(const char *text, bool listener, ipd_config_hostport_t *out);

/** Formats `hp` as "host:port" or "[v6]:port" into `buf`. Returns the length or -ENOSPC. */
int ipd_config_hostport_format(const ipd_config_hostport_t *hp, char *buf, size_t len);

/** True when `hp` can only be reached from this host (127.0.0.0/8, ::1, localhost). */
bool ipd_config_hostport_is_loopback(const ipd_config_hostport_t *hp);

#endif
