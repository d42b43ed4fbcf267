/*
 * Token bucket kept as a schedule (the "generic cell rate algorithm"):
 * instead of counting tokens and refilling them on a timer, the bucket is
 * one instant, next_ns, up to which the steady rate is already booked.
 * Each reservation books one interval after max(next_ns, now), and may
 * send up to tolerance_ns ((burst - 1) intervals) before its booking,
 * which is what lets a full bucket's tokens go at once. A bucket left
 * idle has next_ns in the past, which is the same as a full bucket, so
 * nothing needs to run between calls.
 *
 * All arithmetic is in integer nanoseconds of CLOCK_MONOTONIC; the limits
 * checked at creation and the cap on holds keep every sum centuries away
 * from overflow.
 */
#include "core/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <time.h>

#include "core/mem.h"

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000.0
/* A bucket that takes longer than this to fill is a configuration slip. */
#define RATELIMIT_SPAN_MAX_NS (86400.0 * NS_PER_S)

struct ratelimit {
    long long interval_ns;  /* between steady-rate tokens; 0 unlimited */
    long long tolerance_ns; /* how far ahead of its booking one may send */
    /*
     * lock guards the two instants below, which every thread shares. It
     * is held only for the arithmetic, never while anyone waits.
     */
    pthread_mutex_t lock;
    long long next_ns;       /* the steady rate is booked up to here */
    long long hold_until_ns; /* nobody sends before this */
};

static long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Rounds up, so that a caller who waits the result is never early. */
static long long ns_to_ms_up(long long ns)
{
    if (ns <= 0)
        return 0;
    return (ns + NS_PER_MS - 1) / NS_PER_MS;
}

static long long max_ll(long long a, long long b)
{
    return a > b ? a : b;
}

/* Turns the caller's rate and burst into interval and tolerance. */
static enum payq_err ratelimit_shape(struct ratelimit *rl, double per_second,
                                     double burst)
{
    double interval;

    if (isnan(per_second) || isnan(burst) || burst < 1.0)
        return PAYQ_ERR_CONFIG;
    rl->interval_ns = 0;
    rl->tolerance_ns = 0;
    if (per_second <= 0.0)
        return PAYQ_OK;

    /* Faster than a token a nanosecond is unlimited in all but name. */
    interval = per_second > NS_PER_S ? 1.0 : NS_PER_S / per_second;
    if (interval * burst > RATELIMIT_SPAN_MAX_NS)
        return PAYQ_ERR_CONFIG;
    rl->interval_ns = (long long)(interval + 0.5);
    rl->tolerance_ns = (long long)((burst - 1.0) * interval + 0.5);
    return PAYQ_OK;
}

enum payq_err ratelimit_create(double per_second, double burst,
                               struct ratelimit **out)
{
    enum payq_err err = PAYQ_ERR_NOMEM;
    struct ratelimit *rl;

    *out = NULL;
    rl = mem_calloc(1, sizeof(*rl));
    if (rl == NULL)
        goto out;
    err = ratelimit_shape(rl, per_second, burst);
    if (err != PAYQ_OK)
        goto out;
    if (pthread_mutex_init(&rl->lock, NULL) != 0) {
        err = PAYQ_ERR_NOMEM;
        goto out;
    }
    /* next_ns and hold_until_ns start at 0: long past, a full bucket. */
    *out = rl;
    rl = NULL;

out:
    mem_free(rl);
    return err;
}

void ratelimit_destroy(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    pthread_mutex_destroy(&rl->lock);
    mem_free(rl);
}

long long ratelimit_reserve_ms(struct ratelimit *rl)
{
    long long now;
    long long booked;
    long long send;

    pthread_mutex_lock(&rl->lock);
    now = now_ns();
    booked = max_ll(rl->next_ns, now);
    rl->next_ns = booked + rl->interval_ns;
    /* A hold works through next_ns: see ratelimit_hold(). */
    send = max_ll(booked - rl->tolerance_ns, now);
    pthread_mutex_unlock(&rl->lock);

    return ns_to_ms_up(send - now);
}

void ratelimit_hold(struct ratelimit *rl, long long ms)
{
    long long until;

    if (ms <= 0)
        return;
    if (ms > RATELIMIT_HOLD_MAX_MS)
        ms = RATELIMIT_HOLD_MAX_MS;

    pthread_mutex_lock(&rl->lock);
    until = now_ns() + ms * NS_PER_MS;
    rl->hold_until_ns = max_ll(rl->hold_until_ns, until);
    /*
     * Booking the schedule up to the hold's end plus the tolerance makes
     * every later reservation wait for the hold, and empties the bucket:
     * after the hold, tokens come at the steady rate rather than as one
     * burst into a provider that just throttled us.
     */
    rl->next_ns = max_ll(rl->next_ns, rl->hold_until_ns + rl->tolerance_ns);
    pthread_mutex_unlock(&rl->lock);
}

long long ratelimit_hold_left_ms(struct ratelimit *rl)
{
    long long left;

    pthread_mutex_lock(&rl->lock);
    left = rl->hold_until_ns - now_ns();
    pthread_mutex_unlock(&rl->lock);
    return ns_to_ms_up(left);
}
