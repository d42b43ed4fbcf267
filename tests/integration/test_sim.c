/*
 * Black-box tests of build/payq-sim: every documented answer with JSON
 * and form bodies, credentials, missing fields, amount and phone rules,
 * duplicates, the float, the balance, callbacks with retries, each fault
 * flag with a fixed seed, the admin ledger, and a clean SIGTERM.
 *
 * Callbacks go to a small libmicrohttpd server inside this process (the
 * receiver), which can answer 500 to the first N of them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

/* A referenceid one byte longer than the simulator accepts. */
#define SIM_TEST_LONG_REF 65

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
    long long at_ms[RX_MAX]; /* when each came, by now_ms() */
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
    if (rx.count < RX_MAX) {
        snprintf(rx.bodies[rx.count], sizeof(rx.bodies[0]), "%s",
                 buf_str(body));
        rx.at_ms[rx.count] = now_ms();
    }
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
    char retry_after[32]; /* the Retry-After header; "" when none */
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

/* Keeps the Retry-After header's value, without its line end. */
static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
    static const char name[] = "retry-after:";
    struct reply *r = ctx;
    size_t len = size * n;
    size_t skip = sizeof(name) - 1;
    size_t end;

    if (len > skip && strncasecmp(data, name, skip) == 0) {
        while (skip < len && data[skip] == ' ')
            skip++;
        for (end = skip; end < len && data[end] != '\r' && data[end] != '\n';
             end++)
            ;
        snprintf(r->retry_after, sizeof(r->retry_after), "%.*s",
                 (int)(end - skip), data + skip);
    }
    return len;
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
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
    r->retry_after[0] = '\0';
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

