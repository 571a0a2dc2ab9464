#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "shared/log.h"

static json_t *capture(void (*emit)(void))
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    ipd_log_set_fd(fds[1]);
    emit();
    ipd_log_set_fd(STDERR_FILENO);
    close(fds[1]);
    char buf[8192];
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
    cr_assert_eq(strchr(buf, '\n'), buf + n - 1, "one line, newline-terminated: %s", buf);
    json_error_t e;
    json_t *doc = json_loads(buf, 0, &e);
    cr_assert_not_null(doc, "not JSON: %s (%s)", buf, e.text);
    return doc;
}

static void emit_plain(void)
{
    ipd_log(IPD_LOG_WARN, "watch", "quote \" backslash \\ newline \n tab \t done %d", 7);
}

static void emit_json(void)
{
    ipd_log_json(IPD_LOG_INFO, "stats", "stats", "stats", "{\"a\":1,\"b\":[2]}", 15);
}

static void emit_filtered(void)
{
    ipd_log_set_level(IPD_LOG_ERROR);
    ipd_info("x", "dropped");
    ipd_error("x", "kept");
    ipd_log_set_level(IPD_LOG_INFO);
}

Test(log, lines_are_json_with_level_component_pid_and_escaped_message)
{
    json_t *doc = capture(emit_plain);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "level")), "warn");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "component")), "watch");
    cr_assert_eq(json_integer_value(json_object_get(doc, "pid")), getpid());
    cr_assert_str_eq(json_string_value(json_object_get(doc, "msg")), "quote \" backslash \\ newline \n tab \t done 7");
    const char *ts = json_string_value(json_object_get(doc, "ts"));
    cr_assert_eq(strlen(ts), 24);
    cr_assert_eq(ts[23], 'Z');
    json_decref(doc);
}

Test(log, json_payload_is_embedded_as_a_value)
{
    json_t *doc = capture(emit_json);
    json_t *stats = json_object_get(doc, "stats");
    cr_assert(json_is_object(stats));
    cr_assert_eq(json_integer_value(json_object_get(stats, "a")), 1);
    json_decref(doc);
}

Test(log, messages_below_the_level_are_dropped)
{
    json_t *doc = capture(emit_filtered);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "msg")), "kept");
    json_decref(doc);
}

Test(log, level_names_parse)
{
    cr_assert_eq(ipd_log_level_parse("debug"), IPD_LOG_DEBUG);
    cr_assert_eq(ipd_log_level_parse("error"), IPD_LOG_ERROR);
    cr_assert_eq(ipd_log_level_parse("loud"), -1);
}
