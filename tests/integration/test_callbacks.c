/*
 * The callback receiver over HTTP against a real PostgreSQL: routes,
 * authenticity (tokens, source allowlist, basic auth), limits, what each
 * callback does to its job, that 200 never precedes the commit, and that
 * no token or phone number reaches the log.
 */
#include <fcntl.h>
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
#include <curl/curl.h>

#include "callback/parse.h"
#include "callback/server.h"
#include "callback/token.h"
#include "core/buf.h"
#include "core/log.h"
#include "queue/claim.h"
#include "tests/support/testdb.h"
#include "tests/support/work.h"

#define SECRET "callback-test-secret-42-abcdefgh"

struct fixture {
    struct testdb db;
    PGconn *conn;
    struct config cfg;
    struct callback_server *srv;
    char log_path[64];
    int log_fd;
};

/* A reply: status and body. */
struct reply {
    long status;
    char body[512];
};

static int fx_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    testdb_create_migrated(&fx->db);
    fx->conn = testdb_connect(&fx->db);
    config_init(&fx->cfg);
    fx->cfg.database_url = fx->db.conninfo;
    snprintf(fx->log_path, sizeof(fx->log_path),
             "/tmp/payq-test-cb-log.XXXXXX");
    fx->log_fd = mkstemp(fx->log_path);
    assert_true(fx->log_fd >= 0);
    log_init(fx->log_fd, LOG_LEVEL_DEBUG);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *fx = *state;

    callback_server_stop(fx->srv);
    log_init(2, LOG_LEVEL_ERROR);
    close(fx->log_fd);
    unlink(fx->log_path);
    PQfinish(fx->conn);
    testdb_drop(&fx->db);
    free(fx);
    return 0;
}

static void start(struct fixture *fx, const char *allow,
                  const char *basic_auth)
{
    struct callback_settings s;

    memset(&s, 0, sizeof(s));
    s.listen = "127.0.0.1:0";
    s.secret = SECRET;
    s.allow = allow;
    s.basic_auth = basic_auth;
    s.db_connections = 2;
    assert_int_equal(callback_server_start(&fx->cfg, &s, &fx->srv),
                     PAYQ_OK);
}

static long long scalar(struct fixture *fx, const char *sql)
{
    return testdb_scalar(fx->conn, sql);
}

/* One job of kind claimed and answered "accepted": pending, id T-N-1. */
static long long pending_job(struct fixture *fx, const char *kind,
                             long long amount)
{
    struct queue_claim_opts o = { .owner = "w", .prefix = "T", .lease_s = 60,
                                  .max = 1, .pay = true, .deposit = true };
    struct queue_result r = { .kind = QUEUE_RESULT_PENDING, .sent = true,
                              .callback_timeout_s = 600 };
    enum queue_record_outcome out;
    struct queue_job job;
    int n = 0;

    testwork_seed(fx->conn, kind, 1, amount);
    assert_int_equal(queue_claim(fx->conn, &o, &job, &n), PAYQ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(queue_record(fx->conn, "w", &job, &r, &out), PAYQ_OK);
    assert_int_equal(out, QUEUE_RECORDED);
    return job.id;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct reply *r = arg;
    size_t have = strlen(r->body);
    size_t take = size * n;

    if (take > sizeof(r->body) - 1 - have)
        take = sizeof(r->body) - 1 - have;
    memcpy(r->body + have, data, take);
    r->body[have + take] = '\0';
    return size * n;
}

/* Sends body (NULL: a GET) to path; content_type NULL: JSON. */
static struct reply request(struct fixture *fx, const char *path,
                           const char *body, const char *content_type,
                           const char *userpwd)
{
    CURL *easy = curl_easy_init();
    struct curl_slist *headers = NULL;
    struct reply r;
    char url[512];
    char type[128];

    memset(&r, 0, sizeof(r));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s",
             callback_server_port(fx->srv), path);
    snprintf(type, sizeof(type), "Content-Type: %s",
             content_type != NULL ? content_type : "application/json");
    headers = curl_slist_append(headers, type);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 10L);
    if (userpwd != NULL)
        curl_easy_setopt(easy, CURLOPT_USERPWD, userpwd);
    if (body != NULL)
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    assert_int_equal(curl_easy_perform(easy), CURLE_OK);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(easy);
    return r;
}

