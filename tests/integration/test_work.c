/*
 * Integration tests of `payq work` against a real PostgreSQL and the
 * simulator: every outcome class from the job's point of view, pauses,
 * wake-ups, metrics and shutdown. Recovery from crashes and outages is in
 * test_work_recovery.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "callback/token.h"
#include "core/buf.h"
#include "tests/support/testdb.h"
#include "tests/support/work.h"

struct fixture {
    struct testdb db;
    PGconn *conn;
    struct testsim sim;
    struct testwork work;
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

    testwork_cleanup(&fx->work);
    testsim_stop(&fx->sim);
    testsim_cleanup(&fx->sim);
    PQfinish(fx->conn);
    testdb_drop(&fx->db);
    free(fx);
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static long long scalar(struct fixture *fx, const char *sql)
{
    return testdb_scalar(fx->conn, sql);
}

/* Waits for sql to hold; on timeout shows the worker's log and fails. */
static void expect_within(struct fixture *fx, const char *sql, int ms)
{
    if (!testwork_wait_sql(fx->conn, sql, ms)) {
        testwork_dump_log(&fx->work);
        fail_msg("not within %d ms: %s", ms, sql);
    }
}

static void start(struct fixture *fx, const char *const *sim_args,
                  const char *const *args, const char *const *env)
{
    testsim_start(&fx->sim, sim_args);
    testwork_start(&fx->work, fx->db.conninfo, &fx->sim, args, env);
}

static void wait_ready(struct fixture *fx)
{
    int i;

    for (i = 0; i < 200; i++) {
        if (testwork_log_count(&fx->work, "worker pool ready") == 1)
            return;
        sleep_ms(50);
    }
    testwork_dump_log(&fx->work);
    fail_msg("payq work did not become ready");
}

/* Waits until the simulator has received n requests. */
static void wait_sim_requests(struct fixture *fx, int n)
{
    struct testwork_ledger l;
    int i;

    for (i = 0; i < 200; i++) {
        testwork_ledger(&fx->sim, &l);
        if (l.attempts >= n)
            return;
        sleep_ms(50);
    }
    testwork_dump_log(&fx->work);
    fail_msg("the simulator did not get %d requests", n);
}

static const char DRAINED[] =
    "select count(*) = 0 from jobs where state in ('queued', 'running')";

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    return buf_append(arg, data, size * n) == PAYQ_OK ? size * n : 0;
}

/* GET of the worker's --listen endpoint; its port from the log. */
static long http_get(const struct testwork *w, const char *path,
                     struct buf *body)
{
    char url[96];
    unsigned port = 0;
    long status = 0;
    FILE *log = fopen(w->log_path, "r");
    char line[1024];
    CURL *easy;

