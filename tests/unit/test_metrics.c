/*
 * Unit tests for worker/metrics: the exact exposition lines after known
 * updates (counters, cumulative histogram buckets, gauges), escaping of
 * hostile response codes, the cap on distinct codes, liveness and
 * readiness, and exact totals when many threads count at once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/mem.h"
#include "worker/metrics.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum { RENDER_MAX = 1024 * 1024 };

/* Per test: fresh metrics and the text of the last render. */
struct fixture {
    struct worker_metrics *m;
    struct buf text;
    long live_before;
};

static int setup(void **state)
{
    static struct fixture f;

    f.live_before = mem_live_count();
    if (worker_metrics_create(&f.m) != PAYQ_OK)
        return -1;
    buf_init(&f.text, RENDER_MAX);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    buf_cleanup(&f->text);
    worker_metrics_destroy(f->m);
    /* Every block of the module's own must be back. */
    return mem_live_count() == f->live_before ? 0 : -1;
}

/* Renders afresh and returns the text. */
static const char *render(struct fixture *f)
{
    buf_reset(&f->text);
    assert_int_equal(worker_metrics_render(f->m, &f->text), PAYQ_OK);
    return buf_str(&f->text);
}

/* True when line is one whole line of text. */
static bool has_line(const char *text, const char *line)
{
    size_t len = strlen(line);
    const char *at = text;

    while ((at = strstr(at, line)) != NULL) {
        if ((at == text || at[-1] == '\n') && at[len] == '\n')
            return true;
        at++;
    }
    return false;
}

static void expect_line(const char *text, const char *line)
{
    if (!has_line(text, line)) {
        print_error("missing line: %s\n--- exposition ---\n%s", line, text);
        fail();
    }
}

static void expect_no_line(const char *text, const char *line)
{
    if (has_line(text, line)) {
        print_error("unexpected line: %s\n", line);
        fail();
    }
}

static long long mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void metrics_render_fresh_has_every_family(void **state)
{
    static const char *const lines[] = {
        "# TYPE payq_jobs gauge",
        "payq_jobs{kind=\"pay\",state=\"queued\"} 0",
        "payq_jobs{kind=\"deposit\",state=\"cancelled\"} 0",
        "# TYPE payq_requests_total counter",
        "# TYPE payq_request_duration_seconds histogram",
        "payq_request_duration_seconds_bucket{endpoint=\"balance\","
        "le=\"+Inf\"} 0",
        "payq_request_duration_seconds_sum{endpoint=\"deposit\"} 0.000",
        "payq_request_duration_seconds_count{endpoint=\"pay_v2\"} 0",
        "# TYPE payq_claims_total counter",
        "payq_claims_total 0",
        "# TYPE payq_claimed_jobs_total counter",
        "payq_claimed_jobs_total 0",
        "# TYPE payq_claim_duration_seconds histogram",
        "payq_claim_duration_seconds_bucket{le=\"0.001\"} 0",
        "payq_claim_duration_seconds_sum 0.000",
        "payq_claim_duration_seconds_count 0",
        "# TYPE payq_paused gauge",
        "payq_paused{scope=\"all\"} 0",
        "# TYPE payq_database_up gauge",
        "payq_database_up 0",
        "# TYPE payq_up gauge",
        "payq_up 1",
    };
    struct fixture *f = *state;
    const char *text = render(f);
    size_t i;

    for (i = 0; i < COUNT(lines); i++)
        expect_line(text, lines[i]);
    /* Counter series appear when first counted, not before. */
    assert_null(strstr(text, "payq_requests_total{"));
    assert_null(strstr(text, "endpoint=\"other\""));
    assert_int_equal(text[strlen(text) - 1], '\n');
}

