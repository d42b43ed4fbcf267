/*
 * The claim transaction and the guarded transitions after a send. Each
 * SQL statement below does one thing, named in the comment above it.
 */
#include "queue/claim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/utf8.h"
#include "db/conn.h"

enum { BODY_MAX = 4096, IDS_TEXT_MAX = QUEUE_CLAIM_MAX * 21 + 3 };

/* Takes ready jobs, oldest first, skipping rows other workers hold. */
static const char CLAIM_SQL[] =
    "with picked as ("
    " select j.id from jobs j join batches b on b.id = j.batch_id"
    " where j.state = 'queued' and j.run_at <= now()"
    " and ((j.kind = 'pay' and $3::boolean)"
    " or (j.kind = 'deposit' and $4::boolean))"
    " and b.approved_at is not null and b.paused_at is null"
    " and (b.cancelled_at is null or exists (select 1 from attempts a"
    " where a.job_id = j.id and a.outcome = 'open'))"
    " order by j.run_at, j.id limit $2"
    " for update of j skip locked)"
    " update jobs j set state = 'running', lease_owner = $1,"
    " lease_expires_at = now() + make_interval(secs => $5)"
    " from picked where j.id = picked.id returning j.id";

/* A new attempt, with a new id, for claimed jobs with none open. */
static const char NEW_ATTEMPTS_SQL[] =
    "with fresh as ("
    " update jobs j set attempt_count = attempt_count + 1, probe_count = 0"
    " where j.id = any($1::bigint[]) and not exists (select 1 from"
    " attempts a where a.job_id = j.id and a.outcome = 'open')"
    " returning j.id, j.attempt_count)"
    " insert into attempts (job_id, attempt_no, request_txn_id)"
    " select id, attempt_count, $2 || '-' || id || '-' || attempt_count"
    " from fresh returning job_id";

/*
 * What the worker needs to send each claimed job's open attempt. The
 * attempt may be live when a send of it may have arrived, or a worker
 * died holding it (the reaper counted a probe).
 */
static const char CLAIMED_SQL[] =
    "select j.id, j.batch_id, j.kind, j.phone, j.amount,"
    " j.withdraw_charge, coalesce(j.reason, ''),"
    " coalesce(j.depositor_name, ''), j.reference, a.id, a.attempt_no,"
    " a.request_txn_id, j.probe_count, a.unsent_count,"
    " a.send_count > 0 or j.probe_count > 0"
    " from jobs j join attempts a on a.job_id = j.id"
    " and a.outcome = 'open'"
    " where j.id = any($1::bigint[]) order by j.run_at, j.id";

static long long cell_ll(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void cell_copy(const PGresult *res, int row, int col, char *out,
                      size_t size)
{
    snprintf(out, size, "%s", PQgetvalue(res, row, col));
}

/* The ids of a result's first column as a PostgreSQL array literal. */
static void ids_literal(const PGresult *res, char *out, size_t size)
{
    size_t n = 0;
    int i;

    n += (size_t)snprintf(out, size, "{");
    for (i = 0; i < PQntuples(res) && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", i > 0 ? "," : "",
                              PQgetvalue(res, i, 0));
    if (n < size)
        snprintf(out + n, size - n, "}");
}

/*
 * db_result_check(), except that a lost connection is only returned: the
 * caller reports the outage once (claim.h).
 */
static enum payq_err check(PGconn *conn, const PGresult *res,
                           const char *what)
{
    ExecStatusType status = res != NULL ? PQresultStatus(res)
                                        : PGRES_FATAL_ERROR;

    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        return PAYQ_OK;
    if (PQstatus(conn) != CONNECTION_OK) {
        log_debug("database connection lost", LOG_STR("doing", what));
        return PAYQ_ERR_DB_CONNECT;
    }
    return db_result_check(conn, res, what);
}

/* A statement without parameters or rows (begin, commit), as check(). */
static enum payq_err run(PGconn *conn, const char *sql, const char *what)
{
    PGresult *res = PQexec(conn, sql);
    enum payq_err err = check(conn, res, what);

    PQclear(res);
    return err;
}

static enum payq_err exec(PGconn *conn, const char *sql, int n,
                          const char *const *params, const char *what,
                          PGresult **out)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    enum payq_err err = check(conn, res, what);

    if (err == PAYQ_OK && out != NULL)
        *out = res;
    else
        PQclear(res);
    return err;
}

