/*
 * Integration tests for schema v1: the constraints make invalid payments
 * impossible to store, and every table is documented for finance users.
 * One migrated database serves the group; each test uses its own rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "tests/support/testdb.h"

#define CHECK_VIOLATION "23514"
#define UNIQUE_VIOLATION "23505"
#define NOT_NULL_VIOLATION "23502"
#define FOREIGN_KEY_VIOLATION "23503"

struct fixture {
    struct testdb db;
    PGconn *conn;
};

static int group_setup(void **state)
{
    static struct fixture fx;

    log_init(2, LOG_LEVEL_ERROR);
    testdb_create_migrated(&fx.db);
    fx.conn = testdb_connect(&fx.db);
    testdb_exec_ok(fx.conn,
                   "insert into batches (file_name, file_size, file_sha256,"
                   " kind, approved_at, approved_by) values ('fees.csv',"
                   " 100, repeat('ab', 32), 'mixed', now(), 'test')");
    *state = &fx;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *fx = *state;

    PQfinish(fx->conn);
    testdb_drop(&fx->db);
    return 0;
}

/* A pay job insert with the given amount, state and reference. */
static void pay_job_sql(char *sql, size_t size, const char *amount,
                        const char *state, const char *reference)
{
    snprintf(sql, size,
             "insert into jobs (batch_id, kind, phone, amount, reference,"
             " state, finished_at) values ((select max(id) from batches),"
             " 'pay', '250788123456', %s, '%s', '%s', now())",
             amount, reference, state);
}

static void schema_accepts_valid_jobs(void **state)
{
    struct fixture *fx = *state;
    char sql[512];

    pay_job_sql(sql, sizeof(sql), "1500", "queued", "ok-pay-1");
    testdb_exec_ok(fx->conn, sql);
    testdb_exec_ok(fx->conn,
                   "insert into jobs (batch_id, kind, phone, amount,"
                   " withdraw_charge, reason, depositor_name, reference,"
                   " metadata) values ((select max(id) from batches),"
                   " 'deposit', '250721234567', 9223372036854775807, 100,"
                   " 'bursary', 'Green Hills School', 'ok-dep-1',"
                   " '{\"school\": \"Green Hills\", \"term\": \"1\"}')");
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from jobs"
                                             " where reference like 'ok-%'"),
                     2);
}

static void schema_rejects_non_positive_amount(void **state)
{
    struct fixture *fx = *state;
    static const char *const amounts[] = { "0", "-1", "-1500" };
    char sql[512];
    size_t i;

    for (i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
        pay_job_sql(sql, sizeof(sql), amounts[i], "queued", "amt-bad");
        testdb_exec_fails(fx->conn, sql, CHECK_VIOLATION,
                          "jobs_amount_positive");
    }
    /* A fractional amount cannot even be stored: it is not an integer. */
    pay_job_sql(sql, sizeof(sql), "'1500.50'", "queued", "amt-frac");
    testdb_exec_fails(fx->conn, sql, "22P02", NULL);
    pay_job_sql(sql, sizeof(sql), "1", "queued", "amt-one");
    testdb_exec_ok(fx->conn, sql);
}

static void schema_rejects_unknown_state(void **state)
{
    struct fixture *fx = *state;
    char sql[512];

    pay_job_sql(sql, sizeof(sql), "1000", "done", "state-bad");
    testdb_exec_fails(fx->conn, sql, CHECK_VIOLATION, "jobs_state_valid");
    pay_job_sql(sql, sizeof(sql), "1000", "Succeeded", "state-case");
    testdb_exec_fails(fx->conn, sql, CHECK_VIOLATION, "jobs_state_valid");
    pay_job_sql(sql, sizeof(sql), "1000", "succeeded", "state-ok");
    testdb_exec_ok(fx->conn, sql);
}

static void schema_rejects_duplicate_reference(void **state)
{
    struct fixture *fx = *state;
    char sql[512];

    pay_job_sql(sql, sizeof(sql), "1000", "queued", "dup-ref");
    testdb_exec_ok(fx->conn, sql);
    testdb_exec_fails(fx->conn, sql, UNIQUE_VIOLATION, "jobs_reference_unique");
    /* Also from another batch: references are unique across batches. */
    testdb_exec_ok(fx->conn,
                   "insert into batches (file_name, file_size, file_sha256,"
                   " kind) values ('other.csv', 1, repeat('cd', 32), 'pay')");
    testdb_exec_fails(fx->conn, sql, UNIQUE_VIOLATION, "jobs_reference_unique");
}

