/* payq approve BATCH: release a held batch to the workers. */
#include <stdio.h>

#include "cmd/commands.h"
#include "core/log.h"
#include "queue/batch.h"

static void write_help(FILE *out)
{
    fputs("Usage: payq approve BATCH\n"
          "\n"
          "Approves a batch imported with --hold, so that its jobs may be\n"
          "sent; records who approved it and when. Approving an approved\n"
          "batch changes nothing; a cancelled batch cannot be approved.\n"
          "\n",
          out);
    cli_write_global_help(out);
    fputc('\n', out);
    cli_write_exit_help(out);
}

static enum payq_err approve(PGconn *conn, const struct config *cfg, void *arg)
{
    long long id = *(const long long *)arg;
    enum queue_batch_outcome outcome = QUEUE_BATCH_UNCHANGED;
    enum payq_err err = queue_batch_approve(conn, id, cli_actor(), &outcome);

    (void)cfg;
    if (err == PAYQ_ERR_NOT_FOUND) {
        log_error("no such batch", LOG_INT("batch", id));
        return err;
    }
    if (err != PAYQ_OK)
        return err;
    switch (outcome) {
    case QUEUE_BATCH_CHANGED:
        log_info("batch approved", LOG_INT("batch", id),
                 LOG_STR("actor", cli_actor()));
        printf("batch %lld approved\n", id);
        return PAYQ_OK;
    case QUEUE_BATCH_UNCHANGED:
        printf("batch %lld was already approved\n", id);
        return PAYQ_OK;
    case QUEUE_BATCH_CANCELLED:
        log_error("batch is cancelled and cannot be approved",
                  LOG_INT("batch", id));
        return PAYQ_ERR_DATA;
    }
    return PAYQ_OK;
}

int cmd_approve(struct cli *cli, int argc, char **argv)
{
    int rc = cli_parse_global_only(cli, argc, argv, write_help);
    long long id = 0;

    if (rc >= 0)
        return rc;
    if (optind + 1 != argc || !cli_parse_id(argv[optind], &id))
        return cli_usage_error(cli, "expected one BATCH id");
    return cli_run_with_db(cli, CLI_SCHEMA_CURRENT, approve, &id);
}
