/* Integration tests for queue/status: exact figures from known rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "queue/status.h"
#include "tests/support/testdb.h"

struct fixture {
    struct testdb db;
    PGconn *conn;
};

static int db_setup(void **state)
{
    static struct fixture fx;

    log_init(2, LOG_LEVEL_ERROR);
    testdb_create_migrated(&fx.db);
    fx.conn = testdb_connect(&fx.db);
    *state = &fx;
    return 0;
}

static int db_teardown(void **state)
{
    struct fixture *fx = *state;

    PQfinish(fx->conn);
    testdb_drop(&fx->db);
    return 0;
}

static void status_of_empty_database(void **state)
{
    struct fixture *fx = *state;
    struct queue_status st;
    char *text = NULL;
    size_t len = 0;
    FILE *out;
    int k;
    int s;

    assert_int_equal(queue_status_read(fx->conn, &st), PAYQ_OK);
    for (k = 0; k < JOB_KIND_COUNT; k++)
        for (s = 0; s < JOB_STATE_COUNT; s++)
            assert_int_equal(st.jobs[k][s], 0);
    assert_int_equal(st.batches, 0);
    assert_int_equal(st.oldest_ready_s, -1);
    assert_int_equal(st.pause_count, 0);
    assert_int_equal(st.live_workers, 0);

    out = open_memstream(&text, &len);
    queue_status_write(&st, out);
    fclose(out);
    assert_non_null(strstr(text, "batches: 0 (0 held for approval, "
                                 "0 paused)\n"));
    assert_non_null(strstr(text, "oldest ready job: none\n"));
    assert_non_null(strstr(text, "pool: not paused\n"));
    assert_non_null(strstr(text, "workers: 0 live\n"));
    free(text);
}

/* Two batches: one approved, one held; jobs in several states. */
static void load_fixture(PGconn *conn)
{
    testdb_exec_ok(conn,
                   "insert into batches (file_name, file_size, file_sha256,"
                   " kind, approved_at, approved_by) values ('a.csv', 1,"
                   " repeat('a', 64), 'mixed', now(), 'op')");
    testdb_exec_ok(conn,
                   "insert into batches (file_name, file_size, file_sha256,"
                   " kind) values ('held.csv', 1, repeat('b', 64), 'pay')");
    testdb_exec_ok(conn,
                   "insert into jobs (batch_id, kind, phone, amount,"
                   " reference, run_at) select 1, 'pay', '250788000001',"
                   " 1000 * g, 'ready-' || g, now() - interval '90 seconds'"
                   " from generate_series(1, 3) g");
    testdb_exec_ok(conn, "insert into jobs (batch_id, kind, phone, amount,"
                         " reference, run_at) values (1, 'pay', '250788000002',"
                         " 500, 'later', now() + interval '1 hour')");
    testdb_exec_ok(conn, "insert into jobs (batch_id, kind, phone, amount,"
                         " reference, run_at) values (2, 'pay', '250788000003',"
                         " 700, 'held-1', now() - interval '1 day')");
    testdb_exec_ok(conn,
                   "insert into jobs (batch_id, kind, phone, amount,"
                   " reason, depositor_name, reference, state, finished_at)"
                   " values (1, 'deposit', '250721000004', 2500, 'refund',"
                   " 'School', 'dep-ok', 'succeeded', now())");
    testdb_exec_ok(conn,
                   "insert into workers (id, host, pid) values ('w1', 'h',"
                   " 10), ('w2', 'h', 11)");
    testdb_exec_ok(conn,
                   "insert into workers (id, host, pid, heartbeat_at) values"
                   " ('stale', 'h', 12, now() - interval '10 minutes')");
    testdb_exec_ok(conn,
                   "insert into pool_pauses (worker_id, scope, reason, code)"
                   " values ('w1', 'deposit',"
                   " 'float too low for the next payout', '1005')");
}

static void status_counts_jobs_batches_pauses_workers(void **state)
{
    struct fixture *fx = *state;
    struct queue_status st;

    load_fixture(fx->conn);
    assert_int_equal(queue_status_read(fx->conn, &st), PAYQ_OK);
    assert_int_equal(st.jobs[JOB_KIND_PAY][JOB_STATE_QUEUED], 5);
    assert_int_equal(st.amounts[JOB_KIND_PAY][JOB_STATE_QUEUED],
                     1000 + 2000 + 3000 + 500 + 700);
    assert_int_equal(st.jobs[JOB_KIND_DEPOSIT][JOB_STATE_SUCCEEDED], 1);
    assert_int_equal(st.amounts[JOB_KIND_DEPOSIT][JOB_STATE_SUCCEEDED], 2500);
    assert_int_equal(st.jobs[JOB_KIND_DEPOSIT][JOB_STATE_QUEUED], 0);
    assert_int_equal(st.batches, 2);
    assert_int_equal(st.batches_held, 1);
    assert_int_equal(st.batches_paused, 0);
    /* The held batch's day-old job and the future job are not ready. */
    assert_in_range(st.oldest_ready_s, 89, 150);
    assert_int_equal(st.pause_count, 1);
    assert_string_equal(st.pauses[0].scope, "deposit");
    assert_string_equal(st.pauses[0].reason,
                        "float too low for the next payout");
    assert_int_equal(st.live_workers, 2);
}

