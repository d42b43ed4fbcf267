/*
 * Recording outcomes: the guarded transitions after a send, for many
 * jobs in one statement.
 *
 * Each item becomes one element of every column (a binary array
 * parameter, db/array.h): the C side decides what each outcome does to
 * its job and attempt (the rules are in claim.h), the statement applies
 * all of them set-based, so a batch costs one plan, one round trip and
 * one commit however many jobs it holds. Run outside a transaction block
 * the statement is its own transaction: libpq hands back its rows only
 * after the commit.
 */
#include "queue/claim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/utf8.h"
#include "db/array.h"
#include "db/conn.h"
#include "queue/sql.h"

enum {
    BODY_MAX = 4096,
    RECORD_NPARAMS = 17,
    /* Encoded bytes one column may take: every body at its cap, with
     * room for the element lengths and the header. */
    COLUMN_MAX = QUEUE_RECORD_BATCH_MAX * (BODY_MAX + 8) + 64,
};

/*
 * The batch's statement. Parameters, one element per item:
 *   $1 job, $2 lease owner, $3 the job's new state, $4 milliseconds
 *   (queued: not before now plus these, null to keep run_at; pending:
 *   the callback deadline), $5 probes to add (-1: start again at 0),
 *   $6 1 when the answer's code and message replace the last ones, $7
 *   why a person must review it (or null), $8 code, $9 message, $10 the
 *   provider's transaction id, $11 its reference; the attempt: $12 its
 *   id, $13 its new outcome (null: untouched), $14 1 when the request
 *   may have arrived, $15 HTTP status (0: none), $16 duration, $17 body.
 * Steps:
 *   locked   the jobs, in id order, as the callback receiver locks them
 *            (job before attempt, lowest id first), so the two never
 *            deadlock. The update then finds each job by its id, not by
 *            the version locked: a version that a callback committed
 *            after this statement began is not visible to it by ctid,
 *            and would be skipped, while by id the guard below is
 *            checked again on the newest version. The state it must be
 *            in comes from the CTE, not as a constant: given state =
 *            'running', the planner would walk jobs_lease_expiry_idx
 *            (whose predicate that is) with its stale entries, not the
 *            primary key;
 *   applied  each job's transition, only while it is still running
 *            under the owner's lease: a callback that got there first,
 *            or a worker that took over an expired lease, is never
 *            overwritten, and no state moves backwards (updated_at
 *            set here spares each row the trigger that would set it);
 *   then the attempt of each job that applied, only while still open:
 *   a job no longer ours leaves its attempt to its new owner.
 * Returns the ids of the jobs that applied.
 */