static void pay_path(const char *txn, char *out, size_t size)
{
    char token[CALLBACK_TOKEN_LEN + 1];

    assert_int_equal(callback_token_pay(SECRET, txn, token), PAYQ_OK);
    snprintf(out, size, "/cb/%s/%s", txn, token);
}

static void deposit_path(char *out, size_t size)
{
    char token[CALLBACK_TOKEN_LEN + 1];

    assert_int_equal(callback_token_deposit(SECRET, token), PAYQ_OK);
    snprintf(out, size, "/cb/deposit/%s", token);
}

/* The reference's pay callback, for txn, with status and code. */
static void pay_body(const char *txn, const char *status, const char *code,
                     char *out, size_t size)
{
    snprintf(out, size,
             "{\"status\":\"%s\",\"requesttransactionid\":\"%s\","
             "\"transactionid\":\"6004994884\",\"responsecode\":\"%s\","
             "\"statusdesc\":\"done\",\"referenceno\":\"312333883\"}",
             status, txn, code);
}

static void callbacks_success_applies_once(void **state)
{
    struct fixture *fx = *state;
    char path[256];
    char body[512];
    struct reply r;
    long long job = pending_job(fx, "pay", 1500);
    char txn[32];

    start(fx, NULL, NULL);
    snprintf(txn, sizeof(txn), "T-%lld-1", job);
    pay_path(txn, path, sizeof(path));
    pay_body(txn, "Successfull", "01", body, sizeof(body));
    r = request(fx, path, body, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"message\":\"success\",\"success\":"
                                   "true,\"request_id\":\""));
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'succeeded' and provider_txn_id ="
                                " '6004994884'"),
                     1);
    assert_int_equal(scalar(fx, "select count(*) from callbacks where effect"
                                " = 'applied' and source_addr ="
                                " '127.0.0.1' and body like '%Successfull%'"),
                     1);
    /* The same callback again: 200, stored, no change. */
    r = request(fx, path, body, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(scalar(fx, "select count(*) from callbacks"
                                " where effect = 'duplicate'"),
                     1);
}

static void callbacks_refuse_wrong_tokens(void **state)
{
    struct fixture *fx = *state;
    char path[256];
    char body[512];
    char other[256];
    long long job = pending_job(fx, "pay", 1500);
    char txn[32];

    start(fx, NULL, NULL);
    snprintf(txn, sizeof(txn), "T-%lld-1", job);
    pay_body(txn, "Successfull", "01", body, sizeof(body));
    /* Another id's valid token does not open this id. */
    pay_path("T-999-1", other, sizeof(other));
    snprintf(path, sizeof(path), "/cb/%s/%s", txn,
             strrchr(other, '/') + 1);
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 403);
    snprintf(path, sizeof(path), "/cb/%s/short", txn);
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 403);
    snprintf(path, sizeof(path), "/cb/deposit/%s", strrchr(other, '/') + 1);
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 403);
    assert_int_equal(scalar(fx, "select count(*) from callbacks"), 0);
    assert_int_equal(scalar(fx, "select count(*) from jobs"
                                " where state = 'pending'"),
                     1);
}

static void callbacks_answer_bad_requests(void **state)
{
    struct fixture *fx = *state;
    char path[256];
    char big[CALLBACK_BODY_MAX + 2];

    start(fx, NULL, NULL);
    pay_path("T-1-1", path, sizeof(path));
    assert_int_equal(request(fx, "/nope", "{}", NULL, NULL).status, 404);
    assert_int_equal(request(fx, "/cb/T-1-1", "{}", NULL, NULL).status,
                     404);
    assert_int_equal(request(fx, "/cb/a%20b/x", "{}", NULL, NULL).status,
                     404);
    assert_int_equal(request(fx, path, NULL, NULL, NULL).status, 405);
    assert_int_equal(request(fx, path, "not json {", "text/plain", NULL)
                         .status,
                     400);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(request(fx, path, big, NULL, NULL).status, 413);
    assert_int_equal(scalar(fx, "select count(*) from callbacks"), 0);
}

