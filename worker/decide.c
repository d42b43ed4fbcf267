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

static long long retry_delay_ms(const struct queue_job *job,
                                const struct upstream_result *r,
                                const struct worker_policy *p, uint64_t *rng)
{
    if (r->cls == UPSTREAM_CLASS_THROTTLED && r->retry_after_s > 0)
        return r->retry_after_s * 1000;
    return backoff_delay_ms(p->backoff_base_ms, p->backoff_cap_ms,
                            job->probe_count, rng);
}

void worker_decide(const struct queue_job *job,
                   const struct upstream_result *r, const char *body,
                   const struct worker_policy *policy, uint64_t *rng,
                   struct worker_decision *d)
{
    enum upstream_class cls = (unsigned)r->cls < UPSTREAM_CLASS_COUNT
                                  ? r->cls
                                  : UPSTREAM_CLASS_AMBIGUOUS;
    struct queue_result *q = &d->result;

    memset(d, 0, sizeof(*d));
    q->kind = by_class[cls].kind;
    q->sent = by_class[cls].sent;
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
    if (d->action == WORKER_ACTION_SLOW_DOWN)
        d->slow_down_s = r->retry_after_s > 0 ? r->retry_after_s : 1;
}
