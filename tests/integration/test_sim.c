/*
 * Black-box tests of build/payq-sim: every documented answer with JSON
 * and form bodies, credentials, missing fields, amount and phone rules,
 * duplicates, the float, the balance, callbacks with retries, each fault
 * flag with a fixed seed, the admin ledger, and a clean SIGTERM.
 *
 * Callbacks go to a small libmicrohttpd server inside this process (the
 * receiver), which can answer 500 to the first N of them.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>

#include "core/buf.h"
#include "tests/support/proc.h"
#include "tests/support/sim.h"

#define EXIT_USAGE 64
#define EXIT_CONFIG 78

/* Client timeout of ordinary requests. */
#define TIMEOUT_MS 5000

/* Callbacks the receiver keeps. */
#define RX_MAX 128

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* ---- the callback receiver ------------------------------------------ */

static struct receiver {
    struct MHD_Daemon *daemon;
    char url[64];
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* signalled for each callback */
    int fail_first;       /* answer 500 to this many callbacks */
    int count;
    char bodies[RX_MAX][1024];
} rx = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static enum MHD_Result rx_reply(struct MHD_Connection *conn, unsigned status)
{
    static const char ack[] = "{\"message\":\"success\",\"success\":true}";
    struct MHD_Response *res = MHD_create_response_from_buffer(
        strlen(ack), (void *)ack, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result result = MHD_queue_response(conn, status, res);

    MHD_destroy_response(res);
    return result;
}

static enum MHD_Result rx_handler(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *size, void **req_cls)
{
    struct buf *body = *req_cls;
    unsigned status;

    (void)cls, (void)url, (void)method, (void)version;
    if (body == NULL) {
        body = calloc(1, sizeof(*body));
        buf_init(body, 1000);
        *req_cls = body;
        return MHD_YES;
    }
    if (*size > 0) {
        if (buf_append(body, data, *size) != PAYQ_OK)
            return MHD_NO; /* callbacks are small; this one is not */
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&rx.lock);
    status = rx.count < rx.fail_first ? 500 : 200;
    if (rx.count < RX_MAX)
        snprintf(rx.bodies[rx.count], sizeof(rx.bodies[0]), "%s",
                 buf_str(body));
    rx.count++;
    pthread_cond_broadcast(&rx.cond);
    pthread_mutex_unlock(&rx.lock);
    return rx_reply(conn, status);
}

static void rx_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                    enum MHD_RequestTerminationCode why)
{
    struct buf *body = *req_cls;

    (void)cls, (void)conn, (void)why;
    if (body != NULL) {
        buf_cleanup(body);
        free(body);
    }
}

static void rx_start(void)
{
    const union MHD_DaemonInfo *info;

    rx.daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_AUTO,
        0, NULL, NULL, rx_handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, rx_done,
        NULL, MHD_OPTION_END);
    assert_non_null(rx.daemon);
    info = MHD_get_daemon_info(rx.daemon, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(rx.url, sizeof(rx.url), "http://127.0.0.1:%u/payment-status",
             (unsigned)info->port);
}

static void rx_reset(int fail_first)
{
    pthread_mutex_lock(&rx.lock);
    rx.fail_first = fail_first;
    rx.count = 0;
    pthread_mutex_unlock(&rx.lock);
}

/* Waits until n callbacks have come or timeout_ms passed; returns count. */
static int rx_wait(int n, long timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    int count;

    pthread_mutex_lock(&rx.lock);
    while (rx.count < n && now_ms() < end) {
        pthread_mutex_unlock(&rx.lock);
        sleep_ms(10);
        pthread_mutex_lock(&rx.lock);
    }
    count = rx.count;
    pthread_mutex_unlock(&rx.lock);
    return count;
}

/* Callback number i as JSON. */
static json_t *rx_body(int i)
{
    json_t *body;

    pthread_mutex_lock(&rx.lock);
    body = json_loads(rx.bodies[i], 0, NULL);
    pthread_mutex_unlock(&rx.lock);
    assert_non_null(body);
    return body;
}

/* ---- requests -------------------------------------------------------- */

struct reply {
    CURLcode rc;
    long status;
    struct buf body;
    long long elapsed_ms;
};

struct field {
    const char *name;
    const char *value; /* NULL: left out */
};

/* A request's fields, sent as JSON or as a form. */
struct form {
    struct field items[16];
    size_t n;
};

static struct testsim sim;

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
    return buf_append(ctx, data, size * n) == PAYQ_OK ? size * n : 0;
}

static void http(const char *method, unsigned port, const char *path,
                 const char *type, const char *body, size_t len,
                 long timeout_ms, struct reply *r)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    char url[256];
    char header[128];
    long long start = now_ms();

    assert_non_null(curl);
    buf_init(&r->body, 1024 * 1024);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    if (type != NULL) {
        snprintf(header, sizeof(header), "Content-Type: %s", type);
        headers = curl_slist_append(headers, header);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    }
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r->body);
    r->status = 0;
    r->rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    r->elapsed_ms = now_ms() - start;
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}

static void form_set(struct form *f, const char *name, const char *value)
{
    size_t i;

    for (i = 0; i < f->n; i++) {
        if (strcmp(f->items[i].name, name) == 0) {
            f->items[i].value = value;
            return;
        }
    }
    assert_true(f->n < sizeof(f->items) / sizeof(f->items[0]));
    f->items[f->n++] = (struct field){ name, value };
}

static void form_credentials(struct form *f)
{
    f->n = 0;
    form_set(f, "username", TESTSIM_USERNAME);
    form_set(f, "password", TESTSIM_PASSWORD);
    form_set(f, "key", TESTSIM_KEY);
}

static void form_pay(struct form *f, const char *id, const char *amount,
                     const char *phone)
{
    form_credentials(f);
    form_set(f, "phone", phone);
    form_set(f, "amount", amount);
    form_set(f, "requesttransactionid", id);
    form_set(f, "callbackurl", rx.url);
}

