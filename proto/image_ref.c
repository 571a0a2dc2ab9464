#include "proto/image_ref.h"
#include "proto/error.h"
#include "proto/job.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN  128

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c, int lower_only)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (!lower_only && c >= 'A' && c <= 'F');
}

/* host [":" port]; DNS names and IPv4 share the grammar of dot-separated components. */
static int check_registry(const char *s, size_t n, char *why, size_t cap)
{
    size_t i = 0;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL || close == s + 1)
            return ipd_errmsg(why, cap, IPD_EINVAL, "registry IPv6 address must be written [address]");
        for (i = 1; s + i < close; i++)
            if (!is_hex(s[i], 0) && s[i] != ':' && s[i] != '.')
                return ipd_errmsg(why, cap, IPD_EINVAL,
                                  "registry IPv6 address may only contain hex digits, ':' and '.'");
        i++;
    } else {
        size_t start = 0;
        for (;; i++) {
            if (i == n || s[i] == '.' || s[i] == ':') {
                if (i == start || s[start] == '-' || s[i - 1] == '-')
                    return ipd_errmsg(why, cap, IPD_EINVAL,
                                      "registry host \"%.*s\" must be dot-separated names of letters, digits "
                                      "and inner '-'",
                                      (int)n, s);
                if (i == n || s[i] == ':')
                    break;
                start = i + 1;
            } else if (!is_alnum(s[i]) && s[i] != '-') {
                return ipd_errmsg(why, cap, IPD_EINVAL,
                                  "registry host \"%.*s\" may only contain letters, digits, '-' and '.'", (int)n, s);
            }
        }
    }
    if (i == n)
        return 0;
    if (s[i] != ':' || i + 1 == n || n - i - 1 > 5)
        return ipd_errmsg(why, cap, IPD_EINVAL, "registry port must be a number from 1 to 65535");
    unsigned port = 0;
    for (i++; i < n; i++) {
        if (!is_digit(s[i]))
            return ipd_errmsg(why, cap, IPD_EINVAL, "registry port must be a number from 1 to 65535");
        port = port * 10 + (unsigned)(s[i] - '0');
    }
    if (port == 0 || port > 65535)
        return ipd_errmsg(why, cap, IPD_EINVAL, "registry port must be a number from 1 to 65535");
    return 0;
}

static int check_component(const char *s, size_t n, char *why, size_t cap)
{
    if (n == 0)
        return ipd_errmsg(why, cap, IPD_EINVAL, "repository path must not contain an empty component (\"//\")");
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            return ipd_errmsg(why, cap, IPD_EINVAL, "repository name must be lowercase");
        if (!is_lower_alnum(c) && c != '.' && c != '_' && c != '-')
            return ipd_errmsg(why, cap, IPD_EINVAL,
                              "repository name may only contain lowercase letters, digits and the "
                              "separators '.', '_', '__', '-'");
    }
    if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return ipd_errmsg(why, cap, IPD_EINVAL,
                          "each repository path component must start and end with a letter or digit");
    for (size_t i = 1; i < n; i++) {
        if (is_lower_alnum(s[i]))
            continue;
        /* A separator is ".", "_", "__" or a run of dashes. */
        size_t run = 1, dashes = s[i] == '-';
        while (!is_lower_alnum(s[i + run])) {
            dashes += s[i + run] == '-';
            run++;
        }
        if (!(run == 1 || dashes == run || (run == 2 && s[i] == '_' && s[i + 1] == '_')))
            return ipd_errmsg(why, cap, IPD_EINVAL,
                              "repository path separators must be '.', '_', '__' or dashes, between letters "
                              "or digits");
        i += run - 1;
    }
    return 0;
}

