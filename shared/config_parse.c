#include "shared/config_table.h"

#include "proto/error.h"
#include "proto/image_ref.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

/* Reads a run of decimal digits into *v; returns the number of digits, 0 on none or overflow. */
static size_t read_digits(const char *s, uint64_t *v)
{
    size_t i = 0;
    *v = 0;
    for (; isdigit((unsigned char)s[i]); i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (*v > (UINT64_MAX - d) / 10)
            return 0;
        *v = *v * 10 + d;
    }
    return i;
}

int ipd_config_parse_duration(const char *text, uint64_t *ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    uint64_t total = 0;
    const char *p = text;
    if (*p == '\0')
        return IPD_EINVAL;
    while (*p != '\0') {
        uint64_t v;
        size_t n = read_digits(p, &v);
        if (n == 0)
            return IPD_EINVAL;
        p += n;
        size_t u = 0, ulen = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t l = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, l) == 0 && !isalpha((unsigned char)p[l])) {
                u = i;
                ulen = l;
                break;
            }
        }
        if (ulen == 0 || v > (UINT64_MAX - total) / units[u].ms)
            return IPD_EINVAL;
        total += v * units[u].ms;
        p += ulen;
    }
    *ms = total;
    return 0;
}

int ipd_config_parse_size(const char *text, uint64_t *bytes)
{
    uint64_t v;
    size_t n = read_digits(text, &v);
    if (n == 0)
        return IPD_EINVAL;
    unsigned shift = 0;
    switch (text[n]) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    default:
        return IPD_EINVAL;
    }
    if (shift != 0 && text[n + 1] != '\0')
        return IPD_EINVAL;
    if (v > (UINT64_MAX >> shift))
        return IPD_EINVAL;
    *bytes = v << shift;
    return 0;
}

int ipd_config_parse_bool(const char *text, bool *value)
{
    static const char *const yes[] = {"on", "yes", "true", "1"}, *const no[] = {"off", "no", "false", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *value = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *value = false;
            return 0;
        }
    }
    return IPD_EINVAL;
}

static bool is_dns_label(const char *s, size_t len)
{
    if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return false;
    return true;
}

static bool is_dns_name(const char *s)
{
    size_t total = strlen(s);
    if (total == 0 || total > 253)
        return false;
    for (const char *label = s;;) {
        const char *dot = strchr(label, '.');
        size_t len = dot ? (size_t)(dot - label) : strlen(label);
        if (!is_dns_label(label, len))
            return false;
        if (!dot)
            return true;
        label = dot + 1;
    }
}

/* A host for outbound connections: an IP literal or a DNS name (any case). */
static bool is_host(const char *s)
{
    char lower[IPD_CONFIG_HOST_SIZE];
    size_t n = strlen(s);
    if (n >= sizeof(lower))
        return false;
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)tolower((unsigned char)s[i]);
    return is_dns_name(lower);
}

