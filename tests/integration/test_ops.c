/*
 * Integration tests for queue/ops against a real PostgreSQL, and for the
 * operator commands of build/payq: pause, resume, cancel, retry and
 * resolve, each with its happy path, a second run, every refusal and its
 * audit row; that a cancel never touches a job that may be with the
 * provider, even racing claiming workers; that a retried job's next
 * claim mints a new transaction id.
 */
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "queue/claim.h"
#include "queue/ops.h"
#include "tests/support/claim.h"
#include "tests/support/proc.h"
#include "tests/support/testdb.h"

#define ACTOR "alice"
#define EXIT_DATA 65
#define EXIT_USAGE 64
#define NO_JOB 999999LL

struct fixture {
    struct testdb db;
    PGconn *conn;
    int next_ref; /* keeps references unique within a test */
};

static int fx_setup(void **state)
{
    static struct fixture fx;

    log_init(2, LOG_LEVEL_ERROR);
    memset(&fx, 0, sizeof(fx));
    testdb_create_migrated(&fx.db);
    fx.conn = testdb_connect(&fx.db);
    /* Batches 1 and 2 approved, 3 cancelled, 4 cancelled and paused. */
    testdb_exec_ok(fx.conn,
                   "insert into batches (file_name, file_size, file_sha256,"
                   " kind, approved_at, approved_by, paused_at, paused_by,"
                   " cancelled_at, cancelled_by) values"
                   " ('a', 1, repeat('a', 64), 'pay', now(), 't', null,"
                   " null, null, null),"
                   " ('b', 1, repeat('b', 64), 'pay', now(), 't', null,"
                   " null, null, null),"
                   " ('c', 1, repeat('c', 64), 'pay', now(), 't', null,"
                   " null, now(), 't'),"
                   " ('d', 1, repeat('d', 64), 'pay', now(), 't', now(),"
                   " 't', now(), 't')");
    *state = &fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *fx = *state;

    PQfinish(fx->conn);
    testdb_drop(&fx->db);
    return 0;
}

/* Runs a query returning one number; the SQL is a printf format. */
static long long q(struct fixture *fx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static long long q(struct fixture *fx, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return testdb_scalar(fx->conn, sql);
}

/* Runs a statement that must succeed; the SQL is a printf format. */
static void ex(struct fixture *fx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void ex(struct fixture *fx, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    testdb_exec_ok(fx->conn, sql);
}

/* Adds n due pay jobs to batch, oldest first in insertion order. */
static void add_jobs(struct fixture *fx, int batch, int n)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "insert into jobs (batch_id, kind, phone, amount, reference,"
             " run_at) select %d, 'pay', '250788000001', 1000 + g,"
             " 'R%d-' || g, now() - make_interval(secs => 100000 - g)"
             " from generate_series(1, %d) g",
             batch, fx->next_ref++, n);
    testdb_exec_ok(fx->conn, sql);
}

/* Adds one job to batch directly in state (a final one gets a time). */
static long long add_job_in(struct fixture *fx, int batch, const char *st)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "insert into jobs (batch_id, kind, phone, amount, reference,"
             " state, finished_at) values (%d, 'pay', '250788000001', 5,"
             " 'S%d', '%s', case when '%s' in ('succeeded', 'failed',"
             " 'cancelled') then now() end)",
             batch, fx->next_ref++, st, st);
    testdb_exec_ok(fx->conn, sql);
    return q(fx, "select max(id) from jobs");
}

static struct queue_job claim_one(struct fixture *fx, const char *owner)
{
    struct queue_claim_opts o = testclaim_opts(owner, 1);
    struct queue_job jobs[1];
    int n = 0;

    assert_int_equal(queue_claim(fx->conn, &o, jobs, &n), PAYQ_OK);
    assert_int_equal(n, 1);
    return jobs[0];
}

static int claim_count(struct fixture *fx, int max)
{
    struct queue_claim_opts o = testclaim_opts("w9", max);
    struct queue_job jobs[QUEUE_CLAIM_MAX];
    int n = -1;

    assert_int_equal(queue_claim(fx->conn, &o, jobs, &n), PAYQ_OK);
    return n;
}

/* Records kind for job under owner w1; later runs are an hour away. */
static void record(struct fixture *fx, const struct queue_job *job,
                   enum queue_result_kind kind)
{
    struct queue_result r = {
        .kind = kind,
        .sent = true,
        .http_status = 200,
        .code = "1002",
        .message = "Mobile number not registered",
        .provider_txn_id = "P-1",
        .delay_ms = 3600000,
        .callback_timeout_s = 1800,
        .max_probes = 8,
    };
    enum queue_record_outcome out;

    assert_int_equal(queue_record(fx->conn, "w1", job, &r, &out), PAYQ_OK);
    assert_int_equal(out, QUEUE_RECORDED);
}

/* A claimed job of w1 whose worker died after sending: back in queue. */
static long long reaped_job(struct fixture *fx)
{
    struct queue_job job = claim_one(fx, "w1");
    int n = 0;

    ex(fx,
       "update jobs set lease_expires_at = now() - interval '1 second'"
       " where id = %lld",
       job.id);
    assert_int_equal(queue_reap_expired(fx->conn, &n), PAYQ_OK);
    assert_int_equal(n, 1);
    /* Queued again, its attempt open and never recorded as sent. */
    assert_int_equal(q(fx,
                       "select count(*) from jobs j join attempts a on"
                       " a.job_id = j.id where j.id = %lld and"
                       " j.state = 'queued' and a.outcome = 'open'"
                       " and a.send_count = 0",
                       job.id),
                     1);
    return job.id;
}

