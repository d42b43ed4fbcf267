/* Shared command-line handling for the payq subcommands. */
#include "cmd/cli.h"

#include <pwd.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "core/backoff.h"
#include "core/log.h"
#include "core/sdnotify.h"
#include "db/conn.h"
#include "db/migrate.h"

enum {
    WAIT_BASE_MS = 1000, /* cli_connect_wait(): first wait */
    WAIT_CAP_MS = 30000, /* and the longest */
    WAIT_TICK_MS = 100,  /* how often it looks at *stop */
};

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
    fprintf(out,
            "\n"
            "Database connections carry an application_name naming the\n"
            "command or its part (payq-status, payq-worker...) unless the\n"
            "URL or PGAPPNAME names one, and give up after %d s without\n"
            "an answer unless the URL's connect_timeout or\n"
            "PGCONNECT_TIMEOUT says otherwise.\n",
            DB_CONNECT_TIMEOUT_S);
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

/* cli_connect(), logging a failure to connect at level. */
static enum payq_err connect_at(const struct cli *cli, const struct config *cfg,
                                enum cli_schema schema, enum log_level level,
                                PGconn **conn)
{
    enum payq_err err = db_conn_open_at(cfg, cli->command, level, conn);

    if (err != PAYQ_OK || schema == CLI_SCHEMA_ANY)
        return err;
    err = db_schema_require_current(*conn);
    if (err != PAYQ_OK) {
        db_conn_close(*conn);
        *conn = NULL;
    }
    return err;
}

enum payq_err cli_connect(const struct cli *cli, const struct config *cfg,
                          enum cli_schema schema, PGconn **conn)
{
    return connect_at(cli, cfg, schema, LOG_LEVEL_ERROR, conn);
}

/* Sleeps ms in short steps; false when *stop became set meanwhile. */
static bool wait_unless_stopped(long long ms, volatile sig_atomic_t *stop)
{
    struct timespec tick = { 0, WAIT_TICK_MS * 1000000L };
    long long slept;

    for (slept = 0; slept < ms && *stop == 0; slept += WAIT_TICK_MS)
        nanosleep(&tick, NULL);
    return *stop == 0;
}

/* Tells systemd why start-up takes long, and to allow for it. */
static void notify_waiting(long long wait_ms)
{
    char state[128];
    long long usec = (wait_ms + (DB_CONNECT_TIMEOUT_S + 5) * 1000LL) * 1000;

    snprintf(state, sizeof(state),
             "STATUS=waiting for the database\nEXTEND_TIMEOUT_USEC=%lld", usec);
    if (sdnotify_send(state) != PAYQ_OK)
        return; /* logged once inside; the wait goes on */
}

enum payq_err cli_connect_wait(const struct cli *cli, const struct config *cfg,
                               enum cli_schema schema,
                               volatile sig_atomic_t *stop, PGconn **conn)
{
    uint64_t rng = backoff_seed();
    enum log_level level = LOG_LEVEL_WARN;
    enum payq_err err;
    int tries = 0;

    while ((err = connect_at(cli, cfg, schema, level, conn)) ==
           PAYQ_ERR_DB_CONNECT) {
        long long wait =
            WAIT_BASE_MS / 2 +
            backoff_delay_ms(WAIT_BASE_MS, WAIT_CAP_MS, tries, &rng);

        if (tries++ == 0)
            log_info("waiting for the database before starting",
                     LOG_STR("command", cli->command));
        level = LOG_LEVEL_DEBUG;
        notify_waiting(wait);
        if (!wait_unless_stopped(wait, stop))
            return PAYQ_ERR_INTERRUPTED;
    }
    if (err == PAYQ_OK && tries > 0)
        log_info("database reachable; starting",
                 LOG_STR("command", cli->command), LOG_INT("tries", tries));
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