static void form_deposit(struct form *f, const char *id, const char *amount,
                         const char *phone)
{
    form_credentials(f);
    form_set(f, "transactionid", id);
    form_set(f, "referenceid", "REF-1");
    form_set(f, "amount", amount);
    form_set(f, "withdrawcharge", "100");
    form_set(f, "reason", "Group savings deposit");
    form_set(f, "deposit_ref_name", "Alain Serge");
    form_set(f, "mobilephone", phone);
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* JSON as Node's axios sends it: numbers as numbers. */
static char *encode_json(const struct form *f)
{
    json_t *obj = json_object();
    char *text;
    size_t i;

    for (i = 0; i < f->n; i++) {
        const struct field *it = &f->items[i];
        bool number = strcmp(it->name, "amount") == 0 ||
                      strcmp(it->name, "withdrawcharge") == 0;

        if (it->value == NULL)
            continue;
        json_object_set_new(obj, it->name,
                            number && all_digits(it->value)
                                ? json_integer(strtoll(it->value, NULL, 10))
                                : json_string(it->value));
    }
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return text;
}

/* A form as PHP's http_build_query and Python's requests send it. */
static char *encode_form(const struct form *f)
{
    struct buf b;
    char *text;
    size_t i;

    buf_init(&b, 64 * 1024);
    for (i = 0; i < f->n; i++) {
        char *name;
        char *value;

        if (f->items[i].value == NULL)
            continue;
        name = curl_easy_escape(NULL, f->items[i].name, 0);
        value = curl_easy_escape(NULL, f->items[i].value, 0);
        assert_int_equal(
            buf_appendf(&b, "%s%s=%s", b.len > 0 ? "&" : "", name, value),
            PAYQ_OK);
        curl_free(name);
        curl_free(value);
    }
    text = strdup(buf_str(&b));
    buf_cleanup(&b);
    return text;
}

static void send_form(const char *path, bool json, const struct form *f,
                      long timeout_ms, struct reply *r)
{
    char *body = json ? encode_json(f) : encode_form(f);

    http("POST", sim.port, path,
         json ? "application/json" : "application/x-www-form-urlencoded", body,
         strlen(body), timeout_ms, r);
    free(body);
}

static void post(const char *path, bool json, const struct form *f,
                 struct reply *r)
{
    send_form(path, json, f, TIMEOUT_MS, r);
}

static void reply_cleanup(struct reply *r)
{
    buf_cleanup(&r->body);
}

/* Checks the HTTP status and the exact body text. */
static void expect(struct reply *r, long status, const char *body)
{
    if (r->rc != CURLE_OK || r->status != status ||
        strcmp(buf_str(&r->body), body) != 0)
        fail_msg("expected %ld %s\n     got %ld %s (curl %d)", status, body,
                 r->status, buf_str(&r->body), (int)r->rc);
    reply_cleanup(r);
}

static void expect_pay_failed(struct reply *r, const char *id, const char *code,
                              const char *text)
{
    char body[512];

    snprintf(body, sizeof(body),
             "{\"status\":\"Failed\",\"requesttransactionid\":\"%s\","
             "\"success\":false,\"responsecode\":\"%s\","
             "\"message\":\"%s\"}",
             id, code, text);
    expect(r, 200, body);
}

static void expect_deposit_failed(struct reply *r, const char *id,
                                  const char *code, const char *text)
{
    char body[512];

    snprintf(body, sizeof(body),
             "{\"status\":\"Failed\",\"message\":\"%s\","
             "\"transactionid\":\"%s\",\"responsecode\":\"%s\","
             "\"success\":false}",
             text, id, code);
    expect(r, 200, body);
}

static void expect_error(struct reply *r, long status, const char *message)
{
    char body[256];

    snprintf(body, sizeof(body), "{\"status\":\"error\",\"message\":\"%s\"}",
             message);
    expect(r, status, body);
}

/* Checks the HTTP status only. */
static void expect_status(struct reply *r, long status)
{
    if (r->rc != CURLE_OK || r->status != status)
        fail_msg("expected %ld, got %ld %s (curl %d)", status, r->status,
                 buf_str(&r->body), (int)r->rc);
    reply_cleanup(r);
}

/* Checks a Pending answer for id; returns the provider's id. */
static long long expect_pending(struct reply *r, const char *id)
{
    json_t *json = json_loads(buf_str(&r->body), 0, NULL);
    long long provider;
    char body[512];

    if (json == NULL || r->status != 200)
        fail_msg("pay %s: %ld %s", id, r->status, buf_str(&r->body));
    provider = json_integer_value(json_object_get(json, "transactionid"));
    json_decref(json);
    snprintf(body, sizeof(body),
             "{\"status\":\"Pending\",\"requesttransactionid\":\"%s\","
             "\"success\":true,\"responsecode\":\"1000\","
             "\"transactionid\":%lld,\"message\":\"Transaction Pending\"}",
             id, provider);
    expect(r, 200, body);
    assert_true(provider > 0);
    return provider;
}

/* Pays amount from a good phone, as JSON. */
static void pay(const char *id, const char *amount, struct reply *r)
{
    struct form f;

    form_pay(&f, id, amount, "0781234567");
    post("/pay_v2", true, &f, r);
}

static const char *code_of(const struct reply *r, char *out, size_t size)
{
    json_t *json = json_loads(buf_str(&r->body), 0, NULL);
    const char *code = json_string_value(json_object_get(json, "responsecode"));

    snprintf(out, size, "%s", code != NULL ? code : "-");
    json_decref(json);
    return out;
}

/* ---- the admin ledger ------------------------------------------------ */

static json_t *admin_get(const char *query)
{
    struct reply r;
    json_t *json;
    char path[160];

    snprintf(path, sizeof(path), "/_sim/ledger%s", query);
    http("GET", sim.admin_port, path, NULL, NULL, 0, TIMEOUT_MS, &r);
    assert_int_equal(r.status, 200);
    json = json_loads(buf_str(&r.body), 0, NULL);
    assert_non_null(json);
    reply_cleanup(&r);
    return json;
}

/* id's transaction in the ledger; the caller decrefs it. */
static json_t *ledger_txn(const char *id)
{
    char query[128];
    json_t *all;
    json_t *txn;

    snprintf(query, sizeof(query), "?id=%s", id);
    all = admin_get(query);
    txn = json_array_get(json_object_get(all, "transactions"), 0);
    if (txn == NULL)
        fail_msg("%s is not in the ledger", id);
    json_incref(txn);
    json_decref(all);
    return txn;
}

static long long jint(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v))
        fail_msg("%s is not an integer", key);
    return json_integer_value(v);
}

