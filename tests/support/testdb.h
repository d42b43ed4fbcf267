/*
 * Fresh PostgreSQL databases for integration tests.
 *
 * scripts/test starts a private PostgreSQL server and exports PGHOST,
 * PGPORT and PGUSER; each test creates its own database there, with a
 * name unique to the process, so tests run in parallel (ctest -j) without
 * seeing each other. No mock of libpq and no other engine.
 */
#ifndef PAYQ_TESTS_TESTDB_H
#define PAYQ_TESTS_TESTDB_H

#include <stdbool.h>

#include <libpq-fe.h>

struct testdb {
    char name[64];     /* database name */
    char conninfo[96]; /* "dbname=NAME": the rest comes from PG* */
};

/*
 * Creates an empty database. Fails the calling test (cmocka) when the
 * server cannot be reached, with a hint to use scripts/test.
 */
void testdb_create(struct testdb *db);

/* Creates a database and applies every migration to it. */
void testdb_create_migrated(struct testdb *db);

/* Drops the database, disconnecting anyone still connected. */
void testdb_drop(struct testdb *db);

/* Opens a connection to db; fails the test on error. Close with PQfinish. */
PGconn *testdb_connect(const struct testdb *db);

/* Runs sql and fails the test unless it succeeds. */
void testdb_exec_ok(PGconn *conn, const char *sql);

/*
 * Runs sql expecting it to fail with SQLSTATE state (NULL: any error);
 * when constraint is not NULL the error must name that constraint.
 */
void testdb_exec_fails(PGconn *conn, const char *sql, const char *state,
                       const char *constraint);

/* Runs a query returning one value and returns it as a long long. */
long long testdb_scalar(PGconn *conn, const char *sql);

#endif
