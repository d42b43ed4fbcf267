/*
 * Per-request fault plans from a splitmix64 stream. splitmix64 is tiny,
 * has no state but one word, and passes the usual statistical tests:
 * ample for picking shares of requests.
 */
#include "sim/faults.h"

#include <math.h>
#include <stdint.h>

/* FNV-1a 64-bit: folds the transaction id into one word. */
static uint64_t hash_text(const char *text)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *text != '\0'; text++) {
        h ^= (unsigned char)*text;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t splitmix_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t stream_seed(unsigned long long seed, const char *id,
                            unsigned long long counter)
{
    uint64_t state = (uint64_t)seed;
    uint64_t mixed = splitmix_next(&state) ^ hash_text(id);

    state = mixed ^ ((uint64_t)counter * 0xd1b54a32d192ed03ULL);
    return splitmix_next(&state);
}

/* A number below n; the modulo bias is far below any share's grain. */
static uint64_t below(uint64_t *state, uint64_t n)
{
    return splitmix_next(state) % n;
}

/* True with probability bp / 10000. Always consumes one draw. */
static bool chance(uint64_t *state, int bp)
{
    return below(state, SIM_BP_ALL) < (uint64_t)bp;
}

/*
 * A latency from MIN to MAX; one draw, whatever the distribution, so the
 * choice of distribution moves no other decision. The exponential one
 * inverts the distribution function on a 53-bit uniform number in
 * [0, 1): -ln(1 - u) has mean 1.
 */
static long draw_latency(const struct sim_config *cfg, uint64_t *state)
{
    uint64_t span = (uint64_t)(cfg->latency_max_ms - cfg->latency_min_ms);
    uint64_t roll = splitmix_next(state);
    double u;
    double x;

    if (cfg->latency_dist != SIM_LATENCY_EXP)
        return cfg->latency_min_ms + (long)(roll % (span + 1));
    u = (double)(roll >> 11) * (1.0 / 9007199254740992.0);
    x = -log1p(-u) * ((double)span / 4.0);
    if (x > (double)span)
        x = (double)span;
    return cfg->latency_min_ms + (long)x;
}

/*
 * Walks the outcome bands: declines in flag order, 500, drop, slow, 429,
 * 503. New bands go last, so that adding one never moves another.
 */
static void pick_outcome(const struct sim_config *cfg, uint64_t roll,
                         struct sim_plan *plan)
{
    uint64_t edge = 0;
    int i;

    for (i = 0; i < cfg->decline_count; i++) {
        edge += (uint64_t)cfg->declines[i].bp;
        if (roll < edge) {
            plan->outcome = SIM_FAULT_DECLINE;
            plan->decline_code = cfg->declines[i].code;
            return;
        }
    }
    if (roll < (edge += (uint64_t)cfg->http500_bp))
        plan->outcome = SIM_FAULT_HTTP500;
    else if (roll < (edge += (uint64_t)cfg->drop_bp))
        plan->outcome = SIM_FAULT_DROP;
    else if (roll < (edge += (uint64_t)cfg->slow_bp))
        plan->outcome = SIM_FAULT_SLOW;
    else if (roll < (edge += (uint64_t)cfg->http429_bp))
        plan->outcome = SIM_FAULT_HTTP429;
    else if (roll < edge + (uint64_t)cfg->http503_bp)
        plan->outcome = SIM_FAULT_HTTP503;
}

void sim_faults_plan(const struct sim_config *cfg, const char *id,
                     unsigned attempt, struct sim_plan *plan)
{
    uint64_t state = stream_seed(cfg->seed, id, attempt);
    uint64_t window = (uint64_t)cfg->reorder_window_ms;

    *plan = (struct sim_plan){ .outcome = SIM_FAULT_NONE };
    plan->latency_ms = draw_latency(cfg, &state);
    pick_outcome(cfg, below(&state, SIM_BP_ALL), plan);
    plan->late_failure = chance(&state, cfg->late_failure_bp);
    plan->lose_callback = chance(&state, cfg->lose_bp);
    plan->duplicate_callback = chance(&state, cfg->duplicate_bp);
    plan->early_callback = chance(&state, cfg->early_bp);
    plan->reorder_ms = (long)below(&state, window > 0 ? window : 1);
    if (!cfg->reorder)
        plan->reorder_ms = 0;
}

long sim_faults_balance_latency(const struct sim_config *cfg,
                                unsigned long long counter)
{
    uint64_t state = stream_seed(cfg->seed, "/balance", counter);

    return draw_latency(cfg, &state);
}
