/*
 * The operator commands' transactions. Each SQL statement below does one
 * thing, named in the comment above it. Unless a comment says otherwise,
 * $1 is the batch or job id and $2 the actor.
 */
#include "queue/ops.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "db/conn.h"

#define OPS_STR_(x) #x
#define OPS_STR(x) OPS_STR_(x)

/*
 * True while one of job j's attempts may have moved money: the outcomes
 * of attempts_one_live_per_job. An open attempt counts even with
 * send_count 0, because a worker that died mid-request never wrote it.
 */
#define LIVE_ATTEMPT                                                           \
    " exists (select 1 from attempts a where a.job_id = j.id"                  \
    " and a.outcome in ('open', 'pending', 'unknown', 'succeeded'))"

/* Locks the batch; its flags decide pause, resume and cancel. */
static const char BATCH_LOCK_SQL[] =
    "select paused_at is not null, cancelled_at is not null"
    " from batches where id = $1 for no key update";

/* Pauses the batch and audits it. */
static const char PAUSE_SQL[] =
    "with done as (update batches set paused_at = now(), paused_by = $2"
    " where id = $1 returning id)"
    " insert into operator_actions (actor, action, batch_id)"
    " select $2, 'pause', id from done";

/* Lifts the pause and audits it. */
static const char RESUME_SQL[] =
    "with done as (update batches set paused_at = null, paused_by = null"
    " where id = $1 returning id)"
    " insert into operator_actions (actor, action, batch_id)"
    " select $2, 'resume', id from done";

/* Wakes idle workers: jobs of batch $1 may be ready. Sent at commit. */
static const char NOTIFY_SQL[] =
    "select pg_notify('" QUEUE_NOTIFY_CHANNEL "', $1)";

/* Marks the batch cancelled: claims skip it once this commits. */
static const char BATCH_CANCEL_SQL[] =
    "update batches set cancelled_at = now(), cancelled_by = $2"
    " where id = $1";

/*
 * Locks the batch's queued and running jobs in id order. Only those two
 * states lead to queued (retry, the third way, waits for the batch
 * lock), so from here on the batch's queued jobs are all ours and stay
 * as they are. A job a claim took in the same instant is locked as
 * running. The next statement, with a snapshot taken after this one,
 * then judges every queued job on its committed attempts; one statement
 * doing both could judge a row re-read after a concurrent update against
 * an older view of its attempts.
 */
static const char JOBS_LOCK_SQL[] =
    "select count(*) from (select j.id from jobs j where j.batch_id = $1"
    " and j.state in ('queued', 'running') order by j.id"
    " for no key update of j) locked";

/* Cancels the batch's queued jobs that were never sent ($1 only). */
static const char JOBS_CANCEL_SQL[] =
    "update jobs j set state = 'cancelled', finished_at = now()"
    " where j.batch_id = $1 and j.state = 'queued' and not" LIVE_ATTEMPT;

/* The batch's jobs not yet final: they may be with the provider. */
static const char JOBS_LEFT_SQL[] =
    "select count(*) from jobs where batch_id = $1"
    " and state in ('queued', 'running', 'pending', 'unknown')";

/* Audits a cancel: $3 jobs cancelled, $4 jobs left. */
static const char CANCEL_AUDIT_SQL[] =
    "insert into operator_actions (actor, action, batch_id, detail)"
    " values ($2, 'cancel', $1, jsonb_build_object('jobs_cancelled',"
    " $3::bigint, 'jobs_left', $4::bigint))";

/* Locks the job; statements after this one see it as it stands. */
static const char JOB_LOCK_SQL[] =
    "select 1 from jobs where id = $1 for no key update";

/* What a job command decides on ($1 only), read under the lock. */
static const char JOB_READ_SQL[] =
    "select j.state, j.batch_id, j.needs_review," LIVE_ATTEMPT
    " from jobs j where j.id = $1";

/* Cancels one job and audits it. */
static const char JOB_CANCEL_SQL[] =
    "with done as (update jobs set state = 'cancelled',"
    " finished_at = now() where id = $1 returning id, batch_id)"
    " insert into operator_actions (actor, action, batch_id, job_id)"
    " select $2, 'cancel_job', batch_id, id from done";

/* The job's batch ($1 only), so retry can lock it before the job. */
static const char JOB_BATCH_SQL[] = "select batch_id from jobs where id = $1";

