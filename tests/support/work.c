/* `payq work` as a child process; see work.h. */
#include "tests/support/work.h"

#include <arpa/inet.h>
#include <fcntl.h>
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
#include <jansson.h>

#include "tests/support/proc.h"
#include "tests/support/testdb.h"

enum { FIXED_ARGS = 12, FIXED_ENV = 11 };

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* Adds entry to env, replacing an entry of the same name. */
static void add_env(const char **env, size_t *n, const char *entry)
{
    size_t name_len = strcspn(entry, "=");
    size_t i;

    for (i = 0; i < *n; i++) {
        if (strncmp(env[i], entry, name_len) == 0 && env[i][name_len] == '=') {
            env[i] = entry;
            return;
        }
    }
    assert_true(*n < FIXED_ENV + TESTWORK_EXTRA_MAX);
    env[(*n)++] = entry;
}

void testwork_start(struct testwork *w, const char *database_url,
                    const struct testsim *sim, const char *const *args,
                    const char *const *env)
{
    static char url_env[512];
    static char api_env[64];
    const char *argv[FIXED_ARGS + TESTWORK_EXTRA_MAX + 1] = {
        proc_payq_path(), "work", "--workers", "4",   "--backoff-base", "100ms",
        "--backoff-cap",  "1s",   "--lease",   "12s", "--poll",         "200ms",
    };
    const char *envv[FIXED_ENV + TESTWORK_EXTRA_MAX + 1] = {
        url_env,
        api_env,
        "PAYQ_USERNAME=" TESTSIM_USERNAME,
        "PAYQ_PASSWORD=" TESTSIM_PASSWORD,
        "PAYQ_KEY=" TESTSIM_KEY,
        "PAYQ_CALLBACK_URL=http://127.0.0.1:9/callback",
        "PAYQ_TXN_PREFIX=T",
        "PAYQ_TIMEOUT_MS=1000",
        "PAYQ_CONNECT_TIMEOUT_MS=500",
        "PAYQ_LOG_LEVEL=info",
        "PAYQ_CALLBACK_SECRET=" TESTWORK_CALLBACK_SECRET,
    };
    size_t n = FIXED_ARGS;
    size_t e = FIXED_ENV;
    int fd;

    snprintf(url_env, sizeof(url_env), "DATABASE_URL=%s", database_url);
    snprintf(api_env, sizeof(api_env), "PAYQ_API_URL=http://127.0.0.1:%u/",
             sim->port);
    for (; args != NULL && *args != NULL; args++) {
        assert_true(n < FIXED_ARGS + TESTWORK_EXTRA_MAX);
        argv[n++] = *args;
    }
    argv[n] = NULL;
    for (; env != NULL && *env != NULL; env++)
        add_env(envv, &e, *env);
    envv[e] = NULL;
    snprintf(w->log_path, sizeof(w->log_path), "/tmp/payq-test-work.XXXXXX");
    fd = mkstemp(w->log_path);
    assert_true(fd >= 0);
    close(fd);
    w->pid = proc_start(argv, envv, w->log_path);
}

int testwork_signal(struct testwork *w, int sig)
{
    int status;

    assert_true(w->pid > 0);
    assert_int_equal(kill((pid_t)w->pid, sig), 0);
    status = proc_wait(w->pid);
    w->pid = 0;
    return status;
}

int testwork_wait(struct testwork *w)
{
    int status;

    assert_true(w->pid > 0);
    status = proc_wait(w->pid);
    w->pid = 0;
    return status;
}

void testwork_cleanup(struct testwork *w)
{
    if (w->pid > 0)
        testwork_signal(w, SIGKILL);
    if (w->log_path[0] != '\0')
        unlink(w->log_path);
    w->log_path[0] = '\0';
}

static void read_log(const struct testwork *w, struct buf *out)
{
    char chunk[4096];
    ssize_t got;
    int fd = open(w->log_path, O_RDONLY);

    buf_init(out, PROC_OUTPUT_MAX * 8);
    if (fd < 0)
        return;
    while ((got = read(fd, chunk, sizeof(chunk))) > 0)
        assert_int_equal(buf_append(out, chunk, (size_t)got), PAYQ_OK);
    close(fd);
}

