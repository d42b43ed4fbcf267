/*
 * Job kinds and states, as stored in jobs.kind and jobs.state.
 *
 * A job is one payment. Its state moves only forwards:
 *
 *   queued -> running -> pending -> succeeded | failed | unknown
 *      |         |          \-> unknown (no callback in time)
 *      |         \-> queued (released, or a systemic refusal)
 *      \-> cancelled (only before anything was sent)
 *
 * unknown is a state a person resolves; a late callback may still settle it.
 */
#ifndef PAYQ_QUEUE_JOB_H
#define PAYQ_QUEUE_JOB_H

#include "core/err.h"

/* Channel NOTIFYed whenever jobs become ready to claim (payload: batch). */
#define QUEUE_NOTIFY_CHANNEL "payq_jobs"

enum job_kind {
    JOB_KIND_PAY,     /* collect from a phone through pay_v2 */
    JOB_KIND_DEPOSIT, /* pay out to a phone through deposit */
    JOB_KIND_COUNT,
};

enum job_state {
    JOB_STATE_QUEUED,
    JOB_STATE_RUNNING,
    JOB_STATE_PENDING,
    JOB_STATE_SUCCEEDED,
    JOB_STATE_FAILED,
    JOB_STATE_UNKNOWN,
    JOB_STATE_CANCELLED,
    JOB_STATE_COUNT,
};

/* Returns the name stored in the database ("pay", "deposit"). */
const char *job_kind_name(enum job_kind kind);

/* Parses a stored kind name; PAYQ_ERR_DATA when it is not one. */
PAYQ_MUST_USE enum payq_err job_kind_parse(const char *text,
                                           enum job_kind *kind);

/* Returns the name stored in the database ("queued", ...). */
const char *job_state_name(enum job_state state);

/* Parses a stored state name; PAYQ_ERR_DATA when it is not one. */
PAYQ_MUST_USE enum payq_err job_state_parse(const char *text,
                                            enum job_state *state);

#endif
