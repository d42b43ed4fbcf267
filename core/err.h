/*
 * Error codes shared by every payq module.
 *
 * Each wrapper module (db over libpq, later upstream over libcurl, callback
 * over libmicrohttpd) maps its library's errors onto these codes once, so
 * callers test one enum. The command line maps a code onto a sysexits(3)
 * exit status with payq_err_exit_code().
 */
#ifndef PAYQ_CORE_ERR_H
#define PAYQ_CORE_ERR_H

#define PAYQ_MUST_USE __attribute__((warn_unused_result))

enum payq_err {
    PAYQ_OK = 0,
    PAYQ_ERR_NOMEM,       /* an allocation failed */
    PAYQ_ERR_USAGE,       /* the command line is wrong */
    PAYQ_ERR_DATA,        /* input data is invalid */
    PAYQ_ERR_CONFIG,      /* configuration is missing, invalid or unsafe */
    PAYQ_ERR_TOO_LARGE,   /* a bounded buffer would pass its maximum */
    PAYQ_ERR_IO,          /* a file or socket operation failed */
    PAYQ_ERR_DB_CONNECT,  /* the database cannot be reached */
    PAYQ_ERR_DB,          /* a statement failed */
    PAYQ_ERR_SCHEMA,      /* the schema is missing, older or newer */
    PAYQ_ERR_NOT_FOUND,   /* the named object does not exist */
    PAYQ_ERR_INTERRUPTED, /* stopped by a signal before finishing */
    PAYQ_ERR_DB_BUSY,     /* the server refuses any write for now */
};

/* Returns a short static description of err, never NULL. */
const char *payq_err_str(enum payq_err err);

/*
 * Returns the process exit status for err: 0 success, 64 usage, 65 bad
 * input data, 78 configuration (including an unusable schema), 1 for any
 * other runtime failure.
 */
int payq_err_exit_code(enum payq_err err);

#endif
