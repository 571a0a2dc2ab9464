/*
 * The imgpulld command line. Exit status: 0 success, 1 bad configuration or a failed run,
 * 2 bad usage.
 */
#include "master/daemon.h"
#include "worker/worker.h"
#include "shared/config.h"
#include "shared/log.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

#define EXIT_USAGE 2
#define FLAGS_MAX  16

enum mode { MODE_RUN, MODE_CHECK, MODE_PRINT, MODE_REFERENCE, MODE_EXAMPLE, MODE_MAN, MODE_VERSION, MODE_HELP };

enum {
    OPT_CHECK = 256,
    OPT_PRINT,
    OPT_REFERENCE,
    OPT_EXAMPLE,
    OPT_MAN,
    OPT_DIRECTIVE, /* OPT_DIRECTIVE + i sets the directive of flag i */
};

/* What the command line asked for. Flag values are borrowed from argv. */
typedef struct cli {
    enum mode mode;
    const char *path;
    int man_section;
    size_t nflags;
    const char **directives, **values, **names;
} cli_t;

/* The options that are not directives, as imgpulld(8) describes them (the directive flags come
 * from the directive table). */
static const ipd_config_man_option_t mode_options[] = {
    {"-c, --config FILE", "Read the configuration from FILE instead of " IPD_CONFIG_DEFAULT_PATH
                          " (which is optional: without it the built-in defaults apply)."},
    {"--check-config", "Validate the configuration (file, environment and options, and what they name on the "
                       "system) and exit 0 when it is valid, 1 with the errors otherwise."},
    {"--print-config", "Print the effective configuration in file syntax, each value's origin in a comment."},
    {"--config-reference", "Print the directive reference as Markdown (docs/operations.md)."},
    {"--config-example", "Print a configuration file with every directive commented out at its default."},
    {"--man-page SECTION", "Print this manual (SECTION 8) or imgpulld.conf(5) (SECTION 5) in roff."},
    {"-V, --version", "Print the version."},
    {"-h, --help", "Print a summary of the options."},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: imgpulld [-c FILE] [options]           run the daemon (master and workers)\n"
            "       imgpulld [-c FILE] --check-config      validate the configuration, exit 0 or 1\n"
            "       imgpulld [-c FILE] --print-config      print the effective configuration\n"
            "       imgpulld --config-reference | --config-example | --man-page 5|8 | --version | --help\n"
            "\n"
            "  -c, --config FILE        configuration file (default %s if it exists)\n"
            "      --listen HOST:PORT   listen address, repeatable; replaces the file's list\n"
            "      --workers N          worker processes (or auto)\n"
            "      --instance NAME      instance name; names the shared-memory segment\n"
            "      --kubeconfig PATH    kubeconfig file\n"
            "      --kube-server URL    API server URL (http:// allowed for the simulator)\n"
            "      --scope cluster|node watch every node, or only this one\n"
            "      --node-name NAME     this node's Kubernetes name\n"
            "      --redis HOST:PORT    Redis for cross-node coherence\n"
            "      --log-level LEVEL    debug, info, warn or error\n"
            "      --config-reference   print the directive reference (Markdown)\n"
            "      --config-example     print an example file with every directive\n"
            "      --man-page 5|8       print imgpulld.conf(5) or imgpulld(8) in roff\n"
            "  -V, --version            print the version\n"
            "  -h, --help               print this help\n"
            "\n"
            "Settings: flags override IMGPULLD_<DIRECTIVE> environment variables, which override\n"
            "the file, which overrides the built-in defaults. See docs/operations.md.\n",
            IPD_CONFIG_DEFAULT_PATH);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("imgpulld: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'imgpulld --help'.\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

/* Parses argv into `cli`. Returns -1 to go on, or the exit status for a usage error. */
static int parse_args(int argc, char **argv, cli_t *cli)
{
    static struct option opts[FLAGS_MAX + 16] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"print-config", no_argument, NULL, OPT_PRINT},
        {"config-reference", no_argument, NULL, OPT_REFERENCE},
        {"config-example", no_argument, NULL, OPT_EXAMPLE},
        {"man-page", required_argument, NULL, OPT_MAN},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
    };
    ipd_config_flag_t flags[FLAGS_MAX];
    size_t nflags = ipd_config_flags(flags, FLAGS_MAX), base = 8;
    for (size_t i = 0; i < nflags && i < FLAGS_MAX; i++)
        opts[base + i] = (struct option){flags[i].flag + 2, required_argument, NULL, OPT_DIRECTIVE + (int)i};

    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:hV", opts, NULL)) != -1) {
        const char *arg = argv[optind - 1];
        switch (c) {
        case 'c':
            cli->path = optarg;
            break;
        case 'h':
            cli->mode = MODE_HELP;
            break;
        case 'V':
            cli->mode = MODE_VERSION;
            break;
        case OPT_CHECK:
            cli->mode = MODE_CHECK;
            break;
        case OPT_PRINT:
            cli->mode = MODE_PRINT;
            break;
        case OPT_REFERENCE:
            cli->mode = MODE_REFERENCE;
            break;
        case OPT_EXAMPLE:
            cli->mode = MODE_EXAMPLE;
            break;
        case OPT_MAN:
            if (strcmp(optarg, "5") != 0 && strcmp(optarg, "8") != 0)
                return usage_error("--man-page: section 5 or 8, not %s", optarg);
            cli->mode = MODE_MAN;
            cli->man_section = atoi(optarg);
            break;
        case ':':
            return usage_error("option %s needs a value", arg);
        case '?':
            if (optopt)
                return usage_error("unknown option -%c", optopt);
            return usage_error("unknown option %s", arg);
        default:
            cli->directives[cli->nflags] = flags[c - OPT_DIRECTIVE].directive;
            cli->values[cli->nflags] = optarg;
            cli->names[cli->nflags++] = flags[c - OPT_DIRECTIVE].flag;
            break;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument %s", argv[optind]);
    return -1;
}