/* Checks how many requests carried id, and how many got 2400. */
static void expect_sends(const char *id, int sends, int refused)
{
    json_t *txn = ledger_txn(id);

    assert_int_equal(jint(txn, "sends"), sends);
    assert_int_equal(jint(txn, "attempts"), sends);
    assert_int_equal(jint(txn, "resends_refused"), refused);
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
        " --max-transactions --server-threads --shutdown-grace-ms --log-level"
        " --min-amount"
        " --max-amount --float --seed --latency-ms --latency-dist --decline"
        " --http500"
        " --drop-after-execute --slow --slow-ms --http429 --http503"
        " --retry-after --duplicate-callbacks"
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
        { "--latency-dist", "normal", NULL, NULL, EXIT_USAGE },
        { "--server-threads", "65", NULL, NULL, EXIT_USAGE },
        { "--listen", "localhost:80", NULL, NULL, EXIT_USAGE },
        { "--frobnicate", NULL, NULL, NULL, EXIT_USAGE },
        { "--http500", "60", "--slow", "50", EXIT_CONFIG },
        { "--http429", "60", "--http503", "50", EXIT_CONFIG },
        { "--http503", "x", NULL, NULL, EXIT_USAGE },
        { "--retry-after", "-1", NULL, NULL, EXIT_USAGE },
        { "--retry-after", "86401", NULL, NULL, EXIT_USAGE },
        { "--min-amount", "500", "--max-amount", "400", EXIT_CONFIG },
        { "--admin-listen", "0.0.0.0:0", NULL, NULL, EXIT_CONFIG },
        { "--admin-listen", "[::]:0", NULL, NULL, EXIT_CONFIG },
        { "--admin-listen", "192.168.1.10:0", NULL, NULL, EXIT_CONFIG },
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

/* A balance request with one field changed, and its refusal. */
struct balance_refusal {
    const char *field;
    const char *value; /* NULL: left out */
    long status;
    const char *message;
};

static const struct balance_refusal refusals[] = {
    { "username", NULL, 422, "Missing parameter: username" },
    { "password", NULL, 422, "Missing parameter: password" },
    { "key", NULL, 422, "Missing parameter: key" },
    { "key", "wrong-key", 401, "Invalid API key" },
    { "password", "wrong-password", 401, "Invalid credentials" },
    { "username", "someone-else", 401, "Invalid credentials" },
};

static void sim_balance_shape_and_errors(void **state)
{
    struct reply r;
    struct form f;
    size_t i;

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

    /* Each refusal, as JSON and as a form. */
    for (i = 0; i < 2 * sizeof(refusals) / sizeof(refusals[0]); i++) {
        const struct balance_refusal *c = &refusals[i / 2];

        form_credentials(&f);
        form_set(&f, c->field, c->value);
        post(i % 2 == 0 ? "/balance" : "/test/balance", i % 2, &f, &r);
        expect_error(&r, c->status, c->message);
    }
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

/* "J" or "F": tells ids sent as JSON from those sent as forms. */
static const char *enc_tag(bool json)
{
    return json ? "J" : "F";
}

/* Checks a decline of id by code in the endpoint's Failed shape. */
static void expect_declined(struct reply *r, bool deposit, const char *id,
                            const char *code, const char *text)
{
    if (deposit)
        expect_deposit_failed(r, id, code, text);
    else
        expect_pay_failed(r, id, code, text);
}

/* Sends one pay or deposit of amount from phone as JSON or a form. */
static void send_kind(bool deposit, bool json, const char *id,
                      const char *amount, const char *phone, struct reply *r)
{
    struct form f;

    if (deposit)
        form_deposit(&f, id, amount, phone);
    else
        form_pay(&f, id, amount, phone);
    post(deposit ? "/deposit" : "/pay_v2", json, &f, r);
}

/* Checks an accepted pay (Pending) or a successful deposit (01). */
static void expect_done(struct reply *r, bool deposit, const char *id)
{
    json_t *json;

    if (!deposit) {
        expect_pending(r, id);
        return;
    }
    json = json_loads(buf_str(&r->body), 0, NULL);
    if (json == NULL || r->status != 200 ||
        json_object_get(json, "responsecode") == NULL ||
        strcmp(jstr(json, "responsecode"), "01") != 0)
        fail_msg("deposit %s: %ld %s", id, r->status, buf_str(&r->body));
    assert_string_equal(jstr(json, "transactionid"), id);
    json_decref(json);
    reply_cleanup(r);
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
    size_t i;
    int variant;

    (void)state;
    START("--float", "100000000");
    /* Every row for pay and deposit, as JSON and as a form. */
    for (variant = 0; variant < 4; variant++) {
        bool deposit = variant & 1;
        bool json = variant & 2;

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            snprintf(id, sizeof(id), "AMT-%s%s-%zu", deposit ? "D" : "P",
                     enc_tag(json), i);
            send_kind(deposit, json, id, cases[i].amount, "0781234567", &r);
            if (cases[i].code == NULL)
                expect_done(&r, deposit, id);
            else if (strcmp(cases[i].code, "400") == 0)
                expect_error(&r, 400, "Invalid parameter: amount");
            else
                expect_declined(&r, deposit, id, cases[i].code, cases[i].text);
        }
    }
    /* A refused amount registers nothing: the same id may pay later. */
    pay("AMT-PJ-0", "1000", &r);
    expect_pending(&r, "AMT-PJ-0");
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
        { true, "+250781234567", "1200" },  { true, "0741234567", "1100" },
    };
    char id[32];
    struct reply r;
    size_t i;
    int json;

    (void)state;
    START_PLAIN();
    for (json = 0; json < 2; json++) {
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            const char *text = cases[i].code == NULL ? NULL
                               : strcmp(cases[i].code, "1200") == 0
                                   ? "Invalid Number"
                                   : "Number not supported on this Mobile "
                                     "money network";

            snprintf(id, sizeof(id), "PH-%s-%zu", enc_tag(json), i);
            send_kind(cases[i].deposit, json, id, "1000", cases[i].phone, &r);
            if (cases[i].code != NULL)
                expect_declined(&r, cases[i].deposit, id, cases[i].code, text);
            else
                expect_done(&r, cases[i].deposit, id);
        }
    }
}

/*
 * Every code --decline may inject, in each endpoint's Failed shape with
 * the reference's description, for both encodings; nothing executes.
 */
