/*
 * Recovery of `payq work`: a process killed in the middle of a batch, or
 * after its requests were answered but before their outcomes were
 * written, two processes draining one queue, and PostgreSQL restarting
 * under a running pool. Each ends with the simulator's ledger: no id
 * executed twice.
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
#include <curl/curl.h>

#include "tests/support/pgdir.h"
#include "tests/support/proc.h"
#include "tests/support/testdb.h"
#include "tests/support/work.h"

struct fixture {
    struct testdb db;
    PGconn *conn;
    struct testsim sim;
    struct testwork work[2];
};

static int fx_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    testdb_create_migrated(&fx->db);
    fx->conn = testdb_connect(&fx->db);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *fx = *state;

    testwork_cleanup(&fx->work[0]);
    testwork_cleanup(&fx->work[1]);
    testsim_stop(&fx->sim);
    testsim_cleanup(&fx->sim);
    PQfinish(fx->conn);
    testdb_drop(&fx->db);
    free(fx);
    return 0;
}

static long long scalar(PGconn *conn, const char *sql)
{
    return testdb_scalar(conn, sql);
}

static void expect_within(PGconn *conn, const struct testwork *w,
                          const char *sql, int ms)
{
    if (!testwork_wait_sql(conn, sql, ms)) {
        testwork_dump_log(w);
        fail_msg("not within %d ms: %s", ms, sql);
    }
}

static const char DRAINED[] =
    "select count(*) = 0 from jobs where state in ('queued', 'running')";

/* Every job paid at most once, by the simulator's own ledger. */
static long long paid_once(struct fixture *fx, PGconn *conn)
{
    testwork_ledger_load(&fx->sim, conn);
    return testwork_assert_paid_at_most_once(conn);
}

/*
 * SIGKILL in the middle of a batch, with requests in flight, then a new
 * process once the leases expire: every job ends final or unknown, what
 * the dead process had in flight is probed with the same id (2400: it
 * arrived), and no job is paid twice.
 */
static void work_sigkill_then_restart_pays_each_job_once(void **state)
{
    static const char *const sim_args[] = { "--latency-ms", "150-300",
                                            "--drop-after-execute", "5", NULL };
    static const char *const args[] = { "--callback-timeout", "2s", NULL };
    struct fixture *fx = *state;
    long long running;
    long long in_flight;

    testwork_seed(fx->conn, "deposit", 60, 1000);
    testsim_start(&fx->sim, sim_args);
    testwork_start(&fx->work[0], fx->db.conninfo, &fx->sim, args, NULL);
    expect_within(fx->conn, &fx->work[0],
                  "select count(*) >= 12 from jobs"
                  " where state = 'succeeded'",
                  30000);
    assert_int_equal(testwork_signal(&fx->work[0], SIGKILL), 128 + SIGKILL);
    running = scalar(fx->conn, "select count(*) from jobs"
                               " where state = 'running'");
    assert_true(running > 0);
    /* Requests it had in flight reach the provider all the same. */
    sleep(1);
    testwork_ledger_load(&fx->sim, fx->conn);
    in_flight = scalar(fx->conn, "select count(*) from attempts a join"
                                 " sim_ledger l on l.txn = a.request_txn_id"
                                 " join jobs j on j.id = a.job_id where"
                                 " l.executed > 0 and a.send_count = 0 and"
                                 " j.state = 'running'");
    print_message("killed with %lld jobs claimed, %lld of them executed"
                  " and never recorded\n",
                  running, in_flight);
    assert_true(in_flight > 0);

    /* Time passes: the leases expire. */
    testdb_exec_ok(fx->conn, "update jobs set lease_expires_at = now() -"
                             " interval '1 second' where state = 'running'");
    testwork_start(&fx->work[1], fx->db.conninfo, &fx->sim, args, NULL);
    expect_within(fx->conn, &fx->work[1],
                  "select count(*) = 60 from jobs where state in"
                  " ('succeeded', 'failed', 'unknown')",
                  60000);
    assert_true(testwork_log_count(&fx->work[1], "took back jobs") >= 1);
    assert_int_equal(scalar(fx->conn, "select count(*) from jobs"
                                      " where state = 'failed'"),
                     0);
    /* Those in flight were probed under the same id, which had arrived. */
    testwork_ledger_load(&fx->sim, fx->conn);
    assert_true(scalar(fx->conn, "select count(*) from attempts a join"
                                 " sim_ledger l on l.txn = a.request_txn_id"
                                 " where l.executed > 0 and"
                                 " a.response_code = '2400' and"
                                 " a.request_txn_id = 'T-' || a.job_id ||"
                                 " '-1'") >= in_flight);
    assert_int_equal(paid_once(fx, fx->conn),
                     scalar(fx->conn, "select count(*) from jobs where"
                                      " state = 'succeeded' or (state ="
                                      " 'unknown' and last_code = '2400')"));
}

