/*
 * The callback receiver over HTTP against a real PostgreSQL: routes,
 * authenticity (tokens, source allowlist, basic auth), limits, what each
 * callback does to its job, that 200 never precedes the commit, and that
 * no token or phone number reaches the log.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <signal.h>
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
#include "tests/support/claim.h"
#include "tests/support/notify.h"
#include "tests/support/proc.h"
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
    unsigned port_override; /* a receiver in another process, or 0 */
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

static void start(struct fixture *fx, const char *allow, const char *basic_auth)
{
    struct callback_settings s;

    memset(&s, 0, sizeof(s));
    s.listen = "127.0.0.1:0";
    s.secret = SECRET;
    s.allow = allow;
    s.basic_auth = basic_auth;
    s.db_connections = 2;
    assert_int_equal(callback_server_start(&fx->cfg, &s, &fx->srv), PAYQ_OK);
}

static long long scalar(struct fixture *fx, const char *sql)
{
    return testdb_scalar(fx->conn, sql);
}

/* One job of kind claimed and answered "accepted": pending, id T-N-1. */
static long long pending_job(struct fixture *fx, const char *kind,
                             long long amount)
{
    struct queue_claim_opts o = testclaim_opts("w", 1);
    struct queue_result r = { .kind = QUEUE_RESULT_PENDING,
                              .sent = true,
                              .callback_timeout_s = 600 };
    enum queue_record_outcome out;
    struct queue_job job;
    int n = 0;

    testwork_seed(fx->conn, kind, 1, amount);
    o.prefix = "T"; /* ids T-N-1, as the callbacks below name them */
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
static unsigned port_of(const struct fixture *fx)
{
    return fx->port_override != 0 ? fx->port_override
                                  : callback_server_port(fx->srv);
}

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
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port_of(fx), path);
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

/* POSTs body with chunked transfer encoding; returns the status. */
static long chunked_request(struct fixture *fx, const char *path,
                            const char *body)
{
    CURL *easy = curl_easy_init();
    struct curl_slist *headers = NULL;
    struct reply r;
    char url[512];

    memset(&r, 0, sizeof(r));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s",
             callback_server_port(fx->srv), path);
    headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    assert_int_equal(curl_easy_perform(easy), CURLE_OK);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(easy);
    return r.status;
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
    snprintf(path, sizeof(path), "/cb/%s/%s", txn, strrchr(other, '/') + 1);
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
    assert_int_equal(request(fx, "/cb/", "{}", NULL, NULL).status, 404);
    assert_int_equal(request(fx, "/cb/a%20b/x", "{}", NULL, NULL).status, 404);
    assert_int_equal(request(fx, "/cb/T-1-1/x/y", "{}", NULL, NULL).status,
                     404);
    /* A callback route without its token is forbidden, not missing. */
    assert_int_equal(request(fx, "/cb/T-1-1", "{}", NULL, NULL).status, 403);
    assert_int_equal(request(fx, "/cb/T-1-1/", "{}", NULL, NULL).status, 403);
    assert_int_equal(request(fx, "/cb/deposit/", "{}", NULL, NULL).status, 403);
    assert_int_equal(request(fx, path, NULL, NULL, NULL).status, 405);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(request(fx, path, big, NULL, NULL).status, 413);
    assert_int_equal(chunked_request(fx, path, big), 413);
    assert_int_equal(scalar(fx, "select count(*) from callbacks"), 0);
}

/* A genuine callback that cannot be read is kept raw as rejected, its
 * job flagged and untouched, and answered 400. */
