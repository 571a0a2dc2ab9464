#include "shared/config_table.h"

#include "proto/error.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *origin(const ipd_config_t *cfg, const char *name)
{
    return cfg->_origin[ipd_config_index(ipd_config_find(name))];
}

/* Of two directives in conflict, the one set at the higher layer is the one to blame. */
static const char *blame(const ipd_config_t *cfg, const char *a, const char *b)
{
    return cfg->_source[ipd_config_index(ipd_config_find(b))] > cfg->_source[ipd_config_index(ipd_config_find(a))] ? b
                                                                                                                   : a;
}

static void resolve_stats_file(ipd_config_t *cfg)
{
    const char *rt = getenv("RUNTIME_DIRECTORY");
    size_t dirlen = rt ? strcspn(rt, ":") : 0;
    if (dirlen > 0)
        snprintf(cfg->stats_file, sizeof(cfg->stats_file), "%.*s/%s.stats.json", (int)dirlen, rt, cfg->instance);
    else if (geteuid() == 0)
        snprintf(cfg->stats_file, sizeof(cfg->stats_file), "/run/imgpulld/%s.stats.json", cfg->instance);
    else
        snprintf(cfg->stats_file, sizeof(cfg->stats_file), "imgpulld-%s.stats.json", cfg->instance);
}

/* Fills the values whose default depends on the host or on another directive. */
static void resolve(ipd_config_t *cfg)
{
    if (cfg->_auto[ipd_config_index(ipd_config_find("workers"))]) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->workers = n < 1 ? 1 : n > 256 ? 256 : (int)n;
    }
    if (cfg->_auto[ipd_config_index(ipd_config_find("stats_file"))])
        resolve_stats_file(cfg);
    if (cfg->_auto[ipd_config_index(ipd_config_find("watchdog"))]) {
        const char *usec = getenv("WATCHDOG_USEC");
        cfg->watchdog = usec && usec[0] != '\0';
    }
    if (cfg->node_name[0] == '\0') {
        char host[256] = "";
        if (gethostname(host, sizeof(host) - 1) == 0) {
            for (char *p = host; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            if (strlen(host) < sizeof(cfg->node_name) && !ipd_config_check_string(IPD_CT_DNSNAME, host))
                memcpy(cfg->node_name, host, strlen(host) + 1);
        }
    }
    if (cfg->log_namespace_count == 0) {
        memcpy(cfg->log_namespace[0], cfg->namespace, sizeof(cfg->namespace));
        cfg->log_namespace_count = 1;
    }
}

static int check_kube(const ipd_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->kube_server[0] && cfg->kubeconfig[0]) {
        const char *who = blame(cfg, "kube_server", "kubeconfig");
        const char *other = strcmp(who, "kube_server") == 0 ? "kubeconfig" : "kube_server";
        return ipd_config_fail(err, errlen, origin(cfg, who), who, "cannot be combined with %s (set at %s)", other,
                               origin(cfg, other));
    }
    const char *const server_only[] = {"kube_token_file", "kube_ca_file"};
    const char *const values[] = {cfg->kube_token_file, cfg->kube_ca_file};
    for (size_t i = 0; i < 2 && cfg->kubeconfig[0]; i++)
        if (values[i][0])
            return ipd_config_fail(err, errlen, origin(cfg, server_only[i]), server_only[i],
                                   "applies to kube_server; the kubeconfig (set at %s) carries its own credentials",
                                   origin(cfg, "kubeconfig"));
    if (cfg->scope == IPD_SCOPE_NODE && cfg->node_name[0] == '\0')
        return ipd_config_fail(err, errlen, origin(cfg, "scope"), "scope",
                               "scope node needs node_name (the host name is not a valid node name)");
    return 0;
}

