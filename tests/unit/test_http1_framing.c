#include <criterion/criterion.h>
#include <string.h>

#include "proto/http1_framing.h"

static int check(const char *s, const char **why)
{
    *why = NULL;
    return ipd_http1_framing_check(s, strlen(s), why);
}

Test(http1_framing, ordinary_heads_pass_and_the_body_is_not_read)
{
    const char *why;
    cr_assert_eq(check("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &why), 0);
    cr_assert_eq(check("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", &why), 0);
    cr_assert_eq(check("POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n", &why), 0);
    /* The same length twice is one length (RFC 9112 section 6.3). */
    cr_assert_eq(check("POST /p HTTP/1.1\r\nContent-Length: 3\r\ncontent-length:3 \r\n\r\nabc", &why), 0);
    /* A field whose name merely starts like one of the framing fields is not one. */
    cr_assert_eq(check("POST /p HTTP/1.1\r\nContent-Length-X: 9\r\nContent-Length: 3\r\n\r\nabc", &why), 0);
    /* A pipelined request after the head is not looked at. */
    cr_assert_eq(check("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\n\n", &why), 0);
}

Test(http1_framing, an_unfinished_head_refuses_nothing)
{
    const char *why;
    cr_assert_eq(check("", &why), 1);
    cr_assert_eq(check("GET / HTTP/1.1\r\nHost: a\r\n", &why), 1);
    cr_assert_eq(check("GET / HTTP/1.1\r\nHost: a", &why), 1);
}

Test(http1_framing, the_smuggling_shapes_are_refused_with_a_reason)
{
    static const struct {
        const char *head, *word;
    } bad[] = {
        {"GET / HTTP/1.1\nHost: a\r\n\r\n", "bare LF"},
        {"GET / HTTP/1.1\r\nHost: a\n\r\n", "bare LF"},
        {"GET / HTTP/1.1\r\nHost: a\r\n\n", "bare LF"},
        {"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc", "different values"},
        {"POST / HTTP/1.1\r\ncontent-length: 3\r\nCONTENT-LENGTH: 3, 3\r\n\r\nabc", "different values"},
        {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "both"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", "both"},
        {"POST / HTTP/1.1\r\nX: a\r\n chunked\r\n\r\n", "obs-fold"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why;
        cr_assert_eq(check(bad[i].head, &why), -1, "accepted case %zu", i);
        cr_assert_not_null(strstr(why, bad[i].word), "case %zu: %s", i, why);
    }
}