static bool id_in(const PGresult *res, const char *id)
{
    int i;

    for (i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, 0), id) == 0)
            return true;
    return false;
}

static void fill_job(const PGresult *res, int row, const PGresult *fresh,
                     struct queue_job *job)
{
    memset(job, 0, sizeof(*job));
    job->id = cell_ll(res, row, 0);
    job->batch_id = cell_ll(res, row, 1);
    if (job_kind_parse(PQgetvalue(res, row, 2), &job->kind) != PAYQ_OK)
        job->kind = JOB_KIND_PAY; /* the schema allows nothing else */
    cell_copy(res, row, 3, job->phone, sizeof(job->phone));
    job->amount = cell_ll(res, row, 4);
    job->withdraw_charge = cell_ll(res, row, 5);
    cell_copy(res, row, 6, job->reason, sizeof(job->reason));
    cell_copy(res, row, 7, job->depositor_name, sizeof(job->depositor_name));
    cell_copy(res, row, 8, job->reference, sizeof(job->reference));
    job->attempt_id = cell_ll(res, row, 9);
    job->attempt_no = (int)cell_ll(res, row, 10);
    cell_copy(res, row, 11, job->txn_id, sizeof(job->txn_id));
    job->probe_count = (int)cell_ll(res, row, 12);
    job->unsent_count = (int)cell_ll(res, row, 13);
    job->resend = !id_in(fresh, PQgetvalue(res, row, 0));
    job->live = job->resend && strcmp(PQgetvalue(res, row, 14), "t") == 0;
}

/* Everything between BEGIN and COMMIT of a claim. */
static enum payq_err claim_in_tx(PGconn *conn,
                                 const struct queue_claim_opts *o,
                                 struct queue_job *jobs, int *n)
{
    char max[16];
    char lease[16];
    char ids[IDS_TEXT_MAX];
    const char *p[5];
    PGresult *claimed = NULL;
    PGresult *fresh = NULL;
    PGresult *rows = NULL;
    enum payq_err err;
    int i;

    snprintf(max, sizeof(max), "%d", o->max);
    snprintf(lease, sizeof(lease), "%d", o->lease_s);
    p[0] = o->owner;
    p[1] = max;
    p[2] = o->pay ? "t" : "f";
    p[3] = o->deposit ? "t" : "f";
    p[4] = lease;
    err = exec(conn, CLAIM_SQL, 5, p, "claim jobs", &claimed);
    if (err != PAYQ_OK || PQntuples(claimed) == 0)
        goto out;
    ids_literal(claimed, ids, sizeof(ids));
    p[0] = ids;
    p[1] = o->prefix;
    err = exec(conn, NEW_ATTEMPTS_SQL, 2, p, "open attempts", &fresh);
    if (err == PAYQ_OK)
        err = exec(conn, CLAIMED_SQL, 1, p, "read claimed jobs", &rows);
    for (i = 0; err == PAYQ_OK && i < PQntuples(rows) && i < o->max; i++)
        fill_job(rows, i, fresh, &jobs[(*n)++]);

out:
    PQclear(claimed);
    PQclear(fresh);
    PQclear(rows);
    return err;
}

enum payq_err queue_claim(PGconn *conn, const struct queue_claim_opts *opts,
                          struct queue_job *jobs, int *n)
{
    enum payq_err err;

    *n = 0;
    if (opts->max < 1 || opts->max > QUEUE_CLAIM_MAX ||
        strlen(opts->prefix) > QUEUE_PREFIX_MAX)
        return PAYQ_ERR_USAGE;
    if (!opts->pay && !opts->deposit)
        return PAYQ_OK;
    err = run(conn, "begin", "begin a claim");
    if (err != PAYQ_OK)
        return err;
    err = claim_in_tx(conn, opts, jobs, n);
    if (err == PAYQ_OK)
        err = run(conn, "commit", "commit a claim");
    if (err != PAYQ_OK) {
        *n = 0;
        if (PQstatus(conn) == CONNECTION_OK)
            PQclear(PQexec(conn, "rollback"));
    }
    return err;
}

/*
 * Job transitions after a send. Each applies only while the job is still
 * running under this owner's lease ($1 job, $2 owner); parameters: $3
 * code, $4 message, $5 provider transaction id, $6 provider reference,
 * $7 seconds (a delay, or the callback timeout), $8 1 when the try
 * counts as a probe, else 0.
 */
