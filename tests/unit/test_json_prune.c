#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"
#include "proto/json_prune.h"
#include "proto/kube_pod.h"

/* A pod watch event as the master decodes it. */
static const ipd_json_field_t event_fields[] = {{"type", NULL}, {"object", &ipd_kube_pod_shape}};
static const ipd_json_shape_t event_shape = IPD_JSON_OBJECT_SHAPE(event_fields);

/* A small shape for the syntax cases: "k" is kept whole, "o" keeps its "k", "a" is an array of such. */
static const ipd_json_field_t small_inner_fields[] = {{"k", NULL}};
static const ipd_json_shape_t small_inner = IPD_JSON_OBJECT_SHAPE(small_inner_fields);
static const ipd_json_shape_t small_array = IPD_JSON_ARRAY_SHAPE(&small_inner);
static const ipd_json_field_t small_fields[] = {{"k", NULL}, {"o", &small_inner}, {"a", &small_array}};
static const ipd_json_shape_t small_shape = IPD_JSON_OBJECT_SHAPE(small_fields);

/*
 * The property everything below rests on: the pruned decoder accepts `len` bytes of `text`
 * exactly when json_loadb does, and keeps what pruning jansson's whole document keeps.
 * Returns whether the text was accepted.
 */
static int same_as_jansson(const char *text, size_t len, const ipd_json_shape_t *shape)
{
    json_t *full = json_loadb(text, len, 0, NULL), *pruned = NULL;
    int rc = ipd_json_prune_load(text, len, shape, &pruned);
    cr_assert_eq(rc == 0, full != NULL, "jansson %s, pruned decoder %d, on %zu bytes: %.*s",
                 full ? "accepts" : "refuses", rc, len, (int)(len > 300 ? 300 : len), text);
    if (full == NULL) {
        cr_assert_eq(rc, IPD_EINVAL);
        return 0;
    }
    json_t *want = ipd_json_prune(full, shape);
    char *w = json_dumps(want, JSON_SORT_KEYS | JSON_ENCODE_ANY),
         *g = json_dumps(pruned, JSON_SORT_KEYS | JSON_ENCODE_ANY);
    cr_assert(json_equal(want, pruned), "want %s\n got %s", w, g);
    free(w);
    free(g);
    json_decref(want);
    json_decref(pruned);
    json_decref(full);
    return 1;
}

static int same(const char *text, const ipd_json_shape_t *shape)
{
    return same_as_jansson(text, strlen(text), shape);
}

static json_t *pruned_load(const char *text, const ipd_json_shape_t *shape)
{
    json_t *out = NULL;
    int rc = ipd_json_prune_load(text, strlen(text), shape, &out);
    cr_assert_eq(rc, 0, "refused: %s", text);
    return out;
}

/* The fuzz seeds are realistic watch lines: the simulator's, a kubelet pod with managedFields. */
static char *read_seed(const char *name, size_t *len)
{
    char path[4096];
    const char *src = getenv("IPD_SOURCE_DIR");
    if (src != NULL) {
        snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/fuzz_json_prune/%s", src, name);
    } else {
        snprintf(path, sizeof(path), "%s", __FILE__);
        char *cut = strstr(path, "/tests/unit/");
        cr_assert_not_null(cut, "set IPD_SOURCE_DIR to the source tree");
        snprintf(cut, sizeof(path) - (size_t)(cut - path), "/tests/fuzz/corpus/fuzz_json_prune/%s", name);
    }
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *buf = malloc(1 << 16);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

Test(json_prune, keeps_only_the_named_members)
{
    json_t *v = pruned_load("{\"k\":[1,{\"x\":2}],\"o\":{\"k\":\"v\",\"drop\":[1,2,3]},\"drop\":{\"k\":1},"
                            "\"a\":[{\"k\":true,\"z\":0},{\"z\":1},7]}",
                            &small_shape);
    char *s = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
    cr_assert_str_eq(s, "{\"a\":[{\"k\":true},{},7],\"k\":[1,{\"x\":2}],\"o\":{\"k\":\"v\"}}");
    free(s);
    json_decref(v);
}

Test(json_prune, simulator_and_kubelet_pods_decode_like_the_full_parse)
{
    static const char *const seeds[] = {"sim_line", "pod_managed_fields", "escapes_order_duplicates", "deep"};
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        size_t len;
        char *text = read_seed(seeds[i], &len);
        cr_assert(same_as_jansson(text, len, &event_shape), "%s refused", seeds[i]);
        cr_assert(same_as_jansson(text, len, NULL), "%s refused", seeds[i]);
        free(text);
    }
}

