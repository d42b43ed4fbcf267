/*
 * Integration tests for ingest/import against a real PostgreSQL: all or
 * nothing, --skip-invalid, never twice, concurrent overlapping imports,
 * file formats, metadata, hold and approve, and a 100,000-row file.
 */
#include <pthread.h>
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
#include "ingest/import.h"
#include "queue/batch.h"
#include "tests/support/testdb.h"

struct fixture {
    struct testdb db;
    PGconn *conn;
    char dir[64];     /* temporary directory for the test's files */
    char *report;     /* what the import wrote for people */
    size_t report_len;
    FILE *report_out;
};

static int fx_setup(void **state)
{
    static struct fixture fx;

    log_init(2, LOG_LEVEL_ERROR);
    testdb_create_migrated(&fx.db);
    fx.conn = testdb_connect(&fx.db);
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/payq-import.XXXXXX");
    assert_non_null(mkdtemp(fx.dir));
    fx.report = NULL;
    fx.report_out = open_memstream(&fx.report, &fx.report_len);
    *state = &fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[128];

    fclose(fx->report_out);
    free(fx->report);
    PQfinish(fx->conn);
    testdb_drop(&fx->db);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* Writes len bytes to DIR/name and returns the path (static storage). */
static const char *write_file(struct fixture *fx, const char *name,
                              const char *text, size_t len)
{
    static char path[4][128];
    static int next;
    char *p = path[next++ % 4];
    FILE *f;

    snprintf(p, sizeof(path[0]), "%s/%s", fx->dir, name);
    f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    return p;
}

static const char *write_text(struct fixture *fx, const char *name,
                              const char *text)
{
    return write_file(fx, name, text, strlen(text));
}

static void opts_for(struct fixture *fx, struct ingest_options *o)
{
    ingest_options_init(o);
    o->report = fx->report_out;
    o->actor = "tester";
}

static const char *report_text(struct fixture *fx)
{
    fflush(fx->report_out);
    return fx->report != NULL ? fx->report : "";
}

static long long count(struct fixture *fx, const char *sql)
{
    return testdb_scalar(fx->conn, sql);
}

static const char PAY_OK[] =
    "reference,phone,amount,student,school\n"
    "R1,0788123456,1500,Alice,Green Hills\n"
    "R2,+250 722 123 456,\"2,500\",Bob,Green Hills\n"
    "R3,250791234567,1000.00,Chloe,Riviera\n";

static void import_creates_batch_and_jobs(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *path = write_text(fx, "fees.csv", PAY_OK);

    opts_for(fx, &o);
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
    assert_true(r.batch_id > 0);
    assert_int_equal(r.rows, 3);
    assert_int_equal(r.accepted, 3);
    assert_int_equal(r.duplicates, 0);
    assert_int_equal(r.rejected, 0);
    assert_int_equal(r.amount, 5000);
    assert_int_equal(count(fx, "select count(*) from jobs where state ="
                               " 'queued' and kind = 'pay'"),
                     3);
    assert_int_equal(count(fx, "select count(*) from jobs where reference"
                               " = 'R2' and phone = '250722123456' and"
                               " amount = 2500"),
                     1);
    assert_int_equal(count(fx, "select count(*) from jobs where"
                               " metadata = '{\"student\": \"Alice\","
                               " \"school\": \"Green Hills\"}'"),
                     1);
    assert_int_equal(count(fx, "select count(*) from batches where"
                               " rows_total = 3 and rows_accepted = 3 and"
                               " amount_total = 5000 and approved_by ="
                               " 'tester' and kind = 'pay' and"
                               " file_sha256 ~ '^[0-9a-f]{64}$'"),
                     1);
}

static void import_is_all_or_nothing(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *path = write_text(fx, "bad.csv",
                                  "reference,phone,amount\n"
                                  "A1,0788123456,1500\n"
                                  "A2,0748123456,1500\n"
                                  "A3,0788123456,15.50\n"
                                  "A4,0788123456,900\n");

    opts_for(fx, &o);
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r),
                     PAYQ_ERR_DATA);
    assert_int_equal(r.batch_id, 0);
    assert_int_equal(r.rejected, 2);
    assert_int_equal(count(fx, "select count(*) from jobs"), 0);
    assert_int_equal(count(fx, "select count(*) from batches"), 0);
    assert_non_null(strstr(report_text(fx), "bad.csv:3: phone: "));
    assert_non_null(strstr(report_text(fx), "(0748123456)\n"));
    assert_non_null(strstr(report_text(fx), "bad.csv:4: amount: has a "
                                            "fraction of a franc "
                                            "(15.50)\n"));
}