/*
 * Holds the batch ($1 a batch id) against a concurrent cancel, which
 * then waits for the retry and sees the job queued; is it cancelled?
 */
static const char BATCH_SHARE_SQL[] =
    "select cancelled_at is not null from batches where id = $1"
    " for share";

/*
 * Queues the failed job again, due now, and audits it. What the failed
 * attempt left on the job goes into the audit detail (the attempt row
 * keeps its own copy). Every part of the statement sees the row as it
 * was before the update.
 */
static const char RETRY_SQL[] =
    "with old as (select id, batch_id, attempt_count, last_code,"
    " last_message, provider_txn_id, provider_reference, finished_at"
    " from jobs where id = $1),"
    " done as (update jobs set state = 'queued', run_at = now(),"
    " finished_at = null, last_code = null, last_message = null,"
    " provider_txn_id = null, provider_reference = null,"
    " callback_deadline = null, probe_count = 0"
    " where id = $1 and state = 'failed' returning id)"
    " insert into operator_actions (actor, action, batch_id, job_id,"
    " detail) select $2, 'retry', old.batch_id, old.id,"
    " jsonb_build_object('attempts', old.attempt_count, 'last_code',"
    " old.last_code, 'last_message', old.last_message, 'provider_txn_id',"
    " old.provider_txn_id, 'provider_reference', old.provider_reference,"
    " 'finished_at', old.finished_at) from old join done using (id)";

/* Settles the unknown job as $2 and takes it out of review. */
static const char RESOLVE_JOB_SQL[] =
    "update jobs set state = $2, finished_at = now(), needs_review = false"
    " where id = $1 and state = 'unknown'";

/* Closes the job's live attempt with the same outcome, $2. */
static const char RESOLVE_ATTEMPT_SQL[] =
    "update attempts set outcome = $2, finished_at = now()"
    " where job_id = $1 and outcome in ('open', 'pending', 'unknown')"
    " returning request_txn_id";

/* Audits a resolution: $3 action, $4 evidence, $5 the attempt closed. */
static const char RESOLVE_AUDIT_SQL[] =
    "insert into operator_actions (actor, action, batch_id, job_id,"
    " evidence, detail) select $2, $3, batch_id, id, $4,"
    " jsonb_build_object('request_txn_id', $5::text)"
    " from jobs where id = $1";

/* What one command's transaction works on. */
struct ops_ctx {
    char id[24]; /* the batch or job id, as text */
    const char *actor;
    bool succeeded;       /* resolve: the outcome to record */
    const char *evidence; /* resolve */
    struct queue_ops_result *res;
};

typedef enum payq_err (*ops_body)(PGconn *conn, struct ops_ctx *c);

static long long cell_ll(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static bool cell_true(const PGresult *res, int row, int col)
{
    return strcmp(PQgetvalue(res, row, col), "t") == 0;
}

/* Runs sql; *out, when asked for, receives the result on success. */
static enum payq_err query(PGconn *conn, const char *sql, int n,
                           const char *const *params, const char *what,
                           PGresult **out)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    enum payq_err err = db_result_check(conn, res, what);

    if (err == PAYQ_OK && out != NULL)
        *out = res;
    else
        PQclear(res);
    return err;
}

/* Wakes the workers for batch (as text). */
static enum payq_err notify(PGconn *conn, const char *batch)
{
    const char *p[1] = { batch };

    return query(conn, NOTIFY_SQL, 1, p, "notify the workers", NULL);
}

/* Runs body between BEGIN and COMMIT; a refusal commits nothing done. */
static enum payq_err run(PGconn *conn, long long id, ops_body body,
                         struct ops_ctx *c)
{
    enum payq_err err;

    memset(c->res, 0, sizeof(*c->res));
    c->res->outcome = QUEUE_OPS_UNCHANGED;
    snprintf(c->id, sizeof(c->id), "%lld", id);
    err = db_exec(conn, "begin", "begin an operator command");
    if (err != PAYQ_OK)
        return err;
    err = body(conn, c);
    if (err == PAYQ_OK)
        err = db_exec(conn, "commit", "commit an operator command");
    if (err != PAYQ_OK && PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, "rollback"));
    return err;
}

