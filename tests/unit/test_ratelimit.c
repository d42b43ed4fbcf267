/*
 * Unit tests for core/ratelimit: pacing, burst, holds and threads.
 *
 * The bucket reads the real monotonic clock, so exact waits depend on how
 * fast the test runs. Each test therefore times itself and asserts bounds
 * that hold however slow the machine is: a wait can be shorter than the
 * booked schedule by at most the time that has passed since the first
 * reservation, and never longer. Nothing asserts that a sleep was short.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "core/ratelimit.h"

enum { THREADS = 4, PER_THREAD = 1000 };

static long long mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Whole milliseconds since start, rounded up: the slack a bound allows. */
static long long elapsed_ms(long long start)
{
    return (mono_ns() - start + 999999) / 1000000;
}

/* Sleeps at least ms on the bucket's own clock. */
static void sleep_ms(long long ms)
{
    struct timespec t = { .tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L };

    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &t, &t) == EINTR)
        continue;
}

static struct ratelimit *make(double per_second, double burst)
{
    struct ratelimit *rl = NULL;

    assert_int_equal(ratelimit_create(per_second, burst, &rl), PAYQ_OK);
    assert_non_null(rl);
    return rl;
}

static void ratelimit_unlimited_never_waits(void **state)
{
    static const double rates[] = { 0.0, -1.0, -1e9 };
    size_t r;
    int i;

    (void)state;
    for (r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        struct ratelimit *rl = make(rates[r], 1.0);

        for (i = 0; i < 10000; i++)
            assert_int_equal(ratelimit_reserve_ms(rl), 0);
        assert_int_equal(ratelimit_hold_left_ms(rl), 0);
        ratelimit_destroy(rl);
    }
}

static void ratelimit_create_refuses_bad_shapes(void **state)
{
    static const struct {
        double per_second;
        double burst;
        enum payq_err expect;
    } cases[] = {
        { 10.0, 1.0, PAYQ_OK },
        { 10.0, 10.0, PAYQ_OK },
        { 1e12, 1.0, PAYQ_OK },        /* faster than a ns: clamped */
        { 0.0, 0.5, PAYQ_ERR_CONFIG }, /* burst below one token */
        { 10.0, 0.0, PAYQ_ERR_CONFIG },
        { 10.0, -3.0, PAYQ_ERR_CONFIG },
        { 10.0, NAN, PAYQ_ERR_CONFIG },
        { NAN, 1.0, PAYQ_ERR_CONFIG },
        { 1e-6, 1.0, PAYQ_ERR_CONFIG }, /* one token in 11 days */
        { 10.0, INFINITY, PAYQ_ERR_CONFIG },
        { 10.0, 1e7, PAYQ_ERR_CONFIG }, /* 1e6 s to fill */
    };
    static char poison; /* a non-NULL *out that a failure must clear */
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ratelimit *rl = (struct ratelimit *)(void *)&poison;
        enum payq_err err;

        err = ratelimit_create(cases[i].per_second, cases[i].burst, &rl);
        assert_int_equal(err, cases[i].expect);
        if (err == PAYQ_OK)
            assert_non_null(rl);
        else
            assert_null(rl);
        ratelimit_destroy(rl);
    }
    ratelimit_destroy(NULL);
}

/*
 * At 100/s with burst 1 reservation i is booked 10*i ms after the first.
 * Its wait is that less the time since the first reservation (rounded
 * up), so it lies in [10*i - elapsed, 10*i]; when the loop runs quickly
 * consecutive waits differ by 10 ms, give or take one for rounding.
 */
static void ratelimit_waits_step_by_interval(void **state)
{
    struct ratelimit *rl = make(100.0, 1.0);
    long long wait[50];
    long long start = mono_ns();
    long long slack;
    int i;

    (void)state;
    for (i = 0; i < 50; i++)
        wait[i] = ratelimit_reserve_ms(rl);
    slack = elapsed_ms(start);

    assert_int_equal(wait[0], 0);
    for (i = 1; i < 50; i++) {
        assert_true(wait[i] <= 10LL * i);
        assert_true(wait[i] >= 10LL * i - slack);
        assert_true(wait[i] - wait[i - 1] <= 11);
        assert_true(wait[i] - wait[i - 1] >= 9 - slack);
    }
    ratelimit_destroy(rl);
}

