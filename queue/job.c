/* Names of job kinds and states, matching the schema's check constraints. */
#include "queue/job.h"

#include <stddef.h>
#include <string.h>

static const char *const kind_names[JOB_KIND_COUNT] = {
    [JOB_KIND_PAY] = "pay",
    [JOB_KIND_DEPOSIT] = "deposit",
};

static const char *const state_names[JOB_STATE_COUNT] = {
    [JOB_STATE_QUEUED] = "queued",       [JOB_STATE_RUNNING] = "running",
    [JOB_STATE_PENDING] = "pending",     [JOB_STATE_SUCCEEDED] = "succeeded",
    [JOB_STATE_FAILED] = "failed",       [JOB_STATE_UNKNOWN] = "unknown",
    [JOB_STATE_CANCELLED] = "cancelled",
};

/* Index of text in names[0..count), or -1. */
static int name_index(const char *const *names, int count, const char *text)
{
    int i;

    for (i = 0; i < count; i++)
        if (strcmp(names[i], text) == 0)
            return i;
    return -1;
}

const char *job_kind_name(enum job_kind kind)
{
    return (unsigned)kind < JOB_KIND_COUNT ? kind_names[kind] : "?";
}

enum payq_err job_kind_parse(const char *text, enum job_kind *kind)
{
    int i = name_index(kind_names, JOB_KIND_COUNT, text);

    if (i < 0)
        return PAYQ_ERR_DATA;
    *kind = (enum job_kind)i;
    return PAYQ_OK;
}

const char *job_state_name(enum job_state state)
{
    return (unsigned)state < JOB_STATE_COUNT ? state_names[state] : "?";
}

enum payq_err job_state_parse(const char *text, enum job_state *state)
{
    int i = name_index(state_names, JOB_STATE_COUNT, text);

    if (i < 0)
        return PAYQ_ERR_DATA;
    *state = (enum job_state)i;
    return PAYQ_OK;
}