static const char RECORD_SQL[] =
    "with input as ("
    " select * from unnest($1::bigint[], $2::text[], $3::text[],"
    " $4::bigint[], $5::bigint[], $6::bigint[], $7::text[], $8::text[],"
    " $9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[],"
    " $14::bigint[], $15::bigint[], $16::bigint[], $17::text[])"
    " as u(job_id, owner, state, ms, probes, answered, review, code,"
    " message, provider_txn_id, reference_no, attempt_id, outcome, sent,"
    " http_status, duration_ms, body)),"
    " locked as materialized ("
    " select i.*, 'running'::text as guard from jobs j"
    " join input i on i.job_id = j.id"
    " where j.id = any($1::bigint[])"
    " order by j.id for no key update of j),"
    " applied as ("
    " update jobs j set state = i.state, lease_owner = null,"
    " updated_at = now(),"
    " lease_expires_at = null,"
    " run_at = case when i.state = 'queued' and i.ms is not null"
    " then now() + make_interval(secs =>"
    " (i.ms / 1000.0)::double precision)"
    " else j.run_at end,"
    " callback_deadline = case when i.state = 'pending'"
    " then now() + make_interval(secs =>"
    " (i.ms / 1000.0)::double precision)"
    " else j.callback_deadline end,"
    " finished_at = case when i.state in ('succeeded', 'failed')"
    " then now() else j.finished_at end,"
    " probe_count = case when i.probes < 0 then 0"
    " else j.probe_count + i.probes end,"
    " needs_review = j.needs_review or i.review is not null,"
    " review_reason = coalesce(i.review, j.review_reason),"
    " last_code = case when i.answered > 0 then i.code"
    " else j.last_code end,"
    " last_message = case when i.answered > 0 then i.message"
    " else j.last_message end,"
    " provider_txn_id = coalesce(i.provider_txn_id, j.provider_txn_id),"
    " provider_reference = coalesce(i.reference_no,"
    " j.provider_reference)"
    " from locked i"
    " where j.id = i.job_id and j.state = i.guard"
    " and j.lease_owner = i.owner"
    " returning j.id),"
    " attempted as ("
    " update attempts a set outcome = i.outcome,"
    " finished_at = case when i.outcome in ('succeeded', 'failed',"
    " 'not_executed') then now() end,"
    " send_count = a.send_count + i.sent,"
    " unsent_count = case when i.sent > 0 then 0"
    " else a.unsent_count + 1 end,"
    " first_sent_at = case when i.sent > 0"
    " then coalesce(a.first_sent_at, now()) else a.first_sent_at end,"
    " last_sent_at = case when i.sent > 0 then now()"
    " else a.last_sent_at end,"
    " http_status = nullif(i.http_status, 0), response_code = i.code,"
    " response_message = i.message,"
    " provider_txn_id = coalesce(i.provider_txn_id, a.provider_txn_id),"
    " duration_ms = i.duration_ms, response_body = i.body"
    " from input i join applied p on p.id = i.job_id"
    " where a.id = i.attempt_id and a.outcome = 'open'"
    " and i.outcome is not null"
    " returning a.id)"
    " select id from applied";

/* Why a 2400 to a first send is set aside. */
static const char COLLISION_REASON[] =
    "the provider answered 2400 Duplicate Transaction ID to the first "
    "send of this id";

/* The element type of each column, in parameter order. */
static const unsigned column_types[RECORD_NPARAMS] = {
    DB_OID_INT8, DB_OID_TEXT, DB_OID_TEXT, DB_OID_INT8, DB_OID_INT8,
    DB_OID_INT8, DB_OID_TEXT, DB_OID_TEXT, DB_OID_TEXT, DB_OID_TEXT,
    DB_OID_TEXT, DB_OID_INT8, DB_OID_TEXT, DB_OID_INT8, DB_OID_INT8,
    DB_OID_INT8, DB_OID_TEXT,
};

/* What one item does to its job and attempt (claim.h's rules). */
struct transition {
    const char *state; /* the job's new state */
    bool has_ms;       /* ms applies (else run_at is kept) */
    long long ms;
    long long probes;    /* to add; -1: start again at 0 */
    bool answered;       /* code and message replace the last ones */
    const char *review;  /* NULL unless set aside */
    const char *outcome; /* the attempt's, or NULL: untouched */
};

/* One batch's parameters: a binary array per column. */
struct columns {
    struct db_array col[RECORD_NPARAMS];
    Oid types[RECORD_NPARAMS];
    const char *values[RECORD_NPARAMS];
    int lengths[RECORD_NPARAMS];
    int formats[RECORD_NPARAMS];
    struct buf body; /* one item's body, made valid UTF-8 */
};

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

static const char *const job_state_for[] = {
    [QUEUE_RESULT_PENDING] = "pending",
    [QUEUE_RESULT_SUCCEEDED] = "succeeded",
    [QUEUE_RESULT_FAILED] = "failed",
    [QUEUE_RESULT_RETRY] = "queued",
    [QUEUE_RESULT_NOT_EXECUTED] = "queued",
    [QUEUE_RESULT_COLLISION] = "unknown",
    [QUEUE_RESULT_RELEASE] = "queued",
};

static const char *const attempt_outcome[] = {
    [QUEUE_RESULT_PENDING] = "pending",
    [QUEUE_RESULT_SUCCEEDED] = "succeeded",
    [QUEUE_RESULT_FAILED] = "failed",
    [QUEUE_RESULT_RETRY] = "open",
    [QUEUE_RESULT_NOT_EXECUTED] = "not_executed",
    [QUEUE_RESULT_COLLISION] = "unknown",
    [QUEUE_RESULT_RELEASE] = NULL, /* untouched: never started */
};

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

