/* payq import: CSV files of collections and payouts become batches. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "core/fmt.h"
#include "core/log.h"
#include "ingest/import.h"
#include "ingest/inbox.h"

static void write_help(FILE *out)
{
    fputs("Usage: payq import [OPTIONS] FILE...\n"
          "       payq import [OPTIONS] --watch DIR\n"
          "\n"
          "Imports each CSV file as one batch of jobs, all or nothing per\n"
          "file. A header row is required; columns are found by name in\n"
          "any order: pay rows need phone, amount, reference; deposit rows\n"
          "need phone (or mobilephone), amount, reference, reason, name\n"
          "(or deposit_ref_name) and take withdrawcharge; a kind column\n"
          "allows both in one file; other columns are kept as metadata.\n"
          "Errors are printed as FILE:LINE: COLUMN: problem (value).\n"
          "\n"
          "Options:\n"
          "  --kind pay|deposit  kind of rows without a kind column\n"
          "                      [default pay]\n"
          "  --skip-invalid      import the valid rows; record the others\n"
          "                      in import_errors (exit 0 with a warning)\n"
          "  --dry-run           validate and report; write nothing\n"
          "  --hold              import unapproved: jobs wait for\n"
          "                      payq approve BATCH\n"
          "  --force             import a file imported before (same\n"
          "                      SHA-256); references already imported\n"
          "                      are still skipped as duplicates\n"
          "  --delimiter C       ',' or ';' [default: detected from the\n"
          "                      header line]\n"
          "  --verbose           list the duplicate references skipped\n"
          "  --watch DIR         run until stopped (SIGINT, SIGTERM),\n"
          "                      importing each complete file that\n"
          "                      appears in DIR, then moving it to\n"
          "                      DIR/imported/, or to DIR/rejected/ with\n"
          "                      NAME.errors listing every problem; files\n"
          "                      named .* or *.tmp or *.part are left\n"
          "                      alone until renamed\n"
          "  --settle SECONDS    how long a file must stay unchanged to\n"
          "                      count as complete [default 3]\n"
          "\n"
          "Environment: PAYQ_MIN_AMOUNT, PAYQ_MAX_AMOUNT bound each amount\n"
          "in whole RWF [defaults 1 and 5000000]. PAYQ_IMPORT_PROGRESS_MS\n"
          "sets the interval of the progress log line written when stderr\n"
          "is not a terminal [default 5000].\n"
          "\n",
          out);
    cli_write_global_help(out);
    fputc('\n', out);
    cli_write_exit_help(out);
}

enum {
    OPT_KIND = 'k',
    OPT_SKIP = 's',
    OPT_DRY = 'n',
    OPT_HOLD = 'H',
    OPT_FORCE = 'f',
    OPT_DELIM = 'd',
    OPT_VERBOSE = 'v',
    OPT_WATCH = 'w',
    OPT_SETTLE = 'S',
};

/* --watch: the directory and how long files must settle. */
struct watch {
    const char *dir;
    int settle_s;
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Applies one import option; returns false when it is not valid. */
static bool import_option(struct ingest_options *o, int opt, const char *arg,
                          const char **bad)
{
    switch (opt) {
    case OPT_KIND:
        *bad = "--kind takes pay or deposit";
        return job_kind_parse(arg, &o->kind) == PAYQ_OK;
    case OPT_DELIM:
        *bad = "--delimiter takes ',' or ';'";
        o->delimiter = arg[0];
        return (arg[0] == ',' || arg[0] == ';') && arg[1] == '\0';
    case OPT_SKIP:
        o->skip_invalid = true;
        return true;
    case OPT_DRY:
        o->dry_run = true;
        return true;
    case OPT_HOLD:
        o->hold = true;
        return true;
    case OPT_FORCE:
        o->force = true;
        return true;
    case OPT_VERBOSE:
        o->verbose = true;
        return true;
    default:
        *bad = "invalid option";
        return false;
    }
}

static void print_summary(const char *path, const struct ingest_options *o,
                          const struct ingest_result *r)
{
    char amount[FMT_THOUSANDS_SIZE];

    fmt_thousands(r->amount, amount);
    if (o->dry_run)
        printf("%s: dry run, nothing written: %lld rows valid, "
               "%lld duplicates, %lld rejected, %s RWF\n",
               path, r->accepted, r->duplicates, r->rejected, amount);
    else
        printf("%s: batch %lld%s: %lld rows accepted, %lld duplicates "
               "skipped, %lld rejected, %s RWF\n",
               path, r->batch_id, o->hold ? " (held)" : "", r->accepted,
               r->duplicates, r->rejected, amount);
    fflush(stdout);
}

static enum payq_err import_one(PGconn *conn, const char *path,
                                const struct ingest_options *o)
{
    struct ingest_result r;
    enum payq_err err = ingest_import_file(conn, path, o, &r);

    if (err != PAYQ_OK)
        return err;
    print_summary(path, o, &r);
    log_info(o->dry_run ? "file validated" : "file imported",
             LOG_STR("file", path), LOG_INT("batch", r.batch_id),
             LOG_INT("accepted", r.accepted),
             LOG_INT("duplicates", r.duplicates),
             LOG_INT("rejected", r.rejected), LOG_INT("amount", r.amount));
    if (r.rejected > 0 && o->dry_run)
        log_warn("invalid rows would be skipped", LOG_STR("file", path),
                 LOG_INT("rejected", r.rejected));
    else if (r.rejected > 0)
        log_warn("invalid rows were skipped; see import_errors",
                 LOG_STR("file", path), LOG_INT("batch", r.batch_id),
                 LOG_INT("rejected", r.rejected));
    return PAYQ_OK;
}

static enum payq_err watch_inbox(PGconn *conn, const struct watch *w,
                                 const struct ingest_options *o)
{
    struct sigaction sa;
    struct inbox *box = NULL;
    enum payq_err err = inbox_create(w->dir, o, w->settle_s, &box);

    if (err != PAYQ_OK)
        return err;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    err = inbox_watch(box, conn, &stop_requested);
    inbox_destroy(box);
    return err;
}

/* Parses --watch and --settle; false when opt is neither or invalid. */
static bool watch_option(struct watch *w, int opt, const char *arg,
                         const char **bad)
{
    char *end = NULL;
    long v;

    if (opt == OPT_WATCH) {
        w->dir = arg;
        return true;
    }
    if (opt != OPT_SETTLE)
        return false;
    *bad = "--settle takes a number of seconds from 0 to 3600";
    v = strtol(arg, &end, 10);
    if (end == arg || *end != '\0' || v < 0 || v > 3600)
        return false;
    w->settle_s = (int)v;
    return true;
}

/* Imports every file; the exit status is the worst outcome. */
static enum payq_err import_all(PGconn *conn, char **files, int n,
                                const struct ingest_options *o)
{
    enum payq_err worst = PAYQ_OK;
    int i;

    for (i = 0; i < n; i++) {
        enum payq_err err = import_one(conn, files[i], o);

        if (err == PAYQ_OK)
            continue;
        if (worst == PAYQ_OK || err != PAYQ_ERR_DATA)
            worst = err;
        if (err == PAYQ_ERR_DB_CONNECT)
            break; /* the rest would fail the same way */
    }
    return worst;
}

/*
 * PAYQ_IMPORT_PROGRESS_MS: the interval of the progress log line, 1 ms to
 * an hour; 0 (the default) when unset or not such a number.
 */
static int progress_interval_ms(void)
{
    const char *text = getenv("PAYQ_IMPORT_PROGRESS_MS");
    char *end = NULL;
    long v;

    if (text == NULL || text[0] == '\0')
        return 0;
    v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < 1 || v > 3600 * 1000) {
        log_warn("PAYQ_IMPORT_PROGRESS_MS ignored: not 1 to 3600000",
                 LOG_STR("value", text));
        return 0;
    }
    return (int)v;
}