Test(json_prune, kubelet_pod_keeps_what_the_master_reads_and_drops_the_bulk)
{
    size_t len;
    char *text = read_seed("pod_managed_fields", &len);
    json_t *ev = NULL;
    cr_assert_eq(ipd_json_prune_load(text, len, &event_shape, &ev), 0);
    const json_t *pod = json_object_get(ev, "object"), *meta = json_object_get(pod, "metadata");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "type")), "MODIFIED");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "name")), "imgpull-pj-7f3a9c2e-worker-03-x7k2p");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(meta, "labels"), "imgpulld.io/job")),
                     "pj-7f3a9c2e");
    cr_assert_null(json_object_get(meta, "managedFields"));
    cr_assert_null(json_object_get(meta, "ownerReferences"));
    cr_assert_null(json_object_get(json_object_get(pod, "spec"), "volumes"));
    const json_t *c0 = json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(c0, "image")), "registry.example.com/team/app:v1.2.3");
    cr_assert_null(json_object_get(c0, "env"));
    /* The waiting message holds Go's \u003c escapes, a quoted image and non-ASCII text. */
    const json_t *cs = json_array_get(json_object_get(json_object_get(pod, "status"), "containerStatuses"), 0);
    const char *msg =
        json_string_value(json_object_get(json_object_get(json_object_get(cs, "state"), "waiting"), "message"));
    cr_assert_not_null(strstr(msg, "pull & unpack <manifest> \xc2\xb5s \xe2\x98\x83 \xf0\x9f\x98\x80"), "%s", msg);
    cr_assert_not_null(strstr(msg, "image \"registry.example.com/team/app:v1.2.3\""), "%s", msg);
    /* A fraction of the text is built. */
    char *kept = json_dumps(ev, JSON_COMPACT);
    cr_assert_lt(strlen(kept), len / 4, "kept %zu of %zu bytes", strlen(kept), len);
    free(kept);
    json_decref(ev);
    free(text);
}

Test(json_prune, escapes_and_unicode_decode_as_jansson_does)
{
    cr_assert(same("{\"k\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\uD83D\\uDE00 plain\"}",
                   &small_shape));
    cr_assert(same("{\"k\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"}", &small_shape));
    cr_assert(same("{\"k\":\"\",\"o\":{\"k\":\"\\u00e9\\u0001\"}}", &small_shape));
    /* A long escaped value, past any small buffer. */
    char text[4096] = "{\"k\":\"";
    for (int i = 0; i < 500; i++)
        strcat(text, "\\u00e9");
    strcat(text, "\"}");
    cr_assert(same(text, &small_shape));
    /* An escaped key is the key it decodes to: it is kept, and replaces the plain one before it. */
    json_t *v = pruned_load("{\"o\":{\"k\":1,\"\\u006b\":2},\"\\u006f\":{\"\\/\":3,\"k\":4}}", &small_shape);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(v, "o"), "k")), 4);
    json_decref(v);
    cr_assert(same("{\"o\":{\"k\":1,\"\\u006b\":2},\"\\u006f\":{\"\\/\":3,\"k\":4}}", &small_shape));
    cr_assert(same("{\"object\":{\"metadata\":{\"na\\u006de\":\"a\\\"b\",\"labels\":{\"imgpulld.io\\/job\":\"j\"}}}}",
                   &event_shape));
}

