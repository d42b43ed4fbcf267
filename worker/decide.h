/*
 * From a classified answer to what the queue records and what the pool
 * does: the one place where an outcome class becomes a job transition.
 *
 *   accepted      the job waits for its callback (pending);
 *   succeeded     done;
 *   declined      failed, final (payq retry may issue a new attempt);
 *   not sent      the same id again after a backoff, not counted as a
 *                 probe: nothing left this host;
 *   ambiguous     the same id again after a backoff (a probe); past the
 *                 most probes, unknown;
 *   duplicate id  2400 to a first send: unknown, flagged, an error;
 *   systemic      closed as not executed, queued again without a probe,
 *                 and the pool pauses that kind of work (or all of it);
 *   throttled     the same id again after Retry-After; the pool slows.
 */
#ifndef PAYQ_WORKER_DECIDE_H
#define PAYQ_WORKER_DECIDE_H

#include <stdint.h>

#include "queue/claim.h"
#include "upstream/classify.h"

/* Timing rules, from the command line. */
struct worker_policy {
    long long backoff_base_ms; /* --backoff-base; 5 s */
    long long backoff_cap_ms;  /* --backoff-cap; 15 min */
    int max_probes;            /* --max-probes; 8 */
    int callback_timeout_s;    /* --callback-timeout; 30 min */
    long long systemic_delay_ms; /* a refused job's return to the queue */
};

/* What the pool must do besides recording the job. */
enum worker_action {
    WORKER_ACTION_NONE,
    WORKER_ACTION_PAUSE_KIND, /* stop sending this kind for a while */
    WORKER_ACTION_PAUSE_ALL,  /* stop sending anything for a while */
    WORKER_ACTION_SLOW_DOWN,  /* every thread waits slow_down_s */
    WORKER_ACTION_ALERT,      /* an id collision: a person must look */
};

struct worker_decision {
    struct queue_result result; /* strings point into the upstream result */
    enum worker_action action;
    long long slow_down_s;      /* WORKER_ACTION_SLOW_DOWN */
};

/*
 * Decides for job, answered r, under policy. rng is the calling thread's
 * backoff generator state. d's strings borrow from r and body: keep both
 * alive until the result is recorded.
 */
void worker_decide(const struct queue_job *job,
                   const struct upstream_result *r, const char *body,
                   const struct worker_policy *policy, uint64_t *rng,
                   struct worker_decision *d);

#endif
