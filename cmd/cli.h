/*
 * What every subcommand shares: the global options, the help text that
 * describes them, configuration loading, the database connection and the
 * mapping of results onto exit statuses.
 */
#ifndef PAYQ_CMD_CLI_H
#define PAYQ_CMD_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "core/config.h"
#include "core/err.h"

/* getopt_long ids of the global options; above any short option char. */
enum {
    CLI_OPT_DATABASE_URL = 256,
    CLI_OPT_LOG_LEVEL,
    CLI_OPT_CREDENTIALS,
    CLI_OPT_VERSION,
};

/* Entries for a subcommand's getopt_long table, before its terminator. */
#define CLI_GLOBAL_LONGOPTS                                                    \
    { "database-url", required_argument, NULL, CLI_OPT_DATABASE_URL },         \
        { "log-level", required_argument, NULL, CLI_OPT_LOG_LEVEL },           \
        { "credentials", required_argument, NULL, CLI_OPT_CREDENTIALS },       \
    {                                                                          \
        "help", no_argument, NULL, 'h'                                         \
    }

/* The command line as parsed so far. */
struct cli {
    const char *command;       /* subcommand name, for messages */
    struct config_flags flags; /* global options seen */
    bool help;                 /* -h or --help seen */
};

/* A subcommand's entry point: argv[0] is the subcommand's name. */
typedef int (*cli_command_fn)(struct cli *cli, int argc, char **argv);

/*
 * Handles opt if it is a global option (recording its argument) and
 * returns true; returns false for anything else.
 */
bool cli_global_option(struct cli *cli, int opt, const char *arg);

/*
 * Prints "payq CMD: message" and a pointer to --help on stderr. Returns
 * the usage exit status (64) for the caller to return.
 */
int cli_usage_error(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes the help lines for the global options and the environment. */
void cli_write_global_help(FILE *out);

/* Writes the exit status table of --help. */
void cli_write_exit_help(FILE *out);

/*
 * Loads the configuration (environment, then the flags in cli) into cfg
 * and sets the log level. cfg must be released with config_cleanup().
 */
PAYQ_MUST_USE enum payq_err cli_configure(const struct cli *cli,
                                          struct config *cfg);

/* What cli_connect() demands of the schema. */
enum cli_schema {
    CLI_SCHEMA_ANY,     /* migrate itself: any state */
    CLI_SCHEMA_CURRENT, /* everything else: refuse until migrated */
};

/*
 * Connects to the database as the command's component and checks the
 * schema as asked. The caller closes *conn with db_conn_close().
 */
PAYQ_MUST_USE enum payq_err cli_connect(const struct cli *cli,
                                        const struct config *cfg,
                                        enum cli_schema schema, PGconn **conn);

/*
 * cli_connect() for a daemon, which must outlive a database that starts
 * after it or is away for a while: a server that cannot be reached is
 * tried again with backoff (1 s doubling to 30 s) until it answers or
 * *stop becomes non-zero (a signal handler sets it). The first failure
 * is logged at warn with its reason, later ones at debug. Under systemd
 * each wait extends the start-up timeout (EXTEND_TIMEOUT_USEC), so the
 * unit is not failed for waiting. Returns PAYQ_ERR_INTERRUPTED when
 * stopped first; any other failure (a schema that needs payq migrate, a
 * bad URL) at once, as cli_connect().
 */
PAYQ_MUST_USE enum payq_err cli_connect_wait(const struct cli *cli,
                                             const struct config *cfg,
                                             enum cli_schema schema,
                                             volatile sig_atomic_t *stop,
                                             PGconn **conn);

/*
 * The name recorded as the actor of operator actions: the login name of
 * the effective user, or "uid N" when it has none. Static storage.
 */
const char *cli_actor(void);

/*
 * Parses a batch or job id: digits only, 1 or more. Returns false when
 * text is not one.
 */
bool cli_parse_id(const char *text, long long *id);

/* Returns the exit status for err. */
int cli_exit_code(enum payq_err err);

/*
 * Parses a command that takes only the global options, leaving optind at
 * its first argument. Returns -1 to go on, or the exit status to return at
 * once: 0 after writing the help, 64 after a usage error.
 */
int cli_parse_global_only(struct cli *cli, int argc, char **argv,
                          void (*write_help)(FILE *out));

/* What a command does once configured and connected. */
typedef enum payq_err (*cli_db_action)(PGconn *conn, const struct config *cfg,
                                       void *arg);

/*
 * The common life of a command: load the configuration, connect (checking
 * the schema as asked), run action, close, and return the exit status.
 */
int cli_run_with_db(const struct cli *cli, enum cli_schema schema,
                    cli_db_action action, void *arg);

#endif
