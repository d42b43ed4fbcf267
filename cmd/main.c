/*
 * payq: the one command-line tool and daemon. main() reads like a table of
 * contents: set up logging, read the global options, dispatch to the
 * subcommand, return its exit status.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"
#include "core/log.h"

struct command {
    const char *name;
    const char *summary;
    cli_command_fn run;
};

static const struct command commands[] = {
    { "import", "import CSV files of collections or payouts as batches",
      cmd_import },
    { "approve", "approve a batch imported with --hold", cmd_approve },
    { "pause", "pause a batch: none of its jobs is sent until resumed",
      cmd_pause },
    { "resume", "resume a paused batch", cmd_resume },
    { "cancel", "cancel a batch, or one job, where nothing was sent yet",
      cmd_cancel },
    { "retry", "queue a failed job again under a new transaction id",
      cmd_retry },
    { "resolve", "settle an unknown job as succeeded or failed, on evidence",
      cmd_resolve },
    { "balance", "show the provider account balance", cmd_balance },
    { "callbacks", "receive the provider's callbacks (the receiver alone)",
      cmd_callbacks },
    { "migrate", "apply database migrations (safe to run again)", cmd_migrate },
    { "status", "show jobs by kind and state, pauses and live workers",
      cmd_status },
    { "report", "print a report: batches, control totals, exceptions...",
      cmd_report },
    { "show", "show one job (by reference or number) with its history",
      cmd_show },
    { "work", "claim and send jobs until stopped (the worker pool)", cmd_work },
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void write_help(FILE *out)
{
    size_t i;

    fprintf(out,
            "payq %s: batch payments over the SchoolDream+ Payment API\n"
            "\n"
            "Usage: payq [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n"
            "       payq COMMAND --help\n"
            "       payq --version\n"
            "\n"
            "Commands:\n",
            PAYQ_VERSION);
    for (i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fputs("  help      show the help of a command\n\n", out);
    cli_write_global_help(out);
    fputc('\n', out);
    cli_write_exit_help(out);
}

/* Parses the global options before the command; returns its index. */
static int parse_leading_options(struct cli *cli, int argc, char **argv,
                                 int *exit_code)
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        { "version", no_argument, NULL, CLI_OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    *exit_code = -1;
    /* '+': stop at the command name; its own options follow it. */
    while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        if (opt == CLI_OPT_VERSION) {
            printf("payq %s\n", PAYQ_VERSION);
            *exit_code = 0;
        } else if (!cli_global_option(cli, opt, optarg)) {
            *exit_code = cli_usage_error(cli, "invalid option");
        }
        if (*exit_code >= 0)
            break;
    }
    return optind;
}

/* payq help [COMMAND] */
static int run_help(struct cli *cli, int argc, char **argv)
{
    const struct command *cmd;

    if (argc < 2) {
        write_help(stdout);
        return 0;
    }
    cmd = find_command(argv[1]);
    if (cmd == NULL)
        return cli_usage_error(cli, "unknown command '%s'", argv[1]);
    cli->command = cmd->name;
    cli->help = true;
    optind = 0;
    return cmd->run(cli, 1, &argv[1]);
}

int main(int argc, char **argv)
{
    struct cli cli = { .command = NULL, .help = false };
    const struct command *cmd;
    int exit_code;
    int first;

    log_init(2, LOG_LEVEL_INFO);
    first = parse_leading_options(&cli, argc, argv, &exit_code);
    if (exit_code >= 0)
        return exit_code;
    if (first >= argc) {
        if (cli.help) {
            write_help(stdout);
            return 0;
        }
        write_help(stderr);
        return payq_err_exit_code(PAYQ_ERR_USAGE);
    }
    if (strcmp(argv[first], "help") == 0)
        return run_help(&cli, argc - first, &argv[first]);

    cmd = find_command(argv[first]);
    if (cmd == NULL)
        return cli_usage_error(&cli, "unknown command '%s'", argv[first]);
    cli.command = cmd->name;
    /* glibc: optind 0 restarts getopt for the command's own options. */
    optind = 0;
    exit_code = cmd->run(&cli, argc - first, &argv[first]);
    log_secret_clear();
    return exit_code;
}
