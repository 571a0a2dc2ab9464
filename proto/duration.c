#include "proto/duration.h"
#include "proto/error.h"

#include <string.h>

#define NS_PER_S INT64_C(1000000000)
#define MAX_NS   (IPD_DURATION_MAX_SECONDS * NS_PER_S)

static const struct {
    const char *name;
    int64_t ns;
} units[] = {
    {"ns", 1},       {"us", 1000},    {"\xC2\xB5s", 1000},  {"\xCE\xBCs", 1000},
    {"ms", 1000000}, {"s", NS_PER_S}, {"m", 60 * NS_PER_S}, {"h", 3600 * NS_PER_S},
};

static int64_t unit_at(const char *s, size_t len, size_t *used)
{
    size_t n = 0;
    while (n < len && s[n] != '.' && (s[n] < '0' || s[n] > '9'))
        n++;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strlen(units[i].name) == n && memcmp(units[i].name, s, n) == 0) {
            *used = n;
            return units[i].ns;
        }
    return 0;
}

int ipd_go_duration_parse(const char *s, size_t len, int64_t *ns)
{
    size_t i = 0;
    int neg = 0;
    int64_t total = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (len - i == 1 && s[i] == '0') {
        *ns = 0;
        return 0;
    }
    if (i == len)
        return IPD_EINVAL;
    while (i < len) {
        int64_t whole = 0, frac = 0, scale = 1;
        size_t digits = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (whole > MAX_NS / 10)
                return IPD_EINVAL;
            whole = whole * 10 + (s[i] - '0');
        }
        if (i < len && s[i] == '.') {
            for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
                if (scale < INT64_C(1000000000000000000)) {
                    frac = frac * 10 + (s[i] - '0');
                    scale *= 10;
                }
        }
        size_t used = 0;
        int64_t unit = digits == 0 ? 0 : unit_at(s + i, len - i, &used);
        if (unit == 0 || whole > MAX_NS / unit)
            return IPD_EINVAL;
        i += used;
        total += whole * unit + (int64_t)((double)frac * ((double)unit / (double)scale));
        if (total > MAX_NS)
            return IPD_EINVAL;
    }
    *ns = neg ? -total : total;
    return 0;
}
