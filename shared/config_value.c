#include "shared/config_table.h"

#include "proto/error.h"
#include "proto/kube_job.h"
#include "proto/http_host.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define AT(cfg, off) ((char *)(cfg) + (off))

static int set_int(ipd_config_t *cfg, const ipd_config_directive_t *row, const char *v, const char *where, char *err,
                   size_t errlen)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (v[0] == '\0' || *end != '\0' || errno != 0 || isspace((unsigned char)v[0]))
        return ipd_config_fail(err, errlen, where, row->name, "expects an integer, got \"%s\"", v);
    if (n < row->min || n > row->max)
        return ipd_config_fail(err, errlen, where, row->name, "must be between %lld and %lld, got \"%s\"", row->min,
                               row->max, v);
    *(int *)AT(cfg, row->offset) = (int)n;
    return 0;
}

/* Durations and sizes: parse, then check the range, naming it in the value's own units. */
static int set_measure(ipd_config_t *cfg, const ipd_config_directive_t *row, const char *v, const char *where,
                       char *err, size_t errlen)
{
    bool duration = row->type == IPD_CT_DURATION;
    uint64_t n;
    int r = duration ? ipd_config_parse_duration(v, &n) : ipd_config_parse_size(v, &n);
    if (r != 0)
        return ipd_config_fail(err, errlen, where, row->name,
                               duration ? "expects a duration such as 500ms, 30s, 5m or 1h, got \"%s\""
                                        : "expects a size such as 512, 64k, 16m or 1g, got \"%s\"",
                               v);
    if (n < (uint64_t)row->min || n > (uint64_t)row->max) {
        char lo[32], hi[32];
        void (*fmt)(uint64_t, char *, size_t) = duration ? ipd_config_format_duration : ipd_config_format_size;
        fmt((uint64_t)row->min, lo, sizeof(lo));
        fmt((uint64_t)row->max, hi, sizeof(hi));
        return ipd_config_fail(err, errlen, where, row->name, "must be between %s and %s, got \"%s\"", lo, hi, v);
    }
    if (duration)
        *(uint64_t *)AT(cfg, row->offset) = n;
    else
        *(size_t *)AT(cfg, row->offset) = (size_t)n;
    return 0;
}

static int set_enum(ipd_config_t *cfg, const ipd_config_directive_t *row, const char *v, const char *where, char *err,
                    size_t errlen)
{
    char list[256] = "";
    for (int i = 0; row->choices[i]; i++) {
        if (strcmp(v, row->choices[i]) == 0) {
            *(int *)AT(cfg, row->offset) = i;
            return 0;
        }
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", row->choices[i]);
    }
    return ipd_config_fail(err, errlen, where, row->name, "must be one of %s; got \"%s\"", list, v);
}

static int set_string(ipd_config_t *cfg, const ipd_config_directive_t *row, const char *v, const char *where, char *err,
                      size_t errlen)
{
    size_t len = strlen(v);
    if (len < (size_t)row->min)
        return ipd_config_fail(err, errlen, where, row->name, "must not be empty");
    if (len >= row->size)
        return ipd_config_fail(err, errlen, where, row->name, "is longer than %zu characters", row->size - 1);
    const char *why = len ? ipd_config_check_string(row->type, v) : NULL;
    if (why)
        return ipd_config_fail(err, errlen, where, row->name, "%s, got \"%s\"", why, v);
    memcpy(AT(cfg, row->offset), v, len + 1);
    return 0;
}

static int set_hostport(ipd_config_t *cfg, const ipd_config_directive_t *row, const char *v, const char *where,
                        char *err, size_t errlen)
{
    ipd_config_hostport_t hp = {{0}, 0};
    const char *why;
    if (v[0] != '\0' && ipd_config_parse_hostport_why(v, false, &hp, &why) != 0)
        return ipd_config_fail(err, errlen, where, row->name, "%s, got \"%s\"", why, v);
    *(ipd_config_hostport_t *)AT(cfg, row->offset) = hp;
    return 0;
}

