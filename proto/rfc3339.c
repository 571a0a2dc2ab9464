#include "proto/rfc3339.h"
#include "proto/error.h"

#include <stdio.h>

#define MS_PER_DAY INT64_C(86400000)

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        return 29;
    return days[m - 1];
}

/* Writes `v` (0 <= v < 10^n) as exactly `n` digits, zero-padded. */
static void put_digits(char *out, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

int ipd_time_format(int64_t ms, char *out, size_t cap)
{
    if (cap > 0)
        out[0] = '\0';
    /* 0000-01-01 .. 9999-12-31: checked before any arithmetic can overflow. */
    if (cap < 25 || ms < INT64_C(-62167219200000) || ms > INT64_C(253402300799999))
        return IPD_EINVAL;
    int64_t days = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int sec = (int)(rem / 1000);
    /* Written digit by digit: every job record carries several times, and snprintf was a
     * visible share of publishing one (docs/benchmarks.md, the Redis link's ingestion). */
    put_digits(out, (int)y, 4);
    out[4] = '-';
    put_digits(out + 5, m, 2);
    out[7] = '-';
    put_digits(out + 8, d, 2);
    out[10] = 'T';
    put_digits(out + 11, sec / 3600, 2);
    out[13] = ':';
    put_digits(out + 14, sec / 60 % 60, 2);
    out[16] = ':';
    put_digits(out + 17, sec % 60, 2);
    out[19] = '.';
    put_digits(out + 20, (int)(rem % 1000), 3);
    out[23] = 'Z';
    out[24] = '\0';
    return 24;
}

/* Reads exactly `n` digits at *p; returns the value or -1. */
static int digits(const char **p, const char *end, int n)
{
    int v = 0;
    if (end - *p < n)
        return -1;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    return v;
}

static int expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c)
        return -1;
    (*p)++;
    return 0;
}

int ipd_time_parse(const char *s, size_t len, int64_t *ms)
{
    const char *p = s, *end = s + len;
    int y = digits(&p, end, 4);
    if (y < 0 || expect(&p, end, '-') < 0)
        return IPD_EINVAL;
    int mo = digits(&p, end, 2);
    if (mo < 1 || mo > 12 || expect(&p, end, '-') < 0)
        return IPD_EINVAL;
    int d = digits(&p, end, 2);
    if (d < 1 || d > days_in_month(y, mo) || p >= end || (*p != 'T' && *p != 't' && *p != ' '))
        return IPD_EINVAL;
    p++;
    int h = digits(&p, end, 2);
    if (h < 0 || h > 23 || expect(&p, end, ':') < 0)
        return IPD_EINVAL;
    int mi = digits(&p, end, 2);
    if (mi < 0 || mi > 59 || expect(&p, end, ':') < 0)
        return IPD_EINVAL;
    int sec = digits(&p, end, 2);
    if (sec < 0 || sec > 60)
        return IPD_EINVAL;
    int frac = 0;
    if (p < end && *p == '.') {
        int n = 0;
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                frac = frac * 10 + (*p - '0');
        if (n == 0)
            return IPD_EINVAL;
        for (; n < 3; n++)
            frac *= 10;
    }
    int offset = 0;
    if (p < end && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        int sign = *p++ == '-' ? -1 : 1;
        int oh = digits(&p, end, 2);
        if (oh < 0 || oh > 23 || expect(&p, end, ':') < 0)
            return IPD_EINVAL;
        int om = digits(&p, end, 2);
        if (om < 0 || om > 59)
            return IPD_EINVAL;
        offset = sign * (oh * 60 + om);
    } else {
        return IPD_EINVAL;
    }
    if (p != end)
        return IPD_EINVAL;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset * 60;
    *ms = secs * 1000 + frac;
    return 0;
}