/* Locks the batch named by c->id and reads its flags. */
static enum payq_err batch_lock(PGconn *conn, struct ops_ctx *c, bool *paused,
                                bool *cancelled)
{
    const char *p[1] = { c->id };
    PGresult *res = NULL;
    enum payq_err err =
        query(conn, BATCH_LOCK_SQL, 1, p, "lock the batch", &res);

    if (err == PAYQ_OK && PQntuples(res) == 0)
        err = PAYQ_ERR_NOT_FOUND;
    if (err == PAYQ_OK) {
        *paused = cell_true(res, 0, 0);
        *cancelled = cell_true(res, 0, 1);
        c->res->batch_id = strtoll(c->id, NULL, 10);
    }
    PQclear(res);
    return err;
}

static enum payq_err pause_body(PGconn *conn, struct ops_ctx *c)
{
    const char *p[2] = { c->id, c->actor };
    bool paused = false;
    bool cancelled = false;
    enum payq_err err = batch_lock(conn, c, &paused, &cancelled);

    if (err != PAYQ_OK)
        return err;
    if (cancelled) {
        c->res->outcome = QUEUE_OPS_REFUSED_CANCELLED;
        return PAYQ_OK;
    }
    if (paused)
        return PAYQ_OK;
    c->res->outcome = QUEUE_OPS_CHANGED;
    return query(conn, PAUSE_SQL, 2, p, "pause the batch", NULL);
}

static enum payq_err resume_body(PGconn *conn, struct ops_ctx *c)
{
    const char *p[2] = { c->id, c->actor };
    bool paused = false;
    bool cancelled = false;
    enum payq_err err = batch_lock(conn, c, &paused, &cancelled);

    if (err != PAYQ_OK)
        return err;
    if (cancelled) {
        c->res->outcome = QUEUE_OPS_REFUSED_CANCELLED;
        return PAYQ_OK;
    }
    if (!paused)
        return PAYQ_OK;
    c->res->outcome = QUEUE_OPS_CHANGED;
    err = query(conn, RESUME_SQL, 2, p, "resume the batch", NULL);
    if (err == PAYQ_OK)
        err = notify(conn, c->id);
    return err;
}

/* Locks the batch's live jobs, cancels the unsent, counts the rest. */
static enum payq_err cancel_jobs(PGconn *conn, struct ops_ctx *c)
{
    const char *p[1] = { c->id };
    PGresult *res = NULL;
    enum payq_err err =
        query(conn, JOBS_LOCK_SQL, 1, p, "lock the batch's jobs", NULL);

    if (err == PAYQ_OK)
        err =
            query(conn, JOBS_CANCEL_SQL, 1, p, "cancel the batch's jobs", &res);
    if (err == PAYQ_OK)
        c->res->jobs_cancelled = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    res = NULL;
    if (err == PAYQ_OK)
        err = query(conn, JOBS_LEFT_SQL, 1, p, "count the jobs left", &res);
    if (err == PAYQ_OK)
        c->res->jobs_left = cell_ll(res, 0, 0);
    PQclear(res);
    return err;
}

static enum payq_err cancel_audit(PGconn *conn, const struct ops_ctx *c)
{
    char cancelled[24];
    char left[24];
    const char *p[4] = { c->id, c->actor, cancelled, left };

    snprintf(cancelled, sizeof(cancelled), "%lld", c->res->jobs_cancelled);
    snprintf(left, sizeof(left), "%lld", c->res->jobs_left);
    return query(conn, CANCEL_AUDIT_SQL, 4, p, "audit the cancel", NULL);
}

static enum payq_err cancel_body(PGconn *conn, struct ops_ctx *c)
{
    const char *p[2] = { c->id, c->actor };
    bool paused = false;
    bool cancelled = false;
    enum payq_err err = batch_lock(conn, c, &paused, &cancelled);

    if (err == PAYQ_OK && !cancelled) {
        c->res->outcome = QUEUE_OPS_CHANGED;
        err = query(conn, BATCH_CANCEL_SQL, 2, p, "cancel the batch", NULL);
    }
    if (err == PAYQ_OK)
        err = cancel_jobs(conn, c);
    /* A second run that cancelled nothing more leaves no trace. */
    if (err == PAYQ_OK && (!cancelled || c->res->jobs_cancelled > 0))
        err = cancel_audit(conn, c);
    return err;
}

/*
 * Locks the job named by c->id, then reads it with a fresh snapshot:
 * its state and batch into c->res, whether it is flagged for review and
 * whether an attempt of it is live.
 */
