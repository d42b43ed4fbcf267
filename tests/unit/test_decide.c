/*
 * Unit tests for worker/decide: every outcome class becomes the right
 * job transition, probe accounting, delay and pool action.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "worker/decide.h"

static const struct worker_policy policy = {
    .backoff_base_ms = 1000,
    .backoff_cap_ms = 60000,
    .max_probes = 3,
    .callback_timeout_s = 1800,
    .systemic_delay_ms = 5000,
};

/* d's strings borrow from the result: it outlives the call. */
static struct upstream_result r;

static struct worker_decision decide(enum upstream_class cls,
                                     enum upstream_pause pause, int probe_count)
{
    struct queue_job job;
    struct worker_decision d;
    uint64_t rng = 7;

    memset(&job, 0, sizeof(job));
    memset(&r, 0, sizeof(r));
    job.probe_count = probe_count;
    r.cls = cls;
    r.pause = pause;
    r.retry_after_s = -1;
    r.http_status = 200;
    snprintf(r.code, sizeof(r.code), "%s", "1000");
    snprintf(r.message, sizeof(r.message), "%s", "Pending");
    r.duration_ms = 12;
    worker_decide(&job, &r, "{}", &policy, &rng, &d);
    return d;
}

static void decide_accepted_waits_for_callback(void **state)
{
    struct worker_decision d =
        decide(UPSTREAM_CLASS_ACCEPTED, UPSTREAM_PAUSE_NONE, 0);

    (void)state;
    assert_int_equal(d.result.kind, QUEUE_RESULT_PENDING);
    assert_true(d.result.sent);
    assert_int_equal(d.result.callback_timeout_s, 1800);
    assert_string_equal(d.result.code, "1000");
    assert_string_equal(d.result.body, "{}");
    assert_int_equal(d.result.duration_ms, 12);
    assert_int_equal(d.action, WORKER_ACTION_NONE);
}

static void decide_final_classes(void **state)
{
    (void)state;
    assert_int_equal(
        decide(UPSTREAM_CLASS_SUCCEEDED, UPSTREAM_PAUSE_NONE, 0).result.kind,
        QUEUE_RESULT_SUCCEEDED);
    assert_int_equal(
        decide(UPSTREAM_CLASS_DECLINED, UPSTREAM_PAUSE_NONE, 0).result.kind,
        QUEUE_RESULT_FAILED);
}

static void decide_not_sent_retries_without_probe(void **state)
{
    struct worker_decision d =
        decide(UPSTREAM_CLASS_NOT_SENT, UPSTREAM_PAUSE_NONE, 2);

    (void)state;
    assert_int_equal(d.result.kind, QUEUE_RESULT_RETRY);
    assert_false(d.result.sent); /* not counted as a probe */
    assert_true(d.result.delay_ms >= 0 && d.result.delay_ms <= 4000);
    assert_int_equal(d.action, WORKER_ACTION_NONE);
}

/* The largest of many delays drawn for job: near the backoff's ceiling. */
static long long largest_delay(const struct queue_job *job,
                               enum upstream_class cls)
{
    struct worker_decision d;
    long long most = 0;
    uint64_t rng = 7;
    int i;

    memset(&r, 0, sizeof(r));
    r.cls = cls;
    r.retry_after_s = -1;
    for (i = 0; i < 200; i++) {
        worker_decide(job, &r, NULL, &policy, &rng, &d);
        assert_true(d.result.delay_ms >= 0);
        if (d.result.delay_ms > most)
            most = d.result.delay_ms;
    }
    return most;
}

/*
 * Tries that never leave grow the backoff as probes do (base 1 s, cap
 * 60 s): not a fixed base-sized wait forever. Throttled answers without
 * Retry-After too.
 */
static void decide_not_sent_backoff_grows(void **state)
{
    struct queue_job job;

    (void)state;
    memset(&job, 0, sizeof(job));
    assert_true(largest_delay(&job, UPSTREAM_CLASS_NOT_SENT) <= 1000);
    job.unsent_count = 3;
    assert_int_equal(worker_retry_exponent(&job), 3);
    assert_in_range(largest_delay(&job, UPSTREAM_CLASS_NOT_SENT), 4001, 8000);
    assert_in_range(largest_delay(&job, UPSTREAM_CLASS_THROTTLED), 4001, 8000);
    job.unsent_count = 30;
    assert_in_range(largest_delay(&job, UPSTREAM_CLASS_NOT_SENT), 30001, 60000);
    /* Probes and unsent tries: whichever is more sets the exponent. */
    job.unsent_count = 1;
    job.probe_count = 4;
    assert_int_equal(worker_retry_exponent(&job), 4);
}

