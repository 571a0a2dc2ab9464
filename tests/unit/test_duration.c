#include <criterion/criterion.h>
#include <string.h>

#include "proto/duration.h"
#include "proto/error.h"

static int64_t ok(const char *s)
{
    int64_t ns = -12345;
    cr_assert_eq(ipd_go_duration_parse(s, strlen(s), &ns), 0, "rejected \"%s\"", s);
    return ns;
}

Test(duration, parses_go_duration_syntax)
{
    cr_assert_eq(ok("1.2s"), INT64_C(1200000000));
    cr_assert_eq(ok("1m2.5s"), INT64_C(62500000000));
    cr_assert_eq(ok("850ms"), INT64_C(850000000));
    cr_assert_eq(ok("1h0m0.001s"), INT64_C(3600001000000));
    cr_assert_eq(ok("2\xC2\xB5s"), 2000);
    cr_assert_eq(ok("2\xCE\xBCs"), 2000);
    cr_assert_eq(ok("2us"), 2000);
    cr_assert_eq(ok("3ns"), 3);
    cr_assert_eq(ok("0"), 0);
    cr_assert_eq(ok("0s"), 0);
    cr_assert_eq(ok(".5s"), INT64_C(500000000));
    cr_assert_eq(ok("5.s"), INT64_C(5000000000));
    cr_assert_eq(ok("-1.5h"), -INT64_C(5400000000000));
    cr_assert_eq(ok("+3ms"), INT64_C(3000000));
    cr_assert_eq(ok("1.234567891234s"), INT64_C(1234567891));
    cr_assert_eq(ok("4.040977345s"), INT64_C(4040977345));
    cr_assert_eq(ok("1h1h"), INT64_C(7200000000000));
}

Test(duration, rejects_malformed_input)
{
    static const char *bad[] = {"",     "-",    "+",   "1",     "12",   "s",         ".s",    "1.5",
                                "1x",   "1sec", "1 s", " 1s",   "1s ",  "1.2.3s",    "ms",    "1m2",
                                "--1s", "1S",   "1H",  "0x10s", "1e3s", "\xC2\xB5s", "1\xC2s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ns = 99;
        cr_assert_eq(ipd_go_duration_parse(bad[i], strlen(bad[i]), &ns), IPD_EINVAL, "accepted \"%s\"", bad[i]);
        cr_assert_eq(ns, 99, "output written for \"%s\"", bad[i]);
    }
}

Test(duration, rejects_absurd_and_overflowing_values)
{
    int64_t ns;
    cr_assert_eq(ok("1000000000s"), INT64_C(1000000000) * 1000000000);
    cr_assert_eq(ipd_go_duration_parse("1000000001s", 11, &ns), IPD_EINVAL);
    cr_assert_eq(ipd_go_duration_parse("300000h", 7, &ns), IPD_EINVAL);
    cr_assert_eq(ipd_go_duration_parse("9223372036854775807ns", 21, &ns), IPD_EINVAL);
    cr_assert_eq(ipd_go_duration_parse("99999999999999999999999999h", 27, &ns), IPD_EINVAL);
    cr_assert_eq(ipd_go_duration_parse("999999999s999999999s", 20, &ns), IPD_EINVAL);
    cr_assert_eq(ipd_go_duration_parse("-1000000001s", 12, &ns), IPD_EINVAL);
}

Test(duration, honours_the_length_not_the_nul)
{
    int64_t ns;
    cr_assert_eq(ipd_go_duration_parse("15sXYZ", 3, &ns), 0);
    cr_assert_eq(ns, INT64_C(15000000000));
    cr_assert_eq(ipd_go_duration_parse("15s", 2, &ns), IPD_EINVAL);
}