Test(json_prune, numbers_and_literals_decode_as_jansson_does)
{
    static const char *const values[] = {
        "0",
        "-0",
        "7",
        "-7",
        "123456789012345678",
        "-123456789012345678",
        "1234567890123456789",
        "9223372036854775807",
        "-9223372036854775808",
        "0.5",
        "-0.0",
        "1e3",
        "1E+3",
        "1e-3",
        "2.5E-3",
        "1e-400",
        "1.7976931348623157e308",
        "123456789012345678901234567890.5",
        "10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000e-90",
        "true",
        "false",
        "null",
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), "{\"k\":%s,\"skip\":%s,\"a\":[%s,{\"k\":%s}]}", values[i], values[i], values[i],
                 values[i]);
        cr_assert(same(text, &small_shape), "refused %s", text);
    }
}

Test(json_prune, nested_arrays_odd_order_and_mismatched_types)
{
    /* Arrays of arrays, kept and skipped; an array where an object is expected and the other way round. */
    cr_assert(same("{\"a\":[[1,[2]],{\"k\":[[],[[]]]},[],{}],\"skip\":[[[{\"k\":[1]}]]],\"k\":[[],{}]}", &small_shape));
    cr_assert(same("{\"o\":[{\"k\":1}],\"a\":{\"k\":2},\"k\":{\"o\":3}}", &small_shape));
    cr_assert(same("[{\"k\":1},{\"o\":2}]", &small_shape));
    cr_assert(same("[]", &small_shape));
    cr_assert(same("{}", &small_shape));
    /* Members in any order: the object before the type, status before metadata. */
    cr_assert(
        same("{\"object\":{\"status\":{\"phase\":\"Running\"},\"spec\":{\"nodeName\":\"n\"},\"metadata\":{\"name\":"
             "\"p\",\"namespace\":\"ns\"}},\"type\":\"ADDED\"}",
             &event_shape));
    /* A pod whose parts have the wrong types keeps them whole, as the reader would see them. */
    cr_assert(same("{\"type\":\"ADDED\",\"object\":{\"metadata\":[\"name\",\"p\"],\"spec\":\"x\",\"status\":{"
                   "\"containerStatuses\":{\"0\":{}},\"conditions\":[1,\"a\",[{\"type\":\"PodScheduled\"}]]}}}",
                   &event_shape));
    /* Whitespace of every kind JSON allows, everywhere. */
    cr_assert(same(" \r\n\t{ \"k\" :\t[ 1 , 2 ]\r\n, \"o\" : { \"k\" : \"v\" } , \"a\" : [ { } ] }\n ", &small_shape));
}

Test(json_prune, duplicate_members_keep_the_last_as_jansson_does)
{
    json_t *v = pruned_load("{\"k\":1,\"o\":{\"k\":\"first\"},\"k\":2,\"o\":\"second\"}", &small_shape);
    cr_assert_eq(json_integer_value(json_object_get(v, "k")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(v, "o")), "second");
    json_decref(v);
    cr_assert(same("{\"k\":1,\"o\":{\"k\":\"first\"},\"k\":2,\"o\":\"second\"}", &small_shape));
    cr_assert(same("{\"o\":\"first\",\"o\":{\"k\":1,\"k\":[2]},\"skip\":1,\"skip\":{}}", &small_shape));
    cr_assert(
        same("{\"type\":\"ADDED\",\"object\":{\"status\":{\"phase\":\"Pending\"},\"status\":{\"phase\":\"Failed\"}},"
             "\"type\":\"DELETED\"}",
             &event_shape));
}

