/*
 * payq pause, resume, cancel, retry and resolve: the operator commands
 * on batches and jobs. The work is in queue/ops; this file parses the
 * command lines and says what happened. A refusal exits 65 (bad input
 * data), a missing batch or job exits 1, as payq approve does.
 */
#include <stdio.h>

#include "cmd/commands.h"
#include "core/log.h"
#include "queue/ops.h"

/* What a command line asked for. */
struct ops_request {
    long long id;         /* the BATCH or JOB argument */
    bool job;             /* cancel: --job ID was given */
    int outcome;          /* resolve: 1 --succeeded, 0 --failed, -1 none */
    const char *evidence; /* resolve: --evidence TEXT */
};

/* What a job command says when it refuses; NULL where it cannot. */
struct ops_refusals {
    const char *state;     /* QUEUE_OPS_REFUSED_STATE */
    const char *sent;      /* QUEUE_OPS_REFUSED_SENT */
    const char *cancelled; /* QUEUE_OPS_REFUSED_CANCELLED */
    const char *review;    /* QUEUE_OPS_REFUSED_REVIEW */
};

enum {
    OPT_JOB = 'j',
    OPT_SUCCEEDED = 'S',
    OPT_FAILED = 'F',
    OPT_EVIDENCE = 'E',
};

/* The help of resolve states the limit in words. */
_Static_assert(QUEUE_OPS_EVIDENCE_MAX == 1000, "update resolve's help");

static void write_tail(FILE *out)
{
    cli_write_global_help(out);
    fputc('\n', out);
    cli_write_exit_help(out);
}

static void write_pause_help(FILE *out)
{
    fputs("Usage: payq pause BATCH\n"
          "\n"
          "Pauses a batch: workers claim none of its jobs until payq\n"
          "resume BATCH; jobs already being sent finish. Records who\n"
          "paused it. Pausing a paused batch changes nothing; a cancelled\n"
          "batch cannot be paused.\n"
          "\n",
          out);
    write_tail(out);
}

static void write_resume_help(FILE *out)
{
    fputs("Usage: payq resume BATCH\n"
          "\n"
          "Resumes a paused batch and wakes idle workers. Resuming a batch\n"
          "that is not paused changes nothing; a cancelled batch cannot\n"
          "be resumed.\n"
          "\n",
          out);
    write_tail(out);
}

static void write_cancel_help(FILE *out)
{
    fputs("Usage: payq cancel BATCH\n"
          "       payq cancel --job JOB\n"
          "\n"
          "Cancels a batch: none of its jobs is sent any more, and every\n"
          "job of it that was never sent is cancelled. Jobs that may\n"
          "already be with the provider (being sent, waiting for their\n"
          "callback, unknown, or queued to be asked again) are left and\n"
          "counted; they are never cancelled, since their money may have\n"
          "moved. Running it again cancels what has become cancellable\n"
          "since and otherwise changes nothing.\n"
          "\n"
          "Options:\n"
          "  --job JOB   cancel one job instead; only a queued job that\n"
          "              was never sent can be cancelled\n"
          "\n",
          out);
    write_tail(out);
}

static void write_retry_help(FILE *out)
{
    fputs("Usage: payq retry JOB\n"
          "\n"
          "Queues a failed job (declined by the provider) again. Its next\n"
          "send is a new attempt under a new transaction id; the failed\n"
          "attempt stays in its history. Only a failed job can be retried,\n"
          "and not one flagged for review or in a cancelled batch.\n"
          "\n",
          out);
    write_tail(out);
}

static void write_resolve_help(FILE *out)
{
    fputs("Usage: payq resolve JOB --succeeded|--failed --evidence TEXT\n"
          "\n"
          "Settles a job whose outcome is unknown, after checking with the\n"
          "provider or the bank: --succeeded when the money moved,\n"
          "--failed when it did not (a failed job may then be retried).\n"
          "Only an unknown job can be resolved; resolving a job that\n"
          "already has that outcome changes nothing.\n"
          "\n"
          "Options:\n"
          "  --succeeded     the money moved\n"
          "  --failed        the money did not move\n"
          "  --evidence TEXT what shows it, such as a provider statement\n"
          "                  reference (required; at most 1000\n"
          "                  bytes of UTF-8)\n"
          "\n",
          out);
    write_tail(out);
}

