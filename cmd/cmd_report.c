/*
 * payq report NAME: prints one of the report views (report/report.h) as
 * a table, CSV or JSON. Bad usage exits 64; a date that is not one, or
 * --since after --until, exits 65.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"
#include "core/log.h"
#include "report/report.h"

enum {
    OPT_BATCH = 'b',
    OPT_SINCE = 's',
    OPT_UNTIL = 'u',
    OPT_FORMAT = 'f',
};

/* What the command line asked for. */
struct report_request {
    const struct report_info *report;
    struct report_filter filter;
    enum report_format format;
};

/* A report's filters, for its lines of the help. */
static void write_filters(FILE *out, const struct report_info *r)
{
    fprintf(out, "  %-15s ", "");
    if (r->filters & REPORT_FILTER_BATCH)
        fputs(r->filters & REPORT_FILTER_DAYS ? "--batch; " : "--batch", out);
    if (r->filters & REPORT_FILTER_DAYS)
        fprintf(out, "--since/--until on %s", r->days_of);
    if (r->filters == 0)
        fputs("no filters", out);
    fputc('\n', out);
}

static void write_reports(FILE *out)
{
    size_t i;

    for (i = 0; i < report_count(); i++) {
        const struct report_info *r = report_at(i);

        fprintf(out, "  %-15s %s\n  %-15s view %s\n", r->name, r->summary, "",
                r->view);
        write_filters(out, r);
    }
}

static void write_help(FILE *out)
{
    fputs("Usage: payq report NAME [--batch N] [--since DATE] [--until DATE]\n"
          "                   [--format table|csv|json]\n"
          "\n"
          "Prints a report: one of the report_* views that finance and\n"
          "operations may also read with psql or a BI tool. Figures are read\n"
          "in one snapshot, so they agree with each other. Amounts are whole\n"
          "RWF; times and days are in Africa/Kigali time.\n"
          "\n"
          "Reports:\n",
          out);
    write_reports(out);
    fputs("\n"
          "Options:\n"
          "  --batch N        only batch N\n"
          "  --since DATE     from this Kigali day on (YYYY-MM-DD)\n"
          "  --until DATE     up to and including this Kigali day\n"
          "  --format FORMAT  table (default: aligned, amounts with\n"
          "                   thousands separators), csv (RFC 4180, for\n"
          "                   spreadsheets) or json (an array of objects,\n"
          "                   numbers as numbers, for programs)\n"
          "\n"
          "A filter the report does not take is a usage error (64); a DATE\n"
          "that is not a real date, or --since after --until, is bad input\n"
          "data (65).\n"
          "\n",
          out);
    cli_write_global_help(out);
    fputc('\n', out);
    cli_write_exit_help(out);
}

/* Reads a --since or --until date; false (logged) when it is not one. */
static bool parse_date(const char *option, const char *text,
                       char out[REPORT_DATE_SIZE])
{
    if (report_date_parse(text, out))
        return true;
    log_error("not a date: give a real day as YYYY-MM-DD",
              LOG_STR("option", option), LOG_STR("value", text));
    return false;
}

/*
 * Applies one of report's own options. Returns -1 to go on, else the
 * exit status.
 */
static int report_option(struct cli *cli, int opt, const char *arg,
                         struct report_request *rq)
{
    switch (opt) {
    case OPT_BATCH:
        if (!cli_parse_id(arg, &rq->filter.batch_id))
            return cli_usage_error(cli, "--batch takes a batch number");
        return -1;
    case OPT_SINCE:
        return parse_date("--since", arg, rq->filter.since)
                   ? -1
                   : cli_exit_code(PAYQ_ERR_DATA);
    case OPT_UNTIL:
        return parse_date("--until", arg, rq->filter.until)
                   ? -1
                   : cli_exit_code(PAYQ_ERR_DATA);
    case OPT_FORMAT:
        if (!report_format_parse(arg, &rq->format))
            return cli_usage_error(cli, "--format is table, csv or json");
        return -1;
    default:
        return cli_usage_error(cli, "invalid option");
    }
}

/* Checks NAME and the filters against the report; -1 when all is well. */
static int check_request(struct cli *cli, int argc, char **argv,
                         struct report_request *rq)
{
    const struct report_filter *f = &rq->filter;
    bool days = f->since[0] != '\0' || f->until[0] != '\0';

    if (optind + 1 != argc)
        return cli_usage_error(cli, "expected one report NAME");
    rq->report = report_find(argv[optind]);
    if (rq->report == NULL)
        return cli_usage_error(cli, "no report '%s'; see the list in --help",
                               argv[optind]);
    if (f->batch_id > 0 && !(rq->report->filters & REPORT_FILTER_BATCH))
        return cli_usage_error(cli, "report %s does not take --batch",
                               rq->report->name);
    if (days && !(rq->report->filters & REPORT_FILTER_DAYS))
        return cli_usage_error(cli,
                               "report %s does not take --since or"
                               " --until",
                               rq->report->name);
    if (f->since[0] != '\0' && f->until[0] != '\0' &&
        strcmp(f->since, f->until) > 0) {
        log_error("--since is after --until", LOG_STR("since", f->since),
                  LOG_STR("until", f->until));
        return cli_exit_code(PAYQ_ERR_DATA);
    }
    return -1;
}

static enum payq_err print_report(PGconn *conn, const struct config *cfg,
                                  void *arg)
{
    const struct report_request *rq = arg;

    (void)cfg;
    return report_run(conn, rq->report, &rq->filter, rq->format, stdout);
}

int cmd_report(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        { "batch", required_argument, NULL, OPT_BATCH },
        { "since", required_argument, NULL, OPT_SINCE },
        { "until", required_argument, NULL, OPT_UNTIL },
        { "format", required_argument, NULL, OPT_FORMAT },
        { NULL, 0, NULL, 0 },
    };
    struct report_request rq = { .format = REPORT_FORMAT_TABLE };
    int rc = -1;
    int opt;

    while (rc < 0 && (opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
        if (!cli_global_option(cli, opt, optarg))
            rc = report_option(cli, opt, optarg, &rq);
    if (rc >= 0)
        return rc;
    if (cli->help) {
        write_help(stdout);
        return 0;
    }
    rc = check_request(cli, argc, argv, &rq);
    if (rc >= 0)
        return rc;
    return cli_run_with_db(cli, CLI_SCHEMA_CURRENT, print_report, &rq);
}
