#include "proto/base64url.h"

#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int value_of(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

int ipd_base64url_encode(const void *in, size_t n, char *out, size_t cap)
{
    const unsigned char *p = in;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        size_t chars = n - i >= 3 ? 4 : n - i + 1;
        if (o + chars + 1 > cap)
            return -1;
        for (size_t k = 0; k < chars; k++)
            out[o++] = alphabet[(v >> (18 - 6 * k)) & 63];
    }
    if (o + 1 > cap)
        return -1;
    out[o] = '\0';
    return (int)o;
}

int ipd_base64url_decode(const char *in, size_t n, void *out, size_t cap)
{
    unsigned char *q = out;
    size_t o = 0;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        size_t chars = n - i >= 4 ? 4 : n - i;
        uint32_t v = 0;
        for (size_t k = 0; k < 4; k++) {
            int d = k < chars ? value_of(in[i + k]) : 0;
            if (d < 0)
                return -1;
            v = v << 6 | (uint32_t)d;
        }
        size_t bytes = chars - 1;
        if (chars < 4 && (v & ((1u << (8 * (3 - bytes))) - 1)) != 0)
            return -1;
        if (o + bytes > cap)
            return -1;
        for (size_t k = 0; k < bytes; k++)
            q[o++] = (unsigned char)(v >> (16 - 8 * k));
    }
    return (int)o;
}
