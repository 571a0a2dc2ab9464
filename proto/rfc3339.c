#include "proto/rfc3339.h"
#include "proto/decimal.h"
#include "proto/error.h"

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

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        return 29;
    return days[m - 1];
}

/*
 * Days from 1970-01-01 plus SHIFT_DAYS count from -0400-03-01, the start of a 400-year era
 * (a year taken from March ends with its leap day), and are non-negative for every year from
 * 0000. Every quantity below then fits 32 unsigned bits (one product takes 64), which keeps the
 * conversion a handful of multiplications: every job record carries several times.
 */
#define SHIFT_DAYS (719468 + 146097)

int ipd_time_format(int64_t ms, char *out, size_t cap)
{
    if (cap > 0)
        out[0] = '\0';
    /* 0000-01-01 .. 9999-12-31: checked before any arithmetic can overflow. */
    if (cap < 25 || ms < INT64_C(-62167219200000) || ms > INT64_C(253402300799999))
        return IPD_EINVAL;
    uint64_t shifted = (uint64_t)(ms + SHIFT_DAYS * MS_PER_DAY);
    uint32_t z = (uint32_t)(shifted / (uint64_t)MS_PER_DAY);
    uint32_t rem = (uint32_t)(shifted - (uint64_t)z * (uint64_t)MS_PER_DAY);
    /*
     * Days to a civil date by Euclidean affine functions (as in "Euclidean affine functions and
     * their application to calendar algorithms", 2022): the century, the year in it and the day
     * in that year each come from a multiply and a shift, the month and day from one more. Years
     * count from -0400 and days of the year from March 1st.
     */
    uint32_t n1 = 4 * z + 3, century = n1 / 146097, day_of_century = n1 % 146097 / 4;
    uint64_t p2 = UINT64_C(2939745) * (4 * day_of_century + 3);
    uint32_t year_of_century = (uint32_t)(p2 >> 32), doy = (uint32_t)p2 / 2939745 / 4;
    uint32_t n3 = 2141 * doy + 197913;
    uint32_t jan_feb = doy >= 306;
    uint32_t y = 100 * century + year_of_century + jan_feb - 400;
    uint32_t m = (n3 >> 16) - 12 * jan_feb, d = (n3 & 0xFFFF) / 2141 + 1;
    uint32_t sec = rem / 1000, milli = rem - sec * 1000;
    ipd_decimal_2(out, y / 100);
    ipd_decimal_2(out + 2, y % 100);
    out[4] = '-';
    ipd_decimal_2(out + 5, m);
    out[7] = '-';
    ipd_decimal_2(out + 8, d);
    out[10] = 'T';
    ipd_decimal_2(out + 11, sec / 3600);
    out[13] = ':';
    ipd_decimal_2(out + 14, sec / 60 % 60);
    out[16] = ':';
    ipd_decimal_2(out + 17, sec % 60);
    out[19] = '.';
    out[20] = (char)('0' + milli / 100);
    ipd_decimal_2(out + 21, milli % 100);
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
