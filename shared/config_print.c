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

/* Describes the type of `row` for the reference, e.g. "duration 1s-1h"; `sep` separates enum names. */
static void type_text(const ipd_config_directive_t *row, char *buf, size_t len, const char *sep)
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
            used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? sep : "", row->choices[i]);
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
            [IPD_CT_ENDPOINT] = "host:port or unix:/path",
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
        type_text(row, type, sizeof(type), " \\| ");
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

/* Writes `text` as roff running text: backslashes escaped, no line starting with a control character. */
static void man_text(FILE *out, const char *text)
{
    if (*text == '.' || *text == '\'')
        fputs("\\&", out);
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            fputs("\\e", out);
        else
            fputc(*p, out);
    }
}

/* Writes an option or directive name in bold, with its dashes as minus signs. */
static void man_name(FILE *out, const char *name)
{
    fputs("\\fB", out);
    for (const char *p = name; *p; p++) {
        if (*p == '-')
            fputs("\\-", out);
        else
            fputc(*p, out);
    }
    fputs("\\fR", out);
}

/* The environment variable of `row`: IMGPULLD_ and the name in upper case. */
static void env_name(const ipd_config_directive_t *row, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "IMGPULLD_");
    for (const char *p = row->name; *p && n + 1 < len; p++)
        buf[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    buf[n] = '\0';
}

/* One directive as a .TP paragraph: name, type, default, flag, variable, help. */
static void man_directive(FILE *out, const ipd_config_directive_t *row)
{
    char type[256], env[96];
    type_text(row, type, sizeof(type), " | ");
    env_name(row, env, sizeof(env));
    fputs(".TP\n", out);
    man_name(out, row->name);
    fputs(" \\fI", out);
    man_text(out, type);
    fputs("\\fR\n", out);
    man_text(out, row->help);
    fputs(row->flags & IPD_CF_RESTART ? " A reload keeps the old value; restart to change it.\n" : "\n", out);
    fputs(".br\nDefault: ", out);
    if (row->doc_default)
        man_text(out, row->doc_default);
    else if (row->def[0] == '\0')
        fputs("none", out);
    else
        man_text(out, row->def);
    fputs(". Environment: ", out);
    man_name(out, env);
    if (row->flag) {
        fputs(". Option: ", out);
        man_name(out, row->flag);
    }
    fputs(".\n", out);
}

