/*
 * From a classified answer to what the queue records and what the pool
 * does: the one place where an outcome class becomes a job transition.
 *
 *   accepted      the job waits for its callback (pending);
 *   succeeded     done;
 *   declined      failed, final (payq retry may issue a new attempt);
 *   not sent      the same id again after a backoff that grows with each
 *                 try in a row that did not leave. While the id was never
 *                 live this goes on without limit (nothing can have
 *                 executed; payq status shows the job); once an earlier
 *                 send may have arrived, each try uses up a probe;
 *   ambiguous     the same id again after a backoff (a probe); past the
 *                 most probes, unknown;
 *   duplicate id  2400 to a first send: unknown, flagged, an error;
 *   systemic      queued again without a probe, and the pool pauses that
 *                 kind of work (or all of it). The attempt is closed as
 *                 not executed on a first send only: a probe's stays
 *                 open, to be probed again with the same id;
 *   throttled     the same id again after Retry-After (or the growing
 *                 backoff); the pool slows; never counted as a probe.
 *
 * payq's own refusals to send (worker_decide_refused()) follow the same
 * rules: a request that cannot be written fails the job only while its
 * id was never live; otherwise it is a try without an answer.
 */
#ifndef PAYQ_WORKER_DECIDE_H
#define PAYQ_WORKER_DECIDE_H

#include <stdint.h>

#include "core/err.h"
#include "queue/claim.h"
#include "upstream/classify.h"

/* Timing rules, from the command line. */
struct worker_policy {
    long long backoff_base_ms;   /* --backoff-base; 5 s */
    long long backoff_cap_ms;    /* --backoff-cap; 15 min */
    int max_probes;              /* --max-probes; 8 */
    int callback_timeout_s;      /* --callback-timeout; 30 min */
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
    long long slow_down_s; /* WORKER_ACTION_SLOW_DOWN */
    const char *why;       /* PAUSE_*: the reason, never NULL */
    const char *code;      /* PAUSE_*: the provider's code, or "" */
    bool short_float;      /* PAUSE_KIND: a payout refused 1005 */
};

/*
 * Decides for job, answered r, under policy. rng is the calling thread's
 * backoff generator state. d's strings borrow from r and body: keep both
 * alive until the result is recorded.
 */
void worker_decide(const struct queue_job *job, const struct upstream_result *r,
                   const char *body, const struct worker_policy *policy,
                   uint64_t *rng, struct worker_decision *d);

/*
 * Decides for job when payq itself refused to send it, for err:
 * PAYQ_ERR_DATA or PAYQ_ERR_TOO_LARGE (the row cannot be written as a
 * request), PAYQ_ERR_CONFIG (no callback URL with its token: collections
 * pause), anything else (a passing fault: later). Nothing left this host.
 * d's strings are static.
 */
void worker_decide_refused(const struct queue_job *job, enum payq_err err,
                           const struct worker_policy *policy, uint64_t *rng,
                           struct worker_decision *d);

/*
 * The backoff exponent of job's next retry: its tries so far without a
 * definite answer, probes or tries that did not leave, whichever is more.
 */
int worker_retry_exponent(const struct queue_job *job);

#endif