static const char *jstr(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    if (s == NULL)
        fail_msg("%s is not a string", key);
    return s;
}

/* Checks id's executed count and status in the ledger. */
static void expect_ledger(const char *id, int executed, const char *status)
{
    json_t *txn = ledger_txn(id);

    assert_int_equal(jint(txn, "executed"), executed);
    assert_string_equal(jstr(txn, "status"), status);
    json_decref(txn);
}

static void expect_executed(const char *id, int executed)
{
    json_t *txn = ledger_txn(id);

    assert_int_equal(jint(txn, "executed"), executed);
    json_decref(txn);
}

/* The float, from the admin port. */
static long long ledger_float(void)
{
    json_t *all = admin_get("?limit=0");
    long long value = jint(json_object_get(all, "totals"), "float");

    json_decref(all);
    return value;
}

/* ---- fixtures -------------------------------------------------------- */

#define START(...)                                                             \
    testsim_start(&sim, (const char *const[]){ __VA_ARGS__, NULL })
#define START_PLAIN() testsim_start(&sim, NULL)

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rx_start();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(rx.daemon);
    curl_global_cleanup();
    return 0;
}

static int setup(void **state)
{
    (void)state;
    rx_reset(0);
    memset(&sim, 0, sizeof(sim));
    return 0;
}

static int teardown(void **state)
{
    int status = testsim_stop(&sim);

    (void)state;
    testsim_cleanup(&sim);
    return status == 0 || status == -1 ? 0 : -1;
}

/* ---- tests ----------------------------------------------------------- */

static void sim_help_lists_every_flag(void **state)
{
    static const char flags[] =
        "--listen --admin-listen --username --password --key"
        " --max-transactions --shutdown-grace-ms --log-level --min-amount"
        " --max-amount --float --seed --latency-ms --decline --http500"
        " --drop-after-execute --slow --slow-ms --duplicate-callbacks"
        " --early-callbacks --reorder-callbacks --reorder-window-ms"
        " --lose-callbacks --late-failure --callback-delay-ms"
        " --callback-retries --callback-backoff-ms --callback-timeout-ms"
        " --callback-threads --deposit-callback-url PAYQ_SIM_PASSWORD";
    const char *argv[] = { testsim_path(), "--help", NULL };
    struct proc_result res;
    const char *p;

    (void)state;
    proc_run(argv, NULL, &res);
    assert_int_equal(res.exit_code, 0);
    for (p = flags; *p != '\0'; p += strspn(p, " ")) {
        char flag[32];
        size_t n = strcspn(p, " ");

        snprintf(flag, sizeof(flag), "%.*s", (int)n, p);
        if (strstr(buf_str(&res.out), flag) == NULL)
            fail_msg("--help does not mention %s", flag);
        p += n;
    }
    proc_result_cleanup(&res);
}

static void sim_usage_errors_exit_64_or_78(void **state)
{
    static const struct {
        const char *a1, *a2, *a3, *a4;
        int exit_code;
    } cases[] = {
        { "--http500", "abc", NULL, NULL, EXIT_USAGE },
        { "--http500", "100.5", NULL, NULL, EXIT_USAGE },
        { "--http500", "0.125", NULL, NULL, EXIT_USAGE },
        { "--decline", "9999=1", NULL, NULL, EXIT_USAGE },
        { "--decline", "2400=1", NULL, NULL, EXIT_USAGE },
        { "--latency-ms", "300-100", NULL, NULL, EXIT_USAGE },
        { "--listen", "localhost:80", NULL, NULL, EXIT_USAGE },
        { "--frobnicate", NULL, NULL, NULL, EXIT_USAGE },
        { "--http500", "60", "--slow", "50", EXIT_CONFIG },
        { "--min-amount", "500", "--max-amount", "400", EXIT_CONFIG },
    };
    static const char *const no_credentials[] = { "PAYQ_SIM_USERNAME",
                                                  "PAYQ_SIM_PASSWORD",
                                                  "PAYQ_SIM_KEY", NULL };
    const char *bare[] = { testsim_path(), NULL };
    struct proc_result res;
    size_t i;

    (void)state;
    proc_run(bare, no_credentials, &res);
    assert_int_equal(res.exit_code, EXIT_CONFIG);
    proc_result_cleanup(&res);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = { testsim_path(), "--username", "u",
                               "--password",   "pw1",        "--key",
                               "key1",         cases[i].a1,  cases[i].a2,
                               cases[i].a3,    cases[i].a4,  NULL };

        proc_run(argv, NULL, &res);
        if (res.exit_code != cases[i].exit_code)
            fail_msg("case %zu (%s %s): exit %d, stderr:\n%s", i, cases[i].a1,
                     cases[i].a2 != NULL ? cases[i].a2 : "", res.exit_code,
                     buf_str(&res.err));
        proc_result_cleanup(&res);
    }
}

static void sim_pay_accepted_json_and_form(void **state)
{
    static const struct {
        const char *path;
        bool json;
        const char *id;
        const char *phone;
    } cases[] = {
        { "/pay_v2", true, "PJ-1", "0781234567" },
        { "/pay_v2", false, "PF-1", "0791234567" },
        { "/test/pay_v2", true, "PJ-2", "250721234567" },
        { "/test/pay_v2", false, "PF-2", "0731234567" },
    };
    struct reply r;
    struct form f;
    size_t i;

    (void)state;
    START_PLAIN();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        form_pay(&f, cases[i].id, "1500", cases[i].phone);
        post(cases[i].path, cases[i].json, &f, &r);
        expect_pending(&r, cases[i].id);
        expect_ledger(cases[i].id, 1, "Pending");
    }
}

