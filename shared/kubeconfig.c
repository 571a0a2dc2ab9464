#include "shared/kubeconfig.h"

#include "proto/error.h"
#include "shared/kubeconfig_util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

/* What the loader needs while it walks one document: the document, where it came from, the error sink. */
struct walk {
    yaml_document_t doc;
    const char *path;
    char *dir; /* directory of the kubeconfig, for relative paths */
    char *err;
    size_t errlen;
};

static yaml_node_t *map_get(struct walk *w, yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&w->doc, p->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(&w->doc, p->value);
    }
    return NULL;
}

/* The scalar value of map[key], or NULL when absent, empty or not a scalar. */
static const char *map_str(struct walk *w, yaml_node_t *map, const char *key)
{
    yaml_node_t *n = map_get(w, map, key);
    if (n == NULL || n->type != YAML_SCALAR_NODE || n->data.scalar.length == 0)
        return NULL;
    return (const char *)n->data.scalar.value;
}

/* Finds the entry named `name` in the list root[list] and returns its `field` mapping (or NULL). */
static yaml_node_t *find_named(struct walk *w, const char *list, const char *name, const char *field)
{
    yaml_node_t *seq = map_get(w, yaml_document_get_root_node(&w->doc), list);
    if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
        return NULL;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        yaml_node_t *entry = yaml_document_get_node(&w->doc, *it);
        const char *n = map_str(w, entry, "name");
        if (n != NULL && strcmp(n, name) == 0) {
            yaml_node_t *f = map_get(w, entry, field);
            return f != NULL && f->type == YAML_MAPPING_NODE ? f : entry;
        }
    }
    return NULL;
}

static int dup_str(struct walk *w, char **dst, const char *src)
{
    if (src == NULL)
        return 0;
    if ((*dst = strdup(src)) == NULL)
        return ipd_kube_seterr(-ENOMEM, w->err, w->errlen, "kubeconfig %s: out of memory", w->path);
    return 0;
}

/* Copies a file path, resolved against the kubeconfig's directory, and checks that it is readable. */
static int dup_path(struct walk *w, char **dst, const char *src, const char *what, const char *owner)
{
    if (src == NULL)
        return 0;
    int n = src[0] == '/' ? asprintf(dst, "%s", src) : asprintf(dst, "%s/%s", w->dir, src);
    if (n < 0) {
        *dst = NULL;
        return ipd_kube_seterr(-ENOMEM, w->err, w->errlen, "kubeconfig %s: out of memory", w->path);
    }
    if (access(*dst, R_OK) != 0)
        return ipd_kube_seterr(-errno, w->err, w->errlen, "kubeconfig %s: %s: %s %s: %s", w->path, owner, what, *dst,
                               strerror(errno));
    return 0;
}

/* Decodes base64 (whitespace ignored) into an owned, NUL-terminated blob. */
static int dup_b64(struct walk *w, ipd_kube_blob_t *dst, const char *src, const char *what, const char *owner)
{
    if (src == NULL)
        return 0;
    size_t n = strlen(src), m = 0;
    char *clean = malloc(n + 1);
    char *out = malloc(n / 4 * 3 + 4);
    if (clean == NULL || out == NULL) {
        free(clean);
        free(out);
        return ipd_kube_seterr(-ENOMEM, w->err, w->errlen, "kubeconfig %s: out of memory", w->path);
    }
    for (size_t i = 0; i < n; i++)
        if (strchr(" \t\r\n", src[i]) == NULL)
            clean[m++] = src[i];
    clean[m] = '\0';
    int len = m % 4 == 0 ? EVP_DecodeBlock((unsigned char *)out, (unsigned char *)clean, (int)m) : -1;
    for (size_t i = m; len > 0 && i > 0 && clean[i - 1] == '='; i--)
        len--;
    free(clean);
    if (len < 0) {
        free(out);
        return ipd_kube_seterr(IPD_EINVAL, w->err, w->errlen, "kubeconfig %s: %s: %s is not valid base64", w->path,
                               owner, what);
    }
    out[len] = '\0';
    dst->data = out;
    dst->len = (size_t)len;
    return 0;
}