static int check_serving(const ipd_config_t *cfg, char *err, size_t errlen)
{
    if ((cfg->tls_cert[0] != '\0') != (cfg->tls_key[0] != '\0')) {
        const char *have = cfg->tls_cert[0] ? "tls_cert" : "tls_key", *miss = cfg->tls_cert[0] ? "tls_key" : "tls_cert";
        return ipd_config_fail(err, errlen, origin(cfg, have), have, "%s is required as well", miss);
    }
    for (size_t i = 0; i < cfg->listen_count && cfg->tokens_file[0] == '\0'; i++) {
        if (ipd_config_hostport_is_loopback(&cfg->listen[i]))
            continue;
        char addr[IPD_CONFIG_HOST_SIZE + 16];
        ipd_config_hostport_format(&cfg->listen[i], addr, sizeof(addr));
        return ipd_config_fail(err, errlen, origin(cfg, "listen"), NULL,
                               "listen %s is not loopback: tokens_file is required", addr);
    }
    /* Redis carries other nodes' tasks to a daemon that watches only its own node. */
    if (cfg->redis[0] && cfg->scope != IPD_SCOPE_NODE)
        return ipd_config_fail(err, errlen, origin(cfg, "redis"), "redis",
                               "needs scope node (a cluster-scope daemon watches every node itself)");
    if (!cfg->redis[0] && cfg->redis_password_file[0])
        return ipd_config_fail(err, errlen, origin(cfg, "redis_password_file"), "redis_password_file",
                               "is set but redis is not");
    if (!cfg->redis[0] && cfg->redis_username[0])
        return ipd_config_fail(err, errlen, origin(cfg, "redis_username"), "redis_username", "is set but redis is not");
    if (cfg->redis_username[0] && !cfg->redis_password_file[0])
        return ipd_config_fail(err, errlen, origin(cfg, "redis_username"), "redis_username",
                               "needs redis_password_file");
    return 0;
}

/* `lo` must not exceed `hi` (or stay below it when `strict`); both ints or both durations. */
static int check_order(const ipd_config_t *cfg, const char *lo, const char *hi, bool strict, char *err, size_t errlen)
{
    const ipd_config_directive_t *a = ipd_config_find(lo), *b = ipd_config_find(hi);
    char va[64], vb[64];
    ipd_config_format_value(cfg, a, va, sizeof(va));
    ipd_config_format_value(cfg, b, vb, sizeof(vb));
    long long x, y;
    if (a->type == IPD_CT_INT) {
        x = *(const int *)((const char *)cfg + a->offset);
        y = *(const int *)((const char *)cfg + b->offset);
    } else {
        x = (long long)*(const uint64_t *)((const char *)cfg + a->offset);
        y = (long long)*(const uint64_t *)((const char *)cfg + b->offset);
    }
    if (strict ? x < y : x <= y)
        return 0;
    const char *who = blame(cfg, lo, hi);
    return ipd_config_fail(err, errlen, origin(cfg, who), who, "%s (%s) must be %s %s (%s)", lo, va,
                           strict ? "less than" : "at most", hi, vb);
}

int ipd_config_finalize(ipd_config_t *cfg, char *err, size_t errlen)
{
    int r;
    resolve(cfg);
    if ((r = check_serving(cfg, err, errlen)) != 0 || (r = check_kube(cfg, err, errlen)) != 0)
        return r;
    if ((r = check_order(cfg, "watch_backoff_initial", "watch_backoff_max", false, err, errlen)) != 0 ||
        (r = check_order(cfg, "respawn_backoff_initial", "respawn_backoff_max", false, err, errlen)) != 0 ||
        (r = check_order(cfg, "ws_ping_interval", "ws_pong_timeout", true, err, errlen)) != 0 ||
        (r = check_order(cfg, "logs_max_streams_per_worker", "logs_max_streams", false, err, errlen)) != 0 ||
        (r = check_order(cfg, "max_nodes_per_job", "table_tasks", false, err, errlen)) != 0)
        return r;
    return 0;
}

int ipd_config_check_system(const ipd_config_t *cfg, char *err, size_t errlen)
{
    static const char *const files[] = {"tls_cert",        "tls_key",      "tokens_file",        "kubeconfig",
                                        "kube_token_file", "kube_ca_file", "redis_password_file"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        const ipd_config_directive_t *row = ipd_config_find(files[i]);
        const char *path = (const char *)cfg + row->offset;
        if (path[0] != '\0' && access(path, R_OK) != 0)
            return ipd_config_fail(err, errlen, origin(cfg, files[i]), files[i], "cannot read \"%s\": %s", path,
                                   strerror(errno));
    }
    if (cfg->shm_group[0] != '\0') {
        char buf[4096];
        struct group grp, *found = NULL;
        int e = getgrnam_r(cfg->shm_group, &grp, buf, sizeof(buf), &found);
        if (!found)
            return ipd_config_fail(err, errlen, origin(cfg, "shm_group"), "shm_group", "no group named \"%s\"%s%s",
                                   cfg->shm_group, e ? ": " : "", e ? strerror(e) : "");
    }
    return 0;
}