static void metrics_request_counts_by_label(void **state)
{
    struct fixture *f = *state;
    const char *text;

    worker_metrics_request(f->m, "pay_v2", UPSTREAM_CLASS_ACCEPTED, "1000", 40);
    worker_metrics_request(f->m, "pay_v2", UPSTREAM_CLASS_ACCEPTED, "1000",
                           100);
    worker_metrics_request(f->m, "pay_v2", UPSTREAM_CLASS_DECLINED, "1005",
                           2600);
    worker_metrics_request(f->m, "pay_v2", UPSTREAM_CLASS_NOT_SENT, NULL,
                           70000);
    worker_metrics_request(f->m, "deposit", UPSTREAM_CLASS_SUCCEEDED, "01", 0);
    worker_metrics_request(f->m, "balance", UPSTREAM_CLASS_SYSTEMIC, "", 5);
    worker_metrics_request(f->m, "refund", UPSTREAM_CLASS_DUPLICATE_ID, "2400",
                           7);
    text = render(f);

    expect_line(text, "payq_requests_total{endpoint=\"pay_v2\","
                      "class=\"accepted\",code=\"1000\"} 2");
    expect_line(text, "payq_requests_total{endpoint=\"pay_v2\","
                      "class=\"declined\",code=\"1005\"} 1");
    expect_line(text, "payq_requests_total{endpoint=\"pay_v2\","
                      "class=\"not_sent\",code=\"none\"} 1");
    expect_line(text, "payq_requests_total{endpoint=\"deposit\","
                      "class=\"succeeded\",code=\"01\"} 1");
    expect_line(text, "payq_requests_total{endpoint=\"balance\","
                      "class=\"systemic\",code=\"none\"} 1");
    expect_line(text, "payq_requests_total{endpoint=\"other\","
                      "class=\"duplicate_id\",code=\"2400\"} 1");
    expect_no_line(text, "payq_requests_total{endpoint=\"deposit\","
                         "class=\"accepted\",code=\"1000\"} 0");
}

static void metrics_request_histogram_is_cumulative(void **state)
{
    /* Observations 40, 100, 2600 and 70000 ms: le -> count at or below. */
    static const struct {
        const char *le;
        int count;
    } rows[] = {
        { "0.05", 1 }, { "0.1", 2 }, { "0.25", 2 }, { "0.5", 2 },
        { "1", 2 },    { "2.5", 2 }, { "5", 3 },    { "10", 3 },
        { "30", 3 },   { "60", 3 },  { "+Inf", 4 },
    };
    struct fixture *f = *state;
    char line[160];
    const char *text;
    size_t i;

    worker_metrics_request(f->m, "pay_v2", UPSTREAM_CLASS_ACCEPTED, "1000", 40);
    worker_metrics_request(f->m, "pay_v2", UPSTREAM_CLASS_ACCEPTED, "1000",
                           100);
    worker_metrics_request(f->m, "pay_v2", UPSTREAM_CLASS_DECLINED, "1005",
                           2600);
    worker_metrics_request(f->m, "pay_v2", UPSTREAM_CLASS_AMBIGUOUS, NULL,
                           70000);
    text = render(f);

    for (i = 0; i < COUNT(rows); i++) {
        snprintf(line, sizeof(line),
                 "payq_request_duration_seconds_bucket{endpoint=\"pay_v2\","
                 "le=\"%s\"} %d",
                 rows[i].le, rows[i].count);
        expect_line(text, line);
    }
    expect_line(text, "payq_request_duration_seconds_sum{endpoint=\"pay_v2\"} "
                      "72.740");
    expect_line(text,
                "payq_request_duration_seconds_count{endpoint=\"pay_v2\"} 4");
    expect_line(text, "payq_request_duration_seconds_count"
                      "{endpoint=\"deposit\"} 0");
}

static void metrics_code_label_escaped(void **state)
{
    struct fixture *f = *state;
    const char *text;

    worker_metrics_request(f->m, "deposit", UPSTREAM_CLASS_AMBIGUOUS, "a\"b\nc",
                           1);
    worker_metrics_request(f->m, "deposit", UPSTREAM_CLASS_AMBIGUOUS, "x\\y",
                           1);
    text = render(f);

    expect_line(text, "payq_requests_total{endpoint=\"deposit\","
                      "class=\"ambiguous\",code=\"a\\\"b\\nc\"} 1");
    expect_line(text, "payq_requests_total{endpoint=\"deposit\","
                      "class=\"ambiguous\",code=\"x\\\\y\"} 1");
    /* The raw newline must not have split a line. */
    assert_null(strstr(text, "\nc\"}"));
}

static void metrics_codes_capped_into_other(void **state)
{
    struct fixture *f = *state;
    char code[16], line[160];
    const char *text;
    int i;

    for (i = 0; i < WORKER_METRICS_CODES_MAX + 2; i++) {
        snprintf(code, sizeof(code), "c%d", i);
        worker_metrics_request(f->m, "pay_v2", UPSTREAM_CLASS_DECLINED, code,
                               1);
    }
    /* A known code still counts as itself once the table is full. */
    worker_metrics_request(f->m, "pay_v2", UPSTREAM_CLASS_DECLINED, "c5", 1);
    text = render(f);

    for (i = 0; i < WORKER_METRICS_CODES_MAX; i++) {
        snprintf(line, sizeof(line),
                 "payq_requests_total{endpoint=\"pay_v2\","
                 "class=\"declined\",code=\"c%d\"} %d",
                 i, i == 5 ? 2 : 1);
        expect_line(text, line);
    }
    assert_null(strstr(text, "code=\"c64\""));
    assert_null(strstr(text, "code=\"c65\""));
    expect_line(text, "payq_requests_total{endpoint=\"pay_v2\","
                      "class=\"declined\",code=\"other\"} 2");
}

