/*
 * Integration tests for db/migrate against a real PostgreSQL: apply,
 * re-apply, serialization of concurrent runs, refusal of unknown and
 * edited migrations, atomicity of a failed migration.
 */
#include <pthread.h>
#include <sched.h>
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

#include "core/log.h"
#include "db/conn.h"
#include "db/migrate.h"
#include "tests/support/proc.h"
#include "tests/support/testdb.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define LOCK_ARGS STR(DB_MIGRATE_LOCK_CLASS) ", " STR(DB_MIGRATE_LOCK_OBJECT)

static int db_setup(void **state)
{
    static struct testdb db;

    log_init(2, LOG_LEVEL_ERROR);
    testdb_create(&db);
    *state = &db;
    return 0;
}

static int db_teardown(void **state)
{
    testdb_drop(*state);
    return 0;
}

static enum db_schema_state inspect_state(PGconn *conn)
{
    struct db_schema_info info;

    assert_int_equal(db_schema_inspect(conn, &info), PAYQ_OK);
    return info.state;
}

static void migrate_applies_all_to_fresh_database(void **state)
{
    PGconn *conn = testdb_connect(*state);
    struct db_schema_info info;
    int applied = -1;

    assert_int_equal(inspect_state(conn), DB_SCHEMA_EMPTY);
    assert_int_equal(db_schema_require_current(conn), PAYQ_ERR_SCHEMA);

    assert_int_equal(db_migrate_apply(conn, &applied), PAYQ_OK);
    assert_int_equal(applied, (int)db_migrations_count);
    assert_int_equal(db_schema_inspect(conn, &info), PAYQ_OK);
    assert_int_equal(info.state, DB_SCHEMA_CURRENT);
    assert_int_equal(info.pending, 0);
    assert_int_equal(info.db_version, info.binary_version);
    assert_int_equal(db_schema_require_current(conn), PAYQ_OK);
    assert_int_equal(testdb_scalar(conn, "select count(*) from "
                                         "schema_migrations"),
                     (long long)db_migrations_count);
    assert_int_equal(testdb_scalar(conn, "select count(*) from jobs"), 0);
    PQfinish(conn);
}

static void migrate_second_run_is_noop(void **state)
{
    PGconn *conn = testdb_connect(*state);
    int applied = -1;

    assert_int_equal(db_migrate_apply(conn, &applied), PAYQ_OK);
    testdb_exec_ok(conn, "create temp table before as"
                         " select * from schema_migrations");
    assert_int_equal(db_migrate_apply(conn, &applied), PAYQ_OK);
    assert_int_equal(applied, 0);
    /* Not a row added, changed or re-stamped. */
    assert_int_equal(testdb_scalar(conn, "select count(*) from (select * from"
                                         " schema_migrations except select *"
                                         " from before) d"),
                     0);
    assert_int_equal(testdb_scalar(conn, "select count(*) from "
                                         "schema_migrations"),
                     (long long)db_migrations_count);
    PQfinish(conn);
}

struct migrate_run {
    const struct testdb *db;
    enum payq_err err;
    int applied;
    volatile int backend_pid;
    volatile int done;
};

static void *migrate_thread(void *arg)
{
    struct migrate_run *run = arg;
    PGconn *conn = PQconnectdb(run->db->conninfo);

    run->backend_pid = PQbackendPID(conn);
    run->err = db_migrate_apply(conn, &run->applied);
    run->done = 1;
    PQfinish(conn);
    return NULL;
}

/* Waits until backend pid is blocked on an advisory lock. */
static int wait_for_lock_wait(PGconn *watcher, int pid)
{
    char sql[200];
    int i;

    snprintf(sql, sizeof(sql),
             "select count(*) from pg_locks where locktype = 'advisory'"
             " and not granted and pid = %d",
             pid);
    for (i = 0; i < 200; i++) {
        struct timespec pause = { 0, 50 * 1000 * 1000 };

        if (pid != 0 && testdb_scalar(watcher, sql) == 1)
            return 1;
        nanosleep(&pause, NULL);
    }
    return 0;
}

static void migrate_waits_for_a_concurrent_run(void **state)
{
    PGconn *holder = testdb_connect(*state);
    struct migrate_run run = { .db = *state, .applied = -1 };
    pthread_t thread;

    /* Stand in for another migrate holding the lock. */
    testdb_exec_ok(holder, "select pg_advisory_lock(" LOCK_ARGS ")");
    assert_int_equal(pthread_create(&thread, NULL, migrate_thread, &run), 0);
    while (run.backend_pid == 0 && !run.done)
        sched_yield();
    assert_true(wait_for_lock_wait(holder, run.backend_pid));
    assert_false(run.done);
    assert_int_equal(testdb_scalar(holder, "select count(*) from"
                                           " pg_tables where tablename ="
                                           " 'jobs'"),
                     0);

    testdb_exec_ok(holder, "select pg_advisory_unlock(" LOCK_ARGS ")");
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(run.err, PAYQ_OK);
    assert_int_equal(run.applied, (int)db_migrations_count);
    PQfinish(holder);
}