/* Reports an error of a batch command; returns it. */
static enum payq_err batch_error(enum payq_err err, long long id)
{
    if (err == PAYQ_ERR_NOT_FOUND)
        log_error("no such batch", LOG_INT("batch", id));
    return err;
}

/* Reports an error of a job command; returns it. */
static enum payq_err job_error(enum payq_err err, long long id)
{
    if (err == PAYQ_ERR_NOT_FOUND)
        log_error("no such job", LOG_INT("job", id));
    return err;
}

/* Reports a refused job command; returns PAYQ_ERR_DATA. */
static enum payq_err job_refused(const struct ops_refusals *why, long long id,
                                 const struct queue_ops_result *r)
{
    const char *msg = why->state;

    if (r->outcome == QUEUE_OPS_REFUSED_SENT)
        msg = why->sent;
    else if (r->outcome == QUEUE_OPS_REFUSED_CANCELLED)
        msg = why->cancelled;
    else if (r->outcome == QUEUE_OPS_REFUSED_REVIEW)
        msg = why->review;
    log_error(msg != NULL ? msg : why->state, LOG_INT("job", id),
              LOG_STR("state", job_state_name(r->state)),
              LOG_INT("batch", r->batch_id));
    return PAYQ_ERR_DATA;
}

static enum payq_err pause_action(PGconn *conn, const struct config *cfg,
                                  void *arg)
{
    const struct ops_request *rq = arg;
    struct queue_ops_result r;
    enum payq_err err = queue_ops_pause(conn, rq->id, cli_actor(), &r);

    (void)cfg;
    if (err != PAYQ_OK)
        return batch_error(err, rq->id);
    if (r.outcome == QUEUE_OPS_UNCHANGED) {
        printf("batch %lld was already paused\n", rq->id);
        return PAYQ_OK;
    }
    if (r.outcome != QUEUE_OPS_CHANGED) {
        log_error("batch is cancelled and cannot be paused",
                  LOG_INT("batch", rq->id));
        return PAYQ_ERR_DATA;
    }
    log_info("batch paused", LOG_INT("batch", rq->id),
             LOG_STR("actor", cli_actor()));
    printf("batch %lld paused: none of its jobs is sent until payq resume "
           "%lld; jobs being sent now finish\n",
           rq->id, rq->id);
    return PAYQ_OK;
}

static enum payq_err resume_action(PGconn *conn, const struct config *cfg,
                                   void *arg)
{
    const struct ops_request *rq = arg;
    struct queue_ops_result r;
    enum payq_err err = queue_ops_resume(conn, rq->id, cli_actor(), &r);

    (void)cfg;
    if (err != PAYQ_OK)
        return batch_error(err, rq->id);
    if (r.outcome == QUEUE_OPS_UNCHANGED) {
        printf("batch %lld was not paused\n", rq->id);
        return PAYQ_OK;
    }
    if (r.outcome != QUEUE_OPS_CHANGED) {
        log_error("batch is cancelled and cannot be resumed",
                  LOG_INT("batch", rq->id));
        return PAYQ_ERR_DATA;
    }
    log_info("batch resumed", LOG_INT("batch", rq->id),
             LOG_STR("actor", cli_actor()));
    printf("batch %lld resumed\n", rq->id);
    return PAYQ_OK;
}

static enum payq_err cancel_batch(PGconn *conn, long long id)
{
    struct queue_ops_result r;
    enum payq_err err = queue_ops_cancel(conn, id, cli_actor(), &r);

    if (err != PAYQ_OK)
        return batch_error(err, id);
    if (r.outcome == QUEUE_OPS_CHANGED || r.jobs_cancelled > 0)
        log_info("batch cancelled", LOG_INT("batch", id),
                 LOG_INT("cancelled", r.jobs_cancelled),
                 LOG_INT("left", r.jobs_left), LOG_STR("actor", cli_actor()));
    printf("batch %lld %s: %lld jobs cancelled, %lld left that may already "
           "be with the provider (they finish normally)\n",
           id,
           r.outcome == QUEUE_OPS_CHANGED ? "cancelled"
                                          : "was already cancelled",
           r.jobs_cancelled, r.jobs_left);
    return PAYQ_OK;
}