#define JOB_GUARD " where id = $1 and state = 'running' and lease_owner = $2"
#define JOB_COMMON                                                        \
    " lease_owner = null, lease_expires_at = null, last_code = $3,"      \
    " last_message = $4, provider_txn_id = coalesce($5, provider_txn_id),"\
    " provider_reference = coalesce($6, provider_reference)"

/* Each kind's statement and how many of the parameters it takes. */
static const struct {
    const char *sql;
    int nparams;
} job_sql[] = {
    [QUEUE_RESULT_PENDING] = {
        "update jobs set state = 'pending', callback_deadline = now() +"
        " make_interval(secs => $7::double precision)," JOB_COMMON JOB_GUARD,
        7 },
    [QUEUE_RESULT_SUCCEEDED] = {
        "update jobs set state = 'succeeded', finished_at = now(),"
        JOB_COMMON JOB_GUARD, 6 },
    [QUEUE_RESULT_FAILED] = {
        "update jobs set state = 'failed', finished_at = now(),"
        JOB_COMMON JOB_GUARD, 6 },
    [QUEUE_RESULT_RETRY] = {
        "update jobs set state = 'queued', run_at = now() +"
        " make_interval(secs => $7::double precision),"
        " probe_count = probe_count + $8::int," JOB_COMMON JOB_GUARD, 8 },
    /* A first send refused: its attempt is closed, the next is fresh. */
    [QUEUE_RESULT_NOT_EXECUTED] = {
        "update jobs set state = 'queued', run_at = now() +"
        " make_interval(secs => $7::double precision), probe_count = 0,"
        JOB_COMMON JOB_GUARD, 7 },
    [QUEUE_RESULT_COLLISION] = {
        "update jobs set state = 'unknown', needs_review = true,"
        " review_reason = 'the provider answered 2400 Duplicate"
        " Transaction ID to the first send of this id'," JOB_COMMON
        JOB_GUARD, 6 },
    [QUEUE_RESULT_RELEASE] = {
        "update jobs set state = 'queued', lease_owner = null,"
        " lease_expires_at = null" JOB_GUARD, 2 },
};

/*
 * A probe refused for a system reason: queued again with its attempt
 * still open; it tells nothing about the id, so no probe is counted.
 */
static const char JOB_PROBE_REFUSED_SQL[] =
    "update jobs set state = 'queued', run_at = now() +"
    " make_interval(secs => $7::double precision)," JOB_COMMON JOB_GUARD;

/* RETRY past its probes: a person (or a late callback) settles it. */
static const char JOB_GIVE_UP_SQL[] =
    "update jobs set state = 'unknown', probe_count = probe_count + 1,"
    JOB_COMMON JOB_GUARD;

/*
 * The attempt's side ($1 attempt): its new outcome ($9), what was sent
 * ($8: 1 when it may have arrived) and answered. Only an attempt still
 * open changes.
 */
static const char ATTEMPT_SQL[] =
    "update attempts set outcome = $9,"
    " finished_at = case when $9 in ('succeeded', 'failed',"
    " 'not_executed') then now() end,"
    " send_count = send_count + $8::int,"
    " unsent_count = case when $8::int > 0 then 0"
    " else unsent_count + 1 end,"
    " first_sent_at = case when $8::int > 0"
    " then coalesce(first_sent_at, now()) else first_sent_at end,"
    " last_sent_at = case when $8::int > 0 then now()"
    " else last_sent_at end,"
    " http_status = nullif($2::int, 0), response_code = $3,"
    " response_message = $4,"
    " provider_txn_id = coalesce($5, provider_txn_id),"
    " duration_ms = $6, response_body = $7"
    " where id = $1 and outcome = 'open'";

static const char *const attempt_outcome[] = {
    [QUEUE_RESULT_PENDING] = "pending",
    [QUEUE_RESULT_SUCCEEDED] = "succeeded",
    [QUEUE_RESULT_FAILED] = "failed",
    [QUEUE_RESULT_RETRY] = "open",
    [QUEUE_RESULT_NOT_EXECUTED] = "not_executed",
    [QUEUE_RESULT_COLLISION] = "unknown",
    [QUEUE_RESULT_RELEASE] = NULL, /* untouched: never started */
};

