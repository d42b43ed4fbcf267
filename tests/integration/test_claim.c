/*
 * Integration tests for queue/claim against a real PostgreSQL: what a
 * claim takes, the attempt it commits, every recorded outcome, guarded
 * transitions that never move a job backwards, lease takeover that probes
 * with the same id, the callback deadline, and outcomes of many jobs
 * written in one statement.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "callback/store.h"
#include "core/log.h"
#include "queue/claim.h"
#include "tests/support/claim.h"
#include "tests/support/testdb.h"

struct fixture {
    struct testdb db;
    PGconn *conn;
};

static int fx_setup(void **state)
{
    static struct fixture fx;

    log_init(2, LOG_LEVEL_ERROR);
    testdb_create_migrated(&fx.db);
    fx.conn = testdb_connect(&fx.db);
    /* Batch 1 approved, 2 held, 3 paused, 4 cancelled. */
    testdb_exec_ok(fx.conn,
                   "insert into batches (file_name, file_size, file_sha256,"
                   " kind, approved_at, approved_by, paused_at, paused_by,"
                   " cancelled_at, cancelled_by) values"
                   " ('a', 1, repeat('a', 64), 'mixed', now(), 't', null,"
                   " null, null, null),"
                   " ('b', 1, repeat('b', 64), 'pay', null, null, null,"
                   " null, null, null),"
                   " ('c', 1, repeat('c', 64), 'pay', now(), 't', now(),"
                   " 't', null, null),"
                   " ('d', 1, repeat('d', 64), 'pay', now(), 't', null,"
                   " null, now(), 't')");
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

/* Adds n pay jobs to batch, run_at spaced a second apart from the past. */
static void add_jobs(PGconn *conn, int batch, int n, const char *kind)
{
    char sql[640];

    snprintf(sql, sizeof(sql),
             "insert into jobs (batch_id, kind, phone, amount, reason,"
             " depositor_name, reference, run_at) select %d, '%s',"
             " '250788000001', 1000 + g, %s, %s, 'B%d-%s-' || g,"
             " now() - make_interval(secs => 1000 - g) from"
             " generate_series(1, %d) g",
             batch, kind, strcmp(kind, "deposit") == 0 ? "'refund'" : "null",
             strcmp(kind, "deposit") == 0 ? "'School'" : "null", batch, kind,
             n);
    testdb_exec_ok(conn, sql);
}

static long long scalar(struct fixture *fx, const char *sql)
{
    return testdb_scalar(fx->conn, sql);
}

static void claim_takes_ready_jobs_oldest_first(void **state)
{
    struct fixture *fx = *state;
    struct queue_claim_opts o = testclaim_opts("w1", 3);
    struct queue_job jobs[QUEUE_CLAIM_MAX];
    int n = -1;
    int i;

    add_jobs(fx->conn, 1, 5, "pay");
    add_jobs(fx->conn, 2, 5, "pay"); /* held */
    add_jobs(fx->conn, 3, 5, "pay"); /* paused */
    add_jobs(fx->conn, 4, 5, "pay"); /* cancelled */
    testdb_exec_ok(fx->conn, "insert into jobs (batch_id, kind, phone,"
                             " amount, reference, run_at) values (1, 'pay',"
                             " '250788000001', 5, 'future', now() +"
                             " interval '1 hour')");
    assert_int_equal(queue_claim(fx->conn, &o, jobs, &n), PAYQ_OK);
    assert_int_equal(n, 3);
    for (i = 0; i < 3; i++) {
        char want[32];

        snprintf(want, sizeof(want), "B1-pay-%d", i + 1);
        assert_string_equal(jobs[i].reference, want);
        assert_int_equal(jobs[i].attempt_no, 1);
        assert_false(jobs[i].resend);
        assert_false(jobs[i].live);
        snprintf(want, sizeof(want), "TEST-%lld-1", jobs[i].id);
        assert_string_equal(jobs[i].txn_id, want);
        assert_string_equal(jobs[i].phone, "250788000001");
    }
    o.max = 10;
    assert_int_equal(queue_claim(fx->conn, &o, jobs, &n), PAYQ_OK);
    assert_int_equal(n, 2); /* only batch 1's remaining two */
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'running' and lease_owner = 'w1' and"
                                " lease_expires_at > now()"),
                     5);
    /* The attempts are committed: another session sees them. */
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'open' and request_txn_id like"
                                " 'TEST-%-1'"),
                     5);
}

static void claim_respects_kinds(void **state)
{
    struct fixture *fx = *state;
    struct queue_claim_opts o = testclaim_opts("w1", 10);
    struct queue_job jobs[QUEUE_CLAIM_MAX];
    int n = -1;

    add_jobs(fx->conn, 1, 2, "pay");
    add_jobs(fx->conn, 1, 2, "deposit");
    o.deposit = false;
    assert_int_equal(queue_claim(fx->conn, &o, jobs, &n), PAYQ_OK);
    assert_int_equal(n, 2);
    assert_int_equal(jobs[0].kind, JOB_KIND_PAY);
    o.pay = false;
    o.deposit = true;
    assert_int_equal(queue_claim(fx->conn, &o, jobs, &n), PAYQ_OK);
    assert_int_equal(n, 2);
    assert_int_equal(jobs[1].kind, JOB_KIND_DEPOSIT);
    assert_string_equal(jobs[1].reason, "refund");
    assert_string_equal(jobs[1].depositor_name, "School");
}

struct racer {
    const struct testdb *db;
    char owner[16];
    long long ids[200];
    int count;
};

static void *race_claims(void *arg)
{
    struct racer *r = arg;
    PGconn *conn = PQconnectdb(r->db->conninfo);
    struct queue_claim_opts o = testclaim_opts(r->owner, 7);
    struct queue_job jobs[QUEUE_CLAIM_MAX];
    int n;
    int i;

    do {
        n = 0;
        if (queue_claim(conn, &o, jobs, &n) != PAYQ_OK)
            break;
        for (i = 0; i < n && r->count < 200; i++)
            r->ids[r->count++] = jobs[i].id;
    } while (n > 0);
    PQfinish(conn);
    return NULL;
}

