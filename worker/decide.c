/* Outcome class to job transition and pool action, as one table. */
#include "worker/decide.h"

#include <string.h>

#include "core/backoff.h"

/* Per class: the transition, whether the request may have arrived. */
static const struct {
    enum queue_result_kind kind;
    bool sent;
} by_class[UPSTREAM_CLASS_COUNT] = {
    [UPSTREAM_CLASS_ACCEPTED] = { QUEUE_RESULT_PENDING, true },
    [UPSTREAM_CLASS_SUCCEEDED] = { QUEUE_RESULT_SUCCEEDED, true },
    [UPSTREAM_CLASS_DECLINED] = { QUEUE_RESULT_FAILED, true },
    [UPSTREAM_CLASS_NOT_SENT] = { QUEUE_RESULT_RETRY, false },
    [UPSTREAM_CLASS_AMBIGUOUS] = { QUEUE_RESULT_RETRY, true },
    [UPSTREAM_CLASS_DUPLICATE_ID] = { QUEUE_RESULT_COLLISION, true },
    [UPSTREAM_CLASS_SYSTEMIC] = { QUEUE_RESULT_NOT_EXECUTED, true },
    /* Refused at the door: the same id later, not counted as a probe. */
    [UPSTREAM_CLASS_THROTTLED] = { QUEUE_RESULT_RETRY, false },
};

static const char *or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

static enum worker_action action_for(const struct upstream_result *r)
{
    switch (r->cls) {
    case UPSTREAM_CLASS_SYSTEMIC:
        return r->pause == UPSTREAM_PAUSE_ALL ? WORKER_ACTION_PAUSE_ALL
                                              : WORKER_ACTION_PAUSE_KIND;
    case UPSTREAM_CLASS_THROTTLED:
        return WORKER_ACTION_SLOW_DOWN;
    case UPSTREAM_CLASS_DUPLICATE_ID:
        return WORKER_ACTION_ALERT;
    default:
        return WORKER_ACTION_NONE;
    }
}

int worker_retry_exponent(const struct queue_job *job)
{
    return job->probe_count > job->unsent_count ? job->probe_count
                                                : job->unsent_count;
}

static long long backoff_for(const struct queue_job *job,
                             const struct worker_policy *p, uint64_t *rng)
{
    return backoff_delay_ms(p->backoff_base_ms, p->backoff_cap_ms,
                            worker_retry_exponent(job), rng);
}

static long long retry_delay_ms(const struct queue_job *job,
                                const struct upstream_result *r,
                                const struct worker_policy *p, uint64_t *rng)
{
    if (r->cls == UPSTREAM_CLASS_THROTTLED && r->retry_after_s > 0)
        return r->retry_after_s * 1000;
    return backoff_for(job, p, rng);
}

/* Why a pause, for its one log line and for payq status. */
static void pause_reason(const struct queue_job *job,
                         const struct upstream_result *r,
                         struct worker_decision *d)
{
    d->why = r->message[0] != '\0' ? r->message
             : r->reason != NULL   ? r->reason
                                   : "refused";
    d->code = r->code;
    d->short_float =
        job->kind == JOB_KIND_DEPOSIT && strcmp(r->code, "1005") == 0;
}

void worker_decide(const struct queue_job *job, const struct upstream_result *r,
                   const char *body, const struct worker_policy *policy,
                   uint64_t *rng, struct worker_decision *d)
{
    enum upstream_class cls = (unsigned)r->cls < UPSTREAM_CLASS_COUNT
                                  ? r->cls
                                  : UPSTREAM_CLASS_AMBIGUOUS;
    struct queue_result *q = &d->result;

    memset(d, 0, sizeof(*d));
    q->kind = by_class[cls].kind;
    q->sent = by_class[cls].sent;
    /* A live id that cannot be reached is a probe without an answer. */
    q->counts_as_probe = cls == UPSTREAM_CLASS_NOT_SENT && job->live;
    q->http_status = (int)r->http_status;
    q->code = or_null(r->code);
    q->message = or_null(r->message);
    q->provider_txn_id = or_null(r->provider_txn_id);
    q->reference_no = or_null(r->reference_no);
    q->body = body;
    q->duration_ms = r->duration_ms;
    q->callback_timeout_s = policy->callback_timeout_s;
    q->max_probes = policy->max_probes;
    if (q->kind == QUEUE_RESULT_RETRY)
        q->delay_ms = retry_delay_ms(job, r, policy, rng);
    else if (q->kind == QUEUE_RESULT_NOT_EXECUTED)
        q->delay_ms = policy->systemic_delay_ms;
    d->action = action_for(r);
    d->why = "";
    d->code = "";
    if (d->action == WORKER_ACTION_PAUSE_ALL ||
        d->action == WORKER_ACTION_PAUSE_KIND)
        pause_reason(job, r, d);
    if (d->action == WORKER_ACTION_SLOW_DOWN)
        d->slow_down_s = r->retry_after_s > 0 ? r->retry_after_s : 1;
}

void worker_decide_refused(const struct queue_job *job, enum payq_err err,
                           const struct worker_policy *policy, uint64_t *rng,
                           struct worker_decision *d)
{
    struct queue_result *q = &d->result;
    bool unwritable = err == PAYQ_ERR_DATA || err == PAYQ_ERR_TOO_LARGE;

    memset(d, 0, sizeof(*d));
    d->action = WORKER_ACTION_NONE;
    d->why = "";
    d->code = "";
    q->sent = false;
    q->max_probes = policy->max_probes;
    q->message = "payq could not write this payment as a request "
                 "(invalid field); nothing was sent";
    if (unwritable && !job->live) {
        /* The row passed import but not the request rules: final. */
        q->kind = QUEUE_RESULT_FAILED;
        return;
    }
    /* Later, same id. A live id that cannot be asked uses up probes. */
    q->kind = QUEUE_RESULT_RETRY;
    q->counts_as_probe = job->live;
    q->delay_ms = backoff_for(job, policy, rng);
    if (!unwritable)
        q->message = NULL;
    if (err == PAYQ_ERR_CONFIG) {
        d->action = WORKER_ACTION_PAUSE_KIND;
        d->why = "no callback URL with its token for collections: check "
                 "PAYQ_CALLBACK_URL and PAYQ_CALLBACK_SECRET";
    }
}
