#include <criterion/criterion.h>
#include <string.h>

#include "proto/http_host.h"

static int parse(const char *s, ipd_http_authority_t *a)
{
    return ipd_http_authority_parse(s, strlen(s), a);
}

Test(http_host, authorities_split_into_host_and_port)
{
    ipd_http_authority_t a;
    cr_assert_eq(parse("127.0.0.1:8080", &a), 0);
    cr_assert(a.is_ip);
    cr_assert_eq(a.port, 8080);
    cr_assert_eq(a.host_len, 9);
    cr_assert_eq(parse("[::1]:443", &a), 0);
    cr_assert(a.is_ip);
    cr_assert_eq(a.host_len, 3);
    cr_assert_eq(a.port, 443);
    cr_assert_eq(parse("Node-A.example.com.", &a), 0);
    cr_assert_not(a.is_ip);
    cr_assert_eq(a.port, 0);
    const char *bad[] = {"",          ":80",         "a..b",    "host:", "host:0",     "host:65536",
                         "host:8x",   "[::1",        "[zz]:80", "ho st", "a/b",        "@evil",
                         "user@host", "host:123456", "[::1]x",  ".",     "-..example", "a\r\nb:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_neq(parse(bad[i], &a), 0, "accepted \"%s\"", bad[i]);
}

Test(http_host, loopback_names_and_addresses)
{
    const char *yes[] = {"localhost", "LOCALHOST:80", "localhost.", "app.localhost",
                         "127.0.0.1", "127.9.8.7:1",  "[::1]"};
    const char *no[] = {"evil.example", "localhost.evil.example", "128.0.0.1", "10.0.0.1", "[::2]", "xlocalhost",
                        "2130706433"};
    ipd_http_authority_t a;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        cr_assert_eq(parse(yes[i], &a), 0, "%s", yes[i]);
        cr_assert(ipd_http_host_is_loopback(&a), "%s is loopback", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        cr_assert_eq(parse(no[i], &a), 0, "%s", no[i]);
        cr_assert_not(ipd_http_host_is_loopback(&a), "%s is not loopback", no[i]);
    }
}

Test(http_host, origins_are_a_scheme_and_an_authority_only)
{
    ipd_http_origin_t o, p;
    cr_assert_eq(ipd_http_origin_parse("http://evil.example", 19, &o), 0);
    cr_assert_not(o.https);
    cr_assert_eq(ipd_http_origin_parse("HTTPS://Evil.Example:443", 24, &p), 0);
    cr_assert(p.https);
    cr_assert_not(ipd_http_authority_same(&o.authority, &p.authority, 80), "port 80 by default against 443");
    cr_assert(ipd_http_authority_same(&p.authority, &(ipd_http_authority_t){"evil.example", 12, 0, false}, 443));
    const char *bad[] = {"null", "file://", "http://", "http://a/b", "http://a, http://b", "ws://a", "http://a:b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_neq(ipd_http_origin_parse(bad[i], strlen(bad[i]), &o), 0, "accepted \"%s\"", bad[i]);
    ipd_http_authority_t a;
    cr_assert_eq(parse("Evil.Example.", &a), 0);
    cr_assert(ipd_http_host_is(&a, "evil.example"));
    cr_assert(ipd_http_host_is(&(ipd_http_authority_t){"::1", 3, 0, true}, "[::1]"));
}