static void claim_concurrent_workers_take_disjoint_jobs(void **state)
{
    struct fixture *fx = *state;
    struct racer racers[3];
    pthread_t threads[3];
    int total = 0;
    int i;
    int j;
    int k;

    add_jobs(fx->conn, 1, 150, "pay");
    for (i = 0; i < 3; i++) {
        memset(&racers[i], 0, sizeof(racers[i]));
        racers[i].db = &fx->db;
        snprintf(racers[i].owner, sizeof(racers[i].owner), "w%d", i);
        assert_int_equal(
            pthread_create(&threads[i], NULL, race_claims, &racers[i]), 0);
    }
    for (i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        total += racers[i].count;
    }
    assert_int_equal(total, 150);
    for (i = 0; i < 3; i++)
        for (j = 0; j < racers[i].count; j++)
            for (k = i + 1; k < 3; k++) {
                int m;

                for (m = 0; m < racers[k].count; m++)
                    assert_true(racers[i].ids[j] != racers[k].ids[m]);
            }
    assert_int_equal(scalar(fx, "select count(*) from attempts"), 150);
}

/* Claims one job of batch 1 for owner. */
static struct queue_job claim_one(struct fixture *fx, const char *owner)
{
    struct queue_claim_opts o = testclaim_opts(owner, 1);
    struct queue_job jobs[1];
    int n = 0;

    assert_int_equal(queue_claim(fx->conn, &o, jobs, &n), PAYQ_OK);
    assert_int_equal(n, 1);
    return jobs[0];
}

static enum queue_record_outcome record(struct fixture *fx, const char *owner,
                                        const struct queue_job *job,
                                        struct queue_result r)
{
    enum queue_record_outcome out;

    assert_int_equal(queue_record(fx->conn, owner, job, &r, &out), PAYQ_OK);
    return out;
}

static void claim_outcomes_move_job_and_attempt(void **state)
{
    static const struct {
        enum queue_result_kind kind;
        const char *job_state;
        const char *attempt;
    } cases[] = {
        { QUEUE_RESULT_PENDING, "pending", "pending" },
        { QUEUE_RESULT_SUCCEEDED, "succeeded", "succeeded" },
        { QUEUE_RESULT_FAILED, "failed", "failed" },
        { QUEUE_RESULT_RETRY, "queued", "open" },
        { QUEUE_RESULT_NOT_EXECUTED, "queued", "not_executed" },
        { QUEUE_RESULT_COLLISION, "unknown", "unknown" },
        /* Released before its first send: provably never sent. */
        { QUEUE_RESULT_RELEASE, "queued", "not_executed" },
    };
    struct fixture *fx = *state;
    char sql[256];
    size_t i;

    add_jobs(fx->conn, 1, 7, "pay");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct queue_job job = claim_one(fx, "w1");
        struct queue_result r = {
            .kind = cases[i].kind,
            .sent = true,
            .http_status = 200,
            .code = "1000",
            .message = "Transaction Pending",
            .provider_txn_id = "P-77",
            .body = "{\"ok\":\xff}",
            .duration_ms = 12,
            .delay_ms = 3600000,
            .callback_timeout_s = 1800,
            .max_probes = 8,
        };

        assert_int_equal(record(fx, "w1", &job, r), QUEUE_RECORDED);
        snprintf(sql, sizeof(sql),
                 "select count(*) from jobs j join attempts a on"
                 " a.job_id = j.id where j.id = %lld and j.state = '%s'"
                 " and a.outcome = '%s' and j.lease_owner is null",
                 job.id, cases[i].job_state, cases[i].attempt);
        assert_int_equal(scalar(fx, sql), 1);
    }
    /* What was sent and answered is kept; bad bytes escaped. */
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'succeeded' and send_count = 1"
                                " and http_status = 200 and provider_txn_id"
                                " = 'P-77' and response_body ="
                                " '{\"ok\":\\xff}' and duration_ms = 12"
                                " and finished_at is not null"),
                     1);
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'pending' and callback_deadline > now() +"
                                " interval '29 minutes'"),
                     1);
    assert_int_equal(scalar(fx, "select count(*) from jobs where"
                                " needs_review and state = 'unknown'"),
                     1);
}

struct late_record {
    const struct testdb *db;
    struct queue_job job;
    enum queue_record_outcome out;
    enum payq_err err;
};

static void *record_success(void *arg)
{
    struct late_record *lr = arg;
    PGconn *conn = PQconnectdb(lr->db->conninfo);
    struct queue_result r = {
        .kind = QUEUE_RESULT_SUCCEEDED,
        .sent = true,
        .http_status = 200,
        .code = "01",
        .message = "Successful",
    };

    lr->err = queue_record(conn, "w1", &lr->job, &r, &lr->out);
    PQfinish(conn);
    return NULL;
}

/* Lock waits in this test's database. */
static long long lock_waits(struct fixture *fx)
{
    return scalar(fx, "select count(*) from pg_stat_activity"
                      " where wait_event_type = 'Lock'"
                      " and datname = current_database()");
}

/*
 * A callback may touch a running job (set it aside for review) while its
 * outcome is being written: the write waits for the callback's commit
 * and then still applies, to the row as the callback left it.
 */
static void claim_outcome_applies_after_a_concurrent_change(void **state)
{
    struct fixture *fx = *state;
    PGconn *other = testdb_connect(&fx->db);
    struct late_record lr = { .db = &fx->db, .err = PAYQ_ERR_DB };
    pthread_t thread;
    char sql[256];
    int i;

    add_jobs(fx->conn, 1, 1, "pay");
    lr.job = claim_one(fx, "w1");
    testdb_exec_ok(other, "begin");
    snprintf(sql, sizeof(sql),
             "update jobs set needs_review = true, review_reason = 'flagged'"
             " where id = %lld",
             lr.job.id);
    testdb_exec_ok(other, sql);
    assert_int_equal(pthread_create(&thread, NULL, record_success, &lr), 0);
    for (i = 0; i < 500 && lock_waits(fx) == 0; i++)
        nanosleep(&(struct timespec){ 0, 10000000L }, NULL);
    assert_true(i < 500); /* the write waits for the callback's commit */
    testdb_exec_ok(other, "commit");
    assert_int_equal(pthread_join(thread, NULL), 0);
    PQfinish(other);
    assert_int_equal(lr.err, PAYQ_OK);
    assert_int_equal(lr.out, QUEUE_RECORDED);
    snprintf(sql, sizeof(sql),
             "select count(*) from jobs j join attempts a on a.job_id = j.id"
             " where j.id = %lld and j.state = 'succeeded' and j.needs_review"
             " and a.outcome = 'succeeded'",
             lr.job.id);
    assert_int_equal(scalar(fx, sql), 1);
}

