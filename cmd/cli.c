/* Shared command-line handling for the payq subcommands. */
#include "cmd/cli.h"

#include <pwd.h>
#include <stdarg.h>
#include <unistd.h>

#include "core/log.h"
#include "db/conn.h"
#include "db/migrate.h"

bool cli_global_option(struct cli *cli, int opt, const char *arg)
{
    switch (opt) {
    case CLI_OPT_DATABASE_URL:
        cli->flags.database_url = arg;
        return true;
    case CLI_OPT_LOG_LEVEL:
        cli->flags.log_level = arg;
        return true;
    case CLI_OPT_CREDENTIALS:
        cli->flags.credentials_file = arg;
        return true;
    case 'h':
        cli->help = true;
        return true;
    default:
        return false;
    }
}

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
    const char *cmd = cli->command != NULL ? cli->command : "";
    const char *space = cli->command != NULL ? " " : "";
    va_list ap;

    fprintf(stderr, "payq%s%s: ", space, cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'payq%s%s --help' for more information.\n", space,
            cmd);
    return payq_err_exit_code(PAYQ_ERR_USAGE);
}

void cli_write_global_help(FILE *out)
{
    fputs("Global options (accepted by every command):\n"
          "  --database-url URL  libpq connection string or URI\n"
          "                      [env DATABASE_URL; when unset, libpq's\n"
          "                      PGHOST, PGPORT, PGUSER, PGDATABASE,\n"
          "                      PGPASSWORD, PGSERVICE and ~/.pgpass]\n"
          "  --log-level LEVEL   error, warn, info or debug\n"
          "                      [env PAYQ_LOG_LEVEL; default info]\n"
          "  --credentials FILE  provider credentials: lines username=,\n"
          "                      password=, key=; the file must not be\n"
          "                      readable by group or others (chmod 600)\n"
          "                      [default: env PAYQ_USERNAME, PAYQ_PASSWORD,"
          "\n"
          "                      PAYQ_KEY]\n"
          "  -h, --help          show help and exit\n"
          "\n"
          "Settings are taken from flags first, then the environment, then\n"
          "the defaults. Secrets are never accepted as flags and never\n"
          "logged. Logs are logfmt lines on stderr (journald priorities\n"
          "when JOURNAL_STREAM names stderr).\n",
          out);
}

void cli_write_exit_help(FILE *out)
{
    fputs("Exit status: 0 success, 1 runtime failure, 64 usage error,\n"
          "65 bad input data, 78 configuration error (including a\n"
          "database schema that needs payq migrate).\n",
          out);
}

enum payq_err cli_configure(const struct cli *cli, struct config *cfg)
{
    enum payq_err err;

    config_init(cfg);
    err = config_load(cfg, &cli->flags);
    if (err == PAYQ_OK)
        log_set_level(cfg->log_level);
    return err;
}

enum payq_err cli_connect(const struct cli *cli, const struct config *cfg,
                          enum cli_schema schema, PGconn **conn)
{
    enum payq_err err = db_conn_open(cfg, cli->command, conn);

    if (err != PAYQ_OK || schema == CLI_SCHEMA_ANY)
        return err;
    err = db_schema_require_current(*conn);
    if (err != PAYQ_OK) {
        db_conn_close(*conn);
        *conn = NULL;
    }
    return err;
}

const char *cli_actor(void)
{
    static char name[64];
    struct passwd *pw = getpwuid(geteuid());

    if (pw != NULL && pw->pw_name != NULL)
        snprintf(name, sizeof(name), "%s", pw->pw_name);
    else
        snprintf(name, sizeof(name), "uid %ld", (long)geteuid());
    return name;
}

bool cli_parse_id(const char *text, long long *id)
{
    long long value = 0;
    const char *p;

    for (p = text; *p >= '0' && *p <= '9'; p++) {
        if (value > (9223372036854775807LL - 9) / 10)
            return false;
        value = value * 10 + (*p - '0');
    }
    if (p == text || *p != '\0' || value < 1)
        return false;
    *id = value;
    return true;
}

int cli_exit_code(enum payq_err err)
{
    return payq_err_exit_code(err);
}

int cli_parse_global_only(struct cli *cli, int argc, char **argv,
                          void (*write_help)(FILE *out))
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
        if (!cli_global_option(cli, opt, optarg))
            return cli_usage_error(cli, "invalid option");
    if (cli->help) {
        write_help(stdout);
        return 0;
    }
    return -1;
}

int cli_run_with_db(const struct cli *cli, enum cli_schema schema,
                    cli_db_action action, void *arg)
{
    struct config cfg;
    PGconn *conn = NULL;
    enum payq_err err = cli_configure(cli, &cfg);

    if (err == PAYQ_OK)
        err = cli_connect(cli, &cfg, schema, &conn);
    if (err == PAYQ_OK)
        err = action(conn, &cfg, arg);

    db_conn_close(conn);
    config_cleanup(&cfg);
    return cli_exit_code(err);
}