static int check_tag(const char *s, size_t n, char *why, size_t cap)
{
    const char *rule = "tag must be 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'";
    if (n == 0 || n > TAG_MAX_LEN || !(is_alnum(s[0]) || s[0] == '_'))
        return ipd_errmsg(why, cap, IPD_EINVAL, "%s", rule);
    for (size_t i = 1; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return ipd_errmsg(why, cap, IPD_EINVAL, "%s", rule);
    return 0;
}

static int check_digest(const char *s, size_t n, char *why, size_t cap)
{
    const char *colon = memchr(s, ':', n);
    size_t alen = colon != NULL ? (size_t)(colon - s) : n;
    size_t hlen = colon != NULL ? n - alen - 1 : 0;
    size_t want = 0;
    if (alen == 6 && memcmp(s, "sha256", 6) == 0)
        want = 64;
    else if (alen == 6 && memcmp(s, "sha512", 6) == 0)
        want = 128;
    if (want != 0) {
        int ok = hlen == want;
        for (size_t i = 0; ok && i < hlen; i++)
            ok = is_hex(colon[1 + i], 1);
        if (!ok)
            return ipd_errmsg(why, cap, IPD_EINVAL, "digest must be %.6s:<%zu lowercase hex digits>", s, want);
        return 0;
    }
    if (colon == NULL || alen == 0)
        return ipd_errmsg(why, cap, IPD_EINVAL, "digest must be sha256:<64 lowercase hex digits>");
    int start = 1;
    for (size_t i = 0; i < alen; i++) {
        char c = s[i];
        int sep = c == '+' || c == '.' || c == '_' || c == '-';
        if ((start && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) || (!sep && !is_alnum(c)))
            return ipd_errmsg(why, cap, IPD_EINVAL,
                              "digest algorithm \"%.*s\" is not valid; use sha256:<64 lowercase hex digits>", (int)alen,
                              s);
        start = sep;
    }
    if (start)
        return ipd_errmsg(why, cap, IPD_EINVAL, "digest algorithm must not end with a separator");
    if (hlen < 32)
        return ipd_errmsg(why, cap, IPD_EINVAL, "digest must have at least 32 hex digits after the algorithm");
    for (size_t i = 0; i < hlen; i++)
        if (!is_hex(colon[1 + i], 0))
            return ipd_errmsg(why, cap, IPD_EINVAL, "digest may only contain hex digits after the algorithm");
    return 0;
}

static int check_chars(const char *ref, size_t len, char *why, size_t cap)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)ref[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            return ipd_errmsg(why, cap, IPD_EINVAL, "image reference must not contain whitespace");
        if (c < 0x20 || c >= 0x7f)
            return ipd_errmsg(why, cap, IPD_EINVAL, "image reference must be printable ASCII");
    }
    return 0;
}

int ipd_image_ref_parse(const char *ref, size_t len, ipd_image_ref_t *out, char *why, size_t cap)
{
    ipd_image_ref_t r;
    memset(&r, 0, sizeof(r));
    if (cap > 0)
        why[0] = '\0';
    if (len == 0)
        return ipd_errmsg(why, cap, IPD_EINVAL, "image reference is empty");
    if (len >= IPD_IMAGE_SIZE)
        return ipd_errmsg(why, cap, IPD_EINVAL, "image reference must be at most %d characters", IPD_IMAGE_SIZE - 1);
    int rc = check_chars(ref, len, why, cap);
    if (rc != 0)
        return rc;
    const char *at = memchr(ref, '@', len);
    size_t nlen = at != NULL ? (size_t)(at - ref) : len;
    if (at != NULL) {
        r.digest_off = nlen + 1;
        r.digest_len = len - nlen - 1;
        if ((rc = check_digest(at + 1, r.digest_len, why, cap)) != 0)
            return rc;
    }
    size_t slash = nlen, colon = nlen;
    for (size_t i = 0; i < nlen; i++) {
        if (ref[i] == '/')
            slash = i;
        else if (ref[i] == ':')
            colon = i;
    }
    if (colon < nlen && (slash == nlen || colon > slash)) {
        r.tag_off = colon + 1;
        r.tag_len = nlen - colon - 1;
        if ((rc = check_tag(ref + r.tag_off, r.tag_len, why, cap)) != 0)
            return rc;
        nlen = colon;
    }
    if (nlen == 0)
        return ipd_errmsg(why, cap, IPD_EINVAL, "repository name is empty");
    if (nlen > NAME_MAX_LEN)
        return ipd_errmsg(why, cap, IPD_EINVAL, "repository name must be at most %d characters", NAME_MAX_LEN);
    if (ref[nlen - 1] == '/')
        return ipd_errmsg(why, cap, IPD_EINVAL, "repository name must not end with '/'");
    if (ref[0] == '/')
        return ipd_errmsg(why, cap, IPD_EINVAL, "repository name must not start with '/'");
    const char *first_slash = memchr(ref, '/', nlen);
    if (first_slash != NULL) {
        size_t flen = (size_t)(first_slash - ref);
        int registry = memchr(ref, '.', flen) || memchr(ref, ':', flen) || (flen == 9 && !memcmp(ref, "localhost", 9));
        for (size_t i = 0; !registry && i < flen; i++)
            registry = ref[i] >= 'A' && ref[i] <= 'Z';
        if (registry) {
            if ((rc = check_registry(ref, flen, why, cap)) != 0)
                return rc;
            r.registry_len = flen;
            r.path_off = flen + 1;
        }
    }
    r.path_len = nlen - r.path_off;
    for (size_t start = r.path_off, i = start;; i++) {
        if (i == nlen || ref[i] == '/') {
            if ((rc = check_component(ref + start, i - start, why, cap)) != 0)
                return rc;
            if (i == nlen)
                break;
            start = i + 1;
        }
    }
    if (out != NULL)
        *out = r;
    return 0;
}

int ipd_image_ref_validate(const char *ref, char *why, size_t cap)
{
    return ipd_image_ref_parse(ref, strlen(ref), NULL, why, cap);
}