static void callbacks_unreadable_body_is_kept(void **state)
{
    struct fixture *fx = *state;
    char path[256];
    char txn[32];
    long long job = pending_job(fx, "pay", 1500);
    char body[300];

    start(fx, NULL, NULL);
    snprintf(txn, sizeof(txn), "T-%lld-1", job);
    pay_path(txn, path, sizeof(path));
    assert_int_equal(request(fx, path, "not json {", "text/plain", NULL).status,
                     400);
    assert_int_equal(scalar(fx, "select count(*) from callbacks where"
                                " effect = 'rejected' and body ="
                                " 'not json {'::bytea and job_id is not"
                                " null and note like '%neither%'"),
                     1);
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'pending' and needs_review"),
                     1);
    /* A payout callback without our id: kept, rejected, 400. */
    deposit_path(path, sizeof(path));
    snprintf(body, sizeof(body),
             "{\"status\":\"Successfull\","
             "\"responsecode\":\"01\"}");
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 400);
    assert_int_equal(scalar(fx, "select count(*) from callbacks where"
                                " effect = 'rejected' and endpoint ="
                                " 'deposit' and request_txn_id is null"),
                     1);
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
    assert_int_equal(
        request(fx, path, body, "application/x-www-form-urlencoded", NULL)
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
    assert_int_equal(
        request(fx, path, body, NULL, "provider:pw-basic-1").status, 200);
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
        assert_int_equal(pthread_create(&threads[i], NULL, post_thread, &p[i]),
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

/* The log file's text so far (valid until the next call). */
static const char *log_text(struct fixture *fx)
{
    static char text[65536];
    ssize_t n;
    int fd = open(fx->log_path, O_RDONLY);

    assert_true(fd >= 0);
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    assert_true(n >= 0);
    text[n] = '\0';
    return text;
}

static int occurrences(const char *text, const char *needle)
{
    int n = 0;

    while ((text = strstr(text, needle)) != NULL) {
        n++;
        text += strlen(needle);
    }
    return n;
}

/* Refusals are all counted, but warned of once a minute. */
static void callbacks_refusals_counted_and_warned_once(void **state)
{
    struct fixture *fx = *state;
    struct callback_counts counts;
    char path[256];
    int i;

    start(fx, NULL, NULL);
    for (i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "/cb/T-%d-1/wrong%d", i + 1, i);
        assert_int_equal(request(fx, path, "{}", NULL, NULL).status, 403);
    }
    assert_int_equal(request(fx, "/nope", "{}", NULL, NULL).status, 404);
    callback_server_counts(fx->srv, &counts);
    assert_int_equal(counts.refused, 5);
    assert_int_equal(counts.bad, 1);
    assert_int_equal(counts.stored, 0);
    assert_int_equal(occurrences(log_text(fx), "callbacks refused"), 1);
    assert_int_equal(scalar(fx, "select count(*) from callbacks"), 0);
}

/* When the callback cannot be stored: 503, so the provider sends it
 * again; once storing works, the resend is applied. */
static void callbacks_unstorable_answers_503(void **state)
{
    struct fixture *fx = *state;
    struct callback_counts counts;
    char path[256];
    char body[512];
    char txn[32];
    long long job = pending_job(fx, "pay", 1500);

    start(fx, NULL, NULL);
    snprintf(txn, sizeof(txn), "T-%lld-1", job);
    pay_path(txn, path, sizeof(path));
    pay_body(txn, "Successfull", "01", body, sizeof(body));
    testdb_exec_ok(fx->conn, "alter table callbacks add constraint"
                             " test_refuse_all check (false) not valid");
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 503);
    assert_int_equal(scalar(fx, "select count(*) from jobs"
                                " where state = 'pending'"),
                     1);
    testdb_exec_ok(fx->conn, "alter table callbacks drop constraint"
                             " test_refuse_all");
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 200);
    assert_int_equal(scalar(fx, "select count(*) from jobs"
                                " where state = 'succeeded'"),
                     1);
    callback_server_counts(fx->srv, &counts);
    assert_int_equal(counts.failed, 1);
    assert_int_equal(counts.stored, 1);
}

/* A plain TCP connection to the receiver; the caller closes it. */
static int raw_connect(struct fixture *fx)
{
    struct sockaddr_in addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)callback_server_port(fx->srv));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    return fd;
}

/* CURLE_OK, or the error, of one POST within timeout_ms. */
static CURLcode try_request(struct fixture *fx, const char *path,
                            long timeout_ms)
{
    CURL *easy = curl_easy_init();
    struct reply r;
    char url[512];
    CURLcode rc;

    memset(&r, 0, sizeof(r));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s",
             callback_server_port(fx->srv), path);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "{}");
    rc = curl_easy_perform(easy);
    curl_easy_cleanup(easy);
    return rc;
}

/* Past the client limit a connection waits, unserved; an idle client is
 * dropped after the client timeout. */
static void callbacks_client_limit_and_timeout(void **state)
{
    struct fixture *fx = *state;
    struct callback_settings s;
    struct timespec pause = { 2, 200 * 1000 * 1000 };
    char byte;
    int held;

    memset(&s, 0, sizeof(s));
    s.listen = "127.0.0.1:0";
    s.secret = SECRET;
    s.db_connections = 1;
    s.max_clients = 1;
    s.client_timeout_s = 2;
    assert_int_equal(callback_server_start(&fx->cfg, &s, &fx->srv), PAYQ_OK);
    held = raw_connect(fx);
    assert_int_equal(write(held, "POST", 4), 4);
    /* At the limit the daemon stops accepting: the next client waits. */
    assert_int_equal(try_request(fx, "/nope", 500L), CURLE_OPERATION_TIMEDOUT);
    /* The idle half request is closed by the server within ~2 s. */
    nanosleep(&pause, NULL);
    assert_int_equal(read(held, &byte, 1), 0);
    close(held);
    assert_int_equal(try_request(fx, "/nope", 5000L), CURLE_OK);
}