static void ratelimit_burst_is_free_at_first(void **state)
{
    struct ratelimit *rl = make(100.0, 5.0);
    long long start = mono_ns();
    long long sixth;
    long long seventh;
    long long slack;
    int i;

    (void)state;
    for (i = 0; i < 5; i++)
        assert_int_equal(ratelimit_reserve_ms(rl), 0);
    sixth = ratelimit_reserve_ms(rl);
    seventh = ratelimit_reserve_ms(rl);
    slack = elapsed_ms(start);

    /* The bucket is empty: the next tokens come at the steady rate. */
    assert_true(sixth <= 10 && sixth >= 10 - slack);
    assert_true(seventh <= 20 && seventh >= 20 - slack);
    ratelimit_destroy(rl);
}

/* Idle time refills the bucket; sleeping at least that long suffices. */
static void ratelimit_bucket_refills_when_idle(void **state)
{
    struct ratelimit *rl = make(100.0, 5.0);
    int i;

    (void)state;
    for (i = 0; i < 7; i++)
        (void)ratelimit_reserve_ms(rl);
    sleep_ms(150);
    for (i = 0; i < 5; i++)
        assert_int_equal(ratelimit_reserve_ms(rl), 0);
    ratelimit_destroy(rl);
}

static void ratelimit_hold_delays_reservations(void **state)
{
    struct ratelimit *rl = make(0.0, 1.0);
    long long wait;
    long long left;

    (void)state;
    ratelimit_hold(rl, 60000);
    wait = ratelimit_reserve_ms(rl);
    left = ratelimit_hold_left_ms(rl);
    /* The hold was read after the reservation, so it can only be less. */
    assert_true(left > 0);
    assert_true(wait >= left);
    assert_true(wait <= 60000);

    /* Later reservations wait for the hold as well. */
    wait = ratelimit_reserve_ms(rl);
    assert_true(wait >= ratelimit_hold_left_ms(rl));
    ratelimit_destroy(rl);
}

/*
 * Waits round up, so a caller who sleeps its wait is never early. The
 * booking is at least wanted ms after t0, and the wait was computed no
 * later than t1; so t1 plus the wait must reach t0 plus wanted. Rounding
 * down would miss by nearly a millisecond while t1 - t0 is microseconds.
 */
static void expect_not_early(long long t0, long long t1, long long wait,
                             long long wanted)
{
    assert_true(t1 - t0 + wait * 1000000LL >= wanted * 1000000LL);
}

static void ratelimit_wait_is_never_early(void **state)
{
    static const long long holds[] = { 1, 7, 20, 1000 };
    struct ratelimit *rl;
    long long t0;
    long long wait;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(holds) / sizeof(holds[0]); i++) {
        rl = make(0.0, 1.0);
        t0 = mono_ns();
        ratelimit_hold(rl, holds[i]);
        wait = ratelimit_reserve_ms(rl);
        expect_not_early(t0, mono_ns(), wait, holds[i]);
        wait = ratelimit_hold_left_ms(rl);
        expect_not_early(t0, mono_ns(), wait, holds[i]);
        ratelimit_destroy(rl);
    }

    rl = make(100.0, 1.0);
    t0 = mono_ns();
    assert_int_equal(ratelimit_reserve_ms(rl), 0);
    wait = ratelimit_reserve_ms(rl);
    expect_not_early(t0, mono_ns(), wait, 10);
    ratelimit_destroy(rl);
}

/* After a hold the bucket is empty: no burst into a throttled provider. */
static void ratelimit_hold_drains_burst(void **state)
{
    struct ratelimit *rl = make(100.0, 5.0);
    long long start = mono_ns();
    long long first;
    long long second;
    long long slack;

    (void)state;
    ratelimit_hold(rl, 60000);
    first = ratelimit_reserve_ms(rl);
    second = ratelimit_reserve_ms(rl);
    slack = elapsed_ms(start);

    assert_true(first <= 60000 && first >= 60000 - slack);
    assert_true(second - first <= 11);
    assert_true(second - first >= 9 - slack);
    ratelimit_destroy(rl);
}