static void sim_deposit_success_and_phone_forms(void **state)
{
    static const struct {
        const char *path;
        bool json;
        const char *id;
        const char *phone;
    } cases[] = {
        { "/deposit", true, "DJ-1", "0781234567" },
        { "/deposit", false, "DF-1", "781234567" },
        { "/test/deposit", true, "DJ-2", "250791234567" },
        { "/test/deposit", false, "DF-2", "0721234567" },
    };
    struct reply r;
    struct form f;
    size_t i;

    (void)state;
    START_PLAIN();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[512];
        json_t *json;

        form_deposit(&f, cases[i].id, "2500", cases[i].phone);
        post(cases[i].path, cases[i].json, &f, &r);
        json = json_loads(buf_str(&r.body), 0, NULL);
        assert_non_null(json);
        snprintf(body, sizeof(body),
                 "{\"status\":\"success\",\"message\":\"Deposit successful\","
                 "\"transactionid\":\"%s\",\"responsecode\":\"01\","
                 "\"success\":true,\"referenceno\":\"%s\"}",
                 cases[i].id, jstr(json, "referenceno"));
        assert_true(strncmp(jstr(json, "referenceno"), "INTREF", 6) == 0);
        json_decref(json);
        expect(&r, 200, body);
        expect_ledger(cases[i].id, 1, "Successfull");
    }
    /* Four deposits of 2,500 with a charge of 100 each. */
    assert_int_equal(ledger_float(), 10000000 - 4 * 2600);
}

static void sim_balance_shape_and_errors(void **state)
{
    struct reply r;
    struct form f;

    (void)state;
    START("--float", "50000");
    form_credentials(&f);
    post("/balance", true, &f, &r);
    expect(&r, 200,
           "{\"status\":\"success\",\"message\":\"Balance fetched "
           "successfully\",\"net_balance\":50000.0,\"total_net_credits\":"
           "50000.0,\"total_net_debits\":0.0,\"currency\":\"RWF\"}");

    form_deposit(&f, "BAL-1", "12400", "0781234567");
    post("/deposit", false, &f, &r);
    expect_status(&r, 200);
    form_credentials(&f);
    post("/test/balance", false, &f, &r);
    expect(&r, 200,
           "{\"status\":\"success\",\"message\":\"Balance fetched "
           "successfully\",\"net_balance\":37500.0,\"total_net_credits\":"
           "50000.0,\"total_net_debits\":12500.0,\"currency\":\"RWF\"}");

    form_set(&f, "key", NULL);
    post("/balance", true, &f, &r);
    expect_error(&r, 422, "Missing parameter: key");
    form_set(&f, "key", "wrong-key");
    post("/balance", false, &f, &r);
    expect_error(&r, 401, "Invalid API key");
    form_set(&f, "key", TESTSIM_KEY);
    form_set(&f, "password", "wrong-password");
    post("/balance", true, &f, &r);
    expect_error(&r, 401, "Invalid credentials");
}

/* One credential case: which field changes, and the answer it earns. */
struct auth_case {
    const char *field;
    const char *value; /* NULL: left out */
    const char *code;  /* NULL: HTTP 401 Unauthorized API access */
    const char *text;
};

static const struct auth_case auth_cases[] = {
    { "username", NULL, "0002", "Missing Username Information" },
    { "username", "", "0002", "Missing Username Information" },
    { "password", NULL, "0003", "Missing Password Information" },
    { "username", "someone-else", "0007", "No such user" },
    { "password", "wrong-password", "0005", "Invalid Password" },
    { "key", "wrong-key", NULL, NULL },
    { "key", NULL, NULL, NULL },
};

static void check_auth_case(const struct auth_case *c, bool deposit, bool json)
{
    struct reply r;
    struct form f;

    if (deposit)
        form_deposit(&f, "AUTH-1", "1500", "0781234567");
    else
        form_pay(&f, "AUTH-1", "1500", "0781234567");
    form_set(&f, c->field, c->value);
    post(deposit ? "/deposit" : "/pay_v2", json, &f, &r);
    if (c->code == NULL)
        expect_error(&r, 401, "Unauthorized API access");
    else if (deposit)
        expect_deposit_failed(&r, "AUTH-1", c->code, c->text);
    else
        expect_pay_failed(&r, "AUTH-1", c->code, c->text);
}

static void sim_auth_errors(void **state)
{
    struct reply r;
    size_t i;
    int variant;

    (void)state;
    START_PLAIN();
    for (i = 0; i < sizeof(auth_cases) / sizeof(auth_cases[0]); i++)
        for (variant = 0; variant < 4; variant++)
            check_auth_case(&auth_cases[i], variant & 1, variant & 2);
    /* Nothing was registered: the id is still free. */
    pay("AUTH-1", "1500", &r);
    expect_pending(&r, "AUTH-1");
}

static void sim_missing_parameters(void **state)
{
    static const char *const pay_fields[] = {
        "phone",
        "amount",
        "requesttransactionid",
        "callbackurl",
    };
    static const char *const deposit_fields[] = {
        "transactionid", "referenceid",      "amount",      "withdrawcharge",
        "reason",        "deposit_ref_name", "mobilephone",
    };
    char message[96];
    struct reply r;
    struct form f;
    size_t i;
    int json;

    (void)state;
    START_PLAIN();
    for (json = 0; json < 2; json++) {
        for (i = 0; i < sizeof(pay_fields) / sizeof(pay_fields[0]); i++) {
            form_pay(&f, "MISS-1", "1500", "0781234567");
            form_set(&f, pay_fields[i], i % 2 == 0 ? NULL : " ");
            post("/pay_v2", json, &f, &r);
            snprintf(message, sizeof(message), "Missing parameter: %s",
                     pay_fields[i]);
            expect_error(&r, 400, message);
        }
        for (i = 0; i < sizeof(deposit_fields) / sizeof(deposit_fields[0]);
             i++) {
            form_deposit(&f, "MISS-2", "1500", "0781234567");
            form_set(&f, deposit_fields[i], NULL);
            post("/deposit", json, &f, &r);
            snprintf(message, sizeof(message), "Missing parameter: %s",
                     deposit_fields[i]);
            expect_error(&r, 400, message);
        }
    }
    form_pay(&f, "MISS-3", "1500", "0781234567");
    form_set(&f, "callbackurl", "ftp://example.com/cb");
    post("/pay_v2", true, &f, &r);
    expect_error(&r, 400, "Invalid parameter: callbackurl");
}

