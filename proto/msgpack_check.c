#include "proto/error.h"
#include "proto/msgpack_codec.h"

/* Reads an n-byte big-endian length at *p. */
static int read_len(const uint8_t **p, const uint8_t *end, unsigned n, uint64_t *v)
{
    if ((size_t)(end - *p) < n)
        return IPD_EINVAL;
    *v = 0;
    for (unsigned i = 0; i < n; i++)
        *v = *v << 8 | (*p)[i];
    *p += n;
    return 0;
}

/*
 * Sizes one object header at *p: advances past the header, sets *skip to the payload bytes that
 * follow it and *items to the elements of a container (2 per map pair), or -1 if it is none.
 */
static int header(const uint8_t **p, const uint8_t *end, uint64_t *skip, int64_t *items, uint64_t *count)
{
    uint8_t b = *(*p)++;
    uint64_t n = 0;
    int rc = 0;
    *skip = 0;
    *items = -1;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if (b <= 0x8f) {
        *count = b & 0x0f;
        *items = (int64_t)(*count * 2);
        return 0;
    }
    if (b <= 0x9f) {
        *count = b & 0x0f;
        *items = (int64_t)*count;
        return 0;
    }
    if (b <= 0xbf) {
        *skip = b & 0x1f;
        return 0;
    }
    switch (b) {
    case 0xc4:
    case 0xc5:
    case 0xc6: /* bin 8/16/32 */
        rc = read_len(p, end, 1u << (b - 0xc4), &n);
        *skip = n;
        break;
    case 0xc7:
    case 0xc8:
    case 0xc9: /* ext 8/16/32: length, then a type byte */
        rc = read_len(p, end, 1u << (b - 0xc7), &n);
        *skip = n + 1;
        break;
    case 0xca:
        *skip = 4;
        break;
    case 0xcb:
        *skip = 8;
        break;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        *skip = 1u << (b - 0xcc);
        break;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
        *skip = 1u << (b - 0xd0);
        break;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: /* fixext 1..16 plus the type byte */
        *skip = (1u << (b - 0xd4)) + 1;
        break;
    case 0xd9:
    case 0xda:
    case 0xdb: /* str 8/16/32 */
        rc = read_len(p, end, 1u << (b - 0xd9), &n);
        *skip = n;
        break;
    case 0xdc:
    case 0xdd: /* array 16/32 */
        rc = read_len(p, end, 2u << (b - 0xdc), count);
        *items = (int64_t)*count;
        break;
    case 0xde:
    case 0xdf: /* map 16/32 */
        rc = read_len(p, end, 2u << (b - 0xde), count);
        *items = (int64_t)(*count * 2);
        break;
    default: /* 0xc1 is never used */
        return IPD_EINVAL;
    }
    return rc;
}

int ipd_msgpack_check(const void *data, size_t len, const ipd_msgpack_limits_t *limits)
{
    const uint8_t *p = data, *end = p + len;
    uint64_t stack[IPD_MSGPACK_DEPTH_CEILING];
    unsigned depth = 0, max_depth = limits->max_depth;
    uint64_t pending = 1;
    if (max_depth > IPD_MSGPACK_DEPTH_CEILING)
        max_depth = IPD_MSGPACK_DEPTH_CEILING;
    if (len > limits->max_size)
        return IPD_ETOOBIG;
    for (;;) {
        while (pending == 0 && depth > 0)
            pending = stack[--depth];
        if (pending == 0)
            break;
        if (p == end)
            return IPD_EINVAL;
        pending--;
        uint64_t skip, count = 0;
        int64_t items;
        int rc = header(&p, end, &skip, &items, &count);
        if (rc != 0)
            return rc;
        if (skip > (uint64_t)(end - p))
            return IPD_EINVAL;
        p += skip;
        if (items < 0)
            continue;
        /* Every element takes at least one byte: a larger count cannot be real. */
        if ((uint64_t)items > (uint64_t)(end - p))
            return IPD_EINVAL;
        if (count > limits->max_items || depth >= max_depth)
            return IPD_ETOOBIG;
        stack[depth++] = pending;
        pending = (uint64_t)items;
    }
    return p == end ? 0 : IPD_EINVAL;
}