/*
 * Outcomes are written after their requests, many per statement, by the
 * pool's recorders: a process killed once its requests were answered but
 * before their outcomes were written (here a session holds the jobs'
 * rows, so no write can go through) leaves its jobs running under their
 * leases, attempts open. The next process probes each with the same id
 * once the leases expire (2400: it arrived); no new id, none paid twice.
 */
static void work_unwritten_outcomes_are_probed_after_a_crash(void **state)
{
    static const char *const sim_args[] = { "--latency-ms", "800-800", NULL };
    static const char *const args[] = { "--workers", "6", NULL };
    struct fixture *fx = *state;
    PGconn *holder = testdb_connect(&fx->db);
    struct testwork_ledger l;

    testwork_seed(fx->conn, "deposit", 6, 1000);
    testsim_start(&fx->sim, sim_args);
    testwork_start(&fx->work[0], fx->db.conninfo, &fx->sim, args, NULL);
    expect_within(fx->conn, &fx->work[0],
                  "select count(*) = 6 from jobs where state = 'running'",
                  10000);
    testdb_exec_ok(holder, "begin");
    testdb_exec_ok(holder, "select id from jobs for share");
    testwork_wait_ledger(&fx->sim, &fx->work[0], TESTWORK_EXECUTED, 6);
    /* The answers are with the recorders, which wait for the rows. */
    nanosleep(&(struct timespec){ 0, 300000000L }, NULL);
    assert_int_equal(testwork_signal(&fx->work[0], SIGKILL), 128 + SIGKILL);
    /* As after a power loss: its statements die with it, unfinished. */
    testdb_exec_ok(fx->conn, "select pg_terminate_backend(pid) from"
                             " pg_stat_activity where datname ="
                             " current_database() and application_name"
                             " like 'payq-%'");
    expect_within(fx->conn, &fx->work[0],
                  "select count(*) = 0 from pg_stat_activity where"
                  " datname = current_database() and application_name"
                  " like 'payq-%'",
                  5000);
    testdb_exec_ok(holder, "rollback");
    PQfinish(holder);
    assert_int_equal(scalar(fx->conn, "select count(*) from jobs j join"
                                      " attempts a on a.job_id = j.id where"
                                      " j.state = 'running' and a.outcome ="
                                      " 'open' and a.send_count = 0"),
                     6);

    /* Time passes: the leases expire; a new process takes over. */
    testdb_exec_ok(fx->conn, "update jobs set lease_expires_at = now() -"
                             " interval '1 second'");
    testwork_start(&fx->work[1], fx->db.conninfo, &fx->sim, NULL, NULL);
    expect_within(fx->conn, &fx->work[1],
                  "select count(*) = 6 from jobs where state = 'pending'",
                  20000);
    assert_int_equal(scalar(fx->conn, "select count(*) from attempts where"
                                      " request_txn_id = 'T-' || job_id ||"
                                      " '-1' and response_code = '2400'"
                                      " and send_count = 1"),
                     6);
    assert_int_equal(scalar(fx->conn, "select count(*) from attempts"), 6);
    testwork_ledger(&fx->sim, &l);
    assert_int_equal(l.executed, 6);
    assert_int_equal(l.max_executed, 1);
    assert_int_equal(paid_once(fx, fx->conn), 6);
}

/* The outcome count of a stopped process's last line. */
static long long outcomes_of(const struct testwork *w)
{
    FILE *log = fopen(w->log_path, "r");
    char line[2048];
    long long n = -1;

    assert_non_null(log);
    while (fgets(line, sizeof(line), log) != NULL) {
        const char *p = strstr(line, "worker pool stopped");

        if (p != NULL && (p = strstr(p, "outcomes=")) != NULL)
            n = strtoll(p + 9, NULL, 10);
    }
    fclose(log);
    return n;
}