static void import_skip_invalid_records_rejects(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *path = write_text(fx, "mixed-quality.csv",
                                  "reference,phone,amount\n"
                                  "S1,0788123456,1500\n"
                                  "S2,0788123456,-5\n"
                                  "S3,0788123456,700,extra\n"
                                  "S1,0788123456,800\n"
                                  "S4,0788123456,900\n");

    opts_for(fx, &o);
    o.skip_invalid = true;
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
    assert_int_equal(r.accepted, 2);
    assert_int_equal(r.rejected, 3);
    assert_int_equal(r.amount, 2400);
    assert_int_equal(count(fx, "select count(*) from import_errors"), 3);
    assert_int_equal(count(fx, "select count(*) from import_errors where"
                               " line_no = 3 and column_name = 'amount'"
                               " and raw_text = 'S2,0788123456,-5'"),
                     1);
    assert_int_equal(count(fx, "select count(*) from import_errors where"
                               " line_no = 4 and raw_text ="
                               " 'S3,0788123456,700,extra'"),
                     1);
    assert_int_equal(count(fx, "select count(*) from import_errors where"
                               " line_no = 5 and reason = 'reference"
                               " repeats line 2'"),
                     1);
    /* The first occurrence of the repeated reference was kept. */
    assert_int_equal(count(fx, "select amount from jobs where reference"
                               " = 'S1'"),
                     1500);
    assert_int_equal(count(fx, "select rows_rejected from batches"), 3);
}

static void import_refuses_repeated_reference_in_file(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *first = write_text(fx, "first.csv",
                                   "reference,phone,amount\n"
                                   "OLD,0788123456,100\n");
    const char *path = write_text(fx, "repeat.csv",
                                  "reference,phone,amount\n"
                                  "Q1,0788123456,1500\n"
                                  "OLD,0788123456,100\n"
                                  "Q2,0788123456,700\n"
                                  " Q1 ,0788123456,800\n");

    opts_for(fx, &o);
    assert_int_equal(ingest_import_file(fx->conn, first, &o, &r), PAYQ_OK);
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r),
                     PAYQ_ERR_DATA);
    assert_int_equal(r.batch_id, 0);
    assert_non_null(strstr(report_text(fx), "repeat.csv:5: reference: "
                                            "reference repeats line 2 "
                                            "(Q1)\n"));
    /* Nothing of the file was kept: all or nothing. */
    assert_int_equal(count(fx, "select count(*) from jobs"), 1);
    assert_int_equal(count(fx, "select count(*) from batches"), 1);
}

static void import_refuses_same_file_twice(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *path = write_text(fx, "fees.csv", PAY_OK);
    long long first;

    opts_for(fx, &o);
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
    first = r.batch_id;
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r),
                     PAYQ_ERR_DATA);
    assert_int_equal(r.earlier_batch, first);
    assert_non_null(strstr(report_text(fx), "already imported as batch"));
    assert_int_equal(count(fx, "select count(*) from batches"), 1);

    /* Forced: a second batch, every reference a duplicate. */
    o.force = true;
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
    assert_int_equal(r.accepted, 0);
    assert_int_equal(r.duplicates, 3);
    assert_int_equal(count(fx, "select count(*) from jobs"), 3);
    assert_int_equal(count(fx, "select count(*) from batches where"
                               " forced"),
                     1);
}

static void import_skips_references_of_earlier_batches(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *a = write_text(fx, "a.csv", PAY_OK);
    const char *b = write_text(fx, "b.csv",
                               "reference,phone,amount\n"
                               "R3,0788123456,1000\n"
                               "R4,0788123456,4000\n");

    opts_for(fx, &o);
    o.verbose = true;
    assert_int_equal(ingest_import_file(fx->conn, a, &o, &r), PAYQ_OK);
    assert_int_equal(ingest_import_file(fx->conn, b, &o, &r), PAYQ_OK);
    assert_int_equal(r.accepted, 1);
    assert_int_equal(r.duplicates, 1);
    assert_int_equal(r.amount, 4000);
    assert_non_null(strstr(report_text(fx), "b.csv:2: reference: "
                                            "duplicate of batch"));
    assert_int_equal(count(fx, "select count(*) from jobs"), 4);
}

struct race {
    const struct testdb *db;
    const char *path;
    enum payq_err err;
    struct ingest_result res;
};

static void *race_import(void *arg)
{
    struct race *r = arg;
    PGconn *conn = PQconnectdb(r->db->conninfo);
    struct ingest_options o;

    ingest_options_init(&o);
    o.report = NULL;
    r->err = ingest_import_file(conn, r->path, &o, &r->res);
    PQfinish(conn);
    return NULL;
}

