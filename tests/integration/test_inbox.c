/*
 * Integration tests for ingest/inbox: complete files are imported once
 * and moved; bad ones are rejected with their problems; partial names and
 * unsettled files wait; a file left behind by a crash is not imported
 * twice; a database error leaves a file for a retry and never stops the
 * watch. The last tests run payq import --watch itself, and kill it.
 */
#include <setjmp.h>
#include <signal.h>
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
#include "ingest/inbox.h"
#include "tests/support/proc.h"
#include "tests/support/testdb.h"

struct fixture {
    struct testdb db;
    PGconn *conn;
    char dir[64];
    struct ingest_options opts;
};

static int fx_setup(void **state)
{
    static struct fixture fx;

    log_init(2, LOG_LEVEL_ERROR);
    testdb_create_migrated(&fx.db);
    fx.conn = testdb_connect(&fx.db);
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/payq-inbox.XXXXXX");
    assert_non_null(mkdtemp(fx.dir));
    ingest_options_init(&fx.opts);
    fx.opts.report = NULL;
    *state = &fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[160];

    PQfinish(fx->conn);
    testdb_drop(&fx->db);
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s.log", fx->dir, fx->dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void put(struct fixture *fx, const char *name, const char *text)
{
    char path[160];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static bool exists(struct fixture *fx, const char *rel)
{
    char path[160];

    snprintf(path, sizeof(path), "%s/%s", fx->dir, rel);
    return access(path, F_OK) == 0;
}

static char *slurp(struct fixture *fx, const char *rel)
{
    static char text[4096];
    char path[160];
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", fx->dir, rel);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static const char GOOD[] = "reference,phone,amount\n"
                           "I1,0788123456,1000\n"
                           "I2,0788123456,2000\n";

static void inbox_imports_and_moves_files(void **state)
{
    struct fixture *fx = *state;
    struct inbox *box = NULL;
    int imported = -1;

    assert_int_equal(inbox_create(fx->dir, &fx->opts, 0, &box), PAYQ_OK);
    put(fx, "good.csv", GOOD);
    put(fx, "bad.csv",
        "reference,phone,amount\nX1,12345,100\n"
        "X2,0788123456,abc\n");
    put(fx, ".hidden.csv", GOOD);
    put(fx, "upload.csv.part", GOOD);
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_int_equal(imported, 1);

    assert_true(exists(fx, "imported/good.csv"));
    assert_false(exists(fx, "good.csv"));
    assert_true(exists(fx, "rejected/bad.csv"));
    assert_non_null(strstr(slurp(fx, "rejected/bad.csv.errors"),
                           "bad.csv:2: phone: is not a"));
    assert_non_null(strstr(slurp(fx, "rejected/bad.csv.errors"),
                           "bad.csv:3: amount: is not a whole number"));
    /* Still being written: left alone. */
    assert_true(exists(fx, ".hidden.csv"));
    assert_true(exists(fx, "upload.csv.part"));
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from jobs"), 2);

    /* The same content dropped again is a repeat: rejected, not paid. */
    put(fx, "again.csv", GOOD);
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_int_equal(imported, 0);
    assert_true(exists(fx, "rejected/again.csv"));
    assert_non_null(strstr(slurp(fx, "rejected/again.csv.errors"),
                           "already imported as batch"));
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from jobs"), 2);
    inbox_destroy(box);
}

static void inbox_waits_for_files_to_settle(void **state)
{
    struct fixture *fx = *state;
    struct inbox *box = NULL;
    int imported = -1;

    assert_int_equal(inbox_create(fx->dir, &fx->opts, 2, &box), PAYQ_OK);
    put(fx, "slow.csv", GOOD);
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_int_equal(imported, 0);
    assert_true(exists(fx, "slow.csv"));
    sleep(3);
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_int_equal(imported, 1);
    assert_true(exists(fx, "imported/slow.csv"));
    inbox_destroy(box);
}

static void inbox_crash_before_move_is_not_imported_twice(void **state)
{
    struct fixture *fx = *state;
    struct ingest_result res;
    struct inbox *box = NULL;
    char path[160];
    int imported = -1;

    /* A previous run committed the import, then died before moving. */
    put(fx, "fees.csv", GOOD);
    snprintf(path, sizeof(path), "%s/fees.csv", fx->dir);
    assert_int_equal(ingest_import_file(fx->conn, path, &fx->opts, &res),
                     PAYQ_OK);
    assert_int_equal(inbox_create(fx->dir, &fx->opts, 0, &box), PAYQ_OK);
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_int_equal(imported, 0);
    assert_true(exists(fx, "imported/fees.csv"));
    assert_false(exists(fx, "rejected/fees.csv"));
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from"
                                             " batches"),
                     1);
    /* A same-named later file does not overwrite the first. */
    put(fx, "fees.csv", "reference,phone,amount\nI3,0788123456,5\n");
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_int_equal(imported, 1);
    assert_true(exists(fx, "imported/fees.csv.1"));
    inbox_destroy(box);
}

/* A file written under a partial name is taken once renamed into place. */
static void inbox_imports_a_file_renamed_into_place(void **state)
{
    struct fixture *fx = *state;
    struct inbox *box = NULL;
    char from[160];
    char to[160];
    int imported = -1;

    assert_int_equal(inbox_create(fx->dir, &fx->opts, 0, &box), PAYQ_OK);
    put(fx, "drop.csv.part", GOOD);
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_int_equal(imported, 0);
    assert_true(exists(fx, "drop.csv.part"));
    snprintf(from, sizeof(from), "%s/drop.csv.part", fx->dir);
    snprintf(to, sizeof(to), "%s/drop.csv", fx->dir);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_int_equal(imported, 1);
    assert_true(exists(fx, "imported/drop.csv"));
    assert_false(exists(fx, "drop.csv"));
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from jobs"), 2);
    inbox_destroy(box);
}

/*
 * A file the database refuses (a constraint the validators do not know,
 * here added for the test) is rejected with the reason, and the next
 * file is imported: one bad file never stops the inbox.
 */
static void inbox_rejects_what_the_database_refuses(void **state)
{
    struct fixture *fx = *state;
    struct inbox *box = NULL;
    int imported = -1;

    testdb_exec_ok(fx->conn, "alter table jobs add constraint"
                             " test_no_evil check (metadata->>'school'"
                             " is distinct from 'Evil')");
    assert_int_equal(inbox_create(fx->dir, &fx->opts, 0, &box), PAYQ_OK);
    put(fx, "a-evil.csv",
        "reference,phone,amount,school\n"
        "V1,0788123456,1000,Evil\n");
    put(fx, "b-good.csv", GOOD);
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_int_equal(imported, 1);
    assert_true(exists(fx, "rejected/a-evil.csv"));
    assert_non_null(strstr(slurp(fx, "rejected/a-evil.csv.errors"),
                           "the database refused the file"));
    assert_true(exists(fx, "imported/b-good.csv"));
    inbox_destroy(box);
}

/*
 * A database error that is not the file's fault (here a lock timeout)
 * leaves the file in the inbox, untouched, for a retry a second later.
 */
static void inbox_retries_after_a_database_error(void **state)
{
    struct fixture *fx = *state;
    PGconn *locker = testdb_connect(&fx->db);
    struct inbox *box = NULL;
    int imported = -1;

    testdb_exec_ok(fx->conn, "set lock_timeout = '200ms'");
    testdb_exec_ok(locker, "begin");
    testdb_exec_ok(locker, "lock table jobs in exclusive mode");
    assert_int_equal(inbox_create(fx->dir, &fx->opts, 0, &box), PAYQ_OK);
    put(fx, "fees.csv", GOOD);
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_int_equal(imported, 0);
    assert_true(exists(fx, "fees.csv"));
    assert_false(exists(fx, "rejected/fees.csv"));

    testdb_exec_ok(locker, "rollback");
    /* Not before its retry time... */
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_int_equal(imported, 0);
    /* ...and then once. */
    sleep(2);
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_int_equal(imported, 1);
    assert_true(exists(fx, "imported/fees.csv"));
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from jobs"), 2);
    inbox_destroy(box);
    PQfinish(locker);
}

/* The file a crash left behind is recognised whatever DIR's spelling. */
static void inbox_knows_its_files_under_any_spelling(void **state)
{
    struct fixture *fx = *state;
    struct ingest_result res;
    struct inbox *box = NULL;
    char path[160];
    char spelled[192];
    int imported = -1;

    assert_int_equal(inbox_create(fx->dir, &fx->opts, 0, &box), PAYQ_OK);
    inbox_destroy(box);
    put(fx, "fees.csv", GOOD);
    snprintf(path, sizeof(path), "%s/fees.csv", fx->dir);
    assert_int_equal(ingest_import_file(fx->conn, path, &fx->opts, &res),
                     PAYQ_OK);
    snprintf(spelled, sizeof(spelled), "%s//./imported/../", fx->dir);
    assert_int_equal(inbox_create(spelled, &fx->opts, 0, &box), PAYQ_OK);
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_true(exists(fx, "imported/fees.csv"));
    assert_false(exists(fx, "rejected/fees.csv"));
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from"
                                             " batches"),
                     1);
    inbox_destroy(box);
}