/* One job of kind in state (running, pending, succeeded, failed or
 * unknown), id T-N-1; *claimed, if given, is the worker's view of it. */
static long long job_at(struct fixture *fx, const char *kind, const char *state,
                        long long amount, struct queue_job *claimed)
{
    struct queue_claim_opts o = testclaim_opts("w", 1);
    struct queue_result r = { .kind = QUEUE_RESULT_PENDING,
                              .sent = true,
                              .callback_timeout_s = 600 };
    enum queue_record_outcome out;
    struct queue_job job;
    int n = 0;

    testwork_seed(fx->conn, kind, 1, amount);
    o.prefix = "T"; /* ids T-N-1, as the callbacks below name them */
    assert_int_equal(queue_claim(fx->conn, &o, &job, &n), PAYQ_OK);
    assert_int_equal(n, 1);
    if (claimed != NULL)
        *claimed = job;
    if (strcmp(state, "running") == 0)
        return job.id;
    if (strcmp(state, "succeeded") == 0) {
        r.kind = QUEUE_RESULT_SUCCEEDED;
        r.code = "01";
    } else if (strcmp(state, "failed") == 0) {
        r.kind = QUEUE_RESULT_FAILED;
        r.code = "1002";
    }
    assert_int_equal(queue_record(fx->conn, "w", &job, &r, &out), PAYQ_OK);
    assert_int_equal(out, QUEUE_RECORDED);
    if (strcmp(state, "unknown") == 0) {
        testdb_exec_ok(fx->conn, "update jobs set callback_deadline ="
                                 " now() - interval '1 second' where"
                                 " state = 'pending'");
        assert_int_equal(queue_expire_pending(fx->conn, &n), PAYQ_OK);
        assert_int_equal(n, 1);
    }
    return job.id;
}

/* Posts a pay callback for job's first attempt; returns the status. */
static long post_pay(struct fixture *fx, long long job, const char *status,
                     const char *code, const char *extra)
{
    char path[256];
    char body[600];
    char txn[32];

    snprintf(txn, sizeof(txn), "T-%lld-1", job);
    pay_path(txn, path, sizeof(path));
    snprintf(body, sizeof(body),
             "{\"status\":\"%s\",\"requesttransactionid\":\"%s\","
             "\"transactionid\":\"6004994884\",\"responsecode\":\"%s\""
             "%s}",
             status, txn, code, extra != NULL ? extra : "");
    return request(fx, path, body, NULL, NULL).status;
}