/* What the command line asked for, handed to run_import(). */
struct import_job {
    struct ingest_options *opts;
    const struct watch *watch;
    char **files;
    int nfiles;
};

static enum payq_err run_import(PGconn *conn, const struct config *cfg,
                                void *arg)
{
    struct import_job *job = arg;

    job->opts->min_amount = cfg->min_amount;
    job->opts->max_amount = cfg->max_amount;
    job->opts->actor = cli_actor();
    job->opts->progress = true;
    job->opts->progress_ms = progress_interval_ms();
    if (job->watch->dir != NULL)
        return watch_inbox(conn, job->watch, job->opts);
    return import_all(conn, job->files, job->nfiles, job->opts);
}

int cmd_import(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        { "kind", required_argument, NULL, OPT_KIND },
        { "skip-invalid", no_argument, NULL, OPT_SKIP },
        { "dry-run", no_argument, NULL, OPT_DRY },
        { "hold", no_argument, NULL, OPT_HOLD },
        { "force", no_argument, NULL, OPT_FORCE },
        { "delimiter", required_argument, NULL, OPT_DELIM },
        { "verbose", no_argument, NULL, OPT_VERBOSE },
        { "watch", required_argument, NULL, OPT_WATCH },
        { "settle", required_argument, NULL, OPT_SETTLE },
        { NULL, 0, NULL, 0 },
    };
    struct watch watch = { NULL, INBOX_SETTLE_S_DEFAULT };
    struct ingest_options opts;
    struct import_job job;
    const char *bad = NULL;
    int opt;

    ingest_options_init(&opts);
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        bad = NULL;
        if (cli_global_option(cli, opt, optarg) ||
            watch_option(&watch, opt, optarg, &bad))
            continue;
        if (bad == NULL && import_option(&opts, opt, optarg, &bad))
            continue;
        return cli_usage_error(cli, "%s", bad != NULL ? bad : "invalid option");
    }
    if (cli->help) {
        write_help(stdout);
        return 0;
    }
    if (optind >= argc && watch.dir == NULL)
        return cli_usage_error(cli, "no FILE given");
    if (optind < argc && watch.dir != NULL)
        return cli_usage_error(cli, "give FILEs or --watch DIR, not both");

    job.opts = &opts;
    job.watch = &watch;
    job.files = &argv[optind];
    job.nfiles = argc - optind;
    return cli_run_with_db(cli, CLI_SCHEMA_CURRENT, run_import, &job);
}
