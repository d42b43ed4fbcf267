/* Per-test databases on the private PostgreSQL server of scripts/test. */
#include "tests/support/testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "db/conn.h"
#include "db/migrate.h"

static PGconn *admin_connect(void)
{
    PGconn *conn = PQconnectdb("dbname=postgres");

    if (PQstatus(conn) != CONNECTION_OK) {
        print_error("cannot reach the test PostgreSQL (run the tests with "
                    "./scripts/test, which starts one): %s",
                    PQerrorMessage(conn));
        PQfinish(conn);
        fail();
    }
    return conn;
}

static void admin_exec(const char *sql)
{
    PGconn *conn = admin_connect();
    PGresult *res = PQexec(conn, sql);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

    if (!ok)
        print_error("%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
    assert_true(ok);
}

void testdb_create(struct testdb *db)
{
    static unsigned counter;
    struct timespec now;
    char sql[160];

    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(db->name, sizeof(db->name), "payq_test_%ld_%u_%ld", (long)getpid(),
             counter++, (long)(now.tv_nsec % 1000000));
    snprintf(db->conninfo, sizeof(db->conninfo), "dbname=%s", db->name);
    snprintf(sql, sizeof(sql), "create database %s", db->name);
    admin_exec(sql);
}

void testdb_create_migrated(struct testdb *db)
{
    PGconn *conn;
    int applied = -1;

    testdb_create(db);
    conn = testdb_connect(db);
    assert_int_equal(db_migrate_apply(conn, &applied), PAYQ_OK);
    assert_int_equal(applied, (int)db_migrations_count);
    PQfinish(conn);
}

void testdb_drop(struct testdb *db)
{
    char sql[160];

    if (db->name[0] == '\0')
        return;
    snprintf(sql, sizeof(sql), "drop database if exists %s with (force)",
             db->name);
    admin_exec(sql);
    db->name[0] = '\0';
}

PGconn *testdb_connect(const struct testdb *db)
{
    PGconn *conn = PQconnectdb(db->conninfo);

    if (PQstatus(conn) != CONNECTION_OK)
        print_error("connect %s: %s", db->name, PQerrorMessage(conn));
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    return conn;
}

void testdb_exec_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        print_error("%s\n  failed: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
}

void testdb_exec_fails(PGconn *conn, const char *sql, const char *state,
                       const char *constraint)
{
    PGresult *res = PQexec(conn, sql);
    const char *got_state = db_sqlstate(res);
    const char *got_name = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    bool failed = PQresultStatus(res) == PGRES_FATAL_ERROR;

    if (!failed)
        print_error("expected failure, but it succeeded: %s\n", sql);
    else if (state != NULL && strcmp(state, got_state) != 0)
        print_error("%s\n  wanted SQLSTATE %s, got %s: %s", sql, state,
                    got_state, PQresultErrorMessage(res));
    assert_true(failed);
    if (state != NULL)
        assert_string_equal(got_state, state);
    if (constraint != NULL) {
        assert_non_null(got_name);
        assert_string_equal(got_name, constraint);
    }
    PQclear(res);
}

long long testdb_scalar(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    long long value;

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        print_error("%s: %s", sql, PQerrorMessage(conn));
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), 1);
    value = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return value;
}