static void man_page_8(FILE *out, const ipd_config_man_option_t *modes, size_t nmodes)
{
    fprintf(out,
            ".TH IMGPULLD 8 \"\" \"imgpulld %s\" \"System Administration\"\n"
            ".SH NAME\nimgpulld \\- image pull jobs on Kubernetes, served to dashboards\n"
            ".SH SYNOPSIS\n.B imgpulld\n[\\fB\\-c\\fR \\fIFILE\\fR] [\\fIOPTION\\fR]...\n"
            ".SH DESCRIPTION\n"
            "imgpulld runs container image pull jobs on a Kubernetes cluster (one pinned batch/v1 Job per "
            "node) and serves their live state over REST, HTTP/2 and WebSocket from a shared-memory table "
            "that its master process keeps current from a Kubernetes watch. The master owns the watch and "
            "the table; forked worker processes serve clients.\n"
            ".PP\nSettings come from built-in defaults, then the configuration file (see "
            "\\fBimgpulld.conf\\fR(5)), then \\fBIMGPULLD_\\fR\\fIDIRECTIVE\\fR environment variables, then "
            "the options below; each layer overrides the one before.\n"
            ".SH OPTIONS\n",
            IPD_VERSION);
    for (size_t i = 0; i < nmodes; i++) {
        fputs(".TP\n", out);
        const char *space = strchr(modes[i].option, ' ');
        if (space != NULL) {
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)(space - modes[i].option), modes[i].option);
            man_name(out, name);
            fputs(" \\fI", out);
            man_text(out, space + 1);
            fputs("\\fR\n", out);
        } else {
            man_name(out, modes[i].option);
            fputc('\n', out);
        }
        man_text(out, modes[i].help);
        fputc('\n', out);
    }
    fputs(".PP\nOptions that set a directive (the directive's description is in \\fBimgpulld.conf\\fR(5)):\n", out);
    for (size_t i = 0; i < ipd_config_table_len; i++) {
        const ipd_config_directive_t *row = &ipd_config_table[i];
        if (row->flag == NULL)
            continue;
        char type[256];
        type_text(row, type, sizeof(type), " | ");
        fputs(".TP\n", out);
        man_name(out, row->flag);
        fputs(" \\fI", out);
        man_text(out, type);
        fputs("\\fR\nSets \\fB", out);
        man_text(out, row->name);
        fputs("\\fR: ", out);
        man_text(out, row->help);
        fputc('\n', out);
    }
    fputs(".SH SIGNALS\n"
          ".TP\n\\fBSIGHUP\\fR\nReload: read the configuration again; when it is valid, start new workers and let "
          "the old ones finish their connections (reload_drain_timeout). An invalid file is logged and changes "
          "nothing.\n"
          ".TP\n\\fBSIGUSR1\\fR\nWrite the stats JSON to the log and to stats_file.\n"
          ".TP\n\\fBSIGTERM\\fR, \\fBSIGINT\\fR\nStop gracefully: workers finish their connections, then "
          "exit.\n"
          ".SH EXIT STATUS\n0 on success, 1 for a bad configuration or a failed run, 2 for bad usage.\n"
          ".SH FILES\n.TP\n\\fI" IPD_CONFIG_DEFAULT_PATH "\\fR\nThe configuration file.\n"
          ".TP\n\\fI/dev/shm/imgpulld.\\fR\\fIINSTANCE\\fR\nThe shared-memory job table, kept across "
          "restarts.\n"
          ".SH SEE ALSO\n\\fBimgpulld.conf\\fR(5), \\fBsystemd.service\\fR(5), \\fBkubectl\\fR(1)\n",
          out);
}

static void man_page_5(FILE *out)
{
    fprintf(out,
            ".TH IMGPULLD.CONF 5 \"\" \"imgpulld %s\" \"File Formats\"\n"
            ".SH NAME\nimgpulld.conf \\- configuration of imgpulld\n"
            ".SH SYNOPSIS\n\\fI" IPD_CONFIG_DEFAULT_PATH "\\fR\n"
            ".SH DESCRIPTION\n"
            "One directive per line: a name, then its value or values separated by blanks. A value with "
            "blanks is quoted (\"...\", with \\e\" and \\e\\e escapes). \\fB#\\fR starts a comment. "
            "\\fBinclude\\fR \\fIPATH\\fR reads another file. Each directive can also be set by the "
            "environment variable \\fBIMGPULLD_\\fR and its name in upper case, which overrides the file, and "
            "some by a command-line option, which overrides both (see \\fBimgpulld\\fR(8)).\n"
            ".PP\nDurations take the units ms, s, m, h and d and may be summed (1m30s); sizes take k, m and "
            "g (binary). Check a file with \\fBimgpulld \\-c\\fR \\fIFILE\\fR \\fB\\-\\-check\\-config\\fR.\n",
            IPD_VERSION);
    for (size_t i = 0; i < ipd_config_table_len; i++) {
        const ipd_config_directive_t *row = &ipd_config_table[i];
        if (row->section) {
            fputs(".SH ", out);
            for (const char *p = row->section; *p; p++)
                fputc(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p, out);
            fputc('\n', out);
        }
        man_directive(out, row);
    }
    fputs(".SH SEE ALSO\n\\fBimgpulld\\fR(8)\n", out);
}

int ipd_config_print_man(FILE *out, int section, const ipd_config_man_option_t *modes, size_t nmodes)
{
    if (section == 8)
        man_page_8(out, modes, nmodes);
    else if (section == 5)
        man_page_5(out);
    else
        return -EINVAL;
    return finish(out);
}