/* Seconds as text with millisecond precision, for make_interval. */
static void seconds_text(long long ms, char *out, size_t size)
{
    if (ms < 0)
        ms = 0;
    snprintf(out, size, "%lld.%03lld", ms / 1000, ms % 1000);
}

static bool is_probe(const struct queue_result *res)
{
    return res->kind == QUEUE_RESULT_RETRY &&
           (res->sent || res->counts_as_probe);
}

static bool gives_up(const struct queue_job *job,
                     const struct queue_result *res)
{
    return is_probe(res) && job->probe_count + 1 > res->max_probes;
}

/* The job's statement for res, and how many parameters it takes. */
static const char *job_statement(const struct queue_job *job,
                                 const struct queue_result *res, int *n)
{
    if (gives_up(job, res)) {
        *n = 6;
        return JOB_GIVE_UP_SQL;
    }
    if (res->kind == QUEUE_RESULT_NOT_EXECUTED && job->resend) {
        *n = 7;
        return JOB_PROBE_REFUSED_SQL;
    }
    *n = job_sql[res->kind].nparams;
    return job_sql[res->kind].sql;
}

/*
 * The attempt's new outcome, or NULL to leave it untouched. Only an
 * attempt made by this claim may be closed as not executed: one from an
 * earlier claim may have been sent then, whatever this claim saw.
 */
static const char *attempt_outcome_of(const struct queue_job *job,
                                      const struct queue_result *res)
{
    if (gives_up(job, res))
        return "unknown";
    if (res->kind == QUEUE_RESULT_RELEASE && !job->resend)
        return "not_executed"; /* released before its first send */
    if (res->kind == QUEUE_RESULT_NOT_EXECUTED && job->resend)
        return "open"; /* probed again later, same id */
    return attempt_outcome[res->kind];
}

/* The job's transition; *applied is false when the lease was lost. */
static enum payq_err record_job(PGconn *conn, const char *owner,
                                const struct queue_job *job,
                                const struct queue_result *res,
                                bool *applied)
{
    char id[24];
    char secs[32];
    const char *p[8];
    PGresult *out = NULL;
    int n = 0;
    const char *sql = job_statement(job, res, &n);
    enum payq_err err;

    snprintf(id, sizeof(id), "%lld", job->id);
    seconds_text(res->kind == QUEUE_RESULT_PENDING
                     ? (long long)res->callback_timeout_s * 1000
                     : res->delay_ms,
                 secs, sizeof(secs));
    p[0] = id;
    p[1] = owner;
    p[2] = res->code;
    p[3] = res->message;
    p[4] = res->provider_txn_id;
    p[5] = res->reference_no;
    p[6] = secs;
    p[7] = is_probe(res) ? "1" : "0";
    err = exec(conn, sql, n, p, "record the job's outcome", &out);
    if (err == PAYQ_OK)
        *applied = strcmp(PQcmdTuples(out), "1") == 0;
    PQclear(out);
    return err;
}

static enum payq_err record_attempt(PGconn *conn,
                                    const struct queue_job *job,
                                    const struct queue_result *res)
{
    char id[24];
    char status[16];
    char duration[24];
    const char *outcome = attempt_outcome_of(job, res);
    const char *p[9];
    struct buf body;
    enum payq_err err;

    if (outcome == NULL)
        return PAYQ_OK;
    /* The answer may be anything; the column takes valid UTF-8 only. */
    buf_init(&body, BODY_MAX);
    err = utf8_sanitize(&body, res->body != NULL ? res->body : "",
                        res->body != NULL ? strlen(res->body) : 0,
                        BODY_MAX);
    if (err != PAYQ_OK)
        goto out;
    snprintf(id, sizeof(id), "%lld", job->attempt_id);
    snprintf(status, sizeof(status), "%d", res->http_status);
    snprintf(duration, sizeof(duration), "%lld",
             res->duration_ms < 0 ? 0 : res->duration_ms);
    p[0] = id;
    p[1] = status;
    p[2] = res->code;
    p[3] = res->message;
    p[4] = res->provider_txn_id;
    p[5] = duration;
    p[6] = res->body != NULL ? buf_str(&body) : NULL;
    p[7] = res->sent ? "1" : "0";
    p[8] = outcome;
    err = exec(conn, ATTEMPT_SQL, 9, p, "record the attempt", NULL);

out:
    buf_cleanup(&body);
    return err;
}

