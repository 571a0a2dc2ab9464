#include <criterion/criterion.h>
#include <string.h>

#include "proto/error.h"
#include "proto/image_ref.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

Test(image_ref, accepts_valid_references)
{
    static const char *good[] = {
        "nginx",
        "docker.io/library/nginx:1.27",
        "registry:5000/img:tag",
        "ghcr.io/a/b/c:v1@sha256:" HEX64,
        "nginx@sha256:" HEX64,
        "localhost/img",
        "localhost:5000/a/b",
        "10.0.0.1:5000/team/app:2024.01_rc-1",
        "[::1]:5000/img",
        "a.b-c.example.com/x__y/z.w/a---b:_tag",
        "registry:5000",
        "Registry.Example.COM/repo",
        "quay.io/org/app@sha512:" HEX64 HEX64,
        "app@multihash+base58:0123456789abcdef0123456789abcdef",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char why[128] = "x";
        cr_assert_eq(ipd_image_ref_validate(good[i], why, sizeof(why)), 0, "rejected %s: %s", good[i], why);
        cr_assert_str_eq(why, "");
    }
}

Test(image_ref, reports_what_is_wrong)
{
    static const struct {
        const char *ref, *msg;
    } bad[] = {
        {"", "image reference is empty"},
        {":tag", "repository name is empty"},
        {"@sha256:" HEX64, "repository name is empty"},
        {"Nginx", "repository name must be lowercase"},
        {"library/Nginx", "repository name must be lowercase"},
        {"nginx/", "must not end with '/'"},
        {"/nginx", "must not start with '/'"},
        {"a//b", "empty component"},
        {"ngi nx", "whitespace"},
        {"nginx\t", "whitespace"},
        {"caf\xC3\xA9", "printable ASCII"},
        {"nginx:", "tag must"},
        {"nginx:-x", "tag must"},
        {"nginx:a+b", "tag must"},
        {"nginx@sha256:abc", "digest must be sha256:<64 lowercase hex digits>"},
        {"nginx@sha256:"
         "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
         "digest must be sha256"},
        {"nginx@md5", "digest must be sha256"},
        {"nginx@1x:0123456789abcdef0123456789abcdef", "digest algorithm"},
        {"nginx@x:0123", "at least 32 hex"},
        {"nginx@sha256:" HEX64 "@sha256:" HEX64, "digest must be sha256"},
        {"-nginx", "start and end with a letter or digit"},
        {"ngin_-x", "separators"},
        {"a...b", "separators"},
        {"a___b", "separators"},
        {"reg.io:99999/x", "port"},
        {"reg.io:/x", "port"},
        {"reg.io:5a/x", "port"},
        {"-reg.io/x", "registry host"},
        {"reg..io/x", "registry host"},
        {"reg_x.io/x", "registry host"},
        {"[zz]:5000/x", "IPv6"},
        {"a!b", "may only contain"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char why[160] = "";
        cr_assert_eq(ipd_image_ref_validate(bad[i].ref, why, sizeof(why)), IPD_EINVAL, "accepted %s", bad[i].ref);
        cr_assert_not_null(strstr(why, bad[i].msg), "%s: got \"%s\", want \"%s\"", bad[i].ref, why, bad[i].msg);
    }
}

Test(image_ref, enforces_name_and_reference_lengths)
{
    char ref[600], why[128];
    memset(ref, 'a', 255);
    ref[255] = '\0';
    cr_assert_eq(ipd_image_ref_validate(ref, why, sizeof(why)), 0);
    strcat(ref, "a");
    cr_assert_eq(ipd_image_ref_validate(ref, why, sizeof(why)), IPD_EINVAL);
    cr_assert_not_null(strstr(why, "at most 255"));
    memset(ref, 'a', 20);
    ref[20] = ':';
    memset(ref + 21, 't', 128);
    ref[149] = '\0';
    cr_assert_eq(ipd_image_ref_validate(ref, why, sizeof(why)), 0, "%s", why);
    strcat(ref, "t");
    cr_assert_eq(ipd_image_ref_validate(ref, why, sizeof(why)), IPD_EINVAL, "a 129-character tag");
    memset(ref, 'a', sizeof(ref) - 1);
    ref[sizeof(ref) - 1] = '\0';
    cr_assert_eq(ipd_image_ref_validate(ref, why, sizeof(why)), IPD_EINVAL);
    cr_assert_not_null(strstr(why, "at most 511"));
}

Test(image_ref, parse_reports_the_parts)
{
    const char *s = "registry:5000/team/img:tag@sha256:" HEX64;
    ipd_image_ref_t r;
    cr_assert_eq(ipd_image_ref_parse(s, strlen(s), &r, NULL, 0), 0);
    cr_assert_eq(r.registry_len, 13);
    cr_assert_eq(strncmp(s + r.path_off, "team/img", r.path_len), 0);
    cr_assert_eq(r.path_len, 8);
    cr_assert_eq(strncmp(s + r.tag_off, "tag", r.tag_len), 0);
    cr_assert_eq(r.tag_len, 3);
    cr_assert_eq(r.digest_len, 71);
    cr_assert_eq(strncmp(s + r.digest_off, "sha256:", 7), 0);
    cr_assert_eq(ipd_image_ref_parse("library/nginx", 13, &r, NULL, 0), 0);
    cr_assert_eq(r.registry_len, 0, "a first component without '.' or ':' is a path");
    cr_assert_eq(r.path_len, 13);
    cr_assert_eq(r.tag_len, 0);
    cr_assert_eq(r.digest_len, 0);
    /* Only the first `len` bytes count. */
    cr_assert_eq(ipd_image_ref_parse("nginx BAD", 5, &r, NULL, 0), 0);
}

Test(image_ref, message_is_truncated_to_the_buffer)
{
    char why[8];
    cr_assert_eq(ipd_image_ref_validate("", why, sizeof(why)), IPD_EINVAL);
    cr_assert_eq(strlen(why), 7);
    cr_assert_eq(ipd_image_ref_validate("", NULL, 0), IPD_EINVAL);
}