static void metrics_odd_codes_count_as_other(void **state)
{
    struct fixture *f = *state;
    char longest[WORKER_METRICS_CODE_LEN_MAX + 2];
    const char *text;

    memset(longest, '7', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    worker_metrics_request(f->m, "balance", UPSTREAM_CLASS_AMBIGUOUS, longest,
                           1);
    worker_metrics_request(f->m, "balance", UPSTREAM_CLASS_AMBIGUOUS, "bad\xff",
                           1);
    longest[WORKER_METRICS_CODE_LEN_MAX] = '\0';
    worker_metrics_request(f->m, "balance", UPSTREAM_CLASS_AMBIGUOUS, longest,
                           1);
    text = render(f);

    expect_line(text, "payq_requests_total{endpoint=\"balance\","
                      "class=\"ambiguous\",code=\"other\"} 2");
    assert_non_null(strstr(text, longest));
    assert_null(strstr(text, "bad"));
}

static void metrics_set_jobs_replaces_gauges(void **state)
{
    struct fixture *f = *state;
    long long counts[JOB_KIND_COUNT][JOB_STATE_COUNT] = { { 0 } };
    const char *text;

    counts[JOB_KIND_PAY][JOB_STATE_QUEUED] = 12;
    counts[JOB_KIND_DEPOSIT][JOB_STATE_UNKNOWN] = 3;
    worker_metrics_set_jobs(f->m, counts);
    counts[JOB_KIND_PAY][JOB_STATE_QUEUED] = 9;
    counts[JOB_KIND_PAY][JOB_STATE_SUCCEEDED] = 1000000;
    worker_metrics_set_jobs(f->m, counts);
    text = render(f);

    expect_line(text, "payq_jobs{kind=\"pay\",state=\"queued\"} 9");
    expect_line(text, "payq_jobs{kind=\"pay\",state=\"succeeded\"} 1000000");
    expect_line(text, "payq_jobs{kind=\"deposit\",state=\"unknown\"} 3");
    expect_line(text, "payq_jobs{kind=\"deposit\",state=\"queued\"} 0");
}

static void metrics_claims_counted(void **state)
{
    static const struct {
        const char *le;
        int count;
    } rows[] = {
        { "0.001", 1 }, { "0.005", 2 }, { "0.01", 2 }, { "0.025", 2 },
        { "0.05", 2 },  { "0.1", 2 },   { "0.25", 2 }, { "0.5", 2 },
        { "1", 3 },     { "+Inf", 4 },
    };
    struct fixture *f = *state;
    char line[120];
    const char *text;
    size_t i;

    worker_metrics_claim(f->m, 0, 4);
    worker_metrics_claim(f->m, 3, 0);
    worker_metrics_claim(f->m, 1000, 2);
    worker_metrics_claim(f->m, 1501, 1);
    text = render(f);

    expect_line(text, "payq_claims_total 4");
    expect_line(text, "payq_claimed_jobs_total 7");
    for (i = 0; i < COUNT(rows); i++) {
        snprintf(line, sizeof(line),
                 "payq_claim_duration_seconds_bucket{le=\"%s\"} %d", rows[i].le,
                 rows[i].count);
        expect_line(text, line);
    }
    expect_line(text, "payq_claim_duration_seconds_sum 2.504");
    expect_line(text, "payq_claim_duration_seconds_count 4");
}

static void metrics_pause_and_database_gauges(void **state)
{
    struct fixture *f = *state;
    const char *text;

    worker_metrics_set_paused(f->m, true, false, true);
    worker_metrics_set_db_up(f->m, true);
    text = render(f);

    expect_line(text, "payq_paused{scope=\"all\"} 1");
    expect_line(text, "payq_paused{scope=\"pay\"} 0");
    expect_line(text, "payq_paused{scope=\"deposit\"} 1");
    expect_line(text, "payq_database_up 1");
}

static void metrics_ready_needs_db_beat_and_no_stop(void **state)
{
    struct fixture *f = *state;

    /* Created alive: the pool gets time to reach its main loop. */
    assert_true(worker_metrics_alive(f->m, WORKER_METRICS_ALIVE_MS));
    assert_false(worker_metrics_ready(f->m));
    assert_string_equal(worker_metrics_unready_reason(f->m), "database down");

    worker_metrics_set_db_up(f->m, true);
    assert_true(worker_metrics_ready(f->m));
    assert_null(worker_metrics_unready_reason(f->m));

    worker_metrics_beat_at(f->m, mono_ms() - 20000);
    assert_false(worker_metrics_alive(f->m, 10000));
    assert_true(worker_metrics_alive(f->m, 60000));
    assert_string_equal(worker_metrics_unready_reason(f->m), "stalled");

    worker_metrics_beat(f->m);
    assert_true(worker_metrics_alive(f->m, 1000));
    assert_true(worker_metrics_ready(f->m));

    worker_metrics_set_stopping(f->m, true);
    assert_string_equal(worker_metrics_unready_reason(f->m), "stopping");
    worker_metrics_set_db_up(f->m, false);
    assert_string_equal(worker_metrics_unready_reason(f->m), "stopping");
}

enum { THREADS = 16, PER_THREAD = 20000 };

static const char *const hammer_codes[] = { "1000", "01", "2400", NULL };

struct hammer {
    pthread_t thread;
    struct worker_metrics *m;
    int index;
};

/* Counts PER_THREAD requests and claims; also one code of its own. */
static void *hammer_run(void *arg)
{
    struct hammer *h = arg;
    char own[16];
    int i;

    snprintf(own, sizeof(own), "t%d", h->index);
    /* Separate loops, so that each races only with its own kind. */
    for (i = 0; i < PER_THREAD; i++)
        worker_metrics_request(h->m, "deposit", UPSTREAM_CLASS_ACCEPTED,
                               hammer_codes[(h->index + i) % 4], 30);
    for (i = 0; i < PER_THREAD; i++)
        worker_metrics_claim(h->m, 2, 3);
    worker_metrics_request(h->m, "balance", UPSTREAM_CLASS_SUCCEEDED, own, 1);
    return NULL;
}

static void metrics_threads_give_exact_totals(void **state)
{
    struct fixture *f = *state;
    struct hammer h[THREADS];
    char line[160];
    const char *text;
    int i;

    for (i = 0; i < THREADS; i++) {
        h[i].m = f->m;
        h[i].index = i;
        assert_int_equal(pthread_create(&h[i].thread, NULL, hammer_run, &h[i]),
                         0);
    }
    /* Scrapes while they count: must neither block nor tear. */
    for (i = 0; i < 20; i++)
        (void)render(f);
    for (i = 0; i < THREADS; i++)
        pthread_join(h[i].thread, NULL);
    text = render(f);

    snprintf(line, sizeof(line),
             "payq_requests_total{endpoint=\"deposit\",class=\"accepted\","
             "code=\"1000\"} %d",
             THREADS * PER_THREAD / 4);
    expect_line(text, line);
    snprintf(line, sizeof(line),
             "payq_requests_total{endpoint=\"deposit\",class=\"accepted\","
             "code=\"none\"} %d",
             THREADS * PER_THREAD / 4);
    expect_line(text, line);
    snprintf(line, sizeof(line),
             "payq_request_duration_seconds_bucket{endpoint=\"deposit\","
             "le=\"0.05\"} %d",
             THREADS * PER_THREAD);
    expect_line(text, line);
    snprintf(line, sizeof(line),
             "payq_request_duration_seconds_sum{endpoint=\"deposit\"} "
             "%d.000",
             THREADS * PER_THREAD * 30 / 1000);
    expect_line(text, line);
    snprintf(line, sizeof(line), "payq_claims_total %d", THREADS * PER_THREAD);
    expect_line(text, line);
    snprintf(line, sizeof(line), "payq_claimed_jobs_total %d",
             THREADS * PER_THREAD * 3);
    expect_line(text, line);
    for (i = 0; i < THREADS; i++) {
        snprintf(line, sizeof(line),
                 "payq_requests_total{endpoint=\"balance\","
                 "class=\"succeeded\",code=\"t%d\"} 1",
                 i);
        expect_line(text, line);
    }
}

static void metrics_render_refuses_past_buffer_max(void **state)
{
    struct fixture *f = *state;
    struct buf small;

    buf_init(&small, 100);
    assert_int_equal(worker_metrics_render(f->m, &small), PAYQ_ERR_TOO_LARGE);
    buf_cleanup(&small);
}

#define TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(metrics_render_fresh_has_every_family),
        TEST(metrics_request_counts_by_label),
        TEST(metrics_request_histogram_is_cumulative),
        TEST(metrics_code_label_escaped),
        TEST(metrics_codes_capped_into_other),
        TEST(metrics_odd_codes_count_as_other),
        TEST(metrics_set_jobs_replaces_gauges),
        TEST(metrics_claims_counted),
        TEST(metrics_pause_and_database_gauges),
        TEST(metrics_ready_needs_db_beat_and_no_stop),
        TEST(metrics_threads_give_exact_totals),
        TEST(metrics_render_refuses_past_buffer_max),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
