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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "ingest/import.h"
#include "queue/batch.h"
#include "tests/support/proc.h"
#include "tests/support/testdb.h"

struct fixture {
    struct testdb db;
    PGconn *conn;
    char dir[64]; /* temporary directory for the test's files */
    char *report; /* what the import wrote for people */
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

#define X8 "xxxxxxxx"
#define X127 "xxxxxxx" X8 X8 X8 X8 X8 X8 X8 X8 X8 X8 X8 X8 X8 X8 X8

static const char PAY_OK[] = "reference,phone,amount,student,school\n"
                             "R1,0788123456,1500,Alice,Green Hills\n"
                             "R2,+250 722 123 456,\"2,500\",Bob,Green Hills\n"
                             "R3,250791234567,1000.00,Chloe,Riviera\n";

/*
 * A blank cell of an extra column is kept as "" in the metadata, so the
 * by-school report lists the payment (under an empty school and term)
 * and its totals add up to the file's.
 */
static void import_blank_extra_cells_stay_in_reports(void **state)
{
    static const char text[] = "reference,phone,amount,school,term\n"
                               "E-1,0725692401,1000,Lake View,2026-T1\n"
                               "E-2,0725692402,2000,,\n";
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *path = write_text(fx, "blank.csv", text);

    opts_for(fx, &o);
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
    assert_int_equal(r.accepted, 2);
    assert_int_equal(count(fx, "select count(*) from jobs where reference ="
                               " 'E-2' and metadata ="
                               " '{\"school\": \"\", \"term\": \"\"}'"),
                     1);
    assert_int_equal(count(fx, "select sum(amount) from report_by_school"),
                     3000);
    assert_int_equal(count(fx, "select amount from report_by_school"
                               " where school = '' and term = ''"),
                     2000);
}

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
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_ERR_DATA);
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
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_ERR_DATA);
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
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_ERR_DATA);
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
    pthread_barrier_t *start; /* both connected: go */
    enum payq_err err;
    struct ingest_result res;
    struct timespec began;
    struct timespec ended;
};

static void *race_import(void *arg)
{
    struct race *r = arg;
    PGconn *conn = PQconnectdb(r->db->conninfo);
    struct ingest_options o;

    ingest_options_init(&o);
    o.report = NULL;
    pthread_barrier_wait(r->start);
    clock_gettime(CLOCK_MONOTONIC, &r->began);
    r->err = ingest_import_file(conn, r->path, &o, &r->res);
    clock_gettime(CLOCK_MONOTONIC, &r->ended);
    PQfinish(conn);
    return NULL;
}