/* ---- payq import --watch --------------------------------------------- */

/* Starts payq import --watch DIR --settle 0; env adds settings. */
static int start_watch(struct fixture *fx, const char *extra_env)
{
    static char url[128];
    static char log[96];
    const char *env[] = { url, extra_env, NULL };
    const char *argv[] = { proc_payq_path(), "import", "--watch", fx->dir,
                           "--settle",       "0",      NULL };

    snprintf(url, sizeof(url), "DATABASE_URL=%s", fx->db.conninfo);
    snprintf(log, sizeof(log), "%s.log", fx->dir);
    return proc_start(argv, env, log);
}

/* Waits up to seconds for DIR/rel to exist. */
static bool wait_for(struct fixture *fx, const char *rel, int seconds)
{
    int i;

    for (i = 0; i < seconds * 20 && !exists(fx, rel); i++) {
        struct timespec t = { 0, 50 * 1000 * 1000 };

        nanosleep(&t, NULL);
    }
    return exists(fx, rel);
}

/*
 * The watcher survives what used to stop it: a file the database
 * refuses is rejected, and a file that meets a database error (a lock
 * held elsewhere) waits and is imported once the error is gone.
 */
static void inbox_watch_goes_on_after_errors(void **state)
{
    struct fixture *fx = *state;
    PGconn *locker = testdb_connect(&fx->db);
    int pid;

    testdb_exec_ok(fx->conn, "alter table jobs add constraint"
                             " test_no_evil check (metadata->>'school'"
                             " is distinct from 'Evil')");
    testdb_exec_ok(locker, "begin");
    testdb_exec_ok(locker, "lock table jobs in exclusive mode");
    pid = start_watch(fx, "PGOPTIONS=-c lock_timeout=200");
    put(fx, "evil.csv",
        "reference,phone,amount,school\n"
        "V1,0788123456,1000,Evil\n");
    put(fx, "good.csv", GOOD);
    sleep(2);
    assert_int_equal(kill(pid, 0), 0); /* still running */
    assert_true(exists(fx, "good.csv"));
    assert_false(exists(fx, "rejected/good.csv"));

    testdb_exec_ok(locker, "rollback");
    assert_true(wait_for(fx, "imported/good.csv", 20));
    assert_true(wait_for(fx, "rejected/evil.csv.errors", 20));
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(proc_wait(pid), 0);
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from jobs"), 2);
    PQfinish(locker);
}