static void claim_retry_probes_with_same_id(void **state)
{
    struct fixture *fx = *state;
    struct queue_result retry = {
        .kind = QUEUE_RESULT_RETRY,
        .sent = true,
        .delay_ms = 0,
        .max_probes = 2,
    };
    struct queue_job first;
    struct queue_job again;

    add_jobs(fx->conn, 1, 1, "pay");
    first = claim_one(fx, "w1");
    assert_int_equal(record(fx, "w1", &first, retry), QUEUE_RECORDED);
    again = claim_one(fx, "w2");
    assert_string_equal(again.txn_id, first.txn_id);
    assert_int_equal(again.attempt_id, first.attempt_id);
    assert_true(again.resend);
    assert_int_equal(again.probe_count, 1);
    assert_int_equal(record(fx, "w2", &again, retry), QUEUE_RECORDED);
    again = claim_one(fx, "w1");
    /* The third ambiguous answer passes max_probes: unknown, not a new id. */
    assert_int_equal(record(fx, "w1", &again, retry), QUEUE_RECORDED_UNKNOWN);
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'unknown'"),
                     1);
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'unknown' and send_count = 3"),
                     1);
    assert_int_equal(scalar(fx, "select count(*) from attempts"), 1);
}

static void claim_not_sent_does_not_count_as_probe(void **state)
{
    struct fixture *fx = *state;
    struct queue_result not_sent = {
        .kind = QUEUE_RESULT_RETRY,
        .sent = false,
        .max_probes = 1,
    };
    struct queue_job job;
    int i;

    add_jobs(fx->conn, 1, 1, "pay");
    for (i = 0; i < 4; i++) {
        job = claim_one(fx, "w1");
        assert_int_equal(record(fx, "w1", &job, not_sent), QUEUE_RECORDED);
    }
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'open' and send_count = 0"),
                     1);
    assert_int_equal(scalar(fx, "select probe_count from jobs"), 0);
    /* Counted, so that the backoff grows and payq status shows it. */
    job = claim_one(fx, "w1");
    assert_false(job.live);
    assert_int_equal(job.unsent_count, 4);
    assert_int_equal(scalar(fx, "select unsent_count from attempts"), 4);
}

/* An answer, any answer, ends the streak of tries that never left. */
static void claim_answer_resets_unsent_count(void **state)
{
    struct fixture *fx = *state;
    struct queue_result not_sent = { .kind = QUEUE_RESULT_RETRY,
                                     .max_probes = 8 };
    struct queue_result ambiguous = { .kind = QUEUE_RESULT_RETRY,
                                      .sent = true,
                                      .max_probes = 8 };
    struct queue_job job;

    add_jobs(fx->conn, 1, 1, "pay");
    job = claim_one(fx, "w1");
    assert_int_equal(record(fx, "w1", &job, not_sent), QUEUE_RECORDED);
    job = claim_one(fx, "w1");
    assert_int_equal(record(fx, "w1", &job, not_sent), QUEUE_RECORDED);
    job = claim_one(fx, "w1");
    assert_int_equal(job.unsent_count, 2);
    assert_int_equal(record(fx, "w1", &job, ambiguous), QUEUE_RECORDED);
    job = claim_one(fx, "w1");
    assert_int_equal(job.unsent_count, 0);
    assert_int_equal(job.probe_count, 1);
    assert_true(job.live);
}

/*
 * Once an earlier send may have arrived, a try that cannot reach the
 * provider still uses up a probe (counts_as_probe): after the most
 * probes the job is unknown, never resent forever, never a new id.
 */
static void claim_unsent_probe_of_live_id_gives_up(void **state)
{
    struct fixture *fx = *state;
    struct queue_result ambiguous = { .kind = QUEUE_RESULT_RETRY,
                                      .sent = true,
                                      .max_probes = 2 };
    struct queue_result unsent_probe = { .kind = QUEUE_RESULT_RETRY,
                                         .counts_as_probe = true,
                                         .max_probes = 2 };
    struct queue_job job;

    add_jobs(fx->conn, 1, 1, "pay");
    job = claim_one(fx, "w1");
    assert_int_equal(record(fx, "w1", &job, ambiguous), QUEUE_RECORDED);
    job = claim_one(fx, "w1");
    assert_true(job.live);
    assert_int_equal(record(fx, "w1", &job, unsent_probe), QUEUE_RECORDED);
    job = claim_one(fx, "w1");
    assert_int_equal(job.probe_count, 2);
    assert_int_equal(record(fx, "w1", &job, unsent_probe),
                     QUEUE_RECORDED_UNKNOWN);
    assert_int_equal(scalar(fx, "select count(*) from jobs j join attempts"
                                " a on a.job_id = j.id where j.state ="
                                " 'unknown' and a.outcome = 'unknown'"
                                " and a.send_count = 1"),
                     1);
    assert_int_equal(scalar(fx, "select count(*) from attempts"), 1);
}

/*
 * The money-safety rule for systemic answers: one to a probe says
 * nothing about the earlier send of the id, which may have executed. The
 * attempt stays open, the job goes back to the queue, and the next claim
 * probes the SAME id; no probe is used up. Payq cancel then refuses the
 * job, and a cancelled batch still probes it.
 */