/* Why `v` is not an allowed_hosts / allowed_origins entry, or NULL. */
static const char *web_name_why(ipd_config_type_t type, const char *v)
{
    size_t len = strlen(v);
    if (strcmp(v, "*") == 0)
        return NULL;
    if (len >= IPD_CONFIG_WEB_NAME_SIZE)
        return "is too long";
    if (type == IPD_CT_HOSTS) {
        ipd_http_authority_t a;
        if (ipd_http_authority_parse(v, len, &a) != 0 || a.port != 0)
            return "must be a host name or IP literal without a port";
        return NULL;
    }
    ipd_http_origin_t o;
    if (ipd_http_origin_parse(v, len, &o) != 0)
        return "must be an origin: http:// or https://, a host and an optional :port, nothing else";
    return NULL;
}

/* Appends one element to a list directive; duplicates are errors for listeners, ignored for names. */
static int append(ipd_config_t *cfg, const ipd_config_directive_t *row, const char *v, const char *where, char *err,
                  size_t errlen)
{
    size_t *count = (size_t *)AT(cfg, row->count_offset);
    char elem[sizeof(ipd_config_hostport_t) > IPD_CONFIG_TOLER_SIZE ? sizeof(ipd_config_hostport_t)
                                                                    : IPD_CONFIG_TOLER_SIZE] = {0};
    char reason[192];
    const char *why = NULL;
    if (v[0] == '\0')
        return ipd_config_fail(err, errlen, where, row->name, "expects a value");
    if (row->type == IPD_CT_LISTEN) {
        ipd_config_hostport_t hp;
        if (ipd_config_parse_hostport_why(v, true, &hp, &why) == 0)
            memcpy(elem, &hp, sizeof(hp));
    } else if (row->type == IPD_CT_TOLERATE) {
        if (ipd_kube_toleration_parse(v, NULL, reason, sizeof(reason)) != 0)
            why = reason;
        else
            memcpy(elem, v, strlen(v) + 1);
    } else if (row->type == IPD_CT_HOSTS || row->type == IPD_CT_ORIGINS) {
        why = web_name_why(row->type, v);
        if (!why)
            memcpy(elem, v, strlen(v) + 1);
    } else {
        why = strlen(v) >= IPD_CONFIG_LABEL_SIZE ? "must be a DNS label of at most 63 characters"
                                                 : ipd_config_check_string(IPD_CT_LABEL, v);
        if (!why)
            memcpy(elem, v, strlen(v) + 1);
    }
    if (why)
        return ipd_config_fail(err, errlen, where, row->name, "%s, got \"%s\"", why, v);
    for (size_t i = 0; i < *count; i++) {
        if (memcmp(AT(cfg, row->offset + i * row->size), elem, row->size) != 0)
            continue;
        if (row->type != IPD_CT_LISTEN)
            return 0;
        return ipd_config_fail(err, errlen, where, row->name, "%s is listed twice", v);
    }
    if (*count == row->capacity)
        return ipd_config_fail(err, errlen, where, row->name, "at most %zu values are allowed", row->capacity);
    memcpy(AT(cfg, row->offset + *count * row->size), elem, row->size);
    (*count)++;
    return 0;
}

static int set_one(ipd_config_t *cfg, const ipd_config_directive_t *row, const char *v, const char *where, char *err,
                   size_t errlen)
{
    size_t i = ipd_config_index(row);
    cfg->_auto[i] = (row->flags & IPD_CF_AUTO) && strcmp(v, "auto") == 0;
    if (cfg->_auto[i])
        return 0;
    switch (row->type) {
    case IPD_CT_INT:
        return set_int(cfg, row, v, where, err, errlen);
    case IPD_CT_DURATION:
    case IPD_CT_SIZE:
        return set_measure(cfg, row, v, where, err, errlen);
    case IPD_CT_BOOL:
        if (ipd_config_parse_bool(v, (bool *)AT(cfg, row->offset)) != 0)
            return ipd_config_fail(err, errlen, where, row->name, "expects on or off, got \"%s\"", v);
        return 0;
    case IPD_CT_ENUM:
        return set_enum(cfg, row, v, where, err, errlen);
    case IPD_CT_HOSTPORT:
        return set_hostport(cfg, row, v, where, err, errlen);
    case IPD_CT_LISTEN:
    case IPD_CT_LABELS:
    case IPD_CT_TOLERATE:
    case IPD_CT_HOSTS:
    case IPD_CT_ORIGINS:
        return append(cfg, row, v, where, err, errlen);
    default:
        return set_string(cfg, row, v, where, err, errlen);
    }
}