static void sim_amount_rules(void **state)
{
    static const struct {
        const char *amount;
        const char *code; /* NULL: accepted; "400": invalid */
        const char *text;
    } cases[] = {
        { "0", "2100", "Amount should be greater than 0" },
        { "-5", "2100", "Amount should be greater than 0" },
        { "99", "2200", "Amount below minimum" },
        { "100", NULL, NULL },
        { "5000000", NULL, NULL },
        { "5000001", "2300", "Amount above maximum" },
        { "1500.00", NULL, NULL },
        { "15.5", "400", NULL },
        { "abc", "400", NULL },
    };
    char id[32];
    struct reply r;
    struct form f;
    size_t i;

    (void)state;
    START_PLAIN();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(id, sizeof(id), "AMT-%zu", i);
        form_pay(&f, id, cases[i].amount, "0781234567");
        post("/pay_v2", false, &f, &r);
        if (cases[i].code == NULL)
            expect_pending(&r, id);
        else if (strcmp(cases[i].code, "400") == 0)
            expect_error(&r, 400, "Invalid parameter: amount");
        else
            expect_pay_failed(&r, id, cases[i].code, cases[i].text);
    }
    form_deposit(&f, "AMT-D", "50", "0781234567");
    post("/deposit", true, &f, &r);
    expect_deposit_failed(&r, "AMT-D", "2200", "Amount below minimum");
    /* A refused amount registers nothing: the same id may pay later. */
    pay("AMT-0", "1000", &r);
    expect_pending(&r, "AMT-0");
}

static void sim_phone_rules(void **state)
{
    static const struct {
        bool deposit;
        const char *phone;
        const char *code; /* NULL: accepted */
    } cases[] = {
        { false, "0781234567", NULL },      { false, "250781234567", NULL },
        { false, "0791234567", NULL },      { false, "0721234567", NULL },
        { false, "0731234567", NULL },      { false, "781234567", "1200" },
        { false, "07812345", "1200" },      { false, "078123456a", "1200" },
        { false, "+250781234567", "1200" }, { false, "0741234567", "1100" },
        { false, "0581234567", "1100" },    { false, "250741234567", "1100" },
        { true, "781234567", NULL },        { true, "0781234567", NULL },
        { true, "250731234567", NULL },     { true, "741234567", "1100" },
        { true, "78123456", "1200" },       { true, "581234567", "1200" },
    };
    char id[32];
    struct reply r;
    struct form f;
    size_t i;

    (void)state;
    START_PLAIN();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *text = cases[i].code == NULL ? NULL
                           : strcmp(cases[i].code, "1200") == 0
                               ? "Invalid Number"
                               : "Number not supported on this Mobile "
                                 "money network";

        snprintf(id, sizeof(id), "PH-%zu", i);
        if (cases[i].deposit)
            form_deposit(&f, id, "1000", cases[i].phone);
        else
            form_pay(&f, id, "1000", cases[i].phone);
        post(cases[i].deposit ? "/deposit" : "/pay_v2", i % 2, &f, &r);
        if (cases[i].code != NULL && cases[i].deposit)
            expect_deposit_failed(&r, id, cases[i].code, text);
        else if (cases[i].code != NULL)
            expect_pay_failed(&r, id, cases[i].code, text);
        else if (!cases[i].deposit)
            expect_pending(&r, id);
        else
            expect_status(&r, 200);
    }
}

struct racer {
    pthread_t thread;
    struct reply reply;
};

static void *race_pay(void *arg)
{
    struct racer *racer = arg;
    struct form f;
    char *body;

    form_pay(&f, "RACE-1", "1500", "0781234567");
    body = encode_json(&f);
    http("POST", sim.port, "/pay_v2", "application/json", body, strlen(body),
         TIMEOUT_MS, &racer->reply);
    free(body);
    return NULL;
}

static void sim_duplicate_id_never_executes_twice(void **state)
{
    struct racer racers[8];
    struct reply r;
    struct form f;
    char code[8];
    int pending = 0;
    int i;

    (void)state;
    START_PLAIN();
    pay("DUP-1", "1500", &r);
    expect_pending(&r, "DUP-1");
    pay("DUP-1", "2000", &r);
    expect_pay_failed(&r, "DUP-1", "2400", "Duplicate Transaction ID");
    /* One id space: a deposit cannot reuse a pay's id. */
    form_deposit(&f, "DUP-1", "1500", "0781234567");
    post("/deposit", false, &f, &r);
    expect_deposit_failed(&r, "DUP-1", "2400", "Duplicate Transaction ID");
    expect_ledger("DUP-1", 1, "Pending");

    for (i = 0; i < 8; i++)
        assert_int_equal(
            pthread_create(&racers[i].thread, NULL, race_pay, &racers[i]), 0);
    for (i = 0; i < 8; i++) {
        pthread_join(racers[i].thread, NULL);
        assert_int_equal(racers[i].reply.status, 200);
        pending +=
            strcmp(code_of(&racers[i].reply, code, sizeof(code)), "1000") == 0;
        reply_cleanup(&racers[i].reply);
    }
    assert_int_equal(pending, 1);
    expect_ledger("RACE-1", 1, "Pending");
}