int testwork_log_count(const struct testwork *w, const char *needle)
{
    struct buf log;
    const char *line;
    int count = 0;

    read_log(w, &log);
    for (line = buf_str(&log); *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        const char *hit = strstr(line, needle);

        if (hit != NULL && hit < line + len)
            count++;
        line += len + (end != NULL);
    }
    buf_cleanup(&log);
    return count;
}

int testwork_log_count2(const struct testwork *w, const char *a, const char *b)
{
    struct buf log;
    const char *line;
    int count = 0;

    read_log(w, &log);
    for (line = buf_str(&log); *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char *copy = strndup(line, len);

        assert_non_null(copy);
        if (strstr(copy, a) != NULL && strstr(copy, b) != NULL)
            count++;
        free(copy);
        line += len + (end != NULL);
    }
    buf_cleanup(&log);
    return count;
}

void testwork_dump_log(const struct testwork *w)
{
    struct buf log;

    read_log(w, &log);
    fprintf(stderr, "--- payq work log (%s) ---\n%s--- end ---\n", w->log_path,
            buf_str(&log));
    buf_cleanup(&log);
}

bool testwork_wait_sql(PGconn *conn, const char *sql, int timeout_ms)
{
    int waited;

    for (waited = 0; waited <= timeout_ms; waited += 50) {
        PGresult *res = PQexec(conn, sql);
        bool yes;

        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", sql, PQerrorMessage(conn));
        yes = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (yes)
            return true;
        sleep_ms(50);
    }
    return false;
}

long long testwork_seed(PGconn *conn, const char *kind, int n, long long amount)
{
    static int seq;
    char sql[1024];
    long long batch;
    bool deposit = strcmp(kind, "deposit") == 0;

    seq++;
    snprintf(sql, sizeof(sql),
             "insert into batches (file_name, file_size, file_sha256, kind,"
             " approved_at, approved_by) values ('seed-%d.csv', 1,"
             " encode(sha256('%d-%d'::bytea), 'hex'), '%s', now(), 'test')"
             " returning id",
             seq, (int)getpid(), seq, kind);
    batch = testdb_scalar(conn, sql);
    snprintf(sql, sizeof(sql),
             "insert into jobs (batch_id, kind, phone, amount, reason,"
             " depositor_name, reference) select %lld, '%s',"
             " '25078' || lpad(g::text, 7, '0'), %lld, %s, %s,"
             " 'S%lld-' || g from generate_series(1, %d) g",
             batch, kind, amount, deposit ? "'term refund'" : "null",
             deposit ? "'Green Hill School'" : "null", batch, n);
    testdb_exec_ok(conn, sql);
    return batch;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    return buf_append(arg, data, size * n) == PAYQ_OK ? size * n : 0;
}

