/*
 * payq's configuration: one struct, filled once at start-up and then passed
 * as `const struct config *` to whatever needs it.
 *
 * Precedence, highest first: command-line flags, environment variables,
 * built-in defaults. Secrets (the provider password and key) are accepted
 * from the environment or a credentials file, never from argv, and are
 * registered with the log module so that no line can ever carry them.
 */
#ifndef PAYQ_CORE_CONFIG_H
#define PAYQ_CORE_CONFIG_H

#include "core/err.h"
#include "core/log.h"

/* Largest credentials file accepted. */
#define CONFIG_CREDENTIALS_MAX 4096

/* Values given on the command line; NULL where a flag was not given. */
struct config_flags {
    const char *database_url;     /* --database-url */
    const char *log_level;        /* --log-level */
    const char *credentials_file; /* --credentials */
};

/* Provider API credentials. Owned by the config; wiped when freed. */
struct config_credentials {
    char *username; /* PAYQ_USERNAME or "username" in the file */
    char *password; /* PAYQ_PASSWORD or "password" in the file; secret */
    char *key;      /* PAYQ_KEY or "key" in the file; secret */
};

struct config {
    /*
     * libpq connection string or URI from --database-url or DATABASE_URL;
     * NULL leaves the choice to libpq's PG* variables, service file and
     * .pgpass. May hold a password: never log it.
     */
    char *database_url;
    enum log_level log_level; /* --log-level, PAYQ_LOG_LEVEL; info */
    struct config_credentials credentials;
    char *credentials_source; /* "environment" or the file's path */
    long long min_amount;     /* PAYQ_MIN_AMOUNT; default 1 RWF */
    long long max_amount;     /* PAYQ_MAX_AMOUNT; default 5,000,000 RWF */
};

/* Default bounds of one payment, in RWF. */
#define CONFIG_MIN_AMOUNT_DEFAULT 1
#define CONFIG_MAX_AMOUNT_DEFAULT 5000000

/* Fills cfg with the built-in defaults. Allocates nothing. */
void config_init(struct config *cfg);

/*
 * Applies the environment, then flags, over the defaults in cfg. On
 * failure logs what is wrong (naming the variable, flag or file, never a
 * secret value) and returns PAYQ_ERR_CONFIG or PAYQ_ERR_NOMEM; cfg must
 * still be released with config_cleanup().
 */
PAYQ_MUST_USE enum payq_err config_load(struct config *cfg,
                                        const struct config_flags *flags);

/*
 * Reads provider credentials from path: lines "name=value" with names
 * username, password and key (or PAYQ_USERNAME, PAYQ_PASSWORD, PAYQ_KEY),
 * blank lines and '#' comments. Refuses a file that is not a regular file,
 * that group or others may access, that is larger than
 * CONFIG_CREDENTIALS_MAX, or that lacks one of the three.
 */
PAYQ_MUST_USE enum payq_err
config_read_credentials(struct config_credentials *creds, const char *path);

/*
 * Returns PAYQ_OK when username, password and key are all set, otherwise
 * logs which are missing and returns PAYQ_ERR_CONFIG. For commands that
 * call the provider.
 */
PAYQ_MUST_USE enum payq_err
config_require_credentials(const struct config *cfg);

/* Wipes and frees the credentials. */
void config_credentials_cleanup(struct config_credentials *creds);

/* Frees everything cfg owns, wiping secrets; cfg returns to defaults. */
void config_cleanup(struct config *cfg);

#endif