/*
 * Not sent is retried without limit while the id was never live, since
 * nothing can have executed; once an earlier send may have arrived, each
 * try uses up a probe. A throttle never does.
 */
static void decide_not_sent_of_live_id_counts_as_probe(void **state)
{
    struct queue_job job;
    struct worker_decision d;
    uint64_t rng = 7;

    (void)state;
    memset(&job, 0, sizeof(job));
    memset(&r, 0, sizeof(r));
    r.cls = UPSTREAM_CLASS_NOT_SENT;
    worker_decide(&job, &r, NULL, &policy, &rng, &d);
    assert_false(d.result.counts_as_probe);
    job.resend = true;
    job.live = true;
    worker_decide(&job, &r, NULL, &policy, &rng, &d);
    assert_int_equal(d.result.kind, QUEUE_RESULT_RETRY);
    assert_false(d.result.sent);
    assert_true(d.result.counts_as_probe);
    r.cls = UPSTREAM_CLASS_THROTTLED;
    worker_decide(&job, &r, NULL, &policy, &rng, &d);
    assert_false(d.result.counts_as_probe);
}

/*
 * Payq's own refusals: an unwritable row fails only while its id was
 * never live (nothing can have left); a live one is a probe without an
 * answer. No callback URL with a token pauses collections.
 */
static void decide_refused_locally(void **state)
{
    struct queue_job job;
    struct worker_decision d;
    uint64_t rng = 7;

    (void)state;
    memset(&job, 0, sizeof(job));
    job.kind = JOB_KIND_PAY;
    worker_decide_refused(&job, PAYQ_ERR_DATA, &policy, &rng, &d);
    assert_int_equal(d.result.kind, QUEUE_RESULT_FAILED);
    assert_false(d.result.sent);
    assert_int_equal(d.action, WORKER_ACTION_NONE);
    job.resend = true;
    job.live = true;
    job.probe_count = 2;
    worker_decide_refused(&job, PAYQ_ERR_TOO_LARGE, &policy, &rng, &d);
    assert_int_equal(d.result.kind, QUEUE_RESULT_RETRY);
    assert_true(d.result.counts_as_probe);
    assert_int_equal(d.result.max_probes, 3);
    assert_true(d.result.delay_ms <= 4000);
    job.live = false;
    worker_decide_refused(&job, PAYQ_ERR_CONFIG, &policy, &rng, &d);
    assert_int_equal(d.result.kind, QUEUE_RESULT_RETRY);
    assert_false(d.result.counts_as_probe);
    assert_int_equal(d.action, WORKER_ACTION_PAUSE_KIND);
    assert_non_null(strstr(d.why, "PAYQ_CALLBACK_URL"));
    worker_decide_refused(&job, PAYQ_ERR_NOMEM, &policy, &rng, &d);
    assert_int_equal(d.result.kind, QUEUE_RESULT_RETRY);
    assert_int_equal(d.action, WORKER_ACTION_NONE);
}

static void decide_ambiguous_probes_with_backoff(void **state)
{
    struct worker_decision d =
        decide(UPSTREAM_CLASS_AMBIGUOUS, UPSTREAM_PAUSE_NONE, 10);

    (void)state;
    assert_int_equal(d.result.kind, QUEUE_RESULT_RETRY);
    assert_true(d.result.sent);
    assert_int_equal(d.result.max_probes, 3);
    assert_true(d.result.delay_ms >= 0 && d.result.delay_ms <= 60000);
}

static void decide_duplicate_first_send_alerts(void **state)
{
    struct worker_decision d =
        decide(UPSTREAM_CLASS_DUPLICATE_ID, UPSTREAM_PAUSE_NONE, 0);

    (void)state;
    assert_int_equal(d.result.kind, QUEUE_RESULT_COLLISION);
    assert_int_equal(d.action, WORKER_ACTION_ALERT);
}