static void schema_rejects_second_open_attempt(void **state)
{
    struct fixture *fx = *state;
    char sql[512];

    pay_job_sql(sql, sizeof(sql), "1000", "queued", "att-job");
    testdb_exec_ok(fx->conn, sql);
    testdb_exec_ok(fx->conn,
                   "insert into attempts (job_id, attempt_no, request_txn_id)"
                   " select id, 1, 'T-att-1' from jobs"
                   " where reference = 'att-job'");
    testdb_exec_fails(fx->conn,
                      "insert into attempts (job_id, attempt_no,"
                      " request_txn_id) select id, 2, 'T-att-2' from jobs"
                      " where reference = 'att-job'",
                      UNIQUE_VIOLATION, "attempts_one_live_per_job");
    /* Once the first attempt is definitively failed, a new one may open. */
    testdb_exec_ok(fx->conn, "update attempts set outcome = 'failed'"
                             " where request_txn_id = 'T-att-1'");
    testdb_exec_ok(fx->conn,
                   "insert into attempts (job_id, attempt_no, request_txn_id)"
                   " select id, 2, 'T-att-2' from jobs"
                   " where reference = 'att-job'");
    /* An attempt that may have moved money blocks any other. */
    testdb_exec_ok(fx->conn, "update attempts set outcome = 'unknown'"
                             " where request_txn_id = 'T-att-2'");
    testdb_exec_fails(fx->conn,
                      "insert into attempts (job_id, attempt_no,"
                      " request_txn_id) select id, 3, 'T-att-3' from jobs"
                      " where reference = 'att-job'",
                      UNIQUE_VIOLATION, "attempts_one_live_per_job");
    /* A transaction id is never reused, even by another job. */
    pay_job_sql(sql, sizeof(sql), "1000", "queued", "att-job-other");
    testdb_exec_ok(fx->conn, sql);
    testdb_exec_fails(fx->conn,
                      "insert into attempts (job_id, attempt_no,"
                      " request_txn_id) select id, 1, 'T-att-1' from jobs"
                      " where reference = 'att-job-other'",
                      UNIQUE_VIOLATION, "attempts_request_txn_id_unique");
}

/*
 * attempts.job_id references jobs (id), enforced by the triggers of
 * migrations/0004_hot_path.sql with a foreign key's guarantees and its
 * SQLSTATE and constraint name.
 */