/* Waits until n sessions on conn's database wait for an advisory lock. */
static int wait_for_lock_waiters(PGconn *conn, int n)
{
    int i;

    for (i = 0; i < 200; i++) {
        struct timespec pause = { 0, 50 * 1000 * 1000 };

        if (testdb_scalar(conn, "select count(*) from pg_locks l"
                                " join pg_database d on d.oid ="
                                " l.database where l.locktype ="
                                " 'advisory' and not l.granted and"
                                " d.datname = current_database()") == n)
            return 1;
        nanosleep(&pause, NULL);
    }
    return 0;
}

static void migrate_concurrent_runs_apply_once(void **state)
{
    struct migrate_run runs[4];
    pthread_t threads[4];
    PGconn *conn = testdb_connect(*state);
    int total = 0;
    int all = 0;
    int i;

    /* Held until all four wait, so that they surely overlap. */
    testdb_exec_ok(conn, "select pg_advisory_lock(" LOCK_ARGS ")");
    for (i = 0; i < 4; i++) {
        runs[i] = (struct migrate_run){ .db = *state, .applied = -1 };
        assert_int_equal(
            pthread_create(&threads[i], NULL, migrate_thread, &runs[i]), 0);
    }
    assert_true(wait_for_lock_waiters(conn, 4));
    testdb_exec_ok(conn, "select pg_advisory_unlock(" LOCK_ARGS ")");
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(runs[i].err, PAYQ_OK);
        total += runs[i].applied;
        all += runs[i].applied == (int)db_migrations_count;
    }
    /* One run applied everything; the others found nothing left. */
    assert_int_equal(all, 1);
    assert_int_equal(total, (int)db_migrations_count);
    assert_int_equal(inspect_state(conn), DB_SCHEMA_CURRENT);
    PQfinish(conn);
}

/*
 * Two real `payq migrate` processes started together against a fresh
 * database. A session of the test holds the lock until both wait on it,
 * so they truly overlap; once it is released, one applies everything
 * while the other waits, then finds nothing left.
 */
static void migrate_two_processes_apply_once(void **state)
{
    const struct testdb *db = *state;
    PGconn *holder = testdb_connect(db);
    char url[128];
    const char *env[] = { url, "PAYQ_LOG_LEVEL=info", NULL };
    const char *argv[] = { proc_payq_path(), "migrate", NULL };
    char logs[2][64];
    char text[2][16384];
    char all[64];
    int pids[2];
    int applied_all = 0;
    int applied_none = 0;
    int i;

    snprintf(url, sizeof(url), "DATABASE_URL=%s", db->conninfo);
    snprintf(all, sizeof(all), "migrations applied: %d;",
             (int)db_migrations_count);
    testdb_exec_ok(holder, "select pg_advisory_lock(" LOCK_ARGS ")");
    for (i = 0; i < 2; i++) {
        int fd;

        snprintf(logs[i], sizeof(logs[i]), "/tmp/payq-migrate-log.XXXXXX");
        fd = mkstemp(logs[i]);
        assert_true(fd >= 0);
        close(fd);
        pids[i] = proc_start(argv, env, logs[i]);
    }
    assert_true(wait_for_lock_waiters(holder, 2));
    testdb_exec_ok(holder, "select pg_advisory_unlock(" LOCK_ARGS ")");

    for (i = 0; i < 2; i++) {
        assert_int_equal(proc_wait(pids[i]), 0);
        proc_read_text(logs[i], text[i], sizeof(text[i]));
        unlink(logs[i]);
        /* Both waited: the test's lock made them overlap. */
        if (strstr(text[i], "another payq migrate is running") == NULL)
            fail_msg("run %d did not wait:\n%s", i, text[i]);
        if (strstr(text[i], all) != NULL)
            applied_all++;
        if (strstr(text[i], "migrations applied: 0;") != NULL &&
            strstr(text[i], "msg=\"migration applied\"") == NULL)
            applied_none++;
    }
    if (applied_all != 1 || applied_none != 1)
        fail_msg("wanted one run to apply all, one none:\n%s\n--\n%s", text[0],
                 text[1]);
    assert_int_equal(inspect_state(holder), DB_SCHEMA_CURRENT);
    assert_int_equal(testdb_scalar(holder, "select count(*) from "
                                           "schema_migrations"),
                     (long long)db_migrations_count);
    PQfinish(holder);
}

