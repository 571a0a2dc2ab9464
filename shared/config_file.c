#include "shared/config_table.h"

#include "proto/error.h"
#include "shared/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN      8192
#define WORDS_MAX         64
#define INCLUDE_DEPTH_MAX 8

/* Reads one quoted word starting after its opening quote; returns the position after the closing quote. */
static const char *read_quoted(const char *p, char **out, const char **why)
{
    for (; *p != '"'; p++) {
        if (*p == '\0' || *p == '\n')
            return *why = "unterminated quoted value", NULL;
        if (*p == '\\') {
            p++;
            if (*p != '"' && *p != '\\')
                return *why = "only \\\" and \\\\ may be escaped in a quoted value", NULL;
        }
        *(*out)++ = *p;
    }
    p++;
    if (*p != '\0' && !isspace((unsigned char)*p) && *p != '#')
        return *why = "text directly after a closing quote", NULL;
    return p;
}

/*
 * Splits `line` into words written to `buf` (as long as the line) and pointed to by `words`.
 * Returns the number of words, or -1 with *why set.
 */
static int split_words(const char *line, char *buf, char **words, const char **why)
{
    int n = 0;
    const char *p = line;
    char *out = buf;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0' || *p == '#')
            return n;
        if (n == WORDS_MAX)
            return *why = "too many values on one line", -1;
        words[n++] = out;
        if (*p == '"') {
            if ((p = read_quoted(p + 1, &out, why)) == NULL)
                return -1;
        } else {
            for (; *p != '\0' && !isspace((unsigned char)*p); p++) {
                if (*p == '"')
                    return *why = "a quote inside an unquoted value", -1;
                *out++ = *p;
            }
        }
        *out++ = '\0';
    }
}

static int load_file(ipd_config_t *cfg, const char *path, int depth, char *err, size_t errlen);

static int include_file(ipd_config_t *cfg, const char *parent, char *const *words, int n, const char *where, int depth,
                        char *err, size_t errlen)
{
    char resolved[PATH_MAX];
    if (n != 2)
        return ipd_config_fail(err, errlen, where, "include", "expects one path, got %d values", n - 1);
    if (depth >= INCLUDE_DEPTH_MAX)
        return ipd_config_fail(err, errlen, where, "include", "nested more than %d deep", INCLUDE_DEPTH_MAX);
    const char *slash = strrchr(parent, '/');
    int len = words[1][0] == '/' || !slash
                  ? snprintf(resolved, sizeof(resolved), "%s", words[1])
                  : snprintf(resolved, sizeof(resolved), "%.*s/%s", (int)(slash - parent), parent, words[1]);
    if (len < 0 || (size_t)len >= sizeof(resolved))
        return ipd_config_fail(err, errlen, where, "include", "path too long");
    int r = load_file(cfg, resolved, depth + 1, err, errlen);
    if (r != 0 && r != IPD_EINVAL)
        return ipd_config_fail(err, errlen, where, "include", "cannot read \"%s\": %s", resolved, strerror(-r));
    return r;
}

static int apply_line(ipd_config_t *cfg, const char *path, const char *line, const char *where, int depth, char *err,
                      size_t errlen)
{
    char buf[LINE_MAX_LEN];
    char *words[WORDS_MAX];
    const char *why;
    int n = split_words(line, buf, words, &why);
    if (n < 0)
        return ipd_config_fail(err, errlen, where, NULL, "%s", why);
    if (n == 0)
        return 0;
    if (strcmp(words[0], "include") == 0)
        return include_file(cfg, path, words, n, where, depth, err, errlen);
    const ipd_config_directive_t *row = ipd_config_find(words[0]);
    if (!row)
        return ipd_config_fail_unknown(err, errlen, where, words[0]);
    return ipd_config_apply(cfg, row, (const char *const *)words + 1, (size_t)n - 1, IPD_CONFIG_SOURCE_FILE, where, err,
                            errlen);
}

static int load_file(ipd_config_t *cfg, const char *path, int depth, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    char *line = NULL, where[IPD_CONFIG_ORIGIN_SIZE];
    size_t cap = 0;
    ssize_t len;
    int r = 0;
    errno = 0;
    for (unsigned lineno = 1; r == 0 && (len = getline(&line, &cap, f)) >= 0; lineno++) {
        snprintf(where, sizeof(where), "%s:%u", path, lineno);
        if (len >= LINE_MAX_LEN)
            r = ipd_config_fail(err, errlen, where, NULL, "line longer than %d bytes", LINE_MAX_LEN - 1);
        else if (memchr(line, '\0', (size_t)len) != NULL)
            r = ipd_config_fail(err, errlen, where, NULL, "NUL byte in line");
        else
            r = apply_line(cfg, path, line, where, depth, err, errlen);
    }
    if (r == 0 && ferror(f)) {
        int e = errno ? errno : EIO;
        snprintf(err, errlen, "%s: read failed: %s", path, strerror(e));
        r = -e;
    }
    free(line);
    fclose(f);
    return r;
}

int ipd_config_load_file(ipd_config_t *cfg, const char *path, char *err, size_t errlen)
{
    return load_file(cfg, path, 0, err, errlen);
}

/* Applies one IMGPULLD_ variable; `name` is the lower-cased directive name. */
static int apply_env(ipd_config_t *cfg, const ipd_config_directive_t *row, const char *var, const char *value,
                     char *err, size_t errlen)
{
    char where[IPD_CONFIG_ORIGIN_SIZE], buf[LINE_MAX_LEN];
    const char *words[WORDS_MAX];
    size_t n = 0;
    snprintf(where, sizeof(where), "environment %s", var);
    if (!(row->flags & IPD_CF_REPEATABLE))
        return ipd_config_apply(cfg, row, &value, 1, IPD_CONFIG_SOURCE_ENV, where, err, errlen);
    if (strlen(value) >= sizeof(buf))
        return ipd_config_fail(err, errlen, where, row->name, "value longer than %zu bytes", sizeof(buf) - 1);
    strcpy(buf, value);
    for (char *save = NULL, *w = strtok_r(buf, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save)) {
        if (n == WORDS_MAX)
            return ipd_config_fail(err, errlen, where, row->name, "too many values");
        words[n++] = w;
    }
    return ipd_config_apply(cfg, row, words, n, IPD_CONFIG_SOURCE_ENV, where, err, errlen);
}

int ipd_config_load_env(ipd_config_t *cfg, char *const *envp, char *err, size_t errlen)
{
    const size_t plen = strlen(IPD_CONFIG_ENV_PREFIX);
    for (char *const *e = envp; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, IPD_CONFIG_ENV_PREFIX, plen) != 0 || !eq)
            continue;
        char var[128], name[128];
        size_t vlen = (size_t)(eq - *e);
        if (vlen >= sizeof(var))
            continue;
        memcpy(var, *e, vlen);
        var[vlen] = '\0';
        for (size_t i = plen; i <= vlen; i++)
            name[i - plen] = (char)tolower((unsigned char)var[i]);
        const ipd_config_directive_t *row = ipd_config_find(name);
        if (!row) {
            const char *hint = ipd_config_suggest(name);
            ipd_warn("config", "ignoring environment variable %s: no directive \"%s\"%s%s%s", var, name,
                     hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : "");
            continue;
        }
        int r = apply_env(cfg, row, var, eq + 1, err, errlen);
        if (r != 0)
            return r;
    }
    return 0;
}
