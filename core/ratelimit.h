/*
 * A process-wide token bucket for requests to the provider.
 *
 * Tokens arrive at per_second and the bucket holds at most burst of them.
 * A caller reserves one token per request and is told how long to wait
 * before sending; the token is taken at once, so callers never race for
 * it and waits queue up in the order the reservations were made. A hold
 * (the provider throttled us, or sent Retry-After) stops everyone until
 * it ends; sending then resumes at the steady rate, with no burst, so the
 * provider does not see a spike the moment its throttle lifts.
 *
 * Time is CLOCK_MONOTONIC, so changes to the wall clock do not matter.
 *
 * Threads: every function may be called from any thread at any time
 * between ratelimit_create() and ratelimit_destroy().
 */
#ifndef PAYQ_CORE_RATELIMIT_H
#define PAYQ_CORE_RATELIMIT_H

#include "core/err.h"

/* The longest hold accepted, in milliseconds; longer ones are cut (1 h). */
#define RATELIMIT_HOLD_MAX_MS 3600000LL

struct ratelimit;

/*
 * Creates a bucket that starts full. per_second <= 0 means unlimited:
 * only holds make callers wait. burst is how many tokens the bucket holds
 * (>= 1); a sensible caller passes max(1, per_second). Returns
 * PAYQ_ERR_CONFIG for a burst below 1, a NaN, or a bucket that would take
 * longer than a day to fill; PAYQ_ERR_NOMEM; *out is NULL on failure.
 * The caller frees the result with ratelimit_destroy().
 */
PAYQ_MUST_USE enum payq_err ratelimit_create(double per_second, double burst,
                                             struct ratelimit **out);

/* Frees the bucket; no other thread may still use it. NULL is allowed. */
void ratelimit_destroy(struct ratelimit *rl);

/*
 * Takes one token. Returns 0 when the caller may send now, else the
 * milliseconds it must wait first, rounded up so that a caller who sleeps
 * that long is never early. The token is reserved either way: the caller
 * sends after its wait and does not call again for the same request. A
 * hold in force pushes the wait to the hold's end at least. A hold that
 * starts after a reservation does not recall it; a caller that must obey
 * a hold exactly checks ratelimit_hold_left_ms() after its wait.
 */
long long ratelimit_reserve_ms(struct ratelimit *rl);

/*
 * Nobody may send for the next ms milliseconds (a provider throttle,
 * Retry-After). Extends but never shortens a hold in force; ms <= 0 does
 * nothing, and ms is capped at RATELIMIT_HOLD_MAX_MS.
 */
void ratelimit_hold(struct ratelimit *rl, long long ms);

/* Milliseconds of hold left, rounded up; 0 when none. For metrics. */
long long ratelimit_hold_left_ms(struct ratelimit *rl);

#endif