static void sim_decline_answers(void **state)
{
    static const struct {
        const char *code;
        const char *text;         /* pay's table */
        const char *deposit_text; /* NULL: the same */
    } cases[] = {
        { "0002", "Missing Username Information", NULL },
        { "0004", "Missing Date Information", NULL },
        { "0006", "User Does not have an intouchPay Account", NULL },
        { "0008", "Failed to Authenticate", NULL },
        { "2500", "Route Not Found", NULL },
        { "2600", "Operation Not Allowed", NULL },
        { "2700", "Failed to Complete Transaction",
          "Failed to Complete Deposit" },
        { "1005", "Failed Due to Insufficient Funds", NULL },
        { "1002", "Mobile number not registered on mobile money", NULL },
        { "1008", "General Failure", NULL },
        { "1300", "Failed to Complete Transaction, Unknown Exception", NULL },
    };
    char rule[16];
    char id[32];
    struct reply r;
    size_t i;
    int variant;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(rule, sizeof(rule), "%s=100", cases[i].code);
        START("--decline", rule);
        for (variant = 0; variant < 4; variant++) {
            bool deposit = variant & 1;
            bool json = variant & 2;
            const char *text = deposit && cases[i].deposit_text != NULL
                                   ? cases[i].deposit_text
                                   : cases[i].text;

            snprintf(id, sizeof(id), "DCL-%s-%s%s", cases[i].code,
                     deposit ? "D" : "P", enc_tag(json));
            send_kind(deposit, json, id, "1000", "0781234567", &r);
            expect_declined(&r, deposit, id, cases[i].code, text);
            expect_ledger(id, 0, "Failed");
        }
        assert_int_equal(ledger_float(), 10000000);
        testsim_stop(&sim);
        testsim_cleanup(&sim);
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

/* Eight requests with one id at once: exactly one is executed. */
static void race_one_id(void)
{
    struct racer racers[8];
    char code[8];
    int pending = 0;
    int i;

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
    expect_sends("RACE-1", 8, 7);
}

static void sim_duplicate_id_never_executes_twice(void **state)
{
    struct reply r;
    char id[32];
    int variant;

    (void)state;
    START("--callback-delay-ms", "600000");
    /*
     * Sent once as JSON or a form, resent in both encodings to both
     * endpoints (one id space): 2400 in each endpoint's shape.
     */
    for (variant = 0; variant < 4; variant++) {
        bool deposit = variant & 1;
        bool json = variant & 2;
        int resend;

        snprintf(id, sizeof(id), "DUP-%s%s", deposit ? "D" : "P",
                 enc_tag(json));
        send_kind(deposit, json, id, "1500", "0781234567", &r);
        expect_done(&r, deposit, id);
        for (resend = 0; resend < 4; resend++) {
            bool to_deposit = resend & 1;

            send_kind(to_deposit, resend & 2, id, "2000", "0781234567", &r);
            expect_declined(&r, to_deposit, id, "2400",
                            "Duplicate Transaction ID");
        }
        expect_ledger(id, 1, deposit ? "Successfull" : "Pending");
    }

    race_one_id();
    /* The same race with a thread per connection instead of the pool. */
    testsim_stop(&sim);
    testsim_cleanup(&sim);
    START("--callback-delay-ms", "600000", "--server-threads", "0");
    race_one_id();
}

/* The totals object of the whole ledger; the caller decrefs it. */
static json_t *ledger_totals(void)
{
    json_t *all = admin_get("?limit=0");
    json_t *totals = json_object_get(all, "totals");

    json_incref(totals);
    json_decref(all);
    return totals;
}

/* How many times the fault name struck, from the ledger's totals. */
static long long fault_count(const char *name)
{
    json_t *totals = ledger_totals();
    long long n = jint(json_object_get(totals, "faults"), name);

    json_decref(totals);
    return n;
}

/*
 * The ledger keeps what each id asked for and counts every send, with
 * refused resends and resends unlike the first apart, and counts the ids
 * executed per deposit referenceid: one payout paid under two ids shows.
 */
static void sim_ledger_records_requests(void **state)
{
    char long_ref[SIM_TEST_LONG_REF + 1];
    struct reply r;
    struct form f;
    json_t *txn;
    json_t *totals;

    (void)state;
    START_PLAIN();
    form_deposit(&f, "LG-1", "2500", "0781234567");
    form_set(&f, "referenceid", "REF-A");
    post("/deposit", true, &f, &r);
    expect_status(&r, 200);
    post("/deposit", false, &f, &r);
    expect_deposit_failed(&r, "LG-1", "2400", "Duplicate Transaction ID");
    form_set(&f, "amount", "2600");
    post("/deposit", true, &f, &r);
    expect_deposit_failed(&r, "LG-1", "2400", "Duplicate Transaction ID");

    /* The same referenceid under a second id: executed, and counted. */
    form_deposit(&f, "LG-2", "2500", "0781234567");
    form_set(&f, "referenceid", "REF-A");
    post("/deposit", false, &f, &r);
    expect_status(&r, 200);
    form_deposit(&f, "LG-3", "1000", "781234567");
    form_set(&f, "referenceid", "REF-B");
    post("/deposit", true, &f, &r);
    expect_status(&r, 200);
    form_pay(&f, "LG-4", "1500", "250731234567");
    post("/pay_v2", false, &f, &r);
    expect_pending(&r, "LG-4");

    txn = ledger_txn("LG-1");
    assert_string_equal(jstr(txn, "kind"), "deposit");
    assert_string_equal(jstr(txn, "referenceid"), "REF-A");
    assert_string_equal(jstr(txn, "phone"), "0781234567");
    assert_int_equal(jint(txn, "amount"), 2500);
    assert_int_equal(jint(txn, "withdrawcharge"), 100);
    assert_int_equal(jint(txn, "sends"), 3);
    assert_int_equal(jint(txn, "resends_refused"), 2);
    assert_int_equal(jint(txn, "mismatched_sends"), 1);
    assert_int_equal(jint(txn, "executed"), 1);
    assert_int_equal(jint(txn, "reference_executions"), 2);
    json_decref(txn);
    txn = ledger_txn("LG-3");
    assert_string_equal(jstr(txn, "phone"), "781234567");
    assert_int_equal(jint(txn, "reference_executions"), 1);
    assert_int_equal(jint(txn, "sends"), 1);
    json_decref(txn);
    txn = ledger_txn("LG-4");
    assert_string_equal(jstr(txn, "kind"), "pay");
    assert_true(json_is_null(json_object_get(txn, "referenceid")));
    assert_string_equal(jstr(txn, "phone"), "250731234567");
    assert_int_equal(jint(txn, "amount"), 1500);
    json_decref(txn);

    totals = ledger_totals();
    assert_int_equal(jint(totals, "transactions"), 4);
    assert_int_equal(jint(totals, "sends"), 6);
    assert_int_equal(jint(totals, "resends_refused"), 2);
    assert_int_equal(jint(totals, "mismatched_sends"), 1);
    assert_int_equal(jint(totals, "executed"), 4);
    assert_int_equal(jint(totals, "ids_executed_twice"), 0);
    assert_int_equal(
        jint(json_object_get(totals, "deposit"), "references_executed"), 2);
    assert_int_equal(
        jint(json_object_get(totals, "deposit"), "references_executed_twice"),
        1);
    assert_int_equal(jint(json_object_get(totals, "deposit"), "succeeded"), 3);
    assert_int_equal(
        jint(json_object_get(totals, "deposit"), "succeeded_amount"), 6000);
    assert_int_equal(jint(json_object_get(totals, "pay"), "pending_amount"),
                     1500);
    json_decref(totals);

    /* A referenceid past 64 bytes is refused before the ledger. */
    memset(long_ref, 'r', SIM_TEST_LONG_REF);
    long_ref[SIM_TEST_LONG_REF] = '\0';
    form_deposit(&f, "LG-5", "1000", "0781234567");
    form_set(&f, "referenceid", long_ref);
    post("/deposit", true, &f, &r);
    expect_error(&r, 400, "Invalid parameter: referenceid");
    totals = admin_get("?id=LG-5");
    assert_int_equal(json_array_size(json_object_get(totals, "transactions")),
                     0);
    json_decref(totals);
}

/*
 * Every id is listed, in the order first seen, across many parts of the
 * streamed listing; from and limit page through it.
 */
static void sim_admin_lists_every_id(void **state)
{
    enum { IDS = 700 };
    char id[32];
    struct reply r;
    json_t *all;
    json_t *list;
    size_t i;

    (void)state;
    START("--callback-delay-ms", "600000");
    for (i = 0; i < IDS; i++) {
        snprintf(id, sizeof(id), "ALL-%zu", i);
        pay(id, "1000", &r);
        reply_cleanup(&r);
    }
    all = admin_get("");
    list = json_object_get(all, "transactions");
    assert_int_equal(json_array_size(list), IDS);
    assert_false(json_is_true(json_object_get(all, "truncated")));
    assert_int_equal(jint(json_object_get(all, "totals"), "transactions"), IDS);
    for (i = 0; i < IDS; i++) {
        snprintf(id, sizeof(id), "ALL-%zu", i);
        assert_string_equal(jstr(json_array_get(list, i), "id"), id);
    }
    json_decref(all);

    all = admin_get("?from=300&limit=5");
    list = json_object_get(all, "transactions");
    assert_int_equal(json_array_size(list), 5);
    assert_string_equal(jstr(json_array_get(list, 0), "id"), "ALL-300");
    assert_true(json_is_true(json_object_get(all, "truncated")));
    json_decref(all);
    all = admin_get("?from=698&limit=5");
    assert_int_equal(json_array_size(json_object_get(all, "transactions")), 2);
    assert_false(json_is_true(json_object_get(all, "truncated")));
    json_decref(all);
    http("GET", sim.admin_port, "/_sim/ledger?limit=-1", NULL, NULL, 0,
         TIMEOUT_MS, &r);
    expect_error(&r, 400, "from and limit are whole numbers");
}

static void sim_deposit_beyond_float_answers_1005(void **state)
{
    struct reply r;
    struct form f;
    int json;

    (void)state;
    START("--float", "5000", "--deposit-callback-url", rx.url);
    form_deposit(&f, "FL-1", "4900", "0781234567");
    post("/deposit", true, &f, &r);
    expect_status(&r, 200);
    assert_int_equal(ledger_float(), 0);

    for (json = 0; json < 2; json++) {
        const char *id = json ? "FL-2J" : "FL-2F";

        form_deposit(&f, id, "100", "0781234567");
        post("/deposit", json, &f, &r);
        expect_deposit_failed(&r, id, "1005",
                              "Failed Due to Insufficient Funds");
        expect_ledger(id, 0, "Failed");
        /* Registered as failed: a resend is a duplicate, not a retry. */
        post("/deposit", !json, &f, &r);
        expect_deposit_failed(&r, id, "2400", "Duplicate Transaction ID");
    }
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
        if (r.status != 200)
            snprintf(codes[i], 8, "%ld", r.status);
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
    json_t *txn;
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
        /* Every send counted: the first, the 500s, the one that ran. */
        txn = ledger_txn(id);
        assert_int_equal(jint(txn, "sends"), tries + 2);
        assert_int_equal(jint(txn, "resends_refused"), 0);
        json_decref(txn);
    }
}