static void transition_of(const struct queue_job *job,
                          const struct queue_result *res, struct transition *t)
{
    memset(t, 0, sizeof(*t));
    t->state = job_state_for[res->kind];
    t->answered = res->kind != QUEUE_RESULT_RELEASE;
    t->outcome = attempt_outcome_of(job, res);
    if (res->kind == QUEUE_RESULT_PENDING) {
        t->has_ms = true;
        t->ms = (long long)res->callback_timeout_s * 1000;
    } else if (res->kind == QUEUE_RESULT_RETRY ||
               res->kind == QUEUE_RESULT_NOT_EXECUTED) {
        t->has_ms = true;
        t->ms = res->delay_ms < 0 ? 0 : res->delay_ms;
    }
    if (gives_up(job, res)) {
        /* Past its probes: a person (or a late callback) settles it. */
        t->state = "unknown";
        t->has_ms = false;
        t->probes = 1;
    } else if (res->kind == QUEUE_RESULT_RETRY) {
        t->probes = is_probe(res) ? 1 : 0;
    } else if (res->kind == QUEUE_RESULT_NOT_EXECUTED && !job->resend) {
        t->probes = -1; /* the next attempt is fresh */
    }
    if (res->kind == QUEUE_RESULT_COLLISION)
        t->review = COLLISION_REASON;
}

static void columns_init(struct columns *c)
{
    int k;

    memset(c, 0, sizeof(*c));
    for (k = 0; k < RECORD_NPARAMS; k++) {
        db_array_init(&c->col[k], column_types[k], COLUMN_MAX);
        c->types[k] = column_types[k] == DB_OID_TEXT ? DB_OID_TEXT_ARRAY
                                                     : DB_OID_INT8_ARRAY;
        c->formats[k] = 1;
    }
    buf_init(&c->body, BODY_MAX);
}

static void columns_cleanup(struct columns *c)
{
    int k;

    for (k = 0; k < RECORD_NPARAMS; k++)
        db_array_cleanup(&c->col[k]);
    buf_cleanup(&c->body);
}

static enum payq_err add_ll(struct columns *c, int k, long long v)
{
    return db_array_add_int8(&c->col[k], &v);
}

/* The answer may be anything; the column takes valid UTF-8 only. */
static enum payq_err add_body(struct columns *c, const char *body)
{
    enum payq_err err;

    if (body == NULL)
        return db_array_add_str(&c->col[16], NULL);
    buf_reset(&c->body);
    err = utf8_sanitize(&c->body, body, strlen(body), BODY_MAX);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[16], buf_str(&c->body));
    return err;
}

/* The job's side of one item: columns $1 to $11. */
static enum payq_err add_job(struct columns *c,
                             const struct queue_record_item *it,
                             const struct transition *t)
{
    const struct queue_result *res = it->res;
    enum payq_err err = add_ll(c, 0, it->job->id);

    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[1], it->owner);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[2], t->state);
    if (err == PAYQ_OK)
        err = db_array_add_int8(&c->col[3], t->has_ms ? &t->ms : NULL);
    if (err == PAYQ_OK)
        err = add_ll(c, 4, t->probes);
    if (err == PAYQ_OK)
        err = add_ll(c, 5, t->answered ? 1 : 0);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[6], t->review);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[7], res->code);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[8], res->message);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[9], res->provider_txn_id);
    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[10], res->reference_no);
    return err;
}

/* The attempt's side of one item: columns $12 to $17. */
static enum payq_err add_attempt(struct columns *c,
                                 const struct queue_record_item *it,
                                 const struct transition *t)
{
    const struct queue_result *res = it->res;
    enum payq_err err = add_ll(c, 11, it->job->attempt_id);

    if (err == PAYQ_OK)
        err = db_array_add_str(&c->col[12], t->outcome);
    if (err == PAYQ_OK)
        err = add_ll(c, 13, res->sent ? 1 : 0);
    if (err == PAYQ_OK)
        err = add_ll(c, 14, res->http_status);
    if (err == PAYQ_OK)
        err = add_ll(c, 15, res->duration_ms < 0 ? 0 : res->duration_ms);
    if (err == PAYQ_OK)
        err = add_body(c, res->body);
    return err;
}

