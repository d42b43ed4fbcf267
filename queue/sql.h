/*
 * How the queue's state machine (queue/claim.c, queue/record.c) runs its
 * statements. Private to queue/: nothing outside includes this file.
 *
 * A lost connection is returned as PAYQ_ERR_DB_CONNECT and logged at
 * debug only: the caller reports an outage once, not once per statement
 * and thread (claim.h). Other failures are logged at error, naming what
 * was being done.
 */
#ifndef PAYQ_QUEUE_SQL_H
#define PAYQ_QUEUE_SQL_H

#include <libpq-fe.h>

#include "core/err.h"

/*
 * Runs sql with n text parameters. On PAYQ_OK and out not NULL, *out
 * receives the result, which the caller frees with PQclear(); otherwise
 * the result is freed here.
 */
PAYQ_MUST_USE enum payq_err queue_sql_exec(PGconn *conn, const char *sql, int n,
                                           const char *const *params,
                                           const char *what, PGresult **out);

/* Runs sql (no parameters) and returns its row count in *n (0 on error). */
PAYQ_MUST_USE enum payq_err queue_sql_count(PGconn *conn, const char *sql,
                                            const char *what, int *n);

#endif
