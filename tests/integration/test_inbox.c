/*
 * Integration tests for ingest/inbox: complete files are imported once
 * and moved; bad ones are rejected with their problems; partial names and
 * unsettled files wait; a file left behind by a crash is not imported
 * twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "ingest/inbox.h"
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
    char cmd[128];

    PQfinish(fx->conn);
    testdb_drop(&fx->db);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
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
    put(fx, "bad.csv", "reference,phone,amount\nX1,12345,100\n"
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
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from jobs"),
                     2);

    /* The same content dropped again is a repeat: rejected, not paid. */
    put(fx, "again.csv", GOOD);
    assert_int_equal(inbox_scan(box, fx->conn, &imported), PAYQ_OK);
    assert_int_equal(imported, 0);
    assert_true(exists(fx, "rejected/again.csv"));
    assert_non_null(strstr(slurp(fx, "rejected/again.csv.errors"),
                           "already imported as batch"));
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from jobs"),
                     2);
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

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(inbox_imports_and_moves_files),
        T(inbox_waits_for_files_to_settle),
        T(inbox_crash_before_move_is_not_imported_twice),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