static enum payq_err cancel_job(PGconn *conn, long long id)
{
    static const struct ops_refusals why = {
        .state = "only a queued job that was never sent can be cancelled",
        .sent = "job may already be with the provider and cannot be"
                " cancelled; it finishes normally",
    };
    struct queue_ops_result r;
    enum payq_err err = queue_ops_cancel_job(conn, id, cli_actor(), &r);

    if (err != PAYQ_OK)
        return job_error(err, id);
    if (r.outcome == QUEUE_OPS_UNCHANGED) {
        printf("job %lld was already cancelled\n", id);
        return PAYQ_OK;
    }
    if (r.outcome != QUEUE_OPS_CHANGED)
        return job_refused(&why, id, &r);
    log_info("job cancelled", LOG_INT("job", id), LOG_INT("batch", r.batch_id),
             LOG_STR("actor", cli_actor()));
    printf("job %lld cancelled\n", id);
    return PAYQ_OK;
}

static enum payq_err cancel_action(PGconn *conn, const struct config *cfg,
                                   void *arg)
{
    const struct ops_request *rq = arg;

    (void)cfg;
    return rq->job ? cancel_job(conn, rq->id) : cancel_batch(conn, rq->id);
}

static enum payq_err retry_action(PGconn *conn, const struct config *cfg,
                                  void *arg)
{
    static const struct ops_refusals why = {
        .state = "only a failed job can be retried",
        .sent = "job still has an attempt that may move money and cannot"
                " be retried",
        .cancelled = "job's batch is cancelled; the job cannot be retried",
        .review = "job is flagged for review (its failure was"
                  " contradicted) and cannot be retried",
    };
    const struct ops_request *rq = arg;
    struct queue_ops_result r;
    enum payq_err err = queue_ops_retry(conn, rq->id, cli_actor(), &r);

    (void)cfg;
    if (err != PAYQ_OK)
        return job_error(err, rq->id);
    if (r.outcome != QUEUE_OPS_CHANGED)
        return job_refused(&why, rq->id, &r);
    log_info("job queued again", LOG_INT("job", rq->id),
             LOG_INT("batch", r.batch_id), LOG_STR("actor", cli_actor()));
    printf("job %lld queued again; its next send gets a new transaction "
           "id\n",
           rq->id);
    return PAYQ_OK;
}

static enum payq_err resolve_action(PGconn *conn, const struct config *cfg,
                                    void *arg)
{
    static const struct ops_refusals why = {
        .state = "only a job whose outcome is unknown can be resolved",
    };
    const struct ops_request *rq = arg;
    const char *outcome = rq->outcome == 1 ? "succeeded" : "failed";
    struct queue_ops_result r;
    enum payq_err err = queue_ops_resolve(conn, rq->id, rq->outcome == 1,
                                          rq->evidence, cli_actor(), &r);

    (void)cfg;
    if (err != PAYQ_OK)
        return job_error(err, rq->id);
    if (r.outcome == QUEUE_OPS_UNCHANGED) {
        printf("job %lld is already %s\n", rq->id, outcome);
        return PAYQ_OK;
    }
    if (r.outcome != QUEUE_OPS_CHANGED)
        return job_refused(&why, rq->id, &r);
    log_info("job resolved", LOG_INT("job", rq->id),
             LOG_STR("outcome", outcome), LOG_INT("batch", r.batch_id),
             LOG_STR("actor", cli_actor()));
    printf("job %lld resolved as %s\n", rq->id, outcome);
    return PAYQ_OK;
}

/* Parses a command taking the global options and one id; see cli.h. */
static int parse_one_id(struct cli *cli, int argc, char **argv,
                        void (*write_help)(FILE *out), const char *what,
                        struct ops_request *rq)
{
    int rc = cli_parse_global_only(cli, argc, argv, write_help);

    if (rc >= 0)
        return rc;
    if (optind + 1 != argc || !cli_parse_id(argv[optind], &rq->id))
        return cli_usage_error(cli, "expected one %s id", what);
    return -1;
}

int cmd_pause(struct cli *cli, int argc, char **argv)
{
    struct ops_request rq = { .outcome = -1 };
    int rc = parse_one_id(cli, argc, argv, write_pause_help, "BATCH", &rq);

    if (rc >= 0)
        return rc;
    return cli_run_with_db(cli, CLI_SCHEMA_CURRENT, pause_action, &rq);
}

