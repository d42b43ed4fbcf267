/* The queue's statement helpers (queue/sql.h). */
#include "queue/sql.h"

#include <stdlib.h>

#include "db/conn.h"

enum payq_err queue_sql_exec(PGconn *conn, const char *sql, int n,
                             const char *const *params, const char *what,
                             PGresult **out)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    enum payq_err err = db_result_check_outage(conn, res, what);

    if (err == PAYQ_OK && out != NULL)
        *out = res;
    else
        PQclear(res);
    return err;
}

enum payq_err queue_sql_count(PGconn *conn, const char *sql, const char *what,
                              int *n)
{
    PGresult *res = PQexec(conn, sql);
    enum payq_err err = db_result_check_outage(conn, res, what);

    *n = err == PAYQ_OK ? (int)strtol(PQcmdTuples(res), NULL, 10) : 0;
    PQclear(res);
    return err;
}