static int parse_bool(struct walk *w, yaml_node_t *map, const char *key, int *out, const char *owner)
{
    const char *v = map_str(w, map, key);
    if (v == NULL)
        return 0;
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        *out = 1;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
        *out = 0;
    else
        return ipd_kube_seterr(IPD_EINVAL, w->err, w->errlen, "kubeconfig %s: %s: %s is not a boolean: \"%s\"", w->path,
                               owner, key, v);
    return 0;
}

static int load_cluster(struct walk *w, ipd_kube_config_t *cfg, const char *name)
{
    char owner[300];
    snprintf(owner, sizeof(owner), "cluster \"%s\"", name);
    yaml_node_t *c = find_named(w, "clusters", name, "cluster");
    if (c == NULL)
        return ipd_kube_seterr(IPD_EINVAL, w->err, w->errlen, "kubeconfig %s: context \"%s\": %s not found", w->path,
                               cfg->context, owner);
    const char *server = map_str(w, c, "server");
    if (server == NULL)
        return ipd_kube_seterr(IPD_EINVAL, w->err, w->errlen, "kubeconfig %s: %s has no server", w->path, owner);
    int rc;
    if ((rc = dup_str(w, &cfg->server, server)) != 0 ||
        (rc = dup_path(w, &cfg->ca_file, map_str(w, c, "certificate-authority"), "certificate-authority", owner)) ||
        (rc = dup_b64(w, &cfg->ca_data, map_str(w, c, "certificate-authority-data"), "certificate-authority-data",
                      owner)) ||
        (rc = parse_bool(w, c, "insecure-skip-tls-verify", &cfg->insecure_skip_tls_verify, owner)))
        return rc;
    size_t n = strlen(cfg->server);
    while (n > 0 && cfg->server[n - 1] == '/')
        cfg->server[--n] = '\0';
    return 0;
}

static int load_user(struct walk *w, ipd_kube_config_t *cfg, const char *name)
{
    char owner[300];
    snprintf(owner, sizeof(owner), "user \"%s\"", name);
    yaml_node_t *u = find_named(w, "users", name, "user");
    if (u == NULL)
        return ipd_kube_seterr(IPD_EINVAL, w->err, w->errlen, "kubeconfig %s: context \"%s\": %s not found", w->path,
                               cfg->context, owner);
    int rc;
    if ((rc = dup_str(w, &cfg->token, map_str(w, u, "token"))) ||
        (rc = dup_path(w, &cfg->token_file, map_str(w, u, "tokenFile"), "tokenFile", owner)) ||
        (rc = dup_path(w, &cfg->client_cert_file, map_str(w, u, "client-certificate"), "client-certificate", owner)) ||
        (rc = dup_path(w, &cfg->client_key_file, map_str(w, u, "client-key"), "client-key", owner)) ||
        (rc = dup_b64(w, &cfg->client_cert_data, map_str(w, u, "client-certificate-data"), "client-certificate-data",
                      owner)) ||
        (rc = dup_b64(w, &cfg->client_key_data, map_str(w, u, "client-key-data"), "client-key-data", owner)))
        return rc;
    int has_cert = cfg->client_cert_file || cfg->client_cert_data.data;
    int has_key = cfg->client_key_file || cfg->client_key_data.data;
    if (has_cert != has_key)
        return ipd_kube_seterr(IPD_EINVAL, w->err, w->errlen, "kubeconfig %s: %s has a client %s but no client %s",
                               w->path, owner, has_cert ? "certificate" : "key", has_cert ? "key" : "certificate");
    int plugin = map_get(w, u, "exec") != NULL || map_get(w, u, "auth-provider") != NULL;
    if (plugin && !has_cert && cfg->token == NULL && cfg->token_file == NULL)
        return ipd_kube_seterr(IPD_EINVAL, w->err, w->errlen,
                               "kubeconfig %s: %s uses an exec or auth-provider plugin, which is not supported; "
                               "use a token, tokenFile or client certificate",
                               w->path, owner);
    return 0;
}