/* Two processes on one database: the work is shared, never doubled. */
static void work_two_processes_share_one_queue(void **state)
{
    static const char *const sim_args[] = { "--latency-ms", "5-20", NULL };
    static const char *const args[] = { "--workers", "3", NULL };
    struct fixture *fx = *state;
    struct testwork_ledger l;

    testwork_seed(fx->conn, "deposit", 300, 1000);
    testsim_start(&fx->sim, sim_args);
    testwork_start(&fx->work[0], fx->db.conninfo, &fx->sim, args, NULL);
    testwork_start(&fx->work[1], fx->db.conninfo, &fx->sim, args, NULL);
    expect_within(fx->conn, &fx->work[0], DRAINED, 60000);
    assert_int_equal(scalar(fx->conn, "select count(*) from workers"), 2);
    assert_int_equal(testwork_signal(&fx->work[0], SIGTERM), 0);
    assert_int_equal(testwork_signal(&fx->work[1], SIGTERM), 0);
    assert_int_equal(scalar(fx->conn, "select count(*) from jobs"
                                      " where state = 'succeeded'"),
                     300);
    assert_int_equal(scalar(fx->conn, "select count(*) from attempts"), 300);
    assert_true(outcomes_of(&fx->work[0]) > 0);
    assert_true(outcomes_of(&fx->work[1]) > 0);
    assert_int_equal(outcomes_of(&fx->work[0]) + outcomes_of(&fx->work[1]),
                     300);
    testwork_ledger(&fx->sim, &l);
    assert_int_equal(l.transactions, 300);
    assert_int_equal(l.executed, 300);
    assert_int_equal(l.max_executed, 1);
    assert_int_equal(paid_once(fx, fx->conn), 300);
}

/*
 * PostgreSQL restarts under a running pool: requests in flight finish
 * while it is down, their results are written when it returns (not sent
 * again), and the batch finishes without the process exiting. The outage
 * is one warning for the whole process, not one per thread, and no error.
 */
static void work_survives_postgres_restart(void **state)
{
    static const char *const sim_args[] = { "--latency-ms", "1000-1500", NULL };
    static const char *const args[] = { "--claim", "1", "--lease", "16s",
                                        NULL };
    static const char *const env[] = { "PAYQ_TIMEOUT_MS=3000", NULL };
    struct fixture *fx = *state;
    struct testpg pg;
    struct testwork_ledger before;
    struct testwork_ledger during;
    PGconn *conn;

    testpg_start_fresh(&pg);
    testpg_migrate(&pg);
    conn = PQconnectdb(pg.url);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    testwork_seed(conn, "deposit", 24, 1000);
    testsim_start(&fx->sim, sim_args);
    testwork_start(&fx->work[0], pg.url, &fx->sim, args, env);
    expect_within(conn, &fx->work[0],
                  "select count(*) >= 4 from jobs"
                  " where state = 'succeeded'",
                  30000);
    testpg_ctl(&pg, "stop");
    testwork_ledger(&fx->sim, &before);
    sleep(2);
    testwork_ledger(&fx->sim, &during);
    print_message("executed while the database was down: %d\n",
                  during.executed - before.executed);
    assert_true(during.executed > before.executed);
    testpg_ctl(&pg, "start");
    PQreset(conn);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    expect_within(conn, &fx->work[0],
                  "select count(*) = 24 from jobs"
                  " where state = 'succeeded'",
                  60000);
    assert_int_equal(kill(fx->work[0].pid, 0), 0); /* never exited */
    /* Written when it came back, never sent a second time. */
    assert_int_equal(scalar(conn, "select count(*) from attempts where"
                                  " send_count = 1 and outcome ="
                                  " 'succeeded'"),
                     24);
    assert_int_equal(
        testwork_log_count(&fx->work[0], "database connection back"), 1);
    assert_int_equal(testwork_log_count(&fx->work[0], "level=warn"), 1);
    assert_int_equal(testwork_log_count2(&fx->work[0], "level=warn",
                                         "cannot connect to the database"),
                     1);
    assert_int_equal(testwork_log_count(&fx->work[0], "level=error"), 0);
    assert_int_equal(testwork_signal(&fx->work[0], SIGTERM), 0);
    assert_int_equal(paid_once(fx, conn), 24);
    PQfinish(conn);
    testpg_remove(&pg);
}

/*
 * The database is down when payq work starts (a host booting): it waits
 * with backoff instead of exiting, says so once, and starts working
 * when the database comes.
 */