static void callbacks_unmatched_and_wrapped_and_form(void **state)
{
    struct fixture *fx = *state;
    char path[256];
    char body[600];
    char inner[512];
    long long job = pending_job(fx, "pay", 1500);
    char txn[32];

    start(fx, NULL, NULL);
    pay_path("T-777-1", path, sizeof(path));
    pay_body("T-777-1", "Successfull", "01", body, sizeof(body));
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 200);
    assert_int_equal(scalar(fx, "select count(*) from callbacks"
                                " where effect = 'unmatched'"),
                     1);
    snprintf(txn, sizeof(txn), "T-%lld-1", job);
    pay_path(txn, path, sizeof(path));
    pay_body(txn, "Successfull", "01", inner, sizeof(inner));
    snprintf(body, sizeof(body), "{\"jsonpayload\":%s}", inner);
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 200);
    assert_int_equal(scalar(fx, "select count(*) from jobs"
                                " where state = 'succeeded'"),
                     1);
    job = pending_job(fx, "pay", 2500);
    snprintf(txn, sizeof(txn), "T-%lld-1", job);
    pay_path(txn, path, sizeof(path));
    snprintf(body, sizeof(body),
             "status=Failed&requesttransactionid=%s&responsecode=1005"
             "&statusdesc=Insufficient+funds",
             txn);
    assert_int_equal(request(fx, path, body,
                             "application/x-www-form-urlencoded", NULL)
                         .status,
                     200);
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'failed' and last_code = '1005'"),
                     1);
}

static void callbacks_unknown_status_never_succeeds(void **state)
{
    struct fixture *fx = *state;
    char path[256];
    char body[512];
    long long job = pending_job(fx, "pay", 1500);
    char txn[32];

    start(fx, NULL, NULL);
    snprintf(txn, sizeof(txn), "T-%lld-1", job);
    pay_path(txn, path, sizeof(path));
    pay_body(txn, "Completed", "77", body, sizeof(body));
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 200);
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'pending' and needs_review"),
                     1);
    assert_int_equal(scalar(fx, "select count(*) from callbacks"
                                " where effect = 'unknown_status'"),
                     1);
}

static void callbacks_deposit_route(void **state)
{
    struct fixture *fx = *state;
    char path[256];
    char body[512];
    long long job = pending_job(fx, "deposit", 3000);

    start(fx, NULL, NULL);
    deposit_path(path, sizeof(path));
    snprintf(body, sizeof(body),
             "{\"status\":\"Successfull\",\"requesttransactionid\":"
             "\"req_66b07f35025c42\",\"transactionid\":\"T-%lld-1\","
             "\"responsecode\":\"01\",\"statusdesc\":\"Deposit processed"
             " successfully\",\"referenceno\":\"INTREF202506160001\"}",
             job);
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 200);
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'succeeded' and kind = 'deposit'"),
                     1);
}

static void callbacks_source_allowlist_and_basic_auth(void **state)
{
    struct fixture *fx = *state;
    char path[256];
    char body[512];
    long long job = pending_job(fx, "pay", 1500);
    char txn[32];

    snprintf(txn, sizeof(txn), "T-%lld-1", job);
    pay_path(txn, path, sizeof(path));
    pay_body(txn, "Successfull", "01", body, sizeof(body));
    start(fx, "10.0.0.0/8", NULL);
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 403);
    callback_server_stop(fx->srv);
    start(fx, "10.0.0.0/8,127.0.0.0/8", "provider:pw-basic-1");
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 401);
    assert_int_equal(request(fx, path, body, NULL, "provider:wrong").status,
                     401);
    assert_int_equal(scalar(fx, "select count(*) from callbacks"), 0);
    assert_int_equal(request(fx, path, body, NULL, "provider:pw-basic-1")
                         .status,
                     200);
    assert_int_equal(scalar(fx, "select count(*) from callbacks"), 1);
}

struct posted {
    struct fixture *fx;
    const char *path;
    const char *body;
    struct reply reply;
};

static void *post_thread(void *arg)
{
    struct posted *p = arg;

    p->reply = request(p->fx, p->path, p->body, NULL, NULL);
    return NULL;
}