static void claim_systemic_answer_to_probe_keeps_id(void **state)
{
    struct fixture *fx = *state;
    struct queue_result ambiguous = { .kind = QUEUE_RESULT_RETRY,
                                      .sent = true,
                                      .max_probes = 8 };
    struct queue_result refused = {
        .kind = QUEUE_RESULT_NOT_EXECUTED,
        .sent = true,
        .http_status = 401,
        .code = "0005",
        .message = "Invalid Password",
    };
    struct queue_claim_opts o = testclaim_opts("w3", 4);
    struct queue_job jobs[4];
    struct queue_job first;
    struct queue_job probe;
    struct queue_job again;
    int n = 0;

    add_jobs(fx->conn, 1, 1, "pay");
    first = claim_one(fx, "w1");
    assert_int_equal(record(fx, "w1", &first, ambiguous), QUEUE_RECORDED);
    probe = claim_one(fx, "w2");
    assert_true(probe.resend);
    assert_true(probe.live);
    assert_int_equal(record(fx, "w2", &probe, refused), QUEUE_RECORDED);
    assert_int_equal(scalar(fx, "select count(*) from jobs j join attempts"
                                " a on a.job_id = j.id where j.state ="
                                " 'queued' and a.outcome = 'open' and"
                                " a.send_count = 2 and a.finished_at is null"
                                " and a.response_code = '0005'"
                                " and j.probe_count = 1"),
                     1);
    testdb_exec_ok(fx->conn, "update jobs set run_at = now()");
    again = claim_one(fx, "w3");
    assert_string_equal(again.txn_id, first.txn_id);
    assert_int_equal(again.attempt_id, first.attempt_id);
    assert_int_equal(again.attempt_no, 1);
    assert_true(again.live);
    assert_int_equal(scalar(fx, "select count(*) from attempts"), 1);
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'not_executed'"),
                     0);

    /* In a cancelled batch the probe still goes, same id. */
    assert_int_equal(record(fx, "w3", &again, refused), QUEUE_RECORDED);
    testdb_exec_ok(fx->conn, "update batches set cancelled_at = now(),"
                             " cancelled_by = 't' where id = 1");
    testdb_exec_ok(fx->conn, "update jobs set run_at = now()");
    assert_int_equal(queue_claim(fx->conn, &o, jobs, &n), PAYQ_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0].txn_id, first.txn_id);
}

/* A released probe stays open too; a first send refused is closed. */
static void claim_systemic_answer_to_first_send_closes_it(void **state)
{
    struct fixture *fx = *state;
    struct queue_result refused = { .kind = QUEUE_RESULT_NOT_EXECUTED,
                                    .sent = true,
                                    .code = "1005" };
    struct queue_job job;

    add_jobs(fx->conn, 1, 1, "deposit");
    job = claim_one(fx, "w1");
    assert_false(job.resend);
    assert_int_equal(record(fx, "w1", &job, refused), QUEUE_RECORDED);
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'not_executed' and send_count = 1"
                                " and finished_at is not null"),
                     1);
    testdb_exec_ok(fx->conn, "update jobs set run_at = now()");
    job = claim_one(fx, "w1");
    assert_int_equal(job.attempt_no, 2);
    assert_false(job.live);
}

static void claim_not_executed_then_new_id(void **state)
{
    struct fixture *fx = *state;
    struct queue_result refused = {
        .kind = QUEUE_RESULT_NOT_EXECUTED,
        .sent = true,
        .code = "0005",
    };
    struct queue_job first;
    struct queue_job second;

    add_jobs(fx->conn, 1, 1, "pay");
    first = claim_one(fx, "w1");
    assert_int_equal(record(fx, "w1", &first, refused), QUEUE_RECORDED);
    second = claim_one(fx, "w1");
    assert_int_equal(second.attempt_no, 2);
    assert_false(second.resend);
    assert_string_not_equal(second.txn_id, first.txn_id);
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'not_executed'"),
                     1);
}

static void claim_never_moves_a_final_state_back(void **state)
{
    struct fixture *fx = *state;
    struct queue_result pending = {
        .kind = QUEUE_RESULT_PENDING,
        .sent = true,
        .code = "1000",
        .callback_timeout_s = 60,
    };
    struct queue_job job;

    add_jobs(fx->conn, 1, 1, "pay");
    job = claim_one(fx, "w1");
    /* The callback got there before the initiation answer was written. */
    testdb_exec_ok(fx->conn, "update jobs set state = 'succeeded',"
                             " finished_at = now(), lease_owner = null,"
                             " lease_expires_at = null");
    testdb_exec_ok(fx->conn, "update attempts set outcome = 'succeeded'");
    assert_int_equal(record(fx, "w1", &job, pending), QUEUE_RECORD_LOST);
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'succeeded'"),
                     1);
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'succeeded'"),
                     1);
}

static void claim_expired_lease_is_taken_over_and_probed(void **state)
{
    struct fixture *fx = *state;
    struct queue_result ok = { .kind = QUEUE_RESULT_SUCCEEDED, .sent = true };
    struct queue_job dead;
    struct queue_job heir;
    int n = -1;

    add_jobs(fx->conn, 1, 1, "pay");
    dead = claim_one(fx, "dead-worker");
    assert_int_equal(queue_reap_expired(fx->conn, &n), PAYQ_OK);
    assert_int_equal(n, 0); /* the lease is still good */
    testdb_exec_ok(fx->conn, "update jobs set lease_expires_at = now() -"
                             " interval '1 second'");
    assert_int_equal(queue_reap_expired(fx->conn, &n), PAYQ_OK);
    assert_int_equal(n, 1);
    heir = claim_one(fx, "heir");
    assert_string_equal(heir.txn_id, dead.txn_id);
    assert_true(heir.resend);
    /* The dead worker may have sent it: a probe, and it counts. */
    assert_true(heir.live);
    assert_int_equal(heir.probe_count, 1);
    /* The dead worker's late write is refused; the heir's applies. */
    assert_int_equal(record(fx, "dead-worker", &dead, ok), QUEUE_RECORD_LOST);
    assert_int_equal(record(fx, "heir", &heir, ok), QUEUE_RECORDED);
    assert_int_equal(scalar(fx, "select count(*) from attempts"), 1);
}

/*
 * The reaper neither waits for nor deadlocks with a writer that holds an
 * expired job (a recorder writing its outcome): it leaves that job for
 * its next round and takes the others.
 */
static void claim_reaper_skips_jobs_others_hold(void **state)
{
    struct fixture *fx = *state;
    PGconn *other = testdb_connect(&fx->db);
    struct queue_job held;
    char sql[160];
    int n = -1;

    add_jobs(fx->conn, 1, 2, "pay");
    held = claim_one(fx, "w1");
    (void)claim_one(fx, "w1");
    testdb_exec_ok(fx->conn, "update jobs set lease_expires_at = now() -"
                             " interval '1 second'");
    testdb_exec_ok(other, "begin");
    snprintf(sql, sizeof(sql), "select 1 from jobs where id = %lld for update",
             held.id);
    testdb_exec_ok(other, sql);
    testdb_exec_ok(fx->conn, "set lock_timeout = '2s'");
    assert_int_equal(queue_reap_expired(fx->conn, &n), PAYQ_OK);
    assert_int_equal(n, 1);
    testdb_exec_ok(other, "rollback");
    assert_int_equal(queue_reap_expired(fx->conn, &n), PAYQ_OK);
    assert_int_equal(n, 1);
    testdb_exec_ok(fx->conn, "reset lock_timeout");
    assert_int_equal(scalar(fx, "select count(*) from jobs"
                                " where state = 'queued'"),
                     2);
    PQfinish(other);
}

