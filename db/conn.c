/*
 * libpq connection set-up. The connection string may hold a password, so
 * it is parsed once up front: to register that password for redaction and
 * to refuse a malformed string without echoing it (libpq's parse errors
 * quote the offending text).
 */
#include "db/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* Registers the password inside url, if any; fails on a bad url. */
static enum payq_err register_url_password(const char *url)
{
    PQconninfoOption *opts;
    PQconninfoOption *o;
    char *parse_error = NULL;

    opts = PQconninfoParse(url, &parse_error);
    if (opts == NULL) {
        /* parse_error may quote the URL: free it unread. */
        PQfreemem(parse_error);
        log_error("cannot parse the database URL; check --database-url "
                  "or DATABASE_URL (not shown: it may hold a password)");
        return PAYQ_ERR_CONFIG;
    }
    for (o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
            log_secret_add(o->val);
    PQconninfoFree(opts);
    return PAYQ_OK;
}

/* The first line of libpq's message, without its trailing newline. */
static void first_line(const char *msg, char *out, size_t size)
{
    size_t n = strcspn(msg, "\n");

    snprintf(out, size, "%.*s", (int)n, msg);
}

static void log_connect_failure(PGconn *conn, enum log_level level)
{
    char reason[512];

    if (!log_enabled(level))
        return;
    first_line(conn != NULL ? PQerrorMessage(conn) : "out of memory", reason,
               sizeof(reason));
    LOG_AT_(level, "cannot connect to the database",
            LOG_STR("host", conn != NULL ? PQhost(conn) : NULL),
            LOG_STR("database", conn != NULL ? PQdb(conn) : NULL),
            LOG_STR("reason", reason));
}

enum payq_err db_conn_open(const struct config *cfg, const char *component,
                           PGconn **out)
{
    return db_conn_open_at(cfg, component, LOG_LEVEL_ERROR, out);
}

enum payq_err db_conn_open_at(const struct config *cfg, const char *component,
                              enum log_level failure_level, PGconn **out)
{
    const char *keys[4];
    const char *values[4];
    char app_name[64];
    char timeout[16];
    int n = 0;
    PGconn *conn;

    *out = NULL;
    log_secret_add(getenv("PGPASSWORD"));
    if (cfg->database_url != NULL &&
        register_url_password(cfg->database_url) != PAYQ_OK)
        return PAYQ_ERR_CONFIG;

    /* Defaults first: a dbname string expanded later overrides them. */
    snprintf(app_name, sizeof(app_name), "payq-%s", component);
    keys[n] = "fallback_application_name";
    values[n++] = app_name;
    if (getenv("PGCONNECT_TIMEOUT") == NULL) {
        snprintf(timeout, sizeof(timeout), "%d", DB_CONNECT_TIMEOUT_S);
        keys[n] = "connect_timeout";
        values[n++] = timeout;
    }
    if (cfg->database_url != NULL) {
        keys[n] = "dbname";
        values[n++] = cfg->database_url;
    }
    keys[n] = NULL;
    values[n] = NULL;

    conn = PQconnectdbParams(keys, values, 1);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        log_connect_failure(conn, failure_level);
        PQfinish(conn);
        return PAYQ_ERR_DB_CONNECT;
    }
    log_debug("connected to the database", LOG_STR("host", PQhost(conn)),
              LOG_STR("database", PQdb(conn)), LOG_STR("component", component));
    *out = conn;
    return PAYQ_OK;
}

void db_conn_close(PGconn *conn)
{
    if (conn != NULL)
        PQfinish(conn);
}

const char *db_sqlstate(const PGresult *res)
{
    const char *state = NULL;

    if (res != NULL)
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state != NULL ? state : "";
}

enum payq_err db_result_check(PGconn *conn, const PGresult *res,
                              const char *what)
{
    ExecStatusType status =
        res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    char reason[512];

    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        return PAYQ_OK;
    first_line(res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn),
               reason, sizeof(reason));
    log_error("database statement failed", LOG_STR("doing", what),
              LOG_STR("sqlstate", db_sqlstate(res)), LOG_STR("reason", reason));
    if (PQstatus(conn) != CONNECTION_OK)
        return PAYQ_ERR_DB_CONNECT;
    return PAYQ_ERR_DB;
}

/* SQLSTATEs that refuse every write for now, whatever its rows. */
static bool refuses_any_write(const char *sqlstate)
{
    return strcmp(sqlstate, "25006") == 0 || strncmp(sqlstate, "53", 2) == 0 ||
           strncmp(sqlstate, "57", 2) == 0;
}

enum payq_err db_result_check_outage(PGconn *conn, const PGresult *res,
                                     const char *what)
{
    ExecStatusType status =
        res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        return PAYQ_OK;
    if (PQstatus(conn) != CONNECTION_OK) {
        log_debug("database connection lost", LOG_STR("doing", what));
        return PAYQ_ERR_DB_CONNECT;
    }
    if (db_result_check(conn, res, what) == PAYQ_ERR_DB_CONNECT)
        return PAYQ_ERR_DB_CONNECT;
    return refuses_any_write(db_sqlstate(res)) ? PAYQ_ERR_DB_BUSY : PAYQ_ERR_DB;
}

enum payq_err db_exec(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    enum payq_err err = db_result_check(conn, res, what);

    PQclear(res);
    return err;
}
