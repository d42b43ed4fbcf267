/* payq status: the queue at a glance. */
#include <stdio.h>

#include "cmd/commands.h"
#include "db/conn.h"
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

static enum payq_err show_status(PGconn *conn)
{
    struct queue_status st;
    enum payq_err err = queue_status_read(conn, &st);

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
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct config cfg;
    PGconn *conn = NULL;
    enum payq_err err;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
        if (!cli_global_option(cli, opt, optarg))
            return cli_usage_error(cli, "invalid option");
    if (cli->help) {
        write_help(stdout);
        return 0;
    }
    if (optind < argc)
        return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);

    err = cli_configure(cli, &cfg);
    if (err == PAYQ_OK)
        err = cli_connect(cli, &cfg, CLI_SCHEMA_CURRENT, &conn);
    if (err == PAYQ_OK)
        err = show_status(conn);

    db_conn_close(conn);
    config_cleanup(&cfg);
    return cli_exit_code(err);
}