static void claim_pending_without_callback_becomes_unknown(void **state)
{
    struct fixture *fx = *state;
    struct queue_result pending = {
        .kind = QUEUE_RESULT_PENDING,
        .sent = true,
        .code = "1000",
        .callback_timeout_s = 3600,
    };
    struct queue_job job;
    int n = -1;

    add_jobs(fx->conn, 1, 1, "pay");
    job = claim_one(fx, "w1");
    assert_int_equal(record(fx, "w1", &job, pending), QUEUE_RECORDED);
    assert_int_equal(queue_expire_pending(fx->conn, &n), PAYQ_OK);
    assert_int_equal(n, 0);
    testdb_exec_ok(fx->conn, "update jobs set callback_deadline = now() -"
                             " interval '1 second'");
    assert_int_equal(queue_expire_pending(fx->conn, &n), PAYQ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(scalar(fx, "select count(*) from jobs j join attempts"
                                " a on a.job_id = j.id where j.state ="
                                " 'unknown' and a.outcome = 'unknown'"),
                     1);
}

/* Only an attempt this claim made is closed on release; a probe's stays
 * open, as it may have been sent by an earlier claim. */
static void claim_release_closes_only_fresh_attempts(void **state)
{
    struct fixture *fx = *state;
    struct queue_result release = { .kind = QUEUE_RESULT_RELEASE };
    struct queue_result retry = { .kind = QUEUE_RESULT_RETRY,
                                  .sent = true,
                                  .max_probes = 5 };
    struct queue_job job;
    char first_txn[QUEUE_TXN_ID_MAX + 1];

    add_jobs(fx->conn, 1, 1, "pay");
    job = claim_one(fx, "w");
    assert_false(job.resend);
    snprintf(first_txn, sizeof(first_txn), "%s", job.txn_id);
    assert_int_equal(record(fx, "w", &job, release), QUEUE_RECORDED);
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'not_executed' and send_count"
                                " = 0 and finished_at is not null"),
                     1);
    job = claim_one(fx, "w");
    assert_false(job.resend);
    assert_int_equal(job.attempt_no, 2);
    assert_string_not_equal(job.txn_id, first_txn);
    assert_int_equal(record(fx, "w", &job, retry), QUEUE_RECORDED);
    testdb_exec_ok(fx->conn, "update jobs set run_at = now()");
    job = claim_one(fx, "w");
    assert_true(job.resend);
    assert_int_equal(record(fx, "w", &job, release), QUEUE_RECORDED);
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'open' and attempt_no = 2"),
                     1);
    job = claim_one(fx, "w");
    assert_true(job.resend);
    assert_int_equal(job.attempt_no, 2);
}

/* A cancelled batch sends nothing new, but its open attempts are still
 * probed: the money may have moved and only a probe can tell. */
static void claim_cancelled_batch_only_probes(void **state)
{
    struct fixture *fx = *state;
    struct queue_claim_opts o = testclaim_opts("w", 8);
    struct queue_job jobs[8];
    int n = -1;

    add_jobs(fx->conn, 4, 2, "pay"); /* batch 4 is cancelled */
    assert_int_equal(queue_claim(fx->conn, &o, jobs, &n), PAYQ_OK);
    assert_int_equal(n, 0);
    testdb_exec_ok(fx->conn, "insert into attempts (job_id, attempt_no,"
                             " request_txn_id) select min(id), 1, 'X-' ||"
                             " min(id) || '-1' from jobs");
    assert_int_equal(queue_claim(fx->conn, &o, jobs, &n), PAYQ_OK);
    assert_int_equal(n, 1);
    assert_true(jobs[0].resend);
    assert_int_equal(strncmp(jobs[0].txn_id, "X-", 2), 0);
}

enum { RACE_JOBS = 240, RACE_BATCH = 16 };

/* Both sides of the race over the same claimed jobs. */
struct race {
    const struct testdb *db;
    struct queue_job jobs[RACE_JOBS];
    pthread_barrier_t start;
    int batch; /* outcomes per worker statement */
    int lost;  /* worker writes that found the callback first */
};

/*
 * The worker's side: what each send answered, recorded r->batch jobs per
 * statement as the recorder does (one at a time when 1). Thirds: pending
 * (accepted), succeeded (a payout's 01), no clear answer (a probe later).
 */
static void *race_worker(void *arg)
{
    static const enum queue_result_kind kinds[] = {
        QUEUE_RESULT_PENDING,
        QUEUE_RESULT_SUCCEEDED,
        QUEUE_RESULT_RETRY,
    };
    struct race *r = arg;
    PGconn *conn = PQconnectdb(r->db->conninfo);
    struct queue_result res[RACE_BATCH];
    struct queue_record_item items[RACE_BATCH];
    enum queue_record_outcome outs[RACE_BATCH];
    int i;
    int k;

    pthread_barrier_wait(&r->start);
    for (i = 0; i < RACE_JOBS; i += r->batch) {
        for (k = 0; k < r->batch; k++) {
            struct queue_result one = {
                .kind = kinds[(i + k) % 3],
                .sent = true,
                .http_status = 200,
                .code = (i + k) % 3 == 1 ? "01" : "1000",
                .callback_timeout_s = 600,
                .max_probes = 8,
                .delay_ms = 600000,
            };

            res[k] = one;
            items[k].owner = "w1";
            items[k].job = &r->jobs[i + k];
            items[k].res = &res[k];
        }
        assert_int_equal(queue_record_batch(conn, items, r->batch, outs),
                         PAYQ_OK);
        for (k = 0; k < r->batch; k++)
            r->lost += outs[k] == QUEUE_RECORD_LOST;
    }
    PQfinish(conn);
    return NULL;
}

