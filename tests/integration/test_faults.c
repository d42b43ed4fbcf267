/*
 * The fault-injection run: thousands of payments imported from CSV files
 * and sent to a simulator with every fault switched on, while `payq work`
 * is killed (SIGKILL) and restarted again and again, PostgreSQL restarts
 * once, and a second worker process drains the same queue for a while.
 * Then the money is checked against the simulator's ledger:
 *   1. no id executed twice, no job with two executed attempts;
 *   2. every job final or unknown, none lost;
 *   3. succeeded amounts in the database equal the ledger's, to the
 *      franc (the ledger's successes of jobs left unknown are shown apart:
 *      those are what reconciliation is for);
 *   4. every callback the receiver answered 200 is stored;
 *   5. the control totals tie.
 *
 * The schedule of kills is drawn from PAYQ_TEST_SEED (default fixed), so
 * a failure can be run again as it happened.
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

#include "callback/token.h"
#include "tests/support/pgdir.h"
#include "tests/support/proc.h"
#include "tests/support/testdb.h"
#include "tests/support/work.h"

enum {
    PAY_JOBS = 3500,
    DEPOSIT_JOBS = 1500,
    JOBS = PAY_JOBS + DEPOSIT_JOBS,
    KILLS = 5,
    KILL_AFTER_MIN_MS = 1500,  /* a kill falls this long after a start */
    KILL_AFTER_SPAN_MS = 3500, /* ... plus up to this much more */
    SETTLE_TIMEOUT_MS = 240000,
};

struct fixture {
    struct testpg pg;
    PGconn *conn;
    struct testsim sim;
    struct testwork main_worker;   /* receives the callbacks too */
    struct testwork second_worker; /* drains alongside for a while */
    char files[2][64];
    unsigned callback_port;
    char callback_env[96];
    char listen_arg[64];
    unsigned seed;
};

static int fx_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    const char *seed = getenv("PAYQ_TEST_SEED");

    assert_non_null(fx);
    fx->seed = seed != NULL ? (unsigned)strtoul(seed, NULL, 10) : 20261204u;
    testpg_start_fresh(&fx->pg);
    testpg_migrate(&fx->pg);
    fx->conn = PQconnectdb(fx->pg.url);
    assert_int_equal(PQstatus(fx->conn), CONNECTION_OK);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *fx = *state;
    int i;

    testwork_cleanup(&fx->main_worker);
    testwork_cleanup(&fx->second_worker);
    testsim_stop(&fx->sim);
    testsim_cleanup(&fx->sim);
    PQfinish(fx->conn);
    testpg_remove(&fx->pg);
    for (i = 0; i < 2; i++)
        if (fx->files[i][0] != '\0')
            unlink(fx->files[i]);
    free(fx);
    return 0;
}

static long long scalar(struct fixture *fx, const char *sql)
{
    return testdb_scalar(fx->conn, sql);
}

/* A school fee or payout file of n rows; amounts vary, all valid. */
static void write_file(char *path, size_t size, bool deposit, int n)
{
    FILE *f;
    int fd;
    int i;

    snprintf(path, size, "/tmp/payq-test-faults.XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(deposit ? "phone,amount,reference,reason,name,withdrawcharge,"
                    "school\n"
                  : "phone,amount,reference,school,term\n",
          f);
    for (i = 1; i <= n; i++) {
        long long amount = 100 + (long long)i * 7919 % 49900;

        if (deposit)
            fprintf(f,
                    "07%d%07d,%lld,F-D-%d,term refund,Parent %d,%d,"
                    "School %d\n",
                    i % 2 ? 8 : 3, i, amount, i, i, i % 3 * 50, i % 7);
        else
            fprintf(f, "07%d%07d,%lld,F-P-%d,School %d,2026-T%d\n",
                    i % 2 ? 9 : 2, i, amount, i, i % 7, 1 + i % 3);
    }
    assert_int_equal(fclose(f), 0);
}

static void import(struct fixture *fx, const char *path, bool deposit)
{
    const char *argv[] = { proc_payq_path(),
                           "import",
                           "--kind",
                           deposit ? "deposit" : "pay",
                           path,
                           NULL };
    char url[300];
    const char *env[] = { url, NULL };
    struct proc_result res;

    snprintf(url, sizeof(url), "DATABASE_URL=%s", fx->pg.url);
    proc_run(argv, env, &res);
    if (res.exit_code != 0)
        fail_msg("payq import %s: %s", path, buf_str(&res.err));
    proc_result_cleanup(&res);
}