/* While the commit cannot happen, no answer: then 200, and the row. */
static void callbacks_answer_only_after_commit(void **state)
{
    struct fixture *fx = *state;
    char path[256];
    char body[512];
    long long job = pending_job(fx, "pay", 1500);
    struct posted p = { .fx = fx, .path = path, .body = body };
    PGconn *blocker = testdb_connect(&fx->db);
    struct timespec wait = { 0, 500 * 1000 * 1000 };
    pthread_t thread;
    char txn[32];

    start(fx, NULL, NULL);
    snprintf(txn, sizeof(txn), "T-%lld-1", job);
    pay_path(txn, path, sizeof(path));
    pay_body(txn, "Successfull", "01", body, sizeof(body));
    testdb_exec_ok(blocker, "begin");
    testdb_exec_ok(blocker, "lock table callbacks in exclusive mode");
    assert_int_equal(pthread_create(&thread, NULL, post_thread, &p), 0);
    nanosleep(&wait, NULL);
    assert_int_equal(p.reply.status, 0); /* still waiting */
    testdb_exec_ok(blocker, "commit");
    pthread_join(thread, NULL);
    assert_int_equal(p.reply.status, 200);
    assert_int_equal(scalar(fx, "select count(*) from callbacks"), 1);
    PQfinish(blocker);
}

/* Many at once from many connections: each stored once, all 200. */
static void callbacks_concurrent_posts_group_commit(void **state)
{
    enum { JOBS = 40 };
    struct fixture *fx = *state;
    static char paths[JOBS][256];
    static char bodies[JOBS][512];
    struct posted p[JOBS];
    pthread_t threads[JOBS];
    char txn[32];
    int i;

    for (i = 0; i < JOBS; i++) {
        long long job = pending_job(fx, "pay", 1000 + i);

        snprintf(txn, sizeof(txn), "T-%lld-1", job);
        pay_path(txn, paths[i], sizeof(paths[i]));
        pay_body(txn, "Successfull", "01", bodies[i], sizeof(bodies[i]));
    }
    start(fx, NULL, NULL);
    for (i = 0; i < JOBS; i++) {
        p[i] = (struct posted){ fx, paths[i], bodies[i], { 0, "" } };
        assert_int_equal(pthread_create(&threads[i], NULL, post_thread,
                                        &p[i]),
                         0);
    }
    for (i = 0; i < JOBS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(p[i].reply.status, 200);
    }
    assert_int_equal(scalar(fx, "select count(*) from jobs"
                                " where state = 'succeeded'"),
                     JOBS);
    assert_int_equal(scalar(fx, "select count(distinct id) from callbacks"
                                " where effect = 'applied'"),
                     JOBS);
}

/* Tokens, the secret and full phone numbers never reach the log. */
static void callbacks_log_no_secrets(void **state)
{
    struct fixture *fx = *state;
    char path[256];
    char body[512];
    char text[65536];
    char wrong[300];
    long long job = pending_job(fx, "pay", 1500);
    char txn[32];
    ssize_t n;
    int fd;

    start(fx, NULL, NULL);
    snprintf(txn, sizeof(txn), "T-%lld-1", job);
    pay_path(txn, path, sizeof(path));
    pay_body(txn, "Weird", "99", body, sizeof(body));
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 200);
    snprintf(wrong, sizeof(wrong), "/cb/%s/AAAAwrongtokenAAAA", txn);
    assert_int_equal(request(fx, wrong, body, NULL, NULL).status, 403);
    callback_server_stop(fx->srv);
    fx->srv = NULL;
    fd = open(fx->log_path, O_RDONLY);
    assert_true(fd >= 0);
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    assert_true(n > 0);
    text[n] = '\0';
    assert_non_null(strstr(text, "callbacks refused"));
    assert_null(strstr(text, strrchr(path, '/') + 1));
    assert_null(strstr(text, "AAAAwrongtokenAAAA"));
    assert_null(strstr(text, SECRET));
    assert_null(strstr(text, "250780000001"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(callbacks_success_applies_once),
        T(callbacks_refuse_wrong_tokens),
        T(callbacks_answer_bad_requests),
        T(callbacks_unmatched_and_wrapped_and_form),
        T(callbacks_unknown_status_never_succeeds),
        T(callbacks_deposit_route),
        T(callbacks_source_allowlist_and_basic_auth),
        T(callbacks_answer_only_after_commit),
        T(callbacks_concurrent_posts_group_commit),
        T(callbacks_log_no_secrets),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (getenv("PAYQ_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PAYQ_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
