#include "proto/decimal.h"

const char ipd_decimal_pairs[200] = "00010203040506070809"
                                    "10111213141516171819"
                                    "20212223242526272829"
                                    "30313233343536373839"
                                    "40414243444546474849"
                                    "50515253545556575859"
                                    "60616263646566676869"
                                    "70717273747576777879"
                                    "80818283848586878889"
                                    "90919293949596979899";

size_t ipd_decimal_u64(char *out, uint64_t v)
{
    static const uint64_t powers[IPD_DECIMAL_U64_MAX] = {
        UINT64_C(1),
        UINT64_C(10),
        UINT64_C(100),
        UINT64_C(1000),
        UINT64_C(10000),
        UINT64_C(100000),
        UINT64_C(1000000),
        UINT64_C(10000000),
        UINT64_C(100000000),
        UINT64_C(1000000000),
        UINT64_C(10000000000),
        UINT64_C(100000000000),
        UINT64_C(1000000000000),
        UINT64_C(10000000000000),
        UINT64_C(100000000000000),
        UINT64_C(1000000000000000),
        UINT64_C(10000000000000000),
        UINT64_C(100000000000000000),
        UINT64_C(1000000000000000000),
        UINT64_C(10000000000000000000),
    };
    size_t n = 1;
    while (n < IPD_DECIMAL_U64_MAX && v >= powers[n])
        n++;
    /* Two digits per division from the end; a lone leading digit last. */
    char *p = out + n;
    while (v >= 100) {
        p -= 2;
        ipd_decimal_2(p, (unsigned)(v % 100));
        v /= 100;
    }
    if (v >= 10)
        ipd_decimal_2(p - 2, (unsigned)v);
    else
        p[-1] = (char)('0' + v);
    return n;
}
