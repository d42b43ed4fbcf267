/* Unit tests for queue/job: state and kind names round-trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "queue/job.h"

static void job_state_names_round_trip(void **state)
{
    int s;

    (void)state;
    for (s = 0; s < JOB_STATE_COUNT; s++) {
        enum job_state parsed;

        assert_int_equal(
            job_state_parse(job_state_name((enum job_state)s), &parsed),
            PAYQ_OK);
        assert_int_equal(parsed, s);
    }
}

static void job_parse_rejects_unknown_names(void **state)
{
    enum job_state st;
    enum job_kind kind;

    (void)state;
    assert_int_equal(job_state_parse("done", &st), PAYQ_ERR_DATA);
    assert_int_equal(job_state_parse("QUEUED", &st), PAYQ_ERR_DATA);
    assert_int_equal(job_state_parse("", &st), PAYQ_ERR_DATA);
    assert_int_equal(job_kind_parse("payout", &kind), PAYQ_ERR_DATA);
    assert_int_equal(job_kind_parse("deposit", &kind), PAYQ_OK);
    assert_int_equal(kind, JOB_KIND_DEPOSIT);
    assert_string_equal(job_kind_name(JOB_KIND_PAY), "pay");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(job_state_names_round_trip),
        cmocka_unit_test(job_parse_rejects_unknown_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
