#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/error.h"
#include "worker/http/tokens_file.h"

#define S(lit)      lit, sizeof(lit) - 1
#define READ_TOKEN  "read-token-0123456789"
#define ADMIN_TOKEN "admin+token/ABCDEFGHIJ=="

Test(worker_auth, tokens_file_parses_roles_comments_and_blanks)
{
    const char text[] = "# tokens\n\n" READ_TOKEN " read\n\t" ADMIN_TOKEN "\tadmin   # operator\r\n";
    ipd_http_tokens_t t = {0};
    char err[128];
    cr_assert_eq(ipd_http_tokens_parse(text, strlen(text), &t, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(t.count, 2);
    cr_assert_eq(ipd_http_tokens_role(&t, S(READ_TOKEN)), IPD_HTTP_ROLE_READ);
    cr_assert_eq(ipd_http_tokens_role(&t, S(ADMIN_TOKEN)), IPD_HTTP_ROLE_ADMIN);
    cr_assert_eq(ipd_http_tokens_role(&t, S("read-token-012345678")), IPD_HTTP_ROLE_NONE);
    cr_assert_eq(ipd_http_tokens_role(&t, S("read-token-01234567890")), IPD_HTTP_ROLE_NONE);
    ipd_http_tokens_dispose(&t);
    cr_assert_eq(t.count, 0);
}

Test(worker_auth, tokens_file_rejects_bad_lines_naming_them)
{
    static const char *bad[] = {
        READ_TOKEN "\n",                            /* no role */
        READ_TOKEN " write\n",                      /* unknown role */
        "short read\n",                             /* too short */
        "has\"quote-0123456789 read\n",             /* bad character */
        READ_TOKEN " read extra\n",                 /* extra word */
        READ_TOKEN " read\n" READ_TOKEN " admin\n", /* duplicate */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ipd_http_tokens_t t = {0};
        char err[128] = "";
        cr_assert_eq(ipd_http_tokens_parse(bad[i], strlen(bad[i]), &t, err, sizeof(err)), IPD_EINVAL, "case %zu", i);
        cr_assert(strncmp(err, "line ", 5) == 0, "case %zu: %s", i, err);
        cr_assert_eq(t.count, 0);
    }
    ipd_http_tokens_t t = {0};
    char err[128];
    cr_assert_eq(ipd_http_tokens_parse(S("# a\n" READ_TOKEN " read\nx y z\n"), &t, err, sizeof(err)), IPD_EINVAL);
    cr_assert(strncmp(err, "line 3:", 7) == 0, "%s", err);
}

Test(worker_auth, tokens_load_reads_a_file)
{
    char path[] = "/tmp/ipd-tokens-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, S(ADMIN_TOKEN " admin\n")), (ssize_t)sizeof(ADMIN_TOKEN " admin\n") - 1);
    close(fd);
    ipd_http_tokens_t t = {0};
    char err[256];
    cr_assert_eq(ipd_http_tokens_load(path, &t, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ipd_http_tokens_role(&t, S(ADMIN_TOKEN)), IPD_HTTP_ROLE_ADMIN);
    ipd_http_tokens_dispose(&t);
    unlink(path);
    cr_assert_lt(ipd_http_tokens_load(path, &t, err, sizeof(err)), 0);
    cr_assert(strstr(err, path) == err, "%s", err);
}

Test(worker_auth, bearer_extracts_the_token)
{
    const char *tok;
    size_t n;
    cr_assert_eq(ipd_http_bearer(S("Bearer " READ_TOKEN), &tok, &n), 0);
    cr_assert_eq(n, strlen(READ_TOKEN));
    cr_assert_eq(memcmp(tok, READ_TOKEN, n), 0);
    cr_assert_eq(ipd_http_bearer(S("bearer   " ADMIN_TOKEN "  "), &tok, &n), 0);
    cr_assert_eq(n, strlen(ADMIN_TOKEN));
    cr_assert_eq(ipd_http_bearer(S("Basic dXNlcjpwYXNz"), &tok, &n), -1);
    cr_assert_eq(ipd_http_bearer(S("Bearer "), &tok, &n), -1);
    cr_assert_eq(ipd_http_bearer(S("Bearer a b"), &tok, &n), -1);
    cr_assert_eq(ipd_http_bearer(S("Bearertoken"), &tok, &n), -1);
}

Test(worker_auth, rate_allows_a_burst_then_refills)
{
    ipd_http_rate_t r;
    ipd_http_rate_init(&r, 10, 1000);
    for (int i = 0; i < 10; i++)
        cr_assert(ipd_http_rate_take(&r, 10, 1000), "request %d", i);
    cr_assert_not(ipd_http_rate_take(&r, 10, 1000));
    cr_assert_not(ipd_http_rate_take(&r, 10, 1050));
    cr_assert(ipd_http_rate_take(&r, 10, 1100));
    cr_assert_not(ipd_http_rate_take(&r, 10, 1100));
    /* A long pause refills to the burst, not beyond. */
    for (int i = 0; i < 10; i++)
        cr_assert(ipd_http_rate_take(&r, 10, 100000), "request %d", i);
    cr_assert_not(ipd_http_rate_take(&r, 10, 100000));
}

Test(worker_auth, rate_of_one_per_second)
{
    ipd_http_rate_t r;
    ipd_http_rate_init(&r, 1, 0);
    cr_assert(ipd_http_rate_take(&r, 1, 0));
    cr_assert_not(ipd_http_rate_take(&r, 1, 999));
    cr_assert(ipd_http_rate_take(&r, 1, 1000));
}
