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
                                     enum upstream_pause pause,
                                     int probe_count)
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
    struct worker_decision d = decide(UPSTREAM_CLASS_ACCEPTED,
                                      UPSTREAM_PAUSE_NONE, 0);

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
    assert_int_equal(decide(UPSTREAM_CLASS_SUCCEEDED, UPSTREAM_PAUSE_NONE,
                            0).result.kind,
                     QUEUE_RESULT_SUCCEEDED);
    assert_int_equal(decide(UPSTREAM_CLASS_DECLINED, UPSTREAM_PAUSE_NONE,
                            0).result.kind,
                     QUEUE_RESULT_FAILED);
}

static void decide_not_sent_retries_without_probe(void **state)
{
    struct worker_decision d = decide(UPSTREAM_CLASS_NOT_SENT,
                                      UPSTREAM_PAUSE_NONE, 2);

    (void)state;
    assert_int_equal(d.result.kind, QUEUE_RESULT_RETRY);
    assert_false(d.result.sent); /* not counted as a probe */
    assert_true(d.result.delay_ms >= 0 && d.result.delay_ms <= 4000);
    assert_int_equal(d.action, WORKER_ACTION_NONE);
}

static void decide_ambiguous_probes_with_backoff(void **state)
{
    struct worker_decision d = decide(UPSTREAM_CLASS_AMBIGUOUS,
                                      UPSTREAM_PAUSE_NONE, 10);

    (void)state;
    assert_int_equal(d.result.kind, QUEUE_RESULT_RETRY);
    assert_true(d.result.sent);
    assert_int_equal(d.result.max_probes, 3);
    assert_true(d.result.delay_ms >= 0 && d.result.delay_ms <= 60000);
}

static void decide_duplicate_first_send_alerts(void **state)
{
    struct worker_decision d = decide(UPSTREAM_CLASS_DUPLICATE_ID,
                                      UPSTREAM_PAUSE_NONE, 0);

    (void)state;
    assert_int_equal(d.result.kind, QUEUE_RESULT_COLLISION);
    assert_int_equal(d.action, WORKER_ACTION_ALERT);
}

static void decide_systemic_pauses(void **state)
{
    struct worker_decision all = decide(UPSTREAM_CLASS_SYSTEMIC,
                                        UPSTREAM_PAUSE_ALL, 0);
    struct worker_decision kind = decide(UPSTREAM_CLASS_SYSTEMIC,
                                         UPSTREAM_PAUSE_KIND, 0);

    (void)state;
    assert_int_equal(all.result.kind, QUEUE_RESULT_NOT_EXECUTED);
    assert_int_equal(all.result.delay_ms, 5000);
    assert_int_equal(all.action, WORKER_ACTION_PAUSE_ALL);
    assert_int_equal(kind.result.kind, QUEUE_RESULT_NOT_EXECUTED);
    assert_int_equal(kind.action, WORKER_ACTION_PAUSE_KIND);
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
    struct worker_decision d = decide((enum upstream_class)99,
                                      UPSTREAM_PAUSE_NONE, 0);

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
        cmocka_unit_test(decide_ambiguous_probes_with_backoff),
        cmocka_unit_test(decide_duplicate_first_send_alerts),
        cmocka_unit_test(decide_systemic_pauses),
        cmocka_unit_test(decide_throttled_slows_pool),
        cmocka_unit_test(decide_unknown_class_is_ambiguous),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