static void migrate_refuses_unknown_newer_migration(void **state)
{
    PGconn *conn = testdb_connect(*state);
    struct db_schema_info info;
    int applied = -1;

    assert_int_equal(db_migrate_apply(conn, &applied), PAYQ_OK);
    testdb_exec_ok(conn, "insert into schema_migrations"
                         " (version, name, checksum) values (9999,"
                         " 'from_the_future', repeat('a', 64))");
    assert_int_equal(db_schema_inspect(conn, &info), PAYQ_OK);
    assert_int_equal(info.state, DB_SCHEMA_AHEAD);
    assert_int_equal(info.odd_version, 9999);
    assert_int_equal(info.db_version, 9999);
    assert_int_equal(db_schema_require_current(conn), PAYQ_ERR_SCHEMA);
    assert_int_equal(db_migrate_apply(conn, &applied), PAYQ_ERR_SCHEMA);
    assert_int_equal(applied, 0);
    PQfinish(conn);
}

static void migrate_refuses_edited_migration(void **state)
{
    PGconn *conn = testdb_connect(*state);
    struct db_schema_info info;
    int applied = -1;

    assert_int_equal(db_migrate_apply(conn, &applied), PAYQ_OK);
    testdb_exec_ok(conn, "update schema_migrations set checksum ="
                         " repeat('0', 64) where version = 1");
    assert_int_equal(db_schema_inspect(conn, &info), PAYQ_OK);
    assert_int_equal(info.state, DB_SCHEMA_MODIFIED);
    assert_int_equal(info.odd_version, 1);
    assert_int_equal(db_schema_require_current(conn), PAYQ_ERR_SCHEMA);
    assert_int_equal(db_migrate_apply(conn, &applied), PAYQ_ERR_SCHEMA);
    PQfinish(conn);
}

static void migrate_applies_pending_to_older_schema(void **state)
{
    PGconn *conn = testdb_connect(*state);
    struct db_schema_info info;
    int applied = -1;

    /* A ledger with nothing in it: every migration is pending. */
    testdb_exec_ok(conn, "create table schema_migrations (version integer"
                         " primary key, name text not null, checksum text"
                         " not null, applied_at timestamptz not null"
                         " default now())");
    assert_int_equal(db_schema_inspect(conn, &info), PAYQ_OK);
    assert_int_equal(info.state, DB_SCHEMA_BEHIND);
    assert_int_equal(info.pending, (int)db_migrations_count);
    assert_int_equal(db_schema_require_current(conn), PAYQ_ERR_SCHEMA);
    assert_int_equal(db_migrate_apply(conn, &applied), PAYQ_OK);
    assert_int_equal(applied, (int)db_migrations_count);
    assert_int_equal(inspect_state(conn), DB_SCHEMA_CURRENT);
    PQfinish(conn);
}

static void migrate_failure_rolls_back_whole_file(void **state)
{
    PGconn *conn = testdb_connect(*state);
    int applied = -1;

    /* A table in the way makes the first migration fail part way. */
    testdb_exec_ok(conn, "create table callbacks (id int)");
    assert_int_equal(db_migrate_apply(conn, &applied), PAYQ_ERR_DB);
    assert_int_equal(applied, 0);
    assert_int_equal(testdb_scalar(conn, "select count(*) from pg_tables"
                                         " where tablename in ('batches',"
                                         " 'jobs')"),
                     0);
    assert_int_equal(testdb_scalar(conn, "select count(*) from "
                                         "schema_migrations"),
                     0);
    /* The lock was released: a later run is not blocked. */
    assert_int_equal(testdb_scalar(conn, "select count(*) from pg_locks l"
                                         " join pg_database d on d.oid ="
                                         " l.database where l.locktype ="
                                         " 'advisory' and d.datname ="
                                         " current_database()"),
                     0);
    testdb_exec_ok(conn, "drop table callbacks");
    assert_int_equal(db_migrate_apply(conn, &applied), PAYQ_OK);
    assert_int_equal(applied, (int)db_migrations_count);
    PQfinish(conn);
}

#define T(f) cmocka_unit_test_setup_teardown(f, db_setup, db_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(migrate_applies_all_to_fresh_database),
        T(migrate_second_run_is_noop),
        T(migrate_waits_for_a_concurrent_run),
        T(migrate_concurrent_runs_apply_once),
        T(migrate_two_processes_apply_once),
        T(migrate_refuses_unknown_newer_migration),
        T(migrate_refuses_edited_migration),
        T(migrate_applies_pending_to_older_schema),
        T(migrate_failure_rolls_back_whole_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