/* Writes rows first..last of a simple pay file. */
static const char *write_range(struct fixture *fx, const char *name,
                              int first, int last)
{
    static char path[2][128];
    static int next;
    char *p = path[next++ % 2];
    FILE *f;
    int i;

    snprintf(p, sizeof(path[0]), "%s/%s", fx->dir, name);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs("reference,phone,amount,term\n", f);
    for (i = first; i <= last; i++)
        fprintf(f, "REF-%07d,07%d%07d,%d,2026-T1\n", i, 8 + i % 2, i,
                1000 + i % 5000);
    fclose(f);
    return p;
}

static void import_overlapping_files_at_once(void **state)
{
    struct fixture *fx = *state;
    struct race races[2] = {
        { .db = &fx->db, .path = write_range(fx, "x.csv", 1, 20000) },
        { .db = &fx->db, .path = write_range(fx, "y.csv", 10001, 30000) },
    };
    pthread_t threads[2];
    int i;

    for (i = 0; i < 2; i++)
        assert_int_equal(
            pthread_create(&threads[i], NULL, race_import, &races[i]), 0);
    for (i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(races[i].err, PAYQ_OK);
    }
    /* One job per reference; the 10,000 shared ones counted once. */
    assert_int_equal(count(fx, "select count(*) from jobs"), 30000);
    assert_int_equal(races[0].res.accepted + races[1].res.accepted, 30000);
    assert_int_equal(races[0].res.duplicates + races[1].res.duplicates,
                     10000);
}

static void import_reads_spreadsheet_formats(void **state)
{
    struct fixture *fx = *state;
    static const char bom_crlf_semicolon[] =
        "\xEF\xBB\xBF" "Reference ; PHONE ;Amount;Parent\r\n"
        "F1;0788123456;\"1 500,00\";\"Uwase; Marie\"\r\n"
        "\r\n"
        "F2;0788123457;2500;\"Line one\r\nline two\"\r\n"
        ";;;\r\n"
        "F3;0788123458;700;Jean\r\n";
    struct ingest_options o;
    struct ingest_result r;
    const char *path = write_text(fx, "export.csv", bom_crlf_semicolon);

    opts_for(fx, &o);
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
    assert_int_equal(r.accepted, 3);
    assert_int_equal(r.amount, 1500 + 2500 + 700);
    assert_int_equal(count(fx, "select count(*) from jobs where"
                               " metadata->>'Parent' = 'Uwase; Marie'"),
                     1);
    assert_int_equal(count(fx, "select count(*) from jobs where"
                               " metadata->>'Parent' = e'Line one\\r\\n"
                               "line two'"),
                     1);
}

static void import_deposits_and_mixed_files(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *dep = write_text(fx, "payouts.csv",
                                 "reference,mobilephone,amount,"
                                 "withdrawcharge,reason,deposit_ref_name\n"
                                 "D1,0788123456,5000,100,Refund,Ange\n"
                                 "D2,0722123456,7000,,Bursary,Eric\n");
    const char *mixed = write_text(fx, "mixed.csv",
                                   "kind,reference,phone,amount,reason,"
                                   "name\n"
                                   "pay,M1,0788123456,1000,,\n"
                                   "DEPOSIT,M2,0788123456,2000,Refund,"
                                   "Ange\n");

    opts_for(fx, &o);
    o.kind = JOB_KIND_DEPOSIT;
    assert_int_equal(ingest_import_file(fx->conn, dep, &o, &r), PAYQ_OK);
    assert_int_equal(r.accepted, 2);
    assert_int_equal(count(fx, "select count(*) from jobs where kind ="
                               " 'deposit' and withdraw_charge = 100 and"
                               " reason = 'Refund' and depositor_name ="
                               " 'Ange'"),
                     1);
    o.kind = JOB_KIND_PAY;
    assert_int_equal(ingest_import_file(fx->conn, mixed, &o, &r), PAYQ_OK);
    assert_int_equal(r.accepted, 2);
    assert_int_equal(count(fx, "select count(*) from batches where kind"
                               " = 'mixed'"),
                     1);
    assert_int_equal(count(fx, "select count(*) from jobs where"
                               " reference = 'M2' and kind = 'deposit'"),
                     1);
}