    assert_non_null(log);
    while (fgets(line, sizeof(line), log) != NULL) {
        const char *p = strstr(line, "metrics endpoint listening");

        if (p != NULL && (p = strstr(p, "port=")) != NULL)
            port = (unsigned)strtoul(p + 5, NULL, 10);
    }
    fclose(log);
    assert_true(port > 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    easy = curl_easy_init();
    assert_non_null(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, body);
    assert_int_equal(curl_easy_perform(easy), CURLE_OK);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    return status;
}

/* The happy path end to end: each job sent once, under its own id. */
static void work_drains_queue_each_job_sent_once(void **state)
{
    static const char *const sim_args[] = { "--latency-ms", "1-5", NULL };
    static const char *const args[] = { "--listen", "127.0.0.1:0", NULL };
    struct fixture *fx = *state;
    struct testwork_ledger l;
    struct buf body;

    testwork_seed(fx->conn, "deposit", 30, 1500);
    testwork_seed(fx->conn, "pay", 30, 2500);
    start(fx, sim_args, args, NULL);
    expect_within(fx, DRAINED, 30000);
    assert_int_equal(scalar(fx, "select count(*) from jobs where kind ="
                                " 'deposit' and state = 'succeeded'"),
                     30);
    /* Collections wait for their callback. */
    assert_int_equal(scalar(fx, "select count(*) from jobs where kind ="
                                " 'pay' and state = 'pending'"),
                     30);
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " request_txn_id = 'T-' || job_id || '-1'"
                                " and send_count = 1"),
                     60);
    testwork_ledger(&fx->sim, &l);
    assert_int_equal(l.transactions, 60);
    assert_int_equal(l.executed, 60);
    assert_int_equal(l.max_executed, 1);
    assert_int_equal(scalar(fx, "select count(*) from workers"
                                " where not stopping"),
                     1);

    buf_init(&body, 1024 * 1024);
    assert_int_equal(http_get(&fx->work, "/metrics", &body), 200);
    assert_non_null(strstr(buf_str(&body),
                           "payq_requests_total{endpoint=\"deposit\","
                           "class=\"succeeded\",code=\"01\"} 30"));
    assert_non_null(strstr(buf_str(&body), "payq_database_up 1"));
    buf_reset(&body);
    assert_int_equal(http_get(&fx->work, "/readyz", &body), 200);
    buf_cleanup(&body);

    assert_int_equal(testwork_signal(&fx->work, SIGTERM), 0);
    assert_int_equal(scalar(fx, "select count(*) from workers"), 0);
}

/* NOTIFY wakes an idle pool long before its poll would. */
static void work_wakes_on_notify(void **state)
{
    static const char *const args[] = { "--poll", "1h", NULL };
    struct fixture *fx = *state;

    start(fx, NULL, args, NULL);
    wait_ready(fx);
    sleep_ms(300); /* the listener's LISTEN is in place */
    testwork_seed(fx->conn, "deposit", 1, 1000);
    testdb_exec_ok(fx->conn, "select pg_notify('payq_jobs', '1')");
    expect_within(fx, "select state = 'succeeded' from jobs", 5000);
}

/* Without LISTEN the poll still finds the work. */
static void work_polls_without_listen(void **state)
{
    static const char *const args[] = { "--no-listen", NULL };
    struct fixture *fx = *state;

    start(fx, NULL, args, NULL);
    wait_ready(fx);
    testwork_seed(fx->conn, "deposit", 2, 1000);
    expect_within(fx, "select bool_and(state = 'succeeded') from jobs",
                  5000);
}

/* A decline is final, with the code and its description. */
static void work_declined_fails_job(void **state)
{
    static const char *const sim_args[] = { "--decline", "1002=100", NULL };
    struct fixture *fx = *state;
    struct testwork_ledger l;

    testwork_seed(fx->conn, "pay", 3, 1000);
    start(fx, sim_args, NULL, NULL);
    expect_within(fx, DRAINED, 10000);
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'failed' and last_code = '1002' and"
                                " last_message <> ''"
                                " and finished_at is not null"),
                     3);
    assert_int_equal(scalar(fx, "select count(*) from attempts"
                                " where outcome = 'failed'"),
                     3);
    testwork_ledger(&fx->sim, &l);
    assert_int_equal(l.executed, 0);
}

/* The connection drops after executing: the probe, same id, finds it. */
static void work_ambiguous_probe_executes_once(void **state)
{
    static const char *const sim_args[] = { "--drop-after-execute", "100",
                                            NULL };
    struct fixture *fx = *state;
    struct testwork_ledger l;

    testwork_seed(fx->conn, "deposit", 5, 1000);
    start(fx, sim_args, NULL, NULL);
    expect_within(fx, DRAINED, 15000);
    /* 2400 to the probe: accepted, waiting for the callback. */
    assert_int_equal(scalar(fx, "select count(*) from jobs"
                                " where state = 'pending'"),
                     5);
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'pending' and send_count >= 2"
                                " and request_txn_id ="
                                " 'T-' || job_id || '-1'"),
                     5);
    assert_int_equal(scalar(fx, "select count(*) from attempts"), 5);
    testwork_ledger(&fx->sim, &l);
    assert_int_equal(l.transactions, 5);
    assert_int_equal(l.executed, 5);
    assert_int_equal(l.max_executed, 1);
}