/* Writes rows from..to of a simple pay file, counting down if to < from. */
static const char *write_range(struct fixture *fx, const char *name, int from,
                               int to)
{
    static char path[2][128];
    static int next;
    char *p = path[next++ % 2];
    int step = to >= from ? 1 : -1;
    FILE *f;
    int i;

    snprintf(p, sizeof(path[0]), "%s/%s", fx->dir, name);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs("reference,phone,amount,term\n", f);
    for (i = from; i != to + step; i += step)
        fprintf(f, "REF-%07d,07%d%07d,%d,2026-T1\n", i, 8 + i % 2, i,
                1000 + i % 5000);
    fclose(f);
    return p;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec ||
           (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * Two files sharing 10,000 references, one in ascending order and one in
 * descending order (inserting in file order, each would come to wait for
 * a row the other holds: a deadlock), started together.
 */
static void import_overlapping_files_at_once(void **state)
{
    struct fixture *fx = *state;
    pthread_barrier_t start;
    struct race races[2] = {
        { .db = &fx->db,
          .path = write_range(fx, "x.csv", 1, 20000),
          .start = &start },
        { .db = &fx->db,
          .path = write_range(fx, "y.csv", 30000, 10001),
          .start = &start },
    };
    pthread_t threads[2];
    int i;

    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    for (i = 0; i < 2; i++)
        assert_int_equal(
            pthread_create(&threads[i], NULL, race_import, &races[i]), 0);
    for (i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(races[i].err, PAYQ_OK);
    }
    pthread_barrier_destroy(&start);
    /* They did run at the same time. */
    assert_true(before(&races[0].began, &races[1].ended));
    assert_true(before(&races[1].began, &races[0].ended));
    /* One job per reference; the 10,000 shared ones counted once. */
    assert_int_equal(count(fx, "select count(*) from jobs"), 30000);
    assert_int_equal(races[0].res.accepted + races[1].res.accepted, 30000);
    assert_int_equal(races[0].res.duplicates + races[1].res.duplicates, 10000);
    assert_int_equal(count(fx, "select sum(rows_accepted) from batches"),
                     30000);
}

static void import_reads_spreadsheet_formats(void **state)
{
    struct fixture *fx = *state;
    static const char bom_crlf_semicolon[] =
        "\xEF\xBB\xBF"
        "Reference ; PHONE ;Amount;Parent\r\n"
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
    /* An empty withdraw charge is 0. */
    assert_int_equal(count(fx, "select count(*) from jobs where reference"
                               " = 'D2' and withdraw_charge = 0 and"
                               " amount = 7000"),
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
    /* No batch id was spent on it, and no notification sent. */
    assert_int_equal(count(fx, "select coalesce(pg_sequence_last_value("
                               "pg_get_serial_sequence('batches', 'id')),"
                               " 0)"),
                     0);
    /* And the real import afterwards is not taken for a repeat. */
    o.dry_run = false;
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
    assert_int_equal(r.batch_id, 1);
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

    assert_int_equal(
        queue_batch_approve(fx->conn, r.batch_id, "boss", &outcome), PAYQ_OK);
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
    assert_int_equal(
        queue_batch_approve(fx->conn, r.batch_id, "boss", &outcome), PAYQ_OK);
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
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_ERR_DATA);
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

/* ---- problems found and reported ------------------------------------ */

/*
 * A header name is cut to 128 bytes before a character, never inside
 * one: the metadata key stays valid UTF-8 (a split one made the COPY
 * fail in the database).
 */
static void import_long_non_ascii_header_name(void **state)
{
    struct fixture *fx = *state;
    char text[1024];
    char sql[512];
    struct ingest_options o;
    struct ingest_result r;
    const char *path;

    snprintf(text, sizeof(text),
             "reference,phone,amount,%.63s\xc3\xa9,%.127s\xc3\xa9\n"
             "H1,0788123456,1000,short,long\n",
             X127, X127);
    path = write_text(fx, "header.csv", text);
    opts_for(fx, &o);
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
    assert_int_equal(r.accepted, 1);
    /* 65 bytes: kept whole; 129 bytes: cut to the 127 before the e. */
    snprintf(sql, sizeof(sql),
             "select count(*) from jobs where metadata ="
             " jsonb_build_object('%.63s\xc3\xa9', 'short', '%.127s',"
             " 'long')",
             X127, X127);
    assert_int_equal(count(fx, sql), 1);
}

/*
 * Every problem of a strict file is listed, a repeated reference with
 * the rest, in the order found: rows as read, then repeats.
 */
static void import_strict_lists_every_problem(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *path = write_text(fx, "bad.csv",
                                  "reference,phone,amount\n"
                                  "L1,0788123456,1000\n"
                                  "L2,0788123456,abc\n"
                                  "L1,0788123456,2000\n"
                                  "L3,0788123456,3000\n"
                                  "L3,0788123456,4000\n"
                                  "L1,0788123456,5000\n");

    char want[1024];

    snprintf(want, sizeof(want),
             "%s:3: amount: is not a whole number of francs (abc)\n"
             "%s:4: reference: reference repeats line 2 (L1)\n"
             "%s:6: reference: reference repeats line 5 (L3)\n"
             "%s:7: reference: reference repeats line 2 (L1)\n",
             path, path, path, path);
    opts_for(fx, &o);
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_ERR_DATA);
    assert_string_equal(report_text(fx), want);
    assert_int_equal(r.rejected, 4);
    assert_int_equal(count(fx, "select count(*) from batches"), 0);
}

/*
 * --skip-invalid: a row of bytes that are not UTF-8, escaped as \xNN
 * four times its size, is still recorded, its raw text cut within the
 * 64 KiB import_errors keeps; a field over 64 KiB is a row error, not
 * the end of the file: the valid rows around it are imported.
 */
static void import_skip_invalid_keeps_huge_rows_bounded(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *path;
    struct buf text;
    int i;

    buf_init(&text, 1024 * 1024);
    assert_int_equal(buf_append_str(&text, "reference,phone,amount,note\n"
                                           "K1,0788123456,1000,a\n"
                                           "K2,0788123456,1000,"),
                     PAYQ_OK);
    for (i = 0; i < 20000; i++)
        assert_int_equal(buf_append_byte(&text, (char)0xff), PAYQ_OK);
    assert_int_equal(buf_append_str(&text, "\nK3,0788123456,1000,\""), PAYQ_OK);
    for (i = 0; i < 70000; i++)
        assert_int_equal(buf_append_byte(&text, i % 80 ? 'y' : '\n'), PAYQ_OK);
    assert_int_equal(buf_append_str(&text, "\"\nK4,0788123456,1000,b\n"),
                     PAYQ_OK);
    path = write_file(fx, "huge.csv", text.data, text.len);
    buf_cleanup(&text);

    opts_for(fx, &o);
    o.skip_invalid = true;
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
    assert_int_equal(r.accepted, 2);
    assert_int_equal(r.rejected, 2);
    assert_int_equal(count(fx, "select count(*) from jobs where reference"
                               " in ('K1', 'K4')"),
                     2);
    assert_int_equal(count(fx, "select count(*) from import_errors where"
                               " line_no = 3 and reason = 'field longer"
                               " than 1024 bytes' and raw_text like"
                               " 'K2,0788123456,1000,\\xff\\xff%...'"
                               " escape '!' and"
                               " octet_length(raw_text) <= 65536 and"
                               " octet_length(raw_text) > 60000"),
                     1);
    assert_int_equal(count(fx, "select count(*) from import_errors where"
                               " line_no = 4 and reason = 'field longer"
                               " than 1024 bytes'"),
                     1);
    assert_non_null(strstr(report_text(fx), "huge.csv:3: note: field"
                                            " longer than 1024 bytes ()"));
}

/*
 * What the database itself refuses in a file is the file's problem
 * (exit 65, rejected by the inbox), not a failure of payq: here a check
 * added to the table stands for any constraint the validators miss.
 */
static void import_database_refusal_is_a_data_error(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *path = write_text(fx, "refused.csv",
                                  "reference,phone,amount,school\n"
                                  "Z1,0788123456,1000,Good\n"
                                  "Z2,0788123456,1000,Evil\n");

    testdb_exec_ok(fx->conn, "alter table jobs add constraint"
                             " test_no_evil check (metadata->>'school'"
                             " is distinct from 'Evil')");
    opts_for(fx, &o);
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_ERR_DATA);
    assert_non_null(strstr(report_text(fx),
                           "refused.csv: the database refused the file: "));
    assert_non_null(strstr(report_text(fx), "(SQLSTATE 23514)\n"));
    assert_int_equal(count(fx, "select count(*) from batches"), 0);
    /* The connection is usable for the next file. */
    assert_int_equal(
        ingest_import_file(fx->conn, write_text(fx, "ok.csv", PAY_OK), &o, &r),
        PAYQ_OK);
}

/* Invalid bytes in a shown value are escaped, never sent to a terminal. */
static void import_escapes_shown_values(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    const char *path = write_text(fx, "esc.csv",
                                  "reference,phone,amount\n"
                                  "E1,0788123456,\"1\x1b[2J\"\n"
                                  "E2,0788123456,caf\xc3\xa9\xc2\x9b\n"
                                  "E3,07881\xff,100\n");

    opts_for(fx, &o);
    o.skip_invalid = true;
    assert_int_equal(ingest_import_file(fx->conn, path, &o, &r), PAYQ_OK);
    assert_non_null(strstr(report_text(fx), "(1\\x1b[2J)\n"));
    assert_non_null(strstr(report_text(fx), "(caf\xc3\xa9\\xc2\\x9b)\n"));
    assert_non_null(strstr(report_text(fx), "esc.csv:4: phone: is not"
                                            " valid UTF-8 (07881\\xff)\n"));
    assert_null(strchr(report_text(fx), '\x1b'));
}

/* ---- the batch and the database ------------------------------------- */

/* Committing an approved batch wakes a LISTENing worker; a dry run not. */
static void import_notifies_on_commit(void **state)
{
    struct fixture *fx = *state;
    PGconn *listener = testdb_connect(&fx->db);
    struct ingest_options o;
    struct ingest_result r;
    char batch[24];
    PGnotify *note;

    testdb_exec_ok(listener, "listen " QUEUE_NOTIFY_CHANNEL);
    opts_for(fx, &o);
    o.dry_run = true;
    assert_int_equal(
        ingest_import_file(fx->conn, write_text(fx, "a.csv", PAY_OK), &o, &r),
        PAYQ_OK);
    testdb_exec_ok(listener, "select 1");
    assert_null(PQnotifies(listener));

    o.dry_run = false;
    assert_int_equal(
        ingest_import_file(fx->conn, write_text(fx, "a.csv", PAY_OK), &o, &r),
        PAYQ_OK);
    testdb_exec_ok(listener, "select 1");
    note = PQnotifies(listener);
    assert_non_null(note);
    assert_string_equal(note->relname, QUEUE_NOTIFY_CHANNEL);
    snprintf(batch, sizeof(batch), "%lld", r.batch_id);
    assert_string_equal(note->extra, batch);
    PQfreemem(note);
    assert_null(PQnotifies(listener));
    PQfinish(listener);
}

/*
 * jobs.batch_id references batches (id) through triggers, not a foreign
 * key (see migrations/0001_schema.sql): the same guarantees, each one
 * tried here.
 */
static void import_batch_reference_is_enforced(void **state)
{
    struct fixture *fx = *state;
    struct ingest_options o;
    struct ingest_result r;
    PGconn *other = testdb_connect(&fx->db);

    opts_for(fx, &o);
    assert_int_equal(
        ingest_import_file(fx->conn, write_text(fx, "a.csv", PAY_OK), &o, &r),
        PAYQ_OK);
    testdb_exec_ok(fx->conn, "insert into batches (file_name, file_size,"
                             " file_sha256, kind) values ('empty.csv', 0,"
                             " repeat('e', 64), 'pay')");
    /* A job needs an existing batch, in one row or many. */
    testdb_exec_fails(fx->conn,
                      "insert into jobs (batch_id, kind, phone, amount,"
                      " reference) values (99, 'pay', '250788123456', 1,"
                      " 'F1')",
                      "23503", "jobs_batch_id_fkey");
    testdb_exec_fails(fx->conn,
                      "insert into jobs (batch_id, kind, phone, amount,"
                      " reference) values (1, 'pay', '250788123456', 1,"
                      " 'F2'), (99, 'pay', '250788123456', 1, 'F3')",
                      "23503", "jobs_batch_id_fkey");
    testdb_exec_ok(fx->conn, "insert into jobs (batch_id, kind, phone,"
                             " amount, reference) values (1, 'pay',"
                             " '250788123456', 1, 'F4'), (2, 'pay',"
                             " '250788123456', 1, 'F5')");
    /* A job never moves; a batch is never renumbered. */
    testdb_exec_fails(fx->conn,
                      "update jobs set batch_id = 2"
                      " where reference = 'R1'",
                      "23503", "jobs_batch_id_fkey");
    testdb_exec_fails(fx->conn,
                      "update batches set id = default"
                      " where id = 1",
                      "23503", "jobs_batch_id_fkey");
    testdb_exec_ok(fx->conn, "update jobs set state = 'cancelled',"
                             " finished_at = now() where reference = 'F4'");
    /* A batch with jobs stays; one without may go, at read committed. */
    testdb_exec_fails(fx->conn, "delete from batches where id = 1", "23503",
                      "jobs_batch_id_fkey");
    testdb_exec_fails(fx->conn,
                      "truncate batches, import_errors,"
                      " operator_actions",
                      "23503", "jobs_batch_id_fkey");
    testdb_exec_ok(fx->conn, "delete from jobs where reference = 'F5'");
    testdb_exec_ok(other, "begin isolation level repeatable read");
    testdb_exec_fails(other, "delete from batches where id = 2", "23503",
                      "jobs_batch_id_fkey");
    testdb_exec_ok(other, "rollback");
    testdb_exec_ok(fx->conn, "delete from batches where id = 2");
    /* The new job's batch is locked until its transaction ends. */
    testdb_exec_ok(other, "begin");
    testdb_exec_ok(other, "insert into jobs (batch_id, kind, phone,"
                          " amount, reference) values (1, 'pay',"
                          " '250788123456', 1, 'F6')");
    testdb_exec_fails(fx->conn,
                      "select 1 from batches where id = 1"
                      " for update nowait",
                      "55P03", NULL);
    testdb_exec_ok(other, "rollback");
    PQfinish(other);
    /* The phone check: exactly twelve digits, MTN or Airtel. */
    testdb_exec_fails(fx->conn,
                      "insert into jobs (batch_id, kind, phone,"
                      " amount, reference) values (1, 'pay',"
                      " '25078812345 ', 1, 'P1')",
                      NULL, NULL);
    testdb_exec_fails(fx->conn,
                      "insert into jobs (batch_id, kind, phone,"
                      " amount, reference) values (1, 'pay',"
                      " '25078812345a', 1, 'P2')",
                      NULL, NULL);
    testdb_exec_fails(fx->conn,
                      "insert into jobs (batch_id, kind, phone,"
                      " amount, reference) values (1, 'pay',"
                      " '2507881234567', 1, 'P3')",
                      "23514", "jobs_phone_format");
    testdb_exec_fails(fx->conn,
                      "insert into jobs (batch_id, kind, phone,"
                      " amount, reference) values (1, 'pay',"
                      " '250768123456', 1, 'P4')",
                      "23514", "jobs_phone_format");
    testdb_exec_ok(fx->conn, "insert into jobs (batch_id, kind, phone,"
                             " amount, reference) values (1, 'pay',"
                             " '250738123456', 1, 'P5'), (1, 'pay',"
                             " '250799999999', 1, 'P6')");
}

/* ---- the command line ----------------------------------------------- */

/* Runs payq import with up to six arguments; env may add settings. */
static void cli(struct fixture *fx, struct proc_result *res,
                const char *const *env, const char *a1, const char *a2,
                const char *a3, const char *a4, const char *a5, const char *a6)
{
    char url[128];
    const char *all_env[8] = { url, NULL };
    const char *argv[] = {
        proc_payq_path(), "import", a1, a2, a3, a4, a5, a6, NULL
    };
    size_t i;

    snprintf(url, sizeof(url), "DATABASE_URL=%s", fx->db.conninfo);
    for (i = 0; env != NULL && env[i] != NULL && i + 2 < 8; i++)
        all_env[i + 1] = env[i];
    proc_run(argv, all_env, res);
}

static void expect_in(const struct buf *b, const char *needle)
{
    if (strstr(buf_str(b), needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, buf_str(b));
}

static void cli_import_skip_invalid_warns_and_exits_0(void **state)
{
    struct fixture *fx = *state;
    struct proc_result res;
    const char *path = write_text(fx, "some-bad.csv",
                                  "reference,phone,amount\n"
                                  "V1,0788123456,1000\n"
                                  "V2,0788123456,zero\n"
                                  "V3,12,1000\n");

    cli(fx, &res, NULL, "--skip-invalid", path, NULL, NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    expect_in(&res.out, "some-bad.csv: batch 1: 1 rows accepted, 0"
                        " duplicates skipped, 2 rejected, 1,000 RWF\n");
    expect_in(&res.err, "level=warn msg=\"invalid rows were skipped; see"
                        " import_errors\"");
    expect_in(&res.err, "rejected=2");
    expect_in(&res.err, "some-bad.csv:3: amount: is not a whole number");
    proc_result_cleanup(&res);
    assert_int_equal(count(fx, "select count(*) from import_errors"), 2);
}

static void cli_import_dry_run_prints_summary(void **state)
{
    struct fixture *fx = *state;
    struct proc_result res;
    const char *path = write_text(fx, "fees.csv", PAY_OK);

    cli(fx, &res, NULL, "--dry-run", path, NULL, NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    expect_in(&res.out, "fees.csv: dry run, nothing written: 3 rows valid,"
                        " 0 duplicates, 0 rejected, 5,000 RWF\n");
    proc_result_cleanup(&res);
    assert_int_equal(count(fx, "select count(*) from batches"), 0);
}

/*
 * --delimiter overrides detection: this header has more commas (in the
 * last name) than semicolons, so only ';' given reads it right.
 */
static void cli_import_delimiter_overrides_detection(void **state)
{
    struct fixture *fx = *state;
    struct proc_result res;
    const char *path = write_text(fx, "semi.csv",
                                  "reference;phone;amount;a,b,c,d\n"
                                  "S1;0788123456;\"1,500\";x,y\n");

    cli(fx, &res, NULL, path, NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 65);
    expect_in(&res.err, "required column is missing");
    proc_result_cleanup(&res);
    cli(fx, &res, NULL, "--delimiter", ";", path, NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    expect_in(&res.out, ": 1 rows accepted, 0 duplicates skipped, 0"
                        " rejected, 1,500 RWF\n");
    proc_result_cleanup(&res);
    assert_int_equal(count(fx, "select count(*) from jobs where"
                               " metadata->>'a,b,c,d' = 'x,y'"),
                     1);
    cli(fx, &res, NULL, "--delimiter", "|", path, NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 64);
    proc_result_cleanup(&res);
}

/* Several files in one run: one batch each, the worst status wins. */
static void cli_import_several_files(void **state)
{
    struct fixture *fx = *state;
    struct proc_result res;
    const char *a = write_text(fx, "a.csv", PAY_OK);
    const char *b = write_text(fx, "b.csv",
                               "reference,phone,amount\n"
                               "B1,0788123456,100\n"
                               "R1,0788123456,100\n");
    const char *bad = write_text(fx, "bad.csv",
                                 "reference,phone,amount\n"
                                 "X1,0788123456,0\n");
    const char *c = write_text(fx, "c.csv",
                               "reference,phone,amount\n"
                               "C1,0788123456,700\n");

    cli(fx, &res, NULL, "--verbose", a, b, bad, c, NULL);
    assert_int_equal(res.exit_code, 65);
    expect_in(&res.out, "a.csv: batch 1: 3 rows accepted, 0 duplicates"
                        " skipped, 0 rejected, 5,000 RWF\n");
    expect_in(&res.out, "b.csv: batch 2: 1 rows accepted, 1 duplicates"
                        " skipped, 0 rejected, 100 RWF\n");
    expect_in(&res.out, "c.csv: batch 4: 1 rows accepted, 0 duplicates"
                        " skipped, 0 rejected, 700 RWF\n");
    /* --verbose names each duplicate and the batch that has it. */
    expect_in(&res.err, "b.csv:3: reference: duplicate of batch 1,"
                        " skipped (R1)\n");
    expect_in(&res.err, "bad.csv:2: amount: must be positive (0)\n");
    proc_result_cleanup(&res);
    assert_int_equal(count(fx, "select count(*) from batches"), 3);
    assert_int_equal(count(fx, "select count(*) from jobs"), 5);
}

/* PAYQ_MIN_AMOUNT and PAYQ_MAX_AMOUNT bound amounts, both ends in. */
static void cli_import_amount_bounds_from_environment(void **state)
{
    struct fixture *fx = *state;
    const char *env[] = { "PAYQ_MIN_AMOUNT=1000", "PAYQ_MAX_AMOUNT=2000",
                          NULL };
    struct proc_result res;
    const char *path = write_text(fx, "bounds.csv",
                                  "reference,phone,amount\n"
                                  "M1,0788123456,999\n"
                                  "M2,0788123456,1000\n"
                                  "M3,0788123456,2000\n"
                                  "M4,0788123456,2001\n");

    cli(fx, &res, env, "--skip-invalid", path, NULL, NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    expect_in(&res.err, "bounds.csv:2: amount: is below the minimum (999)");
    expect_in(&res.err, "bounds.csv:5: amount: is above the maximum"
                        " (2001)");
    expect_in(&res.out, ": 2 rows accepted, 0 duplicates skipped, 2"
                        " rejected, 3,000 RWF\n");
    proc_result_cleanup(&res);
}

/* Off a terminal, a long import logs progress lines (here every 1 ms). */
static void cli_import_logs_progress(void **state)
{
    struct fixture *fx = *state;
    const char *env[] = { "PAYQ_IMPORT_PROGRESS_MS=1", NULL };
    const char *path = write_range(fx, "long.csv", 1, 30000);
    struct proc_result res;

    cli(fx, &res, env, path, NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    expect_in(&res.err, "level=info msg=\"import progress\" file=");
    expect_in(&res.err, " percent=");
    expect_in(&res.err, " rows_per_s=");
    expect_in(&res.err, " eta_s=");
    proc_result_cleanup(&res);

    /* At the default interval, a short import logs none. */
    cli(fx, &res, NULL, write_text(fx, "short.csv", PAY_OK), NULL, NULL, NULL,
        NULL, NULL);
    assert_int_equal(res.exit_code, 0);
    assert_null(strstr(buf_str(&res.err), "import progress"));
    proc_result_cleanup(&res);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(import_creates_batch_and_jobs),
        T(import_blank_extra_cells_stay_in_reports),
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
        T(import_long_non_ascii_header_name),
        T(import_strict_lists_every_problem),
        T(import_skip_invalid_keeps_huge_rows_bounded),
        T(import_database_refusal_is_a_data_error),
        T(import_escapes_shown_values),
        T(import_notifies_on_commit),
        T(import_batch_reference_is_enforced),
        T(cli_import_skip_invalid_warns_and_exits_0),
        T(cli_import_dry_run_prints_summary),
        T(cli_import_delimiter_overrides_detection),
        T(cli_import_several_files),
        T(cli_import_amount_bounds_from_environment),
        T(cli_import_logs_progress),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