/* Finds the output row for state and reads its four figures. */
static void read_row(const char *text, const char *state, long long *v)
{
    char prefix[32];
    const char *row;

    snprintf(prefix, sizeof(prefix), "\n%s ", state);
    row = strstr(text, prefix);
    assert_non_null(row);
    assert_int_equal(sscanf(row + strlen(prefix), "%lld %lld %lld %lld", &v[0],
                            &v[1], &v[2], &v[3]),
                     4);
}

static void status_output_shows_figures(void **state)
{
    struct fixture *fx = *state;
    struct queue_status st;
    char *text = NULL;
    size_t len = 0;
    long long v[4];
    FILE *out;

    load_fixture(fx->conn);
    assert_int_equal(queue_status_read(fx->conn, &st), PAYQ_OK);
    out = open_memstream(&text, &len);
    queue_status_write(&st, out);
    fclose(out);

    read_row(text, "queued", v);
    assert_int_equal(v[0], 5);
    assert_int_equal(v[1], 7200);
    assert_int_equal(v[2], 0);
    read_row(text, "succeeded", v);
    assert_int_equal(v[2], 1);
    assert_int_equal(v[3], 2500);
    read_row(text, "total", v);
    assert_int_equal(v[0] + v[2], 6);
    assert_non_null(strstr(text, "batches: 2 (1 held for approval, "
                                 "0 paused)\n"));
    assert_non_null(strstr(text, "pool: deposit paused for "));
    assert_non_null(strstr(text, " s by 1 of 2 live workers: float too low"
                                 " for the next payout\n"));
    assert_null(strstr(text, "not sent:"));
    assert_non_null(strstr(text, "workers: 2 live\n"));
    free(text);
}

/*
 * Pauses belong to worker processes: only live ones count, several of
 * one scope show once with how many hold it, and a process that exits
 * takes its pauses with it.
 */
static void status_shows_pauses_of_live_workers_only(void **state)
{
    struct fixture *fx = *state;
    struct queue_status st;

    load_fixture(fx->conn);
    testdb_exec_ok(fx->conn,
                   "insert into workers (id, host, pid, stopping) values"
                   " ('leaving', 'h', 13, true)");
    testdb_exec_ok(fx->conn,
                   "insert into pool_pauses (worker_id, scope, reason,"
                   " since) values ('w2', 'deposit', 'later reason',"
                   " now()), ('stale', 'all', 'Unauthorized API access',"
                   " now()), ('leaving', 'pay', 'Invalid Password', now())");
    testdb_exec_ok(fx->conn, "update pool_pauses set since = now() -"
                             " interval '30 seconds' where worker_id = 'w1'");
    assert_int_equal(queue_status_read(fx->conn, &st), PAYQ_OK);
    assert_int_equal(st.pause_count, 1);
    assert_string_equal(st.pauses[0].scope, "deposit");
    assert_string_equal(st.pauses[0].reason,
                        "float too low for the next payout");
    assert_int_equal(st.pauses[0].workers, 2);
    assert_in_range(st.pauses[0].age_s, 29, 60);

    /* w1 exits: its pause goes with its row; w2's remains. */
    testdb_exec_ok(fx->conn, "delete from workers where id = 'w1'");
    assert_int_equal(queue_status_read(fx->conn, &st), PAYQ_OK);
    assert_int_equal(st.pause_count, 1);
    assert_string_equal(st.pauses[0].reason, "later reason");
    assert_int_equal(st.pauses[0].workers, 1);
    assert_int_equal(testdb_scalar(fx->conn, "select count(*) from"
                                             " pool_pauses"),
                     3);
}

/* Jobs whose last try never left payq are counted, with the longest run. */
static void status_counts_jobs_not_sent(void **state)
{
    struct fixture *fx = *state;
    struct queue_status st;
    char *text = NULL;
    size_t len = 0;
    FILE *out;

    load_fixture(fx->conn);
    testdb_exec_ok(fx->conn,
                   "insert into attempts (job_id, attempt_no, request_txn_id,"
                   " unsent_count) select id, 1, 'T-' || id || '-1',"
                   " id::int * 2 from jobs where reference like 'ready-%'");
    /* A closed attempt does not count, whatever it says. */
    testdb_exec_ok(fx->conn,
                   "insert into attempts (job_id, attempt_no, request_txn_id,"
                   " unsent_count, outcome) select id, 1, 'T-' || id || '-1',"
                   " 50, 'succeeded' from jobs where reference = 'dep-ok'");
    assert_int_equal(queue_status_read(fx->conn, &st), PAYQ_OK);
    assert_int_equal(st.unsent_jobs, 3);
    assert_int_equal(st.unsent_tries,
                     testdb_scalar(fx->conn, "select max(id) * 2 from"
                                             " jobs where reference"
                                             " like 'ready-%'"));
    out = open_memstream(&text, &len);
    queue_status_write(&st, out);
    fclose(out);
    assert_non_null(strstr(text, "not sent: 3 jobs could not reach the"
                                 " provider"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(status_of_empty_database, db_setup,
                                        db_teardown),
        cmocka_unit_test_setup_teardown(
            status_counts_jobs_batches_pauses_workers, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(status_output_shows_figures, db_setup,
                                        db_teardown),
        cmocka_unit_test_setup_teardown(
            status_shows_pauses_of_live_workers_only, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(status_counts_jobs_not_sent, db_setup,
                                        db_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
