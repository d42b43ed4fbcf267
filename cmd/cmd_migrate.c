/* payq migrate: bring the database schema up to this binary's version. */
#include <stdio.h>

#include "cmd/commands.h"
#include "core/log.h"
#include "db/migrate.h"

static void write_help(FILE *out)
{
    fputs("Usage: payq migrate [--check] [GLOBAL OPTIONS]\n"
          "\n"
          "Applies the schema migrations compiled into payq, in order, each\n"
          "in its own transaction, recorded in schema_migrations. Running it\n"
          "again is a no-op; concurrent runs wait for each other. A\n"
          "database migrated by a newer payq is refused. Every other\n"
          "command refuses to run until the schema is current.\n"
          "\n"
          "Options:\n"
          "  --check   change nothing: exit 0 when the schema is current,\n"
          "            78 when it needs migrating or is newer than payq\n"
          "\n",
          out);
    cli_write_global_help(out);
    fputc('\n', out);
    cli_write_exit_help(out);
}

static enum payq_err run_check(PGconn *conn, const struct config *cfg,
                               void *arg)
{
    struct db_schema_info info;
    enum payq_err err = db_schema_inspect(conn, &info);

    (void)cfg;
    (void)arg;
    if (err != PAYQ_OK)
        return err;
    printf("schema: %s (database version %d, payq version %d, "
           "%d pending)\n",
           db_schema_state_name(info.state), info.db_version,
           info.binary_version, info.pending);
    return info.state == DB_SCHEMA_CURRENT ? PAYQ_OK : PAYQ_ERR_SCHEMA;
}

static enum payq_err run_apply(PGconn *conn, const struct config *cfg,
                               void *arg)
{
    int applied = 0;
    enum payq_err err = db_migrate_apply(conn, &applied);

    (void)cfg;
    (void)arg;
    if (err != PAYQ_OK)
        return err;
    printf("migrations applied: %d; schema version %d is current\n", applied,
           db_migrations[db_migrations_count - 1].version);
    return PAYQ_OK;
}

int cmd_migrate(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        { "check", no_argument, NULL, 'c' },
        { NULL, 0, NULL, 0 },
    };
    int check = 0;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (opt == 'c')
            check = 1;
        else if (!cli_global_option(cli, opt, optarg))
            return cli_usage_error(cli, "invalid option");
    }
    if (cli->help) {
        write_help(stdout);
        return 0;
    }
    if (optind < argc)
        return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);

    return cli_run_with_db(cli, CLI_SCHEMA_ANY, check ? run_check : run_apply,
                           NULL);
}
