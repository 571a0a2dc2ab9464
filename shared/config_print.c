#include "shared/config_table.h"

#include <errno.h>
#include <string.h>

#define VALUE_MAX (2 * PATH_MAX + 64)

static int finish(FILE *out)
{
    return fflush(out) == 0 && !ferror(out) ? 0 : -(errno ? errno : EIO);
}

int ipd_config_print(const ipd_config_t *cfg, FILE *out)
{
    char value[VALUE_MAX];
    fprintf(out, "# imgpulld %s effective configuration; comments say where a value came from\n", IPD_VERSION);
    for (size_t i = 0; i < ipd_config_table_len; i++) {
        const ipd_config_directive_t *row = &ipd_config_table[i];
        ipd_config_format_value(cfg, row, value, sizeof(value));
        bool from_default = cfg->_source[i] == IPD_CONFIG_SOURCE_DEFAULT;
        /* An empty list has no value to write: the directive would need one. */
        if ((row->flags & IPD_CF_REPEATABLE) && *(const size_t *)((const char *)cfg + row->count_offset) == 0)
            fprintf(out, "# %s (none)\n", row->name);
        else if (!cfg->_auto[i] && from_default)
            fprintf(out, "%s %s\n", row->name, value);
        else
            fprintf(out, "%s %s  # %s%s%s\n", row->name, value, cfg->_auto[i] ? "auto" : "",
                    cfg->_auto[i] && !from_default ? ", " : "", from_default ? "" : cfg->_origin[i]);
    }
    return finish(out);
}

/* Describes the type of `row` for the reference, e.g. "duration 1s-1h". */
static void type_text(const ipd_config_directive_t *row, char *buf, size_t len)
{
    char lo[32], hi[32];
    switch (row->type) {
    case IPD_CT_INT:
        snprintf(buf, len, "integer %lld-%lld%s", row->min, row->max, (row->flags & IPD_CF_AUTO) ? " or auto" : "");
        return;
    case IPD_CT_DURATION:
    case IPD_CT_SIZE: {
        void (*fmt)(uint64_t, char *, size_t) =
            row->type == IPD_CT_DURATION ? ipd_config_format_duration : ipd_config_format_size;
        fmt((uint64_t)row->min, lo, sizeof(lo));
        fmt((uint64_t)row->max, hi, sizeof(hi));
        snprintf(buf, len, "%s %s-%s", row->type == IPD_CT_DURATION ? "duration" : "size", lo, hi);
        return;
    }
    case IPD_CT_ENUM: {
        size_t used = 0;
        buf[0] = '\0';
        for (int i = 0; row->choices[i] && used < len; i++)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " \\| " : "", row->choices[i]);
        return;
    }
    default: {
        static const char *const names[] = {
            [IPD_CT_BOOL] = "on/off",
            [IPD_CT_NAME] = "name",
            [IPD_CT_LABEL] = "DNS label",
            [IPD_CT_DNSNAME] = "DNS name",
            [IPD_CT_GROUP] = "group",
            [IPD_CT_PATH] = "path",
            [IPD_CT_URL] = "URL",
            [IPD_CT_HOSTPORT] = "host:port",
            [IPD_CT_LISTEN] = "address, repeatable",
            [IPD_CT_LABELS] = "DNS labels, repeatable",
            [IPD_CT_IMAGE] = "image",
            [IPD_CT_ABSPATH] = "absolute path",
            [IPD_CT_TOLERATE] = "tolerations, repeatable",
            [IPD_CT_HOSTS] = "host names, repeatable",
            [IPD_CT_ORIGINS] = "origins, repeatable",
        };
        snprintf(buf, len, "%s%s", names[row->type], (row->flags & IPD_CF_AUTO) ? " or auto" : "");
        return;
    }
    }
}

/* Writes `text` for a Markdown table cell: no raw HTML, no column breaks. */
static void md_text(FILE *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '<')
            fputs("&lt;", out);
        else if (*p == '>')
            fputs("&gt;", out);
        else if (*p == '|')
            fputs("\\|", out);
        else
            fputc(*p, out);
    }
}

int ipd_config_print_reference(FILE *out)
{
    for (size_t i = 0; i < ipd_config_table_len; i++) {
        const ipd_config_directive_t *row = &ipd_config_table[i];
        char type[256];
        if (row->section)
            fprintf(out, "%s#### %s\n\n| directive | type | default | flag | meaning |\n|---|---|---|---|---|\n",
                    i ? "\n" : "", row->section);
        type_text(row, type, sizeof(type));
        fprintf(out, "| `%s` | %s | ", row->name, type);
        if (row->doc_default)
            md_text(out, row->doc_default);
        else if (row->def[0] == '\0')
            fputs("(none)", out);
        else
            fprintf(out, "`%s`", row->def);
        fprintf(out, " | %s%s%s | ", row->flag ? "`" : "", row->flag ? row->flag : "", row->flag ? "`" : "");
        md_text(out, row->help);
        fputs(row->flags & IPD_CF_RESTART ? " A reload keeps the old value; restart to change it. |\n" : " |\n", out);
    }
    return finish(out);
}

/* Writes `text` as "# " comment lines of at most 78 columns. */
static void comment_wrapped(FILE *out, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t take = strlen(p);
        if (take > 76) {
            take = 76;
            while (take > 0 && p[take] != ' ')
                take--;
            if (take == 0)
                take = strcspn(p, " ");
        }
        fprintf(out, "# %.*s\n", (int)take, p);
        p += take;
        while (*p == ' ')
            p++;
    }
}

int ipd_config_print_example(FILE *out)
{
    fputs("# imgpulld configuration. Every directive is shown commented out with its default\n"
          "# (or, where there is none, an example value). Syntax: one \"name value...\" per\n"
          "# line; quote values with spaces (\"...\", with \\\" and \\\\ escapes); `include PATH`\n"
          "# reads another file. Environment variables IMGPULLD_<NAME> override this file\n"
          "# and command-line flags override both. Check with: imgpulld -c FILE --check-config\n",
          out);
    for (size_t i = 0; i < ipd_config_table_len; i++) {
        const ipd_config_directive_t *row = &ipd_config_table[i];
        if (row->section)
            fprintf(out, "\n# ==== %s ====\n", row->section);
        fputc('\n', out);
        comment_wrapped(out, row->help);
        if (row->def[0] != '\0')
            fprintf(out, "#%s %s\n", row->name, row->def);
        else
            fprintf(out, "#%s %s%s\n", row->name, row->example ? row->example : "\"\"",
                    row->example ? "  # example; not set by default" : "");
    }
    return finish(out);
}