static void sim_deposit_beyond_float_answers_1005(void **state)
{
    struct reply r;
    struct form f;

    (void)state;
    START("--float", "5000", "--deposit-callback-url", rx.url);
    form_deposit(&f, "FL-1", "4900", "0781234567");
    post("/deposit", true, &f, &r);
    expect_status(&r, 200);
    assert_int_equal(ledger_float(), 0);

    form_deposit(&f, "FL-2", "100", "0781234567");
    post("/deposit", false, &f, &r);
    expect_deposit_failed(&r, "FL-2", "1005",
                          "Failed Due to Insufficient Funds");
    expect_ledger("FL-2", 0, "Failed");
    assert_int_equal(ledger_float(), 0);
    /* Only the executed deposit calls back. */
    assert_int_equal(rx_wait(1, 5000), 1);
    assert_int_equal(rx_wait(2, 300), 1);
}

static void sim_http_errors(void **state)
{
    char *big = malloc(70000);
    struct reply r;

    (void)state;
    START_PLAIN();
    http("POST", sim.port, "/pay", "application/json", "{}", 2, TIMEOUT_MS, &r);
    expect_error(&r, 404, "Route Not Found");
    http("GET", sim.port, "/pay_v2", NULL, NULL, 0, TIMEOUT_MS, &r);
    expect_error(&r, 405, "Method Not Allowed");
    http("POST", sim.port, "/pay_v2", "application/json", "{\"username\":", 12,
         TIMEOUT_MS, &r);
    expect_error(&r, 400, "Invalid JSON or malformed request");
    http("POST", sim.port, "/deposit", "multipart/form-data; boundary=x",
         "--x--", 5, TIMEOUT_MS, &r);
    expect_error(&r, 400, "Invalid JSON or malformed request");

    memset(big, 'a', 70000);
    http("POST", sim.port, "/pay_v2", "application/x-www-form-urlencoded", big,
         70000, TIMEOUT_MS, &r);
    expect_error(&r, 413, "Request body too large");
    /* Exactly 64 KiB is within the cap (and then malformed). */
    http("POST", sim.port, "/pay_v2", "application/x-www-form-urlencoded", big,
         64 * 1024, TIMEOUT_MS, &r);
    expect_error(&r, 400, "Invalid JSON or malformed request");
    free(big);
}

static void sim_callback_delivered_with_retries(void **state)
{
    struct reply r;
    long long provider;
    char body[512];
    json_t *txn;
    json_t *cb;
    int i;

    (void)state;
    rx_reset(2);
    START("--callback-delay-ms", "20", "--callback-backoff-ms", "50");
    pay("CB-1", "1500", &r);
    provider = expect_pending(&r, "CB-1");
    assert_int_equal(rx_wait(3, 5000), 3);
    sleep_ms(100);
    txn = ledger_txn("CB-1");
    snprintf(body, sizeof(body),
             "{\"status\":\"Successfull\",\"requesttransactionid\":\"CB-1\","
             "\"transactionid\":\"%lld\",\"responsecode\":\"01\","
             "\"statusdesc\":\"Successfully Processed Transaction\","
             "\"referenceno\":\"%s\"}",
             provider, jstr(txn, "referenceno"));
    for (i = 0; i < 3; i++)
        assert_string_equal(rx.bodies[i], body);
    assert_int_equal(jint(txn, "callbacks_sent"), 3);
    assert_int_equal(jint(txn, "callbacks_acked"), 1);
    assert_string_equal(jstr(txn, "status"), "Successfull");
    json_decref(txn);
    assert_int_equal(ledger_float(), 10000000 + 1500);
    assert_int_equal(rx_wait(4, 300), 3);

    /* With one retry, a receiver that always fails sees two attempts. */
    rx_reset(100);
    testsim_stop(&sim);
    testsim_cleanup(&sim);
    START("--callback-delay-ms", "0", "--callback-backoff-ms", "30",
          "--callback-retries", "1");
    pay("CB-2", "1500", &r);
    expect_pending(&r, "CB-2");
    assert_int_equal(rx_wait(2, 5000), 2);
    assert_int_equal(rx_wait(3, 400), 2);
    cb = rx_body(0);
    assert_string_equal(jstr(cb, "requesttransactionid"), "CB-2");
    json_decref(cb);
}

static void sim_deposit_callback(void **state)
{
    struct reply r;
    struct form f;
    char ref[64];
    json_t *answer;
    json_t *cb;
    json_t *txn;

    (void)state;
    START("--deposit-callback-url", rx.url, "--callback-delay-ms", "0");
    form_deposit(&f, "DEP000123456", "2500", "0781234567");
    post("/deposit", true, &f, &r);
    answer = json_loads(buf_str(&r.body), 0, NULL);
    snprintf(ref, sizeof(ref), "%s", jstr(answer, "referenceno"));
    json_decref(answer);
    reply_cleanup(&r);

    assert_int_equal(rx_wait(1, 5000), 1);
    cb = rx_body(0);
    txn = ledger_txn("DEP000123456");
    assert_string_equal(jstr(cb, "status"), "Successfull");
    assert_string_equal(jstr(cb, "transactionid"), "DEP000123456");
    assert_true(strncmp(jstr(cb, "requesttransactionid"), "req_", 4) == 0);
    assert_string_equal(jstr(cb, "requesttransactionid") + 4,
                        jstr(txn, "provider_id"));
    assert_string_equal(jstr(cb, "responsecode"), "01");
    assert_string_equal(jstr(cb, "statusdesc"),
                        "Deposit processed successfully");
    assert_string_equal(jstr(cb, "referenceno"), ref);
    json_decref(cb);
    json_decref(txn);
}

/* Sends n pays PREFIX-i; writes each answer's code ("500", "-"...). */
static void pay_series(const char *prefix, int n, char codes[][8])
{
    char id[32];
    struct reply r;
    int i;

    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        pay(id, "1000", &r);
        if (r.status == 500)
            snprintf(codes[i], 8, "500");
        else
            code_of(&r, codes[i], 8);
        reply_cleanup(&r);
    }
}

static int count_code(char codes[][8], int n, const char *code)
{
    int hits = 0;
    int i;

    for (i = 0; i < n; i++)
        hits += strcmp(codes[i], code) == 0;
    return hits;
}