/* No definite answer after --max-probes: unknown, for a person. */
static void work_no_answer_becomes_unknown(void **state)
{
    static const char *const sim_args[] = { "--http500", "100", NULL };
    static const char *const args[] = { "--max-probes", "2", NULL };
    struct fixture *fx = *state;
    struct testwork_ledger l;

    testwork_seed(fx->conn, "pay", 2, 1000);
    start(fx, sim_args, args, NULL);
    expect_within(fx, "select bool_and(state = 'unknown') from jobs",
                  15000);
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'unknown' and send_count = 3"),
                     2);
    assert_int_equal(scalar(fx, "select count(*) from attempts"), 2);
    testwork_ledger(&fx->sim, &l);
    assert_int_equal(l.executed, 0);
}

/* 2400 to a first send: someone else's id. Set aside, not retried. */
static void work_collision_is_set_aside(void **state)
{
    struct fixture *fx = *state;
    struct testdb other;
    PGconn *conn;

    /* Another database with the same prefix has used T-1-1 already. */
    testdb_create_migrated(&other);
    conn = testdb_connect(&other);
    testwork_seed(conn, "deposit", 1, 1000);
    testsim_start(&fx->sim, NULL);
    testwork_start(&fx->work, other.conninfo, &fx->sim, NULL, NULL);
    assert_true(testwork_wait_sql(conn, "select state = 'succeeded' from"
                                        " jobs", 10000));
    testwork_cleanup(&fx->work);
    PQfinish(conn);
    testdb_drop(&other);

    testwork_seed(fx->conn, "deposit", 1, 1000);
    testwork_start(&fx->work, fx->db.conninfo, &fx->sim, NULL, NULL);
    expect_within(fx, "select state = 'unknown' and needs_review from jobs",
                  10000);
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'unknown'"
                                " and response_code = '2400'"),
                     1);
    assert_int_equal(testwork_log_count(&fx->work, "was used before"), 1);
}

/* Refused credentials pause everything, once, and fail no job. */
static void work_auth_failure_pauses_without_failing(void **state)
{
    static const char *const env[] = { "PAYQ_KEY=wrong-key", NULL };
    struct fixture *fx = *state;
    struct testwork_ledger l;

    testwork_seed(fx->conn, "deposit", 4, 1000);
    testwork_seed(fx->conn, "pay", 4, 1000);
    start(fx, NULL, NULL, env);
    expect_within(fx, "select count(*) = 1 from pool_pauses"
                      " where scope = 'all'", 10000);
    sleep(2); /* several re-checks, backoff 100ms to 1s */
    assert_int_equal(scalar(fx, "select count(*) from jobs where state"
                                " in ('failed', 'unknown', 'pending',"
                                " 'succeeded')"),
                     0);
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome not in ('not_executed', 'open')"),
                     0);
    assert_int_equal(testwork_log_count(&fx->work, "sending paused"), 1);
    testwork_ledger(&fx->sim, &l);
    assert_int_equal(l.executed, 0);
    assert_int_equal(testwork_signal(&fx->work, SIGTERM), 0);
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'running'"),
                     0);
}

/*
 * A float too small for the next payout pauses payouts before any is
 * sent; collections go on, and once they fill the float the payouts go.
 */