static void work_waits_for_database_at_start(void **state)
{
    struct fixture *fx = *state;
    struct testpg pg;
    PGconn *conn;

    testpg_start_fresh(&pg);
    testpg_migrate(&pg);
    conn = PQconnectdb(pg.url);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    testwork_seed(conn, "deposit", 3, 1000);
    PQfinish(conn);
    testpg_ctl(&pg, "stop");
    testsim_start(&fx->sim, NULL);
    testwork_start(&fx->work[0], pg.url, &fx->sim, NULL, NULL);
    sleep(3);
    assert_int_equal(kill(fx->work[0].pid, 0), 0); /* still waiting */
    assert_int_equal(testwork_log_count(&fx->work[0], "waiting for the"
                                                      " database"),
                     1);
    assert_int_equal(testwork_log_count(&fx->work[0], "level=warn"), 1);
    assert_int_equal(testwork_log_count(&fx->work[0], "worker pool ready"), 0);

    testpg_ctl(&pg, "start");
    conn = PQconnectdb(pg.url);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    expect_within(conn, &fx->work[0],
                  "select count(*) = 3 from jobs"
                  " where state = 'succeeded'",
                  40000);
    assert_int_equal(testwork_log_count(&fx->work[0], "database reachable"), 1);
    assert_int_equal(testwork_signal(&fx->work[0], SIGTERM), 0);
    PQfinish(conn);
    testpg_remove(&pg);
}

/* A SIGTERM while it waits for the database is a clean stop. */
static void work_stops_while_waiting_for_database(void **state)
{
    static const char *const env[] = {
        "DATABASE_URL=host=/nonexistent/payq-test dbname=none", NULL
    };
    struct fixture *fx = *state;

    testsim_start(&fx->sim, NULL);
    testwork_start(&fx->work[0], "host=/nonexistent/payq-test dbname=none",
                   &fx->sim, NULL, env);
    sleep(2);
    assert_int_equal(kill(fx->work[0].pid, 0), 0);
    assert_int_equal(testwork_signal(&fx->work[0], SIGTERM), 0);
    assert_int_equal(testwork_log_count(&fx->work[0], "stopped while"
                                                      " waiting"),
                     1);
}

/*
 * The database refuses every write for a while, as a read-only server
 * after a failover does (here a trigger raises its SQLSTATE, 25006, for
 * every outcome): the recorder waits and tries again for as long as it
 * lasts, rather than give up job after job, which would let their
 * leases expire and cost each a probe.
 */
static void work_outcomes_refused_for_a_while_are_written_later(void **state)
{
    /* A lease that outlasts the refusal: only the recorder is tested. */
    static const char *const args[] = { "--lease", "40s", NULL };
    struct fixture *fx = *state;
    long long refused;

    testwork_seed(fx->conn, "deposit", 20, 1000);
    testdb_exec_ok(fx->conn, "create function refuse_outcomes() returns trigger"
                             " language plpgsql as $$ begin"
                             " if new.state <> 'running' then"
                             " raise exception 'read-only for the test' using"
                             " errcode = 'read_only_sql_transaction'; end if;"
                             " return new; end $$");
    testdb_exec_ok(fx->conn, "create trigger refuse_outcomes before update"
                             " on jobs for each row when (old.state ="
                             " 'running') execute function"
                             " refuse_outcomes()");
    testsim_start(&fx->sim, NULL);
    testwork_start(&fx->work[0], fx->db.conninfo, &fx->sim, args, NULL);
    testwork_wait_ledger(&fx->sim, &fx->work[0], TESTWORK_EXECUTED, 20);
    /* Longer than the tries one job would get: 5, a second apart. */
    sleep(12);
    testdb_exec_ok(fx->conn, "drop trigger refuse_outcomes on jobs");
    expect_within(fx->conn, &fx->work[0],
                  "select count(*) = 20 from jobs where state = 'succeeded'",
                  60000);
    refused = testwork_log_count(&fx->work[0], "refuses every write");
    print_message("refused passes logged: %lld\n", refused);
    assert_true(refused >= 1);
    assert_int_equal(testwork_log_count(&fx->work[0], "cannot record"), 0);
    assert_int_equal(scalar(fx->conn, "select count(*) from jobs"
                                      " where probe_count > 0"),
                     0);
    assert_int_equal(paid_once(fx, fx->conn), 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            work_sigkill_then_restart_pays_each_job_once, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(work_two_processes_share_one_queue,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            work_unwritten_outcomes_are_probed_after_a_crash, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(work_survives_postgres_restart,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(work_waits_for_database_at_start,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(work_stops_while_waiting_for_database,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            work_outcomes_refused_for_a_while_are_written_later, fx_setup,
            fx_teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (getenv("PAYQ_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PAYQ_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
