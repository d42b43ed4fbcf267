/* Exponential backoff with full jitter; see backoff.h. */
#include "core/backoff.h"

#include <time.h>
#include <unistd.h>

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state != 0 ? *state : 0x9e3779b97f4a7c15ULL;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* splitmix64's finaliser: spreads nearby inputs (pids, times) apart. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t backoff_seed(void)
{
    static _Thread_local uint64_t counter;
    struct timespec ts;
    uint64_t seed;

    clock_gettime(CLOCK_REALTIME, &ts);
    seed = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    seed ^= (uint64_t)getpid() << 32;
    seed ^= (uint64_t)(uintptr_t)&counter; /* differs per thread */
    seed = mix(seed + ++counter);
    return seed != 0 ? seed : 1;
}

long long backoff_ceiling_ms(long long base_ms, long long cap_ms, int attempt)
{
    long long ceiling = base_ms > 0 ? base_ms : 0;
    int i;

    if (cap_ms < 0)
        cap_ms = 0;
    /* Doubling stops at the cap, so it can never overflow. */
    for (i = 0; i < attempt && ceiling < cap_ms; i++)
        ceiling = ceiling > cap_ms / 2 ? cap_ms : ceiling * 2;
    return ceiling < cap_ms ? ceiling : cap_ms;
}

long long backoff_delay_ms(long long base_ms, long long cap_ms, int attempt,
                           uint64_t *rng)
{
    long long ceiling = backoff_ceiling_ms(base_ms, cap_ms, attempt);

    if (ceiling <= 0)
        return 0;
    return (long long)(next_random(rng) % ((uint64_t)ceiling + 1));
}