/*
 * The receiver's side at the same moment, newest jobs first so the two
 * meet in the middle: a final callback for every job, a success, or for
 * every sixth (all accepted ones) a failure (1002), in batches as the
 * receiver commits them.
 */
static void *race_callbacks(void *arg)
{
    struct race *r = arg;
    PGconn *conn = PQconnectdb(r->db->conninfo);
    struct callback_item items[RACE_BATCH];
    int i;
    int n = 0;

    pthread_barrier_wait(&r->start);
    for (i = RACE_JOBS - 1; i >= 0; i--) {
        bool fail = i % 6 == 0;
        struct callback_item it = {
            .endpoint = "pay",
            .body = "{}",
            .body_len = 2,
            .source = "127.0.0.1",
            .txn_id = r->jobs[i].txn_id,
            .body_txn_id = r->jobs[i].txn_id,
            .provider_txn_id = "P-1",
            .status = fail ? "Failed" : "Successfull",
            .code = fail ? "1002" : "01",
            .verdict = fail ? "failure" : "success",
        };

        items[n++] = it;
        if (n == RACE_BATCH || i == 0) {
            assert_int_equal(callback_store_batch(conn, items, n), PAYQ_OK);
            n = 0;
        }
    }
    PQfinish(conn);
    return NULL;
}

/* Every change of a job's state, for the race test to inspect. */
static void log_transitions(PGconn *conn)
{
    testdb_exec_ok(conn, "create table transitions (job_id bigint,"
                         " old_state text, new_state text)");
    testdb_exec_ok(conn, "create function log_transition() returns trigger"
                         " language plpgsql as $$ begin insert into"
                         " transitions values (new.id, old.state,"
                         " new.state); return new; end $$");
    testdb_exec_ok(conn, "create trigger jobs_log_transition after update"
                         " on jobs for each row when (old.state is distinct"
                         " from new.state) execute function"
                         " log_transition()");
}

/*
 * Worker writes and callback application at once, over many jobs: each
 * side locks the job row, re-reads and changes it only by a guarded
 * transition, so whoever comes second sees what the first did. The
 * callback's final word wins every time, nothing is applied twice, and
 * no state ever moves backwards. batch: outcomes per worker statement.
 */
static void race_worker_and_callbacks(struct fixture *fx, int batch)
{
    struct queue_claim_opts o = testclaim_opts("w1", QUEUE_CLAIM_MAX);
    struct race *r = calloc(1, sizeof(*r));
    pthread_t threads[2];
    int got = 0;
    int n = 0;

    assert_non_null(r);
    r->db = &fx->db;
    r->batch = batch;
    add_jobs(fx->conn, 1, RACE_JOBS, "pay");
    testdb_exec_ok(fx->conn, "update jobs set reference = 'R-' || id,"
                             " amount = 1000");
    while (got < RACE_JOBS) {
        assert_int_equal(queue_claim(fx->conn, &o, r->jobs + got, &n), PAYQ_OK);
        assert_true(n > 0);
        got += n;
    }
    log_transitions(fx->conn);
    assert_int_equal(pthread_barrier_init(&r->start, NULL, 2), 0);
    assert_int_equal(pthread_create(&threads[0], NULL, race_worker, r), 0);
    assert_int_equal(pthread_create(&threads[1], NULL, race_callbacks, r), 0);
    assert_int_equal(pthread_join(threads[0], NULL), 0);
    assert_int_equal(pthread_join(threads[1], NULL), 0);
    pthread_barrier_destroy(&r->start);
    /* Both orders happened: it was a race, not two runs in turn. */
    print_message("worker writes after the callback: %d of %d\n", r->lost,
                  RACE_JOBS);
    assert_in_range(r->lost, 1, RACE_JOBS - 1);

    /* The callbacks decide; each applied once, none conflicting. */
    assert_int_equal(scalar(fx, "select count(*) from jobs j join attempts"
                                " a on a.job_id = j.id where j.state ="
                                " a.outcome and j.lease_owner is null and"
                                " j.state = case when j.last_code = '1002'"
                                " then 'failed' else 'succeeded' end"),
                     RACE_JOBS);
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'failed'"),
                     RACE_JOBS / 6);
    /* A duplicate only where the worker's own 01 came first. */
    assert_int_equal(scalar(fx, "select count(*) from callbacks"
                                " where effect in ('applied', 'duplicate')"),
                     RACE_JOBS);
    assert_int_equal(scalar(fx, "select count(*) from callbacks c where"
                                " c.effect = 'duplicate' and (c.job_id -"
                                " (select min(id) from jobs)) % 3 <> 1"),
                     0);
    /* No state moved backwards; nothing left a final state. */
    assert_int_equal(scalar(fx, "select count(*) from transitions where"
                                " old_state in ('succeeded', 'failed',"
                                " 'cancelled') or (old_state = 'pending'"
                                " and new_state in ('queued', 'running'))"),
                     0);
    assert_true(scalar(fx, "select count(*) from transitions") >= RACE_JOBS);
    free(r);
}

static void claim_worker_and_callbacks_race_safely(void **state)
{
    race_worker_and_callbacks(*state, 1);
}

/*
 * The same race with the worker's outcomes written 16 per statement, as
 * the recorder writes them: both sides lock many jobs at once, in job id
 * order, so neither deadlocks, and each job's guard still holds alone.
 */
static void claim_batched_records_and_callbacks_race_safely(void **state)
{
    race_worker_and_callbacks(*state, RACE_BATCH);
}

/* Claims n jobs of batch 1 for owner, in one claim. */
static void claim_n(struct fixture *fx, const char *owner, int n,
                    struct queue_job *jobs)
{
    struct queue_claim_opts o = testclaim_opts(owner, n);
    int got = 0;

    assert_int_equal(queue_claim(fx->conn, &o, jobs, &got), PAYQ_OK);
    assert_int_equal(got, n);
}

/* Writes res[i] for jobs[i], all under owner, in one statement. */
static void record_all(struct fixture *fx, const char *owner,
                       const struct queue_job *jobs,
                       const struct queue_result *res, int n,
                       enum queue_record_outcome *outs)
{
    struct queue_record_item items[8];
    int i;

    assert_true(n <= 8);
    for (i = 0; i < n; i++) {
        items[i].owner = owner;
        items[i].job = &jobs[i];
        items[i].res = &res[i];
    }
    assert_int_equal(queue_record_batch(fx->conn, items, n, outs), PAYQ_OK);
}