static const char *state_of(struct fixture *fx, long long job)
{
    static char value[64];
    char sql[160];
    PGresult *res;

    snprintf(sql, sizeof(sql),
             "select state || case when needs_review then ' review'"
             " else '' end from jobs where id = %lld",
             job);
    res = PQexec(fx->conn, sql);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    snprintf(value, sizeof(value), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return value;
}

/* The reconciliation rules, each over HTTP: what contradicts a final
 * state is kept and flagged, never applied. */
static void callbacks_http_conflicts_are_flagged(void **state)
{
    struct fixture *fx = *state;
    long long failed = job_at(fx, "pay", "failed", 1500, NULL);
    long long succeeded = job_at(fx, "pay", "succeeded", 1500, NULL);
    long long pending = job_at(fx, "pay", "pending", 1500, NULL);

    start(fx, NULL, NULL);
    assert_int_equal(post_pay(fx, failed, "Successfull", "01", NULL), 200);
    assert_string_equal(state_of(fx, failed), "failed review");
    assert_int_equal(post_pay(fx, succeeded, "Failed", "1002", NULL), 200);
    assert_string_equal(state_of(fx, succeeded), "succeeded review");
    assert_int_equal(
        post_pay(fx, pending, "Successfull", "01", ",\"amount\":99999"), 200);
    assert_string_equal(state_of(fx, pending), "pending review");
    assert_int_equal(scalar(fx, "select count(*) from callbacks"
                                " where effect = 'conflict'"),
                     3);
}

/* A callback that beats the worker's record of its request applies; the
 * worker's later write changes nothing. A late callback settles an
 * unknown job. A body naming another id than its URL is rejected. */
static void callbacks_http_races_and_late(void **state)
{
    struct fixture *fx = *state;
    struct queue_job job;
    long long running = job_at(fx, "pay", "running", 1500, &job);
    long long unknown = job_at(fx, "pay", "unknown", 1500, NULL);
    long long pending = job_at(fx, "pay", "pending", 1500, NULL);
    struct queue_result r = { .kind = QUEUE_RESULT_PENDING,
                              .sent = true,
                              .callback_timeout_s = 600 };
    enum queue_record_outcome out;
    char path[256];
    char body[400];
    char txn[32];

    start(fx, NULL, NULL);
    assert_int_equal(post_pay(fx, running, "Successfull", "01", NULL), 200);
    assert_string_equal(state_of(fx, running), "succeeded");
    assert_int_equal(queue_record(fx->conn, "w", &job, &r, &out), PAYQ_OK);
    assert_int_equal(out, QUEUE_RECORD_LOST);
    assert_string_equal(state_of(fx, running), "succeeded");

    assert_int_equal(post_pay(fx, unknown, "Failed", "1002", NULL), 200);
    assert_string_equal(state_of(fx, unknown), "failed");

    snprintf(txn, sizeof(txn), "T-%lld-1", pending);
    pay_path(txn, path, sizeof(path));
    pay_body("T-424242-1", "Successfull", "01", body, sizeof(body));
    assert_int_equal(request(fx, path, body, NULL, NULL).status, 200);
    assert_string_equal(state_of(fx, pending), "pending");
    assert_int_equal(scalar(fx, "select count(*) from callbacks"
                                " where effect = 'rejected'"),
                     1);
}

/* /healthz while it serves; /readyz once a database connection is open,
 * and 503 while none can be. */
static void callbacks_health_routes(void **state)
{
    struct fixture *fx = *state;
    struct timespec tick = { 0, 50 * 1000 * 1000 };
    char path[256];
    char body[512];
    long status = 0;
    int i;

    start(fx, NULL, NULL);
    assert_int_equal(request(fx, "/healthz", NULL, NULL, NULL).status, 200);
    for (i = 0; i < 100 && status != 200; i++) {
        status = request(fx, "/readyz", NULL, NULL, NULL).status;
        if (status != 200)
            nanosleep(&tick, NULL);
    }
    assert_int_equal(status, 200);
    callback_server_stop(fx->srv);
    fx->srv = NULL;

    /* No database to be had: alive, but not ready; callbacks get 503,
     * and the outage is one warning, not one per callback. */
    fx->cfg.database_url = "host=/nonexistent-payq-dir dbname=none"
                           " connect_timeout=1";
    start(fx, NULL, NULL);
    assert_int_equal(request(fx, "/healthz", NULL, NULL, NULL).status, 200);
    assert_int_equal(request(fx, "/readyz", NULL, NULL, NULL).status, 503);
    pay_path("T-1-1", path, sizeof(path));
    pay_body("T-1-1", "Successfull", "01", body, sizeof(body));
    for (i = 0; i < 3; i++)
        assert_int_equal(request(fx, path, body, NULL, NULL).status, 503);
    assert_int_equal(occurrences(log_text(fx), "callback receiver cannot"
                                               " reach the database"),
                     1);
}

/* The file's text (valid until the next call); "" if unreadable. */
static const char *file_text(const char *path)
{
    static char text[65536];
    ssize_t n = -1;
    int fd = open(path, O_RDONLY);

    if (fd >= 0) {
        n = read(fd, text, sizeof(text) - 1);
        close(fd);
    }
    text[n > 0 ? n : 0] = '\0';
    return text;
}

/* The port `payq callbacks` logged, waiting up to 10 s; 0 if none. */
static unsigned logged_port(const char *log_path)
{
    struct timespec tick = { 0, 50 * 1000 * 1000 };
    unsigned port = 0;
    int i;

    for (i = 0; i < 200 && port == 0; i++) {
        const char *line =
            strstr(file_text(log_path), "msg=\"callback receiver listening\"");
        const char *at = line != NULL ? strstr(line, "port=") : NULL;

        if (at == NULL || sscanf(at, "port=%u", &port) != 1)
            nanosleep(&tick, NULL);
    }
    return port;
}

/* payq callbacks, the receiver alone: its usage errors, --print-urls, a
 * run under systemd's eye (READY, WATCHDOG, STOPPING) that stores a
 * callback and stops cleanly on SIGTERM, and a wait for a database. */
static void callbacks_command_serves_and_stops(void **state)
{
    struct fixture *fx = *state;
    char db_env[600];
    char socket_env[128];
    const char *env[] = { db_env,
                          "PAYQ_CALLBACK_SECRET=" SECRET,
                          "PAYQ_CALLBACK_URL=https://cb.example/payq",
                          socket_env,
                          "WATCHDOG_USEC=600000",
                          NULL };
    const char *away_env[] = {
        "DATABASE_URL=host=/nonexistent-payq-dir dbname=none",
        "PAYQ_CALLBACK_SECRET=" SECRET, NULL
    };
    struct testnotify ns;
    const char *no_secret[] = { "PAYQ_CALLBACK_SECRET", NULL };
    const char *urls[] = { proc_payq_path(), "callbacks", "--print-urls",
                           NULL };
    const char *bad[] = { proc_payq_path(), "callbacks", "--connections", "0",
                          NULL };
    const char *serve[] = { proc_payq_path(), "callbacks", "--listen",
                            "127.0.0.1:0", NULL };
    char token[CALLBACK_TOKEN_LEN + 1];
    char log_path[] = "/tmp/payq-test-cbcmd.XXXXXX";
    struct proc_result res;
    long long job = pending_job(fx, "pay", 1500);
    int pid;

    snprintf(db_env, sizeof(db_env), "DATABASE_URL=%s", fx->db.conninfo);
    snprintf(socket_env, sizeof(socket_env), "NOTIFY_SOCKET=");
    proc_run(urls, env, &res);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(callback_token_deposit(SECRET, token), PAYQ_OK);
    assert_non_null(strstr(buf_str(&res.out), "https://cb.example/payq"
                                              "/cb/deposit/"));
    assert_non_null(strstr(buf_str(&res.out), token));
    proc_result_cleanup(&res);
    proc_run(bad, env, &res);
    assert_int_equal(res.exit_code, 64);
    proc_result_cleanup(&res);
    proc_run(serve, no_secret, &res);
    assert_int_equal(res.exit_code, 78);
    proc_result_cleanup(&res);

    assert_true(mkstemp(log_path) >= 0);
    testnotify_open(&ns);
    snprintf(socket_env, sizeof(socket_env), "NOTIFY_SOCKET=%s", ns.path);
    pid = proc_start(serve, env, log_path);
    testnotify_expect(&ns, "READY=1");
    fx->port_override = logged_port(log_path);
    assert_true(fx->port_override > 0);
    assert_int_equal(post_pay(fx, job, "Successfull", "01", NULL), 200);
    assert_string_equal(state_of(fx, job), "succeeded");
    testnotify_expect(&ns, "WATCHDOG=1");
    assert_int_equal(kill(pid, SIGTERM), 0);
    testnotify_expect(&ns, "STOPPING=1");
    assert_int_equal(proc_wait(pid), 0);
    assert_non_null(strstr(file_text(log_path), "stored=1"));
    testnotify_close(&ns);

    /* A database away at start is waited for; a signal stops it cleanly. */
    pid = proc_start(serve, away_env, log_path);
    sleep(2);
    assert_int_equal(kill(pid, 0), 0);
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(proc_wait(pid), 0);
    assert_non_null(
        strstr(file_text(log_path), "stopped while waiting for the database"));
    unlink(log_path);
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
    /* A body carrying a phone number, with a status that gets logged. */
    snprintf(body, sizeof(body),
             "{\"status\":\"Weird\",\"requesttransactionid\":\"%s\","
             "\"responsecode\":\"99\",\"phone\":\"250788123456\","
             "\"mobilephone\":\"0788123456\"}",
             txn);
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
    assert_non_null(strstr(text, "callback stored but not applied"));
    assert_null(strstr(text, "250780000001"));
    assert_null(strstr(text, "788123456"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(callbacks_success_applies_once),
        T(callbacks_refuse_wrong_tokens),
        T(callbacks_answer_bad_requests),
        T(callbacks_unreadable_body_is_kept),
        T(callbacks_refusals_counted_and_warned_once),
        T(callbacks_unstorable_answers_503),
        T(callbacks_client_limit_and_timeout),
        T(callbacks_http_conflicts_are_flagged),
        T(callbacks_http_races_and_late),
        T(callbacks_command_serves_and_stops),
        T(callbacks_health_routes),
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