Test(json_prune, malformed_text_is_refused_wherever_it_is)
{
    /* Each is placed in a kept member, in a skipped one, and inside a kept array. */
    static const char *const bad[] = {
        "",
        "01",
        "1.",
        ".5",
        "-",
        "+1",
        "1e",
        "1e+",
        "0x1",
        "1.5.2",
        "9223372036854775808",
        "-9223372036854775809",
        "123456789012345678901234567890",
        "1e400",
        "-1e400",
        "tru",
        "nul",
        "True",
        "NaN",
        "Infinity",
        "'s'",
        "\"unterminated",
        "\"a\\x\"",
        "\"a\\u12\"",
        "\"a\\u12G4\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud800\\ud800\"",
        "\"\\ud800x\"",
        "\"tab\there\"",
        "\"new\nline\"",
        "\"\x01\"",
        "\"\xc0\x80\"",
        "\"\xc1\xbf\"",
        "\"\xe0\x80\xaf\"",
        "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xf5\x80\x80\x80\"",
        "\"\x80\"",
        "\"\xe2\x82\"",
        "\"\xc3\"",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "{a:1}",
        "{\"a\":}",
        "{1:1}",
        "{\"\\u0000\":1}",
        "[",
        "{",
        "]",
        "}",
        "{\"a\":1]",
        "[1}",
        "\xc3\xa9",
        "\f1",
        "\v1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "{\"k\":%s}", bad[i]);
        cr_assert_not(same(text, &small_shape), "accepted %s", text);
        snprintf(text, sizeof(text), "{\"skip\":%s}", bad[i]);
        cr_assert_not(same(text, &small_shape), "accepted %s", text);
        snprintf(text, sizeof(text), "{\"a\":[{\"k\":1},%s]}", bad[i]);
        cr_assert_not(same(text, &small_shape), "accepted %s", text);
        snprintf(text, sizeof(text),
                 "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"managedFields\":[1,%s]}}}", bad[i]);
        cr_assert_not(same(text, &event_shape), "accepted %s", text);
    }
    /* Not an object or array at the top, or more than one value. */
    static const struct {
        const char *text;
        size_t len;
    } tops[] = {{"", 0},     {" ", 1},    {"1", 1},   {"\"s\"", 3}, {"null", 4}, {"true", 4},     {"{} x", 4},
                {"{}{}", 4}, {"[][]", 4}, {"{},", 3}, {"\0{}", 3},  {"{}\0", 3}, {"{\"k\":1", 6}, {"[1,2", 4}};
    for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++)
        cr_assert_not(same_as_jansson(tops[i].text, tops[i].len, &small_shape), "accepted top %zu", i);
    json_t *v = NULL;
    cr_assert_eq(ipd_json_prune_load(NULL, 0, &small_shape, &v), IPD_EINVAL);
}

Test(json_prune, nul_bytes_are_refused_except_where_jansson_drops_one)
{
    /* jansson ignores one NUL byte that directly follows a number or a literal, and no other. */
#define CASE(lit)                                                                                                      \
    {                                                                                                                  \
        lit, sizeof(lit) - 1                                                                                           \
    }
    static const struct {
        const char *text;
        size_t len;
    } cases[] = {
        CASE("{\"k\":1\0}"),   CASE("{\"k\":true\0}"),  CASE("{\"skip\":null\0,\"k\":2}"),
        CASE("{\"k\":1\0\0}"), CASE("{\"k\":\"a\0\"}"), CASE("{\"k\"\0:1}"),
        CASE("{\0\"k\":1}"),   CASE("{\"k\":1}\0"),     CASE("{\"a\":[1.5\0,2e3\0]}"),
        CASE("{\"k\":-\0 1}"),
    };
#undef CASE
    static const int accepted[] = {1, 1, 1, 0, 0, 0, 0, 0, 1, 0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(same_as_jansson(cases[i].text, cases[i].len, &small_shape), accepted[i], "case %zu", i);
}

Test(json_prune, depth_limit_is_jansson_s_wherever_the_value_is)
{
    /* Values nested JSON_PARSER_MAX_DEPTH deep pass, one more fails: at the top, in a skipped
     * member, in a kept-whole member and in a shaped array. */
    size_t cap = 3 * JSON_PARSER_MAX_DEPTH + 64;
    char *text = malloc(cap);
    for (int extra = -1; extra <= 1; extra++) {
        static const char *const wraps[][2] = {{"", ""}, {"{\"skip\":", "}"}, {"{\"k\":", "}"}, {"{\"a\":[", "]}"}};
        for (size_t w = 0; w < sizeof(wraps) / sizeof(wraps[0]); w++) {
            /* The wrapper adds its own levels: nest so that the innermost value is at the limit + extra. */
            int wrap_levels = w == 0 ? 0 : w == 3 ? 2 : 1;
            int n = JSON_PARSER_MAX_DEPTH + extra - wrap_levels - 1;
            size_t len = (size_t)sprintf(text, "%s", wraps[w][0]);
            for (int i = 0; i < n; i++)
                text[len++] = '[';
            text[len++] = '1';
            for (int i = 0; i < n; i++)
                text[len++] = ']';
            len += (size_t)sprintf(text + len, "%s", wraps[w][1]);
            int ok = same_as_jansson(text, len, &small_shape);
            cr_assert_eq(ok, extra <= 0, "wrap %zu, depth limit %+d: %s", w, extra, ok ? "accepted" : "refused");
        }
    }
    free(text);
}

Test(json_prune, every_truncation_of_a_watch_line_is_refused)
{
    static const char *const seeds[] = {"sim_line", "pod_managed_fields", "escapes_order_duplicates"};
    for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
        size_t len;
        char *text = read_seed(seeds[s], &len);
        /* Trailing white space aside, no proper prefix of an object is JSON. */
        size_t end = len;
        while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == ' '))
            end--;
        for (size_t cut = 0; cut < end; cut++) {
            char *copy = malloc(cut + 1); /* exactly `cut` bytes readable, for the sanitizer */
            memcpy(copy, text, cut);
            cr_assert_not(same_as_jansson(copy, cut, &event_shape), "%s cut at %zu accepted", seeds[s], cut);
            free(copy);
        }
        free(text);
    }
}