/*
 * Throttling: shares of requests answered 429 or 503 at once, with
 * Retry-After, executing nothing; a resend of the id draws again.
 */
static void sim_fault_throttling(void **state)
{
    char codes[20][8];
    char again[20][8];
    char id[32];
    struct reply r;
    int i;
    int tries;

    (void)state;
    START("--seed", "5", "--http429", "30", "--http503", "20", "--retry-after",
          "7", "--latency-ms", "250");
    pay_series("THR", 20, codes);
    assert_true(count_code(codes, 20, "429") > 0);
    assert_true(count_code(codes, 20, "503") > 0);
    assert_true(count_code(codes, 20, "1000") > 0);
    assert_int_equal(count_code(codes, 20, "429") +
                         count_code(codes, 20, "503") +
                         count_code(codes, 20, "1000"),
                     20);
    for (i = 0; i < 20; i++) {
        bool throttled = strcmp(codes[i], "1000") != 0;

        snprintf(id, sizeof(id), "THR-%d", i);
        if (!throttled) {
            expect_executed(id, 1);
            continue;
        }
        expect_ledger(id, 0, "Unregistered");
        /* Answered at once, without the 250 ms latency, with the header. */
        for (tries = 0; tries < 30; tries++) {
            pay(id, "1000", &r);
            if (r.status == 200)
                break;
            assert_true(r.elapsed_ms < 250);
            assert_string_equal(r.retry_after, "7");
            expect_error(&r, r.status,
                         r.status == 429 ? "Too Many Requests"
                                         : "Service Unavailable");
        }
        expect_pending(&r, id);
        expect_executed(id, 1);
    }
    /* The same seed throttles the same requests. */
    testsim_stop(&sim);
    testsim_cleanup(&sim);
    START("--seed", "5", "--http429", "30", "--http503", "20");
    pay_series("THR", 20, again);
    for (i = 0; i < 20; i++)
        assert_string_equal(codes[i], again[i]);
    /* Without --retry-after, the header says one second. */
    testsim_stop(&sim);
    testsim_cleanup(&sim);
    START("--http429", "100");
    pay("THR-X", "1000", &r);
    assert_string_equal(r.retry_after, "1");
    expect_error(&r, 429, "Too Many Requests");
    expect_ledger("THR-X", 0, "Unregistered");
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

/* The latency_ms the ledger planned for PREFIX-0 .. PREFIX-(n-1). */
static void planned_latencies(const char *prefix, int n, long *out)
{
    json_t *all = admin_get("");
    json_t *list = json_object_get(all, "transactions");
    char id[32];
    int i;

    assert_int_equal(json_array_size(list), n);
    for (i = 0; i < n; i++) {
        json_t *txn = json_array_get(list, (size_t)i);

        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        assert_string_equal(jstr(txn, "id"), id);
        out[i] = (long)jint(txn, "latency_ms");
    }
    json_decref(all);
}

/* Pays PREFIX-i and checks each answer took its planned latency. */
static void timed_pays(const char *prefix, int n, long *planned)
{
    long long took[160];
    char id[32];
    struct reply r;
    int i;

    assert_true(n <= 160);
    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        pay(id, "1000", &r);
        took[i] = r.elapsed_ms;
        expect_pending(&r, id);
    }
    planned_latencies(prefix, n, planned);
    for (i = 0; i < n; i++)
        assert_true(took[i] >= planned[i]);
}

