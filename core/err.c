/* Error code descriptions and their exit statuses (sysexits.h values). */
#include "core/err.h"

#include <stddef.h>

enum {
    EXIT_RUNTIME = 1,
    EXIT_USAGE = 64,   /* EX_USAGE */
    EXIT_DATAERR = 65, /* EX_DATAERR */
    EXIT_CONFIG = 78,  /* EX_CONFIG */
};

static const struct {
    const char *text;
    int exit_code;
} err_table[] = {
    [PAYQ_OK] = { "success", 0 },
    [PAYQ_ERR_NOMEM] = { "out of memory", EXIT_RUNTIME },
    [PAYQ_ERR_USAGE] = { "usage error", EXIT_USAGE },
    [PAYQ_ERR_DATA] = { "invalid input data", EXIT_DATAERR },
    [PAYQ_ERR_CONFIG] = { "configuration error", EXIT_CONFIG },
    [PAYQ_ERR_TOO_LARGE] = { "size limit exceeded", EXIT_DATAERR },
    [PAYQ_ERR_IO] = { "input/output error", EXIT_RUNTIME },
    [PAYQ_ERR_DB_CONNECT] = { "database unreachable", EXIT_RUNTIME },
    [PAYQ_ERR_DB] = { "database error", EXIT_RUNTIME },
    [PAYQ_ERR_SCHEMA] = { "database schema not usable", EXIT_CONFIG },
    [PAYQ_ERR_NOT_FOUND] = { "not found", EXIT_RUNTIME },
    [PAYQ_ERR_INTERRUPTED] = { "interrupted", EXIT_RUNTIME },
    [PAYQ_ERR_DB_BUSY] = { "database refusing writes", EXIT_RUNTIME },
};

#define ERR_COUNT (sizeof(err_table) / sizeof(err_table[0]))

const char *payq_err_str(enum payq_err err)
{
    if ((size_t)err >= ERR_COUNT || err_table[err].text == NULL)
        return "unknown error";
    return err_table[err].text;
}

int payq_err_exit_code(enum payq_err err)
{
    if ((size_t)err >= ERR_COUNT || err_table[err].text == NULL)
        return EXIT_RUNTIME;
    return err_table[err].exit_code;
}