/* Is an import of the watcher's busy copying or inserting rows? */
static bool import_in_flight(struct fixture *fx)
{
    return testdb_scalar(fx->conn,
                         "select count(*) from pg_stat_activity where"
                         " application_name = 'payq-import' and state ="
                         " 'active' and (query like 'copy import_staging%'"
                         " or query like 'with ins as%')") > 0;
}

/*
 * SIGKILL in the middle of a large file's import commits nothing and
 * leaves the file in place; the next watcher imports it exactly once.
 */
static void inbox_watch_killed_mid_import_imports_once(void **state)
{
    struct fixture *fx = *state;
    char path[160];
    FILE *f;
    int pid;
    int i;

    snprintf(path, sizeof(path), "%s/.big.csv", fx->dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("reference,phone,amount,term\n", f);
    for (i = 1; i <= 60000; i++)
        fprintf(f, "BIG-%07d,0788%06d,%d,2026-T1\n", i, i, 1000 + i % 7);
    fclose(f);

    pid = start_watch(fx, NULL);
    put(fx, "ready.txt", ""); /* watcher up once this is rejected */
    assert_true(wait_for(fx, "rejected/ready.txt", 20));
    snprintf(path, sizeof(path), "%s/.big.csv", fx->dir);
    {
        char to[160];

        snprintf(to, sizeof(to), "%s/big.csv", fx->dir);
        assert_int_equal(rename(path, to), 0);
    }
    for (i = 0; i < 400 && !import_in_flight(fx); i++) {
        struct timespec t = { 0, 25 * 1000 * 1000 };

        nanosleep(&t, NULL);
    }
    assert_true(import_in_flight(fx));
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(proc_wait(pid), 128 + SIGKILL);
    assert_true(exists(fx, "big.csv"));
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from jobs"), 0);

    pid = start_watch(fx, NULL);
    assert_true(wait_for(fx, "imported/big.csv", 60));
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(proc_wait(pid), 0);
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from"
                                             " batches"),
                     1);
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from jobs"),
                     60000);
    assert_false(exists(fx, "rejected/big.csv"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(inbox_imports_and_moves_files),
        T(inbox_waits_for_files_to_settle),
        T(inbox_crash_before_move_is_not_imported_twice),
        T(inbox_imports_a_file_renamed_into_place),
        T(inbox_rejects_what_the_database_refuses),
        T(inbox_retries_after_a_database_error),
        T(inbox_knows_its_files_under_any_spelling),
        T(inbox_watch_goes_on_after_errors),
        T(inbox_watch_killed_mid_import_imports_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
