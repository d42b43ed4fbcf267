/* Unit tests for core/backoff: bounds, growth, cap and jitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/backoff.h"

static void backoff_ceiling_doubles_up_to_cap(void **state)
{
    (void)state;
    assert_int_equal(backoff_ceiling_ms(5000, 900000, 0), 5000);
    assert_int_equal(backoff_ceiling_ms(5000, 900000, 1), 10000);
    assert_int_equal(backoff_ceiling_ms(5000, 900000, 3), 40000);
    assert_int_equal(backoff_ceiling_ms(5000, 900000, 7), 640000);
    assert_int_equal(backoff_ceiling_ms(5000, 900000, 8), 900000);
    assert_int_equal(backoff_ceiling_ms(5000, 900000, 1000000), 900000);
}

static void backoff_odd_inputs_saturate(void **state)
{
    (void)state;
    assert_int_equal(backoff_ceiling_ms(-5, 100, 3), 0);
    assert_int_equal(backoff_ceiling_ms(5, -100, 3), 0);
    assert_int_equal(backoff_ceiling_ms(5, 100, -3), 5);
    assert_int_equal(backoff_ceiling_ms(INT64_MAX / 2 + 7, INT64_MAX, 60),
                     INT64_MAX);
    assert_int_equal(backoff_ceiling_ms(200, 100, 0), 100);
}

static void backoff_delay_stays_within_ceiling(void **state)
{
    uint64_t rng = 12345;
    int attempt;
    int i;

    (void)state;
    for (attempt = 0; attempt < 12; attempt++) {
        long long ceiling = backoff_ceiling_ms(100, 50000, attempt);

        for (i = 0; i < 1000; i++) {
            long long d = backoff_delay_ms(100, 50000, attempt, &rng);

            assert_true(d >= 0);
            assert_true(d <= ceiling);
        }
    }
    assert_int_equal(backoff_delay_ms(0, 50000, 4, &rng), 0);
}

/* Full jitter: draws spread over the whole range, not near its top. */
static void backoff_delay_is_jittered_over_whole_range(void **state)
{
    uint64_t rng = 99;
    int low = 0;
    int high = 0;
    int i;

    (void)state;
    for (i = 0; i < 10000; i++) {
        long long d = backoff_delay_ms(1000, 1000000, 3, &rng);

        if (d < 2000)
            low++;
        else if (d >= 6000)
            high++;
    }
    /* Each quarter of [0, 8000] should get about 2500 draws. */
    assert_true(low > 2000 && low < 3000);
    assert_true(high > 2000 && high < 3000);
}

static void backoff_seeds_differ(void **state)
{
    uint64_t a = backoff_seed();
    uint64_t b = backoff_seed();

    (void)state;
    assert_true(a != 0);
    assert_true(b != 0);
    assert_true(a != b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_ceiling_doubles_up_to_cap),
        cmocka_unit_test(backoff_odd_inputs_saturate),
        cmocka_unit_test(backoff_delay_stays_within_ceiling),
        cmocka_unit_test(backoff_delay_is_jittered_over_whole_range),
        cmocka_unit_test(backoff_seeds_differ),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
