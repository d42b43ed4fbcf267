/*
 * The --listen endpoint over a real socket: worker_httpd on 127.0.0.1
 * with a free port, fetched with libcurl. Covers the three routes and
 * their status changes, 404, 405, refused bodies, HEAD, a slow client
 * beside a normal one, and malformed or taken listen addresses.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "worker/httpd.h"
#include "worker/metrics.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum { BODY_MAX = 1024 * 1024, HEADERS_MAX = 8192 };

/* One running endpoint per test. */
struct fixture {
    struct worker_metrics *m;
    struct worker_httpd *h;
    unsigned port;
    long live_before;
};

/* What a fetch brought back. */
struct answer {
    long status;
    char type[128]; /* Content-Type, "" when none */
    struct buf body;
    struct buf headers;
};

static int setup(void **state)
{
    static struct fixture f;

    f.live_before = mem_live_count();
    if (worker_metrics_create(&f.m) != PAYQ_OK)
        return -1;
    if (worker_httpd_start("127.0.0.1:0", f.m, &f.h) != PAYQ_OK)
        return -1;
    f.port = worker_httpd_port(f.h);
    *state = &f;
    return f.port != 0 ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    worker_httpd_stop(f->h);
    worker_metrics_destroy(f->m);
    return mem_live_count() == f->live_before ? 0 : -1;
}

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
    struct buf *b = ctx;

    return buf_append(b, data, size * n) == PAYQ_OK ? size * n : 0;
}

/*
 * Sends method to path; body (or NULL) as the request body. "HEAD" asks
 * for headers only. The caller cleans up with answer_cleanup().
 */
static void fetch(const struct fixture *f, const char *method, const char *path,
                  const char *body, struct answer *a)
{
    CURL *curl = curl_easy_init();
    char url[128];
    char *type = NULL;

    assert_non_null(curl);
    memset(a, 0, sizeof(*a));
    buf_init(&a->body, BODY_MAX);
    buf_init(&a->headers, HEADERS_MAX);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", f->port, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a->body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a->headers);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);

    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    if (type != NULL)
        snprintf(a->type, sizeof(a->type), "%s", type);
    curl_easy_cleanup(curl);
}

static void answer_cleanup(struct answer *a)
{
    buf_cleanup(&a->body);
    buf_cleanup(&a->headers);
}

/* Fetches with GET and checks the status and the whole body. */
static void expect_get(const struct fixture *f, const char *path, long status,
                       const char *body)
{
    struct answer a;

    fetch(f, "GET", path, NULL, &a);
    if (a.status != status || strcmp(buf_str(&a.body), body) != 0) {
        print_error("GET %s: %ld \"%s\", wanted %ld \"%s\"\n", path, a.status,
                    buf_str(&a.body), status, body);
        answer_cleanup(&a);
        fail();
    }
    answer_cleanup(&a);
}

static long long mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void httpd_metrics_served_as_text_format(void **state)
{
    struct fixture *f = *state;
    struct answer a;

    worker_metrics_request(f->m, "pay_v2", UPSTREAM_CLASS_ACCEPTED, "1000",
                           120);
    fetch(f, "GET", "/metrics", NULL, &a);

    assert_int_equal(a.status, 200);
    assert_string_equal(a.type, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(buf_str(&a.body), "\npayq_up 1\n"));
    assert_non_null(strstr(buf_str(&a.body),
                           "\npayq_requests_total{endpoint=\"pay_v2\","
                           "class=\"accepted\",code=\"1000\"} 1\n"));
    answer_cleanup(&a);
}

static void httpd_healthz_follows_beat(void **state)
{
    struct fixture *f = *state;

    expect_get(f, "/healthz", 200, "ok\n");
    worker_metrics_beat_at(f->m, mono_ms() - WORKER_METRICS_ALIVE_MS - 1000);
    expect_get(f, "/healthz", 503, "stalled\n");
    worker_metrics_beat(f->m);
    expect_get(f, "/healthz", 200, "ok\n");
}

static void httpd_readyz_says_why_not(void **state)
{
    struct fixture *f = *state;

    expect_get(f, "/readyz", 503, "database down\n");
    worker_metrics_set_db_up(f->m, true);
    expect_get(f, "/readyz", 200, "ready\n");
    worker_metrics_beat_at(f->m, mono_ms() - WORKER_METRICS_ALIVE_MS - 1000);
    expect_get(f, "/readyz", 503, "stalled\n");
    worker_metrics_beat(f->m);
    worker_metrics_set_stopping(f->m, true);
    expect_get(f, "/readyz", 503, "stopping\n");
}

