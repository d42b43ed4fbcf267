/*
 * payq show REFERENCE|JOB: one payment with its whole history, from the
 * report_job_history view. An argument of digits may be a job id or a
 * reference; when it is both, for two different payments, the command
 * asks for --job or --reference instead of guessing.
 */
#include <stdio.h>

#include "cmd/commands.h"
#include "core/log.h"
#include "report/report.h"

enum {
    OPT_JOB = 'j',
    OPT_REFERENCE = 'r',
    OPT_FORMAT = 'f',
};

/* What the command line asked for. */
struct show_request {
    struct report_job_key key;
    enum report_format format;
    const char *arg; /* the payment as given, for messages */
};

static void write_help(FILE *out)
{
    fputs("Usage: payq show [--format table|csv|json] REFERENCE|JOB\n"
          "       payq show [--format ...] --job JOB\n"
          "       payq show [--format ...] --reference REFERENCE\n"
          "\n"
          "Shows one payment and its whole history, oldest first: its\n"
          "import, the operator commands on its batch (approve, pause...),\n"
          "each attempt (transaction id, send count, response code,\n"
          "outcome, duration), each callback and what it did, and each\n"
          "operator command on the payment itself (retry, resolve with its\n"
          "evidence). Phone numbers are masked. Times are Africa/Kigali.\n"
          "\n"
          "The payment is named by its reference from the file or by its\n"
          "job number. A number that is both a job number and another\n"
          "payment's reference is refused: say which with --job or\n"
          "--reference.\n"
          "\n"
          "Options:\n"
          "  --job JOB        the payment with this job number\n"
          "  --reference REF  the payment with this reference\n"
          "  --format FORMAT  table (default), csv or json; csv and json\n"
          "                   carry every column of report_job_history\n"
          "\n",
          out);
    cli_write_global_help(out);
    fputc('\n', out);
    cli_write_exit_help(out);
}

/* Applies one of show's own options; -1 to go on, else the exit status. */
static int show_option(struct cli *cli, int opt, const char *arg,
                       struct show_request *rq)
{
    switch (opt) {
    case OPT_JOB:
        if (rq->arg != NULL || !cli_parse_id(arg, &rq->key.job_id))
            return cli_usage_error(cli, "--job takes one job number");
        rq->arg = arg;
        return -1;
    case OPT_REFERENCE:
        if (rq->arg != NULL || arg[0] == '\0')
            return cli_usage_error(cli, "--reference takes one reference");
        rq->key.reference = arg;
        rq->arg = arg;
        return -1;
    case OPT_FORMAT:
        if (!report_format_parse(arg, &rq->format))
            return cli_usage_error(cli, "--format is table, csv or json");
        return -1;
    default:
        return cli_usage_error(cli, "invalid option");
    }
}

/* The positional REFERENCE|JOB: digits may be either. */
static int show_argument(struct cli *cli, int argc, char **argv,
                         struct show_request *rq)
{
    if (rq->arg != NULL && optind == argc)
        return -1;
    if (rq->arg != NULL || optind + 1 != argc || argv[optind][0] == '\0')
        return cli_usage_error(cli, "expected one REFERENCE or JOB");
    rq->arg = argv[optind];
    rq->key.reference = rq->arg;
    if (!cli_parse_id(rq->arg, &rq->key.job_id))
        rq->key.job_id = 0;
    return -1;
}

static enum payq_err show(PGconn *conn, const struct config *cfg, void *arg)
{
    const struct show_request *rq = arg;
    enum payq_err err = report_show(conn, &rq->key, rq->format, stdout);

    (void)cfg;
    if (err == PAYQ_ERR_NOT_FOUND)
        log_error("no such job", LOG_STR("job", rq->arg));
    return err;
}

int cmd_show(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        { "job", required_argument, NULL, OPT_JOB },
        { "reference", required_argument, NULL, OPT_REFERENCE },
        { "format", required_argument, NULL, OPT_FORMAT },
        { NULL, 0, NULL, 0 },
    };
    struct show_request rq = { .format = REPORT_FORMAT_TABLE };
    int rc = -1;
    int opt;

    while (rc < 0 && (opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
        if (!cli_global_option(cli, opt, optarg))
            rc = show_option(cli, opt, optarg, &rq);
    if (rc >= 0)
        return rc;
    if (cli->help) {
        write_help(stdout);
        return 0;
    }
    rc = show_argument(cli, argc, argv, &rq);
    if (rc >= 0)
        return rc;
    return cli_run_with_db(cli, CLI_SCHEMA_CURRENT, show, &rq);
}