int ipd_config_apply(ipd_config_t *cfg, const ipd_config_directive_t *row, const char *const *values, size_t n,
                     ipd_config_source_t source, const char *where, char *err, size_t errlen)
{
    size_t i = ipd_config_index(row);
    bool list = row->flags & IPD_CF_REPEATABLE;
    if (n == 0)
        return ipd_config_fail(err, errlen, where, row->name, "expects a value");
    if (!list && n != 1)
        return ipd_config_fail(err, errlen, where, row->name, "expects one value, got %zu", n);
    if (!list && source == IPD_CONFIG_SOURCE_FILE && cfg->_source[i] == IPD_CONFIG_SOURCE_FILE)
        return ipd_config_fail(err, errlen, where, row->name, "duplicate directive, already set at %s",
                               cfg->_origin[i]);
    if (list && cfg->_source[i] < source)
        *(size_t *)AT(cfg, row->count_offset) = 0;
    if (list && n == 1 && values[0][0] == '\0' && row->type != IPD_CT_LISTEN) {
        /* `name ""` empties a list (what --print-config writes for an empty one). */
        *(size_t *)AT(cfg, row->count_offset) = 0;
        n = 0;
    }
    for (size_t k = 0; k < n; k++) {
        int r = set_one(cfg, row, values[k], where, err, errlen);
        if (r != 0)
            return r;
    }
    cfg->_source[i] = (unsigned char)source;
    snprintf(cfg->_origin[i], sizeof(cfg->_origin[i]), "%s", where);
    return 0;
}

static void format_list(const ipd_config_t *cfg, const ipd_config_directive_t *row, char *buf, size_t len)
{
    size_t count = *(const size_t *)AT(cfg, row->count_offset), used = 0;
    snprintf(buf, len, "%s", count == 0 ? "\"\"" : "");
    for (size_t k = 0; k < count && used < len; k++) {
        char one[IPD_CONFIG_TOLER_SIZE + IPD_CONFIG_HOST_SIZE];
        const char *elem = AT(cfg, row->offset + k * row->size);
        if (row->type == IPD_CT_LISTEN)
            ipd_config_hostport_format((const ipd_config_hostport_t *)elem, one, sizeof(one));
        else
            snprintf(one, sizeof(one), "%s", elem);
        used += (size_t)snprintf(buf + used, len - used, "%s%s", k ? " " : "", one);
    }
}

void ipd_config_format_value(const ipd_config_t *cfg, const ipd_config_directive_t *row, char *buf, size_t len)
{
    const char *field = AT(cfg, row->offset);
    switch (row->type) {
    case IPD_CT_INT:
        snprintf(buf, len, "%d", *(const int *)field);
        return;
    case IPD_CT_DURATION:
        ipd_config_format_duration(*(const uint64_t *)field, buf, len);
        return;
    case IPD_CT_SIZE:
        ipd_config_format_size(*(const size_t *)field, buf, len);
        return;
    case IPD_CT_BOOL:
        snprintf(buf, len, "%s", *(const bool *)field ? "on" : "off");
        return;
    case IPD_CT_ENUM:
        snprintf(buf, len, "%s", row->choices[*(const int *)field]);
        return;
    case IPD_CT_HOSTPORT:
        if (((const ipd_config_hostport_t *)field)->port == 0)
            snprintf(buf, len, "\"\"");
        else
            ipd_config_hostport_format((const ipd_config_hostport_t *)field, buf, len);
        return;
    case IPD_CT_LISTEN:
    case IPD_CT_LABELS:
    case IPD_CT_TOLERATE:
    case IPD_CT_HOSTS:
    case IPD_CT_ORIGINS:
        format_list(cfg, row, buf, len);
        return;
    default:
        ipd_config_quote(field, buf, len);
        return;
    }
}