static enum payq_err record_in_tx(PGconn *conn, const char *owner,
                                  const struct queue_job *job,
                                  const struct queue_result *res,
                                  enum queue_record_outcome *out)
{
    bool applied = false;
    enum payq_err err = record_job(conn, owner, job, res, &applied);

    if (err != PAYQ_OK)
        return err;
    /* Lost the lease: the attempt belongs to whoever has the job now. */
    if (!applied) {
        *out = QUEUE_RECORD_LOST;
        return PAYQ_OK;
    }
    *out = gives_up(job, res) ? QUEUE_RECORDED_UNKNOWN : QUEUE_RECORDED;
    return record_attempt(conn, job, res);
}

enum payq_err queue_record(PGconn *conn, const char *owner,
                           const struct queue_job *job,
                           const struct queue_result *res,
                           enum queue_record_outcome *out)
{
    enum payq_err err;

    *out = QUEUE_RECORD_LOST;
    if ((unsigned)res->kind > QUEUE_RESULT_RELEASE)
        return PAYQ_ERR_USAGE;
    err = run(conn, "begin", "begin recording an outcome");
    if (err != PAYQ_OK)
        return err;
    err = record_in_tx(conn, owner, job, res, out);
    if (err == PAYQ_OK)
        err = run(conn, "commit", "commit an outcome");
    if (err != PAYQ_OK && PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, "rollback"));
    if (*out == QUEUE_RECORD_LOST && err == PAYQ_OK)
        log_debug("job no longer ours; outcome left to its new owner",
                  LOG_INT("job", job->id), LOG_STR("txn", job->txn_id));
    return err;
}

/* A longer hold on a job still running under this owner. */
static const char RENEW_SQL[] =
    "update jobs set lease_expires_at = now() + make_interval(secs => $3)"
    JOB_GUARD;

enum payq_err queue_lease_renew(PGconn *conn, const char *owner,
                                const struct queue_job *job, int lease_s,
                                bool *kept)
{
    char id[24];
    char secs[16];
    const char *p[3] = { id, owner, secs };
    PGresult *res = NULL;
    enum payq_err err;

    *kept = false;
    snprintf(id, sizeof(id), "%lld", job->id);
    snprintf(secs, sizeof(secs), "%d", lease_s);
    err = exec(conn, RENEW_SQL, 3, p, "renew a lease", &res);
    if (err == PAYQ_OK)
        *kept = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    return err;
}

/*
 * Expired leases go back to the queue; their open attempts stay open,
 * and the dead worker's try counts as a probe: it may have left.
 */
static const char REAP_SQL[] =
    "update jobs set state = 'queued', lease_owner = null,"
    " lease_expires_at = null, run_at = now(),"
    " probe_count = probe_count + 1"
    " where state = 'running' and lease_expires_at < now()";

/* Pending past the deadline: unknown, and so is its attempt. */
static const char EXPIRE_SQL[] =
    "with late as (update jobs set state = 'unknown'"
    " where state = 'pending' and callback_deadline < now()"
    " returning id)"
    " update attempts a set outcome = 'unknown' from late"
    " where a.job_id = late.id and a.outcome = 'pending'"
    " returning a.job_id";

static enum payq_err count_rows(PGconn *conn, const char *sql,
                                const char *what, int *n)
{
    PGresult *res = PQexec(conn, sql);
    enum payq_err err = check(conn, res, what);

    *n = err == PAYQ_OK ? (int)strtol(PQcmdTuples(res), NULL, 10) : 0;
    PQclear(res);
    return err;
}

enum payq_err queue_reap_expired(PGconn *conn, int *n)
{
    enum payq_err err = count_rows(conn, REAP_SQL, "reap expired leases",
                                   n);

    if (err == PAYQ_OK && *n > 0)
        log_warn("took back jobs whose worker stopped renewing its lease",
                 LOG_INT("jobs", *n));
    return err;
}

enum payq_err queue_expire_pending(PGconn *conn, int *n)
{
    enum payq_err err = count_rows(conn, EXPIRE_SQL,
                                   "expire pending jobs", n);

    if (err == PAYQ_OK && *n > 0)
        log_warn("pending jobs had no callback in time; now unknown",
                 LOG_INT("jobs", *n));
    return err;
}