static void decide_systemic_pauses(void **state)
{
    struct worker_decision all =
        decide(UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_ALL, 0);
    struct worker_decision kind =
        decide(UPSTREAM_CLASS_SYSTEMIC, UPSTREAM_PAUSE_KIND, 0);

    (void)state;
    assert_int_equal(all.result.kind, QUEUE_RESULT_NOT_EXECUTED);
    assert_int_equal(all.result.delay_ms, 5000);
    assert_int_equal(all.action, WORKER_ACTION_PAUSE_ALL);
    assert_string_equal(all.why, "Pending"); /* the provider's message */
    assert_int_equal(kind.result.kind, QUEUE_RESULT_NOT_EXECUTED);
    assert_int_equal(kind.action, WORKER_ACTION_PAUSE_KIND);
    assert_false(kind.short_float); /* a collection's code, not 1005 */
}

/* 1005 on a payout is our float: a pause the balance can lift. */
static void decide_deposit_1005_is_short_float(void **state)
{
    struct queue_job job;
    struct worker_decision d;
    uint64_t rng = 7;

    (void)state;
    memset(&job, 0, sizeof(job));
    memset(&r, 0, sizeof(r));
    job.kind = JOB_KIND_DEPOSIT;
    job.resend = true;
    job.live = true;
    r.cls = UPSTREAM_CLASS_SYSTEMIC;
    r.pause = UPSTREAM_PAUSE_KIND;
    r.reason = "systemic code";
    snprintf(r.code, sizeof(r.code), "%s", "1005");
    worker_decide(&job, &r, NULL, &policy, &rng, &d);
    /* On a probe too: the queue keeps that attempt open (test_claim). */
    assert_int_equal(d.result.kind, QUEUE_RESULT_NOT_EXECUTED);
    assert_false(d.result.counts_as_probe);
    assert_int_equal(d.action, WORKER_ACTION_PAUSE_KIND);
    assert_true(d.short_float);
    assert_string_equal(d.code, "1005");
    assert_string_equal(d.why, "systemic code");
}

static void decide_throttled_slows_pool(void **state)
{
    struct queue_job job;
    struct worker_decision d;
    uint64_t rng = 7;

    (void)state;
    memset(&job, 0, sizeof(job));
    memset(&r, 0, sizeof(r));
    r.cls = UPSTREAM_CLASS_THROTTLED;
    r.retry_after_s = 7;
    worker_decide(&job, &r, NULL, &policy, &rng, &d);
    assert_int_equal(d.result.kind, QUEUE_RESULT_RETRY);
    assert_false(d.result.sent);
    assert_int_equal(d.result.delay_ms, 7000);
    assert_int_equal(d.action, WORKER_ACTION_SLOW_DOWN);
    assert_int_equal(d.slow_down_s, 7);
    assert_null(d.result.code); /* empty strings are not recorded */
    r.retry_after_s = -1;
    worker_decide(&job, &r, NULL, &policy, &rng, &d);
    assert_int_equal(d.slow_down_s, 1);
}

static void decide_unknown_class_is_ambiguous(void **state)
{
    struct worker_decision d =
        decide((enum upstream_class)99, UPSTREAM_PAUSE_NONE, 0);

    (void)state;
    assert_int_equal(d.result.kind, QUEUE_RESULT_RETRY);
    assert_true(d.result.sent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decide_accepted_waits_for_callback),
        cmocka_unit_test(decide_final_classes),
        cmocka_unit_test(decide_not_sent_retries_without_probe),
        cmocka_unit_test(decide_not_sent_backoff_grows),
        cmocka_unit_test(decide_not_sent_of_live_id_counts_as_probe),
        cmocka_unit_test(decide_refused_locally),
        cmocka_unit_test(decide_deposit_1005_is_short_float),
        cmocka_unit_test(decide_ambiguous_probes_with_backoff),
        cmocka_unit_test(decide_duplicate_first_send_alerts),
        cmocka_unit_test(decide_systemic_pauses),
        cmocka_unit_test(decide_throttled_slows_pool),
        cmocka_unit_test(decide_unknown_class_is_ambiguous),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