static void ratelimit_hold_never_shortens(void **state)
{
    struct ratelimit *rl = make(10.0, 10.0);
    long long start = mono_ns();
    long long left;

    (void)state;
    ratelimit_hold(rl, 60000);
    ratelimit_hold(rl, 10);
    ratelimit_hold(rl, 0);
    ratelimit_hold(rl, -5000);
    left = ratelimit_hold_left_ms(rl);
    assert_true(left <= 60000 && left >= 60000 - elapsed_ms(start));

    ratelimit_hold(rl, 120000);
    left = ratelimit_hold_left_ms(rl);
    assert_true(left <= 120000 && left >= 120000 - elapsed_ms(start));

    /* Absurd holds are capped rather than overflowing. */
    ratelimit_hold(rl, LLONG_MAX);
    left = ratelimit_hold_left_ms(rl);
    assert_true(left <= RATELIMIT_HOLD_MAX_MS);
    assert_true(left >= RATELIMIT_HOLD_MAX_MS - elapsed_ms(start));
    ratelimit_destroy(rl);
}

struct reserver {
    pthread_t thread;
    struct ratelimit *rl;
    pthread_barrier_t *start; /* so that the threads really contend */
    long long max_wait;
};

static void *reserver_run(void *arg)
{
    struct reserver *r = arg;
    int i;

    pthread_barrier_wait(r->start);
    for (i = 0; i < PER_THREAD; i++) {
        long long wait = ratelimit_reserve_ms(r->rl);

        if (wait > r->max_wait)
            r->max_wait = wait;
    }
    return NULL;
}

/*
 * A long hold first pins the schedule: every token is booked from the
 * hold's end H, one millisecond apart, whatever the clock does meanwhile.
 * After 4000 reservations the next one is booked at exactly H + 4000 ms,
 * so its wait less 4000 is the hold left at the moment it was made, which
 * lies between the hold left just before and just after. A token lost to
 * a race, or handed out twice, books less and falls below that.
 */
static void ratelimit_threads_share_tokens(void **state)
{
    struct ratelimit *rl = make(1000.0, 1.0);
    struct reserver r[THREADS] = { 0 };
    pthread_barrier_t start;
    long long before;
    long long last;
    long long after;
    int i;

    (void)state;
    ratelimit_hold(rl, 600000);
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (i = 0; i < THREADS; i++) {
        r[i].rl = rl;
        r[i].start = &start;
        assert_int_equal(
            pthread_create(&r[i].thread, NULL, reserver_run, &r[i]), 0);
    }
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(r[i].thread, NULL), 0);
    pthread_barrier_destroy(&start);

    before = ratelimit_hold_left_ms(rl);
    last = ratelimit_reserve_ms(rl);
    after = ratelimit_hold_left_ms(rl);
    assert_true(last - THREADS * PER_THREAD <= before);
    assert_true(last - THREADS * PER_THREAD >= after);
    for (i = 0; i < THREADS; i++)
        assert_true(r[i].max_wait < 600000 + THREADS * PER_THREAD);
    ratelimit_destroy(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ratelimit_unlimited_never_waits),
        cmocka_unit_test(ratelimit_create_refuses_bad_shapes),
        cmocka_unit_test(ratelimit_waits_step_by_interval),
        cmocka_unit_test(ratelimit_burst_is_free_at_first),
        cmocka_unit_test(ratelimit_bucket_refills_when_idle),
        cmocka_unit_test(ratelimit_hold_delays_reservations),
        cmocka_unit_test(ratelimit_wait_is_never_early),
        cmocka_unit_test(ratelimit_hold_drains_burst),
        cmocka_unit_test(ratelimit_hold_never_shortens),
        cmocka_unit_test(ratelimit_threads_share_tokens),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
