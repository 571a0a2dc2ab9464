#include <criterion/criterion.h>
#include <string.h>

#include "proto/error.h"
#include "proto/json_scan.h"

static int scan(const char *doc, const char *const *path, size_t depth, char *out)
{
    const char *v;
    size_t n;
    int rc = ipd_json_scan_string(doc, strlen(doc), path, depth, &v, &n);
    if (rc >= 0) {
        memcpy(out, v, n);
        out[n] = '\0';
    }
    return rc;
}

static const char *const name_path[] = {"object", "metadata", "name"};
static const char *const rv_path[] = {"object", "metadata", "resourceVersion"};
static const char *const type_path[] = {"type"};

Test(json_scan, finds_nested_strings_past_other_members)
{
    const char *doc =
        "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"spec\":{\"a\":[1,{\"b\":\"}]\"},\"x\\\"y\"],"
        "\"c\":null,\"d\":-1.5e3,\"e\":true},\"metadata\":{\"labels\":{\"name\":\"decoy\"},"
        "\"name\":\"pod-1\",\"resourceVersion\":\"42\"}}}";
    char out[64];
    cr_assert_eq(scan(doc, type_path, 1, out), 0);
    cr_assert_str_eq(out, "MODIFIED");
    cr_assert_eq(scan(doc, name_path, 3, out), 0);
    cr_assert_str_eq(out, "pod-1");
    cr_assert_eq(scan(doc, rv_path, 3, out), 0);
    cr_assert_str_eq(out, "42");
}

Test(json_scan, reports_escapes_absence_and_non_strings)
{
    char out[64];
    cr_assert_eq(scan("{\"type\":\"A\\\"B\"}", type_path, 1, out), 1);
    cr_assert_str_eq(out, "A\\\"B");
    cr_assert_eq(scan("{\"kind\":\"x\"}", type_path, 1, out), IPD_ENOTFOUND);
    cr_assert_eq(scan("{\"type\":7}", type_path, 1, out), IPD_ENOTFOUND);
    cr_assert_eq(scan("{\"object\":[]}", name_path, 3, out), IPD_ENOTFOUND);
    cr_assert_eq(scan("{\"object\":{\"metadata\":{\"name\":\"x", name_path, 3, out), IPD_EINVAL);
    cr_assert_eq(scan("[\"type\"]", type_path, 1, out), IPD_EINVAL);
    cr_assert_eq(scan("{\"a\":{\"b\":\"unterminated", type_path, 1, out), IPD_EINVAL);
}

Test(json_scan, backslashes_before_a_quote_are_counted)
{
    char out[64];
    /* "a\\" ends at the second quote: the backslash is itself escaped. */
    cr_assert_eq(scan("{\"k\":\"a\\\\\",\"type\":\"T\"}", type_path, 1, out), 0);
    cr_assert_str_eq(out, "T");
}

Test(json_scan, members_of_one_object_in_one_pass)
{
    const char *doc =
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"labels\":{\"namespace\":\"decoy\"},"
        "\"resourceVersion\":\"9\",\"uid\":7,\"namespace\":\"n\\\"s\"}}}";
    static const char *const path[] = {"object", "metadata"};
    static const char *const names[] = {"name", "namespace", "resourceVersion", "uid", "absent"};
    ipd_json_span_t out[5];
    cr_assert_eq(ipd_json_scan_members(doc, strlen(doc), path, 2, names, 5, out), 0);
    cr_assert_eq(out[0].len, 1);
    cr_assert_eq(out[0].ptr[0], 'p');
    cr_assert_eq(out[1].len, 4);
    cr_assert(out[1].escaped);
    cr_assert_eq(out[2].ptr[0], '9');
    cr_assert_null(out[3].ptr, "a number is not a string");
    cr_assert_null(out[4].ptr);
    static const char *const missing[] = {"object", "spec"};
    cr_assert_eq(ipd_json_scan_members(doc, strlen(doc), missing, 2, names, 5, out), IPD_ENOTFOUND);
    cr_assert_eq(ipd_json_scan_members("{\"a\":\"b\"", 8, NULL, 0, names, 1, out), IPD_EINVAL);
}

Test(json_scan, members_stop_once_every_name_is_found)
{
    /* What follows the last wanted member is not read: here it is not even JSON. */
    const char *doc = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"resourceVersion\":\"5\","
                      "\"managedFields\":[{ not json at all";
    static const char *const path[] = {"metadata"};
    static const char *const names[] = {"name", "namespace", "resourceVersion"};
    ipd_json_span_t out[3];
    cr_assert_eq(ipd_json_scan_members(doc, strlen(doc), path, 1, names, 3, out), 0);
    cr_assert_eq(out[2].len, 1);
    cr_assert_eq(out[2].ptr[0], '5');
    /* The first occurrence of a name counts; with one name still missing the walk goes on and
     * meets the broken text. */
    const char *dup = "{\"name\":\"first\",\"name\":\"second\",\"namespace\":\"n\",\"x\":[}";
    cr_assert_eq(ipd_json_scan_members(dup, strlen(dup), NULL, 0, names, 3, out), IPD_EINVAL);
    cr_assert_eq(ipd_json_scan_members(dup, strlen(dup), NULL, 0, names, 2, out), 0);
    cr_assert_eq(out[0].len, 5, "first occurrence: %.*s", (int)out[0].len, out[0].ptr);
}