static void schema_attempt_job_reference_is_enforced(void **state)
{
    static const char FK[] = "attempts_job_id_fkey";
    struct fixture *fx = *state;
    PGconn *other = testdb_connect(&fx->db);
    char sql[512];

    pay_job_sql(sql, sizeof(sql), "1000", "queued", "fk-job");
    testdb_exec_ok(fx->conn, sql);
    pay_job_sql(sql, sizeof(sql), "1000", "queued", "fk-bare");
    testdb_exec_ok(fx->conn, sql);
    /* An attempt needs an existing job, in one row or many. */
    testdb_exec_fails(fx->conn,
                      "insert into attempts (job_id, attempt_no,"
                      " request_txn_id) values (-1, 1, 'T-fk-0')",
                      FOREIGN_KEY_VIOLATION, FK);
    testdb_exec_fails(fx->conn,
                      "insert into attempts (job_id, attempt_no,"
                      " request_txn_id) select id, 1, 'T-fk-1' from jobs"
                      " where reference = 'fk-job' union all"
                      " select -1, 1, 'T-fk-2'",
                      FOREIGN_KEY_VIOLATION, FK);
    testdb_exec_ok(fx->conn, "insert into attempts (job_id, attempt_no,"
                             " request_txn_id) select id, 1, 'T-fk-1'"
                             " from jobs where reference = 'fk-job'");
    /* An attempt never moves; a job is never renumbered. */
    testdb_exec_fails(fx->conn,
                      "update attempts set job_id = (select id from jobs"
                      " where reference = 'fk-bare')"
                      " where request_txn_id = 'T-fk-1'",
                      FOREIGN_KEY_VIOLATION, FK);
    testdb_exec_fails(fx->conn,
                      "update jobs set id = default"
                      " where reference = 'fk-job'",
                      FOREIGN_KEY_VIOLATION, FK);
    /* A job with attempts stays; one without may go, at read committed. */
    testdb_exec_fails(fx->conn, "delete from jobs where reference = 'fk-job'",
                      FOREIGN_KEY_VIOLATION, FK);
    testdb_exec_ok(other, "begin isolation level repeatable read");
    testdb_exec_fails(other, "delete from jobs where reference = 'fk-bare'",
                      FOREIGN_KEY_VIOLATION, FK);
    testdb_exec_ok(other, "rollback");
    testdb_exec_ok(fx->conn, "delete from jobs where reference = 'fk-bare'");
    /* Truncating jobs is refused while attempts remain, not with them. */
    testdb_exec_ok(fx->conn, "begin");
    testdb_exec_fails(fx->conn, "truncate jobs cascade", FOREIGN_KEY_VIOLATION,
                      FK);
    testdb_exec_ok(fx->conn, "rollback");
    testdb_exec_ok(fx->conn, "begin");
    testdb_exec_ok(fx->conn, "truncate attempts, jobs cascade");
    testdb_exec_ok(fx->conn, "rollback");
    /* The new attempt's job is locked until its transaction ends. */
    testdb_exec_ok(other, "begin");
    testdb_exec_ok(other, "update attempts set outcome = 'failed'"
                          " where request_txn_id = 'T-fk-1'");
    testdb_exec_ok(other, "insert into attempts (job_id, attempt_no,"
                          " request_txn_id) select id, 2, 'T-fk-3'"
                          " from jobs where reference = 'fk-job'");
    testdb_exec_fails(fx->conn,
                      "select 1 from jobs where reference = 'fk-job'"
                      " for update nowait",
                      "55P03", NULL);
    testdb_exec_ok(other, "rollback");
    /* ... or by the update of the job that came with it, as a claim's. */
    testdb_exec_ok(other, "begin");
    testdb_exec_ok(other, "update jobs set run_at = run_at"
                          " where reference = 'fk-job'");
    testdb_exec_ok(other, "update attempts set outcome = 'failed'"
                          " where request_txn_id = 'T-fk-1'");
    testdb_exec_ok(other, "insert into attempts (job_id, attempt_no,"
                          " request_txn_id) select id, 2, 'T-fk-3'"
                          " from jobs where reference = 'fk-job'");
    testdb_exec_ok(fx->conn, "set lock_timeout = '200ms'");
    testdb_exec_fails(fx->conn, "delete from jobs where reference = 'fk-job'",
                      "55P03", NULL);
    testdb_exec_ok(fx->conn, "reset lock_timeout");
    testdb_exec_ok(other, "commit");
    testdb_exec_fails(fx->conn, "delete from jobs where reference = 'fk-job'",
                      FOREIGN_KEY_VIOLATION, FK);
    PQfinish(other);
}

static void schema_rejects_invalid_payment_rows(void **state)
{
    static const struct {
        const char *sql;
        const char *constraint;
    } cases[] = {
        { "insert into jobs (batch_id, kind, phone, amount, reference)"
          " values (1, 'pay', '0788123456', 10, 'bad-phone-1')",
          "jobs_phone_format" },
        { "insert into jobs (batch_id, kind, phone, amount, reference)"
          " values (1, 'pay', '250748123456', 10, 'bad-phone-2')",
          "jobs_phone_format" },
        { "insert into jobs (batch_id, kind, phone, amount, reference)"
          " values (1, 'payout', '250788123456', 10, 'bad-kind')",
          "jobs_kind_valid" },
        { "insert into jobs (batch_id, kind, phone, amount,"
          " withdraw_charge, reference) values (1, 'pay', '250788123456',"
          " 10, 5, 'bad-charge')",
          "jobs_withdraw_charge_deposit_only" },
        { "insert into jobs (batch_id, kind, phone, amount, depositor_name,"
          " reference) values (1, 'deposit', '250788123456', 10, 'A',"
          " 'bad-reason')",
          "jobs_deposit_reason_required" },
        { "insert into jobs (batch_id, kind, phone, amount, reference,"
          " state) values (1, 'pay', '250788123456', 10, 'bad-lease',"
          " 'running')",
          "jobs_running_has_lease" },
        { "insert into jobs (batch_id, kind, phone, amount, reference)"
          " values (1, 'pay', '250788123456', 10, repeat('r', 65))",
          "jobs_reference_length" },
        { "insert into jobs (batch_id, kind, phone, amount, reference,"
          " metadata) values (1, 'pay', '250788123456', 10, 'bad-meta',"
          " '[1]')",
          "jobs_metadata_object" },
        { "insert into batches (file_name, file_size, file_sha256, kind)"
          " values ('x.csv', 1, 'not-a-digest', 'pay')",
          "batches_file_sha256_format" },
    };
    struct fixture *fx = *state;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        testdb_exec_fails(fx->conn, cases[i].sql, CHECK_VIOLATION,
                          cases[i].constraint);
}

