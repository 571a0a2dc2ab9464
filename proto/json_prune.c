#include "proto/json_prune.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"
#include "proto/utf8.h"

/* jansson rejects a value nested deeper than this (the top level is depth 1); so must we. */
#ifdef JSON_PARSER_MAX_DEPTH
#define MAX_DEPTH JSON_PARSER_MAX_DEPTH
#else
#define MAX_DEPTH 2048
#endif

typedef struct dec {
    const unsigned char *p, *end;
} dec_t;

static void skip_ws(dec_t *d)
{
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t'))
        d->p++;
}

static int is_digit(unsigned c)
{
    return c >= '0' && c <= '9';
}

/* Bytes a string holds as they are: printable ASCII other than the quote and the backslash. */
static int is_plain(unsigned c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

#define ONES  UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/*
 * True when all 8 bytes of `v` are plain, eight at a time instead of one: a byte below 0x20
 * wraps around when 0x20 is taken from it, a quote or a backslash when 1 is taken from it xored
 * with itself (zero); either sets the byte's high bit, which non-ASCII bytes have already. Only
 * a byte that wrapped borrows from its neighbour, so a borrow can neither hide a special byte
 * nor make one up in a word that has none.
 */
static int plain8(uint64_t v)
{
    uint64_t q = v ^ (ONES * '"'), b = v ^ (ONES * '\\');
    return (((v - ONES * 0x20) | (q - ONES) | (b - ONES) | v) & HIGHS) == 0;
}

static int hex4(const unsigned char *p, const unsigned char *end, uint32_t *out)
{
    uint32_t v = 0;
    if (end - p < 4)
        return IPD_EINVAL;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        v <<= 4;
        if (is_digit(c))
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return IPD_EINVAL;
    }
    *out = v;
    return 0;
}

/*
 * At the opening quote of a string: moves past the closing one, checking what jansson checks
 * (no control character, known escapes only, paired surrogate escapes, valid UTF-8). \u0000 is
 * refused too: jansson takes it neither in a key nor, without JSON_ALLOW_NUL, in a value.
 * Sets *escaped (if not NULL) when the string holds an escape.
 */
static int skip_str(dec_t *d, int *escaped)
{
    const unsigned char *p = d->p + 1, *end = d->end;
    for (;;) {
        while (end - p >= 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            if (!plain8(v))
                break;
            p += 8;
        }
        while (p < end && is_plain(*p))
            p++;
        if (p >= end)
            return IPD_EINVAL;
        unsigned c = *p;
        if (c == '"') {
            d->p = p + 1;
            return 0;
        }
        if (c < 0x20)
            return IPD_EINVAL;
        if (c >= 0x80) {
            size_t n = ipd_utf8_seq(p, (size_t)(end - p), NULL);
            if (n == 0)
                return IPD_EINVAL;
            p += n;
            continue;
        }
        /* A backslash. */
        if (escaped != NULL)
            *escaped = 1;
        if (end - p < 2)
            return IPD_EINVAL;
        c = p[1];
        p += 2;
        if (c == 'u') {
            uint32_t u, lo;
            if (hex4(p, end, &u) != 0 || u == 0 || (u >= 0xDC00 && u <= 0xDFFF))
                return IPD_EINVAL;
            p += 4;
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (end - p < 2 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) != 0 || lo < 0xDC00 ||
                    lo > 0xDFFF)
                    return IPD_EINVAL;
                p += 6;
            }
        } else if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r' && c != 't') {
            return IPD_EINVAL;
        }
    }
}