const char *ipd_config_check_string(ipd_config_type_t type, const char *s)
{
    switch (type) {
    case IPD_CT_NAME:
        for (const char *p = s; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
                return "may only contain letters, digits, '_', '.' and '-'";
        return NULL;
    case IPD_CT_LABEL:
        return is_dns_label(s, strlen(s)) ? NULL
                                          : "must be a DNS label: lower-case letters, digits and '-', at most 63";
    case IPD_CT_DNSNAME:
        return is_dns_name(s) ? NULL : "must be a lower-case DNS name (RFC 1123), at most 253 characters";
    case IPD_CT_GROUP:
        for (const char *p = s; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
                return "must be a Unix group name";
        return s[0] == '-' ? "must be a Unix group name" : NULL;
    case IPD_CT_URL:
        if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
            return "must start with http:// or https://";
        if (s[strncmp(s, "http://", 7) == 0 ? 7 : 8] == '\0')
            return "has no host";
        for (const char *p = s; *p; p++)
            if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
                return "may not contain spaces or control characters";
        return NULL;
    case IPD_CT_IMAGE:
        return ipd_image_ref_validate(s, NULL, 0) == 0 ? NULL
                                                       : "must be an image reference such as "
                                                         "registry.example.com/tools/busybox:1.36.1-musl";
    case IPD_CT_ABSPATH:
        if (s[0] != '/' || s[strlen(s) - 1] == '/')
            return "must be an absolute path to a file";
        for (const char *p = s; *p; p++)
            if (iscntrl((unsigned char)*p) || isspace((unsigned char)*p))
                return "may not contain spaces or control characters";
        return NULL;
    case IPD_CT_ENDPOINT: {
        if (strncmp(s, "unix:", 5) == 0) {
            if (s[5] != '/')
                return "unix: needs an absolute socket path";
            if (strlen(s + 5) >= 108)
                return "the socket path is longer than 107 characters";
            for (const char *p = s; *p; p++)
                if (iscntrl((unsigned char)*p))
                    return "may not contain control characters";
            return NULL;
        }
        ipd_config_hostport_t hp;
        const char *why = NULL;
        if (ipd_config_parse_hostport_why(s, false, &hp, &why) != 0)
            return why ? why : "must be host:port or unix:/path";
        return NULL;
    }
    case IPD_CT_PATH:
        for (const char *p = s; *p; p++)
            if (iscntrl((unsigned char)*p))
                return "may not contain control characters";
        return NULL;
    default:
        return NULL;
    }
}

/* Splits and checks "host:port" or "[v6]:port"; *why gets a reason on failure. */
static int split_hostport(const char *text, bool listener, ipd_config_hostport_t *out, const char **why)
{
    const char *colon, *host = text;
    size_t hostlen;
    bool bracketed = text[0] == '[';
    if (bracketed) {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return *why = "expects [IPv6]:port", IPD_EINVAL;
        host = text + 1;
        hostlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon)
            return *why = "expects host:port", IPD_EINVAL;
        hostlen = (size_t)(colon - text);
        if (memchr(text, ':', hostlen))
            return *why = "an IPv6 address needs brackets, as in [::1]:8080", IPD_EINVAL;
    }
    if (hostlen == 0 || hostlen >= sizeof(out->host))
        return *why = "has no host (use 0.0.0.0 or [::] for every address)", IPD_EINVAL;
    uint64_t port;
    size_t n = read_digits(colon + 1, &port);
    if (n == 0 || colon[1 + n] != '\0' || port > 65535 || (port == 0 && !listener))
        return *why = listener ? "port must be between 0 and 65535" : "port must be between 1 and 65535", IPD_EINVAL;
    memcpy(out->host, host, hostlen);
    out->host[hostlen] = '\0';
    out->port = (uint16_t)port;

    unsigned char addr[16];
    if (bracketed)
        return inet_pton(AF_INET6, out->host, addr) == 1 ? 0 : (*why = "is not an IPv6 address", IPD_EINVAL);
    if (inet_pton(AF_INET, out->host, addr) == 1 || strcmp(out->host, "localhost") == 0)
        return 0;
    if (listener)
        return *why = "host must be an IP address, [IPv6] or localhost", IPD_EINVAL;
    return is_host(out->host) ? 0 : (*why = "host is not a valid DNS name or IP address", IPD_EINVAL);
}

int ipd_config_parse_hostport(const char *text, bool listener, ipd_config_hostport_t *out)
{
    const char *why;
    return ipd_config_parse_hostport_why(text, listener, out, &why);
}

int ipd_config_parse_hostport_why(const char *text, bool listener, ipd_config_hostport_t *out, const char **why)
{
    ipd_config_hostport_t hp = {{0}, 0};
    int r = split_hostport(text, listener, &hp, why);
    if (r == 0)
        *out = hp;
    return r;
}

int ipd_config_hostport_format(const ipd_config_hostport_t *hp, char *buf, size_t len)
{
    bool v6 = strchr(hp->host, ':') != NULL;
    int n = snprintf(buf, len, v6 ? "[%s]:%u" : "%s:%u", hp->host, (unsigned)hp->port);
    return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

bool ipd_config_hostport_is_loopback(const ipd_config_hostport_t *hp)
{
    unsigned char a[16];
    if (strcmp(hp->host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, hp->host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, hp->host, a) == 1) {
        static const unsigned char v6_loopback[16] = {[15] = 1};
        static const unsigned char v4_mapped[12] = {[10] = 0xff, [11] = 0xff};
        return memcmp(a, v6_loopback, 16) == 0 || (memcmp(a, v4_mapped, 12) == 0 && a[12] == 127);
    }
    return false;
}

void ipd_config_format_duration(uint64_t ms, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "%llums", (unsigned long long)ms);
}

void ipd_config_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char suffix[] = "gmk";
    for (unsigned i = 0; i < 3; i++) {
        unsigned shift = 30 - 10 * i;
        if (bytes != 0 && bytes % (UINT64_C(1) << shift) == 0) {
            snprintf(buf, len, "%llu%c", (unsigned long long)(bytes >> shift), suffix[i]);
            return;
        }
    }
    snprintf(buf, len, "%llu", (unsigned long long)bytes);
}

void ipd_config_quote(const char *text, char *buf, size_t len)
{
    bool plain = text[0] != '\0' && strpbrk(text, " \t\"#\\") == NULL;
    if (plain || len < 3) {
        snprintf(buf, len, "%s", plain ? text : "");
        return;
    }
    size_t o = 0;
    buf[o++] = '"';
    for (const char *p = text; *p && o + 3 < len; p++) {
        if (*p == '"' || *p == '\\')
            buf[o++] = '\\';
        buf[o++] = *p;
    }
    buf[o++] = '"';
    buf[o] = '\0';
}
