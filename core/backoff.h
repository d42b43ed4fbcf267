/*
 * Exponential backoff with full jitter and a cap.
 *
 * The n-th retry (attempt 0 is the first) waits a uniformly random time
 * in [0, min(cap, base * 2^attempt)]. Full jitter spreads the retries of
 * many jobs that failed together, so a recovering provider is not hit by
 * all of them at the same instant.
 *
 * The generator is a small xorshift state owned by the caller (one per
 * thread), so no lock is needed; it is not for secrets.
 */
#ifndef PAYQ_CORE_BACKOFF_H
#define PAYQ_CORE_BACKOFF_H

#include <stdint.h>

/* A seed that differs between threads and processes (never 0). */
uint64_t backoff_seed(void);

/*
 * The wait before retry number attempt, in milliseconds, within
 * [0, min(cap_ms, base_ms * 2^attempt)]. Negative inputs count as 0; the
 * arithmetic saturates instead of overflowing. Advances *rng.
 */
long long backoff_delay_ms(long long base_ms, long long cap_ms, int attempt,
                           uint64_t *rng);

/* The upper bound backoff_delay_ms() draws under, without drawing. */
long long backoff_ceiling_ms(long long base_ms, long long cap_ms, int attempt);

#endif