Test(json_prune, random_damage_to_watch_lines_is_judged_as_jansson_judges_it)
{
    /* Deterministic: byte changes, deletions and duplications of the realistic lines. */
    static const char *const seeds[] = {"sim_line", "pod_managed_fields", "escapes_order_duplicates", "deep"};
    static const char pokes[] = {'"', '\\', '{', '}', '[', ']', ':', ',', '0', 'e', '-', '.', ' ', 'u', '\0', '\x80'};
    uint64_t x = 0x9e3779b97f4a7c15ull;
    size_t accepted = 0, refused = 0;
    for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
        size_t len;
        char *text = read_seed(seeds[s], &len);
        char *copy = malloc(2 * len);
        for (int round = 0; round < 1500; round++) {
            memcpy(copy, text, len);
            size_t n = len;
            for (int k = 0; k < 1 + round % 3; k++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                size_t at = (size_t)(x >> 8) % n;
                if (x % 3 == 0) {
                    copy[at] = pokes[(x >> 40) % sizeof(pokes)];
                } else if (x % 3 == 1 && n > 1) {
                    memmove(copy + at, copy + at + 1, n - at - 1);
                    n--;
                } else {
                    size_t span = 1 + (x >> 32) % 16;
                    span = span > n - at ? n - at : span;
                    memmove(copy + at + span, copy + at, n - at);
                    n += span;
                }
            }
            if (same_as_jansson(copy, n, &event_shape))
                accepted++;
            else
                refused++;
        }
        free(copy);
        free(text);
    }
    cr_assert_gt(accepted, 100, "the damage should leave some lines valid (%zu)", accepted);
    cr_assert_gt(refused, 1000, "and make most invalid (%zu)", refused);
}

Test(json_prune, a_line_the_reflector_holds_but_jansson_refuses_is_refused)
{
    /* The reflector skims a line for its type, name and resourceVersion before it is decoded; a
     * line that skims well can still be malformed further on, and must still be refused. */
    const char *line = "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\","
                       "\"resourceVersion\":\"5\",\"managedFields\":[{\"x\":01}]},\"spec\":{}}}";
    cr_assert_not(same(line, &event_shape));
}

Test(json_prune, no_shape_keeps_everything)
{
    const char *text = "{\"a\":[1,{\"b\":\"\\u00e9\"}],\"c\":{\"d\":null,\"e\":-1.5e-3}}";
    json_t *v = pruned_load(text, NULL), *full = json_loads(text, 0, NULL);
    cr_assert(json_equal(v, full));
    json_decref(v);
    json_decref(full);
}