static void work_short_float_pauses_deposits(void **state)
{
    static const char *const sim_args[] = { "--float", "1000", NULL };
    struct fixture *fx = *state;
    struct testwork_ledger l;

    testwork_seed(fx->conn, "deposit", 3, 5000);
    start(fx, sim_args, NULL, NULL);
    expect_within(fx, "select count(*) = 1 from pool_pauses"
                      " where scope = 'deposit'", 10000);
    sleep(1);
    assert_int_equal(scalar(fx, "select count(*) from jobs"
                                " where state = 'queued'"),
                     3);
    testwork_ledger(&fx->sim, &l);
    assert_int_equal(l.transactions, 0);

    testwork_seed(fx->conn, "pay", 1, 20000);
    expect_within(fx, "select count(*) = 3 from jobs where kind ="
                      " 'deposit' and state = 'succeeded'", 20000);
    expect_within(fx, "select count(*) = 0 from pool_pauses", 5000);
    assert_int_equal(testwork_log_count(&fx->work, "sending paused"), 1);
    assert_int_equal(testwork_log_count(&fx->work, "sending resumed"), 1);
}

/* SIGTERM: requests in flight finish, jobs not started go back. */
static void work_graceful_shutdown_releases_unstarted(void **state)
{
    static const char *const sim_args[] = { "--slow", "100", "--slow-ms",
                                            "1500", NULL };
    static const char *const args[] = { "--workers", "2", "--claim", "4",
                                        "--lease", "20s", NULL };
    static const char *const env[] = { "PAYQ_TIMEOUT_MS=5000", NULL };
    struct fixture *fx = *state;
    struct testwork_ledger l;

    testwork_seed(fx->conn, "deposit", 12, 1000);
    start(fx, sim_args, args, env);
    expect_within(fx, "select count(*) = 8 from jobs"
                      " where state = 'running'", 10000);
    wait_sim_requests(fx, 2); /* both requests are at the simulator */
    assert_int_equal(testwork_signal(&fx->work, SIGTERM), 0);
    assert_int_equal(scalar(fx, "select count(*) from jobs"
                                " where state = 'succeeded'"),
                     2);
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'queued' and lease_owner is null"),
                     10);
    assert_int_equal(scalar(fx, "select count(*) from workers"), 0);
    testwork_ledger(&fx->sim, &l);
    assert_int_equal(l.executed, 2);
}