static enum payq_err columns_fill(struct columns *c,
                                  const struct queue_record_item *items, int n)
{
    struct transition t;
    enum payq_err err = PAYQ_OK;
    int i;
    int k;

    for (i = 0; i < n && err == PAYQ_OK; i++) {
        transition_of(items[i].job, items[i].res, &t);
        err = add_job(c, &items[i], &t);
        if (err == PAYQ_OK)
            err = add_attempt(c, &items[i], &t);
    }
    for (k = 0; k < RECORD_NPARAMS && err == PAYQ_OK; k++) {
        c->values[k] = db_array_param(&c->col[k], &c->lengths[k]);
        if (c->values[k] == NULL)
            err = PAYQ_ERR_TOO_LARGE;
    }
    return err;
}

/* Whether the batch is one the statement can take. */
static bool batch_valid(const struct queue_record_item *items, int n)
{
    int i;
    int j;

    if (n < 1 || n > QUEUE_RECORD_BATCH_MAX)
        return false;
    for (i = 0; i < n; i++) {
        if ((unsigned)items[i].res->kind > QUEUE_RESULT_RELEASE ||
            items[i].owner == NULL)
            return false;
        /* One statement sees one snapshot: a job once per batch. */
        for (j = 0; j < i; j++)
            if (items[j].job->id == items[i].job->id)
                return false;
    }
    return true;
}

/* Which items applied, from the ids the statement returned. */
static void take_outcomes(const PGresult *res,
                          const struct queue_record_item *items, int n,
                          enum queue_record_outcome *outs)
{
    int r;
    int i;

    for (r = 0; r < PQntuples(res); r++) {
        long long id = strtoll(PQgetvalue(res, r, 0), NULL, 10);

        for (i = 0; i < n; i++)
            if (items[i].job->id == id)
                outs[i] = gives_up(items[i].job, items[i].res)
                              ? QUEUE_RECORDED_UNKNOWN
                              : QUEUE_RECORDED;
    }
    for (i = 0; i < n; i++)
        if (outs[i] == QUEUE_RECORD_LOST)
            log_debug("job no longer ours; outcome left to its new owner",
                      LOG_INT("job", items[i].job->id),
                      LOG_STR("txn", items[i].job->txn_id));
}

enum payq_err queue_record_batch(PGconn *conn,
                                 const struct queue_record_item *items, int n,
                                 enum queue_record_outcome *outs)
{
    struct columns c;
    PGresult *res;
    enum payq_err err;
    int i;

    for (i = 0; i < n; i++)
        outs[i] = QUEUE_RECORD_LOST;
    if (!batch_valid(items, n))
        return PAYQ_ERR_USAGE;
    columns_init(&c);
    err = columns_fill(&c, items, n);
    if (err != PAYQ_OK) {
        log_error("cannot encode outcomes", LOG_INT("jobs", n), LOG_ERR(err));
        goto out;
    }
    /* Planned on every call, with this batch's values (see claim.c). */
    res = PQexecParams(conn, RECORD_SQL, RECORD_NPARAMS, c.types, c.values,
                       c.lengths, c.formats, 0);
    err = db_result_check_outage(conn, res, "record outcomes");
    if (err == PAYQ_OK)
        take_outcomes(res, items, n, outs);
    PQclear(res);

out:
    columns_cleanup(&c);
    return err;
}

enum payq_err queue_record(PGconn *conn, const char *owner,
                           const struct queue_job *job,
                           const struct queue_result *res,
                           enum queue_record_outcome *out)
{
    struct queue_record_item it = { .owner = owner, .job = job, .res = res };

    return queue_record_batch(conn, &it, 1, out);
}