static int load(const cli_t *cli, ipd_config_t *cfg, bool system_checks)
{
    char err[1024];
    const char *path = cli->path ? cli->path : IPD_CONFIG_DEFAULT_PATH;
    int r = ipd_config_load(cfg, path, cli->path != NULL, environ, cli->directives, cli->values, cli->names,
                            cli->nflags, err, sizeof(err));
    if (r == 0 && system_checks)
        r = ipd_config_check_system(cfg, err, sizeof(err));
    /* The files are loaded as a worker loads them: readable is not enough. */
    if (r == 0 && system_checks)
        r = ipd_worker_check_config(cfg, err, sizeof(err));
    if (r != 0)
        fprintf(stderr, "%s\n", err);
    return r;
}

int main(int argc, char **argv)
{
    static ipd_config_t cfg;
    const char **slots = calloc(3 * (size_t)argc + 3, sizeof(*slots));
    if (!slots) {
        perror("imgpulld: calloc");
        return 1;
    }
    cli_t cli = {.mode = MODE_RUN, .directives = slots, .values = slots + argc + 1, .names = slots + 2 * argc + 2};
    int status = parse_args(argc, argv, &cli);
    if (status >= 0)
        goto out;
    status = 0;
    switch (cli.mode) {
    case MODE_HELP:
        usage(stdout);
        break;
    case MODE_VERSION:
        printf("imgpulld %s\n", IPD_VERSION);
        break;
    case MODE_REFERENCE:
        status = ipd_config_print_reference(stdout) == 0 ? 0 : 1;
        break;
    case MODE_EXAMPLE:
        status = ipd_config_print_example(stdout) == 0 ? 0 : 1;
        break;
    case MODE_MAN:
        status = ipd_config_print_man(stdout, cli.man_section, mode_options,
                                      sizeof(mode_options) / sizeof(mode_options[0])) == 0
                     ? 0
                     : 1;
        break;
    case MODE_PRINT:
        status = load(&cli, &cfg, false) == 0 && ipd_config_print(&cfg, stdout) == 0 ? 0 : 1;
        break;
    case MODE_CHECK:
        status = load(&cli, &cfg, true) == 0 ? 0 : 1;
        if (status == 0)
            fprintf(stderr, "imgpulld: %s: configuration OK\n",
                    cfg.config_path[0] ? cfg.config_path : "built-in defaults");
        break;
    case MODE_RUN:
        status = load(&cli, &cfg, true) == 0 ? 0 : 1;
        if (status == 0) {
            ipd_log_set_level((ipd_log_level_t)cfg.log_level);
            int rc = ipd_daemon_run(&cfg, ipd_worker_main, ipd_worker_check_config, ipd_worker_stats_route_slots());
            status = rc == 0 ? 0 : 1;
        }
        break;
    }
out:
    free(slots);
    return status;
}
