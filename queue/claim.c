/*
 * The claim, lease renewal and the two maintenance transitions (expired
 * leases, callback deadlines). Outcomes are recorded in queue/record.c.
 * Each SQL statement below does one thing, named in the comment above it.
 */
#include "queue/claim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "db/array.h"
#include "db/conn.h"
#include "queue/sql.h"

/*
 * The whole claim, as one statement and so one transaction, one round
 * trip and one commit ($1 owner, $2 pay allowed, $3 deposit allowed, $4
 * lease seconds, $5 PAYQ_TXN_PREFIX; with a cursor, $6 and $7 its run_at
 * and id). Its text is put together from the parts below, with the
 * most jobs written in. It is planned on every call, with its values: a
 * plan made once (a prepared statement's generic plan) was measured to
 * go wrong as the tables grow past what their statistics said, walking
 * all attempts on every claim.
 *   picked   ready jobs in (run_at, id) order, walking jobs_claim_idx
 *            and stopping after that many: the batch's approval and pause
 *            are checked per row by a subquery (a join would let the
 *            planner expect few ready rows and sort them all), so the
 *            cost follows the jobs taken, not the depth of the queue. In
 *            a cancelled batch only a job with an open attempt (a probe)
 *            is ready. SKIP LOCKED keeps concurrent claims disjoint;
 *   open     the attempt still open from an earlier claim, if any: it is
 *            sent again with the same id;
 *   claimed  running under $1's lease (found by id: by the ctid picked,
 *            a version committed meanwhile would be missed; no state
 *            test, which would draw the planner to a partial index,
 *            and the lock above already holds it queued); a job with
 *            no open attempt counts a new attempt and starts its probes
 *            afresh;
 *   fresh    the new attempt, with a new id PREFIX-JOBID-N;
 * and returns what the sender needs, oldest first. The attempt of a job
 * that had one open is live when a send of it may have arrived, or a
 * worker died holding it (the reaper counted a probe). updated_at is
 * set here, which spares each row the trigger that would set it.
 */
static const char CLAIM_SQL_HEAD[] =
    "with picked as materialized ("
    " select j.id from jobs j"
    " where j.state = 'queued' and j.run_at <= now()";

static const char CLAIM_SQL_AFTER[] =
    " and (j.run_at, j.id) > ($6::timestamptz, $7::bigint)";

static const char CLAIM_SQL_PICK[] =
    " and ((j.kind = 'pay' and $2::boolean)"
    " or (j.kind = 'deposit' and $3::boolean))"
    " and (select b.approved_at is not null and b.paused_at is null"
    " and (b.cancelled_at is null or exists (select 1 from attempts a"
    " where a.job_id = j.id and a.outcome = 'open'))"
    " from batches b where b.id = j.batch_id)"
    " order by j.run_at, j.id limit ";

static const char CLAIM_SQL_TAIL[] =
    " for update of j skip locked),"
    " open as materialized ("
    " select a.job_id, a.id, a.attempt_no, a.request_txn_id,"
    " a.unsent_count, a.send_count from attempts a"
    " join picked p on a.job_id = p.id where a.outcome = 'open'),"
    " claimed as ("
    " update jobs j set state = 'running', lease_owner = $1,"
    " updated_at = now(),"
    " lease_expires_at = now() + make_interval(secs => $4::int),"
    " attempt_count = j.attempt_count + (o.id is null)::int,"
    " probe_count = case when o.id is null then 0 else j.probe_count end"
    " from picked p left join open o on o.job_id = p.id"
    " where j.id = p.id"
    " returning j.id, j.batch_id, j.kind, j.phone, j.amount,"
    " j.withdraw_charge, j.reason, j.depositor_name, j.reference,"
    " j.attempt_count, j.probe_count, j.run_at, o.id as open_id),"
    " fresh as ("
    " insert into attempts (job_id, attempt_no, request_txn_id)"
    " select c.id, c.attempt_count,"
    " $5 || '-' || c.id || '-' || c.attempt_count"
    " from claimed c where c.open_id is null"
    " returning id, job_id, attempt_no, request_txn_id)"
    " select c.id, c.batch_id, c.kind, c.phone, c.amount,"
    " c.withdraw_charge, coalesce(c.reason, ''),"
    " coalesce(c.depositor_name, ''), c.reference,"
    " coalesce(f.id, o.id), coalesce(f.attempt_no, o.attempt_no),"
    " coalesce(f.request_txn_id, o.request_txn_id), c.probe_count,"
    " coalesce(o.unsent_count, 0), f.id is null,"
    " f.id is null and (o.send_count > 0 or c.probe_count > 0),"
    " c.run_at::text"
    " from claimed c left join fresh f on f.job_id = c.id"
    " left join open o on o.job_id = c.id"
    " order by c.run_at, c.id";