static void sim_fault_declines_are_reproducible(void **state)
{
    char first[40][8];
    char again[40][8];
    char id[32];
    int pending;
    int i;

    (void)state;
    START("--seed", "7", "--decline", "1002=30", "--decline", "2700=20",
          "--callback-delay-ms", "0");
    pay_series("DEC", 40, first);
    assert_true(count_code(first, 40, "1002") > 0);
    assert_true(count_code(first, 40, "2700") > 0);
    assert_true(count_code(first, 40, "1000") > 0);
    assert_int_equal(count_code(first, 40, "1002") +
                         count_code(first, 40, "2700") +
                         count_code(first, 40, "1000"),
                     40);
    for (i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "DEC-%d", i);
        if (strcmp(first[i], "1000") != 0)
            expect_ledger(id, 0, "Failed");
    }
    /* Declined pays never call back. */
    pending = count_code(first, 40, "1000");
    assert_int_equal(rx_wait(pending, 5000), pending);
    assert_int_equal(rx_wait(pending + 1, 300), pending);

    testsim_stop(&sim);
    testsim_cleanup(&sim);
    START("--seed", "7", "--decline", "1002=30", "--decline", "2700=20");
    pay_series("DEC", 40, again);
    for (i = 0; i < 40; i++)
        assert_string_equal(first[i], again[i]);
}

static void sim_fault_http500_executes_nothing(void **state)
{
    char codes[20][8];
    char id[32];
    struct reply r;
    int i;
    int tries;

    (void)state;
    START("--seed", "3", "--http500", "50");
    pay_series("H5", 20, codes);
    assert_true(count_code(codes, 20, "500") > 0);
    assert_true(count_code(codes, 20, "1000") > 0);
    for (i = 0; i < 20; i++) {
        if (strcmp(codes[i], "500") != 0)
            continue;
        snprintf(id, sizeof(id), "H5-%d", i);
        expect_ledger(id, 0, "Unregistered");
        /* Resending the same id is safe and eventually goes through. */
        for (tries = 0; tries < 20; tries++) {
            pay(id, "1000", &r);
            if (r.status == 200)
                break;
            expect_error(&r, 500, "Internal Server Error");
        }
        expect_pending(&r, id);
        expect_ledger(id, 1, "Pending");
    }
}

static void sim_fault_drop_after_execute(void **state)
{
    struct reply r;
    json_t *cb;

    (void)state;
    START("--drop-after-execute", "100", "--callback-delay-ms", "0");
    pay("DROP-1", "1500", &r);
    assert_int_equal(r.rc, CURLE_GOT_NOTHING);
    reply_cleanup(&r);
    expect_executed("DROP-1", 1);
    /* The ambiguity is resolved by resending (2400) or the callback. */
    pay("DROP-1", "1500", &r);
    expect_pay_failed(&r, "DROP-1", "2400", "Duplicate Transaction ID");
    assert_int_equal(rx_wait(1, 5000), 1);
    cb = rx_body(0);
    assert_string_equal(jstr(cb, "requesttransactionid"), "DROP-1");
    assert_string_equal(jstr(cb, "status"), "Successfull");
    json_decref(cb);
    expect_ledger("DROP-1", 1, "Successfull");
}

static void sim_fault_slow_outlasts_client_timeout(void **state)
{
    struct reply r;
    struct form f;
    long long start;

    (void)state;
    START("--slow", "100", "--slow-ms", "3000");
    form_pay(&f, "SLOW-1", "1500", "0781234567");
    send_form("/pay_v2", true, &f, 300, &r);
    assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
    reply_cleanup(&r);
    expect_executed("SLOW-1", 1);

    /* A request asleep in --slow does not hold up shutdown. */
    send_form("/pay_v2", true, &f, 300, &r);
    reply_cleanup(&r);
    form_pay(&f, "SLOW-2", "1500", "0781234567");
    send_form("/pay_v2", true, &f, 200, &r);
    reply_cleanup(&r);
    start = now_ms();
    assert_int_equal(testsim_stop(&sim), 0);
    assert_true(now_ms() - start < 2500);
}

static void sim_fault_latency(void **state)
{
    struct reply r;
    struct form f;

    (void)state;
    START("--latency-ms", "400-500");
    pay("LAT-1", "1500", &r);
    assert_true(r.elapsed_ms >= 400 && r.elapsed_ms < 3000);
    expect_pending(&r, "LAT-1");
    form_credentials(&f);
    post("/balance", true, &f, &r);
    assert_true(r.elapsed_ms >= 400);
    reply_cleanup(&r);
    /* Refusals come before the fault plan, without latency. */
    pay("LAT-2", "0", &r);
    assert_true(r.elapsed_ms < 400);
    reply_cleanup(&r);
}

static void sim_fault_duplicate_callbacks(void **state)
{
    struct reply r;
    json_t *txn;

    (void)state;
    START("--duplicate-callbacks", "100", "--callback-delay-ms", "0");
    pay("TWICE-1", "1500", &r);
    expect_pending(&r, "TWICE-1");
    assert_int_equal(rx_wait(2, 5000), 2);
    assert_string_equal(rx.bodies[0], rx.bodies[1]);
    sleep_ms(50);
    txn = ledger_txn("TWICE-1");
    assert_int_equal(jint(txn, "callbacks_acked"), 2);
    assert_int_equal(jint(txn, "executed"), 1);
    json_decref(txn);
    assert_int_equal(ledger_float(), 10000000 + 1500);
}

static void sim_fault_early_callbacks(void **state)
{
    struct reply r;

    (void)state;
    START("--early-callbacks", "100", "--callback-delay-ms", "2000");
    pay("EARLY-1", "1500", &r);
    /* The callback was in before the answer came back. */
    pthread_mutex_lock(&rx.lock);
    assert_int_equal(rx.count, 1);
    pthread_mutex_unlock(&rx.lock);
    expect_pending(&r, "EARLY-1");
}