static size_t utf8_put(uint32_t u, char *out)
{
    if (u < 0x80) {
        out[0] = (char)u;
        return 1;
    }
    if (u < 0x800) {
        out[0] = (char)(0xC0 | (u >> 6));
        out[1] = (char)(0x80 | (u & 0x3F));
        return 2;
    }
    if (u < 0x10000) {
        out[0] = (char)(0xE0 | (u >> 12));
        out[1] = (char)(0x80 | ((u >> 6) & 0x3F));
        out[2] = (char)(0x80 | (u & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (u >> 18));
    out[1] = (char)(0x80 | ((u >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((u >> 6) & 0x3F));
    out[3] = (char)(0x80 | (u & 0x3F));
    return 4;
}

/* Decodes the `len` raw bytes of a string skip_str() accepted into `out`, which has room for
 * `len` bytes: no escape decodes to more bytes than it takes. Returns the decoded length. */
static size_t unescape(const unsigned char *s, size_t len, char *out)
{
    const unsigned char *end = s + len;
    size_t n = 0;
    while (s < end) {
        if (*s != '\\') {
            out[n++] = (char)*s++;
            continue;
        }
        unsigned c = s[1];
        s += 2;
        switch (c) {
        case 'b':
            out[n++] = '\b';
            break;
        case 'f':
            out[n++] = '\f';
            break;
        case 'n':
            out[n++] = '\n';
            break;
        case 'r':
            out[n++] = '\r';
            break;
        case 't':
            out[n++] = '\t';
            break;
        case 'u': {
            uint32_t u = 0, lo = 0;
            hex4(s, end, &u);
            s += 4;
            if (u >= 0xD800 && u <= 0xDBFF) {
                hex4(s + 2, end, &lo);
                s += 6;
                u = ((u - 0xD800) << 10) + (lo - 0xDC00) + 0x10000;
            }
            n += utf8_put(u, out + n);
            break;
        }
        default: /* '"', '\\', '/' */
            out[n++] = (char)c;
        }
    }
    return n;
}

/* Converts number text jansson would hand to strtoll or strtod, with its overflow verdict. */
static int convert_number(const unsigned char *s, size_t n, int real, json_t **out)
{
    char small[64], *text = n < sizeof(small) ? small : malloc(n + 1);
    int rc = 0;
    if (text == NULL)
        return -ENOMEM;
    memcpy(text, s, n);
    text[n] = '\0';
    errno = 0;
    if (real) {
        /* As jansson does: strtod reads the locale's decimal point. */
        const char *point = localeconv()->decimal_point;
        char *dot = point[0] != '.' ? strchr(text, '.') : NULL;
        if (dot != NULL)
            *dot = point[0];
        double v = strtod(text, NULL);
        if ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE)
            rc = IPD_EINVAL;
        else if (out != NULL && (*out = json_real(v)) == NULL)
            rc = -ENOMEM;
    } else {
        json_int_t v = strtoll(text, NULL, 10);
        if (errno == ERANGE)
            rc = IPD_EINVAL;
        else if (out != NULL && (*out = json_integer(v)) == NULL)
            rc = -ENOMEM;
    }
    if (text != small)
        free(text);
    return rc;
}

/*
 * jansson reads one byte past a number or a literal and pushes it back; a NUL byte pushed back
 * is lost, so one NUL right after such a token is ignored. Accepting the same texts means
 * ignoring it too.
 */
static void skip_pushed_back_nul(dec_t *d)
{
    if (d->p < d->end && *d->p == '\0')
        d->p++;
}

/* At a '-' or a digit: moves past the number and, with `out`, decodes it. */
static int scan_number(dec_t *d, json_t **out)
{
    const unsigned char *s = d->p, *p = s, *end = d->end;
    int real = 0;
    if (p < end && *p == '-')
        p++;
    if (p >= end || !is_digit(*p))
        return IPD_EINVAL;
    if (*p++ == '0') {
        if (p < end && is_digit(*p))
            return IPD_EINVAL;
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && *p == '.') {
        if (++p >= end || !is_digit(*p))
            return IPD_EINVAL;
        while (p < end && is_digit(*p))
            p++;
        real = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return IPD_EINVAL;
        while (p < end && is_digit(*p))
            p++;
        real = 1;
    }
    d->p = p;
    skip_pushed_back_nul(d);
    int neg = *s == '-';
    if (!real && (size_t)(p - s) - (size_t)neg <= 18) {
        /* Up to 18 digits always fit an int64: no need for strtoll and a copy. */
        if (out != NULL) {
            json_int_t v = 0;
            for (const unsigned char *q = s + neg; q < p; q++)
                v = v * 10 + (*q - '0');
            if ((*out = json_integer(neg ? -v : v)) == NULL)
                return -ENOMEM;
        }
        return 0;
    }
    return convert_number(s, (size_t)(p - s), real, out);
}

/* At a value that is no string, number, object or array: true, false or null, else invalid. */
static int scan_literal(dec_t *d, json_t **out)
{
    const char *word = *d->p == 't' ? "true" : *d->p == 'f' ? "false" : *d->p == 'n' ? "null" : NULL;
    size_t n = word != NULL ? strlen(word) : 0;
    if (word == NULL || (size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0)
        return IPD_EINVAL;
    d->p += n;
    skip_pushed_back_nul(d);
    if (out != NULL)
        *out = word[0] == 't' ? json_true() : word[0] == 'f' ? json_false() : json_null();
    return 0;
}

/* At an object key: moves past it, the colon and the white space after it. */
static int skip_key(dec_t *d)
{
    if (d->p >= d->end || *d->p != '"' || skip_str(d, NULL) != 0)
        return IPD_EINVAL;
    skip_ws(d);
    if (d->p >= d->end || *d->p != ':')
        return IPD_EINVAL;
    d->p++;
    skip_ws(d);
    return 0;
}

static int skip_scalar(dec_t *d)
{
    unsigned c = *d->p;
    if (c == '"')
        return skip_str(d, NULL);
    if (c == '-' || is_digit(c))
        return scan_number(d, NULL);
    return scan_literal(d, NULL);
}

/*
 * Skips the value at d->p, checking all of it, without allocating. `depth` is the value's depth
 * as jansson counts it. Iterative, so that deep nesting costs no stack beyond one closer per level.
 */
static int skip_value(dec_t *d, size_t depth)
{
    char closer[MAX_DEPTH]; /* what ends each container entered and not yet left */
    size_t open = 0;
    int rc;
    for (;;) {
        /* At a value: the top one, an element, or a member's after its key. */
        if (depth + open > MAX_DEPTH || d->p >= d->end)
            return IPD_EINVAL;
        unsigned c = *d->p;
        if (c == '{' || c == '[') {
            d->p++;
            closer[open++] = c == '{' ? '}' : ']';
            skip_ws(d);
            if (d->p >= d->end || *d->p != (unsigned char)closer[open - 1]) {
                if (c == '{' && (rc = skip_key(d)) != 0)
                    return rc;
                continue;
            }
            d->p++;
            open--;
        } else if ((rc = skip_scalar(d)) != 0) {
            return rc;
        }
        /* After a value: leave the containers that end here, then go to the next value. */
        for (;;) {
            if (open == 0)
                return 0;
            skip_ws(d);
            if (d->p >= d->end)
                return IPD_EINVAL;
            if (*d->p == ',') {
                d->p++;
                skip_ws(d);
                if (closer[open - 1] == '}' && (rc = skip_key(d)) != 0)
                    return rc;
                break;
            }
            if (*d->p != (unsigned char)closer[open - 1])
                return IPD_EINVAL;
            d->p++;
            open--;
        }
    }
}

/* True when the NUL-terminated `name` is the `len` bytes at `key` (which hold no NUL). */
static int name_is(const char *name, const unsigned char *key, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] != key[i])
            return 0;
    return name[len] == '\0';
}

static const ipd_json_field_t *field_named(const ipd_json_shape_t *shape, const unsigned char *key, size_t len)
{
    for (size_t i = 0; i < shape->nfields; i++)
        if (name_is(shape->fields[i].name, key, len))
            return &shape->fields[i];
    return NULL;
}

/*
 * At an object key: moves past it, its colon and white space, and points *field at the member
 * of `shape` it names, or NULL. An escaped key is compared as decoded, as jansson stores it.
 */
static int read_key(dec_t *d, const ipd_json_shape_t *shape, const ipd_json_field_t **field)
{
    const unsigned char *key = d->p + 1;
    int escaped = 0;
    if (d->p >= d->end || *d->p != '"' || skip_str(d, &escaped) != 0)
        return IPD_EINVAL;
    size_t len = (size_t)(d->p - 1 - key);
    *field = NULL;
    if (!escaped) {
        *field = field_named(shape, key, len);
    } else if (shape->nfields > 0) {
        char *plain = malloc(len);
        if (plain == NULL)
            return -ENOMEM;
        *field = field_named(shape, (const unsigned char *)plain, unescape(key, len, plain));
        free(plain);
    }
    skip_ws(d);
    if (d->p >= d->end || *d->p != ':')
        return IPD_EINVAL;
    d->p++;
    skip_ws(d);
    return 0;
}

/* After a member or an element: 1 when a ',' follows (consumed), 0 at `close` (consumed), else IPD_EINVAL. */
static int after_item(dec_t *d, char close)
{
    skip_ws(d);
    if (d->p < d->end && *d->p == ',') {
        d->p++;
        skip_ws(d);
        return 1;
    }
    if (d->p < d->end && *d->p == (unsigned char)close) {
        d->p++;
        return 0;
    }
    return IPD_EINVAL;
}

/* Steps over an opening '{' or '['; 1 when `close` follows at once (consumed), else 0. */
static int opens_empty(dec_t *d, char close)
{
    d->p++;
    skip_ws(d);
    if (d->p < d->end && *d->p == (unsigned char)close) {
        d->p++;
        return 1;
    }
    return 0;
}

/* Hands `doc` out when `rc` is 0, else frees it; returns `rc`. */
static int finish(int rc, json_t *doc, json_t **out)
{
    if (rc == 0)
        *out = doc;
    else
        json_decref(doc);
    return rc;
}

static int decode(dec_t *d, size_t depth, const ipd_json_shape_t *shape, json_t **out);

static int decode_object(dec_t *d, size_t depth, const ipd_json_shape_t *shape, json_t **out)
{
    json_t *obj = json_object();
    int rc;
    if (obj == NULL)
        return -ENOMEM;
    if (opens_empty(d, '}'))
        return finish(0, obj, out);
    for (;;) {
        const ipd_json_field_t *f;
        json_t *v;
        if ((rc = read_key(d, shape, &f)) != 0)
            break;
        if (f == NULL) {
            rc = skip_value(d, depth + 1);
        } else if ((rc = decode(d, depth + 1, f->shape, &v)) == 0) {
            /* A repeated member replaces the earlier one, as in jansson. */
            rc = json_object_set_new_nocheck(obj, f->name, v) == 0 ? 0 : -ENOMEM;
        }
        if (rc != 0 || (rc = after_item(d, '}')) != 1)
            break;
    }
    return finish(rc, obj, out);
}

static int decode_array(dec_t *d, size_t depth, const ipd_json_shape_t *items, json_t **out)
{
    json_t *arr = json_array();
    int rc;
    if (arr == NULL)
        return -ENOMEM;
    if (opens_empty(d, ']'))
        return finish(0, arr, out);
    for (;;) {
        json_t *v;
        if ((rc = decode(d, depth + 1, items, &v)) != 0)
            break;
        if (json_array_append_new(arr, v) != 0) {
            rc = -ENOMEM;
            break;
        }
        if ((rc = after_item(d, ']')) != 1)
            break;
    }
    return finish(rc, arr, out);
}

static int decode_string(dec_t *d, json_t **out)
{
    const unsigned char *s = d->p + 1;
    int escaped = 0;
    if (skip_str(d, &escaped) != 0)
        return IPD_EINVAL;
    size_t len = (size_t)(d->p - 1 - s);
    if (!escaped) {
        /* skip_str checked the UTF-8 and that there is no NUL. */
        *out = json_stringn_nocheck((const char *)s, len);
        return *out != NULL ? 0 : -ENOMEM;
    }
    char small[256], *text = len <= sizeof(small) ? small : malloc(len);
    if (text == NULL)
        return -ENOMEM;
    *out = json_stringn_nocheck(text, unescape(s, len, text));
    if (text != small)
        free(text);
    return *out != NULL ? 0 : -ENOMEM;
}

/* At a value (after white space): decodes what `shape` keeps of it into *out. */
static int decode(dec_t *d, size_t depth, const ipd_json_shape_t *shape, json_t **out)
{
    if (depth > MAX_DEPTH || d->p >= d->end)
        return IPD_EINVAL;
    unsigned c = *d->p;
    if (c == '{' && shape != NULL && shape->kind == IPD_JSON_SHAPE_OBJECT)
        return decode_object(d, depth, shape, out);
    if (c == '[' && shape != NULL && shape->kind == IPD_JSON_SHAPE_ARRAY)
        return decode_array(d, depth, shape->items, out);
    if (c == '{' || c == '[') {
        /* Kept whole: checked here, then built by jansson, which cannot refuse it now. */
        const unsigned char *start = d->p;
        int rc = skip_value(d, depth);
        if (rc != 0)
            return rc;
        *out = json_loadb((const char *)start, (size_t)(d->p - start), 0, NULL);
        return *out != NULL ? 0 : -ENOMEM;
    }
    if (c == '"')
        return decode_string(d, out);
    if (c == '-' || is_digit(c))
        return scan_number(d, out);
    return scan_literal(d, out);
}

int ipd_json_prune_load(const char *buf, size_t len, const ipd_json_shape_t *shape, json_t **out)
{
    if (buf == NULL)
        return IPD_EINVAL;
    dec_t d = {(const unsigned char *)buf, (const unsigned char *)buf + len};
    json_t *v;
    skip_ws(&d);
    if (d.p >= d.end || (*d.p != '{' && *d.p != '['))
        return IPD_EINVAL;
    int rc = decode(&d, 1, shape, &v);
    if (rc != 0)
        return rc;
    skip_ws(&d);
    if (d.p != d.end) {
        json_decref(v);
        return IPD_EINVAL;
    }
    *out = v;
    return 0;
}

json_t *ipd_json_prune(const json_t *doc, const ipd_json_shape_t *shape)
{
    int object = shape != NULL && shape->kind == IPD_JSON_SHAPE_OBJECT;
    if (shape == NULL || (object ? !json_is_object(doc) : !json_is_array(doc)))
        return json_deep_copy(doc);
    json_t *out = object ? json_object() : json_array();
    if (out == NULL)
        return NULL;
    if (object) {
        for (size_t i = 0; i < shape->nfields; i++) {
            const json_t *m = json_object_get(doc, shape->fields[i].name);
            json_t *copy = m != NULL ? ipd_json_prune(m, shape->fields[i].shape) : NULL;
            if (m != NULL && (copy == NULL || json_object_set_new_nocheck(out, shape->fields[i].name, copy) != 0)) {
                json_decref(out);
                return NULL;
            }
        }
    } else {
        size_t i;
        const json_t *e;
        json_array_foreach(doc, i, e)
        {
            json_t *copy = ipd_json_prune(e, shape->items);
            if (copy == NULL || json_array_append_new(out, copy) != 0) {
                json_decref(out);
                return NULL;
            }
        }
    }
    return out;
}