static enum payq_err job_lock_read(PGconn *conn, struct ops_ctx *c,
                                   bool *review, bool *live)
{
    const char *p[1] = { c->id };
    PGresult *res = NULL;
    enum payq_err err = query(conn, JOB_LOCK_SQL, 1, p, "lock the job", &res);

    if (err == PAYQ_OK && PQntuples(res) == 0)
        err = PAYQ_ERR_NOT_FOUND;
    PQclear(res);
    res = NULL;
    if (err == PAYQ_OK)
        err = query(conn, JOB_READ_SQL, 1, p, "read the job", &res);
    if (err == PAYQ_OK) {
        err = job_state_parse(PQgetvalue(res, 0, 0), &c->res->state);
        c->res->batch_id = cell_ll(res, 0, 1);
        *review = cell_true(res, 0, 2);
        *live = cell_true(res, 0, 3);
    }
    PQclear(res);
    return err;
}

static enum payq_err cancel_job_body(PGconn *conn, struct ops_ctx *c)
{
    const char *p[2] = { c->id, c->actor };
    bool review = false;
    bool live = false;
    enum payq_err err = job_lock_read(conn, c, &review, &live);

    if (err != PAYQ_OK || c->res->state == JOB_STATE_CANCELLED)
        return err;
    if (c->res->state != JOB_STATE_QUEUED)
        c->res->outcome = QUEUE_OPS_REFUSED_STATE;
    else if (live)
        c->res->outcome = QUEUE_OPS_REFUSED_SENT;
    else
        c->res->outcome = QUEUE_OPS_CHANGED;
    if (c->res->outcome != QUEUE_OPS_CHANGED)
        return PAYQ_OK;
    return query(conn, JOB_CANCEL_SQL, 2, p, "cancel the job", NULL);
}