/* The job's state and its attempt's outcome, as "state/outcome". */
static void job_and_attempt(struct fixture *fx, const struct queue_job *job,
                            char *out, size_t size)
{
    char sql[256];
    PGresult *res;

    snprintf(sql, sizeof(sql),
             "select j.state || '/' || a.outcome from jobs j join attempts"
             " a on a.job_id = j.id where j.id = %lld and a.id = %lld",
             job->id, job->attempt_id);
    res = PQexec(fx->conn, sql);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), 1);
    snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

/*
 * One statement writes every kind of outcome for many jobs, each as
 * queue_record() writes it alone, all in one transaction: every row it
 * changed carries the same transaction id (xmin).
 */
static void claim_batch_records_many_jobs_in_one_transaction(void **state)
{
    static const struct {
        enum queue_result_kind kind;
        const char *want;
    } cases[] = {
        { QUEUE_RESULT_PENDING, "pending/pending" },
        { QUEUE_RESULT_SUCCEEDED, "succeeded/succeeded" },
        { QUEUE_RESULT_FAILED, "failed/failed" },
        { QUEUE_RESULT_RETRY, "queued/open" },
        { QUEUE_RESULT_NOT_EXECUTED, "queued/not_executed" },
        { QUEUE_RESULT_COLLISION, "unknown/unknown" },
        { QUEUE_RESULT_RELEASE, "queued/not_executed" },
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    struct fixture *fx = *state;
    struct queue_job jobs[N];
    struct queue_result res[N];
    enum queue_record_outcome outs[N];
    char got[64];
    size_t i;

    add_jobs(fx->conn, 1, N, "pay");
    claim_n(fx, "w1", N, jobs);
    for (i = 0; i < N; i++) {
        struct queue_result r = {
            .kind = cases[i].kind,
            .sent = true,
            .http_status = 200,
            .code = "1000",
            .message = "Transaction Pending",
            .provider_txn_id = "P-9",
            .body = "{\"ok\":\xff}",
            .duration_ms = 7,
            .delay_ms = 3600000,
            .callback_timeout_s = 1800,
            .max_probes = 8,
        };

        res[i] = r;
    }
    record_all(fx, "w1", jobs, res, N, outs);
    for (i = 0; i < N; i++) {
        assert_int_equal(outs[i], QUEUE_RECORDED);
        job_and_attempt(fx, &jobs[i], got, sizeof(got));
        assert_string_equal(got, cases[i].want);
    }
    assert_int_equal(scalar(fx, "select count(*) from jobs where"
                                " lease_owner is null and state <>"
                                " 'running'"),
                     N);
    /* One transaction: jobs and attempts alike. */
    assert_int_equal(scalar(fx, "select count(distinct x) from (select"
                                " xmin::text x from jobs union all select"
                                " xmin::text from attempts where outcome"
                                " <> 'open' or send_count > 0) t"),
                     1);
    /* What was answered is kept; bad bytes escaped. */
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " response_body = '{\"ok\":\\xff}'"
                                " and duration_ms = 7 and provider_txn_id"
                                " = 'P-9'"),
                     N);
}

/*
 * Each job in a batch is guarded on its own: a job a callback settled
 * first, or another worker took over after its lease expired, is left
 * alone (its attempt too), and the others of the same statement apply.
 */
static void claim_batch_guards_each_job(void **state)
{
    struct fixture *fx = *state;
    struct queue_job jobs[4];
    struct queue_job heir;
    struct queue_result res[4];
    enum queue_record_outcome outs[4];
    char got[64];
    int i;

    add_jobs(fx->conn, 1, 4, "deposit");
    claim_n(fx, "w1", 4, jobs);
    /* Job 1: its callback came first. Job 2: taken over by "heir". */
    testdb_exec_ok(fx->conn, "update jobs set state = 'succeeded',"
                             " finished_at = now(), lease_owner = null,"
                             " lease_expires_at = null where id ="
                             " (select min(id) + 1 from jobs)");
    testdb_exec_ok(fx->conn, "update attempts set outcome = 'succeeded'"
                             " where job_id = (select min(id) + 1 from"
                             " jobs)");
    testdb_exec_ok(fx->conn, "update jobs set lease_expires_at = now() -"
                             " interval '1 second' where id = (select"
                             " min(id) + 2 from jobs)");
    assert_int_equal(queue_reap_expired(fx->conn, &i), PAYQ_OK);
    assert_int_equal(i, 1);
    heir = claim_one(fx, "heir");
    assert_int_equal(heir.id, jobs[2].id);
    for (i = 0; i < 4; i++) {
        struct queue_result r = { .kind = QUEUE_RESULT_FAILED,
                                  .sent = true,
                                  .code = "1002",
                                  .message = "declined" };

        res[i] = r;
    }
    record_all(fx, "w1", jobs, res, 4, outs);
    assert_int_equal(outs[0], QUEUE_RECORDED);
    assert_int_equal(outs[1], QUEUE_RECORD_LOST);
    assert_int_equal(outs[2], QUEUE_RECORD_LOST);
    assert_int_equal(outs[3], QUEUE_RECORDED);
    job_and_attempt(fx, &jobs[0], got, sizeof(got));
    assert_string_equal(got, "failed/failed");
    job_and_attempt(fx, &jobs[1], got, sizeof(got));
    assert_string_equal(got, "succeeded/succeeded"); /* not backwards */
    job_and_attempt(fx, &jobs[2], got, sizeof(got));
    assert_string_equal(got, "running/open"); /* the heir's now */
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'running' and lease_owner = 'heir'"),
                     1);
    job_and_attempt(fx, &jobs[3], got, sizeof(got));
    assert_string_equal(got, "failed/failed");
}

/* A batch that names a job twice, or is out of bounds, writes nothing. */
static void claim_batch_refuses_a_job_twice(void **state)
{
    struct fixture *fx = *state;
    struct queue_job jobs[2];
    struct queue_result ok = { .kind = QUEUE_RESULT_SUCCEEDED, .sent = true };
    struct queue_record_item items[2] = {
        { .owner = "w1", .job = &jobs[0], .res = &ok },
        { .owner = "w1", .job = &jobs[0], .res = &ok },
    };
    enum queue_record_outcome outs[2];

    add_jobs(fx->conn, 1, 2, "pay");
    claim_n(fx, "w1", 2, jobs);
    assert_int_equal(queue_record_batch(fx->conn, items, 2, outs),
                     PAYQ_ERR_USAGE);
    assert_int_equal(outs[0], QUEUE_RECORD_LOST);
    assert_int_equal(queue_record_batch(fx->conn, items, 0, outs),
                     PAYQ_ERR_USAGE);
    assert_int_equal(scalar(fx, "select count(*) from jobs where state ="
                                " 'running'"),
                     2);
}