static void sim_fault_reorder_callbacks(void **state)
{
    char sent[8][16];
    struct reply r;
    bool same = true;
    int i;

    (void)state;
    START("--reorder-callbacks", "--reorder-window-ms", "400",
          "--callback-delay-ms", "0", "--callback-threads", "1");
    for (i = 0; i < 8; i++) {
        snprintf(sent[i], sizeof(sent[i]), "RO-%d", i);
        pay(sent[i], "1000", &r);
        expect_pending(&r, sent[i]);
    }
    assert_int_equal(rx_wait(8, 5000), 8);
    for (i = 0; i < 8; i++) {
        json_t *cb = rx_body(i);

        same &= strcmp(jstr(cb, "requesttransactionid"), sent[i]) == 0;
        json_decref(cb);
    }
    assert_false(same);
}

static void sim_fault_lose_callbacks(void **state)
{
    struct reply r;
    json_t *txn;

    (void)state;
    START("--lose-callbacks", "100", "--callback-delay-ms", "20");
    pay("LOST-1", "1500", &r);
    expect_pending(&r, "LOST-1");
    assert_int_equal(rx_wait(1, 500), 0);
    txn = ledger_txn("LOST-1");
    assert_string_equal(jstr(txn, "status"), "Successfull");
    assert_true(json_is_true(json_object_get(txn, "callback_lost")));
    assert_int_equal(jint(txn, "callbacks_sent"), 0);
    json_decref(txn);
    assert_int_equal(ledger_float(), 10000000 + 1500);
}

static void sim_fault_late_failure(void **state)
{
    struct reply r;
    json_t *cb;

    (void)state;
    START("--late-failure", "100", "--callback-delay-ms", "0");
    pay("LATE-1", "1500", &r);
    expect_pending(&r, "LATE-1");
    assert_int_equal(rx_wait(1, 5000), 1);
    cb = rx_body(0);
    assert_string_equal(jstr(cb, "status"), "Failed");
    assert_string_equal(jstr(cb, "responsecode"), "1005");
    assert_string_equal(jstr(cb, "statusdesc"),
                        "Failed Due to Insufficient Funds");
    json_decref(cb);
    expect_ledger("LATE-1", 1, "Failed");
    assert_int_equal(ledger_float(), 10000000);
}

static void sim_transaction_limit(void **state)
{
    struct reply r;

    (void)state;
    START("--max-transactions", "2");
    pay("CAP-1", "1000", &r);
    expect_pending(&r, "CAP-1");
    pay("CAP-2", "1000", &r);
    expect_pending(&r, "CAP-2");
    pay("CAP-3", "1000", &r);
    expect_error(&r, 500, "Transaction limit reached");
    pay("CAP-1", "1000", &r);
    expect_pay_failed(&r, "CAP-1", "2400", "Duplicate Transaction ID");
}

static void sim_admin_reset(void **state)
{
    struct reply r;
    json_t *all;

    (void)state;
    START("--callback-delay-ms", "0");
    pay("RST-1", "1500", &r);
    expect_pending(&r, "RST-1");
    rx_wait(1, 5000);
    http("GET", sim.admin_port, "/_sim/reset", NULL, NULL, 0, TIMEOUT_MS, &r);
    assert_int_equal(r.status, 405);
    reply_cleanup(&r);
    http("POST", sim.admin_port, "/_sim/reset", NULL, "", 0, TIMEOUT_MS, &r);
    assert_int_equal(r.status, 200);
    reply_cleanup(&r);
    all = admin_get("");
    assert_int_equal(json_array_size(json_object_get(all, "transactions")), 0);
    assert_int_equal(jint(json_object_get(all, "totals"), "float"), 10000000);
    json_decref(all);
    pay("RST-1", "1500", &r);
    expect_pending(&r, "RST-1");
}

static void sim_never_logs_secrets_and_stops_cleanly(void **state)
{
    struct reply r;
    struct form f;
    struct buf log;

    (void)state;
    START("--log-level", "debug", "--callback-delay-ms", "0");
    pay("LOG-1", "1500", &r);
    reply_cleanup(&r);
    form_deposit(&f, "LOG-2", "1500", "0781234567");
    form_set(&f, "key", "not-" TESTSIM_KEY);
    post("/deposit", false, &f, &r);
    reply_cleanup(&r);
    form_credentials(&f);
    post("/balance", true, &f, &r);
    reply_cleanup(&r);
    rx_wait(1, 5000);
    assert_int_equal(testsim_stop(&sim), 0);

    testsim_read_log(&sim, &log);
    assert_non_null(strstr(buf_str(&log), "level=debug"));
    assert_non_null(strstr(buf_str(&log), "msg=\"payq-sim stopped\""));
    assert_null(strstr(buf_str(&log), TESTSIM_PASSWORD));
    assert_null(strstr(buf_str(&log), TESTSIM_KEY));
    assert_null(strstr(buf_str(&log), "0781234567"));
    buf_cleanup(&log);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(sim_help_lists_every_flag),
        T(sim_usage_errors_exit_64_or_78),
        T(sim_pay_accepted_json_and_form),
        T(sim_deposit_success_and_phone_forms),
        T(sim_balance_shape_and_errors),
        T(sim_auth_errors),
        T(sim_missing_parameters),
        T(sim_amount_rules),
        T(sim_phone_rules),
        T(sim_duplicate_id_never_executes_twice),
        T(sim_deposit_beyond_float_answers_1005),
        T(sim_http_errors),
        T(sim_callback_delivered_with_retries),
        T(sim_deposit_callback),
        T(sim_fault_declines_are_reproducible),
        T(sim_fault_http500_executes_nothing),
        T(sim_fault_drop_after_execute),
        T(sim_fault_slow_outlasts_client_timeout),
        T(sim_fault_latency),
        T(sim_fault_duplicate_callbacks),
        T(sim_fault_early_callbacks),
        T(sim_fault_reorder_callbacks),
        T(sim_fault_lose_callbacks),
        T(sim_fault_late_failure),
        T(sim_transaction_limit),
        T(sim_admin_reset),
        T(sim_never_logs_secrets_and_stops_cleanly),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