/*
 * --latency-dist exp: most answers quick, a tail of slow ones, within
 * MIN-MAX, and the same draws again for the same seed; uniform spreads
 * evenly.
 */
static void sim_fault_latency_distribution(void **state)
{
    enum { N = 120, MIN = 5, MAX = 45 };
    long exp1[N];
    long exp2[N];
    long uni[N];
    int quick_exp = 0;
    int quick_uni = 0;
    int slow_exp = 0;
    int i;

    (void)state;
    START("--seed", "9", "--latency-ms", "5-45", "--latency-dist", "exp");
    timed_pays("LD", N, exp1);
    testsim_stop(&sim);
    testsim_cleanup(&sim);
    START("--seed", "9", "--latency-ms", "5-45", "--latency-dist", "exp");
    timed_pays("LD", N, exp2);
    testsim_stop(&sim);
    testsim_cleanup(&sim);
    START("--seed", "9", "--latency-ms", "5-45");
    timed_pays("LD", N, uni);

    for (i = 0; i < N; i++) {
        assert_int_equal(exp1[i], exp2[i]);
        assert_true(exp1[i] >= MIN && exp1[i] <= MAX);
        assert_true(uni[i] >= MIN && uni[i] <= MAX);
        /* Below a quarter of the span: 63 % for exp, 25 % for uniform. */
        quick_exp += exp1[i] < MIN + (MAX - MIN) / 4;
        quick_uni += uni[i] < MIN + (MAX - MIN) / 4;
        slow_exp += exp1[i] >= MIN + (MAX - MIN) / 2;
    }
    assert_true(quick_exp > N / 2);
    assert_true(quick_uni < N * 2 / 5);
    assert_true(slow_exp > 0 && slow_exp < N / 4);
}