/* Every fault the simulator has, at once. */
static void start_simulator(struct fixture *fx)
{
    static char deposit_url[512];
    static char seed[16];
    char base[64];
    const char *args[] = {
        "--seed",
        seed,
        "--latency-ms",
        "0-40",
        "--latency-dist",
        "exp",
        "--decline",
        "1002=2",
        "--decline",
        "1100=1",
        "--http500",
        "2",
        "--drop-after-execute",
        "2",
        "--slow",
        "1",
        "--slow-ms",
        "1500",
        "--http429",
        "1",
        "--http503",
        "1",
        "--retry-after",
        "1",
        "--duplicate-callbacks",
        "5",
        "--early-callbacks",
        "3",
        "--reorder-callbacks",
        "--reorder-window-ms",
        "500",
        "--lose-callbacks",
        "2",
        "--late-failure",
        "2",
        "--callback-delay-ms",
        "100",
        "--callback-retries",
        "14",
        "--callback-backoff-ms",
        "200",
        "--float",
        "4000000000",
        "--deposit-callback-url",
        deposit_url,
        NULL,
    };

    snprintf(seed, sizeof(seed), "%u", fx->seed);
    fx->callback_port = testwork_free_port();
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", fx->callback_port);
    assert_int_equal(callback_url_deposit(base, TESTWORK_CALLBACK_SECRET,
                                          deposit_url, sizeof(deposit_url)),
                     PAYQ_OK);
    snprintf(fx->callback_env, sizeof(fx->callback_env), "PAYQ_CALLBACK_URL=%s",
             base);
    snprintf(fx->listen_arg, sizeof(fx->listen_arg), "127.0.0.1:%u",
             fx->callback_port);
    testsim_start(&fx->sim, args);
}

static void start_main_worker(struct fixture *fx)
{
    const char *args[] = { "--workers", "16",          "--callback-timeout",
                           "20s",       "--callbacks", fx->listen_arg,
                           NULL };
    const char *env[] = { fx->callback_env, NULL };

    testwork_start(&fx->main_worker, fx->pg.url, &fx->sim, args, env);
}

static void start_second_worker(struct fixture *fx)
{
    const char *args[] = { "--workers", "8", "--callback-timeout", "20s",
                           NULL };
    const char *env[] = { fx->callback_env, NULL };

    testwork_start(&fx->second_worker, fx->pg.url, &fx->sim, args, env);
}

static void sleep_ms(long ms)
{
    struct timespec t = { ms / 1000, ms % 1000 * 1000000L };

    nanosleep(&t, NULL);
}

/* Signals w and checks how it ended; its log explains a surprise. */
static void expect_status(struct testwork *w, int sig, int expected)
{
    int status = testwork_signal(w, sig);

    if (status != expected) {
        testwork_dump_log(w);
        fail_msg("payq work ended with %d, not %d", status, expected);
    }
}

static const char SETTLED[] =
    "select count(*) = 0 from jobs"
    " where state in ('queued', 'running', 'pending')";

/*
 * The schedule: KILLS SIGKILLs of the main worker at drawn moments, each
 * followed by a restart; the second worker runs from the first kill to
 * the third; PostgreSQL restarts after the second.
 */
static void run_schedule(struct fixture *fx)
{
    int k;

    start_main_worker(fx);
    for (k = 1; k <= KILLS; k++) {
        sleep_ms(KILL_AFTER_MIN_MS + rand() % KILL_AFTER_SPAN_MS);
        expect_status(&fx->main_worker, SIGKILL, 128 + SIGKILL);
        print_message("kill %d: %lld running, %lld final so far\n", k,
                      scalar(fx, "select count(*) from jobs"
                                 " where state = 'running'"),
                      scalar(fx, "select count(*) from jobs where state"
                                 " in ('succeeded', 'failed')"));
        if (k == 2) {
            testpg_ctl(&fx->pg, "stop");
            sleep_ms(1000);
            testpg_ctl(&fx->pg, "start");
            PQreset(fx->conn);
            assert_int_equal(PQstatus(fx->conn), CONNECTION_OK);
        }
        start_main_worker(fx);
        if (k == 1)
            start_second_worker(fx);
        if (k == 3)
            expect_status(&fx->second_worker, SIGTERM, 0);
    }
    if (!testwork_wait_sql(fx->conn, SETTLED, SETTLE_TIMEOUT_MS)) {
        testwork_dump_log(&fx->main_worker);
        fail_msg("jobs still open after %d ms", SETTLE_TIMEOUT_MS);
    }
}

