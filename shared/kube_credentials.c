#include "proto/error.h"
#include "shared/kubeconfig.h"
#include "shared/kubeconfig_util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ipd_kube_seterr(int rc, char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int ipd_kube_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int rc = buf == NULL ? -ENOMEM : 0;
    while (rc == 0) {
        if (n + 1 >= cap) {
            char *grown = cap > max ? NULL : realloc(buf, cap * 2);
            if (grown == NULL) {
                rc = cap > max ? IPD_ETOOBIG : -ENOMEM;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno != EINTR)
            rc = -errno;
        else if (r == 0)
            break;
        else if (r > 0)
            n += (size_t)r;
    }
    close(fd);
    if (rc == 0 && n > max)
        rc = IPD_ETOOBIG;
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    if (len != NULL)
        *len = n;
    return 0;
}

char *ipd_kube_strdup_trim(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

/* Reads a small file and returns its trimmed content, owned. */
static int read_trimmed(const char *path, char **out)
{
    char *raw;
    int rc = ipd_kube_read_file(path, IPD_KUBE_MAX_FILE, &raw, NULL);
    if (rc != 0)
        return rc;
    *out = ipd_kube_strdup_trim(raw);
    explicit_bzero(raw, strlen(raw));
    free(raw);
    return *out == NULL ? -ENOMEM : 0;
}

/* A token goes into an HTTP header: a line break inside it would forge headers. */
static int has_ctl(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

int ipd_kube_config_read_token(const ipd_kube_config_t *cfg, char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (cfg->token_file == NULL) {
        if (cfg->token != NULL && has_ctl(cfg->token))
            return ipd_kube_seterr(IPD_EINVAL, err, errlen, "bearer token contains control characters");
        if (cfg->token != NULL && (*out = strdup(cfg->token)) == NULL)
            return ipd_kube_seterr(-ENOMEM, err, errlen, "bearer token: out of memory");
        return 0;
    }
    int rc = read_trimmed(cfg->token_file, out);
    if (rc != 0)
        return ipd_kube_seterr(rc, err, errlen, "token file %s: %s", cfg->token_file, ipd_strerror(rc));
    const char *why = (*out)[0] == '\0' ? "empty" : has_ctl(*out) ? "contains control characters" : NULL;
    if (why != NULL) {
        ipd_kube_token_free(*out);
        *out = NULL;
        return ipd_kube_seterr(IPD_EINVAL, err, errlen, "token file %s: %s", cfg->token_file, why);
    }
    return 0;
}

void ipd_kube_token_free(char *token)
{
    if (token == NULL)
        return;
    explicit_bzero(token, strlen(token));
    free(token);
}

static int has_http_scheme(const char *url)
{
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

int ipd_kube_config_server(ipd_kube_config_t *cfg, const char *url, const char *token_file, const char *ca_file,
                           char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    if (url == NULL || !has_http_scheme(url) || url[strcspn(url, ":") + 3] == '\0')
        return ipd_kube_seterr(IPD_EINVAL, err, errlen, "kube server \"%s\": not an http:// or https:// URL",
                               url ? url : "");
    cfg->server = strdup(url);
    cfg->ns = strdup("default");
    cfg->token_file = token_file ? strdup(token_file) : NULL;
    cfg->ca_file = ca_file ? strdup(ca_file) : NULL;
    if (!cfg->server || !cfg->ns || (token_file && !cfg->token_file) || (ca_file && !cfg->ca_file)) {
        ipd_kube_config_dispose(cfg);
        return ipd_kube_seterr(-ENOMEM, err, errlen, "kube server %s: out of memory", url);
    }
    size_t n = strlen(cfg->server);
    while (n > 0 && cfg->server[n - 1] == '/')
        cfg->server[--n] = '\0';
    if (token_file != NULL && access(token_file, R_OK) != 0) {
        int rc = -errno;
        ipd_kube_config_dispose(cfg);
        return ipd_kube_seterr(rc, err, errlen, "token file %s: %s", token_file, strerror(-rc));
    }
    return 0;
}

static char *join(const char *dir, const char *name)
{
    char *out;
    return asprintf(&out, "%s/%s", dir, name) < 0 ? NULL : out;
}

static int in_cluster_files(ipd_kube_config_t *cfg, const char *dir, char *err, size_t errlen)
{
    char *ns_path = join(dir, "namespace");
    cfg->token_file = join(dir, "token");
    cfg->ca_file = join(dir, "ca.crt");
    if (ns_path == NULL || cfg->token_file == NULL || cfg->ca_file == NULL) {
        free(ns_path);
        return ipd_kube_seterr(-ENOMEM, err, errlen, "in-cluster config: out of memory");
    }
    const char *missing = access(cfg->token_file, R_OK) != 0 ? cfg->token_file
                          : access(cfg->ca_file, R_OK) != 0  ? cfg->ca_file
                                                             : NULL;
    int rc = missing != NULL ? -errno : read_trimmed(ns_path, &cfg->ns);
    if (missing != NULL) {
        ipd_kube_seterr(rc, err, errlen, "in-cluster config: %s: %s", missing, strerror(-rc));
    } else if (rc == -ENOENT || (rc == 0 && cfg->ns[0] == '\0')) {
        free(cfg->ns);
        rc = (cfg->ns = strdup("default")) == NULL ? -ENOMEM : 0;
    }
    if (rc != 0 && missing == NULL)
        ipd_kube_seterr(rc, err, errlen, "in-cluster config: %s: %s", ns_path, ipd_strerror(rc));
    free(ns_path);
    return rc;
}

int ipd_kube_config_in_cluster(ipd_kube_config_t *cfg, const char *sa_dir, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0')
        return ipd_kube_seterr(IPD_EINVAL, err, errlen,
                               "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
    int v6 = strchr(host, ':') != NULL;
    if (asprintf(&cfg->server, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port) < 0) {
        cfg->server = NULL;
        return ipd_kube_seterr(-ENOMEM, err, errlen, "in-cluster config: out of memory");
    }
    int rc = in_cluster_files(cfg, sa_dir ? sa_dir : IPD_KUBE_SA_DIR, err, errlen);
    if (rc != 0)
        ipd_kube_config_dispose(cfg);
    return rc;
}

static void blob_free(ipd_kube_blob_t *b)
{
    if (b->data != NULL)
        explicit_bzero(b->data, b->len);
    free(b->data);
}

void ipd_kube_config_dispose(ipd_kube_config_t *cfg)
{
    free(cfg->server);
    free(cfg->context);
    free(cfg->ns);
    free(cfg->ca_file);
    blob_free(&cfg->ca_data);
    ipd_kube_token_free(cfg->token);
    free(cfg->token_file);
    free(cfg->client_cert_file);
    free(cfg->client_key_file);
    blob_free(&cfg->client_cert_data);
    blob_free(&cfg->client_key_data);
    memset(cfg, 0, sizeof(*cfg));
}