/*
 * A callback refused with 500 is retried after --callback-backoff-ms,
 * then twice that, then four times (generous bounds: the machine may be
 * busy, but never early).
 */
static void sim_callback_retry_backoff_doubles(void **state)
{
    static const long waits[] = { 150, 300, 600 };
    struct reply r;
    long long start;
    size_t i;

    (void)state;
    rx_reset(3);
    START("--callback-delay-ms", "100", "--callback-backoff-ms", "150",
          "--callback-retries", "3");
    start = now_ms();
    pay("BO-1", "1500", &r);
    expect_pending(&r, "BO-1");
    assert_int_equal(rx_wait(4, 5000), 4);
    assert_true(rx.at_ms[0] - start >= 100);
    assert_true(rx.at_ms[0] - start < 100 + 400);
    for (i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
        long long gap = rx.at_ms[i + 1] - rx.at_ms[i];

        if (gap < waits[i] || gap > waits[i] + 400)
            fail_msg("retry %zu came after %lld ms, want %ld", i + 1, gap,
                     waits[i]);
    }
    /* The fourth attempt was acknowledged: no fifth. */
    assert_int_equal(rx_wait(5, 800), 4);
    expect_ledger("BO-1", 1, "Successfull");
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
    struct form f;
    json_t *cb;

    (void)state;
    START("--early-callbacks", "100", "--callback-delay-ms", "2000",
          "--deposit-callback-url", rx.url);
    pay("EARLY-1", "1500", &r);
    /* The callback, already final, was in before the answer came back. */
    pthread_mutex_lock(&rx.lock);
    assert_int_equal(rx.count, 1);
    pthread_mutex_unlock(&rx.lock);
    expect_pending(&r, "EARLY-1");
    cb = rx_body(0);
    assert_string_equal(jstr(cb, "requesttransactionid"), "EARLY-1");
    assert_string_equal(jstr(cb, "status"), "Successfull");
    assert_string_equal(jstr(cb, "responsecode"), "01");
    json_decref(cb);
    expect_ledger("EARLY-1", 1, "Successfull");

    /* Deposits too, to the deposit callback URL. */
    form_deposit(&f, "EARLY-2", "1000", "0781234567");
    post("/deposit", true, &f, &r);
    pthread_mutex_lock(&rx.lock);
    assert_int_equal(rx.count, 2);
    pthread_mutex_unlock(&rx.lock);
    expect_done(&r, true, "EARLY-2");
    cb = rx_body(1);
    assert_string_equal(jstr(cb, "transactionid"), "EARLY-2");
    assert_string_equal(jstr(cb, "status"), "Successfull");
    json_decref(cb);
    /* Nothing else comes when the 2 s delay would have passed. */
    assert_int_equal(rx_wait(3, 2500), 2);
    assert_int_equal(fault_count("early_callback"), 2);
}