static void schema_documents_every_table(void **state)
{
    struct fixture *fx = *state;

    assert_int_equal(testdb_scalar(fx->conn,
                                   "select count(*) from pg_class c"
                                   " join pg_namespace n on n.oid ="
                                   " c.relnamespace where n.nspname ="
                                   " 'public' and c.relkind = 'r' and"
                                   " obj_description(c.oid, 'pg_class')"
                                   " is null"),
                     0);
    /* Every column of the tables finance reads has a comment. */
    assert_int_equal(testdb_scalar(fx->conn,
                                   "select count(*) from"
                                   " information_schema.columns c"
                                   " where c.table_schema = 'public'"
                                   " and c.table_name in ('batches',"
                                   " 'jobs', 'attempts', 'callbacks',"
                                   " 'import_errors', 'response_codes')"
                                   " and col_description(('public.' ||"
                                   " c.table_name)::regclass,"
                                   " c.ordinal_position) is null"),
                     0);
}

static void schema_holds_documented_response_codes(void **state)
{
    struct fixture *fx = *state;

    /* 22 documented codes, each classified for both kinds. */
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from"
                                             " response_codes"),
                     44);
    assert_int_equal(testdb_scalar(fx->conn,
                                   "select count(*) from response_codes"
                                   " where code = '1005' and ((kind ="
                                   " 'pay' and class = 'declined') or"
                                   " (kind = 'deposit' and class ="
                                   " 'systemic'))"),
                     2);
    assert_int_equal(testdb_scalar(fx->conn,
                                   "select count(*) from response_codes"
                                   " where code in ('1008', '1300',"
                                   " '2700') and class = 'ambiguous'"),
                     6);
}

static void schema_server_is_postgresql_15(void **state)
{
    struct fixture *fx = *state;

    /* The schema and its tests are written for one major version. */
    assert_int_equal(testdb_scalar(fx->conn,
                                   "select current_setting("
                                   "'server_version_num')::int / 10000"),
                     15);
}

/* How many indexes named name, on table, have the definition def. */
static long long index_count(PGconn *conn, const char *name, const char *def)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "select count(*) from pg_indexes where schemaname = 'public'"
             " and indexname = '%s' and indexdef = '%s'",
             name, def);
    return testdb_scalar(conn, sql);
}

static void schema_has_claim_and_lookup_indexes(void **state)
{
    static const char *const cases[][2] = {
        /* The claim path reads due queued jobs only, in order. */
        { "jobs_claim_idx", "CREATE INDEX jobs_claim_idx ON public.jobs"
                            " USING btree (run_at, id) WHERE (state ="
                            " ''queued''::text)" },
        { "jobs_reference_unique", "CREATE UNIQUE INDEX"
                                   " jobs_reference_unique ON public.jobs"
                                   " USING btree (reference)" },
        { "attempts_request_txn_id_unique",
          "CREATE UNIQUE INDEX attempts_request_txn_id_unique ON"
          " public.attempts USING btree (request_txn_id)" },
        /* Only answered attempts have a provider id to look up. */
        { "attempts_provider_txn_id_idx",
          "CREATE INDEX attempts_provider_txn_id_idx ON public.attempts"
          " USING btree (provider_txn_id) WHERE (provider_txn_id IS NOT"
          " NULL)" },
        { "callbacks_request_txn_id_idx",
          "CREATE INDEX callbacks_request_txn_id_idx ON public.callbacks"
          " USING btree (request_txn_id)" },
    };
    struct fixture *fx = *state;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (index_count(fx->conn, cases[i][0], cases[i][1]) != 1)
            fail_msg("index %s missing or changed", cases[i][0]);
}