/* 1. Never paid twice, by id and by job. */
static void check_paid_once(struct fixture *fx, long long *paid)
{
    assert_int_equal(scalar(fx, "select count(*) from sim_ledger"
                                " where executed > 1"),
                     0);
    *paid = testwork_assert_paid_at_most_once(fx->conn);
    assert_int_equal(scalar(fx, "select coalesce(sum("
                                "jobs_executed_more_than_once), 0)"
                                " from report_control_totals"),
                     0);
}

/* 2. Every job is there, and final or unknown. */
static void check_none_lost(struct fixture *fx)
{
    assert_int_equal(scalar(fx, "select count(*) from jobs"), JOBS);
    assert_int_equal(scalar(fx, "select count(*) from jobs where state"
                                " in ('succeeded', 'failed', 'unknown')"),
                     JOBS);
    /* The database never says succeeded where the provider did not. */
    assert_int_equal(scalar(fx, "select count(*) from jobs j where"
                                " j.state = 'succeeded' and not exists"
                                " (select 1 from attempts a join sim_ledger"
                                " l on l.txn = a.request_txn_id where"
                                " a.job_id = j.id and l.status ="
                                " 'Successfull')"),
                     0);
}

/* 3. The money, to the franc. */
static void check_amounts(struct fixture *fx)
{
    long long ledger = scalar(fx, "select coalesce(sum(amount), 0) from"
                                  " sim_ledger where status ="
                                  " 'Successfull'");
    long long db = scalar(fx, "select coalesce(sum(amount), 0) from jobs"
                              " where state = 'succeeded'");
    long long in_unknown = scalar(
        fx, "select coalesce(sum(l.amount), 0) from jobs j join attempts a"
            " on a.job_id = j.id join sim_ledger l on l.txn ="
            " a.request_txn_id where j.state = 'unknown' and l.status ="
            " 'Successfull'");

    print_message("succeeded RWF: database %lld, ledger %lld, of which on"
                  " jobs left unknown %lld (%lld unknown jobs)\n",
                  db, ledger, in_unknown,
                  scalar(fx, "select count(*) from jobs"
                             " where state = 'unknown'"));
    assert_true(db > 0);
    assert_true(ledger - in_unknown == db);
}

/* 4. What the receiver acknowledged, it stored. */
static void check_callbacks(struct fixture *fx)
{
    long long acked = scalar(fx, "select coalesce(sum(callbacks_acked), 0)"
                                 " from sim_ledger");

    print_message("callbacks acknowledged %lld, stored %lld\n", acked,
                  scalar(fx, "select count(*) from callbacks"));
    assert_true(acked > 0);
    assert_int_equal(scalar(fx, "select count(*) from sim_ledger l where"
                                " l.callbacks_acked > (select count(*) from"
                                " callbacks c where c.request_txn_id ="
                                " l.txn)"),
                     0);
}

static void faults_every_fault_money_adds_up(void **state)
{
    struct fixture *fx = *state;
    long long paid = 0;

    srand(fx->seed);
    write_file(fx->files[0], sizeof(fx->files[0]), false, PAY_JOBS);
    write_file(fx->files[1], sizeof(fx->files[1]), true, DEPOSIT_JOBS);
    import(fx, fx->files[0], false);
    import(fx, fx->files[1], true);
    start_simulator(fx);
    run_schedule(fx);
    expect_status(&fx->main_worker, SIGTERM, 0);
    testwork_ledger_load(&fx->sim, fx->conn);

    check_paid_once(fx, &paid);
    check_none_lost(fx);
    check_amounts(fx);
    check_callbacks(fx);
    /* 5. */
    assert_true(scalar(fx, "select bool_and(ties)::int from"
                           " report_control_totals") == 1);
    print_message("seed %u: %d jobs, %lld paid, %lld failed, %lld unknown,"
                  " %lld attempts\n",
                  fx->seed, JOBS, paid,
                  scalar(fx, "select count(*) from jobs"
                             " where state = 'failed'"),
                  scalar(fx, "select count(*) from jobs"
                             " where state = 'unknown'"),
                  scalar(fx, "select count(*) from attempts"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(faults_every_fault_money_adds_up,
                                        fx_setup, fx_teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