static int load_context(struct walk *w, ipd_kube_config_t *cfg, const char *name)
{
    yaml_node_t *root = yaml_document_get_root_node(&w->doc);
    if (root == NULL || root->type != YAML_MAPPING_NODE)
        return ipd_kube_seterr(IPD_EINVAL, w->err, w->errlen, "kubeconfig %s: not a mapping", w->path);
    if (name == NULL && (name = map_str(w, root, "current-context")) == NULL)
        return ipd_kube_seterr(IPD_EINVAL, w->err, w->errlen,
                               "kubeconfig %s: no current-context is set and no context was given", w->path);
    yaml_node_t *ctx = find_named(w, "contexts", name, "context");
    if (ctx == NULL)
        return ipd_kube_seterr(IPD_EINVAL, w->err, w->errlen, "kubeconfig %s: context \"%s\" not found", w->path, name);
    int rc = dup_str(w, &cfg->context, name);
    if (rc != 0)
        return rc;
    const char *cluster = map_str(w, ctx, "cluster"), *user = map_str(w, ctx, "user");
    if (cluster == NULL)
        return ipd_kube_seterr(IPD_EINVAL, w->err, w->errlen, "kubeconfig %s: context \"%s\" names no cluster", w->path,
                               name);
    if ((rc = load_cluster(w, cfg, cluster)) != 0 || (user != NULL && (rc = load_user(w, cfg, user)) != 0))
        return rc;
    return dup_str(w, &cfg->ns, map_str(w, ctx, "namespace") ? map_str(w, ctx, "namespace") : "default");
}

static int parse_doc(struct walk *w, const char *text, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return ipd_kube_seterr(-ENOMEM, w->err, w->errlen, "kubeconfig %s: yaml_parser_initialize failed", w->path);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = 0;
    if (!yaml_parser_load(&parser, &w->doc))
        rc = ipd_kube_seterr(IPD_EINVAL, w->err, w->errlen, "kubeconfig %s: line %zu column %zu: %s%s%s", w->path,
                             parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                             parser.problem ? parser.problem : "invalid YAML", parser.context ? " " : "",
                             parser.context ? parser.context : "");
    yaml_parser_delete(&parser);
    return rc;
}

static int resolve_path(const char *path, char **out, char *err, size_t errlen)
{
    const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
    int n;
    if (path != NULL)
        n = asprintf(out, "%s", path);
    else if (env != NULL && env[0] != '\0' && env[0] != ':')
        n = asprintf(out, "%.*s", (int)strcspn(env, ":"), env);
    else if (home != NULL && home[0] != '\0')
        n = asprintf(out, "%s/.kube/config", home);
    else
        return ipd_kube_seterr(IPD_EINVAL, err, errlen,
                               "kubeconfig: no path given and neither KUBECONFIG nor HOME set");
    if (n < 0) {
        *out = NULL;
        return ipd_kube_seterr(-ENOMEM, err, errlen, "kubeconfig: out of memory");
    }
    return 0;
}

int ipd_kube_config_load_file(ipd_kube_config_t *cfg, const char *path, const char *context, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    struct walk w = {.err = err, .errlen = errlen};
    char *file = NULL, *text = NULL;
    size_t len;
    int rc = resolve_path(path, &file, err, errlen);
    if (rc != 0)
        return rc;
    w.path = file;
    if ((rc = ipd_kube_read_file(file, IPD_KUBE_MAX_FILE, &text, &len)) != 0) {
        ipd_kube_seterr(rc, err, errlen, "kubeconfig %s: %s", file, ipd_strerror(rc));
        goto free_file;
    }
    const char *slash = strrchr(file, '/');
    w.dir = slash == NULL ? strdup(".") : slash == file ? strdup("/") : strndup(file, (size_t)(slash - file));
    if (w.dir == NULL) {
        rc = ipd_kube_seterr(-ENOMEM, err, errlen, "kubeconfig %s: out of memory", file);
        goto free_text;
    }
    if ((rc = parse_doc(&w, text, len)) != 0)
        goto free_dir;
    rc = load_context(&w, cfg, context);
    yaml_document_delete(&w.doc);
    if (rc != 0)
        ipd_kube_config_dispose(cfg);
free_dir:
    free(w.dir);
free_text:
    free(text);
free_file:
    free(file);
    return rc;
}