enum {
    CLAIM_SQL_MAX = sizeof(CLAIM_SQL_HEAD) + sizeof(CLAIM_SQL_AFTER) +
                    sizeof(CLAIM_SQL_PICK) + sizeof(CLAIM_SQL_TAIL) + 16,
};

static long long cell_ll(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static bool cell_true(const PGresult *res, int row, int col)
{
    return strcmp(PQgetvalue(res, row, col), "t") == 0;
}

static void cell_copy(const PGresult *res, int row, int col, char *out,
                      size_t size)
{
    snprintf(out, size, "%s", PQgetvalue(res, row, col));
}

static void fill_job(const PGresult *res, int row, struct queue_job *job)
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
    job->resend = cell_true(res, row, 14);
    job->live = cell_true(res, row, 15);
}

/* The cursor after row (the claim's last, in (run_at, id) order). */
static void move_cursor(const PGresult *res, int row,
                        struct queue_cursor *cursor)
{
    cell_copy(res, row, 16, cursor->run_at, sizeof(cursor->run_at));
    cursor->id = cell_ll(res, row, 0);
}

enum payq_err queue_claim(PGconn *conn, const struct queue_claim_opts *opts,
                          struct queue_job *jobs, int *n)
{
    char sql[CLAIM_SQL_MAX];
    char lease[16];
    char after[24];
    bool from_cursor = opts->cursor != NULL && opts->cursor->run_at[0] != '\0';
    const char *p[7];
    PGresult *res = NULL;
    enum payq_err err;
    int i;

    *n = 0;
    if (opts->max < 1 || opts->max > QUEUE_CLAIM_MAX ||
        strlen(opts->prefix) > QUEUE_PREFIX_MAX)
        return PAYQ_ERR_USAGE;
    if (!opts->pay && !opts->deposit)
        return PAYQ_OK;
    snprintf(sql, sizeof(sql), "%s%s%s%d%s", CLAIM_SQL_HEAD,
             from_cursor ? CLAIM_SQL_AFTER : "", CLAIM_SQL_PICK, opts->max,
             CLAIM_SQL_TAIL);
    snprintf(lease, sizeof(lease), "%d", opts->lease_s);
    p[0] = opts->owner;
    p[1] = opts->pay ? "t" : "f";
    p[2] = opts->deposit ? "t" : "f";
    p[3] = lease;
    p[4] = opts->prefix;
    if (from_cursor) {
        snprintf(after, sizeof(after), "%lld", opts->cursor->id);
        p[5] = opts->cursor->run_at;
        p[6] = after;
    }
    /* Outside a transaction block the statement commits on its own:
     * its rows arrive only after the commit, the recovery point. */
    err = queue_sql_exec(conn, sql, from_cursor ? 7 : 5, p, "claim jobs", &res);
    for (i = 0; err == PAYQ_OK && i < PQntuples(res) && i < opts->max; i++)
        fill_job(res, i, &jobs[(*n)++]);
    if (*n > 0 && opts->cursor != NULL)
        move_cursor(res, *n - 1, opts->cursor);
    PQclear(res);
    return err;
}

/* A longer hold on a job still running under this owner. */
static const char RENEW_SQL[] =
    "update jobs set lease_expires_at = now() + make_interval(secs => $3)"
    " where id = $1 and state = 'running' and lease_owner = $2";

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
    err = queue_sql_exec(conn, RENEW_SQL, 3, p, "renew a lease", &res);
    if (err == PAYQ_OK)
        *kept = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    return err;
}

/*
 * Many leases at once; the ids of those still held come back. The
 * update's state guard comes from the CTE (see record.c's RECORD_SQL).
 */
static const char RENEW_MANY_SQL[] =
    "with u as (select * from unnest($1::bigint[], $2::text[])"
    " as u(id, owner)),"
    " locked as materialized (select j.id, 'running'::text as guard"
    " from jobs j join u on u.id = j.id"
    " where j.state = 'running' and j.lease_owner = u.owner"
    " order by j.id for no key update of j)"
    " update jobs j set lease_expires_at ="
    " now() + make_interval(secs => $3::int)"
    " from locked l join u on u.id = l.id"
    " where j.id = l.id and j.state = l.guard and j.lease_owner = u.owner"
    " returning j.id";