int cmd_resume(struct cli *cli, int argc, char **argv)
{
    struct ops_request rq = { .outcome = -1 };
    int rc = parse_one_id(cli, argc, argv, write_resume_help, "BATCH", &rq);

    if (rc >= 0)
        return rc;
    return cli_run_with_db(cli, CLI_SCHEMA_CURRENT, resume_action, &rq);
}

int cmd_retry(struct cli *cli, int argc, char **argv)
{
    struct ops_request rq = { .outcome = -1 };
    int rc = parse_one_id(cli, argc, argv, write_retry_help, "JOB", &rq);

    if (rc >= 0)
        return rc;
    return cli_run_with_db(cli, CLI_SCHEMA_CURRENT, retry_action, &rq);
}

int cmd_cancel(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        { "job", required_argument, NULL, OPT_JOB },
        { NULL, 0, NULL, 0 },
    };
    struct ops_request rq = { .outcome = -1 };
    int opt;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (cli_global_option(cli, opt, optarg))
            continue;
        if (opt != OPT_JOB)
            return cli_usage_error(cli, "invalid option");
        if (rq.job || !cli_parse_id(optarg, &rq.id))
            return cli_usage_error(cli, "--job takes one JOB id");
        rq.job = true;
    }
    if (cli->help) {
        write_cancel_help(stdout);
        return 0;
    }
    if (rq.job && optind != argc)
        return cli_usage_error(cli, "give BATCH or --job JOB, not both");
    if (!rq.job && (optind + 1 != argc || !cli_parse_id(argv[optind], &rq.id)))
        return cli_usage_error(cli, "expected one BATCH id or --job JOB");
    return cli_run_with_db(cli, CLI_SCHEMA_CURRENT, cancel_action, &rq);
}

/* Applies one of resolve's own options; returns a problem or NULL. */
static const char *resolve_option(struct ops_request *rq, int opt,
                                  const char *arg)
{
    switch (opt) {
    case OPT_SUCCEEDED:
    case OPT_FAILED:
        if (rq->outcome >= 0)
            return "give --succeeded or --failed once";
        rq->outcome = opt == OPT_SUCCEEDED ? 1 : 0;
        return NULL;
    case OPT_EVIDENCE:
        rq->evidence = arg;
        return NULL;
    default:
        return "invalid option";
    }
}

/* Checks a parsed resolve command line; returns the exit status or -1. */
static int resolve_check(struct cli *cli, int argc, char **argv,
                         struct ops_request *rq)
{
    const char *problem = NULL;

    if (optind + 1 != argc || !cli_parse_id(argv[optind], &rq->id))
        return cli_usage_error(cli, "expected one JOB id");
    if (rq->outcome < 0)
        return cli_usage_error(cli, "give --succeeded or --failed");
    if (rq->evidence == NULL)
        return cli_usage_error(cli, "--evidence TEXT is required");
    if (queue_ops_evidence_check(rq->evidence, &problem) != PAYQ_OK) {
        log_error("cannot resolve the job", LOG_INT("job", rq->id),
                  LOG_STR("problem", problem));
        return cli_exit_code(PAYQ_ERR_DATA);
    }
    return -1;
}

int cmd_resolve(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        { "succeeded", no_argument, NULL, OPT_SUCCEEDED },
        { "failed", no_argument, NULL, OPT_FAILED },
        { "evidence", required_argument, NULL, OPT_EVIDENCE },
        { NULL, 0, NULL, 0 },
    };
    struct ops_request rq = { .outcome = -1 };
    const char *problem;
    int opt;
    int rc;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (cli_global_option(cli, opt, optarg))
            continue;
        problem = resolve_option(&rq, opt, optarg);
        if (problem != NULL)
            return cli_usage_error(cli, "%s", problem);
    }
    if (cli->help) {
        write_resolve_help(stdout);
        return 0;
    }
    rc = resolve_check(cli, argc, argv, &rq);
    if (rc >= 0)
        return rc;
    return cli_run_with_db(cli, CLI_SCHEMA_CURRENT, resolve_action, &rq);
}