/* Fails unless EXPLAIN of sql names index and scans no table whole. */
static void assert_plan_uses(PGconn *conn, const char *sql, const char *index)
{
    char explain[512];
    char plan[4096] = "";
    PGresult *res;
    int i;

    snprintf(explain, sizeof(explain), "explain %s", sql);
    res = PQexec(conn, explain);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    for (i = 0; i < PQntuples(res); i++) {
        size_t len = strlen(plan);

        snprintf(plan + len, sizeof(plan) - len, "%s\n", PQgetvalue(res, i, 0));
    }
    PQclear(res);
    if (strstr(plan, index) == NULL || strstr(plan, "Seq Scan") != NULL)
        fail_msg("%s\n  should use %s, but the plan is:\n%s", sql, index, plan);
}

/*
 * Enough rows, analysed, that a scan of a whole table costs more than an
 * index would: the planner then shows what the lookups really use.
 */
static void seed_lookup_rows(PGconn *conn)
{
    testdb_exec_ok(conn,
                   "insert into batches (file_name, file_size, file_sha256,"
                   " kind, approved_at, approved_by) values ('idx.csv', 1,"
                   " repeat('ef', 32), 'pay', now(), 'test')");
    testdb_exec_ok(conn, "insert into jobs (batch_id, kind, phone, amount,"
                         " reference) select (select max(id) from batches),"
                         " 'pay', '250788123456', 100, 'idx-' || g"
                         " from generate_series(1, 3000) g");
    testdb_exec_ok(conn, "insert into attempts (job_id, attempt_no,"
                         " request_txn_id, provider_txn_id) select id, 1,"
                         " 'IDX-' || id, 'P-' || id from jobs"
                         " where reference like 'idx-%'");
    testdb_exec_ok(conn,
                   "insert into callbacks (endpoint, body, request_txn_id,"
                   " effect) select 'pay', '\\x7b7d', request_txn_id,"
                   " 'unmatched' from attempts"
                   " where request_txn_id like 'IDX-%'");
    testdb_exec_ok(conn, "analyze jobs, attempts, callbacks");
}

static void schema_lookups_use_their_indexes(void **state)
{
    static const char *const cases[][2] = {
        /* payq show REFERENCE, duplicates at import. */
        { "select id from jobs where reference = 'idx-1500'",
          "jobs_reference_unique" },
        /* A callback finds its attempt by our transaction id. */
        { "select id, job_id from attempts"
          " where request_txn_id = 'IDX-1500'",
          "attempts_request_txn_id_unique" },
        /* ... also as payq_apply_callbacks() joins them, many at once. */
        { "select a.id from unnest(array['IDX-15', 'IDX-7']::text[])"
          " with ordinality as i(txn_id, ord)"
          " join attempts a on a.request_txn_id = i.txn_id",
          "attempts_request_txn_id_unique" },
        { "select id from attempts where provider_txn_id = 'P-1500'",
          "attempts_provider_txn_id_idx" },
        { "select id from callbacks where request_txn_id = 'IDX-1500'",
          "callbacks_request_txn_id_idx" },
    };
    struct fixture *fx = *state;
    size_t i;

    seed_lookup_rows(fx->conn);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_plan_uses(fx->conn, cases[i][0], cases[i][1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schema_accepts_valid_jobs),
        cmocka_unit_test(schema_rejects_non_positive_amount),
        cmocka_unit_test(schema_rejects_unknown_state),
        cmocka_unit_test(schema_rejects_duplicate_reference),
        cmocka_unit_test(schema_rejects_second_open_attempt),
        cmocka_unit_test(schema_attempt_job_reference_is_enforced),
        cmocka_unit_test(schema_rejects_invalid_payment_rows),
        cmocka_unit_test(schema_documents_every_table),
        cmocka_unit_test(schema_holds_documented_response_codes),
        cmocka_unit_test(schema_server_is_postgresql_15),
        cmocka_unit_test(schema_has_claim_and_lookup_indexes),
        cmocka_unit_test(schema_lookups_use_their_indexes),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