static enum payq_err renew_params(struct db_array *ids, struct db_array *owners,
                                  const long long *id, const char *const *owner,
                                  int n)
{
    enum payq_err err = PAYQ_OK;
    int i;

    for (i = 0; err == PAYQ_OK && i < n; i++) {
        err = db_array_add_int8(ids, &id[i]);
        if (err == PAYQ_OK)
            err = db_array_add_str(owners, owner[i]);
    }
    return err;
}

static void mark_kept(const PGresult *res, const long long *ids, int n,
                      bool *kept)
{
    int row;
    int i;

    for (row = 0; row < PQntuples(res); row++) {
        long long id = cell_ll(res, row, 0);

        for (i = 0; i < n; i++)
            if (ids[i] == id)
                kept[i] = true;
    }
}

enum payq_err queue_lease_renew_many(PGconn *conn, const long long *ids,
                                     const char *const *owners, int n,
                                     int lease_s, bool *kept)
{
    struct db_array id_array;
    struct db_array owner_array;
    char secs[16];
    const char *values[3];
    int lengths[3] = { 0, 0, 0 };
    int formats[3] = { 1, 1, 0 };
    Oid types[3] = { DB_OID_INT8_ARRAY, DB_OID_TEXT_ARRAY, 0 };
    PGresult *res;
    enum payq_err err;
    int i;

    for (i = 0; i < n; i++)
        kept[i] = false;
    if (n < 1 || n > QUEUE_RENEW_MAX)
        return n == 0 ? PAYQ_OK : PAYQ_ERR_USAGE;
    db_array_init(&id_array, DB_OID_INT8, 64 * 1024);
    db_array_init(&owner_array, DB_OID_TEXT, 64 * 1024);
    err = renew_params(&id_array, &owner_array, ids, owners, n);
    if (err != PAYQ_OK)
        goto out;
    snprintf(secs, sizeof(secs), "%d", lease_s);
    values[0] = db_array_param(&id_array, &lengths[0]);
    values[1] = db_array_param(&owner_array, &lengths[1]);
    values[2] = secs;
    res = PQexecParams(conn, RENEW_MANY_SQL, 3, types, values, lengths, formats,
                       0);
    err = db_result_check_outage(conn, res, "renew leases");
    if (err == PAYQ_OK)
        mark_kept(res, ids, n, kept);
    PQclear(res);

out:
    db_array_cleanup(&owner_array);
    db_array_cleanup(&id_array);
    return err;
}

/*
 * Expired leases go back to the queue; their open attempts stay open,
 * and the dead worker's try counts as a probe: it may have left. Rows
 * are locked in id order, as the recorders and the callback receiver
 * lock them, and one that another holds (its outcome being written) is
 * left for the next round: no deadlock, no wait. So below.
 */
static const char REAP_SQL[] =
    "with expired as (select id from jobs"
    " where state = 'running' and lease_expires_at < now()"
    " order by id for update skip locked)"
    " update jobs j set state = 'queued', lease_owner = null,"
    " lease_expires_at = null, run_at = now(),"
    " probe_count = j.probe_count + 1"
    " from expired e where j.id = e.id";

/* Pending past the deadline: unknown, and so is its attempt. */
static const char EXPIRE_SQL[] =
    "with due as (select id from jobs"
    " where state = 'pending' and callback_deadline < now()"
    " order by id for update skip locked),"
    " late as (update jobs j set state = 'unknown' from due"
    " where j.id = due.id returning j.id)"
    " update attempts a set outcome = 'unknown' from late"
    " where a.job_id = late.id and a.outcome = 'pending'"
    " returning a.job_id";

enum payq_err queue_reap_expired(PGconn *conn, int *n)
{
    enum payq_err err =
        queue_sql_count(conn, REAP_SQL, "reap expired leases", n);

    if (err == PAYQ_OK && *n > 0)
        log_warn("took back jobs whose worker stopped renewing its lease",
                 LOG_INT("jobs", *n));
    return err;
}

enum payq_err queue_expire_pending(PGconn *conn, int *n)
{
    enum payq_err err =
        queue_sql_count(conn, EXPIRE_SQL, "expire pending jobs", n);

    if (err == PAYQ_OK && *n > 0)
        log_warn("pending jobs had no callback in time; now unknown",
                 LOG_INT("jobs", *n));
    return err;
}