/*
 * What a process that dies between its sends and the write of their
 * outcomes leaves behind: jobs running under its lease, attempts open.
 * Once the lease expires another worker probes each with the SAME id
 * (live: the dead one may have sent it), and the dead one's late write,
 * should it ever come, changes nothing.
 */
static void claim_unwritten_outcomes_are_probed_same_id(void **state)
{
    struct fixture *fx = *state;
    struct queue_job dead[3];
    struct queue_job heir[3];
    struct queue_result ok[3] = {
        { .kind = QUEUE_RESULT_SUCCEEDED, .sent = true },
        { .kind = QUEUE_RESULT_SUCCEEDED, .sent = true },
        { .kind = QUEUE_RESULT_SUCCEEDED, .sent = true },
    };
    enum queue_record_outcome outs[3];
    int n = 0;
    int i;

    add_jobs(fx->conn, 1, 3, "deposit");
    claim_n(fx, "dead", 3, dead);
    /* ... sent, answered, and the process died before the write. */
    testdb_exec_ok(fx->conn, "update jobs set lease_expires_at = now() -"
                             " interval '1 second'");
    assert_int_equal(queue_reap_expired(fx->conn, &n), PAYQ_OK);
    assert_int_equal(n, 3);
    claim_n(fx, "heir", 3, heir);
    for (i = 0; i < 3; i++) {
        assert_int_equal(heir[i].id, dead[i].id);
        assert_string_equal(heir[i].txn_id, dead[i].txn_id);
        assert_int_equal(heir[i].attempt_id, dead[i].attempt_id);
        assert_true(heir[i].resend);
        assert_true(heir[i].live);
        assert_int_equal(heir[i].probe_count, 1);
    }
    record_all(fx, "dead", dead, ok, 3, outs);
    for (i = 0; i < 3; i++)
        assert_int_equal(outs[i], QUEUE_RECORD_LOST);
    assert_int_equal(scalar(fx, "select count(*) from attempts where"
                                " outcome = 'open' and send_count = 0"),
                     3);
    record_all(fx, "heir", heir, ok, 3, outs);
    for (i = 0; i < 3; i++)
        assert_int_equal(outs[i], QUEUE_RECORDED);
    assert_int_equal(scalar(fx, "select count(*) from jobs j join attempts"
                                " a on a.job_id = j.id where j.state ="
                                " 'succeeded' and a.outcome = 'succeeded'"),
                     3);
    assert_int_equal(scalar(fx, "select count(*) from attempts"), 3);
}

/* The index counters of jobs, after this session's last statement. */
static long long index_reads(struct fixture *fx, const char *index)
{
    char sql[256];

    /* Statistics reach the shared counters when a transaction ends. */
    testdb_exec_ok(fx->conn, "select pg_stat_force_next_flush()");
    testdb_exec_ok(fx->conn, "select 1");
    snprintf(sql, sizeof(sql),
             "select coalesce(sum(idx_tup_read), 0) from"
             " pg_stat_user_indexes where indexrelname = '%s'",
             index);
    testdb_exec_ok(fx->conn, "select pg_stat_clear_snapshot()");
    return scalar(fx, sql);
}

/*
 * A claim's cost follows the jobs it takes, not the depth of the queue:
 * it walks jobs_claim_idx in (run_at, id) order and stops after them,
 * never reading the queue whole through jobs_batch_state_idx.
 */
static void claim_reads_only_the_jobs_it_takes(void **state)
{
    struct fixture *fx = *state;
    struct queue_claim_opts o = testclaim_opts("w1", 4);
    struct queue_job jobs[4];
    long long claim_before;
    long long batch_before;
    int n = 0;

    add_jobs(fx->conn, 1, 3000, "deposit");
    testdb_exec_ok(fx->conn, "analyze jobs");
    claim_before = index_reads(fx, "jobs_claim_idx");
    batch_before = index_reads(fx, "jobs_batch_state_idx");
    assert_int_equal(queue_claim(fx->conn, &o, jobs, &n), PAYQ_OK);
    assert_int_equal(n, 4);
    print_message("claim of 4 in 3000: %lld entries of jobs_claim_idx\n",
                  index_reads(fx, "jobs_claim_idx") - claim_before);
    assert_in_range(index_reads(fx, "jobs_claim_idx") - claim_before, 4, 16);
    assert_int_equal(index_reads(fx, "jobs_batch_state_idx"), batch_before);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(claim_takes_ready_jobs_oldest_first),
        T(claim_respects_kinds),
        T(claim_concurrent_workers_take_disjoint_jobs),
        T(claim_outcomes_move_job_and_attempt),
        T(claim_outcome_applies_after_a_concurrent_change),
        T(claim_retry_probes_with_same_id),
        T(claim_not_sent_does_not_count_as_probe),
        T(claim_answer_resets_unsent_count),
        T(claim_unsent_probe_of_live_id_gives_up),
        T(claim_systemic_answer_to_probe_keeps_id),
        T(claim_systemic_answer_to_first_send_closes_it),
        T(claim_not_executed_then_new_id),
        T(claim_never_moves_a_final_state_back),
        T(claim_expired_lease_is_taken_over_and_probed),
        T(claim_reaper_skips_jobs_others_hold),
        T(claim_pending_without_callback_becomes_unknown),
        T(claim_release_closes_only_fresh_attempts),
        T(claim_cancelled_batch_only_probes),
        T(claim_worker_and_callbacks_race_safely),
        T(claim_batched_records_and_callbacks_race_safely),
        T(claim_batch_records_many_jobs_in_one_transaction),
        T(claim_batch_guards_each_job),
        T(claim_batch_refuses_a_job_twice),
        T(claim_unwritten_outcomes_are_probed_same_id),
        T(claim_reads_only_the_jobs_it_takes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