static void fetch_ledger(const struct testsim *sim, struct buf *text)
{
    CURL *easy = curl_easy_init();
    char url[96];

    assert_non_null(easy);
    /* The whole ledger: the simulator streams every id. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/_sim/ledger",
             sim->admin_port);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, text);
    assert_int_equal(curl_easy_perform(easy), CURLE_OK);
    curl_easy_cleanup(easy);
}

/* The ledger as JSON: its transactions array, which the caller frees. */
static json_t *ledger_transactions(const struct testsim *sim)
{
    struct buf text;
    json_error_t jerr;
    json_t *root;
    json_t *txns;

    buf_init(&text, 256 * 1024 * 1024);
    fetch_ledger(sim, &text);
    root = json_loads(buf_str(&text), 0, &jerr);
    buf_cleanup(&text);
    if (root == NULL)
        fail_msg("ledger is not JSON: %s", jerr.text);
    assert_false(json_is_true(json_object_get(root, "truncated")));
    txns = json_incref(json_object_get(root, "transactions"));
    json_decref(root);
    assert_true(json_is_array(txns));
    return txns;
}

void testwork_wait_ledger(const struct testsim *sim, const struct testwork *w,
                          enum testwork_count what, int n)
{
    struct testwork_ledger l;
    int i;

    for (i = 0; i < 400; i++) {
        testwork_ledger(sim, &l);
        if ((what == TESTWORK_EXECUTED ? l.executed : l.attempts) >= n)
            return;
        nanosleep(&(struct timespec){ 0, 25000000L }, NULL);
    }
    if (w != NULL)
        testwork_dump_log(w);
    fail_msg("the simulator did not %s %d in 10 s",
             what == TESTWORK_EXECUTED ? "execute" : "receive", n);
}

void testwork_ledger_load(const struct testsim *sim, PGconn *conn)
{
    json_t *txns = ledger_transactions(sim);
    json_t *t;
    size_t i;

    testdb_exec_ok(conn, "drop table if exists sim_ledger");
    testdb_exec_ok(conn, "create temporary table sim_ledger (txn text"
                         " collate \"C\" primary key, executed int not null,"
                         " status text, amount bigint, callbacks_acked int)");
    json_array_foreach(txns, i, t)
    {
        char executed[16];
        char amount[24];
        char acked[16];
        const char *p[5];
        PGresult *res;

        snprintf(executed, sizeof(executed), "%d",
                 (int)json_integer_value(json_object_get(t, "executed")));
        snprintf(amount, sizeof(amount), "%lld",
                 (long long)json_integer_value(json_object_get(t, "amount")));
        snprintf(
            acked, sizeof(acked), "%d",
            (int)json_integer_value(json_object_get(t, "callbacks_acked")));
        p[0] = json_string_value(json_object_get(t, "id"));
        p[1] = executed;
        p[2] = json_string_value(json_object_get(t, "status"));
        p[3] = amount;
        p[4] = acked;
        res = PQexecParams(conn,
                           "insert into sim_ledger values ($1, $2, $3, $4,"
                           " $5)",
                           5, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            fail_msg("sim_ledger: %s", PQerrorMessage(conn));
        PQclear(res);
    }
    json_decref(txns);
}

/* An id whose money moved, or may still move (the simulator's view). */
#define PAID "l.executed > 0 and l.status <> 'Failed'"

long long testwork_assert_paid_at_most_once(PGconn *conn)
{
    long long twice = testdb_scalar(
        conn, "select count(*) from (select a.job_id from attempts a"
              " join sim_ledger l on l.txn = a.request_txn_id"
              " where " PAID " group by a.job_id"
              " having count(*) > 1) t");
    long long wrong = testdb_scalar(
        conn, "select count(*) from sim_ledger l join attempts a on"
              " a.request_txn_id = l.txn join jobs j on j.id = a.job_id"
              " where " PAID " and (j.state in ('failed',"
              " 'cancelled') or a.outcome in ('failed', 'not_executed'))");

    if (twice != 0 || wrong != 0)
        fail_msg("%lld jobs executed under two ids; %lld executed ids on"
                 " jobs or attempts recorded as not paid",
                 twice, wrong);
    return testdb_scalar(conn, "select count(distinct a.job_id) from"
                               " attempts a join sim_ledger l on l.txn ="
                               " a.request_txn_id where " PAID);
}

unsigned testwork_free_port(void)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned port;

    assert_true(fd >= 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

void testwork_ledger(const struct testsim *sim, struct testwork_ledger *l)
{
    struct buf text;
    json_error_t jerr;
    json_t *root;
    json_t *txns;
    json_t *t;
    size_t i;

    memset(l, 0, sizeof(*l));
    buf_init(&text, 256 * 1024 * 1024);
    fetch_ledger(sim, &text);
    root = json_loads(buf_str(&text), 0, &jerr);
    if (root == NULL)
        fail_msg("ledger is not JSON: %s", jerr.text);
    assert_false(json_is_true(json_object_get(root, "truncated")));
    txns = json_object_get(root, "transactions");
    assert_true(json_is_array(txns));
    json_array_foreach(txns, i, t)
    {
        int executed = (int)json_integer_value(json_object_get(t, "executed"));

        l->transactions++;
        l->executed += executed > 0;
        l->attempts += (int)json_integer_value(json_object_get(t, "attempts"));
        if (executed > l->max_executed)
            l->max_executed = executed;
    }
    json_decref(root);
    buf_cleanup(&text);
}
