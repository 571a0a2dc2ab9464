#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "proto/buf.h"

Test(buf, starts_empty_and_owns_nothing)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    ipd_buf_dispose(&b);
    cr_assert_null(b.data);
}

Test(buf, appends_bytes_and_keeps_a_nul_after_them)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_buf_append(&b, "ab", 2), 0);
    cr_assert_eq(ipd_buf_append_str(&b, "cd"), 0);
    cr_assert_eq(ipd_buf_append_char(&b, 'e'), 0);
    cr_assert_eq(ipd_buf_append(&b, NULL, 0), 0);
    cr_assert_eq(b.len, 5);
    cr_assert_str_eq(b.data, "abcde");
    cr_assert_gt(b.cap, b.len);
    ipd_buf_dispose(&b);
}

Test(buf, grows_across_many_appends)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    for (int i = 0; i < 10000; i++)
        cr_assert_eq(ipd_buf_append(&b, "0123456789", 10), 0);
    cr_assert_eq(b.len, 100000);
    cr_assert_eq(memcmp(b.data + 99990, "0123456789", 10), 0);
    cr_assert_eq(b.data[b.len], '\0');
    ipd_buf_dispose(&b);
}

Test(buf, appendf_formats_short_and_long_text)
{
    ipd_buf_t b;
    char big[1000];
    ipd_buf_init(&b);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(ipd_buf_appendf(&b, "n=%d;", 42), 0);
    cr_assert_eq(ipd_buf_appendf(&b, "%s|", big), 0);
    cr_assert_eq(b.len, 5 + 999 + 1);
    cr_assert_eq(strncmp(b.data, "n=42;xxx", 8), 0);
    cr_assert_eq(b.data[b.len - 1], '|');
    ipd_buf_dispose(&b);
}

Test(buf, reset_keeps_memory_and_truncate_shortens)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_buf_append_str(&b, "hello world"), 0);
    ipd_buf_truncate(&b, 5);
    cr_assert_str_eq(b.data, "hello");
    ipd_buf_truncate(&b, 50);
    cr_assert_eq(b.len, 5);
    char *mem = b.data;
    ipd_buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.data, mem);
    cr_assert_str_eq(b.data, "");
    ipd_buf_dispose(&b);
}

Test(buf, reserve_rejects_sizes_that_overflow)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    cr_assert_eq(ipd_buf_append_str(&b, "abc"), 0);
    cr_assert_eq(ipd_buf_reserve(&b, SIZE_MAX), -ENOMEM);
    cr_assert_eq(ipd_buf_reserve(&b, SIZE_MAX - 2), -ENOMEM);
    cr_assert_eq(b.len, 3);
    cr_assert_str_eq(b.data, "abc");
    ipd_buf_dispose(&b);
}