static void httpd_unknown_path_404(void **state)
{
    static const char *const paths[] = {
        "/", "/metricsx", "/metrics/", "/healthz/x", "/READYZ",
    };
    struct fixture *f = *state;
    size_t i;

    for (i = 0; i < COUNT(paths); i++)
        expect_get(f, paths[i], 404, "not found\n");
    /* A query string does not change the path. */
    expect_get(f, "/healthz?verbose=1", 200, "ok\n");
}

static void httpd_other_methods_405(void **state)
{
    static const char *const methods[] = { "POST", "PUT", "DELETE" };
    struct fixture *f = *state;
    struct answer a;
    size_t i;

    for (i = 0; i < COUNT(methods); i++) {
        fetch(f, methods[i], "/metrics", "x=1", &a);
        assert_int_equal(a.status, 405);
        assert_non_null(strstr(buf_str(&a.headers), "Allow: GET, HEAD\r\n"));
        answer_cleanup(&a);
    }
}

static void httpd_request_body_refused(void **state)
{
    struct fixture *f = *state;
    struct answer a;

    fetch(f, "GET", "/metrics", "a body", &a);
    assert_int_equal(a.status, 413);
    assert_null(strstr(buf_str(&a.body), "payq_up"));
    answer_cleanup(&a);
}

static void httpd_head_answers_without_body(void **state)
{
    struct fixture *f = *state;
    struct answer a;

    fetch(f, "HEAD", "/metrics", NULL, &a);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.body.len, 0);
    assert_string_equal(a.type, "text/plain; version=0.0.4; charset=utf-8");
    answer_cleanup(&a);
}

/* A client that sends half its headers and waits must not block others. */
static void httpd_slow_client_does_not_block(void **state)
{
    static const char partial[] = "GET /metrics HTTP/1.1\r\nHost: x";
    struct fixture *f = *state;
    struct sockaddr_in addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)f->port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(write(fd, partial, sizeof(partial) - 1),
                     (ssize_t)(sizeof(partial) - 1));

    expect_get(f, "/healthz", 200, "ok\n");
    close(fd);
}

static void httpd_listen_malformed_refused(void **state)
{
    static const char *const bad[] = {
        "",
        ":",
        "127.0.0.1",
        "127.0.0.1:",
        ":8080",
        "127.0.0.1:65536",
        "127.0.0.1:99999999999",
        "127.0.0.1:-1",
        "127.0.0.1:+80",
        "127.0.0.1: 80",
        "127.0.0.1:80x",
        "127.0.0.1:0x50",
        "256.0.0.1:80",
        "127.0.0:80",
        "127.0.0.1.5:80",
        " 127.0.0.1:80",
        "example.com:80",
        "LOCALHOST:80",
        "::1:80",
        "[::1]:80",
        "0123456789012345678901234567890123456789012345678901234567890:80",
    };
    struct fixture *f = *state;
    struct worker_httpd *h;
    size_t i;

    for (i = 0; i < COUNT(bad); i++) {
        h = (struct worker_httpd *)f; /* must be reset to NULL */
        if (worker_httpd_start(bad[i], f->m, &h) != PAYQ_ERR_CONFIG) {
            print_error("listen \"%s\" was not refused\n", bad[i]);
            worker_httpd_stop(h);
            fail();
        }
        assert_null(h);
    }
    assert_int_equal(worker_httpd_start(NULL, f->m, &h), PAYQ_ERR_CONFIG);
}

static void httpd_listen_localhost_and_taken_port(void **state)
{
    struct fixture *f = *state;
    struct worker_httpd *h = NULL;
    char taken[32];

    assert_int_equal(worker_httpd_start("localhost:0", f->m, &h), PAYQ_OK);
    assert_true(worker_httpd_port(h) > 0);
    assert_int_not_equal(worker_httpd_port(h), f->port);
    worker_httpd_stop(h);

    snprintf(taken, sizeof(taken), "127.0.0.1:%u", f->port);
    assert_int_equal(worker_httpd_start(taken, f->m, &h), PAYQ_ERR_IO);
    assert_null(h);
}

#define TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(httpd_metrics_served_as_text_format),
        TEST(httpd_healthz_follows_beat),
        TEST(httpd_readyz_says_why_not),
        TEST(httpd_unknown_path_404),
        TEST(httpd_other_methods_405),
        TEST(httpd_request_body_refused),
        TEST(httpd_head_answers_without_body),
        TEST(httpd_slow_client_does_not_block),
        TEST(httpd_listen_malformed_refused),
        TEST(httpd_listen_localhost_and_taken_port),
    };
    int failed;

    /* Each start logs at info; the refusals, at error, still show. */
    log_init(2, LOG_LEVEL_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
