/* payq status: the queue at a glance. */
#include <stdio.h>

#include "cmd/commands.h"
#include "db/migrate.h"
#include "queue/status.h"

static void write_help(FILE *out)
{
    fputs("Usage: payq status [GLOBAL OPTIONS]\n"
          "\n"
          "Shows the database payq is connected to, batches held or paused,\n"
          "jobs by kind and state, the age of the oldest job ready to be\n"
          "sent, why sending is paused (if it is) and the live workers.\n"
          "\n",
          out);
    cli_write_global_help(out);
    fputc('\n', out);
    cli_write_exit_help(out);
}

static enum payq_err show_status(PGconn *conn, const struct config *cfg,
                                 void *arg)
{
    struct queue_status st;
    enum payq_err err = queue_status_read(conn, &st);

    (void)cfg;
    (void)arg;
    if (err != PAYQ_OK)
        return err;
    printf("payq %s: database %s on %s, schema version %d\n", PAYQ_VERSION,
           PQdb(conn), PQhost(conn),
           db_migrations[db_migrations_count - 1].version);
    queue_status_write(&st, stdout);
    return PAYQ_OK;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
    int rc = cli_parse_global_only(cli, argc, argv, write_help);

    if (rc >= 0)
        return rc;
    if (optind < argc)
        return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
    return cli_run_with_db(cli, CLI_SCHEMA_CURRENT, show_status, NULL);
}
