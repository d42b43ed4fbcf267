/*
 * Database connections over libpq, and the mapping of libpq's errors onto
 * payq's codes.
 *
 * The connection string comes from the config (or libpq's own PG*
 * variables, service file and .pgpass when none is set). It is never
 * logged: lines name the host and database only. A password found in it,
 * or in PGPASSWORD, is registered with the log module's redaction.
 */
#ifndef PAYQ_DB_CONN_H
#define PAYQ_DB_CONN_H

#include <libpq-fe.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"

/* Seconds to wait for a connection unless the URL or PGCONNECT_TIMEOUT say. */
#define DB_CONNECT_TIMEOUT_S 10

/*
 * Connects to the database named by cfg. component names the part of payq
 * connecting ("migrate", "worker"); it becomes the application_name
 * "payq-<component>" unless the URL or PGAPPNAME sets one. On success
 * *out is an open connection; the caller closes it with db_conn_close().
 * Returns PAYQ_ERR_CONFIG for an unparsable URL, PAYQ_ERR_DB_CONNECT when
 * the server cannot be reached or refuses us; either is logged.
 */
PAYQ_MUST_USE enum payq_err db_conn_open(const struct config *cfg,
                                         const char *component, PGconn **out);

/*
 * db_conn_open(), logging a failure at failure_level: for callers that
 * retry in a loop and report the outage once themselves.
 */
PAYQ_MUST_USE enum payq_err db_conn_open_at(const struct config *cfg,
                                            const char *component,
                                            enum log_level failure_level,
                                            PGconn **out);

/* Closes conn; NULL is allowed. */
void db_conn_close(PGconn *conn);

/*
 * Checks a result. PGRES_COMMAND_OK and PGRES_TUPLES_OK give PAYQ_OK.
 * Otherwise logs "cannot <what>" with the server's message and SQLSTATE
 * and returns PAYQ_ERR_DB_CONNECT when the connection is lost, else
 * PAYQ_ERR_DB. res may be NULL (out of memory or connection lost).
 */
PAYQ_MUST_USE enum payq_err db_result_check(PGconn *conn, const PGresult *res,
                                            const char *what);

/*
 * As db_result_check(), for a long-lived process that reports an outage
 * once rather than once per statement and thread: a lost connection is
 * logged at debug only and returned as PAYQ_ERR_DB_CONNECT. A refusal
 * that no statement could pass for now, whatever its rows (a read-only
 * server after a failover, insufficient resources such as a full disk,
 * a server shutting down: SQLSTATE 25006, class 53, class 57), is
 * PAYQ_ERR_DB_BUSY: worth waiting for, not worth giving up a row for.
 */
PAYQ_MUST_USE enum payq_err
db_result_check_outage(PGconn *conn, const PGresult *res, const char *what);

/*
 * Runs sql, which returns no rows, and checks it as db_result_check()
 * does. what says what the statement does, for the error line.
 */
PAYQ_MUST_USE enum payq_err db_exec(PGconn *conn, const char *sql,
                                    const char *what);

/* Returns the SQLSTATE of a failed result, or "" when there is none. */
const char *db_sqlstate(const PGresult *res);

#endif
