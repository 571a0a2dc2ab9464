#include "proto/http_host.h"

#include <arpa/inet.h>
#include <string.h>

#define DNS_NAME_MAX 253

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool parse_ipv4(const char *s, size_t len, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= len || s[i] != '.')
                return false;
            i++;
        }
        unsigned v = 0, digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(s[i++] - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || v > 255)
            return false;
        out[part] = (uint8_t)v;
    }
    return i == len;
}

static bool parse_ipv6(const char *s, size_t len, uint8_t out[16])
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, out) == 1;
}

static bool is_dns_name(const char *s, size_t len)
{
    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0 || len > DNS_NAME_MAX)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = lower(s[i]);
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0;
}

int ipd_http_authority_parse(const char *s, size_t len, ipd_http_authority_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t host_end;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        uint8_t v6[16];
        if (close == NULL || !parse_ipv6(s + 1, (size_t)(close - s) - 1, v6))
            return -1;
        out->host = s + 1;
        out->host_len = (size_t)(close - s) - 1;
        out->is_ip = true;
        host_end = (size_t)(close - s) + 1;
    } else {
        const char *colon = memchr(s, ':', len);
        host_end = colon != NULL ? (size_t)(colon - s) : len;
        uint8_t v4[4];
        out->host = s;
        out->host_len = host_end;
        out->is_ip = parse_ipv4(s, host_end, v4);
        if (!out->is_ip && !is_dns_name(s, host_end))
            return -1;
    }
    if (host_end == len)
        return 0;
    if (s[host_end] != ':' || host_end + 1 == len || len - host_end - 1 > 5)
        return -1;
    int port = 0;
    for (size_t i = host_end + 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        port = port * 10 + (s[i] - '0');
    }
    if (port < 1 || port > 65535)
        return -1;
    out->port = port;
    return 0;
}

/* The host without a trailing dot. */
static size_t host_len(const ipd_http_authority_t *a)
{
    return a->host_len > 0 && a->host[a->host_len - 1] == '.' ? a->host_len - 1 : a->host_len;
}

static bool equal_nocase(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

bool ipd_http_host_is_loopback(const ipd_http_authority_t *a)
{
    size_t n = host_len(a);
    if (a->is_ip) {
        uint8_t v4[4], v6[16];
        static const uint8_t one[16] = {[15] = 1};
        if (parse_ipv4(a->host, a->host_len, v4))
            return v4[0] == 127;
        return parse_ipv6(a->host, a->host_len, v6) && memcmp(v6, one, 16) == 0;
    }
    static const char suffix[] = ".localhost";
    const size_t slen = sizeof(suffix) - 1;
    return equal_nocase(a->host, n, "localhost", 9) ||
           (n > slen && equal_nocase(a->host + n - slen, slen, suffix, slen));
}

bool ipd_http_host_is(const ipd_http_authority_t *a, const char *name)
{
    size_t nlen = strlen(name);
    if (nlen >= 2 && name[0] == '[' && name[nlen - 1] == ']') {
        name++;
        nlen -= 2;
    }
    if (nlen > 0 && name[nlen - 1] == '.')
        nlen--;
    return equal_nocase(a->host, host_len(a), name, nlen);
}

int ipd_http_origin_parse(const char *s, size_t len, ipd_http_origin_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t skip;
    if (len > 7 && equal_nocase(s, 7, "http://", 7)) {
        skip = 7;
    } else if (len > 8 && equal_nocase(s, 8, "https://", 8)) {
        skip = 8;
        out->https = true;
    } else {
        return -1;
    }
    return ipd_http_authority_parse(s + skip, len - skip, &out->authority);
}

bool ipd_http_authority_same(const ipd_http_authority_t *a, const ipd_http_authority_t *b, int default_port)
{
    int pa = a->port ? a->port : default_port, pb = b->port ? b->port : default_port;
    return pa == pb && equal_nocase(a->host, host_len(a), b->host, host_len(b));
}