static void import_refuses_bad_headers(void **state)
{
    static const char *const files[][2] = {
        { "", "no header row" },
        { "reference,amount\nR,1\n", "phone: required column is missing" },
        { "phone,amount,reference,Phone\n", "column appears twice" },
        { "phone,,amount,reference\n", "column has no name" },
    };
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    size_t i;

    opts_for(fx, &o);
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        const char *path = write_text(fx, "header.csv", files[i][0]);

        assert_int_equal(ingest_import_file(fx->conn, path, &o, &r),
                         PAYQ_ERR_DATA);
        assert_non_null(strstr(report_text(fx), files[i][1]));
    }
    o.kind = JOB_KIND_DEPOSIT;
    assert_int_equal(ingest_import_file(fx->conn,
                                        write_text(fx, "d.csv",
                                                   "phone,amount,reference"
                                                   "\n"),
                                        &o, &r),
                     PAYQ_ERR_DATA);
    assert_non_null(strstr(report_text(fx), "reason: required column"));
    assert_int_equal(count(fx, "select count(*) from batches"), 0);
}

static void import_dry_run_writes_nothing(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *path = write_text(fx, "fees.csv", PAY_OK);

    opts_for(fx, &o);
    o.dry_run = true;
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
    assert_int_equal(r.accepted, 3);
    assert_int_equal(r.batch_id, 0);
    assert_int_equal(count(fx, "select count(*) from batches"), 0);
    assert_int_equal(count(fx, "select count(*) from jobs"), 0);
    /* And the real import afterwards is not taken for a repeat. */
    o.dry_run = false;
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
}

static void import_hold_waits_for_approval(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    enum queue_batch_outcome outcome;
    const char *path = write_text(fx, "fees.csv", PAY_OK);
    PGconn *listener = testdb_connect(&fx->db);
    PGnotify *note;

    testdb_exec_ok(listener, "listen " QUEUE_NOTIFY_CHANNEL);
    opts_for(fx, &o);
    o.hold = true;
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
    assert_int_equal(count(fx, "select count(*) from batches where"
                               " approved_at is null"),
                     1);
    PQconsumeInput(listener);
    assert_null(PQnotifies(listener)); /* held: nobody woken */

    assert_int_equal(queue_batch_approve(fx->conn, r.batch_id, "boss",
                                         &outcome),
                     PAYQ_OK);
    assert_int_equal(outcome, QUEUE_BATCH_CHANGED);
    assert_int_equal(count(fx, "select count(*) from operator_actions"
                               " where action = 'approve' and actor ="
                               " 'boss'"),
                     1);
    testdb_exec_ok(listener, "select 1");
    note = PQnotifies(listener);
    assert_non_null(note);
    assert_string_equal(note->relname, QUEUE_NOTIFY_CHANNEL);
    PQfreemem(note);
    assert_int_equal(queue_batch_approve(fx->conn, r.batch_id, "boss",
                                         &outcome),
                     PAYQ_OK);
    assert_int_equal(outcome, QUEUE_BATCH_UNCHANGED);
    assert_int_equal(queue_batch_approve(fx->conn, 999, "boss", &outcome),
                     PAYQ_ERR_NOT_FOUND);
    PQfinish(listener);
}

static void import_shows_first_hundred_errors(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *path;
    char *text = malloc(200 * 40 + 64);
    size_t n;
    int i;

    assert_non_null(text);
    n = (size_t)snprintf(text, 64, "reference,phone,amount\n");
    for (i = 0; i < 150; i++)
        n += (size_t)snprintf(text + n, 40, "E%d,0788123456,zero\n", i);
    path = write_file(fx, "many.csv", text, n);
    free(text);
    opts_for(fx, &o);
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r),
                     PAYQ_ERR_DATA);
    assert_int_equal(r.rejected, 150);
    assert_non_null(strstr(report_text(fx), "many.csv:101: amount:"));
    assert_null(strstr(report_text(fx), "many.csv:102: amount:"));
    assert_non_null(strstr(report_text(fx), "50 more errors not shown"));
}

static void import_hundred_thousand_rows(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *path = write_range(fx, "big.csv", 1, 100000);

    opts_for(fx, &o);
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
    assert_int_equal(r.accepted, 100000);
    assert_int_equal(count(fx, "select count(*) from jobs"), 100000);
    assert_int_equal(count(fx, "select sum(amount) from jobs"), r.amount);
    assert_int_equal(count(fx, "select count(*) from jobs where"
                               " metadata->>'term' = '2026-T1'"),
                     100000);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(import_creates_batch_and_jobs),
        T(import_is_all_or_nothing),
        T(import_skip_invalid_records_rejects),
        T(import_refuses_repeated_reference_in_file),
        T(import_refuses_same_file_twice),
        T(import_skips_references_of_earlier_batches),
        T(import_overlapping_files_at_once),
        T(import_reads_spreadsheet_formats),
        T(import_deposits_and_mixed_files),
        T(import_refuses_bad_headers),
        T(import_dry_run_writes_nothing),
        T(import_hold_waits_for_approval),
        T(import_shows_first_hundred_errors),
        T(import_hundred_thousand_rows),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