/* Holds the job's batch for a retry; PAYQ_ERR_NOT_FOUND: no such job. */
static enum payq_err retry_hold_batch(PGconn *conn, const struct ops_ctx *c,
                                      bool *cancelled)
{
    const char *p[1] = { c->id };
    PGresult *res = NULL;
    char batch[24];
    enum payq_err err =
        query(conn, JOB_BATCH_SQL, 1, p, "find the job's batch", &res);

    if (err == PAYQ_OK && PQntuples(res) == 0)
        err = PAYQ_ERR_NOT_FOUND;
    if (err == PAYQ_OK)
        snprintf(batch, sizeof(batch), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    res = NULL;
    if (err != PAYQ_OK)
        return err;
    p[0] = batch;
    err = query(conn, BATCH_SHARE_SQL, 1, p, "hold the job's batch", &res);
    if (err == PAYQ_OK)
        *cancelled = PQntuples(res) == 1 && cell_true(res, 0, 0);
    PQclear(res);
    return err;
}

static enum queue_ops_outcome
retry_verdict(enum job_state state, bool cancelled, bool review, bool live)
{
    if (state != JOB_STATE_FAILED)
        return QUEUE_OPS_REFUSED_STATE;
    if (cancelled)
        return QUEUE_OPS_REFUSED_CANCELLED;
    if (review)
        return QUEUE_OPS_REFUSED_REVIEW;
    if (live)
        return QUEUE_OPS_REFUSED_SENT;
    return QUEUE_OPS_CHANGED;
}

static enum payq_err retry_body(PGconn *conn, struct ops_ctx *c)
{
    const char *p[2] = { c->id, c->actor };
    char batch[24];
    bool cancelled = false;
    bool review = false;
    bool live = false;
    enum payq_err err = retry_hold_batch(conn, c, &cancelled);

    if (err == PAYQ_OK)
        err = job_lock_read(conn, c, &review, &live);
    if (err != PAYQ_OK)
        return err;
    c->res->outcome = retry_verdict(c->res->state, cancelled, review, live);
    if (c->res->outcome != QUEUE_OPS_CHANGED)
        return PAYQ_OK;
    err = query(conn, RETRY_SQL, 2, p, "queue the job again", NULL);
    snprintf(batch, sizeof(batch), "%lld", c->res->batch_id);
    if (err == PAYQ_OK)
        err = notify(conn, batch);
    return err;
}

/* The resolution's three writes: job, attempt, audit row. */
static enum payq_err resolve_apply(PGconn *conn, const struct ops_ctx *c)
{
    const char *outcome = c->succeeded ? "succeeded" : "failed";
    const char *action = c->succeeded ? "resolve_succeeded" : "resolve_failed";
    const char *p[5] = { c->id, outcome, NULL, NULL, NULL };
    char txn[72] = "";
    PGresult *res = NULL;
    enum payq_err err =
        query(conn, RESOLVE_JOB_SQL, 2, p, "resolve the job", NULL);

    if (err == PAYQ_OK)
        err = query(conn, RESOLVE_ATTEMPT_SQL, 2, p, "close the job's attempt",
                    &res);
    if (err == PAYQ_OK && PQntuples(res) > 0)
        snprintf(txn, sizeof(txn), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (err != PAYQ_OK)
        return err;
    p[1] = c->actor;
    p[2] = action;
    p[3] = c->evidence;
    p[4] = txn[0] != '\0' ? txn : NULL;
    return query(conn, RESOLVE_AUDIT_SQL, 5, p, "audit the resolution", NULL);
}

static enum payq_err resolve_body(PGconn *conn, struct ops_ctx *c)
{
    enum job_state target =
        c->succeeded ? JOB_STATE_SUCCEEDED : JOB_STATE_FAILED;
    bool review = false;
    bool live = false;
    enum payq_err err = job_lock_read(conn, c, &review, &live);

    if (err != PAYQ_OK || c->res->state == target)
        return err;
    if (c->res->state != JOB_STATE_UNKNOWN) {
        c->res->outcome = QUEUE_OPS_REFUSED_STATE;
        return PAYQ_OK;
    }
    c->res->outcome = QUEUE_OPS_CHANGED;
    return resolve_apply(conn, c);
}

enum payq_err queue_ops_pause(PGconn *conn, long long batch_id,
                              const char *actor, struct queue_ops_result *res)
{
    struct ops_ctx c = { .actor = actor, .res = res };

    return run(conn, batch_id, pause_body, &c);
}

enum payq_err queue_ops_resume(PGconn *conn, long long batch_id,
                               const char *actor, struct queue_ops_result *res)
{
    struct ops_ctx c = { .actor = actor, .res = res };

    return run(conn, batch_id, resume_body, &c);
}

enum payq_err queue_ops_cancel(PGconn *conn, long long batch_id,
                               const char *actor, struct queue_ops_result *res)
{
    struct ops_ctx c = { .actor = actor, .res = res };

    return run(conn, batch_id, cancel_body, &c);
}

enum payq_err queue_ops_cancel_job(PGconn *conn, long long job_id,
                                   const char *actor,
                                   struct queue_ops_result *res)
{
    struct ops_ctx c = { .actor = actor, .res = res };

    return run(conn, job_id, cancel_job_body, &c);
}

enum payq_err queue_ops_retry(PGconn *conn, long long job_id, const char *actor,
                              struct queue_ops_result *res)
{
    struct ops_ctx c = { .actor = actor, .res = res };

    return run(conn, job_id, retry_body, &c);
}

enum payq_err queue_ops_resolve(PGconn *conn, long long job_id, bool succeeded,
                                const char *evidence, const char *actor,
                                struct queue_ops_result *res)
{
    struct ops_ctx c = {
        .actor = actor, .succeeded = succeeded, .evidence = evidence, .res = res
    };
    const char *problem = NULL;

    memset(res, 0, sizeof(*res));
    res->outcome = QUEUE_OPS_UNCHANGED;
    if (queue_ops_evidence_check(evidence, &problem) != PAYQ_OK)
        return PAYQ_ERR_DATA;
    return run(conn, job_id, resolve_body, &c);
}

enum payq_err queue_ops_evidence_check(const char *evidence,
                                       const char **problem)
{
    const unsigned char *s = (const unsigned char *)evidence;
    bool blank = true;
    size_t len;
    size_t i;
    size_t n;

    *problem = "evidence is required";
    if (evidence == NULL)
        return PAYQ_ERR_DATA;
    len = strlen(evidence);
    *problem =
        "evidence is longer than " OPS_STR(QUEUE_OPS_EVIDENCE_MAX) " bytes";
    if (len > QUEUE_OPS_EVIDENCE_MAX)
        return PAYQ_ERR_DATA;
    *problem = "evidence is not valid UTF-8";
    for (i = 0; i < len; i += n) {
        n = utf8_sequence_len(s + i, len - i);
        if (n == 0)
            return PAYQ_ERR_DATA;
        if (n > 1 || !isspace(s[i]))
            blank = false;
    }
    *problem = "evidence must not be blank";
    if (blank)
        return PAYQ_ERR_DATA;
    *problem = NULL;
    return PAYQ_OK;
}