/* Callbacks the receiver got for id, and the last one's body. */
static int rx_count_for(const char *id, json_t **last)
{
    int hits = 0;
    int count;
    int i;

    pthread_mutex_lock(&rx.lock);
    count = rx.count < RX_MAX ? rx.count : RX_MAX;
    pthread_mutex_unlock(&rx.lock);
    *last = NULL;
    for (i = 0; i < count; i++) {
        json_t *cb = rx_body(i);

        if (strcmp(jstr(cb, "requesttransactionid"), id) == 0) {
            hits++;
            json_decref(*last);
            *last = cb;
        } else {
            json_decref(cb);
        }
    }
    return hits;
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
    /* Out of order, but each exactly once, and final. */
    for (i = 0; i < 8; i++) {
        json_t *cb;

        assert_int_equal(rx_count_for(sent[i], &cb), 1);
        assert_string_equal(jstr(cb, "status"), "Successfull");
        json_decref(cb);
    }
    assert_int_equal(rx_wait(9, 300), 8);
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

/*
 * Every callback fault at once, over many pays: what the receiver got
 * for each id must match what the ledger says happened to it. A lost
 * callback never comes, a duplicate comes twice with the same body, a
 * late failure says 1005 Failed and credits nothing; each happened to
 * some ids and not others, and the float holds only the successes.
 */
static void sim_callback_faults_reach_the_receiver(void **state)
{
    enum { PAYS = 40 };
    long long credited = 0;
    int expected = 0;
    int lost = 0;
    int twice = 0;
    int failed = 0;
    char id[32];
    struct reply r;
    int i;

    (void)state;
    START("--seed", "11", "--lose-callbacks", "20", "--duplicate-callbacks",
          "25", "--late-failure", "25", "--reorder-callbacks",
          "--reorder-window-ms", "150", "--callback-delay-ms", "0");
    for (i = 0; i < PAYS; i++) {
        snprintf(id, sizeof(id), "CBF-%d", i);
        pay(id, "1000", &r);
        expect_pending(&r, id);
    }
    /* Settled (lost ones too) once every delivery had its chance. */
    sleep_ms(600);
    for (i = 0; i < PAYS; i++) {
        json_t *txn;
        json_t *cb;
        int got;

        snprintf(id, sizeof(id), "CBF-%d", i);
        txn = ledger_txn(id);
        got = rx_count_for(id, &cb);
        assert_int_equal(jint(txn, "executed"), 1);
        assert_int_equal(got, jint(txn, "callbacks_acked"));
        if (json_is_true(json_object_get(txn, "callback_lost"))) {
            assert_int_equal(got, 0);
            lost++;
        } else {
            assert_true(got == 1 || got == 2);
            assert_string_equal(jstr(cb, "status"), jstr(txn, "status"));
            assert_string_equal(jstr(cb, "responsecode"),
                                jstr(txn, "responsecode"));
            twice += got == 2;
        }
        expected += got;
        if (strcmp(jstr(txn, "status"), "Failed") == 0) {
            assert_string_equal(jstr(txn, "responsecode"), "1005");
            failed++;
        } else {
            assert_string_equal(jstr(txn, "status"), "Successfull");
            credited += 1000;
        }
        json_decref(cb);
        json_decref(txn);
    }
    assert_int_equal(rx_wait(expected + 1, 300), expected);
    assert_true(lost > 0 && lost < PAYS);
    assert_true(twice > 0 && failed > 0);
    assert_int_equal(fault_count("lost_callback"), lost);
    assert_int_equal(fault_count("late_failure"), failed);
    assert_int_equal(ledger_float(), 10000000 + credited);
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

/*
 * Parses one logfmt line: key=value pairs split by one space, keys of
 * [a-z0-9_], values bare (no space, quote, backslash or '=') or quoted
 * with \" \\ \n \xNN escapes. Counts the pairs into *pairs and notes
 * whether ts, level and msg came first, in that order.
 */
static bool logfmt_line(const char *p, int *pairs, bool *head)
{
    static const char *const first[] = { "ts", "level", "msg" };

    *pairs = 0;
    *head = true;
    while (*p != '\0') {
        size_t key = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");

        if (key == 0 || p[key] != '=')
            return false;
        if (*pairs < 3)
            *head &= strlen(first[*pairs]) == key &&
                     strncmp(p, first[*pairs], key) == 0;
        p += key + 1;
        if (*p == '"') {
            for (p++; *p != '"'; p++) {
                if (*p == '\0')
                    return false;
                if (*p == '\\' && strchr("\"\\nx", p[1]) == NULL)
                    return false;
                if (*p == '\\')
                    p++;
            }
            p++;
        } else {
            size_t bare = strcspn(p, " \"\\=");

            if (bare == 0 || (p[bare] != ' ' && p[bare] != '\0'))
                return false;
            p += bare;
        }
        (*pairs)++;
        if (*p == ' ')
            p++;
    }
    return *pairs >= 3;
}

/* "ts=2026-12-03T19:34:32.185Z level=L " with L a level's name. */
static bool stamped_and_levelled(const char *line)
{
    static const char *const levels[] = { "debug ", "info ", "warn ",
                                          "error " };
    size_t i;

    if (strlen(line) < 34 || strspn(line + 3, "0123456789-") != 10 ||
        line[13] != 'T' || line[26] != 'Z' ||
        strncmp(line + 27, " level=", 7) != 0)
        return false;
    for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strncmp(line + 34, levels[i], strlen(levels[i])) == 0)
            return true;
    return false;
}

/* Every line of the log but the ports line on stdout is logfmt. */
static int expect_logfmt(const char *log)
{
    char line[4096];
    int lines = 0;

    while (*log != '\0') {
        size_t n = strcspn(log, "\n");
        int pairs;
        bool head;

        assert_true(n < sizeof(line));
        memcpy(line, log, n);
        line[n] = '\0';
        log += n + (log[n] == '\n');
        if (strncmp(line, "payq-sim listening port=", 24) == 0)
            continue;
        if (!logfmt_line(line, &pairs, &head) || !head)
            fail_msg("not a logfmt line (ts, level, msg first):\n%s", line);
        if (!stamped_and_levelled(line))
            fail_msg("bad timestamp or level:\n%s", line);
        lines++;
    }
    return lines;
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
    assert_true(expect_logfmt(buf_str(&log)) >= 5);
    assert_non_null(strstr(buf_str(&log), "level=debug"));
    assert_non_null(strstr(buf_str(&log), "msg=\"payq-sim stopped\""));
    assert_null(strstr(buf_str(&log), TESTSIM_PASSWORD));
    assert_null(strstr(buf_str(&log), TESTSIM_KEY));
    assert_null(strstr(buf_str(&log), "0781234567"));
    buf_cleanup(&log);
}

/* A port that was free a moment ago: bound to 0, read back, closed. */
static unsigned free_port(void)
{
    struct sockaddr_in addr = { .sin_family = AF_INET };
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned port;

    assert_true(fd >= 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

/*
 * --listen with a fixed port listens there and says so; the admin port
 * may be any loopback address; a second simulator on the same port
 * fails to start with exit status 1.
 */
static void sim_listens_on_a_fixed_port(void **state)
{
    char listen[32];
    struct reply r;
    struct proc_result res;
    unsigned port = free_port();
    const char *argv[] = { testsim_path(), "--username", "u",    "--password",
                           "pw1",          "--key",      "key1", "--listen",
                           listen,         NULL };

    (void)state;
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    START("--listen", listen, "--admin-listen", "127.0.0.2:0");
    assert_int_equal(sim.port, port);
    pay("FIX-1", "1500", &r);
    expect_pending(&r, "FIX-1");
    http("GET", sim.admin_port, "/_sim/ledger?id=FIX-1", NULL, NULL, 0,
         TIMEOUT_MS, &r);
    assert_int_equal(r.rc, CURLE_COULDNT_CONNECT); /* not on 127.0.0.1 */
    reply_cleanup(&r);

    proc_run(argv, NULL, &res);
    assert_int_equal(res.exit_code, 1);
    assert_non_null(strstr(buf_str(&res.err), "address in use"));
    proc_result_cleanup(&res);
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
        T(sim_decline_answers),
        T(sim_duplicate_id_never_executes_twice),
        T(sim_ledger_records_requests),
        T(sim_admin_lists_every_id),
        T(sim_deposit_beyond_float_answers_1005),
        T(sim_http_errors),
        T(sim_callback_delivered_with_retries),
        T(sim_deposit_callback),
        T(sim_fault_declines_are_reproducible),
        T(sim_fault_http500_executes_nothing),
        T(sim_fault_throttling),
        T(sim_fault_drop_after_execute),
        T(sim_fault_slow_outlasts_client_timeout),
        T(sim_fault_latency),
        T(sim_fault_latency_distribution),
        T(sim_callback_retry_backoff_doubles),
        T(sim_fault_duplicate_callbacks),
        T(sim_fault_early_callbacks),
        T(sim_fault_reorder_callbacks),
        T(sim_fault_lose_callbacks),
        T(sim_fault_late_failure),
        T(sim_callback_faults_reach_the_receiver),
        T(sim_transaction_limit),
        T(sim_admin_reset),
        T(sim_never_logs_secrets_and_stops_cleanly),
        T(sim_listens_on_a_fixed_port),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
