/*
 * Fault injection: what happens to one request, decided in advance.
 *
 * Every decision comes from a small PRNG seeded from --seed, the
 * transaction id and the attempt number (how many times that id has been
 * tried without being registered), so a run with the same seed and the
 * same requests makes the same decisions whatever the thread timing. All
 * draws are made in a fixed order whether or not their flag is set, so
 * adding --lose-callbacks, say, does not change which requests
 * --decline picks.
 */
#ifndef PAYQ_SIM_FAULTS_H
#define PAYQ_SIM_FAULTS_H

#include <stdbool.h>

#include "sim/config.h"

/* How the initiation request itself ends; at most one per request. */
enum sim_outcome_fault {
    SIM_FAULT_NONE,    /* execute and answer normally */
    SIM_FAULT_DECLINE, /* answer decline_code, execute nothing */
    SIM_FAULT_HTTP500, /* answer HTTP 500, execute nothing */
    SIM_FAULT_DROP,    /* execute, then close without an answer */
    SIM_FAULT_SLOW,    /* execute, answer after --slow-ms */
    SIM_FAULT_HTTP429, /* answer 429 with Retry-After, execute nothing */
    SIM_FAULT_HTTP503, /* answer 503 with Retry-After, execute nothing */
};

/* The decisions for one request. A value type. */
struct sim_plan {
    long latency_ms; /* added before executing */
    enum sim_outcome_fault outcome;
    const char *decline_code; /* SIM_FAULT_DECLINE: into cfg */
    bool late_failure;        /* pay: callback says 1005 */
    bool lose_callback;       /* settle, but send no callback */
    bool duplicate_callback;  /* deliver the callback twice */
    bool early_callback;      /* callback before the answer */
    long reorder_ms;          /* extra delay before the callback */
};

/*
 * Draws the plan for attempt number attempt (0 for the first) of the
 * request with transaction id id. decline_code points into cfg, which
 * must outlive the plan. Pure function; any thread.
 */
void sim_faults_plan(const struct sim_config *cfg, const char *id,
                     unsigned attempt, struct sim_plan *plan);

/*
 * Returns the latency of the counter-th /balance request, drawn as
 * --latency-ms and --latency-dist say. Pure function; any thread.
 */
long sim_faults_balance_latency(const struct sim_config *cfg,
                                unsigned long long counter);

#endif