/* A second signal does not wait for requests in flight. */
static void work_second_signal_exits_at_once(void **state)
{
    static const char *const sim_args[] = { "--slow", "100", "--slow-ms",
                                            "4000", NULL };
    static const char *const args[] = { "--workers", "2", "--lease", "20s",
                                        NULL };
    static const char *const env[] = { "PAYQ_TIMEOUT_MS=8000", NULL };
    struct fixture *fx = *state;
    struct timespec t0;
    struct timespec t1;

    testwork_seed(fx->conn, "deposit", 4, 1000);
    start(fx, sim_args, args, env);
    expect_within(fx, "select count(*) > 0 from jobs"
                      " where state = 'running'", 10000);
    wait_sim_requests(fx, 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(kill(fx->work.pid, SIGTERM), 0);
    sleep_ms(100);
    assert_int_equal(testwork_signal(&fx->work, SIGTERM), 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 3);
    assert_int_equal(testwork_log_count(&fx->work, "second signal"), 1);
}

/* --inbox: a file dropped in the directory is imported and sent. */
static void work_inbox_imports_and_sends(void **state)
{
    struct fixture *fx = *state;
    char dir[64] = "/tmp/payq-test-inbox.XXXXXX";
    char path[128];
    const char *args[] = { "--inbox", dir, "--inbox-kind", "deposit", NULL };
    FILE *f;

    assert_non_null(mkdtemp(dir));
    start(fx, NULL, args, NULL);
    wait_ready(fx);
    snprintf(path, sizeof(path), "%s/payouts.csv", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("reference,phone,amount,reason,deposit_ref_name\n"
          "INB-1,0788000001,1500,bursary refund,Green Hill School\n"
          "INB-2,0788000002,2500,bursary refund,Green Hill School\n",
          f);
    fclose(f);
    expect_within(fx, "select count(*) = 2 from jobs where kind ="
                      " 'deposit' and state = 'succeeded'", 20000);
    snprintf(path, sizeof(path), "%s/imported/payouts.csv", dir);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(testwork_signal(&fx->work, SIGTERM), 0);
    unlink(path);
    snprintf(path, sizeof(path), "%s/imported", dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/rejected", dir);
    rmdir(path);
    rmdir(dir);
}

/* A free loopback port, for a server whose URL must be known first. */
static unsigned free_port(void)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned port;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

/*
 * End to end: collections wait for their callbacks, which the embedded
 * receiver applies; payouts' callbacks find them already succeeded.
 */
static void work_callbacks_settle_collections(void **state)
{
    struct fixture *fx = *state;
    char token[CALLBACK_TOKEN_LEN + 1];
    char deposit_url[256];
    char listen[64];
    char base_env[96];
    const char *sim_args[] = { "--deposit-callback-url", deposit_url,
                               "--duplicate-callbacks", "20", NULL };
    const char *args[] = { "--callbacks", listen, NULL };
    const char *env[] = { base_env, NULL };
    unsigned port = free_port();

    assert_int_equal(callback_token_deposit(TESTWORK_CALLBACK_SECRET, token),
                     PAYQ_OK);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    snprintf(base_env, sizeof(base_env),
             "PAYQ_CALLBACK_URL=http://127.0.0.1:%u", port);
    snprintf(deposit_url, sizeof(deposit_url),
             "http://127.0.0.1:%u/cb/deposit/%s", port, token);
    testwork_seed(fx->conn, "pay", 20, 1200);
    testwork_seed(fx->conn, "deposit", 10, 1500);
    start(fx, sim_args, args, env);
    expect_within(fx, "select count(*) = 30 from jobs"
                      " where state = 'succeeded'", 30000);
    expect_within(fx, "select count(*) >= 30 from callbacks", 10000);
    assert_int_equal(scalar(fx, "select count(*) from callbacks where"
                                " effect = 'applied'"),
                     20);
    assert_int_equal(scalar(fx, "select count(*) from callbacks where"
                                " effect not in ('applied', 'duplicate')"),
                     0);
    assert_int_equal(testwork_signal(&fx->work, SIGTERM), 0);
}

/* Bad settings are refused before anything is claimed. */
static void work_refuses_bad_settings(void **state)
{
    static const char *const short_lease[] = { "--lease", "5s", NULL };
    static const char *const bad_prefix[] = { "PAYQ_TXN_PREFIX=a b", NULL };
    static const char *const no_secret[] = { "PAYQ_CALLBACK_SECRET=short",
                                             NULL };
    struct fixture *fx = *state;

    testwork_seed(fx->conn, "deposit", 1, 1000);
    start(fx, NULL, short_lease, NULL);
    assert_int_equal(testwork_wait(&fx->work), 78);
    testwork_cleanup(&fx->work);
    testwork_start(&fx->work, fx->db.conninfo, &fx->sim, NULL, bad_prefix);
    assert_int_equal(testwork_wait(&fx->work), 78);
    testwork_cleanup(&fx->work);
    testwork_start(&fx->work, fx->db.conninfo, &fx->sim, NULL, no_secret);
    assert_int_equal(testwork_wait(&fx->work), 78);
    assert_int_equal(scalar(fx, "select count(*) from attempts"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(work_drains_queue_each_job_sent_once,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(work_wakes_on_notify, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(work_polls_without_listen, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(work_declined_fails_job, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(work_ambiguous_probe_executes_once,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(work_no_answer_becomes_unknown,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(work_collision_is_set_aside,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            work_auth_failure_pauses_without_failing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(work_short_float_pauses_deposits,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            work_graceful_shutdown_releases_unstarted, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(work_second_signal_exits_at_once,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(work_inbox_imports_and_sends,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(work_callbacks_settle_collections,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(work_refuses_bad_settings, fx_setup,
                                        fx_teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (getenv("PAYQ_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PAYQ_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