static long long audits(struct fixture *fx, const char *action)
{
    return q(fx,
             "select count(*) from operator_actions where action ="
             " '%s'",
             action);
}

/* Waits up to ms for a payq_jobs notification carrying payload. */
static bool got_notify(PGconn *conn, const char *payload, int ms)
{
    struct timespec tick = { 0, 10 * 1000 * 1000 };
    int waited;

    for (waited = 0; waited <= ms; waited += 10) {
        PGnotify *n;

        assert_int_equal(PQconsumeInput(conn), 1);
        while ((n = PQnotifies(conn)) != NULL) {
            bool match = strcmp(n->relname, QUEUE_NOTIFY_CHANNEL) == 0 &&
                         strcmp(n->extra, payload) == 0;

            PQfreemem(n);
            if (match)
                return true;
        }
        nanosleep(&tick, NULL);
    }
    return false;
}

static PGconn *listener(struct fixture *fx)
{
    PGconn *conn = testdb_connect(&fx->db);

    testdb_exec_ok(conn, "listen " QUEUE_NOTIFY_CHANNEL);
    return conn;
}

static void ops_pause_stops_claims_until_resumed(void **state)
{
    struct fixture *fx = *state;
    struct queue_ops_result r;
    PGconn *listen = listener(fx);

    add_jobs(fx, 1, 3);
    assert_int_equal(queue_ops_pause(fx->conn, 1, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_CHANGED);
    assert_int_equal(r.batch_id, 1);
    assert_int_equal(q(fx,
                       "select count(*) from batches where id = 1 and"
                       " paused_at is not null and paused_by = '" ACTOR "'"),
                     1);
    assert_int_equal(claim_count(fx, 10), 0);

    /* Twice: nothing more, and no second audit row. */
    assert_int_equal(queue_ops_pause(fx->conn, 1, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_UNCHANGED);
    assert_int_equal(q(fx, "select count(*) from operator_actions where"
                           " action = 'pause' and batch_id = 1 and actor ="
                           " '" ACTOR "' and job_id is null"),
                     1);

    assert_int_equal(queue_ops_resume(fx->conn, 1, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_CHANGED);
    assert_true(got_notify(listen, "1", 2000));
    assert_int_equal(q(fx, "select count(*) from batches where id = 1 and"
                           " paused_at is null and paused_by is null"),
                     1);
    assert_int_equal(claim_count(fx, 10), 3);

    assert_int_equal(queue_ops_resume(fx->conn, 1, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_UNCHANGED);
    assert_false(got_notify(listen, "1", 100));
    assert_int_equal(audits(fx, "resume"), 1);
    assert_int_equal(audits(fx, "pause"), 1);
    PQfinish(listen);
}

static void ops_pause_resume_refuse_cancelled_and_missing(void **state)
{
    struct fixture *fx = *state;
    struct queue_ops_result r;

    assert_int_equal(queue_ops_pause(fx->conn, 3, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_CANCELLED);
    assert_int_equal(queue_ops_pause(fx->conn, 4, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_CANCELLED);
    assert_int_equal(queue_ops_resume(fx->conn, 4, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_CANCELLED);
    assert_int_equal(queue_ops_resume(fx->conn, 3, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_CANCELLED);
    assert_int_equal(queue_ops_pause(fx->conn, NO_JOB, ACTOR, &r),
                     PAYQ_ERR_NOT_FOUND);
    assert_int_equal(queue_ops_resume(fx->conn, NO_JOB, ACTOR, &r),
                     PAYQ_ERR_NOT_FOUND);
    assert_int_equal(q(fx, "select count(*) from batches where"
                           " (id = 3 and paused_at is not null)"
                           " or (id = 4 and paused_at is null)"),
                     0);
    assert_int_equal(q(fx, "select count(*) from operator_actions"), 0);
    /* The connection is usable: no transaction was left open. */
    assert_int_equal(PQtransactionStatus(fx->conn), PQTRANS_IDLE);
}

static void ops_cancel_batch_cancels_only_never_sent_jobs(void **state)
{
    struct fixture *fx = *state;
    struct queue_ops_result r;
    struct queue_job running;
    struct queue_job pending;
    struct queue_job probe;
    struct queue_job refused;
    struct queue_job failed;
    struct queue_job unknown;
    long long reaped;

    add_jobs(fx, 1, 9);
    running = claim_one(fx, "w1");
    pending = claim_one(fx, "w1");
    record(fx, &pending, QUEUE_RESULT_PENDING);
    probe = claim_one(fx, "w1");
    record(fx, &probe, QUEUE_RESULT_RETRY);
    refused = claim_one(fx, "w1");
    record(fx, &refused, QUEUE_RESULT_NOT_EXECUTED);
    failed = claim_one(fx, "w1");
    record(fx, &failed, QUEUE_RESULT_FAILED);
    unknown = claim_one(fx, "w1");
    record(fx, &unknown, QUEUE_RESULT_COLLISION);
    reaped = reaped_job(fx);
    add_jobs(fx, 2, 2); /* another batch: untouched */

    /* Cancelled: the refused one and the two never claimed. */
    assert_int_equal(queue_ops_cancel(fx->conn, 1, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_CHANGED);
    assert_int_equal(r.batch_id, 1);
    assert_int_equal(r.jobs_cancelled, 3);
    assert_int_equal(r.jobs_left, 5);
    assert_int_equal(q(fx,
                       "select count(*) from jobs where batch_id = 1"
                       " and state = 'cancelled' and finished_at is"
                       " not null and (id = %lld or id not in"
                       " (select job_id from attempts))",
                       refused.id),
                     3);
    /* Left, with their attempts, as they were. */
    assert_int_equal(q(fx,
                       "select count(*) from jobs j join attempts a on"
                       " a.job_id = j.id where (j.id, j.state,"
                       " a.outcome) in ((%lld, 'running', 'open'),"
                       " (%lld, 'pending', 'pending'),"
                       " (%lld, 'queued', 'open'),"
                       " (%lld, 'unknown', 'unknown'),"
                       " (%lld, 'queued', 'open'),"
                       " (%lld, 'failed', 'failed'))",
                       running.id, pending.id, probe.id, unknown.id, reaped,
                       failed.id),
                     6);
    assert_int_equal(q(fx, "select count(*) from batches where id = 1 and"
                           " cancelled_at is not null and cancelled_by ="
                           " '" ACTOR "'"),
                     1);
    assert_int_equal(q(fx, "select count(*) from operator_actions where"
                           " action = 'cancel' and batch_id = 1 and actor"
                           " = '" ACTOR "' and detail = '{\"jobs_left\":"
                           " 5, \"jobs_cancelled\": 3}'"),
                     1);
    assert_int_equal(q(fx, "select count(*) from jobs where batch_id = 2"
                           " and state = 'queued'"),
                     2);

    /* Workers go on with batch 2 and never send a cancelled job. */
    assert_true(claim_count(fx, 10) >= 2);
    assert_int_equal(q(fx, "select count(*) from jobs j join attempts a on"
                           " a.job_id = j.id where j.state = 'cancelled'"
                           " and a.outcome <> 'not_executed'"),
                     0);

    /* Twice: nothing new, no second audit row. */
    assert_int_equal(queue_ops_cancel(fx->conn, 1, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_UNCHANGED);
    assert_int_equal(r.jobs_cancelled, 0);
    assert_int_equal(r.jobs_left, 5);
    assert_int_equal(audits(fx, "cancel"), 1);

    /* A job refused for a system reason comes back: swept next time. */
    record(fx, &running, QUEUE_RESULT_NOT_EXECUTED);
    assert_int_equal(queue_ops_cancel(fx->conn, 1, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_UNCHANGED);
    assert_int_equal(r.jobs_cancelled, 1);
    assert_int_equal(r.jobs_left, 4);
    assert_int_equal(audits(fx, "cancel"), 2);

    assert_int_equal(queue_ops_cancel(fx->conn, 3, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_UNCHANGED);
    assert_int_equal(audits(fx, "cancel"), 2);
    assert_int_equal(queue_ops_cancel(fx->conn, NO_JOB, ACTOR, &r),
                     PAYQ_ERR_NOT_FOUND);
}

/* The one job of batch 1 without any attempt. */
static long long fresh_job(struct fixture *fx)
{
    return q(fx, "select id from jobs where batch_id = 1 and state ="
                 " 'queued' and id not in (select job_id from attempts)");
}

static void ops_cancel_job_only_when_never_sent(void **state)
{
    struct fixture *fx = *state;
    struct queue_ops_result r;
    struct queue_job running;
    struct queue_job probe;
    struct queue_job refused;
    struct queue_job done;
    long long reaped;
    long long fresh;

    add_jobs(fx, 1, 6);
    running = claim_one(fx, "w1");
    probe = claim_one(fx, "w1");
    record(fx, &probe, QUEUE_RESULT_RETRY);
    refused = claim_one(fx, "w1");
    record(fx, &refused, QUEUE_RESULT_NOT_EXECUTED);
    done = claim_one(fx, "w1");
    record(fx, &done, QUEUE_RESULT_SUCCEEDED);
    reaped = reaped_job(fx);
    fresh = fresh_job(fx);

    assert_int_equal(queue_ops_cancel_job(fx->conn, fresh, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_CHANGED);
    assert_int_equal(r.batch_id, 1);
    assert_int_equal(r.state, JOB_STATE_QUEUED);
    assert_int_equal(q(fx,
                       "select count(*) from jobs where id = %lld and"
                       " state = 'cancelled' and finished_at is not"
                       " null",
                       fresh),
                     1);
    assert_int_equal(q(fx,
                       "select count(*) from operator_actions where"
                       " action = 'cancel_job' and job_id = %lld and"
                       " batch_id = 1 and actor = '" ACTOR "'",
                       fresh),
                     1);
    assert_int_equal(queue_ops_cancel_job(fx->conn, fresh, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_UNCHANGED);
    assert_int_equal(r.state, JOB_STATE_CANCELLED);
    assert_int_equal(audits(fx, "cancel_job"), 1);

    /* Its only attempt was refused before anything moved. */
    assert_int_equal(queue_ops_cancel_job(fx->conn, refused.id, ACTOR, &r),
                     PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_CHANGED);

    assert_int_equal(queue_ops_cancel_job(fx->conn, running.id, ACTOR, &r),
                     PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_STATE);
    assert_int_equal(r.state, JOB_STATE_RUNNING);
    assert_int_equal(queue_ops_cancel_job(fx->conn, probe.id, ACTOR, &r),
                     PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_SENT);
    assert_int_equal(r.state, JOB_STATE_QUEUED);
    /* Never recorded as sent, but its worker died mid-request. */
    assert_int_equal(queue_ops_cancel_job(fx->conn, reaped, ACTOR, &r),
                     PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_SENT);
    assert_int_equal(queue_ops_cancel_job(fx->conn, done.id, ACTOR, &r),
                     PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_STATE);
    assert_int_equal(r.state, JOB_STATE_SUCCEEDED);
    assert_int_equal(queue_ops_cancel_job(fx->conn, NO_JOB, ACTOR, &r),
                     PAYQ_ERR_NOT_FOUND);

    assert_int_equal(audits(fx, "cancel_job"), 2);
    assert_int_equal(q(fx,
                       "select count(*) from jobs j join attempts a on"
                       " a.job_id = j.id where j.state = 'queued' and"
                       " a.outcome = 'open' and j.id in (%lld, %lld)",
                       probe.id, reaped),
                     2);
}

/* Claims up to 10 jobs and returns the one with id; fails without it. */
static struct queue_job claim_find(struct fixture *fx, long long id)
{
    struct queue_claim_opts o = testclaim_opts("w1", 10);
    struct queue_job jobs[10];
    int n = 0;
    int i;

    assert_int_equal(queue_claim(fx->conn, &o, jobs, &n), PAYQ_OK);
    for (i = 0; i < n; i++)
        if (jobs[i].id == id)
            return jobs[i];
    fail_msg("job %lld was not claimed", id);
    return jobs[0];
}

static void assert_txn(const struct queue_job *job, int attempt_no)
{
    char want[48];

    snprintf(want, sizeof(want), "TEST-%lld-%d", job->id, attempt_no);
    assert_string_equal(job->txn_id, want);
    assert_int_equal(job->attempt_no, attempt_no);
    assert_false(job->resend);
}

static void ops_retry_next_claim_mints_a_new_attempt(void **state)
{
    struct fixture *fx = *state;
    struct queue_ops_result r;
    PGconn *listen = listener(fx);
    struct queue_job first;
    struct queue_job second;

    add_jobs(fx, 1, 1);
    first = claim_one(fx, "w1");
    assert_txn(&first, 1);
    record(fx, &first, QUEUE_RESULT_FAILED);
    assert_int_equal(queue_ops_retry(fx->conn, first.id, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_CHANGED);
    assert_int_equal(r.batch_id, 1);
    assert_int_equal(r.state, JOB_STATE_FAILED);
    assert_true(got_notify(listen, "1", 2000));
    assert_int_equal(q(fx,
                       "select count(*) from jobs where id = %lld and"
                       " state = 'queued' and run_at <= now() and"
                       " finished_at is null and last_code is null"
                       " and last_message is null and provider_txn_id"
                       " is null",
                       first.id),
                     1);
    /* What the failure left on the job is kept in the audit row. */
    assert_int_equal(q(fx,
                       "select count(*) from operator_actions where"
                       " action = 'retry' and job_id = %lld and"
                       " batch_id = 1 and actor = '" ACTOR "' and"
                       " detail->>'last_code' = '1002' and"
                       " detail->>'provider_txn_id' = 'P-1' and"
                       " detail->>'attempts' = '1'",
                       first.id),
                     1);

    second = claim_one(fx, "w1");
    assert_int_equal(second.id, first.id);
    assert_txn(&second, 2);
    assert_true(second.attempt_id != first.attempt_id);
    assert_int_equal(q(fx,
                       "select count(*) from attempts where job_id ="
                       " %lld and ((attempt_no = 1 and outcome ="
                       " 'failed') or (attempt_no = 2 and outcome ="
                       " 'open'))",
                       first.id),
                     2);

    /* Not again while it runs; again once it has failed again. */
    assert_int_equal(queue_ops_retry(fx->conn, first.id, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_STATE);
    assert_int_equal(r.state, JOB_STATE_RUNNING);
    record(fx, &second, QUEUE_RESULT_FAILED);
    assert_int_equal(queue_ops_retry(fx->conn, first.id, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_CHANGED);
    second = claim_one(fx, "w1");
    assert_txn(&second, 3);
    assert_int_equal(audits(fx, "retry"), 2);
    PQfinish(listen);
}

static void ops_retry_refuses_all_but_a_plain_failure(void **state)
{
    struct fixture *fx = *state;
    struct {
        long long id;
        enum queue_ops_outcome want;
        enum job_state state;
    } cases[8];
    struct queue_ops_result r;
    size_t i;

    cases[0].id = add_job_in(fx, 1, "queued");
    cases[0].want = QUEUE_OPS_REFUSED_STATE;
    cases[0].state = JOB_STATE_QUEUED;
    cases[1].id = add_job_in(fx, 1, "succeeded");
    cases[1].want = QUEUE_OPS_REFUSED_STATE;
    cases[1].state = JOB_STATE_SUCCEEDED;
    cases[2].id = add_job_in(fx, 1, "unknown");
    cases[2].want = QUEUE_OPS_REFUSED_STATE;
    cases[2].state = JOB_STATE_UNKNOWN;
    cases[3].id = add_job_in(fx, 1, "cancelled");
    cases[3].want = QUEUE_OPS_REFUSED_STATE;
    cases[3].state = JOB_STATE_CANCELLED;
    /* A callback contradicted the failure: money may have moved. */
    cases[4].id = add_job_in(fx, 1, "failed");
    cases[4].want = QUEUE_OPS_REFUSED_REVIEW;
    cases[4].state = JOB_STATE_FAILED;
    ex(fx,
       "update jobs set needs_review = true, review_reason = 'a"
       " callback said succeeded' where id = %lld",
       cases[4].id);
    cases[5].id = add_job_in(fx, 3, "failed");
    cases[5].want = QUEUE_OPS_REFUSED_CANCELLED;
    cases[5].state = JOB_STATE_FAILED;
    /* Failed, yet an attempt of it may still move money. */
    cases[6].id = add_job_in(fx, 1, "failed");
    cases[6].want = QUEUE_OPS_REFUSED_SENT;
    cases[6].state = JOB_STATE_FAILED;
    ex(fx,
       "insert into attempts (job_id, attempt_no, request_txn_id,"
       " outcome) values (%lld, 1, 'TEST-%lld-1', 'unknown')",
       cases[6].id, cases[6].id);
    cases[7].id = add_job_in(fx, 2, "failed");
    cases[7].want = QUEUE_OPS_CHANGED;
    cases[7].state = JOB_STATE_FAILED;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(queue_ops_retry(fx->conn, cases[i].id, ACTOR, &r),
                         PAYQ_OK);
        if (r.outcome != cases[i].want || r.state != cases[i].state)
            fail_msg("case %zu: outcome %d state %d", i, (int)r.outcome,
                     (int)r.state);
    }
    assert_int_equal(queue_ops_retry(fx->conn, NO_JOB, ACTOR, &r),
                     PAYQ_ERR_NOT_FOUND);
    assert_int_equal(q(fx, "select count(*) from jobs where state ="
                           " 'failed'"),
                     3);
    assert_int_equal(q(fx,
                       "select count(*) from operator_actions where"
                       " action = 'retry' and job_id = %lld",
                       cases[7].id),
                     1);
    assert_int_equal(q(fx, "select count(*) from operator_actions"), 1);
}

static void ops_resolve_settles_unknown_jobs(void **state)
{
    struct fixture *fx = *state;
    struct queue_ops_result r;
    struct queue_job clash;
    struct queue_job late;
    struct queue_job running;
    long long queued;
    int n = 0;

    add_jobs(fx, 1, 4);
    clash = claim_one(fx, "w1");
    record(fx, &clash, QUEUE_RESULT_COLLISION); /* flagged for review */
    late = claim_one(fx, "w1");
    record(fx, &late, QUEUE_RESULT_PENDING);
    ex(fx,
       "update jobs set callback_deadline = now() - interval '1 s'"
       " where id = %lld",
       late.id);
    assert_int_equal(queue_expire_pending(fx->conn, &n), PAYQ_OK);
    assert_int_equal(n, 1);
    running = claim_one(fx, "w1");
    queued = fresh_job(fx);

    assert_int_equal(queue_ops_resolve(fx->conn, clash.id, true,
                                       "MTN statement 2026-12-01 #88123", ACTOR,
                                       &r),
                     PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_CHANGED);
    assert_int_equal(r.state, JOB_STATE_UNKNOWN);
    assert_int_equal(q(fx,
                       "select count(*) from jobs j join attempts a on"
                       " a.job_id = j.id where j.id = %lld and j.state"
                       " = 'succeeded' and j.finished_at is not null"
                       " and not j.needs_review and a.outcome ="
                       " 'succeeded' and a.finished_at is not null",
                       clash.id),
                     1);
    assert_int_equal(q(fx,
                       "select count(*) from operator_actions where"
                       " action = 'resolve_succeeded' and job_id ="
                       " %lld and batch_id = 1 and actor = '" ACTOR
                       "' and evidence = 'MTN statement 2026-12-01"
                       " #88123' and detail->>'request_txn_id' ="
                       " 'TEST-%lld-1'",
                       clash.id, clash.id),
                     1);

    /* Twice: unchanged; the other way: refused. */
    assert_int_equal(
        queue_ops_resolve(fx->conn, clash.id, true, "again", ACTOR, &r),
        PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_UNCHANGED);
    assert_int_equal(
        queue_ops_resolve(fx->conn, clash.id, false, "no", ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_STATE);
    assert_int_equal(r.state, JOB_STATE_SUCCEEDED);
    assert_int_equal(audits(fx, "resolve_succeeded"), 1);

    assert_int_equal(
        queue_ops_resolve(fx->conn, running.id, true, "x", ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_STATE);
    assert_int_equal(r.state, JOB_STATE_RUNNING);
    assert_int_equal(queue_ops_resolve(fx->conn, queued, false, "x", ACTOR, &r),
                     PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_STATE);
    assert_int_equal(r.state, JOB_STATE_QUEUED);
    assert_int_equal(queue_ops_resolve(fx->conn, NO_JOB, true, "x", ACTOR, &r),
                     PAYQ_ERR_NOT_FOUND);

    /* Not paid: failed, its attempt closed, so a retry is a new id. */
    assert_int_equal(queue_ops_resolve(fx->conn, late.id, false,
                                       "not on the statement", ACTOR, &r),
                     PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_CHANGED);
    assert_int_equal(q(fx,
                       "select count(*) from jobs j join attempts a on"
                       " a.job_id = j.id where j.id = %lld and j.state"
                       " = 'failed' and a.outcome = 'failed'",
                       late.id),
                     1);
    assert_int_equal(audits(fx, "resolve_failed"), 1);
    assert_int_equal(queue_ops_retry(fx->conn, late.id, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_CHANGED);
    late = claim_find(fx, late.id);
    assert_txn(&late, 2);
}

static void ops_resolve_needs_evidence(void **state)
{
    static const char *const bad[] = {
        NULL,           "", " \t\n ", "bad \xff byte", "overlong \xc0\xaf",
        "cut \xe2\x82",
    };
    struct fixture *fx = *state;
    struct queue_ops_result r;
    char big[QUEUE_OPS_EVIDENCE_MAX + 2];
    const char *problem = NULL;
    long long id = add_job_in(fx, 1, "unknown");
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            queue_ops_resolve(fx->conn, id, true, bad[i], ACTOR, &r),
            PAYQ_ERR_DATA);
        assert_int_equal(queue_ops_evidence_check(bad[i], &problem),
                         PAYQ_ERR_DATA);
        assert_non_null(problem);
    }
    memset(big, 'x', QUEUE_OPS_EVIDENCE_MAX + 1);
    big[QUEUE_OPS_EVIDENCE_MAX + 1] = '\0';
    assert_int_equal(queue_ops_resolve(fx->conn, id, true, big, ACTOR, &r),
                     PAYQ_ERR_DATA);
    assert_int_equal(q(fx, "select count(*) from jobs where state ="
                           " 'unknown'"),
                     1);
    assert_int_equal(q(fx, "select count(*) from operator_actions"), 0);

    /* Exactly the most: 500 two-byte characters. */
    for (i = 0; i < QUEUE_OPS_EVIDENCE_MAX; i += 2)
        memcpy(big + i, "\xc3\xa9", 2);
    big[QUEUE_OPS_EVIDENCE_MAX] = '\0';
    assert_int_equal(queue_ops_resolve(fx->conn, id, false, big, ACTOR, &r),
                     PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_CHANGED);
    assert_int_equal(q(fx,
                       "select count(*) from operator_actions where"
                       " octet_length(evidence) = %d and"
                       " char_length(evidence) = %d",
                       QUEUE_OPS_EVIDENCE_MAX, QUEUE_OPS_EVIDENCE_MAX / 2),
                     1);
}

/* A worker claiming two jobs at a time until there are none. */
struct racer {
    const struct testdb *db;
    char owner[16];
    long long ids[600];
    int count;
};

static void *race_claims(void *arg)
{
    struct racer *r = arg;
    PGconn *conn = PQconnectdb(r->db->conninfo);
    struct queue_claim_opts o = testclaim_opts(r->owner, 2);
    struct queue_job jobs[2];
    int n;
    int i;

    do {
        n = 0;
        if (queue_claim(conn, &o, jobs, &n) != PAYQ_OK)
            break;
        for (i = 0; i < n && r->count < 600; i++)
            r->ids[r->count++] = jobs[i].id;
    } while (n > 0);
    PQfinish(conn);
    return NULL;
}

static void ops_cancel_racing_claims_never_both(void **state)
{
    struct fixture *fx = *state;
    struct timespec tick = { 0, 1000 * 1000 };
    struct queue_ops_result r;
    struct racer racers[3];
    pthread_t threads[3];
    long long claimed = 0;
    int i;
    int j;

    add_jobs(fx, 1, 600);
    for (i = 0; i < 3; i++) {
        memset(&racers[i], 0, sizeof(racers[i]));
        racers[i].db = &fx->db;
        snprintf(racers[i].owner, sizeof(racers[i].owner), "w%d", i);
        assert_int_equal(
            pthread_create(&threads[i], NULL, race_claims, &racers[i]), 0);
    }
    /* Cancel while the workers are busy claiming. */
    for (i = 0; i < 2000 && q(fx, "select count(*) from jobs where state"
                                  " = 'running'") < 10;
         i++)
        nanosleep(&tick, NULL);
    assert_int_equal(queue_ops_cancel(fx->conn, 1, ACTOR, &r), PAYQ_OK);
    for (i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        claimed += racers[i].count;
    }

    /* Both sides had their share: the race took place. */
    assert_true(claimed >= 10);
    assert_true(r.jobs_cancelled > 0);
    assert_int_equal(r.jobs_cancelled + claimed, 600);
    assert_int_equal(r.jobs_left, claimed);
    assert_int_equal(q(fx, "select count(*) from jobs j where state ="
                           " 'cancelled' and exists (select 1 from"
                           " attempts a where a.job_id = j.id)"),
                     0);
    assert_int_equal(q(fx, "select count(*) from jobs where state ="
                           " 'running'"),
                     claimed);
    assert_int_equal(q(fx, "select count(*) from attempts"), claimed);
    for (i = 0; i < 3; i++)
        for (j = 0; j < racers[i].count; j++)
            assert_int_equal(q(fx,
                               "select count(*) from jobs where id ="
                               " %lld and state = 'running'",
                               racers[i].ids[j]),
                             1);
}

/* The login name payq records as the actor of its commands. */
static const char *login_name(void)
{
    static char name[64];
    struct passwd *pw = getpwuid(geteuid());

    if (pw != NULL && pw->pw_name != NULL)
        snprintf(name, sizeof(name), "%s", pw->pw_name);
    else
        snprintf(name, sizeof(name), "uid %ld", (long)geteuid());
    return name;
}

/* Runs payq with args; checks its exit status and, unless NULL, that
 * needle appears on its standard output or error. */
static void expect(struct fixture *fx, int code, const char *needle,
                   const char *const *args)
{
    char url[128];
    const char *env[] = { url, NULL };
    const char *argv[12] = { proc_payq_path() };
    struct proc_result res;
    size_t i;

    snprintf(url, sizeof(url), "DATABASE_URL=%s", fx->db.conninfo);
    for (i = 0; args[i] != NULL && i + 2 < 12; i++)
        argv[i + 1] = args[i];
    proc_run(argv, env, &res);
    if (res.exit_code != code ||
        (needle != NULL && strstr(buf_str(&res.out), needle) == NULL &&
         strstr(buf_str(&res.err), needle) == NULL))
        fail_msg("payq %s %s: exit %d, want %d and \"%s\"\nstdout:\n%s\n"
                 "stderr:\n%s",
                 args[0], args[1] != NULL ? args[1] : "", res.exit_code, code,
                 needle != NULL ? needle : "", buf_str(&res.out),
                 buf_str(&res.err));
    proc_result_cleanup(&res);
}

#define EXPECT(fx, code, needle, ...)                                          \
    expect((fx), (code), (needle), (const char *const[]){ __VA_ARGS__, NULL })

static void ops_cli_batch_commands(void **state)
{
    struct fixture *fx = *state;

    add_jobs(fx, 1, 2);
    EXPECT(fx, 0, "Usage: payq pause BATCH", "pause", "--help");
    EXPECT(fx, 0, "Usage: payq resume BATCH", "resume", "--help");
    EXPECT(fx, 0, "payq cancel --job JOB", "help", "cancel");
    EXPECT(fx, 0, "resolve", "--help");

    EXPECT(fx, 0, "batch 1 paused", "pause", "1");
    EXPECT(fx, 0, "batch 1 was already paused", "pause", "1");
    EXPECT(fx, EXIT_DATA, "batch is cancelled", "pause", "3");
    EXPECT(fx, 1, "no such batch", "pause", "99");
    EXPECT(fx, EXIT_USAGE, "expected one BATCH id", "pause", "x");
    EXPECT(fx, EXIT_USAGE, NULL, "pause");
    EXPECT(fx, EXIT_USAGE, NULL, "pause", "1", "2");

    EXPECT(fx, 0, "batch 1 resumed", "resume", "1");
    EXPECT(fx, 0, "batch 1 was not paused", "resume", "1");
    EXPECT(fx, EXIT_DATA, "batch is cancelled", "resume", "4");
    EXPECT(fx, 1, "no such batch", "resume", "99");
    EXPECT(fx, EXIT_USAGE, NULL, "resume");

    EXPECT(fx, 0, "batch 1 cancelled: 2 jobs cancelled, 0 left", "cancel", "1");
    EXPECT(fx, 0, "batch 1 was already cancelled: 0 jobs cancelled", "cancel",
           "1");
    EXPECT(fx, EXIT_DATA, "batch is cancelled", "pause", "1");
    EXPECT(fx, 1, "no such batch", "cancel", "99");
    EXPECT(fx, EXIT_USAGE, NULL, "cancel");
    EXPECT(fx, EXIT_USAGE, "not both", "cancel", "1", "--job", "2");
    EXPECT(fx, EXIT_USAGE, NULL, "cancel", "--job", "x");

    assert_int_equal(q(fx,
                       "select count(*) from operator_actions where"
                       " actor = '%s' and batch_id = 1 and action in"
                       " ('pause', 'resume', 'cancel')",
                       login_name()),
                     3);
}

static void ops_cli_job_commands(void **state)
{
    struct fixture *fx = *state;
    struct queue_job running;
    struct queue_job failed;
    struct queue_job unknown;
    char run_id[24];
    char fail_id[24];
    char unk_id[24];
    char fresh_id[24];

    add_jobs(fx, 1, 4);
    running = claim_one(fx, "w1");
    failed = claim_one(fx, "w1");
    record(fx, &failed, QUEUE_RESULT_FAILED);
    unknown = claim_one(fx, "w1");
    record(fx, &unknown, QUEUE_RESULT_COLLISION);
    snprintf(run_id, sizeof(run_id), "%lld", running.id);
    snprintf(fail_id, sizeof(fail_id), "%lld", failed.id);
    snprintf(unk_id, sizeof(unk_id), "%lld", unknown.id);
    snprintf(fresh_id, sizeof(fresh_id), "%lld", fresh_job(fx));

    EXPECT(fx, 0, "Usage: payq retry JOB", "retry", "--help");
    EXPECT(fx, 0, "Usage: payq resolve JOB", "resolve", "--help");

    EXPECT(fx, 0, "cancelled", "cancel", "--job", fresh_id);
    EXPECT(fx, 0, "was already cancelled", "cancel", "--job", fresh_id);
    EXPECT(fx, EXIT_DATA, "state=running", "cancel", "--job", run_id);
    EXPECT(fx, 1, "no such job", "cancel", "--job", "999999");

    EXPECT(fx, 0, "queued again", "retry", fail_id);
    EXPECT(fx, EXIT_DATA, "state=queued", "retry", fail_id);
    EXPECT(fx, 1, "no such job", "retry", "999999");
    EXPECT(fx, EXIT_USAGE, NULL, "retry");

    EXPECT(fx, EXIT_USAGE, "--evidence", "resolve", unk_id, "--succeeded");
    EXPECT(fx, EXIT_USAGE, "--succeeded or --failed", "resolve", unk_id,
           "--evidence", "x");
    EXPECT(fx, EXIT_USAGE, NULL, "resolve", unk_id, "--succeeded", "--failed",
           "--evidence", "x");
    EXPECT(fx, EXIT_USAGE, NULL, "resolve", "--failed", "--evidence", "x");
    EXPECT(fx, EXIT_DATA, "blank", "resolve", unk_id, "--failed", "--evidence",
           "   ");
    assert_int_equal(q(fx, "select count(*) from jobs where state ="
                           " 'unknown'"),
                     1);
    EXPECT(fx, 0, "resolved as succeeded", "resolve", unk_id, "--succeeded",
           "--evidence", "statement 42");
    EXPECT(fx, 0, "is already succeeded", "resolve", "--succeeded",
           "--evidence", "statement 42", unk_id);
    EXPECT(fx, EXIT_DATA, "state=succeeded", "resolve", unk_id, "--failed",
           "--evidence", "x");
    EXPECT(fx, 1, "no such job", "resolve", "999999", "--failed", "--evidence",
           "x");

    assert_int_equal(q(fx,
                       "select count(*) from operator_actions where"
                       " actor = '%s' and ((action = 'cancel_job' and"
                       " job_id = %s) or (action = 'retry' and job_id"
                       " = %s) or (action = 'resolve_succeeded' and"
                       " job_id = %s and evidence = 'statement 42'))",
                       login_name(), fresh_id, fail_id, unk_id),
                     3);
    assert_int_equal(q(fx, "select count(*) from operator_actions"), 3);
}

/*
 * A probe refused for a system reason (credentials, float) tells nothing
 * of the earlier send, which may have paid: the job keeps its open
 * attempt, so cancel refuses it, a batch cancel leaves it, and it is
 * probed again with the same id. Retry, for failed jobs only, refuses.
 */
static void ops_cancel_refuses_probe_refused_for_system_reason(void **state)
{
    struct fixture *fx = *state;
    struct queue_ops_result r;
    struct queue_job first;
    struct queue_job probe;
    struct queue_job again;

    add_jobs(fx, 1, 1);
    first = claim_one(fx, "w1");
    record(fx, &first, QUEUE_RESULT_RETRY);
    ex(fx, "update jobs set run_at = now()");
    probe = claim_one(fx, "w1");
    assert_true(probe.live);
    record(fx, &probe, QUEUE_RESULT_NOT_EXECUTED);
    assert_int_equal(q(fx,
                       "select count(*) from jobs j join attempts a on"
                       " a.job_id = j.id where j.id = %lld and j.state"
                       " = 'queued' and a.outcome = 'open'",
                       first.id),
                     1);

    assert_int_equal(queue_ops_cancel_job(fx->conn, first.id, ACTOR, &r),
                     PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_SENT);
    assert_int_equal(queue_ops_retry(fx->conn, first.id, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.outcome, QUEUE_OPS_REFUSED_STATE);
    assert_int_equal(queue_ops_cancel(fx->conn, 1, ACTOR, &r), PAYQ_OK);
    assert_int_equal(r.jobs_cancelled, 0);
    assert_int_equal(r.jobs_left, 1);

    ex(fx, "update jobs set run_at = now()");
    again = claim_one(fx, "w1");
    assert_string_equal(again.txn_id, first.txn_id);
    assert_int_equal(q(fx,
                       "select count(*) from attempts where job_id ="
                       " %lld",
                       first.id),
                     1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(ops_pause_stops_claims_until_resumed),
        T(ops_pause_resume_refuse_cancelled_and_missing),
        T(ops_cancel_batch_cancels_only_never_sent_jobs),
        T(ops_cancel_job_only_when_never_sent),
        T(ops_cancel_refuses_probe_refused_for_system_reason),
        T(ops_retry_next_claim_mints_a_new_attempt),
        T(ops_retry_refuses_all_but_a_plain_failure),
        T(ops_resolve_settles_unknown_jobs),
        T(ops_resolve_needs_evidence),
        T(ops_cancel_racing_claims_never_both),
        T(ops_cli_batch_commands),
        T(ops_cli_job_commands),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
